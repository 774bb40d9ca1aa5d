// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/postgres_store.h"

#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "src/store/feed_runner.h"
#include "src/store/pg_read_set.h"
#include "src/store/pg_session.h"
#include "src/store/stored_record.h"
#include "src/util/mutex.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

// Each entry upgrades the schema from version i to i + 1; "$S" is the
// schema name.
constexpr const char* kMigrations[] = {
    // 0 -> 1
    "CREATE TABLE $S.consentry_schema(version integer NOT NULL);"
    "INSERT INTO $S.consentry_schema(version) VALUES (0);"
    "CREATE SEQUENCE $S.revision_seq;"
    "CREATE TABLE $S.consent_records("
    "  subject_id text PRIMARY KEY,"
    "  revision bigint NOT NULL,"
    "  record bytea NOT NULL);"
    "CREATE INDEX consent_records_by_revision ON $S.consent_records(revision);"
    "CREATE TABLE $S.consent_history("
    "  revision bigint PRIMARY KEY,"
    "  subject_id text NOT NULL,"
    "  commit_time timestamptz NOT NULL DEFAULT now(),"
    "  commit_time_ns bigint NOT NULL,"
    "  change bytea NOT NULL,"
    "  state bytea NOT NULL);"
    "CREATE INDEX consent_history_by_subject "
    "  ON $S.consent_history(subject_id, revision);",
    // 1 -> 2: revisions come from a one-row counter, updated by the last
    // statement of each write (docs/design/pg-writers.md). The sequence is
    // dropped first: that waits for writers of version 1 still inside a
    // transaction, and fails later ones rather than letting them assign
    // revisions outside the counter.
    "DROP SEQUENCE $S.revision_seq;"
    "CREATE TABLE $S.revision_counter("
    "  one boolean PRIMARY KEY DEFAULT true CHECK (one),"
    "  last bigint NOT NULL);"
    "INSERT INTO $S.revision_counter(last) "
    "  SELECT COALESCE(MAX(revision), 0) FROM $S.consent_history;",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) ==
              PostgresConsentStore::kSchemaVersion);

using internal::pg::Param;
using internal::pg::ReadBytes;
using internal::pg::ReadInt32;
using internal::pg::ReadInt64;
using internal::pg::Result;
using internal::pg::Session;

constexpr char kWhat[] = "PostgreSQL consent store";

// The SQL expression of the protobuf varint (minimal length) of `v`, a
// positive bigint expression: one CASE per 7-bit group, no function call.
std::string VarintSql(absl::string_view v) {
  std::vector<std::string> groups;
  for (int k = 0; k < 9; ++k) {
    const std::string present =
        k == 0 ? "true" : absl::StrCat("(", v, " >> ", 7 * k, ") > 0");
    const std::string more =
        k == 8 ? "false" : absl::StrCat("(", v, " >> ", 7 * (k + 1), ") > 0");
    groups.push_back(absl::StrCat("CASE WHEN ", present, " THEN lpad(to_hex(((",
                                  v, " >> ", 7 * k, ") & 127) | CASE WHEN ",
                                  more, " THEN 128 ELSE 0 END), 2, '0') ELSE ",
                                  "'' END"));
  }
  return absl::StrCat("decode(concat(", absl::StrJoin(groups, ", "),
                      "), 'hex')");
}

// `state`, a serialized record without a revision, with `rev` appended as
// its field 5 (`ConsentRecord.revision`, tag 0x28): a parser takes the last
// value of a field, so the bytes read back as the record at `rev`. The
// revision is known only inside the statement that takes it, so the bytes
// are completed there.
std::string StateWithRevisionSql(absl::string_view state,
                                 absl::string_view rev) {
  return absl::StrCat(state, " || '\\x28'::bytea || ", VarintSql(rev));
}

// The end of a write, one statement: takes the next revision from the
// counter (whose row lock it then holds until the COMMIT that follows in
// the same pipeline), writes the history row and the record, and notifies
// the feed. $1 subject, $2 the merged record without revision, $3 commit
// time (ns), $4 the change. `insert`: the subject had no record.
std::string WriteSql(bool insert) {
  const std::string record =
      insert ? "INSERT INTO $S.consent_records(subject_id, revision, record) "
               "SELECT $1, rev, state FROM x"
             : "UPDATE $S.consent_records r SET revision = x.rev, record = "
               "x.state FROM x WHERE r.subject_id = $1";
  return absl::StrCat(
      "WITH c AS (UPDATE $S.revision_counter SET last = last + 1 RETURNING "
      "last AS rev), x AS (SELECT rev, ",
      StateWithRevisionSql("$2::bytea", "rev"),
      " AS state FROM c), h AS (INSERT INTO $S.consent_history(revision, "
      "subject_id, commit_time_ns, change, state) SELECT rev, $1, $3, $4, "
      "state FROM x), w AS (",
      record, ") SELECT rev, pg_notify('$C', rev::text) FROM x");
}

// A subject's record and the highest revision of the same snapshot (one
// statement: the record holds every change up to that revision).
constexpr char kGetAtSql[] =
    "SELECT m.m, r.revision, r.record FROM (SELECT COALESCE(MAX(revision), "
    "0)::bigint AS m FROM $S.consent_history) m LEFT JOIN $S.consent_records "
    "r ON r.subject_id = $1";

