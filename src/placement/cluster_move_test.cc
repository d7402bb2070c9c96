// Moving a placed VM to another host: Cluster::PlanMove and Cluster::MoveVm.
//   2s32c-smt2: 128 pCPUs, node0 = 0-31,64-95, node1 = 32-63,96-127; housekeeping 0,64 here,
//               so 62 allocatable on node0 and 64 on node1.
#include <gtest/gtest.h>

#include <random>

#include "placement/cluster.h"
#include "placement/cluster_test_util.h"
#include "placement/repin.h"
#include "placement/scheduler.h"
#include "placement/whatif.h"

namespace corepin {
namespace {

using testing::BruteForceGuarantee;
using testing::CachedFixtureHost;
using testing::Group;

// n hosts h1..hn, host i in rack r((i-1) % racks + 1).
void AddHosts(Cluster* c, int n, int racks = 0) {
  for (int i = 1; i <= n; ++i) {
    Labels l;
    if (racks) l["rack"] = "r" + std::to_string((i - 1) % racks + 1);
    ASSERT_TRUE(c->AddHost(CachedFixtureHost("2s32c-smt2", "0,64", "h" + std::to_string(i)), l).ok());
  }
}

void Place(Cluster* c, const std::string& json) {
  GroupOutcome o = c->PlaceGroup(Group(json));
  ASSERT_TRUE(o.ok()) << json << ": " << o.status.error().message;
}

// A group of one on a named host.
std::string Solo(const std::string& name, const std::string& host, const std::string& vm, bool protect = true) {
  return R"({"name":")" + name + R"(","protect":)" + (protect ? "true" : "false") + R"(,"members":[{"name":")" + name +
         R"(","host":")" + host + R"("}],"vm":)" + vm + "}";
}

// An ACT on one named host and a SBY on another, apart in rack.
std::string Pair(const std::string& name, const std::string& act_host, const std::string& sby_host, int vcpus = 4) {
  return R"({"name":")" + name + R"(","domains":["rack"],"members":[{"name":")" + name + R"(-a","role":"act","host":")" + act_host +
         R"("},{"name":")" + name + R"(-s","role":"sby","host":")" + sby_host + R"("}],"vm":{"vcpus":)" + std::to_string(vcpus) +
         R"(,"memory_mib":2048}})";
}

std::string HostOf(const Cluster& c, const std::string& vm) { return c.HostById(c.FindVm(vm)->host)->name; }
const PlacedVm& Placed(const Cluster& c, const std::string& vm) { return c.HostById(c.FindVm(vm)->host)->state.vms().at(vm); }

int FreeOnNode(const HostState& hs, int node) {
  int n = 0;
  for (int p : hs.free().Minus(hs.reserve().pcpus).ToVector()) n += hs.topology().FindPcpu(p)->node == node;
  return n;
}

// Unprotected fillers on `host` until each NUMA node has leave[node] (default 0) free pCPUs
// outside the healing reserve.
void Fill(Cluster* c, const std::string& host, std::map<int, int> leave = {}) {
  static int serial = 0;
  const HostState& hs = c->FindHost(host)->state;
  std::vector<int> nodes;
  for (const auto& n : hs.topology().nodes) nodes.push_back(n.id);
  std::stable_sort(nodes.begin(), nodes.end(), [&](int a, int b) { return leave[a] < leave[b]; });  // full ones first
  for (int node : nodes) {
    const int want = FreeOnNode(hs, node) - leave[node];
    if (want <= 0) continue;
    const std::string name = "fill" + std::to_string(++serial);
    ASSERT_NO_FATAL_FAILURE(Place(c, Solo(name, host, R"({"vcpus":)" + std::to_string(want) + R"(,"memory_mib":512})", false)));
  }
  for (int node : nodes) ASSERT_EQ(FreeOnNode(hs, node), leave[node]) << host << " node" << node;
}

// Everything a refused operation must leave as it was.
std::string Snapshot(const Cluster& c) {
  std::string s;
  for (const auto* h : c.hosts()) {
    s += h->name + (h->schedulable ? "+" : "-") + std::to_string(h->acts) + " " + h->state.free().ToString() + "|" +
         h->state.reserve().pcpus.ToString() + "|";
    for (const auto& [key, mib] : h->state.reserve().memory_mib) s += std::to_string(key.first) + ":" + std::to_string(mib) + ",";
    for (const auto& [g, n] : h->state.reserve().group_slots) s += g + ":" + std::to_string(n) + ",";
    for (const auto& [vm, p] : h->state.vms()) s += vm + "@" + p.assignment.exclusive.ToString() + ",";
    for (const auto& [g, gs] : h->state.groups()) s += g + "#" + std::to_string(gs.pcpu) + "x" + std::to_string(gs.Slots()) + ",";
    s += ";";
  }
  for (const auto& [name, g] : c.groups()) {
    s += name + ":";
    for (const auto& m : g.members) s += m.vm + "/" + ToString(m.role) + "/" + m.host + ",";
  }
  for (const auto& [key, sc] : c.reserve().scenarios()) {
    for (const auto& n : c.NamesOf(key)) s += n + "+";
    for (const auto& [vm, t] : sc.targets) s += vm + ">" + t.host + t.pcpus.ToString() + ",";
    for (const auto& [vm, why] : sc.unhealable) s += vm + "!,";
    s += ";";
  }
  return s;
}

