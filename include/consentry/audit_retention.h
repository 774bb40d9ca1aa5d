// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: audit_retention.h
// -----------------------------------------------------------------------------
//
// Retention of the durable access log (audit_log.h). A log is kept for
// years; `ApplyAuditRetention` moves its oldest SEALED segments, those whose
// every event is older than the retention period, to an archive directory
// (same file names, each copy synced before anything is removed) or deletes
// them, and keeps in the log directory a retention record
// (`audit-retention.rec`): the checkpoint of the chain at the cut (the
// sequence and hash after the last removed segment, the time, and, with
// `checkpoint_keys`, the key id and an Ed25519 signature), plus what was
// removed. `VerifyAuditLog` then starts from that checkpoint, queries
// report which period they cover (`AuditCoverage`), and the archive
// verifies on its own as the prefix of the log (`AuditVerifyOptions::
// prefix_of`).
//
// Crash safety: the copies are made durable first, then the record is
// replaced atomically, then the segments are removed (each index first). A
// crash at any point leaves every segment either in the log or complete in
// the archive, and a log that verifies: segments at or before the cut that
// a crash left behind are never read and are removed by the next run.
//
// Concurrency: sealed segments never change, so retention runs while an
// `AuditLog` writes the directory; it never touches the last segment. Two
// retention runs on one log exclude each other (`audit-retention.lock`).
//
// What an unsigned record does not defend: without `checkpoint_keys`,
// someone who can write the log directory can remove more segments and
// write a record that matches the first one left; verification cannot tell.
// With keys (kept off the host, like the anchor's), such a record does not
// verify. Keep checkpoints in an anchor (audit_log.h) as well.
//
// Example:
//
//   consentry::AuditRetentionOptions retain;
//   retain.max_age = absl::Hours(24 * 365 * 3);
//   retain.archive_directory = "/mnt/archive/audit";
//   absl::StatusOr<consentry::AuditRetentionResult> done =
//       consentry::ApplyAuditRetention("/var/lib/myservice/audit", retain);
//   if (!done.ok()) return done.status();
//   std::cout << done->ToString() << "\n";

#ifndef CONSENTRY_AUDIT_RETENTION_H_
#define CONSENTRY_AUDIT_RETENTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "consentry/audit_log.h"
#include "consentry/export.h"
#include "consentry/signing.h"

namespace consentry {

// The retention record of a log: where it was cut and what was removed
// (over every retention run so far). A plain value.
struct AuditRetentionRecord {
  // The checkpoint after the last removed segment: `cut.segment` is that
  // segment, `cut.sequence_end` the first sequence kept, `cut.last_hash`
  // the chain's hash there; `key_id` and `signature` empty when unsigned.
  AuditCheckpoint cut;
  std::uint64_t removed_first_segment = 0;
  std::uint64_t removed_first_sequence = 0;
  // Time range of the removed events (unix ns); `has_removed_events` false
  // when the removed segments held none.
  bool has_removed_events = false;
  std::int64_t removed_min_time_unix_nanos = 0;
  std::int64_t removed_max_time_unix_nanos = 0;
  // The latest cutoff applied: every removed event is before it.
  std::int64_t cutoff_unix_nanos = 0;
  // Ed25519 signature of `AuditRetentionSigningBytes` by `cut.key_id`;
  // empty when unsigned.
  std::string signature;

  bool is_signed() const { return !cut.key_id.empty(); }
  // The coverage this record gives a log.
  AuditCoverage Coverage() const;

