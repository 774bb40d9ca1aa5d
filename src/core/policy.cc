// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/policy.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "consentry/v1/policy.pb.h"

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

// Compiles one policy into `out`, section by section, collecting every
// error in `errors`.
struct CompiledPolicy::Compiler {
  Compiler(const v1::Policy& p, CompiledPolicy* o) : policy(p), out(o) {}

  void Purposes();
  void Hierarchy();
  void Closure();
  void Categories();
  void Rules();
  void Accessors();
  void FlatTable();
  void Versions();
  void Reconsent();
  void Retention();

  const v1::Policy& policy;
  CompiledPolicy* out;
  Errors errors;
  // The number of purposes, once `Hierarchy` ran.
  int np = 0;
  struct Explicit {
    Basis basis;
    int rule;
  };
  // The explicit (category, purpose) -> basis entries, from `Rules`.
  absl::flat_hash_map<std::pair<int, int>, Explicit> explicit_rules;
};

void CompiledPolicy::Compiler::Purposes() {
  // Purposes: ids, duplicates.
  for (int i = 0; i < policy.purposes_size(); ++i) {
    const v1::Purpose& p = policy.purposes(i);
    const std::string path = absl::StrCat("policy.purposes[", i, "].id");
    if (!ValidId(p.id(), /*allow_dots=*/true)) {
      errors.Add(absl::StrCat(path, ": '", p.id(),
                              "' is not a valid purpose id (lowercase "
                              "segments of [a-z0-9_-] joined by '.')"));
      continue;
    }
    auto [it, inserted] = out->purpose_index_.emplace(
        p.id(), static_cast<PurposeIndex>(out->purpose_ids_.size()));
    if (!inserted) {
      errors.Add(absl::StrCat(path, ": duplicate purpose id '", p.id(),
                              "' (first at policy.purposes[", it->second,
                              "])"));
      continue;
    }
    out->purpose_ids_.push_back(p.id());
  }
  if (policy.purposes_size() == 0) {
    errors.Add("policy.purposes: at least one purpose is required");
  }
}

void CompiledPolicy::Compiler::Hierarchy() {
  // Parents, and cycles in the hierarchy.
  out->parent_.fill(-1);
  for (int i = 0; i < policy.purposes_size(); ++i) {
    const v1::Purpose& p = policy.purposes(i);
    auto self = out->purpose_index_.find(p.id());
    if (self == out->purpose_index_.end() ||
        out->purpose_ids_[self->second] != p.id()) {
      continue;
    }
    if (p.parent().empty()) continue;
    auto parent = out->purpose_index_.find(p.parent());
    if (parent == out->purpose_index_.end()) {
      errors.Add(absl::StrCat("policy.purposes[", i,
                              "].parent: unknown purpose '", p.parent(), "'"));
      continue;
    }
    out->parent_[self->second] = parent->second;
  }
  np = out->purpose_count();
  std::vector<bool> in_cycle(static_cast<std::size_t>(np), false);
  for (int start = 0; start < np; ++start) {
    // Walk up at most np steps; a longer walk means a cycle.
    std::vector<int> chain;
    int cur = start;
    bool cycle = false;
    while (cur >= 0) {
      chain.push_back(cur);
      if (chain.size() > static_cast<std::size_t>(np)) {
        cycle = true;
        break;
      }
      cur = out->parent_[static_cast<std::size_t>(cur)];
    }
    if (!cycle) continue;
    if (in_cycle[static_cast<std::size_t>(start)]) continue;
    // Report the cycle once, starting at the first purpose on it.
    std::vector<std::string> names;
    int c = start;
    for (int k = 0; k <= np; ++k) {
      names.push_back(out->purpose_ids_[static_cast<std::size_t>(c)]);
      in_cycle[static_cast<std::size_t>(c)] = true;
      c = out->parent_[static_cast<std::size_t>(c)];
      if (c == start) {
        names.push_back(out->purpose_ids_[static_cast<std::size_t>(c)]);
        break;
      }
    }
    if (names.front() == names.back()) {
      errors.Add(
          absl::StrCat("policy.purposes: cycle in the purpose hierarchy: ",
                       absl::StrJoin(names, " -> ")));
    }
  }
}

void CompiledPolicy::Compiler::Closure() {
  // Ancestors and descendants, closed and including self.
  for (int p = 0; p < np; ++p) {
    const auto pi = static_cast<PurposeIndex>(p);
    for (int cur = p; cur >= 0;
         cur = out->parent_[static_cast<std::size_t>(cur)]) {
      const auto ci = static_cast<PurposeIndex>(cur);
      out->ancestors_[pi].Add(ci);
      out->descendants_[ci].Add(pi);
    }
  }
  for (int i = 0; i < policy.purposes_size(); ++i) {
    if (policy.purposes(i).per_occasion()) {
      out->per_occasion_.Add(out->purpose_index_.at(policy.purposes(i).id()));
    }
  }
}

