// Table-driven per-host fit tests over named host fixtures.
//   2s32c-smt2: 2 sockets x 32 cores x 2 threads; node0 = 0-31,64-95, node1 = 32-63,96-127;
//               pCPU p and p+64 are siblings; NICs ens1f0/ens1f1 on node1, eno1 on node0.
//   4node-smt2: 2 sockets x 2 nodes x 8 cores x 2 threads; NIC ens2 on node2, ens3 on node3.
//   1s2c-local: this machine: pCPUs 0 and 1, no SMT.
#include "placement/fit.h"

#include <gtest/gtest.h>

#include "placement/invariants.h"
#include "placement/placement_test_util.h"

namespace corepin {
namespace {

using testing::FixtureHost;
using testing::Spec;

struct Case {
  std::string title;
  std::string fixture;
  std::string housekeeping;
  std::vector<std::string> existing;  // VM specs placed first, in order
  std::string request;
  // Expected on success:
  std::vector<int> vcpu_pcpus = {};
  std::string emulator = {};
  std::string reserved = {};
  std::map<int, uint64_t> memory = {};
  // Expected on rejection: every string must appear in the rejection text.
  std::vector<std::string> rejected_with = {};
};

std::vector<Case> Cases() {
  const std::string big = "2s32c-smt2", four = "4node-smt2", local = "1s2c-local";
  return {
      {"dedicated prefer packs siblings on the fuller node", big, "0,64", {},
       R"({"name":"a","vcpus":4,"memory_mib":1024})", {1, 65, 2, 66}, "0,64", "", {{0, 1024}}},
      {"isolate takes one pCPU per whole core, emulator isolate too", big, "0,64", {},
       R"({"name":"a","vcpus":4,"smt":"isolate","emulator":"isolate","memory_mib":1024})", {1, 2, 3, 4}, "5", "65-69", {{0, 1024}}},
      {"require uses whole cores", big, "0,64", {},
       R"({"name":"a","vcpus":3,"smt":"require","memory_mib":1024})", {1, 65, 2}, "0,64", "66", {{0, 1024}}},
      {"NIC on socket 1 pulls the VM to node1", big, "0,64", {},
       R"({"name":"a","vcpus":2,"nic":"ens1f0","memory_mib":1024})", {32, 96}, "0,64", "", {{1, 1024}}},
      {"physnet resolves to its NICs' node", big, "0,64", {},
       R"({"name":"a","vcpus":1,"physnet":"data","memory_mib":512})", {32}, "0,64", "", {{1, 512}}},
      {"group vCPUs share one pCPU; dedicated first", big, "0,64", {},
       R"({"name":"a","vcpus":4,"vcpu_policies":["dedicated","group:ctl","group:ctl","group:ctl"],"memory_mib":1024})",
       {1, 65, 65, 65}, "0,64", "", {{0, 1024}}},
      {"emulator threads join a group", big, "0,64", {},
       R"({"name":"a","vcpus":2,"vcpu_policies":["dedicated","group:ctl"],"emulator":"group:ctl","memory_mib":1024})",
       {1, 65}, "65", "", {{0, 1024}}},
      {"a second VM fills the partly used core first", big, "0,64", {R"({"name":"a","vcpus":1,"memory_mib":512})"},
       R"({"name":"b","vcpus":1,"memory_mib":512})", {65}, "0,64", "", {{0, 512}}},
      {"isolate skips the partly used core", big, "0,64", {R"({"name":"a","vcpus":1,"memory_mib":512})"},
       R"({"name":"b","vcpus":2,"smt":"isolate","memory_mib":512})", {2, 3}, "0,64", "66-67", {{0, 512}}},
      {"groups are shared across VMs", big, "0,64",
       {R"({"name":"a","vcpus":2,"vcpu_policies":["dedicated","group:ctl"],"memory_mib":512})"},
       R"({"name":"b","vcpus":2,"vcpu_policies":["group:ctl","dedicated"],"memory_mib":512})", {65, 2}, "0,64", "", {{0, 512}}},
      {"pinned vCPU on its named core", big, "0,64", {},
       R"({"name":"a","vcpus":2,"vcpu_policies":["pinned:40","dedicated"],"memory_mib":512})", {40, 104}, "0,64", "", {{1, 512}}},
      {"spread deals vCPUs evenly over nodes", big, "0,64", {},
       R"({"name":"a","vcpus":4,"numa":"spread","memory_mib":4096})", {1, 32, 65, 96}, "0,64", "", {{0, 2048}, {1, 2048}}},
      {"4-node host: NIC on node3", four, "0,32", {},
       R"({"name":"a","vcpus":4,"nic":"ens3","memory_mib":1024})", {24, 56, 25, 57}, "0,32", "", {{3, 1024}}},
      {"2M hugepages", big, "0,64", {},
       R"({"name":"a","vcpus":1,"memory_mib":4096,"page_size":"2M"})", {1}, "0,64", "", {{0, 4096}}},
      {"this machine: dedicated", local, "0", {}, R"({"name":"a","vcpus":1,"memory_mib":64})", {1}, "0", "", {{0, 64}}},
      {"this machine: group", local, "0", {}, R"({"name":"a","vcpus":2,"policy":"group:light","memory_mib":64})", {1, 1}, "0", "", {{0, 64}}},
      {"this machine: pinned", local, "0", {}, R"({"name":"a","vcpus":1,"policy":"pinned:1","memory_mib":64})", {1}, "0", "", {{0, 64}}},

      {"pinned on housekeeping", big, "0,64", {}, R"({"name":"a","vcpus":1,"policy":"pinned:0","memory_mib":512})",
       {}, "", "", {}, {"pinned:0: pCPU 0 is housekeeping"}},
      {"pinned out of range", big, "0,64", {}, R"({"name":"a","vcpus":1,"policy":"pinned:200","memory_mib":512})",
       {}, "", "", {}, {"pCPU 200 does not exist"}},
      {"pinned on a taken pCPU", big, "0,64", {R"({"name":"a","vcpus":1,"policy":"pinned:5","memory_mib":512})"},
       R"({"name":"b","vcpus":1,"policy":"pinned:5","memory_mib":512})", {}, "", "", {}, {"pCPU 5 is held by VM a"}},
      {"isolate with a busy sibling", big, "0,64", {R"({"name":"a","vcpus":1,"policy":"pinned:65","memory_mib":512})"},
       R"({"name":"b","vcpus":1,"policy":"pinned:1","smt":"isolate","memory_mib":512})", {}, "", "", {}, {"sibling 65", "must stay empty"}},
      {"require on a host without SMT", local, "0", {}, R"({"name":"a","vcpus":1,"smt":"require","memory_mib":64})",
       {}, "", "", {}, {"no SMT"}},
      {"too large for any single node", big, "0,64", {}, R"({"name":"a","vcpus":70,"memory_mib":1024})",
       {}, "", "", {}, {"node0: 62 free pCPUs, needs 70", "node1: 64 free pCPUs, needs 70"}},
      {"NIC on the other node than the pinned vCPU", big, "0,64", {},
       R"({"name":"a","vcpus":1,"policy":"pinned:3","nic":"ens1f0","memory_mib":512})", {}, "", "",
       {}, {"node0: NIC ens1f0 is on node1", "node1: pinned:3 is on node0"}},
      {"unknown NIC", big, "0,64", {}, R"({"name":"a","vcpus":1,"nic":"ens9","memory_mib":512})",
       {}, "", "", {}, {"NIC ens9 is not on this host (NICs: eno1, ens1f0, ens1f1)"}},
      {"1G pages short on every node", big, "0,64", {}, R"({"name":"a","vcpus":1,"memory_mib":20480,"page_size":"1G"})",
       {}, "", "", {}, {"node0: 16384 MiB free in 1G pages, needs 20480 MiB", "node1: 16384 MiB free in 1G pages"}},
      {"group full", big, "0,64", {R"({"name":"a","vcpus":8,"policy":"group:g","memory_mib":512})"},
       R"({"name":"b","vcpus":1,"policy":"group:g","memory_mib":512})", {}, "", "", {}, {"8 of 8 member slots taken"}},
      {"duplicate VM on the host", local, "0", {R"({"name":"a","vcpus":1,"memory_mib":64})"},
       R"({"name":"a","vcpus":1,"policy":"group:x","memory_mib":64})", {}, "", "", {}, {"already on this host"}},
      {"this machine: two dedicated do not fit", local, "0", {}, R"({"name":"a","vcpus":2,"memory_mib":64})",
       {}, "", "", {}, {"node0: 1 free pCPU, needs 2"}},
      // Refusals say what was needed, in parts, in words people use (issue 16).
      {"an isolated emulator pCPU is counted and named", local, "0", {}, R"({"name":"a","vcpus":1,"emulator":"isolate","memory_mib":64})",
       {}, "", "", {}, {"node0: 1 free pCPU, needs 2 (1 vCPU + 1 isolated emulator pCPU)"}},
      {"numa spread short of pCPUs", local, "0", {}, R"({"name":"a","vcpus":2,"numa":"spread","memory_mib":64})",
       {}, "", "", {}, {"numa spread: 1 free pCPU across all nodes, needs 2", "node0: 1 free pCPU; numa spread needs 2 across all nodes"}},
      {"isolate counts whole cores", big, "0,64", {}, R"({"name":"a","vcpus":40,"smt":"isolate","emulator":"isolate","memory_mib":1024})",
       {}, "", "", {}, {"node0: 31 whole free cores (smt isolate), needs 41 (40 vCPUs + 1 isolated emulator pCPU)"}},
  };
}

class FitTable : public ::testing::TestWithParam<Case> {};

TEST_P(FitTable, Case) {
  const Case& c = GetParam();
  HostState hs = FixtureHost(c.fixture, c.housekeeping);
  for (const auto& e : c.existing) {
    VmSpec s = Spec(e);
    FitResult r = Fit(hs, s);
    ASSERT_TRUE(r.ok()) << r.rejection.ToString();
    ASSERT_TRUE(hs.Apply(s, *r.assignment).ok());
  }
  VmSpec req = Spec(c.request);
  FitResult r = Fit(hs, req);
  if (c.rejected_with.empty()) {
    ASSERT_TRUE(r.ok()) << r.rejection.ToString();
    EXPECT_EQ(r.assignment->vcpu_pcpus, c.vcpu_pcpus);
    EXPECT_EQ(r.assignment->emulator.ToString(), c.emulator);
    EXPECT_EQ(r.assignment->reserved_siblings.ToString(), c.reserved);
    EXPECT_EQ(r.assignment->memory_mib, c.memory);
    ASSERT_TRUE(hs.Apply(req, *r.assignment).ok());
    Status inv = CheckInvariants(hs);
    EXPECT_TRUE(inv.ok()) << inv.error().message;
    // Deterministic: releasing and fitting again gives the same answer.
    ASSERT_TRUE(hs.Release(req.name).ok());
    EXPECT_EQ(*Fit(hs, req).assignment, *r.assignment);
  } else {
    ASSERT_FALSE(r.ok()) << "expected a rejection";
    const std::string text = r.rejection.ToString();
    for (const auto& want : c.rejected_with) EXPECT_NE(text.find(want), std::string::npos) << "missing \"" << want << "\" in:\n" << text;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FitTable, ::testing::ValuesIn(Cases()), [](const auto& info) {
  std::string n;
  for (char ch : info.param.title) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return n;
});

TEST(HostState, ApplyRefusesClashesAndChangesNothing) {
  HostState hs = FixtureHost("2s32c-smt2", "0,64");
  VmSpec a = Spec(R"({"name":"a","vcpus":2,"memory_mib":512})");
  Assignment fa = *Fit(hs, a).assignment;
  ASSERT_TRUE(hs.Apply(a, fa).ok());
  const CpuSet free_before = hs.free();
  VmSpec b = Spec(R"({"name":"b","vcpus":2,"memory_mib":512})");
  EXPECT_FALSE(hs.Apply(b, fa).ok());  // same pCPUs as a
  EXPECT_EQ(hs.free(), free_before);
  EXPECT_EQ(hs.vms().size(), 1u);
  EXPECT_TRUE(CheckInvariants(hs).ok());
}

TEST(HostState, GroupPcpuFreedWithLastMember) {
  HostState hs = FixtureHost("1s2c-local", "0");
  VmSpec a = Spec(R"({"name":"a","vcpus":1,"policy":"group:g","memory_mib":64})");
  VmSpec b = Spec(R"({"name":"b","vcpus":2,"policy":"group:g","memory_mib":64})");
  ASSERT_TRUE(hs.Apply(a, *Fit(hs, a).assignment).ok());
  ASSERT_TRUE(hs.Apply(b, *Fit(hs, b).assignment).ok());
  EXPECT_EQ(hs.FindGroup("g")->Slots(), 3);
  EXPECT_EQ(hs.Use(1).kind, PcpuUse::Kind::kGroup);
  ASSERT_TRUE(hs.Release("a").ok());
  EXPECT_FALSE(hs.free().Contains(1));
  ASSERT_TRUE(hs.Release("b").ok());
  EXPECT_TRUE(hs.free().Contains(1));
  EXPECT_EQ(hs.FindGroup("g"), nullptr);
  EXPECT_TRUE(CheckInvariants(hs).ok());
}

}  // namespace
}  // namespace corepin
