#include "standin.h"

#include <fmt/format.h>

#include "api/os.h"
#include "sim/node_status.h"

namespace kubeos::sim {

using nlohmann::json;

NodeStandIn::NodeStandIn(kube::Client& client, std::vector<std::string> nodes, std::string target,
                         std::chrono::milliseconds work, int writers)
    : client_(client), nodes_(std::move(nodes)), target_(std::move(target)), work_(work), writers_(writers) {}

Status NodeStandIn::Start() {
  for (const std::string& n : nodes_) {
    json osi = {{"apiVersion", api::kApiVersion},
                {"kind", "OSInstance"},
                {"metadata",
                 {{"name", n},
                  {"namespace", api::kOsInstanceNamespace},
                  {"labels", {{api::kOsInstanceNodeLabel, n}}}}},
                {"spec", {{"nodestatus", api::kNodeStatusIdle}}}};
    KUBEOS_RETURN_IF_ERROR(
        client_.Create(api::OsInstanceResource(), api::kOsInstanceNamespace, osi).status());
  }
  instances_ = std::make_unique<kube::JsonInformer>(
      client_,
      kube::ReflectorOptions{.resource = api::OsInstanceResource(), .ns = api::kOsInstanceNamespace});
  instances_->AddHandlers({.on_add = [this](const auto& o) { OnInstance(*o); },
                           .on_update = [this](const auto&, const auto& o) { OnInstance(*o); }});
  instances_->Start();
  for (int i = 0; i < writers_; ++i) threads_.emplace_back([this](const std::stop_token& st) { Writer(st); });
  return Status::Ok();
}

void NodeStandIn::Stop() {
  if (instances_) instances_->Stop();
  for (auto& t : threads_) t.request_stop();
  cv_.notify_all();
  threads_.clear();
}

void NodeStandIn::OnInstance(const json& osi) {
  std::string status = osi.value("/spec/nodestatus"_json_pointer, std::string());
  std::string name = osi.value("/metadata/name"_json_pointer, std::string());
  int64_t gen = osi.value("/metadata/generation"_json_pointer, int64_t{0});
  if (status != api::kNodeStatusUpgrade) return;
  std::lock_guard lock(mu_);
  if (gen <= scheduled_gen_[name]) return;
  scheduled_gen_[name] = gen;
  due_.emplace_back(std::chrono::steady_clock::now() + work_, name);
  cv_.notify_one();
}

Status NodeStandIn::Finish(const std::string& node) {
  auto count = [&](Status s) {
    writes_++;
    return s;
  };
  KUBEOS_RETURN_IF_ERROR(count(client_
                                   .Patch(kube::Resource::Nodes(), "", node, kube::PatchType::kStrategicMerge,
                                          {{"status", {{"nodeInfo", {{"osImage", target_}}}}}}, "status")
                                   .status()));
  KUBEOS_RETURN_IF_ERROR(
      count(client_
                .Patch(api::OsInstanceResource(), api::kOsInstanceNamespace, node, kube::PatchType::kMerge,
                       {{"status", {{"phase", "Succeeded"}, {"targetVersion", target_}}}}, "status")
                .status()));
  KUBEOS_RETURN_IF_ERROR(count(client_
                                   .Patch(kube::Resource::Nodes(), "", node, kube::PatchType::kMerge,
                                          {{"metadata", {{"labels", {{api::kUpgradingLabel, nullptr}}}}}})
                                   .status()));
  return count(client_
                   .Patch(api::OsInstanceResource(), api::kOsInstanceNamespace, node, kube::PatchType::kMerge,
                          {{"spec", {{"nodestatus", api::kNodeStatusIdle}, {"namespacedname", nullptr}}}})
                   .status());
}

void NodeStandIn::Writer(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    std::string node;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, stop, [&] { return !due_.empty(); });
      if (stop.stop_requested()) return;
      auto [at, n] = due_.front();
      if (at > std::chrono::steady_clock::now()) {
        cv_.wait_until(lock, stop, at, [] { return false; });
        continue;
      }
      due_.pop_front();
      node = n;
    }
    if (Finish(node).ok()) {
      completed_++;
    } else {
      errors_++;
    }
  }
}

}  // namespace kubeos::sim
