// Multi-host placement: groups, anti-affinity, the healing reserve, admission, what-if and
// explanations, on small clusters of fixture hosts.
//   2s32c-smt2: 128 pCPUs, node0 = 0-31,64-95, node1 = 32-63,96-127 (NICs ens1f0/ens1f1,
//               physnet data); housekeeping 0,64 here, so 126 allocatable.
#include "placement/cluster.h"

#include <gtest/gtest.h>

#include "placement/cluster_test_util.h"
#include "placement/scheduler.h"
#include "placement/whatif.h"

namespace corepin {
namespace {

using testing::BruteForceGuarantee;
using testing::CachedFixtureHost;
using testing::Group;

// n hosts h1..hn of `fixture`, host i in rack r((i-1) % racks + 1).
void AddHosts(Cluster* c, int n, int racks = 0, const std::string& fixture = "2s32c-smt2", const std::string& hk = "0,64") {
  for (int i = 1; i <= n; ++i) {
    Labels l;
    if (racks) l["rack"] = "r" + std::to_string((i - 1) % racks + 1);
    ASSERT_TRUE(c->AddHost(CachedFixtureHost(fixture, hk, "h" + std::to_string(i)), l).ok());
  }
}

std::string Pair(const std::string& name, int vcpus, const std::string& extra = "") {
  return R"({"name":")" + name + R"(","act":1,"sby":1,"domains":["rack"],"vm":{"vcpus":)" + std::to_string(vcpus) +
         R"(,"memory_mib":4096)" + extra + "}}";
}

TEST(ReserveHook, FitLeavesTheReserveAlone) {
  HostState hs = CachedFixtureHost("2s32c-smt2", "0,64", "h1");
  HostReserve r;
  r.pcpus = *CpuSet::Parse("1-31,65-95");  // all of node0 but housekeeping
  hs.SetReserve(r);
  FitResult f = Fit(hs, testing::Spec(R"({"name":"a","vcpus":4,"memory_mib":1024})"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f.assignment->memory_mib.begin()->first, 1);  // pushed to node1
  FitResult pinned = Fit(hs, testing::Spec(R"({"name":"b","vcpus":1,"policy":"pinned:3","memory_mib":512})"));
  ASSERT_FALSE(pinned.ok());
  EXPECT_NE(pinned.rejection.ToString().find("pCPU 3 is held by the healing reserve"), std::string::npos) << pinned.rejection.ToString();
  // The planner's scope sees exactly what it is given.
  FitScope scope;
  scope.pcpus = *CpuSet::Parse("5-6");
  scope.memory_mib[{0, 4}] = 2048;
  FitResult in = Fit(hs, testing::Spec(R"({"name":"c","vcpus":2,"memory_mib":1024})"), scope);
  ASSERT_TRUE(in.ok()) << in.rejection.ToString();
  EXPECT_EQ(in.assignment->vcpu_pcpus, (std::vector<int>{5, 6}));
  scope.memory_mib[{0, 4}] = 512;
  EXPECT_FALSE(Fit(hs, testing::Spec(R"({"name":"c","vcpus":2,"memory_mib":1024})"), scope).ok());
}

TEST(Explain, ClassifiesFitRejections) {
  auto cls = [](std::vector<std::string> reasons, std::vector<NodeRejection> nodes = {}) {
    return ClassifyRejection(Rejection{"h", std::move(reasons), std::move(nodes)});
  };
  EXPECT_EQ(cls({"nic: NIC ens9 is not on this host (NICs: eno1)"}), reason::kNic);
  EXPECT_EQ(cls({"smt require: this host has no SMT (1 thread per core); use smt prefer or isolate, or another host"}), reason::kSmt);
  EXPECT_EQ(cls({"smt isolate: pinned:3's SMT sibling 67 is VM a (vcpu 0 dedicated), and must stay empty"}), reason::kPinned);
  EXPECT_EQ(cls({"smt isolate: group ctl's pCPU 5 shares its core with pCPU 69, VM b (vcpu 1 dedicated)"}), reason::kSharedGroup);
  EXPECT_EQ(cls({"vcpu_policies[0] pinned:3: pCPU 3 is held by the healing reserve"}), reason::kReserve);
  EXPECT_EQ(cls({"page_size 1G: this host has no 1G hugepages"}), reason::kPageSize);
  EXPECT_EQ(cls({}, {{0, "physnet data is on node1"}, {1, "3 free pCPUs, needs 4"}}), reason::kPcpus);
  EXPECT_EQ(cls({}, {{0, "NIC ens1f0 is on node1"}, {1, "100 MiB free in 4K pages, needs 4096"}}), reason::kMemory);
  EXPECT_EQ(cls({}, {{0, "NIC ens1f0 is on node1"}}), reason::kNic);
}

TEST(Cluster, PairGoesToTwoRacksWithATargetInAThird) {
  Cluster c;
  AddHosts(&c, 6, 3);
  GroupOutcome o = c.PlaceGroup(Group(Pair("fw", 4)));
  ASSERT_TRUE(o.ok()) << o.status.error().message;
  ASSERT_EQ(o.placed.size(), 2u);
  const ClusterHost* a = c.FindHost(o.placed[0].assignment.host);
  const ClusterHost* b = c.FindHost(o.placed[1].assignment.host);
  EXPECT_EQ(o.placed[0].role, Role::kAct);
  EXPECT_NE(a->labels.at("rack"), b->labels.at("rack"));
  ASSERT_EQ(o.heals.size(), 2u);  // k = 1: one target per member
  for (const auto& h : o.heals) {
    const ClusterHost* t = c.FindHost(h.target.host);
    EXPECT_NE(t->labels.at("rack"), a->labels.at("rack") == c.FindHost(h.target.from)->labels.at("rack") ? b->labels.at("rack") : a->labels.at("rack"));
    EXPECT_EQ(h.target.assignment.vcpu_pcpus.size(), 4u);
    EXPECT_TRUE(t->state.reserve().pcpus.Intersects(h.target.assignment.VcpuPcpus()));
  }
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;
  EXPECT_EQ(BruteForceGuarantee(c), "");
  // Explanations: a search per member and one per healing target, with counts.
  ASSERT_GE(o.explanation.searches.size(), 4u);
  EXPECT_EQ(o.explanation.searches[0].hosts_total, 6);
  EXPECT_FALSE(o.explanation.searches[0].top.empty());
  EXPECT_EQ(o.explanation.searches[0].chosen, a->name);
}

TEST(Cluster, ReserveIsTheWorstSingleFailureNotTheSum) {
  // 3 hosts, no domains: every pair lives on two hosts and heals to the third.
  Cluster c;
  AddHosts(&c, 3);
  for (int i = 0; i < 6; ++i) {
    GroupOutcome o = c.PlaceGroup(Group(R"({"name":"g)" + std::to_string(i) + R"(","act":1,"sby":1,"vm":{"vcpus":4,"memory_mib":2048}})"));
    ASSERT_TRUE(o.ok()) << o.status.error().message;
  }
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;
  EXPECT_EQ(BruteForceGuarantee(c), "");
  // 12 VMs of 4 pCPUs. Summing over failures would reserve 48 pCPUs; the worst single failure
  // loses at most 6 VMs (24 pCPUs), and every host holds at most that.
  int total = 0;
  for (const auto* h : c.hosts()) {
    int vms_here = static_cast<int>(h->state.vms().size());
    EXPECT_LE(h->state.reserve().pcpus.Size(), 4 * 12 - 4 * vms_here) << h->name;
    total += h->state.reserve().pcpus.Size();
  }
  EXPECT_LT(total, 48);
}

TEST(Cluster, RefusesWhatCannotBePlacedAndChangesNothing) {
  Cluster c;
  AddHosts(&c, 4, 2);
  ASSERT_TRUE(c.PlaceGroup(Group(Pair("base", 8))).ok());
  auto snapshot = [&]() {
    std::string s;
    for (const auto* h : c.hosts()) s += h->name + h->state.free().ToString() + "|" + h->state.reserve().pcpus.ToString() + ";";
    return s + std::to_string(c.reserve().TargetCount());
  };
  const std::string before = snapshot();

  // A label no host has.
  GroupRequest power = Group(Pair("p", 2));
  power.domains = {"power"};
  GroupOutcome o = c.PlaceGroup(power);
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status.error().message.find("no host has label power (labels in use: rack)"), std::string::npos) << o.status.error().message;

  // Three members, two racks.
  GroupRequest three = Group(Pair("t", 2));
  three.members.push_back({"t-sby2", Role::kSby, ""});
  o = c.PlaceGroup(three);
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status.error().message.find("3 members need 3 distinct values of rack; hosts have 2"), std::string::npos)
      << o.status.error().message;

