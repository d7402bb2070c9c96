#include "topology/topology.h"

#include <algorithm>
#include <set>

namespace corepin {

CpuSet HostTopology::AllPcpus() const {
  CpuSet s;
  for (const auto& p : pcpus) s.Add(p.id);
  return s;
}

const Pcpu* HostTopology::FindPcpu(int id) const {
  auto it = std::lower_bound(pcpus.begin(), pcpus.end(), id, [](const Pcpu& p, int v) { return p.id < v; });
  return it != pcpus.end() && it->id == id ? &*it : nullptr;
}

const NumaNode* HostTopology::FindNode(int id) const {
  for (const auto& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

const Nic* HostTopology::FindNic(const std::string& name) const {
  for (const auto& n : nics)
    if (n.name == name) return &n;
  return nullptr;
}

int HostTopology::SocketCount() const {
  std::set<int> s;
  for (const auto& p : pcpus) s.insert(p.socket);
  return static_cast<int>(s.size());
}

bool HostTopology::SupportsDomainType(const std::string& t) const {
  return std::find(domain_types.begin(), domain_types.end(), t) != domain_types.end();
}

}  // namespace corepin

namespace corepin {

std::string CpuLayoutDifference(const HostTopology& stored, const HostTopology& actual) {
  auto describe = [](const Pcpu& p) {
    return "node " + std::to_string(p.node) + ", socket " + std::to_string(p.socket) + ", core " + std::to_string(p.core) +
           ", siblings " + p.siblings.ToString();
  };
  if (stored.AllPcpus() != actual.AllPcpus())
    return "pCPUs " + stored.AllPcpus().ToString() + " stored, " + actual.AllPcpus().ToString() + " now";
  for (const Pcpu& s : stored.pcpus) {
    const Pcpu* a = actual.FindPcpu(s.id);
    if (s.node != a->node || s.socket != a->socket || s.core != a->core || s.siblings != a->siblings)
      return "pCPU " + std::to_string(s.id) + ": " + describe(s) + " stored, " + describe(*a) + " now";
  }
  if (stored.nodes.size() != actual.nodes.size())
    return std::to_string(stored.nodes.size()) + " NUMA nodes stored, " + std::to_string(actual.nodes.size()) + " now";
  return "";
}

}  // namespace corepin
