// Moving VMs between hosts through the controller, over fixture hosts (simulated 128-pCPU hosts
// whose "live migration" moves the domain record): where a move goes, what it refuses, what a
// failed migration leaves, and how a restarted corepind finishes a stored move. The real
// migration (libvirt, QEMU, the switch, traffic) is tested in the lab: tests/lab/modify.sh.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <thread>

#include "controller/controller_test_fixture.h"
#include "controller/failing_hypervisor.h"

namespace corepin {
namespace {

using nlohmann::json;
using testing::ControllerTest;

class MoveTest : public ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    setenv("COREPIN_FIXTURE_STATE_DIR", (dir_ + "/fixture-hosts").c_str(), 1);
    for (int i = 1; i <= 4; ++i) {
      const std::string h = "h" + std::to_string(i);
      auto r = controller_->AddHost({{"name", h}, {"uri", "fixture:2s32c-smt2#" + h}, {"housekeeping", "0,64"},
                                     {"labels", {{"rack", "r" + std::to_string(i)}}}});
      ASSERT_TRUE(r.ok()) << r.error().message;
    }
    NoFit no_fit;
    auto g = controller_->CreateGroup(
        json::parse(R"({"name":"fw","members":[{"name":"fw-a","role":"act","host":"h1"},{"name":"fw-b","role":"sby","host":"h2"}],)"
                    R"("domains":["rack"],"vm":{"vcpus":2,"memory_mib":1024}})"),
        &no_fit);
    ASSERT_TRUE(g.ok()) << g.error().message;
  }
  Result<json> Move(const std::string& vm, const std::string& body, NoFit* no_fit = nullptr) {
    NoFit ignored;
    return controller_->MoveVm(vm, json::parse(body), no_fit ? no_fit : &ignored);
  }
  // The simulated host's own record of a domain, as a hypervisor connection sees it.
  Result<DomainInfo> DomainOn(const std::string& host, const std::string& vm) {
    auto hv = ConnectHypervisor("fixture:2s32c-smt2#" + host);
    if (!hv) return hv.error();
    return (*hv)->GetDomain(vm);
  }
  std::string MemberHost(const std::string& vm) {
    auto g = controller_->ShowGroup("fw");
    for (const auto& m : (*g)["members"])
      if (m["vm"] == vm) return m["host"];
    return "";
  }
  int Count(const std::string& kind) {
    int n = 0;
    const json events = *controller_->Events(0, 10000);  // kept: a loop over *temporary would dangle
    for (const auto& e : events) n += e["kind"] == kind;
    return n;
  }
  // After a move to h3 that did not happen: fw-a runs on h1 as it did, and nothing is on h3.
  void ExpectStillOnH1(const std::string& assignment) {
    auto rec = store_->GetVm("fw-a");
    EXPECT_EQ(rec->host, "h1");
    EXPECT_EQ(rec->state, "running");
    EXPECT_EQ(rec->assignment_json, assignment);
    EXPECT_EQ(MemberHost("fw-a"), "h1");
    EXPECT_TRUE(DomainOn("h1", "fw-a")->active);
    EXPECT_FALSE(DomainOn("h3", "fw-a").ok());
  }
  json MoveOperations() {
    json out = json::array();
    const json ops = *controller_->Operations();
    for (const auto& op : ops)
      if (op["kind"] == "move") out.push_back(op);
    return out;
  }
};

