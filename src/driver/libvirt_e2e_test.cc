// End to end against the real local libvirtd (qemu:///system) and QEMU: tiny diskless VMs
// (64 MiB, firmware only) for each vCPU policy shape, and the pinning the kernel actually
// enforces, read from /proc, compared with the assignment.
//
// Uses pCPU 0 as housekeeping (emulator threads) and pCPU 1 for vCPUs: fits this 2-pCPU
// machine and any larger one. Skips when libvirtd is not reachable, unless
// COREPIN_REQUIRE_LIBVIRT=1, when that is a failure.
//
// COREPIN_LIBVIRT_URI and COREPIN_QEMU_RUN_DIR point it at another libvirtd, e.g. a lab host:
// qemu+unix:///system?socket=/proc/PID/root/run/libvirt/libvirt-sock and
// /proc/PID/root/run/libvirt/qemu.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "driver/hypervisor.h"
#include "driver/proc_affinity.h"

namespace corepin {
namespace {

bool IsNotFound(const Result<DomainInfo>& r) { return !r.ok() && r.error().code == ErrorCode::kNotFound; }

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}
const std::string kUri = Env("COREPIN_LIBVIRT_URI", "qemu:///system");
const std::string kRunDir = Env("COREPIN_QEMU_RUN_DIR", "/run/libvirt/qemu");

// Every VM name this test may create: removed before (leftovers of a crashed run) and after.
const std::vector<std::string> kNames = {"corepin-test-dedicated", "corepin-test-group", "corepin-test-pinned",
                                         "corepin-test-bad-pcpu"};

struct Shape {
  VmSpec spec;
  Assignment assignment;
  std::string json;
};

Shape MakeShape(const std::string& name, const std::vector<std::string>& policies, const std::vector<int>& pcpus) {
  Shape s;
  s.spec.name = name;
  for (const auto& p : policies) s.spec.vcpus.push_back(*VcpuPolicy::Parse(p));
  s.spec.memory_mib = 64;
  s.assignment.host = "local";
  s.assignment.vcpu_pcpus = pcpus;
  s.assignment.emulator = {0};
  s.assignment.memory_mib = {{0, 64}};
  s.json = R"({"name":")" + name + R"(","policy":")" + policies.front() + R"(","quoted":"a<b & \"c\""})";
  return s;
}

class LibvirtE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    const bool required = Env("COREPIN_REQUIRE_LIBVIRT", "") == "1";
    auto h = ConnectHypervisor(kUri);
    if (!h.ok()) {
      if (required) FAIL() << "COREPIN_REQUIRE_LIBVIRT=1 but libvirtd is not reachable: " << h.error().message;
      GTEST_SKIP() << "libvirtd not reachable (" << h.error().message
                   << "); start virtlogd and libvirtd, or set COREPIN_REQUIRE_LIBVIRT=1 to fail instead";
    }
    hv_ = std::move(*h);
    auto t = hv_->ReadTopology();
    ASSERT_TRUE(t.ok()) << t.error().message;
    topo_ = *t;
    ASSERT_NE(topo_.FindPcpu(0), nullptr);
    ASSERT_NE(topo_.FindPcpu(1), nullptr) << "the e2e test needs pCPUs 0 and 1";
    ASSERT_NE(topo_.FindNode(0), nullptr);
    for (const auto& n : kNames) ASSERT_TRUE(hv_->DestroyAndUndefine(n).ok());
  }
  void TearDown() override {
    if (!hv_) return;
    for (const auto& n : kNames) {
      auto s = hv_->DestroyAndUndefine(n);
      EXPECT_TRUE(s.ok()) << s.error().message;
    }
  }

  // What the kernel enforces on the QEMU threads equals the assignment.
  void ExpectEnforced(const Shape& s) {
    SCOPED_TRACE(s.spec.name);
    auto pid = ReadQemuPid(kRunDir, s.spec.name);
    ASSERT_TRUE(pid.ok()) << pid.error().message;
    auto aff = ReadProcAffinity(*pid);
    ASSERT_TRUE(aff.ok()) << aff.error().message;
    ASSERT_EQ(aff->vcpus.size(), s.assignment.vcpu_pcpus.size());
    for (size_t i = 0; i < s.assignment.vcpu_pcpus.size(); ++i)
      EXPECT_EQ(aff->vcpus[static_cast<int>(i)].ToString(), std::to_string(s.assignment.vcpu_pcpus[i])) << "vCPU " << i;
    EXPECT_GE(aff->emulator_threads, 1);
    EXPECT_EQ(aff->emulator.ToString(), s.assignment.emulator.ToString()) << "emulator threads";
    // Kernel workers (KVM's NX recovery thread) are not pinned by libvirt: reported, not asserted.
    std::cout << "[ proc     ] " << s.spec.name << " pid " << *pid << ": " << aff->vcpus.size() << " vCPU threads on "
              << s.assignment.VcpuPcpus().ToString() << ", " << aff->emulator_threads << " emulator threads on "
              << aff->emulator.ToString() << ", " << aff->kernel_worker_threads << " kernel workers on "
              << aff->kernel_workers.ToString() << "\n";
  }

  // libvirt's view (ListCorepinDomains) agrees, and the metadata came back verbatim.
  static void ExpectListed(const std::vector<DomainInfo>& list, const Shape& s) {
    SCOPED_TRACE(s.spec.name);
    const DomainInfo* d = nullptr;
    for (const auto& x : list)
      if (x.name == s.spec.name) d = &x;
    ASSERT_NE(d, nullptr);
    EXPECT_TRUE(d->active);
    EXPECT_EQ(d->metadata_json, s.json);
    ASSERT_EQ(d->vcpu_pins.size(), s.assignment.vcpu_pcpus.size());
    for (size_t i = 0; i < d->vcpu_pins.size(); ++i)
      EXPECT_EQ(d->vcpu_pins[i].ToString(), std::to_string(s.assignment.vcpu_pcpus[i])) << "vCPU " << i;
    EXPECT_EQ(d->emulator_pin.ToString(), s.assignment.emulator.ToString());
    // The running QEMU domain's numatune, read with virDomainGetNumaParameters.
    EXPECT_EQ(d->memory_nodes.ToString(), s.assignment.MemoryNodes().ToString());
    EXPECT_FALSE(d->memory_nodes.Empty());
  }

  std::unique_ptr<Hypervisor> hv_;
  HostTopology topo_;
};

