// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Guard::Provide (src/provision.cc): every deny reason, the records and
// audit events written, and fail-closed behaviour on outages.

#include "consentry/provision.h"

#include <memory>
#include <string>
#include <vector>

#include "consentry/proto_io.h"
#include "consentry/recipients.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class ProvisionTest : public testing::GuardFixture {
 protected:
  void SetUp() override {
    GuardFixture::SetUp();
    absl::StatusOr<std::string> text =
        ReadFileToString(testing::SourcePath("policies/recipients.textproto"));
    ASSERT_OK(text);
    ASSERT_OK(ParseMessage(*text, WireFormat::kText, proto_));
    // A third party that may receive data for service operation (so that
    // communication data is possible at all), a foreign third party on
    // consent, and a joint user.
    AddRecipient(R"pb(
      id: "carrier-partner"
      name: "Carrier Partner"
      kind: RECIPIENT_KIND_THIRD_PARTY
      vetting_status: VETTING_STATUS_APPROVED
      vetted_time { seconds: 1767225600 }
      purposes: "service.operation"
      consent_purpose: "provision.third_party.partner_insurer")pb");
    AddRecipient(R"pb(
      id: "lab-us"
      name: "Lab US Inc."
      kind: RECIPIENT_KIND_FOREIGN_THIRD_PARTY
      vetting_status: VETTING_STATUS_APPROVED
      vetted_time { seconds: 1767225600 }
      purposes: "marketing.promotion"
      consent_purpose: "provision.foreign_third_party"
      country: "US"
      foreign_basis: FOREIGN_TRANSFER_BASIS_CONSENT_WITH_INFORMATION
      information_ref: "notice-us-2026")pb");
    AddRecipient(R"pb(
      id: "group-company"
      name: "Group Company"
      kind: RECIPIENT_KIND_JOINT_USER
      vetting_status: VETTING_STATUS_APPROVED
      vetted_time { seconds: 1767225600 }
      purposes: "support"
      joint_use { data_items: "contact" responsible_party: "the company" })pb");
    Rebuild();
  }

  void AddRecipient(const std::string& text) {
    ASSERT_OK(ParseMessage(text, WireFormat::kText, *proto_.add_recipients()));
  }

  void Rebuild() {
    absl::StatusOr<std::unique_ptr<const RecipientRegistry>> r =
        RecipientRegistry::Create(proto_, *guard_->policy());
    ASSERT_OK(r);
    registry_ = *std::move(r);
  }

  v1::Recipient* Mutable(const std::string& id) {
    for (v1::Recipient& r : *proto_.mutable_recipients()) {
      if (r.id() == id) return &r;
    }
    ADD_FAILURE() << id;
    return proto_.mutable_recipients(0);
  }

  RecordTags Tags(const std::string& subject, const std::string& category) {
    absl::StatusOr<RecordTags> t =
        guard_->Tag(subject, category,
                    {"support", "service.operation", "marketing.promotion"}, {},
                    subject + "/" + category);
    EXPECT_TRUE(t.ok()) << t.status();
    return *std::move(t);
  }

  // The reason the single record was refused, or kUnspecified if given.
  Reason ProvideOne(const std::string& accessor, const std::string& purpose,
                    const std::string& recipient, const std::string& subject,
                    const std::string& category) {
    std::vector<RecordTags> tags{Tags(subject, category)};
    absl::StatusOr<ProvisionOutcome> out =
        Desk()->Provide(Ctx(accessor, purpose), recipient, tags);
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return Reason::kStoreUnavailable;
    if (out->provided.size() == 1) return Reason::kUnspecified;
    EXPECT_EQ(out->denied.size(), 1u);
    return out->denied.empty() ? Reason::kUnspecified
                               : out->denied[0].decision.reason();
  }

  std::vector<OwnedAuditEvent> ProvisionEvents() {
    std::vector<OwnedAuditEvent> out;
    for (const OwnedAuditEvent& e : audit_.Events()) {
      if (e.action == AuditAction::kProvision) out.push_back(e);
    }
    return out;
  }

  // A desk over the current Guard, registry and record store.
  std::unique_ptr<ProvisionDesk> Desk() {
    absl::StatusOr<std::unique_ptr<ProvisionDesk>> desk =
        ProvisionDesk::Create(guard_.get(), registry_.get(), &records_);
    EXPECT_TRUE(desk.ok()) << desk.status();
    return *std::move(desk);
  }

  v1::RecipientRegistry proto_;
  std::unique_ptr<const RecipientRegistry> registry_;
  InMemoryProvisionRecordStore records_;
};

