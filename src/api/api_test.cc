// ApiServer end to end: a real Controller over a real SQLite store (in a temp dir) and libvirt's
// in-process test driver (test:///default: 2 NUMA nodes x 8 pCPUs, shared by the connections of
// one process; each test runs in its own process), served on 127.0.0.1 with an ephemeral port.
// Redundancy groups run on simulated hosts of a 2-socket 128-pCPU shape
// (fixture:2s32c-smt2#hN, their domains kept under the test's temp dir).
#include "api/api_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "store/sqlite_store.h"

namespace corepin {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Reply {
  int status = 0;
  json body;
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);  // as corepind: a client gone mid-stream must not end the process
    dir_ = fs::temp_directory_path() / ("corepin_api_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // Fixture hosts keep their domains here rather than in /var/lib/corepin.
    ::setenv("COREPIN_FIXTURE_STATE_DIR", (dir_ / "fixture-hosts").c_str(), 1);
    auto store = OpenSqliteStore((dir_ / "corepin.db").string());
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
    controller_ = std::make_unique<Controller>(store_.get(), [](const std::string& uri) { return ConnectHypervisor(uri); });
    auto started = controller_->Start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    ApiOptions options;
    options.host_uris.allow_simulated = true;  // fixture and test:/// hosts
    api_ = std::make_unique<ApiServer>(*controller_, nullptr, options);
    auto port = api_->Bind("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    serve_ = std::thread([this] { (void)api_->Serve(); });
    port_ = *port;
    client_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
    client_->set_read_timeout(60, 0);
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
    httplib::Result r = method == "GET"    ? client_->Get(path.c_str())
                        : method == "POST" ? client_->Post(path.c_str(), body, "application/json")
                                           : client_->Delete(path.c_str());
    if (!r) {
      ADD_FAILURE() << method << " " << path << ": " << httplib::to_string(r.error());
      return {};
    }
    Reply out{r->status, json::parse(r->body, nullptr, false)};
    EXPECT_FALSE(out.body.is_discarded()) << method << " " << path << " replied non-JSON: " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    return out;
  }

  // The error message of a reply that should be an error.
  static std::string Message(const Reply& r) {
    if (!r.body.is_object() || !r.body.contains("error") || !r.body["error"].is_string()) return "<no error field>";
    return r.body["error"].get<std::string>();
  }

  void AddLocalHost() {
    Reply r = Call("POST", "/v1/hosts", R"({"name":"local","uri":"test:///default","housekeeping":"0"})");
    ASSERT_EQ(r.status, 201) << r.body.dump();
    EXPECT_EQ(r.body["name"], "local");
  }

  // Simulated 128-pCPU hosts h1..hN, two per rack (h1, h2 in r1; h3, h4 in r2; ...).
  void AddFixtureHosts(int n) {
    for (int i = 1; i <= n; ++i) {
      const std::string name = "h" + std::to_string(i);
      json req = {{"name", name}, {"uri", "fixture:2s32c-smt2#" + name}, {"housekeeping", "0,64"},
                  {"labels", {{"rack", "r" + std::to_string((i + 1) / 2)}}}};
      Reply r = Call("POST", "/v1/hosts", req.dump());
      ASSERT_EQ(r.status, 201) << r.body.dump();
      rack_[name] = req["labels"]["rack"];
    }
  }

  // The member of a group view with this role ("act" or "sby"); the first one.
  static json MemberWithRole(const json& group, const std::string& role) {
    for (const json& m : group["members"])
      if (m["role"] == role) return m;
    ADD_FAILURE() << "no " << role << " in " << group.dump();
    return json::object();
  }

  fs::path dir_;
  std::map<std::string, std::string> rack_;  // host -> its rack label
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<ApiServer> api_;
  std::thread serve_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ApiTest, HealthAndEmptyLists) {
  EXPECT_EQ(Call("GET", "/v1/health").status, 200);
  Reply hosts = Call("GET", "/v1/hosts");
  EXPECT_EQ(hosts.status, 200);
  EXPECT_EQ(hosts.body, json::array());
  Reply vms = Call("GET", "/v1/vms");
  EXPECT_EQ(vms.status, 200);
  EXPECT_EQ(vms.body, json::array());
}

TEST_F(ApiTest, HostAddShowListRemove) {
  AddLocalHost();
  Reply list = Call("GET", "/v1/hosts");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body.size(), 1u);
  EXPECT_EQ(list.body[0]["name"], "local");
  EXPECT_EQ(list.body[0]["pcpus"], 16);

  Reply show = Call("GET", "/v1/hosts/local");
  ASSERT_EQ(show.status, 200);
  EXPECT_EQ(show.body["uri"], "test:///default");
  EXPECT_EQ(show.body["connected"], true);
  EXPECT_EQ(show.body["housekeeping"], "0");
  EXPECT_EQ(show.body["topology"]["nodes"].size(), 2u);
  EXPECT_FALSE(show.body["cores"].empty());

  Reply del = Call("DELETE", "/v1/hosts/local");
  EXPECT_EQ(del.status, 200);
  EXPECT_EQ(del.body, json({{"deleted", "local"}}));
  Reply gone = Call("GET", "/v1/hosts/local");
  EXPECT_EQ(gone.status, 404);
  EXPECT_NE(Message(gone).find("local"), std::string::npos) << Message(gone);
}

TEST_F(ApiTest, VmCreateShowListDelete) {
  AddLocalHost();
  Reply created = Call("POST", "/v1/vms", R"({"name":"a","vcpus":2,"memory_mib":64,"host":"local"})");
  ASSERT_EQ(created.status, 201) << created.body.dump();
  EXPECT_EQ(created.body["name"], "a");
  EXPECT_EQ(created.body["host"], "local");

  Reply show = Call("GET", "/v1/vms/a");
  ASSERT_EQ(show.status, 200);
  ASSERT_EQ(show.body["vcpus"].size(), 2u);
  for (const json& v : show.body["vcpus"]) EXPECT_NE(v["pcpu"], 0) << "vCPU on the housekeeping pCPU: " << v.dump();

  Reply list = Call("GET", "/v1/vms");
  ASSERT_EQ(list.body.size(), 1u);
  EXPECT_EQ(list.body[0]["vcpus"], 2);

  // A host with a VM cannot go.
  Reply busy = Call("DELETE", "/v1/hosts/local");
  EXPECT_EQ(busy.status, 409);
  EXPECT_NE(Message(busy).find("a"), std::string::npos);

  Reply del = Call("DELETE", "/v1/vms/a");
  EXPECT_EQ(del.status, 200);
  EXPECT_EQ(del.body, json({{"deleted", "a"}}));
  EXPECT_EQ(Call("GET", "/v1/vms").body, json::array());
  EXPECT_EQ(Call("GET", "/v1/vms/a").status, 404);
}

TEST_F(ApiTest, VmRepinAndResize) {
  AddLocalHost();
  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"a","vcpus":2,"memory_mib":64})").status, 201);
  Reply moved = Call("POST", "/v1/vms/a/repin", R"({"vcpus":{"0":5,"1":6}})");
  ASSERT_EQ(moved.status, 200) << moved.body.dump();
  EXPECT_EQ(moved.body["new"]["vcpus"], json::parse("[5,6]"));
  EXPECT_EQ(moved.body["pinning_verified"], true);
  // Refused by placement: 422 with the rejection; malformed: 400; unknown VM: 404.
  Reply refused = Call("POST", "/v1/vms/a/repin", R"({"vcpus":{"0":0}})");
  ASSERT_EQ(refused.status, 422) << refused.body.dump();
  ASSERT_EQ(refused.body["rejections"].size(), 1u) << refused.body.dump();
  EXPECT_NE(refused.body["rejections"][0]["reasons"][0].get<std::string>().find("pCPU 0 is housekeeping"), std::string::npos);
  EXPECT_EQ(Call("POST", "/v1/vms/a/repin", "[]").status, 400);
  EXPECT_EQ(Call("POST", "/v1/vms/a/repin", R"({"auto":"yes"})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/vms/nope/repin", R"({"auto":true})").status, 404);
  EXPECT_EQ(Call("GET", "/v1/vms/a").body["assignment"]["vcpu_pcpus"], json::parse("[5,6]"));

  Reply resized = Call("POST", "/v1/vms/a/resize", R"({"vcpus":3,"memory_mib":128})");
  ASSERT_EQ(resized.status, 200) << resized.body.dump();
  EXPECT_EQ(resized.body["spec"]["vcpus"], 3);
  EXPECT_EQ(resized.body["old"]["spec"]["vcpus"], 2);
  Reply too_big = Call("POST", "/v1/vms/a/resize", R"({"vcpus":64})");
  ASSERT_EQ(too_big.status, 422) << too_big.body.dump();
  EXPECT_EQ(too_big.body["rejections"][0]["nodes"].size(), 2u) << too_big.body.dump();  // one reason per NUMA node
  EXPECT_EQ(Call("POST", "/v1/vms/a/resize", R"({"nic":"eth0"})").status, 400);
  EXPECT_EQ(Call("GET", "/v1/vms/a").body["spec"]["vcpus"], 3);
}

