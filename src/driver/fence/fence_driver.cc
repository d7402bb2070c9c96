#include "driver/fence/fence_driver.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "driver/fence/ipmi_fence.h"

namespace corepin {

const char* PowerName(Power p) {
  switch (p) {
    case Power::kOn: return "on";
    case Power::kOff: return "off";
    case Power::kUnknown: break;
  }
  return "unknown";
}

std::string PowerState::Describe() const {
  std::string s = PowerName(power);
  if (power == Power::kUnknown) s += " ('" + answer + "')";
  return s + " (BMC answered in " + std::to_string(took.count()) + " ms)";
}

std::string RedactFenceUri(const std::string& uri) {
  size_t at = uri.rfind('@');
  if (at == std::string::npos) return uri;
  size_t start = uri.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  if (start > at) return uri;
  size_t colon = uri.find(':', start);
  if (colon == std::string::npos || colon > at) return uri;  // a user name only
  return uri.substr(0, colon + 1) + "***" + uri.substr(at);
}

namespace {

const char* kUsage = "use ipmi://USER:PASSWORD@HOST[:PORT][?cipher=3&timeout=2] or none";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool PercentDecode(const std::string& in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}


bool AllDigits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

bool ValidHostName(const std::string& h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') return false;
  return h.front() != '-' && h.front() != '.';
}

bool ValidIpv6(const std::string& h) {
  if (h.size() < 2 || h.find(':') == std::string::npos) return false;
  for (char c : h)
    if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
  return true;
}

std::string FormatSeconds(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", d.count() / 1000.0);
  return buf;
}

// The `none` driver: a host without a (working) BMC. It cannot be fenced, so every call fails:
// healing it automatically would risk two copies of its VMs running at once.
class NoneFence : public FenceDriver {
 public:
  Result<PowerState> Status() override { return Refuse("read its power state"); }
  corepin::Status PowerOff(std::chrono::milliseconds) override { return Refuse("power it off"); }
  corepin::Status PowerOn(std::chrono::milliseconds) override { return Refuse("power it on"); }
  std::string uri() const override { return "none"; }
  std::string address() const override { return ""; }
  bool can_fence() const override { return false; }

 private:
  static Error Refuse(const std::string& what) {
    return Unprocessable("fence driver none: host has no working BMC; it will not be healed automatically "
                         "(cannot " + what + "; healing a host that cannot be fenced is unsafe). Give the host "
                         "a fence URI such as ipmi://USER:PASSWORD@BMC-ADDRESS?cipher=3, or heal it by hand "
                         "after making sure it is off");
  }
};

}  // namespace

std::string PercentEncode(const std::string& in) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string IpmiTarget::Address() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string IpmiTarget::RedactedUri() const {
  std::string s = "ipmi://" + PercentEncode(user) + ":***@" + Address() + "?cipher=" + std::to_string(cipher) +
                  "&timeout=" + FormatSeconds(timeout);
  if (!privlvl.empty()) {
    std::string l = privlvl;
    for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    s += "&privlvl=" + l;
  }
  if (poll != std::chrono::milliseconds(100)) s += "&poll_ms=" + std::to_string(poll.count());
  return s;
}

Result<IpmiTarget> ParseIpmiUri(const std::string& uri) {
  const std::string shown = "fence URI '" + RedactFenceUri(uri) + "'";
  auto bad = [&](const std::string& why) { return Invalid(shown + ": " + why); };
  if (uri.empty()) return Invalid(std::string("no fence URI: ") + kUsage);
  size_t sep = uri.find("://");
  if (sep == std::string::npos) return bad(kUsage);
  std::string scheme = uri.substr(0, sep);
  if (scheme != "ipmi")
    return bad("scheme '" + scheme +
               "' is not supported; supported are ipmi:// (IPMI 2.0 lanplus, through ipmitool) and none");
  std::string rest = uri.substr(sep + 3);

  size_t at = rest.rfind('@');
  if (at == std::string::npos)
    return bad("credentials missing: the BMC's user and password go before the address, "
               "ipmi://USER:PASSWORD@HOST[:PORT]");
  std::string userinfo = rest.substr(0, at), hostpart = rest.substr(at + 1);
  size_t colon = userinfo.find(':');
  if (colon == std::string::npos) return bad("password missing: write ipmi://USER:PASSWORD@HOST[:PORT]");
  IpmiTarget t;
  if (!PercentDecode(userinfo.substr(0, colon), t.user))
    return bad("the user name has a bad percent-encoding (write %XX with two hex digits)");
  if (!PercentDecode(userinfo.substr(colon + 1), t.password))
    return bad("the password has a bad percent-encoding (write %XX with two hex digits; '%' itself is %25)");
  if (t.user.empty()) return bad("user name missing: write ipmi://USER:PASSWORD@HOST[:PORT]");
  if (t.password.empty()) return bad("password missing: write ipmi://USER:PASSWORD@HOST[:PORT]");
  if (t.user.size() > 16) return bad("user name longer than IPMI's 16 bytes");
  if (t.password.size() > 20) return bad("password longer than IPMI 2.0's 20 bytes");
  for (char c : t.user + t.password)
    if (c == '\0' || c == '\n') return bad("the user name or password contains a NUL or newline");

  std::string authority = hostpart, query;
  if (size_t q = hostpart.find('?'); q != std::string::npos) {
    authority = hostpart.substr(0, q);
    query = hostpart.substr(q + 1);
  }
  if (!authority.empty() && authority.back() == '/') authority.pop_back();
  if (authority.find('/') != std::string::npos) return bad("a path is not allowed after the address");

  std::string port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return bad("unclosed '[' in the IPv6 address");
    t.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("expected ':PORT' after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("port missing after ':'");
    }
    if (!ValidIpv6(t.host)) return bad("'" + t.host + "' is not an IPv6 address");
  } else {
    size_t c = authority.find(':');
    if (c != std::string::npos && authority.find(':', c + 1) != std::string::npos)
      return bad("an IPv6 address must be written in brackets, ipmi://USER:PASSWORD@[ADDRESS]:PORT");
    t.host = authority.substr(0, c);
    if (c != std::string::npos) {
      port_text = authority.substr(c + 1);
      if (port_text.empty()) return bad("port missing after ':'");
    }
    if (t.host.empty()) return bad("BMC address missing after '@'");
    if (!ValidHostName(t.host)) return bad("'" + t.host + "' is not a valid host name or address");
  }
  if (!port_text.empty()) {
    long p = AllDigits(port_text) && port_text.size() <= 5 ? std::strtol(port_text.c_str(), nullptr, 10) : -1;
    if (p < 1 || p > 65535) return bad("port '" + port_text + "' is not a number in 1..65535");
    t.port = static_cast<int>(p);
  }

