#include "agent/rpc.h"

#include <fmt/format.h>

namespace kubeos::agent {
namespace {

using nlohmann::json;

Status GetString(const json& obj, const char* key, std::string* out, std::string_view where) {
  if (!obj.contains(key) || obj[key].is_null()) return Status::Ok();
  if (!obj[key].is_string()) return InvalidArgumentError(fmt::format("{}.{} must be a string", where, key));
  *out = obj[key].get<std::string>();
  return Status::Ok();
}

Status GetBool(const json& obj, const char* key, bool* out, std::string_view where) {
  if (!obj.contains(key) || obj[key].is_null()) return Status::Ok();
  if (!obj[key].is_boolean()) return InvalidArgumentError(fmt::format("{}.{} must be a boolean", where, key));
  *out = obj[key].get<bool>();
  return Status::Ok();
}

StatusOr<json> SingleParam(const json& params, std::string_view method) {
  if (!params.is_array() || params.size() != 1 || !params[0].is_object()) {
    return InvalidArgumentError(fmt::format("{} takes one object parameter ([{{...}}])", method));
  }
  return params[0];
}

}  // namespace

StatusOr<std::vector<std::string>> FrameSplitter::Feed(std::string_view bytes) {
  std::vector<std::string> frames;
  for (char c : bytes) {
    if (depth_ == 0 && current_.empty()) {
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
      if (c != '{') return InvalidArgumentError("request frame must be a JSON object");
    }
    current_ += c;
    if (current_.size() > kMaxRequestBytes) {
      return InvalidArgumentError(fmt::format("request larger than {} bytes", kMaxRequestBytes));
    }
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) frames.push_back(std::exchange(current_, {}));
    }
  }
  return frames;
}

std::optional<RpcError> ParseRpcRequest(std::string_view frame, RpcRequest* out) {
  json j = json::parse(frame, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return RpcError{kRpcParseError, "Parse error"};
  if (!j.is_object() || j.value("jsonrpc", "") != "2.0" || !j.contains("method") ||
      !j["method"].is_string()) {
    return RpcError{kRpcInvalidRequest, "Invalid request: need jsonrpc \"2.0\" and a string method"};
  }
  out->id = j.contains("id") ? j["id"] : json(nullptr);
  out->method = j["method"].get<std::string>();
  out->params = j.contains("params") ? j["params"] : json::array();
  if (!out->params.is_array() && !out->params.is_null()) {
    return RpcError{kRpcInvalidParams, "params must be a positional array"};
  }
  // A second, order-preserving parse (frames are small: kMaxRequestBytes).
  nlohmann::ordered_json o = nlohmann::ordered_json::parse(frame, nullptr, /*allow_exceptions=*/false);
  out->ordered_params = o.contains("params") ? o["params"] : nlohmann::ordered_json::array();
  return std::nullopt;
}

std::string RpcResult(const json& id, const json& result) {
  return json{{"jsonrpc", "2.0"}, {"result", result}, {"id", id}}.dump() + "\n";
}

std::string RpcErrorResponse(const json& id, const RpcError& error) {
  json e = {{"code", error.code}, {"message", error.message}};
  if (!error.status_code.empty()) e["data"] = {{"code", error.status_code}};
  return json{{"jsonrpc", "2.0"}, {"error", e}, {"id", id}}.dump() + "\n";
}

StatusCode StatusCodeFromName(std::string_view name) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kBusy); ++c) {
    if (StatusCodeName(static_cast<StatusCode>(c)) == name) return static_cast<StatusCode>(c);
  }
  return StatusCode::kUnknown;
}

