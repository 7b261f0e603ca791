// ApplyConfigs over LinuxConfigHost on a temporary root (real files, real atomic writes) with a directory of
// plain files standing in for /proc/sys.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "agent/config/config.h"
#include "agent/config/host_linux.h"
#include "agent/config/test_util.h"
#include "common/file.h"

namespace kubeos::agent::config {
namespace {

namespace fs = std::filesystem;
using testing::Del;
using testing::E;

constexpr std::string_view kGrubCfg =
    "set default=\"${saved_entry}\"\n\n"
    "menuentry 'A' --id KubeOS-A {\n"
    "        linux   /boot/vmlinuz root=/dev/vda2 ro quiet kubeos.slot=A\n"
    "}\n\n"
    "menuentry 'B' --id KubeOS-B {\n"
    "        linux   /boot/vmlinuz root=/dev/vda3 ro quiet kubeos.slot=B\n"
    "}\n";

class ApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<TempDir> dir = TempDir::Create("kubeos-config-test");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_.emplace(std::move(*dir));
    root_ = dir_->path() / "root";
    proc_ = dir_->path() / "proc-sys";
    Write("/etc/sysctl.conf", "# system\nvm.swappiness = 60\n");
    fs::create_directories(root_ / "etc/sysctl.d");
    Write("/boot/efi/EFI/openEuler/grub.cfg", std::string(kGrubCfg));
    Write("/var/lib/kubelet/config.yaml",
          "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n");
    Write("/etc/containerd/config.toml", "version = 2\n");
    Write("/etc/security/limits.conf", "# limits\n");
    WriteProc("net/core/somaxconn", "128\n");
    WriteProc("vm/swappiness", "60\n");
  }

  void Write(const std::string& path, const std::string& data) {
    fs::path p = root_ / fs::path(path).relative_path();
    fs::create_directories(p.parent_path());
    std::ofstream(p) << data;
  }
  void WriteProc(const std::string& rel, const std::string& data) {
    fs::create_directories((proc_ / rel).parent_path());
    std::ofstream(proc_ / rel) << data;
  }
  std::string Read(const std::string& path) {
    return ReadFile(root_ / fs::path(path).relative_path()).value();
  }
  std::string ReadProc(const std::string& rel) { return ReadFile(proc_ / rel).value(); }
  struct stat Stat(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(stat((root_ / fs::path(path).relative_path()).c_str(), &st), 0) << path;
    return st;
  }

  LinuxConfigHost Host(std::optional<Slot> slot = Slot::kA) {
    return LinuxConfigHost({.root = root_, .proc_sys = proc_, .booted_slot = slot});
  }

  // Every regular file under the root and proc, with its content and inode (a rewrite changes the inode).
  std::map<std::string, std::pair<std::string, ino_t>> Snapshot() {
    std::map<std::string, std::pair<std::string, ino_t>> out;
    for (const fs::path& base : {root_, proc_}) {
      for (const auto& e : fs::recursive_directory_iterator(base)) {
        if (!e.is_regular_file()) continue;
        struct stat st {};
        stat(e.path().c_str(), &st);
        out[e.path().string()] = {ReadFile(e.path()).value(), st.st_ino};
      }
    }
    return out;
  }

  // kubeos-original-behaviour.md §1.3 configuration sample, plus kernel.sysctl and grub.cmdline.next.
  static std::vector<SysConfig> SampleRequest() {
    return {
        {"kernel.sysctl", "", {E("net.core.somaxconn", 4096)}},
        {"kernel.sysctl.persist",
         "/etc/sysctl.d/90-app.conf",
         {E("net.core.somaxconn", 4096), Del("kernel.pid_max", 65536)}},
        {"grub.cmdline.current", "", {E("nosmt"), Del("quiet")}},
        {"grub.cmdline.next", "", {E("audit", "1")}},
        {"kubernetes.kubelet", "", {E("evictionHard.\"memory.available\"", "200Mi")}},
        {"container.containerd", "", {E("plugins.\"io.containerd.grpc.v1.cri\".sandbox_image", "pause:3.9")}},
        {"pam.limits", "", {E("*", "soft.nofile.65535")}},
    };
  }

