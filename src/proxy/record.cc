#include "proxy/record.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <ctime>
#include <utility>

namespace kubeos::node {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<Phase, std::string_view>, 9> kPhaseNames = {{
    {Phase::kIdle, "Idle"},
    {Phase::kStaging, "Staging"},
    {Phase::kDraining, "Draining"},
    {Phase::kRebooting, "Rebooting"},
    {Phase::kVerifying, "Verifying"},
    {Phase::kConfiguring, "Configuring"},
    {Phase::kSucceeded, "Succeeded"},
    {Phase::kFailed, "Failed"},
    {Phase::kFellBack, "FellBack"},
}};

std::string Str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t Int(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

int64_t Time(const json& j, const char* key) {
  StatusOr<int64_t> t = ParseTime(Str(j, key));
  return t.ok() ? *t : 0;
}

json TimeOrNull(int64_t t) { return t == 0 ? json(nullptr) : json(FormatTime(t)); }
json StrOrNull(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

bool ParseInt(std::string_view s, int* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

std::string_view PhaseName(Phase p) {
  for (const auto& [phase, name] : kPhaseNames)
    if (phase == p) return name;
  return "";
}

Phase ParsePhase(std::string_view s) {
  for (const auto& [phase, name] : kPhaseNames)
    if (name == s) return phase;
  return Phase::kNone;
}

ProxyRecord RecordFromStatus(const json& status) {
  ProxyRecord r;
  if (!status.is_object()) return r;
  r.phase = ParsePhase(Str(status, "phase"));
  r.message = Str(status, "message");
  r.target_version = Str(status, "targetVersion");
  r.operation = Str(status, "operation");
  r.os_ref = Str(status, "osRef");
  r.attempts = Int(status, "attempts");
  r.started_at = Time(status, "startedAt");
  r.transition_at = Time(status, "lastTransitionTime");
  r.staged_at = Time(status, "stagedAt");
  r.drain_started_at = Time(status, "drainStartedAt");
  r.drained_at = Time(status, "drainedAt");
  r.reboot_requested_at = Time(status, "rebootRequestedAt");
  r.finished_at = Time(status, "finishedAt");
  r.booted_slot = Str(status, "bootedSlot");
  if (auto it = status.find("lastFallback"); it != status.end() && it->is_object()) {
    r.last_fallback = Fallback{Str(*it, "message"), Time(*it, "time")};
  }
  if (auto it = status.find("drain"); it != status.end() && it->is_object()) {
    r.pods_remaining = Int(*it, "podsRemaining");
    if (auto p = it->find("problems"); p != it->end() && p->is_array()) {
      for (const auto& line : *p)
        if (line.is_string()) r.drain_problems.push_back(line.get<std::string>());
    }
  }
  return r;
}

json RecordPatch(const ProxyRecord& r) {
  json s;
  s["phase"] = r.phase == Phase::kNone ? json(nullptr) : json(std::string(PhaseName(r.phase)));
  s["message"] = StrOrNull(r.message);
  s["targetVersion"] = StrOrNull(r.target_version);
  s["operation"] = StrOrNull(r.operation);
  s["osRef"] = StrOrNull(r.os_ref);
  s["attempts"] = r.attempts == 0 ? json(nullptr) : json(r.attempts);
  s["startedAt"] = TimeOrNull(r.started_at);
  s["lastTransitionTime"] = TimeOrNull(r.transition_at);
  s["stagedAt"] = TimeOrNull(r.staged_at);
  s["drainStartedAt"] = TimeOrNull(r.drain_started_at);
  s["drainedAt"] = TimeOrNull(r.drained_at);
  s["rebootRequestedAt"] = TimeOrNull(r.reboot_requested_at);
  s["finishedAt"] = TimeOrNull(r.finished_at);
  s["bootedSlot"] = StrOrNull(r.booted_slot);
  s["lastFallback"] = r.last_fallback ? json{{"message", r.last_fallback->message},
                                             {"time", TimeOrNull(r.last_fallback->unix_time)}}
                                      : json(nullptr);
  if (r.pods_remaining == 0 && r.drain_problems.empty()) {
    s["drain"] = nullptr;
  } else {
    // A merge patch replaces arrays whole, so stale problems never linger.
    s["drain"] = {{"podsRemaining", r.pods_remaining}, {"problems", r.drain_problems}};
  }
  return json{{"status", s}};
}

std::string FormatTime(int64_t unix_seconds) {
  std::time_t t = unix_seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

StatusOr<int64_t> ParseTime(std::string_view s) {
  auto bad = [&] { return InvalidArgumentError(fmt::format("not an RFC 3339 time: \"{}\"", s)); };
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':') {
    return bad();
  }
  std::tm tm{};
  int v[6];
  const std::array<std::pair<size_t, size_t>, 6> fields = {
      {{0, 4}, {5, 2}, {8, 2}, {11, 2}, {14, 2}, {17, 2}}};
  for (size_t i = 0; i < fields.size(); ++i) {
    if (!ParseInt(s.substr(fields[i].first, fields[i].second), &v[i])) return bad();
  }
  tm.tm_year = v[0] - 1900;
  tm.tm_mon = v[1] - 1;
  tm.tm_mday = v[2];
  tm.tm_hour = v[3];
  tm.tm_min = v[4];
  tm.tm_sec = v[5];
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  }
  int64_t offset = 0;
  std::string_view zone = s.substr(i);
  if (zone == "Z" || zone == "z") {
    offset = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int h = 0, m = 0;
    if (!ParseInt(zone.substr(1, 2), &h) || !ParseInt(zone.substr(4, 2), &m)) return bad();
    offset = (zone[0] == '+' ? 1 : -1) * (int64_t{h} * 3600 + int64_t{m} * 60);
  } else {
    return bad();
  }
  return static_cast<int64_t>(timegm(&tm)) - offset;
}

std::string Truncate(std::string s, size_t max) {
  if (s.size() <= max) return s;
  s.resize(max);
  return s + "…";
}

}  // namespace kubeos::node
