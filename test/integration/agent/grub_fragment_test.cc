// The GRUB fragment (deploy/agent/grub-kubeos.cfg) run by real GRUB, without a VM: grub-emu (Debian's
// grub-emu, GRUB 2's own script interpreter and loadenv module built as a host program) reads and writes
// the env files on a real FAT image through its device map, exactly like GRUB does on the ESP (save_env
// writes the file's sectors in place). Each case boots once and checks (1) the entry GRUB chose, (2) what it
// wrote to grubenv and grubenv.bak, and (3) that SimulateGrubBoot, the model the agent's unit and crash
// tests use, predicts both from the same files (read with the agent's own ReadGrubEnvFile). A few seconds
// in all, so the GRUB logic is tested on every run; the QEMU boot test (test/integration/boot) covers the
// real firmware and kernel. Skips when grub-emu, mtools or mkfs.vfat are missing (hack/install-deps).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "agent/boot_state.h"
#include "agent/grubenv.h"
#include "agent/slot.h"
#include "common/file.h"
#include "common/process.h"

namespace kubeos::agenttest {
namespace {

using agent::GrubEnv;
using agent::kGrubEnvHeader;

constexpr std::chrono::seconds kGrubTimeout{60};
constexpr std::string_view kEspDir = "EFI/openEuler";

bool HaveTool(const std::string& name) {
  StatusOr<RunResult> r = RunProgram({"sh", "-c", "command -v \"$0\"", name}, std::chrono::seconds(10));
  return r.ok() && r->exit_code == 0;
}

Status Run(const std::vector<std::string>& argv) {
  KUBEOS_ASSIGN_OR_RETURN(RunResult r, RunProgram(argv, std::chrono::seconds(30)));
  if (r.exit_code != 0)
    return InternalError(argv[0] + ": exit " + std::to_string(r.exit_code) + ": " + r.output);
  return Status::Ok();
}

GrubEnv Env(std::initializer_list<std::pair<std::string, std::string>> kv) {
  GrubEnv e;
  for (const auto& [k, v] : kv) e.Set(k, v);
  return e;
}
std::string Block(const GrubEnv& e) { return *agent::EncodeGrubEnv(e); }
const std::string kZeroed(agent::kGrubEnvSize, '\0');  // a block lost to a cut: no signature

std::vector<std::pair<std::string, std::string>> Sorted(const GrubEnv& e) {
  auto v = e.entries();
  std::sort(v.begin(), v.end());
  return v;
}

struct GrubRun {
  std::string chosen;                       // ${default} after the fragment ran
  std::optional<std::string> grubenv, bak;  // the files afterwards (nullopt: absent)
};

// One boot: the two files (nullopt: absent) on a fresh FAT image, the fragment sourced by grub-emu.
StatusOr<GrubRun> BootOnce(const std::filesystem::path& dir, const std::optional<std::string>& grubenv,
                           const std::optional<std::string>& bak) {
  std::filesystem::path img = dir / "esp.img";
  std::filesystem::remove(img);
  KUBEOS_RETURN_IF_ERROR(Run({"truncate", "-s", "8M", img.string()}));
  KUBEOS_RETURN_IF_ERROR(Run({"mkfs.vfat", img.string()}));
  KUBEOS_RETURN_IF_ERROR(Run({"mmd", "-i", img.string(), "::/EFI", "::/" + std::string(kEspDir)}));
  for (const auto& [name, content] : {std::pair{"grubenv", grubenv}, std::pair{"grubenv.bak", bak}}) {
    if (!content) continue;
    std::filesystem::path f = dir / name;
    KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(f, *content));
    KUBEOS_RETURN_IF_ERROR(
        Run({"mcopy", "-i", img.string(), f.string(), fmt::format("::/{}/{}", kEspDir, name)}));
  }
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(dir / "device.map", fmt::format("(hd0) {}\n", img.string())));
  // grub-emu reads grub.cfg from -d DIR on the host; it points $prefix at the FAT image, like the EFI
  // image's (,gpt1)/EFI/openEuler, and sources the fragment under test.
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(
      dir / "grub.cfg",
      fmt::format("set prefix=(hd0)/{}\nsource (host){}\necho \"KUBEOS-RESULT default=${{default}}\"\n"
                  "reboot\n",
                  kEspDir, KUBEOS_GRUB_FRAGMENT)));
  KUBEOS_ASSIGN_OR_RETURN(RunResult r, RunProgram({"grub-emu", "-r", "host", "-d", dir.string(), "-m",
                                                   (dir / "device.map").string()},
                                                  kGrubTimeout));
  std::smatch m;
  static const std::regex kResult("KUBEOS-RESULT default=([A-Za-z]*)");
  if (!std::regex_search(r.output, m, kResult))
    return InternalError("grub-emu printed no result: " + r.output);
  GrubRun out{.chosen = m[1]};
  for (auto [name, dst] : {std::pair{"grubenv", &out.grubenv}, std::pair{"grubenv.bak", &out.bak}}) {
    std::filesystem::path f = dir / (std::string(name) + ".after");
    std::filesystem::remove(f);
    StatusOr<RunResult> c =
        RunProgram({"mcopy", "-n", "-i", img.string(), fmt::format("::/{}/{}", kEspDir, name), f.string()},
                   std::chrono::seconds(30));
    if (c.ok() && c->exit_code == 0) *dst = *ReadFile(f);
  }
  return out;
}

