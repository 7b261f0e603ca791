#include "agent/config/sysctl.h"

#include <fmt/format.h>

#include <map>

#include "agent/config/values.h"

namespace kubeos::agent::config {
namespace {

Status CheckSysctlKey(std::string_view key) {
  KUBEOS_RETURN_IF_ERROR(CheckLineSafe(key, "key", key));
  if (key.empty()) return InvalidArgumentError("empty key; name a kernel parameter");
  if (key.find('=') != std::string_view::npos) {
    return InvalidArgumentError(fmt::format("key {} contains '='; a sysctl key cannot", Quote(key)));
  }
  if (HasWhitespace(key)) {
    return InvalidArgumentError(fmt::format("key {} contains whitespace; a sysctl key cannot", Quote(key)));
  }
  if (key[0] == '#' || key[0] == ';') {
    return InvalidArgumentError(fmt::format("key {} starts like a comment", Quote(key)));
  }
  return Status::Ok();
}

std::string UnknownOperationWarning(const ConfigEntry& e) {
  return fmt::format("key {}: unknown operation {}, treated as add/update", Quote(e.key), Quote(e.operation));
}

}  // namespace

StatusOr<std::string> SysctlKeyToPath(std::string_view key) {
  KUBEOS_RETURN_IF_ERROR(CheckSysctlKey(key));
  const bool slash_form = key.find('/') != std::string_view::npos;
  const char sep = slash_form ? '/' : '.';
  std::string path;
  size_t b = 0;
  while (true) {
    size_t e = key.find(sep, b);
    std::string_view seg = key.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b);
    if (seg.empty() || seg == "." || seg == "..") {
      return InvalidArgumentError(
          fmt::format("key {} does not name a file under /proc/sys (empty, '.' or '..' segment, or a leading "
                      "separator)",
                      Quote(key)));
    }
    if (!path.empty()) path += '/';
    path += seg;
    if (e == std::string_view::npos) break;
    b = e + 1;
  }
  return path;
}

StatusOr<SysctlPlan> PlanSysctl(const std::vector<ConfigEntry>& entries) {
  KUBEOS_RETURN_IF_ERROR(CheckUniqueKeys(entries));
  SysctlPlan plan;
  for (const ConfigEntry& e : entries) {
    KUBEOS_ASSIGN_OR_RETURN(std::string path, SysctlKeyToPath(e.key));
    std::optional<std::string> value = ValueToText(e.value);
    if (!value) {
      plan.warnings.push_back(fmt::format("key {}: value is an array or object; skipped", Quote(e.key)));
      continue;
    }
    KUBEOS_RETURN_IF_ERROR(CheckLineSafe(e.key, "value", *value));
    if (IsDelete(e)) {
      plan.warnings.push_back(
          fmt::format("key {}: kernel.sysctl cannot delete a parameter; skipped", Quote(e.key)));
    } else if (!e.operation.empty()) {
      plan.warnings.push_back(
          fmt::format("key {}: kernel.sysctl only sets with an empty operation, got {}; skipped",
                      Quote(e.key), Quote(e.operation)));
    } else if (TrimWhitespace(*value).empty()) {
      plan.warnings.push_back(fmt::format("key {}: empty value; skipped", Quote(e.key)));
    } else {
      plan.writes.push_back({e.key, std::move(path), std::string(TrimWhitespace(*value))});
    }
  }
  return plan;
}

StatusOr<EditResult> EditSysctlConf(std::string_view text, const std::vector<ConfigEntry>& entries) {
  KUBEOS_RETURN_IF_ERROR(CheckUniqueKeys(entries));
  std::map<std::string, const ConfigEntry*, std::less<>> by_key;
  for (const ConfigEntry& e : entries) {
    KUBEOS_RETURN_IF_ERROR(CheckSysctlKey(e.key));
    if (std::optional<std::string> v = ValueToText(e.value)) {
      KUBEOS_RETURN_IF_ERROR(CheckLineSafe(e.key, "value", *v));
    }
    by_key[e.key] = &e;
  }

  EditResult result;
  Lines lines = SplitLines(text);
  std::map<std::string, bool, std::less<>> found;
  std::vector<std::string> out;
  out.reserve(lines.lines.size());
  for (size_t n = 0; n < lines.lines.size(); ++n) {
    const std::string& line = lines.lines[n];
    std::string_view t = TrimWhitespace(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') {
      out.push_back(line);
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return InvalidArgumentError(
          fmt::format("line {}: {} is not key=value; fix the file", n + 1, Quote(line)));
    }
    std::string_view key = TrimWhitespace(std::string_view{line}.substr(0, eq));
    std::string_view old_value = TrimWhitespace(std::string_view{line}.substr(eq + 1));
    auto it = by_key.find(key);
    if (it == by_key.end()) {
      out.push_back(line);
      continue;
    }
    const ConfigEntry& e = *it->second;
    found[e.key] = true;
    std::optional<std::string> value = ValueToText(e.value);
    if (!value) {
      result.warnings.push_back(fmt::format("key {}: value is an array or object; skipped", Quote(e.key)));
      out.push_back(line);
      continue;
    }
    std::string_view v = TrimWhitespace(*value);
    if (IsDelete(e)) {
      if (old_value == v) {
        result.changed = true;  // line dropped
      } else {
        result.warnings.push_back(fmt::format("key {}: not deleted, file value {} differs from {}",
                                              Quote(e.key), Quote(old_value), Quote(v)));
        out.push_back(line);
      }
      continue;
    }
    if (!e.operation.empty()) result.warnings.push_back(UnknownOperationWarning(e));
    if (v.empty()) {
      result.warnings.push_back(fmt::format("key {}: empty value, line kept", Quote(e.key)));
      out.push_back(line);
    } else if (old_value == v) {
      out.push_back(line);
    } else {
      // Keep the line's own spelling up to the value ("key = " stays "key = ").
      size_t vstart = line.find_first_not_of(" \t", eq + 1);
      if (vstart == std::string::npos) vstart = line.size();
      out.push_back(line.substr(0, vstart) + std::string(v));
      result.changed = true;
    }
  }
  lines.lines = std::move(out);

  for (const ConfigEntry& e : entries) {
    if (found.count(e.key) != 0) continue;
    if (IsDelete(e)) {
      result.warnings.push_back(fmt::format("key {}: not in the file, nothing to delete", Quote(e.key)));
      continue;
    }
    std::optional<std::string> value = ValueToText(e.value);
    if (!value) {
      result.warnings.push_back(fmt::format("key {}: value is an array or object; skipped", Quote(e.key)));
      continue;
    }
    std::string_view v = TrimWhitespace(*value);
    if (v.empty()) {
      result.warnings.push_back(fmt::format("key {}: empty value; not added", Quote(e.key)));
      continue;
    }
    if (!e.operation.empty()) result.warnings.push_back(UnknownOperationWarning(e));
    AppendLine(lines, e.key + "=" + std::string(v));
    result.changed = true;
  }
  // A file we change ends with a newline.
  lines.trailing_newline = true;
  result.text = result.changed ? JoinLines(lines) : std::string(text);
  return result;
}

}  // namespace kubeos::agent::config
