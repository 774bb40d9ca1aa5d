// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Checkpoints of the access log: signed at each seal and on demand, kept in
// an anchor file, and used by verification to find records removed from
// the end and rewritten history.

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "consentry/audit_log.h"
#include "consentry/signing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/audit/audit_format.h"
#include "tests/testing/files.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/signing_keys.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::SourcePath;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

namespace fs = std::filesystem;

const std::string kKeys = testing::TestKeysDir();
const std::string kPublic = testing::TestPublicKeysDir();

std::unique_ptr<FileKeyProvider> Keys(std::vector<std::string> paths,
                                      std::string signing = "") {
  return testing::OpenTestKeys(std::move(paths), std::move(signing));
}

using ::consentry::testing::ReadAll;
using ::consentry::testing::WriteAll;

// A sink that refuses, as an unreachable anchor store would.
class FailingSink final : public AuditAnchorSink {
 public:
  absl::Status Publish(const AuditCheckpoint&) override {
    return absl::UnavailableError("anchor store unreachable");
  }
};

class AuditCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/consentry_anchor_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    log_dir_ = root_ + "/log";
    anchor_path_ = root_ + "/anchors/checkpoints.txt";
    fs::create_directories(root_ + "/anchors");
    keys_ = Keys({kKeys}, kKeys + "/2026.pem");
    verify_keys_ = Keys({kPublic});
    auto sink = FileAnchorSink::Open(anchor_path_);
    ASSERT_TRUE(sink.ok()) << sink.status();
    sink_ = *std::move(sink);
  }
  void TearDown() override { fs::remove_all(root_); }

  AuditLogOptions Options(std::string dir = "") {
    AuditLogOptions o;
    o.directory = dir.empty() ? log_dir_ : dir;
    o.segment_bytes = 4096;  // several seals from a few hundred events
    o.checkpoint_keys = keys_.get();
    o.anchor_sink = sink_.get();
    return o;
  }

  std::unique_ptr<AuditLog> Open(AuditLogOptions o) {
    auto log = AuditLog::Open(std::move(o));
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  }

  static void Write(AuditLog& log, int n, const char* subject = "s-1") {
    for (int i = 0; i < n; ++i) {
      AuditEvent e;
      e.time_unix_nanos = 1'790'000'000'000'000'000 + i;
      e.accessor = "support-desk";
      e.subject = subject;
      e.category = "contact";
      e.purpose = "support";
      e.policy_version = "2026-04";
      e.reason = Reason::kAllowedConsent;
      ASSERT_TRUE(log.Record(e).ok());
    }
  }

  absl::StatusOr<AuditVerifyReport> VerifyWith(const AuditCheckpoint& c,
                                               std::string dir = "") {
    AuditVerifyOptions o;
    o.anchor = &c;
    o.anchor_keys = verify_keys_.get();
    return VerifyAuditLog(dir.empty() ? log_dir_ : dir, o);
  }

  std::vector<std::string> Segments() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(log_dir_)) {
      if (e.path().extension() == ".seg") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string root_, log_dir_, anchor_path_;
  std::unique_ptr<FileKeyProvider> keys_, verify_keys_;
  std::unique_ptr<FileAnchorSink> sink_;
};

TEST_F(AuditCheckpointTest, EverySealPublishesASignedCheckpoint) {
  auto log = Open(Options());
  Write(*log, 300);
  ASSERT_TRUE(log->Close().ok());
  const AuditLogCounters c = log->counters();
  ASSERT_GT(c.segments_sealed, 2u);
  // One at each seal, one at `Close` (which leaves the last segment open).
  EXPECT_EQ(c.checkpoints_published, c.segments_sealed + 1);
  EXPECT_EQ(c.checkpoints_failed, 0u);

  // One line per checkpoint, each signed, in order; the last covers all.
  const std::string text = ReadAll(anchor_path_);
  std::uint64_t lines = 0, previous = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    auto cp = ParseAuditCheckpoint(line);
    ASSERT_TRUE(cp.ok()) << cp.status();
    EXPECT_TRUE(VerifyAuditCheckpoint(*cp, *verify_keys_).ok());
    EXPECT_GE(cp->sequence_end, previous);
    previous = cp->sequence_end;
    ++lines;
  }
  EXPECT_EQ(lines, c.checkpoints_published);
  auto latest = ReadLatestCheckpoint(anchor_path_);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->sequence_end, 300u);
  EXPECT_EQ(latest->key_id, *keys_->CurrentKeyId());

  auto report = VerifyWith(*latest);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->ToString();
  EXPECT_TRUE(report->anchored);
  EXPECT_THAT(report->ToString(), HasSubstr("anchored"));
}

