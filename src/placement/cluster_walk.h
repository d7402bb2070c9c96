// The placement random walk, shared by cluster_random_test.cc (a few seeds, in CI) and
// bench/cluster_walk_bench.cc (many seeds, counts printed): randomized operations on small
// clusters: group create/delete, host add/remove/drain/return, k changes, what-if, real failures.
// After every step: every host obeys its invariants, every group keeps its anti-affinity
// (Cluster::Check), a refused operation changed nothing, and the k-failure guarantee holds,
// checked by brute force: every set of at most k hosts fails, and the plan's targets are
// applied to copies of the survivors (BruteForceGuarantee). Failures are gtest assertions.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "placement/cluster.h"
#include "placement/cluster_json.h"
#include "placement/cluster_test_util.h"
#include "placement/whatif.h"

namespace corepin::testing {

struct Walk {
  std::mt19937 rng;
  int Pick(int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); }
  bool Chance(int percent) { return Pick(100) < percent; }
};

inline HostState RandomHost(Walk& w, const std::string& name) {
  switch (w.Pick(3)) {
    case 0: return CachedFixtureHost("4node-smt2", "0,32", name);
    case 1: return CachedFixtureHost("2s32c-smt2", "0,64", name);
    default: return CachedFixtureHost("4node-smt2", "0-1,32-33", name);
  }
}

inline Labels RandomLabels(Walk& w) {
  Labels l;
  if (!w.Chance(10)) l["rack"] = "r" + std::to_string(1 + w.Pick(4));
  if (!w.Chance(30)) l["power"] = "p" + std::to_string(1 + w.Pick(2));
  return l;
}

inline GroupRequest RandomGroup(Walk& w, int serial) {
  GroupRequest r;
  r.name = "g" + std::to_string(serial);
  const int shape = w.Pick(20);
  int acts = 1, sbys = 1;
  if (shape < 5) sbys = 0;
  else if (shape < 8) acts = 2;
  else if (shape < 10) sbys = 2;
  for (int i = 1; i <= acts; ++i) r.members.push_back({r.name + "a" + std::to_string(i), Role::kAct, ""});
  for (int i = 1; i <= sbys; ++i) r.members.push_back({r.name + "s" + std::to_string(i), Role::kSby, ""});
  if (w.Chance(40)) r.domains.push_back("rack");
  if (w.Chance(15)) r.domains.push_back("power");
  r.protect = !w.Chance(10);
  VmSpec& s = r.vm;
  s.name = r.name;
  const int n = 1 + w.Pick(w.Chance(20) ? 12 : 4);
  static const char* kShared[] = {"ctl", "mgmt"};
  for (int i = 0; i < n; ++i) {
    VcpuPolicy p;
    int x = w.Pick(20);
    if (x < 3) p = {VcpuPolicy::Kind::kGroup, kShared[w.Pick(2)], -1};
    else if (x == 3 && i == 0) p = {VcpuPolicy::Kind::kPinned, "", 40 + w.Pick(8)};
    s.vcpus.push_back(p);
  }
  s.smt = static_cast<SmtPolicy>(w.Pick(3));
  int e = w.Pick(8);
  if (e == 6) s.emulator.kind = EmulatorPolicy::Kind::kIsolate;
  if (e == 7) s.emulator = {EmulatorPolicy::Kind::kGroup, kShared[w.Pick(2)]};
  s.numa = w.Chance(15) ? NumaPolicy::kSpread : NumaPolicy::kSingle;
  if (w.Chance(15)) s.physnet = "data";
  s.page_kib = w.Chance(20) ? 2048 : 4;
  s.memory_mib = (1 + w.Pick(8)) * 1024;
  return r;
}

// Everything a refused operation must leave as it was.
inline std::string Fingerprint(const Cluster& c) {
  std::string s = "k" + std::to_string(c.failures_tolerated()) + ";";
  for (const auto* h : c.hosts()) {
    s += h->name + (h->schedulable ? "+" : "-") + h->state.free().ToString() + "|" + h->state.reserve().pcpus.ToString() + "|";
    for (const auto& [key, mib] : h->state.reserve().memory_mib) s += std::to_string(key.first) + ":" + std::to_string(mib) + ",";
    for (const auto& [vm, p] : h->state.vms()) s += vm + ",";
    s += ";";
  }
  for (const auto& [key, sc] : c.reserve().scenarios())
    for (const auto& [vm, t] : sc.targets) s += vm + ">" + t.host + t.pcpus.ToString() + ";";
  return s;
}

