// Where and how to reach the API server: kubeconfig files and in-cluster service-account configuration,
// with client-go's semantics (KUBECONFIG list merge: first definition wins; relative paths resolved against
// the kubeconfig's directory; *-data fields preferred over file paths).
// Thread-safety: plain values.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kubeos::kube {

struct RestConfig {
  std::string server;  // https://host:port, no trailing slash
  std::string ca_pem;  // empty: system trust store
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string client_cert_pem;
  std::string client_key_pem;  // secret: never logged
  std::string bearer_token;    // secret: never logged
  // When set, the token is re-read from this file periodically (bound service-account tokens rotate).
  std::filesystem::path bearer_token_file;
  std::string default_namespace = "default";
  // Client-side token bucket (client-go defaults: 5 QPS, burst 10). qps <= 0 disables it.
  double qps = 5;
  int burst = 10;
  std::string user_agent = "kubeos-cpp";
};

// Loads one kubeconfig file; `context` empty means current-context.
StatusOr<RestConfig> LoadKubeconfig(const std::filesystem::path& path, std::string_view context = "");

// Loads from a colon-separated list of kubeconfig files (the KUBECONFIG convention), merged as client-go
// does.
StatusOr<RestConfig> LoadKubeconfigList(std::string_view paths, std::string_view context = "");

// KUBERNETES_SERVICE_HOST/PORT plus the service-account token, CA and namespace under `sa_dir`.
StatusOr<RestConfig> InClusterConfig(
    const std::filesystem::path& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// An explicit kubeconfig path if given; else $KUBECONFIG; else in-cluster; else ~/.kube/config.
StatusOr<RestConfig> LoadDefaultConfig(const std::filesystem::path& explicit_path = {});

}  // namespace kubeos::kube
