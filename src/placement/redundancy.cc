#include "placement/redundancy.h"

#include <set>

namespace corepin {

RedundancyGroup StandaloneGroup(const std::string& vm, const VmSpec& spec, const std::string& host) {
  return RedundancyGroup{vm, spec, {}, /*protect=*/false, {{vm, Role::kAct, host}}};
}


const GroupMember* RedundancyGroup::FindMember(const std::string& name) const {
  for (const auto& m : members)
    if (m.vm == name) return &m;
  return nullptr;
}

VmSpec MemberSpec(const VmSpec& group_spec, const std::string& vm) {
  VmSpec s = group_spec;
  s.name = vm;
  return s;
}

Status ValidateGroupRequest(const GroupRequest& req) {
  if (!IsValidName(req.name)) return Invalid("group name \"" + req.name + "\": must match [A-Za-z0-9][A-Za-z0-9_.-]{0,62}");
  if (req.members.empty()) return Invalid("group " + req.name + ": members: empty; a group needs at least one member");
  std::set<std::string> names;
  int acts = 0;
  for (const auto& m : req.members) {
    if (!IsValidName(m.name)) return Invalid("group " + req.name + ": member name \"" + m.name + "\" is not a valid VM name");
    if (!names.insert(m.name).second) return Invalid("group " + req.name + ": member " + m.name + " is listed twice");
    acts += m.role == Role::kAct;
  }
  if (acts == 0) return Invalid("group " + req.name + ": has no ACT member; give at least one member role act");
  std::set<std::string> keys;
  for (const auto& d : req.domains) {
    if (!IsValidName(d)) return Invalid("group " + req.name + ": domains: \"" + d + "\" is not a valid label key");
    if (!keys.insert(d).second) return Invalid("group " + req.name + ": domains: " + d + " is listed twice");
  }
  if (auto s = ValidateSpec(MemberSpec(req.vm, req.members[0].name)); !s)
    return Invalid("group " + req.name + ": vm: " + s.error().message);
  return Status::Ok();
}

int MinPcpus(const VmSpec& spec, int threads_per_core) {
  int n = 0;
  for (const auto& v : spec.vcpus) n += v.kind != VcpuPolicy::Kind::kGroup;
  if (spec.emulator.kind == EmulatorPolicy::Kind::kIsolate) ++n;
  if (spec.smt == SmtPolicy::kIsolate) n *= threads_per_core;
  return n;  // shared groups may join existing ones: they need no pCPU of their own
}

std::string DescribeSpec(const VmSpec& s) {
  int dedicated = 0, grouped = 0, pinned = 0;
  for (const auto& v : s.vcpus) {
    dedicated += v.kind == VcpuPolicy::Kind::kDedicated;
    grouped += v.kind == VcpuPolicy::Kind::kGroup;
    pinned += v.kind == VcpuPolicy::Kind::kPinned;
  }
  std::string out = std::to_string(s.vcpus.size()) + " vCPUs (";
  std::string parts;
  if (dedicated) parts += std::to_string(dedicated) + " dedicated";
  if (grouped) parts += (parts.empty() ? "" : ", ") + std::to_string(grouped) + " grouped";
  if (pinned) parts += (parts.empty() ? "" : ", ") + std::to_string(pinned) + " pinned";
  out += parts + "), smt " + ToString(s.smt) + ", numa " + ToString(s.numa) + ", " + std::to_string(s.memory_mib) + " MiB";
  if (s.page_kib != 4) out += " in " + PageSizeToString(s.page_kib) + " pages";
  if (!s.nic.empty()) out += ", near NIC " + s.nic;
  if (!s.physnet.empty()) out += ", near physnet " + s.physnet;
  return out;
}

}  // namespace corepin
