// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Projects random records of tagged message types through a `Projector`
// and checks the result against an oracle of its own: a walk over the
// descriptor and its options (consentry/v1/options.proto) that finds each
// field's category by the documented rules, with `Guard::Check` deciding
// each category.
//
// Input: byte 0 chooses the message type (`kTypes` below: the tagged test
// messages of tests/proto/projection_test.proto, the example
// HealthMeasurement, a type synthesized from the input, or one of the
// malformed test messages); the next
// `kControlSize` bytes (FuzzedDataProvider) choose the subject's consent and
// restrictions, the accessor, purpose, occasion, projection mode and
// enforcement mode; the rest is the record in protobuf wire format (for a
// synthesized type: one length byte, the schema bytes, then the record).
// Wire bytes that do not match the type become unknown fields.
//
// Properties:
//   * the schema is malformed (unknown, empty or conflicting category, a
//     subject-id field that is not a singular string, none or several at
//     the root) exactly when the projection (and `Prepare`) fails with
//     `kInvalidArgument`, and then `out` is empty (fail closed);
//   * every field present in the output has a category the purpose may
//     see for that subject (or is untagged in a message that declares
//     untagged fields readable); no unknown field or extension is left
//     anywhere in it;
//   * nothing the purpose may see is dropped: the output equals the input
//     with the denied fields cleared and unknown fields dropped (up to
//     sub-messages and repeated elements left empty, which the projector
//     removes);
//   * `kRequireAll` fails (`kFailedPrecondition` or `kPermissionDenied`,
//     `out` empty) exactly when a denied or unreadable field is present,
//     and otherwise gives what `kClearDenied` gives;
//   * one audit event per distinct category present in the record;
//   * projection is idempotent;
//   * the generated accessors, the generated class's reflection and a
//     dynamic message (as input or output) give the same result.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/options.h"
#include "consentry/projection.h"
#include "consentry/v1/options.pb.h"
#include "fuzz/fuzz_support.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/message_differencer.h"
#include "health.pb.h"
#include "projection_test.pb.h"
#include "src/access/projection_plan.h"

namespace consentry::fuzz {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::DynamicMessageFactory;
using google::protobuf::FieldDescriptor;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::FileDescriptorProto;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::util::MessageDifferencer;

constexpr std::size_t kControlSize = 32;
const char* const kOccasions[] = {"occ-1", "occ-2"};

// The generated types projected; an index past the end synthesizes one.
const Descriptor* GeneratedType(int i) {
  switch (i) {
    case 0:
      return test::Record::descriptor();
    case 1:
      return test::Scalars::descriptor();
    case 2:
      return test::Tree::descriptor();
    case 3:
      return test::Untagged::descriptor();
    case 4:
      return test::Lenient::descriptor();
    case 5:
      return examples::HealthMeasurement::descriptor();
    default:
      return nullptr;
  }
}
// The malformed test types (each must be rejected whole).
const Descriptor* MalformedType(int i) {
  switch (i) {
    case 0:
      return test::UnknownCategory::descriptor();
    case 1:
      return test::NonStringSubject::descriptor();
    case 2:
      return test::FieldConflict::descriptor();
    case 3:
      return test::DefaultConflict::descriptor();
    case 4:
      return test::NoSubject::descriptor();
    default:
      return test::TwoSubjects::descriptor();
  }
}
// 0-5 generated, 6-7 synthesized, 8 a malformed generated type.
constexpr int kTypes = 9;

// ---------------------------------------------------------------------------
// The oracle: categories by the rules of consentry/v1/options.proto.

enum class Kind { kCategory, kReadable, kNever, kContainer };

struct FieldClass {
  Kind kind = Kind::kNever;
  std::string category;  // for kCategory
};

// Where a message is embedded: `hard` is the category an explicit tag on
// the enclosing field gives the whole message, `soft` the default in force.
struct Embedding {
  std::string hard;
  std::string soft;
  bool operator<(const Embedding& o) const {
    return std::tie(hard, soft) < std::tie(o.hard, o.soft);
  }
};

std::string OwnCategory(const FieldDescriptor* f, bool* has) {
  *has = f->options().HasExtension(v1::category);
  return *has ? f->options().GetExtension(v1::category) : std::string();
}

std::string TypeDefault(const Descriptor* t, bool* has) {
  *has = t->options().HasExtension(v1::default_category);
  return *has ? t->options().GetExtension(v1::default_category) : std::string();
}

// The class of field `f` of a message embedded as `e`, and the embedding of
// the message(s) it holds (`child`, for message-typed fields and maps with
// message values).
FieldClass Classify(const FieldDescriptor* f, const Embedding& e,
                    Embedding* child) {
  bool has_own = false;
  const std::string own = OwnCategory(f, &has_own);
  bool has_default = false;
  const std::string type_default =
      TypeDefault(f->containing_type(), &has_default);
  const bool readable =
      f->containing_type()->options().GetExtension(v1::untagged_readable);
  const bool has_explicit = has_own || !e.hard.empty();
  const std::string explicit_cat = has_own ? own : e.hard;
  const std::string inner_soft = has_default ? type_default : e.soft;
  const std::string eff = has_explicit ? explicit_cat : inner_soft;
  FieldClass leaf;
  if (!eff.empty()) {
    leaf.kind = Kind::kCategory;
    leaf.category = eff;
  } else {
    leaf.kind = readable ? Kind::kReadable : Kind::kNever;
  }
  *child =
      has_explicit ? Embedding{explicit_cat, ""} : Embedding{"", inner_soft};
  if (f->is_map()) return leaf;  // the keys
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    if (has_explicit) return leaf;
    return FieldClass{Kind::kContainer, ""};
  }
  return leaf;
}

