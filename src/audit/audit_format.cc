// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/audit/audit_format.h"

#include <dirent.h>
#include <fcntl.h>
// The SHA-256 block functions (`SHA256_Init` and the rest) are deprecated
// in OpenSSL 3 in favour of EVP, which costs the chain a third again per
// event; see `ChainHasher::State`.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "consentry/v1/audit.pb.h"
#include "src/util/crc32c.h"
#include "src/util/file_io.h"
#include "src/util/status_macros.h"

namespace consentry::internal {
namespace {

std::size_t VarintSize(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

char* PutVarint(std::uint64_t v, char* p) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

std::size_t StringFieldSize(absl::string_view s) {
  return s.empty() ? 0 : 1 + VarintSize(s.size()) + s.size();
}

inline char* PutStringField(std::uint8_t tag, absl::string_view s, char* p) {
  if (s.empty()) return p;
  *p++ = static_cast<char>(tag);
  if (ABSL_PREDICT_TRUE(s.size() < 0x80)) {
    *p++ = static_cast<char>(s.size());
  } else {
    p = PutVarint(s.size(), p);
  }
  CopyShort(p, s.data(), s.size());
  return p + s.size();
}

std::size_t VarintFieldSize(std::uint64_t v) {
  return v == 0 ? 0 : 1 + VarintSize(v);
}

char* PutVarintField(std::uint8_t tag, std::uint64_t v, char* p) {
  if (v == 0) return p;
  *p++ = static_cast<char>(tag);
  return PutVarint(v, p);
}

bool GetVarint(const char*& p, const char* end, std::uint64_t* v) {
  std::uint64_t r = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const auto b = static_cast<unsigned char>(*p++);
    r |= static_cast<std::uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      *v = r;
      return true;
    }
  }
  return false;
}

}  // namespace

absl::Status AuditError(const absl::Status& s) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("audit log: ", s.message()));
}

// ---------------------------------------------------------------------------
// Events

namespace {
// The actions whose events carry records_included/excluded and detail.
bool CarriesCounts(AuditAction a) {
  return a == AuditAction::kBatch || a == AuditAction::kRecordsPurged;
}
}  // namespace

std::size_t EncodedEventSize(const AuditEvent& e) {
  return VarintFieldSize(static_cast<std::uint64_t>(e.time_unix_nanos)) +
         VarintFieldSize(static_cast<std::uint64_t>(e.action)) +
         StringFieldSize(e.accessor) + StringFieldSize(e.subject) +
         StringFieldSize(e.category) + StringFieldSize(e.purpose) +
         (e.allowed() ? 2 : 0) +
         VarintFieldSize(static_cast<std::uint64_t>(e.reason)) +
         StringFieldSize(e.record_ref) +
         VarintFieldSize(static_cast<std::uint64_t>(e.revision)) +
         StringFieldSize(e.policy_version) + (e.shadow ? 2 : 0) +
         StringFieldSize(e.recipient) + StringFieldSize(e.request_id) +
         (CarriesCounts(e.action)
              ? 2 +
                    VarintSize(static_cast<std::uint64_t>(
                        std::max<std::int64_t>(0, e.records_included))) +
                    2 +
                    VarintSize(static_cast<std::uint64_t>(
                        std::max<std::int64_t>(0, e.records_excluded))) +
                    (e.detail.empty()
                         ? 0
                         : 2 + VarintSize(e.detail.size()) + e.detail.size())
              : 0) +
         (e.request_kind.empty()
              ? 0
              : 2 + VarintSize(e.request_kind.size()) + e.request_kind.size());
}

char* EncodeEvent(const AuditEvent& e, char* p) {
  p = PutVarintField(0x08, static_cast<std::uint64_t>(e.time_unix_nanos), p);
  p = PutVarintField(0x10, static_cast<std::uint64_t>(e.action), p);
  p = PutStringField(0x1A, e.accessor, p);
  p = PutStringField(0x22, e.subject, p);
  p = PutStringField(0x2A, e.category, p);
  p = PutStringField(0x32, e.purpose, p);
  if (e.allowed()) {
    *p++ = 0x38;
    *p++ = 1;
  }
  p = PutVarintField(0x40, static_cast<std::uint64_t>(e.reason), p);
  p = PutStringField(0x4A, e.record_ref, p);
  p = PutVarintField(0x50, static_cast<std::uint64_t>(e.revision), p);
  p = PutStringField(0x5A, e.policy_version, p);
  if (e.shadow) {
    *p++ = 0x60;
    *p++ = 1;
  }
  p = PutStringField(0x6A, e.recipient, p);
  p = PutStringField(0x72, e.request_id, p);
  if (CarriesCounts(e.action)) {
    // Fields 16-18 have two-byte keys.
    *p++ = static_cast<char>(0x80);
    *p++ = 0x01;
    p = PutVarint(static_cast<std::uint64_t>(
                      std::max<std::int64_t>(0, e.records_included)),
                  p);
    *p++ = static_cast<char>(0x88);
    *p++ = 0x01;
    p = PutVarint(static_cast<std::uint64_t>(
                      std::max<std::int64_t>(0, e.records_excluded)),
                  p);
    if (!e.detail.empty()) {
      *p++ = static_cast<char>(0x92);
      *p++ = 0x01;
      p = PutVarint(e.detail.size(), p);
      std::memcpy(p, e.detail.data(), e.detail.size());
      p += e.detail.size();
    }
  }
  if (!e.request_kind.empty()) {
    // Field 19, after the fields every older reader knows.
    *p++ = static_cast<char>(0x9A);
    *p++ = 0x01;
    p = PutVarint(e.request_kind.size(), p);
    std::memcpy(p, e.request_kind.data(), e.request_kind.size());
    p += e.request_kind.size();
  }
  return p;
}

