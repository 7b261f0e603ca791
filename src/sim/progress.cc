#include "sim/progress.h"

#include <fmt/format.h>

#include <algorithm>

namespace kubeos::sim {
namespace {

std::string PodList(const std::set<std::string>& pods) {
  std::string out;
  int n = 0;
  for (const std::string& p : pods) {
    if (n++ == 3) {
      out += fmt::format(", +{}", pods.size() - 3);
      break;
    }
    if (!out.empty()) out += ", ";
    out += p;
  }
  return out;
}

bool Unavailable(const NodeView& n) { return !n.ready || n.unschedulable || n.working; }

}  // namespace

Counts CountNodes(const ClusterView& v, const std::string& target) {
  Counts c;
  for (const auto& [name, n] : v.nodes) {
    c.total++;
    if (n.os_image == target) c.on_target++;
    if (n.working) c.working++;
    if (n.unschedulable) c.cordoned++;
    if (!n.ready) c.not_ready++;
  }
  return c;
}

std::vector<std::pair<std::string, std::string>> DescribeChanges(const ClusterView& before,
                                                                 const ClusterView& after) {
  std::vector<std::pair<std::string, std::string>> out;
  const NodeView none;
  for (const auto& [name, n] : after.nodes) {
    auto it = before.nodes.find(name);
    const NodeView& b = it == before.nodes.end() ? none : it->second;
    if (n.working != b.working)
      out.emplace_back(name, n.working ? "assigned by os-operator" : "released (idle)");
    if (n.phase != b.phase && !n.phase.empty()) {
      std::string text = fmt::format("phase {} -> {}", b.phase.empty() ? "-" : b.phase, n.phase);
      if (!n.message.empty()) text += ": " + n.message;
      out.emplace_back(name, text);
    } else if (n.message != b.message && !n.message.empty()) {
      out.emplace_back(name, n.message);
    }
    if (n.unschedulable != b.unschedulable)
      out.emplace_back(name, n.unschedulable ? "cordoned" : "uncordoned");
    if (n.unschedulable && n.pods != b.pods) {
      std::set<std::string> gone;
      std::set_difference(b.pods.begin(), b.pods.end(), n.pods.begin(), n.pods.end(),
                          std::inserter(gone, gone.end()));
      if (!gone.empty()) out.emplace_back(name, fmt::format("evicted {}", PodList(gone)));
      if (n.pods.empty()) {
        out.emplace_back(name, "drained: no workload pods left");
      } else if (!gone.empty() || n.unschedulable != b.unschedulable) {
        out.emplace_back(name, fmt::format("draining: {} pod(s) left ({})", n.pods.size(), PodList(n.pods)));
      }
    }
    if (n.ready != b.ready) {
      out.emplace_back(name, n.ready ? fmt::format("Ready, osImage \"{}\"", n.os_image) : "NotReady");
    } else if (n.os_image != b.os_image && !b.os_image.empty()) {
      out.emplace_back(name, fmt::format("osImage \"{}\"", n.os_image));
    }
  }
  const OsView& o = after.os;
  const OsView& p = before.os;
  if (o.exists && (o.rollout != p.rollout || o.target != p.target || o.reason != p.reason)) {
    std::string text = fmt::format("{} \"{}\": {}", o.opstype, o.target, o.rollout.empty() ? "-" : o.rollout);
    if (!o.reason.empty() && o.reason != o.rollout) text += ", " + o.reason;
    if (!o.message.empty()) text += ": " + o.message;
    out.emplace_back("OS", text);
  }
  if (o.exists && p.exists && o.failed != p.failed) {
    out.emplace_back("OS", fmt::format("failed: {} of {} nodes (was {})", o.failed, o.total, p.failed));
  }
  if (o.bad_versions != p.bad_versions && !o.bad_versions.empty()) {
    out.emplace_back("OS", fmt::format("badVersions: {}", fmt::join(o.bad_versions, ", ")));
  }
  if (after.ready_replicas != before.ready_replicas && after.ready_replicas < after.min_available) {
    out.emplace_back("PDB", fmt::format("VIOLATED: {} ready < minAvailable {}", after.ready_replicas,
                                        after.min_available));
  }
  return out;
}

std::string DescribeHaltFailures(std::optional<int64_t> at_halt, int64_t at_end, int64_t total) {
  std::string end = fmt::format("{} of {} nodes failed or fell back", at_end, total);
  if (!at_halt) return end + " by the end of the phase; no halt was seen";
  if (at_end == *at_halt) return end + ", all before the halt (none after it)";
  if (at_end > *at_halt) {
    return fmt::format(
        "{} by the end of the phase: halted after {}, then {} more whose update was already in "
        "flight",
        end, *at_halt, at_end - *at_halt);
  }
  return fmt::format("{} by the end of the phase ({} when the halt was seen)", end, *at_halt);
}

int CountUnavailable(const ClusterView& v) {
  int n = 0;
  for (const auto& [name, node] : v.nodes) n += Unavailable(node) ? 1 : 0;
  return n;
}

void RolloutTracker::Observe(const ClusterView& v, Clock::time_point t) {
  int unavailable = 0;
  bool assigned_now = false;
  bool waiting = false;
  for (const auto& [name, n] : v.nodes) {
    if (Unavailable(n)) unavailable++;
    bool was = was_working_[name];
    NodeTiming& nt = nodes_[name];
    if (n.working && !was) {
      if (!nt.started) nt.started = t;
      assigned_now = true;
    }
    if (!n.working && was && n.os_image == target_) {
      nt.done = t;
      last_done_ = t;
    }
    if (!n.working && n.os_image != target_) waiting = true;
    was_working_[name] = n.working;
  }
  if (assigned_now && last_done_) {
    handoffs_.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(t - *last_done_));
    last_done_.reset();
  }
  if (!waiting) last_done_.reset();  // nothing left to hand off to
  max_unavailable_seen_ = std::max(max_unavailable_seen_, unavailable);
  if (unavailable > budget_) budget_violations_++;
  if (v.min_available > 0 && v.ready_replicas < v.min_available) pdb_violations_++;
  if (min_ready_seen_ < 0 || v.ready_replicas < min_ready_seen_) min_ready_seen_ = v.ready_replicas;
}

bool RolloutTracker::all_on_target(const ClusterView& v) const {
  for (const auto& [name, n] : v.nodes) {
    if (n.os_image != target_ || n.working || n.unschedulable || !n.ready) return false;
  }
  return !v.nodes.empty();
}

std::string SummarizeDurations(std::vector<std::chrono::milliseconds> d) {
  if (d.empty()) return "none";
  std::sort(d.begin(), d.end());
  auto at = [&](double q) {
    return d[std::min(d.size() - 1, static_cast<size_t>(q * static_cast<double>(d.size())))];
  };
  return fmt::format("p50 {} ms, p99 {} ms, max {} ms ({} samples)", at(0.5).count(), at(0.99).count(),
                     d.back().count(), d.size());
}

}  // namespace kubeos::sim
