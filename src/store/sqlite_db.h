// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// What every SQLite store of the library shares (the consent store and the
// request and provision record stores, which may live in one file):
// opening a file hardened, error mapping, prepared statements, and schema
// migrations versioned per component. Internal; never installed.

#ifndef CONSENTRY_SRC_STORE_SQLITE_DB_H_
#define CONSENTRY_SRC_STORE_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "consentry/sqlite_store.h"

namespace consentry::internal {

// `where` names the store and file ("consent store '/var/lib/x.db'").
// Maps SQLite's result code `rc` to a status naming `where` and `what`:
// not a database -> kFailedPrecondition; corrupt -> kDataLoss; busy,
// locked, I/O, full -> kUnavailable; read-only, permission -> kPermission
// Denied; anything else kInternal.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view where,
                         absl::string_view what);

// "<label> '<path>'": how messages name a store.
std::string SqliteWhere(absl::string_view label, absl::string_view path);

// Opens `path` as a store file: refuses an empty path, a symbolic link, a
// directory or anything else that is not a regular file (also for the
// -wal and -shm files beside it), without following a link between the
// check and the open; then sets extended result codes, the busy timeout,
// WAL mode and synchronous=FULL. On success `*db` is open and owned by the
// caller (close it with sqlite3_close_v2); on error it is closed and null.
//
// Errors: `kInvalidArgument` for an empty path; `kNotFound` for a missing
// file without `create_if_missing`; `kFailedPrecondition` for a link, a
// directory, a file that is not a database, or one that cannot use WAL;
// the errors of `SqliteError`. Every message names the file.
absl::Status OpenSqliteFile(const std::string& path,
                            const SqliteStoreOptions& options,
                            absl::string_view label, sqlite3** db);

// Runs `sql`. Errors: those of `SqliteError`.
absl::Status SqliteExec(sqlite3* db, const char* sql, absl::string_view where,
                        absl::string_view what);

// Ends a failed transaction (no-op when SQLite already rolled it back).
void SqliteRollback(sqlite3* db);

// Whether the file holds tables of another application: tables, but
// neither the consent store's `consentry_schema` nor the components'
// `consentry_components`. Errors: those of `SqliteError`.
absl::StatusOr<bool> SqliteForeignFile(sqlite3* db, absl::string_view where);

// Brings component `component` (e.g. "requests") to version
// `migrations.size()`, each entry upgrading from version i to i + 1, in
// one write transaction; its version lives in the row of `component` in
// `consentry_components`, apart from every other component's (and from
// the consent store's `consentry_schema`).
//
// Errors: `kFailedPrecondition` when the file belongs to another
// application or holds a newer version of the component (naming both);
// those of `SqliteError`.
absl::Status MigrateSqliteComponent(sqlite3* db, absl::string_view where,
                                    absl::string_view component,
                                    absl::Span<const char* const> migrations);

// A prepared statement, finalized on destruction.
class SqliteStmt {
 public:
  SqliteStmt() = default;
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;
  ~SqliteStmt() { sqlite3_finalize(stmt_); }

  absl::Status Prepare(sqlite3* db, absl::string_view where, const char* sql);
  sqlite3_stmt* get() { return stmt_; }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  void BindText(int i, absl::string_view s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()),
                      SQLITE_TRANSIENT);
  }
  void BindBlob(int i, absl::string_view s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()),
                      SQLITE_TRANSIENT);
  }
  void BindInt(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  std::int64_t ColumnInt(int i) { return sqlite3_column_int64(stmt_, i); }
  std::string ColumnBlob(int i) {
    const void* p = sqlite3_column_blob(stmt_, i);
    const int n = sqlite3_column_bytes(stmt_, i);
    return p == nullptr ? std::string()
                        : std::string(static_cast<const char*>(p),
                                      static_cast<std::size_t>(n));
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets the statement when the scope ends.
class SqliteStmtUse {
 public:
  explicit SqliteStmtUse(SqliteStmt& s) : s_(s) {}
  ~SqliteStmtUse() { s_.Reset(); }
  SqliteStmtUse(const SqliteStmtUse&) = delete;
  SqliteStmtUse& operator=(const SqliteStmtUse&) = delete;

 private:
  SqliteStmt& s_;
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_STORE_SQLITE_DB_H_
