// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The audit log's writer thread (drains the lanes into the segment) and its
// syncer thread (makes the segment durable).

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/audit/audit_compact.h"
#include "src/audit/audit_log_impl.h"
#include "src/util/status_macros.h"

namespace consentry {

using internal::AuditLane;

namespace {

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

// Polls of empty lanes since the last event; after kPollsBeforeIdle the
// writer sleeps until woken.
constexpr int kPollsBeforeIdle = 50;
constexpr auto kPollPeriod = std::chrono::microseconds(200);
// Producers wake an idle writer without a fence on their side, so a
// wake-up can be missed; an idle writer looks again after this long.
constexpr absl::Duration kIdleRecheck = absl::Milliseconds(5);

}  // namespace

// ---------------------------------------------------------------------------
// The writer loop

void AuditLog::Impl::Run() {
  RunState st;
  st.last_sync = absl::Now();
  st.requested = head;
  // Whether `stop` was seen before the last drain began. The writer stops
  // only after a drain that began once `stop` was seen and found nothing:
  // an event recorded before `Close` was called (published before `stop`
  // was set) is then always taken, however the two threads interleave.
  bool stop_seen = false;
  while (true) {
    if (ABSL_PREDICT_FALSE(failed.load(std::memory_order_acquire))) break;
    if (ABSL_PREDICT_FALSE(
            paused_for_testing.load(std::memory_order_acquire))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (flush_serving == 0) ServeNewFlush(st);
    std::size_t n = 0;
    absl::Status s = DrainBatch(&n);
    if (!s.ok()) {
      Fail(std::move(s));
      break;
    }
    AfterBatch(n);
    if (ABSL_PREDICT_FALSE(rotate_pending.load(std::memory_order_acquire))) {
      ServeRotation();
      // Drain again before looking at `stop`: the caller of `RotateKeys`,
      // woken now, may record and close before this thread reads it.
      continue;
    }
    // Not while a flush is served: keep `flush_tails` aligned.
    if (flush_serving == 0) lanes.RetireDrainedOrphans();
    const bool stopping = MaybeRequestSync(st);
    if (n > 0 || flush_serving != 0) {
      st.empty_polls = 0;
      continue;
    }
    if (stopping) {
      if (stop_seen) break;  // n == 0 in a drain begun after `stop`
      stop_seen = true;
      continue;  // drain once more: a producer may have published since
    }
    WaitForWork(st, stopping);
  }
  FinishRun();
}

void AuditLog::Impl::ServeNewFlush(RunState& st) {
  std::uint64_t asked = 0;
  {
    internal::MutexLock lock(&mu);
    asked = flush_requested;
  }
  if (asked <= st.flush_seen) return;
  // Every event enqueued before that `Flush` is in a lane that is
  // registered by now, below the tail read here.
  st.flush_seen = asked;
  flush_serving = asked;
  lanes.Refresh();
  flush_tails.clear();
  for (const auto& lane : lanes.writer_lanes()) {
    flush_tails.push_back(lane->tail());
  }
}

void AuditLog::Impl::AfterBatch(std::size_t n) {
  if (n > 0) {
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
}

bool AuditLog::Impl::MaybeRequestSync(RunState& st) {
  bool want_flush = false;
  bool stopping = false;
  {
    internal::MutexLock lock(&mu);
    want_flush = flush_covered_pos > sync_requested;
    stopping = stop;
  }
  const absl::Time now = absl::Now();
  if (head > st.requested &&
      (options.sync == AuditSyncPolicy::kEveryBatch || want_flush || stopping ||
       now - st.last_sync >= options.sync_interval)) {
    RequestSync();
    st.requested = head;
    st.last_sync = now;
  }
  return stopping;
}

void AuditLog::Impl::WaitForWork(RunState& st, bool stopping) {
  if (st.empty_polls < kPollsBeforeIdle) {
    // Recently busy: poll for a while rather than make every producer
    // pay for a wake-up (a lock and a futex call) on each event.
    ++st.empty_polls;
    internal::MutexLock lock(&mu);
    writer_cv.WaitFor(&mu, kPollPeriod, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return stop || flush_requested > st.flush_seen ||
             rotate_pending.load(std::memory_order_relaxed);
    });
    return;
  }
  // Idle: sleep until a producer publishes, a flush or stop is asked, or
  // the sync interval ends.
  writer_idle.store(true, std::memory_order_seq_cst);
  absl::Duration wait = kIdleRecheck;
  if (head > st.requested) {
    wait = std::min(
        wait, std::max(absl::ZeroDuration(),
                       options.sync_interval - (absl::Now() - st.last_sync)));
  }
  {
    internal::MutexLock lock(&mu);
    writer_cv.WaitFor(&mu, absl::ToChronoNanoseconds(wait),
                      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
                        return lanes.AnyReady() || stop != stopping ||
                               flush_requested > st.flush_seen ||
                               rotate_pending.load(std::memory_order_relaxed);
                      });
  }
  writer_idle.store(false, std::memory_order_relaxed);
}

void AuditLog::Impl::FinishRun() {
  absl::Status s = absl::OkStatus();
  if (!failed.load()) {
    s = options.seal_on_close ? SealSegment() : SyncAndCheckpoint();
  }
  if (!s.ok()) Fail(std::move(s));
  StopSyncer();
  if (io_file != nullptr) {
    io_file->Close().IgnoreError();
    io_file.reset();
  }
  segment->Abandon();
  internal::MutexLock lock(&mu);
  writer_done = true;
  head_hash = segment->last_hash();
  if (error.ok()) {
    // Stopping drained every lane: each flush asked so far is covered, and
    // SealSegment synced it.
    flush_covered = flush_requested;
    flush_covered_pos = head;
  }
  durable_cv.NotifyAll();
  space_cv.NotifyAll();
}

// Whether every event enqueued before the flush being served is taken.
bool AuditLog::Impl::FlushTaken() {
  const auto& writer_lanes = lanes.writer_lanes();
  for (std::size_t i = 0; i < flush_tails.size(); ++i) {
    if (writer_lanes[i]->consumed() < flush_tails[i]) return false;
  }
  return true;
}

void AuditLog::Impl::RefreshPolicies() {
  internal::MutexLock lock(&policies_mu);
  writer_policies.clear();
  for (const auto& p : policies) writer_policies.push_back(p.get());
}

absl::Status AuditLog::Impl::TakeRecord(const AuditLane::Record& record) {
  absl::string_view payload = record.payload;
  internal::EventKeys index_keys;
  bool has_keys = false;
  if (record.user_flags & internal::kCompactFlag) {
    AuditEvent e;
    if (!ExpandCompact(payload, record.user_flags, writer_policies, &e)) {
      RefreshPolicies();
      if (!ExpandCompact(payload, record.user_flags, writer_policies, &e)) {
        return absl::InternalError(
            "audit log: a queued decision names an unknown policy");
      }
    }
    scratch.ResizeUninitialized(internal::EncodedEventSizeBound(e));
    const char* end = internal::EncodeEvent(e, scratch.data());
    payload = absl::string_view(scratch.data(),
                                static_cast<std::size_t>(end - scratch.data()));
    // The index keys are the event's own, not scanned back from `payload`.
    index_keys.time_unix_nanos = e.time_unix_nanos;
    index_keys.accessor = e.accessor;
    index_keys.subject = e.subject;
    has_keys = true;
  }
  if (segment->NeedsRotation(payload.size())) {
    // The next segment takes the current keys; when a provider fails, the
    // previous ones (still valid), counted.
    absl::StatusOr<internal::SegmentKeys> keys = CurrentSegmentKeys();
    if (keys.ok()) {
      segment_keys = *std::move(keys);
    } else {
      key_errors.fetch_add(1, std::memory_order_relaxed);
    }
    RETURN_IF_ERROR(BeginNextSegment());
  }
  RETURN_IF_ERROR(
      has_keys ? segment->Frame(payload, base_sequence + head, index_keys)
               : segment->Frame(payload, base_sequence + head));
  if (record.ticket != nullptr) {
    batch_tickets.emplace_back(
        static_cast<internal::AppendTicket*>(record.ticket),
        base_sequence + head);
  }
  ++head;
  return absl::OkStatus();
}

absl::Status AuditLog::Impl::DrainBatch(std::size_t* taken) {
  batch_tickets.clear();
  lanes.Refresh();
  const auto& writer_lanes = lanes.writer_lanes();
  std::size_t n = 0;
  const std::size_t lane_count = writer_lanes.size();
  for (std::size_t k = 0; k < lane_count && n < options.max_batch_events; ++k) {
    AuditLane& lane = *writer_lanes[(next_lane + k) % lane_count];
    const std::uint64_t tail = lane.tail();
    AuditLane::Record record;
    while (n < options.max_batch_events && lane.Peek(tail, &record)) {
      RETURN_IF_ERROR(TakeRecord(record));
      lane.Pop();
      ++n;
    }
    lane.Publish();
  }
  if (lane_count > 0) next_lane = (next_lane + 1) % lane_count;
  RETURN_IF_ERROR(HandOffPending());
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

absl::Status AuditLog::Impl::SealSegment() {
  if (!segment->is_open()) return absl::OkStatus();
  RETURN_IF_ERROR(QueueTransition(/*open_next=*/false));
  return WaitForIoIdle();
}

absl::Status AuditLog::Impl::SyncAndCheckpoint() {
  RETURN_IF_ERROR(Sync());
  // As at a seal: the head is signed and kept outside the log; a failure
  // is counted and returned by the next `Checkpoint()`.
  if (options.checkpoint_keys != nullptr) {
    PublishCheckpoint(segment->number()).IgnoreError();
  }
  return absl::OkStatus();
}

absl::Status AuditLog::Impl::BeginNextSegment() {
  return QueueTransition(/*open_next=*/true);
}

void AuditLog::Impl::ServeRotation() {
  std::uint64_t asked = 0;
  {
    internal::MutexLock lock(&mu);
    rotate_pending.store(false, std::memory_order_relaxed);
    asked = rotate_requested;
  }
  // Every event taken so far is framed (`DrainBatch` handed its batch off).
  absl::StatusOr<internal::SegmentKeys> keys = CurrentSegmentKeys();
  absl::Status result = keys.status();
  if (keys.ok()) {
    segment_keys = *std::move(keys);
    // The caller learns whether the new segment exists.
    absl::Status s = BeginNextSegment();
    if (s.ok()) s = WaitForIoIdle();
    if (!s.ok()) Fail(s);
    result = s;
  }
  internal::MutexLock lock(&mu);
  rotate_served = asked;
  rotate_status = result;
  durable_cv.NotifyAll();
}

void AuditLog::Impl::Fail(absl::Status s) {
  failed.store(true, std::memory_order_release);
  internal::MutexLock lock(&mu);
  if (error.ok()) error = std::move(s);
  ++space_generation;
  durable_cv.NotifyAll();
  space_cv.NotifyAll();
}

// ---------------------------------------------------------------------------
// The syncer

absl::Status AuditLog::Impl::HandOffPending() {
  if (!segment->has_pending()) return absl::OkStatus();
  IoOp op;
  {
    internal::MutexLock lock(&mu);
    if (!io_spare.empty()) {
      op.bytes = std::move(io_spare.back());
      io_spare.pop_back();
    }
  }
  segment->TakePending(&op.bytes);
  op.end = head;
  return QueueIo(std::move(op));
}

absl::Status AuditLog::Impl::QueueIo(IoOp op) {
  internal::MutexLock lock(&mu);
  durable_cv.Wait(&mu, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return io_queue.size() < kMaxQueuedOps || !error.ok();
  });
  if (!error.ok()) return error;
  io_queue.push_back(std::move(op));
  sync_cv.NotifyOne();
  return absl::OkStatus();
}

absl::Status AuditLog::Impl::QueueTransition(bool open_next) {
  RETURN_IF_ERROR(HandOffPending());
  internal::ByteBuffer index_memory;
  {
    internal::MutexLock lock(&mu);
    index_memory = std::move(io_spare_index);
  }
  segment->RecycleIndexBuffer(std::move(index_memory));
  ASSIGN_OR_RETURN(
      internal::SegmentTransition t,
      segment->PrepareTransition(base_sequence + head,
                                 open_next ? &segment_keys : nullptr));
  IoOp op;
  op.end = head;
  op.transition = std::make_unique<internal::SegmentTransition>(std::move(t));
  RETURN_IF_ERROR(QueueIo(std::move(op)));
  if (open_next) {
    segment_number.store(segment->number(), std::memory_order_relaxed);
  }
  return absl::OkStatus();
}

absl::Status AuditLog::Impl::WaitForIoIdle() {
  internal::MutexLock lock(&mu);
  durable_cv.Wait(&mu, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return (!syncing && io_queue.empty()) || !error.ok();
  });
  return error;
}

