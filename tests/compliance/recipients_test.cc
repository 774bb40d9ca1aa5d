// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RecipientRegistry validation and status, retention periods of provision
// records, the audited purge, receipts and reports
// (src/compliance/recipients.cc).

#include "consentry/recipients.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "consentry/proto_io.h"
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

const absl::TimeZone kJst = absl::FixedTimeZone(9 * 3600);

absl::Time Jst(int y, int m, int d, int h = 0) {
  return absl::FromCivil(absl::CivilHour(y, m, d, h), kJst);
}

using testing::ShippedRecipientRegistry;

TEST(RecipientRegistryTest, DefaultRegistryIsValid) {
  std::shared_ptr<const CompiledPolicy> policy = testing::DefaultPolicy();
  absl::StatusOr<std::unique_ptr<const RecipientRegistry>> r =
      RecipientRegistry::Create(ShippedRecipientRegistry(), *policy);
  ASSERT_OK(r);
  ASSERT_NE((*r)->Find("callcenter-tokyo"), nullptr);
  EXPECT_EQ((*r)->Find("callcenter-tokyo")->kind(),
            v1::RECIPIENT_KIND_CONTRACTOR);
  EXPECT_EQ((*r)->Find("partner-insurer")->kind(),
            v1::RECIPIENT_KIND_THIRD_PARTY);
  EXPECT_EQ((*r)->Find("nobody"), nullptr);
}

// One mutation of the default call-centre entry (recipients[0]) or the
// insurer (recipients[1]), and the error it must give.
struct BadCase {
  const char* name;
  void (*mutate)(v1::RecipientRegistry&);
  const char* message;
};

class RegistryValidationTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(RegistryValidationTest, RejectsWithFieldPath) {
  v1::RecipientRegistry r = ShippedRecipientRegistry();
  GetParam().mutate(r);
  EXPECT_THAT(RecipientRegistry::Create(r, *testing::DefaultPolicy()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(GetParam().message)));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RegistryValidationTest,
    ::testing::Values(
        BadCase{"BadId",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)->set_id("Call Centre");
                },
                "recipients[0].id: 'Call Centre' is not a valid recipient id"},
        BadCase{"DuplicateId",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(1)->set_id("callcenter-tokyo");
                },
                "duplicate id 'callcenter-tokyo'"},
        BadCase{"NoName",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)->clear_name();
                },
                "recipients[0].name: must not be empty"},
        BadCase{"NameTooLongToRecord",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)->set_name(
                      std::string(kMaxRecordTextBytes + 1, 'n'));
                },
                "recipients[0].name: has 16385 bytes, more than the record "
                "limit"},
        BadCase{"UnknownKind",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)->set_kind(
                      static_cast<v1::RecipientKind>(17));
                },
                "recipients[0].kind: unknown or unspecified kind 17"},
        BadCase{"UnspecifiedKind",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)->clear_kind();
                },
                "recipients[0].kind: unknown or unspecified kind 0"},
        BadCase{"UnspecifiedVetting",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)->clear_vetting_status();
                },
                "recipients[0].vetting_status"},
        BadCase{"ApprovedWithoutTime",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)->clear_vetted_time();
                },
                "recipients[0].vetted_time: required when vetting is approved"},
        BadCase{"ContractorWithoutContract",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)->clear_contract();
                },
                "recipients[0].contract: required for a contractor"},
        BadCase{"ContractorWithoutSafetyMeasures",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)
                      ->mutable_contract()
                      ->clear_safety_measures();
                },
                "recipients[0].contract.safety_measures"},
        BadCase{"SubcontractorsWhenNotAllowed",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)
                      ->mutable_contract()
                      ->add_subcontractors()
                      ->set_name("Night shift K.K.");
                },
                "recipients[0].contract.subcontractors: 1 sub-contractor(s) "
                "listed but contract.subcontracting_allowed is false"},
        BadCase{"SubcontractingWithoutConditions",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)
                      ->mutable_contract()
                      ->set_subcontracting_allowed(true);
                },
                "recipients[0].contract.subcontracting_conditions"},
        BadCase{"UnnamedSubcontractor",
                [](v1::RecipientRegistry& r) {
                  v1::ContractClauses* c =
                      r.mutable_recipients(0)->mutable_contract();
                  c->set_subcontracting_allowed(true);
                  c->set_subcontracting_conditions("prior written approval");
                  c->add_subcontractors()->set_name("A");
                  c->add_subcontractors();
                },
                "recipients[0].contract.subcontractors[1].name"},
        BadCase{"ContractorNotMonitored",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)->clear_monitoring_interval();
                },
                "recipients[0].monitoring_interval: a contractor must be "
                "monitored periodically"},
        BadCase{"NegativeInterval",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)
                      ->mutable_monitoring_interval()
                      ->set_seconds(-1);
                },
                "recipients[0].monitoring_interval: must not be negative"},
        BadCase{"VettedTimeNanosOutOfRange",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)->mutable_vetted_time()->set_nanos(-5);
                },
                "recipients[0].vetted_time: timestamp {seconds: 1767225600 "
                "nanos: -5} is outside years 1 to 9999"},
        // Monitored after the year 9999: the monitoring would never fall
        // due, and the contractor would escape it.
        BadCase{"LastMonitoredBeyondYear9999",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)
                      ->mutable_last_monitored_time()
                      ->set_seconds(9'223'372'036'000'000'000);
                },
                "recipients[0].last_monitored_time: timestamp"},
        BadCase{
            "ExpiryBeforeYearOne",
            [](v1::RecipientRegistry& r) {
              r.mutable_recipients(0)->mutable_vetting_expiry()->set_seconds(
                  -62'135'596'801);
            },
            "recipients[0].vetting_expiry: timestamp"},
        BadCase{"SignedTimeOutOfRange",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)
                      ->mutable_contract()
                      ->mutable_signed_time()
                      ->set_nanos(1'000'000'000);
                },
                "recipients[0].contract.signed_time: timestamp"},
        BadCase{"IntervalBeyondRange",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)
                      ->mutable_monitoring_interval()
                      ->set_seconds(315'576'000'001);
                },
                "recipients[0].monitoring_interval: duration {seconds: "
                "315576000001 nanos: 0} is not a valid duration"},
        BadCase{
            "IntervalWithNanosOfTheOtherSign",
            [](v1::RecipientRegistry& r) {
              r.mutable_recipients(0)->mutable_monitoring_interval()->set_nanos(
                  -1);
            },
            "recipients[0].monitoring_interval: duration"},
        BadCase{"NoPurposes",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)->clear_purposes();
                },
                "recipients[0].purposes: at least one purpose"},
        BadCase{"UnknownPurpose",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(0)->add_purposes("support.fraud");
                },
                "recipients[0].purposes[1]: unknown purpose 'support.fraud'"},
        BadCase{"ThirdPartyWithoutConsentPurpose",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(1)->clear_consent_purpose();
                },
                "recipients[1].consent_purpose: required for a third party"},
        BadCase{"UnknownConsentPurpose",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(1)->set_consent_purpose("provision.x");
                },
                "recipients[1].consent_purpose: unknown purpose 'provision.x'"},
        BadCase{"CountryOnDomesticThirdParty",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(1)->set_country("US");
                },
                "recipients[1].country: set only for foreign third parties"},
        BadCase{"ForeignWithoutCountry",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(1)->set_kind(
                      v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY);
                },
                "recipients[1].country: '' is not an ISO 3166-1 alpha-2 code"},
        BadCase{"ForeignWithoutBasis",
                [](v1::RecipientRegistry& r) {
                  r.mutable_recipients(1)->set_kind(
                      v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY);
                  r.mutable_recipients(1)->set_country("US");
                },
                "recipients[1].foreign_basis: unknown or unspecified basis 0"},
        BadCase{"EquivalentCountryNotDesignated",
                [](v1::RecipientRegistry& r) {
                  v1::Recipient* x = r.mutable_recipients(1);
                  x->set_kind(v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY);
                  x->set_country("US");
                  x->set_foreign_basis(
                      v1::FOREIGN_TRANSFER_BASIS_EQUIVALENT_COUNTRY);
                },
                "recipients[1].foreign_basis: country 'US' is not designated"},
        BadCase{"EquivalentMeasuresNotMonitored",
                [](v1::RecipientRegistry& r) {
                  v1::Recipient* x = r.mutable_recipients(1);
                  x->set_kind(v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY);
                  x->set_country("US");
                  x->set_foreign_basis(
                      v1::FOREIGN_TRANSFER_BASIS_EQUIVALENT_MEASURES);
                },
                "recipients[1].monitoring_interval: required on equivalent "
                "measures"},
        BadCase{"ConsentWithoutInformation",
                [](v1::RecipientRegistry& r) {
                  v1::Recipient* x = r.mutable_recipients(1);
                  x->set_kind(v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY);
                  x->set_country("US");
                  x->set_foreign_basis(
                      v1::FOREIGN_TRANSFER_BASIS_CONSENT_WITH_INFORMATION);
                },
                "recipients[1].information_ref"},
        BadCase{
            "JointUserWithoutTerms",
            [](v1::RecipientRegistry& r) {
              r.mutable_recipients(1)->set_kind(v1::RECIPIENT_KIND_JOINT_USER);
            },
            "recipients[1].joint_use: a joint user needs the notified terms"}),
    [](const ::testing::TestParamInfo<BadCase>& c) { return c.param.name; });

