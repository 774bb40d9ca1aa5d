// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Average weight change per age band over a period, computed on pseudonyms:
// the statistics job sees only measurement records of members who consented
// to statistical analysis, keyed by a monthly pseudonym, and age bands with
// fewer members than the policy's minimum cohort size are suppressed.
// The data is generated.
//
//   weight_statistics [--members=600] [--seed=7]

#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/protected.h"
#include "consentry/proto_io.h"
#include "consentry/statistics.h"

namespace {

// What a scale reports, with the coarse age band kept with it.
struct Weighing {
  std::string age_band;
  int day;  // day of the period
  double kg;
};

int Fail(const absl::Status& s) {
  std::cerr << "weight_statistics: " << s << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int members = 600;
  unsigned seed = 7;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--members=", 0) == 0) members = std::stoi(a.substr(10));
    if (a.rfind("--seed=", 0) == 0)
      seed = static_cast<unsigned>(std::stoul(a.substr(7)));
  }
  auto policy = consentry::LoadAndCompilePolicy(
      std::string(CONSENTRY_SOURCE_DIR) + "/policies/default.textproto");
  if (!policy.ok()) return Fail(policy.status());
  consentry::InMemoryConsentStore store;
  consentry::InMemoryAuditSink audit;
  auto guard = consentry::Guard::Create(*policy, &store, &audit);
  if (!guard.ok()) return Fail(guard.status());

  // Generated members: age band, consent (about 70% agree to statistics),
  // two weighings a month apart.
  std::mt19937 rng(seed);
  const std::vector<std::pair<std::string, double>> bands = {{"20-29", 0.30},
                                                             {"30-39", 0.30},
                                                             {"40-49", 0.25},
                                                             {"50-59", 0.13},
                                                             {"90-99", 0.02}};
  std::discrete_distribution<int> band_of({30, 30, 25, 13, 2});
  std::normal_distribution<double> start_kg(64, 9), drift(-0.4, 1.2);
  std::bernoulli_distribution consents(0.7);
  std::vector<consentry::Protected<Weighing>> records;
  for (int m = 0; m < members; ++m) {
    const std::string id = "member-" + std::to_string(10000 + m);
    const std::string& band =
        bands[static_cast<std::size_t>(band_of(rng))].first;
    consentry::v1::ConsentChange c;
    c.set_subject_id(id);
    c.mutable_purpose_consent()->set_purpose("statistics.measurement");
    c.mutable_purpose_consent()->set_state(
        consents(rng) ? consentry::v1::CONSENT_STATE_GIVEN
                      : consentry::v1::CONSENT_STATE_REFUSED);
    if (auto r = store.Apply(c); !r.ok()) return Fail(r.status());
    const double kg0 = start_kg(rng);
    for (auto [day, kg] :
         {std::pair{1, kg0}, std::pair{30, kg0 + drift(rng)}}) {
      auto tags = (*guard)->Tag(
          id, "measurement", {"service.operation", "statistics.measurement"});
      if (!tags.ok()) return Fail(tags.status());
      records.emplace_back(*std::move(tags), Weighing{band, day, kg});
    }
  }

  auto pseudonyms = consentry::Pseudonymizer::Create(
      "example key: keep the real one in a secret store!",
      absl::Hours(24 * 30));
  if (!pseudonyms.ok()) return Fail(pseudonyms.status());
  auto view = consentry::StatisticsView::Create(**guard, "statistics-job",
                                                *std::move(pseudonyms));
  if (!view.ok()) return Fail(view.status());
  auto batch = view->Select<Weighing>(records, absl::Now());
  if (!batch.ok()) return Fail(batch.status());

  // Change per pseudonym (first to last weighing), then per age band.
  std::map<std::string, std::pair<const Weighing*, const Weighing*>> span;
  for (const auto& row : batch->rows()) {
    auto& [first, last] = span[row.pseudonym];
    if (first == nullptr || row.value->day < first->day) first = row.value;
    if (last == nullptr || row.value->day > last->day) last = row.value;
  }
  consentry::CohortAggregator agg((*guard)->policy()->min_cohort_size());
  for (const auto& [pseudonym, fl] : span) {
    agg.Add(fl.first->age_band, pseudonym, fl.second->kg - fl.first->kg);
  }

  std::printf("Weight change over 30 days per age band (k = %d)\n",
              (*guard)->policy()->min_cohort_size());
  std::printf("  members included %lld, excluded %lld (",
              static_cast<long long>(batch->included_subjects()),
              static_cast<long long>(batch->excluded_subjects()));
  for (const auto& [reason, n] : batch->exclusions()) {
    std::printf("%lld records %s ", static_cast<long long>(n),
                std::string(consentry::ReasonName(reason)).c_str());
  }
  std::printf(")\n\n  %-8s %8s %10s %8s %8s %8s\n", "band", "members",
              "mean kg", "p10", "p50", "p90");
  for (const consentry::CohortStat& c : agg.Finish()) {
    if (c.suppressed) {
      std::printf("  %-8s %8s %10s   (suppressed: fewer than %d members)\n",
                  c.cohort.c_str(), "<k", "-",
                  (*guard)->policy()->min_cohort_size());
      continue;
    }
    std::printf("  %-8s %8lld %+10.2f %+8.2f %+8.2f %+8.2f\n", c.cohort.c_str(),
                static_cast<long long>(c.subjects), c.mean, c.p10, c.p50,
                c.p90);
  }
  std::printf("\n%zu audit event(s) for the batch: %s\n", audit.size(),
              audit.size() > 0 ? audit.Events().back().detail.c_str() : "");
  return 0;
}
