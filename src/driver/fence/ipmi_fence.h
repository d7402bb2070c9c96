// IpmitoolFence: the ipmi:// fence driver. Each call runs ipmitool once
// (`ipmitool -I lanplus -C N -H HOST -p PORT -U USER -E -v chassis power status|off|on`) with the
// password in its environment (IPMI_PASSWORD, -E), under the URI's timeout. Why ipmitool and
// not fence_ipmilan: see README.md (it is faster here, tells a wrong password from a BMC that does
// not answer, and never has the password in argv).
#pragma once

#include <chrono>
#include <string>

#include "driver/fence/fence_driver.h"

namespace corepin::fence {

class IpmitoolFence : public FenceDriver {
 public:
  explicit IpmitoolFence(IpmiTarget target);

  Result<PowerState> Status() override;
  corepin::Status PowerOff(std::chrono::milliseconds timeout) override { return SetPower(Power::kOff, timeout); }
  corepin::Status PowerOn(std::chrono::milliseconds timeout) override { return SetPower(Power::kOn, timeout); }
  std::string uri() const override { return target_.RedactedUri(); }
  std::string address() const override { return target_.Address(); }
  bool can_fence() const override { return true; }

  // One ipmitool call. ok: it exited 0 and `answer` is its output. Otherwise `error` says what
  // happened, naming the BMC, and `permanent` says that asking again cannot help (login or
  // command refused, ipmitool missing).
  struct Reply {
    bool ok = false;
    bool permanent = false;
    std::string answer;
    Error error;
    std::chrono::milliseconds took{0};
  };
  Reply Ask(const std::string& verb, std::chrono::milliseconds timeout) const;

 private:
  corepin::Status SetPower(Power want, std::chrono::milliseconds timeout);
  std::string Who() const;  // "BMC 127.0.0.1:623 (user admin)"

  IpmiTarget target_;
  std::string ipmitool_;
};

// Reads ipmitool's answer to `chassis power status`.
Power ParsePowerStatus(const std::string& answer);

}  // namespace corepin::fence
