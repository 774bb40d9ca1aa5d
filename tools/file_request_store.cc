// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "file_request_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "consentry/proto_io.h"

namespace consentctl {
namespace {

namespace v1 = ::consentry::v1;
namespace fs = std::filesystem;

// Request files are small; anything much larger is not one of ours.
constexpr std::size_t kMaxRequestFileBytes = std::size_t{4} << 20;

// Holds an exclusive flock on `<dir>/.lock` for its lifetime. The lock file
// is opened with O_NOFOLLOW: a symlink planted there is an error, not a
// file created elsewhere.
class DirLock {
 public:
  explicit DirLock(const std::string& dir) {
    const std::string path = dir + "/.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0) {
      status_ = absl::UnavailableError(absl::StrCat(
          "cannot open the lock file ", path, ": ", std::strerror(errno)));
      return;
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      status_ = absl::UnavailableError(
          absl::StrCat("cannot lock ", path, ": ", std::strerror(errno)));
      break;
    }
  }
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  const absl::Status& status() const { return status_; }

 private:
  int fd_ = -1;
  absl::Status status_;
};

std::int64_t NumberOf(absl::string_view id) {
  std::int64_t n = 0;
  if (!absl::SimpleAtoi(id.substr(4), &n)) return 0;
  return n;
}

}  // namespace

bool IsRequestId(absl::string_view id) {
  if (!absl::StartsWith(id, "req-") || id.size() < 5 || id.size() > 22) {
    return false;
  }
  const absl::string_view digits = id.substr(4);
  if (digits[0] == '0') return false;
  return std::all_of(digits.begin(), digits.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

FileRequestStore::FileRequestStore(std::string dir)
    : dir_(std::move(dir)), fs_(consentry::internal::FileSystem::Default()) {}

absl::Status FileRequestStore::Init() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot create --requests-dir ", dir_, ": ", ec.message()));
  }
  return absl::OkStatus();
}

std::string FileRequestStore::PathOf(absl::string_view id) const {
  return absl::StrCat(dir_, "/", id, ".textproto");
}

absl::StatusOr<v1::SubjectRequest> FileRequestStore::Create(
    v1::SubjectRequest request) {
  DirLock lock(dir_);
  if (!lock.status().ok()) return lock.status();
  std::int64_t next = 1;
  for (const std::string& id : Ids()) next = std::max(next, NumberOf(id) + 1);
  request.set_id(absl::StrCat("req-", next));
  request.set_version(1);
  if (absl::Status s = Write(request); !s.ok()) return s;
  return request;
}

absl::StatusOr<v1::SubjectRequest> FileRequestStore::Get(absl::string_view id) {
  if (!IsRequestId(id)) {
    return absl::NotFoundError(absl::StrCat("no request '", id, "'"));
  }
  const std::string path = PathOf(id);
  absl::StatusOr<std::string> data =
      consentry::internal::ReadRegularFile(path, kMaxRequestFileBytes);
  if (!data.ok()) {
    if (absl::IsNotFound(data.status())) {
      return absl::NotFoundError(
          absl::StrCat("no request '", id, "' in ", dir_));
    }
    if (absl::IsInvalidArgument(data.status()) ||
        absl::IsResourceExhausted(data.status())) {
      return absl::DataLossError(data.status().message());
    }
    return absl::UnavailableError(data.status().message());
  }
  v1::SubjectRequest r;
  if (absl::Status s =
          consentry::ParseMessage(*data, consentry::WireFormat::kText, r, path);
      !s.ok()) {
    return absl::DataLossError(s.message());
  }
  if (r.id() != id) {
    return absl::DataLossError(
        absl::StrCat(path, ": holds request '", r.id(), "', not '", id,
                     "'; the file name and the id inside must agree"));
  }
  if (absl::Status s = consentry::ValidateRequestRecord(r); !s.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": ", s.message()));
  }
  return r;
}

absl::StatusOr<v1::SubjectRequest> FileRequestStore::Update(
    const v1::SubjectRequest& request) {
  DirLock lock(dir_);
  if (!lock.status().ok()) return lock.status();
  absl::StatusOr<v1::SubjectRequest> stored = Get(request.id());
  if (!stored.ok()) return stored.status();
  if (stored->version() != request.version()) {
    return absl::AbortedError(absl::StrCat(
        "request ", request.id(), " changed concurrently (version ",
        stored->version(), ", expected ", request.version(), ")"));
  }
  v1::SubjectRequest next = request;
  next.set_version(request.version() + 1);
  if (absl::Status s = Write(next); !s.ok()) return s;
  return next;
}

absl::StatusOr<std::vector<v1::SubjectRequest>> FileRequestStore::ListBySubject(
    absl::string_view subject_id) {
  std::vector<v1::SubjectRequest> out;
  for (v1::SubjectRequest& r : All()) {
    if (r.verified_subject_id() == subject_id) out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<consentry::RequestListing> FileRequestStore::ListOpen() {
  consentry::RequestListing out;
  for (const std::string& id : Ids()) {
    absl::StatusOr<v1::SubjectRequest> r = Get(id);
    if (!r.ok()) {
      if (!absl::IsNotFound(r.status())) {
        out.unreadable.push_back({id, r.status()});
      }
    } else if (r->state() != v1::REQUEST_STATE_ANSWERED &&
               r->state() != v1::REQUEST_STATE_REFUSED) {
      out.requests.push_back(*std::move(r));
    }
  }
  return out;
}

std::vector<v1::SubjectRequest> FileRequestStore::All() {
  std::vector<v1::SubjectRequest> out;
  for (const std::string& id : Ids()) {
    absl::StatusOr<v1::SubjectRequest> r = Get(id);
    if (r.ok()) {
      out.push_back(*std::move(r));
    } else if (!absl::IsNotFound(r.status())) {
      Report(r.status());
    }
  }
  return out;
}

void FileRequestStore::Report(absl::Status s) {
  std::lock_guard<std::mutex> lock(mu_);
  problems_.push_back(std::move(s));
}

std::vector<absl::Status> FileRequestStore::TakeProblems() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(problems_, {});
}

absl::Status FileRequestStore::Write(const v1::SubjectRequest& r) {
  // The store never writes what it would refuse to read back.
  if (absl::Status s = consentry::ValidateRequestRecord(r); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request ", r.id(), " not written: ", s.message()));
  }
  absl::StatusOr<std::string> text =
      consentry::SerializeMessage(r, consentry::WireFormat::kText);
  if (!text.ok()) return text.status();
  absl::Status s =
      consentry::internal::WriteFileAtomically(*fs_, PathOf(r.id()), *text);
  if (!s.ok()) return absl::UnavailableError(s.message());
  return absl::OkStatus();
}

std::vector<std::string> FileRequestStore::Ids() const {
  std::vector<std::pair<std::int64_t, std::string>> ids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (!absl::EndsWith(name, ".textproto")) continue;
    std::string id = name.substr(0, name.size() - 10);
    if (IsRequestId(id)) ids.emplace_back(NumberOf(id), std::move(id));
  }
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (auto& [n, id] : ids) out.push_back(std::move(id));
  return out;
}

}  // namespace consentctl
