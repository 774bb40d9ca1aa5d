// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// HMAC keys with ids (consentry/audit_keys.h): the key-file directory and
// its bad inputs; segments that name their keys; rotation across segments
// and its verification; tampering with the key ids; logs written before
// keys had ids.

#include "consentry/audit_keys.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/audit_log.h"
#include "consentry/signing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/audit/audit_format.h"
#include "tests/testing/files.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/memory_hmac_keys.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

namespace fs = std::filesystem;
using ::consentry::testing::MemoryHmacKeys;
using ::consentry::testing::ReadAll;
using ::consentry::testing::SourcePath;
using ::consentry::testing::StatusIs;
using ::consentry::testing::WriteAll;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// 32 bytes of key as hex, distinct per `n`.
std::string HexKey(int n) {
  std::string out;
  for (int i = 0; i < 32; ++i) {
    absl::StrAppend(&out, absl::Hex((n * 37 + i * 11) & 0xFF, absl::kZeroPad2));
  }
  return out;
}

class AuditKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/consentry_keys_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    keys_dir_ = root_ + "/keys";
    log_dir_ = root_ + "/log";
    fs::create_directories(keys_dir_);
  }
  void TearDown() override { fs::remove_all(root_); }

  void AddKey(const std::string& id, int n) {
    WriteAll(keys_dir_ + "/" + id + ".key", HexKey(n) + "\n");
  }
  void MakeCurrent(const std::string& id) {
    WriteAll(keys_dir_ + "/CURRENT", id + "\n");
  }
  std::unique_ptr<FileHmacKeyProvider> OpenKeys() {
    auto k = FileHmacKeyProvider::Open(keys_dir_);
    EXPECT_TRUE(k.ok()) << k.status();
    return k.ok() ? *std::move(k) : nullptr;
  }

  AuditLogOptions Options(HmacKeyProvider* keys) {
    AuditLogOptions o;
    o.directory = log_dir_;
    o.hmac_keys = keys;
    return o;
  }
  static void Write(AuditLog& log, int n, int first = 0) {
    for (int i = first; i < first + n; ++i) {
      AuditEvent e;
      e.time_unix_nanos = 1'790'000'000'000'000'000 + i;
      e.accessor = "support-desk";
      const std::string subject = absl::StrCat("s-", i % 5);
      e.subject = subject;
      e.category = "contact";
      e.purpose = "support";
      e.reason = Reason::kAllowedConsent;
      ASSERT_TRUE(log.Record(e).ok());
    }
  }
  std::string Seg(std::uint64_t n) const {
    return log_dir_ + "/" + internal::SegmentFileName(n);
  }
  internal::SegmentHeader Header(std::uint64_t n) const {
    internal::SegmentHeader h;
    EXPECT_EQ(internal::DecodeSegmentHeader(ReadAll(Seg(n)), &h),
              internal::HeaderProblem::kNone);
    return h;
  }
  // Rewrites segment `n`'s header with `edit` applied, CRC recomputed (as
  // someone who knows the format would).
  template <typename Edit>
  void RewriteHeader(std::uint64_t n, Edit edit) {
    const std::string data = ReadAll(Seg(n));
    internal::SegmentHeader h;
    ASSERT_EQ(internal::DecodeSegmentHeader(data, &h),
              internal::HeaderProblem::kNone);
    const std::size_t old_size = h.size;
    edit(h);
    WriteAll(Seg(n), internal::EncodeSegmentHeader(h) + data.substr(old_size));
  }
  absl::StatusOr<AuditVerifyReport> Verify(HmacKeyLookup* keys,
                                           std::string legacy = "") {
    AuditVerifyOptions o;
    o.hmac_keys = keys;
    o.hmac_key = std::move(legacy);
    return VerifyAuditLog(log_dir_, o);
  }

  // A log of 30 events under key-a, rotated to key-b after 10 and to key-c
  // after 20 (segments 0, 1, 2), closed.
  void WriteRotatedLog(FileHmacKeyProvider& keys) {
    auto log = AuditLog::Open(Options(&keys));
    ASSERT_TRUE(log.ok()) << log.status();
    Write(**log, 10, 0);
    AddKey("key-b", 2);
    MakeCurrent("key-b");
    ASSERT_TRUE((*log)->RotateKeys().ok());
    Write(**log, 10, 10);
    AddKey("key-c", 3);
    MakeCurrent("key-c");
    ASSERT_TRUE((*log)->RotateKeys().ok());
    Write(**log, 10, 20);
    ASSERT_TRUE((*log)->Close().ok());
  }

  std::string root_, keys_dir_, log_dir_;
};

