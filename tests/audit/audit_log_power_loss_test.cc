// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Simulated power loss: an `AuditLog` writes through a file system that, at
// a power cut, loses every byte, file creation and rename that was not
// synced (`FaultInjectionFileSystem`). Killing a process cannot show a
// missing fsync, since the page cache survives it (that is
// audit_log_crash_test); this can. After each cut, at a random point of a
// run with many events, flushes and segment rotations, the test checks what
// `AuditLog` promises (consentry/audit_log.h): every event acknowledged by
// an OK `Flush` (or below `durable_sequence_end()`) is there exactly once,
// in order and intact; nothing half-written is visible once a torn tail is
// trimmed by `RepairAuditLog`; the log verifies, indexes included; and the
// log reopens and continues.

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "consentry/audit_log.h"
#include "gtest/gtest.h"
#include "tests/testing/fault_injection_fs.h"
#include "tests/testing/memory_hmac_keys.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

constexpr std::int64_t kT0 = 1'790'000'000'000'000'000;

std::string MakeTempDir() {
  // tmpfs when there is one: the test syncs often, and what it checks is
  // what the fault-injecting layer keeps, not what the disk does.
  std::string base = std::filesystem::is_directory("/dev/shm")
                         ? std::string("/dev/shm")
                         : ::testing::TempDir();
  std::string tmpl = base + "/consentry_power_XXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

// Event `i`: its ref names it, so that a lost, duplicated or reordered
// event is seen.
AuditEvent Event(std::uint64_t i, std::string* ref, std::string* subject) {
  *ref = absl::StrCat("e-", i);
  *subject = absl::StrCat("s-", i % 7);
  AuditEvent e;
  e.time_unix_nanos = kT0 + static_cast<std::int64_t>(i) * 1000;
  e.accessor = "billing-service";
  e.subject = *subject;
  e.category = "measurement";
  e.purpose = "billing.calculation";
  e.policy_version = "2026-11-01";
  e.record_ref = *ref;
  e.reason = Reason::kAllowedConsent;
  e.revision = static_cast<std::int64_t>(i);
  return e;
}

// What one run before the cut did.
struct CutRun {
  std::uint64_t recorded = 0;      // events handed to `Record` with OK
  std::uint64_t acknowledged = 0;  // events promised durable
};

// Writes events from `first` into the log in `dir` on `fs`, flushing at
// random points, and cuts the power after `cut_after` events (while the
// writer is busy with the last ones). With `keys`, the log is chained
// under them, and the current key changes at random points: at some the
// test rotates at once (`RotateKeys`), at others the writer takes the new
// key at its next segment, so that the cut can fall inside a rotation.
CutRun WriteUntilPowerCut(const std::string& dir,
                          testing::FaultInjectionFileSystem& fs,
                          std::uint64_t first, std::uint64_t cut_after,
                          std::mt19937_64& rng,
                          testing::MemoryHmacKeys* keys = nullptr) {
  CutRun run;
  run.recorded = first;
  run.acknowledged = first;
  testing::ScopedFileSystem scoped(&fs);
  AuditLogOptions options;
  options.directory = dir;
  options.segment_bytes = 4096;  // a rotation every ~25 events
  options.max_batch_events = 1 + rng() % 16;
  options.hmac_keys = keys;
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options);
  EXPECT_TRUE(log.ok()) << log.status();
  if (!log.ok()) return run;
  std::string ref, subject;
  for (std::uint64_t i = first; i < first + cut_after; ++i) {
    if (!(*log)->Record(Event(i, &ref, &subject)).ok()) break;
    run.recorded = i + 1;
    if (keys != nullptr && rng() % 16 == 0) {
      keys->AddAndMakeCurrent(absl::StrCat("k", first, "-", i));
      if (rng() % 2 == 0) {
        EXPECT_OK((*log)->RotateKeys());
      }
    }
    if (rng() % 8 == 0) {
      const std::uint64_t before = run.recorded;
      if ((*log)->Flush().ok()) run.acknowledged = before;
    }
  }
  // Let the writer get some way into the unacknowledged tail, then cut.
  const std::uint64_t spin = rng() % 4;
  for (std::uint64_t k = 0; k < spin * 20000; ++k) {
    (*log)->durable_sequence_end();
  }
  const std::uint64_t durable = (*log)->durable_sequence_end();
  fs.PowerCut();
  run.acknowledged = std::max(run.acknowledged, durable);
  // The writer now fails; closing reports it and touches nothing.
  (*log)->Close().IgnoreError();
  return run;
}

