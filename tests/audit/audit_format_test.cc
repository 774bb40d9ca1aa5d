// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/audit/audit_format.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "consentry/v1/audit.pb.h"
#include "gtest/gtest.h"
#include "src/audit/audit_compact.h"

namespace consentry::internal {
namespace {

std::string Encode(const AuditEvent& e, std::uint64_t sequence) {
  std::string out(EncodedEventSize(e) + kMaxSequenceFieldSize, '\0');
  char* end = EncodeEvent(e, out.data());
  EXPECT_EQ(end - out.data(), static_cast<std::ptrdiff_t>(EncodedEventSize(e)));
  end = EncodeSequenceField(sequence, end);
  out.resize(static_cast<std::size_t>(end - out.data()));
  return out;
}

TEST(AuditFormatTest, EncodingEqualsProtobufSerialization) {
  const std::string long_ref(300, 'r');  // a two-byte length
  AuditEvent e;
  e.time_unix_nanos = 1'790'000'000'123'456'789;
  e.action = AuditAction::kProvision;
  e.accessor = "billing-service";
  e.subject = "s-1";
  e.category = "measurement";
  e.purpose = "billing.calculation";
  e.policy_version = "2026-11-01";
  e.record_ref = long_ref;
  e.recipient = "contractor-a";
  e.request_id = "req-9";
  e.reason = Reason::kAllowedConsent;
  e.revision = -5;  // ten-byte varint
  e.shadow = true;

  v1::AuditEvent m;
  m.set_time_unix_nanos(e.time_unix_nanos);
  m.set_action(v1::AUDIT_ACTION_PROVISION);
  m.set_accessor("billing-service");
  m.set_subject("s-1");
  m.set_category("measurement");
  m.set_purpose("billing.calculation");
  m.set_allowed(true);
  m.set_reason(v1::REASON_ALLOWED_CONSENT);
  m.set_record_ref(std::string(300, 'r'));
  m.set_consent_revision(-5);
  m.set_policy_version("2026-11-01");
  m.set_shadow(true);
  m.set_recipient("contractor-a");
  m.set_request_id("req-9");
  m.set_sequence(123456);
  EXPECT_EQ(Encode(e, 123456), m.SerializeAsString());
}

TEST(AuditFormatTest, DefaultsAreOmittedAsProtobufDoes) {
  AuditEvent e;
  e.subject = "s";
  e.reason = Reason::kNoConsent;
  v1::AuditEvent m;
  m.set_subject("s");
  m.set_reason(v1::REASON_NO_CONSENT);
  EXPECT_EQ(Encode(e, 0), m.SerializeAsString());
}

TEST(AuditFormatTest, ScanAndDecodeRoundTrip) {
  AuditEvent e;
  e.time_unix_nanos = 42;
  e.accessor = "a";
  e.subject = "s-2";
  e.purpose = "support.inquiry";
  e.reason = Reason::kConsentWithdrawn;
  e.revision = 7;
  const std::string bytes = Encode(e, 99);
  EventKeys keys;
  ASSERT_TRUE(ScanEventKeys(bytes, &keys));
  EXPECT_EQ(keys.time_unix_nanos, 42);
  EXPECT_EQ(keys.accessor, "a");
  EXPECT_EQ(keys.subject, "s-2");
  EXPECT_EQ(keys.sequence, 99u);
  OwnedAuditEvent o;
  ASSERT_TRUE(DecodeEvent(bytes, &o));
  EXPECT_EQ(o.purpose, "support.inquiry");
  EXPECT_EQ(o.reason, Reason::kConsentWithdrawn);
  EXPECT_EQ(o.revision, 7);
  EXPECT_EQ(o.sequence, 99u);
}

TEST(AuditFormatTest, RequestKindIsItsOwnFieldAndBatchCountsAreRecords) {
  AuditEvent e;
  e.action = AuditAction::kRequest;
  e.subject = "s-3";
  e.purpose = "received";
  e.request_kind = "disclosure";
  v1::AuditEvent m;
  m.set_action(v1::AUDIT_ACTION_REQUEST);
  m.set_subject("s-3");
  m.set_purpose("received");
  m.set_request_kind("disclosure");
  const std::string bytes = Encode(e, 0);
  EXPECT_EQ(bytes, m.SerializeAsString());
  OwnedAuditEvent o;
  ASSERT_TRUE(DecodeEvent(bytes, &o));
  EXPECT_EQ(o.request_kind, "disclosure");
  EXPECT_EQ(o.category, "");

  AuditEvent batch;
  batch.action = AuditAction::kBatch;
  batch.records_included = 820;
  batch.records_excluded = 380;
  v1::AuditEvent mb;
  mb.set_action(v1::AUDIT_ACTION_BATCH);
  mb.set_records_included(820);  // field 16, as `subjects_included` was
  mb.set_records_excluded(380);  // field 17
  EXPECT_EQ(Encode(batch, 0), mb.SerializeAsString());
}

// A purge of provision records keeps its counts and the removed ids: the
// event is all that remains of them.
TEST(AuditFormatTest, RecordsPurgedKeepsCountsAndIds) {
  AuditEvent e;
  e.action = AuditAction::kRecordsPurged;
  e.accessor = "privacy-officer";
  e.reason = Reason::kRetentionExpired;
  e.records_included = 3;
  e.records_excluded = 0;
  e.detail = "provisions: prov-1,prov-2; receipts: rcpt-3";
  v1::AuditEvent m;
  m.set_action(v1::AUDIT_ACTION_RECORDS_PURGED);
  m.set_accessor("privacy-officer");
  m.set_reason(v1::REASON_RETENTION_EXPIRED);
  m.set_records_included(3);
  m.set_records_excluded(0);
  m.set_detail("provisions: prov-1,prov-2; receipts: rcpt-3");
  const std::string bytes = Encode(e, 0);
  // Field 17 is written even when 0, as for batches; protobuf omits it.
  v1::AuditEvent parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.SerializeAsString(), m.SerializeAsString());
  OwnedAuditEvent o;
  ASSERT_TRUE(DecodeEvent(bytes, &o));
  EXPECT_EQ(o.action, AuditAction::kRecordsPurged);
  EXPECT_EQ(o.records_included, 3);
  EXPECT_EQ(o.records_excluded, 0);
  EXPECT_EQ(o.detail, "provisions: prov-1,prov-2; receipts: rcpt-3");
}

// A log written before `request_kind` existed kept a request's kind in
// `category`: read back, it is in `request_kind`, as a new log has it.
TEST(AuditFormatTest, OldRequestEventReadsItsKindFromCategory) {
  v1::AuditEvent m;
  m.set_action(v1::AUDIT_ACTION_REQUEST);
  m.set_subject("s-4");
  m.set_category("correction");
  m.set_purpose("executed");
  m.set_sequence(9);
  OwnedAuditEvent o;
  ASSERT_TRUE(DecodeEvent(m.SerializeAsString(), &o));
  EXPECT_EQ(o.request_kind, "correction");
  EXPECT_EQ(o.category, "");
  EXPECT_EQ(o.purpose, "executed");
  // Other actions keep their category.
  m.set_action(v1::AUDIT_ACTION_READ);
  ASSERT_TRUE(DecodeEvent(m.SerializeAsString(), &o));
  EXPECT_EQ(o.category, "correction");
  EXPECT_EQ(o.request_kind, "");
}

TEST(AuditFormatTest, ScanRejectsMalformedBytes) {
  EventKeys keys;
  EXPECT_FALSE(ScanEventKeys(std::string("\x22\x10s", 3), &keys));  // too long
  EXPECT_FALSE(ScanEventKeys(std::string("\x08\xFF", 2), &keys));  // cut varint
  EXPECT_FALSE(ScanEventKeys(std::string("\x0B", 1), &keys));      // group
}

TEST(AuditFormatTest, IndexRoundTripsAndRejectsDamage) {
  SegmentIndex index;
  index.segment_number = 3;
  index.first_sequence = 100;
  EventKeys k;
  k.subject = "s-1";
  k.accessor = "a-1";
  index.Add(50, 68, k);
  index.Add(10, 200, k);
  index.file_size = 400;
  for (const bool v1 : {false, true}) {
    SCOPED_TRACE(v1 ? "CNSIDX01" : "CNSIDX02");
    std::string bytes = v1 ? index.EncodeV1() : index.Encode();
    SegmentIndex back;
    ASSERT_TRUE(SegmentIndex::Decode(bytes, &back));
    EXPECT_EQ(back.segment_number, 3u);
    EXPECT_EQ(back.first_sequence, 100u);
    EXPECT_EQ(back.records, 2u);
    EXPECT_EQ(back.min_time, 10);
    EXPECT_EQ(back.max_time, 50);
    EXPECT_EQ(back.file_size, 400u);
    EXPECT_EQ(back.entries, index.entries);
    // An entry's byte (version 2: in the block, under its SHA-256).
    bytes[bytes.size() - 6] = static_cast<char>(bytes[bytes.size() - 6] ^ 1);
    EXPECT_FALSE(SegmentIndex::Decode(bytes, &back));
    bytes.pop_back();
    EXPECT_FALSE(SegmentIndex::Decode(bytes, &back));
  }
  SegmentIndex unused;
  EXPECT_FALSE(SegmentIndex::Decode("short", &unused));
}

// 5,000 events make 10,000 entries: five blocks of 2,048, the last 1,808.
SegmentIndex ManyEntries() {
  SegmentIndex index;
  index.segment_number = 7;
  index.first_sequence = 1000;
  index.file_size = 1 << 20;
  for (int i = 0; i < 5000; ++i) {
    const std::string s = "s-" + std::to_string(i % 97);
    const std::string a = "a-" + std::to_string(i % 3);
    EventKeys k;
    k.subject = s;
    k.accessor = a;
    index.Add(i, 68 + 100 * static_cast<std::uint64_t>(i), k);
  }
  return index;
}

TEST(AuditFormatTest, BlockedIndexHasAHeaderATableAndHashedBlocks) {
  SegmentIndex index = ManyEntries();
  const std::string bytes = index.Encode();
  IndexHeader h;
  ASSERT_TRUE(DecodeIndexHeader(bytes, &h));
  EXPECT_EQ(h.segment_number, 7u);
  EXPECT_EQ(h.records, 5000u);
  EXPECT_EQ(h.entries, 10000u);
  EXPECT_EQ(h.block_entries, kIndexBlockEntries);
  ASSERT_EQ(h.blocks, 5u);
  EXPECT_EQ(h.BlockEntryCount(4), 10000u - 4 * 2048u);
  EXPECT_EQ(bytes.size(), h.IndexFileSize());
  std::vector<IndexBlockRef> table;
  ASSERT_TRUE(
      DecodeIndexTable(absl::string_view(bytes).substr(
                           kIndexHeaderSize, h.TableEnd() - kIndexHeaderSize),
                       h, &table));
  for (std::uint32_t i = 0; i < h.blocks; ++i) {
    const absl::string_view block = absl::string_view(bytes).substr(
        h.BlockOffset(i), h.BlockEntryCount(i) * kIndexEntrySize);
    Hash256 digest;
    ASSERT_TRUE(Sha256(block, &digest));
    EXPECT_EQ(digest, table[i].digest) << "block " << i;
    EXPECT_EQ(GetU64(block.data()), table[i].first_key);
  }
  // The seal binds the root: header and table, not the blocks.
  Hash256 root;
  Hash256 prefix;
  std::uint32_t version = 0;
  ASSERT_TRUE(IndexSealDigest(bytes, &root, &version));
  EXPECT_EQ(version, kSealVersionIndexRoot);
  ASSERT_TRUE(
      Sha256(absl::string_view(bytes).substr(0, h.TableEnd()), &prefix));
  EXPECT_EQ(root, prefix);
  const std::string v1 = index.EncodeV1();
  ASSERT_TRUE(IndexSealDigest(v1, &root, &version));
  EXPECT_EQ(version, kSealVersionWholeIndex);
  ASSERT_TRUE(Sha256(v1, &prefix));
  EXPECT_EQ(root, prefix);
  // Deterministic: the order events were added in does not matter.
  SegmentIndex reversed = ManyEntries();
  std::reverse(reversed.entries.begin(), reversed.entries.end());
  EXPECT_EQ(reversed.Encode(), bytes);
}

TEST(AuditFormatTest, BlocksForAKeyCoverEveryBlockHoldingIt) {
  SegmentIndex index = ManyEntries();
  const std::string bytes = index.Encode();
  IndexHeader h;
  ASSERT_TRUE(DecodeIndexHeader(bytes, &h));
  std::vector<IndexBlockRef> table;
  ASSERT_TRUE(
      DecodeIndexTable(absl::string_view(bytes).substr(
                           kIndexHeaderSize, h.TableEnd() - kIndexHeaderSize),
                       h, &table));
  // For every key (and one below and above all): the blocks named are
  // exactly those holding its entries, contiguous.
  std::vector<std::uint64_t> keys = {0, ~std::uint64_t{0}};
  for (const auto& e : index.entries) keys.push_back(e.first);
  bool spans = false;
  for (const std::uint64_t key : keys) {
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    IndexBlocksForKey(table, key, &first, &last);
    std::uint32_t lo = h.blocks;
    std::uint32_t hi = 0;
    for (std::size_t i = 0; i < index.entries.size(); ++i) {
      if (index.entries[i].first != key) continue;
      const auto b = static_cast<std::uint32_t>(i / kIndexBlockEntries);
      lo = std::min(lo, b);
      hi = std::max(hi, b + 1);
    }
    if (hi == 0) continue;  // not in the index
    EXPECT_LE(first, lo) << key;
    EXPECT_GE(last, hi) << key;
    EXPECT_LE(last - first, hi - lo + 1) << key;  // at most one block more
    spans = spans || hi - lo > 1;
  }
  // The accessors' 5,000 entries each span several blocks.
  EXPECT_TRUE(spans);
}

TEST(AuditFormatTest, IndexHeadersWithInconsistentCountsAreRefused) {
  SegmentIndex index = ManyEntries();
  const std::string bytes = index.Encode();
  IndexHeader h;
  ASSERT_TRUE(DecodeIndexHeader(bytes, &h));
  auto with = [&](std::size_t at, std::uint64_t v, int width) {
    std::string b = bytes;
    if (width == 8) {
      PutU64(b.data() + at, v);
    } else {
      PutU32(b.data() + at, static_cast<std::uint32_t>(v));
    }
    return b;
  };
  EXPECT_FALSE(DecodeIndexHeader(with(64, 0, 4), &h));  // no entries/block
  EXPECT_FALSE(DecodeIndexHeader(with(64, 1u << 21, 4), &h));  // too many
  EXPECT_FALSE(DecodeIndexHeader(with(68, 4, 4), &h));         // blocks
  EXPECT_FALSE(DecodeIndexHeader(with(56, ~0ull, 8), &h));     // entries
  EXPECT_FALSE(DecodeIndexHeader(bytes.substr(0, 71), &h));
  SegmentIndex back;
  // A table entry's first key that is not its block's first entry.
  std::string b = bytes;
  b[kIndexHeaderSize] = static_cast<char>(b[kIndexHeaderSize] ^ 1);
  EXPECT_FALSE(SegmentIndex::Decode(b, &back));
  // The unaltered index decodes.
  EXPECT_TRUE(SegmentIndex::Decode(bytes, &back));
}

TEST(CopyShortTest, CopiesEveryLengthExactlyAndNothingBeyond) {
  std::string src;
  for (int i = 0; i < 48; ++i) src.push_back(static_cast<char>('a' + i % 26));
  for (std::size_t n = 0; n <= 40; ++n) {
    std::string dst(48, '#');
    CopyShort(dst.data(), src.data(), n);
    EXPECT_EQ(dst.substr(0, n), src.substr(0, n)) << n;
    EXPECT_EQ(dst.substr(n), std::string(48 - n, '#')) << n;
  }
}

// --- compact lane records (audit_compact.h)

// Encodes `d` as the audit log does and decodes it again.
CompactDecision CompactRoundTrip(const CompactDecision& d, bool* short_form,
                                 std::string* storage) {
  *short_form = CompactFitsShort(d);
  const std::size_t size = CompactSize(d, *short_form);
  // Guard bytes on both sides: the encoder writes exactly `size` bytes.
  storage->assign(size + 16, '\x5a');
  char* end = EncodeCompact(d, *short_form, storage->data() + 8);
  EXPECT_EQ(end, storage->data() + 8 + size);
  EXPECT_EQ(storage->substr(0, 8), std::string(8, '\x5a'));
  EXPECT_EQ(storage->substr(8 + size), std::string(8, '\x5a'));
  CompactDecision out;
  EXPECT_TRUE(DecodeCompact(absl::string_view(storage->data() + 8, size),
                            CompactFlags(d, *short_form), &out));
  return out;
}

void ExpectSame(const CompactDecision& a, const CompactDecision& b) {
  EXPECT_EQ(a.time_unix_nanos, b.time_unix_nanos);
  EXPECT_EQ(a.revision, b.revision);
  EXPECT_EQ(a.policy_slot, b.policy_slot);
  EXPECT_EQ(a.accessor, b.accessor);
  EXPECT_EQ(a.purpose, b.purpose);
  EXPECT_EQ(a.category, b.category);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.shadow, b.shadow);
  EXPECT_EQ(a.subject, b.subject);
  EXPECT_EQ(a.record_ref, b.record_ref);
}

