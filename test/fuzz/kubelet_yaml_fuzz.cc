// libFuzzer target: kubernetes.kubelet YAML editor.
#include "agent/config/kubelet_yaml.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kubeos::agent::config;  // NOLINT(google-build-using-namespace): one-function target
  fuzz::CheckEditor(data, size, [](std::string_view text, const std::vector<ConfigEntry>& entries) {
    return EditKubeletYaml(text, entries);
  });
  return 0;
}
