// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// One segment file written by `SegmentWriter` alone, read back by
// `ScanSegment`, `VerifyAuditLog` and `AuditLogReader`.

#include "src/audit/audit_segment_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/audit_log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/audit/audit_byte_buffer.h"
#include "src/audit/audit_format.h"
#include "src/util/file_io.h"
#include "tests/testing/status_matchers.h"

namespace consentry::internal {
namespace {

using ::consentry::testing::IsOk;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

std::string EventPayload(int i) {
  AuditEvent e;
  e.time_unix_nanos = 1'700'000'000'000'000'000 + i;
  e.accessor = "billing-svc";
  const std::string subject = absl::StrCat("s-", i % 3);
  e.subject = subject;
  e.category = "contact";
  e.purpose = "billing";
  e.reason = Reason::kAllowedConsent;
  std::string out(EncodedEventSizeBound(e), '\0');
  out.resize(static_cast<std::size_t>(EncodeEvent(e, out.data()) - out.data()));
  return out;
}

class SegmentWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/segment_writer_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<SegmentWriter> Writer(std::uint64_t segment_bytes = 1 << 20) {
    return std::make_unique<SegmentWriter>(*FileSystem::Default(), dir_,
                                           segment_bytes);
  }
  std::string SegmentPath(std::uint64_t n) const {
    return absl::StrCat(dir_, "/", SegmentFileName(n));
  }

  std::string dir_;
  const ChainKeys unkeyed_{};
};

TEST_F(SegmentWriterTest, SealedSegmentScansAndVerifies) {
  auto w = Writer();
  ASSERT_THAT(w->Open(0, 0, SegmentKeys{}), IsOk());
  EXPECT_TRUE(w->is_open());
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(w->Frame(EventPayload(i), static_cast<std::uint64_t>(i)),
                IsOk());
  }
  ASSERT_THAT(w->WritePending(), IsOk());
  ASSERT_THAT(w->Sync(), IsOk());
  ASSERT_THAT(w->Seal(5), IsOk());
  EXPECT_FALSE(w->is_open());

  absl::StatusOr<SegmentScan> scan = ScanSegment(SegmentPath(0), 0, unkeyed_);
  ASSERT_THAT(scan.status(), IsOk());
  EXPECT_TRUE(scan->sealed);
  EXPECT_EQ(scan->next_sequence, 5u);
  EXPECT_EQ(scan->index.records, 5u);
  EXPECT_EQ(scan->last_hash, w->last_hash());  // the seal's hash

  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(dir_);
  ASSERT_THAT(report.status(), IsOk());
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_EQ(report->records_verified, 5u);
  EXPECT_EQ(report->indexes_verified, 1u);

  // The index the seal names answers a query without scanning.
  absl::StatusOr<std::unique_ptr<AuditLogReader>> reader =
      AuditLogReader::Open(dir_);
  ASSERT_THAT(reader.status(), IsOk());
  absl::StatusOr<std::vector<OwnedAuditEvent>> events =
      (*reader)->ForSubject("s-1");
  ASSERT_THAT(events.status(), IsOk());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].sequence, 1u);
  EXPECT_EQ((*events)[1].sequence, 4u);
  EXPECT_EQ((*reader)->last_stats().segments_indexed, 1u);
}

TEST_F(SegmentWriterTest, NextSegmentChainsFromTheSealedOne) {
  auto w = Writer();
  ASSERT_THAT(w->Open(0, 0, SegmentKeys{}), IsOk());
  ASSERT_THAT(w->Frame(EventPayload(0), 0), IsOk());
  ASSERT_THAT(w->WritePending(), IsOk());
  ASSERT_THAT(w->Seal(1), IsOk());
  ASSERT_THAT(w->Open(w->number() + 1, 1, SegmentKeys{}), IsOk());
  ASSERT_THAT(w->Frame(EventPayload(1), 1), IsOk());
  ASSERT_THAT(w->WritePending(), IsOk());
  ASSERT_THAT(w->Seal(2), IsOk());
  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(dir_);
  ASSERT_THAT(report.status(), IsOk());
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_EQ(report->segments, 2u);
  EXPECT_EQ(report->records_verified, 2u);
}

TEST_F(SegmentWriterTest, RotationIsAskedOnlyWhenTheSegmentHasRecords) {
  auto w = Writer(/*segment_bytes=*/4096);
  ASSERT_THAT(w->Open(0, 0, SegmentKeys{}), IsOk());
  // An empty segment takes any record, however large.
  EXPECT_FALSE(w->NeedsRotation(100000));
  const std::string payload = EventPayload(0);
  std::uint64_t seq = 0;
  while (!w->NeedsRotation(payload.size())) {
    ASSERT_THAT(w->Frame(payload, seq++), IsOk());
    ASSERT_LT(seq, 1000u);
  }
  ASSERT_THAT(w->WritePending(), IsOk());
  ASSERT_THAT(w->Seal(seq), IsOk());
  struct stat st;
  ASSERT_EQ(stat(SegmentPath(0).c_str(), &st), 0);
  // The seal fits within the segment's bound.
  EXPECT_LE(st.st_size, 4096);
  EXPECT_GT(st.st_size + static_cast<off_t>(payload.size()), 4096 - 200);
}

