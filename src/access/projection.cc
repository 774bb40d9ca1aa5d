// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/projection.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <typeinfo>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "src/access/projection_plan.h"
#include "src/core/guard_impl.h"
#include "src/util/mutex.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace internal {

// The prune programs compiled for a plan, by denied bits. Readers load
// the current snapshot with one atomic load and no lock; a new set of
// denied bits publishes a new snapshot (copy plus one entry) under `mu`.
struct ProgramSnapshot {
  absl::flat_hash_map<std::uint64_t, const PruneProgramSet*> programs;
};

// A compiled plan with the categories resolved against the Guard, and the
// prune programs compiled for it so far.
struct ResolvedPlan {
  std::unique_ptr<ProjectionPlan> plan;
  std::vector<CategoryRef> categories;  // by plan-local index
  // The need of the root's subject-id field: present whenever a record is
  // projected (an empty subject id is rejected first).
  std::uint64_t subject_need = 0;
  // The program for "nothing present is denied", compiled with the plan.
  std::unique_ptr<PruneProgramSet> all_allowed;

  // Programs for other denied sets, compiled on first use. At most one per
  // subset of the plan's categories that is denied together; in practice
  // a handful per type (one per combination of consent states seen).
  mutable std::atomic<const ProgramSnapshot*> programs{nullptr};
  mutable Mutex mu;
  mutable std::vector<std::unique_ptr<const ProgramSnapshot>> snapshots
      ABSL_GUARDED_BY(mu);
  mutable std::vector<std::unique_ptr<PruneProgramSet>> sets
      ABSL_GUARDED_BY(mu);

  // The program that clears `denied` (present bits that are not allowed).
  const PruneProgramSet& ProgramFor(std::uint64_t denied) const {
    if (denied == 0) return *all_allowed;
    const ProgramSnapshot* snap = programs.load(std::memory_order_acquire);
    if (snap != nullptr) {
      if (auto it = snap->programs.find(denied); it != snap->programs.end()) {
        return *it->second;
      }
    }
    // Compile outside the lock; a racing thread may compile the same set,
    // and the first to publish wins.
    std::unique_ptr<PruneProgramSet> compiled =
        CompilePruneProgram(*plan, denied);
    MutexLock lock(&mu);
    const ProgramSnapshot* latest = programs.load(std::memory_order_acquire);
    if (latest != nullptr) {
      if (auto it = latest->programs.find(denied);
          it != latest->programs.end()) {
        return *it->second;
      }
    }
    auto next = latest != nullptr ? std::make_unique<ProgramSnapshot>(*latest)
                                  : std::make_unique<ProgramSnapshot>();
    const PruneProgramSet* raw = compiled.get();
    next->programs.emplace(denied, raw);
    sets.push_back(std::move(compiled));
    programs.store(next.get(), std::memory_order_release);
    snapshots.push_back(std::move(next));
    return *raw;
  }
};

// An immutable map from message type to plan. Readers load the current
// snapshot with one atomic load and no lock; a new type publishes a new
// snapshot (copy plus one entry) under the writer mutex.
struct PlanSnapshot {
  absl::flat_hash_map<const google::protobuf::Descriptor*, const ResolvedPlan*>
      plans;
  // The same plans by generated C++ class, for records whose class uses the
  // plan's cached reflection: `typeid` finds the plan without the virtual
  // `GetDescriptor` and `GetReflection` calls (each a once-guard in
  // protobuf).
  absl::flat_hash_map<const std::type_info*, const ResolvedPlan*> by_class;
};

}  // namespace internal

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using internal::PlanSnapshot;
using internal::ResolvedPlan;

struct Projector::Cache {
  std::atomic<const PlanSnapshot*> current{nullptr};
  internal::Mutex mu;
  // Every snapshot ever published stays alive until the Projector dies: a
  // reader may still hold an older one. Snapshots grow by one type each;
  // the number of message types a service projects is small.
  std::vector<std::unique_ptr<const PlanSnapshot>> snapshots
      ABSL_GUARDED_BY(mu);
  std::vector<std::unique_ptr<const ResolvedPlan>> plans ABSL_GUARDED_BY(mu);

