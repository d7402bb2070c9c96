#include "placement/explain.h"

#include "placement/placement_json.h"

namespace corepin {
namespace {

bool Has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
bool Starts(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Fit's host-wide reasons start with the field they are about (fit.cc).
std::string ClassifyHostReason(const std::string& r) {
  if (Starts(r, "nic:") || Starts(r, "physnet:")) return reason::kNic;
  if (Has(r, "healing reserve")) return reason::kReserve;
  if (Starts(r, "page_size")) return reason::kPageSize;
  if (Starts(r, "group ") || (Starts(r, "smt ") && Has(r, ": group "))) return reason::kSharedGroup;
  if (Starts(r, "vcpu_policies[") || (Starts(r, "smt ") && Has(r, ": pinned:"))) return reason::kPinned;
  if (Starts(r, "smt ")) return reason::kSmt;
  if (Starts(r, "numa spread")) return reason::kPcpus;
  if (Starts(r, "VM ")) return reason::kName;
  return r;
}

// Per-node reasons: locality (the node can never take the VM) or capacity.
std::string ClassifyNodeReason(const std::string& r) {
  if (Has(r, "(numa single)")) return reason::kPinned;
  if (Has(r, "NIC ") || Has(r, "physnet ")) return reason::kNic;
  if (Has(r, "MiB free")) return reason::kMemory;
  return reason::kPcpus;
}

}  // namespace

std::string ClassifyRejection(const Rejection& r) {
  if (!r.reasons.empty()) return ClassifyHostReason(r.reasons.front());
  // A node's first reason is its hardest (fit.cc lists locality, then pCPUs, then memory);
  // the host's class is the softest among its nodes: the one that came closest.
  std::map<int, std::string> first;
  for (const auto& n : r.nodes) first.emplace(n.node, ClassifyNodeReason(n.reason));
  bool cpu = false, mem = false;
  for (const auto& [node, c] : first) cpu |= c == reason::kPcpus, mem |= c == reason::kMemory;
  if (cpu) return reason::kPcpus;
  if (mem) return reason::kMemory;
  return first.empty() ? std::string(reason::kPcpus) : first.begin()->second;
}

void SearchExplanation::Reject(const std::string& why, Rejection detail) {
  ++rejected[why];
  if (examples.size() < kMaxExamples && !(detail.reasons.empty() && detail.nodes.empty())) examples.push_back(std::move(detail));
}

std::string SearchExplanation::Summary() const {
  std::string out = vm + " (" + purpose + "): " + std::to_string(hosts_total) + " hosts, " + std::to_string(hosts_considered) +
                    " considered, " + std::to_string(hosts_feasible) + " feasible";
  if (!rejected.empty()) {
    out += "; rejected:";
    bool first = true;
    for (const auto& [why, n] : rejected) {
      out += (first ? " " : ", ") + std::to_string(n) + " " + why;
      first = false;
    }
  }
  out += chosen.empty() ? "; none chosen" : "; chose " + chosen;
  return out;
}

nlohmann::json ToJson(const SearchExplanation& e) {
  nlohmann::json examples = nlohmann::json::array(), top = nlohmann::json::array();
  for (const auto& r : e.examples) examples.push_back(RejectionToJson(r));
  for (const auto& t : e.top) top.push_back({{"host", t.host}, {"score", t.score}, {"parts", t.parts}});
  return {{"vm", e.vm},
          {"purpose", e.purpose},
          {"hosts_total", e.hosts_total},
          {"hosts_considered", e.hosts_considered},
          {"hosts_feasible", e.hosts_feasible},
          {"rejected", e.rejected},
          {"examples", examples},
          {"top", top},
          {"chosen", e.chosen},
          {"summary", e.Summary()}};
}

nlohmann::json ToJson(const Explanation& e) {
  nlohmann::json searches = nlohmann::json::array();
  for (const auto& s : e.searches) searches.push_back(ToJson(s));
  nlohmann::json j = {{"searches", searches}, {"notes", e.notes}};
  if (!e.refusal.empty()) j["refusal"] = e.refusal;
  return j;
}

}  // namespace corepin