TEST_F(ApiTest, NoFitReturnsRejectionsPerHostAndNode) {
  AddLocalHost();
  Reply r = Call("POST", "/v1/vms", R"({"name":"big","vcpus":64,"memory_mib":64})");
  ASSERT_EQ(r.status, 422) << r.body.dump();
  EXPECT_FALSE(Message(r).empty());
  ASSERT_TRUE(r.body["rejections"].is_array()) << r.body.dump();
  ASSERT_EQ(r.body["rejections"].size(), 1u);
  const json& rej = r.body["rejections"][0];
  EXPECT_EQ(rej["host"], "local");
  ASSERT_EQ(rej["nodes"].size(), 2u) << rej.dump();  // one reason per NUMA node
  for (const json& n : rej["nodes"]) EXPECT_TRUE(n["reason"].is_string()) << n.dump();
  // The explanation: the one search, what it considered and why it rejected the host.
  ASSERT_TRUE(r.body["explanation"].is_object()) << r.body.dump();
  ASSERT_EQ(r.body["explanation"]["searches"].size(), 1u) << r.body.dump();
  const json& search = r.body["explanation"]["searches"][0];
  EXPECT_EQ(search["hosts_considered"], 1);
  EXPECT_EQ(search["hosts_feasible"], 0);
  EXPECT_EQ(search["chosen"], "");
  EXPECT_EQ(search["rejected"], json({{"pCPUs", 1}})) << search.dump();
  EXPECT_EQ(Call("GET", "/v1/vms").body, json::array());
}

TEST_F(ApiTest, CreatedVmCarriesItsExplanation) {
  AddLocalHost();
  Reply r = Call("POST", "/v1/vms", R"({"name":"a","vcpus":1,"memory_mib":64})");
  ASSERT_EQ(r.status, 201) << r.body.dump();
  ASSERT_TRUE(r.body["explanation"].is_object()) << r.body.dump();
  ASSERT_EQ(r.body["explanation"]["searches"].size(), 1u) << r.body.dump();
  const json& search = r.body["explanation"]["searches"][0];
  EXPECT_EQ(search["chosen"], "local");
  EXPECT_EQ(search["hosts_feasible"], 1);
  ASSERT_EQ(search["top"].size(), 1u);
  EXPECT_EQ(search["top"][0]["host"], "local");
  EXPECT_TRUE(search["top"][0]["score"].is_number());
  EXPECT_NE(search["summary"].get<std::string>().find("chose local"), std::string::npos) << search.dump();
}

