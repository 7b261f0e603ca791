#include "proxy/controller.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <thread>
#include <vector>

#include "api/os.h"
#include "common/log.h"

namespace kubeos::node {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr const char* kQueueKey = "node";
constexpr std::chrono::seconds kSyncTimeout{120};
const kube::Resource kDaemonSets = kube::Resource::DaemonSets();
// Evictions in flight at once within a drain round (each also passes the client's rate limiter).
constexpr size_t kEvictionConcurrency = 8;

int64_t WallNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t Rv(const json& obj) {
  std::string rv = api::ResourceVersion(obj.value("metadata", json::object()));
  uint64_t v = 0;
  std::from_chars(rv.data(), rv.data() + rv.size(), v);
  return v;
}

// The cached object, unless our own last write of it is newer (resourceVersions are etcd revisions).
std::shared_ptr<const json> Fresher(const std::shared_ptr<const json>& cached,
                                    const std::shared_ptr<const json>& ours) {
  if (!cached) return nullptr;
  if (ours &&
      api::Name(ours->value("metadata", json::object())) ==
          api::Name(cached->value("metadata", json::object())) &&
      Rv(*ours) > Rv(*cached)) {
    return ours;
  }
  return cached;
}

NodeView NodeViewFromJson(const json& n) {
  NodeView v;
  v.exists = true;
  const json md = n.value("metadata", json::object());
  const json labels = md.value("labels", json::object());
  const json annotations = md.value("annotations", json::object());
  v.upgrading_label = labels.contains(api::kUpgradingLabel);
  v.configuring_label = labels.contains(api::kConfiguringLabel);
  v.cordoned_by_us = annotations.contains(kCordonAnnotation);
  const json spec = n.value("spec", json::object());
  v.unschedulable = spec.value("unschedulable", false);
  const json status = n.value("status", json::object());
  v.os_image = status.value("nodeInfo", json::object()).value("osImage", "");
  for (const auto& c : status.value("conditions", json::array())) {
    if (c.value("type", "") == "Ready") v.ready = c.value("status", "") == "True";
  }
  return v;
}

std::string Version(const std::optional<api::SysConfigs>& s) { return s && s->version ? *s->version : ""; }

OsView OsViewFromOs(const api::OS& os) {
  return OsView{.ref = api::Namespace(os.metadata) + "/" + api::Name(os.metadata),
                .opstype = os.spec.opstype,
                .osversion = os.spec.osversion,
                .checksum = os.spec.checksum,
                .sysconfigs_version = Version(os.spec.sysconfigs),
                .upgradeconfigs_version = Version(os.spec.upgradeconfigs),
                .evictpodforce = os.spec.evictpodforce};
}

json SysConfigsOrNull(const std::optional<api::SysConfigs>& s) { return s ? api::ToJson(*s) : json(nullptr); }

}  // namespace

StatusOr<std::vector<PodView>> ListPodsOnNode(kube::Client& client, const std::string& node) {
  KUBEOS_ASSIGN_OR_RETURN(
      json list, client.ListAll(kube::Resource::Pods(), "", {.field_selector = "spec.nodeName=" + node}));
  std::vector<PodView> pods;
  std::map<std::string, bool> ds_missing;
  for (const auto& item : list.value("items", json::array())) {
    StatusOr<PodView> p = PodViewFromJson(item);
    if (!p.ok()) return p.status().WithContext("pods on " + node);
    if (p->controller_kind == "DaemonSet") {
      std::string key = p->ns + "/" + p->controller_name;
      if (!ds_missing.contains(key)) {
        StatusOr<json> ds = client.Get(kDaemonSets, p->ns, p->controller_name);
        if (!ds.ok() && ds.status().code() != StatusCode::kNotFound) return ds.status();
        ds_missing[key] = !ds.ok();
      }
      p->controller_missing = ds_missing[key];
    }
    pods.push_back(std::move(*p));
  }
  return pods;
}

Controller::Controller(kube::Client& client, AgentApi& agent, ProxyOptions options, UnixClock now)
    : client_(client),
      agent_(agent),
      options_(std::move(options)),
      now_(now ? std::move(now) : UnixClock(WallNow)),
      events_(client, "os-proxy", options_.node_name) {}

