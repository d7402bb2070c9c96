// A redundancy group member's role: ACT serves, SBY stands by to take over.
#pragma once

#include <string>

#include "common/status.h"

namespace corepin {

enum class Role { kAct, kSby };
const char* ToString(Role r);  // "act" | "sby"
Result<Role> ParseRole(const std::string& text);

}  // namespace corepin
