// os-agent against a simulated host (sim_host.h) and real HTTPS servers with real certificate files: the
// install pipeline's success and failure cases, the trial/fallback cycle, the RPC contract (busy, status
// during install, error code -1), and the grubenv format cross-checked with the real grub-editenv.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <regex>
#include <set>
#include <span>
#include <thread>

#include "agent/client.h"
#include "agent/grubenv.h"
#include "agent/host.h"
#include "agent/install.h"
#include "common/file.h"
#include "https_server.h"
#include "pki/x509.h"
#include "sim_host.h"

namespace kubeos::agenttest {
namespace {

using agent::Slot;
using nlohmann::json;

struct Pki {
  pki::CertAndKey ca, server, client, other_ca;
};

// Sends bytes on a fresh connection to the agent socket and returns the first newline-terminated answer.
StatusOr<std::string> RawExchange(const std::filesystem::path& socket_path, std::string_view request) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return ErrnoError(errno, "connect");
  }
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return ErrnoError(errno, "send");
  }
  std::string in;
  char buf[4096];
  while (in.find('\n') == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return in;
}

const Pki& TestPki() {
  static const Pki p = [] {
    Pki x;
    x.ca = *pki::MakeCa("agent-test-ca");
    x.other_ca = *pki::MakeCa("some-other-ca");
    x.server =
        *pki::MakeSignedCert(x.ca, {.common_name = "server", .ip_addresses = {"127.0.0.1"}, .server = true});
    x.client = *pki::MakeSignedCert(x.ca, {.common_name = "node", .client = true});
    return x;
  }();
  return p;
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<SimHost> h = SimHost::Create();
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    host_.emplace(std::move(*h));
    const Pki& p = TestPki();
    ASSERT_TRUE(WriteFileAtomic(host_->certs() / "ca.crt", p.ca.cert_pem).ok());
    ASSERT_TRUE(WriteFileAtomic(host_->certs() / "other-ca.crt", p.other_ca.cert_pem).ok());
    ASSERT_TRUE(WriteFileAtomic(host_->certs() / "client.crt", p.client.cert_pem).ok());
    ASSERT_TRUE(WriteFileAtomic(host_->certs() / "client.key", p.client.key_pem, {.mode = 0600}).ok());
    image_ = host_->dir() / "image.ext4";
    ASSERT_TRUE(MakeExtImage(image_, uint64_t{8} * 1024 * 1024, "slot B v2").ok());
    image_bytes_ = *ReadFile(image_);
    slot_a_sha_ = FileSha256(host_->slot(Slot::kA));
    ASSERT_TRUE(host_->StartAgent().ok());
  }

  std::unique_ptr<HttpsServer> Serve(std::string payload, bool mtls = true, bool tls = true) {
    const Pki& p = TestPki();
    auto s = std::make_unique<HttpsServer>(HttpsServerOptions{.tls = tls,
                                                              .cert_pem = p.server.cert_pem,
                                                              .key_pem = p.server.key_pem,
                                                              .client_ca_pem = mtls ? p.ca.cert_pem : "",
                                                              .payload = std::move(payload)});
    EXPECT_TRUE(s->Start().ok());
    return s;
  }

  static json Request(const std::string& url, const std::string& sha, bool mtls = true,
                      const std::string& ca = "ca.crt") {
    return json::array(
        {{{"version", "KubeOS 2"},
          {"check_sum", sha},
          {"image_type", "disk"},
          {"container_image", ""},
          {"image_url", url},
          {"flag_safe", false},
          {"mtls", mtls},
          {"certs", {{"ca_cert", ca}, {"client_cert", "client.crt"}, {"client_key", "client.key"}}}}});
  }

  // Gives slot B a good, verified ROOT-B filesystem ("slot B v1", version "KubeOS 1.5") through the agent
  // itself, so the failure tests can tell an invalidated standby from one that was never touched.
  void PreinstallStandby() {
    std::filesystem::path v15 = host_->dir() / "v15.ext4";
    ASSERT_TRUE(MakeExtImage(v15, uint64_t{4} * 1024 * 1024, "slot B v1").ok());
    json req = Request(v15.string(), agent::Sha256Hex(*ReadFile(v15)));
    req[0]["version"] = "KubeOS 1.5";
    StatusOr<json> r = host_->Call("prepare_upgrade", req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(ReadHello(host_->slot(Slot::kB)), "slot B v1");
    ASSERT_EQ(*agent::ReadExtLabel(host_->slot(Slot::kB)), "ROOT-B");
    ASSERT_EQ(host_->AgentStatus()["slots"]["B"]["state"], "installed");
  }

  enum class Standby {
    kInvalidated,  // the failure came after payload bytes: B is invalid and holds no filesystem
    kKept,         // the failure came before any payload byte: B still holds its verified image
  };
  // The safety promise after any failed install (call PreinstallStandby first): the booted slot untouched,
  // the env still commits to it, and the standby either invalidated or kept as it was.
  void ExpectSafeAfterFailure(const std::string& error_fragment, Standby standby = Standby::kInvalidated) {
    EXPECT_EQ(FileSha256(host_->slot(Slot::kA)), slot_a_sha_);
    EXPECT_EQ(host_->EnvList(), "saved_entry=A\n");
    json st = host_->AgentStatus();
    EXPECT_EQ(st["booted_slot"], "A");
    std::string b = st["slots"]["B"]["state"];
    if (standby == Standby::kInvalidated) {
      EXPECT_EQ(b, "invalid");
      EXPECT_FALSE(agent::ReadExtLabel(host_->slot(Slot::kB)).ok()) << "standby has a visible filesystem";
      EXPECT_EQ(host_->Call("upgrade").status().code(), StatusCode::kFailedPrecondition);  // nothing to boot
    } else {
      EXPECT_EQ(b, "installed") << "a failure before the first payload byte invalidated the standby";
      EXPECT_EQ(st["slots"]["B"]["version"], "KubeOS 1.5");
      EXPECT_EQ(ReadHello(host_->slot(Slot::kB)), "slot B v1");
    }
    ASSERT_TRUE(st["last_operation"].is_object()) << st.dump();
    EXPECT_FALSE(st["last_operation"]["ok"].get<bool>());
    EXPECT_NE(st["last_operation"]["message"].get<std::string>().find(error_fragment), std::string::npos)
        << st["last_operation"].dump();
    EXPECT_FALSE(std::filesystem::exists(host_->reboot_marker()));
  }

  // The common prelude: the v2 image served over mTLS and installed into the standby (call under
  // ASSERT_NO_FATAL_FAILURE).
  void InstallV2() {
    auto server = Serve(image_bytes_);
    StatusOr<json> r = PrepareFrom(server->base_url() + "/ok/os.img", agent::Sha256Hex(image_bytes_));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  StatusOr<json> PrepareFrom(const std::string& url, const std::string& sha, bool mtls = true,
                             const std::string& ca = "ca.crt") {
    return host_->Call("prepare_upgrade", Request(url, sha, mtls, ca));
  }

  std::optional<SimHost> host_;
  std::filesystem::path image_;
  std::string image_bytes_;
  std::string slot_a_sha_;
};

TEST_F(AgentTest, GoodInstallOverMtlsThenTrialAndMarkGood) {
  auto server = Serve(image_bytes_);
  StatusOr<json> r = PrepareFrom(server->base_url() + "/ok/os.img", agent::Sha256Hex(image_bytes_));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, json({{"status", "UpgradeReady"}}));
  EXPECT_EQ(ReadHello(host_->slot(Slot::kB)), "slot B v2");
  EXPECT_EQ(*agent::ReadExtLabel(host_->slot(Slot::kB)), "ROOT-B");
  EXPECT_TRUE(RunTool({"e2fsck", "-fn", host_->slot(Slot::kB).string()}).ok());
  json st = host_->AgentStatus();
  EXPECT_EQ(st["slots"]["B"]["state"], "installed");
  EXPECT_EQ(st["slots"]["B"]["version"], "KubeOS 2");
  EXPECT_EQ(st["slots"]["A"]["version"], "KubeOS 1");
  EXPECT_EQ(FileSha256(host_->slot(Slot::kA)), slot_a_sha_);

  StatusOr<json> up = host_->Call("upgrade");
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(*up, json({{"status", "Upgraded"}}));
  EXPECT_TRUE(std::filesystem::exists(host_->reboot_marker()));
  EXPECT_EQ(host_->EnvList(), "saved_entry=B\nboot_tries=2\nfallback_entry=A\n");

  ASSERT_TRUE(host_->StopAgent().ok());
  ASSERT_EQ(*host_->Reboot(), Slot::kB);
  ASSERT_TRUE(host_->StartAgent().ok());
  st = host_->AgentStatus();
  EXPECT_EQ(st["booted_slot"], "B");
  EXPECT_TRUE(st["on_trial"].get<bool>());
  StatusOr<json> good = host_->Call("mark_good");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(host_->EnvList(), "saved_entry=B\n");
  st = host_->AgentStatus();
  EXPECT_EQ(st["slots"]["B"]["state"], "good");
  EXPECT_FALSE(st["on_trial"].get<bool>());
}

