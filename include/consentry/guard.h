// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: guard.h
// -----------------------------------------------------------------------------
//
// The `Guard` is the enforcement point. It holds a compiled policy, a cache
// of every subject's consent state (kept fresh by watching the consent
// store; or, with `GuardOptions::cache_budget_bytes`, of the subjects
// checked recently, within that memory budget) and an audit sink, and
// answers one question, on the caller's thread and without taking a lock
// on a cached subject: may this accessor use this subject's data of this
// category for this purpose?
//
//   * `Check` returns a `Decision` value: allow or deny with a `Reason` and
//     the consent revision used. A deny is not an error.
//   * `Authorize` turns an allowing decision about a tagged record into an
//     `AccessGrant`, the only key that opens a `Protected<T>` (protected.h).
//     A denial becomes `kPermissionDenied` / `kFailedPrecondition`. Only
//     `Authorize` and `Evaluate` use up a single-use occasion consent;
//     `Check` denies on one (`kSingleUseRequiresAuthorize`).
//   * Every decision is handed to the audit sink, allowed or denied.
//
// Names are resolved once: `Context` turns (accessor, purpose) into an
// `AccessContext`, `Category` a category id into a `CategoryRef`, and `Tag`
// a record's subject, category and purposes-at-collection into
// `RecordTags`. Each fails with `kNotFound` for an unknown id. Where data
// is collected, `Acquire` tags it after checking the prior consent that
// special-care data needs (APPI Art. 20(2)).
//
// Example:
//
//   auto guard = consentry::Guard::Create(policy, &store, &audit);
//   if (!guard.ok()) return guard.status();
//   absl::StatusOr<consentry::AccessContext> billing =
//       (*guard)->Context("billing-service", "billing.calculation");
//   absl::StatusOr<consentry::CategoryRef> usage =
//       (*guard)->Category("billing");
//   if (!billing.ok()) return billing.status();
//   if (!usage.ok()) return usage.status();
//   absl::StatusOr<consentry::Decision> d =
//       (*guard)->Check(*billing, "subscriber-17", *usage);
//   if (!d.ok()) return d.status();  // store outage: fail closed
//   if (!d->allowed()) {
//     // skip this subscriber; the reason is d->reason()
//   }
//   // Many checks of one subscriber: resolve the id once.
//   const consentry::SubjectRef s17 = (*guard)->Subject("subscriber-17");
//   d = (*guard)->Check(*billing, s17, *usage);
//   if (!d.ok()) return d.status();

#ifndef CONSENTRY_GUARD_H_
#define CONSENTRY_GUARD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/decision.h"
#include "consentry/export.h"
#include "consentry/options.h"
#include "consentry/policy.h"
#include "consentry/purpose.h"

namespace consentry {

class AccessGrant;
class Guard;
template <typename T>
class Protected;

namespace internal {
class GrantMinter;

// Names one tagged record (`RecordTags`): unique in the process, the same
// in every copy of the tags and in the grants minted for them; 0 names no
// record. Moving one leaves the source naming none.
class RecordId {
 public:
  RecordId() = default;
  explicit RecordId(std::uint64_t value) : value_(value) {}
  RecordId(const RecordId&) = default;
  RecordId& operator=(const RecordId&) = default;
  RecordId(RecordId&& other) noexcept : value_(other.value_) {
    other.value_ = 0;
  }
  RecordId& operator=(RecordId&& other) noexcept {
    const std::uint64_t v = other.value_;
    other.value_ = 0;
    value_ = v;
    return *this;
  }
  std::uint64_t value() const { return value_; }

 private:
  std::uint64_t value_ = 0;
};

// A tagged record's subject id as the Guard's consent cache keys it (as a
// `SubjectRef` does, without a ref word), fixed by `Guard::Tag`: its hash, the
// slot the cache held it in then (a hint only: every use verifies that the
// slot holds this very id, and otherwise looks the id up as usual) and,
// for an id of at most 16 bytes, its bytes zero-padded to 16.
struct SubjectKey {
  std::uint64_t hash_ = 0;
  // The id's length, or ~0 for an id longer than 16 bytes.
  std::uint32_t size_ = ~std::uint32_t{0};
  std::uint32_t slot_ = ~std::uint32_t{0};
  char inline_[16] = {};
  const char* padded() const { return size_ <= 16 ? inline_ : nullptr; }
  std::uint64_t hash() const { return hash_; }
};
}  // namespace internal

// Who reads, and for what: a registered accessor declaring one purpose
// (and, for a per-occasion purpose, the occasion). Created by
// `Guard::Context`. Immutable value; safe to share and copy.
class CONSENTRY_EXPORT AccessContext {
 public:
  absl::string_view accessor() const { return policy_->accessor_id(accessor_); }
  absl::string_view purpose() const { return policy_->purpose_id(purpose_); }
  absl::string_view occasion_id() const { return occasion_id_; }

