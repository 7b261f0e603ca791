#include "agent/config/kubelet_yaml.h"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <sstream>
#include <string>

#include "agent/config/values.h"

namespace kubeos::agent::config {
namespace {

// Deeper documents are refused: the parser and our walkers recurse once per level, and no kubelet
// configuration comes close.
constexpr int kMaxDepth = 64;

// yaml-cpp marks quoted scalars with the non-specific tag "!" and plain ones with "?".
constexpr const char* kQuotedTag = "!";

// Whether a plain scalar with this text would be read back as something other than a string.
bool LooksNonString(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return true;
  YAML::Node n(s);
  bool b = false;
  double d = 0;
  return YAML::convert<bool>::decode(n, b) || YAML::convert<double>::decode(n, d);
}

bool IsStringScalar(const YAML::Node& n) {
  if (n.Tag() == kQuotedTag) return true;
  if (n.Tag().empty() || n.Tag() == "?") return !LooksNonString(n.Scalar());
  return n.Tag() == "tag:yaml.org,2002:str";
}

YAML::Node StringNode(const std::string& s) {
  YAML::Node n(s);
  if (LooksNonString(s)) n.SetTag(kQuotedTag);
  return n;
}

YAML::Node FromJson(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return YAML::Node(YAML::NodeType::Null);
    case nlohmann::json::value_t::string:
      return StringNode(j.get<std::string>());
    case nlohmann::json::value_t::array: {
      YAML::Node seq(YAML::NodeType::Sequence);
      for (const auto& e : j) seq.push_back(FromJson(e));
      return seq;
    }
    case nlohmann::json::value_t::object: {
      YAML::Node map(YAML::NodeType::Map);
      for (const auto& [k, v] : j.items()) map[StringNode(k)] = FromJson(v);
      return map;
    }
    default:  // bool, numbers: their JSON text, plain
      return YAML::Node(j.dump());
  }
}

bool NodesEqual(const YAML::Node& a, const YAML::Node& b, int depth = 0) {
  if (depth > kMaxDepth || a.Type() != b.Type()) return false;
  switch (a.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return true;
    case YAML::NodeType::Scalar:
      return a.Scalar() == b.Scalar() && IsStringScalar(a) == IsStringScalar(b);
    case YAML::NodeType::Sequence:
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!NodesEqual(a[i], b[i], depth + 1)) return false;
      }
      return true;
    case YAML::NodeType::Map:
      if (a.size() != b.size()) return false;
      for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
        if (!NodesEqual(ia->first, ib->first, depth + 1) || !NodesEqual(ia->second, ib->second, depth + 1)) {
          return false;
        }
      }
      return true;
  }
  return false;
}

Status Emit(YAML::Emitter& out, const YAML::Node& n, int depth) {
  if (depth > kMaxDepth) return InvalidArgumentError(fmt::format("nested deeper than {} levels", kMaxDepth));
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out << YAML::Null;
      break;
    case YAML::NodeType::Scalar:
      if (n.Tag() == kQuotedTag) {
        out << YAML::DoubleQuoted << n.Scalar();
      } else if (n.Tag().empty() || n.Tag() == "?") {
        out << n.Scalar();
      } else {
        out << YAML::VerbatimTag(n.Tag()) << n.Scalar();
      }
      break;
    case YAML::NodeType::Sequence:
      if (n.Style() == YAML::EmitterStyle::Flow) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& e : n) KUBEOS_RETURN_IF_ERROR(Emit(out, e, depth + 1));
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Map:
      if (n.Style() == YAML::EmitterStyle::Flow) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& kv : n) {
        out << YAML::Key;
        KUBEOS_RETURN_IF_ERROR(Emit(out, kv.first, depth + 1));
        out << YAML::Value;
        KUBEOS_RETURN_IF_ERROR(Emit(out, kv.second, depth + 1));
      }
      out << YAML::EndMap;
      break;
  }
  if (!out.good()) return InvalidArgumentError("cannot write the document as YAML: " + out.GetLastError());
  return Status::Ok();
}

// Ignores the parse events: used to count documents.
class IgnoreEvents : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& /*mark*/) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& /*mark*/, YAML::anchor_t /*anchor*/) override {}
  void OnAlias(const YAML::Mark& /*mark*/, YAML::anchor_t /*anchor*/) override {}
  void OnScalar(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                const std::string& /*value*/) override {}
  void OnSequenceStart(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                       YAML::EmitterStyle::value /*style*/) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                  YAML::EmitterStyle::value /*style*/) override {}
  void OnMapEnd() override {}
};

// Parses a file that must hold at most one document. Not YAML::LoadAll: yaml-cpp 0.7 returns an endless
// series of empty documents for a stray ',' (found by fuzz_kubelet_yaml: LoadAll never returned).
StatusOr<YAML::Node> LoadSingleDocument(std::string_view text) {
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    IgnoreEvents ignore;
    if (parser.HandleNextDocument(ignore) && parser.HandleNextDocument(ignore)) {
      return InvalidArgumentError("the file holds more than one YAML document, or a stray ','");
    }
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& ex) {
    return InvalidArgumentError(fmt::format("not valid YAML: {}", ex.what()));
  }
}

