// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Provision and receipt records in PostgreSQL. One table holds both kinds
// of record (`kind` 1: provision, 2: receipt) with the columns the queries
// filter on; a subject's records are found through the GIN index on the
// `subjects` array (one index entry per subject of a record, added to the
// index's pending list on insert, so a record naming 100 subjects costs one
// row, not 101). The stored bytes
// are the record without `id` (a column, which may be assigned by the
// statement that inserts the row); `retain_until` lives in columns because
// a later record of the same series moves it.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "consentry/postgres_records.h"
#include "src/store/pg_session.h"
#include "src/util/mutex.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

using internal::pg::Param;
using internal::pg::ReadBytes;
using internal::pg::ReadInt32;
using internal::pg::ReadInt64;
using internal::pg::Result;
using internal::pg::Session;

// Each entry upgrades component "provisions" from version i to i + 1.
constexpr const char* kMigrations[] = {
    // 0 -> 1. Times are (seconds, nanoseconds) since the Unix epoch, so
    // that every protobuf timestamp (years 1 to 9999) fits. `retain_*` of
    // a record is its retention end counted from itself; a series keeps
    // the ends counted from its last record, per method that counts from
    // there (`contract_*`: RECORD_METHOD_CONTRACT_DOCUMENT, `collective_*`:
    // RECORD_METHOD_COLLECTIVE), and those apply to the series' records of
    // that method.
    "CREATE SEQUENCE $S.provision_id_seq;"
    "CREATE TABLE $S.provision_records("
    "  kind smallint NOT NULL,"
    "  id text NOT NULL,"
    "  seq bigint GENERATED ALWAYS AS IDENTITY,"
    "  party text NOT NULL,"
    "  time_s bigint NOT NULL,"
    "  time_n integer NOT NULL,"
    "  series_id text,"
    "  record_method integer NOT NULL,"
    "  retain_s bigint NOT NULL,"
    "  retain_n integer NOT NULL,"
    "  subjects text[] NOT NULL,"
    "  record bytea NOT NULL,"
    "  PRIMARY KEY (kind, id));"
    "CREATE INDEX provision_records_by_party "
    "  ON $S.provision_records(party);"
    "CREATE INDEX provision_records_by_time "
    "  ON $S.provision_records(time_s, time_n);"
    "CREATE INDEX provision_records_by_series "
    "  ON $S.provision_records(kind, series_id) WHERE series_id IS NOT NULL;"
    "CREATE INDEX provision_records_by_retention "
    "  ON $S.provision_records(retain_s, retain_n) WHERE series_id IS NULL;"
    "CREATE TABLE $S.provision_series("
    "  kind smallint NOT NULL,"
    "  series_id text NOT NULL,"
    "  contract_s bigint NOT NULL,"
    "  contract_n integer NOT NULL,"
    "  collective_s bigint NOT NULL,"
    "  collective_n integer NOT NULL,"
    "  PRIMARY KEY (kind, series_id));"
    "CREATE TABLE $S.provision_subjects("
    "  subject_id text NOT NULL,"
    "  kind smallint NOT NULL,"
    "  id text NOT NULL,"
    "  PRIMARY KEY (subject_id, kind, id));",
    // 1 -> 2: a subject's records by the GIN index on `subjects` (the
    // array every row already holds) instead of a row per (subject,
    // record) in `provision_subjects`.
    "CREATE INDEX provision_records_by_subject "
    "  ON $S.provision_records USING gin (subjects);"
    "DROP TABLE $S.provision_subjects;",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) ==
              PostgresProvisionRecordStore::kSchemaVersion);

constexpr int kProvision = 1;
constexpr int kReceipt = 2;

