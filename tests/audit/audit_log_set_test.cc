// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/audit_log_set.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/audit_log.h"
#include "consentry/disclosure_sources.h"
#include "consentry/leak.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/audit/audit_format.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace consentry {
namespace {

using ::consentry::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::int64_t kT0 = 1'790'000'000'000'000'000;
constexpr std::int64_t kSecond = 1'000'000'000;

// One service's log: `n` events at kT0 + (first + k * step) seconds, the
// subject cycling over s-0..s-9, accessor "<service>-reader", in segments
// of `segment_bytes`.
void WriteService(const std::string& dir, const std::string& service, int n,
                  int first, int step, std::uint64_t segment_bytes = 4096) {
  AuditLogOptions o;
  o.directory = dir;
  o.segment_bytes = segment_bytes;
  o.seal_on_close = true;  // every segment sealed and indexed
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(o);
  ASSERT_OK(log);
  const std::string accessor = service + "-reader";
  for (int k = 0; k < n; ++k) {
    const int t = first + k * step;
    const std::string subject = absl::StrCat("s-", k % 10);
    const std::string ref = absl::StrCat(service, "-", k);
    AuditEvent e;
    e.time_unix_nanos = kT0 + t * kSecond;
    e.accessor = accessor;
    e.subject = subject;
    e.category = "billing";
    e.purpose = "billing.calculation";
    e.record_ref = ref;
    e.reason = Reason::kAllowedConsent;
    ASSERT_OK((*log)->Record(e));
  }
  ASSERT_OK((*log)->Close());
}

class AuditLogSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Three services whose events interleave in time: billing at 0, 3, 6,
    // ...; support at 1, 4, 7, ...; web at 2, 5, 8, ...
    const char* const kServices[] = {"billing", "support", "web"};
    for (int i = 0; i < 3; ++i) {
      const std::string dir = Dir(kServices[i]);
      ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
      WriteService(dir, kServices[i], 200, i, 3);
    }
  }
  std::string Dir(const std::string& service) const {
    return root_.path() + "/" + service;
  }

  testing::ScopedTempDir root_{"logset"};
};

// One person's events across three services, in time order, each with the
// service it came from; each log answered from its indexes.
TEST_F(AuditLogSetTest, ThreeServicesAnswerOneDisclosureQueryInTimeOrder) {
  absl::StatusOr<std::unique_ptr<AuditLogSet>> set =
      AuditLogSet::OpenRoot(root_.path());
  ASSERT_OK(set);
  ASSERT_EQ((*set)->logs().size(), 3u);
  EXPECT_EQ((*set)->logs()[0].name, "billing");
  EXPECT_EQ((*set)->logs()[2].name, "web");
  absl::StatusOr<AuditLogSet::Events> got = (*set)->ForSubject("s-3");
  ASSERT_OK(got);
  // 20 events of s-3 in each of the three logs.
  ASSERT_EQ(got->events.size(), 60u);
  ASSERT_EQ(got->log.size(), 60u);
  for (std::size_t i = 0; i < got->events.size(); ++i) {
    const OwnedAuditEvent& e = got->events[i];
    EXPECT_EQ(e.subject, "s-3");
    if (i > 0) {
      EXPECT_LT(got->events[i - 1].time_unix_nanos, e.time_unix_nanos) << i;
    }
    const std::string& service = (*set)->logs()[got->log[i]].name;
    EXPECT_EQ(e.accessor, service + "-reader");
    EXPECT_THAT(e.record_ref, ::testing::StartsWith(service + "-"));
  }
  // billing's s-3 is at 9 s, support's at 10 s, web's at 11 s: the three
  // services alternate.
  EXPECT_THAT(std::vector<std::size_t>(got->log.begin(), got->log.begin() + 6),
              ElementsAre(0, 1, 2, 0, 1, 2));
  EXPECT_EQ((*set)->last_stats().segments_scanned, 0u);
  EXPECT_GT((*set)->last_stats().segments_indexed, 3u);
}

TEST_F(AuditLogSetTest, AccessorAndTimeRangeQueriesSpanTheLogs) {
  absl::StatusOr<std::unique_ptr<AuditLogSet>> set =
      AuditLogSet::Open({Dir("web"), Dir("billing")});
  ASSERT_OK(set);
  absl::StatusOr<AuditLogSet::Events> web = (*set)->ForAccessor("web-reader");
  ASSERT_OK(web);
  EXPECT_EQ(web->events.size(), 200u);
  for (std::size_t i : web->log) EXPECT_EQ(i, 0u);
  // [30 s, 36 s): billing at 30 and 33, web at 32 and 35.
  absl::StatusOr<AuditLogSet::Events> range =
      (*set)->InTimeRange(absl::FromUnixNanos(kT0 + 30 * kSecond),
                          absl::FromUnixNanos(kT0 + 36 * kSecond));
  ASSERT_OK(range);
  std::vector<std::string> refs;
  for (const OwnedAuditEvent& e : range->events) refs.push_back(e.record_ref);
  EXPECT_THAT(refs,
              ElementsAre("billing-10", "web-10", "billing-11", "web-11"));
  // Leak detection over the fleet: the set's events are its input.
  const LeakReport report = DetectLeaks(range->events, range->events);
  EXPECT_EQ(report.baselines.size(), 2u);
}

