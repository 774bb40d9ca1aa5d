// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/policy.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/optional.h"
#include "consentry/v1/policy.pb.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/util/time_util.h"
#include "src/core/timestamp_range.h"

namespace consentry {
namespace {

// Dotted lowercase ids: `billing.calculation`, `web_usage`.
bool ValidId(absl::string_view id, bool allow_dots) {
  if (id.empty() || id.size() > 128) return false;
  bool segment_start = true;
  for (char ch : id) {
    if (ch == '.' && allow_dots) {
      if (segment_start) return false;
      segment_start = true;
      continue;
    }
    if (segment_start) {
      if (!absl::ascii_islower(static_cast<unsigned char>(ch))) return false;
      segment_start = false;
      continue;
    }
    if (!absl::ascii_islower(static_cast<unsigned char>(ch)) &&
        !absl::ascii_isdigit(static_cast<unsigned char>(ch)) && ch != '_' &&
        ch != '-') {
      return false;
    }
  }
  return !segment_start;
}

// Collects validation errors; each names the field path and the value.
class Errors {
 public:
  void Add(std::string e) {
    if (errors_.size() < kMax) errors_.push_back(std::move(e));
    ++total_;
  }
  bool empty() const { return errors_.empty(); }
  absl::Status ToStatus(absl::string_view version) const {
    std::string msg = absl::StrCat("invalid policy '", version,
                                   "': ", absl::StrJoin(errors_, "; "));
    if (total_ > kMax) absl::StrAppend(&msg, "; and ", total_ - kMax, " more");
    return absl::InvalidArgumentError(msg);
  }

 private:
  static constexpr std::size_t kMax = 20;
  std::vector<std::string> errors_;
  std::size_t total_ = 0;
};

absl::string_view LegalBasisName(v1::LegalBasis b) {
  return v1::LegalBasis_Name(b);
}

}  // namespace

absl::string_view BasisName(Basis b) {
  switch (b) {
    case Basis::kNotAllowed:
      return "not_allowed";
    case Basis::kNecessary:
      return "necessary";
    case Basis::kOptIn:
      return "opt_in";
    case Basis::kOptOut:
      return "opt_out";
  }
  return "unknown";
}

CompiledPolicy::CompiledPolicy()
    : basis_(static_cast<std::size_t>(kMaxCategories) * kMaxPurposes,
             Basis::kNotAllowed) {}
CompiledPolicy::~CompiledPolicy() = default;

namespace {

// The tables of a `CompiledPolicy` being built, as references into it:
// `CompiledPolicy::Compile`, which alone may name them, hands them to the
// phases below.
struct PolicyTables {
  std::vector<std::string>& purpose_ids;
  std::vector<std::string>& category_ids;
  std::vector<std::string>& accessor_ids;
  absl::flat_hash_map<std::string, PurposeIndex>& purpose_index;
  absl::flat_hash_map<std::string, CategoryIndex>& category_index;
  absl::flat_hash_map<std::string, AccessorIndex>& accessor_index;
  std::array<PurposeSet, kMaxPurposes>& descendants;
  std::array<PurposeSet, kMaxPurposes>& ancestors;
  std::array<int, kMaxPurposes>& parent;
  PurposeSet& per_occasion;
  std::array<bool, kMaxCategories>& special;
  std::array<bool, kMaxCategories>& specific_consent;
  std::array<PurposeSet, kMaxCategories>& allowed;
  std::vector<Basis>& basis;
  std::vector<PurposeSet>& declarable;
  absl::flat_hash_map<std::string, int>& version_ordinal;
  std::vector<std::uint8_t>& min_ordinal;
  bool& has_reconsent;
  int& min_cohort_size;
  std::vector<absl::Duration>& retention;
  std::array<bool, kMaxCategories>& has_retention;
};

// Index of the flat (category, purpose) tables.
std::size_t Slot(int category, int purpose) {
  return static_cast<std::size_t>(category) * kMaxPurposes +
         static_cast<std::size_t>(purpose);
}

// The explicit (category, purpose) -> basis entries of `policy.rules`, with
// the rule each came from.
struct ExplicitRule {
  Basis basis;
  int rule;
};
using ExplicitRules = absl::flat_hash_map<std::pair<int, int>, ExplicitRule>;

// Compiles a policy document into the tables, phase by phase. Each phase
// adds what it finds wrong to `errors`; `Compile` stops where a later phase
// would build on a broken earlier one.
class PolicyCompiler {
 public:
  PolicyCompiler(const v1::Policy& policy, PolicyTables t)
      : policy_(policy), t_(t) {}

  // Limits the tables cannot exceed. Errors: `kResourceExhausted`.
  static absl::Status CheckSizes(const v1::Policy& policy);

  void Purposes();
  void Hierarchy();
  void Closures();
  void Categories();
  ExplicitRules Rules();
  void Accessors();
  void BasisTable(const ExplicitRules& rules);
  void VersionHistory();
  void Reconsent();
  void Retention();
  void Statistics();
  void Approvals();
  void RequestDeadlines();

