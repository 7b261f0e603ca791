// kbimg: build KubeOS upgrade payloads and bootable A/B disk images without root, loop devices or mounts.
//   kbimg payload --rootfs DIR|TARBALL --version V [--format ext4|tar] [--size 64M] [--label ROOT-A]
//                 [--agent PATH] [--agent-unit PATH] [--agent-config PATH] --output FILE
//   kbimg disk    --rootfs DIR|TARBALL --version V [sizes] [--kernel-args ...] --output disk.raw [--qcow2]
// See docs/kbimg.md.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "common/log.h"
#include "image/disk.h"
#include "image/payload.h"
#include "image/spec.h"

namespace {

namespace image = kubeos::image;

// SOURCE_DATE_EPOCH (reproducible-builds.org) or kDefaultEpoch; at least 1 (e2fsprogs' fake clock treats 0
// as "use the real clock").
kubeos::StatusOr<int64_t> BuildEpoch(const std::string& flag) {
  std::string text = flag;
  if (text.empty()) {
    const char* env = std::getenv("SOURCE_DATE_EPOCH");  // NOLINT(concurrency-mt-unsafe): single-threaded
    if (env != nullptr) text = env;
  }
  if (text.empty()) return image::kDefaultEpoch;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || v < 1) {
    return kubeos::InvalidArgumentError("epoch " + text + ": expected seconds since 1970");
  }
  return static_cast<int64_t>(v);
}

int Fail(std::string_view what, const kubeos::Status& s) {
  std::cerr << "kbimg " << what << ": " << s.message() << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kbimg: build KubeOS upgrade payloads and bootable A/B disk images (no root needed)"};
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "debug|info|warn|error");

  // Options shared by both subcommands: the root filesystem and what is stamped into it.
  image::PayloadOptions po;
  std::string format = "ext4", size, epoch;
  auto add_rootfs_options = [&](CLI::App* c) {
    c->add_option("--rootfs", po.rootfs, "root filesystem: a directory or a tarball")->required();
    c->add_option("--version", po.version, "OS version; PRETTY_NAME becomes \"KubeOS <version>\"")
        ->required();
    c->add_option("--agent", po.agent, "os-agent binary to install as /usr/bin/os-agent");
    c->add_option("--agent-unit", po.agent_unit, "os-agent.service to install and enable");
    c->add_option("--agent-config", po.agent_config,
                  "host description to install as /etc/KubeOS/os-agent.json");
    c->add_option("--epoch", epoch,
                  "timestamp of every file, seconds (default: $SOURCE_DATE_EPOCH or 2020-01-01)");
    c->add_option("--output", po.output, "output file")->required();
  };

  auto* payload = app.add_subcommand("payload", "build an upgrade payload (raw ext4 image or os.tar)");
  add_rootfs_options(payload);
  payload->add_option("--format", format, "ext4 (raw filesystem image, the fast path) or tar (os.tar)");
  payload->add_option("--size", size, "ext4 image size, e.g. 256M (default: fits the tree)");
  payload->add_option("--label", po.label, "ext4 filesystem label (the agent relabels per slot)");

  image::DiskOptions dopt;
  std::string boot_size = "64M", root_size = "256M", persist_size = "64M";
  auto* disk =
      app.add_subcommand("disk", "build a bootable GPT disk: BOOT (ESP) / ROOT-A / ROOT-B / PERSIST");
  add_rootfs_options(disk);
  disk->add_option("--boot-size", boot_size, "ESP size")->capture_default_str();
  disk->add_option("--root-size", root_size, "size of each root partition")->capture_default_str();
  disk->add_option("--persist-size", persist_size, "persist partition size")->capture_default_str();
  disk->add_option("--kernel-args", dopt.kernel_args, "appended to the kernel command line of both entries");
  disk->add_option("--grub-cfg", dopt.grub_cfg,
                   "GRUB config to install (default: the built-in A/B fragment)");
  disk->add_option("--persist-dir", dopt.persist_dirs, "extra directory to create on the persist partition");
  disk->add_flag("--qcow2", dopt.qcow2, "also write <output>.qcow2 (needs qemu-img)");

  CLI11_PARSE(app, argc, argv);
  kubeos::log::Level level;
  if (kubeos::log::ParseLevel(log_level, &level)) kubeos::log::SetLevel(level);

  kubeos::StatusOr<int64_t> ep = BuildEpoch(epoch);
  if (!ep.ok()) return Fail("", ep.status());
  po.epoch = *ep;

  if (*payload) {
    kubeos::StatusOr<image::PayloadFormat> f = image::ParsePayloadFormat(format);
    if (!f.ok()) return Fail("payload", f.status());
    po.format = *f;
    if (!size.empty()) {
      kubeos::StatusOr<uint64_t> s = image::ParseSize(size);
      if (!s.ok()) return Fail("payload", s.status());
      po.size = *s;
    }
    kubeos::StatusOr<image::PayloadResult> r = image::BuildPayload(po);
    if (!r.ok()) return Fail("payload", r.status());
    std::cout << r->sha256 << "\n";
    return 0;
  }
  for (auto [text, out] : {std::pair{&boot_size, &dopt.boot_size}, std::pair{&root_size, &dopt.root_size},
                           std::pair{&persist_size, &dopt.persist_size}}) {
    kubeos::StatusOr<uint64_t> s = image::ParseSize(*text);
    if (!s.ok()) return Fail("disk", s.status());
    *out = *s;
  }
  dopt.rootfs = po;
  kubeos::StatusOr<image::DiskResult> r = image::BuildDisk(dopt);
  if (!r.ok()) return Fail("disk", r.status());
  std::cout << r->sha256 << "\n";
  return 0;
}
