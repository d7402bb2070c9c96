// Re-pin and in-place re-fit (repin.h), and Cluster::Reassign with the healing reserve.
//   2s32c-smt2: node0 = 0-31,64-95, node1 = 32-63,96-127; pCPU p and p+64 are siblings.
//   1s2c-local: this machine: pCPUs 0 and 1, no SMT.
#include "placement/repin.h"

#include <gtest/gtest.h>

#include "placement/cluster_test_util.h"
#include "placement/invariants.h"

namespace corepin {
namespace {

using testing::CachedFixtureHost;
using testing::FixtureHost;
using testing::Group;
using testing::Spec;

// Places `spec` with Fit and records it; returns its assignment.
Assignment Place(HostState* h, const std::string& spec) {
  VmSpec s = Spec(spec);
  FitResult fit = Fit(*h, s);
  EXPECT_TRUE(fit.ok()) << fit.rejection.ToString();
  EXPECT_TRUE(h->Apply(s, *fit.assignment).ok());
  return *fit.assignment;
}

// The text of a refused re-pin (and that it was refused).
std::string Refusal(const HostState& h, const std::string& vm, const RepinRequest& req) {
  FitResult r = FitRepin(h, vm, req);
  EXPECT_FALSE(r.ok()) << "accepted: vCPUs on " << (r.ok() ? r.assignment->VcpuPcpus().ToString() : "");
  return r.rejection.ToString();
}

// Applies an accepted re-pin to a copy of the host and checks every invariant.
void ExpectApplies(const HostState& h, const std::string& vm, const Assignment& a) {
  HostState copy = h;
  const VmSpec spec = h.vms().at(vm).spec;
  ASSERT_TRUE(copy.Release(vm).ok());
  ASSERT_TRUE(copy.Apply(spec, a).ok());
  EXPECT_TRUE(CheckInvariants(copy).ok()) << CheckInvariants(copy).error().message;
}

class RepinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // other: vCPUs 1,65 (a partly used core first); fw: 2 dedicated on node0, 2, 66.
    Place(&host_, R"({"name":"other","vcpus":2,"memory_mib":512})");
    fw_ = Place(&host_, R"({"name":"fw","vcpus":2,"memory_mib":512})");
  }
  HostState host_ = FixtureHost("2s32c-smt2", "0,64");
  Assignment fw_;
};

TEST_F(RepinTest, ExplicitMoveKeepsUnnamedVcpusAndFreesTheOldPcpu) {
  ASSERT_EQ(fw_.vcpu_pcpus, (std::vector<int>{2, 66}));
  FitResult r = FitRepin(host_, "fw", {.vcpus = {{0, 5}}});
  ASSERT_TRUE(r.ok()) << r.rejection.ToString();
  EXPECT_EQ(r.assignment->vcpu_pcpus, (std::vector<int>{5, 66}));
  EXPECT_EQ(r.assignment->exclusive.ToString(), "5,66");
  EXPECT_EQ(r.assignment->emulator.ToString(), "0,64");
  EXPECT_EQ(r.assignment->memory_mib, fw_.memory_mib);
  ExpectApplies(host_, "fw", *r.assignment);
}

// Issue 24: emulator housekeeping may be moved to a subset of the housekeeping pCPUs.
TEST_F(RepinTest, EmulatorOnASubsetOfHousekeeping) {
  FitResult r = FitRepin(host_, "fw", {.emulator = CpuSet{0}});
  ASSERT_TRUE(r.ok()) << r.rejection.ToString();
  EXPECT_EQ(r.assignment->emulator.ToString(), "0");
  ExpectApplies(host_, "fw", *r.assignment);
}

TEST_F(RepinTest, TheVmsOwnPcpusCountAsFree) {
  FitResult r = FitRepin(host_, "fw", {.vcpus = {{0, 66}, {1, 2}}});  // a swap
  ASSERT_TRUE(r.ok()) << r.rejection.ToString();
  EXPECT_EQ(r.assignment->vcpu_pcpus, (std::vector<int>{66, 2}));
}

TEST_F(RepinTest, EveryRefusalNamesItsReason) {
  host_.SetReserve(HostReserve{.pcpus = CpuSet{20}});
  struct Case { RepinRequest req; std::string expect; };
  for (const auto& c : std::vector<Case>{
           {{.vcpus = {{0, 1}}}, "vCPU 0 -> pCPU 1: pCPU 1 is held by VM other (vcpu 0 dedicated)"},
           {{.vcpus = {{0, 0}}}, "vCPU 0 -> pCPU 0: pCPU 0 is housekeeping; allocatable pCPUs are 1-63,65-127"},
           {{.vcpus = {{0, 20}}}, "vCPU 0 -> pCPU 20: pCPU 20 is held by the healing reserve"},
           {{.vcpus = {{0, 200}}}, "pCPU 200 does not exist on this host (pCPUs 0-127)"},
           {{.vcpus = {{0, 5}, {1, 5}}}, "vCPU 0 -> pCPU 5: vCPU 1 would be there too; a dedicated vCPU"},
           {{.vcpus = {{0, 40}}}, "pCPU 40 is on node1 but the VM's memory is on node0 (numa single); a live re-pin does not move memory"},
           {{.vcpus = {{7, 5}}}, "vCPU 7 does not exist: VM fw has vCPUs 0-1"},
           {{.emulator = CpuSet{3}}, "emulator: policy housekeeping runs on housekeeping pCPUs (0,64); 3 is not"},
       }) {
    std::string text = Refusal(host_, "fw", c.req);
    EXPECT_NE(text.find(c.expect), std::string::npos) << "want: " << c.expect << "\ngot: " << text;
  }
}

