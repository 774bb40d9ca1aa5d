// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/audit_log.h"

#include <fcntl.h>
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
#include "src/internal/audit_format.h"
#include "src/internal/audit_log_test_peer.h"
#include "src/internal/audit_queue.h"
#include "src/internal/mutex.h"
#include "src/internal/status_macros.h"

namespace consentry {

using internal::AuditQueue;
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

absl::Status WriteAll(int fd, const char* data, std::size_t n,
                      const std::string& path) {
  while (n > 0) {
    const ssize_t w = write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot write", path);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return absl::OkStatus();
}

// What a segment's frames say, walked from its header: used by `Open` to
// continue a log and to rebuild a missing index.
struct SegmentScan {
  Hash256 last_hash{};
  std::uint64_t next_sequence = 0;
  SegmentIndex index;
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
  scan.index.file_size = data.size();
  return scan;
}

}  // namespace

// ---------------------------------------------------------------------------
// AuditLog

struct AuditLog::Impl {
  explicit Impl(AuditLogOptions o)
      : options(std::move(o)), queue(options.queue_capacity) {}

  AuditLogOptions options;
  AuditQueue queue;
  std::uint64_t base_sequence = 0;  // sequence of queue position 0

  // Writer-thread state.
  std::unique_ptr<ChainHasher> hasher;
  int fd = -1;
  std::string seg_path;
  std::uint64_t seg_number = 0;
  std::uint64_t seg_size = 0;
  SegmentIndex index;
  Hash256 last_hash{};
  std::uint64_t head = 0;  // next queue position to take
  std::string buf;

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
  std::uint64_t flush_target ABSL_GUARDED_BY(mu) = 0;
  bool stop ABSL_GUARDED_BY(mu) = false;
  bool writer_done ABSL_GUARDED_BY(mu) = false;
  std::uint64_t space_generation ABSL_GUARDED_BY(mu) = 0;
  // The syncer thread: fdatasync runs there, so that the writer frames and
  // writes the next batch while the disk flushes the previous one.
  std::thread syncer;
  internal::CondVar sync_cv;
  std::uint64_t sync_requested ABSL_GUARDED_BY(mu) = 0;  // queue position
  std::uint64_t sync_taken ABSL_GUARDED_BY(mu) = 0;
  int sync_fd ABSL_GUARDED_BY(mu) = -1;
  Hash256 sync_hash ABSL_GUARDED_BY(mu){};
  bool syncing ABSL_GUARDED_BY(mu) = false;
  bool syncer_stop ABSL_GUARDED_BY(mu) = false;
  Hash256 head_hash ABSL_GUARDED_BY(mu){};
  bool close_called = false;  // Close is not concurrent with itself
  absl::Status close_status;

