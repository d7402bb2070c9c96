// Child processes: RunProcess runs a helper program (e.g. ipmitool) with a hard deadline;
// StopChild ends a long-running child (a test's server) by its pid; FindProgram finds a tool.
//
// The child gets exactly the environment it is given (secrets go there, never in argv),
// /dev/null as stdin, no other inherited descriptor, and its own process group, which gets
// SIGKILL when the deadline passes. Safe to call from several threads at once.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace corepin {

struct ProcessResult {
  bool timed_out = false;  // killed at the deadline
  int exit_code = -1;      // -1 when it ended by a signal
  std::string out, err;
  std::chrono::milliseconds took{0};
};

// argv[0] must be a path. An error only when the process could not be started at all.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                                 std::chrono::milliseconds timeout);

// SIGTERM to `pid`, waits up to `grace` for it to exit, then SIGKILL and wait. Reaps it.
void StopChild(pid_t pid, std::chrono::milliseconds grace);

// The path of `name` in PATH, /usr/sbin, /usr/bin, /sbin or /bin; "" when absent.
std::string FindProgram(const std::string& name);

}  // namespace corepin
