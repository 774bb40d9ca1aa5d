// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Governance records: policy approvals (policy §3), monitoring results of
// recipients and their log (§5; src/compliance/recipient_monitoring.cc),
// sub-contractor entrustment chains in the registry, and the notice version
// recorded with consent (§9).

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/consent.h"
#include "consentry/policy.h"
#include "consentry/proto_io.h"
#include "consentry/recipients.h"
#include "consentry/v1/policy.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fault_injection_fs.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

v1::Policy DefaultPolicyProto() {
  absl::StatusOr<v1::Policy> p =
      LoadPolicyFile(testing::SourcePath("policies/default.textproto"));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : v1::Policy();
}

// --- Policy approvals ------------------------------------------------------

TEST(PolicyApprovalTest, DefaultPolicyRecordsItsApproval) {
  std::shared_ptr<const CompiledPolicy> policy = testing::DefaultPolicy();
  EXPECT_TRUE(policy->approved());
  ASSERT_EQ(policy->proto().approvals_size(), 1);
  EXPECT_EQ(policy->proto().approvals(0).approver(),
            "Personal Information Protection Manager");
  // Approved before it took effect.
  EXPECT_LT(policy->proto().approvals(0).time().seconds(),
            policy->proto().effective_time().seconds());
}

TEST(PolicyApprovalTest, UnapprovedPolicyCompilesButIsNotApproved) {
  v1::Policy p = DefaultPolicyProto();
  p.clear_approvals();
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> c =
      CompiledPolicy::Compile(p);
  ASSERT_OK(c);
  EXPECT_FALSE((*c)->approved());
}

struct BadApproval {
  const char* name;
  void (*mutate)(v1::PolicyApproval&);
  const char* message;
};

class PolicyApprovalValidationTest
    : public ::testing::TestWithParam<BadApproval> {};

TEST_P(PolicyApprovalValidationTest, RejectsNamingTheField) {
  v1::Policy p = DefaultPolicyProto();
  GetParam().mutate(*p.mutable_approvals(0));
  EXPECT_THAT(CompiledPolicy::Compile(p),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(GetParam().message)));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PolicyApprovalValidationTest,
    ::testing::Values(
        BadApproval{"EmptyApprover",
                    [](v1::PolicyApproval& a) { a.clear_approver(); },
                    "policy.approvals[0].approver: must name who approved"},
        BadApproval{"BlankApprover",
                    [](v1::PolicyApproval& a) { a.set_approver(" \t "); },
                    "policy.approvals[0].approver: must name who approved"},
        BadApproval{"NoTime", [](v1::PolicyApproval& a) { a.clear_time(); },
                    "policy.approvals[0].time: must say when"},
        BadApproval{"TimeOutOfRange",
                    [](v1::PolicyApproval& a) {
                      a.mutable_time()->set_seconds(std::int64_t{1} << 50);
                    },
                    "policy.approvals[0].time: timestamp {seconds: "},
        BadApproval{
            "NegativeNanos",
            [](v1::PolicyApproval& a) { a.mutable_time()->set_nanos(-1); },
            "outside years 1 to 9999"},
        BadApproval{
            "ApproverNotUtf8",
            [](v1::PolicyApproval& a) { a.set_approver("Hanako \xff\xfe"); },
            "policy.approvals[0].approver: 'Hanako \\xff\\xfe' is "
            "not valid UTF-8"},
        BadApproval{"NoteNotUtf8",
                    [](v1::PolicyApproval& a) { a.set_note("\xc3"); },
                    "policy.approvals[0].note:"},
        BadApproval{
            "HugeRole",
            [](v1::PolicyApproval& a) { a.set_role(std::string(5000, 'r')); },
            "policy.approvals[0].role: 5000 bytes; at most 4096"}),
    [](const ::testing::TestParamInfo<BadApproval>& i) {
      return std::string(i.param.name);
    });