  Errors& errors() { return errors_; }

 private:
  int purpose_count() const { return static_cast<int>(t_.purpose_ids.size()); }
  int category_count() const {
    return static_cast<int>(t_.category_ids.size());
  }
  absl::optional<Basis> RuleBasis(const v1::UseRule& r,
                                  const std::string& path);
  bool SpecificConsentRuleOk(const v1::UseRule& r, const std::string& path);
  void AddRulePurposes(const v1::UseRule& r, int rule, CategoryIndex cat,
                       Basis basis, ExplicitRules& rules);
  void ReportCycles();

  const v1::Policy& policy_;
  PolicyTables t_;
  Errors errors_;
};

absl::Status PolicyCompiler::CheckSizes(const v1::Policy& policy) {
  if (policy.purposes_size() > kMaxPurposes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("policy.purposes: ", policy.purposes_size(),
                     " purposes; at most ", kMaxPurposes, " are supported"));
  }
  if (policy.categories_size() > kMaxCategories) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "policy.categories: ", policy.categories_size(),
        " categories; at most ", kMaxCategories, " are supported"));
  }
  if (policy.accessors_size() > 65535) {
    return absl::ResourceExhaustedError("policy.accessors: too many accessors");
  }
  return absl::OkStatus();
}

// Purposes: ids, duplicates.
void PolicyCompiler::Purposes() {
  for (int i = 0; i < policy_.purposes_size(); ++i) {
    const v1::Purpose& p = policy_.purposes(i);
    const std::string path = absl::StrCat("policy.purposes[", i, "].id");
    if (!ValidId(p.id(), /*allow_dots=*/true)) {
      errors_.Add(absl::StrCat(path, ": '", p.id(),
                               "' is not a valid purpose id (lowercase "
                               "segments of [a-z0-9_-] joined by '.')"));
      continue;
    }
    auto [it, inserted] = t_.purpose_index.emplace(
        p.id(), static_cast<PurposeIndex>(t_.purpose_ids.size()));
    if (!inserted) {
      errors_.Add(absl::StrCat(path, ": duplicate purpose id '", p.id(),
                               "' (first at policy.purposes[", it->second,
                               "])"));
      continue;
    }
    t_.purpose_ids.push_back(p.id());
  }
  if (policy_.purposes_size() == 0) {
    errors_.Add("policy.purposes: at least one purpose is required");
  }
}

// Parents, and cycles in the hierarchy.
void PolicyCompiler::Hierarchy() {
  t_.parent.fill(-1);
  for (int i = 0; i < policy_.purposes_size(); ++i) {
    const v1::Purpose& p = policy_.purposes(i);
    auto self = t_.purpose_index.find(p.id());
    if (self == t_.purpose_index.end() ||
        t_.purpose_ids[self->second] != p.id()) {
      continue;
    }
    if (p.parent().empty()) continue;
    auto parent = t_.purpose_index.find(p.parent());
    if (parent == t_.purpose_index.end()) {
      errors_.Add(absl::StrCat("policy.purposes[", i,
                               "].parent: unknown purpose '", p.parent(), "'"));
      continue;
    }
    t_.parent[self->second] = parent->second;
  }
  ReportCycles();
}

// Each cycle in the parent links, once, starting at its first purpose (the
// one listed first), whether or not other purposes lead into it.
void PolicyCompiler::ReportCycles() {
  const int np = purpose_count();
  const auto parent = [this](int p) {
    return t_.parent[static_cast<std::size_t>(p)];
  };
  std::vector<bool> reported(static_cast<std::size_t>(np), false);
  for (int start = 0; start < np; ++start) {
    // A walk up that has not ended after np steps has entered a cycle and
    // stands on it (the path to a cycle is shorter than np).
    int on_cycle = start;
    for (int k = 0; k < np && on_cycle >= 0; ++k) on_cycle = parent(on_cycle);
    if (on_cycle < 0 || reported[static_cast<std::size_t>(on_cycle)]) {
      continue;
    }
    int first = on_cycle;
    for (int c = parent(on_cycle); c != on_cycle; c = parent(c)) {
      first = std::min(first, c);
    }
    std::vector<std::string> names;
    int c = first;
    do {
      names.push_back(t_.purpose_ids[static_cast<std::size_t>(c)]);
      reported[static_cast<std::size_t>(c)] = true;
      c = parent(c);
    } while (c != first);
    names.push_back(t_.purpose_ids[static_cast<std::size_t>(first)]);
    errors_.Add(
        absl::StrCat("policy.purposes: cycle in the purpose hierarchy: ",
                     absl::StrJoin(names, " -> ")));
  }
}

