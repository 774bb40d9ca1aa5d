// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The on-disk format of the audit log (see consentry/audit_log.h for the
// layout): event encoding in the protobuf wire format without a message
// object, segment headers, frames, the hash chain and the per-segment index.
// Internal; never installed.

#ifndef CONSENTRY_SRC_INTERNAL_AUDIT_FORMAT_H_
#define CONSENTRY_SRC_INTERNAL_AUDIT_FORMAT_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
#include "src/audit/audit_byte_buffer.h"

namespace consentry::internal {

using Hash256 = std::array<unsigned char, 32>;

inline constexpr char kSegmentMagic[8] = {'C', 'N', 'S', 'A',
                                          'U', 'D', '0', '1'};
// The index of a segment sealed by a version 2 seal (one SHA-256 over the
// whole file), and of one sealed by a version 3 seal (blocks, each with its
// own SHA-256 in a block table; the seal binds header and table).
inline constexpr char kIndexMagicV1[8] = {'C', 'N', 'S', 'I',
                                          'D', 'X', '0', '1'};
inline constexpr char kIndexMagicV2[8] = {'C', 'N', 'S', 'I',
                                          'D', 'X', '0', '2'};
// Version 2 added the seal record that ends every sealed segment and
// carries the digest of its index; version 1 segments are not read.
// Version 3 (written now) adds the ids of the keys to the header and
// chains a keyed segment under a key derived from its header
// (`SegmentChainKey`); version 2 segments are still read and verified.
inline constexpr std::uint32_t kFormatVersion = 3;
inline constexpr std::uint32_t kFormatVersionV2 = 2;
inline constexpr std::uint32_t kFlagKeyed = 1;
// Version 2: magic 8, version 4, flags 4, number 8, first sequence 8, prev
// hash 32, crc 4. The smallest header of any version; a version 3 header
// adds, before its CRC, u8 length | HMAC key id | u8 length | signing key id.
inline constexpr std::size_t kSegmentHeaderSize = 68;
// The longest signing key id a header holds (printable ASCII, no space).
inline constexpr std::size_t kMaxSigningKeyIdSize = 128;
// length 4, crc 4 | payload | hash 32
inline constexpr std::size_t kFrameHeaderSize = 8;
inline constexpr std::size_t kFrameTrailerSize = 32;
inline constexpr std::size_t kFrameOverhead =
    kFrameHeaderSize + kFrameTrailerSize;
// A payload longer than this is corrupt (events are a few hundred bytes).
inline constexpr std::uint32_t kMaxPayload = 1u << 20;
// The length word of a seal frame has this bit set; its payload is
// "CNSSEAL3" | u64 records | u64 next sequence | SHA-256 of the index's
// header and block table (the index root). "CNSSEAL2", written before,
// binds the SHA-256 of the whole "CNSIDX01" index file instead.
inline constexpr std::uint32_t kSealBit = 0x80000000u;
inline constexpr char kSealMagicV2[8] = {'C', 'N', 'S', 'S',
                                         'E', 'A', 'L', '2'};
inline constexpr char kSealMagicV3[8] = {'C', 'N', 'S', 'S',
                                         'E', 'A', 'L', '3'};
inline constexpr std::size_t kSealPayloadSize = 8 + 8 + 8 + 32;
inline constexpr std::size_t kSealFrameSize = kFrameOverhead + kSealPayloadSize;

// ---------------------------------------------------------------------------
// Little-endian fixed-width integers.

inline void PutU32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
inline void PutU64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
inline std::uint32_t GetU32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline std::uint64_t GetU64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Copies `n` bytes, `kChunk` <= n <= 2 * `kChunk`, as two fixed-size
// chunks that may overlap.
template <std::size_t kChunk>
inline void CopyTwoChunks(char* dst, const char* src, std::size_t n) {
  char head[kChunk], tail[kChunk];
  std::memcpy(head, src, kChunk);
  std::memcpy(tail, src + n - kChunk, kChunk);
  std::memcpy(dst, head, kChunk);
  std::memcpy(dst + n - kChunk, tail, kChunk);
}

// Copies `n` bytes with at most two fixed-size loads and stores, which the
// compiler inlines; the strings of an event are short, and a call into the
// C library's memcpy per field costs more than the copy.
inline void CopyShort(char* dst, const char* src, std::size_t n) {
  if (n > 32) {
    std::memcpy(dst, src, n);
  } else if (n >= 16) {
    CopyTwoChunks<16>(dst, src, n);
  } else if (n >= 8) {
    CopyTwoChunks<8>(dst, src, n);
  } else if (n >= 4) {
    CopyTwoChunks<4>(dst, src, n);
  } else if (n > 0) {
    dst[0] = src[0];
    dst[n / 2] = src[n / 2];
    dst[n - 1] = src[n - 1];
  }
}

// ---------------------------------------------------------------------------
// Event encoding: byte-for-byte what `consentry.v1.AuditEvent` serializes
// to (fields in number order, proto3 defaults omitted), without building a
// message. `sequence` (field 15) is appended by the writer.

// The exact encoded size of `e` without the sequence field.
std::size_t EncodedEventSize(const AuditEvent& e);
// An upper bound of `EncodedEventSize(e)`, cheaper to compute: the string
// lengths plus the most every other field can take.
inline std::size_t EncodedEventSizeBound(const AuditEvent& e) {
  // Varint fields (time, action, reason, revision, included, excluded) take
  // at most 2 + 10 bytes each, booleans 2; a string field's key and length
  // take at most 2 + 5.
  return 6 * 12 + 2 * 2 + 10 * 7 + e.accessor.size() + e.subject.size() +
         e.category.size() + e.purpose.size() + e.policy_version.size() +
         e.record_ref.size() + e.recipient.size() + e.request_id.size() +
         e.request_kind.size() + e.detail.size();
}
// Writes the encoding of `e` to `out`, which has `EncodedEventSize(e)` bytes.
// Returns the end.
char* EncodeEvent(const AuditEvent& e, char* out);
// Appends field 15 (`sequence`) to `out`; at most 11 bytes.
inline constexpr std::size_t kMaxSequenceFieldSize = 11;
char* EncodeSequenceField(std::uint64_t sequence, char* out);

// The fields the writer indexes, read from an encoded event without a
// message. False when the bytes are not a well-formed encoding.
struct EventKeys {
  std::int64_t time_unix_nanos = 0;
  absl::string_view accessor;
  absl::string_view subject;
  std::uint64_t sequence = 0;
};
bool ScanEventKeys(absl::string_view payload, EventKeys* keys);
// The same for an event `EncodeEvent` wrote (fields in number order), as
// the writer indexes it: stops after the subject (field 4), so `sequence`
// stays 0 and the rest of the payload is not checked.
bool ScanLeadingEventKeys(absl::string_view payload, EventKeys* keys);

// Parses a payload into an owned event. False when it is not an AuditEvent.
bool DecodeEvent(absl::string_view payload, OwnedAuditEvent* out);

// ---------------------------------------------------------------------------
// The chain: SHA-256 or HMAC-SHA256 over (previous hash || payload).

class ChainHasher {
 public:
  // Empty `key` selects plain SHA-256.
  static absl::StatusOr<std::unique_ptr<ChainHasher>> Create(
      absl::string_view key);
  ~ChainHasher();
  ChainHasher(const ChainHasher&) = delete;
  ChainHasher& operator=(const ChainHasher&) = delete;

