// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Billing code that asks, before charge calculation, whether it may use each
// subscriber's call records for `billing.calculation`. It computes charges
// only for the subscribers it may, and prints every denial with its reason.
// Consent lives in the embedded default store, a SQLite file (a fresh
// temporary one unless --db names one).
//
//   billing_precharge [--policy=policies/default.textproto] [--db=consent.db]

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/protected.h"
#include "consentry/proto_io.h"
#include "consentry/requests.h"
#include "consentry/sqlite_store.h"

namespace {

// A month of one subscriber's call usage: communication data (secrecy of
// communications), collected for charge calculation and service operation.
struct CallUsage {
  int call_minutes;
  int data_megabytes;
};

constexpr int kBaseFeeYen = 980;

int ChargeYen(const CallUsage& u) {
  return kBaseFeeYen + u.call_minutes * 22 + (u.data_megabytes / 1024) * 300;
}

struct Subscriber {
  std::string id;
  CallUsage usage;
  std::vector<absl::string_view> collected_for;
};

int Fail(const absl::Status& s) {
  std::cerr << "billing_precharge: " << s << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string policy_path =
      std::string(CONSENTRY_SOURCE_DIR) + "/policies/default.textproto";
  std::string db_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--policy=", 0) == 0) policy_path = arg.substr(9);
    if (arg.rfind("--db=", 0) == 0) db_path = arg.substr(5);
  }
  const bool temporary = db_path.empty();
  if (temporary) {
    db_path = "/tmp/billing_precharge." + std::to_string(getpid()) + ".db";
  }
  auto policy = consentry::LoadAndCompilePolicy(policy_path);
  if (!policy.ok()) return Fail(policy.status());

  auto opened = consentry::SqliteConsentStore::Open(db_path);
  if (!opened.ok()) return Fail(opened.status());
  consentry::SqliteConsentStore& store = **opened;
  consentry::InMemoryAuditSink audit;
  auto guard = consentry::Guard::Create(*policy, &store, &audit);
  if (!guard.ok()) return Fail(guard.status());

  // The subscribers' requests, as the request desk decided them: each
  // restriction names its request and only adds to what is in force.
  consentry::v1::RestrictionEntry suspend;
  suspend.set_kind(consentry::v1::RESTRICTION_KIND_SUSPENDED_PURPOSE);
  suspend.set_purpose("billing");
  suspend.set_request_id("req-0031");
  consentry::v1::RestrictionEntry erase;
  erase.set_kind(consentry::v1::RESTRICTION_KIND_ERASED);
  erase.set_request_id("req-0052");
  for (const auto& [subject, entry] :
       {std::pair{"sub-0003", suspend}, std::pair{"sub-0005", erase}}) {
    auto r =
        consentry::AddRestrictions(store, subject, {entry}, "request-desk");
    if (!r.ok()) return Fail(r.status());
  }

  const std::vector<Subscriber> subscribers = {
      {"sub-0001", {120, 3072}, {"billing.calculation", "service.operation"}},
      {"sub-0002", {45, 10240}, {"billing.calculation", "service.operation"}},
      {"sub-0003", {300, 2048}, {"billing.calculation", "service.operation"}},
      // Collected only to operate the network: not for charges.
      {"sub-0004", {10, 512}, {"service.operation"}},
      {"sub-0005", {80, 4096}, {"billing.calculation", "service.operation"}},
  };

  std::vector<consentry::Protected<CallUsage>> records;
  for (const Subscriber& s : subscribers) {
    auto tags = (*guard)->Tag(s.id, "communication", s.collected_for);
    if (!tags.ok()) return Fail(tags.status());
    records.emplace_back(*std::move(tags), s.usage);
  }

  auto ctx = (*guard)->Context("billing-service", "billing.calculation");
  if (!ctx.ok()) return Fail(ctx.status());

  std::cout << "Pre-charge check for " << records.size()
            << " subscribers (purpose billing.calculation, policy "
            << (*guard)->policy()->version() << ")\n\n";
  int total = 0;
  int charged = 0;
  for (const auto& record : records) {
    auto grant = (*guard)->Authorize(*ctx, record);
    if (!grant.ok()) {
      const auto reason = consentry::ReasonFromStatus(grant.status());
      std::printf("  %-9s DENIED   %-26s %s\n", record.tags().subject().c_str(),
                  std::string(consentry::ReasonName(reason.value_or(
                                  consentry::Reason::kUnspecified)))
                      .c_str(),
                  std::string(consentry::ReasonDescription(reason.value_or(
                                  consentry::Reason::kUnspecified)))
                      .c_str());
      continue;
    }
    auto usage = record.Read(*grant);
    if (!usage.ok()) return Fail(usage.status());
    const int yen = ChargeYen(**usage);
    total += yen;
    ++charged;
    std::printf(
        "  %-9s charged  %6d JPY  (%d min, %d MB; %s)\n",
        record.tags().subject().c_str(), yen, (*usage)->call_minutes,
        (*usage)->data_megabytes,
        std::string(consentry::ReasonName(grant->decision().reason())).c_str());
  }
  std::printf(
      "\n%d of %zu subscribers charged, %d JPY in total; %zu decisions "
      "audited; consent store %s.\n",
      charged, records.size(), total, audit.size(), db_path.c_str());
  guard->reset();
  opened->reset();
  if (temporary) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove((db_path + suffix).c_str());
    }
  }
  return 0;
}
