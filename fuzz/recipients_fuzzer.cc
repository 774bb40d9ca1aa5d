// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Parses a recipient registry (consentry.v1.RecipientRegistry, as
// `consentctl recipients` reads it), validates it against the default
// policy, and checks the monitoring report and `ProvisionDesk::Provide` against
// a recomputation of their documented rules (consentry/recipients.h).
//
// Input: byte 0 chooses the form ('0' text, '1' JSON, '2' binary; see
// fuzz_support.h); the next `kControlSize` bytes (FuzzedDataProvider)
// choose the clock, the consent and restrictions of two subjects, the
// contexts and records to provide; the rest is the registry document.
//
// Properties:
//   * a parse error is `kInvalidArgument` and leaves the message empty (no
//     partial registry); a validation error is `kInvalidArgument` naming
//     `recipients[i]`;
//   * a parsed registry round-trips through binary, text and (when JSON can
//     print it) JSON, and validates the same way after each; JSON can print
//     every valid registry (its times and durations are in range);
//   * a valid registry holds only entries with the fields the header
//     requires (ids unique and well formed, names, purposes, a vetting time
//     when approved, a consent purpose for third parties, a monitoring
//     interval for contractors, a country code for foreign third parties),
//     and `Find` gives each entry by its id and nothing for other ids;
//   * `StatusAt` and `MonitoringDue` agree with a recomputation from the
//     entry's timestamps, at the entry's own boundaries and at random times;
//   * `RecipientsDueForMonitoring` lists exactly the recipients due by
//     `as_of + horizon`, earliest first, with `overdue` exactly when due at
//     or before `as_of`, and agrees with `StatusAt`;
//   * `ProvisionDesk::Provide` refuses every record for a recipient that is not
//     vetted, failed its latest monitoring or is overdue, or one of whose
//     sub-contractors (down the chain) is, or for a purpose it does not
//     serve; otherwise
//     each record's reason is the first failing step of the documented
//     order (the read check, a stop of third-party provision, provision
//     consent, specific consent for secrecy of communications), recomputed
//     from the consent the fuzzer itself wrote; the outcome lists every
//     record once, a provision record exists exactly when something was
//     provided and names the provided subjects and categories, and one
//     `kProvision` audit event is written per record.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/options.h"
#include "consentry/proto_io.h"
#include "consentry/provision.h"
#include "consentry/recipients.h"
#include "consentry/v1/policy.pb.h"
#include "consentry/v1/recipient.pb.h"
#include "fuzz/fuzz_support.h"
#include "google/protobuf/util/message_differencer.h"

