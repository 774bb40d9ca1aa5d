// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/requests.h"

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "consentry/proto_io.h"
#include "consentry/v1/policy.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_factories.h"

namespace consentry {
namespace {

using ::consentry::testing::GuardFixture;
using ::consentry::testing::IsOk;
using ::consentry::testing::SourcePath;
using ::consentry::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kWindow[] = "window:suzuki";
constexpr char kOfficer[] = "privacy-officer";

class FakeProvisions final : public ProvisionRecordSource {
 public:
  absl::StatusOr<std::vector<v1::ProvisionEntry>> ProvisionsFor(
      absl::string_view subject_id) override {
    asked.push_back(std::string(subject_id));
    std::vector<v1::ProvisionEntry> out;
    if (subject_id == "s1") {
      v1::ProvisionEntry e;
      e.set_recipient_id("lab-1");
      e.set_recipient_name("Joint study lab");
      e.set_direction("provided");
      e.add_categories("measurement");
      e.add_items("weight");
      e.set_purpose("occasion.joint_study");
      out.push_back(e);
    }
    return out;
  }
  std::vector<std::string> asked;
};

class RequestDeskTest : public GuardFixture {
 protected:
  void SetUp() override {
    GuardFixture::SetUp();
    // Contract numbers: C-1 belongs to s1, C-2 to s2.
    contracts_ = {{"C-1", "s1"}, {"C-2", "s2"}};
    options_.clock = [this] { return now_; };
    options_.resolve_identifier =
        [this](absl::string_view kind,
               absl::string_view value) -> absl::StatusOr<std::string> {
      auto it = contracts_.find(std::string(value));
      if (kind != "contract_number" || it == contracts_.end()) {
        return absl::NotFoundError("no such contract");
      }
      return it->second;
    };
    options_.hooks.erase_subject_data = [this](absl::string_view subject,
                                               absl::string_view) {
      erased_.push_back(std::string(subject));
      return erase_result_;
    };
    options_.hooks.change_record = [this](absl::string_view subject,
                                          const v1::RecordChange& change,
                                          absl::string_view) {
      changed_.push_back(std::string(subject) + "/" + change.record_ref());
      return absl::OkStatus();
    };
    options_.access_events = &events_;
    options_.provisions = &provisions_;
    MakeDesk();
  }

  void MakeDesk() {
    absl::StatusOr<std::unique_ptr<RequestDesk>> d = RequestDesk::Create(
        DefaultPolicyForDesk(), &store_, &requests_, &audit_, options_);
    ASSERT_TRUE(d.ok()) << d.status();
    desk_ = *std::move(d);
  }

  // A desk like `desk_` on another request store.
  std::unique_ptr<RequestDesk> DeskOn(RequestStore* requests) {
    absl::StatusOr<std::unique_ptr<RequestDesk>> d = RequestDesk::Create(
        DefaultPolicyForDesk(), &store_, requests, &audit_, options_);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *std::move(d) : nullptr;
  }

  std::shared_ptr<const CompiledPolicy> DefaultPolicyForDesk() {
    return guard_->policy();
  }

  static v1::SubjectRequest Intake(v1::RequestKind kind,
                                   const std::string& subject = "s1") {
    v1::SubjectRequest r;
    r.set_kind(kind);
    r.set_subject_id(subject);
    r.set_subject_kind(v1::SUBJECT_KIND_CUSTOMER);
    r.mutable_requester()->set_name("Yamada Hanako");
    if (kind != v1::REQUEST_KIND_PURPOSE_NOTICE &&
        kind != v1::REQUEST_KIND_DISCLOSURE) {
      v1::SecondIdentifier* si = r.add_identifiers();
      si->set_kind("contract_number");
      si->set_value(subject == "s1" ? "C-1" : "C-2");
    }
    if (kind == v1::REQUEST_KIND_SUSPENSION) r.add_purposes("marketing");
    if (kind == v1::REQUEST_KIND_CORRECTION) {
      v1::RecordChange* c = r.add_record_changes();
      c->set_operation(v1::RecordChange::OPERATION_CORRECT);
      c->set_record_ref("address/17");
      c->set_field("postal_address");
      c->set_requested_value("Tokyo");
    }
    return r;
  }

  std::string Receive(const v1::SubjectRequest& intake) {
    absl::StatusOr<v1::SubjectRequest> r = desk_->Receive(intake, kWindow);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->id() : "";
  }

  // Takes a request through the procedure up to PROCESSING.
  std::string ToProcessing(const v1::SubjectRequest& intake) {
    const std::string id = Receive(intake);
    EXPECT_OK(desk_->SendForm(id, kWindow));
    EXPECT_OK(desk_->RecordFormReturned(id, "mailroom"));
    absl::StatusOr<v1::SubjectRequest> r = desk_->Get(id);
    if (r.ok() && r->fee().amount_jpy() > 0) {
      EXPECT_OK(desk_->RecordFeePaid(id, "accounts", "transfer-1"));
    }
    EXPECT_OK(
        desk_->VerifyIdentity(id, kWindow, {intake.subject_id(), "licence"}));
    if (intake.has_agent()) {
      EXPECT_OK(desk_->VerifyAgentAuthority(id, kWindow, "power of attorney"));
    }
    EXPECT_OK(desk_->StartProcessing(id, kOfficer));
    return id;
  }

  v1::RequestState State(const std::string& id) {
    absl::StatusOr<v1::SubjectRequest> r = desk_->Get(id);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->state() : v1::REQUEST_STATE_UNSPECIFIED;
  }

  std::vector<OwnedAuditEvent> RequestEvents() {
    std::vector<OwnedAuditEvent> out;
    for (OwnedAuditEvent& e : audit_.Events()) {
      if (e.action == AuditAction::kRequest) out.push_back(std::move(e));
    }
    return out;
  }

  absl::flat_hash_map<std::string, std::string> contracts_;
  std::vector<std::string> erased_;
  std::vector<std::string> changed_;
  absl::Status erase_result_ = absl::OkStatus();
  InMemoryRequestStore requests_;
  InMemoryAccessEventSource events_{&audit_};
  FakeProvisions provisions_;
  RequestDeskOptions options_;
  std::unique_ptr<RequestDesk> desk_;
};

// --- The procedure ----------------------------------------------------------

TEST_F(RequestDeskTest, DisclosureRunsFromReceiptToWrittenAnswer) {
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(CheckReason("statistics-job", "statistics.measurement", "s1",
                        "measurement"),
            Reason::kAllowedConsent);

  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE));
  EXPECT_EQ(State(id), v1::REQUEST_STATE_RECEIVED);
  now_ += absl::Hours(1);
  absl::StatusOr<v1::SubjectRequest> sent = desk_->SendForm(id, kWindow);
  ASSERT_OK(sent);
  EXPECT_EQ(sent->fee().amount_jpy(), 1600);
  EXPECT_THAT(sent->fee().payment_method().ja(), HasSubstr("当社指定"));
  now_ += absl::Hours(24);
  ASSERT_OK(desk_->RecordFeePaid(id, "accounts", "transfer-42"));
  ASSERT_OK(desk_->RecordFormReturned(id, "mailroom"));
  ASSERT_OK(desk_->VerifyIdentity(id, kWindow, {"s1", "licence copy"}));
  ASSERT_OK(desk_->StartProcessing(id, kOfficer));
  absl::StatusOr<RequestOutcome> out = desk_->Execute(id, kOfficer);
  ASSERT_OK(out);
  ASSERT_OK(desk_->Answer(id, kWindow, "letter-118"));

  absl::StatusOr<v1::SubjectRequest> r = desk_->Get(id);
  ASSERT_OK(r);
  EXPECT_EQ(r->state(), v1::REQUEST_STATE_ANSWERED);
  EXPECT_EQ(r->answer_ref(), "letter-118");
  EXPECT_EQ(r->answer_route().channel(), v1::ANSWER_CHANNEL_WRITING);
  std::vector<std::string> steps;
  for (const v1::Transition& t : r->transitions()) {
    steps.push_back(t.step());
    EXPECT_EQ(t.time().seconds() >= absl::ToUnixSeconds(now_) - 3600 * 25,
              true);
  }
  EXPECT_THAT(steps, ElementsAre("received", "form_sent", "fee_paid",
                                 "form_returned", "identity_verified",
                                 "processing_started", "executed", "answered"));
  EXPECT_EQ(r->transitions(0).time().seconds(),
            absl::ToUnixSeconds(now_) - 25 * 3600);
  EXPECT_EQ(r->transitions(7).actor(), kWindow);

  // Each step is audited as a request event.
  std::vector<std::string> audited;
  for (const OwnedAuditEvent& e : RequestEvents()) {
    EXPECT_EQ(e.subject, "s1");
    EXPECT_EQ(e.request_kind, "disclosure");
    audited.push_back(e.purpose);
  }
  EXPECT_THAT(audited,
              ElementsAre("received", "form_sent", "fee_paid", "form_returned",
                          "identity_verified", "processing_started", "executed",
                          "answered"));

