// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Subject kinds (policy §7.3 and Scope): employees' and partner staff's data
// beside customers'. The policy restricts categories and purposes to kinds;
// the Guard denies a subject of another kind (or of no recorded kind), and
// the purpose notice tells each kind only what applies to it.

#include <memory>
#include <string>

#include "consentry/guard.h"
#include "consentry/notice.h"
#include "consentry/policy.h"
#include "consentry/v1/policy.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "src/compliance/request_answers.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::GuardFixture;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

class SubjectKindsTest : public GuardFixture {
 protected:
  // Records `subject` as of `kind`, with no consent.
  Revision Register(const std::string& subject, v1::SubjectKind kind) {
    v1::ConsentChange c;
    c.set_subject_id(subject);
    c.set_subject_kind(kind);
    c.mutable_restrictions();
    absl::StatusOr<Revision> r = store_.Apply(c);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : -1;
  }

  Reason EmployeeRecordReason(const std::string& subject) {
    return CheckReason("hr-system", "employment", subject, "employee");
  }
};

TEST_F(SubjectKindsTest, EmployeeDataOfAnEmployeeIsReadForEmployment) {
  Register("e-1", v1::SUBJECT_KIND_EMPLOYEE);
  EXPECT_EQ(EmployeeRecordReason("e-1"), Reason::kAllowedNecessary);
}

TEST_F(SubjectKindsTest, EmployeeCategoryOfACustomerIsDeniedWithItsOwnReason) {
  Register("c-1", v1::SUBJECT_KIND_CUSTOMER);
  EXPECT_EQ(EmployeeRecordReason("c-1"), Reason::kSubjectKindNotAllowed);
  Register("p-1", v1::SUBJECT_KIND_BUSINESS_PARTNER_STAFF);
  EXPECT_EQ(EmployeeRecordReason("p-1"), Reason::kSubjectKindNotAllowed);
}

TEST_F(SubjectKindsTest, UnspecifiedKindAndNoRecordFailClosedWhereRestricted) {
  // A record without a kind (consent given, kind never stated).
  v1::ConsentChange c =
      testing::PurposeChange("u-1", "support", v1::CONSENT_STATE_GIVEN);
  c.clear_subject_kind();
  ASSERT_OK(store_.Apply(c));
  EXPECT_EQ(EmployeeRecordReason("u-1"), Reason::kSubjectKindUnknown);
  // No record at all.
  EXPECT_EQ(EmployeeRecordReason("nobody"), Reason::kSubjectKindUnknown);
  // Where the policy restricts nothing, the unknown kind reads as before.
  EXPECT_EQ(
      CheckReason("billing-service", "billing.calculation", "u-1", "billing"),
      Reason::kAllowedNecessary);
  EXPECT_EQ(CheckReason("billing-service", "billing.calculation", "nobody",
                        "billing"),
            Reason::kAllowedNecessary);
}

TEST_F(SubjectKindsTest, KindDenialsMapToStatusesAndAreAudited) {
  Register("c-1", v1::SUBJECT_KIND_CUSTOMER);
  AccessContext hr = Ctx("hr-system", "employment");
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("c-1", "employee", {"employment"}, {}, "rec-7");
  ASSERT_OK(tags);
  absl::StatusOr<AccessGrant> g = guard_->Authorize(hr, *tags);
  EXPECT_THAT(g, StatusIs(absl::StatusCode::kPermissionDenied,
                          HasSubstr("subject_kind_not_allowed")));
  EXPECT_EQ(ReasonFromStatus(g.status()), Reason::kSubjectKindNotAllowed);

  absl::StatusOr<RecordTags> unknown =
      guard_->Tag("nobody", "employee", {"employment"});
  ASSERT_OK(unknown);
  absl::StatusOr<AccessGrant> u = guard_->Authorize(hr, *unknown);
  EXPECT_THAT(u, StatusIs(absl::StatusCode::kFailedPrecondition,
                          HasSubstr("subject_kind_unknown")));

  const std::vector<OwnedAuditEvent> events = audit_.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].subject, "c-1");
  EXPECT_EQ(events[0].accessor, "hr-system");
  EXPECT_EQ(events[0].purpose, "employment");
  EXPECT_EQ(events[0].category, "employee");
  EXPECT_EQ(events[0].record_ref, "rec-7");
  EXPECT_EQ(events[0].reason, Reason::kSubjectKindNotAllowed);
  EXPECT_FALSE(events[0].allowed());
  EXPECT_EQ(events[1].reason, Reason::kSubjectKindUnknown);
}

