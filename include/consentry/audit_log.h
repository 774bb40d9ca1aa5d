// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: audit_log.h
// -----------------------------------------------------------------------------
//
// `AuditLog` is the durable, tamper-evident `AuditSink`: every decision a
// `Guard` makes (and every provision or request effect the library performs)
// is appended to segment files in a directory, and can later be verified and
// queried.
//
// The calling thread only enqueues (into its own bounded queue: no lock)
// and returns; a background writer numbers the events and appends them to
// segment files `audit-<16 digits>.seg`, each chained by SHA-256 (or
// HMAC-SHA256 with `hmac_key`), sealed when full (or closed, with
// `seal_on_close`), with an index `audit-<16 digits>.idx` that queries use when
// it matches the seal (its header and block table, then each block a query
// reads). Events of one thread keep their order. The format, the seal and what
// verification proves: docs/design/audit-log-format.md; the write path:
// docs/design/audit-log-writing.md.
//
// What a failure loses:
//   kEveryBatch  (the default) a power failure loses only events not yet
//                acknowledged: after `durable_sequence_end()`. `Flush()`
//                returns once everything enqueued before it is synced.
//   kInterval    a power failure loses up to `sync_interval` of events.
// A process crash loses only what was still queued in memory. A torn tail
// is cut by `RepairAuditLog`.
//
// Tamper evidence: without a key, someone who can rewrite the files can
// recompute the chain; with an HMAC key (kept off the log's host) a rewrite
// cannot be forged. Keys have ids and rotate (audit_keys.h): each segment's
// header names the id of the key that chains it (and of the key that signs
// its checkpoints); a new segment takes the provider's current key, and
// `RotateKeys()` begins one at once. Records removed from the end (whole
// segments, or a cut at a frame boundary) cannot be seen from the files alone:
// with `checkpoint_keys` and `anchor_sink` the log signs a checkpoint (Ed25519,
// signing.h) of its head at every sealed segment, on `Checkpoint()` and on
// `Close()`, and hands it to the sink, which keeps it where the log's
// writer cannot rewrite it. `VerifyAuditLog` given the latest checkpoint
// finds trailing deletion, truncation and a rewritten history; without one
// its report says that trailing deletion cannot be detected.
//
// Old segments: `ApplyAuditRetention` (audit_retention.h) archives or
// deletes sealed segments past a retention period, keeping the checkpoint
// at the cut; verification then starts there, and queries report the
// period they cover (`AuditCoverage`).
//
// Example:
//
//   consentry::AuditLogOptions options;
//   options.directory = "/var/lib/myservice/audit";
//   absl::StatusOr<std::unique_ptr<consentry::AuditLog>> log =
//       consentry::AuditLog::Open(options);
//   if (!log.ok()) return log.status();
//   auto guard = consentry::Guard::Create(policy, &store, log->get());
//   // ... reads are audited ...
//   absl::Status flushed = (*log)->Flush();  // all so far is on disk
//   if (!flushed.ok()) return flushed;
//   absl::StatusOr<consentry::AuditVerifyReport> report =
//       consentry::VerifyAuditLog(options.directory);
//   absl::StatusOr<std::unique_ptr<consentry::AuditLogReader>> reader =
//       consentry::AuditLogReader::Open(options.directory);
//   auto events = (*reader)->ForSubject("s-1");

#ifndef CONSENTRY_AUDIT_LOG_H_
#define CONSENTRY_AUDIT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/audit_keys.h"
#include "consentry/export.h"
#include "consentry/signing.h"

