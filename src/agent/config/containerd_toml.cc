#include "agent/config/containerd_toml.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>

#include "agent/config/values.h"

namespace kubeos::agent::config {
namespace {

// Deeper JSON arrays are refused; containerd settings are flat lists.
constexpr int kMaxDepth = 32;

using json = nlohmann::json;

bool Skippable(const json& j) { return j.is_null() || j.is_object(); }

// Checks that a JSON value converts to TOML: integers must fit int64, strings must not hold NUL.
Status CheckConvertible(const ConfigEntry& e, const json& j, int depth) {
  if (depth > kMaxDepth)
    return InvalidArgumentError(fmt::format("key {}: value nested too deep", Quote(e.key)));
  if (j.is_number_unsigned() && j.get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max()) {
    return InvalidArgumentError(fmt::format("key {}: integer {} does not fit a TOML integer (64-bit signed)",
                                            Quote(e.key), j.dump()));
  }
  if (j.is_string() && j.get_ref<const std::string&>().find('\0') != std::string::npos) {
    return InvalidArgumentError(fmt::format("key {}: value contains NUL", Quote(e.key)));
  }
  if (j.is_array()) {
    for (const json& x : j) KUBEOS_RETURN_IF_ERROR(CheckConvertible(e, x, depth + 1));
  }
  return Status::Ok();
}

void Push(toml::array& arr, const json& j) {
  if (j.is_boolean()) {
    arr.push_back(j.get<bool>());
  } else if (j.is_number_integer()) {
    arr.push_back(j.get<std::int64_t>());
  } else if (j.is_number_float()) {
    arr.push_back(j.get<double>());
  } else if (j.is_string()) {
    arr.push_back(j.get<std::string>());
  } else if (j.is_array()) {
    toml::array inner;
    for (const json& x : j) {
      if (!Skippable(x)) Push(inner, x);
    }
    arr.push_back(std::move(inner));
  }
}

void Assign(toml::table& t, const std::string& key, const json& j) {
  if (j.is_boolean()) {
    t.insert_or_assign(key, j.get<bool>());
  } else if (j.is_number_integer()) {
    t.insert_or_assign(key, j.get<std::int64_t>());
  } else if (j.is_number_float()) {
    t.insert_or_assign(key, j.get<double>());
  } else if (j.is_string()) {
    t.insert_or_assign(key, j.get<std::string>());
  } else if (j.is_array()) {
    toml::array arr;
    for (const json& x : j) {
      if (!Skippable(x)) Push(arr, x);
    }
    t.insert_or_assign(key, std::move(arr));
  }
}

bool Equal(const toml::node& n, const json& j) {
  if (auto v = n.as_boolean()) return j.is_boolean() && j.get<bool>() == v->get();
  if (auto v = n.as_integer()) return j.is_number_integer() && j.get<std::int64_t>() == v->get();
  if (auto v = n.as_floating_point()) return j.is_number_float() && j.get<double>() == v->get();
  if (auto v = n.as_string()) return j.is_string() && j.get_ref<const std::string&>() == v->get();
  if (auto a = n.as_array()) {
    if (!j.is_array()) return false;
    size_t i = 0;
    for (const json& x : j) {
      if (Skippable(x)) continue;
      if (i >= a->size() || !Equal(*a->get(i), x)) return false;
      ++i;
    }
    return i == a->size();
  }
  return false;
}

bool SkippedElements(const json& j) {
  if (!j.is_array()) return false;
  for (const json& x : j) {
    if (Skippable(x) || SkippedElements(x)) return true;
  }
  return false;
}

StatusOr<bool> ApplyEntry(toml::table& root, const ConfigEntry& e, std::vector<std::string>& warnings) {
  KUBEOS_ASSIGN_OR_RETURN(std::vector<std::string> path, SplitKeyPath(e.key));
  const bool del = IsDelete(e);
  if (!e.operation.empty() && !del) {
    warnings.push_back(
        fmt::format("key {}: unknown operation {}, treated as add/update", Quote(e.key), Quote(e.operation)));
  }
  if (!del) {
    KUBEOS_RETURN_IF_ERROR(CheckConvertible(e, e.value, 0));
    if (Skippable(e.value)) {
      warnings.push_back(
          fmt::format("key {}: a TOML value cannot be null or an object; skipped", Quote(e.key)));
      return false;
    }
    if (SkippedElements(e.value)) {
      warnings.push_back(fmt::format("key {}: null or object array elements dropped", Quote(e.key)));
    }
  }
  toml::table* cur = &root;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& k = path[i];
    const bool last = i + 1 == path.size();
    toml::node* child = cur->get(k);
    if (child == nullptr) {
      if (del) {
        warnings.push_back(fmt::format("key {}: not in the file, nothing to delete", Quote(e.key)));
        return false;
      }
      for (size_t j = i; j + 1 < path.size(); ++j) {
        auto [it, inserted] = cur->insert(path[j], toml::table{});
        cur = it->second.as_table();
      }
      Assign(*cur, path.back(), e.value);
      return true;
    }
    if (last) {
      if (del) {
        cur->erase(k);
        return true;
      }
      if (toml::array* have = child->as_array()) {
        if (!e.value.is_array()) {
          warnings.push_back(
              fmt::format("key {}: the file holds an array and the value is not one; skipped", Quote(e.key)));
          return false;
        }
        bool changed = false;
        for (const json& x : e.value) {
          if (Skippable(x)) continue;
          bool present = false;
          for (const toml::node& h : *have) present = present || Equal(h, x);
          if (!present) {
            Push(*have, x);
            changed = true;
          }
        }
        return changed;
      }
      if (Equal(*child, e.value)) return false;
      Assign(*cur, k, e.value);
      return true;
    }
    if (!child->is_table()) {
      warnings.push_back(
          fmt::format("key {}: {} is not a table in the file; skipped", Quote(e.key), Quote(k)));
      return false;
    }
    cur = child->as_table();
  }
  return false;
}

}  // namespace

