// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Runs a script of tests/pg (start.sh, stop.sh, start-standby.sh) from a
// PostgreSQL test, whose target defines CONSENTRY_PG_SCRIPTS as that
// directory (tests/CMakeLists.txt).

#ifndef CONSENTRY_TESTS_TESTING_PG_SCRIPTS_H_
#define CONSENTRY_TESTS_TESTING_PG_SCRIPTS_H_

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace consentry::testing {

// The exit status of `tests/pg/<name> <args>`, its output discarded.
inline int RunPgScript(const std::string& name, const std::string& args) {
  const std::string cmd =
      absl::StrCat(CONSENTRY_PG_SCRIPTS, "/", name, " ", args, " >/dev/null");
  return std::system(cmd.c_str());
}

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_TESTING_PG_SCRIPTS_H_