void ExpectSound(const Cluster& c) {
  Status ok = c.Check();
  EXPECT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(BruteForceGuarantee(c), "");
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(ClusterMove, StandaloneVmMovesToANamedHost) {
  Cluster c;
  AddHosts(&c, 3);
  ASSERT_NO_FATAL_FAILURE(Place(&c, Solo("solo", "h1", R"({"vcpus":4,"smt":"isolate","memory_mib":2048})", false)));
  const HostState& h1 = c.FindHost("h1")->state;
  ASSERT_NE(h1.free(), h1.partition().allocatable);
  const std::string before = Snapshot(c);

  SearchExplanation ex;
  auto a = c.PlanMove("solo", "h3", &ex);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->host, "h3");
  EXPECT_EQ(a->reserved_siblings.Size(), 4);  // the same spec: isolate
  EXPECT_EQ(ex.purpose, "move");
  EXPECT_EQ(ex.vm, "solo");
  EXPECT_EQ(ex.chosen, "h3");
  EXPECT_EQ(ex.hosts_considered, 1);
  EXPECT_EQ(Snapshot(c), before);  // planning changes nothing
  EXPECT_TRUE(c.PlanMove("solo", "h3", nullptr).ok());

  ASSERT_TRUE(c.MoveVm("solo", *a).ok());
  EXPECT_EQ(HostOf(c, "solo"), "h3");
  EXPECT_EQ(c.FindHost("h3")->state.vms().at("solo").assignment, *a);
  EXPECT_TRUE(h1.vms().empty());
  EXPECT_EQ(h1.free(), h1.partition().allocatable);  // the old host's pCPUs are free
  EXPECT_EQ(c.FindGroup("solo")->members.at(0).host, "h3");
  EXPECT_EQ(c.FindHost("h1")->acts, 0);
  EXPECT_EQ(c.FindHost("h3")->acts, 1);
  EXPECT_TRUE(c.reserve().scenarios().empty());  // opted out: no targets before or after
  ExpectSound(c);
}

TEST(ClusterMove, ProtectedStandaloneVmTakesItsTargetsAlong) {
  Cluster c;
  AddHosts(&c, 3);
  ASSERT_NO_FATAL_FAILURE(Place(&c, Solo("guard", "h1", R"({"vcpus":6,"memory_mib":2048})")));
  const int h1 = c.FindHost("h1")->id, h2 = c.FindHost("h2")->id;
  ASSERT_NE(c.reserve().Find({h1}), nullptr);
  ASSERT_EQ(c.reserve().TargetCount(), 1u);

  auto a = c.PlanMove("guard", "h2", nullptr);
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(c.MoveVm("guard", *a).ok());
  EXPECT_EQ(c.reserve().Find({h1}), nullptr);  // its old host's failure no longer loses it
  const Scenario* sc = c.reserve().Find({h2});
  ASSERT_NE(sc, nullptr);
  ASSERT_EQ(sc->targets.count("guard"), 1u);
  EXPECT_EQ(sc->targets.at("guard").from, "h2");
  EXPECT_NE(sc->targets.at("guard").host, "h2");
  EXPECT_EQ(c.reserve().TargetCount(), 1u);
  ExpectSound(c);
  auto w = WhatIf(c, {"h2"});
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->moves.size(), 1u);
  EXPECT_TRUE(w->moves[0].precomputed);
  EXPECT_EQ(w->moves[0].vm, "guard");
  EXPECT_TRUE(w->within_guarantee);
}

TEST(ClusterMove, AutoAvoidsItsOwnHostAndTheMembersHostsAndRacks) {
  // h1 r1, h2 r2, h3 r3, h4 r1, h5 r2, h6 r3; the ACT on h1, the SBY on h2: the ACT may go to
  // h3, h4 or h6 only (h5 shares r2 with the SBY), whatever the seed.
  std::set<std::string> chosen;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    ClusterOptions opt;
    opt.seed = seed;
    Cluster c(opt);
    AddHosts(&c, 6, 3);
    ASSERT_NO_FATAL_FAILURE(Place(&c, Pair("fw", "h1", "h2")));
    SearchExplanation ex;
    auto a = c.PlanMove("fw-a", "", &ex);
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_TRUE(a->host == "h3" || a->host == "h4" || a->host == "h6") << a->host;
    chosen.insert(a->host);
    EXPECT_EQ(ex.chosen, a->host);
    EXPECT_EQ(ex.hosts_considered, 6);
    EXPECT_EQ(ex.hosts_feasible, 3);
    EXPECT_EQ(ex.rejected, (std::map<std::string, int>{{reason::kOwnHost, 1}, {reason::kMemberHere, 1}, {reason::kLabelShared, 1}}));
    ASSERT_TRUE(c.MoveVm("fw-a", *a).ok());
    EXPECT_EQ(HostOf(c, "fw-a"), a->host);
    ASSERT_EQ(c.FindGroup("fw")->members.size(), 2u);
    EXPECT_EQ(c.FindGroup("fw")->members[0].vm, "fw-a");  // roles and order kept
    EXPECT_EQ(c.FindGroup("fw")->members[0].role, Role::kAct);
    ExpectSound(c);
    // The SBY, moved in turn, keeps away from the ACT's new host and rack.
    auto b = c.PlanMove("fw-s", "", nullptr);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_NE(b->host, "h2");
    EXPECT_NE(c.FindHost(b->host)->labels.at("rack"), c.FindHost(a->host)->labels.at("rack"));
  }
  EXPECT_GT(chosen.size(), 1u);  // the seed matters among equals
}

