// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// StatusIs / IsOk / IsOkAndHolds for this Abseil, which has no
// status_matchers.h. Test-only.

#ifndef CONSENTRY_TESTS_TESTING_STATUS_MATCHERS_H_
#define CONSENTRY_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace consentry::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  if (s.code() != code) {
    *result_listener << "whose status is " << s;
    return false;
  }
  return ::testing::ExplainMatchResult(
      ::testing::MatcherCast<std::string>(message_matcher),
      std::string(s.message()), result_listener);
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "whose status is " << s;
  return s.ok();
}

MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "whose status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace consentry::testing

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::consentry::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::consentry::testing::IsOk())

#endif  // CONSENTRY_TESTS_TESTING_STATUS_MATCHERS_H_