namespace consentry::fuzz {
namespace {

using google::protobuf::util::MessageDifferencer;

constexpr std::size_t kControlSize = 24;
const char* const kSubjects[] = {"s-a", "s-b"};
constexpr int kMaxProvided = 4;  // recipients provided to per input

const std::shared_ptr<const CompiledPolicy>& PolicyPtr() {
  static const auto* p =
      new std::shared_ptr<const CompiledPolicy>(DefaultPolicy());
  return *p;
}
const CompiledPolicy& Policy() { return *PolicyPtr(); }

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Duration DurationOf(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// The monitoring result that counts at `as_of`: the latest by time at or
// before it, the later listed on a tie.
const v1::MonitoringResult* Latest(const v1::Recipient& r, absl::Time as_of) {
  const v1::MonitoringResult* latest = nullptr;
  for (const v1::MonitoringResult& m : r.monitoring_results()) {
    if (TimeOf(m.time()) > as_of) continue;
    if (latest == nullptr || TimeOf(m.time()) >= TimeOf(latest->time())) {
      latest = &m;
    }
  }
  return latest;
}

// When `r` falls due for monitoring, from the header's words: the later of
// the last monitoring and the latest result (or the vetting, if never
// monitored) plus the interval; never without a positive interval.
absl::Time Due(const v1::Recipient& r,
               absl::Time as_of = absl::InfiniteFuture()) {
  if (!r.has_monitoring_interval() ||
      DurationOf(r.monitoring_interval()) <= absl::ZeroDuration()) {
    return absl::InfiniteFuture();
  }
  absl::Time base = absl::InfinitePast();
  if (r.has_last_monitored_time()) {
    base = TimeOf(r.last_monitored_time());
  } else if (r.has_vetted_time()) {
    base = TimeOf(r.vetted_time());
  }
  if (const v1::MonitoringResult* m = Latest(r, as_of);
      m != nullptr && (!r.has_last_monitored_time() ||
                       TimeOf(m->time()) > TimeOf(r.last_monitored_time()))) {
    base = TimeOf(m->time());
  }
  return base + DurationOf(r.monitoring_interval());
}

// Whether `r` may receive data at `now`, from the header's words.
Reason Status(const v1::Recipient& r, absl::Time now) {
  const bool vetted =
      r.vetting_status() == v1::VETTING_STATUS_APPROVED &&
      r.has_vetted_time() && TimeOf(r.vetted_time()) <= now &&
      !(r.has_vetting_expiry() && TimeOf(r.vetting_expiry()) <= now);
  if (!vetted) return Reason::kRecipientNotVetted;
  if (const v1::MonitoringResult* m = Latest(r, now);
      m != nullptr && m->outcome() == v1::MONITORING_OUTCOME_FAILED) {
    return Reason::kRecipientMonitoringFailed;
  }
  if (Due(r, now) <= now) return Reason::kRecipientMonitoringOverdue;
  return Reason::kUnspecified;
}

// `Status` over the entrustment chain, recursively, depth first in the
// order listed; a sub-contractor without a registry entry is not vetted.
Reason ChainStatus(const v1::RecipientRegistry& reg, const v1::Recipient& r,
                   absl::Time now, std::set<std::string>& seen) {
  if (!seen.insert(r.id()).second) return Reason::kUnspecified;
  if (Reason st = Status(r, now); st != Reason::kUnspecified) return st;
  for (const v1::SubContractor& sub : r.contract().subcontractors()) {
    const v1::Recipient* next = nullptr;
    for (const v1::Recipient& x : reg.recipients()) {
      if (!sub.recipient_id().empty() && x.id() == sub.recipient_id()) {
        next = &x;
      }
    }
    if (next == nullptr) return Reason::kRecipientNotVetted;
    if (Reason st = ChainStatus(reg, *next, now, seen);
        st != Reason::kUnspecified) {
      return st;
    }
  }
  return Reason::kUnspecified;
}

std::string Show(const v1::Recipient& r) { return r.ShortDebugString(); }

// The purpose ids from `id` up to its root, from the policy document.
std::vector<std::string> SelfAndAncestors(const std::string& id) {
  std::map<std::string, std::string> parent;
  for (const v1::Purpose& p : Policy().proto().purposes()) {
    parent[p.id()] = p.parent();
  }
  std::vector<std::string> out;
  std::string at = id;
  while (!at.empty() && parent.contains(at) && out.size() < 64) {
    out.push_back(at);
    at = parent[at];
  }
  return out;
}

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 128 || id[0] < 'a' || id[0] > 'z') {
    return false;
  }
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

class Harness {
 public:
  Harness(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return;
    format_ = FormatFromByte(data[0]);
    const std::size_t control = std::min(size - 1, kControlSize);
    control_.assign(data + 1, data + 1 + control);
    control_.resize(kControlSize, 0);
    document_.assign(reinterpret_cast<const char*>(data) + 1 + control,
                     size - 1 - control);
  }

  void Run() {
    v1::RecipientRegistry proto;
    // A parse error must leave nothing of this behind.
    proto.add_recipients()->set_id("sentinel");
    const absl::Status parsed =
        ParseMessage(document_, format_, proto, "fuzz-registry");
    if (!parsed.ok()) {
      CONSENTRY_FUZZ_CHECK(parsed.code() == absl::StatusCode::kInvalidArgument,
                           parsed.ToString());
      CONSENTRY_FUZZ_CHECK(proto.ByteSizeLong() == 0,
                           "a failed parse left " + proto.ShortDebugString());
      return;
    }
    absl::StatusOr<std::unique_ptr<const RecipientRegistry>> registry =
        RecipientRegistry::Create(proto, Policy());
    CheckRoundTrip(proto, registry.status());
    if (!registry.ok()) {
      CONSENTRY_FUZZ_CHECK(
          registry.status().code() == absl::StatusCode::kInvalidArgument &&
              absl::StartsWith(registry.status().message(),
                               "recipient registry: recipients["),
          registry.status().ToString());
      return;
    }
    CheckValid(**registry);
    FuzzedDataProvider in(control_.data(), control_.size());
    const absl::Time now = PickTime(in, (*registry)->proto());
    CheckStatus(**registry, now);
    CheckReport(**registry, now, in);
    Provide(**registry, now, in);
  }

