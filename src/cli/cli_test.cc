// The `corepin` command's renderers and YAML conversion, on hand-written API replies.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/client.h"
#include "cli/core_map.h"
#include "cli/table.h"
#include "cli/views.h"
#include "cli/yaml_json.h"

namespace corepin {
namespace {

using nlohmann::json;

json Pcpu(int id, const std::string& use, const std::string& owner = "", const std::string& detail = "") {
  return {{"id", id}, {"use", use}, {"owner", owner}, {"detail", detail}};
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The smallest real host: 2 pCPUs, one housekeeping, one given to a VM.
json TwoPcpuHost() {
  return json::parse(R"({
    "name": "local", "uri": "qemu:///system", "connected": true, "state": "active", "suspected": false, "error": "",
    "housekeeping": "0", "allocatable": "1", "physnets": {}, "labels": {}, "warnings": [],
    "topology": {"sockets": 1, "threads_per_core": 1,
                 "nodes": [{"id": 0, "pcpus": "0-1", "free_pcpus": "",
                            "memory_free_mib": {"4K": 22000, "2M": 0, "1G": 0}}],
                 "nics": [{"name": "eth0", "node": 0}]},
    "cores": [{"socket": 0, "node": 0, "core": 0, "pcpus": [{"id": 0, "use": "housekeeping", "owner": "", "detail": ""}]},
              {"socket": 0, "node": 0, "core": 1, "pcpus": [{"id": 1, "use": "vcpu", "owner": "fw1", "detail": "vcpu 0 dedicated"}]}],
    "vms": ["fw1"], "groups": []})");
}

TEST(CoreMap, TwoPcpuHost) {
  EXPECT_EQ(RenderCoreMap(TwoPcpuHost()),
            "host local  qemu:///system  connected  active\n"
            "  1 socket, 1 NUMA node, 2 pCPUs, 1 thread per core\n"
            "  housekeeping 0   allocatable 1   free 0 pCPUs\n"
            "\n"
            "socket 0\n"
            "  node 0  pCPUs 0-1, free none\n"
            "          memory free: 4K 22000 MiB, 2M 0 MiB, 1G 0 MiB\n"
            "          NICs: eth0\n"
            "    core 0    0 HK\n"
            "    core 1    1 fw1:v0 dedicated\n"
            "\n"
            "HK housekeeping, . free, R held for healing (reserve), -- not allocatable,\n"
            "VM:vN POLICY vCPU N of VM, VM emu its emulator threads,\n"
            "grp G (VM xN) group G's shared pCPU, (sibling of X) SMT sibling kept empty for X\n");
}

TEST(CoreMap, EveryUseHasItsLabel) {
  EXPECT_EQ(PcpuLabel(Pcpu(0, "housekeeping")), "HK");
  EXPECT_EQ(PcpuLabel(Pcpu(1, "free")), ".");
  EXPECT_EQ(PcpuLabel(Pcpu(2, "vcpu", "fw1", "vcpu 3 pinned:2")), "fw1:v3 pinned:2");
  EXPECT_EQ(PcpuLabel(Pcpu(3, "emulator", "fw1")), "fw1 emu");
  EXPECT_EQ(PcpuLabel(Pcpu(4, "group", "ctl", "fw1 x2, nat1 x1")), "grp ctl (fw1 x2, nat1 x1)");
  EXPECT_EQ(PcpuLabel(Pcpu(5, "sibling", "fw1", "sibling kept empty, smt isolate")), "(sibling of fw1)");
  EXPECT_EQ(PcpuLabel(Pcpu(6, "sibling", "group:ctl", "sibling kept empty for group ctl")), "(sibling of grp ctl)");
  EXPECT_EQ(PcpuLabel(Pcpu(7, "not-allocatable")), "--");
  EXPECT_EQ(PcpuLabel(Pcpu(8, "reserve")), "R");
}

// pCPUs held for healing: R in the map, their list in the header, apart from the node's free ones.
TEST(CoreMap, ReservePcpusAreShownApart) {
  json h = TwoPcpuHost();
  h["allocatable"] = "1-3";
  h["topology"]["nodes"][0]["pcpus"] = "0-3";
  h["topology"]["nodes"][0]["free_pcpus"] = "2-3";
  h["cores"].push_back({{"socket", 0}, {"node", 0}, {"core", 2}, {"pcpus", {Pcpu(2, "reserve")}}});
  h["cores"].push_back({{"socket", 0}, {"node", 0}, {"core", 3}, {"pcpus", {Pcpu(3, "free")}}});
  h["reserve"] = {{"pcpus", "2"}};
  const std::string map = RenderCoreMap(h);
  EXPECT_NE(map.find("  housekeeping 0   allocatable 1-3   free 1 pCPUs\n"
                     "  healing reserve 2 (1 pCPUs held for VMs of failed hosts)\n"),
            std::string::npos)
      << map;
  EXPECT_NE(map.find("  node 0  pCPUs 0-3, free 3, reserve 2\n"), std::string::npos) << map;
  EXPECT_NE(map.find("    core 2    2 R\n"), std::string::npos) << map;
  EXPECT_NE(map.find("    core 3    3 .\n"), std::string::npos) << map;
  EXPECT_NE(map.find("R held for healing"), std::string::npos) << map;
  EXPECT_EQ(RenderCoreMap(TwoPcpuHost()).find("healing reserve"), std::string::npos);
}

// SMT host, two nodes: siblings on one line, nodes under their socket, within 80 columns.
TEST(CoreMap, SmtHostGroupsSiblingsPerCore) {
  json h = TwoPcpuHost();
  h["name"] = "h2";
  h["housekeeping"] = "0,8";
  h["topology"] = {{"sockets", 2}, {"threads_per_core", 2},
                   {"nodes", {{{"id", 0}, {"pcpus", "0-3,8-11"}, {"free_pcpus", "11"}},
                              {{"id", 1}, {"pcpus", "4-7,12-15"}, {"free_pcpus", "4-7,12-15"}}}},
                   {"nics", json::array()}};
  h["cores"] = json::array();
  auto core = [&](int socket, int node, int c, json a, json b) {
    h["cores"].push_back({{"socket", socket}, {"node", node}, {"core", c}, {"pcpus", {a, b}}});
  };
  core(0, 0, 0, Pcpu(0, "housekeeping"), Pcpu(8, "housekeeping"));
  core(0, 0, 1, Pcpu(1, "vcpu", "fw1", "vcpu 0 dedicated"), Pcpu(9, "sibling", "fw1"));
  core(0, 0, 2, Pcpu(2, "group", "ctl", "fw1 x2"), Pcpu(10, "sibling", "group:ctl"));
  core(0, 0, 3, Pcpu(3, "emulator", "fw1"), Pcpu(11, "free"));
  for (int c = 0; c < 4; ++c) core(1, 1, c, Pcpu(4 + c, "free"), Pcpu(12 + c, "free"));
  const std::string map = RenderCoreMap(h);
  for (const auto& line : Lines(map)) EXPECT_LE(line.size(), 80u) << line;
  EXPECT_NE(map.find("2 sockets, 2 NUMA nodes, 16 pCPUs, 2 threads per core"), std::string::npos) << map;
  EXPECT_NE(map.find("core 0     0 HK                     8 HK\n"), std::string::npos) << map;
  EXPECT_NE(map.find("core 1     1 fw1:v0 dedicated       9 (sibling of fw1)\n"), std::string::npos) << map;
  EXPECT_NE(map.find("core 2     2 grp ctl (fw1 x2)      10 (sibling of grp ctl)\n"), std::string::npos) << map;
  EXPECT_NE(map.find("core 3     3 fw1 emu               11 .\n"), std::string::npos) << map;
  EXPECT_LT(map.find("socket 0"), map.find("node 0"));
  EXPECT_LT(map.find("node 0"), map.find("socket 1"));
  EXPECT_LT(map.find("socket 1"), map.find("node 1"));
}

// 2 sockets x 32 cores x 2 threads: one line per core, every line within 80 columns, even
// with long names.
TEST(CoreMap, LargeHostStaysOneLinePerCore) {
  json h = {{"name", "big"}, {"uri", "test:///big.xml"}, {"connected", true}, {"housekeeping", "0,64"},
            {"allocatable", "1-63,65-127"}};
  h["topology"] = {{"sockets", 2}, {"threads_per_core", 2}, {"nodes", json::array()}};
  for (int n = 0; n < 2; ++n) h["topology"]["nodes"].push_back({{"id", n}, {"pcpus", "..."}, {"free_pcpus", ""}});
  h["cores"] = json::array();
  for (int c = 0; c < 64; ++c) {
    const int socket = c / 32;
    json a = c == 0 ? Pcpu(0, "housekeeping") : Pcpu(c, "vcpu", "a-very-long-firewall-name-" + std::to_string(c), "vcpu 0 dedicated");
    json b = c == 0 ? Pcpu(64, "housekeeping") : Pcpu(64 + c, "free");
    h["cores"].push_back({{"socket", socket}, {"node", socket}, {"core", c % 32}, {"pcpus", {a, b}}});
  }
  const auto lines = Lines(RenderCoreMap(h));
  int core_lines = 0;
  for (const auto& line : lines) {
    EXPECT_LE(line.size(), 80u) << line;
    core_lines += line.rfind("    core ", 0) == 0;
  }
  EXPECT_EQ(core_lines, 64);
  EXPECT_LT(lines.size(), 64u + 20u);
}

TEST(CoreMap, DisconnectedHostSaysSoAndWhy) {
  json h = TwoPcpuHost();
  h["connected"] = false;
  h["error"] = "cannot connect to qemu:///system";
  const std::string map = RenderCoreMap(h);
  EXPECT_NE(map.find("NOT CONNECTED"), std::string::npos);
  EXPECT_NE(map.find("error: cannot connect to qemu:///system"), std::string::npos);
}

TEST(Views, NoFitErrorListsEveryHostAndNode) {
  json body = {{"error", "no host can take this VM\nhost local node0: 1 free pCPU, needs 2"},
               {"rejections",
                {{{"host", "local"}, {"reasons", json::array()}, {"nodes", {{{"node", 0}, {"reason", "1 free pCPU, needs 2"}}}}},
                 {{"host", "h2"}, {"reasons", {"pinned:0: pCPU 0 is housekeeping"}}, {"nodes", json::array()}}}}};
  EXPECT_EQ(RenderApiError(422, body),
            "no host can take this VM\n"
            "  host local node0: 1 free pCPU, needs 2\n"
            "  host h2: pinned:0: pCPU 0 is housekeeping");
  EXPECT_EQ(RenderApiError(404, json{{"error", "VM x does not exist"}}), "VM x does not exist");
  EXPECT_EQ(RenderApiError(502, json("Bad Gateway")), "HTTP 502: \"Bad Gateway\"");
}

TEST(Views, VmShowsIntendedAndActualAndMarksDifferences) {
  json vm = json::parse(R"({
    "name": "fw1", "host": "local", "state": "running",
    "spec": {"name": "fw1", "vcpus": 2, "smt": "prefer", "numa": "single", "memory_mib": 1024, "page_size": "4K"},
    "vcpus": [{"vcpu": 0, "policy": "dedicated", "pcpu": 1, "core": 1, "node": 0, "socket": 0, "libvirt": "1", "proc": "1"},
              {"vcpu": 1, "policy": "dedicated", "pcpu": 2, "core": 2, "node": 0, "socket": 0, "libvirt": "2", "proc": "0-3"}],
    "emulator": {"policy": "housekeeping", "intended": "0", "libvirt": "0"},
    "pinning_verified": false, "differences": ["/proc: vCPU 1 thread may run on 0-3, expected 2"]})");
  const std::string text = RenderVm(vm);
  EXPECT_NE(text.find("VM fw1 on host local: running"), std::string::npos) << text;
  EXPECT_NE(text.find("DIFFERS"), std::string::npos) << text;
  const auto lines = Lines(text);
  auto line_of = [&](const std::string& start) {
    for (const auto& l : lines)
      if (l.rfind(start, 0) == 0) return l;
    return std::string("<none>");
  };
  EXPECT_EQ(line_of("  0 "), "  0     dedicated     1     1     0     0       1        1");
  EXPECT_EQ(line_of("  1 "), "  1     dedicated     2     2     0     0       2        0-3   !");
  EXPECT_EQ(line_of("  emu "), "  emu   housekeeping  0                         0        -");
  EXPECT_NE(text.find("/proc: vCPU 1 thread may run on 0-3, expected 2"), std::string::npos);

