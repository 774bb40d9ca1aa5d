// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Verification, repair and queries of the audit log's segment files.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consentry/audit_log.h"
#include "consentry/audit_retention.h"
#include "src/audit/audit_format.h"
#include "src/audit/audit_retention_walk.h"
#include "src/util/file_io.h"
#include "src/util/status_macros.h"

namespace consentry {

using internal::ChainHasher;
using internal::EventKeys;
using internal::FrameStatus;
using internal::FrameView;
using internal::Hash256;
using internal::SealRecord;
using internal::SegmentHeader;
using internal::SegmentIndex;

absl::string_view AuditDefectName(AuditDefect d) {
  switch (d) {
    case AuditDefect::kNone:
      return "none";
    case AuditDefect::kEdited:
      return "edited";
    case AuditDefect::kDeleted:
      return "deleted";
    case AuditDefect::kInserted:
      return "inserted";
    case AuditDefect::kReordered:
      return "reordered";
    case AuditDefect::kTruncated:
      return "truncated";
    case AuditDefect::kTornTail:
      return "torn_tail";
    case AuditDefect::kBrokenSegmentLink:
      return "broken_segment_link";
    case AuditDefect::kCrcMismatch:
      return "crc_mismatch";
    case AuditDefect::kMalformed:
      return "malformed";
    case AuditDefect::kIndexMismatch:
      return "index_mismatch";
    case AuditDefect::kUnexpectedFile:
      return "unexpected_file";
    case AuditDefect::kTrailingDeletion:
      return "trailing_deletion";
    case AuditDefect::kAnchorMismatch:
      return "anchor_mismatch";
    case AuditDefect::kBadRetentionRecord:
      return "bad_retention_record";
  }
  return "unknown";
}

std::string AuditVerifyReport::ToString() const {
  std::string retention;
  if (coverage.retained) {
    retention = absl::StrCat(
        "; verified from segment ", verified_from_segment, " (sequence ",
        verified_from_sequence, ") at the retention record's ",
        retention_signed ? "signed checkpoint"
                         : "checkpoint, UNAUTHENTICATED (unsigned, or no "
                           "keys given to check it: a rewrite of the record "
                           "with more segments removed cannot be detected)",
        "; ", coverage.ToString());
    if (retention_leftovers > 0) {
      absl::StrAppend(&retention, "; ", retention_leftovers,
                      " segments at or before the cut await removal (an "
                      "interrupted retention run): run retention again");
    }
  }
  if (ok()) {
    return absl::StrCat(
        "ok: ", records_verified, " records in ", segments, " segments",
        anchored ? ", anchored by a signed checkpoint"
                 : " (no checkpoint given: records removed from the end "
                   "cannot be detected)",
        retention);
  }
  return absl::StrCat(AuditDefectName(defect), " at ", segment_file, " record ",
                      record_index, " offset ", byte_offset, ": ", detail, " (",
                      records_verified, " records verified before it)",
                      retention);
}

namespace {

std::string PathOf(absl::string_view dir, const std::string& name) {
  return absl::StrCat(dir, "/", name);
}

// Walks one segment's frames from `offset`, looking for the frame whose
// sequence is `sequence`.
bool SequenceLaterInSegment(absl::string_view data, std::uint64_t offset,
                            std::uint64_t sequence) {
  FrameView f;
  while (internal::ReadFrame(data, &offset, &f) == FrameStatus::kOk) {
    EventKeys k;
    if (f.crc_ok && internal::ScanEventKeys(f.payload, &k) &&
        k.sequence == sequence) {
      return true;
    }
  }
  return false;
}

// Reads the index file at `path`: a regular file, never through a
// symlink (kInvalidArgument naming it otherwise); NotFound when absent.
absl::StatusOr<std::string> ReadIndexFile(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    return internal::AuditError(
        internal::ErrnoStatus(errno, "cannot stat", path));
  }
  if (S_ISLNK(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audit log: '", path, "' is a symbolic link, not an index file"));
  }
  return internal::AuditError(
      internal::ReadRegularFile(path, internal::kNoSizeLimit));
}

// Where index `bytes` first differs from `expected`, for an operator: the
// header, the block table (the root the seal binds), a block, or the size.
std::string DescribeIndexDifference(absl::string_view bytes,
                                    absl::string_view expected) {
  internal::IndexHeader h;
  if (!internal::DecodeIndexHeader(expected, &h)) {
    return "it differs from the rebuilt index";  // a version 1 index
  }
  std::size_t at = 0;
  while (at < bytes.size() && at < expected.size() &&
         bytes[at] == expected[at]) {
    ++at;
  }
  if (at == bytes.size() || at == expected.size()) {
    return absl::StrCat("it has ", bytes.size(), " bytes, expected ",
                        expected.size());
  }
  if (at < internal::kIndexHeaderSize) {
    return absl::StrCat("its header differs at byte ", at);
  }
  if (at < h.TableEnd()) {
    return absl::StrCat("its block table differs at byte ", at);
  }
  return absl::StrCat(
      "block ",
      (at - h.TableEnd()) / (h.block_entries * internal::kIndexEntrySize),
      " differs at byte ", at);
}

class Verifier {
 public:
  Verifier(std::string dir, internal::ChainKeys keys,
           const AuditVerifyOptions& o)
      : dir_(std::move(dir)),
        keys_(keys),
        anchor_(o.anchor),
        retention_keys_(o.retention_keys),
        prefix_of_(o.prefix_of) {}

  // Retention's walk (`WalkForRetention`): stop before the last segment
  // and before the first with an event at or after `cutoff`.
  void WalkForRetention(std::int64_t cutoff,
                        std::vector<internal::RetainedSegment>* out) {
    cutoff_ = cutoff;
    walk_ = out;
  }

