// A rate-limited work queue with client-go's semantics (util/workqueue).
//
//  - De-duplication: Add of an item already waiting is a no-op. An item being processed (between Get and
//    Done) is only marked dirty and re-queued by Done, so one key is never handled by two workers at once and
//    no update is lost.
//  - AddAfter(item, d): a time-ordered heap; due items join the queue when a worker looks.
//  - AddRateLimited(item): AddAfter(item, max(per-item 5 ms * 2^failures capped at 1000 s, overall token
//    bucket 10 qps / burst 100)) (DefaultTypedControllerRateLimiter). Forget(item) clears the failures.
//  - ShutDown(): Get returns nullopt once the queue is empty (shutting down drains what is queued); adds are
//    ignored from then on.
// Time comes from an injected Clock, so tests use FakeClock and TryGet() instead of sleeping.
// Thread-safety: all methods are safe from any thread. No threads are started.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <queue>
#include <stop_token>
#include <unordered_set>
#include <vector>

#include "kube/clock.h"
#include "kube/rate_limiter.h"

namespace kubeos::kube {

template <typename Key, typename Hash = std::hash<Key>>
class WorkQueue {
 public:
  // DefaultTypedControllerRateLimiter's parameters.
  static constexpr std::chrono::milliseconds kBaseDelay{5};
  static constexpr std::chrono::seconds kMaxDelay{1000};
  static constexpr double kOverallQps = 10;
  static constexpr int kOverallBurst = 100;
  // Upper bound on one Get() wait, so a FakeClock-driven delayed item is still noticed by a blocked worker.
  static constexpr std::chrono::milliseconds kMaxPoll{500};

  explicit WorkQueue(const Clock& clock = RealClock::Instance())
      : clock_(clock), backoff_(kBaseDelay, kMaxDelay), bucket_(kOverallQps, kOverallBurst, clock) {}
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const Key& k) {
    std::lock_guard<std::mutex> lock(mu_);
    AddLocked(k);
  }
  void AddAfter(const Key& k, std::chrono::nanoseconds d) {
    if (d <= std::chrono::nanoseconds(0)) return Add(k);
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_) return;
    delayed_.push(Delayed{clock_.Now() + d, seq_++, k});
    ++wakeups_;
    cv_.notify_one();
  }
  void AddRateLimited(const Key& k) { AddAfter(k, std::max(backoff_.When(k), bucket_.Reserve())); }
  void Forget(const Key& k) { backoff_.Forget(k); }
  int NumRequeues(const Key& k) { return backoff_.NumRequeues(k); }

  // Blocks until an item is ready or the queue is shut down and drained (nullopt), or `stop`.
  std::optional<Key> Get(const std::stop_token& stop = {}) {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      PromoteDueLocked();
      if (!queue_.empty()) return PopLocked();
      if (shutting_down_ || stop.stop_requested()) return std::nullopt;
      auto wait = kMaxPoll;
      if (!delayed_.empty()) {
        auto until = delayed_.top().when - clock_.Now();
        wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(until),
                          std::chrono::milliseconds(1), kMaxPoll);
      }
      // Wake on any add (or shutdown), not only at the timeout: a predicate that is always false would
      // sleep through notifications and delay every new item by up to kMaxPoll.
      const uint64_t seen = wakeups_;
      cv_.wait_for(lock, stop, wait, [this, seen] { return wakeups_ != seen; });
    }
  }
  // Non-blocking Get.
  std::optional<Key> TryGet() {
    std::lock_guard<std::mutex> lock(mu_);
    PromoteDueLocked();
    if (queue_.empty()) return std::nullopt;
    return PopLocked();
  }
  // Marks the item processed; re-queues it if it was added meanwhile.
  void Done(const Key& k) {
    std::lock_guard<std::mutex> lock(mu_);
    processing_.erase(k);
    if (dirty_.count(k) != 0) {
      queue_.push_back(k);
      ++wakeups_;
      cv_.notify_one();
    }
  }
  void ShutDown() {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
    ++wakeups_;
    cv_.notify_all();
  }
  bool ShuttingDown() const {
    std::lock_guard<std::mutex> lock(mu_);
    return shutting_down_;
  }
  // Items ready to be handed out (not counting delayed or in-process ones).
  size_t Len() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
  }
  size_t NumDelayedForTest() const {
    std::lock_guard<std::mutex> lock(mu_);
    return delayed_.size();
  }

 private:
  struct Delayed {
    Clock::TimePoint when;
    uint64_t seq;  // FIFO among equal times
    Key key;
    bool operator>(const Delayed& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };

  void AddLocked(const Key& k) {
    if (shutting_down_) return;
    if (!dirty_.insert(k).second) return;
    if (processing_.count(k) != 0) return;  // re-queued by Done
    queue_.push_back(k);
    ++wakeups_;
    cv_.notify_one();
  }
  void PromoteDueLocked() {
    auto now = clock_.Now();
    while (!delayed_.empty() && delayed_.top().when <= now) {
      Key k = delayed_.top().key;
      delayed_.pop();
      AddLocked(k);
    }
  }
  Key PopLocked() {
    Key k = std::move(queue_.front());
    queue_.pop_front();
    dirty_.erase(k);
    processing_.insert(k);
    return k;
  }

  const Clock& clock_;
  ItemExponentialBackoff<Key, Hash> backoff_;
  TokenBucket bucket_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<Key> queue_;                                                       // guarded by mu_
  std::unordered_set<Key, Hash> dirty_;                                         // guarded by mu_
  std::unordered_set<Key, Hash> processing_;                                    // guarded by mu_
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<>> delayed_;  // guarded by mu_
  uint64_t seq_ = 0;                                                            // guarded by mu_
  uint64_t wakeups_ = 0;        // guarded by mu_; bumped with every notify
  bool shutting_down_ = false;  // guarded by mu_
};

}  // namespace kubeos::kube
