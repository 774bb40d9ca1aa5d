// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The bytes the access log writes, against an encoder of the format written
// here from docs/design/audit-log-format.md alone: events serialized by
// protobuf, frames chained with libcrypto's EVP digest and MAC, the index
// sorted with std::sort and its blocks hashed one by one. The writer's
// shortcuts (the chain's padded single-call SHA-256, an index built in
// runs and encoded into a recycled buffer, frames written into a buffer
// not zero-filled) must give these bytes exactly, segment after segment.

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/audit_log.h"
#include "consentry/policy.h"
#include "consentry/v1/audit.pb.h"
#include "gtest/gtest.h"
#include "src/audit/audit_fast_path.h"
#include "src/util/crc32c.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace consentry {
namespace {

void Le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
}

std::string Sha256Of(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EXPECT_EQ(
      EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr), 1);
  return std::string(reinterpret_cast<char*>(md), n);
}

std::string HmacOf(const std::string& key, const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EXPECT_NE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                 reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size(), md, &n),
            nullptr);
  return std::string(reinterpret_cast<char*>(md), n);
}

std::uint64_t Fnv1a(char kind, const std::string& key) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : std::string(1, kind) + key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string FileName(std::uint64_t number, const char* ext) {
  char name[64];
  std::snprintf(name, sizeof(name), "audit-%016llu.%s",
                static_cast<unsigned long long>(number), ext);
  return name;
}

// The log's files as the format describes them, built event by event.
class ModelLog {
 public:
  ModelLog(std::string key, std::uint64_t segment_bytes)
      : key_(std::move(key)), segment_bytes_(segment_bytes) {
    Begin();
  }

  void Add(const v1::AuditEvent& event) {
    const std::size_t bare = event.SerializeAsString().size();
    // Rotated when the frame (with the longest sequence field) and a seal
    // would not fit, unless the segment is empty.
    if (records_ > 0 && seg_.size() + 40 + bare + 11 + 96 > segment_bytes_) {
      Seal();
      ++number_;
      Begin();
    }
    v1::AuditEvent m = event;
    m.set_sequence(sequence_);
    const std::string payload = m.SerializeAsString();
    const std::uint64_t offset = seg_.size();
    AppendFrame(static_cast<std::uint32_t>(payload.size()), payload);
    entries_.emplace_back(Fnv1a('s', m.subject()), offset);
    entries_.emplace_back(Fnv1a('a', m.accessor()), offset);
    if (records_ == 0 || m.time_unix_nanos() < min_time_) {
      min_time_ = m.time_unix_nanos();
    }
    if (records_ == 0 || m.time_unix_nanos() > max_time_) {
      max_time_ = m.time_unix_nanos();
    }
    ++records_;
    ++sequence_;
  }

  // Seals the open segment (the log closes with `seal_on_close`).
  std::map<std::string, std::string> Close() {
    Seal();
    return files_;
  }

 private:
  void Begin() {
    std::string h = "CNSAUD01";
    Le(h, 3, 4);                     // version
    Le(h, key_.empty() ? 0 : 1, 4);  // flags: keyed
    Le(h, number_, 8);
    Le(h, sequence_, 8);
    h += prev_;
    h.push_back('\0');  // no HMAC key id
    h.push_back('\0');  // no signing key id
    chain_key_ = key_.empty()
                     ? std::string()
                     : HmacOf(key_, "consentry-audit-segment-key/3\n" + h);
    Le(h, internal::Crc32c(h.data(), h.size()), 4);
    seg_ = h;
    first_sequence_ = sequence_;
    records_ = 0;
    entries_.clear();
    min_time_ = max_time_ = 0;
  }

  void AppendFrame(std::uint32_t word, const std::string& payload) {
    const std::string hash = chain_key_.empty()
                                 ? Sha256Of(prev_ + payload)
                                 : HmacOf(chain_key_, prev_ + payload);
    std::string crc_input;
    Le(crc_input, word, 4);
    crc_input += payload + hash;
    Le(seg_, word, 4);
    Le(seg_, internal::Crc32c(crc_input.data(), crc_input.size()), 4);
    seg_ += payload + hash;
    prev_ = hash;
  }

