#include "driver/domain_xml.h"

#include <cstdio>
#include <map>
#include <pugixml.hpp>
#include <sstream>
#include <vector>

namespace corepin {
namespace {

// One guest NUMA cell: mirrors one host node of the assignment.
struct GuestCell {
  int host_node = -1;
  uint64_t memory_mib = 0;
  std::vector<int> vcpus;
};

struct CpuTopology {
  int sockets = 1, dies = 1, cores = 1, threads = 1;
};

std::string CsvOf(const std::vector<int>& v) {
  CpuSet s;
  for (int x : v) s.Add(x);
  return s.ToString();
}

// Guest cells, one per host node holding memory, in node order; empty for a one-node VM.
std::vector<GuestCell> GuestCells(const Assignment& a, const HostTopology& topo) {
  std::vector<GuestCell> cells;
  if (a.memory_mib.size() < 2) return cells;
  std::map<int, size_t> cell_of_node;
  for (const auto& [node, mib] : a.memory_mib) {
    cell_of_node[node] = cells.size();
    cells.push_back({node, mib, {}});
  }
  for (size_t v = 0; v < a.vcpu_pcpus.size(); ++v) {
    const Pcpu* p = topo.FindPcpu(a.vcpu_pcpus[v]);
    auto it = p ? cell_of_node.find(p->node) : cell_of_node.end();
    cells[it == cell_of_node.end() ? 0 : it->second].vcpus.push_back(static_cast<int>(v));
  }
  return cells;
}

// threads=2 when vCPUs (0,1), (2,3), ... each sit on two SMT siblings, so the guest sees
// real hyperthread pairs; sockets = guest cells, each cell a contiguous range of vCPUs.
// Anything else is presented flat (1 socket, N cores, 1 thread) rather than wrongly.
CpuTopology GuestTopology(const Assignment& a, const HostTopology& topo, const std::vector<GuestCell>& cells) {
  const int n = static_cast<int>(a.vcpu_pcpus.size());
  CpuTopology flat{1, 1, n, 1};
  if (n == 0) return flat;
  bool smt_pairs = n % 2 == 0;
  for (int i = 0; smt_pairs && i < n; i += 2) {
    const Pcpu* p = topo.FindPcpu(a.vcpu_pcpus[i]);
    int q = a.vcpu_pcpus[i + 1];
    smt_pairs = p && q != p->id && p->siblings.Contains(q);
  }
  CpuTopology t;
  t.threads = smt_pairs ? 2 : 1;
  t.sockets = cells.empty() ? 1 : static_cast<int>(cells.size());
  if (n % (t.sockets * t.threads) != 0) return flat;
  t.cores = n / (t.sockets * t.threads);
  const int per_socket = n / t.sockets;
  for (size_t c = 0; c < cells.size(); ++c) {
    if (static_cast<int>(cells[c].vcpus.size()) != per_socket) return flat;
    for (int k = 0; k < per_socket; ++k)
      if (cells[c].vcpus[k] != static_cast<int>(c) * per_socket + k) return flat;
  }
  return t;
}

void Text(pugi::xml_node parent, const char* name, const std::string& value) {
  parent.append_child(name).text().set(value.c_str());
}

// Offloads a userspace OVS datapath cannot finish (see DomainHostOptions::disable_offload).
void AppendNoOffloadDriver(pugi::xml_node itf) {
  auto driver = itf.append_child("driver");
  driver.append_attribute("name") = "qemu";
  auto host = driver.append_child("host");
  for (const char* a : {"csum", "gso", "tso4", "tso6", "ecn", "ufo"}) host.append_attribute(a) = "off";
  auto guest = driver.append_child("guest");
  for (const char* a : {"csum", "tso4", "tso6", "ecn", "ufo"}) guest.append_attribute(a) = "off";
}

bool IsValidRole(const std::string& role) {
  if (role.size() > 16) return false;
  for (char c : role)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
      return false;
  return true;
}

bool IsValidBridge(const std::string& b) {
  if (b.empty() || b.size() > 15) return false;
  for (unsigned char c : b)
    if (c <= 0x20 || c == 0x7f || c == '/' || c == ':' || c == '\'' || c == '"') return false;
  return true;
}

}  // namespace

Result<std::string> BuildDomainXml(const VmSpec& spec, const Assignment& a, const HostTopology& topo,
                                   const std::string& metadata_json, const DomainHostOptions& host,
                                   const std::string& role) {
  const std::string vm = "VM '" + spec.name + "': ";
  bool kvm = topo.SupportsDomainType("kvm");
  if (host.domain_type == "qemu") {
    kvm = false;
  } else if (host.domain_type == "kvm") {
    if (!kvm) return Unprocessable(vm + "domain type kvm is forced, but the host does not list kvm among its domain types");
  } else if (!host.domain_type.empty()) {
    return Invalid(vm + "domain type \"" + host.domain_type + "\" is not kvm or qemu (or empty: kvm when the host has it)");
  }
  if (!IsValidRole(role)) return Invalid(vm + "role \"" + role + "\" is not a role; use ACT, SBY or empty");
  if (!spec.interfaces.empty()) {
    if (host.bridge.empty())
      return Unprocessable(vm + "it has " + std::to_string(spec.interfaces.size()) +
                           " interface(s) but the host has no bridge for VM interfaces; set the host's bridge");
    if (!IsValidBridge(host.bridge))
      return Invalid(vm + "bridge \"" + host.bridge + "\" is not a bridge name (1-15 characters, no spaces, '/', ':' or quotes)");
  }
  std::string cmdline;
  if (spec.image) {
    cmdline = ExpandCmdline(spec.image->cmdline, spec.name, role);
    if (cmdline.size() > VmImage::kMaxCmdline)
      return Invalid(vm + "the kernel command line is " + std::to_string(cmdline.size()) + " characters once {name} and {role} are filled in; at most " +
                     std::to_string(VmImage::kMaxCmdline));
  }
  const auto cells = GuestCells(a, topo);
  const auto cpu_topo = GuestTopology(a, topo, cells);
  uint64_t memory_mib = 0;
  for (const auto& [node, mib] : a.memory_mib) memory_mib += mib;
  if (memory_mib == 0) memory_mib = spec.memory_mib;

  pugi::xml_document doc;
  auto dom = doc.append_child("domain");
  dom.append_attribute("type") = kvm ? "kvm" : "qemu";
  Text(dom, "name", spec.name);

  // The element virDomainGetMetadata returns: prefix and namespace as libvirt requires.
  auto meta = dom.append_child("metadata").append_child((std::string(kCorepinMetadataPrefix) + ":vm").c_str());
  meta.append_attribute((std::string("xmlns:") + kCorepinMetadataPrefix).c_str()) = kCorepinMetadataUri;
  meta.text().set(metadata_json.c_str());  // a text node: pugixml escapes <, & and friends

  auto mem = dom.append_child("memory");
  mem.append_attribute("unit") = "MiB";
  mem.text().set(std::to_string(memory_mib).c_str());
  if (a.page_kib == 2048 || a.page_kib == 1048576) {
    auto page = dom.append_child("memoryBacking").append_child("hugepages").append_child("page");
    page.append_attribute("size") = std::to_string(a.page_kib).c_str();
    page.append_attribute("unit") = "KiB";
  }

  auto vcpu = dom.append_child("vcpu");
  vcpu.append_attribute("placement") = "static";
  vcpu.text().set(std::to_string(a.vcpu_pcpus.size()).c_str());

  auto cputune = dom.append_child("cputune");
  for (size_t i = 0; i < a.vcpu_pcpus.size(); ++i) {
    auto pin = cputune.append_child("vcpupin");
    pin.append_attribute("vcpu") = std::to_string(i).c_str();
    pin.append_attribute("cpuset") = std::to_string(a.vcpu_pcpus[i]).c_str();
  }
  if (!a.emulator.Empty()) cputune.append_child("emulatorpin").append_attribute("cpuset") = a.emulator.ToString().c_str();

  if (!a.memory_mib.empty()) {
    std::vector<int> nodes;
    for (const auto& [node, mib] : a.memory_mib) nodes.push_back(node);
    auto numatune = dom.append_child("numatune");
    auto m = numatune.append_child("memory");
    m.append_attribute("mode") = "strict";
    m.append_attribute("nodeset") = CsvOf(nodes).c_str();
    for (size_t c = 0; c < cells.size(); ++c) {
      auto mn = numatune.append_child("memnode");
      mn.append_attribute("cellid") = std::to_string(c).c_str();
      mn.append_attribute("mode") = "strict";
      mn.append_attribute("nodeset") = std::to_string(cells[c].host_node).c_str();
    }
  }

  auto os = dom.append_child("os");
  auto os_type = os.append_child("type");
  os_type.append_attribute("arch") = "x86_64";
  os_type.append_attribute("machine") = "pc";
  os_type.text().set("hvm");
  if (spec.image) {  // direct kernel boot: QEMU loads the kernel and initrd, no firmware boot menu
    Text(os, "kernel", spec.image->kernel);
    if (!spec.image->initrd.empty()) Text(os, "initrd", spec.image->initrd);
    if (!cmdline.empty()) Text(os, "cmdline", cmdline);
  }

  // TCG cannot pass the host CPU through; it keeps QEMU's default model.
  auto cpu = dom.append_child("cpu");
  if (kvm) {
    cpu.append_attribute("mode") = "host-passthrough";
    // On AMD, IA32_ARCH_CAPABILITIES is an Intel MSR that KVM only emulates, and under nested
    // KVM (these lab machines) QEMU 7.2 aborts at start setting it ("failed to set MSR 0x10a").
    // An AMD guest kernel takes its speculation facts from the vendor, so it loses nothing.
    if (topo.cpu_vendor == "AMD") {
      auto f = cpu.append_child("feature");
      f.append_attribute("policy") = "disable";
      f.append_attribute("name") = "arch-capabilities";
    }
  }
  auto t = cpu.append_child("topology");
  t.append_attribute("sockets") = cpu_topo.sockets;
  t.append_attribute("dies") = cpu_topo.dies;
  t.append_attribute("cores") = cpu_topo.cores;
  t.append_attribute("threads") = cpu_topo.threads;
  if (!cells.empty()) {
    auto numa = cpu.append_child("numa");
    for (size_t c = 0; c < cells.size(); ++c) {
      auto cell = numa.append_child("cell");
      cell.append_attribute("id") = std::to_string(c).c_str();
      if (!cells[c].vcpus.empty()) cell.append_attribute("cpus") = CsvOf(cells[c].vcpus).c_str();
      cell.append_attribute("memory") = std::to_string(cells[c].memory_mib).c_str();
      cell.append_attribute("unit") = "MiB";
    }
  }

  Text(dom, "on_poweroff", "destroy");
  // A booted kernel that reboots (panic=-1, a crash) stops instead of looping; reconcile sees it.
  Text(dom, "on_reboot", spec.image ? "destroy" : "restart");
  Text(dom, "on_crash", "destroy");

  // No disk: without an image the guest sits in the firmware, which is all pinning needs.
  // NICs on the host's bridge; a serial console (logged on the host when a kernel boots);
  // no USB, no balloon (it would move memory behind numatune's back).
  auto devices = dom.append_child("devices");
  for (const auto& nic : spec.interfaces) {
    auto itf = devices.append_child("interface");
    itf.append_attribute("type") = "bridge";
    if (!nic.mac.empty()) itf.append_child("mac").append_attribute("address") = nic.mac.c_str();
    itf.append_child("source").append_attribute("bridge") = host.bridge.c_str();
    if (host.virtualport_openvswitch) itf.append_child("virtualport").append_attribute("type") = "openvswitch";
    itf.append_child("target").append_attribute("dev") = PortName(spec.name, host.host, nic.name).c_str();
    itf.append_child("model").append_attribute("type") = "virtio";
    if (host.disable_offload) AppendNoOffloadDriver(itf);
    // A user alias ("ua-" + the interface's name) ties the device back to the spec.
    itf.append_child("alias").append_attribute("name") = ("ua-" + nic.name).c_str();
  }
  auto serial = devices.append_child("serial");
  serial.append_attribute("type") = "pty";
  if (spec.image) {
    auto log = serial.append_child("log");
    log.append_attribute("file") = ("/var/log/libvirt/qemu/" + spec.name + ".console").c_str();
    log.append_attribute("append") = "off";
  }
  serial.append_child("target").append_attribute("port") = 0;
  auto console = devices.append_child("console");
  console.append_attribute("type") = "pty";
  auto ctarget = console.append_child("target");
  ctarget.append_attribute("type") = "serial";
  ctarget.append_attribute("port") = 0;
  auto usb = devices.append_child("controller");
  usb.append_attribute("type") = "usb";
  usb.append_attribute("model") = "none";
  devices.append_child("memballoon").append_attribute("model") = "none";

  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default | pugi::format_no_declaration);
  return out.str();
}

