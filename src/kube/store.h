// The informer cache: objects by key ("namespace/name", or "name" for cluster-scoped kinds) as
// shared_ptr<const T>, with named indexers (e.g. pods by spec.nodeName, objects by label value). Cached
// objects are never changed in place: readers hold snapshots; writers replace pointers.
//
// Replace() installs a whole new map (and its indexes) in one swap, as a relist must (client-go
// cache.Store.Replace). Thread-safety: all methods are internally synchronised (readers share a lock).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kubeos::kube {

// "namespace/name" or "name" (cache.MetaNamespaceKeyFunc) of a Kubernetes object.
std::string ObjectKey(const nlohmann::json& object);
std::string ObjectResourceVersion(const nlohmann::json& object);

// Indexer helpers for JSON objects: the value at a JSON pointer ("/spec/nodeName"), or of one label.
std::function<std::vector<std::string>(const nlohmann::json&)> FieldIndexer(const std::string& json_pointer);
std::function<std::vector<std::string>(const nlohmann::json&)> LabelIndexer(std::string label);

template <typename T>
struct ObjectTraits {
  static std::string Key(const T& o) { return ObjectKey(o.metadata); }
  static std::string ResourceVersion(const T& o) {
    return o.metadata.value("resourceVersion", std::string());
  }
};
template <>
struct ObjectTraits<nlohmann::json> {
  static std::string Key(const nlohmann::json& o) { return ObjectKey(o); }
  static std::string ResourceVersion(const nlohmann::json& o) { return ObjectResourceVersion(o); }
};

template <typename T>
class Store {
 public:
  using Ptr = std::shared_ptr<const T>;
  using IndexFunc = std::function<std::vector<std::string>(const T&)>;

  // Adds an index; call before the store is filled (client-go also refuses indexers after start).
  void AddIndexer(const std::string& name, IndexFunc fn) {
    std::unique_lock lock(mu_);
    indexers_[name] = std::move(fn);
    auto& index = indexes_[name];
    for (const auto& [key, obj] : items_) IndexOne(indexers_[name], index, key, *obj);
  }

  Ptr Get(const std::string& key) const {
    std::shared_lock lock(mu_);
    auto it = items_.find(key);
    return it == items_.end() ? nullptr : it->second;
  }
  std::vector<Ptr> List() const {
    std::shared_lock lock(mu_);
    std::vector<Ptr> out;
    out.reserve(items_.size());
    for (const auto& [k, v] : items_) out.push_back(v);
    return out;
  }
  std::vector<std::string> ListKeys() const {
    std::shared_lock lock(mu_);
    std::vector<std::string> out;
    out.reserve(items_.size());
    for (const auto& [k, v] : items_) out.push_back(k);
    return out;
  }
  size_t Size() const {
    std::shared_lock lock(mu_);
    return items_.size();
  }
  // Objects whose indexer `name` yields `value` (cache.Indexer.ByIndex). Empty for an unknown index.
  std::vector<Ptr> ByIndex(const std::string& name, const std::string& value) const {
    std::shared_lock lock(mu_);
    std::vector<Ptr> out;
    auto idx = indexes_.find(name);
    if (idx == indexes_.end()) return out;
    auto keys = idx->second.find(value);
    if (keys == idx->second.end()) return out;
    for (const auto& k : keys->second) {
      if (auto it = items_.find(k); it != items_.end()) out.push_back(it->second);
    }
    return out;
  }

  // Inserts or replaces; returns the previous object (null if new).
  Ptr Upsert(Ptr obj) {
    std::string key = ObjectTraits<T>::Key(*obj);
    std::unique_lock lock(mu_);
    Ptr old;
    if (auto it = items_.find(key); it != items_.end()) {
      old = it->second;
      Unindex(key, *old);
      it->second = obj;
    } else {
      items_.emplace(key, obj);
    }
    for (auto& [name, fn] : indexers_) IndexOne(fn, indexes_[name], key, *obj);
    return old;
  }
  // Removes; returns the removed object (null if absent).
  Ptr Remove(const std::string& key) {
    std::unique_lock lock(mu_);
    auto it = items_.find(key);
    if (it == items_.end()) return nullptr;
    Ptr old = it->second;
    Unindex(key, *old);
    items_.erase(it);
    return old;
  }
  // Swaps in a whole new content; returns the previous one.
  std::unordered_map<std::string, Ptr> Replace(std::vector<Ptr> objects) {
    std::unordered_map<std::string, Ptr> items;
    items.reserve(objects.size());
    for (auto& o : objects) items[ObjectTraits<T>::Key(*o)] = std::move(o);
    std::unique_lock lock(mu_);
    std::map<std::string, Index> indexes;
    for (auto& [name, fn] : indexers_) {
      auto& index = indexes[name];
      for (const auto& [key, obj] : items) IndexOne(fn, index, key, *obj);
    }
    items_.swap(items);
    indexes_.swap(indexes);
    return items;  // now the old content
  }

 private:
  using Index = std::unordered_map<std::string, std::set<std::string>>;  // value -> keys

  static void IndexOne(const IndexFunc& fn, Index& index, const std::string& key, const T& obj) {
    for (auto& v : fn(obj)) index[v].insert(key);
  }
  void Unindex(const std::string& key, const T& obj) {
    for (auto& [name, fn] : indexers_) {
      auto& index = indexes_[name];
      for (auto& v : fn(obj)) {
        auto it = index.find(v);
        if (it == index.end()) continue;
        it->second.erase(key);
        if (it->second.empty()) index.erase(it);
      }
    }
  }

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Ptr> items_;  // guarded by mu_
  std::map<std::string, IndexFunc> indexers_;   // guarded by mu_
  std::map<std::string, Index> indexes_;        // guarded by mu_
};

}  // namespace kubeos::kube
