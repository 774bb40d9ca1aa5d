// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Zipf-distributed ranks for the benchmarks that draw subjects by
// popularity (scale_benchmark, cache_policy_benchmark).

#ifndef CONSENTRY_BENCH_ZIPF_H_
#define CONSENTRY_BENCH_ZIPF_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

namespace consentry {

// Zipf(s) over ranks 1..n by rejection-inversion (Hörmann and Derflinger,
// "Rejection-inversion to generate variates from monotone discrete
// distributions", 1996): O(1) per draw, no table.
class Zipf {
 public:
  Zipf(std::uint32_t n, double s, std::uint64_t seed)
      : n_(n), s_(s), rng_(seed) {
    h_x1_ = HIntegral(1.5) - 1.0;
    h_n_ = HIntegral(static_cast<double>(n) + 0.5);
    cut_ = 2.0 - HIntegralInverse(HIntegral(2.5) - H(2.0));
  }
  // A rank in 1..n.
  std::uint32_t Next() {
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    for (;;) {
      const double u = h_n_ + u01(rng_) * (h_x1_ - h_n_);
      const double x = HIntegralInverse(u);
      double k = std::floor(x + 0.5);
      k = std::clamp(k, 1.0, static_cast<double>(n_));
      if (k - x <= cut_ || u >= HIntegral(k + 0.5) - H(k)) {
        return static_cast<std::uint32_t>(k);
      }
    }
  }

 private:
  double H(double x) const { return std::exp(-s_ * std::log(x)); }
  // expm1(x) / x and log1p(x) / x, continuous at 0.
  static double Helper2(double x) {
    return std::abs(x) > 1e-8 ? std::expm1(x) / x : 1.0 + x / 2.0;
  }
  static double Helper1(double x) {
    return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1.0 - x / 2.0;
  }
  double HIntegral(double x) const {
    const double lx = std::log(x);
    return Helper2((1.0 - s_) * lx) * lx;
  }
  double HIntegralInverse(double x) const {
    double t = x * (1.0 - s_);
    if (t < -1.0) t = -1.0;
    return std::exp(Helper1(t) * x);
  }

  std::uint32_t n_;
  double s_;
  std::mt19937_64 rng_;
  double h_x1_ = 0, h_n_ = 0, cut_ = 0;
};

}  // namespace consentry

#endif  // CONSENTRY_BENCH_ZIPF_H_
