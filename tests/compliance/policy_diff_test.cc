// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/policy_diff.h"

#include <string>

#include "consentry/proto_io.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/compliance/policy_diff_fixture.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::Base;
using ::consentry::testing::Next;
using ::consentry::testing::SourcePath;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

// The single change of `diff` of `kind`, or fails.
const v1::PolicyChange* Only(const v1::PolicyDiff& diff,
                             v1::PolicyChange::Kind kind) {
  const v1::PolicyChange* found = nullptr;
  for (const v1::PolicyChange& c : diff.changes()) {
    if (c.kind() != kind) continue;
    EXPECT_EQ(found, nullptr) << "more than one change of kind " << kind;
    found = &c;
  }
  EXPECT_NE(found, nullptr) << "no change of kind " << kind << "\n"
                            << diff.DebugString();
  return found;
}

TEST(PolicyDiffTest, IdenticalPoliciesHaveNoChanges) {
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(Base(), Next());
  ASSERT_OK(d);
  EXPECT_EQ(d->changes_size(), 0) << d->DebugString();
  EXPECT_EQ(d->from_version(), "v1");
  EXPECT_EQ(d->to_version(), "v2");
}

TEST(PolicyDiffTest, NewPurposeIsMaterial) {
  v1::Policy next = Next();
  v1::Purpose* p = next.add_purposes();
  p->set_id("marketing.profiling");
  p->set_parent("marketing");
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(Base(), next);
  ASSERT_OK(d);
  const v1::PolicyChange* c = Only(*d, v1::PolicyChange::KIND_PURPOSE_ADDED);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->material());
  EXPECT_EQ(c->purpose(), "marketing.profiling");
  // The new purpose also inherits the contact rule of its parent.
  const v1::PolicyChange* use = Only(*d, v1::PolicyChange::KIND_USE_ALLOWED);
  ASSERT_NE(use, nullptr);
  EXPECT_TRUE(use->material());
}

TEST(PolicyDiffTest, CategoryNewlyAllowedForPurposeIsMaterial) {
  v1::Policy next = Next();
  v1::UseRule* r = next.add_rules();
  r->set_category("measurement");
  r->add_purposes("marketing.research");
  r->set_basis(v1::LEGAL_BASIS_OPT_IN);
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(Base(), next);
  ASSERT_OK(d);
  const v1::PolicyChange* c = Only(*d, v1::PolicyChange::KIND_USE_ALLOWED);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->material());
  EXPECT_EQ(c->category(), "measurement");
  EXPECT_EQ(c->purpose(), "marketing.research");
  EXPECT_EQ(c->before(), "not_allowed");
  EXPECT_EQ(c->after(), "opt_in");
}

TEST(PolicyDiffTest, BasisWeakenedIsMaterialAndStrengthenedIsNot) {
  v1::Policy weaker = Next();
  weaker.mutable_rules(1)->set_basis(v1::LEGAL_BASIS_OPT_OUT);
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(Base(), weaker);
  ASSERT_OK(d);
  // marketing and marketing.research both change.
  int weakened = 0;
  for (const auto& c : d->changes()) {
    if (c.kind() == v1::PolicyChange::KIND_BASIS_WEAKENED) {
      ++weakened;
      EXPECT_TRUE(c.material());
      EXPECT_EQ(c.before(), "opt_in");
      EXPECT_EQ(c.after(), "opt_out");
    }
  }
  EXPECT_EQ(weakened, 2);
  absl::StatusOr<v1::PolicyDiff> back = DiffPolicies(weaker, Base());
  ASSERT_OK(back);
  for (const auto& c : back->changes()) {
    EXPECT_EQ(c.kind(), v1::PolicyChange::KIND_BASIS_STRENGTHENED);
    EXPECT_FALSE(c.material());
  }
}

TEST(PolicyDiffTest, OptOutToNecessaryIsWeakened) {
  v1::Policy a = Next();
  a.mutable_rules(1)->set_basis(v1::LEGAL_BASIS_OPT_OUT);
  v1::Policy b = a;
  b.set_version("v3");
  b.mutable_rules(1)->set_basis(v1::LEGAL_BASIS_NECESSARY);
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(a, b);
  ASSERT_OK(d);
  ASSERT_GT(d->changes_size(), 0);
  EXPECT_EQ(d->changes(0).kind(), v1::PolicyChange::KIND_BASIS_WEAKENED);
}

TEST(PolicyDiffTest, RetentionLengthenedIsMaterialShortenedIsNot) {
  v1::Policy longer = Next();
  longer.mutable_retention(0)->mutable_period()->set_seconds(86400 * 30);
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(Base(), longer);
  ASSERT_OK(d);
  for (const auto& c : d->changes()) {
    EXPECT_EQ(c.kind(), v1::PolicyChange::KIND_RETENTION_LENGTHENED);
    EXPECT_TRUE(c.material());
    EXPECT_EQ(c.before(), "1d");
    EXPECT_EQ(c.after(), "30d");
  }
  EXPECT_EQ(d->changes_size(), 2);  // marketing, marketing.research
  absl::StatusOr<v1::PolicyDiff> back = DiffPolicies(longer, Base());
  ASSERT_OK(back);
  for (const auto& c : back->changes()) {
    EXPECT_EQ(c.kind(), v1::PolicyChange::KIND_RETENTION_SHORTENED);
    EXPECT_FALSE(c.material());
  }
  v1::Policy unlimited = Next();
  unlimited.clear_retention();
  d = DiffPolicies(Base(), unlimited);
  ASSERT_OK(d);
  ASSERT_GT(d->changes_size(), 0);
  EXPECT_TRUE(d->changes(0).material());
  EXPECT_EQ(d->changes(0).after(), "unlimited");
}

