// Builders for configuration-model tests.
#pragma once

#include <string>
#include <utility>

#include "agent/config/config.h"

namespace kubeos::agent::config::testing {

inline ConfigEntry E(std::string key, nlohmann::json value = nullptr, std::string op = "") {
  return ConfigEntry{std::move(key), std::move(value), std::move(op)};
}
inline ConfigEntry Del(std::string key, nlohmann::json value = nullptr) {
  return E(std::move(key), std::move(value), "delete");
}

}  // namespace kubeos::agent::config::testing
