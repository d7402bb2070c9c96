// The switch driver against a real ovsdb-server: each test starts its own on a fresh database
// (TestOvsdbServer) and stops it by pid at the end, failed or not. Set-up and simulated hand
// changes use ovs-vsctl --db=unix:...; the driver itself speaks only OVSDB JSON-RPC.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "driver/switch/ovsdb_switch.h"
#include "driver/switch/switch_driver.h"
#include "driver/switch/testing/ovsdb_server.h"

namespace corepin {
namespace {

using testing::TestOvsdbServer;
using namespace std::chrono_literals;

constexpr int kService = 100, kParking = kDefaultParkingVlan;

PortState Access(std::string bridge, std::string port, int tag, bool service = false) {
  return {std::move(bridge), std::move(port), tag, {}, service};
}
PortState Trunk(std::string bridge, std::string port, std::vector<int> trunks, std::optional<int> tag = {}) {
  return {std::move(bridge), std::move(port), tag, std::move(trunks), false};
}

// ---- without a server ----

TEST(SwitchUri, PicksDriver) {
  auto none = OpenSwitchDriver("none");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE((*none)->managed());
  auto u = OpenSwitchDriver("ovsdb:unix:/run/openvswitch/db.sock");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ((*u)->uri(), "ovsdb:unix:/run/openvswitch/db.sock");
  EXPECT_TRUE(OpenSwitchDriver("ovsdb:tcp:127.0.0.1:6640").ok());
  for (const char* bad : {"", "ovs:unix:/x", "ovsdb:", "ovsdb:unix:", "ovsdb:tcp:6640", "ovsdb:ssl:1.2.3.4:6640"}) {
    auto r = OpenSwitchDriver(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
    EXPECT_NE(r.error().message.find("ovsdb:unix:PATH"), std::string::npos);
  }
}

TEST(SwitchValidate, RejectsBadStatesNamingThePort) {
  struct Case {
    std::vector<PortState> ports;
    std::string expect;
  };
  std::vector<Case> cases = {
      {{Access("br", "p1", 0)}, "port p1: VLAN 0 out of range 1..4094"},
      {{Access("br", "p1", 4095)}, "port p1: VLAN 4095 out of range"},
      {{Access("br", "p1", 70000)}, "port p1: VLAN 70000 out of range"},
      {{Trunk("br", "p1", {10, 4095})}, "port p1: trunk VLAN 4095 out of range"},
      {{Trunk("br", "p1", {})}, "port p1: neither a tag nor trunks"},
      {{{"br", "p1", std::nullopt, {10}, true}}, "port p1: carries the service but has no tag"},
      {{Access("br", "p1", 100, true), Access("br", "p2", 100, true)}, "port p2: service VLAN 100 is already carried by port p1"},
      {{Access("br", "p1", 100, true), Access("br", "p2", 100)}, "port p2: tagged with service VLAN 100 of port p1"},
      {{Access("br", "p1", 100), Access("br2", "p1", 200)}, "port p1: given twice"},
      {{Access("", "p1", 100)}, "port p1: bridge and port names are required"},
  };
  for (auto& c : cases) {
    Status s = ValidateDesired(c.ports);
    ASSERT_FALSE(s.ok()) << c.expect;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalid);
    EXPECT_NE(s.error().message.find(c.expect), std::string::npos) << s.error().message;
  }
  std::vector<PortState> ok = {Access("br", "p1", 100, true), Access("br", "p2", 4094), Trunk("br", "up", {100, 10, 10})};
  EXPECT_TRUE(ValidateDesired(ok).ok());
  EXPECT_EQ(ok[2].trunks, (std::vector<int>{10, 100}));  // normalized
}

TEST(SwitchNone, SucceedsAndSaysItDidNothing) {
  auto d = OpenSwitchDriver("none");
  ASSERT_TRUE(d.ok());
  auto r = (*d)->Apply(GroupServicePorts(100, 4094, {{{"br", "a"}, true}, {{"br", "b"}, false}}), "switchover g");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->managed);
  EXPECT_TRUE(r->changed.empty());
  EXPECT_NE(r->summary.find("no managed switch, nothing done for 2 port(s)"), std::string::npos) << r->summary;
  auto read = (*d)->Read({{"br", "a"}});
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->managed);
  auto w = (*d)->Watch([](const WatchUpdate&) {});
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE((*w)->managed());
  // Bad input is still bad input.
  EXPECT_FALSE((*d)->Apply({Access("br", "a", 5000)}, "x").ok());
}

