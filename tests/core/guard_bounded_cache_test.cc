// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The Guard with a bounded consent cache (`GuardOptions::cache_budget_bytes`):
// decisions equal to an unbounded Guard's while subjects are evicted and
// refilled, negative entries and the feed, one store read per subject,
// store failures and the read limit, `min_revision` on a miss, and the race
// between an eviction, a refill and a feed update.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/guard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/core/consent_cache.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::DefaultPolicy;
using ::consentry::testing::PurposeChange;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kAccessor[] = "statistics-job";
constexpr char kPurpose[] = "statistics.measurement";
constexpr char kCategory[] = "measurement";

// An in-memory store that counts reads, can fail them, can hold them at a
// gate, can yield inside them (to widen races), and can hold the change
// feed back.
class TestStore final : public ConsentStore {
 public:
  absl::StatusOr<v1::ConsentRecord> Get(absl::string_view s) override {
    gets_.fetch_add(1);
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++waiting_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return gate_open_; });
      --waiting_;
    }
    if (fail_.load()) return absl::UnavailableError("test store is down");
    absl::StatusOr<v1::ConsentRecord> r = inner_.Get(s);
    for (int i = yields_.load(); i > 0; --i) std::this_thread::yield();
    return r;
  }
  absl::StatusOr<Revision> Apply(const v1::ConsentChange& c) override {
    return inner_.Apply(c);
  }
  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSince(
      Revision after, int limit) override {
    if (fail_.load()) return absl::UnavailableError("test store is down");
    return inner_.ChangesSince(after, limit);
  }
  absl::StatusOr<Revision> LatestRevision() override {
    return inner_.LatestRevision();
  }
  std::unique_ptr<Subscription> Watch(ConsentListener listener) override {
    return inner_.Watch([this, listener](const v1::ConsentRecord& r) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (hold_feed_) {
          held_.emplace_back(listener, r);
          return;
        }
      }
      listener(r);
    });
  }

  int gets() const { return gets_.load(); }
  void Fail(bool f) { fail_.store(f); }
  void YieldInGet(int n) { yields_.store(n); }
  void CloseGate() {
    std::lock_guard<std::mutex> lock(mu_);
    gate_open_ = false;
  }
  void OpenGate() {
    std::lock_guard<std::mutex> lock(mu_);
    gate_open_ = true;
    cv_.notify_all();
  }
  // Waits until `n` reads wait at the closed gate.
  void WaitAtGate(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this, n] { return waiting_ >= n; });
  }
  void HoldFeed() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_feed_ = true;
  }
  void DeliverFeed() {
    std::vector<std::pair<ConsentListener, v1::ConsentRecord>> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      hold_feed_ = false;
      held.swap(held_);
    }
    for (auto& [listener, r] : held) listener(r);
  }

 private:
  InMemoryConsentStore inner_;
  std::atomic<int> gets_{0};
  std::atomic<bool> fail_{false};
  std::atomic<int> yields_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool gate_open_ = true;
  int waiting_ = 0;
  bool hold_feed_ = false;
  std::vector<std::pair<ConsentListener, v1::ConsentRecord>> held_;
};

std::string Id(int i) { return absl::StrCat("subject-", i); }
// Over 16 bytes: kept in the key arena, not in the slot.
std::string LongId(int i) {
  return absl::StrCat("a-much-longer-subject-identifier-", i);
}

// What the budget charges a cached subject with an id of up to 16 bytes.
constexpr std::size_t kPerSubject =
    internal::ConsentCache::kBoundedBytesPerSubject;

GuardOptions Bounded(std::size_t budget) {
  GuardOptions o;
  o.unaudited_for_benchmarks_only = true;
  o.cache_budget_bytes = budget;
  o.max_feed_staleness = absl::InfiniteDuration();
  return o;
}

