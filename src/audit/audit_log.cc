// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/audit_log.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/audit/audit_compact.h"
#include "src/audit/audit_fast_path.h"
#include "src/audit/audit_format.h"
#include "src/audit/audit_lane.h"
#include "src/testing/audit_log_test_peer.h"
#include "src/util/file_io.h"
#include "src/util/mutex.h"
#include "src/util/status_macros.h"

namespace consentry {

using internal::AuditLane;
using internal::ChainHasher;
using internal::ErrnoStatus;
using internal::EventKeys;
using internal::FrameStatus;
using internal::FrameView;
using internal::Hash256;
using internal::SegmentHeader;
using internal::SegmentIndex;

namespace {

std::string PathOf(const std::string& dir, const std::string& name) {
  return absl::StrCat(dir, "/", name);
}

// Names the file in an error of the file layer.
absl::Status AuditError(const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat("audit log: ", s.message()));
}

// What a segment's frames say, walked from its header: used by `Open` to
// continue a log and to rebuild a missing index.
struct SegmentScan {
  Hash256 last_hash{};
  std::uint64_t next_sequence = 0;
  SegmentIndex index;
  std::uint64_t size = 0;  // bytes in the file
  bool sealed = false;     // it ends in a seal record
};

absl::StatusOr<SegmentScan> ScanLastSegment(const std::string& path,
                                            std::uint64_t number,
                                            ChainHasher& hasher) {
  ASSIGN_OR_RETURN(std::string data, internal::ReadFile(path));
  SegmentHeader header;
  if (internal::DecodeSegmentHeader(data, &header) !=
      internal::HeaderProblem::kNone) {
    return absl::DataLossError(absl::StrCat(
        "audit log: bad segment header in '", path,
        "': run RepairAuditLog (a torn header) or VerifyAuditLog"));
  }
  if (((header.flags & internal::kFlagKeyed) != 0) != hasher.keyed()) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit log: '", path, "' was written ",
                     hasher.keyed() ? "without" : "with", " an HMAC key"));
  }
  SegmentScan scan;
  scan.last_hash = header.prev_hash;
  scan.next_sequence = header.first_sequence;
  scan.index.segment_number = number;
  scan.index.first_sequence = header.first_sequence;
  std::uint64_t offset = internal::kSegmentHeaderSize;
  while (true) {
    FrameView f;
    const std::uint64_t at = offset;
    const FrameStatus st = internal::ReadFrame(data, &offset, &f);
    if (st == FrameStatus::kEnd) break;
    EventKeys keys;
    Hash256 h;
    if (st != FrameStatus::kOk) {
      return absl::DataLossError(
          absl::StrCat("audit log: torn or damaged final record at offset ", at,
                       " of '", path, "': run RepairAuditLog"));
    }
    if (f.seal) {
      // Sealed: the seal must be the last frame, chain, and name the index
      // these records make.
      internal::SealRecord seal;
      Hash256 digest;
      scan.index.file_size = data.size();
      if (!f.crc_ok || offset != data.size() ||
          !internal::DecodeSealPayload(f.payload, &seal) ||
          seal.records != scan.index.records ||
          seal.next_sequence != scan.next_sequence ||
          !hasher.Next(scan.last_hash.data(), f.payload, h.data()) ||
          std::memcmp(h.data(), f.hash, 32) != 0 ||
          !internal::Sha256(scan.index.Encode(), &digest) ||
          digest != seal.index_digest) {
        return absl::DataLossError(
            absl::StrCat("audit log: the seal record at offset ", at, " of '",
                         path, "' does not verify: run VerifyAuditLog"));
      }
      scan.last_hash = h;
      scan.sealed = true;
      break;
    }
    if (!f.crc_ok || !internal::ScanEventKeys(f.payload, &keys) ||
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

// Each log has an id that no other log in the process has had, so that a
// thread's cached lane is never mistaken for another log's.
std::atomic<std::uint64_t> next_log_id{1};

// The lane of the log this thread recorded into last: the fast path.
// Trivially destructible, so reading it costs no guard check.
struct LaneCache {
  std::uint64_t log_id = 0;
  AuditLane* lane = nullptr;
};
// Initial-exec: read at a fixed offset from the thread pointer, without a
// call to `__tls_get_addr` when the library is built shared.
thread_local LaneCache tls_lane __attribute__((tls_model("initial-exec")));

// Every lane this thread holds. On thread exit the lanes are marked
// orphaned; each log's writer drains and then drops them.
struct ThreadLanes {
  ~ThreadLanes() {
    for (auto& [id, lane] : lanes) {
      lane->orphaned.store(true, std::memory_order_release);
    }
    tls_lane = LaneCache{};
  }
  std::vector<std::pair<std::uint64_t, std::shared_ptr<AuditLane>>> lanes;
};
thread_local ThreadLanes tls_lanes;

// The event a compact lane record (see audit_compact.h) describes, with
// names from `policies`. False when the record is malformed or names an
// unknown policy slot.
bool ExpandCompact(absl::string_view payload, std::uint32_t flags,
                   const std::vector<const CompiledPolicy*>& policies,
                   AuditEvent* e) {
  internal::CompactDecision d;
  if (!internal::DecodeCompact(payload, flags, &d) ||
      d.policy_slot >= policies.size()) {
    return false;
  }
  const CompiledPolicy& policy = *policies[d.policy_slot];
  if (d.accessor >= policy.accessor_count() ||
      d.purpose >= policy.purpose_count() ||
      d.category >= policy.category_count()) {
    return false;
  }
  e->time_unix_nanos = d.time_unix_nanos;
  e->action = AuditAction::kRead;
  e->accessor = policy.accessor_id(d.accessor);
  e->subject = d.subject;
  e->category = policy.category_id(d.category);
  e->purpose = policy.purpose_id(d.purpose);
  e->policy_version = policy.version();
  e->record_ref = d.record_ref;
  e->reason = d.reason;
  e->revision = d.revision;
  e->shadow = d.shadow;
  return true;
}

// Filled in by the writer for `Append`.
struct AppendTicket {
  std::uint64_t sequence = 0;
  bool done = false;
};

}  // namespace

// ---------------------------------------------------------------------------
// AuditLog

struct AuditLog::Impl {
  explicit Impl(AuditLogOptions o)
      : options(std::move(o)),
        id(next_log_id.fetch_add(1, std::memory_order_relaxed)) {}

  AuditLogOptions options;
  const std::uint64_t id;
  std::uint64_t base_sequence = 0;  // sequence of the first event taken

  // The lanes of the threads that record into this log.
  internal::Mutex lanes_mu;
  std::vector<std::shared_ptr<AuditLane>> lanes ABSL_GUARDED_BY(lanes_mu);
  std::atomic<std::uint64_t> lanes_version{0};
  // Events published into lanes that have since been dropped.
  std::uint64_t retired_published ABSL_GUARDED_BY(lanes_mu) = 0;

  // Every durable file operation goes through this file system, captured
  // at `Open` (tests replace it to simulate power loss).
  internal::FileSystem* const fs = internal::FileSystem::Default();

  // Writer-thread state.
  std::unique_ptr<ChainHasher> hasher;
  std::unique_ptr<internal::WritableFile> file;  // the open segment
  std::string seg_path;
  std::uint64_t seg_number = 0;
  std::uint64_t seg_size = 0;
  SegmentIndex index;
  Hash256 last_hash{};
  std::uint64_t head = 0;  // events taken so far (sequence - base_sequence)
  std::string buf;
  std::vector<std::shared_ptr<AuditLane>> writer_lanes;
  std::uint64_t writer_lanes_version = ~std::uint64_t{0};
  std::size_t next_lane = 0;  // where the next batch starts, for fairness
  std::vector<std::pair<AppendTicket*, std::uint64_t>> batch_tickets;
  // A flush being served: its generation and each lane's tail when the
  // writer saw it (lanes are in `writer_lanes` order).
  std::uint64_t flush_serving = 0;
  std::vector<std::uint64_t> flush_tails;

  std::thread writer;
  // Read by every producer call, written rarely: a cache line of their own,
  // away from the counters the writer bumps on every batch.
  alignas(64) std::atomic<bool> writer_idle{false};
  std::atomic<bool> failed{false};
  std::atomic<bool> closed{false};
  alignas(64) std::atomic<std::uint64_t> written_pos{0};
  std::atomic<std::uint64_t> durable_pos{0};
  std::atomic<std::uint64_t> blocked{0};
  std::atomic<std::uint64_t> denied{0};
  std::atomic<std::uint64_t> sealed{0};
  std::atomic<int> space_waiters{0};
  std::atomic<bool> paused_for_testing{false};

  internal::Mutex mu;
  internal::CondVar writer_cv;
  internal::CondVar space_cv;
  internal::CondVar durable_cv;
  absl::Status error ABSL_GUARDED_BY(mu);
  // `Flush` calls so far; the last one whose events are all taken, and the
  // event count when it was (durable once `durable_pos` reaches it).
  std::uint64_t flush_requested ABSL_GUARDED_BY(mu) = 0;
  std::uint64_t flush_covered ABSL_GUARDED_BY(mu) = 0;
  std::uint64_t flush_covered_pos ABSL_GUARDED_BY(mu) = 0;
  bool stop ABSL_GUARDED_BY(mu) = false;
  bool writer_done ABSL_GUARDED_BY(mu) = false;
  std::uint64_t space_generation ABSL_GUARDED_BY(mu) = 0;
  // The syncer thread: fdatasync runs there, so that the writer frames and
  // writes the next batch while the disk flushes the previous one.
  std::thread syncer;
  internal::CondVar sync_cv;
  std::uint64_t sync_requested ABSL_GUARDED_BY(mu) = 0;  // events taken
  std::uint64_t sync_taken ABSL_GUARDED_BY(mu) = 0;
  internal::WritableFile* sync_file ABSL_GUARDED_BY(mu) = nullptr;
  Hash256 sync_hash ABSL_GUARDED_BY(mu){};
  bool syncing ABSL_GUARDED_BY(mu) = false;
  bool syncer_stop ABSL_GUARDED_BY(mu) = false;
  Hash256 head_hash ABSL_GUARDED_BY(mu){};
  bool close_called = false;  // Close is not concurrent with itself
  absl::Status close_status;

  absl::Status Enqueue(const AuditEvent& e, AppendTicket* ticket);
  absl::Status EnqueueCompact(const internal::CompactDecision& d);
  // Room for a record of at most `bound` bytes in this thread's lane, as
  // `AuditLane::Reserve` gives it; the checks and back-pressure of `Record`.
  absl::Status Claim(std::size_t bound, bool ticket, AuditLane** lane,
                     char** out);
  absl::Status ClaimSlow(std::size_t bound, bool ticket, AuditLane** lane,
                         char** out);

  // Policies that compact decisions refer to, by slot; never shrinks.
  internal::Mutex policies_mu;
  std::vector<std::shared_ptr<const CompiledPolicy>> policies
      ABSL_GUARDED_BY(policies_mu);
  std::vector<const CompiledPolicy*> writer_policies;  // writer's copy
  std::string scratch;                                 // writer's
  AuditLane* RegisterLane();
  void RefreshLanes();
  void RefreshPolicies();
  bool AnyLaneReady();
  bool FlushTaken();
  void RetireDrainedOrphans();
  std::uint64_t Published();
  void WakeWriter();
  void Run();
  absl::Status OpenSegment(std::uint64_t number, std::uint64_t first_sequence);
  absl::Status SealSegment();
  absl::Status AppendToSegment(absl::string_view bytes) {
    absl::Status s = file->Append(bytes);
    return s.ok() ? s : AuditError(s);
  }
  // Seals the segment `scan` describes, which a crash left unsealed.
  absl::Status SealExisting(const std::string& path, SegmentScan& scan);
  absl::Status DrainBatch(std::size_t* taken);
  absl::Status Sync();
  void RequestSync();
  void SyncLoop();
  void StopSyncer();
  void Fail(absl::Status s);
};

absl::Status AuditLog::Impl::OpenSegment(std::uint64_t number,
                                         std::uint64_t first_sequence) {
  seg_number = number;
  seg_path = PathOf(options.directory, internal::SegmentFileName(number));
  absl::StatusOr<std::unique_ptr<internal::WritableFile>> created =
      fs->NewFile(seg_path);
  if (!created.ok()) return AuditError(created.status());
  file = *std::move(created);
  SegmentHeader h;
  h.flags = hasher->keyed() ? internal::kFlagKeyed : 0;
  h.number = number;
  h.first_sequence = first_sequence;
  h.prev_hash = last_hash;
  char bytes[internal::kSegmentHeaderSize];
  internal::EncodeSegmentHeader(h, bytes);
  absl::Status s = file->Append(absl::string_view(bytes, sizeof(bytes)));
  // The header, then the file's name: a segment that survives a power
  // failure has its header.
  if (s.ok()) s = file->Sync();
  if (s.ok()) s = fs->SyncDir(options.directory);
  if (!s.ok()) return AuditError(s);
  seg_size = sizeof(bytes);
  index = SegmentIndex{};
  index.segment_number = number;
  index.first_sequence = first_sequence;
  return absl::OkStatus();
}

absl::Status AuditLog::Impl::SealSegment() {
  if (file == nullptr) return absl::OkStatus();
  RETURN_IF_ERROR(Sync());
  // The seal record ends the segment and carries its index's digest; the
  // index is written only once the seal is durable, so an index on disk
  // always has a seal that names it.
  index.file_size = seg_size + internal::kSealFrameSize;
  const std::string index_bytes = index.Encode();
  internal::SealRecord seal;
  seal.records = index.records;
  seal.next_sequence = base_sequence + head;
  std::string frame;
  Hash256 h;
  if (!internal::Sha256(index_bytes, &seal.index_digest) ||
      !internal::AppendSealFrame(*hasher, last_hash.data(), seal, &frame,
                                 h.data())) {
    return absl::InternalError("audit log: libcrypto failed to seal");
  }
  absl::Status s = file->Append(frame);
  if (s.ok()) s = file->Sync();
  absl::Status close_result = file->Close();
  if (s.ok()) s = close_result;
  file.reset();
  if (!s.ok()) return AuditError(s);
  seg_size += frame.size();
  last_hash = h;
  {
    internal::MutexLock lock(&mu);
    head_hash = last_hash;
  }
  sealed.fetch_add(1, std::memory_order_relaxed);
  s = internal::WriteFileAtomically(
      *fs, PathOf(options.directory, internal::IndexFileName(seg_number)),
      index_bytes);
  return s.ok() ? s : AuditError(s);
}

absl::Status AuditLog::Impl::SealExisting(const std::string& path,
                                          SegmentScan& scan) {
  scan.index.file_size = scan.size + internal::kSealFrameSize;
  const std::string index_bytes = scan.index.Encode();
  internal::SealRecord seal;
  seal.records = scan.index.records;
  seal.next_sequence = scan.next_sequence;
  std::string frame;
  Hash256 h;
  if (!internal::Sha256(index_bytes, &seal.index_digest) ||
      !internal::AppendSealFrame(*hasher, scan.last_hash.data(), seal, &frame,
                                 h.data())) {
    return absl::InternalError("audit log: libcrypto failed to seal");
  }
  absl::StatusOr<std::unique_ptr<internal::WritableFile>> f =
      fs->OpenForAppend(path);
  if (!f.ok()) return AuditError(f.status());
  absl::Status s = (*f)->Append(frame);
  if (s.ok()) s = (*f)->Sync();
  absl::Status close_result = (*f)->Close();
  if (s.ok()) s = close_result;
  if (s.ok()) {
    s = internal::WriteFileAtomically(
        *fs,
        PathOf(options.directory,
               internal::IndexFileName(scan.index.segment_number)),
        index_bytes);
  }
  if (!s.ok()) return AuditError(s);
  scan.last_hash = h;
  scan.sealed = true;
  return absl::OkStatus();
}

// Synchronous: waits for the syncer to be idle (it may hold `file`), drops
// its pending request (covered by this sync) and syncs here.
absl::Status AuditLog::Impl::Sync() {
  {
    internal::MutexLock lock(&mu);
    durable_cv.Wait(&mu,
                    [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !syncing; });
    sync_requested = std::max(sync_requested, head);
    sync_taken = sync_requested;
  }
  if (file != nullptr) {
    absl::Status s = file->Sync();
    if (!s.ok()) return AuditError(s);
  }
  internal::MutexLock lock(&mu);
  if (head > durable_pos.load(std::memory_order_relaxed)) {
    durable_pos.store(head, std::memory_order_release);
    head_hash = last_hash;
  }
  durable_cv.NotifyAll();
  return absl::OkStatus();
}

void AuditLog::Impl::RequestSync() {
  internal::MutexLock lock(&mu);
  sync_requested = head;
  sync_file = file.get();
  sync_hash = last_hash;
  sync_cv.NotifyOne();
}

void AuditLog::Impl::SyncLoop() {
  while (true) {
    std::uint64_t target = 0;
    internal::WritableFile* f = nullptr;
    Hash256 h;
    {
      internal::MutexLock lock(&mu);
      sync_cv.Wait(&mu, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return syncer_stop || sync_requested > sync_taken;
      });
      if (sync_requested <= sync_taken) return;  // stopping, nothing asked
      target = sync_requested;
      f = sync_file;
      h = sync_hash;
      sync_taken = target;
      syncing = true;
    }
    absl::Status synced =
        f != nullptr ? f->Sync()
                     : absl::InternalError("audit log: no segment to sync");
    internal::MutexLock lock(&mu);
    syncing = false;
    if (!synced.ok()) {
      failed.store(true, std::memory_order_release);
      if (error.ok()) {
        error = absl::Status(
            synced.code(),
            absl::StrCat("audit log: cannot sync segment: ", synced.message()));
      }
      ++space_generation;
      space_cv.NotifyAll();
    } else if (target > durable_pos.load(std::memory_order_relaxed)) {
      durable_pos.store(target, std::memory_order_release);
      head_hash = h;
    }
    durable_cv.NotifyAll();
    writer_cv.NotifyOne();
  }
}

