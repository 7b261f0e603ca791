#include "agent/boot_state.h"

#include <gtest/gtest.h>

namespace kubeos::agent {
namespace {

// The two files of one host, with GRUB and agent restarts simulated over them.
struct Disk {
  AgentState state;
  GrubEnv env;
  std::string boot_id = "boot-1";
  int boots = 1;

  // Applies a plan; crash_after = 1 stops after the first of the two writes (a kill -9 between them).
  void Apply(const BootPlan& plan, int crash_after = 2) {
    int written = 0;
    auto write_state = [&] {
      if (written++ < crash_after) state = plan.state;
    };
    auto write_env = [&] {
      if (!plan.env) return;
      if (written++ < crash_after) env = *plan.env;
    };
    if (plan.order == WriteOrder::kEnvFirst) {
      write_env();
      write_state();
    } else {
      write_state();
      write_env();
    }
  }
  Slot Reboot() {
    GrubBoot b = SimulateGrubBoot(env);
    env = b.env_after;
    boot_id = "boot-" + std::to_string(++boots);
    return b.slot;
  }
  void Restart(Slot booted) { Apply(ReconcileOnStart(state, env, booted, boot_id, 100)); }
  // The invariant: the env can only ever lead GRUB to slots holding a complete image.
  void ExpectBootable() const {
    for (Slot s : {Slot::kA, Slot::kB}) {
      GrubEnv e = env;
      for (int i = 0; i < 5; ++i) {  // every boot GRUB could do from here, failures included
        GrubBoot b = SimulateGrubBoot(e);
        EXPECT_NE(state.slot(b.slot).state, SlotState::kInvalid)
            << "GRUB could boot invalid slot " << SlotName(b.slot) << " (from " << SlotName(s) << ")";
        e = b.env_after;
      }
    }
  }
};

Disk FreshHostOnA() {
  Disk d;
  d.env.Set(std::string(kEnvSavedEntry), "A");
  d.state.a = {SlotState::kGood, "KubeOS 1", ""};
  return d;
}

void Install(Disk& d, Slot booted, const std::string& version) {
  StatusOr<BootPlan> p = PlanInstallStart(d.state, d.env, booted);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  d.Apply(*p);
  EXPECT_EQ(d.state.slot(OtherSlot(booted)).state, SlotState::kInvalid);
  d.ExpectBootable();
  d.state = InstallDone(d.state, booted, version, "ab");
}

TEST(BootState, UpgradeTrialMarkGood) {
  Disk d = FreshHostOnA();
  Install(d, Slot::kA, "KubeOS 2");
  StatusOr<BootPlan> arm = PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id);
  ASSERT_TRUE(arm.ok()) << arm.status().ToString();
  d.Apply(*arm);
  EXPECT_EQ(d.env.Get("saved_entry"), "B");
  EXPECT_EQ(d.env.Get("boot_tries"), std::to_string(kTrialBootTries));
  EXPECT_EQ(d.env.Get("fallback_entry"), "A");
  ASSERT_EQ(d.Reboot(), Slot::kB);
  d.Restart(Slot::kB);
  EXPECT_TRUE(BootedOnTrial(d.env, Slot::kB));
  EXPECT_EQ(d.state.b.state, SlotState::kTrying);
  StatusOr<BootPlan> good = PlanMarkGood(d.state, d.env, Slot::kB, 200);
  ASSERT_TRUE(good.ok());
  d.Apply(*good);
  EXPECT_TRUE(EnvCommittedTo(d.env, Slot::kB));
  EXPECT_EQ(d.state.b.state, SlotState::kGood);
  EXPECT_FALSE(d.state.trial);
  ASSERT_EQ(d.Reboot(), Slot::kB);  // stays
  ASSERT_EQ(d.Reboot(), Slot::kB);
}

TEST(BootState, FailedTrialFallsBackAndIsReported) {
  Disk d = FreshHostOnA();
  Install(d, Slot::kA, "KubeOS 2");
  d.Apply(*PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id));
  // B never gets marked good: every boot of it crashes (no agent restart on B).
  ASSERT_EQ(d.Reboot(), Slot::kB);
  ASSERT_EQ(d.Reboot(), Slot::kB);
  ASSERT_EQ(d.Reboot(), Slot::kA);  // tries exhausted
  d.Restart(Slot::kA);
  EXPECT_EQ(d.state.b.state, SlotState::kFailed);
  ASSERT_TRUE(d.state.last_fallback);
  EXPECT_FALSE(d.state.last_fallback->ok);
  EXPECT_NE(d.state.last_fallback->message.find("fell back"), std::string::npos);
  EXPECT_NE(d.state.last_fallback->message.find("KubeOS 2"), std::string::npos);
  EXPECT_TRUE(EnvCommittedTo(d.env, Slot::kA));
  EXPECT_FALSE(d.env.Get(kEnvFellBack)) << "GRUB's fallback evidence must be consumed";
  // A failed slot cannot be upgraded to again without a new install.
  EXPECT_EQ(PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id).status().code(),
            StatusCode::kFailedPrecondition);
}

