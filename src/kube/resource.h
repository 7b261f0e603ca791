// Resource descriptors and request paths. Pure: no I/O (kube-rs's request builder habit), so paths and
// queries are unit-tested by string comparison.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace kubeos::kube {

struct Resource {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string plural;   // "nodes"
  bool namespaced = true;

  static Resource Nodes() { return {"", "v1", "nodes", false}; }
  static Resource Pods() { return {"", "v1", "pods", true}; }
  static Resource Namespaces() { return {"", "v1", "namespaces", false}; }
  static Resource Leases() { return {"coordination.k8s.io", "v1", "leases", true}; }
  static Resource Events() { return {"", "v1", "events", true}; }
  static Resource ConfigMaps() { return {"", "v1", "configmaps", true}; }
  static Resource ServiceAccounts() { return {"", "v1", "serviceaccounts", true}; }
  static Resource Deployments() { return {"apps", "v1", "deployments", true}; }
  static Resource DaemonSets() { return {"apps", "v1", "daemonsets", true}; }
  static Resource PodDisruptionBudgets() { return {"policy", "v1", "poddisruptionbudgets", true}; }
  static Resource CustomResourceDefinitions() {
    return {"apiextensions.k8s.io", "v1", "customresourcedefinitions", false};
  }
};

// "/api/v1/namespaces/ns/pods/name/eviction" etc. Empty ns for cluster-scoped or all-namespace paths; empty
// name for collections.
std::string ResourcePath(const Resource& r, std::string_view ns, std::string_view name = {},
                         std::string_view subresource = {});

// "?a=1&b=x%20y" from sorted parameters (empty values omitted); "" when none.
std::string QueryString(const std::map<std::string, std::string>& params);

std::string UrlEncode(std::string_view s);

}  // namespace kubeos::kube
