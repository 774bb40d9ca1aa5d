// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "consentry/postgres_records.h"
#include "src/store/pg_session.h"
#include "src/util/mutex.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

using internal::pg::Param;
using internal::pg::ReadBytes;
using internal::pg::ReadInt64;
using internal::pg::Result;
using internal::pg::Session;

// Each entry upgrades component "requests" from version i to i + 1.
constexpr const char* kMigrations[] = {
    // 0 -> 1. `verified_subject_id` is NULL until the identity is
    // verified; `is_open` mirrors the state (not answered, not refused).
    "CREATE SEQUENCE $S.request_seq;"
    "CREATE TABLE $S.subject_requests("
    "  seq bigint PRIMARY KEY,"
    "  id text NOT NULL UNIQUE,"
    "  version bigint NOT NULL,"
    "  verified_subject_id text,"
    "  is_open boolean NOT NULL,"
    "  request bytea NOT NULL);"
    "CREATE INDEX subject_requests_by_subject ON $S.subject_requests("
    "  verified_subject_id, seq) WHERE verified_subject_id IS NOT NULL;"
    "CREATE INDEX subject_requests_open ON $S.subject_requests(seq) "
    "  WHERE is_open;",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) ==
              PostgresRequestStore::kSchemaVersion);

bool IsOpen(const v1::SubjectRequest& r) {
  return r.state() != v1::REQUEST_STATE_ANSWERED &&
         r.state() != v1::REQUEST_STATE_REFUSED;
}

}  // namespace

struct PostgresRequestStore::Impl {
  std::string target;
  std::string schema;
  internal::Mutex mu;
  Session session ABSL_GUARDED_BY(mu);

  Impl(std::string info, std::string tgt)
      : target(tgt),
        session(std::move(info), std::move(tgt), "PostgreSQL request store") {}

  std::string Sql(absl::string_view sql) const {
    return internal::pg::WithSchema(sql, schema);
  }

  std::string Where() const {
    return absl::StrCat("PostgreSQL request store at '", target, "' schema '",
                        schema, "'");
  }

  // Parses row `i` of (id, version, request): the bytes must parse and
  // name the row's id and version.
  absl::StatusOr<v1::SubjectRequest> ParseRow(const PGresult* r, int i) const {
    const std::string id = ReadBytes(r, i, 0);
    const std::int64_t version = ReadInt64(r, i, 1);
    v1::SubjectRequest out;
    const std::string bytes = ReadBytes(r, i, 2);
    if (!out.ParseFromString(bytes)) {
      return absl::DataLossError(
          absl::StrCat(Where(), ": the stored request '", absl::CHexEscape(id),
                       "' does not parse (", bytes.size(), " bytes)"));
    }
    if (out.id() != id || out.version() != version) {
      return absl::DataLossError(absl::StrCat(
          Where(), ": the stored request '", absl::CHexEscape(id),
          "' at version ", version, " holds request '",
          absl::CHexEscape(out.id()), "' at version ", out.version()));
    }
    return out;
  }

  // The rows matching `where`; with `unreadable`, a row that does not
  // parse is named there and the listing goes on, else it fails the
  // listing.
  absl::StatusOr<std::vector<v1::SubjectRequest>> List(
      const std::string& where, const std::vector<Param>& params,
      std::vector<UnreadableRequest>* unreadable = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ASSIGN_OR_RETURN(
        Result r,
        session.Exec(Sql(absl::StrCat("SELECT id, version, request FROM "
                                      "$S.subject_requests WHERE ",
                                      where, " ORDER BY seq")),
                     params));
    std::vector<v1::SubjectRequest> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      absl::StatusOr<v1::SubjectRequest> row = ParseRow(r.get(), i);
      if (row.ok()) {
        out.push_back(*std::move(row));
      } else if (unreadable != nullptr) {
        unreadable->push_back({ReadBytes(r.get(), i, 0), row.status()});
      } else {
        return row.status();
      }
    }
    return out;
  }

  absl::StatusOr<RequestListing> Listing(const std::string& where)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    RequestListing listing;
    ASSIGN_OR_RETURN(listing.requests, List(where, {}, &listing.unreadable));
    return listing;
  }
};

