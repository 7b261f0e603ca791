// Small X.509 toolkit on OpenSSL 3 for the certificates our tests, the test control plane and the demo need:
// a CA, serving certificates (DNS and IP SANs), client certificates (CN = user, O = groups) and bare key
// pairs (service-account signing). Keys are ECDSA P-256: fast to generate, accepted by Kubernetes.
// Thread-safety: stateless functions.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace kubeos::pki {

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;  // secret: never logged
};

struct CertSpec {
  std::string common_name;
  std::vector<std::string> organizations;  // Kubernetes reads these as groups
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  bool server = false;  // extendedKeyUsage serverAuth
  bool client = false;  // extendedKeyUsage clientAuth
  std::chrono::hours validity{24 * 365};
};

StatusOr<CertAndKey> MakeCa(const std::string& common_name,
                            std::chrono::hours validity = std::chrono::hours(24 * 3650));
StatusOr<CertAndKey> MakeSignedCert(const CertAndKey& ca, const CertSpec& spec);

struct KeyPair {
  std::string private_pem;  // secret
  std::string public_pem;
};
StatusOr<KeyPair> MakeKeyPair();

// Standard base64 (for kubeconfig *-data fields).
std::string Base64Encode(std::string_view data);

}  // namespace kubeos::pki
