// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The small file layer through which the audit log and the file-based request
// store do their durable I/O. Internal; never installed.
//
// Two reasons for it:
//  - one correct implementation of the things that are easy to get wrong:
//    temporary files created exclusively (never through a planted symlink),
//    rename then directory sync, inputs that must be regular files of bounded
//    size;
//  - a seam for tests: `FaultInjectionFileSystem` (tests/testing/) wraps it,
//    remembers what was synced, and at a simulated power cut drops every
//    byte, file creation and rename that was not, as a machine losing power
//    would (a killed process would not: the page cache survives it).
//
// Thread-safety: `FileSystem` implementations are thread-safe. A
// `WritableFile` takes `Append` from one thread at a time; `Sync` may run
// concurrently with `Append` on another thread (the audit log's syncer does).

#ifndef CONSENTRY_SRC_INTERNAL_FILE_IO_H_
#define CONSENTRY_SRC_INTERNAL_FILE_IO_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "consentry/export.h"

namespace consentry::internal {

// A file open for appending.
class CONSENTRY_EXPORT WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all of `data` (retrying short writes and EINTR).
  virtual absl::Status Append(absl::string_view data) = 0;
  // Makes the data appended so far durable (fdatasync).
  virtual absl::Status Sync() = 0;
  // Closes the file; unsynced data is not made durable by closing.
  virtual absl::Status Close() = 0;
  virtual const std::string& path() const = 0;
};

class CONSENTRY_EXPORT FileSystem {
 public:
  // The process-wide file system: POSIX, unless a test replaced it with
  // `SetForTesting`. Objects capture it when they open (an audit log, a
  // request store), so a replacement affects objects opened afterwards.
  static FileSystem* Default();
  // The POSIX file system, whatever `Default` returns.
  static FileSystem* Posix();
  // Replaces what `Default` returns; nullptr restores POSIX. Tests only.
  static void SetForTesting(FileSystem* fs);

  virtual ~FileSystem() = default;

  // Creates `path`, which must not exist (O_CREAT|O_EXCL: a symlink planted
  // at `path` is an error, never followed), open for appending.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewFile(
      const std::string& path) = 0;
  // Opens the existing regular file `path` for appending (O_NOFOLLOW).
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> OpenForAppend(
      const std::string& path) = 0;
  // Makes the creations, renames and removals in `dir` durable (fsync).
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  // rename(2): atomically replaces `to`; durable after `SyncDir`.
  virtual absl::Status Rename(const std::string& from,
                              const std::string& to) = 0;
  // unlink(2); NotFound when it does not exist.
  virtual absl::Status Remove(const std::string& path) = 0;
  // Truncates the regular file `path` to `size` bytes and syncs it.
  virtual absl::Status Truncate(const std::string& path,
                                std::uint64_t size) = 0;
};

// Replaces the file `path` with `data` so that, after a crash at any point,
// `path` holds either its previous content or all of `data`: writes a
// temporary file created exclusively in the same directory (a fresh random
// name, O_EXCL, so a planted file or symlink is never written through),
// syncs it, renames it over `path` and syncs the directory. On an error the
// temporary file is removed and `path` is untouched.
CONSENTRY_EXPORT absl::Status WriteFileAtomically(FileSystem& fs,
                                                  const std::string& path,
                                                  absl::string_view data);
inline absl::Status WriteFileAtomically(const std::string& path,
                                        absl::string_view data) {
  return WriteFileAtomically(*FileSystem::Default(), path, data);
}

// A status for a failed system call: `what` on `path`, with the OS's text
// for `err` (an errno value), coded by it: kNotFound, kPermissionDenied,
// kAlreadyExists, kInvalidArgument (ELOOP, EISDIR, ENOTDIR: not the kind of
// file expected), kResourceExhausted (ENOSPC, EDQUOT), else kInternal.
// The message reads "<what> '<path>': <strerror>".
CONSENTRY_EXPORT absl::Status ErrnoStatus(int err, absl::string_view what,
                                          const std::string& path);

// Default size limit of `ReadRegularFile`: larger than any policy, registry,
// request or key file the library reads, small enough to refuse /dev/zero
// or a runaway file with an error instead of exhausting memory.
inline constexpr std::size_t kDefaultMaxInputBytes = std::size_t{256} << 20;

// Reads the whole of `path`, which must be a regular file (a directory, FIFO,
// device or socket is kInvalidArgument naming it) of at most `max_bytes`
// (kResourceExhausted naming the file and the limit). NotFound and
// PermissionDenied as the OS says.
// No limit beyond the address space (the audit log's segments are as large
// as its options make them).
inline constexpr std::size_t kNoSizeLimit = ~std::size_t{0} >> 1;

CONSENTRY_EXPORT absl::StatusOr<std::string> ReadRegularFile(
    const std::string& path, std::size_t max_bytes = kDefaultMaxInputBytes);

// The directory part of `path` ("." when it has none).
CONSENTRY_EXPORT std::string DirName(const std::string& path);

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_FILE_IO_H_
