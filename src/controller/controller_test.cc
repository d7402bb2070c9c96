// Controller over a real SQLite store and libvirt's built-in test driver (test:///default:
// 2 NUMA nodes x 8 pCPUs, no libvirtd needed; controller_test_fixture.h). Real QEMU pinning is
// checked in controller_e2e_test.cc.
#include "controller/controller.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "controller/controller_test_fixture.h"

namespace corepin {
namespace {

using nlohmann::json;
using testing::ControllerTest;

TEST_F(ControllerTest, AddHostReadsTopologyOverLibvirt) {
  json h = AddTestHost();
  EXPECT_EQ(h["allocatable"], "1-7,9-15");
  EXPECT_EQ(h["topology"]["nodes"].size(), 2u);
  EXPECT_EQ(h["cores"].size(), 16u);
  EXPECT_EQ(h["cores"][0]["pcpus"][0]["use"], "housekeeping");
}

TEST_F(ControllerTest, BadHostsAreRefusedAndNothingChanges) {
  AddTestHost();
  struct Case { json req; ErrorCode code; const char* expect; };
  for (const auto& c : std::vector<Case>{
           {{{"name", "t2"}, {"uri", "test:///default"}, {"housekeeping", "0"}}, ErrorCode::kConflict, "is already host t1"},
           {{{"name", "t1"}, {"uri", "test:///x"}, {"housekeeping", "0"}}, ErrorCode::kConflict, "host t1 already exists"},
           {{{"name", "t3"}, {"uri", "qemu+unix:///system?socket=/nonexistent"}, {"housekeeping", "0"}}, ErrorCode::kUnprocessable, "/nonexistent"},
           {{{"name", "t3"}, {"uri", "test:///default2"}, {"housekeeping", "99"}}, ErrorCode::kUnprocessable, ""},
           {{{"name", "bad name"}, {"uri", "test:///default"}, {"housekeeping", "0"}}, ErrorCode::kInvalid, "not a valid host name"},
           {{{"name", "t3"}, {"uri", "test:///default"}}, ErrorCode::kInvalid, "housekeeping: missing"},
           {{{"name", "t3"}, {"uri", "test:///default"}, {"housekeeping", "0"}, {"cpus", 3}}, ErrorCode::kInvalid, "unknown field \"cpus\""},
       }) {
    auto r = controller_->AddHost(c.req);
    ASSERT_FALSE(r.ok()) << c.req.dump();
    EXPECT_EQ(r.error().code, c.code) << c.req.dump() << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(controller_->ListHosts()->size(), 1u);
  EXPECT_EQ(store_->ListHosts()->size(), 1u);
}

TEST_F(ControllerTest, CreateShowDeleteWithExactPinning) {
  AddTestHost();
  auto vm = Create(R"({"name":"fw1","vcpus":3,"vcpu_policies":["dedicated","group:ctl","pinned:12"],"memory_mib":256,"numa":"spread"})");
  ASSERT_TRUE(vm.ok()) << vm.error().message;
  EXPECT_EQ((*vm)["state"], "running");
  EXPECT_EQ((*vm)["pinning_verified"], true) << vm->dump(2);
  EXPECT_EQ((*vm)["vcpus"][2]["pcpu"], 12);
  EXPECT_EQ((*vm)["vcpus"][2]["libvirt"], "12");
  auto shown = controller_->ShowVm("fw1");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ((*shown)["pinning_verified"], true);
  EXPECT_TRUE((*shown)["differences"].empty());
  auto host = controller_->ShowHost("t1");
  int owned = 0;
  for (const auto& core : (*host)["cores"])
    for (const auto& p : core["pcpus"]) owned += p["owner"] == "fw1" || p["owner"] == "ctl";
  EXPECT_EQ(owned, 3);
  ASSERT_TRUE(controller_->DeleteVm("fw1").ok());
  EXPECT_EQ(controller_->ShowVm("fw1").error().code, ErrorCode::kNotFound);
  EXPECT_EQ((*controller_->ListHosts())[0]["free"], 14);
}

TEST_F(ControllerTest, BadVmsAreRefusedAndNothingChanges) {
  AddTestHost();
  ASSERT_TRUE(Create(R"({"name":"a","vcpus":1,"memory_mib":128})").ok());
  struct Case { const char* spec; ErrorCode code; const char* expect; };
  for (auto c : std::vector<Case>{
           {R"({"name":"a","vcpus":1,"memory_mib":128})", ErrorCode::kConflict, "VM a already exists on host t1"},
           {R"({"name":"b","vcpus":0,"memory_mib":128})", ErrorCode::kInvalid, "vcpus: 0"},
           {R"({"name":"b","vcpus":1,"memory_mib":128,"bogus":1})", ErrorCode::kInvalid, "unknown field \"bogus\""},
           {R"({"name":"b","vcpus":1,"policy":"pinned:0","memory_mib":128})", ErrorCode::kUnprocessable, "pCPU 0 is housekeeping"},
           {R"({"name":"b","vcpus":1,"policy":"pinned:99","memory_mib":128})", ErrorCode::kUnprocessable, "pCPU 99 does not exist"},
           {R"({"name":"b","vcpus":9,"memory_mib":128})", ErrorCode::kUnprocessable, "host t1 node1: 7 free pCPUs, needs 9"},
           // A standalone VM is named a VM, not a group's member with a role (issue 24).
           {R"({"name":"b","vcpus":9,"memory_mib":128})", ErrorCode::kUnprocessable, "VM b: no host (9 vCPUs"},
           {R"({"name":"b","vcpus":9,"memory_mib":128})", ErrorCode::kUnprocessable, "b (place VM): 1 hosts"},
           {R"({"name":"b","vcpus":1,"memory_mib":128,"host":"nope"})", ErrorCode::kNotFound, "host nope is not known"},
       }) {
    NoFit no_fit;
    auto r = controller_->CreateVm(json::parse(c.spec), &no_fit);
    ASSERT_FALSE(r.ok()) << c.spec;
    EXPECT_EQ(r.error().code, c.code) << c.spec << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(controller_->ListVms()->size(), 1u);
  EXPECT_EQ((*controller_->ListHosts())[0]["free"], 13);
}

// Issue 24: a VM with interfaces on a host without a bridge gets the same answer standalone
// and in a group: 422 once placed, before anything is stored or started.
TEST_F(ControllerTest, InterfacesWithoutABridgeAreRefusedUpFrontForVmsAndGroups) {
  AddTestHost();
  NoFit no_fit;
  auto vm = controller_->CreateVm(json::parse(R"({"name":"b","vcpus":1,"memory_mib":128,"interfaces":[{"name":"svc"}]})"), &no_fit);
  ASSERT_FALSE(vm.ok());
  EXPECT_EQ(vm.error().code, ErrorCode::kUnprocessable) << vm.error().message;
  EXPECT_NE(vm.error().message.find("VM b has 1 interface(s) and would go on host t1, which has no bridge"), std::string::npos)
      << vm.error().message;
  auto group = controller_->CreateGroup(
      json::parse(R"({"name":"g","vm":{"vcpus":1,"memory_mib":128,"interfaces":[{"name":"svc"}]},"act":1,"protect":false})"), &no_fit);
  ASSERT_FALSE(group.ok());
  EXPECT_EQ(group.error().code, ErrorCode::kUnprocessable) << group.error().message;
  EXPECT_NE(group.error().message.find("has 1 interface(s) and would go on host t1, which has no bridge"), std::string::npos)
      << group.error().message;
  EXPECT_TRUE(controller_->ListVms()->empty());
  EXPECT_TRUE(controller_->ListGroups()->empty());
  EXPECT_TRUE(keeper_->ListCorepinDomains()->empty());
  EXPECT_EQ((*controller_->ListHosts())[0]["free"], 14);
}

TEST_F(ControllerTest, RestartLosesNothing) {
  AddTestHost();
  auto a = Create(R"({"name":"a","vcpus":2,"smt":"isolate","emulator":"isolate","memory_mib":128})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  json before = *controller_->ShowHost("t1");
  Open();
  json after = *controller_->ShowHost("t1");
  EXPECT_EQ(before["cores"], after["cores"]);
  auto r = controller_->Reconcile();
  EXPECT_TRUE((*r)["differences"].empty()) << r->dump(2);
  EXPECT_EQ((*controller_->ShowVm("a"))["assignment"], (*a)["assignment"]);
}

TEST_F(ControllerTest, InterruptedCreateIsUndoneOnStart) {
  AddTestHost();
  // A crash after the intent was stored but before the domain was defined.
  VmRecord rec{.name = "ghost", .host = "t1",
               .spec_json = R"({"name":"ghost","vcpus":1,"memory_mib":128})",
               .assignment_json = R"({"host":"t1","vcpu_pcpus":[1],"emulator":"0,8","exclusive":"1","reserved_siblings":"","groups":{},"memory_mib":{"0":128},"page_size":"4K"})",
               .state = "creating"};
  ASSERT_TRUE(store_->InsertVm(rec).ok());
  Open();
  EXPECT_EQ(store_->GetVm("ghost").error().code, ErrorCode::kNotFound);
  EXPECT_EQ((*controller_->ListHosts())[0]["free"], 14);
}

TEST_F(ControllerTest, ReconcileReportsDrift) {
  AddTestHost();
  ASSERT_TRUE(Create(R"({"name":"a","vcpus":1,"memory_mib":128})").ok());
  // Someone removes the domain behind corepin's back.
  auto hv = ConnectHypervisor("test:///default");
  ASSERT_TRUE((*hv)->DestroyAndUndefine("a").ok());
  auto r = controller_->Reconcile();
  ASSERT_EQ((*r)["differences"].size(), 1u) << r->dump(2);
  EXPECT_EQ((*r)["differences"][0]["kind"], "missing");
  auto events = controller_->Events(0, 100);
  EXPECT_EQ(events->back()["kind"], "reconcile.missing");
}

TEST_F(ControllerTest, HostWithVmsCannotBeRemoved) {
  AddTestHost();
  ASSERT_TRUE(Create(R"({"name":"a","vcpus":1,"memory_mib":128})").ok());
  auto s = controller_->RemoveHost("t1");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kConflict);
  EXPECT_NE(s.error().message.find("still has VMs: a"), std::string::npos);
  ASSERT_TRUE(controller_->DeleteVm("a").ok());
  ASSERT_TRUE(controller_->RemoveHost("t1").ok());
  EXPECT_TRUE(controller_->ListHosts()->empty());
}

}  // namespace
}  // namespace corepin

namespace corepin {
namespace {

TEST(LocalQemuRunDir, FollowsTheLabsSocketSymlink) {
  EXPECT_EQ(LocalQemuRunDir("qemu:///system"), "/run/libvirt/qemu");
  EXPECT_EQ(LocalQemuRunDir("qemu+unix:///system?socket=/proc/42/root/run/libvirt/libvirt-sock"), "/proc/42/root/run/libvirt/qemu");
  EXPECT_EQ(LocalQemuRunDir("qemu+ssh://root@h1/system"), "");
  EXPECT_EQ(LocalQemuRunDir("test:///default"), "");
  char tmpl[] = "/tmp/corepin-sock-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  ASSERT_EQ(symlink("/proc/77/root/run/libvirt/libvirt-sock", (dir + "/libvirt-sock").c_str()), 0);
  EXPECT_EQ(LocalQemuRunDir("qemu+unix:///system?socket=" + dir + "/libvirt-sock"), "/proc/77/root/run/libvirt/qemu");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace corepin
