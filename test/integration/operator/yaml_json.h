// YAML -> JSON for the operator's integration tests (CRDs and samples are YAML; the client speaks JSON).
#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

namespace kubeos::testing {

// YAML 1.2 core schema -> JSON: quoted scalars are strings; plain ones may be null, bool, int or float.
nlohmann::json YamlToJson(const YAML::Node& n);

}  // namespace kubeos::testing