TEST(PolicyApprovalTest, TooManyApprovalsAreRejected) {
  v1::Policy p = DefaultPolicyProto();
  for (int i = 0; i < 100; ++i) *p.add_approvals() = p.approvals(0);
  EXPECT_THAT(CompiledPolicy::Compile(p),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("policy.approvals: 101 approvals")));
}

// --- Monitoring results ------------------------------------------------------

using testing::ShippedRecipientRegistry;

std::unique_ptr<const RecipientRegistry> Build(
    const v1::RecipientRegistry& proto) {
  absl::StatusOr<std::unique_ptr<const RecipientRegistry>> r =
      RecipientRegistry::Create(proto, *testing::DefaultPolicy());
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : nullptr;
}

// 2026-12-01T00:00:00Z and a week later.
const absl::Time kMonitored = absl::FromUnixSeconds(1796083200);
const absl::Time kNow = kMonitored + absl::Hours(24 * 7);
const absl::Duration kInterval = absl::Hours(24 * 180);

v1::MonitoringResult Result(v1::MonitoringOutcome outcome,
                            absl::Time when = kMonitored) {
  v1::MonitoringResult m;
  m.set_recipient_id("callcenter-tokyo");
  m.set_monitored_by("Privacy Officer");
  m.set_outcome(outcome);
  m.mutable_time()->set_seconds(absl::ToUnixSeconds(when));
  if (outcome == v1::MONITORING_OUTCOME_FAILED) {
    m.add_findings("operators share one login");
  }
  return m;
}

class MonitoringLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/consentry_monitoring_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    log_ = dir_ + "/recipients.monitoring.textproto";
    registry_ = Build(ShippedRecipientRegistry());
    ASSERT_NE(registry_, nullptr);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The shipped registry with the log at `log_` folded in.
  std::unique_ptr<const RecipientRegistry> Reload() {
    absl::StatusOr<v1::MonitoringLog> log = LoadMonitoringLog(log_);
    EXPECT_TRUE(log.ok()) << log.status();
    v1::RecipientRegistry proto = ShippedRecipientRegistry();
    if (log.ok()) {
      EXPECT_OK(ApplyMonitoringLog(*log, proto));
    }
    return Build(proto);
  }

  std::string dir_;
  std::string log_;
  std::unique_ptr<const RecipientRegistry> registry_;
};

TEST_F(MonitoringLogTest, ShippedRegistryAloneIsOverdue) {
  // The overdue logic, on the registry without its monitoring log.
  const v1::Recipient* cc = registry_->Find("callcenter-tokyo");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(RecipientRegistry::StatusAt(*cc, kNow),
            Reason::kRecipientMonitoringOverdue);
}

TEST_F(MonitoringLogTest, ShippedLogBringsTheContractorUpToDate) {
  absl::StatusOr<v1::MonitoringLog> log = LoadMonitoringLog(
      testing::SourcePath("policies/recipients.monitoring.textproto"));
  ASSERT_OK(log);
  v1::RecipientRegistry proto = ShippedRecipientRegistry();
  ASSERT_OK(ApplyMonitoringLog(*log, proto));
  std::unique_ptr<const RecipientRegistry> r = Build(proto);
  ASSERT_NE(r, nullptr);
  const v1::Recipient* cc = r->Find("callcenter-tokyo");
  EXPECT_EQ(RecipientRegistry::StatusAt(*cc, kNow), Reason::kUnspecified);
  EXPECT_EQ(RecipientRegistry::MonitoringDue(*cc), kMonitored + kInterval);
  EXPECT_EQ(RecipientRegistry::StatusAt(*cc, kMonitored + kInterval),
            Reason::kRecipientMonitoringOverdue);
}

TEST_F(MonitoringLogTest, RecordAdvancesTheNextDueDate) {
  absl::StatusOr<absl::Time> next = RecordMonitoringResult(
      log_, *registry_, Result(v1::MONITORING_OUTCOME_PASSED), kNow);
  ASSERT_OK(next);
  EXPECT_EQ(*next, kMonitored + kInterval);
  std::unique_ptr<const RecipientRegistry> r = Reload();
  ASSERT_NE(r, nullptr);
  const v1::Recipient* cc = r->Find("callcenter-tokyo");
  ASSERT_EQ(cc->monitoring_results_size(), 1);
  EXPECT_EQ(cc->monitoring_results(0).recorded_time().seconds(),
            absl::ToUnixSeconds(kNow));
  EXPECT_EQ(RecipientRegistry::StatusAt(*cc, kNow), Reason::kUnspecified);
  EXPECT_EQ(RecipientRegistry::MonitoringDue(*cc), kMonitored + kInterval);
}