TEST_F(AuditCheckpointTest, WithoutACheckpointTheReportSaysDeletionIsUnseen) {
  auto log = Open(Options());
  Write(*log, 300);
  ASSERT_TRUE(log->Close().ok());
  std::vector<std::string> segments = Segments();
  ASSERT_GT(segments.size(), 2u);
  // The last segment removed whole, with its index.
  fs::remove(segments.back());
  fs::remove(segments.back().substr(0, segments.back().size() - 4) + ".idx");

  auto unanchored = VerifyAuditLog(log_dir_);
  ASSERT_TRUE(unanchored.ok());
  EXPECT_TRUE(unanchored->ok());  // the files alone cannot show it
  EXPECT_FALSE(unanchored->anchored);
  EXPECT_THAT(unanchored->ToString(), HasSubstr("cannot be detected"));

  auto latest = ReadLatestCheckpoint(anchor_path_);
  ASSERT_TRUE(latest.ok());
  auto anchored = VerifyWith(*latest);
  ASSERT_TRUE(anchored.ok()) << anchored.status();
  EXPECT_EQ(anchored->defect, AuditDefect::kTrailingDeletion)
      << anchored->ToString();
  EXPECT_FALSE(anchored->anchored);
  EXPECT_THAT(anchored->detail, HasSubstr("removed from the end"));
}

TEST_F(AuditCheckpointTest, TruncationAtAFrameBoundaryIsFound) {
  auto log = Open(Options());
  Write(*log, 20);
  auto checkpoint = log->Checkpoint();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->sequence_end, 20u);
  log.reset();  // closes: the last segment is sealed

  // Cut the last segment right after its third frame: a clean frame
  // boundary, as someone hiding the last reads would cut it.
  const std::string last = Segments().back();
  const std::string data = ReadAll(last);
  std::uint64_t offset = internal::FirstFrameOffset(data);
  for (int i = 0; i < 3; ++i) {
    internal::FrameView f;
    ASSERT_EQ(internal::ReadFrame(data, &offset, &f),
              internal::FrameStatus::kOk);
  }
  WriteAll(last, data.substr(0, offset));
  fs::remove(last.substr(0, last.size() - 4) + ".idx");

  auto unanchored = VerifyAuditLog(log_dir_);
  ASSERT_TRUE(unanchored.ok());
  EXPECT_TRUE(unanchored->ok()) << unanchored->ToString();

  auto anchored = VerifyWith(*checkpoint);
  ASSERT_TRUE(anchored.ok());
  EXPECT_EQ(anchored->defect, AuditDefect::kTrailingDeletion)
      << anchored->ToString();
}

TEST_F(AuditCheckpointTest, ARewrittenHistoryDoesNotMatchTheCheckpoint) {
  auto log = Open(Options());
  Write(*log, 10, "s-1");
  auto checkpoint = log->Checkpoint();
  ASSERT_TRUE(checkpoint.ok());
  ASSERT_TRUE(log->Close().ok());

  // Without an HMAC key anyone can write a log that verifies on its own:
  // here, one that says the reads were of someone else, and more of them.
  const std::string forged = root_ + "/forged";
  AuditLogOptions o;
  o.directory = forged;
  auto other = Open(o);
  Write(*other, 12, "s-2");
  ASSERT_TRUE(other->Close().ok());
  ASSERT_TRUE(VerifyAuditLog(forged)->ok());

  auto report = VerifyWith(*checkpoint, forged);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->defect, AuditDefect::kAnchorMismatch) << report->ToString();
  EXPECT_THAT(report->detail, HasSubstr("rewritten"));
}

