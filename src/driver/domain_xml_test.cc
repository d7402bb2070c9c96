#include "driver/domain_xml.h"

#include <gtest/gtest.h>

#include <pugixml.hpp>

#include "topology/fixtures.h"

namespace corepin {
namespace {

HostTopology Fixture(const std::string& name) {
  auto t = LoadHostFixture(HostFixturePath(name));
  EXPECT_TRUE(t.ok()) << t.error().message;
  return t.ok() ? *t : HostTopology{};
}

VmSpec Spec(const std::string& name, int vcpus, uint64_t memory_mib, uint64_t page_kib = 4) {
  VmSpec s;
  s.name = name;
  s.vcpus.resize(vcpus);
  s.memory_mib = memory_mib;
  s.page_kib = page_kib;
  return s;
}

// The built XML, parsed back.
struct Parsed {
  pugi::xml_document doc;
  pugi::xml_node dom;
  explicit Parsed(const std::string& xml) {
    auto r = doc.load_string(xml.c_str());
    EXPECT_TRUE(r) << r.description() << "\n" << xml;
    dom = doc.child("domain");
  }
  std::string Pin(int vcpu) const {
    return dom.child("cputune").find_child_by_attribute("vcpupin", "vcpu", std::to_string(vcpu).c_str())
        .attribute("cpuset").as_string();
  }
  std::string Topology() const {
    auto t = dom.child("cpu").child("topology");
    return std::string(t.attribute("sockets").as_string()) + "/" + t.attribute("dies").as_string() + "/" +
           t.attribute("cores").as_string() + "/" + t.attribute("threads").as_string();
  }
};

TEST(DomainXml, OneDedicatedVcpuOnThisMachineShape) {
  auto topo = Fixture("1s2c-local");
  Assignment a;
  a.vcpu_pcpus = {1};
  a.emulator = {0};
  a.memory_mib = {{0, 64}};
  const std::string json = R"({"vm":"a","note":"<&>\"]]>"})";
  Parsed p(BuildDomainXml(Spec("vm-a", 1, 64), a, topo, json));

  EXPECT_STREQ(p.dom.attribute("type").as_string(), "kvm");
  EXPECT_STREQ(p.dom.child_value("name"), "vm-a");
  EXPECT_STREQ(p.dom.child("vcpu").attribute("placement").as_string(), "static");
  EXPECT_STREQ(p.dom.child_value("vcpu"), "1");
  EXPECT_EQ(p.Pin(0), "1");
  EXPECT_STREQ(p.dom.child("cputune").child("emulatorpin").attribute("cpuset").as_string(), "0");
  auto mem = p.dom.child("numatune").child("memory");
  EXPECT_STREQ(mem.attribute("mode").as_string(), "strict");
  EXPECT_STREQ(mem.attribute("nodeset").as_string(), "0");
  EXPECT_FALSE(p.dom.child("numatune").child("memnode"));
  EXPECT_FALSE(p.dom.child("cpu").child("numa"));
  EXPECT_STREQ(p.dom.child("cpu").attribute("mode").as_string(), "host-passthrough");
  // AMD host (this machine): the emulated Intel MSR QEMU cannot set under nested KVM is off.
  auto feature = p.dom.child("cpu").find_child_by_attribute("feature", "name", "arch-capabilities");
  EXPECT_STREQ(feature.attribute("policy").as_string(), "disable");
  EXPECT_EQ(p.Topology(), "1/1/1/1");
  EXPECT_STREQ(p.dom.child_value("memory"), "64");
  EXPECT_STREQ(p.dom.child("memory").attribute("unit").as_string(), "MiB");
  EXPECT_FALSE(p.dom.child("memoryBacking"));
  EXPECT_STREQ(p.dom.child_value("on_crash"), "destroy");
  EXPECT_STREQ(p.dom.child("os").child("type").attribute("machine").as_string(), "pc");
  EXPECT_FALSE(p.dom.child("devices").child("disk"));

  auto meta = p.dom.child("metadata").child("corepin:vm");
  ASSERT_TRUE(meta);
  EXPECT_STREQ(meta.attribute("xmlns:corepin").as_string(), kCorepinMetadataUri);
  EXPECT_EQ(std::string(meta.text().get()), json);
  std::ostringstream element;
  meta.print(element);
  EXPECT_EQ(MetadataJsonFromElement(element.str()), json);
}

TEST(DomainXml, GroupSharesOnePcpuAndStaysFlat) {
  auto topo = Fixture("1s2c-local");
  Assignment a;
  a.vcpu_pcpus = {1, 1};
  a.emulator = {0};
  a.memory_mib = {{0, 64}};
  Parsed p(BuildDomainXml(Spec("vm-g", 2, 64), a, topo, "{}"));
  EXPECT_EQ(p.Pin(0), "1");
  EXPECT_EQ(p.Pin(1), "1");
  EXPECT_EQ(p.Topology(), "1/1/2/1");  // the same pCPU twice is not an SMT pair
}