TEST(AuditCompactTest, EveryFieldRoundTripsAtItsBoundaries) {
  const std::string chars(kCompactMaxString, 'x');
  std::string text;
  for (std::size_t i = 0; i < kCompactMaxString; ++i) {
    text.push_back(static_cast<char>('a' + i % 26));
  }
  const std::vector<std::int64_t> times = {
      0,
      1,
      1'790'000'000'123'456'789,
      std::numeric_limits<std::int64_t>::max(),
      -1,
      std::numeric_limits<std::int64_t>::min()};
  const std::vector<Revision> revisions = {
      0, 1, 0xFFFFFFFFll, 0x100000000ll, std::numeric_limits<Revision>::max(),
      -1};
  const std::vector<std::uint32_t> slots = {0, 1, 31, 32, 1000, 0xFFFFFFFFu};
  const std::vector<std::size_t> lengths = {0,  1,   2,   3,   7,   8,    9,
                                            12, 15,  16,  17,  24,  31,   32,
                                            33, 254, 255, 256, 257, 4095, 4096};
  std::string storage;
  int cases = 0;
  for (std::int64_t time : times) {
    for (Revision revision : revisions) {
      for (std::uint32_t slot : slots) {
        CompactDecision d;
        d.time_unix_nanos = time;
        d.revision = revision;
        d.policy_slot = slot;
        d.accessor = static_cast<AccessorIndex>(slot * 7919u);
        d.purpose = static_cast<PurposeIndex>(slot + 3);
        d.category = static_cast<CategoryIndex>(255 - slot % 256);
        d.reason = static_cast<Reason>(cases % 256);
        d.shadow = cases % 2 == 1;
        d.subject = absl::string_view(text).substr(0, 9);
        d.record_ref = "";
        bool short_form;
        ExpectSame(CompactRoundTrip(d, &short_form, &storage), d);
        EXPECT_EQ(short_form,
                  revision >= 0 && revision <= 0xFFFFFFFFll && slot <= 31);
        ++cases;
      }
    }
  }
  for (std::size_t subject : lengths) {
    for (std::size_t ref : lengths) {
      for (Reason reason : {Reason::kUnspecified, Reason::kAllowedConsent,
                            static_cast<Reason>(255)}) {
        for (bool shadow : {false, true}) {
          CompactDecision d;
          d.time_unix_nanos = 1'790'000'000'000'000'000 +
                              static_cast<std::int64_t>(subject * 1000 + ref);
          d.revision = static_cast<Revision>(subject);
          d.policy_slot = static_cast<std::uint32_t>(ref % 32);
          d.accessor = 0xFFFF;
          d.purpose = 0xFF;
          d.category = 0xFF;
          d.reason = reason;
          d.shadow = shadow;
          d.subject = absl::string_view(text).substr(0, subject);
          d.record_ref = absl::string_view(chars).substr(0, ref);
          bool short_form;
          ExpectSame(CompactRoundTrip(d, &short_form, &storage), d);
          EXPECT_EQ(short_form, ref <= 255);
          EXPECT_EQ(CompactSize(d, short_form),
                    (short_form ? 16u : 32u) + subject + ref);
        }
      }
    }
  }
}

