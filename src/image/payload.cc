#include "image/payload.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>
#include <vector>

#include "common/file.h"
#include "common/log.h"
#include "common/process.h"
#include "image/spec.h"

namespace kubeos::image {
namespace {

namespace fs = std::filesystem;

constexpr std::chrono::minutes kToolTimeout{30};
constexpr size_t kCopyChunk = size_t{1} << 20;
constexpr uint64_t kBlock = 4096;
constexpr std::string_view kUnitPath = "usr/lib/systemd/system/os-agent.service";

struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

// A directory next to `near` (same filesystem as the output), removed on destruction unless released.
StatusOr<fs::path> MakeTempDirIn(const fs::path& dir, std::string_view prefix) {
  std::string templ = (dir / fmt::format(".{}-XXXXXX", prefix)).string();
  if (mkdtemp(templ.data()) == nullptr) return ErrnoError(errno, "create work directory in " + dir.string());
  return fs::path(templ);
}

Status SyncFile(const fs::path& p) {
  int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open " + p.string());
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoError(err, "fsync " + p.string());
  return Status::Ok();
}

Status CheckOutput(const fs::path& output) {
  if (output.empty()) return InvalidArgumentError("--output is required");
  fs::path parent = fs::absolute(output).parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    return NotFoundError(fmt::format("output directory {} does not exist", parent.string()));
  }
  if (fs::is_directory(output, ec)) {
    return InvalidArgumentError(fmt::format("output {} is a directory", output.string()));
  }
  if (access(parent.c_str(), W_OK) != 0) {
    return ErrnoError(errno, fmt::format("output directory {} is not writable", parent.string()));
  }
  return Status::Ok();
}

Status RunChecked(const std::vector<std::string>& argv, const std::string& what) {
  KUBEOS_ASSIGN_OR_RETURN(RunResult r, RunProgram(argv, kToolTimeout));
  if (r.exit_code != 0) {
    return InternalError(fmt::format("{}: {} exited {}: {}", what, argv.front(), r.exit_code, r.output));
  }
  return Status::Ok();
}

// A tarball member name that stays inside the tree: relative, without ".." components.
bool SafeMemberName(std::string_view name) {
  if (name.empty() || name.front() == '/') return false;
  for (const fs::path& part : fs::path(name)) {
    if (part == "..") return false;
  }
  return true;
}

// libarchive extraction that refuses "..", absolute names and writes through symlinks. `dest` must be
// canonical (libarchive checks every component of the final path for symlinks).
Status ExtractTarball(const fs::path& tarball, const fs::path& dest) {
  std::unique_ptr<archive, ArchiveReadDeleter> in(archive_read_new());
  archive_read_support_filter_all(in.get());
  archive_read_support_format_all(in.get());
  if (archive_read_open_filename(in.get(), tarball.c_str(), kCopyChunk) != ARCHIVE_OK) {
    return InvalidArgumentError(
        fmt::format("read rootfs tarball {}: {}", tarball.string(), archive_error_string(in.get())));
  }
  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
              ARCHIVE_EXTRACT_SECURE_SYMLINKS;
  std::unique_ptr<archive, ArchiveWriteDeleter> out(archive_write_disk_new());
  archive_write_disk_set_options(out.get(), flags);
  int entries = 0;
  for (;;) {
    archive_entry* e = nullptr;
    int rc = archive_read_next_header(in.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return InvalidArgumentError(
          fmt::format("read rootfs tarball {}: {}", tarball.string(), archive_error_string(in.get())));
    }
    ++entries;
    std::string name = archive_entry_pathname(e);
    const char* hl = archive_entry_hardlink(e);
    if (!SafeMemberName(name) || (hl != nullptr && !SafeMemberName(hl))) {
      return InvalidArgumentError(fmt::format(
          "rootfs tarball {}: entry {:?} leaves the tree (absolute or ..)", tarball.string(), name));
    }
    archive_entry_set_pathname(e, (dest / name).c_str());
    if (hl != nullptr) archive_entry_set_hardlink(e, (dest / hl).c_str());
    if (archive_write_header(out.get(), e) != ARCHIVE_OK) {
      return InvalidArgumentError(fmt::format("rootfs tarball {}: entry {:?}: {}", tarball.string(), name,
                                              archive_error_string(out.get())));
    }
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    while ((rc = archive_read_data_block(in.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
      if (archive_write_data_block(out.get(), buf, size, offset) != ARCHIVE_OK) {
        return InternalError(fmt::format("extract {:?}: {}", name, archive_error_string(out.get())));
      }
    }
    if (rc != ARCHIVE_EOF) {
      return InvalidArgumentError(fmt::format("rootfs tarball {}: entry {:?}: {}", tarball.string(), name,
                                              archive_error_string(in.get())));
    }
    if (archive_write_finish_entry(out.get()) != ARCHIVE_OK) {
      return InternalError(fmt::format("extract {:?}: {}", name, archive_error_string(out.get())));
    }
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) {
    return InternalError(fmt::format("extract {}: {}", tarball.string(), archive_error_string(out.get())));
  }
  if (entries == 0) return InvalidArgumentError(fmt::format("rootfs tarball {} is empty", tarball.string()));
  return Status::Ok();
}

Status InstallFile(const fs::path& src, const fs::path& dst, fs::perms mode) {
  std::error_code ec;
  if (!fs::is_regular_file(src, ec))
    return NotFoundError(fmt::format("{} is not a readable file", src.string()));
  fs::create_directories(dst.parent_path(), ec);
  if (ec) return InternalError(fmt::format("create {}: {}", dst.parent_path().string(), ec.message()));
  fs::remove(dst, ec);
  if (!fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec) || ec) {
    return InternalError(fmt::format("copy {} to {}: {}", src.string(), dst.string(), ec.message()));
  }
  fs::permissions(dst, mode, ec);
  if (ec) return InternalError(fmt::format("chmod {}: {}", dst.string(), ec.message()));
  return Status::Ok();
}

Status Stamp(const PayloadOptions& o, const fs::path& root) {
  std::error_code ec;
  fs::path usr_rel = root / "usr/lib/os-release";
  fs::path etc_rel = root / "etc/os-release";
  std::string existing;
  for (const fs::path& p : {usr_rel, etc_rel}) {
    // Only files inside the tree: a symlink's target may point at the builder's own /etc.
    if (fs::is_symlink(p, ec) || !fs::is_regular_file(p, ec)) continue;
    if (StatusOr<std::string> text = ReadFile(p); text.ok()) {
      existing = *text;
      break;
    }
  }
  fs::create_directories(usr_rel.parent_path(), ec);
  fs::create_directories(etc_rel.parent_path(), ec);
  fs::remove(usr_rel, ec);
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(usr_rel, StampOsRelease(existing, o.version), {.mode = 0644}));
  fs::remove(etc_rel, ec);
  fs::create_symlink("../usr/lib/os-release", etc_rel, ec);
  if (ec) return InternalError(fmt::format("symlink {}: {}", etc_rel.string(), ec.message()));

  constexpr auto kExec = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                         fs::perms::others_read | fs::perms::others_exec;
  constexpr auto kData =
      fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read;
  if (!o.agent.empty()) KUBEOS_RETURN_IF_ERROR(InstallFile(o.agent, root / "usr/bin/os-agent", kExec));
  if (!o.agent_config.empty()) {
    KUBEOS_RETURN_IF_ERROR(InstallFile(o.agent_config, root / "etc/KubeOS/os-agent.json", kData));
  }
  if (!o.agent_unit.empty()) {
    KUBEOS_RETURN_IF_ERROR(InstallFile(o.agent_unit, root / kUnitPath, kData));
    fs::path wants = root / "etc/systemd/system/multi-user.target.wants/os-agent.service";
    fs::create_directories(wants.parent_path(), ec);
    fs::remove(wants, ec);
    fs::create_symlink(fs::path("/") / kUnitPath, wants, ec);
    if (ec) return InternalError(fmt::format("enable os-agent.service: {}", ec.message()));
  }
  return Status::Ok();
}

// Root ownership (when we can), the build epoch on every entry, and the size counters.
Status Normalize(const fs::path& root, int64_t epoch, uint64_t* data_bytes, uint64_t* entries) {
  bool is_root = geteuid() == 0;
  timespec times[2] = {{.tv_sec = epoch, .tv_nsec = 0}, {.tv_sec = epoch, .tv_nsec = 0}};
  std::vector<fs::path> paths = {root};
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end; it != end;
       it.increment(ec)) {
    if (ec) break;
    paths.push_back(it->path());
  }
  if (ec) return InternalError(fmt::format("walk {}: {}", root.string(), ec.message()));
  for (const fs::path& p : paths) {
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0) return ErrnoError(errno, "stat " + p.string());
    if (is_root && lchown(p.c_str(), 0, 0) != 0) return ErrnoError(errno, "chown " + p.string());
    if (S_ISREG(st.st_mode))
      *data_bytes += (static_cast<uint64_t>(st.st_size) + kBlock - 1) / kBlock * kBlock;
    if (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) *data_bytes += kBlock;
    ++*entries;
  }
  // Times last, children before parents is not needed: setting a file's times does not touch its directory.
  for (const fs::path& p : paths) {
    if (utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError(errno, "set times of " + p.string());
    }
  }
  return Status::Ok();
}

