#include "cli/top.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "cli/table.h"
#include "cli/views.h"
#include "common/cpuset.h"

namespace corepin {

using nlohmann::json;

namespace {

constexpr size_t kEvents = 6;  // events shown

std::string Str(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "-";
  if (j[key].is_string()) return j[key].get<std::string>().empty() ? "-" : j[key].get<std::string>();
  return j[key].dump();
}

std::string Percent(double fraction) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", std::max(0.0, fraction * 100));
  return buf;
}

// The per-vCPU usage of a VM between two stats samples: "0@1 12%  1@65 3%", and the largest
// steal (delay) fraction of its vCPUs.
std::pair<std::string, std::string> Usage(const json& now, const json* before) {
  std::string cpus;
  double steal = -1;
  const double dt_ns = before ? (now.value("unix_ms", int64_t{0}) - before->value("unix_ms", int64_t{0})) * 1e6 : 0;
  for (const auto& v : now.value("vcpus", json::array())) {
    std::string cell = Str(v, "vcpu") + "@" + Str(v, "pcpu");
    const json* prev = nullptr;
    if (before)
      for (const auto& p : (*before)["vcpus"])
        if (p["vcpu"] == v["vcpu"]) prev = &p;
    if (prev && dt_ns > 0) {
      cell += " " + Percent((v.value("cpu_time_ns", 0.0) - prev->value("cpu_time_ns", 0.0)) / dt_ns);
      if (v["delay_ns"].is_number() && (*prev)["delay_ns"].is_number())
        steal = std::max(steal, (v["delay_ns"].get<double>() - (*prev)["delay_ns"].get<double>()) / dt_ns);
    } else {
      cell += " -";
    }
    cpus += (cpus.empty() ? "" : "  ") + cell;
  }
  return {cpus.empty() ? "-" : cpus, steal < 0 ? "-" : Percent(steal)};
}

char Symbol(const json& pcpu, const std::map<std::string, char>& keys) {
  const std::string use = pcpu.value("use", "");
  if (use == "housekeeping") return 'H';
  if (use == "free") return '.';
  if (use == "reserve") return 'R';
  if (use == "not-allocatable") return '-';
  if (use == "sibling") return '~';
  if (use == "group") return '#';
  if (use == "emulator") return '@';
  if (use == "vcpu") {
    auto it = keys.find(pcpu.value("owner", ""));
    return it == keys.end() ? '?' : it->second;
  }
  return '?';
}

}  // namespace

std::string CompactCoreMap(const json& h, const std::map<std::string, char>& keys) {
  std::map<int, char> symbol;  // pCPU -> its character
  for (const auto& core : h.value("cores", json::array()))
    for (const auto& p : core.value("pcpus", json::array())) symbol[p.value("id", -1)] = Symbol(p, keys);
  std::string out;
  for (const auto& node : h["topology"].value("nodes", json::array())) {
    auto pcpus = CpuSet::Parse(node.value("pcpus", ""));
    if (!pcpus) continue;
    std::string line;
    int n = 0;
    for (int p : pcpus->ToVector()) {
      if (n && n % 8 == 0) line += ' ';
      line += symbol.count(p) ? symbol[p] : '?';
      ++n;
    }
    out += "    node" + Str(node, "id") + " " + line + "\n";
  }
  return out;
}

Result<TopSample> ReadTopSample(ApiClient& c, int64_t* cursor, const std::deque<json>& events_before) {
  TopSample s;
  auto hosts = c.Get("/v1/hosts");
  if (!hosts) return hosts.error();
  for (const auto& h : *hosts) {
    auto view = c.Get("/v1/hosts/" + PathSegment(h.value("name", "")));
    if (view) s.hosts.push_back(*view);  // removed since the listing: skip it
  }
  auto vms = c.Get("/v1/vms");
  if (!vms) return vms.error();
  for (const auto& v : *vms) {
    const std::string name = v.value("name", "");
    auto view = c.Get("/v1/vms/" + PathSegment(name));
    if (!view) continue;
    s.vms.push_back(*view);
    if (auto stats = c.Get("/v1/vms/" + PathSegment(name) + "/stats")) s.stats[name] = *stats;
  }
  auto alarms = c.Get("/v1/alarms");
  if (!alarms) return alarms.error();
  s.alarms = *alarms;
  // New events since the cursor, 1000 a page; keep the newest few.
  s.events = events_before;
  for (;;) {
    auto page = c.Get("/v1/events?after=" + std::to_string(*cursor) + "&limit=1000");
    if (!page) return page.error();
    for (const auto& e : *page) {
      s.events.push_back(e);
      if (s.events.size() > kEvents) s.events.pop_front();
      *cursor = e.value("id", *cursor);
    }
    if (page->size() < 1000) break;
  }
  return s;
}

