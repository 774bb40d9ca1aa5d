// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Read sections: reclamation by reference for the Guard's lock-free readers.
//
// A check reads a policy epoch, its consent cache's slot array and interned
// profiles without a lock. Whatever a writer unlinks (a retired epoch, a
// grown cache's old slot array, a profile no subject uses any more) may be
// freed or reused only once no reader can still hold it. Readers mark where
// they are with a `ReadSection` on the stack; a writer unlinks, starts a
// `Grace`, and frees once `Grace::Elapsed()`: every read section that was
// open when the grace started has closed since. No clock is involved; a
// reader stalled for an hour (a slow consent store) keeps what it reads.
//
// Cost for readers: each thread owns one counter word, whose low half
// counts the sections the thread is inside (nested ones included) and
// whose high half the outermost sections it has closed; entering and
// leaving are plain stores to it, with no atomic read-modify-write and no
// fence. The ordering a reader would need between announcing itself and
// loading the shared pointer is supplied by the writer: `Grace::Start`
// issues a process-wide memory barrier (Linux `membarrier`, private
// expedited), which runs a full fence on every thread of the process. Where
// that call is unavailable, readers fence themselves (decided once, before the
// first section opens).
//
// Sections nest (a section opened inside another costs as much as an
// outermost one). Thread-safe.

#ifndef CONSENTRY_SRC_INTERNAL_READ_SECTION_H_
#define CONSENTRY_SRC_INTERNAL_READ_SECTION_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "consentry/export.h"

namespace consentry::internal {

class CONSENTRY_EXPORT ReadSections {
 public:
  // One per thread that ever opened a section; recycled after the thread
  // exits, never freed.
  struct alignas(64) Record {
    // [closed:32][depth:32]: `depth`, the sections the owning thread is
    // inside (open while not 0); `closed`, how many outermost sections it
    // has closed (wrapping). Only that thread writes it.
    std::atomic<std::uint64_t> word{0};
    std::atomic<bool> in_use{false};
    Record* next = nullptr;
    // 0, 1, 2, ... in the order records were made; set before the record
    // is published and never changed.
    std::uint32_t index = 0;
  };
  static constexpr std::uint64_t kDepthMask = 0xFFFFFFFF;
  static constexpr std::uint64_t kClosedOne = std::uint64_t{1} << 32;

  struct ThreadState {
    // The thread's record once it has one and readers need no fence of
    // their own (`Asymmetric`); null otherwise, so that entering tests
    // one pointer for both (`ReadSection::Enter`).
    Record* fast;
    // The thread's record once claimed.
    Record* record;
  };

  // The calling thread's record, claimed on first use.
  static Record* Claim();
  // True when readers need no fence of their own (see the file comment).
  static bool Asymmetric() {
    return asymmetric_.load(std::memory_order_relaxed);
  }
  // Decides the barrier mode; idempotent.
  static void DecideMode();
  // Enters a section when `tls_.fast` is null: claims the thread's
  // record (first section) and fences when readers fence themselves.
  static void EnterSlow();
  // Runs a full memory barrier on every thread of the process.
  static void Barrier();
  static Record* Head() { return head_.load(std::memory_order_acquire); }

  // A small number for the calling thread, held by no other thread while
  // it runs: its record's `index` (a record passes to another thread only
  // after its thread exited). At most the number of records, i.e. the most
  // threads that were ever inside sections at the same time. Lets a reader
  // own a per-thread slot of a shared array and update it with plain
  // stores. REQUIRES: the caller is inside a `ReadSection`.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static std::uint32_t ThreadIndex() {
    return tls_.record->index;
  }

  // Initial-exec: read at a fixed offset from the thread pointer, without
  // a call to `__tls_get_addr` when the library is built shared.
  static constinit thread_local ThreadState tls_
      __attribute__((tls_model("initial-exec")));

 private:
  static std::atomic<Record*> head_;
  static std::atomic<bool> asymmetric_;
};

// Marks the calling thread as reading shared state until destroyed. Cheap:
// see the file comment. Not movable.
class ReadSection {
 public:
  ABSL_ATTRIBUTE_ALWAYS_INLINE ReadSection() { Enter(); }
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~ReadSection() { Exit(); }
  ReadSection(const ReadSection&) = delete;
  ReadSection& operator=(const ReadSection&) = delete;

  // What the constructor and destructor do, for code that opens a section
  // by hand (`TryEnter`). Every `Enter`, and every `TryEnter` that
  // returned a record, is matched by one `Exit` on the same thread.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static void Enter() {
    ReadSections::Record* const r = ReadSections::tls_.fast;
    if (ABSL_PREDICT_FALSE(r == nullptr)) {
      ReadSections::EnterSlow();
      return;
    }
    r->word.store(r->word.load(std::memory_order_relaxed) + 1,
                  std::memory_order_relaxed);
    // Keeps the compiler from moving the caller's loads above the store;
    // the writer's barrier orders it for the processor.
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  // `Enter` when it needs no call (the thread has its record and readers
  // need no fence): enters and returns the thread's record, for `Exit`;
  // else returns null, entering nothing.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static ReadSections::Record* TryEnter() {
    ReadSections::Record* const r = ReadSections::tls_.fast;
    if (ABSL_PREDICT_FALSE(r == nullptr)) return nullptr;
    r->word.store(r->word.load(std::memory_order_relaxed) + 1,
                  std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return r;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE static void Exit() {
    Exit(ReadSections::tls_.record);
  }
  // `Exit` with the thread's record (as `TryEnter` returned it).
  ABSL_ATTRIBUTE_ALWAYS_INLINE static void Exit(ReadSections::Record* r) {
    std::uint64_t w = r->word.load(std::memory_order_relaxed) - 1;
    // Leaving the outermost section counts it closed.
    if (ABSL_PREDICT_TRUE((w & ReadSections::kDepthMask) == 0)) {
      w += ReadSections::kClosedOne;
    }
    // Release: everything read inside the section happens before a writer
    // that sees the section closed frees it.
    r->word.store(w, std::memory_order_release);
  }
};

// A grace period: started after something was unlinked from every shared
// pointer, elapsed when every read section open at the start has closed.
class CONSENTRY_EXPORT Grace {
 public:
  // An elapsed grace (nothing to wait for).
  Grace() = default;
  // REQUIRES: the object to reclaim is no longer reachable from shared
  // pointers (stores to them happen before this call).
  static Grace Start();
  // True once every section open at `Start` has closed. Never blocks.
  bool Elapsed();

 private:
  struct Open {
    ReadSections::Record* record;
    std::uint64_t word;
  };
  std::vector<Open> open_;
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_READ_SECTION_H_
