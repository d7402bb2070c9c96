#include <gtest/gtest.h>

#include "placement/placement_json.h"

namespace corepin {
namespace {

using nlohmann::json;

TEST(SpecJson, RoundTrip) {
  auto s = VmSpecFromJson(json::parse(R"({"name":"fw1","vcpus":3,"vcpu_policies":["dedicated","group:ctl","pinned:7"],
      "smt":"isolate","emulator":"group:ctl","numa":"spread","nic":"ens2","memory_mib":2048,"page_size":"2M"})"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->vcpus[1].group, "ctl");
  EXPECT_EQ(s->vcpus[2].pcpu, 7);
  EXPECT_EQ(s->page_kib, 2048u);
  auto again = VmSpecFromJson(VmSpecToJson(*s));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(VmSpecToJson(*again), VmSpecToJson(*s));
}

TEST(SpecJson, EveryBadFieldIsNamed) {
  struct Case { const char* json; const char* expect; };
  for (auto c : std::vector<Case>{
           {R"([1])", "must be a JSON object"},
           {R"({"vcpus":1,"memory_mib":64})", "name: missing"},
           {R"({"name":"a b","vcpus":1,"memory_mib":64})", "name: \"a b\""},
           {R"({"name":"a","memory_mib":64})", "vcpus: missing"},
           {R"({"name":"a","vcpus":0,"memory_mib":64})", "vcpus: 0 is out of range"},
           {R"({"name":"a","vcpus":300,"memory_mib":64})", "vcpus: 300 is out of range"},
           {R"({"name":"a","vcpus":"2","memory_mib":64})", "vcpus: must be an integer"},
           {R"({"name":"a","vcpus":1,"memory_mib":64,"cpus":2})", "unknown field \"cpus\""},
           {R"({"name":"a","vcpus":1,"policy":"shared","memory_mib":64})", "policy: \"shared\" is not a vCPU policy"},
           {R"({"name":"a","vcpus":2,"vcpu_policies":["dedicated"],"memory_mib":64})", "vcpu_policies: has 1 entries for 2 vCPUs"},
           {R"({"name":"a","vcpus":2,"vcpu_policies":["pinned:3","pinned:3"],"memory_mib":64})", "pinned:3 is already vCPU 0's pCPU"},
           {R"({"name":"a","vcpus":1,"vcpu_policies":["pinned:x"],"memory_mib":64})", "vcpu_policies[0]: \"pinned:x\""},
           {R"({"name":"a","vcpus":1,"smt":"always","memory_mib":64})", "smt: \"always\""},
           {R"({"name":"a","vcpus":1,"emulator":"pinned:3","memory_mib":64})", "emulator: \"pinned:3\""},
           {R"({"name":"a","vcpus":1,"numa":"any","memory_mib":64})", "numa: \"any\""},
           {R"({"name":"a","vcpus":1})", "memory_mib: missing"},
           {R"({"name":"a","vcpus":1,"memory_mib":-5})", "memory_mib: must be a positive integer"},
           {R"({"name":"a","vcpus":1,"memory_mib":1000,"page_size":"1G"})", "not a multiple of the 1G page size"},
           {R"({"name":"a","vcpus":1,"memory_mib":64,"page_size":"64K"})", "page_size: \"64K\""},
           {R"({"name":"a","vcpus":1,"memory_mib":64,"nic":"ens2","physnet":"x"})", "nic and physnet"},
       }) {
    auto s = VmSpecFromJson(json::parse(c.json));
    ASSERT_FALSE(s.ok()) << c.json;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalid);
    EXPECT_NE(s.error().message.find(c.expect), std::string::npos) << c.json << " -> " << s.error().message;
  }
}

TEST(SpecJson, ExtraFieldsAllowedWhenDeclared) {
  auto s = VmSpecFromJson(json::parse(R"({"name":"a","host":"h1","vcpus":1,"memory_mib":64})"), {"host"});
  EXPECT_TRUE(s.ok());
}

TEST(AssignmentJson, RoundTrip) {
  Assignment a;
  a.host = "h1";
  a.vcpu_pcpus = {3, 4, 5};
  a.emulator = CpuSet{0, 64};
  a.exclusive = CpuSet{3, 4};
  a.reserved_siblings = CpuSet{67};
  a.groups = {{"ctl", 5}};
  a.memory_mib = {{0, 512}, {1, 512}};
  a.page_kib = 2048;
  auto b = AssignmentFromJson(AssignmentToJson(a));
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(*b, a);
  EXPECT_FALSE(AssignmentFromJson(json::parse(R"({"host":"h"})")).ok());
}

}  // namespace
}  // namespace corepin
