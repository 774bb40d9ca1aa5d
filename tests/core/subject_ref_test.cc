// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// `Guard::Subject` and `Check` on a `SubjectRef`: the same decision and the
// same audit event as a check by id, whatever happened to the cache since
// the ref was made.

#include <memory>
#include <string>
#include <vector>

#include "consentry/guard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::DefaultPolicy;
using ::consentry::testing::GuardFixture;
using ::consentry::testing::StatusIs;

class SubjectRefTest : public GuardFixture {
 protected:
  // Checks `subject` by id and by ref for statistics on measurements and
  // expects the same decision; returns it.
  Reason Both(const std::string& subject, const SubjectRef& ref) {
    const AccessContext ctx = Ctx("statistics-job", "statistics.measurement");
    const CategoryRef category = Cat("measurement");
    absl::StatusOr<Decision> by_id = guard_->Check(ctx, subject, category);
    absl::StatusOr<Decision> by_ref = guard_->Check(ctx, ref, category);
    EXPECT_TRUE(by_id.ok()) << by_id.status();
    EXPECT_TRUE(by_ref.ok()) << by_ref.status();
    if (!by_id.ok() || !by_ref.ok()) return Reason::kUnspecified;
    EXPECT_EQ(by_id->reason(), by_ref->reason()) << subject;
    EXPECT_EQ(by_id->revision(), by_ref->revision()) << subject;
    return by_ref->reason();
  }
};

TEST_F(SubjectRefTest, DecidesAsTheIdAndIsAudited) {
  Set("given", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Set("refused", "statistics.measurement", v1::CONSENT_STATE_REFUSED);
  ASSERT_OK(guard_->WarmCache());
  const SubjectRef given = guard_->Subject("given");
  const SubjectRef refused = guard_->Subject("refused");
  const SubjectRef unknown = guard_->Subject("nobody");
  EXPECT_EQ(given.id(), "given");
  EXPECT_EQ(Both("given", given), Reason::kAllowedConsent);
  EXPECT_EQ(Both("refused", refused), Reason::kConsentRefused);
  EXPECT_EQ(Both("nobody", unknown), Reason::kNoConsent);
  // Each check is on record with the subject's id.
  const std::vector<OwnedAuditEvent> events = audit_.Events();
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[1].subject, "given");
  EXPECT_EQ(events[1].reason, Reason::kAllowedConsent);
  EXPECT_EQ(events[5].subject, "nobody");
}

