// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/consent.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consentry/policy.h"
#include "consentry/v1/policy.pb.h"
#include "google/protobuf/stubs/common.h"
#include "src/util/mutex.h"
#include "src/util/status_macros.h"

namespace consentry {

namespace {

// A string field of a change: valid UTF-8 (protobuf's own check, the one its
// binary parser applies, so that whatever is stored parses back), within
// `max_bytes`, and, for an id, without NUL (PostgreSQL's text cannot hold
// it). `field` names the field in the error; `subject` the change's subject
// (hex-escaped when it is the bad one).
absl::Status CheckString(absl::string_view field, const std::string& value,
                         std::size_t max_bytes, bool id,
                         const std::string& subject) {
  const bool utf8 = google::protobuf::internal::IsStructurallyValidUTF8(
      value.data(), static_cast<int>(value.size()));
  const char* problem = nullptr;
  if (value.size() > max_bytes) {
    problem = "is too long";
  } else if (!utf8) {
    problem = "is not valid UTF-8";
  } else if (id && value.find('\0') != std::string::npos) {
    problem = "contains a NUL byte";
  }
  if (problem == nullptr) return absl::OkStatus();
  const bool subject_ok = subject.size() <= kMaxSubjectIdBytes &&
                          google::protobuf::internal::IsStructurallyValidUTF8(
                              subject.data(), static_cast<int>(subject.size()));
  return absl::InvalidArgumentError(absl::StrCat(
      "consent change",
      subject_ok ? absl::StrCat(" for subject '", subject, "'") : "", ": ",
      field, " ", problem, " (", value.size(), " bytes, at most ", max_bytes,
      ": '", absl::CHexEscape(value.substr(0, 64)),
      value.size() > 64 ? "...'" : "'", ")"));
}

// The (kind, purpose) that identifies a restriction; checks an entry of a
// change or a lift. `field` names it in errors.
absl::Status CheckRestrictionKey(absl::string_view field,
                                 v1::RestrictionKind kind,
                                 const std::string& purpose,
                                 const std::string& subject) {
  if (kind == v1::RESTRICTION_KIND_UNSPECIFIED ||
      !v1::RestrictionKind_IsValid(kind)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "consent change for subject '", subject, "': ", field,
        ".kind must name a restriction (got ", static_cast<int>(kind), ")"));
  }
  const bool wants_purpose = kind == v1::RESTRICTION_KIND_SUSPENDED_PURPOSE;
  if (wants_purpose && purpose.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("consent change for subject '", subject, "': ", field,
                     ".purpose must name the suspended purpose"));
  }
  if (!wants_purpose && !purpose.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "consent change for subject '", subject, "': ", field,
        ".purpose is only meaningful for RESTRICTION_KIND_SUSPENDED_PURPOSE"));
  }
  return CheckString(absl::StrCat(field, ".purpose"), purpose,
                     kMaxPurposeIdBytes, true, subject);
}

absl::Status ValidateRestrictions(const v1::Restrictions& r,
                                  const std::string& subject) {
  if (r.suspended_purposes_size() > kMaxSuspendedPurposes ||
      r.entries_size() > kMaxSuspendedPurposes + 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "consent change for subject '", subject,
        "': restrictions.suspended_purposes has ", r.suspended_purposes_size(),
        " and restrictions.entries ", r.entries_size(), " entries, at most ",
        kMaxSuspendedPurposes, " suspended purposes"));
  }
  for (int i = 0; i < r.suspended_purposes_size(); ++i) {
    RETURN_IF_ERROR(CheckString(
        absl::StrCat("restrictions.suspended_purposes[", i, "]"),
        r.suspended_purposes(i), kMaxPurposeIdBytes, true, subject));
  }
  for (int i = 0; i < r.entries_size(); ++i) {
    const v1::RestrictionEntry& e = r.entries(i);
    const std::string field = absl::StrCat("restrictions.entries[", i, "]");
    RETURN_IF_ERROR(CheckRestrictionKey(field, e.kind(), e.purpose(), subject));
    RETURN_IF_ERROR(CheckString(absl::StrCat(field, ".request_id"),
                                e.request_id(), kMaxConsentTextBytes, true,
                                subject));
    RETURN_IF_ERROR(CheckString(absl::StrCat(field, ".actor"), e.actor(),
                                kMaxConsentTextBytes, false, subject));
  }
  return absl::OkStatus();
}

