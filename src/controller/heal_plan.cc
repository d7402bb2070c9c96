#include "controller/heal_plan.h"

#include <algorithm>
#include <set>

#include "placement/placement_json.h"

namespace corepin {

using nlohmann::json;

const HealMove* HealPlan::FindMove(const std::string& vm) const {
  for (const auto& m : moves)
    if (m.vm == vm) return &m;
  return nullptr;
}

std::string HealPlan::Summary() const {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : "; ") + s; };
  for (const auto& p : promotions) add(p.promoted + " becomes ACT of " + p.group + (p.note.empty() ? "" : " (" + p.note + ")"));
  for (const auto& m : moves) {
    // A standalone VM (a group of one named after it) has no role to tell.
    const std::string role = m.group == m.vm ? "" : std::string(ToString(m.role)) + ", ";
    add(m.vm + " to " + m.to + " (vCPUs on " + m.assignment.VcpuPcpus().ToString() + ", " + role +
        (m.precomputed ? "reserved)" : "found in free capacity)"));
  }
  for (const auto& l : lost) add(l.vm + " lost: " + l.reason);
  for (const auto& g : headless) add("group " + g + " has no member left running");
  return out.empty() ? "nothing ran on the failed hosts" : out;
}

HealPlan MakeHealPlan(const WhatIfReport& report, const std::vector<StoredGroup>& groups,
                      const std::set<std::string>& not_answering, const std::set<std::string>& lost) {
  HealPlan plan;
  plan.hosts = report.failed;
  plan.within_guarantee = report.within_guarantee;
  const std::set<std::string> failed(report.failed.begin(), report.failed.end());
  for (const auto& g : groups) {
    std::vector<std::string> lost_acts;
    std::vector<const GroupMember*> live_sbys, doubtful_sbys;  // on hosts that answer; that do not
    for (const auto& m : g.members) {
      const bool down = failed.count(m.host) > 0;
      if (down && m.role == Role::kAct) lost_acts.push_back(m.vm);
      if (!down && !lost.count(m.vm) && m.role == Role::kSby) (not_answering.count(m.host) ? doubtful_sbys : live_sbys).push_back(&m);
    }
    bool any_alive = false;
    for (const auto& m : g.members) any_alive |= !failed.count(m.host) && !lost.count(m.vm);
    if (!any_alive) plan.headless.push_back(g.request.name);
    // Each lost ACT hands over to a SBY that still runs, in member order: first those on hosts
    // that answer; one on a host that does not answer (it may be failing too, not yet
    // suspected) only when there is no other, and the plan says so.
    const size_t answering = live_sbys.size();
    live_sbys.insert(live_sbys.end(), doubtful_sbys.begin(), doubtful_sbys.end());
    for (size_t i = 0; i < lost_acts.size() && i < live_sbys.size(); ++i) {
      HealPromotion p{g.request.name, live_sbys[i]->vm, lost_acts[i], ""};
      if (i >= answering)
        p.note = "its host " + live_sbys[i]->host + " is not answering; no SBY on a host that answers was left to promote";
      plan.promotions.push_back(p);
    }
  }
  auto demoted = [&](const std::string& vm) {
    return std::any_of(plan.promotions.begin(), plan.promotions.end(), [&](const auto& p) { return p.demoted == vm; });
  };
  for (const auto& m : report.moves)
    plan.moves.push_back({m.vm, m.group, m.from, m.to, demoted(m.vm) ? Role::kSby : m.role, m.assignment, m.precomputed});
  for (const auto& l : report.lost) plan.lost.push_back({l.vm, l.group, l.from, l.reason});
  return plan;
}

StoredGroup ApplyHealPlan(const HealPlan& plan, StoredGroup g) {
  for (auto& m : g.members) {
    if (const HealMove* mv = plan.FindMove(m.vm)) m.host = mv->to;
    for (const auto& p : plan.promotions) {
      if (p.group != g.request.name) continue;
      if (m.vm == p.promoted) m.role = Role::kAct;
      if (m.vm == p.demoted) m.role = Role::kSby;
    }
  }
  return g;
}

json HealPlanToJson(const HealPlan& p) {
  json moves = json::array(), lost = json::array(), promotions = json::array();
  for (const auto& m : p.moves)
    moves.push_back({{"vm", m.vm}, {"group", m.group}, {"from", m.from}, {"to", m.to}, {"role", ToString(m.role)},
                     {"assignment", AssignmentToJson(m.assignment)}, {"precomputed", m.precomputed}});
  for (const auto& l : p.lost) lost.push_back({{"vm", l.vm}, {"group", l.group}, {"from", l.from}, {"reason", l.reason}});
  for (const auto& x : p.promotions) {
    promotions.push_back({{"group", x.group}, {"promoted", x.promoted}, {"demoted", x.demoted}});
    if (!x.note.empty()) promotions.back()["note"] = x.note;
  }
  return {{"hosts", p.hosts}, {"moves", moves}, {"lost", lost}, {"promotions", promotions},
          {"headless", p.headless}, {"within_guarantee", p.within_guarantee}};
}

Result<HealPlan> HealPlanFromJson(const json& j) {
  if (!j.is_object()) return Invalid("stored heal plan is not an object");
  try {
    HealPlan p;
    p.hosts = j.at("hosts").get<std::vector<std::string>>();
    p.headless = j.value("headless", std::vector<std::string>{});
    p.within_guarantee = j.value("within_guarantee", false);
    for (const auto& m : j.at("moves")) {
      auto a = AssignmentFromJson(m.at("assignment"));
      if (!a) return Invalid("stored heal plan: " + a.error().message);
      auto role = ParseRole(m.at("role").get<std::string>());
      if (!role) return Invalid("stored heal plan: " + role.error().message);
      p.moves.push_back({m.at("vm"), m.at("group"), m.at("from"), m.at("to"), *role, *a, m.value("precomputed", false)});
    }
    for (const auto& l : j.at("lost")) p.lost.push_back({l.at("vm"), l.at("group"), l.at("from"), l.at("reason")});
    for (const auto& x : j.at("promotions"))
      p.promotions.push_back({x.at("group"), x.at("promoted"), x.at("demoted"), x.value("note", "")});
    return p;
  } catch (const json::exception& e) {
    return Invalid(std::string("stored heal plan is malformed: ") + e.what());
  }
}

}  // namespace corepin
