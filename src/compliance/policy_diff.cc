// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/policy_diff.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace consentry {
namespace {

using Kind = v1::PolicyChange::Kind;

// Protection a basis gives the person: higher is stronger.
int Strength(Basis b) {
  switch (b) {
    case Basis::kNecessary:
      return 1;
    case Basis::kOptOut:
      return 2;
    case Basis::kOptIn:
      return 3;
    case Basis::kNotAllowed:
      return 4;
  }
  return 4;
}

absl::string_view BasisJa(Basis b) {
  switch (b) {
    case Basis::kNecessary:
      return "サービス提供に必要";
    case Basis::kOptIn:
      return "同意（オプトイン）";
    case Basis::kOptOut:
      return "オプトアウト";
    case Basis::kNotAllowed:
      return "利用しない";
  }
  return "";
}

std::string DurationText(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return "unlimited";
  const int64_t days = absl::ToInt64Hours(d) / 24;
  if (days > 0 && d == absl::Hours(24 * days)) return absl::StrCat(days, "d");
  return absl::FormatDuration(d);
}

class DiffBuilder {
 public:
  explicit DiffBuilder(v1::PolicyDiff& diff) : diff_(diff) {}

  v1::PolicyChange& Add(Kind kind, bool material, std::string en,
                        std::string ja) {
    v1::PolicyChange* c = diff_.add_changes();
    c->set_kind(kind);
    c->set_material(material);
    c->mutable_summary()->set_en(std::move(en));
    c->mutable_summary()->set_ja(std::move(ja));
    return *c;
  }

