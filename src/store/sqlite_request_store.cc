// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include <sqlite3.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "consentry/sqlite_records.h"
#include "src/store/sqlite_db.h"
#include "src/util/mutex.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

using Stmt = internal::SqliteStmt;
using StmtUse = internal::SqliteStmtUse;

constexpr absl::string_view kLabel = "request store";
constexpr absl::string_view kComponent = "requests";

// Each entry upgrades component "requests" from version i to i + 1.
constexpr const char* kMigrations[] = {
    // 0 -> 1. `seq` orders requests oldest first and makes the id; `open`
    // is 1 until answered or refused.
    "CREATE TABLE request_records("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  verified_subject_id TEXT NOT NULL,"
    "  open INTEGER NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  record BLOB NOT NULL);"
    "CREATE INDEX request_records_by_subject"
    "  ON request_records(verified_subject_id, seq)"
    "  WHERE verified_subject_id <> '';"
    "CREATE INDEX request_records_open ON request_records(seq)"
    "  WHERE open = 1;",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) ==
              SqliteRequestStore::kSchemaVersion);

bool IsOpen(const v1::SubjectRequest& r) {
  return r.state() != v1::REQUEST_STATE_ANSWERED &&
         r.state() != v1::REQUEST_STATE_REFUSED;
}

}  // namespace

struct SqliteRequestStore::Impl {
  std::string path;
  std::string where;

  internal::Mutex mu;
  sqlite3* db ABSL_GUARDED_BY(mu) = nullptr;
  Stmt get ABSL_GUARDED_BY(mu);
  Stmt insert ABSL_GUARDED_BY(mu);
  Stmt set_record ABSL_GUARDED_BY(mu);
  Stmt update ABSL_GUARDED_BY(mu);
  Stmt by_subject ABSL_GUARDED_BY(mu);
  Stmt open_list ABSL_GUARDED_BY(mu);
  Stmt all_list ABSL_GUARDED_BY(mu);
  Stmt import_row ABSL_GUARDED_BY(mu);

  ~Impl() {
    internal::MutexLock lock(&mu);
    // close_v2 defers the close until the statements (members) finalize.
    sqlite3_close_v2(db);
    db = nullptr;
  }

  absl::Status Error(int rc, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return internal::SqliteError(db, rc, where, what);
  }
  absl::Status Exec(const char* sql, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return internal::SqliteExec(db, sql, where, what);
  }