TEST_F(AgentTest, FailedTrialFallsBackAndIsReported) {
  ASSERT_NO_FATAL_FAILURE(InstallV2());
  ASSERT_TRUE(host_->Call("upgrade").ok());
  host_->KillAgent();
  // Slot B "crashes" on every boot: no agent ever runs there.
  ASSERT_EQ(*host_->Reboot(), Slot::kB);
  ASSERT_EQ(*host_->Reboot(), Slot::kB);
  ASSERT_EQ(*host_->Reboot(), Slot::kA);
  ASSERT_TRUE(host_->StartAgent().ok());
  json st = host_->AgentStatus();
  EXPECT_EQ(st["booted_slot"], "A");
  EXPECT_EQ(st["slots"]["B"]["state"], "failed");
  ASSERT_TRUE(st["last_fallback"].is_object()) << st.dump();
  EXPECT_NE(st["last_fallback"]["message"].get<std::string>().find("KubeOS 2"), std::string::npos);
  EXPECT_EQ(host_->EnvList(), "saved_entry=A\n");
  EXPECT_EQ(host_->Call("upgrade").status().code(),
            StatusCode::kFailedPrecondition);  // a failed slot is not retried
}

// A grubenv cut short is still read by GRUB (any size past the signature), which counts the trial down and
// falls back in it; the agent reads the same file (not the copy, which still arms the trial), so it reports
// the fallback, and it rewrites grubenv whole.
TEST_F(AgentTest, FallbackRecordedInACutGrubenvIsReportedAndTheEnvRepaired) {
  ASSERT_NO_FATAL_FAILURE(InstallV2());
  ASSERT_TRUE(host_->Call("upgrade").ok());
  host_->KillAgent();
  const std::string bak = host_->env().string() + ".bak";
  const std::string armed = *ReadFile(bak);
  ASSERT_TRUE(WriteFileAtomic(host_->env(), ReadFile(host_->env())->substr(0, 512)).ok());
  ASSERT_EQ(*host_->Reboot(), Slot::kB);
  ASSERT_EQ(*host_->Reboot(), Slot::kB);
  ASSERT_EQ(*host_->Reboot(), Slot::kA);
  ASSERT_EQ(ReadFile(host_->env())->size(), 512u) << "GRUB (here grub-editenv) rewrites in place";
  ASSERT_EQ(host_->EnvList(), "saved_entry=A\nkubeos_fell_back=B\n");
  ASSERT_EQ(*ReadFile(bak), armed) << "the copy still arms the trial of B";
  ASSERT_TRUE(host_->StartAgent().ok());
  json st = host_->AgentStatus();
  EXPECT_EQ(st["slots"]["B"]["state"], "failed") << st.dump();
  ASSERT_TRUE(st["last_fallback"].is_object()) << st.dump();
  EXPECT_NE(st["last_fallback"]["message"].get<std::string>().find("fell back to slot A"), std::string::npos);
  EXPECT_EQ(host_->EnvList(), "saved_entry=A\n");
  agent::GrubEnv committed_a;
  committed_a.Set("saved_entry", "A");
  EXPECT_EQ(*ReadFile(host_->env()), *agent::EncodeGrubEnv(committed_a)) << "grubenv rewritten whole";
  EXPECT_EQ(*ReadFile(bak), *agent::EncodeGrubEnv(committed_a));
}

