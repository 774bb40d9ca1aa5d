// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: requests.h
// -----------------------------------------------------------------------------
//
// Data-subject requests (APPI Art. 32-38; source policy §7.4 and its
// procedure section): notification of purposes, disclosure, correction /
// addition / deletion, suspension of use, erasure and stop of provision to
// third parties. A `RequestDesk` takes each request through the procedure
//
//   Receive -> SendForm -> {RecordFormReturned, RecordFeePaid,
//   VerifyIdentity, VerifyAgentAuthority} -> StartProcessing -> Execute
//   -> Answer                  (or Refuse, with a ground, before Execute)
//
// timestamps and audits every step (`AuditAction::kRequest`, the request's
// id in `request_id`), and rejects a
// step out of order with `kFailedPrecondition`. A request reaches data only
// through the subject its identity documents verified: `Execute` acts on
// `verified_subject_id`, never on the subject the requester named.
//
// `Execute` applies a request's effects at once: suspension, erasure and
// stop of provision are added to the subject's consent restrictions in
// the `ConsentStore`, each as an entry naming the request
// (`AddRestrictions`: the store merges them in its write transaction, so no
// concurrent writer's change is lost; every Guard watching the store
// enforces them from then on). A
// restriction is removed only by `LiftRestriction`, audited, with a
// reason. Erasure and record changes call the integrator's hooks, and each
// run is recorded on the request. A purpose-notice or disclosure
// request gets its answer written from the library's own records.
//
// Example:
//
//   consentry::InMemoryRequestStore requests;
//   auto desk = consentry::RequestDesk::Create(policy, &consent_store,
//                                              &requests, &audit, {});
//   consentry::v1::SubjectRequest intake;
//   intake.set_kind(consentry::v1::REQUEST_KIND_DISCLOSURE);
//   intake.set_subject_id("member-7");
//   intake.mutable_requester()->set_name("山田 花子");
//   auto r = (*desk)->Receive(intake, "window:suzuki");
//   (*desk)->SendForm(r->id(), "window:suzuki");        // fee 1,600 JPY
//   (*desk)->RecordFormReturned(r->id(), "mailroom");
//   (*desk)->RecordFeePaid(r->id(), "accounts", "transfer 0042");
//   (*desk)->VerifyIdentity(r->id(), "window:suzuki",
//                           {.subject_id = "member-7",
//                            .document = "運転免許証の写し"});
//   (*desk)->StartProcessing(r->id(), "privacy-officer");
//   auto outcome = (*desk)->Execute(r->id(), "privacy-officer");
//   // send outcome->document_ja / document_en in writing, then:
//   (*desk)->Answer(r->id(), "window:suzuki", "letter 2026-118");

#ifndef CONSENTRY_REQUESTS_H_
#define CONSENTRY_REQUESTS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/export.h"
#include "consentry/policy.h"
#include "consentry/receipt.h"
#include "consentry/v1/request.pb.h"

