// Mapping the API objects (OS, Node, OSInstance as JSON from the informer caches) onto the planner's views
// (model.h), one field per API field, exactly as docs/operator.md "Controller" describes. Pure: no I/O, no
// clock. Thread-safety: stateless functions.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "operator/model.h"

namespace kubeos::rollout {

// An int-or-string field: an integer, or a string "<digits>%". InvalidArgument otherwise.
StatusOr<IntOrPercent> IntOrPercentFromJson(const nlohmann::json& v);

// The OS object: key, generation, spec with the CRD defaults for absent fields, and status
// (OsStatusFromJson). InvalidArgument (naming the field) when a field has the wrong JSON type.
StatusOr<OsView> OsViewFromJson(const nlohmann::json& os);

// The OSInstance reduced to what the planner reads; phase "Failed"/"FellBack" map to kFailed/kFellBack.
OsInstanceView OsInstanceViewFromJson(const nlohmann::json& osinstance);

// A Node joined with its OSInstance (nullptr: none). ready = condition Ready is "True".
NodeView NodeViewFromJson(const nlohmann::json& node, const nlohmann::json* osinstance);

using JsonPtr = std::shared_ptr<const nlohmann::json>;

// The whole snapshot for planning `os`: `all_os` are every OS object (the planned one among them is skipped;
// objects being deleted are left out of `others`), `nodes` every Node, and `osinstances_by_node` the
// OSInstance default/<node> of each node that has one.
StatusOr<ClusterSnapshot> BuildSnapshot(const nlohmann::json& os, const std::vector<JsonPtr>& all_os,
                                        const std::vector<JsonPtr>& nodes,
                                        const std::map<std::string, JsonPtr>& osinstances_by_node,
                                        const std::string& default_time_zone);

}  // namespace kubeos::rollout