// Synchronous: asks the syncer to sync everything taken so far and waits
// until it has, with every queued operation carried out.
absl::Status AuditLog::Impl::Sync() {
  RETURN_IF_ERROR(HandOffPending());
  internal::MutexLock lock(&mu);
  sync_requested = std::max(sync_requested, head);
  sync_hash = segment->last_hash();
  sync_cv.NotifyOne();
  durable_cv.Wait(&mu, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return (!syncing && io_queue.empty() && sync_taken >= sync_requested) ||
           !error.ok();
  });
  return error;
}

void AuditLog::Impl::RequestSync() {
  internal::MutexLock lock(&mu);
  sync_requested = head;
  sync_hash = segment->last_hash();
  sync_cv.NotifyOne();
}

void AuditLog::Impl::SegmentSealed(std::uint64_t end,
                                   const internal::Hash256& hash,
                                   std::uint64_t number) {
  {
    internal::MutexLock lock(&mu);
    if (end >= durable_pos.load(std::memory_order_relaxed)) {
      durable_pos.store(end, std::memory_order_release);
      head_hash = hash;
    }
    durable_cv.NotifyAll();
  }
  sealed.fetch_add(1, std::memory_order_relaxed);
  // The sealed head, signed and kept outside the log. A failure is counted
  // and the log goes on: its events are durable and chained, and the next
  // checkpoint covers them.
  if (options.checkpoint_keys != nullptr) {
    PublishCheckpoint(number).IgnoreError();
  }
}

