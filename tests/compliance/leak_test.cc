// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/leak.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::TimeZone kJst = absl::FixedTimeZone(9 * 3600);

absl::Time At(int y, int m, int d, int hh, int mm = 0) {
  return absl::FromCivil(absl::CivilMinute(y, m, d, hh, mm), kJst);
}

OwnedAuditEvent Read(absl::Time t, const std::string& accessor,
                     const std::string& subject, const std::string& purpose,
                     bool allowed, const std::string& category = "billing") {
  OwnedAuditEvent e;
  e.time_unix_nanos = absl::ToUnixNanos(t);
  e.accessor = accessor;
  e.subject = subject;
  e.purpose = purpose;
  e.category = category;
  e.reason = allowed ? Reason::kAllowedConsent : Reason::kNoConsent;
  return e;
}

// A synthetic working population: 12 accessors, each reading 20-60 distinct
// subjects (of 20,000) in each working hour 9:00-17:59 JST, with about 2%
// denials, always for its own purpose. Deterministic (fixed seed).
struct Population {
  std::mt19937 rng{20261128};
  std::vector<std::string> accessors;

  Population() {
    for (int a = 0; a < 12; ++a) accessors.push_back(absl::StrCat("svc-", a));
  }

  void Day(int day, std::vector<OwnedAuditEvent>* out) {
    std::uniform_int_distribution<int> per_hour(20, 60);
    std::uniform_int_distribution<int> subject(0, 19'999);
    std::uniform_int_distribution<int> minute(0, 59);
    std::uniform_int_distribution<int> pct(0, 99);
    for (std::size_t a = 0; a < accessors.size(); ++a) {
      const std::string purpose = absl::StrCat("purpose.", a % 4);
      for (int hour = 9; hour < 18; ++hour) {
        const int n = per_hour(rng);
        for (int i = 0; i < n; ++i) {
          out->push_back(Read(At(2026, 11, day, hour, minute(rng)),
                              accessors[a], absl::StrCat("s-", subject(rng)),
                              purpose, pct(rng) >= 2));
        }
      }
    }
  }
};

TEST(LeakDetectionTest, FlagsInjectedBulkReadAndNoNormalAccessor) {
  Population pop;
  std::vector<OwnedAuditEvent> baseline;
  for (int day = 1; day <= 14; ++day) pop.Day(day, &baseline);
  std::vector<OwnedAuditEvent> recent;
  pop.Day(15, &recent);
  // svc-7 reads 3,000 distinct subjects in one afternoon hour.
  for (int i = 0; i < 3000; ++i) {
    recent.push_back(Read(At(2026, 11, 15, 14, i % 60), "svc-7",
                          absl::StrCat("s-", i * 7 % 20'000), "purpose.3",
                          true));
  }
  const LeakReport report = DetectLeaks(baseline, recent);
  ASSERT_EQ(report.baselines.size(), 12u);
  EXPECT_TRUE(report.Flags("svc-7"));
  for (const std::string& a : pop.accessors) {
    if (a != "svc-7") {
      EXPECT_FALSE(report.Flags(a)) << a;
    }
  }
  ASSERT_EQ(report.findings.size(), 1u);
  const LeakFinding& f = report.findings[0];
  EXPECT_EQ(f.signal, LeakSignal::kBulkRead);
  EXPECT_EQ(f.hour, At(2026, 11, 15, 14));
  EXPECT_GT(f.observed, 3000);
  EXPECT_THAT(f.detail, HasSubstr("distinct subjects in one hour"));
}

TEST(LeakDetectionTest, FlagsNewPurposeDenialSpikeUnusualHourAndNewcomer) {
  Population pop;
  std::vector<OwnedAuditEvent> baseline;
  for (int day = 1; day <= 7; ++day) pop.Day(day, &baseline);
  std::vector<OwnedAuditEvent> recent;
  pop.Day(8, &recent);
  // svc-1 probes: 200 denied reads of 10 subjects for a purpose it never
  // used, at 3 a.m.
  for (int i = 0; i < 200; ++i) {
    recent.push_back(Read(At(2026, 11, 8, 3, i % 60), "svc-1",
                          absl::StrCat("s-", i % 10), "marketing.research",
                          false));
  }
  recent.push_back(
      Read(At(2026, 11, 8, 10), "intruder", "s-1", "purpose.0", true));
  const LeakReport report = DetectLeaks(baseline, recent);
  std::vector<std::string> got;
  for (const LeakFinding& f : report.findings) {
    got.push_back(absl::StrCat(f.accessor, ":", LeakSignalName(f.signal)));
  }
  EXPECT_THAT(got, ElementsAre("intruder:no_baseline", "svc-1:new_purpose",
                               "svc-1:denial_spike", "svc-1:unusual_hour"));
}

TEST(LeakDetectionTest, BaselineDescribesTheAccessor) {
  std::vector<OwnedAuditEvent> baseline = {
      Read(At(2026, 11, 1, 9), "a", "s-1", "p", true),
      Read(At(2026, 11, 1, 9, 5), "a", "s-2", "p", false),
      Read(At(2026, 11, 1, 9, 6), "a", "s-2", "q", true),
      Read(At(2026, 11, 2, 13), "a", "s-3", "p", true),
  };
  const LeakReport report = DetectLeaks(baseline, {});
  ASSERT_EQ(report.baselines.size(), 1u);
  const AccessorBaseline& b = report.baselines[0];
  EXPECT_EQ(b.events, 4);
  EXPECT_EQ(b.active_hours, 2);
  EXPECT_DOUBLE_EQ(b.mean_subjects_per_hour, 1.5);
  EXPECT_EQ(b.max_subjects_per_hour, 2);
  EXPECT_DOUBLE_EQ(b.denial_rate, 0.25);
  EXPECT_THAT(b.purposes, ElementsAre("p", "q"));
  EXPECT_EQ(b.hours_of_day, (1u << 9) | (1u << 13));
}

// --- scoping -----------------------------------------------------------------

TEST(LeakScopeTest, BulkHealthReadMeetsBothTriggersWithDeadlines) {
  std::vector<OwnedAuditEvent> events;
  for (int i = 0; i < 1200; ++i) {
    events.push_back(Read(At(2026, 11, 15, 14, i % 60), "svc-7",
                          absl::StrCat("s-", i), "purpose.3", true,
                          i % 2 == 0 ? "measurement" : "contact"));
  }
  events.push_back(Read(At(2026, 11, 15, 14), "svc-7", "s-denied", "p", false));
  events.push_back(Read(At(2026, 11, 15, 14), "other", "s-other", "p", true));
  LeakScopeQuery q;
  q.accessors = {"svc-7"};
  q.from = At(2026, 11, 15, 0);
  q.to = At(2026, 11, 16, 0);
  q.aware_at = At(2026, 11, 17, 22, 30);
  absl::StatusOr<LeakScope> scope = ScopeLeak(events, q);
  ASSERT_OK(scope);
  EXPECT_EQ(scope->subjects.size(), 1200u);  // the denied read exposed nothing
  EXPECT_EQ(scope->events, 1200);
  EXPECT_THAT(scope->categories, ElementsAre("contact", "measurement"));
  EXPECT_THAT(scope->triggers,
              ElementsAre(ReportTrigger::kSpecialCareData,
                          ReportTrigger::kMoreThan1000Subjects));
  EXPECT_TRUE(scope->report_required());
  // Aware on 17 Nov (day 1): preliminary by the end of 19 Nov, final by the
  // end of 16 Dec, JST.
  EXPECT_EQ(scope->preliminary_deadline,
            At(2026, 11, 20, 0) - absl::Nanoseconds(1));
  EXPECT_EQ(scope->final_deadline, At(2026, 12, 17, 0) - absl::Nanoseconds(1));
  const std::string summary = scope->Summary();
  EXPECT_THAT(summary, HasSubstr("Art. 7(i): special-care-required"));
  EXPECT_THAT(summary, HasSubstr("Art. 7(iv): more than 1,000 persons"));
  EXPECT_THAT(summary, HasSubstr("2026-11-19T23:59:59+09:00"));
}

TEST(LeakScopeTest, WrongfulPurposeExtendsTheFinalDeadlineTo60Days) {
  std::vector<OwnedAuditEvent> events = {
      Read(At(2026, 11, 15, 14), "svc-7", "s-1", "p", true, "billing")};
  LeakScopeQuery q;
  q.accessors = {"svc-7"};
  q.aware_at = At(2026, 11, 17, 9);
  q.wrongful_purpose = true;
  absl::StatusOr<LeakScope> scope = ScopeLeak(events, q);
  ASSERT_OK(scope);
  EXPECT_THAT(scope->triggers, ElementsAre(ReportTrigger::kWrongfulPurpose));
  EXPECT_EQ(scope->final_deadline, At(2027, 1, 16, 0) - absl::Nanoseconds(1));
}

TEST(LeakScopeTest, SmallOrdinaryLeakNeedsNoReport) {
  std::vector<OwnedAuditEvent> events = {
      Read(At(2026, 11, 15, 14), "svc-7", "s-1", "p", true, "billing"),
      Read(At(2026, 11, 15, 14), "svc-7", "s-2", "p", true, "communication"),
  };
  events[1].record_ref = "call-log-9";
  LeakScopeQuery q;
  q.record_refs = {"r-unknown"};
  q.aware_at = At(2026, 11, 17, 9);
  absl::StatusOr<LeakScope> none = ScopeLeak(events, q);
  ASSERT_OK(none);
  EXPECT_EQ(none->events, 0);
  EXPECT_FALSE(none->report_required());
  EXPECT_EQ(none->final_deadline, absl::InfiniteFuture());
  EXPECT_THAT(none->Summary(), HasSubstr("no reporting trigger met"));
  // The communication record is scoped by its reference.
  q.record_refs = {"call-log-9"};
  absl::StatusOr<LeakScope> comm = ScopeLeak(events, q);
  ASSERT_OK(comm);
  EXPECT_THAT(comm->subjects, ElementsAre("s-2"));
  EXPECT_THAT(comm->triggers,
              ElementsAre(ReportTrigger::kSecrecyOfCommunications));
}

TEST(LeakScopeTest, RejectsAnUnboundedQuery) {
  LeakScopeQuery q;
  q.aware_at = At(2026, 11, 17, 9);
  EXPECT_THAT(ScopeLeak({}, q), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("name the accessors")));
  q.accessors = {"a"};
  q.from = q.to = At(2026, 11, 1, 0);
  EXPECT_THAT(ScopeLeak({}, q), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("empty window")));
  q.from = absl::InfinitePast();
  q.to = absl::InfiniteFuture();
  q.aware_at = absl::InfinitePast();
  EXPECT_THAT(ScopeLeak({}, q), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("aware_at")));
}

}  // namespace
}  // namespace consentry