Controller::~Controller() {
  queue_.ShutDown();
  for (auto* inf : {nodes_.get(), instances_.get(), oses_.get()})
    if (inf != nullptr) inf->Stop();
}

Status Controller::Run(const std::stop_token& stop) {
  const std::string by_name = "metadata.name=" + options_.node_name;
  nodes_ = std::make_unique<kube::JsonInformer>(
      client_, kube::ReflectorOptions{.resource = kube::Resource::Nodes(), .field_selector = by_name});
  instances_ = std::make_unique<kube::JsonInformer>(
      client_,
      kube::ReflectorOptions{
          .resource = api::OsInstanceResource(), .ns = api::kOsInstanceNamespace, .field_selector = by_name});
  oses_ =
      std::make_unique<kube::JsonInformer>(client_, kube::ReflectorOptions{.resource = api::OsResource()});
  kube::JsonInformer::Handlers h{
      .on_add = [this](const auto&) { queue_.Add(kQueueKey); },
      .on_update = [this](const auto&, const auto&) { queue_.Add(kQueueKey); },
      .on_delete = [this](const auto&) { queue_.Add(kQueueKey); },
  };
  for (auto* inf : {nodes_.get(), instances_.get(), oses_.get()}) {
    inf->AddHandlers(h);
    inf->Start();
  }
  for (auto* inf : {nodes_.get(), instances_.get(), oses_.get()}) {
    if (!inf->WaitForSync(kSyncTimeout, stop)) {
      return stop.stop_requested() ? CancelledError("stopped")
                                   : DeadlineExceededError("informer caches did not sync");
    }
  }
  log::Info("caches synced", {{"node", options_.node_name}});
  synced_ = true;
  if (options_.metrics != nullptr) options_.metrics->SetCachesSynced(true);
  std::stop_callback on_stop(stop, [this] { queue_.ShutDown(); });
  queue_.Add(kQueueKey);
  while (auto key = queue_.Get(stop)) {
    StatusOr<milliseconds> next = Pass();
    if (!next.ok()) {
      log::Warn("pass failed", {{"node", options_.node_name}, {"error", next.status().ToString()}});
      queue_.AddRateLimited(*key);
    } else {
      queue_.Forget(*key);
      if (*next < milliseconds(0)) {
        queue_.AddAfter(*key, options_.resync);
      } else {
        // A small floor keeps a pass that changed nothing from spinning.
        queue_.AddAfter(*key, std::max(*next, milliseconds(50)));
      }
    }
    queue_.Done(*key);
  }
  return Status::Ok();
}

StatusOr<Controller::Ptr> Controller::EnsureInstance(const Ptr& node) {
  Ptr osi = Fresher(
      instances_->store().Get(std::string(api::kOsInstanceNamespace) + "/" + options_.node_name), last_osi_);
  if (osi) return osi;
  if (!node) {
    // Never create an OSInstance for a Node that is gone: the operator deletes them with the Node.
    StatusOr<json> n = client_.Get(kube::Resource::Nodes(), "", options_.node_name);
    if (!n.ok()) return n.status().code() == StatusCode::kNotFound ? StatusOr<Ptr>(Ptr()) : n.status();
  }
  json obj = {{"apiVersion", api::kApiVersion},
              {"kind", "OSInstance"},
              {"metadata",
               {{"name", options_.node_name},
                {"namespace", api::kOsInstanceNamespace},
                {"labels", {{api::kOsInstanceNodeLabel, options_.node_name}}}}},
              {"spec", {{"nodestatus", api::kNodeStatusIdle}}}};
  StatusOr<json> created = client_.Create(api::OsInstanceResource(), api::kOsInstanceNamespace, obj);
  if (created.ok()) {
    log::Info("created OSInstance", {{"node", options_.node_name}});
    last_osi_ = std::make_shared<const json>(std::move(*created));
    return last_osi_;
  }
  if (created.status().code() != StatusCode::kAlreadyExists)
    return created.status().WithContext("create OSInstance");
  KUBEOS_ASSIGN_OR_RETURN(
      json got, client_.Get(api::OsInstanceResource(), api::kOsInstanceNamespace, options_.node_name));
  last_osi_ = std::make_shared<const json>(std::move(got));
  return last_osi_;
}

