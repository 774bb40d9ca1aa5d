// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/guard.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consentry/audit_log.h"
#include "consentry/v1/consent.pb.h"
#include "consentry/v1/policy.pb.h"
#include "src/core/consent_cache.h"
#include "src/core/decision_rules.h"
#include "src/core/grant_minter.h"
#include "src/core/guard_impl.h"
#include "src/core/subject_state.h"
#include "src/util/mutex.h"
#include "src/util/read_section.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace internal {
namespace {

struct OccasionConsent {
  std::string purpose;
  std::string occasion;
  v1::ConsentState state;
  std::int64_t expiry_ns;
  int version_ordinal;
  bool single_use;
  bool used;
};

struct OccasionMatch {
  Reason reason = Reason::kNoOccasionConsent;
  bool single_use = false;
  std::string purpose;  // the consent entry's purpose id
};

std::int64_t ToNanos(const google::protobuf::Timestamp& t) {
  return TimestampToNanos(t.seconds(), t.nanos());
}

// The per-occasion consents of `record`, resolved against `policy`.
std::vector<OccasionConsent> OccasionsOf(const CompiledPolicy& policy,
                                         const v1::ConsentRecord& record) {
  std::vector<OccasionConsent> occ;
  for (const v1::PurposeConsent& pc : record.purposes()) {
    if (pc.occasion_id().empty()) continue;
    occ.push_back(
        OccasionConsent{pc.purpose(), pc.occasion_id(), pc.state(),
                        pc.has_expiry() ? ToNanos(pc.expiry()) : kNoExpiry,
                        policy.VersionOrdinal(pc.policy_version()),
                        pc.single_use(), pc.has_used_time()});
  }
  return occ;
}

// The best of `consents` for `occasion` covering a purpose in
// `purpose_and_up` (see `Epoch::MatchOccasion`).
OccasionMatch MatchOccasionIn(const CompiledPolicy& policy,
                              const std::vector<OccasionConsent>& consents,
                              PurposeSet purpose_and_up,
                              absl::string_view occasion, int min_ordinal,
                              std::int64_t now_ns) {
  OccasionMatch best;
  for (const OccasionConsent& oc : consents) {
    if (oc.occasion != occasion) continue;
    absl::StatusOr<PurposeIndex> p = policy.FindPurpose(oc.purpose);
    if (!p.ok() || !purpose_and_up.Contains(*p)) continue;
    switch (oc.state) {
      case v1::CONSENT_STATE_WITHDRAWN:
        return OccasionMatch{Reason::kConsentWithdrawn, false, oc.purpose};
      case v1::CONSENT_STATE_REFUSED:
        return OccasionMatch{Reason::kConsentRefused, false, oc.purpose};
      case v1::CONSENT_STATE_EXPIRED:
        best = OccasionMatch{Reason::kConsentExpired, false, oc.purpose};
        break;
      case v1::CONSENT_STATE_GIVEN:
        if (oc.expiry_ns <= now_ns) {
          best = OccasionMatch{Reason::kConsentExpired, false, oc.purpose};
        } else if (oc.used) {
          best = OccasionMatch{Reason::kOccasionConsentUsed, false, oc.purpose};
        } else if (oc.version_ordinal < min_ordinal) {
          best = OccasionMatch{Reason::kConsentPredatesMaterialChange, false,
                               oc.purpose};
        } else if (best.reason == Reason::kNoOccasionConsent ||
                   (best.reason == Reason::kAllowedOccasionConsent &&
                    best.single_use && !oc.single_use)) {
          // A reusable consent is preferred to a one-time one.
          best = OccasionMatch{Reason::kAllowedOccasionConsent, oc.single_use,
                               oc.purpose};
        }
        break;
      default:
        break;
    }
  }
  return best;
}

}  // namespace

// What a warm check (`Guard::Impl::TryWarm`) needs of one (category,
// purpose) pair of a policy that does not depend on the subject: the
// inputs of the decision rules, precompiled once per policy.
struct WarmEntry {
  // `kNotAllowedByPolicy` when the policy does not let the purpose use
  // the category (the read rules decide without the subject); else
  // `kUnspecified`.
  Reason read_reason = Reason::kNotAllowedByPolicy;
  Basis basis = Basis::kNotAllowed;
  SubjectKindMask kinds_denied = 0;
  // `CompiledPolicy::min_consent_ordinal` when the policy has re-consent
  // requirements, else 0 (as the general decider reads it).
  std::uint8_t min_consent_ordinal = 0;
  bool specific_consent = false;
  // A per-occasion purpose: decided by the general decider.
  bool general_only = false;
  // How long a record of the category may be read for the purpose
  // (`CompiledPolicy::retention`; infinite when the category has none).
  absl::Duration retention = absl::InfiniteDuration();
  // How a warm `Authorize` tests `retention`: not at all (infinite), in
  // integer nanoseconds (`retention_ns`: a whole number of nanoseconds
  // within +-2^62, for a record whose collection time is within +-2^62 ns
  // of the epoch; exactly the `absl::Time` test then, see `TryWarmTagged`),
  // or as `absl::Time`.
  enum class RetentionTest : std::uint8_t { kNone, kNanos, kTime };
  RetentionTest retention_test = RetentionTest::kNone;
  std::int64_t retention_ns = 0;
  // The subject rules above as a table over a profile's summary
  // (`internal::ProfileSummary`), for the summaries it decides.
  internal::SummaryRule summary_rule;
};
// A power of two, so that locating an entry is a shift.
static_assert(sizeof(WarmEntry) == 64);

// The warm entries of `policy`, by `category * kMaxPurposes + purpose`.
inline std::unique_ptr<WarmEntry[]> CompileWarmEntries(
    const CompiledPolicy& policy) {
  auto out = std::make_unique<WarmEntry[]>(
      static_cast<std::size_t>(policy.category_count()) * kMaxPurposes);
  for (int c = 0; c < policy.category_count(); ++c) {
    const auto category = static_cast<CategoryIndex>(c);
    for (int p = 0; p < policy.purpose_count(); ++p) {
      const auto purpose = static_cast<PurposeIndex>(p);
      WarmEntry& e = out[static_cast<std::size_t>(c) * kMaxPurposes +
                         static_cast<std::size_t>(p)];
      e.basis = policy.basis(category, purpose);
      e.read_reason = e.basis == Basis::kNotAllowed
                          ? Reason::kNotAllowedByPolicy
                          : Reason::kUnspecified;
      e.kinds_denied = policy.kinds_denied(category, purpose);
      e.min_consent_ordinal =
          policy.has_reconsent()
              ? static_cast<std::uint8_t>(
                    policy.min_consent_ordinal(category, purpose))
              : 0;
      e.specific_consent = policy.requires_specific_consent(category);
      e.general_only = policy.per_occasion().Contains(purpose);
      if (policy.has_retention(category)) {
        e.retention = policy.retention(category, purpose);
      }
      if (e.retention != absl::InfiniteDuration()) {
        constexpr std::int64_t kBound = std::int64_t{1} << 62;
        const std::int64_t ns = absl::ToInt64Nanoseconds(e.retention);
        const bool whole_nanos = e.retention > absl::Nanoseconds(-kBound) &&
                                 e.retention < absl::Nanoseconds(kBound) &&
                                 e.retention == absl::Nanoseconds(ns);
        e.retention_test = whole_nanos ? WarmEntry::RetentionTest::kNanos
                                       : WarmEntry::RetentionTest::kTime;
        e.retention_ns = whole_nanos ? ns : 0;
      }
      e.summary_rule =
          internal::MakeSummaryRule(purpose, e.basis, e.kinds_denied,
                                    e.specific_consent, e.min_consent_ordinal);
      // A per-occasion purpose is decided by the general decider: no
      // summary decides it (`kValid` is set in every summary).
      if (e.general_only) {
        e.summary_rule.undecided_mask |= internal::ProfileSummary::kValid;
      }
    }
  }
  return out;
}

// One policy with the consent cache compiled for it. Replaced as a whole on
// a policy switch, so a check never mixes two policies. Checks read it
// inside a `ReadSection`; a retired epoch is freed only after a `Grace`
// over them, however long a check waits on the store.
struct Epoch {
  Epoch(std::shared_ptr<const CompiledPolicy> p, std::size_t expected_subjects,
        std::size_t budget_bytes)
      : policy(std::move(p)),
        warm(CompileWarmEntries(*policy)),
        cache(expected_subjects, ConsentCache::kMaxProfiles, budget_bytes) {
    const std::size_t pairs =
        static_cast<std::size_t>(policy->category_count()) * kMaxPurposes;
    denial_rows.reset(new std::atomic<DenialRow*>[pairs]);
    for (std::size_t i = 0; i < pairs; ++i) {
      denial_rows[i].store(nullptr, std::memory_order_relaxed);
    }
    if (cache.bounded()) {
      marks.reset(new std::atomic<std::uint64_t>[kMarkShards]);
      for (std::size_t i = 0; i < kMarkShards; ++i) {
        marks[i].store(0, std::memory_order_relaxed);
      }
    }
  }

  std::shared_ptr<const CompiledPolicy> policy;
  // `policy`'s warm entries (see `WarmEntry`).
  std::unique_ptr<const WarmEntry[]> warm;
  // The warm entry of (`category`, `purpose`).
  const WarmEntry& WarmAt(CategoryIndex category, PurposeIndex purpose) const {
    return warm[static_cast<std::size_t>(category) * kMaxPurposes + purpose];
  }
  ConsentCache cache;
  // When the sink has a compact path: the slot it keeps `policy` under.
  std::uint32_t audit_policy_slot = 0;
  // Serializes `Apply`: the revision check and every write it guards are
  // one unit.
  Mutex apply_mu;
  Mutex occasions_mu;
  absl::flat_hash_map<std::string, std::vector<OccasionConsent>> occasions
      ABSL_GUARDED_BY(occasions_mu);

  // Bounded cache: per shard of subjects (by hash), a count of the change
  // feed's events and of the evictions in it, bumped under `apply_mu`. A
  // store read that began at mark m is installed only while the mark is
  // still m: no feed event it may have missed, and no eviction that may
  // have dropped a newer state, happened since (docs/design/consent-cache.md).
  static constexpr std::size_t kMarkShards = 4096;
  std::unique_ptr<std::atomic<std::uint64_t>[]> marks;
  static std::size_t MarkShard(std::uint64_t hash) {
    return static_cast<std::size_t>(hash >> 24) & (kMarkShards - 1);
  }

  // The denials `Authorize` returns, built once per (category, purpose,
  // reason) of `policy` and copied after (`DenialStatus` formats a message
  // and attaches a payload: about 1,400 instructions). A row per pair,
  // allocated on its first denial; each published by one compare-and-swap.
  static constexpr std::size_t kDenialReasons = 64;
  using DenialRow =
      std::array<std::atomic<const absl::Status*>, kDenialReasons>;
  std::unique_ptr<std::atomic<DenialRow*>[]> denial_rows;
  ~Epoch() {
    if (denial_rows == nullptr) return;
    const std::size_t n =
        static_cast<std::size_t>(policy->category_count()) * kMaxPurposes;
    for (std::size_t i = 0; i < n; ++i) {
      DenialRow* row = denial_rows[i].load(std::memory_order_relaxed);
      if (row == nullptr) continue;
      for (auto& s : *row) delete s.load(std::memory_order_relaxed);
      delete row;
    }
  }
  // The status `Denial` returns when it has been built already, or null.
  // A pointer into this epoch: valid while the caller's read section
  // lasts.
  ABSL_ATTRIBUTE_ALWAYS_INLINE const absl::Status* BuiltDenial(
      Reason reason, CategoryIndex category, PurposeIndex purpose) const {
    const auto r = static_cast<std::size_t>(reason);
    if (ABSL_PREDICT_FALSE(r >= kDenialReasons)) return nullptr;
    const DenialRow* const row =
        denial_rows[static_cast<std::size_t>(category) * kMaxPurposes + purpose]
            .load(std::memory_order_acquire);
    if (ABSL_PREDICT_FALSE(row == nullptr)) return nullptr;
    return (*row)[r].load(std::memory_order_acquire);
  }
  // `DenialStatus(reason, purpose's id, category's id)`.
  ABSL_ATTRIBUTE_NOINLINE absl::Status Denial(Reason reason,
                                              CategoryIndex category,
                                              PurposeIndex purpose) {
    const auto r = static_cast<std::size_t>(reason);
    if (r >= kDenialReasons) {
      return DenialStatus(reason, policy->purpose_id(purpose),
                          policy->category_id(category));
    }
    std::atomic<DenialRow*>& slot =
        denial_rows[static_cast<std::size_t>(category) * kMaxPurposes +
                    purpose];
    DenialRow* row = slot.load(std::memory_order_acquire);
    if (ABSL_PREDICT_FALSE(row == nullptr)) {
      auto fresh = std::make_unique<DenialRow>();
      for (auto& s : *fresh) s.store(nullptr, std::memory_order_relaxed);
      if (slot.compare_exchange_strong(row, fresh.get(),
                                       std::memory_order_acq_rel)) {
        row = fresh.release();
      }
    }
    const absl::Status* status = (*row)[r].load(std::memory_order_acquire);
    if (ABSL_PREDICT_FALSE(status == nullptr)) {
      auto fresh = std::make_unique<const absl::Status>(DenialStatus(
          reason, policy->purpose_id(purpose), policy->category_id(category)));
      if ((*row)[r].compare_exchange_strong(status, fresh.get(),
                                            std::memory_order_acq_rel)) {
        status = fresh.release();
      }
    }
    return *status;
  }
  // REQUIRES: a bounded cache.
  std::uint64_t Mark(std::uint64_t hash) const {
    return marks[MarkShard(hash)].load(std::memory_order_acquire);
  }
  void BumpLocked(std::uint64_t hash) ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu) {
    marks[MarkShard(hash)].fetch_add(1, std::memory_order_acq_rel);
  }

  // Compiles `record` into this epoch, unless the epoch holds the same or a
  // newer revision of the subject (`replace_same_revision` forces a
  // recompile at an unchanged revision, after a consent expired). The
  // subject's slot and its per-occasion consents are written together,
  // under one revision check: a fill that read the store before a change
  // and applies after it changes nothing. The occasions are written first,
  // so a check that sees the new slot sees them.
  void Apply(const v1::ConsentRecord& record, absl::Time now,
             bool replace_same_revision)
      ABSL_LOCKS_EXCLUDED(apply_mu, occasions_mu) {
    SubjectState s = CompileSubjectState(*policy, record, now);
    std::vector<OccasionConsent> occ;
    if (s.profile.flags & SubjectProfile::kHasOccasionConsent) {
      occ = OccasionsOf(*policy, record);
    }
    MutexLock apply(&apply_mu);
    ApplyLocked(record.subject_id(), s, std::move(occ), replace_same_revision);
  }

  // `Apply` with `apply_mu` held and the state compiled. Bounded: the
  // subjects evicted to make room lose their occasions and bump their
  // shard's mark.
  ConsentCache::UpsertResult ApplyLocked(const std::string& subject,
                                         const SubjectState& s,
                                         std::vector<OccasionConsent> occ,
                                         bool replace_same_revision)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu)
          ABSL_LOCKS_EXCLUDED(occasions_mu) {
    if (!cache.Accepts(subject, s.revision, replace_same_revision)) {
      return ConsentCache::UpsertResult::kStale;
    }
    SetOccasions(subject, std::move(occ));
    std::vector<std::string> evicted;
    const ConsentCache::UpsertResult r =
        cache.Upsert(subject, s, replace_same_revision,
                     cache.bounded() ? &evicted : nullptr);
    if (r == ConsentCache::UpsertResult::kUnstorable) {
      // Uncached: checks read the store and match its occasions.
      SetOccasions(subject, {});
    }
    for (const std::string& gone : evicted) {
      BumpLocked(ConsentCache::Hash(gone));
      SetOccasions(gone, {});
    }
    return r;
  }

  // A change from the store's feed. Unbounded: `Apply`. Bounded: bumps the
  // subject's shard mark and updates the subject only when it is cached; a
  // subject not cached is read from the store by its next check.
  void ApplyFeed(const v1::ConsentRecord& record, absl::Time now)
      ABSL_LOCKS_EXCLUDED(apply_mu, occasions_mu) {
    if (!cache.bounded()) {
      Apply(record, now, false);
      return;
    }
    MutexLock apply(&apply_mu);
    BumpLocked(ConsentCache::Hash(record.subject_id()));
    if (!cache.Holds(record.subject_id())) return;
    SubjectState s = CompileSubjectState(*policy, record, now);
    std::vector<OccasionConsent> occ;
    if (s.profile.flags & SubjectProfile::kHasOccasionConsent) {
      occ = OccasionsOf(*policy, record);
    }
    ApplyLocked(record.subject_id(), s, std::move(occ), false);
  }

  // Bounded: `Apply` of a record read from the store when the subject's
  // shard mark was `mark`; false (nothing written) when the mark moved
  // since: a feed event or an eviction in the shard may have been missed.
  bool Install(const v1::ConsentRecord& record, absl::Time now,
               bool replace_same_revision, std::uint64_t hash,
               std::uint64_t mark) ABSL_LOCKS_EXCLUDED(apply_mu, occasions_mu) {
    SubjectState s = CompileSubjectState(*policy, record, now);
    std::vector<OccasionConsent> occ;
    if (s.profile.flags & SubjectProfile::kHasOccasionConsent) {
      occ = OccasionsOf(*policy, record);
    }
    MutexLock apply(&apply_mu);
    if (Mark(hash) != mark) return false;
    ApplyLocked(record.subject_id(), s, std::move(occ), replace_same_revision);
    return true;
  }

  void SetOccasions(const std::string& subject,
                    std::vector<OccasionConsent> occ)
      ABSL_LOCKS_EXCLUDED(occasions_mu) {
    MutexLock lock(&occasions_mu);
    if (occ.empty()) {
      occasions.erase(subject);
    } else {
      occasions[subject] = std::move(occ);
    }
  }

  // The per-occasion consent of `subject` for `occasion` covering a purpose
  // in `purpose_and_up`. `min_ordinal` is the policy-version ordinal the
  // consent must have been given under (0: any).
  OccasionMatch MatchOccasion(absl::string_view subject,
                              PurposeSet purpose_and_up,
                              absl::string_view occasion, int min_ordinal,
                              std::int64_t now_ns)
      ABSL_LOCKS_EXCLUDED(occasions_mu) {
    ReaderMutexLock lock(&occasions_mu);
    auto it = occasions.find(subject);
    if (it == occasions.end()) return OccasionMatch{};
    return MatchOccasionIn(*policy, it->second, purpose_and_up, occasion,
                           min_ordinal, now_ns);
  }
};

}  // namespace internal

