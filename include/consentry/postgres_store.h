// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: postgres_store.h
// -----------------------------------------------------------------------------
//
// A consent store in PostgreSQL (libpq), shared by every service that
// connects to the same database and schema. Writers from many processes
// run in parallel: a write locks its subject, and only the end of each
// write (taking the next revision from a one-row counter, to its COMMIT)
// is serialized per store, so revisions are dense and commit in order; a
// change whose `expected_revision` no longer holds is `kAborted`, never
// lost and never silently merged. `BulkImport` loads many subjects with
// one COPY.
//
// The change feed: each write sends `NOTIFY <schema>_changes`; a listener
// thread wakes on it and reads every change after the last revision it
// delivered. It also catches up every `heartbeat_interval`, and after a
// reconnect, so a lost notification or a restart of the server delays a
// change but never drops it. `FeedHeartbeat` tells a Guard how fresh the
// feed is.
//
// Hot standbys (`PostgresServers::standbys`): reads of a subject (`Get`,
// `GetAtLeast`, the Guard's cache misses), full loads (`ChangesSince`) and
// the change feed go to the first FRESH standby that has replayed the
// revision the read needs; writes go to the primary. A read needs the
// larger of its `min_revision` and the highest revision this store has
// seen (its own writes, `LatestRevision`, its feed, its earlier reads), so
// a process never reads older state than it already acted on. It waits up
// to `standby_wait` for a standby to replay that revision, then reads the
// primary; with no primary (a read-only store) it fails with
// `kUnavailable`, and a Guard denies for that subject.
//
// A standby is FRESH when it answers, is still in recovery, and within
// the last `max_standby_lag` it had received WAL from its primary that it
// has replayed since (it was seen at time t having received WAL up to L,
// and now has replayed L, with t >= now - max_standby_lag). A standby
// with replay paused or behind by more than the bound, stopped, or
// promoted is left for the next one. A store without a primary takes a
// promoted standby as the new primary (fresh at every read). See
// docs/design/standby.md.
//
// The feed polls the server it reads from every `heartbeat_interval` for
// the changes after the last revision it delivered; with a primary it
// also listens there, and a notification (carrying its revision) makes it
// read at once. Its heartbeat is the time the server it read was known
// fresh, so a lagging standby makes the Guard fail closed after its bound.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<consentry::PostgresConsentStore>> store =
//       consentry::PostgresConsentStore::Open(
//           "host=/run/postgresql dbname=app user=app");
//   if (!store.ok()) return store.status();   // kUnavailable: server down
//   auto guard = consentry::Guard::Create(policy, store->get(), &audit);
//
//   // Writes to the primary, reads from a standby when it is fresh:
//   consentry::PostgresServers servers;
//   servers.primary = "host=db1 dbname=app user=app";
//   servers.standbys = {"host=db2 dbname=app user=app"};
//   auto replicated = consentry::PostgresConsentStore::Open(servers);

#ifndef CONSENTRY_POSTGRES_STORE_H_
#define CONSENTRY_POSTGRES_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
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
  // With standbys: how far a standby may lag behind what it received from
  // its primary and still serve reads (see "FRESH" above).
  absl::Duration max_standby_lag = absl::Seconds(1);
  // With standbys: how long a read waits for a fresh standby to replay the
  // revision it needs before it reads the primary (or fails).
  absl::Duration standby_wait = absl::Milliseconds(200);
  // With standbys: how long a standby that could not be reached is left
  // alone before a read tries it again.
  absl::Duration standby_retry_interval = absl::Seconds(1);
};

// The servers of a store: a primary for writes and standbys for reads.
struct PostgresServers {
  // libpq connection string of the primary. Empty: a read-only store that
  // reads and follows `standbys` only (`Apply` fails).
  std::string primary;
  // libpq connection strings of hot standbys streaming from the primary,
  // tried in this order.
  std::vector<std::string> standbys;
};

// A `ConsentStore` in PostgreSQL. Thread-safe; owns one connection for
// calls (serialized) and, once watched, one for the change feed with its
// thread, stopped on destruction. With standbys it also owns a read
// connection to each standby and to the primary (each serialized), and
// the feed thread its own set.
class CONSENTRY_EXPORT PostgresConsentStore final : public ConsentStore {
 public:
  // The schema version this library writes.
  static constexpr int kSchemaVersion = 2;

