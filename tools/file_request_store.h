// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: file_request_store.h
// -----------------------------------------------------------------------------
//
// The legacy request format of `consentctl request ... --requests-dir` (the
// tool keeps requests in the durable store of --sqlite / --postgres
// otherwise, and `request import-dir` moves a directory there): a
// directory with one textproto file per request, `<id>.textproto` (ids
// req-1, req-2, ...). Internal to the tool (and its tests); not installed.
//
// - Every write holds an exclusive flock on `<dir>/.lock`, so processes
//   (and threads, each with its own descriptor) serialise.
// - A file is replaced atomically and durably: a temporary file created
//   exclusively in the directory, synced, renamed over the request file,
//   then the directory synced (`internal::WriteFileAtomically`); a write
//   is acknowledged only after that, so after a power loss every
//   acknowledged request state is on disk and none is half-written.
// - A file is trusted only as far as it checks: it must parse, pass
//   `consentry::ValidateRequestRecord`, and hold the id its name says.
//   One that does not is `kDataLoss` for that request only: listings skip
//   it and report it (`TakeProblems`); every other request keeps working.
//
// Thread-safe. I/O goes through the `internal::FileSystem` that was the
// default when the store was constructed.

#ifndef CONSENTRY_TOOLS_FILE_REQUEST_STORE_H_
#define CONSENTRY_TOOLS_FILE_REQUEST_STORE_H_

#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "consentry/requests.h"
#include "consentry/v1/request.pb.h"
#include "src/util/file_io.h"

namespace consentctl {

class FileRequestStore final : public consentry::RequestStore {
 public:
  explicit FileRequestStore(std::string dir);

  // Creates the directory when missing. Errors: `kPermissionDenied`.
  absl::Status Init();

  std::string PathOf(absl::string_view id) const;
  const std::string& dir() const { return dir_; }

  absl::StatusOr<consentry::v1::SubjectRequest> Create(
      consentry::v1::SubjectRequest request) override;
  // Errors: `kNotFound`; `kDataLoss` naming the file when it does not
  // parse, fails validation or holds another request's id.
  absl::StatusOr<consentry::v1::SubjectRequest> Get(
      absl::string_view id) override;
  absl::StatusOr<consentry::v1::SubjectRequest> Update(
      const consentry::v1::SubjectRequest& request) override;
  // Skips unreadable files and records them for `TakeProblems`.
  absl::StatusOr<std::vector<consentry::v1::SubjectRequest>> ListBySubject(
      absl::string_view subject_id) override;
  // Names each unreadable file's request in `unreadable`.
  absl::StatusOr<consentry::RequestListing> ListOpen() override;

  // Every readable request, oldest (lowest number) first; each unreadable
  // file is recorded for `TakeProblems` and skipped.
  std::vector<consentry::v1::SubjectRequest> All();

  // The files skipped by listings since the last call, each a `kDataLoss`
  // (or other) status naming the file.
  std::vector<absl::Status> TakeProblems();

  // The ids of the request files in the directory, by number.
  std::vector<std::string> Ids() const;

 private:
  absl::Status Write(const consentry::v1::SubjectRequest& r);
  void Report(absl::Status s);

  const std::string dir_;
  consentry::internal::FileSystem* const fs_;
  std::mutex mu_;
  std::vector<absl::Status> problems_;  // guarded by mu_
};

// True for a request id of the form the store assigns: "req-" and a
// positive number without leading zeros.
bool IsRequestId(absl::string_view id);

}  // namespace consentctl

#endif  // CONSENTRY_TOOLS_FILE_REQUEST_STORE_H_
