// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/audit_log.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "consentry/proto_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/audit/audit_fast_path.h"
#include "src/audit/audit_format.h"
#include "src/testing/audit_log_test_peer.h"
#include "src/util/crc32c.h"
#include "tests/testing/fault_injection_fs.h"
#include "tests/testing/files.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace consentry {
namespace {

using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr std::int64_t kT0 = 1'790'000'000'000'000'000;

std::string MakeTempDir() { return testing::MakeTempDir("audit"); }

using ::consentry::testing::ReadAll;
using ::consentry::testing::WriteAll;

// A frame's bytes and where it starts.
struct RawFrame {
  std::uint64_t offset;
  std::string bytes;
};

std::vector<RawFrame> Frames(const std::string& data) {
  std::vector<RawFrame> out;
  std::uint64_t off = internal::FirstFrameOffset(data);
  internal::FrameView f;
  while (true) {
    const std::uint64_t at = off;
    if (internal::ReadFrame(data, &off, &f) != internal::FrameStatus::kOk)
      break;
    out.push_back({at, data.substr(at, off - at)});
  }
  return out;
}

std::string Join(const std::string& header,
                 const std::vector<RawFrame>& frames) {
  std::string out = header;
  for (const RawFrame& f : frames) out += f.bytes;
  return out;
}

// Rewrites a frame's CRC after its bytes changed, as a careful forger would.
void FixCrc(std::string* frame) {
  const std::uint32_t len = internal::GetU32(frame->data());
  const absl::string_view payload(frame->data() + 8, len);
  const auto* hash =
      reinterpret_cast<const unsigned char*>(frame->data() + 8 + len);
  internal::PutU32(frame->data() + 4, internal::FrameCrc(len, payload, hash));
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  AuditLogOptions Options() {
    AuditLogOptions o;
    o.directory = dir_;
    return o;
  }

  std::unique_ptr<AuditLog> OpenLog(AuditLogOptions o) {
    absl::StatusOr<std::unique_ptr<AuditLog>> log =
        AuditLog::Open(std::move(o));
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  }

  // The event's views point at `subject` and `accessor`: pass literals or
  // strings that outlive the `Record` call.
  static AuditEvent Event(int i, absl::string_view subject,
                          absl::string_view accessor) {
    AuditEvent e;
    e.time_unix_nanos = kT0 + std::int64_t{i} * 1'000'000'000;
    e.accessor = accessor;
    e.subject = subject;
    e.category = "measurement";
    e.purpose = "statistics.measurement";
    e.policy_version = "2026-11-01";
    e.reason = i % 5 == 0 ? Reason::kNoConsent : Reason::kAllowedConsent;
    e.revision = i;
    return e;
  }

  // Writes `n` events, subject s-(i % 10), accessor a-(i % 3).
  void Write(AuditLog& log, int n, int first = 0) {
    for (int i = first; i < first + n; ++i) {
      const std::string s = absl::StrCat("s-", i % 10);
      const std::string a = absl::StrCat("a-", i % 3);
      ASSERT_OK(log.Record(Event(i, s, a)));
    }
  }

  // A log of `n` events over several small segments, closed.
  void WriteSegmentedLog(int n, std::uint64_t segment_bytes = 4096) {
    AuditLogOptions o = Options();
    o.segment_bytes = segment_bytes;
    o.seal_on_close = true;  // every segment sealed and indexed
    auto log = OpenLog(o);
    ASSERT_NE(log, nullptr);
    Write(*log, n);
    ASSERT_OK(log->Close());
  }

  // Entries of the log's directory whose names end in `suffix`.
  std::uint64_t FilesEndingIn(absl::string_view suffix) {
    std::uint64_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      n += absl::EndsWith(e.path().filename().string(), suffix);
    }
    return n;
  }

  std::string Seg(std::uint64_t n) {
    return dir_ + "/" + internal::SegmentFileName(n);
  }

  AuditVerifyReport Verify(absl::string_view key = {}) {
    absl::StatusOr<AuditVerifyReport> r = VerifyAuditLog(dir_, key);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : AuditVerifyReport{};
  }

  std::string dir_;
};

TEST_F(AuditLogTest, RecordedEventsVerifyAndReadBack) {
  auto log = OpenLog(Options());
  Write(*log, 100);
  ASSERT_OK(log->Flush());
  EXPECT_EQ(log->durable_sequence_end(), 100u);
  const AuditLogCounters c = log->counters();
  EXPECT_EQ(c.enqueued, 100u);
  EXPECT_EQ(c.written, 100u);
  EXPECT_EQ(c.durable, 100u);
  ASSERT_OK(log->Close());

  const AuditVerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.records_verified, 100u);

  auto reader = *AuditLogReader::Open(dir_);
  absl::StatusOr<std::vector<OwnedAuditEvent>> events =
      reader->ForSubject("s-3");
  ASSERT_OK(events);
  ASSERT_THAT(*events, SizeIs(10));
  for (std::size_t k = 0; k < events->size(); ++k) {
    const OwnedAuditEvent& e = (*events)[k];
    EXPECT_EQ(e.subject, "s-3");
    EXPECT_EQ(e.sequence, 3 + 10 * k);
    EXPECT_EQ(e.revision, static_cast<Revision>(3 + 10 * k));
    EXPECT_EQ(e.purpose, "statistics.measurement");
  }
}

TEST_F(AuditLogTest, BatchEventKeepsItsCountsAndSummary) {
  auto log = OpenLog(Options());
  AuditEvent e;
  e.time_unix_nanos = 1;
  e.action = AuditAction::kBatch;
  e.accessor = "statistics-job";
  e.purpose = "statistics.measurement";
  e.category = "measurement";
  e.reason = Reason::kAllowedConsent;
  e.records_included = 820;
  e.records_excluded = 380;
  e.detail = "batch of 1200: 820 included, 380 excluded (consent_refused)";
  ASSERT_OK(log->Record(e));
  ASSERT_OK(log->Flush());
  ASSERT_OK(log->Close());
  EXPECT_TRUE(Verify().ok());
  auto reader = *AuditLogReader::Open(dir_);
  absl::StatusOr<std::vector<OwnedAuditEvent>> events =
      reader->ForAccessor("statistics-job");
  ASSERT_OK(events);
  ASSERT_THAT(*events, SizeIs(1));
  EXPECT_EQ((*events)[0].action, AuditAction::kBatch);
  EXPECT_EQ((*events)[0].records_included, 820);
  EXPECT_EQ((*events)[0].records_excluded, 380);
  EXPECT_EQ((*events)[0].detail, e.detail);
}

TEST_F(AuditLogTest, AppendReturnsSequenceAcknowledgedByFlush) {
  auto log = OpenLog(Options());
  absl::StatusOr<std::uint64_t> a = log->Append(Event(0, "s", "a"));
  absl::StatusOr<std::uint64_t> b = log->Append(Event(1, "s", "a"));
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(*a, 0u);
  EXPECT_EQ(*b, 1u);
  ASSERT_OK(log->Flush());
  EXPECT_GT(log->durable_sequence_end(), *b);
  EXPECT_EQ(log->head().sequence_end, 2u);
  EXPECT_EQ(log->head().last_hash.size(), 32u);
}

TEST_F(AuditLogTest, ReopenAfterASealedSegmentBeginsANewOne) {
  AuditLogOptions o = Options();
  o.seal_on_close = true;
  {
    auto log = OpenLog(o);
    Write(*log, 20);
  }
  {
    auto log = OpenLog(Options());
    absl::StatusOr<std::uint64_t> s = log->Append(Event(20, "s-0", "a-2"));
    ASSERT_OK(s);
    EXPECT_EQ(*s, 20u);
    Write(*log, 9, 21);
  }
  const AuditVerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.records_verified, 30u);
  EXPECT_EQ(r.segments, 2u);
}

