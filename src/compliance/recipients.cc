// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/recipients.h"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/util/time_util.h"
#include "src/compliance/recipient_monitoring.h"
#include "src/core/timestamp_range.h"
#include "src/util/mutex.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// `t` as a Timestamp, exact over the whole range (nanoseconds since the
// epoch would overflow past the year 2262).
void SetRetainUntil(absl::Time t, google::protobuf::Timestamp* out) {
  const std::int64_t secs = absl::ToUnixSeconds(t);  // rounds down
  out->set_seconds(secs);
  out->set_nanos(static_cast<std::int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(secs))));
}

bool ValidRecipientId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  if (!absl::ascii_islower(static_cast<unsigned char>(id[0]))) return false;
  for (char ch : id) {
    const auto u = static_cast<unsigned char>(ch);
    if (!absl::ascii_islower(u) && !absl::ascii_isdigit(u) && ch != '_' &&
        ch != '-') {
      return false;
    }
  }
  return true;
}

absl::Status Invalid(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("recipient registry: ", path, ": ", what));
}

// A Timestamp within the range the protobuf type defines (years 1 to 9999,
// nanos in [0, 1e9)): outside it the due and expiry arithmetic saturates
// (a monitoring date past the year 292e9 is never due) and JSON cannot
// print the registry.
absl::Status CheckTimestamp(const google::protobuf::Timestamp& t,
                            const std::string& path) {
  if (!internal::InTimestampRange(t)) {
    return Invalid(path, internal::TimestampRangeError(t));
  }
  return absl::OkStatus();
}

// A Duration within the range the protobuf type defines (about 10000
// years; nanos with the sign of the seconds).
absl::Status CheckDuration(const google::protobuf::Duration& d,
                           const std::string& path) {
  using google::protobuf::util::TimeUtil;
  if (d.seconds() < TimeUtil::kDurationMinSeconds ||
      d.seconds() > TimeUtil::kDurationMaxSeconds || d.nanos() < -999'999'999 ||
      d.nanos() > 999'999'999 || (d.seconds() > 0 && d.nanos() < 0) ||
      (d.seconds() < 0 && d.nanos() > 0)) {
    return Invalid(
        path, absl::StrCat("duration {seconds: ", d.seconds(),
                           " nanos: ", d.nanos(), "} is not a valid duration"));
  }
  return absl::OkStatus();
}

// Every time and duration of `r` is one the protobuf types define.
absl::Status CheckTimes(const v1::Recipient& r, const std::string& at) {
  const std::pair<bool, const google::protobuf::Timestamp*> times[] = {
      {r.has_vetted_time(), &r.vetted_time()},
      {r.has_vetting_expiry(), &r.vetting_expiry()},
      {r.has_last_monitored_time(), &r.last_monitored_time()},
      {r.contract().has_signed_time(), &r.contract().signed_time()},
      {r.joint_use().has_notified_time(), &r.joint_use().notified_time()}};
  const char* const names[] = {".vetted_time", ".vetting_expiry",
                               ".last_monitored_time", ".contract.signed_time",
                               ".joint_use.notified_time"};
  for (std::size_t i = 0; i < std::size(times); ++i) {
    if (!times[i].first) continue;
    absl::Status s = CheckTimestamp(*times[i].second, at + names[i]);
    if (!s.ok()) return s;
  }
  if (r.has_monitoring_interval()) {
    return CheckDuration(r.monitoring_interval(), at + ".monitoring_interval");
  }
  return absl::OkStatus();
}

// Id, name, kind, vetting, and the times and record method the registry
// keeps.
absl::Status CheckRecipientBasics(const v1::Recipient& r,
                                  const std::string& at) {
  if (!ValidRecipientId(r.id())) {
    return Invalid(at + ".id", absl::StrCat("'", r.id(),
                                            "' is not a valid recipient id "
                                            "([a-z][a-z0-9_-]*)"));
  }
  if (r.name().empty()) return Invalid(at + ".name", "must not be empty");
  if (r.name().size() > kMaxRecordTextBytes) {
    // Every provision record names the recipient: one that cannot be
    // recorded could never be given data.
    return Invalid(at + ".name",
                   absl::StrCat("has ", r.name().size(),
                                " bytes, more than the record limit of ",
                                kMaxRecordTextBytes));
  }
  if (r.kind() == v1::RECIPIENT_KIND_UNSPECIFIED ||
      !v1::RecipientKind_IsValid(r.kind())) {
    return Invalid(at + ".kind",
                   absl::StrCat("unknown or unspecified kind ", r.kind()));
  }
  if (r.vetting_status() == v1::VETTING_STATUS_UNSPECIFIED ||
      !v1::VettingStatus_IsValid(r.vetting_status())) {
    return Invalid(
        at + ".vetting_status",
        absl::StrCat("unknown or unspecified status ", r.vetting_status()));
  }
  if (r.vetting_status() == v1::VETTING_STATUS_APPROVED &&
      !r.has_vetted_time()) {
    return Invalid(at + ".vetted_time", "required when vetting is approved");
  }
  if (absl::Status s = CheckTimes(r, at); !s.ok()) return s;
  if (!v1::RecordMethod_IsValid(r.record_method())) {
    return Invalid(at + ".record_method",
                   absl::StrCat("unknown method ", r.record_method()));
  }
  if (r.has_monitoring_interval() &&
      FromProto(r.monitoring_interval()) < absl::ZeroDuration()) {
    return Invalid(at + ".monitoring_interval", "must not be negative");
  }
  for (int i = 0; i < r.monitoring_results_size(); ++i) {
    const std::string mat = absl::StrCat(at, ".monitoring_results[", i, "]");
    const v1::MonitoringResult& m = r.monitoring_results(i);
    if (!m.recipient_id().empty() && m.recipient_id() != r.id()) {
      return Invalid(mat + ".recipient_id",
                     absl::StrCat("'", absl::CHexEscape(m.recipient_id()),
                                  "' names another recipient"));
    }
    absl::Status s = internal::CheckMonitoringResult(m, mat);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("recipient registry: ", s.message()));
    }
  }
  return absl::OkStatus();
}