struct Stats {
  int placed = 0, refused = 0, deleted = 0, hosts_added = 0, hosts_removed = 0, host_refusals = 0, whatifs = 0, k_changes = 0;
  int failures = 0, clean_failures = 0, moved = 0;
  int lost = 0, placed_anew = 0, still_lost = 0;  // members lost beyond the reserve; tried again on a host's return
};

inline void Print(const Stats& st) {
  std::printf("placed %d, refused %d, deleted %d, hosts +%d -%d, host refusals %d, what-ifs %d, k changes %d, "
              "failures %d (%d with the guarantee whole; %d VMs moved, %d lost); lost members on a host's return: %d placed anew, "
              "%d still lost\n",
              st.placed, st.refused, st.deleted, st.hosts_added, st.hosts_removed, st.host_refusals, st.whatifs, st.k_changes,
              st.failures, st.clean_failures, st.moved, st.lost, st.placed_anew, st.still_lost);
}

// Every lost member placed anew (PlaceLost), in name order: placed under its group's rules, or
// left lost with a reason and the cluster unchanged. Returns what went wrong, or "".
inline std::string ReturnLost(Cluster& c, Stats* st) {
  std::vector<std::string> lost;
  for (const auto& [vm, l] : c.lost()) lost.push_back(vm);
  for (const auto& vm : lost) {
    const std::string before = Fingerprint(c);
    auto placed = c.PlaceLost(vm);
    if (placed.ok()) {
      ++st->placed_anew;
      if (c.lost().count(vm)) return vm + " placed anew but still recorded lost";
      if (!c.FindHost(placed->assignment.host)->state.vms().count(vm)) return vm + " placed anew but not on its host";
    } else {
      ++st->still_lost;
      if (placed.error().code != ErrorCode::kUnprocessable) return vm + ": " + placed.error().message;
      if (!c.lost().count(vm)) return vm + " refused but no longer recorded lost";
      if (Fingerprint(c) != before) return vm + " stayed lost but the cluster changed";
    }
    if (Status ok = c.Check(); !ok.ok()) return vm + " placed anew: " + ok.error().message;
  }
  return "";
}

