// TestBmc: a private BMC for tests and benchmarks (never for the product, never the lab's).
//
// One ipmi_sim (package openipmi) on a free UDP port of 127.0.0.1, IPMI 2.0 (lanplus), one
// admin user, in a temp directory. Its chassis_control program is a small shell script that
// keeps the "host's" power in a file, so a test can read and change it directly:
//   kFollows   power on/off change the file at once
//   kSlow      they change it `slow_ms` later (the BMC accepts at once, the power follows)
//   kStuck     they are accepted and change nothing (a power-off that never happens)
// Stopped by its pid when destroyed (SIGTERM, then SIGKILL); the child also gets SIGKILL if the
// test process dies first.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace corepin::testing {

struct TestBmcOptions {
  enum Chassis { kFollows, kSlow, kStuck };
  Chassis chassis = kFollows;
  int slow_ms = 300;
  std::string user = "admin";
  std::string password = "test-bmc-pw";  // plain text in ipmi_sim's lan.conf: no '"' or '\'
  bool powered_on = true;                // the power at start
};

class TestBmc {
 public:
  static Result<std::unique_ptr<TestBmc>> Start(const TestBmcOptions& options = {});
  ~TestBmc();  // Stop(), then removes the directory

  void Stop();  // by pid; idempotent
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // ipmi://USER:PASSWORD@127.0.0.1:PORT?cipher=3 plus `options` ("&timeout=1", ...). The user
  // and password are percent-encoded.
  std::string uri(const std::string& options = "") const;

  bool powered_on() const;            // the power file
  void set_powered_on(bool on) const;  // as if the host had been powered on/off by hand
  int power_commands() const;          // "set power" commands the BMC has received

 private:
  TestBmc() = default;
  Status Launch();
  TestBmcOptions options_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A UDP port of 127.0.0.1 that nothing listens on (at the time of the call).
int FreeUdpPort();

}  // namespace corepin::testing
