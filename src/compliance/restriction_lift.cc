// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// AddRestrictions and LiftRestriction: the library's writes of the
// restrictions a person's requests decide (APPI Art. 35).

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/requests.h"
#include "consentry/v1/consent.pb.h"
#include "src/util/status_macros.h"

namespace consentry {

namespace {

absl::string_view KindCategory(v1::RestrictionKind kind) {
  switch (kind) {
    case v1::RESTRICTION_KIND_ERASED:
      return "erased";
    case v1::RESTRICTION_KIND_SUSPEND_ALL:
      return "suspend_all";
    case v1::RESTRICTION_KIND_SUSPENDED_PURPOSE:
      return "suspended_purpose";
    case v1::RESTRICTION_KIND_THIRD_PARTY_PROVISION_STOPPED:
      return "third_party_provision_stopped";
    default:
      return "unknown";
  }
}

// The entry in force that `lift` names, or null.
const v1::RestrictionEntry* FindInForce(
    const std::vector<v1::RestrictionEntry>& in_force,
    const v1::RestrictionLift& lift) {
  for (const v1::RestrictionEntry& e : in_force) {
    if (e.kind() == lift.kind() && e.purpose() == lift.purpose()) return &e;
  }
  return nullptr;
}

// Attempts of a compare-and-set write before giving up with kAborted; each
// retry waits a little longer, so that writers in a tight race spread out.
constexpr int kAttempts = 16;

void Backoff(int attempt) {
  if (attempt > 0) absl::SleepFor(absl::Microseconds(100 * attempt));
}

bool InForce(const std::vector<v1::RestrictionEntry>& in_force,
             const v1::RestrictionEntry& e) {
  for (const v1::RestrictionEntry& f : in_force) {
    if (f.kind() == e.kind() && f.purpose() == e.purpose()) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<Revision> AddRestrictions(
    ConsentStore& store, absl::string_view subject_id,
    const std::vector<v1::RestrictionEntry>& entries, absl::string_view actor,
    v1::SubjectKind kind) {
  v1::ConsentChange change;
  change.set_subject_id(std::string(subject_id));
  change.set_actor(std::string(actor));
  change.set_subject_kind(kind);
  for (const v1::RestrictionEntry& e : entries) {
    *change.mutable_add_restrictions()->add_entries() = e;
  }
  RETURN_IF_ERROR(ValidateConsentChange(change));
  // Nothing to write when every one is already in force. Otherwise the
  // store takes the union inside its write transaction (add_restrictions),
  // so a concurrent writer's restriction is neither lost nor a conflict.
  ASSIGN_OR_RETURN(v1::ConsentRecord record, store.Get(subject_id));
  const std::vector<v1::RestrictionEntry> in_force =
      RestrictionsInForce(record.restrictions());
  const bool all_in_force = std::all_of(
      entries.begin(), entries.end(),
      [&](const v1::RestrictionEntry& e) { return InForce(in_force, e); });
  if (all_in_force) return record.revision();
  return store.Apply(change);
}

absl::StatusOr<Revision> LiftRestriction(ConsentStore& store, AuditSink& audit,
                                         absl::string_view subject_id,
                                         const v1::RestrictionLift& lift,
                                         absl::string_view actor) {
  v1::ConsentChange change;
  change.set_subject_id(std::string(subject_id));
  change.set_actor(std::string(actor));
  *change.mutable_lift_restriction() = lift;
  RETURN_IF_ERROR(ValidateConsentChange(change));
  bool audited = false;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Backoff(attempt);
    ASSIGN_OR_RETURN(v1::ConsentRecord record, store.Get(subject_id));
    const std::vector<v1::RestrictionEntry> in_force =
        RestrictionsInForce(record.restrictions());
    const v1::RestrictionEntry* entry = FindInForce(in_force, lift);
    if (entry == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("subject '", subject_id, "': no restriction ",
                       RestrictionDisplayName(lift.kind(), lift.purpose()),
                       " is in force, so there is none to lift"));
    }
    if (!audited) {
      AuditEvent e;
      e.time_unix_nanos = absl::ToUnixNanos(absl::Now());
      e.action = AuditAction::kRestrictionLifted;
      e.accessor = actor;
      e.subject = subject_id;
      e.category = KindCategory(lift.kind());
      e.purpose = lift.purpose();
      e.request_id = entry->request_id();
      e.record_ref = lift.request_id();
      e.detail = lift.reason();
      e.revision = record.revision();
      if (absl::Status s = audit.Record(e); !s.ok()) {
        return absl::UnavailableError(
            absl::StrCat("subject '", subject_id,
                         "': the audit sink refused the event for "
                         "lifting the restriction ",
                         RestrictionDisplayName(lift.kind(), lift.purpose()),
                         ", so it stays in force: ", s.message()));
      }
      audited = true;
    }
    change.set_expected_revision(record.revision());
    absl::StatusOr<Revision> rev = store.Apply(change);
    if (rev.ok() || !absl::IsAborted(rev.status())) return rev;
  }
  return absl::AbortedError(
      absl::StrCat("subject '", subject_id,
                   "': the consent record kept changing while "
                   "the restriction ",
                   RestrictionDisplayName(lift.kind(), lift.purpose()),
                   " was lifted; retry"));
}

}  // namespace consentry