// The child of a mapping under a scalar key, or an undefined node.
YAML::Node FindChild(const YAML::Node& map, const std::string& key) {
  for (const auto& kv : map) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.second;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

bool RemoveChild(YAML::Node& map, const std::string& key) {
  for (const auto& kv : map) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) return map.remove(kv.first);
  }
  return false;
}

// Applies one entry to the document. Returns whether it changed anything.
StatusOr<bool> ApplyEntry(YAML::Node& root, const ConfigEntry& e, std::vector<std::string>& warnings) {
  KUBEOS_ASSIGN_OR_RETURN(std::vector<std::string> path, SplitKeyPath(e.key));
  if (!e.operation.empty() && !IsDelete(e)) {
    warnings.push_back(
        fmt::format("key {}: unknown operation {}, treated as add/update", Quote(e.key), Quote(e.operation)));
  }
  YAML::Node cur;
  cur.reset(root);
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& k = path[i];
    const bool last = i + 1 == path.size();
    YAML::Node child = FindChild(cur, k);
    if (!child.IsDefined()) {
      if (IsDelete(e)) {
        warnings.push_back(fmt::format("key {}: not in the file, nothing to delete", Quote(e.key)));
        return false;
      }
      YAML::Node value = FromJson(e.value);
      for (size_t j = path.size() - 1; j > i; --j) {
        YAML::Node wrap(YAML::NodeType::Map);
        wrap[StringNode(path[j])] = value;
        value.reset(wrap);
      }
      cur[StringNode(k)] = value;
      return true;
    }
    if (last) {
      if (IsDelete(e)) return RemoveChild(cur, k);
      YAML::Node value = FromJson(e.value);
      if (child.IsSequence()) {
        if (!value.IsSequence()) {
          warnings.push_back(fmt::format(
              "key {}: the file holds a sequence and the value is not one; skipped", Quote(e.key)));
          return false;
        }
        bool changed = false;
        for (const auto& item : value) {
          bool present = false;
          for (const auto& have : child) present = present || NodesEqual(have, item);
          if (!present) {
            child.push_back(item);
            changed = true;
          }
        }
        return changed;
      }
      if (NodesEqual(child, value)) return false;
      for (auto kv : cur) {
        if (kv.first.IsScalar() && kv.first.Scalar() == k) {
          kv.second = value;
          break;
        }
      }
      return true;
    }
    if (child.IsNull()) {
      for (auto kv : cur) {
        if (kv.first.IsScalar() && kv.first.Scalar() == k) {
          kv.second = YAML::Node(YAML::NodeType::Map);
          break;
        }
      }
      child = FindChild(cur, k);
    } else if (!child.IsMap()) {
      return InvalidArgumentError(
          fmt::format("key {}: {} is not a mapping in the file", Quote(e.key), Quote(k)));
    }
    cur.reset(child);
  }
  return false;
}

}  // namespace

StatusOr<EditResult> EditKubeletYaml(std::string_view text, const std::vector<ConfigEntry>& entries) {
  KUBEOS_RETURN_IF_ERROR(CheckUniqueKeys(entries));
  for (const ConfigEntry& e : entries) {
    KUBEOS_RETURN_IF_ERROR(CheckLineSafe(e.key, "key", e.key));
    if (e.key.empty()) return InvalidArgumentError("empty key; name a kubelet configuration field");
    KUBEOS_RETURN_IF_ERROR(CheckUtf8Entry(e));
  }
  KUBEOS_RETURN_IF_ERROR(CheckTextFile(text));
  KUBEOS_ASSIGN_OR_RETURN(YAML::Node root, LoadSingleDocument(text));
  if (!root.IsDefined() || root.IsNull()) root.reset(YAML::Node(YAML::NodeType::Map));
  if (!root.IsMap()) return InvalidArgumentError("the top level of the file is not a mapping");

  EditResult result;
  for (const ConfigEntry& e : entries) {
    KUBEOS_ASSIGN_OR_RETURN(bool changed, ApplyEntry(root, e, result.warnings));
    result.changed = result.changed || changed;
  }
  if (!result.changed) {
    result.text = std::string(text);
    return result;
  }
  YAML::Emitter out;
  out.SetNullFormat(YAML::LowerNull);
  KUBEOS_RETURN_IF_ERROR(Emit(out, root, 0));
  result.text = LeadingCommentBlock(text) + out.c_str() + "\n";
  // Never write what we cannot read back: a safety net behind the input checks (fuzz_kubelet_yaml found
  // documents yaml-cpp read leniently but wrote unreadably).
  if (StatusOr<YAML::Node> back = LoadSingleDocument(result.text); !back.ok()) {
    return InvalidArgumentError("the edited document would not read back as YAML: " +
                                back.status().message());
  }
  // Entries of one request can undo each other (a.b set to null, then a.b.c set): "changed" means the text.
  result.changed = result.text != text;
  return result;
}

}  // namespace kubeos::agent::config