TEST(AuditCompactTest, ATypicalReadIsFortyBytesInTheLane) {
  CompactDecision d;
  d.time_unix_nanos = 1'790'000'000'000'000'000;
  d.revision = 4096;
  d.subject = "m10004095";  // 9 bytes
  ASSERT_TRUE(CompactFitsShort(d));
  const std::size_t size = CompactSize(d, true);
  EXPECT_EQ(AuditLane::kHeaderSize + ((size + 7) & ~std::size_t{7}), 40u);
  d.subject = "subject-00000016";  // 16 bytes: still 40
  EXPECT_EQ(
      AuditLane::kHeaderSize + ((CompactSize(d, true) + 7) & ~std::size_t{7}),
      40u);
}

TEST(AuditCompactTest, MalformedRecordsAreRejected) {
  CompactDecision d;
  d.subject = "subject";
  d.record_ref = "ref";
  std::string bytes(64, '\0');
  CompactDecision out;
  // Short form: the payload is shorter than its header plus the reference
  // length the flags give.
  const std::uint32_t short_flags = CompactFlags(d, true);
  char* end = EncodeCompact(d, true, bytes.data());
  const auto size = static_cast<std::size_t>(end - bytes.data());
  EXPECT_TRUE(
      DecodeCompact(absl::string_view(bytes.data(), size), short_flags, &out));
  EXPECT_FALSE(
      DecodeCompact(absl::string_view(bytes.data(), 18), short_flags, &out));
  EXPECT_FALSE(
      DecodeCompact(absl::string_view(bytes.data(), 15), short_flags, &out));
  // Wide form: the lengths must add up exactly.
  const std::uint32_t wide_flags = CompactFlags(d, false);
  end = EncodeCompact(d, false, bytes.data());
  const auto wide_size = static_cast<std::size_t>(end - bytes.data());
  EXPECT_TRUE(DecodeCompact(absl::string_view(bytes.data(), wide_size),
                            wide_flags, &out));
  EXPECT_FALSE(DecodeCompact(absl::string_view(bytes.data(), wide_size - 1),
                             wide_flags, &out));
  EXPECT_FALSE(DecodeCompact(absl::string_view(bytes.data(), wide_size + 1),
                             wide_flags, &out));
  EXPECT_FALSE(
      DecodeCompact(absl::string_view(bytes.data(), 31), wide_flags, &out));
}

