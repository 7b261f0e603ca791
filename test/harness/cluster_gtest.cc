#include "harness/cluster_gtest.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/log.h"

namespace kubeos::testing {
namespace {

std::unique_ptr<ControlPlane> g_cluster;  // NOLINT: owned by the GoogleTest environment below
constexpr uint64_t kMiB = uint64_t{1024} * 1024;

std::string& ProgramName() {
  static std::string name;  // set once in main
  return name;
}

class ClusterEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* reuse = std::getenv("KUBEOS_TEST_CLUSTER_DIR");  // NOLINT(concurrency-mt-unsafe)
    StatusOr<std::unique_ptr<ControlPlane>> cp = reuse != nullptr && *reuse != '\0'
                                                     ? ControlPlane::Attach(reuse)
                                                     : ControlPlane::Start(TestClusterOptions());
    if (!cp.ok()) {
      // A missing control plane is a failure, never a silent skip (design/STYLE.md rule 35).
      FAIL() << "cannot start the test control plane: " << cp.status().ToString();
    }
    g_cluster = std::move(*cp);
    log::Info("test control plane ready",
              {{"server", g_cluster->server()},
               {"startup_s", static_cast<double>(g_cluster->startup_time().count()) / 1000.0},
               {"rss_mib", g_cluster->startup_resident_bytes() / kMiB},
               {"dir", g_cluster->dir().string()}});
  }
  void TearDown() override {
    if (g_cluster == nullptr) return;
    const uint64_t peak = g_cluster->PeakResidentBytes();
    // hack/test collects these lines into its closing summary (ctest shows test output only on failure).
    if (const char* summary = std::getenv("KUBEOS_TEST_SUMMARY");  // NOLINT(concurrency-mt-unsafe)
        summary != nullptr && *summary != '\0' && g_cluster->startup_time().count() > 0) {
      std::ofstream out(summary, std::ios::app);
      out << fmt::format("{}: control plane start-up {:.1f} s, {} MiB resident after start, {} MiB peak\n",
                         ProgramName(), static_cast<double>(g_cluster->startup_time().count()) / 1000.0,
                         g_cluster->startup_resident_bytes() / kMiB, peak / kMiB);
    }
    g_cluster.reset();
  }
};

}  // namespace

ControlPlane& TestCluster() {
  KUBEOS_CHECK(g_cluster != nullptr);
  return *g_cluster;
}

std::string UniqueTestNamespace() {
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string raw =
      std::string("t-") + (info != nullptr ? std::string(info->test_suite_name()) + "-" + info->name() : "x");
  std::string ns;
  for (char c : raw) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0) {
      ns += static_cast<char>(std::tolower(u));
    } else if (!ns.empty() && ns.back() != '-') {
      ns += '-';
    }
  }
  if (ns.size() > 50) ns.resize(50);
  while (!ns.empty() && ns.back() == '-') ns.pop_back();
  return ns + "-" + std::to_string(counter++);
}

}  // namespace kubeos::testing

int main(int argc, char** argv) {
  kubeos::testing::ProgramName() = std::filesystem::path(argv[0]).filename().string();
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new kubeos::testing::ClusterEnvironment());  // gtest takes ownership
  return RUN_ALL_TESTS();
}
