// Port naming: the tap (and OVS port) of a VM's interface on a host, shared by the hypervisor
// driver (which names the tap) and the switch driver (which sets its VLAN).
#pragma once

#include <string>

namespace corepin {

// The name of the tap (and so of the OVS port) of a VM's interface on a host:
//   "cp" + 8 hex digits of FNV-1a-32(vm + '\0' + host + '\0' + interface) + "-" + the first 4
//   characters of the interface name, e.g. PortName("vm1", "h1", "svc") == "cp........-svc" (at
//   most 15 characters, the Linux limit; never "vnet*", which libvirt reserves).
// Stable: the same VM, host and interface get the same name after a restart, so the switch driver
// computes it without asking the hypervisor. Per host: during a live migration the VM has a tap
// on both hosts, and the lab's hosts share one network namespace and one switch, where names
// must not clash. Distinct for the interfaces of one VM when their names differ in the first 4
// characters, and otherwise unique unless two of the 2^32 hashes collide.
std::string PortName(const std::string& vm, const std::string& host, const std::string& interface);

}  // namespace corepin