  std::set<std::string> seen;
  size_t pos = 0;
  while (!query.empty() && pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    pos = amp == std::string::npos ? query.size() + 1 : amp + 1;
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
    if (eq == std::string::npos || v.empty()) return bad("option '" + k + "' needs a value (" + k + "=...)");
    if (!seen.insert(k).second) return bad("option '" + k + "' given twice");
    if (k == "cipher") {
      if (!AllDigits(v) || v.size() > 2 || std::atoi(v.c_str()) > 17)
        return bad("cipher '" + v + "' is not a cipher suite number 0..17 (3 is the usual one)");
      t.cipher = std::atoi(v.c_str());
    } else if (k == "timeout") {
      char* end = nullptr;
      double s = std::strtod(v.c_str(), &end);
      if (end != v.c_str() + v.size() || !std::isfinite(s) || s < 0.1 || s > 60)
        return bad("timeout '" + v + "' is not a number of seconds in 0.1..60");
      t.timeout = std::chrono::milliseconds(static_cast<long>(std::lround(s * 1000)));
    } else if (k == "privlvl") {
      std::string l;
      for (char c : v) l += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (l != "USER" && l != "OPERATOR" && l != "ADMINISTRATOR")
        return bad("privlvl '" + v + "' is not one of user, operator, administrator");
      t.privlvl = l;
    } else if (k == "poll_ms") {
      if (!AllDigits(v) || v.size() > 5 || std::atoi(v.c_str()) > 10000)
        return bad("poll_ms '" + v + "' is not a number of milliseconds in 0..10000");
      t.poll = std::chrono::milliseconds(std::atoi(v.c_str()));
    } else if (k == "lanplus") {
      if (v == "0")
        return bad("lanplus=0 (IPMI 1.5) is not supported: its authentication is weak; use IPMI 2.0 (lanplus)");
      if (v != "1") return bad("lanplus '" + v + "' must be 1");
    } else {
      return bad("unknown option '" + k + "'; known: cipher, timeout, privlvl, poll_ms, lanplus");
    }
  }
  return t;
}

Result<std::unique_ptr<FenceDriver>> OpenFenceDriver(const std::string& uri) {
  if (uri == "none") return std::unique_ptr<FenceDriver>(new NoneFence);
  auto t = ParseIpmiUri(uri);
  if (!t.ok()) return t.error();
  return std::unique_ptr<FenceDriver>(new fence::IpmitoolFence(std::move(*t)));
}

}  // namespace corepin
