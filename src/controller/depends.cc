#include "controller/depends.h"

#include <algorithm>
#include <set>

#include "common/text.h"
#include "driver/domain_xml.h"
#include "placement/whatif.h"

namespace corepin {

using nlohmann::json;

namespace {

constexpr char kHowTo[] =
    "name the hardware: host=H (with pcpu=N, core=N, node=N or nic=NAME for a part of it), port=PORT, "
    "or label=KEY=VALUE (rack=VALUE for short)";

Result<int> ParseNumber(const std::string& name, const std::string& text) {
  size_t used = 0;
  int v = -1;
  try {
    v = std::stoi(text, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < 0)
    return Invalid(name + ": \"" + text + "\" is not a number 0 or more; e.g. " + name + "=5");
  return v;
}

// A VM that depends on the hardware, and how.
struct Dependent {
  std::string vm;
  const ClusterHost* host = nullptr;
  json relation;
};

// How the VM uses `pcpus` (and, for a node, its memory there); null when it does not.
json CpuRelation(const PlacedVm& vm, const CpuSet& pcpus, int node) {
  const Assignment& a = vm.assignment;
  std::vector<int> vcpus;
  CpuSet on;
  for (size_t i = 0; i < a.vcpu_pcpus.size(); ++i)
    if (pcpus.Contains(a.vcpu_pcpus[i])) vcpus.push_back(static_cast<int>(i)), on.Add(a.vcpu_pcpus[i]);
  const CpuSet emulator = a.emulator.Intersect(pcpus);
  uint64_t memory = 0;
  if (auto it = a.memory_mib.find(node); node >= 0 && it != a.memory_mib.end()) memory = it->second;
  if (vcpus.empty() && emulator.Empty() && memory == 0) return nullptr;
  json r = {{"vcpus", vcpus}, {"pcpus", on.ToString()}, {"emulator", emulator.ToString()}};
  if (node >= 0) r["memory_mib"] = memory;
  return r;
}

// The NICs on host `s` that the spec asks to run near: the named NIC, or the NICs of its physnet.
std::vector<std::string> LocalityNics(const VmSpec& spec, const HostState& s) {
  if (!spec.nic.empty()) return {spec.nic};
  if (auto it = s.partition().physnets.find(spec.physnet); !spec.physnet.empty() && it != s.partition().physnets.end())
    return it->second;
  return {};
}

json VmJson(const Cluster& c, const Dependent& d) {
  const Cluster::VmLocation* loc = c.FindVm(d.vm);
  const std::string group = RedundancyGroupOf(c, d.vm);
  json role = nullptr;
  if (!group.empty())
    if (const GroupMember* m = c.FindGroup(loc->group)->FindMember(d.vm)) role = ToString(m->role);
  return {{"vm", d.vm}, {"host", d.host->name}, {"group", group.empty() ? json() : json(group)}, {"role", role},
          {"relation", d.relation}};
}

// What the failure of `failed` VMs does to their groups. With `whatif` (host failures) each
// lost member has a target or is lost for good; without (a part of a host failed) they are
// simply down until restarted or moved.
json Impact(const Cluster& c, const std::vector<std::string>& failed, const WhatIfReport* whatif) {
  std::set<std::string> down(failed.begin(), failed.end());
  std::map<std::string, const WhatIfMove*> moves;
  std::map<std::string, const WhatIfLoss*> losses;
  if (whatif) {
    for (const auto& m : whatif->moves) moves[m.vm] = &m;
    for (const auto& l : whatif->lost) losses[l.vm] = &l;
  }
  std::set<std::string> groups_hit;
  json standalone = json::array();
  for (const auto& vm : failed) {
    const std::string g = RedundancyGroupOf(c, vm);
    if (!g.empty()) {
      groups_hit.insert(g);
      continue;
    }
    json s = {{"vm", vm}, {"host", c.HostById(c.FindVm(vm)->host)->name}};
    if (auto m = moves.find(vm); m != moves.end())
      s["effect"] = "down until it is healed on " + m->second->to + " (best effort: standalone VMs have no reserve)";
    else if (auto l = losses.find(vm); l != losses.end())
      s["effect"] = "lost: " + l->second->reason;
    else
      s["effect"] = "down until it is restarted or moved (a standalone VM has no redundancy)";
    standalone.push_back(s);
  }
  json groups = json::array();
  std::vector<std::string> lose_act, lose_sby, until_promotion, from_reserve, best_effort, lost;
  for (const auto& name : groups_hit) {
    const RedundancyGroup& g = *c.FindGroup(name);
    json members_lost = json::array(), survivors = json::array();
    bool act_lost = false, sby_lost = false, all_precomputed = true, any_lost = false, act_has_no_target = false;
    std::vector<std::string> surviving_sbys, no_target;
    for (const auto& m : g.members) {
      const std::string host = c.HostById(c.FindVm(m.vm)->host)->name;
      if (!down.count(m.vm)) {
        survivors.push_back({{"vm", m.vm}, {"role", ToString(m.role)}, {"host", host}});
        if (m.role == Role::kSby) surviving_sbys.push_back(m.vm);
        continue;
      }
      (m.role == Role::kAct ? act_lost : sby_lost) = true;
      json x = {{"vm", m.vm}, {"role", ToString(m.role)}, {"host", host}};
      if (auto mv = moves.find(m.vm); mv != moves.end()) {
        x["target"] = {{"host", mv->second->to}, {"pcpus", mv->second->assignment.VcpuPcpus().ToString()},
                       {"precomputed", mv->second->precomputed}};
        all_precomputed &= mv->second->precomputed;
      } else if (auto l = losses.find(m.vm); l != losses.end()) {
        x["lost"] = l->second->reason;
        any_lost = true;
        act_has_no_target |= m.role == Role::kAct;
        no_target.push_back(m.vm);
      }
      members_lost.push_back(x);
    }
    std::string service = "continues";
    if (act_lost && !surviving_sbys.empty()) {
      service = "down until a SBY (" + Join(surviving_sbys) + ") is promoted";
      until_promotion.push_back(name);
    } else if (act_lost) {
      service = whatif && !act_has_no_target ? "down until the ACT is healed (no SBY left)" : "down (no SBY left to promote)";
    }
    std::string redundancy;
    if (!whatif) {
      redundancy = "reduced until the lost members are restarted or moved";
    } else if (any_lost) {
      redundancy = "reduced: no host can take " + Join(no_target);
      lost.push_back(name);
    } else if (all_precomputed) {
      redundancy = "restored from the healing reserve";
      from_reserve.push_back(name);
    } else {
      redundancy = "restored in free capacity (best effort, not precomputed)";
      best_effort.push_back(name);
    }
    if (act_lost) lose_act.push_back(name);
    if (sby_lost) lose_sby.push_back(name);
    groups.push_back({{"group", name}, {"protect", g.protect}, {"lost", members_lost}, {"survivors", survivors},
                      {"service", service}, {"redundancy", redundancy}});
  }
  json out = {{"groups", groups}, {"standalone", standalone}, {"lose_act", lose_act}, {"lose_sby", lose_sby},
              {"act_down_until_promotion", until_promotion}};
  if (whatif) {
    out["within_guarantee"] = whatif->within_guarantee;
    out["k"] = whatif->k;
    out["healed_from_reserve"] = from_reserve;
    out["healed_best_effort"] = best_effort;
    out["lost"] = lost;
  }
  return out;
}

Result<const ClusterHost*> HostNamed(const Cluster& c, const std::string& name) {
  if (const ClusterHost* h = c.FindHost(name)) return h;
  return NotFound("host " + name + " is not in the cluster; list hosts with corepin host list");
}

// The hosts of a selector that names hosts (host alone, or a label).
Result<std::vector<const ClusterHost*>> SelectedHosts(const Cluster& c, const DependsQuery& q, json* hardware) {
  if (!q.host.empty()) {
    auto h = HostNamed(c, q.host);
    if (!h) return h.error();
    *hardware = {{"kind", "host"}, {"hosts", {q.host}}, {"description", "host " + q.host}};
    return std::vector<const ClusterHost*>{*h};
  }
  std::vector<const ClusterHost*> out;
  std::vector<std::string> names;
  for (const auto* h : c.hosts())
    if (auto it = h->labels.find(q.label_key); it != h->labels.end() && it->second == q.label_value) {
      out.push_back(h);
      names.push_back(h->name);
    }
  if (out.empty()) {
    std::vector<std::string> values;
    for (const auto& [v, n] : c.LabelValues(q.label_key)) values.push_back(v);
    return NotFound("no host has label " + q.label_key + "=" + q.label_value + " (values of " + q.label_key + ": " +
                    (values.empty() ? "none, no host has that label" : Join(values)) + ")");
  }
  *hardware = {{"kind", "label"}, {"label", q.label_key + "=" + q.label_value}, {"hosts", names},
               {"description", "hosts with " + q.label_key + "=" + q.label_value + ": " + Join(names)}};
  return out;
}

// pCPUs of a part of a host (pcpu, core, node), described in *hardware.
Result<CpuSet> SelectedPcpus(const ClusterHost& h, const DependsQuery& q, json* hardware) {
  const HostTopology& t = h.state.topology();
  const std::string host = "host " + h.name;
  if (q.pcpu) {
    const Pcpu* p = t.FindPcpu(*q.pcpu);
    if (!p) return NotFound("pcpu " + std::to_string(*q.pcpu) + ": " + host + " has pCPUs " + t.AllPcpus().ToString());
    *hardware = PcpuLinkJson(t, *q.pcpu);
    (*hardware)["kind"] = "pcpu";
    (*hardware)["description"] = host + " pCPU " + std::to_string(p->id) + " (core " + std::to_string(p->core) + " of socket " +
                                 std::to_string(p->socket) + ": pCPUs " + p->siblings.ToString() + "; node " +
                                 std::to_string(p->node) + ")";
    return CpuSet{*q.pcpu};
  }
  if (q.core) {
    std::vector<const Core*> found;
    for (const auto& core : t.cores)
      if (t.FindPcpu(core.pcpus.First())->core == *q.core && (!q.socket || core.socket == *q.socket)) found.push_back(&core);
    if (found.empty())
      return NotFound("core " + std::to_string(*q.core) + (q.socket ? " of socket " + std::to_string(*q.socket) : "") + ": " + host +
                      " has no such core (core ids per socket, as `corepin host show` prints them)");
    if (found.size() > 1) {
      std::vector<std::string> s;
      for (const Core* f : found) s.push_back("--socket " + std::to_string(f->socket));
      return Invalid("core " + std::to_string(*q.core) + " is on " + std::to_string(found.size()) + " sockets of " + host +
                     " (core ids repeat per socket); add " + Join(s, " or ") + " (socket=N in the API)");
    }
    const Core& core = *found.front();
    *hardware = {{"kind", "core"}, {"core", *q.core}, {"core_index", core.index}, {"socket", core.socket}, {"node", core.node},
                 {"pcpus", core.pcpus.ToString()},
                 {"description", host + " core " + std::to_string(*q.core) + " of socket " + std::to_string(core.socket) +
                                     " (pCPUs " + core.pcpus.ToString() + "; node " + std::to_string(core.node) + ")"}};
    return core.pcpus;
  }
  const NumaNode* n = t.FindNode(*q.node);
  if (!n) {
    std::vector<std::string> ids;
    for (const auto& x : t.nodes) ids.push_back(std::to_string(x.id));
    return NotFound("node " + std::to_string(*q.node) + ": " + host + " has NUMA nodes " + Join(ids));
  }
  *hardware = {{"kind", "node"}, {"node", n->id}, {"pcpus", n->pcpus.ToString()},
               {"description", host + " NUMA node " + std::to_string(n->id) + " (pCPUs " + n->pcpus.ToString() + ")"}};
  return n->pcpus;
}

}  // namespace

Result<DependsQuery> ParseDependsQuery(const std::map<std::string, std::string>& params) {
  static const std::set<std::string> kKnown = {"host", "pcpu", "core", "socket", "node", "nic", "port", "label", "rack"};
  for (const auto& [k, v] : params)
    if (!kKnown.count(k)) return Invalid("unknown parameter \"" + k + "\"; " + kHowTo);
  DependsQuery q;
  std::vector<std::string> tops, parts;
  for (const char* k : {"host", "port", "label", "rack"})
    if (params.count(k)) tops.push_back(k);
  for (const char* k : {"pcpu", "core", "node", "nic"})
    if (params.count(k)) parts.push_back(k);
  if (tops.empty() && parts.empty()) return Invalid(std::string("no selector; ") + kHowTo);
  if (tops.size() > 1) return Invalid("one selector at a time, got " + Join(tops, " and ") + "; " + kHowTo);
  if (parts.size() > 1) return Invalid("at most one of pcpu, core, node, nic, got " + Join(parts, " and ") + "; e.g. host=h1&pcpu=5");
  if (!parts.empty() && (tops.empty() || tops[0] != "host"))
    return Invalid(parts[0] + " is a part of a host: add host=NAME, e.g. host=h1&" + parts[0] + "=" +
                   (parts[0] == "nic" ? "ens1f0" : "5"));
  if (params.count("socket") && !params.count("core")) return Invalid("socket goes with core, e.g. host=h1&core=5&socket=1");
  for (const auto& [k, v] : params)
    if (v.empty()) return Invalid(k + ": empty; " + kHowTo);
  auto get = [&](const char* k) { return params.count(k) ? params.at(k) : std::string(); };
  q.host = get("host");
  q.port = get("port");
  q.nic = get("nic");
  for (auto [name, field] : {std::pair{"pcpu", &q.pcpu}, {"core", &q.core}, {"socket", &q.socket}, {"node", &q.node}})
    if (params.count(name)) {
      auto n = ParseNumber(name, params.at(name));
      if (!n) return n.error();
      *field = *n;
    }
  if (params.count("rack")) {
    q.label_key = "rack";
    q.label_value = params.at("rack");
  } else if (params.count("label")) {
    const std::string& l = params.at("label");
    const size_t eq = l.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == l.size())
      return Invalid("label: \"" + l + "\" is not KEY=VALUE; e.g. label=rack=r1 (percent-encode '=' as %3D if needed)");
    q.label_key = l.substr(0, eq);
    q.label_value = l.substr(eq + 1);
  }
  return q;
}

namespace {

// What the selector found: the hardware, the VMs that depend on it, and for hosts the what-if.
struct Found {
  json hardware;
  std::vector<Dependent> deps;
  std::optional<WhatIfReport> whatif;
  json notes = json::array();
};

Status FindOnHosts(const Cluster& c, const DependsQuery& q, Found* f) {
  auto hosts = SelectedHosts(c, q, &f->hardware);
  if (!hosts) return hosts.error();
  std::vector<std::string> names;
  for (const ClusterHost* h : *hosts) {
    names.push_back(h->name);
    for (const auto& [vm, placed] : h->state.vms())
      f->deps.push_back({vm, h, {{"runs_on", h->name}, {"pcpus", placed.assignment.VcpuPcpus().ToString()}}});
  }
  auto report = WhatIf(c, names);
  if (!report) return report.error();
  f->whatif = std::move(*report);
  return Status::Ok();
}

Status FindOnPort(const Cluster& c, const LinkFacts& facts, const DependsQuery& q, Found* f) {
  for (const auto* h : c.hosts())
    for (const auto& [vm, placed] : h->state.vms())
      for (const auto& i : placed.spec.interfaces)
        if (PortName(vm, h->name, i.name) == q.port) {
          const std::string bridge = facts.hosts.count(h->name) ? facts.hosts.at(h->name).bridge : "";
          f->deps.push_back({vm, h, {{"interface", i.name}, {"bridge", bridge}}});
          f->hardware = {{"kind", "port"}, {"port", q.port}, {"bridge", bridge}, {"host", h->name},
                         {"description", "switch port " + q.port + " on bridge " + (bridge.empty() ? "(none)" : bridge) +
                                             " of host " + h->name + ": interface " + i.name + " of VM " + vm}};
        }
  if (f->deps.empty()) return NotFound("port " + q.port + " is no VM interface's port; `corepin vm links NAME` shows a VM's ports");
  return Status::Ok();
}

Status FindOnNic(const ClusterHost& h, const std::string& name, Found* f) {
  const HostTopology& t = h.state.topology();
  const Nic* nic = t.FindNic(name);
  if (!nic) {
    std::vector<std::string> names;
    for (const auto& n : t.nics) names.push_back(n.name);
    return NotFound("nic " + name + ": host " + h.name + " has NICs " + (names.empty() ? "none recorded in its topology" : Join(names)));
  }
  f->hardware = {{"kind", "nic"}, {"nic", nic->name}, {"node", nic->node},
                 {"description", "host " + h.name + " NIC " + nic->name + " (NUMA node " + std::to_string(nic->node) + ")"}};
  const NumaNode* node = t.FindNode(nic->node);
  for (const auto& [vm, placed] : h.state.vms()) {
    const auto nics = LocalityNics(placed.spec, h.state);
    if (!node || std::find(nics.begin(), nics.end(), nic->name) == nics.end()) continue;
    const CpuSet on = placed.assignment.VcpuPcpus().Intersect(node->pcpus);
    if (on.Empty()) continue;
    f->deps.push_back({vm, &h, {{"nic_locality", placed.spec.nic.empty() ? "physnet " + placed.spec.physnet : "nic " + placed.spec.nic},
                                {"pcpus", on.ToString()}, {"node", nic->node}}});
  }
  f->notes.push_back("VMs are listed when their spec asks to run near this NIC and their vCPUs are on its node; "
                     "their virtio interfaces are on the host's bridge, whose uplink NIC corepin does not track, "
                     "so a VM that does not ask for NIC locality may still carry traffic through it");
  return Status::Ok();
}

// A part of a host: a pCPU, a core, a node or a NIC.
Status FindOnPart(const Cluster& c, const DependsQuery& q, Found* f) {
  auto hr = HostNamed(c, q.host);
  if (!hr) return hr.error();
  const ClusterHost& h = **hr;
  if (!q.nic.empty()) {
    if (auto s = FindOnNic(h, q.nic, f); !s) return s;
  } else {
    auto pcpus = SelectedPcpus(h, q, &f->hardware);
    if (!pcpus) return pcpus.error();
    for (const auto& [vm, placed] : h.state.vms())
      if (json r = CpuRelation(placed, *pcpus, q.node ? *q.node : -1); !r.is_null()) f->deps.push_back({vm, &h, r});
  }
  f->hardware["host"] = h.name;
  return Status::Ok();
}

}  // namespace

Result<json> Depends(const Cluster& c, const LinkFacts& facts, const DependsQuery& q) {
  Found f;
  const bool part = q.pcpu || q.core || q.node || !q.nic.empty();
  Status found = !q.port.empty() ? FindOnPort(c, facts, q, &f) : part ? FindOnPart(c, q, &f) : FindOnHosts(c, q, &f);
  if (!found) return found.error();
  json vms = json::array();
  std::vector<std::string> failed;
  std::set<std::string> groups;
  for (const auto& d : f.deps) {
    vms.push_back(VmJson(c, d));
    failed.push_back(d.vm);
    if (auto g = RedundancyGroupOf(c, d.vm); !g.empty()) groups.insert(g);
  }
  json impact = Impact(c, failed, f.whatif ? &*f.whatif : nullptr);
  impact["assumes"] = f.whatif ? "the hosts fail together; each lost VM goes where the what-if says"
                               : "every VM listed fails with it and stays down until restarted or moved";
  return json{{"hardware", f.hardware}, {"vms", vms}, {"groups", groups}, {"if_it_fails", impact}, {"notes", f.notes}};
}

}  // namespace corepin