// The purposes provision to `r` may serve, all known to `policy`.
absl::Status CheckRecipientPurposes(const v1::Recipient& r,
                                    const std::string& at,
                                    const CompiledPolicy& policy) {
  if (r.purposes_size() == 0) {
    return Invalid(at + ".purposes", "at least one purpose is required");
  }
  for (int i = 0; i < r.purposes_size(); ++i) {
    if (!policy.FindPurpose(r.purposes(i)).ok()) {
      return Invalid(absl::StrCat(at, ".purposes[", i, "]"),
                     absl::StrCat("unknown purpose '", r.purposes(i),
                                  "' in policy '", policy.version(), "'"));
    }
  }
  if (!r.consent_purpose().empty() &&
      !policy.FindPurpose(r.consent_purpose()).ok()) {
    return Invalid(at + ".consent_purpose",
                   absl::StrCat("unknown purpose '", r.consent_purpose(),
                                "' in policy '", policy.version(), "'"));
  }
  return absl::OkStatus();
}

// A contractor's contract clauses (APPI Art. 25): reference, safety
// measures, sub-contracting; and periodic monitoring.
absl::Status CheckContract(const v1::Recipient& r, const std::string& at,
                           bool monitored) {
  if (!r.has_contract()) {
    return Invalid(at + ".contract", "required for a contractor");
  }
  const v1::ContractClauses& c = r.contract();
  if (c.contract_ref().empty()) {
    return Invalid(at + ".contract.contract_ref", "required for a contractor");
  }
  if (c.safety_measures_size() == 0) {
    return Invalid(at + ".contract.safety_measures",
                   "a contractor's contract must state safety-management "
                   "measures");
  }
  if (!c.subcontracting_allowed() && c.subcontractors_size() > 0) {
    return Invalid(at + ".contract.subcontractors",
                   absl::StrCat(c.subcontractors_size(),
                                " sub-contractor(s) listed but "
                                "contract.subcontracting_allowed is false"));
  }
  if (c.subcontracting_allowed() && c.subcontracting_conditions().empty()) {
    return Invalid(at + ".contract.subcontracting_conditions",
                   "required when sub-contracting is allowed");
  }
  for (int i = 0; i < c.subcontractors_size(); ++i) {
    if (c.subcontractors(i).name().empty()) {
      return Invalid(absl::StrCat(at, ".contract.subcontractors[", i, "].name"),
                     "must not be empty");
    }
    const std::string& sub = c.subcontractors(i).recipient_id();
    if (!sub.empty() && !ValidRecipientId(sub)) {
      return Invalid(
          absl::StrCat(at, ".contract.subcontractors[", i, "].recipient_id"),
          absl::StrCat("'", absl::CHexEscape(sub),
                       "' is not a valid recipient id"));
    }
  }
  if (!monitored) {
    return Invalid(at + ".monitoring_interval",
                   "a contractor must be monitored periodically");
  }
  return absl::OkStatus();
}

