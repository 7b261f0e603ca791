#include "agent/rpc.h"

#include <gtest/gtest.h>

namespace kubeos::agent {
namespace {

using nlohmann::json;

TEST(FrameSplitter, SplitsObjectsAcrossChunksAndRespectsStrings) {
  FrameSplitter s;
  StatusOr<std::vector<std::string>> a = s.Feed(R"({"a":"}{\"x"})");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0], R"({"a":"}{\"x"})");
  StatusOr<std::vector<std::string>> b = s.Feed("\n{\"b\":[1,{");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->empty());
  StatusOr<std::vector<std::string>> c = s.Feed("}]}{\"c\":1}");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0], R"({"b":[1,{}]})");
  EXPECT_EQ(FrameSplitter().Feed("[1]").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FrameSplitter().Feed("{\"" + std::string(kMaxRequestBytes, 'x')).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(ParseRpcRequest, Table) {
  struct Case {
    const char* frame;
    std::optional<int> error;
  } cases[] = {
      {R"({"jsonrpc":"2.0","method":"upgrade","params":[],"id":1})", std::nullopt},
      {R"({"jsonrpc":"2.0","method":"status","id":"x"})", std::nullopt},
      {R"({"jsonrpc":"2.0","method":"upgrade","params":{},"id":1})", kRpcInvalidParams},
      {R"({"jsonrpc":"1.0","method":"upgrade","id":1})", kRpcInvalidRequest},
      {R"({"jsonrpc":"2.0","method":5,"id":1})", kRpcInvalidRequest},
      {R"({"jsonrpc":"2.0",)", kRpcParseError},
  };
  for (const auto& c : cases) {
    RpcRequest r;
    std::optional<RpcError> e = ParseRpcRequest(c.frame, &r);
    EXPECT_EQ(e ? std::optional<int>(e->code) : std::nullopt, c.error) << c.frame;
  }
}

TEST(Responses, MatchTheOriginalShapes) {
  json ok = json::parse(RpcResult(7, {{"status", "UpgradeReady"}}));
  EXPECT_EQ(ok, json::parse(R"({"jsonrpc":"2.0","result":{"status":"UpgradeReady"},"id":7})"));
  json err = json::parse(RpcErrorResponse(7, {kRpcAppErrorCode, "boom"}));
  EXPECT_EQ(err["error"]["code"], -1);
  EXPECT_EQ(err["error"]["message"], "boom");
  EXPECT_FALSE(err["error"].contains("data"));
  json busy =
      json::parse(RpcErrorResponse(7, {.code = kRpcAppErrorCode, .message = "b", .status_code = "Busy"}));
  EXPECT_EQ(busy["error"]["code"], -1);
  EXPECT_EQ(busy["error"]["data"]["code"], "Busy");
}

TEST(StatusCodeFromName, RoundTripsEveryCode) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kBusy); ++c) {
    EXPECT_EQ(StatusCodeFromName(StatusCodeName(static_cast<StatusCode>(c))), static_cast<StatusCode>(c));
  }
  EXPECT_EQ(StatusCodeFromName("SomethingNew"), StatusCode::kUnknown);
}

TEST(ParseUpgradeParams, OriginalRequest) {
  json params = json::parse(R"([{"version":"KubeOS 2","check_sum":"ab","image_type":"disk",
    "container_image":"","image_url":"https://h/os.tar","flag_safe":false,"mtls":true,
    "certs":{"ca_cert":"ca.crt","client_cert":"c.crt","client_key":"c.key"}}])");
  StatusOr<UpgradeRequest> r = ParseUpgradeParams(params);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version, "KubeOS 2");
  EXPECT_TRUE(r->mtls);
  EXPECT_EQ(r->client_key, "c.key");
  EXPECT_EQ(UpgradeRequestToJson(*r), params[0]);
  EXPECT_EQ(ParseUpgradeParams(json::array()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseUpgradeParams(json::parse(R"([{"mtls":"yes"}])")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseUpgradeParams(json::parse(R"([{"certs":[]}])")).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(ParseConfigureParams, KeepsRequestOrderThroughTheWireParse) {
  // Issue 5: new keys land in request order, so the order must survive the RPC frame parse.
  RpcRequest req;
  ASSERT_FALSE(ParseRpcRequest(R"({"jsonrpc":"2.0","method":"configure","id":1,"params":[{"configs":[
      {"model":"kernel.sysctl.persist","config_path":"","contents":{
        "vm.zzz":{"value":"1"},"net.aaa":{"value":"2","operation":""},"kernel.mmm":{"value":"3"}}}]}]})",
                               &req));
  StatusOr<ConfigureRequest> r = ParseConfigureParams(req.ordered_params);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->configs.size(), 1u);
  std::vector<std::string> keys;
  for (const ConfigValue& v : r->configs[0].contents) keys.push_back(v.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"vm.zzz", "net.aaa", "kernel.mmm"}));
  EXPECT_EQ(r->configs[0].contents[1].value, "2");
}

TEST(ParseConfigureParams, OriginalRequest) {
  json params = json::parse(R"([{"configs":[{"model":"kernel.sysctl","config_path":"",
    "contents":{"net.ipv4.ip_forward":{"value":"1","operation":""},"vm.swappiness":{"value":10}}}]}])");
  StatusOr<ConfigureRequest> r = ParseConfigureParams(params);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->configs.size(), 1u);
  EXPECT_EQ(r->configs[0].model, "kernel.sysctl");
  ASSERT_EQ(r->configs[0].contents.size(), 2u);
  EXPECT_EQ(r->configs[0].contents[1].value, 10);
  EXPECT_EQ(ParseConfigureParams(json::parse(R"([{"configs":{}}])")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseConfigureParams(json::parse(R"([{"configs":[{"contents":{"k":1}}]}])")).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kubeos::agent
