#include "placement/whatif.h"

#include <algorithm>

namespace corepin {

// A friend of HealingReserve: it runs the planner's search on a scratch copy of one scenario.
struct WhatIfPlanner {
  static Result<WhatIfReport> Run(const Cluster& c, const std::vector<std::string>& names) {
    auto key = c.KeyOf(names);
    if (!key.ok()) return key.error();
    const HealingReserve& r = c.reserve();
    WhatIfReport out;
    out.failed = c.NamesOf(*key);
    out.k = r.k();
    const Scenario* sc = static_cast<int>(key->size()) <= r.k() ? r.Find(*key) : nullptr;

    std::map<std::string, HealTarget> planned;
    std::map<int, HealingReserve::Use> uses;  // what the targets so far take, per host
    auto record = [&](const std::string& vm, const HealTarget& t, bool precomputed) {
      const auto* loc = c.FindVm(vm);
      const RedundancyGroup& g = c.groups().at(loc->group);
      out.moves.push_back({vm, g.name, g.FindMember(vm)->role, t.from, t.host, t.assignment, precomputed});
      planned[vm] = t;
      HealingReserve::Accumulate(&uses[c.FindHost(t.host)->id], t);
    };
    bool all_precomputed = static_cast<int>(key->size()) <= r.k();
    std::vector<std::pair<int, std::string>> rest;  // (size order, VM) still to place
    if (sc)
      for (const HealTarget* t : sc->Ordered()) record(t->vm, *t, true);
    for (int id : *key)
      for (const auto& [vm, placed] : c.HostById(id)->state.vms()) {
        if (planned.count(vm)) continue;
        const RedundancyGroup& g = c.groups().at(c.FindVm(vm)->group);
        if (g.protect) all_precomputed = false;
        rest.push_back({-MinPcpus(placed.spec, 2) * 1000 - static_cast<int>(placed.spec.vcpus.size()), vm});
      }
    std::sort(rest.begin(), rest.end());
    auto use_of = [&](int host_id) -> const HealingReserve::Use* {
      auto it = uses.find(host_id);
      return it == uses.end() ? nullptr : &it->second;
    };
    for (const auto& [size, vm] : rest) {
      SearchExplanation se;
      auto t = r.FindTarget(c, *key, vm, planned, use_of, true, &se);
      out.searches.push_back(se);
      if (t.ok()) {
        record(vm, *t, false);
        continue;
      }
      const RedundancyGroup& g = c.groups().at(c.FindVm(vm)->group);
      std::string why = t.error().message;
      if (sc && sc->unhealable.count(vm)) why = sc->unhealable.at(vm);
      else if (!g.protect) why = "group " + g.name + " opted out of the healing reserve; " + why;
      out.lost.push_back({vm, g.name, g.FindMember(vm)->role, c.HostById(c.FindVm(vm)->host)->name, why});
    }
    out.within_guarantee = all_precomputed;  // losses of opted-out groups do not break it
    return out;
  }
};

Result<WhatIfReport> WhatIf(const Cluster& c, const std::vector<std::string>& failed_hosts) {
  return WhatIfPlanner::Run(c, failed_hosts);
}

}  // namespace corepin
