#include "agent/config/pam_limits.h"

#include <fmt/format.h>

#include <array>
#include <set>
#include <string>

#include "agent/config/values.h"

namespace kubeos::agent::config {
namespace {

constexpr std::string_view kKeep = "_";

struct LimitLine {
  std::array<std::string, 4> fields;  // domain, type, item, value
  size_t value_pos = 0;               // where the value field starts in the line
};

bool FieldSafe(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '#') return false;
  }
  return !s.empty();
}

// Parses a non-comment line; nullopt when it does not have exactly four fields.
std::optional<LimitLine> ParseLine(std::string_view line) {
  LimitLine out;
  std::string_view body = line.substr(0, line.find('#'));  // a trailing comment is kept as it is
  std::vector<std::string_view> f = SplitFields(body);
  if (f.size() != 4) return std::nullopt;
  for (size_t i = 0; i < 4; ++i) out.fields[i] = std::string(f[i]);
  out.value_pos = static_cast<size_t>(f[3].data() - line.data());
  return out;
}

// "type.item.value" -> its three parts; nullopt unless exactly three.
std::optional<std::array<std::string, 3>> SplitValue(std::string_view v) {
  std::array<std::string, 3> parts;
  size_t b = 0;
  for (size_t i = 0; i < 3; ++i) {
    size_t e = v.find('.', b);
    if (i < 2 && e == std::string_view::npos) return std::nullopt;
    if (i == 2 && e != std::string_view::npos) return std::nullopt;
    parts[i] = std::string(v.substr(b, i < 2 ? e - b : std::string_view::npos));
    b = e + 1;
  }
  return parts;
}

Status CheckEntry(const ConfigEntry& e) {
  KUBEOS_RETURN_IF_ERROR(CheckLineSafe(e.key, "key", e.key));
  if (!FieldSafe(e.key)) {
    return InvalidArgumentError(fmt::format(
        "key {}: a limits.conf domain is one non-empty word without spaces or '#'", Quote(e.key)));
  }
  if (std::optional<std::string> v = ValueToText(e.value)) {
    KUBEOS_RETURN_IF_ERROR(CheckLineSafe(e.key, "value", *v));
    if (std::optional<std::array<std::string, 3>> parts = SplitValue(*v)) {
      for (const std::string& p : *parts) {
        if (!FieldSafe(p)) {
          return InvalidArgumentError(
              fmt::format("key {}: value {}: each of type.item.value is one word without spaces or '#'",
                          Quote(e.key), Quote(*v)));
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<EditResult> EditPamLimits(std::string_view text, const std::vector<ConfigEntry>& entries) {
  KUBEOS_RETURN_IF_ERROR(CheckUniqueKeys(entries));
  for (const ConfigEntry& e : entries) KUBEOS_RETURN_IF_ERROR(CheckEntry(e));

  Lines lines = SplitLines(text);
  // Parsed form of each line (nullopt for comments and blank lines).
  std::vector<std::optional<LimitLine>> parsed(lines.lines.size());
  for (size_t n = 0; n < lines.lines.size(); ++n) {
    std::string_view t = TrimWhitespace(lines.lines[n]);
    if (t.empty() || t[0] == '#') continue;
    parsed[n] = ParseLine(lines.lines[n]);
    if (!parsed[n]) {
      return InvalidArgumentError(
          fmt::format("line {}: {} is not \"<domain> <type> <item> <value>\"; fix the file", n + 1,
                      Quote(lines.lines[n])));
    }
  }

  EditResult result;
  std::set<size_t> removed;
  for (const ConfigEntry& e : entries) {
    std::optional<std::string> value = ValueToText(e.value);
    if (!value) {
      result.warnings.push_back(fmt::format("key {}: value is an array or object; skipped", Quote(e.key)));
      continue;
    }
    std::string_view v = TrimWhitespace(*value);
    if (v.empty()) {
      result.warnings.push_back(fmt::format("key {}: empty value; skipped", Quote(e.key)));
      continue;
    }
    std::optional<std::array<std::string, 3>> parts = SplitValue(v);
    if (!parts) {
      result.warnings.push_back(
          fmt::format("key {}: value {} is not type.item.value; skipped", Quote(e.key), Quote(v)));
      continue;
    }
    const auto& [type, item, limit] = *parts;
    if (IsDelete(e)) {
      bool done = false;
      for (size_t n = 0; n < parsed.size() && !done; ++n) {
        if (!parsed[n] || removed.count(n) != 0) continue;
        const auto& f = parsed[n]->fields;
        if (f[0] == e.key && f[1] == type && f[2] == item && f[3] == limit) {
          removed.insert(n);
          done = true;
        }
      }
      if (done) {
        result.changed = true;
      } else {
        result.warnings.push_back(fmt::format("key {}: no line \"{} {} {} {}\", nothing to delete",
                                              Quote(e.key), e.key, type, item, limit));
      }
      continue;
    }
    if (!e.operation.empty()) {
      result.warnings.push_back(fmt::format("key {}: unknown operation {}, treated as add/update",
                                            Quote(e.key), Quote(e.operation)));
    }
    auto matches = [&](const std::string& want, const std::string& have) {
      return want == kKeep || want == have;
    };
    bool done = false;
    for (size_t n = 0; n < parsed.size() && !done; ++n) {
      if (!parsed[n] || removed.count(n) != 0) continue;
      auto& f = parsed[n]->fields;
      if (f[0] != e.key || !matches(type, f[1]) || !matches(item, f[2])) continue;
      done = true;
      if (limit != kKeep && f[3] != limit) {
        // Only the value changes (type and item matched), so the line keeps its own separators.
        lines.lines[n].replace(parsed[n]->value_pos, f[3].size(), limit);
        f[3] = limit;
        result.changed = true;
      }
    }
    if (done) continue;
    if (type == kKeep || item == kKeep || limit == kKeep) {
      result.warnings.push_back(
          fmt::format("key {}: no line of this domain matches {} and a new line cannot hold \"_\"; skipped",
                      Quote(e.key), Quote(v)));
      continue;
    }
    AppendLine(lines, e.key + " " + type + " " + item + " " + limit);
    parsed.emplace_back();  // appended lines are final
    result.changed = true;
  }
  if (!result.changed) {
    result.text = std::string(text);
    return result;
  }
  Lines out;
  for (size_t n = 0; n < lines.lines.size(); ++n) {
    if (removed.count(n) == 0) out.lines.push_back(std::move(lines.lines[n]));
  }
  out.trailing_newline = true;
  result.text = JoinLines(out);
  return result;
}

}  // namespace kubeos::agent::config