// A 1+1 group across racks: placed with its explanation, shown with its healing targets; a
// what-if of the ACT's host moves it to exactly the pCPUs the reserve holds; a switchover swaps
// the roles; a delete frees everything.
TEST_F(ApiTest, GroupAcrossRacksWithWhatIfReserveAndSwitchover) {
  AddFixtureHosts(4);
  Reply created = Call("POST", "/v1/groups",
                       R"({"name":"fw","vm":{"vcpus":4,"memory_mib":1024},"act":1,"sby":1,"domains":["rack"]})");
  ASSERT_EQ(created.status, 201) << created.body.dump();
  EXPECT_EQ(created.body["name"], "fw");
  EXPECT_EQ(created.body["state"], "running");
  ASSERT_EQ(created.body["members"].size(), 2u) << created.body.dump();
  const json act = MemberWithRole(created.body, "act"), sby = MemberWithRole(created.body, "sby");
  EXPECT_EQ(act["vm"], "fw-act1");
  EXPECT_EQ(sby["vm"], "fw-sby1");
  const std::string act_host = act["host"], sby_host = sby["host"];
  EXPECT_NE(rack_[act_host], rack_[sby_host]) << "ACT on " << act_host << ", SBY on " << sby_host << ": same rack";

  // The placement's explanation: one search per member, then the healing targets.
  const json& placement = created.body["placement"];
  ASSERT_TRUE(placement["explanation"].is_object()) << created.body.dump();
  const json& searches = placement["explanation"]["searches"];
  ASSERT_GE(searches.size(), 2u);
  std::set<std::string> purposes;
  for (const json& s : searches) {
    purposes.insert(s["purpose"]);
    EXPECT_EQ(s["hosts_total"], 4);
    EXPECT_FALSE(s["summary"].get<std::string>().empty());
  }
  EXPECT_TRUE(purposes.count("place act") && purposes.count("place sby")) << searches.dump();
  for (const json& s : searches)
    if (s["purpose"] == "place sby") {
      EXPECT_EQ(s["chosen"], sby_host);
      EXPECT_EQ(s["rejected"].value("failure domain: shared with a member", 0), 1) << s.dump();
    }
  ASSERT_EQ(placement["placed"].size(), 2u);

  Reply list = Call("GET", "/v1/groups");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body.size(), 1u);
  EXPECT_EQ(list.body[0]["name"], "fw");
  EXPECT_EQ(Call("GET", "/v1/vms").body.size(), 2u);

  // group show: every member's pCPUs, and the target of each if its host fails.
  Reply show = Call("GET", "/v1/groups/fw");
  ASSERT_EQ(show.status, 200) << show.body.dump();
  for (const json& m : show.body["members"]) EXPECT_FALSE(m.value("pcpus", "").empty()) << m.dump();
  json act_target;
  for (const json& h : show.body["heals"])
    if (h["if_failed"] == json::array({act_host}) && h["target"]["vm"] == "fw-act1") act_target = h["target"];
  ASSERT_TRUE(act_target.is_object()) << "no healing target for fw-act1 if " << act_host << " fails: " << show.body.dump();
  const std::string target_host = act_target["host"];
  EXPECT_NE(target_host, act_host);
  EXPECT_NE(target_host, sby_host);
  EXPECT_NE(rack_[target_host], rack_[sby_host]) << "the healed ACT would share the SBY's rack";

  // What if the ACT's host fails: fw-act1 moves to the precomputed target, pCPU for pCPU.
  Reply whatif = Call("POST", "/v1/whatif", json{{"failed", {act_host}}}.dump());
  ASSERT_EQ(whatif.status, 200) << whatif.body.dump();
  EXPECT_EQ(whatif.body["k"], 1);
  EXPECT_EQ(whatif.body["within_guarantee"], true);
  EXPECT_EQ(whatif.body["lost"], json::array());
  ASSERT_EQ(whatif.body["moves"].size(), 1u) << whatif.body.dump();
  const json& move = whatif.body["moves"][0];
  EXPECT_EQ(move["vm"], "fw-act1");
  EXPECT_EQ(move["group"], "fw");
  EXPECT_EQ(move["from"], act_host);
  EXPECT_EQ(move["to"], target_host);
  EXPECT_EQ(move["precomputed"], true);
  ASSERT_EQ(move["vcpu_pcpus"].size(), 4u);
  EXPECT_EQ(move["vcpu_pcpus"], act_target["assignment"]["vcpu_pcpus"]);

  // The reserve holds exactly those pCPUs on the target host, and its core map shows them.
  Reply reserve = Call("GET", "/v1/reserve");
  ASSERT_EQ(reserve.status, 200) << reserve.body.dump();
  EXPECT_EQ(reserve.body["k"], 1);
  EXPECT_GT(reserve.body["reserved_pcpus"].get<int>(), 0);
  EXPECT_GE(reserve.body["scenarios"].get<int>(), 2);
  json target_reserve;
  for (const json& h : reserve.body["hosts"])
    if (h["host"] == target_host) target_reserve = h;
  ASSERT_TRUE(target_reserve.is_object()) << "no reserve on " << target_host << ": " << reserve.body.dump();
  EXPECT_EQ(target_reserve["pcpus"], act_target["pcpus"]);
  std::set<int> shown_reserved;
  const json target_view = Call("GET", "/v1/hosts/" + target_host).body;
  for (const json& core : target_view["cores"])
    for (const json& p : core["pcpus"])
      if (p["use"] == "reserve") shown_reserved.insert(p["id"].get<int>());
  std::set<int> targeted;
  for (const json& p : move["vcpu_pcpus"]) targeted.insert(p.get<int>());
  EXPECT_EQ(shown_reserved, targeted);

  // Switchover with the defaults: the SBY takes over; no service network, so no switch step.
  Reply sw = Call("POST", "/v1/groups/fw/switchover", "{}");
  ASSERT_EQ(sw.status, 200) << sw.body.dump();
  EXPECT_EQ(MemberWithRole(sw.body, "act")["vm"], "fw-sby1");
  EXPECT_EQ(MemberWithRole(sw.body, "sby")["vm"], "fw-act1");
  EXPECT_EQ(sw.body["switch"], "no service network");
  EXPECT_TRUE(sw.body["elapsed_ms"].is_number());
  EXPECT_EQ(MemberWithRole(Call("GET", "/v1/groups/fw").body, "act")["vm"], "fw-sby1");
  // And back, naming both.
  Reply back = Call("POST", "/v1/groups/fw/switchover", R"({"to":"fw-act1","from":"fw-sby1"})");
  ASSERT_EQ(back.status, 200) << back.body.dump();
  EXPECT_EQ(MemberWithRole(back.body, "act")["vm"], "fw-act1");

  Reply del = Call("DELETE", "/v1/groups/fw");
  EXPECT_EQ(del.status, 200) << del.body.dump();
  EXPECT_EQ(del.body, json({{"deleted", "fw"}}));
  EXPECT_EQ(Call("GET", "/v1/groups").body, json::array());
  EXPECT_EQ(Call("GET", "/v1/vms").body, json::array());
  EXPECT_EQ(Call("GET", "/v1/reserve").body["reserved_pcpus"], 0);
  EXPECT_EQ(Call("GET", "/v1/groups/fw").status, 404);
}