  // The package: consent, access events, provisions, requests.
  const v1::DisclosurePackage& pkg = out->package;
  EXPECT_EQ(pkg.subject_id(), "s1");
  EXPECT_EQ(pkg.request_id(), id);
  ASSERT_EQ(pkg.consent().purposes_size(), 1);
  ASSERT_EQ(pkg.access_events_size(), 1);
  EXPECT_EQ(pkg.access_events(0).accessor(), "statistics-job");
  EXPECT_EQ(pkg.access_events(0).category(), "measurement");
  EXPECT_EQ(pkg.access_events(0).purpose(), "statistics.measurement");
  EXPECT_TRUE(pkg.access_events(0).allowed());
  ASSERT_EQ(pkg.provisions_size(), 1);
  EXPECT_EQ(pkg.provisions(0).recipient_id(), "lab-1");
  ASSERT_EQ(pkg.requests_size(), 1);
  EXPECT_EQ(pkg.requests(0).id(), id);
  EXPECT_THAT(pkg.omitted_sections(),
              ElementsAre(HasSubstr("consent_history"),
                          HasSubstr("consent_receipts: not signed")));

  // JSON round-trips; the documents are in both languages.
  v1::DisclosurePackage parsed;
  ASSERT_OK(ParseMessage(out->json, WireFormat::kJson, parsed));
  EXPECT_EQ(parsed.access_events_size(), 1);
  EXPECT_THAT(out->document_ja, HasSubstr("保有個人データの開示"));
  EXPECT_THAT(out->document_ja, HasSubstr("測定データの統計分析"));
  EXPECT_THAT(out->document_ja, HasSubstr("statistics-job"));
  EXPECT_THAT(out->document_en,
              HasSubstr("Disclosure of your retained personal data"));
  EXPECT_THAT(out->document_en,
              HasSubstr("Statistical analysis of measurement data"));
  EXPECT_THAT(out->document_en, HasSubstr("Joint study lab"));
}

TEST_F(RequestDeskTest, DisclosurePackageIncludesHistoryWhenSourceGiven) {
  class History final : public ConsentHistorySource {
   public:
    absl::StatusOr<std::vector<v1::ConsentRecord>> HistoryFor(
        absl::string_view subject) override {
      v1::ConsentRecord r;
      r.set_subject_id(std::string(subject));
      r.set_revision(1);
      return std::vector<v1::ConsentRecord>{r};
    }
  } history;
  options_.consent_history = &history;
  MakeDesk();
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_DISCLOSURE));
  absl::StatusOr<RequestOutcome> out = desk_->Execute(id, kOfficer);
  ASSERT_OK(out);
  ASSERT_EQ(out->package.consent_history_size(), 1);
  EXPECT_THAT(out->package.omitted_sections(),
              Not(::testing::Contains(HasSubstr("history"))));
}

// The store's record versions, as consentctl hands them to the desk.
class StoreHistory final : public ConsentHistorySource {
 public:
  explicit StoreHistory(ConsentStore* store) : store_(store) {}
  absl::StatusOr<std::vector<v1::ConsentRecord>> HistoryFor(
      absl::string_view subject) override {
    absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> h =
        store_->History(subject);
    if (!h.ok()) return h.status();
    std::vector<v1::ConsentRecord> out;
    for (const v1::ConsentHistoryEntry& e : *h) out.push_back(e.state());
    return out;
  }

 private:
  ConsentStore* store_;
};

std::unique_ptr<FileKeyProvider> ReceiptKeys() {
  absl::StatusOr<std::unique_ptr<FileKeyProvider>> k = FileKeyProvider::Open(
      {.paths = {SourcePath("tests/testdata/receipt_keys")},
       .signing_key_file = SourcePath("tests/testdata/receipt_keys/2026.pem")});
  EXPECT_TRUE(k.ok()) << k.status();
  return k.ok() ? *std::move(k) : nullptr;
}

TEST_F(RequestDeskTest, DisclosurePackageIncludesSignedConsentReceipts) {
  Set("s1", "marketing.research", v1::CONSENT_STATE_GIVEN);
  Set("s2", "marketing.research", v1::CONSENT_STATE_GIVEN);
  Set("s1", "marketing.research", v1::CONSENT_STATE_WITHDRAWN);
  StoreHistory history(&store_);
  std::unique_ptr<FileKeyProvider> keys = ReceiptKeys();
  ASSERT_NE(keys, nullptr);
  options_.consent_history = &history;
  options_.receipt_keys = keys.get();
  options_.receipt_controller = {"Example Health K.K.", "03-0000-0000"};
  MakeDesk();
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_DISCLOSURE));
  absl::StatusOr<RequestOutcome> out = desk_->Execute(id, kOfficer);
  ASSERT_OK(out);
  const v1::DisclosurePackage& pkg = out->package;
  ASSERT_EQ(pkg.consent_receipts_size(), 2);
  std::vector<std::string> states;
  for (const std::string& json : pkg.consent_receipts()) {
    absl::StatusOr<ConsentReceipt> r = VerifyReceipt(json, *keys);
    ASSERT_OK(r);
    EXPECT_EQ(r->subject_id, "s1");
    EXPECT_EQ(r->controller.name, "Example Health K.K.");
    ASSERT_EQ(r->purposes.size(), 1u);
    states.push_back(r->purposes[0].state);
    EXPECT_THAT(out->document_en, HasSubstr(r->receipt_id));
    EXPECT_THAT(out->document_ja, HasSubstr(r->key_id));
  }
  EXPECT_EQ(states, (std::vector<std::string>{"given", "withdrawn"}));
  EXPECT_THAT(pkg.omitted_sections(),
              Not(::testing::Contains(HasSubstr("consent_receipts"))));
  EXPECT_THAT(out->document_en, HasSubstr("## 7. Consent receipts"));
  EXPECT_THAT(out->document_ja, HasSubstr("## 7. 同意の受領書"));
}

TEST_F(RequestDeskTest, DisclosureWithoutSigningKeyHasUnsignedReceipts) {
  Set("s1", "marketing.research", v1::CONSENT_STATE_GIVEN);
  MakeDesk();
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_DISCLOSURE));
  absl::StatusOr<RequestOutcome> out = desk_->Execute(id, kOfficer);
  ASSERT_OK(out);
  ASSERT_EQ(out->package.consent_receipts_size(), 1);
  std::unique_ptr<FileKeyProvider> keys = ReceiptKeys();
  ASSERT_NE(keys, nullptr);
  EXPECT_THAT(
      VerifyReceipt(out->package.consent_receipts(0), *keys),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not signed")));
  EXPECT_THAT(out->package.omitted_sections(),
              ::testing::Contains(HasSubstr("consent_receipts: not signed")));
  EXPECT_THAT(out->document_en, HasSubstr("| unsigned |"));
}

TEST_F(RequestDeskTest, ReceiptSigningOutageFailsAndLeavesRequestProcessing) {
  class Down final : public SigningKeyProvider {
   public:
    absl::StatusOr<std::string> PublicKey(absl::string_view) override {
      return absl::UnavailableError("kms offline");
    }
    absl::StatusOr<std::string> CurrentKeyId() override {
      return absl::UnavailableError("kms offline");
    }
    absl::StatusOr<std::string> Sign(absl::string_view,
                                     absl::string_view) override {
      return absl::UnavailableError("kms offline");
    }
  } down;
  Set("s1", "marketing.research", v1::CONSENT_STATE_GIVEN);
  options_.receipt_keys = &down;
  MakeDesk();
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_DISCLOSURE));
  EXPECT_THAT(desk_->Execute(id, kOfficer),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("kms")));
  EXPECT_EQ(State(id), v1::REQUEST_STATE_PROCESSING);
}

TEST_F(RequestDeskTest, DisclosureSourceOutageFailsAndLeavesRequestProcessing) {
  class Down final : public AccessEventSource {
   public:
    absl::StatusOr<std::vector<OwnedAuditEvent>> EventsFor(
        absl::string_view) override {
      return absl::UnavailableError("audit log offline");
    }
  } down;
  options_.access_events = &down;
  MakeDesk();
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_DISCLOSURE));
  EXPECT_THAT(
      desk_->Execute(id, kOfficer),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("audit log offline")));
  EXPECT_EQ(State(id), v1::REQUEST_STATE_PROCESSING);
}

TEST_F(RequestDeskTest, FeeOnlyForPurposeNoticeAndDisclosure) {
  EXPECT_TRUE(FeeAllowed(v1::REQUEST_KIND_DISCLOSURE));
  EXPECT_TRUE(FeeAllowed(v1::REQUEST_KIND_PURPOSE_NOTICE));
  for (v1::RequestKind kind :
       {v1::REQUEST_KIND_CORRECTION, v1::REQUEST_KIND_SUSPENSION,
        v1::REQUEST_KIND_ERASURE, v1::REQUEST_KIND_PROVISION_STOP,
        v1::REQUEST_KIND_PURPOSE_NOTICE}) {
    SCOPED_TRACE(RequestKindName(kind));
    EXPECT_EQ(FeeAllowed(kind), kind == v1::REQUEST_KIND_PURPOSE_NOTICE);
    const std::string id = Receive(Intake(kind));
    absl::StatusOr<v1::SubjectRequest> sent = desk_->SendForm(id, kWindow);
    ASSERT_OK(sent);
    // The default policy charges for disclosure only.
    EXPECT_EQ(sent->fee().amount_jpy(), 0);
    EXPECT_THAT(desk_->RecordFeePaid(id, "accounts", "x"),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("no fee is due")));
  }
}