// The chain hash computed with libcrypto's block functions equals
// libcrypto's EVP SHA-256 of prev || payload, and, keyed, its HMAC-SHA256,
// for keys shorter than, as long as and longer than the block (a longer
// key is replaced by its digest) and payloads across block boundaries.
TEST(ChainHasherTest, EqualsLibcryptosDigestAndMac) {
  std::mt19937 rng(20261205);
  auto bytes = [&rng](std::size_t n) {
    std::string b(n, '\0');
    for (char& c : b) c = static_cast<char>(rng() & 0xFF);
    return b;
  };
  for (std::size_t key_size : {0u, 1u, 32u, 63u, 64u, 65u, 130u}) {
    const std::string key = bytes(key_size);
    auto hasher = ChainHasher::Create(key);
    ASSERT_TRUE(hasher.ok()) << hasher.status();
    EXPECT_EQ((*hasher)->keyed(), key_size > 0);
    for (std::size_t n : {0u, 1u, 23u, 24u, 55u, 56u, 64u, 119u, 120u, 300u}) {
      const std::string prev = bytes(32);
      const std::string payload = bytes(n);
      unsigned char got[32];
      ASSERT_TRUE((*hasher)->Next(
          reinterpret_cast<const unsigned char*>(prev.data()), payload, got));
      const std::string message = prev + payload;
      unsigned char want[EVP_MAX_MD_SIZE];
      unsigned int want_size = 0;
      if (key.empty()) {
        ASSERT_EQ(EVP_Digest(message.data(), message.size(), want, &want_size,
                             EVP_sha256(), nullptr),
                  1);
      } else {
        ASSERT_NE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), want, &want_size),
                  nullptr);
      }
      ASSERT_EQ(want_size, 32u);
      EXPECT_EQ(std::string(reinterpret_cast<char*>(got), 32),
                std::string(reinterpret_cast<char*>(want), 32))
          << "key of " << key_size << " bytes, payload of " << n;
    }
  }
}

