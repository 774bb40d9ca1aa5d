// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Secrecy of communications: a category with `requires_specific_consent` is
// usable only for the purposes its rules name one by one, and only consent
// given to exactly the purpose counts. Policy validation and the Guard's
// read checks; provision is covered in provision_test.cc.

#include <memory>
#include <string>

#include "consentry/guard.h"
#include "consentry/policy.h"
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

// A communication category that is special and requires specific consent,
// and a variant where it is not marked special (so that the opt-out check
// is proved to come from `requires_specific_consent`).
std::string PolicyWith(const std::string& rule, bool special = true) {
  return std::string(R"pb(
           version: "v1"
           purposes { id: "service" }
           purposes { id: "service.operation" parent: "service" }
           purposes { id: "billing" }
           purposes { id: "billing.calculation" parent: "billing" }
           purposes { id: "billing.invoicing" parent: "billing" }
           purposes { id: "support" }
           purposes { id: "marketing" }
           categories { id: "communication" requires_specific_consent: true
                        special:)pb") +
         (special ? "true" : "false") + " }\n" + rule;
}

TEST(CommunicationPolicyTest, NamedLeafAndChildlessRootRulesCompile) {
  EXPECT_OK(CompiledPolicy::Compile(Parse(PolicyWith(
      R"pb(rules {
             category: "communication"
             purposes: [ "service.operation", "billing.calculation" ]
             basis: LEGAL_BASIS_NECESSARY
           }
           rules {
             category: "communication"
             purposes: "support"
             basis: LEGAL_BASIS_OPT_IN
           })pb"))));
}

TEST(CommunicationPolicyTest, RejectsOptOutEvenWhenNotMarkedSpecial) {
  EXPECT_THAT(
      CompiledPolicy::Compile(Parse(PolicyWith(R"pb(rules {
                                                      category: "communication"
                                                      purposes: "support"
                                                      basis: LEGAL_BASIS_OPT_OUT
                                                    })pb",
                                               /*special=*/false))),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("policy.rules[0].basis: LEGAL_BASIS_OPT_OUT is not "
                         "allowed for category 'communication', which requires "
                         "specific consent")));
}

TEST(CommunicationPolicyTest, RejectsRuleNamingAParentPurpose) {
  EXPECT_THAT(
      CompiledPolicy::Compile(
          Parse(PolicyWith(R"pb(rules {
                                  category: "communication"
                                  purposes: [ "support", "billing" ]
                                  basis: LEGAL_BASIS_NECESSARY
                                })pb"))),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("policy.rules[0].purposes[1]: blanket rule for category "
                    "'communication', which requires specific consent: "
                    "purpose 'billing' has child purposes")));
}

TEST(CommunicationPolicyTest, RejectsOptInRuleNamingARootWithChildren) {
  EXPECT_THAT(
      CompiledPolicy::Compile(Parse(PolicyWith(R"pb(rules {
                                                      category: "communication"
                                                      purposes: "service"
                                                      basis: LEGAL_BASIS_OPT_IN
                                                    })pb"))),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("policy.rules[0].purposes[0]: blanket rule")));
}

TEST(CommunicationPolicyTest, RejectsRuleWithTooManyPurposes) {
  EXPECT_THAT(
      CompiledPolicy::Compile(Parse(PolicyWith(
          R"pb(rules {
                 category: "communication"
                 purposes: [
                   "service.operation",
                   "billing.calculation",
                   "billing.invoicing",
                   "support",
                   "marketing"
                 ]
                 basis: LEGAL_BASIS_OPT_IN
               })pb"))),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("policy.rules[0].purposes: blanket rule for category "
                         "'communication', which requires specific consent: 5 "
                         "purposes, at most 4 per rule")));
}

TEST(CommunicationPolicyTest, OrdinaryCategoryMayNameParents) {
  EXPECT_OK(CompiledPolicy::Compile(Parse(R"pb(
    version: "v1"
    purposes { id: "billing" }
    purposes { id: "billing.calculation" parent: "billing" }
    categories { id: "contact" }
    rules { category: "contact" purposes: "billing" basis: LEGAL_BASIS_OPT_OUT }
  )pb")));
}

// The default policy with one more purpose below `support` that may use
// communication data on consent, so that consent to a parent can be tried.
std::shared_ptr<const CompiledPolicy> PolicyWithChildOfSupport() {
  absl::StatusOr<v1::Policy> p =
      LoadPolicyFile(testing::SourcePath("policies/default.textproto"));
  EXPECT_TRUE(p.ok()) << p.status();
  v1::Purpose* child = p->add_purposes();
  child->set_id("support.call_review");
  child->set_parent("support");
  // `support` now has a child: its communication rule would be blanket, so
  // name the child alone.
  for (v1::UseRule& r : *p->mutable_rules()) {
    if (r.category() == "communication" &&
        r.basis() == v1::LEGAL_BASIS_OPT_IN) {
      r.clear_purposes();
      r.add_purposes("support.call_review");
    }
  }
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> c =
      CompiledPolicy::Compile(*p);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : nullptr;
}

class CommunicationGuardTest : public testing::GuardFixture {};

TEST_F(CommunicationGuardTest, ParentConsentDoesNotCountForCommunication) {
  ASSERT_OK(guard_->SetPolicy(PolicyWithChildOfSupport()));
  Set("s1", "support", v1::CONSENT_STATE_GIVEN);  // the parent only
  EXPECT_EQ(
      CheckReason("support-desk", "support.call_review", "s1", "communication"),
      Reason::kNoSpecificConsent);
  // The same parent consent covers an ordinary category's child purpose.
  EXPECT_EQ(CheckReason("support-desk", "support.call_review", "s1", "contact"),
            Reason::kAllowedNecessary);
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("s1", "communication", {"support"});
  ASSERT_OK(tags);
  EXPECT_THAT(
      guard_->Authorize(Ctx("support-desk", "support.call_review"), *tags),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("no_specific_consent")));
}

TEST_F(CommunicationGuardTest, ConsentToExactlyThePurposeCounts) {
  ASSERT_OK(guard_->SetPolicy(PolicyWithChildOfSupport()));
  Set("s1", "support", v1::CONSENT_STATE_GIVEN);
  Set("s1", "support.call_review", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(
      CheckReason("support-desk", "support.call_review", "s1", "communication"),
      Reason::kAllowedConsent);
}

TEST_F(CommunicationGuardTest, UsableWithoutConsentOnlyForListedPurposes) {
  // Listed as necessary for the service: service operation and billing.
  EXPECT_EQ(
      CheckReason("app-backend", "service.operation", "s1", "communication"),
      Reason::kAllowedNecessary);
  EXPECT_EQ(CheckReason("billing-service", "billing.calculation", "s1",
                        "communication"),
            Reason::kAllowedNecessary);
  // Not listed: marketing may not use it at all.
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.research", "s1",
                        "communication"),
            Reason::kNotAllowedByPolicy);
  // Support needs consent to support itself.
  EXPECT_EQ(CheckReason("support-desk", "support", "s1", "communication"),
            Reason::kNoConsent);
}

}  // namespace
}  // namespace consentry