  std::optional<TempDir> dir_;
  fs::path root_;
  fs::path proc_;
};

TEST_F(ApplyTest, AppliesEveryModelAndIsIdempotent) {
  LinuxConfigHost host = Host(Slot::kA);
  ASSERT_TRUE(ApplyConfigs(SampleRequest(), host).ok());
  EXPECT_EQ(ReadProc("net/core/somaxconn"), "4096\n");
  EXPECT_EQ(Read("/etc/sysctl.d/90-app.conf"), "net.core.somaxconn=4096\n");
  EXPECT_EQ(Stat("/etc/sysctl.d/90-app.conf").st_mode & 07777, 0644U);
  std::string grub = Read("/boot/efi/EFI/openEuler/grub.cfg");
  EXPECT_NE(grub.find("        linux /boot/vmlinuz root=/dev/vda2 ro kubeos.slot=A nosmt\n"),
            std::string::npos)
      << grub;
  EXPECT_NE(grub.find("        linux /boot/vmlinuz root=/dev/vda3 ro quiet kubeos.slot=B audit=1\n"),
            std::string::npos)
      << grub;
  EXPECT_EQ(Read("/var/lib/kubelet/config.yaml"),
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nevictionHard:\n  "
            "memory.available: 200Mi\n");
  EXPECT_EQ(Read("/etc/containerd/config.toml"),
            "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = \"pause:3.9\"\n");
  EXPECT_EQ(Read("/etc/security/limits.conf"), "# limits\n* soft nofile 65535\n");

  // The same request again writes nothing: same bytes, same inodes.
  auto before = Snapshot();
  ASSERT_TRUE(ApplyConfigs(SampleRequest(), host).ok());
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ApplyTest, NextIsTheOtherSlot) {
  LinuxConfigHost host = Host(Slot::kB);
  ASSERT_TRUE(
      ApplyConfigs({{"grub.cmdline.current", "", {E("a", "1")}}, {"grub.cmdline.next", "", {E("b")}}}, host)
          .ok());
  std::string grub = Read("/boot/efi/EFI/openEuler/grub.cfg");
  EXPECT_NE(grub.find("root=/dev/vda3 ro quiet kubeos.slot=B a=1\n"), std::string::npos) << grub;
  EXPECT_NE(grub.find("root=/dev/vda2 ro quiet kubeos.slot=A b\n"), std::string::npos) << grub;
}

TEST_F(ApplyTest, BadInputChangesNothing) {
  struct Case {
    std::string name;
    std::vector<SysConfig> request;
    StatusCode code;
    std::string message_part;
  };
  // Each request starts with valid models, so "nothing changed" proves validation ran before any write.
  auto with_valid = [](SysConfig bad) {
    std::vector<SysConfig> r = {{"kernel.sysctl", "", {E("vm.swappiness", 10)}},
                                {"kernel.sysctl.persist", "", {E("a.b", 1)}},
                                {"pam.limits", "", {E("*", "hard.core.0")}}};
    r.push_back(std::move(bad));
    return r;
  };
  const std::vector<Case> cases = {
      {"unknown model", with_valid({"kernel.nope", "", {E("a", 1)}}), StatusCode::kInvalidArgument,
       "kernel.nope"},
      {"sysctl escaping /proc/sys", with_valid({"kernel.sysctl", "", {E("../../etc/passwd", 1)}}),
       StatusCode::kInvalidArgument, "../../etc/passwd"},
      {"unknown kernel parameter", with_valid({"kernel.sysctl", "", {E("net.nope", 1)}}),
       StatusCode::kNotFound, "net.nope"},
      {"newline in a persist value", with_valid({"kernel.sysctl.persist", "", {E("x", "1\ny=2")}}),
       StatusCode::kInvalidArgument, "\"x\""},
      {"configpath outside the allowlist", with_valid({"kernel.sysctl.persist", "/etc/passwd", {E("a", 1)}}),
       StatusCode::kInvalidArgument, "allowlist"},
      {"configpath with ..", with_valid({"container.containerd", "/etc/containerd/../passwd", {E("a", 1)}}),
       StatusCode::kInvalidArgument, "normalised"},
      {"relative configpath", with_valid({"kubernetes.kubelet", "config.yaml", {E("a", 1)}}),
       StatusCode::kInvalidArgument, "absolute"},
      {"hidden file", with_valid({"pam.limits", "/etc/security/limits.d/.x.conf", {E("a", "1.2.3")}}),
       StatusCode::kInvalidArgument, "hidden"},
      {"grub key injection", with_valid({"grub.cmdline.next", "", {E("a", "1;reboot")}}),
       StatusCode::kInvalidArgument, "grub.cmdline.next"},
      {"kubelet malformed key", with_valid({"kubernetes.kubelet", "", {E("a..b", 1)}}),
       StatusCode::kInvalidArgument, "kubernetes.kubelet"},
      {"containerd huge integer",
       with_valid({"container.containerd", "", {E("n", nlohmann::json::parse("18446744073709551615"))}}),
       StatusCode::kInvalidArgument, "int"},
      {"missing directory", with_valid({"kernel.sysctl.persist", "/etc/sysctl.d/sub/x.conf", {E("a", 1)}}),
       StatusCode::kInvalidArgument, "allowlist"},
      {"pam bad line", with_valid({"pam.limits", "/etc/security/limits.d/bad.conf", {E("a", "1.2.3")}}),
       StatusCode::kInvalidArgument, "line 1"},
  };
  Write("/etc/security/limits.d/bad.conf", "only three fields\n");
  LinuxConfigHost host = Host();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto before = Snapshot();
    Status s = ApplyConfigs(c.request, host);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), c.code) << s.ToString();
    EXPECT_NE(s.message().find(c.message_part), std::string::npos) << s.ToString();
    EXPECT_EQ(Snapshot(), before);
  }
}

