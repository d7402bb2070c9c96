#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <iterator>
#include <map>
#include <mutex>
#include <utility>

namespace corepin {
namespace {

// Schema migrations: kMigrations[i] upgrades version i to i+1. To change the schema, append a
// script and bump kSqliteSchemaVersion; never edit a script that has shipped.
const char* const kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
      CREATE TABLE hosts (
        name         TEXT PRIMARY KEY NOT NULL,
        uri          TEXT NOT NULL,
        config_json  TEXT NOT NULL,
        topology_xml TEXT NOT NULL,
        created_unix INTEGER NOT NULL
      );
      CREATE TABLE vms (
        name            TEXT PRIMARY KEY NOT NULL,
        host            TEXT NOT NULL REFERENCES hosts(name) ON DELETE RESTRICT,
        spec_json       TEXT NOT NULL,
        assignment_json TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('creating', 'running', 'deleting', 'failed')),
        updated_unix    INTEGER NOT NULL
      );
      CREATE INDEX vms_by_host ON vms(host);
      -- AUTOINCREMENT: event ids are never reused, so (after_id) is a safe cursor.
      CREATE TABLE events (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        unix_ms INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        subject TEXT NOT NULL,
        message TEXT NOT NULL
      );
    )sql",
    // 1 -> 2: redundancy groups.
    R"sql(
      CREATE TABLE groups (
        name         TEXT PRIMARY KEY NOT NULL,
        config_json  TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('creating', 'running', 'deleting', 'switching')),
        updated_unix INTEGER NOT NULL
      );
    )sql",
    // 2 -> 3: host states (failed, drained), more VM states (healing, lost, repinning, ...),
    // and durable long operations (healings, drains). SQLite cannot change a CHECK in place:
    // the vms table is rebuilt.
    R"sql(
      ALTER TABLE hosts ADD COLUMN state TEXT NOT NULL DEFAULT 'active'
        CHECK (state IN ('active', 'failed', 'draining', 'drained'));
      CREATE TABLE vms_v3 (
        name            TEXT PRIMARY KEY NOT NULL,
        host            TEXT NOT NULL REFERENCES hosts(name) ON DELETE RESTRICT,
        spec_json       TEXT NOT NULL,
        assignment_json TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('creating', 'running', 'deleting', 'failed', 'healing',
                                                       'lost', 'repinning', 'resizing', 'moving')),
        updated_unix    INTEGER NOT NULL
      );
      INSERT INTO vms_v3 SELECT name, host, spec_json, assignment_json, state, updated_unix FROM vms;
      DROP TABLE vms;
      ALTER TABLE vms_v3 RENAME TO vms;
      CREATE INDEX vms_by_host ON vms(host);
      CREATE TABLE operations (
        name         TEXT PRIMARY KEY NOT NULL,
        kind         TEXT NOT NULL,
        state        TEXT NOT NULL,
        body_json    TEXT NOT NULL,
        created_unix INTEGER NOT NULL,
        updated_unix INTEGER NOT NULL
      );
    )sql",
};
static_assert(std::size(kMigrations) == kSqliteSchemaVersion);

constexpr int kBusyTimeoutMs = 5000;

int64_t NowUnixMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
int64_t OrNowUnix(int64_t t) { return t != 0 ? t : NowUnixMs() / 1000; }

std::string Quote(const std::string& name) { return "\"" + name + "\""; }

// A cached prepared statement in use: bind, step, read columns. Reset when it goes out of scope,
// so it is ready for the next caller.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(Stmt&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    if (s_ == nullptr) return;
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  // Binding errors (only SQLITE_TOOBIG in practice) leave the parameter NULL, which every
  // NOT NULL column then rejects at Step.
  Stmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  std::string Text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }

 private:
  sqlite3_stmt* s_;
};

HostRecord ReadHost(const Stmt& s) {
  return {s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4), s.Text(5)};
}
OperationRecord ReadOperation(const Stmt& s) {
  return {s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4), s.Int(5)};
}
VmRecord ReadVm(const Stmt& s) {
  return {s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Int(5)};
}
EventRecord ReadEvent(const Stmt& s) {
  return {s.Int(0), s.Int(1), s.Text(2), s.Text(3), s.Text(4)};
}

