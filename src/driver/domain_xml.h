// Libvirt domain XML for a placed VM: a pure function of the spec, the assignment and the
// host's topology. Everything corepin enforces is in the XML (vcpupin, emulatorpin, numatune,
// guest NUMA cells, hugepages), and the VM's corepin state rides along in <metadata> so that
// it can be rebuilt from the hypervisor alone.
#pragma once

#include <string>

#include "placement/assignment.h"
#include "placement/vm_spec.h"
#include "topology/topology.h"

namespace corepin {

// Namespace of the <metadata> element holding corepin's JSON; virDomainGetMetadata
// (VIR_DOMAIN_METADATA_ELEMENT, kCorepinMetadataUri) returns that element.
inline constexpr const char* kCorepinMetadataUri = "https://corepin.dev/xmlns/vm/1";
inline constexpr const char* kCorepinMetadataPrefix = "corepin";

// Builds the <domain> XML. Domain type kvm when the host lists it, else qemu (TCG).
// A vCPU on a pCPU the topology does not know is still pinned there (libvirt then refuses
// to start it); for guest NUMA cells it counts as being on the first memory node.
std::string BuildDomainXml(const VmSpec& spec, const Assignment& assignment, const HostTopology& topo,
                           const std::string& metadata_json);

// The JSON inside a metadata element as virDomainGetMetadata returns it
// ("<corepin:vm xmlns:corepin=...>{...}</corepin:vm>"). Empty when it does not parse.
std::string MetadataJsonFromElement(const std::string& element_xml);

}  // namespace corepin
