#include "topology/capabilities_parser.h"

#include <gtest/gtest.h>

#include "topology/fixtures.h"

namespace corepin {

TEST(Capabilities, TwoSocketSmt2Fixture) {
  auto t = LoadHostFixture(HostFixturePath("2s32c-smt2"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->pcpus.size(), 128u);
  EXPECT_EQ(t->nodes.size(), 2u);
  EXPECT_EQ(t->cores.size(), 64u);
  EXPECT_EQ(t->threads_per_core, 2);
  EXPECT_EQ(t->SocketCount(), 2);
  // Linux numbering: pCPU 0 and 64 are siblings on socket 0 core 0; 32 is socket 1.
  EXPECT_EQ(t->FindPcpu(0)->siblings.ToString(), "0,64");
  EXPECT_EQ(t->FindPcpu(32)->node, 1);
  EXPECT_EQ(t->FindPcpu(96)->node, 1);
  EXPECT_EQ(t->FindNode(1)->pcpus.ToString(), "32-63,96-127");
  EXPECT_EQ(t->FindNode(0)->PoolPages(2048), 16384u);
  EXPECT_EQ(t->FindNic("ens1f0")->node, 1);
  EXPECT_TRUE(t->SupportsDomainType("kvm"));
}

TEST(Capabilities, FourNodeFixture) {
  auto t = LoadHostFixture(HostFixturePath("4node-smt2"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->nodes.size(), 4u);
  EXPECT_EQ(t->pcpus.size(), 64u);
  for (const auto& n : t->nodes) EXPECT_EQ(n.pcpus.Size(), 16) << "node " << n.id;
  EXPECT_EQ(t->FindNic("ens3")->node, 3);
}

TEST(Capabilities, ThisMachineShape) {
  auto t = LoadHostFixture(HostFixturePath("1s2c-local"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->pcpus.size(), 2u);
  EXPECT_EQ(t->threads_per_core, 1);
  EXPECT_EQ(t->cores.size(), 2u);
}

TEST(Capabilities, TopologyXmlRoundTrips) {
  for (const char* name : {"2s32c-smt2", "4node-smt2", "1s2c-local"}) {
    auto t = LoadHostFixture(HostFixturePath(name));
    ASSERT_TRUE(t.ok());
    auto back = ParseHostFixture(HostTopologyToXml(*t));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(HostTopologyToXml(*back), HostTopologyToXml(*t)) << name;
    EXPECT_EQ(back->pcpus.size(), t->pcpus.size());
    EXPECT_EQ(back->cores.size(), t->cores.size());
    EXPECT_EQ(back->nics.size(), t->nics.size());
    EXPECT_EQ(back->domain_types, t->domain_types);
    EXPECT_EQ(back->FindNode(0)->memory_kib, t->FindNode(0)->memory_kib);
  }
}

TEST(Capabilities, RejectsBrokenXml) {
  EXPECT_FALSE(ParseCapabilities("<capabilities>").ok());
  EXPECT_FALSE(ParseCapabilities("<capabilities><host/></capabilities>").ok());
  auto r = ParseCapabilities("<capabilities><host><topology><cells num='1'><cell id='0'><cpus num='1'>"
                             "<cpu id='0' siblings='zz'/></cpus></cell></cells></topology></host></capabilities>");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("pCPU 0"), std::string::npos);
}

TEST(NodeDevices, NicNodeFromParentPci) {
  auto t = LoadHostFixture(HostFixturePath("2s32c-smt2"));
  ASSERT_TRUE(t.ok());
  t->nics.clear();
  NodeDeviceXml dev{
      "<device><name>net_ens9</name><parent>pci_0000_81_00_0</parent><capability type='net'>"
      "<interface>ens9</interface><address>52:54:00:aa:bb:cc</address></capability></device>",
      "<device><name>pci_0000_81_00_0</name><capability type='pci'><numa node='1'/></capability></device>"};
  ASSERT_TRUE(AddNics({dev}, &*t).ok());
  ASSERT_EQ(t->nics.size(), 1u);
  EXPECT_EQ(t->nics[0].name, "ens9");
  EXPECT_EQ(t->nics[0].node, 1);
}

}  // namespace corepin
