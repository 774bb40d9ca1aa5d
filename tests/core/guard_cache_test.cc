// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The Guard's consent cache against the store: fills racing the change
// feed, state the cache cannot hold, "at least revision R" against the
// state actually used, and policy epochs reclaimed while checks are in
// flight (by reference, however long a check waits on the store).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "consentry/guard.h"
#include "consentry/policy_scheduler.h"
#include "consentry/v1/policy.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::DefaultPolicy;
using ::consentry::testing::PurposeChange;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

// An in-memory store with hooks: revisions shifted by an offset on the way
// out, a callback between reading a record and returning it, and a Get that
// stalls until released.
class HookedStore final : public ConsentStore {
 public:
  absl::StatusOr<v1::ConsentRecord> Get(absl::string_view s) override {
    absl::StatusOr<v1::ConsentRecord> r = inner_.Get(s);
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stall_next_get_) {
        stall_next_get_ = false;
        stalled_ = true;
        cv_.notify_all();
        cv_.wait(lock, [this] { return !stalled_; });
      }
    }
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      hook = std::exchange(after_read_, nullptr);
    }
    if (hook) hook();
    if (yield_in_get_.load()) std::this_thread::yield();
    if (r.ok()) Shift(*r);
    return r;
  }
  absl::StatusOr<Revision> Apply(const v1::ConsentChange& c) override {
    absl::StatusOr<Revision> r = inner_.Apply(c);
    if (r.ok()) return *r + offset_.load();
    return r;
  }
  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSince(
      Revision after, int limit) override {
    absl::StatusOr<std::vector<v1::ConsentRecord>> r =
        inner_.ChangesSince(after, limit);
    if (r.ok()) {
      for (v1::ConsentRecord& rec : *r) Shift(rec);
    }
    return r;
  }
  absl::StatusOr<Revision> LatestRevision() override {
    return inner_.LatestRevision();
  }
  std::unique_ptr<Subscription> Watch(ConsentListener listener) override {
    return inner_.Watch([this, listener](const v1::ConsentRecord& r) {
      v1::ConsentRecord copy = r;
      Shift(copy);
      listener(copy);
    });
  }

  // Revisions reported from now on are the inner ones plus `offset`.
  void SetOffset(Revision offset) { offset_.store(offset); }
  // The next Get runs `hook` after reading and before answering.
  void AfterNextRead(std::function<void()> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    after_read_ = std::move(hook);
  }
  void YieldInGet(bool y) { yield_in_get_.store(y); }
  // The next Get blocks until `Release`; `WaitStalled` waits for it.
  void StallNextGet() {
    std::lock_guard<std::mutex> lock(mu_);
    stall_next_get_ = true;
  }
  void WaitStalled() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return stalled_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    stalled_ = false;
    cv_.notify_all();
  }

 private:
  void Shift(v1::ConsentRecord& r) const {
    if (r.revision() != 0) r.set_revision(r.revision() + offset_.load());
  }

  InMemoryConsentStore inner_;
  std::atomic<Revision> offset_{0};
  std::atomic<bool> yield_in_get_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> after_read_;
  bool stall_next_get_ = false;
  bool stalled_ = false;
};

class GuardCacheTest : public ::testing::Test {
 protected:
  void MakeGuard(GuardOptions options = {}) {
    absl::StatusOr<std::unique_ptr<Guard>> g =
        Guard::Create(DefaultPolicy(), &store_, &audit_, std::move(options));
    ASSERT_OK(g);
    guard_ = *std::move(g);
  }
  Revision Set(const std::string& subject, const std::string& purpose,
               v1::ConsentState state, const std::string& occasion = "") {
    v1::ConsentChange c = PurposeChange(subject, purpose, state);
    if (!occasion.empty()) {
      c.mutable_purpose_consent()->set_occasion_id(occasion);
    }
    absl::StatusOr<Revision> r = store_.Apply(c);
    EXPECT_OK(r);
    return r.ok() ? *r : -1;
  }
  absl::StatusOr<Decision> Stats(const std::string& subject,
                                 Revision at_least = 0) {
    absl::StatusOr<AccessContext> ctx =
        guard_->Context("statistics-job", "statistics.measurement");
    absl::StatusOr<CategoryRef> cat = guard_->Category("measurement");
    EXPECT_OK(ctx);
    EXPECT_OK(cat);
    return guard_->Check(*ctx, subject, *cat, at_least);
  }
  absl::StatusOr<Decision> Study(const std::string& subject,
                                 const std::string& occasion) {
    absl::StatusOr<AccessContext> ctx =
        guard_->Context("research-team", "occasion.joint_study", occasion);
    absl::StatusOr<CategoryRef> cat = guard_->Category("measurement");
    EXPECT_OK(ctx);
    EXPECT_OK(cat);
    return guard_->Check(*ctx, subject, *cat);
  }

