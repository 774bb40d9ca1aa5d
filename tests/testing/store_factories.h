// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The consent stores the shared conformance suite runs against, each able
// to open a second handle on the same data (as another process would).
// PostgreSQL tests get their server from the ctest fixture through
// CONSENTRY_PG_CONNINFO; without it they fail, they are never skipped.

#ifndef CONSENTRY_TESTS_TESTING_STORE_FACTORIES_H_
#define CONSENTRY_TESTS_TESTING_STORE_FACTORIES_H_

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "consentry/consent.h"
#include "consentry/postgres_store.h"
#include "consentry/sqlite_store.h"

namespace consentry::testing {

// A fresh, empty location for one test's data (a file or a PG schema).
inline std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return absl::StrCat(prefix, "_", getpid(), "_", counter++);
}

inline std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::filesystem::path dir = tmp != nullptr ? tmp : "/tmp";
  return (dir / name).string();
}

// The connection string the fixture published, or an error saying how to
// get one.
// CONSENTRY_PG_CONNINFO, or the contents of the file
// CONSENTRY_PG_CONNINFO_FILE names (written by tests/pg/start.sh).
inline absl::StatusOr<std::string> PgConnInfo() {
  const char* c = std::getenv("CONSENTRY_PG_CONNINFO");
  if (c != nullptr && *c != '\0') return std::string(c);
  const char* f = std::getenv("CONSENTRY_PG_CONNINFO_FILE");
  if (f == nullptr || *f == '\0') {
    return absl::FailedPreconditionError(
        "neither CONSENTRY_PG_CONNINFO nor CONSENTRY_PG_CONNINFO_FILE is set: "
        "run the PostgreSQL tests through ctest, whose fixture starts a "
        "server (tests/pg/start.sh)");
  }
  std::ifstream in(f);
  std::string line;
  if (!in || !std::getline(in, line) || line.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the PostgreSQL connection string from '", f,
                     "': did the fixture tests/pg/start.sh run?"));
  }
  return line;
}

enum class StoreKind { kInMemory, kSqlite, kPostgres };

inline std::string KindName(StoreKind k) {
  switch (k) {
    case StoreKind::kInMemory:
      return "InMemory";
    case StoreKind::kSqlite:
      return "Sqlite";
    case StoreKind::kPostgres:
      return "Postgres";
  }
  return "?";
}

// Opens handles on one store location.
class StoreLocation {
 public:
  explicit StoreLocation(StoreKind kind) : kind_(kind) {
    if (kind == StoreKind::kSqlite) {
      target_ = TempPath(UniqueName("consentry_store") + ".db");
    } else if (kind == StoreKind::kPostgres) {
      target_ = UniqueName("t");
    }
  }
  ~StoreLocation() {
    if (kind_ == StoreKind::kSqlite) {
      std::filesystem::remove(target_);
      std::filesystem::remove(target_ + "-wal");
      std::filesystem::remove(target_ + "-shm");
    }
  }

  // A new handle. For the in-memory store there is only one.
  absl::StatusOr<std::unique_ptr<ConsentStore>> Open(
      absl::Duration poll = absl::Milliseconds(5)) {
    switch (kind_) {
      case StoreKind::kInMemory:
        return std::unique_ptr<ConsentStore>(new InMemoryConsentStore());
      case StoreKind::kSqlite: {
        SqliteStoreOptions o;
        o.poll_interval = poll;
        absl::StatusOr<std::unique_ptr<SqliteConsentStore>> s =
            SqliteConsentStore::Open(target_, o);
        if (!s.ok()) return s.status();
        return std::unique_ptr<ConsentStore>(std::move(*s));
      }
      case StoreKind::kPostgres: {
        absl::StatusOr<std::string> conn = PgConnInfo();
        if (!conn.ok()) return conn.status();
        PostgresStoreOptions o;
        o.schema = target_;
        o.heartbeat_interval = poll;
        absl::StatusOr<std::unique_ptr<PostgresConsentStore>> s =
            PostgresConsentStore::Open(*conn, o);
        if (!s.ok()) return s.status();
        return std::unique_ptr<ConsentStore>(std::move(*s));
      }
    }
    return absl::InternalError("unknown store kind");
  }

  StoreKind kind() const { return kind_; }
  // The file (SQLite) or schema (PostgreSQL).
  const std::string& target() const { return target_; }

 private:
  StoreKind kind_;
  std::string target_;
};

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_TESTING_STORE_FACTORIES_H_
