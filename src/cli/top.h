// `corepin top`: a live view of the cluster, one frame a second (plain ANSI: clear and redraw).
//
//   hosts: up, schedulable, pCPU counts, and a compact core map (one character per pCPU)
//   VMs:   host, group, role, state, pinning verified, per vCPU its pCPU and CPU %, steal %
//   the last few events, and how many alarms are active
//
// CPU % and steal % come from two samples of GET /v1/vms/{name}/stats (CPU time and delay);
// the first frame therefore samples twice, a second apart. TopFrame is pure.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/client.h"

namespace corepin {

struct TopSample {
  nlohmann::json hosts = nlohmann::json::array();  // GET /v1/hosts/{name} of each host
  nlohmann::json vms = nlohmann::json::array();    // GET /v1/vms/{name} of each VM
  std::map<std::string, nlohmann::json> stats;     // VM -> GET /v1/vms/{name}/stats (running ones)
  nlohmann::json alarms = nlohmann::json::array(); // GET /v1/alarms
  std::deque<nlohmann::json> events;               // the newest few, oldest first
};

// Reads one sample. `cursor`: the last event id seen (updated), so events are read once.
Result<TopSample> ReadTopSample(ApiClient& client, int64_t* cursor, const std::deque<nlohmann::json>& events_before);

// The text of one frame; `before` (a second earlier) gives the rates, "-" without it.
std::string TopFrame(const TopSample& now, const TopSample* before, const std::string& server);

// The compact core map of one host view: per NUMA node a line of one character per pCPU.
// `keys`: VM name -> its one-letter key in the VM table.
std::string CompactCoreMap(const nlohmann::json& host_view, const std::map<std::string, char>& keys);

}  // namespace corepin
