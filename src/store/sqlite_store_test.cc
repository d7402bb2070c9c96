#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace corepin {
namespace {

namespace fs = std::filesystem;

// The first column of the first row of `sql`, read over a connection of its own.
std::string RawQuery(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  std::string out = "<error>";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK) {
      int rc = sqlite3_step(st);
      if (rc == SQLITE_ROW) out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      if (rc == SQLITE_DONE) out = "";
    } else {
      out = std::string("<error: ") + sqlite3_errmsg(db) + ">";
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

HostRecord Host(const std::string& name) {
  return {name, "qemu+ssh://" + name + "/system", R"({"housekeeping":"0"})", "<capabilities/>", 1700000000};
}
VmRecord Vm(const std::string& name, const std::string& host, std::string state = "creating") {
  return {name, host, R"({"vcpus":2})", R"({"vcpu_pcpus":[2,3]})", std::move(state), 1700000100};
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "corepin-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "state.db").string();
    Open();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void Open() {
    auto s = OpenSqliteStore(path_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(SqliteStoreTest, Hosts) {
  ASSERT_TRUE(store_->PutHost(Host("h2")).ok());
  ASSERT_TRUE(store_->PutHost(Host("h1")).ok());

  auto dup = store_->PutHost(Host("h1"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_NE(dup.error().message.find("\"h1\""), std::string::npos) << dup.error().message;

  auto h = store_->GetHost("h1");
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(*h, Host("h1"));

  auto list = store_->ListHosts();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "h1");
  EXPECT_EQ((*list)[1].name, "h2");

  auto missing = store_->GetHost("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("\"nope\""), std::string::npos);

  ASSERT_TRUE(store_->DeleteHost("h2").ok());
  EXPECT_EQ(store_->DeleteHost("h2").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListHosts()->size(), 1u);

  EXPECT_EQ(store_->PutHost(Host("")).error().code, ErrorCode::kInvalid);

  HostRecord now = Host("h3");
  now.created_unix = 0;
  ASSERT_TRUE(store_->PutHost(now).ok());
  EXPECT_GT(store_->GetHost("h3")->created_unix, 1700000000);
}

TEST_F(SqliteStoreTest, Vms) {
  ASSERT_TRUE(store_->PutHost(Host("h1")).ok());
  ASSERT_TRUE(store_->PutHost(Host("h2")).ok());
  ASSERT_TRUE(store_->InsertVm(Vm("fw-b", "h1")).ok());
  ASSERT_TRUE(store_->InsertVm(Vm("fw-a", "h1")).ok());
  ASSERT_TRUE(store_->InsertVm(Vm("nat", "h2")).ok());

  auto dup = store_->InsertVm(Vm("fw-a", "h2"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_NE(dup.error().message.find("VM \"fw-a\" already exists"), std::string::npos) << dup.error().message;

  auto vm = store_->GetVm("fw-a");
  ASSERT_TRUE(vm.ok());
  EXPECT_EQ(*vm, Vm("fw-a", "h1"));

  auto all = store_->ListVms();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "fw-a");
  EXPECT_EQ((*all)[2].name, "nat");
  auto on_h1 = store_->ListVms("h1");
  ASSERT_TRUE(on_h1.ok());
  ASSERT_EQ(on_h1->size(), 2u);
  EXPECT_EQ((*on_h1)[1].name, "fw-b");
  EXPECT_EQ(store_->ListVms("h9").error().code, ErrorCode::kNotFound);

  // Whole-record update, including a move to another host.
  VmRecord moved = Vm("fw-a", "h2", "running");
  moved.assignment_json = R"({"vcpu_pcpus":[4,5]})";
  ASSERT_TRUE(store_->UpdateVm(moved).ok());
  EXPECT_EQ(*store_->GetVm("fw-a"), moved);
  EXPECT_EQ(store_->ListVms("h2")->size(), 2u);

  auto upd_missing = store_->UpdateVm(Vm("ghost", "h1"));
  EXPECT_EQ(upd_missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(upd_missing.error().message.find("\"ghost\""), std::string::npos);
  EXPECT_EQ(store_->GetVm("ghost").error().code, ErrorCode::kNotFound);
  EXPECT_NE(store_->GetVm("ghost").error().message.find("VM \"ghost\" not found"), std::string::npos);

  ASSERT_TRUE(store_->DeleteVm("nat").ok());
  EXPECT_EQ(store_->DeleteVm("nat").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListVms()->size(), 2u);
}

TEST_F(SqliteStoreTest, VmValidation) {
  ASSERT_TRUE(store_->PutHost(Host("h1")).ok());
  auto bad_state = store_->InsertVm(Vm("v", "h1", "paused"));
  EXPECT_EQ(bad_state.error().code, ErrorCode::kInvalid);
  EXPECT_NE(bad_state.error().message.find("\"paused\""), std::string::npos);
  for (const char* s : {"creating", "running", "deleting", "failed"}) EXPECT_TRUE(IsValidVmState(s)) << s;

  ASSERT_TRUE(store_->InsertVm(Vm("v", "h1")).ok());
  EXPECT_EQ(store_->UpdateVm(Vm("v", "h1", "")).error().code, ErrorCode::kInvalid);
  EXPECT_EQ(store_->InsertVm(Vm("", "h1")).error().code, ErrorCode::kInvalid);

  auto no_host = store_->InsertVm(Vm("w", "h9"));
  EXPECT_EQ(no_host.error().code, ErrorCode::kNotFound);
  EXPECT_NE(no_host.error().message.find("\"h9\""), std::string::npos);
  EXPECT_EQ(store_->UpdateVm(Vm("v", "h9")).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetVm("v")->host, "h1");
}

TEST_F(SqliteStoreTest, HostWithVmsCannotBeDeleted) {
  ASSERT_TRUE(store_->PutHost(Host("h1")).ok());
  ASSERT_TRUE(store_->InsertVm(Vm("fw-act", "h1")).ok());
  ASSERT_TRUE(store_->InsertVm(Vm("nat-sby", "h1")).ok());

  auto del = store_->DeleteHost("h1");
  ASSERT_FALSE(del.ok());
  EXPECT_EQ(del.error().code, ErrorCode::kConflict);
  EXPECT_NE(del.error().message.find("fw-act, nat-sby"), std::string::npos) << del.error().message;
  EXPECT_TRUE(store_->GetHost("h1").ok());

  // The foreign key holds on its own, for a writer that skips the store's check.
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA foreign_keys=ON", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "DELETE FROM hosts WHERE name = 'h1'", nullptr, nullptr, nullptr) & 0xff, SQLITE_CONSTRAINT);
  sqlite3_close(db);
  Open();

  ASSERT_TRUE(store_->DeleteVm("fw-act").ok());
  ASSERT_TRUE(store_->DeleteVm("nat-sby").ok());
  EXPECT_TRUE(store_->DeleteHost("h1").ok());
}

TEST_F(SqliteStoreTest, Events) {
  int64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    auto id = store_->AppendEvent({.kind = "reconcile.diff", .subject = "vm" + std::to_string(i), .message = "m"});
    ASSERT_TRUE(id.ok()) << id.error().message;
    EXPECT_GT(*id, last);
    last = *id;
  }
  auto page1 = store_->ListEvents(0, 3);
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->size(), 3u);
  EXPECT_EQ((*page1)[0].subject, "vm0");
  EXPECT_GT((*page1)[0].unix_ms, 1700000000000);
  auto page2 = store_->ListEvents(page1->back().id, 3);
  ASSERT_EQ(page2->size(), 2u);
  EXPECT_EQ((*page2)[1].subject, "vm4");
  EXPECT_TRUE(store_->ListEvents(last, 10)->empty());

  EXPECT_EQ(store_->ListEvents(0, 0).error().code, ErrorCode::kInvalid);
  EXPECT_EQ(store_->AppendEvent({.kind = ""}).error().code, ErrorCode::kInvalid);
  auto given = store_->AppendEvent({.unix_ms = 42, .kind = "k"});
  EXPECT_EQ(store_->ListEvents(last, 1)->at(0), (EventRecord{*given, 42, "k", "", ""}));
}

TEST_F(SqliteStoreTest, TransactionCommitsTogether) {
  ASSERT_TRUE(store_->PutHost(Host("h1")).ok());
  Result<int64_t> id = store_->Transaction([&]() -> Result<int64_t> {
    if (auto s = store_->InsertVm(Vm("v", "h1")); !s.ok()) return s.error();
    return store_->AppendEvent({.kind = "vm.creating", .subject = "v"});
  });
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_TRUE(store_->GetVm("v").ok());
  EXPECT_EQ(store_->ListEvents(0, 10)->at(0).id, *id);
}

TEST_F(SqliteStoreTest, TransactionRollsBackOnError) {
  ASSERT_TRUE(store_->PutHost(Host("h1")).ok());
  ASSERT_TRUE(store_->InsertVm(Vm("exists", "h1")).ok());

  // The second insert fails: the first one and the event go too.
  Status s = store_->Transaction([&]() -> Status {
    if (auto s = store_->InsertVm(Vm("new", "h1")); !s.ok()) return s;
    if (auto e = store_->AppendEvent({.kind = "vm.creating", .subject = "new"}); !e.ok()) return e.error();
    return store_->InsertVm(Vm("exists", "h1"));
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kConflict);
  EXPECT_EQ(store_->GetVm("new").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(store_->ListEvents(0, 10)->empty());

  // A caller's own error rolls back as well.
  Result<int> r = store_->Transaction([&]() -> Result<int> {
    if (auto s = store_->DeleteVm("exists"); !s.ok()) return s.error();
    return Unprocessable("changed my mind");
  });
  EXPECT_EQ(r.error().message, "changed my mind");
  EXPECT_TRUE(store_->GetVm("exists").ok());

  // An exception rolls back and propagates.
  EXPECT_THROW((void)store_->Transaction([&]() -> Status {
    (void)store_->DeleteVm("exists");
    throw std::runtime_error("boom");
  }), std::runtime_error);
  EXPECT_TRUE(store_->GetVm("exists").ok());

  // The store is usable after all of that.
  EXPECT_TRUE(store_->InsertVm(Vm("after", "h1")).ok());
}

TEST_F(SqliteStoreTest, NestedTransactionUndoesOnlyItsOwnWrites) {
  ASSERT_TRUE(store_->PutHost(Host("h1")).ok());
  Status s = store_->Transaction([&]() -> Status {
    if (auto s = store_->InsertVm(Vm("outer", "h1")); !s.ok()) return s;
    Status inner = store_->Transaction([&]() -> Status {
      if (auto s = store_->InsertVm(Vm("inner", "h1")); !s.ok()) return s;
      return Conflict("inner gives up");
    });
    EXPECT_FALSE(inner.ok());
    EXPECT_EQ(store_->GetVm("inner").error().code, ErrorCode::kNotFound);  // undone already
    return store_->Transaction([&] { return store_->InsertVm(Vm("inner2", "h1")); });
  });
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(store_->ListVms()->size(), 2u);  // inner2, outer
}

TEST_F(SqliteStoreTest, ReopenKeepsEverything) {
  ASSERT_TRUE(store_->PutHost(Host("h1")).ok());
  ASSERT_TRUE(store_->InsertVm(Vm("v1", "h1", "running")).ok());
  auto ev = store_->AppendEvent({.unix_ms = 7, .kind = "vm.running", .subject = "v1", .message = "pinned"});
  ASSERT_TRUE(ev.ok());
  store_.reset();  // the "restart"
  Open();
  EXPECT_EQ(*store_->GetHost("h1"), Host("h1"));
  EXPECT_EQ(*store_->GetVm("v1"), Vm("v1", "h1", "running"));
  EXPECT_EQ(store_->ListEvents(0, 10)->at(0), (EventRecord{*ev, 7, "vm.running", "v1", "pinned"}));
  EXPECT_EQ(RawQuery(path_, "SELECT version FROM schema_version"), std::to_string(kSqliteSchemaVersion));
  EXPECT_EQ(RawQuery(path_, "PRAGMA journal_mode"), "wal");
  // Reopening does not re-run migrations or duplicate the version row.
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM schema_version"), "1");
}

TEST_F(SqliteStoreTest, Groups) {
  GroupRecord g{.name = "fw", .config_json = R"({"members":[]})", .state = "creating", .updated_unix = 5};
  ASSERT_TRUE(store_->InsertGroup(g).ok());
  auto dup = store_->InsertGroup(g);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_EQ(*store_->GetGroup("fw"), g);
  g.state = "switching";
  ASSERT_TRUE(store_->UpdateGroup(g).ok());
  EXPECT_EQ(store_->GetGroup("fw")->state, "switching");
  EXPECT_EQ(store_->UpdateGroup({.name = "nope", .config_json = "{}", .state = "running"}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->InsertGroup({.name = "bad", .config_json = "{}", .state = "odd"}).error().code, ErrorCode::kInvalid);
  ASSERT_TRUE(store_->InsertGroup({.name = "a", .config_json = "{}", .state = "running"}).ok());
  auto all = store_->ListGroups();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "a");
  ASSERT_TRUE(store_->DeleteGroup("fw").ok());
  EXPECT_EQ(store_->GetGroup("fw").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->DeleteGroup("fw").error().code, ErrorCode::kNotFound);
}

// A file written by schema version 2 (as corepind wrote it before host states and operations)
// is upgraded in place, keeping its rows; the new states and tables work after.
TEST_F(SqliteStoreTest, VersionTwoFileIsUpgraded) {
  store_.reset();
  fs::remove(path_);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr), SQLITE_OK);
  const char* v2 = R"sql(
    CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES(2);
    CREATE TABLE hosts (name TEXT PRIMARY KEY NOT NULL, uri TEXT NOT NULL, config_json TEXT NOT NULL,
                        topology_xml TEXT NOT NULL, created_unix INTEGER NOT NULL);
    CREATE TABLE vms (name TEXT PRIMARY KEY NOT NULL, host TEXT NOT NULL REFERENCES hosts(name) ON DELETE RESTRICT,
                      spec_json TEXT NOT NULL, assignment_json TEXT NOT NULL,
                      state TEXT NOT NULL CHECK (state IN ('creating', 'running', 'deleting', 'failed')),
                      updated_unix INTEGER NOT NULL);
    CREATE INDEX vms_by_host ON vms(host);
    CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, unix_ms INTEGER NOT NULL, kind TEXT NOT NULL,
                         subject TEXT NOT NULL, message TEXT NOT NULL);
    CREATE TABLE groups (name TEXT PRIMARY KEY NOT NULL, config_json TEXT NOT NULL, state TEXT NOT NULL
                         CHECK (state IN ('creating', 'running', 'deleting', 'switching')), updated_unix INTEGER NOT NULL);
    INSERT INTO hosts VALUES('h1', 'qemu+ssh://h1/system', '{"housekeeping":"0"}', '<capabilities/>', 1700000000);
    INSERT INTO vms VALUES('v1', 'h1', '{"vcpus":2}', '{"vcpu_pcpus":[2,3]}', 'running', 1700000100);
  )sql";
  ASSERT_EQ(sqlite3_exec(db, v2, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  Open();
  EXPECT_EQ(RawQuery(path_, "SELECT version FROM schema_version"), std::to_string(kSqliteSchemaVersion));
  EXPECT_EQ(*store_->GetHost("h1"), Host("h1"));
  EXPECT_EQ(*store_->GetVm("v1"), Vm("v1", "h1", "running"));
  EXPECT_TRUE(store_->UpdateVm(Vm("v1", "h1", "healing")).ok());
  EXPECT_TRUE(store_->SetHostState("h1", kHostFailed).ok());
  EXPECT_TRUE(store_->InsertOperation({.name = "heal-1", .kind = "heal", .state = "fencing", .body_json = "{}"}).ok());
  // The foreign key survived the rebuild of the vms table.
  EXPECT_EQ(store_->InsertVm(Vm("v2", "nowhere")).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(RawQuery(path_, "PRAGMA foreign_key_check"), "");
}

TEST_F(SqliteStoreTest, HostStates) {
  ASSERT_TRUE(store_->PutHost(Host("h1")).ok());
  EXPECT_EQ(store_->GetHost("h1")->state, "active");
  ASSERT_TRUE(store_->SetHostState("h1", kHostFailed).ok());
  EXPECT_EQ(store_->GetHost("h1")->state, "failed");
  EXPECT_EQ(store_->ListHosts()->at(0).state, "failed");
  EXPECT_EQ(store_->SetHostState("h1", "broken").error().code, ErrorCode::kInvalid);
  EXPECT_EQ(store_->GetHost("h1")->state, "failed");
  EXPECT_EQ(store_->SetHostState("nope", kHostActive).error().code, ErrorCode::kNotFound);
}

TEST_F(SqliteStoreTest, Operations) {
  OperationRecord op{.name = "heal-h2", .kind = "heal", .state = "fencing", .body_json = R"({"hosts":["h2"]})",
                     .created_unix = 10, .updated_unix = 10};
  ASSERT_TRUE(store_->InsertOperation(op).ok());
  EXPECT_EQ(store_->InsertOperation(op).error().code, ErrorCode::kConflict);
  EXPECT_EQ(*store_->GetOperation("heal-h2"), op);
  op.state = "promoting";
  op.updated_unix = 11;
  ASSERT_TRUE(store_->UpdateOperation(op).ok());
  EXPECT_EQ(store_->GetOperation("heal-h2")->state, "promoting");
  ASSERT_TRUE(store_->InsertOperation({.name = "drain-h1", .kind = "drain", .state = "moving", .body_json = "{}", .created_unix = 12}).ok());
  EXPECT_EQ(store_->ListOperations()->size(), 2u);
  ASSERT_EQ(store_->ListOperations("heal")->size(), 1u);
  EXPECT_EQ(store_->ListOperations("heal")->at(0).name, "heal-h2");
  EXPECT_EQ(store_->UpdateOperation({.name = "nope", .state = "x"}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->InsertOperation({.name = "", .kind = "heal", .state = "x"}).error().code, ErrorCode::kInvalid);
  ASSERT_TRUE(store_->DeleteOperation("heal-h2").ok());
  EXPECT_EQ(store_->GetOperation("heal-h2").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->DeleteOperation("heal-h2").error().code, ErrorCode::kNotFound);
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  store_.reset();
  RawQuery(path_, "UPDATE schema_version SET version = 99");
  auto s = OpenSqliteStore(path_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnprocessable);
  EXPECT_NE(s.error().message.find("schema version 99"), std::string::npos) << s.error().message;
}

TEST_F(SqliteStoreTest, ConcurrentTransactionsDoNotInterleave) {
  ASSERT_TRUE(store_->PutHost(Host("h1")).ok());
  constexpr int kThreads = 4, kEach = 25;
  std::atomic<int> failures = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
        Status s = store_->Transaction([&]() -> Status {
          size_t before = store_->ListVms()->size();
          if (auto s = store_->InsertVm(Vm(name, "h1")); !s.ok()) return s;
          // Nobody else wrote in between.
          if (store_->ListVms()->size() != before + 1) return Internal("interleaved");
          auto e = store_->AppendEvent({.kind = "vm.creating", .subject = name});
          return e.ok() ? Status::Ok() : Status(e.error());
        });
        if (!s.ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(store_->ListVms()->size(), size_t{kThreads * kEach});
  EXPECT_EQ(store_->ListEvents(0, 1000)->size(), size_t{kThreads * kEach});
}

// Forks a child that writes VMs vm-<start>, vm-<start+1>, ... one transaction each (insert,
// event, state update) and reports each commit through a pipe; kills it with SIGKILL once
// `count` commits are reported. Returns the index of the last reported commit, or -1.
int WriteUntilKilled(const std::string& path, int start, int count) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(fds[0]);
    auto store = OpenSqliteStore(path);
    if (!store.ok()) _exit(2);
    std::string big(4096, 'x');  // longer commits: the kill more likely lands inside one
    for (int i = start;; ++i) {
      std::string name = "vm-" + std::to_string(i);
      Status s = (*store)->Transaction([&]() -> Status {
        VmRecord vm = Vm(name, "h1");
        vm.spec_json = big;
        if (auto s = (*store)->InsertVm(vm); !s.ok()) return s;
        auto e = (*store)->AppendEvent({.kind = "vm.creating", .subject = name});
        if (!e.ok()) return e.error();
        vm.state = "running";
        return (*store)->UpdateVm(vm);
      });
      if (!s.ok()) _exit(3);
      if (write(fds[1], &i, sizeof i) != sizeof i) _exit(4);
    }
  }
  close(fds[1]);
  int last = -1, got;
  pollfd p{fds[0], POLLIN, 0};
  while (last < start + count - 1 && poll(&p, 1, 30000) == 1 && read(fds[0], &got, sizeof got) == sizeof got)
    last = got;
  kill(pid, SIGKILL);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  while (read(fds[0], &got, sizeof got) == sizeof got) last = got;  // reported just before the kill
  close(fds[0]);
  if (!WIFSIGNALED(wstatus) || WTERMSIG(wstatus) != SIGKILL) {
    ADD_FAILURE() << "the child exited on its own, status " << wstatus;
    return -1;
  }
  return last;
}

// Every reported commit survives SIGKILL, no transaction is half there, and the file passes
// integrity_check. Several rounds, so recovery also runs over a previously recovered file.
TEST_F(SqliteStoreTest, SurvivesSigkillMidWrite) {
  ASSERT_TRUE(store_->PutHost(Host("h1")).ok());
  for (int round = 0; round < 3; ++round) {
    const int start = static_cast<int>(store_->ListVms()->size());
    store_.reset();  // the child opens its own connection; none may cross fork()
    const int last = WriteUntilKilled(path_, start, 60 + 37 * round);
    ASSERT_GE(last, start + 59) << "the child stopped reporting commits";

    ASSERT_EQ(RawQuery(path_, "PRAGMA integrity_check"), "ok");
    Open();
    auto vms = store_->ListVms();
    auto events = store_->ListEvents(0, 1000000);
    ASSERT_TRUE(vms.ok() && events.ok());
    // Everything reported is there; at most one more commit landed before its report.
    ASSERT_GE(vms->size(), size_t(last + 1));
    ASSERT_LE(vms->size(), size_t(last + 2));
    ASSERT_EQ(events->size(), vms->size());
    for (size_t i = 0; i < vms->size(); ++i) {
      std::string name = "vm-" + std::to_string(i);
      auto vm = store_->GetVm(name);
      ASSERT_TRUE(vm.ok()) << vm.error().message;
      EXPECT_EQ(vm->state, "running") << name;  // never the half-done "creating"
      EXPECT_EQ(vm->spec_json.size(), 4096u);
      EXPECT_EQ((*events)[i].subject, name);
    }
  }
  EXPECT_TRUE(store_->InsertVm(Vm("after-crash", "h1")).ok());
}

}  // namespace
}  // namespace corepin

namespace corepin {
namespace {

// Lost state is never taken for an empty cluster: a 0-byte file, or the main file without its
// -wal (which held every write since the last checkpoint), is refused unless --init says so.
TEST(SqliteStateFile, LostStateIsRefusedUnlessInitSaysSo) {
  const fs::path dir = fs::temp_directory_path() / ("corepin_state_file_test." + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string fresh = (dir / "fresh.db").string();
  EXPECT_TRUE(CheckSqliteStateFile(fresh, false).ok()) << "a first start creates the file";

  const std::string empty = (dir / "empty.db").string();
  { std::ofstream touch(empty); }
  Status s = CheckSqliteStateFile(empty, false);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("0 bytes"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("--init"), std::string::npos) << s.error().message;
  EXPECT_TRUE(CheckSqliteStateFile(empty, true).ok());

  // A store with a host in its WAL; a copy of the main file alone has no tables yet.
  const std::string live = (dir / "live.db").string(), copy = (dir / "copy.db").string();
  auto store = OpenSqliteStore(live);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->PutHost({.name = "h1", .uri = "qemu:///system"}).ok());
  fs::copy_file(live, copy);
  ASSERT_TRUE(fs::exists(live + "-wal"));
  Status no_wal = CheckSqliteStateFile(copy, false);
  ASSERT_FALSE(no_wal.ok());
  EXPECT_NE(no_wal.error().message.find("no corepin"), std::string::npos) << no_wal.error().message;
  EXPECT_NE(no_wal.error().message.find("-wal"), std::string::npos) << no_wal.error().message;
  // The same file with its -wal is the whole state.
  fs::copy_file(live + "-wal", copy + "-wal", fs::copy_options::overwrite_existing);
  EXPECT_TRUE(CheckSqliteStateFile(copy, false).ok());
  store->reset();
  EXPECT_TRUE(CheckSqliteStateFile(live, false).ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace corepin