// At start the agent rewrites a grubenv that GRUB reads but that is not the block the agent would write
// (cut, torn, or unusable so that GRUB uses the copy), with exactly the variables GRUB read; a canonical
// grubenv is left alone.
TEST_F(AgentTest, NonCanonicalGrubenvIsRewrittenAtStartWithTheSameVariables) {
  agent::GrubEnv committed_a;
  committed_a.Set("saved_entry", "A");
  committed_a.Set("keep", "me");
  const std::string block = *agent::EncodeGrubEnv(committed_a);
  const std::string bak = host_->env().string() + ".bak";
  struct Case {
    const char* what;
    std::optional<std::string> grubenv, copy;
  } cases[] = {
      {"cut to 512 bytes, no copy", block.substr(0, 512), std::nullopt},
      {"second sector zeroed", block.substr(0, 512) + std::string(512, '\0'), block},
      {"zeroed: restored from the copy", std::string(1024, '\0'), block},
      {"missing: restored from the copy", std::nullopt, block},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ASSERT_TRUE(host_->StopAgent().ok());
    std::filesystem::remove(host_->env());
    std::filesystem::remove(bak);
    if (c.grubenv) {
      ASSERT_TRUE(WriteFileAtomic(host_->env(), *c.grubenv).ok());
    }
    if (c.copy) {
      ASSERT_TRUE(WriteFileAtomic(bak, *c.copy).ok());
    }
    ASSERT_TRUE(host_->StartAgent().ok());
    EXPECT_EQ(ReadFile(host_->env()).value_or("<absent>"), block);
    EXPECT_EQ(ReadFile(bak).value_or("<absent>"), block);
    EXPECT_EQ(host_->AgentStatus()["booted_slot"], "A");
  }
  // Canonical: not touched (same inode, so no write happened).
  ASSERT_TRUE(host_->StopAgent().ok());
  struct stat before {};
  ASSERT_EQ(stat(host_->env().c_str(), &before), 0);
  ASSERT_TRUE(host_->StartAgent().ok());
  struct stat after {};
  ASSERT_EQ(stat(host_->env().c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
}

// The review's case: the trial is armed, then grubenv's second sector is torn (GRUB reads the block but
// cannot write it). GRUB does not make the trial and boots A; the agent there must report it and commit the
// env to A, not rewrite the block whole and still armed (which would boot B at some later reboot). Checked
// against real GRUB in grub_fragment_test ("uncountable trial is not made").
TEST_F(AgentTest, TrialInABlockGrubCannotWriteIsReportedNotReArmed) {
  ASSERT_NO_FATAL_FAILURE(InstallV2());
  ASSERT_TRUE(host_->Call("upgrade").ok());
  host_->KillAgent();
  std::string torn = *ReadFile(host_->env());
  std::fill(torn.begin() + 512, torn.end(), '\0');
  ASSERT_TRUE(WriteFileAtomic(host_->env(), torn).ok());
  ASSERT_FALSE(agent::GrubCanWriteBlock(torn));
  // GRUB's boot: the committed slot A, nothing written; a new boot id.
  ASSERT_TRUE(WriteFileAtomic(host_->dir() / "boot_id", "boot-torn\n").ok());
  ASSERT_TRUE(host_->SetBootEvidence(Slot::kA, Slot::kA).ok());
  ASSERT_TRUE(host_->StartAgent().ok());
  json st = host_->AgentStatus();
  EXPECT_EQ(st["booted_slot"], "A");
  EXPECT_EQ(st["slots"]["B"]["state"], "failed") << st.dump();
  EXPECT_TRUE(st["trial"].is_null()) << st.dump();
  ASSERT_TRUE(st["last_fallback"].is_object()) << st.dump();
  EXPECT_NE(
      st["last_fallback"]["message"].get<std::string>().find("given up: GRUB cannot write the boot env"),
      std::string::npos);
  EXPECT_EQ(host_->EnvList(), "saved_entry=A\n");
  EXPECT_EQ(*ReadFile(host_->env().string() + ".bak"), *ReadFile(host_->env()));
}

// The rewrite at start is a repair, never a reason to stop: an env GRUB reads but the agent cannot write back
// (a variable too big for a 1024-byte block, in a bigger file) is left as it is and the agent serves.
TEST_F(AgentTest, EnvThatCannotBeRewrittenIsLeftAndTheAgentServes) {
  ASSERT_TRUE(host_->StopAgent().ok());
  const std::string big = std::string(agent::kGrubEnvHeader) +
                          "saved_entry=A\nkernelopts=" + std::string(1200, 'x') + "\n" +
                          std::string(200, '#');
  ASSERT_TRUE(WriteFileAtomic(host_->env(), big).ok());
  std::filesystem::remove(host_->env().string() + ".bak");
  ASSERT_TRUE(host_->StartAgent().ok());
  json st = host_->AgentStatus();
  EXPECT_EQ(st["booted_slot"], "A");
  EXPECT_FALSE(st.contains("boot_env_error")) << st.dump();
  EXPECT_EQ(*ReadFile(host_->env()), big);
}

// An env write the start-up reconcile needs (here: consuming GRUB's fallback evidence) that fails, as on a
// read-only ESP, does not stop the agent: it reports the fallback and serves (the review's repro: the copy's
// path is a directory, so its rename fails).
TEST_F(AgentTest, EnvWriteFailureAtStartStillServes) {
  ASSERT_TRUE(host_->StopAgent().ok());
  agent::GrubEnv fell;
  fell.Set("saved_entry", "A");
  fell.Set("kubeos_fell_back", "B");
  ASSERT_TRUE(WriteFileAtomic(host_->env(), *agent::EncodeGrubEnv(fell)).ok());
  const std::filesystem::path bak = host_->env().string() + ".bak";
  std::filesystem::remove(bak);
  std::filesystem::create_directory(bak);
  ASSERT_TRUE(host_->StartAgent().ok());
  json st = host_->AgentStatus();
  EXPECT_EQ(st["booted_slot"], "A");
  ASSERT_TRUE(st["last_fallback"].is_object()) << st.dump();
  EXPECT_EQ(host_->EnvList(), "saved_entry=A\nkubeos_fell_back=B\n") << "nothing could be written";
  std::filesystem::remove(bak);
}

// Both env files destroyed (no GRUB signature): the agent still starts and reports it, refuses what needs
// the env with how to fix it, and writes neither file.
TEST_F(AgentTest, UnreadableEnvAndCopyAreReportedNotOverwritten) {
  ASSERT_TRUE(host_->StopAgent().ok());
  const std::string bak = host_->env().string() + ".bak";
  const std::string garbage(1024, '\0');
  ASSERT_TRUE(WriteFileAtomic(host_->env(), garbage).ok());
  ASSERT_TRUE(WriteFileAtomic(bak, "not an env\n").ok());
  ASSERT_TRUE(host_->StartAgent().ok());
  json st = host_->AgentStatus();
  EXPECT_EQ(st["booted_slot"], "A");
  ASSERT_TRUE(st.contains("boot_env_error")) << st.dump();
  StatusOr<json> up = host_->Call("upgrade");
  ASSERT_FALSE(up.ok());
  EXPECT_NE(up.status().message().find("grub-editenv"), std::string::npos) << up.status().ToString();
  EXPECT_EQ(*ReadFile(host_->env()), garbage);
  EXPECT_EQ(*ReadFile(bak), "not an env\n");
  EXPECT_FALSE(std::filesystem::exists(host_->reboot_marker()));
}

TEST_F(AgentTest, RollbackBootsTheOtherSlot) {
  ASSERT_NO_FATAL_FAILURE(InstallV2());
  ASSERT_TRUE(host_->Call("upgrade").ok());
  ASSERT_TRUE(host_->StopAgent().ok());
  ASSERT_EQ(*host_->Reboot(), Slot::kB);
  ASSERT_TRUE(host_->StartAgent().ok());
  ASSERT_TRUE(host_->Call("mark_good").ok());
  StatusOr<json> rb = host_->Call("rollback");
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  EXPECT_EQ(*rb, json({{"status", "Rollbacked"}}));
  EXPECT_EQ(host_->EnvList(), "saved_entry=A\nboot_tries=2\nfallback_entry=B\n");
}

TEST_F(AgentTest, RootfsTarballOverHttpsWithoutMtls) {
  std::filesystem::path tar = host_->dir() / "os.tar";
  ASSERT_TRUE(MakeRootfsTar(tar, "from tar").ok());
  std::string bytes = *ReadFile(tar);
  auto server = Serve(bytes, /*mtls=*/false);
  StatusOr<json> r = PrepareFrom(server->base_url() + "/ok/os.tar", agent::Sha256Hex(bytes), /*mtls=*/false);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadHello(host_->slot(Slot::kB)), "from tar");
  EXPECT_EQ(*agent::ReadExtLabel(host_->slot(Slot::kB)), "ROOT-B");
  EXPECT_FALSE(std::filesystem::exists(host_->dir() / "persist" / "KubeOS-Update")) << "staging left behind";
}

TEST_F(AgentTest, LocalFileInstall) {
  StatusOr<json> r = PrepareFrom(image_.string(), agent::Sha256Hex(image_bytes_));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadHello(host_->slot(Slot::kB)), "slot B v2");
}

