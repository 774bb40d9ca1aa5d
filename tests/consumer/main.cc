// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Builds against the installed headers and libraries only: the core
// (consentry::consentry) and the SQLite store (consentry::consentry_sqlite).
// Usage: consumer <directory for the consent database>

#include <iostream>

#include "consentry/consent.h"
#include "consentry/field_access.h"
#include "consentry/guard.h"
#include "consentry/projection.h"
#include "consentry/protected.h"
#include "consentry/proto_io.h"
#include "consentry/sqlite_store.h"
#include "reading.pb.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer <directory>\n";
    return 2;
  }
  auto policy = consentry::LoadAndCompilePolicy(DEFAULT_POLICY);
  if (!policy.ok()) {
    std::cerr << policy.status() << "\n";
    return 1;
  }
  auto store =
      consentry::SqliteConsentStore::Open(std::string(argv[1]) + "/consent.db");
  if (!store.ok()) {
    std::cerr << store.status() << "\n";
    return 1;
  }
  consentry::InMemoryAuditSink audit;
  auto guard = consentry::Guard::Create(*policy, store->get(), &audit);
  if (!guard.ok()) return 1;
  auto ctx = (*guard)->Context("billing-service", "billing.calculation");
  auto tags = (*guard)->Tag("s1", "billing", {"billing"});
  if (!ctx.ok() || !tags.ok()) return 1;
  consentry::Protected<int> usage(*tags, 42);
  auto grant = (*guard)->Authorize(*ctx, usage);
  if (!grant.ok()) return 1;
  auto v = usage.Read(*grant);
  if (!v.ok() || **v != 42 || audit.size() != 1) return 1;
  std::cout << "consumer: read " << **v << " for " << grant->purpose() << "\n";

  // The consumer's own message, projected through its generated accessors.
  if (consentry::internal::FindGeneratedFieldAccess(
          &consumer::Reading::default_instance()) == nullptr) {
    std::cerr << "consumer: reading.consentry.cc did not register\n";
    return 1;
  }
  consumer::Reading reading;
  reading.set_member_id("s1");
  reading.set_weight_kg(61.5);
  reading.set_plan_code("family");
  consentry::Projector projector(**guard);
  auto billing = projector.Project(*ctx, reading);
  if (!billing.ok()) {
    std::cerr << billing.status() << "\n";
    return 1;
  }
  std::cout << "consumer: billing sees " << billing->ShortDebugString() << "\n";
  if (billing->plan_code() != "family" || billing->weight_kg() != 0) return 1;
  return 0;
}
