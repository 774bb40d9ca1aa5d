// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// One segment file of the audit log, as its writer sees it: open (header
// first, then the directory entry, both synced), frame records into a
// pending batch (chain hash, CRC, index entry), append the batch, sync,
// seal (seal record, then the index file) and rotate to the next segment.
// Also what `AuditLog::Open` does to the last segment a previous writer
// left: scan it, and seal it when a crash left it unsealed.
// The layout is audit_log.h's; the encoding helpers are audit_format.h's.
// Internal; never installed.
//
// Thread-compatible: one thread (the log's writer) calls everything, except
// that the batches `TakePending` gives may be appended to `file()`, and
// `file()` synced, on another thread while this one frames the next batch.

#ifndef CONSENTRY_SRC_AUDIT_AUDIT_SEGMENT_WRITER_H_
#define CONSENTRY_SRC_AUDIT_AUDIT_SEGMENT_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/audit/audit_byte_buffer.h"
#include "src/audit/audit_format.h"
#include "src/util/file_io.h"

namespace consentry::internal {

// What a segment's frames say, walked from its header: used by
// `AuditLog::Open` to continue a log and to rebuild a missing index.
struct SegmentScan {
  Hash256 last_hash{};
  std::uint64_t next_sequence = 0;
  SegmentIndex index;
  std::uint64_t size = 0;  // bytes in the file
  bool sealed = false;     // it ends in a seal record
  // The version of that seal: the index it names is
  // `index.EncodeForSeal(seal_version)`.
  std::uint32_t seal_version = kSealVersionIndexRoot;
  // The chain of the segment, under the key its header names, and the ids
  // its header names (version 2: none).
  std::unique_ptr<ChainHasher> hasher;
  std::string hmac_key_id;
  std::string signing_key_id;
};

// Scans segment `number` at `path`, which must verify to its end (a torn
// or damaged record is kDataLoss naming the offset and RepairAuditLog),
// under the key its header names among `keys`; the errors of
// `SegmentHasher` (a segment written with or without a key unlike `keys`,
// an unknown key id).
absl::StatusOr<SegmentScan> ScanSegment(const std::string& path,
                                        std::uint64_t number,
                                        const ChainKeys& keys);

// The keys a new segment is begun with: the HMAC key that chains it (its
// id, empty for `AuditLogOptions::hmac_key`, and its bytes; no bytes: an
// unkeyed chain) and the id of the checkpoint signing key (may be empty).
struct SegmentKeys {
  std::string hmac_key_id;
  std::string hmac_key;
  std::string signing_key_id;
};

// The file operations that end a segment and begin the next, prepared by
// the writer (`SegmentWriter::PrepareTransition`) for a thread that does
// the log's file I/O in order (`CarryOutTransition`): the seal frame is
// appended and synced, the file closed, the index written atomically;
// then, when `open_next`, the next segment is created with its header,
// synced, and its name synced. These are the operations, in the order,
// of `Seal` and `Open`.
struct SegmentTransition {
  std::uint64_t sealed_number = 0;
  Hash256 seal_hash{};  // the chain hash of the seal record
  std::string seal_frame;
  std::string index_path;
  ByteBuffer index_bytes;  // given back to the writer (`RecycleIndexBuffer`)
  bool open_next = false;
  std::string next_path;
  std::string next_header;
};

// Carries out `t` on `*file`, the open file of segment `t.sealed_number`:
// closes it, and sets `*file` to the next segment's file (null when
// `!t.open_next`, or on error).
absl::Status CarryOutTransition(FileSystem& fs, const std::string& directory,
                                const SegmentTransition& t,
                                std::unique_ptr<WritableFile>* file);

class SegmentWriter {
 public:
  // Segments go to `directory` through `fs`; each is rotated before it
  // would exceed `segment_bytes`. `fs` must outlive this.
  SegmentWriter(FileSystem& fs, std::string directory,
                std::uint64_t segment_bytes)
      : fs_(fs),
        directory_(std::move(directory)),
        segment_bytes_(segment_bytes) {}
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Seals the segment `scan` describes (at `path`), which a crash left
  // unsealed: appends its seal record (chained by `scan.hasher`), then
  // writes its index.
  absl::Status SealScanned(const std::string& path, SegmentScan& scan);

  // Continues segment `scan.index.segment_number` at `path`, which `scan`
  // found unsealed and intact: appends go after its last frame, the chain
  // continues from its last hash under the key its header names
  // (`scan.hasher`), and its index goes on from the scanned entries. Syncs
  // the file first, so that what a killed writer left in the page cache is
  // durable before any new event is acknowledged.
  // REQUIRES: no segment open.
  absl::Status Continue(const std::string& path, SegmentScan scan);

  // Creates segment `number`, whose first record will be `first_sequence`,
  // whose header chains from `last_hash()` and names the ids of `keys`, and
  // whose records are chained under `keys.hmac_key` (`SegmentChainKey`).
  // The header is synced, then the directory. REQUIRES: no segment open;
  // ids valid (`IsValidHmacKeyId`, or empty).
  absl::Status Open(std::uint64_t number, std::uint64_t first_sequence,
                    const SegmentKeys& keys);