// --- the key directory -------------------------------------------------------

TEST_F(AuditKeysTest, KeyDirectoryGivesCurrentAndRetiredKeys) {
  AddKey("key-a", 1);
  AddKey("key-b", 2);
  MakeCurrent("key-b");
  auto keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  absl::StatusOr<HmacKey> current = keys->CurrentKey();
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(current->id, "key-b");
  EXPECT_EQ(current->secret.size(), 32u);
  absl::StatusOr<std::string> a = keys->Key("key-a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_NE(*a, current->secret);
  EXPECT_THAT(keys->Key("key-z"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'key-z'")));
  // Ids come from segment headers: never a path.
  EXPECT_THAT(keys->Key("../keys/key-a"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("id")));
  EXPECT_THAT(keys->Key(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("id")));
}

TEST_F(AuditKeysTest, BadKeyFilesAreErrorsNeverNoKey) {
  MakeCurrent("key-a");
  const std::string path = keys_dir_ + "/key-a.key";
  // Empty.
  WriteAll(path, "");
  EXPECT_THAT(FileHmacKeyProvider::Open(keys_dir_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(path), HasSubstr("empty"))));
  // Not hex: the message names the file, never its content.
  const std::string secretish = "zz" + HexKey(1).substr(2);
  WriteAll(path, secretish);
  absl::Status s = FileHmacKeyProvider::Open(keys_dir_).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          AllOf(HasSubstr(path), HasSubstr("hex"))));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr(HexKey(1).substr(2))));
  // Too short a key, and too long a file.
  WriteAll(path, HexKey(1).substr(0, 40));
  EXPECT_THAT(FileHmacKeyProvider::Open(keys_dir_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("32 to 128 bytes")));
  WriteAll(path, std::string(5000, 'a'));
  EXPECT_THAT(FileHmacKeyProvider::Open(keys_dir_).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr(path)));
  // A directory where the key file belongs.
  fs::remove(path);
  fs::create_directory(path);
  EXPECT_THAT(
      FileHmacKeyProvider::Open(keys_dir_).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("directory")));
  // A symbolic link to nowhere.
  fs::remove(path);
  fs::create_symlink(root_ + "/nowhere", path);
  EXPECT_THAT(FileHmacKeyProvider::Open(keys_dir_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("symbolic link to nowhere")));
  // Unreadable (even by root): reading /proc/self/mem from 0 fails.
  fs::remove(path);
  fs::create_symlink("/proc/self/mem", path);
  s = FileHmacKeyProvider::Open(keys_dir_).status();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
  // A symbolic link to a good key file is followed.
  fs::remove(path);
  WriteAll(root_ + "/real.key", HexKey(1));
  fs::create_symlink(root_ + "/real.key", path);
  EXPECT_TRUE(FileHmacKeyProvider::Open(keys_dir_).ok());
}

