// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The state of an `AuditLog` and the parts it is made of:
//  - the lanes producers publish into (audit_lane_set.h);
//  - the segment file the writer appends to (audit_segment_writer.h);
//  - the writer loop, which drains the lanes into the segment, and the
//    syncer, which makes it durable (audit_log_writer.cc);
//  - the producer side and the public methods (audit_log.cc).
// Internal; never installed.

#ifndef CONSENTRY_SRC_AUDIT_AUDIT_LOG_IMPL_H_
#define CONSENTRY_SRC_AUDIT_AUDIT_LOG_IMPL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "consentry/audit_log.h"
#include "consentry/policy.h"
#include "src/audit/audit_fast_path.h"
#include "src/audit/audit_format.h"
#include "src/audit/audit_lane.h"
#include "src/audit/audit_lane_set.h"
#include "src/audit/audit_segment_writer.h"
#include "src/util/file_io.h"
#include "src/util/mutex.h"

namespace consentry {

namespace internal {
// Filled in by the writer for `Append`.
struct AppendTicket {
  std::uint64_t sequence = 0;
  bool done = false;
};
}  // namespace internal

struct AuditLog::Impl {
  explicit Impl(AuditLogOptions o)
      : options(std::move(o)), lanes(options.queue_capacity) {}
  ~Impl() { ReleaseDirectory(); }

  // One writer per log: the log directory, opened and locked (flock,
  // exclusive) by `Start` until `Close`; -1 when not held.
  int dir_lock_fd = -1;
  absl::Status LockDirectory();
  void ReleaseDirectory();

  AuditLogOptions options;
  std::uint64_t base_sequence = 0;  // sequence of the first event taken

  // The lanes of the threads that record into this log.
  internal::AuditLaneSet lanes;

  // Every durable file operation goes through this file system, captured
  // at `Open` (tests replace it to simulate power loss).
  internal::FileSystem* const fs = internal::FileSystem::Default();

  // Writer-thread state.
  std::unique_ptr<internal::SegmentWriter> segment;
  // The keys the open segment was begun with (a size rotation whose
  // provider fails keeps them).
  internal::SegmentKeys segment_keys;
  std::uint64_t head = 0;     // events taken so far (sequence - base_sequence)
  std::size_t next_lane = 0;  // where the next batch starts, for fairness
  std::vector<std::pair<internal::AppendTicket*, std::uint64_t>> batch_tickets;
  // A flush being served: its generation and each lane's tail when the
  // writer saw it (lanes are in `lanes.writer_lanes()` order).
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
  // The syncer thread: the segment's write() and fdatasync run there, so
  // that the writer frames the next batch while the kernel copies the
  // previous one and the disk flushes it.
  std::thread syncer;
  internal::CondVar sync_cv;
  // The segment file I/O the writer prepared and the syncer has not yet
  // carried out, in order: a batch of frames to append (`bytes`, maybe
  // empty), then, when `transition` is set, the end of the segment and the
  // beginning of the next; `end` is the event count once done. Bounded
  // (`kMaxQueuedOps`). The writer frames on meanwhile; it waits for the
  // queue to be empty before it reports a sync, a seal or a key rotation.
  struct IoOp {
    internal::ByteBuffer bytes;
    std::uint64_t end = 0;
    std::unique_ptr<internal::SegmentTransition> transition;
  };
  static constexpr std::size_t kMaxQueuedOps = 4;
  std::vector<IoOp> io_queue ABSL_GUARDED_BY(mu);
  // The open segment's file: the syncer's from `Start` until it stops (the
  // writer frames into buffers and never touches it meanwhile).
  std::unique_ptr<internal::WritableFile> io_file;
  // Emptied batch buffers, kept for reuse (their capacity spares the
  // writer an allocation and page faults per batch). As many as can be in
  // use at once (those the syncer carries out, those queued, the one being
  // framed), so that a writer ahead of a slow disk never frames into fresh
  // memory: with fewer kept, buffers were freed and allocated again, and
  // the writer spent about a tenth of its time growing and faulting in
  // its batch buffer.
  static constexpr std::size_t kMaxSpareBuffers = 2 * kMaxQueuedOps + 1;
  std::vector<internal::ByteBuffer> io_spare ABSL_GUARDED_BY(mu);
  // The memory of the last transition's index, once written, for the
  // writer's next seal (`SegmentWriter::RecycleIndexBuffer`).
  internal::ByteBuffer io_spare_index ABSL_GUARDED_BY(mu);
  std::uint64_t sync_requested ABSL_GUARDED_BY(mu) = 0;  // events taken
  std::uint64_t sync_taken ABSL_GUARDED_BY(mu) = 0;
  internal::Hash256 sync_hash ABSL_GUARDED_BY(mu){};
  bool syncing ABSL_GUARDED_BY(mu) = false;
  bool syncer_stop ABSL_GUARDED_BY(mu) = false;
  internal::Hash256 head_hash ABSL_GUARDED_BY(mu){};
  // The number of the segment open for writing (for checkpoints).
  std::atomic<std::uint64_t> segment_number{0};
  // Held while a checkpoint is made and published, so that checkpoints
  // reach the sink in order. Taken before `mu`, never while holding it.
  internal::Mutex checkpoint_mu ABSL_ACQUIRED_BEFORE(mu);
  std::atomic<std::uint64_t> checkpoints_published{0};
  std::atomic<std::uint64_t> checkpoints_failed{0};
  std::atomic<std::uint64_t> key_errors{0};
  // `RotateKeys` calls so far, the last one served and its result.
  std::atomic<bool> rotate_pending{false};
  std::uint64_t rotate_requested ABSL_GUARDED_BY(mu) = 0;
  std::uint64_t rotate_served ABSL_GUARDED_BY(mu) = 0;
  absl::Status rotate_status ABSL_GUARDED_BY(mu);
  bool close_called = false;  // Close is not concurrent with itself
  absl::Status close_status;