 private:
  v1::PolicyDiff& diff_;
};

const v1::Purpose* FindPurposeProto(const v1::Policy& p, absl::string_view id) {
  for (const v1::Purpose& x : p.purposes()) {
    if (x.id() == id) return &x;
  }
  return nullptr;
}

const v1::DataCategory* FindCategoryProto(const v1::Policy& p,
                                          absl::string_view id) {
  for (const v1::DataCategory& x : p.categories()) {
    if (x.id() == id) return &x;
  }
  return nullptr;
}

bool SameText(const v1::LocalizedText& a, const v1::LocalizedText& b) {
  return a.ja() == b.ja() && a.en() == b.en();
}

// Purposes: added, reparented, made per-occasion or published, reworded,
// removed.
void DiffPurposes(const v1::Policy& before, const v1::Policy& after,
                  DiffBuilder& out) {
  for (const v1::Purpose& np : after.purposes()) {
    const v1::Purpose* op = FindPurposeProto(before, np.id());
    if (op == nullptr) {
      out.Add(
             Kind::PolicyChange_Kind_KIND_PURPOSE_ADDED, true,
             absl::StrCat("New purpose '", np.id(), "' (", np.name().en(), ")"),
             absl::StrCat("利用目的「", np.name().ja(), "」（", np.id(),
                          "）を追加"))
          .set_purpose(np.id());
      continue;
    }
    if (op->parent() != np.parent()) {
      auto& c = out.Add(
          Kind::PolicyChange_Kind_KIND_PURPOSE_REPARENTED, true,
          absl::StrCat("Purpose '", np.id(), "' moved from parent '",
                       op->parent(), "' to '", np.parent(), "'"),
          absl::StrCat("利用目的「", np.name().ja(), "」の上位目的を「",
                       op->parent(), "」から「", np.parent(), "」に変更"));
      c.set_purpose(np.id());
      c.set_before(op->parent());
      c.set_after(np.parent());
    }
    if (op->per_occasion() != np.per_occasion()) {
      auto& c = out.Add(
          Kind::PolicyChange_Kind_KIND_PURPOSE_REPARENTED,
          np.per_occasion() == false,
          absl::StrCat("Purpose '", np.id(), "' is ",
                       np.per_occasion() ? "now per-occasion only"
                                         : "now in the published catalogue"),
          absl::StrCat("利用目的「", np.name().ja(), "」を",
                       np.per_occasion() ? "個別同意の目的に変更"
                                         : "公表する利用目的に追加"));
      c.set_purpose(np.id());
    }
    if (!SameText(op->name(), np.name()) ||
        !SameText(op->description(), np.description())) {
      auto& c =
          out.Add(Kind::PolicyChange_Kind_KIND_WORDING, false,
                  absl::StrCat("Wording of purpose '", np.id(), "' changed"),
                  absl::StrCat("利用目的「", np.name().ja(), "」の表現を変更"));
      c.set_purpose(np.id());
      c.set_before(op->name().en());
      c.set_after(np.name().en());
    }
  }
  for (const v1::Purpose& op : before.purposes()) {
    if (FindPurposeProto(after, op.id()) == nullptr) {
      out.Add(Kind::PolicyChange_Kind_KIND_PURPOSE_REMOVED, false,
              absl::StrCat("Purpose '", op.id(), "' removed"),
              absl::StrCat("利用目的「", op.name().ja(), "」を廃止"))
          .set_purpose(op.id());
    }
  }
}

// Categories: added, rules tightened or loosened, reworded, removed.
void DiffCategories(const v1::Policy& before, const v1::Policy& after,
                    DiffBuilder& out) {
  for (const v1::DataCategory& nc : after.categories()) {
    const v1::DataCategory* oc = FindCategoryProto(before, nc.id());
    if (oc == nullptr) {
      out.Add(Kind::PolicyChange_Kind_KIND_CATEGORY_ADDED, false,
              absl::StrCat("New data category '", nc.id(), "'"),
              absl::StrCat("情報の種類「", nc.name().ja(), "」を追加"))
          .set_category(nc.id());
      continue;
    }
    const bool loosened =
        (oc->special() && !nc.special()) ||
        (oc->requires_specific_consent() && !nc.requires_specific_consent());
    if (oc->special() != nc.special() ||
        oc->requires_specific_consent() != nc.requires_specific_consent()) {
      out.Add(Kind::PolicyChange_Kind_KIND_CATEGORY_RULES_CHANGED, loosened,
              absl::StrCat("Rules for category '", nc.id(), "' ",
                           loosened ? "loosened" : "tightened"),
              absl::StrCat("情報の種類「", nc.name().ja(), "」の取扱いを",
                           loosened ? "緩和" : "強化"))
          .set_category(nc.id());
    }
    if (!SameText(oc->name(), nc.name()) ||
        !SameText(oc->description(), nc.description())) {
      out.Add(Kind::PolicyChange_Kind_KIND_WORDING, false,
              absl::StrCat("Wording of category '", nc.id(), "' changed"),
              absl::StrCat("情報の種類「", nc.name().ja(), "」の表現を変更"))
          .set_category(nc.id());
    }
  }
  for (const v1::DataCategory& oc : before.categories()) {
    if (FindCategoryProto(after, oc.id()) == nullptr) {
      out.Add(Kind::PolicyChange_Kind_KIND_CATEGORY_REMOVED, false,
              absl::StrCat("Data category '", oc.id(), "' removed"),
              absl::StrCat("情報の種類「", oc.name().ja(), "」を廃止"))
          .set_category(oc.id());
    }
  }
}

// A change of the basis of category `cat` for purpose `pur`, from `ob` to
// `nb`: material when the use is new or its basis weaker.
void DiffBasis(const std::string& cat, const std::string& pur, Basis ob,
               Basis nb, DiffBuilder& out) {
  if (nb == ob) return;
  Kind kind;
  bool material;
  if (ob == Basis::kNotAllowed) {
    kind = Kind::PolicyChange_Kind_KIND_USE_ALLOWED;
    material = true;
  } else if (nb == Basis::kNotAllowed) {
    kind = Kind::PolicyChange_Kind_KIND_USE_REMOVED;
    material = false;
  } else if (Strength(nb) < Strength(ob)) {
    kind = Kind::PolicyChange_Kind_KIND_BASIS_WEAKENED;
    material = true;
  } else {
    kind = Kind::PolicyChange_Kind_KIND_BASIS_STRENGTHENED;
    material = false;
  }
  auto& ch =
      out.Add(kind, material,
              absl::StrCat("Category '", cat, "' for purpose '", pur,
                           "': ", BasisName(ob), " -> ", BasisName(nb)),
              absl::StrCat("「", pur, "」における「", cat,
                           "」の利用: ", BasisJa(ob), " → ", BasisJa(nb)));
  ch.set_category(cat);
  ch.set_purpose(pur);
  ch.set_before(std::string(BasisName(ob)));
  ch.set_after(std::string(BasisName(nb)));
}

// A change of the retention of category `cat` for purpose `pur`: material
// when longer.
void DiffRetention(const std::string& cat, const std::string& pur,
                   absl::Duration orr, absl::Duration nr, DiffBuilder& out) {
  if (nr == orr) return;
  const bool longer = nr > orr;
  auto& ch =
      out.Add(longer ? Kind::PolicyChange_Kind_KIND_RETENTION_LENGTHENED
                     : Kind::PolicyChange_Kind_KIND_RETENTION_SHORTENED,
              longer,
              absl::StrCat("Retention of '", cat, "' for '", pur,
                           "': ", DurationText(orr), " -> ", DurationText(nr)),
              absl::StrCat("「", pur, "」における「", cat, "」の保存期間: ",
                           DurationText(orr), " → ", DurationText(nr)));
  ch.set_category(cat);
  ch.set_purpose(pur);
  ch.set_before(DurationText(orr));
  ch.set_after(DurationText(nr));
}

// Uses: the effective basis and retention of every (category, purpose)
// present in the new policy.
void DiffUses(const CompiledPolicy& pa, const CompiledPolicy& pb,
              DiffBuilder& out) {
  for (int ci = 0; ci < pb.category_count(); ++ci) {
    const auto c = static_cast<CategoryIndex>(ci);
    const std::string cat(pb.category_id(c));
    absl::StatusOr<CategoryIndex> old_c = pa.FindCategory(cat);
    for (int pi = 0; pi < pb.purpose_count(); ++pi) {
      const auto p = static_cast<PurposeIndex>(pi);
      const std::string pur(pb.purpose_id(p));
      absl::StatusOr<PurposeIndex> old_p = pa.FindPurpose(pur);
      const Basis nb = pb.basis(c, p);
      const Basis ob = (old_c.ok() && old_p.ok()) ? pa.basis(*old_c, *old_p)
                                                  : Basis::kNotAllowed;
      DiffBasis(cat, pur, ob, nb, out);
      if (nb == Basis::kNotAllowed || ob == Basis::kNotAllowed) continue;
      DiffRetention(cat, pur, pa.retention(*old_c, *old_p), pb.retention(c, p),
                    out);
    }
  }
}

// Accessors: shown, never material for consent.
void DiffAccessors(const v1::Policy& before, const v1::Policy& after,
                   DiffBuilder& out) {
  std::map<std::string, std::set<std::string>> oa, na;
  for (const v1::Accessor& x : before.accessors()) {
    oa[x.id()] = {x.may_declare().begin(), x.may_declare().end()};
  }
  for (const v1::Accessor& x : after.accessors()) {
    na[x.id()] = {x.may_declare().begin(), x.may_declare().end()};
  }
  for (const auto& [id, decl] : na) {
    auto it = oa.find(id);
    if (it == oa.end() || it->second != decl) {
      auto& ch =
          out.Add(Kind::PolicyChange_Kind_KIND_ACCESSOR_CHANGED, false,
                  absl::StrCat("Accessor '", id,
                               "' may declare: ", absl::StrJoin(decl, ", ")),
                  absl::StrCat("アクセス主体「", id,
                               "」の利用目的: ", absl::StrJoin(decl, "、")));
      ch.set_accessor(id);
      if (it != oa.end()) ch.set_before(absl::StrJoin(it->second, ","));
      ch.set_after(absl::StrJoin(decl, ","));
    }
  }
  for (const auto& [id, decl] : oa) {
    if (!na.contains(id)) {
      out.Add(Kind::PolicyChange_Kind_KIND_ACCESSOR_CHANGED, false,
              absl::StrCat("Accessor '", id, "' removed"),
              absl::StrCat("アクセス主体「", id, "」を削除"))
          .set_accessor(id);
    }
  }
}

}  // namespace

