// Linking over fixture clusters (links.h, depends.h): three or four 2s32c-smt2 hosts (2 sockets
// x 32 cores x 2 threads: pCPU p and p+64 are siblings, pCPUs 0-31,64-95 are socket 0 = node 0,
// 32-63,96-127 socket 1 = node 1; NICs ens1f0, ens1f1 on node 1, eno1 on node 0), one rack each.
#include <gtest/gtest.h>

#include "controller/depends.h"
#include "controller/links.h"
#include "driver/domain_xml.h"
#include "placement/cluster_test_util.h"

namespace corepin {
namespace {

using nlohmann::json;
using testing::CachedFixtureHost;
using testing::Group;

// What the fixture says of pCPU p, written out independently of the topology code.
int SiblingOf(int p) { return p < 64 ? p + 64 : p - 64; }
int NodeOf(int p) { return (p % 64) < 32 ? 0 : 1; }
int CoreIdOf(int p) { return p % 32; }

class LinksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 1; i <= 4; ++i) {
      const std::string name = "h" + std::to_string(i);
      ASSERT_TRUE(c_.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", name), {{"rack", "r" + std::to_string(i)}}).ok());
      facts_.hosts[name] = {"fixture:2s32c-smt2#" + name, i == 1 ? "ipmi://admin:***@10.0.0.1:623" : "none", "br-int", "active", false};
    }
    auto fw = c_.PlaceGroup(Group(R"({"name":"fw","members":[{"name":"fw-a","role":"act"},{"name":"fw-b","role":"sby"}],)"
                                  R"("domains":["rack"],"vm":{"vcpus":4,"smt":"isolate","memory_mib":4096,"interfaces":[{"name":"svc"},{"name":"mgmt"}]}})"));
    ASSERT_TRUE(fw.ok()) << fw.status.error().message;
    facts_.services["fw"] = GroupService{100, 4094, "svc"};
    // A standalone VM near the data NICs (physnet data = ens1f0, ens1f1 on node 1): a group of
    // one named after it that opted out of the reserve, as the controller makes it.
    auto nat = c_.PlaceGroup(Group(R"({"name":"nat","members":[{"name":"nat","role":"act"}],"protect":false,)"
                                   R"("vm":{"vcpus":2,"physnet":"data","memory_mib":2048}})"));
    ASSERT_TRUE(nat.ok()) << nat.status.error().message;
    ASSERT_TRUE(c_.Check().ok());
  }
  const Assignment& Placed(const std::string& vm) {
    const ClusterHost* h = c_.HostById(c_.FindVm(vm)->host);
    return h->state.vms().at(vm).assignment;
  }
  json Query(const std::map<std::string, std::string>& params) {
    auto q = ParseDependsQuery(params);
    EXPECT_TRUE(q.ok()) << q.error().message;
    if (!q) return json();
    auto r = Depends(c_, facts_, *q);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r ? *r : json();
  }
  Error QueryError(const std::map<std::string, std::string>& params) {
    auto q = ParseDependsQuery(params);
    if (!q) return q.error();
    auto r = Depends(c_, facts_, *q);
    EXPECT_FALSE(r.ok()) << r->dump(2);
    return r ? Error{} : r.error();
  }
  static std::vector<std::string> Vms(const json& depends) {
    std::vector<std::string> out;
    for (const auto& v : depends["vms"]) out.push_back(v["vm"]);
    return out;
  }
  Cluster c_;
  LinkFacts facts_;
};