// The chain pads an event's message itself and absorbs it in one call
// (up to four blocks); every length around and past that, and every
// position of the padding in a block, must give libcrypto's digest and MAC.
TEST(ChainHasherTest, EqualsLibcryptosForEveryPayloadLength) {
  std::mt19937 rng(7);
  auto bytes = [&rng](std::size_t n) {
    std::string b(n, '\0');
    for (char& c : b) c = static_cast<char>(rng() & 0xFF);
    return b;
  };
  for (std::size_t key_size : {0u, 20u, 64u}) {
    const std::string key = bytes(key_size);
    auto hasher = ChainHasher::Create(key);
    ASSERT_TRUE(hasher.ok()) << hasher.status();
    for (std::size_t n = 0; n <= 300; ++n) {
      const std::string prev = bytes(32);
      const std::string payload = bytes(n);
      unsigned char got[32];
      ASSERT_TRUE((*hasher)->Next(
          reinterpret_cast<const unsigned char*>(prev.data()), payload, got));
      const std::string message = prev + payload;
      unsigned char want[EVP_MAX_MD_SIZE];
      unsigned int want_size = 0;
      if (key.empty()) {
        ASSERT_EQ(EVP_Digest(message.data(), message.size(), want, &want_size,
                             EVP_sha256(), nullptr),
                  1);
      } else {
        ASSERT_NE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), want, &want_size),
                  nullptr);
      }
      ASSERT_EQ(std::string(reinterpret_cast<char*>(got), 32),
                std::string(reinterpret_cast<char*>(want), 32))
          << "key of " << key_size << " bytes, payload of " << n;
    }
  }
}

}  // namespace
}  // namespace consentry::internal