// What each kind of recipient needs: a contract, the joint-use terms, or
// the person's consent.
absl::Status CheckKindTerms(const v1::Recipient& r, const std::string& at,
                            bool monitored) {
  switch (r.kind()) {
    case v1::RECIPIENT_KIND_CONTRACTOR:
      return CheckContract(r, at, monitored);
    case v1::RECIPIENT_KIND_JOINT_USER:
      if (!r.has_joint_use() || r.joint_use().data_items_size() == 0 ||
          r.joint_use().responsible_party().empty()) {
        return Invalid(at + ".joint_use",
                       "a joint user needs the notified terms (data items, "
                       "responsible party)");
      }
      return absl::OkStatus();
    case v1::RECIPIENT_KIND_THIRD_PARTY:
    case v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY:
      if (r.consent_purpose().empty()) {
        return Invalid(at + ".consent_purpose",
                       "required for a third party: provision needs the "
                       "person's consent");
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

// A foreign third party's country and transfer basis (APPI Art. 28); a
// country on any other recipient but a contractor is an error.
absl::Status CheckCountry(const v1::Recipient& r, const std::string& at,
                          bool monitored) {
  if (r.kind() == v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY) {
    if (r.country().size() != 2) {
      return Invalid(at + ".country",
                     absl::StrCat("'", r.country(),
                                  "' is not an ISO 3166-1 alpha-2 code"));
    }
    switch (r.foreign_basis()) {
      case v1::FOREIGN_TRANSFER_BASIS_EQUIVALENT_COUNTRY:
        if (!IsEquivalentSystemCountry(r.country())) {
          return Invalid(at + ".foreign_basis",
                         absl::StrCat("country '", r.country(),
                                      "' is not designated as having an "
                                      "equivalent system"));
        }
        break;
      case v1::FOREIGN_TRANSFER_BASIS_EQUIVALENT_MEASURES:
        if (!monitored) {
          return Invalid(at + ".monitoring_interval",
                         "required on equivalent measures (Art. 28(3))");
        }
        break;
      case v1::FOREIGN_TRANSFER_BASIS_CONSENT_WITH_INFORMATION:
        if (r.information_ref().empty()) {
          return Invalid(at + ".information_ref",
                         "required when the basis is consent with "
                         "information given");
        }
        break;
      default:
        return Invalid(
            at + ".foreign_basis",
            absl::StrCat("unknown or unspecified basis ", r.foreign_basis()));
    }
  } else if (!r.country().empty() &&
             r.kind() != v1::RECIPIENT_KIND_CONTRACTOR) {
    // A contractor abroad is not a third party but its country is kept.
    return Invalid(at + ".country",
                   "set only for foreign third parties and contractors");
  }
  return absl::OkStatus();
}

absl::Status ValidateRecipient(const v1::Recipient& r, const std::string& at,
                               const CompiledPolicy& policy) {
  if (absl::Status s = CheckRecipientBasics(r, at); !s.ok()) return s;
  const bool monitored =
      r.has_monitoring_interval() &&
      FromProto(r.monitoring_interval()) > absl::ZeroDuration();
  if (absl::Status s = CheckRecipientPurposes(r, at, policy); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckKindTerms(r, at, monitored); !s.ok()) return s;
  return CheckCountry(r, at, monitored);
}

// Japan time for the calendar arithmetic of retention periods.
// Loaded once, under the function-local static's guard: concurrent first
// calls into the time-zone registry would race inside Abseil.
absl::TimeZone Jst() {
  static const absl::TimeZone* const tz =
      new absl::TimeZone(absl::FixedTimeZone(9 * 60 * 60));
  return *tz;
}

}  // namespace

bool IsEquivalentSystemCountry(absl::string_view country) {
  static constexpr absl::string_view kCountries[] = {
      "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR",
      "GB", "GR", "HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV",
      "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK"};
  return std::binary_search(std::begin(kCountries), std::end(kCountries),
                            country);
}

// ---------------------------------------------------------------------------
// RecipientRegistry

RecipientRegistry::~RecipientRegistry() = default;

absl::StatusOr<std::unique_ptr<const RecipientRegistry>>
RecipientRegistry::Create(const v1::RecipientRegistry& registry,
                          const CompiledPolicy& policy) {
  std::unique_ptr<RecipientRegistry> out(new RecipientRegistry());
  for (int i = 0; i < registry.recipients_size(); ++i) {
    const std::string at = absl::StrCat("recipients[", i, "]");
    absl::Status s = ValidateRecipient(registry.recipients(i), at, policy);
    if (!s.ok()) return s;
    out->index_.emplace_back(registry.recipients(i).id(), i);
  }
  std::sort(out->index_.begin(), out->index_.end());
  for (std::size_t i = 1; i < out->index_.size(); ++i) {
    if (out->index_[i].first == out->index_[i - 1].first) {
      return Invalid(
          absl::StrCat("recipients[", out->index_[i].second, "].id"),
          absl::StrCat("duplicate id '", out->index_[i].first,
                       "' (also recipients[", out->index_[i - 1].second, "])"));
    }
  }
  out->proto_ = std::make_unique<v1::RecipientRegistry>(registry);
  if (absl::Status s = out->CheckEntrustmentChains(); !s.ok()) return s;
  return std::unique_ptr<const RecipientRegistry>(std::move(out));
}

absl::Status RecipientRegistry::CheckEntrustmentChains() const {
  const int n = proto_->recipients_size();
  // Every named sub-contractor entry exists and is a contractor.
  for (int i = 0; i < n; ++i) {
    const v1::Recipient& r = proto_->recipients(i);
    for (int j = 0; j < r.contract().subcontractors_size(); ++j) {
      const std::string& id = r.contract().subcontractors(j).recipient_id();
      if (id.empty()) continue;
      const std::string at = absl::StrCat(
          "recipients[", i, "].contract.subcontractors[", j, "].recipient_id");
      const v1::Recipient* sub = Find(id);
      if (sub == nullptr) {
        return Invalid(at, absl::StrCat("'", id,
                                        "' names no recipient of the "
                                        "registry"));
      }
      if (sub->kind() != v1::RECIPIENT_KIND_CONTRACTOR) {
        return Invalid(at, absl::StrCat("'", id,
                                        "' is not a contractor; a "
                                        "sub-contractor is vetted and "
                                        "monitored as one"));
      }
    }
  }
  // No entrustment cycle (A sub-contracts to B, B to A): depth-first, with
  // 0 = unvisited, 1 = on the current path, 2 = done.
  std::vector<int> state(static_cast<std::size_t>(n), 0);
  std::vector<std::pair<int, int>> path;  // (recipient, next sub-contractor)
  for (int root = 0; root < n; ++root) {
    if (state[static_cast<std::size_t>(root)] != 0) continue;
    path.emplace_back(root, 0);
    state[static_cast<std::size_t>(root)] = 1;
    while (!path.empty()) {
      auto& [at, next] = path.back();
      const v1::ContractClauses& c = proto_->recipients(at).contract();
      if (next >= c.subcontractors_size()) {
        state[static_cast<std::size_t>(at)] = 2;
        path.pop_back();
        continue;
      }
      const std::string& id = c.subcontractors(next++).recipient_id();
      if (id.empty()) continue;
      const int to = IndexOf(id);
      if (state[static_cast<std::size_t>(to)] == 1) {
        return Invalid(
            absl::StrCat("recipients[", at, "].contract"),
            absl::StrCat("entrustment cycle: '", proto_->recipients(at).id(),
                         "' sub-contracts back to '", id, "'"));
      }
      if (state[static_cast<std::size_t>(to)] == 0) {
        state[static_cast<std::size_t>(to)] = 1;
        path.emplace_back(to, 0);
      }
    }
  }
  return absl::OkStatus();
}

int RecipientRegistry::IndexOf(absl::string_view id) const {
  auto it = std::lower_bound(
      index_.begin(), index_.end(), id,
      [](const std::pair<std::string, int>& e, absl::string_view k) {
        return absl::string_view(e.first) < k;
      });
  if (it == index_.end() || it->first != id) return -1;
  return it->second;
}

const v1::Recipient* RecipientRegistry::Find(absl::string_view id) const {
  const int i = IndexOf(id);
  return i < 0 ? nullptr : &proto_->recipients(i);
}

absl::Time RecipientRegistry::MonitoringDue(const v1::Recipient& r,
                                            absl::Time as_of) {
  if (!r.has_monitoring_interval()) return absl::InfiniteFuture();
  const absl::Duration interval = FromProto(r.monitoring_interval());
  if (interval <= absl::ZeroDuration()) return absl::InfiniteFuture();
  absl::Time base = r.has_last_monitored_time()
                        ? FromProto(r.last_monitored_time())
                    : r.has_vetted_time() ? FromProto(r.vetted_time())
                                          : absl::InfinitePast();
  if (const v1::MonitoringResult* m =
          internal::LatestMonitoringResult(r, as_of)) {
    if (!r.has_last_monitored_time() ||
        FromProto(m->time()) > FromProto(r.last_monitored_time())) {
      base = FromProto(m->time());
    }
  }
  return base + interval;
}

Reason RecipientRegistry::StatusAt(const v1::Recipient& r, absl::Time now) {
  if (r.vetting_status() != v1::VETTING_STATUS_APPROVED ||
      !r.has_vetted_time() || FromProto(r.vetted_time()) > now ||
      (r.has_vetting_expiry() && FromProto(r.vetting_expiry()) <= now)) {
    return Reason::kRecipientNotVetted;
  }
  if (const v1::MonitoringResult* m = internal::LatestMonitoringResult(r, now);
      m != nullptr && m->outcome() == v1::MONITORING_OUTCOME_FAILED) {
    return Reason::kRecipientMonitoringFailed;
  }
  if (MonitoringDue(r, now) <= now) {
    return Reason::kRecipientMonitoringOverdue;
  }
  return Reason::kUnspecified;
}

Reason RecipientRegistry::ChainStatusAt(const v1::Recipient& r, absl::Time now,
                                        std::string* blocking) const {
  // Depth-first in the order listed (children pushed in reverse, popped in
  // order). An entry is a registry recipient, or a sub-contractor named
  // without one (no vetting and monitoring record).
  struct Entry {
    const v1::Recipient* recipient;
    const v1::SubContractor* unregistered;
  };
  std::vector<Entry> stack{{&r, nullptr}};
  std::vector<const v1::Recipient*> seen;
  while (!stack.empty()) {
    const Entry e = stack.back();
    stack.pop_back();
    if (e.recipient == nullptr) {
      if (blocking != nullptr) *blocking = e.unregistered->name();
      return Reason::kRecipientNotVetted;
    }
    if (std::find(seen.begin(), seen.end(), e.recipient) != seen.end()) {
      continue;
    }
    seen.push_back(e.recipient);
    if (Reason st = StatusAt(*e.recipient, now); st != Reason::kUnspecified) {
      if (blocking != nullptr) *blocking = e.recipient->id();
      return st;
    }
    const auto& subs = e.recipient->contract().subcontractors();
    for (int i = subs.size() - 1; i >= 0; --i) {
      const v1::SubContractor& sub = subs.Get(i);
      stack.push_back(
          {sub.recipient_id().empty() ? nullptr : Find(sub.recipient_id()),
           &sub});
    }
  }
  return Reason::kUnspecified;
}

// ---------------------------------------------------------------------------
// Retention

absl::Time RetentionEnd(v1::RecordMethod method, absl::Time recorded,
                        absl::Time last_in_series) {
  int years = 3;
  absl::Time start = recorded;
  switch (method) {
    case v1::RECORD_METHOD_CONTRACT_DOCUMENT:
      years = 1;
      start = std::max(recorded, last_in_series);
      break;
    case v1::RECORD_METHOD_COLLECTIVE:
      start = std::max(recorded, last_in_series);
      break;
    default:
      break;
  }
  if (start == absl::InfiniteFuture() || start == absl::InfinitePast()) {
    return start;
  }
  const absl::TimeZone tz = Jst();
  const absl::CivilDay day = absl::ToCivilDay(start, tz);
  const absl::CivilDay end(day.year() + years, day.month(), day.day());
  return absl::FromCivil(end, tz);
}

// ---------------------------------------------------------------------------
// Record validation

namespace {

bool IsValidUtf8(absl::string_view s) {
  return google::protobuf::internal::IsStructurallyValidUTF8(
      s.data(), static_cast<int>(s.size()));
}

// Free-text fields of provision and receipt records; every other string is
// an id.
bool IsRecordTextField(const std::string& name) {
  return name == "recipient_name" || name == "provider_name" ||
         name == "provider_address" || name == "provider_representative" ||
         name == "acquisition_circumstances" || name == "consent_ref" ||
         name == "policy_version" || name == "basis";
}

// Every string of `m` valid UTF-8 within its limit, every list within its.
absl::Status CheckRecordFields(const google::protobuf::Message& m,
                               const std::string& prefix) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* refl = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  refl->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    const int n = f->is_repeated() ? refl->FieldSize(m, f) : 1;
    const int max = f->name() == "subjects" || f->is_map()
                        ? kMaxRecordSubjects
                        : kMaxRecordListEntries;
    if (f->is_repeated() && n > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, f->name(), " has ", n,
                       " entries, more than the limit of ", max));
    }
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && f->is_map()) {
      for (int i = 0; i < n; ++i) {
        RETURN_IF_ERROR(
            CheckRecordFields(refl->GetRepeatedMessage(m, f, i),
                              absl::StrCat(prefix, f->name(), "[", i, "].")));
      }
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) continue;
    const std::size_t limit =
        IsRecordTextField(f->name()) ? kMaxRecordTextBytes : kMaxRecordIdBytes;
    for (int i = 0; i < n; ++i) {
      std::string scratch;
      const std::string& v =
          f->is_repeated() ? refl->GetRepeatedStringReference(m, f, i, &scratch)
                           : refl->GetStringReference(m, f, &scratch);
      const std::string where =
          f->is_repeated() ? absl::StrCat(prefix, f->name(), "[", i, "]")
                           : absl::StrCat(prefix, f->name());
      if (!IsValidUtf8(v)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " is not valid UTF-8"));
      }
      if (v.size() > limit) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " has ", v.size(),
                         " bytes, more than the limit of ", limit));
      }
      if (v.empty() && f->name() == "subjects") {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " is an empty subject id"));
      }
    }
  }
  return absl::OkStatus();
}

