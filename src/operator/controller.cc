#include "operator/controller.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "api/os.h"
#include "common/log.h"
#include "operator/planner.h"
#include "operator/snapshot.h"
#include "operator/status_json.h"
#include "operator/writes.h"

namespace kubeos::rollout {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kOsPrefix = "os:";
constexpr std::string_view kGcPrefix = "gc:";
constexpr const char* kNodeIndex = "node";  // OSInstances by label upgrade.openeuler.org/osinstance-node
// A resync already scheduled this close to the wanted time is good enough (avoids piling up timers).
constexpr std::chrono::milliseconds kResyncSlack{500};

std::string Name(const json& o) { return o.value("/metadata/name"_json_pointer, std::string()); }

json WithKind(json o, const char* kind) {
  o["apiVersion"] = api::kApiVersion;
  o["kind"] = kind;
  return o;
}

}  // namespace

Controller::Controller(kube::Client& client, kube::Client& event_client, ControllerOptions options,
                       Metrics& metrics)
    : client_(client),
      options_(std::move(options)),
      metrics_(metrics),
      recorder_(event_client, "os-operator", options_.event_host) {
  os_ = std::make_unique<kube::JsonInformer>(client_, kube::ReflectorOptions{.resource = api::OsResource()});
  osinstances_ = std::make_unique<kube::JsonInformer>(
      client_, kube::ReflectorOptions{.resource = api::OsInstanceResource()});
  nodes_ = std::make_unique<kube::JsonInformer>(client_,
                                                kube::ReflectorOptions{.resource = kube::Resource::Nodes()});
  osinstances_->store().AddIndexer(kNodeIndex, kube::LabelIndexer(api::kOsInstanceNodeLabel));

  using Ptr = kube::Informer<json>::Ptr;
  using Deleted = kube::Informer<json>::Deleted;
  os_->AddHandlers({
      .on_add = [this](const Ptr&) { EnqueueAllOs(); },
      .on_update =
          [this](const Ptr& old_obj, const Ptr& new_obj) {
            if (OsSelectorChanged(*old_obj, *new_obj)) {
              EnqueueAllOs();
            } else {
              queue_.Add(std::string(kOsPrefix) + kube::ObjectKey(*new_obj));
            }
          },
      .on_delete =
          [this](const Deleted& d) {
            queue_.Add(std::string(kOsPrefix) + d.key);
            EnqueueAllOs();
          },
  });
  osinstances_->AddHandlers({
      .on_add = [this](const Ptr&) { EnqueueAllOs(); },
      .on_update = [this](const Ptr&, const Ptr&) { EnqueueAllOs(); },
      .on_delete = [this](const Deleted&) { EnqueueAllOs(); },
  });
  nodes_->AddHandlers({
      .on_add = [this](const Ptr&) { EnqueueAllOs(); },
      .on_update =
          [this](const Ptr& old_obj, const Ptr& new_obj) {
            if (NodeChangeMatters(*old_obj, *new_obj)) EnqueueAllOs();
          },
      .on_delete =
          [this](const Deleted& d) {
            queue_.Add(std::string(kGcPrefix) + d.key);
            EnqueueAllOs();
          },
  });
}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  if (!event_thread_.joinable()) {
    event_thread_ = std::jthread([this](const std::stop_token& st) { SendEvents(st); });
  }
  os_->Start();
  osinstances_->Start();
  nodes_->Start();
}

void Controller::Stop() {
  queue_.ShutDown();
  if (event_thread_.joinable()) {
    event_thread_.request_stop();
    event_thread_.join();
  }
  os_->Stop();
  osinstances_->Stop();
  nodes_->Stop();
}

bool Controller::Synced() const {
  return os_->HasSynced() && osinstances_->HasSynced() && nodes_->HasSynced();
}