TEST_F(AuditKeysTest, BadCurrentFileAndDirectoryAreErrors) {
  AddKey("key-a", 1);
  EXPECT_THAT(
      FileHmacKeyProvider::Open(keys_dir_).status(),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("CURRENT")));
  WriteAll(keys_dir_ + "/CURRENT", "");
  EXPECT_THAT(FileHmacKeyProvider::Open(keys_dir_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  WriteAll(keys_dir_ + "/CURRENT", "../key-a\n");
  EXPECT_THAT(
      FileHmacKeyProvider::Open(keys_dir_).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("valid key id")));
  WriteAll(keys_dir_ + "/CURRENT", "key-b\n");  // no such key
  EXPECT_THAT(FileHmacKeyProvider::Open(keys_dir_).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'key-b'")));
  EXPECT_THAT(FileHmacKeyProvider::Open(root_ + "/none").status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("none")));
  EXPECT_THAT(FileHmacKeyProvider::Open(keys_dir_ + "/key-a.key").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a directory")));
}

// --- the version 3 header ----------------------------------------------------

TEST(AuditKeysHeaderTest, Version3HeaderRoundTripsAndRefusesBadIds) {
  internal::SegmentHeader h;
  h.flags = internal::kFlagKeyed;
  h.number = 7;
  h.first_sequence = 99;
  h.hmac_key_id = "key-2026.q4";
  h.signing_key_id = "ed25519:0123456789abcdef";
  const std::string bytes = internal::EncodeSegmentHeader(h);
  EXPECT_EQ(bytes.size(), 70u + h.hmac_key_id.size() + h.signing_key_id.size());
  internal::SegmentHeader back;
  ASSERT_EQ(internal::DecodeSegmentHeader(bytes + "frames", &back),
            internal::HeaderProblem::kNone);
  EXPECT_EQ(back.hmac_key_id, h.hmac_key_id);
  EXPECT_EQ(back.signing_key_id, h.signing_key_id);
  EXPECT_EQ(back.size, bytes.size());
  EXPECT_EQ(internal::FirstFrameOffset(bytes + "frames"), bytes.size());
  // Cut short anywhere: short, never read past the end.
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_NE(internal::DecodeSegmentHeader(bytes.substr(0, n), &back),
              internal::HeaderProblem::kNone);
  }
  // An id that could be a path, or an HMAC key id in an unkeyed segment,
  // is malformed even with a matching CRC.
  h.hmac_key_id = "../../etc/passwd";
  EXPECT_EQ(
      internal::DecodeSegmentHeader(internal::EncodeSegmentHeader(h), &back),
      internal::HeaderProblem::kMalformed);
  h.hmac_key_id = "k1";
  h.flags = 0;
  EXPECT_EQ(
      internal::DecodeSegmentHeader(internal::EncodeSegmentHeader(h), &back),
      internal::HeaderProblem::kMalformed);
  h.flags = internal::kFlagKeyed;
  h.signing_key_id = "with space";
  EXPECT_EQ(
      internal::DecodeSegmentHeader(internal::EncodeSegmentHeader(h), &back),
      internal::HeaderProblem::kMalformed);
  // A version 2 header reads as before: 68 bytes, no ids.
  h.version = internal::kFormatVersionV2;
  const std::string v2 = internal::EncodeSegmentHeader(h);
  EXPECT_EQ(v2.size(), internal::kSegmentHeaderSize);
  ASSERT_EQ(internal::DecodeSegmentHeader(v2, &back),
            internal::HeaderProblem::kNone);
  EXPECT_EQ(back.hmac_key_id, "");
  // The fuzzer's seeds decode (so the fuzzer starts from the new fields).
  for (const char* seed :
       {"segment_head_v3_key_ids", "segment_head_v3_unkeyed"}) {
    const std::string data = ReadAll(SourcePath(
        absl::StrCat("tests/fuzz_corpus/audit_format_fuzzer/", seed)));
    EXPECT_EQ(internal::DecodeSegmentHeader(data, &back),
              internal::HeaderProblem::kNone)
        << seed;
    EXPECT_EQ(internal::EncodeSegmentHeader(back), data.substr(0, back.size));
  }
}

// --- rotation and verification ----------------------------------------------