// A short-lived writer (one event per run, as `consentctl` records a
// request step) appends to the segment the run before it left open, rather
// than leaving a segment per run; queries see every run's events.
TEST_F(AuditLogTest, ShortLivedWritersAppendToOneSegment) {
  for (int run = 0; run < 10; ++run) {
    auto log = OpenLog(Options());
    ASSERT_NE(log, nullptr);
    const std::string subject = absl::StrCat("s-", run % 2);
    absl::StatusOr<std::uint64_t> s = log->Append(Event(run, subject, "a-0"));
    ASSERT_OK(s);
    EXPECT_EQ(*s, static_cast<std::uint64_t>(run));
    ASSERT_OK(log->Close());
    EXPECT_EQ(log->counters().segments_sealed, 0u);
  }
  EXPECT_EQ(FilesEndingIn(".seg"), 1u);
  EXPECT_EQ(FilesEndingIn(".idx"), 0u);  // not sealed yet
  const AuditVerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.records_verified, 10u);
  EXPECT_EQ(r.segments, 1u);
  auto reader = *AuditLogReader::Open(dir_);
  absl::StatusOr<std::vector<OwnedAuditEvent>> all =
      reader->InTimeRange(absl::InfinitePast(), absl::InfiniteFuture());
  ASSERT_OK(all);
  ASSERT_THAT(*all, SizeIs(10));
  for (std::size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].sequence, i);
    EXPECT_EQ((*all)[i].revision, static_cast<Revision>(i));
  }
  absl::StatusOr<std::vector<OwnedAuditEvent>> mine = reader->ForSubject("s-1");
  ASSERT_OK(mine);
  EXPECT_THAT(*mine, SizeIs(5));
}

// Short runs still fill segments: a segment is sealed (and indexed) once
// full, whichever run fills it, so files become immutable for shipping.
TEST_F(AuditLogTest, ShortLivedWritersStillSealFullSegments) {
  AuditLogOptions o = Options();
  o.segment_bytes = 4096;
  for (int run = 0; run < 40; ++run) {
    auto log = OpenLog(o);
    ASSERT_NE(log, nullptr);
    Write(*log, 5, run * 5);
    ASSERT_OK(log->Close());
  }
  const AuditVerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.records_verified, 200u);
  ASSERT_GT(r.segments, 3u);
  // Every segment but the last is sealed and indexed, and its index used.
  EXPECT_EQ(r.indexes_verified, r.segments - 1);
  EXPECT_EQ(FilesEndingIn(".idx"), r.segments - 1);
  auto reader = *AuditLogReader::Open(dir_);
  absl::StatusOr<std::vector<OwnedAuditEvent>> mine = reader->ForSubject("s-7");
  ASSERT_OK(mine);
  EXPECT_THAT(*mine, SizeIs(20));
  EXPECT_EQ(reader->last_stats().segments_scanned, 1u);  // the open one
}

// With `seal_on_close`, `Close` seals: the next run begins a new segment.
TEST_F(AuditLogTest, SealOnCloseSealsAndTheNextRunBeginsANewSegment) {
  AuditLogOptions o = Options();
  o.seal_on_close = true;
  for (int run = 0; run < 3; ++run) {
    auto log = OpenLog(o);
    ASSERT_NE(log, nullptr);
    Write(*log, 2, run * 2);
    ASSERT_OK(log->Close());
    EXPECT_EQ(log->counters().segments_sealed, 1u);
  }
  const AuditVerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.segments, 3u);
  EXPECT_EQ(r.indexes_verified, 3u);
}

// A last segment that does not verify is never appended to: `Open` fails
// naming it, the file is left as it was, and verification reports the
// damage as before.
TEST_F(AuditLogTest, ADamagedOpenSegmentIsNotAppendedTo) {
  {
    auto log = OpenLog(Options());
    Write(*log, 20);
    ASSERT_OK(log->Close());
  }
  std::string data = ReadAll(Seg(0));
  const std::vector<RawFrame> frames = Frames(data);
  ASSERT_EQ(frames.size(), 20u);
  data[frames[7].offset + 12] ^= 1;  // inside event 7's payload
  WriteAll(Seg(0), data);
  const AuditVerifyReport before = Verify();
  EXPECT_EQ(before.defect, AuditDefect::kCrcMismatch) << before.ToString();
  EXPECT_EQ(before.record_index, 7u);
  EXPECT_THAT(AuditLog::Open(Options()),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr(internal::SegmentFileName(0))));
  EXPECT_EQ(ReadAll(Seg(0)), data);
  EXPECT_EQ(FilesEndingIn(".seg"), 1u);
  const AuditVerifyReport after = Verify();
  EXPECT_EQ(after.defect, before.defect);
  EXPECT_EQ(after.record_index, before.record_index);
  EXPECT_EQ(after.detail, before.detail);
}

// A sealed last segment whose index was damaged: the segment is final, so
// the writer begins a new one; the damaged index is reported as before.
TEST_F(AuditLogTest, ASealedSegmentWithADamagedIndexIsFollowedByANewOne) {
  AuditLogOptions o = Options();
  o.seal_on_close = true;
  {
    auto log = OpenLog(o);
    Write(*log, 20);
  }
  const std::string idx = dir_ + "/" + internal::IndexFileName(0);
  std::string index = ReadAll(idx);
  index[index.size() - 3] ^= 1;
  WriteAll(idx, index);
  const std::string seg0 = ReadAll(Seg(0));
  {
    auto log = OpenLog(Options());
    ASSERT_NE(log, nullptr);
    absl::StatusOr<std::uint64_t> s = log->Append(Event(20, "s-0", "a-2"));
    ASSERT_OK(s);
    EXPECT_EQ(*s, 20u);
    ASSERT_OK(log->Close());
  }
  EXPECT_EQ(ReadAll(Seg(0)), seg0);
  EXPECT_EQ(ReadAll(idx), index);
  EXPECT_EQ(FilesEndingIn(".seg"), 2u);
  const AuditVerifyReport r = Verify();
  EXPECT_EQ(r.defect, AuditDefect::kIndexMismatch) << r.ToString();
  EXPECT_EQ(r.segment_file, idx);
}

// A torn final record in the open segment: `Open` refuses it, the repair
// trims it, and the next run appends to the same segment after the last
// whole record.
TEST_F(AuditLogTest, AfterATornTailIsRepairedTheNextRunAppendsToItsSegment) {
  {
    auto log = OpenLog(Options());
    Write(*log, 30);
    ASSERT_OK(log->Close());
  }
  const std::string data = ReadAll(Seg(0));
  const std::vector<RawFrame> frames = Frames(data);
  ASSERT_EQ(frames.size(), 30u);
  WriteAll(Seg(0), data.substr(0, frames[29].offset + 11));
  EXPECT_EQ(Verify().defect, AuditDefect::kTornTail);
  EXPECT_THAT(AuditLog::Open(Options()), StatusIs(absl::StatusCode::kDataLoss,
                                                  HasSubstr("RepairAuditLog")));
  ASSERT_OK(RepairAuditLog(dir_));
  {
    auto log = OpenLog(Options());
    ASSERT_NE(log, nullptr);
    absl::StatusOr<std::uint64_t> s = log->Append(Event(29, "s-9", "a-2"));
    ASSERT_OK(s);
    EXPECT_EQ(*s, 29u);
    Write(*log, 5, 30);
    ASSERT_OK(log->Close());
  }
  const AuditVerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.records_verified, 35u);
  EXPECT_EQ(r.segments, 1u);
  EXPECT_EQ(ReadAll(Seg(0)).substr(0, frames[29].offset),
            data.substr(0, frames[29].offset));
}