TEST(RecipientRegistryTest, EquivalentCountryInTheEeaIsAccepted) {
  v1::RecipientRegistry r = ShippedRecipientRegistry();
  v1::Recipient* x = r.mutable_recipients(1);
  x->set_kind(v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY);
  x->set_country("DE");
  x->set_foreign_basis(v1::FOREIGN_TRANSFER_BASIS_EQUIVALENT_COUNTRY);
  EXPECT_OK(RecipientRegistry::Create(r, *testing::DefaultPolicy()));
  EXPECT_TRUE(IsEquivalentSystemCountry("GB"));
  EXPECT_FALSE(IsEquivalentSystemCountry("US"));
  EXPECT_FALSE(IsEquivalentSystemCountry("de"));
}

TEST(RecipientRegistryTest, StatusFollowsVettingAndMonitoring) {
  v1::Recipient r =
      ShippedRecipientRegistry().recipients(0);  // the call-centre
  // Vetted 2026-01-01, expires 2028-01-01; monitored 2026-06-01 every 180 d.
  const absl::Time monitored = absl::FromUnixSeconds(1780272000);
  EXPECT_EQ(RecipientRegistry::StatusAt(r, monitored), Reason::kUnspecified);
  EXPECT_EQ(RecipientRegistry::MonitoringDue(r),
            monitored + absl::Hours(24 * 180));
  EXPECT_EQ(RecipientRegistry::StatusAt(r, monitored + absl::Hours(24 * 180)),
            Reason::kRecipientMonitoringOverdue);
  // Before vetting, and after its expiry.
  EXPECT_EQ(RecipientRegistry::StatusAt(r, absl::FromUnixSeconds(1767225599)),
            Reason::kRecipientNotVetted);
  EXPECT_EQ(RecipientRegistry::StatusAt(r, absl::FromUnixSeconds(1830297600)),
            Reason::kRecipientNotVetted);
  // Never monitored: counted from the vetting.
  r.clear_last_monitored_time();
  EXPECT_EQ(RecipientRegistry::MonitoringDue(r),
            absl::FromUnixSeconds(1767225600) + absl::Hours(24 * 180));
  r.set_vetting_status(v1::VETTING_STATUS_PENDING);
  EXPECT_EQ(RecipientRegistry::StatusAt(r, monitored),
            Reason::kRecipientNotVetted);
}

