#include "operator/snapshot.h"

#include <cctype>
#include <string_view>
#include <utility>

#include "operator/status_json.h"

namespace kubeos::rollout {

namespace {

using nlohmann::json;

const json& Member(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string StringOr(const json& j, const char* key, std::string fallback = {}) {
  const json& v = Member(j, key);
  return v.is_string() ? v.get<std::string>() : std::move(fallback);
}

Status TypeError(const char* field, const char* want, const json& got) {
  return InvalidArgumentError(std::string("OS spec.") + field + ": want " + want + ", got " + got.dump());
}

// A string field: absent or null -> fallback; anything but a string is an error.
Status ReadString(const json& spec, const char* field, std::string* out) {
  const json& v = Member(spec, field);
  if (v.is_null()) return {};
  if (!v.is_string()) return TypeError(field, "a string", v);
  *out = v.get<std::string>();
  return {};
}

Status ReadVersion(const json& spec, const char* field, std::string* out) {
  const json& v = Member(spec, field);
  if (v.is_null()) return {};
  if (!v.is_object()) return TypeError(field, "an object", v);
  return ReadString(v, "version", out);
}

}  // namespace

StatusOr<IntOrPercent> IntOrPercentFromJson(const json& v) {
  if (v.is_number_integer()) return IntOrPercent{v.get<std::int64_t>(), false};
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s.size() >= 2 && s.size() <= 10 && s.back() == '%') {
      std::int64_t n = 0;
      bool digits = true;
      for (std::size_t i = 0; i + 1 < s.size(); ++i) {
        if (std::isdigit(static_cast<unsigned char>(s[i])) == 0) {
          digits = false;
          break;
        }
        n = n * 10 + (s[i] - '0');
      }
      if (digits) return IntOrPercent{n, true};
    }
  }
  return InvalidArgumentError("want an integer or a percentage such as \"25%\", got " + v.dump());
}

StatusOr<OsView> OsViewFromJson(const json& os) {
  OsView view;
  const json& meta = Member(os, "metadata");
  view.key = {StringOr(meta, "namespace"), StringOr(meta, "name")};
  const json& gen = Member(meta, "generation");
  if (gen.is_number_integer()) view.generation = gen.get<std::int64_t>();
  const json& spec = Member(os, "spec");
  OsSpecView& s = view.spec;
  for (auto [field, out] :
       {std::pair{"opstype", &s.opstype}, std::pair{"osversion", &s.osversion},
        std::pair{"executionmode", &s.executionmode}, std::pair{"nodeselector", &s.nodeselector}}) {
    if (auto st = ReadString(spec, field, out); !st.ok()) return st;
  }
  if (Member(spec, "executionmode").is_null()) s.executionmode = "parallel";
  if (const json& v = Member(spec, "maxunavailable"); !v.is_null()) {
    auto m = IntOrPercentFromJson(v);
    if (!m.ok()) return m.status().WithContext("OS spec.maxunavailable");
    s.maxunavailable = *m;
  }
  if (const json& v = Member(spec, "failurethreshold"); !v.is_null()) {
    auto m = IntOrPercentFromJson(v);
    if (!m.ok()) return m.status().WithContext("OS spec.failurethreshold");
    s.failurethreshold = *m;
  }
  if (const json& v = Member(spec, "timeinterval"); !v.is_null()) {
    if (!v.is_number_integer()) return TypeError("timeinterval", "an integer", v);
    s.timeinterval = v.get<std::int64_t>();
  }
  if (const json& v = Member(spec, "pause"); !v.is_null()) {
    if (!v.is_boolean()) return TypeError("pause", "a boolean", v);
    s.pause = v.get<bool>();
  }
  if (const json& v = Member(spec, "timewindow"); !v.is_null()) {
    if (!v.is_object()) return TypeError("timewindow", "an object", v);
    TimeWindowSpec w;
    for (auto [field, out] : {std::pair{"starttime", &w.start}, std::pair{"endtime", &w.end},
                              std::pair{"timezone", &w.timezone}}) {
      if (auto st = ReadString(v, field, out); !st.ok()) return st.WithContext("OS spec.timewindow");
    }
    s.timewindow = w;
  }
  if (auto st = ReadVersion(spec, "sysconfigs", &s.sysconfigs_version); !st.ok()) return st;
  if (auto st = ReadVersion(spec, "upgradeconfigs", &s.upgradeconfigs_version); !st.ok()) return st;
  if (const json& st = Member(os, "status"); st.is_object()) {
    auto status = OsStatusFromJson(st);
    if (!status.ok()) return status.status().WithContext("OS status");
    view.status = std::move(*status);
  }
  return view;
}