TEST_F(MoveTest, LiveMoveToANamedHostAndEverythingFollows) {
  auto r = Move("fw-a", R"({"host": "h3"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["host"], "h3");
  EXPECT_EQ((*r)["moved"]["from"], "h1");
  EXPECT_EQ((*r)["moved"]["mode"], "live");
  EXPECT_EQ((*r)["pinning_verified"], true) << r->dump(2);
  // The store, the group's member, the domains on both hosts and their metadata.
  auto rec = store_->GetVm("fw-a");
  EXPECT_EQ(rec->host, "h3");
  EXPECT_EQ(rec->state, "running");
  EXPECT_EQ(MemberHost("fw-a"), "h3");
  EXPECT_EQ(MemberHost("fw-b"), "h2");
  auto there = DomainOn("h3", "fw-a");
  ASSERT_TRUE(there.ok()) << there.error().message;
  EXPECT_TRUE(there->active);
  json meta = json::parse(there->metadata_json);
  EXPECT_EQ(meta["host"], "h3");
  EXPECT_EQ(meta["assignment"]["vcpu_pcpus"], json::parse(rec->assignment_json)["vcpu_pcpus"]);
  for (size_t i = 0; i < there->vcpu_pins.size(); ++i)
    EXPECT_EQ(there->vcpu_pins[i].ToString(), std::to_string(json::parse(rec->assignment_json)["vcpu_pcpus"][i].get<int>()));
  EXPECT_EQ(DomainOn("h1", "fw-a").error().code, ErrorCode::kNotFound) << "no copy left on the source";
  // The operation and events; the role did not change; h1 holds nothing of fw-a any more.
  json ops = MoveOperations();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0]["step"], "done");
  EXPECT_EQ(ops[0]["detail"]["from"], "h1");
  EXPECT_EQ(Count("vm.moved"), 1);
  EXPECT_EQ((*controller_->ShowVm("fw-a"))["role"], "act");
  auto h1 = controller_->ShowHost("h1");
  for (const auto& core : (*h1)["cores"])
    for (const auto& p : core["pcpus"]) EXPECT_NE(p["owner"], "fw-a") << p.dump();
  // The reserve follows: if h3 fails now, fw-a heals elsewhere (not onto fw-b's host or rack).
  auto w = controller_->WhatIf({"h3"});
  ASSERT_TRUE(w.ok()) << w.error().message;
  bool healed = false;
  for (const auto& m : (*w)["moves"])
    if (m["vm"] == "fw-a") healed = m["to"] != "h2" && m["to"] != "h3";
  EXPECT_TRUE(healed) << w->dump(2);
  // A restart rebuilds the same picture from the store.
  Open();
  EXPECT_EQ((*controller_->ShowVm("fw-a"))["host"], "h3");
  EXPECT_EQ((*controller_->ShowVm("fw-a"))["pinning_verified"], true);
}