  // Members too big for any host: the ACT fits nowhere.
  o = c.PlaceGroup(Group(Pair("big", 100)));
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status.error().message.find("no host for member big-act1"), std::string::npos) << o.status.error().message;
  EXPECT_EQ(o.explanation.searches[0].rejected.at(reason::kPcpus), 4) << o.explanation.refusal;

  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;
  EXPECT_EQ(c.groups().size(), 1u);

  // k larger than the cluster can carry.
  Status k9 = c.SetFailuresTolerated(9);
  ASSERT_FALSE(k9.ok());
  EXPECT_NE(k9.error().message.find("needs at least 10 schedulable hosts; the cluster has 4"), std::string::npos) << k9.error().message;
  Status k3 = c.SetFailuresTolerated(3);
  ASSERT_FALSE(k3.ok());
  EXPECT_NE(k3.error().message.find("would have no healing target"), std::string::npos) << k3.error().message;
  EXPECT_EQ(c.failures_tolerated(), 1);
  EXPECT_EQ(snapshot(), before);
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;
}

TEST(Cluster, AdmissionRefusesMembersWhoseTargetsCannotExist) {
  // Racks r1, r2, r1: a pair fits (r1 + r2), and the ACT can heal to the other r1 host, but
  // the SBY cannot heal anywhere outside r1.
  Cluster c;
  AddHosts(&c, 3, 2);
  GroupOutcome o = c.PlaceGroup(Group(Pair("fw", 2)));
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status.error().message.find("(healing target if h2 fails): 3 hosts, 3 considered, 0 feasible; rejected: 1 anti-affinity: a group member is here, 1 failure domain: shared with a member, 1 host failed"),
            std::string::npos) << o.status.error().message;
  ASSERT_FALSE(o.explanation.notes.empty());
  EXPECT_TRUE(c.groups().empty());
  for (const auto* h : c.hosts()) EXPECT_TRUE(h->state.vms().empty() && h->state.reserve().Empty()) << h->name;
  // The same group, opted out, goes in.
  GroupRequest r = Group(Pair("fw", 2));
  r.protect = false;
  EXPECT_TRUE(c.PlaceGroup(r).ok());
}

