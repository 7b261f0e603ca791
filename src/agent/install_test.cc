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

TEST(Crc32c, KnownVectors) {
  // The standard CRC-32C check value of "123456789" is 0xE3069283 (with the usual inversions).
  EXPECT_EQ(~Crc32cRaw(~0U, "123456789"), 0xE3069283U);
  EXPECT_EQ(~Crc32cRaw(~0U, ""), 0U);
}

TEST(PatchExtLabel, Table) {
  std::string ext(kHeaderHoldBytes, '\0');
  ext[1024 + 0x38] = '\x53';
  ext[1024 + 0x39] = '\xEF';
  ext.replace(1024 + 0x78, 6, "ROOT-A");
  {
    std::string h = ext;  // no metadata_csum: only the 16 label bytes change
    ASSERT_TRUE(PatchExtLabel(h, "ROOT-B").ok());
    EXPECT_EQ(h.substr(1024 + 0x78, 16), std::string("ROOT-B") + std::string(10, '\0'));
    h.replace(1024 + 0x78, 16, ext.substr(1024 + 0x78, 16));
    EXPECT_EQ(h, ext);
  }
  {
    std::string h = ext;  // metadata_csum (ro_compat 0x400) with crc32c: the checksum is recomputed
    h[1024 + 0x65] = '\x04';
    h[1024 + 0x175] = '\x01';
    ASSERT_TRUE(PatchExtLabel(h, "ROOT-B").ok());
    uint32_t want = Crc32cRaw(~0U, std::string_view{h}.substr(1024, 0x3FC));
    uint32_t got = 0;
    for (int i = 0; i < 4; ++i)
      got |= static_cast<uint32_t>(static_cast<unsigned char>(h[1024 + 0x3FC + i])) << (8 * i);
    EXPECT_EQ(got, want);
    std::string bad_type = ext;
    bad_type[1024 + 0x65] = '\x04';
    bad_type[1024 + 0x175] = '\x07';
    EXPECT_EQ(PatchExtLabel(bad_type, "ROOT-B").code(), StatusCode::kInvalidArgument);
  }
  std::string h = ext;
  EXPECT_EQ(PatchExtLabel(h, "a-label-of-17-chr").code(), StatusCode::kInvalidArgument);
  std::string tar(kHeaderHoldBytes, '\0');
  tar.replace(257, 5, "ustar");
  EXPECT_EQ(PatchExtLabel(tar, "ROOT-B").code(), StatusCode::kInvalidArgument);
  std::string shortsb = ext.substr(0, 1500);
  EXPECT_EQ(PatchExtLabel(shortsb, "ROOT-B").code(), StatusCode::kInvalidArgument);
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