TEST(ClusterMove, OntoAPeersHostOrRackIsRefusedAndNamesThePeer) {
  Cluster c;
  AddHosts(&c, 6, 3);
  ASSERT_NO_FATAL_FAILURE(Place(&c, Pair("fw", "h1", "h2")));
  const std::string before = Snapshot(c);
  const size_t targets = c.reserve().TargetCount();

  SearchExplanation ex;
  auto peer = c.PlanMove("fw-a", "h2", &ex);
  ASSERT_FALSE(peer.ok());
  EXPECT_EQ(peer.error().code, ErrorCode::kUnprocessable);
  EXPECT_TRUE(Contains(peer.error().message, "cannot move to host h2: group fw's member fw-s is on host h2 (anti-affinity)"))
      << peer.error().message;
  EXPECT_EQ(ex.rejected, (std::map<std::string, int>{{reason::kMemberHere, 1}}));
  EXPECT_EQ(ex.hosts_considered, 1);
  EXPECT_TRUE(ex.chosen.empty());
  EXPECT_EQ(ex.purpose, "move");

  auto rack = c.PlanMove("fw-a", "h5", &ex);
  ASSERT_FALSE(rack.ok());
  EXPECT_EQ(rack.error().code, ErrorCode::kUnprocessable);
  EXPECT_TRUE(Contains(rack.error().message, "host h5 shares rack=r2 with group fw's member fw-s (on host h2)")) << rack.error().message;
  EXPECT_EQ(ex.rejected, (std::map<std::string, int>{{reason::kLabelShared, 1}}));

  auto own = c.PlanMove("fw-a", "h1", &ex);
  ASSERT_FALSE(own.ok());
  EXPECT_TRUE(Contains(own.error().message, "cannot move to host h1: it is already there")) << own.error().message;
  EXPECT_EQ(ex.rejected, (std::map<std::string, int>{{reason::kOwnHost, 1}}));

  // The same moves recorded directly: refused, naming the member, nothing changed.
  const VmSpec spec = Placed(c, "fw-a").spec;
  FitResult on_peer = Fit(c.FindHost("h2")->state, spec);
  ASSERT_TRUE(on_peer.ok());
  Status s = c.MoveVm("fw-a", *on_peer.assignment);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnprocessable);
  EXPECT_TRUE(Contains(s.error().message, "member fw-s is on host h2")) << s.error().message;
  FitResult on_rack = Fit(c.FindHost("h5")->state, spec);
  ASSERT_TRUE(on_rack.ok());
  s = c.MoveVm("fw-a", *on_rack.assignment);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.error().message, "shares rack=r2 with group fw's member fw-s")) << s.error().message;
  EXPECT_EQ(c.MoveVm("fw-a", Placed(c, "fw-a").assignment).error().code, ErrorCode::kInvalid);  // its own host

  // Unknown names.
  EXPECT_EQ(c.PlanMove("nope", "", nullptr).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(c.PlanMove("fw-a", "h9", nullptr).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(c.MoveVm("nope", *on_rack.assignment).error().code, ErrorCode::kNotFound);
  Assignment nowhere = *on_rack.assignment;
  nowhere.host = "h9";
  EXPECT_EQ(c.MoveVm("fw-a", nowhere).error().code, ErrorCode::kNotFound);

  EXPECT_EQ(Snapshot(c), before);
  EXPECT_EQ(c.reserve().TargetCount(), targets);
  ExpectSound(c);
}

TEST(ClusterMove, UnschedulableAndFullHostsAreRefusedWithPerHostReasons) {
  Cluster c;
  AddHosts(&c, 4);
  ASSERT_NO_FATAL_FAILURE(Place(&c, R"({"name":"fw","members":[{"name":"fw-a","role":"act","host":"h1"},
                                      {"name":"fw-s","role":"sby","host":"h2"}],"vm":{"vcpus":4,"memory_mib":2048}})"));
  // h5 joins empty (no reserve) and is filled but for one pCPU per node.
  ASSERT_TRUE(c.AddHost(CachedFixtureHost("2s32c-smt2", "0,64", "h5")).ok());
  ASSERT_NO_FATAL_FAILURE(Fill(&c, "h5", {{0, 1}, {1, 1}}));
  // h3 drained: the targets move to h4, whose free pCPUs outside the reserve are then filled
  // but for one per node.
  ASSERT_TRUE(c.SetSchedulable("h3", false).ok());
  ASSERT_FALSE(c.FindHost("h4")->state.reserve().Empty());
  ASSERT_NO_FATAL_FAILURE(Fill(&c, "h4", {{0, 1}, {1, 1}}));
  const std::string before = Snapshot(c);

  SearchExplanation ex;
  auto drained = c.PlanMove("fw-a", "h3", &ex);
  ASSERT_FALSE(drained.ok());
  EXPECT_EQ(drained.error().code, ErrorCode::kUnprocessable);
  EXPECT_TRUE(Contains(drained.error().message, "cannot move to host h3: the host is unschedulable")) << drained.error().message;
  EXPECT_EQ(ex.rejected, (std::map<std::string, int>{{reason::kUnschedulable, 1}}));

  auto full = c.PlanMove("fw-a", "h5", &ex);
  ASSERT_FALSE(full.ok());
  EXPECT_TRUE(Contains(full.error().message, "cannot move to host h5: it does not fit (pCPUs): host h5 node0: ")) << full.error().message;
  EXPECT_TRUE(Contains(full.error().message, "host h5 node1: ")) << full.error().message;
  EXPECT_EQ(ex.rejected, (std::map<std::string, int>{{reason::kPcpus, 1}}));
  ASSERT_EQ(ex.examples.size(), 1u);
  EXPECT_EQ(ex.examples[0].host, "h5");
  EXPECT_EQ(ex.examples[0].nodes.size(), 2u);  // a reason per NUMA node

  auto reserved = c.PlanMove("fw-a", "h4", &ex);
  ASSERT_FALSE(reserved.ok());
  EXPECT_TRUE(Contains(reserved.error().message, "cannot move to host h4: it would fit only in the host's healing reserve: host h4 node"))
      << reserved.error().message;
  EXPECT_EQ(ex.rejected, (std::map<std::string, int>{{reason::kReserve, 1}}));

  // Auto: every host is ruled out, each for its reason.
  auto any = c.PlanMove("fw-a", "", &ex);
  ASSERT_FALSE(any.ok());
  EXPECT_EQ(any.error().code, ErrorCode::kUnprocessable);
  EXPECT_TRUE(Contains(any.error().message, "VM fw-a (4 vCPUs")) << any.error().message;
  EXPECT_TRUE(Contains(any.error().message, "on host h1) has no other host to move to: fw-a (move): 5 hosts, 5 considered, 0 feasible"))
      << any.error().message;
  EXPECT_EQ(ex.rejected, (std::map<std::string, int>{{reason::kOwnHost, 1},
                                                      {reason::kMemberHere, 1},
                                                      {reason::kUnschedulable, 1},
                                                      {reason::kReserve, 1},
                                                      {reason::kPcpus, 1}}));
  EXPECT_EQ(ex.hosts_total, 5);
  EXPECT_TRUE(ex.chosen.empty());
  EXPECT_EQ(Snapshot(c), before);
  ExpectSound(c);
}

