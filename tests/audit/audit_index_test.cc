// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The blocked segment index ("CNSIDX02", sealed by its root in "CNSSEAL3"):
// a query reads and checks only the blocks its key needs; a block, a block
// table or a header that is not the sealed one is never used (its segment
// is scanned, the answer stays exact) and verification reports it; logs
// written before it (seal "CNSSEAL2", index "CNSIDX01") still read and
// verify.

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/audit_log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/audit/audit_format.h"
#include "tests/testing/files.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr std::int64_t kT0 = 1'790'000'000'000'000'000;
// Events of the fixture's log: subject p-(i % kSubjects), accessor
// a-(i % 3), time kT0 + i seconds.
constexpr int kEvents = 12000;
constexpr int kSubjects = 500;

using ::consentry::testing::ReadAll;
using ::consentry::testing::WriteAll;

// The sequences of `events`, in order.
std::vector<std::uint64_t> Sequences(
    const std::vector<OwnedAuditEvent>& events) {
  std::vector<std::uint64_t> out;
  for (const OwnedAuditEvent& e : events) out.push_back(e.sequence);
  return out;
}

// The sequences i < n with i % m == r.
std::vector<std::uint64_t> Expected(int n, int m, int r) {
  std::vector<std::uint64_t> out;
  for (int i = r; i < n; i += m) out.push_back(static_cast<std::uint64_t>(i));
  return out;
}

class AuditIndexBlockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/consentry_auditidx_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // kEvents events in 256 KiB segments: about 1,900 events a segment, so
  // each segment's index has two blocks.
  void WriteLog() {
    AuditLogOptions o;
    o.directory = dir_;
    o.segment_bytes = 256 << 10;
    o.seal_on_close = true;  // every segment sealed and indexed
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(o);
    ASSERT_OK(log);
    for (int i = 0; i < kEvents; ++i) {
      const std::string s = absl::StrCat("p-", i % kSubjects);
      const std::string a = absl::StrCat("a-", i % 3);
      AuditEvent e;
      e.time_unix_nanos = kT0 + std::int64_t{i} * 1'000'000'000;
      e.accessor = a;
      e.subject = s;
      e.category = "measurement";
      e.purpose = "statistics.measurement";
      e.reason = Reason::kAllowedConsent;
      e.revision = i;
      ASSERT_OK((*log)->Record(e));
    }
    ASSERT_OK((*log)->Close());
    segments_ = 0;
    while (std::filesystem::exists(Seg(segments_))) ++segments_;
    ASSERT_GE(segments_, 5u);
  }

  std::string Seg(std::uint64_t n) const {
    return dir_ + "/" + internal::SegmentFileName(n);
  }
  std::string Idx(std::uint64_t n) const {
    return dir_ + "/" + internal::IndexFileName(n);
  }

  internal::IndexHeader Header(std::uint64_t n) const {
    internal::IndexHeader h;
    EXPECT_TRUE(internal::DecodeIndexHeader(ReadAll(Idx(n)), &h));
    return h;
  }

  internal::SegmentIndex Index(std::uint64_t n) const {
    internal::SegmentIndex index;
    EXPECT_TRUE(internal::SegmentIndex::Decode(ReadAll(Idx(n)), &index));
    return index;
  }

  AuditVerifyReport Verify() const {
    absl::StatusOr<AuditVerifyReport> r = VerifyAuditLog(dir_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : AuditVerifyReport{};
  }

  void ExpectIndexReported(std::uint64_t n, absl::string_view detail) const {
    const AuditVerifyReport r = Verify();
    EXPECT_EQ(AuditDefectName(r.defect), "index_mismatch") << r.ToString();
    EXPECT_EQ(r.segment_file, Idx(n)) << r.ToString();
    EXPECT_THAT(r.detail, HasSubstr(detail)) << r.ToString();
  }

  // Subject p-7's events, exactly; returns the stats of the query.
  AuditLogReader::Stats ExpectSubjectExact(int subject = 7) const {
    auto reader = *AuditLogReader::Open(dir_);
    absl::StatusOr<std::vector<OwnedAuditEvent>> events =
        reader->ForSubject(absl::StrCat("p-", subject));
    EXPECT_TRUE(events.ok()) << events.status();
    if (events.ok()) {
      EXPECT_EQ(Sequences(*events), Expected(kEvents, kSubjects, subject));
    }
    return reader->last_stats();
  }

  // The offset in segment `n`'s index of an entry of subject `subject`'s
  // key, and the block holding it.
  std::uint64_t EntryOffsetOf(std::uint64_t n, absl::string_view subject,
                              std::uint32_t* block) const {
    const internal::IndexHeader h = Header(n);
    const internal::SegmentIndex index = Index(n);
    const std::uint64_t key =
        internal::IndexKeyHash(internal::kKeySubject, subject);
    for (std::size_t i = 0; i < index.entries.size(); ++i) {
      if (index.entries[i].first == key) {
        *block = static_cast<std::uint32_t>(i / h.block_entries);
        return h.TableEnd() + i * internal::kIndexEntrySize;
      }
    }
    ADD_FAILURE() << "no entry of " << subject << " in segment " << n;
    return 0;
  }

  std::string dir_;
  std::uint64_t segments_ = 0;
};

