// kubernetes.kubelet: edits a YAML file (KubeletConfiguration) with yaml-cpp. Pure: no I/O. Thread-safe.
//
// Keys are paths (`evictionHard."memory.available"`, see SplitKeyPath). Existing leaf: `delete` removes it,
// anything else replaces it with the JSON value, except that a sequence gets the requested elements it does
// not already hold appended. Missing path: `delete` does nothing (warning), anything else creates the
// mappings on the way. When nothing changes the text is returned untouched; otherwise the document is
// re-serialised (key order, flow style and quoting kept; comments other than the leading block are lost).
#pragma once

#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "common/status.h"

namespace kubeos::agent::config {

StatusOr<EditResult> EditKubeletYaml(std::string_view text, const std::vector<ConfigEntry>& entries);

}  // namespace kubeos::agent::config
