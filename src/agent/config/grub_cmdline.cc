#include "agent/config/grub_cmdline.h"

#include <fmt/format.h>

#include <map>
#include <set>
#include <string>

#include "agent/config/values.h"

namespace kubeos::agent::config {
namespace {

// Characters GRUB's script parser gives a meaning (word splitting, quoting, expansion, command
// separators, blocks, comments) are refused in keys and values, so an argument can never become
// something else than one argument.
bool IsGrubSafe(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    if (std::string_view("\"'\\;&|$<>{}#`").find(c) != std::string_view::npos) return false;
  }
  return true;
}

Status CheckEntry(const ConfigEntry& e) {
  KUBEOS_RETURN_IF_ERROR(CheckLineSafe(e.key, "key", e.key));
  if (e.key.empty()) return InvalidArgumentError("empty key; name a kernel argument");
  if (e.key.find('=') != std::string::npos) {
    return InvalidArgumentError(fmt::format("key {} contains '='; give the value separately", Quote(e.key)));
  }
  if (!IsGrubSafe(e.key)) {
    return InvalidArgumentError(fmt::format(
        "key {}: kernel arguments here are printable ASCII without spaces, quotes or any of \\;&|$<>{{}}#`",
        Quote(e.key)));
  }
  if (e.key == kSlotArgument) {
    return InvalidArgumentError(
        fmt::format("key {} is reserved: it marks the A/B boot entries", Quote(e.key)));
  }
  if (std::optional<std::string> v = ValueToText(e.value)) {
    KUBEOS_RETURN_IF_ERROR(CheckLineSafe(e.key, "value", *v));
    if (!v->empty() && !IsGrubSafe(*v)) {
      return InvalidArgumentError(fmt::format(
          "key {}: value {} must be printable ASCII without spaces, quotes or any of \\;&|$<>{{}}#`",
          Quote(e.key), Quote(*v)));
    }
  }
  return Status::Ok();
}

bool IsKernelCommand(std::string_view word) {
  return word == "linux" || word == "linuxefi" || word == "linux16";
}

std::string Unrecognised(const ConfigEntry& e) {
  return fmt::format("key {}: value is an array or object; skipped", Quote(e.key));
}

}  // namespace

StatusOr<EditResult> EditGrubCmdline(std::string_view grub_cfg, Slot slot,
                                     const std::vector<ConfigEntry>& entries) {
  KUBEOS_RETURN_IF_ERROR(CheckUniqueKeys(entries));
  std::map<std::string, const ConfigEntry*, std::less<>> by_key;
  for (const ConfigEntry& e : entries) {
    KUBEOS_RETURN_IF_ERROR(CheckEntry(e));
    by_key[e.key] = &e;
  }

  Lines lines = SplitLines(grub_cfg);
  const std::string marker = std::string(kSlotArgument) + "=" + std::string(SlotName(slot));
  size_t target = 0;
  int matches = 0;
  for (size_t n = 0; n < lines.lines.size(); ++n) {
    std::vector<std::string_view> words = SplitFields(lines.lines[n]);
    if (words.size() < 2 || !IsKernelCommand(words[0])) continue;
    for (size_t i = 2; i < words.size(); ++i) {
      if (words[i] == marker) {
        target = n;
        ++matches;
        break;
      }
    }
  }
  if (matches != 1) {
    return FailedPreconditionError(fmt::format(
        "grub.cfg has {} kernel lines carrying {}; expected exactly one (the boot entry of slot {})", matches,
        marker, SlotName(slot)));
  }

  EditResult result;
  std::string& line = lines.lines[target];
  const std::string indent = line.substr(0, line.find_first_not_of(" \t"));
  std::vector<std::string_view> words = SplitFields(line);
  std::vector<std::string> out = {std::string(words[0]), std::string(words[1])};
  std::set<std::string, std::less<>> found;
  std::set<std::string, std::less<>> updated;
  for (size_t i = 2; i < words.size(); ++i) {
    std::string_view word = words[i];
    size_t eq = word.find('=');
    std::string_view key = word.substr(0, eq);
    auto it = by_key.find(key);
    if (it == by_key.end()) {
      out.emplace_back(word);
      continue;
    }
    const ConfigEntry& e = *it->second;
    found.insert(e.key);
    std::optional<std::string> value = ValueToText(e.value);
    if (!value) {
      result.warnings.push_back(Unrecognised(e));
      out.emplace_back(word);
      continue;
    }
    const bool bare = eq == std::string_view::npos;
    std::string_view old_value = bare ? std::string_view() : word.substr(eq + 1);
    if (IsDelete(e)) {
      // Every matching occurrence goes (console= may appear more than once).
      if ((bare && value->empty()) || (!bare && old_value == *value)) {
        result.changed = true;
      } else {
        result.warnings.push_back(fmt::format("key {}: {} not deleted, value differs from {}", Quote(e.key),
                                              Quote(word), Quote(*value)));
        out.emplace_back(word);
      }
      continue;
    }
    // Add/update: the first occurrence only.
    if (!updated.insert(e.key).second) {
      out.emplace_back(word);
      continue;
    }
    if (!e.operation.empty()) {
      result.warnings.push_back(fmt::format("key {}: unknown operation {}, treated as add/update",
                                            Quote(e.key), Quote(e.operation)));
    }
    if (value->empty()) {
      if (!bare) {
        result.warnings.push_back(
            fmt::format("key {}: cannot turn {} into a bare argument; delete it first, then add it",
                        Quote(e.key), Quote(word)));
      }
      out.emplace_back(word);
    } else if (bare || old_value != *value) {
      out.push_back(e.key + "=" + *value);
      result.changed = true;
    } else {
      out.emplace_back(word);
    }
  }
  for (const ConfigEntry& e : entries) {
    if (found.count(e.key) != 0) continue;
    if (IsDelete(e)) {
      result.warnings.push_back(
          fmt::format("key {}: not on the kernel line, nothing to delete", Quote(e.key)));
      continue;
    }
    std::optional<std::string> value = ValueToText(e.value);
    if (!value) {
      result.warnings.push_back(Unrecognised(e));
      continue;
    }
    out.push_back(value->empty() ? e.key : e.key + "=" + *value);
    result.changed = true;
  }
  if (!result.changed) {
    result.text = std::string(grub_cfg);
    return result;
  }
  std::string joined = indent;
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0) joined += ' ';
    joined += out[i];
  }
  line = std::move(joined);
  result.text = JoinLines(lines);
  return result;
}

}  // namespace kubeos::agent::config