namespace consentry {

// Stable snake_case name of a request kind ("disclosure", "suspension", ...)
// and of a request state ("form_sent", ...).
CONSENTRY_EXPORT absl::string_view RequestKindName(v1::RequestKind kind);
CONSENTRY_EXPORT absl::string_view RequestStateName(v1::RequestState state);

// True for the kinds APPI Art. 38(1) lets a business charge a fee for:
// notification of purposes and disclosure.
CONSENTRY_EXPORT bool FeeAllowed(v1::RequestKind kind);

// Answer deadlines. The policy states how many days the operator gives
// itself to answer each kind (`RequestSettings.answer_days`, and
// `answer_deadlines` per kind; checked when the policy loads); a request
// gets its `due_time` on receipt. APPI asks for an answer without delay and
// sets no number: a policy that states none gets `kDefaultAnswerDays`.
inline constexpr int kDefaultAnswerDays = 14;

// The days the policy gives for answering a request of `kind`: its
// per-kind entry, else `answer_days`, else `kDefaultAnswerDays`.
CONSENTRY_EXPORT int AnswerDays(const CompiledPolicy& policy,
                                v1::RequestKind kind);

// When the answer of `request` is due: its `due_time`; for a record
// received before requests carried one, `receive_time` plus
// `kDefaultAnswerDays`.
CONSENTRY_EXPORT absl::Time AnswerDue(const v1::SubjectRequest& request);

// True when `request` is still open (neither answered nor refused) and
// `now` is past its due time (a request due exactly at `now` is not yet
// overdue). A request answered late is no longer overdue.
CONSENTRY_EXPORT bool IsOverdue(const v1::SubjectRequest& request,
                                absl::Time now);

// Limits on what a request record may hold, checked by
// `ValidateRequestRecord`: ids (request, subject, actor, purpose, record
// reference) and every other string, the number of transitions and hook
// runs.
inline constexpr std::size_t kMaxRequestIdBytes = 256;
inline constexpr std::size_t kMaxRequestTextBytes = 16 * 1024;
inline constexpr int kMaxRequestHistory = 1000;

// Checks a request record as a desk writes it and a store reads it back:
// every string is valid UTF-8 within the limits above; kind and state are
// known values; the transitions form an unbroken path of the desk's steps
// from `received` to the current state, each step with the states it
// takes; and the recorded facts agree with that history (form returned,
// fee paid, identity and agent verified only with their step; a verified
// subject only with a verified identity, and equal to the subject the
// request names). The desk checks every record before it writes it; a
// store that reads records from files should refuse one that fails.
//
// Errors: `kInvalidArgument` naming the field and what is wrong.
CONSENTRY_EXPORT absl::Status ValidateRequestRecord(
    const v1::SubjectRequest& request);

// Checks what every `RequestStore` demands of a record it writes (less
// than `ValidateRequestRecord`, which checks the procedure): every string
// valid UTF-8 within the limits above, the lists within theirs, kind and
// state known values, and a subject id. A store refuses a record that
// fails this and writes nothing. Errors: `kInvalidArgument` naming the
// field.
CONSENTRY_EXPORT absl::Status ValidateStorableRequest(
    const v1::SubjectRequest& request);

// Checks a request id handed to a store: not empty, valid UTF-8, at most
// `kMaxRequestIdBytes`. Errors: `kInvalidArgument`.
CONSENTRY_EXPORT absl::Status ValidateRequestId(absl::string_view id);

// ---------------------------------------------------------------------------
// Persistence.

// A stored request that a listing could not read: its id and why
// (`kDataLoss`, naming the row).
struct UnreadableRequest {
  std::string id;
  absl::Status status;
};

// What a listing found: the requests it read, in the listing's order, and
// the stored requests it could not read. A corrupt row costs only itself:
// the others are listed, and it is named here, never silently left out.
struct RequestListing {
  std::vector<v1::SubjectRequest> requests;
  std::vector<UnreadableRequest> unreadable;
};

// Where request records live. Implementations must be thread-safe.
//
// Every method refuses, with `kInvalidArgument` and without writing, an id
// that fails `ValidateRequestId` and a record that fails
// `ValidateStorableRequest`. A store does not check the procedure
// (`ValidateRequestRecord`): the desk does before it writes, and again
// before it executes, so that a record edited in the store is caught.
class CONSENTRY_EXPORT RequestStore {
 public:
  virtual ~RequestStore() = default;

  // Stores a new request, assigning its `id` and `version` 1, and returns
  // the stored record. Errors: `kUnavailable` on outage.
  virtual absl::StatusOr<v1::SubjectRequest> Create(
      v1::SubjectRequest request) = 0;

  // Errors: `kNotFound` for an unknown id; `kUnavailable`; `kDataLoss` for
  // a corrupt stored record.
  virtual absl::StatusOr<v1::SubjectRequest> Get(absl::string_view id) = 0;

  // Replaces the stored request with `request` when the stored version
  // equals `request.version()`, and returns the record as stored (version
  // bumped). Errors: `kNotFound`; `kAborted` when the version differs
  // (nothing is written); `kUnavailable`.
  virtual absl::StatusOr<v1::SubjectRequest> Update(
      const v1::SubjectRequest& request) = 0;

  // Requests whose verified subject is `subject_id`, oldest first.
  // Errors: `kUnavailable`.
  virtual absl::StatusOr<std::vector<v1::SubjectRequest>> ListBySubject(
      absl::string_view subject_id) = 0;

