#include "placement/repin.h"

#include <set>

#include "placement/invariants.h"

namespace corepin {
namespace {

// The host as it would be without the VM: its pCPUs and memory free, the reserve unchanged.
HostState Without(const HostState& host, const std::string& vm) {
  HostState h = host;
  (void)h.Release(vm);
  return h;
}

std::string Str(int n) { return std::to_string(n); }

// An explicit re-pin: moves the named vCPUs (and the emulator threads), then checks every pCPU
// the VM would hold, as the fit would, and states each problem as a reason.
class ExplicitRepin {
 public:
  ExplicitRepin(const HostState& host, const PlacedVm& placed)
      : host_(host), without_(Without(host, placed.spec.name)), spec_(placed.spec), old_(placed.assignment), a_(placed.assignment) {
    result_.rejection.host = host.name();
  }

  FitResult Run(const RepinRequest& req) {
    MoveVcpus(req.vcpus);
    if (req.emulator) MoveEmulator(*req.emulator);
    if (!Reasons().empty()) return std::move(result_);
    CheckClaims();
    if (!Reasons().empty()) return std::move(result_);
    Recount();
    // The pure model is the final judge: the VM applied to the host without it, every invariant.
    HostState check = without_;
    if (auto s = check.Apply(spec_, a_); !s) Reject(s.error().message);
    else if (auto s = CheckInvariants(check); !s) Reject("the new layout breaks a rule: " + s.error().message);
    if (Reasons().empty()) result_.assignment = std::move(a_);
    return std::move(result_);
  }

 private:
  std::vector<std::string>& Reasons() { return result_.rejection.reasons; }
  void Reject(std::string why) { Reasons().push_back(std::move(why)); }
  int VcpuCount() const { return static_cast<int>(spec_.vcpus.size()); }

  void MoveVcpus(const std::map<int, int>& moves) {
    std::map<std::string, std::map<int, int>> group_moves;  // group -> vCPU -> pCPU
    for (auto [v, p] : moves) {
      if (v < 0 || v >= VcpuCount()) {
        Reject("vCPU " + Str(v) + " does not exist: VM " + spec_.name + " has vCPUs 0-" + Str(VcpuCount() - 1));
        continue;
      }
      const VcpuPolicy& pol = spec_.vcpus[v];
      if (pol.kind == VcpuPolicy::Kind::kPinned && p != pol.pcpu)
        Reject("vCPU " + Str(v) + " is pinned:" + Str(pol.pcpu) + " by its spec and stays on pCPU " + Str(pol.pcpu) +
               "; to pin it elsewhere, change its policy with corepin vm resize");
      else if (pol.kind == VcpuPolicy::Kind::kGroup)
        group_moves[pol.group][v] = p;
      else
        a_.vcpu_pcpus[v] = p;
    }
    for (const auto& [g, vm_moves] : group_moves) MoveGroup(g, vm_moves);
  }

  // A shared group's pCPU moves with all of its vCPUs, and only when no other VM uses it.
  void MoveGroup(const std::string& g, const std::map<int, int>& moves) {
    const int to = moves.begin()->second;
    std::string missing;
    for (int v = 0; v < VcpuCount(); ++v)
      if (spec_.vcpus[v].kind == VcpuPolicy::Kind::kGroup && spec_.vcpus[v].group == g) {
        auto it = moves.find(v);
        if (it == moves.end()) missing += (missing.empty() ? "" : ",") + Str(v);
        else if (it->second != to) {
          Reject("vCPUs of group " + g + " share one pCPU: vCPU " + Str(moves.begin()->first) + " -> " + Str(to) + " but vCPU " +
                 Str(v) + " -> " + Str(it->second) + "; give them the same pCPU");
          return;
        }
      }
    if (!missing.empty()) {
      Reject("vCPUs of group " + g + " share one pCPU and move together: name vCPUs " + missing + " too, with pCPU " + Str(to));
      return;
    }
    if (to == old_.groups.at(g)) return;
    if (const GroupState* shared = without_.FindGroup(g)) {
      std::string others;
      for (const auto& [vm, slots] : shared->members) others += (others.empty() ? "" : ", ") + vm;
      Reject("group " + g + " on pCPU " + Str(shared->pcpu) + " is shared with VM " + others +
             "; a shared group's pCPU does not move for one VM");
      return;
    }
    a_.groups[g] = to;
    for (int v = 0; v < VcpuCount(); ++v)
      if (spec_.vcpus[v].kind == VcpuPolicy::Kind::kGroup && spec_.vcpus[v].group == g) a_.vcpu_pcpus[v] = to;
    if (spec_.emulator.kind == EmulatorPolicy::Kind::kGroup && spec_.emulator.group == g) a_.emulator = CpuSet{to};
  }

