#include "agent/config/grub_cmdline.h"

#include <gtest/gtest.h>

#include "agent/config/test_util.h"

namespace kubeos::agent::config {
namespace {

using testing::Del;
using testing::E;

// The original's test grub.cfg (config.rs test_grub_cmdline) with our slot markers on the kernel lines.
constexpr std::string_view kGrubCfg =
    R"(menuentry 'A' --class KubeOS --class gnu-linux --class gnu --class os --unrestricted $menuentry_id_option 'KubeOS-A' {
        load_video
        set gfxpayload=keep
        insmod gzio
        insmod part_gpt
        insmod ext2
        set root='hd0,gpt2'
        linux   /boot/vmlinuz root=UUID=1 ro rootfstype=ext4 nomodeset quiet oops=panic softlockup_panic=1 nmi_watchdog=1 rd.shell=0 selinux=0 crashkernel=256M panic=3 kubeos.slot=A
        initrd  /boot/initramfs.img
}

menuentry 'B' --class KubeOS --class gnu-linux --class gnu --class os --unrestricted $menuentry_id_option 'KubeOS-B' {
        load_video
        set gfxpayload=keep
        insmod gzio
        insmod part_gpt
        insmod ext2
        set root='hd0,gpt3'
        linux   /boot/vmlinuz root=UUID=2 ro rootfstype=ext4 nomodeset quiet oops=panic softlockup_panic=1 nmi_watchdog=1 rd.shell=0 selinux=0 crashkernel=256M panic=3 kubeos.slot=B
        initrd  /boot/initramfs.img
}
)";

std::string Replace(std::string s, std::string_view from, std::string_view to) {
  size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

TEST(EditGrubCmdline, OriginalExample) {
  // The original's expected results (minus its "" key, now an error), with two fixes: the rest of the
  // file (blank line, indentation of the kernel line) is kept.
  const std::vector<ConfigEntry> second = {
      E("debug", ""), Del("quiet", ""),    E("panic", "5"),    E("nomodeset", "", "update"),
      E("oops", ""),  Del("selinux", "1"), Del("acpi", "off"), E("ro", "1")};
  const std::vector<ConfigEntry> first = {E("pci", "nomis"), Del("quiet", "11"), E("panic", "5", "update")};
  StatusOr<EditResult> b = EditGrubCmdline(kGrubCfg, Slot::kB, second);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  StatusOr<EditResult> a = EditGrubCmdline(b->text, Slot::kA, first);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  std::string want = std::string(kGrubCfg);
  want =
      Replace(want,
              "        linux   /boot/vmlinuz root=UUID=1 ro rootfstype=ext4 nomodeset quiet oops=panic "
              "softlockup_panic=1 nmi_watchdog=1 rd.shell=0 selinux=0 crashkernel=256M panic=3 kubeos.slot=A",
              "        linux /boot/vmlinuz root=UUID=1 ro rootfstype=ext4 nomodeset quiet oops=panic "
              "softlockup_panic=1 nmi_watchdog=1 rd.shell=0 selinux=0 crashkernel=256M panic=5 kubeos.slot=A "
              "pci=nomis");
  want =
      Replace(want,
              "        linux   /boot/vmlinuz root=UUID=2 ro rootfstype=ext4 nomodeset quiet oops=panic "
              "softlockup_panic=1 nmi_watchdog=1 rd.shell=0 selinux=0 crashkernel=256M panic=3 kubeos.slot=B",
              "        linux /boot/vmlinuz root=UUID=2 ro=1 rootfstype=ext4 nomodeset oops=panic "
              "softlockup_panic=1 nmi_watchdog=1 rd.shell=0 selinux=0 crashkernel=256M panic=5 kubeos.slot=B "
              "debug");
  EXPECT_EQ(a->text, want);
  // Warnings: "update" is an unknown operation, oops=panic cannot become bare, selinux's value differs, acpi
  // is missing.
  EXPECT_EQ(b->warnings.size(), 4U);

  // Idempotence: the same requests again change nothing.
  StatusOr<EditResult> b2 = EditGrubCmdline(a->text, Slot::kB, second);
  ASSERT_TRUE(b2.ok());
  EXPECT_FALSE(b2->changed);
  EXPECT_EQ(b2->text, a->text);
  StatusOr<EditResult> a2 = EditGrubCmdline(a->text, Slot::kA, first);
  ASSERT_TRUE(a2.ok());
  EXPECT_FALSE(a2->changed);
  EXPECT_EQ(a2->text, a->text);
}

TEST(EditGrubCmdline, Golden) {
  struct Golden {
    std::string name;
    std::string before;
    Slot slot;
    std::vector<ConfigEntry> entries;
    std::string after;
  };
  const std::string ab =
      "linux /vmlinuz root=/dev/vda2 kubeos.slot=A\n\tlinuxefi /vmlinuz root=/dev/vda3 kubeos.slot=B\n";
  const std::vector<Golden> cases = {
      // kubeos-original-behaviour.md §1.3: {key: nosmt}, {key: quiet, operation: delete}.
      {"sample",
       "  linux /vmlinuz quiet ro kubeos.slot=A\n",
       Slot::kA,
       {E("nosmt"), Del("quiet")},
       "  linux /vmlinuz ro kubeos.slot=A nosmt\n"},
      {"slot B, linuxefi, tab indent kept",
       ab,
       Slot::kB,
       {E("audit", "1")},
       "linux /vmlinuz root=/dev/vda2 kubeos.slot=A\n\tlinuxefi /vmlinuz root=/dev/vda3 kubeos.slot=B "
       "audit=1\n"},
      {"root=UUID=x splits at the first '='",
       "linux /k root=UUID=1 kubeos.slot=A\n",
       Slot::kA,
       {E("root", "UUID=2")},
       "linux /k root=UUID=2 kubeos.slot=A\n"},
      {"bare to k=v",
       "linux /k nosmt kubeos.slot=A\n",
       Slot::kA,
       {E("nosmt", "force")},
       "linux /k nosmt=force kubeos.slot=A\n"},
      {"delete every matching occurrence",
       "linux /k console=tty0 console=ttyS0 console=ttyS0 kubeos.slot=A\n",
       Slot::kA,
       {Del("console", "ttyS0")},
       "linux /k console=tty0 kubeos.slot=A\n"},
      {"update the first occurrence only",
       "linux /k console=tty0 console=ttyS0 kubeos.slot=A\n",
       Slot::kA,
       {E("console", "ttyS1")},
       "linux /k console=ttyS1 console=ttyS0 kubeos.slot=A\n"},
      {"numbers and booleans",
       "linux /k kubeos.slot=A\n",
       Slot::kA,
       {E("a", 1), E("b", true)},
       "linux /k kubeos.slot=A a=1 b=true\n"},
      {"the kernel image is not an argument",
       "linux /k kubeos.slot=A\n",
       Slot::kA,
       {Del("/k")},
       "linux /k kubeos.slot=A\n"},
      {"arrays are skipped", "linux /k kubeos.slot=A\n", Slot::kA, {E("a", {1})}, "linux /k kubeos.slot=A\n"},
  };
  for (const Golden& c : cases) {
    SCOPED_TRACE(c.name);
    StatusOr<EditResult> got = EditGrubCmdline(c.before, c.slot, c.entries);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->text, c.after);
    StatusOr<EditResult> again = EditGrubCmdline(got->text, c.slot, c.entries);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->text, got->text);
    EXPECT_FALSE(again->changed);
  }
}