namespace consentry {
namespace internal {
class AuditLogFastPath;
class AuditLogTestPeer;
}  // namespace internal

// When the writer calls fdatasync. See the file comment for what each loses.
enum class AuditSyncPolicy : std::uint8_t {
  kEveryBatch = 0,
  kInterval = 1,
};

// What `Record` does when the queue is full.
enum class AuditOverflowPolicy : std::uint8_t {
  // Wait until the writer frees a slot (counted in `blocked`). The read is
  // slowed, never lost.
  kBlock = 0,
  // Return `kResourceExhausted` at once (counted in `denied_overload`); the
  // Guard denies the read with `Reason::kAuditOverloaded`.
  kDeny = 1,
};

// A signed statement of the log's head: every event with a smaller
// sequence than `sequence_end` is in the log, and the chain's hash at that
// point is `last_hash`. Like a Certificate Transparency signed tree head:
// kept outside the writer's reach, it lets a verifier find records removed
// from the end. A plain value.
struct AuditCheckpoint {
  std::uint64_t sequence_end = 0;
  std::string last_hash;  // 32 raw bytes
  // The segment the point is in, and when the checkpoint was made.
  std::uint64_t segment = 0;
  std::int64_t time_unix_nanos = 0;
  // The signing key's id (signing.h) and the 64-byte Ed25519 signature of
  // `AuditCheckpointSigningBytes`.
  std::string key_id;
  std::string signature;

  friend bool operator==(const AuditCheckpoint&,
                         const AuditCheckpoint&) = default;
};

// The bytes a checkpoint's signature covers: a fixed text naming the format
// and every field but the signature.
CONSENTRY_EXPORT std::string AuditCheckpointSigningBytes(
    const AuditCheckpoint& checkpoint);
// One line of text, without the newline:
// "consentry-audit-checkpoint/1 <sequence_end> <hash hex> <segment>
// <time ns> <key id> <signature hex>".
CONSENTRY_EXPORT std::string SerializeAuditCheckpoint(
    const AuditCheckpoint& checkpoint);
// Reads a line `SerializeAuditCheckpoint` wrote (the signature is not
// checked here). Errors: `kInvalidArgument` naming what is wrong.
CONSENTRY_EXPORT absl::StatusOr<AuditCheckpoint> ParseAuditCheckpoint(
    absl::string_view line);
// Checks the signature under `keys`. Errors: those of `VerifyEd25519`.
CONSENTRY_EXPORT absl::Status VerifyAuditCheckpoint(
    const AuditCheckpoint& checkpoint, PublicKeyLookup& keys);

// Where checkpoints go: somewhere the log's writer cannot rewrite (a file
// on another host or volume, a database table, the operator's own
// system). Implementations must be thread-safe.
class CONSENTRY_EXPORT AuditAnchorSink {
 public:
  virtual ~AuditAnchorSink() = default;
  // Keeps `checkpoint`; returns once it is durable.
  virtual absl::Status Publish(const AuditCheckpoint& checkpoint) = 0;
};

// Appends each checkpoint as one line to a file, synced before `Publish`
// returns. Put the file outside the log's directory, ideally on storage
// the log's host cannot write. Thread-safe.
class CONSENTRY_EXPORT FileAnchorSink final : public AuditAnchorSink {
 public:
  // Creates the file if missing. Errors: `kInvalidArgument` when `path` is
  // empty or names a directory, a symlink or another non-regular file;
  // `kPermissionDenied` / `kInternal` naming the path.
  static absl::StatusOr<std::unique_ptr<FileAnchorSink>> Open(
      const std::string& path);
  ~FileAnchorSink() override;
  FileAnchorSink(const FileAnchorSink&) = delete;
  FileAnchorSink& operator=(const FileAnchorSink&) = delete;

  absl::Status Publish(const AuditCheckpoint& checkpoint) override;

