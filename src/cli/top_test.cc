#include "cli/top.h"

#include <gtest/gtest.h>

namespace corepin {
namespace {

using nlohmann::json;

// A host view (GET /v1/hosts/{name}) of 1 node with 4 pCPUs: housekeeping, a vCPU of fw1, a
// group pCPU, and a reserved one.
json HostView() {
  return json::parse(R"({
    "name": "h1", "connected": true, "allocatable": "1-3", "vms": ["fw1"],
    "topology": {"nodes": [{"id": 0, "pcpus": "0-3"}]},
    "cores": [
      {"pcpus": [{"id": 0, "use": "housekeeping", "owner": "", "detail": ""}]},
      {"pcpus": [{"id": 1, "use": "vcpu", "owner": "fw1", "detail": "vcpu 0 dedicated"}]},
      {"pcpus": [{"id": 2, "use": "group", "owner": "ctl", "detail": "fw1 x1"}]},
      {"pcpus": [{"id": 3, "use": "reserve", "owner": "", "detail": ""}]}
    ]})");
}

TEST(Top, CompactCoreMapHasOneCharacterPerPcpu) {
  EXPECT_EQ(CompactCoreMap(HostView(), {{"fw1", 'a'}}), "    node0 Ha#R\n");
  EXPECT_EQ(CompactCoreMap(HostView(), {}), "    node0 H?#R\n");  // a VM without a key
}

TEST(Top, FrameShowsCpuAndStealBetweenTwoSamples) {
  TopSample before, now;
  for (TopSample* s : {&before, &now}) {
    s->hosts.push_back(HostView());
    s->vms.push_back({{"name", "fw1"}, {"host", "h1"}, {"state", "running"}, {"pinning_verified", true}, {"role", "act"}, {"group", "fw"}});
  }
  before.stats["fw1"] = {{"unix_ms", 1000}, {"vcpus", {{{"vcpu", 0}, {"pcpu", 1}, {"cpu_time_ns", 0}, {"delay_ns", 0}}}}};
  now.stats["fw1"] = {{"unix_ms", 2000}, {"vcpus", {{{"vcpu", 0}, {"pcpu", 1}, {"cpu_time_ns", 250000000}, {"delay_ns", 20000000}}}}};
  now.events.push_back({{"id", 9}, {"unix_ms", 0}, {"kind", "vm.created"}, {"subject", "fw1"}, {"message", "on h1"}});
  const std::string frame = TopFrame(now, &before, "http://x");
  EXPECT_NE(frame.find("1 hosts, 1 VMs, 0 active alarms"), std::string::npos) << frame;
  EXPECT_NE(frame.find("  h1    yes  4      3            0     1        1\n"), std::string::npos) << frame;
  EXPECT_NE(frame.find("    node0 Ha#R\n"), std::string::npos) << frame;
  EXPECT_NE(frame.find("  a    fw1  h1    fw     ACT   running  verified  2%     0@1 25%\n"), std::string::npos) << frame;
  EXPECT_NE(frame.find("  9  "), std::string::npos) << frame;
  EXPECT_NE(frame.find("vm.created  fw1  on h1"), std::string::npos) << frame;

  // Without a previous sample there is no rate yet.
  const std::string first = TopFrame(now, nullptr, "http://x");
  EXPECT_NE(first.find("verified  -      0@1 -\n"), std::string::npos) << first;
}

}  // namespace
}  // namespace corepin
