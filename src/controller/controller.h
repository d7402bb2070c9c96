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
#include <optional>
#include <thread>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "controller/heal_plan.h"
#include "controller/alarms.h"
#include "controller/event_feed.h"
#include "controller/host_monitor.h"
#include "controller/links.h"
#include "controller/managed_host.h"
#include "controller/metrics.h"
#include "driver/hypervisor.h"
#include "driver/switch/switch_driver.h"
#include "placement/cluster.h"
#include "placement/fit.h"
#include "controller/host_config.h"
#include "store/secret_box.h"
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
  // How long a fence may take before the healing stops and asks for a person.
  int fence_timeout_ms = 10000;
  // Testing only: exit(86) at this named point of a healing (e.g. "heal.promoted"), to prove
  // that a restarted corepind resumes it. Empty: never.
  std::string crash_point;
  // A VM whose pinning drifted (someone ran virsh vcpupin or emulatorpin) is re-pinned live to
  // its assignment by the reconcile (event vm.drift-repaired); without it an alarm.pinning-drift
  // event says what differs and how to repair it.
  bool repair_drift = false;
  // Seals secrets (BMC passwords) in the store; null keeps them as given (tests).
  const SecretBox* secrets = nullptr;
};

// A placement that found no host: why, per host and NUMA node, and the full explanation.
struct NoFit {
  std::vector<Rejection> rejections;
  nlohmann::json explanation;
  void Fill(const GroupOutcome& outcome);  // from a refused placement
  std::string Summary() const;
};

