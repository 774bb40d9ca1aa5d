// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/leak.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace consentry {
namespace {

constexpr std::int64_t kHourNanos = 3'600'000'000'000;

std::int64_t HourBucket(std::int64_t t) {
  return t >= 0 ? t / kHourNanos : (t - kHourNanos + 1) / kHourNanos;
}

// Per accessor: distinct subjects per hour bucket, and the rest.
struct Profile {
  absl::flat_hash_map<std::int64_t, absl::flat_hash_set<std::string>> hours;
  absl::flat_hash_map<std::int64_t, std::int64_t> hour_events;
  std::set<std::string> purposes;
  std::int64_t events = 0;
  std::int64_t denials = 0;
};

std::map<std::string, Profile> Profiles(absl::Span<const OwnedAuditEvent> es) {
  std::map<std::string, Profile> out;
  for (const OwnedAuditEvent& e : es) {
    if (e.action != AuditAction::kRead) continue;
    Profile& p = out[e.accessor];
    const std::int64_t h = HourBucket(e.time_unix_nanos);
    p.hours[h].insert(e.subject);
    ++p.hour_events[h];
    p.purposes.insert(e.purpose);
    ++p.events;
    if (!e.allowed()) ++p.denials;
  }
  return out;
}

int HourOfDay(std::int64_t bucket, const absl::TimeZone& tz) {
  return absl::ToCivilHour(absl::FromUnixNanos(bucket * kHourNanos), tz).hour();
}

AccessorBaseline Baseline(const std::string& accessor, const Profile& p,
                          const absl::TimeZone& tz) {
  AccessorBaseline b;
  b.accessor = accessor;
  b.events = p.events;
  b.active_hours = static_cast<std::int64_t>(p.hours.size());
  double sum = 0;
  double sq = 0;
  for (const auto& [h, subjects] : p.hours) {
    const auto n = static_cast<std::int64_t>(subjects.size());
    sum += static_cast<double>(n);
    sq += static_cast<double>(n) * static_cast<double>(n);
    b.max_subjects_per_hour = std::max(b.max_subjects_per_hour, n);
    b.hours_of_day |= 1u << HourOfDay(h, tz);
  }
  if (b.active_hours > 0) {
    const auto k = static_cast<double>(b.active_hours);
    b.mean_subjects_per_hour = sum / k;
    b.stddev_subjects_per_hour = std::sqrt(std::max(
        0.0, sq / k - b.mean_subjects_per_hour * b.mean_subjects_per_hour));
  }
  b.denial_rate = p.events > 0 ? static_cast<double>(p.denials) /
                                     static_cast<double>(p.events)
                               : 0.0;
  b.purposes.assign(p.purposes.begin(), p.purposes.end());
  return b;
}

absl::Time EndOfDay(absl::Time t, int day_number, const absl::TimeZone& tz) {
  // Day 1 is the day of `t`; the deadline is the end of day `day_number`.
  const absl::CivilDay day = absl::ToCivilDay(t, tz) + (day_number - 1);
  return absl::FromCivil(day + 1, tz) - absl::Nanoseconds(1);
}

}  // namespace

absl::string_view LeakSignalName(LeakSignal s) {
  switch (s) {
    case LeakSignal::kBulkRead:
      return "bulk_read";
    case LeakSignal::kNewPurpose:
      return "new_purpose";
    case LeakSignal::kDenialSpike:
      return "denial_spike";
    case LeakSignal::kUnusualHour:
      return "unusual_hour";
    case LeakSignal::kNoBaseline:
      return "no_baseline";
  }
  return "unknown";
}

bool LeakReport::Flags(absl::string_view accessor) const {
  return std::any_of(
      findings.begin(), findings.end(),
      [&](const LeakFinding& f) { return f.accessor == accessor; });
}

