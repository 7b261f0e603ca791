#include "api/os.h"

#include <set>

namespace kubeos::api {
namespace {

using nlohmann::json;

// Reads the members of one JSON object, remembering which names it consumed; the rest are `unknown`.
class Reader {
 public:
  Reader(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j.is_object()) error_ = path_ + ": expected an object";
  }

  template <typename T>
  void Required(const char* name, T& out) {
    const json* v = Find(name);
    if (v == nullptr) {
      Fail(std::string(name) + ": required field is missing");
      return;
    }
    Convert(name, *v, out);
  }
  template <typename T>
  void Optional(const char* name, std::optional<T>& out) {
    const json* v = Find(name);
    if (v == nullptr || v->is_null()) return;
    T t{};
    Convert(name, *v, t);
    out = std::move(t);
  }
  template <typename T, typename F>
  void OptionalWith(const char* name, std::optional<T>& out, F decode) {
    const json* v = Find(name);
    if (v == nullptr || v->is_null()) return;
    auto t = decode(*v, path_ + "." + name);
    if (!t.ok()) {
      if (error_.empty()) error_ = t.status().message();
      return;
    }
    out = std::move(*t);
  }
  template <typename T, typename F>
  void OptionalList(const char* name, std::optional<std::vector<T>>& out, F decode) {
    const json* v = Find(name);
    if (v == nullptr || v->is_null()) return;
    if (!v->is_array()) {
      Fail(std::string(name) + ": expected a list");
      return;
    }
    std::vector<T> items;
    for (size_t i = 0; i < v->size(); ++i) {
      auto t = decode((*v)[i], path_ + "." + name + "[" + std::to_string(i) + "]");
      if (!t.ok()) {
        if (error_.empty()) error_ = t.status().message();
        return;
      }
      items.push_back(std::move(*t));
    }
    out = std::move(items);
  }
  const json* Find(const char* name) {
    seen_.insert(name);
    if (!j_.is_object()) return nullptr;
    auto it = j_.find(name);
    return it == j_.end() ? nullptr : &*it;
  }
  json Unknown() const {
    json u = json::object();
    if (!j_.is_object()) return u;
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (seen_.count(it.key()) == 0) u[it.key()] = it.value();
    }
    return u;
  }
  Status status() const { return error_.empty() ? Status::Ok() : InvalidArgumentError(error_); }

 private:
  void Fail(const std::string& what) {
    if (error_.empty()) error_ = path_ + "." + what;
  }
  void Convert(const char* name, const json& v, std::string& out) {
    if (!v.is_string()) return Fail(std::string(name) + ": expected a string");
    out = v.get<std::string>();
  }
  void Convert(const char* name, const json& v, bool& out) {
    if (!v.is_boolean()) return Fail(std::string(name) + ": expected a boolean");
    out = v.get<bool>();
  }
  void Convert(const char* name, const json& v, int64_t& out) {
    if (!v.is_number_integer()) return Fail(std::string(name) + ": expected an integer");
    out = v.get<int64_t>();
  }
  void Convert(const char* /*name*/, const json& v, json& out) { out = v; }

  const json& j_;
  std::string path_;
  std::set<std::string> seen_;
  std::string error_;
};

template <typename T>
void Put(json& j, const char* name, const std::optional<T>& v) {
  if (v) j[name] = *v;
}

StatusOr<Content> DecodeContent(const json& j, const std::string& path) {
  Reader r(j, path);
  Content c;
  r.Optional("key", c.key);
  if (const json* v = r.Find("value"); v != nullptr && !v->is_null()) c.value = *v;
  r.Optional("operation", c.operation);
  KUBEOS_RETURN_IF_ERROR(r.status());
  c.unknown = r.Unknown();
  return c;
}

json EncodeContent(const Content& c) {
  json j = c.unknown;
  Put(j, "key", c.key);
  Put(j, "value", c.value);
  Put(j, "operation", c.operation);
  return j;
}

StatusOr<SysConfig> DecodeSysConfig(const json& j, const std::string& path) {
  Reader r(j, path);
  SysConfig s;
  r.Optional("model", s.model);
  r.Optional("configpath", s.configpath);
  r.OptionalList("contents", s.contents, DecodeContent);
  KUBEOS_RETURN_IF_ERROR(r.status());
  s.unknown = r.Unknown();
  return s;
}

json EncodeSysConfig(const SysConfig& s) {
  json j = s.unknown;
  Put(j, "model", s.model);
  Put(j, "configpath", s.configpath);
  if (s.contents) {
    json a = json::array();
    for (const auto& c : *s.contents) a.push_back(EncodeContent(c));
    j["contents"] = std::move(a);
  }
  return j;
}

