#include "sim/firmware.h"

#include <fmt/format.h>

#include "agent/boot_state.h"

namespace kubeos::sim {

BootAttempt BootOnce(const agent::GrubEnv& env, const SlotBootability& a, const SlotBootability& b) {
  agent::GrubBoot g = agent::SimulateGrubBoot(env);
  const SlotBootability& s = g.slot == agent::Slot::kA ? a : b;
  return {.slot = g.slot, .booted = s.bootable, .reason = s.reason, .env_after = std::move(g.env_after)};
}

BootSequence BootUntilUp(agent::GrubEnv env, const SlotBootability& a, const SlotBootability& b) {
  BootSequence seq;
  for (int i = 0; i < kMaxBootAttempts; ++i) {
    BootAttempt at = BootOnce(env, a, b);
    env = at.env_after;
    bool up = at.booted;
    seq.attempts.push_back(std::move(at));
    if (up) return seq;
  }
  seq.bricked = true;
  return seq;
}

std::optional<agent::Slot> BootSequence::booted() const {
  if (bricked || attempts.empty() || !attempts.back().booted) return std::nullopt;
  return attempts.back().slot;
}

std::string KernelCmdline(agent::Slot slot) {
  return fmt::format("BOOT_IMAGE=/boot/vmlinuz root=LABEL={} ro {}={} panic=5\n", agent::SlotLabel(slot),
                     agent::kSlotKernelArg, agent::SlotName(slot));
}

}  // namespace kubeos::sim