  vm.erase("pinning_verified");
  EXPECT_NE(RenderVm(vm).find("not verified"), std::string::npos);
}

TEST(Views, RepinShowsOldNewAndWhatTheKernelSays) {
  json r = json::parse(R"({
    "name": "fw1", "host": "local", "changed": true, "pinning_verified": true,
    "old": {"vcpus": [1, 2], "emulator": "0"}, "new": {"vcpus": [5, 2], "emulator": "0"},
    "before": {"vcpus": [{"libvirt": "1", "proc": "1"}, {"libvirt": "2", "proc": "2"}], "emulator": {"proc": "0"}},
    "actual": {"vcpus": [{"libvirt": "5", "proc": "5"}, {"libvirt": "2", "proc": "2"}], "emulator": {"libvirt": "0", "proc": "0"}}})");
  const std::string text = RenderRepin(r);
  const auto lines = Lines(text);
  ASSERT_GE(lines.size(), 5u) << text;
  EXPECT_EQ(lines[0], "VM fw1 on host local: re-pinned live, verified (intended = actual)");
  EXPECT_EQ(lines[1], "  VCPU  OLD  NEW  PROC BEFORE  LIBVIRT  PROC");
  EXPECT_EQ(lines[2], "  0     1    5    1            5        5");
  EXPECT_EQ(lines[4], "  emu   0    0    0            0        0");
  r["changed"] = false;
  r["pinning_verified"] = false;
  EXPECT_NE(RenderRepin(r).find("intended pinning unchanged, re-applied live, NOT verified"), std::string::npos);
}

