#include "placement/cluster_json.h"

#include <set>

#include "placement/placement_json.h"

namespace corepin {

using nlohmann::json;

Result<GroupRequest> GroupRequestFromJson(const json& j) {
  static const std::set<std::string> kFields = {"name", "vm", "members", "act", "sby", "domains", "protect"};
  if (!j.is_object()) return Invalid("group request must be a JSON object, got " + std::string(j.type_name()));
  for (const auto& [k, v] : j.items())
    // "service" is a field of the API's request too, taken off by the controller before this.
    if (!kFields.count(k)) return Invalid("unknown field \"" + k + "\"; group fields are name, vm, members, act, sby, domains, protect, service");
  GroupRequest r;
  if (!j.contains("name") || !j["name"].is_string()) return Invalid("name: missing or not a string; every group needs a name");
  r.name = j["name"].get<std::string>();
  if (!j.contains("vm") || !j["vm"].is_object()) return Invalid("vm: missing or not an object; give the members' VM spec");
  json vm = j["vm"];
  if (!vm.contains("name")) vm["name"] = IsValidName(r.name) ? r.name : "vm";
  auto spec = VmSpecFromJson(vm);
  if (!spec.ok()) return Invalid("vm: " + spec.error().message);
  r.vm = *spec;
  if (j.contains("members")) {
    if (j.contains("act") || j.contains("sby")) return Invalid("give either members or act/sby counts, not both");
    if (!j["members"].is_array()) return Invalid("members: must be a list of {name, role, host?}");
    for (const auto& m : j["members"]) {
      if (!m.is_object() || !m.contains("name") || !m["name"].is_string())
        return Invalid("members: each member needs a \"name\" string, got " + m.dump());
      for (const auto& [k, v] : m.items())
        if (k != "name" && k != "role" && k != "host") return Invalid("members: unknown field \"" + k + "\"; member fields are name, role, host");
      GroupMemberRequest mr;
      mr.name = m["name"].get<std::string>();
      if (m.contains("role")) {
        if (!m["role"].is_string()) return Invalid("members: role of " + mr.name + " must be a string");
        auto role = ParseRole(m["role"].get<std::string>());
        if (!role.ok()) return Invalid("members: " + mr.name + ": " + role.error().message);
        mr.role = *role;
      }
      if (m.contains("host")) {
        if (!m["host"].is_string()) return Invalid("members: host of " + mr.name + " must be a string");
        mr.host = m["host"].get<std::string>();
      }
      r.members.push_back(std::move(mr));
    }
  } else {
    for (auto [key, role] : {std::pair{"act", Role::kAct}, {"sby", Role::kSby}}) {
      if (!j.contains(key)) continue;
      if (!j[key].is_number_integer() || j[key].get<int64_t>() < 0 || j[key].get<int64_t>() > 64)
        return Invalid(std::string(key) + ": must be a count 0..64, got " + j[key].dump());
      for (int i = 1; i <= j[key].get<int>(); ++i) r.members.push_back({r.name + "-" + key + std::to_string(i), role, ""});
    }
  }
  if (j.contains("domains")) {
    if (!j["domains"].is_array()) return Invalid("domains: must be a list of label keys, e.g. [\"rack\"]");
    for (const auto& d : j["domains"]) {
      if (!d.is_string()) return Invalid("domains: each entry must be a string, got " + d.dump());
      r.domains.push_back(d.get<std::string>());
    }
  }
  if (j.contains("protect")) {
    if (!j["protect"].is_boolean()) return Invalid("protect: must be true or false");
    r.protect = j["protect"].get<bool>();
  }
  if (auto s = ValidateGroupRequest(r); !s) return s.error();
  return r;
}

json GroupRequestToJson(const GroupRequest& r) {
  json members = json::array();
  for (const auto& m : r.members) {
    json jm = {{"name", m.name}, {"role", ToString(m.role)}};
    if (!m.host.empty()) jm["host"] = m.host;
    members.push_back(jm);
  }
  return {{"name", r.name}, {"vm", VmSpecToJson(r.vm)}, {"members", members}, {"domains", r.domains}, {"protect", r.protect}};
}

json GroupToJson(const RedundancyGroup& g) {
  json members = json::array();
  for (const auto& m : g.members) members.push_back({{"vm", m.vm}, {"role", ToString(m.role)}, {"host", m.host}});
  return {{"name", g.name}, {"vm", VmSpecToJson(g.vm)}, {"members", members}, {"domains", g.domains}, {"protect", g.protect}};
}

// pcpus are the target's vCPU pCPUs, as in every other view (members, what-if, VMs); what the
// reserve holds for it besides (siblings held empty, an isolated emulator) is apart.
json HealTargetToJson(const HealTarget& t) {
  return {{"vm", t.vm},
          {"from", t.from},
          {"host", t.host},
          {"assignment", AssignmentToJson(t.assignment)},
          {"pcpus", t.assignment.VcpuPcpus().ToString()},
          {"held_empty", t.assignment.reserved_siblings.ToString()},
          {"reserved_pcpus", t.pcpus.ToString()},
          {"seq", t.seq}};
}

json GroupOutcomeToJson(const GroupOutcome& o) {
  json placed = json::array(), heals = json::array();
  for (const auto& p : o.placed) placed.push_back({{"vm", p.vm}, {"role", ToString(p.role)}, {"host", p.assignment.host}, {"assignment", AssignmentToJson(p.assignment)}});
  for (const auto& h : o.heals) {
    json t = HealTargetToJson(h.target);
    t["failed"] = h.failed;
    heals.push_back(t);
  }
  json j = {{"ok", o.ok()}, {"placed", placed}, {"heals", heals}, {"explanation", ToJson(o.explanation)}};
  if (!o.ok()) j["error"] = {{"code", static_cast<int>(o.status.error().code)}, {"message", o.status.error().message}};
  return j;
}

json HostReserveToJson(const HostReserve& r) {
  json mem = json::array();
  for (const auto& [key, mib] : r.memory_mib) mem.push_back({{"node", key.first}, {"page_size", PageSizeToString(key.second)}, {"mib", mib}});
  return {{"pcpus", r.pcpus.ToString()}, {"pcpu_count", r.pcpus.Size()}, {"memory", mem}, {"group_slots", r.group_slots}};
}

json ReserveToJson(const Cluster& c) {
  json hosts = json::array();
  int total = 0, alloc = 0;
  for (const auto* h : c.hosts()) {
    alloc += h->state.partition().allocatable.Size();
    if (h->state.reserve().Empty()) continue;
    total += h->state.reserve().pcpus.Size();
    json jh = HostReserveToJson(h->state.reserve());
    jh["host"] = h->name;
    hosts.push_back(jh);
  }
  return {{"k", c.failures_tolerated()},
          {"scenarios", c.reserve().scenarios().size()},
          {"targets", c.reserve().TargetCount()},
          {"reserved_pcpus", total},
          {"allocatable_pcpus", alloc},
          {"hosts", hosts}};
}

json ScenarioToJson(const Cluster& c, const Scenario& s) {
  json targets = json::array();
  for (const HealTarget* t : s.Ordered()) targets.push_back(HealTargetToJson(*t));
  json unhealable = json::array();
  for (const auto& [vm, why] : s.unhealable) unhealable.push_back({{"vm", vm}, {"reason", why}});
  return {{"failed", c.NamesOf(s.failed)}, {"targets", targets}, {"unhealable", unhealable}};
}

json WhatIfToJson(const WhatIfReport& r) {
  json moves = json::array(), lost = json::array(), searches = json::array();
  for (const auto& m : r.moves)
    moves.push_back({{"vm", m.vm}, {"group", m.group}, {"role", ToString(m.role)}, {"from", m.from}, {"to", m.to},
                     {"vcpu_pcpus", m.assignment.vcpu_pcpus}, {"assignment", AssignmentToJson(m.assignment)},
                     {"precomputed", m.precomputed}});
  for (const auto& l : r.lost)
    lost.push_back({{"vm", l.vm}, {"group", l.group}, {"role", ToString(l.role)}, {"from", l.from}, {"reason", l.reason}});
  for (const auto& s : r.searches) searches.push_back(ToJson(s));
  return {{"failed", r.failed}, {"k", r.k}, {"within_guarantee", r.within_guarantee}, {"moves", moves}, {"lost", lost}, {"searches", searches}};
}

}  // namespace corepin