// The JSON-RPC client against a scripted peer: messages split across reads and run together,
// braces inside strings, an echo request in the middle of a call, a notification queued.
TEST(OvsdbClient, FramesMessagesAnswersEchoAndQueuesNotifications) {
  char dir[] = "/tmp/corepin-rpc-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/s.sock";
  int ls = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  ASSERT_EQ(::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(ls, 1), 0);
  std::string echo_reply;
  std::thread peer([&] {
    int c = ::accept(ls, nullptr, nullptr);
    char buf[4096];
    ssize_t n = ::read(c, buf, sizeof buf);  // the client's request, id 1
    ASSERT_GT(n, 0);
    auto send = [&](const std::string& s) {
      ASSERT_EQ(::write(c, s.data(), s.size()), static_cast<ssize_t>(s.size()));
      std::this_thread::sleep_for(5ms);  // separate reads on the other side
    };
    send(R"({"method":"echo","params":["ping"],"id":"e1"} {"method":"update","params":["m",{"t":"}{\"x"}],)");
    send(R"("id":null}{"id":1,"error":null,"result":[{"ro)");
    send(R"(ws":[{"name":"a]}{"}]}]})");
    n = ::read(c, buf, sizeof buf);  // the answer to our echo
    echo_reply.assign(buf, n > 0 ? n : 0);
    ::close(c);
  });
  auto client = ovsdb::OvsdbClient::Connect("unix:" + path, 1s);
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto r = (*client)->Call("transact", {"Open_vSwitch"}, 2s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)[0]["rows"][0]["name"], "a]}{");
  auto n = (*client)->NextNotification(1s);
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE(n->has_value());
  EXPECT_EQ((**n)["params"][1]["t"], "}{\"x");
  peer.join();
  auto echo = ovsdb::Json::parse(echo_reply);
  EXPECT_EQ(echo["id"], "e1");
  EXPECT_EQ(echo["result"], ovsdb::Json::array({"ping"}));
  // The peer hung up: the next call fails, naming the endpoint.
  auto gone = (*client)->Call("echo", ovsdb::Json::array(), 1s);
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.error().message.find("unix:" + path), std::string::npos) << gone.error().message;
  ::close(ls);
  std::filesystem::remove_all(dir);
}

// ---- against a real ovsdb-server ----