class GuardBoundedCacheTest : public ::testing::Test {
 protected:
  std::unique_ptr<Guard> Make(GuardOptions options) {
    absl::StatusOr<std::unique_ptr<Guard>> g =
        Guard::Create(policy_, &store_, nullptr, std::move(options));
    EXPECT_OK(g.status());
    return g.ok() ? *std::move(g) : nullptr;
  }
  Revision Set(const std::string& subject, bool given) {
    absl::StatusOr<Revision> r = store_.Apply(PurposeChange(
        subject, kPurpose,
        given ? v1::CONSENT_STATE_GIVEN : v1::CONSENT_STATE_REFUSED));
    EXPECT_OK(r.status());
    return r.ok() ? *r : 0;
  }
  absl::StatusOr<Decision> Check(Guard& g, const std::string& subject,
                                 Revision min_revision = 0) {
    absl::StatusOr<AccessContext> ctx = g.Context(kAccessor, kPurpose);
    absl::StatusOr<CategoryRef> cat = g.Category(kCategory);
    if (!ctx.ok()) return ctx.status();
    if (!cat.ok()) return cat.status();
    return g.Check(*ctx, subject, *cat, min_revision);
  }

  std::shared_ptr<const CompiledPolicy> policy_ = DefaultPolicy();
  TestStore store_;
};

TEST_F(GuardBoundedCacheTest, RefusesBadOptions) {
  GuardOptions tiny = Bounded(100);
  EXPECT_THAT(Guard::Create(policy_, &store_, nullptr, tiny).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cache_budget_bytes 100")));
  GuardOptions no_reads = Bounded(4096);
  no_reads.max_store_reads_in_flight = 0;
  EXPECT_THAT(Guard::Create(policy_, &store_, nullptr, no_reads).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("max_store_reads_in_flight")));
  GuardOptions negative_wait = Bounded(4096);
  negative_wait.store_read_wait = absl::Milliseconds(-1);
  EXPECT_THAT(Guard::Create(policy_, &store_, nullptr, negative_wait).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("store_read_wait")));
}

TEST_F(GuardBoundedCacheTest, WithoutBudgetEverySubjectIsKept) {
  for (int i = 0; i < 300; ++i) Set(Id(i), i % 2 == 0);
  GuardOptions o = Bounded(0);
  std::unique_ptr<Guard> g = Make(o);
  ASSERT_OK(g->WarmCache());
  EXPECT_EQ(g->cached_subjects(), 300u);
  const int gets = store_.gets();
  for (int i = 0; i < 300; ++i) ASSERT_OK(Check(*g, Id(i)).status());
  EXPECT_EQ(store_.gets(), gets);
  EXPECT_FALSE(g->cache_stats().bounded);
}

TEST_F(GuardBoundedCacheTest, WarmCacheStopsAtTheBudget) {
  for (int i = 0; i < 300; ++i) Set(Id(i), true);
  std::unique_ptr<Guard> g = Make(Bounded(40 * kPerSubject));
  ASSERT_OK(g->WarmCache());
  EXPECT_EQ(g->cached_subjects(), 40u);
  EXPECT_EQ(g->cache_stats().evictions, 0u);
}