// x, protected, runs on drained h1 and heals to T; the third host U and T (outside its reserve,
// but for 8 pCPUs on node1) are full. x fits on T, but then nothing could take it if T failed:
// its old target on T is of no use there, U is full and h1 drained.
TEST(ClusterMove, RefusedWhenTheMovedVmWouldBeUnhealable) {
  Cluster c;
  AddHosts(&c, 3);
  ASSERT_NO_FATAL_FAILURE(Place(&c, Solo("x", "h1", R"({"vcpus":8,"memory_mib":1024})")));
  ASSERT_TRUE(c.SetSchedulable("h1", false).ok());
  const std::string t = c.reserve().Find({c.FindHost("h1")->id})->targets.at("x").host;
  const std::string u = t == "h2" ? "h3" : "h2";
  ASSERT_NO_FATAL_FAILURE(Fill(&c, u));
  ASSERT_NO_FATAL_FAILURE(Fill(&c, t, {{1, 8}}));
  auto plan = c.PlanMove("x", t, nullptr);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_FALSE(c.PlanMove("x", u, nullptr).ok());
  const std::string before = Snapshot(c);
  const size_t targets = c.reserve().TargetCount();

  Status s = c.MoveVm("x", *plan);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnprocessable);
  EXPECT_TRUE(Contains(s.error().message, "VM x cannot move to host " + t + ": the healing reserve cannot be kept with this layout: if " + t +
                                              " fails, VM x (8 vCPUs"))
      << s.error().message;
  EXPECT_EQ(Snapshot(c), before);
  EXPECT_EQ(c.reserve().TargetCount(), targets);
  EXPECT_EQ(HostOf(c, "x"), "h1");
  ExpectSound(c);

  // Room on U: the same move goes through, and T's failure heals x there.
  const std::string filler = c.FindHost(u)->state.vms().begin()->first;
  ASSERT_TRUE(c.DeleteGroup(filler).ok());
  ASSERT_TRUE(c.MoveVm("x", *plan).ok());
  EXPECT_EQ(HostOf(c, "x"), t);
  EXPECT_EQ(c.FindHost("h1")->state.free(), c.FindHost("h1")->state.partition().allocatable);
  ExpectSound(c);
  auto w = WhatIf(c, {t});  // the fillers on T, opted out, are searched for now
  ASSERT_TRUE(w.ok());
  auto m = std::find_if(w->moves.begin(), w->moves.end(), [](const WhatIfMove& x) { return x.vm == "x"; });
  ASSERT_NE(m, w->moves.end());
  EXPECT_EQ(m->to, u);
  EXPECT_TRUE(m->precomputed);
}