absl::StatusOr<v1::PolicyDiff> DiffPolicies(const v1::Policy& before,
                                            const v1::Policy& after) {
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> a =
      CompiledPolicy::Compile(before);
  if (!a.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the earlier policy does not validate: ", a.status().message()));
  }
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> b =
      CompiledPolicy::Compile(after);
  if (!b.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the later policy does not validate: ", b.status().message()));
  }
  const CompiledPolicy& pa = **a;
  const CompiledPolicy& pb = **b;
  v1::PolicyDiff diff;
  diff.set_from_version(before.version());
  diff.set_to_version(after.version());
  DiffBuilder out(diff);

  DiffPurposes(before, after, out);
  DiffCategories(before, after, out);
  DiffUses(pa, pb, out);
  DiffAccessors(before, after, out);
  if (!SameText(before.title(), after.title())) {
    out.Add(Kind::PolicyChange_Kind_KIND_WORDING, false, "Title changed",
            "表題を変更");
  }
  return diff;
}

void AddReconsentRequirements(const v1::PolicyDiff& diff, v1::Policy& after) {
  // purpose -> categories touched (empty set: every category).
  std::map<std::string, std::set<std::string>> touched;
  std::set<std::string> all_categories;
  for (const v1::PolicyChange& c : diff.changes()) {
    if (!c.material()) continue;
    switch (c.kind()) {
      case v1::PolicyChange::KIND_PURPOSE_ADDED:
      case v1::PolicyChange::KIND_PURPOSE_REPARENTED:
        all_categories.insert(c.purpose());
        touched[c.purpose()];
        break;
      case v1::PolicyChange::KIND_USE_ALLOWED:
      case v1::PolicyChange::KIND_BASIS_WEAKENED:
      case v1::PolicyChange::KIND_RETENTION_LENGTHENED:
        touched[c.purpose()].insert(c.category());
        break;
      case v1::PolicyChange::KIND_CATEGORY_RULES_CHANGED:
        // Every purpose using the category is touched.
        for (const v1::UseRule& r : after.rules()) {
          if (r.category() != c.category()) continue;
          for (const std::string& p : r.purposes())
            touched[p].insert(c.category());
        }
        break;
      default:
        break;
    }
  }
  std::set<std::tuple<std::string, std::string, std::string>> existing;
  for (const v1::ReconsentRequirement& r : after.reconsent()) {
    for (const std::string& c : r.categories()) {
      existing.emplace(r.purpose(), c, r.since_version());
    }
    if (r.categories_size() == 0)
      existing.emplace(r.purpose(), "", r.since_version());
  }
  for (const auto& [purpose, cats] : touched) {
    v1::ReconsentRequirement r;
    r.set_purpose(purpose);
    r.set_since_version(diff.to_version());
    const bool every = all_categories.contains(purpose);
    if (!every) {
      for (const std::string& c : cats) {
        if (!existing.contains({purpose, c, diff.to_version()}))
          r.add_categories(c);
      }
      if (r.categories_size() == 0) continue;
    } else if (existing.contains({purpose, "", diff.to_version()})) {
      continue;
    }
    *after.add_reconsent() = std::move(r);
  }
  const auto& h = after.version_history();
  if (!diff.from_version().empty() && diff.from_version() != after.version() &&
      std::find(h.begin(), h.end(), diff.from_version()) == h.end()) {
    after.add_version_history(diff.from_version());
  }
}