// An image whose size is not a multiple of the direct-I/O block (4 KiB) nor of the 4 MiB chunk: the body
// goes through O_DIRECT, the unaligned tail through the page cache; the result must be byte-exact.
TEST_F(AgentTest, OddSizedImageIsWrittenExactly) {
  std::filesystem::path odd = host_->dir() / "odd.ext4";
  ASSERT_TRUE(
      RunTool({"mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", "-L", "image", odd.string(), "5123k"}).ok());
  std::string bytes = *ReadFile(odd);
  ASSERT_EQ(bytes.size() % 4096, 3072u);
  StatusOr<json> r = PrepareFrom(odd.string(), agent::Sha256Hex(bytes));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string slot = *ReadFile(host_->slot(Slot::kB));
  ASSERT_GE(slot.size(), bytes.size());
  // Byte-exact apart from the primary superblock (1024..2047), where the agent sets the label (and its
  // checksum).
  EXPECT_EQ(slot.substr(0, 1024), bytes.substr(0, 1024));
  EXPECT_EQ(agent::Sha256Hex(std::string_view(slot).substr(2048, bytes.size() - 2048)),
            agent::Sha256Hex(std::string_view(bytes).substr(2048)))
      << "slot content differs from the image";
  EXPECT_EQ(*agent::ReadExtLabel(host_->slot(Slot::kB)), "ROOT-B");
}

// kbimg's payloads carry ROOT-A by default: written into B from a host booted on A, the standby must never
// carry the booted slot's label, not even between the header write and a relabel (a cut there could make
// GRUB's `search --label ROOT-A` or the initramfs' findfs pick B). A reader polls B's primary superblock for
// the whole install; it must see no filesystem, then ROOT-B, never ROOT-A. (The agent used to write the
// image's header as it was and run e2label afterwards: this test saw ROOT-A there on every run.)
TEST_F(AgentTest, StandbyNeverCarriesTheBootedSlotsLabel) {
  std::filesystem::path img = host_->dir() / "root-a.ext4";
  ASSERT_TRUE(MakeExtImage(img, kSlotBytes, "labelled A").ok());  // 1 KiB blocks: 2 groups, 1 backup
  ASSERT_TRUE(RunTool({"e2label", img.string(), "ROOT-A"}).ok());
  std::string bytes = *ReadFile(img);
  std::atomic<bool> done{false};
  std::set<std::string> seen;
  int reads = 0;
  std::thread watcher([&] {
    int fd = open(host_->slot(Slot::kB).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    std::array<unsigned char, 1024> sb{};
    while (!done.load()) {
      ++reads;
      if (pread(fd, sb.data(), sb.size(), 1024) != static_cast<ssize_t>(sb.size())) continue;
      if (sb[0x38] != 0x53 || sb[0x39] != 0xEF) continue;
      std::string label(reinterpret_cast<const char*>(sb.data() + 0x78), 16);
      seen.insert(label.substr(0, label.find('\0')));
    }
    close(fd);
  });
  StatusOr<json> r = PrepareFrom(img.string(), agent::Sha256Hex(bytes));
  done = true;
  watcher.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(reads, 100);
  EXPECT_EQ(seen.count("ROOT-A"), 0u) << "slot B carried the booted slot's label during the install";
  EXPECT_EQ(seen, std::set<std::string>{"ROOT-B"});
  EXPECT_EQ(*agent::ReadExtLabel(host_->slot(Slot::kB)), "ROOT-B");
  EXPECT_EQ(ReadHello(host_->slot(Slot::kB)), "labelled A");
  StatusOr<std::string> fsck = RunTool({"e2fsck", "-fn", host_->slot(Slot::kB).string()});
  EXPECT_TRUE(fsck.ok()) << fsck.status().ToString();  // the patched superblock's checksum is valid
  // The backup superblock was relabelled on its way to the disk, with a valid checksum.
  std::vector<uint64_t> backups = agent::ExtBackupSuperblockOffsets(bytes.substr(0, agent::kHeaderHoldBytes));
  ASSERT_EQ(backups.size(), 1u);
  StatusOr<std::string> b = RunTool({"dumpe2fs", "-o", "superblock=" + std::to_string(backups[0] / 1024),
                                     "-o", "blocksize=1024", "-h", host_->slot(Slot::kB).string()});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_NE(b->find("Filesystem volume name:   ROOT-B\n"), std::string::npos) << *b;
  EXPECT_EQ(b->find("does not match"), std::string::npos) << *b;
}

// PatchExtLabel / PatchSuperblockLabel / ExtBackupSuperblockOffsets against e2fsprogs: the backup
// superblocks found are the ones dumpe2fs lists, and after relabelling the primary and every backup,
// e2fsck accepts the filesystem and dumpe2fs reads ROOT-B with a valid checksum from each backup.
TEST(PatchExtLabel, AcceptedByE2fsprogs) {
  StatusOr<TempDir> dir = TempDir::Create("patch-label");
  ASSERT_TRUE(dir.ok());
  struct Case {
    std::vector<std::string> mkfs_extra;
    std::string size;
    std::string what;
  } cases[] = {
      {{"-t", "ext4"}, "4M", "ext4 with metadata_csum, one group"},
      {{"-t", "ext4", "-O", "^metadata_csum"}, "4M", "ext4 without metadata_csum"},
      {{"-t", "ext2"}, "4M", "ext2"},
      {{"-t", "ext4", "-b", "1024"}, "64M", "ext4, 1 KiB blocks, sparse_super"},
      {{"-t", "ext4", "-b", "4096", "-g", "1024"}, "64M", "ext4, 4 KiB blocks, 16 groups"},
      {{"-t", "ext4", "-b", "4096", "-g", "1024", "-O", "sparse_super2"}, "64M", "sparse_super2"},
      {{"-t", "ext2", "-b", "1024", "-O", "^sparse_super,^resize_inode"}, "32M", "backups in every group"}};
  static const std::regex kBackup("Backup superblock at ([0-9]+)");
  static const std::regex kBlockSize("Block size: +([0-9]+)");
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::filesystem::path img = dir->path() / "img";
    std::vector<std::string> argv = {"mke2fs", "-q", "-F", "-L", "ROOT-A"};
    argv.insert(argv.end(), c.mkfs_extra.begin(), c.mkfs_extra.end());
    argv.insert(argv.end(), {img.string(), c.size});
    ASSERT_TRUE(RunTool(argv).ok());
    StatusOr<std::string> dump = RunTool({"dumpe2fs", img.string()});
    ASSERT_TRUE(dump.ok());
    std::smatch m;
    ASSERT_TRUE(std::regex_search(*dump, m, kBlockSize));
    uint64_t block = std::stoull(m[1]);
    std::vector<uint64_t> listed;
    for (auto it = std::sregex_iterator(dump->begin(), dump->end(), kBackup); it != std::sregex_iterator();
         ++it) {
      listed.push_back(std::stoull((*it)[1]) * block);
    }
    std::string bytes = *ReadFile(img);
    std::string head = bytes.substr(0, agent::kHeaderHoldBytes);
    EXPECT_EQ(agent::ExtBackupSuperblockOffsets(head), listed);
    ASSERT_TRUE(agent::PatchExtLabel(head, "ROOT-B").ok());
    bytes.replace(0, head.size(), head);
    for (uint64_t at : listed) {
      EXPECT_TRUE(agent::PatchSuperblockLabel(std::span<char>(bytes.data() + at, 1024), "ROOT-B")) << at;
    }
    ASSERT_TRUE(WriteFileAtomic(img, bytes).ok());
    StatusOr<std::string> label = RunTool({"e2label", img.string()});
    ASSERT_TRUE(label.ok());
    EXPECT_EQ(*label, "ROOT-B\n");
    StatusOr<std::string> fsck = RunTool({"e2fsck", "-fn", img.string()});
    EXPECT_TRUE(fsck.ok()) << fsck.status().ToString();
    for (uint64_t at : listed) {
      StatusOr<std::string> b = RunTool({"dumpe2fs", "-o", "superblock=" + std::to_string(at / block), "-o",
                                         "blocksize=" + std::to_string(block), "-h", img.string()});
      ASSERT_TRUE(b.ok()) << "backup at " << at << ": " << b.status().ToString();
      EXPECT_NE(b->find("Filesystem volume name:   ROOT-B\n"), std::string::npos) << "backup at " << at;
      EXPECT_EQ(b->find("does not match"), std::string::npos) << "backup at " << at << ": " << *b;
    }
  }
  std::string not_ext(agent::kHeaderHoldBytes, '\0');
  EXPECT_TRUE(agent::ExtBackupSuperblockOffsets(not_ext).empty());
  EXPECT_FALSE(agent::PatchSuperblockLabel(std::span<char>(not_ext.data(), 1024), "ROOT-B"));
}