char* EncodeSequenceField(std::uint64_t sequence, char* p) {
  return PutVarintField(0x78, sequence, p);
}

namespace {

template <bool kLeadingOnly>
bool ScanKeys(absl::string_view payload, EventKeys* keys) {
  *keys = EventKeys{};
  const char* p = payload.data();
  const char* end = p + payload.size();
  while (p < end) {
    std::uint64_t tag = 0;
    if (!GetVarint(p, end, &tag)) return false;
    const std::uint64_t field = tag >> 3;
    if (kLeadingOnly && field > 4) return true;
    switch (tag & 7) {
      case 0: {
        std::uint64_t v = 0;
        if (!GetVarint(p, end, &v)) return false;
        if (field == 1) keys->time_unix_nanos = static_cast<std::int64_t>(v);
        if (field == 15) keys->sequence = v;
        break;
      }
      case 2: {
        std::uint64_t n = 0;
        if (!GetVarint(p, end, &n)) return false;
        if (n > static_cast<std::uint64_t>(end - p)) return false;
        const absl::string_view s(p, static_cast<std::size_t>(n));
        if (field == 3) keys->accessor = s;
        if (field == 4) keys->subject = s;
        p += n;
        break;
      }
      case 1:
        if (end - p < 8) return false;
        p += 8;
        break;
      case 5:
        if (end - p < 4) return false;
        p += 4;
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace

bool ScanEventKeys(absl::string_view payload, EventKeys* keys) {
  return ScanKeys<false>(payload, keys);
}

bool ScanLeadingEventKeys(absl::string_view payload, EventKeys* keys) {
  return ScanKeys<true>(payload, keys);
}

bool DecodeEvent(absl::string_view payload, OwnedAuditEvent* out) {
  v1::AuditEvent m;
  if (!m.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return false;
  }
  out->time_unix_nanos = m.time_unix_nanos();
  out->action = static_cast<AuditAction>(m.action());
  out->accessor = m.accessor();
  out->subject = m.subject();
  out->category = m.category();
  out->purpose = m.purpose();
  out->policy_version = m.policy_version();
  out->record_ref = m.record_ref();
  out->recipient = m.recipient();
  out->request_id = m.request_id();
  out->request_kind = m.request_kind();
  if (out->action == AuditAction::kRequest && out->request_kind.empty()) {
    // Written before `request_kind` existed: the kind is in `category`.
    out->request_kind = std::move(out->category);
    out->category.clear();
  }
  out->reason = static_cast<Reason>(m.reason());
  out->revision = m.consent_revision();
  out->shadow = m.shadow();
  out->sequence = m.sequence();
  if (CarriesCounts(out->action)) {
    out->records_included = m.records_included();
    out->records_excluded = m.records_excluded();
    out->detail = m.detail();
  }
  return true;
}

// ---------------------------------------------------------------------------
// ChainHasher

// The chain hashes every event, so it is computed with libcrypto's SHA-256
// block functions directly: through the EVP interface each digest paid
// about a third again in dispatch and context setup, and each HMAC more.
// HMAC-SHA256 (RFC 2104) is computed from the two states that absorbed the
// key's inner and outer pads, kept from `Create`; `ChainHasherTest`
// checks both against libcrypto's EVP digest and MAC.
struct ChainHasher::State {
  SHA256_CTX inner;  // after the inner pad (keyed), or fresh
  SHA256_CTX outer;  // after the outer pad (keyed)
};

ChainHasher::ChainHasher() : state_(std::make_unique<State>()) {}

ChainHasher::~ChainHasher() { OPENSSL_cleanse(state_.get(), sizeof(State)); }

absl::StatusOr<std::unique_ptr<ChainHasher>> ChainHasher::Create(
    absl::string_view key) {
  std::unique_ptr<ChainHasher> h(new ChainHasher());
  State& st = *h->state_;
  if (SHA256_Init(&st.inner) != 1 || SHA256_Init(&st.outer) != 1) {
    return absl::InternalError("audit log: libcrypto has no SHA-256");
  }
  if (key.empty()) return h;
  h->keyed_ = true;
  // A key longer than the block is replaced by its digest (RFC 2104).
  std::array<unsigned char, SHA256_CBLOCK> block{};
  if (key.size() > block.size()) {
    SHA256_CTX k;
    if (SHA256_Init(&k) != 1 ||
        SHA256_Update(&k, key.data(), key.size()) != 1 ||
        SHA256_Final(block.data(), &k) != 1) {
      return absl::InternalError("audit log: cannot set up HMAC-SHA256");
    }
  } else {
    std::memcpy(block.data(), key.data(), key.size());
  }
  std::array<unsigned char, SHA256_CBLOCK> pad;
  for (std::size_t i = 0; i < pad.size(); ++i) {
    pad[i] = static_cast<unsigned char>(block[i] ^ 0x36);
  }
  bool ok = SHA256_Update(&st.inner, pad.data(), pad.size()) == 1;
  for (std::size_t i = 0; i < pad.size(); ++i) {
    pad[i] = static_cast<unsigned char>(block[i] ^ 0x5c);
  }
  ok = ok && SHA256_Update(&st.outer, pad.data(), pad.size()) == 1;
  OPENSSL_cleanse(block.data(), block.size());
  OPENSSL_cleanse(pad.data(), pad.size());
  if (!ok) return absl::InternalError("audit log: cannot set up HMAC-SHA256");
  return h;
}

namespace {

// A chained message of up to this many SHA-256 blocks, padded, is hashed
// from one buffer on the stack (an event of up to 215 bytes).
constexpr std::size_t kPaddedBlocks = 4;

// The digest of the state `c`, which has absorbed a whole padded message:
// its eight words, big-endian.
void PutDigest(const SHA256_CTX& c, unsigned char* out) {
  for (int i = 0; i < 8; ++i) {
    const std::uint32_t w = c.h[i];
    out[4 * i] = static_cast<unsigned char>(w >> 24);
    out[4 * i + 1] = static_cast<unsigned char>(w >> 16);
    out[4 * i + 2] = static_cast<unsigned char>(w >> 8);
    out[4 * i + 3] = static_cast<unsigned char>(w);
  }
}

// Absorbs `m[0, n)` into `c` (no partial block held) padded as SHA-256's
// final blocks (0x80, zeros, the message's length in bits), in `buf`,
// which has room for `blocks` blocks and holds `m` at its start; then `c`
// holds the digest. One call into the block function instead of the three
// (with their copies into the context) of Update, Update, Final.
bool AbsorbPadded(SHA256_CTX& c, unsigned char* buf, std::size_t n,
                  std::size_t blocks) {
  const std::uint64_t bits =
      ((std::uint64_t{c.Nh} << 32 | c.Nl) + std::uint64_t{n} * 8);
  const std::size_t len = blocks * SHA256_CBLOCK;
  buf[n] = 0x80;
  std::memset(buf + n + 1, 0, len - 8 - (n + 1));
  for (int i = 0; i < 8; ++i) {
    buf[len - 1 - static_cast<std::size_t>(i)] =
        static_cast<unsigned char>(bits >> (8 * i));
  }
  return SHA256_Update(&c, buf, len) == 1;
}

}  // namespace

bool ChainHasher::Next(const unsigned char* prev, absl::string_view payload,
                       unsigned char* hash) {
  const std::size_t n = 32 + payload.size();
  const std::size_t blocks = (n + 8 + SHA256_CBLOCK) / SHA256_CBLOCK;
  if (ABSL_PREDICT_TRUE(blocks <= kPaddedBlocks)) {
    // Events: the message and its padding in one buffer, absorbed at once.
    alignas(64) unsigned char buf[kPaddedBlocks * SHA256_CBLOCK];
    SHA256_CTX c = state_->inner;
    std::memcpy(buf, prev, 32);
    if (!payload.empty()) std::memcpy(buf + 32, payload.data(), payload.size());
    bool ok = AbsorbPadded(c, buf, n, blocks);
    if (ok) PutDigest(c, hash);
    if (ok && keyed_) {
      c = state_->outer;
      std::memcpy(buf, hash, 32);
      ok = AbsorbPadded(c, buf, 32, 1);
      if (ok) PutDigest(c, hash);
    }
    if (keyed_) {
      // Derived from the key's pads, as is the inner digest in `buf`.
      OPENSSL_cleanse(&c, sizeof(c));
      OPENSSL_cleanse(buf, SHA256_CBLOCK);
    }
    return ok;
  }
  SHA256_CTX c = state_->inner;
  bool ok = SHA256_Update(&c, prev, 32) == 1 &&
            SHA256_Update(&c, payload.data(), payload.size()) == 1 &&
            SHA256_Final(hash, &c) == 1;
  if (ok && keyed_) {
    c = state_->outer;
    ok = SHA256_Update(&c, hash, 32) == 1 && SHA256_Final(hash, &c) == 1;
    OPENSSL_cleanse(&c, sizeof(c));  // derived from the key's pads
  }
  return ok;
}

// ---------------------------------------------------------------------------
// Headers and frames

namespace {

// Whether `id` may stand in a header as a signing key id: printable ASCII
// without spaces (Ed25519 ids are "ed25519:" and hex), at most
// kMaxSigningKeyIdSize bytes.
bool IsValidSigningKeyId(absl::string_view id) {
  if (id.size() > kMaxSigningKeyIdSize) return false;
  for (const char c : id) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

// The size of a version 3 header whose bytes begin `b`; 0 when `b` is too
// short to say.
std::size_t V3HeaderSize(absl::string_view b) {
  if (b.size() < 65) return 0;
  const std::size_t hmac_len = static_cast<unsigned char>(b[64]);
  if (b.size() < 66 + hmac_len) return 0;
  const std::size_t signing_len = static_cast<unsigned char>(b[65 + hmac_len]);
  return 66 + hmac_len + signing_len + 4;
}

}  // namespace

std::string EncodeSegmentHeader(const SegmentHeader& h) {
  const bool v3 = h.version >= kFormatVersion;
  std::string out(kSegmentHeaderSize - 4, '\0');
  std::memcpy(out.data(), kSegmentMagic, 8);
  PutU32(out.data() + 8, h.version);
  PutU32(out.data() + 12, h.flags);
  PutU64(out.data() + 16, h.number);
  PutU64(out.data() + 24, h.first_sequence);
  std::memcpy(out.data() + 32, h.prev_hash.data(), 32);
  if (v3) {
    // Lengths above 255 cannot be written; callers validate ids first.
    out.push_back(static_cast<char>(h.hmac_key_id.size() & 0xFF));
    out.append(h.hmac_key_id);
    out.push_back(static_cast<char>(h.signing_key_id.size() & 0xFF));
    out.append(h.signing_key_id);
  }
  char crc[4];
  PutU32(crc, Crc32c(out.data(), out.size()));
  out.append(crc, 4);
  return out;
}

HeaderProblem DecodeSegmentHeader(absl::string_view b, SegmentHeader* h) {
  if (b.size() < kSegmentHeaderSize) return HeaderProblem::kShort;
  if (std::memcmp(b.data(), kSegmentMagic, 8) != 0)
    return HeaderProblem::kMagic;
  h->version = GetU32(b.data() + 8);
  std::size_t size = kSegmentHeaderSize;
  if (h->version == kFormatVersion) {
    size = V3HeaderSize(b);
    if (size == 0 || b.size() < size) return HeaderProblem::kShort;
  }
  if (GetU32(b.data() + size - 4) != Crc32c(b.data(), size - 4)) {
    // A version 2 header's CRC, or a version 3 one whose lengths are
    // damaged: either way the bytes are not what was written.
    return HeaderProblem::kCrc;
  }
  h->flags = GetU32(b.data() + 12);
  h->number = GetU64(b.data() + 16);
  h->first_sequence = GetU64(b.data() + 24);
  std::memcpy(h->prev_hash.data(), b.data() + 32, 32);
  h->size = size;
  h->hmac_key_id.clear();
  h->signing_key_id.clear();
  if (h->version == kFormatVersionV2) return HeaderProblem::kNone;
  if (h->version != kFormatVersion) return HeaderProblem::kVersion;
  const std::size_t hmac_len = static_cast<unsigned char>(b[64]);
  h->hmac_key_id.assign(b.data() + 65, hmac_len);
  h->signing_key_id.assign(b.data() + 66 + hmac_len, size - 70 - hmac_len);
  if ((!h->hmac_key_id.empty() &&
       (!IsValidHmacKeyId(h->hmac_key_id) || (h->flags & kFlagKeyed) == 0)) ||
      !IsValidSigningKeyId(h->signing_key_id)) {
    return HeaderProblem::kMalformed;
  }
  return HeaderProblem::kNone;
}

std::size_t FirstFrameOffset(absl::string_view data) {
  if (data.size() < kSegmentHeaderSize) return data.size();
  if (GetU32(data.data() + 8) != kFormatVersion) return kSegmentHeaderSize;
  const std::size_t size = V3HeaderSize(data);
  return size == 0 ? data.size() : std::min(size, data.size());
}

std::string SegmentChainKey(absl::string_view key,
                            absl::string_view header_bytes) {
  const std::string message =
      absl::StrCat("consentry-audit-segment-key/3\n", header_bytes);
  unsigned char out[32];
  std::size_t n = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(),
                key.size(),
                reinterpret_cast<const unsigned char*>(message.data()),
                message.size(), out, sizeof(out), &n) == nullptr ||
      n != sizeof(out)) {
    return std::string();
  }
  return std::string(reinterpret_cast<const char*>(out), n);
}

absl::StatusOr<std::unique_ptr<ChainHasher>> SegmentHasher(
    const SegmentHeader& h, absl::string_view data, const ChainKeys& keys,
    absl::string_view path, absl::string_view who) {
  const bool keyed = (h.flags & kFlagKeyed) != 0;
  if (keyed != keys.keyed()) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": '", path, "' was written ",
                     keyed ? "with" : "without", " an HMAC key"));
  }
  if (!keyed) return ChainHasher::Create("");
  std::string key;
  if (h.hmac_key_id.empty()) {
    if (keys.legacy_key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          who, ": '", path,
          "' is chained under an HMAC key without id: give it as hmac_key"));
    }
    key = std::string(keys.legacy_key);
  } else if (keys.lookup == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": '", path, "' is chained under HMAC key '",
                     h.hmac_key_id, "', and no key lookup was given"));
  } else {
    absl::StatusOr<std::string> found = keys.lookup->Key(h.hmac_key_id);
    if (!found.ok()) {
      return absl::Status(
          found.status().code(),
          absl::StrCat(who, ": segment '", path,
                       "' is chained under HMAC key '", h.hmac_key_id,
                       "': ", found.status().message()));
    }
    if (found->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          who, ": segment '", path, "': the lookup gave HMAC key '",
          h.hmac_key_id, "' no bytes, which is never \"no key\""));
    }
    key = *std::move(found);
  }
  if (h.version == kFormatVersionV2) return ChainHasher::Create(key);
  const std::string chain_key =
      SegmentChainKey(key, data.substr(0, h.size - 4));
  if (chain_key.empty()) {
    return absl::InternalError(
        absl::StrCat(who, ": libcrypto failed to derive a chain key"));
  }
  return ChainHasher::Create(chain_key);
}

