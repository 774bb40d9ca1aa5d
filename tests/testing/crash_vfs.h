// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A SQLite VFS for power-loss tests, after SQLite's own crash-test VFS
// (src/test6.c) and leveldb's FaultInjectionTestEnv: it wraps the default
// "unix" VFS and keeps, per file, an undo log of every write and truncation
// since that file's last sync. `Crash()` cuts the power: from then on every
// write, sync and delete fails, so closing connections changes nothing; and
// `RestoreAfterCrash()` then rolls every file back to what its last sync
// made durable, dropping every byte that was not synced. The -shm file is
// memory-mapped and not durable; SQLite rebuilds it from the WAL.
//
// Example:
//
//   consentry::testing::CrashVfs::Register();     // "consentry_crash"
//   CrashVfs::Reset();
//   CrashVfs::CrashAfter(120);   // the 120th write/sync from now fails
//   ... open a store with SqliteStoreOptions::vfs = CrashVfs::kName ...
//   CrashVfs::Crash();           // if it has not happened yet
//   store.reset();
//   CrashVfs::RestoreAfterCrash();
//   ... reopen with the default VFS and check ...

#ifndef CONSENTRY_TESTS_TESTING_CRASH_VFS_H_
#define CONSENTRY_TESTS_TESTING_CRASH_VFS_H_

#include <cstdint>

namespace consentry::testing {

class CrashVfs {
 public:
  static constexpr const char* kName = "consentry_crash";

  // Registers the VFS (not as the default); idempotent.
  static void Register();
  // Forgets every undo log and clears the crash.
  static void Reset();
  // The `n`th write, truncation or sync from now (1 = the next) fails and
  // cuts the power; 0 disarms.
  static void CrashAfter(std::int64_t n);
  // Cuts the power now.
  static void Crash();
  static bool crashed();
  // Rolls every file back to its last synced state and clears the crash.
  // REQUIRES: no connection uses the VFS.
  static void RestoreAfterCrash();
  // Syncs seen since `Reset` (to check that a test exercised them).
  static std::int64_t syncs();
};

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_TESTING_CRASH_VFS_H_
