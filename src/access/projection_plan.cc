// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/access/projection_plan.h"

#include <atomic>
#include <bit>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "consentry/v1/options.pb.h"
#include "google/protobuf/metadata_lite.h"
#include "google/protobuf/unknown_field_set.h"
#include "src/util/status_macros.h"

namespace consentry::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr std::uint64_t Bit(int c) { return std::uint64_t{1} << c; }

std::atomic<bool> generated_access_enabled{true};

PlanField::Presence PresenceOf(const FieldDescriptor* fd) {
  using P = PlanField::Presence;
  if (fd->is_repeated() || fd->has_presence()) return P::kHasField;
  switch (fd->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      // Other ctypes would be copied into the scratch string.
      return fd->options().ctype() == google::protobuf::FieldOptions::STRING
                 ? P::kString
                 : P::kHasField;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return P::kDouble;
    case FieldDescriptor::CPPTYPE_FLOAT:
      return P::kFloat;
    case FieldDescriptor::CPPTYPE_INT32:
      return P::kInt32;
    case FieldDescriptor::CPPTYPE_ENUM:
      return P::kEnum;
    case FieldDescriptor::CPPTYPE_INT64:
      return P::kInt64;
    case FieldDescriptor::CPPTYPE_UINT32:
      return P::kUInt32;
    case FieldDescriptor::CPPTYPE_UINT64:
      return P::kUInt64;
    case FieldDescriptor::CPPTYPE_BOOL:
      return P::kBool;
    default:
      return P::kHasField;
  }
}

// Whether the scalar field `pf` is present in `m` (see PlanField::Presence).
bool ScalarPresent(const Reflection& r, const Message& m, const PlanField& pf) {
  using P = PlanField::Presence;
  switch (pf.presence) {
    case P::kHasField:
      return pf.repeated ? r.FieldSize(m, pf.field) > 0
                         : r.HasField(m, pf.field);
    case P::kString: {
      std::string scratch;
      return !r.GetStringReference(m, pf.field, &scratch).empty();
    }
    case P::kDouble:
      return std::bit_cast<std::uint64_t>(r.GetDouble(m, pf.field)) != 0;
    case P::kFloat:
      return std::bit_cast<std::uint32_t>(r.GetFloat(m, pf.field)) != 0;
    case P::kInt32:
      return r.GetInt32(m, pf.field) != 0;
    case P::kEnum:
      return r.GetEnumValue(m, pf.field) != 0;
    case P::kInt64:
      return r.GetInt64(m, pf.field) != 0;
    case P::kUInt32:
      return r.GetUInt32(m, pf.field) != 0;
    case P::kUInt64:
      return r.GetUInt64(m, pf.field) != 0;
    case P::kBool:
      return r.GetBool(m, pf.field);
  }
  return r.HasField(m, pf.field);
}

// Walks the types reachable from a root and builds one node per
// (type, hard category, soft category): the same type embedded under
// different inherited categories compiles to different nodes.
class Compiler {
 public:
  Compiler(ProjectionPlan* plan, const CategoryResolver& resolve)
      : plan_(plan), resolve_(resolve) {}

