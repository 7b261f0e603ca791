#include "sim/demo.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>

#include "api/os.h"
#include "common/file.h"
#include "common/log.h"
#include "pki/x509.h"
#include "sim/cluster.h"
#include "sim/file_server.h"
#include "sim/images.h"
#include "sim/monitor.h"
#include "sim/progress.h"

namespace kubeos::sim {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr const char* kOsName = "kubeos";
constexpr const char* kOsNamespace = "default";
// The original's certificate file names (shared/reference/kubeos-original-behaviour.md §1.3).
constexpr const char* kCaFile = "ca.pem";
constexpr const char* kClientCertFile = "client.pem";
constexpr const char* kClientKeyFile = "client-key.pem";
// The demo waits this long after a halted rollout settles, to show that nothing else is assigned.
constexpr milliseconds kHaltQuietPeriod{3000};
// After the last node finished, os-operator reports Completed within a planning pass.
constexpr milliseconds kCompletedGrace{20000};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// One line per event: "[  +12.3s] node-2    phase Idle -> Staging". Thread-safe (node threads print too).
class Printer {
 public:
  Printer(std::ostream& out, Clock::time_point t0) : out_(out), t0_(t0) {}
  void Line(const std::string& subject, const std::string& text) {
    std::lock_guard lock(mu_);
    out_ << fmt::format("[{:>+8.1f}s] {:<9} {}\n", Seconds(Clock::now() - t0_), subject, text) << std::flush;
  }
  void Raw(const std::string& text) {
    std::lock_guard lock(mu_);
    out_ << text << std::flush;
  }

 private:
  std::mutex mu_;
  std::ostream& out_;
  Clock::time_point t0_;
};

struct Binaries {
  std::filesystem::path agent, proxy, op, kbimg, demo;
};

Binaries FindBinaries(const std::filesystem::path& build) {
  return {.agent = build / "agent" / "os-agent",
          .proxy = build / "proxy" / "os-proxy",
          .op = build / "operator" / "os-operator",
          .kbimg = build / "image" / "kbimg",
          .demo = build / "sim" / "kubeos-demo"};
}

struct Pki {
  pki::CertAndKey ca, server, client;
};

StatusOr<Pki> MakePki() {
  Pki p;
  KUBEOS_ASSIGN_OR_RETURN(p.ca, pki::MakeCa("kubeos-demo image server CA"));
  KUBEOS_ASSIGN_OR_RETURN(p.server, pki::MakeSignedCert(p.ca, {.common_name = "kubeos-demo images",
                                                               .dns_names = {"localhost"},
                                                               .ip_addresses = {"127.0.0.1"},
                                                               .server = true}));
  KUBEOS_ASSIGN_OR_RETURN(p.client,
                          pki::MakeSignedCert(p.ca, {.common_name = "kubeos-node", .client = true}));
  return p;
}

struct Phase {
  std::string name;  // "upgrade", "rollback", "broken"
  std::string title;
  json spec_patch;     // merged into the OS spec
  std::string target;  // osversion
  bool expect_halt = false;
  std::string previous;  // the version nodes must stay on when the rollout halts
};

class Demo {
 public:
  Demo(const DemoOptions& o, std::ostream& out) : o_(o), t0_(Clock::now()), p_(out, t0_) {}
  DemoResult Run();

 private:
  Status Prepare();
  Status ApplyOs(const Phase& ph);
  json RunPhase(const Phase& ph, bool* ok);
  void OnNodeEvent(const NodeEvent& e);
  void PrintKubectl(const std::vector<std::string>& args);

