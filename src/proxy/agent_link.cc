#include "proxy/agent_link.h"

#include <thread>

#include "agent/client.h"

namespace kubeos::node {
namespace {

using nlohmann::json;

bool StartsWith(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

StatusOr<json> SocketAgent::Call(const std::string& method, const json& params,
                                 std::chrono::milliseconds timeout) {
  const bool idempotent = method == "status" || method == "configure";
  const int attempts = idempotent ? kIdempotentAttempts : 1;
  StatusOr<json> r = UnavailableError("os-agent: not called");
  for (int i = 0; i < attempts; ++i) {
    r = agent::CallAgent(socket_, method, params, timeout);
    // Only a refused connection is retried: the request never reached the agent.
    if (r.ok() || r.status().code() != StatusCode::kUnavailable ||
        r.status().message().find("Cannot connect") == std::string::npos) {
      break;
    }
    if (i + 1 < attempts) std::this_thread::sleep_for(kReconnectDelay * (i + 1));
  }
  if (!r.ok()) return r.status().WithContext("os-agent " + method);
  return r;
}

AgentView AgentViewFromStatus(const json& st) {
  AgentView v;
  v.reachable = true;
  v.known = st.is_object();
  if (!v.known) return v;
  auto str = [](const json& j, const char* k) {
    return j.is_object() && j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  v.booted_slot = str(st, "booted_slot");
  v.booted_version = str(st, "booted_version");
  v.on_trial = st.value("on_trial", false);
  if (!v.booted_slot.empty() && st.contains("slots") && st["slots"].is_object()) {
    const char* standby = v.booted_slot == "A" ? "B" : "A";
    const json& s = st["slots"].value(standby, json::object());
    v.standby_state = str(s, "state");
    v.standby_version = str(s, "version");
    v.standby_sha256 = str(s, "sha256");
  }
  if (st.contains("trial") && st["trial"].is_object()) {
    v.trial_armed = true;
    v.trial_version = str(st["trial"], "version");
  }
  if (st.contains("last_operation") && st["last_operation"].is_object()) {
    const json& op = st["last_operation"];
    if (op.contains("unix_time") && op["unix_time"].is_number_integer()) {
      v.last_operation_at = op["unix_time"].get<int64_t>();
    }
  }
  if (st.contains("last_fallback") && st["last_fallback"].is_object()) {
    const json& f = st["last_fallback"];
    v.last_fallback = Fallback{str(f, "message"), f.value("unix_time", int64_t{0})};
  }
  if (st.contains("operation") && st["operation"].is_object())
    v.running_operation = str(st["operation"], "name");
  return v;
}

json UpgradeParams(const api::OSSpec& s) {
  json req = {{"version", s.osversion},
              {"check_sum", s.checksum},
              {"image_type", s.imagetype},
              {"container_image", s.containerimage},
              {"image_url", s.imageurl},
              {"flag_safe", s.flag_safe},
              {"mtls", s.mtls},
              {"certs",
               {{"ca_cert", s.cacert.value_or("")},
                {"client_cert", s.clientcert.value_or("")},
                {"client_key", s.clientkey.value_or("")}}}};
  return json::array({req});
}

std::optional<json> ConfigureParams(const std::optional<api::SysConfigs>& configs) {
  if (!configs || !configs->configs) return std::nullopt;
  json entries = json::array();
  for (const api::SysConfig& c : *configs->configs) {
    if (!c.contents) continue;
    json contents = json::object();
    for (const api::Content& item : *c.contents) {
      contents[item.key.value_or("")] = {{"value", item.value.value_or(json(nullptr))},
                                         {"operation", item.operation.value_or("")}};
    }
    entries.push_back({{"model", c.model.value_or("")},
                       {"config_path", c.configpath.value_or("")},
                       {"contents", contents}});
  }
  if (entries.empty()) return std::nullopt;
  return json::array({json{{"configs", entries}}});
}

api::SysConfigs SwapGrubCurrentNext(api::SysConfigs configs) {
  if (!configs.configs) return configs;
  for (api::SysConfig& c : *configs.configs) {
    if (c.model == "grub.cmdline.current") {
      c.model = "grub.cmdline.next";
    } else if (c.model == "grub.cmdline.next") {
      c.model = "grub.cmdline.current";
    }
  }
  return configs;
}

bool IsTransientAgentError(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kBusy:
      return true;
    case StatusCode::kUnknown: {
      // The agent's message starts with its own code name (docs/agent-rpc.md); after our context prefix.
      const std::string& m = s.message();
      size_t colon = m.find(": ");
      std::string rest = colon == std::string::npos ? m : m.substr(colon + 2);
      for (std::string_view code : {"Busy", "Unavailable", "DeadlineExceeded"}) {
        if (StartsWith(m, code) || StartsWith(rest, code)) return true;
      }
      return false;
    }
    default:
      return false;
  }
}

}  // namespace kubeos::node
