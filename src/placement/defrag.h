// Defragmentation plan: VM moves that free whole physical cores and, where possible, whole NUMA
// nodes, computed on scratch copies; the Cluster given is not changed.
//
// Fragmentation, per host, counts what VMs hold (the healing reserve counts as free: it is held
// for healing, not by a VM, and is re-planned around the moves):
//   - free core: every pCPU of the core is allocatable and held by no VM;
//   - free node: every allocatable pCPU of the node is held by no VM;
//   - stranded pCPU: a free allocatable pCPU whose core has a sibling held (by a VM, or
//     housekeeping): only a VM under `smt: prefer` can use it.
//
// Greedy, one move at a time, at most `max_moves`, each VM at most once:
//   1. candidates: the VMs whose departure would free the most cores of their host (at most
//      `max_candidates`, most first), on schedulable hosts (drained and failed ones are left alone);
//   2. each candidate is taken off its host and fitted again with the ordinary Fit (fit.h: best
//      fit per node, partly used cores first), on its own host first, then on the fullest other
//      hosts (at most `max_target_hosts`) its group's anti-affinity and failure domains allow.
//      Fit leaves the healing reserve alone. On its own host the move is made as a live re-pin,
//      which does not move memory: only a fit that keeps the memory's NUMA nodes is taken there
//      (FitRepin's automatic fit, repin.h); a VM whose memory should go to another node moves
//      to another host, or stays;
//   3. the move that gains the most wins: free cores + 8 x free nodes over the two hosts, then
//      fewer stranded pCPUs; a move must gain a core or a node and lose neither;
//   4. stop when no move gains.
// The result is then rebuilt as a Cluster (cluster_rebuild.h: the reserve re-planned from
// scratch) and must pass Cluster::Check with no more unhealable VMs than before; otherwise the
// last moves are dropped until it does.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "placement/cluster.h"

namespace corepin {

struct DefragOptions {
  int max_moves = 16;
  int max_candidates = 16;    // VMs evaluated per move
  int max_target_hosts = 8;   // other hosts tried per VM, fullest first
};

struct Fragmentation {
  std::string host;
  int free_pcpus = 0;  // allocatable and held by no VM (reserve included)
  int stranded = 0;
  int free_cores = 0;
  int free_nodes = 0;
  int reserve = 0;     // pCPUs of the healing reserve
  Fragmentation& operator+=(const Fragmentation& o);
};
Fragmentation MeasureFragmentation(const HostState& s);

struct DefragMove {
  std::string vm;
  std::string group;  // its group in the Cluster (a standalone VM's own name)
  Assignment from, to;
  int cores_freed = 0;  // net, over both hosts
  int nodes_freed = 0;
  int stranded_delta = 0;  // after - before, over both hosts
  std::vector<std::string> frees;  // "h1 core 5 of socket 0 (pCPUs 5,69)", "h1 node 1"
  std::vector<std::string> takes;  // whole cores/nodes it takes on its new host
};

struct DefragPlan {
  std::vector<DefragMove> moves;
  std::vector<Fragmentation> before, after;  // per host, by name
  Fragmentation total_before, total_after;
  std::vector<std::string> notes;            // moves dropped by the final check, and why
  std::unique_ptr<Cluster> result;           // the scratch cluster after the moves, checked
};

// Fails only when the cluster cannot be rebuilt at all (Internal).
Result<DefragPlan> PlanDefrag(const Cluster& c, const DefragOptions& options = {});

}  // namespace corepin