bool Controller::WaitForSync(std::chrono::milliseconds timeout, const std::stop_token& stop) {
  const auto deadline = Clock::now() + timeout;
  for (auto* inf : {os_.get(), osinstances_.get(), nodes_.get()}) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || !inf->WaitForSync(left, stop)) return Synced();
  }
  return Synced();
}

void Controller::EnqueueAllOs() {
  for (const std::string& key : os_->store().ListKeys()) queue_.Add(std::string(kOsPrefix) + key);
}

kube::Informer<json>::Ptr Controller::Resolve(const std::string& kind, const std::string& key) const {
  kube::JsonInformer* inf = kind == "os"            ? os_.get()
                            : kind == "osinstances" ? osinstances_.get()
                                                    : nodes_.get();
  return overlay_.Resolve(kind + "/" + key, inf->store().Get(key));
}

Status Controller::SeedFromQuorumRead() {
  overlay_.Clear();
  const std::pair<const char*, kube::Resource> kinds[] = {{"os", api::OsResource()},
                                                          {"osinstances", api::OsInstanceResource()},
                                                          {"nodes", kube::Resource::Nodes()}};
  std::set<std::string> node_names;
  std::vector<json> instances;
  for (const auto& [kind, resource] : kinds) {
    auto list = client_.ListAll(resource, "");  // resourceVersion "": a quorum read, newer than any cache
    if (!list.ok()) return list.status().WithContext(std::string("list ") + kind);
    for (json& item : (*list)["items"]) {
      const std::string key = kube::ObjectKey(item);
      if (std::string_view(kind) == "nodes") node_names.insert(key);
      if (std::string_view(kind) == "osinstances") instances.push_back(item);
      overlay_.Record(std::string(kind) + "/" + key, std::move(item));
    }
  }
  // OSInstances whose Node went away while no replica was planning.
  std::set<std::string> orphaned;
  for (const json& osi : instances) {
    const json& labels = osi.value("/metadata/labels"_json_pointer, json::object());
    auto it = labels.find(api::kOsInstanceNodeLabel);
    if (it != labels.end() && it->is_string() && node_names.count(it->get<std::string>()) == 0) {
      orphaned.insert(it->get<std::string>());
    }
  }
  for (const std::string& node : orphaned) queue_.Add(std::string(kGcPrefix) + node);
  return {};
}

Status Controller::RunWorker(const std::stop_token& stop) {
  while (!WaitForSync(std::chrono::seconds(1), stop)) {
    if (stop.stop_requested()) return {};
  }
  constexpr std::chrono::seconds kSeedRetry{1};
  while (true) {
    Status seeded = SeedFromQuorumRead();
    if (seeded.ok()) break;
    log::Warn("operator: quorum read failed; retrying", {{"error", seeded.ToString()}});
    std::this_thread::sleep_for(kSeedRetry);
    if (stop.stop_requested()) return {};
  }
  next_resync_.clear();
  previous_.clear();
  previous_rollout_.clear();
  EnqueueAllOs();
  log::Info("operator: planning", {{"os_objects", os_->store().Size()}, {"nodes", nodes_->store().Size()}});
  while (!stop.stop_requested()) {
    auto item = queue_.Get(stop);
    if (!item) break;
    const auto started = Clock::now();
    const Outcome outcome = Process(*item);
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    switch (outcome) {
      case Outcome::kOk:
        queue_.Forget(*item);
        break;
      case Outcome::kRetryNow:
        queue_.Add(*item);  // marked dirty while processing: one more pass right after Done
        break;
      case Outcome::kError:
        queue_.AddRateLimited(*item);
        break;
    }
    if (item->rfind(kOsPrefix, 0) == 0) {
      metrics_.ObserveReconcile(outcome == Outcome::kOk         ? "success"
                                : outcome == Outcome::kRetryNow ? "conflict"
                                                                : "error",
                                seconds);
    }
    queue_.Done(*item);
  }
  return {};
}

