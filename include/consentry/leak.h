// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: leak.h
// -----------------------------------------------------------------------------
//
// Analyses of the access log for the privacy officer: finding a leaker early
// (`DetectLeaks`, policy §6) and scoping a leak for the report that APPI
// Art. 26 requires (`ScopeLeak`).
//
// `DetectLeaks` learns, per accessor, a baseline from a past window of
// events (records reached per hour, purposes declared, denial rate, hours
// of the day it is active) and flags accessors whose recent events depart
// from their own baseline. Every access the log records counts: reads,
// provisions to recipients and acquisitions (each distinct subject once an
// hour), the records a statistics batch included, and the subjects of
// request effects. `LiveLeakDetector` applies the same bulk-read threshold
// to events as a service records them and calls an alert hook the hour an
// accessor crosses it. `ScopeLeak` counts the subjects and data
// categories that an accessor (or a set of records) reached in a window,
// says which legal reporting triggers are met, and computes the report
// deadlines.
//
// Both take events as values, e.g. from `AuditLogReader`.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<consentry::AuditLogReader>> reader =
//       consentry::AuditLogReader::Open(dir);
//   if (!reader.ok()) return reader.status();
//   const absl::Duration day = absl::Hours(24);
//   absl::StatusOr<std::vector<consentry::OwnedAuditEvent>> past =
//       (*reader)->InTimeRange(now - 28 * day, now - day);
//   absl::StatusOr<std::vector<consentry::OwnedAuditEvent>> recent =
//       (*reader)->InTimeRange(now - day, now);
//   if (!past.ok()) return past.status();
//   if (!recent.ok()) return recent.status();
//   consentry::LeakReport report = consentry::DetectLeaks(*past, *recent);
//   for (const consentry::LeakFinding& f : report.findings) {
//     std::cout << f.accessor << "\n";
//   }
//
//   // Live, inside the service: between the Guard and its sink.
//   consentry::LiveLeakDetector live(
//       report.baselines, [](const consentry::LeakFinding& f) {
//         std::cerr << "leak alert: " << f.detail << "\n";
//       });
//   consentry::LeakAlertingSink sink(&live, &audit_log);
//   // ... pass &sink to the Guard as its audit sink.
//
//   consentry::LeakScopeQuery q;
//   q.accessors = {"ops-7"};
//   q.from = now - day;
//   q.to = now;
//   q.aware_at = now;
//   absl::StatusOr<consentry::LeakScope> scope =
//       consentry::ScopeLeak(*recent, q);
//   if (!scope.ok()) return scope.status();
//   std::cout << scope->Summary();

#ifndef CONSENTRY_LEAK_H_
#define CONSENTRY_LEAK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "consentry/audit.h"
#include "consentry/export.h"