void AuditLog::Impl::StopSyncer() {
  {
    internal::MutexLock lock(&mu);
    syncer_stop = true;
    sync_cv.NotifyAll();
  }
  if (syncer.joinable()) syncer.join();
}

void AuditLog::Impl::RefreshPolicies() {
  internal::MutexLock lock(&policies_mu);
  writer_policies.clear();
  for (const auto& p : policies) writer_policies.push_back(p.get());
}

void AuditLog::Impl::RefreshLanes() {
  const std::uint64_t v = lanes_version.load(std::memory_order_acquire);
  if (v == writer_lanes_version) return;
  internal::MutexLock lock(&lanes_mu);
  writer_lanes = lanes;
  writer_lanes_version = lanes_version.load(std::memory_order_relaxed);
}

bool AuditLog::Impl::AnyLaneReady() {
  if (lanes_version.load(std::memory_order_acquire) != writer_lanes_version) {
    return true;  // a new lane: look at it
  }
  for (const auto& lane : writer_lanes) {
    if (lane->tail() != lane->consumed()) return true;
  }
  return false;
}

// Whether every event enqueued before the flush being served is taken.
bool AuditLog::Impl::FlushTaken() {
  for (std::size_t i = 0; i < flush_tails.size(); ++i) {
    if (writer_lanes[i]->consumed() < flush_tails[i]) return false;
  }
  return true;
}