void CompiledPolicy::Compiler::Categories() {
  // Categories.
  for (int i = 0; i < policy.categories_size(); ++i) {
    const v1::DataCategory& c = policy.categories(i);
    const std::string path = absl::StrCat("policy.categories[", i, "].id");
    if (!ValidId(c.id(), /*allow_dots=*/false)) {
      errors.Add(
          absl::StrCat(path, ": '", c.id(),
                       "' is not a valid category id ([a-z][a-z0-9_-]*)"));
      continue;
    }
    auto [it, inserted] = out->category_index_.emplace(
        c.id(), static_cast<CategoryIndex>(out->category_ids_.size()));
    if (!inserted) {
      errors.Add(absl::StrCat(path, ": duplicate category id '", c.id(),
                              "' (first at policy.categories[", it->second,
                              "])"));
      continue;
    }
    out->special_[it->second] = c.special();
    out->specific_consent_[it->second] = c.requires_specific_consent();
    out->category_ids_.push_back(c.id());
  }
  if (policy.categories_size() == 0) {
    errors.Add("policy.categories: at least one category is required");
  }
}

void CompiledPolicy::Compiler::Rules() {
  // Rules: the explicit (category, purpose) -> basis entries.
  for (int i = 0; i < policy.rules_size(); ++i) {
    const v1::UseRule& r = policy.rules(i);
    const std::string path = absl::StrCat("policy.rules[", i, "]");
    auto cat = out->category_index_.find(r.category());
    if (cat == out->category_index_.end()) {
      errors.Add(absl::StrCat(path, ".category: unknown category '",
                              r.category(), "'"));
      continue;
    }
    Basis basis = Basis::kNotAllowed;
    switch (r.basis()) {
      case v1::LEGAL_BASIS_NECESSARY:
        basis = Basis::kNecessary;
        break;
      case v1::LEGAL_BASIS_OPT_IN:
        basis = Basis::kOptIn;
        break;
      case v1::LEGAL_BASIS_OPT_OUT:
        basis = Basis::kOptOut;
        break;
      default:
        errors.Add(absl::StrCat(path, ".basis: must be set (got ",
                                LegalBasisName(r.basis()).empty()
                                    ? std::to_string(r.basis())
                                    : std::string(LegalBasisName(r.basis())),
                                ")"));
        continue;
    }
    if (basis == Basis::kOptOut && out->special_[cat->second]) {
      errors.Add(absl::StrCat(path,
                              ".basis: LEGAL_BASIS_OPT_OUT is not allowed for "
                              "special category '",
                              r.category(), "'"));
      continue;
    }
    if (r.purposes_size() == 0) {
      errors.Add(
          absl::StrCat(path, ".purposes: at least one purpose is required"));
      continue;
    }
    if (out->specific_consent_[cat->second]) {
      // Secrecy of communications: no opt-out, no blanket rule (policy.h).
      if (basis == Basis::kOptOut) {
        errors.Add(
            absl::StrCat(path,
                         ".basis: LEGAL_BASIS_OPT_OUT is not allowed for "
                         "category '",
                         r.category(), "', which requires specific consent"));
        continue;
      }
      if (r.purposes_size() > kMaxPurposesPerSpecificRule) {
        errors.Add(absl::StrCat(
            path, ".purposes: blanket rule for category '", r.category(),
            "', which requires specific consent: ", r.purposes_size(),
            " purposes, at most ", kMaxPurposesPerSpecificRule, " per rule"));
        continue;
      }
      bool blanket = false;
      for (int j = 0; j < r.purposes_size(); ++j) {
        auto pur = out->purpose_index_.find(r.purposes(j));
        if (pur != out->purpose_index_.end() &&
            out->descendants_[pur->second].size() > 1) {
          errors.Add(absl::StrCat(
              path, ".purposes[", j, "]: blanket rule for category '",
              r.category(), "', which requires specific consent: purpose '",
              r.purposes(j),
              "' has child purposes; name each child purpose instead"));
          blanket = true;
        }
      }
      if (blanket) continue;
    }
    for (int j = 0; j < r.purposes_size(); ++j) {
      const std::string ppath = absl::StrCat(path, ".purposes[", j, "]");
      auto pur = out->purpose_index_.find(r.purposes(j));
      if (pur == out->purpose_index_.end()) {
        errors.Add(
            absl::StrCat(ppath, ": unknown purpose '", r.purposes(j), "'"));
        continue;
      }
      if (out->per_occasion_.Contains(pur->second) && basis != Basis::kOptIn) {
        errors.Add(absl::StrCat(ppath, ": per-occasion purpose '",
                                r.purposes(j),
                                "' must have basis LEGAL_BASIS_OPT_IN"));
        continue;
      }
      auto [it, inserted] = explicit_rules.emplace(
          std::make_pair(int{cat->second}, int{pur->second}),
          Explicit{basis, i});
      if (!inserted) {
        errors.Add(absl::StrCat(ppath, ": duplicate rule for category '",
                                r.category(), "' and purpose '", r.purposes(j),
                                "' (first in policy.rules[", it->second.rule,
                                "])"));
      }
    }
  }
}

