// Multi-host placement with the healing reserve (k = 1), on synthetic clusters of 2s32c-smt2
// hosts (2 sockets, 128 pCPUs, housekeeping 0,64):
//   - 1,000 and 10,000 hosts filled to 60% of their pCPUs with protected 1+1 groups, then:
//     time to place one more 1+1 ACT/SBY group with reserve checking (median, p99; each one
//     deleted again, untimed, so the cluster stays at 60%), groups placed per second in a
//     row, and memory per host;
//   - packing: an empty 100-host cluster fed a mixed request stream until the first refusal:
//     VMs placed and pCPUs stranded (free, outside the reserve, yet unused), against a fluid
//     bound (one pool of pCPUs, no hosts, nodes or cores).
//   build-*/bench/cluster_bench [--benchmark_filter=...]
//   COREPIN_BENCH_VERIFY=1 also checks each filled cluster (Check and the brute-force failure
//   simulation of cluster_test_util.h; slow at 10,000 hosts).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>

#include "placement/cluster.h"
#include "placement/cluster_test_util.h"
#include "placement/scheduler.h"

namespace corepin {
namespace {

using Clock = std::chrono::steady_clock;

size_t HeapBytes() { return mallinfo2().uordblks; }

// Shapes of the background and of the measured groups: 2 to 8 vCPUs, mostly dedicated.
GroupRequest RandomPair(std::mt19937& rng, const std::string& name) {
  static const int kVcpus[] = {2, 2, 4, 4, 4, 6, 8};
  GroupRequest r;
  r.name = name;
  r.members = {{name + "-a", Role::kAct, ""}, {name + "-s", Role::kSby, ""}};
  r.domains = {"rack"};
  VmSpec& s = r.vm;
  s.name = name;
  s.vcpus.assign(kVcpus[rng() % 7], VcpuPolicy{});
  const unsigned x = rng() % 10;
  s.smt = x < 7 ? SmtPolicy::kPrefer : (x < 9 ? SmtPolicy::kIsolate : SmtPolicy::kRequire);
  if (rng() % 3 == 0) s.physnet = "data";
  s.memory_mib = 1024 * (1 + rng() % 8);
  return r;
}

struct Filled {
  std::unique_ptr<Cluster> cluster;
  size_t hosts = 0;
  size_t groups = 0;
  double used = 0, reserved = 0;  // fractions of allocatable pCPUs
  double seconds = 0;
  size_t bytes_per_host = 0;
};

double Fraction(const Cluster& c, bool reserve) {
  double num = 0, den = 0;
  for (const auto* h : c.hosts()) {
    const auto& hs = h->state;
    den += hs.partition().allocatable.Size();
    num += reserve ? hs.reserve().pcpus.Size() : hs.partition().allocatable.Size() - hs.free().Size();
  }
  return num / den;
}

// A cluster of n hosts in 20 racks, filled with protected pairs until 60% of pCPUs are held.
Filled& FilledCluster(size_t n) {
  static std::map<size_t, Filled> cache;
  auto it = cache.find(n);
  if (it != cache.end()) return it->second;
  Filled& f = cache[n];
  const size_t heap0 = HeapBytes();
  const auto t0 = Clock::now();
  f.cluster = std::make_unique<Cluster>();
  f.hosts = n;
  for (size_t i = 0; i < n; ++i) {
    std::string name = "h" + std::to_string(i);
    (void)f.cluster->AddHost(testing::CachedFixtureHost("2s32c-smt2", "0,64", name), {{"rack", "r" + std::to_string(i % 20)}});
  }
  std::mt19937 rng(42);
  const double alloc = 126.0 * static_cast<double>(n);
  double held = 0;
  while (held < 0.6 * alloc) {
    GroupOutcome o = f.cluster->PlaceGroup(RandomPair(rng, "bg" + std::to_string(f.groups)));
    if (!o.ok()) break;
    ++f.groups;
    for (const auto& p : o.placed) held += p.assignment.exclusive.Union(p.assignment.reserved_siblings).Size();
  }
  f.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  f.used = Fraction(*f.cluster, false);
  f.reserved = Fraction(*f.cluster, true);
  f.bytes_per_host = (HeapBytes() - heap0) / n;
  std::printf("cluster of %zu hosts: %zu groups (%zu VMs) placed in %.1f s (%.0f groups/s while filling); %.1f%% of pCPUs used, "
              "%.2f%% reserved for healing (%zu targets); %.1f KiB per host\n",
              n, f.groups, 2 * f.groups, f.seconds, f.groups / f.seconds, 100 * f.used, 100 * f.reserved,
              f.cluster->reserve().TargetCount(), f.bytes_per_host / 1024.0);
  if (getenv("COREPIN_BENCH_VERIFY")) {  // slow: every single-host failure simulated
    Status ok = f.cluster->Check();
    std::string g = ok.ok() ? testing::BruteForceGuarantee(*f.cluster) : "";
    std::printf("  verify: Check %s; brute-force k=1 guarantee: %s\n", ok.ok() ? "ok" : ok.error().message.c_str(), g.empty() ? "ok" : g.c_str());
  }
  return f;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// One more pair at 60%, timed; deleted again untimed.
void BM_PlacePair(benchmark::State& state) {
  Filled& f = FilledCluster(static_cast<size_t>(state.range(0)));
  Cluster& c = *f.cluster;
  std::mt19937 rng(7);
  std::vector<double> us;
  int serial = 0, refused = 0;
  for (auto _ : state) {
    GroupRequest r = RandomPair(rng, "m" + std::to_string(serial++));
    const auto t0 = Clock::now();
    GroupOutcome o = c.PlaceGroup(r);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    state.SetIterationTime(s);
    us.push_back(s * 1e6);
    if (!o.ok()) ++refused;
    else (void)c.DeleteGroup(r.name);
  }
  state.counters["median_us"] = Percentile(us, 0.5);
  state.counters["p99_us"] = Percentile(us, 0.99);
  state.counters["refused"] = refused;
  state.counters["KiB_per_host"] = f.bytes_per_host / 1024.0;
  std::printf("  %zu hosts: place a 1+1 group with reserve checking: median %.0f us, p99 %.0f us (%zu samples, %d refused)\n",
              f.hosts, Percentile(us, 0.5), Percentile(us, 0.99), us.size(), refused);
}
BENCHMARK(BM_PlacePair)->Arg(1000)->Arg(10000)->UseManualTime()->Iterations(2000)->Unit(benchmark::kMicrosecond);

// Groups placed in a row (not deleted), one core.
void BM_GroupsPerSecond(benchmark::State& state) {
  Filled& f = FilledCluster(static_cast<size_t>(state.range(0)));
  Cluster& c = *f.cluster;
  std::mt19937 rng(9);
  const int batch = 1000;
  int serial = 0;
  double placed = 0, seconds = 0;
  for (auto _ : state) {
    std::vector<std::string> names;
    const auto t0 = Clock::now();
    for (int i = 0; i < batch; ++i) {
      GroupRequest r = RandomPair(rng, "t" + std::to_string(serial++));
      if (c.PlaceGroup(r).ok()) names.push_back(r.name), ++placed;
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    seconds += s;
    state.SetIterationTime(s);
    state.PauseTiming();
    for (const auto& n : names) (void)c.DeleteGroup(n);
    state.ResumeTiming();
  }
  state.counters["groups_per_s"] = placed / seconds;
  std::printf("  %zu hosts: %.0f groups/s placed in a row (batches of %d)\n", f.hosts, placed / seconds, batch);
}
BENCHMARK(BM_GroupsPerSecond)->Arg(1000)->Arg(10000)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);

// The packing stream: pairs, single ACTs and 2+1 groups of mixed sizes and policies.
GroupRequest StreamRequest(std::mt19937& rng, int serial, bool protect) {
  static const int kVcpus[] = {1, 2, 2, 4, 4, 4, 6, 8, 8, 12, 16};
  GroupRequest r;
  r.name = "p" + std::to_string(serial);
  const unsigned shape = rng() % 20;
  r.members.push_back({r.name + "-a1", Role::kAct, ""});
  if (shape >= 5) r.members.push_back({r.name + "-s1", Role::kSby, ""});
  if (shape >= 17) r.members.push_back({r.name + "-a2", Role::kAct, ""});
  r.protect = protect;
  VmSpec& s = r.vm;
  s.name = r.name;
  s.vcpus.assign(kVcpus[rng() % 11], VcpuPolicy{});
  const unsigned x = rng() % 10;
  s.smt = x < 7 ? SmtPolicy::kPrefer : (x < 9 ? SmtPolicy::kIsolate : SmtPolicy::kRequire);
  if (rng() % 10 == 0) s.emulator.kind = EmulatorPolicy::Kind::kIsolate;
  if (rng() % 10 < 3) s.physnet = "data";
  if (s.vcpus.size() >= 12 && rng() % 2) s.numa = NumaPolicy::kSpread;
  s.memory_mib = 1024 * (1 + rng() % 16);
  return r;
}

// pCPUs a VM of this spec holds (no shared groups in the stream): its units, whole cores under
// isolate (siblings kept empty) and require (rounded up to whole cores).
int Cost(const VmSpec& s) {
  int units = static_cast<int>(s.vcpus.size()) + (s.emulator.kind == EmulatorPolicy::Kind::kIsolate ? 1 : 0);
  if (s.smt == SmtPolicy::kIsolate) return 2 * units;
  if (s.smt == SmtPolicy::kRequire) return 2 * ((units + 1) / 2);
  return units;
}

void RunPacking(benchmark::State& state, bool protect) {
  for (auto _ : state) {
    ClusterOptions opt;
    opt.failures_tolerated = protect ? 1 : 0;
    opt.max_candidates = 0;  // rank every host: 100 hosts are cheap
    Cluster c(opt);
    for (int i = 0; i < 100; ++i)
      (void)c.AddHost(testing::CachedFixtureHost("2s32c-smt2", "0,64", "h" + std::to_string(i)), {{"rack", "r" + std::to_string(i % 10)}});
    std::mt19937 rng(5);
    std::vector<GroupRequest> stream;
    for (int i = 0; i < 20000; ++i) stream.push_back(StreamRequest(rng, i, protect));
    int groups = 0, vms = 0;
    size_t next = 0;
    const auto t0 = Clock::now();
    for (; next < stream.size(); ++next) {
      GroupOutcome o = c.PlaceGroup(stream[next]);
      if (!o.ok()) break;
      ++groups;
      vms += static_cast<int>(o.placed.size());
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    int alloc = 0, stranded = 0, reserved = 0, used = 0;
    for (const auto* h : c.hosts()) {
      alloc += h->state.partition().allocatable.Size();
      reserved += h->state.reserve().pcpus.Size();
      stranded += h->state.free().Minus(h->state.reserve().pcpus).Size();
      used += h->state.partition().allocatable.Size() - h->state.free().Size();
    }
    // Fluid bound: the same stream into one pool of pCPUs (allocatable less our reserve), no
    // hosts, nodes or cores, until its own first refusal.
    const int pool = alloc - reserved;
    int fluid_vms = 0, fluid_used = 0;
    for (const auto& r : stream) {
      const int cost = Cost(r.vm) * static_cast<int>(r.members.size());
      if (fluid_used + cost > pool) break;
      fluid_used += cost, fluid_vms += static_cast<int>(r.members.size());
    }
    const GroupRequest& refused = stream[std::min(next, stream.size() - 1)];
    state.counters["vms"] = vms;
    state.counters["stranded_pct"] = 100.0 * stranded / alloc;
    state.counters["fluid_vms"] = fluid_vms;
    std::printf("  packing 100 hosts (k=%d): %d groups, %d VMs placed in %.2f s; first refusal: %s (%zu x %s)\n", protect ? 1 : 0,
                groups, vms, secs, refused.name.c_str(), refused.members.size(), DescribeSpec(refused.vm).c_str());
    std::printf("    pCPUs: %d allocatable, %d held by VMs, %d healing reserve, %d stranded = %.2f%% of allocatable\n", alloc, used,
                reserved, stranded, 100.0 * stranded / alloc);
    std::printf("    fluid bound (one pool of %d pCPUs, same stream): %d VMs, %d stranded = %.2f%%\n", pool, fluid_vms,
                pool - fluid_used, 100.0 * (pool - fluid_used) / alloc);
  }
}
void BM_Packing100(benchmark::State& state) { RunPacking(state, state.range(0) != 0); }
BENCHMARK(BM_Packing100)->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace corepin

BENCHMARK_MAIN();
