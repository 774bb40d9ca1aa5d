// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Retention of the access log: the retention record (its text and
// signatures) and `ApplyAuditRetention` (consentry/audit_retention.h; the
// design: docs/design/audit-log-format.md, "Retention").

#include "consentry/audit_retention.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "src/audit/audit_format.h"
#include "src/audit/audit_retention_walk.h"
#include "src/util/file_io.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

constexpr absl::string_view kMagic = "consentry-audit-retention/1";
// A record is a few hundred bytes.
constexpr std::size_t kMaxRecordBytes = 64 << 10;

std::string PathOf(absl::string_view dir, absl::string_view name) {
  return absl::StrCat(dir, "/", name);
}

std::string HexOrDash(const std::string& bytes) {
  return bytes.empty() ? "-" : absl::BytesToHexString(bytes);
}

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

// Every line but the record's signature.
std::string Unsigned(const AuditRetentionRecord& r) {
  const AuditCheckpoint& c = r.cut;
  std::string removed_times =
      r.has_removed_events ? absl::StrCat(r.removed_min_time_unix_nanos, " ",
                                          r.removed_max_time_unix_nanos)
                           : "none";
  return absl::StrCat(
      kMagic, "\ncut_segment ", c.segment, "\ncut_sequence_end ",
      c.sequence_end, "\ncut_last_hash ", absl::BytesToHexString(c.last_hash),
      "\ncut_time_unix_nanos ", c.time_unix_nanos, "\nkey_id ",
      c.key_id.empty() ? "-" : c.key_id, "\ncut_signature ",
      HexOrDash(c.signature), "\nremoved_first_segment ",
      r.removed_first_segment, "\nremoved_first_sequence ",
      r.removed_first_sequence, "\nremoved_times ", removed_times,
      "\ncutoff_unix_nanos ", r.cutoff_unix_nanos, "\n");
}

// "name value" with exactly the expected name.
bool Field(absl::string_view line, absl::string_view name,
           absl::string_view* value) {
  if (line.size() <= name.size() + 1 || line.substr(0, name.size()) != name ||
      line[name.size()] != ' ') {
    return false;
  }
  *value = line.substr(name.size() + 1);
  return true;
}

template <typename Int>
absl::Status IntField(absl::string_view line, absl::string_view name,
                      Int* out) {
  absl::string_view v;
  if (!Field(line, name, &v) || !absl::SimpleAtoi(v, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("retention record: bad or missing '", name, "'"));
  }
  return absl::OkStatus();
}

