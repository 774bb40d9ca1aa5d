// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The listener registry the durable stores share: `Watch` registrations and
// in-order delivery of committed records to them. A store holds
// `order_mu()` across "find out what changed" and "deliver it", so that
// each listener sees a subject's records in revision order.

#ifndef CONSENTRY_SRC_INTERNAL_FEED_DISPATCHER_H_
#define CONSENTRY_SRC_INTERNAL_FEED_DISPATCHER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "consentry/consent.h"
#include "src/util/mutex.h"

namespace consentry::internal {

class FeedDispatcher {
 public:
  FeedDispatcher() = default;
  FeedDispatcher(const FeedDispatcher&) = delete;
  FeedDispatcher& operator=(const FeedDispatcher&) = delete;

  // Serializes discovery and delivery of changes.
  Mutex& order_mu() ABSL_LOCK_RETURNED(order_mu_) { return order_mu_; }

  // Registers `listener`. The subscription unregisters it and waits for a
  // delivery in progress. REQUIRES: `*this` outlives the subscription.
  std::unique_ptr<Subscription> Add(ConsentListener listener) {
    std::uint64_t id;
    {
      MutexLock lock(&mu_);
      id = next_id_++;
      listeners_.emplace(
          id, std::make_shared<ConsentListener>(std::move(listener)));
    }
    return std::make_unique<Sub>(this, id);
  }

  bool empty() {
    ReaderMutexLock lock(&mu_);
    return listeners_.empty();
  }

  // Hands `records` to every listener, in order.
  void Deliver(const std::vector<v1::ConsentRecord>& records)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(order_mu_) {
    if (records.empty()) return;
    std::vector<std::shared_ptr<ConsentListener>> ls;
    {
      ReaderMutexLock lock(&mu_);
      for (const auto& [id, l] : listeners_) ls.push_back(l);
    }
    for (const v1::ConsentRecord& r : records) {
      for (const auto& l : ls) (*l)(r);
    }
  }

 private:
  class Sub final : public Subscription {
   public:
    Sub(FeedDispatcher* d, std::uint64_t id) : d_(d), id_(id) {}
    ~Sub() override {
      {
        MutexLock lock(&d_->mu_);
        d_->listeners_.erase(id_);
      }
      MutexLock wait(&d_->order_mu_);
    }

   private:
    FeedDispatcher* d_;
    std::uint64_t id_;
  };

  Mutex order_mu_;
  Mutex mu_;
  std::map<std::uint64_t, std::shared_ptr<ConsentListener>> listeners_
      ABSL_GUARDED_BY(mu_);
  std::uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_FEED_DISPATCHER_H_
