// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The Guard's consent cache: subject id -> SubjectState, read without locks.
//
// An open-addressing table of (hash, entry pointer) slots. Entries are
// allocated once per subject and never freed before the cache; their state is
// published with a sequence lock, so readers copy a consistent state without
// writing shared memory. Writers (store listener, cache fills) serialize on
// one mutex. Growth builds a bigger slot array and publishes it atomically;
// old arrays are kept until the cache dies (their total is below the
// current one's size).

#ifndef CONSENTRY_SRC_INTERNAL_CONSENT_CACHE_H_
#define CONSENTRY_SRC_INTERNAL_CONSENT_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "src/internal/mutex.h"
#include "src/internal/subject_state.h"

namespace consentry::internal {

class ConsentCache {
 public:
  explicit ConsentCache(std::size_t expected_subjects = 0);
  ~ConsentCache();
  ConsentCache(const ConsentCache&) = delete;
  ConsentCache& operator=(const ConsentCache&) = delete;

  static std::uint64_t Hash(absl::string_view key) {
    return absl::Hash<absl::string_view>{}(key);
  }

  // Copies the state of `key` into `*out`. Lock-free; wait-free unless a
  // writer updates this very entry concurrently. Returns false on a miss.
  bool Lookup(absl::string_view key, std::uint64_t hash,
              SubjectState* out) const {
    const Table* t = table_.load(std::memory_order_acquire);
    std::size_t i = static_cast<std::size_t>(hash) & t->mask;
    for (;;) {
      const Slot& slot = t->slots[i];
      const Entry* e = slot.entry.load(std::memory_order_acquire);
      if (e == nullptr) return false;
      if (slot.hash == hash && e->key() == key) {
        e->Read(out);
        return true;
      }
      i = (i + 1) & t->mask;
    }
  }

  // Stores `state` for `key` when its revision is newer than the cached
  // one, or equal and `replace_same_revision` (a recompile after expiry).
  // Returns true when stored.
  bool Upsert(absl::string_view key, const SubjectState& state,
              bool replace_same_revision);

  std::size_t size() const { return size_.load(std::memory_order_relaxed); }

  // Bytes allocated for entries and slot arrays (for the memory benchmark).
  std::size_t MemoryBytes() const;

 private:
  static constexpr int kWords = 9;

  struct Entry {
    mutable std::atomic<std::uint32_t> seq{0};
    std::uint32_t key_len = 0;
    std::atomic<std::uint64_t> words[kWords];
    // The key follows the struct in the same allocation.

    absl::string_view key() const {
      return absl::string_view(reinterpret_cast<const char*>(this + 1), key_len);
    }
    void Read(SubjectState* out) const;
    void Write(const SubjectState& s);
  };
  struct Slot {
    std::uint64_t hash = 0;  // written before `entry` is published
    std::atomic<Entry*> entry{nullptr};
  };
  struct Table {
    std::size_t mask;
    std::unique_ptr<Slot[]> slots;
  };

  static Entry* NewEntry(absl::string_view key);
  static void InsertSlot(Table* t, std::uint64_t hash, Entry* e);
  Entry* FindLocked(absl::string_view key, std::uint64_t hash) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void GrowLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::atomic<Table*> table_;
  std::atomic<std::size_t> size_{0};
  mutable Mutex mu_;
  std::vector<std::unique_ptr<Table>> tables_ ABSL_GUARDED_BY(mu_);
  std::size_t entry_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_CONSENT_CACHE_H_
