#include "kube/client.h"

#include "kube/errors.h"

namespace kubeos::kube {
namespace {

std::string Describe(const Resource& r, std::string_view name) {
  std::string s = r.plural;
  if (!name.empty()) {
    s += "/";
    s += name;
  }
  return s;
}

std::string PatchContentType(PatchType t) {
  switch (t) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

}  // namespace

Client::Client(RestConfig config) : transport_(std::make_unique<HttpTransport>(std::move(config))) {}

StatusOr<nlohmann::json> Client::Send(const HttpRequest& request, std::string_view what) {
  KUBEOS_ASSIGN_OR_RETURN(HttpResponse resp, transport_->Do(request));
  KUBEOS_RETURN_IF_ERROR(StatusFromResponse(resp, what));
  auto j = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return DataLossError(std::string(what) + ": response is not valid JSON");
  return j;
}

StatusOr<nlohmann::json> Client::Get(const Resource& r, std::string_view ns, std::string_view name) {
  return Send({.method = "GET", .path = ResourcePath(r, ns, name)}, "get " + Describe(r, name));
}

StatusOr<nlohmann::json> Client::List(const Resource& r, std::string_view ns,
                                      const std::map<std::string, std::string>& params) {
  return Send({.method = "GET", .path = ResourcePath(r, ns) + QueryString(params)}, "list " + r.plural);
}

StatusOr<nlohmann::json> Client::Create(const Resource& r, std::string_view ns,
                                        const nlohmann::json& object) {
  std::string name = object.value("/metadata/name"_json_pointer, std::string());
  return Send({.method = "POST",
               .path = ResourcePath(r, ns),
               .body = object.dump(),
               .content_type = "application/json"},
              "create " + Describe(r, name));
}

StatusOr<nlohmann::json> Client::Update(const Resource& r, std::string_view ns, const nlohmann::json& object,
                                        std::string_view subresource) {
  std::string name = object.value("/metadata/name"_json_pointer, std::string());
  if (name.empty()) return InvalidArgumentError("update " + r.plural + ": object has no metadata.name");
  return Send({.method = "PUT",
               .path = ResourcePath(r, ns, name, subresource),
               .body = object.dump(),
               .content_type = "application/json"},
              "update " + Describe(r, name));
}

StatusOr<nlohmann::json> Client::Patch(const Resource& r, std::string_view ns, std::string_view name,
                                       PatchType type, const nlohmann::json& patch,
                                       std::string_view subresource, std::string_view field_manager,
                                       bool force) {
  std::map<std::string, std::string> params;
  if (!field_manager.empty()) params["fieldManager"] = std::string(field_manager);
  if (force) params["force"] = "true";
  if (type == PatchType::kApply && field_manager.empty()) {
    return InvalidArgumentError("apply " + Describe(r, name) + ": server-side apply needs a field manager");
  }
  return Send({.method = "PATCH",
               .path = ResourcePath(r, ns, name, subresource) + QueryString(params),
               .body = patch.dump(),
               .content_type = PatchContentType(type)},
              "patch " + Describe(r, name));
}

Status Client::Delete(const Resource& r, std::string_view ns, std::string_view name,
                      const nlohmann::json& delete_options) {
  HttpRequest req{.method = "DELETE", .path = ResourcePath(r, ns, name)};
  if (!delete_options.is_null()) {
    req.body = delete_options.dump();
    req.content_type = "application/json";
  }
  auto resp = transport_->Do(req);
  if (!resp.ok()) return resp.status();
  return StatusFromResponse(*resp, "delete " + Describe(r, name));
}

}  // namespace kubeos::kube