StatusOr<AgentView> Controller::QueryAgent() {
  StatusOr<json> st = CallAgent("status", json::array(), options_.agent_timeouts.status);
  if (st.ok()) return AgentViewFromStatus(*st);
  AgentView v;
  if (st.status().code() == StatusCode::kUnimplemented) {
    v.reachable = true;  // an original agent: no status method
    return v;
  }
  log::Debug("agent status unavailable", {{"error", st.status().ToString()}});
  return v;
}

StatusOr<json> Controller::CallAgent(const std::string& method, const json& params,
                                     std::chrono::milliseconds timeout) {
  StatusOr<json> r = agent_.Call(method, params, timeout);
  if (options_.metrics != nullptr) options_.metrics->AddAgentCall(method, r.ok());
  return r;
}

Status Controller::WriteRecord(const json& osi, const ProxyRecord& rec, const json& extra) {
  json patch = RecordPatch(rec);
  if (extra.is_object()) patch["status"].update(extra);
  StatusOr<json> r = client_.Patch(api::OsInstanceResource(), api::kOsInstanceNamespace, options_.node_name,
                                   kube::PatchType::kMerge, patch, "status");
  if (!r.ok()) return r.status().WithContext("write OSInstance status");
  (void)osi;
  last_osi_ = std::make_shared<const json>(std::move(*r));
  if (options_.metrics != nullptr) options_.metrics->SetPhase(rec.phase);
  return Status::Ok();
}

void Controller::Event(const json& node, bool warning, const std::string& reason,
                       const std::string& message) {
  (void)events_.Record(node, warning ? "Warning" : "Normal", reason, Truncate(message));
}

StatusOr<milliseconds> Controller::Pass() {
  Ptr node = Fresher(nodes_->store().Get(options_.node_name), last_node_);
  KUBEOS_ASSIGN_OR_RETURN(Ptr osi, EnsureInstance(node));
  if (!osi || !node) return milliseconds(-1);
  KUBEOS_ASSIGN_OR_RETURN(api::OSInstance instance, api::OsInstanceFromJson(*osi));

  Observation obs;
  obs.now = now_();
  obs.policy = options_.policy;
  obs.node = NodeViewFromJson(*node);
  InstanceView& in = obs.instance;
  in.nodestatus = instance.spec.nodestatus.value_or("");
  if (instance.spec.namespacedname && instance.spec.namespacedname->name) {
    in.owner =
        instance.spec.namespacedname->namespace_.value_or("") + "/" + *instance.spec.namespacedname->name;
  }
  in.spec_sysconfigs_version = Version(instance.spec.sysconfigs);
  in.spec_upgradeconfigs_version = Version(instance.spec.upgradeconfigs);
  if (instance.status) {
    in.status_sysconfigs_version = Version(instance.status->sysconfigs);
    in.status_upgradeconfigs_version = Version(instance.status->upgradeconfigs);
  }
  in.record = RecordFromStatus(osi->value("status", json::object()));

  std::optional<api::OS> os;
  if (!in.owner.empty()) {
    Ptr cached = oses_->store().Get(in.owner);
    json os_json;
    if (cached) {
      os_json = *cached;
    } else {
      auto slash = in.owner.find('/');
      StatusOr<json> got =
          client_.Get(api::OsResource(), in.owner.substr(0, slash), in.owner.substr(slash + 1));
      if (!got.ok() && got.status().code() != StatusCode::kNotFound) return got.status();
      if (got.ok()) os_json = std::move(*got);
    }
    if (os_json.is_null()) {
      obs.owner_os_missing = true;
    } else {
      KUBEOS_ASSIGN_OR_RETURN(api::OS parsed, api::OsFromJson(os_json));
      os = std::move(parsed);
      obs.os = OsViewFromOs(*os);
    }
  }
  KUBEOS_ASSIGN_OR_RETURN(obs.agent, QueryAgent());

  // What the agent reports is mirrored into status (booted slot, fallback report).
  ProxyRecord observed = in.record;
  if (obs.agent.known && !obs.agent.booted_slot.empty()) observed.booted_slot = obs.agent.booted_slot;
  if (obs.agent.known && obs.agent.last_fallback) observed.last_fallback = obs.agent.last_fallback;
  if (!(observed == in.record)) {
    if (observed.last_fallback != in.record.last_fallback) {
      Event(*node, true, "AgentFellBack", observed.last_fallback->message);
    }
    KUBEOS_RETURN_IF_ERROR(WriteRecord(*osi, observed));
    in.record = observed;
    osi = last_osi_;
  }

  Decision d = Decide(obs);
  if (d.action != Action::kNone) {
    log::Info("decision", {{"node", options_.node_name},
                           {"action", ActionName(d.action)},
                           {"phase", PhaseName(d.phase)},
                           {"reason", d.reason},
                           {"message", d.message}});
  }
  return Execute(d, *node, *osi, instance, os ? &*os : nullptr, obs);
}

