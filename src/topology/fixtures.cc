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

std::string HostFixturePath(const std::string& name) {
  return std::string(COREPIN_SOURCE_DIR) + "/tests/fixtures/hosts/" + name + ".xml";
}

}  // namespace corepin
