#include "kube/leader_election.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <random>
#include <thread>

#include "common/log.h"

namespace kubeos::kube {
namespace {

// client-go JitterFactor: acquire retries sleep RetryPeriod * (1 + 1.2 * rand).
constexpr double kJitterFactor = 1.2;

double Random01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

Status ValidateLeaderElectionConfig(const LeaderElectionConfig& c) {
  if (c.lease_name.empty() || c.lease_namespace.empty())
    return InvalidArgumentError("leader election: lease name and namespace are required");
  if (c.identity.empty()) return InvalidArgumentError("leader election: identity is required");
  if (c.lease_duration <= c.renew_deadline)
    return InvalidArgumentError("leader election: leaseDuration must be greater than renewDeadline");
  if (static_cast<double>(c.renew_deadline.count()) <=
      kJitterFactor * static_cast<double>(c.retry_period.count()))
    return InvalidArgumentError("leader election: renewDeadline must be greater than 1.2 * retryPeriod");
  if (c.retry_period.count() <= 0)
    return InvalidArgumentError("leader election: retryPeriod must be positive");
  return Status::Ok();
}

LeaderElectionRecord LeaderElectionRecord::FromLease(const nlohmann::json& lease) {
  LeaderElectionRecord r;
  auto spec = lease.find("spec");
  if (spec == lease.end() || !spec->is_object()) return r;
  auto str = [&](const char* k) {
    auto it = spec->find(k);
    return it != spec->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto num = [&](const char* k) {
    auto it = spec->find(k);
    return it != spec->end() && it->is_number_integer() ? it->get<int>() : 0;
  };
  r.holder_identity = str("holderIdentity");
  r.lease_duration_seconds = num("leaseDurationSeconds");
  r.acquire_time = str("acquireTime");
  r.renew_time = str("renewTime");
  r.lease_transitions = num("leaseTransitions");
  return r;
}

void LeaderElectionRecord::ToLease(nlohmann::json& lease) const {
  auto& spec = lease["spec"];
  spec["holderIdentity"] = holder_identity;
  spec["leaseDurationSeconds"] = lease_duration_seconds;
  if (!acquire_time.empty()) spec["acquireTime"] = acquire_time;
  if (!renew_time.empty()) spec["renewTime"] = renew_time;
  spec["leaseTransitions"] = lease_transitions;
}

bool CanAcquire(const LeaderElectionRecord& observed, Clock::TimePoint observed_time, Clock::TimePoint now,
                const std::string& identity) {
  if (observed.holder_identity.empty() || observed.holder_identity == identity) return true;
  return observed_time + std::chrono::seconds(observed.lease_duration_seconds) <= now;
}

std::string FormatMicroTime(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06d}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(secs)),
                     micros);
}

LeaderElector::LeaderElector(Client& client, LeaderElectionConfig config, Callbacks callbacks,
                             const Clock& clock)
    : client_(client), config_(std::move(config)), callbacks_(std::move(callbacks)), clock_(clock) {}

std::string LeaderElector::ObservedLeader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return observed_record_.holder_identity;
}

bool LeaderElector::TryAcquireOrRenew(const std::stop_token& stop) {
  const Resource leases = Resource::Leases();
  const auto now_wall = std::chrono::system_clock::now();
  const int duration_s =
      static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count());
  LeaderElectionRecord desired{.holder_identity = config_.identity,
                               .lease_duration_seconds = duration_s,
                               .acquire_time = FormatMicroTime(now_wall),
                               .renew_time = FormatMicroTime(now_wall)};

  auto got = client_.Get(leases, config_.lease_namespace, config_.lease_name);
  if (stop.stop_requested()) return false;
  if (!got.ok()) {
    if (got.status().code() != StatusCode::kNotFound) {
      log::Warn("leader election: cannot read lease",
                {{"lease", config_.lease_name}, {"error", got.status().ToString()}});
      return false;
    }
    nlohmann::json lease = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}}};
    desired.ToLease(lease);
    auto created = client_.Create(leases, config_.lease_namespace, lease);
    if (!created.ok()) return false;
    std::lock_guard<std::mutex> lock(mu_);
    observed_lease_ = std::move(*created);
    observed_record_ = desired;
    observed_time_ = clock_.Now();
    return true;
  }

  LeaderElectionRecord old = LeaderElectionRecord::FromLease(*got);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!(old == observed_record_)) {
      observed_record_ = old;
      observed_time_ = clock_.Now();
    }
    observed_lease_ = *got;
    if (!CanAcquire(observed_record_, observed_time_, clock_.Now(), config_.identity)) return false;
  }
  if (old.holder_identity == config_.identity) {
    desired.acquire_time = old.acquire_time;
    desired.lease_transitions = old.lease_transitions;
  } else {
    desired.lease_transitions = old.lease_transitions + 1;
  }
  nlohmann::json lease = *got;  // carries metadata.resourceVersion: a concurrent writer makes this a 409
  desired.ToLease(lease);
  auto updated = client_.Update(leases, config_.lease_namespace, lease);
  if (!updated.ok()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  observed_lease_ = std::move(*updated);
  observed_record_ = desired;
  observed_time_ = clock_.Now();
  return true;
}