TEST(Views, ListsAndEmptyLists) {
  EXPECT_NE(RenderHostList(json::array()).find("no hosts"), std::string::npos);
  EXPECT_NE(RenderVmList(json::array()).find("no VMs"), std::string::npos);
  // FREE, RESERVE and HELD EMPTY are the API's counts as they are: one meaning per word (issue 24).
  EXPECT_EQ(RenderHostList(json::parse(R"([{"name":"local","uri":"qemu:///system","connected":true,"state":"active",
                                            "suspected":false,"pcpus":2,"allocatable":1,"free":0,"reserve":0,"held_empty":0,
                                            "vms":1,"nodes":1,"labels":{}},
                                           {"name":"h2","uri":"fixture:2s32c-smt2#h2","connected":true,"state":"drained",
                                            "suspected":true,"pcpus":128,"allocatable":126,"free":120,"reserve":4,
                                            "held_empty":2,"vms":0,"nodes":2,"labels":{"power":"a","rack":"r1"}}])")),
            "NAME   STATE                URI                    CONNECTED  PCPUS  ALLOCATABLE  FREE  RESERVE  HELD EMPTY  VMS  NODES  LABELS\n"
            "local  active               qemu:///system         yes        2      1            0     0        0           1    1      -\n"
            "h2     drained (suspected)  fixture:2s32c-smt2#h2  yes        128    126          120   4        2           0    2      power=a,rack=r1\n");
  EXPECT_EQ(RenderReconcile(json{{"checked_hosts", 2}, {"differences", json::array()}}), "checked 2 hosts: no differences\n");
  EXPECT_NE(RenderReconcile(json::parse(R"({"checked_hosts":1,"differences":[{"host":"h","vm":"a","kind":"missing-domain",
            "message":"domain a is gone"}]})")).find("missing-domain  domain a is gone"), std::string::npos);
}

