// The simulated host's "firmware": the boot rules our GRUB scheme applies (deploy/agent/grub-kubeos.cfg,
// executable model SimulateGrubBoot in src/agent/boot_state.h), plus what a real machine does when the chosen
// slot cannot boot: the kernel never reaches a working init, the watchdog (or an operator) resets the
// machine, and GRUB runs again with the env it saved. Pure: the caller reads and writes the env file and the
// slots.
//
// A slot boots when its root filesystem is an ext filesystem with the slot's label and an init
// (/sbin/init, file or symlink); see docs/simulator.md. Thread-safety: values and pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/grubenv.h"
#include "agent/slot.h"

namespace kubeos::sim {

// A machine whose both slots are unbootable stops after this many resets (real firmware would loop forever;
// 2 tries of a trial + 1 fallback boot need 3).
constexpr int kMaxBootAttempts = 6;

struct SlotBootability {
  bool bootable = true;
  std::string reason;  // why not ("no /sbin/init", "not an ext filesystem", ...)
};

struct BootAttempt {
  agent::Slot slot = agent::Slot::kA;
  bool booted = false;       // the slot came up (its init started)
  std::string reason;        // why it did not
  agent::GrubEnv env_after;  // what GRUB saved before starting the kernel
};

// One power-on: GRUB's env logic, then whether the chosen slot boots.
BootAttempt BootOnce(const agent::GrubEnv& env, const SlotBootability& a, const SlotBootability& b);

struct BootSequence {
  std::vector<BootAttempt> attempts;  // in order; the last one booted unless `bricked`
  bool bricked = false;               // kMaxBootAttempts resets without a bootable slot
  std::optional<agent::Slot> booted() const;
  const agent::GrubEnv* final_env() const { return attempts.empty() ? nullptr : &attempts.back().env_after; }
};

// Resets until a slot boots (or kMaxBootAttempts). The caller writes each attempt's env_after in turn (GRUB
// saves before it starts the kernel) and waits a watchdog period between failed attempts.
BootSequence BootUntilUp(agent::GrubEnv env, const SlotBootability& a, const SlotBootability& b);

// The kernel command line our GRUB entry for `slot` passes (deploy/agent/grub-kubeos.cfg).
std::string KernelCmdline(agent::Slot slot);

}  // namespace kubeos::sim