// A random workload over more subjects than the budget holds (short and
// long ids, some unknown to the store), with writes through the feed in
// between: every decision equals an unbounded Guard's.
TEST_F(GuardBoundedCacheTest, MatchesUnboundedGuardOnRandomWorkload) {
  constexpr int kSubjects = 400;
  const auto name = [](int i) { return i % 3 == 0 ? LongId(i) : Id(i); };
  for (int i = 0; i < kSubjects; i += 2) Set(name(i), i % 4 == 0);
  std::unique_ptr<Guard> full = Make(Bounded(0));
  ASSERT_OK(full->WarmCache());
  // About 40 subjects.
  std::unique_ptr<Guard> bounded = Make(Bounded(40 * (kPerSubject + 20)));
  std::mt19937 rng(7);
  for (int step = 0; step < 20000; ++step) {
    const int i = static_cast<int>(rng() % kSubjects);
    if (rng() % 10 == 0) {
      Set(name(i), rng() % 2 == 0);
      continue;
    }
    absl::StatusOr<Decision> want = Check(*full, name(i));
    absl::StatusOr<Decision> got = Check(*bounded, name(i));
    ASSERT_OK(want.status());
    ASSERT_OK(got.status());
    ASSERT_EQ(got->allowed(), want->allowed()) << name(i) << " step " << step;
    ASSERT_EQ(got->reason(), want->reason()) << name(i);
    ASSERT_EQ(got->revision(), want->revision()) << name(i);
  }
  const GuardCacheStats stats = bounded->cache_stats();
  EXPECT_TRUE(stats.bounded);
  EXPECT_LE(stats.cached_subjects, 40u * (kPerSubject + 20) / kPerSubject);
  EXPECT_GT(stats.evictions, 1000u);
  EXPECT_GT(stats.hits, 0u);
  EXPECT_GT(stats.negative_hits, 0u);
  EXPECT_EQ(stats.misses, stats.store_reads);
}

TEST_F(GuardBoundedCacheTest, NegativeEntryIsCachedAndInvalidatedByTheFeed) {
  std::unique_ptr<Guard> g = Make(Bounded(4096));
  absl::StatusOr<Decision> d = Check(*g, "ghost");
  ASSERT_OK(d.status());
  EXPECT_FALSE(d->allowed());
  EXPECT_EQ(d->revision(), 0);
  EXPECT_EQ(store_.gets(), 1);
  d = Check(*g, "ghost");
  ASSERT_OK(d.status());
  EXPECT_FALSE(d->allowed());
  EXPECT_EQ(store_.gets(), 1) << "the unknown subject was not cached";
  EXPECT_EQ(g->cache_stats().negative_hits, 1u);
  // The subject appears: the feed replaces the negative entry.
  const Revision r = Set("ghost", true);
  d = Check(*g, "ghost");
  ASSERT_OK(d.status());
  EXPECT_TRUE(d->allowed());
  EXPECT_EQ(d->revision(), r);
  EXPECT_EQ(store_.gets(), 1) << "the feed should have updated the entry";
}

// Ids the cache cannot hold (over 255 bytes) are read from the store on
// every check; an empty id is an unknown subject.
TEST_F(GuardBoundedCacheTest, OverlongAndEmptyIdsAreDecidedFromTheStore) {
  const std::string huge(300, 'x');
  const Revision r = Set(huge, true);
  std::unique_ptr<Guard> g = Make(Bounded(4096));
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<Decision> d = Check(*g, huge);
    ASSERT_OK(d.status());
    EXPECT_TRUE(d->allowed());
    EXPECT_EQ(d->revision(), r);
  }
  EXPECT_EQ(store_.gets(), 3);
  Set(huge, false);  // the feed skips it: nothing cached to update
  absl::StatusOr<Decision> d = Check(*g, huge);
  ASSERT_OK(d.status());
  EXPECT_FALSE(d->allowed());
  d = Check(*g, "");
  ASSERT_OK(d.status());
  EXPECT_FALSE(d->allowed());
  EXPECT_EQ(d->revision(), 0);
  EXPECT_EQ(g->cached_subjects(), 1u);  // the empty id, negatively
}

// A policy switch with a budget: the new epoch loads subjects up to the
// budget, and decisions go on matching the store.
TEST_F(GuardBoundedCacheTest, PolicySwitchKeepsTheBudget) {
  for (int i = 0; i < 100; ++i) Set(Id(i), i % 2 == 0);
  std::unique_ptr<Guard> g = Make(Bounded(30 * kPerSubject));
  for (int i = 0; i < 100; ++i) ASSERT_OK(Check(*g, Id(i)).status());
  ASSERT_OK(g->SetPolicy(DefaultPolicy()));
  EXPECT_LE(g->cached_subjects(), 30u);
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<Decision> d = Check(*g, Id(i));
    ASSERT_OK(d.status());
    EXPECT_EQ(d->allowed(), i % 2 == 0) << Id(i);
  }
  EXPECT_LE(g->cached_subjects(), 30u);
}