TEST_F(RequestDeskTest, NegativeFeeInPolicyIsRejected) {
  v1::Policy proto = guard_->policy()->proto();
  proto.mutable_requests()->set_disclosure_fee_jpy(-1);
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
      CompiledPolicy::Compile(proto);
  ASSERT_OK(p);
  EXPECT_THAT(RequestDesk::Create(*p, &store_, &requests_, &audit_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("requests.disclosure_fee_jpy")));
  EXPECT_THAT(RequestDesk::Create(*p, &store_, nullptr, &audit_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("null")));
}

// --- Refused transitions ----------------------------------------------------

TEST_F(RequestDeskTest, ProcessingBeforeFeePaidIsRefused) {
  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE));
  ASSERT_OK(desk_->SendForm(id, kWindow));
  ASSERT_OK(desk_->RecordFormReturned(id, "mailroom"));
  ASSERT_OK(desk_->VerifyIdentity(id, kWindow, {"s1", "licence"}));
  EXPECT_THAT(desk_->StartProcessing(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("fee of 1600 JPY not paid")));
  EXPECT_EQ(State(id), v1::REQUEST_STATE_FORM_SENT);
}

TEST_F(RequestDeskTest, ProcessingBeforeIdentityVerifiedIsRefused) {
  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE));
  ASSERT_OK(desk_->SendForm(id, kWindow));
  ASSERT_OK(desk_->RecordFormReturned(id, "mailroom"));
  ASSERT_OK(desk_->RecordFeePaid(id, "accounts", "t"));
  EXPECT_THAT(desk_->StartProcessing(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("identity not verified")));
}

TEST_F(RequestDeskTest, ProcessingWithoutReturnedFormNamesEverythingMissing) {
  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE));
  ASSERT_OK(desk_->SendForm(id, kWindow));
  EXPECT_THAT(desk_->StartProcessing(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("application form not returned"),
                             HasSubstr("fee of 1600 JPY not paid"),
                             HasSubstr("identity not verified"))));
}

TEST_F(RequestDeskTest, ProcessingBeforeFormSentIsRefused) {
  const std::string id = Receive(Intake(v1::REQUEST_KIND_PURPOSE_NOTICE));
  EXPECT_THAT(desk_->StartProcessing(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("in state received")));
}

TEST_F(RequestDeskTest, AgentRequestWithoutAgentDocumentsIsRefused) {
  v1::SubjectRequest intake = Intake(v1::REQUEST_KIND_DISCLOSURE);
  intake.mutable_agent()->set_name("Yamada Taro");
  intake.mutable_agent()->set_kind(v1::AGENT_KIND_DELEGATED);
  const std::string id = Receive(intake);
  ASSERT_OK(desk_->SendForm(id, kWindow));
  ASSERT_OK(desk_->RecordFormReturned(id, "mailroom"));
  ASSERT_OK(desk_->RecordFeePaid(id, "accounts", "t"));
  ASSERT_OK(desk_->VerifyIdentity(id, kWindow, {"s1", "licence"}));
  EXPECT_THAT(desk_->StartProcessing(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("agent's documents not verified")));
  ASSERT_OK(desk_->VerifyAgentAuthority(id, kWindow, "power of attorney"));
  EXPECT_OK(desk_->StartProcessing(id, kOfficer));
}

TEST_F(RequestDeskTest, AgentVerificationWithoutAgentIsRefused) {
  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE));
  ASSERT_OK(desk_->SendForm(id, kWindow));
  EXPECT_THAT(desk_->VerifyAgentAuthority(id, kWindow, "power of attorney"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no agent applied")));
}

TEST_F(RequestDeskTest, DocumentsBeforeFormSentAreRefused) {
  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE));
  EXPECT_THAT(desk_->RecordFeePaid(id, "accounts", "t"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("guide with the fee has not been sent")));
  EXPECT_THAT(desk_->RecordFormReturned(id, "mailroom"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("in state received")));
  EXPECT_THAT(desk_->VerifyIdentity(id, kWindow, {"s1", "licence"}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("in state received")));
}

TEST_F(RequestDeskTest, RepeatedStepsAreRefused) {
  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE));
  ASSERT_OK(desk_->SendForm(id, kWindow));
  EXPECT_THAT(desk_->SendForm(id, kWindow),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("in state form_sent")));
  ASSERT_OK(desk_->RecordFeePaid(id, "accounts", "t"));
  EXPECT_THAT(desk_->RecordFeePaid(id, "accounts", "t"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("already paid")));
  ASSERT_OK(desk_->RecordFormReturned(id, "mailroom"));
  EXPECT_THAT(desk_->RecordFormReturned(id, "mailroom"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("already recorded")));
  ASSERT_OK(desk_->VerifyIdentity(id, kWindow, {"s1", "licence"}));
  EXPECT_THAT(desk_->VerifyIdentity(id, kWindow, {"s1", "licence"}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("already verified")));
}

TEST_F(RequestDeskTest, ExecuteAndAnswerOutOfOrderAreRefused) {
  const std::string id = Receive(Intake(v1::REQUEST_KIND_PURPOSE_NOTICE));
  EXPECT_THAT(desk_->Execute(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("cannot execute in state received")));
  EXPECT_THAT(desk_->Answer(id, kWindow, "letter-1"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("cannot answer in state received")));
  const std::string id2 = ToProcessing(Intake(v1::REQUEST_KIND_PURPOSE_NOTICE));
  EXPECT_THAT(desk_->Answer(id2, kWindow, "letter-1"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("has not been carried out")));
  ASSERT_OK(desk_->Execute(id2, kOfficer));
  EXPECT_THAT(desk_->Execute(id2, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("in state executed")));
  EXPECT_THAT(
      desk_->Answer(id2, kWindow, ""),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("answer_ref")));
  ASSERT_OK(desk_->Answer(id2, kWindow, "letter-2"));
  EXPECT_THAT(desk_->Answer(id2, kWindow, "letter-3"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("in state answered")));
}

TEST_F(RequestDeskTest, RefusalRecordsGroundAndEndsTheRequest) {
  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE));
  ASSERT_OK(desk_->SendForm(id, kWindow));
  EXPECT_THAT(
      desk_->Refuse(id, kOfficer, v1::REFUSAL_GROUND_UNSPECIFIED, "x"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ground")));
  EXPECT_THAT(
      desk_->Refuse(id, kOfficer, v1::REFUSAL_GROUND_FEE_NOT_PAID, ""),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("explanation")));
  absl::StatusOr<v1::SubjectRequest> r =
      desk_->Refuse(id, kOfficer, v1::REFUSAL_GROUND_FEE_NOT_PAID,
                    "no payment within 30 days");
  ASSERT_OK(r);
  EXPECT_EQ(r->state(), v1::REQUEST_STATE_REFUSED);
  EXPECT_EQ(r->refusal().ground(), v1::REFUSAL_GROUND_FEE_NOT_PAID);
  EXPECT_EQ(r->transitions().rbegin()->step(), "refused");
  EXPECT_THAT(
      desk_->RecordFeePaid(id, "accounts", "t"),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("refused")));
  EXPECT_THAT(
      desk_->Refuse(id, kOfficer, v1::REFUSAL_GROUND_FEE_NOT_PAID, "again"),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("cannot refuse in state refused")));
}

TEST_F(RequestDeskTest, SuspensionWithoutReasonIsRefusedAndChangesNothing) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_SUSPENSION));
  ASSERT_OK(desk_->Refuse(id, kOfficer, v1::REFUSAL_GROUND_NO_REASON_FOUND,
                          "the data is used within the stated purposes"));
  absl::StatusOr<v1::ConsentRecord> rec = store_.Get("s1");
  ASSERT_OK(rec);
  EXPECT_EQ(rec->restrictions().suspended_purposes_size(), 0);
}

TEST_F(RequestDeskTest, CarriedOutRequestCannotBeRefused) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_PROVISION_STOP));
  ASSERT_OK(desk_->Execute(id, kOfficer));
  EXPECT_THAT(
      desk_->Refuse(id, kOfficer, v1::REFUSAL_GROUND_NO_REASON_FOUND, "late"),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("cannot refuse in state executed")));
}

TEST_F(RequestDeskTest, UnknownRequestIsNotFound) {
  EXPECT_THAT(desk_->SendForm("req-999", kWindow),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("req-999")));
  EXPECT_THAT(desk_->Execute("req-999", kOfficer),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("req-999")));
}

TEST_F(RequestDeskTest, AuditOutageStopsTheStep) {
  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE));
  audit_.SetFailingForTesting(true);
  EXPECT_THAT(desk_->SendForm(id, kWindow),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("form_sent")));
  audit_.SetFailingForTesting(false);
  EXPECT_EQ(State(id), v1::REQUEST_STATE_RECEIVED);
}

