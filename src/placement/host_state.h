// HostState: one host's pCPUs and memory as placement sees them: who holds what.
//
// Pure, in-memory, no I/O. The controller rebuilds it from the store at start (Apply of every
// stored assignment) and keeps it in step with every create and delete. Fit (fit.h) reads it;
// only Apply and Release change it. CheckInvariants (invariants.h) recomputes everything
// from the placed VMs and compares.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/cpuset.h"
#include "common/status.h"
#include "model/assignment.h"
#include "model/vm_spec.h"
#include "topology/partition.h"
#include "topology/topology.h"

namespace corepin {

// A shared pCPU: the vCPUs (and emulator threads) of group NAME, from one or more VMs, and
// nothing else. It exists while it has members.
struct GroupState {
  std::string name;
  int pcpu = -1;
  int node = -1;
  CpuSet reserved_siblings;            // kept empty because the group was made under SMT isolate/require
  std::map<std::string, int> members;  // VM -> slots it uses (one per vCPU, one for its emulator threads)
  int Slots() const {
    int n = 0;
    for (const auto& [vm, k] : members) n += k;
    return n;
  }
};

// The healing reserve on a host (reserve.h): free pCPUs, memory and shared-group member slots
// that a normal Fit leaves alone, so that the VMs of a failed host have exact places here.
// HostState only records it; Apply and Release ignore it, since healing places VMs into it.
struct HostReserve {
  CpuSet pcpus;                                             // free pCPUs held back
  std::map<std::pair<int, uint64_t>, uint64_t> memory_mib;  // (node, page KiB) -> MiB held back
  std::map<std::string, int> group_slots;                   // existing group -> member slots held back
  uint64_t MemoryMib(int node, uint64_t page_kib) const {
    auto it = memory_mib.find({node, page_kib});
    return it == memory_mib.end() ? 0 : it->second;
  }
  int GroupSlots(const std::string& group) const {
    auto it = group_slots.find(group);
    return it == group_slots.end() ? 0 : it->second;
  }
  bool Empty() const { return pcpus.Empty() && memory_mib.empty() && group_slots.empty(); }
  bool operator==(const HostReserve& o) const {
    return pcpus == o.pcpus && memory_mib == o.memory_mib && group_slots == o.group_slots;
  }
};

// pCPU bit masks for the fit's fast path (fit.cc), in "slot" order: slot = core index x
// threads per core + the pCPU's rank among its siblings, so a mask lists pCPUs by (core, pCPU),
// the order in which the fit takes them, and an SMT2 core is two adjacent bits. Built from the
// topology when every core has the same number of pCPUs (1 or 2) and the host has at most
// kMaxSlots of them; otherwise `usable` is false and every fit takes the general path.
struct SlotMask {
  static constexpr int kWords = 8;
  static constexpr int kMaxSlots = kWords * 64;
  uint64_t w[kWords] = {};
  void Set(int slot) { w[slot >> 6] |= uint64_t{1} << (slot & 63); }
  void Clear(int slot) { w[slot >> 6] &= ~(uint64_t{1} << (slot & 63)); }
  bool Test(int slot) const { return (w[slot >> 6] >> (slot & 63)) & 1; }
};

struct SlotIndex {
  static constexpr int kMaxNodes = 8;
  bool usable = false;
  int threads = 1;                  // pCPUs per core (1 or 2)
  int words = 0;                    // 64-bit words in use
  std::vector<uint16_t> pcpu_of;    // slot -> pCPU id
  std::vector<int16_t> slot_of;     // pCPU id -> slot, -1 when it has none
  std::vector<SlotMask> node_mask;  // per node, in topology().nodes order: its slots
  std::vector<int> node_ids;        // topology().nodes order -> node id
  static SlotIndex Build(const HostTopology& topo);
};

// What every host of one shape shares, immutable: the topology and what is derived from it.
// HostState interns it (one copy per distinct topology in the process), so a host costs its
// allocations, not a copy of its topology (about 30 KB for 128 pCPUs).
struct HostShape {
  HostTopology topology;
  SlotIndex slots;
  std::map<int, std::vector<int>> cores_of_node;  // node id -> core indexes
  static std::shared_ptr<const HostShape> Intern(HostTopology topology);
};

struct PlacedVm {
  VmSpec spec;
  Assignment assignment;
};

// What holds a pCPU, for core maps and messages.
struct PcpuUse {
  enum class Kind { kFree, kHousekeeping, kNotAllocatable, kVcpu, kEmulator, kReservedSibling, kGroup };
  Kind kind = Kind::kFree;
  std::string owner;   // VM name, or group name for kGroup
  std::string detail;  // e.g. "vcpu 0 dedicated", "group ctl: fw1 x2, nat1 x1"
  std::string Describe() const;
};

class HostState {
 public:
  // The partition must already be resolved against the topology (ResolvePartition).
  HostState(std::string name, HostTopology topology, CpuPartition partition);