Status Controller::Fail(const json& node, const json& osi, ProxyRecord rec, const std::string& reason,
                        const std::string& message) {
  rec.phase = Phase::kFailed;
  rec.message = Truncate(message);
  rec.transition_at = now_();
  Event(node, true, reason, message);
  return WriteRecord(osi, rec);
}

StatusOr<milliseconds> Controller::Execute(const Decision& d, const json& node, const json& osi,
                                           const api::OSInstance& instance, const api::OS* os,
                                           const Observation& obs) {
  ProxyRecord rec = obs.instance.record;
  const int64_t now = obs.now;
  auto set_phase = [&](Phase p, const std::string& message) {
    if (p != Phase::kNone && p != rec.phase) {
      rec.phase = p;
      rec.transition_at = now;
    }
    rec.message = Truncate(message);
  };
  switch (d.action) {
    case Action::kNone:
      return d.requeue.count() > 0 ? StatusOr<milliseconds>(d.requeue) : milliseconds(-1);
    case Action::kBegin: {
      const std::string target = TargetOf(obs.os);
      const bool same =
          rec.target_version == target && rec.operation == obs.os.opstype && rec.os_ref == obs.os.ref;
      ProxyRecord fresh;
      fresh.phase = d.phase;
      fresh.message = d.message;
      fresh.target_version = target;
      fresh.operation = obs.os.opstype;
      fresh.os_ref = obs.os.ref;
      fresh.attempts = same ? rec.attempts + 1 : 1;
      fresh.started_at = now;
      fresh.transition_at = now;
      fresh.booted_slot = rec.booted_slot;
      fresh.last_fallback = rec.last_fallback;
      KUBEOS_RETURN_IF_ERROR(WriteRecord(osi, fresh));
      Event(node, false, "Started", d.message);
      return milliseconds(0);
    }
    case Action::kCopySysconfigs: {
      std::optional<api::SysConfigs> copy;
      if (os->spec.sysconfigs) copy = SwapGrubCurrentNext(*os->spec.sysconfigs);
      json patch = {{"metadata", {{"resourceVersion", api::ResourceVersion(osi["metadata"])}}},
                    {"spec", {{"sysconfigs", SysConfigsOrNull(copy)}}}};
      KUBEOS_ASSIGN_OR_RETURN(json r, client_.Patch(api::OsInstanceResource(), api::kOsInstanceNamespace,
                                                    options_.node_name, kube::PatchType::kMerge, patch));
      last_osi_ = std::make_shared<const json>(std::move(r));
      return milliseconds(0);
    }
    case Action::kApplyUpgradeConfigs:
    case Action::kApplySysconfigs:
      return Configure(d.action == Action::kApplyUpgradeConfigs, d, node, osi, instance, rec);
    case Action::kPrepare: {
      set_phase(d.phase, d.message);
      KUBEOS_RETURN_IF_ERROR(WriteRecord(osi, rec));
      auto started = std::chrono::steady_clock::now();
      StatusOr<json> r =
          CallAgent("prepare_upgrade", UpgradeParams(os->spec), options_.agent_timeouts.prepare);
      if (!r.ok()) {
        if (IsTransientAgentError(r.status())) return r.status();
        KUBEOS_RETURN_IF_ERROR(Fail(node, *last_osi_, rec, "StagingFailed", r.status().message()));
        return milliseconds(0);
      }
      rec.staged_at = now_();
      rec.message = fmt::format(
          "{} written to the standby slot in {} s", obs.os.osversion,
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
              .count());
      KUBEOS_RETURN_IF_ERROR(WriteRecord(*last_osi_, rec));
      Event(node, false, "Staged", rec.message);
      return milliseconds(0);
    }
    case Action::kDrain:
      return DrainRoundOnce(node, osi, *os, rec, obs);
    case Action::kSwitch: {
      set_phase(d.phase, d.message);
      // A resend keeps the first request's time: the reboot deadline is not extended by it.
      if (d.reason != kSwitchResent || rec.reboot_requested_at == 0) rec.reboot_requested_at = now;
      KUBEOS_RETURN_IF_ERROR(WriteRecord(osi, rec));
      const std::string method = obs.os.opstype == "rollback" ? "rollback" : "upgrade";
      Event(node, false, "Rebooting", d.message);
      StatusOr<json> r = CallAgent(method, json::array(), options_.agent_timeouts.switch_boot);
      if (r.ok()) return milliseconds(kRebootPoll);
      const Status& s = r.status();
      const bool never_arrived =
          s.code() == StatusCode::kUnavailable && s.message().find("Cannot connect") != std::string::npos;
      const bool busy = IsTransientAgentError(s) && s.code() == StatusCode::kUnknown;
      if (never_arrived || busy) {
        rec.reboot_requested_at = 0;
        rec.message = Truncate(s.message());
        KUBEOS_RETURN_IF_ERROR(WriteRecord(*last_osi_, rec));
        return s;
      }
      if (IsTransientAgentError(s)) {
        // The host went down during the call: that is what a reboot looks like from here.
        log::Info("agent went away during the switch (host rebooting)",
                  {{"node", options_.node_name}, {"detail", s.message()}});
        return milliseconds(kRebootPoll);
      }
      KUBEOS_RETURN_IF_ERROR(Fail(node, *last_osi_, rec, "SwitchFailed", s.message()));
      return milliseconds(0);
    }
    case Action::kWait: {
      if ((d.phase != Phase::kNone && d.phase != rec.phase) || rec.message != d.message) {
        set_phase(d.phase, d.message);
        KUBEOS_RETURN_IF_ERROR(WriteRecord(osi, rec));
      }
      return milliseconds(d.requeue);
    }
    case Action::kMarkGood: {
      set_phase(d.phase, d.message);
      KUBEOS_RETURN_IF_ERROR(WriteRecord(osi, rec));
      StatusOr<json> r = CallAgent("mark_good", json::array(), options_.agent_timeouts.mark_good);
      if (!r.ok()) {
        if (IsTransientAgentError(r.status())) return r.status();
        KUBEOS_RETURN_IF_ERROR(Fail(node, *last_osi_, rec, "CommitFailed", r.status().message()));
        return milliseconds(0);
      }
      Event(node, false, "Committed", d.message);
      return milliseconds(0);
    }
    case Action::kRelease:
      KUBEOS_RETURN_IF_ERROR(Release(d, node, osi, instance, obs));
      return milliseconds(0);
  }
  return InternalError("unhandled action");
}

