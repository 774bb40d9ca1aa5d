// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/postgres_store.h"

#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "src/store/feed_runner.h"
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

}  // namespace

struct PostgresConsentStore::Impl {
  std::string conninfo;
  std::string target;
  PostgresStoreOptions options;
  std::string schema;
  std::string channel;
  // Writers of one store serialize on this advisory lock, so that
  // revisions become visible in order and a reader that saw revision R has
  // seen every revision below R.
  std::string lock_key;

  internal::FeedRunner feed;

  internal::Mutex mu;
  Session session ABSL_GUARDED_BY(mu);

  // Feed thread: told to stop by `stop` and a byte on `wake_pipe`.
  std::atomic<bool> stop{false};
  int wake_pipe[2] = {-1, -1};

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
    return absl::StrReplaceAll(sql, {{"$S", schema}});
  }

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

  // Catches up on the feed session.
  absl::Status CatchUp(Session& s) {
    return feed.CatchUp(
        [&](Revision after) { return ChangesSinceOn(s, after, 1000); });
  }

  void FeedLoop() {
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
    : impl_(std::move(impl)) {}
PostgresConsentStore::~PostgresConsentStore() = default;

const std::string& PostgresConsentStore::target() const {
  return impl_->target;
}

absl::StatusOr<std::unique_ptr<PostgresConsentStore>>
PostgresConsentStore::Open(const std::string& conninfo,
                           PostgresStoreOptions options) {
  RETURN_IF_ERROR(internal::pg::CheckSchemaName(options.schema));
  ASSIGN_OR_RETURN(
      internal::pg::ConnTarget t,
      internal::pg::ParseConnInfo(conninfo, options.connect_timeout));
  auto impl = std::make_unique<Impl>(t.conninfo, t.target);
  impl->options = options;
  impl->schema = options.schema;
  impl->channel = options.schema + "_changes";
  impl->lock_key = "consentry-writers:" + options.schema;
  {
    internal::MutexLock lock(&impl->mu);
    RETURN_IF_ERROR(impl->Migrate(impl->session));
  }
  if (pipe(impl->wake_pipe) != 0) {
    return absl::ResourceExhaustedError("PostgresConsentStore: pipe() failed");
  }
  return std::unique_ptr<PostgresConsentStore>(
      new PostgresConsentStore(std::move(impl)));
}

absl::StatusOr<v1::ConsentRecord> PostgresConsentStore::Get(
    absl::string_view subject_id) {
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

absl::StatusOr<Revision> PostgresConsentStore::Apply(
    const v1::ConsentChange& change) {
  RETURN_IF_ERROR(ValidateConsentChange(change));
  Impl& m = *impl_;
  internal::MutexLock order(&m.feed.order_mu());
  v1::ConsentRecord record;
  {
    internal::MutexLock lock(&m.mu);
    Session& s = m.session;
    RETURN_IF_ERROR(s.ExecScript("BEGIN"));
    bool commit_sent = false;
    absl::Status st = [&]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(m.mu) -> absl::Status {
      RETURN_IF_ERROR(s.Exec("SELECT pg_advisory_xact_lock(hashtext($1))",
                             {Param{m.lock_key}})
                          .status());
      ASSIGN_OR_RETURN(Result cur,
                       s.Exec(m.Sql("SELECT revision, record FROM "
                                    "$S.consent_records WHERE subject_id = $1 "
                                    "FOR UPDATE"),
                              {Param{change.subject_id()}}));
      if (PQntuples(cur.get()) > 0) {
        const Revision current = ReadInt64(cur.get(), 0, 0);
        absl::Status read = m.ParseRecord(
            ReadBytes(cur.get(), 0, 1), change.subject_id(), current, &record);
        if (absl::IsDataLoss(read)) {
          // The current record is unreadable: build on the state its
          // history entry of the same revision recorded (written in the
          // same transaction), when that one parses.
          ASSIGN_OR_RETURN(
              Result h,
              s.Exec(
                  m.Sql("SELECT state FROM $S.consent_history WHERE "
                        "subject_id = $1 AND revision = $2"),
                  {Param{change.subject_id()}, Param{absl::StrCat(current)}}));
          if (PQntuples(h.get()) == 0 ||
              !m.ParseRecord(ReadBytes(h.get(), 0, 0), change.subject_id(),
                             current, &record)
                   .ok()) {
            return absl::DataLossError(absl::StrCat(
                read.message(),
                "; its history holds no readable copy either, so the change "
                "is not applied: restore the record first"));
          }
        } else if (!read.ok()) {
          return read;
        }
      }
      if (change.has_expected_revision() &&
          change.expected_revision() != record.revision()) {
        return absl::AbortedError(
            absl::StrCat("consent change for subject '", change.subject_id(),
                         "': expected revision ", change.expected_revision(),
                         " but the record is at revision ", record.revision()));
      }
      // Merged against the record read under this transaction's locks: a
      // change that would lift a restriction is refused here, for every
      // writer, before it takes a revision.
      const absl::Time now = absl::Now();
      RETURN_IF_ERROR(MergeConsentChange(change, 0, now, record));
      ASSIGN_OR_RETURN(Result seq,
                       s.Exec(m.Sql("SELECT nextval('$S.revision_seq')")));
      const Revision rev = ReadInt64(seq.get(), 0, 0);
      record.set_revision(rev);
      const std::string state = record.SerializeAsString();
      RETURN_IF_ERROR(
          s.Exec(m.Sql("INSERT INTO $S.consent_history(revision, subject_id, "
                       "commit_time_ns, change, state) VALUES ($1, $2, $3, $4, "
                       "$5)"),
                 {Param{absl::StrCat(rev)}, Param{change.subject_id()},
                  Param{absl::StrCat(absl::ToUnixNanos(now))},
                  Param{change.SerializeAsString(), true}, Param{state, true}})
              .status());
      RETURN_IF_ERROR(
          s.Exec(
               m.Sql(
                   "INSERT INTO $S.consent_records(subject_id, revision, "
                   "record) "
                   "VALUES ($1, $2, $3) ON CONFLICT (subject_id) DO UPDATE SET "
                   "revision = excluded.revision, record = excluded.record"),
               {Param{change.subject_id()}, Param{absl::StrCat(rev)},
                Param{state, true}})
              .status());
      RETURN_IF_ERROR(s.Exec("SELECT pg_notify($1, $2)",
                             {Param{m.channel}, Param{absl::StrCat(rev)}})
                          .status());
      commit_sent = true;
      return s.ExecScript("COMMIT");
    }();
    if (!st.ok()) {
      s.Rollback();
      if (commit_sent && absl::IsUnavailable(st)) {
        return absl::UnavailableError(absl::StrCat(
            st.message(), " (the commit of the change for subject '",
            change.subject_id(),
            "' was not confirmed; it may have been applied)"));
      }
      return st;
    }
  }
  m.feed.Deliver({record});
  return record.revision();
}

absl::StatusOr<std::vector<v1::ConsentRecord>>
PostgresConsentStore::ChangesSince(Revision after, int limit) {
  internal::MutexLock lock(&impl_->mu);
  return impl_->ChangesSinceOn(impl_->session, after, limit);
}

absl::StatusOr<Revision> PostgresConsentStore::LatestRevision() {
  internal::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(
      Result r, impl_->session.Exec(
                    impl_->Sql("SELECT COALESCE(MAX(revision), 0)::bigint FROM "
                               "$S.consent_history")));
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
  internal::MutexLock lock(&impl_->mu);
  ASSIGN_OR_RETURN(
      Result r,
      impl_->session.Exec(
          impl_->Sql(
              "SELECT revision, commit_time_ns, change, state FROM "
              "$S.consent_history WHERE subject_id = $1 ORDER BY revision"),
          {Param{std::string(subject_id)}}));
  std::vector<v1::ConsentHistoryEntry> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    RETURN_IF_ERROR(internal::ParseHistoryEntry(
        ReadInt64(r.get(), i, 0), ReadInt64(r.get(), i, 1),
        ReadBytes(r.get(), i, 2), ReadBytes(r.get(), i, 3), subject_id,
        absl::StrCat("PostgreSQL consent store at '", impl_->target,
                     "' schema '", impl_->schema, "'"),
        &out.emplace_back()));
  }
  return out;
}

}  // namespace consentry