Result<std::string> RepinDomainXml(const std::string& xml, const std::vector<CpuSet>& vcpu_pins, const CpuSet& emulator_pin,
                                   const std::string& metadata_json) {
  pugi::xml_document doc;
  if (!doc.load_string(xml.c_str())) return Invalid("domain XML does not parse");
  auto dom = doc.child("domain");
  auto cputune = dom.child("cputune") ? dom.child("cputune") : dom.append_child("cputune");
  while (cputune.child("vcpupin")) cputune.remove_child("vcpupin");
  while (cputune.child("emulatorpin")) cputune.remove_child("emulatorpin");
  for (size_t i = 0; i < vcpu_pins.size(); ++i) {
    auto pin = cputune.append_child("vcpupin");
    pin.append_attribute("vcpu") = static_cast<unsigned>(i);
    pin.append_attribute("cpuset") = vcpu_pins[i].ToString().c_str();
  }
  if (!emulator_pin.Empty()) cputune.append_child("emulatorpin").append_attribute("cpuset") = emulator_pin.ToString().c_str();
  auto meta = dom.child("metadata").child((std::string(kCorepinMetadataPrefix) + ":vm").c_str());
  if (!meta) return Invalid("domain XML has no corepin metadata");
  meta.text().set(metadata_json.c_str());
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default | pugi::format_no_declaration);
  return out.str();
}

