// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The warm path of `Guard::Check` (a decision from the (category, purpose)
// pair's precompiled entry and the subject's cached profile) against the
// general decider, differentially: two unaudited Guards over one store, one
// of them forced onto the general decider (`GuardTestPeer::
// ForceGeneralPath`), make the same checks over randomised policies
// (purpose trees, per-occasion purposes, subject kinds, specific consent,
// re-consent, opt-in/opt-out/necessary rules, accessors), subject states
// (given, refused, withdrawn, expired and expiring consents, occasion
// consents, erasure, suspension, kinds, unknown and long ids), options
// (bounded cache, clock, feed staleness with a fresh, stale or absent
// heartbeat, store outages), `min_revision`, `SubjectRef`s and contexts
// resolved under a policy since replaced. Every decision (reason, revision) and
// every error must be the same, and so must the bounded cache's counters.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "consentry/audit_log.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/options.h"
#include "consentry/policy.h"
#include "consentry/protected.h"
#include "consentry/v1/consent.pb.h"
#include "consentry/v1/policy.pb.h"
#include "gtest/gtest.h"
#include "src/testing/guard_test_peer.h"
#include "tests/testing/feed_controlled_store.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/temp_dir.h"

namespace consentry {
namespace {

constexpr int kPurposes = 8;
constexpr int kCategories = 5;
constexpr int kAccessors = 3;
const char* const kVersions[] = {"v1", "v2", "v3"};

std::string PurposeId(int p) { return absl::StrCat("p", p); }
std::string CategoryId(int c) { return absl::StrCat("c", c); }
std::string AccessorId(int a) { return absl::StrCat("a", a); }

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : rng_(seed) {}
  int Below(int n) {
    return static_cast<int>(rng_() % static_cast<std::uint64_t>(n));
  }
  bool OneIn(int n) { return Below(n) == 0; }

 private:
  std::mt19937_64 rng_;
};

void AddKinds(Rng& rng, google::protobuf::RepeatedField<int>* kinds) {
  if (!rng.OneIn(3)) return;
  for (int k = 1; k <= 3; ++k) {
    if (rng.OneIn(2)) kinds->Add(k);
  }
  if (kinds->empty()) kinds->Add(1 + rng.Below(3));
}

// A random policy of kPurposes purposes (one level of children, some per
// occasion), kCategories categories and kAccessors accessors; null when
// the draw does not compile.
std::shared_ptr<const CompiledPolicy> RandomPolicy(Rng& rng, int serial) {
  v1::Policy policy;
  policy.set_version(kVersions[2]);
  policy.add_version_history(kVersions[0]);
  policy.add_version_history(kVersions[1]);
  std::vector<bool> per_occasion(kPurposes, false);
  std::vector<int> parent(kPurposes, -1);
  for (int p = 0; p < kPurposes; ++p) {
    v1::Purpose* purpose = policy.add_purposes();
    purpose->set_id(PurposeId(p));
    purpose->mutable_name()->set_en(PurposeId(p));
    if (p >= 2 && rng.OneIn(2)) {
      parent[static_cast<std::size_t>(p)] = rng.Below(2);
      purpose->set_parent(PurposeId(parent[static_cast<std::size_t>(p)]));
    }
    if (p >= 2 && rng.OneIn(6)) {
      per_occasion[static_cast<std::size_t>(p)] = true;
      purpose->set_per_occasion(true);
    }
    // Children inherit their parent's kinds (and may not widen them).
    if (parent[static_cast<std::size_t>(p)] < 0) {
      AddKinds(rng, purpose->mutable_subject_kinds());
    }
  }
  std::vector<bool> has_child(kPurposes, false);
  for (int p : parent) {
    if (p >= 0) has_child[static_cast<std::size_t>(p)] = true;
  }
  std::vector<bool> special(kCategories, false);
  std::vector<bool> specific(kCategories, false);
  for (int c = 0; c < kCategories; ++c) {
    v1::DataCategory* category = policy.add_categories();
    category->set_id(CategoryId(c));
    category->mutable_name()->set_en(CategoryId(c));
    special[static_cast<std::size_t>(c)] = rng.OneIn(5);
    category->set_special(special[static_cast<std::size_t>(c)]);
    specific[static_cast<std::size_t>(c)] = rng.OneIn(3);
    category->set_requires_specific_consent(
        specific[static_cast<std::size_t>(c)]);
    AddKinds(rng, category->mutable_subject_kinds());
  }
  for (int c = 0; c < kCategories; ++c) {
    for (int p = 0; p < kPurposes; ++p) {
      if (rng.OneIn(3)) continue;
      const bool specific_rule = specific[static_cast<std::size_t>(c)];
      // A category that requires specific consent names leaf purposes.
      if (specific_rule && has_child[static_cast<std::size_t>(p)]) continue;
      v1::UseRule* rule = policy.add_rules();
      rule->set_category(CategoryId(c));
      rule->add_purposes(PurposeId(p));
      int basis = 1 + rng.Below(3);
      if (per_occasion[static_cast<std::size_t>(p)]) basis = 2;
      if ((special[static_cast<std::size_t>(c)] || specific_rule) &&
          basis == 3) {
        basis = 2;
      }
      rule->set_basis(static_cast<v1::LegalBasis>(basis));
    }
  }
  for (int a = 0; a < kAccessors; ++a) {
    v1::Accessor* accessor = policy.add_accessors();
    accessor->set_id(AccessorId(a));
    accessor->set_kind(v1::ACCESSOR_KIND_SERVICE);
    for (int p = 0; p < kPurposes; ++p) {
      if (!rng.OneIn(4)) accessor->add_may_declare(PurposeId(p));
    }
  }
  for (int n = rng.Below(4); n > 0; --n) {
    v1::ReconsentRequirement* r = policy.add_reconsent();
    r->set_purpose(PurposeId(rng.Below(kPurposes)));
    for (int c = 0; c < kCategories; ++c) {
      if (rng.OneIn(2)) r->add_categories(CategoryId(c));
    }
    r->set_since_version(kVersions[1 + rng.Below(2)]);
  }
  // Retention, drawn from a generator of its own so that the draws above
  // (and the tests that predate it) are unchanged.
  Rng keep(0x7e7e0000u + static_cast<std::uint64_t>(serial));
  for (int c = 0; c < kCategories; ++c) {
    if (!keep.OneIn(2)) continue;
    v1::RetentionRule* r = policy.add_retention();
    r->set_category(CategoryId(c));
    r->mutable_period()->set_seconds(3600 * (1 + keep.Below(48)));
    if (keep.OneIn(2)) {
      v1::RetentionRule* longer = policy.add_retention();
      longer->set_category(CategoryId(c));
      longer->add_purposes(PurposeId(keep.Below(kPurposes)));
      longer->mutable_period()->set_seconds(3600 * (50 + keep.Below(48)));
    }
  }
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> compiled =
      CompiledPolicy::Compile(policy);
  if (!compiled.ok()) {
    if (serial < 3) ADD_FAILURE() << compiled.status();
    return nullptr;
  }
  return *compiled;
}

std::vector<std::string> Subjects() {
  std::vector<std::string> out;
  for (int i = 0; i < 14; ++i) out.push_back(absl::StrCat("s", i));
  // Over 16 bytes (kept in the key arena), and never recorded.
  out.push_back("subject-with-a-longer-identifier");
  out.push_back("nobody");
  return out;
}

// A Guard that takes the warm paths and its twin forced onto the general
// decider, over the same store and options (and each its own audit sink);
// both null when either cannot be made.
struct WarmAndGeneral {
  std::unique_ptr<Guard> warm;
  std::unique_ptr<Guard> general;
};
WarmAndGeneral MakeWarmAndGeneral(std::shared_ptr<const CompiledPolicy> policy,
                                  ConsentStore* store,
                                  const GuardOptions& options,
                                  AuditSink* warm_sink = nullptr,
                                  AuditSink* general_sink = nullptr) {
  absl::StatusOr<std::unique_ptr<Guard>> warm =
      Guard::Create(policy, store, warm_sink, options);
  absl::StatusOr<std::unique_ptr<Guard>> general =
      Guard::Create(policy, store, general_sink, options);
  if (!warm.ok() || !general.ok()) return {};
  internal::GuardTestPeer::ForceGeneralPath(**general, true);
  return {*std::move(warm), *std::move(general)};
}

class GuardWarmPathTest : public ::testing::TestWithParam<int> {
 protected:
  // A random consent change of one subject (the last two subjects are
  // never written).
  void ChangeConsent(Rng& rng, const std::vector<std::string>& subjects) {
    v1::ConsentChange change;
    change.set_subject_id(subjects[static_cast<std::size_t>(
        rng.Below(static_cast<int>(subjects.size()) - 1))]);
    if (change.subject_id() == "nobody") return;
    change.set_subject_kind(static_cast<v1::SubjectKind>(rng.Below(4)));
    if (rng.OneIn(8)) {
      // Erasure is for good: rarer than the rest.
      v1::Restrictions* r = change.mutable_add_restrictions();
      switch (rng.Below(8)) {
        case 0:
          r->set_erased(true);
          break;
        case 1:
          r->set_suspend_all(true);
          break;
        default:
          r->add_suspended_purposes(PurposeId(rng.Below(kPurposes)));
      }
    } else {
      v1::PurposeConsent* pc = change.mutable_purpose_consent();
      const int p = rng.Below(kPurposes);
      pc->set_purpose(PurposeId(p));
      const v1::ConsentState states[] = {
          v1::CONSENT_STATE_GIVEN,     v1::CONSENT_STATE_GIVEN,
          v1::CONSENT_STATE_GIVEN,     v1::CONSENT_STATE_REFUSED,
          v1::CONSENT_STATE_WITHDRAWN, v1::CONSENT_STATE_EXPIRED};
      pc->set_state(states[rng.Below(6)]);
      pc->set_policy_version(kVersions[rng.Below(3)]);
      pc->set_method(v1::COLLECTION_METHOD_MOBILE_APP);
      if (rng.OneIn(4)) {
        const absl::Time expiry = Now() + absl::Minutes(rng.Below(120) - 60);
        pc->mutable_expiry()->set_seconds(absl::ToUnixSeconds(expiry));
      }
      if (rng.OneIn(3)) {
        pc->set_occasion_id(absl::StrCat("occ-", rng.Below(2)));
        pc->set_single_use(rng.OneIn(3));
      }
    }
    // A change the store refuses (an erased subject, say) changes nothing.
    (void)store_.Apply(change);
  }

