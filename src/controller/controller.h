// Controller: corepind's brain. It owns the placement model of every host (a Cluster: hosts,
// VMs, redundancy groups, the healing reserve), the state store, one hypervisor connection per
// host and the switch driver, and runs each operation intent-first:
//
//   1. check the request (4xx and nothing changed when it is wrong)
//   2. place (Cluster), then store the intent ("creating", with exact assignments)
//   3. act: define + start each domain with its pinning; program the switch
//   4. verify (pinning read back) and store the outcome ("running"); or undo 3 and 2
//
// A standalone VM is, inside the Cluster, a group of one ACT named after the VM that opted out
// of the healing reserve; VM and group names therefore share one namespace.
//
// Start() resumes what a crash interrupted and compares the store with what each hypervisor
// and the switch report (Reconcile). Every method is thread-safe; operations run one at a time.
//
// Views are returned as JSON, the shape the REST API serves (docs/api.md).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "controller/host_monitor.h"
#include "controller/managed_host.h"
#include "driver/hypervisor.h"
#include "driver/switch/switch_driver.h"
#include "placement/cluster.h"
#include "placement/fit.h"
#include "store/state_store.h"

namespace corepin {

using HypervisorFactory = std::function<Result<std::unique_ptr<Hypervisor>>(const std::string& uri)>;

struct ControllerOptions {
  int failures_tolerated = 1;       // k of the healing reserve
  RankWeights weights;              // how the scheduler ranks hosts (cluster.h)
  uint64_t seed = 1;                // ties between equal hosts are broken by a hash of this seed
  std::string switch_uri = "none";  // switch_driver.h: ovsdb:unix:PATH, ovsdb:tcp:HOST:PORT, none
  // Reconcile in the background every this many ms (0: only when asked), and at once when the
  // switch reports a port changed by hand.
  int reconcile_interval_ms = 0;
  // Probe every host's hypervisor every this many ms (0: no host monitor); a host silent for
  // probe_misses probes is suspected, and its BMC asked for its power state.
  int probe_interval_ms = 0;
  int probe_misses = 5;
};

// A placement that found no host: why, per host and NUMA node, and the full explanation.
struct NoFit {
  std::vector<Rejection> rejections;
  nlohmann::json explanation;
  void Fill(const GroupOutcome& outcome);  // from a refused placement
  std::string Summary() const;
};

class Controller {
 public:
  Controller(StateStore* store, HypervisorFactory connect, ControllerOptions options = {});
  ~Controller();  // stops the background reconcile

  // Loads hosts, groups and VMs from the store, connects to each host (an unreachable host is
  // kept, marked disconnected and unschedulable), rebuilds placement and the reserve plan,
  // finishes interrupted operations, reconciles. Fails if the switch URI is malformed or the
  // stored state breaks an invariant.
  Status Start();

  // Hosts. `request`: {"name","uri","housekeeping", ...host_config.h}.
  Result<nlohmann::json> AddHost(const nlohmann::json& request);
  Status RemoveHost(const std::string& name);
  Result<nlohmann::json> ListHosts();
  Result<nlohmann::json> ShowHost(const std::string& name);  // with the core map and reserve
  // The host's power as its BMC reports it (Unprocessable when it has none).
  Result<nlohmann::json> PowerStatus(const std::string& name);

  // Standalone VMs. `request` is a VM spec (placement_json.h) plus an optional "host".
  // On no fit: error kUnprocessable, and *no_fit says why per host and node.
  // The view returned carries "explanation" (how the host was chosen).
  Result<nlohmann::json> CreateVm(const nlohmann::json& request, NoFit* no_fit);
  Status DeleteVm(const std::string& name);
  Result<nlohmann::json> ListVms();
  Result<nlohmann::json> ShowVm(const std::string& name);  // intended and actual pinning