const Descriptor* HeldType(const FieldDescriptor* f) {
  if (f->is_map()) {
    const FieldDescriptor* v = f->message_type()->map_value();
    return v->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ? v->message_type()
                                                             : nullptr;
  }
  return f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ? f->message_type()
                                                           : nullptr;
}

// Finds the first malformed tag reachable from `root`: "" when none.
class SchemaCheck {
 public:
  explicit SchemaCheck(const std::set<std::string>& categories)
      : categories_(categories) {}

  std::string Check(const Descriptor* root) {
    Visit(root, Embedding{});
    if (!error_.empty()) return error_;
    int subjects = 0;
    for (int i = 0; i < root->field_count(); ++i) {
      if (root->field(i)->options().GetExtension(v1::subject_id)) ++subjects;
    }
    if (subjects != 1) return absl::StrCat(subjects, " subject-id fields");
    return "";
  }

 private:
  bool Known(const std::string& id) const { return categories_.contains(id); }

  void Visit(const Descriptor* t, const Embedding& e) {
    if (!error_.empty() || !seen_.emplace(t, e).second) return;
    bool has_default = false;
    const std::string d = TypeDefault(t, &has_default);
    if (has_default && !Known(d)) {
      error_ = absl::StrCat(t->full_name(), ": default category '", d, "'");
      return;
    }
    if (has_default && !e.hard.empty() && d != e.hard) {
      error_ = absl::StrCat(t->full_name(), ": default conflicts");
      return;
    }
    for (int i = 0; i < t->field_count(); ++i) {
      const FieldDescriptor* f = t->field(i);
      if (f->options().GetExtension(v1::subject_id) &&
          (f->type() != FieldDescriptor::TYPE_STRING || f->is_repeated())) {
        error_ = absl::StrCat(f->full_name(), ": subject_id on a non-string");
        return;
      }
      bool has_own = false;
      const std::string own = OwnCategory(f, &has_own);
      if (has_own && !Known(own)) {
        error_ = absl::StrCat(f->full_name(), ": category '", own, "'");
        return;
      }
      if (has_own && !e.hard.empty() && own != e.hard) {
        error_ = absl::StrCat(f->full_name(), ": category conflicts");
        return;
      }
      Embedding child;
      Classify(f, e, &child);
      if (const Descriptor* held = HeldType(f)) Visit(held, child);
      if (!error_.empty()) return;
    }
  }

  const std::set<std::string>& categories_;
  std::set<std::pair<const Descriptor*, Embedding>> seen_;
  std::string error_;
};

// Decides categories with `Guard::Check` (one per category, memoized).
class Decisions {
 public:
  Decisions(Guard& guard, const AccessContext& ctx, std::string subject)
      : guard_(guard), ctx_(ctx), subject_(std::move(subject)) {}

  bool Proceeds(const std::string& category) {
    if (auto it = memo_.find(category); it != memo_.end()) return it->second;
    absl::StatusOr<CategoryRef> c = guard_.Category(category);
    CONSENTRY_FUZZ_CHECK(c.ok(), c.status().ToString());
    absl::StatusOr<Decision> d = guard_.Check(ctx_, subject_, *c);
    CONSENTRY_FUZZ_CHECK(d.ok(), d.status().ToString());
    return memo_[category] = d->proceeds();
  }

  bool Visible(const FieldClass& c) {
    switch (c.kind) {
      case Kind::kCategory:
        return Proceeds(c.category);
      case Kind::kReadable:
        return true;
      case Kind::kNever:
        return false;
      case Kind::kContainer:
        return true;
    }
    return false;
  }

 private:
  Guard& guard_;
  const AccessContext& ctx_;
  std::string subject_;
  std::map<std::string, bool> memo_;
};