  absl::Time Now() const { return use_clock_ ? now_ : absl::Now(); }

  testing::FeedControlledStore store_;
  bool use_clock_ = false;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_P(GuardWarmPathTest, WarmPathDecidesAsTheGeneralDecider) {
  Rng rng(0x5eed0000u + static_cast<std::uint64_t>(GetParam()));
  std::vector<std::shared_ptr<const CompiledPolicy>> policies;
  for (int serial = 0; policies.size() < 3 && serial < 60; ++serial) {
    if (auto p = RandomPolicy(rng, serial)) policies.push_back(std::move(p));
  }
  ASSERT_EQ(policies.size(), 3u) << "too few random policies compile";

  GuardOptions options;
  options.unaudited_for_benchmarks_only = true;
  use_clock_ = rng.OneIn(2);
  if (use_clock_) options.clock = [this] { return now_; };
  if (rng.OneIn(2)) options.cache_budget_bytes = 1024;  // ~25 subjects
  if (rng.OneIn(3)) options.max_feed_staleness = absl::InfiniteDuration();
  WarmAndGeneral made = MakeWarmAndGeneral(policies[0], &store_, options);
  ASSERT_TRUE(made.warm != nullptr && made.general != nullptr);
  Guard& warm = *made.warm;
  Guard& general = *made.general;

  const std::vector<std::string> subjects = Subjects();
  for (int i = 0; i < 60; ++i) ChangeConsent(rng, subjects);
  ASSERT_TRUE(warm.WarmCache().ok());
  ASSERT_TRUE(general.WarmCache().ok());

  // Contexts and categories, resolved under each policy in turn: after a
  // switch, those of the earlier policies meet the general decider.
  std::vector<AccessContext> contexts;
  std::vector<CategoryRef> categories;
  auto resolve = [&](Guard& g) {
    for (int a = 0; a < kAccessors; ++a) {
      for (int p = 0; p < kPurposes; ++p) {
        absl::StatusOr<AccessContext> c =
            g.Context(AccessorId(a), PurposeId(p), "");
        if (!c.ok()) c = g.Context(AccessorId(a), PurposeId(p), "occ-1");
        if (c.ok()) contexts.push_back(*std::move(c));
      }
    }
    for (int c = 0; c < kCategories; ++c) {
      absl::StatusOr<CategoryRef> r = g.Category(CategoryId(c));
      ASSERT_TRUE(r.ok());
      categories.push_back(*std::move(r));
    }
  };
  resolve(warm);

  int checks = 0, allowed = 0;
  bool store_down = false;
  Revision latest = 0;
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 1500; ++k) {
      switch (rng.Below(40)) {
        case 0:
        case 1:
          if (!store_down) ChangeConsent(rng, subjects);
          continue;
        case 4:
          // An outage: a check that needs the store fails on both paths.
          store_down = !store_down;
          store_.SetUnavailable(store_down);
          continue;
        case 2:
          now_ += absl::Minutes(rng.Below(20));
          continue;
        case 3: {
          const absl::Time beats[] = {absl::InfiniteFuture(), absl::Now(),
                                      absl::Now() - absl::Hours(1)};
          store_.SetHeartbeat(beats[rng.Below(3)]);
          continue;
        }
        default:
          break;
      }
      const AccessContext& ctx = contexts[static_cast<std::size_t>(
          rng.Below(static_cast<int>(contexts.size())))];
      const CategoryRef& category = categories[static_cast<std::size_t>(
          rng.Below(static_cast<int>(categories.size())))];
      const std::string& subject = subjects[static_cast<std::size_t>(
          rng.Below(static_cast<int>(subjects.size())))];
      Revision min_revision = 0;
      if (rng.OneIn(6)) {
        // The store's newest revision, or more (read before an outage).
        if (!store_down) {
          absl::StatusOr<Revision> read = store_.LatestRevision();
          ASSERT_TRUE(read.ok());
          latest = *read;
        }
        min_revision = latest + rng.Below(3) - 1;
      }
      absl::StatusOr<Decision> a, b;
      if (rng.OneIn(3)) {
        const SubjectRef ref = warm.Subject(subject);
        a = warm.Check(ctx, ref, category, min_revision);
        b = general.Check(ctx, general.Subject(subject), category,
                          min_revision);
      } else {
        a = warm.Check(ctx, subject, category, min_revision);
        b = general.Check(ctx, subject, category, min_revision);
      }
      const std::string what =
          absl::StrCat("round ", round, " check ", k, ": ", ctx.accessor(),
                       " for ", ctx.purpose(), " on ", category.id(), " of ",
                       subject, " (min_revision ", min_revision, ")");
      ASSERT_EQ(a.ok(), b.ok())
          << what << ": " << a.status() << " vs " << b.status();
      if (!a.ok()) {
        EXPECT_EQ(a.status(), b.status()) << what;
        continue;
      }
      ASSERT_EQ(std::string(ReasonName(a->reason())),
                std::string(ReasonName(b->reason())))
          << what;
      ASSERT_EQ(a->revision(), b->revision()) << what;
      ASSERT_EQ(a->allowed(), b->allowed()) << what;
      ++checks;
      allowed += a->allowed();
    }
    // A switch: the contexts and categories resolved so far now belong to
    // a replaced policy.
    store_down = false;
    store_.SetUnavailable(false);
    if (round < 2) {
      const auto& next = policies[static_cast<std::size_t>(round) + 1];
      ASSERT_TRUE(warm.SetPolicy(next).ok());
      ASSERT_TRUE(general.SetPolicy(next).ok());
      resolve(warm);
    }
  }
  const GuardCacheStats ws = warm.cache_stats();
  const GuardCacheStats gs = general.cache_stats();
  EXPECT_EQ(ws.hits, gs.hits);
  EXPECT_EQ(ws.negative_hits, gs.negative_hits);
  EXPECT_EQ(ws.misses, gs.misses);
  EXPECT_EQ(ws.store_reads, gs.store_reads);
  EXPECT_EQ(ws.evictions, gs.evictions);
  // The draw reaches both outcomes.
  EXPECT_GT(allowed, 0);
  EXPECT_LT(allowed, checks);
}

