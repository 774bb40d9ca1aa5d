// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/requests.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "consentry/proto_io.h"
#include "consentry/v1/policy.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/common.h"
#include "src/compliance/request_answers.h"
#include "src/util/mutex.h"
#include "src/util/status_macros.h"

namespace consentry {

using internal::ToProtoTime;

absl::string_view RequestKindName(v1::RequestKind kind) {
  switch (kind) {
    case v1::REQUEST_KIND_PURPOSE_NOTICE:
      return "purpose_notice";
    case v1::REQUEST_KIND_DISCLOSURE:
      return "disclosure";
    case v1::REQUEST_KIND_CORRECTION:
      return "correction";
    case v1::REQUEST_KIND_SUSPENSION:
      return "suspension";
    case v1::REQUEST_KIND_ERASURE:
      return "erasure";
    case v1::REQUEST_KIND_PROVISION_STOP:
      return "provision_stop";
    default:
      break;
  }
  return "unspecified";
}

absl::string_view RequestStateName(v1::RequestState state) {
  switch (state) {
    case v1::REQUEST_STATE_RECEIVED:
      return "received";
    case v1::REQUEST_STATE_FORM_SENT:
      return "form_sent";
    case v1::REQUEST_STATE_PROCESSING:
      return "processing";
    case v1::REQUEST_STATE_EXECUTED:
      return "executed";
    case v1::REQUEST_STATE_ANSWERED:
      return "answered";
    case v1::REQUEST_STATE_REFUSED:
      return "refused";
    default:
      break;
  }
  return "unspecified";
}

bool FeeAllowed(v1::RequestKind kind) {
  return kind == v1::REQUEST_KIND_PURPOSE_NOTICE ||
         kind == v1::REQUEST_KIND_DISCLOSURE;
}

namespace {

bool IsOpen(const v1::SubjectRequest& r) {
  return r.state() != v1::REQUEST_STATE_ANSWERED &&
         r.state() != v1::REQUEST_STATE_REFUSED;
}

// Kinds that act on a contract the requester must identify (procedure:
// "対象となる契約を特定するに足りる事項が提示された場合").
bool NeedsContract(v1::RequestKind kind) {
  return kind == v1::REQUEST_KIND_CORRECTION ||
         kind == v1::REQUEST_KIND_SUSPENSION ||
         kind == v1::REQUEST_KIND_ERASURE ||
         kind == v1::REQUEST_KIND_PROVISION_STOP;
}

bool IsValidUtf8(absl::string_view s) {
  return google::protobuf::internal::IsStructurallyValidUTF8(
      s.data(), static_cast<int>(s.size()));
}

// Fields holding an identifier (short); every other string is free text.
bool IsIdField(const google::protobuf::FieldDescriptor& f) {
  const std::string& n = f.name();
  return n == "id" || n == "subject_id" || n == "verified_subject_id" ||
         n == "actor" || n == "verified_by" || n == "purposes" ||
         n == "record_ref" || n == "kind" || n == "value" || n == "step" ||
         n == "hook" || n == "target" || n == "field" || n == "payment_ref" ||
         n == "answer_ref" || n == "name";
}

// Every string of `m`: valid UTF-8, within its limit. `path` names the
// first bad one.
absl::Status CheckStrings(const google::protobuf::Message& m,
                          const std::string& prefix) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* refl = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  refl->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    const int n = f->is_repeated() ? refl->FieldSize(m, f) : 1;
    if (f->is_repeated() && n > kMaxRequestHistory) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, f->name(), " has ", n, " entries, more than the limit of ",
          kMaxRequestHistory));
    }
    for (int i = 0; i < n; ++i) {
      const std::string where =
          f->is_repeated() ? absl::StrCat(prefix, f->name(), "[", i, "]")
                           : absl::StrCat(prefix, f->name());
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        std::string scratch;
        const std::string& v =
            f->is_repeated()
                ? refl->GetRepeatedStringReference(m, f, i, &scratch)
                : refl->GetStringReference(m, f, &scratch);
        if (!IsValidUtf8(v)) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, " is not valid UTF-8"));
        }
        const std::size_t limit =
            IsIdField(*f) ? kMaxRequestIdBytes : kMaxRequestTextBytes;
        if (v.size() > limit) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, " has ", v.size(),
                           " bytes, more than the limit of ", limit));
        }
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        const google::protobuf::Message& sub =
            f->is_repeated() ? refl->GetRepeatedMessage(m, f, i)
                             : refl->GetMessage(m, f);
        RETURN_IF_ERROR(CheckStrings(sub, where + "."));
      }
    }
  }
  return absl::OkStatus();
}

// The desk's steps and the states each moves between (`from` UNSPECIFIED
// in the table means: any of RECEIVED, FORM_SENT, PROCESSING).
struct StepRule {
  absl::string_view step;
  v1::RequestState from;
  v1::RequestState to;
  bool repeatable;
};
constexpr StepRule kStepRules[] = {
    {"received", v1::REQUEST_STATE_UNSPECIFIED, v1::REQUEST_STATE_RECEIVED,
     false},
    {"form_sent", v1::REQUEST_STATE_RECEIVED, v1::REQUEST_STATE_FORM_SENT,
     false},
    {"form_returned", v1::REQUEST_STATE_FORM_SENT, v1::REQUEST_STATE_FORM_SENT,
     false},
    {"fee_paid", v1::REQUEST_STATE_FORM_SENT, v1::REQUEST_STATE_FORM_SENT,
     false},
    {"identity_verified", v1::REQUEST_STATE_FORM_SENT,
     v1::REQUEST_STATE_FORM_SENT, false},
    {"agent_verified", v1::REQUEST_STATE_FORM_SENT, v1::REQUEST_STATE_FORM_SENT,
     false},
    {"processing_started", v1::REQUEST_STATE_FORM_SENT,
     v1::REQUEST_STATE_PROCESSING, false},
    {"hook_failed", v1::REQUEST_STATE_PROCESSING, v1::REQUEST_STATE_PROCESSING,
     true},
    {"executed", v1::REQUEST_STATE_PROCESSING, v1::REQUEST_STATE_EXECUTED,
     false},
    {"answered", v1::REQUEST_STATE_EXECUTED, v1::REQUEST_STATE_ANSWERED, false},
    {"refused", v1::REQUEST_STATE_UNSPECIFIED, v1::REQUEST_STATE_REFUSED,
     false},
};

bool HasStep(const v1::SubjectRequest& r, absl::string_view step) {
  return std::any_of(r.transitions().begin(), r.transitions().end(),
                     [&](const v1::Transition& t) { return t.step() == step; });
}

