// Typed OS and OSInstance objects of upgrade.openeuler.org/v1alpha1, with the exact JSON names of the
// original KubeOS CRDs (shared/reference/kubeos-original-behaviour.md §1 and §9).
//
// Decoding keeps what it does not know: every struct carries `unknown`, the JSON members it did not
// recognise, and encoding writes them back, so a read-modify-write by an older binary never drops fields a
// newer CRD added. Optional fields are std::optional so that "absent" survives a round trip (absent and ""
// differ for sysconfigs.version). Fields the CRD marks required are plain values and must be present to
// decode. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "kube/resource.h"

namespace kubeos::api {

inline constexpr const char* kGroup = "upgrade.openeuler.org";
inline constexpr const char* kVersion = "v1alpha1";
inline constexpr const char* kApiVersion = "upgrade.openeuler.org/v1alpha1";

kube::Resource OsResource();          // plural "os", namespaced
kube::Resource OsInstanceResource();  // plural "osinstances", namespaced

// Labels and values of the compatibility surface (§9).
inline constexpr const char* kOsInstanceNodeLabel = "upgrade.openeuler.org/osinstance-node";
inline constexpr const char* kUpgradingLabel = "upgrade.openeuler.org/upgrading";
inline constexpr const char* kConfiguringLabel = "upgrade.openeuler.org/configuring";
inline constexpr const char* kSerialLabel = "upgrade.openeuler.org/serial";
inline constexpr const char* kNodeSelectorLabel = "upgrade.openeuler.org/node-selector";
inline constexpr const char* kOsInstanceNamespace = "default";  // OSInstances always live here
inline constexpr const char* kNodeStatusIdle = "idle";
inline constexpr const char* kNodeStatusUpgrade = "upgrade";  // also used for rollback
inline constexpr const char* kNodeStatusConfig = "config";

struct Content {
  std::optional<std::string> key;
  std::optional<nlohmann::json> value;   // any JSON (x-kubernetes-preserve-unknown-fields)
  std::optional<std::string> operation;  // the agent recognises only "delete"
  nlohmann::json unknown = nlohmann::json::object();
  bool operator==(const Content&) const = default;
};

struct SysConfig {
  std::optional<std::string> model;
  std::optional<std::string> configpath;
  std::optional<std::vector<Content>> contents;
  nlohmann::json unknown = nlohmann::json::object();
  bool operator==(const SysConfig&) const = default;
};

struct SysConfigs {
  std::optional<std::string> version;
  std::optional<std::vector<SysConfig>> configs;
  nlohmann::json unknown = nlohmann::json::object();
  bool operator==(const SysConfigs&) const = default;
};

struct TimeWindow {
  std::string starttime;
  std::string endtime;
  nlohmann::json unknown = nlohmann::json::object();
  bool operator==(const TimeWindow&) const = default;
};

struct OSSpec {
  // Required by the CRD.
  std::string osversion;
  std::string imageurl;
  int64_t maxunavailable = 0;
  std::string checksum;
  bool flag_safe = false;  // JSON "flagSafe"
  bool mtls = false;
  std::string imagetype;  // docker | disk | containerd
  std::string containerimage;
  std::string opstype;  // upgrade | config | rollback
  bool evictpodforce = false;
  // Optional.
  std::optional<std::string> cacert;
  std::optional<std::string> clientcert;
  std::optional<std::string> clientkey;
  std::optional<SysConfigs> sysconfigs;
  std::optional<SysConfigs> upgradeconfigs;
  std::optional<std::string> nodeselector;  // default "no-label"; special "all-label"
  std::optional<TimeWindow> timewindow;
  std::optional<int64_t> timeinterval;       // default 15 (seconds)
  std::optional<std::string> executionmode;  // serial | parallel (default)
  nlohmann::json unknown = nlohmann::json::object();
  bool operator==(const OSSpec&) const = default;

  // Effective values with the CRD defaults applied.
  std::string NodeSelectorOrDefault() const { return nodeselector.value_or("no-label"); }
  int64_t TimeIntervalOrDefault() const { return timeinterval.value_or(15); }
  std::string ExecutionModeOrDefault() const { return executionmode.value_or("parallel"); }
};

struct OS {
  nlohmann::json metadata = nlohmann::json::object();  // ObjectMeta, kept whole
  OSSpec spec;
  std::optional<nlohmann::json> status;  // the CRD declares no status fields
  nlohmann::json unknown = nlohmann::json::object();
  bool operator==(const OS&) const = default;
};

struct NamespacedName {
  std::optional<std::string> name;
  std::optional<std::string> namespace_;  // JSON "namespace"
  nlohmann::json unknown = nlohmann::json::object();
  bool operator==(const NamespacedName&) const = default;
};

struct OSInstanceSpec {
  std::optional<std::string> nodestatus;         // idle | upgrade | config; written by operator and proxy
  std::optional<NamespacedName> namespacedname;  // writer: operator sets, proxy clears
  std::optional<SysConfigs> sysconfigs;          // writer: operator
  std::optional<SysConfigs> upgradeconfigs;      // writer: operator
  nlohmann::json unknown = nlohmann::json::object();
  bool operator==(const OSInstanceSpec&) const = default;
};

struct OSInstanceStatus {
  std::optional<SysConfigs> sysconfigs;      // writer: proxy (status subresource)
  std::optional<SysConfigs> upgradeconfigs;  // writer: proxy (status subresource)
  nlohmann::json unknown = nlohmann::json::object();
  bool operator==(const OSInstanceStatus&) const = default;
};

struct OSInstance {
  nlohmann::json metadata = nlohmann::json::object();
  OSInstanceSpec spec;
  std::optional<OSInstanceStatus> status;
  nlohmann::json unknown = nlohmann::json::object();
  bool operator==(const OSInstance&) const = default;
};

// Decoding: kInvalidArgument naming the field when the JSON does not match the schema.
StatusOr<OS> OsFromJson(const nlohmann::json& j);
StatusOr<OSInstance> OsInstanceFromJson(const nlohmann::json& j);
StatusOr<SysConfigs> SysConfigsFromJson(const nlohmann::json& j);
// Encoding always writes apiVersion and kind.
nlohmann::json ToJson(const OS& os);
nlohmann::json ToJson(const OSInstance& osi);
nlohmann::json ToJson(const SysConfigs& s);

// Metadata accessors ("" when absent).
std::string Name(const nlohmann::json& metadata);
std::string Namespace(const nlohmann::json& metadata);
std::string ResourceVersion(const nlohmann::json& metadata);
int64_t Generation(const nlohmann::json& metadata);

}  // namespace kubeos::api
