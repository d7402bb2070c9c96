#include "placement/fit.h"

#include <algorithm>

#include "placement/explain.h"

namespace corepin {
namespace {

std::string NodeName(int node) { return "node" + std::to_string(node); }

// The VM's request, sorted into what needs new pCPUs and what is fixed in advance.
struct Request {
  std::vector<int> dedicated;               // vCPU indexes needing a pCPU of their own
  std::vector<std::pair<int, int>> pinned;  // (vCPU, pCPU)
  std::vector<std::string> new_groups;      // groups this host does not have yet (sorted)
  std::map<std::string, int> joined;        // existing groups -> their pCPU
  bool emulator_isolate = false;
  CpuSet pinned_pcpus;                      // pinned pCPUs
  CpuSet pinned_reserved;                   // their siblings held empty (isolate/require)
  std::map<int, std::string> fixed_nodes;   // node -> what fixes it there (for messages)
  int Exclusive() const {
    return static_cast<int>(dedicated.size() + new_groups.size()) + (emulator_isolate ? 1 : 0);
  }
};

class Fitter {
 public:
  Fitter(const HostState& hs, const VmSpec& spec, const FitScope* scope)
      : hs_(hs), spec_(spec), topo_(hs.topology()), scope_(scope) {
    result_.rejection.host = hs.name();
    free_ = scope ? scope->pcpus.Intersect(hs.free()) : hs.free().Minus(hs.reserve().pcpus);
  }

  FitResult Run() {
    CheckHost();
    Classify();
    if (!result_.rejection.reasons.empty()) return std::move(result_);
    avail_ = free_.Minus(req_.pinned_pcpus).Minus(req_.pinned_reserved);
    if (spec_.numa == NumaPolicy::kSingle) FitSingleNode();
    else FitSpread();
    return std::move(result_);
  }

 private:
  // Who holds pCPU p, for "is held by ...": a VM or group, or the healing reserve.
  std::string Holder(int p) const {
    if (!hs_.free().Contains(p)) return hs_.Use(p).Describe();
    return scope_ ? "another healing target" : "the healing reserve";
  }
  // What pCPU p is, for "pCPU p is ...".
  std::string What(int p) const { return hs_.free().Contains(p) ? "held by " + Holder(p) : Holder(p); }

  // Shared groups as the fit sees them: the scope's view first, then the host's.
  const GroupState* FindGroup(const std::string& g) const {
    if (scope_)
      if (auto it = scope_->groups.find(g); it != scope_->groups.end()) return &it->second;
    return hs_.FindGroup(g);
  }

  void Reject(std::string why) { result_.rejection.reasons.push_back(std::move(why)); }
  void RejectNode(int node, std::string why) { result_.rejection.nodes.push_back({node, std::move(why)}); }

  void CheckHost() {
    if (hs_.vms().count(spec_.name)) Reject("VM " + spec_.name + " is already on this host");
    if (spec_.smt == SmtPolicy::kRequire && topo_.threads_per_core < 2)
      Reject("smt require: this host has no SMT (1 thread per core); use smt prefer or isolate, or another host");
    if (spec_.page_kib != 4) {
      bool any = false;
      for (const auto& n : topo_.nodes) any |= n.PoolPages(spec_.page_kib) > 0;
      if (!any) Reject("page_size " + PageSizeToString(spec_.page_kib) + ": this host has no " + PageSizeToString(spec_.page_kib) + " hugepages");
    }
    if (!spec_.nic.empty()) {
      const Nic* nic = topo_.FindNic(spec_.nic);
      if (!nic) {
        std::string have;
        for (const auto& n : topo_.nics) have += (have.empty() ? "" : ", ") + n.name;
        Reject("nic: NIC " + spec_.nic + " is not on this host (NICs: " + (have.empty() ? "none" : have) + ")");
      } else if (nic->node < 0) {
        Reject("nic: this host does not report the NUMA node of NIC " + spec_.nic);
      } else {
        nic_nodes_.push_back(nic->node);
        locality_ = "NIC " + spec_.nic;
      }
    }
    if (!spec_.physnet.empty()) {
      auto it = hs_.partition().physnets.find(spec_.physnet);
      if (it == hs_.partition().physnets.end()) {
        Reject("physnet: physical network " + spec_.physnet + " is not configured on this host");
      } else {
        for (const auto& name : it->second)
          if (const Nic* nic = topo_.FindNic(name); nic && nic->node >= 0) nic_nodes_.push_back(nic->node);
        std::sort(nic_nodes_.begin(), nic_nodes_.end());
        nic_nodes_.erase(std::unique(nic_nodes_.begin(), nic_nodes_.end()), nic_nodes_.end());
        locality_ = "physnet " + spec_.physnet;
      }
    }
  }