 private:
  FileAnchorSink(std::string path, int fd);
  std::string path_;
  int fd_;
};

// The last checkpoint in an anchor file `FileAnchorSink` wrote. A final
// line without its newline (a crash while appending) is ignored.
// Errors: `kNotFound` for a missing file or one without a checkpoint;
// `kDataLoss` for a line that does not parse (naming the line);
// `kInvalidArgument` for a directory, symlink or non-regular file.
CONSENTRY_EXPORT absl::StatusOr<AuditCheckpoint> ReadLatestCheckpoint(
    const std::string& path);

// Plain options with documented defaults.
struct AuditLogOptions {
  // Directory of the segment files; created if missing. Required.
  std::string directory;
  // Capacity of each recording thread's queue, in events (min 2). A thread's
  // queue is allocated when it first records: `queue_capacity` x 128 bytes,
  // rounded up to a power of two (2 MiB by default), touched as it is used
  // and freed after the thread exits and its events are written. The queue
  // is also full when its bytes are used up (events average above 128
  // bytes); events longer than 2 KiB (or half the queue) go to the heap.
  std::size_t queue_capacity = 1 << 14;
  // A segment is sealed, and the next one begun, once it holds this many
  // bytes (one oversized batch may overshoot by one frame).
  std::uint64_t segment_bytes = 64ull << 20;
  // Most events the writer takes into one batch.
  std::size_t max_batch_events = 1 << 15;
  AuditSyncPolicy sync = AuditSyncPolicy::kEveryBatch;
  // For `kInterval`: the longest time written data stays unsynced.
  absl::Duration sync_interval = absl::Milliseconds(100);
  AuditOverflowPolicy overflow = AuditOverflowPolicy::kBlock;
  // Optional HMAC-SHA256 key for the chain, supplied by the integrator; empty
  // means plain SHA-256. A key without id: segments chained under it name
  // the empty id, and must be continued and verified with the same key.
  std::string hmac_key;
  // Optional HMAC keys with ids (audit_keys.h); not owned, must outlive the
  // log. Each new segment is chained under the provider's current key (the
  // writer thread asks for it when it begins a segment: at `Open`, at each
  // size rotation and on `RotateKeys`), and the last segment of an existing
  // log is continued under the key its header names. Given with `hmac_key`,
  // new segments take the provider's keys and `hmac_key` serves the
  // segments chained under the key without id (a log written before keys
  // had ids). A log begun without a key is not continued with one (nor the
  // other way round): a keyed log's segments are never accepted unkeyed.
  HmacKeyProvider* hmac_keys = nullptr;
  // Checkpoints (see the file comment): the keys that sign them and where
  // they go. Both or neither; not owned, and must outlive the log. The
  // writer thread signs and publishes at each seal; a failure there does
  // not stop the log (events stay durable and chained) but is counted in
  // `checkpoints_failed` and returned by the next `Checkpoint()`.
  SigningKeyProvider* checkpoint_keys = nullptr;
  AuditAnchorSink* anchor_sink = nullptr;
  // One writer per log: `Open` locks the directory (an exclusive `flock`
  // on it) until `Close`. Another writer, in another process or this one,
  // that finds it locked waits up to `lock_wait`, then fails with
  // `kFailedPrecondition`. A short-lived tool sharing a log with a service
  // waits a little; a service that holds the log keeps it until it closes.
  // A child process that inherits the descriptor holds the lock too (the
  // descriptor is close-on-exec).
  absl::Duration lock_wait = absl::ZeroDuration();
  // Whether `Close` seals the segment being written. By default it does
  // not: the segment is synced and left open, and the next `Open` appends
  // to it, so a short-lived writer (a command-line tool recording one
  // event per run) does not leave a segment per run. Segments are sealed
  // (made immutable, indexed) when full (`segment_bytes`). Set it when the
  // files must be final at `Close`, e.g. before shipping the directory.
  bool seal_on_close = false;
};

// Counters of an `AuditLog`. A snapshot; each value is monotonic.
struct AuditLogCounters {
  std::uint64_t enqueued = 0;         // events taken into the queue
  std::uint64_t written = 0;          // events written to a segment file
  std::uint64_t durable = 0;          // events written and synced
  std::uint64_t blocked = 0;          // `Record` calls that had to wait
  std::uint64_t denied_overload = 0;  // `Record` calls refused: queue full
  std::uint64_t segments_sealed = 0;  // segments finished by rotation/close
  std::uint64_t checkpoints_published = 0;  // signed and kept by the sink
  std::uint64_t checkpoints_failed = 0;     // signing or the sink failed
  // A segment begun at a size rotation whose current key (HMAC or signing
  // key id) could not be had from its provider: it took the previous one.
  std::uint64_t key_errors = 0;
};

// The last record of the log, to keep elsewhere as an anchor.
struct AuditLogHead {
  std::uint64_t sequence_end = 0;  // sequence of the next event
  std::string last_hash;           // 32 raw bytes: the chain's last hash
};

// The durable access log. Thread-safe: `Record`, `Append`, `Flush`,
// `counters` and `head` may be called from any thread; `Close` must not run
// concurrently with `Record`/`Append` (destroy or stop the Guard first).
// Owns its background writer thread and its files' descriptors.
class CONSENTRY_EXPORT AuditLog final : public AuditSink,
                                        private internal::CompactAuditPath {
 public:
  // Opens (or creates) the log in `options.directory` and starts the writer.
  // An existing log continues: its last segment is read and verified to
  // find the chain's last hash and the next sequence; events are appended
  // to it when it is unsealed (and has room), else a new segment is begun
  // that links to it.
  // Errors: `kInvalidArgument` for an empty directory or a bad option;
  // `kDataLoss` when the last segment is damaged (a torn final record after
  // a crash included: run `RepairAuditLog` first); `kPermissionDenied` /
  // `kInternal` for file-system failures, naming the path.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(
      AuditLogOptions options);

