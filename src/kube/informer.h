// Reflector and informer with client-go's semantics (tools/cache).
//
// Reflector: list (paginated, resourceVersion "0" first, then the last synced RV, or "" — a quorum read —
// once an RV is known to be too old), then watch from the list's RV with allowWatchBookmarks and a random
// timeoutSeconds in [300, 600) (ReflectorOptions::min_watch_timeout). Bookmarks and events advance the RV. A
// clean close re-watches at once; a refused or dropped connection backs off (800 ms doubling to 30 s, full
// jitter, reset after 2 min of health) and re-watches from the last RV; a 410 Gone (HTTP or ERROR event)
// forces a relist that replaces the cache.
//
// Informer<T>: a Reflector feeding a Store<T> of shared_ptr<const T> plus add/update/delete handlers. On a
// relist, objects that vanished are deleted with a tombstone (final_state_unknown = true: the last known
// state, as client-go's DeletedFinalStateUnknown), survivors get OnUpdate(old, new), newcomers OnAdd.
// HasSynced() turns true after the first list is in the store. managedFields are dropped before caching.
//
// Threads: the constructor starts nothing; Start() runs the reflector on one std::jthread; Stop() (or the
// destructor) requests stop, which also aborts a blocked watch within about a second, and joins. Handlers run
// on that thread: they must be quick and non-blocking (enqueue keys, no API calls).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "kube/client.h"
#include "kube/clock.h"
#include "kube/store.h"

namespace kubeos::kube {

struct ReflectorOptions {
  Resource resource;
  std::string ns;  // "" = all namespaces (or cluster-scoped)
  std::string label_selector;
  std::string field_selector;  // e.g. "spec.nodeName=node-1"
  int64_t page_size = Client::kDefaultPageSize;
  // The watch's timeoutSeconds is random in [min_watch_timeout, 2 * min_watch_timeout) so that many clients'
  // reconnects spread out (client-go reflector minWatchTimeout: 5 minutes). The apiserver sends a bookmark
  // about 2 s before that deadline (and at least once a minute), so tests shorten it.
  std::chrono::seconds min_watch_timeout{300};
};

// Receives what a Reflector learns; called on the reflector's thread only.
class ReflectorSink {
 public:
  virtual ~ReflectorSink() = default;
  virtual void OnReplace(std::vector<nlohmann::json>&& items, const std::string& resource_version) = 0;
  // kAdded, kModified or kDeleted.
  virtual void OnEvent(WatchEvent&& event) = 0;
};

// The resourceVersion and page size of a reflector's (re)list (client-go reflector.list):
//   - first list: "0" (any cached state, from the watch cache), paginated as asked (the cache ignores it);
//   - relist after an expired watch: the last RV seen ("not older than"), NOT paginated: with a limit the
//     apiserver serves a specific RV from etcd at exactly that revision, a snapshot the watch cache may
//     already have dropped, so the next watch expires again and the informer relists in a loop;
//   - after the list itself got 410 Gone: "" (a quorum read of the latest state), paginated.
struct ListPlan {
  std::string resource_version;
  int64_t limit = 0;
};
ListPlan PlanList(const std::string& last_rv, bool rv_unavailable, int64_t page_size);

// Exponential backoff with full jitter and a reset after a quiet period (client-go
// wait.NewExponentialBackoffManager as used by the reflector).
class BackoffManager {
 public:
  // Reflector defaults: 800 ms initial, 30 s cap, reset after 2 min, factor 2, jitter 1.0.
  static constexpr std::chrono::milliseconds kInitial{800};
  static constexpr std::chrono::seconds kCap{30};
  static constexpr std::chrono::minutes kResetAfter{2};

  explicit BackoffManager(const Clock& clock = RealClock::Instance()) : clock_(clock) {}
  // The next delay (random01 supplies the jitter).
  std::chrono::nanoseconds Next(double random01);

 private:
  const Clock& clock_;
  std::chrono::nanoseconds current_{0};
  Clock::TimePoint last_{};
};

class Reflector {
 public:
  // The default of ReflectorOptions::min_watch_timeout.
  static constexpr std::chrono::seconds kMinWatchTimeout{300};

  Reflector(Client& client, ReflectorOptions options, ReflectorSink& sink)
      : client_(client), options_(std::move(options)), sink_(sink) {}

  // Lists and watches until `stop`. Blocks.
  void Run(const std::stop_token& stop);

  std::string last_resource_version() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_rv_;
  }
  // Counters for tests and metrics.
  int64_t lists() const { return lists_.load(); }
  int64_t watches() const { return watches_.load(); }
  int64_t gone() const { return gone_.load(); }

 private:
  Client& client_;
  const ReflectorOptions options_;
  ReflectorSink& sink_;
  mutable std::mutex mu_;
  std::string last_rv_;  // guarded by mu_
  std::atomic<int64_t> lists_{0}, watches_{0}, gone_{0};
};

