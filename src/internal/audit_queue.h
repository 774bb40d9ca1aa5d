// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The bounded multi-producer, single-consumer ring between the reading
// threads and the audit writer. Each slot carries a turn number (D. Vyukov's
// bounded queue): a producer claims position `pos` with one CAS on `tail_`,
// writes the slot and publishes it by storing `pos + 1` in its turn; the
// consumer takes slots in position order and hands each back by storing
// `pos + capacity`. No lock, no allocation for events that fit inline.
// The claimed position is the event's ordinal, so the log's sequence is
// known to the producer. Internal; never installed.

#ifndef CONSENTRY_SRC_INTERNAL_AUDIT_QUEUE_H_
#define CONSENTRY_SRC_INTERNAL_AUDIT_QUEUE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"

namespace consentry::internal {

class AuditQueue {
 public:
  static constexpr std::size_t kSlotSize = 256;
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> turn{0};
    std::uint32_t size = 0;
    char* heap = nullptr;  // owned; set when the event did not fit inline
    char data[kSlotSize - 24];

    absl::string_view payload() const {
      return absl::string_view(heap != nullptr ? heap : data, size);
    }
  };
  static_assert(sizeof(Slot) == kSlotSize);
  static constexpr std::size_t kInline = sizeof(Slot::data);

  // `capacity` is rounded up to a power of two, at least 2.
  explicit AuditQueue(std::size_t capacity) {
    std::size_t c = 2;
    while (c < capacity) c <<= 1;
    capacity_ = c;
    mask_ = c - 1;
    slots_ = std::make_unique<Slot[]>(c);
    for (std::size_t i = 0; i < c; ++i) {
      slots_[i].turn.store(i, std::memory_order_relaxed);
    }
  }
  ~AuditQueue() {
    for (std::size_t i = 0; i < capacity_; ++i) delete[] slots_[i].heap;
  }

  std::size_t capacity() const { return capacity_; }

  // Claims the next position. Returns false (queue full) without claiming.
  // On success the caller fills `*slot` and calls `Publish(*slot, *pos)`.
  bool TryClaim(std::uint64_t* pos, Slot** slot) {
    std::uint64_t p = tail_.load(std::memory_order_relaxed);
    while (true) {
      Slot& s = slots_[p & mask_];
      const std::uint64_t turn = s.turn.load(std::memory_order_acquire);
      const auto diff =
          static_cast<std::int64_t>(turn) - static_cast<std::int64_t>(p);
      if (diff == 0) {
        if (tail_.compare_exchange_weak(p, p + 1, std::memory_order_relaxed)) {
          // The next producer's slot: start fetching its lines for writing
          // so that the next claim does not wait on the memory.
          const char* next =
              reinterpret_cast<const char*>(&slots_[(p + 2) & mask_]);
          for (std::size_t line = 0; line < 128; line += 64) {
            __builtin_prefetch(next + line, 1);
          }
          *pos = p;
          *slot = &s;
          return true;
        }
      } else if (diff < 0) {
        return false;
      } else {
        p = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  // Sequentially consistent, like the consumer's `Ready`, so that a
  // producer's later seq_cst load of the consumer's idle flag and the
  // consumer's seq_cst store of it cannot both miss each other.
  static void Publish(Slot& slot, std::uint64_t pos) {
    slot.turn.store(pos + 1, std::memory_order_seq_cst);
  }

  // Consumer side. The slot at `pos` if it is published, else null.
  Slot* Ready(std::uint64_t pos) {
    Slot& s = slots_[pos & mask_];
    return s.turn.load(std::memory_order_seq_cst) == pos + 1 ? &s : nullptr;
  }
  // Hands the slot at `pos` back to the producers.
  void Release(Slot& slot, std::uint64_t pos) {
    delete[] slot.heap;
    slot.heap = nullptr;
    slot.turn.store(pos + capacity_, std::memory_order_release);
  }

  // Positions claimed so far (published or not).
  std::uint64_t claimed() const {
    return tail_.load(std::memory_order_acquire);
  }

 private:
  std::size_t capacity_ = 0;
  std::size_t mask_ = 0;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<std::uint64_t> tail_{0};
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_AUDIT_QUEUE_H_
