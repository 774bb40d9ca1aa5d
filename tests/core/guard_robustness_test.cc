// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Robustness of the Guard with unusual but legal inputs and with stores that
// return odd records: no crash (every case also runs under ASan+UBSan), and
// every doubtful case fails closed.

#include <memory>
#include <string>
#include <vector>

#include "consentry/consent.h"
#include "consentry/guard.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::DefaultPolicy;
using ::consentry::testing::GuardFixture;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

class GuardRobustnessTest : public GuardFixture {};

// Ids longer than the cache holds (but within what a store accepts) are
// checked from the store every time; a withdrawal is enforced all the same.
TEST_F(GuardRobustnessTest, OverlongSubjectIdIsEnforcedWithoutTheCache) {
  const std::string subject(kMaxSubjectIdBytes, 'x');
  Set(subject, "statistics", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(CheckReason("statistics-job", "statistics.measurement", subject,
                        "measurement"),
            Reason::kAllowedConsent);
  Set(subject, "statistics", v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_EQ(CheckReason("statistics-job", "statistics.measurement", subject,
                        "measurement"),
            Reason::kConsentWithdrawn);
}

// A check may name any bytes (a store never holds an id with NUL or one
// that is not UTF-8): ids differing after a NUL, or not UTF-8, are distinct
// subjects, and none borrows the consent of a stored one.
TEST_F(GuardRobustnessTest, BinarySubjectIdsAreDistinct) {
  const std::string a("m"), b("m\0b", 3), c("\xff\xfe", 2);
  Set(a, "statistics", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(
      CheckReason("statistics-job", "statistics.measurement", a, "measurement"),
      Reason::kAllowedConsent);
  EXPECT_EQ(
      CheckReason("statistics-job", "statistics.measurement", b, "measurement"),
      Reason::kNoConsent);
  EXPECT_EQ(
      CheckReason("statistics-job", "statistics.measurement", c, "measurement"),
      Reason::kNoConsent);
}

TEST_F(GuardRobustnessTest, EmptySubjectIdHasNoConsent) {
  EXPECT_EQ(CheckReason("statistics-job", "statistics.measurement", "",
                        "measurement"),
            Reason::kNoConsent);
}

// A store that answers with a fixed record, whatever subject is asked for,
// as a buggy or corrupted store might.
class FixedRecordStore final : public ConsentStore {
 public:
  explicit FixedRecordStore(v1::ConsentRecord r) : record_(std::move(r)) {}
  absl::StatusOr<v1::ConsentRecord> Get(absl::string_view) override {
    return record_;
  }
  absl::StatusOr<Revision> Apply(const v1::ConsentChange&) override {
    return absl::UnimplementedError("read-only");
  }
  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSince(Revision,
                                                              int) override {
    return std::vector<v1::ConsentRecord>{};
  }
  absl::StatusOr<Revision> LatestRevision() override {
    return record_.revision();
  }
  std::unique_ptr<Subscription> Watch(ConsentListener) override {
    return std::make_unique<Subscription>();
  }

 private:
  v1::ConsentRecord record_;
};

v1::ConsentRecord GivenRecord(const std::string& subject, Revision revision) {
  v1::ConsentRecord r;
  r.set_subject_id(subject);
  r.set_revision(revision);
  v1::PurposeConsent* pc = r.add_purposes();
  pc->set_purpose("statistics");
  pc->set_state(v1::CONSENT_STATE_GIVEN);
  return r;
}

// Another subject's consent must never allow a read: the Guard treats a
// record for the wrong subject as a store failure.
TEST(GuardStoreRobustnessTest, RecordForAnotherSubjectFailsClosed) {
  FixedRecordStore store(GivenRecord("someone-else", 3));
  InMemoryAuditSink audit;
  absl::StatusOr<std::unique_ptr<Guard>> guard =
      Guard::Create(DefaultPolicy(), &store, &audit);
  ASSERT_OK(guard);
  absl::StatusOr<AccessContext> ctx =
      (*guard)->Context("statistics-job", "statistics.measurement");
  absl::StatusOr<CategoryRef> cat = (*guard)->Category("measurement");
  ASSERT_OK(ctx);
  ASSERT_OK(cat);
  EXPECT_THAT(
      (*guard)->Check(*ctx, "member-1", *cat),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("store_unavailable")));
  // The rightful subject is still served.
  absl::StatusOr<Decision> d = (*guard)->Check(*ctx, "someone-else", *cat);
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kAllowedConsent);
}

// Revisions beyond what a cache slot holds, and negative ones, are served
// from the store on every check, never cached wrongly.
TEST(GuardStoreRobustnessTest, RevisionsOutsideTheCacheRangeAreStillEnforced) {
  for (Revision rev : {Revision{1} << 45, Revision{-7}}) {
    FixedRecordStore store(GivenRecord("member-1", rev));
    InMemoryAuditSink audit;
    absl::StatusOr<std::unique_ptr<Guard>> guard =
        Guard::Create(DefaultPolicy(), &store, &audit);
    ASSERT_OK(guard);
    absl::StatusOr<AccessContext> ctx =
        (*guard)->Context("statistics-job", "statistics.measurement");
    absl::StatusOr<CategoryRef> cat = (*guard)->Category("measurement");
    ASSERT_OK(ctx);
    ASSERT_OK(cat);
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<Decision> d = (*guard)->Check(*ctx, "member-1", *cat);
      ASSERT_OK(d);
      EXPECT_EQ(d->reason(), Reason::kAllowedConsent);
      EXPECT_EQ(d->revision(), rev);
    }
  }
}

// Unknown purposes and out-of-range enum values in a stored record allow
// nothing.
TEST(GuardStoreRobustnessTest, UnknownPurposesAndStatesAllowNothing) {
  v1::ConsentRecord r;
  r.set_subject_id("member-1");
  r.set_revision(4);
  v1::PurposeConsent* unknown = r.add_purposes();
  unknown->set_purpose("no.such.purpose");
  unknown->set_state(v1::CONSENT_STATE_GIVEN);
  v1::PurposeConsent* bad_state = r.add_purposes();
  bad_state->set_purpose("statistics");
  bad_state->set_state(static_cast<v1::ConsentState>(99));
  FixedRecordStore store(r);
  InMemoryAuditSink audit;
  absl::StatusOr<std::unique_ptr<Guard>> guard =
      Guard::Create(DefaultPolicy(), &store, &audit);
  ASSERT_OK(guard);
  absl::StatusOr<AccessContext> ctx =
      (*guard)->Context("statistics-job", "statistics.measurement");
  absl::StatusOr<CategoryRef> cat = (*guard)->Category("measurement");
  ASSERT_OK(ctx);
  ASSERT_OK(cat);
  absl::StatusOr<Decision> d = (*guard)->Check(*ctx, "member-1", *cat);
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kNoConsent);
}

}  // namespace
}  // namespace consentry