// The explanation of a 1+1 placement: a member search with its candidates, and a healing
// target search with its rejections (per host and NUMA node).
json Explanation() {
  return json::parse(R"J({
    "notes": ["reserve grew by 4 pCPUs on h4"],
    "searches": [
      {"vm": "fw-act1", "purpose": "place act", "hosts_total": 3, "hosts_considered": 3, "hosts_feasible": 2,
       "rejected": {"pCPUs": 1}, "chosen": "h1",
       "examples": [{"host": "h3", "reasons": [], "nodes": [{"node": 0, "reason": "2 free pCPUs, needs 4"},
                                                           {"node": 1, "reason": "0 free pCPUs, needs 4"}]}],
       "top": [{"host": "h1", "score": 0.5317460317460317, "parts": {"nic": 0.0, "pack": 0.031746031746031744, "spread": 1.0}},
               {"host": "h2", "score": 0.25, "parts": {"nic": 0.0, "pack": 0.5, "spread": 0.0}}],
       "summary": "fw-act1 (place act): 3 hosts, 3 considered, 2 feasible; rejected: 1 pCPUs; chose h1"},
      {"vm": "fw-act1", "purpose": "healing target if h1 fails", "hosts_total": 3, "hosts_considered": 3, "hosts_feasible": 1,
       "rejected": {"host failed (in the scenario)": 1, "pinned pCPU": 1}, "chosen": "h2",
       "examples": [{"host": "h3", "reasons": ["pinned:5: pCPU 5 is taken by nat1"], "nodes": []}],
       "top": [{"host": "h2", "score": -4.0, "parts": {"free_pcpus_left": 122.0, "new_reserve_pcpus": 4.0}}],
       "summary": "fw-act1 (healing target if h1 fails): 3 hosts, 3 considered, 1 feasible; rejected: 1 host failed (in the scenario), 1 pinned pCPU; chose h2"}
    ]})J");
}

