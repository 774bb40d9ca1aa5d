// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/policy_scheduler.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "consentry/v1/policy.pb.h"
#include "src/util/mutex.h"

namespace consentry {
namespace {

absl::Time EffectiveTime(const CompiledPolicy& p) {
  const auto& t = p.proto().effective_time();
  if (t.seconds() == 0 && t.nanos() == 0) return absl::InfinitePast();
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

}  // namespace

struct PolicyScheduler::Impl {
  Guard* guard = nullptr;
  std::function<absl::Time()> clock;
  bool real_clock = true;

  mutable internal::Mutex mu;
  internal::CondVar cv;
  // Sorted by effective time.
  std::vector<std::shared_ptr<const CompiledPolicy>> scheduled
      ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::thread thread;

  // Waits up to `d` or until stopping.
  void WaitFor(absl::Duration d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    cv.WaitFor(&mu, std::chrono::nanoseconds(absl::ToInt64Nanoseconds(d)),
               [this]() {
                 mu.AssertHeld();
                 return stopping;
               });
  }

  // The background thread: applies each policy when due, on the real clock.
  void Run() ABSL_LOCKS_EXCLUDED(mu) {
    internal::MutexLock held(&mu);
    while (!stopping) {
      if (scheduled.empty()) {
        cv.Wait(&mu, [this]() {
          mu.AssertHeld();
          return stopping || !scheduled.empty();
        });
        continue;
      }
      const absl::Duration wait =
          EffectiveTime(*scheduled.front()) - absl::Now();
      if (wait > absl::ZeroDuration()) {
        WaitFor(std::min(wait, absl::Seconds(1)));
        continue;
      }
      std::shared_ptr<const CompiledPolicy> due = scheduled.front();
      scheduled.erase(scheduled.begin());
      mu.Unlock();
      // A failed switch (store unreachable) is retried a second later.
      absl::Status s = guard->SetPolicy(due);
      mu.Lock();
      if (!s.ok()) {
        scheduled.insert(scheduled.begin(), std::move(due));
        WaitFor(absl::Seconds(1));
      }
    }
  }
};

absl::StatusOr<std::unique_ptr<PolicyScheduler>> PolicyScheduler::Create(
    Guard* guard, std::function<absl::Time()> clock) {
  if (guard == nullptr) {
    return absl::InvalidArgumentError("PolicyScheduler::Create: guard is null");
  }
  auto impl = std::make_unique<Impl>();
  impl->guard = guard;
  impl->real_clock = !clock;
  impl->clock = clock ? std::move(clock) : [] { return absl::Now(); };
  return std::unique_ptr<PolicyScheduler>(new PolicyScheduler(std::move(impl)));
}

PolicyScheduler::PolicyScheduler(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

PolicyScheduler::~PolicyScheduler() {
  {
    internal::MutexLock lock(&impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.NotifyAll();
  if (impl_->thread.joinable()) impl_->thread.join();
}

absl::Status PolicyScheduler::Schedule(
    std::shared_ptr<const CompiledPolicy> policy) {
  if (policy == nullptr) {
    return absl::InvalidArgumentError("PolicyScheduler: policy is null");
  }
  if (EffectiveTime(*policy) <= impl_->clock()) {
    return impl_->guard->SetPolicy(std::move(policy));
  }
  internal::MutexLock lock(&impl_->mu);
  impl_->scheduled.push_back(std::move(policy));
  std::stable_sort(impl_->scheduled.begin(), impl_->scheduled.end(),
                   [](const auto& a, const auto& b) {
                     return EffectiveTime(*a) < EffectiveTime(*b);
                   });
  if (impl_->real_clock && !impl_->thread.joinable()) {
    Impl* impl = impl_.get();
    impl_->thread = std::thread([impl] { impl->Run(); });
  }
  impl_->cv.NotifyAll();
  return absl::OkStatus();
}

absl::StatusOr<int> PolicyScheduler::ApplyDue() {
  int applied = 0;
  for (;;) {
    std::shared_ptr<const CompiledPolicy> due;
    {
      internal::MutexLock lock(&impl_->mu);
      if (impl_->scheduled.empty() ||
          EffectiveTime(*impl_->scheduled.front()) > impl_->clock()) {
        return applied;
      }
      due = impl_->scheduled.front();
      impl_->scheduled.erase(impl_->scheduled.begin());
    }
    absl::Status s = impl_->guard->SetPolicy(due);
    if (!s.ok()) {
      internal::MutexLock lock(&impl_->mu);
      impl_->scheduled.insert(impl_->scheduled.begin(), std::move(due));
      return s;
    }
    ++applied;
  }
}

std::size_t PolicyScheduler::pending() const {
  internal::MutexLock lock(&impl_->mu);
  return impl_->scheduled.size();
}

}  // namespace consentry