PostgresRequestStore::PostgresRequestStore(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
PostgresRequestStore::~PostgresRequestStore() = default;

const std::string& PostgresRequestStore::target() const {
  return impl_->target;
}

absl::StatusOr<std::unique_ptr<PostgresRequestStore>>
PostgresRequestStore::Open(const std::string& conninfo,
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
                                                   "requests", kMigrations));
  }
  return std::unique_ptr<PostgresRequestStore>(
      new PostgresRequestStore(std::move(impl)));
}

absl::StatusOr<v1::SubjectRequest> PostgresRequestStore::Create(
    v1::SubjectRequest request) {
  RETURN_IF_ERROR(ValidateStorableRequest(request));
  RETURN_IF_ERROR(internal::pg::CheckText(request.verified_subject_id(),
                                          "request.verified_subject_id"));
  Impl& m = *impl_;
  internal::MutexLock lock(&m.mu);
  ASSIGN_OR_RETURN(Result seq,
                   m.session.Exec(m.Sql("SELECT nextval('$S.request_seq')")));
  const std::int64_t n = ReadInt64(seq.get(), 0, 0);
  request.set_id(absl::StrCat("req-", n));
  request.set_version(1);
  RETURN_IF_ERROR(
      m.session
          .Exec(m.Sql("INSERT INTO $S.subject_requests(seq, id, version, "
                      "verified_subject_id, is_open, request) VALUES ($1, $2, "
                      "1, NULLIF($3, ''), $4, $5)"),
                {Param{absl::StrCat(n)}, Param{request.id()},
                 Param{request.verified_subject_id()},
                 Param{IsOpen(request) ? "true" : "false"},
                 Param{request.SerializeAsString(), true}})
          .status());
  return request;
}

absl::StatusOr<v1::SubjectRequest> PostgresRequestStore::Get(
    absl::string_view id) {
  RETURN_IF_ERROR(ValidateRequestId(id));
  if (!internal::pg::CheckText(id, "id").ok()) {
    return absl::NotFoundError(
        absl::StrCat("request '", absl::CHexEscape(id), "' not found"));
  }
  Impl& m = *impl_;
  internal::MutexLock lock(&m.mu);
  ASSIGN_OR_RETURN(Result r,
                   m.session.Exec(m.Sql("SELECT id, version, request FROM "
                                        "$S.subject_requests WHERE id = $1"),
                                  {Param{std::string(id)}}));
  if (PQntuples(r.get()) == 0) {
    return absl::NotFoundError(
        absl::StrCat("request '", id, "' not found in ", m.Where()));
  }
  return m.ParseRow(r.get(), 0);
}

absl::StatusOr<v1::SubjectRequest> PostgresRequestStore::Update(
    const v1::SubjectRequest& request) {
  RETURN_IF_ERROR(ValidateRequestId(request.id()));
  RETURN_IF_ERROR(ValidateStorableRequest(request));
  if (!internal::pg::CheckText(request.id(), "id").ok()) {
    return absl::NotFoundError(absl::StrCat(
        "request '", absl::CHexEscape(request.id()), "' not found"));
  }
  RETURN_IF_ERROR(internal::pg::CheckText(request.verified_subject_id(),
                                          "request.verified_subject_id"));
  Impl& m = *impl_;
  v1::SubjectRequest stored = request;
  stored.set_version(request.version() + 1);
  internal::MutexLock lock(&m.mu);
  Session& s = m.session;
  absl::Status st = internal::pg::InTransaction(
      s,
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m.mu) -> absl::Status {
        ASSIGN_OR_RETURN(
            Result cur,
            s.Exec(m.Sql("SELECT version FROM $S.subject_requests WHERE id = "
                         "$1 FOR UPDATE"),
                   {Param{request.id()}}));
        if (PQntuples(cur.get()) == 0) {
          return absl::NotFoundError(absl::StrCat(
              "request '", request.id(), "' not found in ", m.Where()));
        }
        const std::int64_t version = ReadInt64(cur.get(), 0, 0);
        if (version != request.version()) {
          return absl::AbortedError(
              absl::StrCat("request '", request.id(), "': expected version ",
                           request.version(),
                           " but the stored request is at version ", version));
        }
        return s
            .Exec(m.Sql("UPDATE $S.subject_requests SET version = $2, "
                        "verified_subject_id = NULLIF($3, ''), is_open = $4, "
                        "request = $5 WHERE id = $1"),
                  {Param{request.id()}, Param{absl::StrCat(stored.version())},
                   Param{stored.verified_subject_id()},
                   Param{IsOpen(stored) ? "true" : "false"},
                   Param{stored.SerializeAsString(), true}})
            .status();
      },
      absl::StrCat("the update of request '", request.id(),
                   "' was not confirmed; it may have been applied"));
  if (!st.ok()) return st;
  return stored;
}

