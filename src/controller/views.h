// JSON views the API serves (docs/api.md): built from placement state, no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include "controller/group_record.h"
#include "controller/managed_host.h"
#include "placement/host_state.h"
#include "store/state_store.h"

namespace corepin {

// One line of `host list`.
nlohmann::json HostSummaryView(const ManagedHost& host, const HostState& state);
// `host show`: partition, topology, and the core map (every pCPU with its owner).
// pCPUs held for healing are shown as use "reserve".
nlohmann::json HostView(const ManagedHost& host, const HostState& state);
// The intended side of `vm show`: every vCPU with its pCPU, core, node and socket.
nlohmann::json VmView(const VmRecord& record, const HostState* state);
// Puts what Controller::ActualPinning read (libvirt's and /proc's pinning, "pinning_verified")
// beside the intended values of a VmView.
void MergeActualPinning(const nlohmann::json& actual, nlohmann::json* view);
// A redundancy group: members with roles and hosts, service network, state.
nlohmann::json GroupView(const StoredGroup& group, const std::string& state);
// One line of `vm list`.
nlohmann::json VmSummaryView(const VmRecord& record);
// One event of GET /v1/events (and of the event stream, and an alarm).
nlohmann::json EventView(const EventRecord& event);

}  // namespace corepin