  // Siblings of pCPU p that a VM with this SMT policy must hold empty (or use itself).
  CpuSet SiblingsToHold(int p) const {
    if (spec_.smt == SmtPolicy::kPrefer) return {};
    CpuSet s = topo_.FindPcpu(p)->siblings;
    s.Remove(p);
    return s;
  }

  void Classify() {
    const CpuPartition& part = hs_.partition();
    // Only pinned vCPUs need the host's pCPU list; building it is a good part of a fit's cost.
    const bool any_pinned = std::any_of(spec_.vcpus.begin(), spec_.vcpus.end(), [](const VcpuPolicy& v) { return v.kind == VcpuPolicy::Kind::kPinned; });
    const CpuSet all = any_pinned ? topo_.AllPcpus() : CpuSet{};
    std::map<std::string, int> group_slots;
    for (int i = 0; i < static_cast<int>(spec_.vcpus.size()); ++i) {
      const VcpuPolicy& v = spec_.vcpus[i];
      if (v.kind == VcpuPolicy::Kind::kDedicated) req_.dedicated.push_back(i);
      if (v.kind == VcpuPolicy::Kind::kGroup) group_slots[v.group] = GroupSlots(spec_, v.group);
      if (v.kind != VcpuPolicy::Kind::kPinned) continue;
      const std::string what = "vcpu_policies[" + std::to_string(i) + "] pinned:" + std::to_string(v.pcpu);
      const int p = v.pcpu;
      if (!all.Contains(p)) {
        Reject(what + ": pCPU " + std::to_string(p) + " does not exist on this host (pCPUs " + all.ToString() + ")");
      } else if (part.housekeeping.Contains(p)) {
        Reject(what + ": pCPU " + std::to_string(p) + " is housekeeping on this host; allocatable pCPUs are " + part.allocatable.ToString());
      } else if (!part.allocatable.Contains(p)) {
        Reject(what + ": pCPU " + std::to_string(p) + " is not allocatable on this host; allocatable pCPUs are " + part.allocatable.ToString());
      } else if (!free_.Contains(p)) {
        Reject(what + ": pCPU " + std::to_string(p) + " is held by " + Holder(p));
      } else {
        req_.pinned.push_back({i, p});
        req_.pinned_pcpus.Add(p);
        req_.fixed_nodes.emplace(topo_.FindPcpu(p)->node, "pinned:" + std::to_string(p));
      }
    }
    // Siblings of pinned pCPUs: isolate wants them empty; require wants them this VM's.
    for (auto [vcpu, p] : req_.pinned) {
      CpuSet sib = SiblingsToHold(p);
      if (spec_.smt == SmtPolicy::kIsolate && sib.Intersects(req_.pinned_pcpus)) {
        Reject("smt isolate: pinned pCPUs " + sib.Intersect(req_.pinned_pcpus).ToString() + " and " + std::to_string(p) +
               " are SMT siblings; isolate keeps siblings empty");
        continue;
      }
      CpuSet others = sib.Minus(req_.pinned_pcpus);
      if (!others.IsSubsetOf(free_)) {
        int s = others.Minus(free_).First();
        Reject("smt " + std::string(ToString(spec_.smt)) + ": pinned:" + std::to_string(p) + "'s SMT sibling " +
               std::to_string(s) + " is " + What(s) + ", and must stay empty");
        continue;
      }
      req_.pinned_reserved = req_.pinned_reserved.Union(others);
    }
    if (spec_.emulator.kind == EmulatorPolicy::Kind::kIsolate) req_.emulator_isolate = true;
    if (spec_.emulator.kind == EmulatorPolicy::Kind::kGroup)
      group_slots[spec_.emulator.group] = GroupSlots(spec_, spec_.emulator.group);
    const int limit = part.group_member_limit;
    for (const auto& [g, slots] : group_slots) {
      const GroupState* gs = FindGroup(g);
      if (!gs) {
        if (slots > limit)
          Reject("group " + g + ": " + std::to_string(slots) + " members exceed this host's limit of " + std::to_string(limit) + " per shared pCPU");
        else
          req_.new_groups.push_back(g);
        continue;
      }
      // Slots held for healing count as taken, except for the healing planner itself.
      const int held = scope_ ? 0 : hs_.reserve().GroupSlots(g);
      if (gs->Slots() + held + slots > limit) {
        Reject("group " + g + ": its pCPU " + std::to_string(gs->pcpu) + " has " + std::to_string(gs->Slots()) + " of " +
               std::to_string(limit) + " member slots taken" + (held ? " and " + std::to_string(held) + " held for the healing reserve" : "") +
               "; this VM needs " + std::to_string(slots));
        continue;
      }
      if (spec_.smt != SmtPolicy::kPrefer) {
        CpuSet sib = SiblingsToHold(gs->pcpu).Minus(gs->reserved_siblings);
        if (!sib.IsSubsetOf(free_)) {
          int s = sib.Minus(free_).First();
          Reject("smt " + std::string(ToString(spec_.smt)) + ": group " + g + "'s pCPU " + std::to_string(gs->pcpu) +
                 " shares its core with pCPU " + std::to_string(s) + ", " + What(s));
          continue;
        }
        joined_reserved_ = joined_reserved_.Union(sib);
      }
      req_.joined[g] = gs->pcpu;
      req_.fixed_nodes.emplace(gs->node, "group " + g);
    }
    req_.pinned_reserved = req_.pinned_reserved.Union(joined_reserved_);
  }