// The writer sorts an index's entries in linear time (its offsets only
// grow as frames are added); the result must be exactly what sorting every
// (key hash, offset) pair gives, for a few keys or many, and when offsets
// were not added in order.
TEST(SegmentIndexTest, EncodingSortsEntriesAsAFullSortDoes) {
  std::mt19937_64 rng(7);
  for (const std::uint64_t keys : {1u, 3u, 50u, 100000u}) {
    for (const bool in_order : {true, false}) {
      SCOPED_TRACE(absl::StrCat(keys, " keys, in order: ", in_order));
      internal::SegmentIndex index;
      std::vector<std::pair<std::uint64_t, std::uint64_t>> expected;
      std::vector<std::string> names;
      for (int i = 0; i < 5000; ++i) {
        names.push_back(absl::StrCat("k-", rng() % keys));
      }
      std::uint64_t offset = internal::kSegmentHeaderSize;
      for (int i = 0; i < 5000; ++i) {
        internal::EventKeys k;
        k.subject = names[static_cast<std::size_t>(i)];
        k.accessor = names[static_cast<std::size_t>((i * 7) % 5000)];
        const std::uint64_t at = in_order ? offset : rng() % 1000000;
        index.Add(kT0 + i, at, k);
        expected.emplace_back(
            internal::IndexKeyHash(internal::kKeySubject, k.subject), at);
        expected.emplace_back(
            internal::IndexKeyHash(internal::kKeyAccessor, k.accessor), at);
        offset += 100 + rng() % 50;
      }
      std::sort(expected.begin(), expected.end());
      internal::SegmentIndex decoded;
      ASSERT_TRUE(internal::SegmentIndex::Decode(index.Encode(), &decoded));
      EXPECT_EQ(decoded.entries, expected);
      internal::SegmentIndex v1 = index;
      ASSERT_TRUE(internal::SegmentIndex::Decode(v1.EncodeV1(), &decoded));
      EXPECT_EQ(decoded.entries, expected);
    }
  }
}

// What the writer encodes at a seal (`TakeEncoded`, sorting the runs into
// the file's bytes) is byte for byte `Encode`'s, segment after segment of
// one index reused through `Restart`, whether or not offsets came in order.
TEST(SegmentIndexTest, TakeEncodedEqualsEncodeAcrossRestarts) {
  std::mt19937_64 rng(11);
  internal::SegmentIndex reused;
  reused.Restart(0, 0);
  for (std::uint64_t segment = 0; segment < 4; ++segment) {
    SCOPED_TRACE(absl::StrCat("segment ", segment));
    const std::uint64_t keys = segment == 2 ? 1 : 40000;
    const bool in_order = segment != 3;
    internal::SegmentIndex fresh;
    fresh.segment_number = segment;
    fresh.first_sequence = segment * 1000;
    reused.Restart(segment, segment * 1000);
    std::uint64_t offset = internal::kSegmentHeaderSize;
    for (int i = 0; i < 20000; ++i) {
      const std::string subject = absl::StrCat("s-", rng() % keys);
      const std::string accessor = absl::StrCat("a-", rng() % 3);
      internal::EventKeys k;
      k.subject = subject;
      k.accessor = accessor;
      const std::uint64_t at = in_order ? offset : rng() % 1000000;
      fresh.Add(kT0 + i, at, k);
      reused.Add(kT0 + i, at, k);
      offset += 90 + rng() % 60;
    }
    fresh.file_size = reused.file_size = offset;
    const std::string want = fresh.Encode();
    ASSERT_FALSE(want.empty());
    EXPECT_TRUE(reused.TakeEncoded() == want);
    EXPECT_EQ(reused.records, 20000u);
  }
}