// The message held by a map entry's value, or null.
Message* MapValue(Message* entry) {
  const FieldDescriptor* v = entry->GetDescriptor()->map_value();
  if (v->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return nullptr;
  return entry->GetReflection()->MutableMessage(entry, v);
}

// Calls `visit(f, class, child embedding)` for each field set in `m`
// (extensions excluded: they carry no tag the oracle knows).
template <typename Visit>
void ForEachSet(const Message& m, const Embedding& e, Visit visit) {
  std::vector<const FieldDescriptor*> set;
  m.GetReflection()->ListFields(m, &set);
  for (const FieldDescriptor* f : set) {
    if (f->is_extension()) continue;
    Embedding child;
    const FieldClass c = Classify(f, e, &child);
    visit(f, c, child);
  }
}

// Collects the class of every leaf present in `m` (recursively).
void PresentLeaves(const Message& m, const Embedding& e,
                   std::vector<FieldClass>* out) {
  const Reflection* r = m.GetReflection();
  ForEachSet(m, e,
             [&](const FieldDescriptor* f, const FieldClass& c,
                 const Embedding& child) {
               if (c.kind != Kind::kContainer) out->push_back(c);
               if (HeldType(f) == nullptr) return;
               if (f->is_repeated()) {
                 for (int i = 0; i < r->FieldSize(m, f); ++i) {
                   const Message& el = r->GetRepeatedMessage(m, f, i);
                   if (f->is_map()) {
                     const FieldDescriptor* v = el.GetDescriptor()->map_value();
                     PresentLeaves(el.GetReflection()->GetMessage(el, v), child,
                                   out);
                   } else {
                     PresentLeaves(el, child, out);
                   }
                 }
               } else {
                 PresentLeaves(r->GetMessage(m, f), child, out);
               }
             });
}

// True when `m` or a message inside it holds unknown fields or extensions.
bool HasUnknownOrExtensions(const Message& m) {
  const Reflection* r = m.GetReflection();
  if (!r->GetUnknownFields(m).empty()) return true;
  std::vector<const FieldDescriptor*> set;
  r->ListFields(m, &set);
  for (const FieldDescriptor* f : set) {
    if (f->is_extension()) return true;
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        if (HasUnknownOrExtensions(r->GetRepeatedMessage(m, f, i))) {
          return true;
        }
      }
    } else if (HasUnknownOrExtensions(r->GetMessage(m, f))) {
      return true;
    }
  }
  return false;
}

// What the projection should give: `m` with every field the purpose may
// not see cleared, unknown fields and extensions dropped.
void Expected(Message* m, const Embedding& e, Decisions& d) {
  const Reflection* r = m->GetReflection();
  r->MutableUnknownFields(m)->Clear();
  std::vector<const FieldDescriptor*> set;
  r->ListFields(*m, &set);
  for (const FieldDescriptor* f : set) {
    if (f->is_extension()) {
      r->ClearField(m, f);
      continue;
    }
    Embedding child;
    const FieldClass c = Classify(f, e, &child);
    if (!d.Visible(c)) {
      r->ClearField(m, f);
      continue;
    }
    if (HeldType(f) == nullptr && !f->is_map()) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(*m, f); ++i) {
        Message* el = r->MutableRepeatedMessage(m, f, i);
        el->GetReflection()->MutableUnknownFields(el)->Clear();
        if (f->is_map()) {
          if (Message* v = MapValue(el)) Expected(v, child, d);
        } else {
          Expected(el, child, d);
        }
      }
    } else {
      Expected(r->MutableMessage(m, f), child, d);
    }
  }
}

// Removes, bottom-up, container sub-messages and container elements of
// repeated fields that are empty (the projector removes those it empties).
void Normalize(Message* m, const Embedding& e) {
  const Reflection* r = m->GetReflection();
  std::vector<const FieldDescriptor*> set;
  r->ListFields(*m, &set);
  for (const FieldDescriptor* f : set) {
    if (f->is_extension() || HeldType(f) == nullptr) continue;
    Embedding child;
    const FieldClass c = Classify(f, e, &child);
    if (f->is_map()) {
      for (int i = 0; i < r->FieldSize(*m, f); ++i) {
        if (Message* v = MapValue(r->MutableRepeatedMessage(m, f, i))) {
          Normalize(v, child);
        }
      }
      continue;
    }
    if (f->is_repeated()) {
      int kept = 0;
      const int n = r->FieldSize(*m, f);
      for (int i = 0; i < n; ++i) {
        Message* el = r->MutableRepeatedMessage(m, f, i);
        Normalize(el, child);
        if (c.kind == Kind::kContainer && el->ByteSizeLong() == 0) continue;
        if (kept != i) r->SwapElements(m, f, kept, i);
        ++kept;
      }
      for (int i = kept; i < n; ++i) r->RemoveLast(m, f);
      continue;
    }
    Message* sub = r->MutableMessage(m, f);
    Normalize(sub, child);
    if (c.kind == Kind::kContainer && sub->ByteSizeLong() == 0) {
      r->ClearField(m, f);
    }
  }
}