  absl::StatusOr<AuditVerifyReport> Run() {
    ASSIGN_OR_RETURN(internal::AuditDirListing listing,
                     internal::ListAuditDir(dir_));
    indexes_ = listing.indexes;
    std::uint64_t first = 0;  // the segment the walk starts at
    RETURN_IF_ERROR(StartFromRecord(listing, &first));
    if (!report_.ok()) return report_;
    Point();  // the start: the empty log's, or the record's cut
    std::vector<std::uint64_t> segments;
    for (const std::uint64_t n : listing.segments) {
      if (n >= first) segments.push_back(n);
    }
    report_.retention_leftovers = listing.segments.size() - segments.size();
    if (segments.empty() && has_record_) {
      Defect(AuditDefect::kBrokenSegmentLink,
             PathOf(dir_, internal::SegmentFileName(first)), 0, 0,
             absl::StrCat("no segment follows the retention record's cut: ",
                          internal::SegmentFileName(first), " is missing"));
      return report_;
    }
    for (std::size_t i = 0; i < segments.size(); ++i) {
      const std::uint64_t number = segments[i];
      const std::string path = PathOf(dir_, internal::SegmentFileName(number));
      const bool last = i + 1 == segments.size();
      if (walk_ != nullptr && last) return report_;
      ++report_.segments;
      if (number != first + i) {
        Defect(
            AuditDefect::kBrokenSegmentLink, path, 0, 0,
            absl::StrCat("segment ", first + i, " (",
                         internal::SegmentFileName(first + i), ") is missing"));
        return report_;
      }
      absl::StatusOr<std::string> data = internal::AuditError(
          internal::ReadRegularFile(path, internal::kNoSizeLimit));
      if (absl::IsInvalidArgument(data.status())) {
        Defect(AuditDefect::kMalformed, path, 0, 0,
               std::string(data.status().message()));
        return report_;
      }
      RETURN_IF_ERROR(data.status());
      RETURN_IF_ERROR(Segment(number, path, *data, last));
      if (!report_.ok()) return report_;
      if (walk_ != nullptr && !Walked(number)) return report_;
    }
    if (!TrailingFilesOk(listing, segments, first)) return report_;
    report_.sequence_end = sequence_;
    report_.last_hash.assign(reinterpret_cast<const char*>(hash_.data()),
                             hash_.size());
    report_.last_segment = segments.empty() ? 0 : segments.back();
    const std::string last_path =
        segments.empty()
            ? std::string(dir_)
            : PathOf(dir_, internal::SegmentFileName(segments.back()));
    ConcludeAnchor(last_path);
    if (report_.ok()) ConcludePrefix(last_path, segments);
    return report_;
  }

