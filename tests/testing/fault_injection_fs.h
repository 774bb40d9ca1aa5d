// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// FaultInjectionFileSystem: simulated power loss for code that does its
// durable I/O through `internal::FileSystem` (the audit log, the request
// store).
//
// It forwards every call to a real file system and remembers, per file, how
// many bytes were synced, which files were created and which renames were
// made since their directory was last synced. `PowerCut()` then makes every
// further call fail (the machine is off: threads still running see I/O
// errors, nothing more reaches the disk); `DropUnsyncedData()` afterwards
// rolls the directory back to what a disk would hold after losing power:
//   - every file is cut to the length it had at its last `Sync` (or at
//     creation, when never synced);
//   - a rename whose directory was not synced afterwards is undone: the
//     target gets back its previous content (or disappears if it had none);
//   - a file whose creation was not followed by a sync of its directory
//     disappears.
// A test then reopens the directory with the real file system and checks
// that every acknowledged write is there, nothing unacknowledged is half
// visible, and verification passes. Killing a process cannot show a missing
// fsync (the page cache survives it); this can.
//
// Simplification: appends are assumed to reach the file in order (a real
// disk may persist a later unsynced page and not an earlier one); dropping
// the whole unsynced tail is the case writers must survive.
//
// Thread-safe. Install with `internal::FileSystem::SetForTesting(&fs)` before
// opening the object under test, and restore with `SetForTesting(nullptr)`
// (`ScopedFileSystem` does both).

#ifndef CONSENTRY_TESTS_TESTING_FAULT_INJECTION_FS_H_
#define CONSENTRY_TESTS_TESTING_FAULT_INJECTION_FS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "src/util/file_io.h"

namespace consentry::testing {

class FaultInjectionFileSystem final : public internal::FileSystem {
 public:
  explicit FaultInjectionFileSystem(
      internal::FileSystem* base = internal::FileSystem::Posix())
      : base_(base) {}

  // From now on every call fails with kUnavailable and changes nothing.
  void PowerCut() {
    std::lock_guard<std::mutex> lock(mu_);
    powered_ = false;
  }

  // Rolls the files back to their durable state (see the file comment) and
  // powers the file system on again with a clean record.
  absl::Status DropUnsyncedData() {
    std::lock_guard<std::mutex> lock(mu_);
    // Undo renames not made durable, newest first.
    for (auto it = renames_.rbegin(); it != renames_.rend(); ++it) {
      if (it->previous_target.has_value()) {
        absl::Status s =
            internal::WriteFileAtomically(*base_, it->to, *it->previous_target);
        if (!s.ok()) return s;
        files_.erase(it->to);
      } else {
        base_->Remove(it->to).IgnoreError();
        files_.erase(it->to);
      }
    }
    renames_.clear();
    for (auto& [path, state] : files_) {
      if (state.created_unsynced) {
        base_->Remove(path).IgnoreError();
        continue;
      }
      if (state.size > state.synced_size) {
        absl::Status s = base_->Truncate(path, state.synced_size);
        if (!s.ok() && !absl::IsNotFound(s)) return s;
      }
    }
    files_.clear();
    powered_ = true;
    return absl::OkStatus();
  }

  // Number of successful file and directory syncs so far.
  int syncs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return syncs_;
  }

