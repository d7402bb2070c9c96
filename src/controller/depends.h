// Linking, hardware -> VMs (function 6 of DESIGN.md): every VM and redundancy group that depends
// on a piece of hardware, and what would lose redundancy if it failed.
//
// The hardware is one of: a host; a pCPU, a physical core, a NUMA node or a NIC of a host; a
// switch port; the hosts with a label (a rack, a power feed). A VM depends on
//   - a host:   it runs there;
//   - a pCPU:   one of its vCPUs or its emulator threads runs there (a core: on any of its pCPUs);
//   - a node:   a vCPU or its emulator runs on one of its pCPUs, or its memory is there;
//   - a NIC:    its spec asks to run near that NIC (by name, or by a physnet the NIC belongs to)
//               and its vCPUs run on the NIC's node. corepin does not know which NIC uplinks the
//               VMs' bridge, so a VM that does not ask for NIC locality is not listed;
//   - a port:   it is the VM interface's port (PortName in driver/domain_xml.h).
// If it failed: for hosts and labels, the what-if (placement/whatif.h) says, per group, which
// members heal from the reserve, which groups lose their only ACT until a SBY is promoted, and
// which members no host can take; for a pCPU, core, node, NIC or port the VMs on it are treated
// as failed and each group says whether it loses an ACT or a SBY.
//
// Pure, like links.h, over the Cluster and the controller's facts. Changes nothing.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/status.h"
#include "controller/links.h"
#include "placement/cluster.h"

namespace corepin {

struct DependsQuery {
  std::string host;  // alone: the whole host; or with one of pcpu, core, node, nic
  std::optional<int> pcpu;
  std::optional<int> core;    // the kernel's core id (unique within a socket)
  std::optional<int> socket;  // with core, when the core id is on several sockets
  std::optional<int> node;
  std::string nic;
  std::string port;  // a switch port name
  std::string label_key, label_value;  // the hosts with this label
};

// From the query parameters of GET /v1/depends: host=H [&pcpu=N | &core=N[&socket=S] | &node=N |
// &nic=NAME], or port=PORT, or label=KEY=VALUE (rack=VALUE is label=rack=VALUE). Invalid, with
// what to write instead, for no selector, two at once, unknown parameters, non-numbers.
Result<DependsQuery> ParseDependsQuery(const std::map<std::string, std::string>& params);

// GET /v1/depends (docs/api.md). NotFound when the host, pCPU, core, node, NIC, port or label
// value does not exist (the message lists what does).
Result<nlohmann::json> Depends(const Cluster& c, const LinkFacts& facts, const DependsQuery& q);

}  // namespace corepin
