// Small text helpers shared across the tree.
#pragma once

#include <string>
#include <vector>

namespace corepin {

// "a, b, c" (or with another separator): names in messages.
inline std::string Join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace corepin