TEST_F(AuditLogTest, RotatesSegmentsBySize) {
  AuditLogOptions o = Options();
  o.segment_bytes = 4096;
  auto log = OpenLog(o);
  Write(*log, 500);
  ASSERT_OK(log->Close());
  EXPECT_GT(log->counters().segments_sealed, 5u);
  const AuditVerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.records_verified, 500u);
  EXPECT_GT(r.segments, 5u);
  for (std::uint64_t i = 0; i + 1 < r.segments; ++i) {
    EXPECT_LE(std::filesystem::file_size(Seg(i)), 4096u);
  }
}

TEST_F(AuditLogTest, ConcurrentWritersGetDistinctSequences) {
  AuditLogOptions o = Options();
  o.queue_capacity = 64;  // small: producers also block now and then
  auto log = OpenLog(o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string s = absl::StrCat("t", t, "-", i);
        ASSERT_OK(log->Record(Event(i, s, absl::StrCat("a-", t))));
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_OK(log->Close());
  EXPECT_EQ(log->counters().written, 2000u);
  const AuditVerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.records_verified, 2000u);
  auto reader = *AuditLogReader::Open(dir_);
  absl::StatusOr<std::vector<OwnedAuditEvent>> mine =
      reader->ForAccessor("a-2");
  ASSERT_OK(mine);
  EXPECT_THAT(*mine, SizeIs(500));
}

TEST_F(AuditLogTest, LongEventsSpillToTheHeap) {
  auto log = OpenLog(Options());
  const std::string ref(5000, 'x');
  AuditEvent e = Event(0, "s-long", "a");
  e.record_ref = ref;
  ASSERT_OK(log->Record(e));
  ASSERT_OK(log->Close());
  auto events = *(*AuditLogReader::Open(dir_))->ForSubject("s-long");
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].record_ref, ref);
}

// --- back-pressure ---------------------------------------------------------

TEST_F(AuditLogTest, FullQueueDeniesWithResourceExhausted) {
  AuditLogOptions o = Options();
  o.queue_capacity = 4;
  o.overflow = AuditOverflowPolicy::kDeny;
  auto log = OpenLog(o);
  internal::AuditLogTestPeer::PauseWriter(*log, true);
  Write(*log, 4);
  EXPECT_THAT(
      log->Record(Event(4, "s", "a")),
      StatusIs(absl::StatusCode::kResourceExhausted,
               HasSubstr("queue full (4 events queued by this thread)")));
  EXPECT_EQ(log->counters().denied_overload, 1u);
  EXPECT_EQ(log->counters().enqueued, 4u);
  internal::AuditLogTestPeer::PauseWriter(*log, false);
  ASSERT_OK(log->Flush());
  EXPECT_EQ(log->counters().written, 4u);
}

TEST_F(AuditLogTest, FullQueueBlocksTheCallerUntilThereIsRoom) {
  AuditLogOptions o = Options();
  o.queue_capacity = 2;
  o.overflow = AuditOverflowPolicy::kBlock;
  auto log = OpenLog(o);
  internal::AuditLogTestPeer::PauseWriter(*log, true);
  // The queue is per thread: the caller fills its own, then waits.
  std::atomic<bool> done{false};
  std::thread caller([&] {
    Write(*log, 2);
    EXPECT_OK(log->Record(Event(2, "s", "a")));
    done = true;
  });
  while (log->counters().blocked == 0) std::this_thread::yield();
  EXPECT_FALSE(done.load());
  internal::AuditLogTestPeer::PauseWriter(*log, false);
  caller.join();
  ASSERT_OK(log->Flush());
  EXPECT_EQ(log->counters().written, 3u);
  EXPECT_EQ(log->counters().blocked, 1u);
  EXPECT_EQ(log->counters().denied_overload, 0u);
}

class AuditLogGuardTest : public testing::GuardFixture {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_ = MakeTempDir();
};

