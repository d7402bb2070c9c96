// The randomized comparison of Fit with the fit as it was (src/placement/fit_compare.h), long:
//   build/bench/fit_compare [states per run, default 20400] [specs per state, default 50]
// 20,400 states x 50 specs: about 10^6 valid specs compared. Exit status 1 on the first difference.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "placement/fit_compare.h"

int main(int argc, char** argv) {
  const long states = argc > 1 ? std::atol(argv[1]) : 20400;
  const int specs = argc > 2 ? std::atoi(argv[2]) : 50;
  const auto t0 = std::chrono::steady_clock::now();
  corepin::testing::CompareCounts c = corepin::testing::CompareRandom(1616, states, specs);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("fit_compare: %ld host states, %ld specs compared (%ld fits, %ld refusals; %ld of the fast path's kind) in %.0f s: %s\n",
              c.states, c.specs, c.fits, c.refusals, c.fast, s, c.first_difference.empty() ? "no difference" : "DIFFERENCE");
  if (!c.first_difference.empty()) std::printf("%s\n", c.first_difference.c_str());
  return c.first_difference.empty() ? 0 : 1;
}