 private:
  friend class Guard;
  AccessContext(std::shared_ptr<const CompiledPolicy> policy,
                AccessorIndex accessor, PurposeIndex purpose, bool declarable,
                std::string occasion_id)
      : policy_(std::move(policy)),
        accessor_(accessor),
        purpose_(purpose),
        declarable_(declarable),
        occasion_id_(std::move(occasion_id)) {}

  std::shared_ptr<const CompiledPolicy> policy_;
  AccessorIndex accessor_;
  PurposeIndex purpose_;
  // Whether `policy_` lets the accessor declare the purpose (fixed with
  // the policy; a check still tests it, against the policy it enforces).
  bool declarable_;
  std::string occasion_id_;
};

// A data category resolved against a policy. Created by `Guard::Category`.
// Immutable value; safe to share and copy.
class CONSENTRY_EXPORT CategoryRef {
 public:
  absl::string_view id() const { return policy_->category_id(index_); }

 private:
  friend class Guard;
  CategoryRef(std::shared_ptr<const CompiledPolicy> policy, CategoryIndex c)
      : policy_(std::move(policy)), index_(c) {}

  std::shared_ptr<const CompiledPolicy> policy_;
  CategoryIndex index_;
};

// A subject id resolved once for many checks, so that a check of that
// subject skips hashing and probing. Created by `Guard::Subject`; for loops
// that check one subject many times (every category of a record, every
// purpose of a batch job) and for callers that keep a ref beside each
// subject's data.
// For an id of up to 16 bytes that the Guard's consent cache holds, the
// cache keeps a copy of the subject's consent state for refs (8 bytes a
// subject, from the first ref resolved for it), and a check by ref reads
// that copy; else the ref keeps the slot where the cache held the id, as a
// hint each check verifies against the id. Either way a ref names one
// cache: with another (another Guard, a new cache after a policy switch),
// or after an eviction, a check looks the subject up as usual, so a ref
// stays correct in every case.
// 32 bytes, one cache line: an id of up to 16 bytes is kept inline, a
// longer one in an owned heap copy. Immutable value; safe to share and
// copy.
class CONSENTRY_EXPORT SubjectRef {
 public:
  SubjectRef(const SubjectRef& other);
  SubjectRef& operator=(const SubjectRef& other);
  SubjectRef(SubjectRef&& other) noexcept;
  SubjectRef& operator=(SubjectRef&& other) noexcept;
  ~SubjectRef();

  absl::string_view id() const {
    return tag_ != kLong ? absl::string_view(inline_, tag_ >> 16)
                         : absl::string_view(*long_.id);
  }

 private:
  friend class Guard;
  // Ids of at most this many bytes are held inline, zero-padded (as the
  // consent cache's slots hold them, so a check compares two words).
  static constexpr std::uint32_t kInline = 16;
  // `tag_` of an id held in `long_`.
  static constexpr std::uint32_t kLong = ~std::uint32_t{0};
  // No slot hint.
  static constexpr std::uint32_t kNoSlot = ~std::uint32_t{0};
  SubjectRef(absl::string_view id, std::uint64_t hash, std::size_t slot,
             std::uint64_t ref);
  void ClearMovedFrom();
  // The id's hash in the consent cache (worked out again for an inline
  // id: only a check that cannot use `ref_` needs it).
  std::uint64_t hash() const;
  // The id's bytes zero-padded to `kInline`, or null for a longer id.
  const char* padded() const { return tag_ != kLong ? inline_ : nullptr; }

  // A longer id: an owned copy, and its hash in the consent cache.
  struct LongId {
    std::string* id;
    std::uint64_t hash;
  };

