// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
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

constexpr absl::string_view kLabel = "provision record store";
constexpr absl::string_view kComponent = "provision_records";

// Each entry upgrades component "provision_records" from version i to
// i + 1. Times are (seconds, nanos) since the epoch, as in a Timestamp.
constexpr const char* kMigrations[] = {
    // 0 -> 1.
    //   provision_records: kind 0 = provision, 1 = receipt; party = the
    //     recipient id or the provider name; own_end = RetentionEnd of the
    //     record alone; record = the record's bytes without retain_until.
    //   provision_subjects: (subject, record) pairs, so that a subject's
    //     records are found by index.
    //   provision_series: per series, its last record's time, the methods
    //     whose end follows the series (bit 1 << method), the latest end of
    //     its other records, and the end of the whole series.
    "CREATE TABLE provision_records("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind INTEGER NOT NULL,"
    "  id TEXT NOT NULL,"
    "  party TEXT NOT NULL,"
    "  time_s INTEGER NOT NULL,"
    "  time_ns INTEGER NOT NULL,"
    "  method INTEGER NOT NULL,"
    "  series_id TEXT NOT NULL,"
    "  own_end_s INTEGER NOT NULL,"
    "  own_end_ns INTEGER NOT NULL,"
    "  record BLOB NOT NULL,"
    "  UNIQUE(kind, id));"
    "CREATE INDEX provision_records_by_time"
    "  ON provision_records(kind, time_s, time_ns);"
    "CREATE INDEX provision_records_by_party"
    "  ON provision_records(party, kind, time_s, time_ns);"
    "CREATE INDEX provision_records_by_series"
    "  ON provision_records(kind, series_id) WHERE series_id <> '';"
    "CREATE INDEX provision_records_due"
    "  ON provision_records(own_end_s, own_end_ns) WHERE series_id = '';"
    "CREATE TABLE provision_subjects("
    "  subject_id TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  PRIMARY KEY(subject_id, seq)) WITHOUT ROWID;"
    "CREATE INDEX provision_subjects_by_record ON provision_subjects(seq);"
    "CREATE TABLE provision_series("
    "  kind INTEGER NOT NULL,"
    "  series_id TEXT NOT NULL,"
    "  last_s INTEGER NOT NULL,"
    "  last_ns INTEGER NOT NULL,"
    "  methods INTEGER NOT NULL,"
    "  fixed_end_s INTEGER,"
    "  fixed_end_ns INTEGER,"
    "  end_s INTEGER NOT NULL,"
    "  end_ns INTEGER NOT NULL,"
    "  PRIMARY KEY(kind, series_id));"
    "CREATE INDEX provision_series_due ON provision_series(end_s, end_ns);",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) ==
              SqliteProvisionRecordStore::kSchemaVersion);

enum Kind : int { kProvision = 0, kReceipt = 1 };

struct SecNanos {
  std::int64_t s = 0;
  std::int64_t ns = 0;
};

SecNanos Split(absl::Time t) {
  const std::int64_t s = absl::ToUnixSeconds(t);  // rounds down
  return {s, absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(s))};
}

absl::Time Join(std::int64_t s, std::int64_t ns) {
  return absl::FromUnixSeconds(s) + absl::Nanoseconds(ns);
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const SecNanos p = Split(t);
  out->set_seconds(p.s);
  out->set_nanos(static_cast<std::int32_t>(p.ns));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& t) {
  return Join(t.seconds(), t.nanos());
}

