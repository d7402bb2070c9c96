// Assignment: the exact answer of a per-host fit, and what the hypervisor driver enforces.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/cpuset.h"

namespace corepin {

struct Assignment {
  std::string host;
  std::vector<int> vcpu_pcpus;              // vCPU i runs on pCPU vcpu_pcpus[i]
  CpuSet emulator;                          // where QEMU's emulator threads run
  CpuSet exclusive;                         // pCPUs this VM holds alone (dedicated, pinned, emulator isolate)
  CpuSet reserved_siblings;                 // SMT siblings held empty for this VM (isolate/require)
  std::map<std::string, int> groups;        // shared group pCPUs this VM is a member of
  std::map<int, uint64_t> memory_mib;       // NUMA node -> MiB (the sum is the VM's memory)
  uint64_t page_kib = 4;

  // Every pCPU where this VM's vCPUs run.
  CpuSet VcpuPcpus() const {
    CpuSet s;
    for (int p : vcpu_pcpus) s.Add(p);
    return s;
  }
  // The NUMA nodes holding its memory (as a set of node ids, like numatune's nodeset).
  CpuSet MemoryNodes() const {
    CpuSet s;
    for (const auto& [node, mib] : memory_mib) s.Add(node);
    return s;
  }
  bool operator==(const Assignment& o) const {
    return host == o.host && vcpu_pcpus == o.vcpu_pcpus && emulator == o.emulator && exclusive == o.exclusive &&
           reserved_siblings == o.reserved_siblings && groups == o.groups && memory_mib == o.memory_mib &&
           page_kib == o.page_kib;
  }
};

}  // namespace corepin