TEST_F(LibvirtE2E, ReadsThisHost) {
  std::cout << "[ host     ] " << topo_.pcpus.size() << " pCPUs, " << topo_.nodes.size() << " NUMA nodes, domain types";
  for (const auto& t : topo_.domain_types) std::cout << " " << t;
  std::cout << ", NICs";
  for (const auto& n : topo_.nics) std::cout << " " << n.name << "@node" << n.node;
  std::cout << "\n";
  for (const auto& n : topo_.nics) {
    EXPECT_NE(n.name, "lo");
    EXPECT_GE(n.node, 0) << n.name;  // a one-node host puts every NIC on that node
  }
}

TEST_F(LibvirtE2E, EachPolicyShapeIsEnforcedOnTheQemuThreads) {
  std::vector<Shape> shapes = {
      MakeShape("corepin-test-dedicated", {"dedicated"}, {1}),
      MakeShape("corepin-test-group", {"group:light", "group:light"}, {1, 1}),
      MakeShape("corepin-test-pinned", {"pinned:1"}, {1}),
  };
  shapes[0].assignment.exclusive = {1};
  shapes[1].assignment.groups = {{"light", 1}};
  shapes[2].assignment.exclusive = {1};
  for (const auto& s : shapes) {
    auto st = hv_->DefineAndStart({s.spec, s.assignment, topo_, s.json});
    ASSERT_TRUE(st.ok()) << st.error().message;
    ExpectEnforced(s);
  }
  auto list = hv_->ListCorepinDomains();
  ASSERT_TRUE(list.ok()) << list.error().message;
  for (const auto& s : shapes) ExpectListed(*list, s);

  for (const auto& s : shapes) {
    ASSERT_TRUE(hv_->DestroyAndUndefine(s.spec.name).ok());
    EXPECT_TRUE(IsNotFound(hv_->GetDomain(s.spec.name)));
  }
}

TEST_F(LibvirtE2E, PinToMissingPcpuFailsAndLeavesNoDomain) {
  const int missing = topo_.pcpus.back().id + 6;  // 7 on this 2-pCPU machine
  Shape s = MakeShape("corepin-test-bad-pcpu", {"pinned:" + std::to_string(missing)}, {missing});
  auto st = hv_->DefineAndStart({s.spec, s.assignment, topo_, s.json});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find(s.spec.name), std::string::npos) << st.error().message;
  // Refused for the pCPU (cgroup cpuset, or sched_setaffinity without cgroups), not by chance.
  const auto& m = st.error().message;
  EXPECT_TRUE(m.find("cpuset") != std::string::npos || m.find("affinity") != std::string::npos) << m;
  std::cout << "[ libvirt  ] " << st.error().message << "\n";
  auto d = hv_->GetDomain(s.spec.name);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace corepin
