#include "kube/client.h"

#include <cmath>
#include <random>
#include <thread>

#include "kube/errors.h"

namespace kubeos::kube {
namespace {

std::string Describe(const Resource& r, std::string_view name) {
  std::string s = r.plural;
  if (!name.empty()) {
    s += "/";
    s += name;
  }
  return s;
}

std::string PatchContentType(PatchType t) {
  switch (t) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

double Random01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::map<std::string, std::string> ListParams(const ListOptions& o) {
  std::map<std::string, std::string> p;
  p["labelSelector"] = o.label_selector;
  p["fieldSelector"] = o.field_selector;
  p["resourceVersion"] = o.resource_version;
  if (o.limit > 0) p["limit"] = std::to_string(o.limit);
  p["continue"] = o.continue_token;
  return p;
}

// Whether a response may be retried after the server's Retry-After (client-go checkWait), by verb.
bool RetryableVerb(const std::string& method) { return method != "POST"; }

}  // namespace

nlohmann::json DeleteOptions::ToJson() const {
  nlohmann::json j = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (precondition_uid) j["preconditions"]["uid"] = *precondition_uid;
  if (precondition_resource_version) j["preconditions"]["resourceVersion"] = *precondition_resource_version;
  if (!propagation_policy.empty()) j["propagationPolicy"] = propagation_policy;
  if (grace_period_seconds) j["gracePeriodSeconds"] = *grace_period_seconds;
  if (dry_run) j["dryRun"] = nlohmann::json::array({"All"});
  return j;
}

StatusOr<WatchEvent> ParseWatchEvent(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return DataLossError("watch: event is not a JSON object");
  auto type = j.find("type");
  auto object = j.find("object");
  if (type == j.end() || !type->is_string() || object == j.end()) {
    return DataLossError("watch: event lacks type or object");
  }
  WatchEvent ev;
  const auto& t = type->get_ref<const std::string&>();
  if (t == "ADDED") {
    ev.type = WatchEvent::Type::kAdded;
  } else if (t == "MODIFIED") {
    ev.type = WatchEvent::Type::kModified;
  } else if (t == "DELETED") {
    ev.type = WatchEvent::Type::kDeleted;
  } else if (t == "BOOKMARK") {
    ev.type = WatchEvent::Type::kBookmark;
  } else if (t == "ERROR") {
    ev.type = WatchEvent::Type::kError;
  } else {
    return DataLossError("watch: unknown event type \"" + t + "\"");
  }
  ev.object = std::move(*object);
  return ev;
}

Status WatchDecoder::Feed(std::string_view chunk, const std::function<bool(WatchEvent&&)>& on_event,
                          bool* stop) {
  buffer_.append(chunk);
  size_t start = 0;
  Status first;
  while (true) {
    size_t nl = buffer_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(buffer_.data() + start, nl - start);
    start = nl + 1;
    if (line.empty() || line == "\r") continue;
    auto ev = ParseWatchEvent(line);
    if (!ev.ok()) {
      if (first.ok()) first = ev.status();
      continue;
    }
    if (!on_event(std::move(*ev))) {
      *stop = true;
      break;
    }
  }
  buffer_.erase(0, start);
  return first;
}

Client::Client(RestConfig config)
    : transport_(std::make_unique<HttpTransport>(std::move(config))),
      limiter_(transport_->config().qps, transport_->config().burst) {}

StatusOr<HttpResponse> Client::Do(const HttpRequest& request, std::string_view what) {
  for (int attempt = 0;; ++attempt) {
    if (!limiter_.Wait(request.stop)) return CancelledError(std::string(what) + ": cancelled");
    requests_.fetch_add(1, std::memory_order_relaxed);
    auto resp = transport_->Do(request);
    if (!resp.ok()) {
      // Connection-level failure: only a GET is known not to have changed anything.
      if (request.method == "GET" && resp.status().code() == StatusCode::kUnavailable &&
          attempt < kMaxRetries) {
        if (!SleepFor(
                BackoffDelay({std::chrono::milliseconds(200), 2.0, 0.1, kMaxRetries, std::chrono::seconds(5)},
                             attempt, Random01()),
                request.stop)) {
          return CancelledError(std::string(what) + ": cancelled");
        }
        continue;
      }
      return resp.status().WithContext(what);
    }
    const long code = resp->status;  // NOLINT(google-runtime-int)
    auto ra = resp->headers.find("retry-after");
    if ((code == 429 || code >= 500) && ra != resp->headers.end() && RetryableVerb(request.method) &&
        attempt < kMaxRetries) {
      int seconds = std::atoi(ra->second.c_str());
      auto delay =
          std::min<std::chrono::nanoseconds>(std::chrono::seconds(std::max(seconds, 1)), kMaxRetryAfter);
      if (!SleepFor(delay, request.stop)) return CancelledError(std::string(what) + ": cancelled");
      continue;
    }
    return resp;
  }
}

StatusOr<nlohmann::json> Client::Send(const HttpRequest& request, std::string_view what) {
  KUBEOS_ASSIGN_OR_RETURN(HttpResponse resp, Do(request, what));
  KUBEOS_RETURN_IF_ERROR(StatusFromResponse(resp, what));
  auto j = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return DataLossError(std::string(what) + ": response is not valid JSON");
  return j;
}

StatusOr<nlohmann::json> Client::Get(const Resource& r, std::string_view ns, std::string_view name,
                                     std::string_view subresource) {
  return Send({.method = "GET", .path = ResourcePath(r, ns, name, subresource)}, "get " + Describe(r, name));
}

StatusOr<nlohmann::json> Client::List(const Resource& r, std::string_view ns,
                                      const std::map<std::string, std::string>& params) {
  return Send({.method = "GET", .path = ResourcePath(r, ns) + QueryString(params)}, "list " + r.plural);
}

StatusOr<nlohmann::json> Client::ListPage(const Resource& r, std::string_view ns,
                                          const ListOptions& options) {
  return Send(
      {.method = "GET", .path = ResourcePath(r, ns) + QueryString(ListParams(options)), .stop = options.stop},
      "list " + r.plural);
}

StatusOr<nlohmann::json> Client::ListAll(const Resource& r, std::string_view ns, ListOptions options) {
  if (options.limit == 0) options.limit = kDefaultPageSize;
  nlohmann::json merged;
  nlohmann::json items = nlohmann::json::array();
  while (true) {
    auto page = ListPage(r, ns, options);
    if (!page.ok()) {
      if (page.status().code() == StatusCode::kGone && !options.continue_token.empty()) {
        // The continue token expired mid-way: start over with one full list (client-go pager fallback).
        ListOptions full = options;
        full.limit = 0;
        full.continue_token.clear();
        return ListPage(r, ns, full);
      }
      return page.status();
    }
    for (auto& item : (*page)["items"]) items.push_back(std::move(item));
    std::string next = page->value("/metadata/continue"_json_pointer, std::string());
    if (merged.is_null()) {
      merged = std::move(*page);
    } else {
      merged["metadata"] = std::move((*page)["metadata"]);
    }
    if (next.empty()) break;
    options.continue_token = next;
  }
  merged["items"] = std::move(items);
  if (merged.contains("metadata")) merged["metadata"].erase("continue");
  return merged;
}

StatusOr<nlohmann::json> Client::Create(const Resource& r, std::string_view ns, const nlohmann::json& object,
                                        std::string_view subresource) {
  std::string name = object.value("/metadata/name"_json_pointer, std::string());
  std::string path = subresource.empty() ? ResourcePath(r, ns) : ResourcePath(r, ns, name, subresource);
  return Send({.method = "POST", .path = path, .body = object.dump(), .content_type = "application/json"},
              "create " + Describe(r, name));
}

StatusOr<nlohmann::json> Client::Update(const Resource& r, std::string_view ns, const nlohmann::json& object,
                                        std::string_view subresource) {
  std::string name = object.value("/metadata/name"_json_pointer, std::string());
  if (name.empty()) return InvalidArgumentError("update " + r.plural + ": object has no metadata.name");
  return Send({.method = "PUT",
               .path = ResourcePath(r, ns, name, subresource),
               .body = object.dump(),
               .content_type = "application/json"},
              "update " + Describe(r, name));
}

StatusOr<nlohmann::json> Client::Patch(const Resource& r, std::string_view ns, std::string_view name,
                                       PatchType type, const nlohmann::json& patch,
                                       std::string_view subresource, std::string_view field_manager,
                                       bool force) {
  std::map<std::string, std::string> params;
  if (!field_manager.empty()) params["fieldManager"] = std::string(field_manager);
  if (force) params["force"] = "true";
  if (type == PatchType::kApply && field_manager.empty()) {
    return InvalidArgumentError("apply " + Describe(r, name) + ": server-side apply needs a field manager");
  }
  return Send({.method = "PATCH",
               .path = ResourcePath(r, ns, name, subresource) + QueryString(params),
               .body = patch.dump(),
               .content_type = PatchContentType(type)},
              "patch " + Describe(r, name));
}

StatusOr<nlohmann::json> Client::Apply(const Resource& r, std::string_view ns, const nlohmann::json& object,
                                       std::string_view field_manager, bool force,
                                       std::string_view subresource) {
  std::string name = object.value("/metadata/name"_json_pointer, std::string());
  if (name.empty()) return InvalidArgumentError("apply " + r.plural + ": object has no metadata.name");
  return Patch(r, ns, name, PatchType::kApply, object, subresource, field_manager, force);
}

Status Client::Delete(const Resource& r, std::string_view ns, std::string_view name,
                      const DeleteOptions& options) {
  return Delete(r, ns, name, options.ToJson());
}

Status Client::Delete(const Resource& r, std::string_view ns, std::string_view name,
                      const nlohmann::json& delete_options) {
  HttpRequest req{.method = "DELETE", .path = ResourcePath(r, ns, name)};
  if (!delete_options.is_null()) {
    req.body = delete_options.dump();
    req.content_type = "application/json";
  }
  std::string what = "delete " + Describe(r, name);
  auto resp = Do(req, what);
  if (!resp.ok()) return resp.status();
  return StatusFromResponse(*resp, what);
}

Status Client::Evict(std::string_view ns, std::string_view pod, const DeleteOptions& options) {
  nlohmann::json body = {
      {"apiVersion", "policy/v1"}, {"kind", "Eviction"}, {"metadata", {{"name", pod}, {"namespace", ns}}}};
  nlohmann::json opts = options.ToJson();
  if (opts.size() > 2) body["deleteOptions"] = std::move(opts);
  auto r = Send({.method = "POST",
                 .path = ResourcePath(Resource::Pods(), ns, pod, "eviction"),
                 .body = body.dump(),
                 .content_type = "application/json"},
                "evict pod " + std::string(ns) + "/" + std::string(pod));
  return r.status();
}

Status Client::Watch(const Resource& r, std::string_view ns, const WatchOptions& options,
                     const std::function<bool(WatchEvent&&)>& on_event, const std::stop_token& stop) {
  std::map<std::string, std::string> params = {{"watch", "1"},
                                               {"labelSelector", options.label_selector},
                                               {"fieldSelector", options.field_selector},
                                               {"resourceVersion", options.resource_version}};
  if (options.allow_bookmarks) params["allowWatchBookmarks"] = "true";
  if (options.timeout.count() > 0) params["timeoutSeconds"] = std::to_string(options.timeout.count());
  std::string what = "watch " + r.plural;
  if (!limiter_.Wait(stop)) return CancelledError(what + ": cancelled");
  HttpRequest req{.method = "GET",
                  .path = ResourcePath(r, ns) + QueryString(params),
                  .timeout = std::chrono::milliseconds(0),
                  .stop = stop};
  requests_.fetch_add(1, std::memory_order_relaxed);
  WatchDecoder decoder;
  bool stopped_by_handler = false;
  Status decode_error;
  auto resp = transport_->Stream(req, [&](std::string_view chunk) {
    Status s = decoder.Feed(chunk, on_event, &stopped_by_handler);
    if (!s.ok() && decode_error.ok()) decode_error = s;
    return !stopped_by_handler;
  });
  if (stopped_by_handler) return Status::Ok();
  if (!resp.ok()) return resp.status().WithContext(what);
  KUBEOS_RETURN_IF_ERROR(StatusFromResponse(*resp, what));
  if (!decode_error.ok()) return decode_error.WithContext(what);
  return Status::Ok();
}

std::chrono::nanoseconds BackoffDelay(const Backoff& backoff, int attempt, double random01) {
  double d = static_cast<double>(backoff.duration.count()) * std::pow(backoff.factor, attempt);
  if (backoff.cap.count() > 0) d = std::min(d, static_cast<double>(backoff.cap.count()));
  if (backoff.jitter > 0) d += d * backoff.jitter * random01;
  return std::chrono::nanoseconds(static_cast<int64_t>(d));
}

Status RetryOnConflict(const Backoff& backoff, const std::function<Status()>& fn) {
  Status last;
  for (int i = 0; i < backoff.steps; ++i) {
    if (i > 0) std::this_thread::sleep_for(BackoffDelay(backoff, i - 1, Random01()));
    last = fn();
    if (last.code() != StatusCode::kConflict) return last;
  }
  return last;
}

}  // namespace kubeos::kube
