// Install throughput of the real os-agent against `dd` of the same bytes to the same kind of target, and the
// agent's peak RSS (VmHWM) during the install.
//
//   agent_install_bench [--size-mib N ...]      default: 256 2048
//   agent_install_bench --serve --size-mib N    set up one host, print the dd and agent CLI commands, keep
//                                               the agent running until stdin closes (for external timers
//                                               such as hyperfine or /usr/bin/time, run pair by pair)
//
// For each size: an ext4 image of N MiB whose space is mostly one file of random bytes (incompressible,
// non-sparse), a simulated host whose slot B is a preallocated N MiB file. Baseline, same target and the same
// durability and I/O path as the agent (direct I/O into the slot, then fsync):
// `dd if=image of=slotB bs=4M oflag=direct conv=notrunc,fsync`. Agent: prepare_upgrade from the local file
// (stream, SHA-256, O_DIRECT body, header-last write, fdatasync, verify). Runs alternate dd/agent twice and
// report the best of each. Targets (issue 4): agent >= 95 % of dd, peak RSS <= 32 MiB independent of size.
// Also timed: `openssl dgst -sha256` of the image, the floor of any installer that verifies while it streams
// (SHA-256 is one sequential stream); `agent_vs_max(dd,sha256)` is the agent against the slower of the two.
// On a disk faster than SHA-256 the dd ratio cannot reach 95 %; bench/agent/throttled caps the disk to
// measure below that rate.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "agent/install.h"
#include "common/file.h"
#include "common/process.h"
#include "sim_host.h"

namespace {

using kubeos::StatusOr;
namespace at = kubeos::agenttest;

constexpr int kRounds = 2;
constexpr uint64_t kMiB = uint64_t{1024} * 1024;

uint64_t PeakRssBytes(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

std::string Sha256OfFile(const std::filesystem::path& p) {
  StatusOr<std::string> out = at::RunTool({"sha256sum", p.string()});
  return out.ok() ? out->substr(0, 64) : "";
}

int BenchOne(uint64_t mib, bool serve) {
  const uint64_t bytes = mib * kMiB;
  StatusOr<at::SimHost> host = at::SimHost::Create(nlohmann::json::object(), bytes);
  if (!host.ok()) {
    fmt::print(stderr, "sim host: {}\n", host.status().ToString());
    return 1;
  }
  std::filesystem::path tree = host->dir() / "tree";
  std::filesystem::create_directories(tree);
  {
    std::ofstream f(tree / "payload.bin", std::ios::binary);
    std::mt19937_64 rng(42);
    std::vector<uint64_t> buf(kMiB / 8);
    // Leave room for ext4 metadata and the journal.
    for (uint64_t i = 0; i < mib * 85 / 100; ++i) {
      for (auto& w : buf) w = rng();
      f.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(kMiB));
    }
  }
  std::filesystem::path image = host->dir() / "image.ext4";
  if (auto r = at::RunTool({"mke2fs", "-q", "-F", "-t", "ext4", "-L", "image", "-d", tree.string(),
                            image.string(), std::to_string(mib) + "M"});
      !r.ok()) {
    fmt::print(stderr, "{}\n", r.status().ToString());
    return 1;
  }
  std::filesystem::remove_all(tree);
  std::string sha = Sha256OfFile(image);
  nlohmann::json request = nlohmann::json::array(
      {{{"version", "bench"}, {"check_sum", sha}, {"image_type", "disk"}, {"image_url", image.string()}}});
  if (!host->StartAgent().ok()) return 1;
  if (serve) {
    std::string slot_b = host->slot(kubeos::agent::Slot::kB).string();
    fmt::print("dd: dd if={} of={} bs=4M oflag=direct conv=notrunc,fsync status=none\n", image.string(),
               slot_b);
    fmt::print("agent: {} --socket {} install --checksum {} --version bench {}\n", OS_AGENT_BIN,
               host->socket().string(), sha, image.string());
    fmt::print("hash: openssl dgst -sha256 {}\n", image.string());
    fmt::print("agent_pid: {}\n", host->agent_pid());
    (void)std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    fmt::print("agent_peak_rss_mib: {:.1f}\n",
               static_cast<double>(PeakRssBytes(host->agent_pid())) / static_cast<double>(kMiB));
    return 0;
  }
  double best_dd = 1e9, best_agent = 1e9, best_hash = 1e9;
  uint64_t peak = 0;
  for (int round = 0; round < kRounds; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    auto dd = at::RunTool({"dd", "if=" + image.string(), "of=" + host->slot(kubeos::agent::Slot::kB).string(),
                           "bs=4M", "oflag=direct", "conv=notrunc,fsync", "status=none"});
    double dd_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!dd.ok()) {
      fmt::print(stderr, "{}\n", dd.status().ToString());
      return 1;
    }
    t0 = std::chrono::steady_clock::now();
    StatusOr<nlohmann::json> r = host->Call("prepare_upgrade", request);
    double agent_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) {
      fmt::print(stderr, "install: {}\n", r.status().ToString());
      return 1;
    }
    peak = std::max(peak, PeakRssBytes(host->agent_pid()));
    // The floor of any installer that verifies while it streams: SHA-256 of the same bytes, one stream
    // (OpenSSL EVP, the agent's own hash), reading from the page cache like the agent.
    t0 = std::chrono::steady_clock::now();
    auto hash = at::RunTool({"openssl", "dgst", "-sha256", image.string()});
    double hash_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!hash.ok()) {
      fmt::print(stderr, "{}\n", hash.status().ToString());
      return 1;
    }
    best_hash = std::min(best_hash, hash_s);
    best_dd = std::min(best_dd, dd_s);
    best_agent = std::min(best_agent, agent_s);
  }
  // The agent's own phase split (stream vs. verify+commit), from its log.
  if (StatusOr<std::string> log = kubeos::ReadFile(host->dir() / "agent.log"); log.ok()) {
    size_t pos = 0;
    while ((pos = log->find("install pass", pos)) != std::string::npos) {
      size_t end = log->find('\n', pos);
      fmt::print("  agent: {}\n", log->substr(pos, end - pos));
      pos = end;
    }
  }
  double mb = static_cast<double>(bytes) / static_cast<double>(kMiB);
  fmt::print(
      "size={} MiB  dd={:.0f} MiB/s ({:.2f} s)  agent={:.0f} MiB/s ({:.2f} s, verified)  ratio={:.1f} %  "
      "agent_peak_rss={:.1f} MiB  sha256_only={:.0f} MiB/s ({:.2f} s)  agent_vs_max(dd,sha256)={:.1f} %\n",
      mib, mb / best_dd, best_dd, mb / best_agent, best_agent, 100.0 * best_dd / best_agent,
      static_cast<double>(peak) / static_cast<double>(kMiB), mb / best_hash, best_hash,
      100.0 * std::max(best_dd, best_hash) / best_agent);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint64_t> sizes;
  bool serve = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--serve") serve = true;
    if (arg == "--size-mib" && i + 1 < argc) sizes.push_back(std::stoull(argv[++i]));
  }
  if (sizes.empty()) sizes = {256, 2048};
  if (serve) sizes.resize(1);
  for (uint64_t s : sizes) {
    if (int rc = BenchOne(s, serve); rc != 0) return rc;
  }
  return 0;
}