StatusOr<milliseconds> Controller::Configure(bool upgradeconfigs, const Decision& d, const json& node,
                                             const json& osi, const api::OSInstance& instance,
                                             ProxyRecord rec) {
  const std::optional<api::SysConfigs>& spec =
      upgradeconfigs ? instance.spec.upgradeconfigs : instance.spec.sysconfigs;
  if (d.phase != rec.phase) rec.transition_at = now_();
  rec.phase = d.phase;
  rec.message = Truncate(d.message);
  if (std::optional<json> params = ConfigureParams(spec)) {
    KUBEOS_RETURN_IF_ERROR(WriteRecord(osi, rec));
    StatusOr<json> r = CallAgent("configure", *params, options_.agent_timeouts.configure);
    if (!r.ok()) {
      if (IsTransientAgentError(r.status())) return r.status();
      KUBEOS_RETURN_IF_ERROR(Fail(node, *last_osi_, rec, "ConfigureFailed", r.status().message()));
      return milliseconds(0);
    }
  }
  rec.message = fmt::format("{} version \"{}\" applied", upgradeconfigs ? "upgradeconfigs" : "sysconfigs",
                            Version(spec));
  KUBEOS_RETURN_IF_ERROR(
      WriteRecord(last_osi_ ? *last_osi_ : osi, rec,
                  json{{upgradeconfigs ? "upgradeconfigs" : "sysconfigs", SysConfigsOrNull(spec)}}));
  Event(node, false, upgradeconfigs ? "UpgradeConfigsApplied" : "SysconfigsApplied", rec.message);
  return milliseconds(0);
}

