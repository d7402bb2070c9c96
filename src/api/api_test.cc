// ApiServer end to end: a real Controller over a real SQLite store (in a temp dir) and libvirt's
// in-process test driver (test:///default: 2 NUMA nodes x 8 pCPUs, shared by the connections of
// one process; each test runs in its own process), served on 127.0.0.1 with an ephemeral port.
#include "api/api_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
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
    dir_ = fs::temp_directory_path() / ("corepin_api_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto store = OpenSqliteStore((dir_ / "corepin.db").string());
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
    controller_ = std::make_unique<Controller>(store_.get(), [](const std::string& uri) { return ConnectHypervisor(uri); });
    auto started = controller_->Start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    api_ = std::make_unique<ApiServer>(*controller_);
    auto port = api_->Bind("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    serve_ = std::thread([this] { (void)api_->Serve(); });
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

  fs::path dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<ApiServer> api_;
  std::thread serve_;
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
  EXPECT_EQ(Call("GET", "/v1/vms").body, json::array());
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

}  // namespace
}  // namespace corepin