  void MoveEmulator(const CpuSet& to) {
    const CpuSet& hk = host_.partition().housekeeping;
    switch (spec_.emulator.kind) {
      case EmulatorPolicy::Kind::kHousekeeping:
        if (to.Empty() || !to.IsSubsetOf(hk))
          Reject("emulator: policy housekeeping runs on housekeeping pCPUs (" + hk.ToString() + "); " +
                 (to.Empty() ? "an empty set" : to.Minus(hk).ToString()) + " is not");
        else
          a_.emulator = to;
        return;
      case EmulatorPolicy::Kind::kIsolate:
        if (to.Size() != 1) Reject("emulator: policy isolate takes exactly one pCPU of its own, got \"" + to.ToString() + "\"");
        else a_.emulator = to;
        return;
      case EmulatorPolicy::Kind::kGroup:
        if (to != a_.emulator)
          Reject("emulator: policy group:" + spec_.emulator.group + " runs on its group's pCPU " + a_.emulator.ToString() +
                 "; move the group's vCPUs to move it");
        return;
    }
  }

  // Every pCPU the VM would hold of its own (dedicated and pinned vCPUs, an isolated emulator,
  // groups it alone uses), with what holds it, for messages.
  std::map<int, std::vector<std::string>> Claims(const Assignment& a) const {
    std::map<int, std::vector<std::string>> c;
    for (int v = 0; v < VcpuCount(); ++v)
      if (spec_.vcpus[v].kind != VcpuPolicy::Kind::kGroup) c[a.vcpu_pcpus[v]].push_back("vCPU " + Str(v));
    if (spec_.emulator.kind == EmulatorPolicy::Kind::kIsolate) c[a.emulator.First()].push_back("emulator");
    for (const auto& [g, p] : a.groups)
      if (!without_.FindGroup(g)) c[p].push_back("group " + g);
    return c;
  }