std::uint32_t FrameCrc(std::uint32_t length, absl::string_view payload,
                       const unsigned char* hash) {
  char len[4];
  PutU32(len, length);
  std::uint32_t crc = Crc32c(len, 4);
  crc = Crc32cExtend(crc, payload.data(), payload.size());
  return Crc32cExtend(crc, hash, 32);
}

namespace {

// One frame: the length word (the payload's size, with kSealBit for a
// seal), its CRC, the payload and the chain hash.
bool AppendFrameWithLengthWord(ChainHasher& hasher, const unsigned char* prev,
                               std::uint32_t length_word,
                               absl::string_view payload, std::string* out,
                               unsigned char* hash) {
  if (!hasher.Next(prev, payload, hash)) return false;
  const std::size_t at = out->size();
  out->resize(at + kFrameOverhead + payload.size());
  char* p = out->data() + at;
  PutU32(p, length_word);
  PutU32(p + 4, FrameCrc(length_word, payload, hash));
  std::memcpy(p + 8, payload.data(), payload.size());
  std::memcpy(p + 8 + payload.size(), hash, 32);
  return true;
}

}  // namespace

bool AppendFrame(ChainHasher& hasher, const unsigned char* prev,
                 absl::string_view payload, std::string* out,
                 unsigned char* hash) {
  return AppendFrameWithLengthWord(hasher, prev,
                                   static_cast<std::uint32_t>(payload.size()),
                                   payload, out, hash);
}