TEST_F(AuditLogGuardTest, GuardDeniesWithAuditOverloadedWhenFull) {
  AuditLogOptions o;
  o.directory = dir_;
  o.queue_capacity = 2;
  o.overflow = AuditOverflowPolicy::kDeny;
  auto log = *AuditLog::Open(o);
  auto guard = *Guard::Create(testing::DefaultPolicy(), &store_, log.get());
  Set("s-1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  auto ctx = *guard->Context("statistics-job", "statistics.measurement");
  auto cat = *guard->Category("measurement");
  internal::AuditLogTestPeer::PauseWriter(*log, true);
  ASSERT_OK(guard->Check(ctx, "s-1", cat));
  ASSERT_OK(guard->Check(ctx, "s-1", cat));
  absl::StatusOr<Decision> d = guard->Check(ctx, "s-1", cat);
  EXPECT_THAT(d, StatusIs(absl::StatusCode::kUnavailable,
                          HasSubstr("audit_overloaded")));
  EXPECT_EQ(ReasonFromStatus(d.status()), Reason::kAuditOverloaded);
  internal::AuditLogTestPeer::PauseWriter(*log, false);
  ASSERT_OK(log->Close());
  // A closed log makes the guard fail closed with the other reason.
  absl::StatusOr<Decision> after = guard->Check(ctx, "s-1", cat);
  EXPECT_EQ(ReasonFromStatus(after.status()), Reason::kAuditUnavailable);
  auto events = *(*AuditLogReader::Open(dir_))->ForSubject("s-1");
  ASSERT_THAT(events, SizeIs(2));
  EXPECT_EQ(events[0].accessor, "statistics-job");
  EXPECT_EQ(events[0].category, "measurement");
  EXPECT_EQ(events[0].reason, Reason::kAllowedConsent);
  EXPECT_EQ(events[0].policy_version, guard->policy()->version());
}

// The warm check writes its record straight into the thread's lane; a log
// closed after its lane was set up, or failed, must still deny: nothing is
// taken into a lane the writer will not drain again.
TEST_F(AuditLogGuardTest,
       GuardOnAClosedOrFailedLogDeniesAndRecordsNothingMore) {
  for (const bool fail : {false, true}) {
    SCOPED_TRACE(fail ? "failed" : "closed");
    const std::string dir = dir_ + (fail ? "/failed" : "/closed");
    std::filesystem::create_directories(dir);
    testing::FaultInjectionFileSystem fs;
    std::uint64_t written = 0;
    {
      testing::ScopedFileSystem scoped(&fs);
      AuditLogOptions o;
      o.directory = dir;
      auto log = *AuditLog::Open(o);
      auto guard = *Guard::Create(testing::DefaultPolicy(), &store_, log.get());
      Set("s-1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
      auto ctx = *guard->Context("statistics-job", "statistics.measurement");
      auto cat = *guard->Category("measurement");
      const SubjectRef ref = guard->Subject("s-1");
      for (int i = 0; i < 4; ++i) {
        ASSERT_OK(guard->Check(ctx, "s-1", cat));
        ASSERT_OK(guard->Check(ctx, ref, cat));
      }
      ASSERT_OK(log->Flush());
      written = log->counters().written;
      ASSERT_EQ(written, 8u);
      if (fail) {
        fs.PowerCut();
        // The next record the writer takes fails the log.
        (void)guard->Check(ctx, "s-1", cat);
        EXPECT_FALSE(log->Flush().ok());
      } else {
        ASSERT_OK(log->Close());
      }
      const std::uint64_t enqueued = log->counters().enqueued;
      for (int i = 0; i < 3; ++i) {
        absl::StatusOr<Decision> by_id = guard->Check(ctx, "s-1", cat);
        EXPECT_EQ(ReasonFromStatus(by_id.status()), Reason::kAuditUnavailable)
            << by_id.status();
        absl::StatusOr<Decision> by_ref = guard->Check(ctx, ref, cat);
        EXPECT_EQ(ReasonFromStatus(by_ref.status()), Reason::kAuditUnavailable)
            << by_ref.status();
      }
      // Nothing was taken for the denied checks.
      EXPECT_EQ(log->counters().enqueued, enqueued);
    }
    if (fail) {
      ASSERT_OK(fs.DropUnsyncedData());
    }
    auto events = *(*AuditLogReader::Open(dir))->ForSubject("s-1");
    EXPECT_THAT(events, SizeIs(written));
  }
}

// Checks on several threads through a Guard whose sink is the log (the
// compact path), while another thread switches the policy back and forth
// and the writer runs: every decision is logged once, with the version of
// the policy it was made under.
TEST_F(AuditLogGuardTest, ConcurrentChecksAcrossPolicySwitchesLogTheirPolicy) {
  AuditLogOptions o;
  o.directory = dir_;
  o.queue_capacity = 256;  // the writer works while checks run
  auto log = *AuditLog::Open(o);
  auto guard = *Guard::Create(testing::DefaultPolicy(), &store_, log.get());
  Set("s-1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  std::shared_ptr<const CompiledPolicy> a = guard->policy();
  v1::Policy next = a->proto();
  next.set_version("strict");
  for (v1::UseRule& r : *next.mutable_rules()) {
    if (r.category() != "measurement") continue;
    auto* ps = r.mutable_purposes();
    for (int i = ps->size() - 1; i >= 0; --i) {
      if (ps->Get(i) == "statistics.measurement") ps->DeleteSubrange(i, 1);
    }
  }
  std::shared_ptr<const CompiledPolicy> b = *CompiledPolicy::Compile(next);
  auto ctx = *guard->Context("statistics-job", "statistics.measurement");
  auto cat = *guard->Category("measurement");
  std::atomic<bool> stop{false};
  std::atomic<long> checks{0};
  std::atomic<long> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 3000; ++i) {
        if (i >= 300 && stop.load(std::memory_order_acquire)) break;
        absl::StatusOr<Decision> d = guard->Check(ctx, "s-1", cat);
        if (!d.ok()) {
          bad.fetch_add(1);
          continue;
        }
        checks.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 30; ++i) {
    ASSERT_OK(guard->SetPolicy(i % 2 == 0 ? b : a));
    std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  ASSERT_OK(log->Close());
  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(dir_);
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok()) << report->ToString();
  auto events = *(*AuditLogReader::Open(dir_))->ForSubject("s-1");
  ASSERT_EQ(events.size(), static_cast<std::size_t>(checks.load()));
  std::size_t strict = 0;
  for (const OwnedAuditEvent& e : events) {
    EXPECT_EQ(e.accessor, "statistics-job");
    EXPECT_EQ(e.purpose, "statistics.measurement");
    if (e.reason == Reason::kAllowedConsent) {
      EXPECT_EQ(e.policy_version, a->version());
    } else {
      EXPECT_EQ(e.reason, Reason::kNotAllowedByPolicy);
      EXPECT_EQ(e.policy_version, "strict");
      ++strict;
    }
  }
  EXPECT_GT(events.size(), strict);
}

TEST_F(AuditLogGuardTest, ShadowModeLogsTheWouldBeDenial) {
  AuditLogOptions o;
  o.directory = dir_;
  auto log = *AuditLog::Open(o);
  GuardOptions go;
  go.mode = EnforcementMode::kShadow;
  auto guard = *Guard::Create(testing::DefaultPolicy(), &store_, log.get(), go);
  auto ctx = *guard->Context("statistics-job", "statistics.measurement");
  absl::StatusOr<Decision> d =
      guard->Check(ctx, "s-none", *guard->Category("measurement"));
  ASSERT_OK(d);
  EXPECT_TRUE(d->shadow_denial());
  ASSERT_OK(log->Close());
  auto events = *(*AuditLogReader::Open(dir_))->ForSubject("s-none");
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_TRUE(events[0].shadow);
  EXPECT_FALSE(events[0].allowed());
  EXPECT_EQ(events[0].reason, Reason::kNoConsent);
}

TEST_F(AuditLogGuardTest, ReadDecisionsCarryTheirPolicyAcrossASwitch) {
  AuditLogOptions o;
  o.directory = dir_;
  auto log = *AuditLog::Open(o);
  auto guard = *Guard::Create(testing::DefaultPolicy(), &store_, log.get());
  Set("s-1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  auto ctx = *guard->Context("statistics-job", "statistics.measurement");
  RecordTags tags =
      *guard->Tag("s-1", "measurement", {"statistics.measurement"}, {},
                  "weights/2026-11/row-17");
  ASSERT_OK(guard->Check(ctx, tags));
  absl::StatusOr<v1::Policy> next_def =
      LoadPolicyFile(testing::SourcePath("policies/default.textproto"));
  ASSERT_OK(next_def);
  next_def->set_version("2026-12-01");
  ASSERT_OK(guard->SetPolicy(*CompiledPolicy::Compile(*next_def)));
  // The context and tags were resolved under the first policy: the Guard
  // resolves them by name again; the second read is audited as well.
  ASSERT_OK(guard->Check(ctx, tags));
  auto ctx2 = *guard->Context("statistics-job", "statistics.measurement");
  ASSERT_OK(guard->Check(ctx2, "s-1", *guard->Category("measurement")));
  ASSERT_OK(log->Close());
  auto events = *(*AuditLogReader::Open(dir_))->ForSubject("s-1");
  ASSERT_THAT(events, SizeIs(3));
  EXPECT_EQ(events[0].policy_version, "2026-11-01");
  EXPECT_EQ(events[0].record_ref, "weights/2026-11/row-17");
  EXPECT_EQ(events[0].accessor, "statistics-job");
  EXPECT_EQ(events[0].purpose, "statistics.measurement");
  EXPECT_EQ(events[0].category, "measurement");
  EXPECT_EQ(events[0].action, AuditAction::kRead);
  EXPECT_EQ(events[1].policy_version, "2026-12-01");
  EXPECT_EQ(events[1].record_ref, "weights/2026-11/row-17");
  EXPECT_EQ(events[2].policy_version, "2026-12-01");
  EXPECT_EQ(events[2].record_ref, "");
  for (const OwnedAuditEvent& e : events) {
    EXPECT_EQ(e.reason, Reason::kAllowedConsent);
    EXPECT_GT(e.time_unix_nanos, 0);
  }
}

TEST_F(AuditLogGuardTest, LongSubjectIdsAreAuditedInFull) {
  AuditLogOptions o;
  o.directory = dir_;
  auto log = *AuditLog::Open(o);
  auto guard = *Guard::Create(testing::DefaultPolicy(), &store_, log.get());
  const std::string subject(6000, 'q');  // beyond the compact record's limit
  auto ctx = *guard->Context("statistics-job", "statistics.measurement");
  ASSERT_OK(guard->Check(ctx, subject, *guard->Category("measurement")));
  ASSERT_OK(log->Close());
  auto events = *(*AuditLogReader::Open(dir_))->ForSubject(subject);
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].subject, subject);
  EXPECT_EQ(events[0].reason, Reason::kNoConsent);
  EXPECT_EQ(events[0].policy_version, "2026-11-01");
}

// Compact decisions of every form (short, wide, and the fallback for
// strings over 4 KiB), each boundary of the short form included, give
// files byte-identical to `Record` of the same events.
TEST_F(AuditLogGuardTest, CompactDecisionsWriteTheBytesRecordWrites) {
  // 34 policies, so that slots above the short form's 31 occur.
  absl::StatusOr<v1::Policy> def =
      LoadPolicyFile(testing::SourcePath("policies/default.textproto"));
  ASSERT_OK(def);
  std::vector<std::shared_ptr<const CompiledPolicy>> policies;
  for (int i = 0; i < 34; ++i) {
    def->set_version(absl::StrCat("2026-11-", i));
    policies.push_back(*CompiledPolicy::Compile(*def));
  }
  const std::string fast_dir = dir_ + "/fast";
  const std::string slow_dir = dir_ + "/slow";
  AuditLogOptions o;
  o.directory = fast_dir;
  auto fast = *AuditLog::Open(o);
  o.directory = slow_dir;
  auto slow = *AuditLog::Open(o);
  std::vector<std::uint32_t> slots;
  for (const auto& p : policies) {
    slots.push_back(internal::AuditLogFastPath::AttachPolicy(*fast, p));
  }
  const std::string text(5000, 's');
  const std::string refs(5000, 'r');
  // 112 and 113: a short-form payload of exactly the lane's fast-path
  // limit (128 bytes) with no reference, and one byte over it.
  const std::vector<std::size_t> lengths = {0,   1,   8,   9,    16,   17,  112,
                                            113, 255, 256, 4096, 4097, 5000};
  const std::vector<Revision> revisions = {0, 7, 0xFFFFFFFFll, 0x100000000ll,
                                           -3};
  // Each log's records go in one pass of their own: a thread keeps the
  // lane of the log it recorded into last, so interleaving the two logs
  // would send every record down the slow path.
  std::vector<std::string> ids;
  ids.reserve(lengths.size() * lengths.size() * revisions.size());
  std::vector<AuditEvent> slow_events;
  int n = 0;
  for (std::size_t subject : lengths) {
    for (std::size_t ref : lengths) {
      for (Revision revision : revisions) {
        const std::size_t k = static_cast<std::size_t>(n++);
        const CompiledPolicy& p = *policies[k % policies.size()];
        internal::CompactDecision d;
        d.time_unix_nanos = kT0 + static_cast<std::int64_t>(k);
        d.revision = revision;
        d.policy_slot = slots[k % policies.size()];
        d.accessor = static_cast<AccessorIndex>(
            k % static_cast<std::size_t>(p.accessor_count()));
        d.purpose = static_cast<PurposeIndex>(
            k % static_cast<std::size_t>(p.purpose_count()));
        d.category = static_cast<CategoryIndex>(
            k % static_cast<std::size_t>(p.category_count()));
        d.reason = k % 3 == 0 ? Reason::kNoConsent : Reason::kAllowedConsent;
        d.shadow = k % 5 == 0;
        // A distinct subject per event, of the length wanted.
        std::string& id = ids.emplace_back(text.substr(0, subject));
        if (subject >= 4) id.replace(0, 4, absl::StrCat(1000 + k % 9000));
        d.subject = id;
        d.record_ref = absl::string_view(refs).substr(0, ref);
        ASSERT_OK(internal::AuditLogFastPath::Record(*fast, d));
        AuditEvent e;
        e.time_unix_nanos = d.time_unix_nanos;
        e.action = AuditAction::kRead;
        e.accessor = p.accessor_id(d.accessor);
        e.subject = d.subject;
        e.category = p.category_id(d.category);
        e.purpose = p.purpose_id(d.purpose);
        e.policy_version = p.version();
        e.record_ref = d.record_ref;
        e.reason = d.reason;
        e.revision = d.revision;
        e.shadow = d.shadow;
        slow_events.push_back(e);
      }
    }
  }
  for (const AuditEvent& e : slow_events) ASSERT_OK(slow->Record(e));
  ASSERT_OK(fast->Close());
  ASSERT_OK(slow->Close());
  std::vector<std::string> names;
  for (const auto& f : std::filesystem::directory_iterator(slow_dir)) {
    names.push_back(f.path().filename().string());
  }
  ASSERT_FALSE(names.empty());
  for (const std::string& name : names) {
    const std::string a = ReadAll(fast_dir + "/" + name);
    const std::string b = ReadAll(slow_dir + "/" + name);
    EXPECT_FALSE(b.empty()) << name;
    EXPECT_TRUE(a == b) << name << " differs";
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(fast_dir),
                          std::filesystem::directory_iterator()),
            static_cast<std::ptrdiff_t>(names.size()));
  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(fast_dir);
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok()) << report->ToString();
  auto events = *(*AuditLogReader::Open(fast_dir))
                     ->InTimeRange(absl::FromUnixNanos(kT0),
                                   absl::FromUnixNanos(kT0 + n));
  EXPECT_THAT(events, SizeIs(n));
}

