// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/core/consent_cache.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace consentry::internal {
namespace {

using Result = ConsentCache::UpsertResult;

SubjectState StateAt(std::int64_t rev, std::uint64_t given) {
  SubjectState s;
  s.revision = rev;
  s.profile.given = given;
  s.profile.refused = ~given;
  return s;
}

// Looks `key` up; returns the profile and sets `*rev`, or nullptr.
// REQUIRES: the caller is inside a `ReadSection` while it uses the result.
const SubjectProfile* Get(const ConsentCache& cache, absl::string_view key,
                          std::int64_t* rev) {
  const SubjectProfile* p = nullptr;
  return cache.Lookup(key, ConsentCache::Hash(key), &p, rev) ? p : nullptr;
}

TEST(ConsentCacheTest, MissThenHit) {
  ConsentCache cache;
  ReadSection section;
  std::int64_t rev = 0;
  EXPECT_EQ(Get(cache, "a", &rev), nullptr);
  EXPECT_EQ(cache.Upsert("a", StateAt(3, 7), false), Result::kStored);
  const SubjectProfile* p = Get(cache, "a", &rev);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(rev, 3);
  EXPECT_EQ(p->given, 7u);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ConsentCacheTest, OlderRevisionNeverOverwritesNewer) {
  ConsentCache cache;
  ReadSection section;
  cache.Upsert("a", StateAt(5, 1), false);
  EXPECT_EQ(cache.Upsert("a", StateAt(4, 2), false), Result::kStale);
  EXPECT_EQ(cache.Upsert("a", StateAt(5, 3), false), Result::kStale);
  EXPECT_EQ(cache.Upsert("a", StateAt(5, 3), true), Result::kStored);
  std::int64_t rev = 0;
  const SubjectProfile* p = Get(cache, "a", &rev);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->given, 3u);
}

TEST(ConsentCacheTest, GrowsAndKeepsEveryKey) {
  ConsentCache cache;
  ReadSection section;
  for (int i = 0; i < 10000; ++i) {
    cache.Upsert("subject-" + std::to_string(i),
                 StateAt(i + 1, std::uint64_t(i)), false);
  }
  EXPECT_EQ(cache.size(), 10000u);
  for (int i = 0; i < 10000; ++i) {
    const std::string k = "subject-" + std::to_string(i);
    std::int64_t rev = 0;
    const SubjectProfile* p = Get(cache, k, &rev);
    ASSERT_NE(p, nullptr) << k;
    EXPECT_EQ(p->given, static_cast<std::uint64_t>(i));
    EXPECT_EQ(rev, i + 1);
  }
  std::int64_t rev = 0;
  EXPECT_EQ(Get(cache, "subject-10000", &rev), nullptr);
  EXPECT_EQ(cache.profile_count(), 10000u);
}

TEST(ConsentCacheTest, EmptyAndBinaryKeys) {
  ConsentCache cache;
  ReadSection section;
  const std::string bin("a\0b", 3);
  cache.Upsert("", StateAt(1, 1), false);
  cache.Upsert(bin, StateAt(2, 2), false);
  std::int64_t rev = 0;
  ASSERT_NE(Get(cache, "", &rev), nullptr);
  EXPECT_EQ(Get(cache, "", &rev)->given, 1u);
  ASSERT_NE(Get(cache, bin, &rev), nullptr);
  EXPECT_EQ(Get(cache, bin, &rev)->given, 2u);
  EXPECT_EQ(Get(cache, "a", &rev), nullptr);
}

TEST(ConsentCacheTest, SubjectsWithTheSameChoicesShareAProfile) {
  ConsentCache cache;
  for (int i = 0; i < 1000; ++i) {
    cache.Upsert("s" + std::to_string(i), StateAt(i + 1, i % 3 == 0 ? 1 : 2),
                 false);
  }
  EXPECT_EQ(cache.size(), 1000u);
  EXPECT_EQ(cache.profile_count(), 2u);
}

TEST(ConsentCacheTest, OverlongKeysAndRevisionsAreNotCached) {
  ConsentCache cache;
  const std::string long_key(ConsentCache::kMaxKeyLength + 1, 'x');
  EXPECT_EQ(cache.Upsert(long_key, StateAt(1, 1), false), Result::kUnstorable);
  EXPECT_EQ(
      cache.Upsert("a", StateAt(ConsentCache::kMaxRevision + 1, 1), false),
      Result::kUnstorable);
  const std::string max_key(ConsentCache::kMaxKeyLength, 'y');
  EXPECT_EQ(
      cache.Upsert(max_key, StateAt(ConsentCache::kMaxRevision, 1), false),
      Result::kStored);
  ReadSection section;
  std::int64_t rev = 0;
  ASSERT_NE(Get(cache, max_key, &rev), nullptr);
  EXPECT_EQ(rev, ConsentCache::kMaxRevision);
  EXPECT_EQ(Get(cache, long_key, &rev), nullptr);
  EXPECT_EQ(Get(cache, "a", &rev), nullptr);
}

// A newer state the cache cannot hold never leaves the older one readable:
// the subject is uncached (the caller reads the store) until a newer state
// that fits arrives, and an older fill cannot bring the old state back.
TEST(ConsentCacheTest, RevisionBeyondTheSlotMakesTheSubjectUncached) {
  ConsentCache cache;
  ASSERT_EQ(cache.Upsert("a", StateAt(1, 1), false), Result::kStored);
  const std::int64_t big = ConsentCache::kMaxRevision + 5;
  EXPECT_EQ(cache.Upsert("a", StateAt(big, 2), false), Result::kUnstorable);
  {
    ReadSection section;
    std::int64_t rev = 0;
    EXPECT_EQ(Get(cache, "a", &rev), nullptr);
  }
  // A fill that read the store before the change changes nothing.
  EXPECT_EQ(cache.Upsert("a", StateAt(7, 1), true), Result::kStale);
  EXPECT_FALSE(cache.Accepts("a", big - 1, true));
  EXPECT_TRUE(cache.Accepts("a", big + 1, false));
  // A new subject whose first state does not fit is guarded the same way.
  EXPECT_EQ(cache.Upsert("b", StateAt(big, 2), false), Result::kUnstorable);
  EXPECT_EQ(cache.Upsert("b", StateAt(3, 1), false), Result::kStale);
  ReadSection section;
  std::int64_t rev = 0;
  EXPECT_EQ(Get(cache, "b", &rev), nullptr);
}

