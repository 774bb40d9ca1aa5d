// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Builds against the installed headers and library only.

#include <iostream>

#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/protected.h"
#include "consentry/proto_io.h"

int main() {
  auto policy = consentry::LoadAndCompilePolicy(DEFAULT_POLICY);
  if (!policy.ok()) {
    std::cerr << policy.status() << "\n";
    return 1;
  }
  consentry::InMemoryConsentStore store;
  consentry::InMemoryAuditSink audit;
  auto guard = consentry::Guard::Create(*policy, &store, &audit);
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
  return 0;
}
