// Moving a placed VM to another host: Cluster::PlanMove (where it would go) and Cluster::MoveVm
// (the model after the migration), cluster.h.
#include <algorithm>

#include "placement/cluster.h"
#include "placement/scheduler.h"

namespace corepin {
namespace {

// Why host `to` breaks the anti-affinity or the failure domains of `vm`'s group, or "".
std::string GroupConflict(const Cluster& c, const RedundancyGroup& g, const std::string& vm, const ClusterHost& to) {
  for (const auto& key : g.domains)
    if (!to.labels.count(key))
      return "host " + to.name + " has no label " + key + ", a failure domain of group " + g.name;
  for (const auto& m : g.members) {
    if (m.vm == vm) continue;
    const ClusterHost* mh = c.HostById(c.FindVm(m.vm)->host);
    if (mh == &to) return "group " + g.name + "'s member " + m.vm + " is on host " + to.name + " (anti-affinity)";
    for (const auto& key : g.domains)
      if (auto l = mh->labels.find(key); l != mh->labels.end() && l->second == to.labels.at(key))
        return "host " + to.name + " shares " + key + "=" + l->second + " with group " + g.name + "'s member " + m.vm + " (on host " +
               mh->name + ")";
  }
  return "";
}

}  // namespace

Result<Assignment> Cluster::PlanMove(const std::string& vm, const std::string& to, SearchExplanation* ex) const {
  SearchExplanation local;
  SearchExplanation& e = ex ? *ex : local;
  e = SearchExplanation{};
  e.vm = vm;
  e.purpose = "move";
  e.hosts_total = static_cast<int>(order_.size());
  const VmLocation* loc = FindVm(vm);
  if (!loc) return NotFound("VM " + vm + " is not placed");
  const ClusterHost* target = nullptr;
  if (!to.empty() && !(target = FindHost(to))) return NotFound("host " + to + " is not in the cluster");
  const ClusterHost* from = HostById(loc->host);
  const RedundancyGroup& g = groups_.at(loc->group);
  const GroupMember* me = g.FindMember(vm);
  const VmSpec& spec = from->state.vms().at(vm).spec;

  HostFilter filter;
  filter.domains = g.domains;
  filter.only_host = to;
  filter.own_host = from->id;
  for (const auto& m : g.members) {
    if (m.vm == vm) continue;
    const ClusterHost* mh = HostById(vms_.at(m.vm).host);
    filter.avoid_hosts.insert(mh->id);
    for (const auto& key : g.domains)
      if (auto l = mh->labels.find(key); l != mh->labels.end()) filter.avoid_values[key].insert(l->second);
  }
  std::vector<Candidate> cands = RankHosts(*this, spec, me->role, filter, &e);
  e.purpose = "move";
  if (!cands.empty()) {
    e.chosen = cands.front().host->name;
    return std::move(cands.front().assignment);
  }

  const std::string what = "VM " + vm + " (" + DescribeSpec(spec) + ", on host " + from->name + ")";
  if (!target) return Unprocessable(what + " has no other host to move to: " + e.Summary());
  std::string why;
  if (target == from) {
    why = "it is already there; a move goes to another host";
  } else if (!target->schedulable) {
    why = "the host is unschedulable (drained or failed)";
  } else if (std::string conflict = GroupConflict(*this, g, vm, *target); !conflict.empty()) {
    why = conflict;
  } else {
    std::string cls = e.rejected.empty() ? "" : e.rejected.begin()->first;
    why = cls == reason::kReserve ? "it would fit only in the host's healing reserve" : "it does not fit (" + cls + ")";
    if (!e.examples.empty()) {
      std::string detail = e.examples.front().ToString();
      for (size_t at = detail.find('\n'); at != std::string::npos; at = detail.find('\n', at)) detail.replace(at, 1, "; ");
      why += ": " + detail;
    }
  }
  return Unprocessable(what + " cannot move to host " + to + ": " + why);
}

Status Cluster::MoveVm(const std::string& vm, const Assignment& a, bool record_fact) {
  const VmLocation* loc = FindVm(vm);
  if (!loc) return NotFound("VM " + vm + " is not placed");
  auto hit = by_name_.find(a.host);
  if (hit == by_name_.end()) return NotFound("VM " + vm + ": host " + a.host + " is not in the cluster");
  ClusterHost* to = hit->second.get();
  ClusterHost* from = Host(loc->host);
  const std::string group = loc->group;  // loc dies with the VM's index entry
  if (to == from)
    return Invalid("VM " + vm + " is on host " + from->name + " already; a move goes to another host (a re-pin is a reassignment)");
  RedundancyGroup& g = groups_.at(group);
  if (std::string conflict = GroupConflict(*this, g, vm, *to); !conflict.empty())
    return Unprocessable("VM " + vm + " cannot move to host " + to->name + ": " + conflict);

  const PlacedVm was = from->state.vms().at(vm);
  const auto at = static_cast<size_t>(
      std::find_if(g.members.begin(), g.members.end(), [&](const GroupMember& m) { return m.vm == vm; }) - g.members.begin());
  const Role role = g.members[at].role;
  // ApplyVm puts the member after its role's others; keep its place (switchovers reorder roles).
  auto keep_place = [&] {
    auto it = std::find_if(g.members.begin(), g.members.end(), [&](const GroupMember& m) { return m.vm == vm; });
    GroupMember m = std::move(*it);
    g.members.erase(it);
    g.members.insert(g.members.begin() + static_cast<std::ptrdiff_t>(at), std::move(m));
  };
  // A VM the plan already could not heal somewhere (a degraded cluster) may stay unhealable.
  bool degraded = false;
  for (const auto& key : reserve_.ScenariosWith(*this, from->id))
    if (const Scenario* sc = reserve_.Find(key); sc && sc->unhealable.count(vm)) degraded = true;

  const size_t mark = reserve_.Mark();
  reserve_.Forget(*this, vm);
  ReleaseVm(vm);
  auto put_back = [&] {
    reserve_.RollbackTo(*this, mark);  // the reserve as it was, before the VM takes its pCPUs back
    if (FindVm(vm)) ReleaseVm(vm);
    (void)ApplyVm(*from, group, role, was.spec, was.assignment);
    keep_place();
    reserve_.Commit();
  };
  if (auto s = ApplyVm(*to, group, role, was.spec, a); !s) {
    put_back();
    return Unprocessable("VM " + vm + " cannot move to host " + to->name + ": the assignment does not apply: " + s.error().message);
  }
  keep_place();

  Explanation ex;
  Status st = reserve_.Protect(*this, vm, &ex, degraded);
  if (st) {
    // Targets the move invalidates: on the new host (pCPUs, memory, shared groups it takes or
    // creates), on the old one (a shared group gone), and the group-mates' (anti-affinity).
    std::vector<std::pair<ScenarioKey, std::string>> bad;
    for (int id : {from->id, to->id})
      if (auto hp = reserve_.hosts_.find(id); hp != reserve_.hosts_.end())
        for (const auto& [key, use] : hp->second.uses)
          for (const auto& target : use.vms)
            if (!reserve_.Invalid(*this, key, reserve_.scenarios_.at(key).targets.at(target)).empty()) bad.push_back({key, target});
    for (const auto& m : g.members)
      for (const auto& key : reserve_.ScenariosWith(*this, vms_.at(m.vm).host))
        if (const Scenario* sc = reserve_.Find(key); sc && sc->targets.count(m.vm) && !reserve_.Invalid(*this, key, sc->targets.at(m.vm)).empty())
          bad.push_back({key, m.vm});
    if (!bad.empty()) st = reserve_.Replace(*this, std::move(bad), &ex);
  }
  if (!st && record_fact) {
    std::map<std::string, std::string> unhealable;
    reserve_.Rebuild(*this, &unhealable);  // from scratch: what it cannot cover is recorded unhealable
    return Status::Ok();
  }
  if (!st) {
    put_back();
    return Unprocessable("VM " + vm + " cannot move to host " + to->name + ": the healing reserve cannot be kept with this layout: " +
                         st.error().message);
  }
  reserve_.RetryUnhealable(*this);  // the old host's capacity may heal what could not be healed
  reserve_.Commit();
  return Status::Ok();
}

}  // namespace corepin
