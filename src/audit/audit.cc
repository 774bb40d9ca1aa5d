// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/audit.h"

#include <utility>
#include <vector>

#include "src/util/mutex.h"

namespace consentry {

OwnedAuditEvent OwnedAuditEvent::From(const AuditEvent& e) {
  OwnedAuditEvent o;
  o.time_unix_nanos = e.time_unix_nanos;
  o.action = e.action;
  o.accessor = std::string(e.accessor);
  o.subject = std::string(e.subject);
  o.category = std::string(e.category);
  o.purpose = std::string(e.purpose);
  o.policy_version = std::string(e.policy_version);
  o.record_ref = std::string(e.record_ref);
  o.recipient = std::string(e.recipient);
  o.request_id = std::string(e.request_id);
  o.reason = e.reason;
  o.revision = e.revision;
  o.shadow = e.shadow;
  o.subjects_included = e.subjects_included;
  o.subjects_excluded = e.subjects_excluded;
  o.detail = std::string(e.detail);
  return o;
}

struct InMemoryAuditSink::Impl {
  mutable internal::Mutex mu;
  std::vector<OwnedAuditEvent> events ABSL_GUARDED_BY(mu);
  bool failing ABSL_GUARDED_BY(mu) = false;
};

InMemoryAuditSink::InMemoryAuditSink() : impl_(std::make_unique<Impl>()) {}
InMemoryAuditSink::~InMemoryAuditSink() = default;

absl::Status InMemoryAuditSink::Record(const AuditEvent& event) {
  OwnedAuditEvent owned = OwnedAuditEvent::From(event);
  internal::MutexLock lock(&impl_->mu);
  if (impl_->failing) {
    return absl::UnavailableError("in-memory audit sink: failing (test)");
  }
  impl_->events.push_back(std::move(owned));
  return absl::OkStatus();
}

std::vector<OwnedAuditEvent> InMemoryAuditSink::Events() const {
  internal::ReaderMutexLock lock(&impl_->mu);
  return impl_->events;
}

std::size_t InMemoryAuditSink::size() const {
  internal::ReaderMutexLock lock(&impl_->mu);
  return impl_->events.size();
}

void InMemoryAuditSink::Clear() {
  internal::MutexLock lock(&impl_->mu);
  impl_->events.clear();
}

void InMemoryAuditSink::SetFailingForTesting(bool failing) {
  internal::MutexLock lock(&impl_->mu);
  impl_->failing = failing;
}

}  // namespace consentry