  const ResolvedPlan* FindClass(const std::type_info& cls) const {
    const PlanSnapshot* snap = current.load(std::memory_order_acquire);
    auto it = snap->by_class.find(&cls);
    return it == snap->by_class.end() ? nullptr : it->second;
  }

  // Publishes `plan` (already cached by type) for the generated class `cls`.
  void AddClass(const std::type_info& cls, const ResolvedPlan* plan) {
    internal::MutexLock lock(&mu);
    const PlanSnapshot* latest = current.load(std::memory_order_acquire);
    if (latest->by_class.contains(&cls)) return;
    auto next = std::make_unique<PlanSnapshot>(*latest);
    next->by_class.emplace(&cls, plan);
    current.store(next.get(), std::memory_order_release);
    snapshots.push_back(std::move(next));
  }
};

Projector::Projector(Guard& guard, ProjectorOptions options)
    : guard_(guard), options_(options), cache_(std::make_unique<Cache>()) {
  auto empty = std::make_unique<const PlanSnapshot>();
  cache_->current.store(empty.get(), std::memory_order_release);
  internal::MutexLock lock(&cache_->mu);
  cache_->snapshots.push_back(std::move(empty));
}

Projector::~Projector() = default;

std::size_t Projector::cached_plans() const {
  return cache_->current.load(std::memory_order_acquire)->plans.size();
}

absl::StatusOr<const ResolvedPlan*> Projector::PlanFor(const Descriptor* type) {
  const PlanSnapshot* snap = cache_->current.load(std::memory_order_acquire);
  if (auto it = snap->plans.find(type); it != snap->plans.end()) {
    return it->second;
  }
  // Compile outside the lock; a racing thread may compile the same type,
  // and the first to publish wins.
  auto resolved = std::make_unique<ResolvedPlan>();
  const internal::CategoryResolver resolve =
      [this](absl::string_view id) -> absl::Status {
    return guard_.Category(id).status();
  };
  ASSIGN_OR_RETURN(resolved->plan, internal::CompilePlan(type, resolve));
  if (resolved->plan->subject != nullptr) {
    resolved->subject_need =
        resolved->plan->root_node
            ->fields[static_cast<std::size_t>(resolved->plan->subject->index())]
            .need;
  }
  resolved->all_allowed = internal::CompilePruneProgram(*resolved->plan, 0);
  resolved->categories.reserve(resolved->plan->category_ids.size());
  for (const std::string& id : resolved->plan->category_ids) {
    ASSIGN_OR_RETURN(CategoryRef c, guard_.Category(id));
    resolved->categories.push_back(std::move(c));
  }
  internal::MutexLock lock(&cache_->mu);
  const PlanSnapshot* latest = cache_->current.load(std::memory_order_acquire);
  if (auto it = latest->plans.find(type); it != latest->plans.end()) {
    return it->second;
  }
  auto next = std::make_unique<PlanSnapshot>(*latest);
  const ResolvedPlan* raw = resolved.get();
  next->plans.emplace(type, raw);
  cache_->plans.push_back(std::move(resolved));
  cache_->current.store(next.get(), std::memory_order_release);
  cache_->snapshots.push_back(std::move(next));
  return raw;
}

absl::Status Projector::Prepare(const Descriptor* type) {
  if (type == nullptr) {
    return absl::InvalidArgumentError("Projector::Prepare: type is null");
  }
  ASSIGN_OR_RETURN(const ResolvedPlan* plan, PlanFor(type));
  return plan->plan->subject_error;
}

namespace {

// `status` (from `DenialStatus`) with the field named, payload kept.
absl::Status WithField(const absl::Status& status, const FieldDescriptor* f) {
  absl::Status out(status.code(),
                   absl::StrCat(status.message(), "; field ",
                                f != nullptr ? f->full_name() : "?",
                                " is present and the read requires every "
                                "field"));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) {
        out.SetPayload(url, payload);
      });
  return out;
}

