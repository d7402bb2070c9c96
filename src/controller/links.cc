#include "controller/links.h"

#include <set>

#include "driver/domain_xml.h"

namespace corepin {

using nlohmann::json;

json PcpuLinkJson(const HostTopology& topo, int pcpu) {
  const Pcpu* p = topo.FindPcpu(pcpu);
  if (!p) return {{"pcpu", pcpu}, {"core", -1}, {"core_index", -1}, {"siblings", ""}, {"node", -1}, {"socket", -1}};
  return {{"pcpu", pcpu}, {"core", p->core}, {"core_index", p->core_index}, {"siblings", p->siblings.ToString()},
          {"node", p->node}, {"socket", p->socket}};
}

std::string RedundancyGroupOf(const Cluster& c, const std::string& vm) {
  const Cluster::VmLocation* loc = c.FindVm(vm);
  auto lost = c.lost().find(vm);
  const std::string group = loc ? loc->group : lost != c.lost().end() ? lost->second.group : "";
  return group != vm ? group : "";
}

namespace {

json HostJson(const ClusterHost& h, const LinkFacts& facts) {
  HostFacts f;
  if (auto it = facts.hosts.find(h.name); it != facts.hosts.end()) f = it->second;
  return {{"name", h.name}, {"uri", f.uri}, {"labels", h.labels}, {"bmc", f.bmc}, {"bridge", f.bridge},
          {"state", f.state}, {"suspected", f.suspected}, {"schedulable", h.schedulable}};
}

// The VM's NICs and their switch ports; the service interface of a group member carries the
// service VLAN when it is ACT and the parking VLAN when it is SBY (switch_driver.h).
json InterfacesJson(const VmSpec& spec, const std::string& host, const std::string& bridge, const GroupService* service, Role role) {
  json out = json::array();
  for (const auto& i : spec.interfaces) {
    json v = {{"name", i.name}, {"mac", i.mac}, {"port", PortName(spec.name, host, i.name)}, {"bridge", bridge}};
    if (service && service->interface == i.name) {
      v["vlan"] = role == Role::kAct ? service->vlan : service->parking_vlan;
      v["service"] = {{"vlan", service->vlan}, {"parking_vlan", service->parking_vlan}, {"role", ToString(role)}};
    } else {
      v["vlan"] = nullptr;  // corepin does not set this port's VLAN
      v["service"] = nullptr;
    }
    out.push_back(v);
  }
  return out;
}

// The NICs the spec asks to run near (by name or physnet), their nodes, and whether every vCPU
// is on one of them.
json NicLocalityJson(const VmSpec& spec, const HostState& s, const Assignment& a) {
  if (spec.nic.empty() && spec.physnet.empty()) return nullptr;
  std::vector<std::string> names;
  if (!spec.nic.empty()) names.push_back(spec.nic);
  if (auto it = s.partition().physnets.find(spec.physnet); !spec.physnet.empty() && it != s.partition().physnets.end())
    names = it->second;
  json nics = json::array();
  std::set<int> nodes;
  for (const auto& n : names) {
    const Nic* nic = s.topology().FindNic(n);
    nics.push_back({{"name", n}, {"node", nic ? nic->node : -1}});
    if (nic) nodes.insert(nic->node);
  }
  bool local = !nodes.empty();
  for (int p : a.vcpu_pcpus)
    if (const Pcpu* pc = s.topology().FindPcpu(p); !pc || !nodes.count(pc->node)) local = false;
  return {{"nic", spec.nic}, {"physnet", spec.physnet}, {"nics", nics}, {"local", local}};
}

}  // namespace

Result<json> VmLinks(const Cluster& c, const LinkFacts& facts, const std::string& vm) {
  const Cluster::VmLocation* loc = c.FindVm(vm);
  if (!loc && c.lost().count(vm))
    return Conflict("VM " + vm + " is lost (" + c.lost().at(vm).reason + "): it has no place, so nothing to link; see corepin vm show " + vm);
  if (!loc) return NotFound("VM " + vm + " does not exist; list VMs with corepin vm list");
  const ClusterHost& h = *c.HostById(loc->host);
  const PlacedVm& placed = h.state.vms().at(vm);
  const Assignment& a = placed.assignment;
  const HostTopology& topo = h.state.topology();

  json out = {{"vm", vm}, {"host", HostJson(h, facts)}};
  json vcpus = json::array();
  for (size_t i = 0; i < a.vcpu_pcpus.size(); ++i) {
    json v = PcpuLinkJson(topo, a.vcpu_pcpus[i]);
    v["vcpu"] = i;
    v["policy"] = placed.spec.vcpus[i].ToString();
    vcpus.push_back(v);
  }
  out["vcpus"] = vcpus;
  json emulator = json::array();
  for (int p : a.emulator.ToVector()) emulator.push_back(PcpuLinkJson(topo, p));
  out["emulator"] = {{"policy", placed.spec.emulator.ToString()}, {"pcpus", emulator}};
  out["siblings_held_empty"] = a.reserved_siblings.ToString();
  out["shared_groups"] = a.groups;  // group name -> its pCPU
  json memory = json::object();
  for (const auto& [node, mib] : a.memory_mib) memory[std::to_string(node)] = mib;
  out["memory_mib_per_node"] = memory;
  out["page_size"] = PageSizeToString(a.page_kib);
  out["nic_locality"] = NicLocalityJson(placed.spec, h.state, a);

  const std::string group = RedundancyGroupOf(c, vm);
  const RedundancyGroup& g = *c.FindGroup(loc->group);
  const GroupMember* self = g.FindMember(vm);
  const Role role = self ? self->role : Role::kAct;
  const GroupService* service = nullptr;
  if (auto it = facts.services.find(group); !group.empty() && it != facts.services.end()) service = &it->second;
  const std::string bridge = facts.hosts.count(h.name) ? facts.hosts.at(h.name).bridge : "";
  out["interfaces"] = InterfacesJson(placed.spec, h.name, bridge, service, role);

  if (group.empty()) {
    out["group"] = nullptr;
  } else {
    json members = json::array();
    for (const auto& m : g.members) {
      const ClusterHost& mh = *c.HostById(c.FindVm(m.vm)->host);
      members.push_back({{"vm", m.vm}, {"role", ToString(m.role)}, {"host", mh.name}, {"labels", mh.labels},
                         {"pcpus", mh.state.vms().at(m.vm).assignment.VcpuPcpus().ToString()}, {"self", m.vm == vm}});
    }
    json svc = nullptr;
    if (service) svc = {{"vlan", service->vlan}, {"parking_vlan", service->parking_vlan}, {"interface", service->interface}};
    out["group"] = {{"name", group}, {"role", ToString(role)}, {"domains", g.domains}, {"protect", g.protect},
                    {"members", members}, {"service", svc}};
  }

  // Where it would heal: its precomputed target in each failure scenario that loses it.
  json heals = json::array();
  for (const auto& [key, sc] : c.reserve().scenarios())
    if (auto t = sc.targets.find(vm); t != sc.targets.end())
      heals.push_back({{"if_failed", c.NamesOf(key)}, {"host", t->second.host},
                       {"pcpus", t->second.assignment.VcpuPcpus().ToString()}, {"emulator", t->second.assignment.emulator.ToString()}});
  out["healing_targets"] = heals;
  return out;
}

}  // namespace corepin