 private:
  // Reads the retention record, if any, and starts the chain at its cut
  // (`*first` the segment after it). A record that does not parse or whose
  // signature fails is a defect; a signed one without keys an error.
  absl::Status StartFromRecord(const internal::AuditDirListing& listing,
                               std::uint64_t* first) {
    if (!listing.retention_record) return absl::OkStatus();
    const std::string path =
        PathOf(dir_, std::string(internal::kRetentionRecordFile));
    absl::StatusOr<bool> found =
        internal::ReadRetentionRecordIfAny(dir_, &record_);
    if (!found.ok() && (absl::IsDataLoss(found.status()) ||
                        absl::IsInvalidArgument(found.status()))) {
      Defect(AuditDefect::kBadRetentionRecord, path, 0, 0,
             std::string(found.status().message()));
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(found.status());
    if (!*found) return absl::OkStatus();  // removed meanwhile
    if (retention_keys_ != nullptr) {
      absl::Status s = VerifyAuditRetentionRecord(record_, *retention_keys_);
      if (!s.ok()) {
        Defect(AuditDefect::kBadRetentionRecord, path, 0, 0,
               absl::StrCat("the retention record does not verify: ",
                            s.message()));
        return absl::OkStatus();
      }
      report_.retention_signed = true;
    }
    if (record_.cut.last_hash.size() != hash_.size()) {
      Defect(AuditDefect::kBadRetentionRecord, path, 0, 0,
             "the retention record's hash is not 32 bytes");
      return absl::OkStatus();
    }
    has_record_ = true;
    std::memcpy(hash_.data(), record_.cut.last_hash.data(), hash_.size());
    sequence_ = record_.cut.sequence_end;
    *first = record_.cut.segment + 1;
    report_.verified_from_segment = *first;
    report_.verified_from_sequence = sequence_;
    report_.coverage = record_.Coverage();
    return absl::OkStatus();
  }

  // Files that are not part of the log: an index without its segment
  // (other than one at or before the retention cut, which an interrupted
  // run may leave), or any other name. Never read; reported.
  bool TrailingFilesOk(const internal::AuditDirListing& listing,
                       const std::vector<std::uint64_t>& segments,
                       std::uint64_t first) {
    for (const std::uint64_t n : listing.indexes) {
      if (n >= first &&
          !std::binary_search(segments.begin(), segments.end(), n)) {
        Defect(AuditDefect::kUnexpectedFile,
               PathOf(dir_, internal::IndexFileName(n)), 0, 0,
               "an index file without its segment");
        return false;
      }
    }
    if (!listing.unexpected.empty()) {
      Defect(AuditDefect::kUnexpectedFile,
             PathOf(dir_, listing.unexpected.front()), 0, 0,
             absl::StrCat("not a file of the audit log (",
                          listing.unexpected.size(),
                          " unexpected entries in the directory)"));
      return false;
    }
    return true;
  }

  // Retention's walk: records segment `number`, just verified; false when
  // it holds an event at or after the cutoff (it stays, and the walk stops).
  bool Walked(std::uint64_t number) {
    if (built_.records > 0 && built_.max_time >= cutoff_) return false;
    internal::RetainedSegment s;
    s.number = number;
    s.first_sequence = built_.first_sequence;
    s.next_sequence = sequence_;
    s.records = built_.records;
    s.min_time = built_.min_time;
    s.max_time = built_.max_time;
    s.hash_after = hash_;
    walk_->push_back(s);
    return true;
  }

  // For an archive: whether the walk ended exactly at the log's cut.
  void ConcludePrefix(const std::string& last_path,
                      const std::vector<std::uint64_t>& segments) {
    if (prefix_of_ == nullptr) return;
    const AuditCheckpoint& cut = prefix_of_->cut;
    const bool at_cut =
        sequence_ == cut.sequence_end && !segments.empty() &&
        segments.back() == cut.segment &&
        cut.last_hash.size() == hash_.size() &&
        std::memcmp(cut.last_hash.data(), hash_.data(), hash_.size()) == 0;
    if (at_cut) {
      report_.anchored = true;
      return;
    }
    if (sequence_ < cut.sequence_end ||
        (segments.empty() ? 0 : segments.back()) < cut.segment) {
      Defect(AuditDefect::kTrailingDeletion, last_path, 0, 0,
             absl::StrCat("the archive ends at sequence ", sequence_,
                          " but the log was cut after segment ", cut.segment,
                          " at sequence ", cut.sequence_end,
                          ": segments are missing from the archive"));
    } else {
      Defect(
          AuditDefect::kAnchorMismatch, last_path, 0, 0,
          absl::StrCat("the archive's chain at its end (sequence ", sequence_,
                       ") is not the log's retention cut (", "segment ",
                       cut.segment, ", sequence ", cut.sequence_end, ")"));
    }
  }

  void Defect(AuditDefect d, const std::string& path, std::uint64_t index,
              std::uint64_t offset, std::string detail) {
    report_.defect = d;
    report_.segment_file = path;
    report_.record_index = index;
    report_.byte_offset = offset;
    report_.detail = std::move(detail);
  }

  // A point of the chain: the hash after the record before `sequence_`.
  // Matches the checkpoint when both its sequence and hash do.
  void Point() {
    if (anchor_ != nullptr && !report_.anchored &&
        sequence_ == anchor_->sequence_end &&
        anchor_->last_hash.size() == hash_.size() &&
        std::memcmp(anchor_->last_hash.data(), hash_.data(), hash_.size()) ==
            0) {
      report_.anchored = true;
    }
  }

  // After a walk without defect: whether the log reached the checkpoint.
  void ConcludeAnchor(const std::string& last_path) {
    if (anchor_ == nullptr || report_.anchored) return;
    if (has_record_ && anchor_->sequence_end < record_.cut.sequence_end) {
      // Not a rewrite: the point was removed under retention. The check
      // asked for cannot be made here, so it is not passed.
      Defect(
          AuditDefect::kAnchorMismatch, last_path, 0, 0,
          absl::StrCat("the checkpoint given (sequence ", anchor_->sequence_end,
                       ") is before the retention cut (sequence ",
                       record_.cut.sequence_end,
                       "): give a later checkpoint, or check it against "
                       "the archive"));
      return;
    }
    if (sequence_ <= anchor_->sequence_end) {
      Defect(
          AuditDefect::kTrailingDeletion, last_path, 0, 0,
          absl::StrCat("the log ends at sequence ", sequence_,
                       " but the checkpoint signed by ", anchor_->key_id,
                       " covers records up to sequence ", anchor_->sequence_end,
                       ": records were removed from the end"));
    } else {
      Defect(AuditDefect::kAnchorMismatch, last_path, 0, 0,
             absl::StrCat("the chain at sequence ", anchor_->sequence_end,
                          " is not the one the checkpoint signed by ",
                          anchor_->key_id, " covers: the log was rewritten"));
    }
  }

  bool HasIndexFile(std::uint64_t number) const {
    return std::binary_search(indexes_.begin(), indexes_.end(), number);
  }

  // The seal frame `f` at record `index` (offset `at`) of segment `number`;
  // `end` is the offset after it. Checks the seal against the segment and
  // the index file against the seal.
  absl::Status Seal(std::uint64_t number, const std::string& path,
                    absl::string_view data, std::uint64_t index,
                    std::uint64_t at, std::uint64_t end, const FrameView& f) {
    SealRecord seal;
    if (!internal::DecodeSealPayload(f.payload, &seal)) {
      Defect(AuditDefect::kMalformed, path, index, at,
             "the CRC matches but the seal record is malformed");
      return absl::OkStatus();
    }
    Hash256 h;
    if (!hasher_->Next(hash_.data(), f.payload, h.data())) {
      return absl::InternalError("VerifyAuditLog: libcrypto failed");
    }
    if (std::memcmp(h.data(), f.hash, 32) != 0) {
      Defect(AuditDefect::kEdited, path, index, at,
             "the seal record's hash does not match its content");
      return absl::OkStatus();
    }
    if (end != data.size()) {
      Defect(AuditDefect::kInserted, path, index + 1, end,
             "records follow the segment's seal record");
      return absl::OkStatus();
    }
    if (seal.records != built_.records || seal.next_sequence != sequence_) {
      Defect(seal.records > built_.records ? AuditDefect::kDeleted
                                           : AuditDefect::kEdited,
             path, index, at,
             absl::StrCat("the seal record counts ", seal.records,
                          " records up to sequence ", seal.next_sequence,
                          "; the segment holds ", built_.records,
                          " up to sequence ", sequence_));
      return absl::OkStatus();
    }
    built_.file_size = data.size();
    // The index these records make, in the version the seal names.
    const std::string rebuilt = built_.EncodeForSeal(seal.version);
    Hash256 digest;
    std::uint32_t version = 0;
    if (!internal::IndexSealDigest(rebuilt, &digest, &version)) {
      return absl::InternalError("VerifyAuditLog: libcrypto failed");
    }
    if (version != seal.version || digest != seal.index_digest) {
      Defect(AuditDefect::kEdited, path, index, at,
             "the seal record's index digest does not match the segment's "
             "records");
      return absl::OkStatus();
    }
    hash_ = h;
    sealed_ = true;
    Point();
    if (!HasIndexFile(number)) return absl::OkStatus();  // queries scan
    return IndexFile(number, path, rebuilt);
  }

  // Compares the index file of sealed segment `number` (at `path`) byte for
  // byte with `rebuilt`, the index its seal names.
  absl::Status IndexFile(std::uint64_t number, const std::string& path,
                         const std::string& rebuilt) {
    const std::string idx = PathOf(dir_, internal::IndexFileName(number));
    absl::StatusOr<std::string> bytes = ReadIndexFile(idx);
    if (absl::IsNotFound(bytes.status())) return absl::OkStatus();
    if (!bytes.ok() && !absl::IsInvalidArgument(bytes.status())) {
      return bytes.status();
    }
    if (!bytes.ok()) {
      Defect(AuditDefect::kIndexMismatch, idx, 0, 0,
             std::string(bytes.status().message()));
      return absl::OkStatus();
    }
    if (*bytes != rebuilt) {
      Defect(AuditDefect::kIndexMismatch, idx, 0, 0,
             absl::StrCat("the index is not the one sealed in '", path,
                          "' (edited or swapped): ",
                          DescribeIndexDifference(*bytes, rebuilt)));
      return absl::OkStatus();
    }
    ++report_.indexes_verified;
    return absl::OkStatus();
  }

  absl::Status Segment(std::uint64_t number, const std::string& path,
                       absl::string_view data, bool last) {
    built_ = SegmentIndex{};
    built_.segment_number = number;
    built_.first_sequence = sequence_;
    sealed_ = false;
    bool header_ok = false;
    RETURN_IF_ERROR(Header(path, data, last, &header_ok));
    if (!header_ok) return absl::OkStatus();
    std::uint64_t offset = header_size_;
    for (std::uint64_t index = 0;; ++index) {
      const std::uint64_t at = offset;
      FrameView f;
      const FrameStatus st = internal::ReadFrame(data, &offset, &f);
      if (st == FrameStatus::kEnd) {
        if (!sealed_) Unsealed(number, path, index, at, last);
        return absl::OkStatus();
      }
      if (!FrameIntact(st, f, path, data, index, at, last)) {
        return absl::OkStatus();
      }
      if (f.seal) {
        RETURN_IF_ERROR(Seal(number, path, data, index, at, offset, f));
        if (!report_.ok()) return absl::OkStatus();
        continue;
      }
      bool chained = false;
      RETURN_IF_ERROR(Event(path, data, index, at, offset, f, &chained));
      if (!chained) return absl::OkStatus();
    }
  }

  // Checks the segment header; `*ok` false after a defect is reported.
  absl::Status Header(const std::string& path, absl::string_view data,
                      bool last, bool* ok) {
    *ok = false;
    SegmentHeader header;
    switch (internal::DecodeSegmentHeader(data, &header)) {
      case internal::HeaderProblem::kNone:
        break;
      case internal::HeaderProblem::kShort:
        Defect(last ? AuditDefect::kTornTail : AuditDefect::kTruncated, path, 0,
               0,
               absl::StrCat("segment header is cut short: the file has ",
                            data.size(), " bytes"));
        return absl::OkStatus();
      case internal::HeaderProblem::kMagic:
        Defect(AuditDefect::kMalformed, path, 0, 0,
               "not a segment file: bad magic");
        return absl::OkStatus();
      case internal::HeaderProblem::kCrc:
        Defect(AuditDefect::kCrcMismatch, path, 0, 0,
               "segment header CRC-32C does not match");
        return absl::OkStatus();
      case internal::HeaderProblem::kVersion:
        Defect(AuditDefect::kMalformed, path, 0, 0,
               absl::StrCat("unknown format version ", header.version));
        return absl::OkStatus();
      case internal::HeaderProblem::kMalformed:
        Defect(AuditDefect::kMalformed, path, 0, 0,
               "the CRC matches but the header's key ids are not valid ids");
        return absl::OkStatus();
    }
    // The key the header names (an unknown id is an error naming it).
    ASSIGN_OR_RETURN(hasher_, internal::SegmentHasher(header, data, keys_, path,
                                                      "VerifyAuditLog"));
    header_size_ = header.size;
    hmac_key_id_ = header.hmac_key_id;
    if (header.prev_hash != hash_) {
      Defect(AuditDefect::kBrokenSegmentLink, path, 0, 0,
             "the header's previous hash is not the previous segment's last "
             "hash");
      return absl::OkStatus();
    }
    if (header.first_sequence != sequence_) {
      Defect(AuditDefect::kBrokenSegmentLink, path, 0, 0,
             absl::StrCat("the header's first sequence is ",
                          header.first_sequence, ", expected ", sequence_));
      return absl::OkStatus();
    }
    *ok = true;
    return absl::OkStatus();
  }

  // The segment ended (at record `index`, offset `at`) without a seal.
  void Unsealed(std::uint64_t number, const std::string& path,
                std::uint64_t index, std::uint64_t at, bool last) {
    if (!last) {
      Defect(AuditDefect::kTruncated, path, index, at,
             "the segment is not sealed: its final records or its seal "
             "record are missing");
    } else if (HasIndexFile(number)) {
      Defect(AuditDefect::kIndexMismatch,
             PathOf(dir_, internal::IndexFileName(number)), 0, 0,
             absl::StrCat("an index for '", path, "', which is not sealed"));
    }
  }

  // Whether the frame read with status `st` is whole and passes its CRC;
  // else reports the defect.
  bool FrameIntact(FrameStatus st, const FrameView& f, const std::string& path,
                   absl::string_view data, std::uint64_t index,
                   std::uint64_t at, bool last) {
    if (st == FrameStatus::kIncomplete) {
      Defect(last ? AuditDefect::kTornTail : AuditDefect::kTruncated, path,
             index, at,
             absl::StrCat("the frame is cut short: ", data.size() - at,
                          " bytes left in the file"));
      return false;
    }
    if (st == FrameStatus::kBadLength) {
      Defect(
          AuditDefect::kCrcMismatch, path, index, at,
          absl::StrCat("the length field ", internal::GetU32(data.data() + at),
                       " exceeds the maximum record size"));
      return false;
    }
    if (!f.crc_ok) {
      Defect(AuditDefect::kCrcMismatch, path, index, at,
             "the frame's CRC-32C does not match its bytes");
      return false;
    }
    return true;
  }

  // The event frame `f` at record `index` (offset `at`; `next_offset` after
  // it): `*chained` when it is the next record of the chain, else the
  // defect is reported.
  absl::Status Event(const std::string& path, absl::string_view data,
                     std::uint64_t index, std::uint64_t at,
                     std::uint64_t next_offset, const FrameView& f,
                     bool* chained) {
    *chained = false;
    EventKeys keys;
    OwnedAuditEvent event;
    if (!internal::ScanEventKeys(f.payload, &keys) ||
        !internal::DecodeEvent(f.payload, &event)) {
      Defect(AuditDefect::kMalformed, path, index, at,
             "the CRC matches but the payload is not an AuditEvent "
             "(rewritten with a recomputed CRC)");
      return absl::OkStatus();
    }
    Hash256 h;
    if (!hasher_->Next(hash_.data(), f.payload, h.data())) {
      return absl::InternalError("VerifyAuditLog: libcrypto failed");
    }
    if (std::memcmp(h.data(), f.hash, 32) == 0 && keys.sequence == sequence_) {
      built_.Add(keys.time_unix_nanos, at, keys);
      hash_ = h;
      ++sequence_;
      ++report_.records_verified;
      Point();
      *chained = true;
      return absl::OkStatus();
    }
    Diagnose(path, data, index, at, next_offset, f, keys.sequence);
    return absl::OkStatus();
  }

  // Something is wrong with the event frame `f` (sequence `seq`): says what.
  void Diagnose(const std::string& path, absl::string_view data,
                std::uint64_t index, std::uint64_t at, std::uint64_t offset,
                const FrameView& f, std::uint64_t seq) {
    FrameView next;
    std::uint64_t next_offset = offset;
    const bool has_next =
        internal::ReadFrame(data, &next_offset, &next) == FrameStatus::kOk &&
        next.crc_ok;
    auto chains_from = [&](const unsigned char* prev, const FrameView& fr) {
      Hash256 x;
      return hasher_->Next(prev, fr.payload, x.data()) &&
             std::memcmp(x.data(), fr.hash, 32) == 0;
    };
    if (seq == sequence_) {
      if (has_next && !chains_from(f.hash, next) &&
          chains_from(hash_.data(), next)) {
        Defect(AuditDefect::kInserted, path, index, at,
               "a record not written by the log was inserted here; the next "
               "record chains past it");
      } else {
        Defect(AuditDefect::kEdited, path, index, at,
               absl::StrCat(
                   "record ", seq,
                   " was edited: its hash does not match its "
                   "content",
                   index == 0 && !hmac_key_id_.empty()
                       ? absl::StrCat(" (or the segment header was altered: "
                                      "it names HMAC key '",
                                      hmac_key_id_,
                                      "', and every record's hash binds the "
                                      "header)")
                       : ""));
      }
    } else if (seq > sequence_) {
      if (SequenceLaterInSegment(data, offset, sequence_)) {
        Defect(AuditDefect::kReordered, path, index, at,
               absl::StrCat("record ", seq, " stands where ", sequence_,
                            " belongs, which comes later"));
      } else {
        Defect(AuditDefect::kDeleted, path, index, at,
               absl::StrCat("records ", sequence_, " to ", seq - 1,
                            " are missing"));
      }
    } else if (has_next && chains_from(hash_.data(), next)) {
      Defect(AuditDefect::kInserted, path, index, at,
             absl::StrCat("a copy of record ", seq, " was inserted where ",
                          sequence_, " belongs"));
    } else {
      Defect(AuditDefect::kReordered, path, index, at,
             absl::StrCat("record ", seq, " stands where ", sequence_,
                          " belongs"));
    }
  }

  std::string dir_;
  const internal::ChainKeys keys_;
  std::unique_ptr<ChainHasher> hasher_;  // of the segment being walked
  std::size_t header_size_ = 0;          // its header's size
  std::string hmac_key_id_;              // the HMAC key id it names
  const AuditCheckpoint* anchor_;        // null: unanchored
  PublicKeyLookup* retention_keys_;
  const AuditRetentionRecord* prefix_of_;  // null: not an archive check
  AuditRetentionRecord record_;            // the log's own, if any
  bool has_record_ = false;
  std::vector<internal::RetainedSegment>* walk_ = nullptr;
  std::int64_t cutoff_ = 0;
  AuditVerifyReport report_;
  Hash256 hash_{};
  std::uint64_t sequence_ = 0;
  std::vector<std::uint64_t> indexes_;  // index files present
  SegmentIndex built_;                  // of the segment being walked
  bool sealed_ = false;                 // its seal record was seen
};

}  // namespace

absl::StatusOr<AuditVerifyReport> VerifyAuditLog(absl::string_view directory,
                                                 absl::string_view hmac_key) {
  AuditVerifyOptions options;
  options.hmac_key = std::string(hmac_key);
  return VerifyAuditLog(directory, options);
}

absl::StatusOr<AuditVerifyReport> VerifyAuditLog(
    absl::string_view directory, const AuditVerifyOptions& options) {
  if ((options.anchor == nullptr) != (options.anchor_keys == nullptr)) {
    return absl::InvalidArgumentError(
        "VerifyAuditLog: a checkpoint needs the keys to check it, and keys "
        "need a checkpoint");
  }
  if (options.anchor != nullptr) {
    // A checkpoint that does not verify is never used: it could have been
    // forged to match a shortened log.
    RETURN_IF_ERROR(
        VerifyAuditCheckpoint(*options.anchor, *options.anchor_keys));
  }
  if (options.prefix_of != nullptr && options.prefix_of->is_signed()) {
    if (options.retention_keys == nullptr) {
      return absl::InvalidArgumentError(
          "VerifyAuditLog: the retention record given as prefix_of is "
          "signed: give the keys that check it (retention_keys)");
    }
    RETURN_IF_ERROR(VerifyAuditRetentionRecord(*options.prefix_of,
                                               *options.retention_keys));
  }
  Verifier v{std::string(directory),
             internal::ChainKeys{options.hmac_key, options.hmac_keys}, options};
  return v.Run();
}

namespace internal {

absl::StatusOr<AuditVerifyReport> WalkForRetention(
    const std::string& dir, ChainKeys chain_keys, PublicKeyLookup* keys,
    std::int64_t cutoff, std::vector<RetainedSegment>* removable) {
  AuditVerifyOptions options;
  options.retention_keys = keys;
  Verifier v{dir, chain_keys, options};
  v.WalkForRetention(cutoff, removable);
  return v.Run();
}

}  // namespace internal

absl::StatusOr<AuditCheckpoint> CheckpointAuditLog(absl::string_view directory,
                                                   absl::string_view hmac_key,
                                                   SigningKeyProvider& keys) {
  AuditVerifyOptions options;
  options.hmac_key = std::string(hmac_key);
  return CheckpointAuditLog(directory, options, keys);
}

absl::StatusOr<AuditCheckpoint> CheckpointAuditLog(
    absl::string_view directory, const AuditVerifyOptions& options,
    SigningKeyProvider& keys) {
  ASSIGN_OR_RETURN(AuditVerifyReport report,
                   VerifyAuditLog(directory, options));
  if (!report.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no checkpoint of a damaged log: ", report.ToString()));
  }
  AuditCheckpoint c;
  c.sequence_end = report.sequence_end;
  c.last_hash = report.last_hash;
  c.segment = report.last_segment;
  c.time_unix_nanos = absl::GetCurrentTimeNanos();
  ASSIGN_OR_RETURN(c.key_id, keys.CurrentKeyId());
  ASSIGN_OR_RETURN(c.signature,
                   keys.Sign(c.key_id, AuditCheckpointSigningBytes(c)));
  return c;
}

absl::StatusOr<AuditVerifyReport> RepairAuditLog(absl::string_view directory,
                                                 absl::string_view hmac_key) {
  AuditVerifyOptions options;
  options.hmac_key = std::string(hmac_key);
  return RepairAuditLog(directory, options);
}

absl::StatusOr<AuditVerifyReport> RepairAuditLog(
    absl::string_view directory, const AuditVerifyOptions& options) {
  // A writer's last record may be half written right now: never trim a log
  // that has a writer. The lock is held until the repair is done.
  ASSIGN_OR_RETURN(
      const int lock_fd,
      internal::LockLogDirectory(std::string(directory), absl::ZeroDuration(),
                                 "RepairAuditLog trims only a log no one "
                                 "writes: close that writer first"));
  struct Unlock {
    int fd;
    ~Unlock() { close(fd); }
  } unlock{lock_fd};
  ASSIGN_OR_RETURN(AuditVerifyReport report,
                   VerifyAuditLog(directory, options));
  if (report.ok()) return report;
  if (report.defect != AuditDefect::kTornTail) {
    return absl::FailedPreconditionError(absl::StrCat(
        "RepairAuditLog: only a torn final record is repaired; found ",
        report.ToString()));
  }
  internal::FileSystem& fs = *internal::FileSystem::Default();
  const std::string dir(directory);
  const std::string& path = report.segment_file;
  // A stale index would point past the end; it goes first, so that a crash
  // in between leaves no index for a segment that is not sealed.
  const std::string idx = path.substr(0, path.size() - 4) + ".idx";
  absl::Status removed = fs.Remove(idx);
  if (!removed.ok() && !absl::IsNotFound(removed)) {
    return absl::Status(removed.code(),
                        absl::StrCat("RepairAuditLog: ", removed.message()));
  }
  absl::Status s;
  if (report.byte_offset < internal::kSegmentHeaderSize) {
    // The crash cut the header of a new, empty segment: drop the file.
    s = fs.Remove(path);
  } else {
    s = fs.Truncate(path, report.byte_offset);
  }
  if (s.ok()) s = fs.SyncDir(dir);
  if (!s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("RepairAuditLog: cannot trim '", path, "' to ",
                               report.byte_offset, ": ", s.message()));
  }
  return VerifyAuditLog(directory, options);
}

// ---------------------------------------------------------------------------
// AuditLogReader

enum class AuditLogReader::KeyKind : std::uint8_t {
  kSubject = internal::kKeySubject,
  kAccessor = internal::kKeyAccessor,
  kTime = 't',
};

absl::StatusOr<std::unique_ptr<AuditLogReader>> AuditLogReader::Open(
    absl::string_view directory) {
  struct stat st;
  const std::string dir(directory);
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat("AuditLogReader: no directory '", dir, "'"));
  }
  return std::unique_ptr<AuditLogReader>(new AuditLogReader(dir));
}