TEST_F(AgentTest, ResumesATruncatedDownloadWithRange) {
  auto server = Serve(image_bytes_);
  StatusOr<json> r =
      PrepareFrom(server->base_url() + "/truncate-once/os.img", agent::Sha256Hex(image_bytes_));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(server->range_requests(), 1);
  EXPECT_EQ(ReadHello(host_->slot(Slot::kB)), "slot B v2");
}

TEST_F(AgentTest, WrongCaIsRefused) {
  PreinstallStandby();
  auto server = Serve(image_bytes_);
  StatusOr<json> r =
      PrepareFrom(server->base_url() + "/ok/os.img", agent::Sha256Hex(image_bytes_), true, "other-ca.crt");
  ASSERT_FALSE(r.ok());
  ExpectSafeAfterFailure("certificate", Standby::kKept);
}

TEST_F(AgentTest, MissingClientCertIsRefused) {
  PreinstallStandby();
  auto server = Serve(image_bytes_, /*mtls=*/true);
  StatusOr<json> r = PrepareFrom(server->base_url() + "/ok/os.img", agent::Sha256Hex(image_bytes_), false);
  ASSERT_FALSE(r.ok());
  ExpectSafeAfterFailure("GET https://127.0.0.1", Standby::kKept);
}

TEST_F(AgentTest, ChecksumMismatchActivatesNothing) {
  PreinstallStandby();
  auto server = Serve(image_bytes_);
  StatusOr<json> r = PrepareFrom(server->base_url() + "/ok/os.img", agent::Sha256Hex("something else"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("checksum mismatch"), std::string::npos);
  ExpectSafeAfterFailure("checksum mismatch");
}

TEST_F(AgentTest, TruncatedBodyFailsAfterResumes) {
  PreinstallStandby();
  auto server = Serve(image_bytes_);
  StatusOr<json> r = PrepareFrom(server->base_url() + "/truncate/os.img", agent::Sha256Hex(image_bytes_));
  ASSERT_FALSE(r.ok());
  ExpectSafeAfterFailure("transfer failed");
}

TEST_F(AgentTest, StalledBodyTimesOut) {
  PreinstallStandby();
  auto server = Serve(image_bytes_);
  StatusOr<json> r = PrepareFrom(server->base_url() + "/stall/os.img", agent::Sha256Hex(image_bytes_));
  ASSERT_FALSE(r.ok());
  ExpectSafeAfterFailure("stalled");
}

TEST_F(AgentTest, PlainHttpNeedsFlagSafe) {
  PreinstallStandby();
  auto server = Serve(image_bytes_, false, /*tls=*/false);
  StatusOr<json> r = PrepareFrom(server->base_url() + "/ok/os.img", agent::Sha256Hex(image_bytes_));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(server->requests(), 0) << "no byte may be fetched over plain http without flagSafe";
  ExpectSafeAfterFailure("not safe", Standby::kKept);  // refused before the install began
  // With flagSafe it works.
  json req = Request(server->base_url() + "/ok/os.img", agent::Sha256Hex(image_bytes_));
  req[0]["flag_safe"] = true;
  StatusOr<json> ok = host_->Call("prepare_upgrade", req);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST_F(AgentTest, NotFound) {
  PreinstallStandby();
  auto server = Serve(image_bytes_);
  StatusOr<json> r = PrepareFrom(server->base_url() + "/missing/os.img", agent::Sha256Hex(image_bytes_));
  ASSERT_FALSE(r.ok());
  ExpectSafeAfterFailure("404", Standby::kKept);
}

TEST_F(AgentTest, PartitionTooSmall) {
  PreinstallStandby();
  std::filesystem::path big = host_->dir() / "big.ext4";
  ASSERT_TRUE(MakeExtImage(big, kSlotBytes + uint64_t{4} * 1024 * 1024, "too big").ok());
  std::string bytes = *ReadFile(big);
  auto server = Serve(bytes);
  StatusOr<json> r = PrepareFrom(server->base_url() + "/ok/os.img", agent::Sha256Hex(bytes));
  ASSERT_FALSE(r.ok());
  ExpectSafeAfterFailure("holds", Standby::kKept);  // refused from the size, before writing
}

TEST_F(AgentTest, SlotEvidenceDisagreementRefusesInstall) {
  ASSERT_TRUE(host_->StopAgent().ok());
  ASSERT_TRUE(host_->SetBootEvidence(Slot::kB, Slot::kA).ok());  // kernel says B, / is on A
  ASSERT_TRUE(host_->StartAgent().ok());
  json st = host_->AgentStatus();
  EXPECT_TRUE(st["booted_slot"].is_null());
  StatusOr<json> r = PrepareFrom(image_.string(), agent::Sha256Hex(image_bytes_));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("refusing to install"), std::string::npos) << r.status().message();
  EXPECT_EQ(FileSha256(host_->slot(Slot::kA)), slot_a_sha_);
  EXPECT_EQ(host_->EnvList(), "saved_entry=A\n");
}

TEST_F(AgentTest, BusyAndStatusDuringInstall) {
  std::string big(size_t{12} * 1024 * 1024, '\0');
  big.replace(0, image_bytes_.size(), image_bytes_);  // an ext image padded to 12 MiB: a ~4 s slow download
  auto server = Serve(big);
  std::thread install([&] {
    StatusOr<json> r = PrepareFrom(server->base_url() + "/slow/os.img", agent::Sha256Hex(big));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  });
  json running;
  for (int i = 0; i < 200 && running.is_null(); ++i) {
    json st = host_->AgentStatus();
    if (st["operation"].is_object() && st["operation"]["bytes"].get<uint64_t>() > 0)
      running = st["operation"];
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(running.is_object()) << "status never showed the running install";
  EXPECT_EQ(running["name"], "prepare_upgrade");
  EXPECT_EQ(running["phase"], "downloading");
  EXPECT_EQ(running["total"].get<uint64_t>(), big.size());
  StatusOr<json> busy = host_->Call("upgrade");
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.status().message(), "Busy: os-agent is processing another request");
  EXPECT_EQ(busy.status().code(), StatusCode::kBusy) << "error.data.code not mapped by the client";
  install.join();
  EXPECT_TRUE(host_->AgentStatus()["operation"].is_null());
}

TEST_F(AgentTest, RpcContract) {
  StatusOr<json> unknown = host_->Call("reboot_now");
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnimplemented);
  StatusOr<json> bad = host_->Call("prepare_upgrade", json::array({{{"image_type", "qcow"}}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("Invalid image type \"qcow\""), std::string::npos);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  StatusOr<json> cfg =
      host_->Call("configure",
                  json::parse(R"([{"configs":[{"model":"kernel.nosuch","config_path":"","contents":{}}]}])"));
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("kernel.nosuch"), std::string::npos) << cfg.status().ToString();
  // Raw wire check: error code -1 and newline-terminated response.
  StatusOr<std::string> raw =
      RawExchange(host_->socket(), R"({"jsonrpc":"2.0","method":"upgrade","params":[],"id":3})");
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  json resp = json::parse(*raw);
  EXPECT_EQ(resp["error"]["code"], -1);
  EXPECT_EQ(resp["error"]["data"]["code"], "FailedPrecondition") << resp.dump();
  EXPECT_EQ(resp["id"], 3);
  EXPECT_EQ(raw->back(), '\n');
  struct stat st {};
  ASSERT_EQ(stat(host_->socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(stat(host_->socket().parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
}

// configure through the RPC, on the models of src/agent/config/: several models in one request land
// together; a request with one bad model changes nothing; grub.cmdline.current edits the booted slot's entry.
TEST_F(AgentTest, ConfigureAppliesEveryModelOrNone) {
  const std::filesystem::path root = host_->config_root();
  std::filesystem::create_directories(root / "etc");
  std::filesystem::create_directories(root / "var/lib/kubelet");
  std::filesystem::create_directories(root / "boot/efi/EFI/openEuler");
  std::filesystem::create_directories(host_->proc_sys() / "net/core");
  ASSERT_TRUE(WriteFileAtomic(host_->proc_sys() / "net/core/somaxconn", "4096\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root / "etc/sysctl.conf", "# keep me\nvm.swappiness = 10\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root / "var/lib/kubelet/config.yaml", "kind: KubeletConfiguration\n").ok());
  const std::string grub =
      "menuentry 'A' {\n  linux /vmlinuz root=LABEL=ROOT-A ro kubeos.slot=A quiet\n}\n"
      "menuentry 'B' {\n  linux /vmlinuz root=LABEL=ROOT-B ro kubeos.slot=B quiet\n}\n";
  ASSERT_TRUE(WriteFileAtomic(root / "boot/efi/EFI/openEuler/grub.cfg", grub).ok());

  StatusOr<json> ok = host_->Call("configure", json::parse(R"([{"configs":[
      {"model":"kernel.sysctl","config_path":"","contents":{"net.core.somaxconn":{"value":8192,"operation":""}}},
      {"model":"kernel.sysctl.persist","config_path":"","contents":{"vm.swappiness":{"value":"1","operation":""}}},
      {"model":"kubernetes.kubelet","config_path":"","contents":{"maxPods":{"value":42,"operation":""}}},
      {"model":"grub.cmdline.current","config_path":"","contents":{"quiet":{"value":"","operation":"delete"}}}
  ]}])"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)["status"], "Configured");
  EXPECT_EQ(ReadFile(host_->proc_sys() / "net/core/somaxconn").value_or(""), "8192\n");
  EXPECT_EQ(ReadFile(root / "etc/sysctl.conf").value_or(""), "# keep me\nvm.swappiness = 1\n");
  EXPECT_NE(ReadFile(root / "var/lib/kubelet/config.yaml").value_or("").find("maxPods: 42"),
            std::string::npos);
  std::string grub_after = ReadFile(root / "boot/efi/EFI/openEuler/grub.cfg").value_or("");
  EXPECT_NE(grub_after.find("kubeos.slot=A\n"), std::string::npos) << grub_after;        // booted: edited
  EXPECT_NE(grub_after.find("kubeos.slot=B quiet\n"), std::string::npos) << grub_after;  // other: kept

  // A bad second model: the first is not applied either, and the error names the model and the path.
  const std::string sysctl_before = ReadFile(root / "etc/sysctl.conf").value_or("");
  StatusOr<json> bad = host_->Call("configure", json::parse(R"([{"configs":[
      {"model":"kernel.sysctl.persist","config_path":"","contents":{"vm.swappiness":{"value":"60","operation":""}}},
      {"model":"pam.limits","config_path":"/etc/shadow","contents":{"* soft nofile":{"value":"1","operation":""}}}
  ]}])"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("pam.limits"), std::string::npos) << bad.status().ToString();
  EXPECT_EQ(ReadFile(root / "etc/sysctl.conf").value_or(""), sysctl_before);
  json st = host_->AgentStatus();
  EXPECT_EQ(st["last_operation"]["name"], "configure");
  EXPECT_FALSE(st["last_operation"]["ok"].get<bool>());

  // New keys are appended in request order, which must survive the server's parse of the frame (sent raw:
  // nlohmann::json on this side would sort them).
  StatusOr<std::string> raw = RawExchange(host_->socket(), R"({"jsonrpc":"2.0","method":"configure","id":9,
      "params":[{"configs":[{"model":"kernel.sysctl.persist","config_path":"","contents":{
        "vm.zzz":{"value":"1","operation":""},"net.aaa":{"value":"2","operation":""}}}]}]})");
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_EQ(json::parse(*raw)["result"]["status"], "Configured") << *raw;
  EXPECT_EQ(ReadFile(root / "etc/sysctl.conf").value_or(""), sysctl_before + "vm.zzz=1\nnet.aaa=2\n");
}

// A cut inside an env write leaves WriteFileAtomic's temp file beside grubenv; the agent removes its own
// (and only those) when it starts. (The sim host's directory is ext4 or tmpfs; on FAT non-empty ones are
// kept, see DecideStaleEnvTemp.)
TEST_F(AgentTest, StaleEnvTempFilesAreRemovedAtStart) {
  ASSERT_TRUE(host_->StopAgent().ok());
  std::filesystem::path d = host_->env().parent_path();
  std::string block(1024, '#');
  const char* ours[] = {".grubenv.tmp.Ab12Cd", ".grubenv.bak.tmp.x9Z0qQ", ".grubenv.bak.tmp.000000"};
  const char* others[] = {".grubenv.tmp.short", ".grubenv.tmp.toolong1", "grubenv.tmp.Ab12Cd",
                          ".state.json.tmp.Ab12Cd", ".grubenv.bak.bak.tmp.Ab12Cd"};
  for (const char* n : ours) ASSERT_TRUE(WriteFileAtomic(d / n, block).ok());
  for (const char* n : others) ASSERT_TRUE(WriteFileAtomic(d / n, block).ok());
  std::filesystem::create_directory(d / ".grubenv.tmp.DirDir");
  std::string env_before = *ReadFile(host_->env());
  std::string bak_before = ReadFile(host_->env().string() + ".bak").value_or("<absent>");
  ASSERT_TRUE(host_->StartAgent().ok());
  for (const char* n : ours) EXPECT_FALSE(std::filesystem::exists(d / n)) << n;
  for (const char* n : others) EXPECT_TRUE(std::filesystem::exists(d / n)) << n;
  EXPECT_TRUE(std::filesystem::is_directory(d / ".grubenv.tmp.DirDir"));
  EXPECT_EQ(*ReadFile(host_->env()), env_before);
  EXPECT_EQ(ReadFile(host_->env().string() + ".bak").value_or("<absent>"), bak_before);
  EXPECT_EQ(host_->AgentStatus()["booted_slot"], "A");
}

TEST_F(AgentTest, NotifiesSystemdWhenReady) {
  ASSERT_TRUE(host_->StopAgent().ok());
  std::filesystem::path notify = host_->dir() / "notify.sock";
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, notify.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_TRUE(host_->StartAgent({{"NOTIFY_SOCKET", notify.string()}}).ok());
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1) << "no sd_notify datagram";
  char buf[512] = {0};
  ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
  close(fd);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, 8), "READY=1\n") << buf;
}

