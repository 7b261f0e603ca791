// The OS time window (spec.timewindow): is `now` inside it, and when does the next one start.
//
// Rules of the original (kubeos-original-behaviour.md §2.6), kept exactly: both bounds empty = always
// inside; one empty = invalid; each bound "HH:MM:SS" (daily) or "YYYY-MM-DD HH:MM:SS" (once), both in the
// same format; equal bounds invalid; a daily window whose end is before its start wraps past midnight; a
// dated window whose end is before its start is invalid; inside iff start < now < end (both exclusive).
// Addition: bounds are read in an IANA time zone (spec.timewindow.timezone, else the operator's local zone
// as in the original, else UTC), through the system tz database (Debian tzdata) via Howard Hinnant's date
// library, the implementation of C++20 <chrono> time zones (libstdc++ 12 lacks them).
//
// Pure apart from reading the immutable tz database. Thread-safety: stateless functions.
#pragma once

#include <optional>
#include <string_view>

#include "common/status.h"
#include "operator/model.h"

namespace kubeos::rollout {

struct WindowState {
  bool inside = true;
  // While outside: the next instant the window opens (absent when a dated window has passed).
  std::optional<Time> next_start;
};

// InvalidArgument for a window the original rejects, and for an unknown time zone.
StatusOr<WindowState> EvaluateTimeWindow(const std::optional<TimeWindowSpec>& window,
                                         std::string_view default_zone, Time now);

}  // namespace kubeos::rollout