TEST_F(MonitoringLogTest, FailedOutcomeRefusesUntilALaterPass) {
  ASSERT_OK(RecordMonitoringResult(
      log_, *registry_, Result(v1::MONITORING_OUTCOME_FAILED), kNow));
  std::unique_ptr<const RecipientRegistry> r = Reload();
  EXPECT_EQ(RecipientRegistry::StatusAt(*r->Find("callcenter-tokyo"), kNow),
            Reason::kRecipientMonitoringFailed);
  // An older pass recorded afterwards does not lift it: the latest counts.
  ASSERT_OK(RecordMonitoringResult(
      log_, *registry_,
      Result(v1::MONITORING_OUTCOME_PASSED, kMonitored - absl::Hours(24)),
      kNow));
  r = Reload();
  EXPECT_EQ(RecipientRegistry::StatusAt(*r->Find("callcenter-tokyo"), kNow),
            Reason::kRecipientMonitoringFailed);
  ASSERT_OK(
      RecordMonitoringResult(log_, *registry_,
                             Result(v1::MONITORING_OUTCOME_PASSED_WITH_FINDINGS,
                                    kMonitored + absl::Hours(24)),
                             kNow));
  r = Reload();
  EXPECT_EQ(RecipientRegistry::StatusAt(*r->Find("callcenter-tokyo"), kNow),
            Reason::kUnspecified);
  EXPECT_EQ(ReasonName(Reason::kRecipientMonitoringFailed),
            "recipient_monitoring_failed");
}

TEST_F(MonitoringLogTest, StatusAsOfAPastDateIgnoresLaterResults) {
  ASSERT_OK(RecordMonitoringResult(
      log_, *registry_, Result(v1::MONITORING_OUTCOME_FAILED), kNow));
  std::unique_ptr<const RecipientRegistry> r = Reload();
  const v1::Recipient* cc = r->Find("callcenter-tokyo");
  // 2026-11-20: the monitoring of 2026-12-01 had not happened yet.
  const absl::Time before = kMonitored - absl::Hours(24 * 11);
  EXPECT_EQ(RecipientRegistry::StatusAt(*cc, before), Reason::kUnspecified);
  EXPECT_EQ(RecipientRegistry::MonitoringDue(*cc, before),
            absl::FromUnixSeconds(1780272000) + kInterval);
  std::vector<MonitoringDueEntry> due =
      RecipientsDueForMonitoring(*r, before, absl::Hours(24 * 30));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].due, absl::FromUnixSeconds(1780272000) + kInterval);
  EXPECT_EQ(RecipientRegistry::StatusAt(*cc, kMonitored),
            Reason::kRecipientMonitoringFailed);
  EXPECT_EQ(RecipientRegistry::MonitoringDue(*cc), kMonitored + kInterval);
}

struct BadResult {
  const char* name;
  void (*mutate)(v1::MonitoringResult&);
  absl::StatusCode code;
  const char* message;
};

class MonitoringResultValidationTest
    : public MonitoringLogTest,
      public ::testing::WithParamInterface<BadResult> {};