TEST_F(ApplyTest, HostPreconditions) {
  LinuxConfigHost unknown_slot = Host(std::nullopt);
  EXPECT_EQ(ApplyConfigs({{"grub.cmdline.current", "", {E("a")}}}, unknown_slot).code(),
            StatusCode::kFailedPrecondition);
  fs::remove(root_ / "boot/efi/EFI/openEuler/grub.cfg");
  EXPECT_EQ(ApplyConfigs({{"grub.cmdline.next", "", {E("a")}}}, Host()).code(),
            StatusCode::kFailedPrecondition);
  // A new file needs its directory.
  fs::remove_all(root_ / "etc/containerd");
  Status s = ApplyConfigs({{"container.containerd", "", {E("a", 1)}}}, Host());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_FALSE(fs::exists(root_ / "etc/containerd"));
}

TEST_F(ApplyTest, RefusesSymbolicLinks) {
  Write("/etc/shadow", "secret\n");
  fs::create_symlink(root_ / "etc/shadow", root_ / "etc/sysctl.d/99-link.conf");
  LinuxConfigHost host = Host();
  Status s = ApplyConfigs({{"kernel.sysctl.persist", "/etc/sysctl.d/99-link.conf", {E("a", 1)}}}, host);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(Read("/etc/shadow"), "secret\n");

  // A symbolic link on the way (the allowlisted directory itself) is refused too.
  fs::create_directories(root_ / "elsewhere");
  fs::remove_all(root_ / "etc/containerd");
  fs::create_directory_symlink(root_ / "elsewhere", root_ / "etc/containerd");
  s = ApplyConfigs({{"container.containerd", "", {E("a", 1)}}}, host);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_TRUE(fs::is_empty(root_ / "elsewhere"));
}

TEST_F(ApplyTest, KeepsModeAndOwnership) {
  const fs::path limits = root_ / "etc/security/limits.conf";
  ASSERT_EQ(chmod(limits.c_str(), 0600), 0);
  const bool root = geteuid() == 0;
  if (root) {
    ASSERT_EQ(chown(limits.c_str(), 1234, 5678), 0);
  }
  ASSERT_TRUE(ApplyConfigs({{"pam.limits", "", {E("*", "soft.nofile.1024")}}}, Host()).ok());
  struct stat st = Stat("/etc/security/limits.conf");
  EXPECT_EQ(st.st_mode & 07777, 0600U);
  if (root) {
    EXPECT_EQ(st.st_uid, 1234U);
    EXPECT_EQ(st.st_gid, 5678U);
  }
  EXPECT_EQ(Read("/etc/security/limits.conf"), "# limits\n* soft nofile 1024\n");
}