  HookedStore store_;
  InMemoryAuditSink audit_;
  std::unique_ptr<Guard> guard_;
};

// A cache fill that read the store before a withdrawal of a per-occasion
// consent, and applies after the feed delivered the withdrawal, must not
// restore the withdrawn occasion consent.
TEST_F(GuardCacheTest, FillThatReadBeforeAnOccasionWithdrawalDoesNotRestoreIt) {
  Set("s", "occasion.joint_study", v1::CONSENT_STATE_GIVEN, "study-7");
  MakeGuard();  // after the consent: the first check fills from the store
  Revision withdrawn = 0;
  store_.AfterNextRead([&] {
    withdrawn = Set("s", "occasion.joint_study", v1::CONSENT_STATE_WITHDRAWN,
                    "study-7");
  });
  // Concurrent with the withdrawal: either answer is right.
  ASSERT_OK(Study("s", "study-7"));
  ASSERT_GT(withdrawn, 0);
  // After it returned, never the withdrawn consent.
  absl::StatusOr<Decision> after = Study("s", "study-7");
  ASSERT_OK(after);
  EXPECT_EQ(after->reason(), Reason::kConsentWithdrawn);
  EXPECT_EQ(after->revision(), withdrawn);
}

// A withdrawal at a revision the cache slot cannot hold: the subject is
// read from the store from then on, never decided on the older state.
TEST_F(GuardCacheTest, WithdrawalAtARevisionBeyondTheSlotIsEnforced) {
  MakeGuard();
  Set("s", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  ASSERT_EQ(Stats("s")->reason(), Reason::kAllowedConsent);  // cached
  store_.SetOffset(Revision{1} << 41);
  const Revision withdrawn =
      Set("s", "statistics.measurement", v1::CONSENT_STATE_WITHDRAWN);
  ASSERT_GT(withdrawn, Revision{1} << 41);
  for (Revision at_least : {Revision{0}, withdrawn}) {
    absl::StatusOr<Decision> d = Stats("s", at_least);
    ASSERT_OK(d);
    EXPECT_EQ(d->reason(), Reason::kConsentWithdrawn) << at_least;
    EXPECT_EQ(d->revision(), withdrawn) << at_least;
  }
  // Other subjects stay cached and keep working.
  Set("t", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(Stats("t")->reason(), Reason::kAllowedConsent);
}

// "At least revision R" holds for the state actually used: a store that
// answers with an older record (a lagging replica) fails closed.
TEST_F(GuardCacheTest, DemandBeyondAnUnchangedSubjectsRevisionIsAnswered) {
  // A store-wide revision demanded after a change to another subject: the
  // subject's own record is older, read again from the store, and decided.
  MakeGuard();
  Set("s", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  const Revision later =
      Set("t", "statistics.measurement", v1::CONSENT_STATE_WITHDRAWN);
  absl::StatusOr<Decision> d = Stats("s", later);
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kAllowedConsent);
  // And the subject the change touched is decided on that change.
  absl::StatusOr<Decision> t = Stats("t", later);
  ASSERT_OK(t);
  EXPECT_FALSE(t->allowed());
}

// A check waiting on a slow store keeps its policy epoch, however long it
// waits and however many policy switches retire the epoch meanwhile.
// (Before, epochs were freed `retire_grace` after retirement, and this
// check then used a freed epoch.)
TEST_F(GuardCacheTest, RetiredEpochOutlivesACheckStalledOnTheStore) {
  Set("s", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  GuardOptions o;
  o.retire_grace = absl::Milliseconds(1);  // ignored: kept for callers
  MakeGuard(o);
  absl::StatusOr<AccessContext> ctx =
      guard_->Context("statistics-job", "statistics.measurement");
  absl::StatusOr<CategoryRef> cat = guard_->Category("measurement");
  ASSERT_OK(ctx);
  ASSERT_OK(cat);
  store_.StallNextGet();
  absl::StatusOr<Decision> stalled = absl::UnknownError("not run");
  std::thread check([&] { stalled = guard_->Check(*ctx, "s", *cat); });
  store_.WaitStalled();
  // Retire the check's epoch, wait past the old grace, switch again (which
  // is when retired epochs were freed), and a few more times.
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(guard_->SetPolicy(DefaultPolicy()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  store_.Release();
  check.join();
  ASSERT_OK(stalled);
  EXPECT_EQ(stalled->reason(), Reason::kAllowedConsent);
  // Once the check ended, the next switch frees its epoch; checks go on.
  ASSERT_OK(guard_->SetPolicy(DefaultPolicy()));
  EXPECT_EQ(Stats("s")->reason(), Reason::kAllowedConsent);
}

// Cache-miss fills racing the feed: once a withdrawal of a per-occasion
// consent returned, no check started afterwards allows.
TEST_F(GuardCacheTest, FillsRacingTheFeedNeverAllowAfterAWithdrawal) {
  constexpr int kSubjects = 150;
  for (int i = 0; i < kSubjects; ++i) {
    Set("s" + std::to_string(i), "occasion.joint_study",
        v1::CONSENT_STATE_GIVEN, "study-7");
  }
  MakeGuard();  // nothing cached: every first check fills from the store
  store_.YieldInGet(true);
  std::vector<std::atomic<bool>> withdrawn(kSubjects);
  for (auto& w : withdrawn) w = false;
  std::atomic<int> next{0};
  std::atomic<long> violations{0};
  std::thread writer([&] {
    for (int i = 0; i < kSubjects; ++i) {
      Set("s" + std::to_string(i), "occasion.joint_study",
          v1::CONSENT_STATE_WITHDRAWN, "study-7");
      withdrawn[static_cast<std::size_t>(i)].store(true);
      next.store(i + 1);
    }
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (next.load() < kSubjects) {
        // Near the writer: the first check of a subject is a fill that may
        // race its withdrawal.
        for (int i = next.load(); i < std::min(next.load() + 3, kSubjects);
             ++i) {
          const bool was = withdrawn[static_cast<std::size_t>(i)].load();
          absl::StatusOr<Decision> d =
              Study("s" + std::to_string(i), "study-7");
          if (!d.ok() || (was && d->allowed())) violations.fetch_add(1);
        }
      }
    });
  }
  writer.join();
  for (auto& r : readers) r.join();
  EXPECT_EQ(violations.load(), 0);
  for (int i = 0; i < kSubjects; ++i) {
    absl::StatusOr<Decision> d = Study("s" + std::to_string(i), "study-7");
    ASSERT_OK(d);
    EXPECT_EQ(d->reason(), Reason::kConsentWithdrawn) << i;
  }
}

// Policy switches, each retiring an epoch, while checks (some of them
// waiting on the store) run: every check completes on a whole epoch.
TEST_F(GuardCacheTest, EpochsAreReclaimedWhileChecksRun) {
  constexpr int kSubjects = 32;
  for (int i = 0; i < kSubjects; ++i) {
    Set("s" + std::to_string(i), "statistics.measurement",
        v1::CONSENT_STATE_GIVEN);
  }
  MakeGuard();
  store_.YieldInGet(true);
  std::atomic<bool> stop{false};
  std::atomic<long> wrong{0}, checks{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      int i = t;
      while (!stop.load()) {
        i = (i + 5) % kSubjects;
        // A demanded revision beyond the cache sends every check to the
        // store half of the time.
        absl::StatusOr<Decision> d =
            Stats("s" + std::to_string(i), (i % 2) ? 1 : 0);
        if (!d.ok() || d->reason() != Reason::kAllowedConsent) {
          wrong.fetch_add(1);
        }
        checks.fetch_add(1);
      }
    });
  }
  for (int k = 0; k < 10; ++k) {
    ASSERT_OK(guard_->SetPolicy(DefaultPolicy()));
  }
  while (checks.load() < 100) std::this_thread::yield();
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(wrong.load(), 0);
}

// The background scheduler thread switches policies on the real clock
// while checks run.
TEST_F(GuardCacheTest, ScheduledSwitchOnTheSchedulerThreadRacesChecks) {
  Set("s", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  MakeGuard();  // the real clock: a scheduler thread applies the switch
  v1::Policy next = guard_->policy()->proto();
  next.set_version("2027-01-01");
  const absl::Time at = absl::Now() + absl::Milliseconds(50);
  next.mutable_effective_time()->set_seconds(absl::ToUnixSeconds(at));
  next.mutable_effective_time()->set_nanos(
      static_cast<std::int32_t>(absl::ToInt64Nanoseconds(
          at - absl::FromUnixSeconds(absl::ToUnixSeconds(at)))));
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> compiled =
      CompiledPolicy::Compile(next);
  ASSERT_OK(compiled);
  absl::StatusOr<std::unique_ptr<PolicyScheduler>> scheduler =
      PolicyScheduler::Create(guard_.get());
  ASSERT_OK(scheduler);
  ASSERT_OK((*scheduler)->Schedule(*compiled));
  std::atomic<bool> stop{false};
  std::atomic<long> wrong{0};
  std::thread reader([&] {
    while (!stop.load()) {
      absl::StatusOr<Decision> d = Stats("s");
      if (!d.ok() || d->reason() != Reason::kAllowedConsent) wrong.fetch_add(1);
    }
  });
  const absl::Time deadline = absl::Now() + absl::Seconds(4);
  while (guard_->policy()->version() != "2027-01-01" &&
         absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  stop = true;
  reader.join();
  EXPECT_EQ(guard_->policy()->version(), "2027-01-01");
  EXPECT_EQ(wrong.load(), 0);
  // A check started after the switch decides under the new policy.
  ASSERT_OK(Stats("s"));
  EXPECT_EQ(audit_.Events().back().policy_version, "2027-01-01");
}

}  // namespace
}  // namespace consentry