TEST(EditGrubCmdline, BadInput) {
  const std::string cfg = "linux /k kubeos.slot=A\nlinux /k kubeos.slot=B\n";
  struct Case {
    std::string name;
    std::string cfg;
    std::vector<ConfigEntry> entries;
    StatusCode code;
  };
  const std::vector<Case> cases = {
      {"empty key", cfg, {E("", "test")}, StatusCode::kInvalidArgument},
      {"'=' in key", cfg, {E("a=b")}, StatusCode::kInvalidArgument},
      {"space in key", cfg, {E("a b")}, StatusCode::kInvalidArgument},
      {"space in value", cfg, {E("a", "1 init=/bin/sh")}, StatusCode::kInvalidArgument},
      {"command separator in value", cfg, {E("a", "1;reboot")}, StatusCode::kInvalidArgument},
      {"expansion in value", cfg, {E("a", "$root")}, StatusCode::kInvalidArgument},
      {"newline in value", cfg, {E("a", "1\nreboot")}, StatusCode::kInvalidArgument},
      {"quote in key", cfg, {E("a\"")}, StatusCode::kInvalidArgument},
      {"reserved slot marker", cfg, {Del("kubeos.slot", "A")}, StatusCode::kInvalidArgument},
      {"duplicate key", cfg, {E("a"), E("a", 1)}, StatusCode::kInvalidArgument},
      {"no entry for the slot", "linux /k kubeos.slot=B\n", {E("a")}, StatusCode::kFailedPrecondition},
      {"two entries for the slot", cfg + cfg, {E("a")}, StatusCode::kFailedPrecondition},
      {"marker outside a kernel line", "echo kubeos.slot=A\n", {E("a")}, StatusCode::kFailedPrecondition},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    StatusOr<EditResult> got = EditGrubCmdline(c.cfg, Slot::kA, c.entries);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), c.code) << got.status().ToString();
  }
}

}  // namespace
}  // namespace kubeos::agent::config
