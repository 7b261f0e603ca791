// A small REST client for any resource, on JSON documents (nlohmann::json). Typed wrappers, informers, work
// queues and leader election build on it.
//
// Every method returns the server's object (or list) or a Status classified by StatusFromResponse.
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"
#include "kube/config.h"
#include "kube/http.h"
#include "kube/resource.h"

namespace kubeos::kube {

enum class PatchType { kMerge, kJson, kStrategicMerge, kApply };

class Client {
 public:
  explicit Client(RestConfig config);

  StatusOr<nlohmann::json> Get(const Resource& r, std::string_view ns, std::string_view name);
  // One page of a list; `params` may carry labelSelector, fieldSelector, limit, continue, resourceVersion.
  StatusOr<nlohmann::json> List(const Resource& r, std::string_view ns,
                                const std::map<std::string, std::string>& params = {});
  StatusOr<nlohmann::json> Create(const Resource& r, std::string_view ns, const nlohmann::json& object);
  StatusOr<nlohmann::json> Update(const Resource& r, std::string_view ns, const nlohmann::json& object,
                                  std::string_view subresource = {});
  StatusOr<nlohmann::json> Patch(const Resource& r, std::string_view ns, std::string_view name,
                                 PatchType type, const nlohmann::json& patch,
                                 std::string_view subresource = {}, std::string_view field_manager = {},
                                 bool force = false);
  Status Delete(const Resource& r, std::string_view ns, std::string_view name,
                const nlohmann::json& delete_options = nullptr);

  // Raw access for callers that need it (watches, discovery).
  HttpTransport& transport() { return *transport_; }
  const RestConfig& config() const { return transport_->config(); }

 private:
  StatusOr<nlohmann::json> Send(const HttpRequest& request, std::string_view what);

  std::unique_ptr<HttpTransport> transport_;
};

}  // namespace kubeos::kube
