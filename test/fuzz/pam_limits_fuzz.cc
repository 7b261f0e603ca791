// libFuzzer target: pam.limits editor.
#include "agent/config/pam_limits.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kubeos::agent::config;  // NOLINT(google-build-using-namespace): one-function target
  fuzz::CheckEditor(data, size, [](std::string_view text, const std::vector<ConfigEntry>& entries) {
    return EditPamLimits(text, entries);
  });
  return 0;
}
