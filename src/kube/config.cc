#include "kube/config.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <vector>

#include "common/file.h"

namespace kubeos::kube {
namespace {

StatusOr<std::string> DecodeBase64(std::string_view in, std::string_view what) {
  std::string clean;
  clean.reserve(in.size());
  for (char c : in) {
    if (c != '\n' && c != '\r' && c != ' ') clean += c;
  }
  if (clean.size() % 4 != 0) return InvalidArgumentError(std::string(what) + ": invalid base64 length");
  std::string out(clean.size() / 4 * 3, '\0');
  int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return InvalidArgumentError(std::string(what) + ": invalid base64");
  size_t pad = 0;
  if (!clean.empty() && clean.back() == '=') ++pad;
  if (clean.size() > 1 && clean[clean.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

struct NamedMaps {
  // First definition of each name wins (client-go merge rule).
  std::vector<std::pair<std::string, YAML::Node>> clusters, users, contexts;
  std::vector<std::pair<std::string, std::filesystem::path>> origin_cluster, origin_user, origin_context;
  std::string current_context;
};

const YAML::Node* FindNamed(const std::vector<std::pair<std::string, YAML::Node>>& v,
                            const std::string& name) {
  for (const auto& [n, node] : v) {
    if (n == name) return &node;
  }
  return nullptr;
}

std::filesystem::path OriginOf(const std::vector<std::pair<std::string, std::filesystem::path>>& v,
                               const std::string& name) {
  for (const auto& [n, p] : v) {
    if (n == name) return p;
  }
  return {};
}

Status MergeFile(const std::filesystem::path& path, NamedMaps& maps) {
  KUBEOS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError("kubeconfig " + path.string() + ": " + e.what());
  }
  auto merge = [&](const char* key, const char* inner, auto& into, auto* origin) {
    if (!root[key] || !root[key].IsSequence()) return;
    for (const auto& item : root[key]) {
      if (!item["name"]) continue;
      auto name = item["name"].as<std::string>();
      if (FindNamed(into, name) != nullptr) continue;
      into.emplace_back(name, item[inner]);
      origin->emplace_back(name, path);
    }
  };
  try {
    merge("clusters", "cluster", maps.clusters, &maps.origin_cluster);
    merge("users", "user", maps.users, &maps.origin_user);
    merge("contexts", "context", maps.contexts, &maps.origin_context);
    if (maps.current_context.empty() && root["current-context"]) {
      maps.current_context = root["current-context"].as<std::string>();
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError("kubeconfig " + path.string() + ": " + e.what());
  }
  return Status::Ok();
}

// Reads `<key>-data` (base64) or `<key>` (a file, relative to the kubeconfig's directory).
StatusOr<std::string> DataOrFile(const YAML::Node& node, const std::string& key,
                                 const std::filesystem::path& origin) {
  if (node[key + "-data"]) return DecodeBase64(node[key + "-data"].as<std::string>(), key + "-data");
  if (node[key]) {
    std::filesystem::path p = node[key].as<std::string>();
    if (p.is_relative()) p = origin.parent_path() / p;
    return ReadFile(p);
  }
  return std::string();
}

StatusOr<RestConfig> Resolve(const NamedMaps& maps, std::string_view context_arg) {
  std::string context_name = context_arg.empty() ? maps.current_context : std::string(context_arg);
  if (context_name.empty())
    return InvalidArgumentError("kubeconfig: no context given and no current-context set");
  const YAML::Node* ctx = FindNamed(maps.contexts, context_name);
  if (ctx == nullptr) return NotFoundError("kubeconfig: context \"" + context_name + "\" not found");
  RestConfig cfg;
  try {
    auto cluster_name = (*ctx)["cluster"].as<std::string>("");
    auto user_name = (*ctx)["user"].as<std::string>("");
    if ((*ctx)["namespace"]) cfg.default_namespace = (*ctx)["namespace"].as<std::string>();
    const YAML::Node* cluster = FindNamed(maps.clusters, cluster_name);
    if (cluster == nullptr) return NotFoundError("kubeconfig: cluster \"" + cluster_name + "\" not found");
    auto corigin = OriginOf(maps.origin_cluster, cluster_name);
    cfg.server = (*cluster)["server"].as<std::string>("");
    while (!cfg.server.empty() && cfg.server.back() == '/') cfg.server.pop_back();
    if (cfg.server.empty())
      return InvalidArgumentError("kubeconfig: cluster \"" + cluster_name + "\" has no server");
    cfg.insecure_skip_tls_verify = (*cluster)["insecure-skip-tls-verify"].as<bool>(false);
    cfg.tls_server_name = (*cluster)["tls-server-name"].as<std::string>("");
    KUBEOS_ASSIGN_OR_RETURN(cfg.ca_pem, DataOrFile(*cluster, "certificate-authority", corigin));
    if (const YAML::Node* user = FindNamed(maps.users, user_name); user != nullptr) {
      auto uorigin = OriginOf(maps.origin_user, user_name);
      KUBEOS_ASSIGN_OR_RETURN(cfg.client_cert_pem, DataOrFile(*user, "client-certificate", uorigin));
      KUBEOS_ASSIGN_OR_RETURN(cfg.client_key_pem, DataOrFile(*user, "client-key", uorigin));
      cfg.bearer_token = (*user)["token"].as<std::string>("");
      if ((*user)["tokenFile"]) {
        std::filesystem::path p = (*user)["tokenFile"].as<std::string>();
        if (p.is_relative()) p = uorigin.parent_path() / p;
        cfg.bearer_token_file = p;
      }
      if ((*user)["exec"]) {
        return UnimplementedError("kubeconfig: user \"" + user_name +
                                  "\" uses an exec plugin, not supported yet");
      }
    } else if (!user_name.empty()) {
      return NotFoundError("kubeconfig: user \"" + user_name + "\" not found");
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(std::string("kubeconfig: ") + e.what());
  }
  return cfg;
}

}  // namespace

StatusOr<RestConfig> LoadKubeconfig(const std::filesystem::path& path, std::string_view context) {
  return LoadKubeconfigList(path.string(), context);
}

StatusOr<RestConfig> LoadKubeconfigList(std::string_view paths, std::string_view context) {
  const std::string all(paths);
  NamedMaps maps;
  bool any = false;
  while (!paths.empty()) {
    auto colon = paths.find(':');
    std::string_view one = paths.substr(0, colon);
    paths = colon == std::string_view::npos ? std::string_view{} : paths.substr(colon + 1);
    if (one.empty()) continue;
    std::filesystem::path p(one);
    if (!std::filesystem::exists(p)) continue;  // client-go ignores missing files in the list
    KUBEOS_RETURN_IF_ERROR(MergeFile(p, maps));
    any = true;
  }
  if (!any) {
    return NotFoundError("kubeconfig: no file exists at \"" + all +
                         "\" (check --kubeconfig or $KUBECONFIG, or run inside a cluster)");
  }
  return Resolve(maps, context);
}

InClusterSource InClusterSourceFromEnvironment(const std::filesystem::path& sa_dir) {
  InClusterSource src;
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");  // NOLINT(concurrency-mt-unsafe)
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");  // NOLINT(concurrency-mt-unsafe)
  if (host != nullptr) src.host = host;
  if (port != nullptr) src.port = port;
  src.token_file = sa_dir / "token";
  src.ca_file = sa_dir / "ca.crt";
  src.namespace_file = sa_dir / "namespace";
  return src;
}

StatusOr<RestConfig> InClusterConfig(const InClusterSource& source) {
  if (source.host.empty() || source.port.empty()) {
    return FailedPreconditionError("not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
  }
  RestConfig cfg;
  std::string h = source.host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6
  cfg.server = "https://" + h + ":" + source.port;
  cfg.bearer_token_file = source.token_file;
  KUBEOS_ASSIGN_OR_RETURN(cfg.bearer_token, ReadFile(cfg.bearer_token_file));
  while (!cfg.bearer_token.empty() && (cfg.bearer_token.back() == '\n' || cfg.bearer_token.back() == ' ')) {
    cfg.bearer_token.pop_back();
  }
  KUBEOS_ASSIGN_OR_RETURN(cfg.ca_pem, ReadFile(source.ca_file));
  if (!source.namespace_file.empty()) {
    if (auto ns = ReadFile(source.namespace_file); ns.ok() && !ns->empty()) cfg.default_namespace = *ns;
  }
  return cfg;
}

StatusOr<RestConfig> InClusterConfig(const std::filesystem::path& sa_dir) {
  return InClusterConfig(InClusterSourceFromEnvironment(sa_dir));
}

StatusOr<RestConfig> LoadDefaultConfig(const std::filesystem::path& explicit_path) {
  if (!explicit_path.empty()) return LoadKubeconfig(explicit_path);
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {  // NOLINT
    return LoadKubeconfigList(env);
  }
  auto in_cluster = InClusterConfig();
  if (in_cluster.ok() || in_cluster.status().code() != StatusCode::kFailedPrecondition) return in_cluster;
  const char* home = std::getenv("HOME");  // NOLINT(concurrency-mt-unsafe)
  if (home == nullptr) return NotFoundError("no kubeconfig: set KUBECONFIG or pass --kubeconfig");
  return LoadKubeconfig(std::filesystem::path(home) / ".kube" / "config");
}

}  // namespace kubeos::kube
