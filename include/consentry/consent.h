// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: consent.h
// -----------------------------------------------------------------------------
//
// Where consent records live. `ConsentStore` is the interface every store
// implements (in memory here; SQLite and PostgreSQL elsewhere, or the
// embedder's own); a `Guard` reads through it and keeps its cache fresh by
// watching it. Every write returns the store-wide revision it produced;
// revisions are totally ordered per store, so "at least revision R" is a
// meaningful demand.
//
// Restrictions a person's request placed (erasure, suspension of use for a
// purpose or for all, stop of third-party provision; APPI Art. 35) hold
// until lifted on purpose. Every store merges each change against the
// subject's CURRENT record inside its write transaction
// (`MergeConsentChange`), so for every writer:
//   - a `restrictions` change may only ADD restrictions; one that would
//     drop a restriction in force is refused with `kFailedPrecondition`
//     naming the subject and the restriction, and writes nothing;
//   - only a `lift_restriction` change removes one, and it must name the
//     restriction, a reason and the actor. `LiftRestriction` (requests.h)
//     audits the lift before applying it; use it rather than a bare
//     `Apply`.
// Each restriction is kept as a `RestrictionEntry` (kind, purpose, request
// id, time, actor) next to the flattened summary a Guard reads. A record
// stored before entries existed keeps its restrictions: each counts as an
// entry whose request id is unknown.
//
// Example:
//
//   consentry::InMemoryConsentStore store;
//   consentry::v1::ConsentChange change;
//   change.set_subject_id("s-1");
//   auto* pc = change.mutable_purpose_consent();
//   pc->set_purpose("marketing.research");
//   pc->set_state(consentry::v1::CONSENT_STATE_WITHDRAWN);
//   absl::StatusOr<consentry::Revision> rev = store.Apply(change);

#ifndef CONSENTRY_CONSENT_H_
#define CONSENTRY_CONSENT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "consentry/decision.h"
#include "consentry/export.h"
#include "consentry/v1/consent.pb.h"

namespace consentry {

class CompiledPolicy;
class ConsentStore;

namespace internal {
// The word a store named with `SetFeedHeartbeatWord`, or null.
const std::atomic<std::int64_t>* FeedHeartbeatWord(const ConsentStore& store);
}  // namespace internal

// Called with each record after a change to it was committed. Must be
// cheap, must not call back into the store that invoked it, and must accept
// a record more than once (a store that polls may deliver a revision its
// own writer already delivered); records of one subject arrive in revision
// order.
using ConsentListener = std::function<void(const v1::ConsentRecord&)>;

// Keeps a `ConsentStore::Watch` registration alive; destroying it
// unregisters the listener (and waits for a running call to finish).
class CONSENTRY_EXPORT Subscription {
 public:
  virtual ~Subscription() = default;
};

// Storage of consent records. Implementations must be thread-safe.
class CONSENTRY_EXPORT ConsentStore {
 public:
  virtual ~ConsentStore() = default;

  // The subject's current record; an empty record with revision 0 when the
  // subject has none. Errors: `kUnavailable` when the store cannot be
  // reached; `kDataLoss` when a stored record is corrupt.
  virtual absl::StatusOr<v1::ConsentRecord> Get(
      absl::string_view subject_id) = 0;

  // As `Get`, from a state that holds every change up to store revision
  // `min_revision` (the record's own revision may be lower: a subject the
  // later changes did not touch). A Guard reads through this on a cache
  // miss, with the revision its caller demanded. The default returns `Get`,
  // right for a store whose `Get` reads the current state; a store that
  // reads replicas waits for one to have `min_revision` or reads its
  // primary. Errors: those of `Get`; `kUnavailable` when no server holding
  // `min_revision` answers.
  virtual absl::StatusOr<v1::ConsentRecord> GetAtLeast(
      absl::string_view subject_id, Revision min_revision) {
    (void)min_revision;
    return Get(subject_id);
  }

