// ManagedHost: what the controller keeps per host: its placement state, its hypervisor
// connection (absent while unreachable), and its configuration as stored.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "driver/hypervisor.h"
#include "placement/host_state.h"

namespace corepin {

struct ManagedHost {
  std::string name;
  std::string uri;
  nlohmann::json config;                  // as stored (host_config.h), allocatable resolved
  std::map<std::string, std::string> labels;
  std::unique_ptr<HostState> state;       // placement model; kept even while disconnected
  std::unique_ptr<Hypervisor> hypervisor; // null while the host is unreachable
  std::string connect_error;              // why it is unreachable
  std::vector<std::string> warnings;      // from the partition check
  // Where libvirt keeps QEMU pid files for this host when it runs on this machine, so that
  // /proc can confirm pinning; empty for a remote host.
  std::string local_qemu_run_dir;
};

// "/run/libvirt/qemu" for qemu:///system, "/proc/PID/root/run/libvirt/qemu" for a lab host
// reached through qemu+unix:///system?socket=/proc/PID/root/run/libvirt/libvirt-sock; empty
// for anything remote.
std::string LocalQemuRunDir(const std::string& uri);

}  // namespace corepin
