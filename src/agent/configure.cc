#include "agent/configure.h"

#include "agent/config/config.h"
#include "agent/config/host_linux.h"

namespace kubeos::agent {

Status ModelConfigApplier::Apply(const ConfigureRequest& request, Slot booted) {
  std::vector<config::SysConfig> configs;
  configs.reserve(request.configs.size());
  for (const ConfigEntry& c : request.configs) {
    config::SysConfig sc{.model = c.model, .configpath = c.config_path, .contents = {}};
    sc.contents.reserve(c.contents.size());
    for (const ConfigValue& v : c.contents) {
      sc.contents.push_back({.key = v.key, .value = v.value, .operation = v.operation});
    }
    configs.push_back(std::move(sc));
  }
  config::LinuxConfigHost host({.root = host_.config_root,
                                .proc_sys = host_.proc_sys,
                                .booted_slot = booted == Slot::kA ? config::Slot::kA : config::Slot::kB});
  return config::ApplyConfigs(configs, host, {.grub_cfg = host_.grub_cfg});
}

}  // namespace kubeos::agent