// A request store whose writes fail (`kUnavailable`) or lose a race: before
// forwarding an update it lets another writer change the same request, so
// the store itself refuses the stale version with `kAborted`.
class FailingCommits final : public RequestStore {
 public:
  enum class Mode { kPass, kUnavailable, kLoseRace };
  explicit FailingCommits(RequestStore* inner) : inner_(inner) {}
  absl::StatusOr<v1::SubjectRequest> Create(
      v1::SubjectRequest request) override {
    return inner_->Create(std::move(request));
  }
  absl::StatusOr<v1::SubjectRequest> Get(absl::string_view id) override {
    return inner_->Get(id);
  }
  absl::StatusOr<v1::SubjectRequest> Update(
      const v1::SubjectRequest& request) override {
    if (mode == Mode::kUnavailable) {
      return absl::UnavailableError("request store: disk gone");
    }
    if (mode == Mode::kLoseRace) {
      absl::StatusOr<v1::SubjectRequest> other = inner_->Get(request.id());
      if (!other.ok()) return other.status();
      other->set_details("changed by a concurrent writer");
      if (absl::Status s = inner_->Update(*other).status(); !s.ok()) return s;
    }
    return inner_->Update(request);
  }
  absl::StatusOr<std::vector<v1::SubjectRequest>> ListBySubject(
      absl::string_view subject_id) override {
    return inner_->ListBySubject(subject_id);
  }
  absl::StatusOr<RequestListing> ListOpen() override {
    return inner_->ListOpen();
  }
  Mode mode = Mode::kPass;

 private:
  RequestStore* inner_;
};

// For each step, the events that say it happened minus those that retract
// it: what the audit log claims about the request.
absl::flat_hash_map<std::string, int> ClaimedSteps(
    const std::vector<OwnedAuditEvent>& events) {
  absl::flat_hash_map<std::string, int> claimed;
  for (const OwnedAuditEvent& e : events) {
    constexpr absl::string_view kRetracted = ":not_committed";
    absl::string_view step = e.purpose;
    if (absl::ConsumeSuffix(&step, kRetracted)) {
      --claimed[std::string(step)];
    } else {
      ++claimed[std::string(step)];
    }
  }
  return claimed;
}

TEST_F(RequestDeskTest, FailedCommitLeavesNoEventClaimingTheStep) {
  FailingCommits store(&requests_);
  std::unique_ptr<RequestDesk> desk = DeskOn(&store);
  ASSERT_NE(desk, nullptr);
  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE));
  audit_.Clear();
  store.mode = FailingCommits::Mode::kUnavailable;
  EXPECT_THAT(desk->SendForm(id, kWindow),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("disk gone")));
  EXPECT_EQ(State(id), v1::REQUEST_STATE_RECEIVED);
  EXPECT_EQ(ClaimedSteps(RequestEvents())["form_sent"], 0);
  const std::vector<OwnedAuditEvent> events = RequestEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].purpose, "form_sent:not_committed");
  EXPECT_EQ(events[1].record_ref, id);

  // The step succeeds once the store takes it, with one claiming event.
  store.mode = FailingCommits::Mode::kPass;
  ASSERT_OK(desk->SendForm(id, kWindow));
  EXPECT_EQ(ClaimedSteps(RequestEvents())["form_sent"], 1);
}

TEST_F(RequestDeskTest, LostRaceLeavesNoEventClaimingTheStep) {
  FailingCommits store(&requests_);
  std::unique_ptr<RequestDesk> desk = DeskOn(&store);
  ASSERT_NE(desk, nullptr);
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_SUSPENSION));
  audit_.Clear();
  store.mode = FailingCommits::Mode::kLoseRace;
  EXPECT_THAT(desk->Execute(id, kOfficer),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("version")));
  EXPECT_EQ(State(id), v1::REQUEST_STATE_PROCESSING);
  absl::flat_hash_map<std::string, int> claimed = ClaimedSteps(RequestEvents());
  EXPECT_EQ(claimed["executed"], 0);
  // The restriction was committed to the consent store: its event stands.
  int restrictions = 0;
  for (const auto& [step, n] : claimed) {
    if (absl::StartsWith(step, "restriction_applied@")) restrictions += n;
  }
  EXPECT_EQ(restrictions, 1);

  store.mode = FailingCommits::Mode::kLoseRace;
  EXPECT_THAT(
      desk->Refuse(id, kOfficer, v1::REFUSAL_GROUND_FEE_NOT_PAID, "not paid"),
      StatusIs(absl::StatusCode::kAborted, HasSubstr("version")));
  EXPECT_EQ(ClaimedSteps(RequestEvents())["refused"], 0);
  EXPECT_EQ(State(id), v1::REQUEST_STATE_PROCESSING);
}

TEST_F(RequestDeskTest, AnswerIsStoredBeforeTheRequestIsExecuted) {
  std::vector<v1::RequestState> state_when_stored;
  std::string stored_answer;
  options_.hooks.store_answer = [&](absl::string_view request_id,
                                    const RequestOutcome& answer) {
    state_when_stored.push_back(State(std::string(request_id)));
    stored_answer = answer.document_en;
    return absl::OkStatus();
  };
  MakeDesk();
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_DISCLOSURE));
  absl::StatusOr<RequestOutcome> out = desk_->Execute(id, kOfficer);
  ASSERT_OK(out);
  EXPECT_THAT(state_when_stored, ElementsAre(v1::REQUEST_STATE_PROCESSING));
  EXPECT_EQ(stored_answer, out->document_en);
  EXPECT_THAT(stored_answer, HasSubstr("Disclosure"));
  EXPECT_EQ(State(id), v1::REQUEST_STATE_EXECUTED);
}

TEST_F(RequestDeskTest, AnswerStoreFailureLeavesTheRequestProcessing) {
  absl::Status store_result = absl::UnavailableError("answer disk full");
  int stored = 0;
  options_.hooks.store_answer = [&](absl::string_view, const RequestOutcome&) {
    if (store_result.ok()) ++stored;
    return store_result;
  };
  MakeDesk();
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_PURPOSE_NOTICE));
  audit_.Clear();
  EXPECT_THAT(
      desk_->Execute(id, kOfficer),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("answer disk full")));
  EXPECT_EQ(State(id), v1::REQUEST_STATE_PROCESSING);
  EXPECT_EQ(ClaimedSteps(RequestEvents())["executed"], 0);
  // Once the answer can be stored, Execute again carries the request out.
  store_result = absl::OkStatus();
  ASSERT_OK(desk_->Execute(id, kOfficer));
  EXPECT_EQ(stored, 1);
  EXPECT_EQ(State(id), v1::REQUEST_STATE_EXECUTED);
}

TEST_F(RequestDeskTest, RequestStoreOutageIsUnavailable) {
  requests_.SetUnavailableForTesting(true);
  EXPECT_THAT(
      desk_->Receive(Intake(v1::REQUEST_KIND_DISCLOSURE), kWindow),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("request store")));
}

TEST_F(RequestDeskTest, StaleUpdateIsAborted) {
  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE));
  absl::StatusOr<v1::SubjectRequest> stale = requests_.Get(id);
  ASSERT_OK(stale);
  ASSERT_OK(desk_->SendForm(id, kWindow));
  EXPECT_THAT(
      requests_.Update(*stale),
      StatusIs(absl::StatusCode::kAborted, HasSubstr("expected version")));
}

// --- Intake -----------------------------------------------------------------