// The checks both record types share; `kind` is "provision record" or
// "receipt record", `party` the recipient id or provider name.
absl::Status CheckRecord(const google::protobuf::Message& m,
                         absl::string_view kind, absl::string_view id,
                         absl::string_view party_field, absl::string_view party,
                         int subjects, absl::string_view time_field,
                         const google::protobuf::Timestamp* time,
                         v1::RecordMethod method) {
  absl::Status s = CheckRecordFields(m, "");
  if (s.ok() && party.empty()) {
    s = absl::InvalidArgumentError(absl::StrCat(party_field, " is empty"));
  }
  if (s.ok() && subjects == 0) {
    s = absl::InvalidArgumentError("subjects: at least one subject");
  }
  if (s.ok() && time == nullptr) {
    s = absl::InvalidArgumentError(absl::StrCat(time_field, " is unset"));
  }
  if (s.ok() && !internal::InTimestampRange(*time)) {
    s = absl::InvalidArgumentError(
        absl::StrCat(time_field, ": ", internal::TimestampRangeError(*time)));
  }
  if (s.ok() && !v1::RecordMethod_IsValid(method)) {
    s = absl::InvalidArgumentError(
        absl::StrCat("record_method: unknown method ", method));
  }
  if (s.ok()) {
    // The keeping period must end where a Timestamp can say it.
    const absl::Time t = FromProto(*time);
    google::protobuf::Timestamp end;
    SetRetainUntil(RetentionEnd(method, t, t), &end);
    if (!internal::InTimestampRange(end)) {
      s = absl::InvalidArgumentError(absl::StrCat(
          time_field, ": the keeping period would end after year 9999"));
    }
  }
  if (s.ok()) return s;
  return absl::Status(
      s.code(),
      absl::StrCat(kind, " '",
                   IsValidUtf8(id) ? std::string(id) : absl::CHexEscape(id),
                   "': ", s.message()));
}

}  // namespace

