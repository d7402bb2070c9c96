// Defragmentation plans (defrag.h) over fragmented fixture clusters of 2s32c-smt2 hosts
// (pCPU p and p+64 are siblings; node 0 = pCPUs 0-31,64-95, node 1 = 32-63,96-127;
// housekeeping 0,64). Fragmented layouts are restored exactly (RestoreGroup), as corepind
// restores stored assignments.
#include "placement/defrag.h"

#include <gtest/gtest.h>

#include "placement/cluster_test_util.h"

namespace corepin {
namespace {

using testing::BruteForceGuarantee;
using testing::CachedFixtureHost;
using testing::Group;

// A standalone VM (a group of one that opted out of the reserve) with one dedicated vCPU per
// pCPU in `pcpus`, exactly there.
void Restore(Cluster& c, const std::string& vm, const std::string& host, const std::vector<int>& pcpus) {
  RedundancyGroup g;
  g.name = vm;
  g.protect = false;
  g.vm.name = vm;
  g.vm.vcpus.assign(pcpus.size(), VcpuPolicy{});
  g.vm.memory_mib = 1024;
  g.members = {{vm, Role::kAct, host}};
  Assignment a;
  a.host = host;
  a.vcpu_pcpus = pcpus;
  for (int p : pcpus) a.exclusive.Add(p);
  a.emulator = {0, 64};
  a.memory_mib = {{(pcpus[0] % 64) < 32 ? 0 : 1, 1024}};
  Status s = c.RestoreGroup(g, {{vm, a}});
  ASSERT_TRUE(s.ok()) << s.error().message;
}

// A 1+1 group with one dedicated vCPU per member, each exactly on its pCPU, separated by rack.
void RestorePair(Cluster& c, const std::string& name, const std::string& act_host, int act_pcpu, const std::string& sby_host,
                 int sby_pcpu) {
  RedundancyGroup g;
  g.name = name;
  g.vm.name = name;
  g.vm.vcpus = {VcpuPolicy{}};
  g.vm.memory_mib = 1024;
  g.domains = {"rack"};
  g.members = {{name + "-a", Role::kAct, act_host}, {name + "-b", Role::kSby, sby_host}};
  std::map<std::string, Assignment> as;
  for (const auto& m : g.members) {
    const int p = m.role == Role::kAct ? act_pcpu : sby_pcpu;
    Assignment a;
    a.host = m.host;
    a.vcpu_pcpus = {p};
    a.exclusive = {p};
    a.emulator = {0, 64};
    a.memory_mib = {{(p % 64) < 32 ? 0 : 1, 1024}};
    as[m.vm] = a;
  }
  Status s = c.RestoreGroup(g, as);
  ASSERT_TRUE(s.ok()) << s.error().message;
}

// Every VM's host and assignment, and every host's reserve: what a dry run must leave alone.
std::string Snapshot(const Cluster& c) {
  std::string out;
  for (const ClusterHost* h : c.hosts()) {
    out += h->name + " reserve " + h->state.reserve().pcpus.ToString() + "\n";
    for (const auto& [vm, p] : h->state.vms()) out += "  " + vm + " " + p.assignment.VcpuPcpus().ToString() + "\n";
  }
  return out;
}

// Three hosts, one rack each, k = 1: two protected pairs placed as usual, then on h1 ten
// standalone 1-vCPU VMs on pCPUs 20-29, each alone on a core whose sibling is free (ten
// stranded pCPUs).
class DefragTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 1; i <= 3; ++i)
      ASSERT_TRUE(c_.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", "h" + std::to_string(i)), {{"rack", "r" + std::to_string(i)}}).ok());
    for (const char* name : {"fw1", "fw2"}) {
      auto g = c_.PlaceGroup(Group(std::string(R"({"name":")") + name + R"(","act":1,"sby":1,"domains":["rack"],"vm":{"vcpus":3,"memory_mib":2048}})"));
      ASSERT_TRUE(g.ok()) << g.status.error().message;
    }
    for (int i = 0; i < 10; ++i) Restore(c_, "s" + std::to_string(i), "h1", {20 + i});
    ASSERT_TRUE(c_.Replan().ok());
    ASSERT_TRUE(c_.Check().ok());
  }
  Cluster c_;
};

TEST_F(DefragTest, FreesTheCoresItClaimsWithoutBreakingGroupsOrTheReserve) {
  const Fragmentation h1 = MeasureFragmentation(c_.FindHost("h1")->state);
  EXPECT_GE(h1.stranded, 10);
  const std::string before = Snapshot(c_);

  auto plan = PlanDefrag(c_, {});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_FALSE(plan->moves.empty());
  EXPECT_TRUE(plan->notes.empty()) << plan->notes[0];

  // The dry run changed nothing.
  EXPECT_EQ(Snapshot(c_), before);
  EXPECT_TRUE(c_.Check().ok());

  // The result holds every rule, the reserve guarantee included.
  const Cluster& after = *plan->result;
  Status check = after.Check();
  EXPECT_TRUE(check.ok()) << check.error().message;
  EXPECT_EQ(after.reserve().UnhealableCount(), 0u);
  EXPECT_EQ(BruteForceGuarantee(after), "");

  // Each move is in the result, and the moves free what they claim: summed, exactly the
  // difference of the counts measured on the result.
  int cores = 0, nodes = 0, stranded = 0;
  for (const auto& m : plan->moves) {
    const ClusterHost* h = after.HostById(after.FindVm(m.vm)->host);
    EXPECT_EQ(h->name, m.to.host);
    EXPECT_EQ(h->state.vms().at(m.vm).assignment, m.to);
    EXPECT_GT(m.cores_freed + m.nodes_freed, 0) << m.vm;
    EXPECT_FALSE(m.frees.empty()) << m.vm;
    cores += m.cores_freed, nodes += m.nodes_freed, stranded += m.stranded_delta;
  }
  int free_cores = 0;
  for (const ClusterHost* h : after.hosts()) free_cores += MeasureFragmentation(h->state).free_cores;
  EXPECT_EQ(free_cores, plan->total_after.free_cores);
  EXPECT_EQ(plan->total_after.free_cores - plan->total_before.free_cores, cores);
  EXPECT_EQ(plan->total_after.free_nodes - plan->total_before.free_nodes, nodes);
  EXPECT_EQ(plan->total_after.stranded - plan->total_before.stranded, stranded);
  // Ten VMs alone on ten cores fit on five: five cores freed on h1, ten stranded pCPUs gone.
  EXPECT_GE(cores, 5);
  EXPECT_LE(plan->after[0].stranded, h1.stranded - 10);
  // The groups' members still on distinct hosts and racks.
  for (const auto& [name, g] : after.groups())
    if (g.members.size() == 2) {
      EXPECT_NE(g.members[0].host, g.members[1].host) << name;
    }
}

TEST_F(DefragTest, MaxMovesBoundsThePlan) {
  auto none = PlanDefrag(c_, {.max_moves = 0});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->moves.empty());
  EXPECT_EQ(none->total_after.free_cores, none->total_before.free_cores);
  auto two = PlanDefrag(c_, {.max_moves = 2});
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->moves.size(), 2u);
  EXPECT_EQ(two->total_after.free_cores - two->total_before.free_cores, two->moves[0].cores_freed + two->moves[1].cores_freed);
}