// The transitions form an unbroken path of the desk's steps ending in the
// request's state, and the recorded facts agree with it.
absl::Status CheckHistory(const v1::SubjectRequest& r) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("request ", r.id(), ": ", what));
  };
  if (r.transitions().empty()) {
    return bad(absl::StrCat("no transitions, yet in state ",
                            RequestStateName(r.state())));
  }
  v1::RequestState at = v1::REQUEST_STATE_UNSPECIFIED;
  std::vector<absl::string_view> seen;
  for (int i = 0; i < r.transitions_size(); ++i) {
    const v1::Transition& t = r.transitions(i);
    const StepRule* rule = nullptr;
    for (const StepRule& k : kStepRules) {
      if (k.step == t.step()) rule = &k;
    }
    if (rule == nullptr) {
      return bad(
          absl::StrCat("transitions[", i, "]: unknown step '", t.step(), "'"));
    }
    const bool refusable = at == v1::REQUEST_STATE_RECEIVED ||
                           at == v1::REQUEST_STATE_FORM_SENT ||
                           at == v1::REQUEST_STATE_PROCESSING;
    const bool from_ok = rule->step == "refused" ? refusable : at == rule->from;
    if (!from_ok || t.from() != at || t.to() != rule->to) {
      return bad(absl::StrCat("transitions[", i, "]: step '", t.step(),
                              "' from ", RequestStateName(t.from()), " to ",
                              RequestStateName(t.to()),
                              " does not follow state ", RequestStateName(at)));
    }
    if (!rule->repeatable &&
        std::find(seen.begin(), seen.end(), rule->step) != seen.end()) {
      return bad(absl::StrCat("transitions[", i, "]: step '", t.step(),
                              "' happened twice"));
    }
    seen.push_back(rule->step);
    at = rule->to;
  }
  if (at != r.state()) {
    return bad(absl::StrCat("state is ", RequestStateName(r.state()),
                            " but the transitions end in ",
                            RequestStateName(at)));
  }
  if (r.form_returned() != HasStep(r, "form_returned")) {
    return bad("form_returned disagrees with the transitions");
  }
  if (r.fee().paid() != HasStep(r, "fee_paid")) {
    return bad("fee.paid disagrees with the transitions");
  }
  if (r.fee().paid() && r.fee().amount_jpy() <= 0) {
    return bad("fee.paid without a fee amount");
  }
  if (r.requester().identity().verified() != HasStep(r, "identity_verified")) {
    return bad("requester.identity.verified disagrees with the transitions");
  }
  if (r.agent().authority().verified() != HasStep(r, "agent_verified")) {
    return bad("agent.authority.verified disagrees with the transitions");
  }
  if (r.requester().identity().verified() == r.verified_subject_id().empty()) {
    return bad(
        "verified_subject_id is set if and only if the identity is "
        "verified");
  }
  if (!r.verified_subject_id().empty() &&
      r.verified_subject_id() != r.subject_id()) {
    return bad(absl::StrCat("verified_subject_id '", r.verified_subject_id(),
                            "' is not the subject the request names '",
                            r.subject_id(), "'"));
  }
  if (r.has_refusal() != (r.state() == v1::REQUEST_STATE_REFUSED)) {
    return bad("a refusal is recorded if and only if the state is refused");
  }
  return absl::OkStatus();
}

// An error text for the request file: integrator errors may hold any
// bytes; keep them readable and within the limit.
std::string SafeText(std::string s) {
  if (!IsValidUtf8(s)) s = absl::CHexEscape(s);
  if (s.size() > kMaxRequestTextBytes / 2) {
    s.resize(kMaxRequestTextBytes / 2);
    while (!s.empty() && !IsValidUtf8(s)) s.pop_back();
    s += "...";
  }
  return s;
}

}  // namespace

absl::Status ValidateRequestRecord(const v1::SubjectRequest& r) {
  RETURN_IF_ERROR(CheckStrings(r, ""));
  if (!v1::RequestKind_IsValid(r.kind()) ||
      r.kind() == v1::REQUEST_KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request ", r.id(), ": unknown kind ", static_cast<int>(r.kind())));
  }
  if (!v1::RequestState_IsValid(r.state()) ||
      r.state() == v1::REQUEST_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request ", r.id(), ": unknown state ", static_cast<int>(r.state())));
  }
  if (r.subject_id().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request ", r.id(), ": subject_id is empty"));
  }
  return CheckHistory(r);
}

absl::Status ValidateStorableRequest(const v1::SubjectRequest& r) {
  absl::Status s = CheckStrings(r, "");
  if (s.ok() && !v1::RequestKind_IsValid(r.kind())) {
    s = absl::InvalidArgumentError(
        absl::StrCat("unknown kind ", static_cast<int>(r.kind())));
  }
  if (s.ok() && !v1::RequestState_IsValid(r.state())) {
    s = absl::InvalidArgumentError(
        absl::StrCat("unknown state ", static_cast<int>(r.state())));
  }
  if (s.ok() && r.subject_id().empty()) {
    s = absl::InvalidArgumentError("subject_id is empty");
  }
  if (s.ok()) return s;
  return absl::InvalidArgumentError(absl::StrCat(
      "request '", IsValidUtf8(r.id()) ? r.id() : absl::CHexEscape(r.id()),
      "': ", s.message()));
}