absl::Status ValidateProvisionRecord(const v1::ProvisionRecord& r) {
  return CheckRecord(r, "provision record", r.id(), "recipient_id",
                     r.recipient_id(), r.subjects_size(), "provision_time",
                     r.has_provision_time() ? &r.provision_time() : nullptr,
                     r.record_method());
}

absl::Status ValidateReceiptRecord(const v1::ReceiptRecord& r) {
  return CheckRecord(r, "receipt record", r.id(), "provider_name",
                     r.provider_name(), r.subjects_size(), "receipt_time",
                     r.has_receipt_time() ? &r.receipt_time() : nullptr,
                     r.record_method());
}

namespace {

template <typename R>
absl::Status CheckHistoryRecords(
    const google::protobuf::RepeatedPtrField<R>& records,
    absl::string_view field, absl::Status (*validate)(const R&)) {
  absl::flat_hash_set<absl::string_view> ids;
  for (int i = 0; i < records.size(); ++i) {
    const R& r = records[i];
    absl::Status s = validate(r);
    if (s.ok() && !r.id().empty() && !ids.insert(r.id()).second) {
      s = absl::InvalidArgumentError("the id is given to an earlier record");
    }
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, "[", i, "] '", absl::CHexEscape(r.id().substr(0, 64)),
          "': ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateProvisionHistory(const v1::ProvisionHistory& history) {
  RETURN_IF_ERROR(CheckHistoryRecords(history.provisions(), "provisions",
                                      &ValidateProvisionRecord));
  return CheckHistoryRecords(history.receipts(), "receipts",
                             &ValidateReceiptRecord);
}

absl::StatusOr<std::vector<std::string>> ProvisionRecordStore::AddRecords(
    v1::ProvisionHistory history) {
  (void)history;
  return absl::UnimplementedError(
      "this provision record store cannot add records in one step");
}

// ---------------------------------------------------------------------------
// InMemoryProvisionRecordStore

namespace {

absl::Time RecordTime(const v1::ProvisionRecord& r) {
  return FromProto(r.provision_time());
}
absl::Time RecordTime(const v1::ReceiptRecord& r) {
  return FromProto(r.receipt_time());
}

// Adds `record` to `records` (ids unique), setting `retain_until` of it
// and of every record of its series.
template <typename R>
absl::Status AddRecord(std::vector<R>& records, R& record) {
  // Ids are unique (the caller's id set): only a record of a series looks
  // at the others, to find the series' last record.
  absl::Time last = RecordTime(record);
  if (!record.series_id().empty()) {
    for (const R& r : records) {
      if (r.series_id() == record.series_id()) {
        last = std::max(last, RecordTime(r));
      }
    }
  }
  SetRetainUntil(RetentionEnd(record.record_method(), RecordTime(record), last),
                 record.mutable_retain_until());
  if (!record.series_id().empty()) {
    for (R& r : records) {
      if (r.series_id() != record.series_id()) continue;
      SetRetainUntil(RetentionEnd(r.record_method(), RecordTime(r), last),
                     r.mutable_retain_until());
    }
  }
  records.push_back(std::move(record));
  return absl::OkStatus();
}

// The records of `records` due at `now`: `retain_until` at or before it,
// and for a record of a series, every record of the series due.
template <typename R>
std::vector<std::string> DueIds(const std::vector<R>& records, absl::Time now) {
  absl::flat_hash_set<std::string> kept_series;
  for (const R& r : records) {
    if (!r.series_id().empty() && FromProto(r.retain_until()) > now) {
      kept_series.insert(r.series_id());
    }
  }
  std::vector<const R*> due;
  for (const R& r : records) {
    if (FromProto(r.retain_until()) <= now &&
        !kept_series.contains(r.series_id())) {
      due.push_back(&r);
    }
  }
  std::stable_sort(due.begin(), due.end(), [](const R* a, const R* b) {
    return RecordTime(*a) < RecordTime(*b);
  });
  std::vector<std::string> ids;
  ids.reserve(due.size());
  for (const R* r : due) ids.push_back(r->id());
  return ids;
}

template <typename R>
void EraseIds(std::vector<R>& records, const std::vector<std::string>& ids) {
  const absl::flat_hash_set<std::string> gone(ids.begin(), ids.end());
  records.erase(
      std::remove_if(records.begin(), records.end(),
                     [&](const R& r) { return gone.contains(r.id()); }),
      records.end());
}

}  // namespace

struct InMemoryProvisionRecordStore::Impl {
  mutable internal::Mutex mu;
  std::vector<v1::ProvisionRecord> provisions ABSL_GUARDED_BY(mu);
  std::vector<v1::ReceiptRecord> receipts ABSL_GUARDED_BY(mu);
  // The ids of `provisions` and `receipts`, so that adding a record checks
  // for a duplicate in constant time (not a walk over every record).
  absl::flat_hash_set<std::string> provision_ids ABSL_GUARDED_BY(mu);
  absl::flat_hash_set<std::string> receipt_ids ABSL_GUARDED_BY(mu);
  std::int64_t next_id ABSL_GUARDED_BY(mu) = 1;
  bool unavailable ABSL_GUARDED_BY(mu) = false;

  absl::Status CheckAvailable() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    if (unavailable) {
      return absl::UnavailableError("provision record store is unavailable");
    }
    return absl::OkStatus();
  }
};

InMemoryProvisionRecordStore::InMemoryProvisionRecordStore()
    : impl_(std::make_unique<Impl>()) {}
InMemoryProvisionRecordStore::~InMemoryProvisionRecordStore() = default;

void InMemoryProvisionRecordStore::SetUnavailableForTesting(bool unavailable) {
  internal::MutexLock lock(&impl_->mu);
  impl_->unavailable = unavailable;
}

absl::StatusOr<std::string> InMemoryProvisionRecordStore::AddProvision(
    v1::ProvisionRecord record) {
  RETURN_IF_ERROR(ValidateProvisionRecord(record));
  internal::MutexLock lock(&impl_->mu);
  RETURN_IF_ERROR(impl_->CheckAvailable());
  if (record.id().empty()) {
    record.set_id(absl::StrCat("prov-", impl_->next_id++));
  }
  if (!impl_->provision_ids.insert(record.id()).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("provision record '", record.id(), "' already exists"));
  }
  std::string id = record.id();
  RETURN_IF_ERROR(AddRecord(impl_->provisions, record));
  return id;
}

