#include "placement/defrag.h"

#include <algorithm>
#include <set>

#include "placement/cluster_rebuild.h"
#include "placement/fit.h"
#include "placement/repin.h"
#include "placement/scheduler.h"

namespace corepin {
namespace {

// Which cores and nodes of a host are free of VMs, and how many pCPUs are stranded.
struct Shape {
  std::set<int> free_cores;  // core indexes
  std::set<int> free_nodes;
  int stranded = 0;
};

// `held`: pCPUs counted as held besides what the host holds (a VM about to go there).
Shape ShapeOf(const HostState& s, const CpuSet& held = {}) {
  Shape out;
  const CpuSet& alloc = s.partition().allocatable;
  const CpuSet free = s.free().Minus(held).Intersect(alloc);
  for (const Core& core : s.topology().cores) {
    if (core.pcpus.IsSubsetOf(free)) out.free_cores.insert(core.index);
    else out.stranded += core.pcpus.Intersect(free).Size();
  }
  for (const NumaNode& n : s.topology().nodes) {
    const CpuSet mine = n.pcpus.Intersect(alloc);
    if (!mine.Empty() && mine.IsSubsetOf(free)) out.free_nodes.insert(n.id);
  }
  return out;
}

std::string CoreName(const HostState& s, int index) {
  const Core& c = s.topology().cores[static_cast<size_t>(index)];
  return s.name() + " core " + std::to_string(s.topology().FindPcpu(c.pcpus.First())->core) + " of socket " +
         std::to_string(c.socket) + " (pCPUs " + c.pcpus.ToString() + ")";
}

// Cores and nodes free in `after` but not in `before` (as text, host-qualified).
std::vector<std::string> Gained(const HostState& s, const Shape& before, const Shape& after) {
  std::vector<std::string> out;
  for (int n : after.free_nodes)
    if (!before.free_nodes.count(n)) out.push_back(s.name() + " node " + std::to_string(n));
  for (int c : after.free_cores)
    if (!before.free_cores.count(c)) out.push_back(CoreName(s, c));
  return out;
}

// pCPUs a VM holds that go free when it leaves: its own, its siblings held empty, and the pCPU
// of each shared group it is the last member of.
CpuSet FreedBy(const HostState& s, const std::string& vm) {
  const Assignment& a = s.vms().at(vm).assignment;
  CpuSet out = a.exclusive.Union(a.reserved_siblings);
  for (const auto& [g, pcpu] : a.groups)
    if (const GroupState* gs = s.FindGroup(g); gs && gs->members.size() == 1) out = out.Union(CpuSet{pcpu}).Union(gs->reserved_siblings);
  return out;
}

// Cores of the host that would be free of VMs if `vm` left: a cheap upper bound of what moving it gains.
int CoresFreedBy(const HostState& s, const std::string& vm) {
  const CpuSet freed = FreedBy(s, vm);
  const CpuSet would = s.free().Union(freed).Intersect(s.partition().allocatable);
  int n = 0;
  for (const Core& core : s.topology().cores)
    if (core.pcpus.Intersects(freed) && core.pcpus.IsSubsetOf(would)) ++n;
  return n;
}

struct Gain {
  int cores = 0, nodes = 0, stranded = 0;  // after - before
  int Score() const { return cores + 8 * nodes; }
  bool Worth() const { return cores >= 0 && nodes >= 0 && (cores > 0 || nodes > 0); }
  bool Better(const Gain& o) const {
    if (Score() != o.Score()) return Score() > o.Score();
    return stranded < o.stranded;
  }
};

Gain Diff(const Shape& before, const Shape& after) {
  return {static_cast<int>(after.free_cores.size()) - static_cast<int>(before.free_cores.size()),
          static_cast<int>(after.free_nodes.size()) - static_cast<int>(before.free_nodes.size()), after.stranded - before.stranded};
}
Gain operator+(Gain a, const Gain& b) { return {a.cores + b.cores, a.nodes + b.nodes, a.stranded + b.stranded}; }

// The planner's scratch state: where each VM is, and copies of the hosts it changed (made on
// first change; the others are read from the Cluster). Copies keep the live reserve, which Fit
// leaves alone.
class Planner {
 public:
  Planner(const Cluster& c, const DefragOptions& o) : c_(c), o_(o) {
    for (const ClusterHost* h : c.hosts())
      for (const auto& [vm, p] : h->state.vms()) where_[vm] = h->name;
  }

