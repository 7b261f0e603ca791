#include "sim/monitor.h"

#include "api/os.h"

namespace kubeos::sim {
namespace {

using nlohmann::json;

bool ConditionTrue(const json& obj, const std::string& type) {
  for (const json& c : obj.value("/status/conditions"_json_pointer, json::array())) {
    if (c.value("type", "") == type) return c.value("status", "") == "True";
  }
  return false;
}

bool OwnedByDaemonSet(const json& pod) {
  for (const json& o : pod.value("/metadata/ownerReferences"_json_pointer, json::array())) {
    if (o.value("kind", "") == "DaemonSet") return true;
  }
  return false;
}

std::string Str(const json& j, const json::json_pointer& p) {
  const json* v = j.contains(p) ? &j.at(p) : nullptr;
  return v != nullptr && v->is_string() ? v->get<std::string>() : "";
}

int64_t Int(const json& j, const json::json_pointer& p) {
  const json* v = j.contains(p) ? &j.at(p) : nullptr;
  return v != nullptr && v->is_number_integer() ? v->get<int64_t>() : 0;
}

}  // namespace

ClusterMonitor::ClusterMonitor(kube::Client& client, std::string os_ns, std::string os_name, std::string app,
                               int min_available)
    : client_(client),
      os_ns_(std::move(os_ns)),
      os_name_(std::move(os_name)),
      app_(std::move(app)),
      min_available_(min_available) {
  nodes_ = std::make_unique<kube::JsonInformer>(client,
                                                kube::ReflectorOptions{.resource = kube::Resource::Nodes()});
  instances_ = std::make_unique<kube::JsonInformer>(
      client, kube::ReflectorOptions{.resource = api::OsInstanceResource(), .ns = api::kOsInstanceNamespace});
  pods_ = std::make_unique<kube::JsonInformer>(client,
                                               kube::ReflectorOptions{.resource = kube::Resource::Pods()});
  os_ = std::make_unique<kube::JsonInformer>(
      client, kube::ReflectorOptions{.resource = api::OsResource(), .ns = os_ns_});
}

void ClusterMonitor::MarkDirty() {
  {
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

Status ClusterMonitor::Start() {
  for (auto* inf : {nodes_.get(), instances_.get(), pods_.get(), os_.get()}) {
    inf->AddHandlers({.on_add = [this](const auto&) { MarkDirty(); },
                      .on_update = [this](const auto&, const auto&) { MarkDirty(); },
                      .on_delete = [this](const auto&) { MarkDirty(); }});
    inf->Start();
  }
  for (auto* inf : {nodes_.get(), instances_.get(), pods_.get(), os_.get()}) {
    if (!inf->WaitForSync(std::chrono::seconds(30)))
      return DeadlineExceededError("monitor: informers did not sync");
  }
  return Status::Ok();
}

void ClusterMonitor::Stop() {
  for (auto* inf : {nodes_.get(), instances_.get(), pods_.get(), os_.get()}) {
    if (inf != nullptr) inf->Stop();
  }
}

ClusterView ClusterMonitor::WaitForChange(std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return dirty_; });
    dirty_ = false;
  }
  return Snapshot();
}