  // Flushes and closes (see `Close`); errors are dropped: call `Close` to
  // see them.
  ~AuditLog() override;

  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Enqueues `event` (copying it) into the calling thread's queue; no I/O
  // and no lock unless the queue is full or this is the thread's first
  // event. Errors: `kResourceExhausted` when full under
  // `AuditOverflowPolicy::kDeny`; `kUnavailable` after the writer failed
  // (the message names the failure); `kFailedPrecondition` after `Close`.
  absl::Status Record(const AuditEvent& event) override;

  // As `Record`, then waits until the writer has placed the event and
  // returns its sequence in the log; the event is durable once
  // `durable_sequence_end()` exceeds it. Slower than `Record` (a wake-up
  // of the writer per call): for callers that need the acknowledgement.
  // Errors: those of `Record`; `kFailedPrecondition` when the log is closed
  // before the event is placed.
  absl::StatusOr<std::uint64_t> Append(const AuditEvent& event);

  // Returns once every event enqueued before the call is written and synced
  // (whatever the sync policy): the acknowledgement that they survive a
  // crash or power failure. Errors: the writer's failure (`kUnavailable`,
  // `kDataLoss`, ...), or `kFailedPrecondition` after `Close`.
  absl::Status Flush();

  // Every event with a smaller sequence is synced to disk. Monotonic.
  std::uint64_t durable_sequence_end() const;

  // Drains the queue, syncs, checkpoints (with `checkpoint_keys`) and stops
  // the writer; the segment stays open for the next `Open` unless
  // `seal_on_close` (then it is sealed and its index written). Idempotent.
  // Returns the writer's first error, if any. REQUIRES: no concurrent
  // `Record`/`Append`.
  absl::Status Close();

  AuditLogCounters counters() const;

  // The chain's last hash and the next sequence, as written so far.
  AuditLogHead head() const;

  // Flushes, then signs a checkpoint of the head and hands it to the anchor
  // sink; returns it. Errors: `kFailedPrecondition` when the log has no
  // checkpoint keys, or after `Close`; those of `Flush`, of the key
  // provider and of the sink; a failure of a checkpoint the writer made at
  // a seal since the last call (`kUnavailable`, naming it).
  absl::StatusOr<AuditCheckpoint> Checkpoint();