StatusOr<milliseconds> Controller::DrainRoundOnce(const json& node, const json& osi, const api::OS& os,
                                                  ProxyRecord rec, const Observation& obs) {
  const int64_t now = obs.now;
  const ProxyRecord before = rec;
  if (!obs.node.unschedulable) {
    json patch = {{"metadata", {{"annotations", {{kCordonAnnotation, obs.os.ref}}}}},
                  {"spec", {{"unschedulable", true}}}};
    KUBEOS_ASSIGN_OR_RETURN(json r, client_.Patch(kube::Resource::Nodes(), "", options_.node_name,
                                                  kube::PatchType::kMerge, patch));
    last_node_ = std::make_shared<const json>(std::move(r));
    Event(node, false, "Cordoned", fmt::format("cordoned by os-proxy for OS {}", obs.os.ref));
    if (rec.drained_at != 0) {
      // Someone uncordoned a drained node: drain again, with a fresh deadline.
      rec.drain_started_at = 0;
      rec.drained_at = 0;
    }
  }
  if (rec.phase != Phase::kDraining) {
    rec.phase = Phase::kDraining;
    rec.transition_at = now;
  }
  if (rec.drain_started_at == 0) rec.drain_started_at = now;
  if (drain_memory_attempt_ != rec.drain_started_at) {
    drain_memory_.clear();
    drain_memory_attempt_ = rec.drain_started_at;
  }
  KUBEOS_ASSIGN_OR_RETURN(std::vector<PodView> pods, ListPodsOnNode(client_, options_.node_name));
  DrainPolicy policy{.evictpodforce = os.spec.evictpodforce,
                     .deadline = rec.drain_started_at + options_.drain_timeout.count(),
                     .escalation = options_.escalation};
  DrainRound round = PlanDrainRound(pods, policy, drain_memory_, now);
  std::vector<std::string> problems = round.problems;
  // The round's evictions run concurrently (kubectl drain does too), a few at a time; their results are
  // recorded in the planner's order.
  std::vector<Status> evicted(round.evict.size());
  for (size_t first = 0; first < round.evict.size(); first += kEvictionConcurrency) {
    const size_t last = std::min(round.evict.size(), first + kEvictionConcurrency);
    std::vector<std::jthread> workers;
    workers.reserve(last - first);
    for (size_t i = first; i < last; ++i) {
      workers.emplace_back([this, &round, &evicted, i] {
        const PodView& p = round.evict[i];
        evicted[i] = client_.Evict(p.ns, p.name, kube::DeleteOptions{.precondition_uid = p.uid});
      });
    }
  }
  for (size_t i = 0; i < round.evict.size(); ++i) {
    const PodView& p = round.evict[i];
    const Status& s = evicted[i];
    RecordEviction(drain_memory_, p, s, now);
    if (options_.metrics != nullptr) {
      options_.metrics->AddEviction(s.ok() || s.code() == StatusCode::kNotFound  ? "evicted"
                                    : s.code() == StatusCode::kResourceExhausted ? "blocked"
                                                                                 : "failed");
    }
    if (s.ok() || s.code() == StatusCode::kNotFound) {
      log::Info("evicted", {{"node", options_.node_name}, {"pod", p.Key()}});
    } else {
      std::string msg = fmt::format("evict {}: {}", p.Key(), s.message());
      Event(node, true, s.code() == StatusCode::kResourceExhausted ? "EvictionBlocked" : "EvictionFailed",
            msg);
      problems.push_back(msg);
    }
  }
  for (const PodView& p : round.remove) {
    Status s =
        client_.Delete(kube::Resource::Pods(), p.ns, p.name, kube::DeleteOptions{.precondition_uid = p.uid});
    drain_memory_[p.uid].deleted_at = now;
    if (options_.metrics != nullptr) options_.metrics->AddEviction("deleted");
    Event(node, true, "DrainEscalated",
          fmt::format("drain deadline passed: deleting {} without its disruption budget{}", p.Key(),
                      s.ok() || s.code() == StatusCode::kNotFound ? "" : ": " + s.message()));
  }
  if (problems.size() > kMaxProblems) problems.resize(kMaxProblems);
  rec.pods_remaining = round.remaining;
  rec.drain_problems = problems;
  if (round.refused || round.abort) {
    rec.pods_remaining = round.remaining;
    KUBEOS_RETURN_IF_ERROR(
        Fail(node, osi, rec, round.refused ? "DrainRefused" : "DrainTimeout", round.message));
    return milliseconds(0);
  }
  if (round.done) {
    rec.drained_at = now;
    rec.pods_remaining = 0;
    rec.drain_problems.clear();
    rec.message = fmt::format("drained in {} s", now - rec.drain_started_at);
    KUBEOS_RETURN_IF_ERROR(WriteRecord(osi, rec));
    Event(node, false, "Drained", rec.message);
    return milliseconds(0);
  }
  rec.message =
      Truncate(fmt::format("draining: {} pod(s) to go{}", round.remaining,
                           problems.empty() ? "" : fmt::format(" ({})", fmt::join(problems, "; "))));
  if (!(rec == before)) KUBEOS_RETURN_IF_ERROR(WriteRecord(osi, rec));
  return std::chrono::duration_cast<milliseconds>(
      std::chrono::seconds(std::max<int64_t>(1, round.next_check - now)));
}