// Two hosts, k = 0: b alone on node 1 of h1 while h2's node 0 has room: moving it there frees
// the whole node.
TEST(Defrag, FreesAWholeNode) {
  ClusterOptions k0;
  k0.failures_tolerated = 0;
  Cluster c(k0);
  for (const char* host : {"h1", "h2"}) ASSERT_TRUE(c.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", host)).ok());
  Restore(c, "a", "h1", {1, 2, 3});
  Restore(c, "b", "h1", {40, 41});
  Restore(c, "c", "h2", {1, 2, 3});
  ASSERT_TRUE(c.Replan().ok());
  EXPECT_EQ(MeasureFragmentation(c.FindHost("h1")->state).free_nodes, 0);
  auto plan = PlanDefrag(c, {});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const DefragMove* b = nullptr;
  for (const auto& m : plan->moves)
    if (m.vm == "b") b = &m;
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->to.host, "h2");
  EXPECT_GE(b->nodes_freed, 1);
  EXPECT_GE(plan->total_after.free_nodes, 2);
  EXPECT_TRUE(plan->result->Check().ok());
}

// On its own host a move is a live re-pin, which cannot move memory: b (memory on node 1)
// would free node 1 by going to node 0 of h1, but that move is not planned.
TEST(Defrag, OnItsOwnHostKeepsTheMemorysNode) {
  ClusterOptions k0;
  k0.failures_tolerated = 0;
  Cluster c(k0);
  ASSERT_TRUE(c.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", "h1")).ok());
  Restore(c, "a", "h1", {1, 2, 3});
  Restore(c, "b", "h1", {40, 41});
  ASSERT_TRUE(c.Replan().ok());
  auto plan = PlanDefrag(c, {});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  for (const auto& m : plan->moves)
    EXPECT_EQ(m.to.MemoryNodes(), m.from.MemoryNodes()) << m.vm << " to " << m.to.VcpuPcpus().ToString();
  EXPECT_EQ(plan->total_after.free_nodes, 0);
}

// fw-a, alone on h1, would gain most by filling a stranded sibling on h2 or h4; but h2 holds its
// SBY and h4 shares the SBY's rack. The plan moves the standalone VMs (on their hosts or to
// others) and never fw-a.
TEST(Defrag, KeepsAntiAffinityAndFailureDomains) {
  ClusterOptions k0;
  k0.failures_tolerated = 0;
  Cluster c(k0);
  for (auto [host, rack] : {std::pair{"h1", "r1"}, {"h2", "r2"}, {"h3", "r3"}, {"h4", "r2"}})
    ASSERT_TRUE(c.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", host), {{"rack", rack}}).ok());
  RestorePair(c, "fw", "h1", 10, "h2", 10);
  for (int i = 0; i < 4; ++i) Restore(c, "s" + std::to_string(i), "h2", {20 + i});
  for (int i = 0; i < 4; ++i) Restore(c, "t" + std::to_string(i), "h4", {20 + i});
  ASSERT_TRUE(c.Replan().ok());
  ASSERT_TRUE(c.Check().ok());
  auto plan = PlanDefrag(c, {});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_FALSE(plan->moves.empty());
  for (const auto& m : plan->moves) {
    if (m.vm == "fw-a") EXPECT_TRUE(m.to.host == "h1" || m.to.host == "h3") << "fw-a to " << m.to.host;
    if (m.vm == "fw-b") EXPECT_TRUE(m.to.host == "h2" || m.to.host == "h3") << "fw-b to " << m.to.host;
  }
  EXPECT_TRUE(plan->notes.empty());
  EXPECT_TRUE(plan->result->Check().ok());
}

// Nothing to gain: an empty cluster and a tidy one give no moves.
TEST(Defrag, TidyClusterNeedsNoMoves) {
  ClusterOptions k0;
  k0.failures_tolerated = 0;
  Cluster c(k0);
  ASSERT_TRUE(c.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", "h1")).ok());
  auto empty = PlanDefrag(c, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->moves.empty());
  Restore(c, "a", "h1", {1, 65});  // one whole core
  ASSERT_TRUE(c.Replan().ok());
  auto tidy = PlanDefrag(c, {});
  ASSERT_TRUE(tidy.ok());
  EXPECT_TRUE(tidy->moves.empty());
}

}  // namespace
}  // namespace corepin