  absl::Status Enqueue(const AuditEvent& e, std::uint64_t* sequence);
  void WakeWriter();
  void Run();
  absl::Status OpenSegment(std::uint64_t number, std::uint64_t first_sequence);
  absl::Status SealSegment();
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
  fd = open(seg_path.c_str(),
            O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create segment", seg_path);
  SegmentHeader h;
  h.flags = hasher->keyed() ? internal::kFlagKeyed : 0;
  h.number = number;
  h.first_sequence = first_sequence;
  h.prev_hash = last_hash;
  char bytes[internal::kSegmentHeaderSize];
  internal::EncodeSegmentHeader(h, bytes);
  RETURN_IF_ERROR(WriteAll(fd, bytes, sizeof(bytes), seg_path));
  if (fdatasync(fd) != 0) return ErrnoStatus("cannot sync", seg_path);
  RETURN_IF_ERROR(internal::SyncDirectory(options.directory));
  seg_size = sizeof(bytes);
  index = SegmentIndex{};
  index.segment_number = number;
  index.first_sequence = first_sequence;
  return absl::OkStatus();
}

absl::Status AuditLog::Impl::SealSegment() {
  if (fd < 0) return absl::OkStatus();
  RETURN_IF_ERROR(Sync());
  close(fd);
  fd = -1;
  index.file_size = seg_size;
  sealed.fetch_add(1, std::memory_order_relaxed);
  // The index is an accelerator: queries scan a segment without one.
  return internal::WriteFileAtomically(
      options.directory, internal::IndexFileName(seg_number), index.Encode());
}

// Synchronous: waits for the syncer to be idle (it may hold `fd`), drops
// its pending request (covered by this sync) and syncs here.
absl::Status AuditLog::Impl::Sync() {
  {
    internal::MutexLock lock(&mu);
    durable_cv.Wait(&mu,
                    [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !syncing; });
    sync_requested = std::max(sync_requested, head);
    sync_taken = sync_requested;
  }
  if (fd >= 0 && fdatasync(fd) != 0) {
    return ErrnoStatus("cannot sync", seg_path);
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
  sync_fd = fd;
  sync_hash = last_hash;
  sync_cv.NotifyOne();
}

void AuditLog::Impl::SyncLoop() {
  while (true) {
    std::uint64_t target = 0;
    int f = -1;
    Hash256 h;
    std::string path;
    {
      internal::MutexLock lock(&mu);
      sync_cv.Wait(&mu, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return syncer_stop || sync_requested > sync_taken;
      });
      if (sync_requested <= sync_taken) return;  // stopping, nothing asked
      target = sync_requested;
      f = sync_fd;
      h = sync_hash;
      sync_taken = target;
      syncing = true;
    }
    const bool ok = fdatasync(f) == 0;
    const int e = errno;
    internal::MutexLock lock(&mu);
    syncing = false;
    if (!ok) {
      failed.store(true, std::memory_order_release);
      if (error.ok()) {
        error = absl::InternalError(
            absl::StrCat("audit log: cannot sync segment: ", std::strerror(e)));
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

absl::Status AuditLog::Impl::DrainBatch(std::size_t* taken) {
  buf.clear();
  std::size_t n = 0;
  while (n < options.max_batch_events) {
    AuditQueue::Slot* slot = queue.Ready(head);
    if (slot == nullptr) break;
    const absl::string_view payload = slot->payload();
    const std::size_t worst = internal::kFrameOverhead + payload.size() +
                              internal::kMaxSequenceFieldSize;
    if (seg_size + buf.size() + worst > options.segment_bytes &&
        index.records > 0) {
      RETURN_IF_ERROR(WriteAll(fd, buf.data(), buf.size(), seg_path));
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
    queue.Release(*slot, head);
    ++head;
    ++n;
  }
  if (!buf.empty()) {
    RETURN_IF_ERROR(WriteAll(fd, buf.data(), buf.size(), seg_path));
    seg_size += buf.size();
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
  std::uint64_t requested = head;  // position last handed to the syncer
  // Polls of an empty queue since the last event; after kPollsBeforeIdle
  // the writer sleeps until woken.
  constexpr int kPollsBeforeIdle = 50;
  constexpr auto kPollPeriod = std::chrono::microseconds(200);
  int empty_polls = 0;
  while (true) {
    if (ABSL_PREDICT_FALSE(failed.load(std::memory_order_acquire))) break;
    if (ABSL_PREDICT_FALSE(
            paused_for_testing.load(std::memory_order_acquire))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
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
    bool want_flush = false;
    bool stopping = false;
    {
      internal::MutexLock lock(&mu);
      want_flush = flush_target > sync_requested;
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
    if (n > 0) {
      empty_polls = 0;
      continue;
    }
    if (stopping && head == queue.claimed()) break;
    if (!stopping && empty_polls < kPollsBeforeIdle) {
      // Recently busy: poll for a while rather than make every producer
      // pay for a wake-up (a lock and a futex call) on each event.
      ++empty_polls;
      internal::MutexLock lock(&mu);
      writer_cv.WaitFor(&mu, kPollPeriod, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stop || flush_target > sync_requested;
      });
      continue;
    }
    // Idle: sleep until a producer publishes, a flush or stop is asked, or
    // the sync interval ends. A producer that sees `writer_idle` wakes us;
    // seq_cst on both sides makes sure one of the two sees the other.
    writer_idle.store(true, std::memory_order_seq_cst);
    const absl::Duration wait =
        head > requested
            ? std::max(absl::ZeroDuration(),
                       options.sync_interval - (absl::Now() - last_sync))
            : absl::Milliseconds(stopping ? 1 : 200);
    {
      internal::MutexLock lock(&mu);
      writer_cv.WaitFor(&mu, absl::ToChronoNanoseconds(wait),
                        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
                          return queue.Ready(head) != nullptr ||
                                 stop != stopping ||
                                 flush_target > sync_requested;
                        });
    }
    writer_idle.store(false, std::memory_order_relaxed);
  }
  absl::Status s = failed.load() ? absl::OkStatus() : SealSegment();
  if (!s.ok()) Fail(std::move(s));
  StopSyncer();
  if (fd >= 0) {
    close(fd);
    fd = -1;
  }
  internal::MutexLock lock(&mu);
  writer_done = true;
  head_hash = last_hash;
  durable_cv.NotifyAll();
  space_cv.NotifyAll();
}

void AuditLog::Impl::WakeWriter() {
  internal::MutexLock lock(&mu);
  writer_cv.NotifyOne();
}

absl::Status AuditLog::Impl::Enqueue(const AuditEvent& e,
                                     std::uint64_t* sequence) {
  if (ABSL_PREDICT_FALSE(failed.load(std::memory_order_acquire))) {
    internal::MutexLock lock(&mu);
    return absl::UnavailableError(
        absl::StrCat("audit log: the writer failed: ", error.message()));
  }
  if (ABSL_PREDICT_FALSE(closed.load(std::memory_order_acquire))) {
    return absl::FailedPreconditionError("audit log: closed");
  }
  const std::size_t size = internal::EncodedEventSize(e);
  std::uint64_t pos = 0;
  AuditQueue::Slot* slot = nullptr;
  if (ABSL_PREDICT_FALSE(!queue.TryClaim(&pos, &slot))) {
    if (options.overflow == AuditOverflowPolicy::kDeny) {
      denied.fetch_add(1, std::memory_order_relaxed);
      return absl::ResourceExhaustedError(absl::StrCat(
          "audit log: queue full (", queue.capacity(), " events)"));
    }
    blocked.fetch_add(1, std::memory_order_relaxed);
    space_waiters.fetch_add(1, std::memory_order_acq_rel);
    while (!queue.TryClaim(&pos, &slot)) {
      if (failed.load(std::memory_order_acquire)) {
        space_waiters.fetch_sub(1, std::memory_order_acq_rel);
        return absl::UnavailableError("audit log: the writer failed");
      }
      internal::MutexLock lock(&mu);
      writer_cv.NotifyOne();
      const std::uint64_t generation = space_generation;
      // The timeout bounds a missed wake-up; the loop re-checks the ring.
      space_cv.WaitFor(&mu, std::chrono::milliseconds(1),
                       [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
                         return space_generation != generation || !error.ok();
                       });
    }
    space_waiters.fetch_sub(1, std::memory_order_acq_rel);
  }
  char* out = slot->data;
  if (ABSL_PREDICT_FALSE(size > AuditQueue::kInline)) {
    slot->heap = new char[size];
    out = slot->heap;
  }
  internal::EncodeEvent(e, out);
  slot->size = static_cast<std::uint32_t>(size);
  AuditQueue::Publish(*slot, pos);
  // Publish and this load are seq_cst, as are the writer's store of
  // `writer_idle` and its `Ready` check: one of the two sides sees the other.
  if (ABSL_PREDICT_FALSE(writer_idle.load(std::memory_order_seq_cst))) {
    WakeWriter();
  }
  if (sequence != nullptr) *sequence = base_sequence + pos;
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
  if (options.max_batch_events == 0) {
    return absl::InvalidArgumentError("AuditLog::Open: max_batch_events is 0");
  }
  if (mkdir(options.directory.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus("cannot create directory", options.directory);
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  const std::string& dir = impl->options.directory;
  ASSIGN_OR_RETURN(impl->hasher, ChainHasher::Create(impl->options.hmac_key));
  ASSIGN_OR_RETURN(std::vector<std::uint64_t> segments,
                   internal::ListSegments(dir));
  std::uint64_t next_number = 0;
  if (!segments.empty()) {
    const std::uint64_t last = segments.back();
    ASSIGN_OR_RETURN(
        SegmentScan scan,
        ScanLastSegment(PathOf(dir, internal::SegmentFileName(last)), last,
                        *impl->hasher));
    impl->last_hash = scan.last_hash;
    impl->base_sequence = scan.next_sequence;
    struct stat st;
    const std::string idx = PathOf(dir, internal::IndexFileName(last));
    if (stat(idx.c_str(), &st) != 0) {
      RETURN_IF_ERROR(internal::WriteFileAtomically(
          dir, internal::IndexFileName(last), scan.index.Encode()));
    }
    next_number = last + 1;
  }
  RETURN_IF_ERROR(impl->OpenSegment(next_number, impl->base_sequence));
  {
    internal::MutexLock lock(&impl->mu);
    impl->head_hash = impl->last_hash;
  }
  Impl* raw = impl.get();
  impl->syncer = std::thread([raw] { raw->SyncLoop(); });
  impl->writer = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

namespace internal {
void AuditLogTestPeer::PauseWriter(AuditLog& log, bool paused) {
  log.impl_->paused_for_testing.store(paused, std::memory_order_release);
}
}  // namespace internal

AuditLog::~AuditLog() { Close().IgnoreError(); }

absl::Status AuditLog::Record(const AuditEvent& event) {
  return impl_->Enqueue(event, nullptr);
}

absl::StatusOr<std::uint64_t> AuditLog::Append(const AuditEvent& event) {
  std::uint64_t sequence = 0;
  RETURN_IF_ERROR(impl_->Enqueue(event, &sequence));
  return sequence;
}

absl::Status AuditLog::Flush() {
  if (impl_->closed.load(std::memory_order_acquire)) {
    return absl::FailedPreconditionError("audit log: closed");
  }
  const std::uint64_t target = impl_->queue.claimed();
  internal::MutexLock lock(&impl_->mu);
  impl_->flush_target = std::max(impl_->flush_target, target);
  impl_->writer_cv.NotifyOne();
  impl_->durable_cv.Wait(&impl_->mu, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return impl_->durable_pos.load(std::memory_order_acquire) >= target ||
           !impl_->error.ok() || impl_->writer_done;
  });
  if (!impl_->error.ok()) return impl_->error;
  if (impl_->durable_pos.load(std::memory_order_acquire) < target) {
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
  internal::MutexLock lock(&impl_->mu);
  impl_->close_status = impl_->error;
  return impl_->close_status;
}

AuditLogCounters AuditLog::counters() const {
  AuditLogCounters c;
  c.enqueued = impl_->queue.claimed();
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
