// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/sqlite_store.h"

#include <sqlite3.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/store/feed_runner.h"
#include "src/store/sqlite_db.h"
#include "src/store/stored_record.h"
#include "src/util/mutex.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

// Each entry upgrades the schema from version i to i + 1.
constexpr const char* kMigrations[] = {
    // 0 -> 1
    "CREATE TABLE consentry_schema(version INTEGER NOT NULL);"
    "INSERT INTO consentry_schema(version) VALUES(0);"
    "CREATE TABLE consent_records("
    "  subject_id TEXT PRIMARY KEY NOT NULL,"
    "  revision INTEGER NOT NULL,"
    "  record BLOB NOT NULL);"
    "CREATE INDEX consent_records_by_revision ON consent_records(revision);"
    "CREATE TABLE consent_history("
    "  revision INTEGER PRIMARY KEY NOT NULL,"
    "  subject_id TEXT NOT NULL,"
    "  commit_time_ns INTEGER NOT NULL,"
    "  change BLOB NOT NULL,"
    "  state BLOB NOT NULL);"
    "CREATE INDEX consent_history_by_subject "
    "  ON consent_history(subject_id, revision);",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) ==
              SqliteConsentStore::kSchemaVersion);

using Stmt = internal::SqliteStmt;
using StmtUse = internal::SqliteStmtUse;

constexpr absl::string_view kLabel = "consent store";

absl::Status SqliteError(sqlite3* db, int rc, const std::string& path,
                         absl::string_view what) {
  return internal::SqliteError(db, rc, internal::SqliteWhere(kLabel, path),
                               what);
}

}  // namespace

struct SqliteConsentStore::Impl {
  std::string path;
  SqliteStoreOptions options;

  internal::FeedRunner feed;

  internal::Mutex mu;
  sqlite3* db ABSL_GUARDED_BY(mu) = nullptr;
  Stmt get_record ABSL_GUARDED_BY(mu);
  Stmt put_record ABSL_GUARDED_BY(mu);
  Stmt put_history ABSL_GUARDED_BY(mu);
  Stmt max_revision ABSL_GUARDED_BY(mu);
  Stmt changes_since ABSL_GUARDED_BY(mu);
  Stmt history ABSL_GUARDED_BY(mu);
  Stmt recover_record ABSL_GUARDED_BY(mu);

  // Poller state.
  internal::Mutex poll_mu;
  internal::CondVar poll_cv;
  bool stop ABSL_GUARDED_BY(poll_mu) = false;

  ~Impl() {
    {
      internal::MutexLock lock(&poll_mu);
      stop = true;
    }
    poll_cv.NotifyAll();
    feed.Join();
    internal::MutexLock lock(&mu);
    // close_v2 defers the close until the statements (members) finalize.
    sqlite3_close_v2(db);
    db = nullptr;
  }

  absl::Status Error(int rc, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return SqliteError(db, rc, path, what);
  }