// Drops lanes whose thread has exited and whose records are all taken.
void AuditLog::Impl::RetireDrainedOrphans() {
  if (flush_serving != 0) return;  // keep `flush_tails` aligned
  bool any = false;
  for (const auto& lane : writer_lanes) {
    // `orphaned` first: once it is seen, the tail read after it is final.
    if (lane->orphaned.load(std::memory_order_acquire) &&
        lane->consumed() == lane->tail()) {
      any = true;
    }
  }
  if (!any) return;
  internal::MutexLock lock(&lanes_mu);
  std::erase_if(lanes,
                [&](const std::shared_ptr<AuditLane>& lane)
                    ABSL_NO_THREAD_SAFETY_ANALYSIS {
                      if (!lane->orphaned.load(std::memory_order_acquire) ||
                          lane->consumed() != lane->tail()) {
                        return false;
                      }
                      retired_published += lane->published();
                      return true;
                    });
  lanes_version.fetch_add(1, std::memory_order_release);
}

std::uint64_t AuditLog::Impl::Published() {
  internal::MutexLock lock(&lanes_mu);
  std::uint64_t n = retired_published;
  for (const auto& lane : lanes) n += lane->published();
  return n;
}

absl::Status AuditLog::Impl::DrainBatch(std::size_t* taken) {
  buf.clear();
  batch_tickets.clear();
  RefreshLanes();
  std::size_t n = 0;
  const std::size_t lane_count = writer_lanes.size();
  for (std::size_t k = 0; k < lane_count && n < options.max_batch_events; ++k) {
    AuditLane& lane = *writer_lanes[(next_lane + k) % lane_count];
    const std::uint64_t tail = lane.tail();
    AuditLane::Record record;
    while (n < options.max_batch_events && lane.Peek(tail, &record)) {
      absl::string_view payload = record.payload;
      if (record.user_flags & internal::kCompactFlag) {
        AuditEvent e;
        if (!ExpandCompact(payload, record.user_flags, writer_policies, &e)) {
          RefreshPolicies();
          if (!ExpandCompact(payload, record.user_flags, writer_policies, &e)) {
            return absl::InternalError(
                "audit log: a queued decision names an unknown policy");
          }
        }
        scratch.resize(internal::EncodedEventSizeBound(e));
        const char* end = internal::EncodeEvent(e, scratch.data());
        payload = absl::string_view(
            scratch.data(), static_cast<std::size_t>(end - scratch.data()));
      }
      const std::size_t worst = internal::kFrameOverhead + payload.size() +
                                internal::kMaxSequenceFieldSize;
      if (seg_size + buf.size() + worst + internal::kSealFrameSize >
              options.segment_bytes &&
          index.records > 0) {
        RETURN_IF_ERROR(AppendToSegment(buf));
        seg_size += buf.size();
        buf.clear();
        RETURN_IF_ERROR(SealSegment());
        RETURN_IF_ERROR(OpenSegment(seg_number + 1, base_sequence + head));
      }
      const std::size_t at = buf.size();
      buf.resize(at + worst);
      char* frame = buf.data() + at;
      char* body = frame + internal::kFrameHeaderSize;
      std::memcpy(body, payload.data(), payload.size());
      char* end = internal::EncodeSequenceField(base_sequence + head,
                                                body + payload.size());
      const absl::string_view full(body, static_cast<std::size_t>(end - body));
      Hash256 h;
      if (!hasher->Next(last_hash.data(), full, h.data())) {
        return absl::InternalError(
            "audit log: libcrypto failed to hash a record");
      }
      std::memcpy(end, h.data(), 32);
      const auto length = static_cast<std::uint32_t>(full.size());
      internal::PutU32(frame, length);
      internal::PutU32(frame + 4, internal::FrameCrc(length, full, h.data()));
      buf.resize(at + internal::kFrameOverhead + full.size());
      EventKeys keys;
      internal::ScanEventKeys(full, &keys);
      index.Add(keys.time_unix_nanos, seg_size + at, keys);
      last_hash = h;
      if (record.ticket != nullptr) {
        batch_tickets.emplace_back(static_cast<AppendTicket*>(record.ticket),
                                   base_sequence + head);
      }
      lane.Pop();
      ++head;
      ++n;
    }
    lane.Publish();
  }
  if (lane_count > 0) next_lane = (next_lane + 1) % lane_count;
  if (!buf.empty()) {
    RETURN_IF_ERROR(AppendToSegment(buf));
    seg_size += buf.size();
  }
  if (!batch_tickets.empty()) {
    internal::MutexLock lock(&mu);
    for (auto& [ticket, sequence] : batch_tickets) {
      ticket->sequence = sequence;
      ticket->done = true;
    }
    durable_cv.NotifyAll();
  }
  *taken = n;
  return absl::OkStatus();
}