using internal::Epoch;
using internal::SubjectProfile;
using internal::SubjectState;

struct Guard::Impl {
  // A check `TryWarm` hands over to the general decider, which decides it
  // afresh (on the epoch current by then): whether the warm path already
  // looked the subject up, so that a bounded cache does not count the hit
  // (nor set its reference bit) twice.
  struct WarmProbe {
    bool probed = false;
  };
  // What a check is about: a subject and a category (resolved against
  // `category_policy`), optionally with a record's tags.
  struct Target {
    absl::string_view subject;
    const CompiledPolicy* category_policy;
    CategoryIndex category;
    const RecordTags* tags;
    // Authorize uses up a single-use occasion consent; every other
    // decision denies it with kSingleUseRequiresAuthorize.
    bool consume_single_use = false;
    // Batch decisions are audited once for the batch, not per record.
    bool suppress_audit = false;
    // Cached state older than this is refreshed from the store first.
    Revision min_revision = 0;
    // The subject resolved by `Guard::Subject`, when the caller has one.
    const SubjectRef* ref = nullptr;
    // Whether `TryWarm` already probed the subject, when it handed over.
    const WarmProbe* warm = nullptr;

    // The reference of the record read, for its audit event; empty when
    // the read names only a subject.
    absl::string_view record_ref() const {
      return tags != nullptr ? absl::string_view(tags->record_ref())
                             : absl::string_view();
    }
  };
  struct Decider;

  GuardOptions options;
  ConsentStore* store = nullptr;
  AuditSink* audit = nullptr;
  // The sink's compact path for read decisions, when it has one
  // (`AuditSink::compact_path`: an `AuditLog`).
  internal::CompactAuditPath* compact = nullptr;
  // Where `audit` and `compact` wait while auditing is suspended.
  AuditSink* suspended_audit = nullptr;
  internal::CompactAuditPath* suspended_compact = nullptr;
  bool shadow = false;
  bool has_clock = false;
  // Checks may take the warm path (`TryWarm`): not in shadow mode, unless
  // a test forced the general path (`internal::ForceGeneralPath`); with no
  // audit sink (`warm_enabled`), or with a sink that has a compact path
  // (`warm_audited`: the durable log), into which the warm decision is
  // recorded as the general decider records it. Kept current by
  // `UpdateWarm`.
  bool warm_enabled = false;
  bool warm_audited = false;
  bool general_forced = false;
  // `warm_enabled`, and no feed to test or one whose heartbeat is a word
  // (`heartbeat_word`): `Check` tries `TryWarmLean<false>` before it hands
  // over to `CheckRef` or `CheckId`.
  bool lean_enabled = false;
  // `audit` when `warm_audited` and it is an `AuditLog` (then `compact` is
  // its compact path): the warm path writes its common record into the
  // log's queue directly (`internal::TryRecordCheck`).
  AuditLog* compact_log = nullptr;
  void UpdateWarm() {
    warm_enabled = audit == nullptr && !shadow && !general_forced;
    lean_enabled = warm_enabled && (!feed_test || heartbeat_word != nullptr);
    warm_audited =
        audit != nullptr && compact != nullptr && !shadow && !general_forced;
    compact_log = warm_audited ? dynamic_cast<AuditLog*>(audit) : nullptr;
  }

  std::atomic<Epoch*> current{nullptr};

  // Held exclusively to switch policies, shared by the store listener, so
  // that no change falls between a new epoch's snapshot and its publication.
  internal::Mutex switch_mu;
  // The epoch `current` points to.
  std::unique_ptr<Epoch> current_owner ABSL_GUARDED_BY(switch_mu);
  // Replaced epochs, freed once every check that may read them has ended.
  struct RetiredEpoch {
    std::unique_ptr<Epoch> epoch;
    internal::Grace grace;
  };
  std::vector<RetiredEpoch> retired ABSL_GUARDED_BY(switch_mu);
  // Every policy ever enforced, so that grants and contexts made under an
  // earlier one can still be resolved by name.
  std::vector<std::shared_ptr<const CompiledPolicy>> policies
      ABSL_GUARDED_BY(switch_mu);

  internal::Mutex shadow_mu;
  absl::flat_hash_map<std::tuple<std::string, std::string, std::string, Reason>,
                      std::int64_t>
      shadow_counts ABSL_GUARDED_BY(shadow_mu);

  std::unique_ptr<Subscription> subscription;

  // Bounded cache: one store read per subject at a time (a `Flight`, which
  // checks missing the same subject wait for), at most
  // `max_store_reads_in_flight` reads at once.
  struct Flight {
    const Epoch* epoch = nullptr;
    internal::Mutex mu;
    internal::CondVar cv;
    bool done = false;  // guarded by mu
    // The subject's shard mark before the (last) read, the record read or
    // the error, and the reason of a failure.
    std::uint64_t mark = 0;
    // The store revision the read had to reach (its leader's demand).
    Revision min_revision = 0;
    absl::StatusOr<v1::ConsentRecord> record;
    Reason failure = Reason::kStoreUnavailable;
  };
  struct FlightShard {
    internal::Mutex mu;
    absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights
        ABSL_GUARDED_BY(mu);
  };
  static constexpr std::size_t kFlightShards = 64;
  std::unique_ptr<FlightShard[]> flight_shards;
  internal::Mutex reads_mu;
  internal::CondVar reads_cv;
  int reads_in_flight = 0;  // guarded by reads_mu
  // Counters (bounded cache only; hits are counted by the cache).
  std::atomic<std::uint64_t> misses{0};
  std::atomic<std::uint64_t> store_reads{0};
  std::atomic<std::uint64_t> refill_races{0};
  std::atomic<std::uint64_t> reads_rejected{0};

