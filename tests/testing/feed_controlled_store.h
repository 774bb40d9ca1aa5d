// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A consent store for Guard tests: an `InMemoryConsentStore` whose change
// feed the test can mute (changes are not delivered), whose feed heartbeat
// it sets (infinite by default: no feed to fall behind), and which it can
// make unavailable. Thread-safe.

#ifndef CONSENTRY_TESTS_TESTING_FEED_CONTROLLED_STORE_H_
#define CONSENTRY_TESTS_TESTING_FEED_CONTROLLED_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "consentry/consent.h"

namespace consentry::testing {

class FeedControlledStore final : public ConsentStore {
 public:
  // With `heartbeat_word`, a Guard reads the heartbeat from its word
  // (`SetFeedHeartbeatWord`), as it does for the durable stores; without,
  // through `FeedHeartbeat`, as for an embedder's store.
  explicit FeedControlledStore(bool heartbeat_word = true) {
    if (heartbeat_word) SetFeedHeartbeatWord(&heartbeat_ns_);
  }

  absl::StatusOr<v1::ConsentRecord> Get(absl::string_view s) override {
    return inner_.Get(s);
  }
  absl::StatusOr<Revision> Apply(const v1::ConsentChange& c) override {
    return inner_.Apply(c);
  }
  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSince(
      Revision after, int limit) override {
    return inner_.ChangesSince(after, limit);
  }
  absl::StatusOr<Revision> LatestRevision() override {
    return inner_.LatestRevision();
  }
  std::unique_ptr<Subscription> Watch(ConsentListener listener) override {
    return inner_.Watch([this, listener](const v1::ConsentRecord& r) {
      if (!muted_.load()) listener(r);
    });
  }
  absl::Time FeedHeartbeat() override {
    return absl::FromUnixNanos(heartbeat_ns_.load());
  }

  void Mute(bool m) { muted_.store(m); }
  void SetHeartbeat(absl::Time t) { heartbeat_ns_.store(absl::ToUnixNanos(t)); }
  void SetUnavailable(bool u) { inner_.SetUnavailableForTesting(u); }

 private:
  InMemoryConsentStore inner_;
  std::atomic<bool> muted_{false};
  std::atomic<std::int64_t> heartbeat_ns_{
      absl::ToUnixNanos(absl::InfiniteFuture())};
};

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_TESTING_FEED_CONTROLLED_STORE_H_