TEST_F(RequestDeskTest, MalformedIntakeIsRejected) {
  struct Case {
    std::string name;
    std::function<void(v1::SubjectRequest&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"no subject", [](v1::SubjectRequest& r) { r.clear_subject_id(); },
       "subject_id"},
      {"no kind",
       [](v1::SubjectRequest& r) { r.set_kind(v1::REQUEST_KIND_UNSPECIFIED); },
       "kind must be set"},
      {"no requester", [](v1::SubjectRequest& r) { r.clear_requester(); },
       "requester.name"},
      {"nameless agent",
       [](v1::SubjectRequest& r) {
         r.mutable_agent()->set_kind(v1::AGENT_KIND_DELEGATED);
       },
       "agent.name"},
      {"email without agreement",
       [](v1::SubjectRequest& r) {
         r.mutable_answer_route()->set_channel(v1::ANSWER_CHANNEL_EMAIL);
       },
       "person_agreed"},
      {"purposes on disclosure",
       [](v1::SubjectRequest& r) {
         r.set_kind(v1::REQUEST_KIND_DISCLOSURE);
         r.add_purposes("marketing");
       },
       "suspension only"},
      {"unknown purpose",
       [](v1::SubjectRequest& r) { r.add_purposes("marketing.nope"); },
       "unknown purpose 'marketing.nope'"},
      {"purposes and all",
       [](v1::SubjectRequest& r) { r.set_all_purposes(true); }, "exactly one"},
      {"desk fields",
       [](v1::SubjectRequest& r) { r.set_verified_subject_id("s2"); },
       "set by the desk"},
      {"pre-verified identifier",
       [](v1::SubjectRequest& r) {
         r.mutable_identifiers(0)->set_verified(true);
       },
       "identifiers[0]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::SubjectRequest r = Intake(v1::REQUEST_KIND_SUSPENSION);
    c.edit(r);
    EXPECT_THAT(
        desk_->Receive(r, kWindow),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
  v1::SubjectRequest correction = Intake(v1::REQUEST_KIND_CORRECTION);
  correction.mutable_record_changes(0)->clear_record_ref();
  EXPECT_THAT(desk_->Receive(correction, kWindow),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("record_changes[0].record_ref")));
  correction.clear_record_changes();
  EXPECT_THAT(desk_->Receive(correction, kWindow),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at least one record_changes")));
}

TEST_F(RequestDeskTest, AgreedChannelIsKept) {
  v1::SubjectRequest r = Intake(v1::REQUEST_KIND_PURPOSE_NOTICE);
  r.mutable_answer_route()->set_channel(v1::ANSWER_CHANNEL_EMAIL);
  r.mutable_answer_route()->set_address("hanako@example.jp");
  r.mutable_answer_route()->set_person_agreed(true);
  const std::string id = Receive(r);
  absl::StatusOr<v1::SubjectRequest> got = desk_->Get(id);
  ASSERT_OK(got);
  EXPECT_EQ(got->answer_route().channel(), v1::ANSWER_CHANNEL_EMAIL);
}

// --- Identity binding -------------------------------------------------------

TEST_F(RequestDeskTest, DocumentsOfAnotherPersonDoNotVerify) {
  Set("s2", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE, "s1"));
  ASSERT_OK(desk_->SendForm(id, kWindow));
  ASSERT_OK(desk_->RecordFormReturned(id, "mailroom"));
  ASSERT_OK(desk_->RecordFeePaid(id, "accounts", "t"));
  EXPECT_THAT(
      desk_->VerifyIdentity(id, kWindow, {"s2", "licence"}),
      StatusIs(
          absl::StatusCode::kPermissionDenied,
          HasSubstr("identify 's2', not the subject the request names 's1'")));
  absl::StatusOr<v1::SubjectRequest> r = desk_->Get(id);
  ASSERT_OK(r);
  EXPECT_TRUE(r->verified_subject_id().empty());
  EXPECT_FALSE(r->requester().identity().verified());
  EXPECT_THAT(desk_->StartProcessing(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("identity not verified")));
  EXPECT_THAT(
      desk_->Execute(id, kOfficer),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("form_sent")));
  // The rejected attempt is on record.
  EXPECT_EQ(RequestEvents().back().purpose, "identity_rejected");
}

TEST_F(RequestDeskTest, SecondIdentifierOfAnotherPersonCannotReachTheirData) {
  // The requester is verified as s1 but gives s2's contract number.
  v1::SubjectRequest intake = Intake(v1::REQUEST_KIND_ERASURE, "s1");
  intake.mutable_identifiers(0)->set_value("C-2");
  const std::string id = Receive(intake);
  ASSERT_OK(desk_->SendForm(id, kWindow));
  ASSERT_OK(desk_->RecordFormReturned(id, "mailroom"));
  EXPECT_THAT(desk_->VerifyIdentity(id, kWindow, {"s1", "licence"}),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("contract_number presented does not belong")));
  EXPECT_THAT(desk_->StartProcessing(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("identity not verified"),
                             HasSubstr("no verified identifier"))));
  EXPECT_TRUE(erased_.empty());
  EXPECT_EQ(
      CheckReason("billing-service", "billing.calculation", "s2", "billing"),
      Reason::kAllowedNecessary);
  EXPECT_EQ(
      CheckReason("billing-service", "billing.calculation", "s1", "billing"),
      Reason::kAllowedNecessary);
}

TEST_F(RequestDeskTest, UnknownSecondIdentifierDoesNotVerify) {
  v1::SubjectRequest intake = Intake(v1::REQUEST_KIND_SUSPENSION, "s1");
  intake.mutable_identifiers(0)->set_value("C-404");
  const std::string id = Receive(intake);
  ASSERT_OK(desk_->SendForm(id, kWindow));
  EXPECT_THAT(desk_->VerifyIdentity(id, kWindow, {"s1", "licence"}),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("does not belong")));
}

TEST_F(RequestDeskTest, SecondIdentifierWithoutResolverCannotBeVerified) {
  options_.resolve_identifier = nullptr;
  MakeDesk();
  const std::string id = Receive(Intake(v1::REQUEST_KIND_SUSPENSION));
  ASSERT_OK(desk_->SendForm(id, kWindow));
  EXPECT_THAT(desk_->VerifyIdentity(id, kWindow, {"s1", "licence"}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no IdentifierResolver")));
}

TEST_F(RequestDeskTest, EffectRequestNeedsTheContractIdentified) {
  v1::SubjectRequest intake = Intake(v1::REQUEST_KIND_PROVISION_STOP);
  intake.clear_identifiers();
  const std::string id = Receive(intake);
  ASSERT_OK(desk_->SendForm(id, kWindow));
  ASSERT_OK(desk_->RecordFormReturned(id, "mailroom"));
  ASSERT_OK(desk_->VerifyIdentity(id, kWindow, {"s1", "licence"}));
  EXPECT_THAT(desk_->StartProcessing(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("identifying the contract")));
}

// --- Effects ----------------------------------------------------------------

TEST_F(RequestDeskTest, SuspensionDeniesNamedPurposesAtOnce) {
  Set("s1", "marketing.research", v1::CONSENT_STATE_GIVEN);
  ASSERT_EQ(CheckReason("marketing-analytics", "marketing.research", "s1",
                        "identity"),
            Reason::kAllowedNotOptedOut);
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_SUSPENSION));
  ASSERT_OK(desk_->Execute(id, kOfficer));
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.research", "s1",
                        "identity"),
            Reason::kUseSuspended);
  // Other purposes are unaffected.
  EXPECT_EQ(
      CheckReason("billing-service", "billing.calculation", "s1", "billing"),
      Reason::kAllowedNecessary);
  const std::vector<OwnedAuditEvent> events = RequestEvents();
  const bool effect_audited =
      std::any_of(events.begin(), events.end(), [](const OwnedAuditEvent& e) {
        return e.reason == Reason::kUseSuspended;
      });
  EXPECT_TRUE(effect_audited);
}

TEST_F(RequestDeskTest, SuspensionOfAllPurposesDeniesEveryPurpose) {
  v1::SubjectRequest intake = Intake(v1::REQUEST_KIND_SUSPENSION);
  intake.clear_purposes();
  intake.set_all_purposes(true);
  const std::string id = ToProcessing(intake);
  ASSERT_OK(desk_->Execute(id, kOfficer));
  EXPECT_EQ(
      CheckReason("billing-service", "billing.calculation", "s1", "billing"),
      Reason::kUseSuspended);
}

TEST_F(RequestDeskTest, RestrictionsMergeWithEarlierOnes) {
  v1::Restrictions earlier;
  earlier.add_suspended_purposes("web");
  Restrict("s1", earlier);
  ASSERT_OK(desk_->Execute(
      ToProcessing(Intake(v1::REQUEST_KIND_PROVISION_STOP)), kOfficer));
  ASSERT_OK(desk_->Execute(ToProcessing(Intake(v1::REQUEST_KIND_SUSPENSION)),
                           kOfficer));
  absl::StatusOr<v1::ConsentRecord> rec = store_.Get("s1");
  ASSERT_OK(rec);
  EXPECT_THAT(rec->restrictions().suspended_purposes(),
              ElementsAre("web", "marketing"));
  EXPECT_TRUE(rec->restrictions().third_party_provision_stopped());
  EXPECT_FALSE(rec->restrictions().erased());
}

TEST_F(RequestDeskTest, ProvisionStopSetsTheRestriction) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_PROVISION_STOP));
  absl::StatusOr<RequestOutcome> out = desk_->Execute(id, kOfficer);
  ASSERT_OK(out);
  EXPECT_EQ(out->request.state(), v1::REQUEST_STATE_EXECUTED);
  absl::StatusOr<v1::ConsentRecord> rec = store_.Get("s1");
  ASSERT_OK(rec);
  EXPECT_TRUE(rec->restrictions().third_party_provision_stopped());
  const std::vector<OwnedAuditEvent> events = RequestEvents();
  const bool effect_audited =
      std::any_of(events.begin(), events.end(), [](const OwnedAuditEvent& e) {
        return e.reason == Reason::kProvisionStopped && e.subject == "s1";
      });
  EXPECT_TRUE(effect_audited);
}

TEST_F(RequestDeskTest, ErasureDeniesEveryReadAndRunsTheHook) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_ERASURE));
  absl::StatusOr<RequestOutcome> out = desk_->Execute(id, kOfficer);
  ASSERT_OK(out);
  EXPECT_EQ(
      CheckReason("billing-service", "billing.calculation", "s1", "billing"),
      Reason::kSubjectErased);
  EXPECT_EQ(CheckReason("support-desk", "support", "s1", "contact"),
            Reason::kSubjectErased);
  EXPECT_THAT(erased_, ElementsAre("s1"));
  ASSERT_EQ(out->request.hook_runs_size(), 1);
  EXPECT_EQ(out->request.hook_runs(0).hook(), "erase_subject_data");
  EXPECT_TRUE(out->request.hook_runs(0).ok());
  absl::StatusOr<v1::ConsentRecord> rec = store_.Get("s1");
  ASSERT_OK(rec);
  EXPECT_EQ(rec->restrictions().erased_time().seconds(),
            absl::ToUnixSeconds(now_));
}

