// HealPlan: what a healing does once the failed hosts are fenced, stored (inside the healing's
// operation record) before any of it is done, so that a restarted corepind finishes the same
// plan instead of computing another one.
//
//   moves       each VM of a failed host that a host can take: its target host and exact pCPUs
//               (the healing reserve's, from Cluster/WhatIf), and the role it has after the heal
//   lost        each VM nothing can take, with the reason
//   promotions  each group whose ACT was on a failed host and that has a SBY elsewhere: that SBY
//               becomes ACT, the lost ACT comes back as SBY. A SBY on a host that answers is
//               preferred; one on a host that is not answering (maybe failing too, not yet
//               suspected) is promoted only when the group has no other, and `note` says so
//   headless    groups left with no member running anywhere (their service is down; members lost
//               before run nowhere)
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "controller/group_record.h"
#include "model/assignment.h"
#include "placement/whatif.h"

namespace corepin {

struct HealMove {
  std::string vm, group, from, to;
  Role role = Role::kAct;  // after the heal
  Assignment assignment;
  bool precomputed = false;  // from the healing reserve (else found in free capacity)
};

struct HealLoss {
  std::string vm, group, from, reason;
};

struct HealPromotion {
  std::string group, promoted, demoted;  // promoted: the SBY that becomes ACT
  std::string note;  // why a doubtful SBY was chosen (it is on a host not answering); "" when none
};

struct HealPlan {
  std::vector<std::string> hosts;
  std::vector<HealMove> moves;
  std::vector<HealLoss> lost;
  std::vector<HealPromotion> promotions;
  std::vector<std::string> headless;
  bool within_guarantee = false;

  const HealMove* FindMove(const std::string& vm) const;
  std::string Summary() const;  // one line for events
};

// Builds the plan from the what-if report of the failed hosts and the stored groups (with their
// current roles). `stored_groups`: every stored group; standalone VMs have none.
// `not_answering`: hosts outside the failed set that do not answer right now (suspected, silent,
// unreachable); their SBYs are promoted only when a group has no other. `lost`: members lost
// before (beyond the reserve, Cluster::lost()): they run nowhere, so they are never promoted
// and do not keep their group alive.
HealPlan MakeHealPlan(const WhatIfReport& report, const std::vector<StoredGroup>& stored_groups,
                      const std::set<std::string>& not_answering = {}, const std::set<std::string>& lost = {});

// A stored group as it is after the plan: moved members on their targets, roles swapped.
StoredGroup ApplyHealPlan(const HealPlan& plan, StoredGroup group);

nlohmann::json HealPlanToJson(const HealPlan& plan);
Result<HealPlan> HealPlanFromJson(const nlohmann::json& j);

}  // namespace corepin
