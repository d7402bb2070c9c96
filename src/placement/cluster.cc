#include "placement/cluster.h"

#include <algorithm>

#include "common/text.h"
#include "placement/invariants.h"
#include "placement/placement_json.h"
#include "placement/scheduler.h"
#include "placement/whatif.h"

namespace corepin {
namespace {

// n choose r, saturating.
size_t Choose(size_t n, size_t r) {
  if (r > n) return 0;
  double c = 1;
  for (size_t i = 1; i <= r; ++i) c = c * static_cast<double>(n - r + i) / static_cast<double>(i);
  return c > 1e18 ? static_cast<size_t>(1e18) : static_cast<size_t>(c + 0.5);
}

}  // namespace

Cluster::Cluster(ClusterOptions options) : opts_(options) { reserve_.k_ = options.failures_tolerated; }

ClusterHost* Cluster::Host(int id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

const ClusterHost* Cluster::HostById(int id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

const ClusterHost* Cluster::FindHost(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.get();
}

const RedundancyGroup* Cluster::FindGroup(const std::string& name) const {
  auto it = groups_.find(name);
  return it == groups_.end() ? nullptr : &it->second;
}

const Cluster::VmLocation* Cluster::FindVm(const std::string& vm) const {
  auto it = vms_.find(vm);
  return it == vms_.end() ? nullptr : &it->second;
}

std::map<std::string, int> Cluster::LabelValues(const std::string& key) const {
  auto it = labels_.find(key);
  return it == labels_.end() ? std::map<std::string, int>{} : it->second;
}

Status Cluster::AddHost(HostState state, Labels labels) {
  const std::string name = state.name();
  if (!IsValidName(name)) return Invalid("host name \"" + name + "\" is not valid");
  if (by_name_.count(name)) return Conflict("host " + name + " is already in the cluster");
  if (!state.vms().empty()) return Invalid("host " + name + ": add it empty; its VMs come back through RestoreGroup");
  for (const auto& [k, v] : labels)
    if (!IsValidName(k)) return Invalid("host " + name + ": label key \"" + k + "\" is not valid");
  auto h = std::make_unique<ClusterHost>(ClusterHost{next_host_id_++, name, std::move(labels), true, std::move(state), {}, 0});
  const HostState& hs = h->state;
  for (const auto& [net, nics] : hs.partition().physnets)
    for (const auto& nic : nics)
      if (const Nic* n = hs.topology().FindNic(nic); n && n->node >= 0) h->nic_nodes.insert(n->node);
  if (hs.partition().physnets.empty())
    for (const auto& n : hs.topology().nics)
      if (n.node >= 0) h->nic_nodes.insert(n.node);
  for (const auto& [k, v] : h->labels) ++labels_[k][v];
  ClusterHost* raw = h.get();
  by_id_[raw->id] = raw;
  order_.insert(std::upper_bound(order_.begin(), order_.end(), raw, [](auto* a, auto* b) { return a->name < b->name; }), raw);
  by_name_[name] = std::move(h);
  ++schedulable_;
  reserve_.HostAdded(*this, raw->id);
  reserve_.RetryUnhealable(*this);
  reserve_.Commit();
  return Status::Ok();
}

Status Cluster::RemoveHost(const std::string& name) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return NotFound("host " + name + " is not in the cluster");
  ClusterHost* h = it->second.get();
  if (!h->state.vms().empty())
    return Conflict("host " + name + " holds " + std::to_string(h->state.vms().size()) + " VMs (e.g. " +
                    h->state.vms().begin()->first + "); delete or move them first");
  const bool was = h->schedulable;
  h->schedulable = false;
  Explanation ex;
  const size_t mark = reserve_.Mark();
  if (auto s = reserve_.HostLeaving(*this, h->id, true, &ex); !s) {
    reserve_.RollbackTo(*this, mark);
    h->schedulable = was;
    return Unprocessable("host " + name + " cannot leave: its healing reserve has nowhere else to go: " + s.error().message);
  }
  reserve_.Commit();
  schedulable_ -= was;
  for (const auto& [k, v] : h->labels)
    if (--labels_[k][v] == 0) {
      labels_[k].erase(v);
      if (labels_[k].empty()) labels_.erase(k);
    }
  order_.erase(std::find(order_.begin(), order_.end(), h));
  by_id_.erase(h->id);
  by_name_.erase(it);
  return Status::Ok();
}

Status Cluster::SetSchedulable(const std::string& name, bool schedulable) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return NotFound("host " + name + " is not in the cluster");
  ClusterHost* h = it->second.get();
  if (h->schedulable == schedulable) return Status::Ok();
  h->schedulable = schedulable;
  if (schedulable) {
    ++schedulable_;
    reserve_.RetryUnhealable(*this);
    reserve_.Commit();
    return Status::Ok();
  }
  Explanation ex;
  const size_t mark = reserve_.Mark();
  if (auto s = reserve_.HostLeaving(*this, h->id, false, &ex); !s) {
    reserve_.RollbackTo(*this, mark);
    h->schedulable = true;
    return Unprocessable("host " + name + " cannot be drained: the healing targets it holds have nowhere else to go: " +
                         s.error().message);
  }
  reserve_.Commit();
  --schedulable_;
  return Status::Ok();
}

Status Cluster::ApplyVm(ClusterHost& h, const std::string& group, Role role, const VmSpec& spec, const Assignment& a) {
  if (auto s = h.state.Apply(spec, a); !s) return s;
  vms_[spec.name] = {group, h.id};
  if (role == Role::kAct) ++h.acts;
  auto& g = groups_.at(group);
  auto at = role == Role::kSby ? g.members.end()
                               : std::find_if(g.members.begin(), g.members.end(), [](const GroupMember& m) { return m.role == Role::kSby; });
  g.members.insert(at, {spec.name, role, h.name});
  return Status::Ok();
}

void Cluster::ReleaseVm(const std::string& vm) {
  auto it = vms_.find(vm);
  if (it == vms_.end()) return;
  ClusterHost* h = Host(it->second.host);
  auto& g = groups_.at(it->second.group);
  auto m = std::find_if(g.members.begin(), g.members.end(), [&](const GroupMember& x) { return x.vm == vm; });
  if (m != g.members.end()) {
    if (m->role == Role::kAct) --h->acts;
    g.members.erase(m);
  }
  (void)h->state.Release(vm);
  vms_.erase(it);
}

void Cluster::DropGroup(const std::string& name) {
  groups_.erase(name);
  std::erase_if(lost_, [&](const auto& l) { return l.second.group == name; });
}

HostFilter Cluster::MemberFilter(const RedundancyGroup& g) const {
  HostFilter filter;
  filter.domains = g.domains;
  for (const auto& placed : g.members) {
    const ClusterHost* ph = HostById(vms_.at(placed.vm).host);
    filter.avoid_hosts.insert(ph->id);
    for (const auto& key : g.domains)
      if (auto l = ph->labels.find(key); l != ph->labels.end()) filter.avoid_values[key].insert(l->second);
  }
  return filter;
}

Status Cluster::CheckGroupFeasible(const GroupRequest& req) const {
  const int members = static_cast<int>(req.members.size());
  const int schedulable = schedulable_;
  if (schedulable < members)
    return Unprocessable("group " + req.name + ": " + std::to_string(members) + " members need " + std::to_string(members) +
                         " distinct hosts; the cluster has " + std::to_string(schedulable) + " schedulable");
  const int k = req.protect ? reserve_.k() : 0;
  if (k > 0 && schedulable < members + k)
    return Unprocessable("group " + req.name + ": " + std::to_string(members) + " members with k = " + std::to_string(k) + " need " +
                         std::to_string(members + k) + " schedulable hosts (one per member, and one to heal on per failure); the cluster has " +
                         std::to_string(schedulable));
  for (const auto& key : req.domains) {
    auto it = labels_.find(key);
    if (it == labels_.end()) {
      std::vector<std::string> keys;
      for (const auto& [k, v] : labels_) keys.push_back(k);
      return Unprocessable("group " + req.name + ": failure domain " + key + ": no host has label " + key +
                           " (labels in use: " + (keys.empty() ? "none" : Join(keys)) + ")");
    }
    if (static_cast<int>(it->second.size()) < members) {
      std::vector<std::string> values;
      for (const auto& [v, n] : it->second) values.push_back(v + " (" + std::to_string(n) + " hosts)");
      return Unprocessable("group " + req.name + ": failure domain " + key + ": " + std::to_string(members) + " members need " +
                           std::to_string(members) + " distinct values of " + key + "; hosts have " +
                           std::to_string(it->second.size()) + ": " + Join(values));
    }
  }
  for (const auto& m : req.members)
    if (!m.host.empty() && !FindHost(m.host)) 
      return NotFound("group " + req.name + ": member " + m.name + " asks for host " + m.host + ", which is not in the cluster");
  return Status::Ok();
}

GroupOutcome Cluster::PlaceGroup(const GroupRequest& req) {
  GroupOutcome out;
  auto refuse = [&](Error e) {
    out.explanation.refusal = e.message;
    out.status = std::move(e);
    out.placed.clear();
    out.heals.clear();
    return out;
  };
  if (auto s = ValidateGroupRequest(req); !s) return refuse(s.error());
  if (groups_.count(req.name)) return refuse(Conflict("group " + req.name + " already exists"));
  for (const auto& m : req.members) {
    if (auto* loc = FindVm(m.name)) return refuse(Conflict("VM " + m.name + " already exists (group " + loc->group + ")"));
    if (lost_.count(m.name)) return refuse(Conflict("VM " + m.name + " already exists (group " + lost_.at(m.name).group + ", lost)"));
  }
  if (auto s = CheckGroupFeasible(req); !s) return refuse(s.error());

  // ACTs first: they get the first pick of hosts.
  std::vector<GroupMemberRequest> order = req.members;
  std::stable_partition(order.begin(), order.end(), [](const GroupMemberRequest& m) { return m.role == Role::kAct; });
  groups_[req.name] = RedundancyGroup{req.name, req.vm, req.domains, req.protect, {}};
  const size_t mark = reserve_.Mark();
  auto undo = [&]() {
    reserve_.RollbackTo(*this, mark);
    for (auto it = order.rbegin(); it != order.rend(); ++it) ReleaseVm(it->name);
    DropGroup(req.name);
    reserve_.Commit();
  };

  // A standalone VM is a group of one named after it: explanations say "VM", not group and role.
  const bool standalone = req.members.size() == 1 && req.members[0].name == req.name;
  for (const auto& m : order) {
    const VmSpec spec = MemberSpec(req.vm, m.name);
    HostFilter filter = MemberFilter(groups_[req.name]);
    filter.only_host = m.host;
    SearchExplanation ex;
    ex.purpose = standalone ? std::string("place VM") : std::string("place ") + ToString(m.role);
    std::vector<Candidate> cands = RankHosts(*this, spec, m.role, filter, &ex);
    // The best candidate whose placement keeps every protected VM healable.
    std::vector<SearchExplanation> heal_searches;
    std::string heal_refusal;
    int tries = 0;
    for (const auto& cand : cands) {
      if (tries++ >= opts_.max_admission_tries) break;
      ClusterHost* h = Host(cand.host->id);
      std::set<std::string> created;  // shared groups this VM creates on the host
      for (const auto& [g, pcpu] : cand.assignment.groups)
        if (!h->state.FindGroup(g)) created.insert(g);
      const size_t before = reserve_.Mark();
      if (auto s = ApplyVm(*h, req.name, m.role, spec, cand.assignment); !s) {
        undo();
        return refuse(Internal("group " + req.name + ": a fitted assignment did not apply: " + s.error().message));
      }
      Explanation sub;
      Status st = reserve_.Protect(*this, m.name, &sub);
      if (st) st = reserve_.Repair(*this, h->id, created, req.name, &sub);
      for (auto& se : sub.searches) heal_searches.push_back(std::move(se));
      if (st) {
        ex.chosen = h->name;
        break;
      }
      reserve_.RollbackTo(*this, before);
      ReleaseVm(m.name);
      --ex.hosts_feasible;
      ex.Reject(reason::kNoHealing);
      if (heal_refusal.empty()) heal_refusal = st.error().message;
      out.explanation.notes.push_back(m.name + " on host " + h->name + " refused: " + st.error().message);
    }
    out.explanation.searches.push_back(ex);
    for (auto& se : heal_searches) out.explanation.searches.push_back(std::move(se));
    if (ex.chosen.empty()) {
      const std::string who = standalone ? "VM " + m.name + ": no host ("
                                         : "group " + req.name + ": no host for member " + m.name + " (" + ToString(m.role) + ", ";
      std::string why = who + DescribeSpec(spec) + "): " + ex.Summary();
      if (!heal_refusal.empty())
        why += "; on the best " + std::to_string(std::min<int>(tries, static_cast<int>(cands.size()))) +
               " feasible hosts it would leave a protected VM without a healing target, e.g.: " + heal_refusal;
      undo();
      return refuse(Unprocessable(why));
    }
  }

  for (const auto& m : groups_[req.name].members) {
    const ClusterHost* h = HostById(vms_.at(m.vm).host);
    out.placed.push_back({m.vm, m.role, h->state.vms().at(m.vm).assignment});
    for (const auto& key : reserve_.ScenariosWith(*this, h->id))
      if (const Scenario* sc = reserve_.Find(key); sc && sc->targets.count(m.vm))
        out.heals.push_back({NamesOf(key), sc->targets.at(m.vm)});
  }
  reserve_.Commit();
  return out;
}

Status Cluster::DeleteGroup(const std::string& name) {
  auto it = groups_.find(name);
  if (it == groups_.end()) return NotFound("group " + name + " does not exist");
  std::vector<std::string> vms;
  for (const auto& m : it->second.members) vms.push_back(m.vm);
  // Releasing frees pCPUs and never invalidates another VM's target (reserve.h), so this
  // cannot fail half-way.
  for (const auto& vm : vms) {
    reserve_.Forget(*this, vm);
    ReleaseVm(vm);
  }
  DropGroup(name);
  reserve_.RetryUnhealable(*this);
  reserve_.Commit();
  return Status::Ok();
}

Status Cluster::RestoreGroup(const RedundancyGroup& group, const std::map<std::string, Assignment>& assignments,
                             const std::map<std::string, std::string>& lost) {
  GroupRequest req{group.name, group.vm, {}, group.domains, group.protect};
  for (const auto& m : group.members) req.members.push_back({m.vm, m.role, m.host});
  if (auto s = ValidateGroupRequest(req); !s) return s;
  if (groups_.count(group.name)) return Conflict("group " + group.name + " already exists");
  for (const auto& m : group.members) {
    if (FindVm(m.vm) || lost_.count(m.vm)) return Conflict("VM " + m.vm + " already exists");
    if (lost.count(m.vm)) continue;
    if (!FindHost(m.host)) return NotFound("group " + group.name + ": member " + m.vm + " is on host " + m.host + ", not in the cluster");
    if (!assignments.count(m.vm)) return Invalid("group " + group.name + ": no assignment for member " + m.vm);
  }
  groups_[group.name] = RedundancyGroup{group.name, group.vm, group.domains, group.protect, {}};
  for (const auto& m : group.members) {
    if (lost.count(m.vm)) {
      lost_[m.vm] = {m.vm, group.name, m.role, m.host, lost.at(m.vm)};
      continue;
    }
    if (auto s = ApplyVm(*Host(FindHost(m.host)->id), group.name, m.role, MemberSpec(group.vm, m.vm), assignments.at(m.vm)); !s) {
      for (const auto& back : group.members) ReleaseVm(back.vm);
      DropGroup(group.name);
      return s;
    }
  }
  return Status::Ok();
}

Status Cluster::SetFailuresTolerated(int k) {
  if (k < 0) return Invalid("failures tolerated: k = " + std::to_string(k) + " must be 0 or more");
  if (k == reserve_.k()) return Status::Ok();
  const int schedulable = schedulable_;
  if (k > 0 && k >= schedulable && !vms_.empty())
    return Unprocessable("failures tolerated: k = " + std::to_string(k) + " needs at least " + std::to_string(k + 1) +
                         " schedulable hosts; the cluster has " + std::to_string(schedulable));
  size_t scenarios = 0;
  for (int i = 1; i <= k; ++i) scenarios += Choose(order_.size(), static_cast<size_t>(i));
  if (scenarios > opts_.max_scenarios)
    return Unprocessable("failures tolerated: k = " + std::to_string(k) + " on " + std::to_string(order_.size()) + " hosts is " +
                         std::to_string(scenarios) + " failure scenarios; the planner keeps at most " +
                         std::to_string(opts_.max_scenarios) + " (ClusterOptions::max_scenarios)");
  HealingReserve old = reserve_;
  reserve_.k_ = k;
  std::map<std::string, std::string> unhealable;
  reserve_.Rebuild(*this, &unhealable);
  if (!unhealable.empty()) {
    reserve_ = std::move(old);
    for (auto* h : order_) reserve_.PushReserve(*this, h->id);
    return Unprocessable("failures tolerated: k = " + std::to_string(k) + ": " + std::to_string(unhealable.size()) +
                         " protected VMs would have no healing target, e.g. " + unhealable.begin()->second);
  }
  opts_.failures_tolerated = k;
  return Status::Ok();
}

Status Cluster::Replan() {
  std::map<std::string, std::string> unhealable;
  reserve_.Rebuild(*this, &unhealable);
  if (unhealable.empty()) return Status::Ok();
  return Unprocessable(std::to_string(unhealable.size()) + " protected VMs have no healing target, e.g. " + unhealable.begin()->second);
}

Result<WhatIfReport> Cluster::FailHosts(const std::vector<std::string>& names) {
  auto report = WhatIf(*this, names);
  if (!report.ok()) return report;
  const ScenarioKey key = *KeyOf(names);
  for (int id : key) {
    ClusterHost* h = Host(id);
    if (h->schedulable) h->schedulable = false, --schedulable_;
  }
  std::set<int> touched(key.begin(), key.end());
  std::set<std::string> groups;
  std::vector<std::string> moved;
  std::vector<WhatIfMove> done;
  for (const auto& m : report->moves) {
    const VmLocation loc = *FindVm(m.vm);
    ClusterHost* from = Host(loc.host);
    const PlacedVm was = from->state.vms().at(m.vm);
    reserve_.Forget(*this, m.vm);
    ReleaseVm(m.vm);
    ClusterHost* to = Host(FindHost(m.to)->id);
    if (auto s = ApplyVm(*to, loc.group, m.role, was.spec, m.assignment); !s) {
      // Not expected (targets apply in order); the VM is lost.
      report->lost.push_back({m.vm, m.group, m.role, m.from, "its target did not apply: " + s.error().message});
      lost_[m.vm] = {m.vm, m.group, m.role, from->name, report->lost.back().reason};
      continue;
    }
    done.push_back(m);
    touched.insert(to->id);
    groups.insert(loc.group);
    moved.push_back(m.vm);
  }
  report->moves = std::move(done);
  // Lost beyond the reserve: they keep no place (LostMember), so that no rule of their group
  // is broken by where the others were healed.
  for (const auto& l : report->lost)
    if (FindVm(l.vm)) Lose(l.vm, l.reason);
  (void)reserve_.AfterMoves(*this, touched, groups, moved);
  reserve_.Commit();
  return report;
}

Result<ScenarioKey> Cluster::KeyOf(const std::vector<std::string>& names) const {
  ScenarioKey key;
  for (const auto& n : names) {
    const ClusterHost* h = FindHost(n);
    if (!h) return NotFound("host " + n + " is not in the cluster");
    key.push_back(h->id);
  }
  std::sort(key.begin(), key.end());
  key.erase(std::unique(key.begin(), key.end()), key.end());
  return key;
}

std::vector<std::string> Cluster::NamesOf(const ScenarioKey& key) const {
  std::vector<std::string> out;
  for (int id : key) out.push_back(HostById(id) ? HostById(id)->name : "#" + std::to_string(id));
  return out;
}

Status Cluster::Check() const {
  std::map<int, int> acts;
  for (const auto* h : order_) {
    if (auto s = CheckInvariants(h->state); !s) return s;
    for (const auto& [vm, placed] : h->state.vms()) {
      const VmLocation* loc = FindVm(vm);
      if (!loc || loc->host != h->id) return Internal("host " + h->name + ": VM " + vm + " is not indexed here");
    }
    HostReserve want = reserve_.Expected(h->id);
    if (!(want == h->state.reserve()))
      return Internal("host " + h->name + ": reserve " + h->state.reserve().pcpus.ToString() + " differs from the plan's " +
                      want.pcpus.ToString());
    if (!want.pcpus.IsSubsetOf(h->state.partition().allocatable)) return Internal("host " + h->name + ": reserve outside allocatable");
  }
  for (const auto& [vm, loc] : vms_) {
    const ClusterHost* h = HostById(loc.host);
    if (!h || !h->state.vms().count(vm)) return Internal("VM " + vm + " is indexed on a host that does not hold it");
  }
  for (const auto& [name, g] : groups_) {
    std::set<int> hosts;
    std::map<std::string, std::set<std::string>> values;
    for (const auto& m : g.members) {
      const VmLocation* loc = FindVm(m.vm);
      if (!loc || loc->group != name) return Internal("group " + name + ": member " + m.vm + " is not indexed");
      const ClusterHost* h = HostById(loc->host);
      if (h->name != m.host) return Internal("group " + name + ": member " + m.vm + " records the wrong host");
      if (!hosts.insert(h->id).second) return Internal("group " + name + ": two members on host " + h->name);
      if (m.role == Role::kAct) ++acts[h->id];
      for (const auto& key : g.domains) {
        auto l = h->labels.find(key);
        if (l == h->labels.end()) return Internal("group " + name + ": member " + m.vm + "'s host has no label " + key);
        if (!values[key].insert(l->second).second) return Internal("group " + name + ": two members share " + key + "=" + l->second);
      }
    }
  }
  for (const auto& [vm, l] : lost_) {
    if (vm != l.vm) return Internal("lost member " + vm + " is indexed under another name");
    if (FindVm(vm)) return Internal("lost member " + vm + " is placed");
    if (!groups_.count(l.group)) return Internal("lost member " + vm + ": group " + l.group + " does not exist");
    if (groups_.at(l.group).FindMember(vm)) return Internal("group " + l.group + ": lost member " + vm + " is listed as placed");
  }
  int schedulable = 0;
  for (const auto* h : order_) {
    if (h->acts != acts[h->id]) return Internal("host " + h->name + ": ACT count drifted");
    schedulable += h->schedulable;
  }
  if (schedulable != schedulable_) return Internal("schedulable host count drifted");
  // Every target valid; every protected VM planned (or known unhealable) in each of its scenarios.
  size_t unhealable = 0;
  for (const auto& [key, sc] : reserve_.scenarios()) {
    unhealable += sc.unhealable.size();
    if (static_cast<int>(key.size()) > reserve_.k()) return Internal("a scenario has more than k hosts");
    for (const auto& [vm, t] : sc.targets)
      if (std::string why = reserve_.Invalid(*this, key, t); !why.empty())
        return Internal("target of " + vm + " if " + Join(NamesOf(key), "+") + " fail: " + why);
  }
  if (unhealable != reserve_.UnhealableCount()) return Internal("unhealable count drifted");
  if (reserve_.k() > 0)
    for (const auto& [vm, loc] : vms_) {
      if (!groups_.at(loc.group).protect) continue;
      for (const auto& key : reserve_.ScenariosWith(*this, loc.host)) {
        const Scenario* sc = reserve_.Find(key);
        if (!sc || (!sc->targets.count(vm) && !sc->unhealable.count(vm)))
          return Internal("VM " + vm + " has no healing target if " + Join(NamesOf(key), "+") + " fail");
      }
    }
  return Status::Ok();
}

Status Cluster::SwapRoles(const std::string& group, const std::string& new_act, const std::string& old_act) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return NotFound("group " + group + " does not exist");
  auto member = [&](const std::string& vm) {
    auto& ms = it->second.members;
    auto m = std::find_if(ms.begin(), ms.end(), [&](const GroupMember& x) { return x.vm == vm; });
    return m == ms.end() ? nullptr : &*m;
  };
  GroupMember* to_act = member(new_act);
  GroupMember* to_sby = member(old_act);
  // A lost ACT (a healing promotes its SBY) comes back, if it does, as SBY.
  auto lost_act = lost_.find(old_act);
  if (lost_act != lost_.end() && lost_act->second.group != group) lost_act = lost_.end();
  if (!to_act) return NotFound("group " + group + " has no member " + new_act);
  if (!to_sby && lost_act == lost_.end()) return NotFound("group " + group + " has no member " + old_act);
  if (to_act->role != Role::kSby) return Invalid("group " + group + ": " + new_act + " is not a SBY");
  if ((to_sby ? to_sby->role : lost_act->second.role) != Role::kAct) return Invalid("group " + group + ": " + old_act + " is not an ACT");
  to_act->role = Role::kAct;
  ++Host(vms_.at(new_act).host)->acts;
  if (to_sby) {
    to_sby->role = Role::kSby;
    --Host(vms_.at(old_act).host)->acts;
  } else {
    lost_act->second.role = Role::kSby;
  }
  return Status::Ok();
}

}  // namespace corepin

