// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/projection.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "consentry/audit_log.h"
#include "consentry/field_access.h"
#include "gmock/gmock.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "projection_test.pb.h"
#include "src/access/projection_plan.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::StatusIs;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kMember[] = "member-7";

MATCHER_P(EqualsProto, expected, "equals " + expected.ShortDebugString()) {
  std::string diff;
  MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  if (differ.Compare(expected, arg)) return true;
  *result_listener << "differs: " << diff;
  return false;
}

// A record with every kind of field set.
test::Record FullRecord() {
  test::Record r;
  r.set_member_id(kMember);
  r.set_weight_kg(61.2);
  r.mutable_contact()->set_email("m7@example.jp");
  r.mutable_contact()->set_phone("03-0000-0007");
  test::Part* trunk = r.add_parts();
  trunk->set_segment("trunk");
  trunk->set_fat_percent(21.5);
  r.add_parts()->set_segment("left_arm");
  (*r.mutable_parts_by_name())["right_leg"].set_fat_percent(18.0);
  (*r.mutable_labels())["plan"] = "family";
  r.set_card_token("tok-123");
  r.mutable_measured_at()->set_seconds(1'790'000'000);
  r.add_device_ids("scale-42");
  return r;
}

class ProjectorTest : public testing::GuardFixture {
 protected:
  void SetUp() override {
    GuardFixture::SetUp();
    projector_ = std::make_unique<Projector>(*guard_);
  }

  template <typename M>
  absl::StatusOr<M> Project(const std::string& accessor,
                            const std::string& purpose, const M& in) {
    return projector_->Project(Ctx(accessor, purpose), in);
  }

  std::unique_ptr<Projector> projector_;
};

TEST_F(ProjectorTest, SupportSeesEveryTaggedField) {
  const test::Record in = FullRecord();
  EXPECT_THAT(Project("support-desk", "support", in),
              testing::IsOkAndHolds(EqualsProto(in)));
}

TEST_F(ProjectorTest, BillingSeesOnlyIdentityAndBillingFields) {
  absl::StatusOr<test::Record> out =
      Project("billing-service", "billing.calculation", FullRecord());
  ASSERT_OK(out);
  test::Record expected;
  expected.set_member_id(kMember);
  (*expected.mutable_labels())["plan"] = "family";
  expected.set_card_token("tok-123");
  expected.add_device_ids("scale-42");
  // The contact container and the parts lost every field and are gone;
  // the measurement map is cleared.
  EXPECT_THAT(*out, EqualsProto(expected));
  EXPECT_FALSE(out->has_contact());
}

TEST_F(ProjectorTest, StatisticsSeesMeasurementsOnlyWithConsent) {
  absl::StatusOr<test::Record> before =
      Project("statistics-job", "statistics.measurement", FullRecord());
  ASSERT_OK(before);
  EXPECT_THAT(*before, EqualsProto(test::Record()));

  Set(kMember, "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  absl::StatusOr<test::Record> after =
      Project("statistics-job", "statistics.measurement", FullRecord());
  ASSERT_OK(after);
  test::Record expected = FullRecord();
  expected.clear_member_id();
  expected.clear_contact();
  expected.clear_labels();
  expected.clear_card_token();
  expected.clear_device_ids();
  EXPECT_THAT(*after, EqualsProto(expected));
  EXPECT_EQ(after->parts_by_name().at("right_leg").fat_percent(), 18.0);
}

TEST_F(ProjectorTest, OneofMemberIsJudgedByItsOwnCategory) {
  test::Record in;
  in.set_member_id(kMember);
  in.mutable_invoice_contact()->set_email("bills@example.jp");
  absl::StatusOr<test::Record> billing =
      Project("billing-service", "billing.calculation", in);
  ASSERT_OK(billing);
  EXPECT_EQ(billing->payment_case(), test::Record::PAYMENT_NOT_SET);
  absl::StatusOr<test::Record> support = Project("support-desk", "support", in);
  ASSERT_OK(support);
  EXPECT_EQ(support->invoice_contact().email(), "bills@example.jp");

  in.set_card_token("tok-9");  // switches the oneof
  billing = Project("billing-service", "billing.calculation", in);
  ASSERT_OK(billing);
  EXPECT_EQ(billing->card_token(), "tok-9");
}

TEST_F(ProjectorTest, UnknownFieldsAreDropped) {
  test::Record in = FullRecord();
  in.GetReflection()->MutableUnknownFields(&in)->AddVarint(999, 1);
  test::Contact* contact = in.mutable_contact();
  contact->GetReflection()->MutableUnknownFields(contact)->AddLengthDelimited(
      998, "leak");
  test::Part* part = in.mutable_parts(0);
  part->GetReflection()->MutableUnknownFields(part)->AddFixed32(997, 7);
  test::Part& mapped = (*in.mutable_parts_by_name())["right_leg"];
  mapped.GetReflection()->MutableUnknownFields(&mapped)->AddVarint(996, 2);

  absl::StatusOr<test::Record> out = Project("support-desk", "support", in);
  ASSERT_OK(out);
  EXPECT_TRUE(out->GetReflection()->GetUnknownFields(*out).empty());
  EXPECT_TRUE(
      out->contact().GetReflection()->GetUnknownFields(out->contact()).empty());
  EXPECT_TRUE(
      out->parts(0).GetReflection()->GetUnknownFields(out->parts(0)).empty());
  const test::Part& out_mapped = out->parts_by_name().at("right_leg");
  EXPECT_TRUE(out_mapped.GetReflection()->GetUnknownFields(out_mapped).empty());
  EXPECT_THAT(*out, EqualsProto(FullRecord()));
}

TEST_F(ProjectorTest, UnknownFieldsAreDroppedWhenFieldsAreCleared) {
  test::Record in = FullRecord();
  in.GetReflection()->MutableUnknownFields(&in)->AddVarint(999, 1);
  test::Part* part = in.mutable_parts(1);
  part->GetReflection()->MutableUnknownFields(part)->AddFixed32(997, 7);

  absl::StatusOr<test::Record> out =
      Project("billing-service", "billing.calculation", in);
  ASSERT_OK(out);
  EXPECT_TRUE(out->GetReflection()->GetUnknownFields(*out).empty());
  // The part held only measurement data and an unknown field: it is gone.
  EXPECT_EQ(out->parts_size(), 0);
  EXPECT_EQ(out->card_token(), "tok-123");
}

// A map entry is a message of its own on the wire. The generated classes
// keep only keys and values, but a dynamic message keeps each entry,
// unknown fields included: they must not pass through unprojected, in a map
// of scalars as in a map of messages, whether or not the record holds
// other unknown fields (a second input holds none elsewhere).
TEST_F(ProjectorTest,
       UnknownFieldsInsideMapEntriesOfDynamicMessagesAreDropped) {
  const auto field = [](int number, const std::string& bytes) {
    return absl::StrCat(std::string(1, static_cast<char>(number << 3 | 2)),
                        std::string(1, static_cast<char>(bytes.size())), bytes);
  };
  // labels (6) {key: "plan" value: "family" 3: 7}; parts_by_name (5)
  // {key: "arm" value {segment: "arm"} 4: 5}.
  const std::string labels =
      field(6, field(1, "plan") + field(2, "family") + "\x18\x07");
  const std::string parts =
      field(5, field(1, "arm") + field(2, field(1, "arm")) + "\x20\x05");
  google::protobuf::DynamicMessageFactory factory;
  const google::protobuf::Message* prototype =
      factory.GetPrototype(test::Record::descriptor());
  for (const std::string& maps : {labels, labels + parts}) {
    std::unique_ptr<google::protobuf::Message> in(prototype->New());
    ASSERT_TRUE(in->ParseFromString(field(1, kMember) + maps));
    // Support sees billing (the labels) and measurement.
    absl::StatusOr<std::unique_ptr<google::protobuf::Message>> out =
        projector_->Project(Ctx("support-desk", "support"), *in);
    ASSERT_OK(out);
    const google::protobuf::Reflection* r = (*out)->GetReflection();
    for (const char* name : {"labels", "parts_by_name"}) {
      const google::protobuf::FieldDescriptor* f =
          test::Record::descriptor()->FindFieldByName(name);
      for (int i = 0; i < r->FieldSize(**out, f); ++i) {
        const google::protobuf::Message& entry =
            r->GetRepeatedMessage(**out, f, i);
        EXPECT_TRUE(entry.GetReflection()->GetUnknownFields(entry).empty())
            << name << ": " << entry.ShortDebugString();
      }
    }
    test::Record reparsed;
    ASSERT_TRUE(reparsed.ParseFromString((*out)->SerializeAsString()));
    EXPECT_EQ(reparsed.labels().at("plan"), "family");
  }
}

TEST_F(ProjectorTest, ZeroValuedScalarsAreNotPresentButSetOneofMembersAre) {
  test::Record in;
  in.set_member_id(kMember);
  in.set_weight_kg(0.0);
  audit_.Clear();
  ASSERT_OK(Project("support-desk", "support", in).status());
  EXPECT_EQ(audit_.size(), 1u);  // identity only

  in.set_card_token("");  // a oneof member is present even when empty
  audit_.Clear();
  ASSERT_OK(Project("support-desk", "support", in).status());
  EXPECT_EQ(audit_.size(), 2u);  // identity and billing

  in.set_weight_kg(0.5);
  audit_.Clear();
  ASSERT_OK(Project("support-desk", "support", in).status());
  EXPECT_EQ(audit_.size(), 3u);  // and measurement
}

TEST_F(ProjectorTest, EachScalarKindIsPresentExactlyWhenSet) {
  const google::protobuf::Descriptor* type = test::Scalars::descriptor();
  for (int i = 0; i < type->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* fd = type->field(i);
    if (fd->name() == "member_id") continue;
    test::Scalars in;
    in.set_member_id(kMember);
    const google::protobuf::Reflection* r = in.GetReflection();
    audit_.Clear();
    ASSERT_OK(Project("support-desk", "support", in).status());
    EXPECT_EQ(audit_.size(), 1u) << fd->name() << " unset";

    switch (fd->cpp_type()) {
      case google::protobuf::FieldDescriptor::CPPTYPE_INT32:
        if (fd->is_repeated()) {
          r->AddInt32(&in, fd, 0);
        } else {
          r->SetInt32(&in, fd, fd->has_presence() ? 0 : -3);
        }
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_INT64:
        r->SetInt64(&in, fd, -4);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_UINT32:
        r->SetUInt32(&in, fd, 5);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_UINT64:
        r->SetUInt64(&in, fd, 6);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_FLOAT:
        r->SetFloat(&in, fd, 0.5f);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE:
        r->SetDouble(&in, fd, -0.25);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_BOOL:
        r->SetBool(&in, fd, true);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_ENUM:
        r->SetEnumValue(&in, fd, 1);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_STRING:
        r->SetString(&in, fd, "x");
        break;
      default:
        FAIL() << "unexpected field kind: " << fd->name();
    }
    audit_.Clear();
    absl::StatusOr<test::Scalars> out = Project("support-desk", "support", in);
    ASSERT_OK(out);
    EXPECT_EQ(audit_.size(), 2u) << fd->name() << " set";
    EXPECT_THAT(*out, EqualsProto(in)) << fd->name();
  }
}

TEST_F(ProjectorTest, DynamicMessagesAreProjectedLikeGeneratedOnes) {
  absl::StatusOr<test::Record> generated =
      Project("billing-service", "billing.calculation", FullRecord());
  ASSERT_OK(generated);
  google::protobuf::DynamicMessageFactory factory;
  const google::protobuf::Message* prototype =
      factory.GetPrototype(test::Record::descriptor());
  ASSERT_NE(prototype, nullptr);
  std::unique_ptr<google::protobuf::Message> dynamic_in(prototype->New());
  ASSERT_TRUE(dynamic_in->ParseFromString(FullRecord().SerializeAsString()));
  const AccessContext billing = Ctx("billing-service", "billing.calculation");

  // Dynamic in, dynamic out.
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> out =
      projector_->Project(billing, *dynamic_in);
  ASSERT_OK(out);
  test::Record reparsed;
  ASSERT_TRUE(reparsed.ParseFromString((*out)->SerializeAsString()));
  EXPECT_THAT(reparsed, EqualsProto(*generated));

  // Generated in, dynamic out, and the reverse.
  std::unique_ptr<google::protobuf::Message> dynamic_out(prototype->New());
  ASSERT_OK(projector_->ProjectInto(billing, FullRecord(), dynamic_out.get()));
  ASSERT_TRUE(reparsed.ParseFromString(dynamic_out->SerializeAsString()));
  EXPECT_THAT(reparsed, EqualsProto(*generated));
  test::Record generated_out;
  ASSERT_OK(projector_->ProjectInto(billing, *dynamic_in, &generated_out));
  EXPECT_THAT(generated_out, EqualsProto(*generated));

  // Dynamic messages of two types share one C++ class.
  std::unique_ptr<google::protobuf::Message> other(
      factory.GetPrototype(test::Tree::descriptor())->New());
  EXPECT_THAT(projector_->ProjectInto(billing, *dynamic_in, other.get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("out is a consentry.test.Tree, not a "
                                 "consentry.test.Record")));
}

TEST_F(ProjectorTest, UntaggedFieldsFailClosed) {
  test::Untagged in;
  in.set_member_id(kMember);
  in.set_note("prefers morning calls");
  in.set_weight_kg(70.1);
  absl::StatusOr<test::Untagged> out = Project("support-desk", "support", in);
  ASSERT_OK(out);
  EXPECT_EQ(out->note(), "");
  EXPECT_EQ(out->weight_kg(), 70.1);
  EXPECT_EQ(out->member_id(), kMember);
}

TEST_F(ProjectorTest, UntaggedFieldsReadableWhenTheMessageSaysSo) {
  test::Lenient in;
  in.set_member_id(kMember);
  in.set_note("prefers morning calls");
  EXPECT_THAT(Project("billing-service", "billing.calculation", in),
              testing::IsOkAndHolds(EqualsProto(in)));
}

TEST_F(ProjectorTest, RecursiveMessagesAreProjectedAtEveryDepth) {
  test::Tree in;
  in.set_member_id(kMember);
  test::TreeNode* n = in.mutable_root();
  for (int depth = 0; depth < 5; ++depth) {
    n->set_value(depth);
    n->set_secret("s" + std::to_string(depth));
    n = n->add_children();
  }
  absl::StatusOr<test::Tree> out =
      Project("app-backend", "service.operation", in);
  ASSERT_OK(out);
  // service.operation may use measurement and billing.
  EXPECT_THAT(*out, EqualsProto(in));

  Set(kMember, "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  out = Project("statistics-job", "statistics.measurement", in);
  ASSERT_OK(out);
  const test::TreeNode* node = &out->root();
  for (int depth = 0; depth < 5; ++depth) {
    EXPECT_EQ(node->value(), depth);
    EXPECT_EQ(node->secret(), "") << "depth " << depth;
    node = &node->children(0);
  }
}

TEST_F(ProjectorTest, EmptiedRepeatedElementsAreRemovedInOrder) {
  test::Tree in;
  in.set_member_id(kMember);
  test::TreeNode* root = in.mutable_root();
  root->add_children()->set_secret("a");
  root->add_children()->set_value(1);
  test::TreeNode* both = root->add_children();
  both->set_value(2);
  both->set_secret("b");

  absl::StatusOr<test::Tree> billing =
      Project("billing-service", "billing.calculation", in);
  ASSERT_OK(billing);
  test::Tree expected;
  expected.set_member_id(kMember);
  expected.mutable_root()->add_children()->set_secret("a");
  expected.mutable_root()->add_children()->set_secret("b");
  EXPECT_THAT(*billing, EqualsProto(expected));
}

TEST_F(ProjectorTest, AuditsOneDecisionPerCategoryPresent) {
  audit_.Clear();
  ASSERT_OK(Project("support-desk", "support", FullRecord()).status());
  absl::flat_hash_set<std::string> categories;
  for (const OwnedAuditEvent& e : audit_.Events()) {
    EXPECT_EQ(e.subject, kMember);
    EXPECT_EQ(e.purpose, "support");
    categories.insert(e.category);
  }
  EXPECT_EQ(audit_.size(), 4u);
  EXPECT_EQ(categories, (absl::flat_hash_set<std::string>{
                            "identity", "measurement", "contact", "billing"}));

  audit_.Clear();
  test::Record only_id;
  only_id.set_member_id(kMember);
  ASSERT_OK(Project("support-desk", "support", only_id).status());
  EXPECT_EQ(audit_.size(), 1u);
}

// The projection decides its categories in one Guard call; its events must
// be those one `Check` per category makes, one time shared by all.
TEST_F(ProjectorTest, ProjectionIntoTheDurableLogRecordsWhatTheSinkWould) {
  std::string dir = ::testing::TempDir() + "consentry_projection_log_XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  Set(kMember, "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  const AccessContext ctx = Ctx("statistics-job", "statistics.measurement");
  ASSERT_OK(projector_->Project(ctx, FullRecord()).status());
  std::vector<OwnedAuditEvent> expected = audit_.Events();
  {
    AuditLogOptions o;
    o.directory = dir;
    auto log = AuditLog::Open(o);
    ASSERT_OK(log);
    auto guard = Guard::Create(testing::DefaultPolicy(), &store_, log->get());
    ASSERT_OK(guard);
    Projector projector(**guard);
    auto logged_ctx =
        (*guard)->Context("statistics-job", "statistics.measurement");
    ASSERT_OK(logged_ctx);
    ASSERT_OK(projector.Project(*logged_ctx, FullRecord()).status());
    ASSERT_OK((*log)->Close());
  }
  auto reader = AuditLogReader::Open(dir);
  ASSERT_OK(reader);
  absl::StatusOr<std::vector<OwnedAuditEvent>> logged =
      (*reader)->ForSubject(kMember);
  ASSERT_OK(logged);
  const auto by_category = [](const OwnedAuditEvent& a,
                              const OwnedAuditEvent& b) {
    return a.category < b.category;
  };
  std::sort(expected.begin(), expected.end(), by_category);
  std::sort(logged->begin(), logged->end(), by_category);
  ASSERT_EQ(logged->size(), expected.size());
  ASSERT_GE(logged->size(), 2u);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(expected[i].category);
    EXPECT_EQ((*logged)[i].category, expected[i].category);
    EXPECT_EQ((*logged)[i].accessor, expected[i].accessor);
    EXPECT_EQ((*logged)[i].purpose, expected[i].purpose);
    EXPECT_EQ((*logged)[i].policy_version, expected[i].policy_version);
    EXPECT_EQ((*logged)[i].reason, expected[i].reason);
    EXPECT_EQ((*logged)[i].revision, expected[i].revision);
    EXPECT_EQ((*logged)[i].time_unix_nanos, (*logged)[0].time_unix_nanos);
  }
  std::filesystem::remove_all(dir);
}

TEST_F(ProjectorTest, AuditsWhatOneCheckPerCategoryWould) {
  const auto by_category = [this]() {
    std::vector<OwnedAuditEvent> events = audit_.Events();
    std::sort(events.begin(), events.end(),
              [](const OwnedAuditEvent& a, const OwnedAuditEvent& b) {
                return a.category < b.category;
              });
    return events;
  };
  Set(kMember, "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Set(kMember, "marketing.research", v1::CONSENT_STATE_REFUSED);
  const std::vector<std::string> categories = {"billing", "contact", "identity",
                                               "measurement"};
  const std::vector<std::pair<std::string, std::string>> contexts = {
      {"support-desk", "support"},
      {"billing-service", "billing.calculation"},
      {"statistics-job", "statistics.measurement"},
      {"marketing-analytics", "marketing.research"},
      {"web-analytics", "web"}};
  // The second round runs after a policy switch: contexts and categories
  // resolved under the old policy are then resolved by name.
  for (int round = 0; round < 2; ++round) {
    for (const auto& [accessor, purpose] : contexts) {
      SCOPED_TRACE(absl::StrCat(accessor, " / ", purpose, " round ", round));
      const AccessContext ctx = Ctx(accessor, purpose);
      std::vector<CategoryRef> refs;
      for (const std::string& c : categories) refs.push_back(Cat(c));
      if (round == 1) {
        ASSERT_OK(guard_->SetPolicy(testing::DefaultPolicy()));
      }
      audit_.Clear();
      ASSERT_OK(projector_->Project(ctx, FullRecord()).status());
      const std::vector<OwnedAuditEvent> projected = by_category();
      audit_.Clear();
      for (const CategoryRef& c : refs) {
        ASSERT_OK(guard_->Check(ctx, kMember, c).status());
      }
      const std::vector<OwnedAuditEvent> checked = by_category();
      ASSERT_EQ(projected.size(), categories.size());
      ASSERT_EQ(checked.size(), categories.size());
      for (std::size_t i = 0; i < categories.size(); ++i) {
        const OwnedAuditEvent& p = projected[i];
        const OwnedAuditEvent& c = checked[i];
        EXPECT_EQ(p.category, categories[i]);
        EXPECT_EQ(p.time_unix_nanos, projected[0].time_unix_nanos);
        EXPECT_EQ(p.time_unix_nanos, c.time_unix_nanos);
        EXPECT_EQ(p.action, c.action);
        EXPECT_EQ(p.accessor, c.accessor);
        EXPECT_EQ(p.subject, c.subject);
        EXPECT_EQ(p.category, c.category);
        EXPECT_EQ(p.purpose, c.purpose);
        EXPECT_EQ(p.policy_version, c.policy_version);
        EXPECT_EQ(p.record_ref, c.record_ref);
        EXPECT_EQ(p.reason, c.reason) << categories[i];
        EXPECT_EQ(p.revision, c.revision);
        EXPECT_EQ(p.shadow, c.shadow);
      }
    }
  }
}

TEST_F(ProjectorTest, RequireAllDeniesWhenAFieldIsDenied) {
  Projector strict(*guard_, ProjectorOptions{ProjectionMode::kRequireAll});
  test::Record out;
  out.set_member_id("stale");
  absl::Status s = strict.ProjectInto(
      Ctx("billing-service", "billing.calculation"), FullRecord(), &out);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kPermissionDenied,
                          HasSubstr("is present and the read requires every")));
  EXPECT_EQ(ReasonFromStatus(s), Reason::kNotAllowedByPolicy);
  EXPECT_THAT(out, EqualsProto(test::Record()));

  EXPECT_THAT(strict.Project(Ctx("support-desk", "support"), FullRecord()),
              testing::IsOkAndHolds(EqualsProto(FullRecord())));
}

TEST_F(ProjectorTest, RequireAllNamesTheDeniedField) {
  Projector strict(*guard_, ProjectorOptions{ProjectionMode::kRequireAll});
  test::Record in;
  in.set_member_id(kMember);
  in.mutable_contact()->set_phone("03-0000-0007");
  EXPECT_THAT(strict.Project(Ctx("billing-service", "billing.calculation"), in),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("consentry.test.Contact.phone")));
}

