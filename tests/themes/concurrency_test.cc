// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Checks racing consent writes and policy switches. Run under
// ThreadSanitizer by the sanitizer build.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "consentry/guard.h"
#include "consentry/protected.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::PurposeChange;

class ConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Guard>> g =
        Guard::Create(testing::DefaultPolicy(), &store_, &audit_);
    ASSERT_OK(g);
    guard_ = *std::move(g);
  }
  InMemoryConsentStore store_;
  InMemoryAuditSink audit_;
  std::unique_ptr<Guard> guard_;
};

// Once a withdrawal's Apply has returned, no check started afterwards may
// allow; before it, checks see GIVEN. Readers run concurrently with writers.
TEST_F(ConcurrencyTest, ChecksNeverAllowAfterWithdrawalReturned) {
  constexpr int kSubjects = 64;
  for (int i = 0; i < kSubjects; ++i) {
    ASSERT_OK(store_.Apply(PurposeChange("s" + std::to_string(i), "marketing",
                                         v1::CONSENT_STATE_GIVEN)));
  }
  absl::StatusOr<AccessContext> ctx =
      guard_->Context("marketing-analytics", "marketing.research");
  ASSERT_OK(ctx);
  absl::StatusOr<CategoryRef> cat = guard_->Category("measurement");
  ASSERT_OK(cat);
  std::vector<std::atomic<bool>> withdrawn(kSubjects);
  for (auto& w : withdrawn) w = false;
  std::atomic<bool> stop{false};
  std::atomic<long> violations{0}, checks{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      int i = t;
      while (!stop.load(std::memory_order_acquire)) {
        i = (i + 7) % kSubjects;
        const bool was_withdrawn = withdrawn[static_cast<std::size_t>(i)].load(
            std::memory_order_acquire);
        absl::StatusOr<Decision> d =
            guard_->Check(*ctx, "s" + std::to_string(i), *cat);
        checks.fetch_add(1, std::memory_order_relaxed);
        if (!d.ok() || (was_withdrawn && d->allowed())) violations.fetch_add(1);
      }
    });
  }
  std::thread writer([&] {
    for (int i = 0; i < kSubjects; ++i) {
      absl::StatusOr<Revision> r = store_.Apply(
          PurposeChange("s" + std::to_string(i), "marketing.research",
                        v1::CONSENT_STATE_WITHDRAWN));
      if (!r.ok()) violations.fetch_add(1);
      withdrawn[static_cast<std::size_t>(i)].store(true,
                                                   std::memory_order_release);
      std::this_thread::yield();
    }
  });
  writer.join();
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(checks.load(), 0);
  for (int i = 0; i < kSubjects; ++i) {
    absl::StatusOr<Decision> d =
        guard_->Check(*ctx, "s" + std::to_string(i), *cat);
    ASSERT_OK(d);
    EXPECT_EQ(d->reason(), Reason::kConsentWithdrawn);
  }
}

// Policy switches while checks run: every decision belongs to one of the two
// policies, never a mix.
TEST_F(ConcurrencyTest, PolicySwitchIsAtomicUnderConcurrentChecks) {
  ASSERT_OK(store_.Apply(
      PurposeChange("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN)));
  std::shared_ptr<const CompiledPolicy> a = guard_->policy();
  v1::Policy next = a->proto();
  next.set_version("strict");
  for (v1::UseRule& r : *next.mutable_rules()) {
    if (r.category() != "measurement") continue;
    auto* ps = r.mutable_purposes();
    for (int i = ps->size() - 1; i >= 0; --i) {
      if (ps->Get(i) == "statistics.measurement") ps->DeleteSubrange(i, 1);
    }
  }
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> b =
      CompiledPolicy::Compile(next);
  ASSERT_OK(b);
  absl::StatusOr<AccessContext> ctx =
      guard_->Context("statistics-job", "statistics.measurement");
  ASSERT_OK(ctx);
  absl::StatusOr<CategoryRef> cat = guard_->Category("measurement");
  ASSERT_OK(cat);
  std::atomic<bool> stop{false};
  std::atomic<long> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_acquire)) {
        absl::StatusOr<Decision> d = guard_->Check(*ctx, "s1", *cat);
        if (!d.ok() || (d->reason() != Reason::kAllowedConsent &&
                        d->reason() != Reason::kNotAllowedByPolicy)) {
          bad.fetch_add(1);
        }
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    ASSERT_OK(guard_->SetPolicy(i % 2 == 0 ? *b : a));
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0);
  // Audit events carry the version each decision was made under.
  for (const OwnedAuditEvent& e : audit_.Events()) {
    if (e.reason == Reason::kAllowedConsent) {
      EXPECT_EQ(e.policy_version, "2026-11-01");
    }
    if (e.reason == Reason::kNotAllowedByPolicy) {
      EXPECT_EQ(e.policy_version, "strict");
    }
  }
}

// Many threads authorizing and reading protected values while consent
// changes: no crash, no grant after the final withdrawal.
TEST_F(ConcurrencyTest, AuthorizeAndReadRaceWithConsentChanges) {
  std::vector<Protected<int>> records;
  for (int i = 0; i < 16; ++i) {
    absl::StatusOr<RecordTags> tags = guard_->Tag(
        "p" + std::to_string(i), "measurement", {"statistics.measurement"});
    ASSERT_OK(tags);
    records.emplace_back(*tags, i);
  }
  absl::StatusOr<AccessContext> ctx =
      guard_->Context("statistics-job", "statistics.measurement");
  ASSERT_OK(ctx);
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0}, errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_acquire)) {
        for (const Protected<int>& r : records) {
          absl::StatusOr<AccessGrant> g = guard_->Authorize(*ctx, r);
          if (g.ok()) {
            absl::StatusOr<const int*> v = r.Read(*g);
            if (!v.ok()) errors.fetch_add(1);
            reads.fetch_add(1, std::memory_order_relaxed);
          } else if (g.status().code() !=
                     absl::StatusCode::kFailedPrecondition) {
            errors.fetch_add(1);
          }
        }
      }
    });
  }
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 16; ++i) {
      ASSERT_OK(store_.Apply(
          PurposeChange("p" + std::to_string(i), "statistics",
                        round % 2 == 0 ? v1::CONSENT_STATE_GIVEN
                                       : v1::CONSENT_STATE_WITHDRAWN)));
    }
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(errors.load(), 0);
  for (const Protected<int>& r : records) {
    EXPECT_EQ(ReasonFromStatus(guard_->Authorize(*ctx, r).status()),
              Reason::kConsentWithdrawn);
  }
}

}  // namespace
}  // namespace consentry