  // Units of exclusive pCPUs node `node` can give under the SMT policy, from `avail`.
  int Capacity(int node, const CpuSet& avail) const {
    if (spec_.smt == SmtPolicy::kPrefer) return avail.Intersect(topo_.FindNode(node)->pcpus).Size();
    int units = 0;
    for (int ci : hs_.CoresOfNode(node)) {
      const CpuSet& core = topo_.cores[ci].pcpus;
      if (core.IsSubsetOf(avail)) units += spec_.smt == SmtPolicy::kIsolate ? 1 : core.Size();
    }
    return units;
  }

  // "1 free pCPU", "2 free pCPUs".
  static std::string Count(int n, const char* one, const char* many) { return std::to_string(n) + " " + (n == 1 ? one : many); }

  std::string CapacityText(int cap) const {
    switch (spec_.smt) {
      case SmtPolicy::kPrefer: return Count(cap, "free pCPU", "free pCPUs");
      case SmtPolicy::kIsolate: return Count(cap, "whole free core", "whole free cores") + " (smt isolate)";
      case SmtPolicy::kRequire: return Count(cap, "pCPU", "pCPUs") + " on whole free cores (smt require)";
    }
    return "";
  }

  // What the VM needs of its own, with its parts when there are several:
  // "9 (8 vCPUs + 1 isolated emulator pCPU)"; under smt isolate each is a whole core.
  std::string NeedText() const {
    std::vector<std::string> parts;
    if (!req_.dedicated.empty()) parts.push_back(Count(static_cast<int>(req_.dedicated.size()), "vCPU", "vCPUs"));
    if (!req_.new_groups.empty()) parts.push_back(Count(static_cast<int>(req_.new_groups.size()), "new shared group pCPU", "new shared group pCPUs"));
    if (req_.emulator_isolate) parts.push_back("1 isolated emulator pCPU");
    std::string out = std::to_string(req_.Exclusive());
    if (parts.size() > 1) {
      out += " (";
      for (size_t i = 0; i < parts.size(); ++i) out += (i ? " + " : "") + parts[i];
      out += ")";
    }
    return out;
  }