bool Sha256(absl::string_view bytes, Hash256* out) {
  unsigned int n = 0;
  return EVP_Digest(bytes.data(), bytes.size(), out->data(), &n, EVP_sha256(),
                    nullptr) == 1 &&
         n == 32;
}

std::string EncodeSealPayload(const SealRecord& seal) {
  std::string out(kSealPayloadSize, '\0');
  std::memcpy(
      out.data(),
      seal.version == kSealVersionWholeIndex ? kSealMagicV2 : kSealMagicV3, 8);
  PutU64(out.data() + 8, seal.records);
  PutU64(out.data() + 16, seal.next_sequence);
  std::memcpy(out.data() + 24, seal.index_digest.data(), 32);
  return out;
}

bool DecodeSealPayload(absl::string_view payload, SealRecord* seal) {
  if (payload.size() != kSealPayloadSize) return false;
  if (std::memcmp(payload.data(), kSealMagicV3, 8) == 0) {
    seal->version = kSealVersionIndexRoot;
  } else if (std::memcmp(payload.data(), kSealMagicV2, 8) == 0) {
    seal->version = kSealVersionWholeIndex;
  } else {
    return false;
  }
  seal->records = GetU64(payload.data() + 8);
  seal->next_sequence = GetU64(payload.data() + 16);
  std::memcpy(seal->index_digest.data(), payload.data() + 24, 32);
  return true;
}

