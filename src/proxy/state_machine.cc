#include "proxy/state_machine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace kubeos::node {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

Decision Make(Action a, Phase p, std::string reason, std::string message = {},
              std::chrono::seconds requeue = std::chrono::seconds(0)) {
  return Decision{a, p, std::move(reason), std::move(message), requeue};
}

bool Idle(const std::string& nodestatus) { return nodestatus.empty() || nodestatus == "idle"; }

// The upgrade/rollback part once the node does not run the target yet.
Decision NotAtTarget(const Observation& obs, const std::string& target) {
  const InstanceView& in = obs.instance;
  const ProxyRecord& rec = in.record;
  const OsView& os = obs.os;
  const AgentView& agent = obs.agent;
  if (rec.reboot_requested_at != 0) {
    if (agent.last_fallback && agent.last_fallback->unix_time >= rec.reboot_requested_at) {
      return Make(Action::kRelease, Phase::kFellBack, "FellBack",
                  fmt::format("the agent fell back from {}: {}", target, agent.last_fallback->message));
    }
    auto waited = obs.now - rec.reboot_requested_at;
    if (waited > obs.policy.reboot_timeout.count()) {
      return Make(Action::kRelease, Phase::kFailed, "RebootTimeout",
                  fmt::format("the node did not come back on {} within {} s (it reports \"{}\")", target,
                              obs.policy.reboot_timeout.count(), obs.node.os_image));
    }
    // Killed between recording the request and delivering it, a proxy leaves the host up with nothing
    // armed. An agent that shows no trace of the request (no trial, nothing running, no operation recorded
    // since; it records upgrade/rollback before it reboots), past the time a call in flight needs, never
    // got it: send it again instead of waiting out the reboot timeout. Any later record (the switch, a
    // commit by health checks, a failure) means the request arrived, so a switch is never repeated.
    if (agent.reachable && agent.known && agent.booted_version != target && !agent.trial_armed &&
        !agent.on_trial && agent.running_operation.empty() &&
        agent.last_operation_at < rec.reboot_requested_at && waited >= kSwitchLostAfter.count()) {
      return Make(Action::kSwitch, Phase::kRebooting, kSwitchResent,
                  fmt::format("the agent shows no trace of the {} requested {} s ago; requesting it again",
                              os.opstype, waited));
    }
    if (agent.known && agent.booted_version == target) {
      return Make(Action::kWait, Phase::kVerifying, "WaitingForKubelet",
                  fmt::format("booted {}; waiting for the Node to report it", target), kRebootPoll);
    }
    return Make(Action::kWait, Phase::kRebooting, "WaitingForReboot",
                fmt::format("{} requested; waiting for the host to boot {}", os.opstype, target),
                kRebootPoll);
  }
  // Before the switch the original's reassign rule holds: new upgradeconfigs -> back to idle, the operator
  // assigns again with the new copy.
  if (os.upgradeconfigs_version != in.spec_upgradeconfigs_version) {
    return Make(Action::kRelease, Phase::kIdle, "Reassign",
                fmt::format("upgradeconfigs changed to version \"{}\"; released for reassignment",
                            os.upgradeconfigs_version));
  }
  if (in.spec_upgradeconfigs_version != in.status_upgradeconfigs_version) {
    return Make(Action::kApplyUpgradeConfigs, Phase::kStaging, "ApplyUpgradeConfigs",
                fmt::format("applying upgradeconfigs version \"{}\"", in.spec_upgradeconfigs_version));
  }
  if (os.opstype == "upgrade" && !StandbyHoldsTarget(agent, os, rec)) {
    return Make(Action::kPrepare, Phase::kStaging, "Staging",
                fmt::format("writing {} to the standby slot", target));
  }
  if (rec.drained_at == 0 || !obs.node.unschedulable) {
    return Make(Action::kDrain, Phase::kDraining, "Draining", "draining the node");
  }
  return Make(Action::kSwitch, Phase::kRebooting, "Rebooting",
              fmt::format("{} to {}: the host reboots", os.opstype, target));
}

}  // namespace

std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kNone:
      return "None";
    case Action::kBegin:
      return "Begin";
    case Action::kCopySysconfigs:
      return "CopySysconfigs";
    case Action::kApplyUpgradeConfigs:
      return "ApplyUpgradeConfigs";
    case Action::kPrepare:
      return "Prepare";
    case Action::kDrain:
      return "Drain";
    case Action::kSwitch:
      return "Switch";
    case Action::kWait:
      return "Wait";
    case Action::kMarkGood:
      return "MarkGood";
    case Action::kApplySysconfigs:
      return "ApplySysconfigs";
    case Action::kRelease:
      return "Release";
  }
  return "?";
}

std::string TargetOf(const OsView& os) {
  return os.opstype == "config" ? os.sysconfigs_version : os.osversion;
}

bool StandbyHoldsTarget(const AgentView& agent, const OsView& os, const ProxyRecord& record) {
  if (!agent.known) return record.staged_at != 0;
  return agent.standby_state == "installed" && agent.standby_version == os.osversion &&
         !os.checksum.empty() && Lower(agent.standby_sha256) == Lower(os.checksum);
}