TEST_F(SubjectKindsTest, EmploymentPurposeNeverReadsCustomerData) {
  // A policy that lets `employment` use identity data: the purpose's own
  // restriction still keeps customers' identity out of it.
  v1::Policy doc = guard_->policy()->proto();
  v1::UseRule* r = doc.add_rules();
  r->set_category("identity");
  r->add_purposes("employment");
  r->set_basis(v1::LEGAL_BASIS_NECESSARY);
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
      CompiledPolicy::Compile(doc);
  ASSERT_OK(p);
  ASSERT_OK(guard_->SetPolicy(*p));
  Register("c-1", v1::SUBJECT_KIND_CUSTOMER);
  Register("e-1", v1::SUBJECT_KIND_EMPLOYEE);
  EXPECT_EQ(CheckReason("hr-system", "employment", "c-1", "identity"),
            Reason::kSubjectKindNotAllowed);
  EXPECT_EQ(CheckReason("hr-system", "employment", "e-1", "identity"),
            Reason::kAllowedNecessary);
  // The customer's identity still serves the customer's purposes.
  EXPECT_EQ(CheckReason("support-desk", "support", "c-1", "identity"),
            Reason::kAllowedNecessary);
}

TEST_F(SubjectKindsTest, WarmCacheKeepsTheKindAndFollowsAChange) {
  Register("e-1", v1::SUBJECT_KIND_EMPLOYEE);
  Register("c-1", v1::SUBJECT_KIND_CUSTOMER);
  ASSERT_OK(guard_->WarmCache());
  ASSERT_EQ(guard_->cached_subjects(), 2u);
  // From the cache, the store unreachable: the kind is in the cached state.
  store_.SetUnavailableForTesting(true);
  EXPECT_EQ(EmployeeRecordReason("e-1"), Reason::kAllowedNecessary);
  EXPECT_EQ(EmployeeRecordReason("c-1"), Reason::kSubjectKindNotAllowed);
  store_.SetUnavailableForTesting(false);
  // The person is hired: the kind changes through the feed.
  Register("c-1", v1::SUBJECT_KIND_EMPLOYEE);
  EXPECT_EQ(EmployeeRecordReason("c-1"), Reason::kAllowedNecessary);
}

TEST_F(SubjectKindsTest, ErasureOutranksTheKind) {
  Register("c-1", v1::SUBJECT_KIND_CUSTOMER);
  v1::Restrictions erased;
  erased.set_erased(true);
  Restrict("c-1", erased);
  EXPECT_EQ(EmployeeRecordReason("c-1"), Reason::kSubjectErased);
}