// The changes after a revision and the highest revision of the same
// snapshot; one row with NULL change columns when there are none.
constexpr char kChangesAtSql[] =
    "SELECT m.m, r.subject_id, r.revision, r.record FROM (SELECT "
    "COALESCE(MAX(revision), 0)::bigint AS m FROM $S.consent_history) m LEFT "
    "JOIN LATERAL (SELECT subject_id, revision, record FROM "
    "$S.consent_records WHERE revision > $1 ORDER BY revision LIMIT $2) r ON "
    "true ORDER BY r.revision";

}  // namespace

struct PostgresConsentStore::Impl {
  std::string conninfo;
  std::string target;
  PostgresStoreOptions options;
  std::string schema;
  std::string channel;
  // A writer holds the advisory lock (this key, the subject's hash) of its
  // subject from its read of the record to its commit; writers of other
  // subjects run in parallel. Revisions are taken from the one-row counter
  // by the write's last statement, so writers serialize only from there to
  // COMMIT: revisions are dense and become visible in order, and a reader
  // that saw revision R has seen every revision below R
  // (docs/design/pg-writers.md).
  std::string subject_lock_key;

  internal::FeedRunner feed;

  // Hot standbys (empty: every call goes to the primary, as before).
  bool has_primary = true;
  internal::pg::ConnTarget primary_target;
  std::vector<internal::pg::ConnTarget> standby_targets;
  std::unique_ptr<internal::pg::ReadSet> reads;
  // The highest revision this store has seen (written, delivered, read):
  // no read is served from an older state.
  std::atomic<Revision> floor{0};

  void Raise(Revision r) {
    Revision cur = floor.load(std::memory_order_relaxed);
    while (cur < r && !floor.compare_exchange_weak(cur, r)) {
    }
  }

  std::unique_ptr<internal::pg::ReadSet> NewReadSet() const {
    return std::make_unique<internal::pg::ReadSet>(
        has_primary ? &primary_target : nullptr, standby_targets,
        internal::pg::ReadSet::Config{
            absl::StrCat(kWhat, " schema '", schema, "'"),
            options.max_standby_lag, options.standby_wait,
            options.standby_retry_interval});
  }

  internal::Mutex mu;
  Session session ABSL_GUARDED_BY(mu);

  // Feed thread: told to stop by `stop` and a byte on `wake_pipe`.
  std::atomic<bool> stop{false};
  int wake_pipe[2] = {-1, -1};

  // Connects (to the primary: creating or migrating the schema; without
  // one: checking it on a standby) and prepares the read set.
  static absl::StatusOr<std::unique_ptr<Impl>> Make(
      const std::string* primary, const std::vector<std::string>& standbys,
      PostgresStoreOptions options);

  Impl(std::string info, std::string tgt)
      : conninfo(info),
        target(tgt),
        session(std::move(info), std::move(tgt), kWhat) {}

  ~Impl() {
    stop.store(true);
    if (wake_pipe[1] >= 0) {
      const char b = 1;
      [[maybe_unused]] ssize_t n = write(wake_pipe[1], &b, 1);
    }
    feed.Join();
    if (wake_pipe[0] >= 0) close(wake_pipe[0]);
    if (wake_pipe[1] >= 0) close(wake_pipe[1]);
  }

  std::string Sql(absl::string_view sql) const {
    return absl::StrReplaceAll(sql, {{"$S", schema}, {"$C", channel}});
  }

  // Statements of a write, built once.
  std::string begin_sql = "BEGIN";
  std::string commit_sql = "COMMIT";
  std::string lock_sql =
      "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))";
  std::string read_sql;
  std::string insert_sql;
  std::string update_sql;

  // Begins the write transaction, takes `subject`'s lock and reads its
  // record into `record` (one round trip); `exists` says whether there was
  // a row. Only writers holding the subject's lock change its row.
  absl::Status ReadForWrite(Session& s, const std::string& subject,
                            v1::ConsentRecord& record, bool& exists)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // One attempt at `Apply` after validation: the transaction from BEGIN to
  // COMMIT. `conflict` is set when a record for a subject that had none
  // appeared meanwhile (a bulk import): the caller tries again.
  absl::StatusOr<v1::ConsentRecord> ApplyOnce(const v1::ConsentChange& change,
                                              bool& conflict)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Up to five subjects of `changes` that have a record, for a message.
  std::string PresentSubjects(Session& s,
                              absl::Span<const v1::ConsentChange> changes);

  // `BulkImport` after validation, inside its transaction.
  absl::Status ImportLocked(Session& s,
                            absl::Span<const v1::ConsentChange> changes,
                            absl::Time now,
                            std::vector<v1::ConsentRecord>& records)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  absl::Status ParseRecord(const std::string& bytes, absl::string_view subject,
                           Revision revision, v1::ConsentRecord* out) {
    return internal::ParseStoredRecord(
        bytes, subject, revision,
        absl::StrCat("PostgreSQL consent store at '", target, "' schema '",
                     schema, "'"),
        out);
  }

