// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: protected.h
// -----------------------------------------------------------------------------
//
// `Protected<T>` holds a personal-data value tagged at collection with its
// subject, data category and the purposes it was collected for. It has no
// getter: the value is reachable only with an `AccessGrant` that the Guard
// minted for this record (its tags, or a copy of them) and a purpose the
// record was collected for. A read without a purpose does not compile; a
// grant minted for another record, even one of the same subject and
// category, is refused at run time.
//
// Values computed from a protected value stay protected with the same tags
// (`Derive`). A batch of records is filtered for one purpose with
// `FilterReadable`, which audits one decision per record; a `BatchGrant`
// (`Guard::AuthorizeBatch`, one audit event for the batch) opens each
// record it included.
//
// Example:
//
//   absl::StatusOr<consentry::RecordTags> tags = guard.Tag(
//       "member-7", "measurement", {"statistics.measurement"});
//   consentry::Protected<double> weight(*std::move(tags), 61.2);
//
//   absl::StatusOr<consentry::AccessGrant> grant =
//       guard.Authorize(stats_ctx, weight);
//   if (!grant.ok()) return grant.status();   // denied, with the reason
//   absl::StatusOr<const double*> kg = weight.Read(*grant);

#ifndef CONSENTRY_PROTECTED_H_
#define CONSENTRY_PROTECTED_H_

#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "consentry/guard.h"

namespace consentry {

// A value of personal data with its collection tags. Thread-compatible;
// copyable when `T` is (a copy carries the same tags: a grant for the
// original opens it).
template <typename T>
class Protected {
 public:
  Protected(RecordTags tags, T value)
      : tags_(std::move(tags)), value_(std::move(value)) {}

  const RecordTags& tags() const { return tags_; }

  // The value, if `grant` opens this record: minted for these tags (or
  // tags they were copied from or to), for a purpose that complies with the
  // collection purposes.
  //
  // Errors: `kPermissionDenied` naming the mismatch (another record, a
  // moved-from grant, category or purpose). The pointer is valid while this
  // object lives.
  absl::StatusOr<const T*> Read(const AccessGrant& grant) const
      ABSL_ATTRIBUTE_LIFETIME_BOUND {
    absl::Status s = grant.Opens(tags_);
    if (!s.ok()) return s;
    return &value_;
  }

  // The value, if `grant` included this record as record `index` of its
  // batch. Errors: `kPermissionDenied` when the grant does not cover this
  // record at `index`, or its decision did not let the read proceed.
  absl::StatusOr<const T*> Read(const BatchGrant& grant, std::size_t index)
      const ABSL_ATTRIBUTE_LIFETIME_BOUND {
    absl::Status s = grant.Opens(tags_, index);
    if (!s.ok()) return s;
    return &value_;
  }

  // A value computed from this one, protected with the same tags. `f` is
  // called with `const T&` only if `grant` opens this record.
  // Errors: as `Read`.
  template <typename F>
  auto Derive(const AccessGrant& grant, F&& f) const -> absl::StatusOr<
      Protected<std::decay_t<std::invoke_result_t<F, const T&>>>> {
    using U = std::decay_t<std::invoke_result_t<F, const T&>>;
    absl::Status s = grant.Opens(tags_);
    if (!s.ok()) return s;
    return Protected<U>(tags_, std::forward<F>(f)(value_));
  }

 private:
  RecordTags tags_;
  T value_;
};

// One record left out of a batch, and why.
struct BatchDenial {
  std::size_t index;  // position in the input span
  Decision decision;
};

// The readable part of a batch: views of the allowed values, in input
// order, and the denials. Views are valid while the input records live.
// Move-only, thread-compatible.
template <typename T>
class ReadableBatch {
 public:
  ReadableBatch(ReadableBatch&&) noexcept = default;
  ReadableBatch& operator=(ReadableBatch&&) noexcept = default;

  // Allowed values, with their index in the input.
  const std::vector<std::pair<std::size_t, const T*>>& allowed() const {
    return allowed_;
  }
  const std::vector<BatchDenial>& denied() const { return denied_; }

 private:
  ReadableBatch() = default;
  template <typename U>
  friend absl::StatusOr<ReadableBatch<U>> FilterReadable(
      Guard&, const AccessContext&, absl::Span<const Protected<U>>);

  std::vector<std::pair<std::size_t, const T*>> allowed_;
  std::vector<BatchDenial> denied_;
};

// Filters `records` for the purpose of `ctx`: checks (and audits) each
// record and returns the values that may be read, with the denials.
// Errors: `kUnavailable` when the consent store or audit sink fails; then
// nothing is returned (fail closed).
template <typename T>
absl::StatusOr<ReadableBatch<T>> FilterReadable(
    Guard& guard, const AccessContext& ctx,
    absl::Span<const Protected<T>> records) {
  ReadableBatch<T> out;
  out.allowed_.reserve(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    absl::StatusOr<Guard::Authorization> a =
        guard.Evaluate(ctx, records[i].tags());
    if (!a.ok()) return a.status();
    if (!a->grant.has_value()) {
      out.denied_.push_back(BatchDenial{i, a->decision});
      continue;
    }
    absl::StatusOr<const T*> v = records[i].Read(*a->grant);
    if (!v.ok()) return v.status();
    out.allowed_.emplace_back(i, *v);
  }
  return out;
}

}  // namespace consentry

#endif  // CONSENTRY_PROTECTED_H_