// y, opted out, moves into pCPUs of T's healing reserve (as an undo of a move may): x's target
// there must move, and is refused while no other host has room for it.
TEST(ClusterMove, TargetsDisplacedByTheNewPcpusAreReplannedOrTheMoveRefused) {
  Cluster c;
  AddHosts(&c, 3);
  ASSERT_NO_FATAL_FAILURE(Place(&c, Solo("x", "h1", R"({"vcpus":8,"memory_mib":1024})")));
  const int h1 = c.FindHost("h1")->id;
  const std::string t = c.reserve().Find({h1})->targets.at("x").host;
  const std::string u = t == "h2" ? "h3" : "h2";
  ASSERT_NO_FATAL_FAILURE(Place(&c, Solo("y", u, R"({"vcpus":4,"memory_mib":1024})", false)));
  ASSERT_NO_FATAL_FAILURE(Fill(&c, u));
  ASSERT_NO_FATAL_FAILURE(Fill(&c, t));
  ASSERT_NO_FATAL_FAILURE(Fill(&c, "h1"));
  // y's assignment on T inside the reserve.
  const HostState& ts = c.FindHost(t)->state;
  FitScope scope;
  scope.pcpus = ts.reserve().pcpus.Intersect(ts.free());
  for (const auto& n : ts.topology().nodes) scope.memory_mib[{n.id, 4}] = ts.MemoryCapacityMib(n.id, 4) - ts.MemoryUsedMib(n.id, 4);
  FitResult in_reserve = Fit(ts, Placed(c, "y").spec, scope);
  ASSERT_TRUE(in_reserve.ok()) << in_reserve.rejection.ToString();
  Assignment a = *in_reserve.assignment;
  a.host = t;
  ASSERT_TRUE(a.exclusive.IsSubsetOf(ts.reserve().pcpus));
  const std::string before = Snapshot(c);

  Status s = c.MoveVm("y", a);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnprocessable);
  EXPECT_TRUE(Contains(s.error().message, "the healing reserve cannot be kept with this layout: if h1 fails, VM x (8 vCPUs")) << s.error().message;
  EXPECT_EQ(Snapshot(c), before);
  ExpectSound(c);

  // With room on h1's peers the target moves out of y's way.
  std::string filler;
  for (const auto& [vm, p] : c.FindHost(u)->state.vms())
    if (vm != "y") filler = vm;
  ASSERT_TRUE(c.DeleteGroup(filler).ok());
  ASSERT_TRUE(c.MoveVm("y", a).ok());
  EXPECT_EQ(HostOf(c, "y"), t);
  EXPECT_EQ(Placed(c, "y").assignment, a);
  EXPECT_FALSE(ts.reserve().pcpus.Intersects(a.exclusive));
  EXPECT_EQ(c.reserve().Find({h1})->targets.at("x").host, u);
  ExpectSound(c);
}

TEST(ClusterMove, ProtectedMemberMovedKeepsEveryTargetValid) {
  Cluster c;
  AddHosts(&c, 6, 3);
  ASSERT_NO_FATAL_FAILURE(Place(&c, Pair("fw", "h1", "h2", 6)));
  ASSERT_NO_FATAL_FAILURE(Place(&c, Pair("nat", "h2", "h3", 4)));
  ASSERT_NO_FATAL_FAILURE(Place(&c, Pair("lb", "h4", "h6", 8)));
  ASSERT_NO_FATAL_FAILURE(Place(&c, R"({"name":"ctl","act":1,"sby":1,"domains":["rack"],"vm":{"vcpus":2,"policy":"group:ctl","memory_mib":1024}})"));
  ASSERT_NO_FATAL_FAILURE(Place(&c, Solo("solo", "h1", R"({"vcpus":10,"smt":"isolate","memory_mib":4096})")));
  ExpectSound(c);
  const int h1 = c.FindHost("h1")->id;

  auto a = c.PlanMove("fw-a", "", nullptr);
  ASSERT_TRUE(a.ok()) << a.error().message;
  const std::string to = a->host;
  ASSERT_TRUE(c.MoveVm("fw-a", *a).ok());
  ExpectSound(c);
  if (const Scenario* sc = c.reserve().Find({h1})) {
    EXPECT_EQ(sc->targets.count("fw-a"), 0u);
  }
  const Scenario* sc = c.reserve().Find({c.FindHost(to)->id});
  ASSERT_NE(sc, nullptr);
  ASSERT_EQ(sc->targets.count("fw-a"), 1u);
  // The SBY's targets avoid the ACT's new rack.
  for (const auto& [key, s] : c.reserve().scenarios())
    if (s.targets.count("fw-s")) {
      EXPECT_NE(c.FindHost(s.targets.at("fw-s").host)->labels.at("rack"), c.FindHost(to)->labels.at("rack"));
    }
  auto w = WhatIf(c, {to});
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(w->within_guarantee);
  EXPECT_TRUE(w->lost.empty());
  auto m = std::find_if(w->moves.begin(), w->moves.end(), [](const WhatIfMove& x) { return x.vm == "fw-a"; });
  ASSERT_NE(m, w->moves.end());
  EXPECT_TRUE(m->precomputed);
  EXPECT_EQ(m->from, to);
  EXPECT_NE(c.FindHost(m->to)->labels.at("rack"), "r2");  // fw-s is on h2, r2

  // A SBY of a shared-pCPU group, and the standalone one, move too.
  const std::string ctl_sby = c.FindGroup("ctl")->members[1].vm;
  auto b = c.PlanMove(ctl_sby, "", nullptr);
  ASSERT_TRUE(b.ok()) << b.error().message;
  ASSERT_TRUE(c.MoveVm(ctl_sby, *b).ok());
  ExpectSound(c);
  auto d = c.PlanMove("solo", "", nullptr);
  ASSERT_TRUE(d.ok()) << d.error().message;
  ASSERT_TRUE(c.MoveVm("solo", *d).ok());
  ExpectSound(c);
}

