#include "controller/controller.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "controller/host_config.h"
#include "controller/views.h"
#include "driver/proc_affinity.h"
#include "placement/invariants.h"
#include "placement/placement_json.h"
#include "topology/fixtures.h"

namespace corepin {

using nlohmann::json;

std::string NoFit::Summary() const {
  std::string out = "no host can take this VM";
  if (rejections.empty()) return out + ": there are no hosts; add one with corepin host add";
  for (const auto& r : rejections) out += "\n" + r.ToString();
  return out;
}

std::string LocalQemuRunDir(const std::string& uri) {
  if (uri == "qemu:///system") return "/run/libvirt/qemu";
  // Lab hosts: a libvirtd in its own mount namespace, reached through /proc/PID/root.
  const std::string key = "socket=/proc/";
  auto at = uri.find(key);
  if (uri.rfind("qemu+unix:///system", 0) == 0 && at != std::string::npos) {
    auto pid_end = uri.find('/', at + key.size());
    if (pid_end != std::string::npos) return "/proc/" + uri.substr(at + key.size(), pid_end - at - key.size()) + "/root/run/libvirt/qemu";
  }
  return "";
}

namespace {

// Puts what ActualPinning read beside the intended values of a VM view.
void MergeActual(const json& actual, json* view) {
  (*view)["pinning_verified"] = actual["pinning_verified"];
  if (actual.contains("emulator")) (*view)["emulator"] = actual["emulator"];
  if (!actual.contains("actual_vcpus")) return;
  auto& vcpus = (*view)["vcpus"];
  for (size_t i = 0; i < vcpus.size() && i < actual["actual_vcpus"].size(); ++i) vcpus[i].update(actual["actual_vcpus"][i]);
}

}  // namespace

Controller::Controller(StateStore* store, HypervisorFactory connect) : store_(store), connect_(std::move(connect)) {}

void Controller::Event(const std::string& kind, const std::string& subject, const std::string& message) {
  std::fprintf(stderr, "corepind: event %s %s: %s\n", kind.c_str(), subject.c_str(), message.c_str());
  (void)store_->AppendEvent({.kind = kind, .subject = subject, .message = message});
}

Result<ManagedHost*> Controller::FindHost(const std::string& name) {
  auto it = hosts_.find(name);
  if (it == hosts_.end()) return NotFound("host " + name + " is not known; list hosts with corepin host list");
  return it->second.get();
}

// Builds the in-memory host from its stored record; connects when it can.
Status Controller::LoadHost(const HostRecord& rec) {
  auto host = std::make_unique<ManagedHost>();
  host->name = rec.name;
  host->uri = rec.uri;
  auto cfg_json = json::parse(rec.config_json, nullptr, false);
  auto cfg = HostConfigFromJson(cfg_json);
  if (!cfg) return Internal("stored configuration of host " + rec.name + " is invalid: " + cfg.error().message);
  auto topo = ParseHostFixture(rec.topology_xml);
  if (!topo) return Internal("stored topology of host " + rec.name + " is invalid: " + topo.error().message);
  auto warnings = ResolvePartition(*topo, &cfg->partition);
  if (!warnings) return Internal("stored partition of host " + rec.name + " no longer fits its topology: " + warnings.error().message);
  host->warnings = *warnings;
  host->config = HostConfigToJson(*cfg);
  host->labels = cfg->labels;
  host->state = std::make_unique<HostState>(rec.name, *topo, cfg->partition);
  host->local_qemu_run_dir = LocalQemuRunDir(rec.uri);
  auto hv = connect_(rec.uri);
  if (hv) host->hypervisor = std::move(*hv);
  else host->connect_error = hv.error().message;
  hosts_[rec.name] = std::move(host);
  return Status::Ok();
}

Status Controller::Start() {
  std::lock_guard lock(mu_);
  auto hosts = store_->ListHosts();
  if (!hosts) return hosts.error();
  for (const auto& rec : *hosts) {
    if (auto s = LoadHost(rec); !s) return s;
    ManagedHost& h = *hosts_[rec.name];
    if (!h.hypervisor) Event("host.unreachable", h.name, h.connect_error);
  }
  auto vms = store_->ListVms();
  if (!vms) return vms.error();
  for (const auto& vm : *vms) {
    auto spec = VmSpecFromJson(json::parse(vm.spec_json, nullptr, false));
    auto a = AssignmentFromJson(json::parse(vm.assignment_json, nullptr, false));
    if (!spec || !a) return Internal("stored VM " + vm.name + " is unreadable: " + (!spec ? spec.error().message : a.error().message));
    auto host = FindHost(vm.host);
    if (!host) return Internal("stored VM " + vm.name + " names unknown host " + vm.host);
    if (auto s = (*host)->state->Apply(*spec, *a); !s)
      return Internal("stored VM " + vm.name + " clashes with another VM's pCPUs: " + s.error().message);
  }
  for (const auto& [name, h] : hosts_)
    if (auto s = CheckInvariants(*h->state); !s) return Internal("state of host " + name + " is inconsistent: " + s.error().message);
  for (const auto& vm : *vms)
    if (vm.state == kVmCreating || vm.state == kVmDeleting)
      if (auto s = ResumeVm(vm); !s) Event("vm.resume-failed", vm.name, s.error().message);
  json report = ReconcileLocked();
  std::fprintf(stderr, "corepind: started: %zu hosts, %zu VMs, %zu differences with the hypervisors\n", hosts_.size(),
               vms->size(), report["differences"].size());
  return Status::Ok();
}

// Finishes an operation a crash interrupted. A create completes only if the domain runs with
// exactly the stored pinning; otherwise it is undone. A delete is always completed.
Status Controller::ResumeVm(const VmRecord& vm) {
  ManagedHost& host = **FindHost(vm.host);
  if (!host.hypervisor) return Unavailable("host " + host.name + " is unreachable; VM " + vm.name + " stays " + vm.state);
  if (vm.state == kVmCreating) {
    std::vector<std::string> diffs;
    auto dom = host.hypervisor->GetDomain(vm.name);
    if (dom && dom->active) ActualPinning(host, host.state->vms().at(vm.name), &diffs);
    if (dom && dom->active && diffs.empty()) {
      VmRecord done = vm;
      done.state = std::string(kVmRunning);
      if (auto s = store_->UpdateVm(done); !s) return s;
      Event("vm.create.resumed", vm.name, "found running on " + host.name + " with the stored pinning; create completed");
      return Status::Ok();
    }
    // Destroy the domain only if it is this VM's (its corepin metadata says so), never a stranger's.
    json meta = dom ? json::parse(dom->metadata_json, nullptr, false) : json();
    bool ours = meta.is_object() && meta.value("vm", "") == vm.name;
    RollBackCreate(host, vm.name, ours);
    Event("vm.create.rolled-back", vm.name, "interrupted create undone on " + host.name);
    return Status::Ok();
  }
  if (auto s = host.hypervisor->DestroyAndUndefine(vm.name); !s) return s;
  if (auto s = store_->DeleteVm(vm.name); !s) return s;
  (void)host.state->Release(vm.name);
  Event("vm.deleted", vm.name, "interrupted delete completed on " + host.name);
  return Status::Ok();
}

Result<json> Controller::AddHost(const json& req) {
  if (!req.is_object()) return Invalid("request body must be a JSON object");
  for (const char* key : {"name", "uri"})
    if (!req.contains(key) || !req[key].is_string())
      return Invalid(std::string(key) + ": missing or not a string; e.g. {\"name\": \"local\", \"uri\": \"qemu:///system\", \"housekeeping\": \"0\"}");
  const std::string name = req["name"], uri = req["uri"];
  if (!IsValidName(name)) return Invalid("name: \"" + name + "\" is not a valid host name; use 1-63 of [A-Za-z0-9_.-]");
  json cfg_json = req;
  cfg_json.erase("name");
  cfg_json.erase("uri");
  auto cfg = HostConfigFromJson(cfg_json);
  if (!cfg) return cfg.error();

  std::lock_guard lock(mu_);
  if (hosts_.count(name)) return Conflict("host " + name + " already exists (uri " + hosts_[name]->uri + ")");
  for (const auto& [other, h] : hosts_)
    if (h->uri == uri) return Conflict("uri " + uri + " is already host " + other);
  auto hv = connect_(uri);
  if (!hv) return Unprocessable("host " + name + ": " + hv.error().message);
  auto topo = (*hv)->ReadTopology();
  if (!topo) return Unprocessable("host " + name + ": cannot read its topology: " + topo.error().message);
  auto warnings = ResolvePartition(*topo, &cfg->partition);
  if (!warnings) return Invalid("host " + name + ": " + warnings.error().message);
  HostRecord rec{.name = name, .uri = uri, .config_json = HostConfigToJson(*cfg).dump(), .topology_xml = HostTopologyToXml(*topo)};
  if (auto s = store_->PutHost(rec); !s) return s.error();
  if (auto s = LoadHost(rec); !s) return s.error();
  ManagedHost& host = *hosts_[name];
  Event("host.added", name, uri + ": " + std::to_string(topo->pcpus.size()) + " pCPUs, housekeeping " +
                                cfg->partition.housekeeping.ToString() + ", allocatable " + cfg->partition.allocatable.ToString());
  // A host may already run corepin domains (re-added after a remove): say so.
  ReconcileLocked();
  return HostView(host);
}

Status Controller::RemoveHost(const std::string& name) {
  std::lock_guard lock(mu_);
  auto host = FindHost(name);
  if (!host) return host.error();
  if (!(*host)->state->vms().empty()) {
    std::string vms;
    for (const auto& [vm, p] : (*host)->state->vms()) vms += (vms.empty() ? "" : ", ") + vm;
    return Conflict("host " + name + " still has VMs: " + vms + "; delete or move them first");
  }
  if (auto s = store_->DeleteHost(name); !s) return s;
  hosts_.erase(name);
  Event("host.removed", name, "");
  return Status::Ok();
}

Result<json> Controller::ListHosts() {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (const auto& [name, h] : hosts_) out.push_back(HostSummaryView(*h));
  return out;
}

Result<json> Controller::ShowHost(const std::string& name) {
  std::lock_guard lock(mu_);
  auto host = FindHost(name);
  if (!host) return host.error();
  return HostView(**host);
}

Result<json> Controller::CreateVm(const json& req, NoFit* no_fit) {
  auto spec = VmSpecFromJson(req, {"host"});
  if (!spec) return spec.error();
  std::string wanted_host;
  if (req.contains("host")) {
    if (!req["host"].is_string()) return Invalid("host: must be a host name string");
    wanted_host = req["host"];
  }
  std::lock_guard lock(mu_);
  if (auto existing = store_->GetVm(spec->name); existing) return Conflict("VM " + spec->name + " already exists on host " + existing->host);
  std::vector<ManagedHost*> candidates;
  if (!wanted_host.empty()) {
    auto h = FindHost(wanted_host);
    if (!h) return h.error();
    candidates.push_back(*h);
  } else {
    for (auto& [name, h] : hosts_) candidates.push_back(h.get());
  }
  // Among the hosts that fit, the one left with the fewest free pCPUs (best fit); by name on ties.
  ManagedHost* chosen = nullptr;
  std::optional<Assignment> assignment;
  int chosen_left = 0;
  no_fit->rejections.clear();
  for (ManagedHost* h : candidates) {
    if (!h->hypervisor) {
      Rejection r;
      r.host = h->name;
      r.reasons.push_back("host is unreachable: " + h->connect_error);
      no_fit->rejections.push_back(r);
      continue;
    }
    FitResult fit = Fit(*h->state, *spec);
    if (!fit.ok()) {
      no_fit->rejections.push_back(fit.rejection);
      continue;
    }
    int left = h->state->free().Minus(fit.assignment->exclusive).Minus(fit.assignment->reserved_siblings).Size();
    if (!chosen || left < chosen_left) chosen = h, assignment = fit.assignment, chosen_left = left;
  }
  if (!chosen) return Unprocessable(no_fit->Summary());
  no_fit->rejections.clear();

  // Intent: hold the pCPUs in memory and in the store before touching the hypervisor.
  ManagedHost& host = *chosen;
  if (auto s = host.state->Apply(*spec, *assignment); !s) return s.error();
  const json spec_json = VmSpecToJson(*spec), assignment_json = AssignmentToJson(*assignment);
  VmRecord rec{.name = spec->name, .host = host.name, .spec_json = spec_json.dump(), .assignment_json = assignment_json.dump(),
               .state = std::string(kVmCreating)};
  if (auto s = store_->InsertVm(rec); !s) {
    (void)host.state->Release(spec->name);
    return s.error();
  }
  const json metadata = {{"vm", spec->name}, {"host", host.name}, {"spec", spec_json}, {"assignment", assignment_json}};
  Status started = host.hypervisor->DefineAndStart({*spec, *assignment, host.state->topology(), metadata.dump()});
  if (!started) {
    // The driver already removed whatever it created; a domain it found there is not ours.
    RollBackCreate(host, spec->name, /*destroy_domain=*/false);
    Event("vm.create.failed", spec->name, started.error().message);
    return Unavailable("VM " + spec->name + " could not start on host " + host.name + ": " + started.error().message +
                       "; nothing was kept (no domain, no pCPUs held)");
  }
  // Verify what the kernel enforces before calling it done.
  std::vector<std::string> diffs;
  json actual = ActualPinning(host, host.state->vms().at(spec->name), &diffs);
  if (!diffs.empty()) {
    std::string text;
    for (const auto& d : diffs) text += "; " + d;
    RollBackCreate(host, spec->name, /*destroy_domain=*/true);
    Event("vm.create.failed", spec->name, "pinning not enforced" + text);
    return Unavailable("VM " + spec->name + " started on host " + host.name + " but its pinning is not what was asked" + text +
                       "; it was destroyed and nothing was kept");
  }
  rec.state = std::string(kVmRunning);
  if (auto s = store_->UpdateVm(rec); !s) return s.error();
  Event("vm.created", spec->name, "on " + host.name + ": vCPUs on " + assignment->VcpuPcpus().ToString() + ", emulator on " +
                                      assignment->emulator.ToString());
  json view = VmView(rec, host.state.get());
  MergeActual(actual, &view);
  return view;
}

void Controller::RollBackCreate(ManagedHost& host, const std::string& vm, bool destroy_domain) {
  if (destroy_domain && host.hypervisor) {
    if (auto s = host.hypervisor->DestroyAndUndefine(vm); !s) Event("vm.rollback-failed", vm, s.error().message);
  }
  (void)store_->DeleteVm(vm);
  (void)host.state->Release(vm);
}

Status Controller::DeleteVm(const std::string& name) {
  std::lock_guard lock(mu_);
  auto rec = store_->GetVm(name);
  if (!rec) return NotFound("VM " + name + " does not exist; list VMs with corepin vm list");
  ManagedHost& host = **FindHost(rec->host);
  if (!host.hypervisor)
    return Unavailable("host " + host.name + " of VM " + name + " is unreachable (" + host.connect_error + "); nothing was changed");
  VmRecord intent = *rec;
  intent.state = std::string(kVmDeleting);
  if (auto s = store_->UpdateVm(intent); !s) return s;
  if (auto s = host.hypervisor->DestroyAndUndefine(name); !s) {
    (void)store_->UpdateVm(*rec);  // back to what it was: the VM still exists
    return Unavailable("VM " + name + " could not be removed from host " + host.name + ": " + s.error().message);
  }
  if (auto s = store_->DeleteVm(name); !s) return s;
  (void)host.state->Release(name);
  Event("vm.deleted", name, "from " + host.name);
  return Status::Ok();
}

Result<json> Controller::ListVms() {
  std::lock_guard lock(mu_);
  auto vms = store_->ListVms();
  if (!vms) return vms.error();
  json out = json::array();
  for (const auto& vm : *vms) out.push_back(VmSummaryView(vm));
  return out;
}

Result<json> Controller::ShowVm(const std::string& name) {
  std::lock_guard lock(mu_);
  auto rec = store_->GetVm(name);
  if (!rec) return NotFound("VM " + name + " does not exist; list VMs with corepin vm list");
  auto host = FindHost(rec->host);
  if (!host) return host.error();
  json view = VmView(*rec, (*host)->state.get());
  auto placed = (*host)->state->vms().find(name);
  if (placed != (*host)->state->vms().end()) {
    std::vector<std::string> diffs;
    MergeActual(ActualPinning(**host, placed->second, &diffs), &view);
    view["differences"] = diffs;
  }
  return view;
}

json Controller::ActualPinning(ManagedHost& host, const PlacedVm& vm, std::vector<std::string>* diffs) {
  const Assignment& a = vm.assignment;
  json out = {{"pinning_verified", nullptr}};
  json vcpus = json::array();
  for (size_t i = 0; i < a.vcpu_pcpus.size(); ++i) vcpus.push_back(json::object());
  json emulator = {{"policy", vm.spec.emulator.ToString()}, {"intended", a.emulator.ToString()}};
  if (!host.hypervisor) {
    diffs->push_back("host " + host.name + " is unreachable");
    return out;
  }
  auto dom = host.hypervisor->GetDomain(vm.spec.name);
  if (!dom) {
    diffs->push_back("domain not found on host " + host.name + ": " + dom.error().message);
    return out;
  }
  auto check = [&](const std::string& source, const std::string& what, const CpuSet& want, const CpuSet& got) {
    if (want != got) diffs->push_back(source + ": " + what + " may run on " + got.ToString() + ", expected " + want.ToString());
  };
  for (size_t i = 0; i < a.vcpu_pcpus.size() && i < dom->vcpu_pins.size(); ++i) {
    vcpus[i]["libvirt"] = dom->vcpu_pins[i].ToString();
    check("libvirt", "vCPU " + std::to_string(i), CpuSet{a.vcpu_pcpus[i]}, dom->vcpu_pins[i]);
  }
  if (dom->vcpu_pins.size() != a.vcpu_pcpus.size()) diffs->push_back("libvirt reports " + std::to_string(dom->vcpu_pins.size()) + " vCPUs");
  emulator["libvirt"] = dom->emulator_pin.ToString();
  check("libvirt", "emulator threads", a.emulator, dom->emulator_pin);
  if (!dom->active) diffs->push_back("domain is not running");
  // The kernel's view, where this machine can see the QEMU process.
  if (!host.local_qemu_run_dir.empty() && dom->active) {
    auto pid = ReadQemuPid(host.local_qemu_run_dir, vm.spec.name);
    auto proc = pid ? ReadProcAffinity(*pid) : Result<ProcAffinity>(pid.error());
    if (!proc) {
      diffs->push_back("/proc: " + proc.error().message);
    } else {
      for (size_t i = 0; i < a.vcpu_pcpus.size(); ++i) {
        auto it = proc->vcpus.find(static_cast<int>(i));
        CpuSet got = it == proc->vcpus.end() ? CpuSet{} : it->second;
        vcpus[i]["proc"] = got.ToString();
        check("/proc", "vCPU " + std::to_string(i) + " thread", CpuSet{a.vcpu_pcpus[i]}, got);
      }
      emulator["proc"] = proc->emulator.ToString();
      check("/proc", "emulator threads", a.emulator, proc->emulator);
    }
  }
  out["pinning_verified"] = diffs->empty();
  out["actual_vcpus"] = vcpus;
  out["emulator"] = emulator;
  return out;
}

json Controller::ReconcileLocked() {
  json diffs = json::array();
  auto note = [&](const std::string& host, const std::string& vm, const std::string& kind, const std::string& msg) {
    diffs.push_back({{"host", host}, {"vm", vm}, {"kind", kind}, {"message", msg}});
    Event("reconcile." + kind, vm.empty() ? host : vm, msg);
  };
  int checked = 0;
  for (auto& [name, h] : hosts_) {
    if (!h->hypervisor) {
      // Try again: the host may be back.
      auto hv = connect_(h->uri);
      if (hv) h->hypervisor = std::move(*hv), h->connect_error.clear();
      else {
        h->connect_error = hv.error().message;
        note(name, "", "host-unreachable", "host " + name + " is unreachable: " + h->connect_error);
        continue;
      }
    }
    ++checked;
    auto domains = h->hypervisor->ListCorepinDomains();
    if (!domains) {
      note(name, "", "host-unreachable", "host " + name + ": cannot list domains: " + domains.error().message);
      continue;
    }
    std::set<std::string> seen;
    for (const auto& d : *domains) {
      seen.insert(d.name);
      auto placed = h->state->vms().find(d.name);
      if (placed == h->state->vms().end()) {
        note(name, d.name, "unknown-domain", "domain " + d.name + " on host " + name + " carries corepin metadata but is not in the store");
        continue;
      }
      std::vector<std::string> vm_diffs;
      ActualPinning(*h, placed->second, &vm_diffs);
      for (const auto& msg : vm_diffs) note(name, d.name, "pinning", "VM " + d.name + " on " + name + ": " + msg);
    }
    for (const auto& [vm, placed] : h->state->vms())
      if (!seen.count(vm)) note(name, vm, "missing", "VM " + vm + " is in the store but host " + name + " has no such domain");
  }
  return {{"checked_hosts", checked}, {"differences", diffs}};
}

Result<json> Controller::Reconcile() {
  std::lock_guard lock(mu_);
  return ReconcileLocked();
}

Result<json> Controller::Events(int64_t after_id, int limit) {
  if (limit <= 0 || limit > 10000) return Invalid("limit: " + std::to_string(limit) + " is out of range 1..10000");
  auto events = store_->ListEvents(after_id, limit);
  if (!events) return events.error();
  json out = json::array();
  for (const auto& e : *events)
    out.push_back({{"id", e.id}, {"unix_ms", e.unix_ms}, {"kind", e.kind}, {"subject", e.subject}, {"message", e.message}});
  return out;
}

}  // namespace corepin
