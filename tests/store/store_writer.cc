// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Test helper for store_crash_test: applies a stream of consent changes and
// prints "<index> <revision>" for each one the store acknowledged, flushing
// after every line. The test kills it with SIGKILL mid-stream.
//
//   store_writer sqlite PATH COUNT [restrict PREFIX]
//   store_writer postgres CONNINFO SCHEMA COUNT [restrict PREFIX]
//
// With "restrict PREFIX", write i instead adds the suspension of purpose
// PREFIX-i (request PREFIX-req-i) to subject "shared" through
// `AddRestrictions`, as a second process writing restrictions would.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "consentry/consent.h"
#include "consentry/postgres_store.h"
#include "consentry/requests.h"
#include "consentry/sqlite_store.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: store_writer sqlite PATH COUNT | postgres CONNINFO "
                 "SCHEMA COUNT\n");
    return 2;
  }
  const std::string kind = argv[1];
  std::unique_ptr<consentry::ConsentStore> store;
  int count = 0;
  int next_arg = 0;
  if (kind == "sqlite") {
    auto s = consentry::SqliteConsentStore::Open(argv[2]);
    if (!s.ok()) {
      std::fprintf(stderr, "store_writer: %s\n", s.status().ToString().c_str());
      return 1;
    }
    store = *std::move(s);
    count = std::atoi(argv[3]);
    next_arg = 4;
  } else if (kind == "postgres" && argc >= 5) {
    consentry::PostgresStoreOptions o;
    o.schema = argv[3];
    auto s = consentry::PostgresConsentStore::Open(argv[2], o);
    if (!s.ok()) {
      std::fprintf(stderr, "store_writer: %s\n", s.status().ToString().c_str());
      return 1;
    }
    store = *std::move(s);
    count = std::atoi(argv[4]);
    next_arg = 5;
  } else {
    std::fprintf(stderr, "store_writer: unknown store '%s'\n", kind.c_str());
    return 2;
  }
  const std::string prefix =
      argc > next_arg + 1 && std::string(argv[next_arg]) == "restrict"
          ? argv[next_arg + 1]
          : "";
  for (int i = 0; i < count && !prefix.empty(); ++i) {
    consentry::v1::RestrictionEntry e;
    e.set_kind(consentry::v1::RESTRICTION_KIND_SUSPENDED_PURPOSE);
    e.set_purpose(absl::StrCat(prefix, "-", i));
    e.set_request_id(absl::StrCat(prefix, "-req-", i));
    absl::StatusOr<consentry::Revision> r =
        consentry::AddRestrictions(*store, "shared", {e}, prefix);
    if (!r.ok()) {
      std::fprintf(stderr, "store_writer: %s\n", r.status().ToString().c_str());
      return 1;
    }
    std::printf("%d %lld\n", i, static_cast<long long>(*r));
    std::fflush(stdout);
  }
  for (int i = 0; i < count && prefix.empty(); ++i) {
    consentry::v1::ConsentChange c;
    c.set_subject_id(absl::StrCat("w-", i % 50));
    c.set_subject_kind(consentry::v1::SUBJECT_KIND_CUSTOMER);
    c.mutable_purpose_consent()->set_purpose("marketing");
    c.mutable_purpose_consent()->set_state(
        i % 2 == 0 ? consentry::v1::CONSENT_STATE_GIVEN
                   : consentry::v1::CONSENT_STATE_WITHDRAWN);
    c.mutable_purpose_consent()->set_evidence_ref(absl::StrCat("write-", i));
    absl::StatusOr<consentry::Revision> r = store->Apply(c);
    if (!r.ok()) {
      std::fprintf(stderr, "store_writer: %s\n", r.status().ToString().c_str());
      return 1;
    }
    std::printf("%d %lld\n", i, static_cast<long long>(*r));
    std::fflush(stdout);
  }
  return 0;
}