TEST(ProvisionRecordRetentionTest, PeriodsFollowTheRecordMethod) {
  const absl::Time made = Jst(2026, 3, 10, 15);
  const absl::Time last = Jst(2026, 8, 20, 9);
  EXPECT_EQ(RetentionEnd(v1::RECORD_METHOD_PER_PROVISION, made, last),
            Jst(2029, 3, 10));
  EXPECT_EQ(RetentionEnd(v1::RECORD_METHOD_UNSPECIFIED, made, last),
            Jst(2029, 3, 10));
  EXPECT_EQ(RetentionEnd(v1::RECORD_METHOD_COLLECTIVE, made, last),
            Jst(2029, 8, 20));
  EXPECT_EQ(RetentionEnd(v1::RECORD_METHOD_CONTRACT_DOCUMENT, made, last),
            Jst(2027, 8, 20));
  // The day counts in Japan time: 20:00 UTC on 9 March is 10 March in JST.
  EXPECT_EQ(RetentionEnd(v1::RECORD_METHOD_PER_PROVISION,
                         absl::FromCivil(absl::CivilHour(2026, 3, 9, 20),
                                         absl::UTCTimeZone()),
                         absl::InfinitePast()),
            Jst(2029, 3, 10));
}

v1::ProvisionRecord Provision(const std::string& recipient, absl::Time t,
                              v1::RecordMethod method,
                              std::vector<std::string> subjects,
                              const std::string& series = "") {
  v1::ProvisionRecord r;
  r.set_recipient_id(recipient);
  r.mutable_provision_time()->set_seconds(absl::ToUnixSeconds(t));
  r.set_record_method(method);
  r.set_purpose("support");
  for (std::string& s : subjects) r.add_subjects(std::move(s));
  r.add_categories("contact");
  r.set_series_id(series);
  return r;
}

TEST(PurgeTest, DeletesOnlyExpiredRecordsAndAuditsEach) {
  InMemoryProvisionRecordStore store;
  InMemoryAuditSink audit;
  // Per provision, 2026-01-05: kept until 2029-01-05.
  ASSERT_OK(store.AddProvision(Provision(
      "a", Jst(2026, 1, 5), v1::RECORD_METHOD_PER_PROVISION, {"s1", "s2"})));
  // A collective series: the early record lives as long as the last one.
  ASSERT_OK(store.AddProvision(Provision(
      "b", Jst(2025, 1, 5), v1::RECORD_METHOD_COLLECTIVE, {"s1"}, "series-b")));
  ASSERT_OK(store.AddProvision(Provision(
      "b", Jst(2026, 6, 1), v1::RECORD_METHOD_COLLECTIVE, {"s3"}, "series-b")));
  // Contract document, 2027-02-01: kept until 2028-02-01.
  ASSERT_OK(store.AddProvision(Provision(
      "c", Jst(2027, 2, 1), v1::RECORD_METHOD_CONTRACT_DOCUMENT, {"s4"})));
  v1::ReceiptRecord receipt;
  receipt.set_provider_name("Old Partner");
  receipt.set_acquisition_circumstances(
      "collected on its web form with consent");
  receipt.add_subjects("s5");
  receipt.add_categories("contact");
  ASSERT_OK(RecordReceipt(*testing::DefaultPolicy(), store, receipt,
                          Jst(2025, 12, 1)));

  // 2028-06-01: only the contract-document record is past its year.
  absl::StatusOr<PurgeResult> p =
      PurgeExpiredRecords(store, &audit, "privacy-officer", Jst(2028, 6, 1));
  ASSERT_OK(p);
  ASSERT_EQ(p->provision_ids.size(), 1u);
  EXPECT_THAT(p->receipt_ids, IsEmpty());
  std::vector<OwnedAuditEvent> ev = audit.Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].action, AuditAction::kRecordsPurged);
  EXPECT_EQ(ev[0].reason, Reason::kRetentionExpired);
  EXPECT_EQ(ev[0].records_included, 1);
  EXPECT_EQ(ev[0].detail,
            absl::StrCat("provisions: ", p->provision_ids[0], "; receipts: "));
  EXPECT_EQ(ev[0].accessor, "privacy-officer");

  // 2029-01-05 00:00 JST: record a's three years end now; the receipt's
  // (2025-12-01) ended on 2028-12-01.
  audit.Clear();
  p = PurgeExpiredRecords(store, &audit, "privacy-officer", Jst(2029, 1, 5));
  ASSERT_OK(p);
  EXPECT_EQ(p->provision_ids.size(), 1u);
  EXPECT_EQ(p->receipt_ids.size(), 1u);
  ASSERT_EQ(audit.size(), 1u);  // one event for the whole purge
  EXPECT_EQ(audit.Events()[0].records_included, 2);
  // The series b: its first record (2025) stays until 2029-06-01.
  absl::StatusOr<v1::ProvisionHistory> left = store.Query(RecordFilter{});
  ASSERT_OK(left);
  EXPECT_EQ(left->provisions_size(), 2);
  p = PurgeExpiredRecords(store, &audit, "privacy-officer", Jst(2029, 6, 1));
  ASSERT_OK(p);
  EXPECT_EQ(p->provision_ids.size(), 2u);
}

