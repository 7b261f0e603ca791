#include "agent/config/values.h"

#include <fmt/format.h>

#include <cstdint>
#include <set>

namespace kubeos::agent::config {

std::optional<std::string> ValueToText(const nlohmann::json& value) {
  if (value.is_null()) return std::string();
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number() || value.is_boolean()) return value.dump();
  return std::nullopt;
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

bool IsDelete(const ConfigEntry& e) { return e.operation == kOperationDelete; }

Status CheckLineSafe(std::string_view key, std::string_view what, std::string_view text) {
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\0') {
      return InvalidArgumentError(
          fmt::format("key {}: {} contains a line break or NUL; remove it", Quote(key), what));
    }
  }
  return Status::Ok();
}

namespace {

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values above U+10FFFF.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

Status CheckUtf8Value(const ConfigEntry& e, const nlohmann::json& v) {
  if (v.is_string() && !IsValidUtf8(v.get_ref<const std::string&>())) {
    return InvalidArgumentError(
        fmt::format("key {}: value is not valid UTF-8 or contains NUL", Quote(e.key)));
  }
  if (v.is_array()) {
    for (const auto& x : v) KUBEOS_RETURN_IF_ERROR(CheckUtf8Value(e, x));
  }
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) {
      if (!IsValidUtf8(k)) {
        return InvalidArgumentError(
            fmt::format("key {}: an object key in the value is not valid UTF-8", Quote(e.key)));
      }
      KUBEOS_RETURN_IF_ERROR(CheckUtf8Value(e, x));
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckUtf8Entry(const ConfigEntry& e) {
  if (!IsValidUtf8(e.key)) {
    return InvalidArgumentError(fmt::format("key {} is not valid UTF-8 or contains NUL", Quote(e.key)));
  }
  return CheckUtf8Value(e, e.value);
}

Status CheckTextFile(std::string_view text) {
  if (!IsValidUtf8(text))
    return InvalidArgumentError("the file is not UTF-8 text (invalid byte sequence or NUL)");
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    // DEL is let through: yaml-cpp writes it raw inside quoted strings, and TOML's parser judges it itself.
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      return InvalidArgumentError(
          fmt::format("the file contains control character 0x{:02x} at byte {}", c, i));
    }
  }
  return Status::Ok();
}

Status CheckUniqueKeys(const std::vector<ConfigEntry>& entries) {
  std::set<std::string_view> seen;
  for (const ConfigEntry& e : entries) {
    if (!seen.insert(e.key).second) {
      return InvalidArgumentError(fmt::format("key {} appears twice; give each key once", Quote(e.key)));
    }
  }
  return Status::Ok();
}

StatusOr<std::vector<std::string>> SplitKeyPath(std::string_view key) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError(
        fmt::format("key {}: {}; write segments separated by '.', quoting a segment "
                    "that contains dots (a.\"b.c\")",
                    Quote(key), why));
  };
  std::vector<std::string> out;
  size_t i = 0;
  while (true) {
    if (i >= key.size()) return bad("empty segment");
    std::string seg;
    char q = key[i];
    if (q == '"' || q == '\'') {
      size_t end = key.find(q, i + 1);
      if (end == std::string_view::npos) return bad("unterminated quote");
      seg = std::string(key.substr(i + 1, end - i - 1));
      i = end + 1;
      if (i < key.size() && key[i] != '.') return bad("text after a closing quote");
    } else {
      size_t end = i;
      while (end < key.size() && key[end] != '.') {
        if (key[end] == '"' || key[end] == '\'') return bad("quote inside a segment");
        ++end;
      }
      seg = std::string(key.substr(i, end - i));
      i = end;
    }
    if (seg.empty()) return bad("empty segment");
    out.push_back(std::move(seg));
    if (i == key.size()) return out;
    ++i;  // the '.'
  }
}

std::string_view TrimWhitespace(std::string_view s) {
  constexpr std::string_view kWs = " \t\r\n\v\f";
  size_t b = s.find_first_not_of(kWs);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(kWs);
  return s.substr(b, e - b + 1);
}

bool HasWhitespace(std::string_view s) { return s.find_first_of(" \t\r\n\v\f") != std::string_view::npos; }

std::vector<std::string_view> SplitFields(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t b = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

Lines SplitLines(std::string_view text) {
  Lines out;
  if (text.empty()) return out;
  size_t b = 0;
  while (b < text.size()) {
    size_t e = text.find('\n', b);
    if (e == std::string_view::npos) {
      out.lines.emplace_back(text.substr(b));
      out.trailing_newline = false;
      return out;
    }
    out.lines.emplace_back(text.substr(b, e - b));
    b = e + 1;
  }
  out.trailing_newline = true;
  return out;
}

std::string JoinLines(const Lines& lines) {
  std::string out;
  for (size_t i = 0; i < lines.lines.size(); ++i) {
    if (i > 0) out += '\n';
    out += lines.lines[i];
  }
  if (!lines.lines.empty() && lines.trailing_newline) out += '\n';
  return out;
}

void AppendLine(Lines& lines, std::string line) {
  lines.lines.push_back(std::move(line));
  lines.trailing_newline = true;
}

std::string LeadingCommentBlock(std::string_view text) {
  std::string block;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t e = text.find('\n', pos);
    std::string_view line = text.substr(pos, e == std::string_view::npos ? std::string_view::npos : e - pos);
    std::string_view t = TrimWhitespace(line);
    if (!t.empty() && t[0] != '#') break;
    block.append(line);
    block += '\n';
    if (e == std::string_view::npos) break;
    pos = e + 1;
  }
  return block;
}

}  // namespace kubeos::agent::config
