// sim::FileServer (the demo's image server, the agent and boot tests' payload server) with real clients on
// loopback: libcurl for HTTP(S) requests (custom Range headers, client certificates from pki::) and raw TCP
// sockets for peers that are not TLS clients. Checks the RFC 9110 single-range answers (206 / 416 / ignored),
// both for a file streamed from disk and for bytes in memory, that the fault deliveries cut or stall the
// requested range (not the whole file), and which counter a failed handshake lands in: refused client
// certificates (rejected), clients that do not trust the server (aborted), peers that close or go silent
// (dropped) and peers that do not speak TLS (protocol errors). No mocks.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/file.h"
#include "pki/x509.h"
#include "sim/file_server.h"

namespace kubeos::sim {
namespace {

using std::chrono::milliseconds;

// 1 MiB + 3 bytes of a position-dependent pattern: a slice at the wrong offset cannot compare equal.
std::string Payload() {
  std::string s((size_t{1} << 20) + 3, '\0');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>((i * 131 + i / 251) & 0xff);
  return s;
}

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::vector<std::string> headers;  // "Name: value" lines of the response
  std::string body;
  std::string Header(const std::string& name) const {
    for (const std::string& h : headers) {
      if (h.size() > name.size() && strncasecmp(h.c_str(), name.c_str(), name.size()) == 0 &&
          h[name.size()] == ':') {
        std::string v = h.substr(name.size() + 1);
        v.erase(0, v.find_first_not_of(' '));
        return v;
      }
    }
    return "<none>";
  }
};

struct Tls {
  std::string ca_pem;             // trusted for the server ("" = plain http)
  std::string cert_pem, key_pem;  // client identity, optional
};

size_t OnBody(char* p, size_t size, size_t n, void* r) {
  static_cast<Reply*>(r)->body.append(p, size * n);
  return size * n;
}

size_t OnHeader(char* p, size_t size, size_t n, void* r) {
  std::string line(p, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (!line.empty()) static_cast<Reply*>(r)->headers.push_back(line);
  return size * n;
}

curl_blob Blob(const std::string& s) {
  return {.data = const_cast<char*>(s.data()), .len = s.size(), .flags = CURL_BLOB_COPY};
}

// One GET with the request headers given verbatim (curl adds Host, Accept).
Reply Get(const std::string& url, const std::vector<std::string>& headers, const Tls& tls = {},
          long timeout_ms = 10000) {
  Reply r;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), curl_easy_cleanup);
  curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> owned(list, curl_slist_free_all);
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c.get(), CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c.get(), CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_blob ca = Blob(tls.ca_pem), cert = Blob(tls.cert_pem), key = Blob(tls.key_pem);
  if (!tls.ca_pem.empty()) curl_easy_setopt(c.get(), CURLOPT_CAINFO_BLOB, &ca);
  if (!tls.cert_pem.empty()) {
    curl_easy_setopt(c.get(), CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c.get(), CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(c.get(), CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(c.get(), CURLOPT_SSLKEYTYPE, "PEM");
  }
  r.code = curl_easy_perform(c.get());
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

int Port(const FileServer& s) { return std::stoi(s.base_url().substr(s.base_url().rfind(':') + 1)); }

// A raw TCP connection to the server: for peers that are not TLS clients.
class RawPeer {
 public:
  explicit RawPeer(int port) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawPeer() { Close(); }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;
  bool connected() const { return connected_; }
  bool Send(std::string_view d) {
    return send(fd_, d.data(), d.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(d.size());
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  bool connected_ = false;
};

// Waits until `value()` reaches `want` (the server counts on its connection thread, after the client is
// gone).
bool WaitFor(const std::function<int()>& value, int want, milliseconds limit = milliseconds(5000)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (value() < want) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return value() == want;
}

class FileServerRangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    payload_ = std::make_shared<const std::string>(Payload());
    auto dir = TempDir::Create("file-server-test");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_.emplace(std::move(*dir));
    ASSERT_TRUE(WriteFileAtomic(dir_->path() / "image.img", *payload_).ok());
    ASSERT_TRUE(WriteFileAtomic(dir_->path() / "empty.img", "").ok());
    // /file/<name>: DirectoryRouter (pread from disk); /mem, /cut, /stall, /slow: the bytes in memory.
    Router files = DirectoryRouter(dir_->path());
    server_ = std::make_unique<FileServer>(FileServerOptions{
        .tls = false, .route = [this, files](std::string_view path) -> std::optional<Content> {
          if (path.starts_with("/file/")) return files(path.substr(5));
          Content c{.bytes = payload_};
          if (path == "/mem") return c;
          if (path == "/cut")
            c.delivery = Delivery::kCloseAtHalf;
          else if (path == "/stall")
            c.delivery = Delivery::kStallAtHalf;
          else if (path == "/slow")
            c.delivery = Delivery::kSlow;
          else
            return std::nullopt;
          return c;
        }});
    ASSERT_TRUE(server_->Start().ok());
  }

  std::shared_ptr<const std::string> payload_;
  std::optional<TempDir> dir_;
  std::unique_ptr<FileServer> server_;
};

TEST_F(FileServerRangeTest, SingleRangesAnsweredAsRfc9110Says) {
  const uint64_t size = payload_->size();
  struct Case {
    std::vector<std::string> headers;
    long status;
    std::string content_range;  // "<none>" when absent
    uint64_t first, length;     // the body: payload.substr(first, length)
  };
  const std::string total = "/" + std::to_string(size);
  const Case cases[] = {
      {{}, 200, "<none>", 0, size},
      {{"Range: bytes=0-0"}, 206, "bytes 0-0" + total, 0, 1},
      {{"Range: bytes=100-199"}, 206, "bytes 100-199" + total, 100, 100},
      {{"range: BYTES=100-199"}, 206, "bytes 100-199" + total, 100, 100},
      {{"Range: bytes=1000-" + std::to_string(size + 5000)},
       206,
       "bytes 1000-" + std::to_string(size - 1) + total,
       1000,
       size - 1000},
      {{"Range: bytes=524288-"},
       206,
       "bytes 524288-" + std::to_string(size - 1) + total,
       524288,
       size - 524288},
      {{"Range: bytes=-10"},
       206,
       "bytes " + std::to_string(size - 10) + "-" + std::to_string(size - 1) + total,
       size - 10,
       10},
      {{"Range: bytes=-99999999"}, 206, "bytes 0-" + std::to_string(size - 1) + total, 0, size},
      // Unsatisfiable.
      {{"Range: bytes=" + std::to_string(size) + "-"}, 416, "bytes */" + std::to_string(size), 0, 0},
      {{"Range: bytes=" + std::to_string(size + 1) + "-" + std::to_string(size + 9)},
       416,
       "bytes */" + std::to_string(size),
       0,
       0},
      {{"Range: bytes=-0"}, 416, "bytes */" + std::to_string(size), 0, 0},
      // Ignored: invalid, multi-range, other unit, two Range fields.
      {{"Range: bytes=200-100"}, 200, "<none>", 0, size},
      {{"Range: bytes=abc"}, 200, "<none>", 0, size},
      {{"Range: bytes=0-1,5-9"}, 200, "<none>", 0, size},
      {{"Range: items=0-1"}, 200, "<none>", 0, size},
      {{"Range: bytes=0-1", "Range: bytes=0-1"}, 200, "<none>", 0, size},
  };
  int ranged = 0;
  for (const std::string path : {"/file/image.img", "/mem"}) {
    for (const Case& c : cases) {
      std::string what = path + " " + (c.headers.empty() ? "(no Range)" : c.headers.front());
      Reply r = Get(server_->base_url() + path, c.headers);
      ASSERT_EQ(r.code, CURLE_OK) << what << ": " << curl_easy_strerror(r.code);
      EXPECT_EQ(r.status, c.status) << what;
      EXPECT_EQ(r.Header("Content-Range"), c.content_range) << what;
      EXPECT_EQ(r.Header("Content-Length"), std::to_string(c.length)) << what;
      EXPECT_EQ(r.body.size(), c.length) << what;
      EXPECT_TRUE(r.body == payload_->substr(c.first, c.length)) << what << ": body differs";
      if (c.status != 200) ++ranged;
    }
  }
  EXPECT_EQ(server_->range_requests(), ranged);  // 206 and 416 answers; ignored headers do not count
}

TEST_F(FileServerRangeTest, EmptyFile) {
  Reply r = Get(server_->base_url() + "/file/empty.img", {"Range: bytes=0-"});
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(r.Header("Content-Range"), "bytes */0");
  r = Get(server_->base_url() + "/file/empty.img",
          {"Range: bytes=-5"});  // satisfiable, no Content-Range form
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Length"), "0");
  r = Get(server_->base_url() + "/file/missing.img", {"Range: bytes=0-"});
  EXPECT_EQ(r.status, 404);
}

TEST_F(FileServerRangeTest, FaultsApplyToTheRequestedRange) {
  // Close at half: 206 for 1000 bytes, 500 sent, then the connection closes (curl: partial file).
  Reply r = Get(server_->base_url() + "/cut", {"Range: bytes=2000-2999"});
  EXPECT_EQ(r.code, CURLE_PARTIAL_FILE) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.Header("Content-Range"), "bytes 2000-2999/" + std::to_string(payload_->size()));
  EXPECT_TRUE(r.body == payload_->substr(2000, 500)) << r.body.size();
  // Without a range, half of everything.
  r = Get(server_->base_url() + "/cut", {});
  EXPECT_EQ(r.code, CURLE_PARTIAL_FILE);
  EXPECT_EQ(r.body.size(), payload_->size() / 2);
  // Stall at half: half the range, then nothing until the client gives up.
  r = Get(server_->base_url() + "/stall", {"Range: bytes=10-109"}, {}, 700);
  EXPECT_EQ(r.code, CURLE_OPERATION_TIMEDOUT) << curl_easy_strerror(r.code);
  EXPECT_TRUE(r.body == payload_->substr(10, 50)) << r.body.size();
  // Slow: the range arrives whole, exactly (64 KiB chunks, so a 100 KiB range spans two).
  r = Get(server_->base_url() + "/slow", {"Range: bytes=5-102404"});
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 206);
  EXPECT_TRUE(r.body == payload_->substr(5, 102400)) << r.body.size();
}

class FileServerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = pki::MakeCa("file server test CA");
    auto other = pki::MakeCa("some other CA");
    ASSERT_TRUE(ca.ok() && other.ok());
    ca_ = *ca;
    other_ca_ = *other;
    auto server =
        pki::MakeSignedCert(ca_, {.common_name = "images", .ip_addresses = {"127.0.0.1"}, .server = true});
    auto client = pki::MakeSignedCert(ca_, {.common_name = "node", .client = true});
    auto stranger = pki::MakeSignedCert(other_ca_, {.common_name = "stranger", .client = true});
    ASSERT_TRUE(server.ok() && client.ok() && stranger.ok());
    client_ = *client;
    stranger_ = *stranger;
    server_ = std::make_unique<FileServer>(
        FileServerOptions{.cert_pem = server->cert_pem,
                          .key_pem = server->key_pem,
                          .client_ca_pem = ca_.cert_pem,
                          .route = [](std::string_view) -> std::optional<Content> {
                            return Content{.bytes = std::make_shared<const std::string>("hello")};
                          },
                          .idle_timeout = milliseconds(300)});
    ASSERT_TRUE(server_->Start().ok());
  }
  // rejected, aborted, dropped, protocol errors.
  std::vector<int> Counters() const {
    return {server_->rejected_handshakes(), server_->aborted_handshakes(), server_->dropped_handshakes(),
            server_->protocol_error_handshakes()};
  }
  int Total() const {
    int n = 0;
    for (int c : Counters()) n += c;
    return n;
  }

  pki::CertAndKey ca_, other_ca_, client_, stranger_;
  std::unique_ptr<FileServer> server_;
};