// After the cut: trim a torn tail if the cut left one, verify (under
// `keys`, when given), and check the events. Returns how many events the
// log holds.
std::uint64_t RecoverAndCheck(const std::string& dir, const CutRun& run,
                              HmacKeyLookup* keys = nullptr) {
  AuditVerifyOptions verify;
  verify.hmac_keys = keys;
  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(dir, verify);
  EXPECT_TRUE(report.ok()) << report.status();
  if (!report.ok()) return 0;
  if (report->defect == AuditDefect::kTornTail) {
    report = RepairAuditLog(dir, verify);
    EXPECT_TRUE(report.ok()) << report.status();
    if (!report.ok()) return 0;
  }
  EXPECT_TRUE(report->ok()) << report->ToString();
  absl::StatusOr<std::unique_ptr<AuditLogReader>> reader =
      AuditLogReader::Open(dir);
  EXPECT_TRUE(reader.ok());
  if (!reader.ok()) return 0;
  absl::StatusOr<std::vector<OwnedAuditEvent>> events =
      (*reader)->InTimeRange(absl::InfinitePast(), absl::InfiniteFuture());
  EXPECT_TRUE(events.ok()) << events.status();
  if (!events.ok()) return 0;
  // Every acknowledged event, exactly once and in order; nothing that was
  // never recorded.
  EXPECT_GE(events->size(), run.acknowledged);
  EXPECT_LE(events->size(), run.recorded);
  EXPECT_EQ(report->records_verified, events->size());
  std::string ref, subject;
  for (std::uint64_t i = 0; i < events->size(); ++i) {
    const OwnedAuditEvent& e = (*events)[i];
    Event(i, &ref, &subject);
    if (e.sequence != i || e.record_ref != ref || e.subject != subject) {
      ADD_FAILURE() << "event " << i << " is sequence " << e.sequence << " ref "
                    << e.record_ref;
      break;
    }
  }
  // An indexed query agrees with the scan.
  absl::StatusOr<std::vector<OwnedAuditEvent>> mine =
      (*reader)->ForSubject("s-3");
  EXPECT_TRUE(mine.ok()) << mine.status();
  if (mine.ok()) {
    std::uint64_t expected = 0;
    for (const OwnedAuditEvent& e : *events) expected += e.subject == "s-3";
    EXPECT_EQ(mine->size(), expected);
  }
  return events->size();
}

TEST(AuditLogPowerLossTest, AcknowledgedEventsSurviveAndTheLogVerifies) {
  std::mt19937_64 rng(20261204);
  int torn = 0;
  for (int iteration = 0; iteration < 6; ++iteration) {
    SCOPED_TRACE(absl::StrCat("iteration ", iteration));
    const std::string dir = MakeTempDir();
    std::uint64_t held = 0;
    // Several cuts in a row on the same log: each recovery is reopened.
    for (int cut = 0; cut < 8; ++cut) {
      SCOPED_TRACE(absl::StrCat("cut ", cut));
      testing::FaultInjectionFileSystem fs;
      const CutRun run =
          WriteUntilPowerCut(dir, fs, held, 1 + rng() % 300, rng);
      ASSERT_OK(fs.DropUnsyncedData());
      const absl::StatusOr<AuditVerifyReport> before = VerifyAuditLog(dir);
      ASSERT_OK(before);
      torn += before->defect == AuditDefect::kTornTail;
      held = RecoverAndCheck(dir, run);
      if (::testing::Test::HasFailure()) break;
    }
    // Reopened without a fault, the log continues and seals cleanly.
    {
      AuditLogOptions options;
      options.directory = dir;
      options.segment_bytes = 4096;
      absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options);
      ASSERT_OK(log);
      std::string ref, subject;
      ASSERT_OK((*log)->Record(Event(held, &ref, &subject)));
      ASSERT_OK((*log)->Close());
      RecoverAndCheck(dir, CutRun{held + 1, held + 1});
    }
    std::filesystem::remove_all(dir);
    if (::testing::Test::HasFailure()) break;
  }
  RecordProperty("torn_tails", torn);
}

// The syncer thread does the segment's writes and rotations: when one
// fails, the log fails closed. `Flush` reports the failure, every later
// `Record` is refused with kUnavailable naming it, `Close` reports it, and
// what the log holds afterwards still verifies with every acknowledged
// event (with small segments, so that the failure can fall in a rotation).
TEST(AuditLogPowerLossTest, AFailedWriteFailsTheLogClosed) {
  for (std::uint64_t before_cut : {10u, 24u, 25u, 26u, 60u}) {
    SCOPED_TRACE(absl::StrCat(before_cut, " events before the cut"));
    const std::string dir = MakeTempDir();
    testing::FaultInjectionFileSystem fs;
    {
      testing::ScopedFileSystem scoped(&fs);
      AuditLogOptions options;
      options.directory = dir;
      options.segment_bytes = 4096;  // a rotation every ~25 events
      absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options);
      ASSERT_TRUE(log.ok()) << log.status();
      std::string ref, subject;
      for (std::uint64_t i = 0; i < before_cut; ++i) {
        ASSERT_OK((*log)->Record(Event(i, &ref, &subject)));
      }
      ASSERT_OK((*log)->Flush());
      fs.PowerCut();
      // Taken by the writer, then refused by the disk.
      for (std::uint64_t i = before_cut; i < before_cut + 30; ++i) {
        if (!(*log)->Record(Event(i, &ref, &subject)).ok()) break;
      }
      const absl::Status flushed = (*log)->Flush();
      EXPECT_EQ(flushed.code(), absl::StatusCode::kUnavailable) << flushed;
      EXPECT_TRUE(absl::StrContains(flushed.message(), "audit log")) << flushed;
      const absl::Status later = (*log)->Record(Event(999, &ref, &subject));
      EXPECT_EQ(later.code(), absl::StatusCode::kUnavailable) << later;
      EXPECT_FALSE((*log)->Close().ok());
    }
    ASSERT_OK(fs.DropUnsyncedData());
    const std::uint64_t held =
        RecoverAndCheck(dir, CutRun{before_cut + 30, before_cut});
    EXPECT_GE(held, before_cut);
    std::filesystem::remove_all(dir);
  }
}

