#include "kube/errors.h"

#include <cstdlib>
#include <nlohmann/json.hpp>

namespace kubeos::kube {
namespace {

struct ParsedStatus {
  std::string reason;
  std::string message;
  int retry_after_seconds = 0;
  std::string causes;  // the details.causes messages, joined
};

ParsedStatus Parse(std::string_view body) {
  ParsedStatus p;
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return p;
  if (auto it = j.find("reason"); it != j.end() && it->is_string()) p.reason = it->get<std::string>();
  if (auto it = j.find("message"); it != j.end() && it->is_string()) p.message = it->get<std::string>();
  if (auto d = j.find("details"); d != j.end() && d->is_object()) {
    if (auto r = d->find("retryAfterSeconds"); r != d->end() && r->is_number_integer()) {
      p.retry_after_seconds = r->get<int>();
    }
    // Causes say why (e.g. which PodDisruptionBudget blocks an eviction, or which fields conflict).
    if (auto c = d->find("causes"); c != d->end() && c->is_array()) {
      for (const auto& cause : *c) {
        if (!cause.is_object()) continue;
        std::string m = cause.value("message", std::string());
        if (m.empty() || p.message.find(m) != std::string::npos) continue;
        p.causes += p.causes.empty() ? m : "; " + m;
      }
    }
  }
  return p;
}

}  // namespace

std::string StatusReason(std::string_view body) { return Parse(body).reason; }

Status StatusFromResponse(const HttpResponse& response, std::string_view what) {
  const long code = response.status;  // NOLINT(google-runtime-int)
  if (code >= 200 && code < 300) return Status::Ok();
  ParsedStatus p = Parse(response.body);
  std::string message = p.message;
  if (message.empty()) {
    message = "HTTP " + std::to_string(code);
    if (!response.body.empty() && response.body.size() < 256) message += ": " + response.body;
  }
  if (!p.causes.empty()) message += " (" + p.causes + ")";
  message = std::string(what) + ": " + message;

  StatusCode sc = StatusCode::kUnknown;
  switch (code) {
    case 400:
      sc = StatusCode::kInvalidArgument;
      break;
    case 401:
      sc = StatusCode::kUnauthenticated;
      break;
    case 403:
      sc = StatusCode::kPermissionDenied;
      break;
    case 404:
      sc = StatusCode::kNotFound;
      break;
    case 405:
    case 415:
      sc = StatusCode::kUnimplemented;
      break;
    case 409:
      sc = p.reason == "AlreadyExists" ? StatusCode::kAlreadyExists : StatusCode::kConflict;
      break;
    case 410:
      sc = StatusCode::kGone;
      break;
    case 422:
      sc = StatusCode::kInvalidArgument;
      break;
    case 429:
      sc = StatusCode::kResourceExhausted;
      break;
    case 500:
      sc = StatusCode::kInternal;
      break;
    case 502:
    case 503:
      sc = StatusCode::kUnavailable;
      break;
    case 504:
      sc = StatusCode::kDeadlineExceeded;
      break;
    default:
      sc = code >= 500 ? StatusCode::kUnavailable : StatusCode::kUnknown;
      break;
  }
  Status s(sc, std::move(message));
  int retry = p.retry_after_seconds;
  if (auto it = response.headers.find("retry-after"); it != response.headers.end()) {
    retry = std::atoi(it->second.c_str());
  }
  if (retry > 0) s.set_retry_after(std::chrono::seconds(retry));
  return s;
}

}  // namespace kubeos::kube