  // `hard`: the category an explicit tag on the enclosing field imposes on
  // the whole message (`hard_origin` is that field), or -1. `soft`: the
  // default category in force where the message is embedded, or -1.
  absl::StatusOr<const PlanNode*> Node(const Descriptor* type, int hard,
                                       const FieldDescriptor* hard_origin,
                                       int soft, const std::string& path) {
    const auto key = std::make_tuple(type, hard, soft);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    auto owned = std::make_unique<PlanNode>();
    PlanNode* node = owned.get();
    plan_->nodes.push_back(std::move(owned));
    memo_.emplace(key, node);
    node->type = type;
    node->path = path;
    node->has_extensions = type->extension_range_count() > 0;
    if (type->file()->pool() ==
        google::protobuf::DescriptorPool::generated_pool()) {
      const Message* prototype =
          google::protobuf::MessageFactory::generated_factory()->GetPrototype(
              type);
      if (prototype != nullptr) {
        node->reflection = prototype->GetReflection();
        node->prototype = prototype;
        const GeneratedFieldAccess* access =
            FindGeneratedFieldAccess(prototype);
        if (access != nullptr &&
            generated_access_enabled.load(std::memory_order_relaxed) &&
            access->field_count == type->field_count() &&
            type->full_name() == access->full_name) {
          node->access = access;
        }
      }
    }

    const google::protobuf::MessageOptions& mo = type->options();
    int type_default = -1;
    if (mo.HasExtension(v1::default_category)) {
      ASSIGN_OR_RETURN(type_default,
                       Index(mo.GetExtension(v1::default_category),
                             absl::StrCat("message ", type->full_name(),
                                          " (default_category)")));
      if (hard >= 0 && type_default != hard) {
        return Conflict(
            absl::StrCat("message ", type->full_name(), " (default_category)"),
            type_default, hard_origin, hard);
      }
    }
    const bool readable = mo.GetExtension(v1::untagged_readable);
    const int inner_soft = type_default >= 0 ? type_default : soft;

    node->fields.reserve(static_cast<std::size_t>(type->field_count()));
    for (int i = 0; i < type->field_count(); ++i) {
      const FieldDescriptor* fd = type->field(i);
      const google::protobuf::FieldOptions& fo = fd->options();
      if (fo.GetExtension(v1::subject_id) &&
          (fd->type() != FieldDescriptor::TYPE_STRING || fd->is_repeated())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "field ", fd->full_name(),
            ": (consentry.v1.subject_id) marks a field that is not a singular "
            "string (it is ",
            fd->is_repeated() ? "repeated " : "", fd->type_name(), ")"));
      }
      int own = -1;
      if (fo.HasExtension(v1::category)) {
        ASSIGN_OR_RETURN(own, Index(fo.GetExtension(v1::category),
                                    absl::StrCat("field ", fd->full_name())));
        if (hard >= 0 && own != hard) {
          return Conflict(absl::StrCat("field ", fd->full_name()), own,
                          hard_origin, hard);
        }
      }
      const int explicit_cat = own >= 0 ? own : hard;
      const FieldDescriptor* origin = own >= 0 ? fd : hard_origin;
      const int eff = explicit_cat >= 0 ? explicit_cat : inner_soft;
      const std::uint64_t need =
          eff >= 0 ? Bit(eff) : (readable ? kAlwaysBit : kNeverBit);
      const std::string field_path = absl::StrCat(path, ".", fd->name());

      PlanField pf;
      pf.field = fd;
      pf.index = i;
      pf.repeated = fd->is_repeated();
      pf.map = fd->is_map();
      const Descriptor* nested = nullptr;
      if (pf.map) {
        pf.need = need;  // the keys
        const FieldDescriptor* value = fd->message_type()->map_value();
        if (value->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          nested = value->message_type();
        }
      } else if (fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        nested = fd->message_type();
        pf.need = explicit_cat >= 0 ? Bit(explicit_cat) : 0;
      } else {
        pf.need = need;
      }
      if (nested != nullptr) {
        if (explicit_cat >= 0) {
          ASSIGN_OR_RETURN(pf.child,
                           Node(nested, explicit_cat, origin, -1, field_path));
          pf.uniform = true;
        } else {
          ASSIGN_OR_RETURN(pf.child,
                           Node(nested, -1, nullptr, inner_soft, field_path));
          pf.uniform = false;
        }
      }
      if (pf.child == nullptr) pf.presence = PresenceOf(fd);
      node->fields.push_back(pf);
      if (pf.child != nullptr) {
        node->message_fields.push_back(pf);
      } else {
        node->scalar_fields.push_back(pf);
        node->scalar_bits |= pf.need;
        if (pf.map) node->scalar_maps.push_back(pf);
      }
    }
    return node;
  }

 private:
  absl::StatusOr<int> Index(const std::string& id, absl::string_view where) {
    if (id.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the category id is empty"));
    }
    if (auto it = index_.find(id); it != index_.end()) return it->second;
    if (resolve_) {
      absl::Status s = resolve_(id);
      if (!s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": category '", id,
                         "' is not defined by the policy (", s.message(), ")"));
      }
    }
    const int n = static_cast<int>(plan_->category_ids.size());
    if (n >= kMaxPlanCategories) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": more than ", kMaxPlanCategories,
                       " distinct categories under one message type"));
    }
    plan_->category_ids.push_back(id);
    index_.emplace(id, n);
    return n;
  }

  absl::Status Conflict(absl::string_view where, int inner,
                        const FieldDescriptor* outer, int outer_cat) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": category '",
        plan_->category_ids[static_cast<std::size_t>(inner)],
        "' conflicts with category '",
        plan_->category_ids[static_cast<std::size_t>(outer_cat)],
        "' that field ", outer != nullptr ? outer->full_name() : "?",
        " gives the whole message; tag the nested fields alike or drop the "
        "tag on the message-typed field"));
  }

  ProjectionPlan* plan_;
  const CategoryResolver& resolve_;
  absl::flat_hash_map<std::tuple<const Descriptor*, int, int>, const PlanNode*>
      memo_;
  absl::flat_hash_map<std::string, int> index_;
};

