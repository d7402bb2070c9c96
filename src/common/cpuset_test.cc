#include "common/cpuset.h"

#include <gtest/gtest.h>

namespace corepin {

TEST(CpuSet, ParsesListFormat) {
  struct Case { const char* in; const char* canonical; int size; };
  for (auto c : {Case{"", "", 0}, Case{"0", "0", 1}, Case{"0-3,8", "0-3,8", 5}, Case{" 8, 0-3 ", "0-3,8", 5},
                 Case{"5,4,3", "3-5", 3}, Case{"1023", "1023", 1}}) {
    auto s = CpuSet::Parse(c.in);
    ASSERT_TRUE(s.ok()) << c.in << ": " << s.error().message;
    EXPECT_EQ(s->ToString(), c.canonical) << c.in;
    EXPECT_EQ(s->Size(), c.size) << c.in;
  }
}

TEST(CpuSet, RejectsGarbageWithMessage) {
  for (const char* bad : {"a", "1-", "-1", "3-1", "1,,2", "1024", "0x1"}) {
    auto s = CpuSet::Parse(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.error().message.find("bad CPU list"), std::string::npos);
  }
}

TEST(CpuSet, SetAlgebra) {
  CpuSet a{0, 1, 2, 3}, b{2, 3, 4};
  EXPECT_EQ(a.Intersect(b).ToString(), "2-3");
  EXPECT_EQ(a.Union(b).ToString(), "0-4");
  EXPECT_EQ(a.Minus(b).ToString(), "0-1");
  EXPECT_TRUE(CpuSet({2, 3}).IsSubsetOf(a));
  EXPECT_FALSE(b.IsSubsetOf(a));
  EXPECT_EQ(b.First(), 2);
  EXPECT_EQ(CpuSet().First(), -1);
  EXPECT_EQ(b.ToVector(), (std::vector<int>{2, 3, 4}));
}

}  // namespace corepin
