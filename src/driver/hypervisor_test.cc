// The libvirt Hypervisor against libvirt's in-process test driver (test:///default): the
// plumbing (define, metadata, pin read-back, clean-up, errors) without a real hypervisor.
// Real QEMU behaviour is in libvirt_e2e_test.cc.
#include "driver/hypervisor.h"

#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

namespace corepin {
namespace {

bool IsNotFound(const Result<DomainInfo>& r) { return !r.ok() && r.error().code == ErrorCode::kNotFound; }

TEST(Hypervisor, UnreachableUriIsUnprocessableAndNamesTheUri) {
  const std::string uri = "qemu+unix:///system?socket=/nonexistent";
  auto h = ConnectHypervisor(uri);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code, ErrorCode::kUnprocessable);
  EXPECT_NE(h.error().message.find(uri), std::string::npos) << h.error().message;
  EXPECT_NE(h.error().message.find("/nonexistent"), std::string::npos) << h.error().message;
}

class TestDriver : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = ConnectHypervisor("test:///default");
    ASSERT_TRUE(h.ok()) << h.error().message;
    hv_ = std::move(*h);
    auto t = hv_->ReadTopology();
    ASSERT_TRUE(t.ok()) << t.error().message;
    topo_ = *t;
  }
  std::unique_ptr<Hypervisor> hv_;
  HostTopology topo_;
};

TEST_F(TestDriver, ReadsTopology) {
  EXPECT_FALSE(topo_.pcpus.empty());
  EXPECT_FALSE(topo_.nodes.empty());
  EXPECT_FALSE(topo_.SupportsDomainType("kvm"));
  EXPECT_EQ(hv_->uri(), "test:///default");
}

TEST_F(TestDriver, DefineStartReadBackAndRemove) {
  VmSpec spec;
  spec.name = "corepin-unit-a";
  spec.vcpus.resize(2);
  spec.memory_mib = 64;
  Assignment a;
  a.vcpu_pcpus = {3, 2};
  a.emulator = {0, 1};
  a.memory_mib = {{topo_.nodes.front().id, 64}};
  const std::string json = R"({"name":"corepin-unit-a","x":"<&>"})";

  ASSERT_TRUE(hv_->DefineAndStart({spec, a, topo_, json}).ok());
  auto again = hv_->DefineAndStart({spec, a, topo_, "{}"});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);

  auto d = hv_->GetDomain(spec.name);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_TRUE(d->active);
  EXPECT_EQ(d->metadata_json, json);  // the first definition was left untouched
  ASSERT_EQ(d->vcpu_pins.size(), 2u);
  EXPECT_EQ(d->vcpu_pins[0].ToString(), "3");
  EXPECT_EQ(d->vcpu_pins[1].ToString(), "2");
  EXPECT_EQ(d->emulator_pin.ToString(), "0-1");

  // The test driver's own domain "test" has no corepin metadata and is not listed.
  auto list = hv_->ListCorepinDomains();
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().name, spec.name);

  // Stopped behind corepin's back (a second connection sees the same test:///default state):
  // the pinning then comes from the persistent definition.
  virConnectPtr raw = virConnectOpen("test:///default");
  ASSERT_NE(raw, nullptr);
  virDomainPtr dom = virDomainLookupByName(raw, spec.name.c_str());
  ASSERT_NE(dom, nullptr);
  EXPECT_EQ(virDomainDestroy(dom), 0);
  virDomainFree(dom);
  virConnectClose(raw);
  auto stopped = hv_->GetDomain(spec.name);
  ASSERT_TRUE(stopped.ok()) << stopped.error().message;
  EXPECT_FALSE(stopped->active);
  ASSERT_EQ(stopped->vcpu_pins.size(), 2u);
  EXPECT_EQ(stopped->vcpu_pins[0].ToString(), "3");
  EXPECT_EQ(stopped->emulator_pin.ToString(), "0-1");
  EXPECT_EQ(stopped->metadata_json, json);

  ASSERT_TRUE(hv_->DestroyAndUndefine(spec.name).ok());
  auto gone = hv_->GetDomain(spec.name);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(hv_->DestroyAndUndefine(spec.name).ok());  // absent is fine
}