absl::string_view KindName(int kind) {
  return kind == kProvision ? "provision record" : "receipt record";
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// (seconds, nanoseconds) of `t`, rounded down; the infinities saturate.
std::pair<std::int64_t, std::int32_t> Split(absl::Time t) {
  if (t == absl::InfiniteFuture()) {
    return {std::numeric_limits<std::int64_t>::max(), 0};
  }
  if (t == absl::InfinitePast()) {
    return {std::numeric_limits<std::int64_t>::min(), 0};
  }
  const std::int64_t s = absl::ToUnixSeconds(t);
  return {s, static_cast<std::int32_t>(
                 absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(s)))};
}

// A PostgreSQL array literal of text values.
std::string TextArray(
    const google::protobuf::RepeatedPtrField<std::string>& v) {
  std::string out = "{";
  for (int i = 0; i < v.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : v.Get(i)) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}
std::string TextArray(absl::Span<const std::string> v) {
  google::protobuf::RepeatedPtrField<std::string> r(v.begin(), v.end());
  return TextArray(r);
}

// The retention end of record `r` (seconds "s" or nanoseconds "n"): the
// end its series `x` (joined by series id; NULL when none) counts from its
// last record, for the methods that count from there; else its own.
std::string EffectiveRetain(absl::string_view part) {
  return absl::StrCat("COALESCE(CASE r.record_method WHEN ",
                      static_cast<int>(v1::RECORD_METHOD_CONTRACT_DOCUMENT),
                      " THEN x.contract_", part, " WHEN ",
                      static_cast<int>(v1::RECORD_METHOD_COLLECTIVE),
                      " THEN x.collective_", part, " END, r.retain_", part,
                      ")");
}

// What a record of either kind is stored as.
struct Row {
  int kind = kProvision;
  std::string id;
  std::string party;
  absl::Time time;
  std::string series;
  v1::RecordMethod method = v1::RECORD_METHOD_UNSPECIFIED;
  // The record's subjects: stored in the `subjects` column (and its
  // index), not in `bytes`.
  google::protobuf::RepeatedPtrField<std::string> subjects;
  std::string bytes;
};

absl::Status CheckRow(const Row& row) {
  const absl::string_view what = KindName(row.kind);
  RETURN_IF_ERROR(internal::pg::CheckText(row.id, absl::StrCat(what, " id")));
  RETURN_IF_ERROR(internal::pg::CheckText(
      row.party,
      absl::StrCat(
          what, row.kind == kProvision ? " recipient_id" : " provider_name")));
  RETURN_IF_ERROR(
      internal::pg::CheckText(row.series, absl::StrCat(what, " series_id")));
  for (int i = 0; i < row.subjects.size(); ++i) {
    RETURN_IF_ERROR(internal::pg::CheckText(
        row.subjects.Get(i), absl::StrCat(what, " subjects[", i, "]")));
  }
  return absl::OkStatus();
}

}  // namespace

struct PostgresProvisionRecordStore::Impl {
  std::string target;
  std::string schema;
  internal::Mutex mu;
  Session session ABSL_GUARDED_BY(mu);

  Impl(std::string info, std::string tgt)
      : target(tgt),
        session(std::move(info), std::move(tgt),
                "PostgreSQL provision record store") {}

  std::string Sql(absl::string_view sql) const {
    return internal::pg::WithSchema(sql, schema);
  }

  std::string Where() const {
    return absl::StrCat("PostgreSQL provision record store at '", target,
                        "' schema '", schema, "'");
  }

