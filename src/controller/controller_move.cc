// Controller: moving a VM to another host (function 5 of DESIGN.md), live or cold.
//
//   MoveVm           the request checked; placement (Cluster::PlanMove): the host asked, or the
//                    best one the VM's group allows (anti-affinity, failure domains), exact pCPUs
//                    there; the model takes the move, the healing reserve re-planned around it, or
//                    it is refused and nothing changed. An operation (kind move) is stored with the
//                    VM recorded on its target, state "moving", in one transaction. Then:
//   live             libvirt migrates the running domain to the target with a definition that
//                    carries the target's pinning, NUMA nodes, bridge and port names, never the
//                    source's pCPU numbers (MigrationDomainXml); its service port starts on its
//                    VLAN. The guest pauses only while the last memory pages are copied.
//   cold             the domain is stopped here and started there with its pinning.
//   verify           pinning read back on the target (libvirt, and /proc when local), the switch
//                    ports set; the VM running, the operation done.
// A failure before the VM left its host puts the model and the records back: the VM runs where
// it was. A restarted corepind finishes a stored move from what it finds (ResumeMoves): the
// domain on the target as planned (done), still running on the source (put back), or nowhere
// (started on the target).
#include <algorithm>
#include <chrono>
#include <thread>

#include "common/wall_clock.h"
#include "controller/controller.h"
#include "controller/group_record.h"
#include "controller/heal_plan.h"
#include "controller/views.h"
#include "placement/placement_json.h"