TEST(Explain, SummaryCandidatesAndRejectionsPerSearch) {
  EXPECT_EQ(RenderExplanation(Explanation()),
            "fw-act1 (place act): 3 hosts, 3 considered, 2 feasible; rejected: 1 pCPUs; chose h1\n"
            "    HOST  SCORE  NIC  PACK   SPREAD\n"
            "    h1 *  0.532  0    0.032  1\n"
            "    h2    0.25   0    0.5    0\n"
            "    rejected: host h3 node0: 2 free pCPUs, needs 4\n"
            "    rejected: host h3 node1: 0 free pCPUs, needs 4\n"
            "fw-act1 (healing target if h1 fails): 3 hosts, 3 considered, 1 feasible; rejected: 1 host failed (in the scenario), "
            "1 pinned pCPU; chose h2\n"
            "    HOST  SCORE  FREE_PCPUS_LEFT  NEW_RESERVE_PCPUS\n"
            "    h2 *  -4     122              4\n"
            "    rejected: host h3: pinned:5: pCPU 5 is taken by nat1\n"
            "note: reserve grew by 4 pCPUs on h4\n");
  EXPECT_EQ(RenderExplanation(json::object()), "no explanation recorded\n");
}

// A no-fit 422 that carries an explanation: the refusal, then each search (its examples are
// the rejections, so they are not listed twice).
TEST(Explain, NoFitErrorPrintsTheExplanation) {
  json search = Explanation()["searches"][0];
  search["chosen"] = "";
  search["hosts_feasible"] = 0;
  search["top"] = json::array();
  search["summary"] = "big (place act): 3 hosts, 3 considered, 0 feasible; rejected: 3 pCPUs; none chosen";
  json body = {{"error", "group big: no host for member big (act, 100 vCPUs): ...\nhost h3 node0: 2 free pCPUs, needs 4"},
               {"rejections", json::array({search["examples"][0]})},
               {"explanation", {{"refusal", "group big: no host for member big"}, {"notes", json::array()}, {"searches", {search}}}}};
  EXPECT_EQ(RenderApiError(422, body),
            "group big: no host for member big (act, 100 vCPUs): ...\n"
            "  big (place act): 3 hosts, 3 considered, 0 feasible; rejected: 3 pCPUs; none chosen\n"
            "      rejected: host h3 node0: 2 free pCPUs, needs 4\n"
            "      rejected: host h3 node1: 0 free pCPUs, needs 4");
  // A refusal with no search (a failure-domain label no host has) is the message alone.
  json label = {{"error", "group p: failure domain power: no host has label power (labels in use: rack)"},
                {"rejections", json::array()},
                {"explanation", {{"refusal", "group p: failure domain power: ..."}, {"notes", json::array()}, {"searches", json::array()}}}};
  EXPECT_EQ(RenderApiError(422, label), "group p: failure domain power: no host has label power (labels in use: rack)");
}

// GET /v1/groups/{name}: members with role, host and pCPUs; service; healing targets.
TEST(Groups, ShowListsMembersServiceAndHealingTargets) {
  json g = json::parse(R"({
    "name": "fw", "state": "running", "domains": ["rack"], "protect": true,
    "service": {"vlan": 100, "parking_vlan": 4094, "interface": "svc"},
    "vm": {"name": "fw", "vcpus": 4, "smt": "prefer", "numa": "single", "memory_mib": 1024, "page_size": "4K"},
    "members": [{"vm": "fw-act1", "role": "act", "host": "h1", "pcpus": "1-2,65-66"},
                {"vm": "fw-sby1", "role": "sby", "host": "h3", "pcpus": "3-4,67-68"}],
    "heals": [{"if_failed": ["h1"], "target": {"vm": "fw-act1", "from": "h1", "host": "h2", "pcpus": "1-2,65-66", "seq": 2,
                                               "assignment": {"host": "h2", "vcpu_pcpus": [1, 65, 2, 66]}}},
              {"if_failed": ["h3"], "target": {"vm": "fw-sby1", "from": "h3", "host": "h4", "pcpus": "1-2,65-66", "seq": 1,
                                               "assignment": {"host": "h4", "vcpu_pcpus": [1, 65, 2, 66]}}}]})");
  EXPECT_EQ(RenderGroup(g),
            "group fw: running\n"
            "  members: 4 vCPUs, smt prefer, numa single, memory 1024 MiB (4K pages)\n"
            "  failure domains: host, rack\n"
            "  healing reserve: protected\n"
            "  service: VLAN 100 on interface svc of the ACT; SBYs parked on VLAN 4094\n"
            "\n"
            "  VM       ROLE  HOST  PCPUS\n"
            "  fw-act1  ACT   h1    1-2,65-66\n"
            "  fw-sby1  SBY   h3    3-4,67-68\n"
            "\n"
            "  healing targets (held in the reserve):\n"
            "  IF FAILED  VM       TO  PCPUS      BY VCPU\n"
            "  h1         fw-act1  h2  1-2,65-66  1,65,2,66\n"
            "  h3         fw-sby1  h4  1-2,65-66  1,65,2,66\n");

  // The reply of POST /v1/groups has the pCPUs and targets under "placement".
  json created = g;
  created.erase("heals");
  for (auto& m : created["members"]) m.erase("pcpus");
  created["service"] = nullptr;
  created["protect"] = false;
  created["domains"] = json::array();
  created["placement"] = json::parse(R"({"ok": true,
    "placed": [{"vm": "fw-act1", "role": "act", "host": "h1", "assignment": {"host": "h1", "vcpu_pcpus": [1, 65, 2, 66]}},
               {"vm": "fw-sby1", "role": "sby", "host": "h3", "assignment": {"host": "h3", "vcpu_pcpus": [3, 67, 4, 68]}}],
    "heals": [], "explanation": {"searches": [], "notes": []}})");
  const std::string text = RenderGroup(created);
  EXPECT_NE(text.find("  fw-act1  ACT   h1    1-2,65-66\n  fw-sby1  SBY   h3    3-4,67-68\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  failure domains: host only\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  healing reserve: opted out (no targets held)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  service: none"), std::string::npos) << text;
  EXPECT_EQ(text.find("healing targets"), std::string::npos) << text;
}