TEST_F(LinksTest, VmDownToCoresNodesPortsHostAndPeers) {
  const Assignment& a = Placed("fw-a");
  auto l = VmLinks(c_, facts_, "fw-a");
  ASSERT_TRUE(l.ok()) << l.error().message;
  const json& v = *l;
  EXPECT_EQ(v["host"]["name"], a.host);
  EXPECT_EQ(v["host"]["uri"], "fixture:2s32c-smt2#" + a.host);
  EXPECT_EQ(v["host"]["labels"]["rack"], c_.FindHost(a.host)->labels.at("rack"));
  EXPECT_EQ(v["host"]["bridge"], "br-int");
  EXPECT_EQ(v["host"]["bmc"], facts_.hosts[a.host].bmc);  // as the controller gives it: masked
  EXPECT_EQ(v["host"]["state"], "active");
  ASSERT_EQ(v["vcpus"].size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const json& x = v["vcpus"][i];
    const int p = a.vcpu_pcpus[i];
    EXPECT_EQ(x["vcpu"], i);
    EXPECT_EQ(x["pcpu"], p);
    EXPECT_EQ(x["siblings"], std::to_string(std::min(p, SiblingOf(p))) + "," + std::to_string(std::max(p, SiblingOf(p))));
    EXPECT_EQ(x["node"], NodeOf(p));
    EXPECT_EQ(x["socket"], NodeOf(p));  // one node per socket on this shape
    EXPECT_EQ(x["core"], CoreIdOf(p));
    EXPECT_EQ(x["policy"], "dedicated");
  }
  // smt isolate: each vCPU's sibling is held empty for it.
  CpuSet siblings;
  for (int p : a.vcpu_pcpus) siblings.Add(SiblingOf(p));
  EXPECT_EQ(v["siblings_held_empty"], siblings.ToString());
  EXPECT_EQ(v["emulator"]["policy"], "housekeeping");
  ASSERT_EQ(v["emulator"]["pcpus"].size(), 2u);  // housekeeping 0,64: one core, both threads
  EXPECT_EQ(v["emulator"]["pcpus"][0]["siblings"], "0,64");
  EXPECT_EQ(v["memory_mib_per_node"][std::to_string(NodeOf(a.vcpu_pcpus[0]))], 4096);

  // Ports: the service interface of the ACT on the service VLAN; the other one unmanaged.
  ASSERT_EQ(v["interfaces"].size(), 2u);
  EXPECT_EQ(v["interfaces"][0]["port"], PortName("fw-a", a.host, "svc"));
  EXPECT_EQ(v["interfaces"][0]["vlan"], 100);
  EXPECT_EQ(v["interfaces"][0]["bridge"], "br-int");
  EXPECT_EQ(v["interfaces"][1]["port"], PortName("fw-a", a.host, "mgmt"));
  EXPECT_TRUE(v["interfaces"][1]["vlan"].is_null());
  auto sby = VmLinks(c_, facts_, "fw-b");
  ASSERT_TRUE(sby.ok());
  EXPECT_EQ((*sby)["interfaces"][0]["vlan"], 4094) << "a SBY's service port is parked";
  EXPECT_EQ((*sby)["group"]["role"], "sby");

  // The group, its peers and where they run; the healing targets of k = 1.
  EXPECT_EQ(v["group"]["name"], "fw");
  EXPECT_EQ(v["group"]["role"], "act");
  ASSERT_EQ(v["group"]["members"].size(), 2u);
  const json& peer = v["group"]["members"][1];
  EXPECT_EQ(peer["vm"], "fw-b");
  EXPECT_EQ(peer["host"], Placed("fw-b").host);
  EXPECT_NE(peer["host"], a.host);
  EXPECT_EQ(peer["pcpus"], Placed("fw-b").VcpuPcpus().ToString());
  ASSERT_EQ(v["healing_targets"].size(), 1u);
  EXPECT_EQ(v["healing_targets"][0]["if_failed"], json({a.host}));
  EXPECT_NE(v["healing_targets"][0]["host"], a.host);
  EXPECT_NE(v["healing_targets"][0]["host"], peer["host"]);

  // A standalone VM has no group; its NIC locality is on node 1.
  auto nat = VmLinks(c_, facts_, "nat");
  ASSERT_TRUE(nat.ok());
  EXPECT_TRUE((*nat)["group"].is_null());
  EXPECT_EQ((*nat)["nic_locality"]["physnet"], "data");
  EXPECT_EQ((*nat)["nic_locality"]["local"], true);
  for (const auto& x : (*nat)["vcpus"]) EXPECT_EQ(x["node"], 1);

  EXPECT_EQ(VmLinks(c_, facts_, "nope").error().code, ErrorCode::kNotFound);
}