// Fails the Nth write (files and kernel parameters counted together) and, optionally, every write after it:
// a fault a real file system does not produce on demand for an unprivileged test.
class FaultyHost : public ConfigHost {
 public:
  FaultyHost(const ConfigHost& real, int fail_at, bool fail_restores)
      : real_(real), fail_at_(fail_at), fail_restores_(fail_restores) {}
  StatusOr<std::optional<std::string>> ReadFile(const std::string& p) const override {
    return real_.ReadFile(p);
  }
  StatusOr<bool> IsDirectory(const std::string& p) const override { return real_.IsDirectory(p); }
  Status WriteFile(const std::string& p, std::string_view d, mode_t m) const override {
    if (Status s = Count(); !s.ok()) return s;
    return real_.WriteFile(p, d, m);
  }
  Status RemoveFile(const std::string& p) const override {
    if (Status s = Count(); !s.ok()) return s;
    return real_.RemoveFile(p);
  }
  StatusOr<std::string> ReadSysctl(const std::string& p) const override { return real_.ReadSysctl(p); }
  Status WriteSysctl(const std::string& p, std::string_view v) const override {
    if (Status s = Count(); !s.ok()) return s;
    return real_.WriteSysctl(p, v);
  }
  StatusOr<Slot> BootedSlot() const override { return real_.BootedSlot(); }

 private:
  Status Count() const {
    ++writes_;
    if (writes_ == fail_at_ || (fail_restores_ && writes_ > fail_at_)) {
      return UnavailableError("injected write failure");
    }
    return Status::Ok();
  }
  const ConfigHost& real_;
  const int fail_at_;
  const bool fail_restores_;
  mutable int writes_ = 0;
};

TEST_F(ApplyTest, WriteFailureRestoresEverything) {
  LinuxConfigHost real = Host();
  // The sample writes 5 files (grub.cfg once for both grub models) and 1 kernel parameter.
  for (int fail_at = 1; fail_at <= 6; ++fail_at) {
    SCOPED_TRACE(fail_at);
    auto before = Snapshot();
    FaultyHost host(real, fail_at, false);
    Status s = ApplyConfigs(SampleRequest(), host);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    EXPECT_NE(s.message().find("undone"), std::string::npos) << s.ToString();
    auto after = Snapshot();
    ASSERT_EQ(after.size(), before.size());  // the created 90-app.conf is gone again
    for (const auto& [path, content] : before) EXPECT_EQ(after[path].first, content.first) << path;
  }
}

TEST_F(ApplyTest, FailedRestoreIsDataLoss) {
  LinuxConfigHost real = Host();
  FaultyHost host(real, 3, true);
  Status s = ApplyConfigs(SampleRequest(), host);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find("RESTORE FAILED"), std::string::npos);
}

// Issue 5: a write-only kernel parameter (vm.drop_caches is mode 0200) cannot be read first; it is written
// anyway (no restore for it), instead of failing the request.
class WriteOnlySysctlHost : public ConfigHost {
 public:
  WriteOnlySysctlHost(const ConfigHost& real, std::string write_only, bool fail_after)
      : real_(real), write_only_(std::move(write_only)), fail_after_(fail_after) {}
  StatusOr<std::optional<std::string>> ReadFile(const std::string& p) const override {
    return real_.ReadFile(p);
  }
  StatusOr<bool> IsDirectory(const std::string& p) const override { return real_.IsDirectory(p); }
  Status WriteFile(const std::string& p, std::string_view d, mode_t m) const override {
    return real_.WriteFile(p, d, m);
  }
  Status RemoveFile(const std::string& p) const override { return real_.RemoveFile(p); }
  StatusOr<std::string> ReadSysctl(const std::string& p) const override {
    if (p == write_only_) return ErrnoError(EACCES, "open /proc/sys/" + p);
    return real_.ReadSysctl(p);
  }
  Status WriteSysctl(const std::string& p, std::string_view v) const override {
    writes_.emplace_back(p, v);
    if (fail_after_ && v == "20") return UnavailableError("injected write failure");
    return real_.WriteSysctl(p, v);
  }
  StatusOr<Slot> BootedSlot() const override { return real_.BootedSlot(); }
  mutable std::vector<std::pair<std::string, std::string>> writes_;