  // The best move now, or none.
  std::optional<DefragMove> Next() {
    std::vector<std::pair<int, std::string>> cands;  // (-cores it may free, vm)
    for (const auto& [vm, host] : where_)
      if (!moved_.count(vm) && c_.FindHost(host)->schedulable)  // a drained or failed host is left alone
        if (int n = CoresFreedBy(View(host), vm); n > 0) cands.push_back({-n, vm});
    std::sort(cands.begin(), cands.end());
    if (static_cast<int>(cands.size()) > o_.max_candidates) cands.resize(static_cast<size_t>(o_.max_candidates));
    std::optional<DefragMove> best;
    Gain best_gain;
    for (const auto& [n, vm] : cands) Evaluate(vm, &best, &best_gain);
    return best;
  }

  void Apply(const DefragMove& m) {
    HostState& from = Mut(m.from.host);
    const VmSpec spec = from.vms().at(m.vm).spec;
    (void)from.Release(m.vm);
    (void)Mut(m.to.host).Apply(spec, m.to);
    where_[m.vm] = m.to.host;
    moved_.insert(m.vm);
  }

 private:
  // Target hosts for `vm` other than its own: allowed by its group, fullest first.
  std::vector<std::string> OtherHosts(const std::string& vm, const VmSpec& spec) {
    const Cluster::VmLocation* loc = c_.FindVm(vm);
    const RedundancyGroup& g = *c_.FindGroup(loc->group);
    HostFilter f;
    f.domains = g.domains;
    for (const auto& m : g.members) {
      if (m.vm == vm) continue;
      const ClusterHost* mh = c_.FindHost(where_.at(m.vm));
      f.avoid_hosts.insert(mh->id);
      for (const auto& key : g.domains)
        if (auto it = mh->labels.find(key); it != mh->labels.end()) f.avoid_values[key].insert(it->second);
    }
    const int need = MinPcpus(spec, 1);
    std::vector<std::pair<int, std::string>> hosts;  // (free pCPUs outside the reserve, host)
    for (const ClusterHost* h : c_.hosts()) {
      if (h->name == where_.at(vm) || *FilterHost(*h, f)) continue;  // "" passes the filter
      const HostState& s = View(h->name);
      const int free = s.free().Minus(s.reserve().pcpus).Size();
      if (free >= need) hosts.push_back({free, h->name});
    }
    std::sort(hosts.begin(), hosts.end());
    std::vector<std::string> out;
    for (const auto& [free, name] : hosts) {
      if (static_cast<int>(out.size()) >= o_.max_target_hosts) break;
      out.push_back(name);
    }
    return out;
  }

