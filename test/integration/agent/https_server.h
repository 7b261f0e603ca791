// The agent and boot tests' payload server: a real HTTPS (or plain HTTP) server (sim::FileServer, the demo's
// image server) serving one payload under several paths whose prefix selects a behaviour the tests need:
//   /ok/<name>             200 with Content-Length; a single Range is answered 206 (or 416), see
//                          sim/http_range.h
//   /truncate-once/<name>  the first response closes the connection after half the body; later ones are
//                          normal (exercises Range resume)
//   /truncate/<name>       every response closes after half the body
//   /stall/<name>          sends half the body, then nothing until the client gives up
//   /slow/<name>           sends 64 KiB every 20 ms (keeps an install running for concurrency tests)
//   anything else          404
// Client certificates are required (and verified against client_ca_pem) when client_ca_pem is set.
#pragma once

#include <string>

#include "sim/file_server.h"

namespace kubeos::agenttest {

struct HttpsServerOptions {
  bool tls = true;
  std::string cert_pem, key_pem;  // server identity
  std::string client_ca_pem;      // non-empty: require and verify client certificates
  std::string payload;
};

class HttpsServer : public sim::FileServer {
 public:
  explicit HttpsServer(HttpsServerOptions options);
};

}  // namespace kubeos::agenttest