 private:
  void CheckRoundTrip(const v1::RecipientRegistry& parsed,
                      const absl::Status& created) {
    v1::RecipientRegistry known = parsed;
    known.DiscardUnknownFields();  // text and JSON cannot carry them
    for (WireFormat f :
         {WireFormat::kBinary, WireFormat::kText, WireFormat::kJson}) {
      const v1::RecipientRegistry& proto =
          f == WireFormat::kBinary ? parsed : known;
      absl::StatusOr<std::string> out = SerializeMessage(proto, f);
      if (!out.ok()) {
        // JSON cannot print timestamps and durations outside their valid
        // range, which a valid registry does not hold.
        CONSENTRY_FUZZ_CHECK(f == WireFormat::kJson && !created.ok(),
                             absl::StrCat(out.status().ToString(), " for ",
                                          proto.ShortDebugString()));
        continue;
      }
      v1::RecipientRegistry back;
      const absl::Status s = ParseMessage(*out, f, back, "round-trip");
      CONSENTRY_FUZZ_CHECK(s.ok(), absl::StrCat(s.ToString(), " on ", *out));
      std::string diff;
      MessageDifferencer differ;
      differ.ReportDifferencesToString(&diff);
      CONSENTRY_FUZZ_CHECK(differ.Compare(proto, back),
                           absl::StrCat("round trip changed: ", diff));
      absl::StatusOr<std::unique_ptr<const RecipientRegistry>> again =
          RecipientRegistry::Create(back, Policy());
      CONSENTRY_FUZZ_CHECK(
          again.status() == created,
          absl::StrCat(again.status().ToString(), " vs ", created.ToString()));
    }
  }

  // What a valid registry must hold (necessary conditions from the
  // header's list of errors).
  void CheckValid(const RecipientRegistry& registry) {
    std::set<std::string> ids;
    for (const v1::Recipient& r : registry.proto().recipients()) {
      const std::string what = Show(r);
      CONSENTRY_FUZZ_CHECK(ValidId(r.id()), what);
      CONSENTRY_FUZZ_CHECK(ids.insert(r.id()).second, "duplicate " + r.id());
      CONSENTRY_FUZZ_CHECK(!r.name().empty(), what);
      CONSENTRY_FUZZ_CHECK(
          r.kind() >= v1::RECIPIENT_KIND_CONTRACTOR &&
              r.kind() <= v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY,
          what);
      CONSENTRY_FUZZ_CHECK(
          r.vetting_status() >= v1::VETTING_STATUS_PENDING &&
              r.vetting_status() <= v1::VETTING_STATUS_SUSPENDED,
          what);
      if (r.vetting_status() == v1::VETTING_STATUS_APPROVED) {
        CONSENTRY_FUZZ_CHECK(r.has_vetted_time(), what);
      }
      CONSENTRY_FUZZ_CHECK(r.purposes_size() > 0, what);
      for (const std::string& p : r.purposes()) {
        CONSENTRY_FUZZ_CHECK(Policy().FindPurpose(p).ok(), what);
      }
      if (!r.consent_purpose().empty()) {
        CONSENTRY_FUZZ_CHECK(Policy().FindPurpose(r.consent_purpose()).ok(),
                             what);
      }
      if (r.has_monitoring_interval()) {
        CONSENTRY_FUZZ_CHECK(
            DurationOf(r.monitoring_interval()) >= absl::ZeroDuration(), what);
      }
      switch (r.kind()) {
        case v1::RECIPIENT_KIND_CONTRACTOR:
          CONSENTRY_FUZZ_CHECK(r.has_contract() &&
                                   !r.contract().contract_ref().empty() &&
                                   r.contract().safety_measures_size() > 0 &&
                                   Due(r) != absl::InfiniteFuture(),
                               what);
          CONSENTRY_FUZZ_CHECK(r.contract().subcontracting_allowed() ||
                                   r.contract().subcontractors_size() == 0,
                               what);
          break;
        case v1::RECIPIENT_KIND_JOINT_USER:
          CONSENTRY_FUZZ_CHECK(r.joint_use().data_items_size() > 0 &&
                                   !r.joint_use().responsible_party().empty(),
                               what);
          CONSENTRY_FUZZ_CHECK(r.country().empty(), what);
          break;
        case v1::RECIPIENT_KIND_THIRD_PARTY:
          CONSENTRY_FUZZ_CHECK(!r.consent_purpose().empty(), what);
          CONSENTRY_FUZZ_CHECK(r.country().empty(), what);
          break;
        case v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY:
          CONSENTRY_FUZZ_CHECK(!r.consent_purpose().empty(), what);
          CONSENTRY_FUZZ_CHECK(r.country().size() == 2, what);
          CONSENTRY_FUZZ_CHECK(
              r.foreign_basis() >=
                      v1::FOREIGN_TRANSFER_BASIS_EQUIVALENT_COUNTRY &&
                  r.foreign_basis() <=
                      v1::FOREIGN_TRANSFER_BASIS_CONSENT_WITH_INFORMATION,
              what);
          if (r.foreign_basis() ==
              v1::FOREIGN_TRANSFER_BASIS_EQUIVALENT_COUNTRY) {
            CONSENTRY_FUZZ_CHECK(IsEquivalentSystemCountry(r.country()), what);
          }
          break;
        default:
          break;
      }
      const v1::Recipient* found = registry.Find(r.id());
      CONSENTRY_FUZZ_CHECK(found != nullptr && found->id() == r.id(), what);
    }
    for (const char* other : {"", "sentinel-x", "zzzz"}) {
      if (!ids.contains(other)) {
        CONSENTRY_FUZZ_CHECK(registry.Find(other) == nullptr, other);
      }
    }
  }