// All entries under root (relative paths, sorted bytewise so the order never depends on the filesystem).
StatusOr<std::vector<std::string>> SortedEntries(const fs::path& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end; it != end;
       it.increment(ec)) {
    if (ec) break;
    out.push_back(it->path().lexically_relative(root).string());
  }
  if (ec) return InternalError(fmt::format("walk {}: {}", root.string(), ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

Status WriteTar(const fs::path& root, int64_t epoch, const fs::path& out_path) {
  KUBEOS_ASSIGN_OR_RETURN(std::vector<std::string> names, SortedEntries(root));
  std::unique_ptr<archive, ArchiveWriteDeleter> out(archive_write_new());
  archive_write_set_format_pax_restricted(out.get());
  if (archive_write_open_filename(out.get(), out_path.c_str()) != ARCHIVE_OK) {
    return InternalError(fmt::format("create {}: {}", out_path.string(), archive_error_string(out.get())));
  }
  std::map<std::pair<dev_t, ino_t>, std::string> links;
  std::vector<char> buf(kCopyChunk);
  for (const std::string& name : names) {
    fs::path p = root / name;
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0) return ErrnoError(errno, "stat " + p.string());
    if (S_ISSOCK(st.st_mode)) continue;  // sockets cannot be archived; they are runtime objects
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_copy_stat(e.get(), &st);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_uname(e.get(), "root");
    archive_entry_set_gname(e.get(), "root");
    archive_entry_set_mtime(e.get(), epoch, 0);
    archive_entry_unset_atime(e.get());
    archive_entry_unset_ctime(e.get());
    archive_entry_unset_birthtime(e.get());
    archive_entry_set_ino64(e.get(), 0);
    archive_entry_set_dev(e.get(), 0);
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) archive_entry_set_rdev(e.get(), 0);
    archive_entry_set_nlink(e.get(), 1);
    bool data = S_ISREG(st.st_mode);
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      fs::path target = fs::read_symlink(p, ec);
      if (ec) return InternalError(fmt::format("readlink {}: {}", p.string(), ec.message()));
      archive_entry_set_symlink(e.get(), target.c_str());
    } else if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto [it, inserted] = links.emplace(std::make_pair(st.st_dev, st.st_ino), name);
      if (!inserted) {
        archive_entry_set_hardlink(e.get(), it->second.c_str());
        archive_entry_set_size(e.get(), 0);
        data = false;
      }
    }
    if (archive_write_header(out.get(), e.get()) != ARCHIVE_OK) {
      return InternalError(fmt::format("tar entry {:?}: {}", name, archive_error_string(out.get())));
    }
    if (data) {
      int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return ErrnoError(errno, "open " + p.string());
      ssize_t n = 0;
      while ((n = read(fd, buf.data(), buf.size())) > 0) {
        if (archive_write_data(out.get(), buf.data(), static_cast<size_t>(n)) != n) {
          close(fd);
          return InternalError(fmt::format("tar data {:?}: {}", name, archive_error_string(out.get())));
        }
      }
      int err = errno;
      close(fd);
      if (n < 0) return ErrnoError(err, "read " + p.string());
    }
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) {
    return InternalError(fmt::format("finish {}: {}", out_path.string(), archive_error_string(out.get())));
  }
  return Status::Ok();
}