// A writer is cut off with events written but not synced; the next run
// finds the open segment ending at the last synced record and appends to
// it from there: one segment, no gap, no duplicate, and it verifies.
TEST(AuditLogPowerLossTest, TheNextRunAppendsAfterTheLastSyncedRecord) {
  const std::string dir = MakeTempDir();
  std::string ref, subject;
  {
    testing::FaultInjectionFileSystem fs;
    {
      testing::ScopedFileSystem scoped(&fs);
      AuditLogOptions options;
      options.directory = dir;
      // Only `Flush` syncs: what follows the last one is written, unsynced.
      options.sync = AuditSyncPolicy::kInterval;
      options.sync_interval = absl::Hours(1);
      absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options);
      ASSERT_OK(log);
      for (std::uint64_t i = 0; i < 70; ++i) {
        ASSERT_OK((*log)->Record(Event(i, &ref, &subject)));
        if (i == 39) {
          ASSERT_OK((*log)->Flush());
        }
      }
      while ((*log)->counters().written < 70) {
        absl::SleepFor(absl::Milliseconds(1));
      }
      ASSERT_EQ((*log)->durable_sequence_end(), 40u);
      fs.PowerCut();
      (*log)->Close().IgnoreError();
    }
    ASSERT_OK(fs.DropUnsyncedData());
  }
  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(dir);
  ASSERT_OK(report);
  ASSERT_TRUE(report->ok()) << report->ToString();
  ASSERT_EQ(report->records_verified, 40u);
  {
    AuditLogOptions options;
    options.directory = dir;
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options);
    ASSERT_OK(log);
    EXPECT_EQ((*log)->durable_sequence_end(), 40u);
    for (std::uint64_t i = 40; i < 60; ++i) {
      absl::StatusOr<std::uint64_t> s =
          (*log)->Append(Event(i, &ref, &subject));
      ASSERT_OK(s);
      EXPECT_EQ(*s, i);
    }
    ASSERT_OK((*log)->Close());
  }
  report = VerifyAuditLog(dir);
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_EQ(report->segments, 1u);
  EXPECT_EQ(RecoverAndCheck(dir, CutRun{60, 60}), 60u);
  std::filesystem::remove_all(dir);
}

// The same, with keys rotated at random points: a cut during a rotation
// (the old segment's seal, the new segment's header) leaves a log that
// verifies, under the key each segment names, up to the last synced event.
TEST(AuditLogPowerLossTest, ACutDuringKeyRotationLeavesAVerifiableLog) {
  std::mt19937_64 rng(20261205);
  testing::MemoryHmacKeys keys;
  keys.AddAndMakeCurrent("k-first");
  for (int iteration = 0; iteration < 4; ++iteration) {
    SCOPED_TRACE(absl::StrCat("iteration ", iteration));
    const std::string dir = MakeTempDir();
    std::uint64_t held = 0;
    for (int cut = 0; cut < 6; ++cut) {
      SCOPED_TRACE(absl::StrCat("cut ", cut));
      testing::FaultInjectionFileSystem fs;
      const CutRun run =
          WriteUntilPowerCut(dir, fs, held, 1 + rng() % 300, rng, &keys);
      ASSERT_OK(fs.DropUnsyncedData());
      held = RecoverAndCheck(dir, run, &keys);
      if (::testing::Test::HasFailure()) break;
    }
    {
      AuditLogOptions options;
      options.directory = dir;
      options.segment_bytes = 4096;
      options.hmac_keys = &keys;
      absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options);
      ASSERT_OK(log);
      std::string ref, subject;
      ASSERT_OK((*log)->Record(Event(held, &ref, &subject)));
      keys.AddAndMakeCurrent("k-last");
      ASSERT_OK((*log)->RotateKeys());
      ASSERT_OK((*log)->Record(Event(held + 1, &ref, &subject)));
      ASSERT_OK((*log)->Close());
      RecoverAndCheck(dir, CutRun{held + 2, held + 2}, &keys);
    }
    std::filesystem::remove_all(dir);
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace consentry