// A power cut between the two writes of upgrade/rollback (state written, env not) or of install start (env
// written, state not) reboots with a new boot id and a stale trial record: without GRUB's evidence that is
// not a fallback, and the intact image stays installed (the cluster must not halt a version for it).
TEST(BootState, PowerCutBetweenWritesIsNotAFallback) {
  for (int step = 0; step < 3; ++step) {
    SCOPED_TRACE(step);
    Disk d = FreshHostOnA();
    Install(d, Slot::kA, "KubeOS 2");
    if (step == 0) d.Apply(*PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id), /*crash_after=*/1);
    if (step == 1) {
      d.Apply(*PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id));
      d.Apply(*PlanInstallStart(d.state, d.env, Slot::kA), /*crash_after=*/1);
    }
    if (step == 2) {  // a committed B rolls back to A; cut after the state write
      d.Apply(*PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id));
      ASSERT_EQ(d.Reboot(), Slot::kB);
      d.Restart(Slot::kB);
      d.Apply(*PlanMarkGood(d.state, d.env, Slot::kB, 1));
      d.Apply(*PlanRollback(d.state, d.env, Slot::kB, d.boot_id), /*crash_after=*/1);
    }
    ASSERT_TRUE(d.state.trial);
    Slot booted = d.Reboot();  // the power cut
    ASSERT_EQ(booted, step == 2 ? Slot::kB : Slot::kA);
    d.Restart(booted);
    EXPECT_FALSE(d.state.last_fallback);
    EXPECT_FALSE(d.state.trial);
    Slot other = OtherSlot(booted);
    EXPECT_EQ(d.state.slot(other).state, SlotState::kInstalled);  // a complete image, bootable again
    EXPECT_EQ(d.state.slot(booted).state, SlotState::kGood);
    d.ExpectBootable();
    if (step == 0) {
      EXPECT_TRUE(PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id).ok());
    }
  }
}

TEST(BootState, FallbackEvidenceWithoutTrialRecordIsReported) {
  // GRUB fell back but the state has no trial (set aside as corrupt, or the report was written and the env
  // write consuming the evidence was cut): report from the evidence, then consume it.
  Disk d = FreshHostOnA();
  d.state.b = {SlotState::kTrying, "KubeOS 2", ""};
  d.env.Set(std::string(kEnvFellBack), "B");
  d.Restart(Slot::kA);
  EXPECT_EQ(d.state.b.state, SlotState::kFailed);
  ASSERT_TRUE(d.state.last_fallback);
  EXPECT_NE(d.state.last_fallback->message.find("KubeOS 2"), std::string::npos);
  EXPECT_FALSE(d.env.Get(kEnvFellBack));
  // The report is idempotent across a crash before the evidence was consumed.
  OperationRecord first = *d.state.last_fallback;
  d.env.Set(std::string(kEnvFellBack), "B");
  d.Restart(Slot::kA);
  EXPECT_EQ(d.state.last_fallback->message, first.message);
  EXPECT_FALSE(d.env.Get(kEnvFellBack));
  // Stale evidence naming the booted slot itself is just dropped.
  d.state.last_fallback.reset();
  d.env.Set(std::string(kEnvFellBack), "A");
  d.Restart(Slot::kA);
  EXPECT_FALSE(d.state.last_fallback);
  EXPECT_FALSE(d.env.Get(kEnvFellBack));
}

TEST(BootState, RestartBeforeRebootIsNotAFallback) {
  Disk d = FreshHostOnA();
  Install(d, Slot::kA, "KubeOS 2");
  d.Apply(*PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id));
  d.Restart(Slot::kA);  // agent restarted, host not rebooted yet
  EXPECT_EQ(d.state.b.state, SlotState::kTrying);
  EXPECT_FALSE(d.state.last_fallback);
}

