// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: audit.h
// -----------------------------------------------------------------------------
//
// Every decision a `Guard` makes, allowed or denied, becomes an `AuditEvent`
// handed to an `AuditSink`. The event is a plain struct of views, so the hot
// path builds it without allocating; a sink copies what it keeps before
// returning (`OwnedAuditEvent::From`).
//
// Example:
//
//   consentry::InMemoryAuditSink audit;
//   auto guard = consentry::Guard::Create(policy, &store, &audit);
//   if (!guard.ok()) return guard.status();
//   // ... checks ...
//   for (const consentry::OwnedAuditEvent& e : audit.Events()) {
//     std::cout << e.accessor << ": " << consentry::ReasonName(e.reason);
//   }

#ifndef CONSENTRY_AUDIT_H_
#define CONSENTRY_AUDIT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "consentry/decision.h"
#include "consentry/export.h"
#include "consentry/purpose.h"

namespace consentry {

// What the library did that the event records.
enum class AuditAction : std::uint8_t {
  kRead = 0,               // a purpose check for a read
  kProvision = 1,          // data given to a recipient
  kRequest = 2,            // a data-subject request's effect
  kBatch = 3,              // one decision over a batch of records (statistics)
  kAcquire = 4,            // acquiring special-care data (`Guard::Acquire`)
  kRestrictionLifted = 5,  // a restriction lifted (`LiftRestriction`)
  // Provision and receipt records deleted after their keeping period
  // (`PurgeExpiredRecords`): counts in `records_included`, ids in `detail`.
  kRecordsPurged = 6,
};

// One decision, as a struct over a string type: `AuditEvent` holds views
// (the hot path builds it without allocating), `OwnedAuditEvent` owns its
// strings. `From` converts either way; a view made from an owned event is
// valid while that event lives.
template <typename String>
struct BasicAuditEvent {
  std::int64_t time_unix_nanos = 0;
  AuditAction action = AuditAction::kRead;
  String accessor;
  String subject;
  // The data category read, given or acquired (`kRead`, `kProvision`,
  // `kBatch`, `kAcquire`).
  String category;
  String purpose;
  String policy_version;
  // The integrator's reference to the record read, if any.
  String record_ref;
  // For `AuditAction::kProvision`: the recipient the data was given to.
  String recipient;
  // For `AuditAction::kRequest`: the data-subject request's id and kind
  // ("disclosure", "correction", ...). Logs written before `request_kind`
  // existed kept the kind in `category`; reading them moves it here. For
  // `kRestrictionLifted`: the id of the request that placed the restriction
  // (empty when unknown); the lift's own reference is in `record_ref`, its
  // reason in `detail`, the restriction in `category` (and `purpose`).
  String request_id;
  String request_kind;
  Reason reason = Reason::kUnspecified;
  Revision revision = 0;
  // True in shadow mode when the decision denied but the read went through.
  bool shadow = false;
  // For `kBatch`: records included and excluded, and a readable summary
  // with the exclusion reasons; for `kRecordsPurged`: records removed, 0,
  // and the removed ids. -1 otherwise.
  std::int64_t records_included = -1;
  std::int64_t records_excluded = -1;
  String detail;
  // Position in a durable log (`AuditLog`); 0 for events that never were in
  // one.
  std::uint64_t sequence = 0;

  // The same event over another string type.
  template <typename Other>
  static BasicAuditEvent From(const BasicAuditEvent<Other>& e) {
    BasicAuditEvent o;
    o.time_unix_nanos = e.time_unix_nanos;
    o.action = e.action;
    o.accessor = String(e.accessor);
    o.subject = String(e.subject);
    o.category = String(e.category);
    o.purpose = String(e.purpose);
    o.policy_version = String(e.policy_version);
    o.record_ref = String(e.record_ref);
    o.recipient = String(e.recipient);
    o.request_id = String(e.request_id);
    o.request_kind = String(e.request_kind);
    o.reason = e.reason;
    o.revision = e.revision;
    o.shadow = e.shadow;
    o.records_included = e.records_included;
    o.records_excluded = e.records_excluded;
    o.detail = String(e.detail);
    o.sequence = e.sequence;
    return o;
  }

  bool allowed() const { return IsAllowingReason(reason); }
};

// All views point into memory owned by the caller and valid only during
// `AuditSink::Record`.
using AuditEvent = BasicAuditEvent<absl::string_view>;
// Owns its strings: what sinks keep and readers return.
using OwnedAuditEvent = BasicAuditEvent<std::string>;

class CompiledPolicy;

namespace internal {

// Internal: one read decision in compact form, names given as indexes into
// a compiled policy that the sink keeps alive. `policy_slot` is what
// `CompactAuditPath::AttachPolicy` returned for that policy.
struct CompactDecision {
  std::int64_t time_unix_nanos = 0;
  Revision revision = 0;
  std::uint32_t policy_slot = 0;
  AccessorIndex accessor = 0;
  PurposeIndex purpose = 0;
  CategoryIndex category = 0;
  Reason reason = Reason::kUnspecified;
  bool shadow = false;
  absl::string_view subject;
  absl::string_view record_ref;
};

// Internal: a sink's way of taking read decisions without an `AuditEvent`
// of strings (`AuditSink::compact_path`). Implemented by `AuditLog` only.
class CompactAuditPath {
 public:
  // Keeps `policy` alive until the sink is destroyed and returns the slot
  // that names it. Attaching the same policy again returns the same slot.
  // Thread-safe.
  virtual std::uint32_t AttachPolicy(
      std::shared_ptr<const CompiledPolicy> policy) = 0;
  // As `AuditSink::Record` for the event the decision describes (action
  // `kRead`). Thread-safe.
  virtual absl::Status RecordCompact(const CompactDecision& decision) = 0;

 protected:
  ~CompactAuditPath() = default;
};

}  // namespace internal

// Receives audit events. Implementations must be thread-safe: a Guard calls
// `Record` concurrently from every reading thread, never under a lock.
class CONSENTRY_EXPORT AuditSink {
 public:
  virtual ~AuditSink() = default;

  // Records `event`, copying what it keeps. A non-OK status means the event
  // could not be taken; the Guard then denies the read (fails closed): with
  // `Reason::kAuditOverloaded` for `kResourceExhausted` (the sink is full and
  // sheds load), with `Reason::kAuditUnavailable` for any other code.
  virtual absl::Status Record(const AuditEvent& event) = 0;

  // Internal: the sink's compact path for read decisions, or null (the
  // default: every decision comes through `Record`). Asked once, when a
  // Guard is created; the pointer lives as long as the sink.
  virtual internal::CompactAuditPath* compact_path() { return nullptr; }
};

// Keeps every event in memory. Thread-safe. For tests, examples and small
// tools; a production service uses the durable log.
class CONSENTRY_EXPORT InMemoryAuditSink final : public AuditSink {
 public:
  InMemoryAuditSink();
  ~InMemoryAuditSink() override;

  absl::Status Record(const AuditEvent& event) override;

  // A copy of the events recorded so far, in arrival order.
  std::vector<OwnedAuditEvent> Events() const;
  std::size_t size() const;
  void Clear();
  // For tests: makes `Record` fail with `kUnavailable` while true.
  void SetFailingForTesting(bool failing);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace consentry

#endif  // CONSENTRY_AUDIT_H_