TEST_F(MoveTest, WithoutAHostPlacementChoosesOneTheGroupAllows) {
  auto dry = Move("fw-b", R"({"dry_run": true, "mode": "cold"})");
  ASSERT_TRUE(dry.ok()) << dry.error().message;
  const std::string to = (*dry)["to"];
  EXPECT_TRUE(to == "h3" || to == "h4") << dry->dump(2);
  EXPECT_EQ((*dry)["mode"], "cold");
  EXPECT_EQ(store_->GetVm("fw-b")->host, "h2") << "a dry run changes nothing";
  EXPECT_TRUE(MoveOperations().empty());
  auto r = Move("fw-b", R"({"mode": "cold"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["host"], to) << "the move goes where the dry run said";
  EXPECT_EQ((*r)["assignment"]["vcpu_pcpus"], (*dry)["assignment"]["vcpu_pcpus"]);
  EXPECT_EQ((*r)["moved"]["mode"], "cold");
  EXPECT_EQ((*controller_->ShowVm("fw-b"))["role"], "sby");
  EXPECT_TRUE(DomainOn(to, "fw-b").ok());
  EXPECT_FALSE(DomainOn("h2", "fw-b").ok());
}

TEST_F(MoveTest, RefusalsSayWhyAndChangeNothing) {
  const VmRecord before = *store_->GetVm("fw-a");
  struct Case {
    std::string vm, body;
    ErrorCode code;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"nope", R"({"host": "h3"})", ErrorCode::kNotFound, "VM nope does not exist"},
           {"fw-a", R"({"host": "h9"})", ErrorCode::kNotFound, "host h9 does not exist"},
           {"fw-a", R"({"host": "h1"})", ErrorCode::kInvalid, "already on host h1"},
           {"fw-a", R"({"host": "h2"})", ErrorCode::kUnprocessable, "fw-b is on host h2 (anti-affinity)"},
           {"fw-a", R"({"mode": "fast"})", ErrorCode::kInvalid, "is not \"live\""},
           {"fw-a", R"({"to": "h3"})", ErrorCode::kInvalid, "unknown field \"to\""},
           {"fw-a", R"({"host": 3})", ErrorCode::kInvalid, "host: must be a host's name"},
           {"fw-a", R"({"dry_run": "yes"})", ErrorCode::kInvalid, "dry_run: must be true or false"},
       }) {
    SCOPED_TRACE(c.vm + " " + c.body);
    NoFit no_fit;
    auto r = Move(c.vm, c.body, &no_fit);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, c.code);
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
  }
  // The anti-affinity refusal carries the search, host by host.
  NoFit no_fit;
  ASSERT_FALSE(Move("fw-a", R"({"host": "h2"})", &no_fit).ok());
  EXPECT_EQ(no_fit.explanation["purpose"], "move") << no_fit.explanation.dump(2);
  VmRecord after = *store_->GetVm("fw-a");
  after.updated_unix = before.updated_unix;
  EXPECT_EQ(after.host, before.host);
  EXPECT_EQ(after.assignment_json, before.assignment_json);
  EXPECT_EQ(after.state, "running");
  EXPECT_TRUE(MoveOperations().empty());
  EXPECT_EQ(Count("vm.move.started"), 0);
  EXPECT_TRUE(DomainOn("h1", "fw-a")->active);
}

// The migration fails before anything moved: the guest runs where it was, and the model, the
// records and the group are as before; a later move works.
TEST_F(MoveTest, FailedMigrationPutsEverythingBack) {
  connect_ = testing::FailingHypervisor::Factory({.migrate = true});
  Open();
  const std::string assignment = store_->GetVm("fw-a")->assignment_json;
  auto r = Move("fw-a", R"({"host": "h3"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("failure injected"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("runs on h1 as before"), std::string::npos) << r.error().message;
  ExpectStillOnH1(assignment);
  EXPECT_EQ((*controller_->ShowVm("fw-a"))["host"], "h1");
  json ops = MoveOperations();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0]["step"], "rolled-back");
  EXPECT_EQ(Count("vm.move.failed"), 1);
  // h3's pCPUs were given back: a cold move (no migration) goes there now.
  auto cold = Move("fw-a", R"({"host": "h3", "mode": "cold"})");
  ASSERT_TRUE(cold.ok()) << cold.error().message;
  EXPECT_EQ(store_->GetVm("fw-a")->host, "h3");
}

