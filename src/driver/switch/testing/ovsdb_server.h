// TestOvsdbServer: a private ovsdb-server for tests and benchmarks (never for the product).
// A fresh database made with `ovsdb-tool create` from vswitch.ovsschema in a temp directory,
// served on a unix socket there (and on a TCP port of 127.0.0.1 if asked), with no
// ovs-vswitchd: enough for the database logic. Stopped by its pid when destroyed; the child
// also gets SIGKILL if the test process dies first.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace corepin::testing {

class TestOvsdbServer {
 public:
  static Result<std::unique_ptr<TestOvsdbServer>> Start(bool tcp = false);
  ~TestOvsdbServer();  // Stop(), then removes the directory

  void Stop();      // SIGTERM to the pid, waits for it; idempotent
  Status Restart();  // Stop, then serve the same database on the same socket/port again
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& socket_path() const { return sock_; }
  std::string db_path() const { return dir_ + "/conf.db"; }
  std::string unix_uri() const { return "ovsdb:unix:" + sock_; }
  std::string tcp_uri() const { return "ovsdb:tcp:127.0.0.1:" + std::to_string(tcp_port_); }

  // ovs-vsctl --db=unix:SOCK --no-wait ARGS: test set-up and simulated hand changes.
  // Returns stdout; a failure carries stderr.
  Result<std::string> Vsctl(const std::vector<std::string>& args) const;

 private:
  TestOvsdbServer() = default;
  Status Launch();
  std::string dir_, sock_;
  int tcp_port_ = 0;
  pid_t pid_ = -1;
};

// Runs a program (argv[0] looked up in PATH) and returns its stdout, or an error with its
// exit status and stderr.
Result<std::string> RunTool(const std::vector<std::string>& argv);

}  // namespace corepin::testing
