// Time sources for the client machinery: a real monotonic clock and a fake one that tests advance by hand, so
// rate limiters, work queues and leader election can be unit-tested without sleeping.
// Thread-safety: RealClock is stateless; FakeClock is internally synchronised.
#pragma once

#include <chrono>
#include <mutex>

namespace kubeos::kube {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  // A process-wide instance (stateless, so sharing it is harmless).
  static RealClock& Instance() {
    static RealClock clock;
    return clock;
  }
};

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  TimePoint now_{std::chrono::hours(1000)};  // arbitrary, far from the epoch
};

}  // namespace kubeos::kube