// What the Guard's decisions over the categories present in a record
// allow; in `kRequireAll` mode, the first denial.
struct Tally {
  std::uint64_t allowed = internal::kAlwaysBit;
  absl::Status first_denial;
  std::uint64_t first_denial_bit = 0;
};

// Tallies `decisions[i]`, the decision for plan-local category `bits[i]`.
Tally TallyDecisions(absl::Span<const Decision> decisions, const int* bits,
                     bool require_all, const AccessContext& ctx,
                     const internal::ProjectionPlan& plan) {
  Tally t;
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    const Decision& d = decisions[i];
    const int c = bits[i];
    if (d.proceeds()) {
      t.allowed |= std::uint64_t{1} << c;
    } else if (require_all && t.first_denial.ok()) {
      // Built only when it is returned: a status costs allocations.
      t.first_denial =
          DenialStatus(d.reason(), ctx.purpose(),
                       plan.category_ids[static_cast<std::size_t>(c)]);
      t.first_denial_bit = std::uint64_t{1} << c;
    }
  }
  return t;
}

// The error of a `kRequireAll` read of `in` that `t` denies some field of:
// the first denied category's, naming a field that carries it, or, when
// only a field of no category is denied, that field.
absl::Status RequireAllDenial(const internal::ProjectionPlan& plan,
                              const Message& in, const Tally& t) {
  if (t.first_denial_bit != 0) {
    return WithField(t.first_denial, internal::FindPresent(*plan.root_node, in,
                                                           t.first_denial_bit));
  }
  const FieldDescriptor* f =
      internal::FindPresent(*plan.root_node, in, internal::kNeverBit);
  return absl::PermissionDeniedError(absl::StrCat(
      "consentry: field ", f != nullptr ? f->full_name() : "?", " of ",
      plan.root->full_name(),
      " carries no data category and is not readable; the read requires "
      "every field"));
}

// Copies `in` to `out`, then clears what `denied` (present categories not
// allowed) and, when `unknown`, unknown fields.
void CopyAndPrune(const ResolvedPlan& resolved, const Message& in, Message* out,
                  std::uint64_t denied, bool unknown, bool same_class,
                  bool cached) {
  // Clear + MergeFrom is CopyFrom without the debug-build descendant walk
  // that Message::CopyFrom makes in Debian's libprotobuf.
  out->Clear();
  out->MergeFrom(in);
  // Bits not present need no clearing, so the program is chosen by the
  // present bits that are denied: none, in the common case. Unknown
  // fields were looked for in the scan; they are rare.
  if (denied == 0 && !unknown) return;
  const internal::PruneProgramSet& programs = resolved.ProgramFor(denied);
  // `out` may be of another class than `in` (a dynamic message of the
  // same type), so its reflection is checked on its own.
  internal::RunPruneProgram(
      unknown ? *programs.full : *programs.clear_only, out,
      same_class
          ? cached
          : internal::UsesCachedReflection(*resolved.plan->root_node, *out));
}

}  // namespace

