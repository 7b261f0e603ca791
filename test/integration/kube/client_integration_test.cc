// The Kubernetes client library against a real control plane (etcd, kube-apiserver, kube-controller-manager,
// kwok): pagination, patches, server-side apply, delete preconditions, the status subresource, optimistic
// concurrency with RetryOnConflict, PDB-blocked eviction, the informer with indexers, events aggregation,
// leader election handed over between two processes, and finally an informer that survives an apiserver
// restart and relists after a 410 Gone (etcd compacted behind its back).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/os.h"
#include "common/file.h"
#include "common/process.h"
#include "harness/cluster_gtest.h"
#include "kube/client.h"
#include "kube/events.h"
#include "kube/informer.h"

namespace kubeos::testing {

ControlPlaneOptions TestClusterOptions() { return {.controller_manager = true, .kwok = true}; }

namespace {

using kube::Client;
using kube::Resource;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

const Resource kConfigMaps = Resource::ConfigMaps();

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return pred();
}

kube::RestConfig FastConfig() {
  auto cfg = TestCluster().AdminConfig();
  cfg.qps = -1;  // tests measure the server, not the client-side limiter
  return cfg;
}

std::string MakeNamespace(Client& c) {
  std::string ns = UniqueTestNamespace();
  auto r = c.Create(Resource::Namespaces(), "", {{"metadata", {{"name", ns}}}});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return ns;
}

json ConfigMap(const std::string& name, const json& labels = json::object(),
               const json& data = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"data", data}};
}

TEST(ClientTest, PaginatedListReturnsEveryItemAcrossPages) {
  Client c(FastConfig());
  std::string ns = MakeNamespace(c);
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(c.Create(kConfigMaps, ns, ConfigMap("cm-" + std::to_string(i), {{"page", "yes"}})).ok());
  }
  auto page = c.ListPage(kConfigMaps, ns, kube::ListOptions{.label_selector = "page=yes", .limit = 3});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ((*page)["items"].size(), 3U);
  EXPECT_FALSE(page->value("/metadata/continue"_json_pointer, std::string()).empty())
      << "server did not paginate";

  auto all = c.ListAll(kConfigMaps, ns, {.label_selector = "page=yes", .limit = 3});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ((*all)["items"].size(), 7U);
  EXPECT_FALSE((*all)["metadata"]["resourceVersion"].get<std::string>().empty());
  EXPECT_FALSE((*all)["metadata"].contains("continue"));
}