Status ValidateVm(const VmRecord& vm) {
  if (vm.name.empty()) return Invalid("VM name must not be empty");
  if (vm.host.empty()) return Invalid("VM " + Quote(vm.name) + ": host must not be empty");
  if (!IsValidVmState(vm.state)) {
    std::string states;
    for (auto v : kVmStates) states += (states.empty() ? "" : ", ") + std::string(v);
    return Invalid("VM " + Quote(vm.name) + ": state " + Quote(vm.state) + " is not one of " + states);
  }
  return Status::Ok();
}

class SqliteStore final : public StateStore {
 public:
  SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteStore() override {
    for (auto& [sql, s] : cache_) sqlite3_finalize(s);
    sqlite3_close(db_);  // the last connection to close checkpoints the WAL into the file
  }

  Status Init();

  Status PutHost(const HostRecord& h) override;
  Result<HostRecord> GetHost(const std::string& name) override;
  Result<std::vector<HostRecord>> ListHosts() override;
  Status DeleteHost(const std::string& name) override;
  Status SetHostState(const std::string& name, std::string_view state) override;
  Status InsertVm(const VmRecord& vm) override;
  Status UpdateVm(const VmRecord& vm) override;
  Result<VmRecord> GetVm(const std::string& name) override;
  Result<std::vector<VmRecord>> ListVms(const std::optional<std::string>& host) override;
  Status DeleteVm(const std::string& name) override;
  Status InsertGroup(const GroupRecord& g) override;
  Status UpdateGroup(const GroupRecord& g) override;
  Result<GroupRecord> GetGroup(const std::string& name) override;
  Result<std::vector<GroupRecord>> ListGroups() override;
  Status DeleteGroup(const std::string& name) override;
  Status InsertOperation(const OperationRecord& op) override;
  Status UpdateOperation(const OperationRecord& op) override;
  Result<OperationRecord> GetOperation(const std::string& name) override;
  Result<std::vector<OperationRecord>> ListOperations(const std::string& kind) override;
  Status DeleteOperation(const std::string& name) override;
  Result<int64_t> AppendEvent(const EventRecord& e) override;
  Result<std::vector<EventRecord>> ListEvents(int64_t after_id, int limit) override;
  Status RunInTransaction(const std::function<Status()>& fn) override;

 private:
  Error SqlError(int rc, const std::string& what) const {
    std::string m = "state store " + path_ + ": " + what + ": " + sqlite3_errmsg(db_);
    int primary = rc & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Unavailable(m + " (another process holds the database)");
    return Internal(m);
  }
  // The statement for `sql`, prepared once per connection.
  Result<Stmt> Cached(const char* sql);
  // Cached() for data statements. Refuses when SQLite itself has aborted the current
  // transaction (I/O error, disk full): otherwise later writes of the same RunInTransaction
  // would each commit on their own, breaking its all-or-nothing promise.
  Result<Stmt> Prepare(const char* sql);
  // Runs a statement that returns no rows we need.
  Status Exec(const char* sql);
  Result<bool> HostExists(const std::string& name);
  void Undo(bool outer);
  Status Migrate();

  std::recursive_mutex mu_;  // recursive: a transaction's fn calls back into the store
  sqlite3* db_;
  const std::string path_;
  std::map<std::string, sqlite3_stmt*> cache_;
  int depth_ = 0;  // nesting of RunInTransaction
};

Result<Stmt> SqliteStore::Cached(const char* sql) {
  sqlite3_stmt*& s = cache_[sql];
  if (s == nullptr) {
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(s);
      s = nullptr;
      return SqlError(rc, std::string("prepare \"") + sql + "\"");
    }
  }
  return Stmt(s);
}

Result<Stmt> SqliteStore::Prepare(const char* sql) {
  if (depth_ > 0 && sqlite3_get_autocommit(db_))
    return Internal("state store " + path_ + ": SQLite aborted the transaction after an error; nothing more is written in it");
  return Cached(sql);
}