TEST(ConsentCacheTest, FullProfileTableMakesTheSubjectUncached) {
  ConsentCache cache(0, /*max_profiles=*/2);
  ASSERT_EQ(cache.Upsert("a", StateAt(1, 1), false), Result::kStored);
  ASSERT_EQ(cache.Upsert("b", StateAt(2, 2), false), Result::kStored);
  // Both profiles are in use: a third choice has no room.
  EXPECT_EQ(cache.Upsert("a", StateAt(3, 3), false), Result::kUnstorable);
  {
    ReadSection section;
    std::int64_t rev = 0;
    EXPECT_EQ(Get(cache, "a", &rev), nullptr);
    ASSERT_NE(Get(cache, "b", &rev), nullptr);
  }
  EXPECT_EQ(cache.Upsert("a", StateAt(2, 1), true), Result::kStale);
  // "a" released profile 1, which is reused once no reader can hold it.
  EXPECT_EQ(cache.Upsert("a", StateAt(4, 4), false), Result::kStored);
  ReadSection section;
  std::int64_t rev = 0;
  const SubjectProfile* p = Get(cache, "a", &rev);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(rev, 4);
  EXPECT_EQ(p->given, 4u);
  EXPECT_LE(cache.profile_count(), 2u);
}

// Distinct choices over time (e.g. expiry times) reuse released profiles:
// the table stays bounded by the profiles in use.
TEST(ConsentCacheTest, ReleasedProfilesAreReused) {
  ConsentCache cache(0, /*max_profiles=*/4);
  for (int i = 1; i <= 2000; ++i) {
    ASSERT_EQ(
        cache.Upsert("a", StateAt(i, static_cast<std::uint64_t>(i)), false),
        Result::kStored)
        << i;
  }
  EXPECT_LE(cache.profile_count(), 4u);
  ReadSection section;
  std::int64_t rev = 0;
  const SubjectProfile* p = Get(cache, "a", &rev);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->given, 2000u);
}

// A profile's summary (what a warm check reads instead of the profile) is
// the summary of the profile the slot names, also when the profile's index
// was released and reused for other choices: through the probing lookup
// and through `DecideAtHint`.
TEST(ConsentCacheTest, SummaryFollowsItsProfileWhenTheIndexIsReused) {
  ConsentCache cache(0, /*max_profiles=*/3);
  std::mt19937_64 rng(11);
  const std::string key = "subject-1";
  const std::uint64_t hash = ConsentCache::Hash(key);
  char padded[ConsentCache::kInlineKey] = {};
  std::memcpy(padded, key.data(), key.size());
  const auto same = [](const ProfileSummary& a, const ProfileSummary& b) {
    return a.flags == b.flags &&
           std::memcmp(a.codes, b.codes, sizeof(a.codes)) == 0;
  };
  for (int i = 1; i <= 500; ++i) {
    SubjectState st;
    st.revision = i;
    st.profile.given = rng();
    st.profile.refused = rng();
    st.profile.withdrawn = rng() & rng();
    st.profile.expired = rng();
    st.profile.suspended = rng() & rng() & rng();
    if (i % 7 == 0) st.profile.flags = SubjectProfile::kSuspendAll;
    ASSERT_EQ(cache.Upsert(key, st, false), Result::kStored) << i;
    // Another subject holding a profile, so that indices are reused in a
    // varying order.
    if (i % 3 == 0) {
      ASSERT_EQ(cache.Upsert("other", StateAt(i, rng()), false),
                Result::kStored);
    }
    ReadSection section;
    const ProfileSummary want = Summarize(st.profile);
    const SubjectProfile* p = nullptr;
    const ProfileSummary* summary = nullptr;
    std::int64_t rev = 0;
    std::uint64_t h = 0;
    ASSERT_TRUE(cache.HashAndLookup(key, &h, &p, &rev, &summary));
    ASSERT_TRUE(*p == st.profile) << i;
    ASSERT_TRUE(same(*summary, want)) << i;
    const ConsentCache::Hint hint = cache.HintFor(key, hash);
    bool called = false;
    ASSERT_TRUE(cache.DecideAtHint(
        ConsentCache::TagOf(hash, key.size()), hint.slot, padded,
        [&](std::int64_t r, const ProfileSummary* s) {
          called = true;
          EXPECT_EQ(r, i);
          EXPECT_TRUE(same(*s, want)) << i;
          return true;
        }));
    ASSERT_TRUE(called);
  }
  EXPECT_LE(cache.profile_count(), 3u);
}

// Profiles past the first 32,768 keep their summaries in chunks of their
// own, the first ones at a fixed base: every profile's summary is its
// own on both sides of that line, through the probing lookup and through
// `DecideByKey`.
TEST(ConsentCacheTest, EverySummaryIsItsProfilesPastTheDirectOnes) {
  constexpr int kSubjects = 40'000;
  ConsentCache cache(kSubjects);
  const auto state = [](int i) {
    SubjectState st;
    st.revision = i + 1;
    st.profile.given = static_cast<std::uint64_t>(i);
    st.profile.refused = static_cast<std::uint64_t>(i) << 20;
    st.profile.suspended = i % 3 == 0 ? std::uint64_t{1} << 40 : 0;
    return st;
  };
  for (int i = 0; i < kSubjects; ++i) {
    ASSERT_EQ(cache.Upsert("s" + std::to_string(i), state(i), false),
              Result::kStored);
  }
  ASSERT_EQ(cache.profile_count(), static_cast<std::size_t>(kSubjects));
  ReadSection section;
  for (int i = 0; i < kSubjects; ++i) {
    const std::string key = "s" + std::to_string(i);
    const ProfileSummary want = Summarize(state(i).profile);
    const SubjectProfile* p = nullptr;
    const ProfileSummary* summary = nullptr;
    std::int64_t rev = 0;
    std::uint64_t hash = 0;
    ASSERT_TRUE(cache.HashAndLookup(key, &hash, &p, &rev, &summary)) << i;
    ASSERT_EQ(std::memcmp(summary, &want, sizeof(want)), 0) << i;
    const ProfileSummary* decided = nullptr;
    ASSERT_TRUE(cache.DecideByKey(
        key, [&decided](std::int64_t, const ProfileSummary* s) {
          decided = s;
          return true;
        }));
    ASSERT_EQ(std::memcmp(decided, &want, sizeof(want)), 0) << i;
  }
}

