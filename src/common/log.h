// Structured logging: one line per event, "<time> <level> <event> key=value ...", or one JSON object per
// line.
//
//   log::Info("control plane ready", {{"seconds", 3.2}, {"kubeconfig", path}});
//
// `error` means a human must act, `info` marks state transitions, `debug` is per-event detail.
// Never pass secrets (tokens, keys) as values. Thread-safe.
#pragma once

#include <fmt/format.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace kubeos::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct Field {
  template <typename T>
  Field(std::string_view k, const T& v) : key(k) {  // NOLINT(google-explicit-constructor): brace lists
    if constexpr (std::is_same_v<T, bool>) {
      value = v ? "true" : "false";
    } else {
      value = fmt::format("{}", v);
    }
  }
  std::string_view key;
  std::string value;
};

// Process-wide settings; call from main before starting threads.
void SetLevel(Level level);
void SetJson(bool json);
// Parses "debug" | "info" | "warn" | "error"; false if unknown.
bool ParseLevel(std::string_view text, Level* out);
bool Enabled(Level level);

void Write(Level level, std::string_view event, std::initializer_list<Field> fields);

inline void Debug(std::string_view event, std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, event, fields);
}
inline void Info(std::string_view event, std::initializer_list<Field> fields = {}) {
  Write(Level::kInfo, event, fields);
}
inline void Warn(std::string_view event, std::initializer_list<Field> fields = {}) {
  Write(Level::kWarn, event, fields);
}
inline void Error(std::string_view event, std::initializer_list<Field> fields = {}) {
  Write(Level::kError, event, fields);
}

// Formats a line without writing it (exposed for tests).
std::string FormatLine(Level level, std::string_view event, std::initializer_list<Field> fields, bool json);

}  // namespace kubeos::log