OsInstanceView OsInstanceViewFromJson(const json& osinstance) {
  OsInstanceView v;
  const json& spec = Member(osinstance, "spec");
  const json& status = Member(osinstance, "status");
  v.nodestatus = StringOr(spec, "nodestatus");
  const json& owner = Member(spec, "namespacedname");
  if (owner.is_object() && (owner.contains("name") || owner.contains("namespace"))) {
    NamespacedName n{StringOr(owner, "namespace"), StringOr(owner, "name")};
    if (!n.name.empty()) v.owner = n;
  }
  v.spec_sysconfigs_version = StringOr(Member(spec, "sysconfigs"), "version");
  v.spec_upgradeconfigs_version = StringOr(Member(spec, "upgradeconfigs"), "version");
  v.status_sysconfigs_version = StringOr(Member(status, "sysconfigs"), "version");
  const std::string phase = StringOr(status, "phase");
  v.phase = phase == "Failed"     ? NodePhase::kFailed
            : phase == "FellBack" ? NodePhase::kFellBack
                                  : NodePhase::kOther;
  v.phase_target = StringOr(status, "targetVersion");
  v.message = StringOr(status, "message");
  return v;
}

NodeView NodeViewFromJson(const json& node, const json* osinstance) {
  NodeView n;
  const json& meta = Member(node, "metadata");
  n.name = StringOr(meta, "name");
  const json& labels = Member(meta, "labels");
  if (labels.is_object()) {
    for (const auto& [k, v] : labels.items()) n.labels[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  n.ready = false;
  const json& conditions = Member(Member(node, "status"), "conditions");
  if (conditions.is_array()) {
    for (const json& c : conditions) {
      if (StringOr(c, "type") == "Ready") n.ready = StringOr(c, "status") == "True";
    }
  }
  const json& unschedulable = Member(Member(node, "spec"), "unschedulable");
  n.unschedulable = unschedulable.is_boolean() && unschedulable.get<bool>();
  n.os_image = StringOr(Member(Member(node, "status"), "nodeInfo"), "osImage");
  if (osinstance != nullptr) n.instance = OsInstanceViewFromJson(*osinstance);
  return n;
}

StatusOr<ClusterSnapshot> BuildSnapshot(const json& os, const std::vector<JsonPtr>& all_os,
                                        const std::vector<JsonPtr>& nodes,
                                        const std::map<std::string, JsonPtr>& osinstances_by_node,
                                        const std::string& default_time_zone) {
  auto view = OsViewFromJson(os);
  if (!view.ok()) return view.status();
  ClusterSnapshot snap;
  snap.os = std::move(*view);
  snap.default_time_zone = default_time_zone;
  for (const JsonPtr& other : all_os) {
    const json& meta = Member(*other, "metadata");
    NamespacedName key{StringOr(meta, "namespace"), StringOr(meta, "name")};
    if (key == snap.os.key || !Member(meta, "deletionTimestamp").is_null()) continue;
    snap.others.push_back({key, StringOr(Member(*other, "spec"), "nodeselector", std::string(kNoLabel))});
  }
  snap.nodes.reserve(nodes.size());
  for (const JsonPtr& node : nodes) {
    const std::string name = StringOr(Member(*node, "metadata"), "name");
    auto it = osinstances_by_node.find(name);
    snap.nodes.push_back(
        NodeViewFromJson(*node, it == osinstances_by_node.end() ? nullptr : it->second.get()));
  }
  return snap;
}

}  // namespace kubeos::rollout