  // Takes one of the `max_store_reads_in_flight` reads, waiting at most
  // `store_read_wait`; false when none freed up.
  bool AcquireRead() {
    internal::MutexLock lock(&reads_mu);
    const bool got = reads_cv.WaitFor(
        &reads_mu, read_wait, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return reads_in_flight < options.max_store_reads_in_flight;
        });
    if (got) ++reads_in_flight;
    return got;
  }
  void ReleaseRead() {
    internal::MutexLock lock(&reads_mu);
    --reads_in_flight;
    reads_cv.NotifyOne();
  }
  std::chrono::nanoseconds read_wait{0};

  // Subjects whose stored record the store reported unreadable: subject ->
  // (revision, detail). Checks for them deny with kConsentDataLoss; a
  // readable record of a higher revision lifts the entry.
  mutable internal::Mutex quarantine_mu;
  absl::flat_hash_map<std::string, std::pair<Revision, std::string>> quarantined
      ABSL_GUARDED_BY(quarantine_mu);
  std::atomic<bool> any_quarantined{false};

  void NoteUnreadable(absl::string_view subject, Revision revision,
                      absl::string_view detail) {
    internal::MutexLock lock(&quarantine_mu);
    auto [it, inserted] = quarantined.try_emplace(subject, revision, detail);
    if (!inserted && revision >= it->second.first) {
      it->second = {revision, std::string(detail)};
    }
    any_quarantined.store(true, std::memory_order_release);
  }

  // Keeps the quarantine list current with a record the cache takes in.
  void NoteRecord(const v1::ConsentRecord& r) {
    if (!r.data_loss().empty()) {
      NoteUnreadable(r.subject_id(), r.revision(), r.data_loss());
      return;
    }
    if (!any_quarantined.load(std::memory_order_acquire)) return;
    internal::MutexLock lock(&quarantine_mu);
    auto it = quarantined.find(r.subject_id());
    if (it != quarantined.end() && r.revision() > it->second.first) {
      quarantined.erase(it);
      any_quarantined.store(!quarantined.empty(), std::memory_order_release);
    }
  }

  // Compiles every record of the store into `epoch` (bounded: until the
  // budget is reached). Errors: the store's.
  absl::Status Fill(Epoch& epoch);
  absl::Status FillBounded(Epoch& epoch);

  // Whether the store's feed is older than `max_feed_staleness` at
  // `wall_now_ns`: the store's heartbeat, read on every call, against
  // the clock the caller read (for the audit event too), in nanoseconds.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool FeedStale(std::int64_t wall_now_ns) const {
    return FeedStaleAt([wall_now_ns] { return wall_now_ns; });
  }
  // `FeedStale` at the time `wall_now()` returns, called only when the
  // store has a heartbeat (a store without a feed to fall behind, such as
  // the in-memory one, costs no clock read).
  template <typename WallNow>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool FeedStaleAt(WallNow wall_now) const {
    if (ABSL_PREDICT_TRUE(heartbeat_word != nullptr)) {
      // The store's heartbeat word (`ConsentStore::SetFeedHeartbeatWord`):
      // `FeedHeartbeat()` in nanoseconds, 0 for no feed yet; the same test
      // as below without the call.
      const std::int64_t heartbeat_ns =
          heartbeat_word->load(std::memory_order_acquire);
      return heartbeat_ns != 0 && heartbeat_ns < wall_now() - max_staleness_ns;
    }
    const absl::Time heartbeat = store->FeedHeartbeat();
    if (heartbeat == absl::InfiniteFuture()) return false;
    const std::int64_t wall_now_ns = wall_now();
    if (ABSL_PREDICT_FALSE(!staleness_in_nanos)) {
      return absl::FromUnixNanos(wall_now_ns) - heartbeat >
             options.max_feed_staleness;
    }
    // Stale when now - heartbeat > bound. The clock is after 1970 and the
    // bound within +-2^62 ns, so nothing overflows; a heartbeat beyond what
    // nanoseconds hold saturates to the same answer.
    return absl::ToUnixNanos(heartbeat) < wall_now_ns - max_staleness_ns;
  }
  // Whether a warm check under `e` is stale: the feed is bounded and can
  // fall behind (`feed_test`), `e`'s basis needs consent and the feed is
  // older than the bound now.
  // `*wall_now_ns`, when not null: the clock read, if the test read it.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool WarmStale(
      const internal::WarmEntry& e, std::int64_t* wall_now_ns = nullptr) const {
    return feed_test && e.basis != Basis::kNecessary &&
           FeedStaleAt([wall_now_ns] {
             const std::int64_t now = absl::GetCurrentTimeNanos();
             if (wall_now_ns != nullptr) *wall_now_ns = now;
             return now;
           });
  }
  // `options.max_feed_staleness` is finite; and within +-2^62 ns, as
  // `max_staleness_ns`.
  bool bounded_staleness = false;
  // `bounded_staleness`, and the store may report a heartbeat
  // (`ConsentStore::ReportsFeedHeartbeat`): a warm check of a
  // consent basis then reads the heartbeat and the clock (`WarmStale`):
  // `TryWarmLean<false>` makes that one call when the heartbeat is a word
  // (`lean_enabled`), and otherwise leaves the check to `CheckRef` or
  // `CheckId`.
  bool feed_test = false;
  // When `feed_test` and `staleness_in_nanos`: the store's heartbeat word,
  // if it keeps one (`internal::FeedHeartbeatWord`); else null.
  const std::atomic<std::int64_t>* heartbeat_word = nullptr;
  bool staleness_in_nanos = false;
  std::int64_t max_staleness_ns = 0;

  Reason ConsumeOccasionConsent(absl::string_view subject,
                                absl::string_view purpose,
                                absl::string_view occasion,
                                std::int64_t now_ns);
  absl::StatusOr<Decision> Decide(const AccessContext& ctx,
                                  const Target& target,
                                  const CompiledPolicy** policy_used,
                                  PurposeIndex* purpose_used,
                                  CategoryIndex* category_used);

  // The warm path of `Check` (REQUIRES: `warm_enabled`): decides a plain
  // check from the (category, purpose) pair's `WarmEntry` and the
  // subject's cached profile, without the general decider, into `*out`
  // (true); or leaves it to `Decide` (false; `HandOver`): a context or
  // category resolved under another policy, a per-occasion purpose, a
  // feed staleness bound beyond what nanoseconds hold, a subject not
  // cached (or a bounded cache's miss), cached older than `min_revision`
  // or with a consent that expires, and a subject whose record is
  // unreadable. Decides exactly as `Decide` does;
  // tests/core/guard_warm_path_test.cc compares the two. No call on the
  // way to a decision, so that a check is a short run of instructions
  // the processor can overlap with the next check's.
  // `*policy_slot`: the slot the audit sink keeps the deciding policy
  // under (`Epoch::audit_policy_slot`).
  bool TryWarm(const AccessContext& ctx, absl::string_view subject,
               const SubjectRef* ref, const CategoryRef& category,
               Revision min_revision, Decision* out, WarmProbe* probe,
               std::uint32_t* policy_slot);
  // The common case of `TryWarm`, and only it (REQUIRES:
  // `warm_enabled`): the enforced policy's context and category, a purpose
  // the accessor may declare and the policy allows for the category, not
  // per occasion, a fresh feed, the subject cached at `min_revision` or
  // later, and a profile summary that decides (`internal::MakeSummaryRule`):
  // returns its decision (by value: in two registers). Anything else
  // returns a decision of `kUnspecified` (no rule decides with it), and
  // `TryWarm` decides it as before. Kept short, so that it needs few
  // registers and the processor overlaps consecutive checks' cache misses.
  // With `kCalls` false, as `Check` runs it: no call but the clock's when
  // a feed is tested (`Check`'s only other call is its hand-over to
  // `CheckRef` or `CheckId`), and so `kUnspecified` when entering the read
  // section would need one (`ReadSection::TryEnter`) and when a bounded
  // cache's hit would (`ConsentCache::DecideAtHint`, `DecideByKey`), and
  // for a stale feed; REQUIRES then `lean_enabled` (a feed tested only
  // through its heartbeat word).
  // `Key`: a `SubjectRef` (probed from its slot hint), or an id as an
  // `absl::string_view` (hashed and probed from its home slot; an id
  // longer than the cache's inline keys is left).
  // `*policy_slot`, when not null: as `TryWarm`'s, set when it decides.
  // `*wall_now_ns`, when not null: the wall clock in nanoseconds if the
  // feed test read it (else left as it was), for the audit event.
  template <bool kCalls, typename Key>
  Decision TryWarmLean(const AccessContext& ctx, const Key& ref,
                       const CategoryRef& category, Revision min_revision,
                       std::uint32_t* policy_slot = nullptr,
                       std::int64_t* wall_now_ns = nullptr);
  // `TryWarmLean` inside its read section.
  template <bool kCalls, typename Key>
  Decision LeanDecide(const AccessContext& ctx, const Key& ref,
                      const CategoryRef& category, Revision min_revision,
                      std::uint32_t* policy_slot, std::int64_t* wall_now_ns);
  // The cache's lean probe for each kind of key: `decide(revision,
  // summary)` at the slot that holds the subject, as
  // `ConsentCache::DecideAtHint` calls it; false when it did not decide.
  template <bool kCalls, typename DecideFn>
  static bool LeanProbe(const internal::ConsentCache& cache,
                        const SubjectRef& ref, DecideFn decide);
  template <bool kCalls, typename DecideFn>
  static bool LeanProbe(const internal::ConsentCache& cache,
                        absl::string_view id, DecideFn decide);
  // The subject's part of a warm check, after the read rules let it
  // through: the cache lookup and the subject rules (on the profile's
  // summary when it decides). False: left to the general decider (not
  // cached, older than `min_revision`, a consent that expires, an
  // unreadable record).
  // `Ref`: `SubjectRef`, or `internal::SubjectKey` (a tagged record's).
  template <typename Ref>
  static bool WarmSubject(const internal::Epoch& epoch,
                          const internal::WarmEntry& e,
                          absl::string_view subject, const Ref* ref,
                          PurposeIndex purpose, Revision min_revision,
                          Decision* out);
  // `Authorize` without an audit sink, inside the caller's read section
  // on `epoch` (the current epoch): decides a record as `Evaluate` would
  // (the read rules with the record's tags and retention, then
  // `WarmSubject`) into `*out` (true), or leaves it to `Evaluate` (false):
  // a context or record tagged under another policy than `epoch`'s, a
  // bounded cache (so that a hit is counted once), a per-occasion purpose,
  // and what `WarmSubject` leaves. True implies that the context and the
  // record were resolved under `epoch->policy`.
  bool TryWarmTagged(const internal::Epoch& epoch, const AccessContext& ctx,
                     const RecordTags& record, Revision min_revision,
                     Decision* out) const;
  // `Check` on a ref when `TryWarmLean<false>` did not decide. Takes
  // `Check`'s own arguments in their registers, so that handing over moves
  // nothing.
  static absl::StatusOr<Decision> CheckRef(const Guard& guard,
                                           const AccessContext& ctx,
                                           const SubjectRef& subject,
                                           const CategoryRef& category,
                                           Revision min_revision);
  // `Check` by id when `TryWarmLean<false>` did not decide, as `CheckRef`.
  static absl::StatusOr<Decision> CheckId(const Guard& guard,
                                          const AccessContext& ctx,
                                          absl::string_view subject,
                                          const CategoryRef& category,
                                          Revision min_revision);
  absl::StatusOr<Decision> CheckId(const AccessContext& ctx,
                                   absl::string_view subject,
                                   const CategoryRef& category,
                                   Revision min_revision);
  absl::StatusOr<Decision> CheckRef(const AccessContext& ctx,
                                    const SubjectRef& subject,
                                    const CategoryRef& category,
                                    Revision min_revision);
  // `Check` with `warm_audited`: `TryWarm`, and the decision recorded into
  // the compact path, as `Conclude` records it (an audit failure denies
  // the read); or `HandOver`.
  absl::StatusOr<Decision> CheckWarmAudited(const AccessContext& ctx,
                                            absl::string_view subject,
                                            const SubjectRef* ref,
                                            const CategoryRef& category,
                                            Revision min_revision);
  // `Check` after `TryWarm` left it.
  absl::StatusOr<Decision> HandOver(const AccessContext& ctx,
                                    absl::string_view subject,
                                    const SubjectRef* ref,
                                    const CategoryRef& category,
                                    Revision min_revision, WarmProbe probe);

  // After a decision that must be audited (or is a denial): audits it
  // (the compact form when the sink has one, an `AuditEvent` otherwise),
  // fails closed on an audit failure or a store outage, and counts a shadow
  // denial. `shared`, when not null, holds the event fields common to the
  // decisions of one `Decider`, set once `*shared_started`; otherwise an
  // event is built only when one is recorded.
  absl::Status Conclude(Decider& decider, const AccessContext& ctx,
                        const Target& target, CategoryIndex category,
                        const Decision& decision, AuditSink* sink,
                        AuditEvent* shared, bool* shared_started);
  // `Conclude` for everything but a plain read recorded into a compact
  // path; out of line, so that the common case keeps a small frame.
  absl::Status ConcludeSlow(Decider& decider, const AccessContext& ctx,
                            const Target& target, CategoryIndex category,
                            const Decision& decision, AuditSink* sink,
                            AuditEvent* shared, bool* shared_started);
  // The error of a check denied with `kConsentDataLoss`, with the store's
  // detail.
  absl::Status DataLossDenial(const AccessContext& ctx,
                              absl::string_view subject, Revision revision,
                              absl::string_view category);
  // Records `decision` into `compact`. REQUIRES: the context and category
  // resolved under the enforced policy.
  absl::Status RecordCompact(Decider& decider, const Target& target,
                             CategoryIndex category, const Decision& decision);
  // The denial that an audit failure (`recorded`) makes of the read.
  static absl::Status AuditFailure(const absl::Status& recorded,
                                   const AccessContext& ctx,
                                   const Target& target);
  // Sets every field of `*e` that a read decision's event carries.
  static void SetEventFields(Decider& decider, const AccessContext& ctx,
                             const Target& target, const Decision& decision,
                             absl::string_view category,
                             absl::string_view record_ref, AuditEvent* e);

  // `Guard::Acquire` for a category with an acquisition purpose: `ctx`
  // names the collector and that purpose.
  absl::StatusOr<RecordTags> Acquire(const AccessContext& ctx, RecordTags tags);
  // The reason an acquisition by `decider` of `subject`'s data gets.
  Reason AcquisitionReason(Decider& decider, absl::string_view subject,
                           Revision* revision);

  // See `internal::CheckCategories` (src/core/guard_impl.h).
  absl::Status CheckCategories(const AccessContext& ctx,
                               absl::string_view subject,
                               absl::Span<const CategoryRef* const> categories,
                               Decision* decisions);
  // The batch's summary event (action `kBatch`). Errors: an audit failure,
  // as a denial.
  absl::Status AuditBatch(const AccessContext& ctx,
                          absl::Span<const RecordTags* const> records,
                          absl::string_view batch_ref,
                          absl::Span<const Decision> decisions,
                          const absl::Status& failure);
};

// ---------------------------------------------------------------------------
// RecordTags and AccessGrant

namespace {
// The last `RecordId` given to tags (`Guard::Tag`); ids are never reused,
// so a grant that outlives its record opens no record tagged later.
std::atomic<std::uint64_t> next_record_id{0};
}  // namespace

Reason RecordTags::TagReason(absl::string_view purpose) const {
  absl::StatusOr<PurposeIndex> p = policy_->FindPurpose(purpose);
  if (!p.ok()) return Reason::kNotCollectedForPurpose;
  return TagReasonIndex(*p);
}

Reason RecordTags::TagReasonUnder(const CompiledPolicy& enforcing,
                                  PurposeIndex p) const {
  const Reason r = TagReason(enforcing.purpose_id(p));
  if (r == Reason::kUnspecified && !enforcing.per_occasion().Contains(p)) {
    // Complies only as a per-occasion purpose of the tags' policy, which
    // the enforced policy no longer treats as one: it must have been
    // collected for.
    absl::StatusOr<PurposeIndex> own =
        policy_->FindPurpose(enforcing.purpose_id(p));
    if (!own.ok() || !allowed_.Contains(*own)) {
      return Reason::kNotCollectedForPurpose;
    }
  }
  return r;
}

bool RecordTags::Complies(absl::string_view purpose) const {
  return TagReason(purpose) == Reason::kUnspecified;
}

absl::Status AccessGrant::Opens(const RecordTags& tags) const {
  // The common case: the record minted for, read under the policy it was
  // tagged under, for a purpose that complies.
  if (ABSL_PREDICT_TRUE(record_.value() == tags.id_.value() &&
                        record_.value() != 0 && policy_ == tags.policy_.get() &&
                        category_ == tags.category_ &&
                        tags.complies_.Contains(purpose_))) {
    return absl::OkStatus();
  }
  return OpensOtherwise(tags);
}

ABSL_ATTRIBUTE_NOINLINE absl::Status AccessGrant::OpensOtherwise(
    const RecordTags& tags) const {
  if (record_.value() != tags.id_.value() || record_.value() == 0 ||
      tags.policy_ == nullptr) {
    return NotMintedFor(tags);
  }
  const bool same_policy = policy_ == tags.policy_.get();
  if (same_policy ? category_ != tags.category_
                  : policy_->category_id(category_) != tags.category()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "consentry: the grant was minted for category '",
        policy_->category_id(category_), "', not '", tags.category(), "'"));
  }
  if (decision_.shadow_denial()) return absl::OkStatus();
  const Reason r = tags.TagReasonFor(*policy_, purpose_);
  if (r != Reason::kUnspecified) {
    return DenialStatus(r, policy_->purpose_id(purpose_), tags.category());
  }
  return absl::OkStatus();
}

absl::Status AccessGrant::NotMintedFor(const RecordTags& tags) const {
  if (record_.value() == 0) {
    return absl::PermissionDeniedError(
        "consentry: the grant was moved from; it opens no record");
  }
  // What else differs, when something does, for the caller's diagnosis
  // (nothing to compare with tags that name no record: moved from, or
  // default-constructed).
  const bool names_record = tags.id_.value() != 0 && tags.policy_ != nullptr;
  std::string detail;
  if (names_record && policy_->category_id(category_) != tags.category()) {
    detail = absl::StrCat(" of category '", policy_->category_id(category_),
                          "', not '", tags.category(), "'");
  } else if (names_record && !decision_.shadow_denial()) {
    const Reason r = tags.TagReasonFor(*policy_, purpose_);
    if (r != Reason::kUnspecified) {
      detail = absl::StrCat(
          "; ", DenialStatus(r, policy_->purpose_id(purpose_), tags.category())
                    .message());
    }
  }
  return absl::PermissionDeniedError(
      absl::StrCat("consentry: the grant was minted for another record", detail,
                   " (a grant opens only the record it was minted "
                   "for and copies of its tags)"));
}

