// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/statistics.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/base/internal/endian.h"

namespace consentry {

absl::StatusOr<Pseudonymizer> Pseudonymizer::Create(std::string key,
                                                    absl::Duration period,
                                                    absl::Time epoch) {
  if (key.size() < 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pseudonym key: ", key.size(), " bytes; at least 32 are required"));
  }
  if (period <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("pseudonym period must be positive");
  }
  return Pseudonymizer(std::move(key), period, epoch);
}

std::int64_t Pseudonymizer::PeriodIndex(absl::Time at) const {
  absl::Duration rem;
  const std::int64_t q = absl::IDivDuration(at - epoch_, period_, &rem);
  return rem < absl::ZeroDuration() ? q - 1 : q;  // floor, also before epoch
}

std::string Pseudonymizer::For(absl::string_view subject, absl::Time at) const {
  // HMAC-SHA256(key, "consentry.v1.pseudonym" || period (8 bytes, big
  // endian) || subject), truncated to 128 bits.
  static constexpr char kLabel[] = "consentry.v1.pseudonym";
  std::string msg;
  msg.reserve(sizeof(kLabel) + 8 + subject.size());
  msg.append(kLabel, sizeof(kLabel));
  const auto period = static_cast<std::uint64_t>(PeriodIndex(at));
  for (int i = 7; i >= 0; --i) {
    msg.push_back(static_cast<char>((period >> (8 * i)) & 0xFF));
  }
  msg.append(subject.data(), subject.size());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac,
       &mac_len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[static_cast<std::size_t>(2 * i)] = kHex[mac[i] >> 4];
    out[static_cast<std::size_t>(2 * i + 1)] = kHex[mac[i] & 0xF];
  }
  return out;
}

absl::StatusOr<StatisticsView> StatisticsView::Create(
    Guard& guard, absl::string_view accessor, Pseudonymizer pseudonymizer,
    absl::string_view purpose, absl::string_view category) {
  absl::StatusOr<AccessContext> ctx = guard.Context(accessor, purpose);
  if (!ctx.ok()) return ctx.status();
  absl::StatusOr<CategoryRef> cat = guard.Category(category);
  if (!cat.ok()) return cat.status();
  return StatisticsView(guard, *std::move(ctx), std::string(category),
                        std::move(pseudonymizer));
}

CohortAggregator::CohortAggregator(int min_cohort_size)
    : min_cohort_size_(std::max(1, min_cohort_size)) {}

void CohortAggregator::Add(absl::string_view cohort,
                           absl::string_view pseudonym, double value) {
  Cohort& c = cohorts_[std::string(cohort)];
  c.subjects.insert(std::string(pseudonym));
  c.values.push_back(value);
}

namespace {

// Nearest-rank percentile of sorted `v`.
double Percentile(const std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const auto rank =
      static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace

std::vector<CohortStat> CohortAggregator::Finish() const {
  std::vector<CohortStat> out;
  for (const auto& [name, c] : cohorts_) {
    CohortStat s;
    s.cohort = name;
    s.subjects = static_cast<std::int64_t>(c.subjects.size());
    s.values = static_cast<std::int64_t>(c.values.size());
    s.suppressed = s.subjects < min_cohort_size_;
    if (!s.suppressed && !c.values.empty()) {
      std::vector<double> v = c.values;
      std::sort(v.begin(), v.end());
      double sum = 0;
      for (double x : v) sum += x;
      s.mean = sum / static_cast<double>(v.size());
      s.p10 = Percentile(v, 0.10);
      s.p50 = Percentile(v, 0.50);
      s.p90 = Percentile(v, 0.90);
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace consentry