  // Seals the open segment and begins the next, chained under the HMAC key
  // provider's current key and naming the checkpoint keys' current id (see
  // `AuditLogOptions::hmac_keys`); returns once the new segment is open.
  // Call it after making a new key current. The new segment's header links
  // to the sealed one's last hash, so the chain verifies across the
  // rotation (docs/design/audit-log-format.md, "Keys and rotation").
  // Errors: the provider's (nothing is sealed then; the log goes on under
  // its current key); the writer's failure; `kFailedPrecondition` after
  // `Close`.
  absl::Status RotateKeys();

  // Internal: read decisions in compact form (see `AuditSink`).
  internal::CompactAuditPath* compact_path() override { return this; }

 private:
  std::uint32_t AttachPolicy(
      std::shared_ptr<const CompiledPolicy> policy) override;
  absl::Status RecordCompact(const internal::CompactDecision& d) override;

  friend class internal::AuditLogFastPath;
  friend class internal::AuditLogTestPeer;
  struct Impl;
  explicit AuditLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

namespace internal {
// Internal, for the Guard's warm path: the names of a plain check's
// decision (no record reference, not shadow) in one word, for
// `TryRecordCheck`.
inline std::uint64_t CompactCheckNames(std::uint32_t policy_slot,
                                       AccessorIndex accessor,
                                       PurposeIndex purpose,
                                       CategoryIndex category, Reason reason) {
  return std::uint64_t{accessor} | std::uint64_t{purpose} << 16 |
         std::uint64_t{category} << 24 |
         std::uint64_t{static_cast<std::uint8_t>(reason)} << 32 |
         std::uint64_t{policy_slot} << 40;
}

// Internal, for the Guard's warm path: `log`'s compact record of a plain
// check's decision (`names` from `CompactCheckNames`) in the common case
// (a revision below 2^32, one of the first 32 policies, room in the
// calling thread's queue, the log open and healthy), without a status and
// with its arguments in registers. Returns false, having recorded
// nothing, otherwise; the caller then records the decision through
// `AuditSink::compact_path`.
CONSENTRY_EXPORT bool TryRecordCheck(AuditLog& log,
                                     std::int64_t time_unix_nanos,
                                     Revision revision, std::uint64_t names,
                                     absl::string_view subject);
}  // namespace internal

// What verification found wrong.
enum class AuditDefect : std::uint8_t {
  kNone = 0,
  // A record's content changed (its CRC recomputed); the chain breaks there.
  kEdited,
  // One or more records are missing: the sequence jumps forward.
  kDeleted,
  // A record that was not written by the log sits in the chain.
  kInserted,
  // Records are out of order.
  kReordered,
  // A frame is cut short inside a segment that is not the last one.
  kTruncated,
  // The final frame of the last segment is incomplete: what a crash during
  // a write leaves. `RepairAuditLog` trims it.
  kTornTail,
  // A segment is missing, or its header does not link to the previous
  // segment's last hash or sequence.
  kBrokenSegmentLink,
  // A frame's or header's CRC-32C does not match its bytes.
  kCrcMismatch,
  // A frame's CRC matches but its payload is not an `AuditEvent`, or a
  // header is not a segment header.
  kMalformed,
  // A segment's `.idx` file is not the index its seal record names (edited,
  // swapped, truncated, a symbolic link or another non-regular file), or an
  // index exists for a segment that is not sealed. `segment_file` names the
  // index file. Queries do not use such an index; they scan the segment.
  kIndexMismatch,
  // A file in the log's directory that is neither a segment, an index of
  // one, nor the temporary of an interrupted index write (e.g.
  // "audit-+000000000000001.seg"). `segment_file` names it; it is never read.
  kUnexpectedFile,

