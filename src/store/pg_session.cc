// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/store/pg_session.h"

#include <endian.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/stubs/common.h"
#include "src/util/status_macros.h"

namespace consentry::internal::pg {

std::int64_t ReadInt64(const PGresult* r, int row, int col) {
  std::uint64_t be = 0;
  if (PQgetlength(r, row, col) != 8) return 0;
  std::memcpy(&be, PQgetvalue(r, row, col), 8);
  return static_cast<std::int64_t>(be64toh(be));
}

std::int32_t ReadInt32(const PGresult* r, int row, int col) {
  std::uint32_t be = 0;
  if (PQgetlength(r, row, col) != 4) return 0;
  std::memcpy(&be, PQgetvalue(r, row, col), 4);
  return static_cast<std::int32_t>(be32toh(be));
}

std::string ReadBytes(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col),
                     static_cast<std::size_t>(PQgetlength(r, row, col)));
}

bool ReadTextArray(const PGresult* r, int row, int col,
                   std::vector<std::string>& out) {
  out.clear();
  if (PQgetisnull(r, row, col)) return false;
  const char* p = PQgetvalue(r, row, col);
  std::size_t left = static_cast<std::size_t>(PQgetlength(r, row, col));
  auto next = [&](std::uint32_t& v) {
    if (left < 4) return false;
    std::memcpy(&v, p, 4);
    v = be32toh(v);
    p += 4;
    left -= 4;
    return true;
  };
  // Header: dimensions, has-nulls flag, element type; then per dimension
  // its length and lower bound; then each element as length + bytes.
  std::uint32_t ndim = 0, has_null = 0, type = 0, n = 0, lbound = 0;
  if (!next(ndim) || !next(has_null) || !next(type)) return false;
  if (ndim == 0) return left == 0;
  if (ndim != 1 || has_null != 0 || !next(n) || !next(lbound)) return false;
  if (n > left / 4) return false;
  out.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t len = 0;
    if (!next(len) || len > left) return false;
    out.emplace_back(p, len);
    p += len;
    left -= len;
  }
  return left == 0;
}

absl::Status CheckSchemaName(absl::string_view schema) {
  bool ok = !schema.empty() && schema.size() <= 48 &&
            !absl::ascii_isdigit(static_cast<unsigned char>(schema[0]));
  for (char c : schema) {
    ok = ok && (absl::ascii_islower(static_cast<unsigned char>(c)) ||
                absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "PostgresStoreOptions.schema '", absl::CHexEscape(schema),
      "' must be 1-48 lower-case letters, digits or '_', not starting with "
      "a digit"));
}

absl::Status CheckText(absl::string_view value, absl::string_view field) {
  if (value.find('\0') != absl::string_view::npos ||
      !google::protobuf::internal::IsStructurallyValidUTF8(
          value.data(), static_cast<int>(value.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " '", absl::CHexEscape(value),
        "' is not valid UTF-8 or holds a NUL byte: PostgreSQL text cannot "
        "store it"));
  }
  return absl::OkStatus();
}

std::string WithSchema(absl::string_view sql, absl::string_view schema) {
  return absl::StrReplaceAll(sql, {{"$S", schema}});
}

absl::StatusOr<ConnTarget> ParseConnInfo(const std::string& conninfo,
                                         absl::Duration connect_timeout) {
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
  if (parsed == nullptr) {
    std::string msg = err != nullptr ? err : "out of memory";
    if (err != nullptr) PQfreemem(err);
    return absl::InvalidArgumentError(
        absl::StrCat("PostgreSQL connection string is malformed: ",
                     absl::StripTrailingAsciiWhitespace(msg)));
  }
  std::string host = "(default)", port = "5432", dbname = "(default)";
  bool has_timeout = false;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string k = o->keyword;
    if (k == "host" || k == "hostaddr") host = o->val;
    if (k == "port") port = o->val;
    if (k == "dbname") dbname = o->val;
    if (k == "connect_timeout") has_timeout = true;
  }
  PQconninfoFree(parsed);
  ConnTarget out;
  out.conninfo = conninfo;
  if (!has_timeout) {
    out.conninfo = absl::StrCat(
        conninfo, " connect_timeout=",
        std::max<std::int64_t>(1, absl::ToInt64Seconds(connect_timeout)));
  }
  out.target = absl::StrCat("host=", host, " port=", port, " dbname=", dbname);
  return out;
}

Session::Session(std::string conninfo, std::string target, std::string what)
    : conninfo_(std::move(conninfo)),
      target_(std::move(target)),
      what_(std::move(what)) {}

std::string Session::Where() const {
  return absl::StrCat(what_, " at '", target_, "'");
}

