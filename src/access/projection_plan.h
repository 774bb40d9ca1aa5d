// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The compiled form of a message type's field tags (consentry/v1/options.proto)
// and the walks a projection makes over a message with it. Internal; never
// installed. Immutable once compiled; safe to share between threads.

#ifndef CONSENTRY_SRC_INTERNAL_PROJECTION_PLAN_H_
#define CONSENTRY_SRC_INTERNAL_PROJECTION_PLAN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "consentry/export.h"
#include "consentry/field_access.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace consentry::internal {

// Bits of a plan mask: bit i (i < kMaxPlanCategories) is the plan's i-th
// category; `kAlwaysBit` marks an untagged field its message declares
// readable (always in the allowed mask); `kNeverBit` an untagged field that
// is not readable (never in the allowed mask).
inline constexpr int kMaxPlanCategories = 62;
inline constexpr std::uint64_t kAlwaysBit = std::uint64_t{1} << 62;
inline constexpr std::uint64_t kNeverBit = std::uint64_t{1} << 63;
inline constexpr std::uint64_t kCategoryBits = kAlwaysBit - 1;

struct PlanNode;

struct PlanField {
  const google::protobuf::FieldDescriptor* field = nullptr;
  // `field->index()`, for the generated accessors.
  int index = 0;
  // The bit the field's values need in the allowed mask; 0 for a container
  // (a message-typed field without a category: decided inside).
  std::uint64_t need = 0;
  // For a message-typed field, or a map with message values: the plan of
  // the message (the value type for a map). Otherwise null.
  const PlanNode* child = nullptr;
  // True when everything below the field needs exactly `need`: presence
  // need not look inside.
  bool uniform = true;
  bool repeated = false;
  bool map = false;
  // How the scan tells whether a scalar field is present. A singular field
  // without presence (proto3) is present when it is not zero or empty,
  // which a typed getter tells at half the cost of `HasField`.
  enum class Presence : std::uint8_t {
    kHasField,  // `Reflection::HasField` (or `FieldSize` when repeated)
    kString,    // a std::string-backed string: not empty
    kDouble,    // bits not zero (-0.0 counts as present, as in protobuf)
    kFloat,
    kInt32,
    kEnum,
    kInt64,
    kUInt32,
    kUInt64,
    kBool,
  };
  Presence presence = Presence::kHasField;
};

struct PlanNode {
  const google::protobuf::Descriptor* type = nullptr;
  // The reflection of the generated class for `type`, or null when `type`
  // is not in the generated pool. Used only on messages whose own
  // reflection is this one (checked at the root), to skip a virtual call
  // and a once-guard per visited message.
  const google::protobuf::Reflection* reflection = nullptr;
  // The default instance of the generated class (with `reflection`): what
  // `Reflection::GetMessage` returns for an unset field of this type.
  const google::protobuf::Message* prototype = nullptr;
  // The generated class's direct accessors (protoc-gen-consentry), or null:
  // used, like `reflection`, only on messages of the generated class.
  const GeneratedFieldAccess* access = nullptr;
  std::vector<PlanField> fields;
  // The fields that hold no message (scalars, strings, scalar maps), which
  // the scan visits first: they often make looking inside the sub-messages
  // for presence unnecessary. `scalar_bits`: their need bits.
  std::vector<PlanField> scalar_fields;
  std::uint64_t scalar_bits = 0;
  // The maps among them (scalar values): their entries, as messages, may
  // hold unknown fields.
  std::vector<PlanField> scalar_maps;
  // The fields that hold messages (singular, repeated, or map values).
  std::vector<PlanField> message_fields;
  // Every need bit in this node and the nodes below it.
  std::uint64_t subtree = 0;
  // The type declares extension ranges (extensions are always dropped).
  bool has_extensions = false;
  // The first path from a root that reached this node, for the lint.
  std::string path;
};

// Resolves a category id to its plan-facing form; returns an error (any
// code) for an id the policy does not define.
using CategoryResolver = std::function<absl::Status(absl::string_view id)>;

struct ProjectionPlan {
  const google::protobuf::Descriptor* root = nullptr;
  const PlanNode* root_node = nullptr;
  // The root's subject-id field; null when it has none or several, with the
  // error in `subject_error`.
  const google::protobuf::FieldDescriptor* subject = nullptr;
  absl::Status subject_error;
  // Plan-local category index -> policy category id.
  std::vector<std::string> category_ids;
  std::vector<std::unique_ptr<PlanNode>> nodes;
};

