// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The purpose notice and the disclosure package as data and as readable
// Markdown in Japanese and English.

#include "src/compliance/request_answers.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "consentry/decision.h"
#include "consentry/receipt.h"
#include "consentry/requests.h"
#include "consentry/v1/policy.pb.h"

namespace consentry {
namespace internal {

google::protobuf::Timestamp ToProtoTime(absl::Time t) {
  google::protobuf::Timestamp ts;
  const std::int64_t secs = absl::ToUnixSeconds(t);
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<std::int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(secs))));
  return ts;
}

absl::Time FromProtoTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

namespace {

v1::LegalBasis ToLegalBasis(Basis b) {
  switch (b) {
    case Basis::kNecessary:
      return v1::LEGAL_BASIS_NECESSARY;
    case Basis::kOptIn:
      return v1::LEGAL_BASIS_OPT_IN;
    case Basis::kOptOut:
      return v1::LEGAL_BASIS_OPT_OUT;
    case Basis::kNotAllowed:
      break;
  }
  return v1::LEGAL_BASIS_UNSPECIFIED;
}

// The record's entry for `purpose_id`, preferring the one without an
// occasion; nullptr when none.
const v1::PurposeConsent* EntryFor(const v1::ConsentRecord& record,
                                   absl::string_view purpose_id) {
  const v1::PurposeConsent* found = nullptr;
  for (const v1::PurposeConsent& pc : record.purposes()) {
    if (pc.purpose() != purpose_id) continue;
    if (pc.occasion_id().empty()) return &pc;
    if (found == nullptr) found = &pc;
  }
  return found;
}

}  // namespace

v1::PurposeNotice BuildPurposeNotice(const CompiledPolicy& policy,
                                     const v1::ConsentRecord& record,
                                     absl::Time now) {
  const v1::Policy& doc = policy.proto();
  absl::flat_hash_map<std::string, const v1::Purpose*> purposes;
  for (const v1::Purpose& p : doc.purposes()) purposes[p.id()] = &p;
  absl::flat_hash_map<std::string, const v1::DataCategory*> categories;
  for (const v1::DataCategory& c : doc.categories()) categories[c.id()] = &c;

  PurposeSet has_children;
  for (int i = 0; i < policy.purpose_count(); ++i) {
    const int parent = policy.parent(static_cast<PurposeIndex>(i));
    if (parent >= 0) has_children.Add(static_cast<PurposeIndex>(parent));
  }
  PurposeSet suspended;
  for (const std::string& id : record.restrictions().suspended_purposes()) {
    absl::StatusOr<PurposeIndex> p = policy.FindPurpose(id);
    if (p.ok()) suspended.Add(policy.descendants(*p));
  }

  v1::PurposeNotice notice;
  notice.set_subject_id(record.subject_id());
  *notice.mutable_time() = ToProtoTime(now);
  notice.set_policy_version(policy.version());
  *notice.mutable_policy_title() = doc.title();
  *notice.mutable_restrictions() = record.restrictions();

  for (int i = 0; i < policy.purpose_count(); ++i) {
    const auto p = static_cast<PurposeIndex>(i);
    if (has_children.Contains(p)) continue;
    const std::string id(policy.purpose_id(p));
    // Consent state: the purpose's own entry, else the nearest ancestor's.
    const v1::PurposeConsent* entry = nullptr;
    std::string from;
    for (int q = p; q >= 0 && entry == nullptr;
         q = policy.parent(static_cast<PurposeIndex>(q))) {
      const absl::string_view qid =
          policy.purpose_id(static_cast<PurposeIndex>(q));
      entry = EntryFor(record, qid);
      if (entry != nullptr) from = std::string(qid);
    }
    if (policy.per_occasion().Contains(p) && entry == nullptr) continue;

    v1::PurposeUse use;
    use.set_purpose(id);
    if (auto it = purposes.find(id); it != purposes.end()) {
      *use.mutable_name() = it->second->name();
      *use.mutable_description() = it->second->description();
    }
    for (int c = 0; c < policy.category_count(); ++c) {
      const auto ci = static_cast<CategoryIndex>(c);
      const Basis basis = policy.basis(ci, p);
      if (basis == Basis::kNotAllowed) continue;
      // Only what serves the subject's kind (policy §7.3).
      if (!policy.ServesSubjectKind(ci, p, record.subject_kind())) continue;
      v1::CategoryUse* cu = use.add_categories();
      cu->set_category(std::string(policy.category_id(ci)));
      if (auto it = categories.find(cu->category()); it != categories.end()) {
        *cu->mutable_name() = it->second->name();
      }
      cu->set_basis(ToLegalBasis(basis));
    }
    if (use.categories().empty()) continue;
    if (entry != nullptr) {
      use.set_consent_state(entry->state());
      use.set_consent_from(from);
    }
    use.set_suspended(record.restrictions().suspend_all() ||
                      suspended.Contains(p));
    *notice.add_purposes() = std::move(use);
  }
  return notice;
}

}  // namespace internal