TEST_P(MonitoringResultValidationTest, RejectsAndLeavesTheLogAlone) {
  ASSERT_OK(RecordMonitoringResult(
      log_, *registry_, Result(v1::MONITORING_OUTCOME_PASSED), kNow));
  absl::StatusOr<std::string> before = ReadFileToString(log_);
  ASSERT_OK(before);
  v1::MonitoringResult m = Result(v1::MONITORING_OUTCOME_PASSED);
  GetParam().mutate(m);
  EXPECT_THAT(RecordMonitoringResult(log_, *registry_, m, kNow),
              StatusIs(GetParam().code, HasSubstr(GetParam().message)));
  absl::StatusOr<std::string> after = ReadFileToString(log_);
  ASSERT_OK(after);
  EXPECT_EQ(*after, *before);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MonitoringResultValidationTest,
    ::testing::Values(
        BadResult{"UnknownRecipient",
                  [](v1::MonitoringResult& m) { m.set_recipient_id("nobody"); },
                  absl::StatusCode::kNotFound, "unknown recipient 'nobody'"},
        BadResult{"NoMonitor",
                  [](v1::MonitoringResult& m) { m.clear_monitored_by(); },
                  absl::StatusCode::kInvalidArgument,
                  "result.monitored_by: must name who monitored"},
        BadResult{"BlankMonitor",
                  [](v1::MonitoringResult& m) { m.set_monitored_by("  "); },
                  absl::StatusCode::kInvalidArgument,
                  "result.monitored_by: must name who monitored"},
        BadResult{"MonitorNotUtf8",
                  [](v1::MonitoringResult& m) { m.set_monitored_by("\xff"); },
                  absl::StatusCode::kInvalidArgument, "is not valid UTF-8"},
        BadResult{"FindingNotUtf8",
                  [](v1::MonitoringResult& m) { m.add_findings("ok\xc3("); },
                  absl::StatusCode::kInvalidArgument,
                  "result.findings[0]: 'ok\\xc3(' is not valid UTF-8"},
        BadResult{"NoTime", [](v1::MonitoringResult& m) { m.clear_time(); },
                  absl::StatusCode::kInvalidArgument,
                  "result.time: must say when"},
        BadResult{"FutureTime",
                  [](v1::MonitoringResult& m) {
                    m.mutable_time()->set_seconds(absl::ToUnixSeconds(kNow) +
                                                  1);
                  },
                  absl::StatusCode::kInvalidArgument, "is in the future"},
        BadResult{"TimeOutOfRange",
                  [](v1::MonitoringResult& m) {
                    m.mutable_time()->set_seconds(-(std::int64_t{1} << 50));
                  },
                  absl::StatusCode::kInvalidArgument,
                  "outside years 1 to 9999"},
        BadResult{"NoOutcome",
                  [](v1::MonitoringResult& m) { m.clear_outcome(); },
                  absl::StatusCode::kInvalidArgument,
                  "result.outcome: unknown or unspecified outcome 0"},
        BadResult{"UnknownOutcome",
                  [](v1::MonitoringResult& m) {
                    m.set_outcome(static_cast<v1::MonitoringOutcome>(99));
                  },
                  absl::StatusCode::kInvalidArgument,
                  "unknown or unspecified outcome 99"},
        BadResult{"FailedWithoutFindings",
                  [](v1::MonitoringResult& m) {
                    m.set_outcome(v1::MONITORING_OUTCOME_FAILED);
                    m.clear_findings();
                  },
                  absl::StatusCode::kInvalidArgument,
                  "a failed monitoring must state findings"},
        BadResult{"TooManyFindings",
                  [](v1::MonitoringResult& m) {
                    for (int i = 0; i < 101; ++i) m.add_findings("x");
                  },
                  absl::StatusCode::kInvalidArgument, "101 findings"}),
    [](const ::testing::TestParamInfo<BadResult>& i) {
      return std::string(i.param.name);
    });

TEST_F(MonitoringLogTest, LogThatIsADirectoryIsRejected) {
  ASSERT_EQ(::mkdir(log_.c_str(), 0700), 0);
  EXPECT_THAT(
      RecordMonitoringResult(log_, *registry_,
                             Result(v1::MONITORING_OUTCOME_PASSED), kNow),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("not a regular file")));
}

