// Slots: the two root partitions A and B, and the pure decision "which slot is booted".
//
// The booted slot comes from an explicit kernel argument set by our GRUB entries (kubeos.slot=A|B), and is
// cross-checked with (a) which slot backs "/" and (b) the filesystem label of that slot (ROOT-A / ROOT-B).
// Any disagreement or missing evidence is an error: the agent then refuses to install. Slot names are never
// guessed from digits in device names (the original's "contains 2" rule misdetects /dev/nvme2n1p3).
// Thread-safety: pure functions over values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kubeos::agent {

enum class Slot { kA, kB };

constexpr std::string_view kSlotKernelArg = "kubeos.slot";

std::string_view SlotName(Slot slot);  // "A" | "B"
std::optional<Slot> ParseSlotName(std::string_view name);
Slot OtherSlot(Slot slot);
std::string SlotLabel(Slot slot);  // "ROOT-A" | "ROOT-B"

// The value of kubeos.slot= in a kernel command line; InvalidArgument when absent, repeated with different
// values, or not A/B.
StatusOr<Slot> SlotFromCmdline(std::string_view cmdline);

// Everything the booted-slot decision looks at, gathered by the host layer.
struct SlotEvidence {
  std::string cmdline;                    // contents of /proc/cmdline
  std::optional<Slot> slot_backing_root;  // which slot device is the one backing "/" (none: neither is)
  std::string booted_label;               // filesystem label of that slot ("" when unreadable)
};

// The booted slot, or FailedPrecondition naming the disagreeing pieces of evidence.
StatusOr<Slot> DecideBootedSlot(const SlotEvidence& evidence);

}  // namespace kubeos::agent