// Ancestors and descendants, closed and including self; per-occasion
// purposes. REQUIRES: a hierarchy without cycles.
void PolicyCompiler::Closures() {
  for (int p = 0; p < purpose_count(); ++p) {
    const auto pi = static_cast<PurposeIndex>(p);
    for (int cur = p; cur >= 0;
         cur = t_.parent[static_cast<std::size_t>(cur)]) {
      const auto ci = static_cast<PurposeIndex>(cur);
      t_.ancestors[pi].Add(ci);
      t_.descendants[ci].Add(pi);
    }
  }
  for (int i = 0; i < policy_.purposes_size(); ++i) {
    if (policy_.purposes(i).per_occasion()) {
      t_.per_occasion.Add(t_.purpose_index.at(policy_.purposes(i).id()));
    }
  }
}

// Categories: ids, duplicates, special and specific-consent flags.
void PolicyCompiler::Categories() {
  for (int i = 0; i < policy_.categories_size(); ++i) {
    const v1::DataCategory& c = policy_.categories(i);
    const std::string path = absl::StrCat("policy.categories[", i, "].id");
    if (!ValidId(c.id(), /*allow_dots=*/false)) {
      errors_.Add(
          absl::StrCat(path, ": '", c.id(),
                       "' is not a valid category id ([a-z][a-z0-9_-]*)"));
      continue;
    }
    auto [it, inserted] = t_.category_index.emplace(
        c.id(), static_cast<CategoryIndex>(t_.category_ids.size()));
    if (!inserted) {
      errors_.Add(absl::StrCat(path, ": duplicate category id '", c.id(),
                               "' (first at policy.categories[", it->second,
                               "])"));
      continue;
    }
    t_.special[it->second] = c.special();
    t_.specific_consent[it->second] = c.requires_specific_consent();
    t_.category_ids.push_back(c.id());
  }
  if (policy_.categories_size() == 0) {
    errors_.Add("policy.categories: at least one category is required");
  }
}

// The basis a rule names; nothing (the error added) when it is unset.
absl::optional<Basis> PolicyCompiler::RuleBasis(const v1::UseRule& r,
                                                const std::string& path) {
  switch (r.basis()) {
    case v1::LEGAL_BASIS_NECESSARY:
      return Basis::kNecessary;
    case v1::LEGAL_BASIS_OPT_IN:
      return Basis::kOptIn;
    case v1::LEGAL_BASIS_OPT_OUT:
      return Basis::kOptOut;
    default:
      errors_.Add(absl::StrCat(path, ".basis: must be set (got ",
                               LegalBasisName(r.basis()).empty()
                                   ? std::to_string(r.basis())
                                   : std::string(LegalBasisName(r.basis())),
                               ")"));
      return absl::nullopt;
  }
}

// Secrecy of communications: no opt-out, no blanket rule (policy.h).
// False (the errors added) when rule `r` breaks that.
bool PolicyCompiler::SpecificConsentRuleOk(const v1::UseRule& r,
                                           const std::string& path) {
  if (r.basis() == v1::LEGAL_BASIS_OPT_OUT) {
    errors_.Add(absl::StrCat(path,
                             ".basis: LEGAL_BASIS_OPT_OUT is not allowed for "
                             "category '",
                             r.category(),
                             "', which requires specific consent"));
    return false;
  }
  if (r.purposes_size() > kMaxPurposesPerSpecificRule) {
    errors_.Add(absl::StrCat(
        path, ".purposes: blanket rule for category '", r.category(),
        "', which requires specific consent: ", r.purposes_size(),
        " purposes, at most ", kMaxPurposesPerSpecificRule, " per rule"));
    return false;
  }
  bool blanket = false;
  for (int j = 0; j < r.purposes_size(); ++j) {
    auto pur = t_.purpose_index.find(r.purposes(j));
    if (pur != t_.purpose_index.end() &&
        t_.descendants[pur->second].size() > 1) {
      errors_.Add(absl::StrCat(
          path, ".purposes[", j, "]: blanket rule for category '", r.category(),
          "', which requires specific consent: purpose '", r.purposes(j),
          "' has child purposes; name each child purpose instead"));
      blanket = true;
    }
  }
  return !blanket;
}

// Rules: the explicit (category, purpose) -> basis entries.
ExplicitRules PolicyCompiler::Rules() {
  ExplicitRules rules;
  for (int i = 0; i < policy_.rules_size(); ++i) {
    const v1::UseRule& r = policy_.rules(i);
    const std::string path = absl::StrCat("policy.rules[", i, "]");
    auto cat = t_.category_index.find(r.category());
    if (cat == t_.category_index.end()) {
      errors_.Add(absl::StrCat(path, ".category: unknown category '",
                               r.category(), "'"));
      continue;
    }
    absl::optional<Basis> basis = RuleBasis(r, path);
    if (!basis.has_value()) continue;
    if (*basis == Basis::kOptOut && t_.special[cat->second]) {
      errors_.Add(absl::StrCat(path,
                               ".basis: LEGAL_BASIS_OPT_OUT is not allowed for "
                               "special category '",
                               r.category(), "'"));
      continue;
    }
    if (r.purposes_size() == 0) {
      errors_.Add(
          absl::StrCat(path, ".purposes: at least one purpose is required"));
      continue;
    }
    if (t_.specific_consent[cat->second] && !SpecificConsentRuleOk(r, path)) {
      continue;
    }
    AddRulePurposes(r, i, cat->second, *basis, rules);
  }
  return rules;
}