TEST_F(AuditCheckpointTest, ALogThatGrewPastTheCheckpointStillMatchesIt) {
  auto log = Open(Options());
  Write(*log, 15);
  auto early = log->Checkpoint();
  ASSERT_TRUE(early.ok());
  Write(*log, 400);
  ASSERT_TRUE(log->Close().ok());
  // Reopened, it continues the chain; the early checkpoint still holds.
  auto again = Open(Options());
  Write(*again, 5);
  auto late = again->Checkpoint();
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->sequence_end, 420u);
  ASSERT_TRUE(again->Close().ok());
  for (const AuditCheckpoint* c : {&*early, &*late}) {
    auto report = VerifyWith(*c);
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok()) << report->ToString();
    EXPECT_TRUE(report->anchored);
  }
}

TEST_F(AuditCheckpointTest, TheEmptyLogHasACheckpointToo) {
  auto log = Open(Options());
  auto c = log->Checkpoint();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sequence_end, 0u);
  auto report = VerifyWith(*c);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->anchored) << report->ToString();
}

TEST_F(AuditCheckpointTest, ATamperedOrUnknownCheckpointIsRefused) {
  auto log = Open(Options());
  Write(*log, 30);
  auto c = log->Checkpoint();
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(log->Close().ok());

  // Lowering the sequence to fit a shortened log breaks the signature.
  AuditCheckpoint lowered = *c;
  lowered.sequence_end = 10;
  EXPECT_THAT(VerifyWith(lowered).status(),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("does not verify")));
  AuditCheckpoint rehashed = *c;
  rehashed.last_hash[0] = static_cast<char>(rehashed.last_hash[0] ^ 1);
  EXPECT_THAT(VerifyWith(rehashed).status(),
              StatusIs(absl::StatusCode::kUnauthenticated, ::testing::_));
  // Signed by a key the verifier does not know.
  auto stranger = Keys({kKeys + "/2025.pem"});
  auto only_2025 = Keys({kPublic + "/2025.pem"});
  AuditCheckpoint resigned = *c;
  resigned.key_id = *stranger->CurrentKeyId();
  AuditVerifyOptions o;
  o.anchor = &resigned;
  o.anchor_keys = verify_keys_.get();
  resigned.signature =
      *stranger->Sign(resigned.key_id, AuditCheckpointSigningBytes(resigned));
  auto ok_2025 = VerifyAuditLog(log_dir_, o);
  ASSERT_TRUE(ok_2025.ok());  // 2025's public key is known: it verifies
  o.anchor_keys = Keys({kPublic + "/2026.pem"}).release();
  EXPECT_THAT(VerifyAuditLog(log_dir_, o).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not known")));
  delete o.anchor_keys;
  // An anchor without keys, or keys without an anchor.
  AuditVerifyOptions half;
  half.anchor = &*c;
  EXPECT_THAT(VerifyAuditLog(log_dir_, half).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  (void)only_2025;
}

TEST_F(AuditCheckpointTest, KeysRotateAtACheckpoint) {
  auto old_keys = Keys({kKeys}, kKeys + "/2025.pem");
  AuditLogOptions o = Options();
  o.checkpoint_keys = old_keys.get();
  auto log = Open(o);
  Write(*log, 50);
  auto first = log->Checkpoint();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(log->Close().ok());
  auto rotated = Open(Options());  // now the 2026 key
  Write(*rotated, 50);
  auto second = rotated->Checkpoint();
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(rotated->Close().ok());
  EXPECT_NE(first->key_id, second->key_id);
  // The verifier knows both public keys: either checkpoint verifies.
  for (const AuditCheckpoint* c : {&*first, &*second}) {
    auto report = VerifyWith(*c);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->anchored);
  }
  auto latest = ReadLatestCheckpoint(anchor_path_);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->key_id, second->key_id);
}