// A profile a reader still holds is not reused, however long it holds it.
TEST(ConsentCacheTest, ProfileHeldByAnOpenSectionIsNotReused) {
  ConsentCache cache(0, /*max_profiles=*/2);
  ASSERT_EQ(cache.Upsert("a", StateAt(1, 1), false), Result::kStored);
  std::int64_t rev = 0;
  {
    ReadSection section;
    const SubjectProfile* held = Get(cache, "a", &rev);
    ASSERT_NE(held, nullptr);
    ASSERT_EQ(cache.Upsert("a", StateAt(2, 2), false), Result::kStored);
    // Profile 1 is unused but held: no room for a third choice.
    EXPECT_EQ(cache.Upsert("a", StateAt(3, 3), false), Result::kUnstorable);
    EXPECT_EQ(held->given, 1u);
    EXPECT_EQ(held->refused, ~std::uint64_t{1});
  }
  EXPECT_EQ(cache.Upsert("a", StateAt(4, 4), false), Result::kStored);
}

// Runs `write` while three reader threads each call a copy of `read_pass`
// (its state its own) in a loop, and returns once each reader has completed
// a pass begun after `write` returned: the readers overlap the writer and
// read its final state however the threads are scheduled (no timing
// involved).
template <typename ReadPass, typename Write>
void ReadWhileWriting(const ReadPass& read_pass, Write write) {
  constexpr int kReaders = 3;
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  std::atomic<long> passes{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < kReaders; ++t) {
    readers.emplace_back([&, pass = read_pass]() mutable {
      started.fetch_add(1);
      while (!stop.load(std::memory_order_relaxed)) {
        pass();
        passes.fetch_add(1);
      }
    });
  }
  while (started.load() < kReaders) std::this_thread::yield();
  write();
  // At most one pass per reader was in flight; one more completed pass
  // began after this point.
  const long after = passes.load();
  while (passes.load() < after + kReaders + 1) std::this_thread::yield();
  stop = true;
  for (auto& r : readers) r.join();
}

// Readers never see a torn state: every written state has refused == ~given.
TEST(ConsentCacheTest, ReadersSeeConsistentStatesDuringWritesAndGrowth) {
  ConsentCache cache;
  std::atomic<long> torn{0};
  std::atomic<long> hits{0};
  ReadWhileWriting(
      [&] {
        for (int i = 0; i < 64; ++i) {
          const std::string k = "k" + std::to_string(i);
          // The profile read stays valid until the section ends.
          ReadSection section;
          std::int64_t rev = 0;
          const SubjectProfile* p = Get(cache, k, &rev);
          if (p != nullptr) {
            hits.fetch_add(1, std::memory_order_relaxed);
            if (p->refused != ~p->given) torn.fetch_add(1);
            // The profile for revision r has given == r * constant.
            if (p->given != static_cast<std::uint64_t>(rev) *
                                std::uint64_t{0x9e3779b97f4a7c15} &&
                rev != 1) {
              torn.fetch_add(1);
            }
          }
        }
      },
      [&] {
        for (int round = 1; round <= 300; ++round) {
          for (int i = 0; i < 64; ++i) {
            cache.Upsert("k" + std::to_string(i),
                         StateAt(round, static_cast<std::uint64_t>(round) *
                                            std::uint64_t{0x9e3779b97f4a7c15}),
                         false);
          }
          // Force growth with fresh keys while readers run.
          cache.Upsert("grow" + std::to_string(round), StateAt(1, 0), false);
        }
      });
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(hits.load(), 0);
}

// Keys of every length from 0 to `max_length`: "", "a", "ab", ...
std::vector<std::string> KeysUpTo(std::size_t max_length) {
  std::vector<std::string> keys;
  for (std::size_t n = 0; n <= max_length; ++n) {
    std::string k(n, 'k');
    for (std::size_t i = 0; i < n; ++i) k[i] = static_cast<char>('a' + i % 26);
    keys.push_back(k);
  }
  return keys;
}

// Every key length the inline compare distinguishes (0 to 16 bytes, each
// load width and overlap), the arena (17 and more) and ids that differ in
// one byte at each position: a hit only for the very key.
TEST(ConsentCacheTest, EveryKeyLengthFindsExactlyItsKey) {
  ConsentCache cache;
  ReadSection section;
  const std::vector<std::string> keys = KeysUpTo(40);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(
        cache.Upsert(
            keys[i],
            StateAt(static_cast<std::int64_t>(i + 1), std::uint64_t{i}), false),
        Result::kStored);
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    std::int64_t rev = 0;
    const SubjectProfile* p = Get(cache, keys[i], &rev);
    ASSERT_NE(p, nullptr) << keys[i].size();
    EXPECT_EQ(rev, static_cast<std::int64_t>(i + 1));
    // The same length with one byte changed, at every position.
    for (std::size_t pos = 0; pos < keys[i].size(); ++pos) {
      std::string other = keys[i];
      other[pos] = static_cast<char>(other[pos] ^ 0x40);
      EXPECT_EQ(Get(cache, other, &rev), nullptr)
          << keys[i].size() << " at " << pos;
    }
  }
}

// `key` zero-padded to 16 bytes as a slot holds it (null when longer), for
// `LookupAt`.
struct Padded {
  explicit Padded(absl::string_view key) : size(key.size()) {
    if (key.size() <= sizeof(bytes)) std::memcpy(bytes, key.data(), key.size());
  }
  const char* get() const { return size <= sizeof(bytes) ? bytes : nullptr; }
  char bytes[16] = {};
  std::size_t size;
};

bool LookupAt(const ConsentCache& cache, absl::string_view key,
              std::size_t slot, const SubjectProfile** p, std::int64_t* rev) {
  return cache.LookupAt(key, ConsentCache::Hash(key), slot, Padded(key).get(),
                        p, rev);
}

TEST(ConsentCacheTest, HintOfAnotherKeyIsNotTrusted) {
  ConsentCache cache;
  ReadSection section;
  cache.Upsert("alice", StateAt(1, 1), false);
  cache.Upsert("bob", StateAt(2, 2), false);
  cache.Upsert("a-subject-id-longer-than-16", StateAt(3, 3), false);
  const ConsentCache::Hint bob =
      cache.HintFor("bob", ConsentCache::Hash("bob"));
  ASSERT_NE(bob.table, nullptr);
  const SubjectProfile* p = nullptr;
  std::int64_t rev = 0;
  // Bob's slot, asked for Alice: Alice's state, found by probing.
  ASSERT_TRUE(LookupAt(cache, "alice", bob.slot, &p, &rev));
  EXPECT_EQ(rev, 1);
  EXPECT_EQ(p->given, 1u);
  const std::string long_id = "a-subject-id-longer-than-16";
  ASSERT_TRUE(LookupAt(cache, long_id, bob.slot, &p, &rev));
  EXPECT_EQ(rev, 3);
  // A hint past the end of the array, or no hint at all.
  ASSERT_TRUE(LookupAt(cache, "bob", std::size_t{1} << 30, &p, &rev));
  EXPECT_EQ(rev, 2);
  ASSERT_TRUE(LookupAt(cache, "bob", ~std::size_t{0}, &p, &rev));
  EXPECT_EQ(rev, 2);
  EXPECT_FALSE(LookupAt(cache, "carol", bob.slot, &p, &rev));
  EXPECT_EQ(cache.HintFor("carol", ConsentCache::Hash("carol")).table, nullptr);
}

