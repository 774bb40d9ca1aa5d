// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/decision.h"

#include "absl/status/status.h"
#include "absl/types/optional.h"
#include "gtest/gtest.h"

namespace consentry {
namespace {

TEST(ReasonTest, EveryReasonHasANameAndADescription) {
  for (int n = 0; n < 64; ++n) {
    const auto r = static_cast<Reason>(n);
    if (ReasonName(r) == "unknown") continue;
    EXPECT_NE(ReasonDescription(r), "unknown reason") << n;
    const absl::Status s = DenialStatus(r, "p", "c");
    EXPECT_EQ(ReasonFromStatus(s), r) << n;
    EXPECT_NE(s.message().find(ReasonName(r)), absl::string_view::npos);
  }
  EXPECT_EQ(ReasonName(Reason::kConsentStale), "consent_stale");
  EXPECT_EQ(ReasonFromStatus(absl::OkStatus()), absl::nullopt);
}

TEST(ReasonTest, DenialStatusCodesFollowTheStyleTable) {
  EXPECT_EQ(DenialStatus(Reason::kConsentWithdrawn, "p", "c").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DenialStatus(Reason::kNotAllowedByPolicy, "p", "c").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(DenialStatus(Reason::kStoreUnavailable, "p", "c").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(DenialStatus(Reason::kConsentStale, "p", "c").code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace consentry