  void Seal() {
    std::sort(entries_.begin(), entries_.end());
    constexpr std::size_t kBlock = 2048;
    const std::size_t blocks = (entries_.size() + kBlock - 1) / kBlock;
    std::string index = "CNSIDX02";
    Le(index, number_, 8);
    Le(index, first_sequence_, 8);
    Le(index, records_, 8);
    Le(index, static_cast<std::uint64_t>(min_time_), 8);
    Le(index, static_cast<std::uint64_t>(max_time_), 8);
    Le(index, seg_.size() + 96, 8);  // the sealed segment's size
    Le(index, entries_.size(), 8);
    Le(index, kBlock, 4);
    Le(index, blocks, 4);
    std::string body;
    for (const auto& [key, offset] : entries_) {
      Le(body, key, 8);
      Le(body, offset, 8);
    }
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::string block = body.substr(b * kBlock * 16, kBlock * 16);
      index += block.substr(0, 8) + Sha256Of(block);
    }
    const std::string root = Sha256Of(index);
    index += body;
    std::string seal = "CNSSEAL3";
    Le(seal, records_, 8);
    Le(seal, sequence_, 8);
    seal += root;
    AppendFrame(0x80000000u | static_cast<std::uint32_t>(seal.size()), seal);
    files_[FileName(number_, "seg")] = seg_;
    files_[FileName(number_, "idx")] = index;
  }

  const std::string key_;
  const std::uint64_t segment_bytes_;
  std::uint64_t number_ = 0;
  std::uint64_t sequence_ = 0;
  std::uint64_t first_sequence_ = 0;
  std::uint64_t records_ = 0;
  std::int64_t min_time_ = 0;
  std::int64_t max_time_ = 0;
  std::string prev_ = std::string(32, '\0');
  std::string chain_key_;
  std::string seg_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries_;
  std::map<std::string, std::string> files_;
};

// A fixed sequence of decisions: subjects repeating and not, of every
// length up to 40 bytes, accessors changing now and then, times not in
// order, optional fields present and absent.
std::vector<OwnedAuditEvent> FixedEvents(std::size_t n) {
  std::mt19937_64 rng(20261205);
  const std::vector<std::string> accessors = {"statistics-job", "billing", "",
                                              "care-team-7"};
  const std::vector<std::string> categories = {"measurement", "contact", ""};
  const std::vector<Reason> reasons = {
      Reason::kAllowedConsent, Reason::kNoConsent, Reason::kNotAllowedByPolicy};
  std::vector<OwnedAuditEvent> out;
  std::size_t accessor = 0;
  for (std::size_t i = 0; i < n; ++i) {
    OwnedAuditEvent e;
    e.time_unix_nanos = 1'790'000'000'000'000'000 +
                        static_cast<std::int64_t>(rng() % 1'000'000'000) -
                        500'000'000;
    if (i % 997 == 5) e.time_unix_nanos = 0;
    if (rng() % 50 == 0) accessor = rng() % accessors.size();
    e.accessor = accessors[accessor];
    const std::size_t len = rng() % 41;
    e.subject = rng() % 4 == 0
                    ? std::string(len, static_cast<char>('a' + len % 26))
                    : absl::StrCat("m", rng() % 500);
    e.category = categories[rng() % categories.size()];
    e.purpose = rng() % 2 ? "statistics.measurement" : "care";
    e.policy_version = "2026-11-01";
    e.reason = reasons[rng() % reasons.size()];
    e.revision = static_cast<Revision>(rng() % 5000) - 100;
    e.shadow = rng() % 9 == 0;
    if (rng() % 3 == 0) e.record_ref = absl::StrCat("row-", rng() % 100000);
    if (rng() % 11 == 0) e.request_id = absl::StrCat("req-", i);
    out.push_back(std::move(e));
  }
  return out;
}

v1::AuditEvent ToProto(const OwnedAuditEvent& e) {
  v1::AuditEvent m;
  m.set_time_unix_nanos(e.time_unix_nanos);
  m.set_action(static_cast<v1::AuditAction>(e.action));
  m.set_accessor(e.accessor);
  m.set_subject(e.subject);
  m.set_category(e.category);
  m.set_purpose(e.purpose);
  m.set_allowed(e.allowed());
  m.set_reason(static_cast<v1::Reason>(e.reason));
  m.set_record_ref(e.record_ref);
  m.set_consent_revision(e.revision);
  m.set_policy_version(e.policy_version);
  m.set_shadow(e.shadow);
  m.set_request_id(e.request_id);
  return m;
}

std::map<std::string, std::string> LogFiles(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    const std::string ext = f.path().extension().string();
    if (ext != ".seg" && ext != ".idx") continue;
    std::ifstream in(f.path(), std::ios::binary);
    files[f.path().filename().string()] =
        std::string(std::istreambuf_iterator<char>(in), {});
  }
  return files;
}

constexpr std::uint64_t kSegmentBytes = 256 << 10;  // ~1,700 events

AuditLogOptions BytesLogOptions(const std::string& dir,
                                const std::string& key) {
  AuditLogOptions o;
  o.directory = dir;
  o.segment_bytes = kSegmentBytes;
  o.seal_on_close = true;
  o.hmac_key = key;
  o.max_batch_events = 700;  // batches end mid-segment and cross seals
  return o;
}

