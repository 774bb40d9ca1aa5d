// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: options.h
// -----------------------------------------------------------------------------
//
// Plain option structs with documented defaults. Thread-safety: values;
// a Guard copies its options at creation.
//
// Example:
//
//   consentry::GuardOptions options;
//   options.mode = consentry::EnforcementMode::kShadow;  // log, don't block
//   // Keep about 13 million subjects cached (40 bytes each), not all:
//   options.cache_budget_bytes = std::size_t{512} << 20;

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

  // Memory budget of the consent cache, in bytes; 0 (the default) keeps
  // every subject the Guard has seen (`WarmCache` loads them all), as
  // before. With a budget (at least 1,024 bytes; `Guard::Create` refuses
  // less with `kInvalidArgument`), each cached subject is charged 40 bytes
  // (its share of the slot array, allocated up front: 1.25 slots of 32
  // bytes per subject the budget holds) plus its id when longer than 16
  // bytes. Not charged: the interned consent profiles (128 bytes per
  // distinct set of choices, shared by every subject holding it), the
  // per-occasion consents of cached subjects, and ids of evicted subjects
  // awaiting compaction (at most twice the budget). A subject not cached
  // is read from the store by its first check (one read per subject
  // however many checks miss it at once) and cached, a subject the store
  // does not know as such (a negative entry); past the budget the coldest
  // subjects are evicted (CLOCK). The change feed updates cached subjects
  // and skips the others. `WarmCache` and `SetPolicy` load subjects until
  // the budget is full. `expected_subjects` is then ignored. Design and
  // guarantees: docs/design/consent-cache.md.
  std::size_t cache_budget_bytes = 0;

  // With a budget: how many store reads for cache misses run at once. A
  // miss beyond it waits up to `store_read_wait` for one to finish, then
  // is denied with `Reason::kStoreUnavailable` (status `kUnavailable`,
  // counted in `GuardCacheStats::reads_rejected`); cached subjects are
  // not affected. At least 1.
  int max_store_reads_in_flight = 64;
  absl::Duration store_read_wait = absl::Milliseconds(100);

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