absl::Status BatchGrant::Opens(const RecordTags& tags,
                               std::size_t index) const {
  if (index >= records_.size() || records_[index] != &tags) {
    return absl::PermissionDeniedError(
        absl::StrCat("consentry: the batch grant does not cover this record "
                     "as record ",
                     index, " of its batch"));
  }
  const Decision& d = decisions_[index];
  if (!d.proceeds()) {
    return absl::PermissionDeniedError(
        absl::StrCat("consentry: record ", index, " of the batch was denied (",
                     ReasonName(d.reason()), ")"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Guard

absl::StatusOr<std::unique_ptr<Guard>> Guard::Create(
    std::shared_ptr<const CompiledPolicy> policy, ConsentStore* store,
    AuditSink* audit, GuardOptions options) {
  if (policy == nullptr) {
    return absl::InvalidArgumentError("Guard::Create: policy is null");
  }
  if (store == nullptr) {
    return absl::InvalidArgumentError("Guard::Create: store is null");
  }
  if (audit == nullptr && !options.unaudited_for_benchmarks_only) {
    return absl::InvalidArgumentError(
        "Guard::Create: audit sink is null; every decision must be audited "
        "(only benchmarks may set "
        "GuardOptions::unaudited_for_benchmarks_only)");
  }
  if (options.cache_budget_bytes != 0) {
    if (options.cache_budget_bytes < internal::ConsentCache::kMinBudgetBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("Guard::Create: cache_budget_bytes ",
                       options.cache_budget_bytes, " is below the minimum of ",
                       internal::ConsentCache::kMinBudgetBytes, " bytes"));
    }
    if (options.max_store_reads_in_flight < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("Guard::Create: max_store_reads_in_flight must be at "
                       "least 1, not ",
                       options.max_store_reads_in_flight));
    }
    if (options.store_read_wait < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          "Guard::Create: store_read_wait must not be negative");
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->store = store;
  if (options.cache_budget_bytes != 0) {
    impl->flight_shards =
        std::make_unique<Impl::FlightShard[]>(Impl::kFlightShards);
    // An infinite wait is an hour: a wait_for past the clock's range
    // overflows.
    impl->read_wait = absl::ToChronoNanoseconds(
        std::min(options.store_read_wait, absl::Hours(1)));
  }
  impl->audit = audit;
  impl->compact = audit != nullptr ? audit->compact_path() : nullptr;
  impl->shadow = options.mode == EnforcementMode::kShadow;
  impl->has_clock = static_cast<bool>(options.clock);
  impl->bounded_staleness =
      options.max_feed_staleness != absl::InfiniteDuration();
  impl->feed_test = impl->bounded_staleness && store->ReportsFeedHeartbeat();
  // Within +-2^62 ns (146 years) the test runs in integer nanoseconds
  // without overflow; a longer bound is tested in absl::Time.
  impl->staleness_in_nanos = impl->bounded_staleness &&
                             absl::AbsDuration(options.max_feed_staleness) <=
                                 absl::Nanoseconds(std::int64_t{1} << 62);
  if (impl->staleness_in_nanos) {
    impl->max_staleness_ns =
        absl::ToInt64Nanoseconds(options.max_feed_staleness);
    if (impl->feed_test) {
      impl->heartbeat_word = internal::FeedHeartbeatWord(*store);
    }
  }
  if (!options.clock) options.clock = [] { return absl::Now(); };
  impl->options = std::move(options);
  impl->UpdateWarm();
  auto epoch = std::make_unique<Epoch>(policy, impl->options.expected_subjects,
                                       impl->options.cache_budget_bytes);
  if (impl->compact != nullptr) {
    epoch->audit_policy_slot = impl->compact->AttachPolicy(policy);
  }
  impl->current.store(epoch.get(), std::memory_order_release);
  {
    internal::MutexLock lock(&impl->switch_mu);
    impl->current_owner = std::move(epoch);
    impl->policies.push_back(std::move(policy));
  }
  std::unique_ptr<Guard> guard(new Guard(std::move(impl)));
  // Watch before the first read, so that no change is missed between a
  // cache fill and the subscription.
  Impl* raw = guard->impl_.get();
  raw->subscription = store->Watch([raw](const v1::ConsentRecord& r) {
    internal::ReaderMutexLock lock(&raw->switch_mu);
    raw->current.load(std::memory_order_acquire)
        ->ApplyFeed(r, raw->options.clock());
    raw->NoteRecord(r);
  });
  return guard;
}

Guard::Guard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Guard::~Guard() {
  // Stop the feed first: the listener uses the epochs.
  impl_->subscription.reset();
}

const GuardOptions& Guard::options() const { return impl_->options; }

std::shared_ptr<const CompiledPolicy> Guard::policy() const {
  internal::ReadSection section;
  return impl_->current.load(std::memory_order_acquire)->policy;
}

absl::StatusOr<AccessContext> Guard::Context(
    absl::string_view accessor, absl::string_view purpose,
    absl::string_view occasion_id) const {
  std::shared_ptr<const CompiledPolicy> p = policy();
  absl::StatusOr<AccessorIndex> a = p->FindAccessor(accessor);
  if (!a.ok()) return a.status();
  absl::StatusOr<PurposeIndex> pu = p->FindPurpose(purpose);
  if (!pu.ok()) return pu.status();
  if (p->per_occasion().Contains(*pu) && occasion_id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "purpose '", purpose,
        "' is outside the catalogue: name the occasion it is used for"));
  }
  const bool declarable = p->declarable_by(*a).Contains(*pu);
  return AccessContext(std::move(p), *a, *pu, declarable,
                       std::string(occasion_id));
}

absl::StatusOr<CategoryRef> Guard::Category(absl::string_view category) const {
  std::shared_ptr<const CompiledPolicy> p = policy();
  absl::StatusOr<CategoryIndex> c = p->FindCategory(category);
  if (!c.ok()) return c.status();
  return CategoryRef(std::move(p), *c);
}

absl::StatusOr<RecordTags> Guard::Tag(
    absl::string_view subject, absl::string_view category,
    absl::Span<const absl::string_view> collected_for,
    absl::Span<const absl::string_view> prohibited,
    absl::string_view record_ref,
    absl::optional<absl::Time> collected_at) const {
  if (subject.empty()) {
    return absl::InvalidArgumentError("Tag: subject id must not be empty");
  }
  if (collected_for.empty()) {
    return absl::InvalidArgumentError(
        "Tag: a record must be collected for at least one purpose");
  }
  std::shared_ptr<const CompiledPolicy> p = policy();
  absl::StatusOr<CategoryIndex> c = p->FindCategory(category);
  if (!c.ok()) return c.status();
  RecordTags tags;
  for (absl::string_view id : collected_for) {
    absl::StatusOr<PurposeIndex> pu = p->FindPurpose(id);
    if (!pu.ok()) return pu.status();
    tags.allowed_.Add(p->descendants(*pu));
  }
  for (absl::string_view id : prohibited) {
    absl::StatusOr<PurposeIndex> pu = p->FindPurpose(id);
    if (!pu.ok()) return pu.status();
    tags.prohibited_.Add(p->descendants(*pu) | p->ancestors(*pu));
  }
  tags.complies_ = tags.allowed_;
  tags.complies_.Add(p->per_occasion());
  tags.complies_.Remove(tags.prohibited_);
  tags.policy_ = std::move(p);
  tags.id_ = internal::RecordId(
      next_record_id.fetch_add(1, std::memory_order_relaxed) + 1);
  tags.subject_ = std::string(subject);
  tags.record_ref_ = std::string(record_ref);
  tags.collected_at_ =
      collected_at.has_value() ? *collected_at : impl_->options.clock();
  constexpr std::int64_t kBound = std::int64_t{1} << 62;
  if (tags.collected_at_ > absl::FromUnixNanos(-kBound) &&
      tags.collected_at_ < absl::FromUnixNanos(kBound)) {
    tags.collected_at_ns_ = absl::ToUnixNanos(tags.collected_at_);
  }
  // The subject's key and where the cache holds it now (as `Subject`).
  internal::SubjectKey& key = tags.subject_key_;
  key.hash_ = internal::ConsentCache::Hash(subject);
  if (subject.size() <= sizeof(key.inline_)) {
    key.size_ = static_cast<std::uint32_t>(subject.size());
    std::memcpy(key.inline_, subject.data(), subject.size());
  }
  {
    internal::ReadSection section;
    const internal::ConsentCache::Hint hint =
        impl_->current.load(std::memory_order_acquire)
            ->cache.HintFor(subject, key.hash_);
    if (hint.table != nullptr && hint.slot < SubjectRef::kNoSlot) {
      key.slot_ = static_cast<std::uint32_t>(hint.slot);
    }
  }
  tags.category_ = *c;
  return tags;
}

// One subject at one instant: the epoch, the context's resolution, the
// clock and the subject's consent state are read once and shared by every
// category decided through one Decider (one for a `Check`, several for
// `CheckCategories`). Gathers the inputs of the decision rules
// (src/core/decision_rules.h) and uses up a single-use consent.
struct Guard::Impl::Decider {
  ABSL_ATTRIBUTE_ALWAYS_INLINE Decider(Impl& g, const AccessContext& c)
      : guard(g),
        ctx(c),
        section(),
        epoch(g.current.load(std::memory_order_acquire)),
        p(*epoch->policy),
        accessor(c.accessor_),
        purpose(c.purpose_) {
    // Resolve the context against the enforced policy. It was resolved
    // once by the caller; only after a policy switch does it need a lookup
    // by name, and a name the new policy lacks denies.
    if (ctx.policy_.get() != &p) ResolveContext();
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~Decider() = default;

  // The context resolved by name against the enforced policy, after a
  // policy switch.
  ABSL_ATTRIBUTE_NOINLINE void ResolveContext() {
    absl::StatusOr<AccessorIndex> a = p.FindAccessor(ctx.accessor());
    absl::StatusOr<PurposeIndex> pu = p.FindPurpose(ctx.purpose());
    if (!a.ok()) {
      context_reason = Reason::kAccessorNotPermitted;
    } else if (!pu.ok()) {
      context_reason = Reason::kNotAllowedByPolicy;
    } else {
      accessor = *a;
      purpose = *pu;
    }
  }

  // The time is read only when needed: for an expiring consent, and for
  // the audit event.
  ABSL_ATTRIBUTE_ALWAYS_INLINE std::int64_t now_ns() {
    if (now_ns_cache < 0) {
      now_ns_cache = guard.has_clock ? absl::ToUnixNanos(guard.options.clock())
                                     : absl::GetCurrentTimeNanos();
    }
    return now_ns_cache;
  }

  // The record of `subject` from the store, checked to be that subject's;
  // on a data loss the subject is quarantined (`lookup_failure`).
  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<v1::ConsentRecord> Read(
      absl::string_view subject, Revision min_revision) {
    absl::StatusOr<v1::ConsentRecord> record =
        guard.store->GetAtLeast(subject, min_revision);
    if (!record.ok() && absl::IsDataLoss(record.status())) {
      // The store cannot read this subject's record: quarantined.
      lookup_failure = Reason::kConsentDataLoss;
      guard.NoteUnreadable(subject, 0, record.status().message());
      return record;
    }
    if (record.ok() && record->subject_id() != subject) {
      if (record->subject_id().empty() && record->revision() == 0 &&
          record->purposes_size() == 0 && !record->has_restrictions()) {
        // "No record", answered without the id.
        record->set_subject_id(std::string(subject));
      } else {
        // Another subject's consent must never decide this read: a store
        // that answers for the wrong subject is failing.
        record = absl::DataLossError(
            "consent store returned a record for "
            "another subject");
      }
    }
    return record;
  }

  // The consent state of `subject` no older than `min_revision`, from the
  // cache or else the store; false when the store cannot be read. Looked
  // up once per Decider; `warm`, when it probed, says the warm path
  // already looked the subject up (and a bounded cache counted the hit).
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool LookUp(absl::string_view subject,
                                           Revision min_revision,
                                           const SubjectRef* ref,
                                           const WarmProbe* warm) {
    if (looked_up) return state != nullptr;
    looked_up = true;
    const SubjectProfile* s = nullptr;
    std::uint64_t hash = 0;
    bool found = false;
    hash = ref != nullptr ? ref->hash() : internal::ConsentCache::Hash(subject);
    if (warm != nullptr && warm->probed) {
      found = epoch->cache.Peek(subject, hash, &s, &revision);
    } else {
      found = ref != nullptr
                  ? epoch->cache.LookupAt(subject, hash, ref->slot_,
                                          ref->padded(), &s, &revision)
                  : epoch->cache.Lookup(subject, hash, &s, &revision);
    }
    if (!found || revision < min_revision ||
        (s->valid_until_ns != internal::kNoExpiry &&
         s->valid_until_ns <= now_ns())) {
      // Miss, state older than the caller demands, or a consent expired
      // since the profile was compiled: read the record and compile it
      // now.
      if (epoch->cache.bounded()) return Refill(subject, hash, min_revision);
      absl::StatusOr<v1::ConsentRecord> record = Read(subject, min_revision);
      if (!record.ok()) return false;
      const absl::Time now = absl::FromUnixNanos(now_ns());
      epoch->Apply(*record, now, /*replace_same_revision=*/true);
      guard.NoteRecord(*record);
      if (!epoch->cache.Lookup(subject, hash, &s, &revision) ||
          s->valid_until_ns <= now_ns()) {
        // Not cacheable (an over-long id), or changed meanwhile: use
        // the record just read.
        uncached = std::make_unique<Uncached>(
            Uncached{internal::CompileSubjectState(p, *record, now),
                     internal::OccasionsOf(p, *record)});
        s = &uncached->state.profile;
        revision = uncached->state.revision;
      }
      // The record just read is the store's current state, so it meets the
      // demand even when its own revision is older (a subject the change
      // at `min_revision` did not touch); when the cache could not take it,
      // it is used directly (`uncached`), never the older cached slot.
    }
    state = s;
    return true;
  }

  // Bounded cache: `LookUp`'s miss path. The subject's record comes from
  // one store read shared by every check that misses it at once (a
  // `Flight`), and is installed only when no feed event or eviction in
  // its shard happened since the read began; else it is read again (at
  // most three reads), and the last record read decides this check
  // without being cached. A check that joined a read begun before it
  // began uses the record only when that shard's mark has not moved and
  // the record meets `min_revision`; otherwise it waits for (or makes) a
  // read that began after it did.
  ABSL_ATTRIBUTE_NOINLINE bool Refill(absl::string_view subject,
                                      std::uint64_t hash,
                                      Revision min_revision) {
    guard.misses.fetch_add(1, std::memory_order_relaxed);
    Guard::Impl::FlightShard& shard =
        guard.flight_shards[hash % Guard::Impl::kFlightShards];
    for (int round = 0;; ++round) {
      std::shared_ptr<Guard::Impl::Flight> flight;
      bool leader = false;
      {
        internal::MutexLock lock(&shard.mu);
        std::shared_ptr<Guard::Impl::Flight>& slot = shard.flights[subject];
        if (slot == nullptr) {
          slot = std::make_shared<Guard::Impl::Flight>();
          slot->epoch = epoch;
          slot->min_revision = min_revision;
          leader = true;
        }
        flight = slot;
      }
      if (leader) {
        Lead(*flight, subject, hash);
        {
          internal::MutexLock lock(&shard.mu);
          shard.flights.erase(subject);
        }
        internal::MutexLock lock(&flight->mu);
        flight->done = true;
        flight->cv.NotifyAll();
      } else {
        internal::MutexLock lock(&flight->mu);
        flight->cv.Wait(&flight->mu,
                        [&flight]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
                          return flight->done;
                        });
      }
      // Written before `done`, read-only since.
      const absl::StatusOr<v1::ConsentRecord>& record = flight->record;
      if (!record.ok()) {
        lookup_failure = flight->failure;
        return false;
      }
      // A read begun before this check (only a flight joined in round 0
      // can be) may have missed a change delivered before it.
      if (!leader && round == 0 &&
          (flight->epoch != epoch || epoch->Mark(hash) != flight->mark ||
           record->revision() < min_revision)) {
        continue;
      }
      // A read made for a lower demand (a store reading replicas may have
      // answered from one that lacks `min_revision`): read for this one.
      if (!leader && flight->min_revision < min_revision &&
          record->revision() < min_revision) {
        lookup_failure = Reason::kStoreUnavailable;
        absl::StatusOr<v1::ConsentRecord> own = Read(subject, min_revision);
        if (!own.ok()) return false;
        UseRecord(*own, subject, hash);
        return true;
      }
      UseRecord(*record, subject, hash);
      return true;
    }
  }

  // Reads `subject` for `flight` and installs it (see `Refill`).
  void Lead(Guard::Impl::Flight& flight, absl::string_view subject,
            std::uint64_t hash) {
    if (!guard.AcquireRead()) {
      guard.reads_rejected.fetch_add(1, std::memory_order_relaxed);
      flight.record = absl::UnavailableError(absl::StrCat(
          "consent cache miss for subject '", subject,
          "': ", guard.options.max_store_reads_in_flight,
          " store reads already in flight (GuardOptions::"
          "max_store_reads_in_flight) for longer than store_read_wait"));
      flight.failure = Reason::kStoreUnavailable;
      return;
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
      flight.mark = epoch->Mark(hash);
      guard.store_reads.fetch_add(1, std::memory_order_relaxed);
      lookup_failure = Reason::kStoreUnavailable;
      flight.record = Read(subject, flight.min_revision);
      if (!flight.record.ok()) break;
      guard.NoteRecord(*flight.record);
      if (epoch->Install(*flight.record, absl::FromUnixNanos(now_ns()),
                         /*replace_same_revision=*/true, hash, flight.mark)) {
        break;
      }
      guard.refill_races.fetch_add(1, std::memory_order_relaxed);
    }
    flight.failure = lookup_failure;
    guard.ReleaseRead();
  }

  // Decides on `record` (read for this check): on the cached state when
  // the cache holds it or a newer one, else on the record itself.
  void UseRecord(const v1::ConsentRecord& record, absl::string_view subject,
                 std::uint64_t hash) {
    const SubjectProfile* s = nullptr;
    if (epoch->cache.Peek(subject, hash, &s, &revision) &&
        revision >= record.revision() && s->valid_until_ns > now_ns()) {
      state = s;
      return;
    }
    const absl::Time now = absl::FromUnixNanos(now_ns());
    uncached = std::make_unique<Uncached>(
        Uncached{internal::CompileSubjectState(p, record, now),
                 internal::OccasionsOf(p, record)});
    state = &uncached->state.profile;
    revision = uncached->state.revision;
  }

  // The per-occasion consent of the subject for the context's occasion.
  internal::OccasionMatch MatchOccasion(const Target& target,
                                        CategoryIndex category) {
    const int min_ordinal = p.min_consent_ordinal(category, purpose);
    return uncached != nullptr
               ? internal::MatchOccasionIn(
                     p, uncached->occasions, p.ancestors(purpose),
                     ctx.occasion_id(), min_ordinal, now_ns())
               : epoch->MatchOccasion(target.subject, p.ancestors(purpose),
                                      ctx.occasion_id(), min_ordinal, now_ns());
  }

  // The facts about the read that need no consent state.
  ABSL_ATTRIBUTE_ALWAYS_INLINE internal::RuleInputs ReadFacts(
      const Target& target, CategoryIndex category) {
    internal::RuleInputs in;
    in.basis = p.basis(category, purpose);
    in.kinds_denied = p.kinds_denied(category, purpose);
    in.accessor_permitted = p.declarable_by(accessor).Contains(purpose);
    in.purpose = purpose;
    if (target.tags != nullptr) {
      in.tag_reason = target.tags->TagReasonFor(p, purpose);
      if (p.has_retention(category)) {
        const absl::Duration keep = p.retention(category, purpose);
        in.retention_expired =
            keep != absl::InfiniteDuration() &&
            absl::FromUnixNanos(now_ns()) > target.tags->collected_at() + keep;
      }
    }
    in.feed_stale =
        in.basis != Basis::kNecessary && guard.bounded_staleness &&
        guard.FeedStaleAt([this] {
          return guard.has_clock ? absl::GetCurrentTimeNanos() : now_ns();
        });
    return in;
  }

  // The reason for `target` (whose subject every call of one Decider
  // shares), the category resolved against the enforced policy, and the
  // consent revision the decision used (0 when it used none).
  // Inlined into its callers, as it was before the rules moved out: a call
  // per check costs as much as a quarter of the check.
  ABSL_ATTRIBUTE_ALWAYS_INLINE Reason Decide(const Target& target,
                                             CategoryIndex* category_used,
                                             Revision* revision_used) {
    Reason reason = context_reason;
    *revision_used = 0;
    CategoryIndex category = target.category;
    if (target.category_policy != &p && reason == Reason::kUnspecified) {
      absl::StatusOr<CategoryIndex> c =
          p.FindCategory(target.category_policy->category_id(target.category));
      if (!c.ok()) {
        reason = Reason::kNotAllowedByPolicy;
      } else {
        category = *c;
      }
    }
    *category_used = category;
    if (reason != Reason::kUnspecified) return reason;
    internal::RuleInputs in = ReadFacts(target, category);
    reason = internal::ReadRules(in);
    if (reason != Reason::kUnspecified) return reason;
    const bool ok =
        LookUp(target.subject, target.min_revision, target.ref, target.warm);
    *revision_used = revision;
    if (!ok) return lookup_failure;
    in.subject = state;
    in.per_occasion = p.per_occasion().Contains(purpose);
    in.specific_consent = p.requires_specific_consent(category);
    if (p.has_reconsent()) {
      in.min_consent_ordinal = p.min_consent_ordinal(category, purpose);
    }
    if (in.per_occasion &&
        (state->flags & SubjectProfile::kHasOccasionConsent)) {
      const internal::OccasionMatch m = MatchOccasion(target, category);
      in.occasion = m.reason;
      reason = internal::SubjectRules(in);
      if (reason == Reason::kAllowedOccasionConsent && m.single_use) {
        // A one-time consent allows one use: only a call that uses it up
        // (Authorize, Evaluate) may rely on it. Any other decision about it
        // (Check, a batch, per-category checks) would let the caller read
        // without using it up, again and again: it denies.
        reason = target.consume_single_use
                     ? guard.ConsumeOccasionConsent(target.subject, m.purpose,
                                                    ctx.occasion_id(), now_ns())
                     : Reason::kSingleUseRequiresAuthorize;
      }
      return reason;
    }
    return internal::SubjectRules(in);
  }

  Impl& guard;
  const AccessContext& ctx;
  // Keeps `epoch` (and what its cache hands out) alive while deciding,
  // however long the store takes on a miss.
  internal::ReadSection section;
  Epoch* const epoch;
  const CompiledPolicy& p;
  AccessorIndex accessor;
  PurposeIndex purpose;
  Reason context_reason = Reason::kUnspecified;
  std::int64_t now_ns_cache = -1;
  // The subject's consent state, once looked up.
  bool looked_up = false;
  // The reason when the store could not be read.
  Reason lookup_failure = Reason::kStoreUnavailable;
  const SubjectProfile* state = nullptr;
  Revision revision = 0;
  // The state of a record read but not taken by the cache, with its
  // per-occasion consents. Only allocated on the slow path: a SubjectState
  // is large, and constructing one (even an empty optional of one, or an
  // empty vector beside it) on every check costs more than the rest of
  // the check.
  struct Uncached {
    SubjectState state;
    std::vector<internal::OccasionConsent> occasions;
  };
  std::unique_ptr<Uncached> uncached;
};
absl::StatusOr<Decision> Guard::Impl::Decide(const AccessContext& ctx,
                                             const Target& target,
                                             const CompiledPolicy** policy_used,
                                             PurposeIndex* purpose_used,
                                             CategoryIndex* category_used) {
  Decider decider(*this, ctx);
  const CompiledPolicy& p = decider.p;
  const PurposeIndex purpose = decider.purpose;
  CategoryIndex category = target.category;
  Revision revision = 0;
  const Reason reason = decider.Decide(target, &category, &revision);

  const Decision decision(reason, revision, shadow);
  AuditSink* const sink = target.suppress_audit ? nullptr : audit;
  // Unaudited (a batch, or a benchmark), and nothing to fail or count:
  // what `Conclude` would decide without the call.
  if (ABSL_PREDICT_TRUE(sink == nullptr &&
                        (decision.allowed() ||
                         (!shadow && reason != Reason::kStoreUnavailable &&
                          reason != Reason::kConsentDataLoss)))) {
    if (policy_used != nullptr) {
      *policy_used = &p;
      *purpose_used = purpose;
      *category_used = category;
    }
    return decision;
  }
  RETURN_IF_ERROR(Conclude(decider, ctx, target, category, decision, sink,
                           nullptr, nullptr));
  if (policy_used != nullptr) {
    *policy_used = &p;
    *purpose_used = purpose;
    *category_used = category;
  }
  return decision;
}

template <typename Ref>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool Guard::Impl::WarmSubject(
    const Epoch& epoch, const internal::WarmEntry& e, absl::string_view subject,
    const Ref* ref, PurposeIndex purpose, Revision min_revision,
    Decision* out) {
  // The profile is found by its index, and read (or even located) only
  // when the summary does not decide.
  std::uint32_t profile_index = 0;
  const internal::ProfileSummary* summary = nullptr;
  Revision revision = 0;
  std::uint64_t hash = 0;
  // A `SubjectRef` with a ref word reads the cache's copy of its state
  // (`ConsentCache::LookupRef`); anything else, or a word the copy does
  // not answer for, looks the subject up.
  bool found = false;
  if constexpr (std::is_same_v<Ref, SubjectRef>) {
    found =
        ref != nullptr && ref->ref_ != 0 &&
        epoch.cache.LookupRef(ref->ref_, &revision, &summary, &profile_index);
  }
  if (!found) {
    found = ref != nullptr
                ? epoch.cache.LookupAt(subject, ref->hash(), ref->slot_,
                                       ref->padded(), nullptr, &revision,
                                       &summary, &profile_index)
                : epoch.cache.HashAndLookup(subject, &hash, nullptr, &revision,
                                            &summary, &profile_index);
  }
  if (ABSL_PREDICT_FALSE(!found || revision < min_revision)) return false;
  // The profile's summary decides most checks: no expiry, not erased, no
  // kind rule that applies, and no specific consent or re-consent to test
  // (`internal::MakeSummaryRule`); the 128-byte profile is not read.
  if (ABSL_PREDICT_TRUE((summary->flags & e.summary_rule.undecided_mask) ==
                        0)) {
    *out = Decision(e.summary_rule.Decide(*summary), revision);
    return true;
  }
  const SubjectProfile* const state = epoch.cache.ProfileAtIndex(profile_index);
  if (ABSL_PREDICT_FALSE(state->valid_until_ns != internal::kNoExpiry)) {
    return false;
  }
  internal::RuleInputs in;
  in.basis = e.basis;
  in.accessor_permitted = true;
  in.kinds_denied = e.kinds_denied;
  in.subject = state;
  in.purpose = purpose;
  in.specific_consent = e.specific_consent;
  in.min_consent_ordinal = e.min_consent_ordinal;
  const Reason reason = internal::SubjectRules(in);
  // An unreadable record's denial carries the store's detail.
  if (ABSL_PREDICT_FALSE(reason == Reason::kConsentDataLoss)) return false;
  *out = Decision(reason, revision);
  return true;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool Guard::Impl::TryWarm(
    const AccessContext& ctx, absl::string_view subject, const SubjectRef* ref,
    const CategoryRef& category, Revision min_revision, Decision* out,
    WarmProbe* probe, std::uint32_t* policy_slot) {
  internal::ReadSection section;
  Epoch* const epoch = current.load(std::memory_order_acquire);
  const CompiledPolicy* const p = epoch->policy.get();
  *policy_slot = epoch->audit_policy_slot;
  if (ABSL_PREDICT_FALSE(ctx.policy_.get() != p ||
                         category.policy_.get() != p)) {
    return false;
  }
  const PurposeIndex purpose = ctx.purpose_;
  const internal::WarmEntry& e = epoch->WarmAt(category.index_, purpose);
  // The read rules (`internal::ReadRules`), in their order; a plain
  // check has no tags and hence no retention. The context was resolved
  // under `p`: its `declarable_` is `p`'s rule.
  if (!ctx.declarable_) {
    *out = Decision(Reason::kAccessorNotPermitted, 0);
    return true;
  }
  if (e.read_reason != Reason::kUnspecified) {
    *out = Decision(e.read_reason, 0);
    return true;
  }
  if (ABSL_PREDICT_FALSE(e.general_only)) return false;
  if (WarmStale(e)) {
    *out = Decision(Reason::kConsentStale, 0);
    return true;
  }
  probe->probed = true;
  return WarmSubject(*epoch, e, subject, ref, purpose, min_revision, out);
}

template <bool kCalls, typename Key>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline Decision Guard::Impl::TryWarmLean(
    const AccessContext& ctx, const Key& ref, const CategoryRef& category,
    Revision min_revision, std::uint32_t* policy_slot,
    std::int64_t* wall_now_ns) {
  if (kCalls) {
    internal::ReadSection::Enter();
    const Decision d = LeanDecide<kCalls>(ctx, ref, category, min_revision,
                                          policy_slot, wall_now_ns);
    internal::ReadSection::Exit();
    return d;
  }
  internal::ReadSections::Record* const section =
      internal::ReadSection::TryEnter();
  if (ABSL_PREDICT_FALSE(section == nullptr)) {
    return Decision(Reason::kUnspecified, 0);
  }
  const Decision d = LeanDecide<kCalls>(ctx, ref, category, min_revision,
                                        policy_slot, wall_now_ns);
  internal::ReadSection::Exit(section);
  return d;
}

template <bool kCalls, typename Key>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline Decision Guard::Impl::LeanDecide(
    const AccessContext& ctx, const Key& ref, const CategoryRef& category,
    Revision min_revision, std::uint32_t* policy_slot,
    std::int64_t* wall_now_ns) {
  constexpr Decision kLeft(Reason::kUnspecified, 0);
  const Epoch* const epoch = current.load(std::memory_order_acquire);
  const CompiledPolicy* const p = epoch->policy.get();
  if (policy_slot != nullptr) *policy_slot = epoch->audit_policy_slot;
  // The context was resolved under `p`: its `declarable_` is `p`'s rule.
  if (ABSL_PREDICT_FALSE(ctx.policy_.get() != p ||
                         category.policy_.get() != p || !ctx.declarable_)) {
    return kLeft;
  }
  // Without `kCalls`, a feed is tested only through the store's heartbeat
  // word (`lean_enabled`): a load and the clock's call, the one call of
  // the lean path. A stale feed is left to the caller.
  if ((kCalls || feed_test) &&
      WarmStale(epoch->WarmAt(category.index_, ctx.purpose_), wall_now_ns)) {
    return kLeft;
  }
  // The (category, purpose) pair's rule is located once the slot is
  // found: it needs only what stays in registers for the hand-over, so
  // that the probe has the registers to itself. A pair the policy does
  // not allow, or a per-occasion purpose, has a rule no summary passes
  // (`kValid` in `undecided_mask`): the summary test leaves it.
  Decision d = kLeft;
  LeanProbe<kCalls>(
      epoch->cache, ref,
      [&](Revision revision, const internal::ProfileSummary* summary)
          ABSL_ATTRIBUTE_ALWAYS_INLINE {
            const PurposeIndex purpose = ctx.purpose_;
            const internal::SummaryRule& rule =
                epoch->WarmAt(category.index_, purpose).summary_rule;
            if (ABSL_PREDICT_FALSE(revision < min_revision ||
                                   (summary->flags & rule.undecided_mask) !=
                                       0)) {
              return false;
            }
            d = Decision(rule.Decide(*summary), revision);
            return true;
          });
  return d;
}

template <bool kCalls, typename DecideFn>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool Guard::Impl::LeanProbe(
    const internal::ConsentCache& cache, const SubjectRef& ref,
    DecideFn decide) {
  // A ref with a ref word reads the cache's copy of its state (a word of
  // another cache is left); one without checks at its slot hint. A ref to
  // a longer id has no word, and its `tag_` (`kLong`, over 24 bits) no
  // slot matches (`DecideAtHint`): it is left.
  if (ABSL_PREDICT_TRUE(ref.ref_ != 0)) {
    return cache.DecideAtRef(ref.ref_, decide);
  }
  return cache.template DecideAtHint<kCalls>(ref.tag_, ref.slot_, ref.inline_,
                                             decide);
}

template <bool kCalls, typename DecideFn>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool Guard::Impl::LeanProbe(
    const internal::ConsentCache& cache, absl::string_view id,
    DecideFn decide) {
  // A longer id is left (`DecideByKey`).
  return cache.template DecideByKey<kCalls>(id, decide);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool Guard::Impl::TryWarmTagged(
    const Epoch& epoch, const AccessContext& ctx, const RecordTags& record,
    Revision min_revision, Decision* out) const {
  const CompiledPolicy* const p = epoch.policy.get();
  if (ABSL_PREDICT_FALSE(ctx.policy_.get() != p || record.policy_.get() != p ||
                         epoch.cache.bounded())) {
    return false;
  }
  const PurposeIndex purpose = ctx.purpose_;
  const internal::WarmEntry& e = epoch.WarmAt(record.category_, purpose);
  // The read rules (`internal::ReadRules`), in their order (`declarable_`:
  // `p`'s rule, as for `TryWarm`).
  if (!ctx.declarable_) {
    *out = Decision(Reason::kAccessorNotPermitted, 0);
    return true;
  }
  // `complies_`: the purposes whose `TagReasonIndex` is `kUnspecified`.
  if (ABSL_PREDICT_FALSE(!record.complies_.Contains(purpose))) {
    const Reason tag_reason = record.TagReasonIndex(purpose);
    if (ABSL_PREDICT_FALSE(tag_reason == Reason::kUnspecified)) return false;
    *out = Decision(tag_reason, 0);
    return true;
  }
  if (e.read_reason != Reason::kUnspecified) {
    *out = Decision(e.read_reason, 0);
    return true;
  }
  if (ABSL_PREDICT_FALSE(e.general_only)) return false;
  if (e.retention_test != internal::WarmEntry::RetentionTest::kNone) {
    const std::int64_t now = has_clock ? absl::ToUnixNanos(options.clock())
                                       : absl::GetCurrentTimeNanos();
    // Expired when now > collected_at + retention. With a whole number of
    // nanoseconds r, floor(collected_at + r) = floor(collected_at) + r, and
    // an integer `now` exceeds a time exactly when it exceeds its floor:
    // the integer test below is the same test. Both terms within +-2^62:
    // no overflow.
    const bool expired =
        ABSL_PREDICT_TRUE(
            e.retention_test == internal::WarmEntry::RetentionTest::kNanos &&
            record.collected_at_ns_ != RecordTags::kCollectedOutOfRange)
            ? now > record.collected_at_ns_ + e.retention_ns
            : absl::FromUnixNanos(now) > record.collected_at() + e.retention;
    if (expired) {
      *out = Decision(Reason::kRetentionExpired, 0);
      return true;
    }
  }
  if (WarmStale(e)) {
    *out = Decision(Reason::kConsentStale, 0);
    return true;
  }
  return WarmSubject(epoch, e, record.subject(), &record.subject_key_, purpose,
                     min_revision, out);
}

ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<Decision> Guard::Impl::CheckRef(
    const Guard& guard, const AccessContext& ctx, const SubjectRef& subject,
    const CategoryRef& category, Revision min_revision) {
  return guard.impl_->CheckRef(ctx, subject, category, min_revision);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<Decision>
Guard::Impl::CheckRef(const AccessContext& ctx, const SubjectRef& subject,
                      const CategoryRef& category, Revision min_revision) {
  if (ABSL_PREDICT_TRUE(warm_enabled)) {
    Decision d(Reason::kUnspecified, 0);
    // What `Check` leaves for a call, in the common case: a warm check
    // that reads the feed's heartbeat through a call (`lean_enabled`
    // false), a bounded cache's hit, every section where readers fence
    // themselves (`ReadSection::TryEnter`). A stale feed that `Check`'s
    // lean path left goes to `TryWarm`.
    if ((feed_test && !lean_enabled) || options.cache_budget_bytes != 0 ||
        !internal::ReadSections::Asymmetric()) {
      const Decision lean =
          TryWarmLean<true>(ctx, subject, category, min_revision);
      if (ABSL_PREDICT_TRUE(lean.reason() != Reason::kUnspecified)) {
        return lean;
      }
    }
    WarmProbe probe;
    std::uint32_t unused_slot;
    if (ABSL_PREDICT_TRUE(TryWarm(ctx, subject.id(), &subject, category,
                                  min_revision, &d, &probe, &unused_slot))) {
      return d;
    }
    return HandOver(ctx, subject.id(), &subject, category, min_revision, probe);
  }
  if (warm_audited) {
    return CheckWarmAudited(ctx, subject.id(), &subject, category,
                            min_revision);
  }
  return Decide(ctx,
                Target{.subject = subject.id(),
                       .category_policy = category.policy_.get(),
                       .category = category.index_,
                       .tags = nullptr,
                       .min_revision = min_revision,
                       .ref = &subject},
                nullptr, nullptr, nullptr);
}

ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<Decision> Guard::Impl::CheckWarmAudited(
    const AccessContext& ctx, absl::string_view subject, const SubjectRef* ref,
    const CategoryRef& category, Revision min_revision) {
  std::uint32_t policy_slot = 0;
  // The common case decides on the lean path (`TryWarmLean`), as an
  // unaudited check does; what it leaves, `TryWarm` or the general decider.
  // The clock its feed test read, if it read one, is the event's time, as
  // the general decider's one read serves both.
  constexpr std::int64_t kNotRead = std::numeric_limits<std::int64_t>::min();
  std::int64_t wall_now_ns = kNotRead;
  Decision d = ref != nullptr
                   ? TryWarmLean<true>(ctx, *ref, category, min_revision,
                                       &policy_slot, &wall_now_ns)
                   : TryWarmLean<true>(ctx, subject, category, min_revision,
                                       &policy_slot, &wall_now_ns);
  if (ABSL_PREDICT_FALSE(d.reason() == Reason::kUnspecified)) {
    wall_now_ns = kNotRead;
    WarmProbe probe;
    if (ABSL_PREDICT_FALSE(!TryWarm(ctx, subject, ref, category, min_revision,
                                    &d, &probe, &policy_slot))) {
      return HandOver(ctx, subject, ref, category, min_revision, probe);
    }
  }
  // The event `RecordCompact` makes of the general decider's decision:
  // the context and category are the enforced policy's (`TryWarm` decides
  // only then), and a plain check names no record. The common case goes
  // into the durable log's queue without the virtual call or a status.
  const std::int64_t now = has_clock ? absl::ToUnixNanos(options.clock())
                           : wall_now_ns != kNotRead
                               ? wall_now_ns
                               : absl::GetCurrentTimeNanos();
  if (ABSL_PREDICT_TRUE(
          compact_log != nullptr &&
          internal::TryRecordCheck(*compact_log, now, d.revision(),
                                   internal::CompactCheckNames(
                                       policy_slot, ctx.accessor_, ctx.purpose_,
                                       category.index_, d.reason()),
                                   subject))) {
    return d;
  }
  const absl::Status recorded = compact->RecordCompact(
      internal::CompactDecision{.time_unix_nanos = now,
                                .revision = d.revision(),
                                .policy_slot = policy_slot,
                                .accessor = ctx.accessor_,
                                .purpose = ctx.purpose_,
                                .category = category.index_,
                                .reason = d.reason(),
                                .shadow = false,
                                .subject = subject,
                                .record_ref = absl::string_view()});
  if (ABSL_PREDICT_FALSE(!recorded.ok())) {
    return DenialStatus(absl::IsResourceExhausted(recorded)
                            ? Reason::kAuditOverloaded
                            : Reason::kAuditUnavailable,
                        ctx.purpose(), category.id());
  }
  return d;
}

ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<Decision> Guard::Impl::HandOver(
    const AccessContext& ctx, absl::string_view subject, const SubjectRef* ref,
    const CategoryRef& category, Revision min_revision, WarmProbe probe) {
  return Decide(ctx,
                Target{.subject = subject,
                       .category_policy = category.policy_.get(),
                       .category = category.index_,
                       .tags = nullptr,
                       .min_revision = min_revision,
                       .ref = ref,
                       .warm = &probe},
                nullptr, nullptr, nullptr);
}

namespace {

// The fields of an event that differ between the decisions of one Decider.
// By value: built from a spilled string_view, the event's fields would be
// loaded back whole from bytes just stored in halves, which stalls.
inline void SetDecisionFields(const Decision& decision,
                              absl::string_view category,
                              absl::string_view record_ref, AuditEvent* e) {
  e->category = category;
  e->record_ref = record_ref;
  e->reason = decision.reason();
  e->revision = decision.revision();
  e->shadow = decision.shadow_denial();
}

}  // namespace

void Guard::Impl::SetEventFields(Decider& decider, const AccessContext& ctx,
                                 const Target& target, const Decision& decision,
                                 absl::string_view category,
                                 absl::string_view record_ref, AuditEvent* e) {
  e->time_unix_nanos = decider.now_ns();
  e->accessor = ctx.accessor();
  e->subject = target.subject;
  e->purpose = ctx.purpose();
  e->policy_version = decider.p.version();
  SetDecisionFields(decision, category, record_ref, e);
}

// Names by index into the enforced policy, which the log keeps alive.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status Guard::Impl::RecordCompact(
    Decider& decider, const Target& target, CategoryIndex category,
    const Decision& decision) {
  return compact->RecordCompact(
      internal::CompactDecision{.time_unix_nanos = decider.now_ns(),
                                .revision = decision.revision(),
                                .policy_slot = decider.epoch->audit_policy_slot,
                                .accessor = decider.accessor,
                                .purpose = decider.purpose,
                                .category = category,
                                .reason = decision.reason(),
                                .shadow = decision.shadow_denial(),
                                .subject = target.subject,
                                .record_ref = target.record_ref()});
}

absl::Status Guard::Impl::Conclude(Decider& decider, const AccessContext& ctx,
                                   const Target& target, CategoryIndex category,
                                   const Decision& decision, AuditSink* sink,
                                   AuditEvent* shared, bool* shared_started) {
  const CompiledPolicy& p = decider.p;
  const bool plain = decision.reason() != Reason::kStoreUnavailable &&
                     decision.reason() != Reason::kConsentDataLoss &&
                     !decision.shadow_denial();
  // An unaudited denial: nothing to record, fail or count.
  if (sink == nullptr && plain) return absl::OkStatus();
  // The common audited read, kept small: a decision that needs nothing but
  // its record, into the durable log's compact path.
  if (ABSL_PREDICT_TRUE(sink != nullptr && compact != nullptr &&
                        ctx.policy_.get() == &p &&
                        target.category_policy == &p && plain)) {
    absl::Status recorded = RecordCompact(decider, target, category, decision);
    if (ABSL_PREDICT_TRUE(recorded.ok())) return absl::OkStatus();
    return AuditFailure(recorded, ctx, target);
  }
  return ConcludeSlow(decider, ctx, target, category, decision, sink, shared,
                      shared_started);
}

ABSL_ATTRIBUTE_NOINLINE absl::Status Guard::Impl::AuditFailure(
    const absl::Status& recorded, const AccessContext& ctx,
    const Target& target) {
  return DenialStatus(
      absl::IsResourceExhausted(recorded) ? Reason::kAuditOverloaded
                                          : Reason::kAuditUnavailable,
      ctx.purpose(), target.category_policy->category_id(target.category));
}

ABSL_ATTRIBUTE_NOINLINE absl::Status Guard::Impl::ConcludeSlow(
    Decider& decider, const AccessContext& ctx, const Target& target,
    CategoryIndex category, const Decision& decision, AuditSink* sink,
    AuditEvent* shared, bool* shared_started) {
  const CompiledPolicy& p = decider.p;
  const Reason reason = decision.reason();
  const absl::string_view category_id =
      target.category_policy->category_id(target.category);
  const absl::string_view record_ref = target.record_ref();
  absl::Status recorded;
  if (sink != nullptr && compact != nullptr && ctx.policy_.get() == &p &&
      target.category_policy == &p) {
    recorded = RecordCompact(decider, target, category, decision);
  } else if (sink != nullptr) {
    if (shared == nullptr) {
      // Built only here: zeroing an event costs several nanoseconds.
      AuditEvent local;
      SetEventFields(decider, ctx, target, decision, category_id, record_ref,
                     &local);
      recorded = sink->Record(local);
    } else {
      if (!*shared_started) {
        *shared_started = true;
        SetEventFields(decider, ctx, target, decision, category_id, record_ref,
                       shared);
      } else {
        SetDecisionFields(decision, category_id, record_ref, shared);
      }
      recorded = sink->Record(*shared);
    }
  }
  if (ABSL_PREDICT_FALSE(!recorded.ok())) {
    return AuditFailure(recorded, ctx, target);
  }
  if (reason == Reason::kStoreUnavailable) {
    return DenialStatus(reason, ctx.purpose(), category_id);
  }
  if (reason == Reason::kConsentDataLoss) {
    return DataLossDenial(ctx, target.subject, decision.revision(),
                          category_id);
  }
  if (decision.shadow_denial()) {
    internal::MutexLock lock(&shadow_mu);
    ++shadow_counts[std::make_tuple(std::string(ctx.accessor()),
                                    std::string(ctx.purpose()),
                                    std::string(category_id), reason)];
  }
  return absl::OkStatus();
}

absl::Status Guard::Impl::CheckCategories(
    const AccessContext& ctx, absl::string_view subject,
    absl::Span<const CategoryRef* const> categories, Decision* decisions) {
  Decider decider(*this, ctx);
  AuditSink* const sink_or_null = audit;
  const bool shadow_mode = shadow;
  // Decides every category; concludes the denials, and every decision when
  // `sink` is set, with `event` holding the fields they share.
  const auto decide_all = [&](AuditSink* sink, AuditEvent* event,
                              bool* event_started) -> absl::Status {
    for (std::size_t i = 0; i < categories.size(); ++i) {
      const CategoryRef& ref = *categories[i];
      const Target target{.subject = subject,
                          .category_policy = ref.policy_.get(),
                          .category = ref.index_,
                          .tags = nullptr};
      CategoryIndex category = target.category;
      Revision revision = 0;
      const Reason reason = decider.Decide(target, &category, &revision);
      // Stored in place: copying a Decision built on the stack reloads the
      // bytes just stored, and the reload stalls.
      decisions[i] = Decision(reason, revision, shadow_mode);
      if (ABSL_PREDICT_TRUE(sink == nullptr && IsAllowingReason(reason))) {
        continue;
      }
      RETURN_IF_ERROR(Conclude(decider, ctx, target, category, decisions[i],
                               sink, event, event_started));
    }
    return absl::OkStatus();
  };
  if (sink_or_null == nullptr) return decide_all(nullptr, nullptr, nullptr);
  // One event per category, as `Check` records it; the fields shared by
  // all of them (including the one time read for this subject) are set
  // once. Not built without a sink: zeroing it costs about as much as a
  // decision.
  AuditEvent event;
  bool event_started = false;
  return decide_all(sink_or_null, &event, &event_started);
}

Reason Guard::Impl::ConsumeOccasionConsent(absl::string_view subject,
                                           absl::string_view purpose,
                                           absl::string_view occasion,
                                           std::int64_t now_ns) {
  // Optimistic concurrency on the subject's revision: of two concurrent
  // uses, one wins and the other sees the consent used.
  for (int attempt = 0; attempt < 8; ++attempt) {
    absl::StatusOr<v1::ConsentRecord> record = store->Get(subject);
    if (!record.ok()) return Reason::kStoreUnavailable;
    const v1::PurposeConsent* entry = nullptr;
    for (const v1::PurposeConsent& pc : record->purposes()) {
      if (pc.purpose() == purpose && pc.occasion_id() == occasion) entry = &pc;
    }
    if (entry == nullptr || entry->state() != v1::CONSENT_STATE_GIVEN) {
      return Reason::kNoOccasionConsent;
    }
    if (entry->has_used_time()) return Reason::kOccasionConsentUsed;
    v1::ConsentChange change;
    change.set_subject_id(std::string(subject));
    change.set_expected_revision(record->revision());
    change.set_actor("consentry.guard: single-use occasion consent used");
    *change.mutable_purpose_consent() = *entry;
    change.mutable_purpose_consent()->mutable_used_time()->set_seconds(
        now_ns / 1'000'000'000);
    change.mutable_purpose_consent()->mutable_used_time()->set_nanos(
        static_cast<std::int32_t>(now_ns % 1'000'000'000));
    absl::StatusOr<Revision> rev = store->Apply(change);
    if (rev.ok()) return Reason::kAllowedOccasionConsent;
    if (rev.status().code() != absl::StatusCode::kAborted) {
      return Reason::kStoreUnavailable;
    }
  }
  return Reason::kStoreUnavailable;
}

absl::StatusOr<RecordTags> Guard::Acquire(
    absl::string_view accessor, absl::string_view subject,
    absl::string_view category,
    absl::Span<const absl::string_view> collected_for,
    absl::Span<const absl::string_view> prohibited,
    absl::string_view record_ref) {
  absl::StatusOr<RecordTags> tags =
      Tag(subject, category, collected_for, prohibited, record_ref);
  if (!tags.ok()) return tags.status();
  const CompiledPolicy& p = *tags->policy_;
  absl::StatusOr<AccessorIndex> a = p.FindAccessor(accessor);
  if (!a.ok()) return a.status();
  const int purpose = p.acquisition_purpose(tags->category_);
  if (purpose < 0) return tags;  // acquiring this category needs no consent
  // Made before `tags` is moved: it shares the tags' policy.
  AccessContext ctx(
      tags->policy_, *a, static_cast<PurposeIndex>(purpose),
      p.declarable_by(*a).Contains(static_cast<PurposeIndex>(purpose)), "");
  return impl_->Acquire(ctx, *std::move(tags));
}

Reason Guard::Impl::AcquisitionReason(Decider& decider,
                                      absl::string_view subject,
                                      Revision* revision) {
  *revision = 0;
  // After a policy switch, a purpose the enforced policy lacks.
  if (decider.context_reason != Reason::kUnspecified) {
    return decider.context_reason;
  }
  // The cache may miss a withdrawal.
  if (bounded_staleness &&
      FeedStale(has_clock ? absl::GetCurrentTimeNanos() : decider.now_ns())) {
    return Reason::kConsentStale;
  }
  const bool ok = decider.LookUp(subject, 0, nullptr, nullptr);
  *revision = decider.revision;
  if (!ok) return decider.lookup_failure;
  const SubjectProfile* s = decider.state;
  if (s->flags & SubjectProfile::kErased) {
    return (s->flags & SubjectProfile::kDataLoss) ? Reason::kConsentDataLoss
                                                  : Reason::kSubjectErased;
  }
  const std::uint64_t bit = std::uint64_t{1} << decider.purpose;
  // Withdrawn or refused (for the purpose or a parent) outranks a consent
  // given to a child, as for reads.
  if ((s->withdrawn | s->refused) & bit) return Reason::kNoAcquisitionConsent;
  return (s->given & bit) ? Reason::kAllowedConsent
                          : Reason::kNoAcquisitionConsent;
}

absl::StatusOr<RecordTags> Guard::Impl::Acquire(const AccessContext& ctx,
                                                RecordTags tags) {
  Decider decider(*this, ctx);
  Revision revision = 0;
  const Reason reason = AcquisitionReason(decider, tags.subject(), &revision);
  const Decision decision(reason, revision, shadow);
  const std::string purpose(ctx.purpose());
  if (audit != nullptr) {
    AuditEvent e;
    e.time_unix_nanos = decider.now_ns();
    e.action = AuditAction::kAcquire;
    e.accessor = ctx.accessor();
    e.subject = tags.subject();
    e.category = tags.category();
    e.purpose = purpose;
    e.policy_version = decider.p.version();
    e.record_ref = tags.record_ref();
    e.reason = reason;
    e.revision = revision;
    e.shadow = decision.shadow_denial();
    const absl::Status recorded = audit->Record(e);
    if (!recorded.ok()) {
      return DenialStatus(absl::IsResourceExhausted(recorded)
                              ? Reason::kAuditOverloaded
                              : Reason::kAuditUnavailable,
                          purpose, tags.category());
    }
  }
  if (decision.allowed()) return tags;
  if (reason == Reason::kStoreUnavailable) {
    return DenialStatus(reason, purpose, tags.category());
  }
  if (reason == Reason::kConsentDataLoss) {
    return DataLossDenial(ctx, tags.subject(), revision, tags.category());
  }
  if (decision.shadow_denial()) {
    internal::MutexLock lock(&shadow_mu);
    ++shadow_counts[std::make_tuple(std::string(ctx.accessor()), purpose,
                                    std::string(tags.category()), reason)];
    return tags;
  }
  const absl::Status denial = DenialStatus(reason, purpose, tags.category());
  absl::Status s(denial.code(),
                 absl::StrCat("Acquire: subject '", tags.subject(), "'",
                              revision == 0 ? " (no consent record)" : "", ": ",
                              denial.message()));
  denial.ForEachPayload([&s](absl::string_view url, const absl::Cord& payload) {
    s.SetPayload(url, payload);
  });
  return s;
}

absl::StatusOr<Decision> Guard::Check(const AccessContext& ctx,
                                      absl::string_view subject,
                                      const CategoryRef& category,
                                      Revision min_revision) {
  // As `Check` on a `SubjectRef`: the common case decides here, without a
  // call; `CheckId` has the rest.
  if (ABSL_PREDICT_TRUE(impl_->lean_enabled)) {
    const Decision d =
        impl_->TryWarmLean<false>(ctx, subject, category, min_revision);
    if (ABSL_PREDICT_TRUE(d.reason() != Reason::kUnspecified)) return d;
  }
  return Impl::CheckId(*this, ctx, subject, category, min_revision);
}

ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<Decision> Guard::Impl::CheckId(
    const Guard& guard, const AccessContext& ctx, absl::string_view subject,
    const CategoryRef& category, Revision min_revision) {
  return guard.impl_->CheckId(ctx, subject, category, min_revision);
}

absl::StatusOr<Decision> Guard::Impl::CheckId(const AccessContext& ctx,
                                              absl::string_view subject,
                                              const CategoryRef& category,
                                              Revision min_revision) {
  if (ABSL_PREDICT_TRUE(warm_enabled)) {
    Decision d(Reason::kUnspecified, 0);
    // As `CheckRef`: a warm check that reads the feed's heartbeat through
    // a call (`lean_enabled` false) decides on the lean path with its
    // calls. (With `lean_enabled`, `Check` has tried it already.)
    if (feed_test && !lean_enabled) {
      d = TryWarmLean<true>(ctx, subject, category, min_revision);
      if (ABSL_PREDICT_TRUE(d.reason() != Reason::kUnspecified)) return d;
    }
    WarmProbe probe;
    std::uint32_t unused_slot;
    if (ABSL_PREDICT_TRUE(TryWarm(ctx, subject, nullptr, category, min_revision,
                                  &d, &probe, &unused_slot))) {
      return d;
    }
    return HandOver(ctx, subject, nullptr, category, min_revision, probe);
  }
  if (warm_audited) {
    return CheckWarmAudited(ctx, subject, nullptr, category, min_revision);
  }
  return Decide(ctx,
                Target{.subject = subject,
                       .category_policy = category.policy_.get(),
                       .category = category.index_,
                       .tags = nullptr,
                       .min_revision = min_revision},
                nullptr, nullptr, nullptr);
}

absl::StatusOr<Decision> Guard::Check(const AccessContext& ctx,
                                      const SubjectRef& subject,
                                      const CategoryRef& category,
                                      Revision min_revision) {
  // The common case decides here, without a call; `CheckRef` (not
  // inlined, with the same arguments) has the rest, so that this function
  // keeps few values and saves few registers.
  if (ABSL_PREDICT_TRUE(impl_->lean_enabled)) {
    const Decision d =
        impl_->TryWarmLean<false>(ctx, subject, category, min_revision);
    if (ABSL_PREDICT_TRUE(d.reason() != Reason::kUnspecified)) return d;
  }
  return Impl::CheckRef(*this, ctx, subject, category, min_revision);
}

SubjectRef Guard::Subject(absl::string_view subject) const {
  const std::uint64_t hash = internal::ConsentCache::Hash(subject);
  internal::ReadSection section;
  internal::ConsentCache& cache =
      impl_->current.load(std::memory_order_acquire)->cache;
  internal::ConsentCache::Hint hint = cache.HintFor(subject, hash);
  // The first ref resolved for a cached subject numbers its state copy
  // (under the cache's writer lock; later ones find the number).
  if (hint.table != nullptr && hint.ref == 0) {
    hint.ref = cache.RefFor(subject, hash);
  }
  return SubjectRef(subject, hash,
                    hint.table != nullptr ? hint.slot : SubjectRef::kNoSlot,
                    hint.ref);
}

// ---------------------------------------------------------------------------
// SubjectRef

SubjectRef::SubjectRef(absl::string_view id, std::uint64_t hash,
                       std::size_t slot, std::uint64_t ref)
    : ref_(id.size() <= kInline ? ref : 0),
      tag_(id.size() <= kInline ? internal::ConsentCache::TagOf(hash, id.size())
                                : kLong),
      slot_(slot < kNoSlot ? static_cast<std::uint32_t>(slot) : kNoSlot) {
  static_assert(kInline == internal::ConsentCache::kInlineKey,
                "a SubjectRef pads its id as the consent cache's slots do");
  static_assert(sizeof(SubjectRef) == 32);
  static_assert(sizeof(internal::SubjectKey::inline_) == kInline,
                "a record's SubjectKey pads its id as a SubjectRef does");
  // No tag of an inline id is `kLong` (24 bits), and `id` reads the
  // length back from it.
  static_assert(internal::ConsentCache::kInlineKey < 256);
  if (tag_ == kLong) {
    long_ = LongId{new std::string(id), hash};
  } else {
    std::memset(inline_, 0, kInline);
    if (!id.empty()) std::memcpy(inline_, id.data(), id.size());
  }
}

std::uint64_t SubjectRef::hash() const {
  return tag_ == kLong ? long_.hash : internal::ConsentCache::Hash(id());
}

SubjectRef::SubjectRef(const SubjectRef& other)
    : ref_(other.ref_), tag_(other.tag_), slot_(other.slot_) {
  if (tag_ == kLong) {
    long_ = LongId{new std::string(*other.long_.id), other.long_.hash};
  } else {
    std::memcpy(inline_, other.inline_, kInline);
  }
}

// A moved-from ref holds the empty id, with no ref word and no hint.
void SubjectRef::ClearMovedFrom() {
  ref_ = 0;
  tag_ = internal::ConsentCache::TagOf(internal::ConsentCache::Hash(""), 0);
  slot_ = kNoSlot;
  std::memset(inline_, 0, kInline);
}

SubjectRef::SubjectRef(SubjectRef&& other) noexcept
    : ref_(other.ref_), tag_(other.tag_), slot_(other.slot_) {
  if (tag_ == kLong) {
    long_ = other.long_;
    other.ClearMovedFrom();
  } else {
    std::memcpy(inline_, other.inline_, kInline);
  }
}

SubjectRef& SubjectRef::operator=(const SubjectRef& other) {
  if (this != &other) *this = SubjectRef(other);
  return *this;
}

SubjectRef& SubjectRef::operator=(SubjectRef&& other) noexcept {
  if (this == &other) return *this;
  if (tag_ == kLong) delete long_.id;
  ref_ = other.ref_;
  tag_ = other.tag_;
  slot_ = other.slot_;
  if (tag_ == kLong) {
    long_ = other.long_;
    other.ClearMovedFrom();
  } else {
    std::memcpy(inline_, other.inline_, kInline);
  }
  return *this;
}

SubjectRef::~SubjectRef() {
  if (tag_ == kLong) delete long_.id;
}

absl::StatusOr<Decision> Guard::Check(const AccessContext& ctx,
                                      const RecordTags& record,
                                      Revision min_revision) {
  return impl_->Decide(ctx,
                       Impl::Target{.subject = record.subject(),
                                    .category_policy = record.policy_.get(),
                                    .category = record.category_,
                                    .tags = &record,
                                    .min_revision = min_revision},
                       nullptr, nullptr, nullptr);
}

bool Guard::feed_stale() const {
  return impl_->bounded_staleness &&
         impl_->FeedStale(absl::GetCurrentTimeNanos());
}

absl::StatusOr<Guard::Authorization> Guard::Evaluate(const AccessContext& ctx,
                                                     const RecordTags& record,
                                                     Revision min_revision) {
  const CompiledPolicy* policy = nullptr;
  PurposeIndex purpose = 0;
  CategoryIndex category = 0;
  absl::StatusOr<Decision> d =
      impl_->Decide(ctx,
                    Impl::Target{.subject = record.subject(),
                                 .category_policy = record.policy_.get(),
                                 .category = record.category_,
                                 .tags = &record,
                                 .consume_single_use = true,
                                 .min_revision = min_revision},
                    &policy, &purpose, &category);
  if (!d.ok()) return d.status();
  Authorization out{*d, absl::nullopt};
  if (d->proceeds()) {
    out.grant.emplace(
        internal::GrantMinter::Mint(policy, record, category, purpose, *d));
  }
  return out;
}

namespace {
// `Authorize` where the warm path does not decide: `Evaluate`, its denial
// as a status. Out of line, so that the warm path saves fewer registers.
ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<AccessGrant> AuthorizeByEvaluate(
    Guard& guard, const AccessContext& ctx, const RecordTags& record,
    Revision min_revision) {
  absl::StatusOr<Guard::Authorization> a =
      guard.Evaluate(ctx, record, min_revision);
  if (!a.ok()) return a.status();
  if (!a->grant.has_value()) {
    return DenialStatus(a->decision.reason(), ctx.purpose(), record.category());
  }
  return *std::move(a->grant);
}
}  // namespace

absl::StatusOr<AccessGrant> Guard::Authorize(const AccessContext& ctx,
                                             const RecordTags& record,
                                             Revision min_revision) {
  if (ABSL_PREDICT_TRUE(impl_->warm_enabled)) {
    // One read section for the decision and its denial: the epoch that
    // decides also holds the denial's status (`Epoch::Denial`), which is
    // copied before the section ends.
    internal::ReadSection section;
    internal::Epoch& epoch = *impl_->current.load(std::memory_order_acquire);
    Decision d(Reason::kUnspecified, 0);
    if (ABSL_PREDICT_TRUE(
            impl_->TryWarmTagged(epoch, ctx, record, min_revision, &d))) {
      // Not in shadow mode (`warm_enabled`): proceeds when allowed.
      if (d.allowed()) {
        return internal::GrantMinter::Mint(record.policy_.get(), record,
                                           record.category_, ctx.purpose_, d);
      }
      // The context and the record were resolved under `epoch.policy`
      // (`TryWarmTagged`): `DenialStatus(reason, ctx.purpose(),
      // record.category())`, copied into the result (a reference count).
      const absl::Status* const built =
          epoch.BuiltDenial(d.reason(), record.category_, ctx.purpose_);
      if (ABSL_PREDICT_TRUE(built != nullptr)) return *built;
      return epoch.Denial(d.reason(), record.category_, ctx.purpose_);
    }
  }
  return AuthorizeByEvaluate(*this, ctx, record, min_revision);
}

absl::StatusOr<BatchGrant> Guard::AuthorizeBatch(
    const AccessContext& ctx, absl::Span<const RecordTags* const> records,
    absl::string_view batch_ref) {
  std::vector<Decision> out;
  out.reserve(records.size());
  absl::Status failure;
  for (const RecordTags* r : records) {
    absl::StatusOr<Decision> d =
        impl_->Decide(ctx,
                      Impl::Target{.subject = r->subject(),
                                   .category_policy = r->policy_.get(),
                                   .category = r->category_,
                                   .tags = r,
                                   .suppress_audit = true},
                      nullptr, nullptr, nullptr);
    if (!d.ok()) {
      failure = d.status();
      break;
    }
    out.push_back(*d);
  }
  RETURN_IF_ERROR(impl_->AuditBatch(ctx, records, batch_ref, out, failure));
  if (!failure.ok()) return failure;
  return internal::GrantMinter::MintBatch(
      std::move(out),
      std::vector<const RecordTags*>(records.begin(), records.end()));
}

absl::StatusOr<std::vector<Decision>> Guard::DecideBatch(
    const AccessContext& ctx, absl::Span<const RecordTags* const> records,
    absl::string_view batch_ref) {
  absl::StatusOr<BatchGrant> grant = AuthorizeBatch(ctx, records, batch_ref);
  if (!grant.ok()) return grant.status();
  return std::move(*grant).TakeDecisions();
}

absl::Status Guard::Impl::AuditBatch(
    const AccessContext& ctx, absl::Span<const RecordTags* const> records,
    absl::string_view batch_ref, absl::Span<const Decision> decisions,
    const absl::Status& failure) {
  if (audit == nullptr) return absl::OkStatus();
  absl::flat_hash_map<Reason, std::int64_t> excluded;
  std::int64_t included = 0;
  for (const Decision& d : decisions) {
    if (d.proceeds()) {
      ++included;
    } else {
      ++excluded[d.reason()];
    }
  }
  std::vector<std::pair<Reason, std::int64_t>> reasons(excluded.begin(),
                                                       excluded.end());
  std::sort(reasons.begin(), reasons.end());
  std::string detail =
      absl::StrCat("batch of ", records.size(), ": ", included, " included");
  for (const auto& [reason, n] : reasons) {
    absl::StrAppend(&detail, ", ", n, " excluded (", ReasonName(reason), ")");
  }
  if (!failure.ok()) absl::StrAppend(&detail, "; failed: ", failure.message());
  internal::ReadSection section;
  const CompiledPolicy& p = *current.load(std::memory_order_acquire)->policy;
  AuditEvent event;
  event.time_unix_nanos = has_clock ? absl::ToUnixNanos(options.clock())
                                    : absl::GetCurrentTimeNanos();
  event.action = AuditAction::kBatch;
  event.accessor = ctx.accessor();
  event.purpose = ctx.purpose();
  event.category =
      records.empty() ? absl::string_view() : records.front()->category();
  event.policy_version = p.version();
  event.record_ref = batch_ref;
  event.reason = failure.ok() ? (included > 0 ? Reason::kAllowedConsent
                                              : Reason::kNoConsent)
                              : Reason::kStoreUnavailable;
  event.records_included = included;
  event.records_excluded =
      static_cast<std::int64_t>(decisions.size()) - included;
  event.detail = detail;
  if (!audit->Record(event).ok()) {
    return DenialStatus(Reason::kAuditUnavailable, ctx.purpose(),
                        event.category);
  }
  return absl::OkStatus();
}

absl::Status Guard::Impl::Fill(Epoch& epoch) {
  if (epoch.cache.bounded()) return FillBounded(epoch);
  Revision after = 0;
  for (;;) {
    absl::StatusOr<std::vector<v1::ConsentRecord>> batch =
        store->ChangesSince(after, 10000);
    if (!batch.ok()) return batch.status();
    if (batch->empty()) return absl::OkStatus();
    const absl::Time now = options.clock();
    for (const v1::ConsentRecord& r : *batch) {
      epoch.Apply(r, now, false);
      NoteRecord(r);
      after = std::max(after, r.revision());
    }
  }
}

absl::Status Guard::Impl::FillBounded(Epoch& epoch) {
  // Each batch is installed under the marks taken before it was read, so a
  // change the feed delivered meanwhile is never overwritten by the batch.
  std::vector<std::uint64_t> marks(Epoch::kMarkShards);
  Revision after = 0;
  while (!epoch.cache.full()) {
    for (std::size_t i = 0; i < Epoch::kMarkShards; ++i) {
      marks[i] = epoch.marks[i].load(std::memory_order_acquire);
    }
    absl::StatusOr<std::vector<v1::ConsentRecord>> batch =
        store->ChangesSince(after, 10000);
    if (!batch.ok()) return batch.status();
    if (batch->empty()) return absl::OkStatus();
    const absl::Time now = options.clock();
    for (const v1::ConsentRecord& r : *batch) {
      if (epoch.cache.full()) break;
      const std::uint64_t hash = internal::ConsentCache::Hash(r.subject_id());
      if (!epoch.Install(r, now, false, hash, marks[Epoch::MarkShard(hash)])) {
        refill_races.fetch_add(1, std::memory_order_relaxed);
      }
      NoteRecord(r);
      after = std::max(after, r.revision());
    }
  }
  return absl::OkStatus();
}

absl::Status Guard::WarmCache() {
  internal::ReaderMutexLock lock(&impl_->switch_mu);
  return impl_->Fill(*impl_->current.load(std::memory_order_acquire));
}

absl::Status Guard::SetPolicy(std::shared_ptr<const CompiledPolicy> policy) {
  if (policy == nullptr) {
    return absl::InvalidArgumentError("SetPolicy: policy is null");
  }
  Impl& impl = *impl_;
  internal::MutexLock lock(&impl.switch_mu);
  auto next =
      std::make_unique<Epoch>(policy,
                              std::max(impl.options.expected_subjects,
                                       impl.current_owner->cache.size()),
                              impl.options.cache_budget_bytes);
  if (impl.compact != nullptr) {
    next->audit_policy_slot = impl.compact->AttachPolicy(policy);
  }
  RETURN_IF_ERROR(impl.Fill(*next));
  impl.current.store(next.get(), std::memory_order_seq_cst);
  // The old epoch is freed once every check that may have loaded it ended
  // (by reference, not by age: a check may wait on the store for long).
  impl.retired.push_back(
      Impl::RetiredEpoch{std::exchange(impl.current_owner, std::move(next)),
                         internal::Grace::Start()});
  impl.policies.push_back(std::move(policy));
  impl.retired.erase(
      std::remove_if(impl.retired.begin(), impl.retired.end(),
                     [](Impl::RetiredEpoch& r) { return r.grace.Elapsed(); }),
      impl.retired.end());
  return absl::OkStatus();
}

ABSL_ATTRIBUTE_NOINLINE absl::Status Guard::Impl::DataLossDenial(
    const AccessContext& ctx, absl::string_view subject, Revision revision,
    absl::string_view category) {
  // The detail (store, subject, what is wrong): from the store when it
  // still fails to read the record, else from the quarantine list.
  std::string detail;
  absl::StatusOr<v1::ConsentRecord> record = store->Get(subject);
  if (!record.ok()) {
    detail = std::string(record.status().message());
  } else {
    internal::MutexLock lock(&quarantine_mu);
    auto it = quarantined.find(subject);
    detail = it != quarantined.end()
                 ? it->second.second
                 : absl::StrCat("the consent record of subject '", subject,
                                "' at revision ", revision,
                                " was reported unreadable");
  }
  const absl::Status denial =
      DenialStatus(Reason::kConsentDataLoss, ctx.purpose(), category);
  absl::Status s =
      absl::DataLossError(absl::StrCat(denial.message(), ": ", detail));
  denial.ForEachPayload([&s](absl::string_view url, const absl::Cord& payload) {
    s.SetPayload(url, payload);
  });
  return s;
}

std::vector<QuarantinedSubject> Guard::QuarantinedSubjects() const {
  std::vector<QuarantinedSubject> out;
  {
    internal::MutexLock lock(&impl_->quarantine_mu);
    for (const auto& [subject, entry] : impl_->quarantined) {
      out.push_back(QuarantinedSubject{subject, entry.first, entry.second});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const QuarantinedSubject& a, const QuarantinedSubject& b) {
              return a.subject_id < b.subject_id;
            });
  return out;
}

GuardCacheStats Guard::cache_stats() const {
  GuardCacheStats out;
  internal::ReadSection section;
  const internal::ConsentCache& cache =
      impl_->current.load(std::memory_order_acquire)->cache;
  const internal::ConsentCache::Counts c = cache.counts();
  out.bounded = cache.bounded();
  out.cached_subjects = cache.size();
  out.hits = c.hits;
  out.negative_hits = c.negative_hits;
  out.evictions = c.evictions;
  out.misses = impl_->misses.load(std::memory_order_relaxed);
  out.store_reads = impl_->store_reads.load(std::memory_order_relaxed);
  out.refill_races = impl_->refill_races.load(std::memory_order_relaxed);
  out.reads_rejected = impl_->reads_rejected.load(std::memory_order_relaxed);
  return out;
}

std::size_t Guard::cached_subjects() const {
  internal::ReadSection section;
  return impl_->current.load(std::memory_order_acquire)->cache.size();
}

std::vector<ShadowDenialCount> Guard::ShadowReport() const {
  std::vector<ShadowDenialCount> out;
  {
    internal::MutexLock lock(&impl_->shadow_mu);
    for (const auto& [key, count] : impl_->shadow_counts) {
      out.push_back(ShadowDenialCount{std::get<0>(key), std::get<1>(key),
                                      std::get<2>(key), std::get<3>(key),
                                      count});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ShadowDenialCount& a, const ShadowDenialCount& b) {
              return std::tie(b.count, a.accessor, a.purpose, a.category) <
                     std::tie(a.count, b.accessor, b.purpose, b.category);
            });
  return out;
}

// ---------------------------------------------------------------------------
// Internal entry points (src/core/guard_impl.h)

namespace internal {

absl::Status CheckCategories(Guard& guard, const AccessContext& ctx,
                             absl::string_view subject,
                             absl::Span<const CategoryRef* const> categories,
                             Decision* decisions) {
  return guard.impl().CheckCategories(ctx, subject, categories, decisions);
}

ConsentStore* ConsentStoreOf(const Guard& guard) { return guard.impl().store; }

AuditSink* AuditSinkOf(const Guard& guard) { return guard.impl().audit; }

void SuspendAudit(Guard& guard, bool suspended) {
  Guard::Impl& impl = guard.impl();
  if (suspended && impl.audit != nullptr) {
    impl.suspended_audit = std::exchange(impl.audit, nullptr);
    impl.suspended_compact = std::exchange(impl.compact, nullptr);
  } else if (!suspended && impl.suspended_audit != nullptr) {
    impl.audit = std::exchange(impl.suspended_audit, nullptr);
    impl.compact = std::exchange(impl.suspended_compact, nullptr);
  }
  impl.UpdateWarm();
}

void ForceGeneralPath(Guard& guard, bool forced) {
  Guard::Impl& impl = guard.impl();
  impl.general_forced = forced;
  impl.UpdateWarm();
}

}  // namespace internal
}  // namespace consentry