TEST(RepinRefusals, OutsideTheAllocatableSet) {
  auto topo = LoadHostFixture(HostFixturePath("2s32c-smt2"));
  CpuPartition p;
  p.housekeeping = CpuSet{0, 64};
  p.allocatable = *CpuSet::Parse("1-31");
  ASSERT_TRUE(ResolvePartition(*topo, &p).ok());
  HostState h("h1", *topo, p);
  Place(&h, R"({"name":"fw","vcpus":1,"memory_mib":512})");
  EXPECT_NE(Refusal(h, "fw", {.vcpus = {{0, 70}}}).find("pCPU 70 is outside the allocatable set (1-31)"), std::string::npos);
}

TEST(RepinRefusals, PoliciesThatFixAPcpu) {
  HostState h = FixtureHost("2s32c-smt2", "0,64");
  Place(&h, R"({"name":"fw","vcpus":3,"vcpu_policies":["pinned:10","group:ctl","group:ctl"],"emulator":"group:ctl","memory_mib":512})");
  Place(&h, R"({"name":"nat","vcpus":1,"policy":"group:shared","memory_mib":512})");
  Place(&h, R"({"name":"fw2","vcpus":1,"policy":"group:shared","memory_mib":512})");
  EXPECT_NE(Refusal(h, "fw", {.vcpus = {{0, 11}}}).find("vCPU 0 is pinned:10 by its spec and stays on pCPU 10"), std::string::npos);
  EXPECT_NE(Refusal(h, "fw", {.vcpus = {{1, 12}}}).find("vCPUs of group ctl share one pCPU and move together: name vCPUs 2 too"),
            std::string::npos);
  EXPECT_NE(Refusal(h, "fw", {.vcpus = {{1, 12}, {2, 13}}}).find("give them the same pCPU"), std::string::npos);
  EXPECT_NE(Refusal(h, "fw", {.emulator = CpuSet{12}}).find("emulator: policy group:ctl runs on its group's pCPU"), std::string::npos);
  const int shared = h.FindGroup("shared")->pcpu;
  EXPECT_NE(Refusal(h, "fw2", {.vcpus = {{0, 20}}}).find("group shared on pCPU " + std::to_string(shared) + " is shared with VM nat"),
            std::string::npos);
  // A group only this VM uses moves whole, its emulator threads with it.
  FitResult moved = FitRepin(h, "fw", {.vcpus = {{1, 12}, {2, 12}}});
  ASSERT_TRUE(moved.ok()) << moved.rejection.ToString();
  EXPECT_EQ(moved.assignment->vcpu_pcpus, (std::vector<int>{10, 12, 12}));
  EXPECT_EQ(moved.assignment->emulator.ToString(), "12");
  EXPECT_EQ(moved.assignment->groups.at("ctl"), 12);
  ExpectApplies(h, "fw", *moved.assignment);
}

TEST(RepinRefusals, SmtIsolateAndEmulatorIsolate) {
  HostState h = FixtureHost("2s32c-smt2", "0,64");
  Place(&h, R"({"name":"other","vcpus":1,"memory_mib":512})");  // pCPU 1 (sibling 65 free)
  Assignment a = Place(&h, R"({"name":"fw","vcpus":2,"smt":"isolate","emulator":"isolate","memory_mib":512})");
  EXPECT_EQ(a.vcpu_pcpus, (std::vector<int>{2, 3}));
  EXPECT_EQ(a.emulator.ToString(), "4");
  EXPECT_NE(Refusal(h, "fw", {.vcpus = {{0, 65}}}).find("smt isolate: its SMT sibling 1 is held by VM other"), std::string::npos);
  EXPECT_NE(Refusal(h, "fw", {.vcpus = {{0, 67}}}).find("smt isolate: pCPU 3 (vCPU 1) is its SMT sibling"), std::string::npos);
  EXPECT_NE(Refusal(h, "fw", {.emulator = CpuSet{5, 6}}).find("emulator: policy isolate takes exactly one pCPU"), std::string::npos);
  EXPECT_NE(Refusal(h, "fw", {.emulator = CpuSet{3}}).find("vCPU 1 -> pCPU 3: emulator would be there too"), std::string::npos);
  // Siblings held empty follow the moved pCPUs.
  FitResult r = FitRepin(h, "fw", {.vcpus = {{0, 10}}, .emulator = CpuSet{11}});
  ASSERT_TRUE(r.ok()) << r.rejection.ToString();
  EXPECT_EQ(r.assignment->exclusive.ToString(), "3,10-11");
  EXPECT_EQ(r.assignment->reserved_siblings.ToString(), "67,74-75");
  ExpectApplies(h, "fw", *r.assignment);
}