absl::Status ValidateLift(const v1::ConsentChange& change) {
  const std::string& subject = change.subject_id();
  const v1::RestrictionLift& lift = change.lift_restriction();
  RETURN_IF_ERROR(CheckRestrictionKey("lift_restriction", lift.kind(),
                                      lift.purpose(), subject));
  if (lift.reason().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "consent change for subject '", subject,
        "': lift_restriction.reason must say why the restriction is lifted"));
  }
  RETURN_IF_ERROR(CheckString("lift_restriction.reason", lift.reason(),
                              kMaxLiftReasonBytes, false, subject));
  RETURN_IF_ERROR(CheckString("lift_restriction.request_id", lift.request_id(),
                              kMaxConsentTextBytes, true, subject));
  if (change.actor().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("consent change for subject '", subject,
                     "': a lift_restriction needs the actor who lifts it"));
  }
  return absl::OkStatus();
}

bool SameRestriction(const v1::RestrictionEntry& e, v1::RestrictionKind kind,
                     absl::string_view purpose) {
  return e.kind() == kind && e.purpose() == purpose;
}

// Adds (kind, purpose) to `out` unless it is there; returns the entry added
// or null.
v1::RestrictionEntry* AddRestriction(std::vector<v1::RestrictionEntry>& out,
                                     v1::RestrictionKind kind,
                                     absl::string_view purpose) {
  for (const v1::RestrictionEntry& e : out) {
    if (SameRestriction(e, kind, purpose)) return nullptr;
  }
  v1::RestrictionEntry& e = out.emplace_back();
  e.set_kind(kind);
  e.set_purpose(std::string(purpose));
  return &e;
}

// Every restriction `r` puts in force, one entry per (kind, purpose): its
// entries, then each restriction of the flattened summary without one (a
// record stored before entries existed: request id unknown).
std::vector<v1::RestrictionEntry> EntriesInForce(const v1::Restrictions& r) {
  std::vector<v1::RestrictionEntry> out;
  out.reserve(static_cast<std::size_t>(r.entries_size()));
  for (const v1::RestrictionEntry& e : r.entries()) {
    if (v1::RestrictionEntry* added =
            AddRestriction(out, e.kind(), e.purpose());
        added != nullptr) {
      *added = e;
    }
  }
  if (r.erased()) {
    v1::RestrictionEntry* e =
        AddRestriction(out, v1::RESTRICTION_KIND_ERASED, "");
    if (e != nullptr && r.has_erased_time()) {
      *e->mutable_time() = r.erased_time();
    }
  }
  if (r.suspend_all())
    AddRestriction(out, v1::RESTRICTION_KIND_SUSPEND_ALL, "");
  for (const std::string& p : r.suspended_purposes()) {
    AddRestriction(out, v1::RESTRICTION_KIND_SUSPENDED_PURPOSE, p);
  }
  if (r.third_party_provision_stopped()) {
    AddRestriction(out, v1::RESTRICTION_KIND_THIRD_PARTY_PROVISION_STOPPED, "");
  }
  return out;
}

// Rewrites `out` as the summary and entries of `entries`.
void WriteRestrictions(std::vector<v1::RestrictionEntry> entries,
                       v1::Restrictions& out) {
  out.Clear();
  for (v1::RestrictionEntry& e : entries) {
    switch (e.kind()) {
      case v1::RESTRICTION_KIND_ERASED:
        out.set_erased(true);
        if (e.has_time()) *out.mutable_erased_time() = e.time();
        break;
      case v1::RESTRICTION_KIND_SUSPEND_ALL:
        out.set_suspend_all(true);
        break;
      case v1::RESTRICTION_KIND_SUSPENDED_PURPOSE:
        out.add_suspended_purposes(e.purpose());
        break;
      case v1::RESTRICTION_KIND_THIRD_PARTY_PROVISION_STOPPED:
        out.set_third_party_provision_stopped(true);
        break;
      default:
        break;  // a kind this build does not know: kept, not enforced here
    }
    *out.add_entries() = std::move(e);
  }
}

// What a person reads in an error: the restriction and who placed it.
std::string DescribeRestriction(const v1::RestrictionEntry& e) {
  std::string what = RestrictionDisplayName(e.kind(), e.purpose());
  absl::StrAppend(&what, " (placed by ",
                  e.request_id().empty()
                      ? std::string("an unknown request")
                      : absl::StrCat("request '", e.request_id(), "'"),
                  ")");
  return what;
}