TEST_F(ProvisionTest, ContractorReceivesContactDataForSupport) {
  std::vector<RecordTags> tags{Tags("s1", "contact"), Tags("s2", "contact")};
  absl::StatusOr<ProvisionOutcome> out =
      Desk()->Provide(Ctx("support-desk", "support"), "callcenter-tokyo", tags);
  ASSERT_OK(out);
  EXPECT_THAT(out->provided, ElementsAre(0u, 1u));
  EXPECT_THAT(out->denied, IsEmpty());
  ASSERT_FALSE(out->record_id.empty());

  absl::StatusOr<v1::ProvisionHistory> h =
      HistoryForRecipient(records_, "callcenter-tokyo");
  ASSERT_OK(h);
  ASSERT_EQ(h->provisions_size(), 1);
  const v1::ProvisionRecord& r = h->provisions(0);
  EXPECT_EQ(r.id(), out->record_id);
  EXPECT_THAT(r.subjects(), ElementsAre("s1", "s2"));
  EXPECT_THAT(r.categories(), ElementsAre("contact"));
  EXPECT_EQ(r.basis(), "contractor");
  EXPECT_EQ(r.purpose(), "support");
  EXPECT_EQ(r.accessor(), "support-desk");
  EXPECT_EQ(r.recipient_kind(), v1::RECIPIENT_KIND_CONTRACTOR);
  EXPECT_EQ(r.provision_time().seconds(), absl::ToUnixSeconds(now_));
  EXPECT_EQ(r.series_id(),
            "provision:callcenter-tokyo:RECORD_METHOD_COLLECTIVE");

  std::vector<OwnedAuditEvent> ev = ProvisionEvents();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].recipient, "callcenter-tokyo");
  EXPECT_EQ(ev[0].subject, "s1");
  EXPECT_EQ(ev[0].record_ref, "s1/contact");
  EXPECT_EQ(ev[0].reason, Reason::kAllowedNecessary);
  // The purpose check is audited as a read too.
  EXPECT_EQ(audit_.size(), 4u);
}

TEST_F(ProvisionTest,
       CommunicationDataToContractorForSupportNeedsSpecificConsent) {
  // Without consent to support, the read check itself denies.
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "communication"),
            Reason::kNoConsent);
  // With it, the provision rule still refuses: support is not a purpose the
  // policy lists as necessary for the service, and the call-centre has no
  // consent purpose the person could have consented to.
  Set("s1", "support", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "communication"),
            Reason::kNoSpecificConsent);
  EXPECT_TRUE(HistoryForSubject(records_, "s1")->provisions().empty());
}

TEST_F(ProvisionTest,
       CommunicationDataToConfidentialContractorForServiceOperation) {
  v1::Recipient* r = Mutable("callcenter-tokyo");
  r->add_purposes("service.operation");
  Rebuild();
  EXPECT_EQ(ProvideOne("app-backend", "service.operation", "callcenter-tokyo",
                       "s1", "communication"),
            Reason::kUnspecified);
  // Without the confidentiality clause, the same provision is refused.
  r->mutable_contract()->set_confidentiality(false);
  Rebuild();
  EXPECT_EQ(ProvideOne("app-backend", "service.operation", "callcenter-tokyo",
                       "s1", "communication"),
            Reason::kNoSpecificConsent);
}

