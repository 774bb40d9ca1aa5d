// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The change feed the durable stores share: the listener registry
// (`FeedDispatcher`), the one feed thread a store starts on its first
// `Watch`, the revision the feed has delivered up to, and the heartbeat
// (`FeedHeartbeat`). A store supplies how to read the changes after a
// revision and the loop its feed thread runs (SQLite polls, PostgreSQL
// waits for notifications); the start-up, the catch-up and the heartbeat
// are the same for both and live here.

#ifndef CONSENTRY_SRC_STORE_FEED_RUNNER_H_
#define CONSENTRY_SRC_STORE_FEED_RUNNER_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "consentry/consent.h"
#include "src/store/feed_dispatcher.h"
#include "src/util/mutex.h"

namespace consentry::internal {

// Thread-safe. The owning store joins the feed thread (`Join`) before its
// own state goes away.
class FeedRunner {
 public:
  // Reads committed records after a revision, in revision order, at most
  // one batch.
  using Fetch =
      absl::FunctionRef<absl::StatusOr<std::vector<v1::ConsentRecord>>(
          Revision after)>;

  FeedRunner() = default;
  FeedRunner(const FeedRunner&) = delete;
  FeedRunner& operator=(const FeedRunner&) = delete;
  ~FeedRunner() { Join(); }

  // Serializes discovery and delivery of changes (the store's writers
  // hold it across commit and delivery).
  Mutex& order_mu() ABSL_LOCK_RETURNED(feed_.order_mu()) {
    return feed_.order_mu();
  }

  // Hands records a writer of this process committed to every listener.
  void Deliver(const std::vector<v1::ConsentRecord>& records)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(order_mu()) {
    feed_.Deliver(records);
  }

  // Registers `listener`. The first call begins the feed at `latest()` (read
  // under the order mutex; from revision 0 when it fails: a full catch-up,
  // harmless to listeners), stamps the heartbeat and starts `loop` on the
  // feed thread. `latest` may take the store's own mutex.
  std::unique_ptr<Subscription> Watch(
      ConsentListener listener,
      absl::FunctionRef<absl::StatusOr<Revision>()> latest,
      std::function<void()> loop) {
    std::unique_ptr<Subscription> sub = feed_.Add(std::move(listener));
    {
      MutexLock lock(&start_mu_);
      if (started_) return sub;
      started_ = true;
    }
    {
      MutexLock order(&feed_.order_mu());
      absl::StatusOr<Revision> at = latest();
      delivered_ = at.ok() ? *at : 0;
    }
    heartbeat_ns_.store(absl::GetCurrentTimeNanos(), std::memory_order_release);
    thread_ = std::thread(std::move(loop));
    return sub;
  }

  // Delivers every change after the revision delivered so far, batch by
  // batch, then sets the heartbeat to the time before the first read: every
  // change committed by then has been delivered. A store reading a replica
  // passes `fresh_as_of`, set by `fetch`: the time up to which the snapshots
  // it read held every change; the heartbeat is then the earlier of the two
  // (and never moves back). Errors: the first error of `fetch` (the
  // heartbeat stays where it was).
  absl::Status CatchUp(Fetch fetch, const absl::Time* fresh_as_of = nullptr) {
    const std::int64_t started = absl::GetCurrentTimeNanos();
    MutexLock order(&feed_.order_mu());
    for (;;) {
      absl::StatusOr<std::vector<v1::ConsentRecord>> batch = fetch(delivered_);
      if (!batch.ok()) return batch.status();
      if (batch->empty()) break;
      delivered_ = std::max(delivered_, batch->back().revision());
      feed_.Deliver(*batch);
    }
    std::int64_t beat = started;
    if (fresh_as_of != nullptr) {
      beat = std::min(beat, absl::ToUnixNanos(*fresh_as_of));
      beat = std::max(beat, heartbeat_ns_.load(std::memory_order_acquire));
    }
    heartbeat_ns_.store(beat, std::memory_order_release);
    return absl::OkStatus();
  }

  // When the feed last caught up; `InfiniteFuture` before the first
  // `Watch` (no feed, nothing stale).
  absl::Time Heartbeat() const {
    const std::int64_t ns = heartbeat_ns_.load(std::memory_order_acquire);
    return ns == 0 ? absl::InfiniteFuture() : absl::FromUnixNanos(ns);
  }

  // The heartbeat as one word (`ConsentStore::SetFeedHeartbeatWord`): Unix
  // nanoseconds, 0 before the first `Watch`.
  const std::atomic<std::int64_t>* heartbeat_word() const {
    return &heartbeat_ns_;
  }

  // Waits for the feed thread to end. REQUIRES: its loop was told to stop;
  // not called from the feed thread.
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  FeedDispatcher feed_;
  Mutex start_mu_;
  bool started_ ABSL_GUARDED_BY(start_mu_) = false;
  std::thread thread_;
  Revision delivered_ ABSL_GUARDED_BY(feed_.order_mu()) = 0;
  std::atomic<std::int64_t> heartbeat_ns_{0};
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_STORE_FEED_RUNNER_H_