absl::Status ValidateRequestId(absl::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("request id is empty");
  if (id.size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("request id has ", id.size(),
                     " bytes, more than the limit of ", kMaxRequestIdBytes));
  }
  if (!IsValidUtf8(id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request id '", absl::CHexEscape(id), "' is not valid UTF-8"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// InMemoryRequestStore

struct InMemoryRequestStore::Impl {
  mutable internal::Mutex mu;
  // Keyed by creation sequence, so listings come out oldest first.
  std::map<std::int64_t, v1::SubjectRequest> by_seq ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, std::int64_t> seq_of ABSL_GUARDED_BY(mu);
  std::int64_t next ABSL_GUARDED_BY(mu) = 1;
  bool unavailable ABSL_GUARDED_BY(mu) = false;
};

namespace {
absl::Status StoreUnavailable() {
  return absl::UnavailableError("in-memory request store: unavailable (test)");
}
}  // namespace

InMemoryRequestStore::InMemoryRequestStore()
    : impl_(std::make_unique<Impl>()) {}
InMemoryRequestStore::~InMemoryRequestStore() = default;

absl::StatusOr<v1::SubjectRequest> InMemoryRequestStore::Create(
    v1::SubjectRequest request) {
  RETURN_IF_ERROR(ValidateStorableRequest(request));
  internal::MutexLock lock(&impl_->mu);
  if (impl_->unavailable) return StoreUnavailable();
  const std::int64_t seq = impl_->next++;
  request.set_id(absl::StrCat("req-", seq));
  request.set_version(1);
  impl_->seq_of[request.id()] = seq;
  impl_->by_seq[seq] = request;
  return request;
}

absl::StatusOr<v1::SubjectRequest> InMemoryRequestStore::Get(
    absl::string_view id) {
  RETURN_IF_ERROR(ValidateRequestId(id));
  internal::ReaderMutexLock lock(&impl_->mu);
  if (impl_->unavailable) return StoreUnavailable();
  auto it = impl_->seq_of.find(id);
  if (it == impl_->seq_of.end()) {
    return absl::NotFoundError(absl::StrCat("request '", id, "' not found"));
  }
  return impl_->by_seq.at(it->second);
}

absl::StatusOr<v1::SubjectRequest> InMemoryRequestStore::Update(
    const v1::SubjectRequest& request) {
  RETURN_IF_ERROR(ValidateRequestId(request.id()));
  RETURN_IF_ERROR(ValidateStorableRequest(request));
  internal::MutexLock lock(&impl_->mu);
  if (impl_->unavailable) return StoreUnavailable();
  auto it = impl_->seq_of.find(request.id());
  if (it == impl_->seq_of.end()) {
    return absl::NotFoundError(
        absl::StrCat("request '", request.id(), "' not found"));
  }
  v1::SubjectRequest& stored = impl_->by_seq.at(it->second);
  if (stored.version() != request.version()) {
    return absl::AbortedError(absl::StrCat(
        "request '", request.id(), "': expected version ", request.version(),
        " but the stored request is at version ", stored.version()));
  }
  stored = request;
  stored.set_version(request.version() + 1);
  return stored;
}

absl::StatusOr<std::vector<v1::SubjectRequest>>
InMemoryRequestStore::ListBySubject(absl::string_view subject_id) {
  internal::ReaderMutexLock lock(&impl_->mu);
  if (impl_->unavailable) return StoreUnavailable();
  std::vector<v1::SubjectRequest> out;
  for (const auto& [seq, r] : impl_->by_seq) {
    if (!r.verified_subject_id().empty() &&
        r.verified_subject_id() == subject_id) {
      out.push_back(r);
    }
  }
  return out;
}

absl::StatusOr<RequestListing> InMemoryRequestStore::ListOpen() {
  internal::ReaderMutexLock lock(&impl_->mu);
  if (impl_->unavailable) return StoreUnavailable();
  RequestListing out;
  for (const auto& [seq, r] : impl_->by_seq) {
    if (IsOpen(r)) out.requests.push_back(r);
  }
  return out;
}

absl::StatusOr<RequestListing> InMemoryRequestStore::ListAll() {
  internal::ReaderMutexLock lock(&impl_->mu);
  if (impl_->unavailable) return StoreUnavailable();
  RequestListing out;
  out.requests.reserve(impl_->by_seq.size());
  for (const auto& [seq, r] : impl_->by_seq) out.requests.push_back(r);
  return out;
}

absl::StatusOr<v1::SubjectRequest> InMemoryRequestStore::Import(
    const v1::SubjectRequest& request) {
  ASSIGN_OR_RETURN(const std::int64_t n, ImportableRequestNumber(request.id()));
  RETURN_IF_ERROR(ValidateStorableRequest(request));
  internal::MutexLock lock(&impl_->mu);
  if (impl_->unavailable) return StoreUnavailable();
  if (impl_->seq_of.contains(request.id())) {
    return absl::AlreadyExistsError(
        absl::StrCat("request '", request.id(), "' is already stored"));
  }
  // Its number is its place: ids assigned later follow it.
  impl_->seq_of[request.id()] = n;
  impl_->by_seq[n] = request;
  impl_->next = std::max(impl_->next, n + 1);
  return request;
}

void InMemoryRequestStore::SetUnavailableForTesting(bool unavailable) {
  internal::MutexLock lock(&impl_->mu);
  impl_->unavailable = unavailable;
}

absl::StatusOr<AccessEventSource::CoveredEvents>
AccessEventSource::CoveredEventsFor(absl::string_view subject_id) {
  absl::StatusOr<std::vector<OwnedAuditEvent>> events = EventsFor(subject_id);
  if (!events.ok()) return events.status();
  CoveredEvents out;
  out.events = *std::move(events);
  return out;
}

absl::StatusOr<std::vector<OwnedAuditEvent>>
InMemoryAccessEventSource::EventsFor(absl::string_view subject_id) {
  std::vector<OwnedAuditEvent> out;
  for (OwnedAuditEvent& e : sink_->Events()) {
    if (e.subject == subject_id) out.push_back(std::move(e));
  }
  return out;
}

// ---------------------------------------------------------------------------
// RequestDesk

struct RequestDesk::Impl {
  std::shared_ptr<const CompiledPolicy> policy;
  ConsentStore* consent = nullptr;
  RequestStore* requests = nullptr;
  AuditSink* audit = nullptr;
  RequestDeskOptions options;

  absl::Time Now() const {
    return options.clock ? options.clock() : absl::Now();
  }

  // Audits one step of `r`. `record_ref` defaults to the request id.
  absl::Status Audit(const v1::SubjectRequest& r, absl::string_view actor,
                     absl::string_view step,
                     Reason reason = Reason::kUnspecified,
                     absl::string_view record_ref = "") const {
    AuditEvent e;
    e.time_unix_nanos = absl::ToUnixNanos(Now());
    e.action = AuditAction::kRequest;
    e.accessor = actor;
    e.subject = r.verified_subject_id().empty()
                    ? absl::string_view(r.subject_id())
                    : absl::string_view(r.verified_subject_id());
    e.request_kind = RequestKindName(r.kind());
    e.purpose = step;
    e.policy_version = policy->version();
    const std::string ref =
        record_ref.empty() ? r.id() : absl::StrCat(r.id(), ":", record_ref);
    e.record_ref = ref;
    e.request_id = r.id();
    e.reason = reason;
    absl::Status s = audit->Record(e);
    if (!s.ok()) {
      return absl::UnavailableError(
          absl::StrCat("request ", r.id(), ": audit sink refused the '", step,
                       "' event, so the step did not happen: ", s.message()));
    }
    return absl::OkStatus();
  }

  static void AddTransition(v1::SubjectRequest& r, v1::RequestState to,
                            absl::string_view step, absl::string_view actor,
                            absl::string_view note, absl::Time now) {
    v1::Transition* t = r.add_transitions();
    t->set_from(r.state());
    t->set_to(to);
    t->set_step(std::string(step));
    *t->mutable_time() = ToProtoTime(now);
    t->set_actor(std::string(actor));
    t->set_note(std::string(note));
    r.set_state(to);
  }

  // The request's current state must be `want` for `step`.
  static absl::Status RequireState(const v1::SubjectRequest& r,
                                   v1::RequestState want,
                                   absl::string_view step,
                                   absl::string_view hint) {
    if (r.state() == want) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "request ", r.id(), " (", RequestKindName(r.kind()), "): cannot ", step,
        " in state ", RequestStateName(r.state()), "; it requires state ",
        RequestStateName(want), hint.empty() ? "" : " (", hint,
        hint.empty() ? "" : ")"));
  }

  // One step: read, check and change (`mutate` returns the note or an
  // error), record the transition, audit, write back.
  template <typename F>
  absl::StatusOr<v1::SubjectRequest> Step(absl::string_view id,
                                          absl::string_view actor,
                                          absl::string_view step,
                                          v1::RequestState to, F mutate) {
    if (actor.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("request ", id, ": ", step, " needs an actor"));
    }
    ASSIGN_OR_RETURN(v1::SubjectRequest r, requests->Get(id));
    absl::StatusOr<std::string> note = mutate(r);
    if (!note.ok()) return note.status();
    AddTransition(r, to, step, actor, *note, Now());
    // Nothing the desk writes may fail the check a store applies on read.
    RETURN_IF_ERROR(ValidateRequestRecord(r));
    return AuditAndCommit(r, actor, step);
  }

  // Audits `step` of `r`, then writes `r` back. The event goes first, so
  // that an audit outage stops the step; when the write then fails or loses
  // a race, a `<step>:not_committed` event retracts it, so that no event
  // stands for a step the store does not hold.
  absl::StatusOr<v1::SubjectRequest> AuditAndCommit(const v1::SubjectRequest& r,
                                                    absl::string_view actor,
                                                    absl::string_view step) {
    RETURN_IF_ERROR(Audit(r, actor, step));
    absl::StatusOr<v1::SubjectRequest> stored = requests->Update(r);
    if (stored.ok()) return stored;
    const std::string retraction = absl::StrCat(step, ":not_committed");
    if (absl::Status s = Audit(r, actor, retraction); !s.ok()) {
      return absl::Status(
          stored.status().code(),
          absl::StrCat(stored.status().message(), "; the '", step,
                       "' audit event stands without the step: ", s.message()));
    }
    return stored.status();
  }

  absl::Status ValidateIntake(const v1::SubjectRequest& in) const;
  absl::Status CheckExecutable(const v1::SubjectRequest& r) const;
  absl::StatusOr<Revision> ApplyRestriction(const v1::SubjectRequest& r);
  absl::Status AddReceipts(const std::vector<v1::ConsentRecord>& history,
                           v1::DisclosurePackage& pkg);
  absl::StatusOr<v1::DisclosurePackage> BuildDisclosure(
      const v1::SubjectRequest& r, const v1::ConsentRecord& record);

  // Execute, step by step.
  class HookRunner;
  absl::Status ApplyEffect(const v1::SubjectRequest& r,
                           absl::string_view actor);
  absl::Status RunHooks(v1::SubjectRequest& r, absl::string_view actor);
  absl::StatusOr<RequestOutcome> WriteAnswer(const v1::SubjectRequest& r);
  absl::Status StoreAnswer(const v1::SubjectRequest& r,
                           const RequestOutcome& answer);
};