  // Requests not yet answered or refused, oldest first; a request whose
  // hook failed stays here until it is carried out. A stored open request
  // that cannot be read is in `unreadable` (its deadline is unknown: treat
  // it as due). Errors: `kUnavailable`.
  virtual absl::StatusOr<RequestListing> ListOpen() = 0;

  // Every request, oldest first (for listings and reports), and those that
  // cannot be read. The library's stores implement it; the default returns
  // `kUnimplemented`. Errors: `kUnavailable`.
  virtual absl::StatusOr<RequestListing> ListAll();

  // Stores `request` under its own id, which must be of the form the
  // stores assign ("req-<n>", n > 0 without leading zeros), at its own
  // version (at least 1): for moving requests from another store once.
  // Ids the store assigns later never collide with an imported one. The
  // record is not checked against the procedure: the caller runs
  // `ValidateRequestRecord` first. The library's stores implement it; the
  // default returns `kUnimplemented`.
  // Errors: `kAlreadyExists` when a request with that id is stored
  // (nothing is written); `kInvalidArgument` for another id form or a
  // record that fails `ValidateStorableRequest`; `kUnavailable`.
  virtual absl::StatusOr<v1::SubjectRequest> Import(
      const v1::SubjectRequest& request);
};

// The number n of an id "req-<n>" as `RequestStore::Import` demands it.
// Errors: `kInvalidArgument` naming the id for any other form.
CONSENTRY_EXPORT absl::StatusOr<std::int64_t> ImportableRequestNumber(
    absl::string_view id);

// The open requests of `store` (`ListOpen`) that are overdue at `now`
// (`IsOverdue`), most overdue first, and every open request that cannot be
// read (it may be overdue). Errors: those of `ListOpen`.
CONSENTRY_EXPORT absl::StatusOr<RequestListing> OverdueRequests(
    RequestStore& store, absl::Time now);

// A request store in process memory, for tests and single-process tools.
// Thread-safe. Ids are "req-1", "req-2", ... Durable: `SqliteRequestStore`
// (consentry/sqlite_records.h).
class CONSENTRY_EXPORT InMemoryRequestStore final : public RequestStore {
 public:
  InMemoryRequestStore();
  ~InMemoryRequestStore() override;

  absl::StatusOr<v1::SubjectRequest> Create(
      v1::SubjectRequest request) override;
  absl::StatusOr<v1::SubjectRequest> Get(absl::string_view id) override;
  absl::StatusOr<v1::SubjectRequest> Update(
      const v1::SubjectRequest& request) override;
  absl::StatusOr<std::vector<v1::SubjectRequest>> ListBySubject(
      absl::string_view subject_id) override;
  absl::StatusOr<RequestListing> ListOpen() override;
  absl::StatusOr<RequestListing> ListAll() override;
  absl::StatusOr<v1::SubjectRequest> Import(
      const v1::SubjectRequest& request) override;

  // For tests: makes every call fail with `kUnavailable` while true.
  void SetUnavailableForTesting(bool unavailable);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------
// Sources of the disclosure package. Each is optional; a package built
// without one names the section as omitted. The library implements each
// over its own records (disclosure_sources.h): `ProvisionStoreSource` over
// a `ProvisionRecordStore`, `AuditLogAccessEventSource` over the durable
// `AuditLog`, `ConsentStoreHistorySource` over a `ConsentStore`'s history.
// A source that fails makes `Execute` fail with the section named; a
// subject without records gets an empty section.

// Records of provision to and receipt from third parties (APPI Art. 29,
// 30), disclosed under Art. 33(5). Implementations must be thread-safe.
class CONSENTRY_EXPORT ProvisionRecordSource {
 public:
  virtual ~ProvisionRecordSource() = default;
  // The subject's provision records, oldest first. Errors: `kUnavailable`.
  virtual absl::StatusOr<std::vector<v1::ProvisionEntry>> ProvisionsFor(
      absl::string_view subject_id) = 0;
};

// Access events about a subject (who read which category, when, for what
// purpose). Implementations must be thread-safe.
class CONSENTRY_EXPORT AccessEventSource {
 public:
  virtual ~AccessEventSource() = default;
  // The subject's events, oldest first. Errors: `kUnavailable`.
  virtual absl::StatusOr<std::vector<OwnedAuditEvent>> EventsFor(
      absl::string_view subject_id) = 0;