  absl::Status Prepare() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const std::pair<Stmt*, const char*> statements[] = {
        {&get,
         "SELECT seq, version, record FROM request_records WHERE id = ?1"},
        {&insert,
         "INSERT INTO request_records(id, verified_subject_id, open, version,"
         " record) VALUES('', ?1, ?2, 1, x'')"},
        {&set_record,
         "UPDATE request_records SET id = ?2, record = ?3 WHERE seq = ?1"},
        {&update,
         "UPDATE request_records SET verified_subject_id = ?2, open = ?3,"
         " version = ?4, record = ?5 WHERE seq = ?1"},
        {&by_subject,
         "SELECT seq, id, version, record FROM request_records"
         " WHERE verified_subject_id = ?1 AND verified_subject_id <> ''"
         " ORDER BY seq"},
        {&open_list,
         "SELECT seq, id, version, record FROM request_records"
         " WHERE open = 1 ORDER BY seq"},
        {&all_list,
         "SELECT seq, id, version, record FROM request_records ORDER BY seq"},
        {&import_row,
         "INSERT INTO request_records(seq, id, verified_subject_id, open,"
         " version, record) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"},
    };
    for (const auto& [stmt, sql] : statements) {
      RETURN_IF_ERROR(stmt->Prepare(db, where, sql));
    }
    return absl::OkStatus();
  }

  // Parses the row (`seq`, `id`, `version`, `bytes`). Errors: `kDataLoss`
  // naming the row when the bytes do not parse or disagree with the row.
  absl::StatusOr<v1::SubjectRequest> ParseRow(std::int64_t seq,
                                              absl::string_view id,
                                              std::int64_t version,
                                              const std::string& bytes) {
    v1::SubjectRequest r;
    std::string what;
    if (!r.ParseFromString(bytes)) {
      what = "its record does not parse";
    } else if (r.id() != id) {
      what = absl::StrCat("its record names request '",
                          absl::CHexEscape(r.id()), "'");
    } else if (r.version() != version) {
      what = absl::StrCat("its record is at version ", r.version(),
                          " but the row at version ", version);
    } else if (absl::Status s = ValidateStorableRequest(r); !s.ok()) {
      what = std::string(s.message());
    }
    if (what.empty()) return r;
    return absl::DataLossError(absl::StrCat(
        where, ": request '", absl::CHexEscape(id), "' (row ", seq,
        ") is unreadable: ", what,
        "; other requests are not affected; restore this row from a backup"));
  }

  // The rows of `stmt`; with `unreadable`, a row that does not parse is
  // named there and the listing goes on, else it fails the listing.
  absl::StatusOr<std::vector<v1::SubjectRequest>> List(
      Stmt& stmt, std::vector<UnreadableRequest>* unreadable = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<v1::SubjectRequest> out;
    for (;;) {
      const int rc = sqlite3_step(stmt.get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return Error(rc, "list requests");
      absl::StatusOr<v1::SubjectRequest> r =
          ParseRow(stmt.ColumnInt(0), stmt.ColumnBlob(1), stmt.ColumnInt(2),
                   stmt.ColumnBlob(3));
      if (r.ok()) {
        out.push_back(*std::move(r));
      } else if (unreadable != nullptr) {
        unreadable->push_back({stmt.ColumnBlob(1), r.status()});
      } else {
        return r.status();
      }
    }
    return out;
  }

  absl::StatusOr<RequestListing> Listing(Stmt& stmt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    RequestListing listing;
    ASSIGN_OR_RETURN(listing.requests, List(stmt, &listing.unreadable));
    return listing;
  }

  // Runs `body` in a write transaction, committing when it succeeds.
  template <typename T, typename F>
  absl::StatusOr<T> InWriteTransaction(F body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", "begin write transaction"));
    absl::StatusOr<T> out = body();
    if (out.ok()) {
      absl::Status c = Exec("COMMIT", "commit");
      if (!c.ok()) out = c;
    }
    if (!out.ok()) internal::SqliteRollback(db);
    return out;
  }

  absl::StatusOr<v1::SubjectRequest> CreateLocked(v1::SubjectRequest request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    {
      StmtUse use(insert);
      insert.BindText(1, request.verified_subject_id());
      insert.BindInt(2, IsOpen(request) ? 1 : 0);
      const int rc = sqlite3_step(insert.get());
      if (rc != SQLITE_DONE) return Error(rc, "insert request");
    }
    const std::int64_t seq = sqlite3_last_insert_rowid(db);
    request.set_id(absl::StrCat("req-", seq));
    request.set_version(1);
    StmtUse use(set_record);
    set_record.BindInt(1, seq);
    set_record.BindText(2, request.id());
    set_record.BindBlob(3, request.SerializeAsString());
    const int rc = sqlite3_step(set_record.get());
    if (rc != SQLITE_DONE) return Error(rc, "write request");
    return request;
  }

  // Inserts `request` at row `seq` unless its id or row is taken.
  absl::StatusOr<v1::SubjectRequest> ImportLocked(v1::SubjectRequest request,
                                                  std::int64_t seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    {
      StmtUse use(get);
      get.BindText(1, request.id());
      const int rc = sqlite3_step(get.get());
      if (rc == SQLITE_ROW) {
        return absl::AlreadyExistsError(absl::StrCat(
            where, ": request '", request.id(), "' is already stored"));
      }
      if (rc != SQLITE_DONE) return Error(rc, "read request");
    }
    if (request.version() < 1) request.set_version(1);
    StmtUse use(import_row);
    import_row.BindInt(1, seq);
    import_row.BindText(2, request.id());
    import_row.BindText(3, request.verified_subject_id());
    import_row.BindInt(4, IsOpen(request) ? 1 : 0);
    import_row.BindInt(5, request.version());
    import_row.BindBlob(6, request.SerializeAsString());
    const int rc = sqlite3_step(import_row.get());
    if (rc == SQLITE_CONSTRAINT) {
      return absl::AlreadyExistsError(absl::StrCat(
          where, ": request '", request.id(), "' is already stored"));
    }
    if (rc != SQLITE_DONE) return Error(rc, "import request");
    return request;
  }

  absl::StatusOr<v1::SubjectRequest> UpdateLocked(
      const v1::SubjectRequest& request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::int64_t seq = 0;
    {
      StmtUse use(get);
      get.BindText(1, request.id());
      const int rc = sqlite3_step(get.get());
      if (rc == SQLITE_DONE) {
        return absl::NotFoundError(
            absl::StrCat(where, ": request '", request.id(), "' not found"));
      }
      if (rc != SQLITE_ROW) return Error(rc, "read request");
      seq = get.ColumnInt(0);
      if (get.ColumnInt(1) != request.version()) {
        return absl::AbortedError(absl::StrCat(
            "request '", request.id(), "': expected version ",
            request.version(), " but the stored request is at version ",
            get.ColumnInt(1)));
      }
    }
    v1::SubjectRequest stored = request;
    stored.set_version(request.version() + 1);
    StmtUse use(update);
    update.BindInt(1, seq);
    update.BindText(2, stored.verified_subject_id());
    update.BindInt(3, IsOpen(stored) ? 1 : 0);
    update.BindInt(4, stored.version());
    update.BindBlob(5, stored.SerializeAsString());
    const int rc = sqlite3_step(update.get());
    if (rc != SQLITE_DONE) return Error(rc, "update request");
    return stored;
  }
};

