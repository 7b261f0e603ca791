#include "kube/store.h"

namespace kubeos::kube {

std::string ObjectKey(const nlohmann::json& object) {
  const nlohmann::json* meta = &object;
  if (auto it = object.find("metadata"); it != object.end()) meta = &*it;
  if (!meta->is_object()) return "";
  std::string ns = meta->value("namespace", std::string());
  std::string name = meta->value("name", std::string());
  return ns.empty() ? name : ns + "/" + name;
}

std::string ObjectResourceVersion(const nlohmann::json& object) {
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return "";
  return m->value("resourceVersion", std::string());
}

std::function<std::vector<std::string>(const nlohmann::json&)> FieldIndexer(const std::string& json_pointer) {
  return [ptr = nlohmann::json::json_pointer(json_pointer)](const nlohmann::json& o) {
    std::vector<std::string> out;
    if (o.contains(ptr)) {
      const auto& v = o.at(ptr);
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
    return out;
  };
}

std::function<std::vector<std::string>(const nlohmann::json&)> LabelIndexer(std::string label) {
  return [label = std::move(label)](const nlohmann::json& o) {
    std::vector<std::string> out;
    auto m = o.find("metadata");
    if (m == o.end() || !m->is_object()) return out;
    auto l = m->find("labels");
    if (l == m->end() || !l->is_object()) return out;
    auto v = l->find(label);
    if (v != l->end() && v->is_string()) out.push_back(v->get<std::string>());
    return out;
  };
}

}  // namespace kubeos::kube