  // Aligned to 32 bytes, so that a ref never straddles two cache lines.
  // The id's ref word in the consent cache that resolved it (which of the
  // cache's copies of a subject's state is this subject's, and which cache
  // that is); 0 when it has none.
  alignas(32) std::uint64_t ref_;
  // For an id of at most `kInline` bytes, its length in bits 16-23 and the
  // low 16 bits of its hash below: what the consent cache's slot keeps of
  // it, so that a check compares it as it is. `kLong` for a longer id.
  std::uint32_t tag_;
  std::uint32_t slot_;
  union {
    char inline_[kInline];
    LongId long_;
  };
};

// The tags fixed on a personal record when it is collected: its subject, its
// data category, the purposes it was collected for and, optionally, purposes
// it must never serve. An access purpose complies when it is an allowed
// purpose or a descendant of one, and is neither a prohibited purpose nor an
// ancestor or descendant of one (purpose-based access control, Byun & Li).
//
// Per-occasion purposes (outside the catalogue, APPI Art. 18(1)) arise after
// collection by definition, so a record cannot name them when it is tagged.
// A per-occasion purpose therefore complies with every record that does not
// prohibit it; what makes the read lawful is the person's consent for that
// occasion, which the Guard always requires for such a purpose (the policy
// gives per-occasion purposes no basis but opt-in), together with the
// policy allowing the category for the purpose. When the Guard enforces a
// policy other than the one the tags were resolved against, the purpose must
// be per-occasion under both.
// Created by `Guard::Tag` (or `Guard::Acquire`), each call a new record:
// its copies are the same record (a grant minted for one opens all of
// them), tags from another call are not, even when they are equal.
// Immutable value; safe to share and copy.
class CONSENTRY_EXPORT RecordTags {
 public:
  const std::string& subject() const { return subject_; }
  absl::string_view category() const { return policy_->category_id(category_); }
  const std::string& record_ref() const { return record_ref_; }
  // When the record was collected (retention runs from here).
  absl::Time collected_at() const { return collected_at_; }
  // The policy the tags were resolved against, and the purposes that comply
  // (collected-for purposes and their descendants), in its indices.
  const CompiledPolicy& policy() const { return *policy_; }
  PurposeSet allowed_purposes() const { return allowed_; }
  PurposeSet prohibited_purposes() const { return prohibited_; }
  // True when `purpose` complies with the collection purposes (or is a
  // per-occasion purpose the record does not prohibit). Unknown ids do not
  // comply.
  bool Complies(absl::string_view purpose) const;
  // The reason a read for `purpose` fails the tags, or `kUnspecified` when
  // it complies.
  Reason TagReason(absl::string_view purpose) const;

 private:
  friend class Guard;
  friend class AccessGrant;
  friend class internal::GrantMinter;
  template <typename T>
  friend class Protected;

  // REQUIRES: `p` is an index of `policy()`.
  Reason TagReasonIndex(PurposeIndex p) const {
    if (prohibited_.Contains(p)) return Reason::kProhibitedPurpose;
    if (!allowed_.Contains(p) && !policy_->per_occasion().Contains(p)) {
      return Reason::kNotCollectedForPurpose;
    }
    return Reason::kUnspecified;
  }
  // `TagReasonIndex` for purpose `p` of `enforcing`, a policy other than
  // `policy()`: matched by id, and per-occasion only when it is so under
  // both policies.
  Reason TagReasonUnder(const CompiledPolicy& enforcing, PurposeIndex p) const;
  // The reason for purpose `p` of `enforcing`, whether or not it is
  // `policy()`.
  Reason TagReasonFor(const CompiledPolicy& enforcing, PurposeIndex p) const {
    return &enforcing == policy_.get() ? TagReasonIndex(p)
                                       : TagReasonUnder(enforcing, p);
  }

  // `collected_at_ns_` of a collection time `t` beyond +-2^62 ns of the
  // epoch (146 years), which retention tests as an `absl::Time`.
  static constexpr std::int64_t kCollectedOutOfRange = INT64_MIN;

