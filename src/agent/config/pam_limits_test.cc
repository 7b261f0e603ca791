#include "agent/config/pam_limits.h"

#include <gtest/gtest.h>

#include "agent/config/test_util.h"

namespace kubeos::agent::config {
namespace {

using testing::Del;
using testing::E;
using testing::ExpectGolden;
using testing::ExpectRejected;
using testing::Golden;
using testing::Rejected;

TEST(EditPamLimits, Golden) {
  const std::string orig =
      "# This file is managed by KubeOS for unit testing.\na 1 2 3\nb 4 5 6\nd 1 2 3\ne 4 5 6\nf 7 8 9\ng 7 "
      "8 9\n";
  const std::vector<Golden> cases = {
      // The original's unit test (config.rs pam_limits) minus the keys that are now errors ("", "a b"). Two
      // results differ on purpose (docs/config-models.md): "a 4.5.6" has another type and item than the line
      // "a 1 2 3", so it is a new limit and is appended instead of overwriting the other limit; "b 1.2._"
      // names a type/item that "b" does not have and holds "_", so it is skipped.
      {"original example",
       orig,
       {E("c", "7.8.9"), E("a", "4.5.6"), E("b", "1.2._", "add"), Del("e", "4.5.6"), Del("q", 20250),
        E("f", ""), E("g", "1.2"), E("r", "1.2"), E("w", "1.2"), E("d", "1._.3")},
       "# This file is managed by KubeOS for unit testing.\na 1 2 3\nb 4 5 6\nd 1 2 3\nf 7 8 9\ng 7 8 9\nc 7 "
       "8 9\n"
       "a 4 5 6\n"},
      // kubeos-original-behaviour.md §1.3.
      {"sample",
       "# /etc/security/limits.conf\n#\n#<domain> <type> <item> <value>\n\n# End of file\n",
       {E("*", "soft.nofile.65535")},
       "# /etc/security/limits.conf\n#\n#<domain> <type> <item> <value>\n\n# End of file\n* soft nofile "
       "65535\n"},
      {"tabs and repeated spaces are accepted",
       "*\tsoft\tnofile\t1024\n@dev   hard  nproc   50  # devs\n",
       {E("*", "soft.nofile.4096"), E("@dev", "hard.nproc.60")},
       "*\tsoft\tnofile\t4096\n@dev   hard  nproc   60  # devs\n"},
      {"the matching type and item are updated",
       "* hard core 0\n* soft nofile 1024\n",
       {E("*", "soft.nofile.2048")},
       "* hard core 0\n* soft nofile 2048\n"},
      {"'_' keeps a part and matches any",
       "* soft nofile 1024\n",
       {E("*", "_.nofile.2048")},
       "* soft nofile 2048\n"},
      {"delete needs all four fields",
       "* soft nofile 1024\n* hard nofile 1024\n",
       {Del("*", "hard.nofile.1024")},
       "* soft nofile 1024\n"},
      {"delete with another value keeps the line",
       "* soft nofile 1024\n",
       {Del("*", "soft.nofile.1")},
       "* soft nofile 1024\n"},
      {"numbers convert", "", {E("root", "-.priority.0")}, "root - priority 0\n"},
      {"blank lines survive",
       "a b c d\n\n\n# x\n",
       {E("z", "soft.nproc.5")},
       "a b c d\n\n\n# x\nz soft nproc 5\n"},
  };
  ExpectGolden(EditPamLimits, cases);
}

TEST(EditPamLimits, BadInput) {
  const std::vector<Rejected> cases = {
      {"empty key", "", {E("", 20250)}},
      {"space in key", "", {E("a b", "Webhook")}},
      {"newline in key", "", {E("a\nb", "soft.nofile.1")}},
      {"newline in value", "", {E("a", "soft.nofile.1\nroot")}},
      {"space in a value part", "", {E("a", "soft.no file.1")}},
      {"comment in a value part", "", {E("a", "soft.nofile.#1")}},
      {"three fields in the file", "a b c\n", {E("a", "soft.nofile.1")}},
      {"five fields in the file", "a b c d e\n", {E("a", "soft.nofile.1")}},
      {"duplicate key", "", {E("a", "1.2.3"), E("a", "4.5.6")}},
  };
  ExpectRejected(EditPamLimits, cases);
}

}  // namespace
}  // namespace kubeos::agent::config
