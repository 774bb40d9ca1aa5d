// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Reading a durable store's own consent rows, shared by the SQLite and
// PostgreSQL stores: a row's record bytes must parse, name the row's subject
// and carry the row's revision; anything else is data loss for that one
// subject, reported as `kDataLoss` by `Get` and as an
// `UnreadableConsentRecord` by `ChangesSince`; and a row of a subject's
// history (`History`).

#ifndef CONSENTRY_SRC_INTERNAL_STORED_RECORD_H_
#define CONSENTRY_SRC_INTERNAL_STORED_RECORD_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "consentry/consent.h"
#include "consentry/v1/consent.pb.h"

namespace consentry::internal {

// `subject` as it may be printed in a message (hex escapes for bytes that
// are not printable ASCII; old rows may hold any bytes).
inline std::string PrintableSubject(absl::string_view subject) {
  return absl::CHexEscape(subject);
}

// Parses the record bytes of the row (`subject`, `revision`) into `out`.
// `revision` < 0 skips the revision check. `where` names the store (file or
// server) for the message. Errors: `kDataLoss` naming the store and subject
// when the bytes do not parse, belong to another subject or revision, or
// hold a record marked unreadable.
inline absl::Status ParseStoredRecord(absl::string_view bytes,
                                      absl::string_view subject,
                                      Revision revision,
                                      absl::string_view where,
                                      v1::ConsentRecord* out) {
  std::string problem;
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    problem = absl::StrCat("does not parse as consentry.v1.ConsentRecord (",
                           bytes.size(), " bytes)");
  } else if (out->subject_id() != subject) {
    problem = absl::StrCat("holds the record of subject '",
                           PrintableSubject(out->subject_id()), "'");
  } else if (revision >= 0 && out->revision() != revision) {
    problem = absl::StrCat("holds revision ", out->revision());
  } else if (!out->data_loss().empty()) {
    problem = "holds a record marked unreadable";
  }
  if (problem.empty()) return absl::OkStatus();
  out->Clear();
  return absl::DataLossError(absl::StrCat(
      where, ": the stored record of subject '", PrintableSubject(subject), "'",
      revision >= 0 ? absl::StrCat(" at revision ", revision) : "", " ",
      problem,
      "; the subject is quarantined (every check denies) until a "
      "valid record replaces it"));
}

// Fills `e` from one row of the store's history of `subject`: revision,
// commit time (nanoseconds since the epoch) and the change and state bytes.
// Errors: `kDataLoss` naming the store (`where`), revision and subject when
// the change or the state does not parse.
inline absl::Status ParseHistoryEntry(Revision revision, std::int64_t commit_ns,
                                      absl::string_view change,
                                      absl::string_view state,
                                      absl::string_view subject,
                                      absl::string_view where,
                                      v1::ConsentHistoryEntry* e) {
  e->set_revision(revision);
  std::int64_t secs = commit_ns / 1'000'000'000;
  std::int64_t rem = commit_ns % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    --secs;
  }
  e->mutable_commit_time()->set_seconds(secs);
  e->mutable_commit_time()->set_nanos(static_cast<std::int32_t>(rem));
  if (!e->mutable_change()->ParseFromArray(change.data(),
                                           static_cast<int>(change.size())) ||
      !e->mutable_state()->ParseFromArray(state.data(),
                                          static_cast<int>(state.size()))) {
    return absl::DataLossError(
        absl::StrCat(where, ": history entry at revision ", revision,
                     " of subject '", subject, "' does not parse"));
  }
  return absl::OkStatus();
}

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_STORED_RECORD_H_