TEST_F(MonitoringLogTest, CorruptLogIsReportedAndNotOverwritten) {
  {
    std::ofstream f(log_);
    f << "results { outcome: NOT_AN_OUTCOME }\n";
  }
  EXPECT_THAT(
      RecordMonitoringResult(log_, *registry_,
                             Result(v1::MONITORING_OUTCOME_PASSED), kNow),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("recipients.monitoring.textproto")));
  absl::StatusOr<std::string> after = ReadFileToString(log_);
  ASSERT_OK(after);
  EXPECT_EQ(*after, "results { outcome: NOT_AN_OUTCOME }\n");
}

TEST_F(MonitoringLogTest, LogNamingAnUnknownRecipientIsRejected) {
  v1::MonitoringLog log;
  *log.add_results() = Result(v1::MONITORING_OUTCOME_PASSED);
  log.mutable_results(0)->set_recipient_id("gone");
  v1::RecipientRegistry proto = ShippedRecipientRegistry();
  EXPECT_THAT(ApplyMonitoringLog(log, proto),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("results[0].recipient_id: 'gone' names no "
                                 "recipient")));
}

TEST_F(MonitoringLogTest, MalformedResultInTheRegistryIsRejected) {
  v1::RecipientRegistry proto = ShippedRecipientRegistry();
  v1::MonitoringResult* m =
      proto.mutable_recipients(0)->add_monitoring_results();
  *m = Result(v1::MONITORING_OUTCOME_FAILED);
  m->clear_findings();
  EXPECT_THAT(RecipientRegistry::Create(proto, *testing::DefaultPolicy()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("recipient registry: recipients[0]."
                                  "monitoring_results[0].findings: ")));
  m->add_findings("x");
  m->set_monitored_by(" ");
  EXPECT_THAT(RecipientRegistry::Create(proto, *testing::DefaultPolicy()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("recipient registry: recipients[0]."
                                  "monitoring_results[0].monitored_by: ")));
  m->set_monitored_by("auditor");
  m->set_recipient_id("partner-insurer");
  EXPECT_THAT(RecipientRegistry::Create(proto, *testing::DefaultPolicy()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("names another recipient")));
}

TEST_F(MonitoringLogTest, AcknowledgedResultSurvivesPowerLoss) {
  ASSERT_OK(RecordMonitoringResult(
      log_, *registry_, Result(v1::MONITORING_OUTCOME_PASSED), kNow));
  testing::FaultInjectionFileSystem fault;
  {
    testing::ScopedFileSystem scoped(&fault);
    ASSERT_OK(RecordMonitoringResult(
        log_, *registry_,
        Result(v1::MONITORING_OUTCOME_FAILED, kMonitored + absl::Hours(1)),
        kNow));
    fault.PowerCut();
  }
  ASSERT_OK(fault.DropUnsyncedData());
  absl::StatusOr<v1::MonitoringLog> log = LoadMonitoringLog(log_);
  ASSERT_OK(log);
  ASSERT_EQ(log->results_size(), 2);
  EXPECT_EQ(log->results(1).outcome(), v1::MONITORING_OUTCOME_FAILED);
}

TEST_F(MonitoringLogTest, FailedWriteKeepsThePreviousLog) {
  ASSERT_OK(RecordMonitoringResult(
      log_, *registry_, Result(v1::MONITORING_OUTCOME_PASSED), kNow));
  testing::FaultInjectionFileSystem fault;
  {
    testing::ScopedFileSystem scoped(&fault);
    fault.PowerCut();
    EXPECT_FALSE(RecordMonitoringResult(log_, *registry_,
                                        Result(v1::MONITORING_OUTCOME_PASSED),
                                        kNow)
                     .ok());
  }
  ASSERT_OK(fault.DropUnsyncedData());
  absl::StatusOr<v1::MonitoringLog> log = LoadMonitoringLog(log_);
  ASSERT_OK(log);
  EXPECT_EQ(log->results_size(), 1);
}

