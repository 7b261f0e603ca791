// kubeos-testcluster: start, inspect and stop the test control plane by hand.
//
//   kubeos-testcluster up --dir DIR [--controller-manager] [--scheduler] [--kwok] [--all]
//   kubeos-testcluster env --dir DIR      # prints: export KUBECONFIG=DIR/admin.kubeconfig
//   kubeos-testcluster down --dir DIR
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "common/log.h"
#include "harness/control_plane.h"

namespace {

int Fail(const kubeos::Status& s) {
  std::cerr << "kubeos-testcluster: " << s.ToString() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using kubeos::testing::ControlPlane;
  CLI::App app{
      "Start, inspect and stop the loopback Kubernetes control plane used by KubeOS tests and the demo."};
  app.require_subcommand(1);
  std::string dir;
  kubeos::testing::ControlPlaneOptions opts;
  bool all = false;

  auto* up = app.add_subcommand("up", "Start etcd and kube-apiserver (and optionally more), detached");
  up->add_option("--dir", dir, "State directory (certificates, kubeconfigs, logs)")->required();
  up->add_option("--bin-dir", opts.bin_dir, "Directory of the upstream binaries (default: $KUBEOS_K8S_BIN)");
  up->add_flag("--controller-manager", opts.controller_manager, "Also run kube-controller-manager");
  up->add_flag("--scheduler", opts.scheduler, "Also run kube-scheduler");
  up->add_flag("--kwok", opts.kwok, "Also run kwok (simulated kubelets for Nodes and Pods)");
  up->add_flag("--all", all, "Run every component");
  auto* env = app.add_subcommand("env", "Print the shell line that points kubectl at the cluster");
  env->add_option("--dir", dir, "State directory")->required();
  auto* down = app.add_subcommand("down", "Stop a cluster started with `up`");
  down->add_option("--dir", dir, "State directory")->required();
  CLI11_PARSE(app, argc, argv);

  if (up->parsed()) {
    if (all) opts.controller_manager = opts.scheduler = opts.kwok = true;
    opts.dir = dir;
    opts.detach = true;
    if (std::filesystem::exists(std::filesystem::path(dir) / "state.json")) {
      if (auto s = ControlPlane::StopDetached(dir); !s.ok())
        return Fail(s.WithContext("stop previous cluster"));
    }
    auto cp = ControlPlane::Start(opts);
    if (!cp.ok()) return Fail(cp.status());
    auto& c = **cp;
    std::printf("control plane up in %.1f s, %llu MiB resident (%s)\n",
                static_cast<double>(c.startup_time().count()) / 1000.0,
                static_cast<unsigned long long>(c.startup_resident_bytes() / (1024 * 1024)),  // NOLINT
                c.server().c_str());
    std::printf("admin kubeconfig:      %s\n", c.admin_kubeconfig().c_str());
    std::printf("restricted kubeconfig: %s\n", c.restricted_kubeconfig().c_str());
    std::printf("logs:                  %s\n", (c.dir() / "logs").c_str());
    std::printf("export KUBECONFIG=%s\n", c.admin_kubeconfig().c_str());
    return 0;
  }
  if (env->parsed()) {
    auto p = std::filesystem::absolute(std::filesystem::path(dir) / "admin.kubeconfig");
    if (!std::filesystem::exists(std::filesystem::path(dir) / "state.json")) {
      return Fail(kubeos::NotFoundError("no cluster is running in " + dir + "; start one with `up`"));
    }
    std::printf("export KUBECONFIG=%s\n", p.c_str());
    return 0;
  }
  if (down->parsed()) {
    if (!std::filesystem::exists(std::filesystem::path(dir) / "state.json")) {
      std::printf("no cluster running in %s\n", dir.c_str());
      return 0;
    }
    if (auto s = ControlPlane::StopDetached(dir); !s.ok()) return Fail(s);
    std::printf("control plane in %s stopped\n", dir.c_str());
    return 0;
  }
  return 0;
}