TEST_F(AuditIndexBlockTest, ASubjectQueryReadsOnlyTheBlocksItNeeds) {
  WriteLog();
  std::uint64_t blocks = 0;
  std::uint64_t index_bytes = 0;
  for (std::uint64_t n = 0; n < segments_; ++n) {
    blocks += Header(n).blocks;
    index_bytes += std::filesystem::file_size(Idx(n));
    EXPECT_GE(Header(n).blocks, 2u) << n;
  }
  const AuditLogReader::Stats s = ExpectSubjectExact();
  EXPECT_EQ(s.segments_scanned, 0u);
  EXPECT_EQ(s.segments_indexed, segments_);
  EXPECT_EQ(s.indexes_rejected, 0u);
  EXPECT_EQ(s.index_blocks_rejected, 0u);
  EXPECT_EQ(s.frames_read, static_cast<std::uint64_t>(kEvents / kSubjects));
  // One block a segment, or two where the key starts a block; never all.
  EXPECT_GE(s.index_blocks_read, segments_);
  EXPECT_LE(s.index_blocks_read, 2 * segments_);
  EXPECT_LT(s.index_blocks_read, blocks);
  EXPECT_LT(s.index_bytes_read, index_bytes * 3 / 4);

  // An unknown subject: headers and tables, and at most a block each.
  auto reader = *AuditLogReader::Open(dir_);
  absl::StatusOr<std::vector<OwnedAuditEvent>> none =
      reader->ForSubject("nobody");
  ASSERT_OK(none);
  EXPECT_THAT(*none, SizeIs(0));
  EXPECT_EQ(reader->last_stats().frames_read, 0u);
  EXPECT_LE(reader->last_stats().index_blocks_read, 2 * segments_);

  // A time range uses only the headers (and the tables the root covers).
  const absl::Time from = absl::FromUnixNanos(kT0) + absl::Seconds(5000);
  absl::StatusOr<std::vector<OwnedAuditEvent>> range =
      reader->InTimeRange(from, from + absl::Seconds(10));
  ASSERT_OK(range);
  EXPECT_EQ(Sequences(*range), Expected(5010, 1, 5000));
  EXPECT_EQ(reader->last_stats().index_blocks_read, 0u);
  EXPECT_GE(reader->last_stats().segments_skipped, segments_ - 2);
  std::uint64_t roots = 0;
  for (std::uint64_t n = 0; n < segments_; ++n) roots += Header(n).TableEnd();
  EXPECT_EQ(reader->last_stats().index_bytes_read, roots);
}