// Collects watch updates for a test to wait on.
class Recorder {
 public:
  void operator()(const WatchUpdate& u) {
    std::lock_guard l(mu_);
    updates_.push_back(u);
    cv_.notify_all();
  }
  // Waits until some update (counted from `from`) satisfies pred; returns its index or -1.
  template <class Pred>
  int WaitFor(Pred pred, size_t from = 0, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock l(mu_);
    int found = -1;
    cv_.wait_for(l, timeout, [&] {
      for (size_t i = from; i < updates_.size(); ++i)
        if (pred(updates_[i])) return found = static_cast<int>(i), true;
      return false;
    });
    return found;
  }
  size_t size() {
    std::lock_guard l(mu_);
    return updates_.size();
  }
  std::vector<WatchUpdate> all() {
    std::lock_guard l(mu_);
    return updates_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchUpdate> updates_;
};

const PortEvent* Find(const WatchUpdate& u, const std::string& port) {
  for (const auto& e : u.ports)
    if (e.port.state.port == port) return &e;
  return nullptr;
}


class SwitchOvsdb : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = TestOvsdbServer::Start(/*tcp=*/true);
    ASSERT_TRUE(s.ok()) << s.error().message;
    server_ = std::move(*s);
    // Two hosts' bridges, a VM port on each, and each bridge's uplink trunk.
    Vsctl({"add-br", "br-h1", "--", "set", "bridge", "br-h1", "datapath_type=netdev"});
    Vsctl({"add-br", "br-h2", "--", "set", "bridge", "br-h2", "datapath_type=netdev"});
    Vsctl({"add-port", "br-h1", "fw1-a-svc"});
    Vsctl({"add-port", "br-h2", "fw1-b-svc"});
    Vsctl({"add-port", "br-h1", "up-h1", "trunks=100"});
    Vsctl({"add-port", "br-h2", "other-vm", "tag=200"});
    auto d = OpenSwitchDriver(server_->unix_uri());
    ASSERT_TRUE(d.ok());
    driver_ = std::move(*d);
  }
  // Each test's server is stopped (by pid) when server_ goes, whatever the outcome.
  void TearDown() override { server_.reset(); }

  std::string Vsctl(const std::vector<std::string>& args) {
    auto r = server_->Vsctl(args);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : "";
  }
  std::string Get(const std::string& port, const std::string& column) {
    std::string v = Vsctl({"get", "port", port, column});
    while (!v.empty() && (v.back() == '\n')) v.pop_back();
    return v;
  }
  // Every port's VLAN columns: to check that a failed call changed nothing.
  std::string Dump() { return Vsctl({"--columns=name,tag,trunks,vlan_mode,external_ids", "list", "port"}); }

  std::vector<PortState> Group(bool a_is_act) {
    return GroupServicePorts(kService, kParking, {{{"br-h1", "fw1-a-svc"}, a_is_act}, {{"br-h2", "fw1-b-svc"}, !a_is_act}});
  }
  ovsdb::OvsdbSwitch& ovs() { return static_cast<ovsdb::OvsdbSwitch&>(*driver_); }

  std::unique_ptr<TestOvsdbServer> server_;
  std::unique_ptr<SwitchDriver> driver_;
};