  const std::string& name() const { return name_; }
  const HostTopology& topology() const { return shape_->topology; }
  const CpuPartition& partition() const { return partition_; }
  const std::map<std::string, PlacedVm>& vms() const { return vms_; }
  const std::map<std::string, GroupState>& groups() const { return groups_; }
  const GroupState* FindGroup(const std::string& name) const;
  // Allocatable pCPUs that nothing holds.
  const CpuSet& free() const { return free_; }
  // Cores (indexes into topology().cores) of each NUMA node, by node id.
  const std::vector<int>& CoresOfNode(int node) const;

  // Memory a node offers VMs in pages of this size, and what placed VMs use, in MiB.
  uint64_t MemoryCapacityMib(int node, uint64_t page_kib) const;
  uint64_t MemoryUsedMib(int node, uint64_t page_kib) const;

  // The healing reserve, set by the cluster's planner (reserve.h); empty by default.
  const HostReserve& reserve() const { return reserve_; }
  void SetReserve(HostReserve reserve) {
    reserve_ = std::move(reserve);
    SyncFast();
  }

  // Records a VM. Refuses (and changes nothing) when the assignment clashes with what is held.
  Status Apply(const VmSpec& spec, const Assignment& assignment);
  // Forgets a VM and frees what it held; a group pCPU is freed with its last member.
  Status Release(const std::string& vm);

  PcpuUse Use(int pcpu) const;

  // The fast path's view (fit.cc), kept by Apply, Release and SetReserve: the slot layout, the
  // free pCPUs outside the reserve as a slot mask (whole free cores and sibling masks per node
  // are a few word operations on it), and the memory each node can still give, per page size
  // (index: 0 = 4K, 1 = 2M, 2 = 1G), outside the reserve.
  const SlotIndex& slots() const { return shape_->slots; }
  const SlotMask& avail_slots() const { return avail_; }
  uint64_t MemoryAvailMib(size_t node_index, int page_index) const { return mem_avail_[node_index * 3 + page_index]; }
  static int PageIndex(uint64_t page_kib) { return page_kib == 4 ? 0 : page_kib == 2048 ? 1 : page_kib == 1048576 ? 2 : -1; }
  // False when no VM of this name is here; true when one may be (then ask vms()). Spares a
  // scan of many hosts the walk of each host's VM map.
  bool MayHoldVm(const std::string& vm) const { return (vm_bloom_ >> (std::hash<std::string>{}(vm) & 63)) & 1; }

 private:
  void SyncFast();  // recomputes avail_, mem_avail_ and vm_bloom_ from the state

  // What a fit on the fast path reads comes first, together, so that a scan of many hosts
  // touches a few cache lines of each.
  std::string name_;
  std::shared_ptr<const HostShape> shape_;
  uint64_t vm_bloom_ = 0;  // bit (hash of name) & 63 of every VM here
  SlotMask avail_;
  std::array<uint64_t, SlotIndex::kMaxNodes * 3> mem_avail_{};  // per node (topology order) x 3 page sizes, MiB
  CpuPartition partition_;
  std::map<std::string, PlacedVm> vms_;
  std::map<std::string, GroupState> groups_;
  CpuSet free_;
  std::map<std::pair<int, uint64_t>, uint64_t> mem_used_mib_;  // (node, page KiB) -> MiB
  HostReserve reserve_;
};

// Slots a VM takes in group `group`: its vCPUs there, plus one if its emulator threads are there.
int GroupSlots(const VmSpec& spec, const std::string& group);

}  // namespace corepin