// Puts each of `wanted` in force in `in_force` (one already in force keeps
// its entry), stamped with `now` and the change's actor where the entry has
// none; refused when the result suspends too many purposes.
absl::Status AddEntries(const v1::ConsentChange& change,
                        const std::vector<v1::RestrictionEntry>& wanted,
                        const google::protobuf::Timestamp& now,
                        std::vector<v1::RestrictionEntry>& in_force) {
  for (const v1::RestrictionEntry& w : wanted) {
    v1::RestrictionEntry* added =
        AddRestriction(in_force, w.kind(), w.purpose());
    if (added == nullptr) continue;  // already in force: its entry stays
    *added = w;
    if (!added->has_time()) *added->mutable_time() = now;
    if (added->actor().empty()) added->set_actor(change.actor());
  }
  const auto suspended = std::count_if(
      in_force.begin(), in_force.end(), [](const v1::RestrictionEntry& e) {
        return e.kind() == v1::RESTRICTION_KIND_SUSPENDED_PURPOSE;
      });
  if (suspended > kMaxSuspendedPurposes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "consent change for subject '", change.subject_id(), "': ", suspended,
        " suspended purposes, at most ", kMaxSuspendedPurposes));
  }
  return absl::OkStatus();
}

// A plain restrictions write: adds the restrictions it names that are not
// in force; refused when it leaves out one that is.
absl::Status MergeRestrictionWrite(const v1::ConsentChange& change,
                                   const google::protobuf::Timestamp& now,
                                   v1::Restrictions& current) {
  std::vector<v1::RestrictionEntry> in_force = EntriesInForce(current);
  const std::vector<v1::RestrictionEntry> wanted =
      EntriesInForce(change.restrictions());
  for (const v1::RestrictionEntry& e : in_force) {
    bool kept = false;
    for (const v1::RestrictionEntry& w : wanted) {
      kept = kept || SameRestriction(w, e.kind(), e.purpose());
    }
    if (!kept) {
      return absl::FailedPreconditionError(absl::StrCat(
          "consent change for subject '", change.subject_id(),
          "' would lift the restriction ", DescribeRestriction(e),
          "; a restrictions write can only add restrictions: lift one "
          "explicitly (lift_restriction, with a reason). Nothing was written"));
    }
  }
  RETURN_IF_ERROR(AddEntries(change, wanted, now, in_force));
  WriteRestrictions(std::move(in_force), current);
  return absl::OkStatus();
}

// An add_restrictions change: the union of the restrictions in force and
// the ones it names, taken against the record the store read inside its
// write transaction, so concurrent adders never conflict.
absl::Status MergeRestrictionAdd(const v1::ConsentChange& change,
                                 const google::protobuf::Timestamp& now,
                                 v1::Restrictions& current) {
  std::vector<v1::RestrictionEntry> in_force = EntriesInForce(current);
  RETURN_IF_ERROR(AddEntries(change, EntriesInForce(change.add_restrictions()),
                             now, in_force));
  WriteRestrictions(std::move(in_force), current);
  return absl::OkStatus();
}

// A lift: removes the one restriction it names; refused when that is not in
// force.
absl::Status MergeLift(const v1::ConsentChange& change,
                       v1::Restrictions& current) {
  const v1::RestrictionLift& lift = change.lift_restriction();
  std::vector<v1::RestrictionEntry> in_force = EntriesInForce(current);
  auto it = std::find_if(
      in_force.begin(), in_force.end(), [&](const v1::RestrictionEntry& e) {
        return SameRestriction(e, lift.kind(), lift.purpose());
      });
  if (it == in_force.end()) {
    return absl::NotFoundError(
        absl::StrCat("consent change for subject '", change.subject_id(),
                     "': no restriction ",
                     RestrictionDisplayName(lift.kind(), lift.purpose()),
                     " is in force, so there is none to lift"));
  }
  in_force.erase(it);
  WriteRestrictions(std::move(in_force), current);
  return absl::OkStatus();
}

}  // namespace

