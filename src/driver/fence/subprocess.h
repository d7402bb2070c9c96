// RunProcess: runs a helper program (ipmitool) with a hard deadline, for the fence driver.
//
// The child gets exactly the environment it is given (secrets go there, never in argv),
// /dev/null as stdin, no other inherited descriptor, and its own process group, which gets
// SIGKILL when the deadline passes. Safe to call from several threads at once.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace corepin::fence {

struct ProcessResult {
  bool timed_out = false;  // killed at the deadline
  int exit_code = -1;      // -1 when it ended by a signal
  std::string out, err;
  std::chrono::milliseconds took{0};
};

// argv[0] must be a path. An error only when the process could not be started at all.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                                 std::chrono::milliseconds timeout);

// The path of `name` in PATH, /usr/sbin, /usr/bin, /sbin or /bin; "" when absent.
std::string FindProgram(const std::string& name);

}  // namespace corepin::fence
