// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Helpers the benchmark programs share.

#ifndef CONSENTRY_BENCH_BENCH_SUPPORT_H_
#define CONSENTRY_BENCH_BENCH_SUPPORT_H_

#include <stdlib.h>

#include <cstdlib>
#include <string>

#include "benchmark/benchmark.h"

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

// The PostgreSQL server a benchmark runs against
// (`CONSENTRY_PG_CONNINFO`); null, with `state` skipped and told how to
// start one, when none is configured.
inline const char* PgConnInfoOrSkip(benchmark::State& state) {
  const char* conninfo = std::getenv("CONSENTRY_PG_CONNINFO");
  if (conninfo == nullptr || *conninfo == '\0') {
    state.SkipWithError(
        "no PostgreSQL server configured: set CONSENTRY_PG_CONNINFO (e.g. "
        "tests/pg/start.sh --fresh /tmp/pgbench; then "
        "CONSENTRY_PG_CONNINFO=\"$(cat /tmp/pgbench/conninfo)\")");
    return nullptr;
  }
  return conninfo;
}

}  // namespace consentry

#endif  // CONSENTRY_BENCH_BENCH_SUPPORT_H_
