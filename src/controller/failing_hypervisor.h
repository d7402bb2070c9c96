// For tests: a Hypervisor that forwards every call to a real one, except that DefineAndStart
// fails, as libvirt would, for a VM of a chosen vCPU count, so that a failure half-way
// through an operation (a resize) can be forced against the real libvirtd.
#pragma once

#include <memory>
#include <string>

#include "controller/controller.h"
#include "driver/hypervisor.h"

namespace corepin::testing {

class FailingDefine : public Hypervisor {
 public:
  FailingDefine(std::unique_ptr<Hypervisor> real, int fail_vcpus) : real_(std::move(real)), fail_vcpus_(fail_vcpus) {}
  Status DefineAndStart(const DomainRequest& r) override {
    if (static_cast<int>(r.spec.vcpus.size()) == fail_vcpus_)
      return Unavailable("VM '" + r.spec.name + "': libvirt could not start it (failure injected by the test)");
    return real_->DefineAndStart(r);
  }
  Result<HostTopology> ReadTopology() override { return real_->ReadTopology(); }
  Status Start(const std::string& name) override { return real_->Start(name); }
  Result<std::unique_ptr<LifecycleWatch>> WatchStops(std::function<void(const std::string&, const std::string&)> f) override {
    return real_->WatchStops(std::move(f));
  }
  Status DestroyAndUndefine(const std::string& name) override { return real_->DestroyAndUndefine(name); }
  Result<std::vector<DomainInfo>> ListCorepinDomains() override { return real_->ListCorepinDomains(); }
  Result<DomainInfo> GetDomain(const std::string& name) override { return real_->GetDomain(name); }
  std::string uri() const override { return real_->uri(); }
  Status Probe() override { return real_->Probe(); }
  Status Repin(const std::string& name, const std::vector<CpuSet>& vcpus, const CpuSet& emulator, const std::string& metadata) override {
    return real_->Repin(name, vcpus, emulator, metadata);
  }

  // A factory for Controller: every connection fails defines of `fail_vcpus` vCPUs.
  static HypervisorFactory Factory(int fail_vcpus) {
    return [fail_vcpus](const std::string& uri) -> Result<std::unique_ptr<Hypervisor>> {
      auto hv = ConnectHypervisor(uri);
      if (!hv) return hv.error();
      return std::unique_ptr<Hypervisor>(std::make_unique<FailingDefine>(std::move(*hv), fail_vcpus));
    };
  }

 private:
  std::unique_ptr<Hypervisor> real_;
  int fail_vcpus_;
};

}  // namespace corepin::testing
