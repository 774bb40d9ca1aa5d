// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Retention of the access log: old sealed segments archived or deleted,
// verification from the retention record's checkpoint, the archive as the
// log's prefix, coverage reported by queries, crash safety and bad inputs.

#include "consentry/audit_retention.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "consentry/audit_log.h"
#include "consentry/audit_log_set.h"
#include "consentry/disclosure_sources.h"
#include "consentry/signing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/audit/audit_format.h"
#include "tests/testing/fault_injection_fs.h"
#include "tests/testing/files.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/signing_keys.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace consentry {
namespace {

using ::consentry::testing::ReadAll;
using ::consentry::testing::SourcePath;
using ::consentry::testing::StatusIs;
using ::consentry::testing::WriteAll;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

const std::string kKeys = testing::TestKeysDir();
const std::string kPublic = testing::TestPublicKeysDir();

// Old events (2020) and recent ones (2026); the policy keeps a year.
const absl::Time kOld = absl::FromUnixSeconds(1'580'000'000);
const absl::Time kNew = absl::FromUnixSeconds(1'780'000'000);
const absl::Time kNow = kNew + absl::Hours(24);
const absl::Duration kYear = absl::Hours(24 * 365);

std::unique_ptr<FileKeyProvider> Keys(std::vector<std::string> paths,
                                      std::string signing = "") {
  return testing::OpenTestKeys(std::move(paths), std::move(signing));
}

class AuditRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTempDir("retain");
    ASSERT_FALSE(HasFailure());
    log_ = root_ + "/log";
    archive_ = root_ + "/archive";
    fs::create_directories(archive_);
  }
  void TearDown() override {
    chmod(archive_.c_str(), 0755);
    fs::remove_all(root_);
  }

  AuditLogOptions LogOptions() const {
    AuditLogOptions o;
    o.directory = log_;
    o.segment_bytes = 4096;  // a segment every few dozen events
    // Each session ends its last segment: old and new events never share
    // one (a writer's `Close` otherwise leaves it open for the next run).
    o.seal_on_close = true;
    return o;
  }

  static AuditEvent Event(absl::Time t, int i, const char* subject) {
    AuditEvent e;
    e.time_unix_nanos = absl::ToUnixNanos(t) + i;
    e.accessor = "support-desk";
    e.subject = subject;
    e.category = "contact";
    e.purpose = "support";
    e.policy_version = "2026-04";
    e.reason = Reason::kAllowedConsent;
    return e;
  }

  // One session of the writer: `n` events at `t`, then closed and sealed.
  void Session(absl::Time t, int n, const char* subject = "s-1") {
    auto log = AuditLog::Open(LogOptions());
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE((*log)->Record(Event(t, i, subject)).ok());
    }
    ASSERT_TRUE((*log)->Close().ok());
  }

  // Old segments, then recent ones.
  void MakeLog() {
    Session(kOld, 60, "old-subject");
    Session(kNew, 40, "new-subject");
  }

  AuditRetentionOptions Delete() const {
    AuditRetentionOptions o;
    o.max_age = kYear;
    o.now = kNow;
    o.delete_segments = true;
    return o;
  }
  AuditRetentionOptions Archive() const {
    AuditRetentionOptions o;
    o.max_age = kYear;
    o.now = kNow;
    o.archive_directory = archive_;
    return o;
  }

  std::vector<std::string> Files(const std::string& dir) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::map<std::string, std::string> Contents(const std::string& dir) const {
    std::map<std::string, std::string> out;
    for (const std::string& name : Files(dir)) {
      if (name == "audit-retention.lock") continue;  // never read
      out[name] = ReadAll(dir + "/" + name);
    }
    return out;
  }
  std::string Seg(std::uint64_t n) const {
    return log_ + "/" + internal::SegmentFileName(n);
  }
  std::string Record() const {
    return log_ + "/" + std::string(kAuditRetentionRecordName);
  }

  std::string root_, log_, archive_;
};

