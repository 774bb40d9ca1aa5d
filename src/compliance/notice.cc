// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/notice.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace consentry {
namespace {

bool Ja(Language l) { return l == Language::kJa; }

const std::string& Text(const v1::LocalizedText& t, Language l) {
  if (Ja(l)) return t.ja().empty() ? t.en() : t.ja();
  return t.en().empty() ? t.ja() : t.en();
}

absl::string_view BasisText(Basis b, Language l) {
  switch (b) {
    case Basis::kNecessary:
      return Ja(l) ? "サービスの提供に必要なため"
                   : "necessary to provide the service";
    case Basis::kOptIn:
      return Ja(l) ? "ご本人の同意がある場合に限り" : "only with your consent";
    case Basis::kOptOut:
      return Ja(l) ? "ご本人が停止を求めるまで" : "until you ask us to stop";
    case Basis::kNotAllowed:
      return "";
  }
  return "";
}

std::string Period(absl::Duration d, Language l) {
  const int64_t days = absl::ToInt64Hours(d) / 24;
  if (days % 365 == 0 && days > 0) {
    return Ja(l) ? absl::StrCat(days / 365, "年")
                 : absl::StrCat(days / 365, " year(s)");
  }
  return Ja(l) ? absl::StrCat(days, "日") : absl::StrCat(days, " day(s)");
}

std::string When(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0) return "";
  return absl::FormatTime("%Y-%m-%d %H:%M UTC",
                          absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

}  // namespace

std::string PurposeNotice(const CompiledPolicy& policy, Language l) {
  return PurposeNotice(policy, l, v1::SUBJECT_KIND_CUSTOMER);
}

std::string PurposeNotice(const CompiledPolicy& policy, Language l,
                          v1::SubjectKind kind) {
  const v1::Policy& p = policy.proto();
  std::string out;
  absl::StrAppend(&out, "# ",
                  Text(p.title(), l).empty()
                      ? (Ja(l) ? "個人情報の利用目的" : "Purposes of use")
                      : Text(p.title(), l),
                  "\n\n");
  absl::StrAppend(&out, Ja(l) ? "版: " : "Version: ", p.version());
  if (!p.notice_version().empty()) {
    absl::StrAppend(&out, Ja(l) ? "（通知版 " : " (notice ", p.notice_version(),
                    Ja(l) ? "）" : ")");
  }
  const std::string eff = When(p.effective_time());
  if (!eff.empty()) {
    absl::StrAppend(&out, Ja(l) ? "、施行日時: " : ", effective ", eff);
  }
  absl::StrAppend(&out, "\n\n## ", Ja(l) ? "利用目的" : "Purposes of use",
                  "\n\n");
  int n = 0;
  for (int i = 0; i < p.purposes_size(); ++i) {
    const v1::Purpose& pur = p.purposes(i);
    if (pur.per_occasion()) continue;
    absl::StatusOr<PurposeIndex> idx = policy.FindPurpose(pur.id());
    if (!idx.ok()) continue;
    // A purpose for other kinds of subject is not theirs to be told of.
    if (!(policy.purpose_subject_kinds(*idx) & SubjectKindBit(kind))) continue;
    // List the leaves and childless roots; parents group their children.
    bool has_child = false;
    for (const v1::Purpose& other : p.purposes()) {
      if (other.parent() == pur.id()) has_child = true;
    }
    if (has_child) continue;
    std::vector<std::string> uses;
    for (int c = 0; c < policy.category_count(); ++c) {
      const Basis b = policy.basis(static_cast<CategoryIndex>(c), *idx);
      if (b == Basis::kNotAllowed) continue;
      if (!policy.ServesSubjectKind(static_cast<CategoryIndex>(c), *idx,
                                    kind)) {
        continue;
      }
      const v1::DataCategory& cat = p.categories(c);
      std::string use = absl::StrCat(Text(cat.name(), l), Ja(l) ? "（" : " (",
                                     BasisText(b, l), Ja(l) ? "）" : ")");
      const absl::Duration r =
          policy.retention(static_cast<CategoryIndex>(c), *idx);
      if (r != absl::InfiniteDuration()) {
        absl::StrAppend(&use, Ja(l) ? "、保存期間 " : ", kept ", Period(r, l));
      }
      uses.push_back(std::move(use));
    }
    if (uses.empty()) continue;
    ++n;
    absl::StrAppend(&out, n, ". **", Text(pur.name(), l), "**");
    if (!Text(pur.description(), l).empty()) {
      absl::StrAppend(&out, Ja(l) ? " — " : " — ", Text(pur.description(), l));
    }
    absl::StrAppend(&out, "  \n   ", Ja(l) ? "利用する情報: " : "Data used: ",
                    absl::StrJoin(uses, Ja(l) ? "、" : "; "), "\n");
  }
  absl::StrAppend(
      &out, "\n",
      Ja(l)
          ? "上記以外の目的で利用する場合は、その都度利用目的を明示し、"
            "事前にご本人の同意を得ます。\n"
          : "For any other purpose we state the purpose each time and ask for "
            "your prior consent.\n");
  if (!p.contact_window().name().empty() ||
      p.contact_window().hours_size() > 0) {
    absl::StrAppend(&out, "\n## ",
                    Ja(l) ? "お問い合わせ窓口" : "Contact window", "\n\n",
                    p.contact_window().name(), "\n");
    for (const std::string& h : p.contact_window().hours()) {
      absl::StrAppend(&out, "- ", h, "\n");
    }
  }
  return out;
}

std::string ChangeAnnouncement(const v1::PolicyDiff& diff,
                               const CompiledPolicy& after, Language l) {
  std::string out;
  absl::StrAppend(&out, "# ",
                  Ja(l) ? "個人情報保護方針の改定のお知らせ"
                        : "Announcement: our privacy policy changes",
                  "\n\n");
  absl::StrAppend(&out, Ja(l) ? "改定前: " : "From version ",
                  diff.from_version(), Ja(l) ? " → 改定後: " : " to ",
                  diff.to_version());
  const std::string eff = When(after.proto().effective_time());
  if (!eff.empty()) {
    absl::StrAppend(&out, Ja(l) ? "（施行日時 " : " (effective ", eff,
                    Ja(l) ? "）" : ")");
  }
  absl::StrAppend(&out, "\n\n");
  int material = 0;
  for (const v1::PolicyChange& c : diff.changes()) material += c.material();
  absl::StrAppend(&out, "## ", Ja(l) ? "重要な変更" : "Material changes",
                  "\n\n");
  if (material == 0) {
    absl::StrAppend(&out, Ja(l) ? "ありません。\n" : "None.\n");
  }
  for (const v1::PolicyChange& c : diff.changes()) {
    if (c.material()) absl::StrAppend(&out, "- ", Text(c.summary(), l), "\n");
  }
  if (material > 0) {
    absl::StrAppend(
        &out, "\n",
        Ja(l)
            ? "これらの変更に関わる利用については、改めて同意をお願いする"
              "ことがあります。同意いただくまで、変更後の利用は行いません。\n"
            : "For uses these changes touch we may ask for your consent again; "
              "until you give it, we do not use your data in the changed "
              "way.\n");
  }
  absl::StrAppend(&out, "\n## ", Ja(l) ? "その他の変更" : "Other changes",
                  "\n\n");
  int other = 0;
  for (const v1::PolicyChange& c : diff.changes()) {
    if (c.material()) continue;
    ++other;
    absl::StrAppend(&out, "- ", Text(c.summary(), l), "\n");
  }
  if (other == 0) absl::StrAppend(&out, Ja(l) ? "ありません。\n" : "None.\n");
  return out;
}

}  // namespace consentry