namespace {

using internal::FromProtoTime;

struct Lang {
  bool ja;
  const std::string& Pick(const v1::LocalizedText& t,
                          const std::string& fallback) const {
    const std::string& s = ja ? t.ja() : t.en();
    if (!s.empty()) return s;
    const std::string& other = ja ? t.en() : t.ja();
    return other.empty() ? fallback : other;
  }
  const char* T(const char* ja_text, const char* en_text) const {
    return ja ? ja_text : en_text;
  }
};

// Times are shown in Japan Standard Time, the time of the source policy.
std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  static const absl::TimeZone kJst = absl::FixedTimeZone(9 * 60 * 60);
  return absl::FormatTime("%Y-%m-%d %H:%M:%S %Ez", FromProtoTime(t), kJst);
}

// Escapes the characters that would break a Markdown table cell.
std::string Cell(absl::string_view s) {
  if (s.empty()) return "-";
  return absl::StrReplaceAll(s, {{"|", "\\|"}, {"\n", " "}});
}

std::string BasisText(const Lang& l, v1::LegalBasis b) {
  switch (b) {
    case v1::LEGAL_BASIS_NECESSARY:
      return l.T("サービス提供に必要", "necessary for the service");
    case v1::LEGAL_BASIS_OPT_IN:
      return l.T("同意により利用", "used with consent (opt-in)");
    case v1::LEGAL_BASIS_OPT_OUT:
      return l.T("停止の求めがない限り利用", "used unless refused (opt-out)");
    default:
      break;
  }
  return l.T("不明", "unknown");
}

std::string StateText(const Lang& l, v1::ConsentState s) {
  switch (s) {
    case v1::CONSENT_STATE_GIVEN:
      return l.T("同意あり", "given");
    case v1::CONSENT_STATE_REFUSED:
      return l.T("拒否", "refused");
    case v1::CONSENT_STATE_WITHDRAWN:
      return l.T("撤回", "withdrawn");
    case v1::CONSENT_STATE_EXPIRED:
      return l.T("期限切れ", "expired");
    default:
      break;
  }
  return l.T("記録なし", "none recorded");
}

std::string KindText(const Lang& l, v1::RequestKind k) {
  switch (k) {
    case v1::REQUEST_KIND_PURPOSE_NOTICE:
      return l.T("利用目的の通知", "notification of purposes");
    case v1::REQUEST_KIND_DISCLOSURE:
      return l.T("開示", "disclosure");
    case v1::REQUEST_KIND_CORRECTION:
      return l.T("訂正・追加・削除", "correction, addition or deletion");
    case v1::REQUEST_KIND_SUSPENSION:
      return l.T("利用停止", "suspension of use");
    case v1::REQUEST_KIND_ERASURE:
      return l.T("消去", "erasure");
    case v1::REQUEST_KIND_PROVISION_STOP:
      return l.T("第三者提供の停止", "stop of provision to third parties");
    default:
      break;
  }
  return "-";
}

void AppendRestrictions(const Lang& l, const v1::Restrictions& r,
                        std::string& out) {
  std::vector<std::string> lines;
  if (r.erased()) {
    lines.push_back(absl::StrCat(l.T("消去済み（", "Erased ("),
                                 FormatTime(r.erased_time()), l.T("）", ")")));
  }
  if (r.suspend_all()) {
    lines.push_back(
        l.T("すべての利用目的で利用停止中", "Use suspended for every purpose"));
  }
  if (!r.suspended_purposes().empty()) {
    lines.push_back(
        absl::StrCat(l.T("利用停止中の利用目的: ", "Use suspended for: "),
                     absl::StrJoin(r.suspended_purposes(), ", ")));
  }
  if (r.third_party_provision_stopped()) {
    lines.push_back(
        l.T("第三者提供を停止中", "Provision to third parties stopped"));
  }
  if (lines.empty()) {
    lines.push_back(l.T("ご本人の求めによる制限はありません",
                        "No restrictions from your requests"));
  }
  for (const std::string& line : lines) absl::StrAppend(&out, "- ", line, "\n");
}

