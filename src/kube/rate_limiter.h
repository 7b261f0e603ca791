// Rate limiters with client-go's semantics.
//
// TokenBucket: `qps` tokens per second, at most `burst` stored; starts full (client-go's
// flowcontrol.NewTokenBucketRateLimiter). Reserve() takes a token and says how long the caller must wait for
// it (tokens may go negative, so waiters queue fairly). Wait() sleeps that long, waking early on stop.
// ItemExponentialBackoff: per-item base * 2^failures, capped (workqueue.ItemExponentialFailureRateLimiter).
// Thread-safety: both are internally synchronised.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stop_token>
#include <unordered_map>

#include "kube/clock.h"

namespace kubeos::kube {

class TokenBucket {
 public:
  // qps <= 0 disables limiting (Reserve always returns zero).
  TokenBucket(double qps, int burst, const Clock& clock = RealClock::Instance());

  // Takes one token; returns how long to wait before using it.
  std::chrono::nanoseconds Reserve();
  // Reserve() and sleep; returns false if `stop` was requested first.
  bool Wait(const std::stop_token& stop = {});

 private:
  const double qps_;
  const double burst_;
  const Clock& clock_;
  std::mutex mu_;
  double tokens_;          // guarded by mu_
  Clock::TimePoint last_;  // guarded by mu_
};

template <typename Key, typename Hash = std::hash<Key>>
class ItemExponentialBackoff {
 public:
  ItemExponentialBackoff(std::chrono::nanoseconds base, std::chrono::nanoseconds cap)
      : base_(base), cap_(cap) {}

  // The delay for this failure, counting it.
  std::chrono::nanoseconds When(const Key& k) {
    std::lock_guard<std::mutex> lock(mu_);
    int n = failures_[k]++;
    if (n >= 62) return cap_;  // 2^n would overflow
    double d = static_cast<double>(base_.count()) * static_cast<double>(uint64_t{1} << n);
    if (d >= static_cast<double>(cap_.count())) return cap_;
    return std::chrono::nanoseconds(static_cast<int64_t>(d));
  }
  void Forget(const Key& k) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.erase(k);
  }
  int NumRequeues(const Key& k) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = failures_.find(k);
    return it == failures_.end() ? 0 : it->second;
  }

 private:
  const std::chrono::nanoseconds base_, cap_;
  std::mutex mu_;
  std::unordered_map<Key, int, Hash> failures_;  // guarded by mu_
};

// Sleeps for `d` unless `stop` is requested first; returns false when stopped.
bool SleepFor(std::chrono::nanoseconds d, const std::stop_token& stop);

}  // namespace kubeos::kube
