// kbimg disk: a bootable KubeOS GPT disk image, built without root, loop devices or mounts.
//
// Layout (1 MiB aligned, fixed partition GUIDs derived from the version so the image is reproducible):
//   p1 BOOT    EFI system partition, FAT (mkfs.vfat + mtools): EFI/BOOT/BOOTX64.EFI (grub-mkimage, prefix
//              (,gpt1)/EFI/openEuler), EFI/openEuler/grubx64.efi (the same image), EFI/openEuler/grub.cfg
//              (deploy/agent/grub-kubeos.cfg + kernel args), EFI/openEuler/grubenv (saved_entry=A)
//   p2 ROOT-A  ext4 of the stamped rootfs (label ROOT-A); must hold /boot/vmlinuz and /boot/initramfs.img
//   p3 ROOT-B  empty ext4 (label ROOT-B), as the original
//   p4 PERSIST ext4 (label PERSIST) with etc, etcwork, var, opt, optwork, etc/KubeOS/certs (+ extras)
// GPT partition names equal the labels (BOOT, ROOT-A, ROOT-B, PERSIST). Writes <output> (raw, sparse) and,
// when asked, a qcow2 copy next to it (DiskOptions::qcow2).
// Thread-safety: one build per call.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"
#include "image/payload.h"

namespace kubeos::image {

struct DiskOptions {
  PayloadOptions rootfs;  // rootfs, version, agent files, epoch, output (the raw disk)
  uint64_t boot_size = uint64_t{64} << 20;
  uint64_t root_size = uint64_t{256} << 20;
  uint64_t persist_size = uint64_t{64} << 20;
  std::string kernel_args;
  std::filesystem::path grub_cfg;  // empty: the built-in fragment
  std::vector<std::string> persist_dirs;
  bool qcow2 = false;  // also convert to <output without .raw>.qcow2 with qemu-img
};

struct DiskResult {
  std::string sha256;  // of the raw image
  std::filesystem::path raw;
  std::filesystem::path qcow2;  // empty unless requested
};

StatusOr<DiskResult> BuildDisk(const DiskOptions& options);

}  // namespace kubeos::image