// Whether `m` holds unknown fields, for a message of a generated class
// (one that uses its plan node's cached reflection). Generated classes keep
// them in `MessageLite::_internal_metadata_`, which their own inline
// `unknown_fields()` reads; reading it here skips the reflection call (an
// offset lookup in the type's schema) per visited message.
struct UnknownFieldsPeek : Message {
  static bool Has(const Message& m) {
    const auto& metadata = m.*(&UnknownFieldsPeek::_internal_metadata_);
    return metadata.have_unknown_fields() &&
           !metadata
                .unknown_fields<google::protobuf::UnknownFieldSet>(
                    google::protobuf::UnknownFieldSet::default_instance)
                .empty();
  }
};

bool HasUnknownFields(const Reflection& r, const Message& m, bool cached) {
  return cached ? UnknownFieldsPeek::Has(m) : !r.GetUnknownFields(m).empty();
}

const Message* MapValue(const Message& entry) {
  const FieldDescriptor* value = entry.GetDescriptor()->map_value();
  const Reflection* r = entry.GetReflection();
  if (!r->HasField(entry, value)) return nullptr;
  return &r->GetMessage(entry, value);
}

// The singular message field `pf` of `m` when it is set, else null. With
// the generated class's reflection, one `GetMessage` (an unset field gives
// the type's default instance) instead of `HasField` and `GetMessage`.
const Message* SetMessage(const Reflection& r, const Message& m,
                          const FieldDescriptor* field, const PlanNode& child,
                          bool cached) {
  if (cached && child.prototype != nullptr) {
    const Message& sub = r.GetMessage(m, field);
    return &sub == child.prototype ? nullptr : &sub;
  }
  if (!r.HasField(m, field)) return nullptr;
  return &r.GetMessage(m, field);
}

// The elements of the repeated message field `field` (not a map) of `m`,
// with one reflection call rather than one per element.
const google::protobuf::RepeatedPtrField<Message>& RepeatedMessages(
    const Reflection& r, const Message& m, const FieldDescriptor* field) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  // Deprecated in favour of GetRepeatedFieldRef, which looks the type's
  // prototype up in the message factory on every call.
  return r.GetRepeatedPtrField<Message>(m, field);
#pragma GCC diagnostic pop
}

google::protobuf::RepeatedPtrField<Message>* MutableRepeatedMessages(
    const Reflection& r, Message* m, const FieldDescriptor* field) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  return r.MutableRepeatedPtrField<Message>(m, field);
#pragma GCC diagnostic pop
}

}  // namespace