TEST(ClientTest, PatchesApplyAndDeletePreconditions) {
  Client c(FastConfig());
  std::string ns = MakeNamespace(c);
  auto created = c.Create(kConfigMaps, ns, ConfigMap("p", {}, {{"a", "1"}, {"b", "2"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();

  // Merge patch: null deletes a key.
  auto merged =
      c.Patch(kConfigMaps, ns, "p", kube::PatchType::kMerge, {{"data", {{"a", nullptr}, {"c", "3"}}}});
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_EQ((*merged)["data"], (json{{"b", "2"}, {"c", "3"}}));

  // JSON patch with a failing `test` precondition is rejected and changes nothing.
  auto failed = c.Patch(kConfigMaps, ns, "p", kube::PatchType::kJson,
                        json::array({{{"op", "test"}, {"path", "/data/b"}, {"value", "wrong"}},
                                     {{"op", "replace"}, {"path", "/data/b"}, {"value", "x"}}}));
  EXPECT_FALSE(failed.ok());
  auto ok = c.Patch(kConfigMaps, ns, "p", kube::PatchType::kJson,
                    json::array({{{"op", "test"}, {"path", "/data/b"}, {"value", "2"}},
                                 {{"op", "replace"}, {"path", "/data/b"}, {"value", "x"}}}));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)["data"]["b"], "x");

  // Server-side apply: two managers; a conflicting field is kConflict unless forced.
  json applied = {
      {"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "p"}}}, {"data", {{"d", "4"}}}};
  auto a1 = c.Apply(kConfigMaps, ns, applied, "manager-one");
  ASSERT_TRUE(a1.ok()) << a1.status().ToString();
  EXPECT_EQ((*a1)["data"]["d"], "4");
  json rival = applied;
  rival["data"]["d"] = "5";
  auto conflict = c.Apply(kConfigMaps, ns, rival, "manager-two");
  EXPECT_EQ(conflict.status().code(), StatusCode::kConflict) << conflict.status().ToString();
  auto forced = c.Apply(kConfigMaps, ns, rival, "manager-two", /*force=*/true);
  ASSERT_TRUE(forced.ok()) << forced.status().ToString();
  EXPECT_EQ((*forced)["data"]["d"], "5");
  EXPECT_EQ(c.Apply(kConfigMaps, ns, rival, "").status().code(), StatusCode::kInvalidArgument);

  // Delete preconditions: a wrong uid or resourceVersion is a conflict; the right ones delete.
  std::string uid = (*forced)["metadata"]["uid"];
  std::string rv = (*forced)["metadata"]["resourceVersion"];
  EXPECT_EQ(c.Delete(kConfigMaps, ns, "p", kube::DeleteOptions{.precondition_uid = "not-the-uid"}).code(),
            StatusCode::kConflict);
  EXPECT_EQ(c.Delete(kConfigMaps, ns, "p", kube::DeleteOptions{.precondition_resource_version = "1"}).code(),
            StatusCode::kConflict);
  Status del = c.Delete(
      kConfigMaps, ns, "p",
      kube::DeleteOptions{
          .precondition_uid = uid, .precondition_resource_version = rv, .propagation_policy = "Background"});
  EXPECT_TRUE(del.ok()) << del.ToString();
  EXPECT_EQ(c.Get(kConfigMaps, ns, "p").status().code(), StatusCode::kNotFound);
}

TEST(ClientTest, StaleUpdateConflictsAndRetryOnConflictConverges) {
  Client c(FastConfig());
  Client rival(FastConfig());
  std::string ns = MakeNamespace(c);
  ASSERT_TRUE(c.Create(kConfigMaps, ns, ConfigMap("counter", {}, {{"n", "0"}})).ok());
  auto stale = c.Get(kConfigMaps, ns, "counter");
  ASSERT_TRUE(stale.ok());
  ASSERT_TRUE(
      rival.Patch(kConfigMaps, ns, "counter", kube::PatchType::kMerge, {{"data", {{"rival", "1"}}}}).ok());
  json edit = *stale;
  edit["data"]["n"] = "1";
  auto lost = c.Update(kConfigMaps, ns, edit);
  EXPECT_EQ(lost.status().code(), StatusCode::kConflict) << lost.status().ToString();

  // Each attempt re-reads, mutates and writes; the rival writes between our read and write twice.
  int attempts = 0;
  Status s = kube::RetryOnConflict(kube::kDefaultRetry, [&]() -> Status {
    ++attempts;
    KUBEOS_ASSIGN_OR_RETURN(json cm, c.Get(kConfigMaps, ns, "counter"));
    if (attempts <= 2) {
      auto r = rival.Patch(kConfigMaps, ns, "counter", kube::PatchType::kMerge,
                           {{"data", {{"rival", std::to_string(attempts + 1)}}}});
      if (!r.ok()) return r.status();
    }
    cm["data"]["n"] = std::to_string(std::stoi(cm["data"]["n"].get<std::string>()) + 1);
    return c.Update(kConfigMaps, ns, cm).status();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(attempts, 3);
  auto final_cm = c.Get(kConfigMaps, ns, "counter");
  ASSERT_TRUE(final_cm.ok());
  EXPECT_EQ((*final_cm)["data"]["n"], "1");  // incremented exactly once, on top of the rival's writes
  EXPECT_EQ((*final_cm)["data"]["rival"], "3");

  // A rival that never stops wins: after DefaultRetry's 5 steps the conflict surfaces.
  attempts = 0;
  s = kube::RetryOnConflict(kube::kDefaultRetry, [&]() -> Status {
    ++attempts;
    KUBEOS_ASSIGN_OR_RETURN(json cm, c.Get(kConfigMaps, ns, "counter"));
    (void)rival.Patch(kConfigMaps, ns, "counter", kube::PatchType::kMerge,
                      {{"data", {{"rival", "again" + std::to_string(attempts)}}}});
    cm["data"]["n"] = "never";
    return c.Update(kConfigMaps, ns, cm).status();
  });
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_EQ(attempts, 5);
}

// The OSInstance CRD with a status subresource (schema reduced to preserve-unknown-fields: the real manifests
// are installed by the deployment, not by this library).
Status InstallOsInstanceCrd(Client& c) {
  const Resource crds = Resource::CustomResourceDefinitions();
  json schema = {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
  json crd = {{"apiVersion", "apiextensions.k8s.io/v1"},
              {"kind", "CustomResourceDefinition"},
              {"metadata", {{"name", "osinstances.upgrade.openeuler.org"}}},
              {"spec",
               {{"group", "upgrade.openeuler.org"},
                {"scope", "Namespaced"},
                {"names",
                 {{"plural", "osinstances"},
                  {"singular", "osinstance"},
                  {"kind", "OSInstance"},
                  {"listKind", "OSInstanceList"}}},
                {"versions", json::array({{{"name", "v1alpha1"},
                                           {"served", true},
                                           {"storage", true},
                                           {"subresources", {{"status", json::object()}}},
                                           {"schema", {{"openAPIV3Schema", schema}}}}})}}}};
  auto r = c.Create(crds, "", crd);
  if (!r.ok() && r.status().code() != StatusCode::kAlreadyExists) return r.status();
  bool served = Eventually([&] { return c.List(api::OsInstanceResource(), "default").ok(); }, seconds(30));
  return served ? Status::Ok() : UnavailableError("OSInstance CRD not served");
}

TEST(ClientTest, StatusSubresourceOfTypedOsInstance) {
  Client c(FastConfig());
  ASSERT_TRUE(InstallOsInstanceCrd(c).ok());
  std::string ns = MakeNamespace(c);
  api::OSInstance osi;
  osi.metadata = {{"name", "node-a"}, {"labels", {{api::kOsInstanceNodeLabel, "node-a"}}}};
  osi.spec.nodestatus = api::kNodeStatusIdle;
  osi.spec.unknown = {{"futureField", "kept"}};
  auto created = c.Create(api::OsInstanceResource(), ns, api::ToJson(osi));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto decoded = api::OsInstanceFromJson(*created);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->spec.nodestatus, "idle");
  EXPECT_EQ(decoded->spec.unknown, osi.spec.unknown);  // the server kept it and we did too
  const int64_t gen = api::Generation(decoded->metadata);

  // A write to /status changes only status, and does not bump the generation.
  api::OSInstance with_status = *decoded;
  with_status.status = api::OSInstanceStatus{.sysconfigs = api::SysConfigs{.version = "s1"}};
  with_status.spec.nodestatus = api::kNodeStatusUpgrade;  // ignored by /status
  auto st = c.UpdateStatus(api::OsInstanceResource(), ns, api::ToJson(with_status));
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  auto after = api::OsInstanceFromJson(*st);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->status->sysconfigs->version, "s1");
  EXPECT_EQ(after->spec.nodestatus, "idle");
  EXPECT_EQ(api::Generation(after->metadata), gen);

  // A write to the main resource ignores status and bumps the generation on a spec change.
  api::OSInstance spec_edit = *after;
  spec_edit.spec.nodestatus = api::kNodeStatusConfig;
  spec_edit.status->sysconfigs->version = "ignored";
  auto up = c.Update(api::OsInstanceResource(), ns, api::ToJson(spec_edit));
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  auto final_osi = api::OsInstanceFromJson(*up);
  ASSERT_TRUE(final_osi.ok());
  EXPECT_EQ(final_osi->spec.nodestatus, "config");
  EXPECT_EQ(final_osi->status->sysconfigs->version, "s1");
  EXPECT_EQ(api::Generation(final_osi->metadata), gen + 1);

  // Status by merge patch on the subresource, and by server-side apply.
  auto patched = c.Patch(api::OsInstanceResource(), ns, "node-a", kube::PatchType::kMerge,
                         {{"status", {{"upgradeconfigs", {{"version", "u1"}}}}}}, "status");
  ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  EXPECT_EQ((*patched)["status"]["upgradeconfigs"]["version"], "u1");
  auto ssa = c.Apply(api::OsInstanceResource(), ns,
                     {{"apiVersion", api::kApiVersion},
                      {"kind", "OSInstance"},
                      {"metadata", {{"name", "node-a"}}},
                      {"status", {{"sysconfigs", {{"version", "s2"}}}}}},
                     "kubeos-proxy", /*force=*/true, "status");
  ASSERT_TRUE(ssa.ok()) << ssa.status().ToString();
  EXPECT_EQ((*ssa)["status"]["sysconfigs"]["version"], "s2");
}

json KwokNode(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", {{"type", "kwok"}}}}},
          {"spec",
           {{"taints",
             json::array({{{"key", "kwok.x-k8s.io/node"}, {"value", "fake"}, {"effect", "NoSchedule"}}})}}}};
}

json BoundPod(const std::string& name, const std::string& node, const std::string& app) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"labels", {{"app", app}}}}},
          {"spec",
           {{"nodeName", node},
            {"tolerations", json::array({{{"key", "kwok.x-k8s.io/node"}, {"operator", "Exists"}}})},
            {"containers", json::array({{{"name", "c"}, {"image", "registry.invalid/c:1"}}})}}}};
}