absl::Status HexField(absl::string_view line, absl::string_view name,
                      std::size_t bytes, bool optional, std::string* out) {
  absl::string_view v;
  if (Field(line, name, &v)) {
    if (optional && v == "-") {
      out->clear();
      return absl::OkStatus();
    }
    bool hex = v.size() == 2 * bytes;
    for (char ch : v) {
      hex = hex && ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'));
    }
    if (hex) {
      *out = absl::HexStringToBytes(v);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("retention record: bad or missing '", name, "'"));
}

absl::Status TimesField(absl::string_view line, AuditRetentionRecord* r) {
  absl::string_view v;
  if (Field(line, "removed_times", &v)) {
    if (v == "none") {
      r->has_removed_events = false;
      return absl::OkStatus();
    }
    const std::vector<absl::string_view> p = absl::StrSplit(v, ' ');
    if (p.size() == 2 &&
        absl::SimpleAtoi(p[0], &r->removed_min_time_unix_nanos) &&
        absl::SimpleAtoi(p[1], &r->removed_max_time_unix_nanos) &&
        r->removed_min_time_unix_nanos <= r->removed_max_time_unix_nanos) {
      r->has_removed_events = true;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      "retention record: bad or missing 'removed_times'");
}

}  // namespace

AuditCoverage AuditRetentionRecord::Coverage() const {
  AuditCoverage c;
  c.retained = true;
  c.removed_first_segment = removed_first_segment;
  c.removed_last_segment = cut.segment;
  c.removed_first_sequence = removed_first_sequence;
  c.removed_sequence_end = cut.sequence_end;
  if (has_removed_events) {
    c.removed_min_time = absl::FromUnixNanos(removed_min_time_unix_nanos);
    c.removed_max_time = absl::FromUnixNanos(removed_max_time_unix_nanos);
    c.complete_from = c.removed_max_time + absl::Nanoseconds(1);
  }
  return c;
}

std::string AuditCoverage::ToString() const {
  if (!retained) return "complete: no segment was removed";
  const std::string what = absl::StrCat(
      "segments ", removed_first_segment, "-", removed_last_segment,
      removed_sequence_end > removed_first_sequence
          ? absl::StrCat(", sequences ", removed_first_sequence, "-",
                         removed_sequence_end - 1)
          : std::string());
  if (complete_from == absl::InfinitePast()) {
    return absl::StrCat(what,
                        " (no events) were removed under the "
                        "retention policy");
  }
  return absl::StrCat("events before ", TimeText(complete_from),
                      " were removed under the retention policy (", what,
                      ", events from ", TimeText(removed_min_time), " to ",
                      TimeText(removed_max_time), ")");
}

std::string AuditRetentionSigningBytes(const AuditRetentionRecord& record) {
  return Unsigned(record);
}

std::string SerializeAuditRetentionRecord(const AuditRetentionRecord& record) {
  return absl::StrCat(Unsigned(record), "signature ",
                      HexOrDash(record.signature), "\n");
}

absl::StatusOr<AuditRetentionRecord> ParseAuditRetentionRecord(
    absl::string_view text) {
  if (text.empty() || text.back() != '\n') {
    return absl::InvalidArgumentError(
        "retention record: empty, or its last line is cut short");
  }
  text.remove_suffix(1);
  const std::vector<absl::string_view> l = absl::StrSplit(text, '\n');
  if (l.size() != 12 || l[0] != kMagic) {
    return absl::InvalidArgumentError(absl::StrCat(
        "retention record: expected '", kMagic, "' and 11 fields"));
  }
  AuditRetentionRecord r;
  AuditCheckpoint& c = r.cut;
  RETURN_IF_ERROR(IntField(l[1], "cut_segment", &c.segment));
  RETURN_IF_ERROR(IntField(l[2], "cut_sequence_end", &c.sequence_end));
  RETURN_IF_ERROR(HexField(l[3], "cut_last_hash", 32, false, &c.last_hash));
  RETURN_IF_ERROR(IntField(l[4], "cut_time_unix_nanos", &c.time_unix_nanos));
  absl::string_view key_id;
  if (!Field(l[5], "key_id", &key_id)) {
    return absl::InvalidArgumentError("retention record: missing 'key_id'");
  }
  c.key_id = key_id == "-" ? "" : std::string(key_id);
  RETURN_IF_ERROR(HexField(l[6], "cut_signature", 64, true, &c.signature));
  RETURN_IF_ERROR(
      IntField(l[7], "removed_first_segment", &r.removed_first_segment));
  RETURN_IF_ERROR(
      IntField(l[8], "removed_first_sequence", &r.removed_first_sequence));
  RETURN_IF_ERROR(TimesField(l[9], &r));
  RETURN_IF_ERROR(IntField(l[10], "cutoff_unix_nanos", &r.cutoff_unix_nanos));
  RETURN_IF_ERROR(HexField(l[11], "signature", 64, true, &r.signature));
  if (c.key_id.empty() != c.signature.empty() ||
      c.key_id.empty() != r.signature.empty()) {
    return absl::InvalidArgumentError(
        "retention record: a key id needs both signatures, and signatures a "
        "key id");
  }
  if (c.segment == ~std::uint64_t{0}) {
    return absl::InvalidArgumentError(
        "retention record: no segment can follow the cut");
  }
  if (r.removed_first_segment > c.segment ||
      r.removed_first_sequence > c.sequence_end) {
    return absl::InvalidArgumentError(
        "retention record: the removed range starts after the cut");
  }
  // One spelling per record: leading zeros, signs or upper-case hex differ.
  if (absl::StrCat(SerializeAuditRetentionRecord(r)) !=
      absl::StrCat(text, "\n")) {
    return absl::InvalidArgumentError(
        "retention record: not in canonical form");
  }
  return r;
}

absl::Status VerifyAuditRetentionRecord(const AuditRetentionRecord& record,
                                        PublicKeyLookup& keys) {
  if (!record.is_signed()) {
    return absl::InvalidArgumentError(
        "retention record: not signed, but keys were given to check it (an "
        "unsigned record could replace a signed one)");
  }
  RETURN_IF_ERROR(VerifyAuditCheckpoint(record.cut, keys));
  absl::Status s =
      VerifyEd25519(keys, record.cut.key_id, AuditRetentionSigningBytes(record),
                    record.signature);
  if (s.ok()) return s;
  return absl::Status(s.code(),
                      absl::StrCat("retention record: ", s.message()));
}

namespace internal {

absl::StatusOr<bool> ReadRetentionRecordIfAny(const std::string& dir,
                                              AuditRetentionRecord* out) {
  const std::string path = PathOf(dir, kRetentionRecordFile);
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus(errno, "audit log: cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audit log: retention record '", path, "' is not a regular file"));
  }
  absl::StatusOr<std::string> text = ReadRegularFile(path, kMaxRecordBytes);
  if (absl::IsNotFound(text.status())) return false;  // removed meanwhile
  if (absl::IsResourceExhausted(text.status())) {
    return absl::DataLossError(
        absl::StrCat("audit log: retention record '", path, "' is too large"));
  }
  RETURN_IF_ERROR(text.status());
  absl::StatusOr<AuditRetentionRecord> r = ParseAuditRetentionRecord(*text);
  if (!r.ok()) {
    return absl::DataLossError(
        absl::StrCat("audit log: '", path, "': ", r.status().message()));
  }
  *out = *std::move(r);
  return true;
}

}  // namespace internal

