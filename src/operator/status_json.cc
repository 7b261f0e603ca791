#include "operator/status_json.h"

#include <date/date.h>

#include <cctype>
#include <exception>
#include <string>

namespace kubeos::rollout {

namespace {

using nlohmann::json;

void PutIfNotEmpty(json& j, const char* key, const std::string& v) {
  if (!v.empty()) j[key] = v;
}

}  // namespace

std::string FormatRfc3339(Time t) { return date::format("%Y-%m-%dT%H:%M:%SZ", t); }

StatusOr<Time> ParseRfc3339(std::string_view text) {
  // Exactly what FormatRfc3339 writes: "YYYY-MM-DDTHH:MM:SSZ".
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
  bool shaped = text.size() == kShape.size();
  for (std::size_t i = 0; shaped && i < kShape.size(); ++i) {
    shaped = kShape[i] == 'd' ? std::isdigit(static_cast<unsigned char>(text[i])) != 0 : text[i] == kShape[i];
  }
  const auto num = [&](std::size_t pos, std::size_t n) {
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  if (shaped) {
    const date::year_month_day ymd{date::year{num(0, 4)}, date::month{static_cast<unsigned>(num(5, 2))},
                                   date::day{static_cast<unsigned>(num(8, 2))}};
    const int h = num(11, 2);
    const int m = num(14, 2);
    const int sec = num(17, 2);
    if (ymd.ok() && h < 24 && m < 60 && sec < 60) {
      return Time{date::sys_days{ymd}} + std::chrono::hours(h) + std::chrono::minutes(m) +
             std::chrono::seconds(sec);
    }
  }
  return InvalidArgumentError("time \"" + std::string(text) +
                              "\" is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)");
}

json OsStatusToJson(const OsStatus& s) {
  json j = json::object();
  j["observedGeneration"] = s.observed_generation;
  PutIfNotEmpty(j, "target", s.target);
  PutIfNotEmpty(j, "rollout", s.rollout);
  j["total"] = s.total;
  j["updated"] = s.updated;
  j["inProgress"] = s.in_progress;
  j["failed"] = s.failed;
  j["pending"] = s.pending;
  json conditions = json::array();
  for (const Condition& c : s.conditions) {
    json cj = {{"type", c.type},
               {"status", c.status ? "True" : "False"},
               {"lastTransitionTime", FormatRfc3339(c.last_transition)}};
    PutIfNotEmpty(cj, "reason", c.reason);
    PutIfNotEmpty(cj, "message", c.message);
    conditions.push_back(std::move(cj));
  }
  j["conditions"] = std::move(conditions);
  if (!s.failing_nodes.empty()) {
    json nodes = json::array();
    for (const FailingNode& f : s.failing_nodes) {
      json fj = {{"name", f.name}};
      PutIfNotEmpty(fj, "reason", f.reason);
      nodes.push_back(std::move(fj));
    }
    j["failingNodes"] = std::move(nodes);
  }
  if (s.next_window_start) j["nextWindowStart"] = FormatRfc3339(*s.next_window_start);
  if (!s.bad_versions.empty()) {
    json bad = json::array();
    for (const BadVersion& b : s.bad_versions) {
      json bj = {{"version", b.version}, {"since", FormatRfc3339(b.since)}};
      PutIfNotEmpty(bj, "opstype", b.opstype);
      PutIfNotEmpty(bj, "reason", b.reason);
      bad.push_back(std::move(bj));
    }
    j["badVersions"] = std::move(bad);
  }
  if (s.serial_batch_finished_at) j["serialBatchFinishedAt"] = FormatRfc3339(*s.serial_batch_finished_at);
  return j;
}

StatusOr<OsStatus> OsStatusFromJson(const json& j) {
  OsStatus s;
  if (j.is_null()) return s;
  // nlohmann reports type mismatches by throwing; this adapter turns them into a Status.
  try {
    if (!j.is_object()) return InvalidArgumentError("OS status is not an object");
    s.observed_generation = j.value("observedGeneration", std::int64_t{0});
    s.target = j.value("target", "");
    s.rollout = j.value("rollout", "");
    s.total = j.value("total", 0);
    s.updated = j.value("updated", 0);
    s.in_progress = j.value("inProgress", 0);
    s.failed = j.value("failed", 0);
    s.pending = j.value("pending", 0);
    for (const json& c : j.value("conditions", json::array())) {
      Condition cond{c.at("type").get<std::string>(), c.value("status", "") == "True", c.value("reason", ""),
                     c.value("message", ""), Time{}};
      if (c.contains("lastTransitionTime")) {
        KUBEOS_ASSIGN_OR_RETURN(cond.last_transition,
                                ParseRfc3339(c["lastTransitionTime"].get<std::string>()));
      }
      s.conditions.push_back(std::move(cond));
    }
    for (const json& f : j.value("failingNodes", json::array())) {
      s.failing_nodes.push_back({f.value("name", ""), f.value("reason", "")});
    }
    if (j.contains("nextWindowStart")) {
      KUBEOS_ASSIGN_OR_RETURN(s.next_window_start, ParseRfc3339(j["nextWindowStart"].get<std::string>()));
    }
    for (const json& b : j.value("badVersions", json::array())) {
      BadVersion bv{b.value("version", ""), b.value("opstype", ""), b.value("reason", ""), Time{}};
      if (b.contains("since")) {
        KUBEOS_ASSIGN_OR_RETURN(bv.since, ParseRfc3339(b["since"].get<std::string>()));
      }
      s.bad_versions.push_back(std::move(bv));
    }
    if (j.contains("serialBatchFinishedAt")) {
      KUBEOS_ASSIGN_OR_RETURN(s.serial_batch_finished_at,
                              ParseRfc3339(j["serialBatchFinishedAt"].get<std::string>()));
    }
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("OS status: ") + e.what());
  }
  return s;
}

}  // namespace kubeos::rollout
