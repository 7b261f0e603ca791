// container.containerd: edits a TOML file (containerd config.toml) with toml++. Pure: no I/O. Thread-safe.
//
// Same key paths and semantics as kubernetes.kubelet, with TOML's value types: integers (64-bit signed;
// larger ones are an error), floats, strings, booleans and arrays of those. A null or object value skips
// the entry (warning), as does an intermediate key that is not a table. When nothing changes the text is
// returned untouched; otherwise the document is re-serialised by toml++ (keys sorted, comments other than
// the leading block lost, as the original's toml crate).
#pragma once

#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "common/status.h"

namespace kubeos::agent::config {

StatusOr<EditResult> EditContainerdToml(std::string_view text, const std::vector<ConfigEntry>& entries);

}  // namespace kubeos::agent::config