absl::StatusOr<AuditRetentionRecord> ReadAuditRetentionRecord(
    absl::string_view directory) {
  AuditRetentionRecord r;
  ASSIGN_OR_RETURN(const bool found, internal::ReadRetentionRecordIfAny(
                                         std::string(directory), &r));
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("audit log '", directory, "' has no retention record"));
  }
  return r;
}

namespace {

absl::Status Prefixed(const absl::Status& s) {
  if (s.ok()) return s;
  return absl::Status(s.code(),
                      absl::StrCat("ApplyAuditRetention: ", s.message()));
}

// Checks the archive directory: an existing, writable directory (not a
// symlink) other than the log's.
absl::Status CheckArchiveDirectory(const std::string& log,
                                   const std::string& archive) {
  struct stat a, l;
  if (lstat(archive.c_str(), &a) != 0) {
    return internal::ErrnoStatus(errno, "cannot use the archive directory",
                                 archive);
  }
  if (S_ISLNK(a.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the archive directory '", archive,
                     "' is a symbolic link: give the directory it names"));
  }
  if (!S_ISDIR(a.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the archive path '", archive, "' is not a directory"));
  }
  if (stat(log.c_str(), &l) == 0 && l.st_dev == a.st_dev &&
      l.st_ino == a.st_ino) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the archive directory '", archive, "' is the log directory"));
  }
  // Directly inside the log directory it would be a foreign entry there.
  struct stat parent;
  if (stat(PathOf(archive, "..").c_str(), &parent) == 0 &&
      parent.st_dev == l.st_dev && parent.st_ino == l.st_ino) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the archive directory '", archive, "' is inside the log directory"));
  }
  // Whether a file can be made there: what the copies will do (access(2)
  // would say yes to root on a directory that refuses files). The probe's
  // name is one verification ignores, should a crash leave it.
  const std::string probe = PathOf(
      archive,
      absl::StrCat(internal::kRetentionRecordFile, ".tmp-0000000000000000"));
  const int fd =
      open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
           0600);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST) return absl::OkStatus();  // a crashed probe: writable
    return internal::ErrnoStatus(err == ENOENT ? EACCES : err,
                                 "cannot write to the archive directory",
                                 archive);
  }
  close(fd);
  unlink(probe.c_str());
  return absl::OkStatus();
}