TEST(ClientTest, EvictionBlockedByPdbIsResourceExhaustedWithRetryAfter) {
  Client c(FastConfig());
  std::string ns = MakeNamespace(c);
  const std::string node = ns + "-node";
  ASSERT_TRUE(c.Create(Resource::Nodes(), "", KwokNode(node)).ok());
  ASSERT_TRUE(c.Create(Resource::Pods(), ns, BoundPod("guarded", node, "guarded")).ok());
  ASSERT_TRUE(c.Create(Resource::Pods(), ns, BoundPod("free", node, "free")).ok());

  // The informer's field index answers "which pods run on this node" without API calls.
  kube::JsonInformer pods(c, {.resource = Resource::Pods(), .ns = ns});
  pods.store().AddIndexer("node", kube::FieldIndexer("/spec/nodeName"));
  pods.Start();
  ASSERT_TRUE(pods.WaitForSync(milliseconds(20000)));
  EXPECT_EQ(pods.store().ByIndex("node", node).size(), 2U);

  const Resource pdbs = Resource::PodDisruptionBudgets();
  ASSERT_TRUE(
      c.Create(pdbs, ns,
               {{"apiVersion", "policy/v1"},
                {"kind", "PodDisruptionBudget"},
                {"metadata", {{"name", "guard"}}},
                {"spec", {{"minAvailable", 1}, {"selector", {{"matchLabels", {{"app", "guarded"}}}}}}}})
          .ok());
  // kwok makes the pod Running and Ready; KCM's disruption controller then publishes the PDB status.
  ASSERT_TRUE(Eventually(
      [&] {
        auto p = c.Get(pdbs, ns, "guard");
        if (!p.ok()) return false;
        const json& s = (*p)["status"];
        return s.value("observedGeneration", 0) == (*p)["metadata"].value("generation", -1) &&
               s.value("currentHealthy", 0) == 1 && s.value("disruptionsAllowed", -1) == 0;
      },
      seconds(60)))
      << "the disruption controller did not observe the PDB";

  // disruptionsAllowed == 0: 429 without a Retry-After (kube-apiserver 1.36 sets retryAfterSeconds 0 here;
  // the caller chooses its own delay, kubectl drain uses 5 s). Not retried by the client: POST.
  auto start = std::chrono::steady_clock::now();
  Status blocked = c.Evict(ns, "guarded");
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5)) << "an eviction's 429 must not be retried";
  EXPECT_EQ(blocked.code(), StatusCode::kResourceExhausted) << blocked.ToString();
  EXPECT_NE(blocked.message().find("needs 1 healthy pods"), std::string::npos) << blocked.ToString();

  // A PDB whose status is stale (generation not yet observed): 429 with Retry-After: 10. Stopping KCM makes
  // the staleness deterministic.
  ASSERT_TRUE(TestCluster().StopComponent(Component::kControllerManager).ok());
  ASSERT_TRUE(c.Patch(pdbs, ns, "guard", kube::PatchType::kMerge,
                      {{"spec", {{"unhealthyPodEvictionPolicy", "AlwaysAllow"}}}})
                  .ok());
  start = std::chrono::steady_clock::now();
  Status stale = c.Evict(ns, "guarded");
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5)) << "an eviction's 429 must not be retried";
  EXPECT_EQ(stale.code(), StatusCode::kResourceExhausted) << stale.ToString();
  ASSERT_TRUE(stale.retry_after().has_value()) << stale.ToString();
  EXPECT_EQ(*stale.retry_after(), seconds(10));
  ASSERT_TRUE(TestCluster().StartComponent(Component::kControllerManager).ok());

  Status evicted = c.Evict(ns, "free");
  EXPECT_TRUE(evicted.ok()) << evicted.ToString();
  EXPECT_EQ(c.Evict(ns, "no-such-pod").code(), StatusCode::kNotFound);
  // kwok deletes the evicted pod; the informer's delete handler path keeps the index in step.
  EXPECT_TRUE(Eventually([&] { return pods.store().ByIndex("node", node).size() == 1U; }, seconds(30)));
  pods.Stop();
  (void)c.Delete(Resource::Nodes(), "", node);
}