// Two ids of one length whose hashes share the 16 bits a slot keeps (the
// slot's tag): the slot of one, asked for the other, passes the tag test,
// and only comparing the ids themselves tells them apart. Short ids (in
// the slot) and long ones (in the arena).
TEST(ConsentCacheTest, HintOfAKeyWithTheSameTagIsNotTrusted) {
  for (const std::string prefix : {"t-", "a-subject-id-longer-than-16-"}) {
    ConsentCache cache;
    ReadSection section;
    // The hash is seeded per process: search for the twin. Each candidate
    // shares the tag with chance 2^-16, so four million of them all miss
    // with chance e^-61.
    const std::string first = prefix + "0000000";
    const std::uint64_t tag = ConsentCache::Hash(first) & 0xFFFF;
    std::string twin;
    for (int i = 1; i < 4'000'000 && twin.empty(); ++i) {
      std::string candidate = std::to_string(i);
      candidate = prefix + std::string(7 - candidate.size(), '0') + candidate;
      if ((ConsentCache::Hash(candidate) & 0xFFFF) == tag) twin = candidate;
    }
    ASSERT_FALSE(twin.empty()) << prefix;
    ASSERT_EQ(cache.Upsert(first, StateAt(1, 1), false), Result::kStored);
    ASSERT_EQ(cache.Upsert(twin, StateAt(2, 2), false), Result::kStored);
    const ConsentCache::Hint hint =
        cache.HintFor(first, ConsentCache::Hash(first));
    ASSERT_NE(hint.table, nullptr);
    const SubjectProfile* p = nullptr;
    std::int64_t rev = 0;
    ASSERT_TRUE(LookupAt(cache, twin, hint.slot, &p, &rev)) << prefix;
    EXPECT_EQ(rev, 2) << prefix << ": " << twin << " read " << first;
    EXPECT_EQ(p->given, 2u) << prefix;
  }
}

// `DecideByKey` decides exactly the key asked for, at its own state: every
// length up to the inline 16 bytes, and none of the ids one byte away; a
// longer id, an absent one and one held uncached are left to the caller
// without calling `decide`.
// Runs `probe(decide)`, a lookup that calls `decide(revision, summary)`
// where it decides, with a `decide` that accepts and records what it was
// called with in `*rev` and `*summary`; returns what `probe` returns,
// which must be true exactly when `decide` was called.
template <typename Probe>
bool Recorded(Probe probe, std::int64_t* rev, const ProfileSummary** summary) {
  bool called = false;
  const bool ok = probe([&](std::int64_t r, const ProfileSummary* s) {
    called = true;
    *rev = r;
    *summary = s;
    return true;
  });
  EXPECT_EQ(ok, called);
  return ok;
}

TEST(ConsentCacheTest, DecideByKeyDecidesOnlyItsOwnKey) {
  ConsentCache cache;
  ReadSection section;
  const std::vector<std::string> keys = KeysUpTo(20);
  for (const std::string& k : keys) {
    const std::size_t n = k.size();
    ASSERT_EQ(
        cache.Upsert(k, StateAt(static_cast<std::int64_t>(n + 1), n), false),
        Result::kStored);
  }
  // Held uncached: a revision beyond what a slot holds.
  ASSERT_EQ(cache.Upsert("uncached", StateAt(ConsentCache::kMaxRevision + 5, 1),
                         false),
            Result::kUnstorable);
  const auto decided = [&cache](absl::string_view key, std::int64_t* rev,
                                const ProfileSummary** summary) {
    return Recorded([&](auto decide) { return cache.DecideByKey(key, decide); },
                    rev, summary);
  };
  for (const std::string& key : keys) {
    std::int64_t rev = -1;
    const ProfileSummary* summary = nullptr;
    if (key.size() > ConsentCache::kInlineKey) {
      EXPECT_FALSE(decided(key, &rev, &summary)) << key.size();
      continue;
    }
    ASSERT_TRUE(decided(key, &rev, &summary)) << key.size();
    EXPECT_EQ(rev, static_cast<std::int64_t>(key.size() + 1));
    // The summary is the one the probing lookup finds.
    const SubjectProfile* p = nullptr;
    const ProfileSummary* want = nullptr;
    std::int64_t want_rev = 0;
    std::uint64_t hash = 0;
    ASSERT_TRUE(cache.HashAndLookup(key, &hash, &p, &want_rev, &want));
    EXPECT_EQ(summary, want) << key.size();
    for (std::size_t pos = 0; pos < key.size(); ++pos) {
      std::string other = key;
      other[pos] = static_cast<char>(other[pos] ^ 0x40);
      EXPECT_FALSE(decided(other, &rev, &summary))
          << key.size() << " at " << pos;
    }
  }
  std::int64_t rev = -1;
  const ProfileSummary* summary = nullptr;
  EXPECT_FALSE(decided("uncached", &rev, &summary));
  EXPECT_FALSE(decided("absent", &rev, &summary));
  // `decide` declining leaves the key undecided.
  EXPECT_FALSE(cache.DecideByKey(
      keys[5], [](std::int64_t, const ProfileSummary*) { return false; }));
}

