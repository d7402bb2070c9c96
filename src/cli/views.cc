#include "cli/views.h"

#include <ctime>

#include "cli/table.h"

namespace corepin {

using nlohmann::json;

namespace {

// Any JSON value as table text: strings bare, null/absent as "-".
std::string Text(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "-";
  const json& v = j[key];
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

std::string LocalTime(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// "1 host", "2 hosts"; `count` is the JSON text of a number.
std::string Plural(const std::string& count, const std::string& noun) { return count + " " + noun + (count == "1" ? "" : "s"); }

}  // namespace

std::string RenderHostList(const json& hosts) {
  if (!hosts.is_array() || hosts.empty()) return "no hosts; add one with: corepin host add NAME --uri URI --housekeeping LIST\n";
  TextTable t({"NAME", "URI", "CONNECTED", "PCPUS", "ALLOCATABLE", "FREE", "VMS", "NODES"});
  for (const auto& h : hosts)
    t.Add({Text(h, "name"), Text(h, "uri"), Text(h, "connected"), Text(h, "pcpus"), Text(h, "allocatable"), Text(h, "free"),
           Text(h, "vms"), Text(h, "nodes")});
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
  if (spec.is_object())
    out += "  " + Plural(Text(spec, "vcpus"), "vCPU") + ", smt " + Text(spec, "smt") + ", numa " + Text(spec, "numa") + ", memory " +
           Text(spec, "memory_mib") + " MiB (" + Text(spec, "page_size") + " pages)\n";
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

std::string RenderReconcile(const json& r) {
  const json& diffs = r.contains("differences") && r["differences"].is_array() ? r["differences"] : json::array();
  std::string out = "checked " + Plural(Text(r, "checked_hosts"), "host") + ": " +
                    (diffs.empty() ? "no differences" : Plural(std::to_string(diffs.size()), "difference")) + "\n";
  if (diffs.empty()) return out;
  TextTable t({"HOST", "VM", "KIND", "MESSAGE"});
  for (const auto& d : diffs) t.Add({Text(d, "host"), Text(d, "vm"), Text(d, "kind"), Text(d, "message")});
  return out + t.Render();
}

std::string RenderEvents(const json& events) {
  if (!events.is_array() || events.empty()) return "no events\n";
  TextTable t({"ID", "TIME", "KIND", "SUBJECT", "MESSAGE"});
  for (const auto& e : events)
    t.Add({Text(e, "id"), e.contains("unix_ms") && e["unix_ms"].is_number() ? LocalTime(e["unix_ms"].get<int64_t>()) : "-",
           Text(e, "kind"), Text(e, "subject"), Text(e, "message")});
  return t.Render();
}

std::string RenderApiError(int status, const json& body) {
  std::string message = body.is_object() && body.contains("error") && body["error"].is_string()
                            ? body["error"].get<std::string>()
                            : "HTTP " + std::to_string(status) + (body.is_null() ? "" : ": " + body.dump());
  if (!body.is_object() || !body.contains("rejections") || !body["rejections"].is_array()) return message;
  // The summary's first line, then every reason from the data (the summary may repeat them).
  std::string out = message.substr(0, message.find('\n'));
  for (const auto& r : body["rejections"]) {
    const std::string host = Text(r, "host");
    if (r.contains("reasons") && r["reasons"].is_array())
      for (const auto& reason : r["reasons"]) out += "\n  host " + host + ": " + (reason.is_string() ? reason.get<std::string>() : reason.dump());
    if (r.contains("nodes") && r["nodes"].is_array())
      for (const auto& n : r["nodes"]) out += "\n  host " + host + " node" + Text(n, "node") + ": " + Text(n, "reason");
  }
  return out;
}

}  // namespace corepin