bool AppendSealFrame(ChainHasher& hasher, const unsigned char* prev,
                     const SealRecord& seal, std::string* out,
                     unsigned char* hash) {
  const std::string payload = EncodeSealPayload(seal);
  return AppendFrameWithLengthWord(
      hasher, prev, kSealBit | static_cast<std::uint32_t>(payload.size()),
      payload, out, hash);
}

FrameStatus ReadFrame(absl::string_view data, std::uint64_t* offset,
                      FrameView* frame) {
  const std::uint64_t at = *offset;
  if (at >= data.size()) return FrameStatus::kEnd;
  const std::uint64_t left = data.size() - at;
  if (left < kFrameHeaderSize) return FrameStatus::kIncomplete;
  const char* p = data.data() + at;
  const std::uint32_t word = GetU32(p);
  const bool seal = (word & kSealBit) != 0;
  const std::uint32_t length = word & ~kSealBit;
  if (seal ? length != kSealPayloadSize : length > kMaxPayload) {
    return FrameStatus::kBadLength;
  }
  if (left < kFrameOverhead + length) return FrameStatus::kIncomplete;
  frame->offset = at;
  frame->payload = absl::string_view(p + 8, length);
  frame->hash = reinterpret_cast<const unsigned char*>(p + 8 + length);
  frame->crc_ok = GetU32(p + 4) == FrameCrc(word, frame->payload, frame->hash);
  frame->seal = seal;
  *offset = at + kFrameOverhead + length;
  return FrameStatus::kOk;
}

// ---------------------------------------------------------------------------
// Files

std::string SegmentFileName(std::uint64_t number) {
  return absl::StrFormat("audit-%016d.seg", number);
}
std::string IndexFileName(std::uint64_t number) {
  return absl::StrFormat("audit-%016d.idx", number);
}

namespace {

bool AllDigits(absl::string_view s, bool hex) {
  for (char c : s) {
    const bool ok = (c >= '0' && c <= '9') ||
                    (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
    if (!ok) return false;
  }
  return !s.empty();
}

// "audit-" + 16 decimal digits + `ext`; the number in `*n`.
bool ParseAuditName(absl::string_view name, absl::string_view ext,
                    std::uint64_t* n) {
  if (name.size() != 6 + 16 + ext.size() || !absl::StartsWith(name, "audit-") ||
      !absl::EndsWith(name, ext)) {
    return false;
  }
  const absl::string_view digits = name.substr(6, 16);
  if (!AllDigits(digits, /*hex=*/false)) return false;
  std::uint64_t v = 0;
  for (char c : digits) {
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (~std::uint64_t{0} - d) / 10) return false;
    v = v * 10 + d;
  }
  *n = v;
  return true;
}

}  // namespace

absl::StatusOr<AuditDirListing> ListAuditDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return ErrnoStatus(errno, "audit log: cannot open directory", dir);
  }
  AuditDirListing out;
  while (dirent* e = readdir(d)) {
    const absl::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    std::uint64_t n = 0;
    if (ParseAuditName(name, ".seg", &n)) {
      out.segments.push_back(n);
    } else if (ParseAuditName(name, ".idx", &n)) {
      out.indexes.push_back(n);
    } else if (name.size() == 26 + 5 + 16 &&
               (ParseAuditName(name.substr(0, 26), ".idx", &n) ||
                ParseAuditName(name.substr(0, 26), ".seg", &n)) &&
               name.substr(26, 5) == ".tmp-" &&
               AllDigits(name.substr(31), /*hex=*/true)) {
      out.temporaries.emplace_back(name);
    } else if (name == kRetentionRecordFile) {
      out.retention_record = true;
    } else if (name == kRetentionLockFile) {
    } else if (name.size() == kRetentionRecordFile.size() + 5 + 16 &&
               absl::StartsWith(name, kRetentionRecordFile) &&
               name.substr(kRetentionRecordFile.size(), 5) == ".tmp-" &&
               AllDigits(name.substr(kRetentionRecordFile.size() + 5),
                         /*hex=*/true)) {
      out.temporaries.emplace_back(name);
    } else {
      out.unexpected.emplace_back(name);
    }
  }
  closedir(d);
  std::sort(out.segments.begin(), out.segments.end());
  std::sort(out.indexes.begin(), out.indexes.end());
  std::sort(out.temporaries.begin(), out.temporaries.end());
  std::sort(out.unexpected.begin(), out.unexpected.end());
  return out;
}

absl::StatusOr<bool> FlockWithin(int fd, absl::Duration wait,
                                 absl::string_view what,
                                 const std::string& path) {
  const absl::Time deadline = absl::Now() + wait;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EWOULDBLOCK) return ErrnoStatus(err, what, path);
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