  std::shared_ptr<const CompiledPolicy> policy_;
  std::string subject_;
  std::string record_ref_;
  absl::Time collected_at_;
  // `collected_at_` in Unix nanoseconds, rounded down (as
  // `absl::ToUnixNanos`), or `kCollectedOutOfRange`.
  std::int64_t collected_at_ns_ = kCollectedOutOfRange;
  // `subject_` as the consent cache keys it.
  internal::SubjectKey subject_key_;
  internal::RecordId id_;
  CategoryIndex category_ = 0;
  // Closed under the hierarchy: allowed purposes and their descendants;
  // prohibited purposes with their ancestors and descendants.
  PurposeSet allowed_;
  PurposeSet prohibited_;
  // The purposes `p` of `policy()` for which `TagReasonIndex(p)` is
  // `kUnspecified` (allowed or per occasion, and not prohibited), fixed by
  // `Guard::Tag`.
  PurposeSet complies_;
};

// Proof that the Guard allowed one read: one record, one purpose. The only
// way to open a `Protected<T>`: it opens the record it was minted for (the
// `RecordTags` passed to `Guard::Authorize` and every copy of them, such as
// a copied `Protected<T>` or a value `Derive`d from it) and no other, not
// even a record of the same subject tagged alike. A moved-from grant opens
// nothing. Move-only; no public constructor, minted only by
// `Guard::Authorize` and `Guard::Evaluate`. Owns no memory: it names its
// record by a process-unique id, so it may outlive the record and never
// opens a record tagged later. Thread-compatible.
// REQUIRES: does not outlive the Guard that minted it.
class CONSENTRY_EXPORT AccessGrant {
 public:
  AccessGrant(AccessGrant&&) noexcept = default;
  AccessGrant& operator=(AccessGrant&&) noexcept = default;
  AccessGrant(const AccessGrant&) = delete;
  AccessGrant& operator=(const AccessGrant&) = delete;

  absl::string_view category() const { return policy_->category_id(category_); }
  absl::string_view purpose() const { return policy_->purpose_id(purpose_); }
  const Decision& decision() const { return decision_; }

 private:
  friend class internal::GrantMinter;
  AccessGrant(const CompiledPolicy* policy, internal::RecordId record,
              CategoryIndex category, PurposeIndex purpose, Decision decision)
      : policy_(policy),
        record_(record),
        category_(category),
        purpose_(purpose),
        decision_(decision) {}

  // Whether this grant opens a record with `tags`: the record it was minted
  // for, of the same category, and a purpose that complies with the
  // collection purposes (skipped for a shadow-mode grant, which lets a
  // denied read through).
  absl::Status Opens(const RecordTags& tags) const;
  // `Opens` beyond its common case (another record or policy, a shadow
  // grant, a refusal).
  absl::Status OpensOtherwise(const RecordTags& tags) const;
  // The refusal for tags of another record.
  absl::Status NotMintedFor(const RecordTags& tags) const;
  template <typename T>
  friend class Protected;

  const CompiledPolicy* policy_;
  internal::RecordId record_;
  CategoryIndex category_;
  PurposeIndex purpose_;
  Decision decision_;
};

// Proof that the Guard decided a batch of records for one purpose, with
// one decision per record: opens record `i` (the very `RecordTags` object
// decided) when decision `i` lets the read proceed. Move-only; minted only
// by `Guard::AuthorizeBatch`. Thread-compatible.
// REQUIRES: the records decided outlive it.
class CONSENTRY_EXPORT BatchGrant {
 public:
  BatchGrant(BatchGrant&&) noexcept = default;
  BatchGrant& operator=(BatchGrant&&) noexcept = default;
  BatchGrant(const BatchGrant&) = delete;
  BatchGrant& operator=(const BatchGrant&) = delete;

  // One decision per record, in input order.
  const std::vector<Decision>& decisions() const { return decisions_; }
  std::vector<Decision> TakeDecisions() && { return std::move(decisions_); }

 private:
  friend class internal::GrantMinter;
  BatchGrant(std::vector<Decision> decisions,
             std::vector<const RecordTags*> records)
      : decisions_(std::move(decisions)), records_(std::move(records)) {}

  // Whether this grant opens `tags` as record `index` of the batch.
  absl::Status Opens(const RecordTags& tags, std::size_t index) const;
  template <typename T>
  friend class Protected;

