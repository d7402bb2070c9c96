// The rules every HostState must obey, checked from scratch (not from HostState's caches).
// Tests call this after every operation; corepind calls it after rebuilding state at start.
//
//  1. No pCPU has two owners, except the members of one group on the group's pCPU.
//  2. A group's pCPU holds nothing but the group's members.
//  3. Housekeeping pCPUs never hold a vCPU; every held pCPU is allocatable.
//  4. Each vCPU is where its policy says (dedicated alone, pinned:N on N, group on the group's pCPU);
//     emulator threads likewise.
//  5. SMT isolate leaves the siblings of the VM's pCPUs empty; require uses whole cores.
//  6. NUMA single keeps vCPUs, emulator pCPU and memory on one node, the NIC's node if one is named.
//  7. Memory per node and page size stays within capacity and adds up to the VM's memory.
//  8. HostState's free set equals allocatable minus everything held.
#pragma once

#include "common/status.h"
#include "placement/host_state.h"

namespace corepin {

Status CheckInvariants(const HostState& host);

}  // namespace corepin