// Keeps, in every map field of `m` (at any depth), only the last entry of
// each key. A dynamic message parsed from bytes that repeat a map key
// holds every entry, where generated code keeps the last; both mean the
// last (protobuf's rule for a repeated key), and a projection keeps the
// entries it is given, so the comparison reads each map that way.
void KeepLastMapEntries(Message* m) {
  const Reflection* r = m->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (!f->is_repeated()) {
      KeepLastMapEntries(r->MutableMessage(m, f));
      continue;
    }
    const int n = r->FieldSize(*m, f);
    std::vector<bool> keep(static_cast<std::size_t>(n), true);
    if (f->is_map()) {
      std::set<std::string> seen;
      for (int i = n - 1; i >= 0; --i) {
        const Message& entry = r->GetRepeatedMessage(*m, f, i);
        const FieldDescriptor* key = entry.GetDescriptor()->map_key();
        std::string text;
        google::protobuf::TextFormat::PrintFieldValueToString(entry, key, -1,
                                                              &text);
        keep[static_cast<std::size_t>(i)] = seen.insert(text).second;
      }
    }
    int kept = 0;
    for (int i = 0; i < n; ++i) {
      if (!keep[static_cast<std::size_t>(i)]) continue;
      if (kept != i) r->SwapElements(m, f, kept, i);
      KeepLastMapEntries(r->MutableRepeatedMessage(m, f, kept));
      ++kept;
    }
    for (int i = kept; i < n; ++i) r->RemoveLast(m, f);
  }
}

bool SameMessage(const Message& a, const Message& b, std::string* diff) {
  std::unique_ptr<Message> ca(a.New()), cb(b.New());
  ca->CopyFrom(a);
  cb->CopyFrom(b);
  KeepLastMapEntries(ca.get());
  KeepLastMapEntries(cb.get());
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  MessageDifferencer differ;
  differ.set_field_comparator(&comparator);
  differ.ReportDifferencesToString(diff);
  return differ.Compare(*ca, *cb);
}

std::string Show(const Message& m) { return m.ShortDebugString(); }

// ---------------------------------------------------------------------------
// Synthesized types.