// A cold move whose domain does not start on the target: started again on the source, pinned
// as before; the records say so.
TEST_F(MoveTest, ColdMoveThatCannotStartThereStartsAgainHere) {
  connect_ = testing::FailingHypervisor::Factory({.define_uri = "fixture:2s32c-smt2#h3"});
  Open();
  const std::string assignment = store_->GetVm("fw-a")->assignment_json;
  auto r = Move("fw-a", R"({"host": "h3", "mode": "cold"})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("was started again on h1"), std::string::npos) << r.error().message;
  ExpectStillOnH1(assignment);
  EXPECT_EQ((*controller_->ShowVm("fw-a"))["pinning_verified"], true);
  EXPECT_EQ(MoveOperations().back()["step"], "rolled-back");
  EXPECT_EQ(Count("vm.move.failed"), 1);
}

// A healing goes before a move. A live migration holds the controller for its seconds; when a
// host stops answering while one runs, the migration is cancelled so that the healer need not
// wait: the guest stays on its source, the move rolls back and says why, the healing begins.
TEST_F(MoveTest, HostFailureCancelsALiveMoveSoTheHealingNeedNotWait) {
  auto controls = std::make_shared<testing::TestControls>();
  controls->hold_migrations = true;
  connect_ = testing::FailingHypervisor::Factory({.controls = controls});
  Open({.probe_interval_ms = 50, .probe_misses = 4});
  const std::string assignment = store_->GetVm("fw-a")->assignment_json;
  Result<json> moved = Internal("not run");
  std::thread mover([&] { moved = Move("fw-a", R"({"host": "h3"})"); });
  ASSERT_TRUE(controls->WaitHeld(std::chrono::seconds(20))) << "the migration never began";
  controls->SetDown("fixture:2s32c-smt2#h4", true);  // h4 stops answering: suspected after 4 x 50 ms
  mover.join();  // without the cancel, the held migration goes ahead after 60 s and this fails below
  ASSERT_FALSE(moved.ok()) << "the move was not cancelled: " << moved->dump();
  EXPECT_NE(moved.error().message.find("the move was cancelled: host h4 stopped answering"), std::string::npos) << moved.error().message;
  EXPECT_NE(moved.error().message.find("runs on h1 as before"), std::string::npos) << moved.error().message;
  ExpectStillOnH1(assignment);
  EXPECT_EQ(MoveOperations().back()["step"], "rolled-back");
  EXPECT_EQ(Count("vm.move.cancelling"), 1);
  // The healing of h4 began (h4 has no BMC: it stops at once, asking a person).
  bool healing = false;
  for (int i = 0; i < 200 && !healing; ++i) {
    const json healings = *controller_->Healings();  // kept: a loop over *temporary would dangle
    for (const auto& h : healings) healing |= h["detail"]["hosts"][0] == "h4";
    if (!healing) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(healing);
  controls->SetDown("fixture:2s32c-smt2#h4", false);
  // The placement model took fw-a back: a move to h3 works now (the gate open).
  controls->Open();
  auto again = Move("fw-a", R"({"host": "h3"})");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(store_->GetVm("fw-a")->host, "h3");
  EXPECT_FALSE(DomainOn("h1", "fw-a").ok());
}

// corepind stopped between storing the move and finishing it. On start it looks: the VM already
// runs on its target as planned (the migration completed), or runs nowhere (a cold move stopped
// it and did not start it): either way it ends running on the target, verified.
TEST_F(MoveTest, RestartFinishesAStoredMove) {
  ASSERT_TRUE(Move("fw-a", R"({"host": "h3"})").ok());
  auto interrupt = [&] {  // the records as they were right after the move was stored
    auto op = *store_->ListOperations("move");
    OperationRecord last = op.back();
    last.state = "moving";
    ASSERT_TRUE(store_->UpdateOperation(last).ok());
    VmRecord vm = *store_->GetVm("fw-a");
    vm.state = "moving";
    ASSERT_TRUE(store_->UpdateVm(vm).ok());
  };
  interrupt();
  Open();
  EXPECT_EQ(store_->GetVm("fw-a")->state, "running");
  EXPECT_EQ(MoveOperations().back()["step"], "done");
  EXPECT_EQ(Count("vm.move.resumed"), 1);

  interrupt();
  ASSERT_TRUE((*ConnectHypervisor("fixture:2s32c-smt2#h3"))->DestroyAndUndefine("fw-a").ok());
  Open();
  EXPECT_EQ(store_->GetVm("fw-a")->state, "running");
  EXPECT_EQ(store_->GetVm("fw-a")->host, "h3");
  EXPECT_TRUE(DomainOn("h3", "fw-a")->active) << "started on its target";
  EXPECT_EQ((*controller_->ShowVm("fw-a"))["pinning_verified"], true);
  EXPECT_EQ(Count("vm.move.resumed"), 2);
}

}  // namespace
}  // namespace corepin
