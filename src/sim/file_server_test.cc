// ClassifyHandshakeFailure over the results OpenSSL 3 gives a server whose SSL_accept failed. The codes are
// the ones the integration test (test/integration/sim/file_server_integration_test.cc) provokes with real
// clients; this table pins the decision for each and for the cases that are hard to provoke (close_notify,
// a send timeout, a bad CertificateVerify signature).
#include "sim/file_server.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <string>
#include <vector>

namespace kubeos::sim {
namespace {

unsigned long SslReason(int reason) { return ERR_PACK(ERR_LIB_SSL, 0, reason); }

TEST(ClassifyHandshakeFailure, WhoEndedTheHandshake) {
  struct Case {
    std::string what;
    int ssl_error;
    std::vector<unsigned long> errors;
    long verify_result;
    HandshakeFailure want;
  };
  using F = HandshakeFailure;
  const Case cases[] = {
      // We refused the client.
      {"no client certificate",
       SSL_ERROR_SSL,
       {SslReason(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)},
       X509_V_OK,
       F::kRejected},
      {"client certificate from another CA",
       SSL_ERROR_SSL,
       {SslReason(SSL_R_CERTIFICATE_VERIFY_FAILED)},
       X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
       F::kRejected},
      {"expired client certificate (verify result only)",
       SSL_ERROR_SSL,
       {},
       X509_V_ERR_CERT_HAS_EXPIRED,
       F::kRejected},
      {"CertificateVerify signature does not match",
       SSL_ERROR_SSL,
       {SslReason(SSL_R_BAD_SIGNATURE)},
       X509_V_OK,
       F::kRejected},
      // The peer aborted with an alert: e.g. it does not trust our certificate.
      {"client sent unknown_ca",
       SSL_ERROR_SSL,
       {SslReason(SSL_R_TLSV1_ALERT_UNKNOWN_CA)},
       X509_V_OK,
       F::kPeerAborted},
      {"client sent bad_certificate",
       SSL_ERROR_SSL,
       {SslReason(SSL_R_SSLV3_ALERT_BAD_CERTIFICATE)},
       X509_V_OK,
       F::kPeerAborted},
      {"client sent decrypt_error",
       SSL_ERROR_SSL,
       {SslReason(SSL_R_TLSV1_ALERT_DECRYPT_ERROR)},
       X509_V_OK,
       F::kPeerAborted},
      {"client sent certificate_unknown",
       SSL_ERROR_SSL,
       {SslReason(SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN)},
       X509_V_OK,
       F::kPeerAborted},
      // The peer went away without an alert, or went silent.
      {"EOF without close_notify (OpenSSL 3)",
       SSL_ERROR_SSL,
       {SslReason(SSL_R_UNEXPECTED_EOF_WHILE_READING)},
       X509_V_OK,
       F::kPeerGone},
      {"EOF or reset (syscall)", SSL_ERROR_SYSCALL, {}, X509_V_OK, F::kPeerGone},
      {"close_notify", SSL_ERROR_ZERO_RETURN, {}, X509_V_OK, F::kPeerGone},
      {"receive timeout", SSL_ERROR_WANT_READ, {}, X509_V_OK, F::kPeerGone},
      {"send timeout", SSL_ERROR_WANT_WRITE, {}, X509_V_OK, F::kPeerGone},
      // Not TLS, or TLS we cannot agree on.
      {"plain HTTP to the TLS port",
       SSL_ERROR_SSL,
       {SslReason(SSL_R_HTTP_REQUEST)},
       X509_V_OK,
       F::kProtocolError},
      {"garbage", SSL_ERROR_SSL, {SslReason(SSL_R_WRONG_VERSION_NUMBER)}, X509_V_OK, F::kProtocolError},
      {"no shared cipher", SSL_ERROR_SSL, {SslReason(SSL_R_NO_SHARED_CIPHER)}, X509_V_OK, F::kProtocolError},
      {"no error recorded", SSL_ERROR_SSL, {}, X509_V_OK, F::kProtocolError},
      {"an error of another library",
       SSL_ERROR_SSL,
       {ERR_PACK(ERR_LIB_X509, 0, 1)},
       X509_V_OK,
       F::kProtocolError},
      // Order and mixtures: a refusal wins over anything queued with it; an alert over an EOF.
      {"EOF then verify failure",
       SSL_ERROR_SSL,
       {SslReason(SSL_R_UNEXPECTED_EOF_WHILE_READING), SslReason(SSL_R_CERTIFICATE_VERIFY_FAILED)},
       X509_V_OK,
       F::kRejected},
      {"alert then EOF",
       SSL_ERROR_SSL,
       {SslReason(SSL_R_TLSV1_ALERT_UNKNOWN_CA), SslReason(SSL_R_UNEXPECTED_EOF_WHILE_READING)},
       X509_V_OK,
       F::kPeerAborted},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(HandshakeFailureName(ClassifyHandshakeFailure(c.ssl_error, c.errors, c.verify_result)),
              std::string(HandshakeFailureName(c.want)))
        << c.what;
  }
}

}  // namespace
}  // namespace kubeos::sim