Controller::Outcome Controller::Process(const std::string& item) {
  if (item.rfind(kOsPrefix, 0) == 0) return ReconcileOs(item.substr(kOsPrefix.size()));
  if (item.rfind(kGcPrefix, 0) == 0) return CollectNode(item.substr(kGcPrefix.size()));
  return Outcome::kOk;
}

void Controller::ScheduleResync(const std::string& item, std::chrono::seconds after) {
  const auto want = Clock::now() + after;
  auto it = next_resync_.find(item);
  if (it != next_resync_.end() && it->second > Clock::now() && it->second <= want + kResyncSlack) return;
  next_resync_[item] = want;
  queue_.AddAfter(item, after);
}

Status Controller::PatchNodeLabels(const std::string& node,
                                   const std::map<std::string, std::optional<std::string>>& labels) {
  auto r = client_.Patch(kube::Resource::Nodes(), "", node, kube::PatchType::kMerge, NodeLabelsPatch(labels));
  metrics_.AddApiWrite("node");
  if (!r.ok()) return r.status().WithContext("patch labels of node " + node);
  overlay_.Record("nodes/" + node, std::move(*r));
  return {};
}

Controller::Outcome Controller::ReconcileOs(const std::string& key) {
  const std::string item = std::string(kOsPrefix) + key;
  auto os = Resolve("os", key);
  if (os == nullptr || os->contains("/metadata/deletionTimestamp"_json_pointer)) {
    metrics_.RemoveOs(key);
    previous_.erase(key);
    previous_rollout_.erase(key);
    next_resync_.erase(item);
    return Outcome::kOk;
  }
  // The snapshot: caches with this controller's unobserved writes laid over them.
  std::vector<JsonPtr> all_os;
  for (const std::string& k : os_->store().ListKeys()) {
    if (auto o = Resolve("os", k)) all_os.push_back(std::move(o));
  }
  std::vector<JsonPtr> nodes;
  std::map<std::string, JsonPtr> instances;
  for (const std::string& name : nodes_->store().ListKeys()) {
    auto n = Resolve("nodes", name);
    if (n == nullptr) continue;
    nodes.push_back(n);
    if (auto osi = Resolve("osinstances", std::string(api::kOsInstanceNamespace) + "/" + name)) {
      instances[name] = std::move(osi);
    }
  }
  auto snap = BuildSnapshot(*os, all_os, nodes, instances, options_.default_time_zone);
  if (!snap.ok()) {
    log::Warn("operator: cannot read OS object", {{"os", key}, {"error", snap.status().ToString()}});
    Emit(WithKind(*os, "OS"), "Warning", "InvalidSpec", snap.status().message());
    ScheduleResync(item, kDefaultTimeInterval);
    return Outcome::kOk;
  }
  const Time now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  const PlanResult plan = Plan(*snap, now);

  // Apply in the documented order; any failure stops the pass (what was written stays valid: every step is
  // idempotent and the next pass plans from it).
  auto fail = [&](const Status& st) {
    const bool retry_now = st.code() == StatusCode::kConflict || st.code() == StatusCode::kNotFound;
    log::Info("operator: write failed, planning again", {{"os", key}, {"error", st.ToString()}});
    return retry_now ? Outcome::kRetryNow : Outcome::kError;
  };
  const std::string serial(kSerialLabel);
  for (const std::string& n : plan.serial_label_remove) {
    if (Status st = PatchNodeLabels(n, {{serial, std::nullopt}}); !st.ok()) return fail(st);
  }
  for (const std::string& n : plan.serial_label_add) {
    if (Status st = PatchNodeLabels(n, {{serial, ""}}); !st.ok()) return fail(st);
  }
  if (!plan.assignments.empty()) {
    std::vector<Status> results(plan.assignments.size());
    std::atomic<std::size_t> next{0};
    auto work = [&] {
      for (std::size_t i = next++; i < plan.assignments.size(); i = next++) {
        results[i] = ApplyAssignment(*os, plan.assignments[i]);
      }
    };
    {
      std::vector<std::jthread> pool;
      for (std::size_t t = 1; t < std::min(kWriteParallelism, plan.assignments.size()); ++t) {
        pool.emplace_back(work);
      }
      work();
    }  // joined
    Status first_error;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) {
        if (first_error.ok()) first_error = results[i];
        continue;
      }
      const Assignment& a = plan.assignments[i];
      metrics_.AddAssignment(key, ActionName(a.action));
      log::Info(
          "operator: assigned",
          {{"os", key}, {"node", a.node}, {"action", ActionName(a.action)}, {"nodestatus", a.nodestatus}});
    }
    if (!first_error.ok()) return fail(first_error);
  }
  const json status = OsStatusToJson(plan.status);
  if (!SameStatus(*os, status)) {
    auto written = client_.Update(api::OsResource(), snap->os.key.ns,
                                  WithKind(OsWithStatus(*os, status), "OS"), "status");
    metrics_.AddApiWrite("os_status");
    if (!written.ok()) return fail(written.status().WithContext("update status of OS " + key));
    overlay_.Record("os/" + key, std::move(*written));
  }
  metrics_.SetOsStatus(key, plan.status);
  RecordEvents(key, *os, plan);
  ScheduleResync(item, plan.requeue_after);
  return Outcome::kOk;
}

