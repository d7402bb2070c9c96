// Re-pin, drift repair and resize against the real local libvirtd and QEMU, each checked in
// /proc (every "CPU n/KVM" thread and QEMU's other threads) and, for the live ones, with the
// QEMU pid unchanged (no restart).
//
// This machine has one allocatable pCPU (1; pCPU 0 is housekeeping), so every layout corepin
// may choose here puts vCPUs on 1 and emulator threads on 0. The threads are first moved
// elsewhere behind corepin's back (libvirt's API, as `virsh vcpupin` would), and the re-pin
// must move each of them back, live. Moves between two allocatable pCPUs are tested over the
// test driver and fixture hosts (controller_repin_test.cc).
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

#include "controller/controller_e2e_fixture.h"
#include "controller/failing_hypervisor.h"

namespace corepin {
namespace {

using nlohmann::json;
using testing::ControllerE2E;
using testing::kUri;

class RepinE2E : public ControllerE2E {
 protected:
  void Create(const std::string& name, const std::string& spec) {
    json j = json::parse(spec);
    j["name"] = name;
    NoFit no_fit;
    auto vm = controller_->CreateVm(j, &no_fit);
    ASSERT_TRUE(vm.ok()) << vm.error().message;
  }
  int Pid(const std::string& vm) {
    auto pid = ReadQemuPid("/run/libvirt/qemu", vm);
    EXPECT_TRUE(pid.ok()) << pid.error().message;
    return pid.ok() ? *pid : -1;
  }
  // Moves the running domain's vCPUs to `vcpus_to` and its emulator threads to `emulator_to`,
  // live only, with libvirt's C API: what an operator's virsh vcpupin/emulatorpin does.
  void PinBehindTheBack(const std::string& vm, int vcpus, int vcpus_to, int emulator_to) {
    virConnectPtr conn = virConnectOpen(kUri);
    ASSERT_NE(conn, nullptr);
    virDomainPtr dom = virDomainLookupByName(conn, vm.c_str());
    ASSERT_NE(dom, nullptr);
    unsigned char map[1] = {0};
    VIR_USE_CPU(map, vcpus_to);
    for (int i = 0; i < vcpus; ++i) EXPECT_EQ(virDomainPinVcpuFlags(dom, i, map, 1, VIR_DOMAIN_AFFECT_LIVE), 0);
    unsigned char emu[1] = {0};
    VIR_USE_CPU(emu, emulator_to);
    EXPECT_EQ(virDomainPinEmulator(dom, emu, 1, VIR_DOMAIN_AFFECT_LIVE), 0);
    virDomainFree(dom);
    virConnectClose(conn);
  }
  // The persistent definition's pins (what a restart would use): vCPUs, then the emulator.
  std::vector<std::string> PersistentPins(const std::string& vm, int vcpus) {
    auto text = [](unsigned char map) {  // this host has 2 CPUs: one byte of cpumap
      CpuSet s;
      for (int cpu = 0; cpu < 8; ++cpu)
        if (VIR_CPU_USED(&map, cpu)) s.Add(cpu);
      return s.ToString();
    };
    virConnectPtr conn = virConnectOpen(kUri);
    virDomainPtr dom = virDomainLookupByName(conn, vm.c_str());
    std::vector<std::string> out;
    std::vector<unsigned char> maps(static_cast<size_t>(vcpus), 0);
    const int n = virDomainGetVcpuPinInfo(dom, vcpus, maps.data(), 1, VIR_DOMAIN_AFFECT_CONFIG);
    for (int i = 0; i < n; ++i) out.push_back(text(maps[i]));
    unsigned char emu = 0;
    if (virDomainGetEmulatorPinInfo(dom, &emu, 1, VIR_DOMAIN_AFFECT_CONFIG) >= 0) out.push_back(text(emu));
    virDomainFree(dom);
    virConnectClose(conn);
    return out;
  }
  bool HasEvent(const std::string& kind, const std::string& subject) {
    auto events = controller_->Events(0, 1000);
    for (const auto& e : *events)
      if (e["kind"] == kind && e["subject"] == subject) return true;
    return false;
  }
};

TEST_F(RepinE2E, LiveRepinMovesEveryThreadWithoutARestart) {
  const std::string vm = "rp-e2e-live";
  Create(vm, R"({"vcpus":2,"policy":"group:g","memory_mib":64})");
  const int pid = Pid(vm);
  PinBehindTheBack(vm, 2, /*vcpus_to=*/0, /*emulator_to=*/1);
  ExpectProcMatches(vm, {0, 0}, "1");  // the threads really are elsewhere now
  NoFit no_fit;
  auto r = controller_->RepinVm(vm, json{{"vcpus", {{"0", 1}, {"1", 1}}}, {"emulator", "0"}}, &no_fit);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["pinning_verified"], true) << r->dump(2);
  EXPECT_EQ((*r)["actual"]["vcpus"][0]["proc"], "1");
  EXPECT_EQ((*r)["actual"]["vcpus"][1]["proc"], "1");
  EXPECT_EQ((*r)["actual"]["emulator"]["proc"], "0");
  ExpectProcMatches(vm, {1, 1}, "0");
  EXPECT_EQ(Pid(vm), pid) << "QEMU was restarted";
  EXPECT_EQ(PersistentPins(vm, 2), (std::vector<std::string>{"1", "1", "0"}));
  // Only the persistent definition drifted: the re-pin finds it and writes just that.
  {
    virConnectPtr conn = virConnectOpen(kUri);
    virDomainPtr dom = virDomainLookupByName(conn, vm.c_str());
    unsigned char to0 = 1;
    EXPECT_EQ(virDomainPinVcpuFlags(dom, 1, &to0, 1, VIR_DOMAIN_AFFECT_CONFIG), 0);
    virDomainFree(dom);
    virConnectClose(conn);
  }
  EXPECT_EQ(PersistentPins(vm, 2), (std::vector<std::string>{"1", "0", "0"}));
  ASSERT_TRUE(controller_->RepinVm(vm, json{{"auto", true}}, &no_fit).ok());
  EXPECT_EQ(PersistentPins(vm, 2), (std::vector<std::string>{"1", "1", "0"}));
  ExpectProcMatches(vm, {1, 1}, "0");
  // A re-pin the host cannot honour is refused and moves nothing.
  auto refused = controller_->RepinVm(vm, json{{"vcpus", {{"0", 0}, {"1", 0}}}}, &no_fit);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("pCPU 0 is housekeeping"), std::string::npos) << refused.error().message;
  ExpectProcMatches(vm, {1, 1}, "0");
}

