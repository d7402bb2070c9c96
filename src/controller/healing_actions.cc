// Controller: what an operator does about healings (healing.cc runs them): list them, confirm
// that a host without a working BMC is off (the healing goes on, or starts, from there), and
// return a failed host to service once it is repaired; then VMs lost beyond the reserve are
// placed anew under their groups' rules.
#include <algorithm>

#include "common/text.h"
#include "common/wall_clock.h"
#include "controller/alarms.h"
#include "controller/controller.h"
#include "controller/group_record.h"
#include "controller/heal_steps.h"
#include "placement/placement_json.h"

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
  // Copies of VMs that were healed elsewhere (or deleted since) go, and so do those of VMs lost
  // with the host: a lost VM keeps no place, it is placed anew below (maybe here), never started
  // from its old copy.
  json removed = json::array();
  for (const auto& d : *domains) {
    auto rec = store_->GetVm(d.name);
    if (rec && rec->host == name && rec->state != kVmLost) continue;
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
  const json lost = PlaceLostVms("host " + name + " returned");
  if (auto s = cluster_.Replan(); !s) Event(kReserveAlarm, "cluster", s.error().message);
  ClearReserveAlarmIfWhole("host " + name + " returned");
  Event("host.returned", name, "back in service; stale domains removed: " + std::to_string(removed.size()) +
                                   ", lost VMs started again: " + std::to_string(lost["restarted"].size()) +
                                   ", still lost: " + std::to_string(lost["still_lost"].size()));
  ReconcileLocked();
  return json{{"host", name}, {"state", h.state}, {"removed_stale_domains", removed}, {"restarted", lost["restarted"]},
              {"still_lost", lost["still_lost"]}};
}

json Controller::PlaceLostVms(const std::string& why) {
  json restarted = json::array(), still = json::array();
  std::vector<std::string> names;
  for (const auto& [vm, l] : cluster_.lost()) names.push_back(vm);
  for (const auto& vm : names) {
    auto rec = store_->GetVm(vm);
    if (!rec || rec->state != kVmLost) continue;
    const LostMember lost = cluster_.lost().at(vm);
    auto placed = cluster_.PlaceLost(vm);
    const std::string failed = placed ? StartPlacedLost(*rec, *placed) : placed.error().message;
    if (failed.empty()) {
      restarted.push_back(vm);
      Event(kAlarmCleared, vm, ClearedMessage("alarm.vm-lost", why + ": placed anew on " + placed->assignment.host + " and started"));
      if (lost.group != vm && cluster_.FindGroup(lost.group)->members.size() == 1)  // it was down; it runs again
        Event(kAlarmCleared, lost.group, ClearedMessage("alarm.group-down", "its member " + vm + " was placed anew and started"));
      continue;
    }
    std::vector<std::string> failed_hosts;
    for (const auto& [name, h] : hosts_)
      if (h->state == kHostFailed) failed_hosts.push_back("corepin host return " + name);
    const std::string member = lost.group == vm ? "VM " + vm : "VM " + vm + " (" + ToString(lost.role) + " of group " + lost.group + ")";
    still.push_back({{"vm", vm}, {"reason", failed}});
    Event("alarm.vm-lost", vm,
          why + ", but " + member + " stays lost and is not started: " + failed +
              ". A lost VM is placed only where its group's rules allow (never on the host or a failure-domain value of "
              "another member). Add a host that qualifies" +
              (failed_hosts.empty() ? "" : ", or return a failed one (" + Join(failed_hosts, "; ") + ")") +
              ": lost VMs are placed anew then");
  }
  return json{{"restarted", restarted}, {"still_lost", still}};
}

std::string Controller::StartPlacedLost(VmRecord rec, const MemberPlacement& placed) {
  const std::string vm = rec.name;
  const std::string group = cluster_.FindVm(vm)->group;  // placed in the model now
  rec.host = placed.assignment.host;
  rec.assignment_json = AssignmentToJson(placed.assignment).dump();
  const std::string role = group == vm ? "" : placed.role == Role::kAct ? "ACT" : "SBY";
  if (auto s = StartMembers({{rec, role}}); !s) {
    const std::string why = "it did not start on host " + rec.host + ": " + s.error().message;
    (void)cluster_.LoseMember(vm, why);
    return why;
  }
  rec.state = std::string(kVmRunning);
  Status stored = store_->RunInTransaction([&]() -> Status {
    if (auto s = store_->UpdateVm(rec); !s) return s;
    if (group == vm) return Status::Ok();
    auto g = store_->GetGroup(group);
    if (!g) return g.error();
    auto sg = StoredGroupFromJson(json::parse(g->config_json, nullptr, false));
    if (!sg) return sg.error();
    for (auto& m : sg->members)
      if (m.vm == vm) m.host = rec.host, m.role = placed.role;
    g->config_json = StoredGroupToJson(*sg).dump();
    return store_->UpdateGroup(*g);
  });
  if (!stored)
    Event("alarm.model-diverged", vm, "VM " + vm + " runs on " + rec.host + " but could not be stored so: " + stored.error().message);
  Event("vm.placed-anew", vm, "lost VM placed anew under its group's rules on " + rec.host + ": vCPUs on " +
                                  placed.assignment.VcpuPcpus().ToString() + "; pinning verified");
  return "";
}

}  // namespace corepin