Status Controller::ApplyAssignment(const json& os, const Assignment& a) {
  auto osi = Resolve("osinstances", std::string(api::kOsInstanceNamespace) + "/" + a.node);
  if (osi == nullptr) return NotFoundError("OSInstance of node " + a.node);
  auto written = client_.Update(api::OsInstanceResource(), api::kOsInstanceNamespace,
                                WithKind(AssignedOsInstance(*osi, os, a), "OSInstance"));
  metrics_.AddApiWrite("osinstance");
  if (!written.ok()) return written.status().WithContext("update OSInstance of node " + a.node);
  overlay_.Record("osinstances/" + kube::ObjectKey(*written), std::move(*written));
  std::map<std::string, std::optional<std::string>> labels(a.labels.begin(), a.labels.end());
  return PatchNodeLabels(a.node, labels);
}

void Controller::Emit(const json& object, std::string_view type, std::string_view reason,
                      std::string_view message) {
  std::lock_guard<std::mutex> lock(events_mu_);
  if (events_.size() >= kMaxPendingEvents) {
    log::Warn("operator: event dropped (queue full)", {{"reason", reason}, {"message", message}});
    return;
  }
  events_.push_back({object, std::string(type), std::string(reason), std::string(message)});
  events_cv_.notify_one();
}

void Controller::SendEvents(const std::stop_token& stop) {
  while (true) {
    PendingEvent e;
    {
      std::unique_lock<std::mutex> lock(events_mu_);
      if (!events_cv_.wait(lock, stop, [this] { return !events_.empty(); })) return;
      e = std::move(events_.front());
      events_.pop_front();
    }
    metrics_.AddApiWrite("event");
    (void)recorder_.Record(e.object, e.type, e.reason, e.message);  // best effort: the recorder logs failures
  }
}

