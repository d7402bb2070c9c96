// SQLite backend of StateStore: one file, no server.
//
// Durability: WAL journal with synchronous=FULL, so a write (or a transaction) that returned
// ok survives a process crash and a power loss. Foreign keys are enforced (vms.host -> hosts).
//
// Thread safety: one connection per store, guarded by a recursive mutex held for each call and
// for a whole RunInTransaction. Several processes may open the same file (a busy timeout waits
// for the other's write lock), but corepind is meant to be its only writer.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "store/state_store.h"

namespace corepin {

// The schema version this build writes. Opening a file of an older version upgrades it in
// place; a newer version is refused (Unprocessable) rather than misread.
inline constexpr int kSqliteSchemaVersion = 3;

// Before corepind opens its state: a state file that exists but holds no corepin state (0 bytes,
// or no tables: e.g. its -wal file, which held every write since the last checkpoint, was lost)
// is refused with what to do, rather than taken as an empty cluster, unless `init` (corepind
// --init) says to start empty. A file that does not exist is created as usual.
Status CheckSqliteStateFile(const std::string& path, bool init);

// Opens (creating if needed) the store at `path`, applies pending migrations and runs a quick
// integrity check.
Result<std::unique_ptr<StateStore>> OpenSqliteStore(const std::string& path);

}  // namespace corepin