// The entries of rule `r` (policy.rules[rule]) for each purpose it names.
void PolicyCompiler::AddRulePurposes(const v1::UseRule& r, int rule,
                                     CategoryIndex cat, Basis basis,
                                     ExplicitRules& rules) {
  const std::string path = absl::StrCat("policy.rules[", rule, "]");
  for (int j = 0; j < r.purposes_size(); ++j) {
    const std::string ppath = absl::StrCat(path, ".purposes[", j, "]");
    auto pur = t_.purpose_index.find(r.purposes(j));
    if (pur == t_.purpose_index.end()) {
      errors_.Add(
          absl::StrCat(ppath, ": unknown purpose '", r.purposes(j), "'"));
      continue;
    }
    if (t_.per_occasion.Contains(pur->second) && basis != Basis::kOptIn) {
      errors_.Add(absl::StrCat(ppath, ": per-occasion purpose '", r.purposes(j),
                               "' must have basis LEGAL_BASIS_OPT_IN"));
      continue;
    }
    auto [it, inserted] = rules.emplace(
        std::make_pair(int{cat}, int{pur->second}), ExplicitRule{basis, rule});
    if (!inserted) {
      errors_.Add(absl::StrCat(ppath, ": duplicate rule for category '",
                               r.category(), "' and purpose '", r.purposes(j),
                               "' (first in policy.rules[", it->second.rule,
                               "])"));
    }
  }
}

// Accessors: ids, duplicates, the purposes each may declare.
void PolicyCompiler::Accessors() {
  for (int i = 0; i < policy_.accessors_size(); ++i) {
    const v1::Accessor& a = policy_.accessors(i);
    const std::string path = absl::StrCat("policy.accessors[", i, "]");
    if (!ValidId(a.id(), /*allow_dots=*/true)) {
      errors_.Add(
          absl::StrCat(path, ".id: '", a.id(), "' is not a valid accessor id"));
      continue;
    }
    auto [it, inserted] = t_.accessor_index.emplace(
        a.id(), static_cast<AccessorIndex>(t_.accessor_ids.size()));
    if (!inserted) {
      errors_.Add(absl::StrCat(path, ".id: duplicate accessor id '", a.id(),
                               "' (first at policy.accessors[", it->second,
                               "])"));
      continue;
    }
    PurposeSet declarable;
    for (int j = 0; j < a.may_declare_size(); ++j) {
      auto pur = t_.purpose_index.find(a.may_declare(j));
      if (pur == t_.purpose_index.end()) {
        errors_.Add(absl::StrCat(path, ".may_declare[", j,
                                 "]: unknown purpose '", a.may_declare(j),
                                 "'"));
        continue;
      }
      declarable.Add(t_.descendants[pur->second]);
    }
    t_.accessor_ids.push_back(a.id());
    t_.declarable.push_back(declarable);
  }
}

// The flat table: a purpose inherits the rule of its nearest ancestor
// (itself included) that has one for the category.
void PolicyCompiler::BasisTable(const ExplicitRules& rules) {
  for (int c = 0; c < category_count(); ++c) {
    for (int p = 0; p < purpose_count(); ++p) {
      Basis b = Basis::kNotAllowed;
      for (int cur = p; cur >= 0;
           cur = t_.parent[static_cast<std::size_t>(cur)]) {
        auto it = rules.find(std::make_pair(c, cur));
        if (it != rules.end()) {
          b = it->second.basis;
          break;
        }
      }
      // A per-occasion purpose is never usable on an inherited basis other
      // than opt-in.
      if (t_.per_occasion.Contains(static_cast<PurposeIndex>(p)) &&
          b != Basis::kNotAllowed) {
        b = Basis::kOptIn;
      }
      // A special category never inherits opt-out (validated above for
      // explicit rules; inheritance cannot introduce it).
      t_.basis[Slot(c, p)] = b;
      if (b != Basis::kNotAllowed) {
        t_.allowed[static_cast<std::size_t>(c)].Add(
            static_cast<PurposeIndex>(p));
      }
    }
  }
}