TEST_F(RequestDeskTest, FailedErasureHookStaysVisibleAndIsRetried) {
  erase_result_ = absl::UnavailableError("app database down");
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_ERASURE));
  EXPECT_THAT(
      desk_->Execute(id, kOfficer),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("app database down")));
  // Enforcement already denies; the request shows the failure and stays open.
  EXPECT_EQ(
      CheckReason("billing-service", "billing.calculation", "s1", "billing"),
      Reason::kSubjectErased);
  absl::StatusOr<v1::SubjectRequest> r = desk_->Get(id);
  ASSERT_OK(r);
  EXPECT_EQ(r->state(), v1::REQUEST_STATE_PROCESSING);
  ASSERT_EQ(r->hook_runs_size(), 1);
  EXPECT_FALSE(r->hook_runs(0).ok());
  EXPECT_THAT(r->hook_runs(0).error(), HasSubstr("app database down"));
  absl::StatusOr<RequestListing> open = requests_.ListOpen();
  ASSERT_OK(open);
  ASSERT_EQ(open->requests.size(), 1u);
  EXPECT_EQ(open->requests[0].id(), id);

  erase_result_ = absl::OkStatus();
  absl::StatusOr<RequestOutcome> out = desk_->Execute(id, kOfficer);
  ASSERT_OK(out);
  ASSERT_EQ(out->request.hook_runs_size(), 2);
  EXPECT_EQ(out->request.hook_runs(1).attempt(), 2);
  EXPECT_TRUE(out->request.hook_runs(1).ok());
  EXPECT_EQ(erased_.size(), 2u);
}

TEST_F(RequestDeskTest, ErasureWithoutHookIsNotSilentlyDone) {
  options_.hooks.erase_subject_data = nullptr;
  MakeDesk();
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_ERASURE));
  EXPECT_THAT(desk_->Execute(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no erase_subject_data hook")));
  EXPECT_EQ(State(id), v1::REQUEST_STATE_PROCESSING);
}

TEST_F(RequestDeskTest, CorrectionCallsTheHookPerRecordAndAuditsIt) {
  v1::SubjectRequest intake = Intake(v1::REQUEST_KIND_CORRECTION);
  v1::RecordChange* del = intake.add_record_changes();
  del->set_operation(v1::RecordChange::OPERATION_DELETE);
  del->set_record_ref("phone/3");
  const std::string id = ToProcessing(intake);
  absl::StatusOr<RequestOutcome> out = desk_->Execute(id, kOfficer);
  ASSERT_OK(out);
  EXPECT_THAT(changed_, ElementsAre("s1/address/17", "s1/phone/3"));
  EXPECT_EQ(out->request.hook_runs_size(), 2);
  std::vector<std::string> refs;
  for (const OwnedAuditEvent& e : RequestEvents()) {
    if (e.purpose == "change_record:ok") refs.push_back(e.record_ref);
  }
  EXPECT_THAT(refs, ElementsAre(id + ":address/17", id + ":phone/3"));
  // Enforcement is untouched by a correction.
  absl::StatusOr<v1::ConsentRecord> rec = store_.Get("s1");
  ASSERT_OK(rec);
  EXPECT_EQ(rec->revision(), 0);
}

// --- Purpose notice ---------------------------------------------------------

TEST_F(RequestDeskTest, PurposeNoticeListsPurposesBasisAndConsent) {
  Set("s1", "marketing.promotion", v1::CONSENT_STATE_WITHDRAWN);
  Set("s1", "statistics", v1::CONSENT_STATE_GIVEN);
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_PURPOSE_NOTICE));
  absl::StatusOr<RequestOutcome> out = desk_->Execute(id, kOfficer);
  ASSERT_OK(out);
  absl::flat_hash_map<std::string, v1::PurposeUse> uses;
  for (const v1::PurposeUse& u : out->notice.purposes()) uses[u.purpose()] = u;
  // Leaf purposes of the catalogue; per-occasion ones only with consent.
  EXPECT_TRUE(uses.contains("billing.calculation"));
  EXPECT_FALSE(uses.contains("billing"));
  EXPECT_FALSE(uses.contains("occasion.joint_study"));
  EXPECT_EQ(uses["billing.calculation"].name().ja(), "課金計算");
  bool necessary = false;
  for (const v1::CategoryUse& c : uses["billing.calculation"].categories()) {
    if (c.category() == "billing")
      necessary = c.basis() == v1::LEGAL_BASIS_NECESSARY;
  }
  EXPECT_TRUE(necessary);
  EXPECT_EQ(uses["marketing.promotion"].consent_state(),
            v1::CONSENT_STATE_WITHDRAWN);
  // Inherited from the parent's entry.
  EXPECT_EQ(uses["statistics.measurement"].consent_state(),
            v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(uses["statistics.measurement"].consent_from(), "statistics");
  EXPECT_THAT(out->document_ja, HasSubstr("利用目的の通知"));
  EXPECT_THAT(out->document_ja, HasSubstr("撤回"));
  EXPECT_THAT(out->document_en, HasSubstr("Invoicing"));
  EXPECT_THAT(out->document_en, HasSubstr("withdrawn"));
  v1::PurposeNotice parsed;
  EXPECT_OK(ParseMessage(out->json, WireFormat::kJson, parsed));
}

TEST_F(RequestDeskTest, PurposeNoticeShowsSuspension) {
  v1::Restrictions r;
  r.add_suspended_purposes("marketing");
  Restrict("s1", r);
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_PURPOSE_NOTICE));
  absl::StatusOr<RequestOutcome> out = desk_->Execute(id, kOfficer);
  ASSERT_OK(out);
  for (const v1::PurposeUse& u : out->notice.purposes()) {
    EXPECT_EQ(u.suspended(), u.purpose().rfind("marketing.", 0) == 0)
        << u.purpose();
  }
  EXPECT_THAT(out->document_en, HasSubstr("Use suspended for: marketing"));
}

}  // namespace
// --- Records edited in the store ------------------------------------------

// Rewrites the stored record of `id` as `edit` leaves it (what a person with
// write access to the request store could do).
#define EDIT_STORED(id, edit)                                       \
  do {                                                              \
    absl::StatusOr<v1::SubjectRequest> stored_ = requests_.Get(id); \
    ASSERT_OK(stored_);                                             \
    v1::SubjectRequest& r = *stored_;                               \
    edit;                                                           \
    ASSERT_OK(requests_.Update(r));                                 \
  } while (false)

TEST_F(RequestDeskTest, ExecuteRefusesRecordEditedToAnotherSubject) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_DISCLOSURE));
  EDIT_STORED(id, r.set_verified_subject_id("s2"));
  EXPECT_THAT(desk_->Execute(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("nothing is executed")));
  EXPECT_EQ(State(id), v1::REQUEST_STATE_PROCESSING);
  EXPECT_THAT(provisions_.asked, ::testing::IsEmpty());
}

TEST_F(RequestDeskTest, ExecuteRefusesForgedRecordWithoutHistoryOrFee) {
  // State PROCESSING, another person's verified subject, no fee, no
  // transitions: written straight into the store.
  v1::SubjectRequest forged = Intake(v1::REQUEST_KIND_DISCLOSURE, "s1");
  forged.set_state(v1::REQUEST_STATE_PROCESSING);
  forged.set_verified_subject_id("s2");
  forged.mutable_requester()->mutable_identity()->set_verified(true);
  forged.set_form_returned(true);
  absl::StatusOr<v1::SubjectRequest> stored = requests_.Create(forged);
  ASSERT_OK(stored);
  absl::StatusOr<RequestOutcome> out = desk_->Execute(stored->id(), kOfficer);
  EXPECT_THAT(out, StatusIs(absl::StatusCode::kFailedPrecondition,
                            HasSubstr("nothing is executed")));
  EXPECT_EQ(State(stored->id()), v1::REQUEST_STATE_PROCESSING);
  EXPECT_THAT(provisions_.asked, ::testing::IsEmpty());
}

TEST_F(RequestDeskTest, ExecuteRefusesRecordWhoseFeeWasRemoved) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_DISCLOSURE));
  // The fee and its step removed together: consistent history, but the
  // policy charges 1,600 JPY for a disclosure.
  EDIT_STORED(id, {
    r.clear_fee();
    v1::SubjectRequest copy = r;
    r.clear_transitions();
    for (const v1::Transition& t : copy.transitions()) {
      if (t.step() != "fee_paid") *r.add_transitions() = t;
    }
  });
  EXPECT_THAT(desk_->Execute(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("JPY not paid")));
  EXPECT_THAT(provisions_.asked, ::testing::IsEmpty());
}

TEST_F(RequestDeskTest, ExecuteRefusesRecordWithIncompleteHistory) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_DISCLOSURE));
  EDIT_STORED(id, r.mutable_transitions()->DeleteSubrange(1, 1));
  EXPECT_THAT(desk_->Execute(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("inconsistent")));
  EDIT_STORED(id, r.clear_transitions());
  EXPECT_THAT(desk_->Execute(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no transitions")));
}

TEST_F(RequestDeskTest, ExecuteRefusesEffectWhoseContractIsNoLongerTheirs) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_ERASURE));
  // The contract changed hands (or the record was edited to name another).
  contracts_["C-1"] = "s2";
  EXPECT_THAT(desk_->Execute(id, kOfficer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("does not belong to the verified person")));
  EXPECT_THAT(erased_, ::testing::IsEmpty());
}

TEST_F(RequestDeskTest, EveryRecordTheDeskWritesValidates) {
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_DISCLOSURE));
  ASSERT_OK(desk_->Execute(id, kOfficer));
  ASSERT_OK(desk_->Answer(id, kWindow, "letter-1"));
  absl::StatusOr<v1::SubjectRequest> r = requests_.Get(id);
  ASSERT_OK(r);
  EXPECT_OK(ValidateRequestRecord(*r));
  const std::string refused = Receive(Intake(v1::REQUEST_KIND_SUSPENSION));
  ASSERT_OK(desk_->Refuse(refused, kOfficer,
                          v1::REFUSAL_GROUND_WITHDRAWN_BY_REQUESTER, "asked"));
  r = requests_.Get(refused);
  ASSERT_OK(r);
  EXPECT_OK(ValidateRequestRecord(*r));
}