TEST_F(SubjectKindsTest, DefaultPolicyCompilesKindsIntoMasks) {
  std::shared_ptr<const CompiledPolicy> p = guard_->policy();
  const CategoryIndex employee = *p->FindCategory("employee");
  const CategoryIndex identity = *p->FindCategory("identity");
  const PurposeIndex employment = *p->FindPurpose("employment");
  const PurposeIndex support = *p->FindPurpose("support");
  EXPECT_EQ(p->category_subject_kinds(employee),
            SubjectKindBit(v1::SUBJECT_KIND_EMPLOYEE));
  EXPECT_EQ(p->category_subject_kinds(identity), kAllSubjectKinds);
  EXPECT_EQ(p->purpose_subject_kinds(employment),
            SubjectKindBit(v1::SUBJECT_KIND_EMPLOYEE));
  EXPECT_EQ(p->kinds_denied(employee, employment),
            kAllSubjectKinds & ~SubjectKindBit(v1::SUBJECT_KIND_EMPLOYEE));
  EXPECT_EQ(p->kinds_denied(identity, support), 0);
  EXPECT_TRUE(
      p->ServesSubjectKind(employee, employment, v1::SUBJECT_KIND_EMPLOYEE));
  EXPECT_FALSE(
      p->ServesSubjectKind(employee, employment, v1::SUBJECT_KIND_CUSTOMER));
  // An out-of-range number counts as unspecified.
  EXPECT_FALSE(p->ServesSubjectKind(employee, employment, 99));
  EXPECT_TRUE(p->ServesSubjectKind(identity, support, 99));
}

TEST_F(SubjectKindsTest, ChildPurposeInheritsItsParentsKinds) {
  v1::Policy doc = guard_->policy()->proto();
  v1::Purpose* child = doc.add_purposes();
  child->set_id("employment.payroll");
  child->set_parent("employment");
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
      CompiledPolicy::Compile(doc);
  ASSERT_OK(p);
  EXPECT_EQ(
      (*p)->purpose_subject_kinds(*(*p)->FindPurpose("employment.payroll")),
      SubjectKindBit(v1::SUBJECT_KIND_EMPLOYEE));
}

// --- Validation --------------------------------------------------------

struct KindCase {
  std::string name;
  std::string append;  // appended to the base policy text
  std::string expected;
};

void PrintTo(const KindCase& c, std::ostream* os) { *os << c.name; }

constexpr char kBase[] = R"pb(
  version: "v1"
  purposes { id: "support" }
  purposes { id: "employment" subject_kinds: SUBJECT_KIND_EMPLOYEE }
  purposes { id: "acquisition" }
  purposes { id: "study" per_occasion: true }
  categories { id: "identity" }
  categories { id: "measurement" special: true }
  rules {
    category: "identity"
    purposes: "support"
    basis: LEGAL_BASIS_NECESSARY
  }
)pb";

class SubjectKindValidationTest : public ::testing::TestWithParam<KindCase> {};

TEST_P(SubjectKindValidationTest, RejectsWithFieldPath) {
  v1::Policy doc;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      std::string(kBase) + GetParam().append, &doc));
  EXPECT_THAT(CompiledPolicy::Compile(doc),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(GetParam().expected)));
}

TEST(SubjectKindValidationBaseTest, BaseCompiles) {
  v1::Policy doc;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kBase, &doc));
  EXPECT_OK(CompiledPolicy::Compile(doc));
}

