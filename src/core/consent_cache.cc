// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/core/consent_cache.h"

#include <algorithm>
#include <memory>
#include <numeric>

namespace consentry::internal {
namespace {

// Load factor at most 3/5: linear probing stays short (about 1.75 slots
// for a hit; 3 at 4/5, which made the probe a fifth of a warm check by
// id), and a presized table costs 53 bytes per subject.
std::size_t CapacityFor(std::size_t subjects) {
  return std::max<std::size_t>(16, subjects + subjects * 2 / 3 + 1);
}

bool Full(std::size_t size, std::size_t capacity) {
  return size * 5 > capacity * 3;
}

// A ref id for a new cache with ref states: each handed out once per
// process, so that a ref word never names another cache (even one in the
// same place after this one is gone). Once all are taken, `no_refs`: the
// cache keeps no ref states, and refs check by their slot hint.
std::uint32_t NextRefId(std::uint32_t no_refs) {
  static std::atomic<std::uint32_t> next{1};
  std::uint32_t id = next.load(std::memory_order_relaxed);
  do {
    if (id == no_refs) return no_refs;
  } while (!next.compare_exchange_weak(id, id + 1, std::memory_order_relaxed));
  return id;
}

// Bounded mode: the slot array takes what the subjects the budget holds
// are charged (`kBoundedBytesPerSubject` each): live subjects fill at most
// 32/40 of it. Evictions empty slots that inserts reuse in place (after a
// grace); an insert that finds none on its probe path takes an empty
// slot, and once 9/10 of the slots hold a key or an emptied slot, it
// compacts (linear probing stays short: about 5 slots for a hit, 50 for
// a miss at 9/10).
std::size_t BoundedCapacityFor(std::size_t budget_bytes) {
  const std::size_t subjects =
      budget_bytes / ConsentCache::kBoundedBytesPerSubject;
  return std::max<std::size_t>(
      16, subjects * ConsentCache::kBoundedBytesPerSubject / 32 + 2);
}
std::size_t BoundedCompactAt(std::size_t capacity) {
  return capacity - std::max<std::size_t>(1, capacity / 10);
}
// Length 0 (only the empty id has it) and a tag that id never has.
std::uint64_t TombTag() {
  return (ConsentCache::Hash(absl::string_view()) & 0xFFFF) ^ 1;
}
// Slots emptied per grace (one process-wide barrier each): 1/64 of the
// table, at most 1024.
std::size_t SlotsPerGrace(std::size_t capacity) {
  return std::clamp<std::size_t>(capacity / 64, 1, 1024);
}

}  // namespace

ConsentCache::ConsentCache(std::size_t expected_subjects,
                           std::uint32_t max_profiles, std::size_t budget_bytes)
    : ref_id_(budget_bytes == 0 ? NextRefId(kNoRefs) : kNoRefs),
      chunks_(new std::atomic<char*>[kMaxChunks]),
      profile_chunks_(new std::atomic<SubjectProfile*>[kMaxProfileChunks]),
      summary_chunks_(new std::atomic<ProfileSummary*>[kMaxProfileChunks]),
      summary_memory_(kDirectSummaries * sizeof(ProfileSummary)),
      summaries_(static_cast<ProfileSummary*>(summary_memory_.data())),
      max_profiles_(std::min(max_profiles, kMaxProfiles)),
      budget_bytes_(
          budget_bytes == 0 ? 0 : std::max(budget_bytes, kMinBudgetBytes)),
      tomb_pending_((std::uint64_t{1} << 24) | TombTag()),
      tomb_ready_((std::uint64_t{2} << 24) | TombTag()) {
  for (std::size_t i = 0; i < kMaxChunks; ++i) chunks_[i].store(nullptr);
  for (std::size_t i = 0; i < kMaxProfileChunks; ++i) {
    profile_chunks_[i].store(nullptr);
    summary_chunks_[i].store(nullptr);
  }
  auto t = budget_bytes_ != 0
               ? std::make_unique<Table>(BoundedCapacityFor(budget_bytes_),
                                         /*bounded=*/true)
               : std::make_unique<Table>(CapacityFor(expected_subjects),
                                         /*bounded=*/false,
                                         /*refs=*/ref_id_ != kNoRefs);
  table_.store(t.get(), std::memory_order_release);
  MutexLock lock(&mu_);
  compact_at_ = BoundedCompactAt(t->capacity);
  // About the golden section of the table, coprime with its size.
  hand_stride_ = std::max<std::size_t>(
      1, static_cast<std::size_t>(static_cast<double>(t->capacity) * 0.618));
  while (std::gcd(hand_stride_, t->capacity) != 1) ++hand_stride_;
  current_table_ = std::move(t);
}

ConsentCache::~ConsentCache() {
  for (std::size_t i = 0; i < kMaxProfileChunks; ++i) {
    delete[] profile_chunks_[i].load();
    // The direct summaries' chunks are `summary_memory_`'s.
    if ((i << kProfileChunkBits) >= kDirectSummaries) {
      delete[] summary_chunks_[i].load();
    }
  }
}

bool ConsentCache::NewChunkLocked() {
  std::size_t index = 0;
  if (!free_chunks_.empty()) {
    index = free_chunks_.back();
    free_chunks_.pop_back();
  } else {
    if (chunk_count_ == kMaxChunks) return false;
    index = chunk_count_++;
    chunk_memory_.emplace_back();
  }
  chunk_memory_[index] = HugeBuffer(kChunkSize);
  chunks_[index].store(static_cast<char*>(chunk_memory_[index].data()),
                       std::memory_order_release);
  current_chunk_ = index;
  live_chunks_.push_back(index);
  // Offset 0 is never used, so that a key_ref is never 0.
  chunk_used_ = index == 0 ? 1 : 0;
  return true;
}

bool ConsentCache::AppendKeyLocked(absl::string_view key,
                                   std::uint64_t* offset) {
  if (chunk_count_ == 0 || chunk_used_ + key.size() > kChunkSize) {
    if (!NewChunkLocked()) return false;
  }
  char* chunk = chunks_[current_chunk_].load(std::memory_order_relaxed);
  if (!key.empty()) std::memcpy(chunk + chunk_used_, key.data(), key.size());
  *offset = (current_chunk_ << kChunkBits) | chunk_used_;
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
      ProfileSummary* summaries = nullptr;
      if ((chunk << kProfileChunkBits) < kDirectSummaries) {
        summaries = summaries_ + (chunk << kProfileChunkBits);
        std::uninitialized_default_construct_n(
            summaries, std::size_t{1} << kProfileChunkBits);
      } else {
        summaries = new ProfileSummary[std::size_t{1} << kProfileChunkBits];
      }
      summary_chunks_[chunk].store(summaries, std::memory_order_release);
    }
    ++profiles_;
    profile_refs_.push_back(0);
  }
  SubjectProfile* base =
      profile_chunks_[n >> kProfileChunkBits].load(std::memory_order_relaxed);
  // Published to readers by the release store of the slot state. A reused
  // index was read by no section still open (its grace elapsed).
  base[n & ((1u << kProfileChunkBits) - 1)] = p;
  summary_chunks_[n >> kProfileChunkBits].load(
      std::memory_order_relaxed)[n & ((1u << kProfileChunkBits) - 1)] =
      Summarize(p);
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
  for (auto it = retired_tables_.begin(); it != retired_tables_.end();) {
    if (!it->grace.Elapsed()) {
      ++it;
      continue;
    }
    // No reader holds the table, hence none the chunks only it used.
    for (std::size_t c : it->chunks) {
      chunks_[c].store(nullptr, std::memory_order_relaxed);
      chunk_memory_[c] = HugeBuffer();
      free_chunks_.push_back(c);
    }
    it = retired_tables_.erase(it);
  }
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
  auto t = std::make_unique<Table>(old->capacity * 2, /*bounded=*/false,
                                   /*refs=*/old->ref_capacity > 0);
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
    // The key's ref state number (in its offset) moves with it.
    to.key_ref.store(ref, std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < next_ref_; ++i) {
    t->ref_states[i].store(old->ref_states[i].load(std::memory_order_relaxed),
                           std::memory_order_relaxed);
  }
  table_.store(t.get(), std::memory_order_release);
  // Freed once no check can still be reading it.
  retired_tables_.push_back(
      RetiredTable{std::move(current_table_), Grace::Start(), {}});
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
      return Hint{t, i, RefWord(ref)};
    }
  }
}

