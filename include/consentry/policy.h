// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: policy.h
// -----------------------------------------------------------------------------
//
// A `CompiledPolicy` is a validated `consentry.v1.Policy` turned into flat
// tables: purpose hierarchy as bitsets, the (category, purpose) -> basis
// table, and the purposes each accessor may declare. It is built once per
// policy version and shared, immutable, by every Guard that enforces it.
//
// Validation rejects, with the field path and the offending value: a missing
// or empty version, a malformed or duplicate id, an unknown purpose or
// category referenced anywhere, a cycle in the purpose hierarchy, a special
// category given an opt-out basis, a rule without a basis, a per-occasion
// purpose on any basis other than opt-in, a retention rule with an unknown
// category or purpose or a non-positive period, a re-consent requirement
// naming an unknown purpose, category or version, and more purposes or
// categories than the compiled form holds. Each approval (`approvals`, who
// approved the version and when) must name the approver and carry a time
// within years 1 to 9999; its strings must be valid UTF-8 of at most 4096
// bytes, and there may be at most 100 approvals.
//
// A category with `requires_specific_consent` (secrecy of communications)
// is usable only for purposes its rules name one by one, so validation also
// rejects, for such a category, an opt-out basis (even when the category is
// not marked special) and a blanket rule. A rule is blanket when
//   * it names a purpose that has child purposes (a root with children
//     included): the rule would reach purposes it does not name, since a
//     rule for a parent covers its descendants; or
//   * it names more than `kMaxPurposesPerSpecificRule` purposes.
// A root purpose without children (`support` in the default policy) is as
// narrow as any leaf and is accepted.
//
// Subject kinds (policy §7.3, Scope): a category or a purpose may name the
// kinds of subject it applies to (`subject_kinds`, e.g. `employee` data and
// the `employment` purpose only for employees). Validation rejects
// `SUBJECT_KIND_UNSPECIFIED`, an unknown value, a duplicate, and a child
// purpose naming a kind its parent does not serve. A purpose serves the
// kinds it and every ancestor name; a read of category `c` for purpose `p`
// is open to the kinds both serve (`subject_kinds(c, p)`). A subject whose
// record states no kind, or who has no record, is of no listed kind: where
// the policy restricts kinds it is denied (`kSubjectKindUnknown`); where it
// does not, every kind is served.
//
// Acquisition (APPI Art. 20(2)): a special category may name an
// `acquisition_purpose`, the consent that `Guard::Acquire` requires before
// a record of it is acquired. Validation rejects it on a category that is
// not special, an unknown or per-occasion purpose, and a purpose (or an
// ancestor or descendant of it) that any rule lets use data.
//
// Example:
//
//   #include "consentry/proto_io.h"  // LoadPolicyFile
//
//   absl::StatusOr<consentry::v1::Policy> proto =
//       consentry::LoadPolicyFile("policies/default.textproto");
//   if (!proto.ok()) return proto.status();
//   absl::StatusOr<std::shared_ptr<const consentry::CompiledPolicy>> policy =
//       consentry::CompiledPolicy::Compile(*proto);
//   if (!policy.ok()) return policy.status();  // names the bad field

#ifndef CONSENTRY_POLICY_H_
#define CONSENTRY_POLICY_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "consentry/export.h"
#include "consentry/purpose.h"