// Version history: ordinals for the versions consent records name.
void PolicyCompiler::VersionHistory() {
  for (int i = 0; i < policy_.version_history_size(); ++i) {
    const std::string& v = policy_.version_history(i);
    if (v.empty() || v == policy_.version()) {
      errors_.Add(absl::StrCat("policy.version_history[", i, "]: '", v,
                               "' must be a non-empty earlier version"));
      continue;
    }
    if (!t_.version_ordinal.emplace(v, i + 1).second) {
      errors_.Add(absl::StrCat("policy.version_history[", i,
                               "]: duplicate version '", v, "'"));
    }
  }
  if (policy_.version_history_size() > 250) {
    errors_.Add("policy.version_history: at most 250 earlier versions");
  }
  t_.version_ordinal[policy_.version()] = policy_.version_history_size() + 1;
}

// Re-consent requirements after material changes.
void PolicyCompiler::Reconsent() {
  t_.min_ordinal.assign(static_cast<std::size_t>(kMaxCategories) * kMaxPurposes,
                        0);
  for (int i = 0; i < policy_.reconsent_size(); ++i) {
    const v1::ReconsentRequirement& r = policy_.reconsent(i);
    const std::string path = absl::StrCat("policy.reconsent[", i, "]");
    auto pur = t_.purpose_index.find(r.purpose());
    if (pur == t_.purpose_index.end()) {
      errors_.Add(
          absl::StrCat(path, ".purpose: unknown purpose '", r.purpose(), "'"));
      continue;
    }
    auto ord = t_.version_ordinal.find(r.since_version());
    if (ord == t_.version_ordinal.end()) {
      errors_.Add(
          absl::StrCat(path, ".since_version: '", r.since_version(),
                       "' is neither this version nor in version_history"));
      continue;
    }
    std::vector<int> cats;
    for (int j = 0; j < r.categories_size(); ++j) {
      auto c = t_.category_index.find(r.categories(j));
      if (c == t_.category_index.end()) {
        errors_.Add(absl::StrCat(path, ".categories[", j,
                                 "]: unknown category '", r.categories(j),
                                 "'"));
        continue;
      }
      cats.push_back(c->second);
    }
    if (r.categories_size() == 0) {
      for (int c = 0; c < category_count(); ++c) cats.push_back(c);
    }
    // A requirement on a purpose applies to its descendants too.
    t_.descendants[pur->second].ForEach([&](PurposeIndex d) {
      for (int c : cats) {
        std::uint8_t& slot = t_.min_ordinal[Slot(c, d)];
        slot = std::max(slot, static_cast<std::uint8_t>(ord->second));
      }
    });
    t_.has_reconsent = true;
  }
}

// Retention: a category default, overridden per purpose (inherited by
// descendants from the nearest ancestor with an override).
void PolicyCompiler::Retention() {
  t_.retention.assign(static_cast<std::size_t>(kMaxCategories) * kMaxPurposes,
                      absl::InfiniteDuration());
  std::vector<absl::Duration> defaults(kMaxCategories,
                                       absl::InfiniteDuration());
  absl::flat_hash_map<std::pair<int, int>, absl::Duration> overrides;
  for (int i = 0; i < policy_.retention_size(); ++i) {
    const v1::RetentionRule& r = policy_.retention(i);
    const std::string path = absl::StrCat("policy.retention[", i, "]");
    auto c = t_.category_index.find(r.category());
    if (c == t_.category_index.end()) {
      errors_.Add(absl::StrCat(path, ".category: unknown category '",
                               r.category(), "'"));
      continue;
    }
    const absl::Duration period = absl::Seconds(r.period().seconds()) +
                                  absl::Nanoseconds(r.period().nanos());
    if (period <= absl::ZeroDuration()) {
      errors_.Add(absl::StrCat(path, ".period: must be positive"));
      continue;
    }
    t_.has_retention[c->second] = true;
    if (r.purposes_size() == 0) {
      if (defaults[c->second] != absl::InfiniteDuration()) {
        errors_.Add(absl::StrCat(path, ": duplicate default retention for '",
                                 r.category(), "'"));
      }
      defaults[c->second] = period;
      continue;
    }
    for (int j = 0; j < r.purposes_size(); ++j) {
      auto pur = t_.purpose_index.find(r.purposes(j));
      if (pur == t_.purpose_index.end()) {
        errors_.Add(absl::StrCat(path, ".purposes[", j, "]: unknown purpose '",
                                 r.purposes(j), "'"));
        continue;
      }
      if (!overrides
               .emplace(std::make_pair(int{c->second}, int{pur->second}),
                        period)
               .second) {
        errors_.Add(absl::StrCat(
            path, ".purposes[", j, "]: duplicate retention for category '",
            r.category(), "' and purpose '", r.purposes(j), "'"));
      }
    }
  }
  for (int c = 0; c < category_count(); ++c) {
    for (int p = 0; p < purpose_count(); ++p) {
      absl::Duration d = defaults[static_cast<std::size_t>(c)];
      for (int cur = p; cur >= 0;
           cur = t_.parent[static_cast<std::size_t>(cur)]) {
        auto it = overrides.find(std::make_pair(c, cur));
        if (it != overrides.end()) {
          d = it->second;
          break;
        }
      }
      t_.retention[Slot(c, p)] = d;
    }
  }
}