 private:
  const ConfigHost& real_;
  std::string write_only_;
  bool fail_after_;
};

TEST_F(ApplyTest, WriteOnlySysctlIsWrittenWithoutRestore) {
  WriteProc("vm/drop_caches", "");
  LinuxConfigHost real = Host();
  WriteOnlySysctlHost host(real, "vm/drop_caches", false);
  Status s = ApplyConfigs({{"kernel.sysctl", "", {E("vm.drop_caches", 3), E("vm.swappiness", 10)}}}, host);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadProc("vm/drop_caches"), "3\n");
  EXPECT_EQ(ReadProc("vm/swappiness"), "10\n");
  // A later failure restores what can be restored and does not try to "restore" the write-only one.
  WriteOnlySysctlHost failing(real, "vm/drop_caches", true);
  s = ApplyConfigs({{"kernel.sysctl", "", {E("vm.drop_caches", 1), E("vm.swappiness", 20)}}}, failing);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("undone"), std::string::npos) << s.ToString();
  int drop_writes = 0;
  for (const auto& [p, v] : failing.writes_) drop_writes += p == "vm/drop_caches" ? 1 : 0;
  EXPECT_EQ(drop_writes, 1);
}

TEST(TargetPath, DefaultsAndAllowlists) {
  EXPECT_EQ(*TargetPath({"kernel.sysctl.persist", "", {}}), "/etc/sysctl.conf");
  EXPECT_EQ(*TargetPath({"kubernetes.kubelet", "", {}}), "/var/lib/kubelet/config.yaml");
  EXPECT_EQ(*TargetPath({"container.containerd", "", {}}), "/etc/containerd/config.toml");
  EXPECT_EQ(*TargetPath({"pam.limits", "", {}}), "/etc/security/limits.conf");
  EXPECT_EQ(*TargetPath({"grub.cmdline.next", "", {}}), "/boot/efi/EFI/openEuler/grub.cfg");
  EXPECT_EQ(*TargetPath({"grub.cmdline.next", "", {}}, {.grub_cfg = "/boot/efi/EFI/BOOT/grub.cfg"}),
            "/boot/efi/EFI/BOOT/grub.cfg");
  EXPECT_EQ(*TargetPath({"kernel.sysctl", "/ignored", {}}), "");
  EXPECT_EQ(*TargetPath({"kernel.sysctl.persist", "/etc/sysctl.d/90-app.conf", {}}),
            "/etc/sysctl.d/90-app.conf");
  EXPECT_EQ(*TargetPath({"pam.limits", "/etc/security/limits.d/20-nproc.conf", {}}),
            "/etc/security/limits.d/20-nproc.conf");
  EXPECT_EQ(*TargetPath({"kubernetes.kubelet", "/etc/kubernetes/kubelet.conf.d/10.conf", {}}),
            "/etc/kubernetes/kubelet.conf.d/10.conf");
  for (const SysConfig& c : std::vector<SysConfig>{
           {"kernel.sysctl.persist", "/etc/passwd", {}},
           {"kernel.sysctl.persist", "/etc/sysctl.d/a/b.conf", {}},
           {"kernel.sysctl.persist", "/etc/sysctl.d/", {}},
           {"kernel.sysctl.persist", "/etc/sysctl.d//x", {}},
           {"kernel.sysctl.persist", "/etc/sysctl.d/./x", {}},
           {"kubernetes.kubelet", "/var/lib/kubelet/pods/x.yaml", {}},
           {"container.containerd", "/etc/containerd", {}},
           {"grub.cmdline.current", "/etc/grub.cfg", {}},
           {"pam.limits", "/etc/security/access.conf", {}},
           {"nope", "", {}},
       }) {
    EXPECT_FALSE(TargetPath(c).ok()) << c.model << " " << c.configpath;
  }
}

}  // namespace
}  // namespace kubeos::agent::config