  // Chooses k pCPUs on `node` from avail_ and takes them out of avail_; siblings to hold
  // empty go to *reserved.
  std::vector<int> Take(int node, int k, CpuSet* reserved) {
    std::vector<int> out;
    if (k <= 0) return out;
    const CpuSet in_node = avail_.Intersect(topo_.FindNode(node)->pcpus);
    if (spec_.smt == SmtPolicy::kPrefer) {
      // Partly used cores first (fewest free siblings), then by core, then by pCPU.
      struct Cand { int free_sibs, core, pcpu; };
      std::vector<Cand> cands;
      for (int p : in_node.ToVector()) {
        const Pcpu* pc = topo_.FindPcpu(p);
        cands.push_back({pc->siblings.Intersect(in_node).Size(), pc->core_index, p});
      }
      std::sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) {
        return std::tie(a.free_sibs, a.core, a.pcpu) < std::tie(b.free_sibs, b.core, b.pcpu);
      });
      for (int i = 0; i < k && i < static_cast<int>(cands.size()); ++i) out.push_back(cands[i].pcpu);
    } else {
      for (int ci : hs_.CoresOfNode(node)) {
        if (static_cast<int>(out.size()) >= k) break;
        const CpuSet& core = topo_.cores[ci].pcpus;
        if (!core.IsSubsetOf(in_node)) continue;
        for (int p : core.ToVector()) {
          if (static_cast<int>(out.size()) < k && (spec_.smt == SmtPolicy::kRequire || p == core.First())) out.push_back(p);
          else reserved->Add(p);
        }
      }
    }
    for (int p : out) avail_.Remove(p);
    avail_ = avail_.Minus(*reserved);
    return out;
  }

  // Memory each node can still give in the VM's page size (outside the healing reserve, or
  // what the scope allows).
  uint64_t MemoryFree(int node) const {
    if (scope_) {
      auto it = scope_->memory_mib.find({node, spec_.page_kib});
      return it == scope_->memory_mib.end() ? 0 : it->second;
    }
    uint64_t cap = hs_.MemoryCapacityMib(node, spec_.page_kib);
    uint64_t used = hs_.MemoryUsedMib(node, spec_.page_kib) + hs_.reserve().MemoryMib(node, spec_.page_kib);
    return cap > used ? cap - used : 0;
  }

  std::string MemoryText(uint64_t free_mib, uint64_t need) const {
    return std::to_string(free_mib) + " MiB free in " + PageSizeToString(spec_.page_kib) + " pages, needs " + std::to_string(need) + " MiB";
  }

  void FitSingleNode() {
    const int need = req_.Exclusive();
    int best = -1, best_left = 0;
    for (const auto& n : topo_.nodes) {
      std::vector<std::string> why;
      for (const auto& [fixed, what] : req_.fixed_nodes)
        if (fixed != n.id) why.push_back(what + " is on " + NodeName(fixed) + " (numa single)");
      if (!nic_nodes_.empty() && std::find(nic_nodes_.begin(), nic_nodes_.end(), n.id) == nic_nodes_.end()) {
        std::string on;
        for (int x : nic_nodes_) on += (on.empty() ? "" : ",") + NodeName(x);
        why.push_back(locality_ + " is on " + on);
      }
      const int cap = Capacity(n.id, avail_);
      if (cap < need) why.push_back(CapacityText(cap) + ", needs " + NeedText());
      const uint64_t mem = MemoryFree(n.id);
      if (mem < spec_.memory_mib) why.push_back(MemoryText(mem, spec_.memory_mib));
      if (!why.empty()) {
        for (auto& w : why) RejectNode(n.id, std::move(w));
        continue;
      }
      const int left = avail_.Intersect(n.pcpus).Size() - need;
      if (best < 0 || left < best_left) best = n.id, best_left = left;
    }
    if (best < 0) return;
    result_.rejection.nodes.clear();
    Assignment a = Begin();
    Place(best, req_.dedicated, req_.new_groups.size(), req_.emulator_isolate, &a);
    a.memory_mib[best] = spec_.memory_mib;
    result_.assignment = std::move(a);
  }

