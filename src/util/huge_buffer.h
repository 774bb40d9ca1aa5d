// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Zeroed memory for large, randomly accessed arrays (the consent cache's
// slots and key arena), backed by transparent huge pages where the kernel
// offers them: a check touches one random slot and one random key, and with
// 4 KiB pages each touch is also a TLB miss.

#ifndef CONSENTRY_SRC_INTERNAL_HUGE_BUFFER_H_
#define CONSENTRY_SRC_INTERNAL_HUGE_BUFFER_H_

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

namespace consentry::internal {

class HugeBuffer {
 public:
  HugeBuffer() = default;
  // Zeroed memory of at least `bytes`. Aborts on allocation failure, as
  // operator new would.
  explicit HugeBuffer(std::size_t bytes) {
    constexpr std::size_t kHuge = std::size_t{2} << 20;
    size_ = bytes < kHuge ? bytes : (bytes + kHuge - 1) / kHuge * kHuge;
    if (size_ < kHuge) {
      void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();  // never caught: terminates
      data_ = p;
      return;
    }
    // Huge pages need 2 MiB alignment: map one huge page more and trim.
    void* raw = mmap(nullptr, size_ + kHuge, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();  // never caught: terminates
    const auto begin = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (begin + kHuge - 1) & ~(kHuge - 1);
    if (aligned > begin) munmap(raw, aligned - begin);
    const std::uintptr_t end = begin + size_ + kHuge;
    if (end > aligned + size_) {
      munmap(reinterpret_cast<void*>(aligned + size_), end - (aligned + size_));
    }
    data_ = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
    madvise(data_, size_, MADV_HUGEPAGE);
#endif
  }
  ~HugeBuffer() {
    if (data_ != nullptr) munmap(data_, size_);
  }
  HugeBuffer(HugeBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)) {}
  HugeBuffer& operator=(HugeBuffer&& o) noexcept {
    if (this != &o) {
      if (data_ != nullptr) munmap(data_, size_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;

  void* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_HUGE_BUFFER_H_
