// Re-pin, resize and drift repair through the controller, over libvirt's test driver
// (test:///default: node0 = pCPUs 0-7, node1 = 8-15, housekeeping 0,8) and fixture hosts.
// The real thing (QEMU threads read in /proc) is in controller_e2e_test.cc.
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

#include <cstdlib>
#include <set>

#include "controller/controller_test_fixture.h"
#include "controller/failing_hypervisor.h"

namespace corepin {
namespace {

using nlohmann::json;
using testing::ControllerTest;

class RepinTest : public ControllerTest {
 protected:
  void SetUp() override {
    ControllerTest::SetUp();
    AddTestHost();
    auto vm = Create(R"({"name":"fw","vcpus":2,"memory_mib":128})");
    ASSERT_TRUE(vm.ok()) << vm.error().message;
    ASSERT_EQ((*vm)["assignment"]["vcpu_pcpus"], json::parse("[1,2]"));
  }
  Result<json> Repin(const std::string& body, NoFit* no_fit = nullptr) {
    NoFit ignored;
    return controller_->RepinVm("fw", json::parse(body), no_fit ? no_fit : &ignored);
  }
  Result<json> Resize(const std::string& body, NoFit* no_fit = nullptr) {
    NoFit ignored;
    return controller_->ResizeVm("fw", json::parse(body), no_fit ? no_fit : &ignored);
  }
  std::vector<std::string> LibvirtPins(const std::string& vm) {
    auto dom = keeper_->GetDomain(vm);
    std::vector<std::string> out;
    for (const auto& p : dom->vcpu_pins) out.push_back(p.ToString());
    out.push_back(dom->emulator_pin.ToString());
    return out;
  }
  bool HasEvent(const std::string& kind, const std::string& text = "") {
    auto events = controller_->Events(0, 1000);
    for (const auto& e : *events)
      if (e["kind"] == kind && e["message"].get<std::string>().find(text) != std::string::npos) return true;
    return false;
  }
  // The NUMA nodes of the domain's numatune, as libvirt reports them (virDomainGetNumaParameters).
  std::string LibvirtMemoryNodes(const std::string& vm) { return keeper_->GetDomain(vm)->memory_nodes.ToString(); }
  // The NUMA nodes of the VM's memory as its record says.
  std::string RecordedMemoryNodes(const std::string& vm) {
    const json view = *controller_->ShowVm(vm);
    std::string out;
    for (const auto& [node, mib] : view["assignment"]["memory_mib"].items()) out += (out.empty() ? "" : ",") + node;
    return out;
  }
  // Moves the memory of `vm` to `nodeset` in its numatune behind corepin's back, with libvirt's API.
  void SetNumatuneBehindTheBack(const std::string& vm, const char* nodeset) {
    virConnectPtr conn = virConnectOpen("test:///default");
    ASSERT_NE(conn, nullptr);
    virDomainPtr dom = virDomainLookupByName(conn, vm.c_str());
    ASSERT_NE(dom, nullptr);
    virTypedParameterPtr params = nullptr;
    int n = 0, max = 0;
    ASSERT_EQ(virTypedParamsAddString(&params, &n, &max, VIR_DOMAIN_NUMA_NODESET, nodeset), 0);
    EXPECT_EQ(virDomainSetNumaParameters(dom, params, n, VIR_DOMAIN_AFFECT_CURRENT), 0);
    virTypedParamsFree(params, n);
    virDomainFree(dom);
    virConnectClose(conn);
  }
  // Pins vCPU 0 of `vm` to `pcpu` behind corepin's back, with libvirt's API.
  void PinBehindTheBack(const std::string& vm, int pcpu) {
    virConnectPtr conn = virConnectOpen("test:///default");
    ASSERT_NE(conn, nullptr);
    virDomainPtr dom = virDomainLookupByName(conn, vm.c_str());
    ASSERT_NE(dom, nullptr);
    unsigned char map[2] = {0, 0};
    VIR_USE_CPU(map, pcpu);
    EXPECT_EQ(virDomainPinVcpu(dom, 0, map, sizeof map), 0);
    virDomainFree(dom);
    virConnectClose(conn);
  }
};

TEST_F(RepinTest, ExplicitRepinMovesLiveAndEverythingFollows) {
  auto r = Repin(R"({"vcpus": {"0": 5, "1": "6"}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["old"]["vcpus"], json::parse("[1,2]"));
  EXPECT_EQ((*r)["new"]["vcpus"], json::parse("[5,6]"));
  EXPECT_EQ((*r)["changed"], true);
  EXPECT_EQ((*r)["pinning_verified"], true) << r->dump(2);
  EXPECT_EQ((*r)["actual"]["vcpus"][0]["libvirt"], "5");
  EXPECT_EQ(LibvirtPins("fw"), (std::vector<std::string>{"5", "6", "0,8"}));
  // The store, the core map and the domain's metadata all say 5 and 6.
  auto rec = store_->GetVm("fw");
  EXPECT_EQ(rec->state, "running");
  EXPECT_EQ(json::parse(rec->assignment_json)["vcpu_pcpus"], json::parse("[5,6]"));
  EXPECT_EQ(json::parse(keeper_->GetDomain("fw")->metadata_json)["assignment"]["vcpu_pcpus"], json::parse("[5,6]"));
  auto host = controller_->ShowHost("t1");
  for (const auto& core : (*host)["cores"])
    for (const auto& p : core["pcpus"]) {
      const int id = p["id"];
      EXPECT_EQ(p["owner"] == "fw", id == 5 || id == 6) << p.dump();
    }
  EXPECT_EQ((*controller_->ListHosts())[0]["free"], 12);
  EXPECT_TRUE((*controller_->Reconcile())["differences"].empty());
  EXPECT_TRUE(HasEvent("vm.repinned", "vCPUs [1,2], emulator 0,8 -> vCPUs [5,6], emulator 0,8"));
  // A restart rebuilds the same.
  Open();
  EXPECT_EQ((*controller_->ShowVm("fw"))["assignment"]["vcpu_pcpus"], json::parse("[5,6]"));
}

TEST_F(RepinTest, RefusedRepinsChangeNothing) {
  ASSERT_TRUE(Create(R"({"name":"b","vcpus":1,"memory_mib":128})").ok());  // pCPU 3
  const VmRecord before = *store_->GetVm("fw");
  struct Case { std::string body; ErrorCode code; std::string expect; };
  for (const auto& c : std::vector<Case>{
           {R"({"vcpus": {"0": 3}})", ErrorCode::kUnprocessable, "vCPU 0 -> pCPU 3: pCPU 3 is held by VM b (vcpu 0 dedicated)"},
           {R"({"vcpus": {"0": 0}})", ErrorCode::kUnprocessable, "pCPU 0 is housekeeping"},
           {R"({"vcpus": {"0": 9}})", ErrorCode::kUnprocessable, "pCPU 9 is on node1 but the VM's memory is on node0"},
           {R"({"vcpus": {"0": 5, "1": 5}})", ErrorCode::kUnprocessable, "vCPU 1 would be there too"},
           {R"({"vcpus": {"0": 99}})", ErrorCode::kUnprocessable, "pCPU 99 does not exist"},
           {R"({"emulator": "4"})", ErrorCode::kUnprocessable, "emulator: policy housekeeping runs on housekeeping pCPUs (0,8)"},
           {R"({})", ErrorCode::kInvalid, "nothing to re-pin"},
           {R"({"auto": true, "vcpus": {"0": 5}})", ErrorCode::kInvalid, "give either auto or vcpus/emulator"},
           {R"({"vcpus": {"x": 5}})", ErrorCode::kInvalid, "\"x\" is not a vCPU number"},
           {R"({"vcpus": [5]})", ErrorCode::kInvalid, "vcpus: must map vCPU numbers to pCPUs"},
           {R"({"emulator": "a-"})", ErrorCode::kInvalid, "emulator: "},
           {R"({"cpus": 1})", ErrorCode::kInvalid, "unknown field \"cpus\""},
       }) {
    NoFit no_fit;
    auto r = Repin(c.body, &no_fit);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error().code, c.code) << c.body << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << c.body << ": " << r.error().message;
    if (c.code == ErrorCode::kUnprocessable) {
      EXPECT_NE(r.error().message.find("nothing was changed"), std::string::npos);
      EXPECT_EQ(no_fit.rejections.size(), 1u);
    }
  }
  NoFit no_fit;
  EXPECT_EQ(controller_->RepinVm("nope", json{{"auto", true}}, &no_fit).error().code, ErrorCode::kNotFound);
  VmRecord after = *store_->GetVm("fw");
  after.updated_unix = before.updated_unix;
  EXPECT_EQ(after, before);
  EXPECT_EQ(LibvirtPins("fw"), (std::vector<std::string>{"1", "2", "0,8"}));
  EXPECT_EQ((*controller_->ListHosts())[0]["free"], 11);
}

// A crash after the new assignment was stored ("repinning") and before libvirt was told:
// Start re-applies the stored pinning, live, and completes the re-pin.
TEST_F(RepinTest, InterruptedRepinIsCompletedOnStart) {
  VmRecord rec = *store_->GetVm("fw");
  json a = json::parse(rec.assignment_json);
  a["vcpu_pcpus"] = {5, 6};
  a["exclusive"] = "5-6";
  rec.assignment_json = a.dump();
  rec.state = "repinning";
  ASSERT_TRUE(store_->UpdateVm(rec).ok());
  Open();
  EXPECT_EQ(store_->GetVm("fw")->state, "running");
  EXPECT_EQ(LibvirtPins("fw"), (std::vector<std::string>{"5", "6", "0,8"}));
  EXPECT_EQ((*controller_->ShowVm("fw"))["pinning_verified"], true);
  EXPECT_TRUE(HasEvent("vm.repin.resumed"));
}

TEST_F(RepinTest, DriftIsAlarmedOrRepaired) {
  PinBehindTheBack("fw", 7);
  auto report = controller_->Reconcile();
  bool alarmed = false;
  for (const auto& d : (*report)["differences"]) alarmed |= d["kind"] == "pinning-drift";
  EXPECT_TRUE(alarmed) << report->dump(2);
  EXPECT_TRUE(HasEvent("alarm.pinning-drift", "vCPU 0 may run on 7, expected 1"));
  EXPECT_TRUE(HasEvent("alarm.pinning-drift", "repair: corepin vm repin fw --auto, or run corepind with --repair-drift"));
  EXPECT_EQ(LibvirtPins("fw")[0], "7");  // an alarm changes nothing
  auto alarms = controller_->Alarms();
  ASSERT_EQ(alarms->size(), 1u) << alarms->dump(2);
  EXPECT_EQ((*alarms)[0]["kind"], "alarm.pinning-drift");
  // --auto repairs it by hand, and the alarm is cleared.
  auto r = Repin(R"({"auto": true})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["changed"], false);
  EXPECT_EQ(LibvirtPins("fw")[0], "1");
  EXPECT_TRUE(controller_->Alarms()->empty());
  EXPECT_TRUE(HasEvent("alarm.cleared", "alarm.pinning-drift cleared: re-pinned and verified"));
  // With repair_drift, the reconcile (here the one Start runs) re-pins it.
  PinBehindTheBack("fw", 7);
  ControllerOptions repair;
  repair.repair_drift = true;
  Open(repair);
  EXPECT_EQ(LibvirtPins("fw")[0], "1");
  EXPECT_TRUE(HasEvent("vm.drift-repaired", "vCPU 0 may run on 7, expected 1"));
  EXPECT_TRUE((*controller_->Reconcile())["differences"].empty());
}

// Issue 24: fw's memory is on node0 (pCPUs 1,2); a VM pinned on node1 leaves room there for fw
// only. Moving fw to node1 would free node0 whole, but on its own host that is a live re-pin,
// which cannot move memory: the plan must not record fw on node1 while its domain's numatune
// still says node0. Whatever is applied, every domain's numatune is its record's.
TEST_F(RepinTest, DefragOnOneHostKeepsTheDomainsMemoryWhereTheRecordSays) {
  auto filler = Create(R"({"name":"pinned","vcpus":5,"memory_mib":64,
                           "vcpu_policies":["pinned:9","pinned:10","pinned:11","pinned:12","pinned:13"]})");
  ASSERT_TRUE(filler.ok()) << filler.error().message;
  ASSERT_EQ(LibvirtMemoryNodes("fw"), "0");
  auto applied = controller_->Defrag(json{{"apply", true}});
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_FALSE(applied->contains("stopped")) << applied->dump(2);
  for (const char* vm : {"fw", "pinned"}) {
    EXPECT_EQ(LibvirtMemoryNodes(vm), RecordedMemoryNodes(vm)) << vm << "; " << applied->dump(2);
    EXPECT_EQ((*controller_->ShowVm(vm))["pinning_verified"], true) << vm;
  }
  EXPECT_EQ(LibvirtMemoryNodes("fw"), "0");
  EXPECT_TRUE((*controller_->Reconcile())["differences"].empty());
}

// The reconcile compares the domain's numatune with the record, as it does vCPU pins; a live
// re-pin cannot repair it, so even with repair_drift it is an alarm that says how.
TEST_F(RepinTest, MemoryOnAnotherNodeIsFoundAndNotRepinned) {
  SetNumatuneBehindTheBack("fw", "1");
  auto report = controller_->Reconcile();
  ASSERT_TRUE(report.ok());
  std::set<std::string> kinds;
  for (const auto& d : (*report)["differences"]) kinds.insert(d["kind"].get<std::string>());
  EXPECT_TRUE(kinds.count("pinning") && kinds.count("memory-misplaced")) << report->dump(2);
  EXPECT_TRUE(HasEvent("alarm.pinning-drift", "memory is on NUMA nodes 1 (numatune), expected 0"));
  EXPECT_TRUE(HasEvent("alarm.pinning-drift", "corepin vm move fw --cold"));
  EXPECT_EQ((*controller_->ShowVm("fw"))["pinning_verified"], false);
  ControllerOptions repair;
  repair.repair_drift = true;
  Open(repair);
  EXPECT_FALSE(HasEvent("vm.drift-repaired"));
  EXPECT_EQ(LibvirtMemoryNodes("fw"), "1");
}

TEST_F(RepinTest, ResizeUpAndDown) {
  auto up = Resize(R"({"vcpus": 4, "memory_mib": 256})");
  ASSERT_TRUE(up.ok()) << up.error().message;
  EXPECT_EQ((*up)["pinning_verified"], true) << up->dump(2);
  EXPECT_EQ((*up)["spec"]["vcpus"], 4);
  EXPECT_EQ((*up)["old"]["pinning"]["vcpus"], json::parse("[1,2]"));
  EXPECT_EQ((*up)["assignment"]["vcpu_pcpus"].size(), 4u);
  EXPECT_EQ(LibvirtPins("fw").size(), 5u);
  EXPECT_EQ((*controller_->ListHosts())[0]["free"], 10);
  auto down = Resize(R"({"vcpus": 2, "policy": "group:light", "memory_mib": 64})");
  ASSERT_TRUE(down.ok()) << down.error().message;
  EXPECT_EQ((*down)["vcpus"][0]["pcpu"], (*down)["vcpus"][1]["pcpu"]);
  EXPECT_EQ((*controller_->ListHosts())[0]["free"], 13);
  EXPECT_EQ(json::parse(store_->GetVm("fw")->spec_json)["memory_mib"], 64);
  EXPECT_TRUE((*controller_->Reconcile())["differences"].empty());
  EXPECT_TRUE(HasEvent("vm.resized"));
  // The spec it already has: nothing restarted, nothing changed.
  auto same = Resize(R"({"vcpus": 2, "memory_mib": 64})");
  ASSERT_TRUE(same.ok()) << same.error().message;
  EXPECT_EQ((*same)["changed"], false);
  EXPECT_EQ(store_->GetVm("fw")->state, "running");
}

TEST_F(RepinTest, ResizeThatCannotFitIsRefusedUpFront) {
  NoFit no_fit;
  auto r = Resize(R"({"vcpus": 9})", &no_fit);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnprocessable);
  EXPECT_NE(r.error().message.find("host t1 node0: 7 free pCPUs, needs 9"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("nothing was changed (it still runs)"), std::string::npos);
  for (const auto& [body, expect] : std::vector<std::pair<std::string, std::string>>{
           {R"({"name": "x"})", "field \"name\" cannot change in a resize"},
           {R"({})", "a resize request is a JSON object of the fields that change"},
           {R"({"vcpus": 0})", "vcpus: 0 is out of range"}}) {
    auto bad = Resize(body);
    ASSERT_FALSE(bad.ok()) << body;
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalid) << body;
    EXPECT_NE(bad.error().message.find(expect), std::string::npos) << bad.error().message;
  }
  EXPECT_EQ(LibvirtPins("fw"), (std::vector<std::string>{"1", "2", "0,8"}));
  EXPECT_TRUE(keeper_->GetDomain("fw")->active);
}

// libvirt fails half-way through a re-pin (after the pins moved): the old pins are written back
// and verified, and the Cluster and the record are as before.
TEST_F(RepinTest, FailedRepinPutsEverythingBack) {
  connect_ = testing::FailingHypervisor::Factory({.repin_pcpu = 5});
  Open();
  const VmRecord before = *store_->GetVm("fw");
  auto r = Repin(R"({"vcpus": {"0": 5}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("failure injected"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("the old pinning was put back and verified"), std::string::npos) << r.error().message;
  EXPECT_EQ(LibvirtPins("fw"), (std::vector<std::string>{"1", "2", "0,8"}));
  EXPECT_EQ(json::parse(keeper_->GetDomain("fw")->metadata_json)["assignment"]["vcpu_pcpus"], json::parse("[1,2]"));
  VmRecord after = *store_->GetVm("fw");
  after.updated_unix = before.updated_unix;
  EXPECT_EQ(after, before);
  EXPECT_EQ((*controller_->ShowVm("fw"))["assignment"]["vcpu_pcpus"], json::parse("[1,2]"));
  EXPECT_EQ((*controller_->ListHosts())[0]["free"], 12);
  EXPECT_TRUE((*controller_->Reconcile())["differences"].empty());
  EXPECT_TRUE(HasEvent("vm.repin.failed"));
}

// libvirt fails to start the new domain: the old one is defined and started again, with its
// pinning, and the store and the Cluster are as before.
TEST_F(RepinTest, ResizeFailureRestoresTheOldVm) {
  connect_ = testing::FailingHypervisor::Factory({.define_vcpus = 3});
  Open();
  auto r = Resize(R"({"vcpus": 3})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("failure injected"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("the old VM was restored and runs with its old pinning"), std::string::npos) << r.error().message;
  EXPECT_EQ(LibvirtPins("fw"), (std::vector<std::string>{"1", "2", "0,8"}));
  EXPECT_TRUE(keeper_->GetDomain("fw")->active);
  auto rec = store_->GetVm("fw");
  EXPECT_EQ(rec->state, "running");
  EXPECT_EQ(json::parse(rec->spec_json)["vcpus"], 2);
  EXPECT_EQ((*controller_->ListHosts())[0]["free"], 12);
  EXPECT_TRUE((*controller_->Reconcile())["differences"].empty());
  EXPECT_TRUE(HasEvent("vm.resize.failed"));
}

// Group members on fixture hosts: a re-pin keeps the healing reserve whole (the reserve
// view and a restart's Cluster::Check agree); a resize is refused, the group shares one spec.
TEST(RepinGroupMember, RepinKeepsTheReserveAndResizeIsRefused) {
  char tmpl[] = "/tmp/corepin-repin-group-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  setenv("COREPIN_FIXTURE_STATE_DIR", (dir + "/fixture-hosts").c_str(), 1);
  {
    auto store = std::move(*OpenSqliteStore(dir + "/state.db"));
    auto c = std::make_unique<Controller>(store.get(), ConnectHypervisor);
    ASSERT_TRUE(c->Start().ok());
    for (int i = 1; i <= 3; ++i) {
      const std::string name = "h" + std::to_string(i);
      ASSERT_TRUE(c->AddHost({{"name", name}, {"uri", "fixture:2s32c-smt2#" + name}, {"housekeeping", "0,64"}}).ok());
    }
    NoFit no_fit;
    auto g = c->CreateGroup(json::parse(R"({"name":"fw","act":1,"sby":1,"vm":{"vcpus":2,"memory_mib":1024}})"), &no_fit);
    ASSERT_TRUE(g.ok()) << g.error().message;
    const std::string act = (*c->ShowGroup("fw"))["members"][0]["vm"];
    auto r = c->RepinVm(act, json::parse(R"({"vcpus": {"0": 30, "1": 31}})"), &no_fit);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ((*r)["new"]["vcpus"], json::parse("[30,31]"));
    EXPECT_EQ((*r)["actual"]["vcpus"][1]["libvirt"], "31");
    auto resized = c->ResizeVm(act, json{{"vcpus", 4}}, &no_fit);
    ASSERT_FALSE(resized.ok());
    EXPECT_EQ(resized.error().code, ErrorCode::kConflict);
    EXPECT_NE(resized.error().message.find("a group's members share one spec and are resized as a group"), std::string::npos);
    EXPECT_TRUE((*c->Reconcile())["differences"].empty());
    c.reset();
    // Start validates the rebuilt Cluster (Check) with the new pinning.
    c = std::make_unique<Controller>(store.get(), ConnectHypervisor);
    ASSERT_TRUE(c->Start().ok());
    EXPECT_EQ((*c->ShowVm(act))["assignment"]["vcpu_pcpus"], json::parse("[30,31]"));
    ASSERT_TRUE(c->DeleteGroup("fw").ok());
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace corepin
