// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The on-disk format of the audit log (see consentry/audit_log.h for the
// layout): event encoding in the protobuf wire format without a message
// object, segment headers, frames, the hash chain and the per-segment index.
// Internal; never installed.

#ifndef CONSENTRY_SRC_INTERNAL_AUDIT_FORMAT_H_
#define CONSENTRY_SRC_INTERNAL_AUDIT_FORMAT_H_

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
#include "consentry/audit.h"

namespace consentry::internal {

using Hash256 = std::array<unsigned char, 32>;

inline constexpr char kSegmentMagic[8] = {'C', 'N', 'S', 'A',
                                          'U', 'D', '0', '1'};
inline constexpr char kIndexMagic[8] = {'C', 'N', 'S', 'I', 'D', 'X', '0', '1'};
// Version 2 added the seal record that ends every sealed segment and
// carries the digest of its index; version 1 segments are not read.
inline constexpr std::uint32_t kFormatVersion = 2;
inline constexpr std::uint32_t kFlagKeyed = 1;
// magic 8, version 4, flags 4, number 8, first sequence 8, prev hash 32, crc 4
inline constexpr std::size_t kSegmentHeaderSize = 68;
// length 4, crc 4 | payload | hash 32
inline constexpr std::size_t kFrameHeaderSize = 8;
inline constexpr std::size_t kFrameTrailerSize = 32;
inline constexpr std::size_t kFrameOverhead =
    kFrameHeaderSize + kFrameTrailerSize;
// A payload longer than this is corrupt (events are a few hundred bytes).
inline constexpr std::uint32_t kMaxPayload = 1u << 20;
// The length word of a seal frame has this bit set; its payload is
// "CNSSEAL2" | u64 records | u64 next sequence | SHA-256 of the index.
inline constexpr std::uint32_t kSealBit = 0x80000000u;
inline constexpr char kSealMagic[8] = {'C', 'N', 'S', 'S', 'E', 'A', 'L', '2'};
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
  ChainHasher() = default;
  bool keyed_ = false;
  void* md_ctx_ = nullptr;   // EVP_MD_CTX*
  void* md_ = nullptr;       // EVP_MD*
  void* mac_ = nullptr;      // EVP_MAC*
  void* mac_ctx_ = nullptr;  // EVP_MAC_CTX*
};

// ---------------------------------------------------------------------------
// Segment headers and frames.

struct SegmentHeader {
  std::uint32_t version = kFormatVersion;
  std::uint32_t flags = 0;
  std::uint64_t number = 0;
  std::uint64_t first_sequence = 0;
  Hash256 prev_hash{};
};

void EncodeSegmentHeader(const SegmentHeader& h, char* out);
// Errors: `kDataLoss` (too short, bad magic or CRC, naming `where`).
enum class HeaderProblem { kNone, kShort, kMagic, kCrc, kVersion };
HeaderProblem DecodeSegmentHeader(absl::string_view bytes, SegmentHeader* h);

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
// binds the segment's record count and the SHA-256 of its index file, so
// that a query trusts an index only when it is the one the writer sealed.
struct SealRecord {
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
// SHA-256 of `bytes` (an index file). False on a libcrypto failure.
bool Sha256(absl::string_view bytes, Hash256* out);

// ---------------------------------------------------------------------------
// Files.

std::string SegmentFileName(std::uint64_t number);
std::string IndexFileName(std::uint64_t number);

// What a log directory holds, by name. Names are parsed strictly: exactly
// "audit-" + 16 decimal digits + ".seg" or ".idx" (no sign, no spaces).
struct AuditDirListing {
  std::vector<std::uint64_t> segments;  // ascending
  std::vector<std::uint64_t> indexes;   // ascending
  // Temporaries of an index write a crash interrupted
  // ("audit-<16 digits>.idx.tmp-<16 hex digits>"): ignored by
  // verification, removed by `AuditLog::Open`.
  std::vector<std::string> temporaries;
  // Every other entry (never read as a segment or index), sorted.
  std::vector<std::string> unexpected;
};
// Errors: `kNotFound`, `kPermissionDenied`, `kInternal`.
absl::StatusOr<AuditDirListing> ListAuditDir(const std::string& dir);
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

struct SegmentIndex {
  std::uint64_t segment_number = 0;
  std::uint64_t first_sequence = 0;
  std::uint64_t records = 0;
  std::int64_t min_time = 0;
  std::int64_t max_time = 0;
  std::uint64_t file_size = 0;  // size of the sealed segment
  // (key hash, frame offset), sorted.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;

  void Add(std::int64_t time, std::uint64_t offset, const EventKeys& keys);
  std::string Encode();  // sorts `entries`; deterministic
  // False when the bytes are not a valid index.
  static bool Decode(absl::string_view bytes, SegmentIndex* out);
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
