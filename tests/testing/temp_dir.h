// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A fresh directory under the test's temporary directory, removed with
// everything in it when the object goes out of scope.

#ifndef CONSENTRY_TESTS_TESTING_TEMP_DIR_H_
#define CONSENTRY_TESTS_TESTING_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "gtest/gtest.h"

namespace consentry::testing {

// Creates a new directory named `<TempDir>/consentry_<prefix>_XXXXXX`
// (mkdtemp); fails the test when it cannot.
inline std::string MakeTempDir(const std::string& prefix = "test") {
  std::string tmpl = ::testing::TempDir() + "/consentry_" + prefix + "_XXXXXX";
  const char* d = mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr) << "mkdtemp " << tmpl;
  return tmpl;
}

class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& prefix = "test")
      : path_(MakeTempDir(prefix)) {}
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_TESTING_TEMP_DIR_H_