TEST(Groups, ListAndSwitchover) {
  EXPECT_NE(RenderGroupList(json::array()).find("no groups"), std::string::npos);
  EXPECT_EQ(RenderGroupList(json::parse(R"([{"name": "fw", "state": "running", "domains": ["rack", "power"], "protect": true,
      "service": {"vlan": 100, "parking_vlan": 4094, "interface": "svc"},
      "members": [{"vm": "fw-act1", "role": "act", "host": "h1"}, {"vm": "fw-sby1", "role": "sby", "host": "h3"}]}])")),
            "NAME  STATE    DOMAINS     PROTECTED  VLAN  MEMBERS\n"
            "fw    running  rack,power  yes        100   fw-act1 ACT on h1, fw-sby1 SBY on h3\n");
  EXPECT_EQ(RenderSwitchover(json::parse(R"({"name": "fw", "state": "running", "elapsed_ms": 3.0756,
      "switch": "1 port changed: br-h3/fw-sby1-svc: tag=4094 -> tag=100 service",
      "members": [{"vm": "fw-act1", "role": "sby", "host": "h1"}, {"vm": "fw-sby1", "role": "act", "host": "h3"}]})")),
            "group fw switched over in 3.1 ms\n"
            "  VM       ROLE  HOST\n"
            "  fw-act1  SBY   h1\n"
            "  fw-sby1  ACT   h3\n"
            "  switch: 1 port changed: br-h3/fw-sby1-svc: tag=4094 -> tag=100 service\n");
}

TEST(WhatIf, WithinTheGuaranteeEveryMoveIsExact) {
  json r = json::parse(R"({"failed": ["h1"], "k": 1, "within_guarantee": true, "lost": [], "searches": [],
    "moves": [{"vm": "fw-act1", "group": "fw", "role": "act", "from": "h1", "to": "h2", "vcpu_pcpus": [1, 65, 2, 66],
               "assignment": {"host": "h2", "vcpu_pcpus": [1, 65, 2, 66]}, "precomputed": true}]})");
  EXPECT_EQ(RenderWhatIf(r),
            "if h1 fails: 1 VM healed, 0 cannot be healed\n"
            "  within the guarantee (k = 1): every protected VM has a precomputed target\n"
            "\n"
            "  VM       GROUP  ROLE  FROM  TO  PCPUS      TARGET       BY VCPU\n"
            "  fw-act1  fw     ACT   h1    h2  1-2,65-66  precomputed  1,65,2,66\n");
  r["moves"] = json::array();
  EXPECT_NE(RenderWhatIf(r).find("nothing to heal"), std::string::npos);
}