  // Applies `change` atomically and returns the new revision. The change is
  // merged with `MergeConsentChange` against the record as it is inside the
  // write (never a copy read earlier).
  // Errors: `kInvalidArgument` for a malformed change (names the field);
  // `kAborted` when `expected_revision` is set and differs from the
  // record's revision (nothing is written); `kFailedPrecondition` when a
  // `restrictions` change would lift a restriction in force, `kNotFound`
  // when a `lift_restriction` names one not in force (nothing is written);
  // `kUnavailable` on outage.
  virtual absl::StatusOr<Revision> Apply(const v1::ConsentChange& change) = 0;

  // Current records of the subjects changed after revision `after`, in
  // revision order, at most `limit` of them. A record that cannot be read
  // is returned as `UnreadableConsentRecord` (its `data_loss` set), never
  // as an error for the whole call: the other subjects keep flowing.
  virtual absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSince(
      Revision after, int limit) = 0;

  // The highest revision written so far.
  virtual absl::StatusOr<Revision> LatestRevision() = 0;

  // Registers `listener` for every committed change, from any writer the
  // store can see. The listener runs on a store thread or the writer's
  // thread, never under a store lock.
  virtual std::unique_ptr<Subscription> Watch(ConsentListener listener) = 0;

  // Every change applied to the subject, oldest first, each with the state
  // it produced; empty for an unknown subject. Errors: `kUnimplemented` for
  // a store that keeps no history (the default); `kUnavailable`;
  // `kDataLoss` for a corrupt entry.
  virtual absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> History(
      absl::string_view subject_id);

  // Liveness of the change feed: the latest wall-clock time (`absl::Now`)
  // at which the store knew that every committed change up to then had been
  // handed to its `Watch` listeners. A Guard fails consent-based purposes
  // closed when this lags by more than its bound. The default,
  // `absl::InfiniteFuture()`, suits stores whose listeners are called by
  // the writer itself and cannot fall behind (in memory).
  virtual absl::Time FeedHeartbeat() { return absl::InfiniteFuture(); }

  // Whether `FeedHeartbeat` may ever return a time other than
  // `absl::InfiniteFuture()`; fixed for the store's lifetime. A Guard with
  // a finite `max_feed_staleness` reads the heartbeat on each consent-based
  // check only when this is true. True by default, so that a store which
  // overrides `FeedHeartbeat` is always read; a store whose listeners
  // cannot fall behind returns false (the in-memory store does), and its
  // Guards' checks save the read and the clock.
  virtual bool ReportsFeedHeartbeat() const { return true; }

 protected:
  // For a store that keeps its heartbeat in one word: `*word` always holds
  // `absl::ToUnixNanos(FeedHeartbeat())`, or 0 while `FeedHeartbeat()` is
  // `absl::InfiniteFuture()` (no feed started). A Guard then reads the
  // word on each check instead of calling `FeedHeartbeat`; the answer is
  // the same. Call before the store is handed to a Guard; `word` lives as
  // long as the store.
  void SetFeedHeartbeatWord(const std::atomic<std::int64_t>* word) {
    feed_heartbeat_word_ = word;
  }

