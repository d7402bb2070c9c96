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
    "name": "local", "uri": "qemu:///system", "connected": true, "error": "",
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
            "host local  qemu:///system  connected\n"
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
            "HK housekeeping, . free, -- not allocatable, VM:vN POLICY vCPU N of VM,\n"
            "VM emu its emulator threads, grp G (VM xN) group G's shared pCPU,\n"
            "(sibling of X) SMT sibling kept empty for X\n");
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
  json body = {{"error", "no host can take this VM\nhost local node0: 1 free pCPUs, needs 2"},
               {"rejections",
                {{{"host", "local"}, {"reasons", json::array()}, {"nodes", {{{"node", 0}, {"reason", "1 free pCPUs, needs 2"}}}}},
                 {{"host", "h2"}, {"reasons", {"pinned:0: pCPU 0 is housekeeping"}}, {"nodes", json::array()}}}}};
  EXPECT_EQ(RenderApiError(422, body),
            "no host can take this VM\n"
            "  host local node0: 1 free pCPUs, needs 2\n"
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

TEST(Views, ListsAndEmptyLists) {
  EXPECT_NE(RenderHostList(json::array()).find("no hosts"), std::string::npos);
  EXPECT_NE(RenderVmList(json::array()).find("no VMs"), std::string::npos);
  EXPECT_EQ(RenderHostList(json::parse(R"([{"name":"local","uri":"qemu:///system","connected":true,"pcpus":2,
                                            "allocatable":1,"free":0,"vms":1,"nodes":1}])")),
            "NAME   URI             CONNECTED  PCPUS  ALLOCATABLE  FREE  VMS  NODES\n"
            "local  qemu:///system  yes        2      1            0     1    1\n");
  EXPECT_EQ(RenderReconcile(json{{"checked_hosts", 2}, {"differences", json::array()}}), "checked 2 hosts: no differences\n");
  EXPECT_NE(RenderReconcile(json::parse(R"({"checked_hosts":1,"differences":[{"host":"h","vm":"a","kind":"missing-domain",
            "message":"domain a is gone"}]})")).find("missing-domain  domain a is gone"), std::string::npos);
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