// Every segment and index file in `dir` is the model's, byte for byte.
void ExpectModelsFiles(const std::string& dir, ModelLog& model) {
  const std::map<std::string, std::string> want = model.Close();
  const std::map<std::string, std::string> got = LogFiles(dir);
  ASSERT_GE(want.size(), 8u);  // several segments, each with its index
  std::vector<std::string> want_names, got_names;
  for (const auto& [name, bytes] : want) want_names.push_back(name);
  for (const auto& [name, bytes] : got) got_names.push_back(name);
  ASSERT_EQ(got_names, want_names);
  for (const auto& [name, bytes] : want) {
    const std::string& written = got.at(name);
    EXPECT_EQ(written.size(), bytes.size()) << name;
    const auto diff = std::mismatch(written.begin(), written.end(),
                                    bytes.begin(), bytes.end());
    EXPECT_TRUE(diff.first == written.end() && diff.second == bytes.end())
        << name << " differs first at byte " << (diff.first - written.begin());
  }
}

void ExpectBytesOfTheFormat(const std::string& key) {
  testing::ScopedTempDir dir("audit_bytes");
  const std::vector<OwnedAuditEvent> events = FixedEvents(9000);
  auto log = AuditLog::Open(BytesLogOptions(dir.path(), key));
  ASSERT_OK(log);
  ModelLog model(key, kSegmentBytes);
  for (const OwnedAuditEvent& e : events) {
    ASSERT_OK((*log)->Record(AuditEvent::From(e)));
    model.Add(ToProto(e));
  }
  ASSERT_OK((*log)->Close());
  ExpectModelsFiles(dir.path(), model);
}

TEST(AuditLogBytesTest, UnkeyedSegmentsAndIndexesAreTheFormatsBytes) {
  ExpectBytesOfTheFormat("");
}

TEST(AuditLogBytesTest, KeyedSegmentsAndIndexesAreTheFormatsBytes) {
  ExpectBytesOfTheFormat("a chain key of some thirty-odd bytes!");
}

// The Guard's compact read records are expanded on the writer's thread,
// which indexes each by the decision's own keys rather than scanning them
// back from its encoding: their files must be the format's bytes as well.
TEST(AuditLogBytesTest, CompactReadRecordsGiveTheFormatsBytes) {
  testing::ScopedTempDir dir("audit_bytes");
  const std::shared_ptr<const CompiledPolicy> policy = testing::DefaultPolicy();
  ASSERT_NE(policy, nullptr);
  const CompiledPolicy& p = *policy;
  auto log = AuditLog::Open(BytesLogOptions(dir.path(), ""));
  ASSERT_OK(log);
  const std::uint32_t slot =
      internal::AuditLogFastPath::AttachPolicy(**log, policy);
  ModelLog model("", kSegmentBytes);
  std::mt19937_64 rng(11);
  for (std::size_t k = 0; k < 9000; ++k) {
    internal::CompactDecision d;
    d.time_unix_nanos = 1'790'000'000'000'000'000 +
                        static_cast<std::int64_t>(rng() % 1'000'000'000);
    d.revision = static_cast<Revision>(rng() % 5000) - 100;
    d.policy_slot = slot;
    d.accessor = static_cast<AccessorIndex>(
        rng() % static_cast<std::size_t>(p.accessor_count()));
    d.purpose = static_cast<PurposeIndex>(
        rng() % static_cast<std::size_t>(p.purpose_count()));
    d.category = static_cast<CategoryIndex>(
        rng() % static_cast<std::size_t>(p.category_count()));
    d.reason = rng() % 3 == 0 ? Reason::kNoConsent : Reason::kAllowedConsent;
    d.shadow = rng() % 7 == 0;
    const std::string subject = rng() % 4 == 0 ? std::string(rng() % 41, 'q')
                                               : absl::StrCat("m", rng() % 500);
    const std::string ref =
        rng() % 3 == 0 ? absl::StrCat("row-", rng() % 100000) : "";
    d.subject = subject;
    d.record_ref = ref;
    ASSERT_OK(internal::AuditLogFastPath::Record(**log, d));
    OwnedAuditEvent e;
    e.time_unix_nanos = d.time_unix_nanos;
    e.action = AuditAction::kRead;
    e.accessor = std::string(p.accessor_id(d.accessor));
    e.subject = subject;
    e.category = std::string(p.category_id(d.category));
    e.purpose = std::string(p.purpose_id(d.purpose));
    e.policy_version = std::string(p.version());
    e.record_ref = ref;
    e.reason = d.reason;
    e.revision = d.revision;
    e.shadow = d.shadow;
    model.Add(ToProto(e));
  }
  ASSERT_OK((*log)->Close());
  ExpectModelsFiles(dir.path(), model);
}

}  // namespace
}  // namespace consentry
