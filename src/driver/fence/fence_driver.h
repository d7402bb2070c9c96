// FenceDriver: how corepin powers a failed host off through its BMC, and confirms it, before
// any of that host's VMs runs elsewhere (fencing, function 3 of DESIGN.md; issue 6 item 2).
//
// The rule of the interface is that it never guesses. A power-off succeeds only once the BMC's
// power status has been read back as off; a power-off that was sent but not confirmed before
// the deadline is an error, as is a BMC that does not answer, refuses the login, or answers
// something that is neither on nor off. A caller that gets an error must treat the host as
// possibly running.
//
// Drivers are chosen by a fence URI per host, like the hypervisor and switch drivers:
//   ipmi://USER:PASSWORD@HOST[:PORT][?OPTIONS]   IPMI 2.0 (RMCP+, "lanplus") through ipmitool;
//                                                 PORT defaults to 623; USER and PASSWORD are
//                                                 percent-decoded (%40 for '@', %3A for ':')
//       cipher=N      cipher suite 0..17 (default 3: HMAC-SHA1, AES-CBC-128)
//       timeout=S     seconds one BMC call may take before it counts as unanswered (default 2;
//                     0.1..60, decimals allowed)
//       privlvl=L     user|operator|administrator (default: ipmitool's, administrator)
//       poll_ms=N     pause between power-status reads while confirming (default 100; 0..10000)
//       lanplus=1     accepted (it is the only protocol); lanplus=0 (IPMI 1.5) is refused
//   none                                          the host has no working BMC: every call fails
//                                                 with an error saying the host will not be
//                                                 healed automatically (healing without fencing
//                                                 is unsafe)
// Unknown options, a missing user or password, a bad port, ... are Invalid errors that say what
// to write. Passwords never appear in an error, in uri() or in a process's argv (ipmitool gets
// it through its environment, -E).
//
// Errors name the BMC ("BMC 127.0.0.1:16231") and what it answered, or that it did not answer
// within the timeout. Codes: Invalid (bad URI), Unprocessable (the `none` driver),
// Unavailable (the BMC failed, refused, did not answer, or the power change was not confirmed),
// NotFound (ipmitool is not installed).
//
// Calls are thread-safe (each is one or more ipmitool processes); they block for at most the
// timeout they are given (Status: the URI's timeout).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"

namespace corepin {

enum class Power { kOn, kOff, kUnknown };
const char* PowerName(Power p);  // "on", "off", "unknown"

// One reading of a host's power through its BMC.
struct PowerState {
  Power power = Power::kUnknown;     // kUnknown: the BMC answered, but neither on nor off
  std::chrono::milliseconds took{0}; // from asking to the answer (includes starting ipmitool)
  std::string answer;                // what the BMC answered, e.g. "Chassis Power is on"
  std::string Describe() const;      // "off (BMC answered in 31 ms)"
};

// A reasonable deadline for PowerOff/PowerOn: a real server's BMC usually reports a hard
// power-off as done within a few seconds.
inline constexpr std::chrono::milliseconds kDefaultPowerTimeout{10000};

class FenceDriver {
 public:
  virtual ~FenceDriver() = default;

  // Reads the power state. An error when the BMC cannot be asked or does not answer.
  virtual Result<PowerState> Status() = 0;

  // Powers the host off (hard) and returns Ok only once the power status reads off, within
  // `timeout` from the call. Otherwise Unavailable, saying what was sent, what the BMC last
  // answered and that the host may still be running. A host already off is confirmed at once.
  // A refused login or command fails at once; a command the BMC did not answer is sent again
  // until the deadline, and a power-off accepted but still not effective after 2 s is re-sent.
  virtual corepin::Status PowerOff(std::chrono::milliseconds timeout) = 0;

  // Powers the host on and returns Ok only once the power status reads on, within `timeout`.
  virtual corepin::Status PowerOn(std::chrono::milliseconds timeout) = 0;

  // The URI with the password replaced by "***": safe to store in events and show.
  virtual std::string uri() const = 0;
  // "127.0.0.1:16231", or "" for `none`.
  virtual std::string address() const = 0;
  // false for `none`: this host cannot be fenced, so it is never healed automatically.
  virtual bool can_fence() const = 0;
};

// Percent-encodes everything but RFC 3986's unreserved characters (for users and passwords in URIs).
std::string PercentEncode(const std::string& in);

// A parsed ipmi:// URI (exposed for validation and tests; OpenFenceDriver is the usual entry).
struct IpmiTarget {
  std::string host;  // as written, without IPv6 brackets
  int port = 623;
  std::string user, password;  // percent-decoded
  int cipher = 3;
  std::chrono::milliseconds timeout{2000};
  std::string privlvl;  // "" (ipmitool's default), "USER", "OPERATOR", "ADMINISTRATOR"
  std::chrono::milliseconds poll{100};

  std::string Address() const;      // "127.0.0.1:623", "[::1]:623"
  std::string RedactedUri() const;  // the URI again, password as "***", options normalized
};
Result<IpmiTarget> ParseIpmiUri(const std::string& uri);

// Opens a fence driver for `uri` (see above). Only the URI is checked here; the BMC is first
// contacted by the first call.
Result<std::unique_ptr<FenceDriver>> OpenFenceDriver(const std::string& uri);

// The URI with any password replaced by "***", even when malformed: for error messages.
std::string RedactFenceUri(const std::string& uri);

}  // namespace corepin
