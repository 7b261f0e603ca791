// Resolving int-or-percent fields against the number of selected nodes: maxunavailable (the availability
// budget) and failurethreshold (the automatic halt). Pure. Thread-safety: stateless functions.
#pragma once

#include <cstdint>

#include "operator/model.h"

namespace kubeos::rollout {

// maxunavailable: an integer is clamped to [0, total] (the original clamps to the node count; 0 or less
// means nothing ever starts). A percentage is rounded down, as Kubernetes does for maxUnavailable, but at
// least 1 when both it and total are positive, so "10%" of 5 nodes still makes progress (MCO's rule).
std::int64_t ResolveMaxUnavailable(const IntOrPercent& v, std::int64_t total);

// failurethreshold: the number of failed nodes at which the rollout halts; 0 = never. A percentage is
// rounded up (halt no later than the stated share), at least 1 when positive.
std::int64_t ResolveFailureThreshold(const IntOrPercent& v, std::int64_t total);

}  // namespace kubeos::rollout
