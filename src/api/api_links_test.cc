// The linking and defrag routes end to end: a real Controller over a real SQLite store, four
// simulated 2s32c-smt2 hosts (fixture:2s32c-smt2#hN, one rack each, bridge br-int), served on
// 127.0.0.1 with an ephemeral port.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "api/api_server.h"
#include "driver/domain_xml.h"
#include "store/sqlite_store.h"

namespace corepin {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Reply {
  int status = 0;
  json body;
  std::string error() const { return body.is_object() && body.contains("error") ? body["error"].get<std::string>() : ""; }
};

class ApiLinksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("corepin_api_links_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::setenv("COREPIN_FIXTURE_STATE_DIR", (dir_ / "fixture-hosts").c_str(), 1);
    store_ = std::move(*OpenSqliteStore((dir_ / "corepin.db").string()));
    controller_ = std::make_unique<Controller>(store_.get(), [](const std::string& uri) { return ConnectHypervisor(uri); });
    ASSERT_TRUE(controller_->Start().ok());
    ApiOptions options;
    options.host_uris.allow_simulated = true;  // fixture and test:/// hosts
    api_ = std::make_unique<ApiServer>(*controller_, nullptr, options);
    auto port = api_->Bind("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    serve_ = std::thread([this] { (void)api_->Serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
    client_->set_read_timeout(60, 0);
    for (int i = 1; i <= 4; ++i) {
      const std::string name = "h" + std::to_string(i);
      json req = {{"name", name}, {"uri", "fixture:2s32c-smt2#" + name}, {"housekeeping", "0,64"}, {"bridge", "br-int"},
                  {"labels", {{"rack", "r" + std::to_string(i)}}}};
      ASSERT_EQ(Call("POST", "/v1/hosts", req.dump()).status, 201);
    }
    Reply g = Call("POST", "/v1/groups",
                   R"({"name":"fw","members":[{"name":"fw-a","role":"act"},{"name":"fw-b","role":"sby"}],"domains":["rack"],)"
                   R"("vm":{"vcpus":4,"smt":"isolate","memory_mib":4096,"interfaces":[{"name":"svc"}]},"service":{"vlan":100}})");
    ASSERT_EQ(g.status, 201) << g.body.dump();
    for (const auto& m : g.body["members"]) host_[m["vm"]] = m["host"];
  }
  void TearDown() override {
    if (api_) api_->Stop();
    if (serve_.joinable()) serve_.join();
    api_.reset();
    controller_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  Reply Call(const std::string& method, const std::string& path, const std::string& body = "") {
    httplib::Result r = method == "GET"      ? client_->Get(path.c_str())
                        : method == "DELETE" ? client_->Delete(path.c_str())
                                             : client_->Post(path.c_str(), body, "application/json");
    if (!r) {
      ADD_FAILURE() << method << " " << path << ": " << httplib::to_string(r.error());
      return {};
    }
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  fs::path dir_;
  std::map<std::string, std::string> host_;  // member -> host
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<ApiServer> api_;
  std::thread serve_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ApiLinksTest, VmLinks) {
  Reply r = Call("GET", "/v1/vms/fw-a/links");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["host"]["name"], host_["fw-a"]);
  EXPECT_EQ(r.body["host"]["bmc"], "none");
  ASSERT_EQ(r.body["vcpus"].size(), 4u);
  const int p = r.body["vcpus"][0]["pcpu"];
  EXPECT_EQ(r.body["vcpus"][0]["siblings"], (CpuSet{p, p < 64 ? p + 64 : p - 64}.ToString()));
  EXPECT_EQ(r.body["interfaces"][0]["port"], PortName("fw-a", host_["fw-a"], "svc"));
  EXPECT_EQ(r.body["interfaces"][0]["vlan"], 100);
  EXPECT_EQ(r.body["interfaces"][0]["bridge"], "br-int");
  EXPECT_EQ(r.body["group"]["service"]["vlan"], 100);
  EXPECT_EQ(r.body["group"]["members"][1]["host"], host_["fw-b"]);
  Reply sby = Call("GET", "/v1/vms/fw-b/links");
  EXPECT_EQ(sby.body["interfaces"][0]["vlan"], 4094);

  Reply missing = Call("GET", "/v1/vms/nope/links");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.error().find("vm list"), std::string::npos);
}

TEST_F(ApiLinksTest, DependsOnEachKindOfHardware) {
  const int p = Call("GET", "/v1/vms/fw-a/links").body["vcpus"][1]["pcpu"];
  const std::string ha = host_["fw-a"], hb = host_["fw-b"];
  Reply pcpu = Call("GET", "/v1/depends?host=" + ha + "&pcpu=" + std::to_string(p));
  ASSERT_EQ(pcpu.status, 200) << pcpu.body.dump();
  EXPECT_EQ(pcpu.body["vms"][0]["vm"], "fw-a");
  EXPECT_EQ(pcpu.body["vms"][0]["relation"]["vcpus"], json({1}));
  EXPECT_EQ(pcpu.body["if_it_fails"]["act_down_until_promotion"], json({"fw"}));

  Reply core = Call("GET", "/v1/depends?host=" + ha + "&core=" + std::to_string(p % 32) + "&socket=" + std::to_string((p % 64) / 32));
  ASSERT_EQ(core.status, 200) << core.body.dump();
  EXPECT_EQ(core.body["vms"][0]["vm"], "fw-a");
  Reply node = Call("GET", "/v1/depends?host=" + ha + "&node=" + std::to_string((p % 64) / 32));
  ASSERT_EQ(node.status, 200);
  EXPECT_EQ(node.body["vms"][0]["relation"]["memory_mib"], 4096);
  Reply nic = Call("GET", "/v1/depends?host=" + ha + "&nic=ens1f0");
  ASSERT_EQ(nic.status, 200);
  EXPECT_TRUE(nic.body["vms"].empty()) << "fw asks for no NIC locality";
  Reply port = Call("GET", "/v1/depends?port=" + PortName("fw-b", host_["fw-b"], "svc"));
  ASSERT_EQ(port.status, 200);
  EXPECT_EQ(port.body["vms"][0]["vm"], "fw-b");
  EXPECT_EQ(port.body["if_it_fails"]["lose_sby"], json({"fw"}));

  Reply host = Call("GET", "/v1/depends?host=" + ha);
  ASSERT_EQ(host.status, 200);
  EXPECT_EQ(host.body["if_it_fails"]["healed_from_reserve"], json({"fw"}));
  EXPECT_EQ(host.body["if_it_fails"]["within_guarantee"], true);
  const std::string rack = "r" + hb.substr(1);
  Reply label = Call("GET", "/v1/depends?label=rack%3D" + rack);
  ASSERT_EQ(label.status, 200) << label.body.dump();
  EXPECT_EQ(label.body["hardware"]["hosts"], json({hb}));
  EXPECT_EQ(Call("GET", "/v1/depends?rack=" + rack).body["vms"], label.body["vms"]);
}

TEST_F(ApiLinksTest, BadDependsQueriesSayWhatToFix) {
  struct Case {
    std::string query;
    int status;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{{"", 400, "host=H"},
                                         {"?host=h1&port=x", 400, "one selector at a time"},
                                         {"?host=h1&pcpu=1&node=0", 400, "at most one of"},
                                         {"?pcpu=3", 400, "add host=NAME"},
                                         {"?host=h1&pcpu=1&pcpu=2", 400, "given twice"},
                                         {"?host=h1&pcpu=-1", 400, "not a number"},
                                         {"?host=nope", 404, "host nope is not in the cluster"},
                                         {"?host=h1&pcpu=128", 404, "0-127"},
                                         {"?host=h1&core=3", 400, "--socket 0 or --socket 1"},
                                         {"?host=h1&nic=eth7", 404, "ens1f0"},
                                         {"?rack=r9", 404, "r1, r2, r3, r4"}}) {
    Reply r = Call("GET", "/v1/depends" + c.query);
    EXPECT_EQ(r.status, c.status) << c.query << ": " << r.body.dump();
    EXPECT_NE(r.error().find(c.says), std::string::npos) << c.query << ": " << r.error();
  }
}

TEST_F(ApiLinksTest, DefragPlanIsADryRunAndApplyMakesIt) {
  // Fragmentation: three 1-vCPU VMs on h3 fill a core and a half; the middle one goes, so two
  // cores are each half used.
  for (const char* vm : {"s1", "s2", "s3"})
    ASSERT_EQ(Call("POST", "/v1/vms", json{{"name", vm}, {"vcpus", 1}, {"memory_mib", 256}, {"host", "h3"}}.dump()).status, 201);
  ASSERT_EQ(Call("DELETE", "/v1/vms/s2").status, 200);
  const json hosts = Call("GET", "/v1/hosts").body;
  const json vms = Call("GET", "/v1/vms").body;
  Reply plan = Call("POST", "/v1/defrag", "{}");
  ASSERT_EQ(plan.status, 200) << plan.body.dump();
  EXPECT_EQ(plan.body["apply"], false);
  EXPECT_EQ(plan.body["hosts"].size(), 4u);
  EXPECT_TRUE(plan.body["total"]["before"].contains("stranded_pcpus"));
  EXPECT_GE(plan.body["total"]["after"]["free_cores"], plan.body["total"]["before"]["free_cores"]);
  EXPECT_EQ(Call("POST", "/v1/defrag", "").status, 200) << "no body means the defaults";

  EXPECT_EQ(Call("POST", "/v1/defrag", R"({"apply": true, "mode": "fast"})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/defrag", R"({"max_moves": -1})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/defrag", R"({"max_moves": "3"})").status, 400);
  Reply unknown = Call("POST", "/v1/defrag", R"({"dry": true})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.error().find("apply, max_moves"), std::string::npos);
  // A mode without apply is a mistake (defrag --cold without --apply): said, not ignored.
  Reply cold_dry = Call("POST", "/v1/defrag", R"({"mode": "cold"})");
  EXPECT_EQ(cold_dry.status, 400);
  EXPECT_NE(cold_dry.error().find("corepin defrag --apply --cold"), std::string::npos) << cold_dry.error();
  EXPECT_EQ(Call("GET", "/v1/hosts").body, hosts);
  EXPECT_EQ(Call("GET", "/v1/vms").body, vms);

  // Applied: every planned move is made, each VM where the plan said, and the cluster is then
  // as fragmented as the plan promised.
  ASSERT_FALSE(plan.body["moves"].empty()) << "the fixture cluster must give the plan something to do";
  Reply applied = Call("POST", "/v1/defrag", R"({"apply": true})");
  ASSERT_EQ(applied.status, 200) << applied.body.dump();
  EXPECT_FALSE(applied.body.contains("stopped")) << applied.body["stopped"].dump();
  ASSERT_EQ(applied.body["applied"].size(), applied.body["moves"].size());
  EXPECT_EQ(applied.body["moves"], plan.body["moves"]) << "the plan applied is the plan shown";
  for (const auto& m : applied.body["moves"]) {
    Reply vm = Call("GET", "/v1/vms/" + m["vm"].get<std::string>());
    EXPECT_EQ(vm.body["host"], m["to"]["host"]) << m.dump();
    std::string pcpus;
    for (const auto& v : vm.body["vcpus"]) pcpus += (pcpus.empty() ? "" : ",") + std::to_string(v["pcpu"].get<int>());
    EXPECT_EQ(CpuSet::Parse(pcpus)->ToString(), m["to"]["pcpus"]) << m.dump();
    EXPECT_EQ(vm.body["pinning_verified"], true) << vm.body.dump();
  }
  Reply after = Call("POST", "/v1/defrag", "{}");
  EXPECT_EQ(after.body["total"]["before"]["free_cores"], plan.body["total"]["after"]["free_cores"]);
  EXPECT_EQ(after.body["total"]["before"]["stranded_pcpus"], plan.body["total"]["after"]["stranded_pcpus"]);
}

}  // namespace
}  // namespace corepin