// Issue 4 section 1: the socket belongs to one agent. A second one refuses to take over a live socket (and
// the first keeps answering), a socket left by a killed agent is replaced, and a file that is not a socket
// is never deleted. The CLI takes --socket after its subcommand too.
TEST_F(AgentTest, SocketIsNotStolenFromALiveAgentAndNothingElseIsDeleted) {
  const std::vector<std::string> serve = {OS_AGENT_BIN, "--host", (host_->dir() / "host.json").string()};
  StatusOr<RunResult> second = RunProgram(serve, std::chrono::seconds(20));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_NE(second->exit_code, 0);
  EXPECT_NE(second->output.find("already serving"), std::string::npos) << second->output;
  StatusOr<std::string> cli =
      RunTool({OS_AGENT_BIN, "status", "--json", "--socket", host_->socket().string()});
  ASSERT_TRUE(cli.ok()) << cli.status().ToString();
  EXPECT_NE(cli->find("\"booted_slot\": \"A\""), std::string::npos) << *cli;

  host_->KillAgent();  // leaves the socket file behind
  ASSERT_TRUE(std::filesystem::exists(host_->socket()));
  ASSERT_TRUE(host_->StartAgent().ok()) << "a stale socket must be replaced";
  ASSERT_TRUE(host_->StopAgent().ok());

  std::filesystem::remove(host_->socket());
  ASSERT_TRUE(WriteFileAtomic(host_->socket(), "not a socket").ok());
  StatusOr<RunResult> blocked = RunProgram(serve, std::chrono::seconds(20));
  ASSERT_TRUE(blocked.ok()) << blocked.status().ToString();
  EXPECT_NE(blocked->exit_code, 0);
  EXPECT_NE(blocked->output.find("is not a socket"), std::string::npos) << blocked->output;
  StatusOr<std::string> kept = ReadFile(host_->socket());
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, "not a socket");
  std::filesystem::remove(host_->socket());
  ASSERT_TRUE(host_->StartAgent().ok());

  // The daemon takes its socket from the host description only.
  StatusOr<RunResult> flag = RunProgram({OS_AGENT_BIN, "--host", (host_->dir() / "host.json").string(),
                                         "serve", "--socket", (host_->dir() / "other.sock").string()},
                                        std::chrono::seconds(20));
  ASSERT_TRUE(flag.ok());
  EXPECT_EQ(flag->exit_code, 2) << flag->output;
  EXPECT_FALSE(std::filesystem::exists(host_->dir() / "other.sock"));
}