absl::StatusOr<int> LockLogDirectory(const std::string& dir,
                                     absl::Duration wait,
                                     absl::string_view holder_hint) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoStatus(errno, "audit log: cannot open directory", dir);
  }
  absl::StatusOr<bool> taken =
      FlockWithin(fd, wait, "audit log: cannot lock directory", dir);
  if (taken.ok() && *taken) return fd;
  close(fd);
  if (!taken.ok()) return taken.status();
  return absl::FailedPreconditionError(
      absl::StrCat("audit log: directory '", dir,
                   "' is held by another writer (another process, or another "
                   "AuditLog in this one); ",
                   holder_hint, " (waited ", absl::FormatDuration(wait), ")"));
}

absl::StatusOr<std::vector<std::uint64_t>> ListSegments(
    const std::string& dir) {
  ASSIGN_OR_RETURN(AuditDirListing listing, ListAuditDir(dir));
  return std::move(listing.segments);
}

// ---------------------------------------------------------------------------
// Index

std::uint64_t IndexKeyHash(std::uint8_t kind, absl::string_view key) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 0x100000001b3ull;
  };
  mix(kind);
  for (char c : key) mix(static_cast<unsigned char>(c));
  return h;
}

void SegmentIndex::Add(std::int64_t time, std::uint64_t offset,
                       const EventKeys& keys) {
  if (records == 0 || time < min_time) min_time = time;
  if (records == 0 || time > max_time) max_time = time;
  ++records;
  if (added_.empty()) added_.resize(256);
  if (offset < last_offset_) added_in_order_ = false;
  last_offset_ = offset;
  if (!has_last_accessor_ || keys.accessor != last_accessor_) {
    last_accessor_.assign(keys.accessor.data(), keys.accessor.size());
    last_accessor_hash_ = IndexKeyHash(kKeyAccessor, keys.accessor);
    has_last_accessor_ = true;
  }
  const std::uint64_t subject = IndexKeyHash(kKeySubject, keys.subject);
  added_[subject >> 56].emplace_back(subject, offset);
  added_[last_accessor_hash_ >> 56].emplace_back(last_accessor_hash_, offset);
  added_count_ += 2;
}

namespace {

using IndexEntry = std::pair<std::uint64_t, std::uint64_t>;

bool KeyLess(const IndexEntry& a, const IndexEntry& b) {
  return a.first < b.first;
}

// Sorts [lo, hi), whose entries are in the order added and whose keys
// agree above bit `shift + 8`, stably by key: a most-significant-byte
// radix sort through `scratch`, down to parts small enough for an
// insertion sort; a part whose keys are all equal (one subject's or
// accessor's entries) is already in order and is left alone.
void SortRunByKey(IndexEntry* lo, IndexEntry* hi, int shift,
                  std::vector<IndexEntry>& scratch) {
  const auto n = static_cast<std::size_t>(hi - lo);
  if (n < 2 || std::is_sorted(lo, hi, KeyLess)) return;
  if (n <= 32 || shift < 0) {
    for (IndexEntry* i = lo + 1; i < hi; ++i) {
      const IndexEntry v = *i;
      IndexEntry* j = i;
      for (; j > lo && (j - 1)->first > v.first; --j) *j = *(j - 1);
      *j = v;
    }
    return;
  }
  std::array<std::size_t, 257> start{};
  for (const IndexEntry* e = lo; e < hi; ++e) {
    ++start[((e->first >> shift) & 0xFF) + 1];
  }
  for (std::size_t b = 1; b <= 256; ++b) start[b] += start[b - 1];
  std::array<std::size_t, 256> at;
  std::copy(start.begin(), start.end() - 1, at.begin());
  if (scratch.size() < n) scratch.resize(n);
  for (const IndexEntry* e = lo; e < hi; ++e) {
    scratch[at[(e->first >> shift) & 0xFF]++] = *e;
  }
  std::copy(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(n),
            lo);
  for (std::size_t b = 0; b < 256; ++b) {
    SortRunByKey(lo + start[b], lo + start[b + 1], shift - 8, scratch);
  }
}

// Appends `run` (entries sharing the key's top byte, in the order added)
// to `out`, stably sorted by key.
void AppendSortedRun(const std::vector<IndexEntry>& run,
                     std::vector<IndexEntry>& out,
                     std::vector<IndexEntry>& scratch) {
  const std::size_t base = out.size();
  out.insert(out.end(), run.begin(), run.end());
  SortRunByKey(out.data() + base, out.data() + out.size(), 48, scratch);
}

}  // namespace

// Sorts into the order `std::sort` gives, (key hash, offset), in about
// linear time: the entries `Add` kept by their key's top byte, each run in
// the order added, are stably sorted by key run by run (a radix sort by
// the following bytes, in cache), and appended. As frames
// are added their offsets only grow, so each key's offsets stay in order.
// Anything else (offsets that went down, entries already decoded or
// pushed) falls back to `std::sort`.
void SegmentIndex::SortEntries() {
  if (added_count_ == 0) {
    if (!std::is_sorted(entries.begin(), entries.end())) {
      std::sort(entries.begin(), entries.end());
    }
    return;
  }
  const bool in_place = entries.empty() && added_in_order_;
  entries.reserve(entries.size() + added_count_);
  std::vector<IndexEntry> scratch;
  for (std::vector<IndexEntry>& run : added_) {
    if (in_place) {
      AppendSortedRun(run, entries, scratch);
    } else {
      entries.insert(entries.end(), run.begin(), run.end());
    }
    std::vector<IndexEntry>().swap(run);
  }
  added_count_ = 0;
  if (!in_place) std::sort(entries.begin(), entries.end());
}