absl::Status Session::Ensure() {
  if (conn_ != nullptr && PQstatus(conn_.get()) == CONNECTION_OK) {
    return absl::OkStatus();
  }
  prepared_.clear();
  conn_.reset(PQconnectdb(conninfo_.c_str()));
  if (conn_ == nullptr || PQstatus(conn_.get()) != CONNECTION_OK) {
    absl::Status s = absl::UnavailableError(absl::StrCat(
        Where(), " is unreachable: ",
        conn_ != nullptr
            ? absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn_.get()))
            : "out of memory"));
    conn_.reset();
    return s;
  }
  // Server notices (e.g. "schema already exists, skipping") are not for
  // the embedding application's stderr.
  PQsetNoticeProcessor(
      conn_.get(), [](void*, const char*) {}, nullptr);
  return absl::OkStatus();
}

absl::StatusOr<Result> Session::Exec(const std::string& sql,
                                     const std::vector<Param>& params) {
  RETURN_IF_ERROR(Ensure());
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (const Param& p : params) {
    values.push_back(p.value.data());
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  Result r(PQexecParams(conn_.get(), sql.c_str(),
                        static_cast<int>(params.size()), nullptr, values.data(),
                        lengths.data(), formats.data(), 1));
  const ExecStatusType st =
      r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  return Error(r.get());
}

absl::StatusOr<std::string> Session::Prepared(const std::string& sql) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = absl::StrCat("consentry_", prepared_.size());
    Result p(PQprepare(conn_.get(), name.c_str(), sql.c_str(), 0, nullptr));
    if (p == nullptr || PQresultStatus(p.get()) != PGRES_COMMAND_OK) {
      return Error(p.get());
    }
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  return it->second;
}

absl::StatusOr<Result> Session::ExecPrepared(const std::string& sql,
                                             const std::vector<Param>& params) {
  RETURN_IF_ERROR(Ensure());
  ASSIGN_OR_RETURN(const std::string name, Prepared(sql));
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (const Param& p : params) {
    values.push_back(p.value.data());
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  Result r(PQexecPrepared(conn_.get(), name.c_str(),
                          static_cast<int>(params.size()), values.data(),
                          lengths.data(), formats.data(), 1));
  const ExecStatusType st =
      r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  return Error(r.get());
}

absl::Status Session::ExecScript(const std::string& sql) {
  RETURN_IF_ERROR(Ensure());
  Result r(PQexec(conn_.get(), sql.c_str()));
  const ExecStatusType st =
      r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return absl::OkStatus();
  return Error(r.get());
}

absl::StatusOr<std::vector<Result>> Session::ExecPipeline(
    const std::vector<Statement>& statements, std::string* sqlstate) {
  RETURN_IF_ERROR(Ensure());
  std::vector<std::string> names;
  names.reserve(statements.size());
  for (const Statement& st : statements) {
    ASSIGN_OR_RETURN(names.emplace_back(), Prepared(*st.sql));
  }
  PGconn* c = conn_.get();
  if (PQenterPipelineMode(c) == 0) return Error(nullptr);
  bool sent = true;
  for (std::size_t i = 0; i < statements.size() && sent; ++i) {
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    for (const Param& p : statements[i].params) {
      values.push_back(p.value.data());
      lengths.push_back(static_cast<int>(p.value.size()));
      formats.push_back(p.binary ? 1 : 0);
    }
    sent = PQsendQueryPrepared(c, names[i].c_str(),
                               static_cast<int>(values.size()), values.data(),
                               lengths.data(), formats.data(), 1) != 0;
  }
  sent = sent && PQpipelineSync(c) != 0;
  // Each statement's result is followed by a null; the sync ends it all.
  std::vector<Result> out(statements.size());
  absl::Status first = absl::OkStatus();
  std::size_t i = 0;
  int nulls = 0;
  while (sent && PQstatus(c) == CONNECTION_OK) {
    Result r(PQgetResult(c));
    if (r == nullptr) {
      ++i;
      if (++nulls > static_cast<int>(statements.size()) + 1) break;
      continue;
    }
    const ExecStatusType st = PQresultStatus(r.get());
    if (st == PGRES_PIPELINE_SYNC) break;
    if (st == PGRES_PIPELINE_ABORTED) continue;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      if (first.ok()) {
        if (sqlstate != nullptr) {
          const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
          *sqlstate = code != nullptr ? code : "";
        }
        first = Error(r.get());
        if (conn_ == nullptr) return first;
      }
      continue;
    }
    if (i < out.size() && out[i] == nullptr) out[i] = std::move(r);
  }
  if (conn_ == nullptr || !sent || PQstatus(c) != CONNECTION_OK ||
      PQexitPipelineMode(c) == 0) {
    absl::Status lost = first.ok() ? Error(nullptr) : first;
    conn_.reset();
    prepared_.clear();
    if (absl::IsUnavailable(lost)) return lost;
    return absl::UnavailableError(absl::StrCat(
        Where(), " is unavailable (pipeline broken): ", lost.message()));
  }
  if (!first.ok()) return first;
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (out[k] == nullptr) {
      return absl::InternalError(absl::StrCat(
          Where(), ": statement ", k, " of a pipeline returned no result"));
    }
  }
  return out;
}