// mke2fs -d copies each file's ctime (which nobody can set) and owner (which only root can set) from the
// staged tree. This pass sets ctime to the epoch on every inode of the tree and, when the builder is not
// root, uid and gid to 0.
Status FixInodes(const fs::path& tree, const fs::path& image, int64_t epoch) {
  KUBEOS_ASSIGN_OR_RETURN(std::vector<std::string> names, SortedEntries(tree));
  bool chown = geteuid() != 0;
  std::string cmds = fmt::format("sif / ctime @{}\n", epoch);
  for (const std::string& n : names) {
    KUBEOS_ASSIGN_OR_RETURN(std::string q, DebugfsQuote("/" + n));
    cmds += fmt::format("sif {} ctime @{}\n", q, epoch);
    if (chown) cmds += fmt::format("sif {} uid 0\nsif {} gid 0\n", q, q);
  }
  fs::path cmd_file = image.string() + ".debugfs";
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(cmd_file, cmds, {.mode = 0600}));
  StatusOr<RunResult> r = RunProgram({"env", fmt::format("E2FSPROGS_FAKE_TIME={}", epoch), "debugfs", "-w",
                                      "-f", cmd_file.string(), image.string()},
                                     kToolTimeout);
  std::error_code ec;
  fs::remove(cmd_file, ec);
  if (!r.ok()) return r.status().WithContext("debugfs (fix inodes)");
  // debugfs exits 0 even when a command fails; every line it prints is either its banner or an echo of a
  // command ("debugfs: sif ...").
  std::string_view text = r->output;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && !line.starts_with("debugfs")) {
      return InternalError(fmt::format("debugfs (fix inodes) on {}: {}", image.string(), line));
    }
  }
  if (r->exit_code != 0) return InternalError(fmt::format("debugfs (fix inodes): exit {}", r->exit_code));
  return Status::Ok();
}

}  // namespace