// A lane of four events (a 512-byte ring) wraps every few records: the
// short records that fit take the fast path, the others and the records
// at the ring's end take `Reserve` (padding to the end), and a full lane
// blocks until the writer frees it. Every record arrives, in order.
TEST_F(AuditLogGuardTest, CompactDecisionsWrapASmallLaneInOrder) {
  std::shared_ptr<const CompiledPolicy> policy = testing::DefaultPolicy();
  AuditLogOptions o;
  o.directory = dir_;
  o.queue_capacity = 4;
  auto log = *AuditLog::Open(o);
  const std::uint32_t slot =
      internal::AuditLogFastPath::AttachPolicy(*log, policy);
  const std::string text(200, 'x');
  constexpr int kEvents = 3000;
  for (int k = 0; k < kEvents; ++k) {
    std::string subject = absl::StrCat(k, "-");
    subject += text.substr(0, static_cast<std::size_t>(k * 7 % 150));
    internal::CompactDecision d;
    d.time_unix_nanos = kT0 + k;
    d.revision = k;
    d.policy_slot = slot;
    d.reason = Reason::kAllowedConsent;
    d.subject = subject;
    d.record_ref = k % 4 == 0 ? "ref" : "";
    ASSERT_OK(internal::AuditLogFastPath::Record(*log, d));
  }
  EXPECT_GT(log->counters().blocked, 0u);  // the lane did fill
  ASSERT_OK(log->Close());
  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(dir_);
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok()) << report->ToString();
  auto events = *(*AuditLogReader::Open(dir_))
                     ->InTimeRange(absl::FromUnixNanos(kT0),
                                   absl::FromUnixNanos(kT0 + kEvents));
  ASSERT_THAT(events, SizeIs(kEvents));
  for (int k = 0; k < kEvents; ++k) {
    const OwnedAuditEvent& e = events[static_cast<std::size_t>(k)];
    EXPECT_EQ(e.time_unix_nanos, kT0 + k);
    EXPECT_EQ(e.revision, k);
    EXPECT_EQ(e.subject.size(), absl::StrCat(k, "-").size() +
                                    static_cast<std::size_t>(k * 7 % 150));
    EXPECT_TRUE(absl::StartsWith(e.subject, absl::StrCat(k, "-")));
    EXPECT_EQ(e.record_ref, k % 4 == 0 ? "ref" : "");
    EXPECT_EQ(e.policy_version, policy->version());
  }
}

TEST_F(AuditLogTest, OneThreadsFullQueueDoesNotHoldUpAnother) {
  AuditLogOptions o = Options();
  o.queue_capacity = 2;
  o.overflow = AuditOverflowPolicy::kDeny;
  auto log = OpenLog(o);
  internal::AuditLogTestPeer::PauseWriter(*log, true);
  Write(*log, 2);
  EXPECT_THAT(log->Record(Event(2, "s", "a")),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("queued by this thread")));
  std::thread other([&] { EXPECT_OK(log->Record(Event(3, "s-other", "b"))); });
  other.join();
  internal::AuditLogTestPeer::PauseWriter(*log, false);
  ASSERT_OK(log->Flush());
  EXPECT_EQ(log->counters().written, 3u);
  EXPECT_EQ(log->counters().enqueued, 3u);
  EXPECT_EQ(log->counters().denied_overload, 1u);
}