TEST_F(RequestDeskTest, NonUtf8OrOversizeStringsAreRejectedAtIntake) {
  v1::SubjectRequest bad = Intake(v1::REQUEST_KIND_DISCLOSURE, "s\xff");
  EXPECT_THAT(desk_->Receive(bad, kWindow),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("subject_id is not valid UTF-8")));
  bad = Intake(v1::REQUEST_KIND_DISCLOSURE);
  bad.mutable_requester()->set_name("Yamada \xe5\xb1");
  EXPECT_THAT(desk_->Receive(bad, kWindow),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("requester.name is not valid UTF-8")));
  bad = Intake(v1::REQUEST_KIND_DISCLOSURE);
  bad.set_details(std::string(kMaxRequestTextBytes + 1, 'x'));
  EXPECT_THAT(
      desk_->Receive(bad, kWindow),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("details has")));
  bad = Intake(v1::REQUEST_KIND_DISCLOSURE,
               std::string(kMaxRequestIdBytes + 1, 's'));
  EXPECT_THAT(desk_->Receive(bad, kWindow),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("subject_id has")));
  absl::StatusOr<RequestListing> open = requests_.ListOpen();
  ASSERT_OK(open);
  EXPECT_THAT(open->requests, ::testing::IsEmpty());
  EXPECT_THAT(open->unreadable, ::testing::IsEmpty());
}

TEST_F(RequestDeskTest, NonUtf8StepArgumentsAreRejectedAndChangeNothing) {
  const std::string id = Receive(Intake(v1::REQUEST_KIND_DISCLOSURE));
  EXPECT_THAT(desk_->SendForm(id, "window:\xc3"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("actor is not valid UTF-8")));
  EXPECT_EQ(State(id), v1::REQUEST_STATE_RECEIVED);
  ASSERT_OK(desk_->SendForm(id, kWindow));
  EXPECT_THAT(desk_->RecordFeePaid(id, "accounts", "ref\xff"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("payment_ref is not valid UTF-8")));
  absl::StatusOr<v1::SubjectRequest> r = requests_.Get(id);
  ASSERT_OK(r);
  EXPECT_FALSE(r->fee().paid());
}

TEST_F(RequestDeskTest, HookErrorWithAnyBytesKeepsTheRecordValid) {
  erase_result_ = absl::UnavailableError("disk \xff\xfe gone");
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_ERASURE));
  EXPECT_THAT(desk_->Execute(id, kOfficer),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("erase_subject_data")));
  absl::StatusOr<v1::SubjectRequest> r = requests_.Get(id);
  ASSERT_OK(r);
  EXPECT_OK(ValidateRequestRecord(*r));
  EXPECT_THAT(r->hook_runs(0).error(), HasSubstr("disk"));
}

// --- Restrictions: entries, compare-and-set, explicit lift ----------------

// Forwards to a store; runs `before_apply` once, before the first Apply, as
// a writer that gets in between a read and a write would.
class InterleavingStore final : public ConsentStore {
 public:
  explicit InterleavingStore(ConsentStore* inner) : inner_(inner) {}
  absl::StatusOr<v1::ConsentRecord> Get(absl::string_view s) override {
    return inner_->Get(s);
  }
  absl::StatusOr<Revision> Apply(const v1::ConsentChange& c) override {
    if (before_every_apply) before_every_apply();
    if (before_apply) std::exchange(before_apply, nullptr)();
    return inner_->Apply(c);
  }
  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSince(
      Revision after, int limit) override {
    return inner_->ChangesSince(after, limit);
  }
  absl::StatusOr<Revision> LatestRevision() override {
    return inner_->LatestRevision();
  }
  std::unique_ptr<Subscription> Watch(ConsentListener l) override {
    return inner_->Watch(std::move(l));
  }
  std::function<void()> before_apply;
  // Runs before each Apply: a writer that always gets in between.
  std::function<void()> before_every_apply;

 private:
  ConsentStore* inner_;
};

class RefusingSink final : public AuditSink {
 public:
  absl::Status Record(const AuditEvent&) override {
    return absl::UnavailableError("audit disk full");
  }
};

v1::RestrictionLift Lift(v1::RestrictionKind kind, const std::string& reason,
                         const std::string& purpose = "") {
  v1::RestrictionLift l;
  l.set_kind(kind);
  l.set_purpose(purpose);
  l.set_reason(reason);
  return l;
}

TEST_F(RequestDeskTest, RequestAuditEventsCarryTheRequestId) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_SUSPENSION));
  ASSERT_OK(desk_->Execute(id, kOfficer));
  const std::vector<OwnedAuditEvent> events = RequestEvents();
  ASSERT_GE(events.size(), 5u);
  for (const OwnedAuditEvent& e : events) {
    EXPECT_EQ(e.request_id, id) << e.purpose;
  }
}

TEST_F(RequestDeskTest, RestrictionEntriesNameTheRequest) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_SUSPENSION));
  ASSERT_OK(desk_->Execute(id, kOfficer));
  absl::StatusOr<v1::ConsentRecord> rec = store_.Get("s1");
  ASSERT_OK(rec);
  ASSERT_EQ(rec->restrictions().entries_size(), 1);
  const v1::RestrictionEntry& e = rec->restrictions().entries(0);
  EXPECT_EQ(e.kind(), v1::RESTRICTION_KIND_SUSPENDED_PURPOSE);
  EXPECT_EQ(e.purpose(), "marketing");
  EXPECT_EQ(e.request_id(), id);
  EXPECT_EQ(e.actor(), "request:" + id);
  EXPECT_EQ(e.time().seconds(), absl::ToUnixSeconds(now_));
}

// A writer gets in between the desk's read and its write: both changes
// stay.
TEST_F(RequestDeskTest, RestrictionWriteKeepsAWriterThatGetsInBetween) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_PROVISION_STOP));
  InterleavingStore racing(&store_);
  racing.before_apply = [this] {
    v1::Restrictions web;
    web.add_suspended_purposes("web");
    Restrict("s1", web);
  };
  absl::StatusOr<std::unique_ptr<RequestDesk>> desk = RequestDesk::Create(
      DefaultPolicyForDesk(), &racing, &requests_, &audit_, options_);
  ASSERT_OK(desk.status());
  ASSERT_OK((*desk)->Execute(id, kOfficer));
  absl::StatusOr<v1::ConsentRecord> rec = store_.Get("s1");
  ASSERT_OK(rec);
  EXPECT_THAT(rec->restrictions().suspended_purposes(), ElementsAre("web"));
  EXPECT_TRUE(rec->restrictions().third_party_provision_stopped());
}

// A writer adds a restriction between every read and every write of the
// desk. A compare-and-set loop would never get through; the desk's
// add_restrictions change is merged by the store, so it goes through at once
// and every restriction of both writers is in force.
TEST_F(RequestDeskTest, RestrictionWriteGoesThroughAWriterThatAlwaysGetsIn) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_PROVISION_STOP));
  InterleavingStore racing(&store_);
  int other = 0;
  racing.before_every_apply = [&] {
    v1::RestrictionEntry e;
    e.set_kind(v1::RESTRICTION_KIND_SUSPENDED_PURPOSE);
    e.set_purpose(absl::StrCat("other-", other++));
    e.set_request_id("other-request");
    ASSERT_OK(AddRestrictions(store_, "s1", {e}, "other-desk"));
  };
  absl::StatusOr<std::unique_ptr<RequestDesk>> desk = RequestDesk::Create(
      DefaultPolicyForDesk(), &racing, &requests_, &audit_, options_);
  ASSERT_OK(desk.status());
  ASSERT_OK((*desk)->Execute(id, kOfficer));
  absl::StatusOr<v1::ConsentRecord> rec = store_.Get("s1");
  ASSERT_OK(rec);
  EXPECT_TRUE(rec->restrictions().third_party_provision_stopped());
  ASSERT_GE(other, 1);
  EXPECT_EQ(rec->restrictions().suspended_purposes_size(), other);
  for (const v1::RestrictionEntry& e : rec->restrictions().entries()) {
    EXPECT_EQ(e.request_id(), e.purpose().empty() ? id : "other-request")
        << e.DebugString();
  }
}

