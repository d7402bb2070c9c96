#include "cli/views.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <vector>

#include "cli/json_text.h"
#include "cli/table.h"
#include "common/cpuset.h"

namespace corepin {

using nlohmann::json;

namespace {

std::string LocalTime(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// An event's time, local, to the second ("-" when it has none).
std::string EventTime(const json& e) {
  return e.is_object() && e.contains("unix_ms") && e["unix_ms"].is_number() ? LocalTime(e["unix_ms"].get<int64_t>()) : "-";
}

// A score or score part: whole numbers bare, others to 3 decimals without trailing zeros.
std::string Number(const json& v) {
  if (!v.is_number()) return Str(v);
  const double d = v.get<double>();
  if (std::abs(d) < 1e12 && d == std::round(d)) return std::to_string(static_cast<long long>(std::round(d)));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.3f", d);
  std::string out = buf;
  while (out.back() == '0') out.pop_back();
  if (out.back() == '.') out.pop_back();
  return out == "-0" ? "0" : out;
}

// vCPU -> pCPU in vCPU order, "1,65,2,66" (vCPU 0 on 1, vCPU 1 on 65, ...).
std::string PcpusByVcpu(const json& vcpu_pcpus) {
  if (!vcpu_pcpus.is_array() || vcpu_pcpus.empty()) return "-";
  std::string out;
  for (const auto& p : vcpu_pcpus) out += (out.empty() ? "" : ",") + Str(p);
  return out;
}

// A CPU list from the vCPU -> pCPU list of an assignment ("1-2,65-66").
std::string PcpuSet(const json& vcpu_pcpus) {
  CpuSet set;
  if (vcpu_pcpus.is_array())
    for (const auto& p : vcpu_pcpus)
      if (p.is_number_integer() && p.get<int>() >= 0 && p.get<int>() < CpuSet::kMaxCpus) set.Add(p.get<int>());
  return set.Empty() ? "-" : set.ToString();
}

// The one-line summary of a VM spec: "4 vCPUs, smt prefer, numa single, memory 1024 MiB (4K pages)".
std::string SpecLine(const json& spec) {
  return Plural(Text(spec, "vcpus"), "vCPU") + ", smt " + Text(spec, "smt") + ", numa " + Text(spec, "numa") + ", memory " +
         Text(spec, "memory_mib") + " MiB (" + Text(spec, "page_size") + " pages)";
}

// One line per rejection reason: "host h1: ..." (host-wide) and "host h1 node0: ...".
std::vector<std::string> RejectionLines(const json& r) {
  std::vector<std::string> out;
  const std::string host = Text(r, "host");
  for (const auto& reason : List(r, "reasons")) out.push_back("host " + host + ": " + Str(reason));
  for (const auto& n : List(r, "nodes")) out.push_back("host " + host + " node" + Text(n, "node") + ": " + Text(n, "reason"));
  return out;
}

}  // namespace

std::string HostStateText(const json& h) {
  std::string state = Text(h, "state");
  if (Field(h, "suspected").is_boolean() && h["suspected"].get<bool>()) state += " (suspected)";
  return state;
}

std::string RenderHostList(const json& hosts) {
  if (!hosts.is_array() || hosts.empty()) return "no hosts; add one with: corepin host add NAME --uri URI --housekeeping LIST\n";
  TextTable t({"NAME", "STATE", "URI", "CONNECTED", "PCPUS", "ALLOCATABLE", "FREE", "RESERVE", "HELD EMPTY", "VMS", "NODES", "LABELS"});
  for (const auto& h : hosts) {
    std::string labels;
    if (Field(h, "labels").is_object())
      for (const auto& [k, v] : h["labels"].items()) labels += (labels.empty() ? "" : ",") + k + "=" + Str(v);
    t.Add({Text(h, "name"), HostStateText(h), Text(h, "uri"), Text(h, "connected"), Text(h, "pcpus"), Text(h, "allocatable"),
           Text(h, "free"), Text(h, "reserve"), Text(h, "held_empty"), Text(h, "vms"), Text(h, "nodes"), labels.empty() ? "-" : labels});
  }
  return t.Render();
}

std::string RenderVmList(const json& vms) {
  if (!vms.is_array() || vms.empty()) return "no VMs; create one with: corepin vm create -f SPEC.yaml\n";
  TextTable t({"NAME", "HOST", "STATE", "VCPUS", "PCPUS", "EMULATOR", "MEMORY_MIB"});
  for (const auto& v : vms)
    t.Add({Text(v, "name"), Text(v, "host"), Text(v, "state"), Text(v, "vcpus"), Text(v, "pcpus"), Text(v, "emulator"),
           Text(v, "memory_mib")});
  return t.Render();
}

std::string RenderVm(const json& vm) {
  std::string out = "VM " + Text(vm, "name") + " on host " + Text(vm, "host") + ": " + Text(vm, "state") + "\n";
  const json& spec = vm.contains("spec") ? vm["spec"] : json();
  if (spec.is_object()) out += "  " + SpecLine(spec) + "\n";
  const json verified = vm.contains("pinning_verified") ? vm["pinning_verified"] : json();
  out += std::string("  pinning: ") +
         (verified.is_boolean() ? (verified.get<bool>() ? "verified (intended = actual)" : "DIFFERS from intended")
                                : "not verified (actual pinning unknown)") +
         "\n\n";

  // Intended pCPU beside what libvirt was told and what the kernel enforces (/proc); a "!"
  // marks a vCPU whose actual pinning is known and differs.
  TextTable t({"VCPU", "POLICY", "PCPU", "CORE", "NODE", "SOCKET", "LIBVIRT", "PROC", ""});
  if (vm.contains("vcpus") && vm["vcpus"].is_array())
    for (const auto& v : vm["vcpus"]) {
      const std::string want = Text(v, "pcpu"), lv = Text(v, "libvirt"), proc = Text(v, "proc");
      const bool differs = (lv != "-" && lv != want) || (proc != "-" && proc != want);
      t.Add({Text(v, "vcpu"), Text(v, "policy"), want, Text(v, "core"), Text(v, "node"), Text(v, "socket"), lv, proc,
             differs ? "!" : ""});
    }
  if (vm.contains("emulator") && vm["emulator"].is_object()) {
    const json& e = vm["emulator"];
    const std::string want = Text(e, "intended"), lv = Text(e, "libvirt"), proc = Text(e, "proc");
    const bool differs = (lv != "-" && lv != want) || (proc != "-" && proc != want);
    t.Add({"emu", Text(e, "policy"), want, "", "", "", lv, proc, differs ? "!" : ""});
  }
  out += t.Render("  ");
  if (vm.contains("differences") && vm["differences"].is_array() && !vm["differences"].empty()) {
    out += "\n  differences:\n";
    for (const auto& d : vm["differences"]) out += "    " + (d.is_string() ? d.get<std::string>() : d.dump()) + "\n";
  }
  return out;
}

// Old and new pCPU per vCPU and for the emulator threads, where /proc let them run before, and
// what libvirt and /proc report after:
//   VM fw on host local: re-pinned live, verified (intended = actual)
//     VCPU  OLD  NEW  PROC BEFORE  LIBVIRT  PROC
//     0     1    5    1            5        5
std::string RenderRepin(const json& r) {
  const json verified = r.contains("pinning_verified") ? r["pinning_verified"] : json();
  std::string out = "VM " + Text(r, "name") + " on host " + Text(r, "host") + ": " +
                    (r.value("changed", false) ? "re-pinned live" : "intended pinning unchanged, re-applied live") + ", " +
                    (verified == true ? "verified (intended = actual)" : "NOT verified") + "\n";
  const json& old_pins = r.contains("old") ? r["old"] : json::object();
  const json& new_pins = r.contains("new") ? r["new"] : json::object();
  const json& actual = r.contains("actual") ? r["actual"] : json::object();
  const json& before = r.contains("before") ? r["before"] : json::object();
  // Entry i of list `key` of j, or {}.
  auto at = [](const json& j, const char* key, size_t i) {
    return j.contains(key) && j[key].is_array() && i < j[key].size() ? j[key][i] : json::object();
  };
  TextTable t({"VCPU", "OLD", "NEW", "PROC BEFORE", "LIBVIRT", "PROC"});
  if (new_pins.contains("vcpus") && new_pins["vcpus"].is_array())
    for (size_t i = 0; i < new_pins["vcpus"].size(); ++i) {
      const json old_pcpu = at(old_pins, "vcpus", i);
      t.Add({std::to_string(i), old_pcpu.is_number() ? old_pcpu.dump() : "-", new_pins["vcpus"][i].dump(),
             Text(at(before, "vcpus", i), "proc"), Text(at(actual, "vcpus", i), "libvirt"), Text(at(actual, "vcpus", i), "proc")});
    }
  const json& e = actual.contains("emulator") ? actual["emulator"] : json::object();
  const json& eb = before.contains("emulator") ? before["emulator"] : json::object();
  t.Add({"emu", Text(old_pins, "emulator"), Text(new_pins, "emulator"), Text(eb, "proc"), Text(e, "libvirt"), Text(e, "proc")});
  return out + t.Render("  ");
}

std::string RenderResize(const json& r) {
  if (r.value("changed", true) == false)
    return "VM " + Text(r, "name") + " unchanged: it already has that spec; it was not restarted\n\n" + RenderVm(r);
  const json& old_spec = r.contains("old") && r["old"].contains("spec") ? r["old"]["spec"] : json::object();
  std::string out = "VM " + Text(r, "name") + " resized and restarted on host " + Text(r, "host") + "\n";
  if (old_spec.is_object() && !old_spec.empty()) out += "  was: " + SpecLine(old_spec) + "\n";
  return out + RenderVm(r);
}

std::string RenderMove(const json& r) {
  if (r.value("dry_run", false)) {
    std::string pcpus;
    if (r.contains("assignment") && r["assignment"].contains("vcpu_pcpus"))
      for (const auto& p : r["assignment"]["vcpu_pcpus"]) pcpus += (pcpus.empty() ? "" : ",") + p.dump();
    return "dry run: VM " + Text(r, "vm") + " would move " + Text(r, "mode") + " from " + Text(r, "from") + " to " + Text(r, "to") +
           ", vCPUs on pCPUs " + pcpus + "; nothing was changed\n";
  }
  const json& m = r.contains("moved") && r["moved"].is_object() ? r["moved"] : json::object();
  return "VM " + Text(r, "name") + " moved (" + Text(m, "mode") + ") from host " + Text(m, "from") + " to " + Text(m, "to") + " in " +
         Text(m, "took_ms") + " ms (operation " + Text(m, "operation") + ")\n\n" + RenderVm(r);
}

std::string RenderReconcile(const json& r) {
  const json& diffs = r.contains("differences") && r["differences"].is_array() ? r["differences"] : json::array();
  std::string out = "checked " + Plural(Text(r, "checked_hosts"), "host") + ": " +
                    (diffs.empty() ? "no differences" : Plural(std::to_string(diffs.size()), "difference")) + "\n";
  if (diffs.empty()) return out;
  TextTable t({"HOST", "VM", "KIND", "MESSAGE"});
  for (const auto& d : diffs) t.Add({Text(d, "host"), Text(d, "vm"), Text(d, "kind"), Text(d, "message")});
  return out + t.Render();
}

namespace {
// Events (or alarms, which are events) as a table; `time` names the time column.
std::string EventTable(const json& events, const std::string& time, const std::string& none) {
  if (!events.is_array() || events.empty()) return none + "\n";
  TextTable t({"ID", time, "KIND", "SUBJECT", "MESSAGE"});
  for (const auto& e : events) t.Add({Text(e, "id"), EventTime(e), Text(e, "kind"), Text(e, "subject"), Text(e, "message")});
  return t.Render();
}
}  // namespace

std::string RenderEvents(const json& events) { return EventTable(events, "TIME", "no events"); }

// One line per healing: its step, the failed hosts and each step's time after the suspicion.
std::string RenderHealings(const json& healings) {
  if (!healings.is_array() || healings.empty()) return "no healings\n";
  TextTable t({"NAME", "STEP", "HOSTS", "FENCED", "SERVICE", "RECREATED", "DONE", "REDUNDANCY"});
  for (const auto& h : healings) {
    const json& d = Field(h, "detail");
    const json& tl = Field(d, "timeline");
    const int64_t t0 = tl.value("suspected", int64_t{0});
    auto at = [&](const char* key) { return tl.contains(key) ? "+" + std::to_string(tl[key].get<int64_t>() - t0) + "ms" : "-"; };
    std::string hosts;
    for (const auto& x : List(d, "hosts")) hosts += (hosts.empty() ? "" : ",") + x.get<std::string>();
    t.Add({Text(h, "name"), Text(h, "step"), hosts, at("fenced"), at("promoted"), at("recreated"), at("done"),
           d.value("redundancy", "-")});
  }
  std::string out = t.Render();
  for (const auto& h : healings) {
    // Hosts that failed a moment later and joined the healing, and why.
    if (const json& j = Field(Field(h, "detail"), "joined"); j.is_object())
      for (const auto& [host, why] : j.items())
        out += "\n" + Text(h, "name") + ": " + host + " joined: " + (why.is_string() ? why.get<std::string>() : why.dump()) + "\n";
    if (const json& s = Field(Field(h, "detail"), "stopped"); s.is_object())
      out += "\n" + Text(h, "name") + " stopped: " + s.value("message", "") + "\n";
  }
  return out;
}

std::string RenderOperations(const json& ops) {
  if (!ops.is_array() || ops.empty()) return "no operations\n";
  TextTable t({"NAME", "KIND", "STEP", "HOSTS", "PROGRESS"});
  for (const auto& op : ops) {
    const json& d = Field(op, "detail");
    std::string hosts;
    for (const auto& x : List(d, "hosts")) hosts += (hosts.empty() ? "" : ",") + x.get<std::string>();
    const json& p = Field(d, "progress");
    t.Add({Text(op, "name"), Text(op, "kind"), Text(op, "step"), hosts,
           p.is_object() ? std::to_string(p.value("done", 0)) + "/" + std::to_string(p.value("total", 0)) : "-"});
  }
  return t.Render();
}

// A drain's dry run (the plan) or an operation's state, with its moves.
std::string RenderOperation(const json& op) {
  const bool dry = op.value("dry_run", false);
  const json& plan = dry ? Field(op, "plan") : Field(Field(op, "detail"), "plan");
  std::string out = dry ? "dry run: draining " + Text(op, "host") + " would:\n"
                        : "operation " + Text(op, "name") + " (" + Text(op, "kind") + "): " + Text(op, "step") + "\n";
  for (const auto& p : List(plan, "promotions"))
    out += "  switch over " + Text(p, "group") + ": " + Text(p, "promoted") + " becomes ACT\n";
  TextTable t({"VM", "GROUP", "ROLE", "FROM", "TO", "VCPU PCPUS", "RESERVED"});
  for (const auto& m : List(plan, "moves")) {
    std::string pcpus;
    for (const auto& p : List(Field(m, "assignment"), "vcpu_pcpus")) pcpus += (pcpus.empty() ? "" : ",") + p.dump();
    t.Add({Text(m, "vm"), Text(m, "group"), Text(m, "role"), Text(m, "from"), Text(m, "to"), pcpus,
           m.value("precomputed", false) ? "yes" : "no"});
  }
  if (!List(plan, "moves").empty()) out += t.Render();
  for (const auto& l : List(plan, "lost")) out += "  " + Text(l, "vm") + " can go nowhere: " + Text(l, "reason") + "\n";
  if (const json& s = Field(Field(op, "detail"), "stopped"); s.is_object()) out += "stopped: " + s.value("message", "") + "\n";
  return out;
}

std::string RenderEventLine(const json& e) {
  return Text(e, "id") + "  " + EventTime(e) + "  " + Text(e, "kind") + "  " + Text(e, "subject") + "  " + Text(e, "message") + "\n";
}

std::string RenderAlarms(const json& alarms) { return EventTable(alarms, "SINCE", "no active alarms"); }

std::string RenderAlarmCleared(const json& reply) {
  const json& a = Field(reply, "cleared");
  return "alarm " + Text(a, "kind") + " on " + Text(a, "subject") + " cleared (raised by event " + Text(a, "id") + ")\n";
}

std::string RenderApiError(int status, const json& body) {
  std::string message = body.is_object() && body.contains("error") && body["error"].is_string()
                            ? body["error"].get<std::string>()
                            : "HTTP " + std::to_string(status) + (body.is_null() ? "" : ": " + body.dump());
  const bool has_explanation = Field(body, "explanation").is_object() && !List(Field(body, "explanation"), "searches").empty();
  if (!has_explanation && (!body.is_object() || !body.contains("rejections") || !body["rejections"].is_array())) return message;
  // The summary's first line, then every reason from the data (the summary may repeat them):
  // the explanation's searches when there are any (their examples are the rejections).
  std::string out = message.substr(0, message.find('\n'));
  if (has_explanation) {
    json rest = body["explanation"];
    rest.erase("refusal");  // the first line already says it
    std::string text = RenderExplanation(rest);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    std::string indented;
    for (size_t at = 0; at <= text.size();) {
      size_t end = text.find('\n', at);
      if (end == std::string::npos) end = text.size();
      indented += "\n  " + text.substr(at, end - at);
      at = end + 1;
    }
    return out + indented;
  }
  for (const auto& r : body["rejections"])
    for (const auto& line : RejectionLines(r)) out += "\n  " + line;
  return out;
}

std::string RenderExplanation(const json& e) {
  std::string out;
  if (!Text(e, "refusal").empty() && Text(e, "refusal") != "-") out += "refused: " + Text(e, "refusal") + "\n";
  for (const auto& s : List(e, "searches")) {
    out += Text(s, "summary") + "\n";
    // Candidates: score and its parts, one column per part this search scored by.
    const json& top = List(s, "top");
    if (!top.empty()) {
      std::set<std::string> part_names;
      for (const auto& t : top)
        if (Field(t, "parts").is_object())
          for (const auto& [k, v] : t["parts"].items()) part_names.insert(k);
      std::vector<std::string> header = {"HOST", "SCORE"};
      for (const auto& p : part_names) {
        std::string h = p;
        for (char& c : h) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        header.push_back(h);
      }
      TextTable t(header);
      for (const auto& c : top) {
        std::vector<std::string> row = {Text(c, "host") + (Text(c, "host") == Text(s, "chosen") ? " *" : ""), Number(Field(c, "score"))};
        for (const auto& p : part_names) row.push_back(Number(Field(Field(c, "parts"), p.c_str())));
        t.Add(row);
      }
      out += t.Render("    ");
    }
    for (const auto& r : List(s, "examples"))
      for (const auto& line : RejectionLines(r)) out += "    rejected: " + line + "\n";
  }
  for (const auto& n : List(e, "notes")) out += "note: " + Str(n) + "\n";
  if (out.empty()) out = "no explanation recorded\n";
  return out;
}

std::string RenderGroupList(const json& groups) {
  if (!groups.is_array() || groups.empty()) return "no groups; create one with: corepin group create -f GROUP.yaml\n";
  TextTable t({"NAME", "STATE", "DOMAINS", "PROTECTED", "VLAN", "MEMBERS"});
  for (const auto& g : groups) {
    std::string domains, members;
    for (const auto& d : List(g, "domains")) domains += (domains.empty() ? "" : ",") + Str(d);
    for (const auto& m : List(g, "members"))
      members += (members.empty() ? "" : ", ") + Text(m, "vm") + " " + Role(m) + " on " + Text(m, "host");
    const json& service = Field(g, "service");
    t.Add({Text(g, "name"), Text(g, "state"), domains.empty() ? "-" : domains, Text(g, "protect"),
           service.is_object() ? Text(service, "vlan") : "-", members.empty() ? "-" : members});
  }
  return t.Render();
}

std::string RenderGroup(const json& g) {
  std::string domains;
  for (const auto& d : List(g, "domains")) domains += (domains.empty() ? "" : ",") + Str(d);
  std::string out = "group " + Text(g, "name") + ": " + Text(g, "state") + "\n";
  if (Field(g, "vm").is_object()) out += "  members: " + SpecLine(g["vm"]) + "\n";
  out += "  failure domains: " + (domains.empty() ? std::string("host only") : "host, " + domains) + "\n";
  const json& protect = Field(g, "protect");
  out += std::string("  healing reserve: ") +
         (protect.is_boolean() && !protect.get<bool>() ? "opted out (no targets held)" : "protected") + "\n";
  const json& service = Field(g, "service");
  if (service.is_object())
    out += "  service: VLAN " + Text(service, "vlan") + " on interface " + Text(service, "interface") + " of the ACT; SBYs parked on VLAN " +
           Text(service, "parking_vlan") + "\n";
  else
    out += "  service: none (no switch ports managed)\n";

  // Members; a create reply has their pCPUs under placement.placed, a show reply beside them.
  const json& placement = Field(g, "placement");
  std::map<std::string, std::string> placed_pcpus;
  for (const auto& p : List(placement, "placed")) placed_pcpus[Text(p, "vm")] = PcpuSet(Field(Field(p, "assignment"), "vcpu_pcpus"));
  TextTable members({"VM", "ROLE", "HOST", "PCPUS"});
  for (const auto& m : List(g, "members")) {
    std::string pcpus = Text(m, "pcpus");
    if (pcpus == "-" && placed_pcpus.count(Text(m, "vm"))) pcpus = placed_pcpus[Text(m, "vm")];
    members.Add({Text(m, "vm"), Role(m), Text(m, "host"), pcpus});
  }
  out += "\n" + members.Render("  ");

  // Healing targets: where each member goes if its host (or the hosts of a scenario) fail.
  struct Heal {
    std::string failed, vm, to, pcpus, by_vcpu;
  };
  std::vector<Heal> heals;
  auto joined = [](const json& list) {
    std::string s;
    if (list.is_array())
      for (const auto& h : list) s += (s.empty() ? "" : "+") + Str(h);
    return s.empty() ? std::string("-") : s;
  };
  for (const auto& h : List(g, "heals")) {
    const json& t = Field(h, "target");
    heals.push_back({joined(Field(h, "if_failed")), Text(t, "vm"), Text(t, "host"), Text(t, "pcpus"),
                     PcpusByVcpu(Field(Field(t, "assignment"), "vcpu_pcpus"))});
  }
  for (const auto& h : List(placement, "heals"))
    heals.push_back({joined(Field(h, "failed")), Text(h, "vm"), Text(h, "host"), Text(h, "pcpus"),
                     PcpusByVcpu(Field(Field(h, "assignment"), "vcpu_pcpus"))});
  if (!heals.empty()) {
    out += "\n  healing targets (held in the reserve):\n";
    TextTable t({"IF FAILED", "VM", "TO", "PCPUS", "BY VCPU"});
    for (const auto& h : heals) t.Add({h.failed, h.vm, h.to, h.pcpus, h.by_vcpu});
    out += t.Render("  ");
  } else if (!(protect.is_boolean() && !protect.get<bool>())) {
    out += "\n  healing targets: none planned\n";
  }
  return out;
}

std::string RenderSwitchover(const json& r) {
  std::string out = "group " + Text(r, "name") + " switched over";
  if (Field(r, "elapsed_ms").is_number()) {
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.1f", r["elapsed_ms"].get<double>());
    out += std::string(" in ") + ms + " ms";
  }
  out += "\n";
  TextTable t({"VM", "ROLE", "HOST"});
  for (const auto& m : List(r, "members")) t.Add({Text(m, "vm"), Role(m), Text(m, "host")});
  out += t.Render("  ");
  out += "  switch: " + Text(r, "switch") + "\n";
  return out;
}

std::string RenderWhatIf(const json& r) {
  std::string failed;
  for (const auto& h : List(r, "failed")) failed += (failed.empty() ? "" : ", ") + Str(h);
  const size_t n_failed = List(r, "failed").size();
  const json& moves = List(r, "moves");
  const json& lost = List(r, "lost");
  std::string out = "if " + failed + (n_failed == 1 ? " fails" : " fail") + ": " + Plural(moves.size(), "VM") + " healed, " +
                    std::to_string(lost.size()) + " cannot be healed\n";
  const std::string k = Text(r, "k");
  const json& within = Field(r, "within_guarantee");
  if (within.is_boolean() && within.get<bool>())
    out += "  within the guarantee (k = " + k + "): every protected VM has a precomputed target\n";
  else if (Field(r, "k").is_number_integer() && n_failed > r["k"].get<size_t>())
    out += "  beyond the guarantee: " + std::to_string(n_failed) + " hosts fail, the reserve covers k = " + k +
           "; targets not precomputed were searched now in free capacity (best effort)\n";
  else
    out += "  NOT within the guarantee (k = " + k + "): some protected VMs have no precomputed target (reserve degraded)\n";
  if (moves.empty() && lost.empty()) return out + "  no VM runs there: nothing to heal\n";
  if (!moves.empty()) {
    out += "\n";
    TextTable t({"VM", "GROUP", "ROLE", "FROM", "TO", "PCPUS", "TARGET", "BY VCPU"});
    for (const auto& m : moves) {
      const json& by_vcpu = Field(m, "vcpu_pcpus").is_array() ? m["vcpu_pcpus"] : Field(Field(m, "assignment"), "vcpu_pcpus");
      const json& pre = Field(m, "precomputed");
      // A standalone VM is, in placement, a group of one named after it: no group, no role.
      const bool standalone = Text(m, "group") == Text(m, "vm");
      t.Add({Text(m, "vm"), standalone ? "-" : Text(m, "group"), standalone ? "-" : Role(m), Text(m, "from"), Text(m, "to"), PcpuSet(by_vcpu),
             pre.is_boolean() && pre.get<bool>() ? "precomputed" : "found now", PcpusByVcpu(by_vcpu)});
    }
    out += t.Render("  ");
  }
  if (!lost.empty()) {
    out += "\n  cannot be healed:\n";
    TextTable t({"VM", "GROUP", "ROLE", "FROM", "WHY"});
    for (const auto& l : lost) {
      const bool standalone = Text(l, "group") == Text(l, "vm");
      t.Add({Text(l, "vm"), standalone ? "-" : Text(l, "group"), standalone ? "-" : Role(l), Text(l, "from"), Text(l, "reason")});
    }
    out += t.Render("  ");
  }
  const json& searches = List(r, "searches");
  if (!searches.empty()) {
    out += "\n  searched now:\n";
    for (const auto& s : searches) out += "    " + Text(s, "summary") + "\n";
  }
  return out;
}

std::string RenderReserve(const json& r) {
  const std::string k = Text(r, "k");
  const std::string covers = k == "0" ? "no failure covered" : k == "1" ? "any single host failure" : "any " + k + " simultaneous host failures";
  std::string out = "healing reserve: k = " + k + " (" + covers + "), " + Plural(Text(r, "scenarios"), "failure scenario") + ", " +
                    Plural(Text(r, "targets"), "healing target") + "\n";
  out += "  " + Text(r, "reserved_pcpus") + " of " + Text(r, "allocatable_pcpus") + " allocatable pCPUs held for healing\n";
  const json& hosts = List(r, "hosts");
  if (hosts.empty()) return out + "  no host holds a reserve\n";
  TextTable t({"HOST", "PCPUS", "COUNT", "MEMORY", "GROUP SLOTS"});
  for (const auto& h : hosts) {
    std::string mem, slots;
    for (const auto& m : List(h, "memory"))
      mem += (mem.empty() ? "" : ", ") + std::string("node") + Text(m, "node") + " " + Text(m, "mib") + " MiB " + Text(m, "page_size");
    if (Field(h, "group_slots").is_object())
      for (const auto& [g, n] : h["group_slots"].items()) slots += (slots.empty() ? "" : ", ") + g + " x" + Str(n);
    t.Add({Text(h, "host"), Text(h, "pcpus"), Text(h, "pcpu_count"), mem.empty() ? "-" : mem, slots.empty() ? "-" : slots});
  }
  return out + "\n" + t.Render("  ");
}

}  // namespace corepin