  // Connects with the libpq connection string `conninfo` and creates or
  // migrates the store's tables.
  //
  // Errors: `kInvalidArgument` for a malformed `conninfo` or schema name;
  // `kUnavailable` naming the server (host, port, database) when it cannot
  // be reached; `kFailedPrecondition` when the schema was written by a
  // newer library.
  static absl::StatusOr<std::unique_ptr<PostgresConsentStore>> Open(
      const std::string& conninfo, PostgresStoreOptions options = {});

  // As above, with hot standbys for reads. With a primary, the tables are
  // created or migrated there; without one, the schema must exist (written
  // by this library version or an older one that needs no migration) on
  // the first standby that answers.
  //
  // Errors: as above, for any server; `kInvalidArgument` when there is
  // neither a primary nor a standby; `kFailedPrecondition` for a read-only
  // store whose schema is missing or needs a migration; `kUnavailable`
  // for a read-only store when no standby answers.
  static absl::StatusOr<std::unique_ptr<PostgresConsentStore>> Open(
      const PostgresServers& servers, PostgresStoreOptions options = {});

  PostgresConsentStore(const PostgresConsentStore&) = delete;
  PostgresConsentStore& operator=(const PostgresConsentStore&) = delete;
  ~PostgresConsentStore() override;

  // ConsentStore. Every call fails with `kUnavailable` naming the server
  // while it is unreachable (a write whose commit was not confirmed may or
  // may not have been applied) and reconnects by itself on a later call.
  // Reads return `kDataLoss` naming the subject for a row that does not
  // parse.
  //
  // With standbys, reads fail with `kUnavailable` naming each server and
  // why it was left (unreachable, lagging, promoted, short of the revision)
  // when neither a fresh standby nor the primary answers; `Apply` on a
  // read-only store fails with `kFailedPrecondition`. `ChangesSince` reads
  // like `Get` (a standby, when fresh); `LatestRevision` and `History` read
  // the primary when there is one.
  absl::StatusOr<v1::ConsentRecord> Get(absl::string_view subject_id) override;
  absl::StatusOr<v1::ConsentRecord> GetAtLeast(absl::string_view subject_id,
                                               Revision min_revision) override;
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

  // Bulk import: creates the records of many subjects not yet in the store,
  // one change each (merged into an empty record as `Apply` would), in one
  // transaction: all or nothing. The import takes a dense range of
  // revisions (in the order of `changes`), COPYs the records and their
  // history rows into the store's tables and sends one notification;
  // `Watch` listeners of this store hear every record, other stores' feeds
  // read them like any change. Writers of the store (any process) wait from
  // the import's taking of revisions to its commit, i.e. for the COPY:
  // import in batches (10,000-100,000 changes) to bound that wait. Thread-
  // safe like every call; the changes are validated before anything is
  // sent. Returns each change's revision, in order (empty for no changes).
  //
  // Errors (nothing written): a change `Apply` would refuse, with the code
  // `Apply` returns (`kInvalidArgument` for an invalid change) and its index
  // ("bulk import, change 7: ..."); an `expected_revision` other than 0:
  // `kAborted`; a subject twice in `changes`: `kInvalidArgument` naming it
  // and both indices; a subject that already has a record (also one
  // written by another writer during the import): `kAlreadyExists` naming
  // up to five of them; a read-only store: `kFailedPrecondition`; the
  // server: as `Apply`.
  //
  //   std::vector<consentry::v1::ConsentChange> batch = ...;  // 1 a subject
  //   absl::StatusOr<std::vector<consentry::Revision>> revs =
  //       store->BulkImport(batch);
  absl::StatusOr<std::vector<Revision>> BulkImport(
      absl::Span<const v1::ConsentChange> changes);

  // "host=... port=... dbname=..." of the server, without credentials.
  const std::string& target() const;

 private:
  struct Impl;
  explicit PostgresConsentStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace consentry

#endif  // CONSENTRY_POSTGRES_STORE_H_
