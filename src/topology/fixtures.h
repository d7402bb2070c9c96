// Host fixtures: host shapes this machine cannot have (a 2-socket 128-pCPU host, a 4-NUMA-node
// host), stored as libvirt capabilities XML plus the NICs and their NUMA node, in
// tests/fixtures/hosts/NAME.xml (written by scripts/gen-host-fixture.py).
#pragma once

#include <string>

#include "common/status.h"
#include "topology/topology.h"

namespace corepin {

// Parses a fixture document: <corepin-host-fixture><capabilities/><nics><nic name node/></nics>.
Result<HostTopology> ParseHostFixture(const std::string& xml);
// Loads a fixture from a file path.
Result<HostTopology> LoadHostFixture(const std::string& path);
// Writes a topology in the fixture format, so that ParseHostFixture gives it back. corepind
// stores each host's topology this way, to keep placing around a host that is unreachable.
std::string HostTopologyToXml(const HostTopology& topo);
// Path of a named fixture in the source tree ("2s32c-smt2" -> .../tests/fixtures/hosts/2s32c-smt2.xml).
std::string HostFixturePath(const std::string& name);

}  // namespace corepin
