// Resolution of the operator's default time zone: flag, TZ, /etc/localtime link or contents, UTC. Uses the
// system tz database (Debian tzdata) and files in a temporary directory.
#include "operator/time_zone.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/file.h"

namespace kubeos::rollout {
namespace {

namespace fs = std::filesystem;
const fs::path kZoneinfo = "/usr/share/zoneinfo";

TEST(ResolveTimeZone, OrderOfSources) {
  auto dir = TempDir::Create("tz");
  ASSERT_TRUE(dir.ok());
  const fs::path link = dir->path() / "localtime-link";
  fs::create_symlink(kZoneinfo / "Europe/Berlin", link);
  const fs::path copy = dir->path() / "localtime-copy";
  fs::copy_file(kZoneinfo / "Asia/Shanghai", copy);  // a bind-mounted host file
  const fs::path missing = dir->path() / "missing";
  const fs::path garbage = dir->path() / "garbage";
  std::ofstream(garbage) << "not a tzfile";

  struct Case {
    const char* name;
    const char* flag;
    std::optional<std::string> tz;
    fs::path localtime;
    const char* want;
    const char* source;
    bool warns;
  };
  const Case cases[] = {
      {"flag wins", "America/New_York", "Europe/Paris", link, "America/New_York", "flag", false},
      {"TZ next", "", "Europe/Paris", link, "Europe/Paris", "TZ", false},
      {"TZ with colon", "", ":Europe/Paris", link, "Europe/Paris", "TZ", false},
      {"TZ as a path", "", "/usr/share/zoneinfo/Europe/Paris", missing, "Europe/Paris", "TZ", false},
      {"bad TZ falls through with a warning", "", "Mars/Olympus", link, "Europe/Berlin",
       "/etc/localtime link", true},
      {"link", "", std::nullopt, link, "Europe/Berlin", "/etc/localtime link", false},
      {"copied file matched by contents", "", std::nullopt, copy, "Asia/Shanghai", "/etc/localtime contents",
       false},
      {"nothing: UTC with a warning", "", std::nullopt, missing, "UTC", "default", true},
      {"unknown contents: UTC with a warning", "", "", garbage, "UTC", "default", true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto z = ResolveTimeZone(c.flag, c.tz, c.localtime, kZoneinfo);
    ASSERT_TRUE(z.ok()) << z.status().ToString();
    EXPECT_EQ(z->name, c.want);
    EXPECT_EQ(z->source, c.source);
    EXPECT_EQ(!z->warning.empty(), c.warns) << z->warning;
  }
  auto bad = ResolveTimeZone("Mars/Olympus", std::nullopt, link, kZoneinfo);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(ZoneExists, Table) {
  EXPECT_TRUE(ZoneExists("UTC"));
  EXPECT_TRUE(ZoneExists("Asia/Shanghai"));
  EXPECT_FALSE(ZoneExists(""));
  EXPECT_FALSE(ZoneExists("Mars/Olympus"));
}

}  // namespace
}  // namespace kubeos::rollout