// A key whose entries cross the boundary between a segment's two blocks:
// the query reads both blocks there, and the answer is exact.
TEST_F(AuditIndexBlockTest, AKeyWhoseEntriesSpanTwoBlocksIsReadFromBoth) {
  WriteLog();
  // Every key of the log, by its hash: (is an accessor, number).
  std::map<std::uint64_t, std::pair<bool, int>> names;
  for (int a = 0; a < 3; ++a) {
    names[internal::IndexKeyHash(internal::kKeyAccessor,
                                 absl::StrCat("a-", a))] = {true, a};
  }
  for (int p = 0; p < kSubjects; ++p) {
    names[internal::IndexKeyHash(internal::kKeySubject,
                                 absl::StrCat("p-", p))] = {false, p};
  }
  std::set<std::pair<bool, int>> spanning;
  for (std::uint64_t n = 0; n < segments_; ++n) {
    const internal::SegmentIndex index = Index(n);
    const std::size_t b = Header(n).block_entries;
    ASSERT_GT(index.entries.size(), b);
    if (index.entries[b - 1].first == index.entries[b].first) {
      ASSERT_EQ(names.count(index.entries[b].first), 1u);
      spanning.insert(names[index.entries[b].first]);
    }
  }
  // The log is the same on every run (names, times, sizes): in some of
  // its segments a key spans the two blocks.
  ASSERT_FALSE(spanning.empty());
  for (const auto& [accessor, k] : spanning) {
    SCOPED_TRACE(absl::StrCat(accessor ? "a-" : "p-", k));
    auto reader = *AuditLogReader::Open(dir_);
    absl::StatusOr<std::vector<OwnedAuditEvent>> events =
        accessor ? reader->ForAccessor(absl::StrCat("a-", k))
                 : reader->ForSubject(absl::StrCat("p-", k));
    ASSERT_OK(events);
    EXPECT_EQ(Sequences(*events), accessor ? Expected(kEvents, 3, k)
                                           : Expected(kEvents, kSubjects, k));
    const AuditLogReader::Stats s = reader->last_stats();
    EXPECT_EQ(s.segments_indexed, segments_);
    EXPECT_EQ(s.segments_scanned, 0u);
    EXPECT_GT(s.index_blocks_read, segments_);
  }
}

// One entry of p-7 in a block, pointed at another subject's frame: the
// block no longer matches its SHA-256 in the table. Were it used, the
// answer would miss that event.
TEST_F(AuditIndexBlockTest, AnEditedEntryInABlockIsNeverUsed) {
  WriteLog();
  std::uint32_t block = 0;
  const std::uint64_t at = EntryOffsetOf(2, "p-7", &block);
  std::string idx = ReadAll(Idx(2));
  // The frame offset of one of p-8's events in the same segment.
  std::uint32_t unused = 0;
  const std::uint64_t other =
      internal::GetU64(idx.data() + EntryOffsetOf(2, "p-8", &unused) + 8);
  internal::PutU64(idx.data() + at + 8, other);
  WriteAll(Idx(2), idx);

  const AuditLogReader::Stats s = ExpectSubjectExact();
  EXPECT_EQ(s.index_blocks_rejected, 1u);
  EXPECT_EQ(s.indexes_rejected, 1u);
  EXPECT_EQ(s.segments_scanned, 1u);
  EXPECT_EQ(s.segments_indexed, segments_ - 1);
  ExpectIndexReported(2, absl::StrCat("block ", block));
}

TEST_F(AuditIndexBlockTest, AnEditedBlockTableIsNeverUsed) {
  WriteLog();
  std::uint32_t block = 0;
  EntryOffsetOf(3, "p-7", &block);
  const std::string original = ReadAll(Idx(3));
  std::string idx = original;
  // The digest of the block holding p-7, as a forger who edited the block
  // would rewrite it.
  const std::size_t ref = internal::kIndexHeaderSize +
                          std::size_t{block} * internal::kIndexBlockRefSize;
  idx[ref + 8] = static_cast<char>(idx[ref + 8] ^ 1);
  WriteAll(Idx(3), idx);
  const AuditLogReader::Stats s = ExpectSubjectExact();
  EXPECT_EQ(s.indexes_rejected, 1u);
  EXPECT_EQ(s.index_blocks_rejected, 0u);  // refused at the root
  EXPECT_EQ(s.segments_scanned, 1u);
  ExpectIndexReported(3, "block table");

  // The block edited and its digest in the table rewritten: the root no
  // longer matches the seal.
  internal::SegmentIndex index = Index(1);
  const std::uint64_t key =
      internal::IndexKeyHash(internal::kKeySubject, "p-7");
  std::erase_if(index.entries, [&](const auto& e) { return e.first == key; });
  WriteAll(Idx(1), index.Encode());
  WriteAll(Idx(3), original);
  const AuditLogReader::Stats t = ExpectSubjectExact();
  EXPECT_EQ(t.indexes_rejected, 1u);
  EXPECT_EQ(t.segments_scanned, 1u);
  ExpectIndexReported(1, "index is not the one sealed");
}

