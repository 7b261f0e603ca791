// kbimg payload end to end: the real binary, real e2fsprogs/tar, and the real os-agent installing what it
// built on a simulated host.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "agent/host.h"
#include "common/file.h"
#include "common/process.h"
#include "sim_host.h"

namespace kubeos {
namespace {

namespace fs = std::filesystem;
using agenttest::RunTool;
using agenttest::SimHost;
using nlohmann::json;

constexpr uid_t kNobody = 65534;

StatusOr<RunResult> Kbimg(std::vector<std::string> args) {
  args.insert(args.begin(), KBIMG_BIN);
  return RunProgram(args, std::chrono::minutes(2));
}

// The builder runs as an unprivileged user when the test runs as root (so ownership mapping is exercised).
std::vector<std::string> AsNobody(std::vector<std::string> argv) {
  if (geteuid() != 0) return argv;
  std::vector<std::string> out = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

std::string DebugfsCat(const fs::path& image, const std::string& path) {
  StatusOr<std::string> out = RunTool({"debugfs", "-R", "cat " + path, image.string()});
  if (!out.ok()) return "";
  std::string s = *out;
  if (s.rfind("debugfs ", 0) == 0) s = s.substr(s.find('\n') + 1);
  return s;
}

class KbimgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<TempDir> d = TempDir::Create("kbimg-test");
    ASSERT_TRUE(d.ok());
    dir_.emplace(std::move(*d));
    fs::permissions(dir(), fs::perms::all);  // the nobody builder writes here
    tree_ = dir() / "tree";
    fs::create_directories(tree_ / "etc");
    fs::create_directories(tree_ / "usr/bin");
    fs::create_directories(tree_ / "boot");
    ASSERT_TRUE(WriteFileAtomic(tree_ / "etc/os-release", "PRETTY_NAME=\"Debian\"\nHOME_URL=\"x\"\n").ok());
    ASSERT_TRUE(WriteFileAtomic(tree_ / "hello", "hello from kbimg\n").ok());
    ASSERT_TRUE(WriteFileAtomic(tree_ / "usr/bin/tool", "#!/bin/sh\n", {.mode = 0755}).ok());
    ASSERT_TRUE(WriteFileAtomic(tree_ / "boot/name with \"quotes\" and spaces", "x").ok());
    fs::create_symlink("tool", tree_ / "usr/bin/tool2");
    if (geteuid() == 0) {
      ASSERT_TRUE(RunTool({"chown", "-R", "65534:65534", tree_.string()}).ok());
    }
  }

  const fs::path& dir() const { return dir_->path(); }

