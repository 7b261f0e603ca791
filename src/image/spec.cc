#include "image/spec.h"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <array>
#include <cctype>
#include <limits>
#include <vector>

namespace kubeos::image {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr size_t kMaxVersionBytes = 64;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view KeyOf(std::string_view line) {
  size_t eq = line.find('=');
  if (eq == std::string_view::npos) return {};
  std::string_view key = line.substr(0, eq);
  while (!key.empty() && (key.front() == ' ' || key.front() == '\t')) key.remove_prefix(1);
  return key;
}

}  // namespace

StatusOr<uint64_t> ParseSize(std::string_view text) {
  std::string t = Lower(text);
  size_t digits = 0;
  while (digits < t.size() && std::isdigit(static_cast<unsigned char>(t[digits])) != 0) ++digits;
  if (digits == 0) return InvalidArgumentError(fmt::format("size {:?}: expected a number like 64M", text));
  std::string suffix = t.substr(digits);
  if (suffix.size() > 1 && (suffix.ends_with("ib") || suffix.ends_with('b'))) {
    suffix = suffix.substr(0, suffix.size() - (suffix.ends_with("ib") ? 2 : 1));
  }
  uint64_t mult = 1;
  if (suffix.empty() || suffix == "b") {
    mult = 1;
  } else if (suffix == "k") {
    mult = uint64_t{1} << 10;
  } else if (suffix == "m") {
    mult = kMiB;
  } else if (suffix == "g") {
    mult = uint64_t{1} << 30;
  } else if (suffix == "t") {
    mult = uint64_t{1} << 40;
  } else {
    return InvalidArgumentError(fmt::format("size {:?}: unknown unit (use K, M, G or T)", text));
  }
  uint64_t value = 0;
  for (size_t i = 0; i < digits; ++i) {
    auto d = static_cast<uint64_t>(t[i] - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - d) / 10) {
      return InvalidArgumentError(fmt::format("size {:?}: too large", text));
    }
    value = value * 10 + d;
  }
  if (value > std::numeric_limits<uint64_t>::max() / mult) {
    return InvalidArgumentError(fmt::format("size {:?}: too large", text));
  }
  if (value == 0) return InvalidArgumentError(fmt::format("size {:?}: must be positive", text));
  return value * mult;
}

Status ValidateVersion(std::string_view version) {
  if (version.empty()) return InvalidArgumentError("version must not be empty");
  if (version.size() > kMaxVersionBytes) {
    return InvalidArgumentError(
        fmt::format("version is {} bytes; at most {}", version.size(), kMaxVersionBytes));
  }
  constexpr std::string_view kForbidden = "|;&><,#!$\"'\\` ";
  for (char c : version) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e || kForbidden.find(c) != std::string_view::npos) {
      return InvalidArgumentError(fmt::format("version {:?}: character {:?} is not allowed", version, c));
    }
  }
  return Status::Ok();
}

std::string StampOsRelease(std::string_view existing, std::string_view version) {
  std::string out =
      fmt::format("NAME=\"KubeOS\"\nID=kubeos\nPRETTY_NAME=\"KubeOS {}\"\nVERSION_ID={}\n", version, version);
  while (!existing.empty()) {
    size_t nl = existing.find('\n');
    std::string_view line = existing.substr(0, nl);
    existing = nl == std::string_view::npos ? std::string_view{} : existing.substr(nl + 1);
    std::string_view key = KeyOf(line);
    if (key.empty() || key == "NAME" || key == "ID" || key == "PRETTY_NAME" || key == "VERSION_ID" ||
        key == "VERSION") {
      continue;
    }
    out += line;
    out += '\n';
  }
  return out;
}

std::string DerivedUuid(std::string_view seed) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> md{};
  SHA256(reinterpret_cast<const unsigned char*>(seed.data()), seed.size(), md.data());
  md[6] = static_cast<unsigned char>((md[6] & 0x0f) | 0x40);  // version 4
  md[8] = static_cast<unsigned char>((md[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string hex;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) hex += '-';
    hex += fmt::format("{:02x}", md[i]);
  }
  return hex;
}

StatusOr<std::string> DebugfsQuote(std::string_view arg) {
  std::string out = "\"";
  for (char c : arg) {
    if (c == '\n' || c == '\r' || c == '\0') {
      return InvalidArgumentError(fmt::format("path {:?}: names with line breaks are not supported", arg));
    }
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

uint64_t DefaultExtSize(uint64_t data_bytes, uint64_t inodes) {
  uint64_t need = data_bytes + data_bytes / 4 + inodes * 256 + 16 * kMiB;
  return (need + kMiB - 1) / kMiB * kMiB;
}

std::string GrubConfig(std::string_view fragment, std::string_view kernel_args) {
  if (kernel_args.empty()) return std::string(fragment);
  std::string out;
  while (!fragment.empty()) {
    size_t nl = fragment.find('\n');
    std::string_view line = fragment.substr(0, nl);
    fragment = nl == std::string_view::npos ? std::string_view{} : fragment.substr(nl + 1);
    out += line;
    size_t first = line.find_first_not_of(" \t");
    if (first != std::string_view::npos && line.substr(first).starts_with("linux ")) {
      out += ' ';
      out += kernel_args;
    }
    if (nl != std::string_view::npos) out += '\n';
  }
  return out;
}

}  // namespace kubeos::image
