// kubeos-testcluster: start, inspect and stop the loopback test control plane by hand (hack/cluster wraps
// it).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/file.h"
#include "harness/control_plane.h"
#include "kube/client.h"

namespace {

using kubeos::testing::ControlPlane;

int Fail(const kubeos::Status& s) {
  std::cerr << "kubeos-testcluster: " << s.ToString() << "\n";
  return 1;
}

std::string DefaultDir() {
  const char* env = std::getenv("KUBEOS_CLUSTER_DIR");  // NOLINT(concurrency-mt-unsafe): before threads
  return env != nullptr && *env != '\0' ? env : ".cache/cluster";
}

bool Running(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::exists(dir / "state.json", ec);
}

// Creates `count` worker Nodes named kwok-node-<i> (kwok then reports them Ready).
kubeos::Status CreateNodes(ControlPlane& cp, int count) {
  kubeos::kube::Client client(cp.AdminConfig());
  for (int i = 0; i < count; ++i) {
    nlohmann::json node = {{"apiVersion", "v1"},
                           {"kind", "Node"},
                           {"metadata",
                            {{"name", "kwok-node-" + std::to_string(i)},
                             {"labels", {{"type", "kwok"}, {"kubernetes.io/os", "linux"}}}}}};
    auto r = client.Create(kubeos::kube::Resource::Nodes(), "", node);
    if (!r.ok() && r.status().code() != kubeos::StatusCode::kAlreadyExists) return r.status();
  }
  return kubeos::Status::Ok();
}

// A POSIX shell word for `s`: single-quoted, each ' written as '\'' (nothing inside single quotes is
// special to the shell, so any path survives `eval "$(hack/cluster env)"`).
std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Start, inspect and stop the loopback Kubernetes control plane used by KubeOS tests and the demo.\n"
      "Identities: admin.kubeconfig (group system:masters) and restricted.kubeconfig (user "
      "kubeos-restricted,\n"
      "no permissions until RBAC grants some). Binaries come from $KUBEOS_K8S_BIN "
      "(hack/build-control-plane)."};
  app.require_subcommand(1);
  std::string dir = DefaultDir();
  kubeos::testing::ControlPlaneOptions opts;
  bool all = false;
  int nodes = 0;
  const std::string dir_help =
      "State directory: certificates, kubeconfigs, logs (default: $KUBEOS_CLUSTER_DIR or .cache/cluster)";

  auto* up =
      app.add_subcommand("up", "Start etcd and kube-apiserver (and optionally more) in the background");
  up->add_option("--dir", dir, dir_help);
  up->add_option("--bin-dir", opts.bin_dir, "Directory of the upstream binaries (default: $KUBEOS_K8S_BIN)");
  up->add_flag("--controller-manager", opts.controller_manager, "Also run kube-controller-manager");
  up->add_flag("--scheduler", opts.scheduler, "Also run kube-scheduler");
  up->add_flag("--kwok", opts.kwok, "Also run kwok (simulated kubelets for Nodes and Pods)");
  up->add_flag("--all", all, "Run every component");
  up->add_option("--nodes", nodes, "Create this many worker Nodes (with --kwok they become Ready)")
      ->check(CLI::Range(0, 10000));
  auto* env = app.add_subcommand("env", "Print shell lines that point kubectl (and its PATH) at the cluster");
  env->add_option("--dir", dir, dir_help);
  auto* status = app.add_subcommand("status", "Say whether a cluster is running, and where");
  status->add_option("--dir", dir, dir_help);
  auto* down = app.add_subcommand("down", "Stop a cluster started with `up`");
  down->add_option("--dir", dir, dir_help);
  CLI11_PARSE(app, argc, argv);

  const std::filesystem::path state_dir = std::filesystem::absolute(dir);
  if (up->parsed()) {
    if (all) opts.controller_manager = opts.scheduler = opts.kwok = true;
    opts.dir = state_dir;
    opts.detach = true;
    if (Running(state_dir)) {
      if (auto s = ControlPlane::StopDetached(state_dir); !s.ok())
        return Fail(s.WithContext("stop previous cluster"));
    }
    auto cp = ControlPlane::Start(opts);
    if (!cp.ok()) return Fail(cp.status());
    auto& c = **cp;
    if (auto s = CreateNodes(c, nodes); !s.ok()) return Fail(s.WithContext("create nodes"));
    std::printf("control plane up in %.1f s, %llu MiB resident (%s)\n",
                static_cast<double>(c.startup_time().count()) / 1000.0,
                static_cast<unsigned long long>(c.startup_resident_bytes() / (1024 * 1024)),  // NOLINT
                c.server().c_str());
    std::printf("admin kubeconfig:      %s\n", c.admin_kubeconfig().c_str());
    std::printf("restricted kubeconfig: %s\n", c.restricted_kubeconfig().c_str());
    std::printf("logs:                  %s\n", (c.dir() / "logs").c_str());
    if (nodes > 0) std::printf("nodes:                 kwok-node-0 .. kwok-node-%d\n", nodes - 1);
    return 0;
  }
  if (!Running(state_dir)) {
    if (down->parsed()) {
      std::printf("no cluster running in %s\n", state_dir.c_str());
      return 0;
    }
    return Fail(
        kubeos::NotFoundError("no cluster is running in " + state_dir.string() + "; start one with `up`"));
  }
  if (env->parsed()) {
    auto cp = ControlPlane::Attach(state_dir);
    if (!cp.ok()) return Fail(cp.status());
    std::printf("export KUBECONFIG=%s\n", ShellQuote((*cp)->admin_kubeconfig().string()).c_str());
    std::printf("export PATH=%s:\"$PATH\"\n", ShellQuote((*cp)->bin_dir().string()).c_str());
    return 0;
  }
  if (status->parsed()) {
    auto cp = ControlPlane::Attach(state_dir);
    if (!cp.ok())
      return Fail(cp.status().WithContext("cluster in " + state_dir.string() + " is not healthy"));
    std::printf("running: %s (state in %s)\n", (*cp)->server().c_str(), state_dir.c_str());
    return 0;
  }
  if (down->parsed()) {
    if (auto s = ControlPlane::StopDetached(state_dir); !s.ok()) return Fail(s);
    std::printf("control plane in %s stopped\n", state_dir.c_str());
  }
  return 0;
}
