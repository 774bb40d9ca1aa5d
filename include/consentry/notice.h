// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: notice.h
// -----------------------------------------------------------------------------
//
// Texts generated from the policy, so that what people are told is exactly
// what is enforced: the "purposes of use" section (APPI Art. 21) in Japanese
// or English, and for a material change, the announcement listing what
// changed (policy §9). Output is Markdown.
//
// Example:
//
//   std::string ja =
//       consentry::PurposeNotice(*policy, consentry::Language::kJa);
//   std::string staff = consentry::PurposeNotice(
//       *policy, consentry::Language::kEn,
//       consentry::v1::SUBJECT_KIND_EMPLOYEE);
//   std::string news =
//       consentry::ChangeAnnouncement(diff, *policy, consentry::Language::kEn);

#ifndef CONSENTRY_NOTICE_H_
#define CONSENTRY_NOTICE_H_

#include <string>

#include "consentry/export.h"
#include "consentry/policy.h"
#include "consentry/v1/consent.pb.h"
#include "consentry/v1/policy.pb.h"

namespace consentry {

enum class Language { kJa, kEn };

// The purposes of use as a subject of `kind` is told them: each catalogue
// purpose that serves `kind` (policy.h, subject kinds) with its description
// and the data categories of that kind it uses on which basis; the rule for
// purposes outside the catalogue; retention; the contact window. A purpose
// or category the policy restricts to other kinds is left out (customers
// are not told of `employment`); for `SUBJECT_KIND_UNSPECIFIED` only what
// the policy does not restrict is listed.
CONSENTRY_EXPORT std::string PurposeNotice(const CompiledPolicy& policy,
                                           Language language,
                                           v1::SubjectKind kind);

// The notice customers are given: `PurposeNotice(policy, language,
// v1::SUBJECT_KIND_CUSTOMER)`.
CONSENTRY_EXPORT std::string PurposeNotice(const CompiledPolicy& policy,
                                           Language language);

// The announcement of a new version: its effective time and every material
// change, then the other changes. `after` is the new policy.
CONSENTRY_EXPORT std::string ChangeAnnouncement(const v1::PolicyDiff& diff,
                                                const CompiledPolicy& after,
                                                Language language);

}  // namespace consentry

#endif  // CONSENTRY_NOTICE_H_
