// Redundancy groups through the controller: fixture hosts (simulated 128-pCPU hosts) with rack
// labels, a real SQLite store, and for the service network a real ovsdb-server.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "controller/controller.h"
#include "driver/domain_xml.h"
#include "driver/fence/testing/test_bmc.h"
#include "driver/switch/testing/ovsdb_server.h"
#include "store/secret_box.h"
#include "store/sqlite_store.h"

namespace corepin {
namespace {

using nlohmann::json;

class GroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/corepin-groups-XXXXXX";
    dir_ = mkdtemp(tmpl);
    setenv("COREPIN_FIXTURE_STATE_DIR", (dir_ + "/fixture-hosts").c_str(), 1);
  }
  void TearDown() override {
    controller_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open(const std::string& switch_uri = "none", int reconcile_interval_ms = 0, const std::string& crash_point = "") {
    controller_.reset();
    store_.reset();
    store_ = std::move(*OpenSqliteStore(dir_ + "/state.db"));
    ControllerOptions options;
    options.crash_point = crash_point;
    options.switch_uri = switch_uri;
    options.reconcile_interval_ms = reconcile_interval_ms;
    controller_ = std::make_unique<Controller>(store_.get(), ConnectHypervisor, options);
    Status s = controller_->Start();
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  // h1..hn, host i in rack r((i-1) % 3 + 1), all with VM interfaces on bridge br-int.
  void AddHosts(int n) {
    for (int i = 1; i <= n; ++i) {
      std::string name = "h" + std::to_string(i);
      auto r = controller_->AddHost({{"name", name}, {"uri", "fixture:2s32c-smt2#" + name}, {"housekeeping", "0,64"},
                                     {"labels", {{"rack", "r" + std::to_string((i - 1) % 3 + 1)}}}, {"bridge", "br-int"}});
      ASSERT_TRUE(r.ok()) << r.error().message;
    }
  }
  Result<json> CreatePair(const std::string& extra = "") {
    NoFit no_fit;
    return controller_->CreateGroup(
        json::parse(R"({"name":"fw","members":[{"name":"fw-a","role":"act"},{"name":"fw-b","role":"sby"}],"domains":["rack"],)"
                    R"("vm":{"vcpus":4,"smt":"isolate","memory_mib":4096,"interfaces":[{"name":"svc"}]})" + extra + "}"),
        &no_fit);
  }
  // A private ovsdb-server with bridge br-int and the service ports of fw-a and fw-b (libvirt
  // would add them on a real host when the VMs start).
  static Result<std::unique_ptr<testing::TestOvsdbServer>> StartOvsdbWithPorts() {
    auto db = testing::TestOvsdbServer::Start();
    if (!db) return db.error();
    if (auto r = (*db)->Vsctl({"add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev"}); !r) return r.error();
    for (const char* vm : {"fw-a", "fw-b"})  // on each host the tests add (ports are per host)
      for (const char* host : {"h1", "h2", "h3"})
        if (auto r = (*db)->Vsctl({"add-port", "br-int", PortName(vm, host, "svc")}); !r) return r.error();
    return db;
  }
  std::string HostOf(const json& group, const std::string& vm) {
    for (const auto& m : group["members"])
      if (m["vm"] == vm) return m["host"];
    return "";
  }
  std::string dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Controller> controller_;
};

TEST_F(GroupsTest, PairOnTwoRacksWithReserveWhatIfAndRestart) {
  Open();
  AddHosts(4);
  auto g = CreatePair();
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ((*g)["state"], "running");
  const std::string ha = HostOf(*g, "fw-a"), hb = HostOf(*g, "fw-b");
  auto hosts = *controller_->ListHosts();
  std::map<std::string, std::string> rack;
  for (const auto& h : hosts) rack[h["name"]] = h["labels"]["rack"];
  EXPECT_NE(rack[ha], rack[hb]) << "members share a rack";
  EXPECT_FALSE((*g)["placement"]["explanation"]["searches"].empty());
  // Both members run on their hosts, with the group's spec.
  EXPECT_EQ((*controller_->ShowVm("fw-a"))["pinning_verified"], true);
  EXPECT_EQ((*controller_->ShowVm("fw-b"))["role"], "sby");
  // The reserve holds exact pCPUs, and what-if of the ACT's host moves it there.
  auto shown = controller_->ShowGroup("fw");
  EXPECT_EQ((*shown)["heals"].size(), 2u) << shown->dump(2);
  auto w = controller_->WhatIf({ha});
  ASSERT_TRUE(w.ok()) << w.error().message;
  ASSERT_EQ((*w)["moves"].size(), 1u) << w->dump(2);
  EXPECT_EQ((*w)["moves"][0]["vm"], "fw-a");
  EXPECT_NE((*w)["moves"][0]["to"], hb);
  EXPECT_EQ((*w)["moves"][0]["assignment"]["vcpu_pcpus"].size(), 4u);
  EXPECT_TRUE((*w)["lost"].empty());
  EXPECT_EQ(controller_->WhatIf({"nope"}).error().code, ErrorCode::kNotFound);
  json reserve = *controller_->Reserve();

  Open();  // restart: the group, its roles and the reserve plan come back
  auto again = controller_->ShowGroup("fw");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)["members"], (*shown)["members"]);
  EXPECT_EQ((*controller_->Reconcile())["differences"].size(), 0u);
  EXPECT_EQ((*controller_->WhatIf({ha}))["moves"].size(), 1u);

