// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentctl_stores.h"

#include <memory>
#include <string>
#include <utility>

#include "consentctl_commands.h"
#include "consentry/postgres_records.h"
#include "consentry/sqlite_records.h"

namespace consentctl {

absl::StatusOr<Stores> OpenStores(const ParsedArgs& args,
                                  bool create_if_missing) {
  Stores s;
  auto consent = OpenStore(args, create_if_missing);
  if (!consent.ok()) return consent.status();
  s.consent = std::move(*consent);
  if (args.Has("postgres") && !args.Get("postgres").empty()) {
    consentry::PostgresStoreOptions options;
    options.schema = args.Get("pg-schema", "consentry");
    auto requests =
        consentry::PostgresRequestStore::Open(args.Get("postgres"), options);
    if (!requests.ok()) return requests.status();
    s.requests = std::move(*requests);
    auto records = consentry::PostgresProvisionRecordStore::Open(
        args.Get("postgres"), options);
    if (!records.ok()) return records.status();
    s.records = std::move(*records);
    return s;
  }
  const std::string path = args.Get("sqlite", "consent.db");
  consentry::SqliteStoreOptions options;
  options.create_if_missing = create_if_missing;
  auto requests = consentry::SqliteRequestStore::Open(path, options);
  if (!requests.ok()) return requests.status();
  s.requests = std::move(*requests);
  auto records = consentry::SqliteProvisionRecordStore::Open(path, options);
  if (!records.ok()) return records.status();
  s.records = std::move(*records);
  return s;
}

}  // namespace consentctl
