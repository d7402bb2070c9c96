// Scheduler: filter -> rank -> select over the per-host fit, for one VM of a group.
//
//   filter: not the VM's own host (a move), schedulable, the requested host if any,
//           anti-affinity with the group's other members (host and every failure-domain
//           label the group names), then Fit (which leaves the healing reserve alone) with
//           its per-node reasons;
//   rank:   weighted parts in [0, 1] (RankWeights): NIC locality, best-fit packing, ACT spread;
//   select: best score first; ties broken by a hash of (seed, host), so a seed fixes the order.
//
// Hosts are examined in a rotation that starts at a seeded hash of the VM's name. The filters
// and a capacity estimate (free pCPUs outside the reserve) run until max_candidates hosts pass
// (Nomad's limit); those are ordered by an estimated score, and the best max_fits of them that
// the exact Fit accepts are scored exactly. So a search costs about the same on 100 and on
// 10,000 hosts. Every rejection is counted by reason in the SearchExplanation; hosts that
// passed the estimate but were not fitted are neither feasible nor rejected.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "placement/cluster.h"
#include "placement/explain.h"

namespace corepin {

// What a host must satisfy besides the fit.
struct HostFilter {
  std::set<int> avoid_hosts;                                   // host ids of the other members
  std::vector<std::string> domains;                            // label keys a host must have
  std::map<std::string, std::set<std::string>> avoid_values;   // key -> values the other members have
  std::string only_host;                                       // the member asked for this host
  int own_host = -1;                                           // a move: the VM's current host, never a candidate
};

struct Candidate {
  const ClusterHost* host = nullptr;
  Assignment assignment;
  ScoredHost score;
};

// Feasible hosts for `spec` with exact assignments, best first (at most max_fits).
std::vector<Candidate> RankHosts(const Cluster& c, const VmSpec& spec, Role role, const HostFilter& filter,
                                 SearchExplanation* ex);

// The filter part alone: the reason class (explain.h) that rules the host out, or "".
const char* FilterHost(const ClusterHost& h, const HostFilter& f);
// The ranking part alone, for an accepted fit.
ScoredHost ScoreHost(const Cluster& c, const ClusterHost& h, const VmSpec& spec, Role role, const Assignment& a);
// pCPUs an assignment would newly hold on the host: its own, its siblings kept empty, the
// pCPUs of the shared groups it creates.
CpuSet NewlyHeld(const HostState& hs, const Assignment& a);
// A stable 64-bit hash for seeded rotations and tie breaks.
uint64_t SeededHash(uint64_t seed, const std::string& s);

}  // namespace corepin
