// The README demo: builds v2 (and a broken v3) with kbimg, serves them over HTTPS with mutual TLS, starts a
// simulated cluster (cluster.h), and drives three rollouts through the production os-operator / os-proxy /
// os-agent: upgrade to v2 (maxunavailable 2), rollback to v1, and a broken v3 whose trial boot fails, falls
// back by itself and halts the rollout. Progress is printed one line per change; a summary closes the run.
// Thread-safety: RunDemo is called once, from main.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "common/status.h"

namespace kubeos::sim {

struct DemoOptions {
  int nodes = 6;
  int max_unavailable = 2;
  uint64_t slot_mib = 32;
  uint64_t payload_mib = 16;
  std::filesystem::path work_dir;  // empty: a temporary directory (removed unless keep)
  bool keep = false;
  std::filesystem::path
      build_dir;  // build/<preset>/src (os-agent, os-proxy, os-operator, kbimg, kubeos-demo)
  std::filesystem::path k8s_bin_dir;  // empty: the harness default
  std::filesystem::path source_dir;   // the repository
  std::chrono::seconds phase_timeout{600};
  bool rollback = true;
  bool broken = true;
  bool setup_only = false;             // stop after the cluster is up (for debugging)
  bool host_events = true;             // print reboots and boot attempts
  std::filesystem::path summary_json;  // also write the summary as JSON
};

// The run's figures (also the JSON summary). ok: every phase met its expectation.
struct DemoResult {
  bool ok = false;
  nlohmann::json summary;
};

DemoResult RunDemo(const DemoOptions& options, std::ostream& out);

}  // namespace kubeos::sim