TEST_F(ProjectorTest, RequireAllDeniesAnUntaggedField) {
  Projector strict(*guard_, ProjectorOptions{ProjectionMode::kRequireAll});
  test::Untagged in;
  in.set_member_id(kMember);
  in.set_note("x");
  EXPECT_THAT(strict.Project(Ctx("support-desk", "support"), in),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("consentry.test.Untagged.note")));
  in.clear_note();
  EXPECT_OK(strict.Project(Ctx("support-desk", "support"), in).status());
}

TEST_F(ProjectorTest, RequireAllReportsMissingConsent) {
  Projector strict(*guard_, ProjectorOptions{ProjectionMode::kRequireAll});
  test::Record in;
  in.set_member_id(kMember);
  in.set_weight_kg(61.2);
  // marketing.research may use identity (opt-out) and measurement (opt-in).
  absl::Status s =
      strict.Project(Ctx("marketing-analytics", "marketing.research"), in)
          .status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition,
                          HasSubstr("consentry.test.Record.weight_kg")));
  EXPECT_EQ(ReasonFromStatus(s), Reason::kNoConsent);
}

TEST_F(ProjectorTest, UnknownCategoryIdIsRejected) {
  EXPECT_THAT(
      projector_->Prepare(test::UnknownCategory::descriptor()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("field consentry.test.UnknownCategory.genome: "
                         "category 'genome' is not defined by the policy")));
  test::UnknownCategory in;
  in.set_member_id(kMember);
  EXPECT_THAT(Project("support-desk", "support", in),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("UnknownCategory.genome")));
}

