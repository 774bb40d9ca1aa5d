// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: consentctl_sources.h
// -----------------------------------------------------------------------------
//
// The audit sink and the disclosure-package sources that `consentctl request`
// hands to a `RequestDesk`: the access log in --audit-dir (appended to by
// every request step, and read for the subject's access records), the
// consent store's history, and the provision and receipt records of the
// durable provision record store (legacy: of --provision-records); each a
// library class (consentry/disclosure_sources.h).

#ifndef CONSENTRY_TOOLS_CONSENTCTL_SOURCES_H_
#define CONSENTRY_TOOLS_CONSENTCTL_SOURCES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "consentctl_cli.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/recipients.h"
#include "consentry/requests.h"
#include "consentry/v1/request.pb.h"

namespace consentctl {

// Owns the audit sink and the sources. Thread-compatible.
class Sources {
 public:
  virtual ~Sources() = default;
  // Never null; flushed and closed on destruction.
  virtual consentry::AuditSink* audit() = 0;
  // Null when there is no access log to read.
  virtual consentry::AccessEventSource* access_events() = 0;
  virtual consentry::ConsentHistorySource* history() = 0;
  // Never null: the records of --provision-records (none without it).
  virtual consentry::ProvisionRecordSource* provisions() = 0;
};

// --audit-dir (and --hmac-key-file), --provision-records.
std::vector<Flag> SourceFlags();

// Opens the sources named by `args`; `store` and `records` (the durable
// provision records, listed unless --provision-records is given; may be
// null) must outlive the result.
// Without --audit-dir, request steps are audited to memory only and a
// warning is printed. Errors: those of opening the access log and of
// reading --provision-records (naming the file).
absl::StatusOr<std::unique_ptr<Sources>> OpenSources(
    const ParsedArgs& args, consentry::ConsentStore* store,
    consentry::ProvisionRecordStore* records);

// Every request in `dir`, oldest first (consentctl_requests.cc).
absl::StatusOr<std::vector<consentry::v1::SubjectRequest>> LoadRequests(
    const std::string& dir);

}  // namespace consentctl

#endif  // CONSENTRY_TOOLS_CONSENTCTL_SOURCES_H_