TEST_F(SubjectRefTest, SeesAWithdrawalDeliveredAfterItWasMade) {
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  ASSERT_OK(guard_->WarmCache());
  const SubjectRef ref = guard_->Subject("s1");
  EXPECT_EQ(Both("s1", ref), Reason::kAllowedConsent);
  const Revision withdrawn =
      Set("s1", "statistics.measurement", v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_EQ(Both("s1", ref), Reason::kConsentWithdrawn);
  absl::StatusOr<Decision> d =
      guard_->Check(Ctx("statistics-job", "statistics.measurement"), ref,
                    Cat("measurement"), withdrawn);
  ASSERT_OK(d);
  EXPECT_EQ(d->revision(), withdrawn);
}

// Made before the subject was cached, before the cache grew many times
// over, and before a policy switch replaced the cache: still the subject.
TEST_F(SubjectRefTest, StaysCorrectAcrossGrowthAndPolicySwitch) {
  GuardOptions o;
  o.expected_subjects = 2;
  MakeGuard(o);
  const SubjectRef early = guard_->Subject("s0");  // not cached yet
  Set("s0", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(Both("s0", early), Reason::kAllowedConsent);
  const SubjectRef cached = guard_->Subject("s0");
  std::vector<SubjectRef> refs;
  for (int i = 1; i < 2000; ++i) {
    const std::string id = "s" + std::to_string(i);
    Set(id, "statistics.measurement",
        i % 2 ? v1::CONSENT_STATE_REFUSED : v1::CONSENT_STATE_GIVEN);
    refs.push_back(guard_->Subject(id));
  }
  EXPECT_EQ(Both("s0", cached), Reason::kAllowedConsent);
  for (int i = 1; i < 2000; ++i) {
    EXPECT_EQ(
        Both("s" + std::to_string(i), refs[static_cast<std::size_t>(i - 1)]),
        i % 2 ? Reason::kConsentRefused : Reason::kAllowedConsent);
  }
  ASSERT_OK(guard_->SetPolicy(DefaultPolicy()));
  Set("s0", "statistics.measurement", v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_EQ(Both("s0", cached), Reason::kConsentWithdrawn);
  EXPECT_EQ(Both("s1", refs[0]), Reason::kConsentRefused);
}

// A ref made by one Guard, used with another over another store: decided
// by the other store's consent, never by where the first cache held it.
TEST_F(SubjectRefTest, RefOfAnotherGuardDecidesOnThisGuardsConsent) {
  Set("alice", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  ASSERT_OK(guard_->WarmCache());
  const SubjectRef alice = guard_->Subject("alice");
  InMemoryConsentStore other_store;
  InMemoryAuditSink other_audit;
  absl::StatusOr<std::unique_ptr<Guard>> other =
      Guard::Create(DefaultPolicy(), &other_store, &other_audit);
  ASSERT_OK(other);
  ASSERT_OK(other_store.Apply(testing::PurposeChange(
      "alice", "statistics.measurement", v1::CONSENT_STATE_REFUSED)));
  absl::StatusOr<AccessContext> ctx =
      (*other)->Context("statistics-job", "statistics.measurement");
  absl::StatusOr<CategoryRef> category = (*other)->Category("measurement");
  ASSERT_OK(ctx);
  ASSERT_OK(category);
  absl::StatusOr<Decision> d = (*other)->Check(*ctx, alice, *category);
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kConsentRefused);
}

TEST_F(SubjectRefTest, IdsOfEveryLengthIncludingUncacheable) {
  for (std::size_t n :
       {1u, 3u, 4u, 7u, 8u, 9u, 15u, 16u, 17u, 40u, 255u, 256u, 1000u}) {
    const std::string id(n, static_cast<char>('a' + n % 26));
    Set(id, "statistics.measurement", v1::CONSENT_STATE_GIVEN);
    const SubjectRef ref = guard_->Subject(id);
    EXPECT_EQ(Both(id, ref), Reason::kAllowedConsent) << n;
    // A different id of the same length is another subject.
    std::string other = id;
    other.back() = '#';
    EXPECT_EQ(Both(other, guard_->Subject(other)), Reason::kNoConsent) << n;
  }
}

// Copies and moves of refs to short (inline) and long (heap) ids keep
// their id and decide as it; a moved-from ref holds the empty id.
TEST_F(SubjectRefTest, CopiesAndMovesKeepTheirId) {
  const std::string long_id(40, 'L');
  Set("short", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Set(long_id, "statistics.measurement", v1::CONSENT_STATE_REFUSED);
  ASSERT_OK(guard_->WarmCache());
  for (const std::string& id : {std::string("short"), long_id}) {
    const Reason want =
        id == long_id ? Reason::kConsentRefused : Reason::kAllowedConsent;
    SubjectRef original = guard_->Subject(id);
    SubjectRef copy = original;
    EXPECT_EQ(copy.id(), id);
    EXPECT_EQ(Both(id, copy), want);
    SubjectRef assigned = guard_->Subject("other");
    assigned = copy;
    assigned = *&assigned;  // self-assignment keeps it
    EXPECT_EQ(assigned.id(), id);
    EXPECT_EQ(Both(id, assigned), want);
    SubjectRef moved = std::move(original);
    EXPECT_EQ(moved.id(), id);
    EXPECT_EQ(Both(id, moved), want);
    if (id == long_id) {
      EXPECT_EQ(original.id(), "");  // NOLINT(bugprone-use-after-move)
    }
    SubjectRef move_assigned = guard_->Subject(long_id);
    move_assigned = std::move(moved);
    EXPECT_EQ(move_assigned.id(), id);
    EXPECT_EQ(Both(id, move_assigned), want);
    std::vector<SubjectRef> many(100, copy);  // grows by moving
    many.push_back(copy);
    for (const SubjectRef& r : many) ASSERT_EQ(r.id(), id);
  }
}

TEST_F(SubjectRefTest, StoreOutageFailsClosedForAnUncachedRef) {
  const SubjectRef ref = guard_->Subject("s1");
  store_.SetUnavailableForTesting(true);
  EXPECT_THAT(guard_->Check(Ctx("statistics-job", "statistics.measurement"),
                            ref, Cat("measurement")),
              StatusIs(absl::StatusCode::kUnavailable,
                       ::testing::HasSubstr("store_unavailable")));
}

// The unaudited Guard's check by ref, which reads its cache's copy of the
// subject's state (`Check` without a call): a ref resolved once follows
// every later write, through the growth of the cache and a policy switch;
// decided as by id each time, and as the state written.
TEST(SubjectRefLeanTest, RefResolvedOnceFollowsEveryWrite) {
  InMemoryConsentStore store;
  GuardOptions options;
  options.unaudited_for_benchmarks_only = true;
  options.expected_subjects = 4;
  absl::StatusOr<std::unique_ptr<Guard>> made =
      Guard::Create(DefaultPolicy(), &store, nullptr, options);
  ASSERT_OK(made);
  Guard& guard = **made;
  const auto apply = [&store](const std::string& id, v1::ConsentState state) {
    absl::StatusOr<Revision> r = store.Apply(
        testing::PurposeChange(id, "statistics.measurement", state));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : -1;
  };
  apply("alice", v1::CONSENT_STATE_GIVEN);
  ASSERT_OK(guard.WarmCache());
  const SubjectRef alice = guard.Subject("alice");
  const struct {
    v1::ConsentState state;
    Reason reason;
  } kSteps[] = {{v1::CONSENT_STATE_WITHDRAWN, Reason::kConsentWithdrawn},
                {v1::CONSENT_STATE_GIVEN, Reason::kAllowedConsent},
                {v1::CONSENT_STATE_REFUSED, Reason::kConsentRefused},
                {v1::CONSENT_STATE_GIVEN, Reason::kAllowedConsent}};
  int next_subject = 0;
  for (int round = 0; round < 12; ++round) {
    if (round == 6) {
      ASSERT_OK(guard.SetPolicy(DefaultPolicy()));
    }
    // Contexts of the policy enforced now.
    absl::StatusOr<AccessContext> ctx =
        guard.Context("statistics-job", "statistics.measurement");
    absl::StatusOr<CategoryRef> category = guard.Category("measurement");
    ASSERT_OK(ctx);
    ASSERT_OK(category);
    const auto& step = kSteps[round % 4];
    const Revision written = apply("alice", step.state);
    // More subjects cached: the cache grows between rounds.
    for (int i = 0; i < 40; ++i, ++next_subject) {
      const std::string id = "s" + std::to_string(next_subject);
      apply(id, v1::CONSENT_STATE_GIVEN);
      ASSERT_OK(guard.Check(*ctx, guard.Subject(id), *category));
    }
    absl::StatusOr<Decision> by_ref = guard.Check(*ctx, alice, *category);
    absl::StatusOr<Decision> by_id = guard.Check(*ctx, "alice", *category);
    ASSERT_OK(by_ref);
    ASSERT_OK(by_id);
    EXPECT_EQ(by_ref->reason(), step.reason) << "round " << round;
    EXPECT_EQ(by_ref->revision(), written) << "round " << round;
    EXPECT_EQ(by_id->reason(), by_ref->reason()) << "round " << round;
    EXPECT_EQ(by_id->revision(), by_ref->revision()) << "round " << round;
    // Demanding a revision past the one written: decided again from the
    // store, the same way.
    absl::StatusOr<Decision> demanding =
        guard.Check(*ctx, alice, *category, written);
    ASSERT_OK(demanding);
    EXPECT_EQ(demanding->reason(), step.reason);
  }
}

// Two unaudited Guards over stores with opposite consent for alice: a ref
// is decided by the Guard that checks it. The first subject each cache
// numbers is alice in one and bob (who gave consent) in the other, so a
// ref's number read in the other cache would be another subject's.
TEST(SubjectRefLeanTest, RefOfAnotherGuardsCacheIsNotItsState) {
  InMemoryConsentStore given_store, refused_store;
  ASSERT_OK(given_store.Apply(testing::PurposeChange(
      "alice", "statistics.measurement", v1::CONSENT_STATE_GIVEN)));
  ASSERT_OK(refused_store.Apply(testing::PurposeChange(
      "alice", "statistics.measurement", v1::CONSENT_STATE_REFUSED)));
  ASSERT_OK(refused_store.Apply(testing::PurposeChange(
      "bob", "statistics.measurement", v1::CONSENT_STATE_GIVEN)));
  GuardOptions options;
  options.unaudited_for_benchmarks_only = true;
  absl::StatusOr<std::unique_ptr<Guard>> given =
      Guard::Create(DefaultPolicy(), &given_store, nullptr, options);
  absl::StatusOr<std::unique_ptr<Guard>> refused =
      Guard::Create(DefaultPolicy(), &refused_store, nullptr, options);
  ASSERT_OK(given);
  ASSERT_OK(refused);
  ASSERT_OK((*given)->WarmCache());
  ASSERT_OK((*refused)->WarmCache());
  const SubjectRef bob = (*refused)->Subject("bob");
  ASSERT_EQ(bob.id(), "bob");
  const SubjectRef from_given = (*given)->Subject("alice");
  const SubjectRef from_refused = (*refused)->Subject("alice");
  for (Guard* g : {given->get(), refused->get()}) {
    absl::StatusOr<AccessContext> ctx =
        g->Context("statistics-job", "statistics.measurement");
    absl::StatusOr<CategoryRef> category = g->Category("measurement");
    ASSERT_OK(ctx);
    ASSERT_OK(category);
    const Reason want =
        g == given->get() ? Reason::kAllowedConsent : Reason::kConsentRefused;
    for (const SubjectRef* ref : {&from_given, &from_refused}) {
      absl::StatusOr<Decision> d = g->Check(*ctx, *ref, *category);
      ASSERT_OK(d);
      EXPECT_EQ(d->reason(), want);
    }
  }
}

}  // namespace
}  // namespace consentry
