// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/statistics.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::GuardFixture;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

const std::string kKey(32, 'k');
const absl::Duration kMonth = absl::Hours(24 * 30);

struct Weighing {
  std::string age_band;
  double kg;
};

TEST(PseudonymizerTest, StableWithinAPeriod) {
  absl::StatusOr<Pseudonymizer> p = Pseudonymizer::Create(kKey, kMonth);
  ASSERT_OK(p);
  const absl::Time t = absl::FromUnixSeconds(1'790'000'000);
  const std::string a = p->For("member-1", t);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(p->For("member-1", t + absl::Hours(1)), a);
  EXPECT_NE(p->For("member-2", t), a);
  EXPECT_EQ(p->PeriodIndex(t), p->PeriodIndex(t + absl::Hours(1)));
}

TEST(PseudonymizerTest, DifferentAcrossPeriodsAndKeys) {
  absl::StatusOr<Pseudonymizer> p = Pseudonymizer::Create(kKey, kMonth);
  absl::StatusOr<Pseudonymizer> q =
      Pseudonymizer::Create(std::string(32, 'q'), kMonth);
  ASSERT_OK(p);
  ASSERT_OK(q);
  const absl::Time t = absl::UnixEpoch() + 100 * kMonth;
  EXPECT_NE(p->For("member-1", t), p->For("member-1", t + kMonth));
  EXPECT_EQ(p->PeriodIndex(t) + 1, p->PeriodIndex(t + kMonth));
  EXPECT_NE(p->For("member-1", t), q->For("member-1", t));
  EXPECT_EQ(p->PeriodIndex(t - absl::Seconds(1)), 99);
  EXPECT_EQ(p->PeriodIndex(absl::UnixEpoch() - absl::Seconds(1)), -1);
}

TEST(PseudonymizerTest, DoesNotContainTheSubjectId) {
  absl::StatusOr<Pseudonymizer> p = Pseudonymizer::Create(kKey, kMonth);
  ASSERT_OK(p);
  EXPECT_THAT(p->For("abc", absl::Now()), ::testing::Not(HasSubstr("abc")));
}

TEST(PseudonymizerTest, RejectsShortKeyAndBadPeriod) {
  EXPECT_THAT(Pseudonymizer::Create("short", kMonth),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32")));
  EXPECT_THAT(
      Pseudonymizer::Create(kKey, absl::ZeroDuration()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("period")));
}

class StatisticsViewTest : public GuardFixture {
 protected:
  Protected<Weighing> Record(const std::string& subject,
                             const std::string& band, double kg,
                             const std::string& category = "measurement") {
    absl::StatusOr<RecordTags> t = guard_->Tag(
        subject, category, {"service.operation", "statistics.measurement"});
    EXPECT_TRUE(t.ok()) << t.status();
    return Protected<Weighing>(*t, Weighing{band, kg});
  }
  StatisticsView View() {
    absl::StatusOr<Pseudonymizer> p = Pseudonymizer::Create(kKey, kMonth);
    EXPECT_TRUE(p.ok());
    absl::StatusOr<StatisticsView> v =
        StatisticsView::Create(*guard_, "statistics-job", *std::move(p));
    EXPECT_TRUE(v.ok()) << v.status();
    return *std::move(v);
  }
};

TEST_F(StatisticsViewTest, ExcludedSubjectsNeverAppear) {
  Set("in-1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Set("in-2", "statistics", v1::CONSENT_STATE_GIVEN);
  Set("out-refused", "statistics.measurement", v1::CONSENT_STATE_REFUSED);
  Set("out-withdrawn", "statistics", v1::CONSENT_STATE_WITHDRAWN);
  std::vector<Protected<Weighing>> records;
  for (const char* s :
       {"in-1", "in-2", "out-refused", "out-withdrawn", "out-none"}) {
    records.push_back(Record(s, "30-39", 60));
    records.push_back(Record(s, "30-39", 61));
  }
  audit_.Clear();
  absl::StatusOr<StatisticsBatch<Weighing>> b =
      View().Select<Weighing>(records, now_);
  ASSERT_OK(b);
  EXPECT_EQ(b->rows().size(), 4u);
  EXPECT_EQ(b->included_subjects(), 2);
  EXPECT_EQ(b->excluded_subjects(), 3);
  EXPECT_EQ(b->exclusions().at(Reason::kConsentRefused), 2);
  EXPECT_EQ(b->exclusions().at(Reason::kConsentWithdrawn), 2);
  EXPECT_EQ(b->exclusions().at(Reason::kNoConsent), 2);
  absl::StatusOr<Pseudonymizer> p = Pseudonymizer::Create(kKey, kMonth);
  ASSERT_OK(p);
  std::set<std::string> allowed = {p->For("in-1", now_), p->For("in-2", now_)};
  for (const auto& row : b->rows()) {
    EXPECT_TRUE(allowed.contains(row.pseudonym)) << row.pseudonym;
    EXPECT_THAT(row.pseudonym, ::testing::Not(HasSubstr("in-")));
  }
  // One audit event for the batch, with the counts and the reasons.
  std::vector<OwnedAuditEvent> events = audit_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].action, AuditAction::kBatch);
  EXPECT_EQ(events[0].records_included, 4);  // records
  EXPECT_EQ(events[0].records_excluded, 6);
  EXPECT_THAT(events[0].detail, HasSubstr("2 excluded (consent_refused)"));
  EXPECT_THAT(events[0].detail, HasSubstr("2 excluded (no_consent)"));
  EXPECT_EQ(events[0].accessor, "statistics-job");
}

TEST_F(StatisticsViewTest, IdentityRecordsAreRefused) {
  std::vector<Protected<Weighing>> records;
  records.push_back(Record("a", "30-39", 60));
  absl::StatusOr<RecordTags> t = guard_->Tag("a", "identity", {"support"});
  ASSERT_OK(t);
  records.emplace_back(*t, Weighing{"30-39", 0});
  audit_.Clear();
  EXPECT_THAT(View().Select<Weighing>(records, now_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("record 1 has category 'identity'")));
  EXPECT_EQ(audit_.size(), 0u);
}

TEST_F(StatisticsViewTest, StoreOutageFailsClosedAndIsAudited) {
  std::vector<Protected<Weighing>> records;
  records.push_back(Record("a", "30-39", 60));
  store_.SetUnavailableForTesting(true);
  audit_.Clear();
  EXPECT_THAT(View().Select<Weighing>(records, now_),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("store")));
  ASSERT_EQ(audit_.size(), 1u);
  EXPECT_THAT(audit_.Events()[0].detail, HasSubstr("failed"));
}

