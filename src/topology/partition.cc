#include "topology/partition.h"

namespace corepin {

Result<std::vector<std::string>> ResolvePartition(const HostTopology& topo, CpuPartition* p) {
  std::vector<std::string> warnings;
  const CpuSet all = topo.AllPcpus();
  if (p->housekeeping.Empty())
    return Invalid("housekeeping: must name at least one pCPU for the host OS and emulator threads (e.g. \"0\"); this host has pCPUs " + all.ToString());
  if (!p->housekeeping.IsSubsetOf(all))
    return Invalid("housekeeping: pCPUs " + p->housekeeping.Minus(all).ToString() + " do not exist on this host (it has " + all.ToString() + ")");
  if (p->allocatable.Empty()) p->allocatable = all.Minus(p->housekeeping);
  if (!p->allocatable.IsSubsetOf(all))
    return Invalid("allocatable: pCPUs " + p->allocatable.Minus(all).ToString() + " do not exist on this host (it has " + all.ToString() + ")");
  if (p->allocatable.Intersects(p->housekeeping))
    return Invalid("allocatable: pCPUs " + p->allocatable.Intersect(p->housekeeping).ToString() + " are also housekeeping; a pCPU is one or the other");
  if (p->allocatable.Empty())
    return Invalid("allocatable: no pCPU is left for VMs once housekeeping " + p->housekeeping.ToString() + " is taken from " + all.ToString());
  if (p->group_member_limit < 1 || p->group_member_limit > 64)
    return Invalid("group_member_limit: " + std::to_string(p->group_member_limit) + " is out of range 1..64");
  for (const auto& [net, nics] : p->physnets) {
    if (nics.empty()) return Invalid("physnets." + net + ": names no NIC; list the NICs that reach it");
    for (const auto& n : nics)
      if (!topo.FindNic(n)) {
        std::string have;
        for (const auto& x : topo.nics) have += (have.empty() ? "" : ", ") + x.name;
        return Invalid("physnets." + net + ": NIC \"" + n + "\" is not on this host (NICs: " + (have.empty() ? "none" : have) + ")");
      }
  }
  // A core split between housekeeping and VMs works, but the VM's pCPU shares a core with the
  // host's noise; isolate-policy VMs will not use such cores.
  for (const auto& core : topo.cores) {
    if (core.pcpus.Intersects(p->housekeeping) && core.pcpus.Intersects(p->allocatable))
      warnings.push_back("core with pCPUs " + core.pcpus.ToString() + " is split: " +
                         core.pcpus.Intersect(p->housekeeping).ToString() + " housekeeping, " +
                         core.pcpus.Intersect(p->allocatable).ToString() +
                         " allocatable; SMT isolate VMs will not use it");
  }
  for (const auto& node : topo.nodes)
    if (!node.pcpus.Intersects(p->allocatable))
      warnings.push_back("NUMA node " + std::to_string(node.id) + " has no allocatable pCPU");
  return warnings;
}

}  // namespace corepin