// An id whose hash shares another's slot tag (16 bits) and home slot: its
// probe meets the other id's slot first, passes the tag test, and only
// comparing the ids tells them apart. Alone in the table, the other id is
// not decided for it; stored after it, it is decided at its own state.
TEST(ConsentCacheTest, DecideByKeyComparesTheIdBehindATag) {
  // A default cache has 16 slots: the home slot is the hash's top 4 bits
  // (`Table::Home`). The hash is seeded per process: search for the twin.
  // Each candidate matches with chance 2^-20; 64 million all miss with
  // chance e^-61.
  const std::string first = "t-00000000";
  const std::uint64_t h = ConsentCache::Hash(first);
  const auto same_place = [h](std::uint64_t g) {
    return (g & 0xFFFF) == (h & 0xFFFF) && (g >> 60) == (h >> 60);
  };
  std::string twin;
  for (int i = 1; i < 64'000'000 && twin.empty(); ++i) {
    std::string candidate = std::to_string(i);
    candidate = "t-" + std::string(8 - candidate.size(), '0') + candidate;
    if (same_place(ConsentCache::Hash(candidate))) twin = candidate;
  }
  ASSERT_FALSE(twin.empty());
  ConsentCache cache;
  ReadSection section;
  ASSERT_EQ(cache.Upsert(first, StateAt(1, 1), false), Result::kStored);
  std::int64_t seen = -1;
  const auto decide = [&seen](std::int64_t r, const ProfileSummary*) {
    seen = r;
    return true;
  };
  EXPECT_FALSE(cache.DecideByKey(twin, decide)) << twin << " read " << first;
  EXPECT_EQ(seen, -1);
  ASSERT_EQ(cache.Upsert(twin, StateAt(2, 2), false), Result::kStored);
  ASSERT_TRUE(cache.DecideByKey(twin, decide));
  EXPECT_EQ(seen, 2) << twin << " read " << first;
  ASSERT_TRUE(cache.DecideByKey(first, decide));
  EXPECT_EQ(seen, 1);
}

// A hint taken before the slot array grew points into the retired array:
// the lookup probes the new one.
TEST(ConsentCacheTest, HintFromBeforeGrowthStillFindsTheKey) {
  ConsentCache cache(/*expected_subjects=*/4);
  ReadSection section;
  cache.Upsert("s0", StateAt(1, 1), false);
  const ConsentCache::Hint before =
      cache.HintFor("s0", ConsentCache::Hash("s0"));
  for (int i = 1; i < 1000; ++i) {
    cache.Upsert("s" + std::to_string(i), StateAt(i + 1, 0), false);
  }
  cache.Upsert("s0", StateAt(5000, 9), false);
  const SubjectProfile* p = nullptr;
  std::int64_t rev = 0;
  ASSERT_TRUE(LookupAt(cache, "s0", before.slot, &p, &rev));
  EXPECT_EQ(rev, 5000);
  EXPECT_EQ(p->given, 9u);
  // Every slot of the grown array, as a hint for s0: s0's own state.
  for (std::size_t slot = 0; slot < 1500; ++slot) {
    ASSERT_TRUE(LookupAt(cache, "s0", slot, &p, &rev)) << slot;
    ASSERT_EQ(rev, 5000) << slot;
  }
}

// What `DecideAtRef` finds for `ref`: true with the revision and the
// summary it was called with, false when it declined.
bool AtRef(const ConsentCache& cache, std::uint64_t ref, std::int64_t* rev,
           const ProfileSummary** summary) {
  return Recorded([&](auto decide) { return cache.DecideAtRef(ref, decide); },
                  rev, summary);
}

// `key`'s revision and summary as a probing lookup finds them; false on a
// miss. REQUIRES: a `ReadSection`.
bool Probed(const ConsentCache& cache, absl::string_view key, std::int64_t* rev,
            const ProfileSummary** summary) {
  const SubjectProfile* p = nullptr;
  std::uint64_t hash = 0;
  return cache.HashAndLookup(key, &hash, &p, rev, summary);
}

// A subject's ref state is its slot's state after every write: a newer
// state, an unstorable one (uncached), and through the growth of the slot
// array, for subjects numbered before and after it.
TEST(ConsentCacheTest, RefStateIsTheSlotsStateAfterEveryWrite) {
  ConsentCache cache(/*expected_subjects=*/4);
  ReadSection section;
  ASSERT_EQ(cache.Upsert("alice", StateAt(1, 1), false), Result::kStored);
  ASSERT_EQ(cache.Upsert("bob", StateAt(1, 2), false), Result::kStored);
  const std::uint64_t alice =
      cache.RefFor("alice", ConsentCache::Hash("alice"));
  const std::uint64_t bob = cache.RefFor("bob", ConsentCache::Hash("bob"));
  ASSERT_NE(alice, 0u);
  ASSERT_NE(bob, 0u);
  EXPECT_NE(alice, bob);
  // Numbered once: the same word again, and from a hint.
  EXPECT_EQ(cache.RefFor("alice", ConsentCache::Hash("alice")), alice);
  EXPECT_EQ(cache.HintFor("alice", ConsentCache::Hash("alice")).ref, alice);

  const auto expect_same = [&](absl::string_view key, std::uint64_t ref) {
    std::int64_t rev = -1, want_rev = -2;
    const ProfileSummary* summary = nullptr;
    const ProfileSummary* want = nullptr;
    ASSERT_TRUE(Probed(cache, key, &want_rev, &want)) << key;
    ASSERT_TRUE(AtRef(cache, ref, &rev, &summary)) << key;
    EXPECT_EQ(rev, want_rev) << key;
    EXPECT_EQ(summary, want) << key;
  };
  expect_same("alice", alice);
  expect_same("bob", bob);

  ASSERT_EQ(cache.Upsert("alice", StateAt(2, 5), false), Result::kStored);
  expect_same("alice", alice);
  std::int64_t rev = 0;
  const ProfileSummary* summary = nullptr;
  ASSERT_TRUE(AtRef(cache, alice, &rev, &summary));
  EXPECT_EQ(rev, 2);

  // Uncached: the ref state declines, as the slot misses.
  ASSERT_EQ(
      cache.Upsert("alice", StateAt(ConsentCache::kMaxRevision + 1, 1), false),
      Result::kUnstorable);
  EXPECT_FALSE(AtRef(cache, alice, &rev, &summary));
  EXPECT_FALSE(Probed(cache, "alice", &rev, &summary));
  ASSERT_EQ(
      cache.Upsert("alice", StateAt(ConsentCache::kMaxRevision + 2, 1), false),
      Result::kUnstorable);
  EXPECT_FALSE(AtRef(cache, alice, &rev, &summary));

  // Growth (4 expected subjects: the array grows several times), with a
  // subject numbered between growths and every state rewritten after.
  ASSERT_EQ(cache.Upsert("bob", StateAt(7, 3), false), Result::kStored);
  std::uint64_t carol = 0;
  for (int i = 0; i < 500; ++i) {
    ASSERT_EQ(cache.Upsert("s" + std::to_string(i), StateAt(1, 0), false),
              Result::kStored);
    if (i == 100) {
      ASSERT_EQ(cache.Upsert("carol", StateAt(3, 3), false), Result::kStored);
      carol = cache.RefFor("carol", ConsentCache::Hash("carol"));
      ASSERT_NE(carol, 0u);
    }
  }
  expect_same("bob", bob);
  expect_same("carol", carol);
  ASSERT_EQ(cache.Upsert("bob", StateAt(8, 6), false), Result::kStored);
  ASSERT_EQ(cache.Upsert("carol", StateAt(4, 7), false), Result::kStored);
  expect_same("bob", bob);
  expect_same("carol", carol);
  ASSERT_TRUE(AtRef(cache, bob, &rev, &summary));
  EXPECT_EQ(rev, 8);
  // The words survive growth: the same again.
  EXPECT_EQ(cache.RefFor("bob", ConsentCache::Hash("bob")), bob);
  EXPECT_EQ(cache.RefFor("carol", ConsentCache::Hash("carol")), carol);
}