absl::StatusOr<std::vector<OwnedAuditEvent>> AuditLogReader::ForSubject(
    absl::string_view subject, absl::Time from, absl::Time to) {
  return Query(KeyKind::kSubject, subject, from, to);
}

absl::StatusOr<std::vector<OwnedAuditEvent>> AuditLogReader::ForAccessor(
    absl::string_view accessor, absl::Time from, absl::Time to) {
  return Query(KeyKind::kAccessor, accessor, from, to);
}

absl::StatusOr<std::vector<OwnedAuditEvent>> AuditLogReader::InTimeRange(
    absl::Time from, absl::Time to) {
  return Query(KeyKind::kTime, {}, from, to);
}

namespace {

// Reads `bytes` (`n` of them) at `offset` of `fd`; false on a short read.
bool ReadAt(int fd, char* bytes, std::size_t n, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r =
        pread(fd, bytes + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<std::size_t>(r);
  }
  return true;
}

// A sealed segment's index, checked against the segment's seal record.
// Trusted (`segment_fd` open) only when the seal names it: for a version 2
// index, its root (header and block table; each block is checked when it
// is read); for a version 1 index, the whole file.
struct TrustedIndex {
  bool had_index = false;  // an index file (or something by its name)
  int segment_fd = -1;     // the segment, open when the index is trusted
  int index_fd = -1;       // version 2: the index, open for its blocks
  bool whole = false;      // version 1: `entries` holds every entry
  internal::IndexHeader header;
  std::vector<internal::IndexBlockRef> table;                    // version 2
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;  // version 1

