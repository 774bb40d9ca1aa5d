// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/policy.h"

#include <string>

#include "consentry/proto_io.h"
#include "consentry/v1/policy.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

v1::Policy Parse(const std::string& text) {
  v1::Policy p;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &p)) << text;
  return p;
}

constexpr char kMinimal[] = R"pb(
  version: "v1"
  purposes { id: "billing" }
  purposes { id: "billing.calculation" parent: "billing" }
  purposes { id: "marketing" }
  categories { id: "billing" }
  categories { id: "measurement" special: true }
  rules { category: "billing" purposes: "billing" basis: LEGAL_BASIS_NECESSARY }
  accessors { id: "billing-service" may_declare: "billing" }
)pb";

TEST(CompiledPolicyTest, DefaultPolicyCompiles) {
  std::shared_ptr<const CompiledPolicy> p = testing::DefaultPolicy();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->version(), "2026-11-01");
  // The seven purposes of use of §7.1 are all in the catalogue.
  for (const char* id : {"support", "billing.calculation", "billing.invoicing",
                         "marketing.research", "marketing.promotion",
                         "statistics.measurement", "service.operation"}) {
    absl::StatusOr<PurposeIndex> idx = p->FindPurpose(id);
    ASSERT_OK(idx);
    EXPECT_FALSE(p->per_occasion().Contains(*idx)) << id;
  }
  for (const char* id : {"identity", "contact", "measurement", "billing",
                         "communication", "employee", "web_usage"}) {
    EXPECT_OK(p->FindCategory(id));
  }
  EXPECT_TRUE(p->special(*p->FindCategory("measurement")));
  EXPECT_TRUE(p->special(*p->FindCategory("communication")));
  EXPECT_TRUE(p->requires_specific_consent(*p->FindCategory("communication")));
  EXPECT_TRUE(
      p->per_occasion().Contains(*p->FindPurpose("occasion.joint_study")));
}

TEST(CompiledPolicyTest, HierarchyIsClosed) {
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
      CompiledPolicy::Compile(Parse(kMinimal));
  ASSERT_OK(p);
  const PurposeIndex billing = *(*p)->FindPurpose("billing");
  const PurposeIndex calc = *(*p)->FindPurpose("billing.calculation");
  EXPECT_TRUE((*p)->descendants(billing).Contains(calc));
  EXPECT_TRUE((*p)->ancestors(calc).Contains(billing));
  EXPECT_FALSE((*p)->ancestors(billing).Contains(calc));
  EXPECT_EQ((*p)->parent(calc), billing);
  EXPECT_EQ((*p)->parent(billing), -1);
}

TEST(CompiledPolicyTest, RuleForParentCoversChildren) {
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
      CompiledPolicy::Compile(Parse(kMinimal));
  ASSERT_OK(p);
  const CategoryIndex c = *(*p)->FindCategory("billing");
  EXPECT_EQ((*p)->basis(c, *(*p)->FindPurpose("billing.calculation")),
            Basis::kNecessary);
  EXPECT_EQ((*p)->basis(c, *(*p)->FindPurpose("marketing")),
            Basis::kNotAllowed);
}

TEST(CompiledPolicyTest, ChildRuleOverridesParentRule) {
  v1::Policy policy = Parse(kMinimal);
  v1::UseRule* r = policy.add_rules();
  r->set_category("billing");
  r->add_purposes("billing.calculation");
  r->set_basis(v1::LEGAL_BASIS_OPT_IN);
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
      CompiledPolicy::Compile(policy);
  ASSERT_OK(p);
  const CategoryIndex c = *(*p)->FindCategory("billing");
  EXPECT_EQ((*p)->basis(c, *(*p)->FindPurpose("billing.calculation")),
            Basis::kOptIn);
  EXPECT_EQ((*p)->basis(c, *(*p)->FindPurpose("billing")), Basis::kNecessary);
}

TEST(CompiledPolicyTest, AccessorMayDeclareDescendants) {
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
      CompiledPolicy::Compile(Parse(kMinimal));
  ASSERT_OK(p);
  const AccessorIndex a = *(*p)->FindAccessor("billing-service");
  EXPECT_TRUE((*p)->declarable_by(a).Contains(
      *(*p)->FindPurpose("billing.calculation")));
  EXPECT_FALSE(
      (*p)->declarable_by(a).Contains(*(*p)->FindPurpose("marketing")));
}

struct InvalidCase {
  std::string name;
  std::string edit;  // text appended to kMinimal, or a replacement marker
  std::string expected;
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class PolicyValidationTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(PolicyValidationTest, RejectsWithFieldPathAndValue) {
  const InvalidCase& c = GetParam();
  std::string text = kMinimal;
  if (c.edit.rfind("REPLACE:", 0) == 0) {
    // REPLACE:<from>|<to>
    const std::string spec = c.edit.substr(8);
    const std::size_t bar = spec.find('|');
    const std::string from = spec.substr(0, bar);
    const std::string to = spec.substr(bar + 1);
    const std::size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  } else {
    text += c.edit;
  }
  EXPECT_THAT(
      CompiledPolicy::Compile(Parse(text)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.expected)));
}

