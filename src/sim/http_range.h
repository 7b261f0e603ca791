// The file server's reading of a request head (pure, no I/O): header lookup and RFC 9110 single byte-range
// semantics (§14.1.2 syntax, §14.1.1 satisfiability, §14.2 "a server MAY ignore the Range header field").
//   "bytes=N-M"  bytes N..min(M, size-1)              206 (416 when N >= size)
//   "bytes=N-"   bytes N..size-1                      206 (416 when N >= size)
//   "bytes=-K"   the last K bytes (all when K >= size) 206 (416 when K is 0)
// Ignored (the whole representation, 200): a missing header, a syntactically invalid one (M < N, no digits,
// other units, spaces around "="), more than one range ("bytes=0-1,5-6"), more than one Range header, and a
// zero-length representation with a suffix range (satisfiable per §14.1.1 but not expressible as a
// Content-Range; served whole, as nginx does). Numbers too large for 64 bits saturate (they are past any
// end). Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace kubeos::sim {

// Values of every header field named `name` (case-insensitive) in an HTTP/1.1 request head (request line,
// CRLF-separated fields, optional final empty line), with surrounding whitespace removed.
std::vector<std::string_view> HeaderValues(std::string_view head, std::string_view name);

struct RangeAnswer {
  enum class Kind {
    kFull,           // 200: no (usable) Range, serve everything
    kPartial,        // 206: bytes first..last (inclusive)
    kUnsatisfiable,  // 416 with "Content-Range: bytes */size"
  };
  Kind kind = Kind::kFull;
  uint64_t first = 0, last = 0;  // kPartial only
  friend bool operator==(const RangeAnswer&, const RangeAnswer&) = default;
};

// How to answer a GET whose Range header fields are `values` (as HeaderValues returns them) for a
// representation of `size` bytes.
RangeAnswer AnswerRange(const std::vector<std::string_view>& values, uint64_t size);

}  // namespace kubeos::sim
