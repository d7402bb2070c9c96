// The controller over a real SQLite store and libvirt's built-in test driver (test:///default:
// 2 NUMA nodes x 8 pCPUs, no libvirtd needed), shared by the controller's unit tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "controller/controller.h"
#include "store/sqlite_store.h"

namespace corepin::testing {

using nlohmann::json;

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/corepin-controller-XXXXXX";
    dir_ = mkdtemp(tmpl);
    // test:///default keeps its domains only while a connection is open: this one spans the
    // controller restarts, as a real libvirtd outlives corepind.
    keeper_ = std::move(*ConnectHypervisor("test:///default"));
    Open();
  }
  void TearDown() override {
    controller_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // (Re)starts the controller over the same database, like a corepind restart.
  void Open(ControllerOptions options = {}) {
    controller_.reset();
    store_.reset();
    store_ = std::move(*OpenSqliteStore(dir_ + "/state.db"));
    controller_ = std::make_unique<Controller>(store_.get(), connect_, options);
    Status s = controller_->Start();
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  json AddTestHost() {
    auto r = controller_->AddHost(json{{"name", "t1"}, {"uri", "test:///default"}, {"housekeeping", "0,8"}});
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : json();
  }
  Result<json> Create(const std::string& spec) {
    NoFit no_fit;
    return controller_->CreateVm(json::parse(spec), &no_fit);
  }
  std::string dir_;
  HypervisorFactory connect_ = ConnectHypervisor;  // how the next Open() connects to hosts
  std::unique_ptr<Hypervisor> keeper_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace corepin::testing