absl::StatusOr<std::vector<v1::SubjectRequest>>
PostgresRequestStore::ListBySubject(absl::string_view subject_id) {
  if (subject_id.empty() ||
      !internal::pg::CheckText(subject_id, "subject_id").ok()) {
    return std::vector<v1::SubjectRequest>{};
  }
  internal::MutexLock lock(&impl_->mu);
  return impl_->List("verified_subject_id = $1",
                     {Param{std::string(subject_id)}});
}

absl::StatusOr<RequestListing> PostgresRequestStore::ListOpen() {
  internal::MutexLock lock(&impl_->mu);
  return impl_->Listing("is_open");
}

absl::StatusOr<RequestListing> PostgresRequestStore::ListAll() {
  internal::MutexLock lock(&impl_->mu);
  return impl_->Listing("true");
}

absl::StatusOr<v1::SubjectRequest> PostgresRequestStore::Import(
    const v1::SubjectRequest& request) {
  ASSIGN_OR_RETURN(const std::int64_t n, ImportableRequestNumber(request.id()));
  RETURN_IF_ERROR(ValidateStorableRequest(request));
  RETURN_IF_ERROR(internal::pg::CheckText(request.verified_subject_id(),
                                          "request.verified_subject_id"));
  v1::SubjectRequest stored = request;
  if (stored.version() < 1) stored.set_version(1);
  Impl& m = *impl_;
  internal::MutexLock lock(&m.mu);
  Session& s = m.session;
  absl::Status st = internal::pg::InTransaction(
      s,
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m.mu) -> absl::Status {
        // Locks the sequence's users out of this number range first.
        RETURN_IF_ERROR(
            s.Exec(m.Sql("LOCK TABLE $S.subject_requests IN EXCLUSIVE MODE"))
                .status());
        ASSIGN_OR_RETURN(
            Result cur,
            s.Exec(m.Sql("SELECT 1 FROM $S.subject_requests WHERE id = $1 OR "
                         "seq = $2"),
                   {Param{stored.id()}, Param{absl::StrCat(n)}}));
        if (PQntuples(cur.get()) != 0) {
          return absl::AlreadyExistsError(absl::StrCat(
              "request '", stored.id(), "' is already stored in ", m.Where()));
        }
        RETURN_IF_ERROR(
            s.Exec(m.Sql("INSERT INTO $S.subject_requests(seq, id, version, "
                         "verified_subject_id, is_open, request) VALUES ($1, "
                         "$2, $3, NULLIF($4, ''), $5, $6)"),
                   {Param{absl::StrCat(n)}, Param{stored.id()},
                    Param{absl::StrCat(stored.version())},
                    Param{stored.verified_subject_id()},
                    Param{IsOpen(stored) ? "true" : "false"},
                    Param{stored.SerializeAsString(), true}})
                .status());
        return s
            .Exec(m.Sql("SELECT setval('$S.request_seq', GREATEST($1::bigint, "
                        "(SELECT last_value FROM $S.request_seq)))"),
                  {Param{absl::StrCat(n)}})
            .status();
      },
      absl::StrCat("the import of request '", stored.id(),
                   "' was not confirmed; it may have been applied"));
  if (!st.ok()) return st;
  return stored;
}

}  // namespace consentry