namespace consentry {

namespace v1 {
class Policy;
}  // namespace v1

// At most this many purposes in one rule for a category that requires
// specific consent; a longer rule is rejected as blanket.
inline constexpr int kMaxPurposesPerSpecificRule = 4;

// Legal basis of a (category, purpose) pair in compiled form.
enum class Basis : std::uint8_t {
  kNotAllowed = 0,  // the policy does not let this purpose use the category
  kNecessary = 1,
  kOptIn = 2,
  kOptOut = 3,
};

// Stable name of `b`: "not_allowed", "necessary", "opt_in", "opt_out".
CONSENTRY_EXPORT absl::string_view BasisName(Basis b);

// A set of subject kinds: bit k stands for `consentry.v1.SubjectKind` k
// (bit 0 for `SUBJECT_KIND_UNSPECIFIED`).
using SubjectKindMask = std::uint8_t;
// Every kind, unspecified included: what an unrestricted category or
// purpose serves.
inline constexpr SubjectKindMask kAllSubjectKinds = 0x0F;
// The bit of kind number `kind`; a number outside the known kinds counts as
// unspecified.
constexpr SubjectKindMask SubjectKindBit(int kind) {
  return static_cast<SubjectKindMask>(1u
                                      << ((kind >= 1 && kind <= 3) ? kind : 0));
}

// A validated, compiled policy. Immutable; safe to share between threads.
// Created only by `Compile`, always owned by a `shared_ptr<const>`.
class CONSENTRY_EXPORT CompiledPolicy {
 public:
  // Validates `policy` and compiles it.
  //
  // Errors: `kInvalidArgument` naming the field path and value for every
  // validation failure listed in the file comment; `kResourceExhausted`
  // when there are more than `kMaxPurposes` purposes or `kMaxCategories`
  // categories.
  static absl::StatusOr<std::shared_ptr<const CompiledPolicy>> Compile(
      const v1::Policy& policy);

  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;
  ~CompiledPolicy();

  const std::string& version() const { return version_; }
  // The source document.
  const v1::Policy& proto() const { return *proto_; }
  // True when the document records at least one approval
  // (`v1::Policy.approvals`, policy §3). An unapproved policy compiles and
  // may be enforced (drafts, tests); `consentctl policy show` flags it.
  bool approved() const;

  int purpose_count() const { return static_cast<int>(purpose_ids_.size()); }
  int category_count() const { return static_cast<int>(category_ids_.size()); }
  int accessor_count() const { return static_cast<int>(accessor_ids_.size()); }

  // Lookups by id. Errors: `kNotFound` naming the unknown id.
  absl::StatusOr<PurposeIndex> FindPurpose(absl::string_view id) const;
  absl::StatusOr<CategoryIndex> FindCategory(absl::string_view id) const;
  absl::StatusOr<AccessorIndex> FindAccessor(absl::string_view id) const;

  // Ids by index. REQUIRES: the index is below the matching count.
  absl::string_view purpose_id(PurposeIndex p) const { return purpose_ids_[p]; }
  absl::string_view category_id(CategoryIndex c) const {
    return category_ids_[c];
  }
  absl::string_view accessor_id(AccessorIndex a) const {
    return accessor_ids_[a];
  }

  // `p` and all purposes below it.
  PurposeSet descendants(PurposeIndex p) const { return descendants_[p]; }
  // `p` and all purposes above it.
  PurposeSet ancestors(PurposeIndex p) const { return ancestors_[p]; }
  // The parent of `p`, or -1 for a root.
  int parent(PurposeIndex p) const { return parent_[p]; }
  // Union of `descendants(p)` over every p in `s`.
  PurposeSet DescendantsOf(PurposeSet s) const;
  // Union of `ancestors(p)` over every p in `s`.
  PurposeSet AncestorsOf(PurposeSet s) const;

  // Purposes outside the published catalogue (per-occasion consent only).
  PurposeSet per_occasion() const { return per_occasion_; }
  bool special(CategoryIndex c) const { return special_[c]; }
  bool requires_specific_consent(CategoryIndex c) const {
    return specific_consent_[c];
  }

  // The basis on which `p` may use `c`; `kNotAllowed` when it may not.
  Basis basis(CategoryIndex c, PurposeIndex p) const {
    return basis_[static_cast<std::size_t>(c) * kMaxPurposes + p];
  }
  // Purposes that may use `c` on any basis.
  PurposeSet allowed_for(CategoryIndex c) const { return allowed_[c]; }
  // Purposes accessor `a` may declare.
  PurposeSet declarable_by(AccessorIndex a) const { return declarable_[a]; }