// Whether a record's keeping period under `method` runs from the last
// record of its series (read off `RetentionEnd`, which holds the table).
bool FollowsSeries(int method) {
  static const std::array<bool, v1::RecordMethod_ARRAYSIZE> table = [] {
    std::array<bool, v1::RecordMethod_ARRAYSIZE> t{};
    const absl::Time a = absl::FromUnixSeconds(1'700'000'000);
    const absl::Time b = a + absl::Hours(24 * 800);
    for (int m = 0; m < v1::RecordMethod_ARRAYSIZE; ++m) {
      const auto rm = static_cast<v1::RecordMethod>(m);
      t[static_cast<std::size_t>(m)] =
          RetentionEnd(rm, a, b) != RetentionEnd(rm, a, a);
    }
    return t;
  }();
  return method >= 0 && method < v1::RecordMethod_ARRAYSIZE &&
         table[static_cast<std::size_t>(method)];
}

// What a row needs to be written, for either kind.
struct NewRow {
  Kind kind;
  std::string id;
  std::string party;
  absl::Time time;
  int method;
  std::string series;
  std::vector<std::string> subjects;
};

NewRow RowOf(const v1::ProvisionRecord& r) {
  return {kProvision,
          r.id(),
          r.recipient_id(),
          FromTimestamp(r.provision_time()),
          r.record_method(),
          r.series_id(),
          {r.subjects().begin(), r.subjects().end()}};
}
NewRow RowOf(const v1::ReceiptRecord& r) {
  return {kReceipt,
          r.id(),
          r.provider_name(),
          FromTimestamp(r.receipt_time()),
          r.record_method(),
          r.series_id(),
          {r.subjects().begin(), r.subjects().end()}};
}

// A read row.
struct Row {
  std::int64_t seq;
  Kind kind;
  std::string id;
  absl::Time time;
};

absl::string_view KindName(Kind k) {
  return k == kProvision ? "provision record" : "receipt record";
}

}  // namespace

struct SqliteProvisionRecordStore::Impl {
  std::string path;
  std::string where;

  internal::Mutex mu;
  sqlite3* db ABSL_GUARDED_BY(mu) = nullptr;
  Stmt exists ABSL_GUARDED_BY(mu);
  Stmt next_seq ABSL_GUARDED_BY(mu);
  Stmt insert ABSL_GUARDED_BY(mu);
  Stmt insert_subject ABSL_GUARDED_BY(mu);
  Stmt get_series ABSL_GUARDED_BY(mu);
  Stmt put_series ABSL_GUARDED_BY(mu);
  Stmt due_single ABSL_GUARDED_BY(mu);
  Stmt due_series ABSL_GUARDED_BY(mu);
  Stmt delete_subjects ABSL_GUARDED_BY(mu);
  Stmt delete_record ABSL_GUARDED_BY(mu);
  Stmt delete_series ABSL_GUARDED_BY(mu);
  Stmt find_id ABSL_GUARDED_BY(mu);
  // Query statements by shape (subject, party, from, to present).
  std::array<Stmt, 16> query ABSL_GUARDED_BY(mu);
  std::array<bool, 16> query_ready ABSL_GUARDED_BY(mu) = {};

  ~Impl() {
    internal::MutexLock lock(&mu);
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
  absl::Status Step(Stmt& s, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const int rc = sqlite3_step(s.get());
    if (rc != SQLITE_DONE) return Error(rc, what);
    return absl::OkStatus();
  }

  absl::Status Prepare() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const std::pair<Stmt*, const char*> statements[] = {
        {&exists,
         "SELECT 1 FROM provision_records WHERE kind = ?1 AND id = ?2"},
        {&next_seq,
         "SELECT COALESCE((SELECT seq FROM sqlite_sequence"
         " WHERE name = 'provision_records'), 0) + 1"},
        {&insert,
         "INSERT INTO provision_records(seq, kind, id, party, time_s, time_ns,"
         " method, series_id, own_end_s, own_end_ns, record)"
         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
        {&insert_subject,
         "INSERT OR IGNORE INTO provision_subjects(subject_id, seq)"
         " VALUES(?1, ?2)"},
        {&get_series,
         "SELECT last_s, last_ns, methods, fixed_end_s, fixed_end_ns"
         " FROM provision_series WHERE kind = ?1 AND series_id = ?2"},
        {&put_series,
         "INSERT INTO provision_series(kind, series_id, last_s, last_ns,"
         " methods, fixed_end_s, fixed_end_ns, end_s, end_ns)"
         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
         " ON CONFLICT(kind, series_id) DO UPDATE SET last_s = excluded.last_s,"
         " last_ns = excluded.last_ns, methods = excluded.methods,"
         " fixed_end_s = excluded.fixed_end_s,"
         " fixed_end_ns = excluded.fixed_end_ns, end_s = excluded.end_s,"
         " end_ns = excluded.end_ns"},
        {&due_single,
         "SELECT seq, kind, id, time_s, time_ns FROM provision_records"
         " WHERE series_id = '' AND (own_end_s, own_end_ns) <= (?1, ?2)"},
        {&due_series,
         "SELECT r.seq, r.kind, r.id, r.time_s, r.time_ns"
         " FROM provision_series s JOIN provision_records r"
         " ON r.kind = s.kind AND r.series_id = s.series_id"
         " WHERE (s.end_s, s.end_ns) <= (?1, ?2) AND r.series_id <> ''"},
        {&delete_subjects, "DELETE FROM provision_subjects WHERE seq = ?1"},
        {&delete_record, "DELETE FROM provision_records WHERE seq = ?1"},
        {&delete_series,
         "DELETE FROM provision_series WHERE (end_s, end_ns) <= (?1, ?2)"},
        {&find_id,
         "SELECT seq FROM provision_records WHERE kind = ?1 AND id = ?2"},
    };
    for (const auto& [stmt, sql] : statements) {
      RETURN_IF_ERROR(stmt->Prepare(db, where, sql));
    }
    return absl::OkStatus();
  }

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

  absl::StatusOr<bool> Exists(Kind kind, absl::string_view id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    StmtUse use(exists);
    exists.BindInt(1, kind);
    exists.BindText(2, id);
    const int rc = sqlite3_step(exists.get());
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) return Error(rc, "look up record id");
    return false;
  }

