#include "controller/host_config.h"

#include <cctype>
#include <set>

#include "driver/fence/fence_driver.h"

namespace corepin {

using nlohmann::json;

Result<HostConfig> HostConfigFromJson(const json& j) {
  static const std::set<std::string> kFields = {"housekeeping", "allocatable", "physnets", "labels",
                                                "reserved_memory_mib_per_node", "group_member_limit", "bridge",
                                                "disable_offload", "domain_type", "bmc", "migration_address"};
  if (!j.is_object()) return Invalid("host configuration must be a JSON object");
  for (const auto& [k, v] : j.items())
    if (!kFields.count(k))
      return Invalid("unknown field \"" + k + "\"; host fields are name, uri, housekeeping, allocatable, physnets, labels, "
                     "reserved_memory_mib_per_node, group_member_limit, bridge, disable_offload, domain_type, bmc, "
                     "migration_address");
  HostConfig c;
  if (!j.contains("housekeeping")) return Invalid("housekeeping: missing; name the pCPUs kept for the host OS, e.g. \"0\" or \"0,64\"");
  for (auto [key, set] : {std::pair{"housekeeping", &c.partition.housekeeping}, {"allocatable", &c.partition.allocatable}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_string()) return Invalid(std::string(key) + ": must be a CPU list string like \"0-3,8\"");
    auto parsed = CpuSet::Parse(j[key].get<std::string>());
    if (!parsed) return Invalid(std::string(key) + ": " + parsed.error().message);
    *set = *parsed;
  }
  if (j.contains("physnets")) {
    if (!j["physnets"].is_object()) return Invalid("physnets: must be an object {\"net\": [\"nic\", ...]}");
    for (const auto& [net, nics] : j["physnets"].items()) {
      if (!nics.is_array()) return Invalid("physnets." + net + ": must be a list of NIC names");
      for (const auto& n : nics) {
        if (!n.is_string()) return Invalid("physnets." + net + ": NIC names must be strings");
        c.partition.physnets[net].push_back(n.get<std::string>());
      }
    }
  }
  if (j.contains("labels")) {
    if (!j["labels"].is_object()) return Invalid("labels: must be an object {\"key\": \"value\"}");
    for (const auto& [k, v] : j["labels"].items()) {
      if (!v.is_string()) return Invalid("labels." + k + ": must be a string");
      c.labels[k] = v.get<std::string>();
    }
  }
  if (j.contains("reserved_memory_mib_per_node")) {
    if (!j["reserved_memory_mib_per_node"].is_number_unsigned())
      return Invalid("reserved_memory_mib_per_node: must be a non-negative integer (MiB)");
    c.partition.reserved_memory_mib_per_node = j["reserved_memory_mib_per_node"].get<uint64_t>();
  }
  if (j.contains("group_member_limit")) {
    if (!j["group_member_limit"].is_number_integer()) return Invalid("group_member_limit: must be an integer 1..64");
    c.partition.group_member_limit = j["group_member_limit"].get<int>();
  }
  if (j.contains("bridge")) {
    if (!j["bridge"].is_string()) return Invalid("bridge: must be the name of the host's Open vSwitch bridge for VM interfaces");
    c.vm_options.bridge = j["bridge"].get<std::string>();
  }
  if (j.contains("disable_offload")) {
    if (!j["disable_offload"].is_boolean()) return Invalid("disable_offload: must be true or false");
    c.vm_options.disable_offload = j["disable_offload"].get<bool>();
  }
  if (j.contains("domain_type")) {
    if (!j["domain_type"].is_string()) return Invalid("domain_type: must be \"\", \"kvm\" or \"qemu\"");
    c.vm_options.domain_type = j["domain_type"].get<std::string>();
    if (c.vm_options.domain_type != "" && c.vm_options.domain_type != "kvm" && c.vm_options.domain_type != "qemu")
      return Invalid("domain_type: \"" + c.vm_options.domain_type + "\" is not \"\" (kvm when the host has it), \"kvm\" or \"qemu\"");
  }
  if (j.contains("migration_address")) {
    const auto& a = j["migration_address"];
    bool ok = a.is_string() && a.get<std::string>().size() <= 253;
    if (ok)
      for (unsigned char ch : a.get<std::string>()) ok &= std::isalnum(ch) || ch == '.' || ch == '-' || ch == ':';
    if (!ok) return Invalid("migration_address: must be an IP address or host name (letters, digits, '.', '-', ':'), e.g. \"10.0.0.5\"");
    c.migration_address = a.get<std::string>();
  }
  if (j.contains("bmc")) {
    if (!j["bmc"].is_string()) return Invalid("bmc: must be a fence URI string, e.g. \"ipmi://admin:secret@10.0.0.5:623\", or \"none\"");
    c.bmc = j["bmc"].get<std::string>();
    if (auto f = OpenFenceDriver(c.bmc); !f) return Invalid("bmc: " + f.error().message);
  }
  return c;
}

json HostConfigToJson(const HostConfig& c) {
  json physnets = json::object();
  for (const auto& [net, nics] : c.partition.physnets) physnets[net] = nics;
  return {{"housekeeping", c.partition.housekeeping.ToString()},
          {"allocatable", c.partition.allocatable.ToString()},
          {"physnets", physnets},
          {"labels", c.labels},
          {"reserved_memory_mib_per_node", c.partition.reserved_memory_mib_per_node},
          {"group_member_limit", c.partition.group_member_limit},
          {"bridge", c.vm_options.bridge},
          {"disable_offload", c.vm_options.disable_offload},
          {"domain_type", c.vm_options.domain_type},
          {"bmc", c.bmc},
          {"migration_address", c.migration_address}};
}

}  // namespace corepin