  // Whether a record with a payload of `payload_size` bytes would not fit
  // the open segment (with what is pending and its seal) while the segment
  // already holds records: then rotate first.
  bool NeedsRotation(std::size_t payload_size) const {
    return size_ + pending_.size() + FramedSizeBound(payload_size) +
                   kSealFrameSize >
               segment_bytes_ &&
           index_.records > 0;
  }

  // Frames the event `payload` with `sequence` into the pending batch:
  // chains it, indexes it. kInternal when libcrypto fails.
  absl::Status Frame(absl::string_view payload, std::uint64_t sequence);
  // The same for a payload whose index keys (time, accessor, subject) the
  // caller already has: `keys` must be what `ScanLeadingEventKeys(payload)`
  // gives (`AuditLogBytesTest.CompactReadRecordsGiveTheFormatsBytes`
  // checks the files over random compact records).
  absl::Status Frame(absl::string_view payload, std::uint64_t sequence,
                     const EventKeys& keys);

  // Appends the pending batch to the segment file (not synced).
  absl::Status WritePending();

  // The pending batch, to be appended to `file()` by another thread (the
  // log's syncer): swaps it into `*batch` (whose previous contents become
  // the new, empty, pending buffer, keeping its capacity) and counts its
  // bytes in the segment as if appended. The caller appends `*batch`, in
  // the order taken, before the segment is synced, sealed or abandoned.
  void TakePending(ByteBuffer* batch);

  // Syncs the segment file.
  absl::Status Sync();

  // Ends the open segment: its seal record (counting its records up to
  // `next_sequence`) is appended and synced, the file closed, then its
  // index written atomically. REQUIRES: nothing pending, the records synced.
  absl::Status Seal(std::uint64_t next_sequence);

  // Closes the open segment, if any, without sealing it.
  void Abandon();

  // Hands the open segment's file to the caller, whose thread then does
  // the segment's file I/O: appends the batches `TakePending` gives, syncs,
  // and carries out the transitions `PrepareTransition` gives, in order.
  // The segment stays open here (for framing). REQUIRES: a segment open.
  std::unique_ptr<WritableFile> ReleaseFile() { return std::move(file_); }

  // What `Seal` (counting records up to `next_sequence`) and then, when
  // `next_keys` is given, `Open` of the next segment do, without the file
  // I/O: the chain and the index move on at once (framing goes on into the
  // next segment) and the returned transition carries the I/O out.
  // REQUIRES: nothing pending; the file released (`ReleaseFile`).
  absl::StatusOr<SegmentTransition> PrepareTransition(
      std::uint64_t next_sequence, const SegmentKeys* next_keys);

  // Gives back the memory of a transition's `index_bytes` once it is
  // written, for the next seal's index: a segment's index is megabytes,
  // and a fresh buffer per seal cost its page faults each time.
  void RecycleIndexBuffer(ByteBuffer buffer) {
    if (buffer.capacity() > spare_index_.capacity()) {
      spare_index_ = std::move(buffer);
    }
  }

  bool is_open() const { return open_; }
  // Whether frames wait to be appended (`WritePending`, `TakePending`).
  bool has_pending() const { return !pending_.empty(); }
  std::uint64_t number() const { return number_; }
  // The hash of the last record framed (or of the segment before).
  const Hash256& last_hash() const { return last_hash_; }
  void set_last_hash(const Hash256& h) { last_hash_ = h; }

 private:
  // The least capacity a pending batch is given when taken (`TakePending`).
  static constexpr std::size_t kMinBatchCapacity = std::size_t{1} << 18;
  static std::size_t FramedSizeBound(std::size_t payload_size) {
    return kFrameOverhead + payload_size + kMaxSequenceFieldSize;
  }
  std::string PathOf(const std::string& name) const;
  // `Frame`, indexed by `*keys`, or by the keys scanned from the framed
  // bytes when null.
  absl::Status FrameWithKeys(absl::string_view payload, std::uint64_t sequence,
                             const EventKeys* keys);
  // The CPU part of `Open`: the header of segment `number` (chained from
  // `last_hash_`, naming the ids of `keys`) into `*header`, its chain, and
  // the writer's state reset to it.
  absl::Status BeginSegment(std::uint64_t number, std::uint64_t first_sequence,
                            const SegmentKeys& keys, std::string* header);

  FileSystem& fs_;
  const std::string directory_;
  const std::uint64_t segment_bytes_;
  std::unique_ptr<ChainHasher> hasher_;  // the open segment's chain

  std::unique_ptr<WritableFile> file_;  // the open segment, until released
  bool open_ = false;
  std::uint64_t number_ = 0;
  std::uint64_t size_ = 0;  // bytes in the file
  SegmentIndex index_;
  Hash256 last_hash_{};
  ByteBuffer pending_;             // framed records not yet appended
  ByteBuffer spare_index_;         // the memory of the next seal's index
  std::size_t largest_batch_ = 0;  // bytes of the largest batch taken
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_AUDIT_AUDIT_SEGMENT_WRITER_H_
