// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: projection.h
// -----------------------------------------------------------------------------
//
// Purpose-aware protobuf records. An integrator tags each field of their own
// messages with a data category (consentry/v1/options.proto); a `Projector`
// then gives each purpose a copy of a record holding only the fields that
// purpose may see for the record's subject, with every other field cleared
// (or, in `ProjectionMode::kRequireAll`, denies the whole read).
//
//   * Nested, repeated and map fields and oneofs are projected field by
//     field; unknown fields and extensions are always dropped.
//   * Untagged fields are not readable unless their message sets
//     `(consentry.v1.untagged_readable)` (fail closed).
//   * Each decision is a `Guard::Check`, one per distinct category present in
//     the record, so each is audited. A store or audit outage fails the
//     whole projection: no partial copy is returned.
//   * The rules are compiled once per message type into a plan, and the
//     clearing for each set of denied categories into a program; both are
//     cached. Generated field access (consentry/field_access.h) makes the
//     walks cheaper than reflection, with the same result. The cost model:
//     docs/design/projection.md.
//   * A sub-message or element of a repeated message field that is left
//     empty by clearing is removed (its presence alone would tell
//     something); a map entry whose message value is emptied stays, as its
//     key is visible.
//
// `ListUntaggedFields` is the lint: the fields reachable from a set of message
// types that carry no category, for integrators to fix before they enforce
// (tools/consentry_lint_fields is the command-line form).
//
// Example:
//
//   // health.proto:
//   //   message Measurement {
//   //     string member_id = 1 [(consentry.v1.subject_id) = true,
//   //                           (consentry.v1.category) = "identity"];
//   //     double weight_kg = 2 [(consentry.v1.category) = "measurement"];
//   //   }
//   consentry::Projector projector(*guard);
//   absl::StatusOr<consentry::AccessContext> stats =
//       guard->Context("statistics-job", "statistics.measurement");
//   absl::StatusOr<Measurement> view = projector.Project(*stats, measurement);
//   if (!view.ok()) return view.status();  // outage or malformed tags
//   // view->member_id() is empty (identity is not for statistics);
//   // view->weight_kg() is set if the member consented.

#ifndef CONSENTRY_PROJECTION_H_
#define CONSENTRY_PROJECTION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "consentry/export.h"
#include "consentry/guard.h"

namespace google::protobuf {
class Descriptor;
class Message;
}  // namespace google::protobuf

namespace consentry {

namespace internal {
struct ResolvedPlan;
struct PlanSnapshot;
}  // namespace internal

enum class ProjectionMode {
  // Fields the purpose may not see are cleared; the rest is returned.
  // The default.
  kClearDenied,
  // The read is all or nothing: if any field present in the record is
  // denied (or untagged and not readable), the projection fails with the
  // denial's status and nothing is returned.
  kRequireAll,
};

struct ProjectorOptions {
  ProjectionMode mode = ProjectionMode::kClearDenied;
};

// Projects protobuf records to what a purpose may see. Thread-safe: every
// method may be called concurrently; a projection takes no lock once its
// type's plan and the program for its denied categories are cached. Does
// not own the Guard, which must outlive the Projector.
//
// Plans and programs are cached per message type and per set of denied
// categories (not per purpose; see docs/design/projection.md). Category ids
// in a plan stay valid across `Guard::SetPolicy` (resolved by name; a
// category the new policy lacks denies).
// REQUIRES: the descriptors of projected types (their pool, for dynamic
// messages) outlive the Projector.
class CONSENTRY_EXPORT Projector {
 public:
  explicit Projector(Guard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND,
                     ProjectorOptions options = {});
  Projector(const Projector&) = delete;
  Projector& operator=(const Projector&) = delete;
  ~Projector();

  // Sets `*out` to a copy of `in` holding only the fields `ctx` may see for
  // the subject named in `in`'s `(consentry.v1.subject_id)` field. On any
  // error but a null or mistyped `out`, `*out` is cleared. A shadow-mode Guard
  // keeps denied fields (the denials are audited and counted as for every
  // shadow read).
  //
  // Errors:
  //   `kInvalidArgument`: `out` is null or not of `in`'s type; the type has
  //     no (or more than one) subject-id field, or it is empty in `in`
  //     (names the message type); malformed tags (names the field, see
  //     `Prepare`).
  //   `kUnavailable`: the consent store or the audit sink failed (the read
  //     is denied and no copy is made).
  //   In `kRequireAll` mode, a denied field present in `in`:
  //     `kFailedPrecondition` (consent denials) or `kPermissionDenied`
  //     (every other denial, and untagged fields), naming the field;
  //     `ReasonFromStatus` gives the reason.
  absl::Status ProjectInto(const AccessContext& ctx,
                           const google::protobuf::Message& in,
                           google::protobuf::Message* out);

  // As `ProjectInto`, returning a new message of `in`'s type.
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> Project(
      const AccessContext& ctx, const google::protobuf::Message& in);

  // As `ProjectInto`, for a generated message type `M`.
  template <typename M>
  absl::StatusOr<M> Project(const AccessContext& ctx, const M& in) {
    M out;
    absl::Status s = ProjectInto(ctx, in, &out);
    if (!s.ok()) return s;
    return out;
  }

  // Compiles and caches the plan for `type` (and the types it embeds), so
  // that tag errors surface at start-up rather than on the first read.
  //
  // Errors: `kInvalidArgument` naming the field's full name for a category
  // id the enforced policy does not define; a `subject_id` field that is
  // not a singular string; an explicit category on a message-typed field
  // that disagrees with a category inside the embedded message. Naming the
  // message type: an unknown `default_category`; no or several subject-id
  // fields (only when `type` is projected at top level, as here).
  absl::Status Prepare(const google::protobuf::Descriptor* type);

  // Number of message types with a cached plan.
  std::size_t cached_plans() const;

 private:
  absl::StatusOr<const internal::ResolvedPlan*> PlanFor(
      const google::protobuf::Descriptor* type);

  Guard& guard_;
  ProjectorOptions options_;
  struct Cache;
  std::unique_ptr<Cache> cache_;
};

// A field reachable from the linted types that carries no category.
struct UntaggedField {
  // Full name of the field, e.g. "health.v1.Measurement.note".
  std::string field;
  // A path from a linted root that reaches it, e.g.
  // "health.v1.Measurement.parts.note".
  std::string path;
  // True when the declaring message sets `untagged_readable`: the field is
  // readable by every purpose rather than cleared.
  bool readable = false;
};

// Lists the fields reachable from `roots` (through nested, repeated and map
// fields, transitively) that carry no category under the rules of
// consentry/v1/options.proto, each once, sorted by field name. Category ids
// are not checked against a policy (`Projector::Prepare` does that).
//
// Errors: `kInvalidArgument` for a null root, or an explicit category on a
// message-typed field that disagrees with one inside it (names both).
CONSENTRY_EXPORT absl::StatusOr<std::vector<UntaggedField>> ListUntaggedFields(
    absl::Span<const google::protobuf::Descriptor* const> roots);

}  // namespace consentry

#endif  // CONSENTRY_PROJECTION_H_