StatusOr<SysConfigs> DecodeSysConfigs(const json& j, const std::string& path) {
  Reader r(j, path);
  SysConfigs s;
  r.Optional("version", s.version);
  r.OptionalList("configs", s.configs, DecodeSysConfig);
  KUBEOS_RETURN_IF_ERROR(r.status());
  s.unknown = r.Unknown();
  return s;
}

StatusOr<TimeWindow> DecodeTimeWindow(const json& j, const std::string& path) {
  Reader r(j, path);
  TimeWindow t;
  r.Required("starttime", t.starttime);
  r.Required("endtime", t.endtime);
  KUBEOS_RETURN_IF_ERROR(r.status());
  t.unknown = r.Unknown();
  return t;
}

StatusOr<NamespacedName> DecodeNamespacedName(const json& j, const std::string& path) {
  Reader r(j, path);
  NamespacedName n;
  r.Optional("name", n.name);
  r.Optional("namespace", n.namespace_);
  KUBEOS_RETURN_IF_ERROR(r.status());
  n.unknown = r.Unknown();
  return n;
}

StatusOr<OSInstanceStatus> DecodeOsInstanceStatus(const json& j, const std::string& path) {
  Reader r(j, path);
  OSInstanceStatus s;
  r.OptionalWith("sysconfigs", s.sysconfigs, DecodeSysConfigs);
  r.OptionalWith("upgradeconfigs", s.upgradeconfigs, DecodeSysConfigs);
  KUBEOS_RETURN_IF_ERROR(r.status());
  s.unknown = r.Unknown();
  return s;
}

// apiVersion and kind are re-written on encode; they are consumed here so they are not kept as unknown.
void ReadTypeMeta(Reader& r) {
  (void)r.Find("apiVersion");
  (void)r.Find("kind");
}

std::string What(const json& j, const char* kind) {
  std::string name = j.is_object() ? j.value("/metadata/name"_json_pointer, std::string()) : "";
  return std::string(kind) + (name.empty() ? "" : " " + name);
}

}  // namespace

kube::Resource OsResource() { return {kGroup, kVersion, "os", true}; }
kube::Resource OsInstanceResource() { return {kGroup, kVersion, "osinstances", true}; }

StatusOr<SysConfigs> SysConfigsFromJson(const json& j) { return DecodeSysConfigs(j, "sysconfigs"); }

json ToJson(const SysConfigs& s) {
  json j = s.unknown;
  Put(j, "version", s.version);
  if (s.configs) {
    json a = json::array();
    for (const auto& c : *s.configs) a.push_back(EncodeSysConfig(c));
    j["configs"] = std::move(a);
  }
  return j;
}

StatusOr<OS> OsFromJson(const json& j) {
  Reader r(j, What(j, "OS"));
  OS os;
  ReadTypeMeta(r);
  if (const json* m = r.Find("metadata"); m != nullptr) os.metadata = *m;
  r.Optional("status", os.status);
  const json* spec = r.Find("spec");
  KUBEOS_RETURN_IF_ERROR(r.status());
  if (spec == nullptr) return InvalidArgumentError(What(j, "OS") + ": spec is missing");
  Reader s(*spec, What(j, "OS") + ": spec");
  OSSpec& o = os.spec;
  s.Required("osversion", o.osversion);
  s.Required("imageurl", o.imageurl);
  s.Required("maxunavailable", o.maxunavailable);
  s.Required("checksum", o.checksum);
  s.Required("flagSafe", o.flag_safe);
  s.Required("mtls", o.mtls);
  s.Required("imagetype", o.imagetype);
  s.Required("containerimage", o.containerimage);
  s.Required("opstype", o.opstype);
  s.Required("evictpodforce", o.evictpodforce);
  s.Optional("cacert", o.cacert);
  s.Optional("clientcert", o.clientcert);
  s.Optional("clientkey", o.clientkey);
  s.OptionalWith("sysconfigs", o.sysconfigs, DecodeSysConfigs);
  s.OptionalWith("upgradeconfigs", o.upgradeconfigs, DecodeSysConfigs);
  s.Optional("nodeselector", o.nodeselector);
  s.OptionalWith("timewindow", o.timewindow, DecodeTimeWindow);
  s.Optional("timeinterval", o.timeinterval);
  s.Optional("executionmode", o.executionmode);
  KUBEOS_RETURN_IF_ERROR(s.status());
  o.unknown = s.Unknown();
  os.unknown = r.Unknown();
  return os;
}

