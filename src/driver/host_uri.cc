#include "driver/host_uri.h"

#include <cctype>
#include <map>
#include <string_view>
#include <vector>

namespace corepin {
namespace {

constexpr char kAccepted[] =
    "; accepted: qemu:///system, qemu+unix:///system[?socket=PATH/libvirt-sock], "
    "qemu+ssh://[USER@]HOST[:PORT]/system, qemu+tls://HOST[:PORT]/system";

Status Refuse(const std::string& uri, const std::string& why) {
  // The URI is echoed only as a short prefix: it came from the network.
  std::string shown = uri.size() > 80 ? uri.substr(0, 80) + "..." : uri;
  return Unprocessable("host uri \"" + shown + "\" refused: " + why + kAccepted);
}

// Characters a URI we accept may hold. No '%' (a percent-encoded "command" would slip past a
// check on names), no spaces or control characters, no quotes.
bool SafeChars(const std::string& s) {
  for (unsigned char c : s)
    if (!(std::isalnum(c) || std::string_view("-._~/:@[]?&=#+,").find(static_cast<char>(c)) != std::string_view::npos))
      return false;
  return true;
}

bool IsName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  return s != "." && s != "..";
}

// An absolute path with no "." or ".." component.
bool IsPlainAbsolutePath(const std::string& p) {
  if (p.size() < 2 || p[0] != '/') return false;
  size_t at = 1;
  while (at <= p.size()) {
    size_t next = p.find('/', at);
    if (next == std::string::npos) next = p.size();
    const std::string part = p.substr(at, next - at);
    if (part.empty() || part == "." || part == "..") return false;
    at = next + 1;
  }
  return true;
}

// A libvirtd socket: an absolute path to a file named libvirt-sock (the lab's hosts are
// /proc/PID/root/run/libvirt/libvirt-sock).
bool IsLibvirtSocket(const std::string& p) {
  constexpr std::string_view kName = "/libvirt-sock";
  return IsPlainAbsolutePath(p) && p.size() > kName.size() && p.compare(p.size() - kName.size(), kName.size(), kName) == 0;
}

Status CheckFixture(const std::string& uri, const std::string& rest) {
  std::string shape = rest, id;
  if (auto hash = rest.find('#'); hash != std::string::npos) shape = rest.substr(0, hash), id = rest.substr(hash + 1);
  if (!id.empty() && !IsName(id)) return Refuse(uri, "the #ID after a fixture is a name of letters, digits, '-', '_', '.'");
  if (shape.rfind("//", 0) == 0) {
    const std::string path = shape.substr(2);
    if (!IsPlainAbsolutePath(path) || path.size() < 5 || path.substr(path.size() - 4) != ".xml")
      return Refuse(uri, "a fixture file is fixture:///ABSOLUTE/PATH.xml");
    return Status::Ok();
  }
  if (!IsName(shape)) return Refuse(uri, "a fixture is named by a shape of tests/fixtures/hosts, e.g. fixture:2s32c-smt2#h1");
  return Status::Ok();
}

struct Parsed {
  std::string driver, transport, authority, path;
  std::vector<std::pair<std::string, std::string>> params;
};

Result<Parsed> Parse(const std::string& uri) {
  Parsed p;
  const size_t sep = uri.find("://");
  if (sep == std::string::npos) return Refuse(uri, "not a URI (a bare name may be a libvirt alias, which is not taken)").error();
  const std::string scheme = uri.substr(0, sep);
  if (auto plus = scheme.find('+'); plus != std::string::npos) {
    p.driver = scheme.substr(0, plus);
    p.transport = scheme.substr(plus + 1);
  } else {
    p.driver = scheme;
  }
  std::string rest = uri.substr(sep + 3);
  if (rest.find('#') != std::string::npos) return Refuse(uri, "a libvirt URI has no #fragment").error();
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) query = rest.substr(q + 1), rest = rest.substr(0, q);
  const size_t slash = rest.find('/');
  p.authority = slash == std::string::npos ? rest : rest.substr(0, slash);
  p.path = slash == std::string::npos ? "" : rest.substr(slash);
  size_t at = 0;
  while (!query.empty() && at <= query.size()) {
    size_t next = query.find('&', at);  // libvirt also splits on ';', which SafeChars refuses
    if (next == std::string::npos) next = query.size();
    const std::string item = query.substr(at, next - at);
    const size_t eq = item.find('=');
    p.params.emplace_back(item.substr(0, eq), eq == std::string::npos ? "" : item.substr(eq + 1));
    at = next + 1;
  }
  return p;
}

