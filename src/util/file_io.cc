// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/util/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace consentry::internal {

absl::Status ErrnoStatus(int err, absl::string_view what,
                         const std::string& path) {
  const std::string msg =
      absl::StrCat(what, " '", path, "': ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    case ELOOP:
    case EISDIR:
    case ENOTDIR:
      return absl::InvalidArgumentError(msg);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

namespace {

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd)
      : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) close(fd_);
  }

  absl::Status Append(absl::string_view data) override {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = write(fd_, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "cannot write", path_);
      }
      done += static_cast<std::size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fdatasync(fd_) != 0) return ErrnoStatus(errno, "cannot sync", path_);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    const int rc = close(fd_);
    fd_ = -1;
    if (rc != 0) return ErrnoStatus(errno, "cannot close", path_);
    return absl::OkStatus();
  }

  const std::string& path() const override { return path_; }

 private:
  const std::string path_;
  int fd_;
};

class PosixFileSystem final : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewFile(
      const std::string& path) override {
    const int fd = open(
        path.c_str(),
        O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return ErrnoStatus(errno, "cannot create", path);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> OpenForAppend(
      const std::string& path) override {
    const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC |
                                          O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "' is not a regular file"));
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }

  absl::Status SyncDir(const std::string& dir) override {
    const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "cannot open directory", dir);
    const int rc = fsync(fd);
    const int err = errno;
    close(fd);
    if (rc != 0) return ErrnoStatus(err, "cannot sync directory", dir);
    return absl::OkStatus();
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus(errno, absl::StrCat("cannot rename to '", to, "':"),
                         from);
    }
    return absl::OkStatus();
  }

  absl::Status Remove(const std::string& path) override {
    if (unlink(path.c_str()) != 0) {
      return ErrnoStatus(errno, "cannot remove", path);
    }
    return absl::OkStatus();
  }

  absl::Status Truncate(const std::string& path, std::uint64_t size) override {
    const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
    absl::Status s;
    if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
      s = ErrnoStatus(errno, "cannot truncate", path);
    } else if (fdatasync(fd) != 0) {
      s = ErrnoStatus(errno, "cannot sync", path);
    }
    close(fd);
    return s;
  }
};

std::atomic<FileSystem*> g_override{nullptr};

}  // namespace

FileSystem* FileSystem::Posix() {
  static PosixFileSystem* const fs = new PosixFileSystem();
  return fs;
}

FileSystem* FileSystem::Default() {
  FileSystem* fs = g_override.load(std::memory_order_acquire);
  return fs != nullptr ? fs : Posix();
}

void FileSystem::SetForTesting(FileSystem* fs) {
  g_override.store(fs, std::memory_order_release);
}

std::string DirName(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteFileAtomically(FileSystem& fs, const std::string& path,
                                 absl::string_view data) {
  // A fresh name per attempt: O_EXCL refuses anything already there,
  // including a symlink someone planted, and we retry with another name.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::unique_ptr<WritableFile> file;
  std::string tmp;
  for (int attempt = 0;; ++attempt) {
    tmp = absl::StrFormat("%s.tmp-%016x", path, rng());
    absl::StatusOr<std::unique_ptr<WritableFile>> f = fs.NewFile(tmp);
    if (f.ok()) {
      file = *std::move(f);
      break;
    }
    if (!absl::IsAlreadyExists(f.status()) || attempt >= 8) {
      return f.status();
    }
  }
  absl::Status s = file->Append(data);
  if (s.ok()) s = file->Sync();
  absl::Status closed = file->Close();
  if (s.ok()) s = closed;
  if (s.ok()) s = fs.Rename(tmp, path);
  if (!s.ok()) {
    fs.Remove(tmp).IgnoreError();
    return s;
  }
  return fs.SyncDir(DirName(path));
}

absl::StatusOr<std::string> ReadRegularFile(const std::string& path,
                                            std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not hang before fstat can refuse it.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoStatus(err, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is not a regular file",
                     S_ISDIR(st.st_mode) ? " (it is a directory)" : ""));
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    close(fd);
    return absl::ResourceExhaustedError(
        absl::StrCat("'", path, "' has ", st.st_size,
                     " bytes, more than the limit of ", max_bytes));
  }
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      close(fd);
      return ErrnoStatus(err, "cannot read", path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      close(fd);
      return absl::ResourceExhaustedError(absl::StrCat(
          "'", path, "' grew past the limit of ", max_bytes, " bytes"));
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace consentry::internal
