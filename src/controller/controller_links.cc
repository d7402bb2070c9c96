// Controller: linking (VM -> hardware, hardware -> VMs) and the defragmentation plan. The logic
// is in links.h, depends.h and placement/defrag.h; this file gathers what they read.
#include "controller/controller.h"
#include "controller/depends.h"
#include "placement/defrag.h"

namespace corepin {

using nlohmann::json;

LinkFacts Controller::LinkFactsLocked() {
  LinkFacts facts;
  for (const auto& [name, h] : hosts_)
    facts.hosts[name] = {h->uri, h->fence ? h->fence->uri() : "none", h->vm_options.bridge, h->state, h->suspected};
  if (auto groups = store_->ListGroups(); groups)
    for (const auto& rec : *groups)
      if (auto g = StoredGroupFromJson(json::parse(rec.config_json, nullptr, false)); g && g->service)
        facts.services[rec.name] = *g->service;
  return facts;
}

Result<json> Controller::VmLinks(const std::string& vm) {
  std::lock_guard lock(mu_);
  return corepin::VmLinks(cluster_, LinkFactsLocked(), vm);
}

Result<json> Controller::Depends(const std::map<std::string, std::string>& query) {
  auto q = ParseDependsQuery(query);
  if (!q) return q.error();
  std::lock_guard lock(mu_);
  return corepin::Depends(cluster_, LinkFactsLocked(), *q);
}

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
  constexpr char kExample[] = "; e.g. {\"apply\": false, \"max_moves\": 16}";
  if (!request.is_object()) return Invalid(std::string("request body must be a JSON object") + kExample);
  for (const auto& [k, v] : request.items())
    if (k != "apply" && k != "max_moves") return Invalid("unknown field \"" + k + "\"; defrag fields are apply, max_moves" + kExample);
  if (request.contains("apply") && !request["apply"].is_boolean()) return Invalid(std::string("apply: must be true or false") + kExample);
  DefragOptions options;
  if (request.contains("max_moves")) {
    const json& m = request["max_moves"];
    if (!m.is_number_integer() || m.get<int64_t>() < 0 || m.get<int64_t>() > 1000)
      return Invalid("max_moves: must be an integer 0..1000, got " + m.dump() + kExample);
    options.max_moves = m.get<int>();
  }
  if (request.value("apply", false))
    return NotImplemented("apply: a defrag plan is applied by moving VMs to any free pCPUs (a re-pin on their host, a move to another), "
                          "which corepin cannot do yet; nothing was changed. "
                          "Ask for the plan with {\"apply\": false}");
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
  return json{{"apply", false}, {"max_moves", options.max_moves}, {"moves", moves}, {"hosts", hosts},
              {"total", {{"before", FragmentationJson(plan->total_before)}, {"after", FragmentationJson(plan->total_after)}}},
              {"notes", plan->notes}, {"checked", true}};
}

}  // namespace corepin