namespace corepin {

Status Cluster::Reassign(const std::string& vm, const VmSpec& spec, const Assignment& a) {
  const VmLocation* loc = FindVm(vm);
  if (!loc) return NotFound("VM " + vm + " is not placed");
  ClusterHost* h = Host(loc->host);
  if (a.host != h->name) return Invalid("VM " + vm + " is on host " + h->name + "; a reassignment stays on its host, not " + a.host);
  RedundancyGroup& g = groups_.at(loc->group);
  const VmSpec old_group_spec = g.vm;
  const bool new_spec = VmSpecToJson(spec) != VmSpecToJson(MemberSpec(g.vm, vm));
  if (new_spec && g.members.size() != 1)
    return Unprocessable("VM " + vm + " is a member of group " + g.name + ", whose members share one spec; it cannot change alone");
  // Normal fits leave the reserve alone; so must this one (the reserve's targets stand there).
  CpuSet held = a.exclusive.Union(a.reserved_siblings);
  for (const auto& [group, pcpu] : a.groups) held.Add(pcpu);
  const PlacedVm old = h->state.vms().at(vm);
  const CpuSet old_held = old.assignment.exclusive.Union(old.assignment.reserved_siblings);
  if (CpuSet in_reserve = held.Intersect(h->state.reserve().pcpus).Minus(old_held); !in_reserve.Empty())
    return Unprocessable("VM " + vm + ": pCPUs " + in_reserve.ToString() + " are held by the healing reserve");
  std::set<std::string> created;  // shared groups the VM creates by moving
  for (const auto& [group, pcpu] : a.groups)
    if (!old.assignment.groups.count(group) || old.assignment.groups.at(group) != pcpu) created.insert(group);

  const size_t mark = reserve_.Mark();
  auto put_back = [&] {
    reserve_.RollbackTo(*this, mark);
    (void)h->state.Release(vm);
    (void)h->state.Apply(old.spec, old.assignment);
    g.vm = old_group_spec;
    reserve_.Commit();
  };
  (void)h->state.Release(vm);
  if (auto s = h->state.Apply(spec, a); !s) {
    put_back();
    return s;
  }
  Explanation ex;
  Status st = Status::Ok();
  if (new_spec) {
    g.vm = spec;
    reserve_.Forget(*this, vm);
    st = reserve_.Protect(*this, vm, &ex);
  }
  // Targets on this host that the new pCPUs invalidate, and those of the VM's group-mates.
  std::vector<std::pair<ScenarioKey, std::string>> bad;
  if (auto hp = reserve_.hosts_.find(h->id); st && hp != reserve_.hosts_.end())
    for (const auto& [key, use] : hp->second.uses)
      for (const auto& target : use.vms)
        if (!reserve_.Invalid(*this, key, reserve_.scenarios_.at(key).targets.at(target)).empty()) bad.push_back({key, target});
  if (st && !bad.empty()) st = reserve_.Replace(*this, std::move(bad), &ex);
  if (st) st = reserve_.Repair(*this, h->id, created, g.name, &ex);
  if (!st) {
    put_back();
    return Unprocessable("VM " + vm + ": the healing reserve cannot be kept with this layout: " + st.error().message);
  }
  reserve_.Commit();
  return Status::Ok();
}

}  // namespace corepin