TEST(ClusterMove, KTwoNPlusM) {
  ClusterOptions opt;
  opt.failures_tolerated = 2;
  Cluster c(opt);
  AddHosts(&c, 7, 7);
  ASSERT_NO_FATAL_FAILURE(Place(&c, R"({"name":"nat","act":2,"sby":1,"domains":["rack"],"vm":{"vcpus":4,"memory_mib":2048}})"));
  ASSERT_NO_FATAL_FAILURE(Place(&c, R"({"name":"fw","act":1,"sby":1,"domains":["rack"],"vm":{"vcpus":6,"memory_mib":2048}})"));
  auto names = [&](const std::string& group) {
    std::vector<std::string> out;
    for (const auto& m : c.FindGroup(group)->members) out.push_back(m.vm);
    return out;
  };
  for (const auto& vm : {"nat-act1", "nat-sby1", "fw-act1", "nat-act2"}) {
    const std::string from = HostOf(c, vm);
    auto a = c.PlanMove(vm, "", nullptr);
    ASSERT_TRUE(a.ok()) << vm << ": " << a.error().message;
    ASSERT_TRUE(c.MoveVm(vm, *a).ok()) << vm;
    EXPECT_NE(HostOf(c, vm), from);
    EXPECT_EQ(names("nat"), (std::vector<std::string>{"nat-act1", "nat-act2", "nat-sby1"})) << vm;  // each keeps its place
    ExpectSound(c);
  }
}

// After a real failure the guarantee is degraded: x's target host T failed and the third host
// U is full, so x is recorded unhealable. Room appears on U (a filler shrinks: a resize does not
// retry the unhealable), and x, on drained h1, may move there though it stays unhealable (no
// host is left to heal it from U): it was not healable before either.
TEST(ClusterMove, AVmAlreadyUnhealableMayMoveAndStaysSo) {
  Cluster c;
  AddHosts(&c, 3);
  ASSERT_NO_FATAL_FAILURE(Place(&c, Solo("x", "h1", R"({"vcpus":8,"memory_mib":1024})")));
  const std::string t = c.reserve().Find({c.FindHost("h1")->id})->targets.at("x").host;
  const std::string u = t == "h2" ? "h3" : "h2";
  ASSERT_NO_FATAL_FAILURE(Fill(&c, u));
  ASSERT_TRUE(c.FailHosts({t}).ok());
  ASSERT_EQ(c.reserve().UnhealableCount(), 1u);
  ASSERT_TRUE(c.SetSchedulable("h1", false).ok());
  const HostState& us = c.FindHost(u)->state;
  std::string filler;
  for (const auto& [vm, p] : us.vms())
    if (us.topology().FindPcpu(p.assignment.vcpu_pcpus[0])->node == 1) filler = vm;
  VmSpec smaller = Placed(c, filler).spec;
  smaller.vcpus.resize(smaller.vcpus.size() - 8);
  FitResult shrunk = FitInPlace(us, filler, smaller);
  ASSERT_TRUE(shrunk.ok()) << shrunk.rejection.ToString();
  ASSERT_TRUE(c.Reassign(filler, smaller, *shrunk.assignment).ok());
  ASSERT_EQ(c.reserve().UnhealableCount(), 1u);

  auto a = c.PlanMove("x", "", nullptr);
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_EQ(a->host, u);
  ASSERT_TRUE(c.MoveVm("x", *a).ok());
  EXPECT_EQ(HostOf(c, "x"), u);
  EXPECT_EQ(c.reserve().UnhealableCount(), 1u);
  const Scenario* sc = c.reserve().Find({c.FindHost(u)->id});
  ASSERT_NE(sc, nullptr);
  EXPECT_EQ(sc->unhealable.count("x"), 1u);
  EXPECT_EQ(c.reserve().Find({c.FindHost("h1")->id}), nullptr);
  ExpectSound(c);
  // Capacity back: h1 undrained, x is healable again.
  ASSERT_TRUE(c.SetSchedulable("h1", true).ok());
  EXPECT_EQ(c.reserve().UnhealableCount(), 0u);
  EXPECT_EQ(c.reserve().Find({c.FindHost(u)->id})->targets.at("x").host, "h1");
  ExpectSound(c);
}

TEST(ClusterMove, SharedGroupVmsMoveOneByOne) {
  Cluster c;
  AddHosts(&c, 3);
  for (int i = 1; i <= 4; ++i)
    ASSERT_NO_FATAL_FAILURE(Place(&c, Solo("l" + std::to_string(i), "h1", R"({"vcpus":1,"policy":"group:light","memory_mib":256})")));
  const HostState& h1 = c.FindHost("h1")->state;
  const HostState& h2 = c.FindHost("h2")->state;
  ASSERT_NE(h1.FindGroup("light"), nullptr);
  ASSERT_EQ(h1.FindGroup("light")->members.size(), 4u);

  // The first creates the group on h2, the next join it there.
  for (int i = 1; i <= 4; ++i) {
    const std::string vm = "l" + std::to_string(i);
    auto a = c.PlanMove(vm, "h2", nullptr);
    ASSERT_TRUE(a.ok()) << vm << ": " << a.error().message;
    ASSERT_EQ(a->groups.count("light"), 1u);
    if (i > 1) {
      EXPECT_EQ(a->groups.at("light"), h2.FindGroup("light")->pcpu) << vm;
    }
    ASSERT_TRUE(c.MoveVm(vm, *a).ok()) << vm;
    ASSERT_NE(h2.FindGroup("light"), nullptr);
    EXPECT_EQ(h2.FindGroup("light")->members.size(), static_cast<size_t>(i));
    if (i < 4) {
      EXPECT_EQ(h1.FindGroup("light")->members.size(), static_cast<size_t>(4 - i));
    }
    ExpectSound(c);
  }
  EXPECT_EQ(h1.FindGroup("light"), nullptr);  // freed with its last member
  EXPECT_EQ(h1.free(), h1.partition().allocatable);
  auto w = WhatIf(c, {"h2"});
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->moves.size(), 4u);
  std::map<std::string, std::vector<int>> shared;  // host -> the shared pCPU the targets there use
  for (const auto& m : w->moves) {
    EXPECT_TRUE(m.precomputed) << m.vm;
    EXPECT_EQ(shared.emplace(m.to, m.assignment.vcpu_pcpus).first->second, m.assignment.vcpu_pcpus) << m.vm;  // one per host
  }
}

