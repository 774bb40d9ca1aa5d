// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Writes consent rows behind a durable store's back, with the database's
// own client (sqlite3, libpq): what a buggy writer, a hand edit or bit rot
// leaves in the tables. Tests use it to check that one unreadable row
// quarantines its subject and nothing else. Link SQLite::SQLite3 and
// PostgreSQL::PostgreSQL.

#ifndef CONSENTRY_TESTS_TESTING_RAW_STORE_ROWS_H_
#define CONSENTRY_TESTS_TESTING_RAW_STORE_ROWS_H_

#include <libpq-fe.h>
#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "consentry/decision.h"
#include "tests/testing/store_factories.h"

namespace consentry::testing {

namespace raw_internal {

inline absl::StatusOr<Revision> SqliteWrite(const std::string& path,
                                            const std::string& subject,
                                            const std::string& record,
                                            const std::string& state,
                                            bool new_revision) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) !=
      SQLITE_OK) {
    sqlite3_close(db);
    return absl::InternalError(absl::StrCat("cannot open ", path));
  }
  sqlite3_busy_timeout(db, 10000);
  Revision rev = -1;
  std::string error;
  auto run = [&]() -> bool {
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      return false;
    }
    sqlite3_stmt* st = nullptr;
    const char* sql =
        new_revision
            ? "SELECT COALESCE(MAX(revision), 0) + 1 FROM consent_history"
            : "SELECT revision FROM consent_records WHERE subject_id = ?1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
      return false;
    }
    if (!new_revision) {
      sqlite3_bind_text(st, 1, subject.data(), static_cast<int>(subject.size()),
                        SQLITE_TRANSIENT);
    }
    if (sqlite3_step(st) == SQLITE_ROW) rev = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rev < 0) return false;
    if (new_revision) {
      if (sqlite3_prepare_v2(
              db,
              "INSERT INTO consent_history(revision, subject_id, "
              "commit_time_ns, change, state) VALUES(?1, ?2, 0, X'', ?3)",
              -1, &st, nullptr) != SQLITE_OK) {
        return false;
      }
      sqlite3_bind_int64(st, 1, rev);
      sqlite3_bind_text(st, 2, subject.data(), static_cast<int>(subject.size()),
                        SQLITE_TRANSIENT);
      sqlite3_bind_blob(st, 3, state.data(), static_cast<int>(state.size()),
                        SQLITE_TRANSIENT);
      const int rc = sqlite3_step(st);
      sqlite3_finalize(st);
      if (rc != SQLITE_DONE) return false;
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO consent_records(subject_id, "
                           "revision, record) VALUES(?1, ?2, ?3)",
                           -1, &st, nullptr) != SQLITE_OK) {
      return false;
    }
    sqlite3_bind_text(st, 1, subject.data(), static_cast<int>(subject.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, rev);
    sqlite3_bind_blob(st, 3, record.data(), static_cast<int>(record.size()),
                      SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return false;
    return sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  };
  const bool ok = run();
  if (!ok) error = sqlite3_errmsg(db);
  sqlite3_close(db);
  if (!ok)
    return absl::InternalError(absl::StrCat("raw sqlite write: ", error));
  return rev;
}

