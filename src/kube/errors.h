// The one place where an API server response becomes a Status (design/STYLE.md rule 13).
//
// HTTP status and the metav1.Status body's `reason` pick the code:
//   404 NotFound, 409 AlreadyExists / Conflict, 410 Gone (Expired), 422 Invalid -> kInvalidArgument,
//   401 kUnauthenticated, 403 kPermissionDenied, 429 kResourceExhausted (+ Retry-After),
//   500/503/504 kUnavailable (+ Retry-After), 504 kDeadlineExceeded.
// The message is the server's message, so errors read like kubectl's.
#pragma once

#include <string_view>

#include "common/status.h"
#include "kube/http.h"

namespace kubeos::kube {

// OK for 2xx; otherwise the classified error. `what` names the request ("get nodes/n1").
Status StatusFromResponse(const HttpResponse& response, std::string_view what);

// The `reason` field of a metav1.Status body ("" if absent or not JSON).
std::string StatusReason(std::string_view body);

}  // namespace kubeos::kube
