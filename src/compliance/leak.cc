// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/leak.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "src/util/mutex.h"

namespace consentry {
namespace {

constexpr std::int64_t kHourNanos = 3'600'000'000'000;

std::int64_t HourBucket(std::int64_t t) {
  return t >= 0 ? t / kHourNanos : (t - kHourNanos + 1) / kHourNanos;
}

// How an event counts toward its accessor's records reached.
enum class Counts { kNot, kSubject, kBatch };

template <typename Event>
Counts HowItCounts(const Event& e) {
  switch (e.action) {
    case AuditAction::kRead:
    case AuditAction::kProvision:
    case AuditAction::kAcquire:
      return Counts::kSubject;
    case AuditAction::kRequest:
      return e.subject.empty() ? Counts::kNot : Counts::kSubject;
    case AuditAction::kBatch:
      return Counts::kBatch;
    case AuditAction::kRestrictionLifted:
    case AuditAction::kRecordsPurged:
      break;
  }
  return Counts::kNot;
}

// A decision on one subject's data, in the denial rate.
template <typename Event>
bool IsDecision(const Event& e) {
  return e.action == AuditAction::kRead ||
         e.action == AuditAction::kProvision ||
         e.action == AuditAction::kAcquire;
}

// One accessor's hour: distinct subjects and records of batches.
struct Hour {
  absl::flat_hash_set<std::string> subjects;
  std::int64_t batch_records = 0;
  std::int64_t events = 0;
  std::int64_t records() const {
    return static_cast<std::int64_t>(subjects.size()) + batch_records;
  }
};

// Per accessor: its hours, and the rest.
struct Profile {
  absl::flat_hash_map<std::int64_t, Hour> hours;
  std::set<std::string> purposes;
  std::int64_t events = 0;
  std::int64_t decisions = 0;
  std::int64_t denials = 0;
};

std::map<std::string, Profile> Profiles(absl::Span<const OwnedAuditEvent> es) {
  std::map<std::string, Profile> out;
  for (const OwnedAuditEvent& e : es) {
    const Counts how = HowItCounts(e);
    if (how == Counts::kNot) continue;
    Profile& p = out[e.accessor];
    Hour& hour = p.hours[HourBucket(e.time_unix_nanos)];
    if (how == Counts::kSubject) {
      hour.subjects.insert(e.subject);
    } else if (e.records_included > 0) {
      hour.batch_records += e.records_included;
    }
    ++hour.events;
    p.purposes.insert(e.purpose);
    ++p.events;
    if (IsDecision(e)) {
      ++p.decisions;
      if (!e.allowed()) ++p.denials;
    }
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
  for (const auto& [h, hour] : p.hours) {
    const std::int64_t n = hour.records();
    sum += static_cast<double>(n);
    sq += static_cast<double>(n) * static_cast<double>(n);
    b.max_records_per_hour = std::max(b.max_records_per_hour, n);
    b.hours_of_day |= 1u << HourOfDay(h, tz);
  }
  if (b.active_hours > 0) {
    const auto k = static_cast<double>(b.active_hours);
    b.mean_records_per_hour = sum / k;
    b.stddev_records_per_hour = std::sqrt(std::max(
        0.0, sq / k - b.mean_records_per_hour * b.mean_records_per_hour));
  }
  b.denial_rate = p.decisions > 0 ? static_cast<double>(p.denials) /
                                        static_cast<double>(p.decisions)
                                  : 0.0;
  b.purposes.assign(p.purposes.begin(), p.purposes.end());
  return b;
}

// A bulk-read finding for `accessor`'s hour `bucket`: `subjects` distinct
// subjects and `batch_records` records of batches against `threshold`;
// `b` is its baseline, or null for an accessor without one.
LeakFinding BulkReadFinding(const std::string& accessor, std::int64_t bucket,
                            std::int64_t subjects, std::int64_t batch_records,
                            double threshold, const AccessorBaseline* b) {
  LeakFinding f;
  f.accessor = accessor;
  f.signal = LeakSignal::kBulkRead;
  f.hour = absl::FromUnixNanos(bucket * kHourNanos);
  f.observed = static_cast<double>(subjects + batch_records);
  f.expected = threshold;
  f.detail = absl::StrFormat(
      "%d records reached in one hour (%d distinct subjects, %d records of "
      "statistics batches); ",
      subjects + batch_records, subjects, batch_records);
  if (b != nullptr) {
    absl::StrAppend(
        &f.detail,
        absl::StrFormat("baseline mean %.1f, sd %.1f, busiest "
                        "hour %d",
                        b->mean_records_per_hour, b->stddev_records_per_hour,
                        b->max_records_per_hour));
  } else {
    absl::StrAppend(&f.detail,
                    absl::StrFormat("no baseline; threshold %.0f", threshold));
  }
  return f;
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
    const double threshold = BulkReadThreshold(b, o);
    std::vector<std::int64_t> hours;
    for (const auto& [h, hour] : r.hours) hours.push_back(h);
    std::sort(hours.begin(), hours.end());
    for (const std::int64_t h : hours) {
      const Hour& hour = r.hours.at(h);
      const auto n = static_cast<double>(hour.records());
      if (n > threshold) {
        report.findings.push_back(BulkReadFinding(
            accessor, h, static_cast<std::int64_t>(hour.subjects.size()),
            hour.batch_records, threshold, &b));
      }
      const int hod = HourOfDay(h, o.time_zone);
      if (o.flag_new_hours && (b.hours_of_day & (1u << hod)) == 0 &&
          hour.events >= o.min_events_new_hour) {
        LeakFinding f;
        f.accessor = accessor;
        f.signal = LeakSignal::kUnusualHour;
        f.hour = absl::FromUnixNanos(h * kHourNanos);
        f.observed = static_cast<double>(hour.events);
        f.detail = absl::StrCat(hour.events, " accesses at ", hod,
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
    if (r.decisions >= o.min_events_for_rate) {
      const double rate =
          static_cast<double>(r.denials) / static_cast<double>(r.decisions);
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

double BulkReadThreshold(const AccessorBaseline& b,
                         const LeakDetectionOptions& o) {
  return std::max(
      {b.mean_records_per_hour + o.records_sigma * b.stddev_records_per_hour,
       o.records_ratio * static_cast<double>(b.max_records_per_hour),
       static_cast<double>(o.min_records_per_hour)});
}

// ---------------------------------------------------------------------------
// LiveLeakDetector

namespace {

constexpr std::size_t kLiveShards = 16;

// One accessor's current hour.
struct LiveAccessor {
  const AccessorBaseline* baseline = nullptr;  // null: none
  double threshold = 0;
  std::int64_t bucket = std::numeric_limits<std::int64_t>::min();
  absl::flat_hash_set<std::string> subjects;
  std::int64_t batch_records = 0;
  bool alerted = false;
};

struct LiveShard {
  internal::Mutex mu;
  absl::flat_hash_map<std::string, LiveAccessor> accessors ABSL_GUARDED_BY(mu);
};

}  // namespace

struct LiveLeakDetector::Impl {
  std::vector<AccessorBaseline> baselines;  // sorted by accessor
  LeakAlertHook hook;
  LeakDetectionOptions options;
  std::array<LiveShard, kLiveShards> shards;
  std::atomic<std::int64_t> alerts{0};

  const AccessorBaseline* Find(absl::string_view accessor) const {
    auto it =
        std::lower_bound(baselines.begin(), baselines.end(), accessor,
                         [](const AccessorBaseline& b, absl::string_view a) {
                           return b.accessor < a;
                         });
    return it != baselines.end() && it->accessor == accessor ? &*it : nullptr;
  }
};

LiveLeakDetector::LiveLeakDetector(std::vector<AccessorBaseline> baselines,
                                   LeakAlertHook hook,
                                   LeakDetectionOptions options)
    : impl_(std::make_unique<Impl>()) {
  std::sort(baselines.begin(), baselines.end(),
            [](const AccessorBaseline& a, const AccessorBaseline& b) {
              return a.accessor < b.accessor;
            });
  impl_->baselines = std::move(baselines);
  impl_->hook = std::move(hook);
  impl_->options = std::move(options);
}

LiveLeakDetector::~LiveLeakDetector() = default;

std::int64_t LiveLeakDetector::alerts() const {
  return impl_->alerts.load(std::memory_order_relaxed);
}

void LiveLeakDetector::Observe(const AuditEvent& event) {
  const Counts how = HowItCounts(event);
  if (how == Counts::kNot) return;
  if (how == Counts::kBatch && event.records_included <= 0) return;
  const std::int64_t bucket = HourBucket(event.time_unix_nanos);
  LiveShard& shard = impl_->shards[absl::HashOf(event.accessor) % kLiveShards];
  std::optional<LeakFinding> alert;
  {
    internal::MutexLock lock(&shard.mu);
    auto [it, inserted] =
        shard.accessors.try_emplace(std::string(event.accessor));
    LiveAccessor& a = it->second;
    if (inserted) {
      a.baseline = impl_->Find(event.accessor);
      a.threshold =
          a.baseline != nullptr
              ? BulkReadThreshold(*a.baseline, impl_->options)
              : static_cast<double>(impl_->options.min_records_per_hour);
    }
    if (bucket < a.bucket) return;  // an older hour: not counted live
    if (bucket > a.bucket) {
      a.bucket = bucket;
      a.subjects.clear();
      a.batch_records = 0;
      a.alerted = false;
    }
    if (a.alerted) return;  // one alert per accessor and hour
    if (how == Counts::kSubject) {
      a.subjects.emplace(event.subject);
    } else {
      a.batch_records += event.records_included;
    }
    const auto subjects = static_cast<std::int64_t>(a.subjects.size());
    if (static_cast<double>(subjects + a.batch_records) <= a.threshold) return;
    a.alerted = true;
    alert = BulkReadFinding(it->first, bucket, subjects, a.batch_records,
                            a.threshold, a.baseline);
    a.subjects.clear();  // not needed again this hour
  }
  impl_->alerts.fetch_add(1, std::memory_order_relaxed);
  if (impl_->hook) impl_->hook(*alert);
}

LeakAlertingSink::LeakAlertingSink(LiveLeakDetector* detector, AuditSink* next)
    : detector_(detector), next_(next) {}

absl::Status LeakAlertingSink::Record(const AuditEvent& event) {
  absl::Status s = next_->Record(event);
  if (s.ok()) detector_->Observe(event);
  return s;
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
