// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The Ed25519 test keys under tests/testdata (receipt_keys: private and
// public; receipt_public: public only) and a `FileKeyProvider` over them.

#ifndef CONSENTRY_TESTS_TESTING_SIGNING_KEYS_H_
#define CONSENTRY_TESTS_TESTING_SIGNING_KEYS_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "consentry/signing.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"

namespace consentry::testing {

inline std::string TestKeysDir() {
  return SourcePath("tests/testdata/receipt_keys");
}
inline std::string TestPublicKeysDir() {
  return SourcePath("tests/testdata/receipt_public");
}

// A provider over `paths` (files or directories of keys), signing with
// `signing` when given; null (and a test failure) when it cannot open.
inline std::unique_ptr<FileKeyProvider> OpenTestKeys(
    std::vector<std::string> paths, std::string signing = "") {
  FileKeyProviderOptions o;
  o.paths = std::move(paths);
  o.signing_key_file = std::move(signing);
  absl::StatusOr<std::unique_ptr<FileKeyProvider>> k = FileKeyProvider::Open(o);
  EXPECT_TRUE(k.ok()) << k.status();
  return k.ok() ? *std::move(k) : nullptr;
}

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_TESTING_SIGNING_KEYS_H_
