// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "tests/testing/crash_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace consentry::testing {
namespace {

// What one write or truncation replaced: the bytes at `offset` before it,
// and the file's size before it.
struct Undo {
  std::int64_t offset;
  std::string old_bytes;
  std::int64_t old_size;
};

struct State {
  std::mutex mu;
  std::map<std::string, std::vector<Undo>> undo;  // by path
  bool crashed = false;
  std::int64_t countdown = 0;  // 0: disarmed
  std::int64_t syncs = 0;
};

State& S() {
  static State* s = new State();
  return *s;
}

sqlite3_vfs* real_vfs = nullptr;
sqlite3_vfs crash_vfs;

struct CrashFile {
  sqlite3_file base;
  sqlite3_file* real;
  std::string* path;  // null for files without a name (not tracked)
};

sqlite3_file* Real(sqlite3_file* f) {
  return reinterpret_cast<CrashFile*>(f)->real;
}

// Counts one durable-state operation; true when the power is (now) cut.
bool PowerCut() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.crashed) return true;
  if (s.countdown > 0 && --s.countdown == 0) s.crashed = true;
  return s.crashed;
}

// Saves what [offset, offset + n) holds now, and the size.
int Remember(CrashFile* f, std::int64_t offset, std::int64_t n) {
  if (f->path == nullptr) return SQLITE_OK;
  sqlite3_int64 size = 0;
  int rc = f->real->pMethods->xFileSize(f->real, &size);
  if (rc != SQLITE_OK) return rc;
  Undo u{offset, "", size};
  if (offset < size) {
    const std::int64_t len = std::min<std::int64_t>(n, size - offset);
    u.old_bytes.resize(static_cast<std::size_t>(len));
    rc = f->real->pMethods->xRead(f->real, u.old_bytes.data(),
                                  static_cast<int>(len), offset);
    if (rc != SQLITE_OK) return rc;
  }
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  s.undo[*f->path].push_back(std::move(u));
  return SQLITE_OK;
}

int XClose(sqlite3_file* f) {
  CrashFile* cf = reinterpret_cast<CrashFile*>(f);
  const int rc = cf->real->pMethods->xClose(cf->real);
  delete cf->path;
  cf->path = nullptr;
  return rc;
}
int XRead(sqlite3_file* f, void* p, int n, sqlite3_int64 off) {
  return Real(f)->pMethods->xRead(Real(f), p, n, off);
}
int XWrite(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
  if (PowerCut()) return SQLITE_IOERR_WRITE;
  CrashFile* cf = reinterpret_cast<CrashFile*>(f);
  if (int rc = Remember(cf, off, n); rc != SQLITE_OK) return rc;
  return cf->real->pMethods->xWrite(cf->real, p, n, off);
}
int XTruncate(sqlite3_file* f, sqlite3_int64 size) {
  if (PowerCut()) return SQLITE_IOERR_TRUNCATE;
  CrashFile* cf = reinterpret_cast<CrashFile*>(f);
  sqlite3_int64 old = 0;
  if (int rc = cf->real->pMethods->xFileSize(cf->real, &old); rc != SQLITE_OK)
    return rc;
  if (size < old) {
    if (int rc = Remember(cf, size, old - size); rc != SQLITE_OK) return rc;
  }
  return cf->real->pMethods->xTruncate(cf->real, size);
}
int XSync(sqlite3_file* f, int flags) {
  if (PowerCut()) return SQLITE_IOERR_FSYNC;
  CrashFile* cf = reinterpret_cast<CrashFile*>(f);
  const int rc = cf->real->pMethods->xSync(cf->real, flags);
  if (rc == SQLITE_OK && cf->path != nullptr) {
    State& s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    s.undo.erase(*cf->path);
    ++s.syncs;
  }
  return rc;
}
int XFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int XLock(sqlite3_file* f, int l) {
  return Real(f)->pMethods->xLock(Real(f), l);
}
int XUnlock(sqlite3_file* f, int l) {
  return Real(f)->pMethods->xUnlock(Real(f), l);
}
int XCheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int XFileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int XSectorSize(sqlite3_file* f) {
  return Real(f)->pMethods->xSectorSize(Real(f));
}
int XDeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int XShmMap(sqlite3_file* f, int pg, int sz, int extend, void volatile** p) {
  return Real(f)->pMethods->xShmMap(Real(f), pg, sz, extend, p);
}
int XShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void XShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int XShmUnmap(sqlite3_file* f, int del) {
  return Real(f)->pMethods->xShmUnmap(Real(f), del);
}

// Version 2: no xFetch, so that every read goes through xRead.
const sqlite3_io_methods kMethods = {2,
                                     XClose,
                                     XRead,
                                     XWrite,
                                     XTruncate,
                                     XSync,
                                     XFileSize,
                                     XLock,
                                     XUnlock,
                                     XCheckReservedLock,
                                     XFileControl,
                                     XSectorSize,
                                     XDeviceCharacteristics,
                                     XShmMap,
                                     XShmLock,
                                     XShmBarrier,
                                     XShmUnmap,
                                     nullptr,
                                     nullptr};

int VOpen(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags,
          int* out_flags) {
  CrashFile* cf = reinterpret_cast<CrashFile*>(f);
  cf->real = reinterpret_cast<sqlite3_file*>(cf + 1);
  cf->path = nullptr;
  const int rc = real_vfs->xOpen(real_vfs, name, cf->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    cf->base.pMethods = nullptr;
    return rc;
  }
  if (name != nullptr) cf->path = new std::string(name);
  cf->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int VDelete(sqlite3_vfs*, const char* name, int sync_dir) {
  if (PowerCut()) return SQLITE_IOERR_DELETE;
  const int rc = real_vfs->xDelete(real_vfs, name, sync_dir);
  if (rc == SQLITE_OK) {
    State& s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    s.undo.erase(name);
  }
  return rc;
}

}  // namespace

void CrashVfs::Register() {
  static const bool done = [] {
    real_vfs = sqlite3_vfs_find("unix");
    crash_vfs = *real_vfs;
    crash_vfs.zName = kName;
    crash_vfs.szOsFile =
        static_cast<int>(sizeof(CrashFile)) + real_vfs->szOsFile;
    crash_vfs.pNext = nullptr;
    crash_vfs.xOpen = VOpen;
    crash_vfs.xDelete = VDelete;
    sqlite3_vfs_register(&crash_vfs, 0);
    return true;
  }();
  (void)done;
}

void CrashVfs::Reset() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  s.undo.clear();
  s.crashed = false;
  s.countdown = 0;
  s.syncs = 0;
}

void CrashVfs::CrashAfter(std::int64_t n) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  s.countdown = n;
}

void CrashVfs::Crash() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  s.crashed = true;
}

bool CrashVfs::crashed() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.crashed;
}

std::int64_t CrashVfs::syncs() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.syncs;
}

void CrashVfs::RestoreAfterCrash() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  for (auto& [path, log] : s.undo) {
    const int fd = ::open(path.c_str(), O_WRONLY);
    if (fd < 0) continue;
    for (auto it = log.rbegin(); it != log.rend(); ++it) {
      if (!it->old_bytes.empty()) {
        [[maybe_unused]] ssize_t n =
            ::pwrite(fd, it->old_bytes.data(), it->old_bytes.size(),
                     static_cast<off_t>(it->offset));
      }
      [[maybe_unused]] int t =
          ::ftruncate(fd, static_cast<off_t>(it->old_size));
    }
    ::close(fd);
  }
  s.undo.clear();
  s.crashed = false;
  s.countdown = 0;
}

}  // namespace consentry::testing
