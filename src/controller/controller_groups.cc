// Controller: redundancy groups (create, delete, switchover), what-if and the reserve.
#include <chrono>
#include <set>

#include "controller/controller.h"
#include "controller/group_record.h"
#include "controller/views.h"
#include "placement/cluster_json.h"
#include "placement/placement_json.h"
#include "placement/whatif.h"

namespace corepin {

using nlohmann::json;

namespace {

std::string RoleName(Role r) { return r == Role::kAct ? "ACT" : "SBY"; }

}  // namespace

Result<std::vector<PortState>> Controller::DesiredPorts(const std::string& only_group) {
  auto groups = store_->ListGroups();
  if (!groups) return groups.error();
  auto vms = store_->ListVms();
  if (!vms) return vms.error();
  // A member being recreated by a healing, or lost, has no port (yet): it is left out.
  std::set<std::string> portless;
  for (const auto& vm : *vms)
    if (vm.state == kVmHealing || vm.state == kVmLost) portless.insert(vm.name);
  std::vector<PortState> out;
  for (const auto& rec : *groups) {
    if (!only_group.empty() && rec.name != only_group) continue;
    // A group being created has its ports set by its create (which names it), not by others.
    if ((rec.state == kGroupCreating && rec.name != only_group) || rec.state == kGroupDeleting) continue;
    auto g = StoredGroupFromJson(json::parse(rec.config_json, nullptr, false));
    if (!g) return g.error();
    if (!g->service) continue;
    std::vector<GroupMemberPort> ports;
    for (const auto& m : g->members) {
      if (portless.count(m.vm)) continue;
      auto host = FindHost(m.host);
      if (!host) return host.error();
      ports.push_back({{(*host)->vm_options.bridge, PortName(m.vm, m.host, g->service->interface)}, m.role == Role::kAct});
    }
    for (auto& p : GroupServicePorts(g->service->vlan, g->service->parking_vlan, ports)) out.push_back(std::move(p));
  }
  return out;
}

Result<json> Controller::CreateGroup(const json& request, NoFit* no_fit) {
  if (!request.is_object()) return Invalid("request body must be a JSON object");
  json req_json = request;
  json service_json = req_json.contains("service") ? req_json["service"] : json();
  req_json.erase("service");
  auto req = GroupRequestFromJson(req_json);
  if (!req) return req.error();
  auto service = GroupServiceFromJson(service_json, req->vm);
  if (!service) return service.error();

  std::lock_guard lock(mu_);
  if (store_->GetGroup(req->name)) return Conflict("group " + req->name + " already exists");
  if (store_->GetVm(req->name)) return Conflict("name " + req->name + " is a VM's; VMs and groups share one namespace");
  for (const auto& m : req->members) {
    if (m.name == req->name)
      return Conflict("member " + m.name + " has the group's own name; VMs and groups share one namespace, name it e.g. " +
                      req->name + "-a");
    if (auto vm = store_->GetVm(m.name); vm) return Conflict("VM " + m.name + " already exists on host " + vm->host);
    if (!m.host.empty())
      if (auto h = FindHost(m.host); !h) return h.error();
  }
  GroupOutcome placed = cluster_.PlaceGroup(*req);
  if (!placed.ok()) {
    no_fit->Fill(placed);
    Error e = placed.status.error();
    if (e.code == ErrorCode::kUnprocessable) e.message = no_fit->Summary();
    return e;
  }
  const RedundancyGroup& g = *cluster_.FindGroup(req->name);
  if (auto s = CheckBridges(req->vm, placed.placed); !s) {
    (void)cluster_.DeleteGroup(req->name);
    return s.error();
  }
  StoredGroup stored{*req, g.members, *service};
  GroupRecord rec{.name = req->name, .config_json = StoredGroupToJson(stored).dump(), .state = std::string(kGroupCreating)};
  std::vector<Member> members;
  for (const auto& p : placed.placed)
    members.push_back({VmRecord{.name = p.vm, .host = p.assignment.host, .spec_json = VmSpecToJson(MemberSpec(req->vm, p.vm)).dump(),
                                .assignment_json = AssignmentToJson(p.assignment).dump(), .state = std::string(kVmCreating)},
                       RoleName(p.role)});
  // Intent: the group and its members, all at once.
  Status stored_ok = store_->RunInTransaction([&]() -> Status {
    if (auto s = store_->InsertGroup(rec); !s) return s;
    for (const auto& m : members)
      if (auto s = store_->InsertVm(m.record); !s) return s;
    return Status::Ok();
  });
  if (!stored_ok) {
    (void)cluster_.DeleteGroup(req->name);
    return stored_ok.error();
  }
  std::vector<std::string> vm_names;
  for (const auto& m : members) vm_names.push_back(m.record.name);
  auto undo = [&](const Error& e) -> Error {
    ForgetVms(vm_names, req->name, /*destroy_domains=*/true);
    (void)store_->DeleteGroup(req->name);
    Event("group.create.failed", req->name, e.message);
    return Error{e.code, "group " + req->name + ": " + e.message + "; nothing was kept (no domain, no pCPUs held)"};
  };
  CrashPoint("group.stored");
  if (auto s = StartMembers(members); !s) return undo(s.error());
  CrashPoint("group.started");
  // The service goes to the ACT's port; the SBYs' are parked.
  if (*service && switch_->managed()) {
    auto ports = DesiredPorts(req->name);
    auto report = ports ? switch_->Apply(*ports, "place group " + req->name) : Result<SwitchReport>(ports.error());
    if (!report) return undo(report.error());
    Event("switch.applied", req->name, report->summary);
  }
  CrashPoint("group.switched");
  // Done: the group and its members become running together, so that a crash never leaves a
  // running group with members still creating.
  rec.state = std::string(kGroupRunning);
  if (auto s = MarkGroupRunning(rec, vm_names); !s) return undo(s.error());
  std::string where;
  for (const auto& m : g.members) where += (where.empty() ? "" : ", ") + m.vm + " " + RoleName(m.role) + " on " + m.host;
  Event("group.created", req->name, where);
  json view = GroupView(stored, rec.state);
  view["placement"] = GroupOutcomeToJson(placed);
  return view;
}

Status Controller::DeleteGroup(const std::string& name) {
  std::lock_guard lock(mu_);
  auto rec = store_->GetGroup(name);
  if (!rec) return NotFound("group " + name + " does not exist; list groups with corepin group list");
  auto g = StoredGroupFromJson(json::parse(rec->config_json, nullptr, false));
  if (!g) return g.error();
  for (const auto& m : g->members)
    if (auto h = FindHost(m.host); h && !(*h)->hypervisor)
      return Unavailable("host " + m.host + " of member " + m.vm + " is unreachable; nothing was changed");
  GroupRecord intent = *rec;
  intent.state = std::string(kGroupDeleting);
  if (auto s = store_->UpdateGroup(intent); !s) return s;
  std::vector<std::string> vms;
  for (const auto& m : g->members) vms.push_back(m.vm);
  ForgetVms(vms, name, /*destroy_domains=*/true);
  if (auto s = store_->DeleteGroup(name); !s) return s;
  Event("group.deleted", name, std::to_string(vms.size()) + " members removed");
  return Status::Ok();
}

// The end of a group's create: the group and every member running, in one transaction.
Status Controller::MarkGroupRunning(const GroupRecord& group, const std::vector<std::string>& members) {
  return store_->RunInTransaction([&]() -> Status {
    if (auto s = store_->UpdateGroup(group); !s) return s;
    for (const auto& vm : members) {
      auto r = store_->GetVm(vm);
      if (!r) return r.error();
      if (r->state != kVmCreating) continue;  // e.g. a member a healing already took over
      r->state = std::string(kVmRunning);
      if (auto s = store_->UpdateVm(*r); !s) return s;
    }
    return Status::Ok();
  });
}

// Finishes a group operation a crash interrupted: a create is completed when every member runs
// with its stored pinning (else undone), a delete is completed, a switchover is applied to the
// switch with the stored (new) roles.
Status Controller::ResumeGroup(const GroupRecord& rec) {
  auto g = StoredGroupFromJson(json::parse(rec.config_json, nullptr, false));
  if (!g) return g.error();
  std::vector<std::string> vms;
  for (const auto& m : g->members) vms.push_back(m.vm);
  GroupRecord done = rec;
  done.state = std::string(kGroupRunning);
  if (rec.state == kGroupCreating) {
    bool all_running = true;
    for (const auto& m : g->members) {
      ManagedHost& host = **FindHost(m.host);
      std::vector<std::string> diffs;
      if (const PlacedVm* p = Placed(m.vm)) ActualPinning(host, *p, &diffs);
      all_running &= diffs.empty();
    }
    if (!all_running) {
      ForgetVms(vms, rec.name, /*destroy_domains=*/true);
      (void)store_->DeleteGroup(rec.name);
      Event("group.create.rolled-back", rec.name, "interrupted create undone");
      return Status::Ok();
    }
    if (auto s = MarkGroupRunning(done, vms); !s) return s;
    Event("group.create.resumed", rec.name, "every member runs with its stored pinning; create completed");
    return Status::Ok();
  }
  if (rec.state == kGroupDeleting) {
    ForgetVms(vms, rec.name, /*destroy_domains=*/true);
    (void)store_->DeleteGroup(rec.name);
    Event("group.deleted", rec.name, "interrupted delete completed");
    return Status::Ok();
  }
  // switching: the stored roles are the new ones; the switch may not have them yet.
  if (auto s = store_->UpdateGroup(done); !s) return s;
  Event("group.switchover.resumed", rec.name, "stored roles kept; the switch follows at reconcile");
  return Status::Ok();
}

Result<json> Controller::ListGroups() {
  std::lock_guard lock(mu_);
  auto recs = store_->ListGroups();
  if (!recs) return recs.error();
  json out = json::array();
  for (const auto& rec : *recs) {
    auto g = StoredGroupFromJson(json::parse(rec.config_json, nullptr, false));
    if (g) out.push_back(GroupView(*g, rec.state));
  }
  return out;
}

Result<json> Controller::ShowGroup(const std::string& name) {
  std::lock_guard lock(mu_);
  auto rec = store_->GetGroup(name);
  if (!rec) return NotFound("group " + name + " does not exist; list groups with corepin group list");
  auto g = StoredGroupFromJson(json::parse(rec->config_json, nullptr, false));
  if (!g) return g.error();
  json view = GroupView(*g, rec->state);
  // Each member's exact pCPUs and its healing targets, from the plan.
  json heals = json::array();
  for (const auto& [key, sc] : cluster_.reserve().scenarios())
    for (const auto& m : g->members)
      if (auto t = sc.targets.find(m.vm); t != sc.targets.end())
        heals.push_back({{"if_failed", cluster_.NamesOf(key)}, {"target", HealTargetToJson(t->second)}});
  view["heals"] = heals;
  for (auto& m : view["members"])
    if (const PlacedVm* p = Placed(m["vm"])) m["pcpus"] = p->assignment.VcpuPcpus().ToString();
  return view;
}

Result<json> Controller::Switchover(const std::string& name, const json& request) {
  if (!request.is_object()) return Invalid("request body must be a JSON object, e.g. {} or {\"to\": \"fw-sby1\"}");
  for (const auto& [k, v] : request.items())
    if (k != "to" && k != "from") return Invalid("unknown field \"" + k + "\"; switchover fields are to, from");
  std::lock_guard lock(mu_);
  return SwitchoverLocked(name, request);
}

Result<json> Controller::SwitchoverLocked(const std::string& name, const json& request) {
  const auto t0 = std::chrono::steady_clock::now();
  auto rec = store_->GetGroup(name);
  if (!rec) return NotFound("group " + name + " does not exist; list groups with corepin group list");
  if (rec->state != kGroupRunning) return Conflict("group " + name + " is " + rec->state + "; a switchover needs it running");
  auto g = StoredGroupFromJson(json::parse(rec->config_json, nullptr, false));
  if (!g) return g.error();
  std::vector<std::string> acts, sbys;
  for (const auto& m : g->members) (m.role == Role::kAct ? acts : sbys).push_back(m.vm);
  std::string to = request.value("to", sbys.empty() ? "" : sbys.front());
  std::string from = request.value("from", acts.size() == 1 ? acts.front() : "");
  if (to.empty()) return Unprocessable("group " + name + " has no SBY to promote");
  if (from.empty()) return Invalid("from: group " + name + " has " + std::to_string(acts.size()) + " ACTs; say which one steps down");
  const GroupMember* to_m = g->Find(to);
  const GroupMember* from_m = g->Find(from);
  if (!to_m || to_m->role != Role::kSby) return Invalid("to: " + to + " is not a SBY of group " + name);
  if (!from_m || from_m->role != Role::kAct) return Invalid("from: " + from + " is not an ACT of group " + name);

  // Intent: the new roles, stored before the switch moves the service.
  StoredGroup next = *g;
  for (auto& m : next.members) m.role = m.vm == to ? Role::kAct : m.vm == from ? Role::kSby : m.role;
  GroupRecord intent{.name = name, .config_json = StoredGroupToJson(next).dump(), .state = std::string(kGroupSwitching)};
  if (auto s = store_->UpdateGroup(intent); !s) return s.error();
  std::string switch_summary = "no service network";
  if (next.service) {
    auto ports = DesiredPorts(name);
    auto report = ports ? switch_->Apply(*ports, "switchover " + name + ": " + to + " ACT, " + from + " SBY")
                        : Result<SwitchReport>(ports.error());
    if (!report) {
      (void)store_->UpdateGroup(*rec);  // the old roles stand: nothing changed
      Event("group.switchover.failed", name, report.error().message);
      return Error{report.error().code, "group " + name + ": switchover not done, the switch refused: " + report.error().message};
    }
    switch_summary = report->summary;
  }
  if (auto s = cluster_.SwapRoles(name, to, from); !s) return s.error();
  intent.state = std::string(kGroupRunning);
  if (auto s = store_->UpdateGroup(intent); !s) return s.error();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  Event("group.switchover", name, to + " is ACT, " + from + " is SBY; switch: " + switch_summary);
  json view = GroupView(next, intent.state);
  view["switch"] = switch_summary;
  view["elapsed_ms"] = ms;
  return view;
}

Result<json> Controller::WhatIf(const std::vector<std::string>& failed) {
  if (failed.empty()) return Invalid("name at least one host that fails");
  std::lock_guard lock(mu_);
  auto report = corepin::WhatIf(cluster_, failed);
  if (!report) return report.error();
  return WhatIfToJson(*report);
}

Result<json> Controller::Reserve() {
  std::lock_guard lock(mu_);
  return ReserveToJson(cluster_);
}

}  // namespace corepin
