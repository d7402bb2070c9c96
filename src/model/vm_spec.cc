#include "model/vm_spec.h"

#include <charconv>
#include <map>

namespace corepin {
namespace {

bool ParseInt(const std::string& s, int* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// An absolute path a host can open: starts with '/', no "." or ".." component, no control
// characters. Empty when fine, else why not.
std::string PathProblem(const std::string& p) {
  if (p.empty()) return "is empty";
  if (p[0] != '/') return "is not an absolute path";
  if (p.size() > 4095) return "is longer than 4095 characters";
  for (unsigned char c : p)
    if (c < 0x20 || c == 0x7f) return "holds a control character";
  size_t start = 1;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    const std::string part = p.substr(start, end - start);
    if (part == "." || part == "..") return "holds a \"" + part + "\" component";
    start = end + 1;
  }
  if (p.back() == '/') return "names a directory";
  return "";
}

// Empty when every '{' starts {name} or {role} and every '}' ends one; else why not.
std::string PlaceholderProblem(const std::string& cmdline) {
  for (size_t i = 0; i < cmdline.size(); ++i) {
    if (cmdline[i] == '{') {
      size_t close = cmdline.find('}', i);
      std::string ph = close == std::string::npos ? cmdline.substr(i) : cmdline.substr(i, close - i + 1);
      if (ph != "{name}" && ph != "{role}")
        return "\"" + ph + "\" at offset " + std::to_string(i) + " is not a placeholder; use {name} or {role}";
      i = close;
    } else if (cmdline[i] == '}') {
      return "'}' at offset " + std::to_string(i) + " closes no placeholder; use {name} or {role}";
    }
  }
  return "";
}

bool IsValidInterfaceName(const std::string& n) {
  if (n.empty() || n.size() > 8) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

}  // namespace

std::string ExpandCmdline(const std::string& cmdline, const std::string& name, const std::string& role) {
  std::string out;
  for (size_t i = 0; i < cmdline.size();) {
    if (cmdline.compare(i, 6, "{name}") == 0) {
      out += name;
      i += 6;
    } else if (cmdline.compare(i, 6, "{role}") == 0) {
      out += role;
      i += 6;
    } else {
      out += cmdline[i++];
    }
  }
  return out;
}

std::string NormalizeMac(const std::string& mac) {
  if (mac.size() != 17) return "";
  std::string out;
  for (size_t i = 0; i < 17; ++i) {
    char c = mac[i];
    if (i % 3 == 2) {
      if (c != ':') return "";
    } else if (c >= '0' && c <= '9') {
    } else if (c >= 'a' && c <= 'f') {
    } else if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    } else {
      return "";
    }
    out += c;
  }
  return out;
}

bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return false;
  for (char c : name)
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

namespace {

// "group:NAME" -> NAME, checked: the one parser for vCPU and emulator thread groups.
Result<std::string> ParseGroupRef(const std::string& text) {
  std::string name = text.substr(6);
  if (!IsValidName(name)) return Invalid("\"" + text + "\": group name must match [A-Za-z0-9][A-Za-z0-9_.-]{0,62}");
  return name;
}

}  // namespace

Result<VcpuPolicy> VcpuPolicy::Parse(const std::string& text) {
  VcpuPolicy p;
  if (text == "dedicated") return p;
  if (text.rfind("group:", 0) == 0) {
    auto g = ParseGroupRef(text);
    if (!g) return g.error();
    p.kind = Kind::kGroup;
    p.group = *g;
    return p;
  }
  if (text.rfind("pinned:", 0) == 0) {
    p.kind = Kind::kPinned;
    if (!ParseInt(text.substr(7), &p.pcpu) || p.pcpu < 0)
      return Invalid("\"" + text + "\": pinned needs a pCPU number, e.g. pinned:5");
    return p;
  }
  return Invalid("\"" + text + "\" is not a vCPU policy; use dedicated, group:NAME or pinned:N");
}

std::string VcpuPolicy::ToString() const {
  switch (kind) {
    case Kind::kDedicated: return "dedicated";
    case Kind::kGroup: return "group:" + group;
    case Kind::kPinned: return "pinned:" + std::to_string(pcpu);
  }
  return "?";
}

Result<EmulatorPolicy> EmulatorPolicy::Parse(const std::string& text) {
  EmulatorPolicy p;
  if (text == "housekeeping") return p;
  if (text == "isolate") {
    p.kind = Kind::kIsolate;
    return p;
  }
  if (text.rfind("group:", 0) == 0) {
    auto g = ParseGroupRef(text);
    if (!g) return g.error();
    p.kind = Kind::kGroup;
    p.group = *g;
    return p;
  }
  return Invalid("\"" + text + "\" is not an emulator thread policy; use housekeeping, isolate or group:NAME");
}

std::string EmulatorPolicy::ToString() const {
  switch (kind) {
    case Kind::kHousekeeping: return "housekeeping";
    case Kind::kIsolate: return "isolate";
    case Kind::kGroup: return "group:" + group;
  }
  return "?";
}

const char* ToString(SmtPolicy p) {
  switch (p) {
    case SmtPolicy::kPrefer: return "prefer";
    case SmtPolicy::kIsolate: return "isolate";
    case SmtPolicy::kRequire: return "require";
  }
  return "?";
}

const char* ToString(NumaPolicy p) { return p == NumaPolicy::kSingle ? "single" : "spread"; }

Result<SmtPolicy> ParseSmtPolicy(const std::string& t) {
  if (t == "prefer") return SmtPolicy::kPrefer;
  if (t == "isolate") return SmtPolicy::kIsolate;
  if (t == "require") return SmtPolicy::kRequire;
  return Invalid("\"" + t + "\" is not an SMT policy; use isolate, prefer or require");
}

Result<NumaPolicy> ParseNumaPolicy(const std::string& t) {
  if (t == "single") return NumaPolicy::kSingle;
  if (t == "spread") return NumaPolicy::kSpread;
  return Invalid("\"" + t + "\" is not a NUMA policy; use single or spread");
}

Result<uint64_t> ParsePageSize(const std::string& t) {
  if (t == "4K") return uint64_t{4};
  if (t == "2M") return uint64_t{2048};
  if (t == "1G") return uint64_t{1048576};
  return Invalid("\"" + t + "\" is not a page size; use 4K, 2M or 1G");
}

std::string PageSizeToString(uint64_t kib) {
  if (kib == 2048) return "2M";
  if (kib == 1048576) return "1G";
  return "4K";
}

Status ValidateSpec(const VmSpec& s) {
  if (!IsValidName(s.name))
    return Invalid("name: \"" + s.name + "\" is not a valid VM name; use 1-63 of [A-Za-z0-9_.-], starting with a letter or digit");
  const int n = static_cast<int>(s.vcpus.size());
  if (n < 1 || n > VmSpec::kMaxVcpus)
    return Invalid("vcpus: " + std::to_string(n) + " is out of range; a VM has 1.." + std::to_string(VmSpec::kMaxVcpus) + " vCPUs");
  std::map<int, int> pinned_by;  // pCPU -> vCPU
  for (int i = 0; i < n; ++i) {
    const auto& p = s.vcpus[i];
    if (p.kind != VcpuPolicy::Kind::kPinned) continue;
    auto [it, fresh] = pinned_by.emplace(p.pcpu, i);
    if (!fresh)
      return Invalid("vcpu_policies[" + std::to_string(i) + "]: pinned:" + std::to_string(p.pcpu) + " is already vCPU " +
                     std::to_string(it->second) + "'s pCPU; a pinned vCPU is alone on its pCPU");
  }
  if (s.memory_mib == 0) return Invalid("memory_mib: must be at least 1");
  if (s.memory_mib > 16ull * 1024 * 1024) return Invalid("memory_mib: " + std::to_string(s.memory_mib) + " is more than 16 TiB");
  if (s.page_kib != 4 && s.page_kib != 2048 && s.page_kib != 1048576)
    return Invalid("page_size: " + std::to_string(s.page_kib) + " KiB is not 4K, 2M or 1G");
  const uint64_t page_mib = s.page_kib / 1024;
  if (page_mib > 0 && s.memory_mib % page_mib != 0)
    return Invalid("memory_mib: " + std::to_string(s.memory_mib) + " is not a multiple of the " + PageSizeToString(s.page_kib) +
                   " page size (" + std::to_string(page_mib) + " MiB)");
  if (!s.nic.empty() && !s.physnet.empty())
    return Invalid("nic and physnet: give one of them, not both (nic names a NIC, physnet any NIC of a physical network)");
  if (s.image) {
    if (auto why = PathProblem(s.image->kernel); !why.empty())
      return Invalid("image.kernel: \"" + s.image->kernel + "\" " + why + "; give the kernel's absolute path on the host");
    if (!s.image->initrd.empty())
      if (auto why = PathProblem(s.image->initrd); !why.empty())
        return Invalid("image.initrd: \"" + s.image->initrd + "\" " + why + "; give the initrd's absolute path on the host");
    const std::string& c = s.image->cmdline;
    for (size_t i = 0; i < c.size(); ++i)
      if (static_cast<unsigned char>(c[i]) < 0x20 || c[i] == 0x7f)
        return Invalid("image.cmdline: holds a control character at offset " + std::to_string(i) + "; a kernel command line is one line");
    if (auto why = PlaceholderProblem(c); !why.empty()) return Invalid("image.cmdline: " + why);
    const size_t expanded = ExpandCmdline(c, s.name, std::string(kMaxRoleLength, 'R')).size();
    if (expanded > VmImage::kMaxCmdline)
      return Invalid("image.cmdline: " + std::to_string(expanded) + " characters once {name} and {role} are filled in; at most " +
                     std::to_string(VmImage::kMaxCmdline));
  }
  const int nif = static_cast<int>(s.interfaces.size());
  if (nif > VmSpec::kMaxInterfaces)
    return Invalid("interfaces: " + std::to_string(nif) + " interfaces; a VM has at most " + std::to_string(VmSpec::kMaxInterfaces));
  std::map<std::string, int> by_name;
  for (int i = 0; i < nif; ++i) {
    const auto& itf = s.interfaces[i];
    const std::string at = "interfaces[" + std::to_string(i) + "]";
    if (!IsValidInterfaceName(itf.name))
      return Invalid(at + ".name: \"" + itf.name + "\" is not an interface name; use 1-8 of [a-z0-9]");
    auto [it, fresh] = by_name.emplace(itf.name, i);
    if (!fresh)
      return Invalid(at + ".name: \"" + itf.name + "\" is already interfaces[" + std::to_string(it->second) +
                     "]'s name; names are unique in a VM");
    if (itf.mac.empty()) continue;
    const std::string mac = NormalizeMac(itf.mac);
    if (mac.empty()) return Invalid(at + ".mac: \"" + itf.mac + "\" is not a MAC address; use six hex pairs, e.g. 52:54:00:12:34:56");
    const int first = std::stoi(mac.substr(0, 2), nullptr, 16);
    if (first & 1) return Invalid(at + ".mac: \"" + itf.mac + "\" is a multicast address; a NIC needs a unicast one (first octet even)");
    if (mac == "00:00:00:00:00:00") return Invalid(at + ".mac: \"" + itf.mac + "\" is all zeros; give a real unicast address");
  }
  return Status::Ok();
}

}  // namespace corepin
