// A simulated host with the production os-agent, driven through the agent's CLI (as os-proxy would through
// the RPC): upgrade to v2 (trial boot, health check, mark good), rollback to v1, and a broken v3 whose trial
// boots fail twice before GRUB's fallback brings the host back on the committed slot. The Kubernetes side is
// a recording NodeReporter here (the e2e test covers the real API server).
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <thread>

#include "agent/client.h"
#include "agent/grubenv.h"
#include "common/file.h"
#include "common/process.h"
#include "sim/images.h"
#include "sim/sim_node.h"

namespace kubeos::sim {
namespace {

constexpr uint64_t kSlotBytes = uint64_t{16} << 20;

class RecordingReporter : public NodeReporter {
 public:
  Status Report(const std::string& node, const NodeReport& r) override {
    std::lock_guard lock(mu_);
    reports_.push_back(r);
    (void)node;
    return Status::Ok();
  }
  std::vector<NodeReport> reports() {
    std::lock_guard lock(mu_);
    return reports_;
  }

 private:
  std::mutex mu_;
  std::vector<NodeReport> reports_;
};

class SimHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = TempDir::Create("sim-host-test");
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    tmp_.emplace(std::move(*t));
    for (const auto& [v, broken] : {std::pair{"v1", false}, {"v2", false}, {"v3", true}}) {
      std::filesystem::path tree = tmp_->path() / (std::string("tree-") + v);
      ASSERT_TRUE(WriteRootfsTree(tree, v, broken).ok());
      auto p = BuildPayload("", tree, v, uint64_t{8} << 20, tmp_->path() / (std::string(v) + ".img"));
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      payloads_[v] = *p;
    }
    std::filesystem::path dir = tmp_->path() / "host";
    SimNodeOptions o{.name = "node-1",
                     .host = {.dir = dir,
                              .v1_image = payloads_["v1"].file,
                              .slot_bytes = kSlotBytes,
                              .reboot = {KUBEOS_DEMO_BIN, "sim-reboot", dir.string()},
                              .health_checks = {{"/bin/true"}}},
                     .agent_bin = OS_AGENT_BIN,
                     .timing = {.shutdown = std::chrono::milliseconds(50),
                                .boot = std::chrono::milliseconds(50),
                                .watchdog = std::chrono::milliseconds(100)},
                     .reporter = &reporter_,
                     .on_event = [this](const NodeEvent& e) {
                       std::lock_guard lock(mu_);
                       events_.push_back(std::string(NodeEventKindName(e.kind)) + ": " + e.text);
                     }};
    auto n = SimNode::Create(std::move(o));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    node_ = std::move(*n);
    ASSERT_TRUE(node_->Start().ok());
  }

  nlohmann::json Agent(const std::string& method, const nlohmann::json& params = nlohmann::json::array()) {
    auto r = agent::CallAgent(node_->host().socket(), method, params, std::chrono::seconds(60));
    EXPECT_TRUE(r.ok()) << method << ": " << r.status().ToString();
    return r.ok() ? *r : nlohmann::json();
  }

  void Install(const std::string& v) {
    const Payload& p = payloads_[v];
    Agent("prepare_upgrade",
          nlohmann::json::array({{{"version", p.pretty_name},
                                  {"image_type", "disk"},
                                  {"check_sum", p.sha256},
                                  {"image_url", p.file.string()},
                                  {"flag_safe", false},
                                  {"mtls", false},
                                  {"container_image", ""},
                                  {"certs", {{"ca_cert", ""}, {"client_cert", ""}, {"client_key", ""}}}}}));
  }

  // Waits until the node has booted `boots` times and its agent answers with a committed slot.
  nlohmann::json WaitCommitted(int boots) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (node_->boots() >= boots) {
        auto st = agent::CallAgent(node_->host().socket(), "status", nlohmann::json::array(),
                                   std::chrono::seconds(5));
        if (st.ok() && !(*st)["booted_slot"].is_null() && !st->value("on_trial", true)) return *st;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "node did not come back committed after boot " << boots;
    return {};
  }

  std::optional<TempDir> tmp_;
  std::map<std::string, Payload> payloads_;
  RecordingReporter reporter_;
  std::mutex mu_;
  std::vector<std::string> events_;
  std::unique_ptr<SimNode> node_;
};

