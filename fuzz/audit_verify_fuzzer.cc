// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// `VerifyAuditLog` and `AuditLogReader` on a tampered log. Once per process
// the fuzzer writes a small valid log (three or more sealed segments and
// their indexes), chained under HMAC keys with ids and rotated from key
// "k-one" to "k-two" part way; each input is a list of edits applied to a
// copy of it in a per-process directory (under /dev/shm when there is
// one): flip a byte, truncate a file, delete, duplicate or swap frames,
// forge a frame with a recomputed CRC, rewrite an index with a valid CRC
// (no records, a subject's entries dropped, another segment's index),
// rewrite a segment header's key ids with a recomputed CRC, delete, copy
// or add files (with fuzzed names).
//
// Properties:
//  - verification never fails with an error: a defect is a report, except
//    for a header naming an HMAC key the lookup does not know (kNotFound
//    naming the id; kInvalidArgument for the key without id);
//  - a log reported sound has every segment header as written: a key id
//    rewritten to another known key (or any header change) is found;
//  - when it reports the log sound, every query returns exactly the events
//    written, in order (a prefix of them: removing trailing records or
//    segments is not visible without an anchor, see audit_log.h);
//  - whatever it reports, a query for a subject or accessor never returns
//    an event of another one, nor one outside the asked time range;
//  - when the edits left every segment file as written (only indexes or
//    other files changed), every query returns exactly the events written:
//    an index, or a block of one, that is not the sealed one is never used.

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "consentry/audit_keys.h"
#include "consentry/audit_log.h"
#include "fuzz/fuzz_support.h"
#include "fuzzer/FuzzedDataProvider.h"
#include "src/audit/audit_format.h"