INSTANTIATE_TEST_SUITE_P(
    AllErrors, PolicyValidationTest,
    ::testing::Values(
        InvalidCase{"MissingVersion", R"(REPLACE:version: "v1"|)",
                    "policy.version: must not be empty"},
        InvalidCase{"EmptyVersion", R"(REPLACE:version: "v1"|version: "")",
                    "policy.version: must not be empty"},
        InvalidCase{
            "DuplicatePurpose", R"(purposes { id: "billing" })",
            "policy.purposes[3].id: duplicate purpose id 'billing' (first "
            "at policy.purposes[0])"},
        InvalidCase{
            "MalformedPurposeId", R"(purposes { id: "Bad Id" })",
            "policy.purposes[3].id: 'Bad Id' is not a valid purpose id"},
        InvalidCase{"UnknownParent", R"(purposes { id: "x" parent: "nope" })",
                    "policy.purposes[3].parent: unknown purpose 'nope'"},
        InvalidCase{"SelfParent", R"(purposes { id: "loop" parent: "loop" })",
                    "cycle in the purpose hierarchy: loop -> loop"},
        InvalidCase{
            "Cycle",
            R"(purposes { id: "a" parent: "b" } purposes { id: "b" parent: "a" })",
            "cycle in the purpose hierarchy: a -> b -> a"},
        // A purpose that leads into a cycle without being on it: the
        // cycle is still found (compiling it used to loop forever).
        InvalidCase{
            "PathIntoASelfParent",
            R"(purposes { id: "a" parent: "b" } purposes { id: "b" parent: "b" })",
            "cycle in the purpose hierarchy: b -> b"},
        InvalidCase{
            "PathIntoACycle",
            R"(purposes { id: "c" parent: "d" } purposes { id: "d" parent: "e" } purposes { id: "e" parent: "d" })",
            "cycle in the purpose hierarchy: d -> e -> d"},
        InvalidCase{"DuplicateCategory", R"(categories { id: "billing" })",
                    "policy.categories[2].id: duplicate category id 'billing'"},
        InvalidCase{
            "UnknownCategoryInRule",
            R"(rules { category: "dna" purposes: "billing" basis: LEGAL_BASIS_OPT_IN })",
            "policy.rules[1].category: unknown category 'dna'"},
        InvalidCase{
            "UnknownPurposeInRule",
            R"(rules { category: "measurement" purposes: "astrology" basis: LEGAL_BASIS_OPT_IN })",
            "policy.rules[1].purposes[0]: unknown purpose 'astrology'"},
        InvalidCase{
            "RuleWithoutBasis",
            R"(rules { category: "measurement" purposes: "marketing" })",
            "policy.rules[1].basis: must be set"},
        InvalidCase{
            "RuleWithoutPurposes",
            R"(rules { category: "measurement" basis: LEGAL_BASIS_OPT_IN })",
            "policy.rules[1].purposes: at least one purpose"},
        InvalidCase{
            "SpecialCategoryOptOut",
            R"(rules { category: "measurement" purposes: "marketing" basis: LEGAL_BASIS_OPT_OUT })",
            "policy.rules[1].basis: LEGAL_BASIS_OPT_OUT is not allowed for "
            "special category 'measurement'"},
        InvalidCase{
            "DuplicateRule",
            R"(rules { category: "billing" purposes: "billing" basis: LEGAL_BASIS_OPT_IN })",
            "policy.rules[1].purposes[0]: duplicate rule for category "
            "'billing' and purpose 'billing' (first in policy.rules[0])"},
        InvalidCase{
            "PerOccasionNotOptIn",
            R"(purposes { id: "study" per_occasion: true }
                       rules { category: "measurement" purposes: "study" basis: LEGAL_BASIS_NECESSARY })",
            "per-occasion purpose 'study' must have basis LEGAL_BASIS_OPT_IN"},
        InvalidCase{
            "UnknownDeclarablePurpose",
            R"(accessors { id: "x" may_declare: "nope" })",
            "policy.accessors[1].may_declare[0]: unknown purpose 'nope'"},
        InvalidCase{
            "DuplicateAccessor", R"(accessors { id: "billing-service" })",
            "policy.accessors[1].id: duplicate accessor id 'billing-service'"}),
    [](const ::testing::TestParamInfo<InvalidCase>& param_info) {
      return param_info.param.name;
    });

TEST(CompiledPolicyTest, TooManyPurposesIsResourceExhausted) {
  v1::Policy policy = Parse(kMinimal);
  for (int i = 0; i < kMaxPurposes; ++i) {
    policy.add_purposes()->set_id("p" + std::to_string(i));
  }
  EXPECT_THAT(
      CompiledPolicy::Compile(policy),
      StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("at most 64")));
}

TEST(CompiledPolicyTest, SixtyFourPurposesCompile) {
  v1::Policy policy = Parse(kMinimal);
  while (policy.purposes_size() < kMaxPurposes) {
    const std::string id = "p" + std::to_string(policy.purposes_size());
    policy.add_purposes()->set_id(id);
  }
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
      CompiledPolicy::Compile(policy);
  ASSERT_OK(p);
  EXPECT_EQ((*p)->purpose_count(), 64);
  const PurposeIndex last = *(*p)->FindPurpose("p63");
  EXPECT_EQ(last, 63);
  EXPECT_TRUE((*p)->descendants(last).Contains(last));
}

TEST(CompiledPolicyTest, ReportsSeveralErrorsAtOnce) {
  std::string text = kMinimal;
  text += R"(categories { id: "billing" }
             rules { category: "billing" purposes: "astrology" basis: LEGAL_BASIS_OPT_IN })";
  absl::Status s = CompiledPolicy::Compile(Parse(text)).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("duplicate category id")));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("unknown purpose 'astrology'")));
}

TEST(CompiledPolicyTest, LoadAndCompileNamesTheFile) {
  EXPECT_THAT(
      LoadAndCompilePolicy(testing::SourcePath(
          "tests/testdata/policy_special_opt_out.textproto")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("policy_special_opt_out.textproto: invalid policy")));
}

}  // namespace
}  // namespace consentry