  // Builds a payload; returns the sha256 printed on stdout.
  std::string Build(const std::vector<std::string>& extra, const fs::path& out, bool as_nobody = true) {
    std::vector<std::string> argv = {KBIMG_BIN,      "payload",  "--rootfs",
                                     tree_.string(), "--output", out.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    StatusOr<RunResult> r = RunProgram(as_nobody ? AsNobody(argv) : argv, std::chrono::minutes(2));
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return "";
    EXPECT_EQ(r->exit_code, 0) << r->output;
    // stdout is the digest line; logs (warn and above only) go to stderr, merged here before it.
    const std::string& s = r->output;
    return s.size() >= 65 ? s.substr(s.size() - 65, 64) : s;
  }

  std::optional<TempDir> dir_;
  fs::path tree_;
};

TEST_F(KbimgTest, Ext4PayloadIsStampedRootOwnedAndReproducible) {
  std::string sha1 = Build({"--version", "2", "--size", "12M"}, dir() / "a.img");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // different wall clock, different ctimes
  ASSERT_TRUE(RunTool({"touch", (tree_ / "hello").string()}).ok());
  std::string sha2 = Build({"--version", "2", "--size", "12M"}, dir() / "b.img");
  EXPECT_EQ(sha1, sha2);
  EXPECT_EQ(sha1, agenttest::FileSha256(dir() / "a.img"));
  EXPECT_NE(sha1, Build({"--version", "3", "--size", "12M"}, dir() / "c.img"));

  fs::path img = dir() / "a.img";
  EXPECT_EQ(fs::file_size(img), uint64_t{12} << 20);
  EXPECT_EQ(*agent::ReadExtLabel(img), "ROOT-A");
  EXPECT_TRUE(RunTool({"e2fsck", "-fn", img.string()}).ok());
  EXPECT_EQ(DebugfsCat(img, "/hello"), "hello from kbimg\n");
  std::string osr = DebugfsCat(img, "/usr/lib/os-release");
  EXPECT_NE(osr.find("PRETTY_NAME=\"KubeOS 2\"\n"), std::string::npos) << osr;
  EXPECT_NE(osr.find("HOME_URL=\"x\""), std::string::npos) << osr;
  StatusOr<std::string> link = RunTool({"debugfs", "-R", "stat /etc/os-release", img.string()});
  ASSERT_TRUE(link.ok());
  EXPECT_NE(link->find("Fast link dest: \"../usr/lib/os-release\""), std::string::npos) << *link;
  // Every inode root-owned although the builder (nobody when the test runs as root) owned the tree.
  StatusOr<std::string> ls = RunTool({"debugfs", "-R", "ls -l /usr/bin", img.string()});
  ASSERT_TRUE(ls.ok());
  EXPECT_EQ(ls->find("65534"), std::string::npos) << *ls;
  StatusOr<std::string> st =
      RunTool({"debugfs", "-R", "stat \"/boot/name with \"\"quotes\"\" and spaces\"", img.string()});
  ASSERT_TRUE(st.ok());
  EXPECT_NE(st->find("User:     0   Group:     0"), std::string::npos) << *st;

  json manifest = json::parse(*ReadFile(dir() / "a.img.manifest.json"));
  EXPECT_EQ(manifest["version"], "2");
  EXPECT_EQ(manifest["format"], "ext4");
  EXPECT_EQ(manifest["sha256"], sha1);
  EXPECT_EQ(manifest["size"], uint64_t{12} << 20);
}

TEST_F(KbimgTest, TarPayloadFromDirectoryAndTarballIsRootOwnedAndReproducible) {
  std::string sha1 = Build({"--version", "2", "--format", "tar"}, dir() / "a.tar");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  std::string sha2 = Build({"--version", "2", "--format", "tar"}, dir() / "b.tar");
  EXPECT_EQ(sha1, sha2);
  StatusOr<std::string> list = RunTool({"tar", "-tvf", (dir() / "a.tar").string()});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->find("65534"), std::string::npos) << *list;
  EXPECT_EQ(list->find("nobody"), std::string::npos) << *list;
  EXPECT_NE(list->find("root/root"), std::string::npos) << *list;
  EXPECT_NE(list->find("usr/lib/os-release"), std::string::npos) << *list;
  EXPECT_NE(list->find("usr/bin/tool2 -> tool"), std::string::npos) << *list;

  // The tarball as input gives the same tarball back.
  StatusOr<RunResult> r =
      RunProgram(AsNobody({KBIMG_BIN, "payload", "--rootfs", (dir() / "a.tar").string(), "--version", "2",
                           "--format", "tar", "--output", (dir() / "c.tar").string()}),
                 std::chrono::minutes(1));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit_code, 0) << r->output;
  EXPECT_EQ(agenttest::FileSha256(dir() / "c.tar"), sha1);
}