std::string RestrictionDisplayName(v1::RestrictionKind kind,
                                   absl::string_view purpose) {
  switch (kind) {
    case v1::RESTRICTION_KIND_ERASED:
      return "'erased'";
    case v1::RESTRICTION_KIND_SUSPEND_ALL:
      return "'suspend_all'";
    case v1::RESTRICTION_KIND_SUSPENDED_PURPOSE:
      return absl::StrCat("'suspended purpose ", purpose, "'");
    case v1::RESTRICTION_KIND_THIRD_PARTY_PROVISION_STOPPED:
      return "'third_party_provision_stopped'";
    default:
      return absl::StrCat("'kind ", static_cast<int>(kind), "'");
  }
}

std::vector<v1::RestrictionEntry> RestrictionsInForce(
    const v1::Restrictions& restrictions) {
  return EntriesInForce(restrictions);
}

absl::Status ValidateConsentChange(const v1::ConsentChange& change) {
  const std::string& subject = change.subject_id();
  if (subject.empty()) {
    return absl::InvalidArgumentError(
        "consent change: subject_id must not be empty");
  }
  RETURN_IF_ERROR(
      CheckString("subject_id", subject, kMaxSubjectIdBytes, true, subject));
  RETURN_IF_ERROR(CheckString("actor", change.actor(), kMaxConsentTextBytes,
                              false, subject));
  switch (change.change_case()) {
    case v1::ConsentChange::kPurposeConsent: {
      const v1::PurposeConsent& pc = change.purpose_consent();
      if (pc.purpose().empty()) {
        return absl::InvalidArgumentError(
            "consent change: purpose_consent.purpose must not be empty");
      }
      RETURN_IF_ERROR(CheckString("purpose_consent.purpose", pc.purpose(),
                                  kMaxPurposeIdBytes, true, subject));
      RETURN_IF_ERROR(CheckString("purpose_consent.occasion_id",
                                  pc.occasion_id(), kMaxPurposeIdBytes, true,
                                  subject));
      RETURN_IF_ERROR(CheckString("purpose_consent.policy_version",
                                  pc.policy_version(), kMaxConsentTextBytes,
                                  false, subject));
      RETURN_IF_ERROR(CheckString("purpose_consent.notice_version",
                                  pc.notice_version(), kMaxConsentTextBytes,
                                  false, subject));
      RETURN_IF_ERROR(CheckString("purpose_consent.evidence_ref",
                                  pc.evidence_ref(), kMaxConsentTextBytes,
                                  false, subject));
      if (pc.state() == v1::CONSENT_STATE_UNSPECIFIED ||
          !v1::ConsentState_IsValid(pc.state())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "consent change: purpose_consent.state must be set (got ",
            static_cast<int>(pc.state()), ") for purpose '", pc.purpose(),
            "'"));
      }
      if (pc.has_expiry() && pc.state() != v1::CONSENT_STATE_GIVEN) {
        return absl::InvalidArgumentError(
            "consent change: purpose_consent.expiry is only meaningful for "
            "CONSENT_STATE_GIVEN");
      }
      return absl::OkStatus();
    }
    case v1::ConsentChange::kRestrictions:
      return ValidateRestrictions(change.restrictions(), subject);
    case v1::ConsentChange::kAddRestrictions:
      return ValidateRestrictions(change.add_restrictions(), subject);
    case v1::ConsentChange::kLiftRestriction:
      return ValidateLift(change);
    case v1::ConsentChange::CHANGE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "consent change: one of purpose_consent, restrictions or "
      "lift_restriction must be set");
}

