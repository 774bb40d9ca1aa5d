// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: statistics.h
// -----------------------------------------------------------------------------
//
// The statistics path (purpose 6 of the source policy: statistical analysis
// of measurement data). Statistics need the measurements, not the people:
//
//   * `Pseudonymizer` turns a subject id into a keyed pseudonym
//     (HMAC-SHA256 under a key the integrator holds), rotated by period, so
//     rows of one period link to each other but not to the person nor to
//     other periods (APPI Art. 41 pseudonymized information).
//   * `StatisticsView` yields only records of the measurement category, of
//     subjects whose consent and basis allow the statistics purpose, keyed
//     by pseudonym; the subject id is not in its output, and identity or
//     contact records are refused. One audit event covers the batch, with
//     how many subjects were included and excluded and why.
//   * `CohortAggregator` computes count, mean and percentiles per cohort and
//     suppresses cohorts with fewer distinct subjects than the policy's
//     `statistics.min_cohort_size`.
//
// Example:
//
//   auto pseudo = consentry::Pseudonymizer::Create(key, absl::Hours(24 * 30));
//   auto view = consentry::StatisticsView::Create(guard, "statistics-job",
//                                                 *std::move(pseudo));
//   auto batch = view->Select<Weighing>(records, absl::Now());
//   consentry::CohortAggregator agg(guard.policy()->min_cohort_size());
//   for (const auto& row : batch->rows()) {
//     agg.Add(row.value->age_band, row.pseudonym, row.value->kg);
//   }
//   for (const consentry::CohortStat& c : agg.Finish()) {
//     if (!c.suppressed) std::cout << c.cohort << ": " << c.mean << "\n";
//   }

#ifndef CONSENTRY_STATISTICS_H_
#define CONSENTRY_STATISTICS_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "consentry/export.h"
#include "consentry/guard.h"
#include "consentry/protected.h"

namespace consentry {

// Keyed, period-rotated pseudonyms. Immutable; safe to share.
class CONSENTRY_EXPORT Pseudonymizer {
 public:
  // `key`: at least 32 bytes of secret the integrator holds (never stored
  // with the data). `period`: how long a pseudonym stays the same; periods
  // are counted from `epoch`.
  // Errors: `kInvalidArgument` for a short key or a non-positive period.
  static absl::StatusOr<Pseudonymizer> Create(
      std::string key, absl::Duration period,
      absl::Time epoch = absl::UnixEpoch());

  // The pseudonym of `subject` in the period containing `at`: 32 lowercase
  // hex digits (128 bits of HMAC-SHA256 over the period number and id).
  std::string For(absl::string_view subject, absl::Time at) const;
  // The period number containing `at`.
  std::int64_t PeriodIndex(absl::Time at) const;

 private:
  Pseudonymizer(std::string key, absl::Duration period, absl::Time epoch)
      : key_(std::move(key)), period_(period), epoch_(epoch) {}

  std::string key_;
  absl::Duration period_;
  absl::Time epoch_;
};

// One row of a statistics batch: a pseudonym and a view of the measurement
// (valid while the input records live).
template <typename T>
struct PseudonymousRow {
  std::string pseudonym;
  const T* value;
};

// The result of `StatisticsView::Select`. Move-only; thread-compatible.
template <typename T>
class StatisticsBatch {
 public:
  StatisticsBatch(StatisticsBatch&&) noexcept = default;
  StatisticsBatch& operator=(StatisticsBatch&&) noexcept = default;

  const std::vector<PseudonymousRow<T>>& rows() const { return rows_; }
  // Distinct subjects whose records are in `rows()`, and left out.
  std::int64_t included_subjects() const { return included_subjects_; }
  std::int64_t excluded_subjects() const { return excluded_subjects_; }
  // Records left out, per reason.
  const std::map<Reason, std::int64_t>& exclusions() const {
    return exclusions_;
  }

 private:
  friend class StatisticsView;
  StatisticsBatch() = default;

  std::vector<PseudonymousRow<T>> rows_;
  std::int64_t included_subjects_ = 0;
  std::int64_t excluded_subjects_ = 0;
  std::map<Reason, std::int64_t> exclusions_;
};

// A purpose-bound, pseudonymous view of measurement records. Thread-safe
// (it holds no mutable state). REQUIRES: the Guard outlives the view.
class CONSENTRY_EXPORT StatisticsView {
 public:
  // Errors: `kNotFound` for an unknown accessor, purpose or category.
  static absl::StatusOr<StatisticsView> Create(
      Guard& guard, absl::string_view accessor, Pseudonymizer pseudonymizer,
      absl::string_view purpose = "statistics.measurement",
      absl::string_view category = "measurement");

