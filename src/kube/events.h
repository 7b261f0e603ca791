// A Kubernetes Events recorder (core/v1 Event) that aggregates repeats as client-go's EventCorrelator does
// for identical events: the same involved object, type, reason, message and source within kAggregationWindow
// increase `count` and `lastTimestamp` of the existing Event (a merge patch) instead of creating a new one.
// Event names follow client-go: "<object name>.<unix nanos in hex>".
//
// Record() does the API call on the caller's thread (call it from workers, never from informer handlers).
// Failures are logged, not returned: an Event is best-effort. Thread-safety: Record() may be called
// concurrently.
#pragma once

#include <chrono>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "kube/client.h"

namespace kubeos::kube {

// The cache key for aggregation: involved object (uid, kind, namespace, name), type, reason, message, source.
std::string EventAggregationKey(const nlohmann::json& involved_object, std::string_view type,
                                std::string_view reason, std::string_view message,
                                std::string_view component);

// An ObjectReference for an object (apiVersion, kind, namespace, name, uid, resourceVersion).
nlohmann::json ObjectReference(const nlohmann::json& object);

class EventRecorder {
 public:
  // Repeats older than this start a new Event (client-go's cache keeps them 10 minutes for similar events).
  static constexpr std::chrono::minutes kAggregationWindow{10};
  // Bounded cache of recently emitted events (client-go uses an LRU of 4096).
  static constexpr size_t kMaxCachedEvents = 4096;

  EventRecorder(Client& client, std::string component, std::string host = {});

  // type: "Normal" or "Warning". Returns the Event as written (for tests); errors are also logged.
  StatusOr<nlohmann::json> Record(const nlohmann::json& involved_object, std::string_view type,
                                  std::string_view reason, std::string_view message);

 private:
  struct Cached {
    std::string ns, name;
    int count = 0;
    std::chrono::steady_clock::time_point last;
    std::list<std::string>::iterator lru;
  };
  Client& client_;
  const std::string component_, host_;
  std::mutex mu_;
  std::unordered_map<std::string, Cached> cache_;  // guarded by mu_
  std::list<std::string> lru_;                     // guarded by mu_ (front = most recent)
};

}  // namespace kubeos::kube
