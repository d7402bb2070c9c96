#include "placement/invariants.h"

#include <algorithm>
#include <set>

namespace corepin {
namespace {

std::string P(int p) { return "pCPU " + std::to_string(p); }

}  // namespace

Status CheckInvariants(const HostState& hs) {
  const HostTopology& topo = hs.topology();
  const CpuPartition& part = hs.partition();
  const std::string where = "host " + hs.name() + ": ";
  std::map<int, std::string> owner;  // pCPU -> who holds it
  auto hold = [&](int p, const std::string& who) -> Status {
    if (!part.allocatable.Contains(p)) return Internal(where + P(p) + " held by " + who + " is not allocatable");
    auto [it, fresh] = owner.emplace(p, who);
    if (!fresh) return Internal(where + P(p) + " has two owners: " + it->second + " and " + who);
    return Status::Ok();
  };

  for (const auto& [g, gs] : hs.groups()) {
    if (gs.members.empty()) return Internal(where + "group " + g + " has no member");
    if (gs.Slots() > part.group_member_limit) return Internal(where + "group " + g + " exceeds its member limit");
    if (auto s = hold(gs.pcpu, "group " + g); !s) return s;
    for (int p : gs.reserved_siblings.ToVector())
      if (auto s = hold(p, "group " + g + " (sibling)"); !s) return s;
    if (topo.FindPcpu(gs.pcpu)->node != gs.node) return Internal(where + "group " + g + " records the wrong node");
  }

  std::map<std::pair<int, uint64_t>, uint64_t> mem;
  for (const auto& [name, placed] : hs.vms()) {
    const VmSpec& spec = placed.spec;
    const Assignment& a = placed.assignment;
    const std::string vm = "VM " + name;
    if (a.vcpu_pcpus.size() != spec.vcpus.size()) return Internal(where + vm + ": vCPU count differs from its spec");
    CpuSet expect_exclusive, used;  // used: every pCPU where this VM's threads run
    std::set<int> seen_dedicated;
    for (size_t i = 0; i < spec.vcpus.size(); ++i) {
      const VcpuPolicy& v = spec.vcpus[i];
      const int p = a.vcpu_pcpus[i];
      const std::string vcpu = vm + " vcpu " + std::to_string(i);
      if (part.housekeeping.Contains(p)) return Internal(where + vcpu + " is on housekeeping " + P(p));
      used.Add(p);
      if (v.kind == VcpuPolicy::Kind::kGroup) {
        const GroupState* gs = hs.FindGroup(v.group);
        if (!gs || gs->pcpu != p || a.groups.count(v.group) == 0 || a.groups.at(v.group) != p)
          return Internal(where + vcpu + " (group " + v.group + ") is not on its group's pCPU");
        auto m = gs->members.find(name);
        if (m == gs->members.end() || m->second != GroupSlots(spec, v.group))
          return Internal(where + vm + " is not recorded as a member of group " + v.group);
        continue;
      }
      if (v.kind == VcpuPolicy::Kind::kPinned && v.pcpu != p) return Internal(where + vcpu + " is not on its pinned " + P(v.pcpu));
      if (!seen_dedicated.insert(p).second) return Internal(where + vcpu + " shares " + P(p) + " with another vCPU");
      expect_exclusive.Add(p);
    }
    switch (spec.emulator.kind) {
      case EmulatorPolicy::Kind::kHousekeeping:
        // All of housekeeping, or a subset a re-pin chose (docs/api.md).
        if (a.emulator.Empty() || !a.emulator.IsSubsetOf(part.housekeeping))
          return Internal(where + vm + ": emulator threads " + a.emulator.ToString() + " are not on housekeeping " +
                          part.housekeeping.ToString());
        break;
      case EmulatorPolicy::Kind::kIsolate:
        if (a.emulator.Size() != 1 || used.Contains(a.emulator.First()))
          return Internal(where + vm + ": isolated emulator threads do not have a pCPU of their own");
        expect_exclusive.Add(a.emulator.First());
        used.Add(a.emulator.First());
        break;
      case EmulatorPolicy::Kind::kGroup: {
        const GroupState* gs = hs.FindGroup(spec.emulator.group);
        if (!gs || a.emulator != CpuSet{gs->pcpu}) return Internal(where + vm + ": emulator threads are not on group " + spec.emulator.group);
        used.Add(gs->pcpu);
        break;
      }
    }
    if (a.exclusive != expect_exclusive)
      return Internal(where + vm + ": holds " + a.exclusive.ToString() + " but its vCPUs and emulator need " + expect_exclusive.ToString());
    for (int p : a.exclusive.ToVector())
      if (auto s = hold(p, vm); !s) return s;
    for (int p : a.reserved_siblings.ToVector())
      if (auto s = hold(p, vm + " (sibling)"); !s) return s;

    // SMT.
    CpuSet group_pcpus;
    for (const auto& [g, gp] : a.groups) group_pcpus.Add(gp);
    for (int p : used.ToVector()) {
      CpuSet sib = topo.FindPcpu(p)->siblings;
      sib.Remove(p);
      const GroupState* group_here = nullptr;
      for (const auto& [g, gp] : a.groups)
        if (gp == p) group_here = hs.FindGroup(g);
      CpuSet allowed = a.reserved_siblings;
      if (group_here) allowed = allowed.Union(group_here->reserved_siblings);
      if (spec.smt == SmtPolicy::kIsolate && !sib.IsSubsetOf(allowed))
        return Internal(where + vm + " (smt isolate): sibling " + sib.Minus(allowed).ToString() + " of " + P(p) + " is not held empty");
      // require: the core is the VM's own: its pCPUs, its groups' pCPUs, or held empty.
      if (spec.smt == SmtPolicy::kRequire && a.exclusive.Contains(p) && !sib.IsSubsetOf(allowed.Union(a.exclusive).Union(group_pcpus)))
        return Internal(where + vm + " (smt require): " + P(p) + " does not have its whole core");
    }

    // NUMA and NIC.
    std::set<int> nodes;
    for (int p : used.ToVector()) nodes.insert(topo.FindPcpu(p)->node);
    std::set<int> mem_nodes;
    uint64_t total = 0;
    for (auto [n, mib] : a.memory_mib) {
      mem_nodes.insert(n);
      total += mib;
      mem[{n, a.page_kib}] += mib;
    }
    if (total != spec.memory_mib || a.page_kib != spec.page_kib)
      return Internal(where + vm + ": memory assigned " + std::to_string(total) + " MiB differs from its spec");
    if (spec.numa == NumaPolicy::kSingle) {
      if (nodes.size() != 1 || mem_nodes != nodes) return Internal(where + vm + " (numa single) spans several nodes");
      if (!spec.nic.empty() && topo.FindNic(spec.nic)->node != *nodes.begin())
        return Internal(where + vm + " is not on the node of NIC " + spec.nic);
      if (!spec.physnet.empty()) {
        bool near = false;
        for (const auto& nic : part.physnets.at(spec.physnet)) near |= topo.FindNic(nic)->node == *nodes.begin();
        if (!near) return Internal(where + vm + " is not near physnet " + spec.physnet);
      }
    } else if (!std::includes(nodes.begin(), nodes.end(), mem_nodes.begin(), mem_nodes.end())) {
      return Internal(where + vm + " (numa spread) has memory on a node without its vCPUs");
    }
  }

  for (const auto& [key, mib] : mem) {
    if (mib != hs.MemoryUsedMib(key.first, key.second)) return Internal(where + "memory accounting of node" + std::to_string(key.first) + " drifted");
    if (mib > hs.MemoryCapacityMib(key.first, key.second))
      return Internal(where + "node" + std::to_string(key.first) + " has more " + PageSizeToString(key.second) + " memory placed than it has");
  }
  CpuSet held;
  for (const auto& [p, who] : owner) held.Add(p);
  if (hs.free() != part.allocatable.Minus(held))
    return Internal(where + "free set " + hs.free().ToString() + " differs from allocatable minus held " + part.allocatable.Minus(held).ToString());
  return Status::Ok();
}

}  // namespace corepin