  void CheckClaims() {
    const CpuPartition& part = host_.partition();
    const HostTopology& topo = host_.topology();
    const CpuSet all = topo.AllPcpus();
    std::set<int> memory_nodes;
    for (const auto& [node, mib] : old_.memory_mib) memory_nodes.insert(node);
    const auto claims = Claims(a_);
    CpuSet mine;
    for (const auto& [p, who] : claims) mine.Add(p);
    for (const auto& [p, who] : claims) {
      const std::string what = who.front() + " -> pCPU " + Str(p) + ": ";
      if (who.size() > 1) {
        std::string rest;
        for (size_t i = 1; i < who.size(); ++i) rest += (rest.empty() ? "" : ", ") + who[i];
        Reject(what + rest + " would be there too; a dedicated vCPU (or isolated emulator, or group) needs a pCPU of its own");
      }
      if (!all.Contains(p)) {
        Reject(what + "pCPU " + Str(p) + " does not exist on this host (pCPUs " + all.ToString() + ")");
        continue;
      }
      if (part.housekeeping.Contains(p)) {
        Reject(what + "pCPU " + Str(p) + " is housekeeping; allocatable pCPUs are " + part.allocatable.ToString());
        continue;
      }
      if (!part.allocatable.Contains(p)) {
        Reject(what + "pCPU " + Str(p) + " is outside the allocatable set (" + part.allocatable.ToString() + ")");
        continue;
      }
      if (!without_.free().Contains(p)) Reject(what + "pCPU " + Str(p) + " is held by " + without_.Use(p).Describe());
      else if (host_.reserve().pcpus.Contains(p)) Reject(what + "pCPU " + Str(p) + " is held by the healing reserve");
      const int node = topo.FindPcpu(p)->node;
      if (!memory_nodes.count(node)) {
        std::string on;
        for (int n : memory_nodes) on += (on.empty() ? "node" : ",node") + Str(n);
        Reject(what + "pCPU " + Str(p) + " is on node" + Str(node) + " but the VM's memory is on " + on +
               " (numa " + ToString(spec_.numa) + "); a live re-pin does not move memory: use corepin vm resize to re-fit");
      }
      if (spec_.smt == SmtPolicy::kPrefer) continue;
      CpuSet sib = topo.FindPcpu(p)->siblings;
      sib.Remove(p);
      for (int s : sib.ToVector()) {
        if (mine.Contains(s)) {
          if (spec_.smt == SmtPolicy::kIsolate)
            Reject(what + "smt isolate: pCPU " + Str(s) + " (" + claims.at(s).front() + ") is its SMT sibling; isolate keeps siblings empty");
        } else if (!without_.free().Contains(s) || host_.reserve().pcpus.Contains(s)) {
          const std::string holder = without_.free().Contains(s) ? "the healing reserve" : without_.Use(s).Describe();
          Reject(what + "smt " + ToString(spec_.smt) + ": its SMT sibling " + Str(s) + " is held by " + holder + ", and must stay empty");
        }
      }
    }
  }

  // The pCPUs the VM holds alone and the siblings it keeps empty, after the moves.
  void Recount() {
    a_.exclusive = CpuSet{};
    for (int v = 0; v < VcpuCount(); ++v)
      if (spec_.vcpus[v].kind != VcpuPolicy::Kind::kGroup) a_.exclusive.Add(a_.vcpu_pcpus[v]);
    if (spec_.emulator.kind == EmulatorPolicy::Kind::kIsolate) a_.exclusive = a_.exclusive.Union(a_.emulator);
    if (spec_.smt == SmtPolicy::kPrefer) return;
    CpuSet before, after;
    for (const auto& [p, who] : Claims(old_)) before.Add(p);
    for (const auto& [p, who] : Claims(a_)) after.Add(p);
    auto siblings = [&](const CpuSet& set) {
      CpuSet s;
      for (int p : set.ToVector()) s = s.Union(host_.topology().FindPcpu(p)->siblings);
      return s.Minus(set);
    };
    const CpuSet kept = before.Intersect(after);
    a_.reserved_siblings = old_.reserved_siblings.Minus(siblings(before.Minus(kept)))
                               .Union(old_.reserved_siblings.Intersect(siblings(kept)))
                               .Union(siblings(after.Minus(kept)))
                               .Minus(after);
  }

  const HostState& host_;
  const HostState without_;
  const VmSpec& spec_;
  const Assignment& old_;
  Assignment a_;
  FitResult result_;
};

}  // namespace

FitResult FitRepin(const HostState& host, const std::string& vm, const RepinRequest& req) {
  auto it = host.vms().find(vm);
  if (it == host.vms().end()) {
    FitResult out;
    out.rejection.host = host.name();
    out.rejection.reasons.push_back("VM " + vm + " is not on this host");
    return out;
  }
  const PlacedVm& placed = it->second;
  if (!req.automatic) return ExplicitRepin(host, placed).Run(req);
  FitResult fit = FitInPlace(host, vm, placed.spec);
  // A layout that needs the memory elsewhere cannot be reached live: keep the intended one.
  if (!fit.ok() || fit.assignment->memory_mib != placed.assignment.memory_mib) {
    fit.rejection = {};
    fit.assignment = placed.assignment;
  }
  return fit;
}

FitResult FitInPlace(const HostState& host, const std::string& vm, const VmSpec& spec) {
  return Fit(Without(host, vm), spec);
}

}  // namespace corepin