// A feed event for a subject that is not cached is skipped (not cached);
// its next check reads the store.
TEST_F(GuardBoundedCacheTest, FeedSkipsSubjectsNotCached) {
  std::unique_ptr<Guard> g = Make(Bounded(4096));
  Set("someone", true);
  EXPECT_EQ(g->cached_subjects(), 0u);
  ASSERT_OK(Check(*g, "someone").status());
  EXPECT_EQ(store_.gets(), 1);
  EXPECT_EQ(g->cached_subjects(), 1u);
}

TEST_F(GuardBoundedCacheTest, ConcurrentMissesMakeOneStoreRead) {
  const Revision r = Set("popular", true);
  std::unique_ptr<Guard> g = Make(Bounded(4096));
  store_.CloseGate();
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::atomic<int> allowed{0};
  std::atomic<int> started{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      started.fetch_add(1);
      absl::StatusOr<Decision> d = Check(*g, "popular");
      if (d.ok() && d->allowed() && d->revision() == r) allowed.fetch_add(1);
    });
  }
  store_.WaitAtGate(1);
  while (started.load() < kThreads) std::this_thread::yield();
  // Let the others reach the flight.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  store_.OpenGate();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(allowed.load(), kThreads);
  EXPECT_EQ(store_.gets(), 1);
  EXPECT_EQ(g->cache_stats().store_reads, 1u);
}

TEST_F(GuardBoundedCacheTest, StoreFailureOnMissDeniesThatSubjectOnly) {
  Set("cached", true);
  Set("missing", true);
  std::unique_ptr<Guard> g = Make(Bounded(4096));
  ASSERT_OK(Check(*g, "cached").status());
  store_.Fail(true);
  absl::StatusOr<Decision> d = Check(*g, "missing");
  EXPECT_THAT(d.status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("")));
  EXPECT_EQ(ReasonFromStatus(d.status()), Reason::kStoreUnavailable);
  d = Check(*g, "cached");
  ASSERT_OK(d.status());
  EXPECT_TRUE(d->allowed());
  // The failure was not cached as "no such subject".
  store_.Fail(false);
  const int gets = store_.gets();
  d = Check(*g, "missing");
  ASSERT_OK(d.status());
  EXPECT_TRUE(d->allowed());
  EXPECT_EQ(store_.gets(), gets + 1);
}

TEST_F(GuardBoundedCacheTest, MissBeyondTheReadLimitIsDenied) {
  Set("slow", true);
  Set("other", true);
  GuardOptions o = Bounded(4096);
  o.max_store_reads_in_flight = 1;
  o.store_read_wait = absl::Milliseconds(20);
  std::unique_ptr<Guard> g = Make(o);
  store_.CloseGate();
  std::thread slow([&] { EXPECT_OK(Check(*g, "slow").status()); });
  store_.WaitAtGate(1);
  absl::StatusOr<Decision> d = Check(*g, "other");
  EXPECT_THAT(d.status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("")));
  EXPECT_EQ(ReasonFromStatus(d.status()), Reason::kStoreUnavailable);
  EXPECT_EQ(g->cache_stats().reads_rejected, 1u);
  store_.OpenGate();
  slow.join();
  d = Check(*g, "other");
  ASSERT_OK(d.status());
  EXPECT_TRUE(d->allowed());
}