// A group with no service network needs no bridge on its hosts.
TEST_F(ApiTest, GroupWithoutServiceNeedsNoBridge) {
  for (const char* name : {"b1", "b2"}) {
    json req = {{"name", name}, {"uri", std::string("fixture:2s32c-smt2#") + name}, {"housekeeping", "0,64"}};
    ASSERT_EQ(Call("POST", "/v1/hosts", req.dump()).status, 201);
  }
  Reply r = Call("POST", "/v1/groups", R"({"name":"fw","vm":{"vcpus":2,"memory_mib":512},"act":1,"sby":1,"protect":false})");
  EXPECT_EQ(r.status, 201) << r.body.dump();
}

// VMs and groups share one namespace, and a standalone VM is a group of one named after it: a
// member named like its own group would pass for a standalone VM, so it is refused.
TEST_F(ApiTest, MemberNamedLikeItsGroupIsRefused) {
  AddFixtureHosts(2);
  Reply r = Call("POST", "/v1/groups", R"({"name":"g","vm":{"vcpus":1,"memory_mib":256},"members":[{"name":"g","role":"act"}]})");
  EXPECT_TRUE(r.status == 400 || r.status == 409) << r.status << ": " << r.body.dump();
  EXPECT_NE(Message(r).find("g"), std::string::npos) << Message(r);
  EXPECT_EQ(Call("GET", "/v1/groups").body, json::array());
  EXPECT_EQ(Call("GET", "/v1/vms").body, json::array());
}

