// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// An in-memory `HmacKeyProvider` for tests: keys by id, a current one that
// the test changes (as a KMS rotates), and a switch that makes it fail as
// an unreachable key service. Thread-safe.

#ifndef CONSENTRY_TESTS_TESTING_MEMORY_HMAC_KEYS_H_
#define CONSENTRY_TESTS_TESTING_MEMORY_HMAC_KEYS_H_

#include <map>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "consentry/audit_keys.h"

namespace consentry::testing {

class MemoryHmacKeys final : public HmacKeyProvider {
 public:
  // Adds key `id` (its bytes derived from the id) and makes it current.
  void AddAndMakeCurrent(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    keys_[id] = absl::StrCat("secret-of-", id, "-0123456789abcdef0123");
    current_ = id;
  }
  void Forget(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    keys_.erase(id);
  }
  void SetUnavailable(bool unavailable) {
    std::lock_guard<std::mutex> lock(mu_);
    unavailable_ = unavailable;
  }

  absl::StatusOr<std::string> Key(absl::string_view key_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (unavailable_) return absl::UnavailableError("key service is down");
    auto it = keys_.find(std::string(key_id));
    if (it == keys_.end()) {
      return absl::NotFoundError(absl::StrCat("no key '", key_id, "'"));
    }
    return it->second;
  }
  absl::StatusOr<HmacKey> CurrentKey() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (unavailable_) return absl::UnavailableError("key service is down");
    auto it = keys_.find(current_);
    if (it == keys_.end()) {
      return absl::FailedPreconditionError("no current key");
    }
    return HmacKey{it->first, it->second};
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> keys_;
  std::string current_;
  bool unavailable_ = false;
};

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_TESTING_MEMORY_HMAC_KEYS_H_
