#include "operator/time_window.h"

#include <date/tz.h>

#include <array>
#include <cctype>
#include <exception>
#include <string>

namespace kubeos::rollout {

namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// A daily window can open at the earliest today and at the latest the day after tomorrow (when today's
// local start is skipped by a DST gap and resolves to before now, tomorrow's still comes first).
constexpr int kDaysToSearch = 3;

struct Bound {
  bool dated = false;
  date::local_seconds day{};  // midnight of the date (dated bounds only)
  seconds time_of_day{};
};

bool Digits(std::string_view s, std::size_t pos, std::size_t n, int* out) {
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (std::isdigit(static_cast<unsigned char>(s[i])) == 0) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// "HH:MM:SS", as Go's time.Parse("15:04:05") accepts it: two digits each, hour <= 23, minute and second
// <= 59.
bool ParseTimeOfDay(std::string_view s, seconds* out) {
  int h = 0;
  int m = 0;
  int sec = 0;
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') return false;
  if (!Digits(s, 0, 2, &h) || !Digits(s, 3, 2, &m) || !Digits(s, 6, 2, &sec)) return false;
  if (h > 23 || m > 59 || sec > 59) return false;
  *out = hours(h) + minutes(m) + seconds(sec);
  return true;
}

StatusOr<Bound> ParseBound(std::string_view s, std::string_view which) {
  Bound b;
  if (s.size() == 8 && ParseTimeOfDay(s, &b.time_of_day)) return b;
  int y = 0;
  int mo = 0;
  int d = 0;
  if (s.size() == 19 && s[4] == '-' && s[7] == '-' && s[10] == ' ' && Digits(s, 0, 4, &y) &&
      Digits(s, 5, 2, &mo) && Digits(s, 8, 2, &d) && ParseTimeOfDay(s.substr(11), &b.time_of_day)) {
    const date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)},
                                   date::day{static_cast<unsigned>(d)}};
    if (ymd.ok()) {
      b.dated = true;
      b.day = date::local_days{ymd};
      return b;
    }
  }
  return InvalidArgumentError(std::string("timewindow.") + std::string(which) + " \"" + std::string(s) +
                              "\" is neither \"HH:MM:SS\" nor \"YYYY-MM-DD HH:MM:SS\"");
}

// The date library reports an unknown zone by throwing; this is the one place that catches it.
StatusOr<const date::time_zone*> LocateZone(const std::string& name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return InvalidArgumentError("unknown time zone \"" + name +
                                "\" (want an IANA name such as "
                                "\"Asia/Shanghai\" or \"UTC\")");
  }
}

Time ToSys(const date::time_zone* zone, date::local_seconds t) {
  // A local time skipped by a DST change resolves to the instant of the change; a repeated one to its
  // first occurrence.
  return zone->to_sys(t, date::choose::earliest);
}

}  // namespace

StatusOr<WindowState> EvaluateTimeWindow(const std::optional<TimeWindowSpec>& window,
                                         std::string_view default_zone, Time now) {
  if (!window || (window->start.empty() && window->end.empty())) return WindowState{};
  if (window->start.empty() || window->end.empty()) {
    return InvalidArgumentError("timewindow needs both starttime and endtime (or neither)");
  }
  KUBEOS_ASSIGN_OR_RETURN(const Bound start, ParseBound(window->start, "starttime"));
  KUBEOS_ASSIGN_OR_RETURN(const Bound end, ParseBound(window->end, "endtime"));
  if (start.dated != end.dated) {
    return InvalidArgumentError("timewindow starttime and endtime must use the same format");
  }
  std::string zone_name = window->timezone.empty() ? std::string(default_zone) : window->timezone;
  if (zone_name.empty()) zone_name = "UTC";
  KUBEOS_ASSIGN_OR_RETURN(const date::time_zone* zone, LocateZone(zone_name));

  if (start.dated) {
    const date::local_seconds s = start.day + start.time_of_day;
    const date::local_seconds e = end.day + end.time_of_day;
    if (e <= s) return InvalidArgumentError("timewindow endtime must be after starttime");
    const Time ss = ToSys(zone, s);
    const Time es = ToSys(zone, e);
    WindowState st;
    st.inside = ss < now && now < es;
    if (!st.inside && now <= ss) st.next_start = ss;
    return st;
  }

  if (start.time_of_day == end.time_of_day) {
    return InvalidArgumentError("timewindow starttime equals endtime");
  }
  const date::local_seconds local_now = zone->to_local(now);
  const date::local_days today = date::floor<date::days>(local_now);
  seconds tod = local_now - today;
  seconds end_tod = end.time_of_day;
  if (end_tod < start.time_of_day) {  // wraps past midnight
    end_tod += hours(24);
    if (tod < start.time_of_day) tod += hours(24);
  }
  WindowState st;
  st.inside = start.time_of_day < tod && tod < end_tod;
  if (!st.inside) {
    for (int d = 0; d < kDaysToSearch; ++d) {
      const Time candidate = ToSys(zone, today + date::days(d) + start.time_of_day);
      if (candidate >= now) {
        st.next_start = candidate;
        break;
      }
    }
  }
  return st;
}

}  // namespace kubeos::rollout
