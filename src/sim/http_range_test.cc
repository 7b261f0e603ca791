#include "sim/http_range.h"

#include <gtest/gtest.h>

#include <string>

namespace kubeos::sim {
namespace {

using Kind = RangeAnswer::Kind;

constexpr RangeAnswer kFull{};
constexpr RangeAnswer kUnsatisfiable{.kind = Kind::kUnsatisfiable};
constexpr RangeAnswer Partial(uint64_t first, uint64_t last) {
  return {.kind = Kind::kPartial, .first = first, .last = last};
}

TEST(AnswerRange, RfcSingleRangeSemantics) {
  struct Case {
    std::string value;
    uint64_t size;
    RangeAnswer want;
  };
  const Case cases[] = {
      // int-range "N-M": inclusive, M clamped to size-1.
      {"bytes=0-0", 100, Partial(0, 0)},
      {"bytes=10-19", 100, Partial(10, 19)},
      {"bytes=10-99", 100, Partial(10, 99)},
      {"bytes=10-1000", 100, Partial(10, 99)},
      {"bytes=99-99", 100, Partial(99, 99)},
      {"bytes=0-18446744073709551615", 100, Partial(0, 99)},
      {"bytes=0-99999999999999999999999", 100, Partial(0, 99)},  // saturates
      // "N-": to the end.
      {"bytes=0-", 100, Partial(0, 99)},
      {"bytes=40-", 100, Partial(40, 99)},
      {"bytes=99-", 100, Partial(99, 99)},
      // suffix "-K": the last K bytes, all of them when K >= size.
      {"bytes=-1", 100, Partial(99, 99)},
      {"bytes=-30", 100, Partial(70, 99)},
      {"bytes=-100", 100, Partial(0, 99)},
      {"bytes=-500", 100, Partial(0, 99)},
      // Unsatisfiable: first-pos at or past the end, a zero suffix.
      {"bytes=100-", 100, kUnsatisfiable},
      {"bytes=100-200", 100, kUnsatisfiable},
      {"bytes=99999999999999999999999-", 100, kUnsatisfiable},
      {"bytes=-0", 100, kUnsatisfiable},
      {"bytes=0-", 0, kUnsatisfiable},
      {"bytes=0-0", 0, kUnsatisfiable},
      // A suffix on an empty representation is satisfiable but has no Content-Range: served whole.
      {"bytes=-5", 0, kFull},
      // Case-insensitive unit; list syntax: optional whitespace and empty elements.
      {"BYTES=1-2", 100, Partial(1, 2)},
      {"Bytes=1-2", 100, Partial(1, 2)},
      {"bytes=1-2,", 100, Partial(1, 2)},
      {"bytes=,1-2", 100, Partial(1, 2)},
      {"bytes=1-2 , ", 100, Partial(1, 2)},
      // Invalid: ignored, the whole representation.
      {"bytes=20-10", 100, kFull},  // last-pos < first-pos
      {"bytes=", 100, kFull},
      {"bytes=-", 100, kFull},
      {"bytes=,", 100, kFull},
      {"bytes=abc", 100, kFull},
      {"bytes=1-x", 100, kFull},
      {"bytes=x-1", 100, kFull},
      {"bytes=+1-2", 100, kFull},
      {"bytes=1 -2", 100, kFull},
      {"bytes=1--2", 100, kFull},
      {"bytes=--2", 100, kFull},
      {"bytes=-2-", 100, kFull},
      {"bytes 1-2", 100, kFull},
      {"bytes =1-2", 100, kFull},
      {"items=1-2", 100, kFull},
      {"1-2", 100, kFull},
      {"", 100, kFull},
      // Several ranges: ignored (served whole), as many servers do.
      {"bytes=0-1,5-6", 100, kFull},
      {"bytes=0-1, 5-", 100, kFull},
      {"bytes=-1,-2", 100, kFull},
  };
  for (const Case& c : cases) {
    RangeAnswer got = AnswerRange({c.value}, c.size);
    EXPECT_EQ(got, c.want) << "\"" << c.value << "\" size " << c.size << ": got kind "
                           << static_cast<int>(got.kind) << " " << got.first << "-" << got.last;
  }
}

TEST(AnswerRange, NoOrSeveralRangeFieldsServeEverything) {
  EXPECT_EQ(AnswerRange({}, 100), kFull);
  EXPECT_EQ(AnswerRange({"bytes=0-1", "bytes=0-1"}, 100), kFull);
}

TEST(HeaderValues, CaseInsensitiveNamesTrimmedValues) {
  const std::string head =
      "GET /x HTTP/1.1\r\nHost: h\r\nrange:bytes=1-2\r\nX-Range: bytes=3-4\r\nRANGE: \t bytes=5- \r\n"
      "Range : bytes=7-\r\n\r\nRange: bytes=9-";
  std::vector<std::string_view> got = HeaderValues(head, "range");
  ASSERT_EQ(got.size(), 2u);  // "Range :" (space before the colon) is not a Range field; the body is not read
  EXPECT_EQ(got[0], "bytes=1-2");
  EXPECT_EQ(got[1], "bytes=5-");
  EXPECT_TRUE(HeaderValues("GET /x HTTP/1.1\r\nHost: h\r\n\r\n", "range").empty());
  EXPECT_TRUE(HeaderValues("GET /range: HTTP/1.1\r\n", "range").empty());  // the request line is skipped
  EXPECT_EQ(HeaderValues("GET / HTTP/1.1\r\nRange: bytes=0-", "range").size(), 1u);  // no final CRLF
}

}  // namespace
}  // namespace kubeos::sim