TEST(BootState, CrashBetweenWritesAtEveryStepKeepsHostBootable) {
  // Each plan's two writes, cut after the first, then an agent restart (same boot) and a reboot.
  for (int step = 0; step < 3; ++step) {
    Disk d = FreshHostOnA();
    if (step >= 1) Install(d, Slot::kA, "KubeOS 2");
    BootPlan plan;
    if (step == 0) plan = *PlanInstallStart(d.state, d.env, Slot::kA);
    if (step == 1) plan = *PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id);
    if (step == 2) {
      d.Apply(*PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id));
      ASSERT_EQ(d.Reboot(), Slot::kB);
      d.Restart(Slot::kB);
      plan = *PlanMarkGood(d.state, d.env, Slot::kB, 1);
    }
    Slot booted = step == 2 ? Slot::kB : Slot::kA;
    d.Apply(plan, /*crash_after=*/1);
    d.Restart(booted);
    d.ExpectBootable();
    if (step == 1) {  // the arm never reached the env: no trial, image still installed, no false fallback
      EXPECT_FALSE(d.state.trial) << step;
      EXPECT_EQ(d.state.b.state, SlotState::kInstalled);
      EXPECT_FALSE(d.state.last_fallback);
    }
    if (step == 2) {  // env committed, state completed on restart
      EXPECT_EQ(d.state.b.state, SlotState::kGood);
      EXPECT_FALSE(d.state.trial);
    }
    Slot next = d.Reboot();
    EXPECT_NE(d.state.slot(next).state, SlotState::kInvalid) << step;
  }
}

TEST(BootState, InstallDisarmsPendingTrialOfStandby) {
  Disk d = FreshHostOnA();
  Install(d, Slot::kA, "KubeOS 2");
  d.Apply(*PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id));
  StatusOr<BootPlan> p = PlanInstallStart(d.state, d.env, Slot::kA);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->order, WriteOrder::kEnvFirst);
  d.Apply(*p);
  EXPECT_TRUE(EnvCommittedTo(d.env, Slot::kA));
  EXPECT_FALSE(d.state.trial);
  d.ExpectBootable();
}

TEST(BootState, RefusalsAndRollback) {
  Disk d = FreshHostOnA();
  // Nothing installed: upgrade and rollback refuse.
  EXPECT_EQ(PlanArmTrial(d.state, d.env, Slot::kA, "x").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(PlanRollback(d.state, d.env, Slot::kA, "x").status().code(), StatusCode::kFailedPrecondition);
  // Upgrade to B, commit, then roll back to A (a trial with fallback to B).
  Install(d, Slot::kA, "KubeOS 2");
  d.Apply(*PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id));
  ASSERT_EQ(d.Reboot(), Slot::kB);
  d.Restart(Slot::kB);
  // Installing while on trial is refused.
  EXPECT_EQ(PlanInstallStart(d.state, d.env, Slot::kB).status().code(), StatusCode::kFailedPrecondition);
  d.Apply(*PlanMarkGood(d.state, d.env, Slot::kB, 1));
  StatusOr<BootPlan> rb = PlanRollback(d.state, d.env, Slot::kB, d.boot_id);
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  d.Apply(*rb);
  ASSERT_EQ(d.Reboot(), Slot::kA);
  d.Restart(Slot::kA);
  d.Apply(*PlanMarkGood(d.state, d.env, Slot::kA, 2));
  EXPECT_TRUE(EnvCommittedTo(d.env, Slot::kA));
  EXPECT_EQ(d.state.a.version, "KubeOS 1");
  EXPECT_EQ(d.state.b.version, "KubeOS 2");
}

TEST(BootState, AbandonedTrialBootsTheOldSlotNext) {
  // Health checks fail (or the deadline passes) on B: the very next boot must be A, whatever boot_tries
  // GRUB still had left, and the report is made at once.
  for (int crash_after : {2, 1}) {
    SCOPED_TRACE(crash_after);
    Disk d = FreshHostOnA();
    Install(d, Slot::kA, "KubeOS 2");
    d.Apply(*PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id));
    ASSERT_EQ(d.Reboot(), Slot::kB);
    d.Restart(Slot::kB);
    ASSERT_TRUE(BootedOnTrial(d.env, Slot::kB));
    ASSERT_EQ(d.env.Get("boot_tries"), "1");  // GRUB would give B another boot
    StatusOr<BootPlan> p = PlanAbandonTrial(d.state, d.env, Slot::kB, "failed its health checks", 7);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(p->order, WriteOrder::kStateFirst);
    d.Apply(*p, crash_after);
    if (crash_after == 1) d.Restart(Slot::kB);  // killed between the writes: the restart finishes it
    EXPECT_TRUE(EnvCommittedTo(d.env, Slot::kA)) << "env still leads to B";
    EXPECT_EQ(d.state.b.state, SlotState::kFailed);
    EXPECT_FALSE(d.state.trial);
    ASSERT_TRUE(d.state.last_fallback);
    EXPECT_FALSE(d.state.last_fallback->ok);
    EXPECT_NE(d.state.last_fallback->message.find("KubeOS 2"), std::string::npos);
    EXPECT_NE(d.state.last_fallback->message.find("health checks"), std::string::npos);
    EXPECT_EQ(d.state.last_fallback->unix_time, 7);
    d.ExpectBootable();
    ASSERT_EQ(d.Reboot(), Slot::kA);
    d.Restart(Slot::kA);
    EXPECT_EQ(d.state.a.state, SlotState::kGood);
    EXPECT_EQ(d.state.b.state, SlotState::kFailed);
    ASSERT_TRUE(d.state.last_fallback);  // kept
    EXPECT_EQ(PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id).status().code(),
              StatusCode::kFailedPrecondition);
  }
}

