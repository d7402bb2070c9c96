// Per-host fit: can this VM go on this host, and exactly where?
//
// Returns an exact Assignment (vCPU -> pCPU, emulator cpuset, memory per NUMA node) or a
// Rejection that says why, per host and per NUMA node. Deterministic: the same HostState and
// VmSpec always give the same answer. Pure: it does not change the HostState; the caller
// records an accepted assignment with HostState::Apply.
//
// How pCPUs are chosen (to avoid stranding):
//   - NUMA single: among the nodes that can take the VM, the one left with the fewest free
//     pCPUs (best fit), so whole nodes stay free for large VMs; ties go to the lower node id.
//   - SMT prefer: pCPUs on partly used cores first, then whole free cores, sibling by sibling,
//     so whole cores stay free for isolate VMs.
//   - SMT isolate: one pCPU per whole free core; its siblings are held empty for the VM.
//   - SMT require: whole free cores, every sibling used; the host must have SMT.
//   - NUMA spread: vCPUs are dealt across the nodes that have room, evenly; memory follows them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/assignment.h"
#include "placement/host_state.h"
#include "model/vm_spec.h"

namespace corepin {

struct NodeRejection {
  int node = -1;
  std::string reason;  // e.g. "3 free pCPUs, needs 4"
};

struct Rejection {
  std::string host;
  std::vector<std::string> reasons;  // host-wide reasons (a pinned pCPU taken, an unknown NIC)
  std::vector<NodeRejection> nodes;  // why each NUMA node could not take it
  // One line per reason: "host h1: pinned:0: pCPU 0 is housekeeping"; "host h1 node1: 3 free pCPUs, needs 4".
  std::string ToString() const;
};

struct FitResult {
  std::optional<Assignment> assignment;
  Rejection rejection;
  bool ok() const { return assignment.has_value(); }
};

// Takes only free pCPUs and memory outside the host's healing reserve (HostState::reserve()),
// and counts the group member slots the reserve holds as taken.
//
// Two paths give the same answers (fit_compare_test.cc checks them against the fit as it was,
// fit_reference.h): VMs of dedicated vCPUs under NUMA single, with their emulator threads on
// the housekeeping pCPUs or on an isolated pCPU, on hosts of 1 or 2 pCPUs per core, are fitted
// on the host's slot masks (host_state.h: popcounts per node, whole free cores as `m & m >> 1`);
// pinned vCPUs, shared groups, NUMA spread, a FitScope, and every refusal's reasons take the
// general path.
FitResult Fit(const HostState& host, const VmSpec& spec);

// Why a fit refused, as a code: what the scheduler counts. kOther: a host-wide reason (the VM
// is already there, a pinned pCPU, a shared group, SMT, page size, NIC or physnet unknown),
// which ClassifyRejection (explain.h) names from Fit's Rejection.
enum class FitCode : uint8_t { kOk, kPcpus, kMemory, kNic, kOther };

// The same fit without the reasons of a refusal. On kOk, *out holds the assignment; its storage
// is reused, so on the fast path a fit into an Assignment that held one before allocates
// nothing. A refusal on the fast path costs no text at all.
FitCode FitInto(const HostState& host, const VmSpec& spec, Assignment* out);

// The fast path's answer alone, choosing no pCPUs: what the scheduler's capacity index asks of
// every host it scans. kOther when the spec or host is not the fast path's kind (then only Fit
// can tell); otherwise exactly FitInto's code.
FitCode FitCheck(const HostState& host, const VmSpec& spec);

// What a fit may use instead, for the healing planner (reserve.h), which fits lost VMs into a
// host's reserve as the other planned targets of the same failure would leave it.
struct FitScope {
  CpuSet pcpus;                                             // free pCPUs it may take or hold empty
  std::map<std::pair<int, uint64_t>, uint64_t> memory_mib;  // (node, page KiB) -> MiB it may use
  std::map<std::string, GroupState> groups;                 // shared groups as they would be; override the host's
};
FitResult Fit(const HostState& host, const VmSpec& spec, const FitScope& scope);

}  // namespace corepin