TEST_F(AuditLogSetTest, BadSetsAreRefusedNamingTheDirectory) {
  EXPECT_THAT(AuditLogSet::Open({}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no log directory")));
  EXPECT_THAT(AuditLogSet::Open({Dir("web"), Dir("web") + "/"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("two logs are named 'web'")));
  EXPECT_THAT(AuditLogSet::Open({Dir("web"), Dir("absent")}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent")));
  const std::string empty = Dir("empty");
  ASSERT_EQ(mkdir(empty.c_str(), 0700), 0);
  EXPECT_THAT(AuditLogSet::Open({empty}),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("holds no audit log segment")));
  // A file where a log directory was expected.
  std::ofstream(Dir("file")) << "not a log";
  EXPECT_FALSE(AuditLogSet::Open({Dir("file")}).ok());
  EXPECT_THAT(AuditLogSet::OpenRoot(empty),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no audit log")));
  EXPECT_THAT(AuditLogSet::OpenRoot(Dir("absent")),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

// Under a root, only real directories holding segments are logs: an empty
// directory, a file and a symlink to a log are skipped.
TEST_F(AuditLogSetTest, OpenRootSkipsWhatIsNotALogDirectory) {
  ASSERT_EQ(mkdir(Dir("empty").c_str(), 0700), 0);
  std::ofstream(Dir("notes.txt")) << "x";
  ASSERT_EQ(symlink(Dir("web").c_str(), Dir("zlink").c_str()), 0);
  absl::StatusOr<std::unique_ptr<AuditLogSet>> set =
      AuditLogSet::OpenRoot(root_.path());
  ASSERT_OK(set);
  std::vector<std::string> names;
  for (const AuditLogSet::Log& l : (*set)->logs()) names.push_back(l.name);
  EXPECT_THAT(names, ElementsAre("billing", "support", "web"));
}

// A log whose frame fails its CRC fails the whole query, naming that log:
// an answer that silently left out a service would be wrong.
TEST_F(AuditLogSetTest, OneDamagedLogFailsTheQueryNamingIt) {
  const std::string seg = Dir("support") + "/" + internal::SegmentFileName(0);
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(internal::kSegmentHeaderSize) + 12);
    f.put('\x7f');
  }
  absl::StatusOr<std::unique_ptr<AuditLogSet>> set =
      AuditLogSet::OpenRoot(root_.path());
  ASSERT_OK(set);
  EXPECT_THAT(
      (*set)->InTimeRange(absl::InfinitePast(), absl::InfiniteFuture()),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("log 'support'")));
  // Verification reports the defect for that log and none for the others.
  absl::StatusOr<std::vector<AuditVerifyReport>> reports = (*set)->VerifyAll(
      [](const AuditLogSet::Log&) { return AuditVerifyOptions(); });
  ASSERT_OK(reports);
  ASSERT_EQ(reports->size(), 3u);
  EXPECT_EQ((*reports)[0].defect, AuditDefect::kNone);
  EXPECT_NE((*reports)[1].defect, AuditDefect::kNone);
  EXPECT_EQ((*reports)[2].defect, AuditDefect::kNone);
}

// Sealed segments never change: a copy shipped elsewhere (segments and
// indexes, byte for byte) verifies and answers like the original.
TEST_F(AuditLogSetTest, ShippedCopiesVerifyAndAnswerLikeTheOriginals) {
  testing::ScopedTempDir shipped("shipped");
  for (const char* service : {"billing", "support", "web"}) {
    std::filesystem::copy(Dir(service), shipped.path() + "/" + service,
                          std::filesystem::copy_options::recursive);
  }
  absl::StatusOr<std::unique_ptr<AuditLogSet>> original =
      AuditLogSet::OpenRoot(root_.path());
  absl::StatusOr<std::unique_ptr<AuditLogSet>> copy =
      AuditLogSet::OpenRoot(shipped.path());
  ASSERT_OK(original);
  ASSERT_OK(copy);
  absl::StatusOr<std::vector<AuditVerifyReport>> reports = (*copy)->VerifyAll(
      [](const AuditLogSet::Log&) { return AuditVerifyOptions(); });
  ASSERT_OK(reports);
  for (const AuditVerifyReport& r : *reports) {
    EXPECT_EQ(r.defect, AuditDefect::kNone) << r.detail;
  }
  absl::StatusOr<AuditLogSet::Events> a = (*original)->ForSubject("s-7");
  absl::StatusOr<AuditLogSet::Events> b = (*copy)->ForSubject("s-7");
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_EQ(a->events.size(), b->events.size());
  for (std::size_t i = 0; i < a->events.size(); ++i) {
    EXPECT_EQ(a->events[i].record_ref, b->events[i].record_ref);
    EXPECT_EQ(a->log[i], b->log[i]);
  }
}

// A disclosure across the fleet: the set's source gives the person's events
// from every service, in time order.
TEST_F(AuditLogSetTest, FleetDisclosureSourceReadsEveryService) {
  AuditLogSetAccessEventSource source(
      {Dir("billing"), Dir("support"), Dir("web")});
  absl::StatusOr<std::vector<OwnedAuditEvent>> events = source.EventsFor("s-1");
  ASSERT_OK(events);
  ASSERT_EQ(events->size(), 60u);
  EXPECT_EQ((*events)[0].record_ref, "billing-1");
  EXPECT_EQ((*events)[1].record_ref, "support-1");
  EXPECT_EQ((*events)[2].record_ref, "web-1");
  AuditLogSetAccessEventSource missing({Dir("billing"), Dir("absent")});
  EXPECT_THAT(missing.EventsFor("s-1"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent")));
}

}  // namespace
}  // namespace consentry