TEST_F(SwitchOvsdb, TagsPortsAndAppliesOnlyTheDifference) {
  auto r = driver_->Apply(Group(true), "place fw1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->managed);
  EXPECT_EQ(r->changed.size(), 2u);
  EXPECT_EQ(r->hand_changes(), 0u);
  EXPECT_EQ(Get("fw1-a-svc", "tag"), "100");
  EXPECT_EQ(Get("fw1-a-svc", "vlan_mode"), "access");
  EXPECT_EQ(Get("fw1-b-svc", "tag"), "4094");
  EXPECT_EQ(Get("fw1-a-svc", "external_ids:corepin"), R"("{\"service\":true,\"tag\":100,\"trunks\":[]}")");

  auto read = driver_->Read({{"br-h1", "fw1-a-svc"}, {"br-h2", "fw1-b-svc"}});
  ASSERT_TRUE(read.ok()) << read.error().message;
  ASSERT_EQ(read->ports.size(), 2u);
  EXPECT_EQ(read->ports[0].state.tag, kService);
  EXPECT_TRUE(read->ports[0].state.service);
  EXPECT_EQ(read->ports[1].state.tag, kParking);
  EXPECT_FALSE(read->ports[1].by_hand);
  auto marked = driver_->Read({});  // every port corepin manages
  ASSERT_TRUE(marked.ok());
  EXPECT_EQ(marked->ports.size(), 2u);

  // The same state again: nothing to write.
  auto again = driver_->Apply(Group(true), "place fw1");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->changed.empty());
  EXPECT_EQ(again->unchanged.size(), 2u);

  // A trunk port (the uplink) is managed the same way.
  auto up = driver_->Apply({Trunk("br-h1", "up-h1", {100, 4000})}, "uplink");
  ASSERT_TRUE(up.ok()) << up.error().message;
  EXPECT_EQ(Get("up-h1", "trunks"), "[100, 4000]");
  EXPECT_EQ(Get("up-h1", "vlan_mode"), "trunk");
}

// A healed VM's old port (its host failed) is taken out of its bridge; a port that is not
// corepin's is left alone, and a port already gone is fine.
TEST_F(SwitchOvsdb, RemovePortsTakesOnlyCorepinsPortsOut) {
  ASSERT_TRUE(driver_->Apply(Group(true), "place fw1").ok());
  auto foreign = driver_->RemovePorts({{"br-h2", "other-vm"}}, "heal");
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, ErrorCode::kConflict);
  EXPECT_NE(foreign.error().message.find("other-vm"), std::string::npos) << foreign.error().message;
  EXPECT_EQ(Get("other-vm", "tag"), "200");

  auto removed = driver_->RemovePorts({{"br-h1", "fw1-a-svc"}, {"br-h1", "never-was"}}, "heal h1");
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_EQ(*removed, std::vector<std::string>{"br-h1/fw1-a-svc"});
  EXPECT_EQ(Vsctl({"list-ports", "br-h1"}), "up-h1\n");
  EXPECT_EQ(Dump().find("fw1-a-svc"), std::string::npos) << "the Port row is gone: " << Dump();
  EXPECT_EQ(Get("fw1-b-svc", "tag"), "4094");  // the other member's port is untouched
  auto again = driver_->RemovePorts({{"br-h1", "fw1-a-svc"}}, "heal h1");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST_F(SwitchOvsdb, SwitchoverMovesTheServiceInOneTransaction) {
  ASSERT_TRUE(driver_->Apply(Group(true), "place fw1").ok());
  Recorder rec;
  auto w = driver_->Watch(std::ref(rec));
  ASSERT_TRUE(w.ok());
  ASSERT_GE(rec.WaitFor([](const WatchUpdate& u) { return u.resync; }), 0);
  size_t from = rec.size();

  auto r = driver_->Apply(Group(false), "switchover fw1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->changed.size(), 2u);
  EXPECT_EQ(Get("fw1-a-svc", "tag"), "4094");
  EXPECT_EQ(Get("fw1-b-svc", "tag"), "100");

  // The monitor sees both ports change in the same update: one transaction.
  int i = rec.WaitFor([](const WatchUpdate& u) { return Find(u, "fw1-b-svc") != nullptr; }, from);
  ASSERT_GE(i, 0);
  auto updates = rec.all();
  const WatchUpdate& u = updates[i];
  ASSERT_NE(Find(u, "fw1-a-svc"), nullptr) << "the two ports changed in different transactions";
  EXPECT_EQ(Find(u, "fw1-a-svc")->port.state.tag, kParking);
  EXPECT_EQ(Find(u, "fw1-b-svc")->port.state.tag, kService);
  EXPECT_FALSE(Find(u, "fw1-b-svc")->port.by_hand);
  // And no update ever showed two ports on the service VLAN.
  std::map<std::string, std::optional<int>> tags;
  for (const auto& up : updates) {
    for (const auto& e : up.ports) tags[e.port.state.port] = e.port.state.tag;
    int on_service = 0;
    for (const auto& [name, tag] : tags) on_service += tag == kService;
    EXPECT_LE(on_service, 1);
  }
  // The reason is in the database's own log, as the transaction's comment.
  auto log = testing::RunTool({"ovsdb-tool", "-m", "show-log", server_->db_path()});
  ASSERT_TRUE(log.ok()) << log.error().message;
  EXPECT_NE(log->find("corepin: switchover fw1"), std::string::npos);
}

TEST_F(SwitchOvsdb, HandChangeIsSeenByTheWatchAndPutBackByReconcile) {
  ASSERT_TRUE(driver_->Apply(Group(true), "place fw1").ok());
  Recorder rec;
  auto w = driver_->Watch(std::ref(rec));
  ASSERT_TRUE(w.ok());
  ASSERT_GE(rec.WaitFor([](const WatchUpdate& u) { return u.resync; }), 0);
  size_t from = rec.size();

  auto t0 = std::chrono::steady_clock::now();
  Vsctl({"set", "port", "fw1-a-svc", "tag=300"});  // by hand
  int i = rec.WaitFor(
      [](const WatchUpdate& u) {
        auto* e = Find(u, "fw1-a-svc");
        return e && e->port.by_hand;
      },
      from);
  ASSERT_GE(i, 0) << "the watch did not report the hand change";
  auto seen_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("hand change seen by the watch %.1f ms after ovs-vsctl started\n", seen_ms);
  auto e = *Find(rec.all()[i], "fw1-a-svc");
  EXPECT_EQ(e.port.state.tag, 300);
  ASSERT_TRUE(e.port.corepin_set.has_value());
  EXPECT_EQ(e.port.corepin_set->tag, kService);
  EXPECT_EQ(e.port.state.bridge, "br-h1");

  auto read = driver_->Read({{"br-h1", "fw1-a-svc"}});
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->ports[0].by_hand);

  auto r = driver_->Reconcile(Group(true));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->changed.size(), 1u);  // only the drifted port
  EXPECT_TRUE(r->changed[0].by_hand);
  EXPECT_EQ(r->changed[0].before.tag, 300);
  EXPECT_EQ(r->hand_changes(), 1u);
  EXPECT_NE(r->summary.find("fw1-a-svc: tag=300 -> tag=100 service (had been changed by hand)"), std::string::npos)
      << r->summary;
  EXPECT_EQ(Get("fw1-a-svc", "tag"), "100");
  EXPECT_GE(rec.WaitFor(
                [](const WatchUpdate& u) {
                  auto* e = Find(u, "fw1-a-svc");
                  return e && !e->port.by_hand && e->port.state.tag == kService;
                },
                i + 1),
            0);

  // vlan_mode changed by hand is drift too.
  Vsctl({"set", "port", "fw1-b-svc", "vlan_mode=trunk"});
  auto r2 = driver_->Reconcile(Group(true));
  ASSERT_TRUE(r2.ok());
  ASSERT_EQ(r2->changed.size(), 1u);
  EXPECT_TRUE(r2->changed[0].by_hand);
  EXPECT_EQ(Get("fw1-b-svc", "vlan_mode"), "access");
  EXPECT_NE(r2->summary.find("fw1-b-svc: tag=4094 -> tag=4094 (vlan_mode trunk -> access) (had been changed by hand)"),
            std::string::npos)
      << r2->summary;
}

