#include "topology/partition.h"

#include <gtest/gtest.h>

#include "topology/fixtures.h"

namespace corepin {

class PartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = LoadHostFixture(HostFixturePath("2s32c-smt2"));
    ASSERT_TRUE(t.ok());
    topo = *t;
  }
  HostTopology topo;
};

TEST_F(PartitionTest, AllocatableDefaultsToTheRest) {
  CpuPartition p;
  p.housekeeping = CpuSet{0, 64};
  auto w = ResolvePartition(topo, &p);
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ(p.allocatable.ToString(), "1-63,65-127");
  EXPECT_TRUE(w->empty());
}

TEST_F(PartitionTest, SplitCoreIsAWarning) {
  CpuPartition p;
  p.housekeeping = CpuSet{0};
  auto w = ResolvePartition(topo, &p);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->size(), 1u);
  EXPECT_NE((*w)[0].find("0,64"), std::string::npos);
}

TEST_F(PartitionTest, Errors) {
  struct Case { std::string hk, alloc, expect; };
  for (const auto& c : std::vector<Case>{{"", "", "at least one pCPU"},
                                         {"200", "", "200 do not exist"},
                                         {"0", "0-3", "also housekeeping"},
                                         {"0", "130", "130 do not exist"},
                                         {"0-127", "", "no pCPU is left"}}) {
    CpuPartition p;
    p.housekeeping = *CpuSet::Parse(c.hk);
    p.allocatable = *CpuSet::Parse(c.alloc);
    auto r = ResolvePartition(topo, &p);
    ASSERT_FALSE(r.ok()) << c.hk << "/" << c.alloc;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
  }
  CpuPartition p;
  p.housekeeping = CpuSet{0};
  p.physnets["data"] = {"ens99"};
  auto r = ResolvePartition(topo, &p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("ens99"), std::string::npos);
}

}  // namespace corepin
