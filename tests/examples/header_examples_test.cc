// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Every public header's "Example:" block, compiled as written (the build
// extracts each one with tests/examples/extract_example.sh), so that an
// example cannot rot. Each block is the body of a function whose parameters
// are the names the example takes as given (a policy, a store, a Guard, ...).
// Where the example needs nothing outside the process (no file path of a
// real deployment, no database server), a test also runs it and checks
// that it succeeds.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/audit_keys.h"
#include "consentry/audit_log.h"
#include "consentry/audit_log_set.h"
#include "consentry/consent.h"
#include "consentry/decision.h"
#include "consentry/disclosure_sources.h"
#include "consentry/guard.h"
#include "consentry/leak.h"
#include "consentry/notice.h"
#include "consentry/options.h"
#include "consentry/policy.h"
#include "consentry/policy_diff.h"
#include "consentry/policy_scheduler.h"
#include "consentry/postgres_records.h"
#include "consentry/postgres_store.h"
#include "consentry/projection.h"
#include "consentry/protected.h"
#include "consentry/proto_io.h"
#include "consentry/provision.h"
#include "consentry/purpose.h"
#include "consentry/receipt.h"
#include "consentry/recipients.h"
#include "consentry/requests.h"
#include "consentry/retention.h"
#include "consentry/sqlite_records.h"
#include "consentry/sqlite_store.h"
#include "consentry/statistics.h"
#include "gtest/gtest.h"
#include "projection_test.pb.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

// The examples are written for a reader: they leave some statuses unused
// and declare names that shadow the given ones.
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-result"
#pragma GCC diagnostic ignored "-Wunused-parameter"