namespace consentry {

// Thresholds of `DetectLeaks`, with their defaults.
struct LeakDetectionOptions {
  // Hours are bucketed and "hour of day" read in this zone (Japan: UTC+9).
  absl::TimeZone time_zone = absl::FixedTimeZone(9 * 3600);
  // Bulk read: an hour with more records reached than all of
  //   baseline mean + records_sigma * stddev,
  //   records_ratio * the baseline's busiest hour, and
  //   min_records_per_hour.
  // Records reached in an hour: the distinct subjects of its reads,
  // provisions, acquisitions and request effects, plus the records its
  // statistics batches included.
  double records_sigma = 4.0;
  double records_ratio = 3.0;
  std::int64_t min_records_per_hour = 50;
  // Denial spike: the recent denial rate (over reads, provisions and
  // acquisitions) exceeds the baseline rate by this much (absolute), over
  // at least `min_events_for_rate` recent such decisions.
  double denial_rate_increase = 0.2;
  std::int64_t min_events_for_rate = 20;
  // Flag purposes the accessor never declared in the baseline.
  bool flag_new_purposes = true;
  // Flag activity in an hour of the day the accessor was never active in
  // the baseline, when that hour has at least this many events.
  bool flag_new_hours = true;
  std::int64_t min_events_new_hour = 5;
};

// One accessor's usual behaviour.
struct AccessorBaseline {
  std::string accessor;
  std::int64_t events = 0;           // events that count (see above)
  std::int64_t active_hours = 0;     // hours (buckets) with any event
  double mean_records_per_hour = 0;  // over active hours
  double stddev_records_per_hour = 0;
  std::int64_t max_records_per_hour = 0;
  double denial_rate = 0;
  std::vector<std::string> purposes;  // sorted
  std::uint32_t hours_of_day = 0;     // bit h: active at hour h (local)
};

enum class LeakSignal : std::uint8_t {
  kBulkRead = 0,     // far more records reached in an hour than usual
  kNewPurpose = 1,   // a purpose the accessor never declared before
  kDenialSpike = 2,  // many more denials than usual (probing)
  kUnusualHour = 3,  // activity at an hour of day never seen before
  kNoBaseline = 4,   // an accessor with no history at all
};

// Stable snake_case name, e.g. "bulk_read".
CONSENTRY_EXPORT absl::string_view LeakSignalName(LeakSignal s);

struct LeakFinding {
  std::string accessor;
  LeakSignal signal = LeakSignal::kBulkRead;
  absl::Time hour = absl::InfinitePast();  // the hour bucket, if any
  double observed = 0;                     // e.g. records reached that hour
  double expected = 0;                     // the threshold it exceeded
  std::string detail;
};

struct LeakReport {
  std::vector<AccessorBaseline> baselines;  // sorted by accessor
  std::vector<LeakFinding> findings;        // sorted by accessor, signal
  // True if any finding names `accessor`.
  bool Flags(absl::string_view accessor) const;
};

// Learns baselines from `baseline_events` and checks `recent_events`
// against them. Reads, provisions, acquisitions, statistics batches and
// request effects count; restriction lifts and purges do not. Pure
// function; thread-safe.
CONSENTRY_EXPORT LeakReport
DetectLeaks(absl::Span<const OwnedAuditEvent> baseline_events,
            absl::Span<const OwnedAuditEvent> recent_events,
            const LeakDetectionOptions& options = LeakDetectionOptions());

// The records an hour may reach before `baseline`'s accessor is flagged for
// a bulk read (the maximum of the three bounds of `LeakDetectionOptions`).
CONSENTRY_EXPORT double BulkReadThreshold(const AccessorBaseline& baseline,
                                          const LeakDetectionOptions& options);

// Called once per accessor and hour, the moment its records reached in that
// hour cross its threshold: a `kBulkRead` finding (`hour`, `observed`,
// `expected`, `detail`). Runs on the thread that recorded the event, outside
// the detector's locks; keep it short (hand the finding to a queue, page
// someone) and do not record audit events from it.
using LeakAlertHook = std::function<void(const LeakFinding&)>;

// Bulk-read detection on events as they are recorded. Each accessor's
// records reached in the current hour (hour buckets of the event times, in
// UTC; the zone does not matter for a whole hour) are counted and compared
// with `BulkReadThreshold` of its baseline; an accessor without a baseline
// is held to `min_records_per_hour`. An event older than its accessor's
// current hour is not counted (events arrive in near time order; the
// offline `DetectLeaks` sees every one). Memory: per accessor, at most
// threshold + 1 subjects of the current hour.
//
// Thread-safe: `Observe` may be called from every recording thread at
// once; accessors are spread over independently locked shards.
class CONSENTRY_EXPORT LiveLeakDetector {
 public:
  LiveLeakDetector(std::vector<AccessorBaseline> baselines, LeakAlertHook hook,
                   LeakDetectionOptions options = LeakDetectionOptions());
  ~LiveLeakDetector();
  LiveLeakDetector(const LiveLeakDetector&) = delete;
  LiveLeakDetector& operator=(const LiveLeakDetector&) = delete;

  // Counts `event` (the kinds `DetectLeaks` counts; others are ignored) and
  // calls the hook when it takes its accessor across the threshold.
  void Observe(const AuditEvent& event);

  // Alerts raised so far.
  std::int64_t alerts() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An `AuditSink` that records each event in `next` and, once `next` took
// it, shows it to `detector`: an event `next` refused was never an access
// (the Guard denied it), so it does not count. Both must outlive the sink.
// Thread-safe. The Guard hands this sink every decision through `Record`
// (it has no compact path), so reads take the Guard's general audit path.
class CONSENTRY_EXPORT LeakAlertingSink final : public AuditSink {
 public:
  LeakAlertingSink(LiveLeakDetector* detector, AuditSink* next);
  absl::Status Record(const AuditEvent& event) override;

