// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The PostgreSQL stores' shared connection handling (libpq): parsing a
// connection string into the target named in messages (host, port and
// database, never credentials), one connection that reconnects by itself on
// the next call after it broke, queries with text or binary parameters and
// binary results, and the mapping of server errors to statuses (a lost
// connection or a server shutting down: `kUnavailable` naming the target;
// serialization failure or deadlock: `kAborted`). Also the per-component
// schema migrations of the record stores (`MigrateComponent`).

#ifndef CONSENTRY_SRC_STORE_PG_SESSION_H_
#define CONSENTRY_SRC_STORE_PG_SESSION_H_

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace consentry::internal::pg {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;

// A query parameter: text, or binary bytes (bytea).
struct Param {
  std::string value;
  bool binary = false;
};

// Binary result fields (0 for a field of another size) and bytes.
std::int64_t ReadInt64(const PGresult* r, int row, int col);
std::int32_t ReadInt32(const PGresult* r, int row, int col);
std::string ReadBytes(const PGresult* r, int row, int col);
// A one-dimensional array of non-null text values in the binary result
// format; false when the value is anything else (then `out` is
// unspecified).
bool ReadTextArray(const PGresult* r, int row, int col,
                   std::vector<std::string>& out);

// OK when `schema` is 1-48 lower-case letters, digits or '_', not starting
// with a digit; else `kInvalidArgument` naming it.
absl::Status CheckSchemaName(absl::string_view schema);

// A connection string checked and completed: `conninfo` with a
// `connect_timeout` added when it has none, and `target`
// ("host=... port=... dbname=...", without credentials).
struct ConnTarget {
  std::string conninfo;
  std::string target;
};
// Errors: `kInvalidArgument` for a malformed connection string (the message
// does not repeat it: it may hold a password).
absl::StatusOr<ConnTarget> ParseConnInfo(const std::string& conninfo,
                                         absl::Duration connect_timeout);

// One connection and the queries on it. Thread-compatible. `what` names the
// store in messages ("PostgreSQL consent store").
class Session {
 public:
  Session(std::string conninfo, std::string target, std::string what);

  PGconn* conn() { return conn_.get(); }
  const std::string& target() const { return target_; }
  // "<what> at '<target>'", the prefix of every message.
  std::string Where() const;

  // Connects when not connected (or the connection broke).
  absl::Status Ensure();

  // Runs `sql` with `params`; binary results.
  absl::StatusOr<Result> Exec(const std::string& sql,
                              const std::vector<Param>& params = {});

  // As `Exec`, as a statement prepared on the connection at its first use
  // (parsed and planned once per connection, not per call).
  absl::StatusOr<Result> ExecPrepared(const std::string& sql,
                                      const std::vector<Param>& params = {});

  // Runs several statements without parameters.
  absl::Status ExecScript(const std::string& sql);

  // One statement of a pipeline.
  struct Statement {
    const std::string* sql;  // Not owned; prepared like `ExecPrepared`.
    std::vector<Param> params;
  };
  // Sends `statements` at once (libpq pipeline mode, one sync) and reads
  // their results: one round trip for all of them. The server runs them in
  // order and skips the rest after the first that fails. Errors: the first
  // failure's, as `Exec` maps it; its SQLSTATE goes to `sqlstate` when not
  // null. Transaction state is the caller's: after an error inside BEGIN,
  // call `Rollback`.
  absl::StatusOr<std::vector<Result>> ExecPipeline(
      const std::vector<Statement>& statements,
      std::string* sqlstate = nullptr);

  // Runs `COPY ... FROM STDIN` (`sql`) with `data` in the COPY text or
  // binary format `sql` names, in chunks. Errors: those of `Exec`; the
  // SQLSTATE of a failure goes to `sqlstate` when not null.
  absl::Status CopyIn(const std::string& sql, absl::string_view data,
                      std::string* sqlstate = nullptr);

  // Best effort; a broken connection has no transaction left.
  void Rollback();

  // The status of a failed result (or of the connection).
  absl::Status Error(const PGresult* r);

 private:
  std::string conninfo_;
  std::string target_;
  std::string what_;
  Conn conn_;
  // The name of `sql` prepared on the connection (preparing it first).
  absl::StatusOr<std::string> Prepared(const std::string& sql);

  // The statements prepared on `conn_`: SQL -> name.
  std::map<std::string, std::string> prepared_;
};

// Runs `body` in a transaction on `s`: BEGIN, `body`, COMMIT; ROLLBACK when
// `body` or the commit fails. A `kUnavailable` from the COMMIT itself is
// returned with `unconfirmed` appended (the commit may have happened).
absl::Status InTransaction(Session& s,
                           const std::function<absl::Status()>& body,
                           absl::string_view unconfirmed);

// Creates or migrates one component's tables in `schema`, shared with the
// other components (and the consent store): `migrations[i]` upgrades the
// component from version i to i + 1 ("$S" stands for the schema). The
// version of each component is a row of `$S.consentry_components`. Runs in
// one transaction under the schema's advisory lock, the one the consent
// store migrates under, so that services starting at once migrate once.
// Errors: `kFailedPrecondition` when the stored version is newer than
// `migrations.size()`; those of `Exec`.
absl::Status MigrateComponent(Session& s, const std::string& schema,
                              absl::string_view component,
                              absl::Span<const char* const> migrations);

// OK when `value` fits a text column: valid UTF-8 without NUL bytes.
// Errors: `kInvalidArgument` naming `field`.
absl::Status CheckText(absl::string_view value, absl::string_view field);

// `sql` with "$S" replaced by `schema`.
std::string WithSchema(absl::string_view sql, absl::string_view schema);

}  // namespace consentry::internal::pg

#endif  // CONSENTRY_SRC_STORE_PG_SESSION_H_