  ASSERT_TRUE(controller_->DeleteGroup("fw").ok());
  EXPECT_TRUE(controller_->ListVms()->empty());
  EXPECT_TRUE(controller_->ListGroups()->empty());
  const json hosts_after = *controller_->ListHosts();
  for (const auto& h : hosts_after) EXPECT_EQ(h["reserve"], 0) << h.dump();
}

TEST_F(GroupsTest, RefusalsChangeNothing) {
  Open();
  AddHosts(3);
  NoFit no_fit;
  ASSERT_TRUE(controller_->CreateVm(json::parse(R"({"name":"solo","vcpus":2,"memory_mib":1024})"), &no_fit).ok());
  struct Case { std::string request; ErrorCode code; std::string expect; };
  for (const auto& c : std::vector<Case>{
           {R"({"name":"g1","act":1,"sby":1,"domains":["power"],"vm":{"vcpus":2,"memory_mib":1024}})", ErrorCode::kUnprocessable, "power"},
           {R"({"name":"solo","act":1,"sby":1,"vm":{"vcpus":2,"memory_mib":1024}})", ErrorCode::kConflict, "share one namespace"},
           {R"({"name":"g2","members":[{"name":"solo","role":"act"},{"name":"x","role":"sby"}],"vm":{"vcpus":2,"memory_mib":1024}})", ErrorCode::kConflict, "VM solo already exists"},
           {R"({"name":"g3","act":1,"sby":1,"vm":{"vcpus":200,"memory_mib":1024}})", ErrorCode::kUnprocessable, "no host"},
           {R"({"name":"g4","act":1,"sby":1,"vm":{"vcpus":2,"memory_mib":1024},"service":{"vlan":100}})", ErrorCode::kInvalid, "no interfaces"},
           {R"({"name":"g5","act":1,"sby":1,"vm":{"vcpus":2,"memory_mib":1024,"interfaces":[{"name":"svc"}]},"service":{"vlan":5000}})", ErrorCode::kInvalid, "out of range"},
           {R"({"name":"g6","members":[{"name":"a","role":"act","host":"h9"},{"name":"b","role":"sby"}],"vm":{"vcpus":2,"memory_mib":1024}})", ErrorCode::kNotFound, "h9"},
       }) {
    NoFit nf;
    auto r = controller_->CreateGroup(json::parse(c.request), &nf);
    ASSERT_FALSE(r.ok()) << c.request;
    EXPECT_EQ(r.error().code, c.code) << c.request << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(controller_->ListGroups()->empty());
  EXPECT_EQ(controller_->ListVms()->size(), 1u);
  EXPECT_EQ(controller_->Switchover("nope", json::object()).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(controller_->DeleteVm("nope").error().code, ErrorCode::kNotFound);
}

TEST_F(GroupsTest, InterruptedCreateIsUndoneOnStart) {
  Open();
  AddHosts(3);
  ASSERT_TRUE(CreatePair().ok());
  // As if corepind died after storing the intent but before the members started: the group
  // is "creating" and one member's domain is missing.
  auto rec = store_->GetGroup("fw");
  rec->state = "creating";
  ASSERT_TRUE(store_->UpdateGroup(*rec).ok());
  auto hv = ConnectHypervisor("fixture:2s32c-smt2#" + (*store_->GetVm("fw-b")).host);
  ASSERT_TRUE((*hv)->DestroyAndUndefine("fw-b").ok());
  Open();
  EXPECT_EQ(store_->GetGroup("fw").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(controller_->ListVms()->empty());
  const json hosts = *controller_->ListHosts();
  for (const auto& h : hosts) {
    EXPECT_EQ(h["vms"], 0);
    EXPECT_EQ(h["reserve"], 0);
  }
}

// The service VLAN follows the ACT in a real OVSDB: tags on place, a switchover in one
// transaction, a tag changed by hand put back by reconcile, and a switch that is down refusing
// the switchover with nothing changed.
TEST_F(GroupsTest, ServiceVlanFollowsTheActInOvsdb) {
  auto ovsdb = StartOvsdbWithPorts();
  ASSERT_TRUE(ovsdb.ok()) << ovsdb.error().message;
  auto& db = **ovsdb;
  Open(db.unix_uri());
  AddHosts(3);
  auto g = CreatePair(R"(,"service":{"vlan":100})");
  ASSERT_TRUE(g.ok()) << g.error().message;
  const std::string pa = PortName("fw-a", HostOf(*g, "fw-a"), "svc"), pb = PortName("fw-b", HostOf(*g, "fw-b"), "svc");
  auto tag = [&](const std::string& port) { return *db.Vsctl({"get", "port", port, "tag"}); };
  EXPECT_EQ(tag(pa), "100\n");
  EXPECT_EQ(tag(pb), "4094\n");

  // A client's access port on the service VLAN, on another bridge (the top of rack), is normal.
  ASSERT_TRUE(db.Vsctl({"add-br", "tor", "--", "set", "bridge", "tor", "datapath_type=netdev"}).ok());
  ASSERT_TRUE(db.Vsctl({"add-port", "tor", "client1", "tag=100"}).ok());
  auto s = controller_->Switchover("fw", json::object());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(tag(pa), "4094\n");
  EXPECT_EQ(tag(pb), "100\n");
  EXPECT_EQ((*controller_->ShowVm("fw-b"))["role"], "act");

  // By hand: the ACT's port moved to VLAN 7. Reconcile says so and puts it back.
  ASSERT_TRUE(db.Vsctl({"set", "port", pb, "tag=7"}).ok());
  auto r = controller_->Reconcile();
  bool reported = false;
  for (const auto& d : (*r)["differences"]) reported |= d["kind"] == "switch-port-by-hand" && d["vm"] == pb;
  EXPECT_TRUE(reported) << r->dump(2);
  EXPECT_EQ(tag(pb), "100\n");

  // The switch down: the switchover is refused and nothing changes; back up, it goes through.
  db.Stop();
  auto refused = controller_->Switchover("fw", json::object());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable) << refused.error().message;
  EXPECT_EQ((*controller_->ShowVm("fw-b"))["role"], "act");
  EXPECT_EQ((*controller_->ShowGroup("fw"))["state"], "running");
  ASSERT_TRUE(db.Restart().ok());
  ASSERT_TRUE(controller_->Switchover("fw", json::object()).ok());
  EXPECT_EQ(tag(pa), "100\n");
  EXPECT_EQ((*controller_->ShowVm("fw-a"))["role"], "act");
}

// With the background reconcile on, a tag changed by hand is put back without anyone asking:
// the switch's monitor wakes the reconcile long before its (here: one minute) interval.
TEST_F(GroupsTest, HandChangeIsPutBackInTheBackground) {
  auto ovsdb = StartOvsdbWithPorts();
  ASSERT_TRUE(ovsdb.ok()) << ovsdb.error().message;
  auto& db = **ovsdb;
  Open(db.unix_uri(), 60000);
  AddHosts(3);
  auto g = CreatePair(R"(,"service":{"vlan":100})");
  ASSERT_TRUE(g.ok()) << g.error().message;
  const std::string pa = PortName("fw-a", HostOf(*g, "fw-a"), "svc");
  ASSERT_TRUE(db.Vsctl({"set", "port", pa, "tag=7"}).ok());
  std::string tag;
  for (int i = 0; i < 100 && tag != "100\n"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    tag = *db.Vsctl({"get", "port", pa, "tag"});
  }
  EXPECT_EQ(tag, "100\n") << "the hand change was not put back within 5 s";
  bool event = false;
  auto events = controller_->Events(0, 1000);
  for (const auto& e : *events) event |= e["kind"] == "reconcile.switch-port-by-hand";
  EXPECT_TRUE(event);
}

}  // namespace
}  // namespace corepin