TEST_F(AuditLogTest, EventsOfExitedThreadsAreWrittenAndCounted) {
  auto log = OpenLog(Options());
  internal::AuditLogTestPeer::PauseWriter(*log, true);
  for (int t = 0; t < 8; ++t) {
    std::thread([&log, t] {
      for (int i = 0; i < 25; ++i) {
        ASSERT_OK(log->Record(
            Event(i, absl::StrCat("t", t, "-", i), absl::StrCat("a-", t))));
      }
    }).join();  // each thread exits with its events still queued
  }
  EXPECT_EQ(log->counters().enqueued, 200u);
  internal::AuditLogTestPeer::PauseWriter(*log, false);
  ASSERT_OK(log->Flush());
  EXPECT_EQ(log->counters().written, 200u);
  EXPECT_EQ(log->counters().durable, 200u);
  // The lanes of the exited threads are dropped; the count stays.
  Write(*log, 1);
  ASSERT_OK(log->Flush());
  EXPECT_EQ(log->counters().enqueued, 201u);
  ASSERT_OK(log->Close());
  const AuditVerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.records_verified, 201u);
}

TEST_F(AuditLogTest, FlushCoversEventsOfOtherThreads) {
  auto log = OpenLog(Options());
  std::vector<std::thread> threads;
  std::atomic<int> done{0};
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&log, &done, t] {
      for (int i = 0; i < 100; ++i) {
        ASSERT_OK(log->Record(Event(i, absl::StrCat("t", t), "a")));
      }
      done.fetch_add(1);
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(done.load(), 3);
  ASSERT_OK(log->Flush());
  EXPECT_EQ(log->durable_sequence_end(), 300u);
}

TEST_F(AuditLogTest, IntervalSyncIsDurableAfterFlush) {
  AuditLogOptions o = Options();
  o.sync = AuditSyncPolicy::kInterval;
  o.sync_interval = absl::Hours(1);  // only Flush makes it durable
  auto log = OpenLog(o);
  Write(*log, 10);
  ASSERT_OK(log->Flush());
  EXPECT_EQ(log->durable_sequence_end(), 10u);
  EXPECT_EQ(log->counters().durable, 10u);
  ASSERT_OK(log->Close());
  EXPECT_TRUE(Verify().ok());
}

TEST_F(AuditLogTest, OpenRejectsBadOptions) {
  AuditLogOptions o;
  EXPECT_THAT(AuditLog::Open(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("directory")));
  o = Options();
  o.segment_bytes = 100;
  EXPECT_THAT(AuditLog::Open(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("segment_bytes 100")));
  o = Options();
  o.queue_capacity = 0;
  EXPECT_THAT(AuditLog::Open(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("queue_capacity 0")));
  o = Options();
  o.directory = dir_ + "/no/such/parent";
  EXPECT_THAT(AuditLog::Open(o), StatusIs(absl::StatusCode::kNotFound,
                                          HasSubstr("no/such/parent")));
}

TEST_F(AuditLogTest, RecordAfterCloseFails) {
  auto log = OpenLog(Options());
  ASSERT_OK(log->Close());
  EXPECT_THAT(
      log->Record(Event(0, "s", "a")),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_THAT(log->Flush(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                     HasSubstr("closed")));
}

// --- verification -----------------------------------------------------------

TEST_F(AuditLogTest, VerifyReportsAnEditedRecord) {
  WriteSegmentedLog(200);
  std::string data = ReadAll(Seg(1));
  std::vector<RawFrame> frames = Frames(data);
  ASSERT_GT(frames.size(), 6u);
  std::string& f = frames[5].bytes;
  const std::size_t at = f.find("s-");
  ASSERT_NE(at, std::string::npos);
  f[at + 2] = f[at + 2] == '9' ? '8' : '9';  // point at another subject
  FixCrc(&f);
  WriteAll(Seg(1),
           Join(data.substr(0, internal::FirstFrameOffset(data)), frames));
  const AuditVerifyReport r = Verify();
  EXPECT_EQ(r.defect, AuditDefect::kEdited) << r.ToString();
  EXPECT_EQ(r.segment_file, Seg(1));
  EXPECT_EQ(r.record_index, 5u);
  EXPECT_EQ(r.byte_offset, frames[5].offset);
  EXPECT_THAT(r.ToString(), HasSubstr("edited"));
}

TEST_F(AuditLogTest, VerifyReportsACrcMismatch) {
  WriteSegmentedLog(200);
  std::string data = ReadAll(Seg(1));
  const std::vector<RawFrame> frames = Frames(data);
  data[frames[3].offset + 12] =
      static_cast<char>(data[frames[3].offset + 12] ^ 1);
  WriteAll(Seg(1), data);
  const AuditVerifyReport r = Verify();
  EXPECT_EQ(r.defect, AuditDefect::kCrcMismatch) << r.ToString();
  EXPECT_EQ(r.record_index, 3u);
  EXPECT_EQ(r.byte_offset, frames[3].offset);
}

TEST_F(AuditLogTest, VerifyReportsADeletedRecord) {
  WriteSegmentedLog(200);
  const std::string data = ReadAll(Seg(1));
  std::vector<RawFrame> frames = Frames(data);
  const std::uint64_t offset = frames[4].offset;
  frames.erase(frames.begin() + 4);
  WriteAll(Seg(1),
           Join(data.substr(0, internal::FirstFrameOffset(data)), frames));
  const AuditVerifyReport r = Verify();
  EXPECT_EQ(r.defect, AuditDefect::kDeleted) << r.ToString();
  EXPECT_EQ(r.record_index, 4u);
  EXPECT_EQ(r.byte_offset, offset);
  EXPECT_THAT(r.detail, HasSubstr("missing"));
}

TEST_F(AuditLogTest, VerifyReportsAnInsertedRecord) {
  WriteSegmentedLog(200);
  const std::string data = ReadAll(Seg(1));
  std::vector<RawFrame> frames = Frames(data);
  frames.insert(frames.begin() + 5, frames[4]);  // a replayed copy
  WriteAll(Seg(1),
           Join(data.substr(0, internal::FirstFrameOffset(data)), frames));
  const AuditVerifyReport r = Verify();
  EXPECT_EQ(r.defect, AuditDefect::kInserted) << r.ToString();
  EXPECT_EQ(r.record_index, 5u);
}

TEST_F(AuditLogTest, VerifyReportsAForgedInsertedRecord) {
  WriteSegmentedLog(200);
  const std::string data = ReadAll(Seg(1));
  std::vector<RawFrame> frames = Frames(data);
  // A forged record that claims the next sequence, with a valid CRC.
  RawFrame forged = frames[5];
  const std::size_t at = forged.bytes.find("a-");
  forged.bytes[at + 1] = 'X';
  FixCrc(&forged.bytes);
  frames.insert(frames.begin() + 5, forged);
  WriteAll(Seg(1),
           Join(data.substr(0, internal::FirstFrameOffset(data)), frames));
  const AuditVerifyReport r = Verify();
  EXPECT_EQ(r.defect, AuditDefect::kInserted) << r.ToString();
  EXPECT_EQ(r.record_index, 5u);
}

TEST_F(AuditLogTest, VerifyReportsReorderedRecords) {
  WriteSegmentedLog(200);
  const std::string data = ReadAll(Seg(1));
  std::vector<RawFrame> frames = Frames(data);
  std::swap(frames[2].bytes, frames[3].bytes);
  WriteAll(Seg(1),
           Join(data.substr(0, internal::FirstFrameOffset(data)), frames));
  const AuditVerifyReport r = Verify();
  EXPECT_EQ(r.defect, AuditDefect::kReordered) << r.ToString();
  EXPECT_EQ(r.record_index, 2u);
  EXPECT_EQ(r.byte_offset, frames[2].offset);
}

TEST_F(AuditLogTest, VerifyReportsATruncatedSegment) {
  WriteSegmentedLog(200);
  const std::string data = ReadAll(Seg(0));
  const std::vector<RawFrame> frames = Frames(data);
  WriteAll(Seg(0), data.substr(0, frames.back().offset + 10));
  const AuditVerifyReport r = Verify();
  EXPECT_EQ(r.defect, AuditDefect::kTruncated) << r.ToString();
  EXPECT_EQ(r.segment_file, Seg(0));
  EXPECT_EQ(r.record_index, frames.size() - 1);
  // Tampering is not repaired.
  EXPECT_THAT(
      RepairAuditLog(dir_),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("truncated")));
}

