// Controller: draining a host for maintenance, and the views of long operations.
//
//   Drain (request)   host "draining" (no new work; the reserve moves off it), plan from the
//                     what-if (each VM's reserved target and exact pCPUs); refused, undone, when
//                     a VM could go nowhere. Operation stored at step "switching", queued.
//   switching         each group whose ACT is here switches over to a SBY elsewhere (the switch
//                     moves the service first); then the plan is stored with the VMs on their
//                     targets ("moving"), at once.
//   moving            one VM per step, SBYs first: live-migrated (mode live, the default) or
//                     stopped here and started there (mode cold), on its target's pCPUs,
//                     verified, its port parked; progress stored after each.
//   done              host "drained"; the reserve re-planned, or an alarm says what is missing.
// A step that fails stops the drain (an alarm says what and how to go on); `Drain` on a
// draining host resumes it, and a restarted corepind resumes any drain not stopped.
#include <algorithm>
#include <chrono>
#include <optional>
#include <set>

#include "common/text.h"
#include "common/wall_clock.h"
#include "controller/controller.h"
#include "controller/group_record.h"
#include "controller/heal_plan.h"
#include "placement/placement_json.h"

namespace corepin {

using nlohmann::json;

namespace {

constexpr char kDrain[] = "drain";
constexpr char kSwitching[] = "switching", kMoving[] = "moving", kDone[] = "done", kStopped[] = "stopped",
               kCancelled[] = "cancelled";

bool Running(const std::string& step) { return step == kSwitching || step == kMoving; }

json OperationView(const OperationRecord& op) {
  return {{"name", op.name},           {"kind", op.kind},
          {"step", op.state},          {"created_unix", op.created_unix},
          {"updated_unix", op.updated_unix}, {"detail", json::parse(op.body_json, nullptr, false)}};
}

// The unfinished drain of a host, if any.
std::optional<OperationRecord> DrainOf(StateStore& store, const std::string& host) {
  auto ops = store.ListOperations(kDrain);
  if (!ops) return std::nullopt;
  for (const auto& op : *ops) {
    if (op.state == kDone || op.state == kCancelled) continue;
    json body = json::parse(op.body_json, nullptr, false);
    if (body.is_object() && body.value("hosts", std::vector<std::string>{}) == std::vector<std::string>{host}) return op;
  }
  return std::nullopt;
}

}  // namespace

Result<json> Controller::Drain(const std::string& name, const json& request) {
  if (!request.is_object()) return Invalid("request body must be a JSON object, e.g. {} or {\"dry_run\": true} or {\"mode\": \"cold\"}");
  for (const auto& [k, v] : request.items())
    if (k != "dry_run" && k != "mode") return Invalid("unknown field \"" + k + "\"; the drain fields are dry_run and mode");
  if (request.contains("dry_run") && !request["dry_run"].is_boolean()) return Invalid("dry_run: must be true or false");
  if (request.contains("mode") && request["mode"] != "live" && request["mode"] != "cold")
    return Invalid("mode: " + request["mode"].dump() + " is not \"live\" (each VM migrates, its guest running) or \"cold\" (stopped here, started there)");
  const bool dry_run = request.value("dry_run", false);
  const std::string mode = request.value("mode", "live");
  std::lock_guard lock(mu_);
  auto host = FindHost(name);
  if (!host) return host.error();
  ManagedHost& h = **host;
  if (h.state == kHostDraining) {
    auto op = DrainOf(*store_, name);
    if (!op) return Conflict("host " + name + " is draining but its drain is not recorded; undrain it first");
    if (op->state == kStopped && !dry_run) {  // resume where it stopped
      json body = json::parse(op->body_json, nullptr, false);
      const std::string resume = body.value("resume_step", std::string(kSwitching));
      body.erase("stopped");
      if (request.contains("mode")) body["mode"] = mode;  // e.g. go on cold after a live step failed
      op->state = resume;
      op->body_json = body.dump();
      if (auto s = store_->UpdateOperation(*op); !s) return s.error();
      Event("drain.resumed", name, op->name + ": going on from step " + resume);
      QueueOperation(op->name);
    }
    return OperationView(*op);
  }
  if (h.state != kHostActive) return Conflict("host " + name + " is " + h.state + "; only an active host can be drained");
  if (!h.hypervisor) return Unavailable("host " + name + " is unreachable (" + h.connect_error + "); its VMs cannot be stopped there");
  if (auto ops = store_->ListOperations("heal"); ops)
    for (const auto& op : *ops)
      if (op.state != "done" && op.state != "cancelled" && op.body_json.find("\"" + name + "\"") != std::string::npos)
        return Conflict("host " + name + " is in healing " + op.name + " (step " + op.state + ")");

  auto refuse = [&](const HealPlan& plan) -> std::optional<Error> {
    if (plan.lost.empty()) return std::nullopt;
    std::string why;
    for (const auto& l : plan.lost) why += "; " + l.vm + ": " + l.reason;
    return Unprocessable("host " + name + " cannot be drained, nothing was changed: " + std::to_string(plan.lost.size()) +
                         " VM(s) could go nowhere" + why + ". Add capacity or delete those VMs");
  };
  if (dry_run) {
    auto plan = PlanMoves({name});
    if (!plan) return plan.error();
    if (auto e = refuse(*plan)) return *e;
    return json{{"dry_run", true}, {"host", name}, {"plan", HealPlanToJson(*plan)}, {"summary", plan->Summary()}};
  }
  // Draining first (the reserve moves off the host), then the plan, so that the plan is the one
  // the model will follow.
  if (auto s = store_->SetHostState(name, kHostDraining); !s) return s.error();
  h.state = std::string(kHostDraining);
  UpdateSchedulable(h);
  auto plan = PlanMoves({name});
  std::optional<Error> refused = plan ? refuse(*plan) : std::optional<Error>(plan.error());
  if (refused) {
    (void)store_->SetHostState(name, kHostActive);
    h.state = std::string(kHostActive);
    UpdateSchedulable(h);
    return *refused;
  }
  const int64_t now = UnixMs();
  json body = {{"hosts", {name}},
               {"mode", mode},
               {"plan", HealPlanToJson(*plan)},
               {"progress", {{"done", 0}, {"total", plan->moves.size()}, {"current", ""}}},
               {"timeline", {{"started", now}}}};
  OperationRecord op{.name = "drain-" + name + "-" + std::to_string(now), .kind = kDrain, .state = kSwitching, .body_json = body.dump()};
  if (auto s = store_->InsertOperation(op); !s) {
    (void)store_->SetHostState(name, kHostActive);
    h.state = std::string(kHostActive);
    UpdateSchedulable(h);
    return s.error();
  }
  Event("drain.started", name, op.name + ": " + std::to_string(plan->moves.size()) + " VM(s) to move; " + plan->Summary());
  QueueOperation(op.name);
  return OperationView(op);
}

bool Controller::DrainStep(const std::string& op_name) {
  std::lock_guard lock(mu_);
  auto rec = store_->GetOperation(op_name);
  if (!rec || !Running(rec->state)) return false;
  OperationRecord op = *rec;
  json body = json::parse(op.body_json, nullptr, false);
  const std::string host = body["hosts"][0];
  auto stop = [&](const std::string& message) {
    body["resume_step"] = op.state;
    body["stopped"] = {{"message", message}, {"unix_ms", UnixMs()}};
    (void)SaveStep(op, body, kStopped);
    Event("alarm.drain-stopped", host, message + ". Fix it, then run corepin host drain " + host + " to go on, or undrain it");
    return false;
  };
  auto save = [&](const std::string& step) {
    op.state = step;
    op.body_json = body.dump();
    op.updated_unix = 0;
    return store_->UpdateOperation(op);
  };

  if (op.state == kSwitching) {
    // The service leaves the host before any VM does: each group whose ACT is here switches over.
    auto plan = PlanMoves({host});
    if (!plan) return stop("no plan: " + plan.error().message);
    for (const auto& p : plan->promotions) {
      auto r = SwitchoverLocked(p.group, json{{"to", p.promoted}, {"from", p.demoted}});
      if (!r) return stop("group " + p.group + ": switchover to " + p.promoted + " failed: " + r.error().message);
      Event("drain.switchover", p.group, p.promoted + " is ACT (was SBY); " + p.demoted + " on " + host + " is SBY and moves next");
    }
    plan = PlanMoves({host});  // with the new roles: nothing left to promote
    if (!plan) return stop("no plan: " + plan.error().message);
    if (!plan->lost.empty()) return stop("VM " + plan->lost[0].vm + " can go nowhere any more: " + plan->lost[0].reason);
    // SBYs first (after the switchovers, only ACTs without a SBY elsewhere are left as ACT).
    std::stable_sort(plan->moves.begin(), plan->moves.end(), [](const HealMove& a, const HealMove& b) {
      return a.role == Role::kSby && b.role != Role::kSby;
    });
    body["plan"] = HealPlanToJson(*plan);
    // After a re-plan (a stopped drain resumed from here) the VMs moved before still count.
    body["progress"]["total"] = body["progress"].value("done", 0) + static_cast<int>(plan->moves.size());
    if (auto s = StoreMoves(*plan, kHostDraining, kVmMoving, op, body, kMoving); !s) return stop("the plan could not be stored: " + s.error().message);
    CrashPoint("drain.planned");
    return true;
  }

  // moving: the next VM still recorded "moving", in plan order.
  auto plan = HealPlanFromJson(body["plan"]);
  if (!plan) return stop("stored plan unreadable: " + plan.error().message);
  ManagedHost& source = **FindHost(host);
  for (const auto& m : plan->moves) {
    auto vm = store_->GetVm(m.vm);
    if (!vm || vm->state != kVmMoving) continue;
    body["progress"]["current"] = m.vm;
    (void)save(kMoving);  // the progress bar names the VM on its way
    const auto t0 = std::chrono::steady_clock::now();
    // Live: the guest keeps running while it migrates (a VM not running here, e.g. after a
    // restart found it already gone, is started on its target as in a cold step).
    const bool live = body.value("mode", "cold") == "live";
    bool running_here = false;
    if (source.hypervisor)
      if (auto d = source.hypervisor->GetDomain(m.vm); d && d->active) running_here = true;
    if (live && running_here) {
      auto target = FindHost(m.to);
      if (!target) return stop("VM " + m.vm + ": its target " + m.to + " is gone: " + target.error().message);
      if (auto s = MigrateLocked(source, **target, *vm, m.group, m.role); !s)
        return stop("VM " + m.vm + " could not live-migrate to " + m.to + ": " + s.error().message + " (it still runs on " + host +
                    "; to move it stopped instead, drain with mode cold)");
    } else if (source.hypervisor) {
      if (auto s = source.hypervisor->DestroyAndUndefine(m.vm); !s)
        return stop("VM " + m.vm + " could not be stopped on " + host + ": " + s.error().message + " (it still runs there)");
    }
    if (auto s = EnsureOnTarget(m, *vm); !s)
      return stop(live && running_here ? "VM " + m.vm + " migrated to " + m.to + " but is not running there as planned: " + s.error().message
                                       : "VM " + m.vm + " stopped on " + host + " but did not start on " + m.to + ": " + s.error().message +
                                             "; it is down");
    if (switch_->managed())
      if (auto ports = DesiredPorts(m.group); ports && !ports->empty())
        if (auto r = switch_->Apply(*ports, "drain " + host + ": " + m.vm + " moved"); !r)
          Event("alarm.switch-failed", m.vm, "port of moved VM not set yet: " + r.error().message);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    body["progress"]["done"] = body["progress"].value("done", 0) + 1;
    body["progress"]["current"] = "";
    (void)save(kMoving);
    Event("drain.moved", m.vm, std::string(live && running_here ? "live" : "cold") + " from " + host + " to " + m.to + " (" +
                                   (m.role == Role::kAct ? "ACT" : "SBY") + "), vCPUs on " +
                                   m.assignment.VcpuPcpus().ToString() + ", pinning verified, in " + std::to_string(took.count()) + " ms");
    CrashPoint("drain.moved-one");
    return true;
  }
  // Every VM moved. A host that failed meanwhile (healed) stays failed until returned.
  const bool failed = source.state == kHostFailed;
  if (!failed) {
    if (auto s = store_->SetHostState(host, kHostDrained); !s) return stop("host state not stored: " + s.error().message);
    source.state = std::string(kHostDrained);
  }
  body["timeline"]["done"] = UnixMs();
  const size_t gaps = cluster_.reserve().UnhealableCount();
  body["redundancy"] = gaps == 0 ? "kept" : "degraded";
  (void)save(kDone);
  Event("drain.done", host, op.name + ": " + std::to_string(plan->moves.size()) + " VM(s) moved in " +
                                std::to_string(body["timeline"]["done"].get<int64_t>() - body["timeline"].value("started", int64_t{0})) +
                                (failed ? " ms; the host failed meanwhile and stays failed (corepin host return " + host + ")" : " ms; host drained") + (gaps == 0 ? "; the reserve still covers any " + std::to_string(cluster_.failures_tolerated()) + " host failures"
                                                                 : ""));
  if (gaps > 0)
    Event(kReserveAlarm, "cluster", "after draining " + host + ", " + std::to_string(gaps) +
                                                   " VM(s) would not be healed by a further failure; undrain it or add a host");
  return false;
}

void Controller::SettleDrainsFor(const std::vector<std::string>& failed) {
  auto ops = store_->ListOperations(kDrain);
  if (!ops) return;
  auto is_failed = [&](const std::string& h) { return std::find(failed.begin(), failed.end(), h) != failed.end(); };
  for (auto op : *ops) {
    if (op.state == kDone || op.state == kCancelled) continue;
    json body = json::parse(op.body_json, nullptr, false);
    if (!body.is_object() || !body.contains("plan")) continue;
    auto plan = HealPlanFromJson(body["plan"]);
    if (!plan) continue;
    const std::string host = body["hosts"][0];
    auto pending = [&](const HealMove& m) {
      auto vm = store_->GetVm(m.vm);
      return vm && vm->state == kVmMoving && vm->host == m.to;
    };
    // The draining host itself failed: its VMs not moved yet start on their targets (the
    // worker's next steps, cold); a stopped drain goes on for that.
    if (is_failed(host)) {
      if (op.state == kStopped) {
        body.erase("stopped");
        (void)SaveStep(op, body, kMoving);
        Event("drain.resumed", host, op.name + ": " + host + " failed during its drain; the VMs not moved yet start on their targets");
        QueueOperation(op.name);
      }
      continue;
    }
    // A target failed: VMs recorded there ahead of their step, still running on the draining
    // host, go back to it (the model, then the records), so that the healing does not start a
    // second copy; the drain stops, to be planned again from the switchover step.
    auto h = FindHost(host);
    if (!h || !(*h)->hypervisor) continue;
    HealPlan back;
    for (const auto& m : plan->moves) {
      if (!pending(m) || !std::any_of(plan->moves.begin(), plan->moves.end(), [&](const HealMove& x) { return pending(x) && is_failed(x.to); }))
        continue;
      auto d = (*h)->hypervisor->GetDomain(m.vm);
      if (!d || !d->active) continue;  // gone from the draining host: its target has it, or the healing recreates it
      auto a = AssignmentFromJson(json::parse(d->metadata_json, nullptr, false).value("assignment", json()));
      Status moved_back = a ? cluster_.MoveVm(m.vm, *a, /*record_fact=*/true) : Status(a.error());
      if (!moved_back) {
        // The model cannot take it back: the copy here goes, and it lives where its record says.
        (void)(*h)->hypervisor->DestroyAndUndefine(m.vm);
        Event("drain.copy-removed", m.vm, "VM " + m.vm + " could not be put back on " + host + " (" + moved_back.error().message +
                                              "); its copy there was stopped and it starts where its record says");
        continue;
      }
      back.moves.push_back({.vm = m.vm, .group = m.group, .from = m.to, .to = host, .role = m.role, .assignment = *a});
    }
    if (back.moves.empty()) continue;
    std::vector<std::string> names;
    for (const auto& m : back.moves) names.push_back(m.vm);
    const std::string message = "host " + Join(failed) + " failed during the drain of " + host + "; VM(s) not moved yet (" + Join(names) +
                                ") stay on " + host;
    body["resume_step"] = kSwitching;  // planned again, without the failed host
    body["stopped"] = {{"message", message}, {"unix_ms", UnixMs()}};
    if (auto s = WritePlan(back, "", kVmRunning, op, body, kStopped); !s) {
      Event("alarm.model-diverged", host, "the drain's VMs put back on " + host + " could not be stored: " + s.error().message +
                                              "; restart corepind to rebuild the model from the store");
      continue;
    }
    Event("alarm.drain-stopped", host, message + ". Run corepin host drain " + host + " to plan the rest again, or undrain it");
  }
}

Result<json> Controller::Undrain(const std::string& name) {
  std::lock_guard lock(mu_);
  auto host = FindHost(name);
  if (!host) return host.error();
  ManagedHost& h = **host;
  if (h.state != kHostDrained && h.state != kHostDraining)
    return Conflict("host " + name + " is " + h.state + "; only a drained (or stopped draining) host can be undrained");
  if (auto op = DrainOf(*store_, name)) {
    if (Running(op->state)) return Conflict("host " + name + " is being drained (" + op->name + ", step " + op->state + "); wait for it");
    if (op->state == kStopped) {
      json body = json::parse(op->body_json, nullptr, false);
      (void)SaveStep(*op, body, kCancelled);
    }
  }
  if (auto s = store_->SetHostState(name, kHostActive); !s) return s.error();
  h.state = std::string(kHostActive);
  UpdateSchedulable(h);
  if (auto s = cluster_.Replan(); !s) Event(kReserveAlarm, "cluster", s.error().message);
  Event("host.undrained", name, "takes work again");
  ClearReserveAlarmIfWhole("host " + name + " undrained; the reserve covers any " + std::to_string(cluster_.failures_tolerated()) +
                           " host failures again");
  return json{{"host", name}, {"state", h.state}};
}

Result<json> Controller::Operations() {
  auto ops = store_->ListOperations();
  if (!ops) return ops.error();
  json out = json::array();
  for (const auto& op : *ops) out.push_back(OperationView(op));
  return out;
}

Result<json> Controller::ShowOperation(const std::string& name) {
  auto op = store_->GetOperation(name);
  if (!op) return NotFound("operation " + name + " does not exist; list them with corepin operation list (GET /v1/operations)");
  return OperationView(*op);
}

// --- The worker: drains, one step at a time, the controller's lock taken per step. ---

void Controller::QueueOperation(const std::string& name) {
  {
    std::lock_guard lock(heal_mu_);
    work_queue_.push_back(name);
  }
  heal_cv_.notify_all();
}

void Controller::WorkLoop() {
  std::unique_lock lock(heal_mu_);
  while (true) {
    heal_cv_.wait(lock, [this] { return heal_stop_ || !work_queue_.empty(); });
    if (heal_stop_) return;
    const std::string name = work_queue_.front();
    work_queue_.erase(work_queue_.begin());
    lock.unlock();
    while (DrainStep(name)) {
      std::lock_guard stop(heal_mu_);
      if (heal_stop_) break;  // resumed at the next start
    }
    lock.lock();
  }
}

void Controller::ResumeDrains() {
  auto ops = store_->ListOperations(kDrain);
  if (!ops) return;
  for (const auto& op : *ops)
    if (Running(op.state)) {
      Event("drain.resumed", op.name, "corepind restarted during this drain; going on from step " + op.state);
      QueueOperation(op.name);
    }
}

}  // namespace corepin