Status Controller::Release(const Decision& d, const json& node, const json& osi,
                           const api::OSInstance& instance, const Observation& obs) {
  ProxyRecord rec = obs.instance.record;
  const int64_t now = obs.now;
  if (d.phase != Phase::kNone) {
    rec.phase = d.phase;
    rec.message = Truncate(d.message);
    rec.transition_at = now;
    rec.finished_at = now;
    KUBEOS_RETURN_IF_ERROR(WriteRecord(osi, rec));
    const bool bad = d.phase == Phase::kFailed || d.phase == Phase::kFellBack;
    Event(node, bad, d.reason, d.message);
  }
  const json& current = last_osi_ ? *last_osi_ : osi;
  const bool idle = obs.instance.nodestatus.empty() || obs.instance.nodestatus == api::kNodeStatusIdle;
  if (!idle || instance.spec.namespacedname) {
    json patch = {{"metadata", {{"resourceVersion", api::ResourceVersion(current["metadata"])}}},
                  {"spec", {{"nodestatus", api::kNodeStatusIdle}, {"namespacedname", nullptr}}}};
    StatusOr<json> r = client_.Patch(api::OsInstanceResource(), api::kOsInstanceNamespace, options_.node_name,
                                     kube::PatchType::kMerge, patch);
    if (!r.ok()) return r.status().WithContext("set nodestatus idle");
    last_osi_ = std::make_shared<const json>(std::move(*r));
  }
  json labels = json::object(), annotations = json::object(), patch = json::object();
  if (obs.node.upgrading_label) labels[api::kUpgradingLabel] = nullptr;
  if (obs.node.configuring_label) labels[api::kConfiguringLabel] = nullptr;
  if (!labels.empty()) patch["metadata"]["labels"] = labels;
  if (obs.node.cordoned_by_us) {
    patch["metadata"]["annotations"] = {{kCordonAnnotation, nullptr}};
    patch["spec"] = {{"unschedulable", nullptr}};
  }
  if (!patch.empty()) {
    StatusOr<json> r =
        client_.Patch(kube::Resource::Nodes(), "", options_.node_name, kube::PatchType::kMerge, patch);
    if (!r.ok()) return r.status().WithContext("release node");
    last_node_ = std::make_shared<const json>(std::move(*r));
    if (obs.node.cordoned_by_us) Event(node, false, "Uncordoned", "os-proxy removed its cordon");
  }
  log::Info("released", {{"node", options_.node_name}, {"reason", d.reason}});
  return Status::Ok();
}

}  // namespace kubeos::node