TEST(BootState, AbandonRefusedWhenNotOnTrial) {
  Disk d = FreshHostOnA();
  EXPECT_EQ(PlanAbandonTrial(d.state, d.env, Slot::kA, "x", 1).status().code(),
            StatusCode::kFailedPrecondition);
  // A trial of the other slot armed for the next boot is not ours to abandon.
  Install(d, Slot::kA, "KubeOS 2");
  d.Apply(*PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id));
  EXPECT_EQ(PlanAbandonTrial(d.state, d.env, Slot::kA, "x", 1).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(BootState, AbandonWithoutFallbackEntryGoesToTheOtherSlot) {
  struct Case {
    std::optional<std::string> fallback;
    Slot want;
  } cases[] = {{std::nullopt, Slot::kA}, {"A", Slot::kA}, {"B", Slot::kA}, {"garbage", Slot::kA}};
  for (const auto& c : cases) {
    GrubEnv env;
    env.Set(std::string(kEnvSavedEntry), "B");
    env.Set(std::string(kEnvBootTries), "1");
    if (c.fallback) env.Set(std::string(kEnvFallbackEntry), *c.fallback);
    AgentState st;
    st.b = {SlotState::kTrying, "v2", ""};
    StatusOr<BootPlan> p = PlanAbandonTrial(st, env, Slot::kB, "x", 1);
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(p->env);
    EXPECT_TRUE(EnvCommittedTo(*p->env, c.want)) << c.fallback.value_or("(none)");
  }
}

// A trial armed in a block GRUB cannot rewrite (its end torn) is not made: GRUB boots the committed slot and
// writes nothing. The agent there reports it once, like a fallback, and commits the env to the booted slot;
// it never rewrites the block still armed (that would make the trial at some later reboot).
TEST(BootState, TrialGrubCannotCountIsReportedNotReArmed) {
  Disk d = FreshHostOnA();
  Install(d, Slot::kA, "KubeOS 2");
  d.Apply(*PlanArmTrial(d.state, d.env, Slot::kA, d.boot_id));
  GrubBoot g = SimulateGrubBoot(d.env, /*grub_can_write=*/false);
  ASSERT_EQ(g.slot, Slot::kA);
  ASSERT_EQ(g.env_after, d.env) << "nothing written";
  // Restarted in the same boot (no reboot yet): still just armed, and the caller may repair the block.
  BootPlan same = ReconcileOnStart(d.state, d.env, Slot::kA, d.boot_id, 100, false);
  EXPECT_FALSE(same.env);
  EXPECT_EQ(same.state.b.state, SlotState::kTrying);
  // After the reboot GRUB refused: reported, B failed, env committed to A.
  d.boot_id = "boot-2";
  BootPlan p = ReconcileOnStart(d.state, d.env, Slot::kA, d.boot_id, 100, false);
  d.Apply(p);
  EXPECT_EQ(d.state.b.state, SlotState::kFailed);
  EXPECT_EQ(d.state.a.state, SlotState::kGood);
  EXPECT_FALSE(d.state.trial);
  ASSERT_TRUE(d.state.last_fallback);
  EXPECT_NE(d.state.last_fallback->message.find("given up: GRUB cannot write the boot env"),
            std::string::npos);
  EXPECT_TRUE(EnvCommittedTo(d.env, Slot::kA));
  // The same block read as writable is an ordinary pending trial (no report).
  Disk w = FreshHostOnA();
  Install(w, Slot::kA, "KubeOS 2");
  w.Apply(*PlanArmTrial(w.state, w.env, Slot::kA, w.boot_id));
  w.boot_id = "boot-2";
  BootPlan ordinary = ReconcileOnStart(w.state, w.env, Slot::kA, w.boot_id, 100, true);
  EXPECT_FALSE(ordinary.state.last_fallback);
  EXPECT_FALSE(ordinary.env);
  // No trial record (state set aside) and an uncountable armed block: dropped, not adopted or re-armed.
  AgentState none;
  none.a = {SlotState::kGood, "KubeOS 1", ""};
  ASSERT_TRUE(w.env.Get("boot_tries"));  // still armed for B
  BootPlan dropped = ReconcileOnStart(none, w.env, Slot::kA, "boot-3", 100, false);
  ASSERT_TRUE(dropped.env);
  EXPECT_TRUE(EnvCommittedTo(*dropped.env, Slot::kA));
  ASSERT_TRUE(dropped.state.last_operation) << "the drop leaves a trace in status";
  EXPECT_FALSE(dropped.state.last_operation->ok);
  EXPECT_NE(dropped.reason.find("dropped a trial of slot B"), std::string::npos) << dropped.reason;
}

TEST(SimulateGrubBoot, Table) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> env;
    Slot want;
    std::optional<std::string> tries_after;
  } cases[] = {
      {{}, Slot::kA, std::nullopt},
      {{{"saved_entry", "garbage"}}, Slot::kA, std::nullopt},
      {{{"saved_entry", "B"}}, Slot::kB, std::nullopt},
      {{{"saved_entry", "B"}, {"boot_tries", "2"}, {"fallback_entry", "A"}}, Slot::kB, "1"},
      {{{"saved_entry", "B"}, {"boot_tries", "0"}, {"fallback_entry", "A"}}, Slot::kA, std::nullopt},
      {{{"saved_entry", "B"}, {"boot_tries", "junk"}}, Slot::kB, "0"},
      {{{"saved_entry", "A"}, {"next_entry", "B"}}, Slot::kB, std::nullopt},
      {{{"saved_entry", "B"}, {"boot_tries", ""}}, Slot::kB, ""},  // `[ -n "" ]`: no trial, nothing changes
  };
  for (const auto& c : cases) {
    GrubEnv env;
    for (const auto& [k, v] : c.env) env.Set(k, v);
    GrubBoot b = SimulateGrubBoot(env);
    EXPECT_EQ(b.slot, c.want);
    EXPECT_EQ(b.env_after.Get("boot_tries"), c.tries_after);
    EXPECT_EQ(b.env_after.Get("next_entry"), std::nullopt);
    // Fallback evidence is written exactly when GRUB falls back, naming the given-up slot.
    bool fell_back = c.env.size() > 1 && c.env[1].second == "0";
    EXPECT_EQ(b.env_after.Get(kEnvFellBack), fell_back ? std::optional<std::string>("B") : std::nullopt);
  }
}

