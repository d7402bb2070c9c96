#include "driver/switch/switch_driver.h"

#include <algorithm>
#include <map>
#include <set>

#include "driver/switch/ovsdb_switch.h"

namespace corepin {

std::string PortState::Describe() const {
  std::string s;
  if (tag) s = "tag=" + std::to_string(*tag);
  if (!trunks.empty()) {
    s += s.empty() ? "trunks=" : " trunks=";
    for (size_t i = 0; i < trunks.size(); ++i) s += (i ? "," : "") + std::to_string(trunks[i]);
  }
  if (s.empty()) s = "untagged (trunks all VLANs)";
  if (service) s += " service";
  return s;
}

std::string PortChange::Describe() const {
  std::string s = after.bridge + "/" + after.port + ": " + before.Describe() + " -> " + after.Describe();
  if (before_mode != after_mode) s += " (vlan_mode " + before_mode + " -> " + after_mode + ")";
  if (by_hand) s += " (had been changed by hand)";
  return s;
}

size_t SwitchReport::hand_changes() const {
  return std::count_if(changed.begin(), changed.end(), [](const PortChange& c) { return c.by_hand; });
}

Status ValidateDesired(std::vector<PortState>& desired) {
  std::vector<std::string> problems;
  std::set<std::string> seen;
  std::map<int, std::string> service_vlans;  // service VLAN -> its port
  auto in_range = [](int v) { return v >= kMinVlan && v <= kMaxVlan; };
  for (auto& p : desired) {
    const std::string name = "port " + (p.port.empty() ? "(unnamed)" : p.port);
    if (p.port.empty() || p.bridge.empty()) problems.push_back(name + ": bridge and port names are required");
    if (!seen.insert(p.port).second) problems.push_back(name + ": given twice");
    if (p.tag && !in_range(*p.tag))
      problems.push_back(name + ": VLAN " + std::to_string(*p.tag) + " out of range 1..4094");
    std::sort(p.trunks.begin(), p.trunks.end());
    p.trunks.erase(std::unique(p.trunks.begin(), p.trunks.end()), p.trunks.end());
    for (int t : p.trunks)
      if (!in_range(t)) problems.push_back(name + ": trunk VLAN " + std::to_string(t) + " out of range 1..4094");
    if (!p.tag && p.trunks.empty())
      problems.push_back(name + ": neither a tag nor trunks (Open vSwitch would trunk every VLAN); park it on a VLAN");
    if (p.service && !p.tag) problems.push_back(name + ": carries the service but has no tag (the service VLAN)");
    if (p.service && p.tag) {
      auto [it, fresh] = service_vlans.emplace(*p.tag, p.port);
      if (!fresh)
        problems.push_back(name + ": service VLAN " + std::to_string(*p.tag) + " is already carried by port " +
                           it->second + "; only one port may carry a service");
    }
  }
  for (const auto& p : desired)
    if (!p.service && p.tag && service_vlans.count(*p.tag))
      problems.push_back("port " + p.port + ": tagged with service VLAN " + std::to_string(*p.tag) + " of port " +
                         service_vlans[*p.tag] + " but does not carry the service");
  if (problems.empty()) return Status::Ok();
  std::string msg;
  for (const auto& pr : problems) msg += (msg.empty() ? "" : "; ") + pr;
  return Invalid(msg + "; nothing changed");
}

std::vector<PortState> GroupServicePorts(int service_vlan, int parking_vlan,
                                         const std::vector<GroupMemberPort>& members) {
  std::vector<PortState> out;
  for (const auto& m : members)
    out.push_back({m.ref.bridge, m.ref.port, m.act ? service_vlan : parking_vlan, {}, m.act});
  return out;
}

namespace {

// The `none` driver: for sites without a managed switch. Validates what it is given (a bad
// VLAN is the caller's bug whatever the site), then does nothing and says so.
class NoneSwitch : public SwitchDriver {
 public:
  Result<PortReadings> Read(const std::vector<PortRef>& ports) override {
    return PortReadings{false, {}, "switch driver none: no managed switch, nothing read"};
  }
  Result<SwitchReport> Apply(const std::vector<PortState>& desired, const std::string& reason) override {
    auto d = desired;
    if (Status s = ValidateDesired(d); !s.ok()) return s.error();
    SwitchReport r;
    r.managed = false;
    r.summary = reason + ": switch driver none: no managed switch, nothing done for " +
                std::to_string(desired.size()) + " port(s)";
    return r;
  }
  Result<std::vector<std::string>> RemovePorts(const std::vector<PortRef>&, const std::string&) override {
    return std::vector<std::string>{};
  }
  Result<std::unique_ptr<SwitchWatch>> Watch(WatchCallback) override {
    struct NoneWatch : SwitchWatch {
      bool managed() const override { return false; }
    };
    return std::unique_ptr<SwitchWatch>(new NoneWatch);
  }
  std::string uri() const override { return "none"; }
  bool managed() const override { return false; }
};

}  // namespace

Result<std::unique_ptr<SwitchDriver>> OpenSwitchDriver(const std::string& uri) {
  if (uri == "none") return std::unique_ptr<SwitchDriver>(new NoneSwitch);
  const std::string usage = "switch URI '" + uri + "': use ovsdb:unix:PATH, ovsdb:tcp:HOST:PORT or none";
  if (uri.rfind("ovsdb:", 0) != 0) return Invalid(usage);
  std::string endpoint = uri.substr(6);
  bool is_unix = endpoint.rfind("unix:", 0) == 0 && endpoint.size() > 5;
  bool is_tcp = endpoint.rfind("tcp:", 0) == 0 && endpoint.find(':', 4) != std::string::npos;
  if (!is_unix && !is_tcp) return Invalid(usage);
  return std::unique_ptr<SwitchDriver>(new ovsdb::OvsdbSwitch(endpoint));
}

}  // namespace corepin
