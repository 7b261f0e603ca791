#include "agent/config/host_linux.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/file.h"

namespace kubeos::agent::config {
namespace {

// Configuration files are small; a larger one is not what we think it is.
constexpr off_t kMaxFileBytes = off_t{4} << 20;

}  // namespace

StatusOr<std::filesystem::path> LinuxConfigHost::Resolve(const std::string& path) const {
  if (path.empty() || path[0] != '/') return InvalidArgumentError("not an absolute path: " + path);
  std::filesystem::path rel = std::filesystem::path(path).relative_path();
  std::filesystem::path cur = options_.root;
  for (auto it = rel.begin(); it != rel.end(); ++it) {
    cur /= *it;
    if (std::next(it) == rel.end()) break;  // the file itself is checked with O_NOFOLLOW / lstat
    struct stat st {};
    if (lstat(cur.c_str(), &st) != 0) {
      if (errno == ENOENT) break;
      return ErrnoError(errno, "lstat " + cur.string());
    }
    if (S_ISLNK(st.st_mode)) {
      return FailedPreconditionError(path + ": " + cur.string() +
                                     " is a symbolic link; refusing to follow it for a configuration file");
    }
  }
  return std::filesystem::path(options_.root) / rel;
}

StatusOr<std::optional<std::string>> LinuxConfigHost::ReadFile(const std::string& path) const {
  KUBEOS_ASSIGN_OR_RETURN(std::filesystem::path p, Resolve(path));
  int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    if (errno == ELOOP) return FailedPreconditionError(path + " is a symbolic link; refusing to follow it");
    return ErrnoError(errno, "open " + path);
  }
  struct stat st {};
  const int rc = fstat(fd, &st);
  const int err = errno;
  close(fd);
  if (rc != 0) return ErrnoError(err, "stat " + path);
  if (!S_ISREG(st.st_mode)) return FailedPreconditionError(path + " is not a regular file");
  if (st.st_size > kMaxFileBytes) return FailedPreconditionError(path + " is larger than 4 MiB");
  KUBEOS_ASSIGN_OR_RETURN(std::string data, ::kubeos::ReadFile(p));
  return std::optional<std::string>(std::move(data));
}

StatusOr<bool> LinuxConfigHost::IsDirectory(const std::string& path) const {
  KUBEOS_ASSIGN_OR_RETURN(std::filesystem::path p, Resolve(path));
  struct stat st {};
  if (lstat(p.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoError(errno, "lstat " + path);
  }
  return S_ISDIR(st.st_mode);
}

Status LinuxConfigHost::WriteFile(const std::string& path, std::string_view data,
                                  mode_t new_file_mode) const {
  KUBEOS_ASSIGN_OR_RETURN(std::filesystem::path p, Resolve(path));
  return WriteFileAtomic(p, data, {.mode = new_file_mode, .keep_existing_mode = true});
}

Status LinuxConfigHost::RemoveFile(const std::string& path) const {
  KUBEOS_ASSIGN_OR_RETURN(std::filesystem::path p, Resolve(path));
  if (unlink(p.c_str()) != 0 && errno != ENOENT) return ErrnoError(errno, "remove " + path);
  return SyncDirectory(p.parent_path());
}

StatusOr<std::string> LinuxConfigHost::ReadSysctl(const std::string& relpath) const {
  std::filesystem::path p = options_.proc_sys / relpath;
  StatusOr<std::string> data = ::kubeos::ReadFile(p);
  if (!data.ok() && data.status().code() == StatusCode::kNotFound) {
    return NotFoundError("no kernel parameter " + relpath + " under " + options_.proc_sys.string());
  }
  return data;
}

Status LinuxConfigHost::WriteSysctl(const std::string& relpath, std::string_view value) const {
  std::filesystem::path p = options_.proc_sys / relpath;
  int fd = open(p.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoError(errno, "open " + p.string());
  std::string line = std::string(value) + "\n";
  ssize_t n = write(fd, line.data(), line.size());
  const int err = errno;
  close(fd);
  if (n < 0) return ErrnoError(err, "write " + p.string());
  if (static_cast<size_t>(n) != line.size()) return InternalError("short write to " + p.string());
  return Status::Ok();
}

StatusOr<Slot> LinuxConfigHost::BootedSlot() const {
  if (!options_.booted_slot) return FailedPreconditionError("the booted slot (A or B) is not known");
  return *options_.booted_slot;
}

}  // namespace kubeos::agent::config