namespace {

void EncodeIndexHeader(const IndexHeader& h, char* p) {
  std::memcpy(p, kIndexMagicV2, 8);
  PutU64(p + 8, h.segment_number);
  PutU64(p + 16, h.first_sequence);
  PutU64(p + 24, h.records);
  PutU64(p + 32, static_cast<std::uint64_t>(h.min_time));
  PutU64(p + 40, static_cast<std::uint64_t>(h.max_time));
  PutU64(p + 48, h.file_size);
  PutU64(p + 56, h.entries);
  PutU32(p + 64, h.block_entries);
  PutU32(p + 68, h.blocks);
}

}  // namespace

bool DecodeIndexHeader(absl::string_view b, IndexHeader* out) {
  if (b.size() < kIndexHeaderSize ||
      std::memcmp(b.data(), kIndexMagicV2, 8) != 0) {
    return false;
  }
  const char* p = b.data();
  IndexHeader h;
  h.segment_number = GetU64(p + 8);
  h.first_sequence = GetU64(p + 16);
  h.records = GetU64(p + 24);
  h.min_time = static_cast<std::int64_t>(GetU64(p + 32));
  h.max_time = static_cast<std::int64_t>(GetU64(p + 40));
  h.file_size = GetU64(p + 48);
  h.entries = GetU64(p + 56);
  h.block_entries = GetU32(p + 64);
  h.blocks = GetU32(p + 68);
  // Bounded so that no size below overflows: at most 2^59 bytes of entries.
  if (h.block_entries == 0 || h.block_entries > kMaxIndexBlockEntries ||
      h.entries > (std::uint64_t{1} << 55)) {
    return false;
  }
  const std::uint64_t blocks =
      (h.entries + h.block_entries - 1) / h.block_entries;
  if (blocks != h.blocks) return false;
  *out = h;
  return true;
}

bool DecodeIndexTable(absl::string_view b, const IndexHeader& header,
                      std::vector<IndexBlockRef>* out) {
  if (b.size() != std::uint64_t{header.blocks} * kIndexBlockRefSize) {
    return false;
  }
  out->clear();
  out->resize(header.blocks);
  const char* p = b.data();
  for (IndexBlockRef& ref : *out) {
    ref.first_key = GetU64(p);
    std::memcpy(ref.digest.data(), p + 8, 32);
    p += kIndexBlockRefSize;
  }
  return true;
}

void IndexBlocksForKey(const std::vector<IndexBlockRef>& table,
                       std::uint64_t key, std::uint32_t* first,
                       std::uint32_t* last) {
  // Blocks starting below `key`, then those starting at or below it.
  const auto below = std::lower_bound(
      table.begin(), table.end(), key,
      [](const IndexBlockRef& r, std::uint64_t k) { return r.first_key < k; });
  const auto upto = std::upper_bound(
      below, table.end(), key,
      [](std::uint64_t k, const IndexBlockRef& r) { return k < r.first_key; });
  const auto b = static_cast<std::uint32_t>(below - table.begin());
  *last = static_cast<std::uint32_t>(upto - table.begin());
  // The key's first entries may end the last block that starts below it.
  *first = b == 0 ? 0 : b - 1;
  if (*last == 0) *first = 0;
}

bool IndexSealDigest(absl::string_view bytes, Hash256* out,
                     std::uint32_t* seal_version) {
  IndexHeader h;
  if (DecodeIndexHeader(bytes, &h)) {
    if (bytes.size() < h.TableEnd()) return false;
    *seal_version = kSealVersionIndexRoot;
    return Sha256(bytes.substr(0, static_cast<std::size_t>(h.TableEnd())), out);
  }
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kIndexMagicV1, 8) == 0) {
    *seal_version = kSealVersionWholeIndex;
    return Sha256(bytes, out);
  }
  return false;
}

namespace {

IndexHeader HeaderFor(const SegmentIndex& index, std::uint64_t entries) {
  IndexHeader h;
  h.segment_number = index.segment_number;
  h.first_sequence = index.first_sequence;
  h.records = index.records;
  h.min_time = index.min_time;
  h.max_time = index.max_time;
  h.file_size = index.file_size;
  h.entries = entries;
  h.block_entries = kIndexBlockEntries;
  h.blocks = static_cast<std::uint32_t>((entries + kIndexBlockEntries - 1) /
                                        kIndexBlockEntries);
  return h;
}

}  // namespace

bool SegmentIndex::EncodeBlockTable(const IndexHeader& h, char* out) {
  EncodeIndexHeader(h, out);
  char* ref = out + kIndexHeaderSize;
  for (std::uint32_t i = 0; i < h.blocks; ++i, ref += kIndexBlockRefSize) {
    const auto at = static_cast<std::size_t>(h.BlockOffset(i));
    const auto n = static_cast<std::size_t>(h.BlockEntryCount(i));
    Hash256 digest;
    if (!Sha256(absl::string_view(out + at, n * kIndexEntrySize), &digest)) {
      return false;
    }
    // The block's first key: the first half of its first entry.
    std::memcpy(ref, out + at, 8);
    std::memcpy(ref + 8, digest.data(), 32);
  }
  return true;
}

std::string SegmentIndex::Encode() {
  SortEntries();
  const IndexHeader h = HeaderFor(*this, entries.size());
  std::string out(static_cast<std::size_t>(h.IndexFileSize()), '\0');
  char* p = out.data() + h.TableEnd();
  if constexpr (std::endian::native == std::endian::little &&
                sizeof(entries[0]) == kIndexEntrySize) {
    // The entries' bytes are the file's: two little-endian u64 each.
    if (!entries.empty()) {
      std::memcpy(p, entries.data(), entries.size() * kIndexEntrySize);
    }
  } else {
    for (const auto& [key, off] : entries) {
      PutU64(p, key);
      PutU64(p + 8, off);
      p += kIndexEntrySize;
    }
  }
  if (!EncodeBlockTable(h, out.data())) return std::string();
  return out;
}

