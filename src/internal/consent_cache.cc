// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/internal/consent_cache.h"

#include <bit>
#include <new>

namespace consentry::internal {
namespace {

std::size_t CapacityFor(std::size_t subjects) {
  // Load factor at most 1/2.
  std::size_t cap = 16;
  while (cap < subjects * 2) cap <<= 1;
  return cap;
}

}  // namespace

void ConsentCache::Entry::Read(SubjectState* out) const {
  std::uint64_t w[kWords];
  for (;;) {
    const std::uint32_t s1 = seq.load(std::memory_order_acquire);
    if (s1 & 1u) continue;  // a writer is mid-update
    for (int i = 0; i < kWords; ++i) {
      w[i] = words[i].load(std::memory_order_relaxed);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq.load(std::memory_order_relaxed) == s1) break;
  }
  out->given = w[0];
  out->given_direct = w[1];
  out->refused = w[2];
  out->withdrawn = w[3];
  out->expired = w[4];
  out->suspended = w[5];
  out->revision = static_cast<std::int64_t>(w[6]);
  out->valid_until_ns = static_cast<std::int64_t>(w[7]);
  out->flags = w[8];
}

void ConsentCache::Entry::Write(const SubjectState& s) {
  const std::uint32_t s0 = seq.load(std::memory_order_relaxed);
  seq.store(s0 + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  const std::uint64_t w[kWords] = {
      s.given,     s.given_direct, s.refused,
      s.withdrawn, s.expired,      s.suspended,
      static_cast<std::uint64_t>(s.revision),
      static_cast<std::uint64_t>(s.valid_until_ns), s.flags};
  for (int i = 0; i < kWords; ++i) {
    words[i].store(w[i], std::memory_order_relaxed);
  }
  seq.store(s0 + 2, std::memory_order_release);
}

ConsentCache::ConsentCache(std::size_t expected_subjects) {
  auto t = std::make_unique<Table>();
  const std::size_t cap = CapacityFor(expected_subjects);
  t->mask = cap - 1;
  t->slots = std::make_unique<Slot[]>(cap);
  table_.store(t.get(), std::memory_order_release);
  MutexLock lock(&mu_);
  tables_.push_back(std::move(t));
}

ConsentCache::~ConsentCache() {
  MutexLock lock(&mu_);
  const Table* t = table_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i <= t->mask; ++i) {
    Entry* e = t->slots[i].entry.load(std::memory_order_relaxed);
    if (e != nullptr) {
      e->~Entry();
      ::operator delete(e);
    }
  }
}

ConsentCache::Entry* ConsentCache::NewEntry(absl::string_view key) {
  void* mem = ::operator new(sizeof(Entry) + key.size());
  Entry* e = new (mem) Entry();
  e->key_len = static_cast<std::uint32_t>(key.size());
  if (!key.empty()) {
    std::memcpy(reinterpret_cast<char*>(e + 1), key.data(), key.size());
  }
  for (auto& w : e->words) w.store(0, std::memory_order_relaxed);
  return e;
}

void ConsentCache::InsertSlot(Table* t, std::uint64_t hash, Entry* e) {
  std::size_t i = static_cast<std::size_t>(hash) & t->mask;
  while (t->slots[i].entry.load(std::memory_order_relaxed) != nullptr) {
    i = (i + 1) & t->mask;
  }
  t->slots[i].hash = hash;
  t->slots[i].entry.store(e, std::memory_order_release);
}

ConsentCache::Entry* ConsentCache::FindLocked(absl::string_view key,
                                              std::uint64_t hash) const {
  const Table* t = table_.load(std::memory_order_relaxed);
  std::size_t i = static_cast<std::size_t>(hash) & t->mask;
  for (;;) {
    Entry* e = t->slots[i].entry.load(std::memory_order_relaxed);
    if (e == nullptr) return nullptr;
    if (t->slots[i].hash == hash && e->key() == key) return e;
    i = (i + 1) & t->mask;
  }
}

void ConsentCache::GrowLocked() {
  const Table* old = table_.load(std::memory_order_relaxed);
  auto t = std::make_unique<Table>();
  const std::size_t cap = (old->mask + 1) * 2;
  t->mask = cap - 1;
  t->slots = std::make_unique<Slot[]>(cap);
  for (std::size_t i = 0; i <= old->mask; ++i) {
    Entry* e = old->slots[i].entry.load(std::memory_order_relaxed);
    if (e != nullptr) InsertSlot(t.get(), old->slots[i].hash, e);
  }
  table_.store(t.get(), std::memory_order_release);
  tables_.push_back(std::move(t));
}

bool ConsentCache::Upsert(absl::string_view key, const SubjectState& state,
                          bool replace_same_revision) {
  const std::uint64_t hash = Hash(key);
  MutexLock lock(&mu_);
  Entry* e = FindLocked(key, hash);
  if (e != nullptr) {
    const auto cached = static_cast<std::int64_t>(
        e->words[6].load(std::memory_order_relaxed));
    if (state.revision < cached ||
        (state.revision == cached && !replace_same_revision)) {
      return false;
    }
    e->Write(state);
    return true;
  }
  const Table* t = table_.load(std::memory_order_relaxed);
  if ((size_.load(std::memory_order_relaxed) + 1) * 2 > t->mask + 1) {
    GrowLocked();
  }
  e = NewEntry(key);
  e->Write(state);
  entry_bytes_ += sizeof(Entry) + key.size();
  InsertSlot(table_.load(std::memory_order_relaxed), hash, e);
  size_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::size_t ConsentCache::MemoryBytes() const {
  MutexLock lock(&mu_);
  std::size_t bytes = entry_bytes_;
  for (const auto& t : tables_) bytes += (t->mask + 1) * sizeof(Slot);
  return bytes;
}

}  // namespace consentry::internal