// Each bad group, what-if or switchover request gets its 4xx and a message naming the problem,
// and changes nothing: groups, VMs, hosts and the reserve stay as they were.
TEST_F(ApiTest, BadGroupRequestsAreRefusedAndChangeNothing) {
  AddFixtureHosts(4);
  ASSERT_EQ(Call("POST", "/v1/groups", R"({"name":"fw","vm":{"vcpus":4,"memory_mib":1024},"act":1,"sby":1,"domains":["rack"]})")
                .status,
            201);
  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"solo","vcpus":2,"memory_mib":512})").status, 201);
  const json groups_before = Call("GET", "/v1/groups").body;
  const json vms_before = Call("GET", "/v1/vms").body;
  const json hosts_before = Call("GET", "/v1/hosts").body;
  const json reserve_before = Call("GET", "/v1/reserve").body;
  ASSERT_EQ(groups_before.size(), 1u);
  ASSERT_EQ(vms_before.size(), 3u);

  const std::string spec = R"("vm":{"vcpus":2,"memory_mib":512})";
  struct Case {
    const char* what;
    std::string method, path, body;
    std::vector<int> statuses;
    std::vector<std::string> mentions;
  };
  const std::vector<Case> cases = {
      {"domain label no host has", "POST", "/v1/groups",
       R"({"name":"g2",)" + spec + R"(,"act":1,"sby":1,"domains":["power"]})", {422}, {"power"}},
      {"unknown member host", "POST", "/v1/groups",
       R"({"name":"g2",)" + spec + R"(,"members":[{"name":"a","role":"act","host":"nope"},{"name":"b","role":"sby"}]})",
       {404}, {"nope"}},
      {"group named like a VM", "POST", "/v1/groups", R"({"name":"solo",)" + spec + R"(,"act":1,"sby":1})", {409}, {"solo"}},
      {"group named like a group", "POST", "/v1/groups", R"({"name":"fw",)" + spec + R"(,"act":1,"sby":1})", {409}, {"fw"}},
      {"member named like a VM", "POST", "/v1/groups",
       R"({"name":"g2",)" + spec + R"(,"members":[{"name":"solo","role":"act"},{"name":"b","role":"sby"}]})", {409}, {"solo"}},
      {"unknown group field", "POST", "/v1/groups", R"({"name":"g2",)" + spec + R"(,"act":1,"colour":"red"})", {400}, {"colour"}},
      {"group body not JSON", "POST", "/v1/groups", R"({"name":"g2",)", {400}, {"not valid JSON"}},
      {"no group fits", "POST", "/v1/groups", R"({"name":"g2","vm":{"vcpus":100,"memory_mib":512},"act":1,"sby":1})", {422},
       {"g2", "100"}},
      {"what-if failed missing", "POST", "/v1/whatif", "{}", {400}, {"failed", "missing"}},
      {"what-if failed empty", "POST", "/v1/whatif", R"({"failed":[]})", {400}, {"failed", "empty"}},
      {"what-if failed a string", "POST", "/v1/whatif", R"({"failed":"h1"})", {400}, {"failed", "list"}},
      {"what-if failed a number", "POST", "/v1/whatif", R"({"failed":[1]})", {400}, {"failed", "1"}},
      {"what-if unknown field", "POST", "/v1/whatif", R"({"failed":["h1"],"colour":1})", {400}, {"colour"}},
      {"what-if body not JSON", "POST", "/v1/whatif", "[h1]", {400}, {"not valid JSON"}},
      {"what-if unknown host", "POST", "/v1/whatif", R"({"failed":["h1","nope"]})", {404}, {"nope"}},
      {"switchover of an unknown group", "POST", "/v1/groups/nope/switchover", "{}", {404}, {"nope"}},
      {"switchover to the ACT", "POST", "/v1/groups/fw/switchover", R"({"to":"fw-act1"})", {400}, {"fw-act1", "SBY"}},
      {"switchover to a number", "POST", "/v1/groups/fw/switchover", R"({"to":5})", {400}, {"to", "5"}},
      {"switchover unknown field", "POST", "/v1/groups/fw/switchover", R"({"colour":1})", {400}, {"colour"}},
      {"show unknown group", "GET", "/v1/groups/nope", "", {404}, {"nope"}},
      {"delete unknown group", "DELETE", "/v1/groups/nope", "", {404}, {"nope"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Reply r = Call(c.method, c.path, c.body);
    EXPECT_TRUE(std::find(c.statuses.begin(), c.statuses.end(), r.status) != c.statuses.end())
        << "status " << r.status << ": " << r.body.dump();
    for (const auto& m : c.mentions) EXPECT_NE(Message(r).find(m), std::string::npos) << "\"" << m << "\" not in: " << Message(r);
    if (r.status == 422 && c.path == "/v1/groups") {  // a refused placement says why, as data
      EXPECT_TRUE(r.body["explanation"].is_object()) << r.body.dump();
      EXPECT_TRUE(r.body["rejections"].is_array()) << r.body.dump();
    }
    EXPECT_EQ(Call("GET", "/v1/groups").body, groups_before);
    EXPECT_EQ(Call("GET", "/v1/vms").body, vms_before);
    EXPECT_EQ(Call("GET", "/v1/hosts").body, hosts_before);
    EXPECT_EQ(Call("GET", "/v1/reserve").body, reserve_before);
  }
}

TEST_F(ApiTest, EventsAndReconcile) {
  AddLocalHost();
  Reply rec = Call("POST", "/v1/reconcile");
  ASSERT_EQ(rec.status, 200) << rec.body.dump();
  EXPECT_EQ(rec.body["checked_hosts"], 1);
  EXPECT_TRUE(rec.body["differences"].is_array());

  Reply events = Call("GET", "/v1/events?after=0&limit=1000");
  ASSERT_EQ(events.status, 200);
  ASSERT_TRUE(events.body.is_array());
  ASSERT_FALSE(events.body.empty()) << "adding a host records an event";
  const int64_t last = events.body.back()["id"].get<int64_t>();
  EXPECT_EQ(Call("GET", "/v1/events?after=" + std::to_string(last)).body, json::array());
  Reply one = Call("GET", "/v1/events?limit=1");
  EXPECT_EQ(one.body.size(), 1u);
}

// The partition is checked against the host's real topology (16 pCPUs).
TEST_F(ApiTest, HousekeepingOutOfRangeIsRefused) {
  Reply r = Call("POST", "/v1/hosts", R"({"name":"h2","uri":"test:///default","housekeeping":"99"})");
  EXPECT_TRUE(r.status == 400 || r.status == 422) << r.status << ": " << r.body.dump();
  EXPECT_NE(Message(r).find("99"), std::string::npos) << Message(r);
  EXPECT_EQ(Call("GET", "/v1/hosts").body, json::array());
}

// Each bad request gets its 4xx, a message naming the problem, and changes nothing.
TEST_F(ApiTest, BadInputsAreRefusedAndChangeNothing) {
  AddLocalHost();
  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"a","vcpus":1,"memory_mib":64})").status, 201);
  const json hosts_before = Call("GET", "/v1/hosts").body;
  const json vms_before = Call("GET", "/v1/vms").body;

  struct Case {
    const char* what;
    std::string method, path, body;
    std::vector<int> statuses;  // accepted statuses
    std::vector<std::string> mentions;  // substrings the error message must contain
  };
  const std::vector<Case> cases = {
      {"malformed JSON host", "POST", "/v1/hosts", R"({"name": "h2",)", {400}, {"not valid JSON"}},
      {"malformed JSON vm", "POST", "/v1/vms", "{vcpus: 1}", {400}, {"not valid JSON"}},
      {"array body", "POST", "/v1/vms", "[1,2]", {400}, {"object", "array"}},
      {"empty body", "POST", "/v1/hosts", "", {400}, {"empty"}},
      {"unknown host field", "POST", "/v1/hosts", R"({"name":"h2","uri":"test:///default","housekeeping":"0","colour":"red"})",
       {400}, {"colour"}},
      {"unknown vm field", "POST", "/v1/vms", R"({"name":"b","vcpus":1,"memory_mib":64,"colour":"red"})", {400}, {"colour"}},
      {"vcpus 0", "POST", "/v1/vms", R"({"name":"b","vcpus":0,"memory_mib":64})", {400}, {"vcpus"}},
      {"pCPU out of range", "POST", "/v1/vms",
       R"({"name":"b","vcpus":1,"vcpu_policies":["pinned:99"],"memory_mib":64,"host":"local"})", {400, 422}, {"99"}},
      {"housekeeping pCPU", "POST", "/v1/vms",
       R"({"name":"b","vcpus":1,"vcpu_policies":["pinned:0"],"memory_mib":64,"host":"local"})", {422}, {"housekeeping"}},
      {"duplicate VM name", "POST", "/v1/vms", R"({"name":"a","vcpus":1,"memory_mib":64})", {409}, {"a"}},
      {"unknown host in VM", "POST", "/v1/vms", R"({"name":"b","vcpus":1,"memory_mib":64,"host":"nope"})", {404}, {"nope"}},
      {"duplicate host", "POST", "/v1/hosts", R"({"name":"local","uri":"test:///default","housekeeping":"0"})", {409},
       {"local"}},
      {"unreachable URI", "POST", "/v1/hosts",
       R"({"name":"h2","uri":"qemu+unix:///system?socket=/nonexistent","housekeeping":"0"})", {422}, {"/nonexistent"}},
      {"bad host name", "POST", "/v1/hosts", R"({"name":"no/slash","uri":"test:///default","housekeeping":"0"})", {400},
       {"name"}},
      {"after=abc", "GET", "/v1/events?after=abc", "", {400}, {"after", "abc"}},
      {"limit=0", "GET", "/v1/events?limit=0", "", {400}, {"limit"}},
      {"unknown VM", "GET", "/v1/vms/nope", "", {404}, {"nope"}},
      {"delete unknown VM", "DELETE", "/v1/vms/nope", "", {404}, {"nope"}},
      {"unknown host", "GET", "/v1/hosts/nope", "", {404}, {"nope"}},
      {"no such route", "GET", "/v1/nothing", "", {404}, {"/v1/nothing"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Reply r = Call(c.method, c.path, c.body);
    EXPECT_TRUE(std::find(c.statuses.begin(), c.statuses.end(), r.status) != c.statuses.end())
        << "status " << r.status << ": " << r.body.dump();
    EXPECT_GE(r.status, 400);
    EXPECT_LT(r.status, 500);
    for (const auto& m : c.mentions) EXPECT_NE(Message(r).find(m), std::string::npos) << "\"" << m << "\" not in: " << Message(r);
    EXPECT_EQ(Call("GET", "/v1/hosts").body, hosts_before);
    EXPECT_EQ(Call("GET", "/v1/vms").body, vms_before);
  }
}

// --- Observability: the event stream, alarms, statistics and /metrics ---

// Reads GET /v1/events/stream over a real socket on a thread of its own, handing every SSE
// message to the test as it arrives.
class StreamReader {
 public:
  StreamReader(int port, const std::string& path) : client_("127.0.0.1", port) {
    client_.set_read_timeout(60, 0);
    thread_ = std::thread([this, path] {
      auto r = client_.Get(
          path.c_str(), httplib::Headers{},
          [this](const httplib::Response& res) {
            std::lock_guard lock(mu_);
            status_ = res.status;
            content_type_ = res.get_header_value("Content-Type");
            return true;
          },
          [this](const char* data, size_t n) {
            std::lock_guard lock(mu_);
            text_.append(data, n);
            cv_.notify_all();
            return !stop_;
          });
      std::lock_guard lock(mu_);
      ended_ = true;
      ended_ok_ = static_cast<bool>(r);
      cv_.notify_all();
    });
  }
  ~StreamReader() {
    Cancel();
    client_.stop();  // closes the socket, so the read ends now rather than at the next heartbeat
    if (thread_.joinable()) thread_.join();
  }
  // Waits until the stream's text contains `needle` (true) or the stream ended without it.
  bool WaitFor(const std::string& needle) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return text_.find(needle) != std::string::npos || ended_; });
    return text_.find(needle) != std::string::npos;
  }
  void WaitEnded() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return ended_; });
  }
  void Cancel() {
    std::lock_guard lock(mu_);
    stop_ = true;  // the next chunk (an event or the heartbeat) ends the read
  }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }
  int status() {
    std::lock_guard lock(mu_);
    return status_;
  }
  std::string content_type() {
    std::lock_guard lock(mu_);
    return content_type_;
  }
  bool ended_ok() {
    std::lock_guard lock(mu_);
    return ended_ok_;
  }

 private:
  httplib::Client client_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string text_, content_type_;
  int status_ = 0;
  bool stop_ = false, ended_ = false, ended_ok_ = false;
  std::thread thread_;
};