TEST_F(AuditLogTest, VerifyReportsAMissingSegment) {
  WriteSegmentedLog(200);
  std::filesystem::remove(Seg(2));
  const AuditVerifyReport r = Verify();
  EXPECT_EQ(r.defect, AuditDefect::kBrokenSegmentLink) << r.ToString();
  EXPECT_THAT(r.detail, HasSubstr("segment 2"));
}

TEST_F(AuditLogTest, VerifyReportsASegmentHeaderThatDoesNotLink) {
  WriteSegmentedLog(200);
  std::string data = ReadAll(Seg(2));
  data[40] = static_cast<char>(data[40] ^ 1);  // in the previous hash
  const std::size_t header = internal::FirstFrameOffset(data);
  internal::PutU32(data.data() + header - 4,
                   internal::Crc32c(data.data(), header - 4));
  WriteAll(Seg(2), data);
  const AuditVerifyReport r = Verify();
  EXPECT_EQ(r.defect, AuditDefect::kBrokenSegmentLink) << r.ToString();
  EXPECT_EQ(r.segment_file, Seg(2));
  EXPECT_THAT(r.detail, HasSubstr("previous hash"));
}

TEST_F(AuditLogTest, TornTailIsReportedRefusedByOpenAndRepaired) {
  WriteSegmentedLog(100, 1 << 20);
  const std::string data = ReadAll(Seg(0));
  const std::vector<RawFrame> frames = Frames(data);
  // The last event, torn (the frame after it is the segment's seal).
  ASSERT_EQ(frames.size(), 101u);
  WriteAll(Seg(0), data.substr(0, frames[99].offset + 20));
  std::filesystem::remove(dir_ + "/" + internal::IndexFileName(0));
  AuditVerifyReport r = Verify();
  EXPECT_EQ(r.defect, AuditDefect::kTornTail) << r.ToString();
  EXPECT_EQ(r.record_index, 99u);
  EXPECT_EQ(r.records_verified, 99u);
  EXPECT_THAT(AuditLog::Open(Options()), StatusIs(absl::StatusCode::kDataLoss,
                                                  HasSubstr("RepairAuditLog")));
  absl::StatusOr<AuditVerifyReport> repaired = RepairAuditLog(dir_);
  ASSERT_OK(repaired);
  EXPECT_TRUE(repaired->ok()) << repaired->ToString();
  EXPECT_EQ(repaired->records_verified, 99u);
  // The log continues where the repair left it.
  auto log = OpenLog(Options());
  absl::StatusOr<std::uint64_t> s = log->Append(Event(99, "s", "a"));
  ASSERT_OK(s);
  EXPECT_EQ(*s, 99u);
  ASSERT_OK(log->Close());
  EXPECT_TRUE(Verify().ok());
}

TEST_F(AuditLogTest, KeyedChainVerifiesOnlyWithItsKey) {
  AuditLogOptions o = Options();
  o.hmac_key = "integrator-secret";
  {
    auto log = OpenLog(o);
    Write(*log, 10);
  }
  EXPECT_TRUE(Verify("integrator-secret").ok());
  const AuditVerifyReport wrong = Verify("another-key");
  EXPECT_EQ(wrong.defect, AuditDefect::kEdited) << wrong.ToString();
  EXPECT_EQ(wrong.record_index, 0u);
  EXPECT_THAT(VerifyAuditLog(dir_), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("HMAC key")));
  o.hmac_key.clear();
  EXPECT_THAT(AuditLog::Open(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("HMAC key")));
}

