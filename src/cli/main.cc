// corepin: the command-line client of corepind (docs/cli.md). Each command is one REST call;
// the output is text (tables, the core map) or, with --json, the server's JSON as is.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include "cli/client.h"
#include "cli/core_map.h"
#include "cli/views.h"
#include "cli/yaml_json.h"

namespace corepin {
namespace {

using nlohmann::json;

// What a command does once the arguments are parsed: a REST call and how to show its reply.
struct Action {
  std::function<Result<json>(ApiClient&)> call;
  std::function<std::string(const json&)> render;
};

// "KEY=VALUE" -> {KEY, VALUE}; an empty key or a missing '=' is an error naming the option.
Result<std::pair<std::string, std::string>> SplitAssign(const std::string& option, const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    return Invalid(option + " " + text + ": expected " + (option == "--label" ? "KEY=VALUE" : "NET=nic1,nic2"));
  return std::pair{text.substr(0, eq), text.substr(eq + 1)};
}

Result<json> ReadSpecFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Invalid("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  auto spec = SpecFileToJson(path, text.str());
  if (!spec) return Invalid(path + ": " + spec.error().message);
  if (!spec->is_object()) return Invalid(path + ": a VM spec is a map of fields (name, vcpus, ...), got " + spec->type_name());
  return spec;
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
  std::string host_name, uri, housekeeping, allocatable;
  std::vector<std::string> physnets, labels;
  int64_t reserved_memory = -1, group_limit = -1;
  CLI::App* host_add = host->add_subcommand("add", "add a host: connect, read its topology, partition its pCPUs");
  host_add->add_option("NAME", host_name, "host name")->required();
  host_add->add_option("--uri", uri, "libvirt URI, e.g. qemu:///system or qemu+ssh://root@h1/system")->required();
  host_add->add_option("--housekeeping", housekeeping, "pCPUs kept for the host OS, e.g. 0 or 0,64")->required();
  host_add->add_option("--allocatable", allocatable, "pCPUs VMs may use (default: all others)");
  host_add->add_option("--physnet", physnets, "NICs of a physical network, NET=nic1,nic2 (repeatable)");
  host_add->add_option("--label", labels, "failure-domain label KEY=VALUE, e.g. rack=r1 (repeatable)");
  host_add->add_option("--reserved-memory", reserved_memory, "MiB per NUMA node kept for the host");
  host_add->add_option("--group-member-limit", group_limit, "most vCPUs sharing one group pCPU");
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
                  return c.Post("/v1/hosts", req);
                },
                [](const json& h) { return "host " + h.value("name", "") + " added\n\n" + RenderCoreMap(h); }});
  on(host->add_subcommand("list", "list hosts"), {[](ApiClient& c) { return c.Get("/v1/hosts"); }, RenderHostList});
  CLI::App* host_show = host->add_subcommand("show", "show a host's core map: every pCPU and what uses it");
  host_show->add_option("NAME", host_name, "host name")->required();
  on(host_show, {[&](ApiClient& c) { return c.Get("/v1/hosts/" + PathSegment(host_name)); }, RenderCoreMap});
  CLI::App* host_remove = host->add_subcommand("remove", "forget a host (it must have no VMs)");
  host_remove->add_option("NAME", host_name, "host name")->required();
  on(host_remove, {[&](ApiClient& c) { return c.Delete("/v1/hosts/" + PathSegment(host_name)); },
                   [](const json& j) { return "host " + j.value("deleted", "") + " removed\n"; }});

  // vm ...
  CLI::App* vm = app.add_subcommand("vm", "VMs: create with exact pinning, inspect, delete");
  vm->require_subcommand(1);
  std::string spec_file, vm_host, vm_name;
  CLI::App* vm_create = vm->add_subcommand("create", "create a VM from a spec file (YAML or JSON)");
  vm_create->add_option("-f,--file", spec_file, "VM spec, FILE.yaml or FILE.json (see docs/api.md)")->required();
  vm_create->add_option("--host", vm_host, "put it on this host (default: the best-fitting host)");
  vm_create->add_option("--name", vm_name, "VM name (overrides the file's)");
  on(vm_create, {[&](ApiClient& c) -> Result<json> {
                   auto spec = ReadSpecFile(spec_file);
                   if (!spec) return spec.error();
                   if (!vm_name.empty()) (*spec)["name"] = vm_name;
                   if (!vm_host.empty()) (*spec)["host"] = vm_host;
                   return c.Post("/v1/vms", *spec);
                 },
                 [](const json& v) { return "VM " + v.value("name", "") + " created\n\n" + RenderVm(v); }});
  on(vm->add_subcommand("list", "list VMs"), {[](ApiClient& c) { return c.Get("/v1/vms"); }, RenderVmList});
  CLI::App* vm_show = vm->add_subcommand("show", "show a VM's vCPU -> pCPU pinning, intended and actual");
  vm_show->add_option("NAME", vm_name, "VM name")->required();
  on(vm_show, {[&](ApiClient& c) { return c.Get("/v1/vms/" + PathSegment(vm_name)); }, RenderVm});
  CLI::App* vm_delete = vm->add_subcommand("delete", "stop and remove a VM, freeing its pCPUs");
  vm_delete->add_option("NAME", vm_name, "VM name")->required();
  on(vm_delete, {[&](ApiClient& c) { return c.Delete("/v1/vms/" + PathSegment(vm_name)); },
                 [](const json& j) { return "VM " + j.value("deleted", "") + " deleted\n"; }});

  // reconcile, events
  on(app.add_subcommand("reconcile", "compare every host's domains with the stored state"),
     {[](ApiClient& c) { return c.Post("/v1/reconcile", json::object()); }, RenderReconcile});
  int64_t after = 0, limit = 100;
  CLI::App* events = app.add_subcommand("events", "list recorded events, oldest first");
  events->add_option("--after", after, "only events with a larger id")->capture_default_str();
  events->add_option("--limit", limit, "at most this many (1..1000)")->capture_default_str();
  on(events, {[&](ApiClient& c) {
                return c.Get("/v1/events?after=" + std::to_string(after) + "&limit=" + std::to_string(limit));
              },
              RenderEvents});

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "error: " << e.what() << "\n(see corepin --help)\n";
    return 1;
  }
  if (!action.call) return 1;  // unreachable: require_subcommand
  ApiClient client(server);
  auto reply = action.call(client);
  if (!reply) {
    std::cerr << "error: " << reply.error().message << "\n";
    return 1;
  }
  std::cout << (as_json ? raw(*reply) : action.render(*reply)) << std::flush;
  return 0;
}

}  // namespace
}  // namespace corepin

int main(int argc, char** argv) { return corepin::Main(argc, argv); }