TEST(Cluster, TooFewHostsForMembersPlusK) {
  Cluster two;
  AddHosts(&two, 2);
  GroupOutcome o = two.PlaceGroup(Group(R"({"name":"pair","act":1,"sby":1,"vm":{"vcpus":2,"memory_mib":1024}})"));
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status.error().message.find("2 members with k = 1 need 3 schedulable hosts"), std::string::npos) << o.status.error().message;
  // With k = 0 it goes in; a third host lets k = 1 in only once its reserve fits there.
  ASSERT_TRUE(two.SetFailuresTolerated(0).ok());
  ASSERT_TRUE(two.PlaceGroup(Group(R"({"name":"pair","act":1,"sby":1,"vm":{"vcpus":100,"numa":"spread","memory_mib":1024}})")).ok());
  ASSERT_TRUE(two.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", "h3")).ok());
  ASSERT_TRUE(two.PlaceGroup(Group(R"({"name":"fill","protect":false,"members":[{"name":"fill","host":"h3"}],"vm":{"vcpus":60,"numa":"spread","memory_mib":1024}})")).ok());
  Status k1 = two.SetFailuresTolerated(1);
  ASSERT_FALSE(k1.ok());
  EXPECT_NE(k1.error().message.find("2 protected VMs would have no healing target, e.g. if h"), std::string::npos) << k1.error().message;
  EXPECT_EQ(two.failures_tolerated(), 0);
  ASSERT_TRUE(two.DeleteGroup("fill").ok());
  ASSERT_TRUE(two.SetFailuresTolerated(1).ok());
  ASSERT_TRUE(two.Check().ok()) << two.Check().error().message;
  EXPECT_EQ(BruteForceGuarantee(two), "");
  EXPECT_EQ(two.FindHost("h3")->state.reserve().pcpus.Size(), 100);  // shared by both failures
}

