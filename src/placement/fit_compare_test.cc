// Fit against the fit as it was (fit_reference.h), on random host states and specs: the same
// answers (fit_compare.h). CI runs 20,000 comparisons; bench/fit_compare runs 10^6 and more.
#include <gtest/gtest.h>

#include "placement/fit_compare.h"

namespace corepin {
namespace {

TEST(FitCompare, SameAnswersAsTheReferenceFit) {
  testing::CompareCounts c = testing::CompareRandom(16, 400, 50);
  EXPECT_EQ(c.first_difference, "");
  EXPECT_GT(c.specs, 15000);
  // Both outcomes, and the fast path's case, must be well represented, or the run proves little.
  EXPECT_GT(c.fits, c.specs / 5);
  EXPECT_GT(c.refusals, c.specs / 5);
  EXPECT_GT(c.fast, c.specs / 2);
}

}  // namespace
}  // namespace corepin