Decision Decide(const Observation& obs) {
  const InstanceView& in = obs.instance;
  const NodeView& node = obs.node;
  const ProxyRecord& rec = in.record;
  if (!node.exists) return Make(Action::kNone, Phase::kNone, "NodeGone");

  if (Idle(in.nodestatus)) {
    if (node.upgrading_label || node.configuring_label) {
      return Make(Action::kRelease, Phase::kNone, "StaleLabel",
                  "nodestatus is idle: operation label removed");
    }
    if (node.cordoned_by_us) {
      return Make(Action::kRelease, Phase::kNone, "StaleCordon", "nodestatus is idle: our cordon removed");
    }
    return Make(Action::kNone, Phase::kNone, "Idle");
  }
  if (in.owner.empty()) {
    return Make(Action::kNone, Phase::kNone, "NoOwner", "nodestatus set but spec.namespacedname is absent");
  }
  if (obs.owner_os_missing) {
    return Make(Action::kRelease, Phase::kIdle, "OSDeleted",
                fmt::format("OS {} no longer exists; operation abandoned", in.owner));
  }
  const OsView& os = obs.os;
  const std::string target = TargetOf(os);
  const bool same = rec.target_version == target && rec.operation == os.opstype && rec.os_ref == os.ref;
  const bool at_target = node.os_image == os.osversion;

  if (same && (rec.phase == Phase::kFailed || rec.phase == Phase::kFellBack)) {
    // Never retried by us; the operator does not assign this target again either.
    return Make(Action::kRelease, Phase::kNone, "Released", rec.message);
  }
  const bool finished_here =
      os.opstype == "config" ? in.status_sysconfigs_version == target && at_target : at_target;
  if (same && rec.phase == Phase::kSucceeded && finished_here) {
    return Make(Action::kRelease, Phase::kNone, "Released", rec.message);
  }
  if (!same || rec.phase == Phase::kNone || rec.phase == Phase::kIdle || rec.phase == Phase::kSucceeded) {
    return Make(Action::kBegin, os.opstype == "config" ? Phase::kConfiguring : Phase::kStaging, "Started",
                fmt::format("{} to {} for OS {} (attempt {})", os.opstype, target, os.ref,
                            same ? rec.attempts + 1 : 1));
  }

  if (os.opstype == "config") {
    if (!at_target) {
      return Make(Action::kRelease, Phase::kFailed, "OSVersionMismatch",
                  "Expect OS Version is not same with Node OS Version, please upgrade first");
    }
    if (in.nodestatus == "config" && os.sysconfigs_version != in.spec_sysconfigs_version) {
      return Make(Action::kRelease, Phase::kIdle, "Reassign",
                  fmt::format("sysconfigs changed to version \"{}\"; released for reassignment",
                              os.sysconfigs_version));
    }
    if (in.spec_sysconfigs_version != in.status_sysconfigs_version) {
      return Make(Action::kApplySysconfigs, Phase::kConfiguring, "Configuring",
                  fmt::format("applying sysconfigs version \"{}\"", in.spec_sysconfigs_version));
    }
    return Make(Action::kRelease, Phase::kSucceeded, "Succeeded",
                fmt::format("sysconfigs version \"{}\" applied", target));
  }
  if (os.opstype != "upgrade" && os.opstype != "rollback") {
    return Make(Action::kRelease, Phase::kFailed, "UnknownOperation",
                fmt::format("operation {} cannot be recognized", os.opstype));
  }
  if (!at_target) return NotAtTarget(obs, target);

  // On the target (after the reboot, or already there).
  if (os.sysconfigs_version != in.spec_sysconfigs_version) {
    return Make(
        Action::kCopySysconfigs, Phase::kConfiguring, "CopySysconfigs",
        fmt::format("sysconfigs changed to version \"{}\" during the upgrade", os.sysconfigs_version));
  }
  if (obs.agent.known && obs.agent.on_trial && obs.agent.booted_version == target) {
    if (!obs.policy.mark_good) {
      return Make(Action::kWait, Phase::kVerifying, "WaitingForCommit",
                  "booted on trial; waiting for the agent's health checks to commit it", kRebootPoll);
    }
    if (!node.ready) {
      return Make(Action::kWait, Phase::kVerifying, "WaitingForReady",
                  "booted on trial; waiting for the Node to be Ready", kRebootPoll);
    }
    return Make(Action::kMarkGood, Phase::kVerifying, "Committing",
                fmt::format("node Ready on {}: committing the trial boot", target));
  }
  if (in.spec_sysconfigs_version != in.status_sysconfigs_version) {
    return Make(Action::kApplySysconfigs, Phase::kConfiguring, "Configuring",
                fmt::format("applying sysconfigs version \"{}\"", in.spec_sysconfigs_version));
  }
  return Make(Action::kRelease, Phase::kSucceeded, "Succeeded", fmt::format("node runs {}", target));
}

}  // namespace kubeos::node