StatusOr<EditResult> EditContainerdToml(std::string_view text, const std::vector<ConfigEntry>& entries) {
  KUBEOS_RETURN_IF_ERROR(CheckUniqueKeys(entries));
  for (const ConfigEntry& e : entries) {
    KUBEOS_RETURN_IF_ERROR(CheckLineSafe(e.key, "key", e.key));
    if (e.key.empty()) return InvalidArgumentError("empty key; name a containerd configuration field");
    KUBEOS_RETURN_IF_ERROR(CheckUtf8Entry(e));
  }
  KUBEOS_RETURN_IF_ERROR(CheckTextFile(text));
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& err) {
    return InvalidArgumentError(fmt::format("not valid TOML: {} (line {}, column {})", err.description(),
                                            err.source().begin.line, err.source().begin.column));
  }
  EditResult result;
  for (const ConfigEntry& e : entries) {
    KUBEOS_ASSIGN_OR_RETURN(bool changed, ApplyEntry(root, e, result.warnings));
    result.changed = result.changed || changed;
  }
  if (!result.changed) {
    result.text = std::string(text);
    return result;
  }
  std::ostringstream os;
  // containerd's own files use basic ("double-quoted") strings and no indentation.
  constexpr toml::format_flags kFlags = toml::toml_formatter::default_flags &
                                        ~toml::format_flags::indentation &
                                        ~toml::format_flags::allow_literal_strings;
  os << toml::toml_formatter(root, kFlags);
  result.text = LeadingCommentBlock(text) + os.str() + "\n";
  // Never write what we cannot read back.
  try {
    (void)toml::parse(result.text);
  } catch (const toml::parse_error& err) {
    return InvalidArgumentError(
        fmt::format("the edited document would not read back as TOML: {}", err.description()));
  }
  // Entries of one request can undo each other (a.b set to null, then a.b.c set): "changed" means the text.
  result.changed = result.text != text;
  return result;
}

}  // namespace kubeos::agent::config