absl::Status RequestDesk::Impl::ValidateIntake(
    const v1::SubjectRequest& in) const {
  auto invalid = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("request intake: ", what));
  };
  if (in.kind() == v1::REQUEST_KIND_UNSPECIFIED ||
      !v1::RequestKind_IsValid(in.kind())) {
    return invalid(absl::StrCat("kind must be set (got ",
                                static_cast<int>(in.kind()), ")"));
  }
  if (absl::Status s = CheckStrings(in, ""); !s.ok()) {
    return invalid(s.message());
  }
  if (in.subject_id().empty()) return invalid("subject_id must not be empty");
  if (in.requester().name().empty()) {
    return invalid("requester.name must not be empty");
  }
  if (in.has_agent() && in.agent().name().empty()) {
    return invalid("agent.name must not be empty when an agent applies");
  }
  const v1::AnswerChannel ch = in.answer_route().channel();
  if (ch != v1::ANSWER_CHANNEL_UNSPECIFIED &&
      ch != v1::ANSWER_CHANNEL_WRITING && !in.answer_route().person_agreed()) {
    return invalid(
        "answer_route.person_agreed must be true for a channel other than "
        "writing (§7.4: answers are in writing unless the person agrees to "
        "another way)");
  }
  // Fields the desk sets itself.
  if (!in.id().empty() || in.state() != v1::REQUEST_STATE_UNSPECIFIED ||
      !in.transitions().empty() || in.has_fee() || in.form_returned() ||
      !in.verified_subject_id().empty() || in.has_refusal() ||
      !in.hook_runs().empty() || !in.answer_ref().empty() ||
      in.version() != 0 || in.requester().has_identity() ||
      (in.has_agent() && in.agent().has_authority())) {
    return invalid(
        "id, state, transitions, fee, form_returned, verified_subject_id, "
        "refusal, hook_runs, answer_ref, version and verifications are set "
        "by the desk, not by the intake");
  }
  for (int i = 0; i < in.identifiers_size(); ++i) {
    const v1::SecondIdentifier& si = in.identifiers(i);
    if (si.kind().empty() || si.value().empty() || si.verified()) {
      return invalid(absl::StrCat("identifiers[", i,
                                  "] needs a kind and a value and must not be "
                                  "marked verified"));
    }
  }
  const bool suspension = in.kind() == v1::REQUEST_KIND_SUSPENSION;
  if (!suspension && (!in.purposes().empty() || in.all_purposes())) {
    return invalid(
        absl::StrCat("purposes / all_purposes apply to suspension "
                     "only, not to ",
                     RequestKindName(in.kind())));
  }
  if (suspension && in.purposes().empty() == !in.all_purposes()) {
    return invalid(
        "a suspension names purposes or sets all_purposes (exactly one)");
  }
  for (int i = 0; i < in.purposes_size(); ++i) {
    if (!policy->FindPurpose(in.purposes(i)).ok()) {
      return invalid(absl::StrCat("purposes[", i, "]: unknown purpose '",
                                  in.purposes(i), "' in policy ",
                                  policy->version()));
    }
  }
  const bool correction = in.kind() == v1::REQUEST_KIND_CORRECTION;
  if (!correction && !in.record_changes().empty()) {
    return invalid(
        absl::StrCat("record_changes apply to correction only, not to ",
                     RequestKindName(in.kind())));
  }
  if (correction && in.record_changes().empty()) {
    return invalid("a correction needs at least one record_changes entry");
  }
  for (int i = 0; i < in.record_changes_size(); ++i) {
    const v1::RecordChange& c = in.record_changes(i);
    if (c.operation() == v1::RecordChange::OPERATION_UNSPECIFIED ||
        !v1::RecordChange::Operation_IsValid(c.operation())) {
      return invalid(
          absl::StrCat("record_changes[", i, "].operation must be set"));
    }
    if (c.record_ref().empty()) {
      return invalid(
          absl::StrCat("record_changes[", i, "].record_ref must not be empty"));
    }
  }
  return absl::OkStatus();
}

absl::Status RequestDesk::Impl::CheckExecutable(
    const v1::SubjectRequest& r) const {
  auto refuse = [&](absl::string_view why) {
    return absl::FailedPreconditionError(
        absl::StrCat("request ", r.id(), " (", RequestKindName(r.kind()),
                     "): cannot execute: ", why, "; nothing is executed"));
  };
  if (absl::Status s = ValidateRequestRecord(r); !s.ok()) {
    return refuse(
        absl::StrCat("the stored record is inconsistent: ", s.message()));
  }
  std::vector<std::string> missing;
  if (!r.requester().identity().verified() || r.verified_subject_id().empty() ||
      r.verified_subject_id() != r.subject_id()) {
    missing.push_back(
        "identity not verified for the subject the request "
        "names");
  }
  if (!r.form_returned()) missing.push_back("application form not returned");
  // The fee due is re-derived from the policy too: a record whose fee was
  // removed does not escape it.
  const v1::RequestSettings& settings = policy->proto().requests();
  std::int64_t policy_fee = 0;
  if (r.kind() == v1::REQUEST_KIND_DISCLOSURE) {
    policy_fee = settings.disclosure_fee_jpy();
  } else if (r.kind() == v1::REQUEST_KIND_PURPOSE_NOTICE) {
    policy_fee = settings.purpose_notice_fee_jpy();
  }
  if (r.fee().amount_jpy() > 0 && !FeeAllowed(r.kind())) {
    missing.push_back("a fee recorded on a kind that carries none");
  }
  if ((r.fee().amount_jpy() > 0 || policy_fee > 0) && !r.fee().paid()) {
    missing.push_back(absl::StrCat("fee of ",
                                   std::max(r.fee().amount_jpy(), policy_fee),
                                   " JPY not paid"));
  }
  if (r.has_agent() && !r.agent().authority().verified()) {
    missing.push_back("agent's documents not verified");
  }
  if (NeedsContract(r.kind())) {
    bool contract = false;
    for (const v1::SecondIdentifier& si : r.identifiers()) {
      if (!si.verified()) continue;
      if (options.resolve_identifier) {
        absl::StatusOr<std::string> owner =
            options.resolve_identifier(si.kind(), si.value());
        if (!owner.ok() &&
            owner.status().code() != absl::StatusCode::kNotFound) {
          return owner.status();
        }
        if (!owner.ok() || *owner != r.verified_subject_id()) {
          missing.push_back(absl::StrCat(
              "the ", si.kind(), " does not belong to the verified person"));
          continue;
        }
      }
      contract = true;
    }
    if (!contract) {
      missing.push_back("no verified identifier identifying the contract");
    }
  }
  if (!missing.empty()) return refuse(absl::StrJoin(missing, "; "));
  return absl::OkStatus();
}

absl::StatusOr<Revision> RequestDesk::Impl::ApplyRestriction(
    const v1::SubjectRequest& r) {
  const std::string& subject = r.verified_subject_id();
  // The restrictions the request decides, each an entry naming it.
  std::vector<v1::RestrictionEntry> decided;
  auto decide = [&](v1::RestrictionKind kind, const std::string& purpose) {
    v1::RestrictionEntry& e = decided.emplace_back();
    e.set_kind(kind);
    e.set_purpose(purpose);
    e.set_request_id(r.id());
    e.set_actor(absl::StrCat("request:", r.id()));
  };
  switch (r.kind()) {
    case v1::REQUEST_KIND_SUSPENSION:
      if (r.all_purposes()) decide(v1::RESTRICTION_KIND_SUSPEND_ALL, "");
      for (const std::string& p : r.purposes()) {
        decide(v1::RESTRICTION_KIND_SUSPENDED_PURPOSE, p);
      }
      break;
    case v1::REQUEST_KIND_ERASURE:
      decide(v1::RESTRICTION_KIND_ERASED, "");
      break;
    case v1::REQUEST_KIND_PROVISION_STOP:
      decide(v1::RESTRICTION_KIND_THIRD_PARTY_PROVISION_STOPPED, "");
      break;
    default:
      break;
  }
  if (decided.empty()) return consent->LatestRevision();
  const google::protobuf::Timestamp now = ToProtoTime(Now());
  for (v1::RestrictionEntry& e : decided) *e.mutable_time() = now;
  // Compare-and-set with re-read and retry (AddRestrictions): a concurrent
  // writer's restrictions are never lost, nor are this request's.
  absl::StatusOr<Revision> rev =
      AddRestrictions(*consent, subject, decided,
                      absl::StrCat("request:", r.id()), r.subject_kind());
  if (absl::IsAborted(rev.status())) {
    return absl::AbortedError(absl::StrCat(
        "request ", r.id(), ": the consent record of '", subject,
        "' kept changing while the restriction was merged; retry Execute"));
  }
  return rev;
}