  // Takes `vm` off its host (in a copy) and fits it again, there and on other hosts; keeps the
  // best gaining move in *best.
  void Evaluate(const std::string& vm, std::optional<DefragMove>* best, Gain* best_gain) {
    HostState& from = Mut(where_.at(vm));
    const PlacedVm orig = from.vms().at(vm);
    const Shape from_before = ShapeOf(from);
    // On its own host the move is a live re-pin, which keeps the memory's NUMA nodes: the
    // re-pin's own automatic fit (its current layout when a better one needs the memory elsewhere).
    const FitResult own = FitRepin(from, vm, {.automatic = true});
    (void)from.Release(vm);
    const Shape from_released = ShapeOf(from);
    std::vector<std::string> targets = {from.name()};
    for (auto& h : OtherHosts(vm, orig.spec)) targets.push_back(std::move(h));
    for (const auto& t : targets) {
      const HostState& to = View(t);
      const bool same = &to == &from;
      const FitResult fit = same ? own : Fit(to, orig.spec);
      if (!fit.ok() || *fit.assignment == orig.assignment) continue;
      const CpuSet held = NewlyHeld(to, *fit.assignment);
      const Shape to_before = same ? from_before : ShapeOf(to), to_after = ShapeOf(to, held);
      const Shape& from_after = same ? to_after : from_released;
      const Gain gain = same ? Diff(from_before, from_after) : Diff(from_before, from_after) + Diff(to_before, to_after);
      if (!gain.Worth() || (*best && !gain.Better(*best_gain))) continue;
      DefragMove m{vm, c_.FindVm(vm)->group, orig.assignment, *fit.assignment, gain.cores, gain.nodes, gain.stranded, {}, {}};
      m.frees = Gained(from, from_before, from_after);
      m.takes = Gained(to, to_after, to_before);  // whole cores and nodes it takes (on its own host too)
      *best = std::move(m);
      *best_gain = gain;
    }
    (void)from.Apply(orig.spec, orig.assignment);
  }

  const HostState& View(const std::string& host) const {
    auto it = copies_.find(host);
    return it != copies_.end() ? it->second : c_.FindHost(host)->state;
  }
  HostState& Mut(const std::string& host) {
    auto it = copies_.find(host);
    if (it == copies_.end()) it = copies_.emplace(host, c_.FindHost(host)->state).first;
    return it->second;
  }

  const Cluster& c_;
  DefragOptions o_;
  std::map<std::string, HostState> copies_;  // hosts changed, by name
  std::map<std::string, std::string> where_;  // VM -> host
  std::set<std::string> moved_;
};

}  // namespace

Fragmentation& Fragmentation::operator+=(const Fragmentation& o) {
  free_pcpus += o.free_pcpus;
  stranded += o.stranded;
  free_cores += o.free_cores;
  free_nodes += o.free_nodes;
  reserve += o.reserve;
  return *this;
}

Fragmentation MeasureFragmentation(const HostState& s) {
  const Shape shape = ShapeOf(s);
  return {s.name(), s.free().Intersect(s.partition().allocatable).Size(), shape.stranded, static_cast<int>(shape.free_cores.size()),
          static_cast<int>(shape.free_nodes.size()), s.reserve().pcpus.Size()};
}

Result<DefragPlan> PlanDefrag(const Cluster& c, const DefragOptions& o) {
  DefragPlan plan;
  for (const ClusterHost* h : c.hosts()) {
    plan.before.push_back(MeasureFragmentation(h->state));
    plan.total_before += plan.before.back();
  }
  Planner planner(c, o);
  while (static_cast<int>(plan.moves.size()) < o.max_moves) {
    auto m = planner.Next();
    if (!m) break;
    planner.Apply(*m);
    plan.moves.push_back(std::move(*m));
  }
  // The result as a Cluster, with its reserve re-planned; drop moves from the end until it holds.
  while (true) {
    std::map<std::string, Assignment> moved;
    for (const auto& m : plan.moves) moved[m.vm] = m.to;
    auto rebuilt = RebuildCluster(c, moved);
    std::string why;
    if (!rebuilt) {
      why = rebuilt.error().message;
    } else if (rebuilt->cluster->reserve().UnhealableCount() > c.reserve().UnhealableCount()) {
      why = rebuilt->replan.ok() ? "the healing reserve could not be planned" : rebuilt->replan.error().message;
    } else if (auto s = rebuilt->cluster->Check(); !s) {
      why = s.error().message;
    } else {
      plan.result = std::move(rebuilt->cluster);
      break;
    }
    if (plan.moves.empty()) return Internal("defrag: the cluster does not rebuild as it is: " + why);
    plan.notes.push_back("move of " + plan.moves.back().vm + " dropped: " + why);
    plan.moves.pop_back();
  }
  for (const ClusterHost* h : plan.result->hosts()) {
    plan.after.push_back(MeasureFragmentation(h->state));
    plan.total_after += plan.after.back();
  }
  return plan;
}

}  // namespace corepin