TEST(EventRecorderTest, RepeatsAreAggregatedIntoOneEvent) {
  Client c(FastConfig());
  std::string ns = MakeNamespace(c);
  auto cm = c.Create(kConfigMaps, ns, ConfigMap("subject"));
  ASSERT_TRUE(cm.ok());
  kube::EventRecorder rec(c, "kubeos-test", "host-1");
  for (int i = 0; i < 3; ++i) {
    auto e = rec.Record(*cm, "Normal", "Draining", "draining node n1");
    ASSERT_TRUE(e.ok()) << e.status().ToString();
  }
  ASSERT_TRUE(rec.Record(*cm, "Warning", "DrainFailed", "pod p1 blocked").ok());
  auto events = c.ListPage(Resource::Events(), ns, kube::ListOptions{});
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  std::map<std::string, int> counts;
  for (const auto& e : (*events)["items"]) counts[e["reason"].get<std::string>()] += e["count"].get<int>();
  EXPECT_EQ((*events)["items"].size(), 2U);
  EXPECT_EQ(counts["Draining"], 3);
  EXPECT_EQ(counts["DrainFailed"], 1);
  for (const auto& e : (*events)["items"]) {
    EXPECT_EQ(e["involvedObject"]["name"], "subject");
    EXPECT_EQ(e["source"]["component"], "kubeos-test");
  }
}

