#include "kube/events.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/log.h"
#include "kube/leader_election.h"

namespace kubeos::kube {

std::string EventAggregationKey(const nlohmann::json& ref, std::string_view type, std::string_view reason,
                                std::string_view message, std::string_view component) {
  auto s = [&](const char* k) { return ref.value(k, std::string()); };
  return fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", s("uid"), s("apiVersion"),
                     s("kind"), s("namespace"), s("name"), type, reason, message, component);
}

nlohmann::json ObjectReference(const nlohmann::json& object) {
  nlohmann::json ref = nlohmann::json::object();
  if (object.contains("apiVersion")) ref["apiVersion"] = object["apiVersion"];
  if (object.contains("kind")) ref["kind"] = object["kind"];
  if (auto m = object.find("metadata"); m != object.end() && m->is_object()) {
    for (const char* k : {"namespace", "name", "uid", "resourceVersion"}) {
      if (m->contains(k)) ref[k] = (*m)[k];
    }
  }
  return ref;
}

EventRecorder::EventRecorder(Client& client, std::string component, std::string host)
    : client_(client), component_(std::move(component)), host_(std::move(host)) {}

StatusOr<nlohmann::json> EventRecorder::Record(const nlohmann::json& involved_object, std::string_view type,
                                               std::string_view reason, std::string_view message) {
  nlohmann::json ref =
      involved_object.contains("metadata") ? ObjectReference(involved_object) : involved_object;
  std::string ns = ref.value("namespace", std::string());
  if (ns.empty()) ns = "default";  // events about cluster-scoped objects live in "default", as in client-go
  const std::string key = EventAggregationKey(ref, type, reason, message, component_);
  const auto now_steady = std::chrono::steady_clock::now();
  const auto now_wall = std::chrono::system_clock::now();
  const std::string stamp =
      fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::to_time_t(now_wall)));

  std::unique_lock<std::mutex> lock(mu_);
  auto it = cache_.find(key);
  if (it != cache_.end() && now_steady - it->second.last < kAggregationWindow) {
    Cached c = it->second;
    lock.unlock();
    nlohmann::json patch = {{"count", c.count + 1}, {"lastTimestamp", stamp}};
    auto r = client_.Patch(Resource::Events(), c.ns, c.name, PatchType::kMerge, patch);
    lock.lock();
    it = cache_.find(key);
    if (r.ok()) {
      if (it != cache_.end()) {
        it->second.count = r->value("count", c.count + 1);
        it->second.last = now_steady;
        lru_.splice(lru_.begin(), lru_, it->second.lru);
      }
      return r;
    }
    if (r.status().code() != StatusCode::kNotFound) {
      log::Warn("events: cannot update event", {{"event", c.name}, {"error", r.status().ToString()}});
      return r.status();
    }
    // The Event expired server-side (TTL): forget it and create a fresh one.
    if (it != cache_.end()) {
      lru_.erase(it->second.lru);
      cache_.erase(it);
    }
  }
  lock.unlock();

  std::string name =
      fmt::format("{}.{:x}", ref.value("name", std::string("unknown")),
                  std::chrono::duration_cast<std::chrono::nanoseconds>(now_wall.time_since_epoch()).count());
  nlohmann::json event = {{"apiVersion", "v1"},
                          {"kind", "Event"},
                          {"metadata", {{"name", name}, {"namespace", ns}}},
                          {"involvedObject", ref},
                          {"reason", reason},
                          {"message", message},
                          {"type", type},
                          {"count", 1},
                          {"firstTimestamp", stamp},
                          {"lastTimestamp", stamp},
                          {"source", {{"component", component_}}},
                          {"reportingComponent", component_}};
  if (!host_.empty()) {
    event["source"]["host"] = host_;
    event["reportingInstance"] = host_;
  }
  auto r = client_.Create(Resource::Events(), ns, event);
  if (!r.ok()) {
    log::Warn("events: cannot create event", {{"event", name}, {"error", r.status().ToString()}});
    return r.status();
  }
  lock.lock();
  if (cache_.count(key) == 0) {
    lru_.push_front(key);
    cache_[key] = Cached{ns, name, 1, now_steady, lru_.begin()};
    if (cache_.size() > kMaxCachedEvents) {
      cache_.erase(lru_.back());
      lru_.pop_back();
    }
  }
  return r;
}

}  // namespace kubeos::kube
