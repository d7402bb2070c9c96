#include "controller/views.h"

#include <algorithm>

#include "placement/placement_json.h"

namespace corepin {

using nlohmann::json;

namespace {

const char* UseName(PcpuUse::Kind k) {
  switch (k) {
    case PcpuUse::Kind::kFree: return "free";
    case PcpuUse::Kind::kHousekeeping: return "housekeeping";
    case PcpuUse::Kind::kNotAllocatable: return "not-allocatable";
    case PcpuUse::Kind::kVcpu: return "vcpu";
    case PcpuUse::Kind::kEmulator: return "emulator";
    case PcpuUse::Kind::kReservedSibling: return "sibling";
    case PcpuUse::Kind::kGroup: return "group";
  }
  return "?";
}

}  // namespace

// SMT siblings held empty for VMs (their smt isolate or require): neither free nor a VM's vCPUs.
int HeldEmpty(const HostState& s) {
  int n = 0;
  for (int p : s.partition().allocatable.ToVector()) n += s.Use(p).kind == PcpuUse::Kind::kReservedSibling;
  return n;
}

json HostSummaryView(const ManagedHost& h, const HostState& s) {
  // One meaning per word, as in the core map, `top` and the metrics: `free` is what a new VM
  // may take, the healing reserve and the siblings held empty are counted apart.
  return {{"name", h.name},
          {"uri", h.uri},
          {"connected", h.hypervisor != nullptr},
          {"state", h.state},
          {"suspected", h.suspected},
          {"error", h.connect_error},
          {"pcpus", s.topology().pcpus.size()},
          {"allocatable", s.partition().allocatable.Size()},
          {"free", s.free().Minus(s.reserve().pcpus).Size()},
          {"reserve", s.reserve().pcpus.Size()},
          {"held_empty", HeldEmpty(s)},
          {"vms", s.vms().size()},
          {"nodes", s.topology().nodes.size()},
          {"labels", h.labels}};
}

json HostView(const ManagedHost& h, const HostState& s) {
  const HostTopology& t = s.topology();
  json v = h.config;
  v["bmc"] = h.fence ? h.fence->uri() : "none";  // the stored URI holds a password
  v["name"] = h.name;
  v["uri"] = h.uri;
  v["connected"] = h.hypervisor != nullptr;
  v["state"] = h.state;
  v["suspected"] = h.suspected;
  v["error"] = h.connect_error;
  v["warnings"] = h.warnings;
  v["unknown_domains"] = h.unknown_domains;      // domain -> pCPUs; the host takes no new VMs while any
  v["topology_mismatch"] = h.topology_mismatch;  // empty when the stored CPU layout is the hypervisor's
  json nodes = json::array();
  for (const auto& n : t.nodes) {
    json mem = json::object();
    for (uint64_t page : {uint64_t{4}, uint64_t{2048}, uint64_t{1048576}})
      mem[PageSizeToString(page)] = s.MemoryCapacityMib(n.id, page) - s.MemoryUsedMib(n.id, page);
    nodes.push_back({{"id", n.id}, {"pcpus", n.pcpus.ToString()}, {"free_pcpus", s.free().Intersect(n.pcpus).ToString()},
                     {"memory_free_mib", mem}});
  }
  json nics = json::array();
  for (const auto& n : t.nics) nics.push_back({{"name", n.name}, {"node", n.node}});
  v["topology"] = {{"sockets", t.SocketCount()}, {"threads_per_core", t.threads_per_core}, {"nodes", nodes}, {"nics", nics},
                   {"domain_types", t.domain_types}, {"cpu_model", t.cpu_model}};
  std::vector<const Core*> cores;
  for (const auto& c : t.cores) cores.push_back(&c);
  std::stable_sort(cores.begin(), cores.end(), [](auto* a, auto* b) { return std::tie(a->socket, a->node) < std::tie(b->socket, b->node); });
  json core_map = json::array();
  for (const Core* c : cores) {
    json pcpus = json::array();
    for (int p : c->pcpus.ToVector()) {
      PcpuUse u = s.Use(p);
      std::string use = UseName(u.kind);
      if (u.kind == PcpuUse::Kind::kFree && s.reserve().pcpus.Contains(p)) use = "reserve";
      pcpus.push_back({{"id", p}, {"use", use}, {"owner", u.owner}, {"detail", u.detail}});
    }
    core_map.push_back({{"socket", c->socket}, {"node", c->node}, {"core", t.FindPcpu(c->pcpus.First())->core}, {"pcpus", pcpus}});
  }
  v["cores"] = core_map;
  json vms = json::array();
  for (const auto& [name, placed] : s.vms()) vms.push_back(name);
  v["vms"] = vms;
  json groups = json::array();
  for (const auto& [name, g] : s.groups()) groups.push_back({{"name", name}, {"pcpu", g.pcpu}, {"node", g.node}, {"members", g.members}});
  v["groups"] = groups;
  v["reserve"] = {{"pcpus", s.reserve().pcpus.ToString()}};
  return v;
}

json GroupView(const StoredGroup& g, const std::string& state) {
  json members = json::array();
  for (const auto& m : g.members) members.push_back({{"vm", m.vm}, {"role", ToString(m.role)}, {"host", m.host}});
  json service = nullptr;
  if (g.service) service = {{"vlan", g.service->vlan}, {"parking_vlan", g.service->parking_vlan}, {"interface", g.service->interface}};
  return {{"name", g.request.name}, {"state", state}, {"members", members}, {"domains", g.request.domains},
          {"protect", g.request.protect}, {"service", service}, {"vm", VmSpecToJson(g.request.vm)}};
}

json VmView(const VmRecord& r, const HostState* state) {
  json v = {{"name", r.name}, {"host", r.host}, {"state", r.state}};
  v["spec"] = json::parse(r.spec_json, nullptr, false);
  v["assignment"] = json::parse(r.assignment_json, nullptr, false);
  json vcpus = json::array();
  const PlacedVm* placed = nullptr;
  if (state && state->vms().count(r.name)) placed = &state->vms().at(r.name);
  if (placed) {
    const Assignment& a = placed->assignment;
    for (size_t i = 0; i < a.vcpu_pcpus.size(); ++i) {
      const Pcpu* p = state->topology().FindPcpu(a.vcpu_pcpus[i]);
      vcpus.push_back({{"vcpu", i}, {"policy", placed->spec.vcpus[i].ToString()}, {"pcpu", a.vcpu_pcpus[i]},
                       {"core", p ? p->core : -1}, {"node", p ? p->node : -1}, {"socket", p ? p->socket : -1}});
    }
    v["emulator"] = {{"policy", placed->spec.emulator.ToString()}, {"intended", a.emulator.ToString()}};
  }
  v["vcpus"] = vcpus;
  return v;
}

void MergeActualPinning(const json& actual, json* view) {
  (*view)["pinning_verified"] = actual["pinning_verified"];
  if (actual.contains("emulator")) (*view)["emulator"] = actual["emulator"];
  if (!actual.contains("actual_vcpus")) return;
  auto& vcpus = (*view)["vcpus"];
  for (size_t i = 0; i < vcpus.size() && i < actual["actual_vcpus"].size(); ++i) vcpus[i].update(actual["actual_vcpus"][i]);
}

json VmSummaryView(const VmRecord& r) {
  json spec = json::parse(r.spec_json, nullptr, false);
  json a = json::parse(r.assignment_json, nullptr, false);
  CpuSet pcpus;
  if (a.is_object() && a.contains("vcpu_pcpus"))
    for (int p : a["vcpu_pcpus"]) pcpus.Add(p);
  return {{"name", r.name},
          {"host", r.host},
          {"state", r.state},
          {"vcpus", spec.is_object() ? spec.value("vcpus", 0) : 0},
          {"pcpus", pcpus.ToString()},
          {"emulator", a.is_object() ? a.value("emulator", "") : ""},
          {"memory_mib", spec.is_object() ? spec.value("memory_mib", 0) : 0}};
}

json EventView(const EventRecord& e) {
  return {{"id", e.id}, {"unix_ms", e.unix_ms}, {"kind", e.kind}, {"subject", e.subject}, {"message", e.message}};
}

}  // namespace corepin