  // The events and which period they cover: a log whose oldest segments
  // were archived or deleted (audit_retention.h) holds every event from
  // `complete_from` on; `note` says what was removed, in words (empty when
  // complete). The disclosure names it among its omitted sections.
  struct CoveredEvents {
    std::vector<OwnedAuditEvent> events;
    absl::Time complete_from = absl::InfinitePast();
    std::string note;
  };
  // Default: `EventsFor`, complete. Errors: those of `EventsFor`.
  virtual absl::StatusOr<CoveredEvents> CoveredEventsFor(
      absl::string_view subject_id);
};

// Earlier versions of a consent record. Implementations must be
// thread-safe.
class CONSENTRY_EXPORT ConsentHistorySource {
 public:
  virtual ~ConsentHistorySource() = default;
  // The subject's record versions, oldest first. Errors: `kUnavailable`.
  virtual absl::StatusOr<std::vector<v1::ConsentRecord>> HistoryFor(
      absl::string_view subject_id) = 0;
};

// An `AccessEventSource` over an `InMemoryAuditSink`, for tests and
// examples. Thread-safe. Does not own the sink, which must outlive it.
class CONSENTRY_EXPORT InMemoryAccessEventSource final
    : public AccessEventSource {
 public:
  explicit InMemoryAccessEventSource(const InMemoryAuditSink* sink)
      : sink_(sink) {}
  absl::StatusOr<std::vector<OwnedAuditEvent>> EventsFor(
      absl::string_view subject_id) override;

 private:
  const InMemoryAuditSink* sink_;
};

// ---------------------------------------------------------------------------
// The desk.

// Integrator hooks run by `Execute`. Each returns OK once the application
// has done the work; any other status is recorded on the request, and the
// request stays in PROCESSING until a later `Execute` succeeds.
struct RequestOutcome;

struct RequestHooks {
  // Deletes the application's data of `subject_id` (erasure).
  std::function<absl::Status(absl::string_view subject_id,
                             absl::string_view request_id)>
      erase_subject_data;
  // Applies one correction, addition or deletion to the record
  // `change.record_ref()` of `subject_id`.
  std::function<absl::Status(absl::string_view subject_id,
                             const v1::RecordChange& change,
                             absl::string_view request_id)>
      change_record;
  // Stores (or sends) the answer of request `request_id` (purpose notice,
  // disclosure package, or confirmation) before the request is recorded as
  // executed, so that no request is executed without its answer kept.
  // Optional. When it fails, the request stays in PROCESSING and `Execute`
  // returns its error; `Execute` again writes the answer anew.
  std::function<absl::Status(absl::string_view request_id,
                             const RequestOutcome& answer)>
      store_answer;
};

// Maps a second identifier (e.g. kind "contract_number") to the subject it
// belongs to. Errors: `kNotFound` when it belongs to nobody.
using IdentifierResolver = std::function<absl::StatusOr<std::string>(
    absl::string_view kind, absl::string_view value)>;

struct RequestDeskOptions {
  // Source of the current time for every timestamp. Defaults to `absl::Now`.
  std::function<absl::Time()> clock;
  RequestHooks hooks;
  // Needed to verify second identifiers; a request that carries one cannot
  // have its identity verified without it.
  IdentifierResolver resolve_identifier;
  // Optional sources of the disclosure package; each must outlive the desk.
  ProvisionRecordSource* provisions = nullptr;
  AccessEventSource* access_events = nullptr;
  ConsentHistorySource* consent_history = nullptr;
  // Signs the consent receipts of a disclosure package; must outlive the
  // desk. Null: the receipts are included unsigned (and the package says
  // so in `omitted_sections`).
  SigningKeyProvider* receipt_keys = nullptr;
  // The controller the receipts name; empty: the policy's title and
  // contact window (see `ReceiptOptions`).
  ReceiptController receipt_controller;
};

// What the identity documents showed.
struct IdentityEvidence {
  // The subject the documents identify.
  std::string subject_id;
  // What was presented, e.g. "運転免許証の写し".
  std::string document;
};

// The result of carrying out a request.
struct RequestOutcome {
  v1::SubjectRequest request;
  // REQUEST_KIND_PURPOSE_NOTICE (and inside a disclosure package).
  v1::PurposeNotice notice;
  // REQUEST_KIND_DISCLOSURE.
  v1::DisclosurePackage package;
  // Protobuf JSON of the package (disclosure) or the notice (purpose
  // notice); empty for other kinds.
  std::string json;
  // The answer as readable Markdown, in Japanese and in English. For the
  // kinds with an effect, a short confirmation of what was done.
  std::string document_ja;
  std::string document_en;
};

// Runs data-subject requests from receipt to answer. Thread-safe: every
// step reads the request, checks it, and writes it back under optimistic
// concurrency, so two steps racing on one request cannot both win (the
// loser gets `kAborted`). Does not own the stores, the sink or the sources;
// each must outlive the desk.
//
// Every method that takes a request id returns `kNotFound` for an unknown
// id and `kUnavailable` when the request store or the audit sink cannot be
// reached (the step then did not happen); each returns the request as
// stored after the step. A step's audit event is written before the step is
// committed (an audit outage stops it); when the commit then fails or loses
// a race, a second event, `<step>:not_committed`, retracts the first.
class CONSENTRY_EXPORT RequestDesk {
 public:
  // Errors: `kInvalidArgument` when a pointer is null or the policy's
  // request settings are invalid (a negative fee; names the field).
  static absl::StatusOr<std::unique_ptr<RequestDesk>> Create(
      std::shared_ptr<const CompiledPolicy> policy, ConsentStore* consent,
      RequestStore* requests, AuditSink* audit,
      RequestDeskOptions options = {});

