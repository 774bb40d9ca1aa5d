// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Every read decision goes to a durable, tamper-evident access log. This
// example audits a few reads (allowed and denied), verifies the log's hash
// chain, and answers "who read s-2's data, and for what?" from the log, as a
// disclosure request would need.
//
//   access_log [directory]   (default: a fresh directory under /tmp)

#include <stdlib.h>

#include <iostream>
#include <string>

#include "absl/time/time.h"
#include "consentry/audit_log.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/proto_io.h"

namespace {

int Fail(const absl::Status& s) {
  std::cerr << "access_log: " << s << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "/tmp/consentry_access_log_XXXXXX";
  if (argc <= 1 && mkdtemp(dir.data()) == nullptr) return 1;

  auto policy = consentry::LoadAndCompilePolicy(
      std::string(CONSENTRY_SOURCE_DIR) + "/policies/default.textproto");
  if (!policy.ok()) return Fail(policy.status());

  // 1. Open the log and give it to the Guard as its audit sink.
  consentry::AuditLogOptions options;
  options.directory = dir;
  auto log = consentry::AuditLog::Open(options);
  if (!log.ok()) return Fail(log.status());
  consentry::InMemoryConsentStore store;
  auto guard = consentry::Guard::Create(*policy, &store, log->get());
  if (!guard.ok()) return Fail(guard.status());

  // s-1 and s-2 consented to statistics on their measurements; s-3 did not.
  for (const char* subject : {"s-1", "s-2"}) {
    consentry::v1::ConsentChange c;
    c.set_subject_id(subject);
    c.mutable_purpose_consent()->set_purpose("statistics.measurement");
    c.mutable_purpose_consent()->set_state(consentry::v1::CONSENT_STATE_GIVEN);
    if (auto r = store.Apply(c); !r.ok()) return Fail(r.status());
  }

  // 2. Read: every check, allowed or denied, is one event in the log.
  auto ctx = (*guard)->Context("statistics-job", "statistics.measurement");
  auto category = (*guard)->Category("measurement");
  if (!ctx.ok() || !category.ok())
    return Fail(ctx.ok() ? category.status() : ctx.status());
  for (const char* subject : {"s-1", "s-2", "s-3", "s-2"}) {
    auto d = (*guard)->Check(*ctx, subject, *category);
    if (!d.ok()) return Fail(d.status());
    std::cout << subject << ": " << consentry::ReasonName(d->reason()) << "\n";
  }

  // 3. Flush: returns once every event so far is synced to disk.
  if (auto s = (*log)->Flush(); !s.ok()) return Fail(s);
  guard->reset();
  if (auto s = (*log)->Close(); !s.ok()) return Fail(s);

  // 4. Verify the chain: an edited, deleted or reordered record is found.
  auto report = consentry::VerifyAuditLog(dir);
  if (!report.ok()) return Fail(report.status());
  std::cout << "verify: " << report->ToString() << "\n";

  // 5. Everything the log knows about s-2.
  auto reader = consentry::AuditLogReader::Open(dir);
  if (!reader.ok()) return Fail(reader.status());
  auto events = (*reader)->ForSubject("s-2");
  if (!events.ok()) return Fail(events.status());
  for (const consentry::OwnedAuditEvent& e : *events) {
    std::cout << "#" << e.sequence << " "
              << absl::FormatTime(absl::FromUnixNanos(e.time_unix_nanos)) << " "
              << e.accessor << " read " << e.subject << "'s " << e.category
              << " for " << e.purpose << ": " << consentry::ReasonName(e.reason)
              << "\n";
  }
  std::cout << "log in " << dir << "\n";
  return 0;
}
