// HealingReserve: exact pCPUs and memory held free so that after any k simultaneous host
// failures every lost VM of a protected group has a precomputed target: a host and an exact
// Assignment with the VM's own spec, that keeps its group's anti-affinity.
//
// The plan is kept per failure scenario (a set of at most k hosts). A host's reserve
// (HostState::reserve(), which Fit leaves alone) is what the scenarios' targets there take:
// the union of their pCPUs, the largest of their memory per node and page size, the largest of
// their member slots in existing shared groups. The planner fits a target into the reserve as
// its scenario leaves it before it takes new free pCPUs, so scenarios that cannot happen
// together share reserve pCPUs: with k = 1 a host holds what the worst single failure needs
// there, not the sum over failures.
//
// Healing targets may join a shared group that exists on their host (its member slots are
// then held) or create it on a reserve pCPU; two targets of one scenario never create the same
// group on one host, so a scenario's targets can be applied one by one in `seq` order.
//
// Cost: every set of at most k hosts that holds a protected VM is a scenario; that is n
// scenarios for k = 1, about n^2/2 for k = 2, so k >= 2 suits tens to hundreds of hosts
// (ClusterOptions::max_scenarios caps it).
//
// Owned and driven by Cluster (cluster.h); read it through Cluster::reserve().
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/assignment.h"
#include "placement/explain.h"
#include "placement/fit.h"

namespace corepin {

class Cluster;
struct ClusterHost;

using ScenarioKey = std::vector<int>;  // ids of the failed hosts, sorted

struct HealTarget {
  std::string vm;
  std::string from;       // the failed host it ran on
  std::string host;       // where it goes
  Assignment assignment;  // exactly where; assignment.host == host
  CpuSet pcpus;           // pCPUs of `host` it takes or keeps empty, with its shared groups' own
  int seq = 0;            // a scenario's targets are applied in this order
};

struct Scenario {
  ScenarioKey failed;
  std::map<std::string, HealTarget> targets;      // lost VM -> target
  std::map<std::string, std::string> unhealable;  // lost VM -> why (only after real failures or Replan)
  std::vector<const HealTarget*> Ordered() const;  // by seq
};

class HealingReserve {
 public:
  int k() const { return k_; }
  const std::map<ScenarioKey, Scenario>& scenarios() const { return scenarios_; }
  const Scenario* Find(const ScenarioKey& failed) const;
  size_t TargetCount() const;
  // (scenario, VM) pairs recorded unhealable: 0 while the guarantee is whole.
  size_t UnhealableCount() const { return unhealable_; }
  // What a host's reserve should be, recomputed from the plan (tests compare it with the host's).
  HostReserve Expected(int host_id) const;

 private:
  friend class Cluster;
  friend struct WhatIfPlanner;

  using MemKey = std::pair<int, uint64_t>;
  // What one scenario's targets take on one host.
  struct Use {
    std::vector<std::string> vms;
    CpuSet pcpus;
    std::map<MemKey, uint64_t> memory_mib;
    std::map<std::string, int> slots;  // shared group -> member slots
    std::map<std::string, int> group_pcpu;  // shared group -> its pCPU in these targets
  };
  struct HostPlan {
    std::map<ScenarioKey, Use> uses;
    std::vector<int> refs;                                 // pCPU -> scenarios whose targets take it
    std::map<MemKey, std::multiset<uint64_t>> memory;      // one entry per scenario
    std::map<std::string, std::multiset<int>> slots;       // one entry per scenario
  };
  struct UndoEntry {
    enum Kind { kAddedTarget, kRemovedTarget, kAddedUnhealable, kRemovedUnhealable } kind;
    ScenarioKey key;
    HealTarget target;     // kRemovedTarget
    std::string vm, why;   // the unhealable ones
  };
  // Where a scenario's targets are so far, for the search: committed or a what-if's scratch.
  using UseOf = std::function<const Use*(int host_id)>;