std::size_t ConsentCache::RefCapacityFor(std::size_t slot_count) {
  // `Full` lets a table hold at most 3/5 of its slots.
  return std::min<std::size_t>(slot_count * 3 / 5 + 1, kNoRefs);
}

std::uint64_t ConsentCache::RefFor(absl::string_view key, std::uint64_t hash) {
  if (ref_id_ == kNoRefs || key.size() > kInlineKey) return 0;
  MutexLock lock(&mu_);
  Slot* slot = FindLocked(key, hash);
  if (slot == nullptr) return 0;
  const std::uint64_t ref = slot->key_ref.load(std::memory_order_relaxed);
  if (const std::uint64_t word = RefWord(ref); word != 0) return word;
  Table& t = *current_table_;
  if (next_ref_ >= t.ref_capacity) return 0;
  const std::size_t number = next_ref_++;
  // The copy first: a check that finds the number reads the state.
  t.ref_states[number].store(slot->state.load(std::memory_order_relaxed),
                             std::memory_order_release);
  slot->key_ref.store(
      (ref & ~(kOffsetMask << 24)) | ((number + kFirstRefOffset) << 24),
      std::memory_order_release);
  return RefWord(slot->key_ref.load(std::memory_order_relaxed));
}

void ConsentCache::SetStateLocked(Slot& slot, std::uint64_t st) {
  slot.state.store(st, std::memory_order_release);
  const std::uint64_t word =
      RefWord(slot.key_ref.load(std::memory_order_relaxed));
  if (word != 0) {
    current_table_->ref_states[static_cast<std::uint32_t>(word)].store(
        st, std::memory_order_release);
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
                               Slot* slot, std::uint64_t packed,
                               std::vector<std::string>* evicted) {
  if (slot != nullptr) {
    SetStateLocked(*slot, packed);
    return true;
  }
  const Table* t = table_.load(std::memory_order_relaxed);
  // The first slot on the probe path that is empty or (bounded) emptied
  // by an eviction no reader can still see.
  const auto free_slot = [this](const Table& table, std::uint64_t h) {
    std::size_t i = table.Home(h);
    for (;;) {
      const std::uint64_t ref =
          table.slots[i].key_ref.load(std::memory_order_relaxed);
      if (ref == 0 || (ref & ~kFlagBits) == tomb_ready_) return i;
      i = table.Next(i);
    }
  };
  std::size_t i = free_slot(*t, hash);
  bool reuse = t->slots[i].key_ref.load(std::memory_order_relaxed) != 0;
  if (!reuse &&
      (bounded()
           ? size_.load(std::memory_order_relaxed) + 1 > compact_at_ ||
                 (key.size() > kInlineKey && key_bytes_ > 2 * budget_bytes_)
           : Full(size_.load(std::memory_order_relaxed) + 1, t->capacity))) {
    // Bounded: emptied slots (or ids of evicted subjects) fill the table.
    bounded() ? CompactLocked(evicted) : GrowLocked();
    t = table_.load(std::memory_order_relaxed);
    i = free_slot(*t, hash);
    reuse = false;
  }
  // Short keys live in the slot; offset 1 keeps their key_ref non-zero.
  std::uint64_t offset = 1;
  if (key.size() > kInlineKey && !AppendKeyLocked(key, &offset)) return false;
  Slot& slot_to = t->slots[i];
  // A reused slot is written only once no reader can still read it for
  // its old key (it was `tomb_pending_` for a grace), nor matches it now.
  if (key.size() <= kInlineKey) {
    const InlineKey k = Pack(key);
    std::memcpy(slot_to.inline_key, &k.lo, 8);
    std::memcpy(slot_to.inline_key + 8, &k.hi, 8);
  }
  slot_to.state.store(packed, std::memory_order_relaxed);
  // Publishes the key bytes, the profile and the state together.
  slot_to.key_ref.store((offset << 24) | Tag(hash, key.size()),
                        std::memory_order_release);
  if (reuse) {
    dead_.fetch_sub(1, std::memory_order_relaxed);
  } else {
    size_.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

ConsentCache::UpsertResult ConsentCache::Upsert(
    absl::string_view key, const SubjectState& state,
    bool replace_same_revision, std::vector<std::string>* evicted) {
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
  // Bounded: a subject not cached (new, or evicted) is charged once it has
  // a slot again; room is made first (evicting never compacts, so `slot`
  // stays valid).
  const bool was_live = !bounded() || LiveLocked(key, slot);
  if (!was_live) MakeRoomLocked(CostOf(key.size()), evicted);
  const std::uint64_t old =
      slot != nullptr ? slot->state.load(std::memory_order_relaxed) : kUncached;
  std::uint32_t profile = 0;
  if (state.revision >= 0 && state.revision <= kMaxRevision &&
      InternLocked(state.profile, &profile)) {
    const std::uint64_t packed =
        (static_cast<std::uint64_t>(state.revision) << kProfileBits) | profile;
    if (StoreLocked(key, hash, slot, packed, evicted)) {
      if (old != kUncached) {
        ReleaseProfileLocked(static_cast<std::uint32_t>(old & kProfileMask));
      } else if (slot != nullptr) {
        uncached_.erase(key);
      }
      if (!was_live) ChargeLocked(key.size());
      return UpsertResult::kStored;
    }
    ReleaseProfileLocked(profile);
  }
  // The newer state does not fit: never leave the older one readable.
  if (slot != nullptr || StoreLocked(key, hash, nullptr, kUncached, evicted)) {
    if (slot != nullptr) SetStateLocked(*slot, kUncached);
    if (old != kUncached) {
      ReleaseProfileLocked(static_cast<std::uint32_t>(old & kProfileMask));
    }
    uncached_[key] = state.revision;
    if (!was_live) ChargeLocked(key.size());
  }
  // Else the key has no slot (the arena is full), so nothing of it is
  // cached, and no later write can add it.
  return UpsertResult::kUnstorable;
}

void ConsentCache::ChargeLocked(std::size_t key_length) {
  live_bytes_ += CostOf(key_length);
}

bool ConsentCache::LiveLocked(absl::string_view key, const Slot* slot) const {
  if (slot == nullptr) return false;
  if (slot->state.load(std::memory_order_relaxed) != kUncached) return true;
  return !uncached_.empty() && uncached_.contains(key);
}

bool ConsentCache::Holds(absl::string_view key) const {
  if (key.size() > kMaxKeyLength) return false;
  const std::uint64_t hash = Hash(key);
  MutexLock lock(&mu_);
  return LiveLocked(key, FindLocked(key, hash));
}

bool ConsentCache::full() const {
  if (!bounded()) return false;
  MutexLock lock(&mu_);
  return live_bytes_ + kBoundedBytesPerSubject > budget_bytes_;
}

void ConsentCache::MakeRoomLocked(std::size_t cost,
                                  std::vector<std::string>* evicted) {
  Table* t = table_.load(std::memory_order_relaxed);
  // A full sweep clears every reference byte, and the next one evicts;
  // `live_bytes_` is 0 once nothing is left to evict. Bounded all the same.
  for (std::size_t steps = 0;
       live_bytes_ > 0 && live_bytes_ + cost > budget_bytes_ &&
       steps <= 2 * t->capacity;
       ++steps) {
    // The hand visits every slot once per sweep, in an order unrelated to
    // where keys cluster (a fixed stride): evictions thin the table evenly,
    // so that no region fills up ahead of the hand.
    const std::size_t i = hand_ < t->capacity ? hand_ : 0;
    hand_ =
        i + hand_stride_ - (i >= t->capacity - hand_stride_ ? t->capacity : 0);
    Slot& slot = t->slots[i];
    const std::uint64_t ref = slot.key_ref.load(std::memory_order_relaxed);
    if (ref == 0 || IsTomb(ref)) continue;
    const std::size_t len = (ref >> 16) & 0xFF;
    const absl::string_view key(KeyBytes(slot, ref), len);
    if (!LiveLocked(key, &slot)) continue;
    if ((ref & kReferencedBit) != 0) {
      // A second chance. A read-modify-write: readers set the bit.
      slot.key_ref.fetch_and(~kReferencedBit, std::memory_order_relaxed);
      continue;
    }
    EvictLocked(i, key, evicted);
  }
}

void ConsentCache::EvictLocked(std::size_t i, absl::string_view key,
                               std::vector<std::string>* evicted) {
  Slot& slot = current_table_->slots[i];
  const std::uint64_t st = slot.state.load(std::memory_order_relaxed);
  // First uncached, so that a reader that matched the key before it was
  // emptied misses (a feed event for the subject is not applied once it
  // is evicted); then empty: later readers skip the slot. Its key bytes
  // and state stay as they are until no reader can hold them.
  slot.state.store(kUncached, std::memory_order_release);
  ForgetLocked(key, st, evicted);  // `key` points into the slot: use first
  slot.key_ref.store(tomb_pending_, std::memory_order_release);
  dead_.fetch_add(1, std::memory_order_relaxed);
  pending_slots_.push_back(i);
  RetireSlotsLocked();
}

void ConsentCache::RetireSlotsLocked() {
  if (pending_slots_.size() >= SlotsPerGrace(current_table_->capacity)) {
    retired_slots_.push_back(
        RetiredSlots{std::move(pending_slots_), Grace::Start()});
    pending_slots_.clear();
  }
  const Table* t = current_table_.get();
  while (!retired_slots_.empty() && retired_slots_.front().grace.Elapsed()) {
    // Every read section that could have read these slots' old keys has
    // closed: readers from now on see only the tomb, until the slot is
    // published for a new key.
    for (std::size_t i : retired_slots_.front().slots) {
      t->slots[i].key_ref.store(tomb_ready_, std::memory_order_relaxed);
    }
    retired_slots_.erase(retired_slots_.begin());
  }
}

void ConsentCache::ForgetLocked(absl::string_view key, std::uint64_t state,
                                std::vector<std::string>* evicted) {
  if (evicted != nullptr) evicted->emplace_back(key);
  if (state != kUncached) {
    ReleaseProfileLocked(static_cast<std::uint32_t>(state & kProfileMask));
  } else {
    uncached_.erase(key);
  }
  live_bytes_ -= CostOf(key.size());
  ++evictions_;
}

void ConsentCache::CompactLocked(std::vector<std::string>* evicted) {
  Table* old = table_.load(std::memory_order_relaxed);
  auto t = std::make_unique<Table>(old->capacity, /*bounded=*/true);
  std::vector<std::size_t> old_chunks = std::move(live_chunks_);
  live_chunks_.clear();
  chunk_used_ = kChunkSize;  // the next long id starts a fresh chunk
  key_bytes_ = 0;
  std::size_t used = 0;
  for (std::size_t i = 0; i < old->capacity; ++i) {
    const Slot& from = old->slots[i];
    const std::uint64_t ref = from.key_ref.load(std::memory_order_relaxed);
    if (ref == 0 || IsTomb(ref)) continue;
    const std::size_t len = (ref >> 16) & 0xFF;
    const absl::string_view key(KeyBytes(from, ref), len);
    if (!LiveLocked(key, &from)) continue;
    const std::uint64_t st = from.state.load(std::memory_order_relaxed);
    std::uint64_t new_ref = ref;
    if (len > kInlineKey) {
      std::uint64_t offset = 0;
      if (!AppendKeyLocked(key, &offset)) {
        // No chunk for its id: the subject is evicted, as the budget would.
        ForgetLocked(key, st, evicted);
        continue;
      }
      new_ref = (offset << 24) | (ref & (kTagMask | kFlagBits));
    }
    std::size_t j = t->Home(Hash(key));
    while (t->slots[j].key_ref.load(std::memory_order_relaxed) != 0) {
      j = t->Next(j);
    }
    Slot& to = t->slots[j];
    std::memcpy(to.inline_key, from.inline_key, kInlineKey);
    to.state.store(st, std::memory_order_relaxed);
    to.key_ref.store(new_ref, std::memory_order_relaxed);
    ++used;
  }
  table_.store(t.get(), std::memory_order_release);
  // The old table and the chunks only it refers to are freed once no
  // check can still be reading them.
  retired_tables_.push_back(RetiredTable{
      std::move(current_table_), Grace::Start(), std::move(old_chunks)});
  current_table_ = std::move(t);
  dead_.store(0, std::memory_order_relaxed);
  size_.store(used, std::memory_order_relaxed);
  // Emptied slots were of the old table, which readers leave in its grace.
  pending_slots_.clear();
  retired_slots_.clear();
  ReclaimLocked();
}

void ConsentCache::MarkReferenced(const Slot& slot) const {
  // Never after the slot's grace: the caller is in a read section that
  // matched the slot's key before it was emptied, if it was.
  slot.key_ref.fetch_or(kReferencedBit, std::memory_order_relaxed);
}

void ConsentCache::CountSharedHit(std::uint32_t thread, bool negative) const {
  HitStripe& h = hit_stripes_[kOwnedHitStripes + thread % kSharedHitStripes];
  h.hits.fetch_add(1, std::memory_order_relaxed);
  if (negative) h.negative.fetch_add(1, std::memory_order_relaxed);
}

bool ConsentCache::Peek(absl::string_view key, std::uint64_t hash,
                        const SubjectProfile** profile,
                        std::int64_t* revision) const {
  const Table* t = table_.load(std::memory_order_acquire);
  const std::uint64_t want_tag = Tag(hash, key.size());
  for (std::size_t i = t->Home(hash);; i = t->Next(i)) {
    const Slot& slot = t->slots[i];
    const std::uint64_t ref = slot.key_ref.load(std::memory_order_acquire);
    if (ref == 0) return false;
    if ((ref & kTagMask) == want_tag &&
        std::memcmp(KeyBytes(slot, ref), key.data(), key.size()) == 0) {
      return ReadState(slot, profile, revision);
    }
  }
}

std::size_t ConsentCache::ProbeLength(absl::string_view key,
                                      bool* referenced) const {
  const std::uint64_t hash = Hash(key);
  const Table* t = table_.load(std::memory_order_acquire);
  const std::uint64_t want_tag = Tag(hash, key.size());
  std::size_t n = 1;
  for (std::size_t i = t->Home(hash);; i = t->Next(i), ++n) {
    const Slot& slot = t->slots[i];
    const std::uint64_t ref = slot.key_ref.load(std::memory_order_acquire);
    if (ref == 0) return 0;
    if ((ref & kTagMask) == want_tag &&
        std::memcmp(KeyBytes(slot, ref), key.data(), key.size()) == 0) {
      *referenced = (ref & kReferencedBit) != 0;
      return n;
    }
  }
}

ConsentCache::Counts ConsentCache::counts() const {
  Counts c;
  for (const HitStripe& h : hit_stripes_) {
    c.hits += h.hits.load(std::memory_order_relaxed);
    c.negative_hits += h.negative.load(std::memory_order_relaxed);
  }
  MutexLock lock(&mu_);
  c.evictions = evictions_;
  return c;
}

std::size_t ConsentCache::profile_count() const {
  MutexLock lock(&mu_);
  return profiles_;
}

std::size_t ConsentCache::MemoryBytes() const {
  MutexLock lock(&mu_);
  // A table's ref states take the pages its numbered subjects touched
  // (huge pages once the array spans one).
  const auto ref_bytes = [this](const Table& t) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    constexpr std::size_t kHuge = std::size_t{2} << 20;
    const std::size_t page = t.ref_memory.size() >= kHuge ? kHuge : 4096;
    const std::size_t used =
        std::min(next_ref_, t.ref_capacity) * sizeof(std::uint64_t);
    return std::min(t.ref_memory.size(), (used + page - 1) / page * page);
  };
  std::size_t held_chunks = live_chunks_.size();
  std::size_t bytes =
      current_table_->memory.size() + ref_bytes(*current_table_);
  for (const auto& t : retired_tables_) {
    bytes += t.table->memory.size() + ref_bytes(*t.table);
    held_chunks += t.chunks.size();
  }
  bytes += held_chunks * kChunkSize;
  bytes += profile_refs_.capacity() * sizeof(std::uint32_t);
  bytes += ((profiles_ >> kProfileChunkBits) + 1) *
           (std::size_t{1} << kProfileChunkBits) *
           (sizeof(SubjectProfile) + sizeof(ProfileSummary));
  bytes += profile_index_.capacity() *
           (sizeof(SubjectProfile) + sizeof(std::uint32_t) + 1);
  return bytes;
}

}  // namespace consentry::internal
