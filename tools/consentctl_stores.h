// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: consentctl_stores.h
// -----------------------------------------------------------------------------
//
// The durable stores every `consentctl` command that keeps records opens from
// the same flags as `consent ...`: --postgres=CONNINFO (and --pg-schema) or
// --sqlite=PATH (default consent.db). SQLite keeps the consent store, the
// request store and the provision record store in one file; PostgreSQL in one
// schema. Concurrent commands serialise in the store (a request update is a
// compare-and-set on its version), not with lock files.

#ifndef CONSENTRY_TOOLS_CONSENTCTL_STORES_H_
#define CONSENTRY_TOOLS_CONSENTCTL_STORES_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "consentctl_cli.h"
#include "consentry/consent.h"
#include "consentry/recipients.h"
#include "consentry/requests.h"

namespace consentctl {

// The three stores of one database. Move-only.
struct Stores {
  std::unique_ptr<consentry::ConsentStore> consent;
  std::unique_ptr<consentry::RequestStore> requests;
  std::unique_ptr<consentry::ProvisionRecordStore> records;
};

// Opens the consent, request and provision record stores named by --postgres
// (when set) or --sqlite; the consent store first, so a new SQLite file is a
// consent store like one `consent grant` creates.
// Errors: those of the stores' `Open` (a missing SQLite file without
// `create_if_missing` is `kNotFound`).
absl::StatusOr<Stores> OpenStores(const ParsedArgs& args,
                                  bool create_if_missing);

}  // namespace consentctl

#endif  // CONSENTRY_TOOLS_CONSENTCTL_STORES_H_
