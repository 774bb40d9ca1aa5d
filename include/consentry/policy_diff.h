// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: policy_diff.h
// -----------------------------------------------------------------------------
//
// What changed between two policy versions, and what that means for consent
// already given. A change is *material* when it lets data be used in a way
// the person could not expect from the version they consented under:
//
//   * a new purpose, or a purpose moved under another parent;
//   * a category newly allowed for a purpose;
//   * a basis weakened (opt-in -> opt-out, opt-out -> necessary,
//     opt-in -> necessary);
//   * a retention period lengthened (or a limit removed);
//   * a category's special rules loosened.
//
// Wording (names, descriptions), removals and strengthening are not
// material. Consent given before a material change that touched its purpose
// or category no longer counts (`Reason::kConsentPredatesMaterialChange`)
// once the new policy carries the matching `reconsent` requirements, and
// `ReconsentList` names the people to ask again.
//
// Example:
//
//   absl::StatusOr<consentry::v1::PolicyDiff> diff =
//       consentry::DiffPolicies(old_proto, new_proto);
//   for (const auto& c : diff->changes()) {
//     std::cout << (c.material() ? "MATERIAL " : "         ")
//               << c.summary().en() << "\n";
//   }
//   consentry::v1::Policy next = new_proto;
//   consentry::AddReconsentRequirements(*diff, next);

#ifndef CONSENTRY_POLICY_DIFF_H_
#define CONSENTRY_POLICY_DIFF_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "consentry/consent.h"
#include "consentry/export.h"
#include "consentry/policy.h"
#include "consentry/v1/policy.pb.h"

namespace consentry {

// Compares two policy documents; each change is classified and summarised
// in Japanese and English. Both must validate.
// Errors: `kInvalidArgument` naming which side fails validation and why.
CONSENTRY_EXPORT absl::StatusOr<v1::PolicyDiff> DiffPolicies(
    const v1::Policy& before, const v1::Policy& after);

// Adds to `after` the re-consent requirements implied by the material
// changes of `diff` (since `diff.to_version()`), and records
// `diff.from_version()` in its version history when missing. Requirements
// already present are kept.
CONSENTRY_EXPORT void AddReconsentRequirements(const v1::PolicyDiff& diff,
                                               v1::Policy& after);

// The people to ask again for one purpose.
struct ReconsentEntry {
  std::string purpose;
  std::vector<std::string> categories;  // empty: every category
  std::string since_version;
  std::vector<std::string> subjects;  // sorted
};

// For each re-consent requirement of `policy`, the subjects whose consent
// to the purpose (or a parent) predates it. Reads every record of `store`.
// Errors: those of `ConsentStore::ChangesSince`.
CONSENTRY_EXPORT absl::StatusOr<std::vector<ReconsentEntry>> ReconsentList(
    const CompiledPolicy& policy, ConsentStore& store);

}  // namespace consentry

#endif  // CONSENTRY_POLICY_DIFF_H_