// A block GRUB cannot rewrite: an armed trial (counting or spent) boots the committed slot and nothing it
// sets is written; a next_entry still chooses this one boot, and its clearing (a delete) is written.
TEST(SimulateGrubBoot, UnwritableBlockMakesNoTrial) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> env;
    Slot want;
  } cases[] = {
      {{{"saved_entry", "B"}}, Slot::kB},
      {{{"saved_entry", "B"}, {"boot_tries", "2"}, {"fallback_entry", "A"}}, Slot::kA},
      {{{"saved_entry", "B"}, {"boot_tries", "0"}, {"fallback_entry", "A"}}, Slot::kA},
      {{{"saved_entry", "A"}, {"boot_tries", "1"}}, Slot::kB},
      {{{"saved_entry", "A"}, {"next_entry", "B"}}, Slot::kB},
  };
  for (const auto& c : cases) {
    GrubEnv env;
    for (const auto& [k, v] : c.env) env.Set(k, v);
    GrubBoot b = SimulateGrubBoot(env, /*grub_can_write=*/false);
    EXPECT_EQ(b.slot, c.want) << c.env.size();
    GrubEnv want_after = env;
    want_after.Unset("next_entry");  // a delete: the one write GRUB makes to such a block
    EXPECT_EQ(b.env_after, want_after);
  }
}

TEST(AgentStateCodec, RoundTrip) {
  AgentState s;
  s.a = {SlotState::kGood, "KubeOS 1", ""};
  s.b = {SlotState::kTrying, "KubeOS 2", "ab"};
  s.trial = TrialRecord{Slot::kB, "KubeOS 2", "id"};
  s.last_operation = OperationRecord{"upgrade", true, "", 5};
  StatusOr<AgentState> back = DecodeAgentState(EncodeAgentState(s));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
  EXPECT_EQ(DecodeAgentState("{").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodeAgentState(R"({"slots":{"A":{"state":"weird"},"B":{}}})").status().code(),
            StatusCode::kDataLoss);
}

}  // namespace
}  // namespace kubeos::agent
