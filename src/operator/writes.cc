#include "operator/writes.h"

#include <string_view>

namespace kubeos::rollout {

namespace {

using nlohmann::json;

constexpr std::string_view kGrubCurrent = "grub.cmdline.current";
constexpr std::string_view kGrubNext = "grub.cmdline.next";

const json& Member(const json& j, std::string_view key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// The Ready condition's status ("" when absent).
std::string ReadyStatus(const json& node) {
  const json& conditions = Member(Member(node, "status"), "conditions");
  if (!conditions.is_array()) return "";
  for (const json& c : conditions) {
    if (Member(c, "type") == "Ready") {
      const json& s = Member(c, "status");
      return s.is_string() ? s.get<std::string>() : "";
    }
  }
  return "";
}

}  // namespace

json SwapGrubCurrentNext(json sysconfigs) {
  if (!sysconfigs.is_object()) return sysconfigs;
  auto it = sysconfigs.find("configs");
  if (it == sysconfigs.end() || !it->is_array()) return sysconfigs;
  for (json& c : *it) {
    if (!c.is_object() || !c.contains("model") || !c["model"].is_string()) continue;
    const std::string model = c["model"];
    if (model == kGrubCurrent) {
      c["model"] = kGrubNext;
    } else if (model == kGrubNext) {
      c["model"] = kGrubCurrent;
    }
  }
  return sysconfigs;
}

json AssignedOsInstance(const json& osinstance, const json& os, const Assignment& assignment) {
  json out = osinstance;
  if (!out.contains("spec") || !out["spec"].is_object()) out["spec"] = json::object();
  json& spec = out["spec"];
  const json& os_spec = Member(os, "spec");
  const json& os_meta = Member(os, "metadata");
  spec["nodestatus"] = assignment.nodestatus;
  spec["namespacedname"] = {{"name", Member(os_meta, "name")}, {"namespace", Member(os_meta, "namespace")}};
  if (assignment.copy_upgradeconfigs) {
    const json& up = Member(os_spec, "upgradeconfigs");
    if (up.is_null()) {
      spec.erase("upgradeconfigs");
    } else {
      spec["upgradeconfigs"] = up;  // a deep copy
    }
  }
  if (assignment.copy_sysconfigs) {
    const json& sys = Member(os_spec, "sysconfigs");
    if (sys.is_null()) {
      spec.erase("sysconfigs");
    } else {
      spec["sysconfigs"] = assignment.swap_grub_current_next ? SwapGrubCurrentNext(sys) : sys;
    }
  }
  return out;
}

json NodeLabelsPatch(const std::map<std::string, std::optional<std::string>>& labels) {
  json l = json::object();
  for (const auto& [k, v] : labels) l[k] = v ? json(*v) : json(nullptr);
  return {{"metadata", {{"labels", l}}}};
}

json OsWithStatus(const json& os, const json& status) {
  json out = os;
  out["status"] = status;
  return out;
}

bool SameStatus(const json& os, const json& status) {
  const json& current = Member(os, "status");
  return current == status;
}

bool NodeChangeMatters(const json& old_node, const json& new_node) {
  const json& om = Member(old_node, "metadata");
  const json& nm = Member(new_node, "metadata");
  return Member(om, "labels") != Member(nm, "labels") ||
         Member(om, "deletionTimestamp") != Member(nm, "deletionTimestamp") ||
         Member(Member(old_node, "spec"), "unschedulable") !=
             Member(Member(new_node, "spec"), "unschedulable") ||
         ReadyStatus(old_node) != ReadyStatus(new_node) ||
         Member(Member(Member(old_node, "status"), "nodeInfo"), "osImage") !=
             Member(Member(Member(new_node, "status"), "nodeInfo"), "osImage");
}

bool OsSelectorChanged(const json& old_os, const json& new_os) {
  return Member(Member(old_os, "spec"), "nodeselector") != Member(Member(new_os, "spec"), "nodeselector") ||
         Member(Member(old_os, "metadata"), "deletionTimestamp") !=
             Member(Member(new_os, "metadata"), "deletionTimestamp");
}

}  // namespace kubeos::rollout