TEST_F(LinksTest, PcpuCoreAndNodeListTheVmsOnThemAndWhatTheirGroupsLose) {
  const Assignment& a = Placed("fw-a");
  const int p = a.vcpu_pcpus[2];
  json d = Query({{"host", a.host}, {"pcpu", std::to_string(p)}});
  EXPECT_EQ(d["hardware"]["siblings"], (CpuSet{p, SiblingOf(p)}.ToString()));
  EXPECT_EQ(d["hardware"]["node"], NodeOf(p));
  EXPECT_EQ(Vms(d), std::vector<std::string>{"fw-a"});
  EXPECT_EQ(d["vms"][0]["relation"]["vcpus"], json({2}));
  EXPECT_EQ(d["vms"][0]["role"], "act");
  EXPECT_EQ(d["if_it_fails"]["lose_act"], json({"fw"}));
  EXPECT_EQ(d["if_it_fails"]["act_down_until_promotion"], json({"fw"}));
  EXPECT_TRUE(d["if_it_fails"]["lose_sby"].empty());

  // Its sibling runs nothing (held empty under isolate): nothing depends on it.
  EXPECT_TRUE(Vms(Query({{"host", a.host}, {"pcpu", std::to_string(SiblingOf(p))}})).empty());
  // The core: by its id and socket, as `host show` and `vm links` print them.
  json core = Query({{"host", a.host}, {"core", std::to_string(CoreIdOf(p))}, {"socket", std::to_string(NodeOf(p))}});
  EXPECT_EQ(core["hardware"]["pcpus"], (CpuSet{p, SiblingOf(p)}.ToString()));
  EXPECT_EQ(Vms(core), std::vector<std::string>{"fw-a"});
  // The node: every vCPU and the memory.
  json node = Query({{"host", a.host}, {"node", std::to_string(NodeOf(p))}});
  ASSERT_EQ(Vms(node).size(), 1u + (c_.FindVm("nat")->host == c_.FindVm("fw-a")->host && NodeOf(p) == 1));
  EXPECT_EQ(node["vms"][0]["relation"]["vcpus"].size(), 4u);
  EXPECT_EQ(node["vms"][0]["relation"]["memory_mib"], 4096);
  // Housekeeping pCPU 0 runs the emulator threads of every VM on the host.
  json hk = Query({{"host", a.host}, {"pcpu", "0"}});
  EXPECT_FALSE(Vms(hk).empty());
  EXPECT_EQ(hk["vms"][0]["relation"]["emulator"], "0");
  EXPECT_TRUE(hk["vms"][0]["relation"]["vcpus"].empty());
}

TEST_F(LinksTest, HostAndRackFailuresUseTheWhatIf) {
  const std::string ha = Placed("fw-a").host, hb = Placed("fw-b").host;
  json act = Query({{"host", ha}});
  EXPECT_EQ(act["if_it_fails"]["within_guarantee"], true);
  EXPECT_EQ(act["if_it_fails"]["act_down_until_promotion"], json({"fw"}));
  EXPECT_EQ(act["if_it_fails"]["healed_from_reserve"], json({"fw"}));
  EXPECT_TRUE(act["if_it_fails"]["lost"].empty());
  const json& g = act["if_it_fails"]["groups"][0];
  EXPECT_EQ(g["lost"][0]["vm"], "fw-a");
  EXPECT_EQ(g["lost"][0]["target"]["precomputed"], true);
  EXPECT_EQ(g["survivors"][0]["vm"], "fw-b");
  EXPECT_EQ(g["service"], "down until a SBY (fw-b) is promoted");

  json sby = Query({{"rack", c_.FindHost(hb)->labels.at("rack")}});
  EXPECT_EQ(sby["hardware"]["hosts"], json({hb}));
  EXPECT_EQ(sby["if_it_fails"]["lose_sby"], json({"fw"}));
  EXPECT_TRUE(sby["if_it_fails"]["act_down_until_promotion"].empty());
  EXPECT_EQ(sby["if_it_fails"]["groups"][0]["service"], "continues");
  EXPECT_EQ(Query({{"label", "rack=" + c_.FindHost(hb)->labels.at("rack")}})["vms"], sby["vms"]);

}

// A power feed shared by both members' hosts (the group separates racks, not power): beyond
// k = 1, both heal best effort, and the service waits for the ACT to be healed; with no room
// left anywhere, the group is lost.
TEST(Links, PowerFeedOfBothMembers) {
  Cluster c;
  for (int i = 1; i <= 3; ++i)
    ASSERT_TRUE(c.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", "h" + std::to_string(i)),
                          {{"rack", "r" + std::to_string(i)}, {"power", i < 3 ? "p1" : "p2"}}).ok());
  auto fw = c.PlaceGroup(Group(R"({"name":"fw","members":[{"name":"fw-a","role":"act","host":"h1"},{"name":"fw-b","role":"sby","host":"h2"}],)"
                               R"("domains":["rack"],"vm":{"vcpus":4,"memory_mib":4096}})"));
  ASSERT_TRUE(fw.ok()) << fw.status.error().message;
  auto q = ParseDependsQuery({{"label", "power=p1"}});
  ASSERT_TRUE(q.ok());
  auto d = Depends(c, LinkFacts{}, *q);
  ASSERT_TRUE(d.ok()) << d.error().message;
  const json& f = (*d)["if_it_fails"];
  EXPECT_EQ(f["within_guarantee"], false);
  EXPECT_EQ(f["lose_act"], json({"fw"}));
  EXPECT_EQ(f["lose_sby"], json({"fw"}));
  EXPECT_TRUE(f["act_down_until_promotion"].empty());
  EXPECT_EQ(f["groups"][0]["service"], "down until the ACT is healed (no SBY left)");
  // Both members cannot heal on the one host left (anti-affinity): one of them is lost.
  EXPECT_EQ(f["lost"], json({"fw"})) << d->dump(2);
  EXPECT_NE(f["groups"][0]["redundancy"].get<std::string>().find("no host can take"), std::string::npos);
}