  // Policies that compact decisions refer to, by slot; never shrinks.
  internal::Mutex policies_mu;
  std::vector<std::shared_ptr<const CompiledPolicy>> policies
      ABSL_GUARDED_BY(policies_mu);
  std::vector<const CompiledPolicy*> writer_policies;  // writer's copy
  internal::ByteBuffer scratch;                        // writer's

  // --- opening and producers (audit_log.cc) ---------------------------------

  // Creates the directory if need be, continues the log found there
  // (appending to its last segment when that is unsealed and intact, else
  // opening a new segment) and starts the writer and syncer threads.
  absl::Status Start();
  // Reads the last segment of `listing`: `*appending` when the writer
  // continues it (unsealed, intact, with room, and chained under the keys
  // a new segment would take now); otherwise it is sealed (if it was not)
  // and indexed, and the next segment chains from it.
  absl::Status ContinueLastSegment(const internal::AuditDirListing& listing,
                                   bool* appending);
  // The keys a new segment takes now: the HMAC provider's current key (or
  // `hmac_key`, or none) and the checkpoint keys' current id. Called by
  // `Start`, then only on the writer thread.
  absl::StatusOr<internal::SegmentKeys> CurrentSegmentKeys();

  // Signs a checkpoint of the durable head, in segment `segment_no`, and
  // publishes it to the anchor sink. REQUIRES: checkpoint keys and a sink
  // are configured.
  absl::StatusOr<AuditCheckpoint> PublishCheckpoint(std::uint64_t segment_no)
      ABSL_LOCKS_EXCLUDED(checkpoint_mu, mu);

  absl::Status Enqueue(const AuditEvent& e, internal::AppendTicket* ticket);
  absl::Status EnqueueCompact(const internal::CompactDecision& d);
  // Room for a record of at most `bound` bytes in this thread's lane, as
  // `AuditLane::Reserve` gives it; the checks and back-pressure of `Record`.
  absl::Status Claim(std::size_t bound, bool ticket, internal::AuditLane** lane,
                     char** out);
  absl::Status ClaimSlow(std::size_t bound, bool ticket,
                         internal::AuditLane** lane, char** out);
  void WakeWriter();

  // --- the writer (audit_log_writer.cc) -------------------------------------

  // The writer thread's loop: until stopped or failed, drains the lanes into
  // the segment, serves flushes, asks the syncer for syncs; then seals.
  void Run();
  // What one pass of `Run` carries to the next.
  struct RunState {
    absl::Time last_sync;
    std::uint64_t requested = 0;   // events last handed to the syncer
    int empty_polls = 0;           // polls of empty lanes since the last event
    std::uint64_t flush_seen = 0;  // the last `Flush` generation taken up
  };
  // Takes up a `Flush` asked since the last one: notes each lane's tail.
  void ServeNewFlush(RunState& st);
  // After a batch of `n` events: publishes progress, wakes waiters, and
  // ends the flush being served when its events are all taken.
  void AfterBatch(std::size_t n);
  // Hands the events taken to the syncer when the policy says so; returns
  // whether the log is stopping.
  bool MaybeRequestSync(RunState& st);
  // Waits for work: polls for a while after recent events, then sleeps.
  void WaitForWork(RunState& st, bool stopping);
  // The end of `Run`: syncs (and seals, with `seal_on_close`), stops the
  // syncer, wakes every waiter.
  void FinishRun();
  // Takes up to `max_batch_events` events from the lanes, round robin, and
  // appends them to the segment; `*taken` is their count.
  absl::Status DrainBatch(std::size_t* taken);
  // Frames `record` (expanded first when compact) as the next event,
  // rotating to a new segment first when it would not fit.
  absl::Status TakeRecord(const internal::AuditLane::Record& record);
  bool FlushTaken();
  void RefreshPolicies();
  absl::Status SealSegment();
  // What `Close` does by default instead of sealing: syncs the segment,
  // left open for the next writer, and checkpoints the head.
  absl::Status SyncAndCheckpoint();
  // Seals the open segment and opens the next under `segment_keys`.
  absl::Status BeginNextSegment();
  // Serves the `RotateKeys` calls made so far: new keys, then the next
  // segment (a provider error is the callers' and leaves the segment open).
  void ServeRotation();
  // Hands the pending batch of the open segment to the syncer.
  absl::Status HandOffPending();
  // Queues `op` for the syncer, waiting while `kMaxQueuedOps` are queued.
  absl::Status QueueIo(IoOp op);
  // Hands off the pending batch and the end of the open segment (sealed,
  // at the current head) and, when `open_next`, the beginning of the next
  // under `segment_keys`; framing goes on at once.
  absl::Status QueueTransition(bool open_next);
  // Waits until the syncer has carried out every queued operation and is
  // idle; the log's error when it failed meanwhile.
  absl::Status WaitForIoIdle();
  absl::Status CarryOut(std::vector<IoOp>& ops, std::uint64_t* written);
  // What the syncer does once segment `number` is sealed at event count
  // `end` with chain hash `hash`: the head is durable; counted; signed.
  void SegmentSealed(std::uint64_t end, const internal::Hash256& hash,
                     std::uint64_t number);
  absl::Status Sync();
  void RequestSync();
  void SyncLoop();
  void StopSyncer();
  void Fail(absl::Status s);
};

}  // namespace consentry

#endif  // CONSENTRY_SRC_AUDIT_AUDIT_LOG_IMPL_H_