  absl::Status Migrate(Session& s) {
    RETURN_IF_ERROR(s.ExecScript("BEGIN"));
    absl::Status st = [&]() -> absl::Status {
      RETURN_IF_ERROR(s.Exec("SELECT pg_advisory_xact_lock(hashtext($1))",
                             {Param{"consentry-schema:" + schema}})
                          .status());
      RETURN_IF_ERROR(s.ExecScript(Sql("CREATE SCHEMA IF NOT EXISTS $S")));
      ASSIGN_OR_RETURN(Result has,
                       s.Exec("SELECT to_regclass($1) IS NOT NULL",
                              {Param{schema + ".consentry_schema"}}));
      int version = 0;
      if (PQgetvalue(has.get(), 0, 0)[0] != 0) {
        ASSIGN_OR_RETURN(
            Result v, s.Exec(Sql("SELECT version FROM $S.consentry_schema")));
        if (PQntuples(v.get()) != 1) {
          return absl::DataLossError(absl::StrCat(
              "PostgreSQL consent store at '", target, "' schema '", schema,
              "': the schema version row is missing"));
        }
        version = ReadInt32(v.get(), 0, 0);
      }
      if (version > kSchemaVersion || version < 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "PostgreSQL consent store at '", target, "' schema '", schema,
            "' has schema version ", version,
            ", newer than this library supports (", kSchemaVersion, ")"));
      }
      for (int v = version; v < kSchemaVersion; ++v) {
        RETURN_IF_ERROR(s.ExecScript(Sql(kMigrations[v])));
      }
      if (version != kSchemaVersion) {
        RETURN_IF_ERROR(s.ExecScript(Sql(absl::StrCat(
            "UPDATE $S.consentry_schema SET version = ", kSchemaVersion))));
      }
      return s.ExecScript("COMMIT");
    }();
    if (!st.ok()) s.Rollback();
    return st;
  }

  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSinceOn(Session& s,
                                                                Revision after,
                                                                int limit) {
    ASSIGN_OR_RETURN(
        Result r,
        s.Exec(Sql("SELECT subject_id, revision, record FROM "
                   "$S.consent_records WHERE revision > $1 ORDER BY revision "
                   "LIMIT $2"),
               {Param{absl::StrCat(after)}, Param{absl::StrCat(limit)}}));
    std::vector<v1::ConsentRecord> out;
    const int n = PQntuples(r.get());
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      // A row that cannot be read stands in as an unreadable record: the
      // feed moves past it and only its subject is quarantined.
      v1::ConsentRecord& rec = out.emplace_back();
      const std::string subject = ReadBytes(r.get(), i, 0);
      const Revision revision = ReadInt64(r.get(), i, 1);
      if (absl::Status st =
              ParseRecord(ReadBytes(r.get(), i, 2), subject, revision, &rec);
          !st.ok()) {
        rec = UnreadableConsentRecord(subject, revision, st.message());
      }
    }
    return out;
  }

  // Reads `subject` through `rs` from a state holding `min_revision` and
  // the floor.
  absl::StatusOr<v1::ConsentRecord> GetVia(internal::pg::ReadSet& rs,
                                           absl::string_view subject,
                                           Revision min_revision) {
    v1::ConsentRecord record;
    const std::string sql = Sql(kGetAtSql);
    auto body = [&](Session& s) -> absl::StatusOr<Revision> {
      record.Clear();
      ASSIGN_OR_RETURN(Result r,
                       s.ExecPrepared(sql, {Param{std::string(subject)}}));
      if (PQntuples(r.get()) != 1) {
        return absl::InternalError(
            absl::StrCat(s.Where(), ": the read returned no row"));
      }
      if (!PQgetisnull(r.get(), 0, 1)) {
        RETURN_IF_ERROR(ParseRecord(ReadBytes(r.get(), 0, 2), subject,
                                    ReadInt64(r.get(), 0, 1), &record));
      }
      return ReadInt64(r.get(), 0, 0);
    };
    ASSIGN_OR_RETURN(
        internal::pg::ReadSet::Served at,
        rs.Run(std::max(min_revision, floor.load(std::memory_order_acquire)),
               body));
    Raise(at.revision);
    if (record.subject_id().empty()) {
      record.set_subject_id(std::string(subject));
    }
    return record;
  }

  // `ChangesSinceOn` through `rs`; `fresh_as_of` (when not null) is
  // lowered to the time the server read was known fresh.
  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesVia(
      internal::pg::ReadSet& rs, Revision after, int limit,
      absl::Time* fresh_as_of) {
    std::vector<v1::ConsentRecord> out;
    const std::string sql = Sql(kChangesAtSql);
    auto body = [&](Session& s) -> absl::StatusOr<Revision> {
      out.clear();
      ASSIGN_OR_RETURN(Result r,
                       s.ExecPrepared(sql, {Param{absl::StrCat(after)},
                                            Param{absl::StrCat(limit)}}));
      const int n = PQntuples(r.get());
      if (n < 1) {
        return absl::InternalError(
            absl::StrCat(s.Where(), ": the read returned no row"));
      }
      for (int i = 0; i < n; ++i) {
        if (PQgetisnull(r.get(), i, 1)) continue;
        v1::ConsentRecord& rec = out.emplace_back();
        const std::string subject = ReadBytes(r.get(), i, 1);
        const Revision revision = ReadInt64(r.get(), i, 2);
        if (absl::Status st =
                ParseRecord(ReadBytes(r.get(), i, 3), subject, revision, &rec);
            !st.ok()) {
          rec = UnreadableConsentRecord(subject, revision, st.message());
        }
      }
      return ReadInt64(r.get(), 0, 0);
    };
    ASSIGN_OR_RETURN(internal::pg::ReadSet::Served at,
                     rs.Run(floor.load(std::memory_order_acquire), body));
    Raise(at.revision);
    if (fresh_as_of != nullptr) {
      *fresh_as_of = std::min(*fresh_as_of, at.fresh_as_of);
    }
    return out;
  }

  // The highest revision through `rs` (a fresh standby's, or the
  // primary's).
  absl::StatusOr<Revision> LatestVia(internal::pg::ReadSet& rs) {
    const std::string sql = Sql(
        "SELECT COALESCE(MAX(revision), 0)::bigint FROM $S.consent_history");
    ASSIGN_OR_RETURN(internal::pg::ReadSet::Served at,
                     rs.Run(floor.load(std::memory_order_acquire),
                            [&](Session& s) -> absl::StatusOr<Revision> {
                              ASSIGN_OR_RETURN(Result r, s.ExecPrepared(sql));
                              return ReadInt64(r.get(), 0, 0);
                            }));
    Raise(at.revision);
    return at.revision;
  }

  // The feed of a store with standbys: polls the server `ChangesVia`
  // picks every heartbeat interval; with a primary, a notification there
  // (its payload is the revision) raises the floor and wakes it at once.
  void ReplicatedFeedLoop() {
    std::unique_ptr<internal::pg::ReadSet> rs = NewReadSet();
    Session hints(conninfo, target, kWhat);
    bool listening = false;
    const int interval_ms = static_cast<int>(std::max<std::int64_t>(
        1, absl::ToInt64Milliseconds(options.heartbeat_interval)));
    while (!stop.load()) {
      if (has_primary && !listening) {
        listening = hints.ExecScript(absl::StrCat("LISTEN ", channel)).ok();
      }
      absl::Time fresh = absl::InfiniteFuture();
      (void)feed.CatchUp(
          [&](Revision after) { return ChangesVia(*rs, after, 1000, &fresh); },
          &fresh);
      pollfd fds[2];
      int nfds = 0;
      fds[nfds++] = pollfd{wake_pipe[0], POLLIN, 0};
      if (listening && hints.conn() != nullptr && PQsocket(hints.conn()) >= 0) {
        fds[nfds++] = pollfd{PQsocket(hints.conn()), POLLIN, 0};
      }
      poll(fds, static_cast<nfds_t>(nfds), interval_ms);
      if (stop.load()) break;
      if (nfds == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        if (PQconsumeInput(hints.conn()) == 0) {
          listening = false;
          continue;
        }
        while (PGnotify* n = PQnotifies(hints.conn())) {
          Revision hinted = 0;
          if (absl::SimpleAtoi(n->extra, &hinted)) Raise(hinted);
          PQfreemem(n);
        }
      }
    }
  }

  // Catches up on the feed session.
  absl::Status CatchUp(Session& s) {
    return feed.CatchUp(
        [&](Revision after) { return ChangesSinceOn(s, after, 1000); });
  }

  void FeedLoop() {
    if (reads != nullptr) return ReplicatedFeedLoop();
    Session s(conninfo, target, kWhat);
    bool listening = false;
    const int interval_ms = static_cast<int>(std::max<std::int64_t>(
        1, absl::ToInt64Milliseconds(options.heartbeat_interval)));
    while (!stop.load()) {
      if (!listening) {
        if (s.ExecScript(absl::StrCat("LISTEN ", channel)).ok())
          listening = true;
      }
      if (listening && !CatchUp(s).ok()) listening = false;
      // Wait for a notification, the heartbeat interval, or stop.
      pollfd fds[2];
      int nfds = 0;
      fds[nfds++] = pollfd{wake_pipe[0], POLLIN, 0};
      if (listening && s.conn() != nullptr && PQsocket(s.conn()) >= 0) {
        fds[nfds++] = pollfd{PQsocket(s.conn()), POLLIN, 0};
      }
      poll(fds, static_cast<nfds_t>(nfds), interval_ms);
      if (stop.load()) break;
      if (nfds == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        if (PQconsumeInput(s.conn()) == 0) {
          listening = false;
          continue;
        }
        while (PGnotify* n = PQnotifies(s.conn())) PQfreemem(n);
      }
    }
  }
};

