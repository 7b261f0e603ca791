#include "agent/config/containerd_toml.h"

#include <gtest/gtest.h>

#include "agent/config/test_util.h"

namespace kubeos::agent::config {
namespace {

using testing::Del;
using testing::E;
using testing::ExpectGolden;
using testing::ExpectRejected;
using testing::Rejected;

// The original"s unit test (config.rs test_container_containerd).
const std::vector<ConfigEntry> kOriginalAdd = {
    E("disabled_plugins", {1, 2, 3}),
    E("grpc.address", "/run/containerd/containerd.sock"),
    E("grpc.uid", 0),
    E("grpc.client_tls_auto", true),
    E("plugins.\"io.containerd.grpc.v1.cri\".containerd.default_runtime_name", "runc"),
    E("plugins.\"io.containerd.grpc.v1.cri\".image.pause_image", "k8s.gcr.io/pause:3.2"),
    E("plugins.\"io.containerd.gc.v1.scheduler\".deletion_threshold", 0),
    E("timeouts.\"io.containerd.timeout.bolt.open\"", "0s"),
};
constexpr std::string_view kAfterAdd = R"toml(disabled_plugins = [ 1, 2, 3 ]

[grpc]
address = "/run/containerd/containerd.sock"
client_tls_auto = true
uid = 0

[plugins."io.containerd.gc.v1.scheduler"]
deletion_threshold = 0

[plugins."io.containerd.grpc.v1.cri".containerd]
default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".image]
pause_image = "k8s.gcr.io/pause:3.2"

[timeouts]
"io.containerd.timeout.bolt.open" = "0s"
)toml";
const std::vector<ConfigEntry> kOriginalUpdate = {
    E("disabled_plugins", {4, 5, 6}),
    E("grpc.uid", 1, "update"),
    E("grpc.client_tls_auto", false),
    E("plugins.\"io.containerd.grpc.v1.cri\".image.pause_image", "k8s.gcr.io/pause:3.2"),
    Del("plugins.\"io.containerd.grpc.v1.cri\".containerd.default_runtime_name", "runc"),
    E("plugins.\"io.containerd.snapshotter.v1.native\".root_path", 0),
    E("timeouts.\"io.containerd.timeout.shim.cleanup\"", "0s"),
    Del("timeouts.\"io.containerd.timeout.shim.test\"", "0s"),
    E("timeouts.\"io.containerd.timeout.shim.test.test\"", nullptr),
};
constexpr std::string_view kAfterUpdate = R"toml(disabled_plugins = [ 1, 2, 3, 4, 5, 6 ]

[grpc]
address = "/run/containerd/containerd.sock"
client_tls_auto = false
uid = 1

[plugins."io.containerd.gc.v1.scheduler"]
deletion_threshold = 0

[plugins."io.containerd.grpc.v1.cri".containerd]

[plugins."io.containerd.grpc.v1.cri".image]
pause_image = "k8s.gcr.io/pause:3.2"

[plugins."io.containerd.snapshotter.v1.native"]
root_path = 0

[timeouts]
"io.containerd.timeout.bolt.open" = "0s"
"io.containerd.timeout.shim.cleanup" = "0s"
)toml";

TEST(EditContainerdToml, OriginalExample) {
  ExpectGolden(EditContainerdToml, {
                                       {"add to an empty file", "", kOriginalAdd, std::string(kAfterAdd)},
                                       {"update, delete, add", std::string(kAfterAdd), kOriginalUpdate,
                                        std::string(kAfterUpdate)},
                                   });
}

TEST(EditContainerdToml, Golden) {
  ExpectGolden(
      EditContainerdToml,
      {
          // kubeos-original-behaviour.md §1.3.
          {"sample",
           "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = \"pause:3.6\"\n",
           {E("plugins.\"io.containerd.grpc.v1.cri\".sandbox_image", "pause:3.9")},
           "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = \"pause:3.9\"\n"},
          {"leading comments survive a rewrite",
           "# containerd\nversion = 2\n",
           {E("root", "/var/lib/c")},
           "# containerd\nroot = \"/var/lib/c\"\nversion = 2\n"},
          {"untouched file keeps every byte",
           "# c\nversion   = 2 # x\n\n",
           {E("version", 2), Del("nope")},
           "# c\nversion   = 2 # x\n\n"},
          {"null and objects are skipped", "a = 1\n", {E("a", nullptr), E("b", {{"x", 1}})}, "a = 1\n"},
          {"intermediate non-table is skipped", "a = 1\n", {E("a.b", 2)}, "a = 1\n"},
          {"array with a scalar is skipped", "a = [1]\n", {E("a", 2)}, "a = [1]\n"},
          {"floats, strings, booleans",
           "",
           {E("f", 1.5), E("s", "x"), E("b", false)},
           "b = false\nf = 1.5\ns = \"x\"\n"},
          {"largest integer",
           "",
           {E("n", nlohmann::json::parse("9223372036854775807"))},
           "n = 9223372036854775807\n"},
      });
}

TEST(EditContainerdToml, BadInput) {
  const std::vector<Rejected> cases = {
      {"not TOML", "a = \n", {E("a", 1)}},
      // The original panicked here (unwrap on an u64 above i64::MAX).
      {"integer above int64", "", {E("n", nlohmann::json::parse("9223372036854775808"))}},
      {"integer above int64 in an array", "", {E("n", nlohmann::json::parse("[1, 18446744073709551615]"))}},
      {"malformed key", "", {E("a.", 1)}},
      {"empty key", "", {E("", 1)}},
      {"NUL in value", "", {E("a", std::string("x\0", 2))}},
      {"duplicate key", "", {E("a", 1), E("a", 2)}},
      {"invalid UTF-8 value", "", {E("a", "\xed\xa0\x80")}},
      {"control character in the file", "# \x01\n", {E("a", 1)}},
  };
  ExpectRejected(EditContainerdToml, cases);
}

}  // namespace
}  // namespace kubeos::agent::config
