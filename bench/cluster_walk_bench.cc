// The placement random walk (src/placement/cluster_walk.h) over many seeds: after every step
// Cluster::Check and the brute-force k-failure guarantee. CI runs a few seeds
// (cluster_random_test); this runs many and prints, per k, the seeds run, the steps, the seeds
// that failed (each with its first failure) and the operations counted over all walks.
//   build/bench/cluster_walk_bench [K1_SEEDS [K2_SEEDS [STEPS [FIRST_SEED]]]]
// Defaults: 100 seeds at k = 1 and 300 at k = 2, 10,000 steps each, seeds from 1001 (so the
// k = 2 range holds issue 25's seeds 1095 and 1140). Runs for minutes; not run in CI.
#include <gtest/gtest-spi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "placement/cluster_walk.h"

namespace corepin {
namespace {

using testing::RunWalk;
using testing::Stats;

void Add(Stats* sum, const Stats& s) {
  sum->placed += s.placed, sum->refused += s.refused, sum->deleted += s.deleted;
  sum->hosts_added += s.hosts_added, sum->hosts_removed += s.hosts_removed, sum->host_refusals += s.host_refusals;
  sum->whatifs += s.whatifs, sum->k_changes += s.k_changes, sum->failures += s.failures;
  sum->clean_failures += s.clean_failures, sum->moved += s.moved, sum->lost += s.lost;
  sum->placed_anew += s.placed_anew, sum->still_lost += s.still_lost;
}

// Runs `seeds` walks at k from `first`; returns the number that failed.
int RunSeeds(int k, int seeds, int steps, unsigned first) {
  const auto t0 = std::chrono::steady_clock::now();
  Stats sum;
  int failed = 0;
  for (unsigned seed = first; seed < first + static_cast<unsigned>(seeds); ++seed) {
    Stats st;
    ::testing::TestPartResultArray results;
    {
      ::testing::ScopedFakeTestPartResultReporter catcher(::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD,
                                                          &results);
      RunWalk(k, steps, seed, 7, &st);
    }
    Add(&sum, st);
    if (results.size() > 0) {
      ++failed;
      std::printf("k=%d seed %u FAILED: %s\n", k, seed, results.GetTestPartResult(0).message());
    }
    std::fflush(stdout);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("k=%d: %d seeds (%u-%u) x %d steps = %lld steps, %d failed, %.0f s\n  ", k, seeds, first,
              first + static_cast<unsigned>(seeds) - 1, steps, static_cast<long long>(seeds) * steps, failed, s);
  testing::Print(sum);
  std::fflush(stdout);
  return failed;
}

}  // namespace
}  // namespace corepin

int main(int argc, char** argv) {
  const int k1 = argc > 1 ? std::atoi(argv[1]) : 100;
  const int k2 = argc > 2 ? std::atoi(argv[2]) : 300;
  const int steps = argc > 3 ? std::atoi(argv[3]) : 10000;
  const unsigned first = argc > 4 ? static_cast<unsigned>(std::atoi(argv[4])) : 1001;
  int failed = 0;
  if (k1 > 0) failed += corepin::RunSeeds(1, k1, steps, first);
  if (k2 > 0) failed += corepin::RunSeeds(2, k2, steps, first);
  return failed == 0 ? 0 : 1;
}