// A kube_leader_demo child whose output lines we can poll.
struct Candidate {
  std::string identity;
  std::filesystem::path out;
  Process proc;

  static Candidate Start(const std::string& identity, const std::filesystem::path& dir, const std::string& ns,
                         double lease_s, double renew_s, double retry_s) {
    Candidate cand{identity, dir / (identity + ".log"), Process::Adopt(-1, true)};
    auto p =
        Process::Spawn({.argv = {KUBE_LEADER_DEMO, "--kubeconfig", TestCluster().admin_kubeconfig().string(),
                                 "--namespace", ns, "--lease", "demo-lease", "--identity", identity,
                                 "--lease-duration", std::to_string(lease_s), "--renew-deadline",
                                 std::to_string(renew_s), "--retry-period", std::to_string(retry_s)},
                        .output_file = cand.out});
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (p.ok()) cand.proc = std::move(*p);
    return cand;
  }
  bool Said(const std::string& line) const {
    std::ifstream f(out);
    std::string l;
    while (std::getline(f, l)) {
      if (l == line) return true;
    }
    return false;
  }
};

TEST(LeaderElectionTest, TwoProcessesHandOverOnCrashWithinLeaseAndAtOnceOnRelease) {
  Client c(FastConfig());
  std::string ns = MakeNamespace(c);
  auto dir = TempDir::Create("leader");
  ASSERT_TRUE(dir.ok());
  // Short timings keep the test fast; the protocol is the same as with 15/10/2.
  constexpr double kLease = 6, kRenew = 4, kRetry = 0.5;

  Candidate a = Candidate::Start("alpha", dir->path(), ns, kLease, kRenew, kRetry);
  ASSERT_TRUE(Eventually([&] { return a.Said("started-leading alpha"); }, seconds(20)));
  Candidate b = Candidate::Start("beta", dir->path(), ns, kLease, kRenew, kRetry);
  ASSERT_TRUE(Eventually([&] { return b.Said("new-leader alpha"); }, seconds(20)));
  EXPECT_FALSE(b.Said("started-leading beta"));

  // Crash (no release): beta must wait for the lease to expire, but take over within about one duration.
  ASSERT_EQ(kill(a.proc.pid(), SIGKILL), 0);
  auto crashed = std::chrono::steady_clock::now();
  ASSERT_TRUE(Eventually([&] { return b.Said("started-leading beta"); }, seconds(30)));
  auto crash_handover = std::chrono::steady_clock::now() - crashed;
  EXPECT_LT(crash_handover, milliseconds(static_cast<int>((kLease + 3 * kRetry * 2.2) * 1000)));
  EXPECT_GT(crash_handover, milliseconds(static_cast<int>((kLease - 2 * kRetry * 2.2) * 1000)))
      << "beta must respect alpha's lease, judged by its own observation time";
  a.proc.Wait();

  // Graceful stop releases the lease: the standby takes over well within a lease duration.
  Candidate a2 = Candidate::Start("alpha2", dir->path(), ns, kLease, kRenew, kRetry);
  ASSERT_TRUE(Eventually([&] { return a2.Said("new-leader beta"); }, seconds(20)));
  auto released = std::chrono::steady_clock::now();
  ASSERT_TRUE(b.proc.Stop(seconds(10)).ok());
  EXPECT_EQ(b.proc.ExitCode(), 0);
  EXPECT_TRUE(b.Said("stopped-leading beta"));
  ASSERT_TRUE(Eventually([&] { return a2.Said("started-leading alpha2"); }, seconds(30)));
  auto release_handover = std::chrono::steady_clock::now() - released;
  EXPECT_LT(release_handover, milliseconds(static_cast<int>(kLease * 1000 / 2)));

  auto lease = c.Get(Resource::Leases(), ns, "demo-lease");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "alpha2");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 2);
  ASSERT_TRUE(a2.proc.Stop(seconds(10)).ok());
}

