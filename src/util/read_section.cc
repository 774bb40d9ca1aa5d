// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/util/read_section.h"

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <cstdlib>

namespace consentry::internal {
namespace {

#if defined(__linux__) && defined(__NR_membarrier)
long Membarrier(int cmd) {
  return syscall(__NR_membarrier, cmd, 0, 0);  // NOLINT: no libc wrapper
}
#endif

#if defined(__SANITIZE_THREAD__)
#define CONSENTRY_READ_SECTION_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CONSENTRY_READ_SECTION_TSAN 1
#endif
#endif

// Whether writers can fence for readers.
bool InitAsymmetric() {
#if defined(__linux__) && defined(__NR_membarrier) && \
    !defined(CONSENTRY_READ_SECTION_TSAN)
  const long cmds = Membarrier(MEMBARRIER_CMD_QUERY);
  if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return Membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#else
  // ThreadSanitizer does not model the system call: readers fence.
  return false;
#endif
}

// Releases the thread's record when the thread exits.
struct Releaser {
  ~Releaser() {
    ReadSections::Record* r = ReadSections::tls_.record;
    if (r != nullptr) {
      ReadSections::tls_.fast = nullptr;
      ReadSections::tls_.record = nullptr;
      r->in_use.store(false, std::memory_order_release);
    }
  }
};

}  // namespace

constinit thread_local ReadSections::ThreadState ReadSections::tls_
    __attribute__((tls_model("initial-exec"))) = {nullptr, nullptr};
std::atomic<ReadSections::Record*> ReadSections::head_{nullptr};
std::atomic<bool> ReadSections::asymmetric_{false};

void ReadSections::DecideMode() {
  // Decided once, before the first section opens and the first grace
  // starts: readers and writers always agree on who fences.
  static const bool asymmetric = [] {
    const bool a = InitAsymmetric();
    asymmetric_.store(a, std::memory_order_relaxed);
    return a;
  }();
  (void)asymmetric;
}

ReadSections::Record* ReadSections::Claim() {
  DecideMode();
  thread_local Releaser releaser;
  (void)releaser;
  for (Record* r = head_.load(std::memory_order_acquire); r != nullptr;
       r = r->next) {
    bool expected = false;
    if (!r->in_use.load(std::memory_order_relaxed) &&
        r->in_use.compare_exchange_strong(expected, true,
                                          std::memory_order_acq_rel)) {
      return r;
    }
  }
  static std::atomic<std::uint32_t> records{0};
  auto* r = new Record;  // never freed: readers of `head_` may hold it
  r->index = records.fetch_add(1, std::memory_order_relaxed);
  r->in_use.store(true, std::memory_order_relaxed);
  Record* head = head_.load(std::memory_order_relaxed);
  do {
    r->next = head;
  } while (!head_.compare_exchange_weak(head, r, std::memory_order_acq_rel));
  return r;
}

void ReadSections::EnterSlow() {
  Record* r = tls_.record;
  if (r == nullptr) {
    r = tls_.record = Claim();
    if (Asymmetric()) tls_.fast = r;
  }
  r->word.store(r->word.load(std::memory_order_relaxed) + 1,
                std::memory_order_relaxed);
  if (Asymmetric()) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

void ReadSections::Barrier() {
  if (Asymmetric()) {
#if defined(__linux__) && defined(__NR_membarrier)
    if (Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return;
#endif
    // Registered, yet refused: cannot happen on a kernel that accepted the
    // registration. Fail safe all the same.
    std::abort();
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

Grace Grace::Start() {
  ReadSections::DecideMode();
  std::atomic_thread_fence(std::memory_order_seq_cst);
  ReadSections::Barrier();
  Grace g;
  for (ReadSections::Record* r = ReadSections::Head(); r != nullptr;
       r = r->next) {
    const std::uint64_t w = r->word.load(std::memory_order_acquire);
    if ((w & ReadSections::kDepthMask) != 0) g.open_.push_back(Open{r, w});
  }
  return g;
}

bool Grace::Elapsed() {
  while (!open_.empty()) {
    const Open& o = open_.back();
    // Still open while it has closed no outermost section since `Start`
    // (the count changes only when the thread leaves its outermost one;
    // after 2^32 closes it may read as unchanged: the grace only waits
    // longer).
    const std::uint64_t w = o.record->word.load(std::memory_order_acquire);
    if ((w >> 32) == (o.word >> 32)) return false;
    open_.pop_back();
  }
  return true;
}

}  // namespace consentry::internal