  // Position of `version` in this policy's history: 1 for the oldest entry
  // of `version_history`, history size + 1 for this version, 0 for a version
  // the policy does not know (treated as older than all).
  int VersionOrdinal(absl::string_view version) const;
  // Consent to `p` counts for `c` only when given under a version whose
  // ordinal is at least this (a material change touched the pair); 0 when
  // any version counts.
  int min_consent_ordinal(CategoryIndex c, PurposeIndex p) const {
    return min_ordinal_[static_cast<std::size_t>(c) * kMaxPurposes + p];
  }
  // True when some (category, purpose) pair has a re-consent requirement.
  bool has_reconsent() const { return has_reconsent_; }
  // How long after collection `c` may be used for `p`;
  // `absl::InfiniteDuration()` when the policy sets no limit.
  absl::Duration retention(CategoryIndex c, PurposeIndex p) const {
    return retention_[static_cast<std::size_t>(c) * kMaxPurposes + p];
  }
  // The subject kinds category `c` may hold data of; `kAllSubjectKinds`
  // when the policy does not restrict it.
  SubjectKindMask category_subject_kinds(CategoryIndex c) const {
    return category_kinds_[c];
  }
  // The subject kinds purpose `p` may serve: those it and each ancestor
  // name; `kAllSubjectKinds` when none of them restricts.
  SubjectKindMask purpose_subject_kinds(PurposeIndex p) const {
    return purpose_kinds_[p];
  }
  // The kinds whose data of `c` may be read for `p`.
  SubjectKindMask subject_kinds(CategoryIndex c, PurposeIndex p) const {
    return static_cast<SubjectKindMask>(category_kinds_[c] & purpose_kinds_[p]);
  }
  // The complement of `subject_kinds(c, p)` among the four kinds: the kinds
  // a read of `c` for `p` is denied for. Precompiled, for the check path.
  SubjectKindMask kinds_denied(CategoryIndex c, PurposeIndex p) const {
    return kinds_denied_[static_cast<std::size_t>(c) * kMaxPurposes + p];
  }
  // True when data of `c` may be read for `p` for a subject of kind number
  // `kind` (`consentry.v1.SubjectKind`).
  bool ServesSubjectKind(CategoryIndex c, PurposeIndex p, int kind) const {
    return (subject_kinds(c, p) & SubjectKindBit(kind)) != 0;
  }
  // The purpose whose prior consent acquiring a record of `c` needs, or -1
  // when acquiring `c` needs none.
  int acquisition_purpose(CategoryIndex c) const {
    return acquisition_purpose_[c];
  }

  // Smallest cohort (distinct subjects) an aggregate may report.
  int min_cohort_size() const { return min_cohort_size_; }
  // True when category `c` has any retention limit.
  bool has_retention(CategoryIndex c) const { return has_retention_[c]; }

 private:
  // Compiles a policy section by section (policy.cc).
  struct Compiler;
  CompiledPolicy();

  std::unique_ptr<v1::Policy> proto_;
  std::string version_;
  std::vector<std::string> purpose_ids_;
  std::vector<std::string> category_ids_;
  std::vector<std::string> accessor_ids_;
  absl::flat_hash_map<std::string, PurposeIndex> purpose_index_;
  absl::flat_hash_map<std::string, CategoryIndex> category_index_;
  absl::flat_hash_map<std::string, AccessorIndex> accessor_index_;
  std::array<PurposeSet, kMaxPurposes> descendants_{};
  std::array<PurposeSet, kMaxPurposes> ancestors_{};
  std::array<int, kMaxPurposes> parent_{};
  PurposeSet per_occasion_;
  std::array<bool, kMaxCategories> special_{};
  std::array<bool, kMaxCategories> specific_consent_{};
  std::array<PurposeSet, kMaxCategories> allowed_{};
  std::vector<Basis> basis_;  // kMaxCategories x kMaxPurposes
  std::vector<PurposeSet> declarable_;
  absl::flat_hash_map<std::string, int> version_ordinal_;
  std::vector<std::uint8_t> min_ordinal_;  // kMaxCategories x kMaxPurposes
  bool has_reconsent_ = false;
  int min_cohort_size_ = 10;
  std::vector<absl::Duration> retention_;  // kMaxCategories x kMaxPurposes
  std::array<bool, kMaxCategories> has_retention_{};
  std::array<SubjectKindMask, kMaxCategories> category_kinds_{};
  std::array<SubjectKindMask, kMaxPurposes> purpose_kinds_{};
  std::vector<SubjectKindMask> kinds_denied_;  // kMaxCategories x kMaxPurposes
  std::array<int, kMaxCategories> acquisition_purpose_{};
};

}  // namespace consentry

#endif  // CONSENTRY_POLICY_H_
