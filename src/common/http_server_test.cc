// The metrics/health HTTP server's pure parts (bind addresses, request heads, responses). The serving
// itself is exercised against the real binary in test/integration/operator.
#include "common/http_server.h"

#include <gtest/gtest.h>

namespace kubeos {
namespace {

TEST(ParseBindAddress, Table) {
  struct Case {
    const char* in;
    bool ok;
    bool disabled;
    const char* host;
    int port;
  };
  const Case cases[] = {
      {":8080", true, false, "", 8080},
      {"0", true, true, "", 0},
      {"127.0.0.1:0", true, false, "127.0.0.1", 0},
      {"localhost:9090", true, false, "127.0.0.1", 9090},
      {"0.0.0.0:8081", true, false, "0.0.0.0", 8081},
      {"8080", false, false, "", 0},
      {":", false, false, "", 0},
      {":http", false, false, "", 0},
      {":65536", false, false, "", 0},
      {":-1", false, false, "", 0},
      {"example.com:80", false, false, "", 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    auto r = ParseBindAddress(c.in);
    ASSERT_EQ(r.ok(), c.ok) << r.status().ToString();
    if (!c.ok) continue;
    ASSERT_EQ(!r->has_value(), c.disabled);
    if (c.disabled) continue;
    EXPECT_EQ((*r)->host, c.host);
    EXPECT_EQ((*r)->port, c.port);
  }
}

TEST(ParseRequestHead, Table) {
  struct Case {
    const char* in;
    bool ok;
    const char* method;
    const char* path;
  };
  const Case cases[] = {
      {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", true, "GET", "/metrics"},
      {"HEAD /readyz?verbose HTTP/1.0\r\n\r\n", true, "HEAD", "/readyz"},
      {"GET /healthz HTTP/1.1", true, "GET", "/healthz"},
      {"GET metrics HTTP/1.1\r\n\r\n", false, "", ""},
      {"GET /metrics\r\n\r\n", false, "", ""},
      {"GET /metrics SPDY/3\r\n\r\n", false, "", ""},
      {" /x HTTP/1.1\r\n\r\n", false, "", ""},
      {"", false, "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    auto r = ParseRequestHead(c.in);
    ASSERT_EQ(r.ok(), c.ok);
    if (!c.ok) continue;
    EXPECT_EQ(r->method, c.method);
    EXPECT_EQ(r->path, c.path);
  }
}

TEST(FormatResponse, HeadHasNoBody) {
  const HttpReply r{503, "text/plain", "caches not synced\n"};
  EXPECT_EQ(FormatResponse(r, false),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n"
            "Connection: close\r\n\r\ncaches not synced\n");
  EXPECT_EQ(FormatResponse(r, true),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n"
            "Connection: close\r\n\r\n");
}

}  // namespace
}  // namespace kubeos