TEST_F(LinksTest, NicListsOnlyVmsThatAskForItsLocality) {
  const std::string hn = Placed("nat").host;
  json nic = Query({{"host", hn}, {"nic", "ens1f0"}});
  EXPECT_EQ(nic["hardware"]["node"], 1);
  EXPECT_EQ(Vms(nic), std::vector<std::string>{"nat"});
  EXPECT_EQ(nic["vms"][0]["relation"]["nic_locality"], "physnet data");
  EXPECT_EQ(nic["if_it_fails"]["standalone"][0]["vm"], "nat");
  EXPECT_FALSE(nic["notes"].empty());
  EXPECT_TRUE(Vms(Query({{"host", hn}, {"nic", "eno1"}})).empty());  // node 0, not in physnet data
}

TEST_F(LinksTest, PortNamesItsVm) {
  json d = Query({{"port", PortName("fw-b", Placed("fw-b").host, "svc")}});
  EXPECT_EQ(Vms(d), std::vector<std::string>{"fw-b"});
  EXPECT_EQ(d["hardware"]["host"], Placed("fw-b").host);
  EXPECT_EQ(d["vms"][0]["relation"]["interface"], "svc");
  EXPECT_EQ(d["if_it_fails"]["lose_sby"], json({"fw"}));
}

TEST_F(LinksTest, BadQueriesSayWhatToFix) {
  auto msg = [&](const std::map<std::string, std::string>& p, ErrorCode code) {
    Error e = QueryError(p);
    EXPECT_EQ(e.code, code) << e.message;
    return e.message;
  };
  EXPECT_NE(msg({}, ErrorCode::kInvalid).find("host=H"), std::string::npos);
  EXPECT_NE(msg({{"host", "h1"}, {"port", "x"}}, ErrorCode::kInvalid).find("one selector at a time"), std::string::npos);
  EXPECT_NE(msg({{"host", "h1"}, {"pcpu", "1"}, {"core", "1"}}, ErrorCode::kInvalid).find("pcpu and core"), std::string::npos);
  EXPECT_NE(msg({{"pcpu", "1"}}, ErrorCode::kInvalid).find("add host=NAME"), std::string::npos);
  EXPECT_NE(msg({{"host", "h1"}, {"pcpu", "x"}}, ErrorCode::kInvalid).find("not a number"), std::string::npos);
  EXPECT_NE(msg({{"host", "h1"}, {"cpu", "1"}}, ErrorCode::kInvalid).find("unknown parameter \"cpu\""), std::string::npos);
  EXPECT_NE(msg({{"label", "rack"}}, ErrorCode::kInvalid).find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(msg({{"host", "nope"}}, ErrorCode::kNotFound).find("host nope is not in the cluster"), std::string::npos);
  EXPECT_NE(msg({{"host", "h1"}, {"pcpu", "128"}}, ErrorCode::kNotFound).find("0-127"), std::string::npos);
  EXPECT_NE(msg({{"host", "h1"}, {"core", "5"}}, ErrorCode::kInvalid).find("add --socket 0 or --socket 1 (socket=N in the API)"), std::string::npos);
  EXPECT_NE(msg({{"host", "h1"}, {"node", "2"}}, ErrorCode::kNotFound).find("NUMA nodes 0, 1"), std::string::npos);
  EXPECT_NE(msg({{"host", "h1"}, {"nic", "eth9"}}, ErrorCode::kNotFound).find("ens1f0"), std::string::npos);
  EXPECT_NE(msg({{"rack", "r9"}}, ErrorCode::kNotFound).find("r1, r2, r3, r4"), std::string::npos);
  EXPECT_NE(msg({{"port", "cp00000000-svc"}}, ErrorCode::kNotFound).find("vm links"), std::string::npos);
}

}  // namespace
}  // namespace corepin
