// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/retention.h"

#include <algorithm>

namespace consentry {

std::vector<RetentionDue> RetentionReport(const CompiledPolicy& policy,
                                          absl::Span<const RecordTags> records,
                                          absl::Time now) {
  std::vector<RetentionDue> out;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const RecordTags& t = records[i];
    absl::StatusOr<CategoryIndex> c = policy.FindCategory(t.category());
    absl::Time until = absl::InfinitePast();
    if (c.ok()) {
      // Every purpose the record complies with (in its own policy), mapped
      // to `policy` by id.
      const CompiledPolicy& own = t.policy();
      (t.allowed_purposes()).ForEach([&](PurposeIndex own_p) {
        if (t.prohibited_purposes().Contains(own_p)) return;
        absl::StatusOr<PurposeIndex> p =
            policy.FindPurpose(own.purpose_id(own_p));
        if (!p.ok() || policy.basis(*c, *p) == Basis::kNotAllowed) return;
        const absl::Duration keep = policy.retention(*c, *p);
        until = std::max(until, keep == absl::InfiniteDuration()
                                    ? absl::InfiniteFuture()
                                    : t.collected_at() + keep);
      });
    }
    if (until < now) {
      out.push_back(RetentionDue{i, t.subject(), std::string(t.category()),
                                 t.record_ref(), t.collected_at(), until});
    }
  }
  return out;
}

}  // namespace consentry
