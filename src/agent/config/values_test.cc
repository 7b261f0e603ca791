#include "agent/config/values.h"

#include <gtest/gtest.h>

namespace kubeos::agent::config {
namespace {

TEST(ValueToText, ConvertsLikeTheOriginal) {
  EXPECT_EQ(ValueToText(nullptr), "");
  EXPECT_EQ(ValueToText("abc"), "abc");
  EXPECT_EQ(ValueToText(42), "42");
  EXPECT_EQ(ValueToText(-7), "-7");
  EXPECT_EQ(ValueToText(2.5), "2.5");
  EXPECT_EQ(ValueToText(true), "true");
  EXPECT_EQ(ValueToText(nlohmann::json::parse("18446744073709551615")), "18446744073709551615");
  EXPECT_EQ(ValueToText(nlohmann::json::array({1})), std::nullopt);
  EXPECT_EQ(ValueToText(nlohmann::json::object()), std::nullopt);
}

TEST(SplitKeyPath, Segments) {
  struct Case {
    std::string key;
    std::vector<std::string> want;
  };
  for (const Case& c : std::vector<Case>{
           {"a", {"a"}},
           {"a.b.c", {"a", "b", "c"}},
           {"evictionHard.\"memory.available\"", {"evictionHard", "memory.available"}},
           {"plugins.'io.containerd.grpc.v1.cri'.x", {"plugins", "io.containerd.grpc.v1.cri", "x"}},
           {"\"a.b\"", {"a.b"}},
       }) {
    StatusOr<std::vector<std::string>> got = SplitKeyPath(c.key);
    ASSERT_TRUE(got.ok()) << c.key << ": " << got.status().ToString();
    EXPECT_EQ(*got, c.want) << c.key;
  }
}

TEST(SplitKeyPath, RejectsMalformedKeys) {
  for (const std::string key : {"", ".", "a.", ".a", "a..b", "a\"b\"", "\"a", "a.\"b", "\"a\"b", "a.\"\""}) {
    StatusOr<std::vector<std::string>> got = SplitKeyPath(key);
    EXPECT_FALSE(got.ok()) << key;
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(Lines, RoundTrip) {
  for (const std::string text : {"", "a", "a\n", "a\n\nb", "\n\n", "a\r\nb\r\n"}) {
    EXPECT_EQ(JoinLines(SplitLines(text)), text);
  }
  Lines l = SplitLines("a");
  AppendLine(l, "b");
  EXPECT_EQ(JoinLines(l), "a\nb\n");
}

TEST(LeadingCommentBlock, KeepsTheHeader) {
  EXPECT_EQ(LeadingCommentBlock("# one\n# two\n\nkey: 1\n# later\n"), "# one\n# two\n\n");
  EXPECT_EQ(LeadingCommentBlock("key: 1\n"), "");
  EXPECT_EQ(LeadingCommentBlock("# only"), "# only\n");
}

TEST(Quote, EscapesControlCharacters) {
  EXPECT_EQ(Quote(std::string("a\nb\0c\"", 6)), "\"a\\nb\\x00c\\\"\"");
}

}  // namespace
}  // namespace kubeos::agent::config
