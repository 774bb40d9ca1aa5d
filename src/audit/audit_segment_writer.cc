// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/audit/audit_segment_writer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/util/crc32c.h"
#include "src/util/status_macros.h"

namespace consentry::internal {

namespace {

// Checks the seal frame `f` at `at`, the last of a segment of `size` bytes
// that ends at `end`, against what `scan` built; on success chains it.
bool SealVerifies(const FrameView& f, std::uint64_t end, std::uint64_t size,
                  ChainHasher& hasher, SegmentScan& scan) {
  SealRecord seal;
  Hash256 digest;
  Hash256 h;
  scan.index.file_size = size;
  if (!f.crc_ok || end != size || !DecodeSealPayload(f.payload, &seal) ||
      seal.records != scan.index.records ||
      seal.next_sequence != scan.next_sequence ||
      !hasher.Next(scan.last_hash.data(), f.payload, h.data()) ||
      std::memcmp(h.data(), f.hash, 32) != 0) {
    return false;
  }
  std::uint32_t version = 0;
  if (!IndexSealDigest(scan.index.EncodeForSeal(seal.version), &digest,
                       &version) ||
      version != seal.version || digest != seal.index_digest) {
    return false;
  }
  scan.last_hash = h;
  scan.sealed = true;
  scan.seal_version = seal.version;
  return true;
}

// The seal frame of a segment whose encoded index is `index_bytes` (its
// `file_size` already counting the seal frame), chained from `prev`; the
// seal's version follows the index's. `*hash` is the seal's chain hash.
absl::Status MakeSealFrame(ChainHasher& hasher, const Hash256& prev,
                           absl::string_view index_bytes, std::uint64_t records,
                           std::uint64_t next_sequence, std::string* frame,
                           Hash256* hash) {
  SealRecord seal;
  seal.records = records;
  seal.next_sequence = next_sequence;
  if (!IndexSealDigest(index_bytes, &seal.index_digest, &seal.version) ||
      !AppendSealFrame(hasher, prev.data(), seal, frame, hash->data())) {
    return absl::InternalError("audit log: libcrypto failed to seal");
  }
  return absl::OkStatus();
}

// Creates the segment file at `path` with its `header`: the header, then
// the file's name are synced, so that a segment that survives a power
// failure has its header.
absl::Status CreateSegmentFile(FileSystem& fs, const std::string& directory,
                               const std::string& path,
                               const std::string& header,
                               std::unique_ptr<WritableFile>* file) {
  absl::StatusOr<std::unique_ptr<WritableFile>> created = fs.NewFile(path);
  if (!created.ok()) return AuditError(created.status());
  absl::Status s = (*created)->Append(header);
  if (s.ok()) s = (*created)->Sync();
  if (s.ok()) s = fs.SyncDir(directory);
  if (!s.ok()) {
    (*created)->Close().IgnoreError();
    return AuditError(s);
  }
  *file = *std::move(created);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SegmentScan> ScanSegment(const std::string& path,
                                        std::uint64_t number,
                                        const ChainKeys& chain_keys) {
  ASSIGN_OR_RETURN(std::string data,
                   AuditError(ReadRegularFile(path, kNoSizeLimit)));
  SegmentHeader header;
  if (DecodeSegmentHeader(data, &header) != HeaderProblem::kNone) {
    return absl::DataLossError(absl::StrCat(
        "audit log: bad segment header in '", path,
        "': run RepairAuditLog (a torn header) or VerifyAuditLog"));
  }
  SegmentScan scan;
  ASSIGN_OR_RETURN(scan.hasher,
                   SegmentHasher(header, data, chain_keys, path, "audit log"));
  scan.hmac_key_id = header.hmac_key_id;
  scan.signing_key_id = header.signing_key_id;
  ChainHasher& hasher = *scan.hasher;
  scan.last_hash = header.prev_hash;
  scan.next_sequence = header.first_sequence;
  scan.index.segment_number = number;
  scan.index.first_sequence = header.first_sequence;
  std::uint64_t offset = header.size;
  while (true) {
    FrameView f;
    const std::uint64_t at = offset;
    const FrameStatus st = ReadFrame(data, &offset, &f);
    if (st == FrameStatus::kEnd) break;
    if (st != FrameStatus::kOk) {
      return absl::DataLossError(
          absl::StrCat("audit log: torn or damaged final record at offset ", at,
                       " of '", path, "': run RepairAuditLog"));
    }
    if (f.seal) {
      // Sealed: the seal must be the last frame, chain, and name the index
      // these records make.
      if (!SealVerifies(f, offset, data.size(), hasher, scan)) {
        return absl::DataLossError(
            absl::StrCat("audit log: the seal record at offset ", at, " of '",
                         path, "' does not verify: run VerifyAuditLog"));
      }
      break;
    }
    EventKeys keys;
    Hash256 h;
    if (!f.crc_ok || !ScanEventKeys(f.payload, &keys) ||
        keys.sequence != scan.next_sequence ||
        !hasher.Next(scan.last_hash.data(), f.payload, h.data()) ||
        std::memcmp(h.data(), f.hash, 32) != 0) {
      return absl::DataLossError(
          absl::StrCat("audit log: record at offset ", at, " of '", path,
                       "' does not verify: run VerifyAuditLog"));
    }
    scan.index.Add(keys.time_unix_nanos, at, keys);
    scan.last_hash = h;
    ++scan.next_sequence;
  }
  scan.size = data.size();
  return scan;
}

absl::Status CarryOutTransition(FileSystem& fs, const std::string& directory,
                                const SegmentTransition& t,
                                std::unique_ptr<WritableFile>* file) {
  // The seal record ends the segment and carries its index's digest; the
  // index is written only once the seal is durable, so an index on disk
  // always has a seal that names it; and the next segment exists only once
  // both are.
  if (*file == nullptr) {
    return absl::InternalError("audit log: no segment file to seal");
  }
  absl::Status s = (*file)->Append(t.seal_frame);
  if (s.ok()) s = (*file)->Sync();
  absl::Status close_result = (*file)->Close();
  if (s.ok()) s = close_result;
  file->reset();
  if (s.ok()) s = WriteFileAtomically(fs, t.index_path, t.index_bytes.view());
  if (!s.ok()) return AuditError(s);
  if (!t.open_next) return absl::OkStatus();
  return CreateSegmentFile(fs, directory, t.next_path, t.next_header, file);
}

std::string SegmentWriter::PathOf(const std::string& name) const {
  return absl::StrCat(directory_, "/", name);
}

absl::Status SegmentWriter::SealScanned(const std::string& path,
                                        SegmentScan& scan) {
  scan.index.file_size = scan.size + kSealFrameSize;
  const std::string index_bytes = scan.index.Encode();
  std::string frame;
  Hash256 h;
  RETURN_IF_ERROR(MakeSealFrame(*scan.hasher, scan.last_hash, index_bytes,
                                scan.index.records, scan.next_sequence, &frame,
                                &h));
  absl::StatusOr<std::unique_ptr<WritableFile>> f = fs_.OpenForAppend(path);
  if (!f.ok()) return AuditError(f.status());
  absl::Status s = (*f)->Append(frame);
  if (s.ok()) s = (*f)->Sync();
  absl::Status close_result = (*f)->Close();
  if (s.ok()) s = close_result;
  if (s.ok()) {
    s = WriteFileAtomically(
        fs_, PathOf(IndexFileName(scan.index.segment_number)), index_bytes);
  }
  if (!s.ok()) return AuditError(s);
  scan.last_hash = h;
  scan.sealed = true;
  return absl::OkStatus();
}

absl::Status SegmentWriter::Continue(const std::string& path,
                                     SegmentScan scan) {
  absl::StatusOr<std::unique_ptr<WritableFile>> f = fs_.OpenForAppend(path);
  if (!f.ok()) return AuditError(f.status());
  absl::Status s = (*f)->Sync();
  if (!s.ok()) {
    (*f)->Close().IgnoreError();
    return AuditError(s);
  }
  file_ = *std::move(f);
  open_ = true;
  number_ = scan.index.segment_number;
  size_ = scan.size;
  pending_.clear();
  index_ = std::move(scan.index);
  last_hash_ = scan.last_hash;
  hasher_ = std::move(scan.hasher);
  return absl::OkStatus();
}

absl::Status SegmentWriter::BeginSegment(std::uint64_t number,
                                         std::uint64_t first_sequence,
                                         const SegmentKeys& keys,
                                         std::string* header) {
  SegmentHeader h;
  h.flags = keys.hmac_key.empty() ? 0 : kFlagKeyed;
  h.number = number;
  h.first_sequence = first_sequence;
  h.prev_hash = last_hash_;
  h.hmac_key_id = keys.hmac_key_id;
  h.signing_key_id = keys.signing_key_id;
  *header = EncodeSegmentHeader(h);
  const std::string& bytes = *header;
  // A keyed segment's chain key binds its header (key ids included).
  const std::string chain_key =
      keys.hmac_key.empty()
          ? std::string()
          : SegmentChainKey(keys.hmac_key, absl::string_view(bytes).substr(
                                               0, bytes.size() - 4));
  if (!keys.hmac_key.empty() && chain_key.empty()) {
    return absl::InternalError("audit log: libcrypto failed to derive a key");
  }
  ASSIGN_OR_RETURN(hasher_, ChainHasher::Create(chain_key));
  number_ = number;
  size_ = bytes.size();
  pending_.clear();
  index_.Restart(number, first_sequence);
  open_ = true;
  return absl::OkStatus();
}

absl::Status SegmentWriter::Open(std::uint64_t number,
                                 std::uint64_t first_sequence,
                                 const SegmentKeys& keys) {
  std::string header;
  RETURN_IF_ERROR(BeginSegment(number, first_sequence, keys, &header));
  absl::Status s = CreateSegmentFile(
      fs_, directory_, PathOf(SegmentFileName(number)), header, &file_);
  if (!s.ok()) open_ = false;
  return s;
}

absl::Status SegmentWriter::Frame(absl::string_view payload,
                                  std::uint64_t sequence) {
  return FrameWithKeys(payload, sequence, nullptr);
}

absl::Status SegmentWriter::Frame(absl::string_view payload,
                                  std::uint64_t sequence,
                                  const EventKeys& keys) {
  return FrameWithKeys(payload, sequence, &keys);
}

absl::Status SegmentWriter::FrameWithKeys(absl::string_view payload,
                                          std::uint64_t sequence,
                                          const EventKeys* given) {
  const std::size_t at = pending_.size();
  // Written in place; the bytes past the frame's end are dropped below.
  char* frame = pending_.Extend(FramedSizeBound(payload.size()));
  char* body = frame + kFrameHeaderSize;
  std::memcpy(body, payload.data(), payload.size());
  char* end = EncodeSequenceField(sequence, body + payload.size());
  const absl::string_view full(body, static_cast<std::size_t>(end - body));
  Hash256 h;
  if (!hasher_->Next(last_hash_.data(), full, h.data())) {
    pending_.Truncate(at);
    return absl::InternalError("audit log: libcrypto failed to hash a record");
  }
  std::memcpy(end, h.data(), 32);
  const auto length = static_cast<std::uint32_t>(full.size());
  PutU32(frame, length);
  // `FrameCrc(length, full, hash)`: the payload and the hash are adjacent
  // here, so one pass covers both.
  PutU32(frame + 4, Crc32cExtend(Crc32c(frame, 4), body, full.size() + 32));
  pending_.Truncate(at + kFrameOverhead + full.size());
  EventKeys scanned;
  if (given == nullptr) ScanLeadingEventKeys(full, &scanned);
  index_.Add(
      given != nullptr ? given->time_unix_nanos : scanned.time_unix_nanos,
      size_ + at, given != nullptr ? *given : scanned);
  last_hash_ = h;
  return absl::OkStatus();
}

absl::Status SegmentWriter::WritePending() {
  if (pending_.empty()) return absl::OkStatus();
  absl::Status s = file_->Append(pending_.view());
  if (!s.ok()) return AuditError(s);
  size_ += pending_.size();
  pending_.clear();
  return absl::OkStatus();
}

void SegmentWriter::TakePending(ByteBuffer* batch) {
  batch->clear();
  batch->swap(pending_);
  size_ += batch->size();
  // Room for the largest batch so far, allocated once rather than grown
  // (and copied, and faulted in) frame by frame: batches vary in size, and
  // a buffer sized for the last one was grown during the next about as
  // often as not.
  // A buffer smaller than that gets twice as much (at least
  // kMinBatchCapacity): pages never written cost no memory, and a buffer
  // sized just for the largest batch was outgrown mid-batch (copied and
  // freed, and its successor's pages faulted in) whenever a batch came out
  // larger, until the sizes of all the recycled buffers settled.
  largest_batch_ = std::max(largest_batch_, batch->size());
  if (pending_.capacity() < largest_batch_ ||
      pending_.capacity() < kMinBatchCapacity) {
    pending_.reserve(std::max(2 * largest_batch_, kMinBatchCapacity));
  }
}

absl::Status SegmentWriter::Sync() {
  if (file_ == nullptr) return absl::OkStatus();
  absl::Status s = file_->Sync();
  return s.ok() ? s : AuditError(s);
}

absl::StatusOr<SegmentTransition> SegmentWriter::PrepareTransition(
    std::uint64_t next_sequence, const SegmentKeys* next_keys) {
  SegmentTransition t;
  t.sealed_number = number_;
  index_.file_size = size_ + kSealFrameSize;
  t.index_bytes = std::move(spare_index_);
  if (!index_.TakeEncoded(&t.index_bytes)) {
    return absl::InternalError("audit log: libcrypto failed to hash an index");
  }
  t.index_path = PathOf(IndexFileName(number_));
  RETURN_IF_ERROR(MakeSealFrame(*hasher_, last_hash_, t.index_bytes.view(),
                                index_.records, next_sequence, &t.seal_frame,
                                &t.seal_hash));
  size_ += t.seal_frame.size();
  last_hash_ = t.seal_hash;
  open_ = false;
  if (next_keys != nullptr) {
    t.open_next = true;
    const std::uint64_t next_number = number_ + 1;
    t.next_path = PathOf(SegmentFileName(next_number));
    RETURN_IF_ERROR(
        BeginSegment(next_number, next_sequence, *next_keys, &t.next_header));
  }
  return t;
}

absl::Status SegmentWriter::Seal(std::uint64_t next_sequence) {
  ASSIGN_OR_RETURN(SegmentTransition t,
                   PrepareTransition(next_sequence, nullptr));
  return CarryOutTransition(fs_, directory_, t, &file_);
}

void SegmentWriter::Abandon() {
  open_ = false;
  if (file_ == nullptr) return;
  file_->Close().IgnoreError();
  file_.reset();
}

}  // namespace consentry::internal