  RequestDesk(const RequestDesk&) = delete;
  RequestDesk& operator=(const RequestDesk&) = delete;
  ~RequestDesk();

  // Takes a request at the contact window. `intake` carries what the
  // requester states: kind, subject id and kind, requester name, agent,
  // second identifiers, answer route, purposes (suspension), record
  // changes (correction), details. State RECEIVED; `receive_time` is now,
  // `due_time` `AnswerDays` days later (both overwrite the intake's).
  //
  // Errors: `kInvalidArgument` naming the field for a missing kind,
  // subject id or requester name; an agent without a name; a channel other
  // than writing without `person_agreed`; purposes on a kind other than
  // suspension, a suspension with neither purposes nor `all_purposes` (or
  // both), an unknown purpose; record changes on a kind other than
  // correction, a correction without changes, a change without operation
  // or record_ref; any field the desk sets itself (id, state, transitions,
  // fee, verification, refusal, hook runs, answer_ref, version);
  // a string that is not valid UTF-8 or exceeds its limit (see
  // `ValidateRequestRecord`). Every later step refuses, with
  // `kInvalidArgument`, an argument (actor, document, reference) that
  // would make the record fail `ValidateRequestRecord`.
  absl::StatusOr<v1::SubjectRequest> Receive(const v1::SubjectRequest& intake,
                                             absl::string_view actor);

  // Sends the application form and the guide with the fee (from the
  // policy; none for the kinds without a fee) and the payment method.
  // RECEIVED -> FORM_SENT. Errors: `kFailedPrecondition` in any other state.
  absl::StatusOr<v1::SubjectRequest> SendForm(absl::string_view id,
                                              absl::string_view actor);

  // The filled form came back. In FORM_SENT only, once.
  // Errors: `kFailedPrecondition` otherwise.
  absl::StatusOr<v1::SubjectRequest> RecordFormReturned(
      absl::string_view id, absl::string_view actor);

  // The fee was paid. In FORM_SENT only, once, and only when a fee is due.
  // Errors: `kFailedPrecondition` otherwise.
  absl::StatusOr<v1::SubjectRequest> RecordFeePaid(
      absl::string_view id, absl::string_view actor,
      absl::string_view payment_ref);