TEST_F(AuditKeysTest, LogRotatedAcrossThreeKeysVerifies) {
  AddKey("key-a", 1);
  MakeCurrent("key-a");
  auto keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  WriteRotatedLog(*keys);
  EXPECT_EQ(Header(0).hmac_key_id, "key-a");
  EXPECT_EQ(Header(1).hmac_key_id, "key-b");
  EXPECT_EQ(Header(2).hmac_key_id, "key-c");
  EXPECT_EQ(Header(2).version, internal::kFormatVersion);
  absl::StatusOr<AuditVerifyReport> r = Verify(keys.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->ToString();
  EXPECT_EQ(r->records_verified, 30u);
  EXPECT_EQ(r->segments, 3u);
  // Queries read it like any log.
  auto reader = AuditLogReader::Open(log_dir_);
  ASSERT_TRUE(reader.ok());
  auto mine = (*reader)->ForSubject("s-2");
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_EQ(mine->size(), 6u);
  // Without keys, a keyed log is not verified as if it were unkeyed.
  EXPECT_THAT(VerifyAuditLog(log_dir_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("with an HMAC key")));
  // Reopened, it continues under the current key.
  auto log = AuditLog::Open(Options(keys.get()));
  ASSERT_TRUE(log.ok()) << log.status();
  Write(**log, 3, 30);
  ASSERT_TRUE((*log)->Close().ok());
  r = Verify(keys.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->ToString();
  EXPECT_EQ(r->records_verified, 33u);
}

TEST_F(AuditKeysTest, NextSegmentTakesTheNewCurrentKeyWithoutACall) {
  AddKey("key-a", 1);
  MakeCurrent("key-a");
  auto keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  AuditLogOptions o = Options(keys.get());
  o.segment_bytes = 4096;
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  Write(**log, 20, 0);
  ASSERT_TRUE((*log)->Flush().ok());
  AddKey("key-b", 2);
  MakeCurrent("key-b");
  Write(**log, 100, 20);  // several size rotations
  ASSERT_TRUE((*log)->Close().ok());
  const internal::SegmentHeader last =
      Header((*log)->counters().segments_sealed - 1);
  EXPECT_EQ(Header(0).hmac_key_id, "key-a");
  EXPECT_EQ(last.hmac_key_id, "key-b");
  absl::StatusOr<AuditVerifyReport> r = Verify(keys.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->ToString();
  EXPECT_EQ(r->records_verified, 120u);
}

// A short-lived writer continues the open segment only under the keys it
// names: after the current key changed between runs, the next run begins
// a new segment under the new key.
TEST_F(AuditKeysTest, ANextRunContinuesTheOpenSegmentOnlyUnderItsKey) {
  AddKey("key-a", 1);
  MakeCurrent("key-a");
  auto keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  for (int run = 0; run < 2; ++run) {
    auto log = AuditLog::Open(Options(keys.get()));
    ASSERT_TRUE(log.ok()) << log.status();
    Write(**log, 5, run * 5);
    ASSERT_TRUE((*log)->Close().ok());
  }
  ASSERT_FALSE(std::filesystem::exists(Seg(1)));  // one segment, continued
  AddKey("key-b", 2);
  MakeCurrent("key-b");
  {
    auto log = AuditLog::Open(Options(keys.get()));
    ASSERT_TRUE(log.ok()) << log.status();
    Write(**log, 5, 10);
    ASSERT_TRUE((*log)->Close().ok());
  }
  EXPECT_EQ(Header(0).hmac_key_id, "key-a");
  EXPECT_EQ(Header(1).hmac_key_id, "key-b");
  absl::StatusOr<AuditVerifyReport> r = Verify(keys.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->ToString();
  EXPECT_EQ(r->records_verified, 15u);
  EXPECT_EQ(r->segments, 2u);
}

TEST_F(AuditKeysTest, AnEventEditedAfterTheRotationIsFound) {
  AddKey("key-a", 1);
  MakeCurrent("key-a");
  auto keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  WriteRotatedLog(*keys);
  // Event 3 of segment 1 (under key-b) now names another subject, its CRC
  // recomputed; the chain hash cannot be recomputed without key-b.
  std::string data = ReadAll(Seg(1));
  std::uint64_t offset = internal::FirstFrameOffset(data);
  internal::FrameView f;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(internal::ReadFrame(data, &offset, &f),
              internal::FrameStatus::kOk);
  }
  const std::uint64_t at = offset;
  ASSERT_EQ(internal::ReadFrame(data, &offset, &f), internal::FrameStatus::kOk);
  const std::size_t s = data.find("s-", at);
  ASSERT_LT(s, offset);
  data[s + 2] = data[s + 2] == '4' ? '3' : '4';
  const std::uint32_t len = internal::GetU32(data.data() + at);
  internal::PutU32(
      data.data() + at + 4,
      internal::FrameCrc(
          len, absl::string_view(data.data() + at + 8, len),
          reinterpret_cast<const unsigned char*>(data.data()) + at + 8 + len));
  WriteAll(Seg(1), data);
  absl::StatusOr<AuditVerifyReport> r = Verify(keys.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->defect, AuditDefect::kEdited) << r->ToString();
  EXPECT_EQ(r->segment_file, Seg(1));
  EXPECT_EQ(r->record_index, 3u);
  EXPECT_EQ(r->records_verified, 13u);
}

TEST_F(AuditKeysTest, AHeaderWhoseKeyIdIsRewrittenIsFound) {
  AddKey("key-a", 1);
  MakeCurrent("key-a");
  auto keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  WriteRotatedLog(*keys);
  // Segment 2 claims key-b, another key the verifier knows.
  RewriteHeader(2, [](internal::SegmentHeader& h) { h.hmac_key_id = "key-b"; });
  absl::StatusOr<AuditVerifyReport> r = Verify(keys.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->defect, AuditDefect::kEdited) << r->ToString();
  EXPECT_EQ(r->segment_file, Seg(2));
  EXPECT_EQ(r->record_index, 0u);
  EXPECT_THAT(r->detail, HasSubstr("'key-b'"));
  EXPECT_EQ(r->records_verified, 20u);
}

TEST_F(AuditKeysTest, AHeaderWhoseSigningKeyIdIsRewrittenIsFound) {
  AddKey("key-a", 1);
  MakeCurrent("key-a");
  auto keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  WriteRotatedLog(*keys);
  // The chain key binds the whole header, not only the HMAC key id.
  RewriteHeader(1, [](internal::SegmentHeader& h) {
    h.signing_key_id = "ed25519:00000000000000000000000000000000";
  });
  absl::StatusOr<AuditVerifyReport> r = Verify(keys.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->defect, AuditDefect::kEdited) << r->ToString();
  EXPECT_EQ(r->segment_file, Seg(1));
  EXPECT_EQ(r->record_index, 0u);
}

TEST_F(AuditKeysTest, AnUnknownKeyIdFailsNamingTheSegmentAndTheId) {
  AddKey("key-a", 1);
  MakeCurrent("key-a");
  auto keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  WriteRotatedLog(*keys);
  RewriteHeader(1, [](internal::SegmentHeader& h) { h.hmac_key_id = "key-z"; });
  EXPECT_THAT(Verify(keys.get()).status(),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr(Seg(1)), HasSubstr("'key-z'"))));
  // A retired key that is no longer known: the same, for its segment.
  RewriteHeader(1, [](internal::SegmentHeader& h) { h.hmac_key_id = "key-b"; });
  fs::remove(keys_dir_ + "/key-a.key");
  EXPECT_THAT(Verify(keys.get()).status(),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr(Seg(0)), HasSubstr("'key-a'"))));
  // RepairAuditLog refuses the same way: nothing is trimmed.
  AuditVerifyOptions o;
  o.hmac_keys = keys.get();
  EXPECT_THAT(RepairAuditLog(log_dir_, o).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'key-a'")));
}

