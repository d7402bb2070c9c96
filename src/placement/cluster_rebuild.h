// A scratch copy of a Cluster, for plans computed without touching the real one (defrag.h).
//
// The Cluster is not copyable (its hosts are owned through pointers and indexed by id), so the
// copy is rebuilt through its public API exactly as corepind rebuilds it at start: each host
// empty (topology, partition, labels, schedulable), each group with its members' assignments
// (RestoreGroup), then the healing reserve planned from scratch (Replan). The copy's reserve
// is therefore the one a restart would plan: the same guarantee, not necessarily the same pCPUs.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "placement/cluster.h"

namespace corepin {

struct RebuiltCluster {
  std::unique_ptr<Cluster> cluster;
  Status replan;  // Replan's answer: an error names protected VMs left without a healing target
};

// `moved`: VMs placed elsewhere in the copy (assignment.host says where). Fails when a
// group or an assignment does not restore (a moved VM clashes with what is on its new host).
Result<RebuiltCluster> RebuildCluster(const Cluster& c, const std::map<std::string, Assignment>& moved = {});

}  // namespace corepin