// The undo of a failed migration: the VM goes back with its old assignment, even onto its old
// host drained meanwhile.
TEST(ClusterMove, MovesBackWithItsOldAssignment) {
  Cluster c;
  AddHosts(&c, 5, 5);
  ASSERT_NO_FATAL_FAILURE(Place(&c, Pair("fw", "h1", "h2", 8)));
  ASSERT_NO_FATAL_FAILURE(Place(&c, Pair("nat", "h3", "h1", 6)));
  const Assignment old = Placed(c, "fw-a").assignment;
  auto a = c.PlanMove("fw-a", "", nullptr);
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(c.MoveVm("fw-a", *a).ok());
  ASSERT_TRUE(c.SetSchedulable("h1", false).ok());
  EXPECT_FALSE(c.PlanMove("fw-a", "h1", nullptr).ok());  // no new VMs on a drained host
  ASSERT_TRUE(c.MoveVm("fw-a", old).ok());
  EXPECT_EQ(HostOf(c, "fw-a"), "h1");
  EXPECT_EQ(Placed(c, "fw-a").assignment, old);
  ExpectSound(c);
}

// ---- Randomized: moves among creates, deletes and drains ----

struct Walk {
  std::mt19937 rng;
  int Pick(int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); }
  bool Chance(int percent) { return Pick(100) < percent; }
};

GroupRequest RandomGroup(Walk& w, int serial) {
  GroupRequest r;
  r.name = "g" + std::to_string(serial);
  const int shape = w.Pick(10);
  const int acts = shape < 2 ? 2 : 1, sbys = shape < 5 ? 0 : 1;
  for (int i = 1; i <= acts; ++i) r.members.push_back({r.name + "a" + std::to_string(i), Role::kAct, ""});
  for (int i = 1; i <= sbys; ++i) r.members.push_back({r.name + "s" + std::to_string(i), Role::kSby, ""});
  if (w.Chance(50)) r.domains.push_back("rack");
  r.protect = !w.Chance(15);
  VmSpec& s = r.vm;
  s.name = r.name;
  const int n = 1 + w.Pick(w.Chance(20) ? 16 : 6);
  static const char* kShared[] = {"light", "ctl"};
  for (int i = 0; i < n; ++i) {
    VcpuPolicy p;
    if (w.Pick(5) == 0) p = {VcpuPolicy::Kind::kGroup, kShared[w.Pick(2)], -1};
    s.vcpus.push_back(p);
  }
  s.smt = static_cast<SmtPolicy>(w.Pick(3));
  if (w.Chance(10)) s.emulator.kind = EmulatorPolicy::Kind::kIsolate;
  s.numa = w.Chance(15) ? NumaPolicy::kSpread : NumaPolicy::kSingle;
  s.page_kib = w.Chance(15) ? 2048 : 4;
  s.memory_mib = (1 + w.Pick(8)) * 1024;
  return r;
}

struct MoveStats {
  int placed = 0, deleted = 0, plans = 0, plan_refusals = 0, moves = 0, move_refusals = 0, undos = 0, undo_refusals = 0;
};

std::string Dump(const Cluster& c) {
  std::string s;
  for (const auto* h : c.hosts()) {
    s += h->name + (h->schedulable ? "" : " (unschedulable)") + " reserve " + h->state.reserve().pcpus.ToString() + "\n";
    for (const auto& [vm, p] : h->state.vms()) {
      s += "  " + vm + " excl " + p.assignment.exclusive.ToString() + " sib " + p.assignment.reserved_siblings.ToString();
      for (const auto& [g, pc] : p.assignment.groups) s += " " + g + "@" + std::to_string(pc);
      s += "\n";
    }
    for (const auto& [g, gs] : h->state.groups()) s += "  group " + g + "@" + std::to_string(gs.pcpu) + " sib " + gs.reserved_siblings.ToString() + "\n";
  }
  for (const auto& [key, sc] : c.reserve().scenarios()) {
    std::string k;
    for (const auto& n : c.NamesOf(key)) k += n + "+";
    for (const HealTarget* t : sc.Ordered()) {
      s += k + " " + t->vm + " from " + t->from + " -> " + t->host + " seq " + std::to_string(t->seq) + " pcpus " + t->pcpus.ToString() + " excl " +
           t->assignment.exclusive.ToString() + " sib " + t->assignment.reserved_siblings.ToString();
      for (const auto& [g, pc] : t->assignment.groups) s += " " + g + "@" + std::to_string(pc);
      s += "\n";
    }
  }
  return s;
}