void AppendPurposeTable(const Lang& l, const v1::PurposeNotice& n,
                        std::string& out) {
  absl::StrAppend(&out,
                  l.T("| 利用目的 | 利用する情報（根拠） | 同意の状況 |\n",
                      "| Purpose | Data used (basis) | Your consent |\n"),
                  "|---|---|---|\n");
  for (const v1::PurposeUse& u : n.purposes()) {
    std::vector<std::string> cats;
    bool any_consent_based = false;
    for (const v1::CategoryUse& c : u.categories()) {
      cats.push_back(absl::StrCat(l.Pick(c.name(), c.category()), " (",
                                  BasisText(l, c.basis()), ")"));
      if (c.basis() != v1::LEGAL_BASIS_NECESSARY) any_consent_based = true;
    }
    std::string state = any_consent_based
                            ? StateText(l, u.consent_state())
                            : std::string(l.T("同意不要", "not needed"));
    if (u.suspended())
      absl::StrAppend(&state, l.T("、利用停止中", "; use suspended"));
    absl::StrAppend(&out, "| ", Cell(l.Pick(u.name(), u.purpose())), " (`",
                    u.purpose(), "`) | ", Cell(absl::StrJoin(cats, "; ")),
                    " | ", Cell(state), " |\n");
  }
}

}  // namespace

std::string RenderPurposeNotice(const v1::PurposeNotice& notice,
                                absl::string_view language) {
  const Lang l{language == "ja"};
  std::string out;
  absl::StrAppend(
      &out, l.T("# 利用目的の通知\n\n", "# Notice of the purposes of use\n\n"));
  absl::StrAppend(
      &out, l.T("- 対象者: ", "- Subject: "), notice.subject_id(), "\n",
      l.T("- 作成日時: ", "- Written: "), FormatTime(notice.time()), "\n",
      l.T("- 方針: ", "- Policy: "), l.Pick(notice.policy_title(), ""), " (",
      l.T("版 ", "version "), notice.policy_version(), ")\n\n");
  absl::StrAppend(
      &out, l.T("当社は、お客様の個人情報を次の目的で利用します。\n\n",
                "We use your personal data for the following purposes.\n\n"));
  AppendPurposeTable(l, notice, out);
  absl::StrAppend(&out, l.T("\n## ご本人の求めによる制限\n\n",
                            "\n## Restrictions from your requests\n\n"));
  AppendRestrictions(l, notice.restrictions(), out);
  return out;
}

namespace {

// Names of purposes and categories as the policy gives them in a language;
// an id the policy does not know is shown as it is.
class DisclosureNames {
 public:
  DisclosureNames(const Lang& l, const CompiledPolicy& policy) : l_(l) {
    for (const v1::Purpose& p : policy.proto().purposes()) {
      purposes_[p.id()] = &p;
    }
    for (const v1::DataCategory& c : policy.proto().categories()) {
      categories_[c.id()] = &c;
    }
  }
  std::string Purpose(const std::string& id) const {
    auto it = purposes_.find(id);
    return it == purposes_.end()
               ? id
               : absl::StrCat(l_.Pick(it->second->name(), id), " (`", id, "`)");
  }
  std::string Category(const std::string& id) const {
    auto it = categories_.find(id);
    return it == categories_.end() ? id : l_.Pick(it->second->name(), id);
  }

