#include "controller/controller.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <unistd.h>

#include "controller/group_record.h"
#include "controller/host_config.h"
#include "controller/views.h"
#include "driver/proc_affinity.h"
#include "placement/placement_json.h"
#include "topology/fixtures.h"

namespace corepin {

using nlohmann::json;

std::string NoFit::Summary() const {
  std::string out = explanation.is_object() ? explanation.value("refusal", "") : "";
  if (out.empty()) out = "no host can take this VM";
  for (const auto& r : rejections) out += "\n" + r.ToString();
  return out;
}

std::string LocalQemuRunDir(const std::string& uri) {
  if (uri == "qemu:///system") return "/run/libvirt/qemu";
  if (uri.rfind("qemu+unix:///system", 0) != 0) return "";
  const auto at = uri.find("socket=");
  if (at == std::string::npos) return "/run/libvirt/qemu";
  std::string sock = uri.substr(at + 7, uri.find('&', at) == std::string::npos ? std::string::npos : uri.find('&', at) - at - 7);
  // A stable socket path may be a symlink into /proc/PID/root (the lab's): follow it, each
  // time, since PID changes when that host restarts.
  char target[4096];
  if (ssize_t n = readlink(sock.c_str(), target, sizeof target - 1); n > 0) sock.assign(target, static_cast<size_t>(n));
  const std::string tail = "/run/libvirt/libvirt-sock";
  if (sock.size() < tail.size() || sock.compare(sock.size() - tail.size(), tail.size(), tail) != 0) return "";
  return sock.substr(0, sock.size() - tail.size()) + "/run/libvirt/qemu";
}

// Why a placement failed: the refusal, and the full per-host rejections the searches kept.
void NoFit::Fill(const GroupOutcome& o) {
  explanation = ToJson(o.explanation);
  rejections.clear();
  for (const auto& s : o.explanation.searches)
    for (const auto& r : s.examples) rejections.push_back(r);
}

namespace {
ClusterOptions ClusterOptionsFor(const ControllerOptions& o) {
  ClusterOptions c;
  c.failures_tolerated = o.failures_tolerated;
  c.weights = o.weights;
  c.seed = o.seed;
  return c;
}
}  // namespace

Controller::Controller(StateStore* store, HypervisorFactory connect, ControllerOptions options)
    : store_(store), connect_(std::move(connect)), options_(std::move(options)), cluster_(ClusterOptionsFor(options_)) {}

Controller::~Controller() {
  monitor_.reset();
  {
    std::lock_guard lock(heal_mu_);
    heal_stop_ = true;
  }
  heal_cv_.notify_all();
  if (healer_.joinable()) healer_.join();
  if (worker_.joinable()) worker_.join();
  watch_.reset();  // no more wake-ups from the switch or the hypervisors
  for (auto& [name, h] : hosts_) h->stop_watch.reset();
  {
    std::lock_guard lock(bg_mu_);
    bg_stop_ = true;
  }
  bg_cv_.notify_all();
  if (background_.joinable()) background_.join();
}

void Controller::StartBackground() {
  if (options_.reconcile_interval_ms <= 0) return;
  if (switch_->managed()) {
    // A port changed by hand wakes the reconcile at once; it runs on our thread, not the watch's.
    auto watch = switch_->Watch([this](const WatchUpdate& u) {
      bool by_hand = false;
      for (const auto& p : u.ports) by_hand |= p.port.by_hand;
      if (by_hand) Wake();
    });
    if (watch) watch_ = std::move(*watch);
    else Event("switch.watch-failed", switch_->uri(), watch.error().message);
  }
  for (auto& [name, h] : hosts_) WatchHost(*h);
  background_ = std::thread([this] { BackgroundLoop(); });
}

// A VM that stops on its own (QEMU killed, guest crashed) wakes the reconcile, which restarts it.
void Controller::WatchHost(ManagedHost& h) {
  if (options_.reconcile_interval_ms <= 0 || !h.hypervisor || h.stop_watch) return;
  auto w = h.hypervisor->WatchStops([this](const std::string&, const std::string&) { Wake(); });
  if (w) h.stop_watch = std::move(*w);
  else Event("host.watch-failed", h.name, w.error().message);
}

// A host stopped answering (or answers again). A suspected host takes no new work at once, and
// the healer fences it through its BMC (whose confirmed power state the fence records) and
// heals it; a host without a BMC is only reported: corepin cannot make sure it is off.
void Controller::OnHostChange(const std::string& host, bool suspected, std::chrono::milliseconds silent) {
  // First, without the lock a live migration may hold for seconds: the cluster is changing
  // (the host may be the migration's target, which then hangs), and a healing goes first.
  if (suspected) CancelLiveMoves({host}, "host " + host + " stopped answering, and a healing goes before a move");
  bool can_fence = false;
  {
    std::lock_guard lock(mu_);
    auto it = hosts_.find(host);
    if (it == hosts_.end() || it->second->state == kHostFailed) return;
    it->second->suspected = suspected;
    UpdateSchedulable(*it->second);
    can_fence = it->second->fence && it->second->fence->can_fence();
  }
  if (!suspected) {
    Event("host.answering", host, "the hypervisor answers again");
    std::lock_guard lock(mu_);
    CancelStoppedHealings(host);
    return;
  }
  Event("host.suspected", host, "the hypervisor has not answered for " + std::to_string(silent.count()) + " ms; " +
                                    (can_fence ? "fencing it through its BMC, then healing"
                                               : "it has no BMC: it cannot be fenced, so it will not be healed automatically"));
  QueueHeal(host);
}

void Controller::Wake() {
  {
    std::lock_guard lock(bg_mu_);
    bg_wake_ = true;
  }
  bg_cv_.notify_all();
}

void Controller::RestartInPlace(ManagedHost& host, const PlacedVm& vm, json* diffs, std::vector<std::string>* crash_looping) {
  const std::string& name = vm.spec.name;
  auto& times = restarts_[name];
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(times, [&](auto t) { return now - t > kRestartWindow; });
  auto note = [&](const std::string& kind, const std::string& msg) {
    diffs->push_back({{"host", host.name}, {"vm", name}, {"kind", kind}, {"message", msg}});
    Event(kind == "vm-restarted" ? "vm.restarted" : "alarm." + kind, name, msg);
  };
  if (static_cast<int>(times.size()) >= kMaxRestarts) {
    note("vm-crash-loop", "VM " + name + " on " + host.name + " stopped again after " + std::to_string(times.size()) +
                              " restarts within 10 minutes; it is moved to another host (cold), in case the host is the cause");
    crash_looping->push_back(name);
    return;
  }
  times.push_back(now);
  if (auto s = host.hypervisor->Start(name); !s) {
    note("vm-restart-failed", "VM " + name + " on " + host.name + " stopped and could not be started again: " + s.error().message);
    return;
  }
  std::vector<std::string> pin_diffs;
  ActualPinning(host, vm, &pin_diffs);
  note("vm-restarted", "VM " + name + " on " + host.name + " had stopped; started again in place" +
                           (pin_diffs.empty() ? ", pinning verified" : " but its pinning differs" + Joined(pin_diffs)));
}

void Controller::BackgroundLoop() {
  std::unique_lock lock(bg_mu_);
  while (!bg_stop_) {
    bg_cv_.wait_for(lock, std::chrono::milliseconds(options_.reconcile_interval_ms), [this] { return bg_stop_ || bg_wake_; });
    if (bg_stop_) break;
    bg_wake_ = false;
    lock.unlock();
    (void)Reconcile();
    lock.lock();
  }
}

void Controller::Event(const std::string& kind, const std::string& subject, const std::string& message) {
  std::fprintf(stderr, "corepind: event %s %s: %s\n", kind.c_str(), subject.c_str(), message.c_str());
  if (auto id = store_->AppendEvent({.kind = kind, .subject = subject, .message = message}); id) feed_.Published(*id);
}

json Controller::DomainMetadata(const VmRecord& r) {
  return {{"vm", r.name}, {"host", r.host}, {"spec", json::parse(r.spec_json)}, {"assignment", json::parse(r.assignment_json)}};
}

std::string Controller::Joined(const std::vector<std::string>& differences) {
  std::string text;
  for (const auto& d : differences) text += "; " + d;
  return text;
}

Result<ManagedHost*> Controller::FindHost(const std::string& name) {
  auto it = hosts_.find(name);
  if (it == hosts_.end()) return NotFound("host " + name + " is not known; list hosts with corepin host list");
  return it->second.get();
}

const PlacedVm* Controller::Placed(const std::string& vm) const {
  const Cluster::VmLocation* loc = cluster_.FindVm(vm);
  if (!loc) return nullptr;
  const ClusterHost* h = cluster_.HostById(loc->host);
  auto it = h->state.vms().find(vm);
  return it == h->state.vms().end() ? nullptr : &it->second;
}

// A host that cannot be reached, is suspected or failed takes no new VMs and no healing
// targets; its healing targets move elsewhere (the reserve is re-planned).
void Controller::UpdateSchedulable(ManagedHost& h) {
  const ClusterHost* ch = cluster_.FindHost(h.name);
  if (!ch || ch->schedulable == h.usable()) return;
  if (auto s = cluster_.SetSchedulable(h.name, h.usable()); !s)
    Event(kReserveAlarm, "cluster", "host " + h.name + (h.usable() ? " back" : " out of use") + ": " + s.error().message);
  else if (h.usable())
    ClearReserveAlarmIfWhole("host " + h.name + " is back");
}

// A host's configuration as stored: the BMC URI (it holds a password) sealed when corepind has
// a key file (ControllerOptions::secrets).
json Controller::StoredHostConfig(const HostConfig& cfg) const {
  json j = HostConfigToJson(cfg);
  if (options_.secrets && cfg.bmc != "none") j["bmc"] = options_.secrets->Seal(cfg.bmc);
  return j;
}

Result<json> Controller::HostConfigFromStored(const std::string& config_json) const {
  json j = json::parse(config_json, nullptr, false);
  if (!j.is_object()) return Invalid("not a JSON object");
  if (j.contains("bmc") && j["bmc"].is_string() && SecretBox::IsSealed(j["bmc"])) {
    if (!options_.secrets) return Unprocessable("its BMC credentials are encrypted and corepind has no key file to open them");
    auto bmc = options_.secrets->Unseal(j["bmc"]);
    if (!bmc) return bmc.error();
    j["bmc"] = *bmc;
  }
  return j;
}

// Builds the host from its stored record into the cluster; connects when it can (unless given
// a connection already open).
Status Controller::LoadHost(const HostRecord& rec, std::unique_ptr<Hypervisor> connected) {
  auto host = std::make_unique<ManagedHost>();
  host->name = rec.name;
  host->uri = rec.uri;
  auto stored = HostConfigFromStored(rec.config_json);
  if (!stored) return Internal("stored configuration of host " + rec.name + ": " + stored.error().message);
  auto cfg = HostConfigFromJson(*stored);
  if (!cfg) return Internal("stored configuration of host " + rec.name + " is invalid: " + cfg.error().message);
  auto topo = ParseHostFixture(rec.topology_xml);
  if (!topo) return Internal("stored topology of host " + rec.name + " is invalid: " + topo.error().message);
  auto warnings = ResolvePartition(*topo, &cfg->partition);
  if (!warnings) return Internal("stored partition of host " + rec.name + " no longer fits its topology: " + warnings.error().message);
  host->warnings = *warnings;
  host->config = HostConfigToJson(*cfg);
  host->labels = cfg->labels;
  host->vm_options = cfg->vm_options;
  host->vm_options.host = rec.name;
  host->migration_address = cfg->migration_address;
  auto fence = OpenFenceDriver(cfg->bmc);
  if (!fence) return Internal("stored BMC of host " + rec.name + " is invalid: " + fence.error().message);
  host->fence = std::move(*fence);
  host->state = rec.state;
  if (auto s = cluster_.AddHost(HostState(rec.name, *topo, cfg->partition), cfg->labels); !s) return s;
  if (host->state == kHostFailed) {
    host->connect_error = "failed and fenced; not used until returned (corepin host return " + rec.name + ")";
  } else if (connected) {
    host->hypervisor = std::move(connected);  // its topology was just read from it: nothing to compare
  } else if (auto hv = connect_(rec.uri); hv) {
    host->hypervisor = std::move(*hv);
    CheckCpuLayout(*host);
  } else {
    host->connect_error = hv.error().message;
  }
  ManagedHost& h = *host;
  hosts_[rec.name] = std::move(host);
  UpdateSchedulable(h);
  return Status::Ok();
}

// On every new connection to a stored host: the CPU layout the hypervisor reports must be the
// stored one, on which its VMs were placed; otherwise the host takes no new work.
void Controller::CheckCpuLayout(ManagedHost& h) {
  auto actual = h.hypervisor->ReadTopology();
  if (!actual) return;  // the connection's own troubles show elsewhere
  const std::string was = h.topology_mismatch;
  h.topology_mismatch = CpuLayoutDifference(StateOf(h).topology(), *actual);
  if (!h.topology_mismatch.empty() && h.topology_mismatch != was)
    Event("alarm.topology-changed", h.name,
          "host " + h.name + ": the stored CPU layout differs from the hypervisor's (" + h.topology_mismatch +
              "); the host takes no new VMs. Check the host and the state; to take the hypervisor's layout, move its VMs "
              "off (corepin host drain " + h.name + "), then remove the host and add it again");
}

// Rebuilds the cluster from the store: groups with their members, then standalone VMs (each a
// group of one, outside the reserve), then the reserve plan. Collects what was interrupted.
Status Controller::RestoreFromStore(std::vector<VmRecord>* interrupted_vms, std::vector<GroupRecord>* interrupted_groups) {
  auto groups = store_->ListGroups();
  if (!groups) return groups.error();
  auto vms = store_->ListVms();
  if (!vms) return vms.error();
  std::map<std::string, const VmRecord*> by_name;
  for (const auto& vm : *vms) by_name[vm.name] = &vm;
  std::set<std::string> members;
  for (const auto& rec : *groups) {
    auto g = StoredGroupFromJson(json::parse(rec.config_json, nullptr, false));
    if (!g) return Internal("stored group " + rec.name + " is unreadable: " + g.error().message);
    std::map<std::string, Assignment> assignments;
    std::map<std::string, std::string> lost;  // members lost beyond the reserve keep no place
    for (const auto& m : g->members) {
      members.insert(m.vm);
      if (!by_name.count(m.vm)) return Internal("stored group " + rec.name + " names VM " + m.vm + ", which is not stored");
      if (by_name[m.vm]->state == kVmLost) {
        lost[m.vm] = StoredLossReason(*by_name[m.vm]);
        continue;
      }
      auto a = AssignmentFromJson(json::parse(by_name[m.vm]->assignment_json, nullptr, false));
      if (!a) return Internal("stored VM " + m.vm + " is unreadable: " + a.error().message);
      assignments[m.vm] = *a;
    }
    if (auto s = cluster_.RestoreGroup(g->ToRedundancyGroup(), assignments, lost); !s)
      return Internal("stored group " + rec.name + " does not fit back: " + s.error().message);
    // A running group with a member still creating was cut short between its last writes (by
    // an older corepind, which wrote them one at a time): its create is finished or undone.
    bool member_creating = false;
    for (const auto& m : g->members) member_creating |= by_name[m.vm]->state == kVmCreating;
    if (rec.state != kGroupRunning) {
      interrupted_groups->push_back(rec);
    } else if (member_creating) {
      GroupRecord creating = rec;
      creating.state = std::string(kGroupCreating);
      interrupted_groups->push_back(creating);
    }
  }
  for (const auto& vm : *vms) {
    // A re-pin or resize is the VM's own operation, group member or not.
    if (vm.state == kVmRepinning || vm.state == kVmResizing) interrupted_vms->push_back(vm);
    if (members.count(vm.name)) continue;
    auto spec = VmSpecFromJson(json::parse(vm.spec_json, nullptr, false));
    auto a = AssignmentFromJson(json::parse(vm.assignment_json, nullptr, false));
    if (!spec || !a) return Internal("stored VM " + vm.name + " is unreadable: " + (!spec ? spec.error().message : a.error().message));
    const RedundancyGroup alone = StandaloneGroup(vm.name, *spec, vm.host);
    const bool lost = vm.state == kVmLost;
    if (auto s = lost ? cluster_.RestoreGroup(alone, {}, {{vm.name, StoredLossReason(vm)}}) : cluster_.RestoreGroup(alone, {{vm.name, *a}}); !s)
      return Internal("stored VM " + vm.name + " does not fit back: " + s.error().message);
    if (vm.state == kVmCreating || vm.state == kVmDeleting) interrupted_vms->push_back(vm);
  }
  if (auto s = cluster_.Replan(); !s) Event("reserve.degraded", "cluster", s.error().message);
  if (auto s = cluster_.Check(); !s) return Internal("stored state is inconsistent: " + s.error().message);
  return Status::Ok();
}

std::string Controller::StoredLossReason(const VmRecord& vm) {
  return "lost when host " + vm.host + " failed: no host its group's rules allow could take it";
}

Status Controller::Start() {
  std::lock_guard lock(mu_);
  auto sw = OpenSwitchDriver(options_.switch_uri);
  if (!sw) return sw.error();
  switch_ = std::move(*sw);
  auto hosts = store_->ListHosts();
  if (!hosts) return hosts.error();
  for (const auto& rec : *hosts) {
    if (auto s = LoadHost(rec); !s) return s;
    ManagedHost& h = *hosts_[rec.name];
    if (!h.hypervisor) Event("host.unreachable", h.name, h.connect_error);
  }
  std::vector<VmRecord> vms;
  std::vector<GroupRecord> groups;
  if (auto s = RestoreFromStore(&vms, &groups); !s) return s;
  for (const auto& vm : vms)
    if (auto s = ResumeVm(vm); !s) Event("vm.resume-failed", vm.name, s.error().message);
  for (const auto& g : groups)
    if (auto s = ResumeGroup(g); !s) Event("group.resume-failed", g.name, s.error().message);
  {
    // Folds the stored log into the alarms, and tells the feed where the log ends.
    std::lock_guard alarms_lock(alarms_mu_);
    if (auto s = CatchUpAlarms(); !s) return s;
  }
  ResumeHealings();
  worker_ = std::thread([this] { WorkLoop(); });
  ResumeDrains();
  ResumeMoves();
  json report = ReconcileLocked();
  std::fprintf(stderr, "corepind: started: %zu hosts, %zu groups, %zu differences with the hypervisors and switch\n",
               hosts_.size(), cluster_.groups().size(), report["differences"].size());
  StartBackground();
  if (options_.probe_interval_ms > 0) {
    healer_ = std::thread([this] { HealLoop(); });
    monitor_ = std::make_unique<HostMonitor>(
        connect_, std::chrono::milliseconds(options_.probe_interval_ms), options_.probe_misses,
        [this](const std::string& host, bool suspected, std::chrono::milliseconds silent) { OnHostChange(host, suspected, silent); });
    for (const auto& [name, h] : hosts_)
      if (h->state != kHostFailed) monitor_->Add(name, h->uri);
  }
  return Status::Ok();
}

// Finishes a VM's operation a crash interrupted. A re-pin or resize is completed (see
// controller_repin.cc). A create (standalone VMs) completes only if the
// domain runs with exactly the stored pinning; otherwise it is undone. A delete is completed.
Status Controller::ResumeVm(const VmRecord& vm) {
  ManagedHost& host = **FindHost(vm.host);
  if (!host.hypervisor) return Unavailable("host " + host.name + " is unreachable; VM " + vm.name + " stays " + vm.state);
  if (vm.state == kVmRepinning) return ResumeRepin(vm);
  if (vm.state == kVmResizing) return ResumeResize(vm);
  if (vm.state == kVmCreating) {
    std::vector<std::string> diffs;
    auto dom = host.hypervisor->GetDomain(vm.name);
    if (dom && dom->active) ActualPinning(host, *Placed(vm.name), &diffs);
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
    ForgetVms({vm.name}, vm.name, ours);
    Event("vm.create.rolled-back", vm.name, "interrupted create undone on " + host.name);
    return Status::Ok();
  }
  ForgetVms({vm.name}, vm.name, /*destroy_domains=*/true);
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
  HostRecord rec{.name = name, .uri = uri, .config_json = StoredHostConfig(*cfg).dump(), .topology_xml = HostTopologyToXml(*topo)};
  if (auto s = store_->PutHost(rec); !s) return s.error();
  if (auto s = LoadHost(rec, std::move(*hv)); !s) {
    (void)store_->DeleteHost(name);
    return s.error();
  }
  ManagedHost& host = *hosts_[name];
  WatchHost(host);
  if (monitor_) monitor_->Add(name, uri);
  Event("host.added", name, uri + ": " + std::to_string(topo->pcpus.size()) + " pCPUs, housekeeping " +
                                cfg->partition.housekeeping.ToString() + ", allocatable " + cfg->partition.allocatable.ToString());
  // A host may already run corepin domains (re-added after a remove): say so.
  ReconcileLocked();
  PlaceLostVms("host " + name + " was added");  // new capacity: lost VMs may fit their groups' rules now
  return HostView(host, StateOf(host));
}

Status Controller::RemoveHost(const std::string& name) {
  std::lock_guard lock(mu_);
  auto host = FindHost(name);
  if (!host) return host.error();
  const HostState& state = StateOf(**host);
  if (!state.vms().empty()) {
    std::string vms;
    for (const auto& [vm, p] : state.vms()) vms += (vms.empty() ? "" : ", ") + vm;
    return Conflict("host " + name + " still has VMs: " + vms + "; delete or move them first");
  }
  if (auto s = cluster_.RemoveHost(name); !s) return s;
  if (auto s = store_->DeleteHost(name); !s) {
    // Put it back in the cluster as it was: the store still has it.
    auto rec = store_->GetHost(name);
    hosts_.erase(name);
    if (rec) (void)LoadHost(*rec);
    return s;
  }
  hosts_.erase(name);
  if (monitor_) monitor_->Remove(name);
  Event("host.removed", name, "");
  return Status::Ok();
}

Result<json> Controller::ListHosts() {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (const auto& [name, h] : hosts_) out.push_back(HostSummaryView(*h, StateOf(*h)));
  return out;
}

Result<json> Controller::ShowHost(const std::string& name) {
  std::lock_guard lock(mu_);
  auto host = FindHost(name);
  if (!host) return host.error();
  return HostView(**host, StateOf(**host));
}

Result<json> Controller::PowerStatus(const std::string& name) {
  std::lock_guard lock(mu_);
  auto host = FindHost(name);
  if (!host) return host.error();
  FenceDriver& bmc = *(*host)->fence;
  if (!bmc.can_fence()) return Unprocessable("host " + name + " has no BMC configured (bmc: none); add one with its fence URI");
  auto state = bmc.Status();
  if (!state) return Error{state.error().code, "host " + name + ": " + state.error().message};
  return json{{"host", name}, {"bmc", bmc.uri()}, {"power", PowerName(state->power)},
              {"took_ms", state->took.count()}, {"answer", state->answer}};
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
  if (store_->GetGroup(spec->name)) return Conflict("name " + spec->name + " is a redundancy group's; VMs and groups share one namespace");
  if (!wanted_host.empty())
    if (auto h = FindHost(wanted_host); !h) return h.error();

  GroupOutcome placed = cluster_.PlaceGroup(GroupRequest{spec->name, *spec, {{spec->name, Role::kAct, wanted_host}}, {}, false});
  if (!placed.ok()) {
    no_fit->Fill(placed);
    Error e = placed.status.error();
    e.message = no_fit->Summary();
    return e;
  }
  if (auto s = CheckBridges(*spec, placed.placed); !s) {
    (void)cluster_.DeleteGroup(spec->name);
    return s.error();
  }
  const Assignment& assignment = placed.placed[0].assignment;
  ManagedHost& host = **FindHost(assignment.host);
  // Intent: the pCPUs are held in the cluster; now in the store, before touching the hypervisor.
  VmRecord rec{.name = spec->name, .host = host.name, .spec_json = VmSpecToJson(*spec).dump(),
               .assignment_json = AssignmentToJson(assignment).dump(), .state = std::string(kVmCreating)};
  if (auto s = store_->InsertVm(rec); !s) {
    (void)cluster_.DeleteGroup(spec->name);
    return s.error();
  }
  if (auto s = StartMembers({{rec, ""}}); !s) {
    ForgetVms({spec->name}, spec->name, /*destroy_domains=*/false);
    Event("vm.create.failed", spec->name, s.error().message);
    return Error{s.error().code, s.error().message + "; nothing was kept (no domain, no pCPUs held)"};
  }
  rec.state = std::string(kVmRunning);
  if (auto s = store_->UpdateVm(rec); !s) return s.error();
  Event("vm.created", spec->name, "on " + host.name + ": vCPUs on " + assignment.VcpuPcpus().ToString() + ", emulator on " +
                                      assignment.emulator.ToString());
  json view = VmView(rec, &StateOf(host));
  std::vector<std::string> diffs;
  MergeActualPinning(ActualPinning(host, *Placed(spec->name), &diffs), &view);
  view["explanation"] = ToJson(placed.explanation);
  return view;
}

Status Controller::CheckBridges(const VmSpec& spec, const std::vector<MemberPlacement>& placed) {
  if (spec.interfaces.empty()) return Status::Ok();
  for (const auto& m : placed) {
    const std::string& host = m.assignment.host;
    if (!hosts_.at(host)->vm_options.bridge.empty()) continue;
    return Unprocessable("VM " + m.vm + " has " +
                         std::to_string(spec.interfaces.size()) + " interface(s) and would go on host " + host +
                         ", which has no bridge for VM interfaces; nothing was changed. Add the host with a bridge "
                         "(corepin host add ... --bridge NAME), or name a host that has one");
  }
  return Status::Ok();
}

Status Controller::StartMembers(const std::vector<Member>& members) {
  std::vector<std::pair<ManagedHost*, std::string>> started;
  auto undo = [&] {
    for (auto it = started.rbegin(); it != started.rend(); ++it)
      if (auto s = it->first->hypervisor->DestroyAndUndefine(it->second); !s) Event("vm.rollback-failed", it->second, s.error().message);
  };
  for (const auto& m : members) {
    ManagedHost& host = **FindHost(m.record.host);
    const PlacedVm& placed = *Placed(m.record.name);
    if (!host.hypervisor) {
      undo();
      return Unavailable("host " + host.name + " of VM " + m.record.name + " is unreachable: " + host.connect_error);
    }
    DomainRequest request{placed.spec, placed.assignment, StateOf(host).topology(), DomainMetadata(m.record).dump(), host.vm_options, m.role};
    // The driver removes whatever it created when it fails; a domain it found there is not ours.
    if (auto s = host.hypervisor->DefineAndStart(request); !s) {
      undo();
      return Unavailable("VM " + m.record.name + " could not start on host " + host.name + ": " + s.error().message);
    }
    started.push_back({&host, m.record.name});
    // Verify what the kernel enforces before calling it done.
    std::vector<std::string> diffs;
    ActualPinning(host, placed, &diffs);
    if (!diffs.empty()) {
      undo();
      return Unavailable("VM " + m.record.name + " started on host " + host.name + " but its pinning is not what was asked" +
                         Joined(diffs) + "; it was destroyed");
    }
  }
  return Status::Ok();
}

// Drops VMs from the store and the cluster (`cluster_group`: their group there, the VM's own
// name for a standalone VM), destroying their domains when asked.
void Controller::ForgetVms(const std::vector<std::string>& vms, const std::string& cluster_group, bool destroy_domains) {
  for (const auto& vm : vms) {
    const Cluster::VmLocation* loc = cluster_.FindVm(vm);
    if (destroy_domains && loc) {
      ManagedHost& host = **FindHost(cluster_.HostById(loc->host)->name);
      if (host.hypervisor)
        if (auto s = host.hypervisor->DestroyAndUndefine(vm); !s) Event("vm.rollback-failed", vm, s.error().message);
    }
    (void)store_->DeleteVm(vm);
  }
  (void)cluster_.DeleteGroup(cluster_group);
}

Status Controller::DeleteVm(const std::string& name) {
  std::lock_guard lock(mu_);
  auto rec = store_->GetVm(name);
  if (!rec) return NotFound("VM " + name + " does not exist; list VMs with corepin vm list");
  if (const std::string group = RedundancyGroupOf(cluster_, name); !group.empty())
    return Conflict("VM " + name + " is a member of group " + group + "; delete the group (corepin group delete " + group + ")");
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
  ForgetVms({name}, name, /*destroy_domains=*/false);
  Event("vm.deleted", name, "from " + host.name);
  return Status::Ok();
}

Result<json> Controller::ListVms() {
  std::lock_guard lock(mu_);
  auto vms = store_->ListVms();
  if (!vms) return vms.error();
  json out = json::array();
  for (const auto& vm : *vms) {
    json v = VmSummaryView(vm);
    AddGroupAndRole(vm.name, &v);
    out.push_back(v);
  }
  return out;
}

Result<json> Controller::ShowVm(const std::string& name) {
  std::lock_guard lock(mu_);
  auto rec = store_->GetVm(name);
  if (!rec) return NotFound("VM " + name + " does not exist; list VMs with corepin vm list");
  auto host = FindHost(rec->host);
  if (!host) return host.error();
  json view = VmView(*rec, &StateOf(**host));
  if (const PlacedVm* placed = Placed(name)) {
    std::vector<std::string> diffs;
    MergeActualPinning(ActualPinning(**host, *placed, &diffs), &view);
    view["differences"] = diffs;
  }
  AddGroupAndRole(name, &view);
  return view;
}

void Controller::AddGroupAndRole(const std::string& vm, json* view) const {
  const std::string group = RedundancyGroupOf(cluster_, vm);
  if (group.empty()) return;
  (*view)["group"] = group;
  if (const auto* m = cluster_.FindGroup(group)->FindMember(vm)) (*view)["role"] = ToString(m->role);
  else if (auto l = cluster_.lost().find(vm); l != cluster_.lost().end()) (*view)["role"] = ToString(l->second.role);
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
  // Where the memory is: the record's nodes against the domain's numatune.
  const CpuSet nodes = a.MemoryNodes();
  out["memory_nodes"] = {{"intended", nodes.ToString()}, {"libvirt", dom->memory_nodes.ToString()}};
  if (nodes != dom->memory_nodes)
    diffs->push_back("libvirt: memory is on NUMA nodes " + dom->memory_nodes.ToString() + " (numatune), expected " + nodes.ToString());
  if (!dom->active) diffs->push_back("domain is not running");
  // The kernel's view, where this machine can see the QEMU process.
  if (const std::string run_dir = LocalQemuRunDir(host.uri); !run_dir.empty() && dom->active) {
    auto pid = ReadQemuPid(run_dir, vm.spec.name);
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
  std::vector<std::string> crash_looping;  // moved once every host was looked at
  for (auto& [name, h] : hosts_) {
    // A failed host is left alone until returned; a silent one (frozen?) would block the call.
    if (h->state == kHostFailed || h->suspected || (monitor_ && !monitor_->Answering(name))) continue;
    if (!h->hypervisor) {
      // Try again: the host may be back.
      auto hv = connect_(h->uri);
      if (hv) {
        h->hypervisor = std::move(*hv);
        h->connect_error.clear();
        CheckCpuLayout(*h);
        UpdateSchedulable(*h);
        WatchHost(*h);
      } else {
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
    const HostState& state = StateOf(*h);
    std::set<std::string> seen;
    std::map<std::string, std::string> unknown;
    for (const auto& d : *domains) {
      seen.insert(d.name);
      auto placed = state.vms().find(d.name);
      if (placed == state.vms().end()) {
        unknown[d.name] = PinnedPcpus(d).ToString();
        note(name, d.name, "unknown-domain", "domain " + d.name + " on host " + name + " carries corepin metadata but is not in the store");
        continue;
      }
      if (!d.active) {
        RestartInPlace(*h, placed->second, &diffs, &crash_looping);
        continue;
      }
      std::vector<std::string> vm_diffs;
      const json actual = ActualPinning(*h, placed->second, &vm_diffs);
      for (const auto& msg : vm_diffs) note(name, d.name, "pinning", "VM " + d.name + " on " + name + ": " + msg);
      if (!vm_diffs.empty()) HandleDrift(*h, placed->second, actual, vm_diffs, &diffs);
    }
    for (const auto& [vm, placed] : state.vms())
      if (!seen.count(vm)) note(name, vm, "missing", "VM " + vm + " is in the store but host " + name + " has no such domain");
    SetUnknownDomains(*h, std::move(unknown));
  }
  // A VM that keeps crashing where it is goes elsewhere: the host (a bad core, its memory, a
  // NIC) may be the cause. If nothing can take it, it stays down and its alarm says so.
  for (const auto& vm : crash_looping) {
    const std::string from = store_->GetVm(vm) ? store_->GetVm(vm)->host : "";
    auto moved = MoveLocked(vm, "", /*live=*/false, /*dry_run=*/false, "it kept crashing on " + from, nullptr);
    if (moved) {
      restarts_.erase(vm);
      Event(kAlarmCleared, vm, ClearedMessage("alarm.vm-crash-loop", "moved to " + moved->value("host", std::string()) + " (vm.moved)"));
      diffs.push_back({{"host", from}, {"vm", vm}, {"kind", "vm-moved"}, {"message", "moved to " + moved->value("host", std::string())}});
    } else {
      Event("alarm.vm-crash-loop", vm, "VM " + vm + " keeps crashing on " + from + " and could not be moved: " + moved.error().message +
                                           "; it is left down: look at its console log, then delete it or free a host");
    }
  }
  ClearReserveAlarmIfWhole("the reserve covers any " + std::to_string(cluster_.failures_tolerated()) + " host failures (reconcile)");
  // The switch: service ports as the store says, ports changed by hand put back.
  if (switch_ && switch_->managed()) {
    auto desired = DesiredPorts();
    auto report = desired ? switch_->Reconcile(*desired) : Result<SwitchReport>(desired.error());
    if (!report) {
      note("", "", "switch", "switch " + switch_->uri() + ": " + report.error().message);
    } else {
      for (const auto& c : report->changed)
        note("", c.after.port, c.by_hand ? "switch-port-by-hand" : "switch-port", "switch port " + c.Describe() + (c.by_hand ? " (changed by hand; put back)" : ""));
    }
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
  for (const auto& e : *events) out.push_back(EventView(e));
  return out;
}

}  // namespace corepin
