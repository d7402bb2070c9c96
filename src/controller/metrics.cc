// Controller::Metrics: hosts, VMs, vCPUs, groups, the reserve and the event log as metric
// families (metrics.h); /metrics prints them (src/api/metrics_text.h). The hypervisor of a host
// that is not answering is not asked, so a dead host cannot hold the scrape.
#include <deque>
#include <iterator>

#include "controller/controller.h"

namespace corepin {

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Families in the order added; a deque, so the references Add returns stay valid.
struct Families {
  std::deque<MetricFamily> list;
  MetricFamily& Add(std::string name, std::string type, std::string help) {
    list.push_back({std::move(name), std::move(type), std::move(help), {}});
    return list.back();
  }
};

constexpr double kNs = 1e-9;

}  // namespace

Result<std::vector<MetricFamily>> Controller::Metrics() {
  Families f;
  std::map<std::string, int64_t> event_counts;
  size_t alarms_active = 0;
  std::map<std::string, int64_t> alarms_by_kind;
  {
    std::lock_guard lock(alarms_mu_);
    if (auto s = CatchUpAlarms(); !s) return s.error();
    event_counts = alarms_.kind_counts();
    for (const auto& a : alarms_.Active()) ++alarms_by_kind[a.kind];
    alarms_active = alarms_.Active().size();
  }

  std::lock_guard lock(mu_);
  auto& up = f.Add("corepin_host_up", "gauge", "1 when the host's hypervisor is connected and answering its probes");
  auto& pcpus = f.Add("corepin_host_pcpus", "gauge",
                      "pCPUs of the host by kind: allocatable = used + reserved + free; housekeeping is apart");
  auto& schedulable = f.Add("corepin_host_schedulable", "gauge", "1 when the host takes new VMs and healing targets");
  for (const auto& [name, h] : hosts_) {
    const ClusterHost* ch = cluster_.FindHost(name);
    const HostState& s = ch->state;
    up.samples.push_back({{{"host", name}}, HostUp(*h) ? 1.0 : 0.0});
    const CpuSet reserved = s.reserve().pcpus.Intersect(s.free());
    const double allocatable = s.partition().allocatable.Size();
    for (const auto& [kind, n] : std::vector<std::pair<std::string, double>>{
             {"allocatable", allocatable},
             {"used", allocatable - s.free().Size()},
             {"reserved", static_cast<double>(reserved.Size())},
             {"free", static_cast<double>(s.free().Minus(reserved).Size())},
             {"housekeeping", static_cast<double>(s.partition().housekeeping.Size())}})
      pcpus.samples.push_back({{{"host", name}, {"kind", kind}}, n});
    schedulable.samples.push_back({{{"host", name}}, ch->schedulable ? 1.0 : 0.0});
  }

  auto vms = store_->ListVms();
  if (!vms) return vms.error();
  auto& info = f.Add("corepin_vm_info", "gauge", "one series per VM: its host, group, role and state (value 1)");
  auto& verified = f.Add("corepin_vm_pinning_verified", "gauge",
                         "1 when libvirt (and /proc on this machine) report the VM's threads exactly where assigned; 0 otherwise or when the host is not answering");
  auto& cpu = f.Add("corepin_vcpu_cpu_seconds_total", "counter", "CPU time of the vCPU; pcpu is the pCPU it last ran on");
  auto& delay = f.Add("corepin_vcpu_delay_seconds_total", "counter",
                      "time the vCPU was runnable but waiting for its pCPU (steal); a pinned vCPU must not see it grow");
  auto& wait = f.Add("corepin_vcpu_wait_seconds_total", "counter", "time the vCPU thread was blocked (guest idle or I/O)");
  for (const auto& vm : *vms) {
    std::string group, role;
    if (const Cluster::VmLocation* loc = cluster_.FindVm(vm.name); loc && loc->group != vm.name) {
      group = loc->group;
      if (const auto* m = cluster_.FindGroup(loc->group)->FindMember(vm.name)) role = ToString(m->role);
    }
    info.samples.push_back({{{"vm", vm.name}, {"host", vm.host}, {"group", group}, {"role", role}, {"state", vm.state}}, 1});
    auto it = hosts_.find(vm.host);
    const PlacedVm* placed = Placed(vm.name);
    if (it == hosts_.end() || !HostUp(*it->second) || !placed) {
      verified.samples.push_back({{{"vm", vm.name}}, 0});
      continue;
    }
    ManagedHost& h = *it->second;
    std::vector<std::string> diffs;
    ActualPinning(h, *placed, &diffs);
    verified.samples.push_back({{{"vm", vm.name}}, diffs.empty() ? 1.0 : 0.0});
    auto stats = h.hypervisor->VcpuStats(vm.name);
    if (!stats) continue;  // not running: no vCPU series
    for (const auto& v : *stats) {
      const std::string n = std::to_string(v.vcpu);
      cpu.samples.push_back({{{"vm", vm.name}, {"vcpu", n}, {"pcpu", std::to_string(v.pcpu)}}, v.cpu_time_ns * kNs});
      if (v.delay_ns >= 0) delay.samples.push_back({{{"vm", vm.name}, {"vcpu", n}}, v.delay_ns * kNs});
      if (v.wait_ns >= 0) wait.samples.push_back({{{"vm", vm.name}, {"vcpu", n}}, v.wait_ns * kNs});
    }
  }

  // Redundancy groups (a standalone VM is a group of one inside the cluster; not counted).
  auto groups = store_->ListGroups();
  if (!groups) return groups.error();
  auto& members = f.Add("corepin_group_members", "gauge", "members of each redundancy group by role");
  for (const auto& g : *groups) {
    const RedundancyGroup* rg = cluster_.FindGroup(g.name);
    if (!rg) continue;
    std::map<std::string, int> by_role = {{ToString(Role::kAct), 0}, {ToString(Role::kSby), 0}};
    for (const auto& m : rg->members) ++by_role[ToString(m.role)];
    for (const auto& [r, n] : by_role) members.samples.push_back({{{"group", g.name}, {"role", r}}, static_cast<double>(n)});
  }

  const HealingReserve& reserve = cluster_.reserve();
  f.Add("corepin_reserve_failures_tolerated", "gauge", "k: the healing reserve covers any k simultaneous host failures")
      .samples.push_back({{}, static_cast<double>(reserve.k())});
  f.Add("corepin_reserve_degraded", "gauge", "1 when the healing reserve cannot cover k failures (some VM has no target)")
      .samples.push_back({{}, reserve.UnhealableCount() > 0 ? 1.0 : 0.0});
  f.Add("corepin_reserve_unhealable", "gauge", "(failure scenario, VM) pairs without a healing target")
      .samples.push_back({{}, static_cast<double>(reserve.UnhealableCount())});

  f.Add("corepin_alarms_active", "gauge", "active alarms (GET /v1/alarms)").samples.push_back({{}, static_cast<double>(alarms_active)});
  auto& by_kind = f.Add("corepin_alarms_active_by_kind", "gauge", "active alarms of each kind");
  for (const auto& [k, n] : alarms_by_kind) by_kind.samples.push_back({{{"kind", k}}, static_cast<double>(n)});
  auto& events = f.Add("corepin_events_total", "counter", "events recorded, by kind");
  for (const auto& [k, n] : event_counts) events.samples.push_back({{{"kind", k}}, static_cast<double>(n)});
  return std::vector<MetricFamily>(std::make_move_iterator(f.list.begin()), std::make_move_iterator(f.list.end()));
}

}  // namespace corepin