INSTANTIATE_TEST_SUITE_P(
    AllErrors, SubjectKindValidationTest,
    ::testing::Values(
        KindCase{
            "UnspecifiedKindOnPurpose",
            R"(purposes { id: "x" subject_kinds: SUBJECT_KIND_UNSPECIFIED })",
            "policy.purposes[4].subject_kinds[0]: SUBJECT_KIND_UNSPECIFIED "
            "is not a subject kind a policy may name"},
        KindCase{"UnknownKindNumberOnCategory",
                 R"(categories { id: "x" subject_kinds: 99 })",
                 "policy.categories[2].subject_kinds[0]: 99 is not a subject "
                 "kind"},
        KindCase{
            "DuplicateKind",
            R"(categories { id: "x" subject_kinds: [SUBJECT_KIND_CUSTOMER, SUBJECT_KIND_CUSTOMER] })",
            "policy.categories[2].subject_kinds[1]: duplicate subject "
            "kind SUBJECT_KIND_CUSTOMER"},
        KindCase{
            "ChildWidensParent",
            R"(purposes { id: "employment.x" parent: "employment" subject_kinds: SUBJECT_KIND_CUSTOMER })",
            "policy.purposes[4].subject_kinds: purpose 'employment.x' "
            "names a subject kind its parent 'employment' does not serve"},
        KindCase{"AcquisitionOnOrdinaryCategory",
                 R"(categories { id: "x" acquisition_purpose: "acquisition" })",
                 "policy.categories[2].acquisition_purpose: category 'x' is "
                 "not special"},
        KindCase{
            "AcquisitionUnknownPurpose",
            R"(categories { id: "x" special: true acquisition_purpose: "nope" })",
            "policy.categories[2].acquisition_purpose: unknown purpose "
            "'nope'"},
        KindCase{
            "AcquisitionPerOccasion",
            R"(categories { id: "x" special: true acquisition_purpose: "study" })",
            "policy.categories[2].acquisition_purpose: purpose 'study' is "
            "per-occasion"},
        KindCase{
            "AcquisitionPurposeUsedToRead",
            R"(categories { id: "x" special: true acquisition_purpose: "support" })",
            "policy.categories[2].acquisition_purpose: purpose 'support' "
            "(or a purpose above or below it) is used to read data"}),
    [](const ::testing::TestParamInfo<KindCase>& param_info) {
      return param_info.param.name;
    });

// --- Notices -----------------------------------------------------------

TEST(SubjectKindNoticeTest, CustomersAreNotToldOfEmployment) {
  std::shared_ptr<const CompiledPolicy> p = testing::DefaultPolicy();
  ASSERT_NE(p, nullptr);
  const std::string customer = PurposeNotice(*p, Language::kEn);
  EXPECT_THAT(customer, Not(HasSubstr("Employment administration")));
  EXPECT_THAT(customer, Not(HasSubstr("Employee data")));
  EXPECT_THAT(customer, HasSubstr("Customer support"));
  EXPECT_EQ(customer,
            PurposeNotice(*p, Language::kEn, v1::SUBJECT_KIND_CUSTOMER));
  EXPECT_THAT(PurposeNotice(*p, Language::kJa), Not(HasSubstr("雇用管理")));
  const std::string employee =
      PurposeNotice(*p, Language::kEn, v1::SUBJECT_KIND_EMPLOYEE);
  EXPECT_THAT(employee, HasSubstr("Employment administration"));
  EXPECT_THAT(employee, HasSubstr("Employee data"));
  EXPECT_THAT(PurposeNotice(*p, Language::kEn, v1::SUBJECT_KIND_UNSPECIFIED),
              Not(HasSubstr("Employment administration")));
  EXPECT_THAT(
      PurposeNotice(*p, Language::kEn, v1::SUBJECT_KIND_BUSINESS_PARTNER_STAFF),
      Not(HasSubstr("Employment administration")));
}

TEST(SubjectKindNoticeTest, RequestNoticeListsOnlyPurposesOfTheSubjectsKind) {
  std::shared_ptr<const CompiledPolicy> p = testing::DefaultPolicy();
  ASSERT_NE(p, nullptr);
  const auto lists_employment = [&](v1::SubjectKind kind) {
    v1::ConsentRecord r;
    r.set_subject_id("s-1");
    r.set_subject_kind(kind);
    const v1::PurposeNotice n =
        internal::BuildPurposeNotice(*p, r, absl::FromUnixSeconds(0));
    for (const v1::PurposeUse& u : n.purposes()) {
      if (u.purpose() == "employment") return true;
    }
    return false;
  };
  EXPECT_FALSE(lists_employment(v1::SUBJECT_KIND_CUSTOMER));
  EXPECT_FALSE(lists_employment(v1::SUBJECT_KIND_UNSPECIFIED));
  EXPECT_TRUE(lists_employment(v1::SUBJECT_KIND_EMPLOYEE));
}

}  // namespace
}  // namespace consentry