TEST_F(AuditKeysTest, AProviderFailureAtRotationKeepsTheLogGoing) {
  MemoryHmacKeys keys;
  keys.AddAndMakeCurrent("k1");
  AuditLogOptions o = Options(&keys);
  o.segment_bytes = 4096;
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  Write(**log, 10, 0);
  keys.SetUnavailable(true);
  EXPECT_THAT((*log)->RotateKeys(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("down")));
  Write(**log, 60, 10);  // size rotations keep k1
  ASSERT_TRUE((*log)->Flush().ok());
  EXPECT_GT((*log)->counters().key_errors, 0u);
  keys.SetUnavailable(false);
  keys.AddAndMakeCurrent("k2");
  ASSERT_TRUE((*log)->RotateKeys().ok());
  Write(**log, 5, 70);
  ASSERT_TRUE((*log)->Close().ok());
  absl::StatusOr<AuditVerifyReport> r = Verify(&keys);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->ToString();
  EXPECT_EQ(r->records_verified, 75u);
  // A key service that is down is an error, never a verdict.
  keys.SetUnavailable(true);
  EXPECT_THAT(Verify(&keys).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("'k1'")));
}

// Threads record while another rotates the keys: every event lands once,
// in a segment chained under the key its header names.
TEST_F(AuditKeysTest, ConcurrentRecordersAcrossRotationsLoseNothing) {
  MemoryHmacKeys keys;
  keys.AddAndMakeCurrent("r0");
  AuditLogOptions o = Options(&keys);
  o.segment_bytes = 8192;
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  constexpr int kThreads = 3;
  constexpr int kEach = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { Write(**log, kEach, t * kEach); });
  }
  for (int r = 1; r <= 5; ++r) {
    keys.AddAndMakeCurrent(absl::StrCat("r", r));
    EXPECT_TRUE((*log)->RotateKeys().ok());
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE((*log)->Close().ok());
  absl::StatusOr<AuditVerifyReport> r = Verify(&keys);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->ToString();
  EXPECT_EQ(r->records_verified, std::uint64_t{kThreads * kEach});
  EXPECT_GE(r->segments, 6u);
}