// --- etcd behind the apiserver's back, through etcd's HTTP/JSON gateway. ---

std::string Base64(std::string_view s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

StatusOr<json> Etcd(const std::string& method_path, const json& body) {
  kube::HttpTransport etcd(kube::RestConfig{.server = TestCluster().etcd_url()});
  KUBEOS_ASSIGN_OR_RETURN(
      auto resp,
      etcd.Do(
          {.method = "POST", .path = method_path, .body = body.dump(), .content_type = "application/json"}));
  if (resp.status != 200) return UnavailableError("etcd " + method_path + ": " + resp.body);
  return json::parse(resp.body);
}

TEST(InformerTest, SurvivesApiserverRestartAndRelistsAfterGone) {
  Client c(FastConfig());
  std::string ns = MakeNamespace(c);
  for (const char* n : {"keep", "vanish"})
    ASSERT_TRUE(c.Create(kConfigMaps, ns, ConfigMap(n, {{"inf", "yes"}})).ok());

  kube::JsonInformer inf(c, {.resource = kConfigMaps, .ns = ns, .label_selector = "inf=yes"});
  std::mutex mu;
  std::vector<std::string> tombstones, adds;
  inf.AddHandlers({.on_add =
                       [&](const auto& o) {
                         std::lock_guard<std::mutex> l(mu);
                         adds.push_back(kube::ObjectKey(*o));
                       },
                   .on_delete =
                       [&](const auto& d) {
                         std::lock_guard<std::mutex> l(mu);
                         if (d.final_state_unknown) tombstones.push_back(d.key);
                       }});
  inf.Start();
  ASSERT_TRUE(inf.WaitForSync(milliseconds(20000)));
  // The first list reads resourceVersion "0" (the watch cache, possibly a little behind); the watch then
  // delivers whatever the list missed.
  ASSERT_TRUE(Eventually([&] { return inf.store().Size() == 2U; }, seconds(10)));
  const std::string old_rv = inf.reflector().last_resource_version();
  ASSERT_EQ(inf.reflector().lists(), 1);

  // While the apiserver is down: delete "vanish" straight from etcd, churn the revision and compact, so
  // the informer's resourceVersion is gone for good and only a relist can reveal the delete.
  ASSERT_TRUE(TestCluster().StopComponent(Component::kApiServer).ok());
  ASSERT_TRUE(Etcd("/v3/kv/deleterange", {{"key", Base64("/registry/configmaps/" + ns + "/vanish")}}).ok());
  StatusOr<json> put = InternalError("no writes");
  for (int i = 0; i < 5; ++i) {
    put = Etcd("/v3/kv/put", {{"key", Base64("/kubeos-test/churn")}, {"value", Base64(std::to_string(i))}});
    ASSERT_TRUE(put.ok()) << put.status().ToString();
  }
  std::string revision = (*put)["header"]["revision"];
  ASSERT_TRUE(Etcd("/v3/kv/compaction", {{"revision", revision}}).ok());
  ASSERT_TRUE(TestCluster().StartComponent(Component::kApiServer).ok());

  // The reflector reconnects, gets 410 for its old resourceVersion, relists and emits a tombstone.
  ASSERT_TRUE(Eventually([&] { return inf.store().Get(ns + "/vanish") == nullptr; }, seconds(90)))
      << "the informer never relisted";
  EXPECT_GE(inf.reflector().gone(), 1);
  EXPECT_GE(inf.reflector().lists(), 2);
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(tombstones, std::vector<std::string>{ns + "/vanish"});
  }
  // And it keeps watching after the restart.
  ASSERT_TRUE(c.Create(kConfigMaps, ns, ConfigMap("after-restart", {{"inf", "yes"}})).ok());
  EXPECT_TRUE(Eventually([&] { return inf.store().Get(ns + "/after-restart") != nullptr; }, seconds(30)));
  inf.Stop();

  // A plain watch from the compacted resourceVersion is a typed kGone (HTTP 410 or an ERROR event).
  bool error_event_410 = false;
  Status w = c.Watch(kConfigMaps, ns, {.resource_version = old_rv, .timeout = seconds(5)},
                     [&](kube::WatchEvent&& ev) {
                       if (ev.type == kube::WatchEvent::Type::kError && ev.object.value("code", 0) == 410)
                         error_event_410 = true;
                       return ev.type != kube::WatchEvent::Type::kError;
                     });
  EXPECT_TRUE(error_event_410 || w.code() == StatusCode::kGone) << w.ToString();
}

}  // namespace
}  // namespace kubeos::testing
