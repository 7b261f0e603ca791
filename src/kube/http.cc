#include "kube/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/file.h"

namespace kubeos::kube {
namespace {

// Idle handles kept for connection reuse; more concurrent callers simply create more.
constexpr size_t kMaxIdleHandles = 8;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return std::string(s);
}

struct TransferState {
  CURL* curl;
  HttpResponse* response;
  const std::function<bool(std::string_view)>* on_data;
  const std::stop_token* stop;
  bool aborted = false;
};

// curl calls this about once a second even when no bytes flow, so a silent watch still notices a stop.
int OnProgress(void* user, curl_off_t /*dltotal*/, curl_off_t /*dlnow*/, curl_off_t /*ultotal*/,
               curl_off_t /*ulnow*/) {
  auto* st = static_cast<TransferState*>(user);
  if (st->stop->stop_requested()) {
    st->aborted = true;
    return 1;
  }
  return 0;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<TransferState*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    st->response->headers.clear();  // a new response (e.g. after 100-continue)
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    st->response->headers[name] = Trim(line.substr(colon + 1));
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<TransferState*>(user);
  std::string_view chunk(data, size * n);
  if (st->response->status == 0) {
    // Headers are complete once the body starts: the status is known.
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &st->response->status);
  }
  if (st->on_data != nullptr) {
    // Stream only successful bodies; error bodies are collected for classification.
    if (st->response->status >= 200 && st->response->status < 300) {
      if (!(*st->on_data)(chunk)) {
        st->aborted = true;
        return 0;
      }
      return chunk.size();
    }
  }
  st->response->body.append(chunk);
  return chunk.size();
}

}  // namespace

struct HttpTransport::Handle {
  CURL* curl = nullptr;
  Handle() : curl(curl_easy_init()) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

HttpTransport::HttpTransport(RestConfig config) : config_(std::move(config)) {
  GlobalInit();
  token_ = config_.bearer_token;
  no_proxy_ = "localhost,127.0.0.1,::1";
  for (const char* var : {"NO_PROXY", "no_proxy"}) {
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') {  // NOLINT(concurrency-mt-unsafe)
      no_proxy_ += ",";
      no_proxy_ += v;
    }
  }
}

HttpTransport::~HttpTransport() = default;

std::unique_ptr<HttpTransport::Handle> HttpTransport::Borrow() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  return std::make_unique<Handle>();
}

void HttpTransport::Return(std::unique_ptr<Handle> h) {
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(h));
}

std::string HttpTransport::CurrentToken() {
  std::lock_guard<std::mutex> lock(mu_);
  // Read on first use, then again once the period has passed (bound service-account tokens rotate). A file
  // that cannot be read keeps the last token, as client-go does.
  if (!config_.bearer_token_file.empty() &&
      (!token_read_ ||
       std::chrono::steady_clock::now() - *token_read_ >= config_.bearer_token_reread_period)) {
    if (auto t = ReadFile(config_.bearer_token_file); t.ok()) token_ = Trim(*t);
    token_read_ = std::chrono::steady_clock::now();
  }
  return token_;
}

StatusOr<HttpResponse> HttpTransport::Do(const HttpRequest& request) { return Perform(request, nullptr); }

StatusOr<HttpResponse> HttpTransport::Stream(const HttpRequest& request,
                                             const std::function<bool(std::string_view)>& on_data) {
  return Perform(request, &on_data);
}

StatusOr<HttpResponse> HttpTransport::Perform(const HttpRequest& request,
                                              const std::function<bool(std::string_view)>* on_data) {
  auto handle = Borrow();
  CURL* c = handle->curl;
  if (c == nullptr) return InternalError("curl_easy_init failed");
  curl_easy_reset(c);

  HttpResponse response;
  TransferState state{c, &response, on_data, &request.stop};
  std::string url = config_.server + request.path;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_slist* headers = nullptr;
  auto add_header = [&headers](const std::string& h) { headers = curl_slist_append(headers, h.c_str()); };
  add_header("Accept: " + request.accept);
  if (!request.content_type.empty()) add_header("Content-Type: " + request.content_type);
  std::string token = CurrentToken();
  if (!token.empty()) add_header("Authorization: Bearer " + token);
  add_header("Expect:");  // no 100-continue round trip

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_USERAGENT, config_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  // Like Go's ProxyFromEnvironment, never send loopback traffic through $https_proxy.
  curl_easy_setopt(c, CURLOPT_NOPROXY, no_proxy_.c_str());
  if (request.timeout.count() > 0)
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));  // NOLINT
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &state);
  if (request.stop.stop_possible()) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &state);
  }

  if (request.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (!request.body.empty() || request.method != "DELETE") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
  }

  // TLS: CA, client certificate and key from memory (no temporary files).
  curl_blob ca{const_cast<char*>(config_.ca_pem.data()), config_.ca_pem.size(), CURL_BLOB_NOCOPY};   // NOLINT
  curl_blob cert{const_cast<char*>(config_.client_cert_pem.data()), config_.client_cert_pem.size(),  // NOLINT
                 CURL_BLOB_NOCOPY};
  curl_blob key{const_cast<char*>(config_.client_key_pem.data()), config_.client_key_pem.size(),  // NOLINT
                CURL_BLOB_NOCOPY};
  if (!config_.ca_pem.empty()) curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  if (!config_.client_cert_pem.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!config_.client_key_pem.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (config_.insecure_skip_tls_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  long code = 0;  // NOLINT(google-runtime-int)
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  response.status = code;
  if (rc != CURLE_OK) {
    std::string what =
        request.method + " " + url + ": " + (errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    // The handle may hold a broken connection; do not reuse it.
    if (state.aborted) return CancelledError(what);
    if (rc == CURLE_OPERATION_TIMEDOUT) return DeadlineExceededError(what);
    return UnavailableError(what);
  }
  Return(std::move(handle));
  return response;
}

}  // namespace kubeos::kube
