#include "agent/install.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/download.h"
#include "agent/host.h"

namespace kubeos::agent {
namespace {

TEST(SniffPayload, Table) {
  std::string tar(kHeaderHoldBytes, '\0');
  tar.replace(257, 5, "ustar");
  std::string ext(kHeaderHoldBytes, '\0');
  ext[1024 + 0x38] = '\x53';
  ext[1024 + 0x39] = '\xEF';
  EXPECT_EQ(SniffPayload(tar), PayloadKind::kTar);
  EXPECT_EQ(SniffPayload(ext), PayloadKind::kExtImage);
  EXPECT_EQ(SniffPayload(std::string(kHeaderHoldBytes, 'x')), PayloadKind::kUnknown);
  EXPECT_EQ(SniffPayload("short"), PayloadKind::kUnknown);
}

TEST(Sha256Hex, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CheckFetchOptions, SourceRules) {
  struct Case {
    FetchOptions o;
    bool ok;
  } cases[] = {
      {{.url = "https://h/os.tar"}, true},
      {{.url = "http://h/os.tar"}, false},  // plain http needs flagSafe
      {{.url = "http://h/os.tar", .flag_safe = true}, true},
      {{.url = "/persist/os.img"}, true},
      {{.url = "file:///persist/os.img"}, true},
      {{.url = "ftp://h/x"}, false},
      {{.url = ""}, false},
      {{.url = "https://h/x", .mtls = true, .ca_cert = "ca"}, false},  // mtls needs all three names
      {{.url = "https://h/x", .ca_cert = "../etc/shadow"}, false},
      {{.url = "https://h/x", .mtls = true, .ca_cert = "ca", .client_cert = "c", .client_key = "k"}, true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(CheckFetchOptions(c.o).ok(), c.ok) << c.o.url;
  }
  EXPECT_NE(CheckFetchOptions({.url = "http://h/x"}).message().find("not safe"), std::string::npos);
}

TEST(HostDescription, ParsesAndRejects) {
  StatusOr<HostDescription> h = ParseHostDescription(
      R"({"slot_a":"/tmp/a","slot_b":"/tmp/b","reboot":["/bin/true"],"persist_dir":"/tmp/p",
          "trial_deadline_seconds":5,"health_checks":[["/bin/true"]]})");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->slot_path(Slot::kB), "/tmp/b");
  EXPECT_EQ(h->state_file(), "/tmp/p/os-agent/state.json");
  EXPECT_EQ(h->trial_deadline.count(), 5);
  EXPECT_EQ(h->boot_env, "/boot/efi/EFI/openEuler/grubenv");  // default kept
  EXPECT_EQ(ParseHostDescription(R"({"slot_c":"x"})").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHostDescription(R"({"reboot":[]})").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHostDescription(R"({"slot_a":"/x","slot_b":"/x"})").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHostDescription("[").status().code(), StatusCode::kInvalidArgument);
  // A type error names the key.
  for (const char* text :
       {R"({"trial_deadline_seconds":"ten"})", R"({"health_checks":[["ok"], 3]})", R"({"slot_a":17})"}) {
    Status s = ParseHostDescription(text).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << text;
    std::string key = nlohmann::json::parse(text).begin().key();
    EXPECT_NE(s.message().find("\"" + key + "\""), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace kubeos::agent