TEST(PolicyDiffTest, WordingIsNotMaterial) {
  v1::Policy next = Next();
  next.mutable_purposes(0)->mutable_name()->set_en("Fees");
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(Base(), next);
  ASSERT_OK(d);
  const v1::PolicyChange* c = Only(*d, v1::PolicyChange::KIND_WORDING);
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->material());
  EXPECT_EQ(c->before(), "Charges");
  EXPECT_EQ(c->after(), "Fees");
}

TEST(PolicyDiffTest, RemovalsAreNotMaterial) {
  v1::Policy next = Next();
  next.mutable_rules()->RemoveLast();
  next.mutable_rules()->RemoveLast();
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(Base(), next);
  ASSERT_OK(d);
  ASSERT_GT(d->changes_size(), 0);
  for (const auto& c : d->changes()) {
    EXPECT_EQ(c.kind(), v1::PolicyChange::KIND_USE_REMOVED);
    EXPECT_FALSE(c.material());
  }
}

TEST(PolicyDiffTest, ReparentingIsMaterial) {
  v1::Policy next = Next();
  next.mutable_purposes(3)->set_parent("billing");
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(Base(), next);
  ASSERT_OK(d);
  const v1::PolicyChange* c =
      Only(*d, v1::PolicyChange::KIND_PURPOSE_REPARENTED);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->material());
  EXPECT_EQ(c->before(), "marketing");
  EXPECT_EQ(c->after(), "billing");
}

TEST(PolicyDiffTest, LooseningSpecialCategoryIsMaterial) {
  v1::Policy next = Next();
  next.mutable_categories(2)->set_special(false);
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(Base(), next);
  ASSERT_OK(d);
  const v1::PolicyChange* c =
      Only(*d, v1::PolicyChange::KIND_CATEGORY_RULES_CHANGED);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->material());
}

TEST(PolicyDiffTest, AccessorChangesAreShownNotMaterial) {
  v1::Policy next = Next();
  next.mutable_accessors(0)->add_may_declare("marketing");
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(Base(), next);
  ASSERT_OK(d);
  const v1::PolicyChange* c = Only(*d, v1::PolicyChange::KIND_ACCESSOR_CHANGED);
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->material());
  EXPECT_EQ(c->accessor(), "billing-service");
}

TEST(PolicyDiffTest, InvalidSideIsNamed) {
  v1::Policy bad = Next();
  bad.clear_version();
  EXPECT_THAT(DiffPolicies(Base(), bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the later policy does not validate")));
  EXPECT_THAT(DiffPolicies(bad, Base()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the earlier policy does not validate")));
}

TEST(PolicyDiffTest, ReconsentRequirementsFollowMaterialChanges) {
  v1::Policy next = Next();
  v1::UseRule* r = next.add_rules();
  r->set_category("measurement");
  r->add_purposes("marketing.research");
  r->set_basis(v1::LEGAL_BASIS_OPT_IN);
  next.mutable_purposes(0)->mutable_name()->set_en("Fees");  // wording
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(Base(), next);
  ASSERT_OK(d);
  AddReconsentRequirements(*d, next);
  ASSERT_EQ(next.reconsent_size(), 1) << next.DebugString();
  EXPECT_EQ(next.reconsent(0).purpose(), "marketing.research");
  EXPECT_THAT(next.reconsent(0).categories(),
              ::testing::ElementsAre("measurement"));
  EXPECT_EQ(next.reconsent(0).since_version(), "v2");
  EXPECT_THAT(next.version_history(), ::testing::ElementsAre("v1"));
  ASSERT_OK(CompiledPolicy::Compile(next));
  // Applying twice adds nothing.
  AddReconsentRequirements(*d, next);
  EXPECT_EQ(next.reconsent_size(), 1);
}

TEST(PolicyDiffTest, ShippedNextVersionHasMaterialAndWordingChanges) {
  absl::StatusOr<v1::Policy> a =
      LoadPolicyFile(SourcePath("policies/default.textproto"));
  absl::StatusOr<v1::Policy> b =
      LoadPolicyFile(SourcePath("policies/examples/2027-04-01.textproto"));
  ASSERT_OK(a);
  ASSERT_OK(b);
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(*a, *b);
  ASSERT_OK(d);
  bool material = false, wording = false;
  for (const auto& c : d->changes()) {
    material |= c.material();
    wording |= c.kind() == v1::PolicyChange::KIND_WORDING;
  }
  EXPECT_TRUE(material);
  EXPECT_TRUE(wording);
}

}  // namespace
}  // namespace consentry