  bool keyed() const { return keyed_; }
  // hash = H(prev || payload). False on a libcrypto failure.
  bool Next(const unsigned char* prev, absl::string_view payload,
            unsigned char* hash);

 private:
  struct State;  // libcrypto's SHA-256 states (audit_format.cc)
  ChainHasher();
  bool keyed_ = false;
  std::unique_ptr<State> state_;
};

// ---------------------------------------------------------------------------
// Segment headers and frames.

struct SegmentHeader {
  std::uint32_t version = kFormatVersion;
  std::uint32_t flags = 0;
  std::uint64_t number = 0;
  std::uint64_t first_sequence = 0;
  Hash256 prev_hash{};
  // Version 3: the id of the HMAC key that chains the segment (empty when
  // unkeyed, or keyed by `AuditLogOptions::hmac_key`, the key without id)
  // and of the key that signs its checkpoints (empty without one).
  std::string hmac_key_id;
  std::string signing_key_id;
  // The encoded size: where the first frame begins (set by decoding).
  std::size_t size = kSegmentHeaderSize;
};

// The encoding of `h` in its version (2 or 3), CRC included.
std::string EncodeSegmentHeader(const SegmentHeader& h);
// kShort: fewer bytes than the header needs; kMalformed: a version 3
// header whose ids are not valid ids (or an HMAC key id in an unkeyed one).
enum class HeaderProblem { kNone, kShort, kMagic, kCrc, kVersion, kMalformed };
HeaderProblem DecodeSegmentHeader(absl::string_view bytes, SegmentHeader* h);
// Where the first frame of the segment `data` begins, read without checking
// the header's CRC (for queries, which check frames only): `data.size()`
// when the header cannot be sized.
std::size_t FirstFrameOffset(absl::string_view data);

// The key a version 3 keyed segment is chained under: HMAC-SHA256 under
// `key` of "consentry-audit-segment-key/3\n" followed by the header's bytes
// before its CRC (`header_bytes`). Every frame's hash so authenticates the
// header (the key ids, the previous hash, number and first sequence).
// Empty on a libcrypto failure.
std::string SegmentChainKey(absl::string_view key,
                            absl::string_view header_bytes);

// What a writer or verifier holds to chain segments: the key without id
// (`AuditLogOptions::hmac_key`) and a lookup of keys by id. Neither: the
// log is unkeyed.
struct ChainKeys {
  absl::string_view legacy_key;
  HmacKeyLookup* lookup = nullptr;
  bool keyed() const { return !legacy_key.empty() || lookup != nullptr; }
};
// The hasher that chains the segment at `path` whose header `h` was decoded
// from `data`. `who` prefixes errors. Errors: kInvalidArgument when the
// segment is keyed and `keys` are not, or the other way round, or when the
// key it names is not among `keys` (no lookup, or the key without id not
// given); the lookup's error (kNotFound for an unknown id), naming `path`
// and the id; kInternal for libcrypto.
absl::StatusOr<std::unique_ptr<ChainHasher>> SegmentHasher(
    const SegmentHeader& h, absl::string_view data, const ChainKeys& keys,
    absl::string_view path, absl::string_view who);

// Appends one frame for `payload` to `out`, chaining from `prev` and
// writing the new hash to `hash`. False on a libcrypto failure.
bool AppendFrame(ChainHasher& hasher, const unsigned char* prev,
                 absl::string_view payload, std::string* out,
                 unsigned char* hash);

// The CRC a frame must carry (`length` is the length word as stored).
std::uint32_t FrameCrc(std::uint32_t length, absl::string_view payload,
                       const unsigned char* hash);

// The seal record: the final frame of a sealed segment. It is chained like
// an event (so a keyed chain authenticates it) but takes no sequence; it
// binds the segment's record count and the digest of its index
// (`IndexSealDigest`), so that a query trusts an index only when it is the
// one the writer sealed.
inline constexpr std::uint32_t kSealVersionWholeIndex = 2;  // "CNSSEAL2"
inline constexpr std::uint32_t kSealVersionIndexRoot = 3;   // "CNSSEAL3"
struct SealRecord {
  // kSealVersionIndexRoot (written now) or kSealVersionWholeIndex (read).
  std::uint32_t version = kSealVersionIndexRoot;
  std::uint64_t records = 0;
  std::uint64_t next_sequence = 0;
  Hash256 index_digest{};
};
std::string EncodeSealPayload(const SealRecord& seal);
// False unless `payload` is exactly a seal payload.
bool DecodeSealPayload(absl::string_view payload, SealRecord* seal);
// Appends the seal frame to `out`, chaining from `prev`. False on a
// libcrypto failure.
bool AppendSealFrame(ChainHasher& hasher, const unsigned char* prev,
                     const SealRecord& seal, std::string* out,
                     unsigned char* hash);
// SHA-256 of `bytes`. False on a libcrypto failure.
bool Sha256(absl::string_view bytes, Hash256* out);

// ---------------------------------------------------------------------------
// Files.

std::string SegmentFileName(std::uint64_t number);
// The retention record and the retention runs' lock (audit_retention.h).
inline constexpr absl::string_view kRetentionRecordFile = "audit-retention.rec";
inline constexpr absl::string_view kRetentionLockFile = "audit-retention.lock";
std::string IndexFileName(std::uint64_t number);

// What a log directory holds, by name. Names are parsed strictly: exactly
// "audit-" + 16 decimal digits + ".seg" or ".idx" (no sign, no spaces).
struct AuditDirListing {
  std::vector<std::uint64_t> segments;  // ascending
  std::vector<std::uint64_t> indexes;   // ascending
  // Temporaries of an index write a crash interrupted
  // ("audit-<16 digits>.idx.tmp-<16 hex digits>"), and those of a retention
  // run (a segment copied to an archive, "audit-<16 digits>.seg.tmp-<16
  // hex digits>", or the retention record, "audit-retention.rec.tmp-<16 hex
  // digits>"): ignored by verification, removed by `AuditLog::Open`.
  std::vector<std::string> temporaries;
  // The retention record ("audit-retention.rec") is present; the retention
  // lock file ("audit-retention.lock") is recognized and never read.
  bool retention_record = false;
  // Every other entry (never read as a segment or index), sorted.
  std::vector<std::string> unexpected;
};
// Errors: `kNotFound`, `kPermissionDenied`, `kInternal`.
absl::StatusOr<AuditDirListing> ListAuditDir(const std::string& dir);

// The one-writer lock of a log directory: an exclusive `flock` on the
// directory itself, held while the returned descriptor is open. Waits up
// to `wait` for another holder. Errors: `kFailedPrecondition` naming the
// directory and `holder_hint` when it stays held; the errno's code when the
// directory cannot be opened.
// Takes an exclusive `flock` on `fd`, retrying every 5 ms for up to `wait`
// while another descriptor holds it: true when taken, false when it is
// still held at the deadline. Errors: that of a failed `flock` (`what`,
// naming `path`).
absl::StatusOr<bool> FlockWithin(int fd, absl::Duration wait,
                                 absl::string_view what,
                                 const std::string& path);

absl::StatusOr<int> LockLogDirectory(const std::string& dir,
                                     absl::Duration wait,
                                     absl::string_view holder_hint);
// The segment numbers of `ListAuditDir`.
absl::StatusOr<std::vector<std::uint64_t>> ListSegments(const std::string& dir);
// `s` with "audit log: " before its message (same code): names the log in
// an error of the file layer. OK stays OK.
absl::Status AuditError(const absl::Status& s);
template <typename T>
absl::StatusOr<T> AuditError(absl::StatusOr<T> s) {
  if (s.ok()) return s;
  return AuditError(s.status());
}

// ---------------------------------------------------------------------------
// The per-segment index (sidecar).

enum : std::uint8_t { kKeySubject = 's', kKeyAccessor = 'a' };
// Stable 64-bit FNV-1a of kind || key.
std::uint64_t IndexKeyHash(std::uint8_t kind, absl::string_view key);

// Version 2 of the index file ("CNSIDX02"), all integers little-endian:
//
//   header (72 bytes): "CNSIDX02" | u64 segment number | u64 first sequence |
//     u64 records | i64 min time | i64 max time | u64 sealed segment size |
//     u64 entry count | u32 entries per block | u32 block count
//   block table: per block, u64 first key hash | SHA-256 of the block's bytes
//   blocks: the sorted (u64 key hash, u64 frame offset) entries, cut into
//     blocks of `entries per block` entries (the last one may be shorter)
//
// The seal binds the index root, SHA-256(header || block table): a reader
// checks the root with a few kilobytes, then each block it reads against
// the table. Version 1 ("CNSIDX01", sealed by a version 2 seal) is
// header | entries | CRC-32C, its SHA-256 taken over the whole file.
inline constexpr std::size_t kIndexEntrySize = 16;
inline constexpr std::size_t kIndexHeaderSize = 72;
inline constexpr std::size_t kIndexBlockRefSize = 8 + 32;
// 2,048 entries (32 KiB) a block. A query reads, per segment, the table
// (40 bytes a block) and the block(s) holding its key (16 bytes an entry):
// for the 1,000,000 entries of a 64 MiB segment the sum is smallest near
// 1,600 entries a block; 2,048 reads about 52 KB per segment (20 KB of
// table, 32 KB of block), where 4,096 would read 74 KB and 512 would read
// 86 KB.
inline constexpr std::uint32_t kIndexBlockEntries = 2048;
// A reader refuses a header with more entries per block than this.
inline constexpr std::uint32_t kMaxIndexBlockEntries = 1u << 20;

struct IndexHeader {
  std::uint64_t segment_number = 0;
  std::uint64_t first_sequence = 0;
  std::uint64_t records = 0;
  std::int64_t min_time = 0;
  std::int64_t max_time = 0;
  std::uint64_t file_size = 0;  // size of the sealed segment
  std::uint64_t entries = 0;
  std::uint32_t block_entries = kIndexBlockEntries;
  std::uint32_t blocks = 0;

