#include "pki/x509.h"

#include <gtest/gtest.h>

#include "common/file.h"
#include "common/process.h"

namespace kubeos::pki {
namespace {

TEST(X509Test, ServerCertVerifiesAgainstCaWithOpenssl) {
  auto ca = MakeCa("test-ca");
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  auto srv = MakeSignedCert(
      *ca,
      {.common_name = "server", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}, .server = true});
  ASSERT_TRUE(srv.ok()) << srv.status().ToString();
  auto dir = TempDir::Create("x509-test");
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(WriteFileAtomic(dir->path() / "ca.crt", ca->cert_pem).ok());
  ASSERT_TRUE(WriteFileAtomic(dir->path() / "srv.crt", srv->cert_pem).ok());
  // The real openssl CLI is the judge: chain, purpose and SAN.
  auto r = RunProgram({"openssl", "verify", "-CAfile", (dir->path() / "ca.crt").string(), "-purpose",
                       "sslserver", "-verify_ip", "127.0.0.1", (dir->path() / "srv.crt").string()},
                      std::chrono::seconds(10));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0) << r->output;

  auto wrong_ip = RunProgram({"openssl", "verify", "-CAfile", (dir->path() / "ca.crt").string(), "-verify_ip",
                              "10.9.9.9", (dir->path() / "srv.crt").string()},
                             std::chrono::seconds(10));
  ASSERT_TRUE(wrong_ip.ok());
  EXPECT_NE(wrong_ip->exit_code, 0) << "a SAN it does not hold must not verify";
}

TEST(X509Test, ClientCertCarriesUserAndGroups) {
  auto ca = MakeCa("test-ca");
  ASSERT_TRUE(ca.ok());
  auto c = MakeSignedCert(*ca, {.common_name = "admin", .organizations = {"system:masters"}, .client = true});
  ASSERT_TRUE(c.ok());
  auto dir = TempDir::Create("x509-test");
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(WriteFileAtomic(dir->path() / "c.crt", c->cert_pem).ok());
  auto r = RunProgram({"openssl", "x509", "-noout", "-subject", "-in", (dir->path() / "c.crt").string()},
                      std::chrono::seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->output.find("O = system:masters"), std::string::npos) << r->output;
  EXPECT_NE(r->output.find("CN = admin"), std::string::npos) << r->output;
}

TEST(Base64Test, Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

}  // namespace
}  // namespace kubeos::pki