TEST_F(ProvisionTest, ThirdPartyRefusedAfterProvisionStopped) {
  Set("s1", "marketing.promotion", v1::CONSENT_STATE_GIVEN);
  Set("s1", "provision.third_party.partner_insurer", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(ProvideOne("marketing-analytics", "marketing.promotion",
                       "partner-insurer", "s1", "contact"),
            Reason::kUnspecified);
  v1::Restrictions stop;
  stop.set_third_party_provision_stopped(true);
  Restrict("s1", stop);
  EXPECT_EQ(ProvideOne("marketing-analytics", "marketing.promotion",
                       "partner-insurer", "s1", "contact"),
            Reason::kProvisionStopped);
  std::vector<OwnedAuditEvent> ev = ProvisionEvents();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].reason, Reason::kProvisionStopped);
  EXPECT_EQ(ev[1].recipient, "partner-insurer");
}

TEST_F(ProvisionTest, StopOfProvisionDoesNotBlockContractorsOrJointUsers) {
  v1::Restrictions stop;
  stop.set_third_party_provision_stopped(true);
  Restrict("s1", stop);
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "contact"),
            Reason::kUnspecified);
  EXPECT_EQ(
      ProvideOne("support-desk", "support", "group-company", "s1", "contact"),
      Reason::kUnspecified);
}

TEST_F(ProvisionTest, ThirdPartyNeedsProvisionConsent) {
  Set("s1", "marketing.promotion", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(ProvideOne("marketing-analytics", "marketing.promotion",
                       "partner-insurer", "s1", "contact"),
            Reason::kNoProvisionConsent);
  // Consent to all third-party provision covers this insurer.
  Set("s1", "provision.third_party", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(ProvideOne("marketing-analytics", "marketing.promotion",
                       "partner-insurer", "s1", "contact"),
            Reason::kUnspecified);
  // Withdrawal of the insurer's own purpose wins over the parent consent.
  Set("s1", "provision.third_party.partner_insurer",
      v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_EQ(ProvideOne("marketing-analytics", "marketing.promotion",
                       "partner-insurer", "s1", "contact"),
            Reason::kNoProvisionConsent);
}

TEST_F(ProvisionTest, ParentProvisionConsentDoesNotCountForCommunication) {
  Set("s1", "provision.third_party", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(ProvideOne("app-backend", "service.operation", "carrier-partner",
                       "s1", "contact"),
            Reason::kUnspecified);
  EXPECT_EQ(ProvideOne("app-backend", "service.operation", "carrier-partner",
                       "s1", "communication"),
            Reason::kNoSpecificConsent);
  Set("s1", "provision.third_party.partner_insurer", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(ProvideOne("app-backend", "service.operation", "carrier-partner",
                       "s1", "communication"),
            Reason::kUnspecified);
}

TEST_F(ProvisionTest, ForeignThirdPartyOnConsentNeedsConsentToExactlyIt) {
  Set("s1", "marketing.promotion", v1::CONSENT_STATE_GIVEN);
  Set("s1", "provision", v1::CONSENT_STATE_GIVEN);  // a general consent
  EXPECT_EQ(ProvideOne("marketing-analytics", "marketing.promotion", "lab-us",
                       "s1", "contact"),
            Reason::kNoProvisionConsent);
  Set("s1", "provision.foreign_third_party", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(ProvideOne("marketing-analytics", "marketing.promotion", "lab-us",
                       "s1", "contact"),
            Reason::kUnspecified);
  absl::StatusOr<v1::ProvisionHistory> h = HistoryForSubject(records_, "s1");
  ASSERT_OK(h);
  ASSERT_EQ(h->provisions_size(), 1);
  EXPECT_EQ(h->provisions(0).country(), "US");
  EXPECT_THAT(h->provisions(0).basis(),
              HasSubstr("FOREIGN_TRANSFER_BASIS_CONSENT_WITH_INFORMATION"));
}

TEST_F(ProvisionTest, ExpiredVettingRefusesEveryRecord) {
  Mutable("callcenter-tokyo")
      ->mutable_vetting_expiry()
      ->set_seconds(absl::ToUnixSeconds(now_) - 1);
  Rebuild();
  std::vector<RecordTags> tags{Tags("s1", "contact"), Tags("s2", "contact")};
  absl::StatusOr<ProvisionOutcome> out =
      Desk()->Provide(Ctx("support-desk", "support"), "callcenter-tokyo", tags);
  ASSERT_OK(out);
  EXPECT_THAT(out->provided, IsEmpty());
  ASSERT_EQ(out->denied.size(), 2u);
  EXPECT_EQ(out->denied[1].decision.reason(), Reason::kRecipientNotVetted);
  EXPECT_TRUE(out->record_id.empty());
  // No read was checked for a recipient that cannot receive; the refusal
  // is on record.
  EXPECT_EQ(audit_.size(), 2u);
  EXPECT_EQ(ProvisionEvents()[0].reason, Reason::kRecipientNotVetted);
}

TEST_F(ProvisionTest, PendingVettingIsNotVetted) {
  Mutable("callcenter-tokyo")->set_vetting_status(v1::VETTING_STATUS_SUSPENDED);
  Rebuild();
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "contact"),
            Reason::kRecipientNotVetted);
}

TEST_F(ProvisionTest, OverdueMonitoringRefuses) {
  // Last monitored 2026-06-01, every 180 days: due 2026-11-28.
  now_ = absl::FromUnixSeconds(1780272000) + absl::Hours(180 * 24);
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "contact"),
            Reason::kRecipientMonitoringOverdue);
}

TEST_F(ProvisionTest, PurposeOutsideTheRecipientsScopeRefuses) {
  EXPECT_EQ(ProvideOne("billing-service", "billing.invoicing",
                       "callcenter-tokyo", "s1", "contact"),
            Reason::kNotAllowedByPolicy);
}

TEST_F(ProvisionTest, ReadDenialsCarryOver) {
  v1::Restrictions erased;
  erased.set_erased(true);
  Restrict("s1", erased);
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "contact"),
            Reason::kSubjectErased);
  // An accessor that may not declare the purpose.
  EXPECT_EQ(ProvideOne("billing-service", "support", "callcenter-tokyo", "s2",
                       "contact"),
            Reason::kAccessorNotPermitted);
}