TEST_F(MonitoringLogTest, ConcurrentRecordersLoseNoResult) {
  constexpr int kThreads = 4;
  constexpr int kEach = 5;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        v1::MonitoringResult m = Result(v1::MONITORING_OUTCOME_PASSED);
        m.set_monitored_by(absl::StrCat("monitor-", t, "-", i));
        if (!RecordMonitoringResult(log_, *registry_, m, kNow).ok()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  absl::StatusOr<v1::MonitoringLog> log = LoadMonitoringLog(log_);
  ASSERT_OK(log);
  EXPECT_EQ(log->results_size(), kThreads * kEach);
}

TEST(MonitoringLogPathTest, ReplacesTheExtension) {
  EXPECT_EQ(MonitoringLogPath("policies/recipients.textproto"),
            "policies/recipients.monitoring.textproto");
  EXPECT_EQ(MonitoringLogPath("reg.v1/registry"),
            "reg.v1/registry.monitoring.textproto");
  EXPECT_EQ(MonitoringLogPath("dir/.registry"),
            "dir/.registry.monitoring.textproto");
}

TEST(MonitoringLogPathTest, AbsentLogIsEmpty) {
  absl::StatusOr<v1::MonitoringLog> log =
      LoadMonitoringLog("/nonexistent/dir/recipients.monitoring.textproto");
  ASSERT_OK(log);
  EXPECT_EQ(log->results_size(), 0);
}

// --- Sub-contractor entrustment chains --------------------------------------

// The shipped registry with the call-centre sub-contracting to
// `sub_entry` (a registry entry) and that entry appended.
v1::RecipientRegistry WithSubcontractor(const std::string& sub_id,
                                        v1::RecipientKind kind) {
  v1::RecipientRegistry proto = ShippedRecipientRegistry();
  v1::ContractClauses* c = proto.mutable_recipients(0)->mutable_contract();
  c->set_subcontracting_allowed(true);
  c->set_subcontracting_conditions("prior written approval, same clauses");
  v1::SubContractor* s = c->add_subcontractors();
  s->set_name("Night Shift Co.");
  s->set_recipient_id(sub_id);
  v1::Recipient* sub = proto.add_recipients();
  EXPECT_OK(ParseMessage(
      R"pb(
        id: "night-shift"
        name: "Night Shift Co."
        vetting_status: VETTING_STATUS_APPROVED
        vetted_time { seconds: 1767225600 }
        contract { contract_ref: "SUB-1" safety_measures: "same clauses" }
        monitoring_interval { seconds: 15552000 }
        last_monitored_time { seconds: 1793491200 }
        purposes: "support"
        consent_purpose: "provision.third_party.partner_insurer"
      )pb",
      WireFormat::kText, *sub));
  sub->set_kind(kind);
  return proto;
}

TEST(EntrustmentChainTest, SubcontractorMustBeAContractorInTheRegistry) {
  auto policy = testing::DefaultPolicy();
  EXPECT_OK(RecipientRegistry::Create(
      WithSubcontractor("night-shift", v1::RECIPIENT_KIND_CONTRACTOR),
      *policy));
  EXPECT_THAT(
      RecipientRegistry::Create(
          WithSubcontractor("nobody", v1::RECIPIENT_KIND_CONTRACTOR), *policy),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("recipients[0].contract.subcontractors[0]."
                         "recipient_id: 'nobody' names no recipient")));
  EXPECT_THAT(
      RecipientRegistry::Create(
          WithSubcontractor("night-shift", v1::RECIPIENT_KIND_THIRD_PARTY),
          *policy),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("'night-shift' is not a contractor")));
  EXPECT_THAT(
      RecipientRegistry::Create(
          WithSubcontractor("Bad Id!", v1::RECIPIENT_KIND_CONTRACTOR), *policy),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("'Bad Id!' is not a valid recipient id")));
}