  std::vector<Decision> decisions_;
  std::vector<const RecordTags*> records_;
};

// Counts of denials recorded in shadow mode, per (accessor, purpose,
// category, reason).
struct ShadowDenialCount {
  std::string accessor;
  std::string purpose;
  std::string category;
  Reason reason;
  std::int64_t count;
};

// A subject whose stored consent record cannot be read; see
// `Guard::QuarantinedSubjects`.
struct QuarantinedSubject {
  std::string subject_id;
  // The revision of the unreadable record (0 when only a read saw it).
  Revision revision;
  // What is wrong, naming the store (file or server) and subject.
  std::string detail;
};

// What the consent cache did; see `Guard::cache_stats`. With a budget
// (`GuardOptions::cache_budget_bytes`) only; otherwise every count is 0.
struct GuardCacheStats {
  bool bounded = false;
  // Subjects cached now (negative entries included).
  std::size_t cached_subjects = 0;
  // Checks answered from the cache; of them, on a negative entry (a
  // subject the store did not know). Since the last policy switch.
  std::uint64_t hits = 0;
  std::uint64_t negative_hits = 0;
  // Subjects evicted to stay within the budget, since the last policy
  // switch.
  std::uint64_t evictions = 0;
  // Checks that missed (not cached, older than `min_revision`, or a
  // consent expired), store reads they made (single-flight: one per
  // subject at a time), reads whose result was not cached because a feed
  // event or an eviction in the subject's shard raced them (then read
  // again), and misses denied because `max_store_reads_in_flight` reads
  // were busy for `store_read_wait`.
  std::uint64_t misses = 0;
  std::uint64_t store_reads = 0;
  std::uint64_t refill_races = 0;
  std::uint64_t reads_rejected = 0;
};

// The enforcement point. Thread-safe: every method may be called
// concurrently; checks take no lock. Does not own the store or the sink.
class CONSENTRY_EXPORT Guard {
 public:
  // Creates a Guard enforcing `policy`, reading consent from `store`, and
  // auditing every decision to `audit`. `store` and `audit` must outlive
  // the Guard. A null `audit` is accepted only with
  // `options.unaudited_for_benchmarks_only` (no decision is then audited).
  //
  // Errors: `kInvalidArgument` when `policy` or `store` is null, or `audit`
  // is null without `unaudited_for_benchmarks_only`.
  static absl::StatusOr<std::unique_ptr<Guard>> Create(
      std::shared_ptr<const CompiledPolicy> policy, ConsentStore* store,
      AuditSink* audit, GuardOptions options = {});

  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
  ~Guard();

  // Resolves an accessor and the purpose it declares. `occasion_id` names
  // the occasion for a per-occasion purpose.
  //
  // Errors: `kNotFound` for an unknown accessor or purpose;
  // `kInvalidArgument` for a per-occasion purpose without an occasion id.
  // An accessor that may not declare the purpose gets a context all the
  // same: every check with it is denied with `kAccessorNotPermitted` and
  // audited, so the attempt is on record.
  absl::StatusOr<AccessContext> Context(
      absl::string_view accessor, absl::string_view purpose,
      absl::string_view occasion_id = "") const;

  // Resolves a data category. Errors: `kNotFound` for an unknown category.
  absl::StatusOr<CategoryRef> Category(absl::string_view category) const;

  // Tags a record at collection. `collected_at` defaults to now (the
  // Guard's clock); pass the original time when tagging a stored record, so
  // that retention runs from collection. Errors: `kNotFound` for an unknown
  // category or purpose; `kInvalidArgument` for an empty subject id or an
  // empty allowed-purpose list.
  absl::StatusOr<RecordTags> Tag(
      absl::string_view subject, absl::string_view category,
      absl::Span<const absl::string_view> collected_for,
      absl::Span<const absl::string_view> prohibited = {},
      absl::string_view record_ref = "",
      absl::optional<absl::Time> collected_at = absl::nullopt) const;

