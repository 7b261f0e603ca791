// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics (tools/leaderelection).
//
// Acquire: every RetryPeriod (jittered up to x2.2) GET the Lease; create it if missing; if another holder's
// record is still valid, wait. Validity is judged by the local monotonic time at which we last saw the record
// change (observedTime) plus leaseDurationSeconds, never by the server's renewTime, so clock offsets between
// machines do not matter. Otherwise PUT it with our identity (resourceVersion from the GET; 409 means someone
// else won), bumping leaseTransitions when the holder changes.
// Renew: as leader, PUT every RetryPeriod; if no renew succeeds for RenewDeadline, leadership is lost.
// Release: on a requested stop, a leader writes an empty holder with leaseDurationSeconds 1 so a successor
// takes over at once (ReleaseOnCancel).
//
// Defaults 15 s / 10 s / 2 s (controller-runtime). Thread-safety: Run() on one thread; IsLeader() anywhere.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>

#include "common/status.h"
#include "kube/client.h"
#include "kube/clock.h"

namespace kubeos::kube {

struct LeaderElectionConfig {
  std::string lease_namespace;
  std::string lease_name;
  std::string identity;  // unique per process: hostname + random suffix
  std::chrono::milliseconds lease_duration{std::chrono::seconds(15)};
  std::chrono::milliseconds renew_deadline{std::chrono::seconds(10)};
  std::chrono::milliseconds retry_period{std::chrono::seconds(2)};
  bool release_on_cancel = true;
};

// Validation: lease_duration > renew_deadline > 1.2 * retry_period, identity and names set.
Status ValidateLeaderElectionConfig(const LeaderElectionConfig& c);

// The Lease spec as client-go's LeaderElectionRecord.
struct LeaderElectionRecord {
  std::string holder_identity;
  int lease_duration_seconds = 0;
  std::string acquire_time;  // MicroTime, RFC 3339 with microseconds
  std::string renew_time;
  int lease_transitions = 0;

  static LeaderElectionRecord FromLease(const nlohmann::json& lease);
  void ToLease(nlohmann::json& lease) const;  // writes spec fields
  bool operator==(const LeaderElectionRecord&) const = default;
};

// Pure: may `identity` take the lease now? True when it is free (empty holder), ours, or the holder's record
// has not changed for its lease duration since we observed it.
bool CanAcquire(const LeaderElectionRecord& observed, Clock::TimePoint observed_time, Clock::TimePoint now,
                const std::string& identity);

// "2026-12-03T19:31:45.123456Z".
std::string FormatMicroTime(std::chrono::system_clock::time_point t);

class LeaderElector {
 public:
  struct Callbacks {
    // Runs on its own thread while we lead; its stop_token is requested when leadership ends.
    std::function<void(std::stop_token)> on_started_leading;
    std::function<void()> on_stopped_leading;
    std::function<void(const std::string& identity)> on_new_leader;
  };

  LeaderElector(Client& client, LeaderElectionConfig config, Callbacks callbacks,
                const Clock& clock = RealClock::Instance());

  // Acquires, leads until the lease is lost or `stop`, then releases (if configured). Blocks. Returns OK
  // after a requested stop, kUnavailable ("leader election lost") when renewing failed for RenewDeadline: the
  // caller should then exit, as controller-runtime managers do.
  Status Run(const std::stop_token& stop);

  bool IsLeader() const { return leader_.load(); }
  // The holder we saw last ("" if none).
  std::string ObservedLeader() const;

 private:
  // One GET + create/PUT attempt; true when we hold the lease afterwards.
  bool TryAcquireOrRenew(const std::stop_token& stop);
  void Release();

  Client& client_;
  const LeaderElectionConfig config_;
  Callbacks callbacks_;
  const Clock& clock_;
  std::atomic<bool> leader_{false};
  mutable std::mutex mu_;
  nlohmann::json observed_lease_;         // guarded by mu_ (last lease object seen or written)
  LeaderElectionRecord observed_record_;  // guarded by mu_
  Clock::TimePoint observed_time_{};      // guarded by mu_
  std::string reported_leader_;           // on_new_leader's last value; Run's thread only
};

}  // namespace kubeos::kube
