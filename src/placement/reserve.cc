#include "placement/reserve.h"

#include <algorithm>

#include "placement/cluster.h"
#include "placement/scheduler.h"

namespace corepin {
namespace {

bool Contains(const ScenarioKey& key, int id) { return std::binary_search(key.begin(), key.end(), id); }

std::string Names(const Cluster& c, const ScenarioKey& key) {
  std::string out;
  for (const auto& n : c.NamesOf(key)) out += (out.empty() ? "" : "+") + n;
  return out;
}

std::string KeyText(const ScenarioKey& key) {
  std::string out;
  for (int id : key) out += std::to_string(id) + ",";
  return out;
}

// Member slots an assignment takes in shared group `g`: vCPUs on its pCPU, and the emulator.
int SlotsIn(const Assignment& a, const std::string& g) {
  const int p = a.groups.at(g);
  int n = static_cast<int>(std::count(a.vcpu_pcpus.begin(), a.vcpu_pcpus.end(), p));
  return n + (a.emulator == CpuSet{p} ? 1 : 0);
}

// Every subset of `ids` with at most k members that contains `must` (or any subset when
// must < 0), sorted.
void Subsets(const std::vector<int>& ids, int k, int must, std::vector<ScenarioKey>* out) {
  ScenarioKey cur;
  std::function<void(size_t)> walk = [&](size_t from) {
    if (!cur.empty() && (must < 0 || Contains(cur, must))) out->push_back(cur);
    if (static_cast<int>(cur.size()) == k) return;
    for (size_t i = from; i < ids.size(); ++i) {
      cur.push_back(ids[i]);
      walk(i + 1);
      cur.pop_back();
    }
  };
  if (must >= 0 && k >= 1) {  // cheaper: `must` plus any k-1 others
    std::vector<int> others;
    for (int id : ids)
      if (id != must) others.push_back(id);
    std::vector<ScenarioKey> rest;
    if (k > 1) Subsets(others, k - 1, -1, &rest);
    out->push_back({must});
    for (auto& r : rest) {
      r.push_back(must);
      std::sort(r.begin(), r.end());
      out->push_back(std::move(r));
    }
    return;
  }
  walk(0);
}

}  // namespace

std::vector<const HealTarget*> Scenario::Ordered() const {
  std::vector<const HealTarget*> out;
  for (const auto& [vm, t] : targets) out.push_back(&t);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
  return out;
}

const Scenario* HealingReserve::Find(const ScenarioKey& failed) const {
  auto it = scenarios_.find(failed);
  return it == scenarios_.end() ? nullptr : &it->second;
}

size_t HealingReserve::TargetCount() const {
  size_t n = 0;
  for (const auto& [key, sc] : scenarios_) n += sc.targets.size();
  return n;
}

HostReserve HealingReserve::Expected(int host_id) const {
  HostReserve r;
  auto it = hosts_.find(host_id);
  if (it == hosts_.end()) return r;
  const HostPlan& hp = it->second;
  for (size_t p = 0; p < hp.refs.size(); ++p)
    if (hp.refs[p] > 0) r.pcpus.Add(static_cast<int>(p));
  for (const auto& [key, values] : hp.memory)
    if (!values.empty() && *values.rbegin() > 0) r.memory_mib[key] = *values.rbegin();
  for (const auto& [g, values] : hp.slots)
    if (!values.empty() && *values.rbegin() > 0) r.group_slots[g] = *values.rbegin();
  return r;
}

void HealingReserve::PushReserve(Cluster& c, int host_id) {
  ClusterHost* h = c.Host(host_id);
  if (!h) return;
  HostReserve r = Expected(host_id);
  if (r.Empty()) reserve_hosts_.erase(host_id);
  else reserve_hosts_.insert(host_id);
  h->state.SetReserve(std::move(r));
}

std::vector<ScenarioKey> HealingReserve::ScenariosWith(const Cluster& c, int host_id) const {
  std::vector<ScenarioKey> out;
  if (k_ <= 0) return out;
  if (k_ == 1) return {{host_id}};
  std::vector<int> ids;
  for (const auto* h : c.hosts()) ids.push_back(h->id);
  std::sort(ids.begin(), ids.end());
  Subsets(ids, k_, host_id, &out);
  return out;
}

// ---- Primitive changes ----

void HealingReserve::Accumulate(Use* u, const HealTarget& t) {
  u->vms.push_back(t.vm);
  u->pcpus = u->pcpus.Union(t.pcpus);
  for (const auto& [node, mib] : t.assignment.memory_mib) u->memory_mib[{node, t.assignment.page_kib}] += mib;
  for (const auto& [g, pcpu] : t.assignment.groups) {
    u->slots[g] += SlotsIn(t.assignment, g);
    u->group_pcpu.emplace(g, pcpu);
  }
}

void HealingReserve::Recount(Cluster& c, int host_id, const ScenarioKey& key) {
  const ClusterHost* h = c.HostById(host_id);
  Use now;
  if (auto sit = scenarios_.find(key); sit != scenarios_.end() && h)
    for (const auto& [vm, t] : sit->second.targets)
      if (t.host == h->name) Accumulate(&now, t);
  HostPlan& hp = hosts_[host_id];
  auto uit = hp.uses.find(key);
  const Use none;
  const Use& old = uit == hp.uses.end() ? none : uit->second;
  for (int p : old.pcpus.Minus(now.pcpus).ToVector()) --hp.refs[p];
  for (int p : now.pcpus.Minus(old.pcpus).ToVector()) {
    if (hp.refs.size() <= static_cast<size_t>(p)) hp.refs.resize(p + 1, 0);
    ++hp.refs[p];
  }
  for (const auto& [mk, mib] : old.memory_mib) {
    auto& values = hp.memory[mk];
    values.erase(values.find(mib));
    if (values.empty()) hp.memory.erase(mk);
  }
  for (const auto& [mk, mib] : now.memory_mib) hp.memory[mk].insert(mib);
  for (const auto& [g, n] : old.slots) {
    auto& values = hp.slots[g];
    values.erase(values.find(n));
    if (values.empty()) hp.slots.erase(g);
  }
  for (const auto& [g, n] : now.slots) hp.slots[g].insert(n);
  if (now.vms.empty()) {
    if (uit != hp.uses.end()) hp.uses.erase(uit);
  } else {
    hp.uses[key] = std::move(now);
  }
  if (hp.uses.empty()) hosts_.erase(host_id);
  PushReserve(c, host_id);
}

void HealingReserve::AddTarget(Cluster& c, const ScenarioKey& key, HealTarget t, bool keep_seq) {
  Scenario& sc = scenarios_[key];
  sc.failed = key;
  if (!keep_seq) t.seq = next_seq_++;
  const std::string vm = t.vm;
  const int host_id = c.FindHost(t.host)->id;
  sc.targets[vm] = std::move(t);
  if (logging_) undo_.push_back({UndoEntry::kAddedTarget, key, {}, vm, ""});
  Recount(c, host_id, key);
}

void HealingReserve::RemoveTarget(Cluster& c, const ScenarioKey& key, const std::string& vm) {
  auto sit = scenarios_.find(key);
  if (sit == scenarios_.end()) return;
  auto tit = sit->second.targets.find(vm);
  if (tit == sit->second.targets.end()) return;
  HealTarget t = std::move(tit->second);
  sit->second.targets.erase(tit);
  const ClusterHost* h = c.FindHost(t.host);
  if (logging_) undo_.push_back({UndoEntry::kRemovedTarget, key, t, vm, ""});
  if (h) Recount(c, h->id, key);
  DropIfEmpty(key);
}

void HealingReserve::SetUnhealable(const ScenarioKey& key, const std::string& vm, const std::string& why) {
  Scenario& sc = scenarios_[key];
  sc.failed = key;
  unhealable_ += sc.unhealable.count(vm) == 0;
  sc.unhealable[vm] = why;
  if (logging_) undo_.push_back({UndoEntry::kAddedUnhealable, key, {}, vm, why});
}

void HealingReserve::ClearUnhealable(const ScenarioKey& key, const std::string& vm) {
  auto sit = scenarios_.find(key);
  if (sit == scenarios_.end()) return;
  auto it = sit->second.unhealable.find(vm);
  if (it == sit->second.unhealable.end()) return;
  if (logging_) undo_.push_back({UndoEntry::kRemovedUnhealable, key, {}, vm, it->second});
  sit->second.unhealable.erase(it);
  --unhealable_;
  DropIfEmpty(key);
}

void HealingReserve::DropIfEmpty(const ScenarioKey& key) {
  auto sit = scenarios_.find(key);
  if (sit != scenarios_.end() && sit->second.targets.empty() && sit->second.unhealable.empty()) scenarios_.erase(sit);
}

void HealingReserve::RollbackTo(Cluster& c, size_t mark) {
  logging_ = false;
  while (undo_.size() > mark) {
    UndoEntry e = std::move(undo_.back());
    undo_.pop_back();
    switch (e.kind) {
      case UndoEntry::kAddedTarget: RemoveTarget(c, e.key, e.vm); break;
      case UndoEntry::kRemovedTarget: AddTarget(c, e.key, std::move(e.target), true); break;
      case UndoEntry::kAddedUnhealable: ClearUnhealable(e.key, e.vm); break;
      case UndoEntry::kRemovedUnhealable: SetUnhealable(e.key, e.vm, e.why); break;
    }
  }
  logging_ = true;
}

// ---- The search ----

Result<HealTarget> HealingReserve::FindTarget(const Cluster& c, const ScenarioKey& failed, const std::string& vm,
                                              const std::map<std::string, HealTarget>& planned, const UseOf& use_of,
                                              bool prefer_reserve, SearchExplanation* ex) const {
  const Cluster::VmLocation* loc = c.FindVm(vm);
  const RedundancyGroup& group = c.groups().at(loc->group);
  const ClusterHost* from = c.HostById(loc->host);
  const VmSpec spec = MemberSpec(group.vm, vm);
  const auto& order = c.hosts();
  const uint64_t seed = c.options().seed;
  ex->vm = vm;
  ex->purpose = "healing target if " + Names(c, failed) + (failed.size() > 1 ? " fail" : " fails");
  ex->hosts_total = static_cast<int>(order.size());

  // Anti-affinity: with the members that survive, and with the targets of those lost too.
  HostFilter filter;
  filter.domains = group.domains;
  for (const auto& m : group.members) {
    if (m.vm == vm) continue;
    const ClusterHost* where = nullptr;
    if (const Cluster::VmLocation* ml = c.FindVm(m.vm); ml && !Contains(failed, ml->host)) where = c.HostById(ml->host);
    else if (auto it = planned.find(m.vm); it != planned.end()) where = c.FindHost(it->second.host);
    if (!where) continue;
    filter.avoid_hosts.insert(where->id);
    for (const auto& key : group.domains)
      if (auto l = where->labels.find(key); l != where->labels.end()) filter.avoid_values[key].insert(l->second);
  }
  std::set<std::string> spec_groups;
  for (const auto& v : spec.vcpus)
    if (v.kind == VcpuPolicy::Kind::kGroup) spec_groups.insert(v.group);
  if (spec.emulator.kind == EmulatorPolicy::Kind::kGroup) spec_groups.insert(spec.emulator.group);

  struct Found {
    HealTarget t;
    int new_pcpus = 0, left = 0;
    uint64_t tie = 0;
  };
  // Tries host h; reserve_only: inside its reserve as this scenario leaves it.
  auto attempt = [&](const ClusterHost& h, bool reserve_only, bool count) -> std::optional<Found> {
    auto reject = [&](const std::string& why, Rejection r = {}) {
      if (count) ex->Reject(why, std::move(r));
      return std::nullopt;
    };
    if (Contains(failed, h.id)) return reject(reason::kFailed);
    if (const char* why = FilterHost(h, filter); *why) return reject(why);
    const HostState& hs = h.state;
    const Use* u = use_of(h.id);
    FitScope scope;
    // A shared group this scenario's targets create here (the host has no such group yet): the
    // fit sees it as it would be, on its planned pCPU, so several VMs of one group that fail
    // together can share it again. As HostState::Apply makes it: siblings its creator holds
    // empty are the creator's, not the group's, so a joiner under SMT isolate or require cannot
    // count on them (the core would lose its isolation when the creator goes); it holds them
    // itself, or goes elsewhere.
    for (const auto& g : spec_groups)
      if (u && u->slots.count(g) && !hs.FindGroup(g)) {
        auto at = u->group_pcpu.find(g);
        const Pcpu* p = at == u->group_pcpu.end() ? nullptr : hs.topology().FindPcpu(at->second);
        if (!p) return reject(reason::kGroupPlanned);
        scope.groups[g] = GroupState{g, p->id, p->node, {}, {{"~healing", u->slots.at(g)}}};
      }
    scope.pcpus = reserve_only ? hs.reserve().pcpus.Intersect(hs.free()) : hs.free();
    if (u) scope.pcpus = scope.pcpus.Minus(u->pcpus);
    const int need = MinPcpus(spec, hs.topology().threads_per_core);
    if (scope.pcpus.Size() < need)
      return reject(reason::kPcpus, {h.name, {std::to_string(scope.pcpus.Size()) + " pCPUs left for this failure, needs at least " + std::to_string(need)}, {}});
    for (const auto& node : hs.topology().nodes) {
      const std::pair<int, uint64_t> mk{node.id, spec.page_kib};
      const uint64_t cap = hs.MemoryCapacityMib(node.id, spec.page_kib), used = hs.MemoryUsedMib(node.id, spec.page_kib);
      uint64_t avail = reserve_only ? hs.reserve().MemoryMib(node.id, spec.page_kib) : (cap > used ? cap - used : 0);
      const uint64_t taken = u && u->memory_mib.count(mk) ? u->memory_mib.at(mk) : 0;
      scope.memory_mib[mk] = avail > taken ? avail - taken : 0;
    }
    if (u)
      for (const auto& [g, slots] : u->slots)
        if (const GroupState* gs = hs.FindGroup(g)) {
          GroupState view = *gs;
          view.members["~healing"] = slots;
          scope.groups[g] = std::move(view);
        }
    FitResult fit = Fit(hs, spec, scope);
    if (!fit.ok()) return reject(ClassifyRejection(fit.rejection), std::move(fit.rejection));
    Found f;
    f.t.vm = vm;
    f.t.from = from->name;
    f.t.host = h.name;
    f.t.assignment = std::move(*fit.assignment);
    f.t.pcpus = NewlyHeld(hs, f.t.assignment);
    for (const auto& [g, pcpu] : f.t.assignment.groups)
      if (const GroupState* gs = hs.FindGroup(g)) {
        // Hold a joined group's own pCPUs too: if the group goes away meanwhile, the target
        // recreates it in the same place.
        f.t.pcpus.Add(gs->pcpu);
        f.t.pcpus = f.t.pcpus.Union(gs->reserved_siblings);
        const int taken = (u && u->slots.count(g) ? u->slots.at(g) : 0) + SlotsIn(f.t.assignment, g);
        if (reserve_only && taken > hs.reserve().GroupSlots(g)) return reject(reason::kSharedGroup);
      }
    f.new_pcpus = f.t.pcpus.Minus(hs.reserve().pcpus).Size();
    f.left = hs.free().Minus(hs.reserve().pcpus).Minus(f.t.pcpus).Size();
    f.tie = SeededHash(seed, h.name);
    return f;
  };
  auto choose = [&](Found f) -> HealTarget {
    ex->chosen = f.t.host;
    ScoredHost s{f.t.host, -static_cast<double>(f.new_pcpus), {{"new_reserve_pcpus", f.new_pcpus}, {"free_pcpus_left", f.left}}};
    ex->top.insert(ex->top.begin(), s);
    if (ex->top.size() > SearchExplanation::kMaxTop) ex->top.resize(SearchExplanation::kMaxTop);
    return std::move(f.t);
  };
  const std::string salt = vm + "|" + KeyText(failed);

  // 1. A host whose reserve already has room for it in this scenario: costs nothing.
  if (prefer_reserve && !reserve_hosts_.empty()) {
    const int span = *reserve_hosts_.rbegin() + 1;
    auto it = reserve_hosts_.lower_bound(static_cast<int>(SeededHash(seed, salt) % static_cast<uint64_t>(span)));
    const size_t limit = std::max<size_t>(64, static_cast<size_t>(c.options().max_candidates));
    for (size_t i = 0; i < reserve_hosts_.size() && i < limit; ++i, ++it) {
      if (it == reserve_hosts_.end()) it = reserve_hosts_.begin();
      const ClusterHost* h = c.HostById(*it);
      if (!h) continue;
      ++ex->hosts_considered;
      if (auto f = attempt(*h, true, false)) {
        ex->hosts_feasible = 1;
        ex->rejected.clear();
        if (ex->hosts_considered > 1) ex->rejected["reserve full for this failure"] = ex->hosts_considered - 1;
        return choose(std::move(*f));
      }
    }
    SearchExplanation fresh;  // what follows explains the full search
    fresh.vm = ex->vm, fresh.purpose = ex->purpose, fresh.hosts_total = ex->hosts_total;
    *ex = std::move(fresh);
  }

  // 2. Any host, taking new reserve pCPUs: fewest new ones first, then the fullest host.
  // Cheap checks and an estimate first (as in RankHosts); exact fits for the best estimates.
  std::optional<Found> best;
  const size_t n = order.size();
  const size_t limit = c.options().max_candidates > 0 ? static_cast<size_t>(c.options().max_candidates) : n;
  const size_t fits = c.options().max_fits > 0 ? static_cast<size_t>(c.options().max_fits) : n;
  const size_t start = n ? SeededHash(seed, salt) % n : 0;
  struct Pre {
    const ClusterHost* host;
    int new_pcpus, left;
    uint64_t tie;
  };
  size_t scanned = 0;
  while (!best && scanned < n) {
    std::vector<Pre> pre;
    for (; scanned < n && pre.size() < limit; ++scanned) {
      const ClusterHost& h = *order[(start + scanned) % n];
      ++ex->hosts_considered;
      if (Contains(failed, h.id)) {
        ex->Reject(reason::kFailed);
        continue;
      }
      if (const char* why = FilterHost(h, filter); *why) {
        ex->Reject(why);
        continue;
      }
      const HostState& hs = h.state;
      const Use* u = use_of(h.id);
      const CpuSet taken = u ? u->pcpus : CpuSet{};
      const int need = MinPcpus(spec, hs.topology().threads_per_core);
      const int have = hs.free().Minus(taken).Size();
      if (have < need) {
        ex->Reject(reason::kPcpus, {h.name, {std::to_string(have) + " free pCPUs left for this failure, needs at least " + std::to_string(need)}, {}});
        continue;
      }
      const int spare = hs.reserve().pcpus.Intersect(hs.free()).Minus(taken).Size();
      const int new_pcpus = std::max(0, need - spare);
      pre.push_back({&h, new_pcpus, hs.free().Minus(hs.reserve().pcpus).Size() - new_pcpus, SeededHash(seed, h.name)});
    }
    std::sort(pre.begin(), pre.end(), [](const Pre& a, const Pre& b) { return std::tie(a.new_pcpus, a.left, a.tie) < std::tie(b.new_pcpus, b.left, b.tie); });
    size_t fitted = 0;
    for (const Pre& p : pre) {
      if (fitted >= fits) break;
      auto f = attempt(*p.host, false, true);
      if (!f) continue;
      ++fitted;
      ++ex->hosts_feasible;
      ex->top.push_back({f->t.host, -static_cast<double>(f->new_pcpus), {{"new_reserve_pcpus", f->new_pcpus}, {"free_pcpus_left", f->left}}});
      if (!best || std::tie(f->new_pcpus, f->left, f->tie) < std::tie(best->new_pcpus, best->left, best->tie)) best = std::move(f);
    }
  }
  std::sort(ex->top.begin(), ex->top.end(), [](const ScoredHost& a, const ScoredHost& b) { return a.score > b.score; });
  if (ex->top.size() > SearchExplanation::kMaxTop) ex->top.resize(SearchExplanation::kMaxTop);
  if (!best)
    return Unprocessable("if " + Names(c, failed) + (failed.size() > 1 ? " fail" : " fails") + ", VM " + vm + " (" +
                         DescribeSpec(spec) + ") has no healing target: " + ex->Summary());
  ex->top.erase(std::remove_if(ex->top.begin(), ex->top.end(), [&](const ScoredHost& s) { return s.host == best->t.host; }), ex->top.end());
  return choose(std::move(*best));
}

std::string HealingReserve::Invalid(const Cluster& c, const ScenarioKey& failed, const HealTarget& t) const {
  const ClusterHost* h = c.FindHost(t.host);
  if (!h) return "host " + t.host + " is gone";
  if (!h->schedulable) return "host " + t.host + " is unschedulable";
  if (Contains(failed, h->id)) return "host " + t.host + " fails too";
  const Cluster::VmLocation* loc = c.FindVm(t.vm);
  if (!loc) return "VM " + t.vm + " is gone";
  if (!Contains(failed, loc->host) || c.HostById(loc->host)->name != t.from) return "VM " + t.vm + " moved";
  const RedundancyGroup& group = c.groups().at(loc->group);
  const Scenario* sc = Find(failed);
  for (const auto& m : group.members) {
    if (m.vm == t.vm) continue;
    const ClusterHost* where = nullptr;
    if (const Cluster::VmLocation* ml = c.FindVm(m.vm); ml && !Contains(failed, ml->host)) where = c.HostById(ml->host);
    else if (sc && sc->targets.count(m.vm)) where = c.FindHost(sc->targets.at(m.vm).host);
    if (!where) continue;
    if (where == h) return "member " + m.vm + " is on " + h->name;
    for (const auto& key : group.domains) {
      auto a = h->labels.find(key), b = where->labels.find(key);
      if (a == h->labels.end()) return "host " + h->name + " has no label " + key;
      if (b != where->labels.end() && a->second == b->second) return "shares " + key + "=" + a->second + " with member " + m.vm;
    }
  }
  CpuSet allowed = h->state.free();
  for (const auto& [g, pcpu] : t.assignment.groups) {
    const GroupState* gs = h->state.FindGroup(g);
    if (!gs) continue;
    if (gs->pcpu != pcpu) return "group " + g + " is now on pCPU " + std::to_string(gs->pcpu) + ", not " + std::to_string(pcpu);
    allowed.Add(gs->pcpu);
    allowed = allowed.Union(gs->reserved_siblings);
    if (!t.pcpus.Contains(gs->pcpu)) return "group " + g + "'s pCPU is not held";
  }
  if (!t.pcpus.IsSubsetOf(allowed)) return "pCPUs " + t.pcpus.Minus(allowed).ToString() + " are taken";
  if (!t.pcpus.IsSubsetOf(h->state.reserve().pcpus)) return "pCPUs " + t.pcpus.Minus(h->state.reserve().pcpus).ToString() + " are not reserved";
  auto hp = hosts_.find(h->id);
  if (hp == hosts_.end() || !hp->second.uses.count(failed)) return "not counted in the host's reserve";
  const Use& u = hp->second.uses.at(failed);
  for (const auto& [mk, mib] : u.memory_mib) {
    const uint64_t cap = h->state.MemoryCapacityMib(mk.first, mk.second), used = h->state.MemoryUsedMib(mk.first, mk.second);
    if (used + mib > cap) return "node" + std::to_string(mk.first) + " has not " + std::to_string(mib) + " MiB free any more";
  }
  for (const auto& [g, slots] : u.slots)
    if (const GroupState* gs = h->state.FindGroup(g); gs && gs->Slots() + slots > h->state.partition().group_member_limit)
      return "group " + g + " has no member slots left";
  return "";
}

// ---- Operations ----

HealingReserve::UseOf HealingReserve::CommittedUse(const ScenarioKey& key) const {
  return [this, key](int host_id) -> const Use* {
    auto h = hosts_.find(host_id);
    if (h == hosts_.end()) return nullptr;
    auto u = h->second.uses.find(key);
    return u == h->second.uses.end() ? nullptr : &u->second;
  };
}

Status HealingReserve::PlanOne(Cluster& c, const ScenarioKey& key, const std::string& vm, Explanation* ex, bool degrade) {
  static const std::map<std::string, HealTarget> kNone;
  const Scenario* sc = Find(key);
  SearchExplanation se;
  auto t = FindTarget(c, key, vm, sc ? sc->targets : kNone, CommittedUse(key), true, &se);
  if (ex && (!t.ok() || ex->searches.size() < kMaxSearchesKept)) ex->searches.push_back(std::move(se));
  if (t.ok()) {
    AddTarget(c, key, std::move(*t), false);
    return Status::Ok();
  }
  if (degrade) {
    SetUnhealable(key, vm, t.error().message);
    return Status::Ok();
  }
  if (ex) ex->refusal = t.error().message;
  return t.error();
}

Status HealingReserve::Protect(Cluster& c, const std::string& vm, Explanation* ex, bool degrade) {
  const Cluster::VmLocation* loc = c.FindVm(vm);
  if (!loc || !c.groups().at(loc->group).protect || k_ <= 0) return Status::Ok();
  for (const auto& key : ScenariosWith(c, loc->host)) {
    const Scenario* sc = Find(key);
    if (sc && (sc->targets.count(vm) || sc->unhealable.count(vm))) continue;
    if (auto s = PlanOne(c, key, vm, ex, degrade); !s) return s;
  }
  return Status::Ok();
}

void HealingReserve::Forget(Cluster& c, const std::string& vm) {
  const Cluster::VmLocation* loc = c.FindVm(vm);
  if (!loc) return;
  for (const auto& key : ScenariosWith(c, loc->host)) {
    RemoveTarget(c, key, vm);
    ClearUnhealable(key, vm);
  }
}

Status HealingReserve::Replace(Cluster& c, std::vector<std::pair<ScenarioKey, std::string>> bad, Explanation* ex, bool degrade) {
  std::sort(bad.begin(), bad.end());
  bad.erase(std::unique(bad.begin(), bad.end()), bad.end());
  for (const auto& [key, vm] : bad) RemoveTarget(c, key, vm);
  for (const auto& [key, vm] : bad)
    if (auto s = PlanOne(c, key, vm, ex, degrade); !s) return s;
  return Status::Ok();
}

void HealingReserve::RetryUnhealable(Cluster& c) {
  if (unhealable_ == 0) return;
  std::vector<std::pair<ScenarioKey, std::string>> todo;
  for (const auto& [key, sc] : scenarios_)
    for (const auto& [vm, why] : sc.unhealable) todo.push_back({key, vm});
  for (const auto& [key, vm] : todo) {
    const size_t mark = Mark();
    ClearUnhealable(key, vm);
    if (!PlanOne(c, key, vm, nullptr, false).ok()) RollbackTo(c, mark);
  }
}

Status HealingReserve::AfterMoves(Cluster& c, const std::set<int>& hosts, const std::set<std::string>& groups,
                                  const std::vector<std::string>& moved) {
  std::vector<std::pair<ScenarioKey, std::string>> bad;
  for (int id : hosts)
    if (auto hp = hosts_.find(id); hp != hosts_.end())
      for (const auto& [key, use] : hp->second.uses)
        for (const auto& vm : use.vms)
          if (!Invalid(c, key, scenarios_.at(key).targets.at(vm)).empty()) bad.push_back({key, vm});
  for (const auto& name : groups)
    if (const RedundancyGroup* g = c.FindGroup(name))
      for (const auto& m : g->members)
        for (const auto& key : ScenariosWith(c, c.FindVm(m.vm)->host))
          if (const Scenario* sc = Find(key); sc && sc->targets.count(m.vm) && !Invalid(c, key, sc->targets.at(m.vm)).empty())
            bad.push_back({key, m.vm});
  (void)Replace(c, std::move(bad), nullptr, true);
  for (const auto& vm : moved) (void)Protect(c, vm, nullptr, true);
  if (unhealable_ == 0) return Status::Ok();
  return Unprocessable(std::to_string(unhealable_) + " healing targets could not be planned; the guarantee is degraded until capacity returns");
}

Status HealingReserve::Repair(Cluster& c, int host_id, const std::set<std::string>& created, const std::string& group,
                              Explanation* ex, bool degrade) {
  std::vector<std::pair<ScenarioKey, std::string>> bad;
  if (auto hp = hosts_.find(host_id); hp != hosts_.end() && !created.empty())
    for (const auto& [key, use] : hp->second.uses) {
      bool clash = false;
      for (const auto& g : created) clash |= use.slots.count(g) > 0;
      if (!clash) continue;
      for (const auto& vm : use.vms)
        if (!Invalid(c, key, scenarios_.at(key).targets.at(vm)).empty()) bad.push_back({key, vm});
    }
  if (const RedundancyGroup* g = c.FindGroup(group))
    for (const auto& m : g->members)
      for (const auto& key : ScenariosWith(c, c.FindVm(m.vm)->host))
        if (const Scenario* sc = Find(key); sc && sc->targets.count(m.vm) && !Invalid(c, key, sc->targets.at(m.vm)).empty())
          bad.push_back({key, m.vm});
  if (bad.empty()) return Status::Ok();
  return Replace(c, std::move(bad), ex, degrade);
}

void HealingReserve::Rebuild(Cluster& c, std::map<std::string, std::string>* unhealable) {
  logging_ = false;
  scenarios_.clear();
  unhealable_ = 0;
  hosts_.clear();
  reserve_hosts_.clear();
  undo_.clear();
  for (auto* h : c.hosts()) h->state.SetReserve({});
  if (k_ > 0) {
    // Protected VMs by host; every scenario with one of those hosts.
    std::map<int, std::vector<std::string>> lost_on;
    for (const auto& [name, g] : c.groups())
      if (g.protect)
        for (const auto& m : g.members) lost_on[c.FindVm(m.vm)->host].push_back(m.vm);
    std::vector<int> ids;
    for (const auto* h : c.hosts()) ids.push_back(h->id);
    std::sort(ids.begin(), ids.end());
    std::vector<ScenarioKey> keys;
    if (k_ == 1) {
      for (const auto& [id, vms] : lost_on) keys.push_back({id});
    } else {
      Subsets(ids, k_, -1, &keys);
      keys.erase(std::remove_if(keys.begin(), keys.end(), [&](const ScenarioKey& key) {
                   return std::none_of(key.begin(), key.end(), [&](int id) { return lost_on.count(id); });
                 }), keys.end());
    }
    for (const auto& key : keys) {
      // Largest first, to pack the reserve.
      std::vector<std::pair<int, std::string>> lost;
      for (int id : key)
        for (const auto& vm : lost_on[id]) {
          const auto& g = c.groups().at(c.FindVm(vm)->group);
          lost.push_back({-MinPcpus(g.vm, 2) * 1000 - static_cast<int>(g.vm.vcpus.size()), vm});
        }
      std::sort(lost.begin(), lost.end());
      for (const auto& [size, vm] : lost) {
        (void)PlanOne(c, key, vm, nullptr, true);
        if (const Scenario* sc = Find(key); sc && sc->unhealable.count(vm) && unhealable) unhealable->emplace(vm, sc->unhealable.at(vm));
      }
    }
  }
  logging_ = true;
}

void HealingReserve::HostAdded(Cluster& c, int host_id) {
  if (k_ < 2) return;
  // The new host has no VM: a scenario with it loses what the scenario without it loses, and
  // no target is on it yet, so the plan without it stands.
  std::vector<ScenarioKey> keys;
  for (const auto& [key, sc] : scenarios_)
    if (static_cast<int>(key.size()) < k_) keys.push_back(key);
  for (const auto& key : keys) {
    ScenarioKey with = key;
    with.push_back(host_id);
    std::sort(with.begin(), with.end());
    const Scenario copy = scenarios_.at(key);
    for (const HealTarget* t : copy.Ordered()) AddTarget(c, with, *t, false);
    for (const auto& [vm, why] : copy.unhealable) SetUnhealable(with, vm, why);
  }
}

Status HealingReserve::HostLeaving(Cluster& c, int host_id, bool removed, Explanation* ex) {
  if (removed) {  // an empty host: the scenarios with it are gone with it
    std::vector<ScenarioKey> keys;
    for (const auto& [key, sc] : scenarios_)
      if (Contains(key, host_id)) keys.push_back(key);
    for (const auto& key : keys) {
      const Scenario copy = scenarios_.at(key);
      for (const auto& [vm, t] : copy.targets) RemoveTarget(c, key, vm);
      for (const auto& [vm, why] : copy.unhealable) ClearUnhealable(key, vm);
    }
  }
  std::vector<std::pair<ScenarioKey, std::string>> moving;
  if (auto hp = hosts_.find(host_id); hp != hosts_.end())
    for (const auto& [key, use] : hp->second.uses)
      for (const auto& vm : use.vms) moving.push_back({key, vm});
  if (moving.empty()) return Status::Ok();
  return Replace(c, std::move(moving), ex);
}

}  // namespace corepin
