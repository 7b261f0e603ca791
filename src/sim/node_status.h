// What a kubelet would report about a simulated host: the Node status patch for Ready / NotReady and the
// node info (osImage = the booted slot's PRETTY_NAME, bootID), and the os-release parser. Pure.
//
// kwok manages the simulated Nodes (test/kwok/stages.yaml): its node-initialize stage fires only while a Node
// has no Ready condition, so once a Node was initialised every later status change is ours (the patches
// here always keep a Ready condition). Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace kubeos::sim {

// PRETTY_NAME of an os-release file (quotes and shell escapes removed); "" when absent.
std::string PrettyNameFromOsRelease(std::string_view text);

struct NodeReport {
  bool ready = false;
  std::string reason;  // KubeletReady, KubeletNotReady
  std::string message;
  std::string os_image;  // empty: leave osImage alone
  std::string boot_id;   // empty: leave bootID alone
};

// A strategic-merge patch for nodes/<name>/status; `now` is RFC 3339 (UTC).
nlohmann::json NodeStatusPatch(const NodeReport& report, const std::string& now);

// RFC 3339 UTC of the current time, seconds precision (what kubelet writes).
std::string NowRfc3339();

}  // namespace kubeos::sim
