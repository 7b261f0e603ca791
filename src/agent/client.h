// A minimal JSON-RPC client for the agent socket (used by the agent CLI and the tests): one connection per
// call, like the original's client. Every call has a deadline (the original set none).
// Thread-safety: stateless; calls are independent.
#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace kubeos::agent {

// The result object, or: Unavailable (cannot connect: "Cannot connect to KubeOS os-agent unix socket ..."),
// DeadlineExceeded, Unimplemented (method not found), Unknown carrying the agent's error message.
StatusOr<nlohmann::json> CallAgent(const std::filesystem::path& socket, const std::string& method,
                                   const nlohmann::json& params, std::chrono::milliseconds timeout);

}  // namespace kubeos::agent