void LeaderElector::Release() {
  nlohmann::json lease;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (observed_record_.holder_identity != config_.identity) return;
    lease = observed_lease_;
  }
  const auto now = FormatMicroTime(std::chrono::system_clock::now());
  LeaderElectionRecord released{
      .holder_identity = "",
      .lease_duration_seconds = 1,
      .acquire_time = now,
      .renew_time = now,
      .lease_transitions = LeaderElectionRecord::FromLease(lease).lease_transitions};
  Status s = RetryOnConflict(kDefaultRetry, [&]() -> Status {
    nlohmann::json l = lease;
    released.ToLease(l);
    auto r = client_.Update(Resource::Leases(), config_.lease_namespace, l);
    if (r.ok()) return Status::Ok();
    if (r.status().code() == StatusCode::kConflict) {
      auto fresh = client_.Get(Resource::Leases(), config_.lease_namespace, config_.lease_name);
      if (!fresh.ok()) return fresh.status();
      if (LeaderElectionRecord::FromLease(*fresh).holder_identity != config_.identity) return Status::Ok();
      lease = std::move(*fresh);
    }
    return r.status();
  });
  if (!s.ok())
    log::Warn("leader election: release failed", {{"lease", config_.lease_name}, {"error", s.ToString()}});
  std::lock_guard<std::mutex> lock(mu_);
  observed_record_ = released;
}

Status LeaderElector::Run(const std::stop_token& stop) {
  KUBEOS_RETURN_IF_ERROR(ValidateLeaderElectionConfig(config_));
  auto report_leader = [&] {
    std::string holder = ObservedLeader();
    if (holder != reported_leader_) {
      reported_leader_ = holder;
      if (callbacks_.on_new_leader && !holder.empty()) callbacks_.on_new_leader(holder);
    }
  };
  // Acquire.
  while (true) {
    if (stop.stop_requested()) return Status::Ok();
    bool ok = TryAcquireOrRenew(stop);
    report_leader();
    if (ok) break;
    auto jittered = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.retry_period) *
                    (1.0 + kJitterFactor * Random01());
    SleepFor(std::chrono::duration_cast<std::chrono::nanoseconds>(jittered), stop);
  }
  leader_ = true;
  log::Info("leader election: became leader",
            {{"lease", config_.lease_name}, {"identity", config_.identity}});
  std::jthread work;
  if (callbacks_.on_started_leading) work = std::jthread(callbacks_.on_started_leading);

  // Renew.
  Status result;
  auto last_renew = clock_.Now();
  while (true) {
    if (!SleepFor(config_.retry_period, stop)) break;
    if (TryAcquireOrRenew(stop)) {
      last_renew = clock_.Now();
      report_leader();
      continue;
    }
    report_leader();
    if (stop.stop_requested()) break;
    if (clock_.Now() - last_renew >= config_.renew_deadline || ObservedLeader() != config_.identity) {
      result = UnavailableError("leader election lost: lease " + config_.lease_namespace + "/" +
                                config_.lease_name + " was not renewed in time");
      break;
    }
  }
  leader_ = false;
  if (work.joinable()) {
    work.request_stop();
    work.join();
  }
  if (result.ok() && config_.release_on_cancel) Release();
  log::Info("leader election: stopped leading",
            {{"lease", config_.lease_name}, {"identity", config_.identity}});
  if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
  return result;
}

}  // namespace kubeos::kube
