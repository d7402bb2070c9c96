// How the controller stores a redundancy group (GroupRecord::config_json): the request it was
// made from, its members with their current roles and hosts, and its service network.
//   {"request": {...cluster_json.h group request...},
//    "members": [{"vm": "fw-act1", "role": "act", "host": "h1"}, ...],
//    "service": {"vlan": 100, "parking_vlan": 4094, "interface": "svc"} | null}
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "placement/redundancy.h"

namespace corepin {

// The service network of a group: the ACT's `interface` port carries VLAN `vlan`; every SBY's
// is parked on `parking_vlan`, which no uplink carries (switch_driver.h).
struct GroupService {
  int vlan = 0;
  int parking_vlan = 4094;
  std::string interface;  // one of the VM spec's interfaces
};

struct StoredGroup {
  GroupRequest request;
  std::vector<GroupMember> members;  // current roles
  std::optional<GroupService> service;
  RedundancyGroup ToRedundancyGroup() const;
  const GroupMember* Find(const std::string& vm) const;
};

// Parses the "service" part of a create request against the group's VM spec.
Result<std::optional<GroupService>> GroupServiceFromJson(const nlohmann::json& j, const VmSpec& spec);
nlohmann::json StoredGroupToJson(const StoredGroup& g);
Result<StoredGroup> StoredGroupFromJson(const nlohmann::json& j);

}  // namespace corepin