 private:
  friend const std::atomic<std::int64_t>* internal::FeedHeartbeatWord(
      const ConsentStore& store);
  const std::atomic<std::int64_t>* feed_heartbeat_word_ = nullptr;
};

namespace internal {
inline const std::atomic<std::int64_t>* FeedHeartbeatWord(
    const ConsentStore& store) {
  return store.feed_heartbeat_word_;
}
}  // namespace internal

// Limits `ValidateConsentChange` enforces on a change's strings, in bytes.
// Every string must also be valid UTF-8 (a proto3 `string` that is not does
// not parse back, so one stored would make the subject's record unreadable),
// and ids (subject, purpose, occasion, suspended purpose) must not contain
// NUL (PostgreSQL's `text` cannot hold it).
inline constexpr std::size_t kMaxSubjectIdBytes = 1024;
// `purpose`, `occasion_id`, each of `suspended_purposes`.
inline constexpr std::size_t kMaxPurposeIdBytes = 256;
// `actor`, `policy_version`, `notice_version`, `evidence_ref`.
inline constexpr std::size_t kMaxConsentTextBytes = 4096;
// Entries of `restrictions.suspended_purposes` (and suspended purposes in
// force after a change).
inline constexpr int kMaxSuspendedPurposes = 256;
// `lift_restriction.reason`.
inline constexpr std::size_t kMaxLiftReasonBytes = 1024;

// Checks that `change` is well formed before any store writes it: a subject
// id, a change set, for a purpose consent a purpose id and a state, and
// every string field within the limits above. Every store's `Apply` calls
// it first. Errors: `kInvalidArgument` naming the field (and the subject,
// when that is printable).
CONSENTRY_EXPORT absl::Status ValidateConsentChange(
    const v1::ConsentChange& change);

// Fills `pc.policy_version` and `pc.notice_version` with the version of
// `policy` and of the notice published with it (`v1::Policy.notice_version`)
// where they are empty: the versions the person saw when deciding. Call it
// before `Apply` when recording a decision made under `policy`; values
// already set (an older notice the person saw) are kept.
CONSENTRY_EXPORT void SetVersionsSeen(const CompiledPolicy& policy,
                                      v1::PurposeConsent& pc);

// Folds `change` into `record`, the subject's current record (the merge
// every store performs inside its write transaction): the entry for
// (purpose, occasion) is replaced; a `restrictions` change adds the
// restrictions not yet in force, each as an entry (time `now` and the
// change's actor unless the change's entry says otherwise); a
// `lift_restriction` removes the one it names. The flattened summary is
// rewritten from the entries. Sets `record.revision` to `revision` and
// `update_time` to `now`.
// Errors (then `record` is unchanged): `kFailedPrecondition` when a
// `restrictions` change leaves out a restriction in force (naming the
// subject and the restriction); `kNotFound` when a lift names a restriction
// not in force; `kInvalidArgument` when more than `kMaxSuspendedPurposes`
// purposes would be suspended.
// REQUIRES: `ValidateConsentChange(change).ok()`.
CONSENTRY_EXPORT absl::Status MergeConsentChange(
    const v1::ConsentChange& change, Revision revision, absl::Time now,
    v1::ConsentRecord& record);

// The restrictions `restrictions` puts in force, one entry per (kind,
// purpose): its entries, then each restriction of its flattened summary
// that has none (request id unknown: a record stored before entries).
CONSENTRY_EXPORT std::vector<v1::RestrictionEntry> RestrictionsInForce(
    const v1::Restrictions& restrictions);

// A restriction as errors and tools name it: 'erased', 'suspend_all',
// 'suspended purpose P', 'third_party_provision_stopped'.
CONSENTRY_EXPORT std::string RestrictionDisplayName(v1::RestrictionKind kind,
                                                    absl::string_view purpose);

// The stand-in a store's `ChangesSince` (and so its change feed) returns
// for a subject whose stored record cannot be read (bytes that do not parse,
// or a row whose record names another subject or revision): `subject_id`
// and `revision` from the row, and `data_loss` saying what is wrong (file or
// server, subject). It carries no consent. A Guard quarantines the subject:
// every check for it denies with `Reason::kConsentDataLoss` until a record
// with a higher revision replaces it. One bad row thus never stalls the feed
// for the other subjects.
CONSENTRY_EXPORT v1::ConsentRecord UnreadableConsentRecord(
    absl::string_view subject_id, Revision revision, absl::string_view detail);

// A consent store in process memory, for tests and single-process tools.
// Thread-safe. Readers (`Get`) do not wait for listeners to run.
class CONSENTRY_EXPORT InMemoryConsentStore final : public ConsentStore {
 public:
  InMemoryConsentStore();
  ~InMemoryConsentStore() override;

  absl::StatusOr<v1::ConsentRecord> Get(absl::string_view subject_id) override;
  absl::StatusOr<Revision> Apply(const v1::ConsentChange& change) override;
  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSince(
      Revision after, int limit) override;
  absl::StatusOr<Revision> LatestRevision() override;
  std::unique_ptr<Subscription> Watch(ConsentListener listener) override;
  absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> History(
      absl::string_view subject_id) override;
  // Listeners run on the writer's thread: the feed cannot fall behind, and
  // `FeedHeartbeat` is always `absl::InfiniteFuture()`.
  bool ReportsFeedHeartbeat() const override { return false; }

  // For tests: makes every call fail with `kUnavailable` while true.
  void SetUnavailableForTesting(bool unavailable);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace consentry

#endif  // CONSENTRY_CONSENT_H_