  // Finds and adds a target for `vm` in scenario `key`. When none exists: with `degrade`,
  // records the VM as unhealable there; otherwise fails (the refusal and search in *ex).
  Status PlanOne(Cluster& c, const ScenarioKey& key, const std::string& vm, Explanation* ex, bool degrade);
  // Plans targets for `vm` in every scenario where it is lost. On failure the caller rolls back.
  Status Protect(Cluster& c, const std::string& vm, Explanation* ex, bool degrade = false);
  // Tries again to plan what is recorded unhealable (capacity may have come back).
  void RetryUnhealable(Cluster& c);
  // After real failures moved VMs: re-plans the targets that no longer stand on `hosts` (the
  // failed ones and those that took VMs) and of `groups`, and plans the moved VMs; what cannot
  // be planned is recorded unhealable (and reported).
  Status AfterMoves(Cluster& c, const std::set<int>& hosts, const std::set<std::string>& groups, const std::vector<std::string>& moved);
  // Drops every target of `vm` (it is going away).
  void Forget(Cluster& c, const std::string& vm);
  // Re-plans the targets a new VM on `host_id` made invalid: those on that host that use a
  // shared group the VM just created there (normal fits respect the reserve, so nothing else
  // on the host can clash), and those of the members of its redundancy group `group`. With
  // `degrade`, what cannot be re-planned is recorded unhealable instead of failing.
  Status Repair(Cluster& c, int host_id, const std::set<std::string>& created, const std::string& group, Explanation* ex,
                bool degrade = false);
  // The plan from scratch. VMs without a target are recorded as unhealable and listed.
  void Rebuild(Cluster& c, std::map<std::string, std::string>* unhealable);  // VM -> why (first)
  // A new host (k >= 2: scenarios with it copy those without it); a host leaving or drained.
  void HostAdded(Cluster& c, int host_id);
  Status HostLeaving(Cluster& c, int host_id, bool removed, Explanation* ex);

  // Finds a target for `vm` (lost in `failed`) without changing anything. `planned` holds the
  // scenario's other targets. `prefer_reserve`: first try to fit inside existing reserves.
  Result<HealTarget> FindTarget(const Cluster& c, const ScenarioKey& failed, const std::string& vm,
                                const std::map<std::string, HealTarget>& planned, const UseOf& use_of, bool prefer_reserve,
                                SearchExplanation* ex) const;
  // Why target t cannot stand any more, or "" when it can.
  std::string Invalid(const Cluster& c, const ScenarioKey& failed, const HealTarget& t) const;

  // The scenarios in which a VM on host `host_id` is lost: every set of at most k hosts with it.
  std::vector<ScenarioKey> ScenariosWith(const Cluster& c, int host_id) const;

  // Drops these targets, then finds each a new one.
  Status Replace(Cluster& c, std::vector<std::pair<ScenarioKey, std::string>> targets, Explanation* ex, bool degrade = false);
  UseOf CommittedUse(const ScenarioKey& key) const;
  static void Accumulate(Use* u, const HealTarget& t);

  // Primitive changes; each is logged for RollbackTo.
  void AddTarget(Cluster& c, const ScenarioKey& key, HealTarget t, bool keep_seq);
  void RemoveTarget(Cluster& c, const ScenarioKey& key, const std::string& vm);
  void SetUnhealable(const ScenarioKey& key, const std::string& vm, const std::string& why);
  void ClearUnhealable(const ScenarioKey& key, const std::string& vm);
  void DropIfEmpty(const ScenarioKey& key);
  // Rebuilds a host's Use for a scenario from its targets, and the host's reserve.
  void Recount(Cluster& c, int host_id, const ScenarioKey& key);
  void PushReserve(Cluster& c, int host_id);

  size_t Mark() const { return undo_.size(); }
  void RollbackTo(Cluster& c, size_t mark);
  void Commit() { undo_.clear(); }

  static constexpr size_t kMaxSearchesKept = 8;  // healing searches kept in an explanation

  int k_ = 1;
  int next_seq_ = 0;
  std::map<ScenarioKey, Scenario> scenarios_;
  size_t unhealable_ = 0;
  std::map<int, HostPlan> hosts_;
  std::set<int> reserve_hosts_;  // hosts with a non-empty reserve
  std::vector<UndoEntry> undo_;
  bool logging_ = true;
};

}  // namespace corepin
