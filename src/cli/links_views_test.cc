// The text of `vm links`, `depends` and `defrag` from replies shaped as docs/api.md shows them.
#include "cli/links_views.h"

#include <gtest/gtest.h>

namespace corepin {
namespace {

using nlohmann::json;

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(LinksViews, VmLinks) {
  const json v = json::parse(R"J({"vm": "fw-a",
    "host": {"name": "h1", "uri": "fixture:2s32c-smt2#h1", "labels": {"rack": "r1"}, "bmc": "none", "bridge": "br-int"},
    "vcpus": [{"vcpu": 0, "policy": "dedicated", "pcpu": 33, "core": 1, "core_index": 33, "siblings": "33,97", "node": 1, "socket": 1}],
    "emulator": {"policy": "housekeeping", "pcpus": [{"pcpu": 0, "core": 0, "siblings": "0,64", "node": 0, "socket": 0}]},
    "siblings_held_empty": "97", "memory_mib_per_node": {"1": 4096}, "page_size": "4K", "nic_locality": null,
    "interfaces": [{"name": "svc", "mac": "", "port": "cp5f1a2b3c-svc", "bridge": "br-int", "vlan": 4094,
                    "service": {"vlan": 100, "parking_vlan": 4094, "role": "sby"}}],
    "group": {"name": "fw", "role": "sby", "domains": ["rack"], "protect": true,
              "service": {"vlan": 100, "parking_vlan": 4094, "interface": "svc"},
              "members": [{"vm": "fw-b", "role": "act", "host": "h2", "labels": {"rack": "r2"}, "pcpus": "1", "self": false},
                          {"vm": "fw-a", "role": "sby", "host": "h1", "labels": {"rack": "r1"}, "pcpus": "33", "self": true}]},
    "healing_targets": [{"if_failed": ["h1"], "host": "h3", "pcpus": "33"}]})J");
  const std::string out = RenderVmLinks(v);
  EXPECT_TRUE(Has(out, "VM fw-a, SBY of group fw, on host h1 (fixture:2s32c-smt2#h1; labels rack=r1; BMC none)")) << out;
  EXPECT_TRUE(Has(out, "0     33    1     1       1     33,97     dedicated")) << out;
  EXPECT_TRUE(Has(out, "cp5f1a2b3c-svc  br-int  4094 (parked, SBY; service VLAN 100)")) << out;
  EXPECT_TRUE(Has(out, "fw-a *  SBY   h1")) << out;
  EXPECT_TRUE(Has(out, "if h1 fails: host h3 pCPUs 33")) << out;
}

TEST(LinksViews, Depends) {
  const json r = json::parse(R"J({"hardware": {"description": "hosts with rack=r1: h1"},
    "vms": [{"vm": "fw-a", "host": "h1", "group": "fw", "role": "act", "relation": {"runs_on": "h1", "pcpus": "1-4"}},
            {"vm": "nat", "host": "h1", "group": null, "role": null, "relation": {"runs_on": "h1", "pcpus": "5"}}],
    "if_it_fails": {"assumes": "the hosts fail together", "within_guarantee": true, "k": 1,
      "groups": [{"group": "fw", "lost": [{"vm": "fw-a", "role": "act", "host": "h1", "target": {"host": "h3", "pcpus": "1-4", "precomputed": true}}],
                  "survivors": [], "service": "down until a SBY (fw-b) is promoted", "redundancy": "restored from the healing reserve"}],
      "standalone": [{"vm": "nat", "host": "h1", "effect": "down until it is healed on h2"}],
      "lose_act": ["fw"], "lose_sby": [], "act_down_until_promotion": ["fw"], "healed_from_reserve": ["fw"], "lost": []},
    "notes": []})J");
  const std::string out = RenderDepends(r);
  EXPECT_TRUE(Has(out, "hosts with rack=r1: h1\n")) << out;
  EXPECT_TRUE(Has(out, "nat   -      -     h1    runs there (vCPUs on pCPUs 5)")) << out;
  EXPECT_TRUE(Has(out, "within the guarantee (k = 1)")) << out;
  EXPECT_TRUE(Has(out, "fw-a (ACT) -> h3 1-4")) << out;
  EXPECT_TRUE(Has(out, "standalone nat on h1: down until it is healed on h2")) << out;
  EXPECT_TRUE(Has(out, "service down until a SBY is promoted: fw")) << out;
  EXPECT_FALSE(Has(out, "groups losing a SBY")) << out;

  const json none = {{"hardware", {{"description", "host h1 pCPU 7"}}}, {"vms", json::array()}, {"if_it_fails", json::object()}};
  EXPECT_TRUE(Has(RenderDepends(none), "no VM depends on it")) << RenderDepends(none);
}

TEST(LinksViews, Defrag) {
  const json p = json::parse(R"J({"apply": false, "max_moves": 16,
    "moves": [{"vm": "s1", "group": null, "from": {"host": "h2", "pcpus": "36"}, "to": {"host": "h2", "pcpus": "101"},
               "frees": ["h2 core 4 of socket 1 (pCPUs 36,100)"], "takes": []}],
    "hosts": [{"host": "h2", "before": {"stranded_pcpus": 3, "free_cores": 60, "free_nodes": 1, "reserve_pcpus": 8},
                             "after": {"stranded_pcpus": 1, "free_cores": 61, "free_nodes": 1, "reserve_pcpus": 8}}],
    "total": {"before": {"stranded_pcpus": 3, "free_cores": 60, "free_nodes": 1, "reserve_pcpus": 8},
              "after": {"stranded_pcpus": 1, "free_cores": 61, "free_nodes": 1, "reserve_pcpus": 8}},
    "notes": ["move of x dropped: why"]})J");
  const std::string out = RenderDefrag(p);
  EXPECT_TRUE(Has(out, "defragmentation plan: 1 move (at most 16; a dry run: nothing was changed)")) << out;
  EXPECT_TRUE(Has(out, "s1  -      h2 36  h2 101  h2 core 4 of socket 1 (pCPUs 36,100)  -")) << out;
  EXPECT_TRUE(Has(out, "h2     3 -> 1          60 -> 61    1           8")) << out;
  EXPECT_TRUE(Has(out, "note: move of x dropped: why")) << out;
}

}  // namespace
}  // namespace corepin