std::string SegmentIndex::TakeEncoded() {
  ByteBuffer out;
  if (!TakeEncoded(&out)) return std::string();
  return std::string(out.view());
}

bool SegmentIndex::TakeEncoded(ByteBuffer* out) {
  using Entry = std::pair<std::uint64_t, std::uint64_t>;
  out->clear();
  if (!entries.empty() || !added_in_order_ ||
      std::endian::native != std::endian::little ||
      sizeof(Entry) != kIndexEntrySize) {
    const std::string encoded = Encode();
    std::vector<Entry>().swap(entries);
    out->Append(encoded);
    return !encoded.empty();
  }
  // As `SortEntries` does, run by run, but into the file's bytes. Every
  // byte of `out` is written below (header, table, entries): its growth
  // is not zero-filled, and its memory is the last seal's when recycled.
  const IndexHeader h = HeaderFor(*this, added_count_);
  out->ResizeUninitialized(static_cast<std::size_t>(h.IndexFileSize()));
  char* p = out->data() + h.TableEnd();
  for (std::vector<Entry>& run : added_) {
    if (run.empty()) continue;
    SortRunByKey(run.data(), run.data() + run.size(), 48, scratch_);
    std::memcpy(p, run.data(), run.size() * kIndexEntrySize);
    p += run.size() * kIndexEntrySize;
    run.clear();
  }
  added_count_ = 0;
  return EncodeBlockTable(h, out->data());
}

void SegmentIndex::Restart(std::uint64_t number, std::uint64_t first) {
  segment_number = number;
  first_sequence = first;
  records = 0;
  min_time = 0;
  max_time = 0;
  file_size = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>>().swap(entries);
  for (auto& run : added_) run.clear();
  added_count_ = 0;
  last_offset_ = 0;
  added_in_order_ = true;
  has_last_accessor_ = false;
}

std::string SegmentIndex::EncodeV1() {
  SortEntries();
  std::string out(8 + 6 * 8 + 8 + entries.size() * 16 + 4, '\0');
  char* p = out.data();
  std::memcpy(p, kIndexMagicV1, 8);
  PutU64(p + 8, segment_number);
  PutU64(p + 16, first_sequence);
  PutU64(p + 24, records);
  PutU64(p + 32, static_cast<std::uint64_t>(min_time));
  PutU64(p + 40, static_cast<std::uint64_t>(max_time));
  PutU64(p + 48, file_size);
  PutU64(p + 56, entries.size());
  p += 64;
  for (const auto& [h, off] : entries) {
    PutU64(p, h);
    PutU64(p + 8, off);
    p += 16;
  }
  PutU32(p, Crc32c(out.data(), out.size() - 4));
  return out;
}

namespace {

bool DecodeIndexV1(absl::string_view b, SegmentIndex* out) {
  if (b.size() < 68 || std::memcmp(b.data(), kIndexMagicV1, 8) != 0) {
    return false;
  }
  if (GetU32(b.data() + b.size() - 4) != Crc32c(b.data(), b.size() - 4)) {
    return false;
  }
  const char* p = b.data();
  out->segment_number = GetU64(p + 8);
  out->first_sequence = GetU64(p + 16);
  out->records = GetU64(p + 24);
  out->min_time = static_cast<std::int64_t>(GetU64(p + 32));
  out->max_time = static_cast<std::int64_t>(GetU64(p + 40));
  out->file_size = GetU64(p + 48);
  const std::uint64_t n = GetU64(p + 56);
  if (n != (b.size() - 68) / 16 || (b.size() - 68) % 16 != 0) return false;
  out->entries.clear();
  out->entries.reserve(static_cast<std::size_t>(n));
  p += 64;
  for (std::uint64_t i = 0; i < n; ++i, p += 16) {
    out->entries.emplace_back(GetU64(p), GetU64(p + 8));
  }
  return true;
}

bool DecodeIndexV2(absl::string_view b, SegmentIndex* out) {
  IndexHeader h;
  std::vector<IndexBlockRef> table;
  if (!DecodeIndexHeader(b, &h) || b.size() != h.IndexFileSize() ||
      !DecodeIndexTable(
          b.substr(kIndexHeaderSize,
                   static_cast<std::size_t>(h.TableEnd() - kIndexHeaderSize)),
          h, &table)) {
    return false;
  }
  for (std::uint32_t i = 0; i < h.blocks; ++i) {
    const absl::string_view block = b.substr(
        static_cast<std::size_t>(h.BlockOffset(i)),
        static_cast<std::size_t>(h.BlockEntryCount(i) * kIndexEntrySize));
    Hash256 digest;
    if (!Sha256(block, &digest) || digest != table[i].digest ||
        GetU64(block.data()) != table[i].first_key) {
      return false;
    }
  }
  out->segment_number = h.segment_number;
  out->first_sequence = h.first_sequence;
  out->records = h.records;
  out->min_time = h.min_time;
  out->max_time = h.max_time;
  out->file_size = h.file_size;
  out->entries.clear();
  out->entries.reserve(static_cast<std::size_t>(h.entries));
  for (const char* p = b.data() + h.TableEnd(); p < b.data() + b.size();
       p += kIndexEntrySize) {
    out->entries.emplace_back(GetU64(p), GetU64(p + 8));
  }
  return true;
}

}  // namespace

bool SegmentIndex::Decode(absl::string_view b, SegmentIndex* out) {
  return DecodeIndexV2(b, out) || DecodeIndexV1(b, out);
}

}  // namespace consentry::internal
