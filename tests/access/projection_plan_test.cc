// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Compiling a projection plan from message descriptors: the need bit of
// each field (tagged, untagged, readable), nested, repeated and map
// fields, recursive types, and the rejection of malformed tags. The types
// are built at run time in a descriptor pool of their own, so that each
// test states its schema beside its expectations.

#include "src/access/projection_plan.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "consentry/v1/options.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace consentry::internal {
namespace {

using ::consentry::testing::IsOk;
using ::consentry::testing::StatusIs;
using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// FieldDescriptorProto text: a field of `type` (TYPE_STRING, or a message
// type name such as ".t.Item"), with FieldOptions text `options`.
std::string F(const std::string& name, int number, const std::string& type,
              const std::string& options = "", bool repeated = false) {
  const bool message = !type.empty() && type[0] == '.';
  return absl::StrCat(
      "field { name: '", name, "' number: ", number,
      message ? absl::StrCat(" type: TYPE_MESSAGE type_name: '", type, "'")
              : absl::StrCat(" type: ", type),
      repeated ? " label: LABEL_REPEATED" : " label: LABEL_OPTIONAL",
      options.empty() ? "" : absl::StrCat(" options { ", options, " }"), " } ");
}
std::string Category(const std::string& id) {
  return absl::StrCat("[consentry.v1.category]: '", id, "' ");
}
constexpr char kSubject[] = "[consentry.v1.subject_id]: true ";
// DescriptorProto text: message `name` with `body` (fields, options).
std::string M(const std::string& name, const std::string& body) {
  return absl::StrCat("message_type { name: '", name, "' ", body, "} ");
}

class ProjectionPlanTest : public ::testing::Test {
 protected:
  ProjectionPlanTest() : pool_(DescriptorPool::generated_pool()) {}

  // Builds the file whose messages `messages` (FileDescriptorProto text)
  // describes, in package `t`, and returns message `name`.
  const Descriptor* Build(const std::string& messages,
                          const std::string& name) {
    google::protobuf::FileDescriptorProto file;
    const std::string text = absl::StrCat(
        "name: 't", ++files_, ".proto' package: 't' syntax: 'proto3' ",
        "dependency: 'consentry/v1/options.proto' ", messages);
    if (!google::protobuf::TextFormat::ParseFromString(text, &file)) {
      ADD_FAILURE() << "bad test schema: " << text;
      return nullptr;
    }
    const google::protobuf::FileDescriptor* built = pool_.BuildFile(file);
    if (built == nullptr) {
      ADD_FAILURE() << "schema does not build: " << text;
      return nullptr;
    }
    return pool_.FindMessageTypeByName(absl::StrCat("t.", name));
  }

  static std::uint64_t Bit(const ProjectionPlan& plan, const std::string& id) {
    for (std::size_t i = 0; i < plan.category_ids.size(); ++i) {
      if (plan.category_ids[i] == id) return std::uint64_t{1} << i;
    }
    ADD_FAILURE() << "no category " << id;
    return 0;
  }

  static const PlanField& Field(const PlanNode& node, const std::string& name) {
    for (const PlanField& pf : node.fields) {
      if (pf.field->name() == name) return pf;
    }
    ADD_FAILURE() << "no field " << name;
    return node.fields.front();
  }

  // The plan of `RecordSchema()`'s Rec, compiled without a resolver; null
  // (with a test failure) when it does not compile.
  const ProjectionPlan* RecordPlan();

