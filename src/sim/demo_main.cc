// kubeos-demo: the README demo (a rolling OS upgrade across a simulated cluster), and the small helper modes
// the simulated hosts call (sim-reboot: the agent's reboot action).
#include <CLI/CLI.hpp>
#include <iostream>

#include "common/log.h"
#include "sim/sim_host.h"

int main(int argc, char** argv) {
  CLI::App app{"kubeos-demo: a rolling KubeOS upgrade across a simulated cluster of real agents"};
  auto* reboot =
      app.add_subcommand("sim-reboot", "(used by simulated hosts) request a reboot of the host in DIR");
  std::string host_dir;
  reboot->add_option("dir", host_dir, "the simulated host's directory")->required();
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);
  if (*reboot) {
    kubeos::Status s = kubeos::sim::RequestReboot(host_dir);
    if (!s.ok()) {
      std::cerr << "sim-reboot: " << s.ToString() << "\n";
      return 1;
    }
    return 0;
  }
  std::cerr << "the demo is not wired yet\n";
  return 2;
}
