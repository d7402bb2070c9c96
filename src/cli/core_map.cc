#include "cli/core_map.h"

#include "cli/views.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "common/cpuset.h"

namespace corepin {

using nlohmann::json;

namespace {

std::string Str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}
int Int(const json& j, const char* key, int fallback = -1) {
  return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<int>() : fallback;
}

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// "4K 2048 MiB, 2M 0, 1G 0": the host's free memory by page size (MiB).
std::string MemoryText(const json& mem) {
  if (!mem.is_object() || mem.empty()) return "";
  std::string out;
  // Page sizes in size order, not alphabetical ("1G" < "2M" < "4K").
  for (const char* page : {"4K", "2M", "1G"}) {
    if (!mem.contains(page) || !mem[page].is_number()) continue;
    if (!out.empty()) out += ", ";
    out += std::string(page) + " " + std::to_string(mem[page].get<int64_t>()) + " MiB";
  }
  return out;
}

}  // namespace

std::string PcpuLabel(const json& p) {
  const std::string use = Str(p, "use"), owner = Str(p, "owner"), detail = Str(p, "detail");
  if (use == "housekeeping") return "HK";
  if (use == "free") return ".";
  if (use == "reserve") return "R";  // free, but held for healing (the reserve)
  if (use == "not-allocatable") return "--";
  if (use == "emulator") return owner + " emu";
  if (use == "group") return "grp " + owner + (detail.empty() ? "" : " (" + detail + ")");
  if (use == "sibling") {
    // A group's sibling is owned by "group:NAME".
    const std::string of = owner.rfind("group:", 0) == 0 ? "grp " + owner.substr(6) : owner;
    return "(sibling of " + of + ")";
  }
  if (use == "vcpu") {
    // detail is "vcpu N POLICY": shown as "VM:vN POLICY".
    if (detail.rfind("vcpu ", 0) == 0) return owner + ":v" + detail.substr(5);
    return detail.empty() ? owner : owner + " " + detail;
  }
  return use + (owner.empty() ? "" : " " + owner);
}

