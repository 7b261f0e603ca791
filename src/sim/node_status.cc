#include "sim/node_status.h"

#include <fmt/chrono.h>

#include <chrono>

namespace kubeos::sim {

std::string PrettyNameFromOsRelease(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    constexpr std::string_view kKey = "PRETTY_NAME=";
    if (line.substr(0, kKey.size()) != kKey) continue;
    std::string_view v = line.substr(kKey.size());
    while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.remove_suffix(1);
    std::string out;
    char quote = 0;
    if (!v.empty() && (v.front() == '"' || v.front() == '\'')) {
      quote = v.front();
      v.remove_prefix(1);
    }
    for (size_t i = 0; i < v.size(); ++i) {
      char c = v[i];
      if (quote != 0 && c == quote) break;
      if (c == '\\' && quote == '"' && i + 1 < v.size()) c = v[++i];
      out.push_back(c);
    }
    return out;
  }
  return "";
}

nlohmann::json NodeStatusPatch(const NodeReport& r, const std::string& now) {
  nlohmann::json cond = {{"type", "Ready"},          {"status", r.ready ? "True" : "False"},
                         {"reason", r.reason},       {"message", r.message},
                         {"lastHeartbeatTime", now}, {"lastTransitionTime", now}};
  nlohmann::json status = {{"conditions", nlohmann::json::array({cond})}};
  nlohmann::json info = nlohmann::json::object();
  if (!r.os_image.empty()) info["osImage"] = r.os_image;
  if (!r.boot_id.empty()) info["bootID"] = r.boot_id;
  if (!info.empty()) status["nodeInfo"] = info;
  return {{"status", status}};
}

std::string NowRfc3339() {
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", now);
}

}  // namespace kubeos::sim