  // The records of `records` that may be used for the view's purpose, keyed
  // by their pseudonym for the period containing `at`. One audit event
  // records the batch.
  //
  // Errors: `kInvalidArgument` when a record is not of the view's category
  // (identity or contact data never passes through a statistics view;
  // nothing is returned); `kUnavailable` on store or audit outage.
  template <typename T>
  absl::StatusOr<StatisticsBatch<T>> Select(
      absl::Span<const Protected<T>> records, absl::Time at) const {
    std::vector<const RecordTags*> tags;
    tags.reserve(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (records[i].tags().category() != category_id_) {
        return absl::InvalidArgumentError(
            absl::StrCat("statistics view: record ", i, " has category '",
                         records[i].tags().category(), "'; only '",
                         category_id_, "' data passes through this view"));
      }
      tags.push_back(&records[i].tags());
    }
    absl::StatusOr<BatchGrant> grant = guard_->AuthorizeBatch(
        context_, tags,
        absl::StrCat("statistics period ", pseudonymizer_.PeriodIndex(at)));
    if (!grant.ok()) return grant.status();
    StatisticsBatch<T> out;
    out.rows_.reserve(records.size());
    absl::flat_hash_set<absl::string_view> in, out_subjects;
    absl::string_view last_subject;
    std::string last_pseudonym;
    for (std::size_t i = 0; i < records.size(); ++i) {
      const Decision& d = grant->decisions()[i];
      if (!d.allowed()) {
        ++out.exclusions_[d.reason()];
        out_subjects.insert(records[i].tags().subject());
        continue;
      }
      const std::string& subject = records[i].tags().subject();
      in.insert(subject);
      // A subject's records usually come together: reuse its pseudonym.
      if (subject != last_subject) {  // ids are never empty
        last_pseudonym = pseudonymizer_.For(subject, at);
        last_subject = subject;
      }
      absl::StatusOr<const T*> value = records[i].Read(*grant, i);
      if (!value.ok()) return value.status();
      out.rows_.push_back(PseudonymousRow<T>{last_pseudonym, *value});
    }
    for (absl::string_view s : in) out_subjects.erase(s);
    out.included_subjects_ = static_cast<std::int64_t>(in.size());
    out.excluded_subjects_ = static_cast<std::int64_t>(out_subjects.size());
    return out;
  }

 private:
  StatisticsView(Guard& guard, AccessContext context, std::string category,
                 Pseudonymizer pseudonymizer)
      : guard_(&guard),
        context_(std::move(context)),
        category_id_(std::move(category)),
        pseudonymizer_(std::move(pseudonymizer)) {}

  Guard* guard_;
  AccessContext context_;
  std::string category_id_;
  Pseudonymizer pseudonymizer_;
};

// Count, mean and percentiles for one cohort.
struct CohortStat {
  std::string cohort;
  std::int64_t subjects = 0;  // distinct pseudonyms
  std::int64_t values = 0;
  // True when `subjects` is below the minimum; then no statistic is given.
  bool suppressed = false;
  double mean = 0;
  double p10 = 0;
  double p50 = 0;
  double p90 = 0;
};

// Aggregates values per cohort with a minimum cohort size. Thread-compatible.
class CONSENTRY_EXPORT CohortAggregator {
 public:
  // `min_cohort_size` is the policy's (`CompiledPolicy::min_cohort_size`);
  // values below 1 are treated as 1.
  explicit CohortAggregator(int min_cohort_size);

  void Add(absl::string_view cohort, absl::string_view pseudonym, double value);

  // One entry per cohort, sorted by cohort name. Suppressed cohorts carry
  // only their name, their counts and `suppressed`.
  std::vector<CohortStat> Finish() const;

 private:
  struct Cohort {
    absl::flat_hash_set<std::string> subjects;
    std::vector<double> values;
  };
  int min_cohort_size_;
  std::map<std::string, Cohort> cohorts_;
};

}  // namespace consentry

#endif  // CONSENTRY_STATISTICS_H_
