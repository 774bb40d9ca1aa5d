// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A growable byte buffer whose growth is not zero-filled: the audit log's
// writer frames events into one (its pending batch) and encodes each
// segment's index into one, and writes every byte it grows by. A
// `std::string` zero-fills on `resize`, which for the writer was a memset
// per frame and one of 14 MiB per index. Recycled between the writer and
// the syncer, so that its pages are faulted in once, not per batch or per
// segment. Internal; never installed.
//
// Thread-compatible.

#ifndef CONSENTRY_SRC_AUDIT_AUDIT_BYTE_BUFFER_H_
#define CONSENTRY_SRC_AUDIT_AUDIT_BYTE_BUFFER_H_

#include <cstddef>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/string_view.h"

namespace consentry::internal {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(ByteBuffer&& o) noexcept
      : data_(std::move(o.data_)),
        size_(std::exchange(o.size_, 0)),
        capacity_(std::exchange(o.capacity_, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& o) noexcept {
    data_ = std::move(o.data_);
    size_ = std::exchange(o.size_, 0);
    capacity_ = std::exchange(o.capacity_, 0);
    return *this;
  }
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  absl::string_view view() const { return absl::string_view(data(), size_); }
  // Keeps the memory.
  void clear() { size_ = 0; }

  // Makes room for `n` bytes in all, keeping the first `size()`.
  void reserve(std::size_t n) {
    if (n > capacity_) Reallocate(n);
  }
  // Sets the size to `n`; bytes beyond the old size are uninitialised and
  // the caller writes them. Grows geometrically.
  void ResizeUninitialized(std::size_t n) {
    if (ABSL_PREDICT_FALSE(n > capacity_)) {
      Reallocate(n > 2 * capacity_ ? n : 2 * capacity_);
    }
    size_ = n;
  }
  // Grows by `n` uninitialised bytes; returns where they begin.
  char* Extend(std::size_t n) {
    const std::size_t at = size_;
    ResizeUninitialized(at + n);
    return data() + at;
  }
  // Sets the size to `n` <= `size()`.
  void Truncate(std::size_t n) { size_ = n; }
  void Append(absl::string_view bytes) {
    if (!bytes.empty())
      std::memcpy(Extend(bytes.size()), bytes.data(), bytes.size());
  }
  void swap(ByteBuffer& o) noexcept {
    data_.swap(o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
  }

 private:
  void Reallocate(std::size_t n) {
    // Default-initialised: not zero-filled.
    std::unique_ptr<char[]> fresh(new char[n]);
    if (size_ > 0) std::memcpy(fresh.get(), data_.get(), size_);
    data_ = std::move(fresh);
    capacity_ = n;
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_AUDIT_AUDIT_BYTE_BUFFER_H_