  const DemoOptions& o_;
  Clock::time_point t0_;
  Printer p_;
  Binaries bins_;
  std::optional<TempDir> tmp_;
  std::filesystem::path dir_;
  std::map<std::string, Payload> payloads_;
  Pki pki_;
  std::unique_ptr<FileServer> server_;
  std::unique_ptr<SimCluster> cluster_;
  std::unique_ptr<ClusterMonitor> monitor_;
  std::atomic<bool> print_host_events_{false};
  bool os_created_ = false;
};

void Demo::OnNodeEvent(const NodeEvent& e) {
  if (!print_host_events_ || !o_.host_events) return;
  switch (e.kind) {
    case NodeEvent::Kind::kRebooting:
      p_.Line(e.node, "host: reboot (os-agent's reboot action)");
      break;
    case NodeEvent::Kind::kBootFailed:
      p_.Line(e.node, "host: boot FAILED, " + e.text + "; watchdog reset");
      break;
    case NodeEvent::Kind::kUp:
      p_.Line(e.node, "host: up on " + e.text + "; os-agent and os-proxy started");
      break;
    default:
      p_.Line(e.node, fmt::format("host: {}: {}", NodeEventKindName(e.kind), e.text));
  }
}

void Demo::PrintKubectl(const std::vector<std::string>& args) {
  StatusOr<std::string> out = cluster_->Kubectl(args);
  p_.Raw(
      fmt::format("\n$ kubectl {}\n{}\n", fmt::join(args, " "), out.ok() ? *out : out.status().ToString()));
}

Status Demo::Prepare() {
  bins_ = FindBinaries(o_.build_dir);
  for (const auto& [what, path] :
       {std::pair{"os-agent", bins_.agent}, {"os-proxy", bins_.proxy}, {"os-operator", bins_.op}}) {
    if (!std::filesystem::exists(path) && !o_.setup_only) {
      return FailedPreconditionError(
          fmt::format("{} is not built ({}); build the project first (hack/demo does)", what, path.string()));
    }
  }
  if (o_.work_dir.empty()) {
    KUBEOS_ASSIGN_OR_RETURN(TempDir t, TempDir::Create("kubeos-demo"));
    tmp_.emplace(std::move(t));
    dir_ = tmp_->path();
    if (o_.keep) dir_ = tmp_->Release();
  } else {
    dir_ = std::filesystem::absolute(o_.work_dir);
    std::filesystem::create_directories(dir_);
  }
  p_.Line("setup", "work directory " + dir_.string());

  // Images.
  bool kbimg = std::filesystem::exists(bins_.kbimg);
  std::filesystem::path images = dir_ / "images";
  std::filesystem::create_directories(images / "served");
  for (const auto& [v, broken] : {std::pair{"v1", false}, {"v2", false}, {"v3", true}}) {
    std::string name = std::string("kubeos-") + v + ".img";
    std::filesystem::path out = (std::string(v) == "v1" ? images : images / "served") / name;
    KUBEOS_RETURN_IF_ERROR(WriteRootfsTree(images / (std::string("rootfs-") + v), v, broken));
    KUBEOS_ASSIGN_OR_RETURN(
        Payload pl, BuildPayload(kbimg ? bins_.kbimg : std::filesystem::path(),
                                 images / (std::string("rootfs-") + v), v, o_.payload_mib << 20, out));
    p_.Line("image",
            fmt::format("{} \"{}\"{}: {} MiB ext4, sha256 {}…  ({})", v, pl.pretty_name,
                        broken ? " (broken: no /sbin/init)" : "", pl.size >> 20, pl.sha256.substr(0, 16),
                        kbimg ? "kbimg payload --format ext4" : "mke2fs -d; kbimg not built"));
    payloads_[v] = pl;
  }

  // Image server with mutual TLS.
  KUBEOS_ASSIGN_OR_RETURN(pki_, MakePki());
  server_ = std::make_unique<FileServer>(FileServerOptions{.cert_pem = pki_.server.cert_pem,
                                                           .key_pem = pki_.server.key_pem,
                                                           .client_ca_pem = pki_.ca.cert_pem,
                                                           .route = DirectoryRouter(images / "served")});
  KUBEOS_RETURN_IF_ERROR(server_->Start());
  p_.Line("server", "HTTPS image server with mutual TLS at " + server_->base_url());

  ClusterOptions co{.dir = dir_,
                    .k8s_bin_dir = o_.k8s_bin_dir,
                    .source_dir = o_.source_dir,
                    .nodes = o_.nodes,
                    .agent_bin = bins_.agent,
                    .proxy_bin = bins_.proxy,
                    .operator_bin = bins_.op,
                    .demo_bin = bins_.demo,
                    .v1_image = payloads_["v1"].file,
                    .slot_bytes = o_.slot_mib << 20,
                    .host_certs = {{kCaFile, pki_.ca.cert_pem},
                                   {kClientCertFile, pki_.client.cert_pem},
                                   {kClientKeyFile, pki_.client.key_pem}},
                    .on_node_event = [this](const NodeEvent& e) { OnNodeEvent(e); },
                    .on_setup = [this](const std::string& s) { p_.Line("setup", s); }};
  KUBEOS_ASSIGN_OR_RETURN(cluster_, SimCluster::Start(co));
  monitor_ = std::make_unique<ClusterMonitor>(cluster_->client(), kOsNamespace, kOsName, kDeploymentName,
                                              cluster_->min_available());
  KUBEOS_RETURN_IF_ERROR(monitor_->Start());
  return Status::Ok();
}

Status Demo::ApplyOs(const Phase& ph) {
  if (!os_created_) {
    json spec = {{"opstype", "upgrade"},
                 {"osversion", ph.target},
                 {"imagetype", "disk"},
                 {"imageurl", ""},
                 {"checksum", ""},
                 {"containerimage", ""},
                 {"flagSafe", false},
                 {"mtls", true},
                 {"cacert", kCaFile},
                 {"clientcert", kClientCertFile},
                 {"clientkey", kClientKeyFile},
                 {"maxunavailable", o_.max_unavailable},
                 {"evictpodforce", true}};
    spec.update(ph.spec_patch);
    json os = {{"apiVersion", api::kApiVersion},
               {"kind", "OS"},
               {"metadata", {{"name", kOsName}, {"namespace", kOsNamespace}}},
               {"spec", spec}};
    KUBEOS_RETURN_IF_ERROR(cluster_->client().Create(api::OsResource(), kOsNamespace, os).status());
    os_created_ = true;
    return Status::Ok();
  }
  return cluster_->client()
      .Patch(api::OsResource(), kOsNamespace, kOsName, kube::PatchType::kMerge, {{"spec", ph.spec_patch}})
      .status();
}

json Demo::RunPhase(const Phase& ph, bool* ok) {
  p_.Raw(fmt::format("\n=== {} ===\n", ph.title));
  ClusterView prev = monitor_->Snapshot();
  RolloutTracker tracker(ph.target, o_.max_unavailable);
  std::map<std::string, int> failed_boots_before;
  for (const auto& n : cluster_->nodes()) failed_boots_before[n->name()] = n->failed_boots();
  json result = {{"name", ph.name}, {"target", ph.target}};
  Status applied = ApplyOs(ph);
  if (!applied.ok()) {
    p_.Line("error", applied.ToString());
    *ok = false;
    result["ok"] = false;
    result["error"] = applied.ToString();
    return result;
  }
  p_.Line("OS",
          fmt::format("{}/{} applied: opstype {}, osversion \"{}\", maxunavailable {}", kOsNamespace, kOsName,
                      ph.spec_patch.value("opstype", "upgrade"), ph.target, o_.max_unavailable));
  Clock::time_point start = Clock::now();
  auto deadline = start + o_.phase_timeout;
  Clock::time_point settled{};
  bool has_settled = false;
  bool done = false;
  // status.failed in the first view that showed the halt, and while settling (a halted rollout is settled
  // once the count stopped changing too: a trial in flight at the halt can still fail afterwards).
  std::optional<int64_t> failed_at_halt;
  int64_t settled_failed = 0;
  ClusterView v = prev;
  while (Clock::now() < deadline) {
    v = monitor_->WaitForChange(milliseconds(250));
    if (CountUnavailable(v) > o_.max_unavailable) {
      // Confirm against a quorum read before counting it (see ClusterMonitor::QuorumSnapshot).
      if (StatusOr<ClusterView> q = monitor_->QuorumSnapshot(); q.ok()) v = std::move(*q);
    }
    Clock::time_point now = Clock::now();
    tracker.Observe(v, now);
    Counts c = CountNodes(v, ph.target);
    std::string suffix = fmt::format("   [{}/{} on target, {} working, {} cordoned, {} NotReady]",
                                     c.on_target, c.total, c.working, c.cordoned, c.not_ready);
    for (const auto& [subject, text] : DescribeChanges(prev, v)) p_.Line(subject, text + suffix);
    prev = v;
    if (!cluster_->operator_running()) {
      p_.Line("error", "os-operator exited; see " + (dir_ / "logs" / "operator.log").string());
      break;
    }
    if (!ph.expect_halt) {
      // Every node on target, idle, uncordoned and Ready; then give os-operator a moment to report Completed.
      if (!tracker.all_on_target(v)) {
        has_settled = false;
        continue;
      }
      if (!has_settled) {
        settled = now;
        has_settled = true;
      }
      if (v.os.rollout == "Completed" || now - settled >= kCompletedGrace) {
        done = true;
        break;
      }
      continue;
    }
    bool halted =
        std::find(v.os.bad_versions.begin(), v.os.bad_versions.end(), ph.target) != v.os.bad_versions.end() ||
        v.os.rollout == "Halted";
    if (halted && !failed_at_halt) failed_at_halt = v.os.failed;
    bool quiet = halted && c.working == 0 && c.cordoned == 0 && c.not_ready == 0;
    for (const auto& [name, n] : v.nodes) quiet = quiet && n.os_image == ph.previous;
    if (!quiet) {
      has_settled = false;
      continue;
    }
    if (!has_settled || v.os.failed != settled_failed) {
      settled = now;
      settled_failed = v.os.failed;
      has_settled = true;
    }
    if (now - settled >= kHaltQuietPeriod) {
      done = true;
      break;
    }
  }
  Clock::time_point end = has_settled ? settled : Clock::now();
  Counts c = CountNodes(v, ph.target);
  json nodes = json::object();
  std::vector<double> per_node;
  for (const auto& [name, t] : tracker.nodes()) {
    if (t.started && t.done) {
      double s = Seconds(*t.done - *t.started);
      nodes[name] = std::round(s * 10) / 10;
      per_node.push_back(s);
    }
  }
  json fell_back = json::array();
  int failed_boots = 0;
  for (const auto& n : cluster_->nodes()) {
    int fb = n->failed_boots() - failed_boots_before[n->name()];
    failed_boots += fb;
    if (fb > 0) fell_back.push_back(n->name());
  }
  std::vector<milliseconds> handoffs = tracker.handoffs();
  json handoff_ms = json::array();
  for (milliseconds h : handoffs) handoff_ms.push_back(h.count());
  bool invariants = tracker.pdb_violations() == 0 && tracker.budget_violations() == 0 && c.cordoned == 0;
  // A rollout only passes when os-operator itself reports it Completed (for this generation) or, for the
  // broken image, when nodes fell back by themselves.
  bool phase_ok = done && invariants && (ph.expect_halt ? !fell_back.empty() : v.os.rollout == "Completed");
  *ok = *ok && phase_ok;
  std::sort(per_node.begin(), per_node.end());
  result.update({{"ok", phase_ok},
                 {"expect_halt", ph.expect_halt},
                 {"completed", done},
                 {"seconds", std::round(Seconds(end - start) * 10) / 10},
                 {"node_seconds", nodes},
                 {"handoff_ms", handoff_ms},
                 {"handoff", SummarizeDurations(handoffs)},
                 {"pdb_violations", tracker.pdb_violations()},
                 {"min_ready_replicas", tracker.min_ready_seen()},
                 {"min_available", cluster_->min_available()},
                 {"max_unavailable_seen", tracker.max_unavailable_seen()},
                 {"budget_violations", tracker.budget_violations()},
                 {"cordoned_left", c.cordoned},
                 {"on_target", c.on_target},
                 {"failed_boots", failed_boots},
                 {"fell_back", fell_back},
                 {"failed", v.os.failed},  // status.failed at the end of the phase (kubectl get os FAILED)
                 {"failed_at_halt", failed_at_halt ? json(*failed_at_halt) : json()},
                 {"total", v.os.total},
                 {"os_rollout", v.os.rollout},
                 {"os_reason", v.os.reason},
                 {"os_message", v.os.message},
                 {"bad_versions", v.os.bad_versions}});
  if (!per_node.empty()) {
    result["node_seconds_min"] = std::round(per_node.front() * 10) / 10;
    result["node_seconds_median"] = std::round(per_node[per_node.size() / 2] * 10) / 10;
    result["node_seconds_max"] = std::round(per_node.back() * 10) / 10;
  }
  if (!done)
    p_.Line("error", fmt::format("{}: did not finish within {} s", ph.name, o_.phase_timeout.count()));
  PrintKubectl({"get", "os", "-A"});
  if (ph.expect_halt) PrintKubectl({"get", "osinstances", "-n", "default"});
  return result;
}

DemoResult Demo::Run() {
  DemoResult r;
  p_.Raw(
      fmt::format("KubeOS demo: a rolling OS upgrade across {} simulated hosts (real os-agent, os-proxy, "
                  "os-operator on a real control plane)\n\n",
                  o_.nodes));
  Status prepared = Prepare();
  if (!prepared.ok()) {
    p_.Line("error", prepared.ToString());
    r.summary = {{"ok", false}, {"error", prepared.ToString()}};
    return r;
  }
  r.summary = {{"nodes", o_.nodes},
               {"max_unavailable", o_.max_unavailable},
               {"slot_mib", o_.slot_mib},
               {"payload_mib", o_.payload_mib},
               {"images_built_by", payloads_["v2"].built_by},
               {"operator_identity", cluster_->operator_identity()},
               {"proxy_identity", cluster_->proxy_identity()},
               {"phases", json::array()}};
  if (o_.setup_only) {
    PrintKubectl({"get", "nodes", "-o", "wide"});
    r.ok = true;
    return r;
  }
  print_host_events_ = true;
  std::vector<Phase> phases = {{.name = "upgrade",
                                .title = "Upgrade to KubeOS v2",
                                .spec_patch = {{"opstype", "upgrade"},
                                               {"osversion", payloads_["v2"].pretty_name},
                                               {"imageurl", server_->base_url() + "/kubeos-v2.img"},
                                               {"checksum", payloads_["v2"].sha256}},
                                .target = payloads_["v2"].pretty_name}};
  if (o_.rollback) {
    phases.push_back({.name = "rollback",
                      .title = "Rollback to KubeOS v1 (the other slot)",
                      .spec_patch = {{"opstype", "rollback"}, {"osversion", payloads_["v1"].pretty_name}},
                      .target = payloads_["v1"].pretty_name});
  }
  if (o_.broken) {
    std::string stay = o_.rollback ? payloads_["v1"].pretty_name : payloads_["v2"].pretty_name;
    phases.push_back(
        {.name = "broken",
         .title = "Broken KubeOS v3 (its init fails): trial boot fails, GRUB falls back, rollout halts",
         .spec_patch = {{"opstype", "upgrade"},
                        {"osversion", payloads_["v3"].pretty_name},
                        {"imageurl", server_->base_url() + "/kubeos-v3.img"},
                        {"checksum", payloads_["v3"].sha256}},
         .target = payloads_["v3"].pretty_name,
         .expect_halt = true,
         .previous = stay});
  }
  bool ok = true;
  Clock::time_point start = Clock::now();
  for (const Phase& ph : phases) {
    r.summary["phases"].push_back(RunPhase(ph, &ok));
    if (!r.summary["phases"].back().value("completed", false)) break;
  }
  r.summary["rollouts_seconds"] = std::round(Seconds(Clock::now() - start) * 10) / 10;
  r.summary["total_seconds"] = std::round(Seconds(Clock::now() - t0_) * 10) / 10;
  r.summary["image_server_requests"] = server_->requests();
  // Refused client certificates; clients that refused ours; peers that closed or timed out mid-handshake.
  r.summary["image_server_rejected_handshakes"] = server_->rejected_handshakes();
  r.summary["image_server_aborted_handshakes"] = server_->aborted_handshakes();
  r.summary["image_server_dropped_handshakes"] = server_->dropped_handshakes();
  r.summary["ok"] = ok;
  r.ok = ok;
  print_host_events_ = false;

  // Summary.
  std::string s = "\n=== Summary ===\n";
  s += fmt::format(
      "{} nodes, maxunavailable {}, {} MiB slots, {} MiB ext4 payloads ({}), image server: {} "
      "requests over mutual TLS\n",
      o_.nodes, o_.max_unavailable, o_.slot_mib, o_.payload_mib, payloads_["v2"].built_by,
      server_->requests());
  for (const json& ph : r.summary["phases"]) {
    s += fmt::format("{:<9} {:<10} {}: {:.1f} s", ph.value("name", ""), "\"" + ph.value("target", "") + "\"",
                     !ph.value("ok", false)           ? "FAILED"
                     : ph.value("expect_halt", false) ? "halted as expected"
                                                      : "OK",
                     ph.value("seconds", 0.0));
    if (ph.contains("node_seconds_median")) {
      s += fmt::format("; per node {:.1f} / {:.1f} / {:.1f} s (min/median/max)",
                       ph.value("node_seconds_min", 0.0), ph.value("node_seconds_median", 0.0),
                       ph.value("node_seconds_max", 0.0));
    }
    s += "\n";
    if (ph.value("name", "") != "broken")
      s += "          hand-off latency: " + ph.value("handoff", "") + "\n";
    s += fmt::format(
        "          PDB: min {} ready (minAvailable {}), {} violations; max {} nodes unavailable "
        "(budget {}), {} over budget; {} left cordoned\n",
        ph.value("min_ready_replicas", 0), ph.value("min_available", 0), ph.value("pdb_violations", 0),
        ph.value("max_unavailable_seen", 0), o_.max_unavailable, ph.value("budget_violations", 0),
        ph.value("cordoned_left", 0));
    // (fell_back and the counts are absent when the OS could not be applied.)
    if (ph.value("name", "") == "broken" && ph.contains("fell_back")) {
      s += fmt::format("          fell back by themselves: {} ({} failed trial boots); badVersions {}\n",
                       fmt::join(ph["fell_back"].get<std::vector<std::string>>(), ", "),
                       ph.value("failed_boots", 0), ph["bad_versions"].dump());
      std::optional<int64_t> at_halt;
      if (auto it = ph.find("failed_at_halt"); it != ph.end() && it->is_number())
        at_halt = it->get<int64_t>();
      s += "          " +
           DescribeHaltFailures(at_halt, ph.value("failed", int64_t{0}), ph.value("total", int64_t{0})) +
           "\n";
      // os-operator's reason is the one it recorded with badVersions, so its count is the one at the halt.
      s += fmt::format("          rollout {} (reason as recorded at the halt): {}\n",
                       ph.value("os_rollout", ""), ph.value("os_message", ""));
    }
    if (ph.contains("node_seconds") && !ph["node_seconds"].empty()) {
      std::string per;
      for (const auto& [n, sec] : ph["node_seconds"].items())
        per += fmt::format(" {} {:.1f}s", n, sec.get<double>());
      s += "          time per node:" + per + "\n";
    }
  }
  s +=
      fmt::format("total {:.1f} s (rollouts {:.1f} s): {}\n", r.summary.value("total_seconds", 0.0),
                  r.summary.value("rollouts_seconds", 0.0), ok ? "every check passed" : "SOME CHECKS FAILED");
  p_.Raw(s);
  return r;
}

}  // namespace

DemoResult RunDemo(const DemoOptions& options, std::ostream& out) {
  Demo d(options, out);
  DemoResult r = d.Run();
  if (!options.summary_json.empty()) {
    Status s = WriteFileAtomic(options.summary_json, r.summary.dump(2) + "\n");
    if (!s.ok()) out << "write summary: " << s.ToString() << "\n";
  }
  return r;
}

}  // namespace kubeos::sim
