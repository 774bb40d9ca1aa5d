// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The producer side of the audit log (what `Record` and `Append` do on the
// caller's thread), `Open`, and the public methods. The writer and syncer
// threads are in audit_log_writer.cc.

#include "consentry/audit_log.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/audit/audit_compact.h"
#include "src/audit/audit_fast_path.h"
#include "src/audit/audit_format.h"
#include "src/audit/audit_lane.h"
#include "src/audit/audit_log_impl.h"
#include "src/util/file_io.h"
#include "src/util/mutex.h"
#include "src/util/status_macros.h"

namespace consentry {

using internal::AppendTicket;
using internal::AuditError;
using internal::AuditLane;
using internal::ChainHasher;
using internal::SegmentScan;

namespace {

std::string PathOf(const std::string& dir, const std::string& name) {
  return absl::StrCat(dir, "/", name);
}

}  // namespace

void AuditLog::Impl::WakeWriter() {
  // One producer per idle period wakes the writer: the one that clears the
  // flag. The others see it clear and go on, instead of each taking the
  // mutex and signalling (a futex call while the writer has not run yet)
  // until the writer, woken by the first, clears the flag itself. The
  // writer's wait tests the lanes under the mutex this notifies under, so
  // the one wake-up is not lost.
  if (!writer_idle.exchange(false, std::memory_order_acq_rel)) return;
  internal::MutexLock lock(&mu);
  writer_cv.NotifyOne();
}

absl::Status AuditLog::Impl::ClaimSlow(std::size_t bound, bool ticket,
                                       AuditLane** lane_out, char** out) {
  if (failed.load(std::memory_order_acquire)) {
    internal::MutexLock lock(&mu);
    return absl::UnavailableError(
        absl::StrCat("audit log: the writer failed: ", error.message()));
  }
  if (closed.load(std::memory_order_acquire)) {
    return absl::FailedPreconditionError("audit log: closed");
  }
  AuditLane* lane = lanes.Cached();
  if (lane == nullptr) lane = lanes.Register();
  *lane_out = lane;
  if (lane->Reserve(bound, ticket, out)) return absl::OkStatus();
  if (options.overflow == AuditOverflowPolicy::kDeny) {
    denied.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(
        absl::StrCat("audit log: queue full (", lane->max_events(),
                     " events queued by this thread)"));
  }
  blocked.fetch_add(1, std::memory_order_relaxed);
  space_waiters.fetch_add(1, std::memory_order_acq_rel);
  while (!lane->Reserve(bound, ticket, out)) {
    if (failed.load(std::memory_order_acquire)) {
      space_waiters.fetch_sub(1, std::memory_order_acq_rel);
      return absl::UnavailableError("audit log: the writer failed");
    }
    internal::MutexLock lock(&mu);
    writer_cv.NotifyOne();
    const std::uint64_t generation = space_generation;
    // The timeout bounds a missed wake-up; the loop re-checks the lane.
    space_cv.WaitFor(&mu, std::chrono::milliseconds(1),
                     [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
                       return space_generation != generation || !error.ok();
                     });
  }
  space_waiters.fetch_sub(1, std::memory_order_acq_rel);
  return absl::OkStatus();
}

// The common case inline: a healthy, open log, this thread's lane cached,
// room in it. Everything else is `ClaimSlow`.
inline absl::Status AuditLog::Impl::Claim(std::size_t bound, bool ticket,
                                          AuditLane** lane, char** out) {
  AuditLane* cached = lanes.Cached();
  if (ABSL_PREDICT_TRUE(!failed.load(std::memory_order_acquire) &&
                        !closed.load(std::memory_order_acquire) &&
                        cached != nullptr) &&
      ABSL_PREDICT_TRUE(cached->Reserve(bound, ticket, out))) {
    *lane = cached;
    return absl::OkStatus();
  }
  return ClaimSlow(bound, ticket, lane, out);
}

absl::Status AuditLog::Impl::Enqueue(const AuditEvent& e,
                                     AppendTicket* ticket) {
  const std::size_t bound = internal::EncodedEventSizeBound(e);
  AuditLane* lane = nullptr;
  char* out = nullptr;
  RETURN_IF_ERROR(Claim(bound, ticket != nullptr, &lane, &out));
  char* heap = nullptr;
  if (ABSL_PREDICT_FALSE(out == nullptr)) {
    heap = new char[bound];
    out = heap;
  }
  const char* end = internal::EncodeEvent(e, out);
  lane->Commit(static_cast<std::size_t>(end - out), heap, ticket);
  // No fence orders this load after the commit: a wake-up missed here is
  // caught by the idle writer's periodic look (kIdleRecheck).
  if (ABSL_PREDICT_FALSE(writer_idle.load(std::memory_order_relaxed))) {
    WakeWriter();
  }
  return absl::OkStatus();
}

absl::Status AuditLog::Impl::EnqueueCompact(
    const internal::CompactDecision& d) {
  const bool short_form = internal::CompactFitsShort(d);
  const std::size_t size = internal::CompactSize(d, short_form);
  AuditLane* lane = nullptr;
  char* out = nullptr;
  RETURN_IF_ERROR(Claim(size, false, &lane, &out));
  char* heap = nullptr;
  if (ABSL_PREDICT_FALSE(out == nullptr)) {
    heap = new char[size];
    out = heap;
  }
  internal::EncodeCompact(d, short_form, out);
  lane->Commit(size, heap, nullptr, internal::CompactFlags(d, short_form));
  if (ABSL_PREDICT_FALSE(writer_idle.load(std::memory_order_relaxed))) {
    WakeWriter();
  }
  return absl::OkStatus();
}

namespace {

absl::Status ValidateOptions(const AuditLogOptions& options) {
  if (options.directory.empty()) {
    return absl::InvalidArgumentError("AuditLog::Open: directory is empty");
  }
  if (options.segment_bytes < 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("AuditLog::Open: segment_bytes ", options.segment_bytes,
                     " is below the minimum 4096"));
  }
  if (options.queue_capacity < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("AuditLog::Open: queue_capacity ", options.queue_capacity,
                     " is below the minimum 2"));
  }
  if (options.max_batch_events == 0) {
    return absl::InvalidArgumentError("AuditLog::Open: max_batch_events is 0");
  }
  if (options.lock_wait < absl::ZeroDuration() ||
      options.lock_wait == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AuditLog::Open: lock_wait ", absl::FormatDuration(options.lock_wait),
        " must be finite and not negative"));
  }
  if ((options.checkpoint_keys == nullptr) !=
      (options.anchor_sink == nullptr)) {
    return absl::InvalidArgumentError(
        "AuditLog::Open: checkpoint_keys and anchor_sink go together (one is "
        "set, the other is not)");
  }
  if (options.checkpoint_keys != nullptr) {
    // A key that cannot sign is found now, not at the first seal.
    absl::StatusOr<std::string> id = options.checkpoint_keys->CurrentKeyId();
    if (!id.ok()) {
      return absl::Status(id.status().code(),
                          absl::StrCat("AuditLog::Open: checkpoint keys: ",
                                       id.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status AuditLog::Impl::ContinueLastSegment(
    const internal::AuditDirListing& listing, bool* appending) {
  const std::string& dir = options.directory;
  const std::uint64_t last = listing.segments.back();
  const std::string path = PathOf(dir, internal::SegmentFileName(last));
  // A damaged segment (a torn tail included) is refused here, before
  // anything is written: nothing is ever appended after bytes that do not
  // verify.
  const internal::ChainKeys keys{options.hmac_key, options.hmac_keys};
  ASSIGN_OR_RETURN(SegmentScan scan, internal::ScanSegment(path, last, keys));
  const bool has_index =
      std::binary_search(listing.indexes.begin(), listing.indexes.end(), last);
  *appending = false;
  base_sequence = scan.next_sequence;
  if (!scan.sealed) {
    if (has_index) {
      return absl::DataLossError(absl::StrCat(
          "audit log: '", PathOf(dir, internal::IndexFileName(last)),
          "' indexes a segment that is not sealed: run VerifyAuditLog"));
    }
    // Unsealed and intact (a previous writer closed it open, or crashed):
    // continue it, unless it has no room left for a record and its seal,
    // or its header names other keys than a new segment takes now (keys
    // rotated since: what follows is chained under the new key).
    if (scan.size + internal::kSealFrameSize + internal::kFrameOverhead <
            options.segment_bytes &&
        scan.hmac_key_id == segment_keys.hmac_key_id &&
        scan.signing_key_id == segment_keys.signing_key_id &&
        scan.hasher->keyed() == !segment_keys.hmac_key.empty()) {
      *appending = true;
      return segment->Continue(path, std::move(scan));
    }
    RETURN_IF_ERROR(segment->SealScanned(path, scan));
  } else if (!has_index) {
    absl::Status s = internal::WriteFileAtomically(
        *fs, PathOf(dir, internal::IndexFileName(last)),
        scan.index.EncodeForSeal(scan.seal_version));
    if (!s.ok()) return AuditError(s);
  }
  segment->set_last_hash(scan.last_hash);
  return absl::OkStatus();
}

absl::Status AuditLog::Impl::Start() {
  const std::string& dir = options.directory;
  bool created = false;
  if (mkdir(dir.c_str(), 0755) == 0) {
    created = true;
  } else if (errno != EEXIST) {
    return internal::ErrnoStatus(errno, "audit log: cannot create directory",
                                 dir);
  }
  if (created) {
    absl::Status s = fs->SyncDir(internal::DirName(dir));
    if (!s.ok()) return AuditError(s);
  }
  RETURN_IF_ERROR(LockDirectory());
  segment = std::make_unique<internal::SegmentWriter>(*fs, dir,
                                                      options.segment_bytes);
  ASSIGN_OR_RETURN(internal::AuditDirListing listing,
                   internal::ListAuditDir(dir));
  // Temporaries of an index write a crash interrupted.
  for (const std::string& name : listing.temporaries) {
    fs->Remove(PathOf(dir, name)).IgnoreError();
  }
  std::uint64_t next_number = 0;
  bool appending = false;
  ASSIGN_OR_RETURN(segment_keys, CurrentSegmentKeys());
  if (!listing.segments.empty()) {
    RETURN_IF_ERROR(ContinueLastSegment(listing, &appending));
    next_number = listing.segments.back() + 1;
  }
  if (!appending) {
    RETURN_IF_ERROR(segment->Open(next_number, base_sequence, segment_keys));
  }
  segment_number.store(segment->number(), std::memory_order_relaxed);
  {
    internal::MutexLock lock(&mu);
    head_hash = segment->last_hash();
  }
  io_file = segment->ReleaseFile();
  syncer = std::thread([this] {
    // Named for `top -H`, perf and debuggers (at most 15 characters).
    pthread_setname_np(pthread_self(), "audit-sync");
    SyncLoop();
  });
  writer = std::thread([this] {
    pthread_setname_np(pthread_self(), "audit-writer");
    Run();
  });
  return absl::OkStatus();
}

absl::StatusOr<internal::SegmentKeys> AuditLog::Impl::CurrentSegmentKeys() {
  internal::SegmentKeys keys;
  if (options.hmac_keys != nullptr) {
    absl::StatusOr<HmacKey> current = options.hmac_keys->CurrentKey();
    if (!current.ok()) {
      return absl::Status(current.status().code(),
                          absl::StrCat("audit log: current HMAC key: ",
                                       current.status().message()));
    }
    if (!IsValidHmacKeyId(current->id) || current->secret.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("audit log: the HMAC key provider's current key has ",
                       current->secret.empty() ? "no bytes" : "an invalid id",
                       " (audit_keys.h)"));
    }
    keys.hmac_key_id = std::move(current->id);
    keys.hmac_key = std::move(current->secret);
  } else {
    keys.hmac_key = options.hmac_key;
  }
  if (options.checkpoint_keys != nullptr) {
    absl::StatusOr<std::string> id = options.checkpoint_keys->CurrentKeyId();
    if (!id.ok()) {
      return absl::Status(
          id.status().code(),
          absl::StrCat("audit log: checkpoint keys: ", id.status().message()));
    }
    if (id->size() > internal::kMaxSigningKeyIdSize ||
        std::any_of(id->begin(), id->end(),
                    [](char c) { return c <= ' ' || c > '~'; })) {
      return absl::InvalidArgumentError(
          "audit log: the checkpoint keys' current id is not printable ASCII "
          "of at most 128 bytes");
    }
    keys.signing_key_id = *std::move(id);
  }
  return keys;
}

absl::Status AuditLog::RotateKeys() {
  if (impl_->closed.load(std::memory_order_acquire)) {
    return absl::FailedPreconditionError("audit log: closed");
  }
  internal::MutexLock lock(&impl_->mu);
  const std::uint64_t generation = ++impl_->rotate_requested;
  impl_->rotate_pending.store(true, std::memory_order_release);
  impl_->writer_cv.NotifyOne();
  impl_->durable_cv.Wait(&impl_->mu, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return impl_->rotate_served >= generation || !impl_->error.ok() ||
           impl_->writer_done;
  });
  if (!impl_->error.ok()) return impl_->error;
  if (impl_->rotate_served < generation) {
    return absl::FailedPreconditionError("audit log: closed during RotateKeys");
  }
  return impl_->rotate_status;
}

absl::Status AuditLog::Impl::LockDirectory() {
  ASSIGN_OR_RETURN(
      dir_lock_fd,
      internal::LockLogDirectory(
          options.directory, options.lock_wait,
          "a log has one writer: record through that one, or wait until it "
          "closes (AuditLogOptions::lock_wait)"));
  return absl::OkStatus();
}

void AuditLog::Impl::ReleaseDirectory() {
  if (dir_lock_fd < 0) return;
  close(dir_lock_fd);  // releases the flock
  dir_lock_fd = -1;
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(
    AuditLogOptions options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  auto impl = std::make_unique<Impl>(std::move(options));
  RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::uint32_t AuditLog::AttachPolicy(
    std::shared_ptr<const CompiledPolicy> policy) {
  return internal::AuditLogFastPath::AttachPolicy(*this, std::move(policy));
}

absl::Status AuditLog::RecordCompact(const internal::CompactDecision& d) {
  return internal::AuditLogFastPath::Record(*this, d);
}

namespace internal {

std::uint32_t AuditLogFastPath::AttachPolicy(
    AuditLog& log, std::shared_ptr<const CompiledPolicy> policy) {
  AuditLog::Impl& impl = *log.impl_;
  internal::MutexLock lock(&impl.policies_mu);
  for (std::size_t i = 0; i < impl.policies.size(); ++i) {
    if (impl.policies[i] == policy) return static_cast<std::uint32_t>(i);
  }
  impl.policies.push_back(std::move(policy));
  return static_cast<std::uint32_t>(impl.policies.size() - 1);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool AuditLogFastPath::TryPutShort(
    AuditLog& log, std::int64_t time_unix_nanos, std::uint64_t packed,
    std::uint32_t flags, absl::string_view subject,
    absl::string_view record_ref) {
  AuditLog::Impl& impl = *log.impl_;
  const std::size_t size =
      kCompactShortHeader + subject.size() + record_ref.size();
  AuditLane* lane = impl.lanes.Cached();
  if (ABSL_PREDICT_FALSE(size > AuditLane::kFastMaxPayload || lane == nullptr ||
                         impl.failed.load(std::memory_order_acquire) ||
                         impl.closed.load(std::memory_order_acquire))) {
    return false;
  }
  const std::size_t need = AuditLane::kHeaderSize + AuditLane::Round8(size);
  char* r = lane->TryReserveFast(need);
  if (ABSL_PREDICT_FALSE(r == nullptr)) return false;
  AuditLane::PutHeader(r, size, flags);
  char* p = r + AuditLane::kHeaderSize;
  std::memcpy(p, &time_unix_nanos, 8);
  std::memcpy(p + 8, &packed, 8);
  p += kCompactShortHeader;
  CopyShort(p, subject.data(), subject.size());
  CopyShort(p + subject.size(), record_ref.data(), record_ref.size());
  lane->PublishFast(need);
  if (ABSL_PREDICT_FALSE(impl.writer_idle.load(std::memory_order_relaxed))) {
    impl.WakeWriter();
  }
  return true;
}

bool AuditLogFastPath::TryRecord(AuditLog& log, const CompactDecision& d) {
  return CompactFitsShort(d) &&
         TryPutShort(
             log, d.time_unix_nanos,
             CompactShortPacked(d.revision, d.accessor, d.purpose, d.category),
             CompactFlags(d, /*short_form=*/true), d.subject, d.record_ref);
}

absl::Status AuditLogFastPath::Record(AuditLog& log, const CompactDecision& d) {
  // The common case in straight-line code: a short-form record that fits
  // this thread's lane as last seen, into a healthy, open log.
  if (ABSL_PREDICT_TRUE(TryRecord(log, d))) return absl::OkStatus();
  return RecordSlow(log, d);
}

bool AuditLogFastPath::TryRecordCheck(AuditLog& log,
                                      std::int64_t time_unix_nanos,
                                      Revision revision, std::uint64_t names,
                                      absl::string_view subject) {
  // `names`: accessor | purpose << 16 | category << 24 (the short form's
  // index bytes, in its order) | reason << 32 | policy slot << 40.
  const auto policy_slot = static_cast<std::uint32_t>(names >> 40);
  if (ABSL_PREDICT_FALSE(!CompactFitsShort(revision, policy_slot, 0))) {
    return false;
  }
  const std::uint64_t packed =
      static_cast<std::uint32_t>(revision) | (names << 32);
  const std::uint32_t flags = CompactShortFlags(
      static_cast<Reason>(static_cast<std::uint8_t>(names >> 32)),
      /*shadow=*/false, policy_slot, 0);
  return TryPutShort(log, time_unix_nanos, packed, flags, subject,
                     absl::string_view());
}

bool TryRecordCheck(AuditLog& log, std::int64_t time_unix_nanos,
                    Revision revision, std::uint64_t names,
                    absl::string_view subject) {
  return AuditLogFastPath::TryRecordCheck(log, time_unix_nanos, revision, names,
                                          subject);
}

// Out of line, so that the fast path above keeps a small frame.
ABSL_ATTRIBUTE_NOINLINE absl::Status AuditLogFastPath::RecordSlow(
    AuditLog& log, const CompactDecision& d) {
  AuditLog::Impl& impl = *log.impl_;
  if (ABSL_PREDICT_TRUE(d.subject.size() <= internal::kCompactMaxString &&
                        d.record_ref.size() <= internal::kCompactMaxString)) {
    return impl.EnqueueCompact(d);
  }
  std::shared_ptr<const CompiledPolicy> policy;
  {
    internal::MutexLock lock(&impl.policies_mu);
    if (d.policy_slot >= impl.policies.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "audit log: policy slot ", d.policy_slot, " is not attached"));
    }
    policy = impl.policies[d.policy_slot];
  }
  AuditEvent e;
  e.time_unix_nanos = d.time_unix_nanos;
  e.accessor = policy->accessor_id(d.accessor);
  e.subject = d.subject;
  e.category = policy->category_id(d.category);
  e.purpose = policy->purpose_id(d.purpose);
  e.policy_version = policy->version();
  e.record_ref = d.record_ref;
  e.reason = d.reason;
  e.revision = d.revision;
  e.shadow = d.shadow;
  return impl.Enqueue(e, nullptr);
}

}  // namespace internal

AuditLog::~AuditLog() { Close().IgnoreError(); }

absl::Status AuditLog::Record(const AuditEvent& event) {
  return impl_->Enqueue(event, nullptr);
}

absl::StatusOr<std::uint64_t> AuditLog::Append(const AuditEvent& event) {
  AppendTicket ticket;
  RETURN_IF_ERROR(impl_->Enqueue(event, &ticket));
  internal::MutexLock lock(&impl_->mu);
  impl_->writer_cv.NotifyOne();
  impl_->durable_cv.Wait(&impl_->mu, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return ticket.done || !impl_->error.ok() || impl_->writer_done;
  });
  if (ticket.done) return ticket.sequence;
  if (!impl_->error.ok()) return impl_->error;
  return absl::FailedPreconditionError("audit log: closed during Append");
}

absl::Status AuditLog::Flush() {
  if (impl_->closed.load(std::memory_order_acquire)) {
    return absl::FailedPreconditionError("audit log: closed");
  }
  internal::MutexLock lock(&impl_->mu);
  const std::uint64_t generation = ++impl_->flush_requested;
  impl_->writer_cv.NotifyOne();
  // Once the writer has taken everything enqueued before this call, it
  // names the event count to wait for; then that count must be durable.
  bool covered = false;
  std::uint64_t target = 0;
  impl_->durable_cv.Wait(&impl_->mu, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (!covered && impl_->flush_covered >= generation) {
      covered = true;
      target = impl_->flush_covered_pos;
    }
    return (covered &&
            impl_->durable_pos.load(std::memory_order_acquire) >= target) ||
           !impl_->error.ok() || impl_->writer_done;
  });
  if (!impl_->error.ok()) return impl_->error;
  if (!covered || impl_->durable_pos.load(std::memory_order_acquire) < target) {
    return absl::FailedPreconditionError("audit log: closed during Flush");
  }
  return absl::OkStatus();
}

std::uint64_t AuditLog::durable_sequence_end() const {
  return impl_->base_sequence +
         impl_->durable_pos.load(std::memory_order_acquire);
}

absl::Status AuditLog::Close() {
  if (impl_->close_called) return impl_->close_status;
  impl_->close_called = true;
  {
    internal::MutexLock lock(&impl_->mu);
    impl_->stop = true;
    impl_->writer_cv.NotifyAll();
  }
  if (impl_->writer.joinable()) impl_->writer.join();
  impl_->closed.store(true, std::memory_order_release);
  impl_->lanes.CloseAll();
  // The segment is sealed and synced: the next writer may take the log.
  impl_->ReleaseDirectory();
  internal::MutexLock lock(&impl_->mu);
  impl_->close_status = impl_->error;
  return impl_->close_status;
}

AuditLogCounters AuditLog::counters() const {
  AuditLogCounters c;
  c.enqueued = impl_->lanes.Published();
  c.written = impl_->written_pos.load(std::memory_order_acquire);
  c.durable = impl_->durable_pos.load(std::memory_order_acquire);
  c.blocked = impl_->blocked.load(std::memory_order_relaxed);
  c.denied_overload = impl_->denied.load(std::memory_order_relaxed);
  c.segments_sealed = impl_->sealed.load(std::memory_order_relaxed);
  c.checkpoints_published =
      impl_->checkpoints_published.load(std::memory_order_relaxed);
  c.checkpoints_failed =
      impl_->checkpoints_failed.load(std::memory_order_relaxed);
  c.key_errors = impl_->key_errors.load(std::memory_order_relaxed);
  return c;
}

AuditLogHead AuditLog::head() const {
  AuditLogHead h;
  internal::MutexLock lock(&impl_->mu);
  h.sequence_end = durable_sequence_end();
  h.last_hash.assign(reinterpret_cast<const char*>(impl_->head_hash.data()),
                     32);
  return h;
}

absl::StatusOr<AuditCheckpoint> AuditLog::Impl::PublishCheckpoint(
    std::uint64_t segment_no) {
  internal::MutexLock publishing(&checkpoint_mu);
  AuditCheckpoint c;
  {
    internal::MutexLock lock(&mu);
    c.sequence_end =
        base_sequence + durable_pos.load(std::memory_order_acquire);
    c.last_hash.assign(reinterpret_cast<const char*>(head_hash.data()),
                       head_hash.size());
  }
  c.segment = segment_no;
  c.time_unix_nanos = absl::GetCurrentTimeNanos();
  absl::Status s = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(c.key_id, options.checkpoint_keys->CurrentKeyId());
    ASSIGN_OR_RETURN(c.signature,
                     options.checkpoint_keys->Sign(
                         c.key_id, AuditCheckpointSigningBytes(c)));
    return options.anchor_sink->Publish(c);
  }();
  if (!s.ok()) {
    checkpoints_failed.fetch_add(1, std::memory_order_relaxed);
    return absl::Status(
        s.code(), absl::StrCat("audit log checkpoint at ", c.sequence_end, ": ",
                               s.message()));
  }
  checkpoints_published.fetch_add(1, std::memory_order_relaxed);
  return c;
}

absl::StatusOr<AuditCheckpoint> AuditLog::Checkpoint() {
  if (impl_->options.checkpoint_keys == nullptr) {
    return absl::FailedPreconditionError(
        "audit log: no checkpoint keys were configured");
  }
  RETURN_IF_ERROR(Flush());
  return impl_->PublishCheckpoint(
      impl_->segment_number.load(std::memory_order_relaxed));
}

}  // namespace consentry
