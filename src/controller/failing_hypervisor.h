// For tests: a Hypervisor that forwards every call to a real one but fails, as libvirt would,
// where a test asks, so that a failure half-way through an operation can be forced against the
// real libvirtd:
//   - DefineAndStart of a VM with `define_vcpus` vCPUs (a resize's new domain);
//   - Repin to a layout that uses pCPU `repin_pcpu`: the real re-pin is made first, then the
//     call fails (a failure after some pins moved, which the caller must undo);
//   - every live migration (`migrate`), before anything moved;
//   - DefineAndStart of any VM on the host whose URI is `define_uri`;
//   - a live migration held open (`controls`, hold_migrations) until AbortMigration cancels it
//     (it then fails, the guest untouched) or the test opens the gate (it then goes ahead);
//   - every call, and every new connection, to a host the test marks down (`controls`), as on a
//     dead host (a fixture connection alone would keep answering): the host monitor sees it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "controller/controller.h"
#include "driver/hypervisor.h"

namespace corepin::testing {

// What a test changes while the controller runs, shared with every connection of the factory:
// where a held migration waits, and which hosts stop answering probes.
struct TestControls {
  bool hold_migrations = false;     // live migrations wait at the gate
  std::set<std::string> down_uris;  // hosts down: every call fails
  std::mutex mu;
  std::condition_variable cv;
  int waiting = 0;       // migrations held now
  bool aborted = false;  // AbortMigration was called: the held ones fail
  bool open = false;     // the test let them go ahead
  // Waits until a migration is held (the test's cue), or `limit` passes.
  bool WaitHeld(std::chrono::seconds limit) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, limit, [&] { return waiting > 0; });
  }
  void SetDown(const std::string& uri, bool down) {
    std::lock_guard lock(mu);
    if (down) down_uris.insert(uri);
    else down_uris.erase(uri);
    cv.notify_all();
  }
  void SetDown(std::set<std::string> uris) {
    std::lock_guard lock(mu);
    down_uris = std::move(uris);
    cv.notify_all();
  }
  bool IsDown(const std::string& uri) {
    std::lock_guard lock(mu);
    return down_uris.count(uri) > 0;
  }
  void Open() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

struct Failures {
  int define_vcpus = -1;
  int repin_pcpu = -1;
  bool migrate = false;  // every live migration fails before it starts (the guest stays)
  std::string define_uri;  // every DefineAndStart on the host of this URI fails
  std::shared_ptr<TestControls> controls;  // hosts down, migrations held (null: neither)
};

class FailingHypervisor : public Hypervisor {
 public:
  FailingHypervisor(std::unique_ptr<Hypervisor> real, Failures f) : real_(std::move(real)), f_(f) {}
  Status DefineAndStart(const DomainRequest& r) override {
    if (auto s = Down(); !s) return s;
    if (static_cast<int>(r.spec.vcpus.size()) == f_.define_vcpus || (!f_.define_uri.empty() && real_->uri() == f_.define_uri))
      return Unavailable("VM '" + r.spec.name + "': libvirt could not start it (failure injected by the test)");
    return real_->DefineAndStart(r);
  }
  Status Repin(const std::string& name, const std::vector<CpuSet>& vcpus, const CpuSet& emulator, const std::string& metadata) override {
    if (auto s = Down(); !s) return s;
    Status s = real_->Repin(name, vcpus, emulator, metadata);
    for (const auto& pins : vcpus)
      if (s && pins.Contains(f_.repin_pcpu))
        return Unavailable("VM '" + name + "': libvirt could not pin it (failure injected by the test, after the pins moved)");
    return s;
  }
  Result<HostTopology> ReadTopology() override {
    if (auto s = Down(); !s) return s.error();
    return real_->ReadTopology();
  }
  Status Start(const std::string& name) override { return Down() ? real_->Start(name) : Down(); }
  Result<std::unique_ptr<LifecycleWatch>> WatchStops(std::function<void(const std::string&, const std::string&)> f) override {
    if (auto s = Down(); !s) return s.error();
    return real_->WatchStops(std::move(f));
  }
  Status DestroyAndUndefine(const std::string& name) override { return Down() ? real_->DestroyAndUndefine(name) : Down(); }
  Status MigrateLive(const std::string& name, Hypervisor& dest, const MigrateRequest& r) override {
    if (auto s = Down(); !s) return s;
    if (f_.migrate) return Unavailable("VM '" + name + "': live migration failed (failure injected by the test)");
    if (auto& gate = f_.controls; gate && gate->hold_migrations) {
      std::unique_lock lock(gate->mu);
      ++gate->waiting;
      gate->cv.notify_all();
      // The bound only keeps a broken test from hanging; past it the migration goes ahead. A
      // source marked down ends it as a dead host's connection (keepalive) would.
      const bool ended = gate->cv.wait_for(lock, std::chrono::seconds(60), [&] {
        return gate->aborted || gate->open || gate->down_uris.count(real_->uri()) > 0;
      });
      --gate->waiting;
      if (ended && !gate->aborted && !gate->open)
        return Unavailable("VM '" + name + "': live migration failed: the connection to " + real_->uri() + " was lost (the host is down)");
      if (gate->aborted) {
        gate->aborted = false;  // taken: the next migration is held again
        return Unavailable("VM '" + name + "': live migration failed (it still runs on the source): operation aborted: migration out: canceled by client");
      }
    }
    auto* wrapped = dynamic_cast<FailingHypervisor*>(&dest);  // the real destination, for the real driver
    return real_->MigrateLive(name, wrapped ? *wrapped->real_ : dest, r);
  }
  Status AbortMigration(const std::string& name) override {
    if (auto s = Down(); !s) return s;
    if (auto& gate = f_.controls; gate && gate->hold_migrations) {
      std::lock_guard lock(gate->mu);
      if (gate->waiting == 0) return Conflict("VM '" + name + "' has no migration running on " + real_->uri());
      gate->aborted = true;
      gate->cv.notify_all();
      return Status::Ok();
    }
    return real_->AbortMigration(name);
  }
  Result<std::vector<DomainInfo>> ListCorepinDomains() override {
    if (auto s = Down(); !s) return s.error();
    return real_->ListCorepinDomains();
  }
  Result<DomainInfo> GetDomain(const std::string& name) override {
    if (auto s = Down(); !s) return s.error();
    return real_->GetDomain(name);
  }
  std::string uri() const override { return real_->uri(); }
  Status Probe() override { return Down() ? real_->Probe() : Down(); }
  Result<std::vector<VcpuStat>> VcpuStats(const std::string& name) override {
    if (auto s = Down(); !s) return s.error();
    return real_->VcpuStats(name);
  }

  // A factory for Controller: every connection fails as `f` says; a host down refuses it.
  static HypervisorFactory Factory(Failures f) {
    return [f](const std::string& uri) -> Result<std::unique_ptr<Hypervisor>> {
      if (f.controls && f.controls->IsDown(uri)) return Unprocessable("cannot connect to hypervisor " + uri + ": connection refused (the host is down)");
      auto hv = ConnectHypervisor(uri);
      if (!hv) return hv.error();
      return std::unique_ptr<Hypervisor>(std::make_unique<FailingHypervisor>(std::move(*hv), f));
    };
  }

 private:
  Status Down() const {
    if (f_.controls && f_.controls->IsDown(real_->uri()))
      return Unavailable("hypervisor " + real_->uri() + ": connection lost (the host is down)");
    return Status::Ok();
  }
  std::unique_ptr<Hypervisor> real_;
  Failures f_;
};

}  // namespace corepin::testing