std::string TopFrame(const TopSample& now, const TopSample* before, const std::string& server) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char clock[16];
  std::strftime(clock, sizeof clock, "%H:%M:%S", &tm);
  std::string out = "corepin top  " + server + "  " + clock + "  " + std::to_string(now.hosts.size()) + " hosts, " +
                    std::to_string(now.vms.size()) + " VMs, " + std::to_string(now.alarms.size()) + " active alarms\n\n";

  // VM keys: a..z, then A..Z, then '*'.
  std::map<std::string, char> keys;
  for (const auto& v : now.vms) {
    const size_t i = keys.size();
    keys[v.value("name", "")] = i < 26 ? static_cast<char>('a' + i) : i < 52 ? static_cast<char>('A' + i - 26) : '*';
  }

  TextTable hosts({"HOST", "UP", "PCPUS", "ALLOCATABLE", "FREE", "RESERVE", "VMS"});
  std::string maps;
  for (const auto& h : now.hosts) {
    int free = 0, reserve = 0, total = 0;
    for (const auto& core : h.value("cores", json::array()))
      for (const auto& p : core.value("pcpus", json::array())) {
        ++total;
        free += p.value("use", "") == "free";
        reserve += p.value("use", "") == "reserve";
      }
    auto alloc = CpuSet::Parse(h.value("allocatable", ""));
    std::string up = h.value("connected", false) ? "yes" : "NO";
    if (h.value("suspected", false)) up = "SUSPECTED";
    if (h.value("state", "active") != "active") up = h.value("state", "");  // failed, draining, drained
    hosts.Add({Str(h, "name"), up, std::to_string(total),
               alloc ? std::to_string(alloc->Size()) : "-", std::to_string(free), std::to_string(reserve),
               std::to_string(h.value("vms", json::array()).size())});
    maps += "  " + Str(h, "name") + "\n" + CompactCoreMap(h, keys);
  }
  out += "HOSTS\n" + hosts.Render("  ") + "\n" + maps;
  out += "  H housekeeping, . free, R reserve, # group pCPU, @ emulator, ~ SMT sibling kept empty, - not allocatable, letter: a VM's vCPU\n\n";

  TextTable vms({"KEY", "VM", "HOST", "GROUP", "ROLE", "STATE", "PINNING", "STEAL", "VCPU@PCPU CPU"});
  for (const auto& v : now.vms) {
    const std::string name = v.value("name", "");
    std::string pinning = "-";
    if (v.contains("pinning_verified") && v["pinning_verified"].is_boolean())
      pinning = v["pinning_verified"].get<bool>() ? "verified" : "DIFFERS";
    std::pair<std::string, std::string> usage{"-", "-"};
    if (auto it = now.stats.find(name); it != now.stats.end()) {
      const json* prev = nullptr;
      if (before)
        if (auto p = before->stats.find(name); p != before->stats.end()) prev = &p->second;
      usage = Usage(it->second, prev);
    }
    std::string role = Str(v, "role");
    std::transform(role.begin(), role.end(), role.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    vms.Add({std::string(1, keys[name]), name, Str(v, "host"), Str(v, "group"), role, Str(v, "state"), pinning, usage.second,
             usage.first});
  }
  out += "VMS\n" + (now.vms.empty() ? std::string("  no VMs\n") : vms.Render("  ")) + "\n";

  out += "EVENTS (newest last)\n";
  if (now.events.empty()) out += "  no events\n";
  for (const auto& e : now.events) out += "  " + RenderEventLine(e);
  return out;
}

}  // namespace corepin
