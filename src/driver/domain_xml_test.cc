#include "driver/domain_xml.h"

#include <gtest/gtest.h>

#include <pugixml.hpp>
#include <set>

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
  explicit Parsed(const Result<std::string>& xml) : Parsed(xml.ok() ? *xml : std::string()) {
    EXPECT_TRUE(xml.ok()) << xml.error().message;
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

// What a live re-pin leaves in a definition: new vcpupin/emulatorpin and metadata, the rest as it was.
TEST(DomainXml, RepinRewritesPinsAndMetadataOnly) {
  auto topo = Fixture("1s2c-local");
  Assignment a;
  a.vcpu_pcpus = {1, 1};
  a.emulator = {0};
  a.memory_mib = {{0, 64}};
  auto before = BuildDomainXml(Spec("vm-a", 2, 64), a, topo, R"({"vm":"a"})");
  ASSERT_TRUE(before.ok());
  const std::string json = R"({"vm":"a","assignment":"<new>"})";
  Parsed p(RepinDomainXml(*before, {CpuSet{0}, CpuSet{0, 1}}, CpuSet{1}, json));
  EXPECT_EQ(p.Pin(0), "0");
  EXPECT_EQ(p.Pin(1), "0-1");
  EXPECT_STREQ(p.dom.child("cputune").child("emulatorpin").attribute("cpuset").as_string(), "1");
  EXPECT_EQ(std::string(p.dom.child("metadata").child("corepin:vm").text().get()), json);
  EXPECT_STREQ(p.dom.child_value("memory"), "64");
  // The element virDomainSetMetadata takes, and its round trip.
  EXPECT_EQ(MetadataElement(json), R"(<vm>{"vm":"a","assignment":"&lt;new&gt;"}</vm>)");
  EXPECT_EQ(MetadataJsonFromElement(MetadataElement(json)), json);
  EXPECT_FALSE(RepinDomainXml("<domain>", {}, {}, "{}").ok());
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

// The lab guest's shape: a kernel to boot with {name} and {role} in its cmdline, one NIC on an
// OVS bridge with offloads off, TCG forced on a host that has kvm.
VmSpec GuestSpec() {
  VmSpec s = Spec("vm1", 1, 128);
  s.image = VmImage{"/srv/guest/vmlinux", "/srv/guest/initrd.img",
                    "console=ttyS0 corepin.name={name} corepin.role={role} corepin.addr=198.18.0.10/24 n2={name}"};
  s.interfaces = {{"svc", "52:54:00:12:34:56"}, {"mgmt", ""}};
  return s;
}

Assignment OneVcpu() {
  Assignment a;
  a.vcpu_pcpus = {1};
  a.emulator = {0};
  a.memory_mib = {{0, 128}};
  return a;
}

DomainHostOptions LabOptions() {
  DomainHostOptions o;
  o.bridge = "lab-h1";
  o.disable_offload = true;
  o.domain_type = "qemu";
  return o;
}

TEST(DomainXml, ImageBootsTheKernelWithPlaceholdersFilledIn) {
  auto topo = Fixture("1s2c-local");  // lists kvm
  Parsed p(BuildDomainXml(GuestSpec(), OneVcpu(), topo, "{}", LabOptions(), "SBY"));
  auto os = p.dom.child("os");
  EXPECT_STREQ(os.child("type").child_value(), "hvm");
  EXPECT_STREQ(os.child_value("kernel"), "/srv/guest/vmlinux");
  EXPECT_STREQ(os.child_value("initrd"), "/srv/guest/initrd.img");
  EXPECT_STREQ(os.child_value("cmdline"), "console=ttyS0 corepin.name=vm1 corepin.role=SBY corepin.addr=198.18.0.10/24 n2=vm1");
  EXPECT_FALSE(os.child("boot"));
  EXPECT_STREQ(p.dom.child_value("on_reboot"), "destroy");
  EXPECT_STREQ(p.dom.child_value("on_crash"), "destroy");
  // domain_type "qemu" wins over the host's kvm; TCG keeps QEMU's CPU model.
  EXPECT_STREQ(p.dom.attribute("type").as_string(), "qemu");
  EXPECT_FALSE(p.dom.child("cpu").attribute("mode"));
  EXPECT_EQ(p.Pin(0), "1");
  // Serial console, logged on the host.
  auto serial = p.dom.child("devices").child("serial");
  EXPECT_STREQ(serial.attribute("type").as_string(), "pty");
  EXPECT_STREQ(serial.child("log").attribute("file").as_string(), "/var/log/libvirt/qemu/vm1.console");
  EXPECT_STREQ(serial.child("log").attribute("append").as_string(), "off");
  EXPECT_EQ(serial.child("target").attribute("port").as_int(-1), 0);
  auto console = p.dom.child("devices").child("console");
  EXPECT_STREQ(console.attribute("type").as_string(), "pty");
  EXPECT_STREQ(console.child("target").attribute("type").as_string(), "serial");
  EXPECT_FALSE(p.dom.child("devices").child("disk"));

  // Outside a group the role is empty.
  Parsed q(BuildDomainXml(GuestSpec(), OneVcpu(), topo, "{}", LabOptions(), ""));
  EXPECT_STREQ(q.dom.child("os").child_value("cmdline"),
               "console=ttyS0 corepin.name=vm1 corepin.role= corepin.addr=198.18.0.10/24 n2=vm1");

  // Kernel only: no <initrd>, no <cmdline>.
  VmSpec bare = Spec("vm2", 1, 128);
  bare.image = VmImage{"/k", "", ""};
  Parsed r(BuildDomainXml(bare, OneVcpu(), topo, "{}"));
  EXPECT_STREQ(r.dom.child("os").child_value("kernel"), "/k");
  EXPECT_FALSE(r.dom.child("os").child("initrd"));
  EXPECT_FALSE(r.dom.child("os").child("cmdline"));
  EXPECT_STREQ(r.dom.attribute("type").as_string(), "kvm");  // default: kvm when listed
}

TEST(DomainXml, WithoutImageNoKernelAndRebootRestarts) {
  auto topo = Fixture("1s2c-local");
  Parsed p(BuildDomainXml(Spec("vm-a", 1, 64), OneVcpu(), topo, "{}"));
  EXPECT_FALSE(p.dom.child("os").child("kernel"));
  EXPECT_FALSE(p.dom.child("os").child("cmdline"));
  EXPECT_STREQ(p.dom.child_value("on_reboot"), "restart");
  EXPECT_FALSE(p.dom.child("devices").child("serial").child("log"));
  EXPECT_FALSE(p.dom.child("devices").child("interface"));
}

TEST(DomainXml, EachInterfaceIsAVirtioNicOnTheBridge) {
  auto topo = Fixture("1s2c-local");
  const VmSpec spec = GuestSpec();
  Parsed p(BuildDomainXml(spec, OneVcpu(), topo, "{}", LabOptions(), "ACT"));
  std::vector<pugi::xml_node> nics;
  for (auto n : p.dom.child("devices").children("interface")) nics.push_back(n);
  ASSERT_EQ(nics.size(), 2u);
  for (size_t i = 0; i < nics.size(); ++i) {
    SCOPED_TRACE(spec.interfaces[i].name);
    auto n = nics[i];
    EXPECT_STREQ(n.attribute("type").as_string(), "bridge");
    EXPECT_STREQ(n.child("source").attribute("bridge").as_string(), "lab-h1");
    EXPECT_STREQ(n.child("virtualport").attribute("type").as_string(), "openvswitch");
    EXPECT_EQ(n.child("target").attribute("dev").as_string(), PortName("vm1", "", spec.interfaces[i].name));
    EXPECT_STREQ(n.child("model").attribute("type").as_string(), "virtio");
    EXPECT_EQ(n.child("alias").attribute("name").as_string(), "ua-" + spec.interfaces[i].name);
    auto driver = n.child("driver");
    EXPECT_STREQ(driver.attribute("name").as_string(), "qemu");
    auto host = driver.child("host");
    for (const char* a : {"csum", "gso", "tso4", "tso6", "ecn", "ufo"}) EXPECT_STREQ(host.attribute(a).as_string(), "off") << a;
    auto guest = driver.child("guest");
    for (const char* a : {"csum", "tso4", "tso6", "ecn", "ufo"}) EXPECT_STREQ(guest.attribute(a).as_string(), "off") << a;
    EXPECT_FALSE(guest.attribute("gso"));  // libvirt has no guest gso
  }
  EXPECT_STREQ(nics[0].child("mac").attribute("address").as_string(), "52:54:00:12:34:56");
  EXPECT_FALSE(nics[1].child("mac"));  // libvirt picks one
  EXPECT_EQ(std::string(nics[0].child("target").attribute("dev").as_string()).substr(10), "-svc");
  EXPECT_EQ(std::string(nics[1].child("target").attribute("dev").as_string()).substr(10), "-mgmt");

  // A Linux bridge, offloads left on.
  DomainHostOptions plain;
  plain.bridge = "br0";
  plain.virtualport_openvswitch = false;
  Parsed q(BuildDomainXml(spec, OneVcpu(), topo, "{}", plain, "ACT"));
  auto n = q.dom.child("devices").child("interface");
  EXPECT_STREQ(n.child("source").attribute("bridge").as_string(), "br0");
  EXPECT_FALSE(n.child("virtualport"));
  EXPECT_FALSE(n.child("driver"));
  EXPECT_STREQ(n.child("model").attribute("type").as_string(), "virtio");
}

// Live migration: the source's definition (as libvirt gives it, with device addresses) keeps
// its devices and addresses; the pinning, NUMA nodes, metadata and the NICs' host side are the
// destination's. The source's pCPU numbers must not survive anywhere in cputune.
TEST(DomainXml, MigrationTakesTheDestinationsHostPartsAndKeepsTheDevices) {
  auto topo = Fixture("2s32c-smt2");
  const VmSpec spec = GuestSpec();
  Assignment here = OneVcpu(), there = OneVcpu();
  here.vcpu_pcpus = {3};
  here.emulator = {0, 64};
  there.vcpu_pcpus = {40};  // node 1
  there.emulator = {1, 65};
  there.memory_mib = {{1, 128}};
  DomainHostOptions h2 = LabOptions();
  h2.bridge = "lab-h2";
  h2.host = "h2";
  DomainHostOptions h1 = LabOptions();
  h1.host = "h1";
  auto src = BuildDomainXml(spec, here, topo, R"({"host":"h1"})", h1, "ACT");
  auto dst = BuildDomainXml(spec, there, topo, R"({"host":"h2"})", h2, "ACT");
  ASSERT_TRUE(src.ok() && dst.ok());
  // What libvirt adds to a running domain: a PCI address per NIC.
  std::string running = *src;
  const std::string address = "<address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>";
  running.insert(running.rfind('<', running.find("ua-svc")), address);
  ASSERT_NE(running.find(address), std::string::npos);

  Parsed live(MigrationDomainXml(running, *dst, {{"svc", 100}}));
  EXPECT_EQ(live.Pin(0), "40");
  EXPECT_STREQ(live.dom.child("cputune").child("emulatorpin").attribute("cpuset").as_string(), "1,65");
  EXPECT_STREQ(live.dom.child("numatune").child("memory").attribute("nodeset").as_string(), "1");
  EXPECT_NE(std::string(live.dom.child("metadata").first_child().text().as_string()).find("h2"), std::string::npos);
  std::vector<pugi::xml_node> nics;
  for (auto n : live.dom.child("devices").children("interface")) nics.push_back(n);
  ASSERT_EQ(nics.size(), 2u);
  EXPECT_STREQ(nics[0].child("source").attribute("bridge").as_string(), "lab-h2");
  EXPECT_EQ(nics[0].child("target").attribute("dev").as_string(), PortName("vm1", "h2", "svc"));
  EXPECT_EQ(nics[1].child("target").attribute("dev").as_string(), PortName("vm1", "h2", "mgmt"));
  EXPECT_STREQ(nics[0].child("address").attribute("bus").as_string(), "0x01") << "the source's device address is kept";
  EXPECT_STREQ(nics[0].child("mac").attribute("address").as_string(), "52:54:00:12:34:56");
  EXPECT_EQ(nics[0].child("vlan").child("tag").attribute("id").as_int(), 100) << "starts on its access VLAN";
  EXPECT_FALSE(nics[1].child("vlan")) << "no VLAN asked for mgmt";
  EXPECT_EQ(live.dom.child("cputune").find_child_by_attribute("vcpupin", "cpuset", "3"), pugi::xml_node());

  Parsed persistent(MigrationDomainXml(running, *dst));
  EXPECT_FALSE(persistent.dom.child("devices").child("interface").child("vlan")) << "VLANs stay the switch driver's";
  EXPECT_EQ(persistent.Pin(0), "40");

  // A destination definition without the source's NIC is refused, naming it.
  VmSpec one = spec;
  one.interfaces.pop_back();
  auto fewer = BuildDomainXml(one, there, topo, "{}", h2, "ACT");
  auto bad = MigrationDomainXml(running, *fewer);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("ua-mgmt"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(MigrationDomainXml("<nope", *dst).ok());
}

TEST(DomainXml, BadHostOptionsAreErrorsNamingTheVm) {
  auto topo = Fixture("1s2c-local");
  auto qemu_only = topo;
  qemu_only.domain_types = {"qemu"};
  struct Case {
    const HostTopology* topo;
    DomainHostOptions opts;
    std::string role;
    ErrorCode code;
    const char* expect;
  };
  DomainHostOptions no_bridge = LabOptions();
  no_bridge.bridge = "";
  DomainHostOptions bad_bridge = LabOptions();
  bad_bridge.bridge = "lab h1";
  DomainHostOptions long_bridge = LabOptions();
  long_bridge.bridge = "a-bridge-name-longer";
  DomainHostOptions kvm = LabOptions();
  kvm.domain_type = "kvm";
  DomainHostOptions xen = LabOptions();
  xen.domain_type = "xen";
  for (const auto& c : std::vector<Case>{
           {&topo, no_bridge, "ACT", ErrorCode::kUnprocessable, "VM 'vm1': it has 2 interface(s) but the host has no bridge"},
           {&topo, bad_bridge, "ACT", ErrorCode::kInvalid, "VM 'vm1': bridge \"lab h1\" is not a bridge name"},
           {&topo, long_bridge, "ACT", ErrorCode::kInvalid, "bridge \"a-bridge-name-longer\" is not a bridge name"},
           {&qemu_only, kvm, "ACT", ErrorCode::kUnprocessable, "VM 'vm1': domain type kvm is forced, but the host does not list kvm"},
           {&topo, xen, "ACT", ErrorCode::kInvalid, "VM 'vm1': domain type \"xen\" is not kvm or qemu"},
           {&topo, LabOptions(), "ACT SBY", ErrorCode::kInvalid, "VM 'vm1': role \"ACT SBY\" is not a role"},
           {&topo, LabOptions(), "a=b", ErrorCode::kInvalid, "role \"a=b\" is not a role"},
       }) {
    auto xml = BuildDomainXml(GuestSpec(), OneVcpu(), *c.topo, "{}", c.opts, c.role);
    ASSERT_FALSE(xml.ok()) << c.expect;
    EXPECT_EQ(xml.error().code, c.code) << xml.error().message;
    EXPECT_NE(xml.error().message.find(c.expect), std::string::npos) << xml.error().message;
  }
  // Forced kvm where the host has it is fine; a VM without interfaces needs no bridge.
  EXPECT_TRUE(BuildDomainXml(GuestSpec(), OneVcpu(), topo, "{}", kvm, "ACT").ok());
  VmSpec no_nics = GuestSpec();
  no_nics.interfaces.clear();
  EXPECT_TRUE(BuildDomainXml(no_nics, OneVcpu(), topo, "{}", no_bridge, "ACT").ok());

  // A cmdline that ValidateSpec let through (with a 3-letter role) but a longer role overflows.
  VmSpec full = GuestSpec();
  full.image->cmdline = "{role}" + std::string(VmImage::kMaxCmdline - 3, 'x');
  ASSERT_TRUE(ValidateSpec(full).ok());
  EXPECT_TRUE(BuildDomainXml(full, OneVcpu(), topo, "{}", LabOptions(), "SBY").ok());
  auto over = BuildDomainXml(full, OneVcpu(), topo, "{}", LabOptions(), "STANDBY");
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("VM 'vm1': the kernel command line is 2051 characters"), std::string::npos)
      << over.error().message;
}

TEST(DomainXml, PortNameIsStableShortAndDistinct) {
  // Golden values: the switch driver and other tools compute the same names.
  EXPECT_EQ(PortName("vm1", "h1", "svc"), "cp04317b78-svc");
  EXPECT_EQ(PortName("fw-act", "h2", "data"), "cp02975181-data");
  std::set<std::string> seen;
  for (const std::string& vm : std::vector<std::string>{"vm1", "vm2", "fw1-act", "fw1-sby", "a", std::string(63, 'x')})
    for (const std::string host : {"h1", "h2", "compute-17"})
      for (const std::string itf : {"svc", "mgmt", "data0", "data1", "a", "abcdefgh"}) {
        const std::string n = PortName(vm, host, itf);
        SCOPED_TRACE(vm + "/" + host + "/" + itf + " -> " + n);
        EXPECT_LE(n.size(), 15u);
        EXPECT_EQ(n.rfind("cp", 0), 0u);
        EXPECT_EQ(n[10], '-');
        EXPECT_EQ(n.substr(11), itf.substr(0, 4));
        for (char c : n) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
        EXPECT_TRUE(seen.insert(n).second) << "duplicate";  // per host too: a migrating VM has two
        EXPECT_EQ(PortName(vm, host, itf), n);  // stable
      }
  // The boundaries count: ("ab", "c") is not ("a", "bc"), for VM/host and host/interface.
  EXPECT_NE(PortName("ab", "c", "x").substr(0, 10), PortName("a", "bc", "x").substr(0, 10));
  EXPECT_NE(PortName("v", "ab", "c").substr(0, 10), PortName("v", "a", "bc").substr(0, 10));
}

TEST(DomainXml, MetadataFromCdataElement) {
  EXPECT_EQ(MetadataJsonFromElement(
                R"(<corepin:vm xmlns:corepin="https://corepin.dev/xmlns/vm/1"><![CDATA[{"a":"<b>"}]]></corepin:vm>)"),
            R"({"a":"<b>"})");
  EXPECT_EQ(MetadataJsonFromElement("<not xml"), "");
}

}  // namespace
}  // namespace corepin