absl::StatusOr<std::unique_ptr<ProjectionPlan>> CompilePlan(
    const Descriptor* root, const CategoryResolver& resolve) {
  if (root == nullptr) {
    return absl::InvalidArgumentError("projection plan: message type is null");
  }
  auto plan = std::make_unique<ProjectionPlan>();
  plan->root = root;
  Compiler compiler(plan.get(), resolve);
  ASSIGN_OR_RETURN(plan->root_node,
                   compiler.Node(root, -1, nullptr, -1, root->full_name()));
  // Subtree bits, to a fixed point (recursive types form cycles).
  for (bool changed = true; changed;) {
    changed = false;
    for (const std::unique_ptr<PlanNode>& node : plan->nodes) {
      std::uint64_t bits = 0;
      for (const PlanField& pf : node->fields) {
        bits |= pf.need;
        if (pf.child != nullptr) bits |= pf.child->subtree;
      }
      if (bits != node->subtree) {
        node->subtree = bits;
        changed = true;
      }
    }
  }
  for (int i = 0; i < root->field_count(); ++i) {
    const FieldDescriptor* fd = root->field(i);
    if (!fd->options().GetExtension(v1::subject_id)) continue;
    if (plan->subject != nullptr) {
      plan->subject = nullptr;
      plan->subject_error = absl::InvalidArgumentError(absl::StrCat(
          "message type ", root->full_name(),
          " marks more than one field with (consentry.v1.subject_id)"));
      break;
    }
    plan->subject = fd;
  }
  if (plan->subject == nullptr && plan->subject_error.ok()) {
    plan->subject_error = absl::InvalidArgumentError(
        absl::StrCat("message type ", root->full_name(),
                     " has no field marked (consentry.v1.subject_id) = true"));
  }
  return plan;
}

void SetGeneratedFieldAccessEnabledForTesting(bool enabled) {
  generated_access_enabled.store(enabled, std::memory_order_relaxed);
}

bool UsesCachedReflection(const PlanNode& node, const Message& m) {
  return node.reflection != nullptr && m.GetReflection() == node.reflection;
}

void Scan(const PlanNode& node, const Message& m, bool cached,
          ScanResult* result) {
  const Reflection* r = cached ? node.reflection : m.GetReflection();
  if (!result->unknown &&
      (node.has_extensions || HasUnknownFields(*r, m, cached))) {
    result->unknown = true;
  }
  const GeneratedFieldAccess* access = cached ? node.access : nullptr;
  if ((node.scalar_bits & ~result->present) != 0) {
    for (const PlanField& pf : node.scalar_fields) {
      if ((pf.need & ~result->present) == 0) continue;
      if (access != nullptr ? access->present(m, pf.index)
                            : ScalarPresent(*r, m, pf)) {
        result->present |= pf.need;
      }
    }
  }
  if (result->scalar_map_entries && !result->unknown) {
    for (const PlanField& pf : node.scalar_maps) {
      const int n = r->FieldSize(m, pf.field);
      for (int i = 0; i < n && !result->unknown; ++i) {
        const Message& entry = r->GetRepeatedMessage(m, pf.field, i);
        if (!entry.GetReflection()->GetUnknownFields(entry).empty()) {
          result->unknown = true;
        }
      }
    }
  }
  for (const PlanField& pf : node.message_fields) {
    const bool look_inside = !pf.uniform;
    const std::uint64_t bits = pf.need | (look_inside ? pf.child->subtree : 0);
    if ((bits & ~result->present) == 0 && result->unknown) continue;
    if (pf.map) {
      // Map entries through the repeated view (this syncs the map; only
      // maps with message values get here).
      const int n = r->FieldSize(m, pf.field);
      if (n > 0) result->present |= pf.need;
      for (int i = 0; i < n; ++i) {
        const Message& entry = r->GetRepeatedMessage(m, pf.field, i);
        if (!entry.GetReflection()->GetUnknownFields(entry).empty()) {
          result->unknown = true;
        }
        if (const Message* value = MapValue(entry)) {
          Scan(*pf.child, *value, /*cached=*/false, result);
        }
      }
    } else if (pf.repeated && access != nullptr) {
      const int n = access->size(m, pf.index);
      if (n > 0) result->present |= pf.need;
      for (int i = 0; i < n; ++i) {
        Scan(*pf.child, access->element(m, pf.index, i), cached, result);
        if ((bits & ~result->present) == 0 && result->unknown) break;
      }
    } else if (pf.repeated) {
      const google::protobuf::RepeatedPtrField<Message>& elements =
          RepeatedMessages(*r, m, pf.field);
      if (!elements.empty()) result->present |= pf.need;
      for (const Message& e : elements) {
        Scan(*pf.child, e, cached, result);
        if ((bits & ~result->present) == 0 && result->unknown) break;
      }
    } else if (const Message* sub =
                   access != nullptr
                       ? access->message(m, pf.index)
                       : SetMessage(*r, m, pf.field, *pf.child, cached)) {
      result->present |= pf.need;
      Scan(*pf.child, *sub, cached, result);
    }
  }
}

