// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/internal/audit_format.h"

#include <string>

#include "consentry/v1/audit.pb.h"
#include "gtest/gtest.h"

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
  std::string bytes = index.Encode();
  SegmentIndex back;
  ASSERT_TRUE(SegmentIndex::Decode(bytes, &back));
  EXPECT_EQ(back.records, 2u);
  EXPECT_EQ(back.min_time, 10);
  EXPECT_EQ(back.max_time, 50);
  EXPECT_EQ(back.entries.size(), 4u);
  bytes[20] = static_cast<char>(bytes[20] ^ 1);
  EXPECT_FALSE(SegmentIndex::Decode(bytes, &back));
  EXPECT_FALSE(SegmentIndex::Decode("short", &back));
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

}  // namespace
}  // namespace consentry::internal
