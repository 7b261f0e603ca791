// Table tests of the node state machine: each row is an observation and the one action expected.
#include "proxy/state_machine.h"

#include <gtest/gtest.h>

namespace kubeos::node {
namespace {

constexpr int64_t kNow = 1'800'000'000;

// Builder for observations: a Ready node on "KubeOS 1", an upgrade to "KubeOS 2" assigned by OS default/os.
struct Obs {
  Observation o;
  Obs() {
    o.now = kNow;
    o.node = {.exists = true, .os_image = "KubeOS 1", .ready = true, .upgrading_label = true};
    o.os = {.ref = "default/os", .opstype = "upgrade", .osversion = "KubeOS 2", .checksum = "ABCD"};
    o.instance.nodestatus = "upgrade";
    o.instance.owner = "default/os";
    o.agent = {.reachable = true,
               .known = true,
               .booted_slot = "A",
               .booted_version = "KubeOS 1",
               .standby_state = "empty"};
  }
  // The record of an attempt in progress for the current target.
  Obs& InAttempt(Phase p) {
    o.instance.record.phase = p;
    o.instance.record.target_version = TargetOf(o.os);
    o.instance.record.operation = o.os.opstype;
    o.instance.record.os_ref = o.os.ref;
    o.instance.record.attempts = 1;
    o.instance.record.started_at = kNow - 100;
    return *this;
  }
  Obs& Idle() {
    o.instance.nodestatus = "idle";
    o.instance.owner.clear();
    o.node.upgrading_label = false;
    return *this;
  }
  Obs& Staged() {
    o.agent.standby_state = "installed";
    o.agent.standby_version = "KubeOS 2";
    o.agent.standby_sha256 = "abcd";
    return *this;
  }
  Obs& Drained() {
    o.node.unschedulable = true;
    o.node.cordoned_by_us = true;
    o.instance.record.drain_started_at = kNow - 50;
    o.instance.record.drained_at = kNow - 10;
    return *this;
  }
  Obs& Switched(int64_t ago = 30) {  // the request reached the agent: recorded, the trial armed
    Drained();
    o.instance.record.reboot_requested_at = kNow - ago;
    o.agent.trial_armed = true;
    o.agent.trial_version = TargetOf(o.os);
    o.agent.last_operation_at = kNow - ago;
    return *this;
  }
  Obs& SwitchLost() {  // the request never reached the agent: nothing armed, nothing recorded since
    o.agent.trial_armed = false;
    o.agent.trial_version.clear();
    o.agent.last_operation_at = o.instance.record.reboot_requested_at - 60;  // the prepare_upgrade
    return *this;
  }
  Obs& Booted() {  // after the reboot into the target, on trial
    o.node.os_image = "KubeOS 2";
    o.agent.booted_slot = "B";
    o.agent.booted_version = "KubeOS 2";
    o.agent.on_trial = true;
    return *this;
  }
  Obs& Config(const std::string& version) {
    o.os.opstype = "config";
    o.os.sysconfigs_version = version;
    o.instance.nodestatus = "config";
    o.instance.spec_sysconfigs_version = version;
    o.node.os_image = "KubeOS 2";
    o.os.osversion = "KubeOS 2";
    o.node.upgrading_label = false;
    o.node.configuring_label = true;
    return *this;
  }
  template <typename F>
  Obs& With(F f) {
    f(o);
    return *this;
  }
};

struct Row {
  const char* name;
  Observation obs;
  Action action;
  Phase phase;
  const char* reason;
};

class DecideTest : public ::testing::TestWithParam<Row> {};

TEST_P(DecideTest, NextAction) {
  const Row& r = GetParam();
  Decision d = Decide(r.obs);
  EXPECT_EQ(ActionName(d.action), ActionName(r.action)) << d.reason << ": " << d.message;
  EXPECT_EQ(PhaseName(d.phase), PhaseName(r.phase)) << d.reason << ": " << d.message;
  EXPECT_EQ(d.reason, r.reason) << d.message;
}

const Row kRows[] = {
    // Idle and cleanup.
    {"NodeGone", Obs().With([](Observation& o) { o.node.exists = false; }).o, Action::kNone, Phase::kNone,
     "NodeGone"},
    {"IdleNothing", Obs().Idle().o, Action::kNone, Phase::kNone, "Idle"},
    {"IdleStaleLabel", Obs().Idle().With([](Observation& o) { o.node.upgrading_label = true; }).o,
     Action::kRelease, Phase::kNone, "StaleLabel"},
    {"IdleStaleConfigLabel", Obs().Idle().With([](Observation& o) { o.node.configuring_label = true; }).o,
     Action::kRelease, Phase::kNone, "StaleLabel"},
    {"IdleStaleCordonOfOurs",
     Obs().Idle().With([](Observation& o) { o.node.unschedulable = o.node.cordoned_by_us = true; }).o,
     Action::kRelease, Phase::kNone, "StaleCordon"},
    {"IdleSomeoneElsesCordonLeftAlone",
     Obs().Idle().With([](Observation& o) { o.node.unschedulable = true; }).o, Action::kNone, Phase::kNone,
     "Idle"},
    {"EmptyNodestatusIsIdle", Obs().Idle().With([](Observation& o) { o.instance.nodestatus = ""; }).o,
     Action::kNone, Phase::kNone, "Idle"},
    {"NoOwnerWaits", Obs().With([](Observation& o) { o.instance.owner.clear(); }).o, Action::kNone,
     Phase::kNone, "NoOwner"},
    {"OwnerDeleted",
     Obs().InAttempt(Phase::kDraining).Drained().With([](Observation& o) { o.owner_os_missing = true; }).o,
     Action::kRelease, Phase::kIdle, "OSDeleted"},

    // Starting an attempt.
    {"BeginUpgrade", Obs().o, Action::kBegin, Phase::kStaging, "Started"},
    {"BeginAfterEarlierSuccessOfOtherTarget",
     Obs()
         .InAttempt(Phase::kSucceeded)
         .With([](Observation& o) { o.instance.record.target_version = "KubeOS 1"; })
         .o,
     Action::kBegin, Phase::kStaging, "Started"},
    {"BeginWhenUserResetPhase", Obs().InAttempt(Phase::kIdle).o, Action::kBegin, Phase::kStaging, "Started"},
    {"BeginConfig", Obs().Config("v2").o, Action::kBegin, Phase::kConfiguring, "Started"},

    // Upgrade, before the reboot.
    {"PrepareFirst", Obs().InAttempt(Phase::kStaging).o, Action::kPrepare, Phase::kStaging, "Staging"},
    {"UpgradeConfigsBeforePrepare",
     Obs()
         .InAttempt(Phase::kStaging)
         .With([](Observation& o) {
           o.os.upgradeconfigs_version = o.instance.spec_upgradeconfigs_version = "u1";
         })
         .o,
     Action::kApplyUpgradeConfigs, Phase::kStaging, "ApplyUpgradeConfigs"},
    {"PrepareSkippedWhenStandbyHoldsTarget", Obs().InAttempt(Phase::kStaging).Staged().o, Action::kDrain,
     Phase::kDraining, "Draining"},
    {"PrepareRepeatedWhenChecksumDiffers",
     Obs()
         .InAttempt(Phase::kStaging)
         .Staged()
         .With([](Observation& o) { o.agent.standby_sha256 = "ffff"; })
         .o,
     Action::kPrepare, Phase::kStaging, "Staging"},
    {"PrepareRepeatedWhenStandbyInvalid",
     Obs()
         .InAttempt(Phase::kStaging)
         .Staged()
         .With([](Observation& o) { o.agent.standby_state = "invalid"; })
         .o,
     Action::kPrepare, Phase::kStaging, "Staging"},
    {"OldAgentUsesStagedAt",
     Obs()
         .InAttempt(Phase::kStaging)
         .With([](Observation& o) {
           o.agent.known = false;
           o.instance.record.staged_at = kNow - 5;
         })
         .o,
     Action::kDrain, Phase::kDraining, "Draining"},
    {"RollbackNeedsNoPrepare",
     Obs()
         .With([](Observation& o) {
           o.os.opstype = "rollback";
           o.os.osversion = "KubeOS 0";
         })
         .InAttempt(Phase::kStaging)
         .o,
     Action::kDrain, Phase::kDraining, "Draining"},
    {"DrainContinues",
     Obs()
         .InAttempt(Phase::kDraining)
         .Staged()
         .With([](Observation& o) {
           o.node.unschedulable = o.node.cordoned_by_us = true;
           o.instance.record.drain_started_at = kNow - 5;
         })
         .o,
     Action::kDrain, Phase::kDraining, "Draining"},
    {"SwitchAfterDrain", Obs().InAttempt(Phase::kDraining).Staged().Drained().o, Action::kSwitch,
     Phase::kRebooting, "Rebooting"},
    {"UncordonedAfterDrainDrainsAgain",
     Obs()
         .InAttempt(Phase::kDraining)
         .Staged()
         .Drained()
         .With([](Observation& o) { o.node.unschedulable = o.node.cordoned_by_us = false; })
         .o,
     Action::kDrain, Phase::kDraining, "Draining"},
    {"SomeoneElsesCordonStillDrains",
     Obs().InAttempt(Phase::kDraining).Staged().With([](Observation& o) { o.node.unschedulable = true; }).o,
     Action::kDrain, Phase::kDraining, "Draining"},
    {"ReassignOnNewUpgradeConfigs",
     Obs()
         .InAttempt(Phase::kDraining)
         .Drained()
         .With([](Observation& o) { o.os.upgradeconfigs_version = "u2"; })
         .o,
     Action::kRelease, Phase::kIdle, "Reassign"},
    {"LabelMissingStillWorks",
     Obs().InAttempt(Phase::kStaging).With([](Observation& o) { o.node.upgrading_label = false; }).o,
     Action::kPrepare, Phase::kStaging, "Staging"},

    // After the switch.
    {"WaitForReboot", Obs().InAttempt(Phase::kRebooting).Switched().o, Action::kWait, Phase::kRebooting,
     "WaitingForReboot"},
    {"WaitWhileAgentUnreachable",
     Obs().InAttempt(Phase::kRebooting).Switched().With([](Observation& o) { o.agent = {}; }).o,
     Action::kWait, Phase::kRebooting, "WaitingForReboot"},
    {"NewUpgradeConfigsIgnoredAfterSwitch",
     Obs()
         .InAttempt(Phase::kRebooting)
         .Switched()
         .With([](Observation& o) { o.os.upgradeconfigs_version = "u2"; })
         .o,
     Action::kWait, Phase::kRebooting, "WaitingForReboot"},
    {"BootedButKubeletNotYet",
     Obs()
         .InAttempt(Phase::kRebooting)
         .Switched()
         .Booted()
         .With([](Observation& o) { o.node.os_image = "KubeOS 1"; })
         .o,
     Action::kWait, Phase::kVerifying, "WaitingForKubelet"},
    // The proxy died between recording Rebooting and the RPC: nothing armed, the old slot still up.
    {"SwitchLostIsResent", Obs().InAttempt(Phase::kRebooting).Switched(30).SwitchLost().o, Action::kSwitch,
     Phase::kRebooting, "SwitchResent"},
    {"SwitchLostButCallMayBeInFlight", Obs().InAttempt(Phase::kRebooting).Switched(3).SwitchLost().o,
     Action::kWait, Phase::kRebooting, "WaitingForReboot"},
    {"SwitchNotResentWhileAgentBusy",
     Obs()
         .InAttempt(Phase::kRebooting)
         .Switched(30)
         .SwitchLost()
         .With([](Observation& o) { o.agent.running_operation = "upgrade"; })
         .o,
     Action::kWait, Phase::kRebooting, "WaitingForReboot"},
    {"SwitchNotResentToAnOriginalAgent",
     Obs()
         .InAttempt(Phase::kRebooting)
         .Switched(30)
         .SwitchLost()
         .With([](Observation& o) { o.agent.known = false; })
         .o,
     Action::kWait, Phase::kRebooting, "WaitingForReboot"},
    // A trial armed for a slot whose version the agent does not know is still an armed trial.
    {"SwitchNotResentWhenATrialWithoutVersionIsArmed",
     Obs()
         .InAttempt(Phase::kRebooting)
         .Switched(30)
         .SwitchLost()
         .With([](Observation& o) { o.agent.trial_armed = true; })
         .o,
     Action::kWait, Phase::kRebooting, "WaitingForReboot"},
    // The rollback arrived and the host rebooted into a slot holding another version than osversion, which
    // the agent's health checks committed: the request left a record, so it is never sent again (that
    // would flip the host between its slots); the reboot timeout decides.
    {"DeliveredSwitchToAnotherVersionIsNotResent",
     Obs()
         .InAttempt(Phase::kRebooting)
         .Switched(60)
         .With([](Observation& o) {
           o.agent.trial_armed = false;
           o.agent.trial_version.clear();
           o.agent.booted_slot = "B";
           o.agent.booted_version = "KubeOS 3";
           o.agent.last_operation_at = kNow - 20;  // mark_good by the health checks after the reboot
         })
         .o,
     Action::kWait, Phase::kRebooting, "WaitingForReboot"},
    {"RebootTimeout", Obs().InAttempt(Phase::kRebooting).Switched(4000).o, Action::kRelease, Phase::kFailed,
     "RebootTimeout"},
    {"FellBack",
     Obs()
         .InAttempt(Phase::kRebooting)
         .Switched()
         .With([](Observation& o) {
           o.agent.last_fallback =
               Fallback{"trial of slot B (version KubeOS 2) fell back to slot A", kNow - 5};
         })
         .o,
     Action::kRelease, Phase::kFellBack, "FellBack"},
    {"OldFallbackIgnored",
     Obs()
         .InAttempt(Phase::kRebooting)
         .Switched()
         .With([](Observation& o) {
           o.agent.last_fallback = Fallback{"an older fallback", kNow - 3600};
         })
         .o,
     Action::kWait, Phase::kRebooting, "WaitingForReboot"},
    {"MarkGoodWhenReady", Obs().InAttempt(Phase::kRebooting).Switched().Booted().o, Action::kMarkGood,
     Phase::kVerifying, "Committing"},
    {"MarkGoodWaitsForReady",
     Obs()
         .InAttempt(Phase::kRebooting)
         .Switched()
         .Booted()
         .With([](Observation& o) { o.node.ready = false; })
         .o,
     Action::kWait, Phase::kVerifying, "WaitingForReady"},
    {"MarkGoodDisabledWaits",
     Obs()
         .InAttempt(Phase::kRebooting)
         .Switched()
         .Booted()
         .With([](Observation& o) { o.policy.mark_good = false; })
         .o,
     Action::kWait, Phase::kVerifying, "WaitingForCommit"},
    {"SysconfigsAfterReboot",
     Obs()
         .InAttempt(Phase::kVerifying)
         .Switched()
         .Booted()
         .With([](Observation& o) {
           o.agent.on_trial = false;
           o.os.sysconfigs_version = o.instance.spec_sysconfigs_version = "s1";
         })
         .o,
     Action::kApplySysconfigs, Phase::kConfiguring, "Configuring"},
    {"SysconfigsChangedMidUpgradeAreCopied",
     Obs()
         .InAttempt(Phase::kVerifying)
         .Switched()
         .Booted()
         .With([](Observation& o) {
           o.os.sysconfigs_version = "s2";
           o.instance.spec_sysconfigs_version = "s1";
         })
         .o,
     Action::kCopySysconfigs, Phase::kConfiguring, "CopySysconfigs"},
    {"SucceededReleases",
     Obs()
         .InAttempt(Phase::kVerifying)
         .Switched()
         .Booted()
         .With([](Observation& o) { o.agent.on_trial = false; })
         .o,
     Action::kRelease, Phase::kSucceeded, "Succeeded"},
    {"AlreadyOnTargetSucceedsAtOnce",
     Obs().InAttempt(Phase::kStaging).With([](Observation& o) { o.node.os_image = "KubeOS 2"; }).o,
     Action::kRelease, Phase::kSucceeded, "Succeeded"},

    // Terminal records release without retrying.
    {"FailedIsReleasedNotRetried", Obs().InAttempt(Phase::kFailed).Drained().o, Action::kRelease,
     Phase::kNone, "Released"},
    {"FellBackIsReleasedNotRetried", Obs().InAttempt(Phase::kFellBack).o, Action::kRelease, Phase::kNone,
     "Released"},
    {"SucceededButNotReleasedYet",
     Obs().InAttempt(Phase::kSucceeded).With([](Observation& o) { o.node.os_image = "KubeOS 2"; }).o,
     Action::kRelease, Phase::kNone, "Released"},
    {"UnknownOperation",
     Obs().With([](Observation& o) { o.os.opstype = "reinstall"; }).InAttempt(Phase::kStaging).o,
     Action::kRelease, Phase::kFailed, "UnknownOperation"},

    // Config.
    {"ConfigApplies", Obs().Config("v2").InAttempt(Phase::kConfiguring).o, Action::kApplySysconfigs,
     Phase::kConfiguring, "Configuring"},
    {"ConfigDone",
     Obs()
         .Config("v2")
         .InAttempt(Phase::kConfiguring)
         .With([](Observation& o) { o.instance.status_sysconfigs_version = "v2"; })
         .o,
     Action::kRelease, Phase::kSucceeded, "Succeeded"},
    {"ConfigReassignOnNewVersion",
     Obs()
         .Config("v2")
         .InAttempt(Phase::kConfiguring)
         .With([](Observation& o) { o.instance.spec_sysconfigs_version = "v1"; })
         .o,
     Action::kRelease, Phase::kIdle, "Reassign"},
    {"ConfigOnOtherOsVersionFails",
     Obs()
         .Config("v2")
         .InAttempt(Phase::kConfiguring)
         .With([](Observation& o) { o.node.os_image = "KubeOS 1"; })
         .o,
     Action::kRelease, Phase::kFailed, "OSVersionMismatch"},
};

INSTANTIATE_TEST_SUITE_P(Table, DecideTest, ::testing::ValuesIn(kRows),
                         [](const auto& row) { return std::string(row.param.name); });

TEST(StandbyHoldsTarget, NeedsStateVersionAndChecksum) {
  OsView os{.osversion = "KubeOS 2", .checksum = "AbC"};
  AgentView a{
      .known = true, .standby_state = "installed", .standby_version = "KubeOS 2", .standby_sha256 = "abc"};
  EXPECT_TRUE(StandbyHoldsTarget(a, os, {}));
  a.standby_version = "KubeOS 3";
  EXPECT_FALSE(StandbyHoldsTarget(a, os, {}));
  a.standby_version = "KubeOS 2";
  os.checksum.clear();
  EXPECT_FALSE(StandbyHoldsTarget(a, os, {})) << "no checksum, no proof";
}

}  // namespace
}  // namespace kubeos::node