// The retention runs' lock: an exclusive flock on the lock file, held while
// the returned descriptor is open.
absl::StatusOr<int> LockRetention(const std::string& dir, absl::Duration wait) {
  const std::string path = PathOf(dir, internal::kRetentionLockFile);
  const int fd =
      open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
           0600);
  if (fd < 0) return internal::ErrnoStatus(errno, "cannot open", path);
  absl::StatusOr<bool> taken =
      internal::FlockWithin(fd, wait, "cannot lock", path);
  if (taken.ok() && *taken) return fd;
  close(fd);
  if (!taken.ok()) return taken.status();
  return absl::FailedPreconditionError(absl::StrCat(
      "another retention run holds the log '", dir, "' (", path, ")"));
}

// Copies `name` from the log to the archive, durably (synced file, synced
// directory). A copy already there with the same bytes (a crashed run's)
// is kept; one with other bytes is never overwritten.
absl::Status CopyToArchive(internal::FileSystem& fs, const std::string& dir,
                           const std::string& archive,
                           const std::string& name) {
  const std::string from = PathOf(dir, name);
  const std::string to = PathOf(archive, name);
  ASSIGN_OR_RETURN(std::string data,
                   internal::ReadRegularFile(from, internal::kNoSizeLimit));
  struct stat st;
  if (lstat(to.c_str(), &st) == 0) {
    absl::StatusOr<std::string> there =
        S_ISREG(st.st_mode)
            ? internal::ReadRegularFile(to, internal::kNoSizeLimit)
            : absl::StatusOr<std::string>(
                  absl::InvalidArgumentError("not a regular file"));
    if (there.ok() && *there == data) return fs.SyncDir(archive);
    return absl::FailedPreconditionError(
        absl::StrCat("the archive already holds '", to,
                     "' with other content: nothing was removed"));
  }
  return internal::WriteFileAtomically(fs, to, data);
}

// Removes the segment `number` (its index first: an index never outlives
// its segment).
absl::Status RemoveSegment(internal::FileSystem& fs, const std::string& dir,
                           std::uint64_t number) {
  absl::Status s = fs.Remove(PathOf(dir, internal::IndexFileName(number)));
  if (!s.ok() && !absl::IsNotFound(s)) return s;
  s = fs.Remove(PathOf(dir, internal::SegmentFileName(number)));
  if (!s.ok() && !absl::IsNotFound(s)) return s;
  return absl::OkStatus();
}

std::uint64_t FileBytes(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

// The record after removing `removed` (in order, non-empty), following
// `previous` (if `had_previous`).
absl::StatusOr<AuditRetentionRecord> NextRecord(
    bool had_previous, const AuditRetentionRecord& previous,
    const std::vector<internal::RetainedSegment>& removed, absl::Time now,
    std::int64_t cutoff, SigningKeyProvider* keys) {
  AuditRetentionRecord r;
  if (had_previous) r = previous;
  if (!had_previous) {
    r.removed_first_segment = removed.front().number;
    r.removed_first_sequence = removed.front().first_sequence;
  }
  for (const internal::RetainedSegment& s : removed) {
    if (s.records == 0) continue;
    if (!r.has_removed_events || s.min_time < r.removed_min_time_unix_nanos) {
      r.removed_min_time_unix_nanos = s.min_time;
    }
    if (!r.has_removed_events || s.max_time > r.removed_max_time_unix_nanos) {
      r.removed_max_time_unix_nanos = s.max_time;
    }
    r.has_removed_events = true;
  }
  r.cutoff_unix_nanos =
      std::max(had_previous ? previous.cutoff_unix_nanos : cutoff, cutoff);
  const internal::RetainedSegment& last = removed.back();
  r.cut = AuditCheckpoint{};
  r.cut.segment = last.number;
  r.cut.sequence_end = last.next_sequence;
  r.cut.last_hash.assign(reinterpret_cast<const char*>(last.hash_after.data()),
                         last.hash_after.size());
  r.cut.time_unix_nanos = absl::ToUnixNanos(now);
  r.signature.clear();
  if (keys != nullptr) {
    ASSIGN_OR_RETURN(r.cut.key_id, keys->CurrentKeyId());
    ASSIGN_OR_RETURN(
        r.cut.signature,
        keys->Sign(r.cut.key_id, AuditCheckpointSigningBytes(r.cut)));
    ASSIGN_OR_RETURN(r.signature,
                     keys->Sign(r.cut.key_id, AuditRetentionSigningBytes(r)));
  }
  return r;
}

absl::Status CheckOptions(const std::string& dir,
                          const AuditRetentionOptions& o) {
  if (o.max_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the retention period is negative (",
                     absl::FormatDuration(o.max_age), ")"));
  }
  if (o.archive_directory.empty() == !o.delete_segments) {
    return absl::InvalidArgumentError(
        o.delete_segments
            ? "give an archive directory or delete_segments, not both"
            : "give an archive directory, or delete_segments to delete old "
              "segments");
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat("no log directory '", dir, "'"));
  }
  if (!o.archive_directory.empty()) {
    RETURN_IF_ERROR(CheckArchiveDirectory(dir, o.archive_directory));
  }
  return absl::OkStatus();
}