// `Authorize` of tagged records (collection purposes, prohibited purposes,
// retention against the record's collection time) on the warm path
// against the general decider, as above: the same grant (decision,
// subject, category, purpose; and it opens the record as the other does)
// or the same denial status (code, message and payload, built once per
// pair on the warm path), across consent changes, outages, clock moves,
// `min_revision` and a policy switch (records tagged under the replaced
// policy meet the general decider).
TEST_P(GuardWarmPathTest, WarmAuthorizeDecidesAsTheGeneralDecider) {
  Rng rng(0xa7a70000u + static_cast<std::uint64_t>(GetParam()));
  std::vector<std::shared_ptr<const CompiledPolicy>> policies;
  for (int serial = 0; policies.size() < 2 && serial < 60; ++serial) {
    if (auto p = RandomPolicy(rng, serial)) policies.push_back(std::move(p));
  }
  ASSERT_EQ(policies.size(), 2u) << "too few random policies compile";
  GuardOptions options;
  options.unaudited_for_benchmarks_only = true;
  use_clock_ = rng.OneIn(4) != 0;
  if (use_clock_) options.clock = [this] { return now_; };
  if (rng.OneIn(3)) options.cache_budget_bytes = 1024;
  WarmAndGeneral made = MakeWarmAndGeneral(policies[0], &store_, options);
  ASSERT_TRUE(made.warm != nullptr && made.general != nullptr);
  Guard& warm = *made.warm;
  Guard& general = *made.general;
  const std::vector<std::string> subjects = Subjects();
  for (int i = 0; i < 60; ++i) ChangeConsent(rng, subjects);
  ASSERT_TRUE(warm.WarmCache().ok());
  ASSERT_TRUE(general.WarmCache().ok());

  std::vector<Protected<int>> records;
  std::vector<AccessContext> contexts;
  auto tag_and_resolve = [&] {
    // Per-occasion purposes take the general decider on both Guards, and
    // Authorize uses up a single-use consent in the store they share (the
    // second Guard would find it used): left out.
    for (int a = 0; a < kAccessors; ++a) {
      for (int p = 0; p < kPurposes; ++p) {
        absl::StatusOr<AccessContext> c =
            warm.Context(AccessorId(a), PurposeId(p), "");
        if (c.ok()) contexts.push_back(*std::move(c));
      }
    }
    for (int n = 0; n < 120; ++n) {
      std::vector<std::string> ids;
      std::vector<absl::string_view> collected_for, prohibited;
      for (int p = 0; p < kPurposes; ++p) ids.push_back(PurposeId(p));
      for (int p = 0; p < kPurposes; ++p) {
        if (rng.OneIn(2))
          collected_for.push_back(ids[static_cast<std::size_t>(p)]);
        else if (rng.OneIn(5))
          prohibited.push_back(ids[static_cast<std::size_t>(p)]);
      }
      if (collected_for.empty()) collected_for.push_back(ids[0]);
      const absl::Time collected =
          Now() - absl::Hours(rng.Below(120)) - absl::Minutes(rng.Below(60));
      absl::StatusOr<RecordTags> tags =
          warm.Tag(subjects[static_cast<std::size_t>(
                       rng.Below(static_cast<int>(subjects.size())))],
                   CategoryId(rng.Below(kCategories)), collected_for,
                   prohibited, absl::StrCat("record-", n), collected);
      ASSERT_TRUE(tags.ok()) << tags.status();
      records.emplace_back(*std::move(tags), n);
    }
  };
  tag_and_resolve();
  int grants = 0, denials = 0;
  bool store_down = false;
  for (int round = 0; round < 2; ++round) {
    for (int k = 0; k < 1500; ++k) {
      switch (rng.Below(40)) {
        case 0:
        case 1:
          if (!store_down) ChangeConsent(rng, subjects);
          continue;
        case 2:
          store_down = !store_down;
          store_.SetUnavailable(store_down);
          continue;
        case 3:
          now_ += absl::Minutes(rng.Below(600));
          continue;
        default:
          break;
      }
      const AccessContext& ctx = contexts[static_cast<std::size_t>(
          rng.Below(static_cast<int>(contexts.size())))];
      const Protected<int>& record = records[static_cast<std::size_t>(
          rng.Below(static_cast<int>(records.size())))];
      Revision min_revision = 0;
      if (!store_down && rng.OneIn(6)) {
        absl::StatusOr<Revision> latest = store_.LatestRevision();
        ASSERT_TRUE(latest.ok());
        min_revision = *latest + rng.Below(2);
      }
      absl::StatusOr<AccessGrant> a =
          warm.Authorize(ctx, record.tags(), min_revision);
      absl::StatusOr<AccessGrant> b =
          general.Authorize(ctx, record.tags(), min_revision);
      const std::string what = absl::StrCat(
          "round ", round, " authorize ", k, ": ", ctx.accessor(), " for ",
          ctx.purpose(), " on ", record.tags().record_ref(), " of ",
          record.tags().subject(), " (", record.tags().category(), ")");
      ASSERT_EQ(a.ok(), b.ok())
          << what << ": " << a.status() << " vs " << b.status();
      if (!a.ok()) {
        ASSERT_EQ(a.status(), b.status()) << what;
        ++denials;
        continue;
      }
      ASSERT_EQ(a->decision(), b->decision()) << what;
      ASSERT_EQ(a->category(), b->category()) << what;
      ASSERT_EQ(a->purpose(), b->purpose()) << what;
      absl::StatusOr<const int*> read_a = record.Read(*a);
      absl::StatusOr<const int*> read_b = record.Read(*b);
      ASSERT_EQ(read_a.status(), read_b.status()) << what;
      ++grants;
    }
    store_down = false;
    store_.SetUnavailable(false);
    if (round == 0) {
      ASSERT_TRUE(warm.SetPolicy(policies[1]).ok());
      ASSERT_TRUE(general.SetPolicy(policies[1]).ok());
      tag_and_resolve();
    }
  }
  EXPECT_GT(grants, 0);
  EXPECT_GT(denials, 0);
}

