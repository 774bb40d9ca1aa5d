// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Request files and the request state machine. Input: a mode byte, then
//  - mode 0: a request record as text format, stored as it is (a request
//    file edited by hand) and executed;
//  - otherwise: a sequence of desk steps (FuzzedDataProvider), with
//    "tamper" steps that rewrite the stored record between them.
// Properties: a parse error is a clean `kInvalidArgument`; `Execute`
// succeeds only when the record it ran on was in PROCESSING with the
// identity verified for the subject the request names, the form returned,
// the fee paid when the record or the policy charges one, the history
// complete (received, form sent, identity verified, processing started)
// and, for the kinds with an effect, a verified contract of that person;
// its answer is about that subject only. Every record the desk writes
// passes `ValidateRequestRecord`.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/proto_io.h"
#include "consentry/requests.h"
#include "consentry/v1/request.pb.h"
#include "fuzz/fuzz_support.h"

namespace {

namespace v1 = ::consentry::v1;

bool HasStep(const v1::SubjectRequest& r, const std::string& step) {
  return std::any_of(r.transitions().begin(), r.transitions().end(),
                     [&](const v1::Transition& t) { return t.step() == step; });
}

// The contract "C-<subject>" belongs to <subject>.
absl::StatusOr<std::string> Resolve(absl::string_view, absl::string_view v) {
  if (v.size() > 2 && v.substr(0, 2) == "C-") return std::string(v.substr(2));
  return absl::NotFoundError("no such contract");
}

// What must hold of the record `Execute` ran on, if it succeeded.
void CheckExecutable(const v1::SubjectRequest& r,
                     const consentry::CompiledPolicy& policy) {
  const std::string id = r.ShortDebugString().substr(0, 400);
  CONSENTRY_FUZZ_CHECK(r.state() == v1::REQUEST_STATE_PROCESSING, id);
  CONSENTRY_FUZZ_CHECK(r.requester().identity().verified(), id);
  CONSENTRY_FUZZ_CHECK(!r.verified_subject_id().empty() &&
                           r.verified_subject_id() == r.subject_id(),
                       id);
  CONSENTRY_FUZZ_CHECK(r.form_returned(), id);
  std::int64_t policy_fee = 0;
  if (r.kind() == v1::REQUEST_KIND_DISCLOSURE) {
    policy_fee = policy.proto().requests().disclosure_fee_jpy();
  } else if (r.kind() == v1::REQUEST_KIND_PURPOSE_NOTICE) {
    policy_fee = policy.proto().requests().purpose_notice_fee_jpy();
  }
  if (policy_fee > 0 || r.fee().amount_jpy() > 0) {
    CONSENTRY_FUZZ_CHECK(r.fee().paid() && HasStep(r, "fee_paid"), id);
  }
  for (const char* step :
       {"received", "form_sent", "identity_verified", "processing_started"}) {
    CONSENTRY_FUZZ_CHECK(HasStep(r, step),
                         absl::StrCat(step, " missing: ", id));
  }
  if (r.has_agent()) {
    CONSENTRY_FUZZ_CHECK(r.agent().authority().verified(), id);
  }
  if (r.kind() != v1::REQUEST_KIND_PURPOSE_NOTICE &&
      r.kind() != v1::REQUEST_KIND_DISCLOSURE) {
    bool contract = false;
    for (const v1::SecondIdentifier& si : r.identifiers()) {
      contract |= si.verified() && si.value() == "C-" + r.subject_id();
    }
    CONSENTRY_FUZZ_CHECK(contract, id);
  }
  CONSENTRY_FUZZ_CHECK(consentry::ValidateRequestRecord(r).ok(), id);
}

struct World {
  World() {
    consentry::RequestDeskOptions o;
    o.resolve_identifier = Resolve;
    o.hooks.erase_subject_data = [](absl::string_view, absl::string_view) {
      return absl::OkStatus();
    };
    o.hooks.change_record = [](absl::string_view, const v1::RecordChange&,
                               absl::string_view) { return absl::OkStatus(); };
    auto d =
        consentry::RequestDesk::Create(policy, &consent, &requests, &audit, o);
    CONSENTRY_FUZZ_CHECK(d.ok(), d.status().ToString());
    desk = *std::move(d);
  }
  std::shared_ptr<const consentry::CompiledPolicy> policy = [] {
    static const auto* const p =
        new std::shared_ptr<const consentry::CompiledPolicy>(
            consentry::fuzz::DefaultPolicy());
    return *p;
  }();
  consentry::InMemoryConsentStore consent;
  consentry::InMemoryRequestStore requests;
  consentry::InMemoryAuditSink audit;
  std::unique_ptr<consentry::RequestDesk> desk;
};

void ExecuteAndCheck(World& w, const std::string& id) {
  absl::StatusOr<v1::SubjectRequest> before = w.requests.Get(id);
  if (!before.ok()) return;
  absl::StatusOr<consentry::RequestOutcome> out = w.desk->Execute(id, "fuzz");
  if (!out.ok()) return;
  CheckExecutable(*before, *w.policy);
  if (before->kind() == v1::REQUEST_KIND_DISCLOSURE) {
    CONSENTRY_FUZZ_CHECK(out->package.subject_id() == before->subject_id(),
                         "disclosure for another subject");
    for (const v1::SubjectRequest& q : out->package.requests()) {
      CONSENTRY_FUZZ_CHECK(q.verified_subject_id() == before->subject_id(),
                           "another person's request disclosed");
    }
  }
  CONSENTRY_FUZZ_CHECK(consentry::ValidateRequestRecord(out->request).ok(),
                       "the desk wrote a record that does not validate");
}

void FuzzRecord(const std::string& text) {
  v1::SubjectRequest r;
  absl::Status s = consentry::ParseMessage(text, consentry::WireFormat::kText,
                                           r, "fuzz.textproto");
  if (!s.ok()) {
    CONSENTRY_FUZZ_CHECK(absl::IsInvalidArgument(s), s.ToString());
    return;
  }
  World w;
  absl::StatusOr<v1::SubjectRequest> stored = w.requests.Create(r);
  if (!stored.ok()) {
    // A record the store cannot keep (no subject, ...) is bad input: a
    // clear INVALID_ARGUMENT, and nothing stored.
    CONSENTRY_FUZZ_CHECK(absl::IsInvalidArgument(stored.status()),
                         stored.status().ToString());
    absl::StatusOr<consentry::RequestListing> all = w.requests.ListAll();
    CONSENTRY_FUZZ_CHECK(
        all.ok() && all->requests.empty() && all->unreadable.empty(),
        "a refused request was stored");
    return;
  }
  ExecuteAndCheck(w, stored->id());
}

void FuzzSteps(FuzzedDataProvider& in) {
  World w;
  v1::SubjectRequest intake;
  const v1::RequestKind kind =
      static_cast<v1::RequestKind>(in.ConsumeIntegralInRange(1, 6));
  intake.set_kind(kind);
  intake.set_subject_id(in.ConsumeBool() ? "s1"
                                         : in.ConsumeRandomLengthString(8));
  intake.mutable_requester()->set_name("R");
  if (kind == v1::REQUEST_KIND_SUSPENSION) intake.set_all_purposes(true);
  if (kind == v1::REQUEST_KIND_CORRECTION) {
    v1::RecordChange* c = intake.add_record_changes();
    c->set_operation(v1::RecordChange::OPERATION_CORRECT);
    c->set_record_ref("rec-1");
  }
  if (in.ConsumeBool()) {
    v1::SecondIdentifier* si = intake.add_identifiers();
    si->set_kind("contract_number");
    si->set_value(in.ConsumeBool() ? "C-" + intake.subject_id() : "C-s2");
  }
  if (in.ConsumeBool()) intake.mutable_agent()->set_name("Agent");
  absl::StatusOr<v1::SubjectRequest> r = w.desk->Receive(intake, "fuzz");
  if (!r.ok()) {
    CONSENTRY_FUZZ_CHECK(absl::IsInvalidArgument(r.status()),
                         r.status().ToString());
    return;
  }
  const std::string id = r->id();
  while (in.remaining_bytes() > 0) {
    switch (in.ConsumeIntegralInRange(0, 11)) {
      case 0:
        (void)w.desk->SendForm(id, "fuzz");
        break;
      case 1:
        (void)w.desk->RecordFormReturned(id, "fuzz");
        break;
      case 2:
        (void)w.desk->RecordFeePaid(id, "fuzz", "ref");
        break;
      case 3:
        (void)w.desk->VerifyIdentity(
            id, "fuzz",
            {in.ConsumeBool() ? intake.subject_id() : "s2", "licence"});
        break;
      case 4:
        (void)w.desk->VerifyAgentAuthority(id, "fuzz", "power of attorney");
        break;
      case 5:
        (void)w.desk->StartProcessing(id, "fuzz");
        break;
      case 6:
        ExecuteAndCheck(w, id);
        break;
      case 7:
        (void)w.desk->Answer(id, "fuzz", "letter");
        break;
      case 8:
        (void)w.desk->Refuse(id, "fuzz",
                             v1::REFUSAL_GROUND_WITHDRAWN_BY_REQUESTER, "x");
        break;
      default: {
        // Tamper with the stored record, as an edited request file would.
        absl::StatusOr<v1::SubjectRequest> s = w.requests.Get(id);
        if (!s.ok()) break;
        v1::SubjectRequest t = *s;
        switch (in.ConsumeIntegralInRange(0, 6)) {
          case 0:
            t.set_state(v1::REQUEST_STATE_PROCESSING);
            break;
          case 1:
            t.set_verified_subject_id("s2");
            break;
          case 2:
            t.clear_fee();
            break;
          case 3:
            if (t.transitions_size() > 0) {
              t.mutable_transitions()->DeleteSubrange(
                  in.ConsumeIntegralInRange(0, t.transitions_size() - 1), 1);
            }
            break;
          case 4:
            t.mutable_requester()->mutable_identity()->set_verified(true);
            t.set_verified_subject_id(t.subject_id());
            break;
          case 5:
            t.set_form_returned(true);
            break;
          default:
            for (v1::SecondIdentifier& si : *t.mutable_identifiers()) {
              si.set_verified(true);
            }
            break;
        }
        (void)w.requests.Update(t);
        break;
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  consentry::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size == 0 || size > 16384) return 0;
  if (data[0] % 2 == 0) {
    FuzzRecord(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  } else {
    FuzzedDataProvider in(data + 1, size - 1);
    FuzzSteps(in);
  }
  return 0;
}
