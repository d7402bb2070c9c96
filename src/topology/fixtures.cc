#include "topology/fixtures.h"

#include <algorithm>
#include <fstream>
#include <pugixml.hpp>
#include <sstream>

#include "topology/capabilities_parser.h"

namespace corepin {

Result<HostTopology> ParseHostFixture(const std::string& xml) {
  pugi::xml_document doc;
  auto parsed = doc.load_string(xml.c_str());
  if (!parsed) return Invalid(std::string("host fixture does not parse: ") + parsed.description());
  auto root = doc.child("corepin-host-fixture");
  if (!root) return Invalid("host fixture has no <corepin-host-fixture> root");
  std::ostringstream caps;
  root.child("capabilities").print(caps);
  auto topo = ParseCapabilities(caps.str());
  if (!topo.ok()) return topo;
  for (auto n : root.child("nics").children("nic")) {
    Nic nic;
    nic.name = n.attribute("name").as_string();
    nic.node = n.attribute("node").as_int(-1);
    nic.address = n.attribute("address").as_string();
    topo->nics.push_back(nic);
  }
  std::sort(topo->nics.begin(), topo->nics.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return topo;
}

Result<HostTopology> LoadHostFixture(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("host fixture " + path + " cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseHostFixture(ss.str());
}

std::string HostTopologyToXml(const HostTopology& topo) {
  pugi::xml_document doc;
  auto root = doc.append_child("corepin-host-fixture");
  auto caps = root.append_child("capabilities");
  auto host = caps.append_child("host");
  auto cpu = host.append_child("cpu");
  cpu.append_child("arch").text() = topo.arch.c_str();
  cpu.append_child("model").text() = topo.cpu_model.c_str();
  cpu.append_child("vendor").text() = topo.cpu_vendor.c_str();
  auto cells = host.append_child("topology").append_child("cells");
  cells.append_attribute("num") = static_cast<int>(topo.nodes.size());
  for (const auto& n : topo.nodes) {
    auto cell = cells.append_child("cell");
    cell.append_attribute("id") = n.id;
    auto mem = cell.append_child("memory");
    mem.append_attribute("unit") = "KiB";
    mem.text() = static_cast<unsigned long long>(n.memory_kib);
    for (const auto& p : n.pages) {
      auto pages = cell.append_child("pages");
      pages.append_attribute("unit") = "KiB";
      pages.append_attribute("size") = static_cast<unsigned long long>(p.size_kib);
      pages.text() = static_cast<unsigned long long>(p.total_pages);
    }
    auto cpus = cell.append_child("cpus");
    cpus.append_attribute("num") = n.pcpus.Size();
    for (int id : n.pcpus.ToVector()) {
      const Pcpu* p = topo.FindPcpu(id);
      auto c = cpus.append_child("cpu");
      c.append_attribute("id") = p->id;
      c.append_attribute("socket_id") = p->socket;
      c.append_attribute("die_id") = p->die;
      c.append_attribute("core_id") = p->core;
      c.append_attribute("siblings") = p->siblings.ToString().c_str();
    }
  }
  auto arch = caps.append_child("guest").append_child("arch");
  arch.append_attribute("name") = topo.arch.c_str();
  for (const auto& t : topo.domain_types) arch.append_child("domain").append_attribute("type") = t.c_str();
  auto nics = root.append_child("nics");
  for (const auto& n : topo.nics) {
    auto nic = nics.append_child("nic");
    nic.append_attribute("name") = n.name.c_str();
    nic.append_attribute("node") = n.node;
    nic.append_attribute("address") = n.address.c_str();
  }
  std::ostringstream out;
  doc.save(out, "  ");
  return out.str();
}

std::string HostFixturePath(const std::string& name) {
  return std::string(COREPIN_SOURCE_DIR) + "/tests/fixtures/hosts/" + name + ".xml";
}

}  // namespace corepin