// A subject uncached because the profile table is full, then stored again
// on a profile in use: its ref state follows both.
TEST(ConsentCacheTest, RefStateFollowsASubjectUncachedAndStoredAgain) {
  ConsentCache cache(/*expected_subjects=*/4, /*max_profiles=*/2);
  ReadSection section;
  ASSERT_EQ(cache.Upsert("alice", StateAt(1, 1), false), Result::kStored);
  ASSERT_EQ(cache.Upsert("bob", StateAt(1, 2), false), Result::kStored);
  const std::uint64_t alice =
      cache.RefFor("alice", ConsentCache::Hash("alice"));
  ASSERT_NE(alice, 0u);
  std::int64_t rev = 0;
  const ProfileSummary* summary = nullptr;
  ASSERT_TRUE(AtRef(cache, alice, &rev, &summary));
  // A third profile does not fit: uncached.
  ASSERT_EQ(cache.Upsert("alice", StateAt(2, 3), false), Result::kUnstorable);
  EXPECT_FALSE(AtRef(cache, alice, &rev, &summary));
  // Bob's profile: stored again.
  ASSERT_EQ(cache.Upsert("alice", StateAt(3, 2), false), Result::kStored);
  std::int64_t want_rev = 0;
  const ProfileSummary* want = nullptr;
  ASSERT_TRUE(Probed(cache, "bob", &want_rev, &want));
  ASSERT_TRUE(AtRef(cache, alice, &rev, &summary));
  EXPECT_EQ(rev, 3);
  EXPECT_EQ(summary, want);
}

// Only this cache's words decide, and only keys it holds inline get one.
TEST(ConsentCacheTest, RefWordsNameOneCacheAndOneSubject) {
  ConsentCache mine, other;
  ConsentCache bounded(/*expected_subjects=*/0, ConsentCache::kMaxProfiles,
                       /*budget_bytes=*/4096);
  ReadSection section;
  const std::string long_id(ConsentCache::kInlineKey + 1, 'x');
  for (ConsentCache* c : {&mine, &other, &bounded}) {
    ASSERT_EQ(c->Upsert("alice", StateAt(1, 1), false), Result::kStored);
    ASSERT_EQ(c->Upsert(long_id, StateAt(1, 1), false), Result::kStored);
  }
  const std::uint64_t hash = ConsentCache::Hash("alice");
  const std::uint64_t word = mine.RefFor("alice", hash);
  const std::uint64_t other_word = other.RefFor("alice", hash);
  ASSERT_NE(word, 0u);
  ASSERT_NE(other_word, 0u);
  // Both numbered first in their cache: only the cache tells them apart.
  EXPECT_EQ(static_cast<std::uint32_t>(word),
            static_cast<std::uint32_t>(other_word));
  EXPECT_NE(word, other_word);
  std::int64_t rev = 0;
  const ProfileSummary* summary = nullptr;
  EXPECT_TRUE(AtRef(mine, word, &rev, &summary));
  EXPECT_FALSE(AtRef(mine, other_word, &rev, &summary));
  EXPECT_FALSE(AtRef(other, word, &rev, &summary));
  EXPECT_FALSE(AtRef(mine, 0, &rev, &summary));
  // A number this cache has not handed out, under its own id.
  EXPECT_FALSE(AtRef(mine, word + (std::uint64_t{1} << 31), &rev, &summary));
  // No word: a bounded cache, a long id, a key not held.
  EXPECT_EQ(bounded.RefFor("alice", hash), 0u);
  EXPECT_EQ(bounded.HintFor("alice", hash).ref, 0u);
  EXPECT_FALSE(AtRef(bounded, word, &rev, &summary));
  EXPECT_EQ(mine.RefFor(long_id, ConsentCache::Hash(long_id)), 0u);
  EXPECT_EQ(mine.RefFor("nobody", ConsentCache::Hash("nobody")), 0u);
  // A numbered key still probes as before.
  EXPECT_TRUE(Probed(mine, "alice", &rev, &summary));
  EXPECT_TRUE(Probed(mine, long_id, &rev, &summary));
}

// Readers by ref see, while a writer rewrites every state and grows the
// table, only states the writer stored (revision r with the profile of r),
// never older than what they saw before.
TEST(ConsentCacheTest, RefReadersSeeConsistentStatesDuringWritesAndGrowth) {
  constexpr int kKeys = 32;
  ConsentCache cache(/*expected_subjects=*/8);
  std::vector<std::uint64_t> words;
  {
    ReadSection section;
    for (int i = 0; i < kKeys; ++i) {
      const std::string k = "k" + std::to_string(i);
      ASSERT_EQ(cache.Upsert(k, StateAt(1, 1), false), Result::kStored);
      words.push_back(cache.RefFor(k, ConsentCache::Hash(k)));
      ASSERT_NE(words.back(), 0u);
    }
  }
  std::atomic<long> bad{0};
  ReadWhileWriting(
      [&, seen = std::vector<std::int64_t>(kKeys, 0)]() mutable {
        for (int i = 0; i < kKeys; ++i) {
          ReadSection section;
          std::int64_t rev = 0;
          const ProfileSummary* summary = nullptr;
          if (!AtRef(cache, words[static_cast<std::size_t>(i)], &rev,
                     &summary)) {
            bad.fetch_add(1);
            continue;
          }
          // Revision r's profile gives purpose 0 exactly when r is odd.
          const bool given = summary->code(0) == kCodeGiven;
          if (given != (rev % 2 == 1) ||
              rev < seen[static_cast<std::size_t>(i)]) {
            bad.fetch_add(1);
          }
          seen[static_cast<std::size_t>(i)] = rev;
        }
      },
      [&] {
        for (int round = 2; round <= 200; ++round) {
          for (int i = 0; i < kKeys; ++i) {
            EXPECT_EQ(
                cache.Upsert("k" + std::to_string(i),
                             StateAt(round, round % 2 == 1 ? 1 : 0), false),
                Result::kStored);
          }
          cache.Upsert("grow" + std::to_string(round), StateAt(1, 0), false);
        }
      });
  EXPECT_EQ(bad.load(), 0);
  ReadSection section;
  std::int64_t rev = 0;
  const ProfileSummary* summary = nullptr;
  ASSERT_TRUE(AtRef(cache, words[0], &rev, &summary));
  EXPECT_EQ(rev, 200);
}

