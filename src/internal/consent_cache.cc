// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/internal/consent_cache.h"

#include <algorithm>

#include "absl/time/clock.h"

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
                           absl::Duration retire_grace)
    : chunks_(new std::atomic<char*>[kMaxChunks]),
      profile_chunks_(new std::atomic<SubjectProfile*>[kMaxProfileChunks]),
      retire_grace_(retire_grace) {
  for (std::size_t i = 0; i < kMaxChunks; ++i) chunks_[i].store(nullptr);
  for (std::size_t i = 0; i < kMaxProfileChunks; ++i) {
    profile_chunks_[i].store(nullptr);
  }
  auto t = std::make_unique<Table>(CapacityFor(expected_subjects));
  table_.store(t.get(), std::memory_order_release);
  MutexLock lock(&mu_);
  tables_.push_back(std::move(t));
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
    return true;
  }
  const std::uint32_t n = profiles_;
  if (n > kProfileMask) return false;
  const std::size_t chunk = n >> kProfileChunkBits;
  if (chunk >= kMaxProfileChunks) return false;
  SubjectProfile* base = profile_chunks_[chunk].load(std::memory_order_relaxed);
  if (base == nullptr) {
    base = new SubjectProfile[std::size_t{1} << kProfileChunkBits];
    profile_chunks_[chunk].store(base, std::memory_order_release);
  }
  // Published to readers by the release store of the slot state.
  base[n & ((1u << kProfileChunkBits) - 1)] = p;
  profile_index_.emplace(p, n);
  ++profiles_;
  *index = n;
  return true;
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
  const absl::Time now = absl::Now();
  old->retired_at = now;
  // Free arrays retired long enough ago that no check still reads them.
  tables_.erase(std::remove_if(tables_.begin(), tables_.end(),
                               [&](const std::unique_ptr<Table>& tb) {
                                 return tb->retired_at !=
                                            absl::InfiniteFuture() &&
                                        now - tb->retired_at > retire_grace_;
                               }),
                tables_.end());
  tables_.push_back(std::move(t));
}

bool ConsentCache::Upsert(absl::string_view key, const SubjectState& state,
                          bool replace_same_revision) {
  if (key.size() > kMaxKeyLength || state.revision < 0 ||
      state.revision > kMaxRevision) {
    return false;
  }
  const std::uint64_t hash = Hash(key);
  MutexLock lock(&mu_);
  Slot* slot = FindLocked(key, hash);
  if (slot != nullptr) {
    const auto cached = static_cast<std::int64_t>(
        slot->state.load(std::memory_order_relaxed) >> kProfileBits);
    if (state.revision < cached ||
        (state.revision == cached && !replace_same_revision)) {
      return false;
    }
  }
  std::uint32_t profile = 0;
  if (!InternLocked(state.profile, &profile)) return false;
  const std::uint64_t packed =
      (static_cast<std::uint64_t>(state.revision) << kProfileBits) | profile;
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

std::size_t ConsentCache::profile_count() const {
  MutexLock lock(&mu_);
  return profiles_;
}

std::size_t ConsentCache::MemoryBytes() const {
  MutexLock lock(&mu_);
  std::size_t bytes = chunk_count_ * kChunkSize;
  for (const auto& t : tables_) bytes += t->memory.size();
  bytes += ((profiles_ >> kProfileChunkBits) + 1) *
           (std::size_t{1} << kProfileChunkBits) * sizeof(SubjectProfile);
  bytes += profile_index_.capacity() *
           (sizeof(SubjectProfile) + sizeof(std::uint32_t) + 1);
  return bytes;
}

}  // namespace consentry::internal