std::string RenderCoreMap(const json& h) {
  std::string out;
  const json& topo = h.contains("topology") ? h["topology"] : json::object();
  const json& cores = h.contains("cores") && h["cores"].is_array() ? h["cores"] : json::array();
  const json& nodes = topo.contains("nodes") && topo["nodes"].is_array() ? topo["nodes"] : json::array();

  // Header: what the host is and how it is partitioned.
  int pcpu_count = 0, max_id = 0, free_count = 0;
  std::map<int, CpuSet> reserve_by_node;  // pCPUs held for healing, per NUMA node
  CpuSet reserve;
  for (const auto& c : cores)
    for (const auto& p : c["pcpus"]) {
      ++pcpu_count;
      max_id = std::max(max_id, Int(p, "id", 0));
      free_count += Str(p, "use") == "free";
      const int id = Int(p, "id");
      if (Str(p, "use") == "reserve" && id >= 0 && id < CpuSet::kMaxCpus) {
        reserve_by_node[Int(c, "node")].Add(id);
        reserve.Add(id);
      }
    }
  const bool connected = h.value("connected", false);
  out += "host " + Str(h, "name") + "  " + Str(h, "uri") + "  " + (connected ? "connected" : "NOT CONNECTED") + "  " +
         HostStateText(h) + "\n";
  if (!Str(h, "error").empty()) out += "  error: " + Str(h, "error") + "\n";
  const int sockets = Int(topo, "sockets", 0), tpc = std::max(1, Int(topo, "threads_per_core", 1));
  out += "  " + std::to_string(sockets) + (sockets == 1 ? " socket, " : " sockets, ") + std::to_string(nodes.size()) +
         (nodes.size() == 1 ? " NUMA node, " : " NUMA nodes, ") + std::to_string(pcpu_count) + " pCPUs, " +
         std::to_string(tpc) + (tpc == 1 ? " thread per core\n" : " threads per core\n");
  out += "  housekeeping " + Str(h, "housekeeping") + "   allocatable " + Str(h, "allocatable") + "   free " +
         std::to_string(free_count) + " pCPUs\n";
  if (!reserve.Empty())
    out += "  healing reserve " + reserve.ToString() + " (" + std::to_string(reserve.Size()) + " pCPUs held for VMs of failed hosts)\n";
  if (h.contains("labels") && h["labels"].is_object() && !h["labels"].empty()) {
    out += "  labels";
    for (const auto& [k, v] : h["labels"].items()) out += " " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    out += "\n";
  }
  if (h.contains("physnets") && h["physnets"].is_object())
    for (const auto& [net, nics] : h["physnets"].items()) {
      out += "  physnet " + net + ":";
      for (const auto& n : nics) out += " " + (n.is_string() ? n.get<std::string>() : n.dump());
      out += "\n";
    }
  if (h.contains("warnings") && h["warnings"].is_array())
    for (const auto& w : h["warnings"]) out += "  warning: " + (w.is_string() ? w.get<std::string>() : w.dump()) + "\n";

  // Column widths: pCPU ids right-aligned; labels padded to the longest, but capped so that a
  // core of `tpc` siblings fits 80 columns ("    core NNN  " takes 14).
  const size_t id_width = std::to_string(max_id).size();
  size_t label_width = 1;
  for (const auto& c : cores)
    for (const auto& p : c["pcpus"]) label_width = std::max(label_width, PcpuLabel(p).size());
  const size_t cell_room = (80 - 14) / static_cast<size_t>(tpc);
  const size_t cap = std::max<size_t>(12, cell_room > id_width + 3 ? cell_room - id_width - 3 : 0);
  label_width = std::min(label_width, cap);

  // Group the cores: socket -> node -> cores (in core order).
  std::map<std::pair<int, int>, std::vector<const json*>> by_node;
  for (const auto& c : cores) by_node[{Int(c, "socket"), Int(c, "node")}].push_back(&c);
  std::map<int, const json*> node_info;
  for (const auto& n : nodes) node_info[Int(n, "id")] = &n;
  std::map<int, std::vector<std::string>> node_nics;
  if (topo.contains("nics") && topo["nics"].is_array())
    for (const auto& n : topo["nics"]) node_nics[Int(n, "node")].push_back(Str(n, "name"));

  int current_socket = -2;
  for (auto& [key, list] : by_node) {
    const auto [socket, node] = key;
    if (socket != current_socket) {
      out += "\nsocket " + std::to_string(socket) + "\n";
      current_socket = socket;
    }
    out += "  node " + std::to_string(node);
    if (node_info.count(node)) {
      const json& n = *node_info[node];
      // The node's free pCPUs, less those the reserve holds (shown as R on their own).
      std::string free = Str(n, "free_pcpus");
      const CpuSet& held = reserve_by_node[node];
      if (!held.Empty())
        if (auto parsed = CpuSet::Parse(free); parsed.ok()) {
          CpuSet rest = *parsed;
          for (int p : held.ToVector()) rest.Remove(p);
          free = rest.ToString();
        }
      out += "  pCPUs " + Str(n, "pcpus") + ", free " + (free.empty() ? "none" : free);
      if (!held.Empty()) out += ", reserve " + held.ToString();
      const std::string mem = MemoryText(n.contains("memory_free_mib") ? n["memory_free_mib"] : json());
      if (!mem.empty()) out += "\n          memory free: " + mem;
    }
    if (node_nics.count(node)) {
      out += "\n          NICs:";
      for (const auto& nic : node_nics[node]) out += " " + nic;
    }
    out += "\n";
    std::stable_sort(list.begin(), list.end(), [](const json* a, const json* b) { return Int(*a, "core") < Int(*b, "core"); });
    for (const json* c : list) {
      std::string line = "    " + Pad("core " + std::to_string(Int(*c, "core")), 10);
      const json& pcpus = (*c)["pcpus"];
      for (size_t i = 0; i < pcpus.size(); ++i) {
        std::string id = std::to_string(Int(pcpus[i], "id"));
        std::string label = PcpuLabel(pcpus[i]);
        if (label.size() > label_width) label = label.substr(0, label_width - 1) + "~";
        line += std::string(id_width - std::min(id_width, id.size()), ' ') + id + " " +
                (i + 1 < pcpus.size() ? Pad(label, label_width) + "  " : label);
      }
      out += line + "\n";
    }
  }
  out += "\nHK housekeeping, . free, R held for healing (reserve), -- not allocatable,\n"
         "VM:vN POLICY vCPU N of VM, VM emu its emulator threads,\n"
         "grp G (VM xN) group G's shared pCPU, (sibling of X) SMT sibling kept empty for X\n";
  return out;
}

}  // namespace corepin
