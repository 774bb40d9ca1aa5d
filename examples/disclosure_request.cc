// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A disclosure request (開示の求め) from receipt at the contact window to the
// written answer, following the source policy's procedure:
//
//   1. the window receives the request and sends the application form and
//      the guide with the fee (1,600 JPY, from the policy) and payment method;
//   2. the person pays, and returns the form with identity documents;
//   3. once form, documents and fee are in, processing starts; the answer is
//      written from the library's own records and sent in writing.
//
// Along the way it shows a step out of order being refused, and prints the
// answer (Markdown, Japanese and English) and the request's history.
//
//   disclosure_request [--policy=policies/default.textproto] [--out=DIR]
//
// With --out, the answer is also written to DIR/disclosure.{ja.md,en.md,json}.

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/proto_io.h"
#include "consentry/requests.h"

namespace {

int Fail(const absl::Status& s) {
  std::cerr << "disclosure_request: " << s << "\n";
  return 1;
}

// The records of provision, reduced to one entry. A real deployment passes
// a `ProvisionStoreSource` over its `ProvisionRecordStore` here
// (consentry/disclosure_sources.h).
class Provisions final : public consentry::ProvisionRecordSource {
 public:
  absl::StatusOr<std::vector<consentry::v1::ProvisionEntry>> ProvisionsFor(
      absl::string_view subject_id) override {
    std::vector<consentry::v1::ProvisionEntry> out;
    if (subject_id != "member-7") return out;
    consentry::v1::ProvisionEntry e;
    e.mutable_time()->set_seconds(1'788'000'000);
    e.set_recipient_id("univ-lab");
    e.set_recipient_name("Joint study laboratory / 共同研究先");
    e.set_direction("provided");
    e.add_categories("measurement");
    e.add_items("weight");
    e.add_items("body fat percentage");
    e.set_purpose("occasion.joint_study");
    out.push_back(e);
    return out;
  }
};

void Step(const char* what, const absl::Status& s) {
  std::printf("  %-48s %s\n", what, s.ok() ? "ok" : s.ToString().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string policy_path =
      std::string(CONSENTRY_SOURCE_DIR) + "/policies/default.textproto";
  std::string out_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--policy=", 0) == 0) policy_path = arg.substr(9);
    if (arg.rfind("--out=", 0) == 0) out_dir = arg.substr(6);
  }
  auto policy = consentry::LoadAndCompilePolicy(policy_path);
  if (!policy.ok()) return Fail(policy.status());

  // A fixed clock, so that the output is the same on every run.
  absl::Time now = absl::FromUnixSeconds(1'790'000'000);
  auto clock = [&now] { return now; };

  consentry::InMemoryConsentStore store;
  consentry::InMemoryAuditSink audit;
  consentry::GuardOptions guard_options;
  guard_options.clock = clock;
  auto guard = consentry::Guard::Create(*policy, &store, &audit, guard_options);
  if (!guard.ok()) return Fail(guard.status());

  // The member's history with the service: consent to statistics, a refusal
  // of promotions, and a few reads by the services.
  consentry::v1::ConsentChange c;
  c.set_subject_id("member-7");
  c.set_subject_kind(consentry::v1::SUBJECT_KIND_CUSTOMER);
  c.mutable_purpose_consent()->set_purpose("statistics.measurement");
  c.mutable_purpose_consent()->set_state(consentry::v1::CONSENT_STATE_GIVEN);
  c.mutable_purpose_consent()->set_policy_version((*policy)->version());
  c.mutable_purpose_consent()->mutable_time()->set_seconds(
      absl::ToUnixSeconds(now));
  if (auto r = store.Apply(c); !r.ok()) return Fail(r.status());
  c.mutable_purpose_consent()->set_purpose("marketing.promotion");
  c.mutable_purpose_consent()->set_state(consentry::v1::CONSENT_STATE_REFUSED);
  if (auto r = store.Apply(c); !r.ok()) return Fail(r.status());
  now += absl::Hours(1);
  struct Read {
    const char* accessor;
    const char* purpose;
    const char* category;
  };
  for (const Read& r :
       {Read{"statistics-job", "statistics.measurement", "measurement"},
        Read{"billing-service", "billing.invoicing", "contact"},
        Read{"marketing-analytics", "marketing.promotion", "contact"}}) {
    auto ctx = (*guard)->Context(r.accessor, r.purpose);
    auto cat = (*guard)->Category(r.category);
    if (!ctx.ok() || !cat.ok())
      return Fail(ctx.ok() ? cat.status() : ctx.status());
    if (auto d = (*guard)->Check(*ctx, "member-7", *cat); !d.ok()) {
      return Fail(d.status());
    }
    now += absl::Hours(3);
  }

  // The request desk, with the sources of the disclosure package.
  consentry::InMemoryRequestStore requests;
  consentry::InMemoryAccessEventSource access_events(&audit);
  Provisions provisions;
  consentry::RequestDeskOptions options;
  options.clock = clock;
  options.access_events = &access_events;
  options.provisions = &provisions;
  auto desk = consentry::RequestDesk::Create(*policy, &store, &requests, &audit,
                                             options);
  if (!desk.ok()) return Fail(desk.status());

  std::cout << "Disclosure request for member-7 (policy "
            << (*policy)->version() << ")\n\n";
  consentry::v1::SubjectRequest intake;
  intake.set_kind(consentry::v1::REQUEST_KIND_DISCLOSURE);
  intake.set_subject_id("member-7");
  intake.set_subject_kind(consentry::v1::SUBJECT_KIND_CUSTOMER);
  intake.mutable_requester()->set_name("山田 花子");
  intake.mutable_answer_route()->set_channel(
      consentry::v1::ANSWER_CHANNEL_WRITING);
  intake.mutable_answer_route()->set_address("東京都新宿区 ...");
  intake.set_details("保有個人データの開示を求めます。");
  const std::string window = "window:suzuki";
  auto received = (*desk)->Receive(intake, window);
  if (!received.ok()) return Fail(received.status());
  const std::string id = received->id();
  Step(("1. received as " + id).c_str(), absl::OkStatus());

  now += absl::Hours(2);
  auto sent = (*desk)->SendForm(id, window);
  if (!sent.ok()) return Fail(sent.status());
  std::printf("  %-48s ok (fee %lld JPY; %s)\n", "   form and guide sent",
              static_cast<long long>(sent->fee().amount_jpy()),
              sent->fee().payment_method().en().c_str());

  // The form comes back before the fee is paid: processing must wait.
  now += absl::Hours(72);
  Step("2. form returned",
       (*desk)->RecordFormReturned(id, "mailroom").status());
  Step("   identity documents checked",
       (*desk)
           ->VerifyIdentity(id, window, {"member-7", "運転免許証の写し"})
           .status());
  Step("   start processing (fee not yet paid)",
       (*desk)->StartProcessing(id, "privacy-officer").status());
  now += absl::Hours(24);
  Step("   fee paid",
       (*desk)->RecordFeePaid(id, "accounts", "transfer 0042").status());
  now += absl::Hours(1);
  Step("3. start processing",
       (*desk)->StartProcessing(id, "privacy-officer").status());

  now += absl::Hours(4);
  auto outcome = (*desk)->Execute(id, "privacy-officer");
  if (!outcome.ok()) return Fail(outcome.status());
  Step("   answer written from the library's records", absl::OkStatus());
  now += absl::Hours(1);
  auto answered = (*desk)->Answer(id, window, "letter 2026-118");
  if (!answered.ok()) return Fail(answered.status());
  Step("   answered in writing (letter 2026-118)", absl::OkStatus());

  std::cout << "\n---------------- answer (日本語) ----------------\n\n"
            << outcome->document_ja
            << "\n---------------- answer (English) ----------------\n\n"
            << outcome->document_en;

  std::cout << "\n---------------- request history ----------------\n\n";
  const absl::TimeZone jst = absl::FixedTimeZone(9 * 3600);
  for (const consentry::v1::Transition& t : answered->transitions()) {
    std::printf("  %s  %-20s %-18s %s\n",
                absl::FormatTime("%Y-%m-%d %H:%M",
                                 absl::FromUnixSeconds(t.time().seconds()), jst)
                    .c_str(),
                t.step().c_str(), t.actor().c_str(), t.note().c_str());
  }
  std::printf(
      "\nPackage as protobuf JSON: %zu bytes (use --out=DIR to write it).\n",
      outcome->json.size());

  if (!out_dir.empty()) {
    const std::vector<std::pair<std::string, const std::string*>> files = {
        {"/disclosure.ja.md", &outcome->document_ja},
        {"/disclosure.en.md", &outcome->document_en},
        {"/disclosure.json", &outcome->json}};
    for (const auto& [name, text] : files) {
      std::ofstream f(out_dir + name, std::ios::binary);
      f << *text;
      if (!f) {
        return Fail(absl::InternalError("cannot write " + out_dir + name));
      }
      std::cout << "wrote " << out_dir << name << "\n";
    }
  }
  return 0;
}