  // The identity documents were checked and identify `evidence.subject_id`.
  // Sets `verified_subject_id`, and verifies each second identifier, which
  // must belong to that same person. In FORM_SENT only, once.
  //
  // Errors: `kInvalidArgument` for an empty subject id or document;
  // `kPermissionDenied` when the documents identify someone other than the
  // subject the request names, or a second identifier does not belong to
  // the verified person (the identity stays unverified and nothing is
  // written but the audit event); `kFailedPrecondition` out of state, when
  // already verified, or when the request carries a second identifier and
  // no `IdentifierResolver` is configured.
  absl::StatusOr<v1::SubjectRequest> VerifyIdentity(
      absl::string_view id, absl::string_view actor,
      const IdentityEvidence& evidence);

  // The agent's documents (identity and authority) were checked. In
  // FORM_SENT only, once, and only for a request with an agent.
  // Errors: `kInvalidArgument` for an empty document; `kFailedPrecondition`
  // otherwise.
  absl::StatusOr<v1::SubjectRequest> VerifyAgentAuthority(
      absl::string_view id, absl::string_view actor,
      absl::string_view document);

  // Starts handling: FORM_SENT -> PROCESSING when the form is returned,
  // the fee (if any) paid, the identity verified, an agent's authority
  // verified, and, for correction, suspension, erasure and stop of
  // provision, a second identifier (the contract) verified.
  // Errors: `kFailedPrecondition` naming everything still missing.
  absl::StatusOr<v1::SubjectRequest> StartProcessing(absl::string_view id,
                                                     absl::string_view actor);

  // Decides for the request and carries it out, on `verified_subject_id`
  // only: PROCESSING -> EXECUTED.
  //   * purpose notice, disclosure: writes the answer (`RequestOutcome`),
  //     handed to `hooks.store_answer` (when set) before the request is
  //     recorded as executed.
  //   * suspension, erasure, stop of provision: merges the restriction
  //     into the subject's consent record (earlier restrictions kept); the
  //     Guard denies with `kUseSuspended` / `kSubjectErased` at once.
  //   * erasure: then runs `hooks.erase_subject_data`.
  //   * correction: runs `hooks.change_record` for each change.
  // Each effect and hook run is audited and recorded on the request. When
  // a hook fails (or is missing), the request stays in PROCESSING with the
  // failure recorded and `kUnavailable` (hook error) or
  // `kFailedPrecondition` (no hook) is returned; calling `Execute` again
  // retries only what has not succeeded.
  //
  // `Execute` does not trust the stored state alone: before anything is
  // carried out it re-derives from the record that the request may run
  // (`ValidateRequestRecord`, and: identity verified for the subject the
  // request names, the form returned, the fee paid when either the record
  // or the policy charges one, an agent's authority verified, and for the
  // kinds with an effect a verified second identifier, re-resolved through
  // the `IdentifierResolver` when one is configured). A record edited in
  // the store to skip a step is refused and nothing is executed.
  //
  // Errors: `kFailedPrecondition` out of state, or when the re-derivation
  // fails (naming everything missing); `kUnavailable` when the consent
  // store or a hook fails; a failing source's own code, its message naming
  // the section ("disclosure package of req-3: access_events source: ...")
  // and nothing executed; `kAborted` on a concurrent change of
  // the consent record or the request (retry).
  absl::StatusOr<RequestOutcome> Execute(absl::string_view id,
                                         absl::string_view actor);

  // The answer was sent on the request's route; `answer_ref` names it
  // (letter number, message id). EXECUTED -> ANSWERED.
  // Errors: `kInvalidArgument` for an empty `answer_ref`;
  // `kFailedPrecondition` in any other state.
  absl::StatusOr<v1::SubjectRequest> Answer(absl::string_view id,
                                            absl::string_view actor,
                                            absl::string_view answer_ref);

  // Refuses the request with a ground and the explanation told to the
  // person. From RECEIVED, FORM_SENT or PROCESSING -> REFUSED.
  // Errors: `kInvalidArgument` for an unspecified ground or an empty
  // explanation; `kFailedPrecondition` once executed, answered or refused.
  absl::StatusOr<v1::SubjectRequest> Refuse(absl::string_view id,
                                            absl::string_view actor,
                                            v1::RefusalGround ground,
                                            absl::string_view explanation);

  // The stored request. Errors: `kNotFound`, `kUnavailable`.
  absl::StatusOr<v1::SubjectRequest> Get(absl::string_view id);

