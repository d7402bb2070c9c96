// Cluster: every host placement knows of, with its labels (failure domains such as rack or
// power, and anything else), the redundancy groups placed on them (redundancy.h), and the
// healing reserve that keeps those groups safe from k simultaneous host failures (reserve.h).
//
// Pure and in memory, like HostState: no I/O. The controller owns one Cluster; at start it
// calls AddHost for each host, RestoreGroup for each stored group, then Replan; then
// PlaceGroup / DeleteGroup as requests come, and WhatIf (whatif.h) to answer "what if these
// hosts fail". Not thread-safe: the caller serializes.
//
// PlaceGroup is all-or-nothing: either every member has a host and exact pCPUs, and every
// protected VM (old and new) still has a precomputed healing target for any k host failures,
// or nothing changed, and the outcome says why with numbers. Either way the outcome carries an
// Explanation (explain.h). Deterministic: the same options (seed) and the same sequence of
// calls give the same placements.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "placement/explain.h"
#include "placement/host_state.h"
#include "placement/redundancy.h"
#include "placement/reserve.h"

namespace corepin {

struct WhatIfReport;  // whatif.h
struct HostFilter;    // scheduler.h
struct Candidate;     // scheduler.h
using Labels = std::map<std::string, std::string>;

struct ClusterHost {
  int id = -1;  // stable and never reused; failure scenarios are keyed by it
  std::string name;
  Labels labels;
  bool schedulable = true;  // false: no new VMs and no healing targets (draining, failed)
  HostState state;
  std::set<int> nic_nodes;  // NUMA nodes of the host's physnet NICs (all NICs if it has no physnet)
  int acts = 0;             // ACT members placed here
};

// Ranking weights (scheduler.h); each part scores a host in [0, 1].
struct RankWeights {
  double nic = 1.0;     // keeps NIC-local pCPUs for VMs that name a NIC or physnet
  double pack = 1.0;    // best fit: fuller hosts first, so whole hosts stay free
  double spread = 0.5;  // ACTs of different groups on different hosts
};

struct ClusterOptions {
  int failures_tolerated = 1;   // k: the reserve covers any k simultaneous host failures
  RankWeights weights;
  uint64_t seed = 1;
  int max_candidates = 32;      // hosts that pass the filters and a capacity estimate, per search (Nomad's limit); 0: all
  int max_fits = 8;             // of those, the best estimates get an exact Fit and are ranked; 0: all
  int max_admission_tries = 4;  // candidates tried, best first, when the reserve refuses one
  size_t max_scenarios = 200000;
};

struct MemberPlacement {
  std::string vm;
  Role role = Role::kAct;
  Assignment assignment;
};

// A new member's precomputed healing target in one failure scenario.
struct PlannedHeal {
  std::vector<std::string> failed;  // host names
  HealTarget target;
};

// A member lost beyond the reserve: a failure found no host its group's rules allow
// (Cluster::FailHosts). It keeps no place: it is on no host, holds no pCPUs and no healing
// targets, and bounds no other member (anti-affinity and domains count only placed members),
// so it never blocks the others' healing. Cluster::PlaceLost places it anew under the group's
// rules; until then it stays lost.
struct LostMember {
  std::string vm;
  std::string group;
  Role role = Role::kAct;
  std::string from;    // the host it ran on: tried first when it is placed anew
  std::string reason;  // why it is lost
};

struct GroupOutcome {
  Status status;                         // why it was refused; nothing changed then
  std::vector<MemberPlacement> placed;   // one per member, ACTs first
  std::vector<PlannedHeal> heals;        // the new members' healing targets
  Explanation explanation;
  bool ok() const { return status.ok(); }
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions options = {});
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const ClusterOptions& options() const { return opts_; }
  void SetWeights(const RankWeights& w) { opts_.weights = w; }

  // Hosts. AddHost refuses a duplicate name; RemoveHost a host that holds VMs, or whose
  // reserve cannot move elsewhere; SetSchedulable(false) (drain, failure) moves the host's
  // healing targets elsewhere and keeps new VMs off it.
  Status AddHost(HostState state, Labels labels = {});
  Status RemoveHost(const std::string& name);
  Status SetSchedulable(const std::string& name, bool schedulable);
  const ClusterHost* FindHost(const std::string& name) const;
  const ClusterHost* HostById(int id) const;
  const std::vector<ClusterHost*>& hosts() const { return order_; }  // by name
  // Hosts with label `key`, by value.
  std::map<std::string, int> LabelValues(const std::string& key) const;