// Builds a file of up to three message types from `in`: fields of every
// kind (scalars, strings, enums, messages, repeated, maps, oneofs), tagged
// with category ids the policy knows, does not know, or empty; subject-id
// marks on any field; defaults and `untagged_readable` on messages; fields
// that embed the generated test types.
FileDescriptorProto Synthesize(FuzzedDataProvider& in,
                               const google::protobuf::FileDescriptor* test) {
  static const char* const kCategoryChoices[] = {
      "identity",      "contact",   "measurement", "billing",
      "communication", "web_usage", "genome",      ""};
  FileDescriptorProto file;
  file.set_name("fuzz_synth.proto");
  file.set_package("fuzz");
  const bool proto3 = in.ConsumeBool();
  file.set_syntax(proto3 ? "proto3" : "proto2");
  file.add_dependency(test->name());
  auto* en = file.add_enum_type();
  en->set_name("Level");
  en->add_value()->set_name("LEVEL_ZERO");
  en->mutable_value(0)->set_number(0);
  en->add_value()->set_name("LEVEL_ONE");
  en->mutable_value(1)->set_number(1);
  const int types = in.ConsumeIntegralInRange<int>(1, 3);
  auto pick_category = [&in]() -> std::string {
    return kCategoryChoices[in.ConsumeIntegralInRange<std::size_t>(
        0, sizeof(kCategoryChoices) / sizeof(kCategoryChoices[0]) - 1)];
  };
  for (int t = 0; t < types; ++t) {
    auto* msg = file.add_message_type();
    msg->set_name(absl::StrCat("M", t));
    const int opts = in.ConsumeIntegralInRange<int>(0, 7);
    if (opts & 1) {
      msg->mutable_options()->SetExtension(v1::default_category,
                                           pick_category());
    }
    if (opts & 2)
      msg->mutable_options()->SetExtension(v1::untagged_readable, true);
    if (!proto3 && (opts & 4)) {
      auto* range = msg->add_extension_range();
      range->set_start(100);
      range->set_end(200);
    }
    int oneofs = 0;
    const int fields = in.ConsumeIntegralInRange<int>(0, 6);
    for (int i = 0; i < fields; ++i) {
      auto* f = msg->add_field();
      f->set_name(absl::StrCat("f", i + 1));
      f->set_number(i + 1);
      f->set_label(FieldDescriptorProto::LABEL_OPTIONAL);
      const int kind = in.ConsumeIntegralInRange<int>(0, 12);
      switch (kind) {
        case 0:
        case 1:
          f->set_type(FieldDescriptorProto::TYPE_STRING);
          break;
        case 2:
          f->set_type(FieldDescriptorProto::TYPE_INT64);
          break;
        case 3:
          f->set_type(FieldDescriptorProto::TYPE_DOUBLE);
          break;
        case 4:
          f->set_type(FieldDescriptorProto::TYPE_BOOL);
          break;
        case 5:
          f->set_type(FieldDescriptorProto::TYPE_BYTES);
          break;
        case 6:
          f->set_type(FieldDescriptorProto::TYPE_ENUM);
          f->set_type_name(".fuzz.Level");
          break;
        case 7:
        case 8:
          f->set_type(FieldDescriptorProto::TYPE_MESSAGE);
          f->set_type_name(absl::StrCat(
              ".fuzz.M", in.ConsumeIntegralInRange<int>(0, types - 1)));
          break;
        case 9:
          f->set_type(FieldDescriptorProto::TYPE_MESSAGE);
          f->set_type_name(in.ConsumeBool() ? ".consentry.test.Contact"
                                            : ".consentry.test.Part");
          break;
        case 10:
        case 11: {
          // map<string, string> or map<string, M*>.
          const std::string entry = absl::StrCat("F", i + 1, "Entry");
          auto* e = msg->add_nested_type();
          e->set_name(entry);
          e->mutable_options()->set_map_entry(true);
          auto* k = e->add_field();
          k->set_name("key");
          k->set_number(1);
          k->set_label(FieldDescriptorProto::LABEL_OPTIONAL);
          k->set_type(FieldDescriptorProto::TYPE_STRING);
          auto* v = e->add_field();
          v->set_name("value");
          v->set_number(2);
          v->set_label(FieldDescriptorProto::LABEL_OPTIONAL);
          if (kind == 10) {
            v->set_type(FieldDescriptorProto::TYPE_STRING);
          } else {
            v->set_type(FieldDescriptorProto::TYPE_MESSAGE);
            v->set_type_name(absl::StrCat(
                ".fuzz.M", in.ConsumeIntegralInRange<int>(0, types - 1)));
          }
          f->set_type(FieldDescriptorProto::TYPE_MESSAGE);
          f->set_type_name(absl::StrCat(".fuzz.M", t, ".", entry));
          f->set_label(FieldDescriptorProto::LABEL_REPEATED);
          break;
        }
        default:
          f->set_type(FieldDescriptorProto::TYPE_FIXED32);
          break;
      }
      const bool is_map = kind == 10 || kind == 11;
      const int flags = in.ConsumeIntegralInRange<int>(0, 15);
      if ((flags & 1) && !is_map) {
        f->set_label(FieldDescriptorProto::LABEL_REPEATED);
      }
      if (flags & 2) {
        f->mutable_options()->SetExtension(v1::category, pick_category());
      }
      if (flags & 4) f->mutable_options()->SetExtension(v1::subject_id, true);
      if ((flags & 8) && f->label() != FieldDescriptorProto::LABEL_REPEATED) {
        if (oneofs == 0) msg->add_oneof_decl()->set_name("choice");
        oneofs = 1;
        f->set_oneof_index(0);
      }
    }
  }
  return file;
}

// ---------------------------------------------------------------------------

class Harness {
 public:
  Harness(const std::uint8_t* data, std::size_t size) {
    type_choice_ = size > 0 ? data[0] % kTypes : 0;
    std::size_t control_size = size > 1 ? size - 1 : 0;
    if (control_size > kControlSize) control_size = kControlSize;
    control_.assign(data + (size > 0 ? 1 : 0),
                    data + (size > 0 ? 1 : 0) + control_size);
    control_.resize(kControlSize, 0);
    if (size > 1 + kControlSize) {
      payload_.assign(data + 1 + kControlSize, data + size);
    }
  }

