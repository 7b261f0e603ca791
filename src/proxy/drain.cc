#include "proxy/drain.h"

#include <fmt/format.h>

#include <algorithm>

#include "proxy/record.h"

namespace kubeos::node {
namespace {

using nlohmann::json;

bool Finished(const PodView& p) { return p.phase == "Succeeded" || p.phase == "Failed"; }

}  // namespace

StatusOr<PodView> PodViewFromJson(const json& pod) {
  if (!pod.is_object() || !pod.contains("metadata") || !pod["metadata"].is_object()) {
    return InvalidArgumentError("pod without metadata");
  }
  const json& md = pod["metadata"];
  PodView v;
  v.ns = md.value("namespace", "");
  v.name = md.value("name", "");
  v.uid = md.value("uid", "");
  if (pod.contains("status") && pod["status"].is_object()) v.phase = pod["status"].value("phase", "");
  if (md.contains("deletionTimestamp") && md["deletionTimestamp"].is_string()) {
    KUBEOS_ASSIGN_OR_RETURN(v.deletion_deadline, ParseTime(md["deletionTimestamp"].get<std::string>()));
  }
  if (md.contains("annotations") && md["annotations"].is_object()) {
    v.mirror = md["annotations"].contains("kubernetes.io/config.mirror");
  }
  if (md.contains("ownerReferences") && md["ownerReferences"].is_array()) {
    for (const auto& ref : md["ownerReferences"]) {
      if (ref.is_object() && ref.value("controller", false)) {
        v.controller_kind = ref.value("kind", "");
        v.controller_name = ref.value("name", "");
        break;
      }
    }
  }
  if (pod.contains("spec") && pod["spec"].is_object() && pod["spec"].contains("volumes") &&
      pod["spec"]["volumes"].is_array()) {
    for (const auto& vol : pod["spec"]["volumes"]) {
      if (vol.is_object() && vol.contains("emptyDir")) v.empty_dir = true;
    }
  }
  return v;
}

PodVerdict ClassifyPod(const PodView& pod, bool force) {
  const bool finished = Finished(pod);
  if (pod.controller_kind == "DaemonSet" && !finished) {
    if (!pod.controller_missing) return {PodClass::kIgnoreDaemonSet, "DaemonSet-managed"};
    if (!force) {
      return {PodClass::kRefuse,
              fmt::format("its DaemonSet {} no longer exists (set evictpodforce to evict it)",
                          pod.controller_name)};
    }
    return {PodClass::kEvict, "orphaned DaemonSet pod"};
  }
  if (pod.mirror) return {PodClass::kSkipMirror, "mirror pod"};
  if (pod.empty_dir && !finished) {
    if (!force) {
      return {PodClass::kRefuse,
              "has local storage (emptyDir) (set evictpodforce to evict it and lose the data)"};
    }
    return {PodClass::kEvict, "emptyDir data will be lost"};
  }
  if (pod.controller_kind.empty() && !finished) {
    if (!force) {
      return {PodClass::kRefuse,
              "is not managed by a controller (set evictpodforce to evict it; it will not come back)"};
    }
    return {PodClass::kEvict, "unmanaged pod will not come back"};
  }
  return {PodClass::kEvict, ""};
}

DrainRound PlanDrainRound(const std::vector<PodView>& pods, const DrainPolicy& policy,
                          const DrainMemory& memory, int64_t now) {
  DrainRound r;
  std::vector<const PodView*> to_go;
  for (const auto& p : pods) {
    PodVerdict v = ClassifyPod(p, policy.evictpodforce);
    if (v.cls == PodClass::kRefuse) r.refusals.push_back(fmt::format("{}: {}", p.Key(), v.reason));
    if (v.cls == PodClass::kEvict) to_go.push_back(&p);
    r.verdicts.emplace_back(p, std::move(v));
  }
  r.remaining = static_cast<int64_t>(to_go.size());
  if (!r.refusals.empty()) {
    r.refused = true;
    r.message = Truncate(fmt::format("drain refused: {}", fmt::join(r.refusals, "; ")));
    return r;
  }
  if (to_go.empty()) {
    r.done = true;
    return r;
  }
  auto mem = [&](const PodView& p) {
    auto it = memory.find(p.uid);
    return it == memory.end() ? PodMemory{} : it->second;
  };
  for (const PodView* p : to_go) {
    PodMemory m = mem(*p);
    if (p->deletion_deadline != 0 && now > p->deletion_deadline + kStuckTerminatingSeconds) {
      r.problems.push_back(fmt::format("{}: still terminating {} s after its grace period", p->Key(),
                                       now - p->deletion_deadline));
    } else if (!m.last_error.empty() && p->deletion_deadline == 0) {
      r.problems.push_back(fmt::format("{}: {}", p->Key(), m.last_error));
    }
  }
  const bool escalate = policy.escalation == Escalation::kDelete && policy.evictpodforce;
  if (now >= policy.deadline) {
    if (!escalate || now >= policy.deadline + kEscalationGraceSeconds) {
      r.abort = true;
      std::vector<std::string> names;
      names.reserve(to_go.size());
      for (const PodView* p : to_go) names.push_back(p->Key());
      r.message = Truncate(
          fmt::format("drain deadline passed with {} pod(s) left: {}{}", to_go.size(), fmt::join(names, ", "),
                      r.problems.empty() ? "" : fmt::format(" ({})", fmt::join(r.problems, "; "))));
      return r;
    }
    for (const PodView* p : to_go) {
      if (mem(*p).deleted_at == 0) r.remove.push_back(*p);
    }
    r.next_check = now + 1;
    return r;
  }
  int64_t next = now + kMaxRoundSeconds;
  for (const PodView* p : to_go) {
    if (p->deletion_deadline != 0) continue;  // terminating: awaited, re-listed next round
    PodMemory m = mem(*p);
    if (m.next_attempt <= now) {
      r.evict.push_back(*p);
    } else {
      next = std::min(next, m.next_attempt);
    }
  }
  r.next_check = std::min(next, policy.deadline);
  if (r.next_check <= now) r.next_check = now + 1;
  return r;
}

void RecordEviction(DrainMemory& memory, const PodView& pod, const Status& result, int64_t now) {
  PodMemory& m = memory[pod.uid];
  if (result.ok() || result.code() == StatusCode::kNotFound) {
    m.evicted_at = now;
    m.last_error.clear();
    m.next_attempt = now + kReEvictSeconds;
    return;
  }
  m.attempts++;
  m.last_error = result.message();
  if (result.code() == StatusCode::kResourceExhausted) {
    int64_t after = kPdbRetrySeconds;
    if (result.retry_after()) {
      after = std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(*result.retry_after()).count());
    }
    m.next_attempt = now + after;
    return;
  }
  int64_t backoff = int64_t{1} << std::min(m.attempts - 1, 5);
  m.next_attempt = now + std::min(backoff, kMaxEvictionBackoffSeconds);
}

}  // namespace kubeos::node
