// Helpers shared by cluster tests and benchmarks: fixture hosts (topologies parsed once),
// group requests from JSON text, and the brute-force check of the k-failure guarantee.
#pragma once

#include <functional>
#include <map>
#include <stdexcept>
#include <string>

#include "placement/cluster.h"
#include "placement/cluster_json.h"
#include "placement/invariants.h"
#include "placement/placement_test_util.h"

namespace corepin::testing {

// Like FixtureHost, but each fixture is parsed once.
inline HostState CachedFixtureHost(const std::string& fixture, const std::string& housekeeping, const std::string& name) {
  static std::map<std::string, HostTopology> cache;
  auto it = cache.find(fixture);
  if (it == cache.end()) {
    auto topo = LoadHostFixture(HostFixturePath(fixture));
    if (!topo) throw std::runtime_error(topo.error().message);
    it = cache.emplace(fixture, *topo).first;
  }
  CpuPartition p;
  p.housekeeping = *CpuSet::Parse(housekeeping);
  if (fixture == "2s32c-smt2") p.physnets["data"] = {"ens1f0", "ens1f1"};
  if (fixture == "4node-smt2") p.physnets["data"] = {"ens2", "ens3"};
  auto w = ResolvePartition(it->second, &p);
  if (!w) throw std::runtime_error(w.error().message);
  return HostState(name, it->second, p);
}

inline GroupRequest Group(const std::string& json_text) {
  auto r = GroupRequestFromJson(nlohmann::json::parse(json_text));
  if (!r) throw std::runtime_error(r.error().message);
  return *r;
}

// Every set of at most k hosts fails in turn; for each, the plan's targets are applied, in
// order, to copies of the surviving hosts (without the failed hosts' VMs). Checks that every
// protected lost VM has a target, that each applies cleanly, that the hosts then obey every
// invariant, that healing used only reserve pCPUs and memory, and that every group keeps its
// anti-affinity. VMs the plan records as unhealable are skipped. Returns "" or what broke.
inline std::string BruteForceGuarantee(const Cluster& c) {
  const int k = c.failures_tolerated();
  std::vector<int> ids;
  for (const auto* h : c.hosts()) ids.push_back(h->id);
  std::vector<ScenarioKey> sets;
  ScenarioKey cur;
  std::function<void(size_t)> walk = [&](size_t from) {
    if (!cur.empty()) sets.push_back(cur);
    if (static_cast<int>(cur.size()) == k) return;
    for (size_t i = from; i < ids.size(); ++i) {
      cur.push_back(ids[i]);
      walk(i + 1);
      cur.pop_back();
    }
  };
  walk(0);
  for (auto& key : sets) std::sort(key.begin(), key.end());
  for (const auto& key : sets) {
    std::string where;
    for (const auto& n : c.NamesOf(key)) where += n + " ";
    std::map<std::string, std::string> host_of;  // VM -> host after healing
    std::vector<std::string> lost;
    for (const auto& [name, g] : c.groups())
      for (const auto& m : g.members) {
        int id = c.FindVm(m.vm)->host;
        if (std::binary_search(key.begin(), key.end(), id)) {
          if (g.protect) lost.push_back(m.vm);
        } else {
          host_of[m.vm] = m.host;
        }
      }
    if (lost.empty()) continue;
    const Scenario* sc = c.reserve().Find(key);
    if (!sc) return "no plan if " + where + "fail";
    std::map<std::string, HostState> copies;
    for (const HealTarget* t : sc->Ordered()) {
      const ClusterHost* h = c.FindHost(t->host);
      if (!h || std::binary_search(key.begin(), key.end(), h->id)) return "target of " + t->vm + " on a failed host if " + where + "fail";
      auto it = copies.find(t->host);
      if (it == copies.end()) it = copies.emplace(t->host, h->state).first;
      const auto* loc = c.FindVm(t->vm);
      VmSpec spec = MemberSpec(c.groups().at(loc->group).vm, t->vm);
      if (auto s = it->second.Apply(spec, t->assignment); !s)
        return "target of " + t->vm + " does not apply if " + where + "fail: " + s.error().message;
      host_of[t->vm] = t->host;
    }
    // A VM recorded unhealable (after real failures degraded the cluster) is a known gap.
    for (const auto& vm : lost)
      if (!sc->targets.count(vm) && !sc->unhealable.count(vm)) return "VM " + vm + " has no target if " + where + "fail";
    for (const auto& [name, hs] : copies) {
      if (auto s = CheckInvariants(hs); !s) return "after healing " + where + ": " + s.error().message;
      const HostState& before = c.FindHost(name)->state;
      // Healing took only what the reserve held.
      CpuSet took = before.free().Minus(hs.free());
      if (!took.IsSubsetOf(before.reserve().pcpus))
        return "healing " + where + "took pCPUs " + took.Minus(before.reserve().pcpus).ToString() + " outside the reserve of " + name;
      for (const auto& node : hs.topology().nodes)
        for (uint64_t page : {4ull, 2048ull, 1048576ull}) {
          uint64_t grew = hs.MemoryUsedMib(node.id, page) - before.MemoryUsedMib(node.id, page);
          if (grew > before.reserve().MemoryMib(node.id, page))
            return "healing " + where + "took more memory than reserved on " + name + " node" + std::to_string(node.id);
        }
    }
    // Anti-affinity after healing.
    for (const auto& [name, g] : c.groups()) {
      std::set<std::string> hosts;
      std::map<std::string, std::set<std::string>> values;
      for (const auto& m : g.members) {
        if (!host_of.count(m.vm)) continue;
        const ClusterHost* h = c.FindHost(host_of[m.vm]);
        if (!hosts.insert(h->name).second) return "group " + name + " shares host " + h->name + " after " + where + "fail";
        for (const auto& d : g.domains)
          if (!values[d].insert(h->labels.at(d)).second) return "group " + name + " shares " + d + " after " + where + "fail";
      }
    }
  }
  return "";
}

}  // namespace corepin::testing