TEST(Cluster, OptOutHoldsNoReserve) {
  Cluster c;
  AddHosts(&c, 3);
  GroupRequest r = Group(R"({"name":"lab","act":1,"sby":1,"protect":false,"vm":{"vcpus":4,"memory_mib":1024}})");
  GroupOutcome o = c.PlaceGroup(r);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o.heals.empty());
  for (const auto* h : c.hosts()) EXPECT_TRUE(h->state.reserve().Empty());
  auto w = WhatIf(c, {o.placed[0].assignment.host});
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->moves.size(), 1u);
  EXPECT_FALSE(w->moves[0].precomputed);
  EXPECT_TRUE(w->within_guarantee);
}

// Light VMs sharing one pCPU (group:light) on a host that fails heal onto one shared pCPU of a
// target again: a target group planned in the scenario is joined, not refused.
TEST(Cluster, VmsOfOneSharedGroupHealOntoOneSharedPcpu) {
  Cluster c;
  AddHosts(&c, 2);
  std::string host;
  for (int i = 1; i <= 4; ++i) {
    GroupRequest r = Group(R"({"name":"l)" + std::to_string(i) +
                           R"(","act":1,"sby":0,"vm":{"vcpus":1,"policy":"group:light","memory_mib":256}})");
    if (!host.empty()) r.members[0].host = host;
    GroupOutcome o = c.PlaceGroup(r);
    ASSERT_TRUE(o.ok()) << o.status.error().message;
    host = o.placed[0].assignment.host;
  }
  auto w = WhatIf(c, {host});
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->moves.size(), 4u) << (w->lost.empty() ? "" : w->lost[0].reason);
  EXPECT_TRUE(w->lost.empty());
  for (const auto& m : w->moves) EXPECT_EQ(m.assignment.vcpu_pcpus, w->moves[0].assignment.vcpu_pcpus) << m.vm;
  auto failed = c.FailHosts({host});
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->moves.size(), 4u);
  EXPECT_TRUE(c.Check().ok()) << c.Check().error().message;
}

// Under SMT isolate a shared group's creator holds its core's siblings empty itself (as Fit and
// HostState::Apply make it): at k = 2, two isolate VMs of group ctl that fail together cannot
// heal onto one planned ctl pCPU whose sibling only the first holds (applying both would break
// the second's isolation); the second goes elsewhere.
TEST(Cluster, IsolateVmsOfOneSharedGroupDoNotShareACoreHeldByTheOther) {
  ClusterOptions opt;
  opt.failures_tolerated = 2;
  Cluster c(opt);
  AddHosts(&c, 4);
  for (int i = 1; i <= 2; ++i) {
    const std::string n = std::to_string(i);
    GroupOutcome o = c.PlaceGroup(Group(R"({"name":"v)" + n + R"(","members":[{"name":"v)" + n + R"(","host":"h)" + n +
                                        R"("}],"vm":{"vcpus":2,"smt":"isolate","vcpu_policies":["dedicated","group:ctl"],"memory_mib":1024}})"));
    ASSERT_TRUE(o.ok()) << o.status.error().message;
  }
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;
  EXPECT_EQ(BruteForceGuarantee(c), "");
  const Scenario* both = c.reserve().Find(*c.KeyOf({"h1", "h2"}));
  ASSERT_NE(both, nullptr);
  ASSERT_EQ(both->targets.size(), 2u);
  EXPECT_NE(both->targets.at("v1").host, both->targets.at("v2").host);
}