inline absl::StatusOr<Revision> PgWrite(const std::string& schema,
                                        const std::string& subject,
                                        const std::string& record,
                                        const std::string& state,
                                        bool new_revision) {
  absl::StatusOr<std::string> info = PgConnInfo();
  if (!info.ok()) return info.status();
  PGconn* c = PQconnectdb(info->c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    const std::string e = PQerrorMessage(c);
    PQfinish(c);
    return absl::InternalError(e);
  }
  const auto sql = [&](const char* q) {
    return absl::StrReplaceAll(q, {{"$S", schema}});
  };
  std::string error;
  Revision rev = -1;
  const auto exec = [&](const std::string& q, int n, const char* const* v,
                        const int* len, const int* fmt) -> PGresult* {
    PGresult* r = PQexecParams(c, q.c_str(), n, nullptr, v, len, fmt, 0);
    const ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
      error = PQresultErrorMessage(r);
      PQclear(r);
      return nullptr;
    }
    return r;
  };
  bool ok = false;
  if (PGresult* r = exec("BEGIN", 0, nullptr, nullptr, nullptr)) {
    PQclear(r);
    const char* sv[1] = {subject.c_str()};
    const int sl[1] = {static_cast<int>(subject.size())};
    const int sf[1] = {0};
    PGresult* q =
        new_revision
            ? exec(sql("UPDATE $S.revision_counter SET last = last + 1 "
                       "RETURNING last"),
                   0, nullptr, nullptr, nullptr)
            : exec(sql("SELECT revision FROM $S.consent_records WHERE "
                       "subject_id = $1"),
                   1, sv, sl, sf);
    if (q != nullptr && PQntuples(q) == 1) {
      rev = std::stoll(PQgetvalue(q, 0, 0));
    }
    if (q != nullptr) PQclear(q);
    const std::string revs = absl::StrCat(rev);
    bool history_ok = !new_revision;
    if (rev > 0 && new_revision) {
      const char* v[3] = {revs.c_str(), subject.c_str(), state.data()};
      const int l[3] = {static_cast<int>(revs.size()),
                        static_cast<int>(subject.size()),
                        static_cast<int>(state.size())};
      const int f[3] = {0, 0, 1};
      if (PGresult* h = exec(sql("INSERT INTO $S.consent_history(revision, "
                                 "subject_id, commit_time_ns, change, state) "
                                 "VALUES ($1, $2, 0, '', $3)"),
                             3, v, l, f)) {
        PQclear(h);
        history_ok = true;
      }
    }
    if (rev > 0 && history_ok) {
      const char* v[3] = {subject.c_str(), revs.c_str(), record.data()};
      const int l[3] = {static_cast<int>(subject.size()),
                        static_cast<int>(revs.size()),
                        static_cast<int>(record.size())};
      const int f[3] = {0, 0, 1};
      if (PGresult* w = exec(
              sql("INSERT INTO $S.consent_records(subject_id, revision, "
                  "record) VALUES ($1, $2, $3) ON CONFLICT (subject_id) DO "
                  "UPDATE SET revision = excluded.revision, record = "
                  "excluded.record"),
              3, v, l, f)) {
        PQclear(w);
        if (PGresult* e = exec("COMMIT", 0, nullptr, nullptr, nullptr)) {
          PQclear(e);
          ok = true;
        }
      }
    }
  }
  PQfinish(c);
  if (!ok) return absl::InternalError(absl::StrCat("raw pg write: ", error));
  return rev;
}

}  // namespace raw_internal

// Writes `record_bytes` as the current record of `subject` at a new
// store-wide revision, with a history entry whose state is `state_bytes`,
// as a writer that bypasses validation would. Returns the revision.
inline absl::StatusOr<Revision> WriteRawRow(StoreLocation& location,
                                            const std::string& subject,
                                            const std::string& record_bytes,
                                            const std::string& state_bytes) {
  if (location.kind() == StoreKind::kSqlite) {
    return raw_internal::SqliteWrite(location.target(), subject, record_bytes,
                                     state_bytes, true);
  }
  if (location.kind() == StoreKind::kPostgres) {
    return raw_internal::PgWrite(location.target(), subject, record_bytes,
                                 state_bytes, true);
  }
  return absl::UnimplementedError("no raw rows in memory");
}

// Overwrites the stored record bytes of `subject` in place (revision
// unchanged), as bit rot or a hand edit would. Returns the row's revision.
inline absl::StatusOr<Revision> CorruptRecordInPlace(StoreLocation& location,
                                                     const std::string& subject,
                                                     const std::string& bytes) {
  if (location.kind() == StoreKind::kSqlite) {
    return raw_internal::SqliteWrite(location.target(), subject, bytes, "",
                                     false);
  }
  if (location.kind() == StoreKind::kPostgres) {
    return raw_internal::PgWrite(location.target(), subject, bytes, "", false);
  }
  return absl::UnimplementedError("no raw rows in memory");
}

// Renames the table of current records (`from` to `to`) behind the store's
// back: while it is missing, every read of the change feed fails, as with
// a broken database.
inline absl::Status RenameRecordsTable(StoreLocation& location,
                                       const std::string& from,
                                       const std::string& to) {
  if (location.kind() == StoreKind::kSqlite) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(location.target().c_str(), &db, SQLITE_OPEN_READWRITE,
                    nullptr);
    sqlite3_busy_timeout(db, 10000);
    const std::string sql =
        absl::StrCat("ALTER TABLE ", from, " RENAME TO ", to);
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    const std::string error = sqlite3_errmsg(db);
    sqlite3_close(db);
    if (rc != SQLITE_OK) return absl::InternalError(error);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> info = PgConnInfo();
  if (!info.ok()) return info.status();
  PGconn* c = PQconnectdb(info->c_str());
  const std::string sql = absl::StrCat("ALTER TABLE ", location.target(), ".",
                                       from, " RENAME TO ", to);
  PGresult* r = PQexec(c, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string error = PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  if (!ok) return absl::InternalError(error);
  return absl::OkStatus();
}

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_TESTING_RAW_STORE_ROWS_H_