Result<CpuSet> NumatuneNodeset(const std::string& xml) {
  pugi::xml_document doc;
  if (!doc.load_string(xml.c_str()) || !doc.child("domain")) return Invalid("domain XML does not parse");
  return CpuSet::Parse(doc.child("domain").child("numatune").child("memory").attribute("nodeset").as_string());
}

Result<std::string> MigrationDomainXml(const std::string& source_xml, const std::string& dest_xml,
                                       const std::map<std::string, int>& vlans) {
  pugi::xml_document src, dst;
  if (!src.load_string(source_xml.c_str()) || !src.child("domain")) return Invalid("the source's domain XML does not parse");
  if (!dst.load_string(dest_xml.c_str()) || !dst.child("domain")) return Invalid("the destination's domain XML does not parse");
  auto to = src.child("domain");
  auto from = dst.child("domain");
  // Whole elements that belong to the host: replaced (or removed, when the destination has none).
  for (const char* name : {"cputune", "numatune", "metadata"}) {
    auto old = to.child(name);
    auto now = from.child(name);
    if (now && old) to.insert_copy_after(now, old);
    else if (now) to.append_copy(now);
    if (old) to.remove_child(old);
  }
  // Interfaces, by their user alias: the host's side of the NIC from the destination.
  auto alias_of = [](pugi::xml_node itf) { return std::string(itf.child("alias").attribute("name").as_string()); };
  std::map<std::string, pugi::xml_node> dest_nics;
  for (auto itf : from.child("devices").children("interface")) dest_nics[alias_of(itf)] = itf;
  size_t matched = 0;
  for (auto itf : to.child("devices").children("interface")) {
    const std::string alias = alias_of(itf);
    auto d = dest_nics.find(alias);
    if (d == dest_nics.end()) return Invalid("interface " + (alias.empty() ? std::string("(no alias)") : alias) + " of the source is not in the destination's definition");
    ++matched;
    for (const char* part : {"source", "target", "virtualport", "vlan"}) {
      auto old = itf.child(part);
      auto now = d->second.child(part);
      if (now && old) itf.insert_copy_after(now, old);
      else if (now) itf.prepend_copy(now);
      if (old) itf.remove_child(old);
    }
    const std::string name = alias.rfind("ua-", 0) == 0 ? alias.substr(3) : alias;
    if (auto vlan = vlans.find(name); vlan != vlans.end()) {
      auto tag = itf.insert_child_after("vlan", itf.child("source")).append_child("tag");
      tag.append_attribute("id") = vlan->second;
    }
  }
  if (matched != dest_nics.size()) return Invalid("the destination's definition has interfaces the source has not");
  std::ostringstream out;
  src.save(out, "  ", pugi::format_default | pugi::format_no_declaration);
  return out.str();
}

std::string MetadataElement(const std::string& metadata_json) {
  pugi::xml_document doc;
  doc.append_child("vm").text().set(metadata_json.c_str());
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw | pugi::format_no_declaration);
  return out.str();
}

std::string MetadataJsonFromElement(const std::string& element_xml) {
  pugi::xml_document doc;
  if (!doc.load_string(element_xml.c_str())) return "";
  // Text and CDATA children alike (libvirt keeps whichever was written).
  std::string json;
  for (auto child : doc.document_element().children())
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) json += child.value();
  return json;
}

}  // namespace corepin
