// JSON mapping of the multi-host side of placement: group requests (what API clients send),
// placed groups, placement outcomes with their explanations, healing targets, the reserve, and
// what-if reports (what the API returns and the CLI prints).
//
// Group request JSON (unknown fields are refused):
//   { "name": "fw",
//     "vm": { VM spec (placement_json.h); "name" may be left out },
//     "members": [{"name": "fw-a", "role": "act", "host": "h1"?}, {"name": "fw-b", "role": "sby"}],
//        or "act": 1, "sby": 1  (members named NAME-act1, NAME-sby1, ...)
//     "domains": ["rack"],   // failure-domain label keys the members must not share
//     "protect": true }      // false: an explicit opt-out of the healing reserve
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "placement/cluster.h"
#include "placement/whatif.h"

namespace corepin {

Result<GroupRequest> GroupRequestFromJson(const nlohmann::json& j);
nlohmann::json GroupRequestToJson(const GroupRequest& r);
nlohmann::json GroupToJson(const RedundancyGroup& g);
// {"ok", "error"?: {"code", "message"}, "placed": [{vm, role, assignment}], "heals": [...], "explanation"}
nlohmann::json GroupOutcomeToJson(const GroupOutcome& o);
nlohmann::json HealTargetToJson(const HealTarget& t);
nlohmann::json HostReserveToJson(const HostReserve& r);
// Per host: its reserve and how many scenarios use it; totals; k.
nlohmann::json ReserveToJson(const Cluster& c);
nlohmann::json ScenarioToJson(const Cluster& c, const Scenario& s);
nlohmann::json WhatIfToJson(const WhatIfReport& r);

}  // namespace corepin