  // Groups.
  GroupOutcome PlaceGroup(const GroupRequest& request);
  Status DeleteGroup(const std::string& name);
  // Records a stored group with its members' stored assignments, without a fit or a plan;
  // call Replan after the last one. Members named in `lost` (VM -> reason) are recorded lost
  // (LostMember, from their stored host) and need no assignment.
  Status RestoreGroup(const RedundancyGroup& group, const std::map<std::string, Assignment>& assignments,
                      const std::map<std::string, std::string>& lost = {});
  // A planned role change (switchover): `new_act`, a SBY of the group, becomes ACT, and
  // `old_act`, an ACT, becomes SBY. Placements and the reserve are unchanged (a SBY has the
  // ACT's spec); only roles and the ACT spread count move.
  Status SwapRoles(const std::string& group, const std::string& new_act, const std::string& old_act);
  // Gives a placed VM a new assignment on the same host (a re-pin), and a new spec (a resize)
  // when it is its group's only member (members share one spec). Targets of the healing
  // reserve that the change invalidates are re-planned; when that fails, or the assignment
  // does not apply, nothing changes. The caller fits first (repin.h: FitRepin, FitInPlace).
  Status Reassign(const std::string& vm, const VmSpec& spec, const Assignment& assignment);
  // Moving a placed VM to another host (a cold or live migration the controller performs).
  // PlanMove: where VM `vm` would go if moved off its host: to host `to`, or (to empty) the best
  // host the scheduler ranks (RankHosts, scheduler.h) among those its redundancy group allows:
  // never its own host, never a host of another member of its group (anti-affinity), never a
  // failure-domain value (the group's domains labels, e.g. rack) another member has;
  // unschedulable hosts refused. The fit is the ordinary one (it leaves the healing reserve
  // alone); whether the reserve can be kept is MoveVm's to say. Pure: nothing changes. On
  // refusal: Unprocessable whose message says why (naming the member in the way, or the fit's
  // per-node reasons), and *ex (may be null) carries the search with per-host rejection reasons
  // (purpose "move"). NotFound for an unknown VM or host.
  Result<Assignment> PlanMove(const std::string& vm, const std::string& to, SearchExplanation* ex) const;
  // Records a move planned by PlanMove (assignment.host names the new host): the VM leaves its
  // host and holds `assignment` there, keeping its group, role (and place among the members) and
  // spec; then the healing reserve is re-planned around it (targets the new pCPUs or the
  // anti-affinity invalidate, the VM's own targets for the scenarios where its new host fails;
  // a VM recorded unhealable before may stay so). When the reserve cannot keep every protected VM
  // healable, the assignment does not apply, or the host breaks the group's anti-affinity or
  // domains, nothing changes and Unprocessable says why. The host may be unschedulable and the
  // assignment may take reserve pCPUs (their targets move): so a move can be undone with the
  // VM's old assignment after a failed migration. NotFound for an unknown VM or host; Invalid
  // for the VM's own host (a re-pin is Reassign).
  // With `record_fact` the move already happened (a VM back on its source after a failed or
  // cancelled migration, or a drain's VM put back where it still runs): the group's rules are
  // still checked, but a reserve that cannot be kept is re-planned from scratch with the VMs it
  // cannot cover recorded unhealable (the guarantee degraded, as after FailHosts) instead of
  // refusing.
  Status MoveVm(const std::string& vm, const Assignment& assignment, bool record_fact = false);
  const RedundancyGroup* FindGroup(const std::string& name) const;
  const std::map<std::string, RedundancyGroup>& groups() const { return groups_; }
  struct VmLocation {
    std::string group;
    int host = -1;  // host id
  };
  const VmLocation* FindVm(const std::string& vm) const;