namespace {

class ProgramCompiler {
 public:
  ProgramCompiler(PruneProgramSet* set, std::uint64_t denied, bool drop_unknown)
      : set_(set), denied_(denied), drop_unknown_(drop_unknown) {}

  const PruneProgram* Compile(const PlanNode* node) {
    if (auto it = memo_.find(node); it != memo_.end()) return it->second;
    auto owned = std::make_unique<PruneProgram>();
    PruneProgram* program = owned.get();
    set_->programs.push_back(std::move(owned));
    memo_.emplace(node, program);  // before recursing: types may recurse
    program->node = node;
    program->clears = (node->subtree & denied_) != 0;
    program->drop_unknown = drop_unknown_;
    for (const PlanField& pf : node->fields) {
      PruneOp op;
      op.field = pf.field;
      op.index = pf.index;
      if ((pf.need & denied_) != 0) {
        op.kind = pf.field->cpp_type() == FieldDescriptor::CPPTYPE_STRING &&
                          !pf.repeated && !pf.field->has_presence() &&
                          pf.field->real_containing_oneof() == nullptr
                      ? PruneOp::kClearString
                      : PruneOp::kClear;
      } else if (pf.child == nullptr && !(pf.map && drop_unknown_)) {
        continue;  // a readable scalar, string or scalar map: kept as copied
      } else if (pf.child == nullptr) {
        // A readable scalar map: its entries may hold unknown fields.
        op.kind = PruneOp::kMap;
      } else if (!drop_unknown_ && (pf.child->subtree & denied_) == 0) {
        continue;  // nothing below to clear
      } else if (!pf.map && pf.child->subtree != 0 &&
                 (pf.child->subtree & ~denied_) == 0) {
        // Every field below is denied: the sub-message(s) would be emptied
        // and removed, so clear them at once.
        op.kind = PruneOp::kClear;
      } else {
        op.kind = pf.map
                      ? PruneOp::kMap
                      : (pf.repeated ? PruneOp::kRepeated : PruneOp::kSingular);
        op.child = Compile(pf.child);
      }
      program->ops.push_back(op);
    }
    return program;
  }

 private:
  PruneProgramSet* set_;
  std::uint64_t denied_;
  bool drop_unknown_;
  absl::flat_hash_map<const PlanNode*, const PruneProgram*> memo_;
};

}  // namespace

std::unique_ptr<PruneProgramSet> CompilePruneProgram(const ProjectionPlan& plan,
                                                     std::uint64_t denied) {
  auto set = std::make_unique<PruneProgramSet>();
  set->denied = denied;
  set->full = ProgramCompiler(set.get(), denied, /*drop_unknown=*/true)
                  .Compile(plan.root_node);
  set->clear_only = ProgramCompiler(set.get(), denied, /*drop_unknown=*/false)
                        .Compile(plan.root_node);
  return set;
}

namespace {

// Clears `op`'s field of `m`, through the generated accessors when given.
void ClearField(const Reflection& r, const GeneratedFieldAccess* access,
                const PruneOp& op, Message* m) {
  if (access != nullptr) {
    access->clear(m, op.index);
  } else {
    r.ClearField(m, op.field);
  }
}

}  // namespace

