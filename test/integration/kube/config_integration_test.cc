// Client configuration against the real control plane: in-cluster configuration from service-account files
// (the success path a pod takes), and a rotated bearer token picked up after the re-read period. Part of
// kube_client_integration_test (its TestClusterOptions() starts the cluster).
#include <gtest/gtest.h>

#include <thread>

#include "common/file.h"
#include "harness/cluster_gtest.h"
#include "kube/client.h"
#include "kube/config.h"

namespace kubeos::testing {
namespace {

using kube::Client;
using kube::Resource;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

const Resource kConfigMaps = Resource::ConfigMaps();

// A pod's view of the cluster: KUBERNETES_SERVICE_HOST/PORT and the service-account directory, here holding
// the harness's admin token (the restricted one later), the cluster CA and a namespace.
struct ServiceAccountFiles {
  TempDir dir;
  kube::InClusterSource source;

  static ServiceAccountFiles Write(const std::string& token, const std::string& ns) {
    auto d = TempDir::Create("sa");
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    ServiceAccountFiles f{std::move(*d), {}};
    f.source = kube::InClusterSourceFromEnvironment(f.dir.path());
    // server() is https://127.0.0.1:<port>.
    const std::string server = TestCluster().server();
    const size_t colon = server.rfind(':');
    f.source.host = server.substr(std::string("https://").size(), colon - std::string("https://").size());
    f.source.port = server.substr(colon + 1);
    EXPECT_TRUE(WriteFileAtomic(f.source.token_file, token + "\n").ok());
    EXPECT_TRUE(WriteFileAtomic(f.source.ca_file, TestCluster().AdminConfig().ca_pem).ok());
    EXPECT_TRUE(WriteFileAtomic(f.source.namespace_file, ns).ok());
    return f;
  }
};

std::string MakeNamespace() {
  Client admin(TestCluster().AdminConfig());
  std::string ns = UniqueTestNamespace();
  auto r = admin.Create(Resource::Namespaces(), "", {{"metadata", {{"name", ns}}}});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return ns;
}

TEST(InClusterConfigTest, ServiceAccountFilesReachTheApiserverAndCreateAndRead) {
  const std::string ns = MakeNamespace();
  auto sa = ServiceAccountFiles::Write(TestCluster().AdminTokenConfig().bearer_token, ns);
  auto cfg = kube::InClusterConfig(sa.source);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->server, TestCluster().server());
  EXPECT_EQ(cfg->default_namespace, ns);
  EXPECT_EQ(cfg->bearer_token_file, sa.source.token_file);
  EXPECT_EQ(cfg->bearer_token_reread_period, std::chrono::minutes(1));  // client-go's default

  // TLS verified against ca.crt (no insecure flag), authenticated by the token.
  Client c(*cfg);
  auto created = c.Create(kConfigMaps, cfg->default_namespace,
                          {{"apiVersion", "v1"},
                           {"kind", "ConfigMap"},
                           {"metadata", {{"name", "in-cluster"}}},
                           {"data", {{"k", "v"}}}});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto read = c.Get(kConfigMaps, cfg->default_namespace, "in-cluster");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ((*read)["data"]["k"], "v");
  EXPECT_EQ((*read)["metadata"]["uid"], (*created)["metadata"]["uid"]);
}

TEST(InClusterConfigTest, RotatedTokenIsUsedOnceTheRereadPeriodHasPassed) {
  const std::string ns = MakeNamespace();
  auto sa = ServiceAccountFiles::Write(TestCluster().AdminTokenConfig().bearer_token, ns);
  auto cfg = kube::InClusterConfig(sa.source);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  constexpr auto kPeriod = seconds(2);
  cfg->bearer_token_reread_period = kPeriod;
  kube::RestConfig long_period = *cfg;
  long_period.bearer_token_reread_period = std::chrono::hours(1);

  const auto before_first_read = std::chrono::steady_clock::now();
  Client rotating(*cfg);
  Client cached(long_period);
  ASSERT_TRUE(rotating.Get(Resource::Namespaces(), "", ns).ok());
  ASSERT_TRUE(cached.Get(Resource::Namespaces(), "", ns).ok());

  // The kubelet swaps the projected token file; here it becomes the restricted identity, which RBAC grants
  // nothing, so the first request with the new token is Forbidden.
  ASSERT_TRUE(WriteFileAtomic(sa.source.token_file, TestCluster().RestrictedTokenConfig().bearer_token).ok());
  Status last;
  const auto deadline = std::chrono::steady_clock::now() + kPeriod + seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    last = rotating.Get(Resource::Namespaces(), "", ns).status();
    if (!last.ok()) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  const auto denied_after = std::chrono::steady_clock::now() - before_first_read;
  EXPECT_EQ(last.code(), StatusCode::kPermissionDenied) << last.ToString();
  EXPECT_NE(last.message().find("kubeos-restricted"), std::string::npos) << last.ToString();
  // Not re-read before the period: the token was first read after before_first_read.
  EXPECT_GE(denied_after, kPeriod);

  // A client whose period has not passed keeps its cached token (the file is not read on every request).
  Status still_admin = cached.Get(Resource::Namespaces(), "", ns).status();
  EXPECT_TRUE(still_admin.ok()) << still_admin.ToString();

  // A new client reads the file on its first request, even when a (stale) bearer_token is also set: the
  // file wins, as with client-go's tokenFile.
  Client fresh(long_period);
  EXPECT_EQ(fresh.Get(Resource::Namespaces(), "", ns).status().code(), StatusCode::kPermissionDenied);
}

TEST(InClusterConfigTest, KubeconfigStyleTokenFileWithoutTokenIsReadOnFirstUse) {
  auto dir = TempDir::Create("tokenfile");
  ASSERT_TRUE(dir.ok());
  kube::RestConfig cfg = TestCluster().AdminTokenConfig();
  cfg.bearer_token_file = dir->path() / "token";
  ASSERT_TRUE(WriteFileAtomic(cfg.bearer_token_file, cfg.bearer_token + "\n").ok());
  cfg.bearer_token.clear();  // as LoadKubeconfig leaves it for a user with only tokenFile
  Client c(cfg);
  auto r = c.List(Resource::Namespaces(), "", {{"limit", "1"}});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

}  // namespace
}  // namespace kubeos::testing
