// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/audit.h"

#include <utility>
#include <vector>

#include "src/util/mutex.h"

namespace consentry {

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
