// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Answer deadlines of data-subject requests: the policy's answer periods
// (checked when it loads), the due time set on receipt, and which requests
// are overdue.

#include <memory>
#include <string>
#include <vector>

#include "consentry/proto_io.h"
#include "consentry/requests.h"
#include "consentry/v1/policy.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::SourcePath;
using ::consentry::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::Policy DefaultProto() {
  absl::StatusOr<v1::Policy> p =
      LoadPolicyFile(SourcePath("policies/default.textproto"));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : v1::Policy();
}

std::shared_ptr<const CompiledPolicy> Compiled(const v1::Policy& p) {
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> c =
      CompiledPolicy::Compile(p);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : nullptr;
}

// --- the policy -------------------------------------------------------------

TEST(AnswerDeadlinePolicyTest, DefaultPolicyGivesFourteenDaysToEveryKind) {
  std::shared_ptr<const CompiledPolicy> p = Compiled(DefaultProto());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->proto().requests().answer_days(), 14);
  for (v1::RequestKind k :
       {v1::REQUEST_KIND_PURPOSE_NOTICE, v1::REQUEST_KIND_DISCLOSURE,
        v1::REQUEST_KIND_CORRECTION, v1::REQUEST_KIND_SUSPENSION,
        v1::REQUEST_KIND_ERASURE, v1::REQUEST_KIND_PROVISION_STOP}) {
    EXPECT_EQ(AnswerDays(*p, k), 14) << RequestKindName(k);
  }
}

TEST(AnswerDeadlinePolicyTest, UnsetUsesTheLibraryDefaultAndKindsOverride) {
  v1::Policy proto = DefaultProto();
  proto.mutable_requests()->clear_answer_days();
  v1::AnswerDeadline* d = proto.mutable_requests()->add_answer_deadlines();
  d->set_kind("suspension");
  d->set_days(3);
  std::shared_ptr<const CompiledPolicy> p = Compiled(proto);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(AnswerDays(*p, v1::REQUEST_KIND_DISCLOSURE), kDefaultAnswerDays);
  EXPECT_EQ(AnswerDays(*p, v1::REQUEST_KIND_SUSPENSION), 3);
  proto.mutable_requests()->set_answer_days(30);
  p = Compiled(proto);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(AnswerDays(*p, v1::REQUEST_KIND_DISCLOSURE), 30);
  EXPECT_EQ(AnswerDays(*p, v1::REQUEST_KIND_SUSPENSION), 3);
}

absl::Status CompileStatus(const v1::Policy& p) {
  return CompiledPolicy::Compile(p).status();
}

TEST(AnswerDeadlinePolicyTest, NegativeOrAbsurdPeriodsAreRefusedNamingField) {
  v1::Policy proto = DefaultProto();
  for (int days : {-1, -14, 366, 100000, 2147483647}) {
    proto.mutable_requests()->set_answer_days(days);
    EXPECT_THAT(CompileStatus(proto),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("policy.requests.answer_days")))
        << days;
  }
  for (int days : {1, 365}) {
    proto.mutable_requests()->set_answer_days(days);
    EXPECT_TRUE(CompileStatus(proto).ok()) << days;
  }
}

TEST(AnswerDeadlinePolicyTest, BadPerKindEntriesAreRefusedNamingTheEntry) {
  struct Case {
    std::string kind;
    int days;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {"disclosure", 0, "answer_deadlines[0].days: 0"},
           {"disclosure", -3, "answer_deadlines[0].days: -3"},
           {"disclosure", 400, "answer_deadlines[0].days: 400"},
           {"disclsoure", 7, "answer_deadlines[0].kind: 'disclsoure'"},
           {"", 7, "answer_deadlines[0].kind: ''"},
           {"\xff\xfe", 7, "answer_deadlines[0].kind: '\\xff\\xfe'"}}) {
    v1::Policy proto = DefaultProto();
    v1::AnswerDeadline* d = proto.mutable_requests()->add_answer_deadlines();
    d->set_kind(c.kind);
    d->set_days(c.days);
    EXPECT_THAT(CompileStatus(proto),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("policy.requests." + c.want)))
        << c.kind << " " << c.days;
  }
  v1::Policy proto = DefaultProto();
  for (int i = 0; i < 2; ++i) {
    v1::AnswerDeadline* d = proto.mutable_requests()->add_answer_deadlines();
    d->set_kind("erasure");
    d->set_days(5);
  }
  EXPECT_THAT(CompileStatus(proto),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("answer_deadlines[1].kind: 'erasure' already "
                                 "has an answer period")));
  proto.mutable_requests()->clear_answer_deadlines();
  for (int i = 0; i < 100000; ++i) {
    proto.mutable_requests()->add_answer_deadlines()->set_days(1);
  }
  EXPECT_THAT(CompileStatus(proto),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("answer_deadlines: 100000 entries")));
}