Status SqliteStore::Exec(const char* sql) {
  auto st = Cached(sql);
  if (!st.ok()) return st.error();
  int rc;
  while ((rc = st->Step()) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return SqlError(rc, sql);
  return Status::Ok();
}

Status SqliteStore::Init() {
  std::lock_guard lock(mu_);
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  {
    auto st = Cached("PRAGMA journal_mode=WAL");
    if (!st.ok()) return st.error();
    int rc = st->Step();
    if (rc != SQLITE_ROW) return SqlError(rc, "set journal_mode=WAL");
    if (st->Text(0) != "wal")
      return Unavailable("state store " + path_ + ": the file system refused WAL mode (journal_mode is " + st->Text(0) +
                         "); put the database on a local file system");
  }
  // synchronous=FULL: with WAL, every commit is fsync'ed before it returns, so a committed
  // write also survives a power loss (NORMAL would only survive a process crash).
  if (auto s = Exec("PRAGMA synchronous=FULL"); !s.ok()) return s;
  if (auto s = Exec("PRAGMA foreign_keys=ON"); !s.ok()) return s;
  if (auto s = Migrate(); !s.ok()) return s;

  auto st = Cached("PRAGMA quick_check");
  if (!st.ok()) return st.error();
  int rc = st->Step();
  if (rc != SQLITE_ROW) return SqlError(rc, "quick_check");
  if (st->Text(0) != "ok")
    return Internal("state store " + path_ + " is corrupt (quick_check: " + st->Text(0) + "); restore it from a backup");
  return Status::Ok();
}

// One IMMEDIATE transaction reads the version and applies the missing scripts, so two processes
// opening the same old file do not both migrate it, and a crash mid-way leaves the old version.
Status SqliteStore::Migrate() {
  return RunInTransaction([&]() -> Status {
    if (auto s = Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); !s.ok()) return s;
    int64_t version = 0;
    {
      auto st = Prepare("SELECT version FROM schema_version");
      if (!st.ok()) return st.error();
      int rc = st->Step();
      if (rc == SQLITE_ROW) {
        version = st->Int(0);
      } else if (rc != SQLITE_DONE) {
        return SqlError(rc, "read schema version");
      }
    }
    if (version == 0) {  // a new file (or one whose version row was never written)
      if (auto s = Exec("DELETE FROM schema_version"); !s.ok()) return s;
      if (auto s = Exec("INSERT INTO schema_version(version) VALUES(0)"); !s.ok()) return s;
    }
    if (version > kSqliteSchemaVersion)
      return Unprocessable("state store " + path_ + " has schema version " + std::to_string(version) +
                           ", newer than this corepind understands (" + std::to_string(kSqliteSchemaVersion) +
                           "); run a newer corepind");
    if (version == kSqliteSchemaVersion) return Status::Ok();
    for (int64_t v = version; v < kSqliteSchemaVersion; ++v) {
      char* err = nullptr;
      int rc = sqlite3_exec(db_, kMigrations[v], nullptr, nullptr, &err);
      if (rc != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        return Internal("state store " + path_ + ": migration to schema version " + std::to_string(v + 1) +
                        " failed: " + msg);
      }
    }
    auto st = Prepare("UPDATE schema_version SET version = ?1");
    if (!st.ok()) return st.error();
    int rc = st->Bind(1, static_cast<int64_t>(kSqliteSchemaVersion)).Step();
    if (rc != SQLITE_DONE) return SqlError(rc, "write schema version");
    return Status::Ok();
  });
}

// Nesting uses one savepoint name: ROLLBACK TO / RELEASE act on the innermost savepoint of
// that name, so no SQL is built at run time. The outer level takes the write lock at once
// (BEGIN IMMEDIATE) so that a transaction never fails half-way on a lock upgrade.
Status SqliteStore::RunInTransaction(const std::function<Status()>& fn) {
  std::lock_guard lock(mu_);
  const bool outer = depth_ == 0;
  if (auto s = Exec(outer ? "BEGIN IMMEDIATE" : "SAVEPOINT nest"); !s.ok()) return s;
  ++depth_;
  Status result;
  try {
    result = fn();
  } catch (...) {
    --depth_;
    Undo(outer);
    throw;
  }
  --depth_;
  if (result.ok()) {
    if (outer && sqlite3_get_autocommit(db_))
      result = Internal("state store " + path_ + ": SQLite aborted the transaction after an error; it was not committed");
    else
      result = Exec(outer ? "COMMIT" : "RELEASE nest");
    if (result.ok()) return result;
  }
  Undo(outer);
  return result;
}