SqliteRequestStore::SqliteRequestStore(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
SqliteRequestStore::~SqliteRequestStore() = default;

const std::string& SqliteRequestStore::path() const { return impl_->path; }

absl::StatusOr<std::unique_ptr<SqliteRequestStore>> SqliteRequestStore::Open(
    const std::string& path, SqliteStoreOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->where = internal::SqliteWhere(kLabel, path);
  Impl& s = *impl;
  internal::MutexLock lock(&s.mu);
  RETURN_IF_ERROR(internal::OpenSqliteFile(path, options, kLabel, &s.db));
  RETURN_IF_ERROR(
      internal::MigrateSqliteComponent(s.db, s.where, kComponent, kMigrations));
  RETURN_IF_ERROR(s.Prepare());
  return std::unique_ptr<SqliteRequestStore>(
      new SqliteRequestStore(std::move(impl)));
}

absl::StatusOr<v1::SubjectRequest> SqliteRequestStore::Create(
    v1::SubjectRequest request) {
  RETURN_IF_ERROR(ValidateStorableRequest(request));
  internal::MutexLock lock(&impl_->mu);
  return impl_->InWriteTransaction<v1::SubjectRequest>(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return impl_->CreateLocked(std::move(request));
      });
}

absl::StatusOr<v1::SubjectRequest> SqliteRequestStore::Get(
    absl::string_view id) {
  RETURN_IF_ERROR(ValidateRequestId(id));
  internal::MutexLock lock(&impl_->mu);
  Stmt& get = impl_->get;
  StmtUse use(get);
  get.BindText(1, id);
  const int rc = sqlite3_step(get.get());
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(
        absl::StrCat(impl_->where, ": request '", id, "' not found"));
  }
  if (rc != SQLITE_ROW) return impl_->Error(rc, "read request");
  return impl_->ParseRow(get.ColumnInt(0), id, get.ColumnInt(1),
                         get.ColumnBlob(2));
}

absl::StatusOr<v1::SubjectRequest> SqliteRequestStore::Update(
    const v1::SubjectRequest& request) {
  RETURN_IF_ERROR(ValidateRequestId(request.id()));
  RETURN_IF_ERROR(ValidateStorableRequest(request));
  internal::MutexLock lock(&impl_->mu);
  return impl_->InWriteTransaction<v1::SubjectRequest>(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return impl_->UpdateLocked(request);
      });
}

absl::StatusOr<std::vector<v1::SubjectRequest>>
SqliteRequestStore::ListBySubject(absl::string_view subject_id) {
  if (subject_id.empty()) return std::vector<v1::SubjectRequest>{};
  internal::MutexLock lock(&impl_->mu);
  StmtUse use(impl_->by_subject);
  impl_->by_subject.BindText(1, subject_id);
  return impl_->List(impl_->by_subject);
}

absl::StatusOr<RequestListing> SqliteRequestStore::ListOpen() {
  internal::MutexLock lock(&impl_->mu);
  StmtUse use(impl_->open_list);
  return impl_->Listing(impl_->open_list);
}

absl::StatusOr<RequestListing> SqliteRequestStore::ListAll() {
  internal::MutexLock lock(&impl_->mu);
  StmtUse use(impl_->all_list);
  return impl_->Listing(impl_->all_list);
}

absl::StatusOr<v1::SubjectRequest> SqliteRequestStore::Import(
    const v1::SubjectRequest& request) {
  ASSIGN_OR_RETURN(const std::int64_t seq,
                   ImportableRequestNumber(request.id()));
  RETURN_IF_ERROR(ValidateStorableRequest(request));
  internal::MutexLock lock(&impl_->mu);
  return impl_->InWriteTransaction<v1::SubjectRequest>(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return impl_->ImportLocked(request, seq);
      });
}

}  // namespace consentry