TEST_F(ProvisionTest, MixedBatchProvidesOnlyTheAllowed) {
  v1::Restrictions stop;
  stop.set_third_party_provision_stopped(true);
  for (const char* s : {"s1", "s2"}) {
    Set(s, "marketing.promotion", v1::CONSENT_STATE_GIVEN);
    Set(s, "provision.third_party", v1::CONSENT_STATE_GIVEN);
  }
  Restrict("s2", stop);
  std::vector<RecordTags> tags{Tags("s1", "contact"), Tags("s2", "contact"),
                               Tags("s1", "identity")};
  absl::StatusOr<ProvisionOutcome> out =
      Desk()->Provide(Ctx("marketing-analytics", "marketing.promotion"),
                      "partner-insurer", tags);
  ASSERT_OK(out);
  EXPECT_THAT(out->provided, ElementsAre(0u, 2u));
  ASSERT_EQ(out->denied.size(), 1u);
  EXPECT_EQ(out->denied[0].index, 1u);
  EXPECT_EQ(out->denied[0].decision.reason(), Reason::kProvisionStopped);
  absl::StatusOr<v1::ProvisionHistory> h =
      HistoryForRecipient(records_, "partner-insurer");
  ASSERT_OK(h);
  ASSERT_EQ(h->provisions_size(), 1);
  EXPECT_THAT(h->provisions(0).subjects(), ElementsAre("s1"));
  EXPECT_THAT(h->provisions(0).categories(),
              ElementsAre("contact", "identity"));
  EXPECT_EQ(h->provisions(0).basis(), "provision_consent");
  EXPECT_EQ(h->provisions(0).consent_purpose(),
            "provision.third_party.partner_insurer");
  EXPECT_GT(h->provisions(0).consent_revisions().at("s1"), 0);
}