namespace corepin {
namespace {

// A host's BMC: configured by its fence URI, shown masked, asked for the power state.
TEST(HostBmc, PowerStatusThroughTheBmcAndNoPasswordInViews) {
  auto bmc = testing::TestBmc::Start();
  ASSERT_TRUE(bmc.ok()) << bmc.error().message;
  char tmpl[] = "/tmp/corepin-bmc-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  setenv("COREPIN_FIXTURE_STATE_DIR", (dir + "/fx").c_str(), 1);
  {
    auto store = std::move(*OpenSqliteStore(dir + "/state.db"));
    Controller c(store.get(), ConnectHypervisor);
    ASSERT_TRUE(c.Start().ok());
    auto bad = c.AddHost({{"name", "h0"}, {"uri", "fixture:2s32c-smt2#h0"}, {"housekeeping", "0,64"}, {"bmc", "ipmi://nouser@1.2.3.4"}});
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalid);
    EXPECT_NE(bad.error().message.find("bmc:"), std::string::npos) << bad.error().message;

    const std::string uri = (*bmc)->uri();
    auto h = c.AddHost({{"name", "h1"}, {"uri", "fixture:2s32c-smt2#h1"}, {"housekeeping", "0,64"}, {"bmc", uri}});
    ASSERT_TRUE(h.ok()) << h.error().message;
    const std::string password = uri.substr(uri.find(':', 7) + 1, uri.find('@') - uri.find(':', 7) - 1);
    EXPECT_EQ(h->dump().find(password), std::string::npos) << "the BMC password shows in the host view";
    EXPECT_EQ(c.ShowHost("h1")->dump().find(password), std::string::npos);

    auto p = c.PowerStatus("h1");
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ((*p)["power"], (*bmc)->powered_on() ? "on" : "off");
    (*bmc)->set_powered_on(false);
    EXPECT_EQ((*c.PowerStatus("h1"))["power"], "off");

    ASSERT_TRUE(c.AddHost({{"name", "h2"}, {"uri", "fixture:2s32c-smt2#h2"}, {"housekeeping", "0,64"}}).ok());
    EXPECT_EQ(c.PowerStatus("h2").error().code, ErrorCode::kUnprocessable);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace corepin

namespace corepin {
namespace {

// With a key file, the BMC password is stored sealed: the state file alone does not give it
// away, and a restarted controller with the same key still reaches the BMC.
TEST(HostBmc, PasswordSealedAtRestAndOpenedAfterARestart) {
  auto bmc = testing::TestBmc::Start();
  ASSERT_TRUE(bmc.ok()) << bmc.error().message;
  char tmpl[] = "/tmp/corepin-bmc-sealed-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  setenv("COREPIN_FIXTURE_STATE_DIR", (dir + "/fx").c_str(), 1);
  auto box = SecretBox::OpenOrCreate(dir + "/secrets.key");
  ASSERT_TRUE(box.ok());
  ControllerOptions options;
  options.secrets = &*box;
  const std::string uri = (*bmc)->uri();
  const std::string password = uri.substr(uri.find(':', 7) + 1, uri.find('@') - uri.find(':', 7) - 1);
  {
    auto store = std::move(*OpenSqliteStore(dir + "/state.db"));
    Controller c(store.get(), ConnectHypervisor, options);
    ASSERT_TRUE(c.Start().ok());
    ASSERT_TRUE(c.AddHost({{"name", "h1"}, {"uri", "fixture:2s32c-smt2#h1"}, {"housekeeping", "0,64"}, {"bmc", uri}}).ok());
    auto rec = store->GetHost("h1");
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(rec->config_json.find(password), std::string::npos) << rec->config_json;
    EXPECT_NE(rec->config_json.find("enc:v1:"), std::string::npos) << rec->config_json;
  }
  {
    auto store = std::move(*OpenSqliteStore(dir + "/state.db"));
    Controller c(store.get(), ConnectHypervisor, options);
    ASSERT_TRUE(c.Start().ok());
    auto p = c.PowerStatus("h1");
    ASSERT_TRUE(p.ok()) << p.error().message;
  }
  {  // Without the key the stored host cannot be loaded, and start-up says why.
    auto store = std::move(*OpenSqliteStore(dir + "/state.db"));
    Controller c(store.get(), ConnectHypervisor);
    Status s = c.Start();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("key file"), std::string::npos) << s.error().message;
  }
  std::filesystem::remove_all(dir);
}

// The state was lost (or restored from an older backup) while a corepin VM ran on h1: a new
// state that adds h1 again sees the domain, holds h1 out of placement with an alarm (never
// putting a second VM on its pCPUs), and adopts it back on request.
TEST_F(GroupsTest, AnUnknownCorepinDomainIsNeverPlacedOverAndCanBeAdopted) {
  Open();
  AddHosts(1);
  NoFit no_fit;
  auto vm = controller_->CreateVm(json::parse(R"({"name":"fw1","vcpus":4,"memory_mib":1024})"), &no_fit);
  ASSERT_TRUE(vm.ok()) << vm.error().message;
  const std::string pcpus = (*controller_->ShowVm("fw1")).dump();
  controller_.reset();
  store_.reset();
  std::filesystem::remove(dir_ + "/state.db");
  std::filesystem::remove(dir_ + "/state.db-wal");
  std::filesystem::remove(dir_ + "/state.db-shm");
  Open();
  AddHosts(1);
  const json host = *controller_->ShowHost("h1");
  ASSERT_TRUE(host["unknown_domains"].contains("fw1")) << host.dump(2);
  bool alarmed = false;
  const json alarms = *controller_->Alarms();
  for (const auto& a : alarms) alarmed |= a["kind"] == "alarm.unknown-domain" && a["subject"] == "fw1";
  EXPECT_TRUE(alarmed);
  auto placed = controller_->CreateVm(json::parse(R"({"name":"fw2","vcpus":4,"memory_mib":1024})"), &no_fit);
  EXPECT_FALSE(placed.ok()) << "a VM was placed on a host whose pCPUs an unknown domain may hold";

  auto bad = controller_->AdoptVm("nosuch", json{{"host", "h1"}});
  EXPECT_FALSE(bad.ok());
  auto adopted = controller_->AdoptVm("fw1", json{{"host", "h1"}});
  ASSERT_TRUE(adopted.ok()) << adopted.error().message;
  const json v = *controller_->ShowVm("fw1");
  EXPECT_EQ(v["state"], "running");
  EXPECT_EQ(v["pinning_verified"], true) << v.dump(2);
  EXPECT_TRUE((*controller_->ShowHost("h1"))["unknown_domains"].empty());
  const json after = *controller_->Alarms();
  for (const auto& a : after) EXPECT_NE(a["kind"], "alarm.unknown-domain") << a.dump();
  // Now h1 takes VMs again, and never on fw1's pCPUs (the cluster's invariants hold).
  auto fw2 = controller_->CreateVm(json::parse(R"({"name":"fw2","vcpus":4,"memory_mib":1024})"), &no_fit);
  ASSERT_TRUE(fw2.ok()) << fw2.error().message;
  EXPECT_TRUE(controller_->AdoptVm("fw1", json{{"host", "h1"}}).error().code == ErrorCode::kConflict);
  // And a restart keeps it.
  Open();
  EXPECT_EQ((*controller_->ShowVm("fw1"))["state"], "running");
}

// One flipped byte in a stored topology (pCPU 5 moved to the other socket) is noticed at
// start: the host is out of placement with an alarm naming the difference.
TEST_F(GroupsTest, ACorruptedStoredTopologyTakesTheHostOutOfPlacement) {
  Open();
  AddHosts(2);
  controller_.reset();
  auto rec = store_->GetHost("h1");
  ASSERT_TRUE(rec.ok());
  const std::string from = "id=\"5\" socket_id=\"0\"";
  const size_t at = rec->topology_xml.find(from);
  ASSERT_NE(at, std::string::npos) << rec->topology_xml.substr(0, 2000);
  rec->topology_xml.replace(at, from.size(), "id=\"5\" socket_id=\"1\"");
  ASSERT_TRUE(store_->DeleteHost("h1").ok());
  ASSERT_TRUE(store_->PutHost(*rec).ok());
  Open();
  const json h1 = *controller_->ShowHost("h1");
  EXPECT_NE(h1["topology_mismatch"].get<std::string>().find("pCPU 5"), std::string::npos) << h1["topology_mismatch"];
  EXPECT_EQ((*controller_->ShowHost("h2"))["topology_mismatch"], "");
  bool alarmed = false;
  const json alarms = *controller_->Alarms();
  for (const auto& a : alarms) alarmed |= a["kind"] == "alarm.topology-changed" && a["subject"] == "h1";
  EXPECT_TRUE(alarmed);
  NoFit no_fit;
  for (int i = 0; i < 3; ++i) {
    auto vm = controller_->CreateVm(json{{"name", "v" + std::to_string(i)}, {"vcpus", 2}, {"memory_mib", 512}}, &no_fit);
    ASSERT_TRUE(vm.ok()) << vm.error().message;
    EXPECT_EQ((*vm)["host"], "h2");
  }
}

// corepind killed at each step of a group's create, then started again: the create is either
// complete (the group and both members running, pinning verified) or gone (no record, no
// domain, no pCPU held); never a running group with members left creating.
TEST_F(GroupsTest, KilledAtEachCreateStepEndsCompleteOrGone) {
  for (const std::string point : {"group.stored", "group.started", "group.switched"}) {
    SCOPED_TRACE(point);
    TearDown();
    SetUp();
    Open();
    AddHosts(3);
    controller_.reset();  // no thread of ours left when the death test forks
    store_.reset();
    EXPECT_EXIT(
        {
          Open("none", 0, point);
          (void)CreatePair();
          std::_Exit(0);
        },
        ::testing::ExitedWithCode(86), "crash point " + point);
    Open();
    const json groups = *controller_->ListGroups();
    const json vms = *controller_->ListVms();
    if (groups.empty()) {
      EXPECT_TRUE(vms.empty()) << vms.dump(2);
      for (const char* host : {"h1", "h2", "h3"}) {
        const json h = *controller_->ShowHost(host);
        EXPECT_EQ(h.dump().find("fw-"), std::string::npos) << host << " still holds pCPUs for the rolled-back group";
      }
      continue;
    }
    ASSERT_EQ(groups.size(), 1u);
    EXPECT_EQ(groups[0]["state"], "running") << groups.dump(2);
    ASSERT_EQ(vms.size(), 2u) << vms.dump(2);
    for (const char* vm : {"fw-a", "fw-b"}) {
      const json v = *controller_->ShowVm(vm);
      EXPECT_EQ(v["state"], "running") << v.dump(2);
      EXPECT_EQ(v["pinning_verified"], true) << v.dump(2);
    }
  }
}

// The state an older corepind could leave: the group running, its members still creating.
// Start-up finishes the create (the members run with their stored pinning).
TEST_F(GroupsTest, ARunningGroupWithMembersCreatingIsFinishedAtStart) {
  Open();
  AddHosts(3);
  ASSERT_TRUE(CreatePair().ok());
  for (const char* vm : {"fw-a", "fw-b"}) {
    auto r = store_->GetVm(vm);
    ASSERT_TRUE(r.ok());
    r->state = "creating";
    ASSERT_TRUE(store_->UpdateVm(*r).ok());
  }
  Open();
  for (const char* vm : {"fw-a", "fw-b"}) {
    const json v = *controller_->ShowVm(vm);
    EXPECT_EQ(v["state"], "running") << v.dump(2);
  }
  EXPECT_EQ((*controller_->ShowGroup("fw"))["state"], "running");
  const json events = *controller_->Events(0, 1000);
  EXPECT_NE(events.dump().find("group.create.resumed"), std::string::npos) << events.dump(2);
  // And a repin, refused before for a VM stuck creating, is taken.
  NoFit no_fit;
  auto repin = controller_->RepinVm("fw-a", json{{"auto", true}}, &no_fit);
  EXPECT_TRUE(repin.ok()) << repin.error().message;
}

}  // namespace
}  // namespace corepin