  void FitSpread() {
    // Nodes in dealing order: the NIC's nodes first, then by id.
    std::vector<int> order;
    for (int n : nic_nodes_) order.push_back(n);
    for (const auto& n : topo_.nodes)
      if (std::find(order.begin(), order.end(), n.id) == order.end()) order.push_back(n.id);
    std::map<int, int> cap, vcpus_on;
    for (int n : order) cap[n] = Capacity(n, avail_);
    for (auto [v, p] : req_.pinned) ++vcpus_on[topo_.FindPcpu(p)->node];
    for (int i = 0; i < static_cast<int>(spec_.vcpus.size()); ++i)
      if (auto it = req_.joined.find(spec_.vcpus[i].group); spec_.vcpus[i].kind == VcpuPolicy::Kind::kGroup && it != req_.joined.end())
        ++vcpus_on[topo_.FindPcpu(it->second)->node];
    // Deal each unit to the node with the fewest vCPUs so far that still has room.
    auto pick = [&](bool count_vcpu) -> int {
      int best = -1;
      for (int n : order)
        if (cap[n] > 0 && (best < 0 || vcpus_on[n] < vcpus_on[best])) best = n;
      if (best >= 0) {
        --cap[best];
        if (count_vcpu) ++vcpus_on[best];
      }
      return best;
    };
    std::map<int, std::vector<int>> dedicated_on;
    std::map<int, int> new_groups_on;
    int emulator_node = -1;
    bool short_of_pcpus = false;
    for (int v : req_.dedicated) {
      int n = pick(true);
      if (n < 0) short_of_pcpus = true;
      else dedicated_on[n].push_back(v);
    }
    for (const auto& g : req_.new_groups) {
      int n = pick(false);
      if (n < 0) short_of_pcpus = true;
      else {
        ++new_groups_on[n];
        vcpus_on[n] += GroupSlots(spec_, g);
      }
    }
    if (req_.emulator_isolate && (emulator_node = pick(false)) < 0) short_of_pcpus = true;
    if (short_of_pcpus) {
      int total = 0;
      for (int n : order) {
        int c = Capacity(n, avail_);
        total += c;
        RejectNode(n, CapacityText(c) + "; numa spread needs " + std::to_string(req_.Exclusive()) + " across all nodes");
      }
      Reject("numa spread: " + CapacityText(total) + " across all nodes, needs " + NeedText());
      return;
    }
    // Memory follows the vCPUs, in whole pages; the remainder goes to the busiest node.
    const uint64_t unit = std::max<uint64_t>(1, spec_.page_kib / 1024);
    std::map<int, uint64_t> mem;
    uint64_t given = 0;
    int busiest = -1;
    const uint64_t total_vcpus = spec_.vcpus.size();
    for (int n : order) {
      if (vcpus_on[n] == 0) continue;
      mem[n] = spec_.memory_mib * vcpus_on[n] / total_vcpus / unit * unit;
      given += mem[n];
      if (busiest < 0 || vcpus_on[n] > vcpus_on[busiest]) busiest = n;
    }
    mem[busiest] += spec_.memory_mib - given;
    bool mem_short = false;
    for (auto [n, mib] : mem)
      if (MemoryFree(n) < mib) RejectNode(n, MemoryText(MemoryFree(n), mib)), mem_short = true;
    if (mem_short) return;
    Assignment a = Begin();
    for (int n : order) Place(n, dedicated_on[n], new_groups_on[n], emulator_node == n, &a);
    for (auto [n, mib] : mem)
      if (mib > 0) a.memory_mib[n] = mib;
    result_.assignment = std::move(a);
  }

  // The parts that do not depend on the chosen node: pinned vCPUs, joined groups, emulator.
  Assignment Begin() {
    Assignment a;
    a.host = hs_.name();
    a.page_kib = spec_.page_kib;
    a.vcpu_pcpus.assign(spec_.vcpus.size(), -1);
    for (auto [v, p] : req_.pinned) {
      a.vcpu_pcpus[v] = p;
      a.exclusive.Add(p);
    }
    a.reserved_siblings = req_.pinned_reserved;
    for (const auto& [g, p] : req_.joined) a.groups[g] = p;
    if (spec_.emulator.kind == EmulatorPolicy::Kind::kHousekeeping) a.emulator = hs_.partition().housekeeping;
    next_group_ = 0;
    return a;
  }