TEST_F(SwitchOvsdb, ChangeBetweenReadAndWriteAbortsTheWholeTransaction) {
  ASSERT_TRUE(driver_->Apply(Group(true), "place fw1").ok());
  auto plan = ovs().MakePlan(Group(false));
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->writes.size(), 2u);
  Vsctl({"set", "port", "fw1-b-svc", "tag=300"});  // by hand, after corepin read
  std::string before = Dump();
  bool raced = false;
  auto r = ovs().Commit(*plan, "switchover fw1", &raced);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(raced);
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_NE(r.error().message.find("port fw1-b-svc changed (by hand?) since corepin read it"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("nothing changed"), std::string::npos);
  EXPECT_EQ(Dump(), before);  // fw1-a-svc kept the service: the transaction was all or nothing

  // Another port tagged with the service VLAN between read and write: the VLAN guard.
  auto plan2 = ovs().MakePlan(Group(false));
  ASSERT_TRUE(plan2.ok());
  Vsctl({"set", "port", "other-vm", "tag=100"});
  before = Dump();
  auto r2 = ovs().Commit(*plan2, "switchover fw1", &raced);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("ports on service VLAN 100 changed"), std::string::npos) << r2.error().message;
  EXPECT_EQ(Dump(), before);
  Vsctl({"set", "port", "other-vm", "tag=200"});

  // A port deleted between read and write.
  auto plan3 = ovs().MakePlan(Group(false));
  ASSERT_TRUE(plan3.ok());
  Vsctl({"del-port", "fw1-b-svc"});
  before = Dump();
  EXPECT_FALSE(ovs().Commit(*plan3, "switchover fw1").ok());
  EXPECT_EQ(Dump(), before);
  Vsctl({"add-port", "br-h2", "fw1-b-svc", "tag=4094"});

  // Apply reads again, so the retry goes through, and reports the hand change it undid.
  auto ok = driver_->Apply(Group(false), "switchover fw1");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(Get("fw1-b-svc", "tag"), "100");
  EXPECT_EQ(Get("fw1-a-svc", "tag"), "4094");
}

