#include "kube/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/file.h"

namespace kubeos::kube {
namespace {

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("kubeconfig-test");
    ASSERT_TRUE(d.ok());
    dir_ = std::make_unique<TempDir>(std::move(*d));
  }
  std::filesystem::path Write(const std::string& name, const std::string& text) {
    auto p = dir_->path() / name;
    EXPECT_TRUE(WriteFileAtomic(p, text).ok());
    return p;
  }
  std::unique_ptr<TempDir> dir_;
};

// base64("CA PEM") = "Q0EgUEVN", base64("KEY") = "S0VZ"
constexpr const char* kFirst = R"(apiVersion: v1
kind: Config
current-context: admin
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: Q0EgUEVN
users:
- name: admin
  user:
    client-certificate: certs/admin.crt
    client-key-data: S0VZ
- name: robot
  user:
    token: secret-token
contexts:
- name: admin
  context: {cluster: test, user: admin}
- name: robot
  context: {cluster: test, user: robot, namespace: kube-system}
)";

TEST_F(KubeconfigTest, DataAndRelativeFilesAreResolved) {
  std::filesystem::create_directories(dir_->path() / "certs");
  Write("certs/admin.crt", "CERT PEM");
  auto cfg = LoadKubeconfig(Write("config", kFirst));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->ca_pem, "CA PEM");
  EXPECT_EQ(cfg->client_cert_pem, "CERT PEM");
  EXPECT_EQ(cfg->client_key_pem, "KEY");
  EXPECT_EQ(cfg->default_namespace, "default");
}

TEST_F(KubeconfigTest, ExplicitContextPicksUserAndNamespace) {
  auto cfg = LoadKubeconfig(Write("config", kFirst), "robot");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->bearer_token, "secret-token");
  EXPECT_TRUE(cfg->client_cert_pem.empty());
  EXPECT_EQ(cfg->default_namespace, "kube-system");
}

TEST_F(KubeconfigTest, ListMergeFirstDefinitionWins) {
  auto a = Write("a", R"(current-context: robot
users:
- name: robot
  user: {token: from-a}
)");
  auto b = Write("b", kFirst);
  auto cfg = LoadKubeconfigList(a.string() + ":" + (dir_->path() / "missing").string() + ":" + b.string());
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->bearer_token, "from-a");
  EXPECT_EQ(cfg->default_namespace, "kube-system");
}

TEST_F(KubeconfigTest, ErrorsNameWhatIsMissing) {
  auto p = Write("config", kFirst);
  auto missing_ctx = LoadKubeconfig(p, "nope");
  ASSERT_FALSE(missing_ctx.ok());
  EXPECT_EQ(missing_ctx.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing_ctx.status().message().find("\"nope\""), std::string::npos);

  auto bad = LoadKubeconfig(Write("bad", "clusters: [unclosed"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);

  auto nofile = LoadKubeconfig(dir_->path() / "absent");
  EXPECT_EQ(nofile.status().code(), StatusCode::kNotFound);
  // The error names the path it looked at, so a typo in --kubeconfig is obvious.
  EXPECT_THAT(nofile.status().message(), ::testing::HasSubstr((dir_->path() / "absent").string()));
}

TEST_F(KubeconfigTest, InClusterNeedsEnvironment) {
  // Without KUBERNETES_SERVICE_HOST (unset in tests) the result says "not in a cluster".
  if (std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {  // NOLINT(concurrency-mt-unsafe): test main thread
    GTEST_SKIP() << "running inside a cluster";
  }
  auto cfg = InClusterConfig(dir_->path());
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(KubeconfigTest, InClusterFromInjectedSource) {
  InClusterSource src{.host = "fd00::1",
                      .port = "443",
                      .token_file = Write("token", "tok-1\n"),
                      .ca_file = Write("ca.crt", "CA PEM"),
                      .namespace_file = Write("namespace", "kubeos-system")};
  auto cfg = InClusterConfig(src);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->server, "https://[fd00::1]:443");
  EXPECT_EQ(cfg->bearer_token, "tok-1");
  EXPECT_EQ(cfg->bearer_token_file, src.token_file);
  EXPECT_EQ(cfg->bearer_token_reread_period, std::chrono::minutes(1));
  EXPECT_EQ(cfg->ca_pem, "CA PEM");
  EXPECT_EQ(cfg->default_namespace, "kubeos-system");

  src.namespace_file = dir_->path() / "absent";
  src.host = "10.96.0.1";
  cfg = InClusterConfig(src);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->server, "https://10.96.0.1:443");
  EXPECT_EQ(cfg->default_namespace, "default");

  src.ca_file = dir_->path() / "no-ca";
  EXPECT_EQ(InClusterConfig(src).status().code(), StatusCode::kNotFound);
  src.port.clear();
  EXPECT_EQ(InClusterConfig(src).status().code(), StatusCode::kFailedPrecondition);
}

TEST(InClusterSourceTest, ServiceAccountPathsUnderTheDirectory) {
  auto src = InClusterSourceFromEnvironment("/sa");
  EXPECT_EQ(src.token_file, "/sa/token");
  EXPECT_EQ(src.ca_file, "/sa/ca.crt");
  EXPECT_EQ(src.namespace_file, "/sa/namespace");
}

}  // namespace
}  // namespace kubeos::kube