TEST_F(ProjectorTest, NonStringSubjectFieldIsRejected) {
  EXPECT_THAT(
      projector_->Prepare(test::NonStringSubject::descriptor()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("field consentry.test.NonStringSubject."
                         "member_number: (consentry.v1.subject_id) "
                         "marks a field that is not a singular string")));
}

TEST_F(ProjectorTest,
       CategoryOnMessageFieldConflictingWithNestedTagsIsRejected) {
  EXPECT_THAT(
      projector_->Prepare(test::FieldConflict::descriptor()),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          AllOf(HasSubstr("field consentry.test.Contact.email: category "
                          "'contact' conflicts with category 'billing'"),
                HasSubstr("consentry.test.FieldConflict.billing_contact"))));
  EXPECT_THAT(
      projector_->Prepare(test::DefaultConflict::descriptor()),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          AllOf(HasSubstr("message consentry.test.Part (default_category)"),
                HasSubstr("consentry.test.DefaultConflict.part"))));
  // A consistent tag on a message-typed field is accepted.
  EXPECT_OK(projector_->Prepare(test::Record::descriptor()));
}

TEST_F(ProjectorTest, SubjectFieldMustExistOnceAndBeSet) {
  EXPECT_THAT(projector_->Prepare(test::NoSubject::descriptor()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("message type consentry.test.NoSubject has "
                                 "no field marked")));
  EXPECT_THAT(projector_->Prepare(test::TwoSubjects::descriptor()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("consentry.test.TwoSubjects marks more than "
                                 "one field")));
  test::Record in = FullRecord();
  in.clear_member_id();
  EXPECT_THAT(Project("support-desk", "support", in),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("message type consentry.test.Record: "
                                 "subject-id field member_id is empty")));
}

