// libFuzzer target: kernel.sysctl.persist editor and the kernel.sysctl key mapping.
#include "agent/config/sysctl.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kubeos::agent::config;  // NOLINT(google-build-using-namespace): one-function target
  fuzz::CheckEditor(data, size, [](std::string_view text, const std::vector<ConfigEntry>& entries) {
    return EditSysctlConf(text, entries);
  });
  fuzz::Input in = fuzz::ParseInput(data, size);
  kubeos::StatusOr<SysctlPlan> plan = PlanSysctl(in.entries);
  if (plan.ok()) {
    for (const SysctlWrite& w : plan->writes) {
      // Never an escape from /proc/sys: relative, and no empty, "." or ".." segment.
      if (w.path.empty() || w.path[0] == '/' || w.path.back() == '/') std::abort();
      std::string p = "/" + w.path + "/";
      if (p.find("//") != std::string::npos || p.find("/./") != std::string::npos ||
          p.find("/../") != std::string::npos) {
        std::abort();
      }
    }
  }
  return 0;
}
