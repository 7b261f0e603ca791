#include "operator/budget.h"

#include <algorithm>

namespace kubeos::rollout {

namespace {

// Percentages above 100 are clamped: a share of the selected nodes cannot exceed all of them.
constexpr std::int64_t kMaxPercent = 100;

}  // namespace

std::int64_t ResolveMaxUnavailable(const IntOrPercent& v, std::int64_t total) {
  if (total <= 0 || v.value <= 0) return 0;
  if (!v.percent) return std::min(v.value, total);
  const std::int64_t pct = std::min(v.value, kMaxPercent);
  return std::max<std::int64_t>(1, pct * total / kMaxPercent);
}

std::int64_t ResolveFailureThreshold(const IntOrPercent& v, std::int64_t total) {
  if (v.value <= 0) return 0;
  if (!v.percent) return v.value;
  const std::int64_t pct = std::min(v.value, kMaxPercent);
  return std::max<std::int64_t>(1, (pct * total + kMaxPercent - 1) / kMaxPercent);
}

}  // namespace kubeos::rollout