TEST(PurgeTest, AuditRefusalDeletesNothing) {
  InMemoryProvisionRecordStore store;
  InMemoryAuditSink audit;
  ASSERT_OK(store.AddProvision(Provision(
      "a", Jst(2020, 1, 5), v1::RECORD_METHOD_PER_PROVISION, {"s1"})));
  audit.SetFailingForTesting(true);
  EXPECT_THAT(
      PurgeExpiredRecords(store, &audit, "privacy-officer", Jst(2026, 1, 1)),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("nothing deleted")));
  EXPECT_EQ(store.Query(RecordFilter{})->provisions_size(), 1);
  EXPECT_THAT(
      PurgeExpiredRecords(store, nullptr, "privacy-officer", Jst(2026, 1, 1)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("audited")));
  store.SetUnavailableForTesting(true);
  audit.SetFailingForTesting(false);
  EXPECT_THAT(
      PurgeExpiredRecords(store, &audit, "privacy-officer", Jst(2026, 1, 1)),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unavailable")));
}

TEST(ReceiptTest, RejectsIncompleteReceiptsNamingTheField) {
  std::shared_ptr<const CompiledPolicy> policy = testing::DefaultPolicy();
  InMemoryProvisionRecordStore store;
  v1::ReceiptRecord r;
  EXPECT_THAT(RecordReceipt(*policy, store, r, Jst(2026, 1, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("receipt.provider_name")));
  r.set_provider_name("Partner");
  EXPECT_THAT(RecordReceipt(*policy, store, r, Jst(2026, 1, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("receipt.acquisition_circumstances")));
  r.set_acquisition_circumstances("its own members, with consent");
  EXPECT_THAT(RecordReceipt(*policy, store, r, Jst(2026, 1, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("receipt.subjects")));
  r.add_subjects("s1");
  r.add_categories("dna");
  EXPECT_THAT(
      RecordReceipt(*policy, store, r, Jst(2026, 1, 1)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("receipt.categories[0]: unknown category 'dna'")));
  r.set_categories(0, "contact");
  r.set_record_method(v1::RECORD_METHOD_COLLECTIVE);
  absl::StatusOr<std::string> id =
      RecordReceipt(*policy, store, r, Jst(2026, 1, 1));
  ASSERT_OK(id);
  absl::StatusOr<v1::ProvisionHistory> h = HistoryForSubject(store, "s1");
  ASSERT_OK(h);
  ASSERT_EQ(h->receipts_size(), 1);
  EXPECT_EQ(h->receipts(0).id(), *id);
  EXPECT_EQ(h->receipts(0).receipt_time().seconds(),
            absl::ToUnixSeconds(Jst(2026, 1, 1)));
  EXPECT_EQ(h->receipts(0).series_id(),
            "receipt:Partner:RECORD_METHOD_COLLECTIVE");
  EXPECT_THAT(HistoryForSubject(store, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST(RecordStoreTest, DuplicateIdIsAlreadyExists) {
  InMemoryProvisionRecordStore store;
  v1::ProvisionRecord r =
      Provision("a", Jst(2026, 1, 1), v1::RECORD_METHOD_PER_PROVISION, {"s1"});
  r.set_id("p-1");
  ASSERT_OK(store.AddProvision(r));
  EXPECT_THAT(store.AddProvision(r),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("'p-1'")));
}

TEST(ReportTest, RecipientsDueForMonitoring) {
  absl::StatusOr<std::unique_ptr<const RecipientRegistry>> r =
      RecipientRegistry::Create(ShippedRecipientRegistry(),
                                *testing::DefaultPolicy());
  ASSERT_OK(r);
  const absl::Time due =
      absl::FromUnixSeconds(1780272000) + absl::Hours(24 * 180);
  EXPECT_THAT(RecipientsDueForMonitoring(**r, due - absl::Hours(24 * 31)),
              IsEmpty());
  std::vector<MonitoringDueEntry> soon = RecipientsDueForMonitoring(
      **r, due - absl::Hours(24 * 30), absl::Hours(24 * 30));
  ASSERT_EQ(soon.size(), 1u);
  EXPECT_EQ(soon[0].recipient_id, "callcenter-tokyo");
  EXPECT_FALSE(soon[0].overdue);
  std::vector<MonitoringDueEntry> late = RecipientsDueForMonitoring(**r, due);
  ASSERT_EQ(late.size(), 1u);  // the insurer has no monitoring interval
  EXPECT_TRUE(late[0].overdue);
  EXPECT_EQ(late[0].due, due);
}

TEST(ReportTest, ProvisionsPerRecipientAndPeriod) {
  InMemoryProvisionRecordStore store;
  ASSERT_OK(store.AddProvision(Provision(
      "b", Jst(2026, 5, 1), v1::RECORD_METHOD_PER_PROVISION, {"s1", "s2"})));
  ASSERT_OK(store.AddProvision(Provision(
      "a", Jst(2026, 5, 2), v1::RECORD_METHOD_PER_PROVISION, {"s1"})));
  ASSERT_OK(store.AddProvision(Provision(
      "b", Jst(2026, 5, 3), v1::RECORD_METHOD_PER_PROVISION, {"s2", "s3"})));
  ASSERT_OK(store.AddProvision(Provision(
      "b", Jst(2026, 6, 1), v1::RECORD_METHOD_PER_PROVISION, {"s9"})));
  absl::StatusOr<std::vector<ProvisionSummary>> s =
      ProvisionsPerRecipient(store, Jst(2026, 5, 1), Jst(2026, 6, 1));
  ASSERT_OK(s);
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0].recipient_id, "a");
  EXPECT_EQ((*s)[0].provisions, 1);
  EXPECT_EQ((*s)[1].recipient_id, "b");
  EXPECT_EQ((*s)[1].provisions, 2);
  EXPECT_EQ((*s)[1].subjects, 3);
  EXPECT_EQ((*s)[1].subject_records, 4);
  EXPECT_THAT((*s)[1].categories, ElementsAre("contact"));
  store.SetUnavailableForTesting(true);
  EXPECT_THAT(
      ProvisionsPerRecipient(store, Jst(2026, 5, 1), Jst(2026, 6, 1)),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unavailable")));
}

}  // namespace
}  // namespace consentry