absl::Status RequestDesk::Impl::AddReceipts(
    const std::vector<v1::ConsentRecord>& history, v1::DisclosurePackage& pkg) {
  ReceiptOptions receipt_options;
  receipt_options.controller = options.receipt_controller;
  absl::StatusOr<std::vector<ConsentReceipt>> receipts =
      ReceiptsForHistory(*policy, history, receipt_options);
  if (!receipts.ok()) {
    // A record version that cannot make a receipt (no state, unreadable)
    // leaves the receipts out, said so; the rest of the answer stands.
    pkg.add_omitted_sections(absl::StrCat(
        "consent_receipts: cannot be written: ", receipts.status().message()));
    return absl::OkStatus();
  }
  for (ConsentReceipt& r : *receipts) {
    if (options.receipt_keys != nullptr) {
      RETURN_IF_ERROR(SignReceipt(*options.receipt_keys, r));
    }
    pkg.add_consent_receipts(SerializeReceipt(r));
  }
  if (options.receipt_keys == nullptr && !receipts->empty()) {
    pkg.add_omitted_sections(
        "consent_receipts: not signed; no receipt signing key is configured");
  }
  return absl::OkStatus();
}

namespace {

// A disclosure source's failure: the package fails, naming the section, so
// that no package goes out silently missing one.
absl::Status SourceFailed(const v1::SubjectRequest& r,
                          absl::string_view section, const absl::Status& s) {
  return absl::Status(
      s.code(), absl::StrCat("disclosure package of ", r.id(), ": ", section,
                             " source: ", s.message()));
}

}  // namespace

absl::StatusOr<v1::DisclosurePackage> RequestDesk::Impl::BuildDisclosure(
    const v1::SubjectRequest& r, const v1::ConsentRecord& record) {
  const std::string& subject = r.verified_subject_id();
  const absl::Time now = Now();
  v1::DisclosurePackage pkg;
  pkg.set_subject_id(subject);
  *pkg.mutable_time() = ToProtoTime(now);
  pkg.set_policy_version(policy->version());
  pkg.set_request_id(r.id());
  *pkg.mutable_consent() = record;
  *pkg.mutable_purposes() = internal::BuildPurposeNotice(*policy, record, now);

  std::vector<v1::ConsentRecord> history;
  if (options.consent_history != nullptr) {
    absl::StatusOr<std::vector<v1::ConsentRecord>> versions =
        options.consent_history->HistoryFor(subject);
    if (!versions.ok()) {
      return SourceFailed(r, "consent_history", versions.status());
    }
    history = *std::move(versions);
    for (const v1::ConsentRecord& h : history) *pkg.add_consent_history() = h;
  } else {
    pkg.add_omitted_sections(
        "consent_history: this deployment's consent store keeps no history; "
        "only the current record is disclosed");
  }

  // Without a history, the current record makes the one receipt.
  if (history.empty() && record.purposes_size() > 0) history.push_back(record);
  RETURN_IF_ERROR(AddReceipts(history, pkg));

  ASSIGN_OR_RETURN(std::vector<v1::SubjectRequest> reqs,
                   requests->ListBySubject(subject));
  for (v1::SubjectRequest& q : reqs) *pkg.add_requests() = std::move(q);

  if (options.provisions != nullptr) {
    absl::StatusOr<std::vector<v1::ProvisionEntry>> provisions =
        options.provisions->ProvisionsFor(subject);
    if (!provisions.ok()) {
      return SourceFailed(r, "provisions", provisions.status());
    }
    for (v1::ProvisionEntry& p : *provisions)
      *pkg.add_provisions() = std::move(p);
  } else {
    pkg.add_omitted_sections(
        "provisions: no provision record source is configured");
  }

  if (options.access_events != nullptr) {
    absl::StatusOr<AccessEventSource::CoveredEvents> covered =
        options.access_events->CoveredEventsFor(subject);
    if (!covered.ok()) {
      return SourceFailed(r, "access_events", covered.status());
    }
    if (!covered->note.empty()) {
      // What the log no longer holds is named, never silently absent.
      pkg.add_omitted_sections(absl::StrCat("access_events: ", covered->note));
    }
    for (const OwnedAuditEvent& e : covered->events) {
      if (e.subject != subject || e.action == AuditAction::kRequest) continue;
      v1::AccessRecord* a = pkg.add_access_events();
      *a->mutable_time() = ToProtoTime(absl::FromUnixNanos(e.time_unix_nanos));
      a->set_accessor(e.accessor);
      a->set_category(e.category);
      a->set_purpose(e.purpose);
      a->set_allowed(e.allowed());
      a->set_reason(std::string(ReasonName(e.reason)));
      a->set_action(e.action == AuditAction::kProvision ? "provision" : "read");
      a->set_record_ref(e.record_ref);
    }
  } else {
    pkg.add_omitted_sections(
        "access_events: no access event source is configured");
  }
  return pkg;
}

namespace {

// The restriction a request of `kind` puts on the subject's consent record;
// `kUnspecified` for the kinds without one.
Reason RestrictionOf(v1::RequestKind kind) {
  switch (kind) {
    case v1::REQUEST_KIND_SUSPENSION:
      return Reason::kUseSuspended;
    case v1::REQUEST_KIND_ERASURE:
      return Reason::kSubjectErased;
    case v1::REQUEST_KIND_PROVISION_STOP:
      return Reason::kProvisionStopped;
    default:
      return Reason::kUnspecified;
  }
}

}  // namespace

// Runs integrator hooks for one request, each run recorded on the request
// and audited; a hook that already succeeded is not run again.
class RequestDesk::Impl::HookRunner {
 public:
  HookRunner(RequestDesk::Impl& d, v1::SubjectRequest& r,
             absl::string_view actor)
      : d_(d), r_(r), actor_(actor) {}

  // Runs `call` as `hook` on `target` unless it succeeded before. A hook
  // error is recorded (see `failures`), not returned. Errors: those of the
  // audit sink.
  absl::Status Run(absl::string_view hook, absl::string_view target,
                   absl::string_view audit_ref,
                   const std::function<absl::Status()>& call);

  // "hook(target): error" for each hook that failed.
  const std::vector<std::string>& failures() const { return failures_; }

 private:
  bool Succeeded(absl::string_view hook, absl::string_view target) const {
    return std::any_of(r_.hook_runs().begin(), r_.hook_runs().end(),
                       [&](const v1::HookRun& h) {
                         return h.ok() && h.hook() == hook &&
                                h.target() == target;
                       });
  }
  std::int32_t Attempts(absl::string_view hook,
                        absl::string_view target) const {
    return static_cast<std::int32_t>(
        std::count_if(r_.hook_runs().begin(), r_.hook_runs().end(),
                      [&](const v1::HookRun& h) {
                        return h.hook() == hook && h.target() == target;
                      }));
  }

  RequestDesk::Impl& d_;
  v1::SubjectRequest& r_;
  absl::string_view actor_;
  std::vector<std::string> failures_;
};