// Moves (copies, then removes) or deletes `removed`; `result` says what.
absl::Status Remove(const std::string& dir, const AuditRetentionOptions& o,
                    const std::vector<internal::RetainedSegment>& removed,
                    bool had_previous, const AuditRetentionRecord& previous,
                    AuditRetentionResult* result) {
  internal::FileSystem& fs = *internal::FileSystem::Default();
  const std::string& archive = o.archive_directory;
  if (!archive.empty()) {
    // An archive that does not begin at segment 0 begins at the previous
    // cut: it gets that record, so that it verifies on its own.
    if (had_previous &&
        FileBytes(PathOf(
            archive, internal::SegmentFileName(previous.cut.segment))) == 0 &&
        FileBytes(PathOf(archive, internal::kRetentionRecordFile)) == 0) {
      RETURN_IF_ERROR(internal::WriteFileAtomically(
          fs, PathOf(archive, internal::kRetentionRecordFile),
          SerializeAuditRetentionRecord(previous)));
    }
    for (const internal::RetainedSegment& s : removed) {
      RETURN_IF_ERROR(
          CopyToArchive(fs, dir, archive, internal::SegmentFileName(s.number)));
      if (FileBytes(PathOf(dir, internal::IndexFileName(s.number))) > 0) {
        RETURN_IF_ERROR(
            CopyToArchive(fs, dir, archive, internal::IndexFileName(s.number)));
      }
    }
  }
  // The cut is kept before anything goes.
  ASSIGN_OR_RETURN(
      result->record,
      NextRecord(had_previous, previous, removed,
                 o.now == absl::InfinitePast() ? absl::Now() : o.now,
                 absl::ToUnixNanos(result->cutoff), o.checkpoint_keys));
  RETURN_IF_ERROR(internal::WriteFileAtomically(
      fs, PathOf(dir, internal::kRetentionRecordFile),
      SerializeAuditRetentionRecord(result->record)));
  result->has_record = true;
  for (const internal::RetainedSegment& s : removed) {
    RETURN_IF_ERROR(RemoveSegment(fs, dir, s.number));
  }
  return fs.SyncDir(dir);
}

}  // namespace