TEST(CohortAggregatorTest, SuppressesCohortsBelowK) {
  CohortAggregator agg(3);
  for (int i = 0; i < 5; ++i) {
    agg.Add("30-39", "p" + std::to_string(i), 60 + i);
    agg.Add("30-39", "p" + std::to_string(i), 70 + i);  // same subject twice
  }
  agg.Add("80-89", "q1", 50);
  agg.Add("80-89", "q2", 52);
  agg.Add("80-89", "q2", 53);
  std::vector<CohortStat> out = agg.Finish();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].cohort, "30-39");
  EXPECT_FALSE(out[0].suppressed);
  EXPECT_EQ(out[0].subjects, 5);
  EXPECT_EQ(out[0].values, 10);
  EXPECT_DOUBLE_EQ(out[0].mean, 67);
  EXPECT_DOUBLE_EQ(out[0].p10, 60);
  EXPECT_DOUBLE_EQ(out[0].p50, 64);
  EXPECT_DOUBLE_EQ(out[0].p90, 73);
  EXPECT_EQ(out[1].cohort, "80-89");
  EXPECT_TRUE(out[1].suppressed);
  EXPECT_EQ(out[1].subjects, 2);
  EXPECT_DOUBLE_EQ(out[1].mean, 0);
  EXPECT_DOUBLE_EQ(out[1].p50, 0);
}

TEST(CohortAggregatorTest, KFromThePolicy) {
  std::shared_ptr<const CompiledPolicy> p = testing::DefaultPolicy();
  EXPECT_EQ(p->min_cohort_size(), 10);
  CohortAggregator agg(p->min_cohort_size());
  for (int i = 0; i < 9; ++i) agg.Add("c", "s" + std::to_string(i), 1);
  EXPECT_TRUE(agg.Finish()[0].suppressed);
  agg.Add("c", "s9", 1);
  EXPECT_FALSE(agg.Finish()[0].suppressed);
}

}  // namespace
}  // namespace consentry
