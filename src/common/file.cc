#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>
#include <vector>

namespace kubeos {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write " + what);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

Status SyncDirectory(const std::filesystem::path& dir) {
  Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError(errno, "open directory " + dir.string());
  if (fsync(fd.get()) != 0) return ErrnoError(errno, "fsync directory " + dir.string());
  return Status::Ok();
}

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data,
                       const WriteOptions& options) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  mode_t mode = options.mode;
  std::optional<std::pair<uid_t, gid_t>> owner;
  struct stat st {};
  if (options.keep_existing_mode && stat(path.c_str(), &st) == 0) {
    mode = st.st_mode & 07777;
    owner = std::make_pair(st.st_uid, st.st_gid);
  }
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  Fd fd(mkostemp(name.data(), O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError(errno, "create temporary file in " + dir.string());
  std::string tmp(name.data());
  auto fail = [&](Status s) {
    unlink(tmp.c_str());
    return s;
  };
  if (Status s = WriteAll(fd.get(), data, tmp); !s.ok()) return fail(s);
  if (fchmod(fd.get(), mode) != 0) return fail(ErrnoError(errno, "chmod " + tmp));
  if (owner && fchown(fd.get(), owner->first, owner->second) != 0 && errno != EPERM) {
    return fail(ErrnoError(errno, "chown " + tmp));
  }
  if (fsync(fd.get()) != 0) return fail(ErrnoError(errno, "fsync " + tmp));
  if (rename(tmp.c_str(), path.c_str()) != 0) return fail(ErrnoError(errno, "rename to " + path.string()));
  // On FAT (the ESP holding grubenv) a file's directory entry is written with its inode, not with the
  // directory: the rename is durable only once the renamed file is synced again. Elsewhere this is cheap.
  if (fsync(fd.get()) != 0) return ErrnoError(errno, "fsync " + path.string() + " after rename");
  if (close(fd.release()) != 0) return ErrnoError(errno, "close " + path.string());
  return SyncDirectory(dir);
}

StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError(errno, "open " + path.string());
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read " + path.string());
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

StatusOr<TempDir> TempDir::Create(std::string_view prefix) {
  const char* base = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe): read-only use
  std::string tmpl =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" + std::string(prefix) + "-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  if (mkdtemp(name.data()) == nullptr) return ErrnoError(errno, "create temporary directory " + tmpl);
  return TempDir(std::filesystem::path(name.data()));
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace kubeos
