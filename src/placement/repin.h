// Re-fitting a VM on its own host: a live re-pin (new pCPUs, same spec) and a resize (new
// spec). Pure, like fit.h: both read the HostState and return a new Assignment or a Rejection
// whose reasons name each refused vCPU or pCPU; neither changes anything. In both, the VM's own
// pCPUs and memory count as free for it, and the healing reserve stays untouched.
//
// A live re-pin cannot move memory (QEMU keeps the guest's pages where they are), so every new
// pCPU must be on a NUMA node that holds the VM's memory; a resize re-fits from scratch (the
// domain is restarted) and may change nodes.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/cpuset.h"
#include "placement/fit.h"
#include "placement/host_state.h"

namespace corepin {

struct RepinRequest {
  // Explicit: vCPU -> pCPU; vCPUs not named keep theirs. The vCPUs of a shared group move
  // together (all of the VM's vCPUs of that group to one pCPU), and only while the VM is the
  // group's only member on the host. A pinned:N vCPU stays on N (its spec says so).
  std::map<int, int> vcpus;
  std::optional<CpuSet> emulator;  // the emulator threads' new cpuset, or unchanged
  // Automatic: re-fit with the VM's policies. The fit's layout is taken when it keeps the
  // memory's NUMA nodes and differs from the current one; otherwise the current (intended)
  // assignment stays, which re-applies it (how drift is repaired).
  bool automatic = false;
};

// The new assignment for VM `vm` (placed on `host`) under `request`, or why not. Refusal
// reasons, one per problem: an unknown vCPU, a pCPU that does not exist, is housekeeping, is
// outside the allocatable set, is held by another VM (named) or the healing reserve, a pCPU
// shared by two dedicated vCPUs (or a vCPU and an isolated emulator), an SMT sibling that is not
// free, a NUMA node without the VM's memory, an emulator cpuset its policy does not allow.
FitResult FitRepin(const HostState& host, const std::string& vm, const RepinRequest& request);

// The fit of `spec` (the VM's new shape, same name) on the host the VM is on, its current
// pCPUs and memory counted as free; the usual per-node rejections when it does not fit.
FitResult FitInPlace(const HostState& host, const std::string& vm, const VmSpec& spec);

}  // namespace corepin