TEST_F(AuditLogTest, VerifyOfAMissingDirectoryIsNotFound) {
  EXPECT_THAT(VerifyAuditLog(dir_ + "/nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
  EXPECT_THAT(AuditLogReader::Open(dir_ + "/nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
}

// --- queries ---------------------------------------------------------------

TEST_F(AuditLogTest, SubjectQueryReadsOnlyIndexedFrames) {
  WriteSegmentedLog(1000);
  auto reader = *AuditLogReader::Open(dir_);
  absl::StatusOr<std::vector<OwnedAuditEvent>> events =
      reader->ForSubject("s-7");
  ASSERT_OK(events);
  EXPECT_THAT(*events, SizeIs(100));
  for (const auto& e : *events) EXPECT_EQ(e.subject, "s-7");
  EXPECT_EQ(reader->last_stats().segments_scanned, 0u);
  EXPECT_GT(reader->last_stats().segments_indexed, 10u);
  EXPECT_EQ(reader->last_stats().frames_read, 100u);

  events = reader->ForSubject("nobody");
  ASSERT_OK(events);
  EXPECT_THAT(*events, SizeIs(0));
  EXPECT_EQ(reader->last_stats().frames_read, 0u);
}

TEST_F(AuditLogTest, TimeRangeQuerySkipsSegmentsOutsideIt) {
  WriteSegmentedLog(1000);
  auto reader = *AuditLogReader::Open(dir_);
  const absl::Time from = absl::FromUnixNanos(kT0) + absl::Seconds(500);
  absl::StatusOr<std::vector<OwnedAuditEvent>> events =
      reader->InTimeRange(from, from + absl::Seconds(20));
  ASSERT_OK(events);
  ASSERT_THAT(*events, SizeIs(20));
  EXPECT_EQ((*events)[0].sequence, 500u);
  EXPECT_GT(reader->last_stats().segments_skipped, 10u);
  EXPECT_LE(reader->last_stats().segments_scanned, 3u);

  absl::StatusOr<std::vector<OwnedAuditEvent>> mine =
      reader->ForAccessor("a-1", from, from + absl::Seconds(30));
  ASSERT_OK(mine);
  EXPECT_THAT(*mine, SizeIs(10));
}

TEST_F(AuditLogTest, QueriesScanSegmentsWithoutAnIndex) {
  WriteSegmentedLog(300);
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    if (entry.path().extension() == ".idx")
      std::filesystem::remove(entry.path());
  }
  auto reader = *AuditLogReader::Open(dir_);
  absl::StatusOr<std::vector<OwnedAuditEvent>> events =
      reader->ForSubject("s-1");
  ASSERT_OK(events);
  EXPECT_THAT(*events, SizeIs(30));
  EXPECT_GT(reader->last_stats().segments_scanned, 1u);
}

TEST_F(AuditLogTest, QueryReportsACorruptFrame) {
  WriteSegmentedLog(300);
  std::string data = ReadAll(Seg(0));
  const std::vector<RawFrame> frames = Frames(data);
  data[frames[1].offset + 9] =
      static_cast<char>(data[frames[1].offset + 9] ^ 1);
  WriteAll(Seg(0), data);
  auto reader = *AuditLogReader::Open(dir_);
  EXPECT_THAT(reader->InTimeRange(absl::InfinitePast(), absl::InfiniteFuture()),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("CRC")));
}

// --- the index is covered by the chain ---------------------------------------
//
// The `.idx` sidecars are written by the log but live outside the chain's
// frames: each sealed segment ends in a seal record carrying the SHA-256 of
// its index. Verification recomputes every index; queries use one only when
// it matches its seal, and scan the segment otherwise.

class AuditIndexTest : public AuditLogTest,
                       public ::testing::WithParamInterface<bool> {
 protected:
  std::string Key() const { return GetParam() ? "integrator-secret" : ""; }

  void WriteLog(int n) {
    AuditLogOptions o = Options();
    o.segment_bytes = 4096;
    o.hmac_key = Key();
    auto log = OpenLog(o);
    ASSERT_NE(log, nullptr);
    Write(*log, n);
    ASSERT_OK(log->Close());
  }

  std::string Idx(std::uint64_t n) {
    return dir_ + "/" + internal::IndexFileName(n);
  }

  internal::SegmentIndex ReadIndex(std::uint64_t n) {
    internal::SegmentIndex index;
    EXPECT_TRUE(internal::SegmentIndex::Decode(ReadAll(Idx(n)), &index));
    return index;
  }

  // Every query a disclosure answer, a leak report or an operator runs must
  // still see all of the events: 1000 events, s-(i % 10), a-(i % 3).
  void ExpectQueriesSeeEveryEvent() {
    auto reader = *AuditLogReader::Open(dir_);
    absl::StatusOr<std::vector<OwnedAuditEvent>> events =
        reader->ForSubject("s-7");
    ASSERT_OK(events);
    EXPECT_THAT(*events, SizeIs(100));
    events = reader->ForAccessor("a-1");
    ASSERT_OK(events);
    EXPECT_THAT(*events, SizeIs(333));
    events = reader->InTimeRange(absl::InfinitePast(), absl::InfiniteFuture());
    ASSERT_OK(events);
    ASSERT_THAT(*events, SizeIs(1000));
    for (std::size_t i = 0; i < events->size(); ++i) {
      EXPECT_EQ((*events)[i].sequence, i);
    }
  }

  void ExpectIndexReported(std::uint64_t n) {
    const AuditVerifyReport r = Verify(Key());
    EXPECT_EQ(AuditDefectName(r.defect), "index_mismatch") << r.ToString();
    EXPECT_EQ(r.segment_file, Idx(n)) << r.ToString();
  }
};

INSTANTIATE_TEST_SUITE_P(Keyed, AuditIndexTest, ::testing::Bool());

TEST_P(AuditIndexTest, AnIndexClaimingNoRecordsIsReportedAndNotTrusted) {
  WriteLog(1000);
  internal::SegmentIndex index = ReadIndex(1);
  index.records = 0;
  WriteAll(Idx(1), index.Encode());
  ExpectIndexReported(1);
  ExpectQueriesSeeEveryEvent();
}

TEST_P(AuditIndexTest, AnIndexMissingOneSubjectIsReportedAndNotTrusted) {
  WriteLog(1000);
  for (std::uint64_t n : {1u, 2u, 3u}) {
    internal::SegmentIndex index = ReadIndex(n);
    const std::uint64_t h =
        internal::IndexKeyHash(internal::kKeySubject, "s-7");
    std::erase_if(index.entries, [&](const auto& e) { return e.first == h; });
    WriteAll(Idx(n), index.Encode());
  }
  ExpectIndexReported(1);
  ExpectQueriesSeeEveryEvent();
}

TEST_P(AuditIndexTest, AnIndexFromAnotherSegmentIsReportedAndNotTrusted) {
  WriteLog(1000);
  // Segment 2's index, renumbered and resized to pass for segment 1's.
  internal::SegmentIndex index = ReadIndex(2);
  index.segment_number = 1;
  index.file_size = std::filesystem::file_size(Seg(1));
  WriteAll(Idx(1), index.Encode());
  ExpectIndexReported(1);
  ExpectQueriesSeeEveryEvent();
  // The raw copy too.
  std::filesystem::copy_file(Idx(3), Idx(1),
                             std::filesystem::copy_options::overwrite_existing);
  ExpectIndexReported(1);
  ExpectQueriesSeeEveryEvent();
}

TEST_P(AuditIndexTest, AnIndexThatIsNotAFileIsReported) {
  WriteLog(1000);
  std::filesystem::remove(Idx(1));
  std::filesystem::create_directory(Idx(1));
  const AuditVerifyReport r = Verify(Key());
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.ToString(), HasSubstr(Idx(1)));
  ExpectQueriesSeeEveryEvent();
}

TEST_P(AuditIndexTest, AMissingIndexIsScannedAndVerifies) {
  WriteLog(1000);
  std::filesystem::remove(Idx(1));
  EXPECT_TRUE(Verify(Key()).ok());
  ExpectQueriesSeeEveryEvent();
}

TEST_P(AuditIndexTest, LooselyNamedFilesAreReportedAndNeverReadAsSegments) {
  WriteLog(1000);
  for (const char* name :
       {"audit-+000000000000001.seg", "audit- 000000000000001.seg",
        "audit-0000000000000001.seg.bak", "audit-000000000000001.seg",
        "audit-00000000000000001.seg", "audit-+000000000000001.idx"}) {
    SCOPED_TRACE(name);
    const std::string path = dir_ + "/" + name;
    std::filesystem::copy_file(Seg(1), path);
    const AuditVerifyReport r = Verify(Key());
    EXPECT_EQ(AuditDefectName(r.defect), "unexpected_file") << r.ToString();
    EXPECT_EQ(r.segment_file, path) << r.ToString();
    ExpectQueriesSeeEveryEvent();
    std::filesystem::remove(path);
  }
  // An index without its segment is unexpected too.
  std::filesystem::copy_file(Idx(1), Idx(900));
  EXPECT_EQ(AuditDefectName(Verify(Key()).defect), "unexpected_file");
  std::filesystem::remove(Idx(900));
  EXPECT_TRUE(Verify(Key()).ok());
}

// The index is written through an exclusively created temporary file: a
// symlink planted at a predictable temporary name, or at the index itself,
// is never written through.
TEST_F(AuditLogTest, IndexWritesDoNotFollowPlantedSymlinks) {
  const std::string victim = dir_ + ".victim";
  WriteAll(victim, "precious");
  for (std::uint64_t n = 0; n < 4; ++n) {
    const std::string idx = dir_ + "/" + internal::IndexFileName(n);
    std::filesystem::create_symlink(victim, idx + ".tmp");
  }
  std::filesystem::create_symlink(victim,
                                  dir_ + "/" + internal::IndexFileName(0));
  {
    AuditLogOptions o = Options();
    o.seal_on_close = true;
    auto log = OpenLog(o);
    ASSERT_NE(log, nullptr);
    Write(*log, 10);
    ASSERT_OK(log->Close());
  }
  EXPECT_EQ(ReadAll(victim), "precious");
  std::filesystem::remove(victim);
  // The index replaced the symlink rather than writing through it.
  EXPECT_FALSE(
      std::filesystem::is_symlink(dir_ + "/" + internal::IndexFileName(0)));
  auto reader = *AuditLogReader::Open(dir_);
  absl::StatusOr<std::vector<OwnedAuditEvent>> events =
      reader->ForSubject("s-1");
  ASSERT_OK(events);
  EXPECT_THAT(*events, SizeIs(1));
  EXPECT_EQ(reader->last_stats().segments_indexed, 1u);
}

}  // namespace
}  // namespace consentry
