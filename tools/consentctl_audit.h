// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: consentctl_audit.h
// -----------------------------------------------------------------------------
//
// Helpers over the access log shared by `consentctl audit` and
// `consentctl report`.

#ifndef CONSENTRY_TOOLS_CONSENTCTL_AUDIT_H_
#define CONSENTRY_TOOLS_CONSENTCTL_AUDIT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "consentctl_cli.h"
#include "consentry/audit.h"
#include "consentry/audit_keys.h"

namespace consentctl {

// "read", "provision", "request", "batch".
absl::string_view ActionName(consentry::AuditAction a);
// One event as a JSON object / as a line of text.
std::string EventJson(const consentry::OwnedAuditEvent& e);
std::string EventLine(const consentry::OwnedAuditEvent& e);
// The events of the log in `dir` with time in [from, to), in log order.
// Errors: those of `AuditLogReader`.
absl::StatusOr<std::vector<consentry::OwnedAuditEvent>> ReadEvents(
    const std::string& dir, absl::Time from, absl::Time to);
// The events of the logs in `dirs` with time in [from, to): one log in log
// order, several merged by time (`AuditLogSet`). Errors: those of the
// reader or the set, naming the log.
absl::StatusOr<std::vector<consentry::OwnedAuditEvent>> ReadEvents(
    const std::vector<std::string>& dirs, absl::Time from, absl::Time to);
// Reads --hmac-key-file into `key` when given.
absl::Status ReadKeyFile(const ParsedArgs& a, std::string& key);
// Opens --hmac-key-dir (consentry/audit_keys.h) when given; null when not.
absl::StatusOr<std::unique_ptr<consentry::FileHmacKeyProvider>> OpenHmacKeyDir(
    const ParsedArgs& a);

}  // namespace consentctl

#endif  // CONSENTRY_TOOLS_CONSENTCTL_AUDIT_H_
