// Changing a placed VM on its own host: a live re-pin (new pCPUs, no restart), a resize (new
// spec, restarted), and the repair of pinning that drifted behind corepin's back.
//
// Both operations run intent-first like the rest of the controller: placement (repin.h) checks
// the request, the Cluster takes the new assignment (and re-plans the healing reserve if it
// must), the store records it with the state "repinning" or "resizing", then libvirt acts, and
// the result is read back from libvirt and /proc. A failure puts back libvirt, the Cluster and
// the store. A crash in between leaves the record with the new assignment and that state;
// Start() completes the operation (a re-pin is applied again, which is idempotent; a resize
// defines and starts the new domain unless it already runs), since the new layout is the one
// placement accepted and the Cluster was rebuilt with.
#include <set>

#include "controller/alarms.h"
#include "controller/controller.h"
#include "controller/views.h"
#include "placement/placement_json.h"
#include "placement/repin.h"

namespace corepin {

using nlohmann::json;

namespace {

constexpr char kDriftAlarm[] = "alarm.pinning-drift";

constexpr char kRepinExample[] = R"(; e.g. {"vcpus": {"0": 5, "1": 6}, "emulator": "3"} or {"auto": true})";

// A pCPU number from JSON: an integer or a string of digits.
std::optional<int> PcpuNumber(const json& j) {
  if (j.is_number_integer() && j.get<int64_t>() >= 0 && j.get<int64_t>() < CpuSet::kMaxCpus) return j.get<int>();
  if (!j.is_string()) return std::nullopt;
  const std::string t = j.get<std::string>();
  if (t.empty() || t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const int n = std::stoi(t);
  return n < CpuSet::kMaxCpus ? std::optional<int>(n) : std::nullopt;
}

Result<RepinRequest> ParseRepinRequest(const json& body) {
  if (!body.is_object()) return Invalid(std::string("a re-pin request is a JSON object") + kRepinExample);
  RepinRequest req;
  for (const auto& [k, v] : body.items())
    if (k != "vcpus" && k != "emulator" && k != "auto") return Invalid("unknown field \"" + k + "\"; re-pin fields are vcpus, emulator and auto" + kRepinExample);
  if (body.contains("auto")) {
    if (!body["auto"].is_boolean()) return Invalid("auto: must be true or false, got " + body["auto"].dump());
    req.automatic = body["auto"].get<bool>();
  }
  if (body.contains("vcpus")) {
    const json& v = body["vcpus"];
    if (!v.is_object()) return Invalid("vcpus: must map vCPU numbers to pCPUs, got " + v.dump() + kRepinExample);
    for (const auto& [vcpu, pcpu] : v.items()) {
      auto n = PcpuNumber(json(vcpu));
      auto p = PcpuNumber(pcpu);
      if (!n) return Invalid("vcpus: \"" + vcpu + "\" is not a vCPU number" + kRepinExample);
      if (!p) return Invalid("vcpus: vCPU " + vcpu + ": " + pcpu.dump() + " is not a pCPU number" + kRepinExample);
      req.vcpus[*n] = *p;
    }
  }
  if (body.contains("emulator")) {
    if (!body["emulator"].is_string()) return Invalid("emulator: must be a pCPU list such as \"3\" or \"0,64\", got " + body["emulator"].dump());
    auto set = CpuSet::Parse(body["emulator"].get<std::string>());
    if (!set) return Invalid("emulator: " + set.error().message);
    req.emulator = *set;
  }
  const bool explicit_moves = !req.vcpus.empty() || req.emulator;
  if (req.automatic && explicit_moves) return Invalid("auto: re-fits every vCPU itself; give either auto or vcpus/emulator, not both");
  if (!req.automatic && !explicit_moves) return Invalid(std::string("nothing to re-pin: give vcpus and/or emulator, or auto") + kRepinExample);
  return req;
}

// The spec a resize asks for: the VM's spec with the request's fields replaced.
const std::set<std::string> kResizeFields = {"vcpus", "policy", "vcpu_policies", "smt", "emulator", "memory_mib", "page_size"};

Result<VmSpec> ResizedSpec(const VmSpec& old, const json& body) {
  if (!body.is_object() || body.empty())
    return Invalid(R"(a resize request is a JSON object of the fields that change, e.g. {"vcpus": 2, "memory_mib": 256})");
  for (const auto& [k, v] : body.items())
    if (!kResizeFields.count(k))
      return Invalid("field \"" + k + "\" cannot change in a resize; the fields that can are vcpus, policy, vcpu_policies, smt, emulator, memory_mib, page_size");
  json spec = VmSpecToJson(old);
  if ((body.contains("vcpus") || body.contains("policy")) && !body.contains("vcpu_policies")) {
    // One policy for every vCPU: the one asked, or the VM's own when it has one.
    std::set<std::string> policies(spec["vcpu_policies"].begin(), spec["vcpu_policies"].end());
    if (!body.contains("policy") && policies.size() != 1)
      return Invalid("vcpus: VM " + old.name + " has different policies per vCPU; give policy (one for all) or vcpu_policies (one per vCPU) too");
    spec.erase("vcpu_policies");
    if (!body.contains("policy")) spec["policy"] = *policies.begin();
  }
  spec.update(body);
  return VmSpecFromJson(spec);
}

json PinningJson(const Assignment& a) { return {{"vcpus", a.vcpu_pcpus}, {"emulator", a.emulator.ToString()}}; }

std::string PinningText(const Assignment& a) {
  std::string v;
  for (int p : a.vcpu_pcpus) v += (v.empty() ? "" : ",") + std::to_string(p);
  return "vCPUs [" + v + "], emulator " + a.emulator.ToString();
}

}  // namespace

Result<json> Controller::ApplyPinning(ManagedHost& host, const VmRecord& rec) {
  const PlacedVm& vm = *Placed(rec.name);
  std::vector<CpuSet> pins;
  for (int p : vm.assignment.vcpu_pcpus) pins.push_back(CpuSet{p});
  if (auto s = host.hypervisor->Repin(rec.name, pins, vm.assignment.emulator, DomainMetadata(rec).dump()); !s) return s.error();
  std::vector<std::string> diffs;
  json actual = ActualPinning(host, vm, &diffs);
  if (!diffs.empty()) return Unavailable("VM " + rec.name + " on host " + host.name + " was re-pinned but reads back otherwise" + Joined(diffs));
  return actual;
}

Result<json> Controller::RepinVm(const std::string& name, const json& body, NoFit* no_fit) {
  auto req = ParseRepinRequest(body);
  if (!req) return req.error();
  std::lock_guard lock(mu_);
  auto rec = store_->GetVm(name);
  if (!rec) return NotFound("VM " + name + " does not exist; list VMs with corepin vm list");
  // "repinning": a re-pin a crash interrupted and its resume could not finish; this finishes it.
  if (rec->state != kVmRunning && rec->state != kVmRepinning)
    return Conflict("VM " + name + " is " + rec->state + "; a re-pin needs it running (corepin vm show " + name + ")");
  ManagedHost& host = **FindHost(rec->host);
  if (!host.hypervisor)
    return Unavailable("host " + host.name + " of VM " + name + " is unreachable (" + host.connect_error + "); nothing was changed");
  FitResult fit = FitRepin(StateOf(host), name, *req);
  if (!fit.ok()) {
    no_fit->rejections = {fit.rejection};
    return Unprocessable("VM " + name + " cannot be re-pinned so; nothing was changed:\n" + fit.rejection.ToString());
  }
  return RepinLocked(*rec, *fit.assignment);
}

Result<json> Controller::RepinLocked(const VmRecord& record, const Assignment& next) {
  const std::string& name = record.name;
  ManagedHost& host = **FindHost(record.host);
  const PlacedVm placed = *Placed(name);
  // QEMU keeps the guest's pages where they are: a layout with its memory elsewhere would be
  // recorded but never made (repin.h).
  if (next.MemoryNodes() != placed.assignment.MemoryNodes())
    return Unprocessable("VM " + name + ": a live re-pin does not move memory, which is on NUMA nodes " +
                         placed.assignment.MemoryNodes().ToString() + ", not " + next.MemoryNodes().ToString() +
                         "; nothing was changed");
  std::vector<std::string> drifted;  // where the threads were allowed to run before, if not as intended
  const json before = ActualPinning(host, placed, &drifted);
  if (auto s = cluster_.Reassign(name, placed.spec, next); !s) return Error{s.error().code, s.error().message + "; nothing was changed"};
  // Intent: the new assignment is stored before libvirt is touched.
  VmRecord intent = record;
  intent.assignment_json = AssignmentToJson(next).dump();
  intent.state = std::string(kVmRepinning);
  if (auto s = store_->UpdateVm(intent); !s) {
    (void)cluster_.Reassign(name, placed.spec, placed.assignment);
    return s.error();
  }
  auto actual = ApplyPinning(host, intent);
  if (!actual) {
    // Put everything back: the Cluster, libvirt's pins (live and persistent), the record.
    VmRecord old = record;
    old.assignment_json = AssignmentToJson(placed.assignment).dump();
    old.state = std::string(kVmRunning);
    (void)cluster_.Reassign(name, placed.spec, placed.assignment);
    auto restored = ApplyPinning(host, old);
    if (auto s = store_->UpdateVm(old); !s) Event("vm.rollback-failed", name, s.error().message);
    const std::string outcome = restored ? "; the old pinning was put back and verified"
                                         : "; putting the old pinning back failed too: " + restored.error().message;
    Event("vm.repin.failed", name, actual.error().message + outcome);
    return Error{actual.error().code, actual.error().message + outcome};
  }
  intent.state = std::string(kVmRunning);
  if (auto s = store_->UpdateVm(intent); !s) return s.error();
  ClearDriftAlarm(name, "re-pinned and verified (vm.repinned)");
  const bool changed = !(next == placed.assignment);
  Event("vm.repinned", name, "on " + host.name + ": " + PinningText(placed.assignment) + " -> " + PinningText(next) +
                                 (changed ? "" : " (unchanged; re-applied)") + ", verified live without a restart" +
                                 (drifted.empty() ? "" : "; before it" + Joined(drifted)));
  return json{{"name", name},
              {"host", host.name},
              {"changed", changed},
              {"old", PinningJson(placed.assignment)},
              {"new", PinningJson(next)},
              {"before", {{"vcpus", before.value("actual_vcpus", json::array())}, {"emulator", before.value("emulator", json::object())}}},
              {"actual", {{"vcpus", (*actual)["actual_vcpus"]}, {"emulator", (*actual)["emulator"]}}},
              {"pinning_verified", (*actual)["pinning_verified"]}};
}

Result<json> Controller::ResizeVm(const std::string& name, const json& body, NoFit* no_fit) {
  std::lock_guard lock(mu_);
  auto rec = store_->GetVm(name);
  if (!rec) return NotFound("VM " + name + " does not exist; list VMs with corepin vm list");
  if (rec->state != kVmRunning) return Conflict("VM " + name + " is " + rec->state + "; a resize needs it running (corepin vm show " + name + ")");
  if (const Cluster::VmLocation* loc = cluster_.FindVm(name); loc && loc->group != name)
    return Conflict("VM " + name + " is a member of group " + loc->group +
                    ": a group's members share one spec and are resized as a group, which corepin does not do yet; "
                    "create a new group with the new spec, switch the service over, then delete the old group");
  ManagedHost& host = **FindHost(rec->host);
  if (!host.hypervisor)
    return Unavailable("host " + host.name + " of VM " + name + " is unreachable (" + host.connect_error + "); nothing was changed");
  const PlacedVm placed = *Placed(name);
  auto spec = ResizedSpec(placed.spec, body);
  if (!spec) return spec.error();
  if (VmSpecToJson(*spec) == VmSpecToJson(placed.spec)) {  // nothing to do: no restart
    json view = VmView(*rec, &StateOf(host));
    std::vector<std::string> diffs;
    MergeActualPinning(ActualPinning(host, placed, &diffs), &view);
    view["changed"] = false;
    return view;
  }
  FitResult fit = FitInPlace(StateOf(host), name, *spec);
  if (!fit.ok()) {
    no_fit->rejections = {fit.rejection};
    return Unprocessable("VM " + name + " cannot be resized so on host " + host.name + "; nothing was changed (it still runs):\n" +
                         fit.rejection.ToString());
  }
  if (auto s = cluster_.Reassign(name, *spec, *fit.assignment); !s) return Error{s.error().code, s.error().message + "; nothing was changed"};
  VmRecord intent = *rec;
  intent.spec_json = VmSpecToJson(*spec).dump();
  intent.assignment_json = AssignmentToJson(*fit.assignment).dump();
  intent.state = std::string(kVmResizing);
  if (auto s = store_->UpdateVm(intent); !s) {
    (void)cluster_.Reassign(name, placed.spec, placed.assignment);
    return s.error();
  }
  // Act: the old domain goes, the new one is defined, started and verified (StartMembers).
  Status done = host.hypervisor->DestroyAndUndefine(name);
  if (done) done = StartMembers({{intent, ""}});
  if (!done) {
    // Back to the old VM: its definition is rebuilt from the old spec and assignment.
    (void)host.hypervisor->DestroyAndUndefine(name);
    (void)cluster_.Reassign(name, placed.spec, placed.assignment);
    VmRecord old = *rec;
    Status restored = StartMembers({{old, ""}});
    if (!restored) old.state = std::string(kVmFailed);
    if (auto s = store_->UpdateVm(old); !s) Event("vm.rollback-failed", name, s.error().message);
    const std::string outcome = restored ? "; the old VM was restored and runs with its old pinning"
                                         : "; restoring the old VM failed too (" + restored.error().message + "); it is recorded failed";
    Event("vm.resize.failed", name, done.error().message + outcome);
    return Error{done.error().code, done.error().message + outcome};
  }
  intent.state = std::string(kVmRunning);
  if (auto s = store_->UpdateVm(intent); !s) return s.error();
  Event("vm.resized", name, "on " + host.name + ": " + DescribeSpec(placed.spec) + " -> " + DescribeSpec(*spec) + "; " +
                                PinningText(*fit.assignment) + ", verified");
  json view = VmView(intent, &StateOf(host));
  std::vector<std::string> diffs;
  json actual = ActualPinning(host, *Placed(name), &diffs);
  MergeActualPinning(actual, &view);
  view["changed"] = true;
  view["old"] = {{"spec", VmSpecToJson(placed.spec)}, {"pinning", PinningJson(placed.assignment)}};
  view["new"] = {{"spec", VmSpecToJson(*spec)}, {"pinning", PinningJson(*fit.assignment)}};
  return view;
}

Status Controller::ResumeRepin(const VmRecord& vm) {
  ManagedHost& host = **FindHost(vm.host);
  auto actual = ApplyPinning(host, vm);
  if (!actual) return Error{actual.error().code, "interrupted re-pin not completed: " + actual.error().message};
  VmRecord done = vm;
  done.state = std::string(kVmRunning);
  if (auto s = store_->UpdateVm(done); !s) return s;
  Event("vm.repin.resumed", vm.name, "interrupted re-pin completed on " + host.name + ": " + PinningText(Placed(vm.name)->assignment) + ", verified");
  return Status::Ok();
}

Status Controller::ResumeResize(const VmRecord& vm) {
  ManagedHost& host = **FindHost(vm.host);
  std::vector<std::string> diffs;
  auto dom = host.hypervisor->GetDomain(vm.name);
  if (dom && dom->active) ActualPinning(host, *Placed(vm.name), &diffs);
  if (!dom || !dom->active || !diffs.empty()) {
    // The old domain (or a half-made new one) goes; the new one is made from the record.
    json meta = dom ? json::parse(dom->metadata_json, nullptr, false) : json();
    if (dom && !(meta.is_object() && meta.value("vm", "") == vm.name))
      return Conflict("domain " + vm.name + " on " + host.name + " is not corepin's; interrupted resize left as it is");
    Status s = host.hypervisor->DestroyAndUndefine(vm.name);
    if (s) s = StartMembers({{vm, ""}});
    if (!s) {
      VmRecord failed = vm;
      failed.state = std::string(kVmFailed);
      (void)store_->UpdateVm(failed);
      return Error{s.error().code, "interrupted resize not completed, VM recorded failed: " + s.error().message};
    }
  }
  VmRecord done = vm;
  done.state = std::string(kVmRunning);
  if (auto s = store_->UpdateVm(done); !s) return s;
  Event("vm.resize.resumed", vm.name, "interrupted resize completed on " + host.name + ": " + PinningText(Placed(vm.name)->assignment) + ", verified");
  return Status::Ok();
}

void Controller::HandleDrift(ManagedHost& host, const PlacedVm& vm, const json& actual, const std::vector<std::string>& found,
                             json* report) {
  const std::string& name = vm.spec.name;
  auto note = [&](const std::string& kind, const std::string& event, const std::string& msg) {
    report->push_back({{"host", host.name}, {"vm", name}, {"kind", kind}, {"message", msg}});
    Event(event, name, msg);
  };
  const std::string what = "VM " + name + " on " + host.name + ": pinning differs from its assignment (" +
                           PinningText(vm.assignment) + ")" + Joined(found);
  auto rec = store_->GetVm(name);
  if (!rec || (rec->state != kVmRunning && rec->state != kVmRepinning)) return;  // another operation owns it
  const json& memory = actual.value("memory_nodes", json::object());
  if (memory.value("intended", "") != memory.value("libvirt", "")) {
    note("memory-misplaced", kDriftAlarm,
         what + "; a live re-pin does not move memory: start it again where corepin places it with corepin vm move " + name +
             " --cold");
    return;
  }
  if (!options_.repair_drift) {
    note("pinning-drift", kDriftAlarm,
         what + "; repair: corepin vm repin " + name + " --auto, or run corepind with --repair-drift");
    return;
  }
  auto repaired = ApplyPinning(host, *rec);
  if (!repaired) {
    note("pinning-drift", kDriftAlarm, what + "; the repair failed: " + repaired.error().message);
    return;
  }
  if (rec->state == kVmRepinning) {
    rec->state = std::string(kVmRunning);
    (void)store_->UpdateVm(*rec);
  }
  note("drift-repaired", "vm.drift-repaired", what + "; re-pinned live to its assignment and verified");
  ClearDriftAlarm(name, "repaired by the reconcile (vm.drift-repaired)");
}

void Controller::ClearDriftAlarm(const std::string& vm, const std::string& why) { ClearAlarm(kDriftAlarm, vm, why); }

}  // namespace corepin
