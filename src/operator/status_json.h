// OS status <-> JSON (the CRD's status schema, deploy/crds/upgrade.openeuler.org_os.yaml). Pure.
// Thread-safety: stateless functions.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "operator/model.h"

namespace kubeos::rollout {

// Empty optional fields are omitted; times are RFC 3339 UTC ("2026-12-03T21:00:00Z").
nlohmann::json OsStatusToJson(const OsStatus& status);

// Accepts what OsStatusToJson writes; missing fields keep their defaults (a new object has no status).
// InvalidArgument when a field has the wrong type or a time does not parse.
StatusOr<OsStatus> OsStatusFromJson(const nlohmann::json& status);

std::string FormatRfc3339(Time t);
StatusOr<Time> ParseRfc3339(std::string_view text);

}  // namespace kubeos::rollout