namespace consentry::examples {
namespace {

using std::shared_ptr;

absl::Status AuditExample(shared_ptr<const CompiledPolicy> policy,
                          ConsentStore& store) {
  {
#include "audit.h.inc"
  }
  return absl::OkStatus();
}

// Compiled only: it opens files or servers of a deployment.
[[maybe_unused]] absl::Status AuditLogExample(
    shared_ptr<const CompiledPolicy> policy, ConsentStore& store) {
  {
#include "audit_log.h.inc"
  }
  return absl::OkStatus();
}

// Compiled only: it reads a deployment's key directory.
[[maybe_unused]] absl::Status AuditKeysExample() {
  {
#include "audit_keys.h.inc"
    if (!report.ok()) return report.status();
  }
  return absl::OkStatus();
}

absl::Status ConsentExample() {
  {
#include "consent.h.inc"
    if (!rev.ok()) return rev.status();
  }
  return absl::OkStatus();
}

absl::Status DecisionExample(Guard& guard, const AccessContext& ctx,
                             const CategoryRef& category) {
  {
#include "decision.h.inc"
    if (!d.ok()) return d.status();
  }
  return absl::OkStatus();
}

// Compiled only: it opens files or servers of a deployment.
[[maybe_unused]] absl::Status LeakExample(const std::string& dir,
                                          absl::Time now,
                                          AuditSink& audit_log) {
  {
#include "leak.h.inc"
  }
  return absl::OkStatus();
}

// Compiled only: it reads a deployment's log directories.
[[maybe_unused]] absl::Status AuditLogSetExample() {
  {
#include "audit_log_set.h.inc"
  }
  return absl::OkStatus();
}

absl::Status NoticeExample(shared_ptr<const CompiledPolicy> policy,
                           const v1::PolicyDiff& diff) {
  {
#include "notice.h.inc"
    if (ja.empty() || news.empty()) return absl::InternalError("empty text");
  }
  return absl::OkStatus();
}

absl::Status OptionsExample() {
  {
#include "options.h.inc"
  }
  return absl::OkStatus();
}

absl::Status PolicyExample() {
  {
#include "policy.h.inc"
  }
  return absl::OkStatus();
}

absl::Status PolicyDiffExample(const v1::Policy& old_proto,
                               const v1::Policy& new_proto) {
  {
#include "policy_diff.h.inc"
    if (!diff.ok()) return diff.status();
  }
  return absl::OkStatus();
}

// Compiled only: it opens files or servers of a deployment.
// Compiled only: it needs a server.
[[maybe_unused]] absl::Status PostgresRecordsExample(
    shared_ptr<const CompiledPolicy> policy, ConsentStore& consent_store,
    AuditSink& audit) {
  {
#include "postgres_records.h.inc"
  }
  return absl::OkStatus();
}

[[maybe_unused]] absl::Status PostgresStoreExample(
    shared_ptr<const CompiledPolicy> policy, AuditSink& audit) {
  {
#include "postgres_store.h.inc"
  }
  return absl::OkStatus();
}

template <typename Measurement>
absl::Status ProjectionExample(std::unique_ptr<Guard>& guard,
                               const Measurement& measurement) {
  {
#include "projection.h.inc"
    if (!view->member_id().empty()) return absl::InternalError("identity");
  }
  return absl::OkStatus();
}

absl::Status ProtoIoExample(const std::string& bytes) {
  {
#include "proto_io.h.inc"
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

absl::Status PurposeExample(const CompiledPolicy& policy, PurposeIndex billing,
                            PurposeIndex billing_calculation) {
  {
#include "purpose.h.inc"
    if (alone || !covered) return absl::InternalError("hierarchy misread");
  }
  return absl::OkStatus();
}

absl::Status RequestsExample(shared_ptr<const CompiledPolicy> policy,
                             ConsentStore& consent_store, AuditSink& audit) {
  {
#include "requests.h.inc"
    if (!outcome.ok()) return outcome.status();
  }
  return absl::OkStatus();
}

// Compiled only: it opens the audit log of a deployment.
[[maybe_unused]] absl::Status DisclosureSourcesExample(
    shared_ptr<const CompiledPolicy> policy, ConsentStore& consent_store,
    RequestStore& requests, ProvisionRecordStore& provision_records) {
  {
#include "disclosure_sources.h.inc"
  }
  return absl::OkStatus();
}

absl::Status ReceiptExample(shared_ptr<const CompiledPolicy> policy,
                            const v1::ConsentRecord& record) {
  {
#include "receipt.h.inc"
    if (!s.ok()) return s;
    if (!verified.ok()) return verified.status();
    if (text_ja.empty()) return absl::InternalError("empty text");
  }
  return absl::OkStatus();
}

absl::Status RetentionExample(shared_ptr<const CompiledPolicy> policy,
                              const std::vector<RecordTags>& all_tags) {
  {
#include "retention.h.inc"
  }
  return absl::OkStatus();
}

// Compiled only: it opens files or servers of a deployment.
[[maybe_unused]] absl::Status SqliteStoreExample(
    shared_ptr<const CompiledPolicy> policy, AuditSink& audit) {
  {
#include "sqlite_store.h.inc"
  }
  return absl::OkStatus();
}

absl::Status SqliteRecordsExample(const std::string& path) {
  {
#include "sqlite_records.h.inc"
  }
  return absl::OkStatus();
}

absl::Status GuardExample(shared_ptr<const CompiledPolicy> policy,
                          ConsentStore& store, AuditSink& audit) {
  {
#include "guard.h.inc"
  }
  return absl::OkStatus();
}

absl::Status PolicySchedulerExample(std::unique_ptr<Guard>& guard,
                                    shared_ptr<const CompiledPolicy> next) {
  {
#include "policy_scheduler.h.inc"
    return s;
  }
}

absl::Status ProtectedExample(Guard& guard, const AccessContext& stats_ctx) {
  {
#include "protected.h.inc"
    if (!kg.ok()) return kg.status();
    if (**kg != 61.2) return absl::InternalError("wrong value");
  }
  return absl::OkStatus();
}

// Compiled only: the registry it is given has no recipient to provide to.
[[maybe_unused]] absl::Status ProvisionExample(
    std::unique_ptr<Guard>& guard, const v1::RecipientRegistry& proto,
    shared_ptr<const CompiledPolicy> policy, const RecordTags& contact_tags) {
  {
#include "provision.h.inc"
  }
  return absl::OkStatus();
}

absl::Status RecipientsExample(const v1::RecipientRegistry& proto,
                               shared_ptr<const CompiledPolicy> policy) {
  {
#include "recipients.h.inc"
  }
  return absl::OkStatus();
}

struct Weighing {
  std::string age_band;
  double kg = 0;
};

absl::Status StatisticsExample(
    Guard& guard, std::string key,
    const std::vector<Protected<Weighing>>& records) {
  {
#include "statistics.h.inc"
    if (!batch.ok()) return batch.status();
  }
  return absl::OkStatus();
}

using ::consentry::testing::DefaultPolicy;
using ::consentry::testing::SourcePath;

class HeaderExamplesTest : public ::consentry::testing::GuardFixture {};

TEST_F(HeaderExamplesTest, AuditExampleRuns) {
  InMemoryConsentStore store;
  EXPECT_OK(AuditExample(DefaultPolicy(), store));
}

TEST_F(HeaderExamplesTest, GuardExampleRuns) {
  InMemoryConsentStore store;
  InMemoryAuditSink audit;
  EXPECT_OK(GuardExample(DefaultPolicy(), store, audit));
  // One check by id, one on a SubjectRef: both on record, for the same
  // subscriber.
  ASSERT_EQ(audit.size(), 2u);
  const std::vector<OwnedAuditEvent> events = audit.Events();
  EXPECT_EQ(events[0].subject, "subscriber-17");
  EXPECT_EQ(events[1].subject, "subscriber-17");
  EXPECT_EQ(events[0].reason, events[1].reason);
}

TEST_F(HeaderExamplesTest, PolicySchedulerExampleSwitchesAtOnce) {
  EXPECT_OK(PolicySchedulerExample(guard_, DefaultPolicy()));
}

TEST_F(HeaderExamplesTest, ProtectedExampleRuns) {
  Set("member-7", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  EXPECT_OK(ProtectedExample(*guard_,
                             Ctx("statistics-job", "statistics.measurement")));
}

TEST_F(HeaderExamplesTest, RecipientsExampleRuns) {
  EXPECT_OK(RecipientsExample(v1::RecipientRegistry(), DefaultPolicy()));
}

TEST_F(HeaderExamplesTest, StatisticsExampleRuns) {
  Set("member-7", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  std::vector<Protected<Weighing>> records;
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("member-7", "measurement", {"statistics.measurement"});
  ASSERT_OK(tags.status());
  records.emplace_back(*tags, Weighing{"40-49", 61.2});
  EXPECT_OK(StatisticsExample(*guard_, std::string(32, 'k'), records));
}

TEST_F(HeaderExamplesTest, ConsentExampleRuns) { EXPECT_OK(ConsentExample()); }

TEST_F(HeaderExamplesTest, DecisionExampleRuns) {
  EXPECT_OK(DecisionExample(
      *guard_, Ctx("billing-service", "billing.calculation"), Cat("billing")));
}

TEST_F(HeaderExamplesTest, NoticeAndPolicyDiffExamplesRun) {
  absl::StatusOr<v1::Policy> proto =
      LoadPolicyFile(SourcePath("policies/default.textproto"));
  ASSERT_OK(proto.status());
  absl::StatusOr<v1::PolicyDiff> diff = DiffPolicies(*proto, *proto);
  ASSERT_OK(diff.status());
  EXPECT_OK(NoticeExample(DefaultPolicy(), *diff));
  EXPECT_OK(PolicyDiffExample(*proto, *proto));
}

TEST_F(HeaderExamplesTest, OptionsExampleRuns) { EXPECT_OK(OptionsExample()); }

TEST_F(HeaderExamplesTest, PolicyExampleRunsFromTheSourceTree) {
  ASSERT_EQ(chdir(CONSENTRY_SOURCE_DIR), 0);
  absl::Status s = PolicyExample();
  ASSERT_EQ(chdir(CONSENTRY_SOURCE_DIR "/tests"), 0);
  EXPECT_OK(s);
}

TEST_F(HeaderExamplesTest, ProjectionExampleRuns) {
  Set("member-7", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  test::Record record;
  record.set_member_id("member-7");
  record.set_weight_kg(61.2);
  EXPECT_OK(ProjectionExample(guard_, record));
}

TEST_F(HeaderExamplesTest, ProtoIoExampleReportsABadRecord) {
  EXPECT_OK(ProtoIoExample(R"({"subjectId": "s-1"})"));
  EXPECT_EQ(ProtoIoExample("{not json").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HeaderExamplesTest, PurposeExampleRuns) {
  std::shared_ptr<const CompiledPolicy> policy = DefaultPolicy();
  absl::StatusOr<PurposeIndex> billing = policy->FindPurpose("billing");
  absl::StatusOr<PurposeIndex> calculation =
      policy->FindPurpose("billing.calculation");
  ASSERT_OK(billing.status());
  ASSERT_OK(calculation.status());
  EXPECT_OK(PurposeExample(*policy, *billing, *calculation));
}

TEST_F(HeaderExamplesTest, RequestsExampleRuns) {
  InMemoryConsentStore consent_store;
  InMemoryAuditSink audit;
  EXPECT_OK(RequestsExample(DefaultPolicy(), consent_store, audit));
}

TEST_F(HeaderExamplesTest, ReceiptExampleSignsAndVerifies) {
  InMemoryConsentStore store;
  v1::ConsentChange change;
  change.set_subject_id("member-7");
  change.mutable_purpose_consent()->set_purpose("marketing.research");
  change.mutable_purpose_consent()->set_state(v1::CONSENT_STATE_GIVEN);
  ASSERT_OK(store.Apply(change).status());
  absl::StatusOr<v1::ConsentRecord> record = store.Get("member-7");
  ASSERT_OK(record.status());
  ASSERT_EQ(chdir(CONSENTRY_SOURCE_DIR "/tests/testdata"), 0);
  absl::Status s = ReceiptExample(DefaultPolicy(), *record);
  ASSERT_EQ(chdir(CONSENTRY_SOURCE_DIR "/tests"), 0);
  EXPECT_OK(s);
}

TEST_F(HeaderExamplesTest, RetentionExampleRuns) {
  EXPECT_OK(RetentionExample(DefaultPolicy(), {}));
}

TEST_F(HeaderExamplesTest, SqliteRecordsExampleRuns) {
  const std::string path = ::testing::TempDir() + "/records_example_" +
                           std::to_string(getpid()) + ".db";
  EXPECT_OK(SqliteRecordsExample(path));
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::remove((path + suffix).c_str());
  }
}

}  // namespace
}  // namespace consentry::examples