StatusOr<UpgradeRequest> ParseUpgradeParams(const json& params) {
  KUBEOS_ASSIGN_OR_RETURN(json o, SingleParam(params, "prepare_upgrade"));
  UpgradeRequest r;
  constexpr std::string_view kW = "UpgradeRequest";
  KUBEOS_RETURN_IF_ERROR(GetString(o, "version", &r.version, kW));
  KUBEOS_RETURN_IF_ERROR(GetString(o, "check_sum", &r.check_sum, kW));
  KUBEOS_RETURN_IF_ERROR(GetString(o, "image_type", &r.image_type, kW));
  KUBEOS_RETURN_IF_ERROR(GetString(o, "container_image", &r.container_image, kW));
  KUBEOS_RETURN_IF_ERROR(GetString(o, "image_url", &r.image_url, kW));
  KUBEOS_RETURN_IF_ERROR(GetBool(o, "flag_safe", &r.flag_safe, kW));
  KUBEOS_RETURN_IF_ERROR(GetBool(o, "mtls", &r.mtls, kW));
  if (o.contains("certs") && !o["certs"].is_null()) {
    const json& c = o["certs"];
    if (!c.is_object()) return InvalidArgumentError("UpgradeRequest.certs must be an object");
    KUBEOS_RETURN_IF_ERROR(GetString(c, "ca_cert", &r.ca_cert, "certs"));
    KUBEOS_RETURN_IF_ERROR(GetString(c, "client_cert", &r.client_cert, "certs"));
    KUBEOS_RETURN_IF_ERROR(GetString(c, "client_key", &r.client_key, "certs"));
  }
  return r;
}

json UpgradeRequestToJson(const UpgradeRequest& r) {
  return {{"version", r.version},
          {"check_sum", r.check_sum},
          {"image_type", r.image_type},
          {"container_image", r.container_image},
          {"image_url", r.image_url},
          {"flag_safe", r.flag_safe},
          {"mtls", r.mtls},
          {"certs", {{"ca_cert", r.ca_cert}, {"client_cert", r.client_cert}, {"client_key", r.client_key}}}};
}

namespace {

template <typename Json>
Status GetStringT(const Json& obj, const char* key, std::string* out, std::string_view where) {
  if (!obj.contains(key) || obj[key].is_null()) return Status::Ok();
  if (!obj[key].is_string()) return InvalidArgumentError(fmt::format("{}.{} must be a string", where, key));
  *out = obj[key].template get<std::string>();
  return Status::Ok();
}

template <typename Json>
StatusOr<ConfigureRequest> ParseConfigure(const Json& params) {
  if (!params.is_array() || params.size() != 1 || !params[0].is_object()) {
    return InvalidArgumentError("configure takes one object parameter ([{...}])");
  }
  const Json& o = params[0];
  if (!o.contains("configs") || !o["configs"].is_array()) {
    return InvalidArgumentError("ConfigureRequest.configs must be an array");
  }
  ConfigureRequest req;
  for (size_t i = 0; i < o["configs"].size(); ++i) {
    const Json& c = o["configs"][i];
    std::string where = fmt::format("configs[{}]", i);
    if (!c.is_object()) return InvalidArgumentError(where + " must be an object");
    ConfigEntry e;
    KUBEOS_RETURN_IF_ERROR(GetStringT(c, "model", &e.model, where));
    KUBEOS_RETURN_IF_ERROR(GetStringT(c, "config_path", &e.config_path, where));
    if (c.contains("contents") && !c["contents"].is_null()) {
      if (!c["contents"].is_object()) return InvalidArgumentError(where + ".contents must be an object");
      for (const auto& [key, kv] : c["contents"].items()) {
        if (!kv.is_object())
          return InvalidArgumentError(fmt::format("{}.contents.{} must be an object", where, key));
        json value = kv.contains("value") ? json::parse(kv["value"].dump()) : json(nullptr);
        ConfigValue v{.key = key, .value = std::move(value)};
        KUBEOS_RETURN_IF_ERROR(GetStringT(kv, "operation", &v.operation, where + ".contents." + key));
        e.contents.push_back(std::move(v));
      }
    }
    req.configs.push_back(std::move(e));
  }
  return req;
}

}  // namespace

StatusOr<ConfigureRequest> ParseConfigureParams(const nlohmann::ordered_json& params) {
  return ParseConfigure(params);
}

StatusOr<ConfigureRequest> ParseConfigureParams(const json& params) { return ParseConfigure(params); }

}  // namespace kubeos::agent
