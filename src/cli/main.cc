// corepin: the command-line client of corepind (docs/cli.md). Each command is one REST call;
// the output is text (tables, the core map) or, with --json, the server's JSON as is.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/client.h"
#include "cli/core_map.h"
#include "cli/follow.h"
#include "cli/links_views.h"
#include "cli/progress.h"
#include "cli/top.h"
#include "cli/views.h"
#include "cli/yaml_json.h"

namespace corepin {
namespace {

using nlohmann::json;

// What a command does once the arguments are parsed: a REST call and how to show its reply,
// or, for the commands that run on (events -f, top), `run`, which returns the exit status.
struct Action {
  std::function<Result<json>(ApiClient&)> call;
  std::function<std::string(const json&)> render;
  std::function<int()> run = {};
};

// "KEY=VALUE" -> {KEY, VALUE}; an empty key or a missing '=' is an error naming the option.
Result<std::pair<std::string, std::string>> SplitAssign(const std::string& option, const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    return Invalid(option + " " + text + ": expected " + (option == "--label" ? "KEY=VALUE" : "NET=nic1,nic2"));
  return std::pair{text.substr(0, eq), text.substr(eq + 1)};
}

// A spec file (YAML or JSON) that must be a map; `what` names it in the error: "a VM spec is a
// map of fields (name, vcpus, ...)".
Result<json> ReadSpecFile(const std::string& path, const std::string& what = "a VM spec is a map of fields (name, vcpus, ...)") {
  std::ifstream in(path);
  if (!in) return Invalid("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  auto spec = SpecFileToJson(path, text.str());
  if (!spec) return Invalid(path + ": " + spec.error().message);
  if (!spec->is_object()) return Invalid(path + ": " + what + ", got " + spec->type_name());
  return spec;
}

// The text of a created VM or group, and with --explain how its placement was chosen.
std::string WithExplanation(std::string text, const json& explanation, bool explain) {
  if (!explain) return text;
  return text + "\nexplanation (* the chosen host):\n" + RenderExplanation(explanation.is_null() ? json::object() : explanation);
}

int Main(int argc, char** argv) {
  CLI::App app{"corepin: manage KVM VMs whose every vCPU is pinned to an exact physical CPU"};
  app.require_subcommand(1);
  app.fallthrough();  // global options are accepted after the subcommand too (inherited by subcommands)
  const char* env_url = std::getenv("COREPIN_URL");
  std::string server = env_url && *env_url ? env_url : "http://127.0.0.1:7480";
  bool as_json = false;
  app.add_option("--server", server, "corepind's URL (default: $COREPIN_URL, else http://127.0.0.1:7480)");
  app.add_flag("--json", as_json, "print the server's JSON instead of text");

  Action action;
  auto on = [&](CLI::App* cmd, Action a) { cmd->callback([&action, a] { action = a; }); };
  const auto raw = [](const json& j) { return j.dump(2) + "\n"; };

  // host ...
  CLI::App* host = app.add_subcommand("host", "KVM hosts (libvirt connections) and their core maps");
  host->require_subcommand(1);
  std::string host_name, uri, housekeeping, allocatable, bridge, domain_type, migration_address;
  std::vector<std::string> physnets, labels;
  int64_t reserved_memory = -1, group_limit = -1;
  bool disable_offload = false;
  CLI::App* host_add = host->add_subcommand("add", "add a host: connect, read its topology, partition its pCPUs");
  host_add->add_option("NAME", host_name, "host name")->required();
  host_add->add_option("--uri", uri, "libvirt URI, e.g. qemu:///system or qemu+ssh://root@h1/system")->required();
  host_add->add_option("--housekeeping", housekeeping, "pCPUs kept for the host OS, e.g. 0 or 0,64")->required();
  host_add->add_option("--allocatable", allocatable, "pCPUs VMs may use (default: all others)");
  host_add->add_option("--physnet", physnets, "NICs of a physical network, NET=nic1,nic2 (repeatable)");
  host_add->add_option("--label", labels, "failure-domain label KEY=VALUE, e.g. rack=r1 (repeatable)");
  host_add->add_option("--reserved-memory", reserved_memory, "MiB per NUMA node kept for the host");
  host_add->add_option("--group-member-limit", group_limit, "most vCPUs sharing one group pCPU");
  host_add->add_option("--bridge", bridge, "Open vSwitch bridge the VMs' interfaces join, e.g. br-vms");
  host_add->add_flag("--disable-offload", disable_offload, "turn checksum/TSO offloads off on VM interfaces");
  std::string bmc;
  host_add->add_option("--bmc", bmc, "the host's BMC as a fence URI, e.g. ipmi://admin:secret@10.0.0.5:623?cipher=3");
  host_add->add_option("--migration-address", migration_address,
                       "where other hosts send live migrations to this host, an IP or name (default: its hostname)");
  host_add->add_option("--domain-type", domain_type, "libvirt domain type: kvm, or qemu where KVM cannot be used")
      ->check(CLI::IsMember({"kvm", "qemu"}));
  on(host_add, {[&](ApiClient& c) -> Result<json> {
                  json req = {{"name", host_name}, {"uri", uri}, {"housekeeping", housekeeping}};
                  if (!allocatable.empty()) req["allocatable"] = allocatable;
                  for (const auto& p : physnets) {
                    auto kv = SplitAssign("--physnet", p);
                    if (!kv) return kv.error();
                    std::stringstream nics(kv->second);
                    for (std::string nic; std::getline(nics, nic, ',');)
                      if (!nic.empty()) req["physnets"][kv->first].push_back(nic);
                  }
                  for (const auto& l : labels) {
                    auto kv = SplitAssign("--label", l);
                    if (!kv) return kv.error();
                    req["labels"][kv->first] = kv->second;
                  }
                  if (reserved_memory >= 0) req["reserved_memory_mib_per_node"] = reserved_memory;
                  if (group_limit >= 0) req["group_member_limit"] = group_limit;
                  if (!bridge.empty()) req["bridge"] = bridge;
                  if (disable_offload) req["disable_offload"] = true;
                  if (!domain_type.empty()) req["domain_type"] = domain_type;
                  if (!bmc.empty()) req["bmc"] = bmc;
                  if (!migration_address.empty()) req["migration_address"] = migration_address;
                  return c.Post("/v1/hosts", req);
                },
                [](const json& h) { return "host " + h.value("name", "") + " added\n\n" + RenderCoreMap(h); }});
  on(host->add_subcommand("list", "list hosts"), {[](ApiClient& c) { return c.Get("/v1/hosts"); }, RenderHostList});
  CLI::App* host_show = host->add_subcommand("show", "show a host's core map: every pCPU and what uses it");
  host_show->add_option("NAME", host_name, "host name")->required();
  on(host_show, {[&](ApiClient& c) { return c.Get("/v1/hosts/" + PathSegment(host_name)); }, RenderCoreMap});
  CLI::App* host_power = host->add_subcommand("power", "ask the host's BMC for its power state");
  host_power->add_option("NAME", host_name, "host name")->required();
  on(host_power, {[&](ApiClient& c) { return c.Get("/v1/hosts/" + PathSegment(host_name) + "/power"); },
                  [](const json& p) {
                    return "host " + p.value("host", "") + ": power " + p.value("power", "?") + " (BMC " + p.value("bmc", "") +
                           " answered in " + std::to_string(p.value("took_ms", 0)) + " ms)\n";
                  }});
  CLI::App* host_fenced = host->add_subcommand("fenced", "confirm that a host that stopped answering is powered off: heal it");
  host_fenced->add_option("NAME", host_name, "host name")->required();
  on(host_fenced, {[&](ApiClient& c) { return c.Post("/v1/hosts/" + PathSegment(host_name) + "/fenced", json::object()); },
                   [](const json& j) { return "host " + j.value("host", "") + ": healing " + j.value("healing", "") + "\n"; }});
  CLI::App* host_return = host->add_subcommand("return", "return a failed host to service (after it was repaired)");
  host_return->add_option("NAME", host_name, "host name")->required();
  on(host_return, {[&](ApiClient& c) { return c.Post("/v1/hosts/" + PathSegment(host_name) + "/return", json::object()); },
                   [](const json& j) {
                     std::string out = "host " + j.value("host", "") + " is " + j.value("state", "") + "; stale domains removed: " +
                                       j["removed_stale_domains"].dump() + ", lost VMs placed anew and started: " +
                                       j["restarted"].dump() + "\n";
                     for (const auto& l : j.value("still_lost", json::array()))
                       out += "still lost: " + l.value("vm", "") + ": " + l.value("reason", "") + "\n";
                     return out;
                   }});
  on(app.add_subcommand("healings", "healings after host failures: step reached, plan and timeline"),
     {[](ApiClient& c) { return c.Get("/v1/healings"); }, RenderHealings});
  bool dry_run = false, no_wait = false, drain_cold = false;
  CLI::App* host_drain = host->add_subcommand("drain", "move every VM off a host for maintenance (ACTs switch over first), with progress; again to resume");
  host_drain->add_option("NAME", host_name, "host name")->required();
  host_drain->add_flag("--dry-run", dry_run, "only show where each VM would go");
  host_drain->add_flag("--no-wait", no_wait, "start it and return; follow with corepin operation show NAME");
  host_drain->add_flag("--cold", drain_cold, "stop each VM here and start it there, instead of live migrations (also to go on cold after a live step failed)");
  on(host_drain, {[&](ApiClient& c) -> Result<json> {
                    json body{{"dry_run", dry_run}};
                    if (drain_cold) body["mode"] = "cold";
                    auto started = c.Post("/v1/hosts/" + PathSegment(host_name) + "/drain", body);
                    if (!started || dry_run || no_wait) return started;
                    return FollowOperation(c, started->value("name", ""));
                  },
                  RenderOperation});
  CLI::App* host_undrain = host->add_subcommand("undrain", "a drained host takes work again");
  host_undrain->add_option("NAME", host_name, "host name")->required();
  on(host_undrain, {[&](ApiClient& c) { return c.Post("/v1/hosts/" + PathSegment(host_name) + "/undrain", json::object()); },
                    [](const json& j) { return "host " + j.value("host", "") + " is " + j.value("state", "") + "\n"; }});
  CLI::App* operation = app.add_subcommand("operation", "long operations (drains, healings)");
  operation->require_subcommand(1);
  std::string op_name;
  on(operation->add_subcommand("list", "every operation: kind, step, progress"),
     {[](ApiClient& c) { return c.Get("/v1/operations"); }, RenderOperations});
  CLI::App* op_show = operation->add_subcommand("show", "one operation: step, progress, plan; --follow until it ends");
  op_show->add_option("NAME", op_name, "operation name")->required();
  bool follow = false;
  op_show->add_flag("-f,--follow", follow, "follow with a progress bar until it is done or stopped");
  on(op_show, {[&](ApiClient& c) { return follow ? FollowOperation(c, op_name) : c.Get("/v1/operations/" + PathSegment(op_name)); },
               RenderOperation});
  CLI::App* host_remove = host->add_subcommand("remove", "forget a host (it must have no VMs)");
  host_remove->add_option("NAME", host_name, "host name")->required();
  on(host_remove, {[&](ApiClient& c) { return c.Delete("/v1/hosts/" + PathSegment(host_name)); },
                   [](const json& j) { return "host " + j.value("deleted", "") + " removed\n"; }});

  // vm ...
  CLI::App* vm = app.add_subcommand("vm", "VMs: create with exact pinning, inspect, delete");
  vm->require_subcommand(1);
  std::string spec_file, vm_host, vm_name;
  bool explain = false;
  CLI::App* vm_create = vm->add_subcommand("create", "create a VM from a spec file (YAML or JSON)");
  vm_create->add_option("-f,--file", spec_file, "VM spec, FILE.yaml or FILE.json (see docs/api.md)")->required();
  vm_create->add_option("--host", vm_host, "put it on this host (default: the best-fitting host)");
  vm_create->add_option("--name", vm_name, "VM name (overrides the file's)");
  vm_create->add_flag("--explain", explain, "also print how the host was chosen: hosts considered, rejections, scores");
  on(vm_create, {[&](ApiClient& c) -> Result<json> {
                   auto spec = ReadSpecFile(spec_file);
                   if (!spec) return spec.error();
                   if (!vm_name.empty()) (*spec)["name"] = vm_name;
                   if (!vm_host.empty()) (*spec)["host"] = vm_host;
                   return c.Post("/v1/vms", *spec);
                 },
                 [&](const json& v) {
                   return WithExplanation("VM " + v.value("name", "") + " created\n\n" + RenderVm(v),
                                          v.contains("explanation") ? v["explanation"] : json(), explain);
                 }});
  on(vm->add_subcommand("list", "list VMs"), {[](ApiClient& c) { return c.Get("/v1/vms"); }, RenderVmList});
  CLI::App* vm_show = vm->add_subcommand("show", "show a VM's vCPU -> pCPU pinning, intended and actual");
  vm_show->add_option("NAME", vm_name, "VM name")->required();
  on(vm_show, {[&](ApiClient& c) { return c.Get("/v1/vms/" + PathSegment(vm_name)); }, RenderVm});
  CLI::App* vm_delete = vm->add_subcommand("delete", "stop and remove a VM, freeing its pCPUs");
  vm_delete->add_option("NAME", vm_name, "VM name")->required();
  on(vm_delete, {[&](ApiClient& c) { return c.Delete("/v1/vms/" + PathSegment(vm_name)); },
                 [](const json& j) { return "VM " + j.value("deleted", "") + " deleted\n"; }});

  CLI::App* vm_links = vm->add_subcommand("links", "what a VM runs on: pCPUs, cores, nodes, switch ports, host, BMC, group peers");
  vm_links->add_option("NAME", vm_name, "VM name")->required();
  on(vm_links, {[&](ApiClient& c) { return c.Get("/v1/vms/" + PathSegment(vm_name) + "/links"); }, RenderVmLinks});
  std::vector<std::string> repin_vcpus;
  std::string repin_emulator;
  bool repin_auto = false;
  CLI::App* vm_repin = vm->add_subcommand("repin", "move a running VM's vCPUs and emulator threads to other pCPUs, live (no restart)");
  vm_repin->add_option("NAME", vm_name, "VM name")->required();
  vm_repin->add_option("--vcpu", repin_vcpus, "vCPU=pCPU, e.g. 0=5 (repeatable); vCPUs not named keep their pCPU");
  vm_repin->add_option("--emulator", repin_emulator, "pCPUs of the emulator threads, e.g. 3");
  vm_repin->add_flag("--auto", repin_auto, "re-fit with the VM's policies; re-applies its intended pinning when that is still best (repairs drift)");
  on(vm_repin, {[&](ApiClient& c) -> Result<json> {
                  json req = json::object();
                  if (repin_auto) req["auto"] = true;
                  for (const auto& v : repin_vcpus) {
                    const size_t eq = v.find('=');
                    if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
                      return Invalid("--vcpu " + v + ": expected VCPU=PCPU, e.g. --vcpu 0=5");
                    req["vcpus"][v.substr(0, eq)] = v.substr(eq + 1);
                  }
                  if (!repin_emulator.empty()) req["emulator"] = repin_emulator;
                  return c.Post("/v1/vms/" + PathSegment(vm_name) + "/repin", req);
                },
                RenderRepin});
  int64_t resize_vcpus = 0, resize_memory = 0;
  std::string resize_policy, resize_policies, resize_smt, resize_emulator, resize_page;
  CLI::App* vm_resize = vm->add_subcommand("resize", "change a VM's vCPU count, policies or memory: re-fitted on its host, then restarted");
  vm_resize->add_option("NAME", vm_name, "VM name")->required();
  vm_resize->add_option("--vcpus", resize_vcpus, "number of vCPUs");
  vm_resize->add_option("--policy", resize_policy, "one policy for every vCPU: dedicated, group:NAME or pinned:N");
  vm_resize->add_option("--vcpu-policies", resize_policies, "one policy per vCPU, comma-separated, e.g. dedicated,group:ctl");
  vm_resize->add_option("--smt", resize_smt, "SMT policy: prefer, isolate or require");
  vm_resize->add_option("--emulator", resize_emulator, "emulator policy: housekeeping, isolate or group:NAME");
  vm_resize->add_option("--memory", resize_memory, "memory in MiB");
  vm_resize->add_option("--page-size", resize_page, "page size: 4K, 2M or 1G");
  on(vm_resize, {[&](ApiClient& c) -> Result<json> {
                   json req = json::object();
                   if (resize_vcpus > 0) req["vcpus"] = resize_vcpus;
                   if (!resize_policy.empty()) req["policy"] = resize_policy;
                   if (!resize_policies.empty()) {
                     std::stringstream list(resize_policies);
                     for (std::string p; std::getline(list, p, ',');) req["vcpu_policies"].push_back(p);
                   }
                   if (!resize_smt.empty()) req["smt"] = resize_smt;
                   if (!resize_emulator.empty()) req["emulator"] = resize_emulator;
                   if (resize_memory > 0) req["memory_mib"] = resize_memory;
                   if (!resize_page.empty()) req["page_size"] = resize_page;
                   if (req.empty()) return Invalid("nothing to change: give --vcpus, --policy, --vcpu-policies, --smt, --emulator, --memory or --page-size");
                   return c.Post("/v1/vms/" + PathSegment(vm_name) + "/resize", req);
                 },
                 RenderResize});

  std::string move_host;
  bool move_cold = false, move_dry_run = false;
  CLI::App* vm_move = vm->add_subcommand("move", "move a VM to another host: live (libvirt migration, no restart) or cold");
  vm_move->add_option("NAME", vm_name, "VM name")->required();
  vm_move->add_option("--to", move_host, "the host to move to (default: the best host its group allows)");
  vm_move->add_flag("--cold", move_cold, "stop it here and start it there, instead of a live migration");
  vm_move->add_flag("--dry-run", move_dry_run, "only show where it would go and on which pCPUs");
  on(vm_move, {[&](ApiClient& c) -> Result<json> {
                 json req = {{"mode", move_cold ? "cold" : "live"}};
                 if (!move_host.empty()) req["host"] = move_host;
                 if (move_dry_run) req["dry_run"] = true;
                 return c.Post("/v1/vms/" + PathSegment(vm_name) + "/move", req);
               },
               RenderMove});

  std::string adopt_host;
  CLI::App* vm_adopt = vm->add_subcommand("adopt", "take back a domain with corepin metadata that the state does not know (alarm.unknown-domain)");
  vm_adopt->add_option("NAME", vm_name, "the domain's name")->required();
  vm_adopt->add_option("--host", adopt_host, "the host it runs on")->required();
  on(vm_adopt, {[&](ApiClient& c) { return c.Post("/v1/vms/" + PathSegment(vm_name) + "/adopt", json{{"host", adopt_host}}); },
                [](const json& j) { return "VM " + j.value("adopted", "") + " adopted on " + j.value("host", "") + "\n"; }});

  // group ...
  CLI::App* group = app.add_subcommand("group", "redundancy groups: ACT/SBY VMs on hosts that cannot fail together");
  group->require_subcommand(1);
  std::string group_name, switch_to, switch_from;
  CLI::App* group_create = group->add_subcommand("create", "place and start a group from a file (YAML or JSON)");
  group_create->add_option("-f,--file", spec_file, "group request, FILE.yaml or FILE.json (see docs/api.md)")->required();
  group_create->add_flag("--explain", explain, "also print how each member's host and healing target were chosen");
  on(group_create, {[&](ApiClient& c) -> Result<json> {
                      auto req = ReadSpecFile(spec_file, "a group request is a map of fields (name, vm, act, sby, ...)");
                      if (!req) return req.error();
                      return c.Post("/v1/groups", *req);
                    },
                    [&](const json& g) {
                      const json& placement = g.contains("placement") ? g["placement"] : json();
                      return WithExplanation("group " + g.value("name", "") + " created\n\n" + RenderGroup(g),
                                             placement.is_object() && placement.contains("explanation") ? placement["explanation"] : json(),
                                             explain);
                    }});
  on(group->add_subcommand("list", "list groups"), {[](ApiClient& c) { return c.Get("/v1/groups"); }, RenderGroupList});
  CLI::App* group_show = group->add_subcommand("show", "show a group: members, roles, hosts, pCPUs, healing targets");
  group_show->add_option("NAME", group_name, "group name")->required();
  on(group_show, {[&](ApiClient& c) { return c.Get("/v1/groups/" + PathSegment(group_name)); }, RenderGroup});
  CLI::App* group_delete = group->add_subcommand("delete", "stop and remove every member, freeing pCPUs and reserve");
  group_delete->add_option("NAME", group_name, "group name")->required();
  on(group_delete, {[&](ApiClient& c) { return c.Delete("/v1/groups/" + PathSegment(group_name)); },
                    [](const json& j) { return "group " + j.value("deleted", "") + " deleted\n"; }});
  CLI::App* group_switch = group->add_subcommand("switchover", "planned role change: a SBY becomes ACT, the ACT SBY");
  group_switch->add_option("NAME", group_name, "group name")->required();
  group_switch->add_option("--to", switch_to, "the SBY that becomes ACT (default: the first SBY)");
  group_switch->add_option("--from", switch_from, "the ACT that steps down (needed when the group has several)");
  on(group_switch, {[&](ApiClient& c) {
                      json req = json::object();
                      if (!switch_to.empty()) req["to"] = switch_to;
                      if (!switch_from.empty()) req["from"] = switch_from;
                      return c.Post("/v1/groups/" + PathSegment(group_name) + "/switchover", req);
                    },
                    RenderSwitchover});

  // whatif, reserve
  CLI::App* whatif = app.add_subcommand("whatif", "ask what would happen, without changing anything");
  whatif->require_subcommand(1);
  std::vector<std::string> failed_hosts;
  CLI::App* whatif_fail = whatif->add_subcommand("fail", "if these hosts fail: where each VM goes, on which pCPUs");
  whatif_fail->add_option("HOST", failed_hosts, "hosts that fail together")->required();
  on(whatif_fail, {[&](ApiClient& c) { return c.Post("/v1/whatif", json{{"failed", failed_hosts}}); }, RenderWhatIf});
  on(app.add_subcommand("reserve", "the healing reserve: pCPUs held per host, k, failure scenarios"),
     {[](ApiClient& c) { return c.Get("/v1/reserve"); }, RenderReserve});

  // depends, defrag (docs/cli.md): the server checks the selectors and says what to fix.
  CLI::App* depends = app.add_subcommand("depends", "what depends on a piece of hardware, and what would lose redundancy if it failed");
  std::vector<std::pair<std::string, std::string>> selectors = {{"host", ""}, {"pcpu", ""}, {"core", ""}, {"socket", ""},
                                                                {"node", ""}, {"nic", ""}, {"port", ""}, {"label", ""}};
  const char* selector_help[] = {"a host (alone: the whole host)", "a pCPU of --host", "a physical core of --host (its core id)",
                                 "the socket of --core, when core ids repeat per socket", "a NUMA node of --host", "a NIC of --host",
                                 "a switch port (as `vm links` shows it)", "the hosts with a label, KEY=VALUE, e.g. rack=r1"};
  for (size_t i = 0; i < selectors.size(); ++i) depends->add_option("--" + selectors[i].first, selectors[i].second, selector_help[i]);
  on(depends, {[&](ApiClient& c) {
                 std::string query;
                 for (const auto& [k, v] : selectors)
                   if (!v.empty()) query += (query.empty() ? "?" : "&") + k + "=" + PathSegment(v);
                 return c.Get("/v1/depends" + query);
               },
               RenderDepends});
  std::optional<int64_t> max_moves;
  bool apply = false, defrag_cold = false;
  CLI::App* defrag = app.add_subcommand("defrag", "plan VM moves that free whole cores and NUMA nodes (a dry run unless --apply)");
  defrag->add_option("--max-moves", max_moves, "at most this many moves (default 16)");
  defrag->add_flag("--apply", apply, "make the moves: live re-pins on a host, live migrations between hosts");
  defrag->add_flag("--cold", defrag_cold, "with --apply: move VMs between hosts cold (stopped, then started there)");
  on(defrag, {[&](ApiClient& c) {
                json req = {{"apply", apply}};
                if (defrag_cold) req["mode"] = "cold";
                if (max_moves) req["max_moves"] = *max_moves;
                return c.Post("/v1/defrag", req);
              },
              RenderDefrag});

  // reconcile, events
  on(app.add_subcommand("reconcile", "compare every host's domains with the stored state"),
     {[](ApiClient& c) { return c.Post("/v1/reconcile", json::object()); }, RenderReconcile});
  int64_t after = 0, limit = 100;
  CLI::App* events = app.add_subcommand("events", "list recorded events, oldest first");
  events->add_option("--after", after, "only events with a larger id")->capture_default_str();
  events->add_option("--limit", limit, "at most this many (1..1000)")->capture_default_str();
  bool follow_events = false;
  events->add_flag("-f,--follow", follow_events,
                   "keep printing events as they happen (from --after when given, else only new ones); with --json one object per line");
  events->callback([&] {
    if (!follow_events) {
      action = {[&](ApiClient& c) { return c.Get("/v1/events?after=" + std::to_string(after) + "&limit=" + std::to_string(limit)); },
                RenderEvents};
      return;
    }
    action.run = [&] {
      FollowOptions o{.url = server, .after = std::nullopt, .on_drop = [](const std::string& m) { std::cerr << "corepin: " << m << "\n"; }};
      if (events->count("--after")) o.after = after;
      Status s = FollowEvents(o, [&](const json& e) {
        std::cout << (as_json ? e.dump() + "\n" : RenderEventLine(e)) << std::flush;
        return true;
      });
      if (!s) std::cerr << "error: " << s.error().message << "\n";
      return s.ok() ? 0 : 1;
    };
  });

  // alarms
  on(app.add_subcommand("alarms", "list the active alarms (alarm.* events not cleared)"),
     {[](ApiClient& c) { return c.Get("/v1/alarms"); }, RenderAlarms});
  CLI::App* alarm = app.add_subcommand("alarm", "act on one alarm");
  alarm->require_subcommand(1);
  std::string alarm_kind, alarm_subject;
  CLI::App* alarm_clear = alarm->add_subcommand("clear", "clear an active alarm (records an alarm.cleared event)");
  alarm_clear->add_option("KIND", alarm_kind, "the alarm's kind, e.g. alarm.vm-crash-loop")->required();
  alarm_clear->add_option("SUBJECT", alarm_subject, "what it is about, e.g. the VM's name")->required();
  on(alarm_clear, {[&](ApiClient& c) { return c.Post("/v1/alarms/clear", json{{"kind", alarm_kind}, {"subject", alarm_subject}}); },
                   RenderAlarmCleared});

  // top
  bool once = false;
  CLI::App* top = app.add_subcommand("top", "live view: hosts and their cores, VMs with per-vCPU CPU %, recent events");
  top->add_flag("--once", once, "print one frame and exit");
  top->callback([&] {
    action.run = [&] {
      ApiClient client(server);
      int64_t cursor = 0;
      auto before = ReadTopSample(client, &cursor, {});
      for (;;) {
        if (!before) {
          std::cerr << "error: " << before.error().message << "\n";
          return 1;
        }
        std::this_thread::sleep_for(std::chrono::seconds(1));
        auto now = ReadTopSample(client, &cursor, before->events);
        if (!now) {
          std::cerr << "error: " << now.error().message << "\n";
          return 1;
        }
        const std::string frame = TopFrame(*now, &*before, server);
        if (once) {
          std::cout << frame << std::flush;
          return 0;
        }
        std::cout << "\x1b[H\x1b[2J" << frame << std::flush;  // home, clear, draw
        before = std::move(now);
      }
    };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "error: " << e.what() << "\n(see corepin --help)\n";
    return 1;
  }
  if (action.run) return action.run();
  if (!action.call) return 1;  // unreachable: require_subcommand
  ApiClient client(server);
  auto reply = action.call(client);
  if (!reply) {
    // With --json the server's error body as is (a 422's rejections and explanation), for scripts.
    if (as_json && client.error_body().is_object()) std::cout << raw(client.error_body()) << std::flush;
    else std::cerr << "error: " << reply.error().message << "\n";
    return 1;
  }
  std::cout << (as_json ? raw(*reply) : action.render(*reply)) << std::flush;
  return 0;
}

}  // namespace
}  // namespace corepin

int main(int argc, char** argv) { return corepin::Main(argc, argv); }