TEST(RepinAuto, ReappliesTheIntendedLayoutOrTakesABetterOneOnTheSameNode) {
  HostState h = FixtureHost("2s32c-smt2", "0,64");
  Place(&h, R"({"name":"a","vcpus":1,"memory_mib":512})");  // pCPU 1
  Assignment fw = Place(&h, R"({"name":"fw","vcpus":1,"memory_mib":512})");
  ASSERT_EQ(fw.vcpu_pcpus, std::vector<int>{65});  // fills a's core
  FitResult same = FitRepin(h, "fw", {.automatic = true});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same.assignment, fw);
  // Once a is gone, fw's best fit is pCPU 1 (fewest free siblings, then the lowest pCPU).
  ASSERT_TRUE(h.Release("a").ok());
  FitResult better = FitRepin(h, "fw", {.automatic = true});
  ASSERT_TRUE(better.ok());
  EXPECT_EQ(better.assignment->vcpu_pcpus, std::vector<int>{1});
}

TEST(FitInPlace, ResizeCountsTheVmsOwnPcpusAsFree) {
  HostState h = FixtureHost("1s2c-local", "0");
  Place(&h, R"({"name":"fw","vcpus":1,"memory_mib":64})");
  FitResult up = FitInPlace(h, "fw", Spec(R"({"name":"fw","vcpus":2,"policy":"group:g","memory_mib":128})"));
  ASSERT_TRUE(up.ok()) << up.rejection.ToString();
  EXPECT_EQ(up.assignment->vcpu_pcpus, (std::vector<int>{1, 1}));
  FitResult refused = FitInPlace(h, "fw", Spec(R"({"name":"fw","vcpus":2,"memory_mib":64})"));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.rejection.ToString().find("host h1 node0: 1 free pCPU, needs 2"), std::string::npos) << refused.rejection.ToString();
}

// A protected pair's member re-pinned on its host: the reserve stays whole (Check and the
// brute-force guarantee); its spec cannot change alone.
TEST(ClusterReassign, KeepsTheReserveConsistent) {
  Cluster c;
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(c.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", "h" + std::to_string(i))).ok());
  GroupOutcome o = c.PlaceGroup(Group(R"({"name":"fw","act":1,"sby":1,"vm":{"vcpus":2,"memory_mib":1024}})"));
  ASSERT_TRUE(o.ok()) << o.status.error().message;
  const std::string act = o.placed[0].vm;
  const ClusterHost* h = c.FindHost(o.placed[0].assignment.host);
  FitResult r = FitRepin(h->state, act, {.vcpus = {{0, 30}, {1, 31}}});
  ASSERT_TRUE(r.ok()) << r.rejection.ToString();
  const VmSpec spec = h->state.vms().at(act).spec;
  ASSERT_TRUE(c.Reassign(act, spec, *r.assignment).ok());
  EXPECT_EQ(h->state.vms().at(act).assignment.vcpu_pcpus, (std::vector<int>{30, 31}));
  EXPECT_TRUE(c.Check().ok()) << c.Check().error().message;
  EXPECT_EQ(testing::BruteForceGuarantee(c), "");

  // A member's spec cannot change alone.
  VmSpec bigger = spec;
  bigger.memory_mib = 2048;
  auto alone = c.Reassign(act, bigger, *r.assignment);
  ASSERT_FALSE(alone.ok());
  EXPECT_NE(alone.error().message.find("members share one spec"), std::string::npos);
  EXPECT_TRUE(c.Check().ok());
}

// A standalone VM (a group of one, outside the reserve) resized: the group's spec follows.
TEST(ClusterReassign, ResizesAGroupOfOne) {
  Cluster c;
  for (int i = 1; i <= 2; ++i) ASSERT_TRUE(c.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", "h" + std::to_string(i))).ok());
  ASSERT_TRUE(c.PlaceGroup(Group(R"({"name":"nat","act":1,"protect":false,"vm":{"vcpus":1,"memory_mib":512}})")).ok());
  const std::string vm = c.groups().at("nat").members[0].vm;
  const ClusterHost* h = c.FindHost(c.groups().at("nat").members[0].host);
  VmSpec bigger = h->state.vms().at(vm).spec;
  bigger.vcpus.assign(4, VcpuPolicy{});
  FitResult fit = FitInPlace(h->state, vm, bigger);
  ASSERT_TRUE(fit.ok());
  ASSERT_TRUE(c.Reassign(vm, bigger, *fit.assignment).ok());
  EXPECT_EQ(c.groups().at("nat").vm.vcpus.size(), 4u);
  EXPECT_EQ(h->state.vms().at(vm).assignment.vcpu_pcpus.size(), 4u);
  EXPECT_TRUE(c.Check().ok()) << c.Check().error().message;
}

}  // namespace
}  // namespace corepin