TEST_F(SegmentWriterTest, UnsealedSegmentScansThenSealsAsItWas) {
  {
    auto w = Writer();
    ASSERT_THAT(w->Open(0, 0, SegmentKeys{}), IsOk());
    for (int i = 0; i < 3; ++i) {
      ASSERT_THAT(w->Frame(EventPayload(i), static_cast<std::uint64_t>(i)),
                  IsOk());
    }
    ASSERT_THAT(w->WritePending(), IsOk());
    w->Abandon();  // as a crash leaves it: no seal, no index
  }
  absl::StatusOr<SegmentScan> scan = ScanSegment(SegmentPath(0), 0, unkeyed_);
  ASSERT_THAT(scan.status(), IsOk());
  EXPECT_FALSE(scan->sealed);
  EXPECT_EQ(scan->next_sequence, 3u);
  auto w = Writer();
  ASSERT_THAT(w->SealScanned(SegmentPath(0), *scan), IsOk());
  EXPECT_TRUE(scan->sealed);
  absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(dir_);
  ASSERT_THAT(report.status(), IsOk());
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_EQ(report->indexes_verified, 1u);
}

TEST_F(SegmentWriterTest, ExistingSegmentIsNeverOverwritten) {
  auto w = Writer();
  ASSERT_THAT(w->Open(0, 0, SegmentKeys{}), IsOk());
  w->Abandon();
  auto again = Writer();
  EXPECT_THAT(again->Open(0, 0, SegmentKeys{}),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("audit log: cannot create")));
}

TEST_F(SegmentWriterTest, ScanRejectsATornRecordAndAKeyMismatch) {
  auto w = Writer();
  ASSERT_THAT(w->Open(0, 0, SegmentKeys{}), IsOk());
  ASSERT_THAT(w->Frame(EventPayload(0), 0), IsOk());
  ASSERT_THAT(w->WritePending(), IsOk());
  w->Abandon();
  const ChainKeys keyed{"key", nullptr};
  EXPECT_THAT(ScanSegment(SegmentPath(0), 0, keyed).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("without an HMAC key")));
  struct stat st;
  ASSERT_EQ(stat(SegmentPath(0).c_str(), &st), 0);
  ASSERT_EQ(truncate(SegmentPath(0).c_str(), st.st_size - 3), 0);
  EXPECT_THAT(
      ScanSegment(SegmentPath(0), 0, unkeyed_).status(),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("run RepairAuditLog")));
}

// Batches taken as the log's syncer takes them (`TakePending`, the buffers
// handed back and forth), of sizes that grow past every buffer's capacity
// (a batch of several hundred KiB) and shrink again, give the bytes one
// append of all the frames gives: every frame's CRC and hash verify, and
// the sealed segment is byte for byte the one `WritePending` writes.
TEST_F(SegmentWriterTest, TakenBatchesOfEverySizeGiveTheSameSegment) {
  const std::vector<int> batches = {1, 3, 700, 2, 9000, 40, 12000, 5};
  std::vector<std::string> payloads;
  int total = 0;
  for (int n : batches) total += n;
  for (int i = 0; i < total; ++i) payloads.push_back(EventPayload(i));

  auto taken = Writer(/*segment_bytes=*/64 << 20);
  ASSERT_THAT(taken->Open(0, 0, SegmentKeys{}), IsOk());
  std::unique_ptr<WritableFile> file = taken->ReleaseFile();
  std::vector<ByteBuffer> buffers(2);
  std::uint64_t seq = 0;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    for (int i = 0; i < batches[b]; ++i, ++seq) {
      ASSERT_THAT(taken->Frame(payloads[seq], seq), IsOk());
    }
    ByteBuffer& batch = buffers[b % 2];
    taken->TakePending(&batch);
    EXPECT_FALSE(taken->has_pending());
    ASSERT_THAT(file->Append(batch.view()), IsOk());
  }
  absl::StatusOr<SegmentTransition> t = taken->PrepareTransition(seq, nullptr);
  ASSERT_THAT(t.status(), IsOk());
  ASSERT_THAT(CarryOutTransition(*FileSystem::Default(), dir_, *t, &file),
              IsOk());

  const std::string other_dir = dir_ + "/whole";
  ASSERT_TRUE(std::filesystem::create_directory(other_dir));
  SegmentWriter whole(*FileSystem::Default(), other_dir, 64 << 20);
  ASSERT_THAT(whole.Open(0, 0, SegmentKeys{}), IsOk());
  for (std::uint64_t i = 0; i < seq; ++i) {
    ASSERT_THAT(whole.Frame(payloads[i], i), IsOk());
  }
  ASSERT_THAT(whole.WritePending(), IsOk());
  ASSERT_THAT(whole.Seal(seq), IsOk());

  absl::StatusOr<SegmentScan> scan = ScanSegment(SegmentPath(0), 0, unkeyed_);
  ASSERT_THAT(scan.status(), IsOk());
  EXPECT_TRUE(scan->sealed);
  EXPECT_EQ(scan->next_sequence, seq);
  absl::StatusOr<std::string> a = ReadRegularFile(SegmentPath(0), kNoSizeLimit);
  absl::StatusOr<std::string> b = ReadRegularFile(
      absl::StrCat(other_dir, "/", SegmentFileName(0)), kNoSizeLimit);
  ASSERT_THAT(a.status(), IsOk());
  ASSERT_THAT(b.status(), IsOk());
  EXPECT_GT(a->size(), std::size_t{1} << 20);
  EXPECT_TRUE(*a == *b) << "segments differ";
  absl::StatusOr<std::string> ia =
      ReadRegularFile(absl::StrCat(dir_, "/", IndexFileName(0)), kNoSizeLimit);
  absl::StatusOr<std::string> ib = ReadRegularFile(
      absl::StrCat(other_dir, "/", IndexFileName(0)), kNoSizeLimit);
  ASSERT_THAT(ia.status(), IsOk());
  ASSERT_THAT(ib.status(), IsOk());
  EXPECT_TRUE(*ia == *ib) << "indexes differ";
}

}  // namespace
}  // namespace consentry::internal