// The warm path of an audited Guard (one auditing into the durable log,
// whose compact path takes read decisions): two Guards over one store,
// each auditing into its own log, one forced onto the general decider,
// make the same checks (by id and by `SubjectRef`, with `min_revision`,
// across consent changes, store outages and a policy switch) under one
// clock. Every decision and error must be the same, and so must every
// event the two logs hold, field by field and in order.
TEST_P(GuardWarmPathTest, AuditedWarmPathRecordsAsTheGeneralDecider) {
  Rng rng(0xa0d17000u + static_cast<std::uint64_t>(GetParam()));
  std::vector<std::shared_ptr<const CompiledPolicy>> policies;
  for (int serial = 0; policies.size() < 2 && serial < 60; ++serial) {
    if (auto p = RandomPolicy(rng, serial)) policies.push_back(std::move(p));
  }
  ASSERT_EQ(policies.size(), 2u) << "too few random policies compile";
  use_clock_ = true;
  testing::ScopedTempDir warm_dir("warm_audit"), general_dir("general_audit");
  AuditLogOptions warm_log_options, general_log_options;
  warm_log_options.directory = warm_dir.path();
  general_log_options.directory = general_dir.path();
  absl::StatusOr<std::unique_ptr<AuditLog>> warm_log =
      AuditLog::Open(warm_log_options);
  absl::StatusOr<std::unique_ptr<AuditLog>> general_log =
      AuditLog::Open(general_log_options);
  ASSERT_TRUE(warm_log.ok() && general_log.ok());
  GuardOptions options;
  options.clock = [this] { return now_; };
  if (rng.OneIn(2)) options.cache_budget_bytes = 1024;
  WarmAndGeneral made = MakeWarmAndGeneral(policies[0], &store_, options,
                                           warm_log->get(), general_log->get());
  ASSERT_TRUE(made.warm != nullptr && made.general != nullptr);
  Guard& warm = *made.warm;
  Guard& general = *made.general;
  const std::vector<std::string> subjects = Subjects();
  for (int i = 0; i < 40; ++i) ChangeConsent(rng, subjects);
  ASSERT_TRUE(warm.WarmCache().ok());
  ASSERT_TRUE(general.WarmCache().ok());

  int checks = 0, allowed = 0;
  bool store_down = false;
  for (int round = 0; round < 2; ++round) {
    std::vector<AccessContext> contexts;
    std::vector<CategoryRef> categories;
    for (int a = 0; a < kAccessors; ++a) {
      for (int p = 0; p < kPurposes; ++p) {
        absl::StatusOr<AccessContext> c =
            warm.Context(AccessorId(a), PurposeId(p), "");
        if (!c.ok()) c = warm.Context(AccessorId(a), PurposeId(p), "occ-1");
        if (c.ok()) contexts.push_back(*std::move(c));
      }
    }
    for (int c = 0; c < kCategories; ++c) {
      absl::StatusOr<CategoryRef> r = warm.Category(CategoryId(c));
      ASSERT_TRUE(r.ok());
      categories.push_back(*std::move(r));
    }
    for (int k = 0; k < 600; ++k) {
      switch (rng.Below(30)) {
        case 0:
          if (!store_down) ChangeConsent(rng, subjects);
          continue;
        case 1:
          store_down = !store_down;
          store_.SetUnavailable(store_down);
          continue;
        case 2:
          now_ += absl::Minutes(rng.Below(20));
          continue;
        default:
          break;
      }
      const AccessContext& ctx = contexts[static_cast<std::size_t>(
          rng.Below(static_cast<int>(contexts.size())))];
      const CategoryRef& category = categories[static_cast<std::size_t>(
          rng.Below(static_cast<int>(categories.size())))];
      const std::string& subject = subjects[static_cast<std::size_t>(
          rng.Below(static_cast<int>(subjects.size())))];
      Revision min_revision = 0;
      if (!store_down && rng.OneIn(6)) {
        absl::StatusOr<Revision> latest = store_.LatestRevision();
        ASSERT_TRUE(latest.ok());
        min_revision = *latest;
      }
      absl::StatusOr<Decision> a, b;
      if (rng.OneIn(2)) {
        a = warm.Check(ctx, warm.Subject(subject), category, min_revision);
        b = general.Check(ctx, general.Subject(subject), category,
                          min_revision);
      } else {
        a = warm.Check(ctx, subject, category, min_revision);
        b = general.Check(ctx, subject, category, min_revision);
      }
      const std::string what = absl::StrCat(
          "round ", round, " check ", k, ": ", ctx.accessor(), " for ",
          ctx.purpose(), " on ", category.id(), " of ", subject);
      ASSERT_EQ(a.ok(), b.ok())
          << what << ": " << a.status() << " vs " << b.status();
      if (!a.ok()) {
        EXPECT_EQ(a.status(), b.status()) << what;
        continue;
      }
      ASSERT_EQ(a->reason(), b->reason()) << what;
      ASSERT_EQ(a->revision(), b->revision()) << what;
      ++checks;
      allowed += a->allowed();
    }
    store_down = false;
    store_.SetUnavailable(false);
    ASSERT_TRUE(warm.SetPolicy(policies[1]).ok());
    ASSERT_TRUE(general.SetPolicy(policies[1]).ok());
  }
  ASSERT_TRUE((*warm_log)->Close().ok());
  ASSERT_TRUE((*general_log)->Close().ok());
  absl::StatusOr<std::unique_ptr<AuditLogReader>> warm_reader =
      AuditLogReader::Open(warm_dir.path());
  absl::StatusOr<std::unique_ptr<AuditLogReader>> general_reader =
      AuditLogReader::Open(general_dir.path());
  ASSERT_TRUE(warm_reader.ok() && general_reader.ok());
  absl::StatusOr<std::vector<OwnedAuditEvent>> warm_events =
      (*warm_reader)->InTimeRange(absl::InfinitePast(), absl::InfiniteFuture());
  absl::StatusOr<std::vector<OwnedAuditEvent>> general_events =
      (*general_reader)
          ->InTimeRange(absl::InfinitePast(), absl::InfiniteFuture());
  ASSERT_TRUE(warm_events.ok() && general_events.ok());
  ASSERT_EQ(warm_events->size(), general_events->size());
  EXPECT_GE(warm_events->size(), static_cast<std::size_t>(checks));
  for (std::size_t i = 0; i < warm_events->size(); ++i) {
    const OwnedAuditEvent& w = (*warm_events)[i];
    const OwnedAuditEvent& g = (*general_events)[i];
    const std::string what = absl::StrCat("event ", i, " of ", w.subject);
    EXPECT_EQ(w.time_unix_nanos, g.time_unix_nanos) << what;
    EXPECT_EQ(w.action, g.action) << what;
    EXPECT_EQ(w.accessor, g.accessor) << what;
    EXPECT_EQ(w.subject, g.subject) << what;
    EXPECT_EQ(w.category, g.category) << what;
    EXPECT_EQ(w.purpose, g.purpose) << what;
    EXPECT_EQ(w.policy_version, g.policy_version) << what;
    EXPECT_EQ(w.record_ref, g.record_ref) << what;
    EXPECT_EQ(w.reason, g.reason) << what;
    EXPECT_EQ(w.revision, g.revision) << what;
    EXPECT_EQ(w.shadow, g.shadow) << what;
  }
  EXPECT_GT(allowed, 0);
  EXPECT_LT(allowed, checks);
}