absl::StatusOr<std::string> InMemoryProvisionRecordStore::AddReceipt(
    v1::ReceiptRecord record) {
  RETURN_IF_ERROR(ValidateReceiptRecord(record));
  internal::MutexLock lock(&impl_->mu);
  RETURN_IF_ERROR(impl_->CheckAvailable());
  if (record.id().empty()) {
    record.set_id(absl::StrCat("rcpt-", impl_->next_id++));
  }
  if (!impl_->receipt_ids.insert(record.id()).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("receipt record '", record.id(), "' already exists"));
  }
  std::string id = record.id();
  RETURN_IF_ERROR(AddRecord(impl_->receipts, record));
  return id;
}

absl::StatusOr<std::vector<std::string>>
InMemoryProvisionRecordStore::AddRecords(v1::ProvisionHistory history) {
  RETURN_IF_ERROR(ValidateProvisionHistory(history));
  internal::MutexLock lock(&impl_->mu);
  RETURN_IF_ERROR(impl_->CheckAvailable());
  // Ids first, changing nothing: the batch is stored whole or not at all.
  std::int64_t next_id = impl_->next_id;
  auto assign = [&next_id](auto& records, absl::string_view prefix,
                           const absl::flat_hash_set<std::string>& taken,
                           absl::string_view what) -> absl::Status {
    for (auto& r : records) {
      if (r.id().empty()) r.set_id(absl::StrCat(prefix, next_id++));
      if (taken.contains(r.id())) {
        return absl::AlreadyExistsError(
            absl::StrCat(what, " '", r.id(), "' already exists"));
      }
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(assign(*history.mutable_provisions(), "prov-",
                         impl_->provision_ids, "provision record"));
  RETURN_IF_ERROR(assign(*history.mutable_receipts(), "rcpt-",
                         impl_->receipt_ids, "receipt record"));
  impl_->next_id = next_id;
  std::vector<std::string> ids;
  for (v1::ProvisionRecord& r : *history.mutable_provisions()) {
    ids.push_back(r.id());
    impl_->provision_ids.insert(r.id());
    RETURN_IF_ERROR(AddRecord(impl_->provisions, r));
  }
  for (v1::ReceiptRecord& r : *history.mutable_receipts()) {
    ids.push_back(r.id());
    impl_->receipt_ids.insert(r.id());
    RETURN_IF_ERROR(AddRecord(impl_->receipts, r));
  }
  return ids;
}

absl::StatusOr<PurgeResult> InMemoryProvisionRecordStore::PurgeDue(
    absl::Time now, const PurgeApproval& approve) {
  internal::MutexLock lock(&impl_->mu);
  RETURN_IF_ERROR(impl_->CheckAvailable());
  PurgeResult out;
  out.provision_ids = DueIds(impl_->provisions, now);
  out.receipt_ids = DueIds(impl_->receipts, now);
  if (approve) RETURN_IF_ERROR(approve(out));
  EraseIds(impl_->provisions, out.provision_ids);
  EraseIds(impl_->receipts, out.receipt_ids);
  for (const std::string& id : out.provision_ids) {
    impl_->provision_ids.erase(id);
  }
  for (const std::string& id : out.receipt_ids) impl_->receipt_ids.erase(id);
  return out;
}

namespace {

bool OlderFirst(absl::Time a, absl::Time b) { return a < b; }

void SortHistory(v1::ProvisionHistory& h) {
  std::stable_sort(
      h.mutable_provisions()->begin(), h.mutable_provisions()->end(),
      [](const v1::ProvisionRecord& a, const v1::ProvisionRecord& b) {
        return OlderFirst(FromProto(a.provision_time()),
                          FromProto(b.provision_time()));
      });
  std::stable_sort(h.mutable_receipts()->begin(), h.mutable_receipts()->end(),
                   [](const v1::ReceiptRecord& a, const v1::ReceiptRecord& b) {
                     return OlderFirst(FromProto(a.receipt_time()),
                                       FromProto(b.receipt_time()));
                   });
}

template <typename R>
bool Matches(const R& r, const RecordFilter& f, const std::string& party,
             const google::protobuf::Timestamp& time) {
  if (!f.recipient.empty() && party != f.recipient) return false;
  const absl::Time t = FromProto(time);
  if (t < f.from || t >= f.to) return false;
  if (!f.subject.empty() && std::find(r.subjects().begin(), r.subjects().end(),
                                      f.subject) == r.subjects().end()) {
    return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<v1::ProvisionHistory> InMemoryProvisionRecordStore::Query(
    const RecordFilter& filter) {
  internal::ReaderMutexLock lock(&impl_->mu);
  absl::Status s = impl_->CheckAvailable();
  if (!s.ok()) return s;
  v1::ProvisionHistory out;
  for (const v1::ProvisionRecord& r : impl_->provisions) {
    if (Matches(r, filter, r.recipient_id(), r.provision_time())) {
      *out.add_provisions() = r;
    }
  }
  for (const v1::ReceiptRecord& r : impl_->receipts) {
    if (Matches(r, filter, r.provider_name(), r.receipt_time())) {
      *out.add_receipts() = r;
    }
  }
  SortHistory(out);
  return out;
}

absl::Status InMemoryProvisionRecordStore::Delete(
    absl::Span<const std::string> provision_ids,
    absl::Span<const std::string> receipt_ids) {
  const absl::flat_hash_set<std::string> p(provision_ids.begin(),
                                           provision_ids.end());
  const absl::flat_hash_set<std::string> r(receipt_ids.begin(),
                                           receipt_ids.end());
  internal::MutexLock lock(&impl_->mu);
  absl::Status s = impl_->CheckAvailable();
  if (!s.ok()) return s;
  auto& ps = impl_->provisions;
  ps.erase(std::remove_if(ps.begin(), ps.end(),
                          [&](const v1::ProvisionRecord& x) {
                            return p.contains(x.id());
                          }),
           ps.end());
  auto& rs = impl_->receipts;
  rs.erase(std::remove_if(
               rs.begin(), rs.end(),
               [&](const v1::ReceiptRecord& x) { return r.contains(x.id()); }),
           rs.end());
  for (const std::string& id : p) impl_->provision_ids.erase(id);
  for (const std::string& id : r) impl_->receipt_ids.erase(id);
  return absl::OkStatus();
}

absl::StatusOr<v1::ProvisionHistory> HistoryForSubject(
    ProvisionRecordStore& store, absl::string_view subject) {
  if (subject.empty()) {
    return absl::InvalidArgumentError("HistoryForSubject: empty subject id");
  }
  RecordFilter f;
  f.subject = std::string(subject);
  absl::StatusOr<v1::ProvisionHistory> h = store.Query(f);
  if (h.ok()) SortHistory(*h);
  return h;
}

absl::StatusOr<v1::ProvisionHistory> HistoryForRecipient(
    ProvisionRecordStore& store, absl::string_view recipient_id) {
  if (recipient_id.empty()) {
    return absl::InvalidArgumentError(
        "HistoryForRecipient: empty recipient id");
  }
  RecordFilter f;
  f.recipient = std::string(recipient_id);
  absl::StatusOr<v1::ProvisionHistory> h = store.Query(f);
  if (h.ok()) SortHistory(*h);
  return h;
}

// ---------------------------------------------------------------------------
// Receipts

absl::StatusOr<std::string> RecordReceipt(const CompiledPolicy& policy,
                                          ProvisionRecordStore& store,
                                          v1::ReceiptRecord receipt,
                                          absl::Time now) {
  if (receipt.provider_name().empty()) {
    return absl::InvalidArgumentError(
        "receipt.provider_name: must name who provided the data");
  }
  if (receipt.acquisition_circumstances().empty()) {
    return absl::InvalidArgumentError(
        "receipt.acquisition_circumstances: must state how the provider "
        "obtained the data (APPI Art. 30(1))");
  }
  if (receipt.subjects_size() == 0) {
    return absl::InvalidArgumentError("receipt.subjects: at least one subject");
  }
  for (int i = 0; i < receipt.subjects_size(); ++i) {
    if (receipt.subjects(i).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("receipt.subjects[", i, "]: empty subject id"));
    }
  }
  if (receipt.categories_size() == 0) {
    return absl::InvalidArgumentError(
        "receipt.categories: at least one category");
  }
  for (int i = 0; i < receipt.categories_size(); ++i) {
    if (!policy.FindCategory(receipt.categories(i)).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "receipt.categories[", i, "]: unknown category '",
          receipt.categories(i), "' in policy '", policy.version(), "'"));
    }
  }
  if (!v1::RecordMethod_IsValid(receipt.record_method())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "receipt.record_method: unknown method ", receipt.record_method()));
  }
  if (!receipt.has_receipt_time()) {
    const std::int64_t ns = absl::ToUnixNanos(now);
    receipt.mutable_receipt_time()->set_seconds(ns / 1'000'000'000);
    receipt.mutable_receipt_time()->set_nanos(
        static_cast<std::int32_t>(ns % 1'000'000'000));
  }
  if (receipt.series_id().empty() &&
      receipt.record_method() != v1::RECORD_METHOD_PER_PROVISION &&
      receipt.record_method() != v1::RECORD_METHOD_UNSPECIFIED) {
    receipt.set_series_id(
        absl::StrCat("receipt:", receipt.provider_name(), ":",
                     v1::RecordMethod_Name(receipt.record_method())));
  }
  return store.AddReceipt(std::move(receipt));
}

// ---------------------------------------------------------------------------
// Purge

absl::StatusOr<PurgeResult> PurgeExpiredRecords(ProvisionRecordStore& store,
                                                AuditSink* audit,
                                                absl::string_view accessor,
                                                absl::Time now) {
  if (audit == nullptr) {
    return absl::InvalidArgumentError(
        "PurgeExpiredRecords: a purge must be audited; audit is null");
  }
  std::string detail;
  absl::Status refused;
  bool audited = false;
  auto event = [&](absl::string_view text, std::int64_t removed) {
    AuditEvent e;
    e.time_unix_nanos = absl::ToUnixNanos(now);
    e.action = AuditAction::kRecordsPurged;
    e.accessor = accessor;
    e.reason = Reason::kRetentionExpired;
    e.records_included = removed;
    e.records_excluded = 0;
    e.detail = text;
    return audit->Record(e);
  };
  // The event is taken while the store holds what it is about to delete,
  // and before it deletes anything: no purge without its audit.
  absl::StatusOr<PurgeResult> out =
      store.PurgeDue(now, [&](const PurgeResult& due) -> absl::Status {
        if (due.provision_ids.empty() && due.receipt_ids.empty()) {
          return absl::OkStatus();
        }
        detail =
            absl::StrCat("provisions: ", absl::StrJoin(due.provision_ids, ","),
                         "; receipts: ", absl::StrJoin(due.receipt_ids, ","));
        refused =
            event(detail, static_cast<std::int64_t>(due.provision_ids.size() +
                                                    due.receipt_ids.size()));
        if (!refused.ok()) {
          return absl::UnavailableError(absl::StrCat(
              "purge of provision records stopped, nothing deleted: the "
              "audit sink refused the event: ",
              refused.message()));
        }
        audited = true;
        return absl::OkStatus();
      });
  if (!out.ok() && audited) {
    // The event said the records went; they did not. Best effort: the
    // purge failed either way.
    event(absl::StrCat("not_committed: ", detail), 0).IgnoreError();
  }
  return out;
}

// ---------------------------------------------------------------------------
// Reports

std::vector<MonitoringDueEntry> RecipientsDueForMonitoring(
    const RecipientRegistry& registry, absl::Time as_of,
    absl::Duration horizon) {
  std::vector<MonitoringDueEntry> out;
  for (const v1::Recipient& r : registry.proto().recipients()) {
    const absl::Time due = RecipientRegistry::MonitoringDue(r, as_of);
    if (due == absl::InfiniteFuture() || due > as_of + horizon) continue;
    out.push_back(
        MonitoringDueEntry{r.id(), r.name(), r.kind(), due, due <= as_of});
  }
  std::sort(out.begin(), out.end(),
            [](const MonitoringDueEntry& a, const MonitoringDueEntry& b) {
              return std::tie(a.due, a.recipient_id) <
                     std::tie(b.due, b.recipient_id);
            });
  return out;
}

absl::StatusOr<std::vector<ProvisionSummary>> ProvisionsPerRecipient(
    ProvisionRecordStore& store, absl::Time from, absl::Time to) {
  RecordFilter f;
  f.from = from;
  f.to = to;
  absl::StatusOr<v1::ProvisionHistory> h = store.Query(f);
  if (!h.ok()) return h.status();
  struct Acc {
    ProvisionSummary summary;
    std::set<std::string> subjects;
    std::set<std::string> categories;
  };
  std::map<std::string, Acc> by;
  for (const v1::ProvisionRecord& r : h->provisions()) {
    Acc& a = by[r.recipient_id()];
    a.summary.recipient_id = r.recipient_id();
    ++a.summary.provisions;
    a.summary.subject_records += r.subjects_size();
    a.subjects.insert(r.subjects().begin(), r.subjects().end());
    a.categories.insert(r.categories().begin(), r.categories().end());
  }
  std::vector<ProvisionSummary> out;
  out.reserve(by.size());
  for (auto& [id, a] : by) {
    a.summary.subjects = static_cast<std::int64_t>(a.subjects.size());
    a.summary.categories.assign(a.categories.begin(), a.categories.end());
    out.push_back(std::move(a.summary));
  }
  return out;
}

}  // namespace consentry
