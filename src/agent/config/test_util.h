// Builders and table runners for configuration-model tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "agent/config/config.h"

namespace kubeos::agent::config::testing {

inline ConfigEntry E(std::string key, nlohmann::json value = nullptr, std::string op = "") {
  return ConfigEntry{std::move(key), std::move(value), std::move(op)};
}
inline ConfigEntry Del(std::string key, nlohmann::json value = nullptr) {
  return E(std::move(key), std::move(value), "delete");
}

// A golden case: the file before, the request, the file after.
struct Golden {
  std::string name;
  std::string before;
  std::vector<ConfigEntry> entries;
  std::string after;
};

// A request the editor must refuse with InvalidArgument; message_part (when set) must be in the message.
struct Rejected {
  std::string name;
  std::string before;
  std::vector<ConfigEntry> entries;
  std::string message_part;
};

// Each case gives `after`, reports a change exactly when the text changed, and is idempotent: the same
// request applied to the result changes nothing. `edit` is (text, entries) -> StatusOr<EditResult>.
template <typename Edit>
void ExpectGolden(Edit edit, const std::vector<Golden>& cases) {
  for (const Golden& c : cases) {
    SCOPED_TRACE(c.name);
    StatusOr<EditResult> got = edit(c.before, c.entries);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->text, c.after);
    EXPECT_EQ(got->changed, c.before != c.after);
    StatusOr<EditResult> again = edit(got->text, c.entries);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->text, got->text);
    EXPECT_FALSE(again->changed);
  }
}

template <typename Edit>
void ExpectRejected(Edit edit, const std::vector<Rejected>& cases) {
  for (const Rejected& c : cases) {
    SCOPED_TRACE(c.name);
    StatusOr<EditResult> got = edit(c.before, c.entries);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << got.status().ToString();
    EXPECT_NE(got.status().message().find(c.message_part), std::string::npos) << got.status().message();
  }
}

}  // namespace kubeos::agent::config::testing