TEST_F(ProjectorTest, OutputOfAnotherTypeIsRejected) {
  test::Untagged wrong;
  EXPECT_THAT(projector_->ProjectInto(Ctx("support-desk", "support"),
                                      FullRecord(), &wrong),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("out is a consentry.test.Untagged, not a "
                                 "consentry.test.Record")));
  EXPECT_THAT(
      projector_->ProjectInto(Ctx("support-desk", "support"), FullRecord(),
                              nullptr),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out is null")));
}

TEST_F(ProjectorTest, StoreOutageFailsClosedWithoutPartialCopy) {
  store_.SetUnavailableForTesting(true);
  test::Record out = FullRecord();
  absl::Status s = projector_->ProjectInto(Ctx("support-desk", "support"),
                                           FullRecord(), &out);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable,
                          HasSubstr("store_unavailable")));
  EXPECT_THAT(out, EqualsProto(test::Record()));
}

TEST_F(ProjectorTest, AuditOutageFailsClosedWithoutPartialCopy) {
  audit_.SetFailingForTesting(true);
  test::Record out = FullRecord();
  absl::Status s = projector_->ProjectInto(Ctx("support-desk", "support"),
                                           FullRecord(), &out);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable,
                          HasSubstr("audit_unavailable")));
  EXPECT_THAT(out, EqualsProto(test::Record()));
}