  TrustedIndex() = default;
  TrustedIndex(const TrustedIndex&) = delete;
  TrustedIndex& operator=(const TrustedIndex&) = delete;
  ~TrustedIndex() {
    if (segment_fd >= 0) close(segment_fd);
    if (index_fd >= 0) close(index_fd);
  }
  bool trusted() const { return segment_fd >= 0; }
};

// Reads a version 2 index's header and block table from `t->index_fd` (a
// regular file of `size` bytes); `*root` is their SHA-256. False when they
// are not a consistent header and table for segment `number`.
bool ReadIndexRoot(std::uint64_t number, std::uint64_t size, TrustedIndex* t,
                   Hash256* root, std::uint64_t* bytes_read) {
  std::string head(internal::kIndexHeaderSize, '\0');
  if (size < head.size() || !ReadAt(t->index_fd, head.data(), head.size(), 0) ||
      !internal::DecodeIndexHeader(head, &t->header) ||
      t->header.segment_number != number || t->header.IndexFileSize() != size) {
    return false;
  }
  // The file's size bounds the table: no allocation past what is there.
  std::string table(
      static_cast<std::size_t>(t->header.TableEnd() - head.size()), '\0');
  *bytes_read += head.size() + table.size();
  if (!ReadAt(t->index_fd, table.data(), table.size(), head.size()) ||
      !internal::DecodeIndexTable(table, t->header, &t->table)) {
    return false;
  }
  head += table;
  return internal::Sha256(head, root);
}

// Reads a version 1 index whole from `t->index_fd` (`size` bytes); `*digest`
// is its SHA-256.
bool ReadWholeIndex(std::uint64_t number, std::uint64_t size, TrustedIndex* t,
                    Hash256* digest, std::uint64_t* bytes_read) {
  std::string bytes(static_cast<std::size_t>(size), '\0');
  *bytes_read += size;
  SegmentIndex index;
  if (!ReadAt(t->index_fd, bytes.data(), bytes.size(), 0) ||
      !SegmentIndex::Decode(bytes, &index) || index.segment_number != number ||
      !internal::Sha256(bytes, digest)) {
    return false;
  }
  t->whole = true;
  t->header.segment_number = index.segment_number;
  t->header.first_sequence = index.first_sequence;
  t->header.records = index.records;
  t->header.min_time = index.min_time;
  t->header.max_time = index.max_time;
  t->header.file_size = index.file_size;
  t->entries = std::move(index.entries);
  close(t->index_fd);
  t->index_fd = -1;
  return true;
}

// Whether the seal record ending segment `fd` (which must have the size the
// index names) names `digest` of a seal of `version`, with the index's
// record count and sequences.
bool SealNames(int fd, const internal::IndexHeader& h, std::uint32_t version,
               const Hash256& digest) {
  struct stat st;
  char seal_frame[internal::kSealFrameSize];
  std::uint64_t o = 0;
  FrameView f;
  SealRecord seal;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
         static_cast<std::uint64_t>(st.st_size) == h.file_size &&
         h.file_size >=
             internal::kSegmentHeaderSize + internal::kSealFrameSize &&
         ReadAt(fd, seal_frame, sizeof(seal_frame),
                h.file_size - sizeof(seal_frame)) &&
         internal::ReadFrame(absl::string_view(seal_frame, sizeof(seal_frame)),
                             &o, &f) == FrameStatus::kOk &&
         f.seal && f.crc_ok && internal::DecodeSealPayload(f.payload, &seal) &&
         seal.version == version && seal.records == h.records &&
         seal.next_sequence == h.first_sequence + h.records &&
         seal.index_digest == digest;
}

// Opens segment `number` (at `path`) with its index into `*t`, trusted when
// its seal names it. Errors only for I/O on the segment; an index that is
// missing, unreadable or not the sealed one leaves `*t` untrusted.
absl::Status OpenTrustedIndex(const std::string& dir, std::uint64_t number,
                              const std::string& path, TrustedIndex* t,
                              std::uint64_t* bytes_read) {
  const std::string idx = PathOf(dir, internal::IndexFileName(number));
  // Never through a symlink; O_NONBLOCK: a FIFO must not hang the open.
  t->index_fd =
      open(idx.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (t->index_fd < 0 && errno == ENOENT) return absl::OkStatus();
  t->had_index = true;
  struct stat st;
  char magic[8];
  if (t->index_fd < 0 || fstat(t->index_fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size < 8 || !ReadAt(t->index_fd, magic, sizeof(magic), 0)) {
    return absl::OkStatus();
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  Hash256 digest;
  std::uint32_t version = 0;
  if (std::memcmp(magic, internal::kIndexMagicV2, 8) == 0) {
    if (!ReadIndexRoot(number, size, t, &digest, bytes_read)) {
      return absl::OkStatus();
    }
    version = internal::kSealVersionIndexRoot;
  } else if (std::memcmp(magic, internal::kIndexMagicV1, 8) == 0) {
    if (!ReadWholeIndex(number, size, t, &digest, bytes_read)) {
      return absl::OkStatus();
    }
    version = internal::kSealVersionWholeIndex;
  } else {
    return absl::OkStatus();
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return absl::OkStatus();  // removed: scanning says so
    return internal::ErrnoStatus(errno, "AuditLogReader: cannot open", path);
  }
  if (!SealNames(fd, t->header, version, digest)) {
    close(fd);
    return absl::OkStatus();
  }
  t->segment_fd = fd;
  return absl::OkStatus();
}

// One query over the segments: which events match, and how each segment is
// read (through its trusted index, or scanned).
class QueryRun {
 public:
  // `index_key`: the key kind an index is searched by (0: none, a time
  // query); `key` the value; events in [lo, hi).
  QueryRun(std::uint8_t index_key, absl::string_view key, std::int64_t lo,
           std::int64_t hi, AuditLogReader::Stats& stats,
           std::vector<OwnedAuditEvent>& out)
      : index_key_(index_key),
        key_(key),
        lo_(lo),
        hi_(hi),
        stats_(stats),
        out_(out) {}

  // Adds the matching events of segment `number` of `dir`.
  absl::Status Segment(const std::string& dir, std::uint64_t number) {
    const std::string path = PathOf(dir, internal::SegmentFileName(number));
    TrustedIndex index;
    RETURN_IF_ERROR(
        OpenTrustedIndex(dir, number, path, &index, &stats_.index_bytes_read));
    if (index.had_index && !index.trusted()) ++stats_.indexes_rejected;
    const internal::IndexHeader& h = index.header;
    if (index.trusted() &&
        (h.records == 0 || h.max_time < lo_ || h.min_time >= hi_)) {
      ++stats_.segments_skipped;
      return absl::OkStatus();
    }
    if (index.trusted() && index_key_ != 0) {
      std::vector<std::uint64_t> offsets;
      if (KeyOffsets(index, &offsets)) {
        ++stats_.segments_indexed;
        return ReadFrames(index.segment_fd, offsets, path);
      }
      // A block that is not the one the table names: nothing of this
      // index is used.
      ++stats_.indexes_rejected;
    }
    ++stats_.segments_scanned;
    return Scan(path);
  }

 private:
  bool Matches(const EventKeys& k) const {
    if (k.time_unix_nanos < lo_ || k.time_unix_nanos >= hi_) return false;
    switch (index_key_) {
      case internal::kKeySubject:
        return k.subject == key_;
      case internal::kKeyAccessor:
        return k.accessor == key_;
      default:
        return true;
    }
  }

  absl::Status Take(const FrameView& f, const std::string& path) {
    ++stats_.frames_read;
    if (!f.crc_ok) {
      return absl::DataLossError(
          absl::StrCat("AuditLogReader: frame at offset ", f.offset, " of '",
                       path, "' fails its CRC"));
    }
    EventKeys k;
    if (!internal::ScanEventKeys(f.payload, &k)) {
      return absl::DataLossError(
          absl::StrCat("AuditLogReader: frame at offset ", f.offset, " of '",
                       path, "' is not an AuditEvent"));
    }
    if (!Matches(k)) return absl::OkStatus();
    OwnedAuditEvent e;
    if (!internal::DecodeEvent(f.payload, &e)) {
      return absl::DataLossError(
          absl::StrCat("AuditLogReader: frame at offset ", f.offset, " of '",
                       path, "' does not parse"));
    }
    out_.push_back(std::move(e));
    return absl::OkStatus();
  }

  // The frame offsets the trusted `index` lists for the key. For a version
  // 2 index, reads only the blocks that can hold the key and checks each
  // against the block table before using it: false when one is short or
  // does not match (the segment is then scanned).
  bool KeyOffsets(const TrustedIndex& index,
                  std::vector<std::uint64_t>* offsets) {
    const std::uint64_t key = internal::IndexKeyHash(index_key_, key_);
    if (index.whole) {
      auto it = std::lower_bound(index.entries.begin(), index.entries.end(),
                                 std::make_pair(key, std::uint64_t{0}));
      for (; it != index.entries.end() && it->first == key; ++it) {
        offsets->push_back(it->second);
      }
      return true;
    }
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    internal::IndexBlocksForKey(index.table, key, &first, &last);
    std::string block;
    for (std::uint32_t i = first; i < last; ++i) {
      const std::uint64_t n = index.header.BlockEntryCount(i);
      block.resize(static_cast<std::size_t>(n * internal::kIndexEntrySize));
      ++stats_.index_blocks_read;
      stats_.index_bytes_read += block.size();
      Hash256 digest;
      if (!ReadAt(index.index_fd, block.data(), block.size(),
                  index.header.BlockOffset(i)) ||
          !internal::Sha256(block, &digest) ||
          digest != index.table[i].digest) {
        ++stats_.index_blocks_rejected;
        offsets->clear();
        return false;
      }
      // The block's entries are sorted: the key's, from its first.
      std::uint64_t lo = 0;
      std::uint64_t hi = n;
      while (lo < hi) {
        const std::uint64_t mid = lo + (hi - lo) / 2;
        if (internal::GetU64(block.data() + mid * internal::kIndexEntrySize) <
            key) {
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      for (; lo < n; ++lo) {
        const char* e = block.data() + lo * internal::kIndexEntrySize;
        if (internal::GetU64(e) != key) break;
        offsets->push_back(internal::GetU64(e + 8));
      }
    }
    return true;
  }

  // Reads the frames at `offsets` of segment `fd` (at `path`).
  absl::Status ReadFrames(int fd, const std::vector<std::uint64_t>& offsets,
                          const std::string& path) {
    std::string frame;
    for (const std::uint64_t offset : offsets) {
      char head[internal::kFrameHeaderSize];
      if (!ReadAt(fd, head, sizeof(head), offset)) {
        return absl::DataLossError(absl::StrCat(
            "AuditLogReader: index points past '", path, "' at ", offset));
      }
      const std::uint32_t len = internal::GetU32(head);
      if (len > internal::kMaxPayload) {
        return absl::DataLossError(
            absl::StrCat("AuditLogReader: bad frame length at ", offset,
                         " of '", path, "'"));
      }
      frame.resize(internal::kFrameOverhead + len);
      if (!ReadAt(fd, frame.data(), frame.size(), offset)) {
        return absl::DataLossError(absl::StrCat("AuditLogReader: frame at ",
                                                offset, " of '", path,
                                                "' is cut short"));
      }
      std::uint64_t o = 0;
      FrameView f;
      internal::ReadFrame(frame, &o, &f);
      f.offset = offset;
      RETURN_IF_ERROR(Take(f, path));
    }
    return absl::OkStatus();
  }

  // Reads every frame of the segment at `path`.
  absl::Status Scan(const std::string& path) {
    absl::StatusOr<std::string> data = internal::AuditError(
        internal::ReadRegularFile(path, internal::kNoSizeLimit));
    if (!data.ok()) {
      if (absl::IsNotFound(data.status())) {
        return absl::OkStatus();  // removed meanwhile
      }
      return data.status();
    }
    std::uint64_t offset = internal::FirstFrameOffset(*data);
    FrameView f;
    // The active segment may end in a frame still being written: stop there.
    while (internal::ReadFrame(*data, &offset, &f) == FrameStatus::kOk) {
      if (f.seal) break;  // the last frame of a sealed segment
      RETURN_IF_ERROR(Take(f, path));
    }
    return absl::OkStatus();
  }

  const std::uint8_t index_key_;
  const absl::string_view key_;
  const std::int64_t lo_;
  const std::int64_t hi_;
  AuditLogReader::Stats& stats_;
  std::vector<OwnedAuditEvent>& out_;
};

}  // namespace

absl::StatusOr<std::vector<OwnedAuditEvent>> AuditLogReader::Query(
    KeyKind kind, absl::string_view key, absl::Time from, absl::Time to) {
  stats_ = Stats{};
  std::vector<OwnedAuditEvent> out;
  // Names are parsed strictly: a file such as "audit-+000000000000001.seg"
  // is never read as a segment.
  coverage_ = AuditCoverage{};
  ASSIGN_OR_RETURN(std::vector<std::uint64_t> segments,
                   internal::ListSegments(directory_));
  // Segments at or before the retention cut (an interrupted run's
  // leftovers) are not part of the log.
  AuditRetentionRecord record;
  ASSIGN_OR_RETURN(const bool before,
                   internal::ReadRetentionRecordIfAny(directory_, &record));
  if (before) {
    segments.erase(std::remove_if(segments.begin(), segments.end(),
                                  [&](std::uint64_t n) {
                                    return n <= record.cut.segment;
                                  }),
                   segments.end());
  }
  QueryRun run(kind == KeyKind::kTime ? 0 : static_cast<std::uint8_t>(kind),
               key, absl::ToUnixNanos(from), absl::ToUnixNanos(to), stats_,
               out);
  for (const std::uint64_t number : segments) {
    RETURN_IF_ERROR(run.Segment(directory_, number));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const OwnedAuditEvent& a, const OwnedAuditEvent& b) {
                     return a.sequence < b.sequence;
                   });
  // Read again: a retention run during the query may have removed a
  // segment it listed; the coverage reported is then the newer one.
  ASSIGN_OR_RETURN(const bool after,
                   internal::ReadRetentionRecordIfAny(directory_, &record));
  if (after) coverage_ = record.Coverage();
  return out;
}

}  // namespace consentry