absl::StatusOr<AuditRetentionResult> ApplyAuditRetention(
    absl::string_view directory, const AuditRetentionOptions& options) {
  const std::string dir(directory);
  RETURN_IF_ERROR(Prefixed(CheckOptions(dir, options)));
  AuditRetentionResult result;
  result.dry_run = options.dry_run;
  result.archived = !options.archive_directory.empty();
  const absl::Time now =
      options.now == absl::InfinitePast() ? absl::Now() : options.now;
  result.cutoff = options.max_age == absl::InfiniteDuration()
                      ? absl::InfinitePast()
                      : now - options.max_age;
  int lock_fd = -1;
  if (!options.dry_run) {
    absl::StatusOr<int> locked = LockRetention(dir, options.lock_wait);
    if (!locked.ok()) return Prefixed(locked.status());
    lock_fd = *locked;
  }
  struct Unlock {
    int fd;
    ~Unlock() {
      if (fd >= 0) close(fd);
    }
  } unlock{lock_fd};
  AuditRetentionRecord previous;
  ASSIGN_OR_RETURN(const bool had_previous,
                   internal::ReadRetentionRecordIfAny(dir, &previous));
  if (had_previous && previous.is_signed() &&
      options.checkpoint_keys == nullptr) {
    // Never replace a signed cut by an unsigned one.
    return absl::FailedPreconditionError(absl::StrCat(
        "ApplyAuditRetention: the retention record of '", dir,
        "' is signed by key '", previous.cut.key_id,
        "': give checkpoint_keys to check it and sign the next one"));
  }
  std::vector<internal::RetainedSegment> removable;
  ASSIGN_OR_RETURN(
      AuditVerifyReport report,
      internal::WalkForRetention(
          dir, internal::ChainKeys{options.hmac_key, options.hmac_keys},
          options.checkpoint_keys, absl::ToUnixNanos(result.cutoff),
          &removable));
  if (!report.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "ApplyAuditRetention: the log '", dir,
        "' does not verify where segments would be removed; nothing was "
        "removed: ",
        report.ToString()));
  }
  result.has_record = had_previous;
  result.record = previous;
  for (const internal::RetainedSegment& s : removable) {
    AuditRetentionResult::Segment& out = result.removed.emplace_back();
    out.number = s.number;
    out.first_sequence = s.first_sequence;
    out.records = s.records;
    out.min_time_unix_nanos = s.min_time;
    out.max_time_unix_nanos = s.max_time;
    out.bytes = FileBytes(PathOf(dir, internal::SegmentFileName(s.number))) +
                FileBytes(PathOf(dir, internal::IndexFileName(s.number)));
    result.bytes += out.bytes;
  }
  if (options.dry_run) return result;
  // Segments at or before the previous cut that an interrupted run left.
  if (had_previous) {
    ASSIGN_OR_RETURN(std::vector<std::uint64_t> all,
                     internal::ListSegments(dir));
    internal::FileSystem& fs = *internal::FileSystem::Default();
    for (const std::uint64_t n : all) {
      if (n > previous.cut.segment) break;
      RETURN_IF_ERROR(Prefixed(RemoveSegment(fs, dir, n)));
      ++result.leftovers_removed;
    }
  }
  if (removable.empty()) return result;
  RETURN_IF_ERROR(Prefixed(
      Remove(dir, options, removable, had_previous, previous, &result)));
  return result;
}

std::string AuditRetentionResult::ToString() const {
  const std::string verb = dry_run ? (archived ? "would move" : "would delete")
                                   : (archived ? "moved" : "deleted");
  std::string out;
  if (removed.empty()) {
    out = absl::StrCat(
        "nothing is due: no sealed segment before the last has "
        "all its events before ",
        cutoff == absl::InfinitePast() ? std::string("-inf")
                                       : TimeText(cutoff));
  } else {
    out = absl::StrCat(
        verb, " ", removed.size(), " segments (", bytes,
        " bytes): ", internal::SegmentFileName(removed.front().number), " to ",
        internal::SegmentFileName(removed.back().number));
  }
  if (leftovers_removed > 0) {
    absl::StrAppend(&out, "; removed ", leftovers_removed,
                    " segments an interrupted run left");
  }
  if (has_record && !dry_run) {
    absl::StrAppend(&out, "; ", record.Coverage().ToString(),
                    record.is_signed() ? absl::StrCat(" (record signed by ",
                                                      record.cut.key_id, ")")
                                       : std::string(" (record unsigned)"));
  }
  return out;
}

}  // namespace consentry