inline void RunWalk(int k, int steps, unsigned seed, int max_hosts, Stats* st) {
  Walk w{std::mt19937(seed)};
  ClusterOptions opt;
  opt.failures_tolerated = k;
  opt.seed = seed;
  Cluster c(opt);
  int host_serial = 0, group_serial = 0;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(c.AddHost(RandomHost(w, "h" + std::to_string(++host_serial)), RandomLabels(w)).ok());
  for (int step = 0; step < steps; ++step) {
    const std::string before = Fingerprint(c);
    const int op = w.Pick(100);
    std::string what;
    bool refused = false;
    if (op < 45) {
      GroupRequest r = RandomGroup(w, ++group_serial);
      what = "place " + GroupRequestToJson(r).dump();
      GroupOutcome o = c.PlaceGroup(r);
      if (o.ok()) {
        ++st->placed;
        ASSERT_EQ(o.placed.size(), r.members.size());
      } else {
        ++st->refused;
        refused = true;
        ASSERT_FALSE(o.explanation.refusal.empty());
      }
    } else if (op < 75) {
      if (c.groups().empty()) continue;
      auto it = c.groups().begin();
      std::advance(it, w.Pick(static_cast<int>(c.groups().size())));
      what = "delete " + it->first;
      ASSERT_TRUE(c.DeleteGroup(it->first).ok());
      ++st->deleted;
    } else if (op < 83) {
      if (static_cast<int>(c.hosts().size()) >= max_hosts) continue;
      std::string name = "h" + std::to_string(++host_serial);
      what = "add " + name;
      ASSERT_TRUE(c.AddHost(RandomHost(w, name), RandomLabels(w)).ok());
      ++st->hosts_added;
    } else if (op < 91) {
      if (c.hosts().size() <= 2) continue;
      const ClusterHost* h = c.hosts()[w.Pick(static_cast<int>(c.hosts().size()))];
      const bool empty = h->state.vms().empty();
      what = "remove " + h->name;
      Status s = c.RemoveHost(h->name);
      if (!empty) {
        ASSERT_FALSE(s.ok());
        ASSERT_EQ(s.error().code, ErrorCode::kConflict) << what;
      }
      if (s.ok()) {
        ++st->hosts_removed;
      } else {
        ++st->host_refusals;
        refused = true;
      }
    } else if (op < 94) {
      const ClusterHost* h = c.hosts()[w.Pick(static_cast<int>(c.hosts().size()))];
      what = std::string(h->schedulable ? "drain " : "undrain ") + h->name;
      const bool back = !h->schedulable;
      Status s = c.SetSchedulable(h->name, back);
      if (!s.ok()) {
        ++st->host_refusals;
        refused = true;
      } else if (back) {
        // A host back in service (a failed one returned): every lost member is placed anew
        // under its group's rules, or stays lost with nothing changed. Draws no random number.
        ASSERT_EQ(ReturnLost(c, st), "") << "step " << step << " after " << what;
      }
    } else if (op < 96) {
      // Real failures of at most k hosts: every protected VM moves to its precomputed target.
      std::vector<std::string> failed;
      for (const auto* h : c.hosts())
        if (h->schedulable && !h->state.vms().empty() && static_cast<int>(failed.size()) < std::max(1, c.failures_tolerated()) && w.Chance(40))
          failed.push_back(h->name);
      if (failed.empty()) continue;
      what = "fail";
      for (const auto& f : failed) what += " " + f;
      bool clean = true;  // the guarantee held in full before: nothing recorded unhealable
      for (const auto& [key, sc] : c.reserve().scenarios()) clean &= sc.unhealable.empty();
      auto r = c.FailHosts(failed);
      ASSERT_TRUE(r.ok());
      ++st->failures;
      st->moved += static_cast<int>(r->moves.size());
      for (const auto& m : r->moves) ASSERT_EQ(c.FindHost(m.to)->state.vms().count(m.vm), 1u) << what;
      st->lost += static_cast<int>(r->lost.size());
      for (const auto& l : r->lost) {  // a lost member keeps no place
        ASSERT_EQ(c.lost().count(l.vm), 1u) << what << " " << l.vm;
        ASSERT_EQ(c.FindVm(l.vm), nullptr) << what << " " << l.vm;
      }
      if (clean && c.failures_tolerated() > 0) {
        ++st->clean_failures;
        ASSERT_TRUE(r->within_guarantee) << what << ": " << WhatIfToJson(*r).dump();
        for (const auto& m : r->moves) ASSERT_TRUE(m.precomputed || !c.groups().at(m.group).protect) << what << " " << m.vm;
        for (const auto& l : r->lost) ASSERT_FALSE(c.groups().at(l.group).protect) << what << ": lost protected " << l.vm;
      }
    } else if (op < 98) {
      std::vector<std::string> failed;
      for (const auto* h : c.hosts())
        if (w.Chance(30)) failed.push_back(h->name);
      if (failed.empty()) continue;
      what = "what-if";
      bool clean = true;  // after real failures the plan may record unhealable VMs
      for (const auto& [key, sc] : c.reserve().scenarios()) clean &= sc.unhealable.empty();
      auto r = WhatIf(c, failed);
      ASSERT_TRUE(r.ok());
      ++st->whatifs;
      if (clean && static_cast<int>(failed.size()) <= c.failures_tolerated()) {
        ASSERT_TRUE(r->within_guarantee) << what << " " << WhatIfToJson(*r).dump();
      }
      for (const auto& m : r->moves) ASSERT_EQ(std::find(failed.begin(), failed.end(), m.to), failed.end());
      ASSERT_EQ(Fingerprint(c), before);
    } else {
      if (k < 2) continue;
      int nk = w.Pick(k + 1);
      what = "k=" + std::to_string(nk);
      Status s = c.SetFailuresTolerated(nk);
      if (s.ok()) {
        ++st->k_changes;
      } else {
        refused = true;
      }
    }
    if (refused) {
      ASSERT_EQ(Fingerprint(c), before) << "step " << step << ": refused " << what << " but changed the cluster";
    }
    Status ok = c.Check();
    ASSERT_TRUE(ok.ok()) << "step " << step << " after " << what << ": " << ok.error().message;
    std::string g = BruteForceGuarantee(c);
    ASSERT_EQ(g, "") << "step " << step << " after " << what;
  }
}

}  // namespace corepin::testing