TEST_F(SimHostTest, UpgradeRollbackAndBrokenTrialFallsBack) {
  EXPECT_EQ(node_->booted_version(), "KubeOS v1");
  ASSERT_FALSE(reporter_.reports().empty());
  EXPECT_TRUE(reporter_.reports().back().ready);
  EXPECT_EQ(reporter_.reports().back().os_image, "KubeOS v1");
  const std::string first_boot_id = reporter_.reports().back().boot_id;

  // v2: install, arm the trial, reboot; the health check marks it good.
  Install("v2");
  Agent("upgrade");
  nlohmann::json st = WaitCommitted(2);
  EXPECT_EQ(st["booted_slot"], "B");
  EXPECT_EQ(st["booted_version"], "KubeOS v2");
  EXPECT_EQ(st["slots"]["B"]["state"], "good");
  EXPECT_EQ(node_->booted_version(), "KubeOS v2");
  std::vector<NodeReport> reports = reporter_.reports();
  ASSERT_GE(reports.size(), 3u);
  EXPECT_FALSE(reports[reports.size() - 2].ready);  // NotReady while rebooting
  EXPECT_TRUE(reports.back().ready);
  EXPECT_EQ(reports.back().os_image, "KubeOS v2");
  EXPECT_NE(reports.back().boot_id, first_boot_id);
  auto env = agent::ReadGrubEnvFile(node_->host().env_file());
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->Get("saved_entry"), "B");
  EXPECT_FALSE(env->Get("boot_tries").has_value());

  // Rollback: back to A (v1).
  Agent("rollback");
  st = WaitCommitted(3);
  EXPECT_EQ(st["booted_slot"], "A");
  EXPECT_EQ(st["booted_version"], "KubeOS v1");
  EXPECT_EQ(node_->failed_boots(), 0);

  // Broken v3 into B: two failed trial boots, GRUB falls back to A, the agent reports the fallback.
  Install("v3");
  Agent("upgrade");
  st = WaitCommitted(4);
  EXPECT_EQ(st["booted_slot"], "A");
  EXPECT_EQ(st["booted_version"], "KubeOS v1");
  EXPECT_EQ(st["slots"]["B"]["state"], "failed");
  ASSERT_TRUE(st["last_fallback"].is_object()) << st.dump();
  EXPECT_NE(st["last_fallback"]["message"].get<std::string>().find("fell back"), std::string::npos);
  EXPECT_EQ(node_->failed_boots(), 2);
  EXPECT_EQ(reporter_.reports().back().os_image, "KubeOS v1");
  env = agent::ReadGrubEnvFile(node_->host().env_file());
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->Get("saved_entry"), "A");
  EXPECT_FALSE(env->Get("boot_tries").has_value());
  std::lock_guard lock(mu_);
  int failed = 0;
  for (const std::string& e : events_) failed += e.rfind("boot-failed", 0) == 0 ? 1 : 0;
  EXPECT_EQ(failed, 2);
}

TEST(SimHost, InspectSlot) {
  auto t = TempDir::Create("sim-inspect");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(WriteRootfsTree(t->path() / "good", "v1", false).ok());
  ASSERT_TRUE(WriteRootfsTree(t->path() / "bad", "v3", true).ok());
  auto good = BuildPayload("", t->path() / "good", "v1", uint64_t{4} << 20, t->path() / "good.img");
  auto bad = BuildPayload("", t->path() / "bad", "v3", uint64_t{4} << 20, t->path() / "bad.img");
  ASSERT_TRUE(good.ok() && bad.ok());
  EXPECT_TRUE(InspectSlot(good->file, agent::Slot::kA).bootable);
  EXPECT_FALSE(InspectSlot(good->file, agent::Slot::kB).bootable);  // label ROOT-A in slot B
  SlotBootability b = InspectSlot(bad->file, agent::Slot::kA);
  EXPECT_FALSE(b.bootable);
  EXPECT_NE(b.reason.find("init"), std::string::npos);
  EXPECT_EQ(ReadFileFromImage(good->file, "/etc/kubeos-release").value_or(""), "v1\n");
  EXPECT_EQ(ReadFileFromImage(good->file, "/nope").status().code(), StatusCode::kNotFound);
  std::filesystem::path blank = t->path() / "blank";
  { std::ofstream(blank.string()) << std::string(4096, '\0'); }
  EXPECT_FALSE(InspectSlot(blank, agent::Slot::kA).bootable);
}

}  // namespace
}  // namespace kubeos::sim
