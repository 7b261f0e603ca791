#include "sim/http_range.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>

namespace kubeos::sim {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Optional whitespace (RFC 9110 §5.6.3: SP / HTAB) removed from both ends.
std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// 1*DIGIT, saturating at 2^64-1 (such a position is past the end of anything we serve); nullopt otherwise.
std::optional<uint64_t> Digits(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    auto d = static_cast<uint64_t>(c - '0');
    v = v > (kMax - d) / 10 ? kMax : v * 10 + d;
  }
  return v;
}

}  // namespace

std::vector<std::string_view> HeaderValues(std::string_view head, std::string_view name) {
  std::vector<std::string_view> out;
  size_t pos = head.find("\r\n");  // past the request line
  while (pos != std::string_view::npos) {
    pos += 2;
    size_t end = head.find("\r\n", pos);
    std::string_view line =
        head.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (line.empty()) break;  // end of the header section
    // field-name ":" OWS field-value OWS; no whitespace is allowed before the colon (RFC 9112 §5.1).
    if (size_t colon = line.find(':');
        colon != std::string_view::npos && EqualsIgnoreCase(line.substr(0, colon), name)) {
      out.push_back(TrimOws(line.substr(colon + 1)));
    }
    pos = end;
  }
  return out;
}

RangeAnswer AnswerRange(const std::vector<std::string_view>& values, uint64_t size) {
  const RangeAnswer full;
  if (values.size() != 1) return full;  // none, or several Range fields (a sender error): ignored
  std::string_view v = values.front();
  constexpr std::string_view kUnit = "bytes=";
  if (v.size() < kUnit.size() || !EqualsIgnoreCase(v.substr(0, kUnit.size()), kUnit)) return full;
  v.remove_prefix(kUnit.size());
  // range-set = 1#range-spec: list elements separated by commas with optional whitespace; empty elements are
  // allowed by the list syntax (RFC 9110 §5.6.1.2) and skipped. Exactly one range is honoured.
  std::optional<std::string_view> spec;
  while (true) {
    size_t comma = v.find(',');
    std::string_view element = TrimOws(v.substr(0, comma));
    if (!element.empty()) {
      if (spec) return full;  // a multi-range request: answered whole
      spec = element;
    }
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  if (!spec) return full;
  size_t dash = spec->find('-');
  if (dash == std::string_view::npos) return full;
  std::string_view first_text = spec->substr(0, dash);
  std::string_view last_text = spec->substr(dash + 1);
  if (first_text.empty()) {  // suffix-range: "-" suffix-length
    std::optional<uint64_t> suffix = Digits(last_text);
    if (!suffix) return full;
    if (*suffix == 0) return {.kind = RangeAnswer::Kind::kUnsatisfiable};
    if (size == 0) return full;
    return {.kind = RangeAnswer::Kind::kPartial, .first = size - std::min(*suffix, size), .last = size - 1};
  }
  std::optional<uint64_t> first = Digits(first_text);
  if (!first) return full;
  uint64_t last = kMax;
  if (!last_text.empty()) {
    std::optional<uint64_t> l = Digits(last_text);
    if (!l || *l < *first) return full;  // "an int-range is invalid if last-pos < first-pos"
    last = *l;
  }
  if (*first >= size) return {.kind = RangeAnswer::Kind::kUnsatisfiable};
  return {.kind = RangeAnswer::Kind::kPartial, .first = *first, .last = std::min(last, size - 1)};
}

}  // namespace kubeos::sim
