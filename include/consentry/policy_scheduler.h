// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: policy_scheduler.h
// -----------------------------------------------------------------------------
//
// A `PolicyScheduler` switches a `Guard` to a new policy version at the
// version's `effective_time`. It keeps the policies scheduled and applies
// each, when due, with `Guard::SetPolicy` (atomic for every check).
//
//   * On the real clock (`clock` unset) a background thread applies them.
//   * With an injected clock, time is the caller's to drive: only
//     `ApplyDue` switches.
//
// Example:
//
//   auto scheduler = consentry::PolicyScheduler::Create(guard.get());
//   if (!scheduler.ok()) return scheduler.status();
//   // next->proto().effective_time() is next month: switches then.
//   absl::Status s = (*scheduler)->Schedule(next);

#ifndef CONSENTRY_POLICY_SCHEDULER_H_
#define CONSENTRY_POLICY_SCHEDULER_H_

#include <cstddef>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "consentry/export.h"
#include "consentry/guard.h"
#include "consentry/policy.h"

namespace consentry {

// Applies scheduled policy versions to one Guard. Thread-safe. Does not own
// the Guard; owns its background thread, which its destructor stops.
// REQUIRES: the Guard outlives the scheduler.
class CONSENTRY_EXPORT PolicyScheduler {
 public:
  // `clock` is the time the scheduler compares effective times with; unset,
  // the real clock, and a background thread applies due policies. Pass the
  // Guard's own clock (`guard->options().clock`) to keep the two in step.
  //
  // Errors: `kInvalidArgument` when `guard` is null.
  static absl::StatusOr<std::unique_ptr<PolicyScheduler>> Create(
      Guard* guard, std::function<absl::Time()> clock = nullptr);

  PolicyScheduler(const PolicyScheduler&) = delete;
  PolicyScheduler& operator=(const PolicyScheduler&) = delete;
  ~PolicyScheduler();

  // Switches the Guard to `policy` at its `effective_time`: at once if that
  // has passed (or is unset), otherwise when due (see the file comment).
  // Errors: `kInvalidArgument` for null; those of `Guard::SetPolicy` when
  // applied at once.
  absl::Status Schedule(std::shared_ptr<const CompiledPolicy> policy);

  // Applies every scheduled policy whose effective time is at or before the
  // clock, in effective-time order. Returns how many were applied.
  // Errors: those of `Guard::SetPolicy` (the failed policy stays scheduled).
  absl::StatusOr<int> ApplyDue();

  // Scheduled policies not yet applied.
  std::size_t pending() const;

 private:
  struct Impl;
  explicit PolicyScheduler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace consentry

#endif  // CONSENTRY_POLICY_SCHEDULER_H_