TEST_F(ProjectorTest, ShadowModeKeepsDeniedFieldsAndCountsThem) {
  GuardOptions options;
  options.mode = EnforcementMode::kShadow;
  projector_.reset();
  MakeGuard(options);
  Projector shadow(*guard_);
  EXPECT_THAT(shadow.Project(Ctx("billing-service", "billing.calculation"),
                             FullRecord()),
              testing::IsOkAndHolds(EqualsProto(FullRecord())));
  EXPECT_FALSE(guard_->ShadowReport().empty());
}

TEST_F(ProjectorTest, PlanIsCompiledOncePerTypeAndSharedAcrossThreads) {
  Set(kMember, "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  const AccessContext stats = Ctx("statistics-job", "statistics.measurement");
  const AccessContext support = Ctx("support-desk", "support");
  absl::StatusOr<test::Record> expected_stats =
      projector_->Project(stats, FullRecord());
  ASSERT_OK(expected_stats);
  const test::Record full = FullRecord();
  test::Tree tree;
  tree.set_member_id(kMember);
  tree.mutable_root()->set_value(1);
  tree.mutable_root()->set_secret("s");

  constexpr int kThreads = 4;
  constexpr int kRounds = 50;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        absl::StatusOr<test::Record> a = projector_->Project(stats, full);
        absl::StatusOr<test::Record> b = projector_->Project(support, full);
        absl::StatusOr<test::Tree> c = projector_->Project(stats, tree);
        if (!a.ok() || !MessageDifferencer::Equals(*a, *expected_stats) ||
            !b.ok() || !MessageDifferencer::Equals(*b, full) || !c.ok() ||
            !c->root().secret().empty() || c->root().value() != 1) {
          ++mismatches[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_THAT(mismatches, ::testing::Each(0));
  EXPECT_EQ(projector_->cached_plans(), 2u);
}

// Random records for the comparison below: each field present or not,
// oneof members, emptyable repeated elements, maps, unknown fields.
class RandomRecords {
 public:
  explicit RandomRecords(std::uint64_t seed) : rng_(seed) {}

  test::Record Record() {
    test::Record r;
    r.set_member_id(kMember);
    if (Coin()) r.set_weight_kg(Coin() ? -0.0 : 61.2);
    if (Coin()) {
      test::Contact* c = r.mutable_contact();
      if (Coin()) c->set_email("m7@example.jp");
      if (Coin()) c->set_phone("03");
    }
    for (int i = Pick(4); i > 0; --i) Part(r.add_parts());
    for (int i = Pick(3); i > 0; --i) {
      Part(&(*r.mutable_parts_by_name())[absl::StrCat("p", i)]);
    }
    if (Coin()) (*r.mutable_labels())["plan"] = "family";
    switch (Pick(3)) {
      case 1:
        r.set_card_token(Coin() ? "tok" : "");
        break;
      case 2:
        r.mutable_invoice_contact()->set_email(Coin() ? "i@example.jp" : "");
        break;
      default:
        break;
    }
    if (Coin()) r.mutable_measured_at()->set_seconds(Pick(2));
    for (int i = Pick(3); i > 0; --i) r.add_device_ids("d");
    Unknown(&r);
    return r;
  }

  test::Tree Tree() {
    test::Tree t;
    t.set_member_id(kMember);
    if (Coin()) Node(t.mutable_root(), 3);
    return t;
  }

  test::Scalars Scalars() {
    test::Scalars s;
    s.set_member_id(kMember);
    if (Coin()) s.set_i32(Pick(2));
    if (Coin()) s.set_i64(Pick(2));
    if (Coin()) s.set_u32(static_cast<std::uint32_t>(Pick(2)));
    if (Coin()) s.set_u64(static_cast<std::uint64_t>(Pick(2)));
    if (Coin()) s.set_f(Coin() ? -0.0f : 0.0f);
    if (Coin()) s.set_d(Coin() ? -0.0 : 1.0);
    if (Coin()) s.set_b(Coin());
    if (Coin()) s.set_level(test::Scalars::LEVEL_HIGH);
    if (Coin()) s.set_raw(Coin() ? "" : "x");
    if (Coin()) s.set_text("t");
    if (Coin()) s.set_s32(-Pick(2));
    if (Coin()) s.set_f64(static_cast<std::uint64_t>(Pick(2)));
    if (Coin()) s.set_explicit_i32(0);
    for (int i = Pick(2); i > 0; --i) s.add_many(i);
    return s;
  }

 private:
  bool Coin() { return (rng_() & 1) != 0; }
  int Pick(int n) {
    return static_cast<int>(rng_() % static_cast<unsigned>(n));
  }
  void Part(test::Part* p) {
    if (Coin()) p->set_segment("trunk");
    if (Coin()) p->set_fat_percent(20.5);
    Unknown(p);
  }
  void Node(test::TreeNode* n, int depth) {
    if (Coin()) n->set_value(1.5);
    if (Coin()) n->set_secret("s");
    for (int i = depth > 0 ? Pick(3) : 0; i > 0; --i) {
      Node(n->add_children(), depth - 1);
    }
    Unknown(n);
  }
  void Unknown(google::protobuf::Message* m) {
    if (Pick(5) == 0) {
      m->GetReflection()->MutableUnknownFields(m)->AddVarint(999, 1);
    }
  }
  std::mt19937_64 rng_;
};

// The generated accessors (protoc-gen-consentry) are a faster route to the
// same fields: every projection must come out exactly as through
// reflection, for every purpose and mode.
TEST_F(ProjectorTest, GeneratedAccessorsProjectExactlyLikeReflection) {
  ASSERT_NE(
      internal::FindGeneratedFieldAccess(&test::Record::default_instance()),
      nullptr)
      << "projection_test.consentry.cc is not linked in";
  Set(kMember, "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  // Plans take the setting in force when they are compiled (Prepare).
  const auto prepare = [](Projector& p) {
    for (const google::protobuf::Descriptor* type :
         {test::Record::descriptor(), test::Tree::descriptor(),
          test::Scalars::descriptor()}) {
      ASSERT_OK(p.Prepare(type));
    }
  };
  Projector fast(*guard_);
  Projector fast_all(*guard_, {.mode = ProjectionMode::kRequireAll});
  prepare(fast);
  prepare(fast_all);
  internal::SetGeneratedFieldAccessEnabledForTesting(false);
  Projector slow(*guard_);
  Projector slow_all(*guard_, {.mode = ProjectionMode::kRequireAll});
  prepare(slow);
  prepare(slow_all);
  internal::SetGeneratedFieldAccessEnabledForTesting(true);

  const std::vector<AccessContext> contexts = {
      Ctx("support-desk", "support"),
      Ctx("billing-service", "billing.calculation"),
      Ctx("statistics-job", "statistics.measurement")};
  RandomRecords random(20261201);
  int compared = 0;
  const auto compare = [&](const google::protobuf::Message& in) {
    for (const AccessContext& ctx : contexts) {
      for (auto [a, b] : {std::pair{&fast, &slow}, {&fast_all, &slow_all}}) {
        std::unique_ptr<google::protobuf::Message> x(in.New()), y(in.New());
        const absl::Status sx = a->ProjectInto(ctx, in, x.get());
        const absl::Status sy = b->ProjectInto(ctx, in, y.get());
        ASSERT_EQ(sx, sy) << in.ShortDebugString();
        // Unknown fields count as differences; maps compare as maps.
        ASSERT_TRUE(MessageDifferencer::Equals(*x, *y))
            << ctx.purpose() << " of " << in.ShortDebugString()
            << "\nfast: " << x->ShortDebugString()
            << "\nslow: " << y->ShortDebugString();
        ++compared;
      }
    }
  };
  for (int i = 0; i < 300; ++i) {
    compare(random.Record());
    compare(random.Tree());
    compare(random.Scalars());
  }
  EXPECT_EQ(compared, 300 * 3 * 3 * 2);
}

TEST(ListUntaggedFieldsTest, ListsUntaggedFieldsTransitively) {
  const google::protobuf::Descriptor* roots[] = {
      test::Record::descriptor(), test::Untagged::descriptor(),
      test::Lenient::descriptor(), test::Tree::descriptor()};
  absl::StatusOr<std::vector<UntaggedField>> found = ListUntaggedFields(roots);
  ASSERT_OK(found);
  std::vector<std::string> names;
  for (const UntaggedField& f : *found) {
    names.push_back(f.field + (f.readable ? " (readable)" : "") + " @ " +
                    f.path);
  }
  // Record is fully tagged (its Timestamp takes the measurement default).
  EXPECT_THAT(names, ElementsAre("consentry.test.Lenient.note (readable) @ "
                                 "consentry.test.Lenient.note",
                                 "consentry.test.Untagged.note @ "
                                 "consentry.test.Untagged.note"));
}

TEST(ListUntaggedFieldsTest, FindsUntaggedFieldsInsideNestedTypes) {
  // Contact reached from a root without defaults: both fields are tagged;
  // Timestamp reached outside any default: both its fields are untagged.
  const google::protobuf::Descriptor* roots[] = {
      google::protobuf::Timestamp::descriptor()};
  absl::StatusOr<std::vector<UntaggedField>> found = ListUntaggedFields(roots);
  ASSERT_OK(found);
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*found)[0].field, "google.protobuf.Timestamp.nanos");
  EXPECT_EQ((*found)[1].field, "google.protobuf.Timestamp.seconds");
}

TEST(ListUntaggedFieldsTest, RejectsNullAndConflictingTags) {
  const google::protobuf::Descriptor* null_root[] = {nullptr};
  EXPECT_THAT(ListUntaggedFields(null_root),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("a root is null")));
  const google::protobuf::Descriptor* conflict[] = {
      test::FieldConflict::descriptor()};
  EXPECT_THAT(ListUntaggedFields(conflict),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("consentry.test.Contact.email")));
}

}  // namespace
}  // namespace consentry
