#include "driver/fixture_hypervisor.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "placement/fit.h"
#include "placement/placement_test_util.h"

namespace corepin {
namespace {

class FixtureHypervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/corepin-fixture-hv-XXXXXX";
    dir_ = mkdtemp(tmpl);
    setenv("COREPIN_FIXTURE_STATE_DIR", dir_.c_str(), 1);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(FixtureHypervisorTest, ServesTheFixtureShapeAndKeepsDomains) {
  auto hv = ConnectHypervisor("fixture:2s32c-smt2#h1");
  ASSERT_TRUE(hv.ok()) << hv.error().message;
  auto topo = (*hv)->ReadTopology();
  ASSERT_TRUE(topo.ok());
  EXPECT_EQ(topo->pcpus.size(), 128u);

  HostState hs = testing::FixtureHost("2s32c-smt2", "0,64");
  VmSpec spec = testing::Spec(R"({"name":"fw1","vcpus":2,"nic":"ens1f0","memory_mib":1024})");
  FitResult fit = Fit(hs, spec);
  ASSERT_TRUE(fit.ok());
  ASSERT_TRUE((*hv)->DefineAndStart({spec, *fit.assignment, *topo, R"({"vm":"fw1"})"}).ok());
  EXPECT_EQ((*hv)->DefineAndStart({spec, *fit.assignment, *topo, "{}"}).error().code, ErrorCode::kConflict);

  // Another connection (a corepind restart) sees the same domain and pinning.
  auto again = ConnectHypervisor("fixture:2s32c-smt2#h1");
  auto dom = (*again)->GetDomain("fw1");
  ASSERT_TRUE(dom.ok());
  EXPECT_TRUE(dom->active);
  EXPECT_EQ(dom->vcpu_pins[0].ToString(), "32");
  EXPECT_EQ(dom->emulator_pin.ToString(), "0,64");
  EXPECT_EQ(dom->metadata_json, R"({"vm":"fw1"})");
  // A host of the same shape with another id is another host.
  EXPECT_TRUE((*ConnectHypervisor("fixture:2s32c-smt2#h2"))->ListCorepinDomains()->empty());

  // A live re-pin: the record, as another connection sees it, has the new pins and metadata.
  ASSERT_TRUE((*hv)->Repin("fw1", {CpuSet{40}, CpuSet{41}}, CpuSet{64}, R"({"vm":"fw1","v":2})").ok());
  dom = (*again)->GetDomain("fw1");
  EXPECT_EQ(dom->vcpu_pins[1].ToString(), "41");
  EXPECT_EQ(dom->emulator_pin.ToString(), "64");
  EXPECT_EQ(dom->metadata_json, R"({"vm":"fw1","v":2})");
  EXPECT_EQ((*hv)->Repin("fw1", {CpuSet{40}}, CpuSet{64}, "{}").error().code, ErrorCode::kInvalid);
  EXPECT_EQ((*hv)->Repin("nope", {}, CpuSet{64}, "{}").error().code, ErrorCode::kNotFound);

  ASSERT_TRUE((*again)->DestroyAndUndefine("fw1").ok());
  EXPECT_EQ((*hv)->GetDomain("fw1").error().code, ErrorCode::kNotFound);
}

TEST_F(FixtureHypervisorTest, UnknownFixtureIsAnError) {
  auto hv = ConnectHypervisor("fixture:no-such-shape");
  ASSERT_FALSE(hv.ok());
  EXPECT_EQ(hv.error().code, ErrorCode::kUnprocessable);
  EXPECT_NE(hv.error().message.find("no-such-shape"), std::string::npos);
}

}  // namespace
}  // namespace corepin