TEST_F(AuditRetentionTest, DeleteRemovesOldSealedSegmentsAndVerifiesFromCut) {
  MakeLog();
  auto done = ApplyAuditRetention(log_, Delete());
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_FALSE(done->removed.empty());
  const std::uint64_t cut = done->removed.back().number;
  EXPECT_EQ(done->removed.front().number, 0u);
  for (std::uint64_t n = 0; n <= cut; ++n) EXPECT_FALSE(fs::exists(Seg(n)));
  EXPECT_TRUE(fs::exists(Seg(cut + 1)));
  EXPECT_TRUE(fs::exists(Record()));
  EXPECT_FALSE(done->record.is_signed());
  EXPECT_EQ(done->record.cut.sequence_end, 60u);
  EXPECT_THAT(done->ToString(), HasSubstr("deleted"));

  auto report = VerifyAuditLog(log_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_EQ(report->verified_from_segment, cut + 1);
  EXPECT_EQ(report->verified_from_sequence, 60u);
  EXPECT_EQ(report->records_verified, 40u);
  EXPECT_TRUE(report->coverage.retained);
  EXPECT_EQ(report->coverage.complete_from,
            kOld + absl::Nanoseconds(59) + absl::Nanoseconds(1));
  EXPECT_EQ(report->coverage.removed_sequence_end, 60u);
  EXPECT_THAT(report->ToString(), HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(report->ToString(),
              HasSubstr("were removed under the retention policy"));

  // Queries say which period they cover.
  auto reader = AuditLogReader::Open(log_);
  ASSERT_TRUE(reader.ok());
  auto old_events = (*reader)->ForSubject("old-subject");
  ASSERT_TRUE(old_events.ok()) << old_events.status();
  EXPECT_TRUE(old_events->empty());
  EXPECT_TRUE((*reader)->last_coverage().retained);
  EXPECT_EQ((*reader)->last_coverage().complete_from,
            report->coverage.complete_from);
  auto new_events = (*reader)->ForSubject("new-subject");
  ASSERT_TRUE(new_events.ok());
  EXPECT_EQ(new_events->size(), 40u);

  // A new writer continues the log after retention.
  Session(kNew + absl::Hours(1), 5, "new-subject");
  report = VerifyAuditLog(log_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_EQ(report->records_verified, 45u);
}

TEST_F(AuditRetentionTest, NothingRecentOrUnsealedOrLastIsRemoved) {
  Session(kOld, 60, "old-subject");  // every segment old and sealed
  auto done = ApplyAuditRetention(log_, Delete());
  ASSERT_TRUE(done.ok()) << done.status();
  // The last segment stays: the writer continues from it.
  const auto segments = internal::ListSegments(log_);
  ASSERT_TRUE(segments.ok());
  ASSERT_EQ(segments->size(), 1u);
  EXPECT_EQ(done->removed.back().number + 1, segments->front());
  auto again = ApplyAuditRetention(log_, Delete());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->removed.empty());
  EXPECT_THAT(again->ToString(), HasSubstr("nothing is due"));
}

TEST_F(AuditRetentionTest, TamperingInWhatRemainsIsFound) {
  MakeLog();
  auto done = ApplyAuditRetention(log_, Delete());
  ASSERT_TRUE(done.ok()) << done.status();
  const std::string path = Seg(done->removed.back().number + 1);
  std::string bytes = ReadAll(path);
  const std::size_t at = bytes.find("new-subject");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'N';
  WriteAll(path, bytes);
  auto report = VerifyAuditLog(log_);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->defect, AuditDefect::kCrcMismatch) << report->ToString();
  EXPECT_EQ(report->segment_file, path);
}

TEST_F(AuditRetentionTest, GapAfterTheCutIsFound) {
  MakeLog();
  auto done = ApplyAuditRetention(log_, Delete());
  ASSERT_TRUE(done.ok()) << done.status();
  const std::uint64_t first = done->removed.back().number + 1;
  fs::remove(Seg(first));
  fs::remove(log_ + "/" + internal::IndexFileName(first));
  auto report = VerifyAuditLog(log_);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->defect, AuditDefect::kBrokenSegmentLink)
      << report->ToString();
  EXPECT_THAT(report->detail, HasSubstr(internal::SegmentFileName(first)));
}

