// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The request and provision record conformance suites on the PostgreSQL
// stores (the fixture's server): each test opens a fresh schema; `reopen`
// is another handle on it, as a restarted service would open.

#include <memory>
#include <string>

#include "consentry/postgres_records.h"
#include "tests/store/provision_store_conformance.h"
#include "tests/store/request_store_conformance.h"
#include "tests/testing/store_factories.h"

namespace consentry::testing {
namespace {

// The schema the last `open` created (tests run one at a time).
std::string& LastSchema() {
  static std::string* schema = new std::string;
  return *schema;
}

template <typename Store, typename Base>
absl::StatusOr<std::unique_ptr<Base>> OpenPg(bool fresh) {
  absl::StatusOr<std::string> conn = PgConnInfo();
  if (!conn.ok()) return conn.status();
  if (fresh) LastSchema() = UniqueName("pgc");
  // The retention time zone loaded before the suite's threads start (see
  // PostgresRecordsTest::SetUp: absl's zone cache behind a lock
  // ThreadSanitizer cannot see).
  (void)RetentionEnd(v1::RECORD_METHOD_COLLECTIVE, absl::UnixEpoch(),
                     absl::UnixEpoch());
  PostgresStoreOptions o;
  o.schema = LastSchema();
  absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(*conn, o);
  if (!s.ok()) return s.status();
  return std::unique_ptr<Base>(std::move(*s));
}

INSTANTIATE_TEST_SUITE_P(
    Postgres, RequestStoreConformanceTest,
    ::testing::Values(RequestStoreFactory{
        "Postgres",
        [] { return OpenPg<PostgresRequestStore, RequestStore>(true); },
        [] { return OpenPg<PostgresRequestStore, RequestStore>(false); }}),
    RequestStoreFactoryName);

INSTANTIATE_TEST_SUITE_P(
    Postgres, ProvisionStoreConformanceTest,
    ::testing::Values(ProvisionStoreFactory{
        "Postgres",
        [] {
          return OpenPg<PostgresProvisionRecordStore, ProvisionRecordStore>(
              true);
        },
        [] {
          return OpenPg<PostgresProvisionRecordStore, ProvisionRecordStore>(
              false);
        }}),
    ProvisionStoreFactoryName);

}  // namespace
}  // namespace consentry::testing
