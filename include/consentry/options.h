// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: options.h
// -----------------------------------------------------------------------------
//
// Plain option structs with documented defaults.
//
// Example:
//
//   consentry::GuardOptions options;
//   options.mode = consentry::EnforcementMode::kShadow;  // log, don't block

#ifndef CONSENTRY_OPTIONS_H_
#define CONSENTRY_OPTIONS_H_

#include <cstddef>
#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace consentry {

enum class EnforcementMode {
  // Denials deny. The default.
  kEnforce,
  // Rollout mode: every decision is computed and audited as in kEnforce,
  // but a denied read goes through; the denial is marked `shadow` in the
  // audit event and counted in `Guard::ShadowReport()`. Switch to kEnforce
  // once the report is clean.
  kShadow,
};

struct GuardOptions {
  EnforcementMode mode = EnforcementMode::kEnforce;

  // Source of the current time, for consent expiry and audit timestamps.
  // Defaults to `absl::Now`. Tests inject a fake clock.
  std::function<absl::Time()> clock;

  // Number of subjects the consent cache is sized for up front; loading
  // more grows it (a brief copy under the writer lock, checks unblocked).
  std::size_t expected_subjects = 0;

  // Deprecated and ignored. A replaced consent cache is freed once every
  // check that may read it has ended (by reference, however long a check
  // waits on the store), never after a fixed time.
  absl::Duration retire_grace = absl::Seconds(30);

  // Lets `Guard::Create` accept a null audit sink: decisions are then not
  // audited at all. For benchmarks that time the decision alone; never in
  // a service (every read must be on record). Without it a null sink is
  // refused with `kInvalidArgument`.
  bool unaudited_for_benchmarks_only = false;

  // Staleness bound of the consent store's change feed. When the store's
  // `FeedHeartbeat()` is older than this (the feed silent or disconnected),
  // checks of purposes whose basis is consent (opt-in, opt-out) deny with
  // `Reason::kConsentStale`, while necessary-basis purposes still work;
  // checks recover by themselves once the feed is fresh again. Measured on
  // the wall clock (`absl::Now`), not `clock`. Stores whose listeners run
  // on the writer's thread (in memory) report no heartbeat and are never
  // stale.
  //
  // Keep it at least ten heartbeat intervals of the store (20 ms SQLite
  // poll, 200 ms PostgreSQL heartbeat); the trade-off behind the default:
  // docs/design/stores.md. `absl::InfiniteDuration()` disables the bound
  // (a stopped feed then silently serves the cache as it was).
  absl::Duration max_feed_staleness = absl::Seconds(10);
};

}  // namespace consentry

#endif  // CONSENTRY_OPTIONS_H_
