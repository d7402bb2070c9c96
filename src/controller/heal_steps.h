// The healing operation as stored (OperationRecord kind "heal"): its steps, shared by the
// healer (healing.cc) and the operator actions on it (healing_actions.cc).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace corepin::heal_steps {

inline constexpr char kHeal[] = "heal";
// Steps, as stored in OperationRecord::state.
inline constexpr char kFencing[] = "fencing", kFenced[] = "fenced", kPromoting[] = "promoting", kRecreating[] = "recreating",
                      kDone[] = "done", kStopped[] = "stopped", kCancelled[] = "cancelled";

inline bool Finished(const std::string& step) { return step == kDone || step == kCancelled; }

// The hosts a stored healing covers.
inline std::vector<std::string> HostsOf(const nlohmann::json& body) {
  return body.is_object() ? body.value("hosts", std::vector<std::string>{}) : std::vector<std::string>{};
}

}  // namespace corepin::heal_steps
