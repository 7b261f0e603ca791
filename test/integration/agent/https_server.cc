#include "https_server.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string_view>

namespace kubeos::agenttest {
namespace {

sim::Router FaultRouter(std::string payload) {
  auto bytes = std::make_shared<const std::string>(std::move(payload));
  auto truncated_once = std::make_shared<std::atomic<bool>>(false);
  return [bytes, truncated_once](std::string_view path) -> std::optional<sim::Content> {
    auto starts = [&](std::string_view p) { return path.substr(0, p.size()) == p; };
    sim::Content c{.bytes = bytes};
    if (starts("/ok/")) return c;
    if (starts("/truncate/")) {
      c.delivery = sim::Delivery::kCloseAtHalf;
    } else if (starts("/truncate-once/")) {
      if (!truncated_once->exchange(true)) c.delivery = sim::Delivery::kCloseAtHalf;
    } else if (starts("/stall/")) {
      c.delivery = sim::Delivery::kStallAtHalf;
    } else if (starts("/slow/")) {
      c.delivery = sim::Delivery::kSlow;
    } else {
      return std::nullopt;
    }
    return c;
  };
}

}  // namespace

HttpsServer::HttpsServer(HttpsServerOptions options)
    : sim::FileServer(sim::FileServerOptions{.tls = options.tls,
                                             .cert_pem = std::move(options.cert_pem),
                                             .key_pem = std::move(options.key_pem),
                                             .client_ca_pem = std::move(options.client_ca_pem),
                                             .route = FaultRouter(std::move(options.payload))}) {}

}  // namespace kubeos::agenttest
