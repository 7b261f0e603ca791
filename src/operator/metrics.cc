#include "operator/metrics.h"

#include <fmt/format.h>

namespace kubeos::rollout {

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Metrics::SetOsStatus(const std::string& os, const OsStatus& status) {
  std::lock_guard<std::mutex> lock(mu_);
  OsGauges& g = os_[os];
  g.status = status;
  g.halted = false;
  for (const BadVersion& b : status.bad_versions) {
    if (b.version == status.target) g.halted = true;
  }
}

void Metrics::RemoveOs(const std::string& os) {
  std::lock_guard<std::mutex> lock(mu_);
  os_.erase(os);
}

void Metrics::AddAssignment(const std::string& os, std::string_view action) {
  std::lock_guard<std::mutex> lock(mu_);
  ++assigned_[{os, std::string(action)}];
}

void Metrics::ObserveReconcile(std::string_view result, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++reconciles_[std::string(result)];
  ++duration_count_;
  duration_sum_ += seconds;
  for (std::size_t i = 0; i < kReconcileBuckets.size(); ++i) {
    if (seconds <= kReconcileBuckets[i]) {
      ++buckets_[i];
      break;
    }
  }
}

void Metrics::AddApiWrite(std::string_view kind) {
  std::lock_guard<std::mutex> lock(mu_);
  ++writes_[std::string(kind)];
}

void Metrics::SetApiRequests(std::string_view client, std::uint64_t requests) {
  std::lock_guard<std::mutex> lock(mu_);
  requests_[std::string(client)] = requests;
}

void Metrics::SetLeader(bool leader) {
  std::lock_guard<std::mutex> lock(mu_);
  leader_ = leader;
}

void Metrics::SetCachesSynced(bool synced) {
  std::lock_guard<std::mutex> lock(mu_);
  synced_ = synced;
}

bool Metrics::leader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leader_;
}

std::string Metrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  auto line = [&out](std::string_view text) {
    out += text;
    out += '\n';
  };
  line("# HELP kubeos_os_nodes Selected nodes of an OS object by state.");
  line("# TYPE kubeos_os_nodes gauge");
  for (const auto& [os, g] : os_) {
    const std::string l = EscapeLabelValue(os);
    for (auto [state, n] : {std::pair{"total", g.status.total}, std::pair{"updated", g.status.updated},
                            std::pair{"in_progress", g.status.in_progress},
                            std::pair{"failed", g.status.failed}, std::pair{"pending", g.status.pending}}) {
      line(fmt::format("kubeos_os_nodes{{os=\"{}\",state=\"{}\"}} {}", l, state, n));
    }
  }
  line("# HELP kubeos_os_halted 1 while the OS object's target is listed in status.badVersions.");
  line("# TYPE kubeos_os_halted gauge");
  for (const auto& [os, g] : os_) {
    line(fmt::format("kubeos_os_halted{{os=\"{}\"}} {}", EscapeLabelValue(os), g.halted ? 1 : 0));
  }
  line("# HELP kubeos_assignments_total Nodes started on an operation.");
  line("# TYPE kubeos_assignments_total counter");
  for (const auto& [k, n] : assigned_) {
    line(fmt::format("kubeos_assignments_total{{os=\"{}\",action=\"{}\"}} {}", EscapeLabelValue(k.first),
                     EscapeLabelValue(k.second), n));
  }
  line("# HELP kubeos_reconcile_total Planning passes by result.");
  line("# TYPE kubeos_reconcile_total counter");
  for (const auto& [r, n] : reconciles_) {
    line(fmt::format("kubeos_reconcile_total{{result=\"{}\"}} {}", EscapeLabelValue(r), n));
  }
  line("# HELP kubeos_reconcile_duration_seconds Duration of one planning pass.");
  line("# TYPE kubeos_reconcile_duration_seconds histogram");
  std::int64_t cumulative = 0;
  for (std::size_t i = 0; i < kReconcileBuckets.size(); ++i) {
    cumulative += buckets_[i];
    line(fmt::format("kubeos_reconcile_duration_seconds_bucket{{le=\"{}\"}} {}", kReconcileBuckets[i],
                     cumulative));
  }
  line(fmt::format("kubeos_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {}", duration_count_));
  line(fmt::format("kubeos_reconcile_duration_seconds_sum {}", duration_sum_));
  line(fmt::format("kubeos_reconcile_duration_seconds_count {}", duration_count_));
  line("# HELP kubeos_api_writes_total API writes issued by the controller.");
  line("# TYPE kubeos_api_writes_total counter");
  for (const auto& [k, n] : writes_) {
    line(fmt::format("kubeos_api_writes_total{{kind=\"{}\"}} {}", EscapeLabelValue(k), n));
  }
  line("# HELP kubeos_api_requests_total HTTP requests sent to the apiserver, retries and watches included.");
  line("# TYPE kubeos_api_requests_total counter");
  for (const auto& [k, n] : requests_) {
    line(fmt::format("kubeos_api_requests_total{{client=\"{}\"}} {}", EscapeLabelValue(k), n));
  }
  line("# HELP kubeos_leader 1 while this replica is the one that plans.");
  line("# TYPE kubeos_leader gauge");
  line(fmt::format("kubeos_leader {}", leader_ ? 1 : 0));
  line("# HELP kubeos_caches_synced 1 once the OS, OSInstance and Node caches have synced.");
  line("# TYPE kubeos_caches_synced gauge");
  line(fmt::format("kubeos_caches_synced {}", synced_ ? 1 : 0));
  return out;
}

}  // namespace kubeos::rollout