StatusOr<PayloadFormat> ParsePayloadFormat(std::string_view text) {
  if (text == "ext4") return PayloadFormat::kExt4;
  if (text == "tar") return PayloadFormat::kTar;
  return InvalidArgumentError(fmt::format("format {:?}: expected ext4 or tar", text));
}

std::string_view PayloadFormatName(PayloadFormat f) { return f == PayloadFormat::kExt4 ? "ext4" : "tar"; }

StatusOr<std::string> FileSha256(const fs::path& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open " + path.string());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  KUBEOS_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1);
  std::vector<char> buf(kCopyChunk);
  ssize_t n = 0;
  while ((n = read(fd, buf.data(), buf.size())) > 0) {
    KUBEOS_CHECK(EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n)) == 1);
  }
  int err = errno;
  close(fd);
  if (n < 0) return ErrnoError(err, "read " + path.string());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  KUBEOS_CHECK(EVP_DigestFinal_ex(ctx.get(), md, &len) == 1);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

StatusOr<StagedTree> StagedTree::Create(const PayloadOptions& o, const fs::path& work_dir) {
  KUBEOS_RETURN_IF_ERROR(ValidateVersion(o.version));
  std::error_code ec;
  if (o.rootfs.empty()) return InvalidArgumentError("--rootfs is required");
  fs::file_status st = fs::status(o.rootfs, ec);
  if (!fs::exists(st)) return NotFoundError(fmt::format("rootfs {} does not exist", o.rootfs.string()));
  StagedTree t;
  KUBEOS_ASSIGN_OR_RETURN(fs::path tmp, MakeTempDirIn(work_dir, "kbimg-stage"));
  t.dir_ = fs::canonical(tmp, ec);
  if (ec) {
    fs::remove_all(tmp, ec);
    return InternalError(fmt::format("resolve {}: {}", tmp.string(), ec.message()));
  }
  t.root_ = t.dir_ / "rootfs";
  if (fs::is_directory(st)) {
    fs::create_directory(t.root_, ec);
    if (ec) return InternalError(fmt::format("create {}: {}", t.root_.string(), ec.message()));
    // cp -a keeps modes, symlinks, hard links, special files and xattrs; owners become the builder's.
    KUBEOS_RETURN_IF_ERROR(
        RunChecked({"cp", "-a", "--no-preserve=ownership", "--", (o.rootfs / ".").string(), t.root_.string()},
                   "copy rootfs " + o.rootfs.string()));
  } else if (fs::is_regular_file(st)) {
    fs::create_directory(t.root_, ec);
    if (ec) return InternalError(fmt::format("create {}: {}", t.root_.string(), ec.message()));
    KUBEOS_RETURN_IF_ERROR(ExtractTarball(o.rootfs, t.root_));
  } else {
    return InvalidArgumentError(
        fmt::format("rootfs {} is neither a directory nor a tarball", o.rootfs.string()));
  }
  KUBEOS_RETURN_IF_ERROR(Stamp(o, t.root_));
  KUBEOS_RETURN_IF_ERROR(Normalize(t.root_, o.epoch, &t.data_bytes_, &t.entries_));
  return t;
}