absl::Status Projector::ProjectInto(const AccessContext& ctx, const Message& in,
                                    Message* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError("Projector::ProjectInto: out is null");
  }
  // A plan found by class means `in` is of a generated class whose
  // reflection the plan holds (`cached`): the walks then skip the virtual
  // `GetReflection` per message.
  const std::type_info& cls = typeid(in);
  const ResolvedPlan* resolved = cache_->FindClass(cls);
  bool cached = resolved != nullptr;
  const bool same_class = typeid(*out) == cls;
  // A generated class is one message type; a dynamic message class is many.
  if (!(cached && same_class) && out->GetDescriptor() != in.GetDescriptor()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Projector::ProjectInto: out is a ", out->GetDescriptor()->full_name(),
        ", not a ", in.GetDescriptor()->full_name()));
  }
  // Every failure leaves `out` empty: no partial copy.
  const auto fail = [out](absl::Status s) {
    out->Clear();
    return s;
  };
  if (resolved == nullptr) {
    absl::StatusOr<const ResolvedPlan*> planned = PlanFor(in.GetDescriptor());
    if (!planned.ok()) return fail(planned.status());
    resolved = *planned;
    cached = internal::UsesCachedReflection(*resolved->plan->root_node, in);
    if (cached) cache_->AddClass(cls, resolved);
  }
  const internal::ProjectionPlan& plan = *resolved->plan;
  const Descriptor* type = plan.root;
  if (plan.subject == nullptr) return fail(plan.subject_error);
  std::string scratch;
  const google::protobuf::Reflection* reflection =
      cached ? plan.root_node->reflection : in.GetReflection();
  const GeneratedFieldAccess* access =
      cached ? plan.root_node->access : nullptr;
  const std::string& subject =
      access != nullptr
          ? access->string_value(in, plan.subject->index())
          : reflection->GetStringReference(in, plan.subject, &scratch);
  if (subject.empty()) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("message type ", type->full_name(), ": subject-id field ",
                     plan.subject->name(), " is empty")));
  }

  // One walk learns which categories are present (the subject's always
  // is) and whether unknown fields must be dropped.
  internal::ScanResult scan;
  scan.present = resolved->subject_need;
  // A generated class's own copy keeps only the keys and values of maps.
  scan.scalar_map_entries = !(cached && same_class);
  internal::Scan(*plan.root_node, in, cached, &scan);
  const std::uint64_t present = scan.present;
  // Every present category is decided and audited, in one Guard call that
  // looks the subject up once.
  const CategoryRef* refs[internal::kMaxPlanCategories];
  int bits[internal::kMaxPlanCategories];
  std::size_t n = 0;
  for (std::uint64_t b = present & internal::kCategoryBits; b != 0;
       b &= b - 1) {
    const int c = std::countr_zero(b);
    bits[n] = c;
    refs[n++] = &resolved->categories[static_cast<std::size_t>(c)];
  }
  absl::InlinedVector<Decision, 8> decisions(n,
                                             Decision(Reason::kUnspecified, 0));
  {
    absl::Status checked = internal::CheckCategories(
        guard_, ctx, subject, absl::MakeConstSpan(refs, n), decisions.data());
    if (!checked.ok()) return fail(std::move(checked));  // no copy
  }
  const bool require_all = options_.mode == ProjectionMode::kRequireAll;
  const Tally tally = TallyDecisions(decisions, bits, require_all, ctx, plan);
  const std::uint64_t denied = present & ~tally.allowed;
  if (require_all && denied != 0) {
    return fail(RequireAllDenial(plan, in, tally));
  }
  CopyAndPrune(*resolved, in, out, denied, scan.unknown, same_class, cached);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Message>> Projector::Project(
    const AccessContext& ctx, const Message& in) {
  std::unique_ptr<Message> out(in.New());
  RETURN_IF_ERROR(ProjectInto(ctx, in, out.get()));
  return out;
}

absl::StatusOr<std::vector<UntaggedField>> ListUntaggedFields(
    absl::Span<const Descriptor* const> roots) {
  absl::flat_hash_map<std::string, UntaggedField> found;
  for (const Descriptor* root : roots) {
    if (root == nullptr) {
      return absl::InvalidArgumentError("ListUntaggedFields: a root is null");
    }
    ASSIGN_OR_RETURN(std::unique_ptr<internal::ProjectionPlan> plan,
                     internal::CompilePlan(root, nullptr));
    for (const auto& node : plan->nodes) {
      for (const internal::PlanField& pf : node->fields) {
        if ((pf.need & (internal::kAlwaysBit | internal::kNeverBit)) == 0) {
          continue;
        }
        const std::string& name = pf.field->full_name();
        if (found.contains(name)) continue;
        found.emplace(
            name,
            UntaggedField{name, absl::StrCat(node->path, ".", pf.field->name()),
                          (pf.need & internal::kAlwaysBit) != 0});
      }
    }
  }
  std::vector<UntaggedField> out;
  out.reserve(found.size());
  for (auto& [name, f] : found) out.push_back(std::move(f));
  std::sort(out.begin(), out.end(),
            [](const UntaggedField& a, const UntaggedField& b) {
              return a.field < b.field;
            });
  return out;
}

}  // namespace consentry