  void Run() {
    FuzzedDataProvider control(control_.data(), control_.size());
    shadow_ = control.ConsumeIntegralInRange<int>(0, 3) == 0;
    require_all_ = control.ConsumeBool();
    static const std::shared_ptr<const CompiledPolicy> policy = DefaultPolicy();
    GuardOptions options;
    options.clock = [] { return absl::FromUnixSeconds(1'790'000'000); };
    if (shadow_) options.mode = EnforcementMode::kShadow;
    absl::StatusOr<std::unique_ptr<Guard>> g =
        Guard::Create(policy, &store_, &audit_, options);
    CONSENTRY_FUZZ_CHECK(g.ok(), g.status().ToString());
    guard_ = *std::move(g);
    const CompiledPolicy& p = *guard_->policy();
    for (int c = 0; c < p.category_count(); ++c) {
      categories_.emplace(p.category_id(static_cast<CategoryIndex>(c)));
    }
    SetConsent(control);
    absl::StatusOr<AccessContext> ctx = PickContext(control);
    CONSENTRY_FUZZ_CHECK(ctx.ok(), ctx.status().ToString());
    ctx_.emplace(*std::move(ctx));
    override_subject_ = control.ConsumeIntegralInRange<int>(0, 3) != 0;

    if (type_choice_ == 8) {
      RunMalformed(MalformedType(control.ConsumeIntegralInRange<int>(0, 5)));
      return;
    }
    const Descriptor* type = GeneratedType(type_choice_);
    if (type != nullptr) {
      RunGenerated(type);
    } else {
      RunSynthesized();
    }
  }

 private:
  void SetConsent(FuzzedDataProvider& in) {
    const CompiledPolicy& p = *guard_->policy();
    const int n = in.ConsumeIntegralInRange<int>(0, 6);
    for (int i = 0; i < n; ++i) {
      v1::ConsentChange c;
      c.set_subject_id(subject_);
      v1::PurposeConsent* pc = c.mutable_purpose_consent();
      const auto pu = static_cast<PurposeIndex>(
          in.ConsumeIntegralInRange<int>(0, p.purpose_count() - 1));
      pc->set_purpose(std::string(p.purpose_id(pu)));
      pc->set_state(static_cast<v1::ConsentState>(
          in.ConsumeIntegralInRange<int>(1, 3)));  // given, refused, withdrawn
      if (p.per_occasion().Contains(pu)) {
        pc->set_occasion_id(
            kOccasions[in.ConsumeIntegralInRange<std::size_t>(0, 1)]);
      }
      // Single-use occasion consent would be used up by the first check.
      absl::StatusOr<Revision> rev = store_.Apply(c);
      CONSENTRY_FUZZ_CHECK(
          rev.ok() || rev.status().code() == absl::StatusCode::kInvalidArgument,
          rev.status().ToString());
    }
    const int r = in.ConsumeIntegralInRange<int>(0, 15);
    if (r >= 4) return;
    v1::ConsentChange c;
    c.set_subject_id(subject_);
    c.mutable_restrictions()->set_suspend_all(r == 0);
    c.mutable_restrictions()->set_erased(r == 1);
    if (r == 2) {
      c.mutable_restrictions()->add_suspended_purposes(
          std::string(p.purpose_id(static_cast<PurposeIndex>(
              in.ConsumeIntegralInRange<int>(0, p.purpose_count() - 1)))));
    }
    absl::StatusOr<Revision> rev = store_.Apply(c);
    CONSENTRY_FUZZ_CHECK(rev.ok(), rev.status().ToString());
  }

  absl::StatusOr<AccessContext> PickContext(FuzzedDataProvider& in) {
    const CompiledPolicy& p = *guard_->policy();
    const auto a = static_cast<AccessorIndex>(
        in.ConsumeIntegralInRange<int>(0, p.accessor_count() - 1));
    const auto pu = static_cast<PurposeIndex>(
        in.ConsumeIntegralInRange<int>(0, p.purpose_count() - 1));
    std::string occasion;
    if (p.per_occasion().Contains(pu)) {
      occasion = kOccasions[in.ConsumeIntegralInRange<std::size_t>(0, 1)];
    }
    return guard_->Context(p.accessor_id(a), p.purpose_id(pu), occasion);
  }

  // The subject-id field of the root, when there is exactly one.
  static const FieldDescriptor* SubjectField(const Descriptor* t) {
    const FieldDescriptor* found = nullptr;
    for (int i = 0; i < t->field_count(); ++i) {
      if (!t->field(i)->options().GetExtension(v1::subject_id)) continue;
      if (found != nullptr) return nullptr;
      found = t->field(i);
    }
    return found;
  }

  // Returns false when the parse failed half-way (what was read is kept).
  bool PrepareInput(Message* in) {
    // Wire bytes that are not the type become unknown fields.
    const bool parsed =
        in->ParsePartialFromArray(payload_data(), payload_size());
    const FieldDescriptor* s = SubjectField(in->GetDescriptor());
    if (override_subject_ && s != nullptr &&
        s->type() == FieldDescriptor::TYPE_STRING && !s->is_repeated()) {
      in->GetReflection()->SetString(in, s, subject_);
    }
    return parsed;
  }

  const std::uint8_t* payload_data() const {
    return payload_.data() + message_offset_;
  }
  int payload_size() const {
    return static_cast<int>(payload_.size() - message_offset_);
  }

  // Projects `in` with `projector` into `out` and checks every property
  // against the oracle. Returns the status.
  absl::Status ProjectAndCheck(Projector& projector, const Message& in,
                               Message* out, const std::string& schema_error) {
    const std::size_t events_before = audit_.size();
    const absl::Status s = projector.ProjectInto(*ctx_, in, out);
    const std::size_t events = audit_.size() - events_before;
    const std::string what =
        absl::StrCat(in.GetDescriptor()->full_name(), " ", Show(in), " for ",
                     ctx_->accessor(), "/", ctx_->purpose(), " -> ",
                     s.ToString(), " ", Show(*out));
    if (!schema_error.empty()) {
      CONSENTRY_FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument,
                           absl::StrCat("malformed schema (", schema_error,
                                        ") not rejected: ", what));
      CONSENTRY_FUZZ_CHECK(
          out->ByteSizeLong() == 0 &&
              out->GetReflection()->GetUnknownFields(*out).empty(),
          what);
      CONSENTRY_FUZZ_CHECK(events == 0, what);
      return s;
    }
    const FieldDescriptor* sf = SubjectField(in.GetDescriptor());
    const std::string subject = in.GetReflection()->GetString(in, sf);
    if (subject.empty()) {
      CONSENTRY_FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument,
                           what);
      CONSENTRY_FUZZ_CHECK(out->ByteSizeLong() == 0, what);
      CONSENTRY_FUZZ_CHECK(events == 0, what);
      return s;
    }
    Decisions d(*guard_, *ctx_, subject);
    std::vector<FieldClass> leaves;
    PresentLeaves(in, Embedding{}, &leaves);
    std::set<std::string> present_categories;
    bool some_denied = false;
    for (const FieldClass& c : leaves) {
      if (c.kind == Kind::kCategory) present_categories.insert(c.category);
      if (!d.Visible(c)) some_denied = true;
    }
    CONSENTRY_FUZZ_CHECK(
        events == present_categories.size(),
        absl::StrCat(events, " audit events for ", present_categories.size(),
                     " categories: ", what));
    if (require_all_ && some_denied) {
      CONSENTRY_FUZZ_CHECK(s.code() == absl::StatusCode::kFailedPrecondition ||
                               s.code() == absl::StatusCode::kPermissionDenied,
                           what);
      CONSENTRY_FUZZ_CHECK(out->ByteSizeLong() == 0, what);
      return s;
    }
    CONSENTRY_FUZZ_CHECK(s.ok(), what);

    // No field the purpose may not see, and nothing unknown.
    std::vector<FieldClass> shown;
    PresentLeaves(*out, Embedding{}, &shown);
    for (const FieldClass& c : shown) {
      CONSENTRY_FUZZ_CHECK(
          d.Visible(c),
          absl::StrCat("a field of category '", c.category, "' (kind ",
                       static_cast<int>(c.kind), ") leaked: ", what));
    }
    CONSENTRY_FUZZ_CHECK(!HasUnknownOrExtensions(*out),
                         absl::StrCat("unknown fields leaked: ", what));

    // Nothing visible dropped.
    std::unique_ptr<Message> expected(in.New());
    expected->CopyFrom(in);
    Expected(expected.get(), Embedding{}, d);
    Normalize(expected.get(), Embedding{});
    std::unique_ptr<Message> normal(out->New());
    normal->CopyFrom(*out);
    Normalize(normal.get(), Embedding{});
    std::string diff;
    CONSENTRY_FUZZ_CHECK(
        SameMessage(*expected, *normal, &diff),
        absl::StrCat("projection differs from the oracle: ", diff, " in ", what,
                     " expected ", Show(*expected)));
    return s;
  }