// A header claiming the segment holds no event in a time range would make
// a time query skip it: not the sealed root, so it is scanned.
TEST_F(AuditIndexBlockTest, AnEditedHeaderIsNeverUsed) {
  WriteLog();
  std::string idx = ReadAll(Idx(1));
  const internal::IndexHeader h = Header(1);
  internal::PutU64(idx.data() + 32, static_cast<std::uint64_t>(kT0));
  internal::PutU64(idx.data() + 40, static_cast<std::uint64_t>(kT0));
  WriteAll(Idx(1), idx);
  auto reader = *AuditLogReader::Open(dir_);
  const absl::Time from = absl::FromUnixNanos(h.min_time);
  absl::StatusOr<std::vector<OwnedAuditEvent>> range =
      reader->InTimeRange(from, from + absl::Seconds(3));
  ASSERT_OK(range);
  ASSERT_THAT(*range, SizeIs(3));
  EXPECT_EQ((*range)[0].sequence, h.first_sequence);
  EXPECT_EQ(reader->last_stats().indexes_rejected, 1u);
  EXPECT_EQ(reader->last_stats().segments_scanned, 1u);
  ExpectSubjectExact();
  ExpectIndexReported(1, "header");
}

TEST_F(AuditIndexBlockTest, ATruncatedIndexIsNeverUsed) {
  WriteLog();
  const std::string idx = ReadAll(Idx(2));
  const internal::IndexHeader h = Header(2);
  for (const std::size_t size :
       {idx.size() - 1, static_cast<std::size_t>(h.BlockOffset(1)),
        static_cast<std::size_t>(h.TableEnd()), internal::kIndexHeaderSize,
        std::size_t{8}, std::size_t{0}}) {
    SCOPED_TRACE(size);
    WriteAll(Idx(2), idx.substr(0, size));
    const AuditLogReader::Stats s = ExpectSubjectExact();
    EXPECT_EQ(s.indexes_rejected, 1u);
    EXPECT_EQ(s.segments_scanned, 1u);
    ExpectIndexReported(2, "");
  }
  // Bytes appended after the last block.
  WriteAll(Idx(2), idx + "x");
  EXPECT_EQ(ExpectSubjectExact().segments_scanned, 1u);
  ExpectIndexReported(2, "bytes");
}

TEST_F(AuditIndexBlockTest, AnIndexThatIsADirectoryOrSymlinkIsNeverUsed) {
  WriteLog();
  // A symlink to an exact copy of the sealed index: not the index file.
  const std::string copy = dir_ + ".idx-copy";
  std::filesystem::copy_file(Idx(2), copy);
  std::filesystem::remove(Idx(2));
  std::filesystem::create_symlink(copy, Idx(2));
  AuditLogReader::Stats s = ExpectSubjectExact();
  EXPECT_EQ(s.indexes_rejected, 1u);
  EXPECT_EQ(s.segments_scanned, 1u);
  ExpectIndexReported(2, "symbolic link");
  std::filesystem::remove(Idx(2));
  std::filesystem::remove(copy);

  std::filesystem::create_directory(Idx(2));
  s = ExpectSubjectExact();
  EXPECT_EQ(s.indexes_rejected, 1u);
  EXPECT_EQ(s.segments_scanned, 1u);
  ExpectIndexReported(2, "not a regular file");
}

// An index from another segment (a valid index, the wrong root) and one of
// the old version in place of a new one are both refused.
TEST_F(AuditIndexBlockTest, AnotherSegmentsOrAnOldVersionIndexIsNeverUsed) {
  WriteLog();
  const std::string original = ReadAll(Idx(1));
  WriteAll(Idx(1), ReadAll(Idx(2)));
  AuditLogReader::Stats s = ExpectSubjectExact();
  EXPECT_EQ(s.indexes_rejected, 1u);
  EXPECT_EQ(s.segments_scanned, 1u);
  ExpectIndexReported(1, "header");
  WriteAll(Idx(1), original);
  // The index segment 1's seal names, encoded as version 1: a version 3
  // seal names only a version 2 root.
  WriteAll(Idx(1), Index(1).EncodeV1());
  s = ExpectSubjectExact();
  EXPECT_EQ(s.indexes_rejected, 1u);
  EXPECT_EQ(s.segments_scanned, 1u);
  ExpectIndexReported(1, "edited or swapped");
}

// --- logs written before the blocked index ----------------------------------