absl::Status RequestDesk::Impl::HookRunner::Run(
    absl::string_view hook, absl::string_view target,
    absl::string_view audit_ref, const std::function<absl::Status()>& call) {
  if (Succeeded(hook, target)) return absl::OkStatus();
  v1::HookRun run;
  run.set_hook(std::string(hook));
  run.set_target(std::string(target));
  run.set_attempt(Attempts(hook, target) + 1);
  absl::Status s = call();
  *run.mutable_time() = ToProtoTime(d_.Now());
  run.set_ok(s.ok());
  if (!s.ok()) {
    run.set_error(SafeText(s.ToString()));
    failures_.push_back(absl::StrCat(hook, "(", target, "): ", run.error()));
  }
  *r_.add_hook_runs() = run;
  return d_.Audit(r_, actor_, absl::StrCat(hook, s.ok() ? ":ok" : ":failed"),
                  Reason::kUnspecified, audit_ref);
}

// Merges the restriction of `r` (suspension, erasure, stop of provision)
// into the subject's consent record and audits it.
absl::Status RequestDesk::Impl::ApplyEffect(const v1::SubjectRequest& r,
                                            absl::string_view actor) {
  const Reason effect = RestrictionOf(r.kind());
  if (effect == Reason::kUnspecified) return absl::OkStatus();
  ASSIGN_OR_RETURN(Revision rev, ApplyRestriction(r));
  return Audit(r, actor, absl::StrCat("restriction_applied@", rev), effect);
}

// Runs the integrator hooks of an erasure or a correction. When one fails,
// records the failure on the request (which stays in PROCESSING) and
// returns `kUnavailable`, or `kFailedPrecondition` for a missing hook.
absl::Status RequestDesk::Impl::RunHooks(v1::SubjectRequest& r,
                                         absl::string_view actor) {
  const std::string subject = r.verified_subject_id();
  HookRunner hooks(*this, r, actor);
  if (r.kind() == v1::REQUEST_KIND_ERASURE) {
    RETURN_IF_ERROR(hooks.Run("erase_subject_data", subject, "", [&] {
      if (!options.hooks.erase_subject_data) {
        return absl::FailedPreconditionError(
            "no erase_subject_data hook is configured");
      }
      return options.hooks.erase_subject_data(subject, r.id());
    }));
  }
  if (r.kind() == v1::REQUEST_KIND_CORRECTION) {
    for (int i = 0; i < r.record_changes_size(); ++i) {
      const v1::RecordChange change = r.record_changes(i);
      RETURN_IF_ERROR(hooks.Run(
          "change_record", change.record_ref(), change.record_ref(), [&] {
            if (!options.hooks.change_record) {
              return absl::FailedPreconditionError(
                  "no change_record hook is configured");
            }
            return options.hooks.change_record(subject, change, r.id());
          }));
    }
  }
  if (hooks.failures().empty()) return absl::OkStatus();
  const std::string note = SafeText(absl::StrJoin(hooks.failures(), "; "));
  AddTransition(r, v1::REQUEST_STATE_PROCESSING, "hook_failed", actor, note,
                Now());
  ASSIGN_OR_RETURN(r, requests->Update(r));
  const bool missing_hook =
      note.find("no erase_subject_data hook") != std::string::npos ||
      note.find("no change_record hook") != std::string::npos;
  const std::string msg = absl::StrCat(
      "request ", r.id(),
      ": restriction in force, but integrator hook(s) "
      "did not complete; the request stays in processing, call Execute "
      "again to retry: ",
      note);
  return missing_hook ? absl::FailedPreconditionError(msg)
                      : absl::UnavailableError(msg);
}

// Hands the answer to `hooks.store_answer`, before the request is recorded
// as executed. Errors: the hook's code, naming the request.
absl::Status RequestDesk::Impl::StoreAnswer(const v1::SubjectRequest& r,
                                            const RequestOutcome& answer) {
  if (!options.hooks.store_answer) return absl::OkStatus();
  absl::Status s = options.hooks.store_answer(r.id(), answer);
  if (s.ok()) return s;
  return absl::Status(
      s.code(), absl::StrCat("request ", r.id(),
                             ": the answer could not be stored, so the request "
                             "stays in processing; call Execute again: ",
                             s.message()));
}

// The answer, written from the library's records: the purpose notice or the
// disclosure package, or a short confirmation for the kinds with an effect.
absl::StatusOr<RequestOutcome> RequestDesk::Impl::WriteAnswer(
    const v1::SubjectRequest& r) {
  RequestOutcome out;
  if (r.kind() != v1::REQUEST_KIND_PURPOSE_NOTICE &&
      r.kind() != v1::REQUEST_KIND_DISCLOSURE) {
    out.document_ja = absl::StrCat("# ", RequestKindName(r.kind()), " ", r.id(),
                                   "\n\nご請求の内容を実施しました。\n");
    out.document_en = absl::StrCat("# ", RequestKindName(r.kind()), " ", r.id(),
                                   "\n\nYour request has been carried out.\n");
    return out;
  }
  ASSIGN_OR_RETURN(v1::ConsentRecord record,
                   consent->Get(r.verified_subject_id()));
  if (r.kind() == v1::REQUEST_KIND_PURPOSE_NOTICE) {
    out.notice = internal::BuildPurposeNotice(*policy, record, Now());
    ASSIGN_OR_RETURN(out.json, SerializeMessage(out.notice, WireFormat::kJson));
    out.document_ja = RenderPurposeNotice(out.notice, "ja");
    out.document_en = RenderPurposeNotice(out.notice, "en");
  } else {
    ASSIGN_OR_RETURN(out.package, BuildDisclosure(r, record));
    out.notice = out.package.purposes();
    ASSIGN_OR_RETURN(out.json,
                     SerializeMessage(out.package, WireFormat::kJson));
    out.document_ja = RenderDisclosure(out.package, *policy, "ja");
    out.document_en = RenderDisclosure(out.package, *policy, "en");
  }
  return out;
}

RequestDesk::RequestDesk(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RequestDesk::~RequestDesk() = default;

absl::StatusOr<std::unique_ptr<RequestDesk>> RequestDesk::Create(
    std::shared_ptr<const CompiledPolicy> policy, ConsentStore* consent,
    RequestStore* requests, AuditSink* audit, RequestDeskOptions options) {
  if (policy == nullptr || consent == nullptr || requests == nullptr ||
      audit == nullptr) {
    return absl::InvalidArgumentError(
        "RequestDesk::Create: policy, consent store, request store and audit "
        "sink must not be null");
  }
  const v1::RequestSettings& settings = policy->proto().requests();
  if (settings.disclosure_fee_jpy() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy ", policy->version(),
                     ": requests.disclosure_fee_jpy must not "
                     "be negative (got ",
                     settings.disclosure_fee_jpy(), ")"));
  }
  if (settings.purpose_notice_fee_jpy() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy ", policy->version(),
                     ": requests.purpose_notice_fee_jpy must "
                     "not be negative (got ",
                     settings.purpose_notice_fee_jpy(), ")"));
  }
  auto impl = std::make_unique<Impl>();
  impl->policy = std::move(policy);
  impl->consent = consent;
  impl->requests = requests;
  impl->audit = audit;
  impl->options = std::move(options);
  return std::unique_ptr<RequestDesk>(new RequestDesk(std::move(impl)));
}

int AnswerDays(const CompiledPolicy& policy, v1::RequestKind kind) {
  const v1::RequestSettings& settings = policy.proto().requests();
  for (const v1::AnswerDeadline& d : settings.answer_deadlines()) {
    if (d.kind() == RequestKindName(kind) && d.days() > 0) return d.days();
  }
  return settings.answer_days() > 0 ? settings.answer_days()
                                    : kDefaultAnswerDays;
}

absl::Time AnswerDue(const v1::SubjectRequest& request) {
  if (request.has_due_time())
    return internal::FromProtoTime(request.due_time());
  return internal::FromProtoTime(request.receive_time()) +
         absl::Hours(24) * kDefaultAnswerDays;
}