TEST_F(AuditKeysTest, SegmentsNameTheCheckpointSigningKey) {
  const std::string signing = SourcePath("tests/testdata/receipt_keys");
  FileKeyProviderOptions ko;
  ko.paths = {signing};
  ko.signing_key_file = signing + "/2026.pem";
  auto signer = FileKeyProvider::Open(ko);
  ASSERT_TRUE(signer.ok()) << signer.status();
  auto sink = FileAnchorSink::Open(root_ + "/anchors.txt");
  ASSERT_TRUE(sink.ok()) << sink.status();
  MemoryHmacKeys keys;
  keys.AddAndMakeCurrent("k1");
  AuditLogOptions o = Options(&keys);
  o.checkpoint_keys = signer->get();
  o.anchor_sink = sink->get();
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  Write(**log, 4, 0);
  ASSERT_TRUE((*log)->Close().ok());
  absl::StatusOr<std::string> id = (*signer)->CurrentKeyId();
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(Header(0).signing_key_id, *id);
  EXPECT_EQ(Header(0).hmac_key_id, "k1");
  // The checkpoint made at the seal is signed by the key the header names.
  absl::StatusOr<AuditCheckpoint> c =
      ReadLatestCheckpoint(root_ + "/anchors.txt");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->key_id, *id);
}

// --- logs written before keys had ids ----------------------------------------

TEST_F(AuditKeysTest, AKeyWithoutIdStillWorksAndNamesTheEmptyId) {
  AuditLogOptions o = Options(nullptr);
  o.hmac_key = "a key without an id, as before";
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  Write(**log, 5, 0);
  ASSERT_TRUE((*log)->Close().ok());
  EXPECT_EQ(Header(0).hmac_key_id, "");
  EXPECT_NE(Header(0).flags & internal::kFlagKeyed, 0u);
  absl::StatusOr<AuditVerifyReport> r = VerifyAuditLog(log_dir_, o.hmac_key);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->ToString();
  r = VerifyAuditLog(log_dir_, "another key");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->defect, AuditDefect::kEdited);
  // A lookup alone cannot verify a segment chained under the key without
  // id: an error, not a verdict.
  MemoryHmacKeys keys;
  EXPECT_THAT(
      Verify(&keys).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("without id")));
}

// A keyed log written by the version 2 writer (tests/testdata/
// audit_log_v2_keyed) verifies as before, and continues under a provider.
TEST_F(AuditKeysTest, AKeyedVersion2LogVerifiesAndContinuesUnderKeyIds) {
  const std::string kLegacy = "legacy-hmac-key-without-an-id-0123";
  fs::create_directories(log_dir_);
  const std::string from = SourcePath("tests/testdata/audit_log_v2_keyed");
  for (const auto& e : fs::directory_iterator(from)) {
    if (e.path().extension() == ".md") continue;
    fs::copy_file(e.path(), log_dir_ + "/" + e.path().filename().string());
  }
  ASSERT_EQ(Header(0).version, internal::kFormatVersionV2);
  absl::StatusOr<AuditVerifyReport> r = VerifyAuditLog(log_dir_, kLegacy);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->ToString();
  EXPECT_EQ(r->records_verified, 80u);
  EXPECT_EQ(r->indexes_verified, 2u);
  r = VerifyAuditLog(log_dir_, "not the key");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->defect, AuditDefect::kEdited);
  EXPECT_EQ(r->records_verified, 0u);

  MemoryHmacKeys keys;
  keys.AddAndMakeCurrent("k2027");
  AuditLogOptions o = Options(&keys);
  o.hmac_key = kLegacy;  // serves the segments without id
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  Write(**log, 5, 80);
  ASSERT_TRUE((*log)->Close().ok());
  EXPECT_EQ(Header(2).hmac_key_id, "k2027");
  r = Verify(&keys, kLegacy);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->ToString();
  EXPECT_EQ(r->records_verified, 85u);
}

TEST_F(AuditKeysTest, TheUnkeyedVersion2FixtureStillVerifies) {
  fs::create_directories(log_dir_);
  const std::string from = SourcePath("tests/testdata/audit_log_v2");
  for (const auto& e : fs::directory_iterator(from)) {
    if (e.path().extension() == ".md") continue;
    fs::copy_file(e.path(), log_dir_ + "/" + e.path().filename().string());
  }
  absl::StatusOr<AuditVerifyReport> r = VerifyAuditLog(log_dir_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->ToString();
  EXPECT_EQ(r->records_verified, 60u);
  // Given keys, an unkeyed log is refused: never a downgrade.
  MemoryHmacKeys keys;
  keys.AddAndMakeCurrent("k1");
  EXPECT_THAT(Verify(&keys).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("without an HMAC key")));
}

}  // namespace
}  // namespace consentry