TEST_F(ProvisionTest, UnknownRecipientIsNotFound) {
  std::vector<RecordTags> tags{Tags("s1", "contact")};
  EXPECT_THAT(Desk()->Provide(Ctx("support-desk", "support"), "nobody", tags),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'nobody'")));
}

TEST_F(ProvisionTest, ConsentStoreOutageFailsClosed) {
  store_.SetUnavailableForTesting(true);
  std::vector<RecordTags> tags{Tags("s1", "contact")};
  EXPECT_THAT(
      Desk()->Provide(Ctx("support-desk", "support"), "callcenter-tokyo", tags),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unavailable")));
  store_.SetUnavailableForTesting(false);
  EXPECT_TRUE(
      HistoryForRecipient(records_, "callcenter-tokyo")->provisions().empty());
}

TEST_F(ProvisionTest, RecordStoreOutageFailsClosed) {
  records_.SetUnavailableForTesting(true);
  std::vector<RecordTags> tags{Tags("s1", "contact")};
  EXPECT_THAT(
      Desk()->Provide(Ctx("support-desk", "support"), "callcenter-tokyo", tags),
      StatusIs(absl::StatusCode::kUnavailable,
               HasSubstr("provision record could not be written")));
}

TEST_F(ProvisionTest, AuditOutageFailsClosed) {
  audit_.SetFailingForTesting(true);
  std::vector<RecordTags> tags{Tags("s1", "contact")};
  EXPECT_THAT(
      Desk()->Provide(Ctx("support-desk", "support"), "callcenter-tokyo", tags),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("audit")));
}

TEST_F(ProvisionTest, CreateRejectsNullArguments) {
  EXPECT_THAT(ProvisionDesk::Create(nullptr, registry_.get(), &records_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("null")));
  EXPECT_THAT(ProvisionDesk::Create(guard_.get(), nullptr, &records_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("null")));
  EXPECT_THAT(ProvisionDesk::Create(guard_.get(), registry_.get(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("null")));
}

TEST_F(ProvisionTest, ProvideProtectedGivesTheTaggedValues) {
  std::vector<Protected<std::string>> values;
  values.emplace_back(Tags("s1", "contact"), "03-1234-5678");
  absl::StatusOr<ProvisionOutcome> out = Desk()->ProvideProtected<std::string>(
      Ctx("support-desk", "support"), "callcenter-tokyo", values);
  ASSERT_OK(out);
  EXPECT_THAT(out->provided, ElementsAre(0u));
}

// --- Monitoring results and sub-contractors (policy §5; APPI Art. 25) ------

TEST_F(ProvisionTest, FailedMonitoringRefusesTheContractor) {
  // now_ is 2026-09-21, within the call-centre's monitoring interval.
  v1::MonitoringResult* m =
      Mutable("callcenter-tokyo")->add_monitoring_results();
  m->set_monitored_by("Privacy Officer");
  m->mutable_time()->set_seconds(absl::ToUnixSeconds(now_) - 3600);
  m->set_outcome(v1::MONITORING_OUTCOME_FAILED);
  m->add_findings("operators share one login");
  Rebuild();
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "contact"),
            Reason::kRecipientMonitoringFailed);
  EXPECT_EQ(ProvisionEvents()[0].reason, Reason::kRecipientMonitoringFailed);
  // A later pass lifts it.
  v1::MonitoringResult* pass =
      Mutable("callcenter-tokyo")->add_monitoring_results();
  *pass = *m;
  pass->set_outcome(v1::MONITORING_OUTCOME_PASSED);
  pass->mutable_time()->set_seconds(absl::ToUnixSeconds(now_) - 60);
  Rebuild();
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "contact"),
            Reason::kUnspecified);
}