TEST(Cluster, WhatIfGivesExactTargetsAndLosses) {
  Cluster c;
  AddHosts(&c, 4, 4);
  GroupOutcome o = c.PlaceGroup(Group(Pair("fw", 4, R"(,"physnet":"data","smt":"isolate")")));
  ASSERT_TRUE(o.ok()) << o.status.error().message;
  const std::string act_host = o.placed[0].assignment.host;
  auto w = WhatIf(c, {act_host});
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(w->within_guarantee);
  ASSERT_EQ(w->moves.size(), 1u);
  EXPECT_TRUE(w->moves[0].precomputed);
  EXPECT_EQ(w->moves[0].vm, "fw-act1");
  EXPECT_EQ(w->moves[0].assignment, o.heals[0].target.assignment);
  // Same policy: NIC node, isolate (siblings held).
  EXPECT_EQ(w->moves[0].assignment.memory_mib.begin()->first, 1);
  EXPECT_EQ(w->moves[0].assignment.reserved_siblings.Size(), 4);
  // Beyond k: every host but one fails; the survivor takes what it can, best effort.
  std::vector<std::string> all_but_one;
  for (const auto* h : c.hosts())
    if (h->name != c.hosts().back()->name) all_but_one.push_back(h->name);
  auto w3 = WhatIf(c, all_but_one);
  ASSERT_TRUE(w3.ok());
  EXPECT_FALSE(w3->within_guarantee);
  EXPECT_EQ(w3->moves.size() + w3->lost.size(), 2u - (o.placed[0].assignment.host == c.hosts().back()->name) -
                                                     (o.placed[1].assignment.host == c.hosts().back()->name));
  auto bad = WhatIf(c, {"nope"});
  EXPECT_FALSE(bad.ok());
  nlohmann::json j = WhatIfToJson(*w);
  EXPECT_EQ(j["moves"][0]["to"], w->moves[0].to);
}