void RunPruneProgram(const PruneProgram& program, Message* m, bool cached) {
  const PlanNode& node = *program.node;
  const Reflection* r = cached ? node.reflection : m->GetReflection();
  if (program.drop_unknown && !r->GetUnknownFields(*m).empty()) {
    r->MutableUnknownFields(m)->Clear();
  }
  if (program.drop_unknown && node.has_extensions) {
    std::vector<const FieldDescriptor*> set;
    r->ListFields(*m, &set);
    for (const FieldDescriptor* fd : set) {
      if (fd->is_extension()) r->ClearField(m, fd);
    }
  }
  const GeneratedFieldAccess* access = cached ? node.access : nullptr;
  for (const PruneOp& op : program.ops) {
    switch (op.kind) {
      case PruneOp::kClear:
        ClearField(*r, access, op, m);
        break;
      case PruneOp::kClearString:
        // Same as ClearField for a string without presence, but keeps the
        // string's storage for the next copy into `m` (as the generated
        // `clear_x()` does).
        if (access != nullptr) {
          access->clear(m, op.index);
        } else {
          r->SetString(m, op.field, std::string());
        }
        break;
      case PruneOp::kSingular: {
        // Set, so owned by `m`, which is mutable.
        Message* sub = access != nullptr
                           ? access->mutable_message(m, op.index)
                           : const_cast<Message*>(SetMessage(
                                 *r, *m, op.field, *op.child->node, cached));
        if (sub == nullptr) break;
        RunPruneProgram(*op.child, sub, cached);
        // A container left with nothing is removed: its presence alone
        // would tell the reader something was there.
        if (op.child->clears && sub->ByteSizeLong() == 0) {
          ClearField(*r, access, op, m);
        }
        break;
      }
      case PruneOp::kRepeated: {
        // Elements left with nothing are removed, the rest keep their
        // order: an empty element would still tell how many there were.
        google::protobuf::RepeatedPtrField<Message>* elements =
            access != nullptr ? nullptr
                              : MutableRepeatedMessages(*r, m, op.field);
        const int n =
            access != nullptr ? access->size(*m, op.index) : elements->size();
        int kept = 0;
        for (int i = 0; i < n; ++i) {
          Message* e = access != nullptr
                           ? access->mutable_element(m, op.index, i)
                           : elements->Mutable(i);
          RunPruneProgram(*op.child, e, cached);
          if (op.child->clears && e->ByteSizeLong() == 0) continue;
          if (kept != i) {
            if (access != nullptr) {
              access->swap_elements(m, op.index, kept, i);
            } else {
              elements->SwapElements(kept, i);
            }
          }
          ++kept;
        }
        for (int i = kept; i < n; ++i) {
          if (access != nullptr) {
            access->remove_last(m, op.index);
          } else {
            elements->RemoveLast();
          }
        }
        break;
      }
      case PruneOp::kMap: {
        const int n = r->FieldSize(*m, op.field);
        for (int i = 0; i < n; ++i) {
          Message* entry = r->MutableRepeatedMessage(m, op.field, i);
          const FieldDescriptor* value = entry->GetDescriptor()->map_value();
          const Reflection* er = entry->GetReflection();
          if (program.drop_unknown && !er->GetUnknownFields(*entry).empty()) {
            er->MutableUnknownFields(entry)->Clear();
          }
          if (op.child == nullptr || !er->HasField(*entry, value)) continue;
          // A map entry stays when its value is emptied: its key carries
          // the map field's own category, which the reader may see.
          RunPruneProgram(*op.child, er->MutableMessage(entry, value),
                          /*cached=*/false);
        }
        break;
      }
    }
  }
}

const FieldDescriptor* FindPresent(const PlanNode& node, const Message& m,
                                   std::uint64_t bits) {
  const Reflection* r = m.GetReflection();
  for (const PlanField& pf : node.fields) {
    const bool hit = (pf.need & bits) != 0;
    if (pf.repeated) {
      const int n = r->FieldSize(m, pf.field);
      if (n == 0) continue;
      if (hit) return pf.field;
      if (pf.child == nullptr || pf.uniform) continue;
      for (int i = 0; i < n; ++i) {
        const Message* e = &r->GetRepeatedMessage(m, pf.field, i);
        if (pf.map && (e = MapValue(*e)) == nullptr) continue;
        if (const FieldDescriptor* f = FindPresent(*pf.child, *e, bits))
          return f;
      }
    } else {
      if (!r->HasField(m, pf.field)) continue;
      if (hit) return pf.field;
      if (pf.child == nullptr || pf.uniform) continue;
      if (const FieldDescriptor* f =
              FindPresent(*pf.child, r->GetMessage(m, pf.field), bits)) {
        return f;
      }
    }
  }
  return nullptr;
}

}  // namespace consentry::internal
