#include "placement/cluster_rebuild.h"

namespace corepin {

Result<RebuiltCluster> RebuildCluster(const Cluster& c, const std::map<std::string, Assignment>& moved) {
  ClusterOptions opts = c.options();
  opts.failures_tolerated = c.failures_tolerated();
  RebuiltCluster out{std::make_unique<Cluster>(opts), Status::Ok()};
  Cluster& copy = *out.cluster;
  for (const ClusterHost* h : c.hosts()) {
    const HostState& s = h->state;
    if (auto st = copy.AddHost(HostState(s.name(), s.topology(), s.partition()), h->labels); !st) return st.error();
  }
  for (const ClusterHost* h : c.hosts())
    if (!h->schedulable)
      if (auto st = copy.SetSchedulable(h->name, false); !st) return st.error();
  for (const auto& [name, g] : c.groups()) {
    RedundancyGroup group = g;
    std::map<std::string, Assignment> assignments;
    for (auto& m : group.members) {
      auto it = moved.find(m.vm);
      assignments[m.vm] = it != moved.end() ? it->second : c.HostById(c.FindVm(m.vm)->host)->state.vms().at(m.vm).assignment;
      m.host = assignments[m.vm].host;
    }
    std::map<std::string, std::string> lost;  // VM -> reason
    for (const auto& [vm, l] : c.lost())
      if (l.group == name) {
        group.members.push_back({vm, l.role, l.from});
        lost[vm] = l.reason;
      }
    if (auto st = copy.RestoreGroup(group, assignments, lost); !st) return Error{st.error().code, "group " + name + ": " + st.error().message};
  }
  out.replan = copy.Replan();
  return out;
}

}  // namespace corepin