  // Inserts `row`, its subjects and, for a record of a series, the
  // series' retention ends moved to count from `row` when it is the
  // series' last, in one statement: the series row is locked by the
  // upsert, so concurrent writers of a series serialize on it, and each end
  // only ever moves later (the ends are monotonic in the last provision
  // time, so the maximum of the ends is the end of the maximum). Returns
  // the id, or `kAlreadyExists` (then nothing is written).
  absl::StatusOr<std::string> Insert(const Row& row)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const auto [ts, tn] = Split(row.time);
    const auto [rs, rn] = Split(RetentionEnd(row.method, row.time, row.time));
    const auto [cs, cn] = Split(
        RetentionEnd(v1::RECORD_METHOD_CONTRACT_DOCUMENT, row.time, row.time));
    const auto [ks, kn] =
        Split(RetentionEnd(v1::RECORD_METHOD_COLLECTIVE, row.time, row.time));
    auto later = [](absl::string_view f) {
      return absl::StrCat(f, "_s = CASE WHEN (x.", f, "_s, x.", f,
                          "_n) >= (excluded.", f, "_s, excluded.", f,
                          "_n) THEN x.", f, "_s ELSE excluded.", f, "_s END, ",
                          f, "_n = CASE WHEN (x.", f, "_s, x.", f,
                          "_n) >= (excluded.", f, "_s, excluded.", f,
                          "_n) THEN x.", f, "_n ELSE excluded.", f, "_n END");
    };
    ASSIGN_OR_RETURN(
        Result r,
        session.ExecPrepared(
            Sql(absl::StrCat(
                "WITH rec AS (INSERT INTO $S.provision_records(kind, id, "
                "party, time_s, time_n, series_id, record_method, retain_s, "
                "retain_n, subjects, record) VALUES ($1, COALESCE(NULLIF($2, "
                "''), "
                "$3 || nextval('$S.provision_id_seq')), $4, $5, $6, "
                "NULLIF($7, ''), $8, $9, $10, $12::text[], $11) ON CONFLICT "
                "(kind, id) DO NOTHING "
                "RETURNING kind, id, series_id), "
                "ser AS (INSERT INTO $S.provision_series AS x(kind, "
                "series_id, contract_s, contract_n, collective_s, "
                "collective_n) SELECT rec.kind, rec.series_id, $13, $14, $15, "
                "$16 FROM rec WHERE rec.series_id IS NOT NULL ON CONFLICT "
                "(kind, series_id) DO UPDATE "
                "SET ",
                later("contract"), ", ", later("collective"),
                ") SELECT id FROM rec")),
            {Param{absl::StrCat(row.kind)}, Param{row.id},
             Param{row.kind == kProvision ? "prov-" : "rcpt-"},
             Param{row.party}, Param{absl::StrCat(ts)}, Param{absl::StrCat(tn)},
             Param{row.series},
             Param{absl::StrCat(static_cast<int>(row.method))},
             Param{absl::StrCat(rs)}, Param{absl::StrCat(rn)},
             Param{row.bytes, true}, Param{TextArray(row.subjects)},
             Param{absl::StrCat(cs)}, Param{absl::StrCat(cn)},
             Param{absl::StrCat(ks)}, Param{absl::StrCat(kn)}}));
    if (PQntuples(r.get()) == 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          KindName(row.kind), " '", row.id, "' already exists in ", Where()));
    }
    return ReadBytes(r.get(), 0, 0);
  }

  absl::StatusOr<std::string> Add(const Row& row) {
    RETURN_IF_ERROR(CheckRow(row));
    internal::MutexLock lock(&mu);
    return Insert(row);
  }

  // Inserts every row in one transaction: all or none.
  absl::StatusOr<std::vector<std::string>> AddAll(
      const std::vector<Row>& rows) {
    for (const Row& row : rows) RETURN_IF_ERROR(CheckRow(row));
    internal::MutexLock lock(&mu);
    std::vector<std::string> ids;
    absl::Status st = internal::pg::InTransaction(
        session,
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) -> absl::Status {
          for (const Row& row : rows) {
            ASSIGN_OR_RETURN(ids.emplace_back(), Insert(row));
          }
          return absl::OkStatus();
        },
        "the commit of the records was not confirmed; they may have been "
        "added (all of them, or none)");
    if (!st.ok()) return st;
    return ids;
  }

  // Deletes the records of `kind` with these ids.
  absl::Status DeleteIds(int kind, const std::vector<std::string>& ids)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (ids.empty()) return absl::OkStatus();
    return session
        .Exec(Sql("DELETE FROM $S.provision_records WHERE kind = $1 AND id = "
                  "ANY($2::text[])"),
              {Param{absl::StrCat(kind)}, Param{TextArray(ids)}})
        .status();
  }

  // The records due at ($1, $2) (kind, id), oldest first: records of no
  // series whose retention ended (by index), and the records of each
  // series none of whose records' retention is still running.
  std::string DueSql() const {
    return Sql(absl::StrCat(
        "SELECT kind::integer, id FROM (SELECT r.kind, r.id, r.time_s, "
        "r.time_n, r.seq FROM $S.provision_records AS r WHERE r.series_id IS "
        "NULL AND (r.retain_s, r.retain_n) <= ($1::bigint, $2::integer) "
        "UNION ALL SELECT r.kind, r.id, r.time_s, r.time_n, r.seq FROM "
        "$S.provision_series AS x JOIN $S.provision_records AS r ON r.kind = "
        "x.kind AND r.series_id = x.series_id WHERE NOT EXISTS (SELECT 1 FROM "
        "$S.provision_records AS r WHERE r.kind = x.kind AND r.series_id = "
        "x.series_id AND (",
        EffectiveRetain("s"), ", ", EffectiveRetain("n"),
        ") > ($1::bigint, $2::integer))) AS due ORDER BY kind, time_s, "
        "time_n, seq"));
  }

  absl::StatusOr<PurgeResult> PurgeDue(absl::Time now,
                                       const PurgeApproval& approve)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    // Not a structured binding: the lambda below captures them.
    const std::pair<std::int64_t, std::int32_t> at = Split(now);
    const std::string ns = absl::StrCat(at.first);
    const std::string nn = absl::StrCat(at.second);
    PurgeResult out;
    absl::Status st = internal::pg::InTransaction(
        session,
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) -> absl::Status {
          // Writers wait until the purge commits: what `approve` sees is
          // what is deleted.
          RETURN_IF_ERROR(session.ExecScript(
              Sql("LOCK TABLE $S.provision_records IN SHARE ROW EXCLUSIVE "
                  "MODE")));
          ASSIGN_OR_RETURN(Result due,
                           session.Exec(DueSql(), {Param{ns}, Param{nn}}));
          for (int i = 0; i < PQntuples(due.get()); ++i) {
            (ReadInt32(due.get(), i, 0) == kProvision ? out.provision_ids
                                                      : out.receipt_ids)
                .push_back(ReadBytes(due.get(), i, 1));
          }
          if (approve) RETURN_IF_ERROR(approve(out));
          RETURN_IF_ERROR(DeleteIds(kProvision, out.provision_ids));
          RETURN_IF_ERROR(DeleteIds(kReceipt, out.receipt_ids));
          if (out.provision_ids.empty() && out.receipt_ids.empty()) {
            return absl::OkStatus();
          }
          // A series purged whole starts afresh.
          return session
              .Exec(Sql("DELETE FROM $S.provision_series AS x WHERE NOT "
                        "EXISTS (SELECT 1 FROM $S.provision_records AS r "
                        "WHERE r.kind = x.kind AND r.series_id = "
                        "x.series_id)"))
              .status();
        },
        "the commit of the purge was not confirmed; it may have happened");
    if (!st.ok()) return st;
    return out;
  }

  // Appends row `i` of (kind, id, retain_s, retain_n, record, subjects) to
  // `out`. The subjects come from their column; a row written before they
  // were kept out of the bytes carries them in both, and keeps those of its
  // bytes. Errors: `kDataLoss` naming the record when its bytes or its
  // subjects do not parse.
  absl::Status ParseInto(const PGresult* r, int i,
                         v1::ProvisionHistory& out) const {
    const int kind = ReadInt32(r, i, 0);
    const std::string id = ReadBytes(r, i, 1);
    google::protobuf::Timestamp retain;
    retain.set_seconds(ReadInt64(r, i, 2));
    retain.set_nanos(ReadInt32(r, i, 3));
    const std::string bytes = ReadBytes(r, i, 4);
    std::vector<std::string> subjects;
    bool ok = internal::pg::ReadTextArray(r, i, 5, subjects);
    auto fill = [&](auto& rec) {
      ok = ok && rec.ParseFromString(bytes) && rec.id().empty();
      if (rec.subjects_size() == 0) {
        for (std::string& s : subjects) rec.add_subjects(std::move(s));
      }
      rec.set_id(id);
      *rec.mutable_retain_until() = retain;
    };
    if (kind == kProvision) {
      fill(*out.add_provisions());
    } else if (kind == kReceipt) {
      fill(*out.add_receipts());
    } else {
      ok = false;
    }
    if (!ok) {
      return absl::DataLossError(absl::StrCat(
          Where(), ": the stored ", KindName(kind), " '", absl::CHexEscape(id),
          "' (kind ", kind, ", ", bytes.size(),
          " bytes) does not parse, or its subjects column is malformed"));
    }
    return absl::OkStatus();
  }
};