TEST(EntrustmentChainTest, CyclesAreRejected) {
  auto policy = testing::DefaultPolicy();
  v1::RecipientRegistry self =
      WithSubcontractor("callcenter-tokyo", v1::RECIPIENT_KIND_CONTRACTOR);
  EXPECT_THAT(RecipientRegistry::Create(self, *policy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("entrustment cycle: 'callcenter-tokyo' "
                                 "sub-contracts back to 'callcenter-tokyo'")));
  v1::RecipientRegistry loop =
      WithSubcontractor("night-shift", v1::RECIPIENT_KIND_CONTRACTOR);
  v1::ContractClauses* c = loop.mutable_recipients(2)->mutable_contract();
  c->set_subcontracting_allowed(true);
  c->set_subcontracting_conditions("approval");
  c->add_subcontractors()->set_name("Tokyo Call-Centre");
  c->mutable_subcontractors(0)->set_recipient_id("callcenter-tokyo");
  EXPECT_THAT(RecipientRegistry::Create(loop, *policy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("entrustment cycle")));
}

TEST(EntrustmentChainTest, ChainStatusFollowsEverySubcontractor) {
  const absl::Time now = absl::FromUnixSeconds(1794960000);  // 2026-11-18
  v1::RecipientRegistry proto =
      WithSubcontractor("night-shift", v1::RECIPIENT_KIND_CONTRACTOR);
  std::unique_ptr<const RecipientRegistry> r = Build(proto);
  std::string blocking;
  EXPECT_EQ(r->ChainStatusAt(*r->Find("callcenter-tokyo"), now, &blocking),
            Reason::kUnspecified);

  proto.mutable_recipients(2)->set_vetting_status(v1::VETTING_STATUS_PENDING);
  r = Build(proto);
  EXPECT_EQ(RecipientRegistry::StatusAt(*r->Find("callcenter-tokyo"), now),
            Reason::kUnspecified);
  EXPECT_EQ(r->ChainStatusAt(*r->Find("callcenter-tokyo"), now, &blocking),
            Reason::kRecipientNotVetted);
  EXPECT_EQ(blocking, "night-shift");

  // A sub-contractor named without a registry entry has no vetting record.
  proto.mutable_recipients(0)
      ->mutable_contract()
      ->mutable_subcontractors(0)
      ->clear_recipient_id();
  r = Build(proto);
  EXPECT_EQ(r->ChainStatusAt(*r->Find("callcenter-tokyo"), now, &blocking),
            Reason::kRecipientNotVetted);
  EXPECT_EQ(blocking, "Night Shift Co.");
}

// --- Notice version recorded with consent ----------------------------------

TEST(NoticeVersionTest, SetVersionsSeenFillsOnlyWhatIsMissing) {
  std::shared_ptr<const CompiledPolicy> policy = testing::DefaultPolicy();
  v1::PurposeConsent pc;
  SetVersionsSeen(*policy, pc);
  EXPECT_EQ(pc.policy_version(), "2026-11-01");
  EXPECT_EQ(pc.notice_version(), "notice-2026-11");
  v1::PurposeConsent older;
  older.set_notice_version("notice-2026-04");
  SetVersionsSeen(*policy, older);
  EXPECT_EQ(older.notice_version(), "notice-2026-04");
  EXPECT_EQ(older.policy_version(), "2026-11-01");
}

TEST(NoticeVersionTest, StoreKeepsTheNoticeVersionAndRejectsBadOnes) {
  InMemoryConsentStore store;
  v1::ConsentChange c =
      testing::PurposeChange("s-1", "marketing", v1::CONSENT_STATE_GIVEN);
  c.mutable_purpose_consent()->clear_policy_version();
  SetVersionsSeen(*testing::DefaultPolicy(), *c.mutable_purpose_consent());
  ASSERT_OK(store.Apply(c));
  absl::StatusOr<v1::ConsentRecord> rec = store.Get("s-1");
  ASSERT_OK(rec);
  ASSERT_EQ(rec->purposes_size(), 1);
  EXPECT_EQ(rec->purposes(0).notice_version(), "notice-2026-11");

  c.mutable_purpose_consent()->set_notice_version("notice-\xff");
  EXPECT_THAT(store.Apply(c),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("purpose_consent.notice_version is not "
                                 "valid UTF-8")));
  c.mutable_purpose_consent()->set_notice_version(std::string(5000, 'n'));
  EXPECT_THAT(store.Apply(c),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("notice_version is too long")));
}

}  // namespace
}  // namespace consentry
