// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Builds the answers to purpose-notice and disclosure requests from the
// library's records. Internal; the desk calls these only with a verified
// subject.

#ifndef CONSENTRY_SRC_INTERNAL_REQUEST_ANSWERS_H_
#define CONSENTRY_SRC_INTERNAL_REQUEST_ANSWERS_H_

#include <string>

#include "absl/time/time.h"
#include "consentry/policy.h"
#include "consentry/v1/consent.pb.h"
#include "consentry/v1/request.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace consentry::internal {

google::protobuf::Timestamp ToProtoTime(absl::Time t);
absl::Time FromProtoTime(const google::protobuf::Timestamp& t);

// The purposes of use the policy catalogues (leaf purposes that may use at
// least one category; per-occasion purposes only when the record holds a
// consent entry for them), the categories and basis of each, and the
// person's consent state and suspension for each. Only what serves the
// record's subject kind is listed (`CompiledPolicy::ServesSubjectKind`).
v1::PurposeNotice BuildPurposeNotice(const CompiledPolicy& policy,
                                     const v1::ConsentRecord& record,
                                     absl::Time now);

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_REQUEST_ANSWERS_H_