  // Places on `node`: these dedicated vCPUs, the next `groups` new groups, and the emulator
  // pCPU when asked; then points group vCPUs and group emulator threads at their pCPUs.
  void Place(int node, const std::vector<int>& dedicated, size_t groups, bool emulator, Assignment* a) {
    const int k = static_cast<int>(dedicated.size() + groups) + (emulator ? 1 : 0);
    std::vector<int> got = Take(node, k, &a->reserved_siblings);
    size_t i = 0;
    for (int v : dedicated) {
      a->vcpu_pcpus[v] = got[i];
      a->exclusive.Add(got[i++]);
    }
    for (size_t g = 0; g < groups; ++g) a->groups[req_.new_groups[next_group_++]] = got[i++];
    if (emulator) {
      a->emulator = CpuSet{got[i]};
      a->exclusive.Add(got[i++]);
    }
    for (size_t v = 0; v < spec_.vcpus.size(); ++v)
      if (spec_.vcpus[v].kind == VcpuPolicy::Kind::kGroup && a->groups.count(spec_.vcpus[v].group))
        a->vcpu_pcpus[v] = a->groups[spec_.vcpus[v].group];
    if (spec_.emulator.kind == EmulatorPolicy::Kind::kGroup && a->groups.count(spec_.emulator.group))
      a->emulator = CpuSet{a->groups[spec_.emulator.group]};
  }

  const HostState& hs_;
  const VmSpec& spec_;
  const HostTopology& topo_;
  const FitScope* scope_;   // null: the host's free pCPUs and memory less its healing reserve
  CpuSet free_;             // pCPUs this fit may take or hold empty
  FitResult result_;
  Request req_;
  CpuSet avail_;            // free pCPUs not yet given to this VM
  CpuSet joined_reserved_;  // siblings of joined groups' pCPUs this VM must hold empty
  std::vector<int> nic_nodes_;
  std::string locality_;
  size_t next_group_ = 0;
};

// ---- The fast path: dedicated vCPUs, NUMA single, on slot masks (host_state.h). ----

enum class Fast { kNotHere, kOk, kPcpus, kMemory, kNic };

constexpr uint64_t kEven = 0x5555555555555555ull;

// The slots of whole free cores, one bit per core (its first slot).
inline uint64_t WholeCores(uint64_t m, int threads) { return threads == 2 ? m & (m >> 1) & kEven : m; }

// Node indexes (topology order) a VM naming a NIC or physnet may use, as Fitter::CheckHost finds
// them; all of them when it names neither, or when the physnet's NICs report no node. False
// when the general path must speak (unknown NIC or physnet, a NIC without a node).
bool LocalNodes(const HostState& hs, const VmSpec& spec, uint64_t* allowed) {
  *allowed = ~uint64_t{0};
  if (spec.nic.empty() && spec.physnet.empty()) return true;
  const HostTopology& topo = hs.topology();
  uint64_t nodes = 0;
  auto add = [&](int id) {
    for (size_t i = 0; i < hs.slots().node_ids.size(); ++i)
      if (hs.slots().node_ids[i] == id) nodes |= uint64_t{1} << i;
  };
  if (!spec.nic.empty()) {
    const Nic* nic = topo.FindNic(spec.nic);
    if (!nic || nic->node < 0) return false;
    add(nic->node);
  }
  if (!spec.physnet.empty()) {
    auto it = hs.partition().physnets.find(spec.physnet);
    if (it == hs.partition().physnets.end()) return false;
    for (const auto& name : it->second)
      if (const Nic* nic = topo.FindNic(name); nic && nic->node >= 0) add(nic->node);
  }
  if (nodes) *allowed = nodes;
  return true;
}

