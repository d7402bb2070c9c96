#include "driver/fence/ipmi_fence.h"

#include <algorithm>
#include <cstdio>
#include <thread>
#include <vector>

#include "common/subprocess.h"

namespace corepin::fence {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A power change the BMC accepted but that is still not visible after this long is sent again
// (a BMC may drop a command it acknowledged, e.g. while it is busy).
constexpr milliseconds kResendAfter{2000};

std::string Seconds(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", d.count() / 1000.0);
  return buf;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool Contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

// ipmitool -v's stderr without its chatter: the lines that say what went wrong, joined by "; ".
std::string Meaningful(const std::string& err) {
  static const char* kChatter[] = {"Loading IANA PEN Registry", "Running Get VSO Capabilities",
                                   "Invalid completion code received: Invalid command", "Discovered IPMB address",
                                   "Get HPM.x Capabilities request failed", "Running Get PICMG Properties",
                                   "Unable to establish IPMI v2 / RMCP+ session",
                                   "Error: Unable to establish IPMI v2 / RMCP+ session"};
  std::string out;
  size_t pos = 0;
  while (pos < err.size()) {
    size_t nl = err.find('\n', pos);
    std::string line = Trim(err.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    pos = nl == std::string::npos ? err.size() : nl + 1;
    if (line.rfind("> ", 0) == 0) line = Trim(line.substr(2));
    if (line.empty()) continue;
    bool chatter = std::any_of(std::begin(kChatter), std::end(kChatter),
                               [&](const char* c) { return line.rfind(c, 0) == 0; });
    if (!chatter && !Contains(out, line.c_str())) out += (out.empty() ? "" : "; ") + line;
  }
  if (out.empty() && Contains(err, "Unable to establish IPMI v2 / RMCP+ session"))
    out = "Unable to establish IPMI v2 / RMCP+ session";
  return out.size() > 400 ? out.substr(0, 400) + "..." : out;
}

std::string Scrub(std::string text, const std::string& secret) {
  if (secret.size() < 3) return text;
  for (size_t p; (p = text.find(secret)) != std::string::npos;) text.replace(p, secret.size(), "***");
  return text;
}

}  // namespace

Power ParsePowerStatus(const std::string& answer) {
  // "Chassis Power is on" / "Chassis Power is off"
  size_t p = answer.find("Chassis Power is ");
  if (p == std::string::npos) return Power::kUnknown;
  std::string word = Trim(answer.substr(p + 17));
  word = word.substr(0, word.find_first_of(" \r\n"));
  if (word == "on") return Power::kOn;
  if (word == "off") return Power::kOff;
  return Power::kUnknown;
}

IpmitoolFence::IpmitoolFence(IpmiTarget target) : target_(std::move(target)), ipmitool_(FindProgram("ipmitool")) {}

std::string IpmitoolFence::Who() const { return "BMC " + target_.Address() + " (user " + target_.user + ")"; }

IpmitoolFence::Reply IpmitoolFence::Ask(const std::string& verb, milliseconds timeout) const {
  Reply r;
  const std::string what = Who() + ": 'chassis power " + verb + "'";
  if (ipmitool_.empty()) {
    r.permanent = true;
    r.error = NotFound(what + ": ipmitool is not installed (install package ipmitool, see "
                              "src/driver/fence/packages.txt)");
    return r;
  }
  // ipmitool's own retransmissions end before our deadline when they can: -N seconds per try.
  long per_try = std::max<long>(1, timeout.count() / 2000);
  std::vector<std::string> argv = {ipmitool_, "-I", "lanplus", "-C", std::to_string(target_.cipher),
                                   "-H", target_.host, "-p", std::to_string(target_.port),
                                   "-U", target_.user, "-E", "-N", std::to_string(per_try), "-R", "1", "-v"};
  if (!target_.privlvl.empty()) argv.insert(argv.end(), {"-L", target_.privlvl});
  argv.insert(argv.end(), {"chassis", "power", verb});
  std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C",
                                  "IPMI_PASSWORD=" + target_.password};
  auto run = RunProcess(argv, env, timeout);
  if (!run.ok()) {
    r.error = Internal(what + ": could not run ipmitool: " + run.error().message);
    return r;
  }
  r.took = run->took;
  std::string out = Scrub(Trim(run->out), target_.password);
  std::string detail = Scrub(Meaningful(run->err), target_.password);
  if (run->timed_out) {
    r.error = Unavailable(what + ": no answer within " + Seconds(timeout) +
                          (detail.empty() ? "" : " (ipmitool: " + detail + ")"));
    return r;
  }
  if (run->exit_code == 0) {
    r.ok = true;
    r.answer = out;
    return r;
  }
  std::string said = detail.empty() ? out : detail;
  if (Contains(said, "HMAC is invalid")) {
    r.permanent = true;
    r.error = Unavailable(what + ": login refused: wrong password (the BMC answered: " + said + ")");
  } else if (Contains(said, "unauthorized name")) {
    r.permanent = true;
    r.error = Unavailable(what + ": login refused: unknown user name '" + target_.user + "' (the BMC answered: " +
                          said + ")");
  } else if (Contains(said, "privilege")) {
    r.permanent = true;
    r.error = Unavailable(what + ": refused: the user lacks the privilege (the BMC answered: " + said + ")");
  } else if (Contains(said, "Get Auth Capabilities error") || Contains(said, "Get Channel Authentication") ||
             Contains(said, "No response") || Contains(said, "timeout")) {
    r.error = Unavailable(what + ": no answer within " + Seconds(timeout) + " (ipmitool: " + said + ")");
  } else {
    r.error = Unavailable(what + ": failed, ipmitool exit " + std::to_string(run->exit_code) +
                          (said.empty() ? "" : ", the BMC answered: " + said));
  }
  return r;
}

Result<PowerState> IpmitoolFence::Status() {
  Reply r = Ask("status", target_.timeout);
  if (!r.ok) return r.error;
  return PowerState{ParsePowerStatus(r.answer), r.took, r.answer};
}

corepin::Status IpmitoolFence::SetPower(Power want, milliseconds timeout) {
  const std::string verb = want == Power::kOff ? "off" : "on";
  if (timeout <= milliseconds(0)) return Invalid(Who() + ": power-" + verb + " needs a positive timeout");
  const auto start = Clock::now(), deadline = start + timeout;
  auto left = [&] {
    return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
  };
  auto pause = [&] { std::this_thread::sleep_for(std::min(target_.poll, left())); };

  int sends = 0, accepted = 0, reads = 0, answered = 0;
  Clock::time_point last_accept{};
  std::string last_cmd;   // the BMC's last answer to the command ('Chassis Power Control: Down/Off')
  std::string last_read;  // its last answer to a status read ('Chassis Power is on')
  std::string first_error;
  auto failed = [&](const Reply& r) {
    if (first_error.empty()) first_error = r.error.message.substr(Who().size() + 2);
  };
  while (left() > milliseconds(0)) {
    bool accepted_recently = accepted > 0 && Clock::now() - last_accept < kResendAfter;
    if (!accepted_recently) {
      Reply c = Ask(verb, std::min(target_.timeout, left()));
      ++sends;
      if (c.permanent) return c.error;
      if (c.ok) {
        ++accepted;
        ++answered;
        last_accept = Clock::now();
        last_cmd = "'" + c.answer + "'";
      } else {
        failed(c);
      }
      if (left() == milliseconds(0)) break;
    }
    // Read the state even after a command that got no answer: the BMC may have done it anyway.
    Reply s = Ask("status", std::min(target_.timeout, left()));
    ++reads;
    if (s.permanent) return s.error;
    if (s.ok) {
      ++answered;
      if (ParsePowerStatus(s.answer) == want) return corepin::Status::Ok();
      last_read = "'" + s.answer + "'";
    } else {
      failed(s);
    }
    pause();
  }
  std::string msg = Who() + ": power-" + verb + " NOT confirmed within " + Seconds(timeout) + ": ";
  if (answered == 0) {
    msg += "the BMC answered none of " + std::to_string(sends + reads) + " call(s) (power " + verb + " sent " +
           std::to_string(sends) + " time(s), status read " + std::to_string(reads) + " time(s)); first: " +
           first_error;
  } else {
    msg += "power " + verb + " sent " + std::to_string(sends) + " time(s), " + std::to_string(accepted) +
           " accepted" + (last_cmd.empty() ? "" : " (" + last_cmd + ")") + "; power status read " +
           std::to_string(reads) + " time(s), last " + (last_read.empty() ? "unanswered" : last_read);
    if (sends + reads > answered)
      msg += "; " + std::to_string(sends + reads - answered) + " call(s) unanswered, first: " + first_error;
  }
  msg += want == Power::kOff ? "; the host may still be running" : "; the host may still be off";
  return Unavailable(msg);
}

}  // namespace corepin::fence