 private:
  const Lang& l_;
  absl::flat_hash_map<std::string, const v1::Purpose*> purposes_;
  absl::flat_hash_map<std::string, const v1::DataCategory*> categories_;
};

// 1. The consent record: each purpose's state, the restrictions, the
// revision.
void AppendConsentSection(const Lang& l, const v1::DisclosurePackage& package,
                          const DisclosureNames& names, std::string& out) {
  const v1::ConsentRecord& rec = package.consent();
  absl::StrAppend(&out,
                  l.T("## 1. 同意の記録\n\n", "## 1. Consent record\n\n"));
  if (rec.purposes().empty()) {
    absl::StrAppend(
        &out, l.T("同意の記録はありません。\n\n", "No consent recorded.\n\n"));
  } else {
    absl::StrAppend(
        &out,
        l.T("| 利用目的 | 状態 | 日時 | 方針の版 | 機会 |\n",
            "| Purpose | State | When | Policy version | Occasion |\n"),
        "|---|---|---|---|---|\n");
    for (const v1::PurposeConsent& pc : rec.purposes()) {
      absl::StrAppend(&out, "| ", Cell(names.Purpose(pc.purpose())), " | ",
                      StateText(l, pc.state()), " | ", FormatTime(pc.time()),
                      " | ", Cell(pc.policy_version()), " | ",
                      Cell(pc.occasion_id()), " |\n");
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, l.T("ご本人の求めによる制限:\n\n",
                            "Restrictions from your requests:\n\n"));
  AppendRestrictions(l, rec.restrictions(), out);
  absl::StrAppend(&out, "\n", l.T("記録の改訂番号: ", "Record revision: "),
                  rec.revision(), "\n\n");
}

// 2. The history of the consent record.
void AppendHistorySection(const Lang& l, const v1::DisclosurePackage& package,
                          std::string& out) {
  absl::StrAppend(&out, l.T("## 2. 同意の記録の履歴\n\n",
                            "## 2. History of the consent record\n\n"));
  if (package.consent_history().empty()) {
    absl::StrAppend(
        &out,
        l.T("履歴はありません（または保存されていません。末尾を参照）。\n\n",
            "No history (or none kept; see the end).\n\n"));
  } else {
    absl::StrAppend(
        &out,
        l.T("| 改訂番号 | 日時 | 内容 |\n", "| Revision | When | Content |\n"),
        "|---|---|---|\n");
    for (const v1::ConsentRecord& h : package.consent_history()) {
      std::vector<std::string> states;
      for (const v1::PurposeConsent& pc : h.purposes()) {
        states.push_back(
            absl::StrCat(pc.purpose(), ": ", StateText(l, pc.state())));
      }
      absl::StrAppend(&out, "| ", h.revision(), " | ",
                      FormatTime(h.update_time()), " | ",
                      Cell(absl::StrJoin(states, ", ")), " |\n");
    }
    absl::StrAppend(&out, "\n");
  }
}

// 4. Records of provision to third parties.
void AppendProvisionSection(const Lang& l, const v1::DisclosurePackage& package,
                            const DisclosureNames& names, std::string& out) {
  absl::StrAppend(&out, l.T("## 4. 第三者提供の記録\n\n",
                            "## 4. Records of provision to third parties\n\n"));
  if (package.provisions().empty()) {
    absl::StrAppend(&out, l.T("記録はありません。\n\n", "None recorded.\n\n"));
  } else {
    absl::StrAppend(
        &out,
        l.T("| 日時 | 提供先 | 提供/受領 | 情報の種類 | 項目 | 利用目的 |\n",
            "| When | Recipient | Provided/received | Data | Items | Purpose "
            "|\n"),
        "|---|---|---|---|---|---|\n");
    for (const v1::ProvisionEntry& p : package.provisions()) {
      std::vector<std::string> cats;
      for (const std::string& c : p.categories())
        cats.push_back(names.Category(c));
      const std::string direction = p.direction() == "received"
                                        ? l.T("受領", "received")
                                        : l.T("提供", "provided");
      absl::StrAppend(
          &out, "| ", FormatTime(p.time()), " | ",
          Cell(p.recipient_name().empty() ? p.recipient_id()
                                          : p.recipient_name()),
          " | ", direction, " | ", Cell(absl::StrJoin(cats, ", ")), " | ",
          Cell(absl::StrJoin(p.items(), ", ")), " | ",
          Cell(p.purpose().empty() ? "" : names.Purpose(p.purpose())), " |\n");
    }
    absl::StrAppend(&out, "\n");
  }
}

// 5. The access record.
void AppendAccessSection(const Lang& l, const v1::DisclosurePackage& package,
                         const DisclosureNames& names, std::string& out) {
  absl::StrAppend(&out,
                  l.T("## 5. アクセスの記録\n\n", "## 5. Access record\n\n"));
  if (package.access_events().empty()) {
    absl::StrAppend(&out, l.T("記録はありません。\n\n", "None recorded.\n\n"));
  } else {
    absl::StrAppend(&out,
                    l.T("| 日時 | 利用者 | 情報の種類 | 利用目的 | 結果 |\n",
                        "| When | Who | Data | Purpose | Result |\n"),
                    "|---|---|---|---|---|\n");
    for (const v1::AccessRecord& a : package.access_events()) {
      const std::string result = absl::StrCat(
          a.allowed() ? l.T("許可", "allowed") : l.T("拒否", "denied"), " (",
          a.reason(), ")");
      absl::StrAppend(
          &out, "| ", FormatTime(a.time()), " | ", Cell(a.accessor()), " | ",
          Cell(names.Category(a.category())), " | ",
          Cell(names.Purpose(a.purpose())), " | ", Cell(result), " |\n");
    }
    absl::StrAppend(&out, "\n");
  }
}

// 6. The person's requests.
void AppendRequestsSection(const Lang& l, const v1::DisclosurePackage& package,
                           std::string& out) {
  absl::StrAppend(&out,
                  l.T("## 6. ご本人からの請求\n\n", "## 6. Your requests\n\n"));
  absl::StrAppend(&out,
                  l.T("| 番号 | 種類 | 状態 | 受付日時 |\n",
                      "| Number | Kind | State | Received |\n"),
                  "|---|---|---|---|\n");
  for (const v1::SubjectRequest& r : package.requests()) {
    absl::StrAppend(&out, "| ", Cell(r.id()), " | ", KindText(l, r.kind()),
                    " | ", RequestStateName(r.state()), " | ",
                    FormatTime(r.receive_time()), " |\n");
  }
  absl::StrAppend(&out, "\n");
}

// 7. The consent receipts, each as its id, revision, purposes and states,
// and its signing key; the signed documents are in the JSON package.
void AppendReceiptsSection(const Lang& l, const v1::DisclosurePackage& package,
                           std::string& out) {
  absl::StrAppend(&out,
                  l.T("## 7. 同意の受領書\n\n", "## 7. Consent receipts\n\n"));
  if (package.consent_receipts().empty()) {
    absl::StrAppend(&out, l.T("受領書はありません。\n\n", "None.\n\n"));
    return;
  }
  absl::StrAppend(&out,
                  l.T("| 受領書番号 | 改訂番号 | 内容 | 署名の鍵 |\n",
                      "| Receipt | Revision | Content | Signing key |\n"),
                  "|---|---|---|---|\n");
  for (const std::string& json : package.consent_receipts()) {
    absl::StatusOr<ConsentReceipt> r = ParseReceipt(json);
    if (!r.ok()) {
      absl::StrAppend(&out, "| - | - | ", Cell(r.status().message()),
                      " | - |\n");
      continue;
    }
    std::vector<std::string> states;
    for (const ReceiptPurpose& p : r->purposes) {
      states.push_back(absl::StrCat(p.purpose, ": ", p.state));
    }
    absl::StrAppend(
        &out, "| ", Cell(r->receipt_id), " | ", r->revision, " | ",
        Cell(absl::StrJoin(states, ", ")), " | ",
        r->key_id.empty() ? l.T("署名なし", "unsigned") : Cell(r->key_id),
        " |\n");
  }
  absl::StrAppend(&out, "\n");
}

// What the disclosure leaves out.
void AppendOmittedSection(const Lang& l, const v1::DisclosurePackage& package,
                          std::string& out) {
  if (!package.omitted_sections().empty()) {
    absl::StrAppend(&out, l.T("## この開示に含まれない項目\n\n",
                              "## Not included in this disclosure\n\n"));
    for (const std::string& s : package.omitted_sections()) {
      absl::StrAppend(&out, "- ", s, "\n");
    }
  }
}

}  // namespace

std::string RenderDisclosure(const v1::DisclosurePackage& package,
                             const CompiledPolicy& policy,
                             absl::string_view language) {
  const Lang l{language == "ja"};
  const DisclosureNames names(l, policy);

  std::string out;
  absl::StrAppend(&out, l.T("# 保有個人データの開示\n\n",
                            "# Disclosure of your retained personal data\n\n"));
  absl::StrAppend(
      &out, l.T("- 対象者: ", "- Subject: "), package.subject_id(), "\n",
      l.T("- 請求番号: ", "- Request: "), package.request_id(), "\n",
      l.T("- 作成日時: ", "- Written: "), FormatTime(package.time()), "\n",
      l.T("- 方針の版: ", "- Policy version: "), package.policy_version(),
      "\n\n");

  AppendConsentSection(l, package, names, out);
  AppendHistorySection(l, package, out);
  // 3. Purposes.
  absl::StrAppend(&out, l.T("## 3. 利用目的\n\n", "## 3. Purposes of use\n\n"));
  AppendPurposeTable(l, package.purposes(), out);
  absl::StrAppend(&out, "\n");

  AppendProvisionSection(l, package, names, out);
  AppendAccessSection(l, package, names, out);
  AppendRequestsSection(l, package, out);
  AppendReceiptsSection(l, package, out);
  AppendOmittedSection(l, package, out);
  return out;
}

}  // namespace consentry
