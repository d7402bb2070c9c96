#include "controller/group_record.h"

#include "placement/cluster_json.h"

namespace corepin {

using nlohmann::json;

RedundancyGroup StoredGroup::ToRedundancyGroup() const {
  return RedundancyGroup{request.name, request.vm, request.domains, request.protect, members};
}

const GroupMember* StoredGroup::Find(const std::string& vm) const {
  for (const auto& m : members)
    if (m.vm == vm) return &m;
  return nullptr;
}

Result<std::optional<GroupService>> GroupServiceFromJson(const json& j, const VmSpec& spec) {
  if (j.is_null()) return std::optional<GroupService>();
  if (!j.is_object()) return Invalid("service: must be an object {\"vlan\": 100, \"parking_vlan\": 4094, \"interface\": \"svc\"}");
  for (const auto& [k, v] : j.items())
    if (k != "vlan" && k != "parking_vlan" && k != "interface")
      return Invalid("service: unknown field \"" + k + "\"; service fields are vlan, parking_vlan, interface");
  GroupService s;
  if (!j.contains("vlan") || !j["vlan"].is_number_integer()) return Invalid("service.vlan: missing or not an integer; the service VLAN, 1..4094");
  s.vlan = j["vlan"].get<int>();
  if (j.contains("parking_vlan")) {
    if (!j["parking_vlan"].is_number_integer()) return Invalid("service.parking_vlan: must be an integer 1..4094");
    s.parking_vlan = j["parking_vlan"].get<int>();
  }
  for (auto [field, v] : {std::pair{"vlan", s.vlan}, {"parking_vlan", s.parking_vlan}})
    if (v < 1 || v > 4094) return Invalid(std::string("service.") + field + ": " + std::to_string(v) + " is out of range 1..4094");
  if (s.vlan == s.parking_vlan) return Invalid("service: vlan and parking_vlan are both " + std::to_string(s.vlan) + "; a SBY must not sit on the service VLAN");
  if (spec.interfaces.empty()) return Invalid("service: the group's VM spec has no interfaces; add one, e.g. \"interfaces\": [{\"name\": \"svc\"}]");
  if (j.contains("interface")) {
    if (!j["interface"].is_string()) return Invalid("service.interface: must be the name of one of the VM's interfaces");
    s.interface = j["interface"].get<std::string>();
    bool known = false;
    for (const auto& i : spec.interfaces) known |= i.name == s.interface;
    if (!known) return Invalid("service.interface: the VM spec has no interface \"" + s.interface + "\"");
  } else {
    s.interface = spec.interfaces.front().name;
  }
  return std::optional<GroupService>(s);
}

json StoredGroupToJson(const StoredGroup& g) {
  json members = json::array();
  for (const auto& m : g.members) members.push_back({{"vm", m.vm}, {"role", ToString(m.role)}, {"host", m.host}});
  json service = nullptr;
  if (g.service) service = {{"vlan", g.service->vlan}, {"parking_vlan", g.service->parking_vlan}, {"interface", g.service->interface}};
  return {{"request", GroupRequestToJson(g.request)}, {"members", members}, {"service", service}};
}

Result<StoredGroup> StoredGroupFromJson(const json& j) {
  if (!j.is_object() || !j.contains("request") || !j.contains("members")) return Invalid("stored group is malformed");
  StoredGroup g;
  auto req = GroupRequestFromJson(j["request"]);
  if (!req) return Invalid("stored group request: " + req.error().message);
  g.request = *req;
  for (const auto& m : j["members"]) {
    auto role = ParseRole(m.value("role", ""));
    if (!role) return Invalid("stored group member: " + role.error().message);
    g.members.push_back({m.value("vm", ""), *role, m.value("host", "")});
  }
  if (j.contains("service") && !j["service"].is_null()) {
    auto s = GroupServiceFromJson(j["service"], g.request.vm);
    if (!s) return Invalid("stored group service: " + s.error().message);
    g.service = *s;
  }
  return g;
}

}  // namespace corepin
