// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/consent.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/internal/mutex.h"

namespace consentry {

absl::Status ValidateConsentChange(const v1::ConsentChange& change) {
  if (change.subject_id().empty()) {
    return absl::InvalidArgumentError(
        "consent change: subject_id must not be empty");
  }
  switch (change.change_case()) {
    case v1::ConsentChange::kPurposeConsent: {
      const v1::PurposeConsent& pc = change.purpose_consent();
      if (pc.purpose().empty()) {
        return absl::InvalidArgumentError(
            "consent change: purpose_consent.purpose must not be empty");
      }
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
      return absl::OkStatus();
    case v1::ConsentChange::CHANGE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "consent change: one of purpose_consent or restrictions must be set");
}

void MergeConsentChange(const v1::ConsentChange& change, Revision revision,
                        absl::Time now, v1::ConsentRecord& record) {
  if (record.subject_id().empty()) record.set_subject_id(change.subject_id());
  if (change.subject_kind() != v1::SUBJECT_KIND_UNSPECIFIED) {
    record.set_subject_kind(change.subject_kind());
  }
  const std::int64_t secs = absl::ToUnixSeconds(now);
  const auto nanos = static_cast<std::int32_t>(
      absl::ToInt64Nanoseconds(now - absl::FromUnixSeconds(secs)));
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
  } else if (change.has_restrictions()) {
    *record.mutable_restrictions() = change.restrictions();
    if (change.restrictions().erased() &&
        !record.restrictions().has_erased_time()) {
      record.mutable_restrictions()->mutable_erased_time()->set_seconds(secs);
      record.mutable_restrictions()->mutable_erased_time()->set_nanos(nanos);
    }
  }
  record.set_revision(revision);
  record.mutable_update_time()->set_seconds(secs);
  record.mutable_update_time()->set_nanos(nanos);
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
    if (record.revision() != 0) impl_->by_revision.erase(record.revision());
    rev = ++impl_->revision;
    const absl::Time now = absl::Now();
    MergeConsentChange(change, rev, now, record);
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
