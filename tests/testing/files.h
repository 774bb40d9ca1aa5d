// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Whole-file reads and writes for tests that damage or inspect stored
// bytes on purpose. No error handling: a missing file reads as empty.

#ifndef CONSENTRY_TESTS_TESTING_FILES_H_
#define CONSENTRY_TESTS_TESTING_FILES_H_

#include <fstream>
#include <iterator>
#include <string>

namespace consentry::testing {

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_TESTING_FILES_H_