// Statistics: the smallest cohort an aggregate may report.
void PolicyCompiler::Statistics() {
  if (policy_.statistics().min_cohort_size() < 0) {
    errors_.Add(absl::StrCat("policy.statistics.min_cohort_size: ",
                             policy_.statistics().min_cohort_size(),
                             " must not be negative"));
  } else if (policy_.statistics().min_cohort_size() > 0) {
    t_.min_cohort_size = policy_.statistics().min_cohort_size();
  }
}

// The kinds listed at `path` (a `subject_kinds` field) as a mask;
// `kAllSubjectKinds` when none is listed. Adds an error for an unspecified,
// unknown or duplicate kind.
SubjectKindMask KindsOf(const google::protobuf::RepeatedField<int>& kinds,
                        const std::string& path, Errors& errors) {
  if (kinds.empty()) return kAllSubjectKinds;
  SubjectKindMask mask = 0;
  for (int j = 0; j < kinds.size(); ++j) {
    const int k = kinds.Get(j);
    const std::string at = absl::StrCat(path, "[", j, "]");
    if (k < v1::SUBJECT_KIND_CUSTOMER || k > v1::SUBJECT_KIND_EMPLOYEE) {
      errors.Add(absl::StrCat(
          at, ": ",
          v1::SubjectKind_IsValid(k) ? std::string(v1::SubjectKind_Name(
                                           static_cast<v1::SubjectKind>(k)))
                                     : std::to_string(k),
          " is not a subject kind a policy may name (customer, business "
          "partner staff or employee)"));
      continue;
    }
    if (mask & SubjectKindBit(k)) {
      errors.Add(
          absl::StrCat(at, ": duplicate subject kind ",
                       v1::SubjectKind_Name(static_cast<v1::SubjectKind>(k))));
      continue;
    }
    mask = static_cast<SubjectKindMask>(mask | SubjectKindBit(k));
  }
  return mask;
}

// The tables subject kinds and acquisition compile into.
struct KindTables {
  std::array<SubjectKindMask, kMaxCategories>& category_kinds;
  std::array<SubjectKindMask, kMaxPurposes>& purpose_kinds;
  std::vector<SubjectKindMask>& kinds_denied;
  std::array<int, kMaxCategories>& acquisition_purpose;
};

// Subject kinds (policy §7.3, Scope) and acquisition purposes (APPI Art.
// 20(2)). REQUIRES: purposes, hierarchy, categories and the basis table
// compiled without errors.
void CompileKindsAndAcquisition(const v1::Policy& policy,
                                const CompiledPolicy& compiled,
                                const KindTables& t, Errors& errors) {
  // Purposes: each serves the kinds it and every ancestor name (a parent
  // may be listed after its child, so the walk is over the closure).
  std::array<SubjectKindMask, kMaxPurposes> own{};
  own.fill(kAllSubjectKinds);
  for (int i = 0; i < policy.purposes_size(); ++i) {
    const v1::Purpose& pur = policy.purposes(i);
    const std::string path =
        absl::StrCat("policy.purposes[", i, "].subject_kinds");
    const SubjectKindMask m = KindsOf(pur.subject_kinds(), path, errors);
    absl::StatusOr<PurposeIndex> p = compiled.FindPurpose(pur.id());
    if (p.ok()) own[*p] = m;
  }
  for (int p = 0; p < compiled.purpose_count(); ++p) {
    SubjectKindMask m = kAllSubjectKinds;
    compiled.ancestors(static_cast<PurposeIndex>(p))
        .ForEach([&](PurposeIndex a) {
          m = static_cast<SubjectKindMask>(m & own[a]);
        });
    t.purpose_kinds[static_cast<std::size_t>(p)] = m;
  }
  for (int i = 0; i < policy.purposes_size(); ++i) {
    const v1::Purpose& pur = policy.purposes(i);
    absl::StatusOr<PurposeIndex> p = compiled.FindPurpose(pur.id());
    if (!p.ok() || compiled.parent(*p) < 0) continue;
    const auto parent = static_cast<PurposeIndex>(compiled.parent(*p));
    const SubjectKindMask extra = static_cast<SubjectKindMask>(
        own[*p] & ~t.purpose_kinds[parent] & kAllSubjectKinds);
    if (own[*p] != kAllSubjectKinds && extra != 0) {
      errors.Add(absl::StrCat("policy.purposes[", i,
                              "].subject_kinds: purpose '", pur.id(),
                              "' names a subject kind its parent '",
                              compiled.purpose_id(parent), "' does not serve"));
    }
  }
  t.acquisition_purpose.fill(-1);
  t.kinds_denied.assign(static_cast<std::size_t>(kMaxCategories) * kMaxPurposes,
                        0);
  for (int c = 0; c < policy.categories_size(); ++c) {
    const v1::DataCategory& cat = policy.categories(c);
    const std::string path = absl::StrCat("policy.categories[", c, "]");
    t.category_kinds[static_cast<std::size_t>(c)] = KindsOf(
        cat.subject_kinds(), absl::StrCat(path, ".subject_kinds"), errors);
    for (int p = 0; p < compiled.purpose_count(); ++p) {
      t.kinds_denied[Slot(c, p)] = static_cast<SubjectKindMask>(
          ~(t.category_kinds[static_cast<std::size_t>(c)] &
            t.purpose_kinds[static_cast<std::size_t>(p)]) &
          kAllSubjectKinds);
    }
    if (cat.acquisition_purpose().empty()) continue;
    const std::string apath = absl::StrCat(path, ".acquisition_purpose");
    absl::StatusOr<PurposeIndex> a =
        compiled.FindPurpose(cat.acquisition_purpose());
    if (!cat.special()) {
      errors.Add(absl::StrCat(apath, ": category '", cat.id(),
                              "' is not special; only special categories "
                              "need consent to their acquisition"));
    } else if (!a.ok()) {
      errors.Add(absl::StrCat(apath, ": unknown purpose '",
                              cat.acquisition_purpose(), "'"));
    } else if (compiled.per_occasion().Contains(*a)) {
      errors.Add(absl::StrCat(apath, ": purpose '", cat.acquisition_purpose(),
                              "' is per-occasion; acquisition consent is "
                              "given in advance, not per occasion"));
    } else {
      const PurposeSet related =
          compiled.ancestors(*a) | compiled.descendants(*a);
      bool used = false;
      for (int u = 0; u < compiled.category_count() && !used; ++u) {
        used = compiled.allowed_for(static_cast<CategoryIndex>(u))
                   .Intersects(related);
      }
      if (used) {
        errors.Add(absl::StrCat(
            apath, ": purpose '", cat.acquisition_purpose(),
            "' (or a purpose above or below it) is used to read data by a "
            "rule; an acquisition purpose only records consent"));
      } else {
        t.acquisition_purpose[static_cast<std::size_t>(c)] = *a;
      }
    }
  }
}

