// Controller: corepind's brain. It owns the placement model of every host, the state store
// and one hypervisor connection per host, and runs each operation intent-first:
//
//   1. check the request (4xx and nothing changed when it is wrong)
//   2. fit, then store the intent (VM state "creating", with its exact assignment)
//   3. act on the hypervisor (define + start with the pinning)
//   4. verify (pinning read back) and store the outcome ("running"); or undo 3 and 2
//
// Start() resumes what a crash interrupted (a VM left "creating" or "deleting") and compares the
// store with what each hypervisor reports (Reconcile). Every method is thread-safe; operations
// run one at a time.
//
// Views (host, VM, reconcile report) are returned as JSON, the shape the REST API serves; they are
// documented in docs/api.md.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "driver/hypervisor.h"
#include "placement/fit.h"
#include "placement/host_state.h"
#include "controller/managed_host.h"
#include "store/state_store.h"

namespace corepin {

using HypervisorFactory = std::function<Result<std::unique_ptr<Hypervisor>>(const std::string& uri)>;

// A VM create that found no host: why, for each host considered.
struct NoFit {
  std::vector<Rejection> rejections;
  std::string Summary() const;
};

class Controller {
 public:
  Controller(StateStore* store, HypervisorFactory connect);

  // Loads hosts and VMs from the store, connects to each host (an unreachable host is kept,
  // marked disconnected), rebuilds placement state, finishes interrupted operations, reconciles.
  Status Start();

  // Hosts. `request`: {"name","uri","housekeeping","allocatable"?,"physnets"?,"labels"?,
  // "reserved_memory_mib_per_node"?,"group_member_limit"?}.
  Result<nlohmann::json> AddHost(const nlohmann::json& request);
  Status RemoveHost(const std::string& name);
  Result<nlohmann::json> ListHosts();
  Result<nlohmann::json> ShowHost(const std::string& name);  // with the core map

  // VMs. `request` is a VM spec (placement_json.h) plus an optional "host".
  // On no fit: error kUnprocessable, and *no_fit says why per host and node.
  Result<nlohmann::json> CreateVm(const nlohmann::json& request, NoFit* no_fit);
  Status DeleteVm(const std::string& name);
  Result<nlohmann::json> ListVms();
  Result<nlohmann::json> ShowVm(const std::string& name);  // intended and actual pinning

  // Compares every host's domains with the store; records each difference as an event.
  Result<nlohmann::json> Reconcile();
  Result<nlohmann::json> Events(int64_t after_id, int limit);

 private:
  Result<ManagedHost*> FindHost(const std::string& name);
  Status LoadHost(const HostRecord& record);
  Status ResumeVm(const VmRecord& vm);
  // Reads back where the VM's threads may run (libvirt, and /proc when the host is local)
  // and compares with its assignment; differences are returned as text, empty when none.
  nlohmann::json ActualPinning(ManagedHost& host, const PlacedVm& vm, std::vector<std::string>* differences);
  // Forgets a VM whose create failed: store record, held pCPUs, and its domain if asked.
  void RollBackCreate(ManagedHost& host, const std::string& vm, bool destroy_domain);
  nlohmann::json ReconcileLocked();
  void Event(const std::string& kind, const std::string& subject, const std::string& message);

  std::mutex mu_;
  StateStore* store_;
  HypervisorFactory connect_;
  std::map<std::string, std::unique_ptr<ManagedHost>> hosts_;
};

}  // namespace corepin
