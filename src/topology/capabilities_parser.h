// Parsing of libvirt's XML into HostTopology. Pure functions: the XML comes from a libvirt
// connection (virConnectGetCapabilities, virNodeDeviceGetXMLDesc) or from a fixture file.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "topology/topology.h"

namespace corepin {

// Parses <capabilities>: host CPU, NUMA cells, pCPUs, page pools, guest domain types.
// Derives cores (grouping by socket and core id) and threads_per_core.
Result<HostTopology> ParseCapabilities(const std::string& capabilities_xml);

// Adds NICs from node-device XML documents: each "net" device, with the NUMA node taken from
// its parent PCI device's XML (pci_xml_by_name maps device name -> XML). A host with a single
// NUMA node puts every NIC on that node even when the PCI device does not say.
struct NodeDeviceXml {
  std::string net_xml;     // <device> with <capability type='net'>
  std::string parent_xml;  // the parent device's XML, may be empty
};
Status AddNics(const std::vector<NodeDeviceXml>& devices, HostTopology* topo);

}  // namespace corepin
