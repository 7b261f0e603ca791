// libFuzzer target: container.containerd TOML editor.
#include "agent/config/containerd_toml.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kubeos::agent::config;  // NOLINT(google-build-using-namespace): one-function target
  fuzz::CheckEditor(data, size, [](std::string_view text, const std::vector<ConfigEntry>& entries) {
    return EditContainerdToml(text, entries);
  });
  return 0;
}
