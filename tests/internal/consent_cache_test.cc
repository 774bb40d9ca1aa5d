// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/internal/consent_cache.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace consentry::internal {
namespace {

SubjectState StateAt(Revision rev, std::uint64_t given) {
  SubjectState s;
  s.revision = rev;
  s.given = given;
  s.refused = ~given;
  return s;
}

TEST(ConsentCacheTest, MissThenHit) {
  ConsentCache cache;
  SubjectState s;
  EXPECT_FALSE(cache.Lookup("a", ConsentCache::Hash("a"), &s));
  EXPECT_TRUE(cache.Upsert("a", StateAt(3, 7), false));
  ASSERT_TRUE(cache.Lookup("a", ConsentCache::Hash("a"), &s));
  EXPECT_EQ(s.revision, 3);
  EXPECT_EQ(s.given, 7u);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ConsentCacheTest, OlderRevisionNeverOverwritesNewer) {
  ConsentCache cache;
  cache.Upsert("a", StateAt(5, 1), false);
  EXPECT_FALSE(cache.Upsert("a", StateAt(4, 2), false));
  EXPECT_FALSE(cache.Upsert("a", StateAt(5, 3), false));
  EXPECT_TRUE(cache.Upsert("a", StateAt(5, 3), true));
  SubjectState s;
  ASSERT_TRUE(cache.Lookup("a", ConsentCache::Hash("a"), &s));
  EXPECT_EQ(s.given, 3u);
}

TEST(ConsentCacheTest, GrowsAndKeepsEveryKey) {
  ConsentCache cache;
  for (int i = 0; i < 10000; ++i) {
    cache.Upsert("subject-" + std::to_string(i), StateAt(i + 1, std::uint64_t(i)), false);
  }
  EXPECT_EQ(cache.size(), 10000u);
  for (int i = 0; i < 10000; ++i) {
    const std::string k = "subject-" + std::to_string(i);
    SubjectState s;
    ASSERT_TRUE(cache.Lookup(k, ConsentCache::Hash(k), &s)) << k;
    EXPECT_EQ(s.given, std::uint64_t(i));
  }
  const std::string absent = "subject-10000";
  SubjectState s;
  EXPECT_FALSE(cache.Lookup(absent, ConsentCache::Hash(absent), &s));
  EXPECT_GT(cache.MemoryBytes(), 10000u * sizeof(SubjectState) / 2);
}

TEST(ConsentCacheTest, EmptyAndBinaryKeys) {
  ConsentCache cache;
  const std::string bin("a\0b", 3);
  cache.Upsert("", StateAt(1, 1), false);
  cache.Upsert(bin, StateAt(2, 2), false);
  SubjectState s;
  ASSERT_TRUE(cache.Lookup("", ConsentCache::Hash(""), &s));
  EXPECT_EQ(s.given, 1u);
  ASSERT_TRUE(cache.Lookup(bin, ConsentCache::Hash(bin), &s));
  EXPECT_EQ(s.given, 2u);
  EXPECT_FALSE(cache.Lookup("a", ConsentCache::Hash("a"), &s));
}

// Readers never see a torn state: every written state has refused == ~given.
TEST(ConsentCacheTest, ReadersSeeConsistentStatesDuringWritesAndGrowth) {
  ConsentCache cache;
  std::atomic<bool> stop{false};
  std::atomic<long> torn{0};
  std::atomic<long> hits{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 64; ++i) {
          const std::string k = "k" + std::to_string(i);
          SubjectState s;
          if (cache.Lookup(k, ConsentCache::Hash(k), &s)) {
            hits.fetch_add(1, std::memory_order_relaxed);
            if (s.refused != ~s.given) torn.fetch_add(1);
          }
        }
      }
    });
  }
  for (int round = 1; round <= 300; ++round) {
    for (int i = 0; i < 64; ++i) {
      cache.Upsert("k" + std::to_string(i),
                   StateAt(round, static_cast<std::uint64_t>(round) * std::uint64_t{0x9e3779b97f4a7c15}),
                   false);
    }
    // Force growth with fresh keys while readers run.
    cache.Upsert("grow" + std::to_string(round), StateAt(1, 0), false);
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(hits.load(), 0);
}

}  // namespace
}  // namespace consentry::internal