 private:
  LiveLeakDetector* detector_;
  AuditSink* next_;
};

// Reporting triggers of APPI Art. 26(1) as the Enforcement Rules (Art. 7)
// list them, plus the telecom-sector guideline's rule for secrecy of
// communications.
enum class ReportTrigger : std::uint8_t {
  // Rules Art. 7(i): special-care-required personal information (health and
  // measurement data among it).
  kSpecialCareData = 0,
  // Rules Art. 7(ii): data whose misuse may cause property damage (e.g.
  // card numbers). Declared by the caller: the log cannot judge it.
  kPropertyDamageRisk = 1,
  // Rules Art. 7(iii): a leak possibly made for a wrongful purpose (insider
  // theft, unauthorised access). Declared by the caller.
  kWrongfulPurpose = 2,
  // Rules Art. 7(iv): more than 1,000 persons affected.
  kMoreThan1000Subjects = 3,
  // Telecom-sector guideline: a leak of data under secrecy of
  // communications is reported to the Minister of Internal Affairs and
  // Communications whatever its size.
  kSecrecyOfCommunications = 4,
};

// The trigger's legal reference and wording, e.g. "APPI Enforcement Rules
// Art. 7(iv): more than 1,000 persons affected".
CONSENTRY_EXPORT absl::string_view ReportTriggerName(ReportTrigger t);

// What to scope. Events match when their accessor is in `accessors` (or
// `accessors` is empty), their record_ref is in `record_refs` (or it is
// empty), and their time is in [from, to). At least one of `accessors` and
// `record_refs` must be given.
struct LeakScopeQuery {
  std::vector<std::string> accessors;
  std::vector<std::string> record_refs;
  absl::Time from = absl::InfinitePast();
  absl::Time to = absl::InfiniteFuture();
  // When the business operator became aware of the leak: deadlines run
  // from here.
  absl::Time aware_at = absl::InfinitePast();
  // Count only data that went out: allowed reads and provisions, and shadow
  // denials (the read went through). Denied reads exposed nothing.
  bool exposed_only = true;
  bool wrongful_purpose = false;      // caller's judgement (Rules Art. 7(iii))
  bool property_damage_risk = false;  // caller's judgement (Rules Art. 7(ii))
  std::vector<std::string> special_care_categories = {"measurement"};
  std::vector<std::string> communication_secrecy_categories = {"communication"};
  // Deadlines are counted in calendar days in this zone (Japan: UTC+9).
  absl::TimeZone time_zone = absl::FixedTimeZone(9 * 3600);
  // The preliminary report is due "promptly"; the PPC guideline reads that
  // as about 3 to 5 days from awareness. We take the strict end: 3.
  int preliminary_days = 3;
  // The final report: 30 days from awareness, 60 when a wrongful purpose
  // is suspected (Rules Art. 8(2)).
  int final_days = 30;
  int final_days_wrongful_purpose = 60;
};

struct LeakScope {
  std::int64_t events = 0;
  std::vector<std::string> subjects;    // affected subjects, sorted
  std::vector<std::string> categories;  // data categories reached, sorted
  std::vector<std::string> accessors;   // who reached them, sorted
  std::vector<ReportTrigger> triggers;  // met triggers, ascending
  bool report_required() const { return !triggers.empty(); }
  // Deadlines: the end (23:59:59.999...) of the N-th calendar day in the
  // query's zone, counting the day of awareness as day 1 (the stricter of
  // the readings). InfiniteFuture when no report is required.
  absl::Time preliminary_deadline = absl::InfiniteFuture();
  absl::Time final_deadline = absl::InfiniteFuture();
  // A few lines for the privacy officer, naming each trigger.
  std::string Summary() const;
};

// Scopes a leak over `events`. Errors: `kInvalidArgument` when neither
// accessors nor record_refs are given, when `from >= to`, or when
// `aware_at` is not set. Pure function; thread-safe.
CONSENTRY_EXPORT absl::StatusOr<LeakScope> ScopeLeak(
    absl::Span<const OwnedAuditEvent> events, const LeakScopeQuery& query);

}  // namespace consentry

#endif  // CONSENTRY_LEAK_H_
