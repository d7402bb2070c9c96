// Controller: linking (VM -> hardware, hardware -> VMs). The logic is in links.h and depends.h;
// this file gathers what they read.
#include "controller/controller.h"
#include "controller/depends.h"

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

}  // namespace corepin
