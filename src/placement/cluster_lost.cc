// Members lost beyond the reserve (LostMember, cluster.h): taken out of the model when a
// failure finds them no host, placed anew under their group's rules when capacity returns.
#include <algorithm>

#include "common/text.h"
#include "placement/cluster.h"
#include "placement/scheduler.h"

namespace corepin {

void Cluster::Lose(const std::string& vm, const std::string& reason) {
  const VmLocation loc = vms_.at(vm);
  const GroupMember member = *groups_.at(loc.group).FindMember(vm);
  reserve_.Forget(*this, vm);
  ReleaseVm(vm);
  lost_[vm] = {vm, loc.group, member.role, HostById(loc.host)->name, reason};
}

Status Cluster::LoseMember(const std::string& vm, const std::string& reason) {
  if (!FindVm(vm)) return NotFound("VM " + vm + " is not placed");
  Lose(vm, reason);
  // Its pCPUs are free again: what was recorded unhealable may have a target now.
  reserve_.RetryUnhealable(*this);
  reserve_.Commit();
  return Status::Ok();
}

Status Cluster::AdmitLost(const LostMember& lost, const Candidate& cand, bool degrade) {
  ClusterHost* h = Host(cand.host->id);
  std::set<std::string> created;  // shared groups the VM creates on the host
  for (const auto& [g, pcpu] : cand.assignment.groups)
    if (!h->state.FindGroup(g)) created.insert(g);
  const VmSpec spec = MemberSpec(groups_.at(lost.group).vm, lost.vm);
  if (auto s = ApplyVm(*h, lost.group, lost.role, spec, cand.assignment); !s) return s;
  Status st = reserve_.Protect(*this, lost.vm, nullptr, degrade);
  if (st) st = reserve_.Repair(*this, h->id, created, lost.group, nullptr, degrade);
  return st;
}

Result<MemberPlacement> Cluster::PlaceLost(const std::string& vm, SearchExplanation* out) {
  auto it = lost_.find(vm);
  if (it == lost_.end()) return NotFound("VM " + vm + " is not lost");
  const LostMember lost = it->second;
  const RedundancyGroup& g = groups_.at(lost.group);
  const VmSpec spec = MemberSpec(g.vm, vm);
  HostFilter filter = MemberFilter(g);
  const std::string purpose = std::string("place lost ") + ToString(lost.role) + " anew";
  SearchExplanation ex;
  ex.purpose = purpose;
  // Its old host first, when the group's rules allow it there: it comes back where it was.
  std::vector<Candidate> cands;
  if (const ClusterHost* from = FindHost(lost.from); from && !*FilterHost(*from, filter)) {
    filter.only_host = lost.from;
    cands = RankHosts(*this, spec, lost.role, filter, &ex);
    filter.only_host.clear();
  }
  if (cands.empty()) {
    ex = SearchExplanation{};
    ex.purpose = purpose;
    cands = RankHosts(*this, spec, lost.role, filter, &ex);
  }
  if (out) *out = ex;
  if (cands.empty()) {
    std::string rules = "not on a host of another member";
    if (!g.domains.empty()) rules += " nor one sharing " + Join(g.domains, ", ") + " with one";
    return Unprocessable("group " + g.name + ": no host for lost member " + vm + " (" + ToString(lost.role) + ", " +
                         DescribeSpec(spec) + ") under the group's rules (" + rules + "): " + ex.Summary());
  }
  lost_.erase(vm);  // from here on it is placed, or put back below
  // The best candidate that keeps every protected VM healable; else the best, degraded.
  const size_t tries = std::min(cands.size(), static_cast<size_t>(std::max(1, opts_.max_admission_tries)));
  const Candidate* chosen = nullptr;
  for (size_t i = 0; i < tries; ++i) {
    const size_t mark = reserve_.Mark();
    if (AdmitLost(lost, cands[i], false)) {
      chosen = &cands[i];
      break;
    }
    reserve_.RollbackTo(*this, mark);
    ReleaseVm(vm);
  }
  if (!chosen) {
    const size_t mark = reserve_.Mark();
    if (auto s = AdmitLost(lost, cands[0], true); !s) {  // not expected: the fit was exact
      reserve_.RollbackTo(*this, mark);
      ReleaseVm(vm);
      reserve_.Commit();
      lost_[vm] = lost;
      return Internal("lost member " + vm + ": a fitted assignment did not apply: " + s.error().message);
    }
    chosen = &cands[0];
  }
  reserve_.Commit();
  return MemberPlacement{vm, lost.role, chosen->assignment};
}

}  // namespace corepin
