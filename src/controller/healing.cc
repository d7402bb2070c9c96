// Controller: healing after a host failure (function 3 of DESIGN.md).
//
//   suspected (host monitor) -> fencing -> fenced -> promoting -> recreating -> done
//                                  |  ^        |
//                                  |  +--------+ hosts failing meanwhile join (JoinStep)
//                                  \-> stopped (no BMC, BMC failed: a person decides)
//
// Each step is stored in the healing's operation record before the next begins, and the plan
// (which VM goes where, which SBY is promoted) is stored together with the VM and group records
// it changes, in one transaction. A restarted corepind finds the record and goes on from the
// stored step with the stored plan, so no VM is lost or started twice and no pCPU is booked
// twice. No VM of a host starts elsewhere and no SBY is promoted before that host is confirmed
// off: two ACTs of one group never run at once, even when the host is alive but cut off.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <thread>
#include <unistd.h>

#include "common/text.h"
#include "common/wall_clock.h"
#include "controller/alarms.h"
#include "controller/controller.h"
#include "controller/group_record.h"
#include "controller/heal_plan.h"
#include "controller/heal_steps.h"
#include "driver/domain_xml.h"
#include "placement/placement_json.h"
#include "placement/whatif.h"

namespace corepin {

using nlohmann::json;

using namespace heal_steps;

void Controller::CrashPoint(const std::string& name) {
  if (options_.crash_point != name) return;
  std::fprintf(stderr, "corepind: crash point %s reached: exiting (testing)\n", name.c_str());
  std::fflush(stderr);
  _exit(86);
}

// --- The healer thread: one healing at a time, in the order hosts were suspected. ---

void Controller::QueueHeal(const std::string& host) {
  {
    std::lock_guard lock(heal_mu_);
    heal_queue_.push_back(host);
  }
  heal_cv_.notify_all();
}

void Controller::HealLoop() {
  std::unique_lock lock(heal_mu_);
  while (true) {
    heal_cv_.wait(lock, [this] { return heal_stop_ || !heal_queue_.empty() || !heal_resume_.empty(); });
    if (heal_stop_) return;
    std::vector<std::string> hosts, resume;
    hosts.swap(heal_queue_);  // hosts suspected together are healed together
    resume.swap(heal_resume_);
    lock.unlock();
    {
      std::lock_guard main(mu_);
      for (const auto& name : resume)  // stopped healings a host left (CancelStoppedHealings)
        if (auto op = store_->GetOperation(name); op && (op->state == kFencing || op->state == kFenced)) RunHealing(*op);
      std::vector<std::string> still;
      for (const auto& h : hosts) {
        auto it = hosts_.find(h);
        if (it == hosts_.end() || it->second->state == kHostFailed) continue;
        if (!it->second->suspected) {
          Event("host.flapped", h, "answered again before its healing began; nothing was changed");
          continue;
        }
        still.push_back(h);
      }
      if (!still.empty()) StartHealing(still, /*fenced_by_operator=*/false);
    }
    lock.lock();
  }
}

void Controller::ResumeHealings() {
  auto ops = store_->ListOperations(kHeal);
  if (!ops) {
    Event("alarm.heal-unreadable", "cluster", "stored healings cannot be read: " + ops.error().message);
    return;
  }
  for (const auto& op : *ops) {
    if (Finished(op.state) || op.state == kStopped) continue;
    Event("heal.resumed", op.name, "corepind restarted during this healing; going on from step " + op.state);
    RunHealing(op);
  }
}

void Controller::CancelStoppedHealings(const std::string& host) {
  auto ops = store_->ListOperations(kHeal);
  if (!ops) return;
  for (auto op : *ops) {
    if (op.state != kStopped) continue;
    json body = json::parse(op.body_json, nullptr, false);
    auto hosts = HostsOf(body);
    if (body.contains("plan") || std::find(hosts.begin(), hosts.end(), host) == hosts.end()) continue;
    // Other hosts of this healing already fenced (powered off) still need it: only this one
    // leaves, and the healer goes on with the rest.
    std::vector<std::string> rest;
    bool fenced = false;
    for (const auto& h : hosts)
      if (h != host) {
        rest.push_back(h);
        fenced |= body["fence"].contains(h);
      }
    const std::string subject = body.contains("stopped") ? body["stopped"].value("subject", host) : host;
    if (fenced) {
      const std::string alarm = body.contains("stopped") ? body["stopped"].value("alarm", "") : "";
      body["hosts"] = rest;
      body["left"][host] = "answered again before it was fenced; the healing goes on without it";
      body.erase("stopped");
      bool all_fenced = true;
      for (const auto& h : rest) all_fenced &= body["fence"].contains(h);
      if (!SaveStep(op, body, all_fenced ? kFenced : kFencing)) continue;
      Event("heal.host-left", host, op.name + ": host " + host + " answers again before it was fenced; the healing goes on for " + Join(rest));
      if (!alarm.empty()) Event(kAlarmCleared, subject, ClearedMessage("alarm." + alarm, "host " + host + " answers again"));
      {
        std::lock_guard lock(heal_mu_);
        heal_resume_.push_back(op.name);
      }
      heal_cv_.notify_all();
      continue;
    }
    (void)SaveStep(op, body, kCancelled);
    Event("heal.cancelled", host, op.name + ": host " + host + " answers again before it was fenced; nothing had been changed");
    if (body.contains("stopped"))  // the alarm that stopped it no longer needs a person
      Event(kAlarmCleared, subject, ClearedMessage("alarm." + body["stopped"].value("alarm", ""), "host " + host + " answers again"));
  }
}

// --- Steps ---

Status Controller::SaveStep(OperationRecord& op, const json& body, const std::string& step) {
  op.state = step;
  op.body_json = body.dump();
  op.updated_unix = 0;
  return store_->UpdateOperation(op);
}

void Controller::StopHealing(OperationRecord& op, json& body, const std::string& alarm, const std::string& message) {
  const std::string subject = Join(body["hosts"].get<std::vector<std::string>>());
  body["stopped"] = {{"alarm", alarm}, {"message", message}, {"unix_ms", UnixMs()}, {"subject", subject}};
  (void)SaveStep(op, body, kStopped);
  Event("alarm." + alarm, subject, message);
}

std::string Controller::StartHealing(const std::vector<std::string>& hosts, bool fenced_by_operator) {
  // One healing per host at a time: a host already in an unfinished healing is not taken again.
  if (auto ops = store_->ListOperations(kHeal); ops) {
    for (const auto& op : *ops) {
      if (Finished(op.state)) continue;
      for (const auto& h : HostsOf(json::parse(op.body_json, nullptr, false)))
        for (const auto& want : hosts)
          if (h == want) return op.name;
    }
  }
  const int64_t now = UnixMs();
  std::string name = "heal-" + hosts.front() + "-" + std::to_string(now);
  json body = {{"hosts", hosts}, {"timeline", {{"suspected", now}}}, {"fence", json::object()}};
  if (fenced_by_operator) {
    for (const auto& h : hosts) body["fence"][h] = "confirmed off by an operator";
    body["timeline"]["fenced"] = now;
  }
  OperationRecord op{.name = name, .kind = kHeal, .state = fenced_by_operator ? kFenced : kFencing, .body_json = body.dump()};
  if (auto s = store_->InsertOperation(op); !s) {
    Event("alarm.heal-not-started", Join(hosts), "the healing could not be recorded, so it was not started: " + s.error().message);
    return "";
  }
  Event("heal.started", Join(hosts), name + ": " + (fenced_by_operator ? "fenced by an operator" : "fencing through the BMC first"));
  RunHealing(op);
  return name;
}

void Controller::RunHealing(OperationRecord op) {
  json body = json::parse(op.body_json, nullptr, false);
  if (!body.is_object()) {
    Event("alarm.heal-unreadable", op.name, "stored healing is unreadable; fix or delete operation " + op.name);
    return;
  }
  while (op.state == kFencing || op.state == kFenced) {
    if (op.state == kFencing && !FenceStep(op, body)) return;
    if (!JoinStep(op, body)) return;  // hosts failing meanwhile join: back to fencing, for them
    if (op.state == kFenced && !PlanStep(op, body)) return;
  }
  if (op.state == kPromoting) PromoteStep(op, body);
  if (op.state != kRecreating) return;
  RecreateStep(op, body);
  FinishStep(op, body);
}

// Powers each host off through its BMC and waits until it reads off. A host without a BMC, or
// whose BMC fails, stops the healing before anything else moves.
bool Controller::FenceStep(OperationRecord& op, json& body) {
  for (const auto& name : body["hosts"].get<std::vector<std::string>>()) {
    if (body["fence"].contains(name)) continue;  // fenced already (before a host joined, or a restart)
    // A host that joined this healing holds up the others' too: say so.
    std::string joined;
    if (body.contains("joined") && body["joined"].contains(name)) {
      std::vector<std::string> first;
      for (const auto& h : body["hosts"].get<std::vector<std::string>>())
        if (!body["joined"].contains(h)) first.push_back(h);
      joined = " It stopped answering while " + Join(first) + " was being healed and joined that healing, which waits for it: " +
               "no VM of " + Join(first) + " is moved and no SBY promoted until it is fenced.";
    }
    auto host = FindHost(name);
    if (!host) {
      StopHealing(op, body, "heal-stopped", "host " + name + " is no longer known; nothing was changed");
      return false;
    }
    FenceDriver& bmc = *(*host)->fence;
    if (!bmc.can_fence()) {
      StopHealing(op, body, "fence-impossible",
                  "host " + name + " stopped answering and has no BMC, so corepin cannot make sure it is off: its VMs were "
                  "not started elsewhere and no SBY was promoted (its ACTs may still be running). Check the host; once it "
                  "is powered off, run: corepin host fenced " + name + "." + joined);
      return false;
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (auto s = bmc.PowerOff(std::chrono::milliseconds(options_.fence_timeout_ms)); !s) {
      StopHealing(op, body, "fence-failed",
                  "host " + name + " stopped answering and its BMC (" + bmc.uri() + ") did not confirm it is off: " +
                      s.error().message + ". Its VMs were not started elsewhere and no SBY was promoted. Power it off by " +
                      "hand, then run: corepin host fenced " + name + "." + joined);
      return false;
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    body["fence"][name] = "powered off through " + bmc.uri() + ", confirmed in " + std::to_string(took.count()) + " ms";
    Event("host.fenced", name, body["fence"][name].get<std::string>());
  }
  body["timeline"]["fenced"] = UnixMs();
  if (auto s = SaveStep(op, body, kFenced); !s) {
    Event("alarm.heal-stopped", op.name, "could not store the fence: " + s.error().message);
    return false;
  }
  CrashPoint("heal.fenced");
  return true;
}

// Hosts that fail together (a rack losing power, a ToR switch dying) are rarely suspected at
// the same instant: the monitor suspects each one after probe_misses silent probes counted from
// its own last answer, so a second host may still be "only silent" when the first is fenced,
// and a plan made then would promote its SBYs and move VMs onto it. So, once the healing's hosts
// are fenced and before the plan, every other host that is not answering right now (and is in
// no other healing) gets a bounded wait for a verdict: probe_misses x probe_interval_ms plus one
// interval. Suspected (or silent as long as that): it joins this healing, stored first (hosts,
// `joined` with why, step fencing), then fenced through its BMC like the others and planned
// with them. Answering again: left alone (`left_alone`). When every other host answers, as in a
// single failure, nothing is waited for and nothing is stored.
//
// Locking: the whole healing holds mu_, and OnHostChange (the monitor's watcher thread) takes
// mu_ to set ManagedHost::suspected, so that flag cannot change while we wait: the watcher sits
// blocked in its callback until the healing is over. The wait therefore reads the monitor only,
// under the monitor's own lock: Suspected() (set before the callback is called) and Silent()
// (the watcher's rule computed from the last answer, which the probers record without any lock
// of ours), so a verdict arrives even while the watcher is blocked. mu_ is not released: the
// steps rely on nothing else changing the model or the records between fence and plan, and the
// wait is bounded (600 ms with the defaults). A host that joins is marked failed by the plan, so
// the blocked callback, once it runs, finds it failed and queues nothing (and a queued entry is
// skipped by HealLoop, or, while the healing is unfinished, by StartHealing).
bool Controller::JoinStep(OperationRecord& op, json& body) {
  if (!monitor_ || options_.probe_interval_ms <= 0) return true;  // no monitor (or resuming at start): nothing to ask
  const auto hosts = body["hosts"].get<std::vector<std::string>>();
  std::vector<std::string> pending;
  for (const auto& [name, h] : hosts_)
    if (h->state != kHostFailed && std::find(hosts.begin(), hosts.end(), name) == hosts.end() &&
        (monitor_->Suspected(name) || !monitor_->Answering(name)))
      pending.push_back(name);
  if (pending.empty()) return true;  // every other host answers: no wait, nothing read or stored
  if (auto ops = store_->ListOperations(kHeal); ops)  // a host in another unfinished healing is its own
    for (const auto& other : *ops)
      if (other.name != op.name && !Finished(other.state))
        for (const auto& h : HostsOf(json::parse(other.body_json, nullptr, false)))
          pending.erase(std::remove(pending.begin(), pending.end(), h), pending.end());
  if (pending.empty()) return true;

  using std::chrono::milliseconds;
  const milliseconds interval(options_.probe_interval_ms);
  const milliseconds bound = interval * options_.probe_misses + interval;
  const auto t0 = std::chrono::steady_clock::now();
  auto waited = [&] { return std::to_string(std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count()); };
  std::vector<std::string> joined;
  std::map<std::string, std::string> left;
  while (true) {
    for (auto it = pending.begin(); it != pending.end();) {
      const std::string& h = *it;
      const std::string silent = std::to_string(monitor_->SilentFor(h).count());
      if (monitor_->Answering(h)) {
        left[h] = "was not answering when " + Join(hosts) + " had been fenced; answered again " + waited() +
                  " ms later: left alone, not part of this healing";
      } else if (monitor_->Suspected(h) || monitor_->Silent(h)) {
        body["joined"][h] = "stopped answering while " + Join(hosts) + " was being healed (silent for " + silent +
                            " ms, suspected after a wait of " + waited() + " ms): fenced and planned together with " + Join(hosts) +
                            ", so that none of its SBYs is promoted and no VM is moved onto it";
        joined.push_back(h);
      } else {
        ++it;
        continue;
      }
      it = pending.erase(it);
    }
    if (pending.empty() || std::chrono::steady_clock::now() - t0 >= bound) break;
    std::this_thread::sleep_for(std::max(milliseconds(1), interval / 10));
  }
  for (const auto& h : pending)
    left[h] = "not answering, yet not suspected after a wait of " + waited() + " ms: not part of this healing (healed on its own if it is suspected)";
  for (const auto& [h, why] : left) body["left_alone"][h] = why;
  if (joined.empty()) {
    (void)SaveStep(op, body, kFenced);  // for the record only; the step does not change
    for (const auto& [h, why] : left) Event("heal.not-joined", h, op.name + ": " + why);
    return true;
  }
  std::vector<std::string> all = hosts;
  all.insert(all.end(), joined.begin(), joined.end());
  body["hosts"] = all;
  body["timeline"]["joined"] = UnixMs();
  if (auto s = SaveStep(op, body, kFencing); !s) {
    Event("alarm.heal-stopped", op.name, "could not store the hosts that joined (" + Join(joined) + "): " + s.error().message);
    return false;
  }
  for (const auto& h : joined) Event("heal.joined", h, op.name + ": " + body["joined"][h].get<std::string>());
  for (const auto& [h, why] : left) Event("heal.not-joined", h, op.name + ": " + why);
  CrashPoint("heal.joined");
  return true;
}

// Decides where each VM goes (the reserve's targets) and which SBYs are promoted, and stores
// it all at once: the failed hosts, the VMs on their targets ("healing"), the groups' new
// roles, and the plan. Then the placement model follows.
bool Controller::PlanStep(OperationRecord& op, json& body) {
  const auto hosts = body["hosts"].get<std::vector<std::string>>();
  SettleDrainsFor(hosts);  // a drain's VM recorded on a failed host but running elsewhere is not healed
  auto plan = PlanMoves(hosts);
  if (!plan) {
    StopHealing(op, body, "heal-stopped", "no plan: " + plan.error().message);
    return false;
  }
  body["plan"] = HealPlanToJson(*plan);
  if (auto s = StoreMoves(*plan, kHostFailed, kVmHealing, op, body, kPromoting); !s) {
    op.state = kFenced;
    StopHealing(op, body, "heal-stopped", "the plan could not be stored, nothing was changed: " + s.error().message);
    return false;
  }
  // A failed host is not connected to nor watched until it is returned.
  for (const auto& h : hosts) {
    ManagedHost& mh = **FindHost(h);
    mh.stop_watch.reset();
    mh.hypervisor.reset();
    mh.connect_error = "failed and fenced; not used until returned (corepin host return " + h + ")";
    if (monitor_) monitor_->Remove(h);
  }
  Event("heal.planned", Join(hosts), plan->Summary());
  for (const auto& l : plan->lost)
    Event("alarm.vm-lost", l.vm, "VM " + l.vm + " was on failed host " + l.from + " and no host can take it: " + l.reason +
                                     ". It keeps no place; add capacity or return the host (corepin host return " + l.from +
                                     "): it is then placed anew where its group's rules allow");
  for (const auto& g : plan->headless)
    Event("alarm.group-down", g, "group " + g + " has no member running: every host it ran on failed");
  CrashPoint("heal.planned");
  return true;
}

Result<HealPlan> Controller::PlanMoves(const std::vector<std::string>& hosts) {
  auto report = corepin::WhatIf(cluster_, hosts);
  if (!report) return report.error();
  auto recs = store_->ListGroups();
  if (!recs) return recs.error();
  std::vector<StoredGroup> groups;
  for (const auto& r : *recs)
    if (auto g = StoredGroupFromJson(json::parse(r.config_json, nullptr, false)); g) groups.push_back(*g);
  // Defence in depth (JoinStep is the first): a SBY on a host that does not answer right now
  // (suspected, silent, or not connected, e.g. at a restart before the monitor runs) is promoted
  // only when its group has no other.
  std::set<std::string> not_answering;
  for (const auto& [name, h] : hosts_)
    if (h->state != kHostFailed && std::find(hosts.begin(), hosts.end(), name) == hosts.end() &&
        (h->suspected || !h->hypervisor || (monitor_ && (monitor_->Suspected(name) || !monitor_->Answering(name)))))
      not_answering.insert(name);
  std::set<std::string> lost;  // lost before: they run nowhere
  for (const auto& [vm, l] : cluster_.lost()) lost.insert(vm);
  return MakeHealPlan(*report, groups, not_answering, lost);
}

// Stores a plan in one transaction: the hosts' new state, the moved VMs on their targets
// (`vm_state`), lost VMs, the groups' new members' hosts and roles, and the operation at
// `next_step`. Then the placement model follows: the hosts out of use, VMs on their targets,
// roles swapped.
Status Controller::StoreMoves(const HealPlan& plan, std::string_view host_state, std::string_view vm_state,
                              OperationRecord& op, const json& body, const std::string& next_step) {
  if (auto s = WritePlan(plan, host_state, vm_state, op, body, next_step); !s) return s;
  for (const auto& h : plan.hosts) {
    ManagedHost& mh = **FindHost(h);
    mh.state = std::string(host_state);
  }
  auto applied = cluster_.FailHosts(plan.hosts);
  if (!applied || applied->moves.size() != plan.moves.size())
    Event("alarm.model-diverged", Join(plan.hosts),
          "the placement model did not follow the stored plan (" +
              (applied ? std::to_string(applied->moves.size()) + " moves" : applied.error().message) +
              "); restart corepind to rebuild it from the store");
  for (const auto& p : plan.promotions)
    if (auto s = cluster_.SwapRoles(p.group, p.promoted, p.demoted); !s) Event("alarm.model-diverged", p.group, s.error().message);
  return Status::Ok();
}

Status Controller::WritePlan(const HealPlan& plan, std::string_view host_state, std::string_view vm_state, OperationRecord& op,
                             const json& body, const std::string& next_step) {
  auto recs = store_->ListGroups();
  if (!recs) return recs.error();
  return store_->RunInTransaction([&]() -> Status {
    for (const auto& h : plan.hosts)
      if (auto s = store_->SetHostState(h, host_state); !s) return s;
    for (const auto& m : plan.moves) {
      auto vm = store_->GetVm(m.vm);
      if (!vm) return vm.error();
      vm->host = m.to;
      vm->assignment_json = AssignmentToJson(m.assignment).dump();
      vm->state = std::string(vm_state);
      if (auto s = store_->UpdateVm(*vm); !s) return s;
    }
    for (const auto& l : plan.lost) {
      auto vm = store_->GetVm(l.vm);
      if (!vm) return vm.error();
      vm->state = std::string(kVmLost);
      if (auto s = store_->UpdateVm(*vm); !s) return s;
    }
    for (auto rec : *recs) {
      auto g = StoredGroupFromJson(json::parse(rec.config_json, nullptr, false));
      if (!g) continue;
      const std::string after = StoredGroupToJson(ApplyHealPlan(plan, *g)).dump();
      if (after == rec.config_json) continue;
      rec.config_json = after;
      if (auto s = store_->UpdateGroup(rec); !s) return s;
    }
    op.state = next_step;
    op.body_json = body.dump();
    return store_->UpdateOperation(op);
  });
}

// Moves each affected group's service to its new ACT in one switch transaction. Members still
// being recreated have no port yet; they are parked once they run.
void Controller::PromoteStep(OperationRecord& op, json& body) {
  auto plan = HealPlanFromJson(body["plan"]);
  std::string summary = "no service network to move";
  if (plan && switch_->managed()) {
    // The moved VMs' ports on their failed hosts go first: the old ACT's still holds the
    // service VLAN, and a port name is unique in the switch (the VM needs it where it goes).
    std::vector<PortRef> stale;
    for (const auto& m : plan->moves)
      if (const PlacedVm* p = Placed(m.vm); p && hosts_.count(m.from))
        for (const auto& i : p->spec.interfaces) stale.push_back({hosts_.at(m.from)->vm_options.bridge, PortName(m.vm, m.from, i.name)});
    if (!stale.empty()) {
      auto removed = switch_->RemovePorts(stale, "heal " + Join(plan->hosts) + ": ports of VMs healed elsewhere");
      if (!removed) Event("alarm.switch-failed", op.name, "stale ports of the failed hosts not removed: " + removed.error().message);
      else if (!removed->empty()) Event("switch.removed", Join(plan->hosts), "stale ports removed: " + Join(*removed));
    }
    std::set<std::string> groups;
    for (const auto& p : plan->promotions) groups.insert(p.group);
    std::vector<PortState> ports;
    for (const auto& g : groups)
      if (auto d = DesiredPorts(g); d) ports.insert(ports.end(), d->begin(), d->end());
    if (!ports.empty()) {
      auto report = switch_->Apply(ports, "heal " + Join(plan->hosts) + ": promote SBYs");
      // Not a stop: the SBYs are ACT in the store, and the reconcile keeps applying the switch.
      if (!report) Event("alarm.switch-failed", op.name, "promotion not applied to the switch yet: " + report.error().message);
      else summary = report->summary;
    }
  }
  body["timeline"]["promoted"] = UnixMs();
  body["switch"] = summary;
  (void)SaveStep(op, body, kRecreating);
  std::string who;
  if (plan)
    for (const auto& p : plan->promotions) who += (who.empty() ? "" : ", ") + p.promoted + " is ACT of " + p.group;
  Event("heal.promoted", Join(body["hosts"].get<std::vector<std::string>>()),
        (who.empty() ? "no group lost its ACT" : who) + "; switch: " + summary);
  CrashPoint("heal.promoted");
}

// Creates each moved VM's domain on its target with the exact pCPUs it was given, verifies the
// pinning, and parks its service port. A VM whose domain is already there as planned (a restart
// after it was created) is only verified.
void Controller::RecreateStep(OperationRecord& op, json& body) {
  auto plan = HealPlanFromJson(body["plan"]);
  if (!plan) {
    StopHealing(op, body, "heal-stopped", "stored plan unreadable: " + plan.error().message);
    return;
  }
  std::set<std::string> groups;
  int failed = 0;
  for (const auto& m : plan->moves) {
    auto rec = store_->GetVm(m.vm);
    if (!rec || rec->state != kVmHealing) continue;  // done before a restart, or deleted since
    if (auto started = EnsureOnTarget(m, *rec); !started) {
      ++failed;
      Event("alarm.heal-recreate-failed", m.vm, "VM " + m.vm + " could not be recreated on " + m.to + ": " + started.error().message +
                                                  "; it stays recorded there (state healing) and is tried again when corepind restarts");
      continue;
    }
    groups.insert(m.group);
    Event("heal.recreated", m.vm, "on " + m.to + " as " + (m.role == Role::kAct ? "ACT" : "SBY") + ", vCPUs on " +
                                      m.assignment.VcpuPcpus().ToString() + " (" + (m.precomputed ? "the reserved pCPUs" : "found free") +
                                      "), emulator on " + m.assignment.emulator.ToString() + "; pinning verified");
    CrashPoint("heal.recreated-one");
  }
  if (switch_->managed()) {
    std::vector<PortState> ports;
    for (const auto& g : groups)
      if (auto d = DesiredPorts(g); d) ports.insert(ports.end(), d->begin(), d->end());
    if (!ports.empty())
      if (auto r = switch_->Apply(ports, "heal: park recreated SBYs"); !r)
        Event("alarm.switch-failed", op.name, "recreated members not parked yet: " + r.error().message);
  }
  body["timeline"]["recreated"] = UnixMs();
  body["recreate_failures"] = failed;
  (void)SaveStep(op, body, kRecreating);
}

// Redundancy: the reserve was re-planned around the new layout; say whether the k-failure
// guarantee holds again, or what is missing.
void Controller::FinishStep(OperationRecord& op, json& body) {
  const auto& t = body["timeline"];
  const int64_t t0 = t.value("suspected", int64_t{0});
  auto after = [&](const char* key) { return t.contains(key) ? "+" + std::to_string(t[key].get<int64_t>() - t0) + " ms" : std::string("-"); };
  const std::string timeline = "fenced " + after("fenced") + ", service moved " + after("promoted") + ", VMs recreated " +
                               after("recreated") + " after suspicion";
  // A VM not recreated keeps the healing open (step recreating): a restart tries it again.
  if (body.value("recreate_failures", 0) > 0) {
    (void)SaveStep(op, body, kRecreating);
    return;
  }
  // A group left with no member running (every host it ran on failed) runs again once one of
  // its members is recreated; a member lost meanwhile has its own alarm.vm-lost.
  if (auto plan = HealPlanFromJson(body["plan"]); plan)
    for (const auto& g : plan->headless)
      if (std::any_of(plan->moves.begin(), plan->moves.end(), [&](const HealMove& m) { return m.group == g; }))
        Event(kAlarmCleared, g, ClearedMessage("alarm.group-down", "its members were recreated on live hosts"));
  const size_t gaps = cluster_.reserve().UnhealableCount();
  if (gaps == 0) {
    body["redundancy"] = "restored";
    Event("heal.done", Join(body["hosts"].get<std::vector<std::string>>()),
          op.name + ": redundancy restored (the reserve covers any " + std::to_string(cluster_.failures_tolerated()) +
              " host failures again); " + timeline);
    ClearReserveAlarmIfWhole(op.name + ": redundancy restored (heal.done)");
  } else {
    std::string missing;
    for (const auto& [key, sc] : cluster_.reserve().scenarios())
      for (const auto& [vm, why] : sc.unhealable)
        missing += "; if " + Join(cluster_.NamesOf(key)) + " failed, " + vm + " could not be healed: " + why;
    body["redundancy"] = "degraded";
    Event("heal.done", Join(body["hosts"].get<std::vector<std::string>>()), op.name + ": service restored, redundancy degraded; " + timeline);
    Event(kReserveAlarm, "cluster",
          std::to_string(gaps) + " VM(s) would not be healed by a further failure" + missing +
              ". Add a host, or return the failed one (corepin host return ...)");
  }
  body["timeline"]["done"] = UnixMs();
  (void)SaveStep(op, body, kDone);
}

// Makes the moved VM run on its target with its planned pinning, verified, and records it
// running. A domain already there as planned (created before a restart) is only verified; a
// half-made copy of ours is removed and made again.
Status Controller::EnsureOnTarget(const HealMove& m, VmRecord rec, std::optional<std::string> role) {
  auto target = FindHost(m.to);
  if (!target) return target.error();
  const PlacedVm* placed = Placed(m.vm);
  if (!placed) return Internal("VM " + m.vm + " is not in the placement model");
  bool there = false;
  if ((*target)->hypervisor)
    if (auto dom = (*target)->hypervisor->GetDomain(m.vm); dom) {
      std::vector<std::string> diffs;
      ActualPinning(**target, *placed, &diffs);
      json meta = json::parse(dom->metadata_json, nullptr, false);
      const bool ours = meta.is_object() && meta.value("vm", "") == m.vm;
      there = ours && dom->active && diffs.empty();
      if (ours && !there) (void)(*target)->hypervisor->DestroyAndUndefine(m.vm);
    }
  if (!there)
    if (auto s = StartMembers({{rec, role ? *role : m.role == Role::kAct ? "ACT" : "SBY"}}); !s) return s;
  rec.state = std::string(kVmRunning);
  return store_->UpdateVm(rec);
}

}  // namespace corepin
