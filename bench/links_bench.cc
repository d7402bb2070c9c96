// Linking and defragmentation on a fragmented 100-host cluster of 2s32c-smt2 hosts (2 sockets,
// 128 pCPUs, housekeeping 0,64; 20 racks; k = 1): protected 1+1 groups of 1 to 8 vCPUs fill
// 60% of the pCPUs, then every third group is deleted, leaving holes. Prints the time to
// compute a defrag plan (placement/defrag.h) and to answer depends queries (controller/depends.h),
// with what the plan frees.
//   build/bench/links_bench
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>

#include "controller/depends.h"
#include "placement/cluster_rebuild.h"
#include "placement/cluster_test_util.h"
#include "placement/defrag.h"

namespace corepin {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(const std::function<void()>& f, int runs) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

int Main() {
  Cluster c;
  const int n = 100;
  for (int i = 0; i < n; ++i)
    (void)c.AddHost(testing::CachedFixtureHost("2s32c-smt2", "0,64", "h" + std::to_string(i)), {{"rack", "r" + std::to_string(i % 20)}});
  std::mt19937 rng(42);
  static const int kVcpus[] = {1, 2, 2, 3, 4, 4, 6, 8};
  int groups = 0;
  double held = 0;
  while (held < 0.6 * 126 * n) {
    GroupRequest r;
    r.name = "g" + std::to_string(groups);
    r.members = {{r.name + "-a", Role::kAct, ""}, {r.name + "-s", Role::kSby, ""}};
    r.domains = {"rack"};
    r.vm.vcpus.assign(kVcpus[rng() % 8], VcpuPolicy{});
    r.vm.memory_mib = 1024;
    GroupOutcome o = c.PlaceGroup(r);
    if (!o.ok()) break;
    ++groups;
    for (const auto& p : o.placed) held += p.assignment.exclusive.Size();
  }
  for (int i = 0; i < groups; i += 3) (void)c.DeleteGroup("g" + std::to_string(i));
  std::printf("cluster: %d hosts, %zu groups after deleting every third of %d\n", n, c.groups().size(), groups);

  const double rebuild_ms = Ms([&] { (void)RebuildCluster(c); }, 3);
  std::printf("scratch copy (RebuildCluster: hosts, groups, reserve planned from scratch): %.0f ms (median of 3)\n", rebuild_ms);
  for (int max_moves : {16, 64}) {
    Result<DefragPlan> plan = Internal("not run");
    const double ms = Ms([&] { plan = PlanDefrag(c, {.max_moves = max_moves}); }, 3);
    if (!plan) {
      std::printf("defrag failed: %s\n", plan.error().message.c_str());
      return 1;
    }
    std::printf("defrag plan, max_moves %d: %.0f ms (median of 3); %zu moves; stranded pCPUs %d -> %d, free cores %d -> %d, "
                "free nodes %d -> %d; result checked: %s\n",
                max_moves, ms, plan->moves.size(), plan->total_before.stranded, plan->total_after.stranded,
                plan->total_before.free_cores, plan->total_after.free_cores, plan->total_before.free_nodes,
                plan->total_after.free_nodes, plan->result->Check().ok() ? "ok" : "FAILED");
  }

  const LinkFacts facts;
  const ClusterHost* h = c.hosts()[0];
  const int pcpu = h->state.vms().empty() ? 1 : h->state.vms().begin()->second.assignment.vcpu_pcpus[0];
  for (const auto& params : std::vector<std::map<std::string, std::string>>{
           {{"host", h->name}}, {{"host", h->name}, {"pcpu", std::to_string(pcpu)}}, {{"host", h->name}, {"node", "0"}}, {{"rack", "r0"}}}) {
    std::string what;
    for (const auto& [k, v] : params) what += (what.empty() ? "" : "&") + k + "=" + v;
    auto q = ParseDependsQuery(params);
    size_t vms = 0;
    const double ms = Ms([&] { vms = (*Depends(c, facts, *q))["vms"].size(); }, 21);
    std::printf("depends %s: %.2f ms (median of 21), %zu VMs\n", what.c_str(), ms, vms);
  }
  return 0;
}

}  // namespace
}  // namespace corepin

int main() { return corepin::Main(); }
