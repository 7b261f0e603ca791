// Where and how to reach the API server: kubeconfig files and in-cluster service-account configuration,
// with client-go's semantics (KUBECONFIG list merge: first definition wins; relative paths resolved against
// the kubeconfig's directory; *-data fields preferred over file paths).
// Thread-safety: plain values.
#pragma once

#include <chrono>
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
  // When set, the token is read from this file on first use and re-read every bearer_token_reread_period
  // (bound service-account tokens rotate); it takes precedence over bearer_token, which is only the fallback
  // while the file cannot be read (client-go's cachingTokenSource).
  std::filesystem::path bearer_token_file;
  std::chrono::milliseconds bearer_token_reread_period{std::chrono::minutes(1)};  // client-go: 1 minute
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

// Where in-cluster configuration comes from. InClusterSourceFromEnvironment() fills it the way a pod sees it;
// tests point it at files of their own.
struct InClusterSource {
  std::string host;  // KUBERNETES_SERVICE_HOST
  std::string port;  // KUBERNETES_SERVICE_PORT
  std::filesystem::path token_file;
  std::filesystem::path ca_file;
  std::filesystem::path namespace_file;  // optional: a missing or empty file keeps "default"
};

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// $KUBERNETES_SERVICE_HOST/PORT and token, ca.crt and namespace under `sa_dir`.
InClusterSource InClusterSourceFromEnvironment(const std::filesystem::path& sa_dir = kServiceAccountDir);

// https://host:port with the token (re-read from token_file every bearer_token_reread_period) and CA.
// kFailedPrecondition when host or port is empty ("not running in a cluster").
StatusOr<RestConfig> InClusterConfig(const InClusterSource& source);

// InClusterConfig(InClusterSourceFromEnvironment(sa_dir)).
StatusOr<RestConfig> InClusterConfig(const std::filesystem::path& sa_dir = kServiceAccountDir);

// An explicit kubeconfig path if given; else $KUBECONFIG; else in-cluster; else ~/.kube/config.
StatusOr<RestConfig> LoadDefaultConfig(const std::filesystem::path& explicit_path = {});

}  // namespace kubeos::kube