  // A second projection of a projected record changes nothing.
  void CheckIdempotent(Projector& projector, const Message& once) {
    std::unique_ptr<Message> twice(once.New());
    const absl::Status s = projector.ProjectInto(*ctx_, once, twice.get());
    const FieldDescriptor* sf = SubjectField(once.GetDescriptor());
    if (once.GetReflection()->GetString(once, sf).empty()) {
      CONSENTRY_FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument,
                           s.ToString());
      return;
    }
    CONSENTRY_FUZZ_CHECK(s.ok(), s.ToString());
    std::string diff;
    CONSENTRY_FUZZ_CHECK(SameMessage(once, *twice, &diff),
                         absl::StrCat("not idempotent: ", diff));
  }

  ProjectorOptions Options() const {
    ProjectorOptions o;
    o.mode = require_all_ ? ProjectionMode::kRequireAll
                          : ProjectionMode::kClearDenied;
    return o;
  }

  void RunGenerated(const Descriptor* type) {
    // Plans compiled with and without the generated accessors.
    Projector direct(*guard_, Options());
    Projector reflective(*guard_, Options());
    internal::SetGeneratedFieldAccessEnabledForTesting(false);
    const absl::Status prepared = reflective.Prepare(type);
    internal::SetGeneratedFieldAccessEnabledForTesting(true);
    CONSENTRY_FUZZ_CHECK(prepared.ok(), prepared.ToString());
    CONSENTRY_FUZZ_CHECK(direct.Prepare(type).ok(), type->full_name());

    const Message* prototype =
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(
            type);
    std::unique_ptr<Message> in(prototype->New());
    const bool parsed = PrepareInput(in.get());

    std::unique_ptr<Message> out_direct(prototype->New());
    const absl::Status s =
        ProjectAndCheck(direct, *in, out_direct.get(), /*schema_error=*/"");

    // The same through reflection, with dynamic messages in and out.
    DynamicMessageFactory factory;
    const Message* dyn_prototype = factory.GetPrototype(type);
    // Parsed from the same bytes: the dynamic parser may keep what the
    // generated one drops (unknown fields inside map entries), which the
    // projection must drop all the same.
    // (Parsers may stop at different points of malformed input.)
    std::unique_ptr<Message> dyn_in(dyn_prototype->New());
    if (!parsed || !PrepareInput(dyn_in.get())) dyn_in->CopyFrom(*in);
    struct Path {
      const char* name;
      Projector* projector;
      const Message* in;
      std::unique_ptr<Message> out;
    };
    Path paths[] = {
        {"generated reflection", &reflective, in.get(),
         std::unique_ptr<Message>(in->New())},
        {"dynamic in and out", &direct, dyn_in.get(),
         std::unique_ptr<Message>(dyn_prototype->New())},
        {"generated in, dynamic out", &direct, in.get(),
         std::unique_ptr<Message>(dyn_prototype->New())},
        {"dynamic in, generated out", &direct, dyn_in.get(),
         std::unique_ptr<Message>(in->New())},
    };
    for (Path& path : paths) {
      const absl::Status ps =
          ProjectAndCheck(*path.projector, *path.in, path.out.get(), "");
      CONSENTRY_FUZZ_CHECK(
          ps.code() == s.code(),
          absl::StrCat(path.name, ": ", ps.ToString(),
                       " but generated accessors: ", s.ToString()));
      std::string diff;
      CONSENTRY_FUZZ_CHECK(
          SameMessage(*out_direct, *path.out, &diff),
          absl::StrCat(path.name, " differs from generated accessors: ", diff));
    }
    if (s.ok() && !require_all_) CheckIdempotent(direct, *out_direct);
  }

  void RunMalformed(const Descriptor* type) {
    const std::string schema_error = SchemaCheck(categories_).Check(type);
    CONSENTRY_FUZZ_CHECK(!schema_error.empty(), type->full_name());
    Projector projector(*guard_, Options());
    CONSENTRY_FUZZ_CHECK(
        projector.Prepare(type).code() == absl::StatusCode::kInvalidArgument,
        type->full_name());
    const Message* prototype =
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(
            type);
    std::unique_ptr<Message> in(prototype->New());
    PrepareInput(in.get());
    std::unique_ptr<Message> out(prototype->New());
    out->CopyFrom(*in);  // a failure must clear it
    (void)ProjectAndCheck(projector, *in, out.get(), schema_error);
  }

  void RunSynthesized() {
    if (payload_.empty()) return;
    const std::size_t schema_size =
        std::min<std::size_t>(payload_[0], payload_.size() - 1);
    FuzzedDataProvider schema(payload_.data() + 1, schema_size);
    message_offset_ = 1 + schema_size;
    const FileDescriptorProto file =
        Synthesize(schema, test::Record::descriptor()->file());
    DescriptorPool pool(DescriptorPool::generated_pool());
    const google::protobuf::FileDescriptor* built = pool.BuildFile(file);
    if (built == nullptr) return;  // e.g. a oneof of repeated fields
    const Descriptor* root = built->message_type(0);
    const std::string schema_error = SchemaCheck(categories_).Check(root);
    DynamicMessageFactory factory(&pool);
    const Message* prototype = factory.GetPrototype(root);
    std::unique_ptr<Message> in(prototype->New());
    PrepareInput(in.get());
    Projector projector(*guard_, Options());
    std::unique_ptr<Message> out(prototype->New());
    // A record with something in it, so that a failure must clear it.
    out->CopyFrom(*in);
    const absl::Status s =
        ProjectAndCheck(projector, *in, out.get(), schema_error);
    const absl::Status prepared = projector.Prepare(root);
    CONSENTRY_FUZZ_CHECK(
        prepared.ok() == schema_error.empty(),
        absl::StrCat(prepared.ToString(), " vs ", schema_error));
    if (s.ok() && !require_all_) CheckIdempotent(projector, *out);
  }

  int type_choice_ = 0;
  std::vector<std::uint8_t> control_;
  std::vector<std::uint8_t> payload_;
  std::size_t message_offset_ = 0;
  bool shadow_ = false;
  bool require_all_ = false;
  bool override_subject_ = true;
  // Per input, so that nothing outlives it (a subject's state, and no
  // allocation that libFuzzer's leak check would have to scan for).
  InMemoryConsentStore store_;
  InMemoryAuditSink audit_;
  std::unique_ptr<Guard> guard_;
  const std::string subject_ = "s-fuzz";
  std::set<std::string> categories_;
  std::optional<AccessContext> ctx_;
};

}  // namespace
}  // namespace consentry::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  consentry::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  consentry::fuzz::Harness harness(data, size);
  harness.Run();
  return 0;
}