  // Opens the file hardened (internal::OpenSqliteFile): a regular file,
  // in WAL mode with synchronous=FULL.
  absl::Status Connect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return internal::OpenSqliteFile(path, options, kLabel, &db);
  }

  // The schema version the file holds: 0 for a new, empty file.
  // Errors: `kDataLoss` without a version row; `kFailedPrecondition` for a
  // database of another application.
  absl::StatusOr<int> SchemaVersionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Stmt has;
    RETURN_IF_ERROR(
        has.Prepare(db, Where(),
                    "SELECT count(*) FROM sqlite_master WHERE type='table' AND "
                    "name='consentry_schema'"));
    int rc = sqlite3_step(has.get());
    if (rc != SQLITE_ROW) return Error(rc, "read schema");
    if (has.ColumnInt(0) > 0) {
      Stmt v;
      RETURN_IF_ERROR(
          v.Prepare(db, Where(), "SELECT version FROM consentry_schema"));
      rc = sqlite3_step(v.get());
      if (rc != SQLITE_ROW) {
        return absl::DataLossError(absl::StrCat(
            "consent store '", path, "': the schema version row is missing"));
      }
      return static_cast<int>(v.ColumnInt(0));
    }
    // Other components (the record stores) may have come first.
    ASSIGN_OR_RETURN(const bool foreign,
                     internal::SqliteForeignFile(db, Where()));
    if (foreign) {
      return absl::FailedPreconditionError(absl::StrCat(
          "consent store '", path,
          "': the file is a SQLite database of another application (no "
          "consentry_schema table)"));
    }
    return 0;
  }

  // Reads the schema version and migrates, under the write lock so that two
  // processes opening a new file do not both create it. Errors: those of
  // `SchemaVersionLocked`; `kFailedPrecondition` for a newer schema.
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", "begin schema transaction"));
    absl::Status schema =
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) -> absl::Status {
      ASSIGN_OR_RETURN(const int version, SchemaVersionLocked());
      if (version > kSchemaVersion || version < 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("consent store '", path, "' has schema version ",
                         version, ", newer than this library supports (",
                         kSchemaVersion, "); upgrade consentry to open it"));
      }
      for (int v = version; v < kSchemaVersion; ++v) {
        RETURN_IF_ERROR(Exec(
            kMigrations[v], absl::StrCat("migrate schema to version ", v + 1)));
      }
      if (version != kSchemaVersion) {
        RETURN_IF_ERROR(
            Exec(absl::StrCat("UPDATE consentry_schema SET version = ",
                              kSchemaVersion)
                     .c_str(),
                 "record schema version"));
      }
      return Exec("COMMIT", "commit schema");
    }();
    if (!schema.ok()) Rollback();
    return schema;
  }

  // The statements every call uses, prepared once.
  absl::Status PrepareStatements() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const std::pair<Stmt*, const char*> statements[] = {
        {&get_record,
         "SELECT revision, record FROM consent_records WHERE subject_id = ?1"},
        {&put_record,
         "INSERT INTO consent_records(subject_id, revision, record) "
         "VALUES(?1, ?2, ?3) ON CONFLICT(subject_id) DO UPDATE SET "
         "revision = excluded.revision, record = excluded.record"},
        {&put_history,
         "INSERT INTO consent_history(revision, subject_id, commit_time_ns, "
         "change, state) VALUES(?1, ?2, ?3, ?4, ?5)"},
        {&max_revision,
         "SELECT COALESCE(MAX(revision), 0) FROM consent_history"},
        {&changes_since,
         "SELECT subject_id, revision, record FROM consent_records WHERE "
         "revision > ?1 ORDER BY revision LIMIT ?2"},
        {&recover_record,
         "SELECT h.revision, h.state FROM consent_history h JOIN "
         "consent_records r ON h.subject_id = r.subject_id AND h.revision = "
         "r.revision WHERE r.subject_id = ?1"},
        {&history,
         "SELECT revision, commit_time_ns, change, state FROM consent_history "
         "WHERE subject_id = ?1 ORDER BY revision"},
    };
    for (const auto& [stmt, sql] : statements) {
      RETURN_IF_ERROR(stmt->Prepare(db, Where(), sql));
    }
    return absl::OkStatus();
  }

  absl::Status Exec(const char* sql, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return internal::SqliteExec(db, sql, Where(), what);
  }

  void Rollback() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    internal::SqliteRollback(db);
  }

  std::string Where() const { return internal::SqliteWhere(kLabel, path); }

  absl::Status ParseRecord(const std::string& bytes, absl::string_view subject,
                           Revision revision, v1::ConsentRecord* out) {
    return internal::ParseStoredRecord(
        bytes, subject, revision, absl::StrCat("consent store '", path, "'"),
        out);
  }

  absl::StatusOr<v1::ConsentRecord> GetLocked(absl::string_view subject)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    StmtUse use(get_record);
    get_record.BindText(1, subject);
    const int rc = sqlite3_step(get_record.get());
    v1::ConsentRecord record;
    if (rc == SQLITE_DONE) {
      record.set_subject_id(std::string(subject));
      return record;
    }
    if (rc != SQLITE_ROW) return Error(rc, "read consent record");
    RETURN_IF_ERROR(ParseRecord(get_record.ColumnBlob(1), subject,
                                get_record.ColumnInt(0), &record));
    return record;
  }

  // The state a write to `subject` builds on: its current record, or, when
  // that row is unreadable, the state its history entry of the same
  // revision recorded (written in the same transaction), when that one
  // parses. Errors: `kDataLoss` when neither is readable (nothing written).
  absl::StatusOr<v1::ConsentRecord> BaseForWriteLocked(
      absl::string_view subject) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    absl::StatusOr<v1::ConsentRecord> current = GetLocked(subject);
    if (current.ok() || !absl::IsDataLoss(current.status())) return current;
    StmtUse use(recover_record);
    recover_record.BindText(1, subject);
    const int rc = sqlite3_step(recover_record.get());
    if (rc == SQLITE_ROW) {
      v1::ConsentRecord record;
      if (ParseRecord(recover_record.ColumnBlob(1), subject,
                      recover_record.ColumnInt(0), &record)
              .ok()) {
        return record;
      }
    } else if (rc != SQLITE_DONE) {
      return Error(rc, "read consent history");
    }
    return absl::DataLossError(
        absl::StrCat(current.status().message(),
                     "; its history holds no readable copy either, so the "
                     "change is not applied: restore the record first"));
  }

  absl::StatusOr<Revision> MaxRevisionLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    StmtUse use(max_revision);
    const int rc = sqlite3_step(max_revision.get());
    if (rc != SQLITE_ROW) return Error(rc, "read latest revision");
    return max_revision.ColumnInt(0);
  }

  // Applies one change inside an open write transaction.
  absl::StatusOr<v1::ConsentRecord> ApplyLocked(const v1::ConsentChange& change,
                                                Revision rev, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ASSIGN_OR_RETURN(v1::ConsentRecord record,
                     BaseForWriteLocked(change.subject_id()));
    if (change.has_expected_revision() &&
        change.expected_revision() != record.revision()) {
      return absl::AbortedError(
          absl::StrCat("consent change for subject '", change.subject_id(),
                       "': expected revision ", change.expected_revision(),
                       " but the record is at revision ", record.revision()));
    }
    // Merged against the record read inside this write transaction: a
    // change that would lift a restriction is refused here, for every
    // writer (the transaction is rolled back).
    RETURN_IF_ERROR(MergeConsentChange(change, rev, now, record));
    const std::string state = record.SerializeAsString();
    {
      StmtUse use(put_history);
      put_history.BindInt(1, rev);
      put_history.BindText(2, change.subject_id());
      put_history.BindInt(3, absl::ToUnixNanos(now));
      put_history.BindBlob(4, change.SerializeAsString());
      put_history.BindBlob(5, state);
      const int rc = sqlite3_step(put_history.get());
      if (rc != SQLITE_DONE) return Error(rc, "append consent history");
    }
    {
      StmtUse use(put_record);
      put_record.BindText(1, change.subject_id());
      put_record.BindInt(2, rev);
      put_record.BindBlob(3, state);
      const int rc = sqlite3_step(put_record.get());
      if (rc != SQLITE_DONE) return Error(rc, "write consent record");
    }
    return record;
  }

  absl::StatusOr<std::vector<v1::ConsentRecord>> ApplyAll(
      absl::Span<const v1::ConsentChange> changes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (const v1::ConsentChange& c : changes) {
      RETURN_IF_ERROR(ValidateConsentChange(c));
    }
    RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", "begin write transaction"));
    std::vector<v1::ConsentRecord> committed;
    committed.reserve(changes.size());
    absl::Status status =
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) -> absl::Status {
      ASSIGN_OR_RETURN(Revision rev, MaxRevisionLocked());
      const absl::Time now = absl::Now();
      for (const v1::ConsentChange& c : changes) {
        ASSIGN_OR_RETURN(v1::ConsentRecord r, ApplyLocked(c, ++rev, now));
        committed.push_back(std::move(r));
      }
      return Exec("COMMIT", "commit");
    }();
    if (!status.ok()) {
      Rollback();
      return status;
    }
    return committed;
  }

  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSinceLocked(
      Revision after, int limit) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    StmtUse use(changes_since);
    changes_since.BindInt(1, after);
    changes_since.BindInt(2, limit);
    std::vector<v1::ConsentRecord> out;
    for (;;) {
      const int rc = sqlite3_step(changes_since.get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return Error(rc, "list changes");
      // A row that cannot be read stands in as an unreadable record: the
      // feed moves past it and only its subject is quarantined.
      v1::ConsentRecord& r = out.emplace_back();
      const std::string subject = changes_since.ColumnBlob(0);
      const Revision revision = changes_since.ColumnInt(1);
      if (absl::Status s =
              ParseRecord(changes_since.ColumnBlob(2), subject, revision, &r);
          !s.ok()) {
        r = UnreadableConsentRecord(subject, revision, s.message());
      }
    }
    return out;
  }

  // The feed thread: catches up every `poll_interval` until `stop`; a
  // failed read is retried at the next poll.
  void PollLoop() {
    const auto interval = absl::ToChronoNanoseconds(options.poll_interval);
    for (;;) {
      (void)feed.CatchUp([this](Revision after) {
        internal::MutexLock lock(&mu);
        return ChangesSinceLocked(after, 1000);
      });
      internal::MutexLock lock(&poll_mu);
      if (poll_cv.WaitFor(
              &poll_mu, interval,
              [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stop; })) {
        return;
      }
    }
  }
};