void CompiledPolicy::Compiler::Accessors() {
  // Accessors.
  for (int i = 0; i < policy.accessors_size(); ++i) {
    const v1::Accessor& a = policy.accessors(i);
    const std::string path = absl::StrCat("policy.accessors[", i, "]");
    if (!ValidId(a.id(), /*allow_dots=*/true)) {
      errors.Add(
          absl::StrCat(path, ".id: '", a.id(), "' is not a valid accessor id"));
      continue;
    }
    auto [it, inserted] = out->accessor_index_.emplace(
        a.id(), static_cast<AccessorIndex>(out->accessor_ids_.size()));
    if (!inserted) {
      errors.Add(absl::StrCat(path, ".id: duplicate accessor id '", a.id(),
                              "' (first at policy.accessors[", it->second,
                              "])"));
      continue;
    }
    PurposeSet declarable;
    for (int j = 0; j < a.may_declare_size(); ++j) {
      auto pur = out->purpose_index_.find(a.may_declare(j));
      if (pur == out->purpose_index_.end()) {
        errors.Add(absl::StrCat(path, ".may_declare[", j,
                                "]: unknown purpose '", a.may_declare(j), "'"));
        continue;
      }
      declarable.Add(out->descendants_[pur->second]);
    }
    out->accessor_ids_.push_back(a.id());
    out->declarable_.push_back(declarable);
  }
}

void CompiledPolicy::Compiler::FlatTable() {
  // The flat table: a purpose inherits the rule of its nearest ancestor
  // (itself included) that has one for the category.
  for (int c = 0; c < out->category_count(); ++c) {
    for (int p = 0; p < np; ++p) {
      Basis b = Basis::kNotAllowed;
      for (int cur = p; cur >= 0;
           cur = out->parent_[static_cast<std::size_t>(cur)]) {
        auto it = explicit_rules.find(std::make_pair(c, cur));
        if (it != explicit_rules.end()) {
          b = it->second.basis;
          break;
        }
      }
      // A per-occasion purpose is never usable on an inherited basis other
      // than opt-in.
      if (out->per_occasion_.Contains(static_cast<PurposeIndex>(p)) &&
          b != Basis::kNotAllowed) {
        b = Basis::kOptIn;
      }
      // A special category never inherits opt-out (validated above for
      // explicit rules; inheritance cannot introduce it).
      out->basis_[static_cast<std::size_t>(c) * kMaxPurposes +
                  static_cast<std::size_t>(p)] = b;
      if (b != Basis::kNotAllowed) {
        out->allowed_[static_cast<std::size_t>(c)].Add(
            static_cast<PurposeIndex>(p));
      }
    }
  }
}

void CompiledPolicy::Compiler::Versions() {
  // Version history: ordinals for the versions consent records name.
  for (int i = 0; i < policy.version_history_size(); ++i) {
    const std::string& v = policy.version_history(i);
    if (v.empty() || v == policy.version()) {
      errors.Add(absl::StrCat("policy.version_history[", i, "]: '", v,
                              "' must be a non-empty earlier version"));
      continue;
    }
    if (!out->version_ordinal_.emplace(v, i + 1).second) {
      errors.Add(absl::StrCat("policy.version_history[", i,
                              "]: duplicate version '", v, "'"));
    }
  }
  if (policy.version_history_size() > 250) {
    errors.Add("policy.version_history: at most 250 earlier versions");
  }
  out->version_ordinal_[policy.version()] = policy.version_history_size() + 1;
}