StagedTree::StagedTree(StagedTree&& o) noexcept
    : dir_(std::exchange(o.dir_, {})),
      root_(std::exchange(o.root_, {})),
      data_bytes_(o.data_bytes_),
      entries_(o.entries_) {}

StagedTree::~StagedTree() {
  if (dir_.empty()) return;
  std::error_code ec;
  // Extracted trees may hold read-only directories; make them writable so the removal succeeds.
  for (fs::recursive_directory_iterator it(dir_, fs::directory_options::none, ec), end; it != end;
       it.increment(ec)) {
    if (ec) break;
    if (it->is_directory(ec) && !it->is_symlink(ec))
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  }
  fs::remove_all(dir_, ec);
}

Status MakeExt4(const fs::path& tree, const fs::path& out, const ExtOptions& o) {
  std::error_code ec;
  fs::remove(out, ec);
  uint64_t size_k = o.size / 1024;
  std::vector<std::string> argv = {"env",
                                   fmt::format("E2FSPROGS_FAKE_TIME={}", o.epoch),
                                   "mke2fs",
                                   "-F",
                                   "-q",
                                   "-t",
                                   "ext4",
                                   "-L",
                                   o.label,
                                   "-U",
                                   o.uuid,
                                   "-E",
                                   fmt::format("hash_seed={},root_owner=0:0,nodiscard", o.uuid)};
  if (!tree.empty()) {
    argv.emplace_back("-d");
    argv.push_back(tree.string());
  }
  argv.push_back(out.string());
  argv.push_back(fmt::format("{}k", size_k));
  KUBEOS_ASSIGN_OR_RETURN(RunResult r, RunProgram(argv, kToolTimeout));
  if (r.exit_code != 0) {
    if (r.output.find("Could not allocate") != std::string::npos ||
        r.output.find("No space left") != std::string::npos ||
        r.output.find("Could not allocate inode") != std::string::npos) {
      return Status(
          StatusCode::kResourceExhausted,
          fmt::format("the root filesystem does not fit in {} bytes (mke2fs: {})", o.size, r.output));
    }
    return InternalError(fmt::format("mke2fs {}: exit {}: {}", out.string(), r.exit_code, r.output));
  }
  if (!tree.empty()) KUBEOS_RETURN_IF_ERROR(FixInodes(tree, out, o.epoch));
  return Status::Ok();
}

