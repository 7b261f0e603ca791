// Read-your-writes for the planner (docs/operator.md "Controller"): the objects the controller wrote (and,
// when it starts planning, the objects of a fresh quorum read) are kept until the informer cache shows a
// version at least as new. Until then, snapshots use the kept object instead of the cached one, so a pass
// can never plan from a cache that has not yet seen an earlier pass's writes and hand out the same free
// slot twice.
//
// "At least as new" compares resourceVersions as unsigned integers. The API calls them opaque, but every
// etcd3-backed kube-apiserver issues increasing integers (the watch cache itself orders by them); a value
// that does not parse counts as caught up only when equal. An object missing from the cache was deleted:
// its entry is dropped.
// Thread-safety: internally synchronised.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace kubeos::rollout {

// True when resourceVersion `cached` is at least `written` (see above).
bool ResourceVersionAtLeast(std::string_view cached, std::string_view written);

class WriteOverlay {
 public:
  using Ptr = std::shared_ptr<const nlohmann::json>;

  // Keeps `object` (as the server returned it) under `key` unless a newer one is already kept.
  void Record(const std::string& key, nlohmann::json object);
  // The object to plan from: the kept one while `cached` is older, else `cached` (dropping the entry).
  Ptr Resolve(const std::string& key, Ptr cached);
  void Clear();
  size_t Size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Ptr> kept_;  // guarded by mu_
};

}  // namespace kubeos::rollout
