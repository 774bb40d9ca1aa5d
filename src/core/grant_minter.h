// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The only code that may construct an AccessGrant or a BatchGrant. Internal;
// never installed.

#ifndef CONSENTRY_SRC_INTERNAL_GRANT_MINTER_H_
#define CONSENTRY_SRC_INTERNAL_GRANT_MINTER_H_

#include <utility>
#include <vector>

#include "consentry/guard.h"

namespace consentry::internal {

class GrantMinter {
 public:
  // A grant for `record` (by its id: the grant owns no copy of the tags).
  static AccessGrant Mint(const CompiledPolicy* policy,
                          const RecordTags& record, CategoryIndex category,
                          PurposeIndex purpose, Decision decision) {
    return AccessGrant(policy, record.id_, category, purpose, decision);
  }
  static BatchGrant MintBatch(std::vector<Decision> decisions,
                              std::vector<const RecordTags*> records) {
    return BatchGrant(std::move(decisions), std::move(records));
  }
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_GRANT_MINTER_H_