namespace corepin {

using nlohmann::json;

namespace {

constexpr char kMove[] = "move";
constexpr char kMoving[] = "moving", kDone[] = "done", kRolledBack[] = "rolled-back";

constexpr char kMoveExample[] = R"(; e.g. {"host": "h2", "mode": "live"} or {"mode": "cold"} (the best host its group allows))";

struct MoveRequest {
  std::string to;  // "": the scheduler chooses
  bool live = true;
  bool dry_run = false;
};

Result<MoveRequest> ParseMoveRequest(const json& body) {
  if (!body.is_object()) return Invalid(std::string("a move request is a JSON object") + kMoveExample);
  MoveRequest r;
  for (const auto& [k, v] : body.items()) {
    if (k == "host") {
      if (!v.is_string() || v.get<std::string>().empty()) return Invalid("host: must be a host's name" + std::string(kMoveExample));
      r.to = v.get<std::string>();
    } else if (k == "mode") {
      if (v != "live" && v != "cold") return Invalid("mode: " + v.dump() + " is not \"live\" (the guest keeps running) or \"cold\" (stopped, then started there)");
      r.live = v == "live";
    } else if (k == "dry_run") {
      if (!v.is_boolean()) return Invalid("dry_run: must be true or false");
      r.dry_run = v.get<bool>();
    } else {
      return Invalid("unknown field \"" + k + "\"; move fields are host, mode and dry_run" + kMoveExample);
    }
  }
  return r;
}

// "tcp://ADDRESS" for libvirt's migration URI ("[v6]" bracketed), or "" for libvirt's default.
std::string MigrationUri(const std::string& address) {
  if (address.empty()) return "";
  return "tcp://" + (address.find(':') != std::string::npos ? "[" + address + "]" : address);
}

}  // namespace

Result<json> Controller::MoveVm(const std::string& name, const json& body, NoFit* no_fit) {
  auto req = ParseMoveRequest(body);
  if (!req) return req.error();
  std::lock_guard lock(mu_);
  return MoveLocked(name, req->to, req->live, req->dry_run, "asked by an operator", no_fit);
}

Result<json> Controller::MoveLocked(const std::string& name, const std::string& to, bool live, bool dry_run,
                                    const std::string& why, NoFit* no_fit, const Assignment* exact) {
  auto rec = store_->GetVm(name);
  if (!rec) return NotFound("VM " + name + " does not exist; list VMs with corepin vm list");
  if (rec->state != kVmRunning)
    return Conflict("VM " + name + " is " + rec->state + "; a move needs it running (corepin vm show " + name + ")");
  if (!to.empty() && !hosts_.count(to)) return NotFound("host " + to + " does not exist; list hosts with corepin host list");
  if (to == rec->host) return Invalid("VM " + name + " is already on host " + to + "; to change its pCPUs there, re-pin it (corepin vm repin)");
  ManagedHost& source = **FindHost(rec->host);
  if (!source.hypervisor)
    return Unavailable("host " + source.name + " of VM " + name + " is unreachable (" + source.connect_error + "); nothing was changed");
  const PlacedVm placed = *Placed(name);
  const Cluster::VmLocation loc = *cluster_.FindVm(name);
  const GroupMember* member = cluster_.FindGroup(loc.group)->FindMember(name);
  const Role role = member ? member->role : Role::kAct;
  const bool in_group = loc.group != name;

  SearchExplanation search;
  auto planned = exact ? Result<Assignment>(*exact) : cluster_.PlanMove(name, to, &search);
  if (!planned) {
    if (no_fit) {
      no_fit->rejections = search.examples;
      no_fit->explanation = ToJson(search);
    }
    return Error{planned.error().code, "VM " + name + " cannot move" + (to.empty() ? "" : " to " + to) + "; nothing was changed: " +
                                           planned.error().message};
  }
  const Assignment next = *planned;
  ManagedHost& target = **FindHost(next.host);
  if (live && target.vm_options.domain_type != source.vm_options.domain_type)
    return Unprocessable("VM " + name + " cannot live-migrate from " + source.name + " (domain type \"" + source.vm_options.domain_type +
                         "\") to " + target.name + " (\"" + target.vm_options.domain_type + "\"): a guest keeps its accelerator; move it cold");
  if (dry_run)
    return json{{"dry_run", true}, {"vm", name}, {"from", source.name}, {"to", target.name}, {"mode", live ? "live" : "cold"},
                {"assignment", AssignmentToJson(next)}, {"explanation", ToJson(search)}};
  if (live) {
    auto dom = source.hypervisor->GetDomain(name);
    if (!dom || !dom->active)
      return Conflict("VM " + name + " is not running on " + source.name + (dom ? "" : " (" + dom.error().message + ")") +
                      "; a live migration needs it running: move it cold");
  }

  // The model first: refused here (the reserve cannot be kept), nothing has changed.
  if (auto s = cluster_.MoveVm(name, next); !s) return Error{s.error().code, "VM " + name + " cannot move: " + s.error().message + "; nothing was changed"};
  HealPlan plan;
  plan.moves.push_back({.vm = name, .group = loc.group, .from = source.name, .to = target.name, .role = role, .assignment = next});
  const int64_t now = UnixMs();
  json op_body = {{"vm", name},
                  {"from", source.name},
                  {"to", target.name},
                  {"mode", live ? "live" : "cold"},
                  {"why", why},
                  {"role", in_group ? ToString(role) : ""},
                  {"from_assignment", AssignmentToJson(placed.assignment)},
                  {"assignment", AssignmentToJson(next)},
                  {"timeline", {{"started", now}}}};
  OperationRecord op{.name = "move-" + name + "-" + std::to_string(now), .kind = kMove, .state = kMoving, .body_json = op_body.dump()};
  auto undo_model = [&] {
    if (auto s = cluster_.MoveVm(name, placed.assignment, /*record_fact=*/true); !s)
      Event("alarm.model-diverged", name, "the placement model could not take VM " + name + " back to " + source.name + ": " +
                                              s.error().message + "; restart corepind to rebuild it from the store");
  };
  // Intent: the operation, the VM on its target ("moving") and its group's member host, at once.
  Status stored = store_->InsertOperation(op);
  if (stored) stored = WritePlan(plan, "", kVmMoving, op, op_body, kMoving);
  if (!stored) {
    undo_model();
    if (auto r = store_->GetOperation(op.name); r) (void)SaveStep(op, op_body, kRolledBack);
    return Error{stored.error().code, "VM " + name + ": the move could not be stored: " + stored.error().message + "; nothing was changed"};
  }
  Event("vm.move.started", name, op.name + ": " + (live ? "live" : "cold") + " from " + source.name + " to " + target.name + ", vCPUs on " +
                                     next.VcpuPcpus().ToString() + " there (" + why + ")");
  CrashPoint("move.stored");

  VmRecord moved = *store_->GetVm(name);
  const std::string role_text = in_group ? (role == Role::kAct ? "ACT" : "SBY") : "";
  const auto t0 = std::chrono::steady_clock::now();
  Status acted = Status::Ok();
  // After a failure: the records back on the source (the VM, its group's member host, the
  // operation at `step`), in one transaction.
  const HealMove back{.vm = name, .group = loc.group, .from = target.name, .to = source.name, .role = role, .assignment = placed.assignment};
  auto store_back = [&](std::string_view vm_state, const std::string& step) {
    HealPlan reverse;
    reverse.moves.push_back(back);
    op_body["failed"] = acted.error().message;
    return WritePlan(reverse, "", vm_state, op, op_body, step);
  };
  if (live) {
    acted = MigrateLocked(source, target, moved, loc.group, role);
    if (!acted) {  // the guest still runs on the source as it did: everything goes back
      undo_model();
      if (auto s = store_back(kVmRunning, kRolledBack); !s) Event("vm.rollback-failed", name, s.error().message);
      Event("vm.move.failed", name, op.name + ": " + acted.error().message + "; it runs on " + source.name + " as before");
      return Error{acted.error().code, acted.error().message + "; VM " + name + " runs on " + source.name + " as before, nothing was changed"};
    }
  } else {
    if (auto s = source.hypervisor->DestroyAndUndefine(name); !s) {
      acted = s;
    } else {
      CrashPoint("move.stopped");
      acted = EnsureOnTarget(plan.moves[0], moved, role_text);
    }
    if (!acted) {
      // Stopped there, not started here: try the source again (its pCPUs are still free there).
      undo_model();
      Status back_stored = store_back(kVmMoving, kMoving);
      auto rec_back = store_->GetVm(name);
      Status restarted = !back_stored ? back_stored : !rec_back ? Status(rec_back.error()) : EnsureOnTarget(back, *rec_back, role_text);
      if (restarted) (void)SaveStep(op, op_body, kRolledBack);
      Event(restarted ? "vm.move.failed" : "alarm.vm-down", name,
            op.name + ": " + acted.error().message + (restarted ? "; started again on " + source.name : "; and it could not start again on " + source.name + ": " +
                                                                                                         restarted.error().message + ". It is down"));
      return Error{acted.error().code, acted.error().message + (restarted ? "; VM " + name + " was started again on " + source.name
                                                                          : "; VM " + name + " is down: " + restarted.error().message)};
    }
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  return FinishMove(op, op_body, took.count());
}

Status Controller::MigrateLocked(ManagedHost& source, ManagedHost& target, const VmRecord& rec, const std::string& group, Role role) {
  const std::string& name = rec.name;
  if (!source.hypervisor) return Unavailable("host " + source.name + " is unreachable");
  if (!target.hypervisor) return Unavailable("host " + target.name + " is unreachable");
  const bool in_group = group != name;
  // The service port starts on its VLAN: the service's if ACT, parked if SBY.
  std::map<std::string, int> vlans;
  if (auto g = store_->GetGroup(group); in_group && g)
    if (auto sg = StoredGroupFromJson(json::parse(g->config_json, nullptr, false)); sg && sg->service)
      vlans[sg->service->interface] = role == Role::kAct ? sg->service->vlan : sg->service->parking_vlan;
  const PlacedVm& there = *Placed(name);
  const std::string role_text = in_group ? (role == Role::kAct ? "ACT" : "SBY") : "";
  Hypervisor::MigrateRequest m{
      .domain = {there.spec, there.assignment, StateOf(target).topology(), DomainMetadata(rec).dump(), target.vm_options, role_text},
      .migration_uri = MigrationUri(target.migration_address),
      .vlans = vlans};
  {
    std::lock_guard in_flight(live_moves_mu_);
    live_moves_[name] = {.from = source.name, .to = target.name, .source = source.hypervisor, .cancelled = ""};
  }
  Status migrated = source.hypervisor->MigrateLive(name, *target.hypervisor, m);
  std::string cancelled;
  {
    std::lock_guard in_flight(live_moves_mu_);
    cancelled = live_moves_[name].cancelled;
    live_moves_.erase(name);
  }
  if (!migrated && !cancelled.empty())
    return Unavailable("the move was cancelled: " + cancelled + " (" + migrated.error().message + "); move it again once that is over");
  return migrated;
}

void Controller::CancelLiveMoves(const std::vector<std::string>& failed_hosts, const std::string& why) {
  std::vector<std::pair<std::string, std::shared_ptr<Hypervisor>>> asks;
  {
    std::lock_guard in_flight(live_moves_mu_);
    for (auto& [vm, move] : live_moves_) {
      if (!move.cancelled.empty()) continue;
      move.cancelled = why;
      if (std::find(failed_hosts.begin(), failed_hosts.end(), move.from) == failed_hosts.end()) asks.emplace_back(vm, move.source);
    }
  }
  // Outside the lock: the call goes to the source's libvirtd.
  for (const auto& [vm, source] : asks) {
    Status s = source->AbortMigration(vm);
    // Asked a moment before libvirt began the migration job: ask again, briefly.
    for (int i = 0; i < 10 && !s && s.error().code == ErrorCode::kConflict; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      {
        std::lock_guard in_flight(live_moves_mu_);
        if (!live_moves_.count(vm)) break;  // over already
      }
      s = source->AbortMigration(vm);
    }
    Event("vm.move.cancelling", vm, "live migration of " + vm + " cancelled: " + why +
                                        (s ? "" : " (libvirt: " + s.error().message + "; the healing waits for it to end)"));
  }
}

// The VM runs on its target: its pinning verified, its ports set, the records final.
Result<json> Controller::FinishMove(OperationRecord& op, json& body, int64_t took_ms) {
  const std::string name = body["vm"];
  VmRecord rec = *store_->GetVm(name);
  ManagedHost& target = **FindHost(rec.host);
  const PlacedVm& placed = *Placed(name);
  std::vector<std::string> diffs;
  json actual = ActualPinning(target, placed, &diffs);
  if (!diffs.empty()) {
    // The migration carried the target's pins; libvirt or the kernel disagree: pin again.
    auto repinned = ApplyPinning(target, rec);
    if (!repinned) Event("alarm.pinning-drift", name, "moved to " + target.name + " but its pinning differs" + Joined(diffs) + ": " + repinned.error().message);
    else actual = *repinned;
  }
  rec.state = std::string(kVmRunning);
  if (auto s = store_->UpdateVm(rec); !s) return s.error();
  const Cluster::VmLocation* loc = cluster_.FindVm(name);
  if (switch_->managed() && loc && loc->group != name)
    if (auto ports = DesiredPorts(loc->group); ports && !ports->empty())
      if (auto r = switch_->Apply(*ports, "move " + name + " to " + target.name); !r)
        Event("alarm.switch-failed", name, "port of moved VM not set yet: " + r.error().message);
  body["timeline"]["done"] = UnixMs();
  body["took_ms"] = took_ms;
  (void)SaveStep(op, body, kDone);
  Event("vm.moved", name, op.name + ": " + body.value("mode", "") + " from " + body.value("from", "") + " to " + target.name + ", vCPUs on " +
                              placed.assignment.VcpuPcpus().ToString() + ", emulator on " + placed.assignment.emulator.ToString() +
                              ", pinning " + (actual.value("pinning_verified", false) ? "verified" : "NOT verified") + ", in " +
                              std::to_string(took_ms) + " ms");
  json view = VmView(rec, &StateOf(target));
  MergeActualPinning(actual, &view);
  view["moved"] = {{"from", body["from"]}, {"to", target.name}, {"mode", body["mode"]}, {"took_ms", took_ms}, {"operation", op.name}};
  return view;
}

// At start: a move the crash interrupted, finished from what the hosts show.
void Controller::ResumeMoves() {
  auto ops = store_->ListOperations(kMove);
  if (!ops) return;
  for (auto op : *ops) {
    if (op.state != kMoving) continue;
    json body = json::parse(op.body_json, nullptr, false);
    const std::string name = body.value("vm", ""), from = body.value("from", ""), to = body.value("to", "");
    auto rec = store_->GetVm(name);
    auto src = FindHost(from);
    auto dst = FindHost(to);
    if (!rec || !src || !dst || !Placed(name)) {
      (void)SaveStep(op, body, kRolledBack);
      continue;
    }
    auto from_assignment = AssignmentFromJson(body["from_assignment"]);
    auto plan_assignment = AssignmentFromJson(body["assignment"]);
    if (!from_assignment || !plan_assignment) {
      Event("alarm.move-unreadable", op.name, "stored move is unreadable; VM " + name + " stays recorded " + rec->state + " on " + rec->host);
      continue;
    }
    const std::string role = body.value("role", "");
    const Role r = role == "sby" ? Role::kSby : Role::kAct;
    const std::string role_text = role.empty() ? "" : (r == Role::kAct ? "ACT" : "SBY");
    const Cluster::VmLocation loc = *cluster_.FindVm(name);
    // Where is it? On the record's host (the target, or the source when a cold move's rollback
    // was stored) as planned: done.
    ManagedHost& on = **FindHost(rec->host);
    bool there = false;
    if (on.hypervisor)
      if (auto dom = on.hypervisor->GetDomain(name); dom && dom->active) {
        std::vector<std::string> diffs;
        ActualPinning(on, *Placed(name), &diffs);
        there = diffs.empty();
      }
    if (there) {
      Event("vm.move.resumed", name, op.name + ": found running on " + rec->host + " as planned");
      (void)FinishMove(op, body, 0);
      continue;
    }
    // Still running on the source: the move never happened; the records go back.
    ManagedHost& source = **src;
    if (rec->host == to && source.hypervisor)
      if (auto dom = source.hypervisor->GetDomain(name); dom && dom->active) {
        if ((*dst)->hypervisor) {  // a half-made copy on the target is ours (same name, same VM)
          if (auto d = (*dst)->hypervisor->GetDomain(name); d && json::parse(d->metadata_json, nullptr, false).value("vm", "") == name)
            (void)(*dst)->hypervisor->DestroyAndUndefine(name);
        }
        if (auto s = cluster_.MoveVm(name, *from_assignment, /*record_fact=*/true); !s) Event("alarm.model-diverged", name, s.error().message);
        HealPlan reverse;
        reverse.moves.push_back({.vm = name, .group = loc.group, .from = to, .to = from, .role = r, .assignment = *from_assignment});
        (void)WritePlan(reverse, "", kVmRunning, op, body, kRolledBack);
        Event("vm.move.rolled-back", name, op.name + ": corepind restarted during the move; VM " + name + " still runs on " + from);
        continue;
      }
    // Nowhere: started where the record says.
    HealMove m{.vm = name, .group = loc.group, .from = from, .to = rec->host, .role = r,
               .assignment = rec->host == to ? *plan_assignment : *from_assignment};
    if (auto s = EnsureOnTarget(m, *rec, role_text); !s) {
      Event("alarm.vm-down", name, op.name + ": corepind restarted during the move and VM " + name + " could not be started on " + rec->host +
                                       ": " + s.error().message);
      continue;
    }
    Event("vm.move.resumed", name, op.name + ": started on " + rec->host + " after a restart");
    (void)FinishMove(op, body, 0);
  }
}

}  // namespace corepin