  friend bool operator==(const AuditRetentionRecord&,
                         const AuditRetentionRecord&) = default;
};

// The record's file name in the log directory.
inline constexpr absl::string_view kAuditRetentionRecordName =
    "audit-retention.rec";

// The bytes the record's signature covers (every field but it).
CONSENTRY_EXPORT std::string AuditRetentionSigningBytes(
    const AuditRetentionRecord& record);
// The record as text (one "name value" line a field) and back. Parsing is
// strict: the exact text `SerializeAuditRetentionRecord` writes.
// Errors: `kInvalidArgument` naming the field.
CONSENTRY_EXPORT std::string SerializeAuditRetentionRecord(
    const AuditRetentionRecord& record);
CONSENTRY_EXPORT absl::StatusOr<AuditRetentionRecord> ParseAuditRetentionRecord(
    absl::string_view text);
// Checks both signatures (the cut's checkpoint and the record) under
// `keys`. Errors: `kInvalidArgument` for an unsigned record; those of
// `VerifyEd25519`.
CONSENTRY_EXPORT absl::Status VerifyAuditRetentionRecord(
    const AuditRetentionRecord& record, PublicKeyLookup& keys);
// The record of the log in `directory`. Errors: `kNotFound` when the log
// has none; `kDataLoss` when it does not parse (naming the file);
// `kInvalidArgument` for a symlink or non-regular file.
CONSENTRY_EXPORT absl::StatusOr<AuditRetentionRecord> ReadAuditRetentionRecord(
    absl::string_view directory);

struct AuditRetentionOptions {
  // Segments whose every event is older than `now - max_age` go. Must be
  // >= 0 (`kInvalidArgument`); the default removes nothing.
  absl::Duration max_age = absl::InfiniteDuration();
  // The clock; `InfinitePast()` means `absl::Now()`.
  absl::Time now = absl::InfinitePast();
  // Where removed segments (and their indexes) are moved: an existing
  // directory, not a symlink, not the log's own. Empty: they are deleted,
  // which must be asked for with `delete_segments` (a forgotten archive
  // directory never destroys evidence).
  std::string archive_directory;
  bool delete_segments = false;
  // Only report what would be removed; change nothing.
  bool dry_run = false;
  // The log's chain keys (the segments are verified before they go), as
  // `AuditVerifyOptions` takes them: the key without id, and the keys with
  // ids (not owned; null: none).
  std::string hmac_key;
  HmacKeyLookup* hmac_keys = nullptr;
  // Signs the record (and its checkpoint). Not owned. Null: unsigned (see
  // the file comment for what that does not defend).
  SigningKeyProvider* checkpoint_keys = nullptr;
  // How long to wait for another retention run on the same log.
  absl::Duration lock_wait = absl::ZeroDuration();
};

// What `ApplyAuditRetention` did (or, dry run, would do).
struct AuditRetentionResult {
  struct Segment {
    std::uint64_t number = 0;
    std::uint64_t first_sequence = 0;
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;  // segment and index files
    std::int64_t min_time_unix_nanos = 0;
    std::int64_t max_time_unix_nanos = 0;
  };
  std::vector<Segment> removed;  // in order; empty when nothing was due
  std::uint64_t bytes = 0;       // sum of `removed[i].bytes`
  bool archived = false;         // moved (true) or deleted
  bool dry_run = false;
  absl::Time cutoff;
  // The record now in the log (the previous one when nothing was removed;
  // `has_record` false when the log has none).
  bool has_record = false;
  AuditRetentionRecord record;
  // Leftovers of an interrupted run that this run removed.
  std::uint64_t leftovers_removed = 0;

  std::string ToString() const;
};

// Applies the retention policy to the log in `directory` (see the file
// comment). Verifies the segments it removes (from segment 0, or from the
// existing record) and refuses a log with a defect there. Never removes the
// last segment, an unsealed one, or one with an event at or after the
// cutoff; removes a prefix of the log.
// Errors: `kInvalidArgument` for a negative `max_age`, no archive directory
// without `delete_segments` (or both), or an archive path that is not a
// directory, is a symlink, or is the log directory; `kNotFound` for a
// missing log or archive directory; `kPermissionDenied` for an archive
// directory that cannot be written; `kFailedPrecondition` for a log with a
// defect before the cut (naming it), another retention run holding the
// log, or an archive file of the same name with other content, and for a
// log whose retention record is signed while `checkpoint_keys`
// is null (the signed cut is never replaced by an unsigned one), or does
// not verify under `checkpoint_keys` (unsigned included: a run with keys
// never signs over an unsigned cut that may have replaced a signed one);
// `kDataLoss` for a retention record that does not parse.
CONSENTRY_EXPORT absl::StatusOr<AuditRetentionResult> ApplyAuditRetention(
    absl::string_view directory, const AuditRetentionOptions& options);

}  // namespace consentry

#endif  // CONSENTRY_AUDIT_RETENTION_H_