// Beyond k: targets found now, a standalone VM (a group of one named after it), and a loss.
TEST(WhatIf, BeyondTheGuaranteeSaysWhatCannotBeHealedAndWhy) {
  json r = json::parse(R"({"failed": ["h1", "h3"], "k": 1, "within_guarantee": false,
    "moves": [{"vm": "fw-act1", "group": "fw", "role": "act", "from": "h1", "to": "h4", "vcpu_pcpus": [1, 65, 2, 66], "precomputed": false},
              {"vm": "solo", "group": "solo", "role": "act", "from": "h3", "to": "h2", "vcpu_pcpus": [3, 67], "precomputed": false}],
    "lost": [{"vm": "fw-sby1", "group": "fw", "role": "sby", "from": "h3",
              "reason": "no host left outside rack r2 and the group's other hosts"}],
    "searches": [{"summary": "fw-act1 (healing target if h1+h3 fail): 4 hosts, 1 considered, 1 feasible; chose h4"}]})");
  EXPECT_EQ(RenderWhatIf(r),
            "if h1, h3 fail: 2 VMs healed, 1 cannot be healed\n"
            "  beyond the guarantee: 2 hosts fail, the reserve covers k = 1; targets not precomputed were searched now in free "
            "capacity (best effort)\n"
            "\n"
            "  VM       GROUP  ROLE  FROM  TO  PCPUS      TARGET     BY VCPU\n"
            "  fw-act1  fw     ACT   h1    h4  1-2,65-66  found now  1,65,2,66\n"
            "  solo     -      -     h3    h2  3,67       found now  3,67\n"
            "\n"
            "  cannot be healed:\n"
            "  VM       GROUP  ROLE  FROM  WHY\n"
            "  fw-sby1  fw     SBY   h3    no host left outside rack r2 and the group's other hosts\n"
            "\n"
            "  searched now:\n"
            "    fw-act1 (healing target if h1+h3 fail): 4 hosts, 1 considered, 1 feasible; chose h4\n");
  // Within k, but a protected VM had no precomputed target: the reserve is degraded.
  r["failed"] = {"h1"};
  EXPECT_NE(RenderWhatIf(r).find("NOT within the guarantee (k = 1)"), std::string::npos) << RenderWhatIf(r);
}

TEST(Reserve, PerHostPcpusMemoryAndSlots) {
  json r = json::parse(R"({"k": 1, "scenarios": 2, "targets": 3, "reserved_pcpus": 9, "allocatable_pcpus": 504,
    "hosts": [{"host": "h2", "pcpus": "1-2,65-66", "pcpu_count": 4, "group_slots": {},
               "memory": [{"node": 0, "page_size": "4K", "mib": 1024}]},
              {"host": "h4", "pcpus": "1-2,5,65-66", "pcpu_count": 5, "group_slots": {"ctl": 2},
               "memory": [{"node": 0, "page_size": "4K", "mib": 1024}, {"node": 1, "page_size": "2M", "mib": 512}]}]})");
  EXPECT_EQ(RenderReserve(r),
            "healing reserve: k = 1 (any single host failure), 2 failure scenarios, 3 healing targets\n"
            "  9 of 504 allocatable pCPUs held for healing\n"
            "\n"
            "  HOST  PCPUS        COUNT  MEMORY                               GROUP SLOTS\n"
            "  h2    1-2,65-66    4      node0 1024 MiB 4K                    -\n"
            "  h4    1-2,5,65-66  5      node0 1024 MiB 4K, node1 512 MiB 2M  ctl x2\n");
  json empty = {{"k", 2}, {"scenarios", 0}, {"targets", 0}, {"reserved_pcpus", 0}, {"allocatable_pcpus", 0}, {"hosts", json::array()}};
  EXPECT_EQ(RenderReserve(empty),
            "healing reserve: k = 2 (any 2 simultaneous host failures), 0 failure scenarios, 0 healing targets\n"
            "  0 of 0 allocatable pCPUs held for healing\n"
            "  no host holds a reserve\n");
}

TEST(Table, PadsAllButTheLastColumn) {
  TextTable t({"A", "LONGER"});
  t.Add({"xyz", "1"});
  t.Add({"", ""});
  EXPECT_EQ(t.Render(), "A    LONGER\nxyz  1\n\n");
}

TEST(YamlToJson, KeepsTypes) {
  auto j = YamlToJson(R"(
name: fw1
vcpus: 4
memory_mib: 0x400
ratio: 1.5
quoted: "4"
single: '007'
enabled: true
nothing: ~
vcpu_policies: [dedicated, dedicated, "group:ctl", pinned:7]
nested:
  - a: 1
  - b: [1, 2]
huge: 123456789012345678901234567890
)");
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_EQ((*j)["vcpus"], 4);
  EXPECT_TRUE((*j)["vcpus"].is_number_integer());
  EXPECT_EQ((*j)["memory_mib"], 1024);
  EXPECT_EQ((*j)["ratio"], 1.5);
  EXPECT_EQ((*j)["quoted"], "4");
  EXPECT_EQ((*j)["single"], "007");
  EXPECT_EQ((*j)["enabled"], true);
  EXPECT_TRUE((*j)["nothing"].is_null());
  EXPECT_EQ((*j)["vcpu_policies"], json({"dedicated", "dedicated", "group:ctl", "pinned:7"}));
  EXPECT_EQ((*j)["nested"], json::parse(R"([{"a":1},{"b":[1,2]}])"));
  EXPECT_EQ((*j)["huge"], "123456789012345678901234567890");  // no silent rounding
}