PostgresProvisionRecordStore::PostgresProvisionRecordStore(
    std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
PostgresProvisionRecordStore::~PostgresProvisionRecordStore() = default;

const std::string& PostgresProvisionRecordStore::target() const {
  return impl_->target;
}

absl::StatusOr<std::unique_ptr<PostgresProvisionRecordStore>>
PostgresProvisionRecordStore::Open(const std::string& conninfo,
                                   PostgresStoreOptions options) {
  RETURN_IF_ERROR(internal::pg::CheckSchemaName(options.schema));
  ASSIGN_OR_RETURN(
      internal::pg::ConnTarget t,
      internal::pg::ParseConnInfo(conninfo, options.connect_timeout));
  auto impl = std::make_unique<Impl>(t.conninfo, t.target);
  impl->schema = options.schema;
  {
    internal::MutexLock lock(&impl->mu);
    RETURN_IF_ERROR(internal::pg::MigrateComponent(impl->session, impl->schema,
                                                   "provisions", kMigrations));
  }
  return std::unique_ptr<PostgresProvisionRecordStore>(
      new PostgresProvisionRecordStore(std::move(impl)));
}

namespace {

// The row of `record`; its subjects move to the row's own column.
template <typename R>
Row RowOf(int kind, R& record, absl::string_view party, absl::Time time) {
  Row row;
  row.kind = kind;
  row.id = record.id();
  row.party = std::string(party);
  row.time = time;
  row.series = record.series_id();
  row.method = record.record_method();
  row.subjects = std::move(*record.mutable_subjects());
  record.clear_subjects();
  record.clear_id();
  record.clear_retain_until();
  row.bytes = record.SerializeAsString();
  return row;
}
Row ProvisionRow(v1::ProvisionRecord& r) {
  return RowOf(kProvision, r, r.recipient_id(), FromProto(r.provision_time()));
}
Row ReceiptRow(v1::ReceiptRecord& r) {
  return RowOf(kReceipt, r, r.provider_name(), FromProto(r.receipt_time()));
}

}  // namespace

absl::StatusOr<std::vector<std::string>>
PostgresProvisionRecordStore::AddRecords(v1::ProvisionHistory history) {
  RETURN_IF_ERROR(ValidateProvisionHistory(history));
  std::vector<Row> rows;
  rows.reserve(static_cast<std::size_t>(history.provisions_size() +
                                        history.receipts_size()));
  for (v1::ProvisionRecord& p : *history.mutable_provisions()) {
    rows.push_back(ProvisionRow(p));
  }
  for (v1::ReceiptRecord& r : *history.mutable_receipts()) {
    rows.push_back(ReceiptRow(r));
  }
  return impl_->AddAll(rows);
}

absl::StatusOr<std::string> PostgresProvisionRecordStore::AddProvision(
    v1::ProvisionRecord record) {
  RETURN_IF_ERROR(ValidateProvisionRecord(record));
  return impl_->Add(ProvisionRow(record));
}

absl::StatusOr<std::string> PostgresProvisionRecordStore::AddReceipt(
    v1::ReceiptRecord record) {
  RETURN_IF_ERROR(ValidateReceiptRecord(record));
  return impl_->Add(ReceiptRow(record));
}

absl::StatusOr<v1::ProvisionHistory> PostgresProvisionRecordStore::Query(
    const RecordFilter& filter) {
  v1::ProvisionHistory out;
  // A subject or party no text column can hold names no record.
  if (!internal::pg::CheckText(filter.subject, "subject").ok() ||
      !internal::pg::CheckText(filter.recipient, "recipient").ok()) {
    return out;
  }
  std::vector<std::string> where;
  std::vector<Param> params;
  auto param = [&](std::string v) {
    params.push_back(Param{std::move(v)});
    return absl::StrCat("$", params.size());
  };
  if (!filter.subject.empty()) {
    where.push_back(absl::StrCat("r.subjects @> ARRAY[", param(filter.subject),
                                 "]::text[]"));
  }
  if (!filter.recipient.empty()) {
    where.push_back(absl::StrCat("r.party = ", param(filter.recipient)));
  }
  if (filter.from != absl::InfinitePast()) {
    const auto [s, n] = Split(filter.from);
    where.push_back(absl::StrCat("(r.time_s, r.time_n) >= (",
                                 param(absl::StrCat(s)), "::bigint, ",
                                 param(absl::StrCat(n)), "::integer)"));
  }
  if (filter.to != absl::InfiniteFuture()) {
    const auto [s, n] = Split(filter.to);
    where.push_back(absl::StrCat("(r.time_s, r.time_n) < (",
                                 param(absl::StrCat(s)), "::bigint, ",
                                 param(absl::StrCat(n)), "::integer)"));
  }
  const std::string sql = absl::StrCat(
      "SELECT r.kind::integer, r.id, ", EffectiveRetain("s"), ", ",
      EffectiveRetain("n"),
      ", r.record, r.subjects FROM $S.provision_records AS r LEFT JOIN "
      "$S.provision_series AS x ON x.kind = r.kind AND x.series_id = "
      "r.series_id",
      where.empty() ? "" : " WHERE ", absl::StrJoin(where, " AND "),
      " ORDER BY r.kind, r.time_s, r.time_n, r.seq");
  Impl& m = *impl_;
  internal::MutexLock lock(&m.mu);
  ASSIGN_OR_RETURN(Result r, m.session.Exec(m.Sql(sql), params));
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    RETURN_IF_ERROR(m.ParseInto(r.get(), i, out));
  }
  return out;
}

absl::Status PostgresProvisionRecordStore::Delete(
    absl::Span<const std::string> provision_ids,
    absl::Span<const std::string> receipt_ids) {
  // An id no text column can hold names no record.
  auto storable = [](absl::Span<const std::string> ids) {
    std::vector<std::string> out;
    for (const std::string& id : ids) {
      if (internal::pg::CheckText(id, "id").ok()) out.push_back(id);
    }
    return out;
  };
  const std::vector<std::string> p = storable(provision_ids);
  const std::vector<std::string> r = storable(receipt_ids);
  Impl& m = *impl_;
  internal::MutexLock lock(&m.mu);
  return internal::pg::InTransaction(
      m.session,
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m.mu) -> absl::Status {
        RETURN_IF_ERROR(m.DeleteIds(kProvision, p));
        return m.DeleteIds(kReceipt, r);
      },
      "the deletion of provision records was not confirmed; it may have "
      "happened");
}

absl::StatusOr<PurgeResult> PostgresProvisionRecordStore::PurgeDue(
    absl::Time now, const PurgeApproval& approve) {
  internal::MutexLock lock(&impl_->mu);
  return impl_->PurgeDue(now, approve);
}

}  // namespace consentry
