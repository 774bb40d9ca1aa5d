// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// One reading thread's queue to the audit writer: a single-producer,
// single-consumer byte ring. Each thread that records into an `AuditLog`
// gets a lane of its own, so the caller's path has no read-modify-write
// instruction and no fence: it writes the encoded event into memory that
// only it writes, and publishes it with a release store of its tail (a
// plain store on x86). The writer only reads records and publishes its own
// head on a separate cache line; the producer reads that head only when its
// cached copy says the lane is full.
//
// Records are 8-byte aligned: a header (u32 payload size, u32 flags), then
// the payload, or for `kHeap` a pointer to a heap copy of it. A record never
// wraps: when one does not fit before the end of the ring, the producer
// writes a `kPad` header (or nothing, when exactly at the end) and starts at
// offset 0. The lane is bounded both in bytes and in events.
// Internal; never installed.

#ifndef CONSENTRY_SRC_INTERNAL_AUDIT_LANE_H_
#define CONSENTRY_SRC_INTERNAL_AUDIT_LANE_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/base/optimization.h"
#include "absl/strings/string_view.h"
#include "src/util/huge_buffer.h"

namespace consentry::internal {

class AuditLane {
 public:
  static constexpr std::uint32_t kPad = 1;     // skip to the ring's end
  static constexpr std::uint32_t kHeap = 2;    // payload is a heap pointer
  static constexpr std::uint32_t kTicket = 4;  // followed by a ticket pointer
  // Flags from this bit up are the caller's, handed back by `Peek`.
  static constexpr std::uint32_t kFirstUserFlag = 256;
  static constexpr std::size_t kHeaderSize = 8;

  static std::size_t Round8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

  // Bytes a lane allots per event of its capacity: a typical encoded event
  // (about 100 bytes) with its header.
  static constexpr std::size_t kBytesPerEvent = 128;

  // Room for `max_events` events of `kBytesPerEvent` bytes, rounded up to a
  // power of two.
  explicit AuditLane(std::size_t max_events) : max_events_(max_events) {
    std::size_t bytes = 256;
    while (bytes < max_events * kBytesPerEvent) bytes <<= 1;
    capacity_ = bytes;
    mask_ = bytes - 1;
    // Payloads above this go to the heap, so that a few long events cannot
    // stall a small lane.
    max_inline_ = std::min<std::size_t>(bytes / 2, 2048);
    // Untouched pages cost nothing; a large lane is backed by huge pages.
    ring_buffer_ = HugeBuffer(bytes);
    ring_ = static_cast<char*>(ring_buffer_.data());
  }
  ~AuditLane() { ReleaseAll(); }
  AuditLane(const AuditLane&) = delete;
  AuditLane& operator=(const AuditLane&) = delete;

  std::size_t max_events() const { return max_events_; }

  // --- producer ------------------------------------------------------------

  // Makes room for a record whose payload is at most `bound` bytes; false
  // when the lane is full. `*payload` is where to write the payload inline,
  // or null when it is too long for the lane: the caller then writes it
  // into a heap buffer and hands that to `Commit`.
  bool Reserve(std::size_t bound, bool ticket, char** payload) {
    const bool inline_payload = bound <= max_inline_;
    const std::size_t need = kHeaderSize +
                             (inline_payload ? Round8(bound) : sizeof(char*)) +
                             (ticket ? sizeof(void*) : 0);
    if (ABSL_PREDICT_FALSE(count_ - cached_head_count_ >= max_events_ ||
                           !Fits(need))) {
      cached_head_ = head_.load(std::memory_order_acquire);
      cached_head_count_ = head_count_.load(std::memory_order_acquire);
      if (count_ - cached_head_count_ >= max_events_ || !Fits(need)) {
        return false;
      }
    }
    const std::size_t at = tail_local_ & mask_;
    if (at + need > capacity_) {
      // Not enough room before the end: pad to it (Fits counted the pad).
      PutU32(ring_ + at, 0);
      PutU32(ring_ + at + 4, kPad);
      tail_local_ += capacity_ - at;
    }
    record_ = ring_ + (tail_local_ & mask_);
    record_inline_ = inline_payload;
    record_ticket_ = ticket;
    *payload = inline_payload ? record_ + kHeaderSize : nullptr;
    return true;
  }