class AuditLogV2FormatTest : public AuditIndexBlockTest {
 protected:
  // A copy of tests/testdata/audit_log_v2: 60 events, subject s-(i % 4),
  // accessor a-(i % 3), in two segments sealed by "CNSSEAL2".
  void CopyFixture() {
    const std::string from = testing::SourcePath("tests/testdata/audit_log_v2");
    for (std::uint64_t n = 0; n < 2; ++n) {
      for (const std::string& name :
           {internal::SegmentFileName(n), internal::IndexFileName(n)}) {
        std::filesystem::copy_file(from + "/" + name, dir_ + "/" + name);
      }
    }
  }

  void ExpectSubject(int subject, int events) {
    auto reader = *AuditLogReader::Open(dir_);
    absl::StatusOr<std::vector<OwnedAuditEvent>> got =
        reader->ForSubject(absl::StrCat("s-", subject));
    ASSERT_OK(got);
    EXPECT_EQ(Sequences(*got), Expected(events, 4, subject));
    last_ = reader->last_stats();
  }

  AuditLogReader::Stats last_;
};

TEST_F(AuditLogV2FormatTest, AVersion2LogReadsVerifiesAndContinues) {
  CopyFixture();
  ASSERT_EQ(ReadAll(Idx(0)).substr(0, 8), "CNSIDX01");
  AuditVerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.records_verified, 60u);
  EXPECT_EQ(r.indexes_verified, 2u);
  ExpectSubject(1, 60);
  EXPECT_EQ(last_.segments_indexed, 2u);
  EXPECT_EQ(last_.segments_scanned, 0u);
  EXPECT_EQ(last_.index_blocks_read, 0u);  // read whole
  EXPECT_EQ(last_.index_bytes_read, std::filesystem::file_size(Idx(0)) +
                                        std::filesystem::file_size(Idx(1)));

  // A missing version 1 index of the sealed last segment is rebuilt as
  // version 1 (its seal names that one) when the log is opened again, and
  // the log continues with a segment in the new format.
  const std::string idx1 = ReadAll(Idx(1));
  std::filesystem::remove(Idx(1));
  {
    AuditLogOptions o;
    o.directory = dir_;
    o.seal_on_close = true;
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(o);
    ASSERT_OK(log);
    for (int i = 60; i < 80; ++i) {
      const std::string s = absl::StrCat("s-", i % 4);
      AuditEvent e;
      e.time_unix_nanos = kT0 + std::int64_t{i} * 1'000'000'000;
      e.accessor = "a-0";
      e.subject = s;
      ASSERT_OK((*log)->Record(e));
    }
    ASSERT_OK((*log)->Close());
  }
  EXPECT_EQ(ReadAll(Idx(1)), idx1);
  ASSERT_EQ(ReadAll(Idx(2)).substr(0, 8), "CNSIDX02");
  r = Verify();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.records_verified, 80u);
  EXPECT_EQ(r.indexes_verified, 3u);
  ExpectSubject(1, 80);
  EXPECT_EQ(last_.segments_indexed, 3u);
  EXPECT_EQ(last_.index_blocks_read, 1u);
}

TEST_F(AuditLogV2FormatTest, AnEditedVersion1IndexIsNeverUsed) {
  CopyFixture();
  internal::SegmentIndex index;
  ASSERT_TRUE(internal::SegmentIndex::Decode(ReadAll(Idx(0)), &index));
  const std::uint64_t key =
      internal::IndexKeyHash(internal::kKeySubject, "s-1");
  std::erase_if(index.entries, [&](const auto& e) { return e.first == key; });
  WriteAll(Idx(0), index.EncodeV1());
  ExpectSubject(1, 60);
  EXPECT_EQ(last_.indexes_rejected, 1u);
  EXPECT_EQ(last_.segments_scanned, 1u);
  ExpectIndexReported(0, "edited or swapped");
  // Rewritten in the new format: a version 2 seal names only the old one.
  WriteAll(Idx(0), index.Encode());
  ExpectSubject(1, 60);
  EXPECT_EQ(last_.indexes_rejected, 1u);
  ExpectIndexReported(0, "edited or swapped");
}

}  // namespace
}  // namespace consentry