  // The seq to insert with (0: let SQLite choose) and the record's id.
  absl::Status AssignId(Kind kind, std::string& id, std::int64_t& seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!id.empty()) {
      ASSIGN_OR_RETURN(const bool taken, Exists(kind, id));
      if (taken) {
        return absl::AlreadyExistsError(absl::StrCat(
            where, ": ", KindName(kind), " '", id, "' already exists"));
      }
      seq = 0;
      return absl::OkStatus();
    }
    {
      StmtUse use(next_seq);
      const int rc = sqlite3_step(next_seq.get());
      if (rc != SQLITE_ROW) return Error(rc, "read next record number");
      seq = next_seq.ColumnInt(0);
    }
    // A caller may have taken "prov-N" as its own id: move past it.
    for (;; ++seq) {
      id = absl::StrCat(kind == kProvision ? "prov-" : "rcpt-", seq);
      ASSIGN_OR_RETURN(const bool taken, Exists(kind, id));
      if (!taken) return absl::OkStatus();
    }
  }

  // Folds a new record into its series row.
  absl::Status UpdateSeries(const NewRow& r, absl::Time own_end)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    absl::Time last = r.time;
    std::int64_t methods = 0;
    bool has_fixed = false;
    absl::Time fixed_end = absl::InfinitePast();
    {
      StmtUse use(get_series);
      get_series.BindInt(1, r.kind);
      get_series.BindText(2, r.series);
      const int rc = sqlite3_step(get_series.get());
      if (rc == SQLITE_ROW) {
        last = std::max(last,
                        Join(get_series.ColumnInt(0), get_series.ColumnInt(1)));
        methods = get_series.ColumnInt(2);
        if (sqlite3_column_type(get_series.get(), 3) != SQLITE_NULL) {
          has_fixed = true;
          fixed_end = Join(get_series.ColumnInt(3), get_series.ColumnInt(4));
        }
      } else if (rc != SQLITE_DONE) {
        return Error(rc, "read series");
      }
    }
    if (FollowsSeries(r.method)) {
      methods |= std::int64_t{1} << r.method;
    } else {
      has_fixed = true;
      fixed_end = std::max(fixed_end, own_end);
    }
    absl::Time end = fixed_end;
    for (int m = 0; m < v1::RecordMethod_ARRAYSIZE; ++m) {
      if ((methods >> m) & 1) {
        end = std::max(
            end, RetentionEnd(static_cast<v1::RecordMethod>(m), last, last));
      }
    }
    StmtUse use(put_series);
    put_series.BindInt(1, r.kind);
    put_series.BindText(2, r.series);
    const SecNanos l = Split(last);
    put_series.BindInt(3, l.s);
    put_series.BindInt(4, l.ns);
    put_series.BindInt(5, methods);
    if (has_fixed) {
      const SecNanos f = Split(fixed_end);
      put_series.BindInt(6, f.s);
      put_series.BindInt(7, f.ns);
    }
    const SecNanos e = Split(end);
    put_series.BindInt(8, e.s);
    put_series.BindInt(9, e.ns);
    return Step(put_series, "write series");
  }

  // Adds one record; `message` is the record to store (id set by the
  // caller from `r.id` after AssignId, retain_until cleared).
  template <typename R>
  absl::StatusOr<std::string> AddLocked(NewRow r, R message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::int64_t seq = 0;
    RETURN_IF_ERROR(AssignId(r.kind, r.id, seq));
    message.set_id(r.id);
    message.clear_retain_until();
    const absl::Time own_end =
        RetentionEnd(static_cast<v1::RecordMethod>(r.method), r.time, r.time);
    if (!r.series.empty()) RETURN_IF_ERROR(UpdateSeries(r, own_end));
    {
      StmtUse use(insert);
      if (seq != 0) insert.BindInt(1, seq);  // else NULL: the next rowid
      insert.BindInt(2, r.kind);
      insert.BindText(3, r.id);
      insert.BindText(4, r.party);
      const SecNanos t = Split(r.time);
      insert.BindInt(5, t.s);
      insert.BindInt(6, t.ns);
      insert.BindInt(7, r.method);
      insert.BindText(8, r.series);
      const SecNanos e = Split(own_end);
      insert.BindInt(9, e.s);
      insert.BindInt(10, e.ns);
      insert.BindBlob(11, message.SerializeAsString());
      RETURN_IF_ERROR(Step(insert, "insert record"));
    }
    const std::int64_t row = sqlite3_last_insert_rowid(db);
    for (const std::string& subject : r.subjects) {
      StmtUse use(insert_subject);
      insert_subject.BindText(1, subject);
      insert_subject.BindInt(2, row);
      RETURN_IF_ERROR(Step(insert_subject, "index record subject"));
    }
    return r.id;
  }

  absl::StatusOr<v1::ProvisionHistory> QueryLocked(const RecordFilter& f)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  absl::StatusOr<std::vector<Row>> Due(Stmt& stmt, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  absl::StatusOr<PurgeResult> PurgeLocked(absl::Time now,
                                          const PurgeApproval& approve)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  absl::Status DeleteRow(std::int64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
};

namespace {

// The statement for a query of `shape` (bit 0 subject, 1 party, 2 from,
// 3 to). Parameters: ?1 subject, ?2 party, ?3/?4 from, ?5/?6 to.
std::string QuerySql(int shape) {
  std::string sql =
      "SELECT r.seq, r.kind, r.id, r.method, r.series_id, r.own_end_s,"
      " r.own_end_ns, s.last_s, s.last_ns, r.record FROM ";
  sql += (shape & 1) ? "provision_subjects x JOIN provision_records r"
                       " ON r.seq = x.seq"
                     : "provision_records r";
  sql +=
      " LEFT JOIN provision_series s ON r.series_id <> '' AND"
      " s.kind = r.kind AND s.series_id = r.series_id WHERE 1";
  if (shape & 1) sql += " AND x.subject_id = ?1";
  if (shape & 2) sql += " AND r.party = ?2";
  if (shape & 4) sql += " AND (r.time_s, r.time_ns) >= (?3, ?4)";
  if (shape & 8) sql += " AND (r.time_s, r.time_ns) < (?5, ?6)";
  sql += " ORDER BY r.kind, r.time_s, r.time_ns, r.seq";
  return sql;
}

}  // namespace

absl::StatusOr<v1::ProvisionHistory>
SqliteProvisionRecordStore::Impl::QueryLocked(const RecordFilter& f) {
  v1::ProvisionHistory out;
  if (f.from >= f.to) return out;
  const int shape = (f.subject.empty() ? 0 : 1) |
                    (f.recipient.empty() ? 0 : 2) |
                    (f.from == absl::InfinitePast() ? 0 : 4) |
                    (f.to == absl::InfiniteFuture() ? 0 : 8);
  Stmt& q = query[static_cast<std::size_t>(shape)];
  if (!query_ready[static_cast<std::size_t>(shape)]) {
    RETURN_IF_ERROR(q.Prepare(db, where, QuerySql(shape).c_str()));
    query_ready[static_cast<std::size_t>(shape)] = true;
  }
  StmtUse use(q);
  if (shape & 1) q.BindText(1, f.subject);
  if (shape & 2) q.BindText(2, f.recipient);
  const SecNanos from = Split(f.from);
  const SecNanos to = Split(f.to);
  if (shape & 4) {
    q.BindInt(3, from.s);
    q.BindInt(4, from.ns);
  }
  if (shape & 8) {
    q.BindInt(5, to.s);
    q.BindInt(6, to.ns);
  }
  for (;;) {
    const int rc = sqlite3_step(q.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error(rc, "query records");
    const std::int64_t seq = q.ColumnInt(0);
    const auto kind = static_cast<Kind>(q.ColumnInt(1));
    const std::string id = q.ColumnBlob(2);
    const int method = static_cast<int>(q.ColumnInt(3));
    const bool series = !q.ColumnBlob(4).empty() &&
                        sqlite3_column_type(q.get(), 7) != SQLITE_NULL &&
                        FollowsSeries(method);
    const absl::Time last = Join(q.ColumnInt(7), q.ColumnInt(8));
    const absl::Time own_end = Join(q.ColumnInt(5), q.ColumnInt(6));
    const std::string bytes = q.ColumnBlob(9);
    bool parsed = false;
    std::string stored_id;
    if (kind == kProvision) {
      v1::ProvisionRecord* r = out.add_provisions();
      parsed = r->ParseFromString(bytes);
      stored_id = r->id();
      SetTimestamp(series
                       ? RetentionEnd(r->record_method(),
                                      FromTimestamp(r->provision_time()), last)
                       : own_end,
                   r->mutable_retain_until());
    } else {
      v1::ReceiptRecord* r = out.add_receipts();
      parsed = r->ParseFromString(bytes);
      stored_id = r->id();
      SetTimestamp(series ? RetentionEnd(r->record_method(),
                                         FromTimestamp(r->receipt_time()), last)
                          : own_end,
                   r->mutable_retain_until());
    }
    if (!parsed || stored_id != id) {
      return absl::DataLossError(absl::StrCat(
          where, ": ", KindName(kind), " '", absl::CHexEscape(id), "' (row ",
          seq, ") is unreadable: ",
          parsed ? absl::StrCat("its bytes name record '",
                                absl::CHexEscape(stored_id), "'")
                 : "its bytes do not parse",
          "; records of other subjects are not affected; restore the row "
          "from a backup"));
    }
  }
  return out;
}

absl::StatusOr<std::vector<Row>> SqliteProvisionRecordStore::Impl::Due(
    Stmt& stmt, absl::Time now) {
  StmtUse use(stmt);
  const SecNanos n = Split(now);
  stmt.BindInt(1, n.s);
  stmt.BindInt(2, n.ns);
  std::vector<Row> out;
  for (;;) {
    const int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error(rc, "find records due");
    out.push_back(Row{stmt.ColumnInt(0), static_cast<Kind>(stmt.ColumnInt(1)),
                      stmt.ColumnBlob(2),
                      Join(stmt.ColumnInt(3), stmt.ColumnInt(4))});
  }
  return out;
}

absl::Status SqliteProvisionRecordStore::Impl::DeleteRow(std::int64_t seq) {
  {
    StmtUse use(delete_subjects);
    delete_subjects.BindInt(1, seq);
    RETURN_IF_ERROR(Step(delete_subjects, "delete record subjects"));
  }
  StmtUse use(delete_record);
  delete_record.BindInt(1, seq);
  return Step(delete_record, "delete record");
}

absl::StatusOr<PurgeResult> SqliteProvisionRecordStore::Impl::PurgeLocked(
    absl::Time now, const PurgeApproval& approve) {
  ASSIGN_OR_RETURN(std::vector<Row> due, Due(due_single, now));
  ASSIGN_OR_RETURN(std::vector<Row> in_series, Due(due_series, now));
  due.insert(due.end(), std::make_move_iterator(in_series.begin()),
             std::make_move_iterator(in_series.end()));
  std::sort(due.begin(), due.end(), [](const Row& a, const Row& b) {
    return std::tie(a.kind, a.time, a.seq) < std::tie(b.kind, b.time, b.seq);
  });
  PurgeResult out;
  for (const Row& r : due) {
    (r.kind == kProvision ? out.provision_ids : out.receipt_ids)
        .push_back(r.id);
  }
  if (approve) RETURN_IF_ERROR(approve(out));
  for (const Row& r : due) RETURN_IF_ERROR(DeleteRow(r.seq));
  StmtUse use(delete_series);
  const SecNanos n = Split(now);
  delete_series.BindInt(1, n.s);
  delete_series.BindInt(2, n.ns);
  RETURN_IF_ERROR(Step(delete_series, "delete series"));
  return out;
}

SqliteProvisionRecordStore::SqliteProvisionRecordStore(
    std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
SqliteProvisionRecordStore::~SqliteProvisionRecordStore() = default;

const std::string& SqliteProvisionRecordStore::path() const {
  return impl_->path;
}

absl::StatusOr<std::unique_ptr<SqliteProvisionRecordStore>>
SqliteProvisionRecordStore::Open(const std::string& path,
                                 SqliteStoreOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->where = internal::SqliteWhere(kLabel, path);
  Impl& s = *impl;
  internal::MutexLock lock(&s.mu);
  RETURN_IF_ERROR(internal::OpenSqliteFile(path, options, kLabel, &s.db));
  RETURN_IF_ERROR(
      internal::MigrateSqliteComponent(s.db, s.where, kComponent, kMigrations));
  RETURN_IF_ERROR(s.Prepare());
  return std::unique_ptr<SqliteProvisionRecordStore>(
      new SqliteProvisionRecordStore(std::move(impl)));
}

absl::StatusOr<std::string> SqliteProvisionRecordStore::AddProvision(
    v1::ProvisionRecord record) {
  RETURN_IF_ERROR(ValidateProvisionRecord(record));
  NewRow r = RowOf(record);
  internal::MutexLock lock(&impl_->mu);
  return impl_->InWriteTransaction<std::string>(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return impl_->AddLocked(std::move(r), std::move(record));
      });
}

absl::StatusOr<std::string> SqliteProvisionRecordStore::AddReceipt(
    v1::ReceiptRecord record) {
  RETURN_IF_ERROR(ValidateReceiptRecord(record));
  NewRow r = RowOf(record);
  internal::MutexLock lock(&impl_->mu);
  return impl_->InWriteTransaction<std::string>(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return impl_->AddLocked(std::move(r), std::move(record));
      });
}

absl::StatusOr<std::vector<std::string>> SqliteProvisionRecordStore::AddRecords(
    v1::ProvisionHistory history) {
  RETURN_IF_ERROR(ValidateProvisionHistory(history));
  internal::MutexLock lock(&impl_->mu);
  return impl_->InWriteTransaction<std::vector<std::string>>(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS
      -> absl::StatusOr<std::vector<std::string>> {
        std::vector<std::string> ids;
        // The row is taken before the record moves into `AddLocked`.
        for (v1::ProvisionRecord& p : *history.mutable_provisions()) {
          NewRow r = RowOf(p);
          ASSIGN_OR_RETURN(ids.emplace_back(),
                           impl_->AddLocked(std::move(r), std::move(p)));
        }
        for (v1::ReceiptRecord& c : *history.mutable_receipts()) {
          NewRow r = RowOf(c);
          ASSIGN_OR_RETURN(ids.emplace_back(),
                           impl_->AddLocked(std::move(r), std::move(c)));
        }
        return ids;
      });
}

absl::StatusOr<v1::ProvisionHistory> SqliteProvisionRecordStore::Query(
    const RecordFilter& filter) {
  internal::MutexLock lock(&impl_->mu);
  return impl_->QueryLocked(filter);
}

absl::Status SqliteProvisionRecordStore::Delete(
    absl::Span<const std::string> provision_ids,
    absl::Span<const std::string> receipt_ids) {
  internal::MutexLock lock(&impl_->mu);
  return impl_
      ->InWriteTransaction<bool>(
          [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS -> absl::StatusOr<bool> {
            for (Kind kind : {kProvision, kReceipt}) {
              for (const std::string& id :
                   kind == kProvision ? provision_ids : receipt_ids) {
                std::int64_t seq = 0;
                {
                  Stmt& f = impl_->find_id;
                  StmtUse use(f);
                  f.BindInt(1, kind);
                  f.BindText(2, id);
                  const int rc = sqlite3_step(f.get());
                  if (rc == SQLITE_DONE) continue;
                  if (rc != SQLITE_ROW) return impl_->Error(rc, "find record");
                  seq = f.ColumnInt(0);
                }
                RETURN_IF_ERROR(impl_->DeleteRow(seq));
              }
            }
            return true;
          })
      .status();
}

absl::StatusOr<PurgeResult> SqliteProvisionRecordStore::PurgeDue(
    absl::Time now, const PurgeApproval& approve) {
  internal::MutexLock lock(&impl_->mu);
  return impl_->InWriteTransaction<PurgeResult>(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return impl_->PurgeLocked(now, approve);
      });
}

}  // namespace consentry
