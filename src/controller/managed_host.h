// ManagedHost: what the controller keeps per host besides its placement state (which lives in
// the Cluster): its hypervisor connection (absent while unreachable) and its configuration.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "driver/domain_xml.h"
#include "driver/fence/fence_driver.h"
#include "driver/hypervisor.h"

namespace corepin {

struct ManagedHost {
  std::string name;
  std::string uri;
  nlohmann::json config;                  // as stored (host_config.h), allocatable resolved
  std::map<std::string, std::string> labels;
  DomainHostOptions vm_options;           // how VMs are built here (bridge, offloads, domain type)
  std::string migration_address;          // where live migrations to this host go ("": its hostname)
  // Null while the host is unreachable. Shared so that a live migration's source can be
  // reached (to cancel it) without the controller's lock (Controller::CancelLiveMoves).
  std::shared_ptr<Hypervisor> hypervisor;
  // Follows the host's domains stopping on their own; declared after `hypervisor` so that it
  // is destroyed first (it deregisters over that connection).
  std::unique_ptr<Hypervisor::LifecycleWatch> stop_watch;
  std::string connect_error;              // why it is unreachable
  // "active", or "failed" (fenced after a failure: not connected, not used, until an operator
  // returns it); kHost* in state_store.h.
  std::string state = "active";
  bool suspected = false;                 // the host monitor lost it; no new work goes there
  // Domains with corepin metadata that the state does not know (a state restored from an older
  // backup, a host removed and added again), by name, with the pCPUs they are pinned to. While
  // any is there, the host takes no new work: those pCPUs may be taken. Adopt or delete them.
  std::map<std::string, std::string> unknown_domains;
  // Set when the CPU layout the hypervisor reports differs from the stored one (a corrupted
  // state, or changed hardware): placements made on the stored layout may be wrong there.
  std::string topology_mismatch;
  // New VMs and healing targets may go here: active, connected, answering, no unknown domains,
  // the layout as stored.
  bool usable() const {
    return state == "active" && hypervisor && !suspected && unknown_domains.empty() && topology_mismatch.empty();
  }
  std::vector<std::string> warnings;      // from the partition check
  std::unique_ptr<FenceDriver> fence;     // the host's BMC (the `none` driver when it has none)
};

// Where libvirt keeps QEMU pid files for a host that runs on this machine, so that /proc can
// confirm pinning: "/run/libvirt/qemu" for qemu:///system, "/proc/PID/root/run/libvirt/qemu"
// for qemu+unix:///system?socket=/proc/PID/root/run/libvirt/libvirt-sock (or a symlink to
// such a socket, as the lab's hosts have); empty for anything remote.
std::string LocalQemuRunDir(const std::string& uri);

}  // namespace corepin
