// Role changes (switchover) in a placed group.
#include <gtest/gtest.h>

#include "placement/cluster.h"
#include "placement/cluster_test_util.h"

namespace corepin {
namespace {

TEST(ClusterRoles, SwapRolesMovesTheActAndKeepsPlacements) {
  Cluster c;
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(c.AddHost(testing::CachedFixtureHost("2s32c-smt2", "0,64", "h" + std::to_string(i))).ok());
  GroupOutcome o = c.PlaceGroup(testing::Group(R"({"name":"fw","act":1,"sby":1,"vm":{"vcpus":2,"memory_mib":1024}})"));
  ASSERT_TRUE(o.ok()) << o.status.error().message;
  const std::string act = o.placed[0].vm, sby = o.placed[1].vm;
  const std::string act_host = o.placed[0].assignment.host, sby_host = o.placed[1].assignment.host;
  const CpuSet reserve_before = c.FindHost("h1")->state.reserve().pcpus.Union(c.FindHost("h2")->state.reserve().pcpus);

  ASSERT_TRUE(c.SwapRoles("fw", sby, act).ok());
  EXPECT_EQ(c.FindGroup("fw")->FindMember(sby)->role, Role::kAct);
  EXPECT_EQ(c.FindGroup("fw")->FindMember(act)->role, Role::kSby);
  EXPECT_EQ(c.FindHost(sby_host)->acts, 1);
  EXPECT_EQ(c.FindHost(act_host)->acts, 0);
  EXPECT_EQ(c.FindHost("h1")->state.reserve().pcpus.Union(c.FindHost("h2")->state.reserve().pcpus), reserve_before);
  EXPECT_TRUE(c.Check().ok()) << c.Check().error().message;

  // Wrong way round, unknown names: refused, nothing changed.
  EXPECT_EQ(c.SwapRoles("fw", sby, act).error().code, ErrorCode::kInvalid);
  EXPECT_EQ(c.SwapRoles("fw", "nope", act).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(c.SwapRoles("nope", sby, act).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(c.FindGroup("fw")->FindMember(sby)->role, Role::kAct);
  EXPECT_TRUE(c.Check().ok());
}

}  // namespace
}  // namespace corepin