TEST_F(AuditRetentionTest, EveryRetainedSegmentRemovedIsFound) {
  MakeLog();
  auto done = ApplyAuditRetention(log_, Delete());
  ASSERT_TRUE(done.ok()) << done.status();
  for (const std::string& name : Files(log_)) {
    if (name.find(".seg") != std::string::npos ||
        name.find(".idx") != std::string::npos) {
      fs::remove(log_ + "/" + name);
    }
  }
  auto report = VerifyAuditLog(log_);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->defect, AuditDefect::kBrokenSegmentLink);
  EXPECT_THAT(report->detail, HasSubstr("no segment follows"));
}

TEST_F(AuditRetentionTest, TamperedUnsignedRecordIsFound) {
  MakeLog();
  auto done = ApplyAuditRetention(log_, Delete());
  ASSERT_TRUE(done.ok()) << done.status();
  const std::string text = ReadAll(Record());
  // A cut moved forward (to hide the first retained events) no longer
  // matches the first segment's header.
  AuditRetentionRecord moved = done->record;
  moved.cut.sequence_end += 1;
  WriteAll(Record(), SerializeAuditRetentionRecord(moved));
  auto report = VerifyAuditLog(log_);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->defect, AuditDefect::kBrokenSegmentLink)
      << report->ToString();
  // Text that is not a record.
  WriteAll(Record(), absl::StrReplaceAll(text, {{"cut_segment", "cut_seg"}}));
  report = VerifyAuditLog(log_);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->defect, AuditDefect::kBadRetentionRecord);
  EXPECT_EQ(report->segment_file, Record());
  // Queries refuse to state a coverage from a damaged record.
  auto reader = AuditLogReader::Open(log_);
  ASSERT_TRUE(reader.ok());
  EXPECT_THAT(
      (*reader)->InTimeRange(absl::InfinitePast(), absl::InfiniteFuture()),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("audit-retention.rec")));
}

TEST_F(AuditRetentionTest, SignedRecordVerifiesAndTamperingFails) {
  MakeLog();
  auto keys = Keys({kKeys}, kKeys + "/2026.pem");
  auto public_keys = Keys({kPublic});
  AuditRetentionOptions o = Delete();
  o.checkpoint_keys = keys.get();
  auto done = ApplyAuditRetention(log_, o);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_TRUE(done->record.is_signed());
  // The cut is a checkpoint like the anchor's.
  EXPECT_TRUE(VerifyAuditCheckpoint(done->record.cut, *public_keys).ok());

  AuditVerifyOptions v;
  v.retention_keys = public_keys.get();
  auto report = VerifyAuditLog(log_, v);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_TRUE(report->retention_signed);

  // The cut is also an anchor for the log; an anchor from before the cut
  // cannot be checked here, and says so.
  AuditVerifyOptions anchored;
  anchored.retention_keys = public_keys.get();
  anchored.anchor = &done->record.cut;
  anchored.anchor_keys = public_keys.get();
  report = VerifyAuditLog(log_, anchored);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_TRUE(report->anchored);
  AuditCheckpoint early = done->record.cut;
  early.sequence_end -= 1;
  early.signature =
      *keys->Sign(early.key_id, AuditCheckpointSigningBytes(early));
  anchored.anchor = &early;
  report = VerifyAuditLog(log_, anchored);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->defect, AuditDefect::kAnchorMismatch);
  EXPECT_THAT(report->detail, HasSubstr("before the retention cut"));

  // Without keys: used, and the report says it is unauthenticated.
  report = VerifyAuditLog(log_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok());
  EXPECT_FALSE(report->retention_signed);
  EXPECT_THAT(report->ToString(), HasSubstr("UNAUTHENTICATED"));
  // A retention run without keys would replace the signed cut by an
  // unsigned one: refused.
  EXPECT_THAT(ApplyAuditRetention(log_, Delete()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("checkpoint_keys")));

  // A field changed after signing (the removed time range, which the
  // checkpoint signature does not cover).
  AuditRetentionRecord edited = done->record;
  edited.removed_max_time_unix_nanos -= 1;
  WriteAll(Record(), SerializeAuditRetentionRecord(edited));
  report = VerifyAuditLog(log_, v);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->defect, AuditDefect::kBadRetentionRecord)
      << report->ToString();

  // Replaced by an unsigned record: a downgrade, found when keys are given.
  AuditRetentionRecord unsigned_record = done->record;
  unsigned_record.cut.key_id.clear();
  unsigned_record.cut.signature.clear();
  unsigned_record.signature.clear();
  WriteAll(Record(), SerializeAuditRetentionRecord(unsigned_record));
  report = VerifyAuditLog(log_, v);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->defect, AuditDefect::kBadRetentionRecord);
  EXPECT_THAT(report->detail, HasSubstr("not signed"));

  // Signed by a key the verifier does not trust.
  WriteAll(Record(), SerializeAuditRetentionRecord(done->record));
  auto other = Keys({kKeys + "/2025.pem"});
  v.retention_keys = other.get();
  report = VerifyAuditLog(log_, v);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->defect, AuditDefect::kBadRetentionRecord)
      << report->ToString();
}

