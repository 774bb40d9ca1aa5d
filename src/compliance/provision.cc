// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// ProvisionDesk: the checks and records of giving data to a recipient
// (provision.h, recipients.h). It uses the Guard's public checks plus the
// store and audit sink the Guard was created with.

#include "consentry/provision.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "consentry/guard.h"
#include "consentry/recipients.h"
#include "src/core/guard_impl.h"
#include "src/core/subject_state.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

using internal::SubjectProfile;
using internal::SubjectState;

bool IsThirdParty(v1::RecipientKind k) {
  return k == v1::RECIPIENT_KIND_THIRD_PARTY ||
         k == v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY;
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const std::int64_t ns = absl::ToUnixNanos(t);
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<std::int32_t>(ns % 1'000'000'000));
}

// Whether `purpose` is one of the recipient's purposes or below one.
bool RecipientServes(const v1::Recipient& r, const CompiledPolicy& policy,
                     absl::string_view purpose) {
  absl::StatusOr<PurposeIndex> p = policy.FindPurpose(purpose);
  if (!p.ok()) return false;
  for (const std::string& id : r.purposes()) {
    absl::StatusOr<PurposeIndex> q = policy.FindPurpose(id);
    if (q.ok() && policy.descendants(*q).Contains(*p)) return true;
  }
  return false;
}

// The provision-specific reason for one subject (steps 3 and 4 of the
// checks in recipients.h), or kUnspecified when provision may go ahead.
Reason ProvisionReason(const v1::Recipient& r, const CompiledPolicy& policy,
                       const SubjectProfile& s, CategoryIndex category,
                       PurposeIndex purpose) {
  const bool third_party = IsThirdParty(r.kind());
  absl::StatusOr<PurposeIndex> cp =
      r.consent_purpose().empty()
          ? absl::StatusOr<PurposeIndex>(absl::NotFoundError("none"))
          : policy.FindPurpose(r.consent_purpose());
  const std::uint64_t cbit = cp.ok() ? std::uint64_t{1} << *cp : 0;
  const bool blocked =
      cp.ok() && ((s.withdrawn | s.refused | s.expired) & cbit);
  const bool given = cp.ok() && !blocked && (s.given & cbit);
  const bool given_direct = cp.ok() && !blocked && (s.given_direct & cbit);

  if (third_party) {
    if (s.flags & SubjectProfile::kProvisionStopped) {
      return Reason::kProvisionStopped;
    }
    const bool needs_direct =
        r.kind() == v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY &&
        r.foreign_basis() ==
            v1::FOREIGN_TRANSFER_BASIS_CONSENT_WITH_INFORMATION;
    if (!(needs_direct ? given_direct : given)) {
      return Reason::kNoProvisionConsent;
    }
  }
  if (policy.requires_specific_consent(category)) {
    const bool exempt = r.kind() == v1::RECIPIENT_KIND_CONTRACTOR &&
                        r.contract().confidentiality() &&
                        policy.basis(category, purpose) == Basis::kNecessary;
    if (!exempt && !given_direct) return Reason::kNoSpecificConsent;
  }
  return Reason::kUnspecified;
}

// The fields of a provision record that describe the act: recipient,
// accessor, purpose, basis, policy version, method and series.
void SetRecordHeader(const v1::Recipient& recipient, const AccessContext& ctx,
                     const CompiledPolicy& policy, absl::Time now,
                     v1::ProvisionRecord* out) {
  const v1::Recipient* r = &recipient;
  v1::ProvisionRecord& rec = *out;
  SetTimestamp(now, rec.mutable_provision_time());
  rec.set_recipient_id(r->id());
  rec.set_recipient_name(r->name());
  rec.set_recipient_kind(r->kind());
  rec.set_accessor(std::string(ctx.accessor()));
  rec.set_purpose(std::string(ctx.purpose()));
  switch (r->kind()) {
    case v1::RECIPIENT_KIND_CONTRACTOR:
      rec.set_basis("contractor");
      break;
    case v1::RECIPIENT_KIND_JOINT_USER:
      rec.set_basis("joint_use");
      break;
    case v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY:
      rec.set_basis(
          absl::StrCat("provision_consent; ",
                       v1::ForeignTransferBasis_Name(r->foreign_basis())));
      break;
    default:
      rec.set_basis("provision_consent");
      break;
  }
  rec.set_consent_purpose(r->consent_purpose());
  rec.set_policy_version(policy.version());
  rec.set_record_method(r->record_method());
  rec.set_country(r->country());
  if (r->record_method() == v1::RECORD_METHOD_COLLECTIVE ||
      r->record_method() == v1::RECORD_METHOD_CONTRACT_DOCUMENT) {
    rec.set_series_id(absl::StrCat("provision:", r->id(), ":",
                                   v1::RecordMethod_Name(r->record_method())));
  }
}

struct Item {
  Decision decision{Reason::kUnspecified, 0};
  std::string category;
};

// One `kProvision` event per record. Errors: `kUnavailable` when the sink
// refuses one.
absl::Status AuditProvision(AuditSink* audit, const v1::Recipient& recipient,
                            const AccessContext& ctx,
                            absl::string_view policy_version, absl::Time now,
                            absl::Span<const RecordTags> records,
                            const std::vector<Item>& items,
                            const std::string& record_id) {
  if (audit == nullptr) return absl::OkStatus();
  const v1::Recipient* r = &recipient;
  for (std::size_t i = 0; i < records.size(); ++i) {
    AuditEvent e;
    e.time_unix_nanos = absl::ToUnixNanos(now);
    e.action = AuditAction::kProvision;
    e.accessor = ctx.accessor();
    e.subject = records[i].subject();
    e.category = items[i].category;
    e.purpose = ctx.purpose();
    e.policy_version = policy_version;
    e.record_ref = records[i].record_ref().empty()
                       ? absl::string_view(record_id)
                       : absl::string_view(records[i].record_ref());
    e.recipient = r->id();
    e.reason = items[i].decision.reason();
    e.revision = items[i].decision.revision();
    absl::Status s = audit->Record(e);
    if (!s.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "Provide: audit unavailable, nothing may be provided (provision "
          "record '",
          record_id, "' was written): ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ProvisionDesk>> ProvisionDesk::Create(
    Guard* guard, const RecipientRegistry* registry,
    ProvisionRecordStore* records) {
  if (guard == nullptr || registry == nullptr || records == nullptr) {
    return absl::InvalidArgumentError(
        "ProvisionDesk::Create: the guard, the registry and the record store "
        "must not be null");
  }
  return std::unique_ptr<ProvisionDesk>(
      new ProvisionDesk(guard, registry, records));
}

ProvisionDesk::ProvisionDesk(Guard* guard, const RecipientRegistry* registry,
                             ProvisionRecordStore* records)
    : guard_(guard), registry_(registry), records_(records) {}

ProvisionDesk::~ProvisionDesk() = default;

absl::StatusOr<ProvisionOutcome> ProvisionDesk::Provide(
    const AccessContext& ctx, absl::string_view recipient_id,
    absl::Span<const RecordTags> records) {
  Guard& guard = *guard_;
  ProvisionRecordStore& records_store = *records_;
  const v1::Recipient* r = registry_->Find(recipient_id);
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("Provide: unknown recipient '", recipient_id, "'"));
  }
  const absl::Time now = guard.options().clock();
  const std::shared_ptr<const CompiledPolicy> policy = guard.policy();

  // 1. The recipient, for the whole batch.
  // The recipient and every sub-contractor down its entrustment chain.
  Reason batch_reason = registry_->ChainStatusAt(*r, now);
  if (batch_reason == Reason::kUnspecified &&
      !RecipientServes(*r, *policy, ctx.purpose())) {
    batch_reason = Reason::kNotAllowedByPolicy;
  }

  std::vector<Item> items(records.size());
  absl::flat_hash_map<std::string, SubjectState> subjects;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const RecordTags& tags = records[i];
    items[i].category = std::string(tags.category());
    if (batch_reason != Reason::kUnspecified) {
      items[i].decision = Decision(batch_reason, 0);
      continue;
    }
    // 2. The purpose, as a read does (audited as a read).
    absl::StatusOr<Decision> d = guard.Check(ctx, tags);
    if (!d.ok()) return d.status();
    if (!d->allowed()) {
      items[i].decision = Decision(d->reason(), d->revision());
      continue;
    }
    // 3-4. The subject's provision state and the category's rule. Read
    // from the store, not the cache: provision is rare and must see the
    // latest stop request.
    auto it = subjects.find(tags.subject());
    if (it == subjects.end()) {
      absl::StatusOr<v1::ConsentRecord> rec =
          internal::ConsentStoreOf(guard)->Get(tags.subject());
      if (!rec.ok()) {
        return absl::UnavailableError(absl::StrCat(
            "Provide: consent store unavailable for subject '", tags.subject(),
            "', nothing provided: ", rec.status().message()));
      }
      it = subjects
               .emplace(tags.subject(),
                        internal::CompileSubjectState(*policy, *rec, now))
               .first;
    }
    absl::StatusOr<CategoryIndex> c = policy->FindCategory(tags.category());
    absl::StatusOr<PurposeIndex> p = policy->FindPurpose(ctx.purpose());
    Reason pr = Reason::kNotAllowedByPolicy;
    if (c.ok() && p.ok()) {
      pr = ProvisionReason(*r, *policy, it->second.profile, *c, *p);
    }
    const Revision rev = it->second.revision;
    if (pr != Reason::kUnspecified) {
      items[i].decision = Decision(pr, rev);
    } else {
      items[i].decision = Decision(
          IsThirdParty(r->kind()) ? Reason::kAllowedConsent : d->reason(), rev);
    }
  }

  ProvisionOutcome out;
  v1::ProvisionRecord rec;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (!items[i].decision.allowed()) {
      out.denied.push_back(BatchDenial{i, items[i].decision});
      continue;
    }
    out.provided.push_back(i);
    const std::string& subject = records[i].subject();
    if (std::find(rec.subjects().begin(), rec.subjects().end(), subject) ==
        rec.subjects().end()) {
      rec.add_subjects(subject);
    }
    if (std::find(rec.categories().begin(), rec.categories().end(),
                  items[i].category) == rec.categories().end()) {
      rec.add_categories(items[i].category);
    }
    (*rec.mutable_consent_revisions())[subject] = items[i].decision.revision();
  }

  // The record first: a record of a provision that then fails is the lesser
  // harm than a provision without a record.
  if (!out.provided.empty()) {
    SetRecordHeader(*r, ctx, *policy, now, &rec);
    absl::StatusOr<std::string> id = records_store.AddProvision(std::move(rec));
    if (!id.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "Provide: the provision record could not be written, nothing may "
          "be provided: ",
          id.status().message()));
    }
    out.record_id = *std::move(id);
  }

  RETURN_IF_ERROR(AuditProvision(internal::AuditSinkOf(guard), *r, ctx,
                                 policy->version(), now, records, items,
                                 out.record_id));
  return out;
}

}  // namespace consentry