  DescriptorPool pool_;
  int files_ = 0;
  std::unique_ptr<ProjectionPlan> plan_;
};

// A record with tagged and untagged scalars, a tagged message field, an
// untagged repeated message field and a map of messages.
std::string RecordSchema() {
  return absl::StrCat(
      M("Rec",
        absl::StrCat(
            F("id", 1, "TYPE_STRING",
              absl::StrCat(kSubject, Category("identity"))),
            F("email", 2, "TYPE_STRING", Category("contact")),
            F("note", 3, "TYPE_STRING"),
            F("addr", 4, ".t.Address", Category("location")),
            F("items", 5, ".t.Item", "", /*repeated=*/true),
            F("tags", 6, "TYPE_STRING", Category("contact"), /*repeated=*/true),
            F("by_name", 7, ".t.Rec.ByNameEntry", "", /*repeated=*/true),
            "nested_type { name: 'ByNameEntry' options { map_entry: true } ",
            F("key", 1, "TYPE_STRING"), F("value", 2, ".t.Item"), "} ")),
      M("Address", F("city", 1, "TYPE_STRING") + F("zip", 2, "TYPE_STRING")),
      M("Item",
        absl::StrCat("options { [consentry.v1.default_category]: 'purchase' } ",
                     F("sku", 1, "TYPE_STRING"), F("qty", 2, "TYPE_INT32"))));
}

const ProjectionPlan* ProjectionPlanTest::RecordPlan() {
  const Descriptor* rec = Build(RecordSchema(), "Rec");
  if (rec == nullptr) return nullptr;
  absl::StatusOr<std::unique_ptr<ProjectionPlan>> compiled =
      CompilePlan(rec, nullptr);
  EXPECT_THAT(compiled.status(), IsOk());
  if (!compiled.ok()) return nullptr;
  plan_ = *std::move(compiled);
  EXPECT_EQ(plan_->root, rec);
  return plan_.get();
}

TEST_F(ProjectionPlanTest, TaggedAndUntaggedFieldsGetTheirNeeds) {
  const ProjectionPlan* compiled = RecordPlan();
  ASSERT_NE(compiled, nullptr);
  const ProjectionPlan& plan = *compiled;
  EXPECT_THAT(plan.category_ids, UnorderedElementsAre("identity", "contact",
                                                      "location", "purchase"));
  ASSERT_NE(plan.subject, nullptr);
  EXPECT_EQ(plan.subject->name(), "id");
  EXPECT_THAT(plan.subject_error, IsOk());

  const PlanNode& root = *plan.root_node;
  EXPECT_EQ(Field(root, "id").need, Bit(plan, "identity"));
  EXPECT_EQ(Field(root, "email").need, Bit(plan, "contact"));
  // Untagged, in a message that does not declare untagged fields
  // readable: never allowed.
  EXPECT_EQ(Field(root, "note").need, kNeverBit);
  const PlanField& tags = Field(root, "tags");
  EXPECT_TRUE(tags.repeated);
  EXPECT_EQ(tags.need, Bit(plan, "contact"));
  EXPECT_EQ(tags.child, nullptr);
  EXPECT_EQ(root.scalar_fields.size(), 4u);   // id, email, note, tags
  EXPECT_EQ(root.message_fields.size(), 3u);  // addr, items, by_name
  EXPECT_EQ(root.subtree, Bit(plan, "identity") | Bit(plan, "contact") |
                              Bit(plan, "location") | Bit(plan, "purchase") |
                              kNeverBit);
}

TEST_F(ProjectionPlanTest, NestedRepeatedAndMapMessagesArePlannedInside) {
  const ProjectionPlan* compiled = RecordPlan();
  ASSERT_NE(compiled, nullptr);
  const ProjectionPlan& plan = *compiled;
  const PlanNode& root = *plan.root_node;

  // A tag on a message-typed field covers the whole message.
  const PlanField& addr = Field(root, "addr");
  EXPECT_EQ(addr.need, Bit(plan, "location"));
  ASSERT_NE(addr.child, nullptr);
  EXPECT_TRUE(addr.uniform);
  EXPECT_EQ(Field(*addr.child, "city").need, Bit(plan, "location"));
  EXPECT_EQ(Field(*addr.child, "zip").need, Bit(plan, "location"));

  // An untagged repeated message field is a container: decided inside, by
  // the element type's default category.
  const PlanField& items = Field(root, "items");
  EXPECT_TRUE(items.repeated);
  EXPECT_FALSE(items.map);
  EXPECT_EQ(items.need, 0u);
  EXPECT_FALSE(items.uniform);
  ASSERT_NE(items.child, nullptr);
  EXPECT_EQ(items.child->type->name(), "Item");
  EXPECT_EQ(Field(*items.child, "sku").need, Bit(plan, "purchase"));
  EXPECT_EQ(Field(*items.child, "qty").need, Bit(plan, "purchase"));

  // A map with message values: the keys need the map's own need, the
  // values are planned as their type.
  const PlanField& by_name = Field(root, "by_name");
  EXPECT_TRUE(by_name.map);
  EXPECT_EQ(by_name.need, kNeverBit);  // untagged keys
  ASSERT_NE(by_name.child, nullptr);
  EXPECT_EQ(by_name.child, items.child);  // one node per (type, context)
  EXPECT_EQ(addr.child->path, "t.Rec.addr");
}

TEST_F(ProjectionPlanTest, UntaggedReadableMessageAllowsItsUntaggedFields) {
  const Descriptor* rec = Build(
      M("Open",
        absl::StrCat("options { [consentry.v1.untagged_readable]: true } ",
                     F("id", 1, "TYPE_STRING", kSubject),
                     F("free", 2, "TYPE_INT64"))),
      "Open");
  ASSERT_NE(rec, nullptr);
  absl::StatusOr<std::unique_ptr<ProjectionPlan>> compiled =
      CompilePlan(rec, nullptr);
  ASSERT_THAT(compiled.status(), IsOk());
  EXPECT_TRUE((*compiled)->category_ids.empty());
  EXPECT_EQ(Field(*(*compiled)->root_node, "free").need, kAlwaysBit);
  EXPECT_EQ(Field(*(*compiled)->root_node, "id").need, kAlwaysBit);
}

TEST_F(ProjectionPlanTest, RecursiveTypeCompilesWithItsSubtreeClosed) {
  const Descriptor* node =
      Build(M("Node", absl::StrCat(F("id", 1, "TYPE_STRING",
                                     absl::StrCat(kSubject, Category("a"))),
                                   F("next", 2, ".t.Node"),
                                   F("leaf", 3, "TYPE_STRING", Category("b")))),
            "Node");
  ASSERT_NE(node, nullptr);
  absl::StatusOr<std::unique_ptr<ProjectionPlan>> compiled =
      CompilePlan(node, nullptr);
  ASSERT_THAT(compiled.status(), IsOk());
  const ProjectionPlan& plan = **compiled;
  const PlanField& next = Field(*plan.root_node, "next");
  EXPECT_EQ(next.child, plan.root_node);  // the cycle reuses the node
  EXPECT_EQ(plan.root_node->subtree, Bit(plan, "a") | Bit(plan, "b"));
}

TEST_F(ProjectionPlanTest, ResolverIsAskedOncePerCategoryAndMayReject) {
  const Descriptor* rec = Build(RecordSchema(), "Rec");
  ASSERT_NE(rec, nullptr);
  std::vector<std::string> asked;
  absl::StatusOr<std::unique_ptr<ProjectionPlan>> compiled =
      CompilePlan(rec, [&](absl::string_view id) {
        asked.emplace_back(id);
        return absl::OkStatus();
      });
  ASSERT_THAT(compiled.status(), IsOk());
  EXPECT_THAT(asked, UnorderedElementsAre("identity", "contact", "location",
                                          "purchase"));

  EXPECT_THAT(CompilePlan(rec,
                          [](absl::string_view id) {
                            return id == "location"
                                       ? absl::NotFoundError("no such category")
                                       : absl::OkStatus();
                          })
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("field t.Rec.addr"),
                             HasSubstr("category 'location' is not defined "
                                       "by the policy (no such category)"))));
}

