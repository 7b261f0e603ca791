#include "image/disk.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <system_error>
#include <vector>

#include "common/file.h"
#include "common/log.h"
#include "common/process.h"
#include "image/gpt.h"
#include "image/grub_fragment.h"
#include "image/spec.h"

namespace kubeos::image {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr std::chrono::minutes kToolTimeout{30};
constexpr size_t kCopyChunk = size_t{1} << 20;
// grub-mkimage modules: what grub-kubeos.cfg uses, plus the ones the prototype proved (gzio, sleep, ...).
constexpr std::array<std::string_view, 16> kGrubModules = {
    "part_gpt", "fat",          "ext2",           "normal",         "configfile", "linux",
    "search",   "search_label", "search_fs_uuid", "search_fs_file", "loadenv",    "echo",
    "test",     "sleep",        "halt",           "reboot"};
// Where the original keeps grub.cfg and grubenv on the ESP (and what os-agent's boot_env defaults to).
constexpr std::string_view kGrubDir = "EFI/openEuler";

uint64_t RoundUpMiB(uint64_t v) { return (v + kMiB - 1) / kMiB * kMiB; }

Status Run(const std::vector<std::string>& argv, const std::string& what) {
  KUBEOS_ASSIGN_OR_RETURN(RunResult r, RunProgram(argv, kToolTimeout));
  if (r.exit_code != 0) {
    return InternalError(fmt::format("{}: {} exited {}: {}", what, argv.front(), r.exit_code, r.output));
  }
  return Status::Ok();
}

Status NeedTool(std::string_view name, std::string_view package) {
  if (FindInPath(name).empty()) {
    return FailedPreconditionError(fmt::format("{} not found in PATH (Debian package {})", name, package));
  }
  return Status::Ok();
}

// Copies `src` into `fd` at `offset`, skipping all-zero chunks so the disk stays sparse.
Status SpliceSparse(const fs::path& src, int fd, uint64_t offset, uint64_t limit) {
  int in = open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return ErrnoError(errno, "open " + src.string());
  std::vector<char> buf(kCopyChunk);
  uint64_t done = 0;
  Status result;
  for (;;) {
    ssize_t n = read(in, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      result = ErrnoError(errno, "read " + src.string());
      break;
    }
    if (n == 0) break;
    if (done + static_cast<uint64_t>(n) > limit) {
      result = InternalError(fmt::format("{} is larger than its partition ({} bytes)", src.string(), limit));
      break;
    }
    bool zero = std::all_of(buf.begin(), buf.begin() + n, [](char c) { return c == 0; });
    if (!zero) {
      size_t off = 0;
      while (off < static_cast<size_t>(n)) {
        ssize_t w = pwrite(fd, buf.data() + off, static_cast<size_t>(n) - off,
                           static_cast<off_t>(offset + done + off));
        if (w < 0) {
          if (errno == EINTR) continue;
          close(in);
          return ErrnoError(errno, "write disk image");
        }
        off += static_cast<size_t>(w);
      }
    }
    done += static_cast<uint64_t>(n);
  }
  close(in);
  return result;
}

Status SetTimes(const fs::path& p, int64_t epoch) {
  timespec times[2] = {{.tv_sec = epoch, .tv_nsec = 0}, {.tv_sec = epoch, .tv_nsec = 0}};
  if (utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
    return ErrnoError(errno, "utimes " + p.string());
  return Status::Ok();
}

// The persist partition's tree: the original's directories plus extras, root-owned, 0755, at the epoch.
StatusOr<fs::path> PersistTree(const fs::path& work, const DiskOptions& o) {
  fs::path t = work / "persist";
  std::vector<std::string> dirs = {"etc",        "etcwork",         "var", "opt", "optwork",
                                   "etc/KubeOS", "etc/KubeOS/certs"};
  for (const std::string& d : o.persist_dirs) {
    if (d.empty() || d.front() == '/' || d.find("..") != std::string::npos) {
      return InvalidArgumentError(fmt::format("--persist-dir {:?}: expected a relative path without ..", d));
    }
    dirs.push_back(d);
  }
  std::error_code ec;
  fs::create_directories(t, ec);
  for (const std::string& d : dirs) {
    fs::create_directories(t / d, ec);
    if (ec) return InternalError(fmt::format("create {}: {}", (t / d).string(), ec.message()));
  }
  for (fs::recursive_directory_iterator it(t), end; it != end; ++it) {
    fs::permissions(it->path(),
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec,
                    ec);
    KUBEOS_RETURN_IF_ERROR(SetTimes(it->path(), o.rootfs.epoch));
  }
  KUBEOS_RETURN_IF_ERROR(SetTimes(t, o.rootfs.epoch));
  return t;
}

// The ESP as a FAT image: GRUB EFI (removable-media path and the original's openEuler dir), grub.cfg,
// grubenv.
Status MakeEsp(const fs::path& work, const DiskOptions& o, const fs::path& out) {
  std::string fragment(kGrubFragment);
  if (!o.grub_cfg.empty()) {
    KUBEOS_ASSIGN_OR_RETURN(fragment, ReadFile(o.grub_cfg));
  }
  fs::path cfg = work / "grub.cfg";
  KUBEOS_RETURN_IF_ERROR(
      WriteFileAtomic(cfg, GrubConfig(fragment, o.kernel_args, o.grub_timeout), {.mode = 0644}));
  fs::path env = work / "grubenv";
  KUBEOS_RETURN_IF_ERROR(Run({"grub-editenv", env.string(), "create"}, "create grubenv"));
  KUBEOS_RETURN_IF_ERROR(Run({"grub-editenv", env.string(), "set", "saved_entry=A"}, "write grubenv"));
  fs::path efi = work / "BOOTX64.EFI";
  std::vector<std::string> mk = {
      "grub-mkimage", "-O", "x86_64-efi", "-p", fmt::format("(,gpt1)/{}", kGrubDir), "-o", efi.string()};
  for (std::string_view m : kGrubModules) mk.emplace_back(m);
  KUBEOS_RETURN_IF_ERROR(Run(mk, "build GRUB EFI image"));
  for (const fs::path& p : {cfg, env, efi}) KUBEOS_RETURN_IF_ERROR(SetTimes(p, o.rootfs.epoch));

  std::error_code ec;
  fs::remove(out, ec);
  // FAT volume id derived from the version (mkfs.fat --invariant fixes the rest).
  std::string volid = DerivedUuid("kbimg esp " + o.rootfs.version).substr(0, 8);
  std::string epoch_env = fmt::format("SOURCE_DATE_EPOCH={}", o.rootfs.epoch);
  KUBEOS_RETURN_IF_ERROR(Run({"env", epoch_env, "mkfs.vfat", "--invariant", "-C", "-n", "BOOT", "-i", volid,
                              out.string(), std::to_string(o.boot_size / 1024)},
                             "format ESP"));
  std::vector<std::string> mtools_env = {"env", epoch_env, "MTOOLS_SKIP_CHECK=1"};
  auto mtool = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = mtools_env;
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(argv, "populate ESP");
  };
  std::string img = out.string();
  KUBEOS_RETURN_IF_ERROR(mtool({"mmd", "-i", img, "::/EFI", "::/EFI/BOOT", fmt::format("::/{}", kGrubDir)}));
  KUBEOS_RETURN_IF_ERROR(mtool({"mcopy", "-m", "-i", img, efi.string(), "::/EFI/BOOT/BOOTX64.EFI"}));
  KUBEOS_RETURN_IF_ERROR(
      mtool({"mcopy", "-m", "-i", img, efi.string(), fmt::format("::/{}/grubx64.efi", kGrubDir)}));
  KUBEOS_RETURN_IF_ERROR(
      mtool({"mcopy", "-m", "-i", img, cfg.string(), fmt::format("::/{}/grub.cfg", kGrubDir)}));
  KUBEOS_RETURN_IF_ERROR(
      mtool({"mcopy", "-m", "-i", img, env.string(), fmt::format("::/{}/grubenv", kGrubDir)}));
  return Status::Ok();
}

class WorkDir {
 public:
  explicit WorkDir(fs::path p) : path_(std::move(p)) {}
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  ~WorkDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

StatusOr<DiskResult> BuildDisk(const DiskOptions& o) {
  KUBEOS_RETURN_IF_ERROR(ValidateVersion(o.rootfs.version));
  if (o.rootfs.output.empty()) return InvalidArgumentError("--output is required");
  fs::path out_dir = fs::absolute(o.rootfs.output).parent_path();
  std::error_code ec;
  if (!fs::is_directory(out_dir, ec)) {
    return NotFoundError(fmt::format("output directory {} does not exist", out_dir.string()));
  }
  if (access(out_dir.c_str(), W_OK) != 0) {
    return ErrnoError(errno, fmt::format("output directory {} is not writable", out_dir.string()));
  }
  if (o.boot_size < 32 * kMiB) return InvalidArgumentError("--boot-size must be at least 32M");
  if (o.root_size < 8 * kMiB) return InvalidArgumentError("--root-size must be at least 8M");
  if (o.persist_size < 8 * kMiB) return InvalidArgumentError("--persist-size must be at least 8M");
  for (auto [tool, pkg] : {std::pair{"grub-mkimage", "grub-common"}, std::pair{"mkfs.vfat", "dosfstools"},
                           std::pair{"mcopy", "mtools"}, std::pair{"grub-editenv", "grub-common"}}) {
    KUBEOS_RETURN_IF_ERROR(NeedTool(tool, pkg));
  }
  if (!fs::exists("/usr/lib/grub/x86_64-efi/linux.mod")) {
    return FailedPreconditionError("GRUB x86_64-efi modules not found (Debian package grub-efi-amd64-bin)");
  }
  if (o.qcow2) KUBEOS_RETURN_IF_ERROR(NeedTool("qemu-img", "qemu-utils"));
  const uint64_t boot = RoundUpMiB(o.boot_size), root = RoundUpMiB(o.root_size),
                 persist = RoundUpMiB(o.persist_size);

  KUBEOS_ASSIGN_OR_RETURN(StagedTree tree, StagedTree::Create(o.rootfs, out_dir));
  for (const char* f : {"boot/vmlinuz", "boot/initramfs.img"}) {
    fs::path p = tree.root() / f;
    if (!fs::is_regular_file(p, ec)) {
      return InvalidArgumentError(fmt::format(
          "rootfs {} has no /{}: a KubeOS slot carries its own kernel (/boot/vmlinuz) and initramfs "
          "(/boot/initramfs.img)",
          o.rootfs.rootfs.string(), f));
    }
  }
  std::string templ = (out_dir / ".kbimg-disk-XXXXXX").string();
  if (mkdtemp(templ.data()) == nullptr)
    return ErrnoError(errno, "create work directory in " + out_dir.string());
  WorkDir work{fs::path(templ)};
  const fs::path& w = work.path();

  const std::string& v = o.rootfs.version;
  if (tree.data_bytes() > root) {
    return Status(
        StatusCode::kResourceExhausted,
        fmt::format("the root filesystem does not fit: it needs at least {} bytes; --root-size is {}",
                    tree.data_bytes(), root));
  }
  KUBEOS_RETURN_IF_ERROR(MakeExt4(tree.root(), w / "rootA.img",
                                  {.label = "ROOT-A",
                                   .size = root,
                                   .uuid = DerivedUuid("kbimg fs ROOT-A " + v),
                                   .epoch = o.rootfs.epoch}));
  KUBEOS_RETURN_IF_ERROR(MakeExt4({}, w / "rootB.img",
                                  {.label = "ROOT-B",
                                   .size = root,
                                   .uuid = DerivedUuid("kbimg fs ROOT-B " + v),
                                   .epoch = o.rootfs.epoch}));
  KUBEOS_ASSIGN_OR_RETURN(fs::path ptree, PersistTree(w, o));
  KUBEOS_RETURN_IF_ERROR(MakeExt4(ptree, w / "persist.img",
                                  {.label = "PERSIST",
                                   .size = persist,
                                   .uuid = DerivedUuid("kbimg fs PERSIST " + v),
                                   .epoch = o.rootfs.epoch}));
  KUBEOS_RETURN_IF_ERROR(MakeEsp(w, o, w / "esp.img"));

  // 1 MiB before the first partition (GPT + alignment) and 1 MiB after the last (backup GPT).
  struct Part {
    const char* name;
    std::string_view type;
    uint64_t bytes;
    fs::path image;
  };
  std::vector<Part> parts = {{"BOOT", kEspTypeGuid, boot, w / "esp.img"},
                             {"ROOT-A", kLinuxRootX86_64TypeGuid, root, w / "rootA.img"},
                             {"ROOT-B", kLinuxRootX86_64TypeGuid, root, w / "rootB.img"},
                             {"PERSIST", kLinuxDataTypeGuid, persist, w / "persist.img"}};
  std::vector<GptPartition> gpt;
  std::vector<uint64_t> offsets;
  uint64_t at = kMiB;
  for (const Part& p : parts) {
    gpt.push_back({.first_lba = at / kSectorBytes,
                   .sectors = p.bytes / kSectorBytes,
                   .type_guid = std::string(p.type),
                   .unique_guid = DerivedUuid(fmt::format("kbimg partition {} {}", p.name, v)),
                   .name = p.name});
    offsets.push_back(at);
    at += p.bytes;
  }
  const uint64_t total = at + kMiB;
  KUBEOS_ASSIGN_OR_RETURN(std::vector<GptBlob> blobs,
                          BuildGpt(total / kSectorBytes, DerivedUuid("kbimg disk " + v), gpt));

  fs::path tmp = w / "disk.raw";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, "create " + tmp.string());
  Status s;
  if (ftruncate(fd, static_cast<off_t>(total)) != 0) s = ErrnoError(errno, "size disk image");
  for (const GptBlob& b : blobs) {
    if (!s.ok()) break;
    if (pwrite(fd, b.bytes.data(), b.bytes.size(), static_cast<off_t>(b.offset)) !=
        static_cast<ssize_t>(b.bytes.size())) {
      s = ErrnoError(errno, "write partition table");
    }
  }
  for (size_t i = 0; i < parts.size() && s.ok(); ++i) {
    s = SpliceSparse(parts[i].image, fd, offsets[i], parts[i].bytes).WithContext(parts[i].name);
  }
  if (s.ok() && fsync(fd) != 0) s = ErrnoError(errno, "fsync disk image");
  close(fd);
  KUBEOS_RETURN_IF_ERROR(s);

  DiskResult res;
  KUBEOS_ASSIGN_OR_RETURN(res.sha256, FileSha256(tmp));
  res.raw = o.rootfs.output;
  fs::rename(tmp, res.raw, ec);
  if (ec) return InternalError(fmt::format("rename to {}: {}", res.raw.string(), ec.message()));
  KUBEOS_RETURN_IF_ERROR(SyncDirectory(out_dir));
  if (o.qcow2) {
    res.qcow2 = res.raw;
    res.qcow2.replace_extension(".qcow2");
    if (res.qcow2 == res.raw) res.qcow2 += ".qcow2";
    fs::path qtmp = w / "disk.qcow2";
    KUBEOS_RETURN_IF_ERROR(
        Run({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", res.raw.string(), qtmp.string()},
            "convert to qcow2"));
    fs::rename(qtmp, res.qcow2, ec);
    if (ec) return InternalError(fmt::format("rename to {}: {}", res.qcow2.string(), ec.message()));
  }
  log::Info("disk built", {{"output", res.raw.string()}, {"bytes", total}, {"sha256", res.sha256}});
  return res;
}

}  // namespace kubeos::image