TEST_F(KbimgTest, ClearErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  std::string out = (dir() / "x.img").string();
  for (const Case& c : std::initializer_list<Case>{
           {{"--rootfs", (dir() / "missing").string(), "--version", "1", "--output", out}, "does not exist"},
           {{"--rootfs", tree_.string(), "--version", "1", "--output", (dir() / "no/dir/x.img").string()},
            "output directory"},
           {{"--rootfs", tree_.string(), "--version", "1", "--output", dir().string()}, "is a directory"},
           {{"--rootfs", tree_.string(), "--version", "1;reboot", "--output", out}, "not allowed"},
           {{"--rootfs", tree_.string(), "--version", "1", "--size", "3M", "--agent", KBIMG_BIN, "--output",
             out},
            "does not fit"},
           {{"--rootfs", tree_.string(), "--version", "1", "--size", "lots", "--output", out}, "size"},
           {{"--rootfs", tree_.string(), "--version", "1", "--format", "zip", "--output", out}, "format"},
           {{"--rootfs", tree_.string(), "--version", "1", "--agent", (dir() / "none").string(), "--output",
             out},
            "not a readable file"},
       }) {
    std::vector<std::string> args = {"payload"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    StatusOr<RunResult> r = Kbimg(args);
    ASSERT_TRUE(r.ok());
    EXPECT_NE(r->exit_code, 0) << c.want;
    EXPECT_NE(r->output.find(c.want), std::string::npos) << r->output;
  }
  EXPECT_FALSE(fs::exists(out));
  // Nothing left behind in the output directory (staging and temp files are removed on failure).
  for (const auto& e : fs::directory_iterator(dir())) {
    EXPECT_EQ(e.path().filename().string().rfind(".kbimg", 0), std::string::npos) << e.path();
  }
  if (geteuid() == 0) {
    fs::path ro = dir() / "ro";
    fs::create_directory(ro);
    fs::permissions(ro, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read |
                            fs::perms::group_exec | fs::perms::others_exec);
    StatusOr<RunResult> r = RunProgram(AsNobody({KBIMG_BIN, "payload", "--rootfs", tree_.string(),
                                                 "--version", "1", "--output", (ro / "x.img").string()}),
                                       std::chrono::minutes(1));
    ASSERT_TRUE(r.ok());
    EXPECT_NE(r->exit_code, 0);
    EXPECT_NE(r->output.find("not writable"), std::string::npos) << r->output;
  }
}

// The agent installs kbimg's payloads (both formats) into the standby slot of a simulated host, and after the
// trial reboot the host runs the stamped version.
TEST_F(KbimgTest, AgentInstallsBothFormats) {
  for (const char* format : {"ext4", "tar"}) {
    SCOPED_TRACE(format);
    fs::path payload = dir() / (std::string("v2.") + format);
    std::string sha = Build({"--version", "2", "--format", format, "--size", "12M"}, payload);
    StatusOr<SimHost> host = SimHost::Create();
    ASSERT_TRUE(host.ok()) << host.status().ToString();
    ASSERT_TRUE(host->StartAgent().ok());
    StatusOr<json> r = host->Call("prepare_upgrade", json::array({{{"version", "KubeOS 2"},
                                                                   {"check_sum", sha},
                                                                   {"image_type", "disk"},
                                                                   {"image_url", payload.string()},
                                                                   {"flag_safe", false},
                                                                   {"mtls", false}}}));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    fs::path b = host->slot(agent::Slot::kB);
    EXPECT_EQ(*agent::ReadExtLabel(b), "ROOT-B");
    EXPECT_EQ(DebugfsCat(b, "/hello"), "hello from kbimg\n");
    std::string osr = DebugfsCat(b, "/usr/lib/os-release");
    EXPECT_NE(osr.find("PRETTY_NAME=\"KubeOS 2\""), std::string::npos) << osr;
    ASSERT_TRUE(host->Call("upgrade").ok());
    ASSERT_TRUE(host->StopAgent().ok());
    ASSERT_EQ(*host->Reboot(), agent::Slot::kB);
    // The simulated firmware: the booted slot's os-release becomes the host's.
    ASSERT_TRUE(WriteFileAtomic(host->dir() / "os-release", osr).ok());
    ASSERT_TRUE(host->StartAgent().ok());
    json st = host->AgentStatus();
    EXPECT_EQ(st["booted_slot"], "B");
    EXPECT_EQ(st["booted_version"], "KubeOS 2");
    ASSERT_TRUE(host->Call("mark_good").ok());
    EXPECT_EQ(host->EnvList(), "saved_entry=B\n");
  }
}

}  // namespace
}  // namespace kubeos
