// The writes that apply a PlanResult, built as plain JSON so that they are unit-tested without a cluster
// (docs/operator.md "Controller", "Applying a plan"). Pure. Thread-safety: stateless functions.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "operator/model.h"

namespace kubeos::rollout {

// The OSInstance to PUT (its metadata.resourceVersion is the precondition) for an assignment from `os`:
// spec.nodestatus and spec.namespacedname set; spec.upgradeconfigs / spec.sysconfigs replaced by deep copies
// of the OS's when the copy flags say so (a fresh value, never merged into the old one: the original's
// fix !165; absent on the OS = removed), with grub.cmdline.current and grub.cmdline.next swapped in the
// sysconfigs copy when swap_grub_current_next is set. Everything else is kept.
nlohmann::json AssignedOsInstance(const nlohmann::json& osinstance, const nlohmann::json& os,
                                  const Assignment& assignment);

// sysconfigs with every configs[].model "grub.cmdline.current" renamed "grub.cmdline.next" and vice versa.
nlohmann::json SwapGrubCurrentNext(nlohmann::json sysconfigs);

// A merge patch {"metadata":{"labels":{k: v | null}}}: a value sets the label, nullopt removes it.
nlohmann::json NodeLabelsPatch(const std::map<std::string, std::optional<std::string>>& labels);

// The OS object to PUT through /status: `os` (with its resourceVersion) carrying `status`.
nlohmann::json OsWithStatus(const nlohmann::json& os, const nlohmann::json& status);

// Whether the OS already carries exactly this status (then nothing is written).
bool SameStatus(const nlohmann::json& os, const nlohmann::json& status);

// Whether a Node update can change a plan: labels, spec.unschedulable, the Ready condition, osImage, or
// deletion. Heartbeat-only updates (timestamps, images, allocatable) are ignored.
bool NodeChangeMatters(const nlohmann::json& old_node, const nlohmann::json& new_node);

// Whether an OS update can change another OS object's plan (its selector, creation or deletion).
bool OsSelectorChanged(const nlohmann::json& old_os, const nlohmann::json& new_os);

}  // namespace kubeos::rollout