// --- due times and overdue requests -----------------------------------------

class RequestDeadlineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::Policy proto = DefaultProto();
    v1::AnswerDeadline* d = proto.mutable_requests()->add_answer_deadlines();
    d->set_kind("suspension");
    d->set_days(3);
    policy_ = Compiled(proto);
    ASSERT_NE(policy_, nullptr);
    RequestDeskOptions options;
    options.clock = [this] { return now_; };
    absl::StatusOr<std::unique_ptr<RequestDesk>> desk = RequestDesk::Create(
        policy_, &consent_, &requests_, &audit_, std::move(options));
    ASSERT_OK(desk);
    desk_ = *std::move(desk);
  }

  v1::SubjectRequest Receive(v1::RequestKind kind) {
    v1::SubjectRequest intake;
    intake.set_kind(kind);
    intake.set_subject_id("s1");
    intake.mutable_requester()->set_name("Yamada Hanako");
    if (kind == v1::REQUEST_KIND_SUSPENSION) intake.set_all_purposes(true);
    absl::StatusOr<v1::SubjectRequest> r = desk_->Receive(intake, "window");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::SubjectRequest();
  }

  std::vector<std::string> OverdueIds(absl::Time at) {
    absl::StatusOr<RequestListing> list = OverdueRequests(requests_, at);
    EXPECT_TRUE(list.ok()) << list.status();
    std::vector<std::string> ids;
    if (list.ok()) {
      EXPECT_THAT(list->unreadable, ::testing::IsEmpty());
      for (const v1::SubjectRequest& r : list->requests) ids.push_back(r.id());
    }
    return ids;
  }

  absl::Time now_ = absl::FromUnixSeconds(1'790'000'000);
  std::shared_ptr<const CompiledPolicy> policy_;
  InMemoryConsentStore consent_;
  InMemoryRequestStore requests_;
  InMemoryAuditSink audit_;
  std::unique_ptr<RequestDesk> desk_;
};

TEST_F(RequestDeadlineTest, ReceiveSetsTheDueTimeFromThePolicy) {
  v1::SubjectRequest disclosure = Receive(v1::REQUEST_KIND_DISCLOSURE);
  EXPECT_EQ(disclosure.due_time().seconds(),
            absl::ToUnixSeconds(now_ + absl::Hours(24 * 14)));
  EXPECT_EQ(AnswerDue(disclosure), now_ + absl::Hours(24 * 14));
  v1::SubjectRequest suspension = Receive(v1::REQUEST_KIND_SUSPENSION);
  EXPECT_EQ(AnswerDue(suspension), now_ + absl::Hours(24 * 3));
  // The stored record carries it.
  absl::StatusOr<v1::SubjectRequest> stored = requests_.Get(disclosure.id());
  ASSERT_OK(stored);
  EXPECT_TRUE(stored->has_due_time());
}

