// Controller: defragmentation (function 5 of DESIGN.md). The plan is placement's
// (placement/defrag.h: moves that free whole cores and NUMA nodes, checked on a scratch copy);
// this file serves it and, on request, applies it move by move on the real cluster:
//   - a move on the VM's own host is a live re-pin to the planned pCPUs (RepinLocked);
//   - a move to another host is a live (or, asked, cold) migration to the planned pCPUs there
//     (MoveLocked with the plan's assignment).
// Each move is checked again by the real model as it is made (the scratch copy planned its own
// reserve), runs intent-first and is complete on its own; the first one refused or failing stops
// the rest, and the answer says which were made and why it stopped. Nothing is half-done.
#include "controller/controller.h"
#include "controller/links.h"
#include "placement/defrag.h"
#include "placement/placement_json.h"

namespace corepin {

using nlohmann::json;

namespace {

json FragmentationJson(const Fragmentation& f) {
  return {{"free_pcpus", f.free_pcpus}, {"stranded_pcpus", f.stranded}, {"free_cores", f.free_cores},
          {"free_nodes", f.free_nodes}, {"reserve_pcpus", f.reserve}};
}

json PlacementJson(const Assignment& a) {
  return {{"host", a.host}, {"pcpus", a.VcpuPcpus().ToString()}, {"emulator", a.emulator.ToString()}};
}

}  // namespace

Result<json> Controller::Defrag(const json& request) {
  constexpr char kExample[] = "; e.g. {\"apply\": false, \"max_moves\": 16} or {\"apply\": true, \"mode\": \"live\"}";
  if (!request.is_object()) return Invalid(std::string("request body must be a JSON object") + kExample);
  for (const auto& [k, v] : request.items())
    if (k != "apply" && k != "max_moves" && k != "mode")
      return Invalid("unknown field \"" + k + "\"; defrag fields are apply, max_moves, mode" + kExample);
  if (request.contains("apply") && !request["apply"].is_boolean()) return Invalid(std::string("apply: must be true or false") + kExample);
  if (request.contains("mode") && request["mode"] != "live" && request["mode"] != "cold")
    return Invalid("mode: " + request["mode"].dump() + " is not \"live\" (moves between hosts keep the guest running) or \"cold\"");
  DefragOptions options;
  if (request.contains("max_moves")) {
    const json& m = request["max_moves"];
    if (!m.is_number_integer() || m.get<int64_t>() < 0 || m.get<int64_t>() > 1000)
      return Invalid("max_moves: must be an integer 0..1000, got " + m.dump() + kExample);
    options.max_moves = m.get<int>();
  }
  const bool apply = request.value("apply", false);
  // A dry run moves nothing, so a mode there is a mistake (the operator meant to apply).
  if (request.contains("mode") && !apply)
    return Invalid("mode: only moves that are made have a mode; give \"apply\": true too (corepin defrag --apply --cold)");
  const bool live = request.value("mode", std::string("live")) == "live";
  std::lock_guard lock(mu_);
  auto plan = PlanDefrag(cluster_, options);
  if (!plan) return plan.error();
  json moves = json::array();
  for (const auto& m : plan->moves) {
    const std::string group = RedundancyGroupOf(cluster_, m.vm);
    moves.push_back({{"vm", m.vm}, {"group", group.empty() ? json() : json(group)}, {"from", PlacementJson(m.from)},
                     {"to", PlacementJson(m.to)}, {"frees", m.frees}, {"takes", m.takes}, {"cores_freed", m.cores_freed},
                     {"nodes_freed", m.nodes_freed}, {"stranded_delta", m.stranded_delta}});
  }
  json hosts = json::array();
  for (size_t i = 0; i < plan->before.size(); ++i)
    hosts.push_back({{"host", plan->before[i].host}, {"before", FragmentationJson(plan->before[i])},
                     {"after", FragmentationJson(plan->after[i])}});
  json out = {{"apply", apply}, {"max_moves", options.max_moves}, {"moves", moves}, {"hosts", hosts},
              {"total", {{"before", FragmentationJson(plan->total_before)}, {"after", FragmentationJson(plan->total_after)}}},
              {"notes", plan->notes}, {"checked", true}};
  if (!apply) return out;

  // Applying: each move on the real cluster, in the plan's order (later moves count on earlier ones).
  json applied = json::array();
  for (const auto& m : plan->moves) {
    auto rec = store_->GetVm(m.vm);
    Result<json> done = rec ? Result<json>(json()) : Result<json>(rec.error());
    const bool same_host = m.to.host == m.from.host;
    if (rec && rec->state != kVmRunning) done = Conflict("VM " + m.vm + " is " + rec->state + ", not running");
    else if (rec && same_host) done = RepinLocked(*rec, m.to);
    else if (rec) done = MoveLocked(m.vm, m.to.host, live, /*dry_run=*/false, "defragmentation", nullptr, &m.to);
    if (!done) {
      out["stopped"] = {{"vm", m.vm}, {"message", done.error().message},
                        {"remaining", plan->moves.size() - applied.size()}};
      Event("defrag.stopped", m.vm, std::to_string(applied.size()) + " of " + std::to_string(plan->moves.size()) +
                                        " move(s) made; stopped at " + m.vm + ": " + done.error().message +
                                        ". The moves made are complete; ask for a new plan");
      break;
    }
    applied.push_back({{"vm", m.vm}, {"kind", same_host ? "repin" : (live ? "live move" : "cold move")}, {"to", PlacementJson(m.to)}});
  }
  out["applied"] = applied;
  if (!out.contains("stopped"))
    Event("defrag.applied", "cluster", std::to_string(applied.size()) + " move(s) made; free cores " +
                                           std::to_string(plan->total_before.free_cores) + " -> " +
                                           std::to_string(plan->total_after.free_cores) + ", free NUMA nodes " +
                                           std::to_string(plan->total_before.free_nodes) + " -> " +
                                           std::to_string(plan->total_after.free_nodes));
  return out;
}

}  // namespace corepin
