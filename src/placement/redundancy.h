// Redundancy groups: the VMs of one network function, with roles ACT and SBY (1+1, N+M).
//
// Every member runs the group's one VM spec under its own name, so a SBY has exactly the CPU
// policy and the NIC/physical-network locality of the ACT it stands in for. Members never
// share a host, nor a value of any failure-domain label the group names ("rack", "power", ...).
// Cluster::PlaceGroup (cluster.h) places a whole group or nothing.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "model/role.h"
#include "model/vm_spec.h"

namespace corepin {

struct GroupMemberRequest {
  std::string name;  // the member VM's name
  Role role = Role::kAct;
  std::string host;  // optional: only this host
};

struct GroupRequest {
  std::string name;
  VmSpec vm;  // every member's spec; its name is replaced by the member's
  std::vector<GroupMemberRequest> members;
  std::vector<std::string> domains;  // failure-domain label keys the members must not share
  bool protect = true;               // false: an explicit opt-out of the healing reserve
};

// A placed group.
struct GroupMember {
  std::string vm;
  Role role = Role::kAct;
  std::string host;
};
struct RedundancyGroup {
  std::string name;
  VmSpec vm;
  std::vector<std::string> domains;
  bool protect = true;
  std::vector<GroupMember> members;  // ACTs first (until a switchover swaps roles)
  const GroupMember* FindMember(const std::string& vm) const;
};

// A standalone VM as the cluster keeps it: a group of one (its ACT), named after the VM, outside
// the healing reserve.
RedundancyGroup StandaloneGroup(const std::string& vm, const VmSpec& spec, const std::string& host);

// Host-independent checks: names, member list, the spec, domain keys. Messages name the field.
Status ValidateGroupRequest(const GroupRequest& req);
// The spec member `vm` runs: the group's spec under the member's name.
VmSpec MemberSpec(const VmSpec& group_spec, const std::string& vm);
// A lower bound of the pCPUs the VM holds on a host with `threads_per_core`, for cheap
// filters: its dedicated and pinned vCPUs, an isolated emulator, their siblings under isolate.
int MinPcpus(const VmSpec& spec, int threads_per_core);
// "4 vCPUs dedicated, smt isolate, 4096 MiB" for messages.
std::string DescribeSpec(const VmSpec& spec);

}  // namespace corepin