TEST_F(RequestDeadlineTest, AnIntakesOwnDueTimeIsNotTaken) {
  v1::SubjectRequest intake;
  intake.set_kind(v1::REQUEST_KIND_DISCLOSURE);
  intake.set_subject_id("s1");
  intake.mutable_requester()->set_name("Yamada Hanako");
  intake.mutable_due_time()->set_seconds(4'000'000'000);
  absl::StatusOr<v1::SubjectRequest> r = desk_->Receive(intake, "window");
  ASSERT_OK(r);
  EXPECT_EQ(AnswerDue(*r), now_ + absl::Hours(24 * 14));
}

TEST_F(RequestDeadlineTest, OverdueOnlyAfterTheDueInstant) {
  const v1::SubjectRequest r = Receive(v1::REQUEST_KIND_DISCLOSURE);
  const absl::Time due = AnswerDue(r);
  EXPECT_FALSE(IsOverdue(r, due - absl::Seconds(1)));
  EXPECT_FALSE(IsOverdue(r, due));  // due exactly now: not yet overdue
  EXPECT_TRUE(IsOverdue(r, due + absl::Seconds(1)));
  EXPECT_THAT(OverdueIds(due - absl::Seconds(1)), IsEmpty());
  EXPECT_THAT(OverdueIds(due), IsEmpty());
  EXPECT_THAT(OverdueIds(due + absl::Seconds(1)),
              ::testing::ElementsAre(r.id()));
}

TEST_F(RequestDeadlineTest, MostOverdueFirstAndKindsKeepTheirOwnPeriods) {
  const v1::SubjectRequest disclosure = Receive(v1::REQUEST_KIND_DISCLOSURE);
  now_ += absl::Hours(24);
  const v1::SubjectRequest suspension = Receive(v1::REQUEST_KIND_SUSPENSION);
  const absl::Time start = absl::FromUnixSeconds(1'790'000'000);
  // Day 5: only the suspension (3 days) is overdue.
  EXPECT_THAT(OverdueIds(start + absl::Hours(24 * 5)),
              ::testing::ElementsAre(suspension.id()));
  // Day 20: both; the suspension was due first.
  EXPECT_THAT(OverdueIds(start + absl::Hours(24 * 20)),
              ::testing::ElementsAre(suspension.id(), disclosure.id()));
}

TEST_F(RequestDeadlineTest, ARequestAnsweredLateIsNoLongerOverdue) {
  const v1::SubjectRequest r = Receive(v1::REQUEST_KIND_PURPOSE_NOTICE);
  const std::string id = r.id();
  now_ += absl::Hours(24 * 20);  // past its 14 days
  EXPECT_THAT(OverdueIds(now_), ::testing::ElementsAre(id));
  ASSERT_OK(desk_->SendForm(id, "window"));
  ASSERT_OK(desk_->RecordFormReturned(id, "mailroom"));
  ASSERT_OK(desk_->VerifyIdentity(id, "window", {"s1", "licence"}));
  ASSERT_OK(desk_->StartProcessing(id, "officer"));
  EXPECT_THAT(OverdueIds(now_), ::testing::ElementsAre(id));
  ASSERT_OK(desk_->Execute(id, "officer"));
  EXPECT_THAT(OverdueIds(now_), ::testing::ElementsAre(id));  // not answered
  absl::StatusOr<v1::SubjectRequest> answered =
      desk_->Answer(id, "window", "letter-9");
  ASSERT_OK(answered);
  EXPECT_FALSE(IsOverdue(*answered, now_));
  EXPECT_THAT(OverdueIds(now_), IsEmpty());
}

TEST_F(RequestDeadlineTest, ARefusedRequestIsNotOverdue) {
  const v1::SubjectRequest r = Receive(v1::REQUEST_KIND_DISCLOSURE);
  now_ += absl::Hours(24 * 30);
  absl::StatusOr<v1::SubjectRequest> refused =
      desk_->Refuse(r.id(), "officer", v1::REFUSAL_GROUND_NO_RETAINED_DATA,
                    "no data is retained");
  ASSERT_OK(refused);
  EXPECT_FALSE(IsOverdue(*refused, now_));
  EXPECT_THAT(OverdueIds(now_), IsEmpty());
}

TEST_F(RequestDeadlineTest, ARecordWithoutDueTimeCountsFromTheDefault) {
  v1::SubjectRequest old;
  old.set_state(v1::REQUEST_STATE_RECEIVED);
  *old.mutable_receive_time() = google::protobuf::Timestamp();
  old.mutable_receive_time()->set_seconds(1'790'000'000);
  EXPECT_EQ(AnswerDue(old), now_ + absl::Hours(24 * kDefaultAnswerDays));
}

TEST_F(RequestDeadlineTest, AStoreOutageIsAnError) {
  requests_.SetUnavailableForTesting(true);
  EXPECT_THAT(OverdueRequests(requests_, now_),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
}

}  // namespace
}  // namespace consentry
