#include "placement/host_state.h"

#include <algorithm>
#include <mutex>

namespace corepin {

std::string PcpuUse::Describe() const {
  switch (kind) {
    case Kind::kFree: return "free";
    case Kind::kHousekeeping: return "housekeeping";
    case Kind::kNotAllocatable: return "not allocatable";
    case Kind::kVcpu: return "VM " + owner + " (" + detail + ")";
    case Kind::kEmulator: return "VM " + owner + " (emulator threads)";
    case Kind::kReservedSibling: return "VM " + owner + " (" + detail + ")";
    case Kind::kGroup: return "group " + owner + " (" + detail + ")";
  }
  return "?";
}

int GroupSlots(const VmSpec& spec, const std::string& group) {
  int n = 0;
  for (const auto& v : spec.vcpus)
    if (v.kind == VcpuPolicy::Kind::kGroup && v.group == group) ++n;
  if (spec.emulator.kind == EmulatorPolicy::Kind::kGroup && spec.emulator.group == group) ++n;
  return n;
}

HostState::HostState(std::string name, HostTopology topology, CpuPartition partition)
    : name_(std::move(name)), shape_(HostShape::Intern(std::move(topology))), partition_(std::move(partition)) {
  free_ = partition_.allocatable;
  SyncFast();
}

std::shared_ptr<const HostShape> HostShape::Intern(HostTopology topology) {
  // Few distinct shapes live in a process; a shape lives while a host uses it.
  static std::mutex mu;
  static std::vector<std::weak_ptr<const HostShape>> shapes;
  std::lock_guard<std::mutex> lock(mu);
  for (size_t i = 0; i < shapes.size();) {
    std::shared_ptr<const HostShape> s = shapes[i].lock();
    if (!s) {
      shapes[i] = shapes.back();
      shapes.pop_back();
      continue;
    }
    if (s->topology == topology) return s;
    ++i;
  }
  auto shape = std::make_shared<HostShape>();
  shape->topology = std::move(topology);
  shape->slots = SlotIndex::Build(shape->topology);
  for (const auto& n : shape->topology.nodes) shape->cores_of_node[n.id];
  for (const auto& c : shape->topology.cores) shape->cores_of_node[c.node].push_back(c.index);
  shapes.push_back(shape);
  return shape;
}

SlotIndex SlotIndex::Build(const HostTopology& topo) {
  SlotIndex x;
  x.threads = topo.threads_per_core;
  for (const auto& n : topo.nodes) x.node_ids.push_back(n.id);
  if (x.threads < 1 || x.threads > 2 || topo.cores.empty() || topo.nodes.size() > static_cast<size_t>(kMaxNodes)) return x;
  const int slots = static_cast<int>(topo.cores.size()) * x.threads;
  if (slots > SlotMask::kMaxSlots) return x;
  int max_id = 0;
  for (const auto& p : topo.pcpus) max_id = std::max(max_id, p.id);
  x.slot_of.assign(static_cast<size_t>(max_id) + 1, -1);
  x.pcpu_of.assign(static_cast<size_t>(slots), 0);
  x.node_mask.assign(topo.nodes.size(), SlotMask{});
  for (size_t ci = 0; ci < topo.cores.size(); ++ci) {
    const Core& c = topo.cores[ci];
    if (c.index != static_cast<int>(ci) || c.pcpus.Size() != x.threads) return SlotIndex{};
    size_t ni = 0;
    while (ni < topo.nodes.size() && topo.nodes[ni].id != c.node) ++ni;
    if (ni == topo.nodes.size()) return SlotIndex{};
    int rank = 0;
    for (int p : c.pcpus.ToVector()) {  // ascending pCPU id
      const int slot = static_cast<int>(ci) * x.threads + rank++;
      const Pcpu* pc = topo.FindPcpu(p);
      if (!pc || pc->node != c.node || p > max_id) return SlotIndex{};
      x.pcpu_of[slot] = static_cast<uint16_t>(p);
      x.slot_of[p] = static_cast<int16_t>(slot);
      x.node_mask[ni].Set(slot);
    }
  }
  // Every pCPU must be on a core, so that the masks see all of them.
  for (const auto& p : topo.pcpus)
    if (x.slot_of[p.id] < 0) return SlotIndex{};
  x.words = (slots + 63) / 64;
  x.usable = true;
  return x;
}

void HostState::SyncFast() {
  if (shape_->slots.usable) {
    avail_ = SlotMask{};
    for (size_t s = 0; s < shape_->slots.pcpu_of.size(); ++s) {
      const int p = shape_->slots.pcpu_of[s];
      if (free_.Contains(p) && !reserve_.pcpus.Contains(p)) avail_.Set(static_cast<int>(s));
    }
  }
  vm_bloom_ = 0;
  for (const auto& [vm, placed] : vms_) vm_bloom_ |= uint64_t{1} << (std::hash<std::string>{}(vm) & 63);
  if (!shape_->slots.usable) return;
  static constexpr uint64_t kPages[3] = {4, 2048, 1048576};
  mem_avail_.fill(0);
  for (size_t i = 0; i < topology().nodes.size(); ++i)
    for (int pi = 0; pi < 3; ++pi) {
      const int node = topology().nodes[i].id;
      const uint64_t cap = MemoryCapacityMib(node, kPages[pi]);
      const uint64_t used = MemoryUsedMib(node, kPages[pi]) + reserve_.MemoryMib(node, kPages[pi]);
      mem_avail_[i * 3 + pi] = cap > used ? cap - used : 0;
    }
}

const GroupState* HostState::FindGroup(const std::string& name) const {
  auto it = groups_.find(name);
  return it == groups_.end() ? nullptr : &it->second;
}

const std::vector<int>& HostState::CoresOfNode(int node) const {
  static const std::vector<int> kNone;
  auto it = shape_->cores_of_node.find(node);
  return it == shape_->cores_of_node.end() ? kNone : it->second;
}

uint64_t HostState::MemoryCapacityMib(int node, uint64_t page_kib) const {
  const NumaNode* n = topology().FindNode(node);
  if (!n) return 0;
  if (page_kib != 4) return n->PoolPages(page_kib) * page_kib / 1024;
  // Base-page memory: the node's memory less its hugepage pools and what the host keeps.
  // Hugepages are the pools of 2M and more (some hosts' base page is not 4K).
  uint64_t huge_kib = 0;
  for (const auto& p : n->pages)
    if (p.size_kib >= 2048) huge_kib += p.total_pages * p.size_kib;
  uint64_t mib = (n->memory_kib > huge_kib ? n->memory_kib - huge_kib : 0) / 1024;
  return mib > partition_.reserved_memory_mib_per_node ? mib - partition_.reserved_memory_mib_per_node : 0;
}

uint64_t HostState::MemoryUsedMib(int node, uint64_t page_kib) const {
  auto it = mem_used_mib_.find({node, page_kib});
  return it == mem_used_mib_.end() ? 0 : it->second;
}

Status HostState::Apply(const VmSpec& spec, const Assignment& a) {
  const std::string& vm = spec.name;
  if (vms_.count(vm)) return Conflict("VM " + vm + " is already placed on host " + name_);
  if (a.vcpu_pcpus.size() != spec.vcpus.size())
    return Invalid("assignment of VM " + vm + " has " + std::to_string(a.vcpu_pcpus.size()) + " vCPU pCPUs for " +
                   std::to_string(spec.vcpus.size()) + " vCPUs");
  CpuSet held = a.exclusive.Union(a.reserved_siblings);
  if (a.exclusive.Intersects(a.reserved_siblings) || !held.IsSubsetOf(free_))
    return Conflict("VM " + vm + ": pCPUs " + held.Minus(free_).ToString() + " are not free on host " + name_);
  // Groups: join existing ones at their pCPU, or create them on a free pCPU.
  CpuSet new_group_pcpus;
  for (const auto& [g, pcpu] : a.groups) {
    const GroupState* gs = FindGroup(g);
    if (gs && gs->pcpu != pcpu)
      return Conflict("VM " + vm + ": group " + g + " is on pCPU " + std::to_string(gs->pcpu) + ", not " + std::to_string(pcpu));
    if (gs && gs->Slots() + GroupSlots(spec, g) > partition_.group_member_limit)
      return Conflict("VM " + vm + ": group " + g + " would exceed " + std::to_string(partition_.group_member_limit) + " members");
    if (!gs) {
      if (!free_.Contains(pcpu) || held.Contains(pcpu) || new_group_pcpus.Contains(pcpu))
        return Conflict("VM " + vm + ": pCPU " + std::to_string(pcpu) + " for new group " + g + " is not free");
      new_group_pcpus.Add(pcpu);
    }
  }
  for (const auto& [node, mib] : a.memory_mib)
    if (MemoryUsedMib(node, a.page_kib) + mib > MemoryCapacityMib(node, a.page_kib))
      return Conflict("VM " + vm + ": node" + std::to_string(node) + " has not " + std::to_string(mib) + " MiB of " +
                      PageSizeToString(a.page_kib) + " pages free");

  // All checks passed: record.
  free_ = free_.Minus(held).Minus(new_group_pcpus);
  for (const auto& [g, pcpu] : a.groups) {
    auto it = groups_.find(g);
    if (it == groups_.end()) {
      GroupState gs;
      gs.name = g;
      gs.pcpu = pcpu;
      gs.node = topology().FindPcpu(pcpu)->node;
      if (spec.smt != SmtPolicy::kPrefer) {
        // The group keeps its core to itself, so later members get the same isolation.
        gs.reserved_siblings = topology().FindPcpu(pcpu)->siblings.Intersect(free_);
        free_ = free_.Minus(gs.reserved_siblings);
      }
      it = groups_.emplace(g, std::move(gs)).first;
    }
    it->second.members[vm] = GroupSlots(spec, g);
  }
  for (const auto& [node, mib] : a.memory_mib) mem_used_mib_[{node, a.page_kib}] += mib;
  vms_[vm] = PlacedVm{spec, a};
  SyncFast();
  return Status::Ok();
}

Status HostState::Release(const std::string& vm) {
  auto it = vms_.find(vm);
  if (it == vms_.end()) return NotFound("VM " + vm + " is not placed on host " + name_);
  const Assignment& a = it->second.assignment;
  free_ = free_.Union(a.exclusive).Union(a.reserved_siblings);
  for (const auto& [g, pcpu] : a.groups) {
    auto git = groups_.find(g);
    if (git == groups_.end()) continue;
    git->second.members.erase(vm);
    if (git->second.members.empty()) {
      free_.Add(git->second.pcpu);
      free_ = free_.Union(git->second.reserved_siblings);
      groups_.erase(git);
    }
  }
  for (const auto& [node, mib] : a.memory_mib) mem_used_mib_[{node, a.page_kib}] -= mib;
  vms_.erase(it);
  SyncFast();
  return Status::Ok();
}

PcpuUse HostState::Use(int pcpu) const {
  PcpuUse u;
  if (partition_.housekeeping.Contains(pcpu)) {
    u.kind = PcpuUse::Kind::kHousekeeping;
    return u;
  }
  if (!partition_.allocatable.Contains(pcpu)) {
    u.kind = PcpuUse::Kind::kNotAllocatable;
    return u;
  }
  if (free_.Contains(pcpu)) return u;
  for (const auto& [g, gs] : groups_) {
    if (gs.pcpu != pcpu && !gs.reserved_siblings.Contains(pcpu)) continue;
    u.kind = gs.pcpu == pcpu ? PcpuUse::Kind::kGroup : PcpuUse::Kind::kReservedSibling;
    u.owner = g;
    if (gs.pcpu == pcpu) {
      for (const auto& [vm, k] : gs.members) u.detail += (u.detail.empty() ? "" : ", ") + vm + " x" + std::to_string(k);
    } else {
      u.detail = "sibling kept empty for group " + g;
      u.kind = PcpuUse::Kind::kReservedSibling;
      u.owner = "group:" + g;
    }
    return u;
  }
  for (const auto& [name, placed] : vms_) {
    const Assignment& a = placed.assignment;
    if (a.reserved_siblings.Contains(pcpu)) {
      u.kind = PcpuUse::Kind::kReservedSibling;
      u.owner = name;
      u.detail = "sibling kept empty, smt " + std::string(ToString(placed.spec.smt));
      return u;
    }
    if (!a.exclusive.Contains(pcpu)) continue;
    u.owner = name;
    for (size_t i = 0; i < a.vcpu_pcpus.size(); ++i)
      if (a.vcpu_pcpus[i] == pcpu) {
        u.kind = PcpuUse::Kind::kVcpu;
        u.detail = "vcpu " + std::to_string(i) + " " + placed.spec.vcpus[i].ToString();
        return u;
      }
    u.kind = PcpuUse::Kind::kEmulator;
    return u;
  }
  return u;
}

}  // namespace corepin