struct Case {
  std::string what;
  std::optional<std::string> grubenv, bak;
  std::string want_slot;
  // Which file GRUB's save_env must have changed ("" none, "grubenv", "grubenv.bak") and to what.
  std::string written;
  GrubEnv want_after;
  // GRUB's write is compared byte for byte with our block of want_after (cut to the file's size); false where
  // GRUB edits a damaged block in place, then the variables it reads back are compared.
  bool exact = true;
};

TEST(GrubFragment, RealGrubChoosesAndCountsLikeTheModel) {
  for (const char* tool : {"grub-emu", "mkfs.vfat", "mcopy", "mmd"}) {
    if (!HaveTool(tool)) GTEST_SKIP() << tool << " is not installed (hack/install-deps)";
  }
  StatusOr<TempDir> dir = TempDir::Create("grub-fragment");
  ASSERT_TRUE(dir.ok());
  const GrubEnv committed_b = Env({{"saved_entry", "B"}});
  const GrubEnv trial_b = Env({{"saved_entry", "B"}, {"boot_tries", "2"}, {"fallback_entry", "A"}});
  const GrubEnv trial_b_spent = Env({{"saved_entry", "B"}, {"boot_tries", "0"}, {"fallback_entry", "A"}});
  // A trial GRUB can read but not rewrite: the block's second sector erased (zeros; GRUB's save_env
  // refuses a block whose padding is gone: "environment block too small").
  std::string torn_trial_b = Block(trial_b);
  std::fill(torn_trial_b.begin() + 512, torn_trial_b.end(), '\0');
  const Case cases[] = {
      {"healthy grubenv wins over a stale copy",
       Block(committed_b),
       Block(Env({{"saved_entry", "A"}})),
       "B",
       "",
       {}},
      {"zeroed grubenv: the copy commits B", kZeroed, Block(committed_b), "B", "", {}},
      {"missing grubenv: the copy", std::nullopt, Block(committed_b), "B", "", {}},
      {"grubenv without saved_entry: the copy", Block(Env({})), Block(committed_b), "B", "", {}},
      {"trial counted down in grubenv", Block(trial_b), Block(trial_b), "B", "grubenv",
       Env({{"saved_entry", "B"}, {"boot_tries", "1"}, {"fallback_entry", "A"}})},
      {"trial counted down in the copy when grubenv is lost", kZeroed, Block(trial_b), "B", "grubenv.bak",
       Env({{"saved_entry", "B"}, {"boot_tries", "1"}, {"fallback_entry", "A"}})},
      {"spent trial falls back through the copy", kZeroed, Block(trial_b_spent), "A", "grubenv.bak",
       Env({{"saved_entry", "A"}, {"kubeos_fell_back", "B"}})},
      {"uncountable trial is not made: the committed slot", torn_trial_b, Block(trial_b), "A", "", {}},
      {"uncountable spent trial: the committed slot, nothing written",
       [&] {
         std::string b = Block(trial_b_spent);
         std::fill(b.begin() + 512, b.end(), '\0');
         return b;
       }(),
       Block(trial_b),
       "A",
       "",
       {}},
      // grubenv cut short (GRUB reads any size): GRUB and the agent read grubenv, not the older copy, so
      // a fallback GRUB records there is the one the agent reports.
      {"cut grubenv: the trial is counted down in it, not the stale copy", Block(trial_b).substr(0, 512),
       Block(Env({{"saved_entry", "A"}})), "B", "grubenv",
       Env({{"saved_entry", "B"}, {"boot_tries", "1"}, {"fallback_entry", "A"}})},
      {"cut grubenv: a spent trial falls back in it", Block(trial_b_spent).substr(0, 512), Block(trial_b),
       "A", "grubenv", Env({{"saved_entry", "A"}, {"kubeos_fell_back", "B"}})},
      {"a kubeos_env or prefix variable in grubenv redirects nothing",
       Block(Env({{"saved_entry", "B"},
                  {"boot_tries", "2"},
                  {"fallback_entry", "A"},
                  {"kubeos_env", "(hd0)/x"},
                  {"prefix", "(hd0)/y"}})),
       Block(committed_b), "B", "grubenv",
       Env({{"saved_entry", "B"},
            {"boot_tries", "1"},
            {"fallback_entry", "A"},
            {"kubeos_env", "(hd0)/x"},
            {"prefix", "(hd0)/y"}})},
      // A block GRUB cannot write still takes a delete: the one-shot next_entry is cleared in it.
      {"next_entry in a block GRUB cannot write: boots once, cleared",
       [&] {
         std::string b = Block(Env({{"saved_entry", "B"}, {"next_entry", "A"}}));
         std::fill(b.begin() + 512, b.end(), '\0');
         return b;
       }(),
       Block(committed_b), "A", "grubenv", Env({{"saved_entry", "B"}}), false},
      {"empty boot_tries is no trial",
       Block(Env({{"saved_entry", "B"}, {"boot_tries", ""}})),
       Block(committed_b),
       "B",
       "",
       {}},
      {"both unusable: slot A", kZeroed, kZeroed, "A", "", {}},
      {"neither exists: slot A", std::nullopt, std::nullopt, "A", "", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    StatusOr<GrubRun> run = BootOnce(dir->path(), c.grubenv, c.bak);
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->chosen, c.want_slot);
    const std::optional<std::string>& env_after = run->grubenv;
    const std::optional<std::string>& bak_after = run->bak;
    // GRUB rewrites a block in place, at the file's own size.
    auto rewritten = [&](const std::optional<std::string>& before) {
      return std::optional(Block(c.want_after).substr(0, before ? before->size() : agent::kGrubEnvSize));
    };
    if (c.exact) {
      EXPECT_EQ(env_after, c.written == "grubenv" ? rewritten(c.grubenv) : c.grubenv);
      EXPECT_EQ(bak_after, c.written == "grubenv.bak" ? rewritten(c.bak) : c.bak);
    } else {
      const std::optional<std::string>& w = c.written == "grubenv" ? env_after : bak_after;
      ASSERT_TRUE(w.has_value());
      StatusOr<GrubEnv> got = agent::DecodeGrubEnv(*w);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(Sorted(*got), Sorted(c.want_after));
      EXPECT_EQ(c.written == "grubenv" ? bak_after : env_after, c.written == "grubenv" ? c.bak : c.grubenv);
    }

    // The model, from the same files through the agent's reader (grubenv, else grubenv.bak).
    std::filesystem::path host_env = dir->path() / "model" / "grubenv";
    std::filesystem::create_directories(host_env.parent_path());
    std::filesystem::remove(host_env);
    std::filesystem::remove(host_env.string() + ".bak");
    if (c.grubenv) {
      ASSERT_TRUE(WriteFileAtomic(host_env, *c.grubenv).ok());
    }
    if (c.bak) {
      ASSERT_TRUE(WriteFileAtomic(host_env.string() + ".bak", *c.bak).ok());
    }
    StatusOr<agent::GrubEnvReading> read = agent::InspectGrubEnvFile(host_env);
    agent::GrubBoot model = read.ok() ? agent::SimulateGrubBoot(read->env, read->grub_can_write)
                                      : agent::SimulateGrubBoot(GrubEnv{});
    EXPECT_EQ(agent::SlotName(model.slot), run->chosen) << "SimulateGrubBoot disagrees with GRUB";
    if (!c.written.empty()) {
      EXPECT_EQ(Sorted(model.env_after), Sorted(c.want_after));
      ASSERT_TRUE(read.ok());
      EXPECT_EQ(read->from_copy, c.written == "grubenv.bak") << "the file GRUB saves to";
    }
  }
}

