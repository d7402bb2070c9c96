// Linking, VM -> hardware (function 6 of DESIGN.md): everything a VM runs on or through, from
// its vCPUs down to pCPUs, physical cores, NUMA nodes and sockets, to its switch ports, its host
// (and the host's BMC) and the redundancy group it belongs to, with its peers.
//
// Pure: built from the placement model (Cluster) and what the controller knows beside it (the
// hosts' URIs, BMCs and bridges, the groups' service networks), so that it is unit-tested over
// fixture clusters. The reverse direction (hardware -> VMs) is depends.h.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "controller/group_record.h"
#include "placement/cluster.h"

namespace corepin {

// What the controller knows of a host beyond the Cluster.
struct HostFacts {
  std::string uri;
  std::string bmc = "none";  // fence URI, already masked (FenceDriver::uri())
  std::string bridge;        // Open vSwitch bridge of the VMs' interfaces, or empty
  std::string state = "active";  // ManagedHost::state: "active", "failed", ...
  bool suspected = false;        // the host monitor lost it
};

struct LinkFacts {
  std::map<std::string, HostFacts> hosts;        // by host name
  std::map<std::string, GroupService> services;  // by group name, for groups with a service network
};

// One pCPU of a host: {"pcpu", "core" (kernel core id, unique within its socket), "core_index"
// (host-wide), "siblings" (its core's pCPUs), "node", "socket"}.
nlohmann::json PcpuLinkJson(const HostTopology& topo, int pcpu);

// The group a VM belongs to (placed or lost), or "" for a standalone VM (inside the Cluster a
// standalone VM is a group of one named after it, see controller.h).
std::string RedundancyGroupOf(const Cluster& c, const std::string& vm);

// GET /v1/vms/{name}/links (docs/api.md). NotFound for a VM the Cluster does not hold.
Result<nlohmann::json> VmLinks(const Cluster& c, const LinkFacts& facts, const std::string& vm);

}  // namespace corepin