  // Acquires a record at collection: tags it as `Tag` does and, for a
  // category whose policy names an `acquisition_purpose` (special-care
  // data, APPI Art. 20(2): `measurement` in the default policy), first
  // requires the subject's prior consent to that purpose, separate from
  // consent to any use. The decision is audited, allowed or denied, as an
  // event with action `kAcquire`, the acquisition purpose as its purpose
  // and `accessor` (who collects) as its accessor. For any other category
  // it is `Tag`: no consent look-up, no event. Call it where data is
  // collected; `Tag` labels records already held (acquisition consent
  // withdrawn later stops further acquisition, not the use of records
  // already held, which their own use rules govern).
  //
  // The consent counts when the subject's record holds it given (not
  // refused, withdrawn or expired) for the purpose or a parent of it.
  // Re-consent requirements do not apply to it.
  //
  // Errors: those of `Tag` (`kInvalidArgument` for an empty subject id or
  // no purpose, `kNotFound` for an unknown category or purpose), and
  // `kNotFound` for an unknown accessor; `kFailedPrecondition` with reason
  // `kNoAcquisitionConsent` (the message naming the subject) when the
  // consent is missing, refused, withdrawn or expired, or the subject has
  // no consent record at all; `kPermissionDenied` with `kSubjectErased`
  // for an erased subject; `kUnavailable` on a store or audit outage, or a
  // stale feed (`kConsentStale`); `kDataLoss` when the subject's stored
  // record cannot be read. In shadow mode a denial is audited as a shadow
  // denial and the tags are returned.
  absl::StatusOr<RecordTags> Acquire(
      absl::string_view accessor, absl::string_view subject,
      absl::string_view category,
      absl::Span<const absl::string_view> collected_for,
      absl::Span<const absl::string_view> prohibited = {},
      absl::string_view record_ref = "");

  // Decides whether `ctx` may use `subject`'s data of `category`, and
  // audits the decision. Never blocks on the store when the subject's
  // consent is cached. Where the policy restricts the category or the
  // purpose to some subject kinds (policy.h), a subject of another kind is
  // denied with `kSubjectKindNotAllowed`, and one whose kind is not
  // recorded (or who has no record) with `kSubjectKindUnknown`. With
  // `min_revision` (typically the revision a withdrawal returned, passed along
  // by the service that recorded it), never decides on consent state older than
  // that store revision: when the cached state of the subject predates it, the
  // subject is read from the store first.
  //
  // Single-use (one-time) occasion consent: `Check` never uses one up, so it
  // never allows on one either: it denies with `kSingleUseRequiresAuthorize`
  // and leaves the consent unused (as do `AuthorizeBatch`, `DecideBatch`
  // and per-category checks). Read such data through `Authorize` or
  // `Evaluate`, which use the consent up atomically (of concurrent callers,
  // one wins) and deny every later use with `kOccasionConsentUsed`. A
  // reusable occasion consent allows through `Check` as usual.
  //
  // Errors (the read is denied, and audited as such): `kUnavailable` when
  // the subject is not cached (or the cache is behind `min_revision`) and
  // the store cannot be reached, or answers with a record for another
  // subject, or (with a cache budget) `max_store_reads_in_flight` reads
  // stayed busy for `store_read_wait`; `kDataLoss` (reason `kConsentDataLoss`,
  // the message naming the store and subject) when the subject's stored record
  // cannot be read: the subject is quarantined (`QuarantinedSubjects`) while
  // every other subject is checked as usual.
  absl::StatusOr<Decision> Check(const AccessContext& ctx,
                                 absl::string_view subject,
                                 const CategoryRef& category,
                                 Revision min_revision = 0);

  // As above for a subject resolved by `Subject`: the same decision,
  // without hashing the id again.
  absl::StatusOr<Decision> Check(const AccessContext& ctx,
                                 const SubjectRef& subject,
                                 const CategoryRef& category,
                                 Revision min_revision = 0);

  // Resolves `subject` for repeated checks (see `SubjectRef`). Never
  // fails and never reads the store: a subject not cached yet is looked
  // up by its first check as usual (its ref then checks by slot hint and
  // probing; a ref resolved once the subject is cached reads the cache's
  // copy of its state). The first ref resolved for a cached subject takes
  // the cache's writer lock once, to give it that copy.
  SubjectRef Subject(absl::string_view subject) const;

  // As above for a tagged record: also checks the collection purposes.
  absl::StatusOr<Decision> Check(const AccessContext& ctx,
                                 const RecordTags& record,
                                 Revision min_revision = 0);

