// CpuPartition: how a host's pCPUs are split between the host OS and VMs.
//
// Housekeeping pCPUs run the host OS, interrupts, libvirt and (by default) QEMU's emulator
// threads; they never hold a vCPU. Allocatable pCPUs are handed out by placement. pCPUs in
// neither set are left alone (offline, or kept for something else).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/cpuset.h"
#include "common/status.h"
#include "topology/topology.h"

namespace corepin {

struct CpuPartition {
  CpuSet housekeeping;
  CpuSet allocatable;
  // Physical networks reachable from this host: name -> NICs (used by NIC affinity).
  std::map<std::string, std::vector<std::string>> physnets;
  // Memory of every NUMA node kept for the host (4K pages only), in MiB.
  uint64_t reserved_memory_mib_per_node = 512;
  // How many vCPUs (and emulator thread sets) one shared group pCPU may carry.
  int group_member_limit = 8;
};

// Fills allocatable with "every pCPU not housekeeping" when it is empty, then checks the
// partition against the topology. Returns warnings (valid but worth knowing), or an error
// naming the offending pCPUs.
Result<std::vector<std::string>> ResolvePartition(const HostTopology& topo, CpuPartition* partition);

}  // namespace corepin