void RunMoveWalk(int k, int steps, unsigned seed, MoveStats* st) {
  Walk w{std::mt19937(seed)};
  ClusterOptions opt;
  opt.failures_tolerated = k;
  opt.seed = seed;
  Cluster c(opt);
  for (int i = 1; i <= 6; ++i) {
    Labels l{{"rack", "r" + std::to_string(1 + w.Pick(4))}};
    HostState hs = w.Chance(50) ? CachedFixtureHost("2s32c-smt2", "0,64", "h" + std::to_string(i))
                                : CachedFixtureHost("4node-smt2", "0,32", "h" + std::to_string(i));
    ASSERT_TRUE(c.AddHost(std::move(hs), l).ok());
  }
  int serial = 0;
  std::string dump_before;
  for (int step = 0; step < steps; ++step) {
    const std::string before = Snapshot(c);
    const int op = w.Pick(100);
    std::string what;
    if (op < 35) {
      GroupRequest r = RandomGroup(w, ++serial);
      what = "place " + r.name;
      if (c.PlaceGroup(r).ok()) {
        ++st->placed;
      } else {
        ASSERT_EQ(Snapshot(c), before) << what;
      }
    } else if (op < 50) {
      if (c.groups().empty()) continue;
      auto it = c.groups().begin();
      std::advance(it, w.Pick(static_cast<int>(c.groups().size())));
      what = "delete " + it->first;
      ASSERT_TRUE(c.DeleteGroup(it->first).ok());
      ++st->deleted;
    } else if (op < 95) {
      std::vector<std::string> vms;
      for (const auto& [name, g] : c.groups())
        for (const auto& m : g.members) vms.push_back(m.vm);
      if (vms.empty()) continue;
      const std::string vm = vms[w.Pick(static_cast<int>(vms.size()))];
      const std::string to = w.Chance(50) ? "" : c.hosts()[w.Pick(static_cast<int>(c.hosts().size()))]->name;
      const std::string from = HostOf(c, vm);
      const std::string group = c.FindVm(vm)->group;
      const Role role = c.FindGroup(group)->FindMember(vm)->role;
      std::vector<std::string> order;
      for (const auto& m : c.FindGroup(group)->members) order.push_back(m.vm);
      const PlacedVm was = Placed(c, vm);
      what = "move " + vm + " from " + from + " to " + (to.empty() ? "auto" : to);
      SearchExplanation ex;
      auto plan = c.PlanMove(vm, to, &ex);
      ++st->plans;
      ASSERT_EQ(Snapshot(c), before) << what << ": planning changed the cluster";
      ASSERT_EQ(ex.purpose, "move");
      if (!plan.ok()) {
        ++st->plan_refusals;
        ASSERT_EQ(plan.error().code, ErrorCode::kUnprocessable) << what;
        ASSERT_TRUE(ex.chosen.empty()) << what;
        ASSERT_FALSE(ex.rejected.empty()) << what;
      } else {
        ASSERT_NE(plan->host, from) << what;
        if (!to.empty()) {
          ASSERT_EQ(plan->host, to) << what;
        }
        ASSERT_EQ(ex.chosen, plan->host) << what;
        ASSERT_TRUE(c.FindHost(plan->host)->schedulable) << what;
        Status s = c.MoveVm(vm, *plan);
        if (!s.ok()) {
          ++st->move_refusals;
          ASSERT_EQ(s.error().code, ErrorCode::kUnprocessable) << what << ": " << s.error().message;
          ASSERT_EQ(Snapshot(c), before) << what << ": refused (" << s.error().message << ") but changed the cluster";
        } else {
          ++st->moves;
          ASSERT_EQ(HostOf(c, vm), plan->host) << what;
          ASSERT_EQ(Placed(c, vm).assignment, *plan) << what;
          ASSERT_EQ(c.FindGroup(group)->FindMember(vm)->role, role) << what;
          std::vector<std::string> now;
          for (const auto& m : c.FindGroup(group)->members) now.push_back(m.vm);
          ASSERT_EQ(now, order) << what;
          if (w.Chance(15)) {  // the migration failed: back where it was
            ASSERT_TRUE(c.Check().ok()) << what;
            const std::string moved = Snapshot(c);
            Status back = c.MoveVm(vm, was.assignment);
            if (back.ok()) {
              ++st->undos;
              ASSERT_EQ(Placed(c, vm).assignment, was.assignment) << what;
            } else {
              ++st->undo_refusals;
              ASSERT_EQ(back.error().code, ErrorCode::kUnprocessable) << what << ": " << back.error().message;
              ASSERT_EQ(Snapshot(c), moved) << what << ": undo refused but changed the cluster";
            }
          }
        }
      }
    } else {
      const ClusterHost* h = c.hosts()[w.Pick(static_cast<int>(c.hosts().size()))];
      what = std::string(h->schedulable ? "drain " : "undrain ") + h->name;
      if (!c.SetSchedulable(h->name, !h->schedulable).ok()) {
        ASSERT_EQ(Snapshot(c), before) << what;
      }
    }
    Status ok = c.Check();
    ASSERT_TRUE(ok.ok()) << "step " << step << " after " << what << ": " << ok.error().message;
    ASSERT_EQ(BruteForceGuarantee(c), "") << "step " << step << " after " << what << "\nBEFORE\n" << dump_before << "\nAFTER\n" << Dump(c);
    dump_before = Dump(c);
  }
}

void Print(const MoveStats& st) {
  std::printf("placed %d, deleted %d, plans %d (%d refused), moves %d (%d refused by the reserve), undos %d (%d refused)\n", st.placed,
              st.deleted, st.plans, st.plan_refusals, st.moves, st.move_refusals, st.undos, st.undo_refusals);
}

TEST(ClusterMoveRandom, KOne) {
  MoveStats st;
  RunMoveWalk(1, 600, 21, &st);
  Print(st);
  EXPECT_GT(st.moves, 100);
  EXPECT_GT(st.plan_refusals, 10);
  EXPECT_GT(st.undos, 5);
}

TEST(ClusterMoveRandom, KTwo) {
  MoveStats st;
  RunMoveWalk(2, 300, 22, &st);
  Print(st);
  EXPECT_GT(st.moves, 50);
}

}  // namespace
}  // namespace corepin