std::string Printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

// The agent's reader against GRUB's own: grub-editenv's "list" runs grub_envblk_open and
// grub_envblk_iterate (the code GRUB's load_env runs) and prints each variable as "name=value". Blocks are
// canonical ones damaged the way crashes and hands damage them: cut, zeroed from a sector on, bytes
// overwritten with the parser's special characters, lines inserted. Seeded, so a failure repeats.
TEST(GrubEditenv, ListsWhatTheParserReads) {
  if (!HaveTool("grub-editenv")) GTEST_SKIP() << "grub-editenv is not installed (hack/install-deps)";
  StatusOr<TempDir> dir = TempDir::Create("grub-editenv-diff");
  ASSERT_TRUE(dir.ok());
  std::mt19937 rng(20261204);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const std::string keys[] = {"saved_entry", "boot_tries",       "fallback_entry",
                              "next_entry",  "kubeos_fell_back", "x"};
  const std::string alphabet = "AB01=#\\\n x";
  const std::string specials("=#\\\n\0Aa", 7);
  constexpr int kBlocks = 300;
  int valid = 0;
  for (int i = 0; i < kBlocks; ++i) {
    GrubEnv env;
    for (size_t n = pick(5); n > 0; --n) {
      std::string value;
      for (size_t len = pick(6); len > 0; --len) value += alphabet[pick(alphabet.size())];
      env.Set(keys[pick(std::size(keys))], value);
    }
    std::string block = Block(env);
    switch (i % 5) {
      case 0:  // cut anywhere
        block.resize(pick(block.size() + 1));
        break;
      case 1:  // zeroed from a sector boundary (a torn in-place rewrite)
        std::fill(block.begin() + 512, block.end(), '\0');
        break;
      case 2: {  // a few bytes overwritten, mostly among the variables (the rest is '#' padding)
        const size_t used = block.find_last_not_of('#') + 2;
        for (size_t n = 1 + pick(4); n > 0; --n) {
          block[kGrubEnvHeader.size() + pick(used - kGrubEnvHeader.size())] = specials[pick(specials.size())];
        }
        break;
      }
      case 3: {  // a line inserted at the start of a line among the variables, the block grown
        std::vector<size_t> starts;
        const size_t used = block.find_last_not_of('#') + 1;
        for (size_t at = kGrubEnvHeader.size(); at < used; ++at) {
          if (block[at] == '\n') starts.push_back(at + 1);
        }
        block.insert(starts[pick(starts.size())],
                     std::vector<std::string>{"junk\n", "=v\n", "a\\\n", "#c\\\n"}[pick(4)]);
        break;
      }
      default:  // undamaged
        break;
    }
    SCOPED_TRACE(fmt::format("block {}: \"{}\"", i, Printable(block)));
    std::filesystem::path f = dir->path() / "grubenv";
    ASSERT_TRUE(WriteFileAtomic(f, block).ok());
    StatusOr<RunResult> listed = RunProgram({"grub-editenv", f.string(), "list"}, std::chrono::seconds(10));
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    auto parsed = agent::ParseGrubEnvBlock(block);
    ASSERT_EQ(parsed.ok(), listed->exit_code == 0) << "grub-editenv: " << listed->output;
    if (!parsed.ok()) continue;
    ++valid;
    std::string ours;
    for (const auto& [name, value] : *parsed) ours += fmt::format("{}={}\n", name, value);
    EXPECT_EQ(Printable(ours), Printable(listed->output));
  }
  EXPECT_GT(valid, kBlocks / 2) << "the generator should mostly make blocks GRUB opens";
}

}  // namespace
}  // namespace kubeos::agenttest