// A socket configured in a shared directory (sticky, world-writable like /tmp) is refused, and the
// directory's mode is left alone.
TEST(AgentSocket, SharedDirectoryIsRefusedAndNotChanged) {
  auto shared = TempDir::Create("agent-shared");
  ASSERT_TRUE(shared.ok());
  ASSERT_EQ(chmod(shared->path().c_str(), 01777), 0);
  StatusOr<SimHost> host = SimHost::Create({{"socket", (shared->path() / "agent.sock").string()}});
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  StatusOr<RunResult> r =
      RunProgram({OS_AGENT_BIN, "--host", (host->dir() / "host.json").string()}, std::chrono::seconds(20));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->exit_code, 0);
  EXPECT_NE(r->output.find("is shared (mode 1777)"), std::string::npos) << r->output;
  struct stat st {};
  ASSERT_EQ(stat(shared->path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777U);
}

// The grubenv format, both directions, against the real grub-editenv.
// Issue 4 section 4: a trial whose health checks fail makes the FOLLOWING boot the old slot (not another try
// of the bad image), and the failure is reported before the reboot.
TEST(AgentTrial, FailedHealthCheckMakesTheNextBootTheOldSlot) {
  StatusOr<SimHost> h = SimHost::Create({{"health_checks", {{"false"}}}, {"trial_deadline_seconds", 30}});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  SimHost& host = *h;
  std::filesystem::path image = host.dir() / "image.ext4";
  ASSERT_TRUE(MakeExtImage(image, uint64_t{8} * 1024 * 1024, "slot B v2").ok());
  ASSERT_TRUE(host.StartAgent().ok());
  json req = json::array({{{"version", "KubeOS 2"},
                           {"check_sum", agent::Sha256Hex(*ReadFile(image))},
                           {"image_type", "disk"},
                           {"image_url", image.string()}}});
  StatusOr<json> r = host.Call("prepare_upgrade", req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(host.Call("upgrade").ok());
  ASSERT_TRUE(host.StopAgent().ok());
  std::filesystem::remove(host.reboot_marker());
  ASSERT_EQ(*host.Reboot(), Slot::kB);
  ASSERT_EQ(host.EnvList(), "saved_entry=B\nboot_tries=1\nfallback_entry=A\n");
  ASSERT_TRUE(host.StartAgent().ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!std::filesystem::exists(host.reboot_marker()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(std::filesystem::exists(host.reboot_marker())) << "the agent did not reboot the failed trial";
  EXPECT_EQ(host.EnvList(), "saved_entry=A\n") << "the env still leads to the failed slot";
  json st = host.AgentStatus();
  EXPECT_EQ(st["slots"]["B"]["state"], "failed") << st.dump();
  ASSERT_TRUE(st["last_fallback"].is_object()) << st.dump();
  EXPECT_NE(st["last_fallback"]["message"].get<std::string>().find("health checks"), std::string::npos);
  ASSERT_TRUE(host.StopAgent().ok());
  EXPECT_EQ(*host.Reboot(), Slot::kA);
  ASSERT_TRUE(host.StartAgent().ok());
  st = host.AgentStatus();
  EXPECT_EQ(st["booted_slot"], "A");
  EXPECT_EQ(st["slots"]["B"]["state"], "failed");
  EXPECT_TRUE(st["last_fallback"].is_object());
}

// A reboot command that fails must not leave "upgrade ok" in the status.
TEST(AgentTrial, FailedRebootCommandIsRecordedAsAFailure) {
  StatusOr<SimHost> h = SimHost::Create({{"reboot", {"false"}}});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  SimHost& host = *h;
  std::filesystem::path image = host.dir() / "image.ext4";
  ASSERT_TRUE(MakeExtImage(image, uint64_t{4} * 1024 * 1024, "slot B v2").ok());
  ASSERT_TRUE(host.StartAgent().ok());
  json req = json::array({{{"version", "KubeOS 2"},
                           {"check_sum", agent::Sha256Hex(*ReadFile(image))},
                           {"image_type", "disk"},
                           {"image_url", image.string()}}});
  ASSERT_TRUE(host.Call("prepare_upgrade", req).ok());
  for (const char* method : {"upgrade", "rollback"}) {
    SCOPED_TRACE(method);
    StatusOr<json> r = host.Call(method);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("reboot"), std::string::npos) << r.status().message();
    json st = host.AgentStatus();
    ASSERT_TRUE(st["last_operation"].is_object()) << st.dump();
    EXPECT_EQ(st["last_operation"]["name"], method);
    EXPECT_FALSE(st["last_operation"]["ok"].get<bool>()) << st.dump();
    EXPECT_NE(st["last_operation"]["message"].get<std::string>().find("reboot"), std::string::npos);
    EXPECT_TRUE(st["operation"].is_null());
  }
}

// While configure runs, status must not show the previous install's phase. The kernel parameter is a FIFO,
// so the configure blocks on reading it until the test writes the value.
TEST_F(AgentTest, StatusDuringConfigureShowsNoInstallPhase) {
  ASSERT_TRUE(PrepareFrom(image_.string(), agent::Sha256Hex(image_bytes_)).ok());  // phase "done" now
  const std::filesystem::path fifo = host_->proc_sys() / "net/core/somaxconn";
  std::filesystem::create_directories(fifo.parent_path());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::thread configure([&] {
    StatusOr<json> r = host_->Call("configure", json::parse(R"([{"configs":[{"model":"kernel.sysctl",
        "config_path":"","contents":{"net.core.somaxconn":{"value":"128","operation":""}}}]}])"));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  });
  json op;
  for (int i = 0; i < 200 && !op.is_object(); ++i) {
    op = host_->AgentStatus()["operation"];
    if (!op.is_object()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(op.is_object());
  if (op.is_object()) {
    EXPECT_EQ(op["name"], "configure");
    EXPECT_FALSE(op.contains("phase")) << op.dump();
  }
  int fd = open(fifo.c_str(), O_RDWR | O_CLOEXEC);  // unblocks the agent's open; same value: no write back
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "128\n", 4), 4);
  close(fd);
  configure.join();
}

// SIGTERM during a slow trial health check: the agent stops promptly instead of waiting for the check.
TEST(AgentTrial, StopDuringASlowHealthCheckIsPrompt) {
  StatusOr<SimHost> h = SimHost::Create(
      {{"health_checks", json::array({json::array({"sleep", "60"})})}, {"trial_deadline_seconds", 120}});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  SimHost& host = *h;
  std::filesystem::path image = host.dir() / "image.ext4";
  ASSERT_TRUE(MakeExtImage(image, uint64_t{4} * 1024 * 1024, "slot B v2").ok());
  ASSERT_TRUE(host.StartAgent().ok());
  json req = json::array({{{"version", "KubeOS 2"},
                           {"check_sum", agent::Sha256Hex(*ReadFile(image))},
                           {"image_type", "disk"},
                           {"image_url", image.string()}}});
  ASSERT_TRUE(host.Call("prepare_upgrade", req).ok());
  ASSERT_TRUE(host.Call("upgrade").ok());
  ASSERT_TRUE(host.StopAgent().ok());
  ASSERT_EQ(*host.Reboot(), Slot::kB);
  ASSERT_TRUE(host.StartAgent().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the check is running now
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(host.StopAgent().ok());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 4.0) << "SIGTERM waited for the health check (Stop's grace is 5 s, then SIGKILL)";
  EXPECT_EQ(host.EnvList(), "saved_entry=B\nboot_tries=1\nfallback_entry=A\n") << "a stop is no verdict";
}

TEST(GrubEnvCrossCheck, OursAndGrubEditenvAgree) {
  StatusOr<TempDir> dir = TempDir::Create("grubenv-x");
  ASSERT_TRUE(dir.ok());
  std::filesystem::path ours = dir->path() / "ours";
  std::filesystem::path theirs = dir->path() / "theirs";
  agent::GrubEnv env;
  env.Set("saved_entry", "B");
  env.Set("boot_tries", "2");
  env.Set("weird", "a\\b c=d");
  ASSERT_TRUE(agent::WriteGrubEnvFile(ours, env).ok());
  EXPECT_EQ(*RunTool({"grub-editenv", ours.string(), "list"}),
            "saved_entry=B\nboot_tries=2\nweird=a\\b c=d\n");
  ASSERT_TRUE(RunTool({"grub-editenv", theirs.string(), "create"}).ok());
  ASSERT_TRUE(
      RunTool({"grub-editenv", theirs.string(), "set", "saved_entry=B", "boot_tries=2", "weird=a\\b c=d"})
          .ok());
  EXPECT_EQ(*ReadFile(ours), *ReadFile(theirs)) << "byte-identical blocks";
  StatusOr<agent::GrubEnv> back = agent::ReadGrubEnvFile(theirs);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, env);
  // grub-editenv edits our file in place (as GRUB's save_env does) and we still read it.
  ASSERT_TRUE(RunTool({"grub-editenv", ours.string(), "unset", "boot_tries"}).ok());
  back = agent::ReadGrubEnvFile(ours);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Get("boot_tries"), std::nullopt);
}

}  // namespace
}  // namespace kubeos::agenttest
