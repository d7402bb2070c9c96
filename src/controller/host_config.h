// Host configuration as the API takes it and the store keeps it:
//   {"housekeeping": "0,64", "allocatable": "1-63,65-127" (default: the rest),
//    "physnets": {"datanet": ["ens1f0"]}, "labels": {"rack": "r1"},
//    "reserved_memory_mib_per_node": 512, "group_member_limit": 8,
//    "bridge": "br-vms", "disable_offload": false, "domain_type": "" | "kvm" | "qemu",
//    "bmc": "ipmi://USER:PASS@10.0.0.5:623?cipher=3" | "none",
//    "migration_address": "10.0.0.5" | "h1.example" | "" (libvirt's default: the host's hostname)}
// bmc is the host's fence URI (src/driver/fence); it holds a password: views show it masked.
// bridge, disable_offload and domain_type say how VMs are built on this host (DomainHostOptions).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "driver/domain_xml.h"
#include "topology/partition.h"

namespace corepin {

struct HostConfig {
  CpuPartition partition;
  std::map<std::string, std::string> labels;
  DomainHostOptions vm_options;  // bridge for VM interfaces, offloads, domain type
  std::string bmc = "none";      // fence URI
  // Where other hosts' QEMUs send a live migration to this host (an IP or a name).
  std::string migration_address;
};

// Strict: unknown fields and wrong types are refused, naming the field.
Result<HostConfig> HostConfigFromJson(const nlohmann::json& j);
nlohmann::json HostConfigToJson(const HostConfig& c);

}  // namespace corepin
