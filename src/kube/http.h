// HTTPS transport to the API server over libcurl: TLS with in-memory CA, client certificate and key; bearer
// tokens; keep-alive connections reused across requests; streaming responses for watches.
//
// Thread-safety: Do() and Stream() may be called from many threads at once; each call borrows an idle curl
// handle from a small pool (curl easy handles are single-threaded). Blocking.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kube/config.h"

namespace kubeos::kube {

struct HttpRequest {
  std::string method = "GET";
  std::string path;  // absolute path with query, e.g. "/api/v1/nodes?limit=500"
  std::string body;
  std::string content_type;  // for bodies; e.g. application/json, application/merge-patch+json
  std::string accept = "application/json";
  // Whole-request timeout; zero means none (watches rely on the server's timeoutSeconds).
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // When stop is requested the transfer is aborted (within about a second) and the call returns kCancelled.
  std::stop_token stop;
};

struct HttpResponse {
  long status = 0;                             // NOLINT(google-runtime-int): curl's type
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

class HttpTransport {
 public:
  explicit HttpTransport(RestConfig config);
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;
  ~HttpTransport();

  // Sends one request and reads the whole response. Network failures are kUnavailable (or kDeadlineExceeded);
  // any HTTP status, including 4xx/5xx, is returned as a response for the caller to classify.
  StatusOr<HttpResponse> Do(const HttpRequest& request);

  // Sends a request and hands response body bytes to `on_data` as they arrive (already de-chunked). Returning
  // false from on_data aborts the transfer (the call then returns kCancelled). The status and headers are in
  // the returned response; its body holds the bytes only when the status is not 2xx (an error Status object).
  StatusOr<HttpResponse> Stream(const HttpRequest& request,
                                const std::function<bool(std::string_view)>& on_data);

  const RestConfig& config() const { return config_; }

 private:
  struct Handle;
  std::unique_ptr<Handle> Borrow();
  void Return(std::unique_ptr<Handle> h);
  StatusOr<HttpResponse> Perform(const HttpRequest& request,
                                 const std::function<bool(std::string_view)>* on_data);
  std::string CurrentToken();

  const RestConfig config_;
  std::string no_proxy_;  // constant after construction
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;                        // guarded by mu_
  std::string token_;                                                // guarded by mu_
  std::optional<std::chrono::steady_clock::time_point> token_read_;  // guarded by mu_; unset: never read
};

}  // namespace kubeos::kube