INSTANTIATE_TEST_SUITE_P(Seeds, GuardWarmPathTest, ::testing::Range(0, 24));

// A one-purpose policy: accessor "a" declares "p", which may use "c" as
// necessary (no consent to look up: retention and the tags decide) and
// "long" likewise, with a retention of `c_keep` and `long_keep`.
std::shared_ptr<const CompiledPolicy> RetentionPolicy(
    absl::Duration c_keep, absl::Duration long_keep) {
  v1::Policy policy;
  policy.set_version("v1");
  v1::Purpose* purpose = policy.add_purposes();
  purpose->set_id("p");
  purpose->mutable_name()->set_en("p");
  for (const char* id : {"c", "long"}) {
    v1::DataCategory* category = policy.add_categories();
    category->set_id(id);
    category->mutable_name()->set_en(id);
    v1::UseRule* rule = policy.add_rules();
    rule->set_category(id);
    rule->add_purposes("p");
    rule->set_basis(v1::LEGAL_BASIS_NECESSARY);
    const absl::Duration keep = std::string(id) == "c" ? c_keep : long_keep;
    v1::RetentionRule* r = policy.add_retention();
    r->set_category(id);
    r->mutable_period()->set_seconds(absl::ToInt64Seconds(keep));
    r->mutable_period()->set_nanos(
        static_cast<std::int32_t>(absl::ToInt64Nanoseconds(
            keep - absl::Seconds(absl::ToInt64Seconds(keep)))));
  }
  v1::Accessor* accessor = policy.add_accessors();
  accessor->set_id("a");
  accessor->set_kind(v1::ACCESSOR_KIND_SERVICE);
  accessor->add_may_declare("p");
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> compiled =
      CompiledPolicy::Compile(policy);
  if (!compiled.ok()) ADD_FAILURE() << compiled.status();
  return compiled.ok() ? *compiled : nullptr;
}