  // The log does not reach the checkpoint given to `VerifyAuditLog`: it
  // ends before the checkpoint's sequence (records or segments removed
  // from the end, a cut at a frame boundary).
  kTrailingDeletion,
  // The log reaches the checkpoint's sequence but its chain there is not
  // the one signed: the history was rewritten.
  kAnchorMismatch,
  // The log's retention record (audit_retention.h) does not parse, or its
  // signature does not verify, or it is unsigned where keys were given
  // (an unsigned record could replace a signed one). `segment_file` names
  // the record. Nothing is verified from it.
  kBadRetentionRecord,
};

// Stable snake_case name, e.g. "torn_tail".
CONSENTRY_EXPORT absl::string_view AuditDefectName(AuditDefect d);

// Which part of the log's history a directory still holds, after
// `ApplyAuditRetention` (audit_retention.h) archived or deleted its oldest
// segments. A plain value; `retained == false` means nothing was removed.
struct AuditCoverage {
  bool retained = false;
  // Every event at or after this time is still in the log; events before
  // it may have been removed under the retention policy. `InfinitePast()`
  // when nothing was removed (or only segments without events).
  absl::Time complete_from = absl::InfinitePast();
  // What was removed: segments [first, last], sequences [first, end), and
  // the time range of the removed events (both InfinitePast when none).
  std::uint64_t removed_first_segment = 0;
  std::uint64_t removed_last_segment = 0;
  std::uint64_t removed_first_sequence = 0;
  std::uint64_t removed_sequence_end = 0;
  absl::Time removed_min_time = absl::InfinitePast();
  absl::Time removed_max_time = absl::InfinitePast();

  // "complete" or, e.g., "events before 2024-12-05T10:00:00Z were removed
  // under the retention policy (sequences 0-81919, segments 0-9)".
  std::string ToString() const;
};

// The result of `VerifyAuditLog`. `defect == kNone` means every record of
// every segment verified.
struct AuditVerifyReport {
  AuditDefect defect = AuditDefect::kNone;
  std::uint64_t segments = 0;  // segments examined
  std::uint64_t records_verified =
      0;  // records that verified before the defect
  std::uint64_t indexes_verified = 0;  // `.idx` files matching their seal
  // Where the first defect is: the segment file (path), the record's index
  // within the segment (0-based), and its byte offset in the file.
  std::string segment_file;
  std::uint64_t record_index = 0;
  std::uint64_t byte_offset = 0;
  std::string detail;  // what is wrong, in words
  // A checkpoint was given and the log holds its point: nothing signed in
  // it was removed from the end or rewritten. False without a checkpoint:
  // then records removed from the end cannot be detected.
  bool anchored = false;
  // Where the verified chain ends: the next sequence and the hash of the
  // last record verified (32 bytes; all zero for an empty log), and the
  // last segment's number. Meaningful when `ok()`.
  std::uint64_t sequence_end = 0;
  std::string last_hash;
  std::uint64_t last_segment = 0;
  // Where verification started: segment 0 at sequence 0 with the zero
  // hash, or, for a log with a retention record, the segment after the
  // record's cut, chained from the record's checkpoint.
  std::uint64_t verified_from_segment = 0;
  std::uint64_t verified_from_sequence = 0;
  // What retention removed (see `AuditCoverage`), whether the retention
  // record's signatures verified (false for an unsigned record, or without
  // `retention_keys`: then a rewrite of the record together with the
  // removal of more segments cannot be detected), and segments at or
  // before the cut still in the directory
  // (an interrupted retention run left them; never read, never a defect).
  AuditCoverage coverage;
  bool retention_signed = false;
  std::uint64_t retention_leftovers = 0;

