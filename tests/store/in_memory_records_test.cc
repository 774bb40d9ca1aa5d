// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The request and provision record conformance suites on the in-memory
// stores.

#include <memory>

#include "consentry/recipients.h"
#include "consentry/requests.h"
#include "tests/store/provision_store_conformance.h"
#include "tests/store/request_store_conformance.h"

namespace consentry::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(
    InMemory, RequestStoreConformanceTest,
    ::testing::Values(RequestStoreFactory{
        "InMemory",
        []() -> absl::StatusOr<std::unique_ptr<RequestStore>> {
          return std::make_unique<InMemoryRequestStore>();
        },
        nullptr}),
    RequestStoreFactoryName);

INSTANTIATE_TEST_SUITE_P(
    InMemory, ProvisionStoreConformanceTest,
    ::testing::Values(ProvisionStoreFactory{
        "InMemory",
        []() -> absl::StatusOr<std::unique_ptr<ProvisionRecordStore>> {
          return std::make_unique<InMemoryProvisionRecordStore>();
        },
        nullptr}),
    ProvisionStoreFactoryName);

}  // namespace
}  // namespace consentry::testing
