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
    payload = absl::string_view(scratch.data(),
                                static_cast<std::size_t>(end - scratch.data()));
  }
  if (segment->NeedsRotation(payload.size())) {
    RETURN_IF_ERROR(segment->WritePending());
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
  RETURN_IF_ERROR(segment->Frame(payload, base_sequence + head));
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
  RETURN_IF_ERROR(segment->WritePending());
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
  RETURN_IF_ERROR(Sync());
  RETURN_IF_ERROR(segment->Seal(base_sequence + head));
  {
    internal::MutexLock lock(&mu);
    head_hash = segment->last_hash();
  }
  sealed.fetch_add(1, std::memory_order_relaxed);
  // The sealed head, signed and kept outside the log. A failure is counted
  // and the log goes on: its events are durable and chained, and the next
  // checkpoint covers them.
  if (options.checkpoint_keys != nullptr) PublishCheckpoint().IgnoreError();
  return absl::OkStatus();
}

absl::Status AuditLog::Impl::SyncAndCheckpoint() {
  RETURN_IF_ERROR(Sync());
  // As at a seal: the head is signed and kept outside the log; a failure
  // is counted and returned by the next `Checkpoint()`.
  if (options.checkpoint_keys != nullptr) PublishCheckpoint().IgnoreError();
  return absl::OkStatus();
}

absl::Status AuditLog::Impl::BeginNextSegment() {
  RETURN_IF_ERROR(SealSegment());
  RETURN_IF_ERROR(
      segment->Open(segment->number() + 1, base_sequence + head, segment_keys));
  segment_number.store(segment->number(), std::memory_order_relaxed);
  return absl::OkStatus();
}

void AuditLog::Impl::ServeRotation() {
  std::uint64_t asked = 0;
  {
    internal::MutexLock lock(&mu);
    rotate_pending.store(false, std::memory_order_relaxed);
    asked = rotate_requested;
  }
  // Every event taken so far is written (`DrainBatch` wrote its batch).
  absl::StatusOr<internal::SegmentKeys> keys = CurrentSegmentKeys();
  absl::Status result = keys.status();
  if (keys.ok()) {
    segment_keys = *std::move(keys);
    absl::Status s = BeginNextSegment();
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

// Synchronous: waits for the syncer to be idle (it may hold the segment's
// file), drops its pending request (covered by this sync) and syncs here.
absl::Status AuditLog::Impl::Sync() {
  {
    internal::MutexLock lock(&mu);
    durable_cv.Wait(&mu,
                    [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !syncing; });
    sync_requested = std::max(sync_requested, head);
    sync_taken = sync_requested;
  }
  RETURN_IF_ERROR(segment->Sync());
  internal::MutexLock lock(&mu);
  if (head > durable_pos.load(std::memory_order_relaxed)) {
    durable_pos.store(head, std::memory_order_release);
    head_hash = segment->last_hash();
  }
  durable_cv.NotifyAll();
  return absl::OkStatus();
}

void AuditLog::Impl::RequestSync() {
  internal::MutexLock lock(&mu);
  sync_requested = head;
  sync_file = segment->file();
  sync_hash = segment->last_hash();
  sync_cv.NotifyOne();
}

void AuditLog::Impl::SyncLoop() {
  while (true) {
    std::uint64_t target = 0;
    internal::WritableFile* f = nullptr;
    internal::Hash256 h;
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

}  // namespace consentry
