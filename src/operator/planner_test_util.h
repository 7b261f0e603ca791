// Builders for planner tests (STYLE 38: test objects from builders, not literals). Test-only.
#pragma once

#include <string>
#include <utility>

#include "operator/model.h"
#include "operator/status_json.h"

namespace kubeos::rollout::testing {

inline Time T(const char* rfc3339) { return ParseRfc3339(rfc3339).value_or(Time{}); }

class NodeBuilder {
 public:
  explicit NodeBuilder(std::string name) {
    n_.name = std::move(name);
    n_.os_image = "KubeOS v1";
    n_.instance = OsInstanceView{.nodestatus = "idle"};
  }
  NodeBuilder& Label(const std::string& k, const std::string& v = "") {
    n_.labels[k] = v;
    return *this;
  }
  NodeBuilder& Selector(const std::string& v) { return Label(std::string(kNodeSelectorLabel), v); }
  NodeBuilder& ControlPlane() { return Label(std::string(kControlPlaneLabel)); }
  NodeBuilder& NotReady() {
    n_.ready = false;
    return *this;
  }
  NodeBuilder& Unschedulable() {
    n_.unschedulable = true;
    return *this;
  }
  NodeBuilder& OsImage(std::string v) {
    n_.os_image = std::move(v);
    return *this;
  }
  NodeBuilder& NoInstance() {
    n_.instance.reset();
    return *this;
  }
  // Working on an operation for `owner`: nodestatus and the matching label, as os-operator leaves them.
  NodeBuilder& Busy(const NamespacedName& owner, std::string nodestatus = "upgrade") {
    n_.instance->owner = owner;
    Label(std::string(nodestatus == "config" ? kConfiguringLabel : kUpgradingLabel));
    n_.instance->nodestatus = std::move(nodestatus);
    return *this;
  }
  NodeBuilder& Failed(std::string target, std::string message = "", NodePhase phase = NodePhase::kFailed) {
    n_.instance->phase = phase;
    n_.instance->phase_target = std::move(target);
    n_.instance->message = std::move(message);
    return *this;
  }
  NodeBuilder& SysConfigs(std::string spec_version, std::string status_version) {
    n_.instance->spec_sysconfigs_version = std::move(spec_version);
    n_.instance->status_sysconfigs_version = std::move(status_version);
    return *this;
  }
  NodeBuilder& UpgradeConfigs(std::string spec_version) {
    n_.instance->spec_upgradeconfigs_version = std::move(spec_version);
    return *this;
  }
  NodeView Build() const { return n_; }
  operator NodeView() const { return n_; }  // NOLINT(google-explicit-constructor): brace lists in tests

 private:
  NodeView n_;
};

inline const NamespacedName kOsKey{"default", "os-sample"};

inline OsView UpgradeOs(std::string version = "KubeOS v2", std::int64_t maxunavailable = 2) {
  OsView os;
  os.key = kOsKey;
  os.generation = 3;
  os.spec.opstype = "upgrade";
  os.spec.osversion = std::move(version);
  os.spec.executionmode = "parallel";
  os.spec.maxunavailable = {maxunavailable, false};
  return os;
}

}  // namespace kubeos::rollout::testing
