// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The only code that may construct an AccessGrant or a BatchGrant. Internal;
// never installed.

#ifndef CONSENTRY_SRC_INTERNAL_GRANT_MINTER_H_
#define CONSENTRY_SRC_INTERNAL_GRANT_MINTER_H_

#include <string>
#include <utility>
#include <vector>

#include "consentry/guard.h"

namespace consentry::internal {

class GrantMinter {
 public:
  static AccessGrant Mint(const CompiledPolicy* policy, std::string subject,
                          CategoryIndex category, PurposeIndex purpose,
                          Decision decision) {
    return AccessGrant(policy, std::move(subject), category, purpose, decision);
  }
  static BatchGrant MintBatch(std::vector<Decision> decisions,
                              std::vector<const RecordTags*> records) {
    return BatchGrant(std::move(decisions), std::move(records));
  }
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_GRANT_MINTER_H_