// Retention on the warm path of `Authorize` (which tests it in integer
// nanoseconds where that is exact) against the general decider (which
// adds the retention to the collection time as an `absl::Time`), at the
// boundary (now = collected + retention: not expired; a nanosecond later:
// expired), for collection times between nanoseconds (a quarter either
// side of the boundary), at and beyond +-2^62 ns of the epoch, infinite
// past and future, and for a retention longer than 2^62 ns; for subjects
// whose records were tagged before the cache held them (a stale slot
// hint), after, and with an id longer than 16 bytes.
TEST(GuardWarmPathRetentionTest, WarmRetentionIsTheGeneralDecidersTest) {
  const absl::Duration keep = absl::Hours(1) + absl::Nanoseconds(7);
  // Beyond 2^62 ns (about 146 years).
  const absl::Duration long_keep = absl::Hours(24 * 365 * 150);
  std::shared_ptr<const CompiledPolicy> policy =
      RetentionPolicy(keep, long_keep);
  ASSERT_NE(policy, nullptr);
  InMemoryConsentStore store;
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  GuardOptions options;
  options.unaudited_for_benchmarks_only = true;
  options.clock = [&now] { return now; };
  WarmAndGeneral made = MakeWarmAndGeneral(policy, &store, options);
  ASSERT_TRUE(made.warm != nullptr && made.general != nullptr);
  Guard& warm = *made.warm;
  Guard& general = *made.general;
  const std::vector<std::string> subjects = {
      "early", "late", "subject-with-a-longer-identifier"};
  const absl::Duration quarter = absl::Nanoseconds(1) / 4;
  const std::int64_t bound = std::int64_t{1} << 62;
  const std::vector<absl::Time> collected = {
      now - keep,
      now - keep - absl::Nanoseconds(1),
      now - keep + absl::Nanoseconds(1),
      now - keep - quarter,
      now - keep + quarter,
      now - keep - 3 * quarter,
      absl::FromUnixNanos(bound - 1),
      absl::FromUnixNanos(bound),
      absl::FromUnixNanos(-bound + 1),
      absl::FromUnixNanos(-bound),
      absl::FromUnixNanos(-bound) - quarter,
      absl::FromUnixSeconds(-10'000'000'000),
      absl::FromUnixSeconds(10'000'000'000),
      absl::InfinitePast(),
      absl::InfiniteFuture(),
  };
  std::vector<RecordTags> records;
  auto tag = [&](const std::string& subject) {
    for (absl::Time t : collected) {
      for (const char* category : {"c", "long"}) {
        absl::StatusOr<RecordTags> tags =
            warm.Tag(subject, category, {"p"}, {}, "", t);
        ASSERT_TRUE(tags.ok()) << tags.status();
        records.push_back(*std::move(tags));
      }
    }
  };
  // "early" is tagged before the cache holds it, the others after.
  tag("early");
  for (const std::string& subject : subjects) {
    ASSERT_TRUE(store
                    .Apply(testing::PurposeChange(subject, "p",
                                                  v1::CONSENT_STATE_GIVEN))
                    .ok());
  }
  ASSERT_TRUE(warm.WarmCache().ok());
  ASSERT_TRUE(general.WarmCache().ok());
  tag("late");
  tag("subject-with-a-longer-identifier");
  absl::StatusOr<AccessContext> ctx = warm.Context("a", "p");
  ASSERT_TRUE(ctx.ok());
  int expired = 0, allowed = 0;
  // Now, and the instants either side of the boundaries of both
  // retentions for the records collected at the bounds.
  const std::vector<absl::Time> nows = {
      now,
      now + absl::Nanoseconds(1),
      now - absl::Nanoseconds(1),
      absl::FromUnixNanos(bound - 1) + keep,
      absl::FromUnixNanos(bound - 1) + keep + absl::Nanoseconds(1),
      absl::FromUnixNanos(0) + keep,
  };
  for (absl::Time at : nows) {
    now = at;
    for (const RecordTags& record : records) {
      absl::StatusOr<AccessGrant> a = warm.Authorize(*ctx, record);
      absl::StatusOr<AccessGrant> b = general.Authorize(*ctx, record);
      const std::string what =
          absl::StrCat(record.subject(), " ", record.category(), " collected ",
                       absl::FormatTime(record.collected_at()), " (",
                       absl::ToUnixNanos(record.collected_at()), " ns) at ",
                       absl::FormatTime(now));
      ASSERT_EQ(a.ok(), b.ok())
          << what << ": " << a.status() << " vs " << b.status();
      if (!a.ok()) {
        ASSERT_EQ(a.status(), b.status()) << what;
        EXPECT_EQ(ReasonFromStatus(a.status()), Reason::kRetentionExpired)
            << what;
        ++expired;
        continue;
      }
      ASSERT_EQ(a->decision(), b->decision()) << what;
      ++allowed;
    }
  }
  EXPECT_GT(expired, 0);
  EXPECT_GT(allowed, 0);
}

// Warm checks racing withdrawals and policy switches: once a withdrawal
// has returned, no check begun after it allows (the warm path, or the
// general decider it hands a context of a replaced policy to).
// `Authorize` denials from several threads at once, each round on a fresh
// Guard whose epoch builds them anew: every denial is the one the general
// decider returns (code, message, payload), whichever thread built and
// published it first.
TEST(GuardWarmPathConcurrencyTest, ConcurrentDenialsAreTheGeneralDecidersOnes) {
  InMemoryConsentStore store;
  std::shared_ptr<const CompiledPolicy> policy = testing::DefaultPolicy();
  ASSERT_NE(policy, nullptr);
  GuardOptions options;
  options.unaudited_for_benchmarks_only = true;
  WarmAndGeneral made = MakeWarmAndGeneral(policy, &store, options);
  ASSERT_TRUE(made.warm != nullptr && made.general != nullptr);
  Guard& guard = *made.warm;
  Guard& general = *made.general;
  ASSERT_TRUE(
      store
          .Apply(testing::PurposeChange("withdrawn", "marketing.research",
                                        v1::CONSENT_STATE_WITHDRAWN))
          .ok());
  ASSERT_TRUE(store
                  .Apply(testing::PurposeChange("refused", "marketing.research",
                                                v1::CONSENT_STATE_REFUSED))
                  .ok());
  absl::StatusOr<AccessContext> ctx =
      guard.Context("marketing-analytics", "marketing.research");
  ASSERT_TRUE(ctx.ok());
  std::vector<RecordTags> records;
  std::vector<absl::Status> want;
  for (const char* subject : {"withdrawn", "refused", "nobody"}) {
    for (const char* category : {"contact", "web_usage", "measurement"}) {
      const absl::string_view purposes[] = {"marketing.research"};
      absl::StatusOr<RecordTags> tags = guard.Tag(subject, category, purposes);
      ASSERT_TRUE(tags.ok());
      absl::StatusOr<AccessGrant> g = general.Authorize(*ctx, *tags);
      if (g.ok()) continue;  // a category the purpose may use without consent
      want.push_back(g.status());
      records.push_back(*std::move(tags));
    }
  }
  ASSERT_GE(records.size(), 3u);
  // Each round a fresh Guard (its epoch builds every denial anew), three
  // threads racing to build and publish them.
  std::atomic<int> mismatches{0}, denials{0};
  for (int round = 0; round < 10; ++round) {
    absl::StatusOr<std::unique_ptr<Guard>> fresh =
        Guard::Create(policy, &store, nullptr, options);
    ASSERT_TRUE(fresh.ok());
    Guard& g = **fresh;
    absl::StatusOr<AccessContext> c =
        g.Context("marketing-analytics", "marketing.research");
    ASSERT_TRUE(c.ok());
    auto reader = [&](std::uint64_t seed) {
      Rng rng(seed);
      for (int k = 0; k < 200; ++k) {
        const auto i = static_cast<std::size_t>(
            rng.Below(static_cast<int>(records.size())));
        absl::StatusOr<AccessGrant> grant = g.Authorize(*c, records[i]);
        if (grant.ok() || grant.status() != want[i]) ++mismatches;
        ++denials;
      }
    };
    std::thread a(reader, 1), b(reader, 2), t(reader, 3);
    a.join();
    b.join();
    t.join();
  }
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_GT(denials.load(), 0);
}

TEST(GuardWarmPathConcurrencyTest, NoAllowAfterAWithdrawalReturned) {
  constexpr int kSubjects = 16;
  InMemoryConsentStore store;
  std::shared_ptr<const CompiledPolicy> policy = testing::DefaultPolicy();
  ASSERT_NE(policy, nullptr);
  GuardOptions options;
  options.unaudited_for_benchmarks_only = true;
  absl::StatusOr<std::unique_ptr<Guard>> made =
      Guard::Create(policy, &store, nullptr, options);
  ASSERT_TRUE(made.ok());
  Guard& guard = **made;
  absl::StatusOr<AccessContext> ctx =
      guard.Context("marketing-analytics", "marketing.research");
  ASSERT_TRUE(ctx.ok());
  // A category the purpose may use only with consent.
  absl::StatusOr<CategoryRef> category = absl::NotFoundError("none");
  for (const char* id :
       {"identity", "contact", "measurement", "billing", "web_usage"}) {
    absl::StatusOr<PurposeIndex> p = policy->FindPurpose("marketing.research");
    absl::StatusOr<CategoryIndex> c = policy->FindCategory(id);
    if (p.ok() && c.ok() && policy->basis(*c, *p) == Basis::kOptIn) {
      category = guard.Category(id);
      break;
    }
  }
  ASSERT_TRUE(category.ok());
  std::vector<std::string> ids;
  for (int i = 0; i < kSubjects; ++i) {
    ids.push_back(absl::StrCat("subject-", i));
    ASSERT_TRUE(
        store
            .Apply(testing::PurposeChange(ids.back(), "marketing.research",
                                          v1::CONSENT_STATE_GIVEN))
            .ok());
  }
  std::vector<std::atomic<bool>> withdrawn(kSubjects);
  std::atomic<bool> done{false};
  std::atomic<int> violations{0};
  auto reader = [&](std::uint64_t seed) {
    Rng rng(seed);
    std::vector<SubjectRef> refs;
    for (const std::string& id : ids) refs.push_back(guard.Subject(id));
    while (!done.load(std::memory_order_acquire)) {
      const int i = rng.Below(kSubjects);
      const bool was_withdrawn = withdrawn[static_cast<std::size_t>(i)].load(
          std::memory_order_acquire);
      absl::StatusOr<Decision> d =
          rng.OneIn(2)
              ? guard.Check(*ctx, ids[static_cast<std::size_t>(i)], *category)
              : guard.Check(*ctx, refs[static_cast<std::size_t>(i)], *category);
      if (!d.ok() || (was_withdrawn && d->allowed())) ++violations;
    }
  };
  std::thread a(reader, 1), b(reader, 2);
  for (int i = 0; i < kSubjects; ++i) {
    if (i % 4 == 0) {
      // A new epoch: contexts resolved before it take the general decider.
      absl::StatusOr<std::shared_ptr<const CompiledPolicy>> again =
          CompiledPolicy::Compile(policy->proto());
      ASSERT_TRUE(again.ok());
      ASSERT_TRUE(guard.SetPolicy(*again).ok());
    }
    ASSERT_TRUE(store
                    .Apply(testing::PurposeChange(
                        ids[static_cast<std::size_t>(i)], "marketing.research",
                        v1::CONSENT_STATE_WITHDRAWN))
                    .ok());
    withdrawn[static_cast<std::size_t>(i)].store(true,
                                                 std::memory_order_release);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  done.store(true, std::memory_order_release);
  a.join();
  b.join();
  EXPECT_EQ(violations.load(), 0);
}

// Purposes p0 and p1, both opt-in for category c0; accessor a0 may
// declare p0 and, when `a0_declares_p1`, p1; a1 may declare p0 and, when
// not, p1.
std::shared_ptr<const CompiledPolicy> DeclarePolicy(bool a0_declares_p1) {
  v1::Policy policy;
  policy.set_version(kVersions[0]);
  for (int p = 0; p < 2; ++p) {
    v1::Purpose* purpose = policy.add_purposes();
    purpose->set_id(PurposeId(p));
    purpose->mutable_name()->set_en(PurposeId(p));
  }
  v1::DataCategory* category = policy.add_categories();
  category->set_id(CategoryId(0));
  category->mutable_name()->set_en(CategoryId(0));
  for (int p = 0; p < 2; ++p) {
    v1::UseRule* rule = policy.add_rules();
    rule->set_category(CategoryId(0));
    rule->add_purposes(PurposeId(p));
    rule->set_basis(v1::LEGAL_BASIS_OPT_IN);
  }
  for (int a = 0; a < 2; ++a) {
    v1::Accessor* accessor = policy.add_accessors();
    accessor->set_id(AccessorId(a));
    accessor->set_kind(v1::ACCESSOR_KIND_SERVICE);
    accessor->add_may_declare(PurposeId(0));
    if ((a == 0) == a0_declares_p1) accessor->add_may_declare(PurposeId(1));
  }
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> compiled =
      CompiledPolicy::Compile(policy);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  return compiled.ok() ? *compiled : nullptr;
}

// An accessor the enforced policy does not let declare a purpose is
// denied with kAccessorNotPermitted on the warm path, by id and by
// `SubjectRef`, whatever its consent; a context resolved under a policy
// since replaced is judged by the policy enforced now, which may permit
// what the earlier one did not and the reverse. Over the in-memory store
// (no heartbeat) and a store with a fresh one, with and without a
// staleness bound.
TEST(GuardWarmPathDeclareTest, AccessorPermissionIsTheEnforcedPolicys) {
  const std::shared_ptr<const CompiledPolicy> a0_not = DeclarePolicy(false);
  const std::shared_ptr<const CompiledPolicy> a0_may = DeclarePolicy(true);
  ASSERT_NE(a0_not, nullptr);
  ASSERT_NE(a0_may, nullptr);
  for (int variant = 0; variant < 4; ++variant) {
    SCOPED_TRACE(variant);
    InMemoryConsentStore memory;
    testing::FeedControlledStore fed;
    fed.SetHeartbeat(absl::InfiniteFuture());
    ConsentStore& store = variant % 2 ? static_cast<ConsentStore&>(fed)
                                      : static_cast<ConsentStore&>(memory);
    for (int p = 0; p < 2; ++p) {
      v1::ConsentChange change;
      change.set_subject_id("s1");
      v1::PurposeConsent* pc = change.mutable_purpose_consent();
      pc->set_purpose(PurposeId(p));
      pc->set_state(v1::CONSENT_STATE_GIVEN);
      pc->set_policy_version(kVersions[0]);
      pc->set_method(v1::COLLECTION_METHOD_MOBILE_APP);
      ASSERT_TRUE(store.Apply(change).ok());
    }
    GuardOptions options;
    options.unaudited_for_benchmarks_only = true;
    if (variant >= 2) options.max_feed_staleness = absl::InfiniteDuration();
    absl::StatusOr<std::unique_ptr<Guard>> made =
        Guard::Create(a0_not, &store, nullptr, options);
    ASSERT_TRUE(made.ok()) << made.status();
    Guard& guard = **made;
    ASSERT_TRUE(guard.WarmCache().ok());

    absl::StatusOr<AccessContext> a0_p1 =
        guard.Context(AccessorId(0), PurposeId(1), "");
    absl::StatusOr<AccessContext> a1_p1 =
        guard.Context(AccessorId(1), PurposeId(1), "");
    absl::StatusOr<CategoryRef> c0 = guard.Category(CategoryId(0));
    ASSERT_TRUE(a0_p1.ok() && a1_p1.ok() && c0.ok());
    // Each check twice: the second finds everything warm.
    auto expect = [&](const AccessContext& ctx, Reason want) {
      for (int k = 0; k < 2; ++k) {
        const SubjectRef ref = guard.Subject("s1");
        absl::StatusOr<Decision> by_ref = guard.Check(ctx, ref, *c0);
        absl::StatusOr<Decision> by_id = guard.Check(ctx, "s1", *c0);
        ASSERT_TRUE(by_ref.ok()) << by_ref.status();
        ASSERT_TRUE(by_id.ok()) << by_id.status();
        EXPECT_EQ(ReasonName(by_ref->reason()), ReasonName(want))
            << ctx.accessor() << " by ref";
        EXPECT_EQ(ReasonName(by_id->reason()), ReasonName(want))
            << ctx.accessor() << " by id";
      }
    };
    expect(*a0_p1, Reason::kAccessorNotPermitted);
    expect(*a1_p1, Reason::kAllowedConsent);

    // The contexts above now belong to a replaced policy: a0 may declare
    // p1, a1 no longer.
    ASSERT_TRUE(guard.SetPolicy(a0_may).ok());
    expect(*a0_p1, Reason::kAllowedConsent);
    expect(*a1_p1, Reason::kAccessorNotPermitted);
    absl::StatusOr<AccessContext> a0_p1_now =
        guard.Context(AccessorId(0), PurposeId(1), "");
    absl::StatusOr<AccessContext> a1_p1_now =
        guard.Context(AccessorId(1), PurposeId(1), "");
    ASSERT_TRUE(a0_p1_now.ok() && a1_p1_now.ok());
    c0 = guard.Category(CategoryId(0));
    ASSERT_TRUE(c0.ok());
    expect(*a0_p1_now, Reason::kAllowedConsent);
    expect(*a1_p1_now, Reason::kAccessorNotPermitted);
  }
}

// A Guard does not read the heartbeat of a store that says it reports none
// (`ConsentStore::ReportsFeedHeartbeat`, `Guard::Impl::feed_test`): the
// in-memory store says so, and must report none whatever it holds; a
// store that does not say reports one.
TEST(GuardWarmPathDeclareTest, InMemoryStoreReportsNoHeartbeat) {
  InMemoryConsentStore store;
  EXPECT_FALSE(store.ReportsFeedHeartbeat());
  testing::FeedControlledStore fed;  // overrides only `FeedHeartbeat`
  EXPECT_TRUE(fed.ReportsFeedHeartbeat());
  EXPECT_EQ(store.FeedHeartbeat(), absl::InfiniteFuture());
  v1::ConsentChange change;
  change.set_subject_id("s1");
  v1::PurposeConsent* pc = change.mutable_purpose_consent();
  pc->set_purpose(PurposeId(0));
  pc->set_state(v1::CONSENT_STATE_GIVEN);
  pc->set_policy_version(kVersions[0]);
  pc->set_method(v1::COLLECTION_METHOD_MOBILE_APP);
  ASSERT_TRUE(store.Apply(change).ok());
  EXPECT_EQ(store.FeedHeartbeat(), absl::InfiniteFuture());
}

}  // namespace
}  // namespace consentry