absl::Status Session::CopyIn(const std::string& sql, absl::string_view data,
                             std::string* sqlstate) {
  RETURN_IF_ERROR(Ensure());
  Result start(PQexec(conn_.get(), sql.c_str()));
  if (start == nullptr || PQresultStatus(start.get()) != PGRES_COPY_IN) {
    return Error(start.get());
  }
  constexpr std::size_t kChunk = 1 << 20;
  bool ok = true;
  for (std::size_t at = 0; at < data.size() && ok; at += kChunk) {
    const std::size_t n = std::min(kChunk, data.size() - at);
    ok = PQputCopyData(conn_.get(), data.data() + at, static_cast<int>(n)) == 1;
  }
  ok = PQputCopyEnd(conn_.get(), ok ? nullptr : "client failed to send") == 1 &&
       ok;
  absl::Status st = absl::OkStatus();
  while (Result r = Result(PQgetResult(conn_.get()))) {
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK && st.ok()) {
      if (sqlstate != nullptr) {
        const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
        *sqlstate = code != nullptr ? code : "";
      }
      st = Error(r.get());
      if (conn_ == nullptr) return st;
    }
  }
  if (st.ok() && !ok) return Error(nullptr);
  return st;
}

void Session::Rollback() {
  if (conn_ != nullptr && PQstatus(conn_.get()) == CONNECTION_OK &&
      PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) {
    Result r(PQexec(conn_.get(), "ROLLBACK"));
  }
}

absl::Status Session::Error(const PGresult* r) {
  const char* state =
      r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string msg(absl::StripTrailingAsciiWhitespace(
      r != nullptr && *PQresultErrorMessage(r) != '\0'
          ? PQresultErrorMessage(r)
          : PQerrorMessage(conn_.get())));
  if (PQstatus(conn_.get()) != CONNECTION_OK ||
      (state != nullptr && (std::strncmp(state, "08", 2) == 0 ||
                            std::strncmp(state, "57P", 3) == 0))) {
    conn_.reset();
    return absl::UnavailableError(
        absl::StrCat(Where(), " is unavailable (connection lost): ", msg));
  }
  const std::string where = absl::StrCat(Where(), ": ", msg);
  if (state != nullptr &&
      (std::strcmp(state, "40001") == 0 || std::strcmp(state, "40P01") == 0)) {
    return absl::AbortedError(where);
  }
  if (state != nullptr && std::strncmp(state, "53", 2) == 0) {
    return absl::UnavailableError(where);
  }
  return absl::InternalError(where);
}

absl::Status InTransaction(Session& s,
                           const std::function<absl::Status()>& body,
                           absl::string_view unconfirmed) {
  RETURN_IF_ERROR(s.ExecScript("BEGIN"));
  absl::Status st = body();
  if (!st.ok()) {
    s.Rollback();
    return st;
  }
  st = s.ExecScript("COMMIT");
  if (!st.ok()) {
    s.Rollback();
    if (absl::IsUnavailable(st)) {
      return absl::UnavailableError(
          absl::StrCat(st.message(), " (", unconfirmed, ")"));
    }
  }
  return st;
}

absl::Status MigrateComponent(Session& s, const std::string& schema,
                              absl::string_view component,
                              absl::Span<const char* const> migrations) {
  const int latest = static_cast<int>(migrations.size());
  return InTransaction(
      s,
      [&]() -> absl::Status {
        RETURN_IF_ERROR(s.Exec("SELECT pg_advisory_xact_lock(hashtext($1))",
                               {Param{"consentry-schema:" + schema}})
                            .status());
        RETURN_IF_ERROR(s.ExecScript(WithSchema(
            "CREATE SCHEMA IF NOT EXISTS $S;"
            "CREATE TABLE IF NOT EXISTS $S.consentry_components("
            "  component text PRIMARY KEY, version integer NOT NULL)",
            schema)));
        ASSIGN_OR_RETURN(
            Result v,
            s.Exec(WithSchema("SELECT version FROM $S.consentry_components "
                              "WHERE component = $1",
                              schema),
                   {Param{std::string(component)}}));
        const int version =
            PQntuples(v.get()) == 0 ? 0 : ReadInt32(v.get(), 0, 0);
        if (version > latest || version < 0) {
          return absl::FailedPreconditionError(absl::StrCat(
              s.Where(), " schema '", schema, "': component '", component,
              "' has schema version ", version,
              ", newer than this library supports (", latest, ")"));
        }
        for (int i = version; i < latest; ++i) {
          RETURN_IF_ERROR(s.ExecScript(
              WithSchema(migrations[static_cast<std::size_t>(i)], schema)));
        }
        if (version == latest) return absl::OkStatus();
        return s
            .Exec(WithSchema("INSERT INTO $S.consentry_components(component, "
                             "version) VALUES ($1, $2) ON CONFLICT (component) "
                             "DO UPDATE SET version = excluded.version",
                             schema),
                  {Param{std::string(component)}, Param{absl::StrCat(latest)}})
            .status();
      },
      "the schema migration was not confirmed");
}

}  // namespace consentry::internal::pg