// The data line of the SSE message of this kind, parsed.
json SseData(const std::string& text, const std::string& kind) {
  const size_t at = text.find("event: " + kind + "\n");
  if (at == std::string::npos) return nullptr;
  const size_t data = text.find("data: ", at);
  return json::parse(text.substr(data + 6, text.find('\n', data) - data - 6), nullptr, false);
}

TEST_F(ApiTest, EventStreamSendsAnEventAppendedAfterItConnected) {
  AddLocalHost();  // an event before the stream: not sent (no ?after)
  StreamReader stream(port_, "/v1/events/stream");
  // The stream opens with its cursor: the newest event id.
  const int64_t newest = Call("GET", "/v1/events?after=0&limit=1000").body.back()["id"];
  ASSERT_TRUE(stream.WaitFor("id: " + std::to_string(newest) + "\n\n")) << stream.text();
  EXPECT_EQ(stream.status(), 200);
  EXPECT_EQ(stream.content_type(), "text/event-stream");

  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"streamed","vcpus":1,"memory_mib":64})").status, 201);
  ASSERT_TRUE(stream.WaitFor("event: vm.created\n")) << stream.text();
  const json e = SseData(stream.text(), "vm.created");
  EXPECT_EQ(e["subject"], "streamed");
  EXPECT_EQ(e["id"], newest + 1);
  EXPECT_NE(stream.text().find("id: " + std::to_string(newest + 1) + "\nevent: vm.created\ndata: "), std::string::npos);
  EXPECT_EQ(stream.text().find("host.added"), std::string::npos) << "an event from before the stream was sent";
  // The same JSON as GET /v1/events.
  EXPECT_EQ(e, Call("GET", "/v1/events?after=" + std::to_string(newest)).body[0]);
}