  // Publishes the record begun by `Reserve`: `size` bytes of payload
  // (inline, or in `heap`, which the lane then owns), and for a ticket the
  // pointer the writer fills in.
  void Commit(std::size_t size, char* heap, void* ticket,
              std::uint32_t user_flags = 0) {
    char* r = record_;
    std::uint32_t flags = user_flags;
    std::size_t body = Round8(size);
    if (!record_inline_) {
      flags |= kHeap;
      std::memcpy(r + kHeaderSize, &heap, sizeof(heap));
      body = sizeof(char*);
    }
    if (record_ticket_) {
      flags |= kTicket;
      std::memcpy(r + kHeaderSize + body, &ticket, sizeof(ticket));
      body += sizeof(void*);
    }
    PutHeader(r, size, flags);
    PublishFast(kHeaderSize + body);
  }

  // `Reserve` and `Commit` in one, for the common record: `need` bytes with
  // the header (a multiple of 8; a payload of at most `kFastMaxPayload`
  // bytes, which every lane takes inline), no ticket, and room before the
  // ring's end by the consumer's head as last seen. Returns where to write
  // the record, or null when any of that does not hold (then `Reserve`
  // decides). The caller writes the header with `PutHeader` and the
  // payload after it, then makes the record visible with `PublishFast`.
  static constexpr std::size_t kFastMaxPayload = 128;
  char* TryReserveFast(std::size_t need) const {
    const std::size_t at = tail_local_ & mask_;
    if (ABSL_PREDICT_FALSE(count_ - cached_head_count_ >= max_events_ ||
                           tail_local_ + need - cached_head_ > capacity_ ||
                           at + need > capacity_)) {
      return nullptr;
    }
    return ring_ + at;
  }
  static void PutHeader(char* record, std::size_t size, std::uint32_t flags) {
    PutU32(record, static_cast<std::uint32_t>(size));
    PutU32(record + 4, flags);
  }
  void PublishFast(std::size_t need) {
    tail_local_ += need;
    ++count_;
    Publish(tail_local_);
  }

  // Events published so far (any thread; a snapshot).
  std::uint64_t published() const {
    return tail_count_.load(std::memory_order_acquire);
  }

  // --- consumer ------------------------------------------------------------

  struct Record {
    absl::string_view payload;
    void* ticket = nullptr;
    std::uint32_t user_flags = 0;
  };

  // The consumer's view of the producer's tail.
  std::uint64_t tail() const { return tail_.load(std::memory_order_acquire); }
  std::uint64_t consumed() const { return head_local_; }
  std::uint64_t consumed_count() const { return head_count_local_; }

  // Reads the record at the consumer's head, which is below `tail`
  // (from `tail()`). Skips padding. Returns false when none is left.
  bool Peek(std::uint64_t tail, Record* out) {
    while (head_local_ < tail) {
      const char* r = ring_ + (head_local_ & mask_);
      const std::uint32_t flags = GetU32(r + 4);
      if (flags & kPad) {
        head_local_ += capacity_ - (head_local_ & mask_);
        continue;
      }
      const std::uint32_t size = GetU32(r);
      std::size_t body = Round8(size);
      const char* payload = r + kHeaderSize;
      if (flags & kHeap) {
        char* heap;
        std::memcpy(&heap, r + kHeaderSize, sizeof(heap));
        payload = heap;
        body = sizeof(char*);
      }
      out->payload = absl::string_view(payload, size);
      out->ticket = nullptr;
      out->user_flags = flags & ~(kFirstUserFlag - 1);
      if (flags & kTicket) {
        std::memcpy(&out->ticket, r + kHeaderSize + body, sizeof(void*));
      }
      return true;
    }
    return false;
  }
  // Drops the record `Peek` returned (freeing a heap payload). The space
  // goes back to the producer at the next `Publish`.
  void Pop() {
    const char* r = ring_ + (head_local_ & mask_);
    const std::uint32_t flags = GetU32(r + 4);
    std::size_t body = Round8(GetU32(r));
    if (flags & kHeap) {
      char* heap;
      std::memcpy(&heap, r + kHeaderSize, sizeof(heap));
      delete[] heap;
      body = sizeof(char*);
    }
    if (flags & kTicket) body += sizeof(void*);
    head_local_ += kHeaderSize + body;
    ++head_count_local_;
  }
  // Hands the space of the popped records back to the producer.
  void Publish() {
    head_count_.store(head_count_local_, std::memory_order_release);
    head_.store(head_local_, std::memory_order_release);
  }