bool IsOverdue(const v1::SubjectRequest& request, absl::Time now) {
  return request.state() != v1::REQUEST_STATE_ANSWERED &&
         request.state() != v1::REQUEST_STATE_REFUSED &&
         now > AnswerDue(request);
}

absl::StatusOr<RequestListing> RequestStore::ListAll() {
  return absl::UnimplementedError(
      "this request store cannot list every request");
}

absl::StatusOr<v1::SubjectRequest> RequestStore::Import(
    const v1::SubjectRequest& request) {
  return absl::UnimplementedError(
      absl::StrCat("this request store cannot import request '",
                   absl::CHexEscape(request.id()), "'"));
}

absl::StatusOr<std::int64_t> ImportableRequestNumber(absl::string_view id) {
  std::int64_t n = 0;
  absl::string_view digits = id;
  const bool ok = absl::ConsumePrefix(&digits, "req-") && !digits.empty() &&
                  digits.size() <= 18 && digits[0] != '0' &&
                  std::all_of(digits.begin(), digits.end(),
                              [](char c) { return c >= '0' && c <= '9'; }) &&
                  absl::SimpleAtoi(digits, &n) && n > 0;
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("request id '", absl::CHexEscape(id),
                     "' is not of the form req-<n> (n > 0, no leading zeros)"));
  }
  return n;
}

absl::StatusOr<RequestListing> OverdueRequests(RequestStore& store,
                                               absl::Time now) {
  ASSIGN_OR_RETURN(RequestListing open, store.ListOpen());
  RequestListing listing;
  listing.unreadable = std::move(open.unreadable);
  std::vector<v1::SubjectRequest>& out = listing.requests;
  for (v1::SubjectRequest& r : open.requests) {
    if (IsOverdue(r, now)) out.push_back(std::move(r));
  }
  std::stable_sort(
      out.begin(), out.end(),
      [](const v1::SubjectRequest& a, const v1::SubjectRequest& b) {
        return AnswerDue(a) < AnswerDue(b);
      });
  return listing;
}

absl::StatusOr<v1::SubjectRequest> RequestDesk::Get(absl::string_view id) {
  return impl_->requests->Get(id);
}

absl::StatusOr<v1::SubjectRequest> RequestDesk::Receive(
    const v1::SubjectRequest& intake, absl::string_view actor) {
  if (actor.empty())
    return absl::InvalidArgumentError("Receive needs an actor");
  RETURN_IF_ERROR(impl_->ValidateIntake(intake));
  v1::SubjectRequest r = intake;
  if (r.answer_route().channel() == v1::ANSWER_CHANNEL_UNSPECIFIED) {
    r.mutable_answer_route()->set_channel(v1::ANSWER_CHANNEL_WRITING);
  }
  const absl::Time now = impl_->Now();
  *r.mutable_receive_time() = ToProtoTime(now);
  *r.mutable_due_time() =
      ToProtoTime(now + absl::Hours(24) * AnswerDays(*impl_->policy, r.kind()));
  Impl::AddTransition(r, v1::REQUEST_STATE_RECEIVED, "received", actor, "",
                      now);
  RETURN_IF_ERROR(ValidateRequestRecord(r));
  ASSIGN_OR_RETURN(r, impl_->requests->Create(std::move(r)));
  RETURN_IF_ERROR(impl_->Audit(r, actor, "received"));
  return r;
}

absl::StatusOr<v1::SubjectRequest> RequestDesk::SendForm(
    absl::string_view id, absl::string_view actor) {
  const v1::RequestSettings& settings = impl_->policy->proto().requests();
  return impl_->Step(
      id, actor, "form_sent", v1::REQUEST_STATE_FORM_SENT,
      [&](v1::SubjectRequest& r) -> absl::StatusOr<std::string> {
        RETURN_IF_ERROR(Impl::RequireState(r, v1::REQUEST_STATE_RECEIVED,
                                           "send the form", ""));
        std::int64_t amount = 0;
        if (r.kind() == v1::REQUEST_KIND_DISCLOSURE) {
          amount = settings.disclosure_fee_jpy();
        } else if (r.kind() == v1::REQUEST_KIND_PURPOSE_NOTICE) {
          amount = settings.purpose_notice_fee_jpy();
        }
        v1::Fee* fee = r.mutable_fee();
        fee->set_amount_jpy(amount);
        if (amount > 0)
          *fee->mutable_payment_method() = settings.payment_method();
        return amount > 0 ? absl::StrCat("fee ", amount, " JPY; payment: ",
                                         settings.payment_method().en())
                          : std::string("no fee");
      });
}

absl::StatusOr<v1::SubjectRequest> RequestDesk::RecordFormReturned(
    absl::string_view id, absl::string_view actor) {
  return impl_->Step(
      id, actor, "form_returned", v1::REQUEST_STATE_FORM_SENT,
      [&](v1::SubjectRequest& r) -> absl::StatusOr<std::string> {
        RETURN_IF_ERROR(Impl::RequireState(
            r, v1::REQUEST_STATE_FORM_SENT, "record the returned form",
            "the application form has not been sent"));
        if (r.form_returned()) {
          return absl::FailedPreconditionError(
              absl::StrCat("request ", r.id(),
                           ": the form was already recorded as returned"));
        }
        r.set_form_returned(true);
        return std::string();
      });
}

absl::StatusOr<v1::SubjectRequest> RequestDesk::RecordFeePaid(
    absl::string_view id, absl::string_view actor,
    absl::string_view payment_ref) {
  const absl::Time now = impl_->Now();
  return impl_->Step(
      id, actor, "fee_paid", v1::REQUEST_STATE_FORM_SENT,
      [&](v1::SubjectRequest& r) -> absl::StatusOr<std::string> {
        RETURN_IF_ERROR(Impl::RequireState(
            r, v1::REQUEST_STATE_FORM_SENT, "record the fee as paid",
            "the guide with the fee has not been sent"));
        if (r.fee().amount_jpy() <= 0) {
          return absl::FailedPreconditionError(
              absl::StrCat("request ", r.id(), " (", RequestKindName(r.kind()),
                           "): no fee is due for this kind of request"));
        }
        if (r.fee().paid()) {
          return absl::FailedPreconditionError(
              absl::StrCat("request ", r.id(), ": the fee was already paid"));
        }
        r.mutable_fee()->set_paid(true);
        *r.mutable_fee()->mutable_paid_time() = ToProtoTime(now);
        r.mutable_fee()->set_payment_ref(std::string(payment_ref));
        return absl::StrCat(r.fee().amount_jpy(), " JPY, ", payment_ref);
      });
}