// add_restrictions keeps what is in force, stamps new entries, and names the
// subject kind only of a record it creates.
TEST(AddRestrictionsTest, UnionKeepsEntriesAndTheSubjectKind) {
  InMemoryConsentStore store;
  v1::ConsentChange create;
  create.set_subject_id("m-1");
  create.set_subject_kind(v1::SUBJECT_KIND_EMPLOYEE);
  create.mutable_purpose_consent()->set_purpose("marketing");
  create.mutable_purpose_consent()->set_state(v1::CONSENT_STATE_GIVEN);
  ASSERT_OK(store.Apply(create));
  v1::RestrictionEntry a;
  a.set_kind(v1::RESTRICTION_KIND_SUSPENDED_PURPOSE);
  a.set_purpose("marketing");
  a.set_request_id("req-a");
  ASSERT_OK(
      AddRestrictions(store, "m-1", {a}, "desk-a", v1::SUBJECT_KIND_CUSTOMER));
  v1::RestrictionEntry again = a;
  again.set_request_id("req-later");
  v1::RestrictionEntry stop;
  stop.set_kind(v1::RESTRICTION_KIND_THIRD_PARTY_PROVISION_STOPPED);
  stop.set_request_id("req-b");
  absl::StatusOr<Revision> rev =
      AddRestrictions(store, "m-1", {again, stop}, "desk-b");
  ASSERT_OK(rev);
  absl::StatusOr<v1::ConsentRecord> rec = store.Get("m-1");
  ASSERT_OK(rec);
  EXPECT_EQ(rec->subject_kind(), v1::SUBJECT_KIND_EMPLOYEE);
  ASSERT_EQ(rec->restrictions().entries_size(), 2);
  EXPECT_EQ(rec->restrictions().entries(0).request_id(), "req-a");
  EXPECT_EQ(rec->restrictions().entries(0).actor(), "desk-a");
  EXPECT_EQ(rec->restrictions().entries(1).request_id(), "req-b");
  EXPECT_EQ(rec->restrictions().entries(1).actor(), "desk-b");
  // Everything already in force: nothing is written.
  absl::StatusOr<Revision> same = AddRestrictions(store, "m-1", {a}, "desk-c");
  ASSERT_OK(same);
  EXPECT_EQ(*same, *rev);
  // A new subject takes the kind given.
  ASSERT_OK(AddRestrictions(store, "c-1", {stop}, "desk-b",
                            v1::SUBJECT_KIND_CUSTOMER));
  absl::StatusOr<v1::ConsentRecord> created = store.Get("c-1");
  ASSERT_OK(created);
  EXPECT_EQ(created->subject_kind(), v1::SUBJECT_KIND_CUSTOMER);
  // Too many suspended purposes in the union is refused, nothing written:
  // each write alone is within the limit, the two together are not.
  std::vector<v1::RestrictionEntry> first, second;
  for (int i = 0; i < 300; ++i) {
    v1::RestrictionEntry e = a;
    e.set_purpose(absl::StrCat("p-", i));
    (i < 200 ? first : second).push_back(e);
  }
  absl::StatusOr<Revision> at = AddRestrictions(store, "m-1", first, "desk-d");
  ASSERT_OK(at);
  EXPECT_THAT(AddRestrictions(store, "m-1", second, "desk-d"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("suspended purposes")));
  rec = store.Get("m-1");
  ASSERT_OK(rec);
  EXPECT_EQ(rec->revision(), *at);
  EXPECT_EQ(rec->restrictions().suspended_purposes_size(), 201);
}

// Two desks, each with its own store handle, add different restrictions to
// one subject at once; both survive. In memory (one handle) and SQLite (two
// connections to one file). Under ThreadSanitizer (label "concurrency").
TEST_F(RequestDeskTest, ConcurrentRestrictionsOnOneSubjectBothSurvive) {
  for (testing::StoreKind kind :
       {testing::StoreKind::kInMemory, testing::StoreKind::kSqlite}) {
    testing::StoreLocation location(kind);
    absl::StatusOr<std::unique_ptr<ConsentStore>> a = location.Open();
    ASSERT_OK(a.status());
    std::unique_ptr<ConsentStore> b_owned;
    ConsentStore* b = a->get();
    if (kind == testing::StoreKind::kSqlite) {
      absl::StatusOr<std::unique_ptr<ConsentStore>> opened = location.Open();
      ASSERT_OK(opened.status());
      b_owned = *std::move(opened);
      b = b_owned.get();
    }
    const char* const kPurposes[] = {"marketing", "web", "billing",
                                     "statistics", "service"};
    for (int round = 0; round < 5; ++round) {
      v1::SubjectRequest suspend = Intake(v1::REQUEST_KIND_SUSPENSION);
      suspend.clear_purposes();
      suspend.add_purposes(kPurposes[round]);
      const std::string id1 = ToProcessing(suspend);
      const std::string id2 =
          ToProcessing(Intake(round % 2 == 0 ? v1::REQUEST_KIND_PROVISION_STOP
                                             : v1::REQUEST_KIND_ERASURE));
      absl::StatusOr<std::unique_ptr<RequestDesk>> d1 = RequestDesk::Create(
          DefaultPolicyForDesk(), a->get(), &requests_, &audit_, options_);
      absl::StatusOr<std::unique_ptr<RequestDesk>> d2 = RequestDesk::Create(
          DefaultPolicyForDesk(), b, &requests_, &audit_, options_);
      ASSERT_OK(d1.status());
      ASSERT_OK(d2.status());
      std::atomic<int> failures{0};
      std::thread t1([&] {
        if (!(*d1)->Execute(id1, kOfficer).ok()) ++failures;
      });
      std::thread t2([&] {
        if (!(*d2)->Execute(id2, kOfficer).ok()) ++failures;
      });
      t1.join();
      t2.join();
      EXPECT_EQ(failures.load(), 0);
      absl::StatusOr<v1::ConsentRecord> rec = (*a)->Get("s1");
      ASSERT_OK(rec);
      EXPECT_EQ(rec->restrictions().suspended_purposes_size(), round + 1)
          << testing::KindName(kind);
      EXPECT_TRUE(rec->restrictions().third_party_provision_stopped());
      EXPECT_EQ(rec->restrictions().erased(), round >= 1);
    }
  }
}

TEST_F(RequestDeskTest, LiftIsAuditedWithTheRequestIdAndReason) {
  const std::string id = ToProcessing(Intake(v1::REQUEST_KIND_ERASURE));
  ASSERT_OK(desk_->Execute(id, kOfficer));
  ASSERT_EQ(CheckReason("support-desk", "support", "s1", "contact"),
            Reason::kSubjectErased);
  v1::RestrictionLift lift =
      Lift(v1::RESTRICTION_KIND_ERASED, "erasure request withdrawn");
  lift.set_request_id("ticket-9");
  absl::StatusOr<Revision> rev =
      LiftRestriction(store_, audit_, "s1", lift, kOfficer);
  ASSERT_OK(rev);
  std::vector<OwnedAuditEvent> lifted;
  for (OwnedAuditEvent& e : audit_.Events()) {
    if (e.action == AuditAction::kRestrictionLifted) lifted.push_back(e);
  }
  ASSERT_EQ(lifted.size(), 1u);
  EXPECT_EQ(lifted[0].subject, "s1");
  EXPECT_EQ(lifted[0].request_id, id);
  EXPECT_EQ(lifted[0].record_ref, "ticket-9");
  EXPECT_EQ(lifted[0].detail, "erasure request withdrawn");
  EXPECT_EQ(lifted[0].accessor, kOfficer);
  EXPECT_EQ(lifted[0].category, "erased");
  EXPECT_NE(CheckReason("support-desk", "support", "s1", "contact"),
            Reason::kSubjectErased);
  absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> h = store_.History("s1");
  ASSERT_OK(h);
  EXPECT_EQ(h->back().change().lift_restriction().reason(),
            "erasure request withdrawn");
  EXPECT_EQ(h->back().change().actor(), kOfficer);
}

TEST_F(RequestDeskTest, LiftIsNotAppliedWhenTheAuditSinkFails) {
  ASSERT_OK(
      desk_->Execute(ToProcessing(Intake(v1::REQUEST_KIND_ERASURE)), kOfficer));
  absl::StatusOr<Revision> before = store_.LatestRevision();
  ASSERT_OK(before);
  RefusingSink refusing;
  EXPECT_THAT(
      LiftRestriction(store_, refusing, "s1",
                      Lift(v1::RESTRICTION_KIND_ERASED, "mistake"), kOfficer),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("audit disk full")));
  EXPECT_THAT(store_.LatestRevision(), testing::IsOkAndHolds(*before));
  EXPECT_EQ(CheckReason("support-desk", "support", "s1", "contact"),
            Reason::kSubjectErased);
}

TEST_F(RequestDeskTest, LiftWithoutReasonOrOfAnAbsentRestrictionIsRefused) {
  ASSERT_OK(desk_->Execute(ToProcessing(Intake(v1::REQUEST_KIND_SUSPENSION)),
                           kOfficer));
  const std::size_t events = audit_.size();
  EXPECT_THAT(
      LiftRestriction(
          store_, audit_, "s1",
          Lift(v1::RESTRICTION_KIND_SUSPENDED_PURPOSE, "", "marketing"),
          kOfficer),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reason")));
  EXPECT_THAT(LiftRestriction(
                  store_, audit_, "s1",
                  Lift(v1::RESTRICTION_KIND_SUSPENDED_PURPOSE, "asked", "web"),
                  kOfficer),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("'suspended purpose web'")));
  EXPECT_THAT(LiftRestriction(store_, audit_, "s1",
                              Lift(v1::RESTRICTION_KIND_ERASED, "asked"), ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("actor")));
  EXPECT_EQ(audit_.size(), events);  // nothing lifted, nothing audited
  absl::StatusOr<v1::ConsentRecord> rec = store_.Get("s1");
  ASSERT_OK(rec);
  EXPECT_THAT(rec->restrictions().suspended_purposes(),
              ElementsAre("marketing"));
}

#undef EDIT_STORED

}  // namespace consentry
