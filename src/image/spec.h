// kbimg's pure pieces: sizes, versions, the stamped os-release, derived UUIDs, debugfs quoting, default
// filesystem sizes and the generated GRUB configuration. No I/O; unit-tested in spec_test.cc.
// Thread-safety: free functions over values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kubeos::image {

// "67108864", "64M", "64MiB", "1G", "512K" (binary units; case-insensitive; an optional "iB"/"B").
StatusOr<uint64_t> ParseSize(std::string_view text);

// A version must be non-empty, printable ASCII, at most 64 bytes, and free of the characters the original
// kbimg rejects (| ; & > < , # ! $) plus quotes, backslash, backtick and spaces (it is written into
// os-release and GRUB-facing files).
Status ValidateVersion(std::string_view version);

// The /usr/lib/os-release kbimg writes, as the original: NAME="KubeOS", ID=kubeos,
// PRETTY_NAME="KubeOS <version>", VERSION_ID=<version>. Other keys of `existing` (e.g. HOME_URL) are kept
// after these, in order; keys kbimg owns (NAME, ID, PRETTY_NAME, VERSION_ID, VERSION) are replaced.
std::string StampOsRelease(std::string_view existing, std::string_view version);

// A UUID (RFC 4122 text, version 4 bits set) derived from a SHA-256 of `seed`: the same inputs always give
// the same filesystem UUID and directory hash seed, so images are reproducible.
std::string DerivedUuid(std::string_view seed);

// One debugfs argument, double-quoted with embedded quotes doubled (debugfs's ss parser). Paths with a
// newline cannot be expressed: InvalidArgument.
StatusOr<std::string> DebugfsQuote(std::string_view arg);

// Size of an ext4 image for a tree whose files need `data_bytes` (4 KiB-rounded) and `inodes` entries when
// no --size is given: data plus 25 % plus 16 MiB for journal and metadata, rounded up to 1 MiB.
uint64_t DefaultExtSize(uint64_t data_bytes, uint64_t inodes);

// The KubeOS GRUB fragment (deploy/agent/grub-kubeos.cfg) with `kernel_args` appended to every `linux`
// line (e.g. "console=ttyS0,115200"); unchanged when kernel_args is empty.
std::string GrubConfig(std::string_view fragment, std::string_view kernel_args);

}  // namespace kubeos::image