absl::StatusOr<std::vector<ReconsentEntry>> ReconsentList(
    const CompiledPolicy& policy, ConsentStore& store) {
  std::vector<ReconsentEntry> out;
  struct Req {
    PurposeIndex purpose;
    int ordinal;
  };
  std::vector<Req> reqs;
  for (const v1::ReconsentRequirement& r : policy.proto().reconsent()) {
    ReconsentEntry e;
    e.purpose = r.purpose();
    e.categories = {r.categories().begin(), r.categories().end()};
    e.since_version = r.since_version();
    out.push_back(std::move(e));
    absl::StatusOr<PurposeIndex> p = policy.FindPurpose(r.purpose());
    reqs.push_back(Req{p.ok() ? *p : PurposeIndex{0},
                       policy.VersionOrdinal(r.since_version())});
  }
  if (out.empty()) return out;
  Revision after = 0;
  for (;;) {
    absl::StatusOr<std::vector<v1::ConsentRecord>> batch =
        store.ChangesSince(after, 10000);
    if (!batch.ok()) return batch.status();
    if (batch->empty()) break;
    for (const v1::ConsentRecord& rec : *batch) {
      after = std::max(after, rec.revision());
      if (rec.restrictions().erased()) continue;
      for (std::size_t i = 0; i < reqs.size(); ++i) {
        // The newest given consent covering the purpose (itself or an
        // ancestor), and whether the purpose is refused or withdrawn.
        int best = -1;
        bool refused = false;
        for (const v1::PurposeConsent& pc : rec.purposes()) {
          if (!pc.occasion_id().empty()) continue;
          absl::StatusOr<PurposeIndex> q = policy.FindPurpose(pc.purpose());
          if (!q.ok() || !policy.ancestors(reqs[i].purpose).Contains(*q))
            continue;
          if (pc.state() == v1::CONSENT_STATE_GIVEN) {
            best = std::max(best, policy.VersionOrdinal(pc.policy_version()));
          } else if (pc.state() == v1::CONSENT_STATE_REFUSED ||
                     pc.state() == v1::CONSENT_STATE_WITHDRAWN) {
            refused = true;
          }
        }
        if (!refused && best >= 0 && best < reqs[i].ordinal) {
          out[i].subjects.push_back(rec.subject_id());
        }
      }
    }
  }
  for (ReconsentEntry& e : out) std::sort(e.subjects.begin(), e.subjects.end());
  return out;
}

}  // namespace consentry
