// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A reader-writer mutex with Abseil's thread-safety annotations, built on
// std::shared_mutex. Debian's Abseil is not built with ThreadSanitizer, so
// TSan cannot see the ordering absl::Mutex provides and reports false races;
// pthread-based std primitives are intercepted by TSan. Clang's
// -Wthread-safety checks every use through the annotations below.

#ifndef CONSENTRY_SRC_INTERNAL_MUTEX_H_
#define CONSENTRY_SRC_INTERNAL_MUTEX_H_

#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "absl/base/thread_annotations.h"

namespace consentry::internal {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() { mu_.lock_shared(); }
  void ReaderUnlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock_shared(); }
  // Tells the thread-safety analysis that the lock is held (in lambdas run
  // under it, such as condition-variable predicates).
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::shared_mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

class ABSL_SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(Mutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->ReaderLock();
  }
  ~ReaderMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable for `Mutex` held exclusively.
class CondVar {
 public:
  // REQUIRES: `mu` is held exclusively by the caller.
  template <typename Pred>
  void Wait(Mutex* mu, Pred pred) {
    std::unique_lock<std::shared_mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock, pred);
    lock.release();
  }
  // Returns false on timeout with `pred` still false.
  template <typename Rep, typename Period, typename Pred>
  bool WaitFor(Mutex* mu, std::chrono::duration<Rep, Period> d, Pred pred) {
    std::unique_lock<std::shared_mutex> lock(mu->mu_, std::adopt_lock);
    bool ok = cv_.wait_for(lock, d, pred);
    lock.release();
    return ok;
  }
  void NotifyAll() { cv_.notify_all(); }
  void NotifyOne() { cv_.notify_one(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_MUTEX_H_