namespace {

namespace fs = std::filesystem;
using namespace consentry;  // NOLINT

constexpr std::int64_t kT0 = 1'790'000'000'000'000'000;
constexpr int kEvents = 75;

// Two keys by id; the current one is set while the base log is written.
class FuzzKeys final : public HmacKeyProvider {
 public:
  absl::StatusOr<std::string> Key(absl::string_view id) override {
    if (id == "k-one") return std::string(32, '\x11');
    if (id == "k-two") return std::string(32, '\x22');
    return absl::NotFoundError(absl::StrCat("no HMAC key '", id, "'"));
  }
  absl::StatusOr<HmacKey> CurrentKey() override {
    absl::StatusOr<std::string> secret = Key(current);
    if (!secret.ok()) return secret.status();
    return HmacKey{current, *std::move(secret)};
  }
  std::string current = "k-one";
};

FuzzKeys& Keys() {
  static FuzzKeys* keys = new FuzzKeys;
  return *keys;
}

struct Base {
  std::string dir;                           // scratch, per process
  std::map<std::string, std::string> files;  // the valid log
  std::vector<OwnedAuditEvent> events;       // what it holds, in order
  std::vector<std::string> names;            // of `files`
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

void RemoveScratch(Base* base) {
  std::error_code ec;
  if (!base->dir.empty()) fs::remove_all(base->dir, ec);
}

AuditVerifyOptions VerifyOptions() {
  AuditVerifyOptions o;
  o.hmac_keys = &Keys();
  return o;
}

Base* MakeBase() {
  auto* base = new Base;
  const std::string root =
      fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path();
  std::string tmpl = root + "/consentry_audit_fuzz_XXXXXX";
  CONSENTRY_FUZZ_CHECK(mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
  base->dir = tmpl;
  static Base* for_exit = base;
  atexit([] { RemoveScratch(for_exit); });
  AuditLogOptions options;
  options.directory = base->dir + "/log";
  options.segment_bytes = 4096;
  options.seal_on_close = true;  // every segment sealed, with its index
  options.hmac_keys = &Keys();
  auto log = AuditLog::Open(options);
  CONSENTRY_FUZZ_CHECK(log.ok(), log.status().ToString());
  for (int i = 0; i < kEvents; ++i) {
    if (i == 40) {
      Keys().current = "k-two";
      CONSENTRY_FUZZ_CHECK((*log)->RotateKeys().ok(), "RotateKeys failed");
    }
    const std::string subject = absl::StrCat("s-", i % 5);
    const std::string accessor = absl::StrCat("a-", i % 3);
    const std::string ref = absl::StrCat("r-", i);
    AuditEvent e;
    e.time_unix_nanos = kT0 + std::int64_t{i} * 1'000'000'000;
    e.accessor = accessor;
    e.subject = subject;
    e.category = "measurement";
    e.purpose = "statistics.measurement";
    e.policy_version = "2026-11-01";
    e.record_ref = ref;
    e.reason = i % 4 == 0 ? Reason::kNoConsent : Reason::kAllowedConsent;
    e.revision = i;
    CONSENTRY_FUZZ_CHECK((*log)->Record(e).ok(), "Record failed");
  }
  CONSENTRY_FUZZ_CHECK((*log)->Close().ok(), "Close failed");
  for (const auto& entry : fs::directory_iterator(options.directory)) {
    const std::string name = entry.path().filename().string();
    base->files[name] = ReadAll(entry.path().string());
    base->names.push_back(name);
  }
  std::sort(base->names.begin(), base->names.end());
  auto reader = AuditLogReader::Open(options.directory);
  CONSENTRY_FUZZ_CHECK(reader.ok(), "reader");
  auto events =
      (*reader)->InTimeRange(absl::InfinitePast(), absl::InfiniteFuture());
  CONSENTRY_FUZZ_CHECK(events.ok() && events->size() == kEvents,
                       "the base log does not read back");
  base->events = *std::move(events);
  auto report = VerifyAuditLog(options.directory, VerifyOptions());
  CONSENTRY_FUZZ_CHECK(report.ok() && report->ok() && report->segments >= 3,
                       "the base log does not verify in 3+ segments");
  fs::remove_all(options.directory);
  return base;
}

// Frame boundaries of a segment's bytes (after the header).
std::vector<std::pair<std::size_t, std::size_t>> FrameSpans(
    const std::string& data) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::uint64_t off = internal::FirstFrameOffset(data);
  internal::FrameView f;
  while (true) {
    const std::uint64_t at = off;
    if (internal::ReadFrame(data, &off, &f) != internal::FrameStatus::kOk) {
      break;
    }
    out.emplace_back(at, off - at);
  }
  return out;
}

bool SameEvent(const OwnedAuditEvent& a, const OwnedAuditEvent& b) {
  return a.sequence == b.sequence && a.time_unix_nanos == b.time_unix_nanos &&
         a.subject == b.subject && a.accessor == b.accessor &&
         a.record_ref == b.record_ref && a.reason == b.reason &&
         a.revision == b.revision && a.purpose == b.purpose &&
         a.category == b.category && a.policy_version == b.policy_version;
}

void ApplyEdit(FuzzedDataProvider& in,
               std::map<std::string, std::string>& files) {
  if (files.empty()) return;
  std::vector<std::string> names;
  for (const auto& [name, data] : files) names.push_back(name);
  const std::string name =
      names[in.ConsumeIntegralInRange<std::size_t>(0, names.size() - 1)];
  std::string& data = files[name];
  const bool segment =
      name.size() > 4 && name.substr(name.size() - 4) == ".seg";
  switch (in.ConsumeIntegralInRange(0, 10)) {
    case 10: {  // rewrite a segment header's key ids, CRC recomputed
      internal::SegmentHeader h;
      if (!segment || internal::DecodeSegmentHeader(data, &h) !=
                          internal::HeaderProblem::kNone) {
        break;
      }
      const std::size_t old_size = h.size;
      const std::string ids[] = {"k-one", "k-two", "k-zz", ""};
      if (in.ConsumeBool()) {
        h.hmac_key_id = ids[in.ConsumeIntegralInRange(0, 3)];
      } else {
        h.signing_key_id = in.ConsumeRandomLengthString(20);
      }
      if (h.signing_key_id.size() > 255) break;
      data = internal::EncodeSegmentHeader(h) + data.substr(old_size);
      break;
    }
    case 0: {  // flip bits of a byte
      if (data.empty()) break;
      const auto at =
          in.ConsumeIntegralInRange<std::size_t>(0, data.size() - 1);
      data[at] =
          static_cast<char>(data[at] ^ in.ConsumeIntegralInRange(1, 255));
      break;
    }
    case 1:  // truncate
      data.resize(in.ConsumeIntegralInRange<std::size_t>(0, data.size()));
      break;
    case 2:
    case 3:
    case 4: {  // delete, duplicate or swap frames; forge one
      if (!segment) break;
      auto spans = FrameSpans(data);
      if (spans.size() < 2) break;
      const auto j =
          in.ConsumeIntegralInRange<std::size_t>(0, spans.size() - 2);
      const auto [a, alen] = spans[j];
      const auto [b, blen] = spans[j + 1];
      const std::string fa = data.substr(a, alen), fb = data.substr(b, blen);
      const int op = in.ConsumeIntegralInRange(0, 3);
      if (op == 0) {
        data.erase(a, alen);
      } else if (op == 1) {
        data.insert(a, fa);
      } else if (op == 2) {
        data.replace(a, alen + blen, fb + fa);
      } else {
        // Edit a payload byte and recompute the CRC, as a forger would.
        std::string f = fa;
        const std::uint32_t word = internal::GetU32(f.data());
        const std::uint32_t len = word & ~internal::kSealBit;
        if (len == 0) break;
        const auto k = in.ConsumeIntegralInRange<std::size_t>(0, len - 1);
        f[8 + k] =
            static_cast<char>(f[8 + k] ^ in.ConsumeIntegralInRange(1, 255));
        const auto* hash =
            reinterpret_cast<const unsigned char*>(f.data() + 8 + len);
        internal::PutU32(f.data() + 4,
                         internal::FrameCrc(
                             word, absl::string_view(f.data() + 8, len), hash));
        data.replace(a, alen, f);
      }
      break;
    }
    case 5: {  // rewrite an index, with a valid CRC
      internal::SegmentIndex index;
      if (!internal::SegmentIndex::Decode(data, &index)) break;
      const int op = in.ConsumeIntegralInRange(0, 4);
      if (op == 0) index.records = 0;
      if (op == 1) {
        const std::uint64_t h = internal::IndexKeyHash(
            internal::kKeySubject,
            absl::StrCat("s-", in.ConsumeIntegralInRange(0, 4)));
        std::erase_if(index.entries,
                      [&](const auto& e) { return e.first == h; });
      }
      if (op == 2) index.segment_number ^= 1;
      if (op == 3 && !index.entries.empty()) {
        index
            .entries[in.ConsumeIntegralInRange<std::size_t>(
                0, index.entries.size() - 1)]
            .second = in.ConsumeIntegral<std::uint16_t>();
      }
      // op 4: the same index, in the version before the blocked one.
      data = op == 4 ? index.EncodeV1() : index.Encode();
      break;
    }
    case 6:  // delete a file
      files.erase(name);
      break;
    case 7: {  // copy a file over another, or under a new name
      const std::string to = in.ConsumeBool()
                                 ? names[in.ConsumeIntegralInRange<std::size_t>(
                                       0, names.size() - 1)]
                                 : in.ConsumeRandomLengthString(40);
      if (to.empty() || to == "." || to == ".." ||
          to.find('/') != std::string::npos ||
          to.find('\0') != std::string::npos) {
        break;
      }
      const std::string copy = data;
      files[to] = copy;
      break;
    }
    case 8: {  // a file with a fuzzed name and content
      const std::string to = in.ConsumeRandomLengthString(40);
      if (to.empty() || to == "." || to == ".." ||
          to.find('/') != std::string::npos ||
          to.find('\0') != std::string::npos) {
        break;
      }
      files[to] = in.ConsumeRandomLengthString(256);
      break;
    }
    default: {  // append fuzzed bytes
      data += in.ConsumeRandomLengthString(64);
      break;
    }
  }
}

// Whether `files` has exactly the segment files of `base`, unchanged (by
// the strict names a reader reads as segments).
bool SegmentsIntact(const std::map<std::string, std::string>& base,
                    const std::map<std::string, std::string>& files) {
  auto segments = [](const std::map<std::string, std::string>& m) {
    std::map<std::string, std::string> out;
    for (const auto& [name, data] : m) {
      std::uint64_t n = 0;
      if (name.size() == 26 && name.substr(0, 6) == "audit-" &&
          name.substr(22) == ".seg" &&
          absl::SimpleAtoi(name.substr(6, 16), &n) &&
          internal::SegmentFileName(n) == name) {
        out[name] = data;
      }
    }
    return out;
  };
  return segments(base) == segments(files);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  consentry::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes,
                                      std::size_t size) {
  static Base* base = MakeBase();
  FuzzedDataProvider in(bytes, size);
  std::map<std::string, std::string> files = base->files;
  const int edits = in.ConsumeIntegralInRange(0, 4);
  for (int i = 0; i < edits && in.remaining_bytes() > 0; ++i) {
    ApplyEdit(in, files);
  }
  const std::string dir = base->dir + "/log";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directory(dir);
  for (const auto& [name, data] : files) WriteAll(dir + "/" + name, data);

  absl::StatusOr<AuditVerifyReport> report =
      VerifyAuditLog(dir, VerifyOptions());
  if ((absl::IsNotFound(report.status()) &&
       absl::StrContains(report.status().message(), "HMAC key 'k-zz'")) ||
      (absl::IsInvalidArgument(report.status()) &&
       absl::StrContains(report.status().message(), "HMAC key without id"))) {
    // A header names a key the lookup does not know: the verifier cannot
    // check it, and says so (never a verdict).
    return 0;
  }
  CONSENTRY_FUZZ_CHECK(report.ok(), report.status().ToString());
  if (report->ok()) {
    for (const auto& [name, data] : files) {
      auto it = base->files.find(name);
      if (name.size() < 4 || name.substr(name.size() - 4) != ".seg" ||
          it == base->files.end()) {
        continue;
      }
      const std::size_t n = internal::FirstFrameOffset(it->second);
      CONSENTRY_FUZZ_CHECK(
          data.substr(0, n) == it->second.substr(0, n),
          absl::StrCat("a sound log has an altered header in ", name));
    }
  }
  auto reader = AuditLogReader::Open(dir);
  CONSENTRY_FUZZ_CHECK(reader.ok(), reader.status().ToString());

  auto all =
      (*reader)->InTimeRange(absl::InfinitePast(), absl::InfiniteFuture());
  if (report->ok()) {
    CONSENTRY_FUZZ_CHECK(all.ok(), all.status().ToString());
    CONSENTRY_FUZZ_CHECK(
        all->size() <= base->events.size() &&
            all->size() == report->records_verified,
        absl::StrCat("a sound log reads ", all->size(), " events, verified ",
                     report->records_verified));
    for (std::size_t i = 0; i < all->size(); ++i) {
      CONSENTRY_FUZZ_CHECK(SameEvent((*all)[i], base->events[i]),
                           absl::StrCat("a sound log reads another event ", i));
    }
  }
  // Per-key and time-range queries.
  const bool segments_intact = SegmentsIntact(base->files, files);
  const bool exact = report->ok() || segments_intact;
  if (segments_intact) {
    CONSENTRY_FUZZ_CHECK(all.ok() && all->size() == base->events.size(),
                         "intact segments do not read back whole");
  }
  const std::size_t known = segments_intact
                                ? base->events.size()
                                : (report->ok() && all.ok() ? all->size() : 0);
  for (int k = 0; k < 5; ++k) {
    const std::string subject = absl::StrCat("s-", k);
    auto mine = (*reader)->ForSubject(subject);
    if (exact) CONSENTRY_FUZZ_CHECK(mine.ok(), mine.status().ToString());
    if (!mine.ok()) continue;
    for (const auto& e : *mine) {
      CONSENTRY_FUZZ_CHECK(e.subject == subject, "another subject's event");
    }
    if (exact) {
      std::size_t expected = 0;
      for (std::size_t i = 0; i < known; ++i) {
        expected += base->events[i].subject == subject;
      }
      CONSENTRY_FUZZ_CHECK(
          mine->size() == expected,
          absl::StrCat("a sound log misses events of ", subject));
    }
  }
  for (int k = 0; k < 3; ++k) {
    const std::string accessor = absl::StrCat("a-", k);
    auto theirs = (*reader)->ForAccessor(accessor);
    if (exact) CONSENTRY_FUZZ_CHECK(theirs.ok(), theirs.status().ToString());
    if (!theirs.ok()) continue;
    for (const auto& e : *theirs) {
      CONSENTRY_FUZZ_CHECK(e.accessor == accessor, "another accessor's event");
    }
    if (exact) {
      std::size_t expected = 0;
      for (std::size_t i = 0; i < known; ++i) {
        expected += base->events[i].accessor == accessor;
      }
      CONSENTRY_FUZZ_CHECK(theirs->size() == expected,
                           "a sound log misses an accessor's events");
    }
  }
  const absl::Time from = absl::FromUnixNanos(kT0) + absl::Seconds(20);
  const absl::Time to = from + absl::Seconds(30);
  auto window = (*reader)->InTimeRange(from, to);
  if (exact) CONSENTRY_FUZZ_CHECK(window.ok(), window.status().ToString());
  if (window.ok()) {
    for (const auto& e : *window) {
      const absl::Time t = absl::FromUnixNanos(e.time_unix_nanos);
      CONSENTRY_FUZZ_CHECK(t >= from && t < to, "an event outside the range");
    }
    if (exact) {
      std::size_t expected = 0;
      for (std::size_t i = 0; i < known; ++i) {
        const absl::Time t =
            absl::FromUnixNanos(base->events[i].time_unix_nanos);
        expected += t >= from && t < to;
      }
      CONSENTRY_FUZZ_CHECK(window->size() == expected,
                           "a sound log misses events in a range");
    }
  }
  return 0;
}
