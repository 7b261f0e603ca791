// The agent's JSON-RPC 2.0 wire format (docs/agent-rpc.md): framing, the original's request shapes, and
// responses. Compatible with openEuler KubeOS os-agent: positional params, results {"status": "..."},
// application errors with code -1 and the error text as message.
// Thread-safety: pure functions; a FrameSplitter belongs to one connection.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kubeos::agent {

constexpr int kRpcAppErrorCode = -1;  // the original's code for every method error
constexpr int kRpcParseError = -32700;
constexpr int kRpcInvalidRequest = -32600;
constexpr int kRpcMethodNotFound = -32601;
constexpr int kRpcInvalidParams = -32602;
// A request larger than this is refused: the biggest legitimate one (configure) is a few KiB.
constexpr size_t kMaxRequestBytes = 1 << 20;

// Splits a byte stream into top-level JSON values at object boundaries (the original server splits requests
// this way; responses are newline-delimited). Strings and escapes are respected.
class FrameSplitter {
 public:
  // Appends bytes; returns the complete frames they finish. InvalidArgument when a frame exceeds
  // kMaxRequestBytes or does not start with '{'.
  StatusOr<std::vector<std::string>> Feed(std::string_view bytes);

 private:
  std::string current_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
};

struct RpcRequest {
  nlohmann::json id;  // null for notifications
  std::string method;
  nlohmann::json params;  // array (positional) or null; object keys sorted
  // The same params with object keys in request order (configure's contents are applied in that order).
  nlohmann::ordered_json ordered_params;
};

struct RpcError {
  int code = kRpcAppErrorCode;
  std::string message;
  // Additive: our StatusCode name (StatusCodeName, e.g. "Busy", "InvalidArgument"), sent as error.data.code
  // so clients can tell busy from bad input; empty: no data member.
  std::string status_code;
};

// Parses one frame; on failure returns the error to send back (with id null).
std::optional<RpcError> ParseRpcRequest(std::string_view frame, RpcRequest* out);

std::string RpcResult(const nlohmann::json& id, const nlohmann::json& result);
std::string RpcErrorResponse(const nlohmann::json& id, const RpcError& error);
// Inverse of StatusCodeName; kUnknown for names it does not know (an older or newer agent).
StatusCode StatusCodeFromName(std::string_view name);

// prepare_upgrade's argument (field names of the original's UpgradeRequest).
struct UpgradeRequest {
  std::string version;
  std::string check_sum;
  std::string image_type;
  std::string container_image;
  std::string image_url;
  bool flag_safe = false;
  bool mtls = false;
  std::string ca_cert, client_cert, client_key;  // under "certs"
};

struct ConfigValue {
  std::string key;
  nlohmann::json value;
  std::string operation;
};
struct ConfigEntry {
  std::string model;
  std::string config_path;
  std::vector<ConfigValue> contents;  // in the order the request listed them
};
struct ConfigureRequest {
  std::vector<ConfigEntry> configs;
};

// Parse the positional params; InvalidArgument naming the offending field.
StatusOr<UpgradeRequest> ParseUpgradeParams(const nlohmann::json& params);
// The ordered_json overload keeps each contents object's keys in request order (docs/config-models.md); the
// json overload can only see them sorted.
StatusOr<ConfigureRequest> ParseConfigureParams(const nlohmann::ordered_json& params);
StatusOr<ConfigureRequest> ParseConfigureParams(const nlohmann::json& params);
nlohmann::json UpgradeRequestToJson(const UpgradeRequest& r);

}  // namespace kubeos::agent