void AuditLog::Impl::Fail(absl::Status s) {
  failed.store(true, std::memory_order_release);
  internal::MutexLock lock(&mu);
  if (error.ok()) error = std::move(s);
  ++space_generation;
  durable_cv.NotifyAll();
  space_cv.NotifyAll();
}

void AuditLog::Impl::Run() {
  absl::Time last_sync = absl::Now();
  std::uint64_t requested = head;  // events last handed to the syncer
  // Polls of empty lanes since the last event; after kPollsBeforeIdle the
  // writer sleeps until woken.
  constexpr int kPollsBeforeIdle = 50;
  constexpr auto kPollPeriod = std::chrono::microseconds(200);
  // Producers wake an idle writer without a fence on their side, so a
  // wake-up can be missed; an idle writer looks again after this long.
  constexpr absl::Duration kIdleRecheck = absl::Milliseconds(5);
  int empty_polls = 0;
  std::uint64_t flush_seen = 0;
  while (true) {
    if (ABSL_PREDICT_FALSE(failed.load(std::memory_order_acquire))) break;
    if (ABSL_PREDICT_FALSE(
            paused_for_testing.load(std::memory_order_acquire))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (flush_serving == 0) {
      std::uint64_t asked = 0;
      {
        internal::MutexLock lock(&mu);
        asked = flush_requested;
      }
      if (asked > flush_seen) {
        // Every event enqueued before that `Flush` is in a lane that is
        // registered by now, below the tail read here.
        flush_seen = asked;
        flush_serving = asked;
        RefreshLanes();
        flush_tails.clear();
        for (const auto& lane : writer_lanes) {
          flush_tails.push_back(lane->tail());
        }
      }
    }
    std::size_t n = 0;
    absl::Status s = DrainBatch(&n);
    if (!s.ok()) {
      Fail(std::move(s));
      break;
    }
    if (n > 0) {
      written_pos.store(head, std::memory_order_release);
      if (space_waiters.load(std::memory_order_acquire) > 0) {
        internal::MutexLock lock(&mu);
        ++space_generation;
        space_cv.NotifyAll();
      }
    }
    if (flush_serving != 0 && FlushTaken()) {
      internal::MutexLock lock(&mu);
      flush_covered = flush_serving;
      flush_covered_pos = head;
      durable_cv.NotifyAll();
      flush_serving = 0;
    }
    RetireDrainedOrphans();
    bool want_flush = false;
    bool stopping = false;
    {
      internal::MutexLock lock(&mu);
      want_flush = flush_covered_pos > sync_requested;
      stopping = stop;
    }
    const absl::Time now = absl::Now();
    if (head > requested &&
        (options.sync == AuditSyncPolicy::kEveryBatch || want_flush ||
         stopping || now - last_sync >= options.sync_interval)) {
      RequestSync();
      requested = head;
      last_sync = now;
    }
    if (n > 0 || flush_serving != 0) {
      empty_polls = 0;
      continue;
    }
    if (stopping) break;  // n == 0: every lane is empty
    if (empty_polls < kPollsBeforeIdle) {
      // Recently busy: poll for a while rather than make every producer
      // pay for a wake-up (a lock and a futex call) on each event.
      ++empty_polls;
      internal::MutexLock lock(&mu);
      writer_cv.WaitFor(&mu, kPollPeriod, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stop || flush_requested > flush_seen;
      });
      continue;
    }
    // Idle: sleep until a producer publishes, a flush or stop is asked, or
    // the sync interval ends.
    writer_idle.store(true, std::memory_order_seq_cst);
    absl::Duration wait = kIdleRecheck;
    if (head > requested) {
      wait = std::min(
          wait, std::max(absl::ZeroDuration(),
                         options.sync_interval - (absl::Now() - last_sync)));
    }
    {
      internal::MutexLock lock(&mu);
      writer_cv.WaitFor(&mu, absl::ToChronoNanoseconds(wait),
                        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
                          return AnyLaneReady() || stop != stopping ||
                                 flush_requested > flush_seen;
                        });
    }
    writer_idle.store(false, std::memory_order_relaxed);
  }
  absl::Status s = failed.load() ? absl::OkStatus() : SealSegment();
  if (!s.ok()) Fail(std::move(s));
  StopSyncer();
  if (file != nullptr) {
    file->Close().IgnoreError();
    file.reset();
  }
  internal::MutexLock lock(&mu);
  writer_done = true;
  head_hash = last_hash;
  if (error.ok()) {
    // Stopping drained every lane: each flush asked so far is covered, and
    // SealSegment synced it.
    flush_covered = flush_requested;
    flush_covered_pos = head;
  }
  durable_cv.NotifyAll();
  space_cv.NotifyAll();
}

