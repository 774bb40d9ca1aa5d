// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The Guard's consent cache: subject id -> (revision, consent profile), read
// without locks, in under 64 bytes per subject.
//
// Layout:
//   * Slots: an open-addressing array of 32-byte slots, at most 3/5 full
//     (4/5 with a byte budget), holding ids of up to 16 bytes inline. `key_ref`
//     packs the key's arena offset (40 bits), length (8 bits) and a 16-bit hash
//     tag; `state` packs the revision (40 bits) and a profile index (24 bits),
//     so one atomic store replaces a subject's state and readers need no lock
//     and no retry.
//   * Key arena: append-only chunks holding the longer subject ids.
//   * Profiles: the consent bitsets and flags, interned. Subjects with the
//     same choices share one 128-byte profile; a check reads one slot (and
//     the arena only for ids over 16 bytes) and a profile that is almost
//     always in cache.
//   Slot arrays and arena chunks are on transparent huge pages, so a random
//   slot costs a cache miss but rarely a TLB miss.
//   * Ref states (unbounded mode): for each subject a `SubjectRef` was
//     resolved for (`RefFor`), a copy of its slot's state word in an array
//     of its own, numbered in the order resolved (8 bytes a subject, 0
//     for subjects no ref was resolved for). A check by ref reads that one
//     word (`DecideAtRef`): an array of 8-byte words stays in the
//     processor's caches where the 32-byte slots do not. The writer stores
//     a state into the slot and then its copy (`SetStateLocked`); a
//     subject's number, kept in its slot's key_ref, never changes for the
//     cache's life, as keys never leave an unbounded table (growth copies
//     the numbers and the states).
// Writers (store listener, cache fills) serialize on one mutex.
//
// Reclamation is by reference, never by age: readers are inside a
// `ReadSection` (src/util/read_section.h), and a replaced slot array or
// a profile no subject uses any more is freed or reused only after a
// `Grace` over every section open when it was unlinked.
//
// A subject whose newer state cannot be stored (a revision beyond 40 bits,
// the profile table full, the key arena full) is never left on its older
// state: its slot is marked uncached, lookups miss and the caller reads the
// store. The revision that made it so is kept, so an older fill cannot
// bring the old state back.
//
// Bounded mode (a byte budget): each cached subject is charged
// `kBoundedBytesPerSubject` (its share of a slot array sized 1.25 slots
// per subject) plus its id when over 16 bytes. Inserting past the budget
// evicts by CLOCK: a hit sets the reference bit in the slot's key_ref (an
// atomic OR, only when clear: no second array, no second cache miss), the
// hand clears set bits and evicts the first subject whose bit is clear.
// The hand visits the slots in a fixed stride, not in address order, so
// that evictions thin the table evenly (in address order, the region
// ahead of the hand fills up and its probe runs grow long).
// An evicted slot is first marked uncached, then emptied (its key_ref a
// "tomb" no lookup matches, so probes pass it); its key bytes and state
// stay untouched until a `Grace` over every read section open when it was
// emptied has elapsed. Only then may an insert whose probe path reaches
// it reuse it for another key: a reader that matched the old key has left,
// and a later one sees the tomb or the new key_ref (published last, with
// release). An insert that finds no reusable slot on its path takes an
// empty one; once 9/10 of the slots are taken (live or emptied) it
// compacts the table (rebuilt at the same size with the live subjects and
// their ids, the old table and key chunks freed after a grace).

#ifndef CONSENTRY_SRC_INTERNAL_CONSENT_CACHE_H_
#define CONSENTRY_SRC_INTERNAL_CONSENT_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/numeric/int128.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/core/decision_rules.h"
#include "src/core/subject_state.h"
#include "src/util/huge_buffer.h"
#include "src/util/mutex.h"
#include "src/util/read_section.h"

namespace consentry::internal {

class ConsentCache {
 public:
  // Subject ids longer than this are not cached (checked on the slow path).
  static constexpr std::size_t kMaxKeyLength = 255;
  // Revisions above this are not representable in a slot: such subjects
  // are marked uncached (read from the store on every check).
  static constexpr std::int64_t kMaxRevision = (std::int64_t{1} << 40) - 2;
  // The most profiles the table holds at once (profile indices are 24
  // bits; the all-ones state marks an uncached subject).
  static constexpr std::uint32_t kMaxProfiles = (1u << 24) - 1;

  // Bounded mode: what one cached subject costs against the budget, on top
  // of an id over 16 bytes; the smallest budget accepted.
  static constexpr std::size_t kBoundedBytesPerSubject = 40;
  static constexpr std::size_t kMinBudgetBytes = 1024;

  enum class UpsertResult {
    kStored,      // the cache now holds `state`
    kStale,       // the cache holds the same or a newer revision; unchanged
    kUnstorable,  // `state` does not fit: the subject is now uncached
  };

  // `expected_subjects` presizes the slot array so that loading that many
  // subjects never grows it. `max_profiles` bounds the interned profiles
  // (tests lower it); profiles no subject uses are reused.
  // `budget_bytes` > 0 bounds the cache (see the file comment; at least
  // `kMinBudgetBytes`); `expected_subjects` is then ignored.
  explicit ConsentCache(std::size_t expected_subjects = 0,
                        std::uint32_t max_profiles = kMaxProfiles,
                        std::size_t budget_bytes = 0);
  ~ConsentCache();
  ConsentCache(const ConsentCache&) = delete;
  ConsentCache& operator=(const ConsentCache&) = delete;