namespace {

// The node part of a view: Nodes joined with their OSInstances (default/<node>).
template <typename Nodes, typename Instances>
void FillNodes(ClusterView& v, const Nodes& nodes, const Instances& instances) {
  for (const auto& n : nodes) {
    const json& j = *n;
    NodeView nv;
    nv.ready = ConditionTrue(j, "Ready");
    nv.unschedulable = j.value("/spec/unschedulable"_json_pointer, false);
    nv.os_image = Str(j, "/status/nodeInfo/osImage"_json_pointer);
    const json labels = j.value("/metadata/labels"_json_pointer, json::object());
    nv.working = labels.contains(api::kUpgradingLabel) || labels.contains(api::kConfiguringLabel);
    v.nodes[Str(j, "/metadata/name"_json_pointer)] = std::move(nv);
  }
  for (const auto& i : instances) {
    const json& j = *i;
    auto it = v.nodes.find(Str(j, "/metadata/name"_json_pointer));
    if (it == v.nodes.end()) continue;
    std::string ns = Str(j, "/spec/nodestatus"_json_pointer);
    if (!ns.empty() && ns != api::kNodeStatusIdle) it->second.working = true;
    it->second.phase = Str(j, "/status/phase"_json_pointer);
    it->second.message = Str(j, "/status/message"_json_pointer);
  }
}

std::vector<const json*> Items(const json& list) {
  std::vector<const json*> out;
  for (const json& item : list.value("items", json::array())) out.push_back(&item);
  return out;
}

}  // namespace

StatusOr<ClusterView> ClusterMonitor::QuorumSnapshot() const {
  KUBEOS_ASSIGN_OR_RETURN(json nodes, client_.ListAll(kube::Resource::Nodes(), ""));
  KUBEOS_ASSIGN_OR_RETURN(json instances,
                          client_.ListAll(api::OsInstanceResource(), api::kOsInstanceNamespace));
  ClusterView cached = Snapshot();
  ClusterView v = cached;
  v.nodes.clear();
  FillNodes(v, Items(nodes), Items(instances));
  for (auto& [name, n] : v.nodes) {  // pods come from the cache
    if (auto it = cached.nodes.find(name); it != cached.nodes.end()) n.pods = it->second.pods;
  }
  return v;
}

ClusterView ClusterMonitor::Snapshot() const {
  ClusterView v;
  v.min_available = min_available_;
  FillNodes(v, nodes_->store().List(), instances_->store().List());
  for (const auto& p : pods_->store().List()) {
    const json& j = *p;
    if (j.contains("/metadata/deletionTimestamp"_json_pointer)) continue;
    std::string node = Str(j, "/spec/nodeName"_json_pointer);
    if (!OwnedByDaemonSet(j)) {
      auto it = v.nodes.find(node);
      if (it != v.nodes.end()) {
        it->second.pods.insert(Str(j, "/metadata/namespace"_json_pointer) + "/" +
                               Str(j, "/metadata/name"_json_pointer));
      }
    }
    if (Str(j, "/metadata/labels/app"_json_pointer) == app_ && ConditionTrue(j, "Ready")) v.ready_replicas++;
  }
  if (auto os = os_->store().Get(os_ns_ + "/" + os_name_)) {
    const json& j = *os;
    OsView& o = v.os;
    o.exists = true;
    o.target = Str(j, "/spec/osversion"_json_pointer);
    o.opstype = Str(j, "/spec/opstype"_json_pointer);
    o.rollout = Str(j, "/status/rollout"_json_pointer);
    o.updated = Int(j, "/status/updated"_json_pointer);
    o.total = Int(j, "/status/total"_json_pointer);
    o.in_progress = Int(j, "/status/inProgress"_json_pointer);
    o.failed = Int(j, "/status/failed"_json_pointer);
    for (const json& c : j.value("/status/conditions"_json_pointer, json::array())) {
      std::string type = c.value("type", "");
      std::string status = c.value("status", "");
      if ((type == "Degraded" && status == "True") || (type == "Progressing" && status == "False")) {
        o.reason = c.value("reason", "");
        o.message = c.value("message", "");
        if (type == "Degraded") break;
      }
    }
    for (const json& b : j.value("/status/badVersions"_json_pointer, json::array())) {
      o.bad_versions.push_back(b.value("version", ""));
    }
    if (Int(j, "/status/observedGeneration"_json_pointer) != Int(j, "/metadata/generation"_json_pointer)) {
      // The status still describes an earlier spec (e.g. the previous target): not this rollout's state.
      o.rollout = "Pending";
      o.reason.clear();
      o.message.clear();
    }
  }
  return v;
}

}  // namespace kubeos::sim