StatusOr<PayloadResult> BuildPayload(const PayloadOptions& o) {
  KUBEOS_RETURN_IF_ERROR(ValidateVersion(o.version));
  KUBEOS_RETURN_IF_ERROR(CheckOutput(o.output));
  if (o.epoch < 1) return InvalidArgumentError("epoch must be at least 1 (seconds since 1970)");
  if (o.format == PayloadFormat::kExt4 && o.size && *o.size < 2 * 1024 * 1024) {
    return InvalidArgumentError(
        fmt::format("--size {} is below the 2 MiB minimum of an ext4 image", *o.size));
  }
  fs::path out_dir = fs::absolute(o.output).parent_path();
  KUBEOS_ASSIGN_OR_RETURN(StagedTree tree, StagedTree::Create(o, out_dir));
  fs::path tmp = out_dir / fmt::format(".{}.kbimg-tmp", o.output.filename().string());
  std::error_code ec;
  fs::remove(tmp, ec);
  if (o.format == PayloadFormat::kTar) {
    KUBEOS_RETURN_IF_ERROR(WriteTar(tree.root(), o.epoch, tmp));
  } else {
    uint64_t size = o.size.value_or(DefaultExtSize(tree.data_bytes(), tree.entries()) + o.extra_free);
    size = size / kBlock * kBlock;
    if (tree.data_bytes() > size) {
      return Status(StatusCode::kResourceExhausted,
                    fmt::format("the root filesystem does not fit: it needs at least {} bytes; --size is {}",
                                tree.data_bytes(), size));
    }
    ExtOptions eo{.label = o.label,
                  .size = size,
                  .uuid = DerivedUuid(fmt::format("kbimg ext4 {} {}", o.label, o.version)),
                  .epoch = o.epoch};
    Status s = MakeExt4(tree.root(), tmp, eo);
    if (!s.ok()) {
      fs::remove(tmp, ec);
      return s;
    }
  }
  KUBEOS_RETURN_IF_ERROR(SyncFile(tmp));
  PayloadResult res;
  KUBEOS_ASSIGN_OR_RETURN(res.sha256, FileSha256(tmp));
  res.size = fs::file_size(tmp, ec);
  fs::rename(tmp, o.output, ec);
  if (ec)
    return InternalError(fmt::format("rename {} to {}: {}", tmp.string(), o.output.string(), ec.message()));
  KUBEOS_RETURN_IF_ERROR(SyncDirectory(out_dir));
  nlohmann::json manifest = {{"version", o.version},
                             {"osversion", "KubeOS " + o.version},
                             {"format", PayloadFormatName(o.format)},
                             {"size", res.size},
                             {"sha256", res.sha256}};
  if (o.format == PayloadFormat::kExt4) manifest["label"] = o.label;
  res.manifest = o.output.string() + ".manifest.json";
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(res.manifest, manifest.dump(2) + "\n", {.mode = 0644}));
  log::Info("payload built", {{"output", o.output.string()},
                              {"format", PayloadFormatName(o.format)},
                              {"version", o.version},
                              {"bytes", res.size},
                              {"sha256", res.sha256}});
  return res;
}

}  // namespace kubeos::image
