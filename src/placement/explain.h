// Explanations: why a VM went where it went, or why nothing took it, as data.
//
// Every host search (a member's placement, or a healing target for one failure scenario)
// records, Nomad-style, how many hosts it examined, how many it rejected for each reason, a
// few full per-host rejections (per NUMA node, from Fit), and the best candidates with their
// scores. The API returns it; the CLI prints Summary() lines.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "placement/fit.h"

namespace corepin {

// Reason classes: the keys of SearchExplanation::rejected.
namespace reason {
inline constexpr const char* kOwnHost = "the VM's own host";
inline constexpr const char* kUnschedulable = "host unschedulable";
inline constexpr const char* kNotRequested = "not the requested host";
inline constexpr const char* kFailed = "host failed (in the scenario)";
inline constexpr const char* kMemberHere = "anti-affinity: a group member is here";
inline constexpr const char* kLabelMissing = "failure domain: label missing";
inline constexpr const char* kLabelShared = "failure domain: shared with a member";
inline constexpr const char* kGroupPlanned = "shared group already planned here for this failure";
inline constexpr const char* kPcpus = "pCPUs";
inline constexpr const char* kMemory = "memory";
inline constexpr const char* kNic = "NIC locality";
inline constexpr const char* kPinned = "pinned pCPU";
inline constexpr const char* kSmt = "SMT";
inline constexpr const char* kSharedGroup = "shared group";
inline constexpr const char* kPageSize = "page size";
inline constexpr const char* kName = "VM name";
inline constexpr const char* kReserve = "healing reserve (would fit without it)";
inline constexpr const char* kNoHealing = "no healing target if this host fails";
}  // namespace reason

// The reason class of a Fit rejection (one of the reason:: classes).
std::string ClassifyRejection(const Rejection& r);

struct ScoredHost {
  std::string host;
  double score = 0;
  std::map<std::string, double> parts;  // "nic", "pack", "spread", or "new_reserve_pcpus", ...
};

struct SearchExplanation {
  std::string vm;
  std::string purpose;        // "place act", "healing target if h1 fails", ...
  int hosts_total = 0;        // hosts in the cluster
  int hosts_considered = 0;   // examined before the search stopped
  int hosts_feasible = 0;
  std::map<std::string, int> rejected;  // reason class -> hosts
  std::vector<Rejection> examples;      // the first few full rejections
  std::vector<ScoredHost> top;          // best candidates, best first
  std::string chosen;                   // empty when none

  static constexpr size_t kMaxExamples = 4;
  static constexpr size_t kMaxTop = 5;
  void Reject(const std::string& why, Rejection detail = {});
  // "fw-a (place act): 10 hosts, 10 considered, 3 feasible; rejected: 2 anti-affinity..., 5 pCPUs; chose h4"
  std::string Summary() const;
};

struct Explanation {
  std::vector<SearchExplanation> searches;  // member placements, then healing targets
  std::vector<std::string> notes;           // reserve growth, candidates skipped, ...
  std::string refusal;                      // empty when placed
};

nlohmann::json ToJson(const SearchExplanation& e);
nlohmann::json ToJson(const Explanation& e);

}  // namespace corepin