json ToJson(const OS& os) {
  json j = os.unknown;
  j["apiVersion"] = kApiVersion;
  j["kind"] = "OS";
  j["metadata"] = os.metadata;
  const OSSpec& o = os.spec;
  json s = o.unknown;
  s["osversion"] = o.osversion;
  s["imageurl"] = o.imageurl;
  s["maxunavailable"] = o.maxunavailable;
  s["checksum"] = o.checksum;
  s["flagSafe"] = o.flag_safe;
  s["mtls"] = o.mtls;
  s["imagetype"] = o.imagetype;
  s["containerimage"] = o.containerimage;
  s["opstype"] = o.opstype;
  s["evictpodforce"] = o.evictpodforce;
  Put(s, "cacert", o.cacert);
  Put(s, "clientcert", o.clientcert);
  Put(s, "clientkey", o.clientkey);
  if (o.sysconfigs) s["sysconfigs"] = ToJson(*o.sysconfigs);
  if (o.upgradeconfigs) s["upgradeconfigs"] = ToJson(*o.upgradeconfigs);
  Put(s, "nodeselector", o.nodeselector);
  if (o.timewindow) {
    json t = o.timewindow->unknown;
    t["starttime"] = o.timewindow->starttime;
    t["endtime"] = o.timewindow->endtime;
    s["timewindow"] = std::move(t);
  }
  Put(s, "timeinterval", o.timeinterval);
  Put(s, "executionmode", o.executionmode);
  j["spec"] = std::move(s);
  Put(j, "status", os.status);
  return j;
}

StatusOr<OSInstance> OsInstanceFromJson(const json& j) {
  const std::string what = What(j, "OSInstance");
  Reader r(j, what);
  OSInstance osi;
  ReadTypeMeta(r);
  if (const json* m = r.Find("metadata"); m != nullptr) osi.metadata = *m;
  r.OptionalWith("status", osi.status, DecodeOsInstanceStatus);
  const json* spec = r.Find("spec");
  KUBEOS_RETURN_IF_ERROR(r.status());
  if (spec != nullptr && !spec->is_null()) {
    Reader s(*spec, what + ": spec");
    OSInstanceSpec& o = osi.spec;
    s.Optional("nodestatus", o.nodestatus);
    s.OptionalWith("namespacedname", o.namespacedname, DecodeNamespacedName);
    s.OptionalWith("sysconfigs", o.sysconfigs, DecodeSysConfigs);
    s.OptionalWith("upgradeconfigs", o.upgradeconfigs, DecodeSysConfigs);
    KUBEOS_RETURN_IF_ERROR(s.status());
    o.unknown = s.Unknown();
  }
  osi.unknown = r.Unknown();
  return osi;
}

json ToJson(const OSInstance& osi) {
  json j = osi.unknown;
  j["apiVersion"] = kApiVersion;
  j["kind"] = "OSInstance";
  j["metadata"] = osi.metadata;
  const OSInstanceSpec& o = osi.spec;
  json s = o.unknown;
  Put(s, "nodestatus", o.nodestatus);
  if (o.namespacedname) {
    json n = o.namespacedname->unknown;
    Put(n, "name", o.namespacedname->name);
    Put(n, "namespace", o.namespacedname->namespace_);
    s["namespacedname"] = std::move(n);
  }
  if (o.sysconfigs) s["sysconfigs"] = ToJson(*o.sysconfigs);
  if (o.upgradeconfigs) s["upgradeconfigs"] = ToJson(*o.upgradeconfigs);
  j["spec"] = std::move(s);
  if (osi.status) {
    json st = osi.status->unknown;
    if (osi.status->sysconfigs) st["sysconfigs"] = ToJson(*osi.status->sysconfigs);
    if (osi.status->upgradeconfigs) st["upgradeconfigs"] = ToJson(*osi.status->upgradeconfigs);
    j["status"] = std::move(st);
  }
  return j;
}

std::string Name(const json& m) { return m.is_object() ? m.value("name", std::string()) : ""; }
std::string Namespace(const json& m) { return m.is_object() ? m.value("namespace", std::string()) : ""; }
std::string ResourceVersion(const json& m) {
  return m.is_object() ? m.value("resourceVersion", std::string()) : "";
}
int64_t Generation(const json& m) {
  if (!m.is_object()) return 0;
  auto it = m.find("generation");
  return it != m.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace kubeos::api
