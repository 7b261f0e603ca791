// pam.limits: edits a limits.conf (`<domain> <type> <item> <value>` per line). Pure: no I/O. Thread-safe.
//
// Key = domain, value = "type.item.value" ("_" in a part means "keep" on update). Lines may be separated by
// any run of spaces or tabs and carry a trailing comment; comments, blank lines and untouched lines are kept
// byte for byte. An update changes the first line of the domain whose type and item match (a "_" matches
// any); when none does, a value without "_" is appended. A delete removes the first line whose four fields
// equal the request. See docs/config-models.md for the differences from the original.
#pragma once

#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "common/status.h"

namespace kubeos::agent::config {

StatusOr<EditResult> EditPamLimits(std::string_view text, const std::vector<ConfigEntry>& entries);

}  // namespace kubeos::agent::config
