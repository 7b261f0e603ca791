#include "agent/slot.h"

#include <fmt/format.h>

namespace kubeos::agent {

std::string_view SlotName(Slot slot) { return slot == Slot::kA ? "A" : "B"; }

std::optional<Slot> ParseSlotName(std::string_view name) {
  if (name == "A") return Slot::kA;
  if (name == "B") return Slot::kB;
  return std::nullopt;
}

Slot OtherSlot(Slot slot) { return slot == Slot::kA ? Slot::kB : Slot::kA; }

std::string SlotLabel(Slot slot) { return fmt::format("ROOT-{}", SlotName(slot)); }

StatusOr<Slot> SlotFromCmdline(std::string_view cmdline) {
  std::optional<Slot> found;
  size_t pos = 0;
  while (pos < cmdline.size()) {
    size_t end = cmdline.find_first_of(" \t\n", pos);
    if (end == std::string_view::npos) end = cmdline.size();
    std::string_view token = cmdline.substr(pos, end - pos);
    pos = end + 1;
    if (token.size() <= kSlotKernelArg.size() || token.substr(0, kSlotKernelArg.size()) != kSlotKernelArg ||
        token[kSlotKernelArg.size()] != '=') {
      continue;
    }
    std::string_view value = token.substr(kSlotKernelArg.size() + 1);
    std::optional<Slot> slot = ParseSlotName(value);
    if (!slot) return InvalidArgumentError(fmt::format("kernel argument {}: bad value \"{}\"", token, value));
    if (found && *found != *slot) {
      return InvalidArgumentError(
          fmt::format("kernel command line names {} twice with different slots", kSlotKernelArg));
    }
    found = slot;
  }
  if (!found) {
    return InvalidArgumentError(fmt::format(
        "kernel command line has no {}=A|B (boot through the KubeOS GRUB entries)", kSlotKernelArg));
  }
  return *found;
}

StatusOr<Slot> DecideBootedSlot(const SlotEvidence& evidence) {
  StatusOr<Slot> from_cmdline = SlotFromCmdline(evidence.cmdline);
  if (!from_cmdline.ok()) {
    return FailedPreconditionError(from_cmdline.status().message()).WithContext("detect booted slot");
  }
  Slot slot = *from_cmdline;
  if (!evidence.slot_backing_root) {
    return FailedPreconditionError(fmt::format(
        "detect booted slot: kernel says slot {} but neither slot device backs /; refusing to install",
        SlotName(slot)));
  }
  if (*evidence.slot_backing_root != slot) {
    return FailedPreconditionError(
        fmt::format("detect booted slot: kernel says slot {} but / is on slot {}; refusing to install",
                    SlotName(slot), SlotName(*evidence.slot_backing_root)));
  }
  if (evidence.booted_label != SlotLabel(slot)) {
    return FailedPreconditionError(fmt::format(
        "detect booted slot: slot {} carries filesystem label \"{}\", expected \"{}\"; refusing to install",
        SlotName(slot), evidence.booted_label, SlotLabel(slot)));
  }
  return slot;
}

}  // namespace kubeos::agent