TEST_F(RepinE2E, DriftIsAlarmedThenRepairedLive) {
  const std::string vm = "rp-e2e-drift";
  Create(vm, R"({"vcpus":1,"memory_mib":64})");
  const int pid = Pid(vm);
  PinBehindTheBack(vm, 1, 0, 1);
  // Without --repair-drift: an alarm, and nothing moves.
  auto report = controller_->Reconcile();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(HasEvent("alarm.pinning-drift", vm)) << report->dump(2);
  ExpectProcMatches(vm, {0}, "1");
  // With it: the reconcile corepind runs at start re-pins it, live.
  ControllerOptions repair;
  repair.repair_drift = true;
  Open(repair);
  EXPECT_TRUE(HasEvent("vm.drift-repaired", vm));
  ExpectProcMatches(vm, {1}, "0");
  EXPECT_EQ(Pid(vm), pid) << "QEMU was restarted";
  auto after = controller_->Reconcile();
  for (const auto& d : (*after)["differences"]) EXPECT_NE(d["vm"], vm) << d.dump();
}

TEST_F(RepinE2E, ResizeUpAndDown) {
  const std::string vm = "rp-e2e-resize";
  Create(vm, R"({"vcpus":1,"memory_mib":64})");
  NoFit no_fit;
  auto up = controller_->ResizeVm(vm, json{{"vcpus", 2}, {"policy", "group:g"}, {"memory_mib", 96}}, &no_fit);
  ASSERT_TRUE(up.ok()) << up.error().message;
  EXPECT_EQ((*up)["pinning_verified"], true);
  ExpectProcMatches(vm, {1, 1}, "0");
  const int pid = Pid(vm);
  // Two dedicated vCPUs cannot fit on one allocatable pCPU: refused up front, nothing stopped.
  auto refused = controller_->ResizeVm(vm, json{{"vcpus", 2}, {"policy", "dedicated"}}, &no_fit);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnprocessable);
  EXPECT_NE(refused.error().message.find("host local node0: 1 free pCPU, needs 2"), std::string::npos) << refused.error().message;
  EXPECT_EQ(Pid(vm), pid);
  auto down = controller_->ResizeVm(vm, json{{"vcpus", 1}, {"policy", "dedicated"}, {"memory_mib", 64}}, &no_fit);
  ASSERT_TRUE(down.ok()) << down.error().message;
  ExpectProcMatches(vm, {1}, "0");
  EXPECT_EQ(json::parse(store_->GetVm(vm)->spec_json)["vcpus"], 1);
}

// libvirt fails to start the resized domain (injected): the old VM is defined and started
// again, its threads pinned as before, its record running.
TEST_F(RepinE2E, ResizeFailureRestoresTheOldVmRunning) {
  Open({}, testing::FailingHypervisor::Factory({.define_vcpus = 3}));
  const std::string vm = "rp-e2e-resfail";
  Create(vm, R"({"vcpus":1,"memory_mib":64})");
  NoFit no_fit;
  auto r = controller_->ResizeVm(vm, json{{"vcpus", 3}, {"policy", "group:g"}}, &no_fit);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("the old VM was restored and runs with its old pinning"), std::string::npos) << r.error().message;
  ExpectProcMatches(vm, {1}, "0");
  EXPECT_EQ(store_->GetVm(vm)->state, "running");
  EXPECT_EQ((*controller_->ShowVm(vm))["pinning_verified"], true);
}

}  // namespace
}  // namespace corepin