PostgresConsentStore::PostgresConsentStore(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {
  SetFeedHeartbeatWord(impl_->feed.heartbeat_word());
}
PostgresConsentStore::~PostgresConsentStore() = default;

const std::string& PostgresConsentStore::target() const {
  return impl_->target;
}

namespace {

// A read-only store needs the schema of this library version on its
// standbys (it cannot migrate them): checked on the first that answers.
absl::Status CheckStandbySchema(
    const std::vector<internal::pg::ConnTarget>& standbys,
    const std::string& schema) {
  std::vector<std::string> why;
  for (const internal::pg::ConnTarget& t : standbys) {
    Session s(t.conninfo, t.target, kWhat);
    absl::StatusOr<Result> has = s.Exec("SELECT to_regclass($1) IS NOT NULL",
                                        {Param{schema + ".consentry_schema"}});
    if (!has.ok()) {
      why.emplace_back(has.status().message());
      continue;
    }
    int version = 0;
    if (PQgetvalue(has->get(), 0, 0)[0] != 0) {
      ASSIGN_OR_RETURN(Result v,
                       s.Exec(internal::pg::WithSchema(
                           "SELECT version FROM $S.consentry_schema", schema)));
      if (PQntuples(v.get()) == 1) version = ReadInt32(v.get(), 0, 0);
    }
    if (version != PostgresConsentStore::kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          s.Where(), " schema '", schema, "' has schema version ", version,
          " but this library reads version ",
          PostgresConsentStore::kSchemaVersion,
          " and a store without a primary cannot create or migrate it: open "
          "a store on the primary first"));
    }
    return absl::OkStatus();
  }
  return absl::UnavailableError(
      absl::StrCat(kWhat, ": no standby answers: ", absl::StrJoin(why, "; ")));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresConsentStore>>
PostgresConsentStore::Open(const std::string& conninfo,
                           PostgresStoreOptions options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl,
                   Impl::Make(&conninfo, {}, std::move(options)));
  return std::unique_ptr<PostgresConsentStore>(
      new PostgresConsentStore(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<PostgresConsentStore>>
PostgresConsentStore::Open(const PostgresServers& servers,
                           PostgresStoreOptions options) {
  if (servers.primary.empty() && servers.standbys.empty()) {
    return absl::InvalidArgumentError(
        "PostgresServers names neither a primary nor a standby");
  }
  ASSIGN_OR_RETURN(
      std::unique_ptr<Impl> impl,
      Impl::Make(servers.primary.empty() ? nullptr : &servers.primary,
                 servers.standbys, std::move(options)));
  return std::unique_ptr<PostgresConsentStore>(
      new PostgresConsentStore(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<PostgresConsentStore::Impl>>
PostgresConsentStore::Impl::Make(const std::string* primary,
                                 const std::vector<std::string>& standbys,
                                 PostgresStoreOptions options) {
  RETURN_IF_ERROR(internal::pg::CheckSchemaName(options.schema));
  std::vector<internal::pg::ConnTarget> standby_targets;
  for (const std::string& c : standbys) {
    ASSIGN_OR_RETURN(standby_targets.emplace_back(),
                     internal::pg::ParseConnInfo(c, options.connect_timeout));
  }
  internal::pg::ConnTarget t;
  if (primary != nullptr) {
    ASSIGN_OR_RETURN(
        t, internal::pg::ParseConnInfo(*primary, options.connect_timeout));
  } else {
    t.target = standby_targets.front().target;
  }
  auto impl = std::make_unique<Impl>(t.conninfo, t.target);
  impl->options = options;
  impl->schema = options.schema;
  impl->channel = options.schema + "_changes";
  impl->subject_lock_key = "consentry-subject:" + options.schema;
  impl->read_sql = impl->Sql(
      "SELECT revision, record FROM $S.consent_records WHERE subject_id = $1");
  impl->insert_sql = impl->Sql(WriteSql(true));
  impl->update_sql = impl->Sql(WriteSql(false));
  impl->has_primary = primary != nullptr;
  impl->primary_target = t;
  impl->standby_targets = std::move(standby_targets);
  if (impl->has_primary) {
    internal::MutexLock lock(&impl->mu);
    RETURN_IF_ERROR(impl->Migrate(impl->session));
  } else {
    RETURN_IF_ERROR(CheckStandbySchema(impl->standby_targets, impl->schema));
  }
  if (!impl->standby_targets.empty()) impl->reads = impl->NewReadSet();
  if (pipe(impl->wake_pipe) != 0) {
    return absl::ResourceExhaustedError("PostgresConsentStore: pipe() failed");
  }
  return impl;
}

absl::StatusOr<v1::ConsentRecord> PostgresConsentStore::Get(
    absl::string_view subject_id) {
  return GetAtLeast(subject_id, 0);
}

absl::StatusOr<v1::ConsentRecord> PostgresConsentStore::GetAtLeast(
    absl::string_view subject_id, Revision min_revision) {
  if (impl_->reads != nullptr) {
    return impl_->GetVia(*impl_->reads, subject_id, min_revision);
  }
  // The primary holds every committed revision.
  internal::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(
      Result r,
      impl_->session.Exec(
          impl_->Sql("SELECT revision, record FROM $S.consent_records WHERE "
                     "subject_id = $1"),
          {Param{std::string(subject_id)}}));
  v1::ConsentRecord record;
  if (PQntuples(r.get()) == 0) {
    record.set_subject_id(std::string(subject_id));
    return record;
  }
  RETURN_IF_ERROR(impl_->ParseRecord(ReadBytes(r.get(), 0, 1), subject_id,
                                     ReadInt64(r.get(), 0, 0), &record));
  return record;
}

absl::Status PostgresConsentStore::Impl::ReadForWrite(
    Session& s, const std::string& subject, v1::ConsentRecord& record,
    bool& exists) {
  // One round trip: BEGIN, the subject's lock, its row.
  ASSIGN_OR_RETURN(
      std::vector<Result> rs,
      s.ExecPipeline({{&begin_sql, {}},
                      {&lock_sql, {Param{subject_lock_key}, Param{subject}}},
                      {&read_sql, {Param{subject}}}}));
  const PGresult* cur = rs[2].get();
  exists = PQntuples(cur) > 0;
  if (!exists) return absl::OkStatus();
  const Revision current = ReadInt64(cur, 0, 0);
  absl::Status read =
      ParseRecord(ReadBytes(cur, 0, 1), subject, current, &record);
  if (!absl::IsDataLoss(read)) return read;
  // The current record is unreadable: build on the state its history entry
  // of the same revision recorded (written in the same transaction), when
  // that one parses.
  ASSIGN_OR_RETURN(Result h,
                   s.Exec(Sql("SELECT state FROM $S.consent_history WHERE "
                              "subject_id = $1 AND revision = $2"),
                          {Param{subject}, Param{absl::StrCat(current)}}));
  if (PQntuples(h.get()) == 0 ||
      !ParseRecord(ReadBytes(h.get(), 0, 0), subject, current, &record).ok()) {
    return absl::DataLossError(absl::StrCat(
        read.message(),
        "; its history holds no readable copy either, so the change is not "
        "applied: restore the record first"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ConsentRecord> PostgresConsentStore::Impl::ApplyOnce(
    const v1::ConsentChange& change, bool& conflict) {
  conflict = false;
  v1::ConsentRecord record;
  bool exists = false;
  absl::Status st = ReadForWrite(session, change.subject_id(), record, exists);
  if (st.ok() && change.has_expected_revision() &&
      change.expected_revision() != record.revision()) {
    st = absl::AbortedError(
        absl::StrCat("consent change for subject '", change.subject_id(),
                     "': expected revision ", change.expected_revision(),
                     " but the record is at revision ", record.revision()));
  }
  // Merged against the record read under the subject's lock: a change that
  // would lift a restriction is refused here, for every writer, before it
  // takes a revision.
  const absl::Time now = absl::Now();
  if (st.ok()) st = MergeConsentChange(change, 0, now, record);
  if (!st.ok()) {
    session.Rollback();
    return st;
  }
  // The revision is appended to these bytes by the statement taking it.
  const std::string state = record.SerializeAsString();
  std::string sqlstate;
  absl::StatusOr<std::vector<Result>> done =
      session.ExecPipeline({{exists ? &update_sql : &insert_sql,
                             {Param{change.subject_id()}, Param{state, true},
                              Param{absl::StrCat(absl::ToUnixNanos(now))},
                              Param{change.SerializeAsString(), true}}},
                            {&commit_sql, {}}},
                           &sqlstate);
  if (!done.ok()) {
    session.Rollback();
    if (sqlstate == "23505" && !exists) {
      conflict = true;
      return done.status();
    }
    if (absl::IsUnavailable(done.status())) {
      return absl::UnavailableError(absl::StrCat(
          done.status().message(), " (the commit of the change for subject '",
          change.subject_id(),
          "' was not confirmed; it may have been applied)"));
    }
    return done.status();
  }
  record.set_revision(ReadInt64((*done)[0].get(), 0, 0));
  return record;
}

absl::StatusOr<Revision> PostgresConsentStore::Apply(
    const v1::ConsentChange& change) {
  RETURN_IF_ERROR(ValidateConsentChange(change));
  Impl& m = *impl_;
  if (!m.has_primary) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PostgreSQL consent store schema '", m.schema,
        "' was opened without a primary (standbys only) and cannot apply "
        "the change for subject '",
        internal::PrintableSubject(change.subject_id()), "'"));
  }
  internal::MutexLock order(&m.feed.order_mu());
  absl::StatusOr<v1::ConsentRecord> record;
  {
    internal::MutexLock lock(&m.mu);
    // A subject created by another writer between the read and the write
    // (only a bulk import can: writers of one subject hold its lock) makes
    // the insert fail; the next attempt reads that record.
    bool conflict = true;
    for (int attempt = 0; conflict && attempt < 3; ++attempt) {
      record = m.ApplyOnce(change, conflict);
    }
    if (!record.ok()) return record.status();
  }
  m.Raise(record->revision());
  m.feed.Deliver({*record});
  return record->revision();
}

namespace {

void PutBigEndian(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

// Appends `rev` as field 5 of a serialized `ConsentRecord` (its revision,
// tag 0x28, a varint); a parser takes the last value of a field.
void AppendRevision(std::string& bytes, Revision rev) {
  bytes.push_back(0x28);
  std::uint64_t v = static_cast<std::uint64_t>(rev);
  while (v >= 0x80) {
    bytes.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  bytes.push_back(static_cast<char>(v));
}

void PutCopyField(std::string& out, absl::string_view bytes) {
  PutBigEndian(out, bytes.size(), 4);
  out.append(bytes.data(), bytes.size());
}

// Checks a bulk import: each change valid, creating its record (no
// expected revision other than 0), merging into an empty record, one per
// subject. Fills `records` (revision 0) in order.
absl::Status CheckImport(absl::Span<const v1::ConsentChange> changes,
                         absl::Time now,
                         std::vector<v1::ConsentRecord>& records) {
  records.resize(changes.size());
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const v1::ConsentChange& c = changes[i];
    absl::Status st = ValidateConsentChange(c);
    if (st.ok() && c.has_expected_revision() && c.expected_revision() != 0) {
      st = absl::AbortedError(
          absl::StrCat("consent change for subject '", c.subject_id(),
                       "': expected revision ", c.expected_revision(),
                       " but a bulk import creates the record (revision 0)"));
    }
    if (st.ok()) st = MergeConsentChange(c, 0, now, records[i]);
    if (!st.ok()) {
      return absl::Status(st.code(), absl::StrCat("bulk import, change ", i,
                                                  ": ", st.message()));
    }
  }
  std::vector<std::size_t> order(changes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return changes[a].subject_id() < changes[b].subject_id();
  });
  for (std::size_t k = 1; k < order.size(); ++k) {
    const std::size_t a = std::min(order[k - 1], order[k]);
    const std::size_t b = std::max(order[k - 1], order[k]);
    if (changes[a].subject_id() == changes[b].subject_id()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bulk import: subject '",
                       internal::PrintableSubject(changes[a].subject_id()),
                       "' appears twice (changes ", a, " and ", b,
                       "); a bulk import creates each record from one change"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string PostgresConsentStore::Impl::PresentSubjects(
    Session& s, absl::Span<const v1::ConsentChange> changes) {
  // A text[] literal: each subject quoted, '"' and '\\' escaped.
  std::string array = "{";
  for (const v1::ConsentChange& c : changes) {
    if (array.size() > 1) array += ',';
    array += '"';
    array +=
        absl::StrReplaceAll(c.subject_id(), {{"\\", "\\\\"}, {"\"", "\\\""}});
    array += '"';
  }
  array += '}';
  absl::StatusOr<Result> r =
      s.Exec(Sql("SELECT subject_id FROM $S.consent_records WHERE subject_id = "
                 "ANY($1::text[]) ORDER BY subject_id LIMIT 5"),
             {Param{array}});
  if (!r.ok()) return absl::StrCat("not known: ", r.status().message());
  std::vector<std::string> names;
  for (int i = 0; i < PQntuples(r->get()); ++i) {
    names.push_back(absl::StrCat(
        "'", internal::PrintableSubject(ReadBytes(r->get(), i, 0)), "'"));
  }
  return absl::StrCat(absl::StrJoin(names, ", "),
                      names.size() == 5 ? ", ..." : "");
}

absl::Status PostgresConsentStore::Impl::ImportLocked(
    Session& s, absl::Span<const v1::ConsentChange> changes, absl::Time now,
    std::vector<v1::ConsentRecord>& records) {
  // Everything but the revisions, before the counter is taken.
  std::vector<std::string> states(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    states[i] = records[i].SerializeAsString();
  }
  const std::string n = absl::StrCat(changes.size());
  // JIT off: nothing here gains from it, and a plan's estimate for many
  // rows could make the server compile for half a second.
  RETURN_IF_ERROR(s.ExecScript("SET LOCAL jit = off"));
  // The range of revisions: the counter's row stays locked to COMMIT, so
  // writers wait from here; the rows go straight into the tables by COPY.
  ASSIGN_OR_RETURN(Result taken,
                   s.Exec(Sql("UPDATE $S.revision_counter SET last = last + "
                              "$1::bigint RETURNING last - $1::bigint"),
                          {Param{n}}));
  const Revision base = ReadInt64(taken.get(), 0, 0);
  // COPY's binary format: a header, each row as a field count and each
  // field's length and bytes, a trailer.
  const std::string header("PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0", 19);
  std::string current = header;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const Revision rev = base + static_cast<Revision>(i) + 1;
    records[i].set_revision(rev);
    AppendRevision(states[i], rev);
    PutBigEndian(current, 3, 2);
    PutCopyField(current, changes[i].subject_id());
    PutBigEndian(current, 8, 4);
    PutBigEndian(current, static_cast<std::uint64_t>(rev), 8);
    PutCopyField(current, states[i]);
  }
  PutBigEndian(current, 0xffff, 2);
  // The records first: a subject already present fails the import before
  // the history is sent.
  std::string sqlstate;
  absl::Status st =
      s.CopyIn(Sql("COPY $S.consent_records(subject_id, revision, record) "
                   "FROM STDIN (FORMAT binary)"),
               current, &sqlstate);
  if (sqlstate == "23505") {
    s.Rollback();
    return absl::AlreadyExistsError(absl::StrCat(
        "bulk import into ", s.Where(), ": subjects already in the store (",
        PresentSubjects(s, changes),
        "); nothing was imported: a bulk import only creates records"));
  }
  RETURN_IF_ERROR(st);
  current.clear();
  current.shrink_to_fit();
  std::string history = header;
  for (std::size_t i = 0; i < records.size(); ++i) {
    PutBigEndian(history, 5, 2);
    PutBigEndian(history, 8, 4);
    PutBigEndian(history, static_cast<std::uint64_t>(records[i].revision()), 8);
    PutCopyField(history, changes[i].subject_id());
    PutBigEndian(history, 8, 4);
    PutBigEndian(history, static_cast<std::uint64_t>(absl::ToUnixNanos(now)),
                 8);
    PutCopyField(history, changes[i].SerializeAsString());
    PutCopyField(history, states[i]);
  }
  PutBigEndian(history, 0xffff, 2);
  RETURN_IF_ERROR(
      s.CopyIn(Sql("COPY $S.consent_history(revision, subject_id, "
                   "commit_time_ns, change, state) FROM STDIN (FORMAT binary)"),
               history));
  // One notification for the import, and the commit, in one round trip.
  const std::string notify = Sql("SELECT pg_notify('$C', $1)");
  absl::StatusOr<std::vector<Result>> done = s.ExecPipeline(
      {{&notify, {Param{absl::StrCat(records.back().revision())}}},
       {&commit_sql, {}}});
  if (absl::IsUnavailable(done.status())) {
    return absl::UnavailableError(
        absl::StrCat(done.status().message(),
                     " (the commit of the bulk import was not confirmed; it "
                     "may have been applied)"));
  }
  return done.status();
}

absl::StatusOr<std::vector<Revision>> PostgresConsentStore::BulkImport(
    absl::Span<const v1::ConsentChange> changes) {
  Impl& m = *impl_;
  if (!m.has_primary) {
    return absl::FailedPreconditionError(
        absl::StrCat("PostgreSQL consent store schema '", m.schema,
                     "' was opened without a primary (standbys only) and "
                     "cannot import"));
  }
  std::vector<Revision> out;
  if (changes.empty()) return out;
  std::vector<v1::ConsentRecord> records;
  const absl::Time now = absl::Now();
  RETURN_IF_ERROR(CheckImport(changes, now, records));
  internal::MutexLock order(&m.feed.order_mu());
  {
    internal::MutexLock lock(&m.mu);
    RETURN_IF_ERROR(m.session.ExecScript("BEGIN"));
    absl::Status st = m.ImportLocked(m.session, changes, now, records);
    if (!st.ok()) {
      m.session.Rollback();
      return st;
    }
  }
  out.reserve(records.size());
  for (const v1::ConsentRecord& r : records) out.push_back(r.revision());
  m.Raise(out.back());
  m.feed.Deliver(records);
  return out;
}

absl::StatusOr<std::vector<v1::ConsentRecord>>
PostgresConsentStore::ChangesSince(Revision after, int limit) {
  if (impl_->reads != nullptr) {
    return impl_->ChangesVia(*impl_->reads, after, limit, nullptr);
  }
  internal::MutexLock lock(&impl_->mu);
  return impl_->ChangesSinceOn(impl_->session, after, limit);
}

absl::StatusOr<Revision> PostgresConsentStore::LatestRevision() {
  if (!impl_->has_primary) return impl_->LatestVia(*impl_->reads);
  internal::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(
      Result r, impl_->session.Exec(
                    impl_->Sql("SELECT COALESCE(MAX(revision), 0)::bigint FROM "
                               "$S.consent_history")));
  // A read after this one holds at least this revision.
  impl_->Raise(ReadInt64(r.get(), 0, 0));
  return ReadInt64(r.get(), 0, 0);
}

std::unique_ptr<Subscription> PostgresConsentStore::Watch(
    ConsentListener listener) {
  // The feed begins at the current revision.
  Impl* raw = impl_.get();
  return impl_->feed.Watch(
      std::move(listener), [this] { return LatestRevision(); },
      [raw] { raw->FeedLoop(); });
}

absl::Time PostgresConsentStore::FeedHeartbeat() {
  return impl_->feed.Heartbeat();
}

absl::StatusOr<std::vector<v1::ConsentHistoryEntry>>
PostgresConsentStore::History(absl::string_view subject_id) {
  std::vector<v1::ConsentHistoryEntry> out;
  // Reads the history on `s`; returns the highest revision its snapshot
  // holds at least.
  auto read = [&](Session& s) -> absl::StatusOr<Revision> {
    out.clear();
    ASSIGN_OR_RETURN(
        Result m, s.Exec(impl_->Sql("SELECT COALESCE(MAX(revision), 0)::bigint "
                                    "FROM $S.consent_history")));
    ASSIGN_OR_RETURN(
        Result r,
        s.Exec(
            impl_->Sql(
                "SELECT revision, commit_time_ns, change, state FROM "
                "$S.consent_history WHERE subject_id = $1 ORDER BY revision"),
            {Param{std::string(subject_id)}}));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      RETURN_IF_ERROR(internal::ParseHistoryEntry(
          ReadInt64(r.get(), i, 0), ReadInt64(r.get(), i, 1),
          ReadBytes(r.get(), i, 2), ReadBytes(r.get(), i, 3), subject_id,
          absl::StrCat("PostgreSQL consent store at '", s.target(),
                       "' schema '", impl_->schema, "'"),
          &out.emplace_back()));
    }
    return ReadInt64(m.get(), 0, 0);
  };
  if (!impl_->has_primary) {
    RETURN_IF_ERROR(
        impl_->reads->Run(impl_->floor.load(std::memory_order_acquire), read)
            .status());
    return out;
  }
  internal::MutexLock lock(&impl_->mu);
  RETURN_IF_ERROR(read(impl_->session).status());
  return out;
}

}  // namespace consentry
