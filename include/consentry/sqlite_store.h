// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: sqlite_store.h
// -----------------------------------------------------------------------------
//
// The embedded default consent store: one SQLite file in WAL mode. A write
// that returned is durable (`synchronous=FULL`); several processes may open
// the same file and write (each waits up to `busy_timeout` for the others).
//
// The file holds
//   * `consent_records`: each subject's current record as `consentry.v1`
//     protobuf bytes, with `subject_id` and `revision` as indexed columns;
//   * `consent_history`: one row per change, never overwritten, with the
//     change and the state it produced; its key is the store-wide revision;
//   * `consentry_schema`: the schema version. Opening an older file
//     migrates it; a file written by a newer library is refused.
//
// `Watch` listeners hear this process's writes right after commit, and a
// poller thread picks up other processes' writes by revision every
// `poll_interval`, so a change made anywhere reaches every Guard.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<consentry::SqliteConsentStore>> store =
//       consentry::SqliteConsentStore::Open("/var/lib/app/consent.db");
//   if (!store.ok()) return store.status();
//   auto guard = consentry::Guard::Create(policy, store->get(), &audit);

#ifndef CONSENTRY_SQLITE_STORE_H_
#define CONSENTRY_SQLITE_STORE_H_

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

struct SqliteStoreOptions {
  // How long a write waits for another process's write to finish before
  // failing with `kUnavailable`.
  absl::Duration busy_timeout = absl::Seconds(10);
  // How often the feed poller looks for other processes' writes. Bounds
  // the cross-process delay of the change feed.
  absl::Duration poll_interval = absl::Milliseconds(20);
  // Create the file when it does not exist. When false, a missing file is
  // `kNotFound`.
  bool create_if_missing = true;
  // The name of the registered SQLite VFS to open the file with
  // (`sqlite3_vfs_register`); empty for SQLite's default. For a
  // platform-specific VFS, or a test VFS that simulates power loss
  // (tests/testing/crash_vfs.h). An unknown name fails `Open` with
  // `kUnavailable`.
  std::string vfs;
};

// A `ConsentStore` in one SQLite file. Thread-safe; the store owns its
// connection and its poller thread, and stops the poller on destruction.
class CONSENTRY_EXPORT SqliteConsentStore final : public ConsentStore {
 public:
  // The schema version this library writes.
  static constexpr int kSchemaVersion = 1;

  // Opens (or creates) the store at `path` and migrates its schema.
  //
  // Errors: `kNotFound` when the file is missing and `create_if_missing`
  // is false; `kFailedPrecondition` when the file is not a database or has
  // a newer schema version (both name the file); `kDataLoss` when SQLite
  // reports the file corrupt; `kUnavailable` when it cannot be opened or
  // stays locked.
  static absl::StatusOr<std::unique_ptr<SqliteConsentStore>> Open(
      const std::string& path, SqliteStoreOptions options = {});

  SqliteConsentStore(const SqliteConsentStore&) = delete;
  SqliteConsentStore& operator=(const SqliteConsentStore&) = delete;
  ~SqliteConsentStore() override;

  // ConsentStore. Besides the interface's codes, reads return `kDataLoss`
  // naming the subject and file when a stored row does not parse.
  absl::StatusOr<v1::ConsentRecord> Get(absl::string_view subject_id) override;
  absl::StatusOr<Revision> Apply(const v1::ConsentChange& change) override;
  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSince(
      Revision after, int limit) override;
  absl::StatusOr<Revision> LatestRevision() override;
  std::unique_ptr<Subscription> Watch(ConsentListener listener) override;
  absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> History(
      absl::string_view subject_id) override;
  // The time of the poller's last successful look at the file;
  // `absl::InfiniteFuture()` while nobody watches.
  absl::Time FeedHeartbeat() override;

  // Applies `changes` in one transaction (one sync to disk), for bulk
  // loads. All or nothing: the first invalid or conflicting change fails
  // the whole batch with the code `Apply` would return. Returns each
  // change's revision, in order.
  absl::StatusOr<std::vector<Revision>> ApplyBatch(
      absl::Span<const v1::ConsentChange> changes);

  // The file this store was opened on.
  const std::string& path() const;

 private:
  struct Impl;
  explicit SqliteConsentStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace consentry

#endif  // CONSENTRY_SQLITE_STORE_H_