// ---------------------------------------------------------------------------
// Bounded mode (a byte budget).

std::string BoundedKey(int i) {
  // Every other key over 16 bytes: kept in the arena, copied on compaction.
  return i % 2 == 0 ? "k" + std::to_string(i)
                    : "a-longer-subject-id-" + std::to_string(i);
}

TEST(ConsentCacheTest, BoundedKeepsReferencedSubjectsAndEvictsOthers) {
  constexpr int kHeld =
      static_cast<int>(1024 / ConsentCache::kBoundedBytesPerSubject);
  constexpr int kHalf = kHeld / 2;
  ConsentCache cache(0, ConsentCache::kMaxProfiles, 1024);
  ReadSection section;
  for (int i = 0; i < kHeld; ++i) {
    ASSERT_EQ(cache.Upsert("s" + std::to_string(i), StateAt(i + 1, 1), false),
              Result::kStored);
  }
  EXPECT_EQ(cache.size(), std::size_t{kHeld});
  std::int64_t rev = 0;
  for (int i = 0; i < kHalf; ++i) {
    ASSERT_NE(Get(cache, "s" + std::to_string(i), &rev), nullptr);
  }
  std::vector<std::string> evicted;
  for (int i = kHeld; i < kHeld + kHalf; ++i) {
    // Referenced again before each insert: a compaction moves subjects, so
    // the hand may meet one it cleared sooner than a sweep later.
    for (int j = 0; j < kHalf; ++j) {
      ASSERT_NE(Get(cache, "s" + std::to_string(j), &rev), nullptr);
    }
    ASSERT_EQ(cache.Upsert("s" + std::to_string(i), StateAt(i + 1, 1), false,
                           &evicted),
              Result::kStored);
  }
  EXPECT_EQ(cache.size(), std::size_t{kHeld});
  EXPECT_EQ(evicted.size(), std::size_t{kHalf});
  for (int i = 0; i < kHalf; ++i) {
    EXPECT_NE(Get(cache, "s" + std::to_string(i), &rev), nullptr) << i;
  }
  for (const std::string& e : evicted) {
    EXPECT_EQ(Get(cache, e, &rev), nullptr) << e;
    EXPECT_FALSE(cache.Holds(e));
  }
  EXPECT_EQ(cache.counts().evictions, std::size_t{kHalf});
  EXPECT_EQ(cache.counts().hits, std::size_t{kHalf * (kHalf + 2)});
  // An evicted subject comes back at any revision (nothing of it is kept).
  EXPECT_EQ(cache.Upsert(evicted[0], StateAt(1, 2), false), Result::kStored);
  const SubjectProfile* p = Get(cache, evicted[0], &rev);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->given, 2u);
}

// Threads reading at the same time each have their own
// `ReadSections::ThreadIndex` (the bounded cache counts a thread's hits in
// a stripe only that thread writes, with plain stores).
TEST(ConsentCacheTest, ReadersAtTheSameTimeHaveDistinctThreadIndices) {
  constexpr int kThreads = 24;
  std::vector<std::uint32_t> index(kThreads);
  std::atomic<int> inside{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ReadSection section;
      index[static_cast<std::size_t>(t)] = ReadSections::ThreadIndex();
      inside.fetch_add(1);
      while (inside.load() < kThreads) std::this_thread::yield();
    });
  }
  for (std::thread& th : threads) th.join();
  std::sort(index.begin(), index.end());
  EXPECT_EQ(std::adjacent_find(index.begin(), index.end()), index.end());
}