// Drops fields no controller reads (metadata.managedFields) before an object is cached.
nlohmann::json StripForCache(nlohmann::json object);

template <typename T>
class Informer : public ReflectorSink {
 public:
  using Ptr = std::shared_ptr<const T>;
  // The argument of OnDelete: the deleted object, or the last known state when the delete was missed and
  // only discovered by a relist (client-go DeletedFinalStateUnknown).
  struct Deleted {
    std::string key;
    Ptr object;
    bool final_state_unknown = false;
  };
  struct Handlers {
    std::function<void(const Ptr&)> on_add;
    std::function<void(const Ptr& old_obj, const Ptr& new_obj)> on_update;
    std::function<void(const Deleted&)> on_delete;
  };
  using Decoder = std::function<StatusOr<T>(nlohmann::json&&)>;

  Informer(Client& client, ReflectorOptions options, Decoder decoder)
      : decoder_(std::move(decoder)), reflector_(client, std::move(options), *this) {}
  ~Informer() override { Stop(); }
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  Store<T>& store() { return store_; }
  // Register before Start().
  void AddHandlers(Handlers h) { handlers_.push_back(std::move(h)); }

  void Start() {
    if (thread_.joinable()) return;
    thread_ = std::jthread([this](const std::stop_token& st) { reflector_.Run(st); });
  }
  void Stop() {
    if (!thread_.joinable()) return;
    thread_.request_stop();
    thread_.join();
  }
  bool HasSynced() const { return synced_.load(); }
  // Blocks until synced, `timeout` passes or `stop`; returns HasSynced().
  bool WaitForSync(std::chrono::milliseconds timeout, const std::stop_token& stop = {}) {
    std::unique_lock<std::mutex> lock(sync_mu_);
    sync_cv_.wait_for(lock, stop, timeout, [this] { return synced_.load(); });
    return synced_.load();
  }
  const Reflector& reflector() const { return reflector_; }

  void OnReplace(std::vector<nlohmann::json>&& items, const std::string& /*rv*/) override {
    std::vector<Ptr> objects;
    objects.reserve(items.size());
    for (auto& item : items) {
      if (auto p = Decode(std::move(item))) objects.push_back(std::move(p));
    }
    std::vector<Ptr> fresh = objects;  // the pointers outlive the swap
    auto old = store_.Replace(std::move(objects));
    for (const auto& obj : fresh) {
      auto key = ObjectTraits<T>::Key(*obj);
      auto it = old.find(key);
      if (it == old.end()) {
        for (auto& h : handlers_)
          if (h.on_add) h.on_add(obj);
      } else {
        for (auto& h : handlers_)
          if (h.on_update) h.on_update(it->second, obj);
        old.erase(it);
      }
    }
    for (auto& [key, obj] : old) {
      Deleted d{key, obj, /*final_state_unknown=*/true};
      for (auto& h : handlers_)
        if (h.on_delete) h.on_delete(d);
    }
    if (!synced_.exchange(true)) {
      std::lock_guard<std::mutex> lock(sync_mu_);
      sync_cv_.notify_all();
    }
  }

  void OnEvent(WatchEvent&& event) override {
    auto obj = Decode(std::move(event.object));
    if (!obj) return;
    if (event.type == WatchEvent::Type::kDeleted) {
      auto key = ObjectTraits<T>::Key(*obj);
      store_.Remove(key);
      Deleted d{key, obj, false};
      for (auto& h : handlers_)
        if (h.on_delete) h.on_delete(d);
      return;
    }
    auto old = store_.Upsert(obj);
    for (auto& h : handlers_) {
      if (old) {
        if (h.on_update) h.on_update(old, obj);
      } else if (h.on_add) {
        h.on_add(obj);
      }
    }
  }

 private:
  Ptr Decode(nlohmann::json&& j) {
    auto key = ObjectKey(j);
    auto t = decoder_(StripForCache(std::move(j)));
    if (!t.ok()) {
      log::Warn("informer: cannot decode object, skipping it",
                {{"key", key}, {"error", t.status().ToString()}});
      return nullptr;
    }
    return std::make_shared<const T>(std::move(*t));
  }

  Decoder decoder_;
  Store<T> store_;
  std::vector<Handlers> handlers_;
  Reflector reflector_;
  std::atomic<bool> synced_{false};
  std::mutex sync_mu_;
  std::condition_variable_any sync_cv_;
  std::jthread thread_;  // last: joined before the members it uses are destroyed
};

// An informer over plain JSON objects.
class JsonInformer : public Informer<nlohmann::json> {
 public:
  JsonInformer(Client& client, ReflectorOptions options)
      : Informer<nlohmann::json>(
            client, std::move(options),
            [](nlohmann::json&& j) -> StatusOr<nlohmann::json> { return std::move(j); }) {}
};

}  // namespace kubeos::kube
