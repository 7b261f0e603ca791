// `kubeos-testcluster env` (hack/cluster env) against the running test control plane: its lines, eval'd by
// bash, must give exactly the kubeconfig and binary paths even when the state directory's path has a space
// and a single quote, and kubectl must then reach the cluster. Part of kube_client_integration_test.
#include <gtest/gtest.h>

#include <sstream>

#include "common/file.h"
#include "common/process.h"
#include "harness/cluster_gtest.h"

namespace kubeos::testing {
namespace {

using std::chrono::seconds;

TEST(TestclusterEnvTest, PathsWithSpacesAndQuotesSurviveEval) {
  auto tmp = TempDir::Create("env");
  ASSERT_TRUE(tmp.ok());
  // The same cluster, reached through a path a shell would split or cut without quoting.
  const std::filesystem::path link = tmp->path() / "it's a $HOME dir";
  std::filesystem::create_directory_symlink(TestCluster().dir(), link);

  auto env = RunProgram({KUBEOS_TESTCLUSTER, "env", "--dir", link.string()}, seconds(30));
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  ASSERT_EQ(env->exit_code, 0) << env->output;
  std::string exports;
  std::istringstream lines(env->output);
  for (std::string l; std::getline(lines, l);) {
    if (l.rfind("export ", 0) == 0) exports += l + "\n";
  }
  ASSERT_FALSE(exports.empty()) << env->output;

  auto shell = RunProgram({"bash", "-c",
                           "set -eu\n" + exports +
                               "printf 'KUBECONFIG=%s\\n' \"$KUBECONFIG\"\n"
                               "printf 'PATH0=%s\\n' \"${PATH%%:*}\"\n"
                               "kubectl get --raw /readyz\n"},
                          seconds(60));
  ASSERT_TRUE(shell.ok()) << shell.status().ToString();
  EXPECT_EQ(shell->exit_code, 0) << exports << shell->output;
  EXPECT_NE(shell->output.find("KUBECONFIG=" + (link / "admin.kubeconfig").string() + "\n"),
            std::string::npos)
      << exports << shell->output;
  EXPECT_NE(shell->output.find("PATH0=" + TestCluster().bin_dir().string() + "\n"), std::string::npos)
      << exports << shell->output;
  EXPECT_NE(shell->output.find("ok"), std::string::npos) << shell->output;  // kubectl reached /readyz
}

}  // namespace
}  // namespace kubeos::testing