SqliteConsentStore::SqliteConsentStore(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {
  SetFeedHeartbeatWord(impl_->feed.heartbeat_word());
}
SqliteConsentStore::~SqliteConsentStore() = default;

const std::string& SqliteConsentStore::path() const { return impl_->path; }

absl::StatusOr<std::unique_ptr<SqliteConsentStore>> SqliteConsentStore::Open(
    const std::string& path, SqliteStoreOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  Impl& s = *impl;
  internal::MutexLock lock(&s.mu);
  RETURN_IF_ERROR(s.Connect());
  RETURN_IF_ERROR(s.Migrate());
  RETURN_IF_ERROR(s.PrepareStatements());
  return std::unique_ptr<SqliteConsentStore>(
      new SqliteConsentStore(std::move(impl)));
}

absl::StatusOr<v1::ConsentRecord> SqliteConsentStore::Get(
    absl::string_view subject_id) {
  internal::MutexLock lock(&impl_->mu);
  return impl_->GetLocked(subject_id);
}

absl::StatusOr<Revision> SqliteConsentStore::Apply(
    const v1::ConsentChange& change) {
  RETURN_IF_ERROR(ValidateConsentChange(change));
  internal::MutexLock order(&impl_->feed.order_mu());
  absl::StatusOr<std::vector<v1::ConsentRecord>> committed;
  {
    internal::MutexLock lock(&impl_->mu);
    committed = impl_->ApplyAll(absl::MakeConstSpan(&change, 1));
  }
  if (!committed.ok()) return committed.status();
  impl_->feed.Deliver(*committed);
  return committed->front().revision();
}

absl::StatusOr<std::vector<Revision>> SqliteConsentStore::ApplyBatch(
    absl::Span<const v1::ConsentChange> changes) {
  if (changes.empty()) return std::vector<Revision>{};
  internal::MutexLock order(&impl_->feed.order_mu());
  absl::StatusOr<std::vector<v1::ConsentRecord>> committed;
  {
    internal::MutexLock lock(&impl_->mu);
    committed = impl_->ApplyAll(changes);
  }
  if (!committed.ok()) return committed.status();
  impl_->feed.Deliver(*committed);
  std::vector<Revision> out;
  out.reserve(committed->size());
  for (const v1::ConsentRecord& r : *committed) out.push_back(r.revision());
  return out;
}

absl::StatusOr<std::vector<v1::ConsentRecord>> SqliteConsentStore::ChangesSince(
    Revision after, int limit) {
  internal::MutexLock lock(&impl_->mu);
  return impl_->ChangesSinceLocked(after, limit);
}

absl::StatusOr<Revision> SqliteConsentStore::LatestRevision() {
  internal::MutexLock lock(&impl_->mu);
  return impl_->MaxRevisionLocked();
}

std::unique_ptr<Subscription> SqliteConsentStore::Watch(
    ConsentListener listener) {
  // The feed begins at the current revision: earlier state is read with
  // Get / ChangesSince by whoever needs it.
  Impl* raw = impl_.get();
  return impl_->feed.Watch(
      std::move(listener),
      [raw] {
        internal::MutexLock lock(&raw->mu);
        return raw->MaxRevisionLocked();
      },
      [raw] { raw->PollLoop(); });
}

absl::Time SqliteConsentStore::FeedHeartbeat() {
  return impl_->feed.Heartbeat();
}

absl::StatusOr<std::vector<v1::ConsentHistoryEntry>>
SqliteConsentStore::History(absl::string_view subject_id) {
  internal::MutexLock lock(&impl_->mu);
  Stmt& h = impl_->history;
  StmtUse use(h);
  h.BindText(1, subject_id);
  std::vector<v1::ConsentHistoryEntry> out;
  for (;;) {
    const int rc = sqlite3_step(h.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return impl_->Error(rc, "read consent history");
    RETURN_IF_ERROR(internal::ParseHistoryEntry(
        h.ColumnInt(0), h.ColumnInt(1), h.ColumnBlob(2), h.ColumnBlob(3),
        subject_id, absl::StrCat("consent store '", impl_->path, "'"),
        &out.emplace_back()));
  }
  return out;
}

}  // namespace consentry