TEST(Cluster, DeterministicForASeed) {
  auto run = [](uint64_t seed) {
    ClusterOptions opt;
    opt.seed = seed;
    Cluster c(opt);
    AddHosts(&c, 8, 4);
    std::string out;
    for (int i = 0; i < 10; ++i) {
      GroupOutcome o = c.PlaceGroup(Group(Pair("g" + std::to_string(i), 2 + i % 3)));
      for (const auto& p : o.placed) out += p.vm + "@" + p.assignment.host + ":" + p.assignment.exclusive.ToString() + " ";
      for (const auto& h : o.heals) out += h.target.vm + "->" + h.target.host + " ";
    }
    return out;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(Cluster, SpreadsActsOfDifferentGroups) {
  Cluster c;
  AddHosts(&c, 4);
  std::set<std::string> act_hosts;
  for (int i = 0; i < 4; ++i) {
    GroupOutcome o = c.PlaceGroup(Group(R"({"name":"g)" + std::to_string(i) + R"(","act":1,"sby":1,"vm":{"vcpus":2,"memory_mib":1024}})"));
    ASSERT_TRUE(o.ok());
    act_hosts.insert(o.placed[0].assignment.host);
  }
  EXPECT_EQ(act_hosts.size(), 4u);
  // With spreading off and packing on, ACTs pile up on the fullest host.
  Cluster packed;
  AddHosts(&packed, 4);
  packed.SetWeights({1.0, 1.0, 0.0});
  act_hosts.clear();
  for (int i = 0; i < 4; ++i) {
    GroupOutcome o = packed.PlaceGroup(Group(R"({"name":"g)" + std::to_string(i) + R"(","act":1,"sby":1,"vm":{"vcpus":2,"memory_mib":1024}})"));
    act_hosts.insert(o.placed[0].assignment.host);
  }
  EXPECT_LT(act_hosts.size(), 4u);
}

TEST(Cluster, NPlusMAndKTwo) {
  ClusterOptions opt;
  opt.failures_tolerated = 2;
  Cluster c(opt);
  AddHosts(&c, 6, 6);
  GroupOutcome o = c.PlaceGroup(Group(R"({"name":"nat","act":2,"sby":1,"domains":["rack"],"vm":{"vcpus":4,"memory_mib":2048}})"));
  ASSERT_TRUE(o.ok()) << o.status.error().message;
  std::set<std::string> hosts;
  for (const auto& p : o.placed) hosts.insert(p.assignment.host);
  EXPECT_EQ(hosts.size(), 3u);
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;
  EXPECT_EQ(BruteForceGuarantee(c), "");
  // Two member hosts fail together: both members heal, on distinct racks away from the third.
  auto w = WhatIf(c, {o.placed[0].assignment.host, o.placed[1].assignment.host});
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(w->within_guarantee);
  ASSERT_EQ(w->moves.size(), 2u);
  EXPECT_NE(w->moves[0].to, w->moves[1].to);
  EXPECT_TRUE(c.SetFailuresTolerated(1).ok());
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;
  EXPECT_EQ(BruteForceGuarantee(c), "");
}

TEST(Cluster, HostsComeAndGo) {
  Cluster c;
  AddHosts(&c, 3);
  GroupOutcome o = c.PlaceGroup(Group(R"({"name":"g","act":1,"sby":1,"vm":{"vcpus":4,"memory_mib":1024}})"));
  ASSERT_TRUE(o.ok());
  const std::string target = o.heals[0].target.host;
  EXPECT_EQ(c.RemoveHost(o.placed[0].assignment.host).error().code, ErrorCode::kConflict);
  // The third host holds both targets; it cannot leave while no other host can take them.
  Status s = c.RemoveHost(target);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("no healing target"), std::string::npos) << s.error().message;
  ASSERT_TRUE(c.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", "h4")).ok());
  ASSERT_TRUE(c.RemoveHost(target).ok());
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;
  EXPECT_EQ(BruteForceGuarantee(c), "");
  EXPECT_TRUE(c.SetSchedulable("h4", false).ok() == false);  // h4 holds the targets now, nowhere else to go
  EXPECT_TRUE(c.DeleteGroup("g").ok());
  for (const auto* h : c.hosts()) EXPECT_TRUE(h->state.reserve().Empty()) << h->name;
  EXPECT_TRUE(c.reserve().scenarios().empty());
}

TEST(Cluster, RestoreThenReplanAsAtStart) {
  Cluster c;
  AddHosts(&c, 5, 3);
  for (int i = 0; i < 8; ++i)
  {
    const std::string shared = i % 2 ? R"(,"vcpu_policies":["dedicated","group:ctl"])" : R"(,"vcpu_policies":["group:ctl","group:ctl"])";
    GroupOutcome o = c.PlaceGroup(Group(i % 3 ? Pair("g" + std::to_string(i), 2 + i % 4) : Pair("g" + std::to_string(i), 2, shared)));
    ASSERT_TRUE(o.ok()) << o.status.error().message;
  }
  // What the store would keep: groups and each member's assignment.
  std::vector<RedundancyGroup> groups;
  std::map<std::string, Assignment> assignments;
  for (const auto& [name, g] : c.groups()) {
    groups.push_back(g);
    for (const auto& m : g.members) assignments[m.vm] = c.FindHost(m.host)->state.vms().at(m.vm).assignment;
  }
  Cluster again;
  AddHosts(&again, 5, 3);
  for (const auto& g : groups) ASSERT_TRUE(again.RestoreGroup(g, assignments).ok());
  ASSERT_TRUE(again.Replan().ok());
  ASSERT_TRUE(again.Check().ok()) << again.Check().error().message;
  EXPECT_EQ(BruteForceGuarantee(again), "");
  for (const auto& [vm, a] : assignments) EXPECT_EQ(again.FindHost(a.host)->state.vms().at(vm).assignment, a);
  // A stored group that no longer fits is refused whole.
  RedundancyGroup dup = groups[1];  // dedicated vCPUs: its pCPUs are taken
  dup.name = "dup";
  for (auto& m : dup.members) m.vm += "x", assignments[m.vm] = assignments.at(m.vm.substr(0, m.vm.size() - 1));
  EXPECT_FALSE(again.RestoreGroup(dup, assignments).ok());
  EXPECT_EQ(again.FindGroup("dup"), nullptr);
  ASSERT_TRUE(again.Check().ok()) << again.Check().error().message;
}

TEST(Cluster, FailHostsMovesToThePrecomputedTargetsAndReplans) {
  Cluster c;
  AddHosts(&c, 5, 5);
  GroupOutcome o = c.PlaceGroup(Group(Pair("fw", 4, R"(,"smt":"isolate")")));
  ASSERT_TRUE(o.ok()) << o.status.error().message;
  const std::string act_host = o.placed[0].assignment.host;
  const HealTarget planned = o.heals[0].target;
  auto r = c.FailHosts({act_host});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->within_guarantee);
  ASSERT_EQ(r->moves.size(), 1u);
  EXPECT_EQ(r->moves[0].to, planned.host);
  EXPECT_EQ(c.FindHost(planned.host)->state.vms().at("fw-act1").assignment, planned.assignment);
  EXPECT_FALSE(c.FindHost(act_host)->schedulable);
  EXPECT_EQ(c.FindGroup("fw")->members[0].host, planned.host);
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;
  EXPECT_EQ(BruteForceGuarantee(c), "");  // re-planned: protected again on the 4 hosts left
  for (const auto& [key, sc] : c.reserve().scenarios()) EXPECT_TRUE(sc.unhealable.empty());
  EXPECT_TRUE(c.SetSchedulable(act_host, true).ok());
}

// Issue 25, the lab story: both hosts of a 1+1 group (domain rack) fail together beyond a
// reserve already degraded, with one host left, in the SBY's rack. The ACT is healed there; the
// SBY is lost and keeps no place, so the group's rule holds (Check). When the SBY's host returns
// the SBY is not placed back beside its ACT's rack: it stays lost, with the reason; a host in
// another rack returning takes it.
TEST(Cluster, LostMemberKeepsNoPlaceAndComesBackOnlyUnderItsGroupsRules) {
  Cluster c;
  const std::map<std::string, std::string> racks = {{"h1", "r1"}, {"h2", "r2"}, {"h3", "r2"}, {"h4", "r3"}};
  for (const auto& [name, rack] : racks) ASSERT_TRUE(c.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", name), {{"rack", rack}}).ok());
  GroupRequest req = Group(Pair("fw", 4));
  req.members[0].host = "h1";
  req.members[1].host = "h2";
  GroupOutcome o = c.PlaceGroup(req);
  ASSERT_TRUE(o.ok()) << o.status.error().message;

  // h4, the only host of a third rack, fails: fw-act1 has no healing target any more.
  ASSERT_TRUE(c.FailHosts({"h4"}).ok());
  EXPECT_GT(c.reserve().UnhealableCount(), 0u);

  // h1 and h2 fail together: the ACT is healed onto h3 (rack r2); the SBY can go nowhere.
  auto r = c.FailHosts({"h1", "h2"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->moves.size(), 1u);
  EXPECT_EQ(r->moves[0].vm, "fw-act1");
  EXPECT_EQ(r->moves[0].to, "h3");
  ASSERT_EQ(r->lost.size(), 1u);
  EXPECT_EQ(r->lost[0].vm, "fw-sby1");
  ASSERT_EQ(c.lost().count("fw-sby1"), 1u);
  EXPECT_EQ(c.lost().at("fw-sby1").from, "h2");
  EXPECT_EQ(c.lost().at("fw-sby1").role, Role::kSby);
  EXPECT_EQ(c.FindVm("fw-sby1"), nullptr) << "a lost member keeps no place";
  EXPECT_TRUE(c.FindHost("h2")->state.vms().empty());
  ASSERT_EQ(c.FindGroup("fw")->members.size(), 1u);
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;  // was: "group fw: two members share rack=r2"
  EXPECT_EQ(BruteForceGuarantee(c), "");

  // h2 returns: rack r2 holds the ACT, so the SBY stays lost, and nothing changes.
  ASSERT_TRUE(c.SetSchedulable("h2", true).ok());
  SearchExplanation ex;
  auto back = c.PlaceLost("fw-sby1", &ex);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.error().code, ErrorCode::kUnprocessable);
  EXPECT_NE(back.error().message.find("sharing rack"), std::string::npos) << back.error().message;
  EXPECT_EQ(ex.rejected[reason::kLabelShared], 1) << ex.Summary();
  EXPECT_EQ(c.lost().count("fw-sby1"), 1u);
  EXPECT_TRUE(c.FindHost("h2")->state.vms().empty());
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;

  // h4 (rack r3) returns: the SBY is placed anew there, apart from its ACT.
  ASSERT_TRUE(c.SetSchedulable("h4", true).ok());
  back = c.PlaceLost("fw-sby1");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->assignment.host, "h4");
  EXPECT_EQ(back->role, Role::kSby);
  EXPECT_EQ(c.lost().count("fw-sby1"), 0u);
  EXPECT_EQ(c.FindHost("h4")->state.vms().count("fw-sby1"), 1u);
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;
  EXPECT_EQ(BruteForceGuarantee(c), "");
  EXPECT_EQ(c.PlaceLost("fw-sby1").error().code, ErrorCode::kNotFound);  // not lost any more
}

// A lost member comes back on its old host when its group's rules allow it there, even when
// another host would serve as well; LoseMember (a start that failed) makes it lost again, and
// deleting its group forgets it.
TEST(Cluster, LostMemberComesBackOnItsOldHostFirst) {
  Cluster c;
  AddHosts(&c, 2);
  GroupRequest req = Group(R"({"name":"vm1","act":1,"protect":false,"vm":{"vcpus":2,"memory_mib":1024}})");
  req.members[0].host = "h1";
  ASSERT_TRUE(c.PlaceGroup(req).ok());
  ASSERT_TRUE(c.SetSchedulable("h2", false).ok());
  auto r = c.FailHosts({"h1"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(c.lost().count("vm1-act1"), 1u);
  EXPECT_TRUE(c.FindGroup("vm1")->members.empty());
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;
  EXPECT_FALSE(c.PlaceGroup(Group(R"({"name":"other","members":[{"name":"vm1-act1","role":"act"}],"vm":{"vcpus":1,"memory_mib":512}})")).ok())
      << "a lost member's name stays taken";

  ASSERT_TRUE(c.SetSchedulable("h2", true).ok());
  ASSERT_TRUE(c.SetSchedulable("h1", true).ok());
  auto back = c.PlaceLost("vm1-act1");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->assignment.host, "h1");
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;

  ASSERT_TRUE(c.LoseMember("vm1-act1", "did not start").ok());
  EXPECT_EQ(c.lost().at("vm1-act1").reason, "did not start");
  EXPECT_TRUE(c.FindHost("h1")->state.vms().empty());
  ASSERT_TRUE(c.Check().ok()) << c.Check().error().message;
  ASSERT_TRUE(c.DeleteGroup("vm1").ok());
  EXPECT_TRUE(c.lost().empty());
}

TEST(Cluster, JsonRoundTrip) {
  GroupRequest r = Group(R"({"name":"fw","members":[{"name":"a","role":"act","host":"h1"},{"name":"b","role":"sby"}],
                             "domains":["rack","power"],"protect":false,"vm":{"vcpus":2,"smt":"isolate","memory_mib":1024}})");
  EXPECT_EQ(r.members[0].host, "h1");
  EXPECT_EQ(r.members[1].role, Role::kSby);
  EXPECT_FALSE(r.protect);
  auto back = GroupRequestFromJson(GroupRequestToJson(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->members.size(), 2u);
  EXPECT_FALSE(GroupRequestFromJson(nlohmann::json::parse(R"({"name":"x","vm":{"vcpus":1,"memory_mib":1},"bogus":1})")).ok());
  EXPECT_FALSE(GroupRequestFromJson(nlohmann::json::parse(R"({"name":"x","vm":{"vcpus":1,"memory_mib":1},"sby":1})")).ok());
  Cluster c;
  AddHosts(&c, 3);
  GroupOutcome o = c.PlaceGroup(Group(R"({"name":"g","act":1,"sby":1,"vm":{"vcpus":2,"memory_mib":1024}})"));
  nlohmann::json j = GroupOutcomeToJson(o);
  EXPECT_TRUE(j["ok"]);
  EXPECT_EQ(j["placed"].size(), 2u);
  EXPECT_TRUE(j["explanation"]["searches"][0].contains("rejected"));
  EXPECT_EQ(ReserveToJson(c)["k"], 1);
}

}  // namespace
}  // namespace corepin
