// HostTopology: what a host is made of, as read over its libvirt connection.
//
// Built from the capabilities XML (NUMA cells, pCPUs with socket/die/core and SMT siblings,
// memory and hugepage pools per cell, guest domain types) and node-device XML (NICs and the
// NUMA node of their PCI device). Plain data; parsing lives in capabilities_parser.h.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/cpuset.h"

namespace corepin {

struct Pcpu {
  int id = -1;
  int node = -1;
  int socket = -1;
  int die = 0;
  int core = -1;      // core_id as the kernel reports it (unique only within a socket)
  int core_index = -1;  // index into HostTopology::cores: a host-wide core identity
  CpuSet siblings;    // SMT siblings including itself
  bool operator==(const Pcpu&) const = default;
};

// A physical core: the pCPUs that share it.
struct Core {
  int index = -1;
  int node = -1;
  int socket = -1;
  CpuSet pcpus;
  bool operator==(const Core&) const = default;
};

struct PagePool {
  uint64_t size_kib = 4;
  uint64_t total_pages = 0;  // pages in the pool of this size on the cell
  bool operator==(const PagePool&) const = default;
};

struct NumaNode {
  int id = -1;
  uint64_t memory_kib = 0;
  std::vector<PagePool> pages;  // 4K, 2M, 1G as reported
  CpuSet pcpus;
  uint64_t PoolPages(uint64_t size_kib) const {
    for (const auto& p : pages)
      if (p.size_kib == size_kib) return p.total_pages;
    return 0;
  }
  bool operator==(const NumaNode&) const = default;
};

struct Nic {
  std::string name;     // interface name, e.g. ens2
  std::string address;  // MAC
  int node = -1;        // NUMA node of its PCI device; -1 when the host does not say
  bool operator==(const Nic&) const = default;
};

struct HostTopology {
  std::string arch = "x86_64";
  std::string cpu_vendor;
  std::string cpu_model;
  std::vector<std::string> domain_types;  // e.g. "kvm", "qemu"
  std::vector<NumaNode> nodes;            // ordered by id
  std::vector<Pcpu> pcpus;                // ordered by id; ids may have gaps (offline CPUs)
  std::vector<Core> cores;                // ordered by (socket, core)
  std::vector<Nic> nics;
  int threads_per_core = 1;

  CpuSet AllPcpus() const;
  const Pcpu* FindPcpu(int id) const;
  const NumaNode* FindNode(int id) const;
  const Nic* FindNic(const std::string& name) const;
  int SocketCount() const;
  bool SupportsDomainType(const std::string& t) const;
  bool operator==(const HostTopology&) const = default;
};

// The first difference between two CPU layouts (pCPUs, their node, socket, core and SMT
// siblings; the number of NUMA nodes), or "" when they are the same. Memory and NICs are not
// compared: hugepage pools and NICs change at run time.
std::string CpuLayoutDifference(const HostTopology& stored, const HostTopology& actual);

}  // namespace corepin
