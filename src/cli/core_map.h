// The core map of one host, as text: each socket, within it each NUMA node (pCPUs, free pCPUs,
// free memory per page size, NICs), within it one line per physical core listing its pCPUs and
// what each is used for:
//
//   HK                   housekeeping (host OS, interrupts, libvirt)
//   .                    free
//   R                    free, but held for healing: the reserve (VMs of a failed host go here)
//   fw1:v0 dedicated     vCPU 0 of VM fw1, with its policy
//   fw1 emu              VM fw1's emulator threads (emulator policy isolate)
//   grp ctl (fw1 x2)     the shared pCPU of group ctl and the slots each VM uses there
//   (sibling of fw1)     an SMT sibling held empty for fw1 (smt isolate)
//   --                   not allocatable (neither housekeeping nor given to VMs)
//
// Pure: `host_view` is the JSON of GET /v1/hosts/{name} (docs/api.md). Fits 80 columns for
// small hosts; for large ones it is one line per core, so 128 pCPUs stay readable.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace corepin {

std::string RenderCoreMap(const nlohmann::json& host_view);

// The label of one pCPU entry of the core map ("HK", ".", "fw1:v0 dedicated", ...).
std::string PcpuLabel(const nlohmann::json& pcpu);

}  // namespace corepin
