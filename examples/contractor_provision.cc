// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Giving data to recipients outside the company (policy §5, §7.2).
//
// A call-centre contractor answers customer inquiries: it receives a
// member's contact details, but not the member's call history (secrecy of
// communications). A partner insurer (a third party) receives a member's
// contact details on consent, until the member stops third-party provision.
// Every provision is checked, recorded (APPI Art. 29) and audited.

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/proto_io.h"
#include "consentry/provision.h"
#include "consentry/recipients.h"
#include "consentry/requests.h"

namespace {

// Stops the example with a message when a step that must work fails.
template <typename T>
T Must(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::cerr << what << ": " << v.status() << "\n";
    std::exit(1);
  }
  return *std::move(v);
}

void Must(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << what << ": " << s << "\n";
    std::exit(1);
  }
}

void Consent(consentry::ConsentStore& store, const std::string& subject,
             const std::string& purpose) {
  consentry::v1::ConsentChange c;
  c.set_subject_id(subject);
  c.mutable_purpose_consent()->set_purpose(purpose);
  c.mutable_purpose_consent()->set_state(consentry::v1::CONSENT_STATE_GIVEN);
  c.mutable_purpose_consent()->set_method(
      consentry::v1::COLLECTION_METHOD_WEB_FORM);
  Must(store.Apply(c), "consent");
}

// Gives one record and prints what happened.
void Give(consentry::Guard& guard, const consentry::AccessContext& ctx,
          const consentry::RecipientRegistry& registry,
          const std::string& recipient, const consentry::RecordTags& record,
          consentry::ProvisionRecordStore& records) {
  std::vector<consentry::RecordTags> batch{record};
  std::unique_ptr<consentry::ProvisionDesk> desk = Must(
      consentry::ProvisionDesk::Create(&guard, &registry, &records), "desk");
  consentry::ProvisionOutcome out =
      Must(desk->Provide(ctx, recipient, batch), "provide");
  std::cout << "  " << record.subject() << " " << record.category() << " -> "
            << recipient << " for " << ctx.purpose() << ": ";
  if (!out.provided.empty()) {
    std::cout << "given (record " << out.record_id << ")\n";
  } else {
    std::cout << "refused, "
              << consentry::ReasonName(out.denied[0].decision.reason()) << " ("
              << consentry::ReasonDescription(out.denied[0].decision.reason())
              << ")\n";
  }
}

}  // namespace

int main() {
  const std::string root = CONSENTRY_SOURCE_DIR;
  auto policy = Must(
      consentry::LoadAndCompilePolicy(root + "/policies/default.textproto"),
      "policy");
  consentry::v1::RecipientRegistry registry_proto;
  Must(
      consentry::ParseMessage(Must(consentry::ReadFileToString(
                                       root + "/policies/recipients.textproto"),
                                   "read recipients"),
                              consentry::WireFormat::kText, registry_proto),
      "parse recipients");
  auto registry =
      Must(consentry::RecipientRegistry::Create(registry_proto, *policy),
           "recipients");

  // A fixed date, so that the output does not depend on when it runs.
  const absl::Time today = absl::FromUnixSeconds(1794960000);  // 2026-11-18
  consentry::GuardOptions options;
  options.clock = [today] { return today; };
  consentry::InMemoryConsentStore store;
  consentry::InMemoryAuditSink audit;
  auto guard =
      Must(consentry::Guard::Create(policy, &store, &audit, options), "guard");
  consentry::InMemoryProvisionRecordStore records;

  // Member 7 called support; member 8 opted in to partner offers and to
  // provision to the partner insurer.
  Consent(store, "member-7", "support");
  Consent(store, "member-8", "marketing.promotion");
  Consent(store, "member-8", "provision.third_party.partner_insurer");

  auto tag = [&](const std::string& subject, const std::string& category) {
    return Must(
        guard->Tag(subject, category,
                   {"support", "service", "billing", "marketing.promotion"}),
        "tag");
  };

  std::cout
      << "== The call-centre (a contractor) answers member-7's inquiry ==\n";
  auto support = Must(guard->Context("support-desk", "support"), "context");
  Give(*guard, support, *registry, "callcenter-tokyo",
       tag("member-7", "contact"), records);
  Give(*guard, support, *registry, "callcenter-tokyo",
       tag("member-7", "communication"), records);

  std::cout << "\n== The partner insurer (a third party) ==\n";
  auto promo = Must(
      guard->Context("marketing-analytics", "marketing.promotion"), "context");
  Give(*guard, promo, *registry, "partner-insurer", tag("member-8", "contact"),
       records);
  std::cout << "  member-8 asks to stop provision to third parties\n";
  consentry::v1::RestrictionEntry stop;
  stop.set_kind(consentry::v1::RESTRICTION_KIND_THIRD_PARTY_PROVISION_STOPPED);
  stop.set_request_id("req-0008");
  Must(consentry::AddRestrictions(store, "member-8", {stop}, "request-desk"),
       "stop provision");
  Give(*guard, promo, *registry, "partner-insurer", tag("member-8", "contact"),
       records);
  // A member who never consented to provision.
  Consent(store, "member-9", "marketing.promotion");
  Give(*guard, promo, *registry, "partner-insurer", tag("member-9", "contact"),
       records);

  std::cout
      << "\n== member-8's provision history (for a disclosure request) ==\n";
  consentry::v1::ProvisionHistory h =
      Must(consentry::HistoryForSubject(records, "member-8"), "history");
  for (const auto& p : h.provisions()) {
    std::cout << "  " << p.id() << ": " << p.recipient_name() << ", "
              << p.purpose() << ", basis " << p.basis() << ", categories";
    for (const auto& c : p.categories()) std::cout << " " << c;
    std::cout << "\n";
  }

  std::cout << "\n== Recipients due for monitoring within 30 days ==\n";
  for (const auto& due : consentry::RecipientsDueForMonitoring(
           *registry, today, absl::Hours(24 * 30))) {
    std::cout << "  " << due.name << ": due "
              << absl::FormatTime("%Y-%m-%d", due.due, absl::UTCTimeZone())
              << (due.overdue ? " (overdue)" : "") << "\n";
  }

  int provision_events = 0;
  for (const auto& e : audit.Events()) {
    if (e.action == consentry::AuditAction::kProvision) ++provision_events;
  }
  std::cout << "\nAudit: " << audit.size() << " events, " << provision_events
            << " of them provision decisions.\n";
  return 0;
}
