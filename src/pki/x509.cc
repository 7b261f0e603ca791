#include "pki/x509.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace kubeos::pki {
namespace {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;

Status OpenSslError(std::string_view what) {
  unsigned long e = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return InternalError(std::string(what) + ": " + buf);
}

StatusOr<PKey> NewKey() {
  PKey key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("generate EC key");
  return key;
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);  // NOLINT(google-runtime-int)
  return {data, static_cast<size_t>(n)};
}

StatusOr<std::string> KeyPem(EVP_PKEY* key, bool is_private) {
  Bio bio(BIO_new(BIO_s_mem()));
  int ok = is_private ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
                      : PEM_write_bio_PUBKEY(bio.get(), key);
  if (ok != 1) return OpenSslError("encode key");
  return BioToString(bio.get());
}

StatusOr<std::string> CertPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(bio.get(), cert) != 1) return OpenSslError("encode certificate");
  return BioToString(bio.get());
}

StatusOr<PKey> ParseKey(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PKey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return OpenSslError("parse CA key");
  return key;
}

StatusOr<Cert> ParseCert(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return OpenSslError("parse CA certificate");
  return cert;
}

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return OpenSslError("certificate extension " + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return OpenSslError("add certificate extension");
  return Status::Ok();
}

StatusOr<Cert> NewCert(EVP_PKEY* key, const std::string& cn, const std::vector<std::string>& orgs,
                       std::chrono::hours validity) {
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return OpenSslError("random serial");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(validity.count()) * 3600);  // NOLINT
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& o : orgs) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(o.c_str()),
                               -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                             -1, -1, 0);
  return cert;
}

}  // namespace

StatusOr<CertAndKey> MakeCa(const std::string& common_name, std::chrono::hours validity) {
  KUBEOS_ASSIGN_OR_RETURN(PKey key, NewKey());
  KUBEOS_ASSIGN_OR_RETURN(Cert cert, NewCert(key.get(), common_name, {}, validity));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  KUBEOS_RETURN_IF_ERROR(AddExt(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE"));
  KUBEOS_RETURN_IF_ERROR(
      AddExt(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"));
  KUBEOS_RETURN_IF_ERROR(AddExt(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return OpenSslError("sign CA certificate");
  CertAndKey out;
  KUBEOS_ASSIGN_OR_RETURN(out.cert_pem, CertPem(cert.get()));
  KUBEOS_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get(), true));
  return out;
}

StatusOr<CertAndKey> MakeSignedCert(const CertAndKey& ca, const CertSpec& spec) {
  KUBEOS_ASSIGN_OR_RETURN(PKey ca_key, ParseKey(ca.key_pem));
  KUBEOS_ASSIGN_OR_RETURN(Cert ca_cert, ParseCert(ca.cert_pem));
  KUBEOS_ASSIGN_OR_RETURN(PKey key, NewKey());
  KUBEOS_ASSIGN_OR_RETURN(Cert cert, NewCert(key.get(), spec.common_name, spec.organizations, spec.validity));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  KUBEOS_RETURN_IF_ERROR(AddExt(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  KUBEOS_RETURN_IF_ERROR(
      AddExt(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment"));
  std::string eku;
  if (spec.server) eku = "serverAuth";
  if (spec.client) eku += eku.empty() ? "clientAuth" : ",clientAuth";
  if (!eku.empty()) KUBEOS_RETURN_IF_ERROR(AddExt(cert.get(), ca_cert.get(), NID_ext_key_usage, eku));
  std::string san;
  for (const auto& d : spec.dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  for (const auto& ip : spec.ip_addresses) san += (san.empty() ? "IP:" : ",IP:") + ip;
  if (!san.empty()) KUBEOS_RETURN_IF_ERROR(AddExt(cert.get(), ca_cert.get(), NID_subject_alt_name, san));
  KUBEOS_RETURN_IF_ERROR(AddExt(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always"));
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) return OpenSslError("sign certificate");
  CertAndKey out;
  KUBEOS_ASSIGN_OR_RETURN(out.cert_pem, CertPem(cert.get()));
  KUBEOS_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get(), true));
  return out;
}

StatusOr<KeyPair> MakeKeyPair() {
  KUBEOS_ASSIGN_OR_RETURN(PKey key, NewKey());
  KeyPair kp;
  KUBEOS_ASSIGN_OR_RETURN(kp.private_pem, KeyPem(key.get(), true));
  KUBEOS_ASSIGN_OR_RETURN(kp.public_pem, KeyPem(key.get(), false));
  return kp;
}

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace kubeos::pki