  // Members lost beyond the reserve, by VM name (LostMember). A lost member is in its group's
  // name space (no VM may take its name) but not in RedundancyGroup::members, which lists the
  // placed ones; a group may have none placed.
  const std::map<std::string, LostMember>& lost() const { return lost_; }
  // Places lost member `vm` anew under its group's rules, as PlaceGroup places a member: never
  // on a host or a failure-domain value of another member, on a schedulable host, with the
  // ordinary fit (the reserve left alone). Its old host comes first when those rules allow it,
  // then the best host RankHosts gives. A candidate that keeps every protected VM healable is
  // preferred; when none of the best max_admission_tries does, the best is taken with the
  // guarantee degraded (what cannot be planned is recorded unhealable, as after FailHosts): a
  // member running again is worth more than a target for a further failure. When no host
  // qualifies the member stays lost, and Unprocessable says why (*ex, may be null: the search).
  // NotFound when `vm` is not lost.
  Result<MemberPlacement> PlaceLost(const std::string& vm, SearchExplanation* ex = nullptr);
  // Records placed member `vm` lost: it leaves its host with its healing targets (the caller
  // could not start a member PlaceLost placed). NotFound when `vm` is not placed.
  Status LoseMember(const std::string& vm, const std::string& reason);

  // The healing reserve.
  const HealingReserve& reserve() const { return reserve_; }
  int failures_tolerated() const { return reserve_.k(); }
  // Replans for a new k; refuses, changing nothing, when the cluster cannot carry it.
  Status SetFailuresTolerated(int k);
  // Rebuilds the plan from scratch. Protected VMs left without a target (after real failures,
  // or a restore) are recorded in their scenario as unhealable and named in the error.
  Status Replan();
  Result<ScenarioKey> KeyOf(const std::vector<std::string>& host_names) const;
  std::vector<std::string> NamesOf(const ScenarioKey& key) const;

  // Records that these hosts failed (after fencing): they become unschedulable, and every VM
  // on them that WhatIf gives a target moves there in the model, in order; VMs nothing can take
  // are recorded lost (LostMember: they keep no place, see lost()). The reserve is then
  // re-planned around the new layout; what cannot be planned any more is recorded unhealable in
  // its scenario (the guarantee is degraded until capacity returns: AddHost,
  // SetSchedulable(true) and DeleteGroup try again).
  // Returns the report of what moved (whatif.h).
  Result<WhatIfReport> FailHosts(const std::vector<std::string>& host_names);

  // Every rule, from scratch: each host's invariants, anti-affinity and domains of every
  // group (among its placed members), the index, lost members placed nowhere, each host's
  // reserve equal to what the plan needs, every target valid.
  Status Check() const;

 private:
  friend class HealingReserve;

  ClusterHost* Host(int id);
  Status ApplyVm(ClusterHost& h, const std::string& group, Role role, const VmSpec& spec, const Assignment& a);
  void ReleaseVm(const std::string& vm);
  // Refuses a group the cluster cannot hold whatever the placement: domains no host has, too
  // few hosts or domain values.
  Status CheckGroupFeasible(const GroupRequest& req) const;
  void DropGroup(const std::string& name);  // members already released; its lost members go too
  // Takes placed member `vm` out of the model (targets, host) and records it lost.
  void Lose(const std::string& vm, const std::string& reason);
  // Anti-affinity and domains with the group's placed members, for placing one more.
  HostFilter MemberFilter(const RedundancyGroup& g) const;
  // Puts lost `vm` on candidate `cand` with its targets; the caller rolls back a failure.
  Status AdmitLost(const LostMember& lost, const Candidate& cand, bool degrade);

  ClusterOptions opts_;
  std::map<std::string, std::unique_ptr<ClusterHost>> by_name_;
  std::map<int, ClusterHost*> by_id_;
  std::vector<ClusterHost*> order_;                              // by name
  std::map<std::string, std::map<std::string, int>> labels_;     // key -> value -> hosts
  std::map<std::string, RedundancyGroup> groups_;
  std::map<std::string, VmLocation> vms_;
  std::map<std::string, LostMember> lost_;
  HealingReserve reserve_;
  int next_host_id_ = 0;
  int schedulable_ = 0;  // hosts with schedulable set
};

}  // namespace corepin