// Carries out `ops` in order on `io_file`; `*written` is the event count
// once the last batch appended is in the file.
absl::Status AuditLog::Impl::CarryOut(std::vector<IoOp>& ops,
                                      std::uint64_t* written) {
  for (IoOp& op : ops) {
    if (!op.bytes.empty()) {
      if (io_file == nullptr) {
        return absl::InternalError("audit log: no segment to write");
      }
      RETURN_IF_ERROR(internal::AuditError(io_file->Append(op.bytes.view())));
      *written = op.end;
    }
    if (op.transition != nullptr) {
      RETURN_IF_ERROR(internal::CarryOutTransition(*fs, options.directory,
                                                   *op.transition, &io_file));
      SegmentSealed(op.end, op.transition->seal_hash,
                    op.transition->sealed_number);
    }
  }
  return absl::OkStatus();
}

// Each round takes every queued operation and the latest sync request
// together, under the lock: a request is made after the operations that
// hold its events were queued, so carrying out those taken and then
// syncing makes exactly the requested events durable.
void AuditLog::Impl::SyncLoop() {
  std::vector<IoOp> ops;
  while (true) {
    bool want_sync = false;
    std::uint64_t target = 0;
    internal::Hash256 h;
    {
      internal::MutexLock lock(&mu);
      sync_cv.Wait(&mu, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return syncer_stop || sync_requested > sync_taken || !io_queue.empty();
      });
      // After a failure nothing more is written: what is queued behind a
      // failed write would not follow the bytes before it.
      if (!error.ok()) io_queue.clear();
      if (io_queue.empty() && sync_requested <= sync_taken) return;
      ops.swap(io_queue);
      if (sync_requested > sync_taken) {
        want_sync = true;
        target = sync_requested;
        h = sync_hash;
        sync_taken = target;
      }
      syncing = true;
    }
    std::uint64_t written = 0;
    absl::Status s = CarryOut(ops, &written);
    // After a seal that opened no next segment, there is nothing to sync:
    // the seal synced everything.
    if (s.ok() && want_sync && io_file != nullptr) {
      s = io_file->Sync();
      if (!s.ok()) {
        s = absl::Status(
            s.code(),
            absl::StrCat("audit log: cannot sync segment: ", s.message()));
      }
    }
    internal::MutexLock lock(&mu);
    syncing = false;
    for (IoOp& op : ops) {
      if (io_spare.size() < kMaxSpareBuffers && op.bytes.capacity() > 0) {
        op.bytes.clear();
        io_spare.push_back(std::move(op.bytes));
      }
      if (op.transition != nullptr &&
          op.transition->index_bytes.capacity() > io_spare_index.capacity()) {
        io_spare_index = std::move(op.transition->index_bytes);
      }
    }
    ops.clear();
    if (written > 0) written_pos.store(written, std::memory_order_release);
    if (!s.ok()) {
      failed.store(true, std::memory_order_release);
      if (error.ok()) error = std::move(s);
      ++space_generation;
      space_cv.NotifyAll();
    } else if (want_sync &&
               target > durable_pos.load(std::memory_order_relaxed)) {
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

}  // namespace consentry
