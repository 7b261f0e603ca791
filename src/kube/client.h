// A small REST client for any resource, on JSON documents (nlohmann::json), with client-go's request
// semantics. Typed wrappers, informers, work queues and leader election build on it.
//
// Every request first takes a token from the client-side bucket (RestConfig::qps/burst; client-go 5/10).
// Retries, only where they are safe:
//   - 429 and 5xx answers that carry Retry-After (server-side throttling, APF) are retried after that delay
//     (capped) for GET, PUT, PATCH and DELETE, up to kMaxRetries times like client-go. POST is never retried:
//     a create could be applied twice and an eviction's 429 is the PodDisruptionBudget's answer, which the
//     caller must see (kResourceExhausted with retry_after()).
//   - Transport failures (connection refused or reset, kUnavailable) are retried only for GET.
// Every method returns the server's object (or list) or a Status classified by StatusFromResponse.
// Thread-safety: all methods may be called concurrently. All calls block.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "common/status.h"
#include "kube/config.h"
#include "kube/http.h"
#include "kube/rate_limiter.h"
#include "kube/resource.h"

namespace kubeos::kube {

enum class PatchType { kMerge, kJson, kStrategicMerge, kApply };

// metav1.DeleteOptions, the parts we use.
struct DeleteOptions {
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  std::string propagation_policy;  // "", "Orphan", "Background" or "Foreground"
  std::optional<int64_t> grace_period_seconds;
  bool dry_run = false;

  nlohmann::json ToJson() const;
};

// Options of a list request (one page, or all pages through ListAll).
struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;  // "" most recent (quorum read); "0" any (watch cache)
  int64_t limit = 0;             // page size; 0 = no limit
  std::string continue_token;
  std::stop_token stop;  // aborts the request (and its retries) when requested
};

// One decoded event of a watch stream.
struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  nlohmann::json object;  // the object; a metav1.Status for kError
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;
  bool allow_bookmarks = true;
  std::chrono::seconds timeout{0};  // server-side timeoutSeconds; 0 = the server's default
};

// Splits a newline-delimited JSON watch stream into events. Pure; fed arbitrary chunks.
class WatchDecoder {
 public:
  // Appends bytes and calls `on_event` for each complete line. Returns the first decoding error.
  Status Feed(std::string_view chunk, const std::function<bool(WatchEvent&&)>& on_event, bool* stop);

 private:
  std::string buffer_;
};

StatusOr<WatchEvent> ParseWatchEvent(std::string_view line);

class Client {
 public:
  // Retries of throttled requests (client-go rest.Request maxRetries).
  static constexpr int kMaxRetries = 10;
  // A server may ask for a long Retry-After; we never sleep longer than this per attempt.
  static constexpr std::chrono::seconds kMaxRetryAfter{30};
  // Page size of ListAll (client-go pager default).
  static constexpr int64_t kDefaultPageSize = 500;

  explicit Client(RestConfig config);

  StatusOr<nlohmann::json> Get(const Resource& r, std::string_view ns, std::string_view name,
                               std::string_view subresource = {});
  // One page of a list; `params` may carry labelSelector, fieldSelector, limit, continue, resourceVersion.
  StatusOr<nlohmann::json> List(const Resource& r, std::string_view ns,
                                const std::map<std::string, std::string>& params = {});
  StatusOr<nlohmann::json> ListPage(const Resource& r, std::string_view ns, const ListOptions& options);
  // All pages (limit/continue), merged into one list whose metadata.resourceVersion is the snapshot's. An
  // expired continue token (410) falls back to one unpaginated list, as client-go's pager does.
  StatusOr<nlohmann::json> ListAll(const Resource& r, std::string_view ns, ListOptions options = {});
  StatusOr<nlohmann::json> Create(const Resource& r, std::string_view ns, const nlohmann::json& object,
                                  std::string_view subresource = {});
  // PUT; the object's metadata.resourceVersion is the optimistic-concurrency precondition (kConflict when
  // stale).
  StatusOr<nlohmann::json> Update(const Resource& r, std::string_view ns, const nlohmann::json& object,
                                  std::string_view subresource = {});
  StatusOr<nlohmann::json> UpdateStatus(const Resource& r, std::string_view ns,
                                        const nlohmann::json& object) {
    return Update(r, ns, object, "status");
  }
  StatusOr<nlohmann::json> Patch(const Resource& r, std::string_view ns, std::string_view name,
                                 PatchType type, const nlohmann::json& patch,
                                 std::string_view subresource = {}, std::string_view field_manager = {},
                                 bool force = false);
  // Server-side apply of a partial object (apiVersion, kind, metadata.name required).
  StatusOr<nlohmann::json> Apply(const Resource& r, std::string_view ns, const nlohmann::json& object,
                                 std::string_view field_manager, bool force = false,
                                 std::string_view subresource = {});
  Status Delete(const Resource& r, std::string_view ns, std::string_view name,
                const DeleteOptions& options = {});
  // Kept for callers that already hold a DeleteOptions body.
  Status Delete(const Resource& r, std::string_view ns, std::string_view name,
                const nlohmann::json& delete_options);
  // POST pods/{name}/eviction (policy/v1). A PodDisruptionBudget refusal is kResourceExhausted with
  // retry_after(); a pod already gone is kNotFound (callers usually treat it as success).
  Status Evict(std::string_view ns, std::string_view pod, const DeleteOptions& options = {});

  // Streams a watch until the server closes it (OK), `stop` is requested (kCancelled), the connection fails
  // (kUnavailable), or `on_event` returns false (OK). HTTP errors (e.g. 410 Gone) come back classified.
  Status Watch(const Resource& r, std::string_view ns, const WatchOptions& options,
               const std::function<bool(WatchEvent&&)>& on_event, const std::stop_token& stop = {});

  // Raw access for callers that need it (discovery, odd endpoints).
  StatusOr<nlohmann::json> Send(const HttpRequest& request, std::string_view what);
  HttpTransport& transport() { return *transport_; }
  const RestConfig& config() const { return transport_->config(); }
  // HTTP requests sent to the server so far: every attempt (retries count again), watches included.
  std::uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }

 private:
  StatusOr<HttpResponse> Do(const HttpRequest& request, std::string_view what);

  std::unique_ptr<HttpTransport> transport_;
  TokenBucket limiter_;
  std::atomic<std::uint64_t> requests_{0};
};

// client-go wait.Backoff.
struct Backoff {
  std::chrono::nanoseconds duration;
  double factor = 1.0;
  double jitter = 0.0;
  int steps = 1;
  std::chrono::nanoseconds cap{0};  // 0 = no cap
};

// retry.DefaultRetry: 5 steps, 10 ms, factor 1.0, jitter 0.1.
inline constexpr Backoff kDefaultRetry{std::chrono::milliseconds(10), 1.0, 0.1, 5};
// retry.DefaultBackoff: 4 steps, 10 ms, factor 5.0, jitter 0.1.
inline constexpr Backoff kDefaultBackoff{std::chrono::milliseconds(10), 5.0, 0.1, 4};

// Runs `fn` (which should re-read, mutate and update) until it returns something other than kConflict, at
// most backoff.steps times, sleeping per the backoff between attempts (retry.RetryOnConflict). Returns fn's
// last status.
Status RetryOnConflict(const Backoff& backoff, const std::function<Status()>& fn);

// The sleep before attempt `attempt` (0-based, after the first failure) of a jittered backoff.
std::chrono::nanoseconds BackoffDelay(const Backoff& backoff, int attempt, double random01);

}  // namespace kubeos::kube