TEST_F(ApiTest, EventStreamReplaysStoredEventsAfterTheGivenId) {
  AddLocalHost();
  ASSERT_EQ(Call("POST", "/v1/vms", R"({"name":"a","vcpus":1,"memory_mib":64})").status, 201);
  StreamReader stream(port_, "/v1/events/stream?after=0");
  ASSERT_TRUE(stream.WaitFor("event: vm.created\n")) << stream.text();
  const std::string text = stream.text();
  EXPECT_LT(text.find("event: host.added\n"), text.find("event: vm.created\n"));
  EXPECT_EQ(text.rfind("id: 0\n\n", 0), 0u) << text;
}

TEST_F(ApiTest, EventStreamEndsCleanlyWhenTheServerStops) {
  StreamReader stream(port_, "/v1/events/stream");
  ASSERT_TRUE(stream.WaitFor("id: 0\n\n")) << stream.text();
  api_->Stop();  // must not wait for the stream's heartbeat (the test would time out)
  serve_.join();
  stream.WaitEnded();
  EXPECT_TRUE(stream.ended_ok()) << "the stream was cut instead of ended";
}

// Issue 24: a client that went away (its socket closed, as when it is killed) gives its slot
// back at once when another stream needs it, not at the next heartbeat 15 s later; while every
// holder is alive the limit stands.
TEST_F(ApiTest, EventStreamSlotsOfClientsGoneAreFreedForNewStreams) {
  std::vector<std::unique_ptr<StreamReader>> holders;
  for (int i = 0; i < EventStreams::kMaxStreams; ++i) {
    holders.push_back(std::make_unique<StreamReader>(port_, "/v1/events/stream"));
    ASSERT_TRUE(holders.back()->WaitFor("id: ")) << "stream " << i << ": " << holders.back()->text();
  }
  EXPECT_EQ(Call("GET", "/v1/events/stream").status, 503) << "every holder is alive";
  holders.clear();  // every client closes its socket
  StreamReader next(port_, "/v1/events/stream");
  ASSERT_TRUE(next.WaitFor("id: ")) << next.text();
  EXPECT_EQ(next.status(), 200);
}

