// Domains that carry corepin's metadata but that the state does not know: held as owners of
// their pCPUs (their host takes no new work), alarmed, and adopted back on request.
//
// They appear when the state was restored from an older backup, lost and started again with
// --init, or when a host was removed while VMs still ran there and added again. Placing over
// them would put two VMs on one pCPU, so the host is out of placement until each is adopted
// (corepin vm adopt NAME --host HOST) or deleted by hand.
#include "controller/controller.h"
#include "placement/placement_json.h"

namespace corepin {

using nlohmann::json;

CpuSet PinnedPcpus(const DomainInfo& d) {
  CpuSet all = d.emulator_pin;
  for (const auto& pins : d.vcpu_pins) all = all.Union(pins);
  return all;
}

void Controller::SetUnknownDomains(ManagedHost& h, std::map<std::string, std::string> unknown) {
  for (const auto& [vm, pcpus] : unknown)
    if (!h.unknown_domains.count(vm))
      Event("alarm.unknown-domain", vm,
            "domain " + vm + " on host " + h.name + " carries corepin metadata but is not in the state; it holds pCPUs " + pcpus +
                ", so " + h.name + " takes no new VMs until it is adopted (corepin vm adopt " + vm + " --host " + h.name +
                ") or deleted by hand");
  for (const auto& [vm, pcpus] : h.unknown_domains)
    if (!unknown.count(vm)) Event(kAlarmCleared, vm, ClearedMessage("alarm.unknown-domain", "no longer unknown on " + h.name));
  h.unknown_domains = std::move(unknown);
  UpdateSchedulable(h);
}

Result<json> Controller::AdoptVm(const std::string& name, const json& body) {
  constexpr char kExample[] = "; e.g. {\"host\": \"h1\"}";
  for (const auto& [k, v] : body.items())
    if (k != "host") return Invalid("unknown field \"" + k + "\"; the adopt field is host" + kExample);
  if (!body.contains("host") || !body["host"].is_string()) return Invalid(std::string("host: missing or not a string") + kExample);
  std::lock_guard lock(mu_);
  auto found = FindHost(body["host"]);
  if (!found) return found.error();
  ManagedHost& host = **found;
  if (store_->GetVm(name)) return Conflict("VM " + name + " is already in the state; nothing to adopt");
  if (!host.hypervisor) return Unavailable("host " + host.name + " is unreachable: " + host.connect_error);
  auto dom = host.hypervisor->GetDomain(name);
  if (!dom) return dom.error();
  const json meta = json::parse(dom->metadata_json, nullptr, false);
  if (!meta.is_object() || meta.value("vm", "") != name || !meta.contains("spec") || !meta.contains("assignment"))
    return Unprocessable("domain " + name + " on " + host.name + " carries no corepin metadata for it; corepin adopts only domains it created");
  auto spec = VmSpecFromJson(meta["spec"]);
  auto assignment = AssignmentFromJson(meta["assignment"]);
  if (!spec || !assignment)
    return Unprocessable("domain " + name + ": its corepin metadata does not read: " + (!spec ? spec.error().message : assignment.error().message));
  assignment->host = host.name;
  // Taken as a standalone VM, with the pCPUs it holds.
  if (auto s = cluster_.RestoreGroup(StandaloneGroup(name, *spec, host.name), {{name, *assignment}}); !s)
    return Conflict("domain " + name + " cannot be adopted on " + host.name + ": " + s.error().message);
  if (auto s = cluster_.Check(); !s) {
    (void)cluster_.DeleteGroup(name);
    return Conflict("domain " + name + " cannot be adopted on " + host.name + ": its pCPUs are held by others now (" +
                    s.error().message + "); delete the domain, or move the VM that holds them");
  }
  VmRecord rec{.name = name, .host = host.name, .spec_json = VmSpecToJson(*spec).dump(),
               .assignment_json = AssignmentToJson(*assignment).dump(), .state = std::string(kVmRunning)};
  if (auto s = store_->InsertVm(rec); !s) {
    (void)cluster_.DeleteGroup(name);
    return s.error();
  }
  if (auto s = cluster_.Replan(); !s) Event(kReserveAlarm, "cluster", s.error().message);
  auto unknown = host.unknown_domains;
  unknown.erase(name);
  SetUnknownDomains(host, std::move(unknown));
  Event("vm.adopted", name, "domain " + name + " on " + host.name + " adopted with the pinning its metadata records");
  return json{{"adopted", name}, {"host", host.name}};
}

}  // namespace corepin