  // Frees heap payloads still queued (the lane is being destroyed).
  void ReleaseAll() {
    const std::uint64_t t = tail_.load(std::memory_order_acquire);
    Record r;
    while (Peek(t, &r)) Pop();
  }

  // Set (release) by the producer's thread when it exits; its records stay
  // readable.
  std::atomic<bool> orphaned{false};

 private:
  // Asks for the line at `p` in the state a store needs (exclusive), so
  // that the store does not wait for the writer's core to give up its copy.
  // `__builtin_prefetch(p, 1)` emits a plain read prefetch unless the whole
  // build targets a CPU with PRFCHW; the instruction itself is safe on every
  // x86-64 (where it is missing, it executes as a no-op).
  static void PrefetchForWrite(const char* p) {
#if defined(__x86_64__)
    asm volatile("prefetchw %0" : : "m"(*p));
#else
    __builtin_prefetch(p, 1);
#endif
  }
  // Makes the records up to `tail` visible to the consumer.
  void Publish(std::uint64_t tail) {
    tail_count_.store(count_, std::memory_order_relaxed);
    tail_.store(tail, std::memory_order_release);
    // Start the write-ownership transfer of the lines the next records will
    // use: the writer has read them a lap ago.
    const char* ahead = ring_ + ((tail + 1024) & mask_);
    PrefetchForWrite(ahead);
    PrefetchForWrite(ahead + 64);
  }
  static void PutU32(char* p, std::uint32_t v) { std::memcpy(p, &v, 4); }
  static std::uint32_t GetU32(const char* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  // Whether `need` bytes fit at the tail, counting a pad to the ring's end.
  bool Fits(std::size_t need) const {
    const std::size_t at = tail_local_ & mask_;
    const std::size_t pad = at + need > capacity_ ? capacity_ - at : 0;
    return tail_local_ + pad + need - cached_head_ <= capacity_;
  }

  std::size_t max_events_ = 0;
  std::size_t capacity_ = 0;
  std::size_t mask_ = 0;
  std::size_t max_inline_ = 0;
  HugeBuffer ring_buffer_;
  char* ring_ = nullptr;

  // Producer's line.
  alignas(64) std::uint64_t tail_local_ = 0;
  std::uint64_t count_ = 0;
  std::uint64_t cached_head_ = 0;
  std::uint64_t cached_head_count_ = 0;
  char* record_ = nullptr;
  bool record_inline_ = false;
  bool record_ticket_ = false;
  // Read by the consumer (and `published`).
  alignas(64) std::atomic<std::uint64_t> tail_{0};
  std::atomic<std::uint64_t> tail_count_{0};
  // Consumer's line.
  alignas(64) std::uint64_t head_local_ = 0;
  std::uint64_t head_count_local_ = 0;
  // Read by the producer when it finds the lane full.
  alignas(64) std::atomic<std::uint64_t> head_{0};
  std::atomic<std::uint64_t> head_count_{0};
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_AUDIT_LANE_H_
