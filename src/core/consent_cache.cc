// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/core/consent_cache.h"

#include <algorithm>

namespace consentry::internal {
namespace {

// Load factor at most 4/5: linear probing stays short (about three slots
// for a hit), and a presized table costs 40 bytes per subject.
std::size_t CapacityFor(std::size_t subjects) {
  return std::max<std::size_t>(16, subjects + subjects / 4 + 1);
}

bool Full(std::size_t size, std::size_t capacity) {
  return size * 5 > capacity * 4;
}

}  // namespace

ConsentCache::ConsentCache(std::size_t expected_subjects,
                           std::uint32_t max_profiles)
    : chunks_(new std::atomic<char*>[kMaxChunks]),
      profile_chunks_(new std::atomic<SubjectProfile*>[kMaxProfileChunks]),
      max_profiles_(std::min(max_profiles, kMaxProfiles)) {
  for (std::size_t i = 0; i < kMaxChunks; ++i) chunks_[i].store(nullptr);
  for (std::size_t i = 0; i < kMaxProfileChunks; ++i) {
    profile_chunks_[i].store(nullptr);
  }
  auto t = std::make_unique<Table>(CapacityFor(expected_subjects));
  table_.store(t.get(), std::memory_order_release);
  MutexLock lock(&mu_);
  current_table_ = std::move(t);
}

ConsentCache::~ConsentCache() {
  for (std::size_t i = 0; i < kMaxProfileChunks; ++i) {
    delete[] profile_chunks_[i].load();
  }
}

bool ConsentCache::AppendKeyLocked(absl::string_view key,
                                   std::uint64_t* offset) {
  if (chunk_count_ == 0 || chunk_used_ + key.size() > kChunkSize) {
    if (chunk_count_ == kMaxChunks) return false;
    chunk_memory_.emplace_back(kChunkSize);
    chunks_[chunk_count_].store(static_cast<char*>(chunk_memory_.back().data()),
                                std::memory_order_release);
    ++chunk_count_;
    // Offset 0 is never used, so that a key_ref is never 0.
    chunk_used_ = chunk_count_ == 1 ? 1 : 0;
  }
  char* chunk = chunks_[chunk_count_ - 1].load(std::memory_order_relaxed);
  if (!key.empty()) std::memcpy(chunk + chunk_used_, key.data(), key.size());
  *offset = ((chunk_count_ - 1) << kChunkBits) | chunk_used_;
  chunk_used_ += key.size();
  key_bytes_ += key.size();
  return true;
}

bool ConsentCache::InternLocked(const SubjectProfile& p, std::uint32_t* index) {
  auto it = profile_index_.find(p);
  if (it != profile_index_.end()) {
    *index = it->second;
    ++profile_refs_[it->second];
    return true;
  }
  if (free_profiles_.empty()) ReclaimLocked();
  if (free_profiles_.empty() && profiles_ >= max_profiles_ &&
      !pending_profiles_.empty()) {
    // Full: wait for no reader, but only as long as it takes to look.
    retired_profiles_.push_back(
        RetiredProfiles{std::move(pending_profiles_), Grace::Start()});
    pending_profiles_.clear();
    ReclaimLocked();
  }
  std::uint32_t n = 0;
  if (!free_profiles_.empty()) {
    n = free_profiles_.back();
    free_profiles_.pop_back();
  } else {
    if (profiles_ >= max_profiles_) return false;
    n = profiles_;
    const std::size_t chunk = n >> kProfileChunkBits;
    if (profile_chunks_[chunk].load(std::memory_order_relaxed) == nullptr) {
      profile_chunks_[chunk].store(
          new SubjectProfile[std::size_t{1} << kProfileChunkBits],
          std::memory_order_release);
    }
    ++profiles_;
    profile_refs_.push_back(0);
  }
  SubjectProfile* base =
      profile_chunks_[n >> kProfileChunkBits].load(std::memory_order_relaxed);
  // Published to readers by the release store of the slot state. A reused
  // index was read by no section still open (its grace elapsed).
  base[n & ((1u << kProfileChunkBits) - 1)] = p;
  profile_index_.emplace(p, n);
  profile_refs_[n] = 1;
  *index = n;
  return true;
}

void ConsentCache::ReleaseProfileLocked(std::uint32_t index) {
  if (--profile_refs_[index] != 0) return;
  profile_index_.erase(*ProfileAt(index));
  pending_profiles_.push_back(index);
  // Batched: one grace (one process-wide barrier) per many profiles.
  if (pending_profiles_.size() >= 256) {
    retired_profiles_.push_back(
        RetiredProfiles{std::move(pending_profiles_), Grace::Start()});
    pending_profiles_.clear();
  }
}

void ConsentCache::ReclaimLocked() {
  for (auto it = retired_profiles_.begin(); it != retired_profiles_.end();) {
    if (it->grace.Elapsed()) {
      free_profiles_.insert(free_profiles_.end(), it->indices.begin(),
                            it->indices.end());
      it = retired_profiles_.erase(it);
    } else {
      ++it;
    }
  }
  retired_tables_.erase(
      std::remove_if(retired_tables_.begin(), retired_tables_.end(),
                     [](RetiredTable& t) { return t.grace.Elapsed(); }),
      retired_tables_.end());
}

std::int64_t ConsentCache::RevisionLocked(absl::string_view key,
                                          const Slot* slot) const {
  if (slot == nullptr) return -1;
  const std::uint64_t st = slot->state.load(std::memory_order_relaxed);
  if (st != kUncached) return static_cast<std::int64_t>(st >> kProfileBits);
  auto it = uncached_.find(key);
  return it == uncached_.end() ? -1 : it->second;
}

ConsentCache::Slot* ConsentCache::FindLocked(absl::string_view key,
                                             std::uint64_t hash) const {
  const Table* t = table_.load(std::memory_order_relaxed);
  const std::uint64_t want_tag = Tag(hash, key.size());
  std::size_t i = t->Home(hash);
  for (;;) {
    Slot& slot = t->slots[i];
    const std::uint64_t ref = slot.key_ref.load(std::memory_order_relaxed);
    if (ref == 0) return nullptr;
    if ((ref & kTagMask) == want_tag &&
        std::memcmp(KeyBytes(slot, ref), key.data(), key.size()) == 0) {
      return &slot;
    }
    i = t->Next(i);
  }
}

void ConsentCache::GrowLocked() {
  Table* old = table_.load(std::memory_order_relaxed);
  auto t = std::make_unique<Table>(old->capacity * 2);
  for (std::size_t i = 0; i < old->capacity; ++i) {
    const Slot& from = old->slots[i];
    const std::uint64_t ref = from.key_ref.load(std::memory_order_relaxed);
    if (ref == 0) continue;
    // Rehash from the stored key.
    const std::uint64_t len = (ref >> 16) & 0xFF;
    const std::uint64_t hash =
        Hash(absl::string_view(KeyBytes(from, ref), len));
    std::size_t j = t->Home(hash);
    while (t->slots[j].key_ref.load(std::memory_order_relaxed) != 0) {
      j = t->Next(j);
    }
    Slot& to = t->slots[j];
    std::memcpy(to.inline_key, from.inline_key, kInlineKey);
    to.state.store(from.state.load(std::memory_order_relaxed),
                   std::memory_order_relaxed);
    to.key_ref.store(ref, std::memory_order_relaxed);
  }
  table_.store(t.get(), std::memory_order_release);
  // Freed once no check can still be reading it.
  retired_tables_.push_back(
      RetiredTable{std::move(current_table_), Grace::Start()});
  current_table_ = std::move(t);
  ReclaimLocked();
}

ConsentCache::Hint ConsentCache::HintFor(absl::string_view key,
                                         std::uint64_t hash) const {
  const Table* t = table_.load(std::memory_order_acquire);
  const std::uint64_t want_tag = Tag(hash, key.size());
  for (std::size_t i = t->Home(hash);; i = t->Next(i)) {
    const Slot& slot = t->slots[i];
    const std::uint64_t ref = slot.key_ref.load(std::memory_order_acquire);
    if (ref == 0) return Hint{};
    if ((ref & kTagMask) == want_tag &&
        std::memcmp(KeyBytes(slot, ref), key.data(), key.size()) == 0) {
      return Hint{t, i};
    }
  }
}

bool ConsentCache::Accepts(absl::string_view key, std::int64_t revision,
                           bool replace_same_revision) const {
  if (key.size() > kMaxKeyLength) return true;
  const std::uint64_t hash = Hash(key);
  MutexLock lock(&mu_);
  const std::int64_t cached = RevisionLocked(key, FindLocked(key, hash));
  return revision > cached || (revision == cached && replace_same_revision);
}

bool ConsentCache::StoreLocked(absl::string_view key, std::uint64_t hash,
                               Slot* slot, std::uint64_t packed) {
  if (slot != nullptr) {
    slot->state.store(packed, std::memory_order_release);
    return true;
  }
  const Table* t = table_.load(std::memory_order_relaxed);
  if (Full(size_.load(std::memory_order_relaxed) + 1, t->capacity)) {
    GrowLocked();
    t = table_.load(std::memory_order_relaxed);
  }
  // Short keys live in the slot; offset 1 keeps their key_ref non-zero.
  std::uint64_t offset = 1;
  if (key.size() > kInlineKey && !AppendKeyLocked(key, &offset)) return false;
  std::size_t i = t->Home(hash);
  while (t->slots[i].key_ref.load(std::memory_order_relaxed) != 0) {
    i = t->Next(i);
  }
  Slot& slot_to = t->slots[i];
  if (key.size() <= kInlineKey && !key.empty()) {
    std::memcpy(slot_to.inline_key, key.data(), key.size());
  }
  slot_to.state.store(packed, std::memory_order_relaxed);
  // Publishes the key bytes, the profile and the state together.
  slot_to.key_ref.store((offset << 24) | Tag(hash, key.size()),
                        std::memory_order_release);
  size_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

ConsentCache::UpsertResult ConsentCache::Upsert(absl::string_view key,
                                                const SubjectState& state,
                                                bool replace_same_revision) {
  // Never cached, so never stale: such ids are always read from the store.
  if (key.size() > kMaxKeyLength) return UpsertResult::kUnstorable;
  const std::uint64_t hash = Hash(key);
  MutexLock lock(&mu_);
  Slot* slot = FindLocked(key, hash);
  const std::int64_t cached = RevisionLocked(key, slot);
  if (state.revision < cached ||
      (state.revision == cached && !replace_same_revision)) {
    return UpsertResult::kStale;
  }
  const std::uint64_t old =
      slot != nullptr ? slot->state.load(std::memory_order_relaxed) : kUncached;
  std::uint32_t profile = 0;
  if (state.revision >= 0 && state.revision <= kMaxRevision &&
      InternLocked(state.profile, &profile)) {
    const std::uint64_t packed =
        (static_cast<std::uint64_t>(state.revision) << kProfileBits) | profile;
    if (StoreLocked(key, hash, slot, packed)) {
      if (old != kUncached) {
        ReleaseProfileLocked(static_cast<std::uint32_t>(old & kProfileMask));
      } else if (slot != nullptr) {
        uncached_.erase(key);
      }
      return UpsertResult::kStored;
    }
    ReleaseProfileLocked(profile);
  }
  // The newer state does not fit: never leave the older one readable.
  if (slot != nullptr || StoreLocked(key, hash, nullptr, kUncached)) {
    if (slot != nullptr)
      slot->state.store(kUncached, std::memory_order_release);
    if (old != kUncached) {
      ReleaseProfileLocked(static_cast<std::uint32_t>(old & kProfileMask));
    }
    uncached_[key] = state.revision;
  }
  // Else the key has no slot (the arena is full), so nothing of it is
  // cached, and no later write can add it.
  return UpsertResult::kUnstorable;
}

std::size_t ConsentCache::profile_count() const {
  MutexLock lock(&mu_);
  return profiles_;
}

std::size_t ConsentCache::MemoryBytes() const {
  MutexLock lock(&mu_);
  std::size_t bytes = chunk_count_ * kChunkSize;
  bytes += current_table_->memory.size();
  for (const auto& t : retired_tables_) bytes += t.table->memory.size();
  bytes += profile_refs_.capacity() * sizeof(std::uint32_t);
  bytes += ((profiles_ >> kProfileChunkBits) + 1) *
           (std::size_t{1} << kProfileChunkBits) * sizeof(SubjectProfile);
  bytes += profile_index_.capacity() *
           (sizeof(SubjectProfile) + sizeof(std::uint32_t) + 1);
  return bytes;
}

}  // namespace consentry::internal