TEST_F(ProjectionPlanTest, RejectsMalformedTags) {
  // The subject id on a field that is not a singular string.
  const Descriptor* int_subject =
      Build(M("A", F("id", 1, "TYPE_INT64", kSubject)), "A");
  ASSERT_NE(int_subject, nullptr);
  EXPECT_THAT(CompilePlan(int_subject, nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field t.A.id: (consentry.v1.subject_id) "
                                 "marks a field that is not a singular "
                                 "string (it is int64)")));

  // An empty category id.
  const Descriptor* empty =
      Build(M("B", F("x", 1, "TYPE_STRING", Category(""))), "B");
  ASSERT_NE(empty, nullptr);
  EXPECT_THAT(CompilePlan(empty, nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field t.B.x: the category id is empty")));

  // A nested tag that contradicts the tag on the enclosing field.
  const Descriptor* conflict =
      Build(M("C", F("inner", 1, ".t.Inner", Category("location"))) +
                M("Inner", F("city", 1, "TYPE_STRING", Category("contact"))),
            "C");
  ASSERT_NE(conflict, nullptr);
  EXPECT_THAT(
      CompilePlan(conflict, nullptr).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("field t.Inner.city: category 'contact' "
                               "conflicts with category 'location'"),
                     HasSubstr("field t.C.inner gives the whole message"))));

  EXPECT_THAT(CompilePlan(nullptr, nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("message type is null")));
}

TEST_F(ProjectionPlanTest, RejectsMoreCategoriesThanAPlanHolds) {
  std::string fields;
  for (int i = 1; i <= kMaxPlanCategories + 1; ++i) {
    absl::StrAppend(&fields, F(absl::StrCat("f", i), i, "TYPE_STRING",
                               Category(absl::StrCat("c", i))));
  }
  const Descriptor* wide = Build(M("Wide", fields), "Wide");
  ASSERT_NE(wide, nullptr);
  EXPECT_THAT(CompilePlan(wide, nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("more than 62 distinct categories")));
}

TEST_F(ProjectionPlanTest, SubjectFieldMissingOrAmbiguousIsAPlanError) {
  const Descriptor* none = Build(M("None", F("x", 1, "TYPE_STRING")), "None");
  ASSERT_NE(none, nullptr);
  absl::StatusOr<std::unique_ptr<ProjectionPlan>> plan =
      CompilePlan(none, nullptr);
  ASSERT_THAT(plan.status(), IsOk());  // the plan lints; projecting fails
  EXPECT_EQ((*plan)->subject, nullptr);
  EXPECT_THAT((*plan)->subject_error,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("t.None has no field marked "
                                 "(consentry.v1.subject_id) = true")));

  const Descriptor* two =
      Build(M("Two", F("a", 1, "TYPE_STRING", kSubject) +
                         F("b", 2, "TYPE_STRING", kSubject)),
            "Two");
  ASSERT_NE(two, nullptr);
  plan = CompilePlan(two, nullptr);
  ASSERT_THAT(plan.status(), IsOk());
  EXPECT_EQ((*plan)->subject, nullptr);
  EXPECT_THAT((*plan)->subject_error,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("marks more than one field")));
}

}  // namespace
}  // namespace consentry::internal