  // The clock: a recipient's own boundary (vetting time, expiry, due time),
  // give or take a nanosecond, or a time from the control bytes.
  absl::Time PickTime(FuzzedDataProvider& in,
                      const v1::RecipientRegistry& proto) {
    std::vector<absl::Time> marks = {absl::FromUnixSeconds(1'790'000'000)};
    for (const v1::Recipient& r : proto.recipients()) {
      if (r.has_vetted_time()) marks.push_back(TimeOf(r.vetted_time()));
      if (r.has_vetting_expiry()) marks.push_back(TimeOf(r.vetting_expiry()));
      for (const v1::MonitoringResult& m : r.monitoring_results()) {
        marks.push_back(TimeOf(m.time()));
      }
      const absl::Time due = Due(r);
      if (due != absl::InfiniteFuture() && due != absl::InfinitePast()) {
        marks.push_back(due);
      }
    }
    absl::Time t =
        marks[in.ConsumeIntegralInRange<std::size_t>(0, marks.size() - 1)];
    t += absl::Nanoseconds(in.ConsumeIntegralInRange<int>(-1, 1));
    if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
      t = absl::FromUnixSeconds(
          in.ConsumeIntegralInRange<std::int64_t>(0, 4'000'000'000));
    }
    // The Guard's clock must be a time the audit log can record.
    if (t < absl::UnixEpoch()) t = absl::UnixEpoch();
    if (t > absl::FromUnixSeconds(253'402'300'799)) {
      t = absl::FromUnixSeconds(253'402'300'799);
    }
    return t;
  }

  void CheckStatus(const RecipientRegistry& registry, absl::Time now) {
    for (const v1::Recipient& r : registry.proto().recipients()) {
      const absl::Time due = RecipientRegistry::MonitoringDue(r);
      CONSENTRY_FUZZ_CHECK(
          due == Due(r), absl::StrCat(absl::FormatTime(due), " vs ",
                                      absl::FormatTime(Due(r)), ": ", Show(r)));
      CONSENTRY_FUZZ_CHECK(
          RecipientRegistry::MonitoringDue(r, now) == Due(r, now),
          absl::StrCat("MonitoringDue as of ", absl::FormatTime(now), ": ",
                       Show(r)));
      for (absl::Time t : {now, due, due - absl::Nanoseconds(1)}) {
        CONSENTRY_FUZZ_CHECK(
            RecipientRegistry::StatusAt(r, t) == Status(r, t),
            absl::StrCat("StatusAt ", absl::FormatTime(t), ": ", Show(r)));
      }
    }
  }

  void CheckReport(const RecipientRegistry& registry, absl::Time as_of,
                   FuzzedDataProvider& in) {
    static const absl::Duration kHorizons[] = {
        absl::ZeroDuration(), absl::Hours(24), absl::Hours(24 * 90),
        absl::InfiniteDuration()};
    const absl::Duration horizon =
        kHorizons[in.ConsumeIntegralInRange<std::size_t>(0, 3)];
    const std::vector<MonitoringDueEntry> report =
        RecipientsDueForMonitoring(registry, as_of, horizon);
    std::map<std::string, const v1::Recipient*> expected;
    for (const v1::Recipient& r : registry.proto().recipients()) {
      const absl::Time due = Due(r, as_of);
      if (due != absl::InfiniteFuture() && due <= as_of + horizon) {
        expected[r.id()] = &r;
      }
      // The report and the provision check agree on who is overdue.
      if (Status(r, as_of) == Reason::kRecipientMonitoringOverdue) {
        CONSENTRY_FUZZ_CHECK(expected.contains(r.id()), Show(r));
      }
    }
    CONSENTRY_FUZZ_CHECK(
        report.size() == expected.size(),
        absl::StrCat(report.size(), " due, expected ", expected.size()));
    for (std::size_t i = 0; i < report.size(); ++i) {
      const MonitoringDueEntry& e = report[i];
      auto it = expected.find(e.recipient_id);
      CONSENTRY_FUZZ_CHECK(it != expected.end(), e.recipient_id);
      const v1::Recipient& r = *it->second;
      CONSENTRY_FUZZ_CHECK(e.due == Due(r, as_of) && e.name == r.name() &&
                               e.kind == r.kind() &&
                               e.overdue == (Due(r, as_of) <= as_of),
                           Show(r));
      if (i > 0) {
        const MonitoringDueEntry& p = report[i - 1];
        CONSENTRY_FUZZ_CHECK(p.due < e.due || (p.due == e.due &&
                                               p.recipient_id < e.recipient_id),
                             "report not sorted by due time and id");
      }
      // An overdue recipient is refused: as overdue, unless a rule that
      // comes first (not vetted, a failed latest monitoring) refuses it.
      if (e.overdue) {
        const Reason st = RecipientRegistry::StatusAt(r, as_of);
        CONSENTRY_FUZZ_CHECK(
            st == Status(r, as_of) && st != Reason::kUnspecified, Show(r));
      }
    }
  }

  // ---- Provide ------------------------------------------------------------

  // The consent the fuzzer wrote: (subject, purpose) -> state.
  using ConsentMap =
      std::map<std::pair<std::string, std::string>, v1::ConsentState>;

  bool Given(const ConsentMap& m, const std::string& subject,
             const std::string& purpose, bool direct) const {
    bool given = false;
    for (const std::string& a : SelfAndAncestors(purpose)) {
      auto it = m.find({subject, a});
      if (it == m.end()) continue;
      if (it->second == v1::CONSENT_STATE_REFUSED ||
          it->second == v1::CONSENT_STATE_WITHDRAWN) {
        return false;  // a refusal or withdrawal above covers it
      }
      if (it->second == v1::CONSENT_STATE_GIVEN && (!direct || a == purpose)) {
        given = true;
      }
    }
    return given;
  }

  // Purposes a subject's consent may name: not per-occasion ones, whose
  // consent is kept apart.
  std::vector<std::string> ConsentablePurposes() const {
    std::vector<std::string> out;
    const CompiledPolicy& p = Policy();
    for (int i = 0; i < p.purpose_count(); ++i) {
      const auto pu = static_cast<PurposeIndex>(i);
      if (!p.per_occasion().Contains(pu)) {
        out.emplace_back(p.purpose_id(pu));
      }
    }
    return out;
  }

  void Provide(const RecipientRegistry& registry, absl::Time now,
               FuzzedDataProvider& in) {
    if (registry.proto().recipients_size() == 0) return;
    InMemoryConsentStore store;
    InMemoryAuditSink audit;
    InMemoryProvisionRecordStore records;
    GuardOptions options;
    options.clock = [now] { return now; };
    if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
      options.mode = EnforcementMode::kShadow;  // must not matter
    }
    absl::StatusOr<std::unique_ptr<Guard>> g =
        Guard::Create(PolicyPtr(), &store, &audit, options);
    CONSENTRY_FUZZ_CHECK(g.ok(), g.status().ToString());
    Guard& guard = **g;
    const CompiledPolicy& policy = *guard.policy();

    // Consent to a few purposes, mostly provision ones; restrictions.
    const std::vector<std::string> purposes = ConsentablePurposes();
    ConsentMap consent;
    std::map<std::string, bool> stopped;
    const int changes = in.ConsumeIntegralInRange<int>(0, 6);
    for (int i = 0; i < changes; ++i) {
      v1::ConsentChange c;
      c.set_subject_id(kSubjects[in.ConsumeIntegralInRange<std::size_t>(0, 1)]);
      std::string purpose;
      if (in.ConsumeBool()) {
        // A recipient's consent purpose or an ancestor of it.
        const v1::Recipient& r =
            registry.proto().recipients(in.ConsumeIntegralInRange<int>(
                0, registry.proto().recipients_size() - 1));
        const std::vector<std::string> up =
            SelfAndAncestors(r.consent_purpose());
        purpose =
            up.empty()
                ? purposes[0]
                : up[in.ConsumeIntegralInRange<std::size_t>(0, up.size() - 1)];
      } else {
        purpose = purposes[in.ConsumeIntegralInRange<std::size_t>(
            0, purposes.size() - 1)];
      }
      if (policy.per_occasion().Contains(*policy.FindPurpose(purpose))) {
        continue;
      }
      c.mutable_purpose_consent()->set_purpose(purpose);
      const auto state =
          static_cast<v1::ConsentState>(in.ConsumeIntegralInRange<int>(1, 3));
      c.mutable_purpose_consent()->set_state(state);
      absl::StatusOr<Revision> rev = store.Apply(c);
      CONSENTRY_FUZZ_CHECK(rev.ok(), rev.status().ToString());
      consent[{c.subject_id(), purpose}] = state;
    }
    for (const char* s : kSubjects) {
      const int r = in.ConsumeIntegralInRange<int>(0, 7);
      if (r >= 3) continue;
      v1::ConsentChange c;
      c.set_subject_id(s);
      c.mutable_restrictions()->set_third_party_provision_stopped(r == 0 ||
                                                                  r == 2);
      c.mutable_restrictions()->set_suspend_all(r == 2);
      absl::StatusOr<Revision> rev = store.Apply(c);
      CONSENTRY_FUZZ_CHECK(rev.ok(), rev.status().ToString());
      stopped[s] = r == 0 || r == 2;
    }

    const int n = std::min(registry.proto().recipients_size(), kMaxProvided);
    for (int i = 0; i < n && in.remaining_bytes() > 0; ++i) {
      const v1::Recipient& r =
          registry.proto().recipients(in.ConsumeIntegralInRange<int>(
              0, registry.proto().recipients_size() - 1));
      ProvideTo(guard, registry, r, now, consent, stopped, audit, records, in);
    }
  }

  void ProvideTo(Guard& guard, const RecipientRegistry& registry,
                 const v1::Recipient& r, absl::Time now,
                 const ConsentMap& consent,
                 const std::map<std::string, bool>& stopped,
                 InMemoryAuditSink& audit,
                 InMemoryProvisionRecordStore& records,
                 FuzzedDataProvider& in) {
    const CompiledPolicy& policy = *guard.policy();
    // Mostly a purpose the recipient serves (one of its own or below).
    std::string purpose;
    if (in.ConsumeIntegralInRange<int>(0, 3) != 0) {
      purpose =
          r.purposes(in.ConsumeIntegralInRange<int>(0, r.purposes_size() - 1));
      std::vector<std::string> below;
      for (const v1::Purpose& p : policy.proto().purposes()) {
        if (p.parent() == purpose) below.push_back(p.id());
      }
      if (!below.empty() && in.ConsumeBool()) {
        purpose =
            below[in.ConsumeIntegralInRange<std::size_t>(0, below.size() - 1)];
      }
    } else {
      purpose = std::string(policy.purpose_id(static_cast<PurposeIndex>(
          in.ConsumeIntegralInRange<int>(0, policy.purpose_count() - 1))));
    }
    const PurposeIndex pu = *policy.FindPurpose(purpose);
    // An accessor that may declare it, when there is one.
    AccessorIndex accessor = 0;
    for (int a = 0; a < policy.accessor_count(); ++a) {
      if (policy.declarable_by(static_cast<AccessorIndex>(a)).Contains(pu)) {
        accessor = static_cast<AccessorIndex>(a);
        break;
      }
    }
    const std::string occasion =
        policy.per_occasion().Contains(pu) ? "occ-1" : "";
    absl::StatusOr<AccessContext> ctx =
        guard.Context(policy.accessor_id(accessor), purpose, occasion);
    CONSENTRY_FUZZ_CHECK(ctx.ok(), ctx.status().ToString());

    std::vector<RecordTags> tags;
    const int count = in.ConsumeIntegralInRange<int>(1, 3);
    for (int i = 0; i < count; ++i) {
      const std::string subject =
          kSubjects[in.ConsumeIntegralInRange<std::size_t>(0, 1)];
      const std::string category(policy.category_id(static_cast<CategoryIndex>(
          in.ConsumeIntegralInRange<int>(0, policy.category_count() - 1))));
      const absl::string_view collected_for[] = {purpose};
      absl::StatusOr<RecordTags> t = guard.Tag(subject, category, collected_for,
                                               {}, absl::StrCat("rec-", i));
      CONSENTRY_FUZZ_CHECK(t.ok(), t.status().ToString());
      tags.push_back(*std::move(t));
    }

    // The expected reason of each record, step by step.
    std::set<std::string> chain_seen;
    const Reason recipient_reason =
        ChainStatus(registry.proto(), r, now, chain_seen);
    bool serves = false;
    for (const std::string& a : SelfAndAncestors(purpose)) {
      for (const std::string& p : r.purposes()) serves = serves || p == a;
    }
    std::vector<Reason> expected;
    for (const RecordTags& t : tags) {
      if (recipient_reason != Reason::kUnspecified) {
        expected.push_back(recipient_reason);
        continue;
      }
      if (!serves) {
        expected.push_back(Reason::kNotAllowedByPolicy);
        continue;
      }
      absl::StatusOr<Decision> read = guard.Check(*ctx, t);
      CONSENTRY_FUZZ_CHECK(read.ok(), read.status().ToString());
      if (!read->allowed()) {
        expected.push_back(read->reason());
        continue;
      }
      const bool third_party =
          r.kind() == v1::RECIPIENT_KIND_THIRD_PARTY ||
          r.kind() == v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY;
      const bool direct_only =
          r.kind() == v1::RECIPIENT_KIND_FOREIGN_THIRD_PARTY &&
          r.foreign_basis() ==
              v1::FOREIGN_TRANSFER_BASIS_CONSENT_WITH_INFORMATION;
      const bool given_direct =
          !r.consent_purpose().empty() &&
          Given(consent, t.subject(), r.consent_purpose(), /*direct=*/true);
      auto st = stopped.find(t.subject());
      if (third_party && st != stopped.end() && st->second) {
        expected.push_back(Reason::kProvisionStopped);
        continue;
      }
      if (third_party &&
          !Given(consent, t.subject(), r.consent_purpose(), direct_only)) {
        expected.push_back(Reason::kNoProvisionConsent);
        continue;
      }
      const CategoryIndex c = *policy.FindCategory(t.category());
      if (policy.requires_specific_consent(c)) {
        const bool exempt = r.kind() == v1::RECIPIENT_KIND_CONTRACTOR &&
                            r.contract().confidentiality() &&
                            policy.basis(c, pu) == Basis::kNecessary;
        if (!exempt && !given_direct) {
          expected.push_back(Reason::kNoSpecificConsent);
          continue;
        }
      }
      expected.push_back(third_party ? Reason::kAllowedConsent
                                     : read->reason());
    }

    const std::size_t events_before = audit.size();
    absl::StatusOr<v1::ProvisionHistory> before =
        HistoryForRecipient(records, r.id());
    CONSENTRY_FUZZ_CHECK(before.ok(), before.status().ToString());
    absl::StatusOr<std::unique_ptr<ProvisionDesk>> desk =
        ProvisionDesk::Create(&guard, &registry, &records);
    CONSENTRY_FUZZ_CHECK(desk.ok(), desk.status().ToString());
    absl::StatusOr<ProvisionOutcome> out = (*desk)->Provide(*ctx, r.id(), tags);
    CONSENTRY_FUZZ_CHECK(out.ok(), out.status().ToString());
    const std::string what =
        absl::StrCat("provide to ", Show(r), " for ", purpose, " at ",
                     absl::FormatTime(now));

    // Every record once, in order, with the expected reason.
    std::vector<Reason> got(tags.size(), Reason::kUnspecified);
    std::vector<int> seen(tags.size(), 0);
    std::set<std::string> subjects, categories;
    for (std::size_t i : out->provided) {
      CONSENTRY_FUZZ_CHECK(i < tags.size(), what);
      ++seen[i];
      got[i] = expected[i];  // allowed: compared below
      CONSENTRY_FUZZ_CHECK(IsAllowingReason(expected[i]),
                           absl::StrCat("record ", i, " provided, expected ",
                                        ReasonName(expected[i]), ": ", what));
      subjects.insert(tags[i].subject());
      categories.insert(std::string(tags[i].category()));
    }
    for (const BatchDenial& d : out->denied) {
      CONSENTRY_FUZZ_CHECK(d.index < tags.size(), what);
      ++seen[d.index];
      CONSENTRY_FUZZ_CHECK(
          !d.decision.allowed() && d.decision.reason() == expected[d.index],
          absl::StrCat("record ", d.index, " refused with ",
                       ReasonName(d.decision.reason()), ", expected ",
                       ReasonName(expected[d.index]), ": ", what));
    }
    for (int s : seen) CONSENTRY_FUZZ_CHECK(s == 1, what);
    CONSENTRY_FUZZ_CHECK(
        std::is_sorted(out->provided.begin(), out->provided.end()), what);

    // The provision record: exactly when something was given.
    absl::StatusOr<v1::ProvisionHistory> after =
        HistoryForRecipient(records, r.id());
    CONSENTRY_FUZZ_CHECK(after.ok(), after.status().ToString());
    const int added = after->provisions_size() - before->provisions_size();
    CONSENTRY_FUZZ_CHECK(added == (out->provided.empty() ? 0 : 1), what);
    CONSENTRY_FUZZ_CHECK(out->record_id.empty() == out->provided.empty(), what);
    if (added == 1) {
      const v1::ProvisionRecord* rec = nullptr;
      for (const v1::ProvisionRecord& p : after->provisions()) {
        if (p.id() == out->record_id) rec = &p;
      }
      CONSENTRY_FUZZ_CHECK(rec != nullptr, what);
      CONSENTRY_FUZZ_CHECK(rec->recipient_id() == r.id() &&
                               rec->purpose() == purpose &&
                               rec->recipient_kind() == r.kind(),
                           what);
      CONSENTRY_FUZZ_CHECK(
          std::set<std::string>(rec->subjects().begin(),
                                rec->subjects().end()) == subjects &&
              static_cast<std::size_t>(rec->subjects_size()) == subjects.size(),
          what);
      CONSENTRY_FUZZ_CHECK(
          std::set<std::string>(rec->categories().begin(),
                                rec->categories().end()) == categories,
          what);
    }

    // One provision event per record, after the read events.
    const std::vector<OwnedAuditEvent> events = audit.Events();
    std::size_t provision_events = 0;
    for (std::size_t i = events_before; i < events.size(); ++i) {
      if (events[i].action == AuditAction::kProvision) ++provision_events;
    }
    CONSENTRY_FUZZ_CHECK(provision_events == tags.size(), what);
  }

  WireFormat format_ = WireFormat::kText;
  std::vector<std::uint8_t> control_;
  std::string document_;
};

}  // namespace
}  // namespace consentry::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  consentry::fuzz::SilenceProtobufLogs();
  consentry::fuzz::Policy();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  consentry::fuzz::Harness harness(data, size);
  harness.Run();
  return 0;
}
