// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Builds against the installed headers and libraries only: the core and the
// PostgreSQL store (consentry::consentry_postgres). Records a withdrawal on
// the server and checks that a Guard reading from it denies.
// Usage: consumer_postgres <libpq connection string>

#include <iostream>
#include <string>

#include "consentry/audit.h"
#include "consentry/guard.h"
#include "consentry/postgres_store.h"
#include "consentry/proto_io.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer_postgres <conninfo>\n";
    return 2;
  }
  auto policy = consentry::LoadAndCompilePolicy(DEFAULT_POLICY);
  auto store = consentry::PostgresConsentStore::Open(argv[1]);
  if (!policy.ok() || !store.ok()) {
    std::cerr << (policy.ok() ? store.status() : policy.status()) << "\n";
    return 1;
  }
  consentry::v1::ConsentChange change;
  change.set_subject_id("consumer-postgres-1");
  change.mutable_purpose_consent()->set_purpose("marketing.research");
  change.mutable_purpose_consent()->set_state(
      consentry::v1::CONSENT_STATE_WITHDRAWN);
  auto revision = (*store)->Apply(change);
  consentry::InMemoryAuditSink audit;
  auto guard = consentry::Guard::Create(*policy, store->get(), &audit);
  if (!revision.ok() || !guard.ok()) return 1;
  auto ctx = (*guard)->Context("marketing-analytics", "marketing.research");
  auto category = (*guard)->Category("identity");
  if (!ctx.ok() || !category.ok()) {
    std::cerr << (ctx.ok() ? category.status() : ctx.status()) << "\n";
    return 1;
  }
  auto decision =
      (*guard)->Check(*ctx, "consumer-postgres-1", *category, *revision);
  if (!decision.ok()) {
    std::cerr << decision.status() << "\n";
    return 1;
  }
  std::cout << "consumer_postgres: "
            << consentry::ReasonName(decision->reason()) << " at revision "
            << decision->revision() << "\n";
  return decision->allowed() ? 1 : 0;
}
