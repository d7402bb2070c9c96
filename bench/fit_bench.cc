// Single-host fit throughput on the 2-socket 128-pCPU fixture, half full.
//   build/bench/fit_bench            (prints time per fit and fits per second)
#include <benchmark/benchmark.h>

#include "placement/fit.h"
#include "placement/placement_test_util.h"

namespace corepin {
namespace {

// 2s32c-smt2 with housekeeping 0,64, filled to about half its allocatable pCPUs with a mix of
// 2- and 4-vCPU VMs (dedicated, isolate, grouped), so fits see partly used cores on both nodes.
HostState HalfFullHost() {
  HostState hs = testing::FixtureHost("2s32c-smt2", "0,64");
  const char* shapes[] = {
      R"({"name":"x","vcpus":4,"memory_mib":2048})",
      R"({"name":"x","vcpus":2,"smt":"isolate","memory_mib":1024})",
      R"({"name":"x","vcpus":3,"vcpu_policies":["dedicated","group:ctl","group:ctl"],"memory_mib":1024})",
      R"({"name":"x","vcpus":2,"numa":"spread","memory_mib":1024})"};
  for (int i = 0, misses = 0; hs.free().Size() > hs.partition().allocatable.Size() / 2 && misses < 4; ++i) {
    VmSpec s = testing::Spec(shapes[i % 4]);
    s.name = "bg" + std::to_string(i);
    FitResult r = Fit(hs, s);
    if (r.ok() && hs.Apply(s, *r.assignment).ok()) misses = 0;
    else ++misses;
  }
  return hs;
}

void BM_Fit(benchmark::State& state, const char* spec_json, bool expect_fit) {
  HostState hs = HalfFullHost();
  VmSpec spec = testing::Spec(spec_json);
  for (auto _ : state) {
    FitResult r = Fit(hs, spec);
    if (r.ok() != expect_fit) state.SkipWithError(r.ok() ? "fitted unexpectedly" : r.rejection.ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
  state.counters["fits_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["free_pcpus"] = hs.free().Size();
}

BENCHMARK_CAPTURE(BM_Fit, dedicated_4vcpu, R"({"name":"new","vcpus":4,"memory_mib":4096})", true);
BENCHMARK_CAPTURE(BM_Fit, isolate_8vcpu_emulator_isolate,
                  R"({"name":"new","vcpus":8,"smt":"isolate","emulator":"isolate","memory_mib":8192})", true);
// A refusal builds its per-node reasons: this is its cost.
BENCHMARK_CAPTURE(BM_Fit, rejected_80vcpu, R"({"name":"new","vcpus":80,"memory_mib":4096})", false);

}  // namespace
}  // namespace corepin

BENCHMARK_MAIN();