// Whether plans compiled from now on use generated accessors (default
// true). Tests turn them off to compare both paths.
CONSENTRY_EXPORT void SetGeneratedFieldAccessEnabledForTesting(bool enabled);

// Compiles the plan for `root`. `resolve` (may be empty: no check) is asked
// once per distinct category id. Errors: `kInvalidArgument` naming the
// field (or type) for malformed tags, as listed in consentry/projection.h.
absl::StatusOr<std::unique_ptr<ProjectionPlan>> CompilePlan(
    const google::protobuf::Descriptor* root, const CategoryResolver& resolve);

// What one walk over a record learns before any check is made.
struct ScanResult {
  // The need bits of every field present (for a fully known subtree, the
  // walk stops looking).
  std::uint64_t present = 0;
  // `m` or a message inside it has unknown fields, or a message of a type
  // that declares extension ranges is present (it may hold extensions).
  bool unknown = false;
  // Set by the caller: also look for unknown fields in the entries of maps
  // with scalar values. A generated class's map keeps only keys and
  // values, so its own copy drops them; a dynamic message (or a copy into
  // another class, which goes through the entries) keeps them.
  bool scalar_map_entries = true;
};

// Walks `m`, a message of `node.type`, once: ORs into `result->present` the
// need bits of every field present, and sets `result->unknown` (looking into
// the entries of scalar maps when `result->scalar_map_entries`). Fields whose
// bits are already known are not looked at, except that every sub-message
// present is visited until an unknown field is found. `cached`: the nodes'
// `reflection` applies to `m` (see `UsesCachedReflection`).
void Scan(const PlanNode& node, const google::protobuf::Message& m, bool cached,
          ScanResult* result);

// True when `m`, a message of `node.type`, uses `node.reflection`; then so
// do all messages inside it.
bool UsesCachedReflection(const PlanNode& node,
                          const google::protobuf::Message& m);

// The operations a projection makes on a copy, compiled for one node and
// one set of denied bits. Immutable once compiled; safe to share.
struct PruneProgram;

struct PruneOp {
  enum Kind : std::uint8_t {
    // Clear the field (its need is denied, or every field below it is).
    kClear,
    // Set the string (singular, without presence, not in a oneof) to "",
    // which is clearing it.
    kClearString,
    // Recurse into the singular sub-message, if present.
    kSingular,
    // Recurse into each element of the repeated message field.
    kRepeated,
    // Drop the unknown fields of each map entry and, for message values,
    // recurse into the value (`child`; null for scalar values).
    kMap,
  };
  const google::protobuf::FieldDescriptor* field = nullptr;
  int index = 0;  // field->index()
  // The program for the sub-message; null for `kClear`.
  const PruneProgram* child = nullptr;
  Kind kind = kClear;
};

struct PruneProgram {
  const PlanNode* node = nullptr;
  std::vector<PruneOp> ops;
  // Drop the node's unknown fields and extensions (and visit every
  // sub-message and map entry to do so); otherwise only clear.
  bool drop_unknown = false;
  // The program may clear a set field (some denied bit is below the node);
  // otherwise it only drops unknown fields and extensions.
  bool clears = false;
};

// The programs compiled for one set of denied bits: one per node reached.
struct PruneProgramSet {
  std::uint64_t denied = 0;
  // Clears the denied fields and drops unknown fields and extensions.
  const PruneProgram* full = nullptr;
  // Only clears the denied fields (for records without unknown fields or
  // extensions); visits only sub-messages that may hold a denied field.
  const PruneProgram* clear_only = nullptr;
  std::vector<std::unique_ptr<PruneProgram>> programs;
};

// Compiles the operations that clear, below `plan.root_node`, every field
// whose need intersects `denied`, and drop unknown fields and extensions.
// Only message-typed fields that can hold something to clear or drop are
// visited: a field whose need is denied, or whose sub-message holds only
// denied bits, becomes one `kClear`.
std::unique_ptr<PruneProgramSet> CompilePruneProgram(const ProjectionPlan& plan,
                                                     std::uint64_t denied);

// Runs `program` on `m`, a message of `program.node->type`: clears the
// fields it names (and, for a `full` program, every unknown field and
// extension), recursively. A singular sub-message or an element of a
// repeated message field that is empty after a program that clears has run
// on it is removed. `cached`: as for `Scan`.
void RunPruneProgram(const PruneProgram& program, google::protobuf::Message* m,
                     bool cached);

// The first field present in `m` whose need intersects `bits`, or null.
const google::protobuf::FieldDescriptor* FindPresent(
    const PlanNode& node, const google::protobuf::Message& m,
    std::uint64_t bits);

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_PROJECTION_PLAN_H_
