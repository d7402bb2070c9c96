// Hypervisor: the one interface through which corepin reads a host and runs VMs on it.
//
// The implementation talks to libvirt's C API over a connection URI (qemu:///system, a lab
// host's qemu+unix:///system?socket=..., test:///...). Everything corepin enforces is in the
// domain XML (see domain_xml.h); its own state for the VM rides in the domain's metadata so
// that a restarted controller can rebuild it from the hypervisor.
//
// A Hypervisor owns its connection; calls are thread-safe (libvirt's are). Errors carry
// libvirt's own message.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/cpuset.h"
#include "common/status.h"
#include "driver/domain_xml.h"
#include "model/assignment.h"
#include "model/vm_spec.h"
#include "topology/topology.h"

namespace corepin {

// What DefineAndStart needs. References: the caller keeps them alive during the call.
// The last two have defaults, so {spec, assignment, topology, metadata_json} still works (a VM
// with interfaces then fails: no bridge).
struct DomainRequest {
  const VmSpec& spec;
  const Assignment& assignment;
  const HostTopology& topology;
  std::string metadata_json;            // corepin's state for this VM, stored in the domain
  DomainHostOptions host_options = {};  // the host's bridge, offloads, domain type
  std::string role = {};                // "ACT", "SBY", or "" outside a group: the cmdline's {role}
};

// A domain as the hypervisor sees it. Pinning is libvirt's configuration for the live
// domain (or the persistent one when inactive), not a reading of the QEMU threads: for that,
// see proc_affinity.h.
struct DomainInfo {
  std::string name;
  bool active = false;
  std::string metadata_json;      // empty when the domain has no corepin metadata
  std::vector<CpuSet> vcpu_pins;  // vCPU i -> pCPUs it may run on
  CpuSet emulator_pin;
  CpuSet memory_nodes;            // NUMA nodes its memory may use (numatune's nodeset); empty: any
};

class Hypervisor {
 public:
  virtual ~Hypervisor() = default;

  // Host topology: capabilities (NUMA, pCPUs, pages, domain types) plus NICs from node devices.
  virtual Result<HostTopology> ReadTopology() = 0;

  // Defines a persistent domain and starts it. A domain of that name already there is a
  // Conflict and is left untouched. On any failure nothing this call created stays behind.
  virtual Status DefineAndStart(const DomainRequest& request) = 0;

  // Starts a defined domain that is not running (its definition carries its pinning).
  virtual Status Start(const std::string& name) = 0;

  // Calls `on_stop(vm, why)` when a domain stops unexpectedly (QEMU crashed or was killed,
  // the guest crashed), on libvirt's event thread, until the returned watch is destroyed.
  // Keep the callback short: it should only wake someone up.
  struct LifecycleWatch {
    virtual ~LifecycleWatch() = default;
  };
  virtual Result<std::unique_ptr<LifecycleWatch>> WatchStops(std::function<void(const std::string& vm, const std::string& why)> on_stop) = 0;

  // Stops (hard) and undefines a domain. An absent domain is fine.
  virtual Status DestroyAndUndefine(const std::string& name) = 0;

  // Every domain, running or not, that carries corepin metadata.
  virtual Result<std::vector<DomainInfo>> ListCorepinDomains() = 0;

  // One domain by name (NotFound when absent); metadata_json is empty for a foreign domain.
  virtual Result<DomainInfo> GetDomain(const std::string& name) = 0;

  // The URI this hypervisor was connected with.
  virtual std::string uri() const = 0;

  // One round trip to the hypervisor: ok when it answered. May block as long as the connection's
  // keepalive allows (a frozen libvirtd), so callers probe from a thread of their own.
  virtual Status Probe() = 0;

  // Per-vCPU statistics of a running domain (NotFound when absent, Unavailable when inactive):
  // for each vCPU its CPU time, the pCPU it last ran on, and how long it was runnable but
  // waiting for a pCPU (delay: the steal a pinned vCPU must never see; -1 when the hypervisor
  // does not report it) and blocked in the guest's idle/IO waits (wait; -1 likewise).
  struct VcpuStat {
    int vcpu = 0;
    int pcpu = -1;             // -1 when unknown (vCPU offline)
    uint64_t cpu_time_ns = 0;
    int64_t delay_ns = -1;
    int64_t wait_ns = -1;
  };
  virtual Result<std::vector<VcpuStat>> VcpuStats(const std::string& name) = 0;

  // Moves a domain's vCPUs and emulator threads without a restart: live (when it runs) and in
  // its persistent definition, and replaces its corepin metadata so that the definition tells
  // the truth. vcpu_pins[i] is vCPU i's new cpuset; every vCPU is named. On a failure half-way
  // some pins may have moved: the caller re-pins the old values (the call is idempotent).
  virtual Status Repin(const std::string& name, const std::vector<CpuSet>& vcpu_pins, const CpuSet& emulator_pin,
                       const std::string& metadata_json) = 0;

  // Live migration of a running domain to `dest`, another host's hypervisor of the same kind:
  // the guest keeps running while its memory is copied, then pauses for the last pages (the
  // downtime) and resumes on `dest`, where it runs with `request.domain`'s definition for that
  // host (its pinning and NUMA nodes, bridge, port names, metadata: MigrationDomainXml), live and
  // persistent; the source's definition is removed. On failure the domain still runs on the
  // source as it did (libvirt cancels the migration) and nothing is left on `dest`.
  struct MigrateRequest {
    DomainRequest domain;            // the VM on the destination (its host_options are dest's)
    std::string migration_uri;       // where dest's QEMU listens, "tcp://10.0.0.5"; "": dest's hostname
    std::map<std::string, int> vlans;  // interface -> the access VLAN its new port starts on
  };
  virtual Status MigrateLive(const std::string& name, Hypervisor& dest, const MigrateRequest& request) = 0;
  // Cancels the live migration of domain `name` that another thread's MigrateLive is running
  // from this host: that call then fails and the guest runs on here as before. Safe to call
  // from any thread; Conflict when the domain has no migration running (not begun, or over).
  virtual Status AbortMigration(const std::string& name) = 0;
};

// Opens a libvirt connection (read-write), or a simulated host for a "fixture:" URI
// (fixture_hypervisor.h), and enables keepalive, so a dead host shows up as
// failing calls instead of hanging ones. An unreachable URI is Unprocessable, naming the URI.
Result<std::unique_ptr<Hypervisor>> ConnectHypervisor(const std::string& uri);

}  // namespace corepin
