// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/core/subject_state.h"

#include <algorithm>

#include "absl/time/time.h"

namespace consentry::internal {
namespace {

std::int64_t ToNanos(const google::protobuf::Timestamp& t) {
  return TimestampToNanos(t.seconds(), t.nanos());
}

}  // namespace

SubjectState CompileSubjectState(const CompiledPolicy& policy,
                                 const v1::ConsentRecord& record,
                                 absl::Time now) {
  SubjectState s;
  s.revision = record.revision();
  // The kind, as one bit beside the flags (see `SubjectProfile::kKindShift`).
  s.profile.flags = std::uint64_t{SubjectKindBit(record.subject_kind())}
                    << SubjectProfile::kKindShift;
  if (!record.data_loss().empty()) {
    // The store could not read the subject's record: nothing is known, so
    // everything denies (kErased makes even necessary purposes deny; the
    // check reports kConsentDataLoss).
    s.profile.flags = SubjectProfile::kErased | SubjectProfile::kDataLoss;
    return s;  // the kind of an unreadable record is unknown
  }
  const std::int64_t now_ns = absl::ToUnixNanos(now);
  PurposeSet given, given_direct, refused, withdrawn, expired, suspended;
  for (const v1::PurposeConsent& pc : record.purposes()) {
    absl::StatusOr<PurposeIndex> p = policy.FindPurpose(pc.purpose());
    if (!p.ok()) continue;  // unknown to this policy: allows nothing
    if (!pc.occasion_id().empty()) {
      s.profile.flags |= SubjectProfile::kHasOccasionConsent;
      if (pc.state() == v1::CONSENT_STATE_GIVEN && pc.has_expiry() &&
          ToNanos(pc.expiry()) > now_ns) {
        s.profile.valid_until_ns =
            std::min(s.profile.valid_until_ns, ToNanos(pc.expiry()));
      }
      continue;
    }
    const PurposeSet below = policy.descendants(*p);
    switch (pc.state()) {
      case v1::CONSENT_STATE_GIVEN:
        if (pc.has_expiry() && ToNanos(pc.expiry()) <= now_ns) {
          expired.Add(below);
        } else {
          given.Add(below);
          given_direct.Add(*p);
          if (policy.has_reconsent()) {
            const auto ord = static_cast<std::uint8_t>(
                policy.VersionOrdinal(pc.policy_version()));
            below.ForEach([&](PurposeIndex d) {
              s.profile.consent_ordinal[d] =
                  std::max(s.profile.consent_ordinal[d], ord);
            });
          }
          if (pc.has_expiry()) {
            s.profile.valid_until_ns =
                std::min(s.profile.valid_until_ns, ToNanos(pc.expiry()));
          }
        }
        break;
      case v1::CONSENT_STATE_REFUSED:
        refused.Add(below);
        break;
      case v1::CONSENT_STATE_WITHDRAWN:
        withdrawn.Add(below);
        break;
      case v1::CONSENT_STATE_EXPIRED:
        expired.Add(below);
        break;
      default:
        break;  // unspecified: no consent
    }
  }
  const v1::Restrictions& r = record.restrictions();
  for (const std::string& id : r.suspended_purposes()) {
    absl::StatusOr<PurposeIndex> p = policy.FindPurpose(id);
    if (p.ok()) {
      suspended.Add(policy.descendants(*p));
    } else {
      // A suspension naming a purpose this policy does not know cannot be
      // honoured precisely; fail closed by suspending everything.
      s.profile.flags |= SubjectProfile::kSuspendAll;
    }
  }
  if (r.suspend_all()) s.profile.flags |= SubjectProfile::kSuspendAll;
  if (r.third_party_provision_stopped()) {
    s.profile.flags |= SubjectProfile::kProvisionStopped;
  }
  if (r.erased()) s.profile.flags |= SubjectProfile::kErased;
  s.profile.given = given.bits();
  s.profile.given_direct = given_direct.bits();
  s.profile.refused = refused.bits();
  s.profile.withdrawn = withdrawn.bits();
  s.profile.expired = expired.bits();
  s.profile.suspended = suspended.bits();
  return s;
}

}  // namespace consentry::internal