void CompiledPolicy::Compiler::Reconsent() {
  // Re-consent requirements after material changes.
  out->min_ordinal_.assign(
      static_cast<std::size_t>(kMaxCategories) * kMaxPurposes, 0);
  for (int i = 0; i < policy.reconsent_size(); ++i) {
    const v1::ReconsentRequirement& r = policy.reconsent(i);
    const std::string path = absl::StrCat("policy.reconsent[", i, "]");
    auto pur = out->purpose_index_.find(r.purpose());
    if (pur == out->purpose_index_.end()) {
      errors.Add(
          absl::StrCat(path, ".purpose: unknown purpose '", r.purpose(), "'"));
      continue;
    }
    auto ord = out->version_ordinal_.find(r.since_version());
    if (ord == out->version_ordinal_.end()) {
      errors.Add(
          absl::StrCat(path, ".since_version: '", r.since_version(),
                       "' is neither this version nor in version_history"));
      continue;
    }
    std::vector<int> cats;
    for (int j = 0; j < r.categories_size(); ++j) {
      auto c = out->category_index_.find(r.categories(j));
      if (c == out->category_index_.end()) {
        errors.Add(absl::StrCat(path, ".categories[", j,
                                "]: unknown category '", r.categories(j), "'"));
        continue;
      }
      cats.push_back(c->second);
    }
    if (r.categories_size() == 0) {
      for (int c = 0; c < out->category_count(); ++c) cats.push_back(c);
    }
    // A requirement on a purpose applies to its descendants too.
    out->descendants_[pur->second].ForEach([&](PurposeIndex d) {
      for (int c : cats) {
        std::uint8_t& slot =
            out->min_ordinal_[static_cast<std::size_t>(c) * kMaxPurposes + d];
        slot = std::max(slot, static_cast<std::uint8_t>(ord->second));
      }
    });
    out->has_reconsent_ = true;
  }
}

void CompiledPolicy::Compiler::Retention() {
  // Retention: a category default, overridden per purpose (inherited by
  // descendants from the nearest ancestor with an override).
  out->retention_.assign(
      static_cast<std::size_t>(kMaxCategories) * kMaxPurposes,
      absl::InfiniteDuration());
  {
    std::vector<absl::Duration> defaults(kMaxCategories,
                                         absl::InfiniteDuration());
    absl::flat_hash_map<std::pair<int, int>, absl::Duration> overrides;
    for (int i = 0; i < policy.retention_size(); ++i) {
      const v1::RetentionRule& r = policy.retention(i);
      const std::string path = absl::StrCat("policy.retention[", i, "]");
      auto c = out->category_index_.find(r.category());
      if (c == out->category_index_.end()) {
        errors.Add(absl::StrCat(path, ".category: unknown category '",
                                r.category(), "'"));
        continue;
      }
      const absl::Duration period = absl::Seconds(r.period().seconds()) +
                                    absl::Nanoseconds(r.period().nanos());
      if (period <= absl::ZeroDuration()) {
        errors.Add(absl::StrCat(path, ".period: must be positive"));
        continue;
      }
      out->has_retention_[c->second] = true;
      if (r.purposes_size() == 0) {
        if (defaults[c->second] != absl::InfiniteDuration()) {
          errors.Add(absl::StrCat(path, ": duplicate default retention for '",
                                  r.category(), "'"));
        }
        defaults[c->second] = period;
        continue;
      }
      for (int j = 0; j < r.purposes_size(); ++j) {
        auto pur = out->purpose_index_.find(r.purposes(j));
        if (pur == out->purpose_index_.end()) {
          errors.Add(absl::StrCat(path, ".purposes[", j, "]: unknown purpose '",
                                  r.purposes(j), "'"));
          continue;
        }
        if (!overrides
                 .emplace(std::make_pair(int{c->second}, int{pur->second}),
                          period)
                 .second) {
          errors.Add(absl::StrCat(
              path, ".purposes[", j, "]: duplicate retention for category '",
              r.category(), "' and purpose '", r.purposes(j), "'"));
        }
      }
    }
    for (int c = 0; c < out->category_count(); ++c) {
      for (int p = 0; p < np; ++p) {
        absl::Duration d = defaults[static_cast<std::size_t>(c)];
        for (int cur = p; cur >= 0;
             cur = out->parent_[static_cast<std::size_t>(cur)]) {
          auto it = overrides.find(std::make_pair(c, cur));
          if (it != overrides.end()) {
            d = it->second;
            break;
          }
        }
        out->retention_[static_cast<std::size_t>(c) * kMaxPurposes +
                        static_cast<std::size_t>(p)] = d;
      }
    }
  }
}

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> CompiledPolicy::Compile(
    const v1::Policy& policy) {
  std::shared_ptr<CompiledPolicy> out(new CompiledPolicy());
  Compiler k(policy, out.get());
  Errors& errors = k.errors;

  if (policy.version().empty()) {
    errors.Add("policy.version: must not be empty");
  }
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
  k.Purposes();
  k.Hierarchy();
  if (!errors.empty()) return errors.ToStatus(policy.version());
  k.Closure();
  k.Categories();
  k.Rules();
  k.Accessors();
  if (!errors.empty()) return errors.ToStatus(policy.version());
  k.FlatTable();
  k.Versions();
  k.Reconsent();
  k.Retention();
  if (policy.statistics().min_cohort_size() < 0) {
    errors.Add(absl::StrCat("policy.statistics.min_cohort_size: ",
                            policy.statistics().min_cohort_size(),
                            " must not be negative"));
  } else if (policy.statistics().min_cohort_size() > 0) {
    out->min_cohort_size_ = policy.statistics().min_cohort_size();
  }
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