  // Checks, audits, and on allow mints a grant for the record, never on
  // consent state older than `min_revision` (see `Check`). An allow on a
  // single-use occasion consent uses it up first (recorded in the store);
  // when the store cannot record the use, the read is denied.
  //
  // Errors: `kFailedPrecondition` for a consent denial (no consent, refused,
  // withdrawn, expired, no occasion consent); `kPermissionDenied` for every
  // other denial; `kUnavailable` on store or audit outage. The status
  // carries the `Reason` (`ReasonFromStatus`). In shadow mode a denial
  // still yields a grant.
  absl::StatusOr<AccessGrant> Authorize(const AccessContext& ctx,
                                        const RecordTags& record,
                                        Revision min_revision = 0);

  template <typename T>
  absl::StatusOr<AccessGrant> Authorize(const AccessContext& ctx,
                                        const Protected<T>& record,
                                        Revision min_revision = 0) {
    return Authorize(ctx, record.tags(), min_revision);
  }

  // The decision and, when it lets the read proceed (allowed, or a
  // shadow-mode denial), the grant. For callers that want the reason of a
  // denial as a value rather than a status. Errors: `kUnavailable` on store
  // or audit outage.
  struct Authorization {
    Decision decision;
    absl::optional<AccessGrant> grant;
  };
  absl::StatusOr<Authorization> Evaluate(const AccessContext& ctx,
                                         const RecordTags& record,
                                         Revision min_revision = 0);

  // Decides for every record of `records` for `ctx` without one audit event
  // per record: one summary event (action `kBatch`) carries how many were
  // included and excluded and why. For aggregate uses such as statistics
  // views, where the batch is the act. `batch_ref` names the batch in the
  // audit event. The grant opens record `i` of `records` (that very
  // `RecordTags` object) when decision `i` lets the read proceed.
  // Errors: `kUnavailable` on store or audit outage; then no decisions are
  // returned (fail closed), and the failure is audited.
  absl::StatusOr<BatchGrant> AuthorizeBatch(
      const AccessContext& ctx, absl::Span<const RecordTags* const> records,
      absl::string_view batch_ref = "");
  // `AuthorizeBatch` for the decisions alone.
  absl::StatusOr<std::vector<Decision>> DecideBatch(
      const AccessContext& ctx, absl::Span<const RecordTags* const> records,
      absl::string_view batch_ref = "");

  // The policy currently enforced.
  std::shared_ptr<const CompiledPolicy> policy() const;

  // Switches to `policy` atomically: each check sees the old or the new
  // policy, never a mix, and checks are not blocked. The consent cache is
  // rebuilt for the new policy before the switch.
  // Errors: `kInvalidArgument` for null; `kUnavailable` when the store
  // cannot be read to rebuild the cache (the old policy stays).
  absl::Status SetPolicy(std::shared_ptr<const CompiledPolicy> policy);

  // Loads every record from the store into the cache, so that first checks
  // do not go to the store. An unreadable record quarantines its subject
  // and does not fail the call. Errors: `kUnavailable`.
  absl::Status WarmCache();

  // True when the store's change feed is older than
  // `GuardOptions::max_feed_staleness`: consent-based purposes then deny
  // with `kConsentStale`.
  bool feed_stale() const;

  // Number of subjects in the consent cache.
  std::size_t cached_subjects() const;

  // Counters of the consent cache (a bounded one; see `GuardCacheStats`).
  // Thread-safe; each count is read on its own, so a snapshot taken while
  // checks run need not add up exactly.
  GuardCacheStats cache_stats() const;

  // Denials let through in shadow mode, most frequent first.
  std::vector<ShadowDenialCount> ShadowReport() const;

  // The subjects whose stored consent record the store reported unreadable
  // (through its change feed, `WarmCache`, `SetPolicy` or a read), by id.
  // Every check for them denies with `kConsentDataLoss`; a readable record
  // of a higher revision (a repaired row, a new write) lifts the entry.
  std::vector<QuarantinedSubject> QuarantinedSubjects() const;

  const GuardOptions& options() const;

  // Internal: the implementation (src/core/guard_impl.h). An incomplete
  // type outside the library's sources; public so that the library's other
  // subsystems reach the Guard through named internal functions, not as
  // friends of this class.
  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  explicit Guard(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace consentry

#endif  // CONSENTRY_GUARD_H_