absl::Status MergeConsentChange(const v1::ConsentChange& change,
                                Revision revision, absl::Time now,
                                v1::ConsentRecord& record) {
  const std::int64_t secs = absl::ToUnixSeconds(now);
  const auto nanos = static_cast<std::int32_t>(
      absl::ToInt64Nanoseconds(now - absl::FromUnixSeconds(secs)));
  // Restrictions first, into a copy: a refused change leaves `record` as it
  // was.
  if (change.has_restrictions() || change.has_add_restrictions() ||
      change.has_lift_restriction()) {
    google::protobuf::Timestamp stamp;
    stamp.set_seconds(secs);
    stamp.set_nanos(nanos);
    v1::Restrictions merged = record.restrictions();
    RETURN_IF_ERROR(change.has_restrictions()
                        ? MergeRestrictionWrite(change, stamp, merged)
                    : change.has_add_restrictions()
                        ? MergeRestrictionAdd(change, stamp, merged)
                        : MergeLift(change, merged));
    *record.mutable_restrictions() = std::move(merged);
  }
  if (record.subject_id().empty()) record.set_subject_id(change.subject_id());
  // An add_restrictions change names the kind only for a record it
  // creates: it is merged without reading the record first, so it must not
  // overwrite the kind a record already has.
  const bool keep_kind = change.has_add_restrictions() &&
                         record.subject_kind() != v1::SUBJECT_KIND_UNSPECIFIED;
  if (change.subject_kind() != v1::SUBJECT_KIND_UNSPECIFIED && !keep_kind) {
    record.set_subject_kind(change.subject_kind());
  }
  if (change.has_purpose_consent()) {
    const v1::PurposeConsent& pc = change.purpose_consent();
    v1::PurposeConsent* slot = nullptr;
    for (v1::PurposeConsent& existing : *record.mutable_purposes()) {
      if (existing.purpose() == pc.purpose() &&
          existing.occasion_id() == pc.occasion_id()) {
        slot = &existing;
        break;
      }
    }
    if (slot == nullptr) slot = record.add_purposes();
    *slot = pc;
    if (!slot->has_time()) {
      slot->mutable_time()->set_seconds(secs);
      slot->mutable_time()->set_nanos(nanos);
    }
  }
  record.set_revision(revision);
  record.mutable_update_time()->set_seconds(secs);
  record.mutable_update_time()->set_nanos(nanos);
  return absl::OkStatus();
}

void SetVersionsSeen(const CompiledPolicy& policy, v1::PurposeConsent& pc) {
  if (pc.policy_version().empty()) pc.set_policy_version(policy.version());
  if (pc.notice_version().empty()) {
    pc.set_notice_version(policy.proto().notice_version());
  }
}

v1::ConsentRecord UnreadableConsentRecord(absl::string_view subject_id,
                                          Revision revision,
                                          absl::string_view detail) {
  v1::ConsentRecord r;
  r.set_subject_id(std::string(subject_id));
  r.set_revision(revision);
  r.set_data_loss(detail.empty() ? std::string("unreadable consent record")
                                 : std::string(detail));
  return r;
}

absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> ConsentStore::History(
    absl::string_view subject_id) {
  return absl::UnimplementedError(
      absl::StrCat("this consent store keeps no history (asked for subject '",
                   subject_id, "')"));
}

// ---------------------------------------------------------------------------
// InMemoryConsentStore

struct InMemoryConsentStore::Impl {
  struct Listener {
    ConsentListener fn;
  };

  internal::Mutex mu;
  absl::flat_hash_map<std::string, v1::ConsentRecord> records
      ABSL_GUARDED_BY(mu);
  // revision -> subject id, for ChangesSince (only the latest revision of a
  // subject is kept).
  std::map<Revision, std::string> by_revision ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, std::vector<v1::ConsentHistoryEntry>> history
      ABSL_GUARDED_BY(mu);
  Revision revision ABSL_GUARDED_BY(mu) = 0;
  bool unavailable ABSL_GUARDED_BY(mu) = false;

  // Serializes notification, so that listeners see changes in revision
  // order; held while listeners run (never together with `mu`).
  internal::Mutex notify_mu;
  // Listener registry; taken shared to copy, exclusively to change.
  internal::Mutex listeners_mu;
  std::map<std::uint64_t, std::shared_ptr<Listener>> listeners
      ABSL_GUARDED_BY(listeners_mu);
  std::uint64_t next_id ABSL_GUARDED_BY(listeners_mu) = 0;
};

namespace {

class InMemorySubscription final : public Subscription {
 public:
  InMemorySubscription(std::function<void()> cancel)
      : cancel_(std::move(cancel)) {}
  ~InMemorySubscription() override { cancel_(); }

 private:
  std::function<void()> cancel_;
};

absl::Status Unavailable() {
  return absl::UnavailableError("in-memory consent store: unavailable (test)");
}

}  // namespace

InMemoryConsentStore::InMemoryConsentStore()
    : impl_(std::make_unique<Impl>()) {}
InMemoryConsentStore::~InMemoryConsentStore() = default;

absl::StatusOr<v1::ConsentRecord> InMemoryConsentStore::Get(
    absl::string_view subject_id) {
  internal::ReaderMutexLock lock(&impl_->mu);
  if (impl_->unavailable) return Unavailable();
  auto it = impl_->records.find(subject_id);
  if (it == impl_->records.end()) {
    v1::ConsentRecord empty;
    empty.set_subject_id(std::string(subject_id));
    return empty;
  }
  return it->second;
}

