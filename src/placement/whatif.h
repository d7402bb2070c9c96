// What-if: "what happens if these hosts fail?", answered exactly from the healing plan.
//
// For each VM on the failed hosts: its target host and exact pCPUs, in the order to apply
// them. Within the guarantee (at most k hosts) protected VMs get their precomputed targets.
// Beyond it, and for groups that opted out of the reserve, targets are searched now in what
// is free (best effort, `precomputed` false). What no host can take is listed with the reason.
// Changes nothing.
#pragma once

#include <string>
#include <vector>

#include "placement/cluster.h"

namespace corepin {

struct WhatIfMove {
  std::string vm;
  std::string group;
  Role role = Role::kAct;
  std::string from;
  std::string to;
  Assignment assignment;
  bool precomputed = false;  // from the reserve plan; false: found now in free capacity
};

struct WhatIfLoss {
  std::string vm;
  std::string group;
  Role role = Role::kAct;
  std::string from;
  std::string reason;
};

struct WhatIfReport {
  std::vector<std::string> failed;
  int k = 0;
  bool within_guarantee = false;  // at most k hosts, and every protected VM had a precomputed target
  std::vector<WhatIfMove> moves;  // in the order to apply them
  std::vector<WhatIfLoss> lost;
  std::vector<SearchExplanation> searches;  // of the targets searched now
};

// NotFound for a host not in the cluster.
Result<WhatIfReport> WhatIf(const Cluster& c, const std::vector<std::string>& failed_hosts);

}  // namespace corepin
