#include "kube/informer.h"

#include <algorithm>
#include <random>

namespace kubeos::kube {
namespace {

double Random01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// Errors after which the watch is simply restarted from the last RV (client-go: connection refused and
// TooManyRequests); anything else goes back to a relist.
bool RewatchAfter(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

}  // namespace

nlohmann::json StripForCache(nlohmann::json object) {
  if (auto m = object.find("metadata"); m != object.end() && m->is_object()) m->erase("managedFields");
  return object;
}

ListPlan PlanList(const std::string& last_rv, bool rv_unavailable, int64_t page_size) {
  if (rv_unavailable) return {"", page_size};
  if (last_rv.empty() || last_rv == "0") return {"0", page_size};
  return {last_rv, 0};
}

std::chrono::nanoseconds BackoffManager::Next(double random01) {
  auto now = clock_.Now();
  if (current_.count() == 0 || now - last_ > kResetAfter) {
    current_ = kInitial;
  } else {
    current_ = std::min<std::chrono::nanoseconds>(current_ * 2, kCap);
  }
  last_ = now;
  // Full jitter (factor 1.0): somewhere in [d, 2d).
  return current_ +
         std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(current_.count()) * random01));
}

void Reflector::Run(const std::stop_token& stop) {
  BackoffManager backoff;
  bool need_list = true;
  bool rv_unavailable = false;
  const std::string what = options_.resource.plural + (options_.ns.empty() ? "" : " in " + options_.ns);
  while (!stop.stop_requested()) {
    if (need_list) {
      ListPlan plan = PlanList(last_resource_version(), rv_unavailable, options_.page_size);
      ListOptions lo{.label_selector = options_.label_selector,
                     .field_selector = options_.field_selector,
                     .resource_version = plan.resource_version,
                     .limit = plan.limit,
                     .stop = stop};
      auto list = plan.limit > 0 ? client_.ListAll(options_.resource, options_.ns, lo)
                                 : client_.ListPage(options_.resource, options_.ns, lo);
      if (stop.stop_requested()) break;
      if (!list.ok()) {
        // 410 Gone, or the apiserver's "Too large resource version" (504, cause ResourceVersionTooLarge:
        // its cache is behind the RV asked for): the next list asks for the latest state instead
        // (client-go isExpiredError / isTooLargeResourceVersionError).
        if (list.status().code() == StatusCode::kGone ||
            list.status().message().find("Too large resource version") != std::string::npos) {
          rv_unavailable = true;
        }
        log::Warn("reflector: list failed, backing off",
                  {{"resource", what}, {"error", list.status().ToString()}});
        SleepFor(backoff.Next(Random01()), stop);
        continue;
      }
      std::string rv = list->value("/metadata/resourceVersion"_json_pointer, std::string());
      std::vector<nlohmann::json> items;
      auto& arr = (*list)["items"];
      items.reserve(arr.size());
      for (auto& i : arr) items.push_back(std::move(i));
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_rv_ = rv;
      }
      ++lists_;  // before the sink marks the informer synced, so observers see both together
      sink_.OnReplace(std::move(items), rv);
      rv_unavailable = false;
      need_list = false;
    }

    bool gone = false;
    Status event_error;
    const auto min_timeout = std::max(options_.min_watch_timeout, std::chrono::seconds(1));
    auto timeout =
        min_timeout +
        std::chrono::seconds(static_cast<int64_t>(Random01() * static_cast<double>(min_timeout.count())));
    WatchOptions wo{.label_selector = options_.label_selector,
                    .field_selector = options_.field_selector,
                    .resource_version = last_resource_version(),
                    .allow_bookmarks = true,
                    .timeout = timeout};
    ++watches_;
    Status s = client_.Watch(
        options_.resource, options_.ns, wo,
        [&](WatchEvent&& ev) {
          if (ev.type == WatchEvent::Type::kError) {
            int code = ev.object.value("code", 0);
            if (code == 410) {
              gone = true;
            } else {
              event_error = UnavailableError("watch " + what + ": error event: " + ev.object.dump());
            }
            return false;
          }
          std::string rv = ObjectResourceVersion(ev.object);
          if (ev.type != WatchEvent::Type::kBookmark) sink_.OnEvent(std::move(ev));
          if (!rv.empty()) {
            std::lock_guard<std::mutex> lock(mu_);
            last_rv_ = rv;
          }
          return true;
        },
        stop);
    if (stop.stop_requested()) break;
    if (gone || s.code() == StatusCode::kGone) {
      ++gone_;
      log::Info("reflector: resourceVersion too old, relisting", {{"resource", what}});
      need_list = true;
      SleepFor(backoff.Next(Random01()), stop);
      continue;
    }
    if (!event_error.ok()) s = event_error;
    if (s.ok()) continue;  // the server ended the watch (timeoutSeconds): resume from the last RV
    log::Warn("reflector: watch failed, backing off", {{"resource", what}, {"error", s.ToString()}});
    if (!RewatchAfter(s)) need_list = true;
    SleepFor(backoff.Next(Random01()), stop);
  }
}

}  // namespace kubeos::kube
