#include "agent/config/kubelet_yaml.h"

#include <gtest/gtest.h>

#include "agent/config/test_util.h"

namespace kubeos::agent::config {
namespace {

using testing::Del;
using testing::E;
using testing::ExpectGolden;
using testing::ExpectRejected;
using testing::Rejected;

// The original's unit test (config.rs test_kubernetes_kubelet): first the additions to an empty file, then
// the update/delete/add round on the result.
const std::vector<ConfigEntry> kOriginalAdd = {
    E("apiVersion", "kubelet.config.k8s.io/v1beta1"),
    E("kind", "KubeletConfiguration"),
    E("address", "192.168.0.8"),
    E("port", 20250),
    E("evictionHard.\"memory.available\"", "100Mi"),
    E("evictionHard.\"nodefs.available\"", "10%"),
    E("authorization.mode", "Webhook"),
    E("logging.options.json.infoBufferSize", "0"),
    E("clusterDNS", {"10.96.0.10"}),
};
constexpr std::string_view kAfterAdd = R"(apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 192.168.0.8
port: 20250
evictionHard:
  memory.available: 100Mi
  nodefs.available: 10%
authorization:
  mode: Webhook
logging:
  options:
    json:
      infoBufferSize: "0"
clusterDNS:
  - 10.96.0.10
)";
const std::vector<ConfigEntry> kOriginalUpdate = {
    E("evictionHard.\"memory.available\"", "500Mi"),
    E("serializeImagePulls", true),
    E("port", 20000),
    E("logging.options.json", nullptr),
    E("clusterDNS", {"10.96.0.11", "10.96.0.12"}),
    Del("evictionHard.\"nodefs.inodesFree\"", ""),
    Del("authoriazation", ""),
    E("evictionHard.\"test.test\"", "test"),
    E("testA", true),
    E("logging.options.testB.testC.testD.testE", 2.34),
    Del("evictionHard.key.not.exist", ""),
};
constexpr std::string_view kAfterUpdate = R"(apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 192.168.0.8
port: 20000
evictionHard:
  memory.available: 500Mi
  nodefs.available: 10%
  test.test: test
authorization:
  mode: Webhook
logging:
  options:
    json: null
    testB:
      testC:
        testD:
          testE: 2.34
clusterDNS:
  - 10.96.0.10
  - 10.96.0.11
  - 10.96.0.12
serializeImagePulls: true
testA: true
)";

TEST(EditKubeletYaml, OriginalExample) {
  ExpectGolden(EditKubeletYaml, {
                                    {"add to an empty file", "", kOriginalAdd, std::string(kAfterAdd)},
                                    {"update, delete, add", std::string(kAfterAdd), kOriginalUpdate,
                                     std::string(kAfterUpdate)},
                                });
}

TEST(EditKubeletYaml, Golden) {
  ExpectGolden(
      EditKubeletYaml,
      {
          // kubeos-original-behaviour.md §1.3.
          {"sample",
           "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n",
           {E("evictionHard.\"memory.available\"", "200Mi")},
           "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nevictionHard:\n  "
           "memory.available: 200Mi\n"},
          {"leading comments survive a rewrite",
           "# managed by kubeadm\n\nport: 1\n",
           {E("port", 2)},
           "# managed by kubeadm\n\nport: 2\n"},
          {"untouched file keeps every byte",
           "# c\nport:   1   # inline\n\n\n",
           {E("port", 1), Del("x")},
           "# c\nport:   1   # inline\n\n\n"},
          {"quoted strings stay strings",
           "cgroupDriver: \"systemd\"\nmaxPods: 110\n",
           {E("maxPods", "120"), E("x", "true"), E("y", "")},
           "cgroupDriver: \"systemd\"\nmaxPods: \"120\"\nx: \"true\"\n\"y\": \"\"\n"},
          {"sequence append skips present elements",
           "clusterDNS: [10.0.0.1]\n",
           {E("clusterDNS", {"10.0.0.1", "10.0.0.2"})},
           "clusterDNS: [10.0.0.1, 10.0.0.2]\n"},
          {"sequence with a scalar is skipped",
           "clusterDNS:\n  - a\n",
           {E("clusterDNS", "b")},
           "clusterDNS:\n  - a\n"},
          {"delete does not compare the value", "a: 1\nb: 2\n", {Del("a", "9")}, "b: 2\n"},
          {"delete of a missing path stops (original quirk fixed)",
           "a:\n  c: 1\nc: 2\n",
           {Del("a.b.c")},
           "a:\n  c: 1\nc: 2\n"},
          {"null intermediate becomes a mapping",
           "evictionHard:\n",
           {E("evictionHard.\"memory.available\"", "1Gi")},
           "evictionHard:\n  memory.available: 1Gi\n"},
          // Found by fuzz_kubelet_yaml: DEL inside a value is written raw and must read back.
          {"DEL in a value", "", {E("a", "x\x7fy")}, "a: \"x\x7fy\"\n"},
          {"objects are accepted", "", {E("featureGates", {{"A", true}})}, "featureGates:\n  A: true\n"},
          {"single-quoted segment", "", {E("a.'b.c'", 1)}, "a:\n  b.c: 1\n"},
          // Found by fuzz_kubelet_yaml: entries that undo each other must still leave the file stable.
          {"parent set to null, then a child",
           "",
           {E("u.k", nullptr), E("u.k.x", "1")},
           "u:\n  k:\n    x: \"1\"\n"},
      });
}

TEST(EditKubeletYaml, BadInput) {
  const std::vector<Rejected> cases = {
      {"not YAML", "a: [1\n", {E("a", 1)}},
      {"top level is a list", "- a\n", {E("a", 1)}},
      {"two documents", "a: 1\n---\nb: 2\n", {E("a", 1)}},
      // Found by fuzz_kubelet_yaml: yaml-cpp's LoadAll never returned on a stray ','.
      {"stray comma", ",\n", {E("a", 1)}},
      // Found by fuzz_kubelet_yaml: control characters and invalid UTF-8 in the file.
      {"control character in the file", "a: \"\x07\"\n", {E("b", 1)}},
      {"invalid UTF-8 in the file", "a: \xf8\n", {E("b", 1)}},
      {"stray comma before a key", ",: a\n", {E("a", 1)}},
      {"path through a scalar", "port: 1\n", {E("port.x", 1)}},
      {"malformed key", "", {E("a..b", 1)}},
      {"unterminated quote", "", {E("a.\"b", 1)}},
      {"empty key", "", {E("", 1)}},
      {"newline in key", "", {E("a\nb", 1)}},
      {"duplicate key", "", {E("a", 1), E("a", 2)}},
      // Found by fuzz_kubelet_yaml: the emitter replaced the bytes, so the file did not hold the value.
      {"invalid UTF-8 value", "", {E("a", "x\xd9S")}},
      {"invalid UTF-8 key", "", {E("a\xff", 1)}},
      {"invalid UTF-8 in an array", "", {E("a", {"ok", "\xc0\x80"})}},
  };
  ExpectRejected(EditKubeletYaml, cases);
}

}  // namespace
}  // namespace kubeos::agent::config