TEST_F(SwitchOvsdb, BadInputIsAClearErrorAndChangesNothing) {
  ASSERT_TRUE(driver_->Apply(Group(true), "place fw1").ok());
  const std::string before = Dump();
  auto expect_error = [&](std::vector<PortState> desired, ErrorCode code, const std::string& text) {
    auto r = driver_->Apply(desired, "test");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(text), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("nothing changed"), std::string::npos) << r.error().message;
    EXPECT_EQ(Dump(), before) << "a failed call changed the switch: " << text;
  };
  // Each set also holds a valid switchover, which must not be half applied.
  auto with = [&](PortState extra) {
    auto d = Group(false);
    d.push_back(extra);
    return d;
  };
  expect_error(with(Access("br-h1", "no-such-port", 300)), ErrorCode::kNotFound, "no-such-port (no such port on bridge br-h1)");
  expect_error(with(Access("br-h9", "fw1-c-svc", 300)), ErrorCode::kNotFound, "fw1-c-svc (bridge br-h9 does not exist)");
  expect_error(with(Access("br-h1", "other-vm", 200)), ErrorCode::kNotFound, "other-vm (port is on bridge br-h2, not br-h1)");
  expect_error(with(Access("br-h2", "other-vm", 5000)), ErrorCode::kInvalid, "port other-vm: VLAN 5000 out of range 1..4094");
  expect_error(with(Access("br-h2", "other-vm", 0)), ErrorCode::kInvalid, "port other-vm: VLAN 0 out of range");

  // A port corepin does not manage, given the service VLAN by hand: a conflict naming it.
  Vsctl({"set", "port", "other-vm", "tag=100"});
  const std::string conflicted = Dump();
  auto r = driver_->Apply(Group(false), "switchover fw1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_NE(r.error().message.find("other-vm (on br-h2) holds service VLAN 100 of port fw1-b-svc but corepin does not manage it"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(Dump(), conflicted);
  // Fixed, the same call is retried and goes through.
  Vsctl({"set", "port", "other-vm", "tag=200"});
  EXPECT_TRUE(driver_->Apply(Group(false), "switchover fw1").ok());
}

TEST_F(SwitchOvsdb, UnreachableServerIsAnErrorAndTheCallCanBeRetried) {
  auto nowhere = OpenSwitchDriver("ovsdb:unix:/nonexistent/db.sock");
  ASSERT_TRUE(nowhere.ok());
  auto r = (*nowhere)->Apply(Group(true), "place fw1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("ovsdb-server at unix:/nonexistent/db.sock unreachable"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("fw1-a-svc, fw1-b-svc"), std::string::npos) << r.error().message;
  auto refused = (*OpenSwitchDriver("ovsdb:tcp:127.0.0.1:1"))->Read({{"br-h1", "fw1-a-svc"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("Connection refused"), std::string::npos) << refused.error().message;

  // The server goes away under a connected driver and its watch, and comes back.
  ASSERT_TRUE(driver_->Apply(Group(true), "place fw1").ok());
  Recorder rec;
  auto w = driver_->Watch(std::ref(rec));
  ASSERT_TRUE(w.ok());
  ASSERT_GE(rec.WaitFor([](const WatchUpdate& u) { return u.resync; }), 0);
  server_->Stop();
  auto down = driver_->Apply(Group(false), "switchover fw1");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
  EXPECT_GE(rec.WaitFor([](const WatchUpdate& u) { return !u.error.empty(); }), 0);
  size_t from = rec.size();
  ASSERT_TRUE(server_->Restart().ok());
  EXPECT_EQ(Get("fw1-a-svc", "tag"), "100");  // the failed call changed nothing
  auto retried = driver_->Apply(Group(false), "switchover fw1");
  ASSERT_TRUE(retried.ok()) << retried.error().message;
  EXPECT_EQ(Get("fw1-b-svc", "tag"), "100");
  EXPECT_GE(rec.WaitFor([](const WatchUpdate& u) { return u.resync; }, from), 0) << "the watch did not reconnect";
}

TEST_F(SwitchOvsdb, WorksOverTcp) {
  auto d = OpenSwitchDriver(server_->tcp_uri());
  ASSERT_TRUE(d.ok());
  auto r = (*d)->Apply(Group(true), "place fw1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->changed.size(), 2u);
  EXPECT_EQ(Get("fw1-a-svc", "tag"), "100");
}

}  // namespace
}  // namespace corepin