  // Where the block table ends and the first block begins.
  std::uint64_t TableEnd() const {
    return kIndexHeaderSize + std::uint64_t{blocks} * kIndexBlockRefSize;
  }
  // The size of an index file with this header.
  std::uint64_t IndexFileSize() const {
    return TableEnd() + entries * kIndexEntrySize;
  }
  // Block `i`'s offset in the file and its number of entries.
  std::uint64_t BlockOffset(std::uint32_t i) const {
    return TableEnd() + std::uint64_t{i} * block_entries * kIndexEntrySize;
  }
  std::uint64_t BlockEntryCount(std::uint32_t i) const {
    const std::uint64_t first = std::uint64_t{i} * block_entries;
    return std::min<std::uint64_t>(block_entries, entries - first);
  }
};
// Decodes a version 2 header (the first `kIndexHeaderSize` bytes of
// `bytes`). False unless the magic is "CNSIDX02" and the counts agree:
// 1 <= entries per block <= kMaxIndexBlockEntries, blocks = entries
// rounded up to whole blocks, and a file size that fits in 63 bits.
bool DecodeIndexHeader(absl::string_view bytes, IndexHeader* out);

struct IndexBlockRef {
  std::uint64_t first_key = 0;  // key hash of the block's first entry
  Hash256 digest{};             // SHA-256 of the block's bytes
};
// Decodes the block table (`header.blocks` refs, exactly) from `bytes`.
bool DecodeIndexTable(absl::string_view bytes, const IndexHeader& header,
                      std::vector<IndexBlockRef>* out);
// The blocks [*first, *last) that can hold entries with key hash `key`:
// those from the last block that starts below `key` to the last that
// starts at or below it (a key's entries may span blocks). Empty when
// `key` is below every block.
void IndexBlocksForKey(const std::vector<IndexBlockRef>& table,
                       std::uint64_t key, std::uint32_t* first,
                       std::uint32_t* last);

// The digest a seal binds for the index file `bytes`: the SHA-256 of a
// version 2 index's header and block table (its root), or of a version 1
// index's whole file. `*seal_version` is the seal version that names such
// a digest. False when `bytes` is too short to be either, or on a
// libcrypto failure.
bool IndexSealDigest(absl::string_view bytes, Hash256* out,
                     std::uint32_t* seal_version);

struct SegmentIndex {
  std::uint64_t segment_number = 0;
  std::uint64_t first_sequence = 0;
  std::uint64_t records = 0;
  std::int64_t min_time = 0;
  std::int64_t max_time = 0;
  std::uint64_t file_size = 0;  // size of the sealed segment
  // (key hash, frame offset), sorted; entries `Add`ed since are held
  // apart until `Encode`, `EncodeV1` or `SortEntries` merges them in.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;

