// Libvirt domain XML for a placed VM: a pure function of the spec, the assignment, the
// host's topology and the host's options for VM devices. Everything corepin enforces is in the
// XML (vcpupin, emulatorpin, numatune, guest NUMA cells, hugepages), and the VM's corepin state
// rides along in <metadata> so that it can be rebuilt from the hypervisor alone.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/assignment.h"
#include "model/port_name.h"
#include "model/vm_spec.h"
#include "topology/topology.h"

namespace corepin {

// Namespace of the <metadata> element holding corepin's JSON; virDomainGetMetadata
// (VIR_DOMAIN_METADATA_ELEMENT, kCorepinMetadataUri) returns that element.
inline constexpr const char* kCorepinMetadataUri = "https://corepin.dev/xmlns/vm/1";
inline constexpr const char* kCorepinMetadataPrefix = "corepin";

// How a host wants its VMs' devices: a property of the host (its configuration), not of the VM.
struct DomainHostOptions {
  // The host's bridge for VM interfaces (an Open vSwitch bridge, e.g. the lab's "lab-h1").
  // Required when the VM has interfaces.
  std::string bridge;
  // The corepin host's name: VM ports are named per host (PortName), so that a VM live-migrating
  // has a port on each of two hosts at once without a clash.
  std::string host;
  // <virtualport type='openvswitch'/>: libvirt adds the tap to the OVS bridge itself. Off for a
  // Linux bridge.
  bool virtualport_openvswitch = true;
  // No checksum/segmentation offload between guest and host (<driver><host csum='off' ...>
  // <guest csum='off' ...>). Needed where a userspace (netdev) OVS datapath reads the taps:
  // it forwards offloaded checksums unfinished and the receiver drops them (lab/README.md).
  bool disable_offload = false;
  // "": kvm when the host lists it, else qemu (TCG). "kvm" or "qemu" forces one: the lab uses
  // "qemu" because this machine's /dev/kvm (kvm_pvm) cannot boot a Linux guest.
  std::string domain_type;
};

// Builds the <domain> XML. Domain type: see DomainHostOptions::domain_type.
// A vCPU on a pCPU the topology does not know is still pinned there (libvirt then refuses
// to start it); for guest NUMA cells it counts as being on the first memory node.
// With an image: direct kernel boot (<os><kernel/><initrd/><cmdline/>, {name} and {role} in the
// cmdline replaced by the VM's name and `role`), on_reboot destroy, the serial console logged to
// /var/log/libvirt/qemu/NAME.console on the host. Each interface: a virtio NIC on host.bridge
// whose tap is PortName(vm, host.host, interface).
// Errors (naming the VM): interfaces without host.bridge, a bad bridge, role or domain_type, a
// forced kvm on a host without it, a cmdline too long once filled in.
Result<std::string> BuildDomainXml(const VmSpec& spec, const Assignment& assignment, const HostTopology& topo,
                                   const std::string& metadata_json, const DomainHostOptions& host = {},
                                   const std::string& role = "");

// A domain XML (as BuildDomainXml made it) with new <vcpupin>/<emulatorpin> cpusets and
// new corepin metadata: what a live re-pin leaves in the persistent definition.
Result<std::string> RepinDomainXml(const std::string& xml, const std::vector<CpuSet>& vcpu_pins, const CpuSet& emulator_pin,
                                   const std::string& metadata_json);

// The NUMA nodes a domain XML lets its memory use: <numatune><memory nodeset=...>; empty when
// it has none. What a fixture host reports where libvirt answers virDomainGetNumaParameters.
Result<CpuSet> NumatuneNodeset(const std::string& xml);

// Live migration: the definition the destination runs. From the source's migratable XML
// (virDomainGetXMLDesc with VIR_DOMAIN_XML_MIGRATABLE: its devices and their addresses, which
// the guest's ABI needs unchanged) with every host-specific part taken from `dest_xml`
// (BuildDomainXml for the destination host): <cputune> (the destination's pCPUs, never the
// source's), <numatune> (its NUMA nodes), the corepin metadata, and each interface's bridge,
// port name and virtualport (matched by the "ua-" alias). `vlans` (interface name -> VLAN) adds
// <vlan><tag>, so that the new port starts on its access VLAN, never as a trunk: for the live
// definition only (the persistent one leaves VLANs to the switch driver, which moves them on a
// switchover). Errors: either XML does not parse, an interface of one is missing in the other.
Result<std::string> MigrationDomainXml(const std::string& source_xml, const std::string& dest_xml,
                                       const std::map<std::string, int>& vlans = {});

// The metadata element to give virDomainSetMetadata (with kCorepinMetadataPrefix and
// kCorepinMetadataUri): "<vm>{...}</vm>", the JSON escaped as XML text.
std::string MetadataElement(const std::string& metadata_json);

// The JSON inside a metadata element as virDomainGetMetadata returns it
// ("<corepin:vm xmlns:corepin=...>{...}</corepin:vm>"). Empty when it does not parse.
std::string MetadataJsonFromElement(const std::string& element_xml);

}  // namespace corepin