// scope: as Fitter with a FitScope (the healing planner): its pCPUs (of the free ones) and its
// memory instead of the host's less the reserve; a dedicated VM needs nothing of its groups.
Fast FastFit(const HostState& hs, const VmSpec& spec, const FitScope* scope, Assignment* out) {
  const SlotIndex& x = hs.slots();
  if (!x.usable || spec.numa != NumaPolicy::kSingle || spec.emulator.kind == EmulatorPolicy::Kind::kGroup) return Fast::kNotHere;
  for (const auto& v : spec.vcpus)
    if (v.kind != VcpuPolicy::Kind::kDedicated) return Fast::kNotHere;
  if (spec.smt == SmtPolicy::kRequire && x.threads < 2) return Fast::kNotHere;
  const int page = HostState::PageIndex(spec.page_kib);
  if (page < 0) return Fast::kNotHere;
  if (page > 0) {
    bool any = false;
    for (const auto& n : hs.topology().nodes) any |= n.PoolPages(spec.page_kib) > 0;
    if (!any) return Fast::kNotHere;
  }
  uint64_t allowed;
  if (!LocalNodes(hs, spec, &allowed)) return Fast::kNotHere;
  if (hs.MayHoldVm(spec.name) && hs.vms().count(spec.name)) return Fast::kNotHere;

  const bool emulator = spec.emulator.kind == EmulatorPolicy::Kind::kIsolate;
  const int need = static_cast<int>(spec.vcpus.size()) + (emulator ? 1 : 0);
  const int words = x.words;
  SlotMask scoped;
  if (scope) {
    const CpuSet may = scope->pcpus.Intersect(hs.free());
    for (size_t slot = 0; slot < x.pcpu_of.size(); ++slot)
      if (may.Contains(x.pcpu_of[slot])) scoped.Set(static_cast<int>(slot));
  }
  const SlotMask& avail = scope ? scoped : hs.avail_slots();
  auto memory = [&](size_t i) -> uint64_t {
    if (!scope) return hs.MemoryAvailMib(i, page);
    auto it = scope->memory_mib.find({x.node_ids[i], spec.page_kib});
    return it == scope->memory_mib.end() ? 0 : it->second;
  };
  // NUMA single, as Fitter::FitSingleNode: best fit, the node left with the fewest free pCPUs,
  // ties to the first. A refused node's class is its first reason's (locality, pCPUs, memory).
  int best = -1, best_left = 0;
  bool short_pcpus = false, short_memory = false;
  const size_t nodes = x.node_mask.size();
  for (size_t i = 0; i < nodes; ++i) {
    if (!((allowed >> i) & 1)) continue;
    const SlotMask& nm = x.node_mask[i];
    int free = 0, whole = 0;
    for (int w = 0; w < words; ++w) {
      const uint64_t m = avail.w[w] & nm.w[w];
      free += __builtin_popcountll(m);
      whole += __builtin_popcountll(WholeCores(m, x.threads));
    }
    const int cap = spec.smt == SmtPolicy::kPrefer ? free : spec.smt == SmtPolicy::kIsolate ? whole : whole * x.threads;
    if (cap < need) {
      short_pcpus = true;
      continue;
    }
    if (memory(i) < spec.memory_mib) {
      short_memory = true;
      continue;
    }
    if (best < 0 || free - need < best_left) best = static_cast<int>(i), best_left = free - need;
  }
  if (best < 0) return short_pcpus ? Fast::kPcpus : short_memory ? Fast::kMemory : nodes ? Fast::kNic : Fast::kPcpus;
  if (!out) return Fast::kOk;

  // Take `need` slots on the node, as Fitter::Take: prefer takes partly used cores first, then
  // whole free cores, each in (core, pCPU) order, which is slot order; isolate takes the first
  // pCPU of each whole free core and holds its sibling empty; require takes whole cores.
  const SlotMask& nm = x.node_mask[best];
  uint16_t got[SlotMask::kMaxSlots];
  int n = 0;
  CpuSet reserved;
  auto take_bits = [&](uint64_t bits, int w) {
    while (bits && n < need) {
      const int slot = w * 64 + __builtin_ctzll(bits);
      bits &= bits - 1;
      got[n++] = x.pcpu_of[slot];
    }
  };
  if (spec.smt == SmtPolicy::kPrefer) {
    for (int pass = 0; pass < 2 && n < need; ++pass)
      for (int w = 0; w < words && n < need; ++w) {
        const uint64_t m = avail.w[w] & nm.w[w];
        uint64_t whole = WholeCores(m, x.threads);
        if (x.threads == 2) whole |= whole << 1;
        else whole = 0;  // one pCPU per core: every free pCPU is "partly used" for the ordering
        take_bits(pass == 0 ? m & ~whole : m & whole, w);
      }
  } else {
    for (int w = 0; w < words && n < need; ++w) {
      uint64_t cores = WholeCores(avail.w[w] & nm.w[w], x.threads);
      while (cores && n < need) {
        const int slot = w * 64 + __builtin_ctzll(cores);
        cores &= cores - 1;
        got[n++] = x.pcpu_of[slot];
        if (x.threads == 2) {
          const int sib = x.pcpu_of[slot + 1];
          if (spec.smt == SmtPolicy::kRequire && n < need) got[n++] = static_cast<uint16_t>(sib);
          else reserved.Add(sib);
        }
      }
    }
  }

  Assignment& a = *out;
  a.host = hs.name();
  a.page_kib = spec.page_kib;
  a.vcpu_pcpus.resize(spec.vcpus.size());
  a.exclusive = CpuSet{};
  for (int i = 0; i < need; ++i) a.exclusive.Add(got[i]);
  for (size_t v = 0; v < spec.vcpus.size(); ++v) a.vcpu_pcpus[v] = got[v];
  a.emulator = emulator ? CpuSet{got[need - 1]} : hs.partition().housekeeping;
  a.reserved_siblings = reserved;
  a.groups.clear();
  const int node_id = x.node_ids[best];
  if (a.memory_mib.size() == 1) {  // reuse the map's node: no allocation
    auto nh = a.memory_mib.extract(a.memory_mib.begin());
    nh.key() = node_id;
    nh.mapped() = spec.memory_mib;
    a.memory_mib.insert(std::move(nh));
  } else {
    a.memory_mib.clear();
    a.memory_mib[node_id] = spec.memory_mib;
  }
  return Fast::kOk;
}

