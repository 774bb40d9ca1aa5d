// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Proves that clang's -Wthread-safety sees consentry's Mutex annotations:
// CASE_OK must compile; each other case is a locking mistake that must not
// (run by tests/compile_fail/thread_safety.cmake, clang builds only).

#include "src/util/mutex.h"

namespace consentry::internal {

class Counter {
 public:
  void Add() ABSL_LOCKS_EXCLUDED(mu_) {
#if defined(CASE_OK)
    MutexLock lock(&mu_);
    ++n_;
    AddLocked();
#elif defined(CASE_UNLOCKED_WRITE)
    ++n_;
#elif defined(CASE_WRITE_UNDER_READER_LOCK)
    ReaderMutexLock lock(&mu_);
    ++n_;
#elif defined(CASE_HELPER_WITHOUT_LOCK)
    AddLocked();
#elif defined(CASE_DOUBLE_LOCK)
    MutexLock lock(&mu_);
    Add();
#endif
  }

 private:
  void AddLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { ++n_; }

  Mutex mu_;
  int n_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace consentry::internal

int main() {
  consentry::internal::Counter c;
  c.Add();
}
