// Client::Do's retry rules (client.h): 429 and 5xx with Retry-After are retried after the delay for GET,
// PUT, PATCH and DELETE, never for POST; a connection failure is retried for GET only.
//
// These are faults the real apiserver cannot produce on demand (a 429 with Retry-After outside an eviction,
// a 503 from a healthy server, a connection reset in the middle of a request), so this test talks to a small
// scripted plain-HTTP server on 127.0.0.1 instead of the harness's control plane. The client code under test
// is the real one, over the real libcurl transport; only the server is scripted.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube/client.h"

namespace kubeos::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// One scripted answer per connection (every response says Connection: close, so one request is one
// connection). `reset` reads the request and then aborts the connection with a TCP RST instead of answering.
struct Answer {
  int status = 200;
  std::string headers;  // extra header lines, each ending in \r\n
  std::string body = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"}})";
  bool reset = false;
};

class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<Answer> script) : script_(std::move(script)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);  // NOLINT: BSD sockets API
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof addr;
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);  // NOLINT: BSD sockets API
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }

  RestConfig Config() const {
    RestConfig c;
    c.server = "http://127.0.0.1:" + std::to_string(port_);
    c.qps = -1;  // the limiter is not under test
    return c;
  }
  struct Seen {
    std::string method;
    Clock::time_point at;
  };
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  void Serve() {
    size_t next = 0;
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      std::string method = ReadRequest(conn);
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen_.push_back({method, Clock::now()});
      }
      // Past the end of the script: a plain 500 without Retry-After, which nothing retries.
      Answer a = next < script_.size() ? script_[next] : Answer{.status = 500, .body = "{}"};
      ++next;
      if (a.reset) {
        linger l{1, 0};  // close() then sends RST
        setsockopt(conn, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      } else {
        std::string resp = "HTTP/1.1 " + std::to_string(a.status) + " Scripted\r\n" + a.headers +
                           "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                           std::to_string(a.body.size()) + "\r\n\r\n" + a.body;
        (void)send(conn, resp.data(), resp.size(), MSG_NOSIGNAL);
      }
      close(conn);
    }
  }

  // Reads one request (headers and a Content-Length body); returns its method.
  static std::string ReadRequest(int conn) {
    std::string data;
    char buf[4096];
    size_t header_end = std::string::npos;
    size_t need = 0;
    while (true) {
      pollfd p{conn, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) break;
      ssize_t n = recv(conn, buf, sizeof buf, 0);
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end == std::string::npos) continue;
        if (auto cl = data.find("Content-Length: "); cl != std::string::npos && cl < header_end) {
          need = std::stoul(data.substr(cl + 16));
        }
      }
      if (data.size() >= header_end + 4 + need) break;
    }
    return data.substr(0, data.find(' '));
  }

  std::vector<Answer> script_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Seen> seen_;  // guarded by mu_
  std::thread thread_;
};

const Resource kConfigMaps = Resource::ConfigMaps();
const nlohmann::json kCm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "cm"}}}};
const std::string kThrottled =
    R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","code":429,)"
    R"("message":"too many requests"})";

Status Call(Client& c, const std::string& verb) {
  if (verb == "GET") return c.Get(kConfigMaps, "ns", "cm").status();
  if (verb == "PUT") return c.Update(kConfigMaps, "ns", kCm).status();
  if (verb == "PATCH")
    return c.Patch(kConfigMaps, "ns", "cm", PatchType::kMerge, {{"data", {{"a", "b"}}}}).status();
  if (verb == "DELETE") return c.Delete(kConfigMaps, "ns", "cm");
  return c.Create(kConfigMaps, "ns", kCm).status();  // POST
}

struct RetryAfterCase {
  std::string verb;
  int status;
};

class RetryAfterTest : public ::testing::TestWithParam<RetryAfterCase> {};

TEST_P(RetryAfterTest, IdempotentVerbWaitsForRetryAfterThenSucceeds) {
  const auto& tc = GetParam();
  ScriptedServer server({{.status = tc.status, .headers = "Retry-After: 1\r\n", .body = kThrottled}, {}});
  Client c(server.Config());
  const auto t0 = Clock::now();
  Status s = Call(c, tc.verb);
  const auto took = Clock::now() - t0;
  EXPECT_TRUE(s.ok()) << s.ToString();
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 2U) << "retried exactly once";
  EXPECT_EQ(c.requests(), 2U) << "each attempt is a request";
  EXPECT_EQ(seen[0].method, tc.verb);
  EXPECT_EQ(seen[1].method, tc.verb);
  EXPECT_GE(seen[1].at - seen[0].at, seconds(1)) << "the retry must wait for Retry-After";
  EXPECT_GE(took, seconds(1));
}

INSTANTIATE_TEST_SUITE_P(Verbs, RetryAfterTest,
                         ::testing::Values(RetryAfterCase{"GET", 429}, RetryAfterCase{"PUT", 503},
                                           RetryAfterCase{"PATCH", 429}, RetryAfterCase{"DELETE", 500}),
                         [](const auto& param_info) { return param_info.param.verb; });

TEST(RetryTest, PostIsNeverRetriedAndSurfacesRetryAfter) {
  ScriptedServer server({{.status = 429, .headers = "Retry-After: 1\r\n", .body = kThrottled}, {}});
  Client c(server.Config());
  const auto t0 = Clock::now();
  auto r = c.Create(kConfigMaps, "ns", kCm);
  const auto took = Clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
  ASSERT_TRUE(r.status().retry_after().has_value());
  EXPECT_EQ(*r.status().retry_after(), seconds(1));
  EXPECT_EQ(server.seen().size(), 1U);
  EXPECT_EQ(c.requests(), 1U);
  EXPECT_LT(took, seconds(1)) << "a POST must not sleep for Retry-After";
}

TEST(RetryTest, ErrorWithoutRetryAfterIsNotRetried) {
  ScriptedServer server({{.status = 503, .body = R"({"kind":"Status","code":503,"message":"down"})"}, {}});
  Client c(server.Config());
  EXPECT_EQ(c.Get(kConfigMaps, "ns", "cm").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(server.seen().size(), 1U);
}

TEST(RetryTest, ConnectionResetIsRetriedForGet) {
  ScriptedServer server({{.reset = true}, {}});
  Client c(server.Config());
  auto r = c.Get(kConfigMaps, "ns", "cm");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[1].method, "GET");
}

TEST(RetryTest, ConnectionResetIsNotRetriedForWrites) {
  for (const std::string verb : {"POST", "PUT", "PATCH", "DELETE"}) {
    ScriptedServer server({{.reset = true}, {}});
    Client c(server.Config());
    Status s = Call(c, verb);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << verb << ": " << s.ToString();
    EXPECT_EQ(server.seen().size(), 1U) << verb << " was sent again after a reset";
  }
}

}  // namespace
}  // namespace kubeos::kube