TEST(DomainXml, SmtSiblingPairsBecomeThreads) {
  auto topo = Fixture("2s32c-smt2");
  Assignment a;
  a.vcpu_pcpus = {4, 68, 5, 69};  // (4,68) and (5,69) are siblings
  a.emulator = {0, 64};
  a.memory_mib = {{0, 4096}};
  Parsed p(BuildDomainXml(Spec("vm-s", 4, 4096), a, topo, "{}"));
  EXPECT_EQ(p.Topology(), "1/1/2/2");
  EXPECT_FALSE(p.dom.child("cpu").child("feature"));  // Intel host: full passthrough
  EXPECT_EQ(p.Pin(1), "68");
  EXPECT_STREQ(p.dom.child("cputune").child("emulatorpin").attribute("cpuset").as_string(), "0,64");
}

TEST(DomainXml, TwoNodeSpreadGetsGuestCellsAndMemnodes) {
  auto topo = Fixture("2s32c-smt2");
  Assignment a;
  // vCPUs 0-1 on node 0 (siblings 2,66), vCPUs 2-3 on node 1 (siblings 34,98).
  a.vcpu_pcpus = {2, 66, 34, 98};
  a.emulator = {0};
  a.memory_mib = {{0, 2048}, {1, 2048}};
  a.page_kib = 2048;
  Parsed p(BuildDomainXml(Spec("vm-spread", 4, 4096, 2048), a, topo, "{}"));

  for (int i = 0; i < 4; ++i) EXPECT_EQ(p.Pin(i), std::to_string(a.vcpu_pcpus[i]));
  EXPECT_STREQ(p.dom.child_value("memory"), "4096");
  auto numatune = p.dom.child("numatune");
  EXPECT_STREQ(numatune.child("memory").attribute("nodeset").as_string(), "0-1");
  int memnodes = 0;
  for (auto mn : numatune.children("memnode")) {
    EXPECT_STREQ(mn.attribute("mode").as_string(), "strict");
    EXPECT_EQ(mn.attribute("nodeset").as_int(), mn.attribute("cellid").as_int());
    ++memnodes;
  }
  EXPECT_EQ(memnodes, 2);

  auto numa = p.dom.child("cpu").child("numa");
  auto cell0 = numa.find_child_by_attribute("cell", "id", "0");
  auto cell1 = numa.find_child_by_attribute("cell", "id", "1");
  EXPECT_STREQ(cell0.attribute("cpus").as_string(), "0-1");
  EXPECT_STREQ(cell1.attribute("cpus").as_string(), "2-3");
  EXPECT_STREQ(cell1.attribute("memory").as_string(), "2048");
  EXPECT_STREQ(cell1.attribute("unit").as_string(), "MiB");
  EXPECT_EQ(p.Topology(), "2/1/1/2");  // one socket per cell, SMT pairs as threads

  auto page = p.dom.child("memoryBacking").child("hugepages").child("page");
  EXPECT_STREQ(page.attribute("size").as_string(), "2048");
  EXPECT_STREQ(page.attribute("unit").as_string(), "KiB");
}

TEST(DomainXml, UnevenOrInterleavedSpreadFallsBackToFlatTopology) {
  auto topo = Fixture("2s32c-smt2");
  Assignment uneven;
  uneven.vcpu_pcpus = {2, 3, 34};  // two vCPUs on node 0, one on node 1
  uneven.emulator = {0};
  uneven.memory_mib = {{0, 1024}, {1, 1024}};
  uneven.page_kib = 1048576;
  Parsed p(BuildDomainXml(Spec("vm-u", 3, 2048, 1048576), uneven, topo, "{}"));
  EXPECT_EQ(p.Topology(), "1/1/3/1");
  EXPECT_STREQ(p.dom.child("cpu").child("numa").find_child_by_attribute("cell", "id", "1").attribute("cpus").as_string(),
               "2");
  EXPECT_STREQ(p.dom.child("memoryBacking").child("hugepages").child("page").attribute("size").as_string(), "1048576");

  Assignment interleaved;
  interleaved.vcpu_pcpus = {2, 34, 3, 35};  // cells would be vCPUs {0,2} and {1,3}
  interleaved.emulator = {0};
  interleaved.memory_mib = {{0, 1024}, {1, 1024}};
  Parsed q(BuildDomainXml(Spec("vm-i", 4, 2048), interleaved, topo, "{}"));
  EXPECT_EQ(q.Topology(), "1/1/4/1");
  EXPECT_STREQ(q.dom.child("cpu").child("numa").find_child_by_attribute("cell", "id", "0").attribute("cpus").as_string(),
               "0,2");
}

TEST(DomainXml, QemuTcgWhenHostHasNoKvm) {
  auto topo = Fixture("1s2c-local");
  topo.domain_types = {"qemu"};
  Assignment a;
  a.vcpu_pcpus = {1};
  a.emulator = {0};
  a.memory_mib = {{0, 64}};
  Parsed p(BuildDomainXml(Spec("vm-t", 1, 64), a, topo, "{}"));
  EXPECT_STREQ(p.dom.attribute("type").as_string(), "qemu");
  EXPECT_FALSE(p.dom.child("cpu").attribute("mode"));
  EXPECT_EQ(p.Topology(), "1/1/1/1");
}

TEST(DomainXml, MetadataFromCdataElement) {
  EXPECT_EQ(MetadataJsonFromElement(
                R"(<corepin:vm xmlns:corepin="https://corepin.dev/xmlns/vm/1"><![CDATA[{"a":"<b>"}]]></corepin:vm>)"),
            R"({"a":"<b>"})");
  EXPECT_EQ(MetadataJsonFromElement("<not xml"), "");
}

}  // namespace
}  // namespace corepin
