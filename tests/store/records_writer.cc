// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Test helper for sqlite_records_process_test: writes data-subject requests
// step by step and provision/receipt records to a SQLite file, printing one
// line per write the store acknowledged, flushed at once:
//
//   C <request id> <version>   a request created
//   U <request id> <version>   a step of it written
//   P <record id>              a provision record added
//   R <record id>              a receipt record added
//
// The test runs two at once on one file, or kills one with SIGKILL.
//
//   records_writer PATH TAG COUNT

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "consentry/sqlite_records.h"

namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "records_writer: %s\n", s.ToString().c_str());
  return 1;
}

consentry::v1::SubjectRequest Intake(const std::string& subject) {
  consentry::v1::SubjectRequest r;
  r.set_kind(consentry::v1::REQUEST_KIND_DISCLOSURE);
  r.set_subject_id(subject);
  r.set_verified_subject_id(subject);
  r.mutable_requester()->set_name("requester");
  r.set_state(consentry::v1::REQUEST_STATE_RECEIVED);
  r.add_transitions()->set_step("received");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: records_writer PATH TAG COUNT\n");
    return 2;
  }
  const std::string path = argv[1];
  const std::string tag = argv[2];
  const int count = std::atoi(argv[3]);
  auto requests = consentry::SqliteRequestStore::Open(path);
  if (!requests.ok()) return Fail(requests.status());
  auto records = consentry::SqliteProvisionRecordStore::Open(path);
  if (!records.ok()) return Fail(records.status());
  for (int i = 0; i < count; ++i) {
    const std::string subject = absl::StrCat(tag, "-", i % 5);
    absl::StatusOr<consentry::v1::SubjectRequest> r =
        (*requests)->Create(Intake(subject));
    if (!r.ok()) return Fail(r.status());
    std::printf("C %s %lld\n", r->id().c_str(),
                static_cast<long long>(r->version()));
    std::fflush(stdout);
    // Three steps, each one acknowledged before the next.
    for (int step = 1; step <= 3; ++step) {
      r->add_transitions()->set_step(absl::StrCat("step-", step));
      r->set_state(step == 3 ? consentry::v1::REQUEST_STATE_PROCESSING
                             : consentry::v1::REQUEST_STATE_FORM_SENT);
      r = (*requests)->Update(*r);
      if (!r.ok()) return Fail(r.status());
      std::printf("U %s %lld\n", r->id().c_str(),
                  static_cast<long long>(r->version()));
      std::fflush(stdout);
    }
    consentry::v1::ProvisionRecord p;
    p.set_recipient_id(absl::StrCat("recipient-", tag));
    p.add_subjects(subject);
    p.add_subjects("shared");
    p.mutable_provision_time()->set_seconds(1'800'000'000 + i);
    p.set_record_method(consentry::v1::RECORD_METHOD_COLLECTIVE);
    p.set_series_id(absl::StrCat("series-", tag));
    absl::StatusOr<std::string> pid = (*records)->AddProvision(p);
    if (!pid.ok()) return Fail(pid.status());
    std::printf("P %s\n", pid->c_str());
    std::fflush(stdout);
    if (i % 3 == 0) {
      consentry::v1::ReceiptRecord rc;
      rc.set_provider_name(absl::StrCat("provider-", tag));
      rc.add_subjects(subject);
      rc.mutable_receipt_time()->set_seconds(1'800'000'000 + i);
      rc.set_record_method(consentry::v1::RECORD_METHOD_PER_PROVISION);
      absl::StatusOr<std::string> rid = (*records)->AddReceipt(rc);
      if (!rid.ok()) return Fail(rid.status());
      std::printf("R %s\n", rid->c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}
