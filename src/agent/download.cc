#include "agent/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <span>
#include <vector>

namespace kubeos::agent {
namespace {

// Read size for local files when the sink offers no buffer (its first bytes): one sequential read.
constexpr size_t kFileReadChunk = 1 << 20;
// curl receive buffer: 512 KiB (curl's max is 10 MiB) keeps callbacks few at disk speed.
constexpr long kCurlBufferSize = 512L * 1024;  // NOLINT(google-runtime-int): curl's type

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::filesystem::path LocalPath(std::string_view url) {
  if (StartsWith(url, "file://")) return std::filesystem::path(std::string(url.substr(7)));
  return std::filesystem::path(std::string(url));
}

Status FetchFile(const std::filesystem::path& path, const FetchCallbacks& cb) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open payload " + path.string());
  struct stat st {};
  fstat(fd, &st);
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Status s = cb.on_size(static_cast<uint64_t>(st.st_size));
  std::vector<char> own;  // only when the sink offers no buffer of its own (e.g. for the first bytes)
  while (s.ok()) {
    std::span<char> dst = cb.buffer ? cb.buffer() : std::span<char>();
    if (dst.empty()) {
      if (own.empty()) own.resize(kFileReadChunk);
      dst = own;
    }
    ssize_t n = read(fd, dst.data(), dst.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      s = ErrnoError(errno, "read payload " + path.string());
      break;
    }
    if (n == 0) break;
    s = cb.on_data(std::string_view(dst.data(), static_cast<size_t>(n)));
  }
  close(fd);
  return s;
}

struct Transfer {
  const FetchCallbacks* cb = nullptr;
  uint64_t received = 0;       // bytes handed to on_data over all attempts
  bool size_reported = false;  // on_size called
  CURL* curl = nullptr;
  Status callback_error;
  long http_status = 0;  // NOLINT(google-runtime-int): curl's type
  bool resuming = false;
};

size_t OnWrite(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->http_status);
  bool ok_status = t->resuming ? t->http_status == 206 : t->http_status == 200;
  if (!ok_status) return n;  // an error page: drop it, the status is checked after the transfer
  if (!t->size_reported) {
    curl_off_t len = -1;
    curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    t->size_reported = true;
    t->callback_error = t->cb->on_size(len >= 0 ? std::optional<uint64_t>(len) : std::nullopt);
    if (!t->callback_error.ok()) return 0;
  }
  t->callback_error = t->cb->on_data(std::string_view(data, n));
  if (!t->callback_error.ok()) return 0;
  t->received += n;
  return n;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

std::string CertPath(const FetchOptions& o, const std::string& name) { return (o.certs_dir / name).string(); }

Status FetchHttp(const FetchOptions& o, const FetchCallbacks& cb) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return InternalError("curl_easy_init failed");
  CURL* c = curl.get();
  Transfer t{.cb = &cb, .curl = c};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, o.url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, kCurlBufferSize);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(o.connect_timeout.count()));  // NOLINT
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(o.stall_timeout.count()));  // NOLINT
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  if (StartsWith(o.url, "https://")) {
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    if (!o.ca_cert.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, CertPath(o, o.ca_cert).c_str());
    if (o.mtls) {
      curl_easy_setopt(c, CURLOPT_SSLCERT, CertPath(o, o.client_cert).c_str());
      curl_easy_setopt(c, CURLOPT_SSLKEY, CertPath(o, o.client_key).c_str());
    }
  } else {
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
  }
  for (int attempt = 0;; ++attempt) {
    std::string range;
    t.resuming = t.received > 0;
    if (t.resuming) {
      range = fmt::format("{}-", t.received);
      curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
    }
    errbuf[0] = 0;
    t.http_status = 0;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.http_status);
    if (!t.callback_error.ok()) return t.callback_error;
    bool want = t.resuming ? t.http_status == 206 : t.http_status == 200;
    if (rc == CURLE_OK && want) return Status::Ok();
    if (t.http_status != 0 && !want) {
      if (t.http_status == 404) return NotFoundError(fmt::format("GET {}: HTTP 404 Not Found", o.url));
      if (t.resuming && t.http_status == 200) {
        return UnavailableError(
            fmt::format("GET {}: server ignored the Range request; cannot resume", o.url));
      }
      return UnavailableError(fmt::format("GET {}: HTTP {}", o.url, t.http_status));
    }
    std::string why = errbuf[0] != 0 ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    bool resumable = rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_OPERATION_TIMEDOUT ||
                     rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR;
    if (!resumable || attempt >= kMaxResumeAttempts) {
      std::string what = rc == CURLE_OPERATION_TIMEDOUT ? "stalled" : "failed";
      return UnavailableError(fmt::format("GET {}: transfer {} after {} bytes ({} resumes): {}", o.url, what,
                                          t.received, attempt, why));
    }
  }
}

}  // namespace

bool IsRemoteUrl(std::string_view url) { return StartsWith(url, "http://") || StartsWith(url, "https://"); }

Status CheckFetchOptions(const FetchOptions& o) {
  if (o.url.empty()) return InvalidArgumentError("image_url is empty");
  if (!IsRemoteUrl(o.url)) {
    if (StartsWith(o.url, "file://") || StartsWith(o.url, "/")) return Status::Ok();
    return InvalidArgumentError(
        fmt::format("image_url \"{}\": only http://, https://, file:// or an absolute path", o.url));
  }
  if (StartsWith(o.url, "http://") && !o.flag_safe) {
    return InvalidArgumentError(
        fmt::format("The upgrade tar url is not safe: {} is plain http; set flagSafe to allow it", o.url));
  }
  if (StartsWith(o.url, "https://") && o.mtls) {
    if (o.ca_cert.empty() || o.client_cert.empty() || o.client_key.empty()) {
      return InvalidArgumentError("mtls needs cacert, clientcert and clientkey file names");
    }
  }
  for (const std::string* name : {&o.ca_cert, &o.client_cert, &o.client_key}) {
    if (name->find('/') != std::string::npos || *name == ".." || *name == ".") {
      return InvalidArgumentError(
          fmt::format("certificate name \"{}\" must be a file name under {}", *name, o.certs_dir.string()));
    }
  }
  return Status::Ok();
}

Status Fetch(const FetchOptions& options, const FetchCallbacks& callbacks) {
  KUBEOS_RETURN_IF_ERROR(CheckFetchOptions(options));
  if (!IsRemoteUrl(options.url)) return FetchFile(LocalPath(options.url), callbacks);
  return FetchHttp(options, callbacks);
}

}  // namespace kubeos::agent
