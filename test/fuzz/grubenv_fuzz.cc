// libFuzzer target: the GRUB env block reader (raw bytes from the ESP). Whatever the bytes: no crash or
// overread (ASan), and what is decoded can be written back and reads back the same, a block GRUB can write.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/grubenv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kubeos::agent;  // NOLINT(google-build-using-namespace): one-function target
  std::string_view block(reinterpret_cast<const char*>(data), size);  // NOLINT: libFuzzer hands us bytes
  auto parsed = ParseGrubEnvBlock(block);
  kubeos::StatusOr<GrubEnv> env = DecodeGrubEnv(block);
  if (parsed.ok() != env.ok()) std::abort();
  (void)GrubCanWriteBlock(block);
  if (!env.ok()) return 0;
  kubeos::StatusOr<std::string> again = EncodeGrubEnv(*env);
  if (!again.ok()) {
    if (again.status().code() != kubeos::StatusCode::kInvalidArgument) std::abort();
    return 0;  // more than a 1024-byte block holds
  }
  kubeos::StatusOr<GrubEnv> back = DecodeGrubEnv(*again);
  if (!back.ok() || !(*back == *env) || !GrubCanWriteBlock(*again)) std::abort();
  return 0;
}