// Approvals (policy §3): who approved, when; every string valid UTF-8
// (a proto3 string that is not does not parse back) and bounded.
// The answer periods of data-subject requests: 0 (the library's default)
// or 1 to 365 days for every kind; per-kind entries name a known kind once,
// each with 1 to 365 days. A negative or absurd period would make every
// request overdue at once, or never.
void PolicyCompiler::RequestDeadlines() {
  constexpr int kMaxAnswerDays = 365;
  const v1::RequestSettings& r = policy_.requests();
  if (r.answer_days() < 0 || r.answer_days() > kMaxAnswerDays) {
    errors_.Add(absl::StrCat("policy.requests.answer_days: ", r.answer_days(),
                             " days; must be 1 to ", kMaxAnswerDays,
                             " (or 0 for the default)"));
  }
  // The kinds of consentry.v1.RequestKind, as `RequestKindName` spells them.
  static constexpr absl::string_view kKinds[] = {
      "purpose_notice", "disclosure", "correction",
      "suspension",     "erasure",    "provision_stop"};
  constexpr int kKindCount = static_cast<int>(std::size(kKinds));
  if (r.answer_deadlines_size() > kKindCount) {
    errors_.Add(absl::StrCat(
        "policy.requests.answer_deadlines: ", r.answer_deadlines_size(),
        " entries; at most ", kKindCount, ", one per kind"));
    return;
  }
  std::set<std::string> seen;
  for (int i = 0; i < r.answer_deadlines_size(); ++i) {
    const v1::AnswerDeadline& d = r.answer_deadlines(i);
    const std::string at =
        absl::StrCat("policy.requests.answer_deadlines[", i, "]");
    if (std::find(std::begin(kKinds), std::end(kKinds), d.kind()) ==
        std::end(kKinds)) {
      errors_.Add(absl::StrCat(at, ".kind: '",
                               absl::CHexEscape(d.kind().substr(0, 64)),
                               "' is not a request kind"));
    } else if (!seen.insert(d.kind()).second) {
      errors_.Add(absl::StrCat(at, ".kind: '", d.kind(),
                               "' already has an answer period"));
    }
    if (d.days() < 1 || d.days() > kMaxAnswerDays) {
      errors_.Add(absl::StrCat(at, ".days: ", d.days(), " days; must be 1 to ",
                               kMaxAnswerDays));
    }
  }
}