// Why each parameter libvirt knows is refused, so the message teaches rather than just says no.
const std::map<std::string, std::string>& DangerousParams() {
  static const std::map<std::string, std::string> why = {
      {"command", "runs a program on this machine"},
      {"netcat", "runs a program on the remote host"},
      {"keyfile", "reads a file of this machine"},
      {"pkipath", "reads files of this machine"},
      {"known_hosts", "reads a file of this machine"},
      {"no_verify", "turns off TLS certificate checks"},
      {"tls_priority", "changes TLS settings"},
  };
  return why;
}

Status CheckParams(const std::string& uri, const Parsed& p) {
  for (const auto& [name, value] : p.params) {
    if (name == "socket") {
      if (!IsLibvirtSocket(value)) return Refuse(uri, "socket= must be an absolute path to a libvirtd socket named libvirt-sock");
    } else if (name == "mode" && p.transport == "ssh") {
      if (value != "auto" && value != "legacy" && value != "netcat" && value != "native")
        return Refuse(uri, "mode= is auto, legacy, netcat or native");
    } else if (name == "no_tty" && p.transport == "ssh") {
      if (value != "0" && value != "1") return Refuse(uri, "no_tty= is 0 or 1");
    } else {
      return Refuse(uri, "parameter \"" + name.substr(0, 32) + "\" is not among those corepin passes to libvirt (socket, and mode, no_tty over ssh)");
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckHostUri(const std::string& uri, const HostUriPolicy& policy) {
  if (uri.empty()) return Refuse(uri, "empty (libvirt would pick a default connection)");
  if (uri.size() > 512) return Refuse(uri, "longer than 512 characters");
  if (!SafeChars(uri)) return Refuse(uri, "holds a character outside letters, digits and -._~/:@[]?&=#+, (no %-escapes)");
  constexpr std::string_view kFixture = "fixture:";
  if (uri.compare(0, kFixture.size(), kFixture) == 0) {
    if (!policy.allow_simulated) return Refuse(uri, "simulated hosts (fixture:) are for tests; start corepind with --allow-simulated-hosts to use them");
    return CheckFixture(uri, uri.substr(kFixture.size()));
  }
  auto parsed = Parse(uri);
  if (!parsed) return parsed.error();
  const Parsed& p = *parsed;
  // The parameters that run programs or read files are named first, whatever else is wrong.
  for (const auto& [name, value] : p.params)
    if (auto d = DangerousParams().find(name); d != DangerousParams().end()) return Refuse(uri, "parameter " + name + "= " + d->second);
  if (p.driver == "test") {
    if (!policy.allow_simulated) return Refuse(uri, "libvirt's test driver is for tests; start corepind with --allow-simulated-hosts to use it");
    if (!p.transport.empty() || !p.authority.empty() || !p.params.empty()) return Refuse(uri, "a test driver URI is test:///default or test:///ABSOLUTE/PATH.xml");
    if (p.path != "/default" && !(IsPlainAbsolutePath(p.path) && p.path.size() > 4 && p.path.substr(p.path.size() - 4) == ".xml"))
      return Refuse(uri, "a test driver URI is test:///default or test:///ABSOLUTE/PATH.xml");
    return Status::Ok();
  }
  if (p.driver != "qemu") return Refuse(uri, "driver \"" + p.driver.substr(0, 32) + "\": corepin manages KVM hosts through libvirt's qemu driver");
  if (p.path != "/system") return Refuse(uri, "path \"" + p.path.substr(0, 32) + "\": corepin needs the system instance, /system");
  const std::string& t = p.transport;
  if (t == "tcp" && !policy.allow_tcp) return Refuse(uri, "transport tcp is unencrypted and unauthenticated; use ssh or tls, or start corepind with --allow-tcp-hosts");
  if (t != "" && t != "unix" && t != "ssh" && t != "tls" && t != "tcp")
    return Refuse(uri, "transport \"" + t.substr(0, 32) + "\" is not one corepin uses (unix, ssh, tls)");
  const bool local = t.empty() || t == "unix";
  if (local && !p.authority.empty()) return Refuse(uri, "a local connection names no host: qemu:///system");
  if (!local && p.authority.empty()) return Refuse(uri, "transport " + t + " needs a host: qemu+" + t + "://HOST/system");
  if (!local && t != "ssh" && p.authority.find('@') != std::string::npos) return Refuse(uri, "a user name is only taken over ssh");
  if (t.empty() && !p.params.empty()) return Refuse(uri, "qemu:///system takes no parameters; use qemu+unix:///system?socket=PATH for another socket");
  if (t == "tls" || t == "tcp") {
    if (!p.params.empty()) return Refuse(uri, "transport " + t + " takes no parameters");
  }
  return CheckParams(uri, p);
}

}  // namespace corepin