TEST_F(AuditCheckpointTest, AFailingSinkIsCountedAndLosesNoEvent) {
  FailingSink failing;
  AuditLogOptions o = Options();
  o.anchor_sink = &failing;
  auto log = Open(o);
  Write(*log, 300);
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_THAT(log->Checkpoint().status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("anchor store unreachable")));
  ASSERT_TRUE(log->Close().ok());
  const AuditLogCounters c = log->counters();
  EXPECT_EQ(c.durable, 300u);
  EXPECT_EQ(c.checkpoints_published, 0u);
  // Each seal, the `Checkpoint` call and `Close`.
  EXPECT_EQ(c.checkpoints_failed, c.segments_sealed + 2);
  auto report = VerifyAuditLog(log_dir_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->records_verified, 300u);
}

TEST_F(AuditCheckpointTest, OptionsGoTogetherAndTheKeyMustSign) {
  AuditLogOptions keys_only = Options();
  keys_only.anchor_sink = nullptr;
  EXPECT_THAT(
      AuditLog::Open(keys_only).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("together")));
  AuditLogOptions sink_only = Options();
  sink_only.checkpoint_keys = nullptr;
  EXPECT_THAT(AuditLog::Open(sink_only).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  // Public keys only: nothing can sign, found at Open.
  AuditLogOptions public_only = Options();
  public_only.checkpoint_keys = verify_keys_.get();
  EXPECT_THAT(AuditLog::Open(public_only).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("checkpoint keys")));
  // Checkpoint() on a log without keys.
  AuditLogOptions plain;
  plain.directory = log_dir_;
  auto log = Open(plain);
  EXPECT_THAT(log->Checkpoint().status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
}

TEST_F(AuditCheckpointTest, CheckpointLinesAreReadStrictly) {
  auto log = Open(Options());
  Write(*log, 5);
  auto c = log->Checkpoint();
  ASSERT_TRUE(c.ok());
  const std::string line = SerializeAuditCheckpoint(*c);
  auto back = ParseAuditCheckpoint(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *c);
  for (const std::string& bad :
       {std::string(""), line + " extra", line.substr(1),
        absl::StrCat("consentry-audit-checkpoint/1 +5",
                     line.substr(line.find(' ', 29))),
        absl::StrCat("consentry-audit-checkpoint/1 05",
                     line.substr(line.find(' ', 29))),
        std::string(line).replace(line.size() - 1, 1, "G"),
        std::string(line).replace(line.size() - 1, 1, "A"),
        std::string(line) + "\xff"}) {
    EXPECT_FALSE(ParseAuditCheckpoint(bad).ok()) << bad;
  }
}

TEST_F(AuditCheckpointTest, TheAnchorFileIsReadStrictly) {
  auto log = Open(Options());
  Write(*log, 5);
  auto c1 = log->Checkpoint();
  Write(*log, 5);
  auto c2 = log->Checkpoint();
  ASSERT_TRUE(c1.ok() && c2.ok());
  const std::string text = ReadAll(anchor_path_);

  // A line cut by a crash while appending: ignored, the one before counts.
  WriteAll(anchor_path_, text + SerializeAuditCheckpoint(*c2).substr(0, 40));
  auto latest = ReadLatestCheckpoint(anchor_path_);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, *c2);
  // A damaged line in the middle is data loss, named by line.
  WriteAll(anchor_path_, "garbage\n" + text);
  EXPECT_THAT(ReadLatestCheckpoint(anchor_path_).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("line 1")));
  // Checkpoints going backwards: someone appended an old one.
  WriteAll(anchor_path_, text + SerializeAuditCheckpoint(*c1) + "\n");
  EXPECT_THAT(ReadLatestCheckpoint(anchor_path_).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("before")));
  // Empty, missing, a directory, a symlink.
  WriteAll(anchor_path_, "");
  EXPECT_THAT(ReadLatestCheckpoint(anchor_path_).status(),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_FALSE(ReadLatestCheckpoint(root_ + "/missing").ok());
  EXPECT_FALSE(ReadLatestCheckpoint(root_ + "/anchors").ok());
  fs::create_symlink(anchor_path_, root_ + "/link.txt");
  EXPECT_FALSE(ReadLatestCheckpoint(root_ + "/link.txt").ok());
  EXPECT_THAT(FileAnchorSink::Open(root_ + "/link.txt").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(FileAnchorSink::Open(root_ + "/anchors").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(FileAnchorSink::Open("").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

}  // namespace
}  // namespace consentry
