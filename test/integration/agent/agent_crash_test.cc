// kill -9 of the real os-agent at random points during installs and during boot env writes (upgrade,
// mark-good), on one simulated host. After every kill the agent restarts, and the host must still have a
// bootable committed slot: every boot GRUB could make from the env (failures included) reaches a slot that
// holds a complete filesystem with its ROOT-x label, the booted slot is byte-for-byte unchanged, the standby
// never carries the booted slot's label (the image is labelled ROOT-A), and a slot the state calls installed
// passes e2fsck with the right content. At the end a normal install succeeds.
// Trials: 60 by default; KUBEOS_AGENT_CRASH_TRIALS=N for a stress run (seed printed;
// KUBEOS_AGENT_CRASH_SEED).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>

#include "agent/boot_state.h"
#include "agent/grubenv.h"
#include "agent/host.h"
#include "agent/install.h"
#include "common/file.h"
#include "sim_host.h"

namespace kubeos::agenttest {
namespace {

using agent::Slot;
using nlohmann::json;

constexpr int kDefaultTrials = 60;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read before any thread starts
  return v != nullptr ? std::atoi(v) : fallback;
}

void ExpectBootableCommittedSlot(SimHost& host, const std::string& slot_a_sha, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(FileSha256(host.slot(Slot::kA)), slot_a_sha) << "the booted slot was modified";
  StatusOr<agent::GrubEnv> env = agent::ReadGrubEnvFile(host.env());
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  StatusOr<std::string> state_text = ReadFile(host.state_file());
  ASSERT_TRUE(state_text.ok());
  StatusOr<agent::AgentState> state = agent::DecodeAgentState(*state_text);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  agent::GrubEnv e = *env;
  for (int boot = 0; boot < 4; ++boot) {
    agent::GrubBoot b = agent::SimulateGrubBoot(e);
    e = b.env_after;
    StatusOr<std::string> label = agent::ReadExtLabel(host.slot(b.slot));
    ASSERT_TRUE(label.ok()) << "GRUB could boot slot " << agent::SlotName(b.slot)
                            << " which has no filesystem";
    EXPECT_EQ(*label, agent::SlotLabel(b.slot));
    agent::SlotState st = state->slot(b.slot).state;
    EXPECT_TRUE(st == agent::SlotState::kGood || st == agent::SlotState::kTrying ||
                st == agent::SlotState::kInstalled)
        << "GRUB could boot slot " << agent::SlotName(b.slot) << " in state " << agent::SlotStateName(st);
  }
  // The image carries the booted slot's label (ROOT-A, kbimg's default): whatever the kill point, the
  // standby shows either no filesystem or ROOT-B, never a second ROOT-A.
  if (StatusOr<std::string> b_label = agent::ReadExtLabel(host.slot(Slot::kB)); b_label.ok()) {
    EXPECT_EQ(*b_label, "ROOT-B") << "the standby carries another slot's label";
  }
  if (state->b.state == agent::SlotState::kInstalled || state->b.state == agent::SlotState::kTrying) {
    EXPECT_EQ(ReadHello(host.slot(Slot::kB)), "crash image");
    EXPECT_TRUE(RunTool({"e2fsck", "-fn", host.slot(Slot::kB).string()}).ok());
  }
}

TEST(AgentCrash, KillNineDuringInstallAndEnvWrites) {
  const int trials = EnvInt("KUBEOS_AGENT_CRASH_TRIALS", kDefaultTrials);
  const unsigned seed =
      static_cast<unsigned>(EnvInt("KUBEOS_AGENT_CRASH_SEED", static_cast<int>(std::random_device{}())));
  std::cout << "crash test: " << trials << " trials, seed " << seed << std::endl;
  std::mt19937 rng(seed);
  StatusOr<SimHost> created = SimHost::Create();
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  SimHost& host = *created;
  std::filesystem::path image = host.dir() / "crash.ext4";
  ASSERT_TRUE(MakeExtImage(image, uint64_t{4} * 1024 * 1024, "crash image").ok());
  ASSERT_TRUE(RunTool({"e2label", image.string(), "ROOT-A"}).ok());
  std::string sha = agent::Sha256Hex(*ReadFile(image));
  const std::string slot_a_sha = FileSha256(host.slot(Slot::kA));
  json request = json::array(
      {{{"version", "KubeOS 2"}, {"check_sum", sha}, {"image_type", "disk"}, {"image_url", image.string()}}});
  ASSERT_TRUE(host.StartAgent().ok());
  // Calibrate: how long a whole install takes here, so kill points spread over all of it.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(host.Call("prepare_upgrade", request).ok());
  auto install_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  std::cout << "crash test: one install takes " << install_us.count() << " us" << std::endl;

  int kills = 0;
  for (int i = 0; i < trials; ++i) {
    // Even trials kill during an install; odd ones during upgrade (state + env writes) or mark-good.
    std::string method = i % 2 == 0 ? "prepare_upgrade" : (i % 4 == 1 ? "upgrade" : "mark_good");
    if (method == "upgrade") {  // needs an installed standby; the previous kill may have left it invalid
      json st = host.AgentStatus();
      if (st["slots"]["B"]["state"] != "installed") {
        ASSERT_TRUE(host.Call("prepare_upgrade", request).ok());
      }
    }
    long long span = method == "prepare_upgrade" ? install_us.count() : 3000;
    auto delay = std::chrono::microseconds(std::uniform_int_distribution<long long>(0, span)(rng));
    std::thread call([&] { (void)host.Call(method, method == "prepare_upgrade" ? request : json::array()); });
    std::this_thread::sleep_for(delay);
    bool was_running = host.AgentRunning();
    host.KillAgent();
    call.join();
    kills += was_running ? 1 : 0;
    ASSERT_TRUE(host.StartAgent().ok()) << "trial " << i << ": agent does not restart after kill -9";
    ExpectBootableCommittedSlot(host, slot_a_sha, "trial " + std::to_string(i) + " " + method);
    if (HasFatalFailure()) return;
  }
  EXPECT_EQ(kills, trials);
  // The next install after all of that succeeds and is verified.
  StatusOr<json> r = host.Call("prepare_upgrade", request);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadHello(host.slot(Slot::kB)), "crash image");
  ASSERT_TRUE(host.Call("upgrade").ok());
  EXPECT_EQ(host.EnvList(), "saved_entry=B\nboot_tries=2\nfallback_entry=A\n");
}

}  // namespace
}  // namespace kubeos::agenttest