  // Redundancy groups (cluster_json.h request, plus optional "service":
  // {"vlan": 100, "parking_vlan": 4094, "interface": "svc"}).
  Result<nlohmann::json> CreateGroup(const nlohmann::json& request, NoFit* no_fit);
  Status DeleteGroup(const std::string& name);
  Result<nlohmann::json> ListGroups();
  Result<nlohmann::json> ShowGroup(const std::string& name);
  // Planned role change: {"to": SBY VM (default: the first SBY), "from": ACT VM (needed when
  // the group has several ACTs)}. The switch moves the service in one transaction.
  Result<nlohmann::json> Switchover(const std::string& group, const nlohmann::json& request);

  // What happens if these hosts fail: each affected VM's target host and pCPUs, and losses.
  Result<nlohmann::json> WhatIf(const std::vector<std::string>& failed_hosts);
  // The healing reserve per host, and k.
  Result<nlohmann::json> Reserve();

  // Compares every host's domains and the switch with the store; records each difference as
  // an event; puts switch ports changed by hand back.
  Result<nlohmann::json> Reconcile();
  Result<nlohmann::json> Events(int64_t after_id, int limit);

 private:
  struct Member {  // a placed VM to start: its record and role
    VmRecord record;
    std::string role;  // "ACT", "SBY" or ""
  };
  Result<ManagedHost*> FindHost(const std::string& name);
  const HostState& StateOf(const ManagedHost& h) const { return cluster_.FindHost(h.name)->state; }
  const PlacedVm* Placed(const std::string& vm) const;
  Status LoadHost(const HostRecord& record, std::unique_ptr<Hypervisor> connected = nullptr);
  void MarkReachable(ManagedHost& host, bool reachable);
  Status RestoreFromStore(std::vector<VmRecord>* interrupted_vms, std::vector<GroupRecord>* interrupted_groups);
  Status ResumeVm(const VmRecord& vm);
  Status ResumeGroup(const GroupRecord& group);
  // Starts the domains of placed VMs one by one, each verified; on a failure destroys the ones
  // it started and returns the error (the caller undoes placement and records).
  Status StartMembers(const std::vector<Member>& members);
  void ForgetVms(const std::vector<std::string>& vms, const std::string& cluster_group, bool destroy_domains);
  // Reads back where the VM's threads may run (libvirt, and /proc when the host is local)
  // and compares with its assignment; differences are returned as text, empty when none.
  nlohmann::json ActualPinning(ManagedHost& host, const PlacedVm& vm, std::vector<std::string>* differences);
  // Desired switch ports of every running group with a service, from the store.
  Result<std::vector<PortState>> DesiredPorts(const std::string& only_group = "");
  nlohmann::json ReconcileLocked();
  void Event(const std::string& kind, const std::string& subject, const std::string& message);
  void StartBackground();
  void BackgroundLoop();
  void Wake();
  void WatchHost(ManagedHost& host);  // when the background reconcile runs
  void OnHostChange(const std::string& host, bool suspected, std::chrono::milliseconds silent_for);
  // A VM whose domain stopped on its own is started again in place, with the same pinning,
  // unless it keeps crashing (kMaxRestarts within kRestartWindow): then an alarm, and it stays down.
  void RestartInPlace(ManagedHost& host, const PlacedVm& vm, nlohmann::json* diffs);
  static constexpr int kMaxRestarts = 3;
  static constexpr std::chrono::minutes kRestartWindow{10};
  std::map<std::string, std::vector<std::chrono::steady_clock::time_point>> restarts_;  // VM -> recent restarts

  std::mutex mu_;
  StateStore* store_;
  HypervisorFactory connect_;
  ControllerOptions options_;
  Cluster cluster_;
  std::unique_ptr<SwitchDriver> switch_;
  std::map<std::string, std::unique_ptr<ManagedHost>> hosts_;

  // Background reconcile: woken by its interval, by a hand change on the switch, or to stop.
  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool bg_stop_ = false, bg_wake_ = false;
  std::thread background_;
  std::unique_ptr<SwitchWatch> watch_;
  std::unique_ptr<HostMonitor> monitor_;  // last: destroyed first, its callbacks use the rest
};

}  // namespace corepin