TEST_F(FileServerTlsTest, EachFailedHandshakeCountedByWhoEndedIt) {
  const std::string url = server_->base_url() + "/x";
  // A proper client: served, nothing counted.
  Reply ok = Get(url, {"Range: bytes=1-3"},
                 {.ca_pem = ca_.cert_pem, .cert_pem = client_.cert_pem, .key_pem = client_.key_pem});
  EXPECT_EQ(ok.code, CURLE_OK) << curl_easy_strerror(ok.code);
  EXPECT_EQ(ok.status, 206);
  EXPECT_EQ(ok.body, "ell");
  EXPECT_EQ(Counters(), (std::vector<int>{0, 0, 0, 0}));

  // We refuse the client: no certificate, then one from another CA.
  EXPECT_NE(Get(url, {}, {.ca_pem = ca_.cert_pem}).code, CURLE_OK);
  ASSERT_TRUE(WaitFor([&] { return Total(); }, 1));
  EXPECT_EQ(Counters(), (std::vector<int>{1, 0, 0, 0}));
  EXPECT_NE(
      Get(url, {}, {.ca_pem = ca_.cert_pem, .cert_pem = stranger_.cert_pem, .key_pem = stranger_.key_pem})
          .code,
      CURLE_OK);
  ASSERT_TRUE(WaitFor([&] { return Total(); }, 2));
  EXPECT_EQ(Counters(), (std::vector<int>{2, 0, 0, 0}));

  // The client refuses us (it trusts another CA): it aborts with an alert; not a client-certificate refusal.
  Reply distrust =
      Get(url, {}, {.ca_pem = other_ca_.cert_pem, .cert_pem = client_.cert_pem, .key_pem = client_.key_pem});
  EXPECT_EQ(distrust.code, CURLE_PEER_FAILED_VERIFICATION) << curl_easy_strerror(distrust.code);
  ASSERT_TRUE(WaitFor([&] { return Total(); }, 3));
  EXPECT_EQ(Counters(), (std::vector<int>{2, 1, 0, 0}));

  // Peers that go away: connect and close; half a ClientHello and close; connect and stay silent; half a
  // ClientHello and stay silent (both past the 300 ms idle timeout).
  {
    RawPeer p(Port(*server_));
    ASSERT_TRUE(p.connected());
  }
  ASSERT_TRUE(WaitFor([&] { return Total(); }, 4));
  // A TLS record header announcing a 512-byte handshake message, and its first bytes.
  const std::string partial_hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  {
    RawPeer p(Port(*server_));
    ASSERT_TRUE(p.Send(partial_hello));
  }
  ASSERT_TRUE(WaitFor([&] { return Total(); }, 5));
  {
    RawPeer p(Port(*server_));
    ASSERT_TRUE(WaitFor([&] { return Total(); }, 6));
  }
  {
    RawPeer p(Port(*server_));
    ASSERT_TRUE(p.Send(partial_hello));
    ASSERT_TRUE(WaitFor([&] { return Total(); }, 7));
  }
  EXPECT_EQ(Counters(), (std::vector<int>{2, 1, 4, 0}));

  // Not TLS at all: plain HTTP to the TLS port.
  {
    RawPeer p(Port(*server_));
    ASSERT_TRUE(p.Send("GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    ASSERT_TRUE(WaitFor([&] { return Total(); }, 8));
  }
  EXPECT_EQ(Counters(), (std::vector<int>{2, 1, 4, 1}));
  EXPECT_EQ(server_->requests(), 1);
}

}  // namespace
}  // namespace kubeos::sim
