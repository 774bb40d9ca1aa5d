// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// One writer per log directory: a second writer, in this process or
// another, is refused while the first holds the log, or waits for it
// (`AuditLogOptions::lock_wait`); short-lived writers of several processes
// taking turns leave a log that verifies with every event.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consentry/audit_log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace consentry {
namespace {

using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

constexpr std::int64_t kT0 = 1'790'000'000'000'000'000;

AuditLogOptions Options(const std::string& dir) {
  AuditLogOptions o;
  o.directory = dir;
  return o;
}

absl::Status RecordOne(AuditLog& log, int i, const std::string& accessor) {
  const std::string subject = absl::StrCat("s-", i);
  AuditEvent e;
  e.time_unix_nanos = kT0 + i;
  e.accessor = accessor;
  e.subject = subject;
  e.category = "billing";
  e.purpose = "billing.calculation";
  e.reason = Reason::kAllowedConsent;
  return log.Record(e);
}

TEST(AuditLogLockTest, SecondWriterInThisProcessIsRefusedUntilTheFirstCloses) {
  testing::ScopedTempDir dir("lock");
  absl::StatusOr<std::unique_ptr<AuditLog>> first =
      AuditLog::Open(Options(dir.path()));
  ASSERT_OK(first);
  ASSERT_OK(RecordOne(**first, 0, "a"));
  EXPECT_THAT(AuditLog::Open(Options(dir.path())),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(dir.path()),
                             HasSubstr("held by another writer"))));
  // The refused writer changed nothing: the first goes on.
  ASSERT_OK(RecordOne(**first, 1, "a"));
  ASSERT_OK((*first)->Close());
  absl::StatusOr<std::unique_ptr<AuditLog>> second =
      AuditLog::Open(Options(dir.path()));
  ASSERT_OK(second);
  ASSERT_OK(RecordOne(**second, 2, "b"));
  ASSERT_OK((*second)->Close());
  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(dir.path());
  ASSERT_OK(report);
  EXPECT_EQ(report->defect, AuditDefect::kNone) << report->detail;
  EXPECT_EQ(report->records_verified, 3u);
}

// RepairAuditLog trims a torn last record; a writer's last record may be
// in the middle of being written, so a log with a writer is never repaired.
TEST(AuditLogLockTest, RepairRefusesALogThatHasAWriter) {
  testing::ScopedTempDir dir("lock");
  absl::StatusOr<std::unique_ptr<AuditLog>> log =
      AuditLog::Open(Options(dir.path()));
  ASSERT_OK(log);
  ASSERT_OK(RecordOne(**log, 0, "a"));
  ASSERT_OK((*log)->Flush());
  EXPECT_THAT(RepairAuditLog(dir.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no one writes")));
  ASSERT_OK((*log)->Close());
  absl::StatusOr<AuditVerifyReport> repaired = RepairAuditLog(dir.path());
  ASSERT_OK(repaired);
  EXPECT_EQ(repaired->defect, AuditDefect::kNone);
  // The repair let go of the lock: a writer opens the log again.
  EXPECT_OK(AuditLog::Open(Options(dir.path())));
}

TEST(AuditLogLockTest, LockWaitMustBeFiniteAndNotNegative) {
  testing::ScopedTempDir dir("lock");
  AuditLogOptions o = Options(dir.path());
  o.lock_wait = absl::Seconds(-1);
  EXPECT_THAT(AuditLog::Open(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("lock_wait")));
  o.lock_wait = absl::InfiniteDuration();
  EXPECT_THAT(AuditLog::Open(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("lock_wait")));
}

// A service process holds the log; a tool in another process is refused at
// once without `lock_wait`, and gets the log when the service closes within
// its wait.
TEST(AuditLogLockTest, WriterInAnotherProcessWaitsOrIsRefused) {
  testing::ScopedTempDir dir("lock");
  int ready[2], go[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(go), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    absl::StatusOr<std::unique_ptr<AuditLog>> log =
        AuditLog::Open(Options(dir.path()));
    if (!log.ok() || !RecordOne(**log, 0, "service").ok()) _exit(1);
    char b = 1;
    if (write(ready[1], &b, 1) != 1) _exit(2);
    if (read(go[0], &b, 1) != 1) _exit(3);
    absl::SleepFor(absl::Milliseconds(200));
    _exit((*log)->Close().ok() ? 0 : 4);
  }
  char b = 0;
  ASSERT_EQ(read(ready[0], &b, 1), 1);
  EXPECT_THAT(AuditLog::Open(Options(dir.path())),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("held by another writer")));
  // The service closes 200 ms after this; the tool waits up to 10 s.
  ASSERT_EQ(write(go[1], &b, 1), 1);
  AuditLogOptions o = Options(dir.path());
  o.lock_wait = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<AuditLog>> tool = AuditLog::Open(o);
  ASSERT_OK(tool);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_OK(RecordOne(**tool, 1, "tool"));
  ASSERT_OK((*tool)->Close());
  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(dir.path());
  ASSERT_OK(report);
  EXPECT_EQ(report->defect, AuditDefect::kNone) << report->detail;
  EXPECT_EQ(report->records_verified, 2u);
  for (int fd : {ready[0], ready[1], go[0], go[1]}) close(fd);
}

// Two processes each open the log, record a few events and close it, 15
// times, at the same time: they take turns, and the log holds every event
// with an unbroken chain.
TEST(AuditLogLockTest, ShortLivedWritersOfTwoProcessesTakeTurns) {
  testing::ScopedTempDir dir("lock");
  constexpr int kRuns = 15;
  constexpr int kEvents = 4;
  std::vector<pid_t> pids;
  for (int w = 0; w < 2; ++w) {
    const pid_t pid = fork();
    if (pid == 0) {
      AuditLogOptions o = Options(dir.path());
      o.lock_wait = absl::Seconds(20);
      for (int run = 0; run < kRuns; ++run) {
        absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(o);
        if (!log.ok()) _exit(1);
        for (int i = 0; i < kEvents; ++i) {
          if (!RecordOne(**log, (w * kRuns + run) * kEvents + i,
                         absl::StrCat("tool-", w))
                   .ok()) {
            _exit(2);
          }
        }
        if (!(*log)->Close().ok()) _exit(3);
      }
      _exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(dir.path());
  ASSERT_OK(report);
  EXPECT_EQ(report->defect, AuditDefect::kNone) << report->detail;
  EXPECT_EQ(report->records_verified,
            static_cast<std::uint64_t>(2 * kRuns * kEvents));
  // Each run appended to the segment the run before it left open.
  EXPECT_EQ(report->segments, 1u);
}

}  // namespace
}  // namespace consentry
