// Helpers shared by the configuration editors: value conversion, key and value checks, key paths, lines.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "common/status.h"

namespace kubeos::agent::config {

// The original's conversion for line-based files: null -> "", string -> as is, number/bool -> JSON text;
// arrays and objects -> nullopt ("unrecognised": the entry is skipped with a warning).
std::optional<std::string> ValueToText(const nlohmann::json& value);

// `s` with control characters escaped and in double quotes, for error messages.
std::string Quote(std::string_view s);

bool IsDelete(const ConfigEntry& e);

// Error unless `text` is free of characters that could start a new line or end a C string (\n, \r, \0).
// `what` is "key" or "value"; the message names the key.
Status CheckLineSafe(std::string_view key, std::string_view what, std::string_view text);

// Error unless the key and every string in the value (recursively) are valid UTF-8 without NUL: YAML and
// TOML files are UTF-8, and their writers would otherwise replace bytes, so the file would not say what was
// asked.
Status CheckUtf8Entry(const ConfigEntry& e);

// Error unless a YAML/TOML file is UTF-8 text: no NUL or other C0 control characters than tab, LF and CR.
// (Both formats forbid them; yaml-cpp would read them leniently and write a file it cannot read back.)
Status CheckTextFile(std::string_view text);

// Error when two entries share a key (the RPC carries contents as a JSON object, so a duplicate can only
// be a mistake).
Status CheckUniqueKeys(const std::vector<ConfigEntry>& entries);

// Splits a kubelet/containerd key path: segments separated by '.', a segment in double or single quotes
// may contain dots (`evictionHard."memory.available"`). Empty segments, unterminated or stray quotes are
// errors.
StatusOr<std::vector<std::string>> SplitKeyPath(std::string_view key);

std::string_view TrimWhitespace(std::string_view s);
bool HasWhitespace(std::string_view s);
// Splits on runs of spaces and tabs.
std::vector<std::string_view> SplitFields(std::string_view s);

// A text file as lines, keeping whether the last line ended with a newline, so untouched files round-trip
// byte for byte.
struct Lines {
  std::vector<std::string> lines;
  bool trailing_newline = true;
};
Lines SplitLines(std::string_view text);
std::string JoinLines(const Lines& lines);
// Appends a line; a last line without newline gets one first.
void AppendLine(Lines& lines, std::string line);

// The leading comment block of a file (lines that are blank or start with '#'), kept above a re-serialised
// YAML/TOML document, whose library drops comments.
std::string LeadingCommentBlock(std::string_view text);

}  // namespace kubeos::agent::config