  // The hash a key is stored under. A key of up to 16 bytes (most ids) is
  // hashed from the two words it is compared as (`Pack`), in two
  // multiply-folds; a longer one with `absl::Hash`. Both are seeded per
  // process with an address that address-space randomisation moves, as
  // `absl::Hash` is, so that ids cannot be chosen to collide without
  // knowing it.
  static std::uint64_t Hash(absl::string_view key) {
    return key.size() <= kInlineKey ? HashInline(Pack(key), key.size())
                                    : absl::Hash<absl::string_view>{}(key);
  }

  // Finds `key`. On a hit sets `*profile` and `*revision`; `*profile` stays
  // valid until the caller's read section ends. Lock-free and wait-free.
  // REQUIRES: the caller is inside a `ReadSection`.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Lookup(absl::string_view key,
                                           std::uint64_t hash,
                                           const SubjectProfile** profile,
                                           std::int64_t* revision) const {
    return LookupPacked(key, hash,
                        key.size() <= kInlineKey ? Pack(key) : InlineKey{},
                        profile, revision);
  }

  // `Lookup` of `key` under `Hash(key)`, which it sets in `*hash`: a short
  // key is packed once for both.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool HashAndLookup(
      absl::string_view key, std::uint64_t* hash,
      const SubjectProfile** profile, std::int64_t* revision,
      const ProfileSummary** summary = nullptr,
      std::uint32_t* profile_index = nullptr) const {
    if (ABSL_PREDICT_TRUE(key.size() <= kInlineKey)) {
      const InlineKey packed = Pack(key);
      *hash = HashInline(packed, key.size());
      return LookupPacked(key, *hash, packed, profile, revision, summary,
                          profile_index);
    }
    *hash = Hash(key);
    return LookupPacked(key, *hash, InlineKey{}, profile, revision, summary,
                        profile_index);
  }

  // `Lookup` without marking the subject referenced or counting a hit (a
  // check reading back what it just stored). REQUIRES: a `ReadSection`.
  bool Peek(absl::string_view key, std::uint64_t hash,
            const SubjectProfile** profile, std::int64_t* revision) const;

  // For benchmarks: the slots a lookup of `key` reads until it finds it
  // (1: its home slot), 0 when it is not in the table; `*referenced`: its
  // reference bit (bounded mode). REQUIRES: a `ReadSection`.
  std::size_t ProbeLength(absl::string_view key, bool* referenced) const;

  // Where a key was found: the slot array and the slot. Only a hint: the
  // array may have been replaced since, and the slot reused.
  struct Hint {
    const void* table = nullptr;
    std::size_t slot = 0;
    // The subject's ref word (`RefFor`), when it has one; else 0.
    std::uint64_t ref = 0;
  };

  // Where `key` is now; an empty hint when it is not cached.
  // REQUIRES: the caller is inside a `ReadSection`.
  Hint HintFor(absl::string_view key, std::uint64_t hash) const;

  // `Lookup`, starting at slot `slot` of the current slot array (any
  // value: a slot of another array, an index past its end): when that slot
  // holds exactly `key`, no probing; otherwise as `Lookup`. Which array
  // the slot was taken from need not be checked: a slot array holds a key
  // in at most one slot, and changes a slot's key only after emptying it
  // and a grace over every reader that could have seen the old key (bounded
  // mode), so a slot of the current array that holds `key` is `key`'s.
  // `padded`: for a key of at most `kInlineKey` bytes, its bytes followed
  // by zeros up to `kInlineKey` (as a slot holds them; compared as two
  // words); null for a longer key. REQUIRES: the caller is inside a
  // `ReadSection`.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool LookupAt(
      absl::string_view key, std::uint64_t hash, std::size_t slot,
      const char* padded, const SubjectProfile** profile,
      std::int64_t* revision, const ProfileSummary** summary = nullptr,
      std::uint32_t* profile_index = nullptr) const {
    const Table* t = table_.load(std::memory_order_acquire);
    if (ABSL_PREDICT_TRUE(slot < t->capacity)) {
      const Slot& s = t->slots[slot];
      const std::uint64_t ref = s.key_ref.load(std::memory_order_acquire);
      if ((ref & kTagMask) == Tag(hash, key.size()) &&
          (padded != nullptr
               ? SameInlineKey(s, InlineKey{Load64(padded), Load64(padded + 8)})
               : std::memcmp(ArenaBytes(ref), key.data(), key.size()) == 0)) {
        const bool hit =
            ReadState(s, profile, revision, summary, profile_index);
        if (ABSL_PREDICT_FALSE(t->touched != nullptr)) {
          Touch(s, ref, hit && *revision == 0 ? 2 : hit);
        }
        return hit;
      }
    }
    return LookupPacked(key, hash,
                        key.size() <= kInlineKey ? Pack(key) : InlineKey{},
                        profile, revision, summary, profile_index);
  }
  // The 24 bits a slot keeps of a key of `length` bytes and hash `hash`
  // (its length and 16 bits of the hash), as `DecideAtHint` takes them.
  static std::uint32_t TagOf(std::uint64_t hash, std::size_t length) {
    return static_cast<std::uint32_t>(Tag(hash, length));
  }

  // `LookupAt` reduced to its common case, for a key of at most
  // `kInlineKey` bytes given by its `tag` (`TagOf`) and `padded` (as for
  // `LookupAt`, never null); or a `tag` over 24 bits, which no slot
  // matches, with any 16 bytes at `padded`: when slot
  // `slot` of the current array holds `key` with a state, calls
  // `decide(revision, summary)` with its revision and its profile's
  // summary; when that returns true, marks the slot referenced and counts
  // the hit as `LookupAt` does (bounded mode), and returns true. Returns
  // false, touching nothing, when the slot does not hold `key`, holds it
  // uncached, or `decide` declines: the caller then looks up with
  // `LookupAt`. With `kCalls` false, makes no call: also returns false,
  // touching nothing and before `decide`, when marking the hit would
  // (bounded mode: the slot's reference bit clear, or a thread without a
  // hit stripe of its own). REQUIRES: the caller is inside a `ReadSection`.
  template <bool kCalls = true, typename Decide>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool DecideAtHint(std::uint32_t tag,
                                                 std::size_t slot,
                                                 const char* padded,
                                                 Decide decide) const {
    const Table* t = table_.load(std::memory_order_acquire);
    if (ABSL_PREDICT_FALSE(slot >= t->capacity)) return false;
    // One copy of the lookup per mode, so that no flag stays live across
    // it.
    if (ABSL_PREDICT_FALSE(t->touched != nullptr)) {
      return DecideAtSlot<kCalls, true>(t->slots[slot], tag, padded, decide);
    }
    return DecideAtSlot<kCalls, false>(t->slots[slot], tag, padded, decide);
  }

  // The ref word of `key` (hashed as `hash`): this cache's ref id in the
  // high 32 bits and the number of the copy of `key`'s state it keeps for
  // refs in the low 32, numbering `key` if it was not yet. 0 (no word)
  // when `key` is not in the table, is longer than `kInlineKey` bytes, or
  // the cache keeps no ref states (bounded mode, or every ref id taken).
  // A word is never 0, never reused, and names this cache only: ref ids
  // are handed out once per process. Takes the writer lock when it
  // numbers `key` (once per key); may be called inside a read section.
  std::uint64_t RefFor(absl::string_view key, std::uint64_t hash)
      ABSL_LOCKS_EXCLUDED(mu_);

  // A check by ref word (`RefFor`): when `ref` is one of this cache's
  // words and the subject's state is cached, calls `decide(revision,
  // summary)` as `DecideAtHint` does and returns what it returns. Returns
  // false, touching nothing, for any other word (0, another cache's) or a
  // subject marked uncached: the caller then looks up with `LookupAt`.
  // Makes no call. REQUIRES: the caller is inside a `ReadSection`.
  template <typename Decide>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool DecideAtRef(std::uint64_t ref,
                                                Decide decide) const {
    std::uint64_t st;
    if (ABSL_PREDICT_FALSE(!RefState(ref, &st))) return false;
    return decide(static_cast<std::int64_t>(st >> kProfileBits),
                  SummaryAt(static_cast<std::uint32_t>(st & kProfileMask)));
  }

  // `LookupAt` with a null `profile`, by ref word: the subject's revision,
  // summary and profile index from its ref state. False, setting nothing,
  // when `DecideAtRef` would decline before calling `decide`.
  // REQUIRES: the caller is inside a `ReadSection`.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool LookupRef(
      std::uint64_t ref, std::int64_t* revision, const ProfileSummary** summary,
      std::uint32_t* profile_index) const {
    std::uint64_t st;
    return RefState(ref, &st) &&
           ReadStateWord(st, nullptr, revision, summary, profile_index);
  }

  // `DecideAtHint` without a hint, for a key of at most `kInlineKey`
  // bytes: probes from `key`'s home slot as `Lookup` does, then decides
  // at the slot that holds it as `DecideAtHint` does. Returns false,
  // touching nothing, when `key` is longer, not in the table, held
  // uncached, or `decide` declines (and, with `kCalls` false, when
  // marking the hit would need a call): the caller then looks up with
  // `HashAndLookup`. REQUIRES: the caller is inside a `ReadSection`.
  template <bool kCalls = true, typename Decide>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool DecideByKey(absl::string_view key,
                                                Decide decide) const {
    if (ABSL_PREDICT_FALSE(key.size() > kInlineKey)) return false;
    const InlineKey packed = Pack(key);
    const Table* t = table_.load(std::memory_order_acquire);
    std::uint64_t ref;
    const Slot* const slot =
        Probe(*t, key, HashInline(packed, key.size()), packed, &ref);
    if (ABSL_PREDICT_FALSE(slot == nullptr)) return false;
    if (ABSL_PREDICT_FALSE(t->touched != nullptr)) {
      return DecideMatched<kCalls, true>(*slot, ref, decide);
    }
    return DecideMatched<kCalls, false>(*slot, ref, decide);
  }

  // The profile a lookup with a null `profile` found (its
  // `*profile_index`). REQUIRES: the caller is inside the `ReadSection` of
  // that lookup.
  ABSL_ATTRIBUTE_ALWAYS_INLINE const SubjectProfile* ProfileAtIndex(
      std::uint32_t profile_index) const {
    return ProfileAt(profile_index);
  }

  // Keys up to this long live in the slot itself: a lookup then touches
  // one cache line for the key and the state.
  static constexpr std::size_t kInlineKey = 16;

  // Stores `state` for `key` when its revision is newer than the one
  // cached (or recorded for an uncached subject), or equal and
  // `replace_same_revision` (a recompile after expiry). When the newer
  // state does not fit (revision, profile table, key length or arena), the
  // subject is marked uncached: `Lookup` misses from then on, until a newer
  // state that fits arrives.
  // Bounded mode: storing a subject not cached may first evict others;
  // their ids are appended to `evicted` (when not null).
  UpsertResult Upsert(absl::string_view key, const SubjectState& state,
                      bool replace_same_revision,
                      std::vector<std::string>* evicted = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Whether `key` is cached (with a state, or marked uncached with its
  // revision). An evicted subject is not.
  bool Holds(absl::string_view key) const ABSL_LOCKS_EXCLUDED(mu_);

  bool bounded() const { return budget_bytes_ != 0; }
  // Bounded mode: whether the cached subjects fill the budget.
  bool full() const ABSL_LOCKS_EXCLUDED(mu_);

  // Bounded mode: lookups that found a cached state (counted by `Lookup`
  // with `count_hit`), those of them at revision 0 (a subject the store
  // does not know), and evictions.
  struct Counts {
    std::uint64_t hits = 0;
    std::uint64_t negative_hits = 0;
    std::uint64_t evictions = 0;
  };
  Counts counts() const ABSL_LOCKS_EXCLUDED(mu_);

  // Whether `Upsert` of `revision` for `key` would not be `kStale`. Holds
  // until the next write to `key`.
  bool Accepts(absl::string_view key, std::int64_t revision,
               bool replace_same_revision) const ABSL_LOCKS_EXCLUDED(mu_);

  // Subjects cached (evicted ones excluded).
  // (The two counts are read apart: clamped while a compaction resets
  // them.)
  std::size_t size() const {
    const std::size_t used = size_.load(std::memory_order_relaxed);
    const std::size_t dead = dead_.load(std::memory_order_relaxed);
    return used > dead ? used - dead : 0;
  }
  std::size_t profile_count() const ABSL_LOCKS_EXCLUDED(mu_);

  // Bytes held: slot arrays (current and retired), key arena and profiles.
  std::size_t MemoryBytes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct alignas(32) Slot {
    // Mutable: a lookup sets its reference bit (bounded mode).
    mutable std::atomic<std::uint64_t> key_ref{0};
    std::atomic<std::uint64_t> state{0};
    // Written once, before `key_ref` is published (release).
    char inline_key[kInlineKey] = {};
  };
  static_assert(sizeof(Slot) == 32);
  // Aligned so that what a lookup reads (capacity, slots, touched, and for
  // a check by ref ref_capacity, ref_states) shares one cache line.
  struct alignas(64) Table {
    // `refs`: with ref states, room for as many as the table may hold
    // subjects (mapped, its pages touched as subjects are numbered).
    explicit Table(std::size_t slot_count, bool bounded = false,
                   bool refs = false)
        : capacity(slot_count),
          ref_capacity(refs ? RefCapacityFor(slot_count) : 0),
          memory(slot_count * sizeof(Slot)) {
      // Zeroed memory holds valid zero atomics; construct them formally.
      slots = new (memory.data()) Slot[slot_count];
      if (ref_capacity > 0) {
        ref_memory = HugeBuffer(ref_capacity * sizeof(std::uint64_t));
        ref_states =
            new (ref_memory.data()) std::atomic<std::uint64_t>[ref_capacity];
      }
      if (bounded) touched = this;
    }
    // The slot a hash starts probing at: the high bits of hash * capacity,
    // so any capacity works (no power of two: the table can be sized to
    // its load, which keeps memory per subject low).
    std::size_t Home(std::uint64_t hash) const {
      return static_cast<std::size_t>(
          absl::Uint128High64(absl::uint128(hash) * absl::uint128(capacity)));
    }
    std::size_t Next(std::size_t i) const {
      return i + 1 == capacity ? 0 : i + 1;
    }
    std::size_t capacity;
    Slot* slots = nullptr;
    // Bounded mode: non-null (this table), so that a lookup calls `Touch`,
    // which sets the slot's `kReferencedBit`; null otherwise.
    const Table* touched = nullptr;
    // The ref states, by number (`RefFor`); 0 of them in bounded mode.
    std::size_t ref_capacity;
    std::atomic<std::uint64_t>* ref_states = nullptr;
    HugeBuffer memory;
    HugeBuffer ref_memory;
  };
  // Ref states room for a table of `slot_count` slots: the most subjects
  // it holds before it grows (`Full`), at most one per 32-bit number.
  static std::size_t RefCapacityFor(std::size_t slot_count);
  struct RetiredTable {
    std::unique_ptr<Table> table;
    Grace grace;
    // Key chunks only this table's slots refer to (a compaction copied
    // the live ids elsewhere): freed with it.
    std::vector<std::size_t> chunks;
  };
  // Bounded mode: slots of the current table emptied by evictions (their
  // key_ref `tomb_pending_`), reusable for another key once `grace`
  // elapsed (see `MakeRoomLocked`).
  struct RetiredSlots {
    std::vector<std::size_t> slots;
    Grace grace;
  };
  // Profiles whose last subject moved away, reusable once `grace` elapsed.
  struct RetiredProfiles {
    std::vector<std::uint32_t> indices;
    Grace grace;
  };
  // The state of a subject that is not cached (see the file comment).
  static constexpr std::uint64_t kUncached = ~std::uint64_t{0};

  static constexpr int kProfileBits = 24;
  static constexpr std::uint64_t kProfileMask =
      (std::uint64_t{1} << kProfileBits) - 1;
  // key_ref: [referenced:1][unused:1][offset:38][length:8][tag:16]. The
  // flag is bounded mode's (`Touch`, `MakeRoomLocked`), set and cleared
  // with atomic read-modify-writes; a key's identity is the rest. The
  // offset of a key of at most `kInlineKey` bytes (held in the slot) is 1,
  // or its ref state's number + 2 once it has one (`RefFor`).
  static constexpr std::uint64_t kTagMask = 0xFFFFFF;  // length and tag
  static constexpr std::uint64_t kReferencedBit = std::uint64_t{1} << 63;
  static constexpr std::uint64_t kFlagBits = kReferencedBit;
  static constexpr std::uint64_t kOffsetMask = (std::uint64_t{1} << 38) - 1;
  static constexpr int kChunkBits = 22;  // 4 MiB key chunks
  static constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;
  static constexpr std::size_t kMaxChunks = 1 << 14;
  static constexpr int kProfileChunkBits = 12;  // 4096 profiles per chunk
  static constexpr std::size_t kMaxProfileChunks = 1 << 12;

  // The profile and revision of the subject in `slot`; false when it is
  // marked uncached.
  // With `summary` not null, also the profile's summary (written with the
  // profile: as fresh as it). With `profile` null, sets `*profile_index`
  // instead (for `ProfileAtIndex`, when the caller needs the profile).
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool ReadState(
      const Slot& slot, const SubjectProfile** profile, std::int64_t* revision,
      const ProfileSummary** summary = nullptr,
      std::uint32_t* profile_index = nullptr) const {
    return ReadStateWord(slot.state.load(std::memory_order_acquire), profile,
                         revision, summary, profile_index);
  }
  // `ReadState` of the state word `st` (a slot's or a ref state's).
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool ReadStateWord(
      std::uint64_t st, const SubjectProfile** profile, std::int64_t* revision,
      const ProfileSummary** summary, std::uint32_t* profile_index) const {
    if (ABSL_PREDICT_FALSE(st == kUncached)) return false;
    if (profile != nullptr) {
      *profile = ProfileAt(static_cast<std::uint32_t>(st & kProfileMask));
    } else {
      *profile_index = static_cast<std::uint32_t>(st & kProfileMask);
    }
    if (summary != nullptr) {
      *summary = SummaryAt(static_cast<std::uint32_t>(st & kProfileMask));
    }
    *revision = static_cast<std::int64_t>(st >> kProfileBits);
    return true;
  }

  // `DecideAtHint` at `s`, in bounded mode when `kBounded`.
  template <bool kCalls, bool kBounded, typename Decide>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool DecideAtSlot(const Slot& s,
                                                 std::uint32_t tag,
                                                 const char* padded,
                                                 Decide& decide) const {
    const std::uint64_t ref = s.key_ref.load(std::memory_order_acquire);
    if (ABSL_PREDICT_FALSE(
            (ref & kTagMask) != tag ||
            !SameInlineKey(s, InlineKey{Load64(padded), Load64(padded + 8)}))) {
      return false;
    }
    return DecideMatched<kCalls, kBounded>(s, ref, decide);
  }

  // `DecideAtSlot` after slot `s` matched the key on key_ref `ref`.
  template <bool kCalls, bool kBounded, typename Decide>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool DecideMatched(const Slot& s,
                                                  std::uint64_t ref,
                                                  Decide& decide) const {
    const std::uint64_t st = s.state.load(std::memory_order_acquire);
    if (ABSL_PREDICT_FALSE(st == kUncached)) return false;
    if (!kCalls && kBounded &&
        ((ref & kReferencedBit) == 0 ||
         ReadSections::ThreadIndex() >= kOwnedHitStripes)) {
      return false;
    }
    const auto revision = static_cast<std::int64_t>(st >> kProfileBits);
    if (ABSL_PREDICT_FALSE(!decide(
            revision,
            SummaryAt(static_cast<std::uint32_t>(st & kProfileMask))))) {
      return false;
    }
    if (kBounded) {
      if (kCalls) {
        Touch(s, ref, revision == 0 ? 2 : 1);
      } else {
        // `Touch` with the bit set and an own stripe (tested above).
        HitStripe& h = hit_stripes_[ReadSections::ThreadIndex()];
        h.hits.store(h.hits.load(std::memory_order_relaxed) + 1,
                     std::memory_order_relaxed);
        if (revision == 0) {
          h.negative.store(h.negative.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
        }
      }
    }
    return true;
  }

  // Bounded mode, after a lookup matched `slot` on key_ref `ref`: marks
  // the slot referenced for CLOCK when `ref` has the bit clear, and counts
  // a hit (`hit` 1) or a hit on a negative entry (`hit` 2; 0: a slot
  // marked uncached, no hit). The common hit writes nothing shared and
  // runs no read-modify-write (each one a full barrier on x86, which the
  // full cache's check has none of): a hot subject's bit is already set,
  // and the hit is counted in the calling thread's own stripe with a
  // plain load and store.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Touch(const Slot& slot, std::uint64_t ref,
                                          int hit) const {
    if (ABSL_PREDICT_FALSE((ref & kReferencedBit) == 0)) MarkReferenced(slot);
    if (hit == 0) return;
    const std::uint32_t thread = ReadSections::ThreadIndex();
    if (ABSL_PREDICT_TRUE(thread < kOwnedHitStripes)) {
      HitStripe& h = hit_stripes_[thread];
      h.hits.store(h.hits.load(std::memory_order_relaxed) + 1,
                   std::memory_order_relaxed);
      if (hit == 2) {
        h.negative.store(h.negative.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
      }
      return;
    }
    CountSharedHit(thread, hit == 2);
  }
  // Sets `slot`'s reference bit: a read-modify-write, as the writer may
  // empty the slot meanwhile (a tomb with the bit set is still a tomb).
  ABSL_ATTRIBUTE_NOINLINE void MarkReferenced(const Slot& slot) const;
  // A hit of a thread without a stripe of its own (`ThreadIndex` past
  // `kOwnedHitStripes`): an atomic add to a shared stripe.
  ABSL_ATTRIBUTE_NOINLINE void CountSharedHit(std::uint32_t thread,
                                              bool negative) const;

  // A key of at most kInlineKey bytes as two little-endian words, zero
  // past its end: as `Slot::inline_key` holds it.
  struct InlineKey {
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
  };
  static std::uint64_t Load64(const char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
  static std::uint32_t Load32(const char* p) {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
  // Packs `key` (at most kInlineKey bytes) with loads inside its bytes
  // only: overlapping loads from both ends, shifted into place. No call,
  // unlike a memcpy or memcmp of a variable length.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static InlineKey Pack(absl::string_view key) {
    static_assert(kInlineKey == 16);
    const char* p = key.data();
    const std::size_t n = key.size();
    InlineKey k;
    if (n > 8) {
      k.lo = Load64(p);
      // Bytes [n - 8, n); the top n - 8 of them are bytes [8, n).
      k.hi = Load64(p + n - 8) >> (8 * (16 - n));
    } else if (n >= 4) {
      k.lo = std::uint64_t{Load32(p)} |
             (std::uint64_t{Load32(p + n - 4)} << (8 * (n - 4)));
    } else if (n > 0) {
      const auto byte = [p](std::size_t i) {
        return std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
      };
      k.lo = byte(0) | byte(n / 2) | byte(n - 1);
    }
    return k;
  }
  // `Hash` of a key of `len` <= kInlineKey bytes packed as `k`: two
  // 64x64->128-bit multiply-folds (as wyhash mixes), seeded.
  static std::uint64_t Fold(std::uint64_t a, std::uint64_t b) {
    const absl::uint128 m = absl::uint128(a) * absl::uint128(b);
    return absl::Uint128Low64(m) ^ absl::Uint128High64(m);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE static std::uint64_t HashInline(
      const InlineKey& k, std::size_t len) {
    const auto seed =
        static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&kSeed));
    const std::uint64_t h = Fold(k.lo ^ seed ^ 0xa0761d6478bd642fu,
                                 k.hi ^ len ^ 0xe7037ed1a0b428dbu);
    return Fold(h ^ seed ^ 0x8ebc6af09c88c6e3u, 0x589965cc75374cc3u);
  }
  // Its address seeds the hash.
  static constexpr char kSeed = 0;
  static bool SameInlineKey(const Slot& slot, const InlineKey& k) {
    return Load64(slot.inline_key) == k.lo &&
           Load64(slot.inline_key + 8) == k.hi;
  }

  // `Lookup` with `packed`, `Pack(key)` for a short key (unused for a
  // longer one).
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool LookupPacked(
      absl::string_view key, std::uint64_t hash, const InlineKey& packed,
      const SubjectProfile** profile, std::int64_t* revision,
      const ProfileSummary** summary = nullptr,
      std::uint32_t* profile_index = nullptr) const {
    const Table* t = table_.load(std::memory_order_acquire);
    std::uint64_t ref;
    const Slot* const slot = Probe(*t, key, hash, packed, &ref);
    if (slot == nullptr) return false;
    const bool hit =
        ReadState(*slot, profile, revision, summary, profile_index);
    if (ABSL_PREDICT_FALSE(t->touched != nullptr)) {
      Touch(*slot, ref, hit && *revision == 0 ? 2 : hit);
    }
    return hit;
  }

  // The slot of `t` that holds `key` (hashed as `hash`; `packed` as for
  // `LookupPacked`), with its key_ref in `*ref`; null when none does.
  ABSL_ATTRIBUTE_ALWAYS_INLINE const Slot* Probe(const Table& t,
                                                 absl::string_view key,
                                                 std::uint64_t hash,
                                                 const InlineKey& packed,
                                                 std::uint64_t* ref) const {
    const std::uint64_t want_tag = Tag(hash, key.size());
    const bool short_key = key.size() <= kInlineKey;
    // Probes by pointer: a probe is a load and two tests, and a step an
    // increment and a wrap at the end of the array.
    const Slot* const begin = t.slots;
    const Slot* const end = begin + t.capacity;
    const Slot* slot = begin + t.Home(hash);
    for (;;) {
      *ref = slot->key_ref.load(std::memory_order_acquire);
      if (*ref == 0) return nullptr;
      if ((*ref & kTagMask) == want_tag &&
          (short_key
               ? SameInlineKey(*slot, packed)
               : std::memcmp(ArenaBytes(*ref), key.data(), key.size()) == 0)) {
        return slot;
      }
      if (++slot == end) slot = begin;
    }
  }

  // The low 16 bits of the hash: the slot index uses the high bits.
  static std::uint64_t Tag(std::uint64_t hash, std::size_t len) {
    return (static_cast<std::uint64_t>(len) << 16) | (hash & 0xFFFF);
  }
  const char* KeyBytes(const Slot& slot, std::uint64_t ref) const {
    return ((ref >> 16) & 0xFF) <= kInlineKey ? slot.inline_key
                                              : ArenaBytes(ref);
  }
  const char* ArenaBytes(std::uint64_t ref) const {
    const std::uint64_t offset = ref >> 24;
    return chunks_[(offset & kOffsetMask) >> kChunkBits].load(
               std::memory_order_relaxed) +
           (offset & (kChunkSize - 1));
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE const SubjectProfile* ProfileAt(
      std::uint32_t index) const {
    return profile_chunks_[index >> kProfileChunkBits].load(
               std::memory_order_relaxed) +
           (index & ((1u << kProfileChunkBits) - 1));
  }

  // The first `kDirectSummaries` summaries are found from a fixed base
  // (`summaries_`): a warm check then waits for no chunk pointer between
  // the slot and the summary.
  ABSL_ATTRIBUTE_ALWAYS_INLINE const ProfileSummary* SummaryAt(
      std::uint32_t index) const {
    if (ABSL_PREDICT_TRUE(index < kDirectSummaries)) return summaries_ + index;
    return summary_chunks_[index >> kProfileChunkBits].load(
               std::memory_order_relaxed) +
           (index & ((1u << kProfileChunkBits) - 1));
  }

  Slot* FindLocked(absl::string_view key, std::uint64_t hash) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The state word of ref word `ref`'s ref state in `*st`; false when
  // `ref` is not one of this cache's words or the subject is uncached.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool RefState(std::uint64_t ref,
                                             std::uint64_t* st) const {
    const Table* t = table_.load(std::memory_order_acquire);
    const auto number = static_cast<std::uint32_t>(ref);
    // `ref_id_` is `kNoRefs` in a cache without ref states, which no word
    // has; the capacity test only guards against a word this cache did
    // not hand out.
    if (ABSL_PREDICT_FALSE((ref >> 32) != ref_id_ ||
                           number >= t->ref_capacity)) {
      return false;
    }
    *st = t->ref_states[number].load(std::memory_order_acquire);
    return ABSL_PREDICT_TRUE(*st != kUncached);
  }
  // The ref word of the key in the slot with key_ref `ref` (of the table
  // `RefFor` numbers in), 0 when it has none.
  std::uint64_t RefWord(std::uint64_t ref) const {
    const std::uint64_t offset = (ref >> 24) & kOffsetMask;
    return ref_id_ != kNoRefs && ((ref >> 16) & 0xFF) <= kInlineKey &&
                   offset >= kFirstRefOffset
               ? (std::uint64_t{ref_id_} << 32) | (offset - kFirstRefOffset)
               : 0;
  }
  // Stores state `st` into `slot` of the current table, then into the
  // slot's ref state when it has one.
  void SetStateLocked(Slot& slot, std::uint64_t st)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The revision cached, or recorded for an uncached subject; -1 if none.
  std::int64_t RevisionLocked(absl::string_view key, const Slot* slot) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool InternLocked(const SubjectProfile& p, std::uint32_t* index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops one subject's use of profile `index`.
  void ReleaseProfileLocked(std::uint32_t index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves profiles and tables whose grace elapsed to reuse / frees them.
  void ReclaimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores `packed` for `key` (slot `slot`, or a new one); false when a new
  // slot cannot be had (arena full).
  // Bounded: a compaction it needs may drop a subject (`evicted`).
  bool StoreLocked(absl::string_view key, std::uint64_t hash, Slot* slot,
                   std::uint64_t packed, std::vector<std::string>* evicted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AppendKeyLocked(absl::string_view key, std::uint64_t* offset)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void GrowLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Bounded mode.
  static std::size_t CostOf(std::size_t key_length) {
    return kBoundedBytesPerSubject + (key_length > kInlineKey ? key_length : 0);
  }
  bool LiveLocked(absl::string_view key, const Slot* slot) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Charges a subject now cached.
  void ChargeLocked(std::size_t key_length) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `ref` marks a slot emptied by an eviction (either kind).
  bool IsTomb(std::uint64_t ref) const {
    const std::uint64_t r = ref & ~kFlagBits;
    return r == tomb_pending_ || r == tomb_ready_;
  }
  // Evicts the live subject `key` in slot `i` of the current table: marks
  // it uncached, then empties the slot (`tomb_pending_`).
  void EvictLocked(std::size_t i, absl::string_view key,
                   std::vector<std::string>* evicted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts a grace over the slots emptied since the last one (once there
  // are enough of them) and makes those whose grace elapsed reusable
  // (`tomb_ready_`).
  void RetireSlotsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the live subject `key` in state `state` from the accounting: its
  // profile reference or negative entry, its bytes; counts an eviction and
  // names it in `evicted` (when not null). The caller clears its slot.
  void ForgetLocked(absl::string_view key, std::uint64_t state,
                    std::vector<std::string>* evicted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Evicts until a subject costing `cost` fits the budget.
  void MakeRoomLocked(std::size_t cost, std::vector<std::string>* evicted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rebuilds the slot array at its size with the live subjects, copying
  // their long ids into fresh key chunks.
  void CompactLocked(std::vector<std::string>* evicted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A key chunk index to fill: a freed one, else the next never used.
  bool NewChunkLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::atomic<Table*> table_;
  // This cache's ref id (the high half of its ref words), handed out once
  // per process; `kNoRefs` without ref states (bounded mode, or every id
  // taken).
  static constexpr std::uint32_t kNoRefs = ~std::uint32_t{0};
  // The key_ref offset of an inline key numbered 0 (`RefWord`).
  static constexpr std::uint64_t kFirstRefOffset = 2;
  const std::uint32_t ref_id_;
  // Ref states numbered so far.
  std::size_t next_ref_ ABSL_GUARDED_BY(mu_) = 0;
  // Slots holding a key; of them, evicted ones (bounded mode).
  std::atomic<std::size_t> size_{0};
  std::atomic<std::size_t> dead_{0};
  std::unique_ptr<std::atomic<char*>[]> chunks_;
  // By chunk index; empty once freed.
  std::vector<HugeBuffer> chunk_memory_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<std::atomic<SubjectProfile*>[]> profile_chunks_;
  // Beside each profile chunk, its profiles' summaries (`Summarize`). The
  // chunks of the first `kDirectSummaries` are consecutive in
  // `summary_memory_` (mapped up front, its pages touched as chunks are
  // taken into use), at `summaries_`.
  std::unique_ptr<std::atomic<ProfileSummary*>[]> summary_chunks_;
  static constexpr std::uint32_t kDirectSummaries = 1u << 15;  // 1 MiB
  static_assert(kDirectSummaries % (1u << kProfileChunkBits) == 0);
  HugeBuffer summary_memory_;
  ProfileSummary* const summaries_;
  const std::uint32_t max_profiles_;

  mutable Mutex mu_;
  std::unique_ptr<Table> current_table_ ABSL_GUARDED_BY(mu_);
  std::vector<RetiredTable> retired_tables_ ABSL_GUARDED_BY(mu_);
  // Chunk indices ever used; the chunk being filled (valid once
  // `chunk_count_` > 0); chunks the current table's keys live in; freed
  // indices to reuse.
  std::size_t chunk_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t current_chunk_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t chunk_used_ ABSL_GUARDED_BY(mu_) = kChunkSize;
  std::vector<std::size_t> live_chunks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::size_t> free_chunks_ ABSL_GUARDED_BY(mu_);
  // Key bytes appended to the current table's chunks.
  std::size_t key_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Bounded mode: the budget (0: unbounded), what the cached subjects are
  // charged, and the CLOCK hand.
  const std::size_t budget_bytes_;
  // Bounded mode: the key_ref of a slot emptied by an eviction, while
  // readers may still hold its old key (pending) and once none can
  // (ready, reusable). Length 0 with a tag the empty id never hashes to,
  // so that no lookup matches either. Then the slots emptied since the
  // last grace, those in a grace, and how many slots may hold a key or a
  // tomb before an insert compacts the table (always fewer than all, so
  // that a probe meets an empty slot).
  const std::uint64_t tomb_pending_;
  const std::uint64_t tomb_ready_;
  std::vector<std::size_t> pending_slots_ ABSL_GUARDED_BY(mu_);
  std::vector<RetiredSlots> retired_slots_ ABSL_GUARDED_BY(mu_);
  std::size_t compact_at_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t live_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t hand_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t hand_stride_ ABSL_GUARDED_BY(mu_) = 1;
  std::uint64_t evictions_ ABSL_GUARDED_BY(mu_) = 0;
  // Hits counted in stripes of a cache line each. The first
  // `kOwnedHitStripes` belong one to each thread by its
  // `ReadSections::ThreadIndex` (written by that thread only, with plain
  // stores); threads past them share the others (atomic adds).
  struct alignas(64) HitStripe {
    std::atomic<std::uint64_t> hits{0};
    std::atomic<std::uint64_t> negative{0};
  };
  static constexpr std::uint32_t kOwnedHitStripes = 64;
  static constexpr std::uint32_t kSharedHitStripes = 16;
  mutable HitStripe hit_stripes_[kOwnedHitStripes + kSharedHitStripes];
  // Profile indices ever handed out; those in use are `profile_index_`.
  std::uint32_t profiles_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<SubjectProfile, std::uint32_t, SubjectProfile::Hasher>
      profile_index_ ABSL_GUARDED_BY(mu_);
  // Subjects using each profile index.
  std::vector<std::uint32_t> profile_refs_ ABSL_GUARDED_BY(mu_);
  // Unused profiles waiting for readers (`pending_`, not yet in a grace;
  // then `retired_profiles_`), and those free to reuse.
  std::vector<std::uint32_t> pending_profiles_ ABSL_GUARDED_BY(mu_);
  std::vector<RetiredProfiles> retired_profiles_ ABSL_GUARDED_BY(mu_);
  std::vector<std::uint32_t> free_profiles_ ABSL_GUARDED_BY(mu_);
  // The revision of each uncached subject.
  absl::flat_hash_map<std::string, std::int64_t> uncached_ ABSL_GUARDED_BY(mu_);
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_CONSENT_CACHE_H_
