// grub.cmdline.current / grub.cmdline.next: edits the kernel command line of one of our A/B GRUB entries.
// Pure: no I/O. Thread-safe.
//
// The entry of slot X is identified by its kernel line: a line whose first word is `linux` (or
// `linuxefi`/`linux16`) and which carries the argument `kubeos.slot=X`. Exactly one such line must exist per
// slot. Everything else in grub.cfg is kept byte for byte; a changed kernel line keeps its indentation, its
// command and kernel image, and has its arguments joined by single spaces. See docs/config-models.md.
#pragma once

#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "common/status.h"

namespace kubeos::agent::config {

// The argument that marks our entries; reserved (a request cannot change or delete it).
inline constexpr std::string_view kSlotArgument = "kubeos.slot";

StatusOr<EditResult> EditGrubCmdline(std::string_view grub_cfg, Slot slot,
                                     const std::vector<ConfigEntry>& entries);

}  // namespace kubeos::agent::config