class SubcontractorProvisionTest : public ProvisionTest {
 protected:
  void SetUp() override {
    ProvisionTest::SetUp();
    AddRecipient(R"pb(
      id: "night-shift"
      name: "Night Shift Co."
      kind: RECIPIENT_KIND_CONTRACTOR
      vetting_status: VETTING_STATUS_APPROVED
      vetted_time { seconds: 1767225600 }
      contract { contract_ref: "SUB-1" safety_measures: "same clauses" }
      monitoring_interval { seconds: 15552000 }
      last_monitored_time { seconds: 1780272000 }
      purposes: "support")pb");
    v1::ContractClauses* c = Mutable("callcenter-tokyo")->mutable_contract();
    c->set_subcontracting_allowed(true);
    c->set_subcontracting_conditions("prior written approval, same clauses");
    v1::SubContractor* s = c->add_subcontractors();
    s->set_name("Night Shift Co.");
    s->set_recipient_id("night-shift");
    Rebuild();
  }
};

TEST_F(SubcontractorProvisionTest, VettedSubcontractorLetsProvisionThrough) {
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "contact"),
            Reason::kUnspecified);
}

TEST_F(SubcontractorProvisionTest, UnvettedSubcontractorRefusesTheContractor) {
  Mutable("night-shift")->set_vetting_status(v1::VETTING_STATUS_PENDING);
  Rebuild();
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "contact"),
            Reason::kRecipientNotVetted);
  // Provision to the sub-contractor itself is checked as to any contractor.
  EXPECT_EQ(
      ProvideOne("support-desk", "support", "night-shift", "s1", "contact"),
      Reason::kRecipientNotVetted);
  EXPECT_THAT(records_.Query(RecordFilter{})->provisions(), IsEmpty());
}

TEST_F(SubcontractorProvisionTest, OverdueSubcontractorRefusesTheContractor) {
  now_ = absl::FromUnixSeconds(1780272000) + absl::Hours(180 * 24);
  // The contractor itself is monitored up to date.
  Mutable("callcenter-tokyo")
      ->mutable_last_monitored_time()
      ->set_seconds(absl::ToUnixSeconds(now_) - 3600);
  Rebuild();
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "contact"),
            Reason::kRecipientMonitoringOverdue);
}

TEST_F(SubcontractorProvisionTest, FailedSubcontractorRefusesTheContractor) {
  v1::MonitoringResult* m = Mutable("night-shift")->add_monitoring_results();
  m->set_monitored_by("Tokyo Call-Centre audit team");
  m->mutable_time()->set_seconds(absl::ToUnixSeconds(now_) - 3600);
  m->set_outcome(v1::MONITORING_OUTCOME_FAILED);
  m->add_findings("data copied to personal devices");
  Rebuild();
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "contact"),
            Reason::kRecipientMonitoringFailed);
}

TEST_F(SubcontractorProvisionTest, UnregisteredSubcontractorIsNotVetted) {
  Mutable("callcenter-tokyo")
      ->mutable_contract()
      ->mutable_subcontractors(0)
      ->clear_recipient_id();
  Rebuild();
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "contact"),
            Reason::kRecipientNotVetted);
}

TEST_F(SubcontractorProvisionTest, SecondLevelSubcontractorIsChecked) {
  AddRecipient(R"pb(
    id: "print-shop"
    name: "Print Shop"
    kind: RECIPIENT_KIND_CONTRACTOR
    vetting_status: VETTING_STATUS_REJECTED
    contract { contract_ref: "SUB-2" safety_measures: "same clauses" }
    monitoring_interval { seconds: 15552000 }
    purposes: "support")pb");
  v1::ContractClauses* c = Mutable("night-shift")->mutable_contract();
  c->set_subcontracting_allowed(true);
  c->set_subcontracting_conditions("prior written approval");
  c->add_subcontractors()->set_name("Print Shop");
  c->mutable_subcontractors(0)->set_recipient_id("print-shop");
  Rebuild();
  EXPECT_EQ(ProvideOne("support-desk", "support", "callcenter-tokyo", "s1",
                       "contact"),
            Reason::kRecipientNotVetted);
}

}  // namespace
}  // namespace consentry
