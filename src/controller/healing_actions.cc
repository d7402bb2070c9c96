// Controller: what an operator does about healings (healing.cc runs them): list them, confirm
// that a host without a working BMC is off (the healing goes on, or starts, from there), and
// return a failed host to service once it is repaired.
#include <algorithm>

#include "common/wall_clock.h"
#include "controller/controller.h"
#include "controller/heal_steps.h"

namespace corepin {

using nlohmann::json;
using namespace heal_steps;

Result<json> Controller::Healings() {
  std::lock_guard lock(mu_);
  auto ops = store_->ListOperations(kHeal);
  if (!ops) return ops.error();
  json out = json::array();
  for (const auto& op : *ops) {
    json body = json::parse(op.body_json, nullptr, false);
    out.push_back({{"name", op.name}, {"step", op.state}, {"created_unix", op.created_unix}, {"updated_unix", op.updated_unix},
                   {"detail", body}});
  }
  return out;
}

Result<json> Controller::ConfirmFenced(const std::string& name) {
  std::lock_guard lock(mu_);
  auto host = FindHost(name);
  if (!host) return host.error();
  ManagedHost& h = **host;
  if (h.state == kHostFailed) return Conflict("host " + name + " is already failed and fenced");
  if (!h.suspected && h.hypervisor)
    return Conflict("host " + name + " answers; corepin heals only a host that stopped answering. If it must go, drain it");
  Event("host.fenced", name, "an operator confirmed that host " + name + " is powered off");
  // A healing stopped for want of a fence goes on from there; otherwise one starts fenced.
  if (auto ops = store_->ListOperations(kHeal); ops)
    for (auto op : *ops) {
      if (op.state != kStopped) continue;
      json body = json::parse(op.body_json, nullptr, false);
      auto hosts = body.value("hosts", std::vector<std::string>{});
      if (std::find(hosts.begin(), hosts.end(), name) == hosts.end() || body.contains("plan")) continue;
      body["fence"][name] = "confirmed off by an operator";
      body.erase("stopped");
      body["timeline"]["fenced"] = UnixMs();
      if (auto s = SaveStep(op, body, kFenced); !s) return s.error();
      RunHealing(op);
      return json{{"host", name}, {"healing", op.name}};
    }
  const std::string op = StartHealing({name}, /*fenced_by_operator=*/true);
  if (op.empty()) return Internal("host " + name + ": the healing could not be recorded; see the events");
  return json{{"host", name}, {"healing", op}};
}

Result<json> Controller::ReturnHost(const std::string& name) {
  std::lock_guard lock(mu_);
  auto host = FindHost(name);
  if (!host) return host.error();
  ManagedHost& h = **host;
  if (h.state != kHostFailed) return Conflict("host " + name + " is " + h.state + ", not failed; nothing to return");
  if (auto ops = store_->ListOperations(kHeal); ops)
    for (const auto& op : *ops)
      if (!Finished(op.state) && op.state != kStopped && op.body_json.find("\"" + name + "\"") != std::string::npos)
        return Conflict("host " + name + " is still being healed (" + op.name + ", step " + op.state + "); wait for it");
  auto hv = connect_(h.uri);
  if (!hv) return Unavailable("host " + name + " does not answer: " + hv.error().message + "; power it on first");
  auto domains = (*hv)->ListCorepinDomains();
  if (!domains) return Unavailable("host " + name + ": cannot list its domains: " + domains.error().message);
  // Copies of VMs that were healed elsewhere (or deleted since) go; VMs lost with the host stay.
  json removed = json::array();
  for (const auto& d : *domains) {
    auto rec = store_->GetVm(d.name);
    if (rec && rec->host == name) continue;
    if (auto s = (*hv)->DestroyAndUndefine(d.name); !s)
      return Unavailable("host " + name + ": stale domain " + d.name + " could not be removed: " + s.error().message +
                         "; the host stays failed");
    removed.push_back(d.name);
  }
  if (auto s = store_->SetHostState(name, kHostActive); !s) return s.error();
  h.state = std::string(kHostActive);
  h.hypervisor = std::move(*hv);
  h.connect_error.clear();
  h.suspected = false;
  WatchHost(h);
  if (monitor_) monitor_->Add(name, h.uri);
  UpdateSchedulable(h);
  // VMs lost with the host come back where they were, with their pinning.
  json restarted = json::array();
  if (auto vms = store_->ListVms(name); vms)
    for (auto vm : *vms) {
      if (vm.state != kVmLost) continue;
      const Cluster::VmLocation* loc = cluster_.FindVm(vm.name);
      const RedundancyGroup* g = loc ? cluster_.FindGroup(loc->group) : nullptr;
      const GroupMember* m = g ? g->FindMember(vm.name) : nullptr;
      std::string role = m && loc->group != vm.name ? (m->role == Role::kAct ? "ACT" : "SBY") : "";
      (void)h.hypervisor->DestroyAndUndefine(vm.name);
      if (auto s = StartMembers({{vm, role}}); !s) {
        Event("alarm.vm-lost", vm.name, "host " + name + " returned but VM " + vm.name + " did not start: " + s.error().message);
        continue;
      }
      vm.state = std::string(kVmRunning);
      (void)store_->UpdateVm(vm);
      restarted.push_back(vm.name);
    }
  if (auto s = cluster_.Replan(); !s) Event(kReserveAlarm, "cluster", s.error().message);
  ClearReserveAlarmIfWhole("host " + name + " returned");
  Event("host.returned", name, "back in service; stale domains removed: " + std::to_string(removed.size()) +
                                   ", lost VMs started again: " + std::to_string(restarted.size()));
  ReconcileLocked();
  return json{{"host", name}, {"state", h.state}, {"removed_stale_domains", removed}, {"restarted", restarted}};
}

}  // namespace corepin