  bool ok() const { return defect == AuditDefect::kNone; }
  std::string ToString() const;
};

// Walks every segment of the log in `directory`, in order (from segment 0,
// or from the checkpoint of its retention record when `ApplyAuditRetention`
// removed older segments: the first segment after the cut must chain from
// it, and a missing one is `kBrokenSegmentLink`), checking every
// header, frame CRC, sequence and chain hash, and each sealed segment's seal
// record; recomputes every sealed segment's index and compares it with the
// seal and with the `.idx` file, if there is one (a missing index is not a
// defect: queries scan that segment); and reports any other file in the
// directory. Returns the first defect.
// A tampered log is an OK result with a defect; errors are only for what
// prevents looking: `kNotFound` (no such directory), `kInternal` (I/O).
CONSENTRY_EXPORT absl::StatusOr<AuditVerifyReport> VerifyAuditLog(
    absl::string_view directory, absl::string_view hmac_key = {});

struct AuditRetentionRecord;

struct AuditVerifyOptions {
  // The key without id (`AuditLogOptions::hmac_key`), and the keys by id
  // (not owned): each segment is verified under the key its header names.
  // A segment naming an id the lookup does not know makes verification
  // fail with the lookup's error (`kNotFound`), naming the segment and id.
  std::string hmac_key;
  HmacKeyLookup* hmac_keys = nullptr;
  // The latest checkpoint kept for the log, and the keys to check its
  // signature; both or neither.
  const AuditCheckpoint* anchor = nullptr;
  PublicKeyLookup* anchor_keys = nullptr;
  // The keys that check the log's retention record (audit_retention.h).
  // Given, a record whose signatures fail, or an unsigned one (which could
  // have replaced a signed one), is `kBadRetentionRecord`. Without them the
  // record is used unchecked and the report says so
  // (`retention_signed == false`), as it says without an anchor that
  // records removed from the end cannot be detected.
  PublicKeyLookup* retention_keys = nullptr;
  // To verify an archive (`ApplyAuditRetention`'s archive directory) as the
  // prefix of a log: that log's retention record. The walk must end
  // exactly at the record's cut (`kTrailingDeletion` when it ends before,
  // `kAnchorMismatch` when its chain there differs). A signed record is
  // checked with `retention_keys` first.
  const AuditRetentionRecord* prefix_of = nullptr;
};

// `VerifyAuditLog`, also checking the log against `options.anchor`: the
// log must hold the checkpoint's point (`kTrailingDeletion` when it ends
// before it, `kAnchorMismatch` when its chain there differs, or when the
// point is before the log's retention cut: check that one on the archive).
// Errors: as above; `kInvalidArgument` for an anchor without keys (or
// keys without an anchor); the errors of `VerifyAuditCheckpoint` for an
// anchor whose signature does not verify (a forged or damaged anchor is
// never used).
CONSENTRY_EXPORT absl::StatusOr<AuditVerifyReport> VerifyAuditLog(
    absl::string_view directory, const AuditVerifyOptions& options);

// Verifies the log in `directory` (as `VerifyAuditLog`) and signs a
// checkpoint of the head it verified, without writing to the log: for an
// operator's job that checkpoints a log it does not write (or a shipped
// copy of one). The caller keeps the result (e.g. `FileAnchorSink`).
// Errors: `kFailedPrecondition` when the log has a defect (naming it);
// those of `VerifyAuditLog` and of the key provider.
CONSENTRY_EXPORT absl::StatusOr<AuditCheckpoint> CheckpointAuditLog(
    absl::string_view directory, absl::string_view hmac_key,
    SigningKeyProvider& keys);
// As above, with the HMAC keys of `options` (its anchor is checked too).
CONSENTRY_EXPORT absl::StatusOr<AuditCheckpoint> CheckpointAuditLog(
    absl::string_view directory, const AuditVerifyOptions& options,
    SigningKeyProvider& keys);

// Trims a torn final record (the only defect a crash causes) so that the log
// verifies again; the trimmed bytes were never acknowledged. Returns the
// report after repair. Errors: `kFailedPrecondition` when the log has any
// other defect (naming it and where: tampering is never "repaired"), and
// when the log has a writer (an open `AuditLog` holds its lock: its last
// record may be half written, not torn); the errors of `VerifyAuditLog`.
CONSENTRY_EXPORT absl::StatusOr<AuditVerifyReport> RepairAuditLog(
    absl::string_view directory, absl::string_view hmac_key = {});
// As above, with the HMAC keys of `options` (its anchor is checked too).
CONSENTRY_EXPORT absl::StatusOr<AuditVerifyReport> RepairAuditLog(
    absl::string_view directory, const AuditVerifyOptions& options);

// Reads events back, using each sealed segment's index so that a query for
// one subject or accessor reads only the matching frames, and one for a
// time range only the segments that overlap it. An index is used only when
// its SHA-256 matches the digest in its segment's seal record (and its
// segment number and size match); segments without such an index (the
// active one, one cut by a crash, one whose index was edited or swapped)
// are scanned. Frames are CRC-checked; integrity of the chain, and so of
// the seal records, is `VerifyAuditLog`'s job. Each query also reports
// which period the log still covers (`last_coverage`).
// Errors of every query: `kDataLoss` for a retention record that does not
// parse (naming it).
// Thread-compatible. Owns nothing but its directory name; may run while an
// `AuditLog` writes the same directory (it sees a prefix).
class CONSENTRY_EXPORT AuditLogReader {
 public:
  // Errors: `kNotFound` when `directory` does not exist.
  static absl::StatusOr<std::unique_ptr<AuditLogReader>> Open(
      absl::string_view directory);