absl::StatusOr<v1::SubjectRequest> RequestDesk::VerifyIdentity(
    absl::string_view id, absl::string_view actor,
    const IdentityEvidence& evidence) {
  if (evidence.subject_id.empty() || evidence.document.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request ", id,
                     ": identity evidence needs the subject_id the "
                     "documents identify and the document presented"));
  }
  const absl::Time now = impl_->Now();
  // A denied verification is audited (the attempt stays on record) but
  // writes nothing to the request.
  auto deny = [&](const v1::SubjectRequest& r,
                  std::string why) -> absl::Status {
    (void)impl_->Audit(r, actor, "identity_rejected");
    return absl::PermissionDeniedError(
        absl::StrCat("request ", r.id(), ": identity not verified: ", why));
  };
  return impl_->Step(
      id, actor, "identity_verified", v1::REQUEST_STATE_FORM_SENT,
      [&](v1::SubjectRequest& r) -> absl::StatusOr<std::string> {
        RETURN_IF_ERROR(Impl::RequireState(
            r, v1::REQUEST_STATE_FORM_SENT, "verify identity",
            "identity documents come back with the application form"));
        if (r.requester().identity().verified()) {
          return absl::FailedPreconditionError(
              absl::StrCat("request ", r.id(), ": identity already verified"));
        }
        if (evidence.subject_id != r.subject_id()) {
          return deny(
              r, absl::StrCat("the documents identify '", evidence.subject_id,
                              "', not the subject the request names '",
                              r.subject_id(), "'"));
        }
        if (!r.identifiers().empty() && !impl_->options.resolve_identifier) {
          return absl::FailedPreconditionError(
              absl::StrCat("request ", r.id(),
                           ": carries a second identifier but no "
                           "IdentifierResolver is configured to check it"));
        }
        for (v1::SecondIdentifier& si : *r.mutable_identifiers()) {
          absl::StatusOr<std::string> owner =
              impl_->options.resolve_identifier(si.kind(), si.value());
          if (!owner.ok() &&
              owner.status().code() != absl::StatusCode::kNotFound) {
            return owner.status();
          }
          if (!owner.ok() || *owner != evidence.subject_id) {
            return deny(r, absl::StrCat("the ", si.kind(),
                                        " presented does "
                                        "not belong to the verified person"));
          }
          si.set_verified(true);
        }
        v1::Verification* v = r.mutable_requester()->mutable_identity();
        v->set_verified(true);
        v->set_document(evidence.document);
        v->set_verified_by(std::string(actor));
        *v->mutable_time() = ToProtoTime(now);
        r.set_verified_subject_id(evidence.subject_id);
        return evidence.document;
      });
}

absl::StatusOr<v1::SubjectRequest> RequestDesk::VerifyAgentAuthority(
    absl::string_view id, absl::string_view actor, absl::string_view document) {
  if (document.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request ", id, ": name the agent's documents that were checked"));
  }
  const absl::Time now = impl_->Now();
  return impl_->Step(
      id, actor, "agent_verified", v1::REQUEST_STATE_FORM_SENT,
      [&](v1::SubjectRequest& r) -> absl::StatusOr<std::string> {
        RETURN_IF_ERROR(Impl::RequireState(
            r, v1::REQUEST_STATE_FORM_SENT, "verify the agent's authority",
            "agent documents come back with the application form"));
        if (!r.has_agent()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "request ", r.id(), ": no agent applied for this request"));
        }
        if (r.agent().authority().verified()) {
          return absl::FailedPreconditionError(
              absl::StrCat("request ", r.id(),
                           ": the agent's authority is already verified"));
        }
        v1::Verification* v = r.mutable_agent()->mutable_authority();
        v->set_verified(true);
        v->set_document(std::string(document));
        v->set_verified_by(std::string(actor));
        *v->mutable_time() = ToProtoTime(now);
        return std::string(document);
      });
}

absl::StatusOr<v1::SubjectRequest> RequestDesk::StartProcessing(
    absl::string_view id, absl::string_view actor) {
  return impl_->Step(
      id, actor, "processing_started", v1::REQUEST_STATE_PROCESSING,
      [&](v1::SubjectRequest& r) -> absl::StatusOr<std::string> {
        RETURN_IF_ERROR(Impl::RequireState(
            r, v1::REQUEST_STATE_FORM_SENT, "start processing",
            "the application form and guide must be sent first"));
        std::vector<std::string> missing;
        if (!r.form_returned())
          missing.push_back("application form not returned");
        if (r.fee().amount_jpy() > 0 && !r.fee().paid()) {
          missing.push_back(
              absl::StrCat("fee of ", r.fee().amount_jpy(), " JPY not paid"));
        }
        if (!r.requester().identity().verified() ||
            r.verified_subject_id().empty()) {
          missing.push_back("identity not verified");
        }
        if (r.has_agent() && !r.agent().authority().verified()) {
          missing.push_back("agent's documents not verified");
        }
        if (NeedsContract(r.kind())) {
          const bool contract = std::any_of(
              r.identifiers().begin(), r.identifiers().end(),
              [](const v1::SecondIdentifier& si) { return si.verified(); });
          if (!contract) {
            missing.push_back(
                "no verified identifier (e.g. contract number) identifying "
                "the contract");
          }
        }
        if (!missing.empty()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "request ", r.id(), " (", RequestKindName(r.kind()),
              "): cannot start processing: ", absl::StrJoin(missing, "; ")));
        }
        return std::string();
      });
}

absl::StatusOr<RequestOutcome> RequestDesk::Execute(absl::string_view id,
                                                    absl::string_view actor) {
  if (actor.empty())
    return absl::InvalidArgumentError("Execute needs an actor");
  Impl& d = *impl_;
  ASSIGN_OR_RETURN(v1::SubjectRequest r, d.requests->Get(id));
  RETURN_IF_ERROR(Impl::RequireState(r, v1::REQUEST_STATE_PROCESSING, "execute",
                                     "start processing first"));
  // Unreachable through the desk; a record edited in the store must not
  // reach data.
  RETURN_IF_ERROR(d.CheckExecutable(r));
  // Effects on enforcement first, so they hold even if a hook fails.
  RETURN_IF_ERROR(d.ApplyEffect(r, actor));
  RETURN_IF_ERROR(d.RunHooks(r, actor));
  ASSIGN_OR_RETURN(RequestOutcome out, d.WriteAnswer(r));
  RETURN_IF_ERROR(d.StoreAnswer(r, out));
  Impl::AddTransition(r, v1::REQUEST_STATE_EXECUTED, "executed", actor, "",
                      d.Now());
  ASSIGN_OR_RETURN(out.request, d.AuditAndCommit(r, actor, "executed"));
  return out;
}

absl::StatusOr<v1::SubjectRequest> RequestDesk::Answer(
    absl::string_view id, absl::string_view actor,
    absl::string_view answer_ref) {
  if (answer_ref.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request ", id, ": answer_ref must name the answer sent"));
  }
  return impl_->Step(
      id, actor, "answered", v1::REQUEST_STATE_ANSWERED,
      [&](v1::SubjectRequest& r) -> absl::StatusOr<std::string> {
        RETURN_IF_ERROR(
            Impl::RequireState(r, v1::REQUEST_STATE_EXECUTED, "answer",
                               "the request has not been carried out"));
        r.set_answer_ref(std::string(answer_ref));
        const v1::AnswerRoute& route = r.answer_route();
        return absl::StrCat(v1::AnswerChannel_Name(route.channel()), " ",
                            route.address(), " ", answer_ref);
      });
}

absl::StatusOr<v1::SubjectRequest> RequestDesk::Refuse(
    absl::string_view id, absl::string_view actor, v1::RefusalGround ground,
    absl::string_view explanation) {
  if (ground == v1::REFUSAL_GROUND_UNSPECIFIED ||
      !v1::RefusalGround_IsValid(ground)) {
    return absl::InvalidArgumentError(
        absl::StrCat("request ", id, ": a refusal needs a ground"));
  }
  if (explanation.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request ", id,
                     ": a refusal needs the explanation given to the person "
                     "(APPI Art. 36)"));
  }
  return impl_->Step(
      id, actor, "refused", v1::REQUEST_STATE_REFUSED,
      [&](v1::SubjectRequest& r) -> absl::StatusOr<std::string> {
        if (r.state() != v1::REQUEST_STATE_RECEIVED &&
            r.state() != v1::REQUEST_STATE_FORM_SENT &&
            r.state() != v1::REQUEST_STATE_PROCESSING) {
          return absl::FailedPreconditionError(absl::StrCat(
              "request ", r.id(), ": cannot refuse in state ",
              RequestStateName(r.state()),
              "; only a request not yet carried out can be refused"));
        }
        r.mutable_refusal()->set_ground(ground);
        r.mutable_refusal()->set_explanation(std::string(explanation));
        return absl::StrCat(v1::RefusalGround_Name(ground), ": ", explanation);
      });
}

}  // namespace consentry