void Controller::RecordEvents(const std::string& key, const json& os_object, const PlanResult& plan) {
  const json os = WithKind(os_object, "OS");
  const std::string target = plan.status.target;
  for (const Assignment& a : plan.assignments) {
    Emit(os, "Normal", "Assigned", fmt::format("node {}: {} to {}", a.node, ActionName(a.action), target));
  }
  // Completions and failures: class changes since the previous pass (none on the first pass after start).
  std::map<std::string, std::string> classes;
  std::map<std::string, std::string> details;
  for (const Skip& s : plan.skipped) {
    if (s.reason == SkipReason::kUpToDate) classes[s.node] = "done";
    if (s.reason == SkipReason::kFailed) {
      classes[s.node] = "failed";
      details[s.node] = s.detail;
    }
  }
  auto prev = previous_.find(key);
  if (prev != previous_.end()) {
    for (const auto& [node, cls] : classes) {
      auto it = prev->second.find(node);
      if (it != prev->second.end() && it->second == cls) continue;
      if (cls == "done") {
        Emit(os, "Normal", "NodeUpdated", fmt::format("node {} reached {}", node, target));
      } else {
        Emit(os, "Warning", "NodeFailed",
             fmt::format("node {} failed {}{}{}", node, target, details[node].empty() ? "" : ": ",
                         details[node]));
      }
    }
  }
  // Halts: a bad version not listed before.
  auto before = OsStatusFromJson(os_object.value("status", json::object()));
  for (const BadVersion& b : plan.status.bad_versions) {
    bool known = false;
    if (before.ok()) {
      for (const BadVersion& o : before->bad_versions) known = known || o.version == b.version;
    }
    if (!known) {
      Emit(os, "Warning", "Halted",
           fmt::format("rollout of {} ({}) halted: {}", b.version, b.opstype, b.reason));
      log::Warn("operator: rollout halted", {{"os", key}, {"version", b.version}, {"reason", b.reason}});
    }
  }
  // A selector conflict or an invalid spec: once when the Degraded condition takes that reason (the
  // status keeps saying it; the Event reaches `kubectl describe` and event-based alerting).
  auto degraded = [](const std::vector<Condition>& conditions) -> const Condition* {
    for (const Condition& c : conditions) {
      if (c.type == "Degraded") return &c;
    }
    return nullptr;
  };
  if (const Condition* now_degraded = degraded(plan.status.conditions);
      now_degraded != nullptr && now_degraded->status &&
      (now_degraded->reason == SkipReasonName(SkipReason::kSelectorConflict) ||
       now_degraded->reason == SkipReasonName(SkipReason::kInvalidSpec))) {
    const Condition* was = before.ok() ? degraded(before->conditions) : nullptr;
    if (was == nullptr || !was->status || was->reason != now_degraded->reason) {
      Emit(os, "Warning", now_degraded->reason, now_degraded->message);
      log::Warn("operator: rollout blocked",
                {{"os", key}, {"reason", now_degraded->reason}, {"message", now_degraded->message}});
    }
  }
  auto& last_rollout = previous_rollout_[key];
  if (plan.status.rollout == "Completed" && !last_rollout.empty() && last_rollout != "Completed") {
    Emit(os, "Normal", "RolloutCompleted",
         fmt::format("all {} selected nodes run {}", plan.status.total, target));
  }
  last_rollout = plan.status.rollout;
  std::map<std::string, std::string> record;
  for (const Skip& s : plan.skipped) record[s.node] = classes.count(s.node) != 0 ? classes[s.node] : "other";
  for (const Assignment& a : plan.assignments) record[a.node] = "other";
  previous_[key] = std::move(record);
}

Controller::Outcome Controller::CollectNode(const std::string& node) {
  if (Resolve("nodes", node) != nullptr) return Outcome::kOk;  // the node (re)appeared
  for (const auto& osi : osinstances_->store().ByIndex(kNodeIndex, node)) {
    const std::string ns = osi->value("/metadata/namespace"_json_pointer, std::string());
    const std::string name = Name(*osi);
    kube::DeleteOptions opts;
    opts.precondition_uid = osi->value("/metadata/uid"_json_pointer, std::string());
    Status st = client_.Delete(api::OsInstanceResource(), ns, name, opts);
    metrics_.AddApiWrite("delete");
    if (!st.ok() && st.code() != StatusCode::kNotFound && st.code() != StatusCode::kConflict) {
      log::Warn("operator: cannot delete OSInstance of deleted node",
                {{"node", node}, {"osinstance", ns + "/" + name}, {"error", st.ToString()}});
      return Outcome::kError;
    }
    log::Info("operator: deleted OSInstance of deleted node",
              {{"node", node}, {"osinstance", ns + "/" + name}});
  }
  return Outcome::kOk;
}

}  // namespace kubeos::rollout
