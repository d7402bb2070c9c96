// Healing through the controller, on fixture hosts (simulated 128-pCPU hosts whose domains
// live in files, so they survive a corepind restart) and a real SQLite store. A host "fails"
// by its connection being refused; having no BMC, it is healed when an operator confirms it is
// off (`host fenced`), which runs the same steps as a BMC fence: plan, promote, recreate on the
// reserved pCPUs, re-plan. The BMC path, freezes and crashes mid-way are in tests/lab/heal.sh.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <thread>

#include "controller/controller.h"
#include "controller/heal_plan.h"
#include "store/sqlite_store.h"

namespace corepin {
namespace {

using nlohmann::json;

class HealingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/corepin-heal-XXXXXX";
    dir_ = mkdtemp(tmpl);
    setenv("COREPIN_FIXTURE_STATE_DIR", (dir_ + "/fixture-hosts").c_str(), 1);
  }
  void TearDown() override {
    controller_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Hosts in `down_` refuse connections, as a dead host would.
  void Open() {
    controller_.reset();
    store_.reset();
    store_ = std::move(*OpenSqliteStore(dir_ + "/state.db"));
    auto connect = [this](const std::string& uri) -> Result<std::unique_ptr<Hypervisor>> {
      for (const auto& h : down_)
        if (uri.ends_with("#" + h)) return Unprocessable("cannot connect to hypervisor " + uri + ": connection refused");
      return ConnectHypervisor(uri);
    };
    controller_ = std::make_unique<Controller>(store_.get(), connect, ControllerOptions{});
    Status s = controller_->Start();
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  // h1..h4 in racks r1, r2, r3, r1.
  void AddHosts() {
    for (int i = 1; i <= 4; ++i) {
      std::string name = "h" + std::to_string(i);
      auto r = controller_->AddHost({{"name", name}, {"uri", "fixture:2s32c-smt2#" + name}, {"housekeeping", "0,64"},
                                     {"labels", {{"rack", "r" + std::to_string((i - 1) % 3 + 1)}}}});
      ASSERT_TRUE(r.ok()) << r.error().message;
    }
  }
  json Member(const std::string& group, const std::string& vm) {
    const json view = *controller_->ShowGroup(group);
    for (const auto& m : view["members"])
      if (m["vm"] == vm) return m;
    return nullptr;
  }
  // Every host that has a domain named `vm` (fixture state, read directly).
  std::vector<std::string> DomainsOf(const std::string& vm) {
    std::vector<std::string> out;
    for (int i = 1; i <= 4; ++i) {
      auto hv = ConnectHypervisor("fixture:2s32c-smt2#h" + std::to_string(i));
      if (hv && (*hv)->GetDomain(vm)) out.push_back("h" + std::to_string(i));
    }
    return out;
  }
  std::string dir_;
  std::set<std::string> down_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Controller> controller_;
};

TEST_F(HealingTest, ActHostFailsSbyPromotedActRecreatedOnItsReservedPcpus) {
  Open();
  AddHosts();
  NoFit no_fit;
  auto g = controller_->CreateGroup(
      json::parse(R"({"name":"fw","members":[{"name":"fw-a","role":"act"},{"name":"fw-b","role":"sby"}],"domains":["rack"],)"
                  R"("vm":{"vcpus":4,"smt":"isolate","memory_mib":4096}})"),
      &no_fit);
  ASSERT_TRUE(g.ok()) << g.error().message;
  const std::string failed = Member("fw", "fw-a")["host"];
  auto whatif = controller_->WhatIf({failed});
  ASSERT_TRUE(whatif.ok());
  json planned;
  const json moves = (*whatif)["moves"];
  for (const auto& m : moves)
    if (m["vm"] == "fw-a") planned = m;
  ASSERT_FALSE(planned.is_null()) << whatif->dump(2);
  EXPECT_EQ(planned["precomputed"], true);

  // While the host answers, an operator cannot declare it fenced.
  auto refused = controller_->ConfirmFenced(failed);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  EXPECT_NE(refused.error().message.find("answers"), std::string::npos) << refused.error().message;

  down_.insert(failed);  // the host dies; corepind restarts and cannot reach it
  Open();
  auto healed = controller_->ConfirmFenced(failed);
  ASSERT_TRUE(healed.ok()) << healed.error().message;

  auto heals = controller_->Healings();
  ASSERT_EQ(heals->size(), 1u);
  const json& h = (*heals)[0];
  EXPECT_EQ(h["step"], "done") << h.dump(2);
  EXPECT_EQ(h["detail"]["redundancy"], "restored") << h.dump(2);
  for (const char* step : {"fenced", "promoted", "recreated", "done"}) EXPECT_TRUE(h["detail"]["timeline"].contains(step)) << step;

  // fw-b took over; fw-a runs again, as SBY, exactly where the what-if said, verified.
  EXPECT_EQ(Member("fw", "fw-b")["role"], "act");
  EXPECT_EQ(Member("fw", "fw-a")["role"], "sby");
  auto vm = controller_->ShowVm("fw-a");
  ASSERT_TRUE(vm.ok());
  EXPECT_EQ((*vm)["host"], planned["to"]);
  EXPECT_EQ((*vm)["assignment"]["vcpu_pcpus"], planned["vcpu_pcpus"]);
  EXPECT_EQ((*vm)["state"], "running");
  EXPECT_EQ((*vm)["pinning_verified"], true) << vm->dump(2);
  EXPECT_EQ((*controller_->ShowHost(failed))["state"], "failed");

  // The failed host takes nothing new: a VM pinned to it is refused.
  auto onto = controller_->CreateVm(json{{"name", "v"}, {"vcpus", 1}, {"memory_mib", 64}, {"host", failed}}, &no_fit);
  EXPECT_FALSE(onto.ok());

  // A restart rebuilds the same state from the store: nothing moves, nothing is started twice.
  Open();
  EXPECT_EQ((*controller_->ShowVm("fw-a"))["host"], planned["to"]);
  EXPECT_EQ((*controller_->ShowVm("fw-a"))["pinning_verified"], true);
  EXPECT_EQ((*controller_->Healings())[0]["step"], "done");

  // Repaired and powered on, the host is returned: its stale copy of fw-a goes.
  std::vector<std::string> both = {failed, planned["to"].get<std::string>()};
  std::sort(both.begin(), both.end());  // DomainsOf lists hosts in order
  EXPECT_EQ(DomainsOf("fw-a"), both);
  down_.clear();
  auto back = controller_->ReturnHost(failed);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ((*back)["removed_stale_domains"], json::array({"fw-a"}));
  EXPECT_EQ(DomainsOf("fw-a"), std::vector<std::string>{planned["to"].get<std::string>()});
  EXPECT_EQ((*controller_->ShowHost(failed))["state"], "active");
  EXPECT_EQ(controller_->ReturnHost(failed).error().code, ErrorCode::kConflict);  // not failed any more
}

// Bad input: unknown hosts, a host that is not failed.
TEST_F(HealingTest, OperatorActionsOnWrongHostsChangeNothing) {
  Open();
  AddHosts();
  EXPECT_EQ(controller_->ConfirmFenced("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(controller_->ReturnHost("nope").error().code, ErrorCode::kNotFound);
  auto r = controller_->ReturnHost("h1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_NE(r.error().message.find("not failed"), std::string::npos) << r.error().message;
  EXPECT_TRUE(controller_->Healings()->empty());
}

// The plan: the lost ACT hands over to the SBY that still runs; a group with every member on
// failed hosts is headless; the JSON round-trips.
TEST(HealPlan, PromotionsMovesAndHeadlessGroups) {
  StoredGroup fw;
  fw.request.name = "fw";
  fw.members = {{"fw-a", Role::kAct, "h1"}, {"fw-b", Role::kSby, "h2"}};
  StoredGroup nat;
  nat.request.name = "nat";
  nat.members = {{"nat-a", Role::kAct, "h1"}, {"nat-b", Role::kSby, "h1"}};
  WhatIfReport report;
  report.failed = {"h1"};
  Assignment a;
  a.host = "h3";
  a.vcpu_pcpus = {5, 6};
  report.moves = {{"fw-a", "fw", Role::kAct, "h1", "h3", a, true}};
  report.lost = {{"nat-a", "nat", Role::kAct, "h1", "no host has 2 free pCPUs"}};
  HealPlan plan = MakeHealPlan(report, {fw, nat});
  ASSERT_EQ(plan.promotions.size(), 1u);
  EXPECT_EQ(plan.promotions[0].promoted, "fw-b");
  EXPECT_EQ(plan.promotions[0].demoted, "fw-a");
  ASSERT_EQ(plan.moves.size(), 1u);
  EXPECT_EQ(plan.moves[0].role, Role::kSby);  // comes back as SBY
  EXPECT_EQ(plan.headless, std::vector<std::string>{"nat"});
  StoredGroup after = ApplyHealPlan(plan, fw);
  EXPECT_EQ(after.Find("fw-a")->host, "h3");
  EXPECT_EQ(after.Find("fw-a")->role, Role::kSby);
  EXPECT_EQ(after.Find("fw-b")->role, Role::kAct);
  auto back = HealPlanFromJson(HealPlanToJson(plan));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(HealPlanToJson(*back), HealPlanToJson(plan));
  EXPECT_FALSE(HealPlanFromJson(json{{"hosts", "h1"}}).ok());
}

}  // namespace
}  // namespace corepin

namespace corepin {
namespace {

// Drain on fixture hosts: the group whose ACT is on the drained host switches over first, then
// its VMs move to the what-if's targets, the host ends drained; undrain returns it.
TEST_F(HealingTest, DrainSwitchesOverThenMovesEveryVmAndUndrainReturnsTheHost) {
  Open();
  AddHosts();
  NoFit no_fit;
  ASSERT_TRUE(controller_->CreateGroup(json::parse(R"({"name":"fw","members":[{"name":"fw-a","role":"act"},{"name":"fw-b","role":"sby"}],)"
                                                   R"("domains":["rack"],"vm":{"vcpus":4,"smt":"isolate","memory_mib":4096}})"),
                                       &no_fit)
                  .ok());
  const std::string host = Member("fw", "fw-a")["host"];
  ASSERT_TRUE(controller_->CreateVm(json{{"name", "solo"}, {"vcpus", 2}, {"memory_mib", 64}, {"host", host}}, &no_fit).ok());

  auto dry = controller_->Drain(host, json{{"dry_run", true}});
  ASSERT_TRUE(dry.ok()) << dry.error().message;
  EXPECT_EQ((*dry)["plan"]["moves"].size(), 2u) << dry->dump(2);
  EXPECT_EQ((*controller_->ShowHost(host))["state"], "active");  // a dry run changes nothing

  auto op = controller_->Drain(host, json::object());
  ASSERT_TRUE(op.ok()) << op.error().message;
  const std::string name = (*op)["name"];
  json seen;
  for (int i = 0; i < 200; ++i) {
    seen = *controller_->ShowOperation(name);
    if (seen["step"] == "done" || seen["step"] == "stopped") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(seen["step"], "done") << seen.dump(2);
  EXPECT_EQ(seen["detail"]["progress"]["done"], 2);
  EXPECT_EQ((*controller_->ShowHost(host))["state"], "drained");
  EXPECT_EQ(Member("fw", "fw-b")["role"], "act");
  EXPECT_EQ(Member("fw", "fw-a")["role"], "sby");
  for (const char* vm : {"fw-a", "solo"}) {
    auto v = *controller_->ShowVm(vm);
    EXPECT_NE(v["host"], host) << vm;
    EXPECT_EQ(v["state"], "running") << vm;
    EXPECT_EQ(v["pinning_verified"], true) << v.dump(2);
    EXPECT_EQ(DomainsOf(vm), std::vector<std::string>{v["host"].get<std::string>()}) << vm;
  }
  // A drained host takes nothing; draining it again is refused; undrain returns it.
  EXPECT_FALSE(controller_->CreateVm(json{{"name", "v"}, {"vcpus", 1}, {"memory_mib", 64}, {"host", host}}, &no_fit).ok());
  EXPECT_EQ(controller_->Drain(host, json::object()).error().code, ErrorCode::kConflict);
  auto back = controller_->Undrain(host);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ((*controller_->ShowHost(host))["state"], "active");
  EXPECT_TRUE(controller_->CreateVm(json{{"name", "v"}, {"vcpus", 1}, {"memory_mib", 64}, {"host", host}}, &no_fit).ok());
}

// A drain that cannot complete is refused up front and changes nothing.
TEST_F(HealingTest, DrainThatCannotCompleteIsRefusedUpFront) {
  Open();
  for (int i = 1; i <= 2; ++i) {
    std::string n = "h" + std::to_string(i);
    ASSERT_TRUE(controller_->AddHost({{"name", n}, {"uri", "fixture:2s32c-smt2#" + n}, {"housekeeping", "0,64"},
                                      {"labels", {{"rack", "r" + std::to_string(i)}}}})
                    .ok());
  }
  NoFit no_fit;
  ASSERT_TRUE(controller_->CreateGroup(json::parse(R"({"name":"fw","members":[{"name":"fw-a","role":"act"},{"name":"fw-b","role":"sby"}],)"
                                                   R"("domains":["rack"],"protect":false,"vm":{"vcpus":2,"memory_mib":64}})"),
                                       &no_fit)
                  .ok());
  const std::string host = Member("fw", "fw-a")["host"];
  auto r = controller_->Drain(host, json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnprocessable);
  EXPECT_NE(r.error().message.find("fw-a"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("nothing was changed"), std::string::npos) << r.error().message;
  EXPECT_EQ((*controller_->ShowHost(host))["state"], "active");
  EXPECT_EQ(Member("fw", "fw-a")["role"], "act");
  EXPECT_TRUE(controller_->Operations()->empty());
  EXPECT_EQ(controller_->Drain("nope", json::object()).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(controller_->Drain(host, json{{"dry_run", "yes"}}).error().code, ErrorCode::kInvalid);
  EXPECT_EQ(controller_->Undrain(host).error().code, ErrorCode::kConflict);
}

}  // namespace
}  // namespace corepin

namespace corepin {
namespace {

// Bad input for the healing: failures beyond what the reserve covers. Three hosts in three racks
// and a 1+1 group kept in different racks. The first failure is healed, but only two hosts are
// left: the reserve cannot be re-planned, and an alarm says what is missing. A second failure
// then finds no reserve: the SBY is promoted, the lost VM is recorded lost with an alarm that
// says why and what a person can do, and nothing is guessed (no VM placed against its group's
// rules, none started twice).
TEST_F(HealingTest, FailuresBeyondTheReserveStopSafelyWithAlarms) {
  Open();
  for (int i = 1; i <= 3; ++i) {
    const std::string name = "h" + std::to_string(i);
    ASSERT_TRUE(controller_->AddHost({{"name", name}, {"uri", "fixture:2s32c-smt2#" + name}, {"housekeeping", "0,64"},
                                      {"labels", {{"rack", "r" + std::to_string(i)}}}}).ok());
  }
  NoFit no_fit;
  ASSERT_TRUE(controller_->CreateGroup(
      json::parse(R"({"name":"fw","members":[{"name":"fw-a","role":"act"},{"name":"fw-b","role":"sby"}],"domains":["rack"],)"
                  R"("vm":{"vcpus":2,"memory_mib":1024}})"),
      &no_fit).ok());
  auto alarm = [&](const std::string& kind, const std::string& subject) -> std::string {
    const json alarms = *controller_->Alarms();
    for (const auto& a : alarms)
      if (a["kind"] == kind && a["subject"] == subject) return a["message"];
    return "";
  };
  const std::string ha = Member("fw", "fw-a")["host"], hb = Member("fw", "fw-b")["host"];

  // 1. The ACT's host: healed, but the reserve cannot be re-planned on the two hosts left.
  down_ = {ha};
  Open();
  ASSERT_TRUE(controller_->ConfirmFenced(ha).ok());
  json heal = controller_->Healings()->back();
  EXPECT_EQ(heal["step"], "done");
  EXPECT_EQ(heal["detail"]["redundancy"], "degraded") << heal.dump(2);
  EXPECT_EQ(Member("fw", "fw-b")["role"], "act");
  const std::string hc = Member("fw", "fw-a")["host"];
  EXPECT_NE(hc, ha);
  EXPECT_NE(hc, hb);
  EXPECT_EQ((*controller_->ShowVm("fw-a"))["pinning_verified"], true);
  const std::string degraded = alarm("alarm.reserve-degraded", "cluster");
  EXPECT_NE(degraded.find("fw-"), std::string::npos) << "the alarm names the VM left unprotected: " << degraded;
  EXPECT_NE(degraded.find("Add a host"), std::string::npos) << degraded;

  // 2. The new ACT's host too: fw-a (SBY on the third host) is promoted; fw-b has nowhere to go
  //    (the only other host holds fw-a: anti-affinity) and is recorded lost, with the reason.
  down_ = {ha, hb};
  Open();
  ASSERT_TRUE(controller_->ConfirmFenced(hb).ok());
  heal = controller_->Healings()->back();
  EXPECT_EQ(heal["step"], "done") << heal.dump(2);
  EXPECT_EQ(Member("fw", "fw-a")["role"], "act");
  EXPECT_EQ((*controller_->ShowVm("fw-a"))["host"], hc);
  EXPECT_EQ((*controller_->ShowVm("fw-b"))["state"], "lost");
  const std::string lost = alarm("alarm.vm-lost", "fw-b");
  EXPECT_NE(lost.find("no host can take it"), std::string::npos) << lost;
  EXPECT_NE(lost.find("corepin host return " + hb), std::string::npos) << "the alarm says what a person can do: " << lost;
  // Nothing guessed: fw-b runs nowhere (its only copy is on its failed host), fw-a on hc only.
  EXPECT_EQ(DomainsOf("fw-a"), (std::vector<std::string>{std::min(ha, hc), std::max(ha, hc)})) << "stale copy on the failed " << ha;
  EXPECT_EQ(DomainsOf("fw-b"), std::vector<std::string>{hb});
  // 3. The failed host comes back: the lost VM starts again there, as SBY.
  down_ = {ha};
  auto back = controller_->ReturnHost(hb);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ((*back)["restarted"], json::array({"fw-b"}));
  EXPECT_EQ((*controller_->ShowVm("fw-b"))["state"], "running");
  EXPECT_EQ(Member("fw", "fw-b")["role"], "sby");
}

}  // namespace
}  // namespace corepin

namespace corepin {
namespace {

// Defence in depth in the plan: a SBY on a host that is not answering is promoted only when the
// group has no other, and the plan says so.
TEST(HealPlan, PrefersSbysOnHostsThatAnswer) {
  StoredGroup g;
  g.request.name = "fw";
  g.members = {{"fw-a", Role::kAct, "h1"}, {"fw-b", Role::kSby, "h2"}, {"fw-c", Role::kSby, "h3"}};
  WhatIfReport report;
  report.failed = {"h1"};
  HealPlan plan = MakeHealPlan(report, {g}, {"h2"});
  ASSERT_EQ(plan.promotions.size(), 1u);
  EXPECT_EQ(plan.promotions[0].promoted, "fw-c") << "fw-b's host h2 does not answer";
  EXPECT_TRUE(plan.promotions[0].note.empty());
  EXPECT_EQ(MakeHealPlan(report, {g}).promotions[0].promoted, "fw-b");  // all answer: member order

  g.members.pop_back();  // only the doubtful one left: promoted, and said so
  plan = MakeHealPlan(report, {g}, {"h2"});
  ASSERT_EQ(plan.promotions.size(), 1u);
  EXPECT_EQ(plan.promotions[0].promoted, "fw-b");
  EXPECT_NE(plan.Summary().find("h2 is not answering"), std::string::npos) << plan.Summary();
  auto back = HealPlanFromJson(HealPlanToJson(plan));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->promotions[0].note, plan.promotions[0].note);
}

}  // namespace
}  // namespace corepin
