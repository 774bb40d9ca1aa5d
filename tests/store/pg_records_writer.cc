// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Test helper for postgres_records_test: a service writing to the
// PostgreSQL request and provision record stores. Each round appends one
// step (a transition whose actor is "<tag>-<i>") to one of the given
// requests, retrying on `kAborted` until its compare-and-set wins, and adds
// one provision record "<tag>-<i>" naming subjects "shared" and
// "s-<i % 7>". It prints "step <request id> <tag>-<i>" and
// "prov <tag>-<i>" for each write the store acknowledged, flushing after
// every line. The tests run two at once, and kill one with SIGKILL.
//
//   pg_records_writer CONNINFO SCHEMA TAG COUNT REQUEST_ID...

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/postgres_records.h"

namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "records_writer: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr,
                 "usage: pg_records_writer CONNINFO SCHEMA TAG COUNT "
                 "REQUEST_ID...\n");
    return 2;
  }
  consentry::PostgresStoreOptions o;
  o.schema = argv[2];
  const std::string tag = argv[3];
  const int count = std::atoi(argv[4]);
  const std::vector<std::string> ids(argv + 5, argv + argc);
  auto requests = consentry::PostgresRequestStore::Open(argv[1], o);
  if (!requests.ok()) return Fail(requests.status());
  auto records = consentry::PostgresProvisionRecordStore::Open(argv[1], o);
  if (!records.ok()) return Fail(records.status());
  for (int i = 0; i < count; ++i) {
    const std::string step = absl::StrCat(tag, "-", i);
    const std::string& id = ids[static_cast<std::size_t>(i) % ids.size()];
    while (true) {
      absl::StatusOr<consentry::v1::SubjectRequest> r = (*requests)->Get(id);
      if (!r.ok()) return Fail(r.status());
      consentry::v1::Transition* t = r->add_transitions();
      t->set_step("note");
      t->set_actor(step);
      absl::StatusOr<consentry::v1::SubjectRequest> u = (*requests)->Update(*r);
      if (u.ok()) break;
      if (!absl::IsAborted(u.status())) return Fail(u.status());
    }
    std::printf("step %s %s\n", id.c_str(), step.c_str());
    std::fflush(stdout);
    consentry::v1::ProvisionRecord p;
    p.set_id(step);
    p.set_recipient_id("callcenter-tokyo");
    p.mutable_provision_time()->set_seconds(1'780'000'000 + i);
    p.add_subjects("shared");
    p.add_subjects(absl::StrCat("s-", i % 7));
    p.add_categories("contact");
    p.set_record_method(consentry::v1::RECORD_METHOD_PER_PROVISION);
    absl::StatusOr<std::string> added = (*records)->AddProvision(p);
    if (!added.ok()) return Fail(added.status());
    std::printf("prov %s\n", added->c_str());
    std::fflush(stdout);
  }
  return 0;
}