// The feed is late: a check demanding the new revision reads the store,
// whether the subject is cached (older) or was evicted.
TEST_F(GuardBoundedCacheTest, MinRevisionIsHonouredOnAMiss) {
  Set("late", true);
  std::unique_ptr<Guard> g = Make(Bounded(1024));  // 25 subjects
  ASSERT_OK(Check(*g, "late").status());
  store_.HoldFeed();
  const Revision refused = Set("late", false);
  absl::StatusOr<Decision> d = Check(*g, "late");
  ASSERT_OK(d.status());
  EXPECT_TRUE(d->allowed()) << "the cached state, the feed being held";
  d = Check(*g, "late", refused);
  ASSERT_OK(d.status());
  EXPECT_FALSE(d->allowed());
  EXPECT_EQ(d->revision(), refused);
  // Evicted, then demanded at a newer revision the feed has not delivered.
  const Revision given = Set("late", true);
  for (int i = 0; i < 40; ++i) ASSERT_OK(Check(*g, Id(i)).status());
  d = Check(*g, "late", given);
  ASSERT_OK(d.status());
  EXPECT_TRUE(d->allowed());
  EXPECT_EQ(d->revision(), given);
  store_.DeliverFeed();
  d = Check(*g, "late");
  ASSERT_OK(d.status());
  EXPECT_EQ(d->revision(), given);
}

// Writers flip subjects' consent while checkers miss, refill and evict
// them under a budget of 25 subjects out of 96; reads yield to widen the
// window between a store read and its install. A write's feed event is
// delivered before `Apply` returns (in-memory store), after which the
// writer publishes the revision as delivered. No check may decide on a
// revision older than the one delivered before it began. A quarter of the
// checks demand a newer revision, so refills also start while the subject
// is cached.
TEST_F(GuardBoundedCacheTest, EvictionRefillAndFeedNeverServeOlderState) {
  constexpr int kSubjects = 96;
  std::vector<std::atomic<Revision>> delivered(kSubjects);
  const auto at = [&delivered](int i) -> std::atomic<Revision>& {
    return delivered[static_cast<std::size_t>(i)];
  };
  for (int i = 0; i < kSubjects; ++i) at(i).store(Set(Id(i), true));
  std::unique_ptr<Guard> g = Make(Bounded(1024));
  store_.YieldInGet(2);
  std::atomic<bool> stop{false};
  std::atomic<int> violations{0};
  std::atomic<int> checks{0};
  std::thread writer([&] {
    std::mt19937 rng(1);
    // Until the checkers made enough checks (or for 1.5 s, should they
    // starve), yielding to them between writes.
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    for (int n = 0;
         checks.load() < 3000 && std::chrono::steady_clock::now() < end; ++n) {
      const int i = static_cast<int>(rng() % kSubjects);
      const Revision r = Set(Id(i), n % 2 == 0);
      at(i).store(r);
      std::this_thread::yield();
    }
    stop.store(true);
  });
  std::vector<std::thread> checkers;
  for (int t = 0; t < 3; ++t) {
    checkers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(100 + t));
      while (!stop.load()) {
        const int i = static_cast<int>(rng() % kSubjects);
        const Revision floor = at(i).load();
        // Some checks demand a revision past the one delivered: they read
        // the store while the subject is cached, so the feed and an
        // eviction can overtake their read.
        absl::StatusOr<Decision> d =
            Check(*g, Id(i), rng() % 4 == 0 ? floor + 1 : 0);
        checks.fetch_add(1);
        if (!d.ok() || d->revision() < floor) violations.fetch_add(1);
      }
    });
  }
  writer.join();
  for (std::thread& t : checkers) t.join();
  EXPECT_EQ(violations.load(), 0);
  const GuardCacheStats stats = g->cache_stats();
  EXPECT_GT(stats.evictions, 0u);
  EXPECT_GT(checks.load(), 100);
  // Afterwards, every subject decides on its newest revision.
  for (int i = 0; i < kSubjects; ++i) {
    absl::StatusOr<Decision> d = Check(*g, Id(i));
    ASSERT_OK(d.status());
    EXPECT_EQ(d->revision(), at(i).load()) << Id(i);
  }
}

}  // namespace
}  // namespace consentry