  // Indexes the frame at `offset`. Entries are kept by the top byte of
  // their key as they come, so that sealing sorts 256 small runs in cache
  // rather than every entry at once.
  void Add(std::int64_t time, std::uint64_t offset, const EventKeys& keys);
  // Merges the entries added so far into `entries`, sorted.
  void SortEntries();
  // Version 2 ("CNSIDX02"), what the writer writes: sorts `entries`;
  // deterministic. Empty on a libcrypto failure.
  std::string Encode();
  // As `Encode`, for the writer at a seal: the entries added are sorted in
  // their runs and copied into the encoding without gathering them into
  // `entries` first; the entries are gone afterwards (the counts and times
  // stay until `Restart`).
  std::string TakeEncoded();
  // The same into `*out` (its contents replaced, its memory reused, its
  // growth not zero-filled). False on a libcrypto failure.
  bool TakeEncoded(ByteBuffer* out);
  // Empties the index for segment `number`, whose first record is `first`,
  // keeping the runs' memory for the entries to come.
  void Restart(std::uint64_t number, std::uint64_t first);
  // Version 1 ("CNSIDX01"), what a version 2 seal names: sorts `entries`;
  // deterministic.
  std::string EncodeV1();
  // The encoding a seal of `seal_version` names.
  std::string EncodeForSeal(std::uint32_t seal_version) {
    return seal_version == kSealVersionWholeIndex ? EncodeV1() : Encode();
  }
  // Either version. False when the bytes are not a valid index (for version
  // 2, also when a block does not match its SHA-256 or its first key).
  static bool Decode(absl::string_view bytes, SegmentIndex* out);

