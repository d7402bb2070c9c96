#include "cli/links_views.h"

#include "cli/json_text.h"
#include "cli/table.h"

namespace corepin {

using nlohmann::json;

namespace {

std::string Labels(const json& labels) {
  std::string out;
  if (labels.is_object())
    for (const auto& [k, v] : labels.items()) out += (out.empty() ? "" : ",") + k + "=" + Str(v);
  return out.empty() ? "-" : out;
}

std::string JoinList(const json& list, const char* sep = ", ") {
  std::string out;
  for (const auto& x : list.is_array() ? list : json::array()) out += (out.empty() ? "" : sep) + Str(x);
  return out;
}

// How a VM depends on the hardware (depends.h), as one phrase.
std::string Relation(const json& r) {
  std::vector<std::string> parts;
  if (!Field(r, "runs_on").is_null()) parts.push_back("runs there (vCPUs on pCPUs " + Text(r, "pcpus") + ")");
  if (!List(r, "vcpus").empty()) {
    const bool one = r["vcpus"].size() == 1;
    parts.push_back((one ? "vCPU " : "vCPUs ") + JoinList(r["vcpus"], ",") + (one ? " on pCPU " : " on pCPUs ") + Text(r, "pcpus"));
  }
  if (Text(r, "emulator") != "-") parts.push_back("emulator on " + Text(r, "emulator"));
  if (Field(r, "memory_mib").is_number() && r["memory_mib"].get<int64_t>() > 0) parts.push_back("memory " + Text(r, "memory_mib") + " MiB");
  if (!Field(r, "nic_locality").is_null()) parts.push_back("near the NIC (" + Text(r, "nic_locality") + "), vCPUs on pCPUs " + Text(r, "pcpus"));
  if (!Field(r, "interface").is_null()) parts.push_back("interface " + Text(r, "interface") + " on bridge " + Text(r, "bridge"));
  return parts.empty() ? "-" : JoinList(json(parts), "; ");
}

std::string Change(const json& before, const json& after, const char* key) {
  const std::string b = Text(before, key), a = Text(after, key);
  return b == a ? b : b + " -> " + a;
}

}  // namespace

std::string RenderVmLinks(const json& v) {
  const json& host = Field(v, "host");
  const json& group = Field(v, "group");
  std::string out = "VM " + Text(v, "vm");
  if (!group.is_null()) out += ", " + Role(group) + " of group " + Text(group, "name");
  out += ", on host " + Text(host, "name") + " (" + Text(host, "uri") + "; labels " + Labels(Field(host, "labels")) + "; BMC " +
         Text(host, "bmc") + ")";
  if (Text(host, "state") != "-" && Text(host, "state") != "active") out += " host " + Text(host, "state");
  if (Text(host, "suspected") == "yes") out += " host SUSPECTED (not answering)";
  out += "\n\n";
  TextTable t({"VCPU", "PCPU", "CORE", "SOCKET", "NODE", "SIBLINGS", "POLICY"});
  for (const auto& x : List(v, "vcpus"))
    t.Add({Text(x, "vcpu"), Text(x, "pcpu"), Text(x, "core"), Text(x, "socket"), Text(x, "node"), Text(x, "siblings"), Text(x, "policy")});
  out += t.Render("  ");
  const json& emu = Field(v, "emulator");
  std::vector<std::string> emu_pcpus;
  for (const auto& p : List(emu, "pcpus"))
    emu_pcpus.push_back(Text(p, "pcpu") + " (core " + Text(p, "core") + " socket " + Text(p, "socket") + ", node " + Text(p, "node") + ")");
  out += "  emulator (" + Text(emu, "policy") + "): " + (emu_pcpus.empty() ? "-" : JoinList(json(emu_pcpus))) + "\n";
  out += "  siblings held empty: " + Text(v, "siblings_held_empty") + "\n";
  std::string memory;
  if (Field(v, "memory_mib_per_node").is_object())
    for (const auto& [node, mib] : v["memory_mib_per_node"].items()) memory += (memory.empty() ? "" : ", ") + ("node" + node) + " " + Str(mib) + " MiB";
  out += "  memory: " + (memory.empty() ? "-" : memory) + " (" + Text(v, "page_size") + " pages)\n";
  if (const json& nic = Field(v, "nic_locality"); !nic.is_null()) {
    std::string nics;
    for (const auto& n : List(nic, "nics")) nics += (nics.empty() ? "" : ", ") + Text(n, "name") + " node" + Text(n, "node");
    out += "  NIC locality: " + (Text(nic, "nic") != "-" ? "nic " + Text(nic, "nic") : "physnet " + Text(nic, "physnet")) + " (" + nics +
           "): " + (Text(nic, "local") == "yes" ? "every vCPU on a NIC's node" : "NOT on the NIC's node") + "\n";
  }
  if (!List(v, "interfaces").empty()) {
    out += "\n";
    TextTable i({"INTERFACE", "MAC", "SWITCH PORT", "BRIDGE", "VLAN"});
    for (const auto& x : v["interfaces"]) {
      std::string vlan = Text(x, "vlan");
      if (const json& s = Field(x, "service"); !s.is_null())
        vlan += Text(x, "vlan") == Text(s, "vlan") ? " (service, " + Role(s) + ")" : " (parked, " + Role(s) + "; service VLAN " + Text(s, "vlan") + ")";
      else
        vlan = "- (not set by corepin)";
      i.Add({Text(x, "name"), Text(x, "mac"), Text(x, "port"), Text(x, "bridge"), vlan});
    }
    out += i.Render("  ");
  }
  if (!group.is_null()) {
    out += "\ngroup " + Text(group, "name") + " (domains " + (List(group, "domains").empty() ? "-" : JoinList(group["domains"])) +
           (Text(group, "protect") == "yes" ? "; protected by the healing reserve" : "; not protected") + ")\n";
    if (const json& s = Field(group, "service"); !s.is_null())
      out += "  service VLAN " + Text(s, "vlan") + " on interface " + Text(s, "interface") + " of the ACT; SBYs parked on VLAN " +
             Text(s, "parking_vlan") + "\n";
    TextTable m({"MEMBER", "ROLE", "HOST", "LABELS", "PCPUS"});
    for (const auto& x : List(group, "members"))
      m.Add({Text(x, "vm") + (Text(x, "self") == "yes" ? " *" : ""), Role(x), Text(x, "host"), Labels(Field(x, "labels")), Text(x, "pcpus")});
    out += m.Render("  ");
  } else {
    out += "\nstandalone VM (no redundancy group)\n";
  }
  if (!List(v, "healing_targets").empty()) {
    out += "healing targets:\n";
    for (const auto& h : v["healing_targets"])
      out += "  if " + JoinList(h["if_failed"]) + " fails: host " + Text(h, "host") + " pCPUs " + Text(h, "pcpus") + "\n";
  }
  return out;
}

std::string RenderDepends(const json& r) {
  const json& hw = Field(r, "hardware");
  std::string out = Text(hw, "description") + "\n";
  const json& vms = List(r, "vms");
  if (vms.empty()) {
    out += "  no VM depends on it\n";
  } else {
    out += "\n";
    TextTable t({"VM", "GROUP", "ROLE", "HOST", "HOW"});
    for (const auto& v : vms) t.Add({Text(v, "vm"), Text(v, "group"), Role(v) == "-" ? "-" : Role(v), Text(v, "host"), Relation(Field(v, "relation"))});
    out += t.Render("  ");
  }
  const json& f = Field(r, "if_it_fails");
  out += "\nif it fails: " + Text(f, "assumes") + "\n";
  if (!Field(f, "within_guarantee").is_null())
    out += std::string("  ") + (Text(f, "within_guarantee") == "yes" ? "within" : "NOT within") + " the guarantee (k = " + Text(f, "k") +
           ")\n";
  if (!List(f, "groups").empty()) {
    TextTable t({"GROUP", "LOST", "SERVICE", "REDUNDANCY"});
    for (const auto& g : f["groups"]) {
      std::string lost;
      for (const auto& m : List(g, "lost")) {
        lost += (lost.empty() ? "" : ", ") + Text(m, "vm") + " (" + Role(m) + ")";
        if (const json& to = Field(m, "target"); !to.is_null()) lost += " -> " + Text(to, "host") + " " + Text(to, "pcpus");
      }
      t.Add({Text(g, "group"), lost, Text(g, "service"), Text(g, "redundancy")});
    }
    out += t.Render("  ");
  }
  for (const auto& s : List(f, "standalone")) out += "  standalone " + Text(s, "vm") + " on " + Text(s, "host") + ": " + Text(s, "effect") + "\n";
  if (List(f, "groups").empty() && List(f, "standalone").empty()) out += "  nothing is lost\n";
  auto line = [&](const char* key, const char* what) {
    if (!List(f, key).empty()) out += std::string("  ") + what + ": " + JoinList(f[key]) + "\n";
  };
  line("lose_act", "groups losing an ACT");
  line("lose_sby", "groups losing a SBY");
  line("act_down_until_promotion", "service down until a SBY is promoted");
  line("healed_from_reserve", "healed from the reserve");
  line("healed_best_effort", "healed in free capacity (best effort)");
  line("lost", "members no host can take, in groups");
  for (const auto& n : List(r, "notes")) out += "note: " + Str(n) + "\n";
  return out;
}

std::string RenderDefrag(const json& p) {
  const json& moves = List(p, "moves");
  const bool applied = p.value("apply", false);
  std::string out = "defragmentation plan: " + Plural(moves.size(), "move") + " (at most " + Text(p, "max_moves") +
                    (applied ? "; applied)\n" : "; a dry run: nothing was changed)\n");
  if (!moves.empty()) {
    out += "\n";
    TextTable t({"VM", "GROUP", "FROM", "TO", "FREES", "TAKES"});
    for (const auto& m : moves) {
      const json& from = Field(m, "from");
      const json& to = Field(m, "to");
      t.Add({Text(m, "vm"), Text(m, "group"), Text(from, "host") + " " + Text(from, "pcpus"), Text(to, "host") + " " + Text(to, "pcpus"),
             List(m, "frees").empty() ? "-" : JoinList(m["frees"], "; "), List(m, "takes").empty() ? "-" : JoinList(m["takes"], "; ")});
    }
    out += t.Render("  ");
  }
  out += "\n";
  TextTable h({"HOST", "STRANDED PCPUS", "FREE CORES", "FREE NODES", "RESERVE PCPUS"});
  auto row = [&](const std::string& name, const json& b, const json& a) {
    h.Add({name, Change(b, a, "stranded_pcpus"), Change(b, a, "free_cores"), Change(b, a, "free_nodes"), Change(b, a, "reserve_pcpus")});
  };
  for (const auto& x : List(p, "hosts")) row(Text(x, "host"), Field(x, "before"), Field(x, "after"));
  row("total", Field(Field(p, "total"), "before"), Field(Field(p, "total"), "after"));
  out += h.Render("  ");
  for (const auto& n : List(p, "notes")) out += "note: " + Str(n) + "\n";
  if (applied) {
    out += "\n" + Plural(List(p, "applied").size(), "move") + " made";
    if (p.contains("stopped")) {
      const json& s = Field(p, "stopped");
      out += "; stopped at " + Text(s, "vm") + ": " + Text(s, "message") + "\n(the moves made are complete; ask for a new plan)\n";
    } else {
      out += "\n";
    }
  }
  return out;
}

}  // namespace corepin
