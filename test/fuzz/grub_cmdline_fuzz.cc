// libFuzzer target: grub.cmdline.current/next editor, both slots.
#include "agent/config/grub_cmdline.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kubeos::agent::config;  // NOLINT(google-build-using-namespace): one-function target
  for (Slot slot : {Slot::kA, Slot::kB}) {
    fuzz::CheckEditor(data, size, [slot](std::string_view text, const std::vector<ConfigEntry>& entries) {
      return EditGrubCmdline(text, slot, entries);
    });
  }
  return 0;
}