TEST_F(TestDriver, ForeignDomainHasNoMetadata) {
  auto d = hv_->GetDomain("test");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_TRUE(d->metadata_json.empty());
  EXPECT_FALSE(d->vcpu_pins.empty());
}

TEST_F(TestDriver, RefusedDefinitionNamesTheVm) {
  VmSpec spec;
  spec.name = "corepin-unit-bad";
  spec.vcpus.resize(1);
  Assignment a;  // no vCPU at all: libvirt refuses a domain with zero vCPUs
  auto s = hv_->DefineAndStart({spec, a, topo_, "{}"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("corepin-unit-bad"), std::string::npos) << s.error().message;
  EXPECT_TRUE(IsNotFound(hv_->GetDomain(spec.name)));
}

// libvirt validates (VIR_DOMAIN_DEFINE_VALIDATE, its RNG schema) and keeps a domain with an
// image and NICs on an OVS bridge: kernel, cmdline, <driver> offloads, target dev, alias.
TEST_F(TestDriver, ImageAndInterfacesPassLibvirtValidation) {
  VmSpec spec;
  spec.name = "corepin-unit-img";
  spec.vcpus.resize(1);
  spec.memory_mib = 64;
  spec.image = VmImage{"/srv/guest/vmlinux", "/srv/guest/initrd.img", "console=ttyS0 corepin.name={name} corepin.role={role}"};
  spec.interfaces = {{"svc", "52:54:00:12:34:56"}, {"mgmt", ""}};
  ASSERT_TRUE(ValidateSpec(spec).ok());
  Assignment a;
  a.vcpu_pcpus = {1};
  a.emulator = {0};
  a.memory_mib = {{topo_.nodes.front().id, 64}};
  DomainHostOptions opts;
  opts.bridge = "lab-h1";
  opts.disable_offload = true;
  opts.domain_type = "qemu";  // the test driver lists no kvm; forcing kvm would be refused by corepin
  auto s = hv_->DefineAndStart({spec, a, topo_, "{}", opts, "ACT"});
  ASSERT_TRUE(s.ok()) << s.error().message;

  virConnectPtr raw = virConnectOpen("test:///default");
  ASSERT_NE(raw, nullptr);
  virDomainPtr dom = virDomainLookupByName(raw, spec.name.c_str());
  ASSERT_NE(dom, nullptr);
  char* xml = virDomainGetXMLDesc(dom, 0);
  ASSERT_NE(xml, nullptr);
  const std::string got = xml;
  free(xml);
  virDomainFree(dom);
  virConnectClose(raw);
  for (const std::string& want : std::vector<std::string>{"<kernel>/srv/guest/vmlinux</kernel>", "<initrd>/srv/guest/initrd.img</initrd>",
                                 "<cmdline>console=ttyS0 corepin.name=corepin-unit-img corepin.role=ACT</cmdline>",
                                 "<source bridge='lab-h1'/>", "<virtualport type='openvswitch'", "<mac address='52:54:00:12:34:56'/>",
                                 "<target dev='" + PortName(spec.name, "", "svc") + "'/>", "<target dev='" + PortName(spec.name, "", "mgmt") + "'/>",
                                 "<model type='virtio'/>", "<alias name='ua-svc'/>", "<host csum='off' gso='off' tso4='off' tso6='off' ecn='off' ufo='off'/>",
                                 "<guest csum='off' tso4='off' tso6='off' ecn='off' ufo='off'/>"})
    EXPECT_NE(got.find(want), std::string::npos) << want << "\n" << got;
  ASSERT_TRUE(hv_->DestroyAndUndefine(spec.name).ok());

  // Interfaces but no bridge: refused before libvirt is asked, naming the VM; nothing defined.
  auto nobridge = hv_->DefineAndStart({spec, a, topo_, "{}"});
  ASSERT_FALSE(nobridge.ok());
  EXPECT_EQ(nobridge.error().code, ErrorCode::kUnprocessable);
  EXPECT_NE(nobridge.error().message.find("VM 'corepin-unit-img'"), std::string::npos) << nobridge.error().message;
  EXPECT_NE(nobridge.error().message.find("no bridge"), std::string::npos) << nobridge.error().message;
  EXPECT_TRUE(IsNotFound(hv_->GetDomain(spec.name)));
}

}  // namespace
}  // namespace corepin