void AuditLog::Impl::WakeWriter() {
  internal::MutexLock lock(&mu);
  writer_cv.NotifyOne();
}

AuditLane* AuditLog::Impl::RegisterLane() {
  auto& mine = tls_lanes.lanes;
  // Forget the lanes of logs that are closed.
  std::erase_if(mine, [](const auto& entry) {
    return entry.second->orphaned.load(std::memory_order_acquire);
  });
  for (const auto& [log_id, lane] : mine) {
    if (log_id == id) {
      tls_lane = LaneCache{id, lane.get()};
      return lane.get();
    }
  }
  auto lane = std::make_shared<AuditLane>(options.queue_capacity);
  {
    internal::MutexLock lock(&lanes_mu);
    lanes.push_back(lane);
    lanes_version.fetch_add(1, std::memory_order_release);
  }
  mine.emplace_back(id, lane);
  tls_lane = LaneCache{id, lane.get()};
  return lane.get();
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
  AuditLane* lane = tls_lane.log_id == id ? tls_lane.lane : RegisterLane();
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
  if (ABSL_PREDICT_TRUE(!failed.load(std::memory_order_acquire) &&
                        !closed.load(std::memory_order_acquire) &&
                        tls_lane.log_id == id) &&
      ABSL_PREDICT_TRUE(tls_lane.lane->Reserve(bound, ticket, out))) {
    *lane = tls_lane.lane;
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

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(
    AuditLogOptions options) {
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
  bool created = false;
  if (mkdir(options.directory.c_str(), 0755) == 0) {
    created = true;
  } else if (errno != EEXIST) {
    return ErrnoStatus("cannot create directory", options.directory);
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  const std::string& dir = impl->options.directory;
  if (created) {
    absl::Status s = impl->fs->SyncDir(internal::DirName(dir));
    if (!s.ok()) return AuditError(s);
  }
  ASSIGN_OR_RETURN(impl->hasher, ChainHasher::Create(impl->options.hmac_key));
  ASSIGN_OR_RETURN(internal::AuditDirListing listing,
                   internal::ListAuditDir(dir));
  // Temporaries of an index write a crash interrupted.
  for (const std::string& name : listing.temporaries) {
    impl->fs->Remove(PathOf(dir, name)).IgnoreError();
  }
  std::uint64_t next_number = 0;
  if (!listing.segments.empty()) {
    const std::uint64_t last = listing.segments.back();
    const std::string path = PathOf(dir, internal::SegmentFileName(last));
    ASSIGN_OR_RETURN(SegmentScan scan,
                     ScanLastSegment(path, last, *impl->hasher));
    const bool has_index = std::binary_search(listing.indexes.begin(),
                                              listing.indexes.end(), last);
    if (!scan.sealed) {
      if (has_index) {
        return absl::DataLossError(absl::StrCat(
            "audit log: '", PathOf(dir, internal::IndexFileName(last)),
            "' indexes a segment that is not sealed: run VerifyAuditLog"));
      }
      RETURN_IF_ERROR(impl->SealExisting(path, scan));
    } else if (!has_index) {
      absl::Status s = internal::WriteFileAtomically(
          *impl->fs, PathOf(dir, internal::IndexFileName(last)),
          scan.index.Encode());
      if (!s.ok()) return AuditError(s);
    }
    impl->last_hash = scan.last_hash;
    impl->base_sequence = scan.next_sequence;
    next_number = last + 1;
  }
  RETURN_IF_ERROR(impl->OpenSegment(next_number, impl->base_sequence));
  {
    internal::MutexLock lock(&impl->mu);
    impl->head_hash = impl->last_hash;
  }
  Impl* raw = impl.get();
  impl->syncer = std::thread([raw] {
    // Named for `top -H`, perf and debuggers (at most 15 characters).
    pthread_setname_np(pthread_self(), "audit-sync");
    raw->SyncLoop();
  });
  impl->writer = std::thread([raw] {
    pthread_setname_np(pthread_self(), "audit-writer");
    raw->Run();
  });
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

absl::Status AuditLogFastPath::Record(AuditLog& log, const CompactDecision& d) {
  AuditLog::Impl& impl = *log.impl_;
  // The common case in straight-line code: a short-form record that fits
  // this thread's lane as last seen, into a healthy, open log.
  const std::size_t size =
      kCompactShortHeader + d.subject.size() + d.record_ref.size();
  if (ABSL_PREDICT_TRUE(size <= AuditLane::kFastMaxPayload &&
                        CompactFitsShort(d) && tls_lane.log_id == impl.id &&
                        !impl.failed.load(std::memory_order_acquire) &&
                        !impl.closed.load(std::memory_order_acquire))) {
    AuditLane* lane = tls_lane.lane;
    const std::size_t need = AuditLane::kHeaderSize + AuditLane::Round8(size);
    if (char* r = lane->TryReserveFast(need); ABSL_PREDICT_TRUE(r != nullptr)) {
      AuditLane::PutHeader(r, size, CompactFlags(d, /*short_form=*/true));
      EncodeCompact(d, /*short_form=*/true, r + AuditLane::kHeaderSize);
      lane->PublishFast(need);
      if (ABSL_PREDICT_FALSE(
              impl.writer_idle.load(std::memory_order_relaxed))) {
        impl.WakeWriter();
      }
      return absl::OkStatus();
    }
  }
  return RecordSlow(log, d);
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

void AuditLogTestPeer::PauseWriter(AuditLog& log, bool paused) {
  log.impl_->paused_for_testing.store(paused, std::memory_order_release);
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
  {
    // Threads forget these lanes when they next register one; a lane
    // still held by a thread keeps its memory until then.
    internal::MutexLock lock(&impl_->lanes_mu);
    for (const auto& lane : impl_->lanes) {
      impl_->retired_published += lane->published();
      lane->orphaned.store(true, std::memory_order_release);
    }
    impl_->lanes.clear();
    impl_->lanes_version.fetch_add(1, std::memory_order_release);
  }
  internal::MutexLock lock(&impl_->mu);
  impl_->close_status = impl_->error;
  return impl_->close_status;
}

AuditLogCounters AuditLog::counters() const {
  AuditLogCounters c;
  c.enqueued = impl_->Published();
  c.written = impl_->written_pos.load(std::memory_order_acquire);
  c.durable = impl_->durable_pos.load(std::memory_order_acquire);
  c.blocked = impl_->blocked.load(std::memory_order_relaxed);
  c.denied_overload = impl_->denied.load(std::memory_order_relaxed);
  c.segments_sealed = impl_->sealed.load(std::memory_order_relaxed);
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

}  // namespace consentry