TEST_F(AuditRetentionTest, ArchiveMovesSegmentsAndVerifiesAsThePrefix) {
  MakeLog();
  const std::map<std::string, std::string> before = Contents(log_);
  auto done = ApplyAuditRetention(log_, Archive());
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_TRUE(done->archived);
  const std::uint64_t cut = done->removed.back().number;
  for (std::uint64_t n = 0; n <= cut; ++n) {
    const std::string name = internal::SegmentFileName(n);
    EXPECT_FALSE(fs::exists(log_ + "/" + name));
    EXPECT_EQ(ReadAll(archive_ + "/" + name), before.at(name));
  }
  auto log_report = VerifyAuditLog(log_);
  ASSERT_TRUE(log_report.ok());
  EXPECT_TRUE(log_report->ok()) << log_report->ToString();

  // The archive verifies on its own, and ends exactly at the log's cut.
  AuditVerifyOptions v;
  v.prefix_of = &done->record;
  auto report = VerifyAuditLog(archive_, v);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_TRUE(report->anchored);
  EXPECT_EQ(report->records_verified, 60u);
  EXPECT_EQ(report->sequence_end, done->record.cut.sequence_end);
  // Queries over the archive read the old events.
  auto reader = AuditLogReader::Open(archive_);
  ASSERT_TRUE(reader.ok());
  auto old_events = (*reader)->ForSubject("old-subject");
  ASSERT_TRUE(old_events.ok());
  EXPECT_EQ(old_events->size(), 60u);

  // An archive missing its last segment is not the prefix.
  fs::remove(archive_ + "/" + internal::IndexFileName(cut));
  fs::remove(archive_ + "/" + internal::SegmentFileName(cut));
  report = VerifyAuditLog(archive_, v);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->defect, AuditDefect::kTrailingDeletion)
      << report->ToString();
}

TEST_F(AuditRetentionTest, SecondRunContinuesFromTheRecordIntoANewArchive) {
  Session(kOld, 40, "old-subject");
  Session(kOld + absl::Hours(24 * 200), 40, "mid-subject");
  Session(kNew, 30, "new-subject");
  AuditRetentionOptions first = Archive();
  first.now = kOld + absl::Hours(24 * 100) + kYear;  // only the first session
  auto one = ApplyAuditRetention(log_, first);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->record.cut.sequence_end, 40u);

  const std::string second_archive = root_ + "/archive2";
  fs::create_directories(second_archive);
  AuditRetentionOptions second = Archive();
  second.archive_directory = second_archive;
  auto two = ApplyAuditRetention(log_, second);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->record.cut.sequence_end, 80u);
  EXPECT_EQ(two->record.removed_first_sequence, 0u);
  EXPECT_EQ(two->record.removed_first_segment, 0u);
  EXPECT_EQ(two->record.removed_min_time_unix_nanos, absl::ToUnixNanos(kOld));

  auto log_report = VerifyAuditLog(log_);
  ASSERT_TRUE(log_report.ok());
  EXPECT_TRUE(log_report->ok()) << log_report->ToString();
  EXPECT_EQ(log_report->records_verified, 30u);
  // The second archive starts at the first cut: it carries that record.
  AuditVerifyOptions v;
  v.prefix_of = &two->record;
  auto report = VerifyAuditLog(second_archive, v);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_EQ(report->verified_from_sequence, 40u);
  EXPECT_EQ(report->records_verified, 40u);
}