absl::StatusOr<Revision> InMemoryConsentStore::Apply(
    const v1::ConsentChange& change) {
  if (absl::Status s = ValidateConsentChange(change); !s.ok()) return s;
  // Hold notify_mu across commit and notification, so that listeners see
  // changes in revision order.
  internal::MutexLock notify(&impl_->notify_mu);
  v1::ConsentRecord committed;
  Revision rev;
  {
    internal::MutexLock lock(&impl_->mu);
    if (impl_->unavailable) return Unavailable();
    v1::ConsentRecord& record = impl_->records[change.subject_id()];
    if (change.has_expected_revision() &&
        change.expected_revision() != record.revision()) {
      const Revision current = record.revision();
      if (current == 0) impl_->records.erase(change.subject_id());
      return absl::AbortedError(
          absl::StrCat("consent change for subject '", change.subject_id(),
                       "': expected revision ", change.expected_revision(),
                       " but the record is at revision ", current));
    }
    // Merge into a copy: a refused change (one that would lift a
    // restriction) writes nothing and uses no revision.
    v1::ConsentRecord merged = record;
    if (absl::Status s = MergeConsentChange(change, impl_->revision + 1,
                                            absl::Now(), merged);
        !s.ok()) {
      if (record.revision() == 0) impl_->records.erase(change.subject_id());
      return s;
    }
    if (record.revision() != 0) impl_->by_revision.erase(record.revision());
    rev = ++impl_->revision;
    record = std::move(merged);
    impl_->by_revision.emplace(rev, change.subject_id());
    committed = record;
    v1::ConsentHistoryEntry& entry =
        impl_->history[change.subject_id()].emplace_back();
    entry.set_revision(rev);
    *entry.mutable_change() = change;
    *entry.mutable_state() = record;
    *entry.mutable_commit_time() = record.update_time();
  }
  std::vector<std::shared_ptr<Impl::Listener>> listeners;
  {
    internal::ReaderMutexLock lock(&impl_->listeners_mu);
    for (const auto& [id, l] : impl_->listeners) listeners.push_back(l);
  }
  for (const auto& l : listeners) l->fn(committed);
  return rev;
}

absl::StatusOr<std::vector<v1::ConsentRecord>>
InMemoryConsentStore::ChangesSince(Revision after, int limit) {
  internal::ReaderMutexLock lock(&impl_->mu);
  if (impl_->unavailable) return Unavailable();
  std::vector<v1::ConsentRecord> out;
  for (auto it = impl_->by_revision.upper_bound(after);
       it != impl_->by_revision.end() && static_cast<int>(out.size()) < limit;
       ++it) {
    out.push_back(impl_->records.at(it->second));
  }
  return out;
}

absl::StatusOr<Revision> InMemoryConsentStore::LatestRevision() {
  internal::ReaderMutexLock lock(&impl_->mu);
  if (impl_->unavailable) return Unavailable();
  return impl_->revision;
}

std::unique_ptr<Subscription> InMemoryConsentStore::Watch(
    ConsentListener listener) {
  std::uint64_t id;
  {
    internal::MutexLock lock(&impl_->listeners_mu);
    id = impl_->next_id++;
    impl_->listeners.emplace(id, std::make_shared<Impl::Listener>(
                                     Impl::Listener{std::move(listener)}));
  }
  Impl* impl = impl_.get();
  return std::make_unique<InMemorySubscription>([impl, id] {
    {
      internal::MutexLock lock(&impl->listeners_mu);
      impl->listeners.erase(id);
    }
    // Wait for a notification in progress to finish.
    internal::MutexLock wait(&impl->notify_mu);
  });
}

absl::StatusOr<std::vector<v1::ConsentHistoryEntry>>
InMemoryConsentStore::History(absl::string_view subject_id) {
  internal::ReaderMutexLock lock(&impl_->mu);
  if (impl_->unavailable) return Unavailable();
  auto it = impl_->history.find(subject_id);
  if (it == impl_->history.end()) return std::vector<v1::ConsentHistoryEntry>{};
  return it->second;
}

void InMemoryConsentStore::SetUnavailableForTesting(bool unavailable) {
  internal::MutexLock lock(&impl_->mu);
  impl_->unavailable = unavailable;
}

}  // namespace consentry