TEST_F(ApiTest, EventStreamRefusesABadCursor) {
  for (const char* path : {"/v1/events/stream?after=abc", "/v1/events/stream?after=-1"}) {
    Reply r = Call("GET", path);
    EXPECT_EQ(r.status, 400) << path;
    EXPECT_NE(Message(r).find("after"), std::string::npos) << Message(r);
  }
  httplib::Result r = client_->Get("/v1/events/stream", httplib::Headers{{"Last-Event-ID", "x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("Last-Event-ID"), std::string::npos) << r->body;
}

TEST_F(ApiTest, AlarmsAreActiveUntilClearedAndRaisedAgain) {
  ASSERT_TRUE(store_->AppendEvent({.kind = "alarm.vm-crash-loop", .subject = "fw1", .message = "left down"}).ok());
  ASSERT_TRUE(store_->AppendEvent({.kind = "alarm.fence-failed", .subject = "h1", .message = "BMC silent"}).ok());
  ASSERT_TRUE(store_->AppendEvent({.kind = "vm.created", .subject = "fw1", .message = "not an alarm"}).ok());
  ASSERT_TRUE(store_->AppendEvent({.kind = "alarm.vm-crash-loop", .subject = "fw1", .message = "left down again"}).ok());
  Reply alarms = Call("GET", "/v1/alarms");
  ASSERT_EQ(alarms.status, 200);
  ASSERT_EQ(alarms.body.size(), 2u) << alarms.body.dump();
  EXPECT_EQ(alarms.body[0]["kind"], "alarm.fence-failed");
  EXPECT_EQ(alarms.body[1]["kind"], "alarm.vm-crash-loop");
  EXPECT_EQ(alarms.body[1]["message"], "left down again");  // the latest of (kind, subject)
  EXPECT_EQ(alarms.body[1]["id"], 4);

  Reply cleared = Call("POST", "/v1/alarms/clear", R"({"kind":"alarm.vm-crash-loop","subject":"fw1"})");
  ASSERT_EQ(cleared.status, 200) << cleared.body.dump();
  EXPECT_EQ(cleared.body["cleared"]["id"], 4);
  alarms = Call("GET", "/v1/alarms");
  ASSERT_EQ(alarms.body.size(), 1u) << alarms.body.dump();
  EXPECT_EQ(alarms.body[0]["kind"], "alarm.fence-failed");
  const json last = Call("GET", "/v1/events?after=4").body;
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0]["kind"], "alarm.cleared");
  EXPECT_EQ(last[0]["subject"], "fw1");

  Reply again = Call("POST", "/v1/alarms/clear", R"({"kind":"alarm.vm-crash-loop","subject":"fw1"})");
  EXPECT_EQ(again.status, 404);
  EXPECT_NE(Message(again).find("no active alarm alarm.vm-crash-loop"), std::string::npos) << Message(again);

  // Raised after the clear: active again.
  ASSERT_TRUE(store_->AppendEvent({.kind = "alarm.vm-crash-loop", .subject = "fw1", .message = "third time"}).ok());
  EXPECT_EQ(Call("GET", "/v1/alarms").body.size(), 2u);
}

TEST_F(ApiTest, BadAlarmClearsAreRefusedAndChangeNothing) {
  ASSERT_TRUE(store_->AppendEvent({.kind = "alarm.vm-crash-loop", .subject = "fw1", .message = "left down"}).ok());
  const json events_before = Call("GET", "/v1/events?after=0&limit=1000").body;
  struct Case {
    std::string body;
    int status;
    std::string mention;
  };
  for (const Case& c : std::vector<Case>{{R"({"kind":"alarm.vm-crash-loop"})", 400, "subject: missing"},
                                         {R"({"subject":"fw1"})", 400, "kind: missing"},
                                         {R"({"kind":1,"subject":"fw1"})", 400, "kind: must be a string"},
                                         {R"({"kind":"alarm.vm-crash-loop","subject":"fw1","why":"x"})", 400, "unknown field \"why\""},
                                         {R"({"kind":"vm.created","subject":"fw1"})", 400, "not an alarm kind"},
                                         {R"({"kind":"alarm.cleared","subject":"fw1"})", 400, "not an alarm kind"},
                                         {R"(["alarm.x"])", 400, "object"},
                                         {R"({"kind":"alarm.vm-crash-loop","subject":"fw2"})", 404, "fw2"}}) {
    SCOPED_TRACE(c.body);
    Reply r = Call("POST", "/v1/alarms/clear", c.body);
    EXPECT_EQ(r.status, c.status) << r.body.dump();
    EXPECT_NE(Message(r).find(c.mention), std::string::npos) << Message(r);
  }
  EXPECT_EQ(Call("GET", "/v1/events?after=0&limit=1000").body, events_before);
  EXPECT_EQ(Call("GET", "/v1/alarms").body.size(), 1u);
}

// Fixture hosts: vCPU statistics are simulated (zero time, on the pinned pCPU).
TEST_F(ApiTest, MetricsDescribeHostsVmsVcpusGroupsAndTheReserve) {
  AddFixtureHosts(4);
  const json group = json::parse(R"({"name":"fw","vm":{"vcpus":2,"memory_mib":1024},"act":1,"sby":1,"domains":["rack"]})");
  Reply g = Call("POST", "/v1/groups", group.dump());
  ASSERT_EQ(g.status, 201) << g.body.dump();
  ASSERT_TRUE(store_->AppendEvent({.kind = "alarm.fence-failed", .subject = "h\"1\\\n", .message = "x"}).ok());

  httplib::Result r = client_->Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = r->body;
  auto has = [&](const std::string& line) { return text.find("\n" + line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("corepin_host_up{host=\"h1\"} 1")) << text;
  EXPECT_TRUE(has("corepin_host_pcpus{host=\"h1\",kind=\"housekeeping\"} 2")) << text;
  EXPECT_TRUE(has("corepin_host_pcpus{host=\"h1\",kind=\"allocatable\"} 126")) << text;
  EXPECT_TRUE(has("corepin_host_schedulable{host=\"h4\"} 1")) << text;
  EXPECT_TRUE(has("corepin_group_members{group=\"fw\",role=\"act\"} 1")) << text;
  EXPECT_TRUE(has("corepin_group_members{group=\"fw\",role=\"sby\"} 1")) << text;
  EXPECT_TRUE(has("corepin_reserve_degraded 0")) << text;
  EXPECT_TRUE(has("corepin_alarms_active 1")) << text;
  EXPECT_TRUE(has("corepin_alarms_active_by_kind{kind=\"alarm.fence-failed\"} 1")) << text;
  EXPECT_TRUE(has("# TYPE corepin_vcpu_cpu_seconds_total counter")) << text;

  // Per member: its info, pinning verified, and each vCPU on its assigned pCPU.
  for (const json& m : Call("GET", "/v1/groups/fw").body["members"]) {
    const std::string vm = m["vm"];
    const json shown = Call("GET", "/v1/vms/" + vm).body;
    EXPECT_TRUE(has("corepin_vm_info{vm=\"" + vm + "\",host=\"" + shown["host"].get<std::string>() + "\",group=\"fw\",role=\"" +
                    m["role"].get<std::string>() + "\",state=\"running\"} 1"))
        << text;
    EXPECT_TRUE(has("corepin_vm_pinning_verified{vm=\"" + vm + "\"} 1")) << text;
    for (const json& v : shown["vcpus"]) {
      const std::string vcpu = std::to_string(v["vcpu"].get<int>()), pcpu = std::to_string(v["pcpu"].get<int>());
      EXPECT_TRUE(has("corepin_vcpu_cpu_seconds_total{vm=\"" + vm + "\",vcpu=\"" + vcpu + "\",pcpu=\"" + pcpu + "\"} 0")) << text;
      EXPECT_TRUE(has("corepin_vcpu_delay_seconds_total{vm=\"" + vm + "\",vcpu=\"" + vcpu + "\"} 0")) << text;
    }
    Reply stats = Call("GET", "/v1/vms/" + vm + "/stats");
    ASSERT_EQ(stats.status, 200) << stats.body.dump();
    ASSERT_EQ(stats.body["vcpus"].size(), 2u);
    for (const json& v : stats.body["vcpus"]) EXPECT_EQ(v["pcpu"], v["intended_pcpu"]) << stats.body.dump();
  }
  // Every line is a comment or NAME{LABELS} VALUE.
  std::istringstream lines(text);
  const std::regex sample(R"(^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [-+0-9.eEInfNa]+$)");
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("# ", 0) != 0) {
      EXPECT_TRUE(std::regex_match(line, sample)) << line;
    }
  EXPECT_NE(text.find("corepin_events_total{kind=\"group.created\"}"), std::string::npos) << text;

  EXPECT_EQ(Call("GET", "/v1/vms/nope/stats").status, 404);
}

}  // namespace
}  // namespace corepin
