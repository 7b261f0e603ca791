#include "operator/overlay.h"

#include <charconv>
#include <cstdint>

namespace kubeos::rollout {

namespace {

std::optional<std::uint64_t> ParseRv(std::string_view rv) {
  std::uint64_t v = 0;
  if (rv.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(rv.data(), rv.data() + rv.size(), v);
  if (ec != std::errc() || p != rv.data() + rv.size()) return std::nullopt;
  return v;
}

std::string Rv(const nlohmann::json& o) {
  auto m = o.find("metadata");
  if (m == o.end() || !m->is_object()) return "";
  auto rv = m->find("resourceVersion");
  return rv != m->end() && rv->is_string() ? rv->get<std::string>() : "";
}

}  // namespace

bool ResourceVersionAtLeast(std::string_view cached, std::string_view written) {
  auto c = ParseRv(cached);
  auto w = ParseRv(written);
  if (c && w) return *c >= *w;
  return cached == written;
}

void WriteOverlay::Record(const std::string& key, nlohmann::json object) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = kept_.find(key);
  if (it != kept_.end() && ResourceVersionAtLeast(Rv(*it->second), Rv(object)) &&
      Rv(*it->second) != Rv(object)) {
    return;  // already keeping a newer one
  }
  kept_[key] = std::make_shared<const nlohmann::json>(std::move(object));
}

WriteOverlay::Ptr WriteOverlay::Resolve(const std::string& key, Ptr cached) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = kept_.find(key);
  if (it == kept_.end()) return cached;
  if (cached == nullptr || ResourceVersionAtLeast(Rv(*cached), Rv(*it->second))) {
    kept_.erase(it);
    return cached;
  }
  return it->second;
}

void WriteOverlay::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  kept_.clear();
}

size_t WriteOverlay::Size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return kept_.size();
}

}  // namespace kubeos::rollout
