#include "sim/images.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/file.h"
#include "common/process.h"

namespace kubeos::sim {
namespace {

// mke2fs/kbimg of a few MiB take well under a second; generous for a loaded CI machine.
constexpr std::chrono::seconds kBuildTimeout{120};

Status Run(const std::vector<std::string>& argv) {
  KUBEOS_ASSIGN_OR_RETURN(RunResult r, RunProgram(argv, kBuildTimeout));
  if (r.exit_code != 0) {
    return InternalError(fmt::format("{} exited {}: {}", fmt::join(argv, " "), r.exit_code, r.output));
  }
  return Status::Ok();
}

std::string OsRelease(const std::string& version) {
  return fmt::format("NAME=\"KubeOS\"\nID=kubeos\nVERSION_ID=\"{}\"\nPRETTY_NAME=\"{}\"\n", version,
                     PrettyNameFor(version));
}

}  // namespace

std::string PrettyNameFor(const std::string& version) { return "KubeOS " + version; }

Status WriteRootfsTree(const std::filesystem::path& dir, const std::string& version, bool broken) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  for (const char* sub : {"bin", "sbin", "etc", "usr/lib", "usr/bin", "var", "opt", "persist", "proc", "sys",
                          "dev", "run", "tmp", "boot/efi"}) {
    std::filesystem::create_directories(dir / sub, ec);
    if (ec) return ErrnoError(ec.value(), "create " + (dir / sub).string());
  }
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(dir / "usr/lib/os-release", OsRelease(version)));
  std::filesystem::create_symlink("../usr/lib/os-release", dir / "etc/os-release", ec);
  if (ec) return ErrnoError(ec.value(), "symlink etc/os-release");
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(dir / "etc/hostname", "kubeos\n"));
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(dir / "etc/kubeos-release", version + "\n"));
  if (!broken) {
    KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(dir / "sbin/init",
                                           "#!/bin/sh\n# simulated init\nexec /lib/systemd/systemd \"$@\"\n",
                                           {.mode = 0755}));
  }
  return Status::Ok();
}

StatusOr<Payload> BuildPayload(const std::filesystem::path& kbimg, const std::filesystem::path& tree,
                               const std::string& version, uint64_t size, const std::filesystem::path& out) {
  Payload p{.file = out, .version = version, .pretty_name = PrettyNameFor(version)};
  std::error_code ec;
  std::filesystem::remove(out, ec);
  if (!kbimg.empty() && std::filesystem::exists(kbimg)) {
    KUBEOS_RETURN_IF_ERROR(Run({kbimg.string(), "payload", "--rootfs", tree.string(), "--version", version,
                                "--format", "ext4", "--size", std::to_string(size), "--output", out.string()})
                               .WithContext("kbimg payload " + version));
    p.built_by = "kbimg";
  } else {
    KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(tree / "usr/lib/os-release", OsRelease(version)));
    KUBEOS_RETURN_IF_ERROR(Run({"mke2fs", "-q", "-F", "-t", "ext4", "-L", "ROOT-A", "-E", "root_owner=0:0",
                                "-d", tree.string(), out.string(), std::to_string(size / 1024) + "k"})
                               .WithContext("mke2fs payload " + version));
    p.built_by = "mke2fs";
  }
  KUBEOS_ASSIGN_OR_RETURN(p.sha256, FileSha256(out));
  p.size = std::filesystem::file_size(out, ec);
  return p;
}

StatusOr<std::string> FileSha256(const std::filesystem::path& file) {
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open " + file.string());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(size_t{1} << 20);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0) {
      int err = errno;
      close(fd);
      return ErrnoError(err, "read " + file.string());
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
  }
  close(fd);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md.data(), &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

}  // namespace kubeos::sim