TEST_F(AuditRetentionTest, DryRunChangesNothing) {
  MakeLog();
  const std::map<std::string, std::string> before = Contents(log_);
  AuditRetentionOptions o = Archive();
  o.dry_run = true;
  auto done = ApplyAuditRetention(log_, o);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(done->removed.empty());
  EXPECT_GT(done->bytes, 0u);
  EXPECT_THAT(done->ToString(), HasSubstr("would move"));
  EXPECT_EQ(Contents(log_), before);
  EXPECT_TRUE(Files(archive_).empty());
}

TEST_F(AuditRetentionTest, BadInputsAreRefusedAndChangeNothing) {
  MakeLog();
  const std::map<std::string, std::string> before = Contents(log_);
  AuditRetentionOptions o = Archive();
  o.max_age = -absl::Hours(1);
  EXPECT_THAT(
      ApplyAuditRetention(log_, o),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("negative")));
  o = Archive();
  o.archive_directory.clear();
  EXPECT_THAT(ApplyAuditRetention(log_, o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("delete_segments")));
  o = Archive();
  o.delete_segments = true;
  EXPECT_THAT(ApplyAuditRetention(log_, o),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  // A file, a symlink, the log itself (spelt otherwise), a missing path.
  WriteAll(root_ + "/file", "x");
  o = Archive();
  o.archive_directory = root_ + "/file";
  EXPECT_THAT(ApplyAuditRetention(log_, o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a directory")));
  fs::create_directory_symlink(archive_, root_ + "/link");
  o.archive_directory = root_ + "/link";
  EXPECT_THAT(
      ApplyAuditRetention(log_, o),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("symbolic link")));
  o.archive_directory = log_ + "/.";
  EXPECT_THAT(ApplyAuditRetention(log_, o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is the log directory")));
  fs::create_directories(log_ + "/archive");
  o.archive_directory = log_ + "/archive";
  EXPECT_THAT(ApplyAuditRetention(log_, o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("inside the log directory")));
  fs::remove(log_ + "/archive");
  o.archive_directory = root_ + "/missing";
  EXPECT_THAT(ApplyAuditRetention(log_, o),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  // Not writable (root writes through modes: a directory that refuses
  // every new file).
  if (geteuid() == 0) {
    o.archive_directory = "/proc";
  } else {
    chmod(archive_.c_str(), 0555);
    o.archive_directory = archive_;
  }
  EXPECT_THAT(ApplyAuditRetention(log_, o),
              StatusIs(absl::StatusCode::kPermissionDenied, ::testing::_));
  EXPECT_THAT(ApplyAuditRetention(root_ + "/nolog", Delete()),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_EQ(Contents(log_), before);
}

TEST_F(AuditRetentionTest, ArchiveFileWithOtherContentIsNeverOverwritten) {
  MakeLog();
  WriteAll(archive_ + "/" + internal::SegmentFileName(0), "something else");
  const std::map<std::string, std::string> before = Contents(log_);
  EXPECT_THAT(ApplyAuditRetention(log_, Archive()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("other content")));
  EXPECT_EQ(Contents(log_), before);
}

TEST_F(AuditRetentionTest, ALogWithADefectBeforeTheCutIsNotCut) {
  MakeLog();
  std::string bytes = ReadAll(Seg(1));
  bytes[bytes.size() / 2] ^= 0x01;
  WriteAll(Seg(1), bytes);
  const std::map<std::string, std::string> before = Contents(log_);
  EXPECT_THAT(ApplyAuditRetention(log_, Delete()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("nothing was removed")));
  EXPECT_EQ(Contents(log_), before);
}

TEST_F(AuditRetentionTest, AnotherRetentionRunHoldsTheLog) {
  MakeLog();
  auto held = internal::LockLogDirectory(log_, absl::ZeroDuration(), "");
  ASSERT_TRUE(held.ok());  // the writer's lock does not stop retention
  const std::string lock = log_ + "/audit-retention.lock";
  const int fd = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  EXPECT_THAT(ApplyAuditRetention(log_, Delete()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("another retention run")));
  close(fd);
  EXPECT_TRUE(ApplyAuditRetention(log_, Delete()).ok());
  close(*held);
}

// Cuts the power at the `n`th call that changes the file system.
class CuttingFileSystem final : public internal::FileSystem {
 public:
  CuttingFileSystem(testing::FaultInjectionFileSystem& base, int n)
      : base_(base), left_(n) {}
  bool cut() const { return left_ <= 0; }

  absl::StatusOr<std::unique_ptr<internal::WritableFile>> NewFile(
      const std::string& path) override {
    Tick();
    return base_.NewFile(path);
  }
  absl::StatusOr<std::unique_ptr<internal::WritableFile>> OpenForAppend(
      const std::string& path) override {
    Tick();
    return base_.OpenForAppend(path);
  }
  absl::Status SyncDir(const std::string& dir) override {
    Tick();
    return base_.SyncDir(dir);
  }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    Tick();
    return base_.Rename(from, to);
  }
  absl::Status Remove(const std::string& path) override {
    Tick();
    return base_.Remove(path);
  }
  absl::Status Truncate(const std::string& path, std::uint64_t size) override {
    Tick();
    return base_.Truncate(path, size);
  }

 private:
  void Tick() {
    if (--left_ == 0) base_.PowerCut();
  }
  testing::FaultInjectionFileSystem& base_;
  int left_;
};

TEST_F(AuditRetentionTest, CrashAtEveryStepLeavesSegmentsInLogOrArchive) {
  MakeLog();
  const std::map<std::string, std::string> original = Contents(log_);
  const std::string clean = root_ + "/clean";
  fs::copy(log_, clean);
  bool finished = false;
  for (int n = 1; !finished && n < 200; ++n) {
    SCOPED_TRACE(absl::StrCat("power cut at file-system call ", n));
    fs::remove_all(log_);
    fs::remove_all(archive_);
    fs::copy(clean, log_);
    fs::create_directories(archive_);
    testing::FaultInjectionFileSystem faults;
    CuttingFileSystem cutting(faults, n);
    absl::StatusOr<AuditRetentionResult> done;
    {
      testing::ScopedFileSystem scoped(&cutting);
      done = ApplyAuditRetention(log_, Archive());
    }
    finished = !cutting.cut();
    if (finished) {
      ASSERT_TRUE(done.ok()) << done.status();
    }
    ASSERT_TRUE(faults.DropUnsyncedData().ok());
    // Every segment is in the log or complete in the archive.
    for (const auto& [name, bytes] : original) {
      const bool in_log =
          fs::exists(log_ + "/" + name) && ReadAll(log_ + "/" + name) == bytes;
      const bool archived = fs::exists(archive_ + "/" + name) &&
                            ReadAll(archive_ + "/" + name) == bytes;
      EXPECT_TRUE(in_log || archived) << name;
    }
    auto report = VerifyAuditLog(log_);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok()) << report->ToString();
    EXPECT_EQ(report->sequence_end, 100u);
    // The next run completes what the cut interrupted.
    auto again = ApplyAuditRetention(log_, Archive());
    ASSERT_TRUE(again.ok()) << again.status();
    report = VerifyAuditLog(log_);
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok()) << report->ToString();
    EXPECT_EQ(report->retention_leftovers, 0u);
    EXPECT_EQ(report->verified_from_sequence, 60u);
    AuditVerifyOptions v;
    v.prefix_of = &again->record;
    auto archived = VerifyAuditLog(archive_, v);
    ASSERT_TRUE(archived.ok());
    EXPECT_TRUE(archived->ok()) << archived->ToString();
  }
  EXPECT_TRUE(finished);
}

TEST_F(AuditRetentionTest, LeftoversOfAnInterruptedRunAreNeverRead) {
  MakeLog();
  const std::map<std::string, std::string> original = Contents(log_);
  auto done = ApplyAuditRetention(log_, Delete());
  ASSERT_TRUE(done.ok());
  // As if the removals had not reached the disk: the old segments are back
  // next to the record.
  for (const auto& [name, bytes] : original) {
    if (!fs::exists(log_ + "/" + name)) WriteAll(log_ + "/" + name, bytes);
  }
  auto report = VerifyAuditLog(log_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_EQ(report->retention_leftovers, done->removed.size());
  EXPECT_THAT(report->ToString(), HasSubstr("await removal"));
  auto reader = AuditLogReader::Open(log_);
  ASSERT_TRUE(reader.ok());
  auto old_events = (*reader)->ForSubject("old-subject");
  ASSERT_TRUE(old_events.ok());
  EXPECT_TRUE(old_events->empty());
  auto again = ApplyAuditRetention(log_, Delete());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->leftovers_removed, done->removed.size());
}

TEST_F(AuditRetentionTest, RetentionRunsWhileAWriterAppends) {
  Session(kOld, 60, "old-subject");
  auto log = AuditLog::Open(LogOptions());
  ASSERT_TRUE(log.ok()) << log.status();
  std::atomic<int> written{0};
  // Appends, sealing segments as it goes, while retention runs.
  std::thread writer([&] {
    for (int i = 0; i < 300; ++i) {
      if (!(*log)->Record(Event(kNew, i, "new-subject")).ok()) return;
      written.fetch_add(1);
      if (i % 20 == 0 && !(*log)->Flush().ok()) return;
    }
  });
  for (int i = 0; i < 3; ++i) {
    auto done = ApplyAuditRetention(log_, Delete());
    EXPECT_TRUE(done.ok()) << done.status();
  }
  writer.join();
  ASSERT_TRUE((*log)->Close().ok());
  auto report = VerifyAuditLog(log_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_EQ(report->verified_from_sequence, 60u);
  auto reader = AuditLogReader::Open(log_);
  ASSERT_TRUE(reader.ok());
  auto recent = (*reader)->ForSubject("new-subject");
  ASSERT_TRUE(recent.ok());
  EXPECT_EQ(recent->size(), static_cast<std::size_t>(written.load()));
}

TEST_F(AuditRetentionTest, LogSetAndDisclosureSayWhatWasRemoved) {
  MakeLog();
  ASSERT_TRUE(ApplyAuditRetention(log_, Delete()).ok());
  auto set = AuditLogSet::Open({log_});
  ASSERT_TRUE(set.ok());
  auto got = (*set)->ForSubject("new-subject");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->coverage.size(), 1u);
  EXPECT_TRUE(got->coverage[0].retained);
  EXPECT_EQ(got->complete_from(), got->coverage[0].complete_from);

  AuditLogAccessEventSource source(log_, nullptr);
  auto covered = source.CoveredEventsFor("new-subject");
  ASSERT_TRUE(covered.ok()) << covered.status();
  EXPECT_EQ(covered->events.size(), 40u);
  EXPECT_EQ(covered->complete_from, got->coverage[0].complete_from);
  EXPECT_THAT(covered->note, HasSubstr("removed under the retention policy"));
}

TEST_F(AuditRetentionTest, RecordTextIsStrict) {
  AuditRetentionRecord r;
  r.cut.segment = 3;
  r.cut.sequence_end = 40;
  r.cut.last_hash = std::string(32, '\x01');
  r.has_removed_events = true;
  r.removed_min_time_unix_nanos = 5;
  r.removed_max_time_unix_nanos = 9;
  const std::string text = SerializeAuditRetentionRecord(r);
  auto back = ParseAuditRetentionRecord(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, r);
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{
           {"cut_segment 3", "cut_segment 03"},
           {"cut_segment 3", "cut_segment +3"},
           {"removed_times 5 9", "removed_times 9 5"},
           {"0101", "01G1"},
           {"key_id -", "key_id k"},
           {"removed_first_segment 0", "removed_first_segment 4"},
           {"cut_segment 3", "cut_segment 18446744073709551615"}}) {
    EXPECT_THAT(
        ParseAuditRetentionRecord(absl::StrReplaceAll(text, {{from, to}})),
        StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_))
        << to;
  }
  EXPECT_FALSE(ParseAuditRetentionRecord(text.substr(0, text.size() - 1)).ok());
  EXPECT_FALSE(ParseAuditRetentionRecord("").ok());
}

}  // namespace
}  // namespace consentry
