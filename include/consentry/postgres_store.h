// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: postgres_store.h
// -----------------------------------------------------------------------------
//
// A consent store in PostgreSQL (libpq), shared by every service that
// connects to the same database and schema. Writers from many processes
// are serialized per store, so revisions (from one sequence) commit in
// order; a change whose `expected_revision` no longer holds is `kAborted`,
// never lost and never silently merged.
//
// The change feed: each write sends `NOTIFY <schema>_changes`; a listener
// thread wakes on it and reads every change after the last revision it
// delivered. It also catches up every `heartbeat_interval`, and after a
// reconnect, so a lost notification or a restart of the server delays a
// change but never drops it. `FeedHeartbeat` tells a Guard how fresh the
// feed is.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<consentry::PostgresConsentStore>> store =
//       consentry::PostgresConsentStore::Open(
//           "host=/run/postgresql dbname=app user=app");
//   if (!store.ok()) return store.status();   // kUnavailable: server down
//   auto guard = consentry::Guard::Create(policy, store->get(), &audit);

#ifndef CONSENTRY_POSTGRES_STORE_H_
#define CONSENTRY_POSTGRES_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "consentry/consent.h"
#include "consentry/export.h"

namespace consentry {

struct PostgresStoreOptions {
  // The PostgreSQL schema holding the store's tables (created when
  // missing): lower-case letters, digits and '_', at most 48 characters,
  // not starting with a digit. Stores in different schemas are independent.
  std::string schema = "consentry";
  // How often the feed thread catches up without a notification (and
  // proves the feed alive). Bounds the delay of a lost notification.
  absl::Duration heartbeat_interval = absl::Milliseconds(200);
  // How long a connection attempt may take.
  absl::Duration connect_timeout = absl::Seconds(5);
};

// A `ConsentStore` in PostgreSQL. Thread-safe; owns one connection for
// calls (serialized) and, once watched, one for the change feed with its
// thread, stopped on destruction.
class CONSENTRY_EXPORT PostgresConsentStore final : public ConsentStore {
 public:
  // The schema version this library writes.
  static constexpr int kSchemaVersion = 1;

  // Connects with the libpq connection string `conninfo` and creates or
  // migrates the store's tables.
  //
  // Errors: `kInvalidArgument` for a malformed `conninfo` or schema name;
  // `kUnavailable` naming the server (host, port, database) when it cannot
  // be reached; `kFailedPrecondition` when the schema was written by a
  // newer library.
  static absl::StatusOr<std::unique_ptr<PostgresConsentStore>> Open(
      const std::string& conninfo, PostgresStoreOptions options = {});

  PostgresConsentStore(const PostgresConsentStore&) = delete;
  PostgresConsentStore& operator=(const PostgresConsentStore&) = delete;
  ~PostgresConsentStore() override;

  // ConsentStore. Every call fails with `kUnavailable` naming the server
  // while it is unreachable (a write whose commit was not confirmed may or
  // may not have been applied) and reconnects by itself on a later call.
  // Reads return `kDataLoss` naming the subject for a row that does not
  // parse.
  absl::StatusOr<v1::ConsentRecord> Get(absl::string_view subject_id) override;
  absl::StatusOr<Revision> Apply(const v1::ConsentChange& change) override;
  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSince(
      Revision after, int limit) override;
  absl::StatusOr<Revision> LatestRevision() override;
  std::unique_ptr<Subscription> Watch(ConsentListener listener) override;
  absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> History(
      absl::string_view subject_id) override;
  // The time of the feed thread's last successful catch-up;
  // `absl::InfiniteFuture()` while nobody watches.
  absl::Time FeedHeartbeat() override;

  // "host=... port=... dbname=..." of the server, without credentials.
  const std::string& target() const;

 private:
  struct Impl;
  explicit PostgresConsentStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace consentry

#endif  // CONSENTRY_POSTGRES_STORE_H_
