// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/store/sqlite_db.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "src/util/status_macros.h"

namespace consentry::internal {

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view where,
                         absl::string_view what) {
  const std::string msg =
      absl::StrCat(where, ": ", what, ": ",
                   db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                   " (sqlite ", rc, ")");
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
      return absl::FailedPreconditionError(
          absl::StrCat(msg, "; the file is not a consentry SQLite store"));
    case SQLITE_CORRUPT:
      return absl::DataLossError(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
      return absl::UnavailableError(msg);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

std::string SqliteWhere(absl::string_view label, absl::string_view path) {
  return absl::StrCat(label, " '", path, "'");
}

namespace {

// `file` (the store or its -wal / -shm companion) is absent or a regular
// file. `*exists` tells which.
absl::Status CheckRegularFile(const std::string& file, absl::string_view where,
                              bool* exists) {
  struct stat st;
  if (lstat(file.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      *exists = false;
      return absl::OkStatus();
    }
    return absl::UnavailableError(absl::StrCat(
        where, ": cannot inspect '", file, "': ", std::strerror(err)));
  }
  *exists = true;
  if (S_ISLNK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": '", file,
        "' is a symbolic link; a store file must be a regular file (open the "
        "link's target instead)"));
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": '", file, "' is a directory, not a store file"));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": '", file, "' is not a regular file"));
  }
  return absl::OkStatus();
}

// WAL mode and synchronous=FULL on an open connection.
absl::Status Harden(sqlite3* db, const SqliteStoreOptions& options,
                    absl::string_view where) {
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(
      db, static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));
  // The first statement reads the header: a file that is not a database
  // fails here.
  {
    SqliteStmt wal;
    RETURN_IF_ERROR(wal.Prepare(db, where, "PRAGMA journal_mode=WAL"));
    const int step = sqlite3_step(wal.get());
    if (step != SQLITE_ROW) {
      return SqliteError(db, step, where, "switch to WAL mode");
    }
    const unsigned char* text = sqlite3_column_text(wal.get(), 0);
    const std::string mode =
        text == nullptr ? "" : reinterpret_cast<const char*>(text);
    if (mode != "wal") {
      return absl::FailedPreconditionError(absl::StrCat(
          where, ": cannot use WAL mode (journal mode is '", mode, "')"));
    }
  }
  return SqliteExec(db, "PRAGMA synchronous=FULL", where,
                    "set synchronous=FULL");
}

}  // namespace

absl::Status OpenSqliteFile(const std::string& path,
                            const SqliteStoreOptions& options,
                            absl::string_view label, sqlite3** db) {
  *db = nullptr;
  const std::string where = SqliteWhere(label, path);
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": empty path (a store needs a file)"));
  }
  bool exists = false;
  RETURN_IF_ERROR(CheckRegularFile(path, where, &exists));
  for (const char* suffix : {"-wal", "-shm"}) {
    bool companion = false;
    RETURN_IF_ERROR(
        CheckRegularFile(absl::StrCat(path, suffix), where, &companion));
  }
  if (!exists && !options.create_if_missing) {
    return absl::NotFoundError(absl::StrCat(where, " does not exist"));
  }
  int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
  if (options.create_if_missing) flags |= SQLITE_OPEN_CREATE;
  const int rc =
      sqlite3_open_v2(path.c_str(), db, flags,
                      options.vfs.empty() ? nullptr : options.vfs.c_str());
  absl::Status s;
  if (rc != SQLITE_OK) {
    if (!options.create_if_missing && (rc & 0xff) == SQLITE_CANTOPEN) {
      s = absl::NotFoundError(absl::StrCat(where, " does not exist"));
    } else {
      s = SqliteError(*db, rc, where, "open");
    }
  } else {
    s = Harden(*db, options, where);
  }
  if (!s.ok()) {
    sqlite3_close_v2(*db);
    *db = nullptr;
  }
  return s;
}

