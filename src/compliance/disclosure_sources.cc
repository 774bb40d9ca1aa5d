// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/disclosure_sources.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/util/mutex.h"

namespace consentry {
namespace {

// `s` with `what` in front of its message, code kept.
absl::Status Prefixed(const absl::Status& s, absl::string_view what) {
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

bool Names(const google::protobuf::RepeatedPtrField<std::string>& subjects,
           absl::string_view subject) {
  return std::find(subjects.begin(), subjects.end(), subject) != subjects.end();
}

}  // namespace

struct AuditLogAccessEventSource::Impl {
  std::string directory;
  AuditLog* live_log;
  mutable internal::Mutex mu;
  AuditLogReader::Stats stats ABSL_GUARDED_BY(mu);
};

AuditLogAccessEventSource::AuditLogAccessEventSource(std::string directory,
                                                     AuditLog* live_log)
    : impl_(std::make_unique<Impl>()) {
  impl_->directory = std::move(directory);
  impl_->live_log = live_log;
}

AuditLogAccessEventSource::~AuditLogAccessEventSource() = default;

absl::StatusOr<std::vector<OwnedAuditEvent>>
AuditLogAccessEventSource::EventsFor(absl::string_view subject_id) {
  absl::StatusOr<CoveredEvents> covered = CoveredEventsFor(subject_id);
  if (!covered.ok()) return covered.status();
  return std::move(covered->events);
}

absl::StatusOr<AccessEventSource::CoveredEvents>
AuditLogAccessEventSource::CoveredEventsFor(absl::string_view subject_id) {
  const std::string where = absl::StrCat("audit log ", impl_->directory);
  if (impl_->live_log != nullptr) {
    // Everything recorded before this call is read: a package never misses
    // an access that already happened.
    if (absl::Status s = impl_->live_log->Flush(); !s.ok()) {
      return Prefixed(s, absl::StrCat(where, ": flush before reading"));
    }
  }
  absl::StatusOr<std::unique_ptr<AuditLogReader>> reader =
      AuditLogReader::Open(impl_->directory);
  if (!reader.ok()) return Prefixed(reader.status(), where);
  absl::StatusOr<std::vector<OwnedAuditEvent>> events =
      (*reader)->ForSubject(subject_id);
  if (!events.ok()) return Prefixed(events.status(), where);
  {
    internal::MutexLock lock(&impl_->mu);
    impl_->stats = (*reader)->last_stats();
  }
  CoveredEvents out;
  out.events = *std::move(events);
  const AuditCoverage& coverage = (*reader)->last_coverage();
  out.complete_from = coverage.complete_from;
  if (coverage.retained) {
    out.note = absl::StrCat(where, ": ", coverage.ToString());
  }
  return out;
}

AuditLogReader::Stats AuditLogAccessEventSource::last_stats() const {
  internal::MutexLock lock(&impl_->mu);
  return impl_->stats;
}

AuditLogSetAccessEventSource::AuditLogSetAccessEventSource(
    std::vector<std::string> directories, std::vector<AuditLog*> live_logs)
    : directories_(std::move(directories)), live_logs_(std::move(live_logs)) {}

AuditLogSetAccessEventSource::~AuditLogSetAccessEventSource() = default;

absl::StatusOr<std::vector<OwnedAuditEvent>>
AuditLogSetAccessEventSource::EventsFor(absl::string_view subject_id) {
  absl::StatusOr<CoveredEvents> covered = CoveredEventsFor(subject_id);
  if (!covered.ok()) return covered.status();
  return std::move(covered->events);
}

absl::StatusOr<AccessEventSource::CoveredEvents>
AuditLogSetAccessEventSource::CoveredEventsFor(absl::string_view subject_id) {
  for (AuditLog* live : live_logs_) {
    if (absl::Status s = live->Flush(); !s.ok()) {
      return Prefixed(s, "audit log set: flush before reading");
    }
  }
  absl::StatusOr<std::unique_ptr<AuditLogSet>> set =
      AuditLogSet::Open(directories_);
  if (!set.ok()) return set.status();
  absl::StatusOr<AuditLogSet::Events> got = (*set)->ForSubject(subject_id);
  if (!got.ok()) return got.status();
  CoveredEvents out;
  out.complete_from = got->complete_from();
  for (std::size_t i = 0; i < got->coverage.size(); ++i) {
    if (!got->coverage[i].retained) continue;
    absl::StrAppend(&out.note, out.note.empty() ? "" : "; ", "audit log '",
                    (*set)->logs()[i].name, "': ", got->coverage[i].ToString());
  }
  out.events = std::move(got->events);
  return out;
}

absl::StatusOr<std::vector<v1::ConsentRecord>>
ConsentStoreHistorySource::HistoryFor(absl::string_view subject_id) {
  absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> history =
      store_->History(subject_id);
  if (!history.ok()) {
    return Prefixed(history.status(), "consent store history");
  }
  std::vector<v1::ConsentRecord> out;
  out.reserve(history->size());
  for (v1::ConsentHistoryEntry& e : *history) {
    out.push_back(std::move(*e.mutable_state()));
  }
  return out;
}

absl::StatusOr<std::vector<v1::ProvisionEntry>>
ProvisionStoreSource::ProvisionsFor(absl::string_view subject_id) {
  absl::StatusOr<v1::ProvisionHistory> history =
      HistoryForSubject(*store_, subject_id);
  if (!history.ok()) {
    return Prefixed(history.status(), "provision record store");
  }
  std::vector<v1::ProvisionEntry> out;
  out.reserve(static_cast<std::size_t>(history->provisions_size()) +
              static_cast<std::size_t>(history->receipts_size()));
  for (v1::ProvisionRecord& p : *history->mutable_provisions()) {
    if (!Names(p.subjects(), subject_id)) {
      return absl::InternalError(
          absl::StrCat("provision record store: provision record '", p.id(),
                       "' returned for subject '", subject_id,
                       "' does not name that subject"));
    }
    v1::ProvisionEntry& e = out.emplace_back();
    *e.mutable_time() = p.provision_time();
    e.set_recipient_id(std::move(*p.mutable_recipient_id()));
    e.set_recipient_name(std::move(*p.mutable_recipient_name()));
    e.set_direction("provided");
    *e.mutable_categories() = std::move(*p.mutable_categories());
    e.set_purpose(std::move(*p.mutable_purpose()));
    e.set_record_ref(std::move(*p.mutable_id()));
  }
  for (v1::ReceiptRecord& r : *history->mutable_receipts()) {
    if (!Names(r.subjects(), subject_id)) {
      return absl::InternalError(
          absl::StrCat("provision record store: receipt record '", r.id(),
                       "' returned for subject '", subject_id,
                       "' does not name that subject"));
    }
    v1::ProvisionEntry& e = out.emplace_back();
    *e.mutable_time() = r.receipt_time();
    e.set_recipient_name(std::move(*r.mutable_provider_name()));
    e.set_direction("received");
    *e.mutable_categories() = std::move(*r.mutable_categories());
    e.set_record_ref(std::move(*r.mutable_id()));
  }
  // Oldest first; a provision and a receipt at one instant keep that order.
  std::stable_sort(
      out.begin(), out.end(),
      [](const v1::ProvisionEntry& a, const v1::ProvisionEntry& b) {
        return std::make_pair(a.time().seconds(), a.time().nanos()) <
               std::make_pair(b.time().seconds(), b.time().nanos());
      });
  return out;
}

}  // namespace consentry
