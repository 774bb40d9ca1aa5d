// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/leak.h"

#include <atomic>
#include <cmath>
#include <random>
#include <string>
#include <thread>
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
  EXPECT_THAT(f.detail, HasSubstr("records reached in one hour"));
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
  EXPECT_DOUBLE_EQ(b.mean_records_per_hour, 1.5);
  EXPECT_EQ(b.max_records_per_hour, 2);
  EXPECT_DOUBLE_EQ(b.denial_rate, 0.25);
  EXPECT_THAT(b.purposes, ElementsAre("p", "q"));
  EXPECT_EQ(b.hours_of_day, (1u << 9) | (1u << 13));
}

OwnedAuditEvent Batch(absl::Time t, const std::string& accessor,
                      std::int64_t included) {
  OwnedAuditEvent e = Read(t, accessor, "", "statistics", true);
  e.action = AuditAction::kBatch;
  e.records_included = included;
  e.records_excluded = 0;
  return e;
}

OwnedAuditEvent Provision(absl::Time t, const std::string& accessor,
                          const std::string& subject) {
  OwnedAuditEvent e = Read(t, accessor, subject, "purpose.2", true);
  e.action = AuditAction::kProvision;
  e.recipient = "callcenter";
  return e;
}

// Statistics batches and provisions count in the baseline and in the recent
// window: an accessor whose batches usually include about 1,000 records is
// not flagged for a usual batch, but is for one of 100,000; an accessor
// that provides 3,000 subjects' records to a recipient in an hour is
// flagged like one that reads them.
TEST(LeakDetectionTest, BatchesAndProvisionsCountAsRecordsReached) {
  Population pop;
  std::vector<OwnedAuditEvent> baseline;
  std::vector<OwnedAuditEvent> recent;
  for (int day = 1; day <= 14; ++day) {
    pop.Day(day, &baseline);
    baseline.push_back(Batch(At(2026, 11, day, 3), "stats", 900 + day * 10));
  }
  pop.Day(15, &recent);
  recent.push_back(Batch(At(2026, 11, 15, 3), "stats", 1'000));
  const LeakReport usual = DetectLeaks(baseline, recent);
  EXPECT_FALSE(usual.Flags("stats"));
  recent.push_back(Batch(At(2026, 11, 15, 3, 30), "stats", 100'000));
  for (int i = 0; i < 3000; ++i) {
    recent.push_back(Provision(At(2026, 11, 15, 11, i % 60), "svc-2",
                               absl::StrCat("s-", i)));
  }
  const LeakReport report = DetectLeaks(baseline, recent);
  std::vector<std::string> got;
  for (const LeakFinding& f : report.findings) {
    got.push_back(absl::StrCat(f.accessor, ":", LeakSignalName(f.signal)));
  }
  EXPECT_THAT(got, ElementsAre("stats:bulk_read", "svc-2:bulk_read"));
  EXPECT_THAT(report.findings[0].detail,
              HasSubstr("101000 records reached in one hour (0 distinct "
                        "subjects, 101000 records of statistics batches)"));
  // The 3,000 provided and the accessor's usual reads of that hour.
  EXPECT_GE(report.findings[1].observed, 3000);
  EXPECT_LE(report.findings[1].observed, 3060);
  // The batches are in the accessor's baseline.
  const AccessorBaseline* stats = nullptr;
  for (const AccessorBaseline& b : report.baselines) {
    if (b.accessor == "stats") stats = &b;
  }
  ASSERT_NE(stats, nullptr);
  EXPECT_EQ(stats->max_records_per_hour, 1040);
}

// Lifts and purges are not accesses; request effects are, for their subject.
TEST(LeakDetectionTest, OnlyAccessesCount) {
  OwnedAuditEvent lift = Read(At(2026, 11, 1, 9), "officer", "s-1", "", true);
  lift.action = AuditAction::kRestrictionLifted;
  OwnedAuditEvent purge = Read(At(2026, 11, 1, 9), "officer", "", "", true);
  purge.action = AuditAction::kRecordsPurged;
  purge.records_included = 5000;
  OwnedAuditEvent request =
      Read(At(2026, 11, 1, 10), "desk", "s-2", "disclosure", true);
  request.action = AuditAction::kRequest;
  const LeakReport report = DetectLeaks({lift, purge, request}, {});
  ASSERT_EQ(report.baselines.size(), 1u);
  EXPECT_EQ(report.baselines[0].accessor, "desk");
  EXPECT_EQ(report.baselines[0].max_records_per_hour, 1);
}

// --- live detection ----------------------------------------------------------

AuditEvent View(const OwnedAuditEvent& e) { return AuditEvent::From(e); }

// The synthetic population's day 15 goes through the live detector (with
// the baselines of days 1-14), with one bulk read injected: exactly one
// alert, for that accessor and hour, raised the moment the threshold is
// crossed; the accessor's later reads in that hour raise no more.
TEST(LiveLeakDetectorTest, InjectedBulkReadRaisesExactlyOneAlert) {
  Population pop;
  std::vector<OwnedAuditEvent> baseline;
  for (int day = 1; day <= 14; ++day) pop.Day(day, &baseline);
  const LeakReport learned = DetectLeaks(baseline, {});
  std::vector<LeakFinding> alerts;
  LiveLeakDetector live(learned.baselines,
                        [&](const LeakFinding& f) { alerts.push_back(f); });
  std::vector<OwnedAuditEvent> day;
  pop.Day(15, &day);
  std::stable_sort(day.begin(), day.end(),
                   [](const OwnedAuditEvent& a, const OwnedAuditEvent& b) {
                     return a.time_unix_nanos < b.time_unix_nanos;
                   });
  std::size_t bulk_at = 0;
  for (const OwnedAuditEvent& e : day) {
    live.Observe(View(e));
    if (e.time_unix_nanos < absl::ToUnixNanos(At(2026, 11, 15, 14))) continue;
    if (bulk_at != 0) continue;
    // At 14:00, svc-7 reads 3,000 distinct subjects.
    for (int i = 0; i < 3000; ++i) {
      live.Observe(View(Read(At(2026, 11, 15, 14, i % 60), "svc-7",
                             absl::StrCat("b-", i), "purpose.3", true)));
      if (!alerts.empty() && bulk_at == 0)
        bulk_at = static_cast<std::size_t>(i);
    }
  }
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(live.alerts(), 1);
  const LeakFinding& f = alerts[0];
  EXPECT_EQ(f.accessor, "svc-7");
  EXPECT_EQ(f.signal, LeakSignal::kBulkRead);
  EXPECT_EQ(f.hour, At(2026, 11, 15, 14));
  const AccessorBaseline* b = nullptr;
  for (const AccessorBaseline& x : learned.baselines) {
    if (x.accessor == "svc-7") b = &x;
  }
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(f.expected, BulkReadThreshold(*b, LeakDetectionOptions()));
  // Raised by the first read over the threshold, not at the end of the hour.
  EXPECT_EQ(f.observed, std::floor(f.expected) + 1);
  EXPECT_LT(bulk_at, 3000u);
}

TEST(LiveLeakDetectorTest, EachHourIsJudgedOnItsOwnAndOldEventsDoNotCount) {
  std::vector<LeakFinding> alerts;
  LeakDetectionOptions o;
  o.min_records_per_hour = 10;
  LiveLeakDetector live(
      {}, [&](const LeakFinding& f) { alerts.push_back(f); }, o);
  // No baseline: held to min_records_per_hour (10). Ten subjects, some
  // twice, raise nothing.
  for (int i = 0; i < 20; ++i) {
    live.Observe(View(Read(At(2026, 11, 1, 9, i), "new",
                           absl::StrCat("s-", i % 10), "p", true)));
  }
  EXPECT_TRUE(alerts.empty());
  // The eleventh distinct subject does.
  live.Observe(View(Read(At(2026, 11, 1, 9, 30), "new", "s-10", "p", true)));
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_THAT(alerts[0].detail, HasSubstr("no baseline"));
  // The next hour starts again from zero; a batch of 11 records crosses.
  live.Observe(View(Batch(At(2026, 11, 1, 10), "new", 11)));
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[1].hour, At(2026, 11, 1, 10));
  // A late event of 9:00 is not counted live.
  for (int i = 0; i < 50; ++i) {
    live.Observe(View(Read(At(2026, 11, 1, 9, 59), "late",
                           absl::StrCat("s-", i), "p", true)));
  }
  ASSERT_EQ(alerts.size(), 3u);  // "late" itself crossed at 9:00
  live.Observe(View(Read(At(2026, 11, 1, 10, 5), "late", "x", "p", true)));
  live.Observe(View(Read(At(2026, 11, 1, 9, 5), "late", "y", "p", true)));
  EXPECT_EQ(alerts.size(), 3u);
  // Lifts and purges never count.
  OwnedAuditEvent purge = Batch(At(2026, 11, 1, 11), "officer", 500);
  purge.action = AuditAction::kRecordsPurged;
  live.Observe(View(purge));
  EXPECT_EQ(live.alerts(), 3);
}

// A sink in front of the log: an event the log refused is not counted (the
// Guard denied that read), and the refusal reaches the caller.
TEST(LiveLeakDetectorTest, AlertingSinkCountsOnlyWhatTheNextSinkTook) {
  std::int64_t alerts = 0;
  LeakDetectionOptions o;
  o.min_records_per_hour = 5;
  LiveLeakDetector live(
      {}, [&](const LeakFinding&) { ++alerts; }, o);
  InMemoryAuditSink memory;
  LeakAlertingSink sink(&live, &memory);
  memory.SetFailingForTesting(true);
  for (int i = 0; i < 10; ++i) {
    EXPECT_THAT(sink.Record(View(Read(At(2026, 11, 1, 9), "a",
                                      absl::StrCat("s-", i), "p", true))),
                StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  }
  EXPECT_EQ(alerts, 0);
  memory.SetFailingForTesting(false);
  for (int i = 0; i < 6; ++i) {
    ASSERT_OK(sink.Record(
        View(Read(At(2026, 11, 1, 9), "a", absl::StrCat("s-", i), "p", true))));
  }
  EXPECT_EQ(alerts, 1);
  EXPECT_EQ(memory.size(), 6u);
}

// Threads recording at once for one accessor: exactly one alert. Under
// ThreadSanitizer (label "concurrency").
TEST(LiveLeakDetectorTest, ConcurrentRecordersRaiseOneAlert) {
  std::atomic<int> alerts{0};
  LeakDetectionOptions o;
  o.min_records_per_hour = 1000;
  LiveLeakDetector live(
      {}, [&](const LeakFinding&) { ++alerts; }, o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string accessor =
            i % 2 == 0 ? "bulk" : absl::StrCat("quiet-", t);
        const std::string subject =
            i % 2 == 0 ? absl::StrCat("s-", t, "-", i) : std::string("same");
        live.Observe(
            View(Read(At(2026, 11, 1, 9, 10), accessor, subject, "p", true)));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(alerts.load(), 1);
  EXPECT_EQ(live.alerts(), 1);
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
