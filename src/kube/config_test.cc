#include "kube/config.h"

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

}  // namespace
}  // namespace kubeos::kube