 private:
  struct Impl;
  explicit RequestDesk(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Adds restrictions to `subject_id`'s consent record: each of `entries`
// (kind, purpose, and the request id that decided it) not yet in force.
// What `RequestDesk::Execute` uses for suspension, erasure and stop of
// provision; call it directly when requests are decided elsewhere. Writes
// one `add_restrictions` change, which the store merges with the record it
// reads inside its write transaction: concurrent writers never lose each
// other's restrictions and never conflict, however many there are. The
// restrictions already in force are kept with their entries. An entry
// without `time` gets the store's time, one without `actor` gets `actor`;
// `kind` sets the subject kind only when the change creates the record.
// Returns the revision written, or the current one when every entry was
// already in force (nothing is written then). Thread-safe as far as `store`
// is. Errors: `kInvalidArgument` for a malformed entry (no kind, a purpose
// on a kind without one, ...) or too many suspended purposes; the store's
// errors.
//
//   consentry::v1::RestrictionEntry erase;
//   erase.set_kind(consentry::v1::RESTRICTION_KIND_ERASED);
//   erase.set_request_id("req-0042");
//   auto rev = consentry::AddRestrictions(store, "member-7", {erase},
//                                         "privacy-officer");
CONSENTRY_EXPORT absl::StatusOr<Revision> AddRestrictions(
    ConsentStore& store, absl::string_view subject_id,
    const std::vector<v1::RestrictionEntry>& entries, absl::string_view actor,
    v1::SubjectKind kind = v1::SUBJECT_KIND_UNSPECIFIED);

// Lifts one restriction a request placed on `subject_id`'s consent record
// (APPI Art. 35): erasure, suspension of use (all purposes or one), or stop
// of third-party provision, as `lift` names it. The ONLY way the library
// removes a restriction: a plain `restrictions` write that would drop one
// is refused by every store (consent.h).
//
// `lift.reason` (non-empty, valid UTF-8, at most `kMaxLiftReasonBytes`) and
// `actor` are required. Before the store is touched, an `AuditEvent` with
// action `kRestrictionLifted` is recorded: accessor `actor`, the subject,
// `request_id` = the request that placed the restriction (empty when that
// is unknown), `record_ref` = `lift.request_id` (the request or ticket that
// decided the lift), `category` the restriction ("erased", "suspend_all",
// "suspended_purpose", "third_party_provision_stopped"), `purpose` the
// suspended purpose, `detail` the reason. If the sink refuses the event
// the lift is not applied (fail closed). The change is then applied with
// `expected_revision` (re-read and retried when another writer got in
// between) and recorded in the consent history like any change.
//
// Thread-safe as far as `store` and `audit` are. Returns the revision of
// the change. Errors: `kInvalidArgument` for a missing or malformed reason,
// restriction or actor; `kNotFound` when the restriction is not in force
// (nothing audited); `kUnavailable` when the audit sink refuses (nothing
// applied) or the store is down; `kAborted` when the record kept changing.
// A store error after the event was recorded leaves the event in the log
// with the restriction still in force; retrying records a second event.
//
//   consentry::v1::RestrictionLift lift;
//   lift.set_kind(consentry::v1::RESTRICTION_KIND_SUSPENDED_PURPOSE);
//   lift.set_purpose("marketing");
//   lift.set_reason("the person withdrew the suspension request");
//   lift.set_request_id("req-0042");
//   auto rev = consentry::LiftRestriction(store, audit, "member-7", lift,
//                                         "privacy-officer");
CONSENTRY_EXPORT absl::StatusOr<Revision> LiftRestriction(
    ConsentStore& store, AuditSink& audit, absl::string_view subject_id,
    const v1::RestrictionLift& lift, absl::string_view actor);

// Renders a purpose notice as Markdown in Japanese ("ja") or English
// (anything else).
CONSENTRY_EXPORT std::string RenderPurposeNotice(
    const v1::PurposeNotice& notice, absl::string_view language);

// Renders a disclosure package as Markdown in Japanese ("ja") or English.
CONSENTRY_EXPORT std::string RenderDisclosure(
    const v1::DisclosurePackage& package, const CompiledPolicy& policy,
    absl::string_view language);

}  // namespace consentry

#endif  // CONSENTRY_REQUESTS_H_
