#include "model/role.h"

namespace corepin {

const char* ToString(Role r) { return r == Role::kAct ? "act" : "sby"; }

Result<Role> ParseRole(const std::string& text) {
  if (text == "act" || text == "ACT") return Role::kAct;
  if (text == "sby" || text == "SBY") return Role::kSby;
  return Invalid("role \"" + text + "\": must be act or sby");
}

}  // namespace corepin