absl::Status SqliteExec(sqlite3* db, const char* sql, absl::string_view where,
                        absl::string_view what) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db, rc, where, what);
  return absl::OkStatus();
}

void SqliteRollback(sqlite3* db) {
  if (sqlite3_get_autocommit(db) == 0) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

absl::Status SqliteStmt::Prepare(sqlite3* db, absl::string_view where,
                                 const char* sql) {
  const int rc = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db, rc, where, "prepare");
  return absl::OkStatus();
}

absl::StatusOr<bool> SqliteForeignFile(sqlite3* db, absl::string_view where) {
  SqliteStmt q;
  RETURN_IF_ERROR(
      q.Prepare(db, where,
                "SELECT count(*), "
                "  sum(name IN ('consentry_schema', 'consentry_components')) "
                "FROM sqlite_master WHERE type = 'table'"));
  const int rc = sqlite3_step(q.get());
  if (rc != SQLITE_ROW) return SqliteError(db, rc, where, "read schema");
  return q.ColumnInt(0) > 0 && q.ColumnInt(1) == 0;
}

namespace {

// The component's version, 0 when it has none yet. Inside the migration
// transaction.
absl::StatusOr<int> ComponentVersion(sqlite3* db, absl::string_view where,
                                     absl::string_view component) {
  ASSIGN_OR_RETURN(const bool foreign, SqliteForeignFile(db, where));
  if (foreign) {
    return absl::FailedPreconditionError(absl::StrCat(
        where,
        ": the file is a SQLite database of another application (no "
        "consentry_schema or consentry_components table)"));
  }
  RETURN_IF_ERROR(SqliteExec(db,
                             "CREATE TABLE IF NOT EXISTS consentry_components("
                             "  component TEXT PRIMARY KEY NOT NULL,"
                             "  version INTEGER NOT NULL)",
                             where, "create the component table"));
  SqliteStmt v;
  RETURN_IF_ERROR(
      v.Prepare(db, where,
                "SELECT version FROM consentry_components WHERE component=?1"));
  v.BindText(1, component);
  const int rc = sqlite3_step(v.get());
  if (rc == SQLITE_DONE) return 0;
  if (rc != SQLITE_ROW) return SqliteError(db, rc, where, "read version");
  return static_cast<int>(v.ColumnInt(0));
}

}  // namespace

absl::Status MigrateSqliteComponent(sqlite3* db, absl::string_view where,
                                    absl::string_view component,
                                    absl::Span<const char* const> migrations) {
  const int latest = static_cast<int>(migrations.size());
  RETURN_IF_ERROR(
      SqliteExec(db, "BEGIN IMMEDIATE", where, "begin schema transaction"));
  absl::Status s = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(const int version, ComponentVersion(db, where, component));
    if (version > latest || version < 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, ": component '", component, "' has schema version ", version,
          ", newer than this library supports (", latest,
          "); upgrade consentry to open it"));
    }
    for (int i = version; i < latest; ++i) {
      RETURN_IF_ERROR(SqliteExec(
          db, migrations[static_cast<std::size_t>(i)], where,
          absl::StrCat("migrate ", component, " to version ", i + 1)));
    }
    if (version != latest) {
      SqliteStmt put;
      RETURN_IF_ERROR(
          put.Prepare(db, where,
                      "INSERT INTO consentry_components(component, version) "
                      "VALUES(?1, ?2) ON CONFLICT(component) DO UPDATE SET "
                      "version = excluded.version"));
      put.BindText(1, component);
      put.BindInt(2, latest);
      const int rc = sqlite3_step(put.get());
      if (rc != SQLITE_DONE) {
        return SqliteError(db, rc, where, "record schema version");
      }
    }
    return SqliteExec(db, "COMMIT", where, "commit schema");
  }();
  if (!s.ok()) SqliteRollback(db);
  return s;
}

}  // namespace consentry::internal