// Hits and negative hits are counted exactly while many threads hit at
// once: more threads than there are per-thread stripes, so that some share
// the atomic ones. Every thread is inside a section before any hits, so
// all hold a thread index at the same time.
TEST(ConsentCacheTest, BoundedHitsAreCountedExactlyAcrossThreads) {
  constexpr int kThreads = 72;
  constexpr int kHits = 40'000;
  ConsentCache cache(0, ConsentCache::kMaxProfiles, 4096);
  ASSERT_EQ(cache.Upsert("known", StateAt(4, 1), false), Result::kStored);
  // Revision 0: a subject the store does not know (a negative entry).
  ASSERT_EQ(cache.Upsert("unknown", StateAt(0, 0), false), Result::kStored);
  std::atomic<int> ready{0};
  std::atomic<int> misses{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ReadSection section;
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      std::int64_t rev = 0;
      for (int i = 0; i < kHits; ++i) {
        // One in four on the negative entry.
        const char* key = (i + t) % 4 == 0 ? "unknown" : "known";
        if (Get(cache, key, &rev) == nullptr) misses.fetch_add(1);
        // Let the threads interleave, so that any two sharing a counter
        // without an atomic add would lose increments.
        if (i % 512 == 0) std::this_thread::yield();
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(misses.load(), 0);
  const ConsentCache::Counts c = cache.counts();
  EXPECT_EQ(c.hits, std::uint64_t{kThreads} * kHits);
  EXPECT_EQ(c.negative_hits, std::uint64_t{kThreads} * kHits / 4);
}

// Churn through many more subjects than the budget holds, half of them
// with long ids: the cache stays within the budget, compactions free the
// dead slots and key chunks, and every subject cached holds its own state.
TEST(ConsentCacheTest, BoundedChurnStaysWithinTheBudget) {
  constexpr std::size_t kBudget = 64 * 1024;
  ConsentCache cache(0, ConsentCache::kMaxProfiles, kBudget);
  std::size_t memory_after_first_round = 0;
  for (int i = 0; i < 200'000; ++i) {
    ASSERT_NE(cache.Upsert(BoundedKey(i), StateAt(i + 1, std::uint64_t(i % 64)),
                           false),
              Result::kUnstorable);
    if (i == 20'000) memory_after_first_round = cache.MemoryBytes();
  }
  EXPECT_LE(cache.size(), kBudget / ConsentCache::kBoundedBytesPerSubject);
  EXPECT_GE(cache.size(), kBudget / 2 / ConsentCache::kBoundedBytesPerSubject);
  // Freed chunks are reused: no growth after the first round.
  EXPECT_LE(cache.MemoryBytes(), memory_after_first_round + (4u << 20));
  ReadSection section;
  std::size_t found = 0;
  for (int i = 0; i < 200'000; ++i) {
    std::int64_t rev = 0;
    const SubjectProfile* p = Get(cache, BoundedKey(i), &rev);
    if (p == nullptr) continue;
    ++found;
    EXPECT_EQ(rev, i + 1);
    EXPECT_EQ(p->given, std::uint64_t(i % 64));
  }
  EXPECT_EQ(found, cache.size());
}

// Readers look subjects up while a writer evicts and compacts: a hit
// always returns that subject's own state (never a slot reused for
// another id, never a freed key chunk).
TEST(ConsentCacheTest, BoundedReadersSeeOnlyTheirSubjectDuringEviction) {
  ConsentCache cache(0, ConsentCache::kMaxProfiles, 4096);  // 102 subjects
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::atomic<int> hits{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::uint32_t x = 12345u + static_cast<std::uint32_t>(t);
      while (!stop.load()) {
        x = x * 1664525u + 1013904223u;
        const int i = static_cast<int>((x >> 8) % 400);
        ReadSection section;
        std::int64_t rev = 0;
        const SubjectProfile* p = Get(cache, BoundedKey(i), &rev);
        if (p == nullptr) continue;
        hits.fetch_add(1);
        if (p->given != std::uint64_t(i % 64) || rev % 1000 != i) {
          wrong.fetch_add(1);
        }
      }
    });
  }
  for (int round = 1; round <= 40; ++round) {
    for (int i = 0; i < 400; ++i) {
      cache.Upsert(BoundedKey(i),
                   StateAt(round * 1000 + i, std::uint64_t(i % 64)), false);
    }
  }
  stop.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(cache.counts().evictions, 1000u);
}

// An evicted subject's slot is emptied, and reused in place for another
// subject only once every read section open when it was emptied has
// closed: while one stays open, no slot of the table changes its key; once
// it closes, emptied slots are reused (not only fresh ones).
TEST(ConsentCacheTest, BoundedSlotIsReusedOnlyAfterEveryReaderLeft) {
  ConsentCache cache(0, ConsentCache::kMaxProfiles, 64 * 1024);
  const auto key = [](int i) { return "u" + std::to_string(i); };
  // (table, slot) -> the key last seen there.
  std::map<std::pair<const void*, std::size_t>, std::string> seen;
  int changed = 0;
  int same_table_changes = 0;
  const auto store = [&](int i) {
    ASSERT_EQ(cache.Upsert(key(i), StateAt(i + 1, 1), false), Result::kStored);
    ReadSection section;
    const ConsentCache::Hint h =
        cache.HintFor(key(i), ConsentCache::Hash(key(i)));
    ASSERT_NE(h.table, nullptr);
    auto [it, fresh] = seen.try_emplace({h.table, h.slot}, key(i));
    if (!fresh && it->second != key(i)) {
      ++changed;
      it->second = key(i);
    }
  };
  for (int i = 0; i < 1000; ++i) store(i);
  std::atomic<bool> in_section{false};
  std::atomic<bool> leave{false};
  std::thread reader([&] {
    ReadSection section;
    in_section.store(true);
    while (!leave.load()) std::this_thread::yield();
  });
  while (!in_section.load()) std::this_thread::yield();
  for (int i = 1000; i < 6000; ++i) store(i);
  EXPECT_EQ(changed, 0) << "a slot took another key while a reader was in";
  EXPECT_GT(cache.counts().evictions, 1000u);
  leave.store(true);
  reader.join();
  const void* table = nullptr;
  for (int i = 6000; i < 12000; ++i) {
    {
      ReadSection section;
      table = cache.HintFor(key(i - 1), ConsentCache::Hash(key(i - 1))).table;
    }
    const int before = changed;
    store(i);
    ReadSection section;
    if (changed > before &&
        cache.HintFor(key(i), ConsentCache::Hash(key(i))).table == table) {
      ++same_table_changes;
    }
  }
  EXPECT_GT(same_table_changes, 10) << "emptied slots are not reused";
}

// Readers look subjects up (by probing and by a slot hint) while a writer
// churns through many more subjects than the budget holds, so that
// evicted slots are reused in place for other ids: a hit always returns
// that subject's own state, and (under ThreadSanitizer) no slot a reader
// is reading is rewritten.
TEST(ConsentCacheTest, BoundedReadersSeeOnlyTheirSubjectWhileSlotsAreReused) {
  ConsentCache cache(0, ConsentCache::kMaxProfiles, 4096);  // 102 subjects
  const auto key = [](int i) { return "r" + std::to_string(i); };
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::atomic<int> hits{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::uint32_t x = 777u + static_cast<std::uint32_t>(t);
      std::vector<std::size_t> hint(300, 0);
      // Long read sections (64 lookups each): a slot a reader read stays
      // unwritten until it leaves, however many evictions happen meanwhile.
      int in_section = 0;
      std::unique_ptr<ReadSection> section;
      while (!stop.load()) {
        if (in_section++ % 64 == 0) {
          section.reset();
          section = std::make_unique<ReadSection>();
        }
        x = x * 1664525u + 1013904223u;
        const int i = static_cast<int>((x >> 8) % 300);
        const std::string k = key(i);
        const SubjectProfile* p = nullptr;
        std::int64_t rev = 0;
        const bool hit =
            (x & 1) != 0 ? LookupAt(cache, k, hint[static_cast<std::size_t>(i)],
                                    &p, &rev)
                         : cache.Lookup(k, ConsentCache::Hash(k), &p, &rev);
        if ((x & 6) == 0) {
          hint[static_cast<std::size_t>(i)] =
              cache.HintFor(k, ConsentCache::Hash(k)).slot;
        }
        if (!hit) continue;
        hits.fetch_add(1);
        if (p->given != std::uint64_t(i % 64) || rev % 1000 != i) {
          wrong.fetch_add(1);
        }
      }
    });
  }
  for (int round = 1; round <= 100; ++round) {
    for (int i = 0; i < 300; ++i) {
      cache.Upsert(key(i), StateAt(round * 1000 + i, std::uint64_t(i % 64)),
                   false);
    }
  }
  stop.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(hits.load(), 0);
  EXPECT_GT(cache.counts().evictions, 10'000u);
}

}  // namespace
}  // namespace consentry::internal