 private:
  // Entries added and not yet sorted, by the top byte of the key, each run
  // in the order added; `added_in_order_` while their offsets never went
  // down (as frames are written), which lets a stable sort by key alone
  // give (key, offset) order.
  std::vector<std::vector<std::pair<std::uint64_t, std::uint64_t>>> added_;
  std::uint64_t added_count_ = 0;
  std::uint64_t last_offset_ = 0;
  bool added_in_order_ = true;
  // The last accessor and its key hash: most events of a run name one.
  std::string last_accessor_;
  std::uint64_t last_accessor_hash_ = 0;
  bool has_last_accessor_ = false;
  // The radix sort's buffer, kept from seal to seal.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> scratch_;
  // `Encode`'s tail: the block table of the entries at `out` after the
  // header `h`. False on a libcrypto failure.
  static bool EncodeBlockTable(const IndexHeader& h, char* out);
};

// One frame as found in a segment's bytes.
struct FrameView {
  std::uint64_t offset = 0;
  absl::string_view payload;
  const unsigned char* hash = nullptr;
  bool crc_ok = false;
  bool seal = false;  // a seal frame (`payload` is a seal payload)
};
enum class FrameStatus { kOk, kEnd, kIncomplete, kBadLength };
// Reads the frame at `*offset` in `data`; on kOk advances `*offset`. A
// length word with `kSealBit` is a seal frame (kBadLength unless its
// payload has `kSealPayloadSize` bytes).
FrameStatus ReadFrame(absl::string_view data, std::uint64_t* offset,
                      FrameView* frame);

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_AUDIT_FORMAT_H_
