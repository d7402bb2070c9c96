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