LeakReport DetectLeaks(absl::Span<const OwnedAuditEvent> baseline_events,
                       absl::Span<const OwnedAuditEvent> recent_events,
                       const LeakDetectionOptions& o) {
  LeakReport report;
  const std::map<std::string, Profile> past = Profiles(baseline_events);
  const std::map<std::string, Profile> recent = Profiles(recent_events);
  for (const auto& [accessor, p] : past) {
    report.baselines.push_back(Baseline(accessor, p, o.time_zone));
  }
  for (const auto& [accessor, r] : recent) {
    auto it = std::lower_bound(
        report.baselines.begin(), report.baselines.end(), accessor,
        [](const AccessorBaseline& b, const std::string& a) {
          return b.accessor < a;
        });
    if (it == report.baselines.end() || it->accessor != accessor) {
      LeakFinding f;
      f.accessor = accessor;
      f.signal = LeakSignal::kNoBaseline;
      f.observed = static_cast<double>(r.events);
      f.detail = absl::StrCat("no history before; ", r.events, " reads now");
      report.findings.push_back(std::move(f));
      continue;
    }
    const AccessorBaseline& b = *it;
    const double threshold = std::max(
        {b.mean_subjects_per_hour +
             o.subjects_sigma * b.stddev_subjects_per_hour,
         o.subjects_ratio * static_cast<double>(b.max_subjects_per_hour),
         static_cast<double>(o.min_subjects_per_hour)});
    std::vector<std::int64_t> hours;
    for (const auto& [h, subjects] : r.hours) hours.push_back(h);
    std::sort(hours.begin(), hours.end());
    for (const std::int64_t h : hours) {
      const auto n = static_cast<double>(r.hours.at(h).size());
      if (n > threshold) {
        LeakFinding f;
        f.accessor = accessor;
        f.signal = LeakSignal::kBulkRead;
        f.hour = absl::FromUnixNanos(h * kHourNanos);
        f.observed = n;
        f.expected = threshold;
        f.detail = absl::StrFormat(
            "%d distinct subjects in one hour; baseline mean %.1f, sd %.1f, "
            "busiest hour %d",
            static_cast<std::int64_t>(n), b.mean_subjects_per_hour,
            b.stddev_subjects_per_hour, b.max_subjects_per_hour);
        report.findings.push_back(std::move(f));
      }
      const int hod = HourOfDay(h, o.time_zone);
      if (o.flag_new_hours && (b.hours_of_day & (1u << hod)) == 0 &&
          r.hour_events.at(h) >= o.min_events_new_hour) {
        LeakFinding f;
        f.accessor = accessor;
        f.signal = LeakSignal::kUnusualHour;
        f.hour = absl::FromUnixNanos(h * kHourNanos);
        f.observed = static_cast<double>(r.hour_events.at(h));
        f.detail = absl::StrCat(r.hour_events.at(h), " reads at ", hod,
                                ":00, an hour never active before");
        report.findings.push_back(std::move(f));
      }
    }
    if (o.flag_new_purposes) {
      for (const std::string& purpose : r.purposes) {
        if (!std::binary_search(b.purposes.begin(), b.purposes.end(),
                                purpose)) {
          LeakFinding f;
          f.accessor = accessor;
          f.signal = LeakSignal::kNewPurpose;
          f.detail =
              absl::StrCat("declared '", purpose, "', never declared before");
          report.findings.push_back(std::move(f));
        }
      }
    }
    if (r.events >= o.min_events_for_rate) {
      const double rate =
          static_cast<double>(r.denials) / static_cast<double>(r.events);
      if (rate > b.denial_rate + o.denial_rate_increase) {
        LeakFinding f;
        f.accessor = accessor;
        f.signal = LeakSignal::kDenialSpike;
        f.observed = rate;
        f.expected = b.denial_rate + o.denial_rate_increase;
        f.detail = absl::StrFormat("denial rate %.2f against %.2f before", rate,
                                   b.denial_rate);
        report.findings.push_back(std::move(f));
      }
    }
  }
  std::stable_sort(report.findings.begin(), report.findings.end(),
                   [](const LeakFinding& a, const LeakFinding& b) {
                     return std::tie(a.accessor, a.signal) <
                            std::tie(b.accessor, b.signal);
                   });
  return report;
}

absl::string_view ReportTriggerName(ReportTrigger t) {
  switch (t) {
    case ReportTrigger::kSpecialCareData:
      return "APPI Enforcement Rules Art. 7(i): special-care-required personal "
             "information (health/measurement data) involved";
    case ReportTrigger::kPropertyDamageRisk:
      return "APPI Enforcement Rules Art. 7(ii): misuse may cause property "
             "damage";
    case ReportTrigger::kWrongfulPurpose:
      return "APPI Enforcement Rules Art. 7(iii): possibly leaked for a "
             "wrongful purpose";
    case ReportTrigger::kMoreThan1000Subjects:
      return "APPI Enforcement Rules Art. 7(iv): more than 1,000 persons "
             "affected";
    case ReportTrigger::kSecrecyOfCommunications:
      return "telecom-sector guideline: data under secrecy of communications "
             "involved";
  }
  return "unknown";
}