void PolicyCompiler::Approvals() {
  constexpr std::size_t kMaxText = 4096;
  constexpr int kMaxApprovals = 100;
  if (policy_.approvals_size() > kMaxApprovals) {
    errors_.Add(absl::StrCat("policy.approvals: ", policy_.approvals_size(),
                             " approvals; at most ", kMaxApprovals));
    return;
  }
  for (int i = 0; i < policy_.approvals_size(); ++i) {
    const v1::PolicyApproval& a = policy_.approvals(i);
    const std::string at = absl::StrCat("policy.approvals[", i, "]");
    const std::pair<const char*, const std::string*> texts[] = {
        {".approver", &a.approver()},
        {".role", &a.role()},
        {".note", &a.note()}};
    for (const auto& [name, value] : texts) {
      if (value->size() > kMaxText) {
        errors_.Add(absl::StrCat(at, name, ": ", value->size(),
                                 " bytes; at most ", kMaxText));
      } else if (!google::protobuf::internal::IsStructurallyValidUTF8(
                     value->data(), static_cast<int>(value->size()))) {
        errors_.Add(absl::StrCat(at, name, ": '",
                                 absl::CHexEscape(value->substr(0, 64)),
                                 "' is not valid UTF-8"));
      }
    }
    if (absl::StripAsciiWhitespace(a.approver()).empty()) {
      errors_.Add(absl::StrCat(at, ".approver: must name who approved"));
    }
    if (!a.has_time()) {
      errors_.Add(absl::StrCat(at, ".time: must say when it was approved"));
    } else if (!internal::InTimestampRange(a.time())) {
      errors_.Add(
          absl::StrCat(at, ".time: ", internal::TimestampRangeError(a.time())));
    }
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> CompiledPolicy::Compile(
    const v1::Policy& policy) {
  std::shared_ptr<CompiledPolicy> out(new CompiledPolicy());
  if (absl::Status s = PolicyCompiler::CheckSizes(policy); !s.ok()) return s;
  PolicyCompiler c(
      policy,
      PolicyTables{
          out->purpose_ids_,     out->category_ids_,   out->accessor_ids_,
          out->purpose_index_,   out->category_index_, out->accessor_index_,
          out->descendants_,     out->ancestors_,      out->parent_,
          out->per_occasion_,    out->special_,        out->specific_consent_,
          out->allowed_,         out->basis_,          out->declarable_,
          out->version_ordinal_, out->min_ordinal_,    out->has_reconsent_,
          out->min_cohort_size_, out->retention_,      out->has_retention_});
  Errors& errors = c.errors();
  if (policy.version().empty()) {
    errors.Add("policy.version: must not be empty");
  }
  c.Purposes();
  c.Hierarchy();
  if (!errors.empty()) return errors.ToStatus(policy.version());
  c.Closures();
  c.Categories();
  const ExplicitRules rules = c.Rules();
  c.Accessors();
  if (!errors.empty()) return errors.ToStatus(policy.version());
  c.BasisTable(rules);
  c.VersionHistory();
  c.Reconsent();
  c.Retention();
  c.Statistics();
  c.Approvals();
  c.RequestDeadlines();
  if (!errors.empty()) return errors.ToStatus(policy.version());
  CompileKindsAndAcquisition(
      policy, *out,
      KindTables{out->category_kinds_, out->purpose_kinds_, out->kinds_denied_,
                 out->acquisition_purpose_},
      errors);
  if (!errors.empty()) return errors.ToStatus(policy.version());

  out->version_ = policy.version();
  out->proto_ = std::make_unique<v1::Policy>(policy);
  return std::shared_ptr<const CompiledPolicy>(std::move(out));
}

PurposeSet CompiledPolicy::DescendantsOf(PurposeSet s) const {
  PurposeSet out;
  s.ForEach([&](PurposeIndex p) { out.Add(descendants_[p]); });
  return out;
}

PurposeSet CompiledPolicy::AncestorsOf(PurposeSet s) const {
  PurposeSet out;
  s.ForEach([&](PurposeIndex p) { out.Add(ancestors_[p]); });
  return out;
}

bool CompiledPolicy::approved() const { return proto_->approvals_size() > 0; }

int CompiledPolicy::VersionOrdinal(absl::string_view version) const {
  auto it = version_ordinal_.find(version);
  return it == version_ordinal_.end() ? 0 : it->second;
}

absl::StatusOr<PurposeIndex> CompiledPolicy::FindPurpose(
    absl::string_view id) const {
  auto it = purpose_index_.find(id);
  if (it == purpose_index_.end()) {
    return absl::NotFoundError(
        absl::StrCat("unknown purpose '", id, "' in policy '", version_, "'"));
  }
  return it->second;
}

absl::StatusOr<CategoryIndex> CompiledPolicy::FindCategory(
    absl::string_view id) const {
  auto it = category_index_.find(id);
  if (it == category_index_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown data category '", id,
                                            "' in policy '", version_, "'"));
  }
  return it->second;
}

absl::StatusOr<AccessorIndex> CompiledPolicy::FindAccessor(
    absl::string_view id) const {
  auto it = accessor_index_.find(id);
  if (it == accessor_index_.end()) {
    return absl::NotFoundError(
        absl::StrCat("unknown accessor '", id, "' in policy '", version_,
                     "' (accessors must be registered)"));
  }
  return it->second;
}

}  // namespace consentry