// Every pCPU a domain's vCPUs and emulator threads are pinned to.
CpuSet PinnedPcpus(const DomainInfo& domain);

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
  // Takes back a domain with corepin metadata that the state does not know ({"host": H}), as a
  // standalone VM with the pinning its metadata records (adopt.cc).
  Result<nlohmann::json> AdoptVm(const std::string& name, const nlohmann::json& body);
  // Live re-pin, no restart (controller_repin.cc): {"vcpus": {"0": 5}, "emulator": "3"} (vCPUs
  // not named keep their pCPU) or {"auto": true}. A layout placement refuses is kUnprocessable
  // with *no_fit naming each vCPU and pCPU, and nothing changes; a libvirt failure or a
  // read-back that differs puts the old pinning back. Returns the old and new pinning and what
  // libvirt and /proc report.
  Result<nlohmann::json> RepinVm(const std::string& name, const nlohmann::json& request, NoFit* no_fit);
  // New vCPU count, policies or memory ({"vcpus", "policy", "vcpu_policies", "smt", "emulator",
  // "memory_mib", "page_size"}): re-fitted on the same host (refused up front, nothing stopped,
  // when it does not fit), then the domain is stopped, redefined and started, and verified; any
  // failure restores the old VM running. Group members are refused (they share one spec).
  Result<nlohmann::json> ResizeVm(const std::string& name, const nlohmann::json& request, NoFit* no_fit);

  // Move to another host (controller_move.cc): {"host": "h2" (default: the best host its group
  // allows), "mode": "live" (default; the guest keeps running, libvirt migration with the
  // target's pinning in the destination XML) | "cold" (stopped, then started there),
  // "dry_run": false}. Placement refuses up front, changing nothing (no host, anti-affinity,
  // a failure domain, the healing reserve), with *no_fit saying why per host; a failure before
  // the VM left puts everything back. Stored as an operation (kind move) and finished after a
  // restart. Returns the VM's view with "moved": {from, to, mode, took_ms, operation}.
  Result<nlohmann::json> MoveVm(const std::string& name, const nlohmann::json& request, NoFit* no_fit);

  // Redundancy groups (cluster_json.h request, plus optional "service":
  // {"vlan": 100, "parking_vlan": 4094, "interface": "svc"}).
  Result<nlohmann::json> CreateGroup(const nlohmann::json& request, NoFit* no_fit);
  Status DeleteGroup(const std::string& name);
  Result<nlohmann::json> ListGroups();
  Result<nlohmann::json> ShowGroup(const std::string& name);
  // Planned role change: {"to": SBY VM (default: the first SBY), "from": ACT VM (needed when
  // the group has several ACTs)}. The switch moves the service in one transaction.
  Result<nlohmann::json> Switchover(const std::string& group, const nlohmann::json& request);

  // Maintenance (drain.cc). Drain: every VM off the host within all constraints, onto the
  // healing reserve's targets (exact pCPUs); groups whose ACT is there switch over first, then
  // each VM is moved (stopped here, started there, verified), SBYs first. Refused up front,
  // changing nothing, when a VM could not go anywhere. {"dry_run": true} only shows the plan.
  // Runs in the background as an operation (kind drain) whose progress GET /v1/operations/{name}
  // shows; corepind restarted resumes it, and draining a draining host resumes a stopped drain.
  Result<nlohmann::json> Drain(const std::string& host, const nlohmann::json& request);
  // A drained host takes work again (its former VMs stay where they went).
  Result<nlohmann::json> Undrain(const std::string& host);
  // Long operations (healings, drains): every one, or one by name. Read from the store only, so
  // that progress can be followed while the operation holds the controller.
  Result<nlohmann::json> Operations();
  Result<nlohmann::json> ShowOperation(const std::string& name);

  // What happens if these hosts fail: each affected VM's target host and pCPUs, and losses.
  Result<nlohmann::json> WhatIf(const std::vector<std::string>& failed_hosts);
  // The healing reserve per host, and k.
  Result<nlohmann::json> Reserve();

  // Linking (controller_links.cc, links.h, depends.h): a VM down to pCPUs, cores, nodes,
  // ports, host, BMC and group peers; the VMs and groups that depend on a piece of hardware and
  // what would lose redundancy if it failed (`query`: the parameters of GET /v1/depends).
  Result<nlohmann::json> VmLinks(const std::string& vm);
  Result<nlohmann::json> Depends(const std::map<std::string, std::string>& query);
  // A defragmentation plan (placement/defrag.h), computed on a scratch copy: {"apply": false,
  // "max_moves": 16, "mode": "live"}. With apply: true each move is made in order on the real
  // cluster (controller_defrag.cc): a live re-pin on the VM's host, or a move (live, or cold
  // when asked) to the planned pCPUs of another; the first refused or failed move stops the
  // rest ("stopped" says why), and "applied" lists those made, each complete.
  Result<nlohmann::json> Defrag(const nlohmann::json& request);

  // Compares every host's domains and the switch with the store; records each difference as
  // an event; puts switch ports changed by hand back.
  Result<nlohmann::json> Reconcile();
  Result<nlohmann::json> Events(int64_t after_id, int limit);

  // Healing (healing.cc). A host the monitor suspects is fenced through its BMC, then its
  // groups' SBYs are promoted and its VMs recreated on their reserved pCPUs; every step is
  // stored first (an "operations" record of kind heal) and resumed after a restart.
  // The healings, newest last, each with its plan, step and timeline.
  Result<nlohmann::json> Healings();
  // The operator confirms that a host is powered off (its BMC could not say so, or it has
  // none): the host is healed from there. Conflict when the host answers.
  Result<nlohmann::json> ConfirmFenced(const std::string& host);
  // The operator returns a failed host to service: stale copies of VMs that now run elsewhere,
  // and of lost VMs, are removed from it, and it takes new work; then every lost VM is placed
  // anew under its group's rules (PlaceLostVms), on its old host first when they allow it.
  Result<nlohmann::json> ReturnHost(const std::string& host);
  // Observability (controller_obs.cc, metrics.cc).
  // Wakes followers of the event log (GET /v1/events/stream) on each new event.
  EventFeed& event_feed() { return feed_; }
  // Active alarms (alarms.h), oldest first: [{"id","unix_ms","kind","subject","message"}].
  Result<nlohmann::json> Alarms();
  // Records an alarm.cleared event for the active alarm (kind, subject); NotFound when there is
  // none. Returns the cleared alarm.
  Result<nlohmann::json> ClearAlarm(const std::string& kind, const std::string& subject);
  // Per-vCPU CPU time, last pCPU and delay of a running VM, beside its intended pCPUs.
  Result<nlohmann::json> VmStats(const std::string& name);
  // Everything /metrics serves. Hosts whose hypervisor is unreachable or suspected are not asked.
  Result<std::vector<MetricFamily>> Metrics();

 private:
  struct Member {  // a placed VM to start: its record and role
    VmRecord record;
    std::string role;  // "ACT", "SBY" or ""
  };
  // The corepin metadata a VM's domain carries: its name, host, spec and assignment.
  static nlohmann::json DomainMetadata(const VmRecord& record);
  static std::string Joined(const std::vector<std::string>& differences);  // "; a; b", or ""
  Result<ManagedHost*> FindHost(const std::string& name);
  LinkFacts LinkFactsLocked();  // hosts' URIs, BMCs, bridges; groups' service networks
  const HostState& StateOf(const ManagedHost& h) const { return cluster_.FindHost(h.name)->state; }
  const PlacedVm* Placed(const std::string& vm) const;
  // "group" and "role" of a group member, placed or lost; nothing for a standalone VM.
  void AddGroupAndRole(const std::string& vm, nlohmann::json* view) const;
  // The reason a VM stored lost is recorded lost with in the model, at start.
  static std::string StoredLossReason(const VmRecord& vm);
  // A VM lost beyond the reserve keeps no place (Cluster's LostMember). When capacity returns
  // (a host returned or added: `why`), each lost VM is placed anew under its group's rules
  // (Cluster::PlaceLost: never on a host or failure-domain value of another member) and started
  // there; one that no host qualifies for, or that does not start, stays lost, placed nowhere,
  // with an alarm.vm-lost that says why and what to do. Returns {"restarted": [VM],
  // "still_lost": [{"vm", "reason"}]}.
  nlohmann::json PlaceLostVms(const std::string& why);
  // Starts lost `rec` where PlaceLost put it and stores it running there (with its group's
  // member host); on failure the model records it lost again. Returns why it failed, or "".
  std::string StartPlacedLost(VmRecord rec, const MemberPlacement& placed);
  Status LoadHost(const HostRecord& record, std::unique_ptr<Hypervisor> connected = nullptr);
  void UpdateSchedulable(ManagedHost& host);
  Status RestoreFromStore(std::vector<VmRecord>* interrupted_vms, std::vector<GroupRecord>* interrupted_groups);
  Status ResumeVm(const VmRecord& vm);
  Status ResumeRepin(const VmRecord& vm);   // completes it: the stored (new) pinning is applied again
  Status ResumeResize(const VmRecord& vm);  // completes it: the domain runs with the stored (new) spec
  // Pins the VM's domain live and persistently as its placed assignment says, with `record` as
  // its metadata, and reads it back (ActualPinning); Unavailable naming the differences.
  Result<nlohmann::json> ApplyPinning(ManagedHost& host, const VmRecord& record);
  // A live re-pin of a running VM to `next` (on its host), placement's fit already done: the
  // model, the intent stored, libvirt, verified; everything put back on a failure.
  Result<nlohmann::json> RepinLocked(const VmRecord& record, const Assignment& next);
  // A running VM whose pinning differs from its assignment (`actual`: ActualPinning's view):
  // repaired live under options_.repair_drift, an alarm otherwise; noted in *report. Memory on
  // other NUMA nodes than its record's is never repaired live (a re-pin does not move memory):
  // an alarm says how.
  void HandleDrift(ManagedHost& host, const PlacedVm& vm, const nlohmann::json& actual, const std::vector<std::string>& differences,
                   nlohmann::json* report);
  // Clears the VM's alarm.pinning-drift, if active, once its pinning was applied and verified.
  void ClearDriftAlarm(const std::string& vm, const std::string& why);
  // Clears alarm `kind` of `subject`, if active (an alarm.cleared event saying `why`).
  void ClearAlarm(const std::string& kind, const std::string& subject, const std::string& why);
  // The reserve's alarm follows its plan, as the metric corepin_reserve_degraded does: cleared
  // once the reserve covers k failures again (after an undrain, a return, a healing, a
  // reconcile).
  void ClearReserveAlarmIfWhole(const std::string& why);
  Status ResumeGroup(const GroupRecord& group);
  // The group (as given) and every member still creating become running, in one transaction.
  // A host's configuration as stored (the BMC URI sealed), and back.
  nlohmann::json StoredHostConfig(const HostConfig& cfg) const;
  Result<nlohmann::json> HostConfigFromStored(const std::string& config_json) const;
  // Compares the hypervisor's CPU layout with the stored one (on a new connection): a difference
  // takes the host out of placement with alarm.topology-changed.
  void CheckCpuLayout(ManagedHost& host);
  // Records the host's unknown corepin domains (adopt.cc): alarms new ones, clears gone ones,
  // and takes the host out of placement while any is there.
  void SetUnknownDomains(ManagedHost& host, std::map<std::string, std::string> unknown);
  Status MarkGroupRunning(const GroupRecord& group, const std::vector<std::string>& members);
  // VMs with interfaces need their host's bridge (domain_xml.h): checked once placed, before
  // anything is stored or started, so that the refusal is a 422 that changed nothing.
  Status CheckBridges(const VmSpec& spec, const std::vector<MemberPlacement>& placed);
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
  // Healing steps (healing.cc); each stores its outcome in the operation before the next.
  void HealLoop();
  void QueueHeal(const std::string& host);
  // Returns the healing's name (an unfinished one already covering a host is not doubled),
  // or "" when it could not be recorded.
  std::string StartHealing(const std::vector<std::string>& hosts, bool fenced_by_operator);
  void ResumeHealings();
  // The host answers again: a healing that stopped before changing anything (no fence) is
  // called off.
  void CancelStoppedHealings(const std::string& host);  // at Start: every unfinished, not stopped healing, from its step
  void RunHealing(OperationRecord op);  // from its stored step to done, or to a safe stop
  bool FenceStep(OperationRecord& op, nlohmann::json& body);
  // Before the plan: other hosts not answering get a bounded wait; those suspected join this
  // healing (stored back at step fencing). false: the healing stopped.
  bool JoinStep(OperationRecord& op, nlohmann::json& body);
  bool PlanStep(OperationRecord& op, nlohmann::json& body);
  void PromoteStep(OperationRecord& op, nlohmann::json& body);
  void RecreateStep(OperationRecord& op, nlohmann::json& body);
  void FinishStep(OperationRecord& op, nlohmann::json& body);
  Status SaveStep(OperationRecord& op, const nlohmann::json& body, const std::string& step);
  void StopHealing(OperationRecord& op, nlohmann::json& body, const std::string& alarm, const std::string& message);
  void CrashPoint(const std::string& name);
  Result<nlohmann::json> SwitchoverLocked(const std::string& group, const nlohmann::json& request);
  // Drains (drain.cc), run by the worker thread one step at a time, the lock taken per step.
  void WorkLoop();
  void QueueOperation(const std::string& name);
  bool DrainStep(const std::string& name);  // one step; false when the drain is over or stopped
  void ResumeDrains();
  // Before a healing of `failed` plans: drains touching those hosts are made consistent with it
  // (VMs recorded on a failed target ahead of their step but still running on the draining
  // host go back there, and the drain stops to be planned again; a failed draining host's
  // stopped drain goes on, starting its VMs on their targets).
  void SettleDrainsFor(const std::vector<std::string>& failed);
  // Shared by healing and drain (healing.cc): where the VMs of these hosts go (the reserve's
  // targets), stored at once with the hosts' new state; and a moved VM made to run on its target.
  Result<HealPlan> PlanMoves(const std::vector<std::string>& hosts);
  Status StoreMoves(const HealPlan& plan, std::string_view host_state, std::string_view vm_state, OperationRecord& op,
                    const nlohmann::json& body, const std::string& next_step);
  // StoreMoves' one transaction alone (the records follow the plan; the model is left as it is).
  Status WritePlan(const HealPlan& plan, std::string_view host_state, std::string_view vm_state, OperationRecord& op,
                   const nlohmann::json& body, const std::string& next_step);
  // `role`: the guest's {role} ("ACT", "SBY", "" outside a group); by default the move's role.
  Status EnsureOnTarget(const HealMove& move, VmRecord record, std::optional<std::string> role = std::nullopt);
  // Moves (controller_move.cc), with mu_ held: `to` empty lets placement choose; `why` goes
  // into the events; `exact`: the pCPUs to take on `to` (a defrag plan's) instead of placement's
  // choice (the model still checks them). FinishMove verifies the VM on its target and closes
  // the operation.
  Result<nlohmann::json> MoveLocked(const std::string& vm, const std::string& to, bool live, bool dry_run, const std::string& why,
                                    NoFit* no_fit, const Assignment* exact = nullptr);
  Result<nlohmann::json> FinishMove(OperationRecord& op, nlohmann::json& body, int64_t took_ms);
  void ResumeMoves();
  // A healing goes before a maintenance move: the live migrations running now (each holds mu_
  // for its seconds) are cancelled, without mu_, so that the healer gets it at once. The guests
  // stay on their sources and the moves roll back; `why` goes into their answers. A migration
  // from one of `failed_hosts` is not asked (its host is gone): it fails on its own.
  void CancelLiveMoves(const std::vector<std::string>& failed_hosts, const std::string& why);
  // The live migration of a move or a drain step: VM `record` (in `group`, with `role`), placed
  // on `target` in the model already, from `source`, with the target's definition; registered
  // in live_moves_ so that CancelLiveMoves can stop it (the error then says why).
  Status MigrateLocked(ManagedHost& source, ManagedHost& target, const VmRecord& record, const std::string& group, Role role);
  struct LiveMove {
    std::string from, to;
    std::shared_ptr<Hypervisor> source;
    std::string cancelled;  // why, once CancelLiveMoves asked
  };
  std::mutex live_moves_mu_;                      // taken alone, or after mu_; never before it
  std::map<std::string, LiveMove> live_moves_;    // VM -> its running live migration
  // A VM whose domain stopped on its own is started again in place, with the same pinning,
  // unless it keeps crashing (kMaxRestarts within kRestartWindow): then an alarm, and it is moved
  // to another host (cold); when nothing can take it, it stays down.
  // A crash-looping VM's name goes into *crash_looping: the caller moves it to another host.
  void RestartInPlace(ManagedHost& host, const PlacedVm& vm, nlohmann::json* diffs, std::vector<std::string>* crash_looping);
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
  // Healing: hosts the monitor suspects, taken one at a time by the healer thread.
  std::mutex heal_mu_;
  std::condition_variable heal_cv_;
  std::vector<std::string> heal_queue_;
  std::vector<std::string> heal_resume_;  // healings (by name) to go on with: a host left them
  bool heal_stop_ = false;
  std::thread healer_;
  std::vector<std::string> work_queue_;  // operations for the worker (drains), under heal_mu_
  std::thread worker_;
  // The event log's followers, and the alarms folded from it up to alarms_.last_id().
  EventFeed feed_;
  std::mutex alarms_mu_;
  AlarmBook alarms_;
  Status CatchUpAlarms();  // with alarms_mu_ held
  bool HostUp(const ManagedHost& h) const;  // connected, not suspected, answering the monitor's probes

  std::unique_ptr<HostMonitor> monitor_;  // last: destroyed first, its callbacks use the rest
};

}  // namespace corepin
