#include "common/nesting.h"

#include <gtest/gtest.h>

#include <string>

namespace corepin {
namespace {

TEST(NestingDepth, CountsBracketsOutsideStrings) {
  EXPECT_EQ(NestingDepth("{}", NestingSyntax::kJson), 1);
  EXPECT_EQ(NestingDepth(R"({"a": [1, {"b": []}]})", NestingSyntax::kJson), 4);
  EXPECT_EQ(NestingDepth(R"({"a": "[[[[\"[[["})", NestingSyntax::kJson), 1);
  EXPECT_EQ(NestingDepth(std::string(60000, '[') + std::string(60000, ']'), NestingSyntax::kJson), 60000);
  // YAML: single quotes and comments hide brackets too; JSON has neither.
  EXPECT_EQ(NestingDepth("a: '[[['  # {{{\nb: [1]\n", NestingSyntax::kYaml), 1);
  EXPECT_EQ(NestingDepth("a: '[[['", NestingSyntax::kJson), 3);
}

}  // namespace
}  // namespace corepin
