// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Helpers the benchmark programs share.

#ifndef CONSENTRY_BENCH_BENCH_SUPPORT_H_
#define CONSENTRY_BENCH_BENCH_SUPPORT_H_

#include <stdlib.h>

#include <cstdlib>
#include <string>

namespace consentry {

// A fresh directory `$TMPDIR/<name>_XXXXXX` (TMPDIR defaults to /tmp); the
// caller removes it. Aborts when it cannot be made.
inline std::string TempDir(const char* name) {
  const char* base = std::getenv("TMPDIR");
  std::string t =
      std::string(base != nullptr ? base : "/tmp") + "/" + name + "_XXXXXX";
  if (mkdtemp(t.data()) == nullptr) std::abort();
  return t;
}

}  // namespace consentry

#endif  // CONSENTRY_BENCH_BENCH_SUPPORT_H_
