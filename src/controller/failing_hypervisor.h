// For tests: a Hypervisor that forwards every call to a real one but fails, as libvirt would,
// where a test asks, so that a failure half-way through an operation can be forced against the
// real libvirtd:
//   - DefineAndStart of a VM with `define_vcpus` vCPUs (a resize's new domain);
//   - Repin to a layout that uses pCPU `repin_pcpu`: the real re-pin is made first, then the
//     call fails (a failure after some pins moved, which the caller must undo);
//   - every live migration (`migrate`), before anything moved;
//   - DefineAndStart of any VM on the host whose URI is `define_uri`.
#pragma once

#include <memory>
#include <string>

#include "controller/controller.h"
#include "driver/hypervisor.h"

namespace corepin::testing {

struct Failures {
  int define_vcpus = -1;
  int repin_pcpu = -1;
  bool migrate = false;  // every live migration fails before it starts (the guest stays)
  std::string define_uri;  // every DefineAndStart on the host of this URI fails
};

class FailingHypervisor : public Hypervisor {
 public:
  FailingHypervisor(std::unique_ptr<Hypervisor> real, Failures f) : real_(std::move(real)), f_(f) {}
  Status DefineAndStart(const DomainRequest& r) override {
    if (static_cast<int>(r.spec.vcpus.size()) == f_.define_vcpus || (!f_.define_uri.empty() && real_->uri() == f_.define_uri))
      return Unavailable("VM '" + r.spec.name + "': libvirt could not start it (failure injected by the test)");
    return real_->DefineAndStart(r);
  }
  Status Repin(const std::string& name, const std::vector<CpuSet>& vcpus, const CpuSet& emulator, const std::string& metadata) override {
    Status s = real_->Repin(name, vcpus, emulator, metadata);
    for (const auto& pins : vcpus)
      if (s && pins.Contains(f_.repin_pcpu))
        return Unavailable("VM '" + name + "': libvirt could not pin it (failure injected by the test, after the pins moved)");
    return s;
  }
  Result<HostTopology> ReadTopology() override { return real_->ReadTopology(); }
  Status Start(const std::string& name) override { return real_->Start(name); }
  Result<std::unique_ptr<LifecycleWatch>> WatchStops(std::function<void(const std::string&, const std::string&)> f) override {
    return real_->WatchStops(std::move(f));
  }
  Status DestroyAndUndefine(const std::string& name) override { return real_->DestroyAndUndefine(name); }
  Status MigrateLive(const std::string& name, Hypervisor& dest, const MigrateRequest& r) override {
    if (f_.migrate) return Unavailable("VM '" + name + "': live migration failed (failure injected by the test)");
    auto* wrapped = dynamic_cast<FailingHypervisor*>(&dest);  // the real destination, for the real driver
    return real_->MigrateLive(name, wrapped ? *wrapped->real_ : dest, r);
  }
  Result<std::vector<DomainInfo>> ListCorepinDomains() override { return real_->ListCorepinDomains(); }
  Result<DomainInfo> GetDomain(const std::string& name) override { return real_->GetDomain(name); }
  std::string uri() const override { return real_->uri(); }
  Status Probe() override { return real_->Probe(); }
  Result<std::vector<VcpuStat>> VcpuStats(const std::string& name) override { return real_->VcpuStats(name); }

  // A factory for Controller: every connection fails as `f` says.
  static HypervisorFactory Factory(Failures f) {
    return [f](const std::string& uri) -> Result<std::unique_ptr<Hypervisor>> {
      auto hv = ConnectHypervisor(uri);
      if (!hv) return hv.error();
      return std::unique_ptr<Hypervisor>(std::make_unique<FailingHypervisor>(std::move(*hv), f));
    };
  }

 private:
  std::unique_ptr<Hypervisor> real_;
  Failures f_;
};

}  // namespace corepin::testing
