// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RETURN_IF_ERROR / ASSIGN_OR_RETURN for this Abseil, which has no
// status_macros.h. Internal; never installed.

#ifndef CONSENTRY_SRC_INTERNAL_STATUS_MACROS_H_
#define CONSENTRY_SRC_INTERNAL_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CONSENTRY_STATUS_CONCAT_INNER_(a, b) a##b
#define CONSENTRY_STATUS_CONCAT_(a, b) CONSENTRY_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::absl::Status consentry_status_ = (expr);             \
    if (!consentry_status_.ok()) return consentry_status_; \
  } while (false)

#define ASSIGN_OR_RETURN(lhs, rexpr)                                         \
  ASSIGN_OR_RETURN_IMPL_(CONSENTRY_STATUS_CONCAT_(statusor_, __LINE__), lhs, \
                         rexpr)

#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                           \
  if (!statusor.ok()) return statusor.status();      \
  lhs = *std::move(statusor)

#endif  // CONSENTRY_SRC_INTERNAL_STATUS_MACROS_H_
