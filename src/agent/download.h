// Payload sources: a local file, or HTTP(S) over libcurl with the original's certificate rules, stall
// detection and Range resume. Bytes are handed to a callback as they arrive (bounded memory: curl's buffer).
//
// Certificates (the original's names): with mtls, CA <certs_dir>/<ca_cert> and identity <client_cert> +
// <client_key>; https without mtls trusts <certs_dir>/<ca_cert> when named, else the system roots. Plain http
// only with flag_safe. An interrupted transfer (connection dropped, truncated body, stall) is resumed with a
// Range request from the last byte received, up to kMaxResumeAttempts times; the callback never sees a byte
// twice. Thread-safety: each call is independent; blocking.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kubeos::agent {

// Resumes after an interrupted transfer: 3 rides out a flaky link without hiding a server that always cuts.
constexpr int kMaxResumeAttempts = 3;

struct FetchOptions {
  std::string url;  // http://, https://, file:// or an absolute path
  bool flag_safe = false;
  bool mtls = false;
  std::filesystem::path certs_dir = "/etc/KubeOS/certs";
  std::string ca_cert, client_cert, client_key;  // file names relative to certs_dir
  std::chrono::seconds stall_timeout{30};
  std::chrono::seconds connect_timeout{30};
};

struct FetchCallbacks {
  // Called once, before the first byte, with the total size when known.
  std::function<Status(std::optional<uint64_t> total)> on_size;
  // Called with consecutive chunks; a non-OK Status aborts the transfer and is returned.
  std::function<Status(std::string_view chunk)> on_data;
  // Optional, local files only: where the next bytes should go. The file is read straight into the span
  // returned (no intermediate copy) and on_data is then called with the filled prefix of it; an empty span
  // (or no callback) means "use your own buffer".
  std::function<std::span<char>()> buffer;
};

// True for http:// and https:// URLs.
bool IsRemoteUrl(std::string_view url);
// Validates the source rules (scheme, flag_safe, certificate names) without I/O; InvalidArgument.
Status CheckFetchOptions(const FetchOptions& options);
// Streams the whole payload. NotFound (404 / missing file), Unavailable (network, TLS), InvalidArgument.
Status Fetch(const FetchOptions& options, const FetchCallbacks& callbacks);

}  // namespace kubeos::agent