  absl::StatusOr<std::unique_ptr<internal::WritableFile>> NewFile(
      const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!powered_) return Off(path);
    absl::StatusOr<std::unique_ptr<internal::WritableFile>> f =
        base_->NewFile(path);
    if (!f.ok()) return f.status();
    FileState& st = files_[path];
    st = FileState{};
    st.created_unsynced = true;
    return std::unique_ptr<internal::WritableFile>(
        new File(this, path, *std::move(f)));
  }

  absl::StatusOr<std::unique_ptr<internal::WritableFile>> OpenForAppend(
      const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!powered_) return Off(path);
    absl::StatusOr<std::string> now = internal::ReadRegularFile(path);
    if (!now.ok()) return now.status();
    absl::StatusOr<std::unique_ptr<internal::WritableFile>> f =
        base_->OpenForAppend(path);
    if (!f.ok()) return f.status();
    if (files_.find(path) == files_.end()) {
      // Opened for the first time since the last power cut: what is there
      // now is durable.
      FileState& st = files_[path];
      st.size = st.synced_size = now->size();
    }
    return std::unique_ptr<internal::WritableFile>(
        new File(this, path, *std::move(f)));
  }

  absl::Status SyncDir(const std::string& dir) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!powered_) return Off(dir);
    absl::Status s = base_->SyncDir(dir);
    if (!s.ok()) return s;
    ++syncs_;
    for (auto& [path, state] : files_) {
      if (internal::DirName(path) == dir) state.created_unsynced = false;
    }
    std::vector<PendingRename> keep;
    for (PendingRename& r : renames_) {
      if (internal::DirName(r.to) != dir) keep.push_back(std::move(r));
    }
    renames_ = std::move(keep);
    return absl::OkStatus();
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!powered_) return Off(from);
    PendingRename r;
    r.to = to;
    absl::StatusOr<std::string> previous = internal::ReadRegularFile(to);
    if (previous.ok()) r.previous_target = *std::move(previous);
    absl::Status s = base_->Rename(from, to);
    if (!s.ok()) return s;
    auto it = files_.find(from);
    FileState moved;
    if (it != files_.end()) {
      moved = it->second;
      files_.erase(it);
    }
    // The renamed file's own content is as durable as it was under its old
    // name; the new name itself is not durable until the directory syncs.
    moved.created_unsynced = false;
    files_[to] = moved;
    renames_.push_back(std::move(r));
    return absl::OkStatus();
  }

  absl::Status Remove(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!powered_) return Off(path);
    absl::Status s = base_->Remove(path);
    if (s.ok()) files_.erase(path);
    return s;
  }

  absl::Status Truncate(const std::string& path, std::uint64_t size) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!powered_) return Off(path);
    absl::Status s = base_->Truncate(path, size);
    if (!s.ok()) return s;
    auto it = files_.find(path);
    if (it != files_.end()) {
      it->second.size = size;
      it->second.synced_size = size;  // Truncate syncs.
    }
    ++syncs_;
    return absl::OkStatus();
  }

 private:
  struct FileState {
    std::uint64_t size = 0;
    std::uint64_t synced_size = 0;
    bool created_unsynced = false;
  };
  struct PendingRename {
    std::string to;
    std::optional<std::string> previous_target;
  };

  class File final : public internal::WritableFile {
   public:
    File(FaultInjectionFileSystem* fs, std::string path,
         std::unique_ptr<internal::WritableFile> base)
        : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}

    absl::Status Append(absl::string_view data) override {
      std::lock_guard<std::mutex> lock(fs_->mu_);
      if (!fs_->powered_) return Off(path_);
      absl::Status s = base_->Append(data);
      if (s.ok()) fs_->files_[path_].size += data.size();
      return s;
    }

    absl::Status Sync() override {
      std::uint64_t size = 0;
      {
        std::lock_guard<std::mutex> lock(fs_->mu_);
        if (!fs_->powered_) return Off(path_);
        size = fs_->files_[path_].size;
      }
      absl::Status s = base_->Sync();
      if (!s.ok()) return s;
      std::lock_guard<std::mutex> lock(fs_->mu_);
      // A power cut while the sync ran: the data may or may not have made
      // it; count it as lost, the harder case for the writer.
      if (!fs_->powered_) return Off(path_);
      FileState& st = fs_->files_[path_];
      if (size > st.synced_size) st.synced_size = size;
      ++fs_->syncs_;
      return absl::OkStatus();
    }

    absl::Status Close() override { return base_->Close(); }
    const std::string& path() const override { return path_; }

   private:
    FaultInjectionFileSystem* const fs_;
    const std::string path_;
    const std::unique_ptr<internal::WritableFile> base_;
  };

  static absl::Status Off(const std::string& path) {
    return absl::UnavailableError(
        absl::StrCat("simulated power loss: '", path, "' not written"));
  }

  internal::FileSystem* const base_;
  mutable std::mutex mu_;
  bool powered_ = true;
  int syncs_ = 0;
  std::map<std::string, FileState> files_;
  std::vector<PendingRename> renames_;
};

// Installs `fs` as the process's file system for the scope.
class ScopedFileSystem {
 public:
  explicit ScopedFileSystem(internal::FileSystem* fs) {
    internal::FileSystem::SetForTesting(fs);
  }
  ~ScopedFileSystem() { internal::FileSystem::SetForTesting(nullptr); }
  ScopedFileSystem(const ScopedFileSystem&) = delete;
  ScopedFileSystem& operator=(const ScopedFileSystem&) = delete;
};

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_TESTING_FAULT_INJECTION_FS_H_
