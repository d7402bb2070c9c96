// The controller against the real local libvirtd and QEMU (qemu:///system), for the e2e tests:
// a fresh SQLite store, this machine added as host "local" (pCPU 0 housekeeping, pCPU 1
// allocatable), and a check of a VM's threads' affinity in /proc. Skips when libvirtd is
// unreachable, unless COREPIN_REQUIRE_LIBVIRT=1. TearDown deletes every VM it left.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "controller/controller.h"
#include "driver/proc_affinity.h"
#include "store/sqlite_store.h"

namespace corepin::testing {

using nlohmann::json;

inline const char* kUri = "qemu:///system";

class ControllerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    auto hv = ConnectHypervisor(kUri);
    if (!hv) {
      if (const char* req = std::getenv("COREPIN_REQUIRE_LIBVIRT"); req && std::string(req) == "1")
        FAIL() << "libvirtd is required but unreachable: " << hv.error().message;
      GTEST_SKIP() << "libvirtd unreachable at " << kUri << ": " << hv.error().message;
    }
    char tmpl[] = "/tmp/corepin-e2e-XXXXXX";
    dir_ = mkdtemp(tmpl);
    Open();
    auto h = controller_->AddHost(json{{"name", "local"}, {"uri", kUri}, {"housekeeping", "0"}});
    ASSERT_TRUE(h.ok()) << h.error().message;
  }
  void TearDown() override {
    if (controller_) {
      auto vms = controller_->ListVms();
      if (vms.ok())
        for (const auto& vm : *vms) (void)controller_->DeleteVm(vm["name"]);
    }
    controller_.reset();
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  void Open(ControllerOptions options = {}, HypervisorFactory connect = ConnectHypervisor) {
    controller_.reset();
    store_.reset();
    store_ = std::move(*OpenSqliteStore(dir_ + "/state.db"));
    controller_ = std::make_unique<Controller>(store_.get(), connect, options);
    Status s = controller_->Start();
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  // Reads the kernel's affinity of the VM's QEMU threads and checks it against the assignment.
  void ExpectProcMatches(const std::string& vm, const std::vector<int>& vcpu_pcpus, const std::string& emulator) {
    auto pid = ReadQemuPid("/run/libvirt/qemu", vm);
    ASSERT_TRUE(pid.ok()) << pid.error().message;
    auto aff = ReadProcAffinity(*pid);
    ASSERT_TRUE(aff.ok()) << aff.error().message;
    ASSERT_EQ(aff->vcpus.size(), vcpu_pcpus.size());
    for (size_t i = 0; i < vcpu_pcpus.size(); ++i)
      EXPECT_EQ(aff->vcpus.at(static_cast<int>(i)).ToString(), std::to_string(vcpu_pcpus[i])) << vm << " vCPU " << i;
    EXPECT_EQ(aff->emulator.ToString(), emulator) << vm;
    EXPECT_GT(aff->emulator_threads, 0);
  }
  std::string dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace corepin::testing
