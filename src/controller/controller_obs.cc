// Observability: alarms derived from the event log, and per-vCPU statistics (docs/api.md).
#include "controller/controller.h"
#include "controller/views.h"

namespace corepin {

using nlohmann::json;

Status Controller::CatchUpAlarms() {
  constexpr int kPage = 1000;
  for (;;) {
    auto page = store_->ListEvents(alarms_.last_id(), kPage);
    if (!page) return page.error();
    for (const auto& e : *page) alarms_.Apply(e);
    if (static_cast<int>(page->size()) < kPage) break;
  }
  feed_.Published(alarms_.last_id());
  return Status::Ok();
}

bool Controller::HostUp(const ManagedHost& h) const {
  return h.hypervisor && !h.suspected && !(monitor_ && !monitor_->Answering(h.name));
}

Result<json> Controller::Alarms() {
  std::lock_guard lock(alarms_mu_);
  if (auto s = CatchUpAlarms(); !s) return s.error();
  json out = json::array();
  for (const auto& e : alarms_.Active()) out.push_back(EventView(e));
  return out;
}

Result<json> Controller::ClearAlarm(const std::string& kind, const std::string& subject) {
  if (!IsAlarmKind(kind))
    return Invalid("kind: \"" + kind + "\" is not an alarm kind; alarms have kinds alarm.NAME, e.g. alarm.vm-crash-loop (list them with corepin alarms)");
  json cleared;
  {
    std::lock_guard lock(alarms_mu_);
    if (auto s = CatchUpAlarms(); !s) return s.error();
    const EventRecord* active = alarms_.Find(kind, subject);
    if (!active)
      return NotFound("no active alarm " + kind + " on \"" + subject + "\"; list the active alarms with corepin alarms (GET /v1/alarms)");
    cleared = EventView(*active);
  }
  // Event() takes neither lock; the next Alarms() folds the clear in.
  Event(kAlarmCleared, subject, ClearedMessage(kind, "by an operator (event " + std::to_string(cleared["id"].get<int64_t>()) + ")"));
  return json{{"cleared", cleared}};
}

Result<json> Controller::VmStats(const std::string& name) {
  std::lock_guard lock(mu_);
  auto rec = store_->GetVm(name);
  if (!rec) return NotFound("VM " + name + " does not exist; list VMs with corepin vm list");
  auto host = FindHost(rec->host);
  if (!host) return host.error();
  ManagedHost& h = **host;
  if (!HostUp(h)) return Unavailable("host " + h.name + " of VM " + name + " is not answering; no statistics");
  auto stats = h.hypervisor->VcpuStats(name);
  if (!stats) return stats.error();
  const PlacedVm* placed = Placed(name);
  json vcpus = json::array();
  for (const auto& v : *stats) {
    json j = {{"vcpu", v.vcpu}, {"pcpu", v.pcpu}, {"cpu_time_ns", v.cpu_time_ns}};
    j["delay_ns"] = v.delay_ns >= 0 ? json(v.delay_ns) : json(nullptr);
    j["wait_ns"] = v.wait_ns >= 0 ? json(v.wait_ns) : json(nullptr);
    if (placed && v.vcpu >= 0 && static_cast<size_t>(v.vcpu) < placed->assignment.vcpu_pcpus.size())
      j["intended_pcpu"] = placed->assignment.vcpu_pcpus[v.vcpu];
    vcpus.push_back(j);
  }
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return json{{"vm", name}, {"host", h.name}, {"unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(now).count()},
              {"vcpus", vcpus}};
}

void Controller::ClearAlarm(const std::string& kind, const std::string& subject, const std::string& why) {
  bool active = false;
  {
    std::lock_guard lock(alarms_mu_);  // after mu_, as everywhere
    active = CatchUpAlarms().ok() && alarms_.Find(kind, subject);
  }
  if (active) Event(kAlarmCleared, subject, ClearedMessage(kind, why));
}

void Controller::ClearReserveAlarmIfWhole(const std::string& why) {
  if (cluster_.reserve().UnhealableCount() == 0) ClearAlarm(kReserveAlarm, "cluster", why);
}

}  // namespace corepin