  // Events for `subject` (a disclosure request), in log order, optionally
  // limited to [from, to). Errors: `kDataLoss` for a frame that fails its
  // CRC (naming file and offset); `kInternal` for I/O.
  absl::StatusOr<std::vector<OwnedAuditEvent>> ForSubject(
      absl::string_view subject, absl::Time from = absl::InfinitePast(),
      absl::Time to = absl::InfiniteFuture());
  // Events by `accessor`, as `ForSubject`.
  absl::StatusOr<std::vector<OwnedAuditEvent>> ForAccessor(
      absl::string_view accessor, absl::Time from = absl::InfinitePast(),
      absl::Time to = absl::InfiniteFuture());
  // Events with time in [from, to), as `ForSubject`.
  absl::StatusOr<std::vector<OwnedAuditEvent>> InTimeRange(absl::Time from,
                                                           absl::Time to);

  // What the last query read, for tests and tuning.
  struct Stats {
    std::uint64_t segments_scanned = 0;  // read in full
    std::uint64_t segments_indexed = 0;  // answered from the index
    std::uint64_t segments_skipped = 0;  // excluded by the index
    // Present but not trusted: not matching its seal, or (blocked index) a
    // block read for the query not matching its SHA-256 in the block table.
    std::uint64_t indexes_rejected = 0;
    std::uint64_t frames_read = 0;
    // Index blocks read for a subject or accessor query, and those of them
    // that failed their SHA-256 (their segment was then scanned in full).
    std::uint64_t index_blocks_read = 0;
    std::uint64_t index_blocks_rejected = 0;
    // Bytes of index files read (headers, block tables, blocks; a version 1
    // index is read whole).
    std::uint64_t index_bytes_read = 0;
  };
  const Stats& last_stats() const { return stats_; }
  // Which period the last query covered: the log's retention record, read
  // after the query (so that a segment removed while it ran is counted as
  // removed). Segments at or before the record's cut are never read.
  const AuditCoverage& last_coverage() const { return coverage_; }

 private:
  explicit AuditLogReader(std::string directory)
      : directory_(std::move(directory)) {}
  enum class KeyKind : std::uint8_t;
  absl::StatusOr<std::vector<OwnedAuditEvent>> Query(KeyKind kind,
                                                     absl::string_view key,
                                                     absl::Time from,
                                                     absl::Time to);

  std::string directory_;
  Stats stats_;
  AuditCoverage coverage_;
};

}  // namespace consentry

#endif  // CONSENTRY_AUDIT_LOG_H_
