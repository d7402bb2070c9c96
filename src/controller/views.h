// JSON views the API serves (docs/api.md): built from placement state, no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include "controller/managed_host.h"
#include "store/state_store.h"

namespace corepin {

// One line of `host list`.
nlohmann::json HostSummaryView(const ManagedHost& host);
// `host show`: partition, topology, and the core map (every pCPU with its owner).
nlohmann::json HostView(const ManagedHost& host);
// The intended side of `vm show`: every vCPU with its pCPU, core, node and socket.
nlohmann::json VmView(const VmRecord& record, const HostState* state);
// One line of `vm list`.
nlohmann::json VmSummaryView(const VmRecord& record);

}  // namespace corepin