FitCode CodeOf(Fast f) {
  switch (f) {
    case Fast::kOk: return FitCode::kOk;
    case Fast::kPcpus: return FitCode::kPcpus;
    case Fast::kMemory: return FitCode::kMemory;
    case Fast::kNic: return FitCode::kNic;
    case Fast::kNotHere: break;
  }
  return FitCode::kOther;
}

FitCode CodeOf(const Rejection& r) {
  const std::string why = ClassifyRejection(r);
  if (why == reason::kPcpus) return FitCode::kPcpus;
  if (why == reason::kMemory) return FitCode::kMemory;
  if (why == reason::kNic) return FitCode::kNic;
  return FitCode::kOther;
}

}  // namespace

std::string Rejection::ToString() const {
  std::string out;
  for (const auto& r : reasons) out += "host " + host + ": " + r + "\n";
  for (const auto& n : nodes) out += "host " + host + " node" + std::to_string(n.node) + ": " + n.reason + "\n";
  if (!out.empty()) out.pop_back();
  return out;
}

FitResult Fit(const HostState& host, const VmSpec& spec) {
  FitResult r;
  Assignment a;
  if (FastFit(host, spec, nullptr, &a) == Fast::kOk) {
    r.rejection.host = host.name();
    r.assignment = std::move(a);
    return r;
  }
  return Fitter(host, spec, nullptr).Run();  // the general path, and every refusal's reasons
}

FitCode FitCheck(const HostState& host, const VmSpec& spec) { return CodeOf(FastFit(host, spec, nullptr, nullptr)); }

FitCode FitInto(const HostState& host, const VmSpec& spec, Assignment* out) {
  const Fast f = FastFit(host, spec, nullptr, out);
  if (f != Fast::kNotHere) return CodeOf(f);
  FitResult r = Fitter(host, spec, nullptr).Run();
  if (!r.ok()) return CodeOf(r.rejection);
  *out = std::move(*r.assignment);
  return FitCode::kOk;
}

FitResult Fit(const HostState& host, const VmSpec& spec, const FitScope& scope) {
  FitResult r;
  Assignment a;
  if (FastFit(host, spec, &scope, &a) == Fast::kOk) {
    r.rejection.host = host.name();
    r.assignment = std::move(a);
    return r;
  }
  return Fitter(host, spec, &scope).Run();
}

}  // namespace corepin