absl::StatusOr<LeakScope> ScopeLeak(absl::Span<const OwnedAuditEvent> events,
                                    const LeakScopeQuery& q) {
  if (q.accessors.empty() && q.record_refs.empty()) {
    return absl::InvalidArgumentError(
        "ScopeLeak: name the accessors or the records to scope");
  }
  if (q.from >= q.to) {
    return absl::InvalidArgumentError(
        absl::StrCat("ScopeLeak: empty window [", absl::FormatTime(q.from),
                     ", ", absl::FormatTime(q.to), ")"));
  }
  if (q.aware_at == absl::InfinitePast() ||
      q.aware_at == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError(
        "ScopeLeak: aware_at (when the leak became known) is not set");
  }
  const absl::flat_hash_set<std::string> accessors(q.accessors.begin(),
                                                   q.accessors.end());
  const absl::flat_hash_set<std::string> refs(q.record_refs.begin(),
                                              q.record_refs.end());
  const std::int64_t lo = absl::ToUnixNanos(q.from);
  const std::int64_t hi = absl::ToUnixNanos(q.to);
  std::set<std::string> subjects;
  std::set<std::string> categories;
  std::set<std::string> who;
  LeakScope scope;
  for (const OwnedAuditEvent& e : events) {
    if (e.time_unix_nanos < lo || e.time_unix_nanos >= hi) continue;
    if (!accessors.empty() && !accessors.contains(e.accessor)) continue;
    if (!refs.empty() && !refs.contains(e.record_ref)) continue;
    if (e.action == AuditAction::kRequest) continue;
    if (q.exposed_only && !e.allowed() && !e.shadow) continue;
    ++scope.events;
    subjects.insert(e.subject);
    categories.insert(e.category);
    who.insert(e.accessor);
  }
  scope.subjects.assign(subjects.begin(), subjects.end());
  scope.categories.assign(categories.begin(), categories.end());
  scope.accessors.assign(who.begin(), who.end());
  auto any_in = [&](const std::vector<std::string>& list) {
    return std::any_of(list.begin(), list.end(), [&](const std::string& c) {
      return categories.contains(c);
    });
  };
  if (any_in(q.special_care_categories)) {
    scope.triggers.push_back(ReportTrigger::kSpecialCareData);
  }
  if (q.property_damage_risk && scope.events > 0) {
    scope.triggers.push_back(ReportTrigger::kPropertyDamageRisk);
  }
  if (q.wrongful_purpose && scope.events > 0) {
    scope.triggers.push_back(ReportTrigger::kWrongfulPurpose);
  }
  if (scope.subjects.size() > 1000) {
    scope.triggers.push_back(ReportTrigger::kMoreThan1000Subjects);
  }
  if (any_in(q.communication_secrecy_categories)) {
    scope.triggers.push_back(ReportTrigger::kSecrecyOfCommunications);
  }
  if (scope.report_required()) {
    scope.preliminary_deadline =
        EndOfDay(q.aware_at, q.preliminary_days, q.time_zone);
    scope.final_deadline = EndOfDay(
        q.aware_at,
        q.wrongful_purpose ? q.final_days_wrongful_purpose : q.final_days,
        q.time_zone);
  }
  return scope;
}

std::string LeakScope::Summary() const {
  std::string out = absl::StrCat(
      subjects.size(), " subjects affected by ", events,
      " exposures; categories: ",
      categories.empty() ? "none" : absl::StrJoin(categories, ", "),
      "; accessors: ",
      accessors.empty() ? "none" : absl::StrJoin(accessors, ", "), "\n");
  if (!report_required()) {
    absl::StrAppend(&out, "no reporting trigger met\n");
    return out;
  }
  for (ReportTrigger t : triggers) {
    absl::StrAppend(&out, "trigger: ", ReportTriggerName(t), "\n");
  }
  const absl::TimeZone jst = absl::FixedTimeZone(9 * 3600);
  absl::StrAppend(
      &out, "preliminary report due by ",
      absl::FormatTime(absl::RFC3339_sec, preliminary_deadline, jst),
      "\nfinal report due by ",
      absl::FormatTime(absl::RFC3339_sec, final_deadline, jst), "\n");
  return out;
}

}  // namespace consentry
