#include "topology/capabilities_parser.h"

#include <algorithm>
#include <map>
#include <pugixml.hpp>

namespace corepin {
namespace {

uint64_t ToKib(uint64_t value, const std::string& unit) {
  if (unit.empty() || unit == "KiB" || unit == "k" || unit == "K") return value;
  if (unit == "MiB" || unit == "M") return value * 1024;
  if (unit == "GiB" || unit == "G") return value * 1024 * 1024;
  if (unit == "b" || unit == "bytes") return value / 1024;
  return value;
}

}  // namespace

Result<HostTopology> ParseCapabilities(const std::string& xml) {
  pugi::xml_document doc;
  auto parsed = doc.load_string(xml.c_str());
  if (!parsed) return Invalid(std::string("capabilities XML does not parse: ") + parsed.description());
  auto host = doc.child("capabilities").child("host");
  if (!host) return Invalid("capabilities XML has no <capabilities><host> element");

  HostTopology topo;
  auto cpu = host.child("cpu");
  topo.arch = cpu.child_value("arch");
  topo.cpu_vendor = cpu.child_value("vendor");
  topo.cpu_model = cpu.child_value("model");

  auto cells = host.child("topology").child("cells");
  if (!cells) return Invalid("capabilities XML has no <topology><cells>: libvirt cannot see this host's NUMA layout");
  for (auto cell : cells.children("cell")) {
    NumaNode node;
    node.id = cell.attribute("id").as_int(-1);
    auto mem = cell.child("memory");
    node.memory_kib = ToKib(mem.text().as_ullong(), mem.attribute("unit").as_string());
    for (auto pages : cell.children("pages")) {
      PagePool pool;
      pool.size_kib = ToKib(pages.attribute("size").as_ullong(), pages.attribute("unit").as_string());
      pool.total_pages = pages.text().as_ullong();
      node.pages.push_back(pool);
    }
    for (auto c : cell.child("cpus").children("cpu")) {
      Pcpu p;
      p.id = c.attribute("id").as_int(-1);
      p.node = node.id;
      p.socket = c.attribute("socket_id").as_int(0);
      p.die = c.attribute("die_id").as_int(0);
      p.core = c.attribute("core_id").as_int(p.id);
      auto sib = CpuSet::Parse(c.attribute("siblings").as_string());
      if (!sib.ok()) return Invalid("pCPU " + std::to_string(p.id) + ": " + sib.error().message);
      p.siblings = *sib;
      if (p.siblings.Empty()) p.siblings.Add(p.id);
      if (p.id < 0) return Invalid("capabilities XML has a <cpu> without an id in cell " + std::to_string(node.id));
      node.pcpus.Add(p.id);
      topo.pcpus.push_back(p);
    }
    topo.nodes.push_back(std::move(node));
  }
  if (topo.nodes.empty() || topo.pcpus.empty()) return Invalid("capabilities XML lists no NUMA cell or no pCPU");
  std::sort(topo.nodes.begin(), topo.nodes.end(), [](auto& a, auto& b) { return a.id < b.id; });
  std::sort(topo.pcpus.begin(), topo.pcpus.end(), [](auto& a, auto& b) { return a.id < b.id; });

  // Cores: pCPUs sharing (socket, die, core_id). Index them host-wide.
  std::map<std::tuple<int, int, int>, int> core_of;
  for (auto& p : topo.pcpus) {
    auto key = std::make_tuple(p.socket, p.die, p.core);
    auto it = core_of.find(key);
    if (it == core_of.end()) {
      it = core_of.emplace(key, static_cast<int>(topo.cores.size())).first;
      Core c;
      c.index = it->second;
      c.node = p.node;
      c.socket = p.socket;
      topo.cores.push_back(c);
    }
    p.core_index = it->second;
    topo.cores[it->second].pcpus.Add(p.id);
  }
  for (const auto& c : topo.cores) topo.threads_per_core = std::max(topo.threads_per_core, c.pcpus.Size());

  for (auto guest : doc.child("capabilities").children("guest")) {
    for (auto dom : guest.child("arch").children("domain")) {
      std::string t = dom.attribute("type").as_string();
      if (!t.empty() && !topo.SupportsDomainType(t)) topo.domain_types.push_back(t);
    }
  }
  return topo;
}

Status AddNics(const std::vector<NodeDeviceXml>& devices, HostTopology* topo) {
  for (const auto& d : devices) {
    pugi::xml_document doc;
    if (!doc.load_string(d.net_xml.c_str())) return Invalid("node device XML does not parse");
    auto dev = doc.child("device");
    pugi::xml_node netcap;
    for (auto cap : dev.children("capability"))
      if (std::string(cap.attribute("type").as_string()) == "net") netcap = cap;
    if (!netcap) continue;
    Nic nic;
    nic.name = netcap.child_value("interface");
    nic.address = netcap.child_value("address");
    if (nic.name.empty() || nic.name == "lo") continue;
    if (!d.parent_xml.empty()) {
      pugi::xml_document pdoc;
      if (pdoc.load_string(d.parent_xml.c_str())) {
        for (auto cap : pdoc.child("device").children("capability")) {
          if (std::string(cap.attribute("type").as_string()) != "pci") continue;
          auto numa = cap.child("numa");
          if (numa) nic.node = numa.attribute("node").as_int(-1);
        }
      }
    }
    if (nic.node < 0 && topo->nodes.size() == 1) nic.node = topo->nodes.front().id;
    topo->nics.push_back(std::move(nic));
  }
  std::sort(topo->nics.begin(), topo->nics.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return Status::Ok();
}

}  // namespace corepin
