// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/core/subject_state.h"

#include <cstdint>
#include <limits>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"

namespace consentry::internal {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

TEST(SubjectStateTest, TimestampToNanosIsExactInRange) {
  EXPECT_EQ(TimestampToNanos(1'790'000'000, 5), 1'790'000'000'000'000'005);
  EXPECT_EQ(TimestampToNanos(-1, 999'999'999), -1);
  EXPECT_EQ(TimestampToNanos(0, 0), 0);
}

// Wire records may carry any seconds and nanos; the conversion saturates
// instead of overflowing (UBSan would stop the sanitizer run).
TEST(SubjectStateTest, TimestampToNanosSaturatesOutOfRange) {
  EXPECT_EQ(TimestampToNanos(kMax, 999'999'999), kMax);
  EXPECT_EQ(TimestampToNanos(kMin, -999'999'999), kMin);
  EXPECT_EQ(TimestampToNanos(kMax / 1'000'000'000, 999'999'999), kMax);
  EXPECT_EQ(TimestampToNanos(kMin / 1'000'000'000, -999'999'999), kMin);
}

TEST(SubjectStateTest, FarFutureExpiryNeverExpiresAndFarPastHasExpired) {
  std::shared_ptr<const CompiledPolicy> policy = testing::DefaultPolicy();
  ASSERT_NE(policy, nullptr);
  v1::ConsentRecord r;
  r.set_subject_id("s");
  auto* future = r.add_purposes();
  future->set_purpose("marketing");
  future->set_state(v1::CONSENT_STATE_GIVEN);
  future->mutable_expiry()->set_seconds(kMax);
  auto* past = r.add_purposes();
  past->set_purpose("statistics");
  past->set_state(v1::CONSENT_STATE_GIVEN);
  past->mutable_expiry()->set_seconds(kMin);
  const SubjectState s =
      CompileSubjectState(*policy, r, absl::FromUnixSeconds(1'790'000'000));
  const PurposeIndex marketing = *policy->FindPurpose("marketing");
  const PurposeIndex statistics = *policy->FindPurpose("statistics");
  EXPECT_TRUE(PurposeSet::FromBits(s.profile.given).Contains(marketing));
  EXPECT_TRUE(PurposeSet::FromBits(s.profile.expired).Contains(statistics));
  EXPECT_FALSE(PurposeSet::FromBits(s.profile.given).Contains(statistics));
}

// The kind is one bit beside the flags; an unstated or unknown kind is the
// unspecified bit (fail closed where the policy restricts kinds).
TEST(SubjectStateTest, SubjectKindCompilesToOneKindBit) {
  std::shared_ptr<const CompiledPolicy> policy = testing::DefaultPolicy();
  ASSERT_NE(policy, nullptr);
  const auto kind_bits = [&](int kind) {
    v1::ConsentRecord r;
    r.set_subject_id("s");
    r.set_subject_kind(static_cast<v1::SubjectKind>(kind));
    const SubjectState s = CompileSubjectState(*policy, r, absl::UnixEpoch());
    return (s.profile.flags >> SubjectProfile::kKindShift) & 0xFF;
  };
  EXPECT_EQ(kind_bits(v1::SUBJECT_KIND_UNSPECIFIED), 1u);
  EXPECT_EQ(kind_bits(v1::SUBJECT_KIND_CUSTOMER), 2u);
  EXPECT_EQ(kind_bits(v1::SUBJECT_KIND_BUSINESS_PARTNER_STAFF), 4u);
  EXPECT_EQ(kind_bits(v1::SUBJECT_KIND_EMPLOYEE), 8u);
  EXPECT_EQ(kind_bits(99), 1u);
  EXPECT_EQ(kind_bits(-5), 1u);
}

}  // namespace
}  // namespace consentry::internal