void SqliteStore::Undo(bool outer) {
  if (sqlite3_get_autocommit(db_)) return;  // SQLite already rolled the whole transaction back
  if (outer) {
    (void)Exec("ROLLBACK");
  } else {
    (void)Exec("ROLLBACK TO nest");
    (void)Exec("RELEASE nest");
  }
}

Result<bool> SqliteStore::HostExists(const std::string& name) {
  auto st = Prepare("SELECT 1 FROM hosts WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, name).Step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqlError(rc, "look up host " + Quote(name));
}

Status SqliteStore::PutHost(const HostRecord& h) {
  if (h.name.empty()) return Invalid("host name must not be empty");
  if (!IsValidHostState(h.state)) return Invalid("host " + Quote(h.name) + ": state " + Quote(h.state) + " is not active, failed, draining or drained");
  std::lock_guard lock(mu_);
  auto st = Prepare(
      "INSERT INTO hosts(name, uri, config_json, topology_xml, created_unix, state) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, h.name).Bind(2, h.uri).Bind(3, h.config_json).Bind(4, h.topology_xml)
               .Bind(5, OrNowUnix(h.created_unix)).Bind(6, h.state).Step();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return Conflict("host " + Quote(h.name) + " already exists");
  if (rc != SQLITE_DONE) return SqlError(rc, "insert host " + Quote(h.name));
  return Status::Ok();
}

Result<HostRecord> SqliteStore::GetHost(const std::string& name) {
  std::lock_guard lock(mu_);
  auto st = Prepare("SELECT name, uri, config_json, topology_xml, created_unix, state FROM hosts WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, name).Step();
  if (rc == SQLITE_ROW) return ReadHost(*st);
  if (rc == SQLITE_DONE) return NotFound("host " + Quote(name) + " not found");
  return SqlError(rc, "read host " + Quote(name));
}

Result<std::vector<HostRecord>> SqliteStore::ListHosts() {
  std::lock_guard lock(mu_);
  auto st = Prepare("SELECT name, uri, config_json, topology_xml, created_unix, state FROM hosts ORDER BY name");
  if (!st.ok()) return st.error();
  std::vector<HostRecord> out;
  int rc;
  while ((rc = st->Step()) == SQLITE_ROW) out.push_back(ReadHost(*st));
  if (rc != SQLITE_DONE) return SqlError(rc, "list hosts");
  return out;
}

Status SqliteStore::DeleteHost(const std::string& name) {
  std::lock_guard lock(mu_);
  // Name the VMs in the way; the foreign key is the backstop (e.g. for another process).
  auto vms = ListVms(name);
  if (!vms.ok()) return vms.error();
  if (!vms->empty()) {
    std::string names;
    for (const auto& vm : *vms) names += (names.empty() ? "" : ", ") + vm.name;
    return Conflict("host " + Quote(name) + " still has VMs: " + names + "; delete or move them first");
  }
  auto st = Prepare("DELETE FROM hosts WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, name).Step();
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return Conflict("host " + Quote(name) + " still has VMs; delete or move them first");
  if (rc != SQLITE_DONE) return SqlError(rc, "delete host " + Quote(name));
  return Status::Ok();
}

Status SqliteStore::SetHostState(const std::string& name, std::string_view state) {
  if (!IsValidHostState(state)) return Invalid("host " + Quote(name) + ": state " + Quote(std::string(state)) + " is not active, failed, draining or drained");
  std::lock_guard lock(mu_);
  auto st = Prepare("UPDATE hosts SET state = ?2 WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, name).Bind(2, state).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "set state of host " + Quote(name));
  if (sqlite3_changes(db_) == 0) return NotFound("host " + Quote(name) + " not found");
  return Status::Ok();
}

Status SqliteStore::InsertVm(const VmRecord& vm) {
  if (auto s = ValidateVm(vm); !s.ok()) return s;
  std::lock_guard lock(mu_);
  auto exists = HostExists(vm.host);
  if (!exists.ok()) return exists.error();
  if (!*exists) return NotFound("VM " + Quote(vm.name) + ": host " + Quote(vm.host) + " not found");
  auto st = Prepare(
      "INSERT INTO vms(name, host, spec_json, assignment_json, state, updated_unix) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, vm.name).Bind(2, vm.host).Bind(3, vm.spec_json).Bind(4, vm.assignment_json)
               .Bind(5, vm.state).Bind(6, OrNowUnix(vm.updated_unix)).Step();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return Conflict("VM " + Quote(vm.name) + " already exists");
  if (rc != SQLITE_DONE) return SqlError(rc, "insert VM " + Quote(vm.name));
  return Status::Ok();
}

Status SqliteStore::UpdateVm(const VmRecord& vm) {
  if (auto s = ValidateVm(vm); !s.ok()) return s;
  std::lock_guard lock(mu_);
  auto exists = HostExists(vm.host);
  if (!exists.ok()) return exists.error();
  if (!*exists) return NotFound("VM " + Quote(vm.name) + ": host " + Quote(vm.host) + " not found");
  auto st = Prepare(
      "UPDATE vms SET host = ?2, spec_json = ?3, assignment_json = ?4, state = ?5, updated_unix = ?6 WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, vm.name).Bind(2, vm.host).Bind(3, vm.spec_json).Bind(4, vm.assignment_json)
               .Bind(5, vm.state).Bind(6, OrNowUnix(vm.updated_unix)).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "update VM " + Quote(vm.name));
  if (sqlite3_changes(db_) == 0) return NotFound("VM " + Quote(vm.name) + " not found");
  return Status::Ok();
}

Result<VmRecord> SqliteStore::GetVm(const std::string& name) {
  std::lock_guard lock(mu_);
  auto st = Prepare("SELECT name, host, spec_json, assignment_json, state, updated_unix FROM vms WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, name).Step();
  if (rc == SQLITE_ROW) return ReadVm(*st);
  if (rc == SQLITE_DONE) return NotFound("VM " + Quote(name) + " not found");
  return SqlError(rc, "read VM " + Quote(name));
}

Result<std::vector<VmRecord>> SqliteStore::ListVms(const std::optional<std::string>& host) {
  std::lock_guard lock(mu_);
  if (host) {
    auto exists = HostExists(*host);
    if (!exists.ok()) return exists.error();
    if (!*exists) return NotFound("host " + Quote(*host) + " not found");
  }
  // ?1 NULL lists every VM.
  auto st = Prepare(
      "SELECT name, host, spec_json, assignment_json, state, updated_unix FROM vms "
      "WHERE ?1 IS NULL OR host = ?1 ORDER BY name");
  if (!st.ok()) return st.error();
  if (host) st->Bind(1, *host);
  std::vector<VmRecord> out;
  int rc;
  while ((rc = st->Step()) == SQLITE_ROW) out.push_back(ReadVm(*st));
  if (rc != SQLITE_DONE) return SqlError(rc, "list VMs");
  return out;
}

Status SqliteStore::DeleteVm(const std::string& name) {
  std::lock_guard lock(mu_);
  auto st = Prepare("DELETE FROM vms WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, name).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "delete VM " + Quote(name));
  if (sqlite3_changes(db_) == 0) return NotFound("VM " + Quote(name) + " not found");
  return Status::Ok();
}

namespace {

Status ValidateGroup(const GroupRecord& g) {
  if (g.name.empty()) return Invalid("group name must not be empty");
  if (!IsValidGroupState(g.state))
    return Invalid("group " + Quote(g.name) + ": state " + Quote(g.state) + " is not creating, running, deleting or switching");
  return Status::Ok();
}

GroupRecord ReadGroup(const Stmt& st) { return {st.Text(0), st.Text(1), st.Text(2), st.Int(3)}; }

}  // namespace

Status SqliteStore::InsertGroup(const GroupRecord& g) {
  if (auto s = ValidateGroup(g); !s.ok()) return s;
  std::lock_guard lock(mu_);
  auto st = Prepare("INSERT INTO groups(name, config_json, state, updated_unix) VALUES(?1, ?2, ?3, ?4)");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, g.name).Bind(2, g.config_json).Bind(3, g.state).Bind(4, OrNowUnix(g.updated_unix)).Step();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return Conflict("group " + Quote(g.name) + " already exists");
  if (rc != SQLITE_DONE) return SqlError(rc, "insert group " + Quote(g.name));
  return Status::Ok();
}

Status SqliteStore::UpdateGroup(const GroupRecord& g) {
  if (auto s = ValidateGroup(g); !s.ok()) return s;
  std::lock_guard lock(mu_);
  auto st = Prepare("UPDATE groups SET config_json = ?2, state = ?3, updated_unix = ?4 WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, g.name).Bind(2, g.config_json).Bind(3, g.state).Bind(4, OrNowUnix(g.updated_unix)).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "update group " + Quote(g.name));
  if (sqlite3_changes(db_) == 0) return NotFound("group " + Quote(g.name) + " not found");
  return Status::Ok();
}

Result<GroupRecord> SqliteStore::GetGroup(const std::string& name) {
  std::lock_guard lock(mu_);
  auto st = Prepare("SELECT name, config_json, state, updated_unix FROM groups WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, name).Step();
  if (rc == SQLITE_ROW) return ReadGroup(*st);
  if (rc == SQLITE_DONE) return NotFound("group " + Quote(name) + " not found");
  return SqlError(rc, "read group " + Quote(name));
}

Result<std::vector<GroupRecord>> SqliteStore::ListGroups() {
  std::lock_guard lock(mu_);
  auto st = Prepare("SELECT name, config_json, state, updated_unix FROM groups ORDER BY name");
  if (!st.ok()) return st.error();
  std::vector<GroupRecord> out;
  int rc;
  while ((rc = st->Step()) == SQLITE_ROW) out.push_back(ReadGroup(*st));
  if (rc != SQLITE_DONE) return SqlError(rc, "list groups");
  return out;
}

Status SqliteStore::DeleteGroup(const std::string& name) {
  std::lock_guard lock(mu_);
  auto st = Prepare("DELETE FROM groups WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, name).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "delete group " + Quote(name));
  if (sqlite3_changes(db_) == 0) return NotFound("group " + Quote(name) + " not found");
  return Status::Ok();
}

Status SqliteStore::InsertOperation(const OperationRecord& op) {
  if (op.name.empty() || op.kind.empty() || op.state.empty()) return Invalid("operation name, kind and state must not be empty");
  std::lock_guard lock(mu_);
  auto st = Prepare(
      "INSERT INTO operations(name, kind, state, body_json, created_unix, updated_unix) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, op.name).Bind(2, op.kind).Bind(3, op.state).Bind(4, op.body_json)
               .Bind(5, OrNowUnix(op.created_unix)).Bind(6, OrNowUnix(op.updated_unix)).Step();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return Conflict("operation " + Quote(op.name) + " already exists");
  if (rc != SQLITE_DONE) return SqlError(rc, "insert operation " + Quote(op.name));
  return Status::Ok();
}

Status SqliteStore::UpdateOperation(const OperationRecord& op) {
  if (op.state.empty()) return Invalid("operation " + Quote(op.name) + ": state must not be empty");
  std::lock_guard lock(mu_);
  auto st = Prepare("UPDATE operations SET state = ?2, body_json = ?3, updated_unix = ?4 WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, op.name).Bind(2, op.state).Bind(3, op.body_json).Bind(4, OrNowUnix(op.updated_unix)).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "update operation " + Quote(op.name));
  if (sqlite3_changes(db_) == 0) return NotFound("operation " + Quote(op.name) + " not found");
  return Status::Ok();
}

Result<OperationRecord> SqliteStore::GetOperation(const std::string& name) {
  std::lock_guard lock(mu_);
  auto st = Prepare("SELECT name, kind, state, body_json, created_unix, updated_unix FROM operations WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, name).Step();
  if (rc == SQLITE_ROW) return ReadOperation(*st);
  if (rc == SQLITE_DONE) return NotFound("operation " + Quote(name) + " not found");
  return SqlError(rc, "read operation " + Quote(name));
}

Result<std::vector<OperationRecord>> SqliteStore::ListOperations(const std::string& kind) {
  std::lock_guard lock(mu_);
  auto st = Prepare(
      "SELECT name, kind, state, body_json, created_unix, updated_unix FROM operations "
      "WHERE ?1 = '' OR kind = ?1 ORDER BY created_unix, name");
  if (!st.ok()) return st.error();
  st->Bind(1, kind);
  std::vector<OperationRecord> out;
  int rc;
  while ((rc = st->Step()) == SQLITE_ROW) out.push_back(ReadOperation(*st));
  if (rc != SQLITE_DONE) return SqlError(rc, "list operations");
  return out;
}

Status SqliteStore::DeleteOperation(const std::string& name) {
  std::lock_guard lock(mu_);
  auto st = Prepare("DELETE FROM operations WHERE name = ?1");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, name).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "delete operation " + Quote(name));
  if (sqlite3_changes(db_) == 0) return NotFound("operation " + Quote(name) + " not found");
  return Status::Ok();
}

Result<int64_t> SqliteStore::AppendEvent(const EventRecord& e) {
  if (e.kind.empty()) return Invalid("event kind must not be empty");
  std::lock_guard lock(mu_);
  auto st = Prepare("INSERT INTO events(unix_ms, kind, subject, message) VALUES(?1, ?2, ?3, ?4)");
  if (!st.ok()) return st.error();
  int rc = st->Bind(1, e.unix_ms != 0 ? e.unix_ms : NowUnixMs()).Bind(2, e.kind).Bind(3, e.subject)
               .Bind(4, e.message).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "append event " + Quote(e.kind));
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::vector<EventRecord>> SqliteStore::ListEvents(int64_t after_id, int limit) {
  if (limit <= 0) return Invalid("events: limit must be positive, got " + std::to_string(limit));
  std::lock_guard lock(mu_);
  auto st = Prepare("SELECT id, unix_ms, kind, subject, message FROM events WHERE id > ?1 ORDER BY id LIMIT ?2");
  if (!st.ok()) return st.error();
  st->Bind(1, after_id).Bind(2, static_cast<int64_t>(limit));
  std::vector<EventRecord> out;
  int rc;
  while ((rc = st->Step()) == SQLITE_ROW) out.push_back(ReadEvent(*st));
  if (rc != SQLITE_DONE) return SqlError(rc, "list events");
  return out;
}

}  // namespace

Status CheckSqliteStateFile(const std::string& path, bool init) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::Ok();  // a first start
  const std::string wal = path + "-wal";
  const std::string restore = "; if the file or its " + wal +
                              " was lost or moved, restore it (a backup, or the -wal file next to it); to start with an "
                              "empty state on purpose, run corepind --init";
  if (init) return Status::Ok();
  if (std::filesystem::file_size(path, ec) == 0 && !ec)
    return Unprocessable("state store " + path + " is empty (0 bytes): it holds no corepin state" + restore);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  int tables = -1;
  if (rc == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'hosts'", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      tables = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  const std::string why = rc == SQLITE_OK ? "" : sqlite3_errstr(rc);
  sqlite3_close(db);
  if (tables < 0) return Unprocessable("state store " + path + " cannot be read as SQLite" + (why.empty() ? "" : " (" + why + ")") + restore);
  if (tables == 0) return Unprocessable("state store " + path + " holds no corepin tables" + restore);
  return Status::Ok();
}

Result<std::unique_ptr<StateStore>> OpenSqliteStore(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  auto store = std::make_unique<SqliteStore>(db, path);  // owns db even on failure: it must be closed
  if (rc != SQLITE_OK)
    return Unavailable("cannot open state store " + path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  if (auto s = store->Init(); !s.ok()) return s.error();
  return std::unique_ptr<StateStore>(std::move(store));
}

}  // namespace corepin