TEST(YamlToJson, ErrorsNameTheLine) {
  auto j = YamlToJson("name: fw1\nvcpus: [1, 2\n");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().message.find("line "), std::string::npos) << j.error().message;
}

// Hostile spec files: each once crashed corepin or took seconds and gigabytes.
TEST(YamlToJson, AHugeNumberIsTextNotACrash) {
  auto j = YamlToJson("vcpus: " + std::string(60000, '7') + "\n");
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_TRUE((*j)["vcpus"].is_string());
  auto longer = YamlToJson("vcpus: " + std::string(100000, '7') + "\n");
  ASSERT_FALSE(longer.ok());
  EXPECT_NE(longer.error().message.find("longer than 65536"), std::string::npos) << longer.error().message;
  auto f = YamlToJson("x: 1." + std::string(50000, '5') + "e5\n");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE((*f)["x"].is_number());
}

TEST(YamlToJson, BillionLaughsIsRefused) {
  std::string text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int k = 0; k < 9; ++k) text += ", " + prev;
    text += "]\n";
  }
  auto j = YamlToJson(text);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().message.find("aliases"), std::string::npos) << j.error().message;
}

TEST(YamlToJson, DeepNestingIsRefused) {
  auto flow = YamlToJson("x: " + std::string(100000, '[') + std::string(100000, ']') + "\n");
  ASSERT_FALSE(flow.ok());
  EXPECT_NE(flow.error().message.find("nested deeper than 64"), std::string::npos) << flow.error().message;
  std::string block;
  for (int i = 0; i < 100; ++i) block += std::string(static_cast<size_t>(i), ' ') + "k:\n";
  auto b = YamlToJson(block);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("nested deeper than 64"), std::string::npos) << b.error().message;
  auto deep_json = SpecFileToJson("x.json", std::string(100000, '[') + std::string(100000, ']'));
  ASSERT_FALSE(deep_json.ok());
  // Brackets inside quoted strings and comments are not nesting.
  auto quoted = YamlToJson("cmdline: \"" + std::string(100, '[') + "\"  # " + std::string(100, '{') + "\n");
  ASSERT_TRUE(quoted.ok()) << quoted.error().message;
}

TEST(SpecFile, JsonByExtensionElseYaml) {
  auto j = SpecFileToJson("fw1.json", R"({"name":"fw1","vcpus":2})");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["vcpus"], 2);
  auto bad = SpecFileToJson("fw1.json", R"({"name":)");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("not valid JSON"), std::string::npos);
  auto y = SpecFileToJson("fw1.yaml", "name: fw1\nvcpus: 2\n");
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(*y, json::parse(R"({"name":"fw1","vcpus":2})"));
}

TEST(Client, PathSegmentEscapes) {
  EXPECT_EQ(PathSegment("fw-1.a_b"), "fw-1.a_b");
  EXPECT_EQ(PathSegment("a/b c"), "a%2Fb%20c");
}

// No server listens on port 1: the message names the URL and says what to do.
TEST(Client, ConnectionRefusedNamesTheUrl) {
  ApiClient c("http://127.0.0.1:1");
  auto r = c.Get("/v1/hosts");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("http://127.0.0.1:1"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("corepind running"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace corepin

namespace corepin {
namespace {

// A healing that a second host joined: both hosts in the table, and a line saying why it joined.
TEST(Healings, ShowTheHostThatJoinedAndWhy) {
  const json heals = json::parse(R"J([{"name": "heal-h1-1000", "step": "done", "detail": {
      "hosts": ["h1", "h2"], "redundancy": "degraded",
      "joined": {"h2": "stopped answering while h1 was being healed (silent for 501 ms)"},
      "timeline": {"suspected": 1000, "fenced": 1277, "joined": 1190, "promoted": 1292, "recreated": 1312, "done": 1313}}}])J");
  const std::string out = RenderHealings(heals);
  EXPECT_NE(out.find("h1,h2"), std::string::npos) << out;
  EXPECT_NE(out.find("+277ms"), std::string::npos) << out;
  EXPECT_NE(out.find("heal-h1-1000: h2 joined: stopped answering while h1 was being healed"), std::string::npos) << out;
}

}  // namespace
}  // namespace corepin
