// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: provision.h
// -----------------------------------------------------------------------------
//
// A `ProvisionDesk` gives personal records to a recipient of a
// `RecipientRegistry` (contractor, joint user, third party, foreign third
// party) after every check, and writes the provision record and one audit
// event per record. The checks, the consent model and the records are
// documented in recipients.h.
//
// Example:
//
//   auto registry = consentry::RecipientRegistry::Create(proto, *policy);
//   consentry::InMemoryProvisionRecordStore records;
//   auto desk = consentry::ProvisionDesk::Create(guard.get(),
//                                                registry->get(), &records);
//   absl::StatusOr<consentry::AccessContext> ctx =
//       guard->Context("support-desk", "support");
//   absl::StatusOr<consentry::ProvisionOutcome> out =
//       (*desk)->Provide(*ctx, "callcenter-tokyo", {contact_tags});
//   if (!out.ok()) return out.status();        // outage: nothing was given
//   for (std::size_t i : out->provided) {
//     // hand record i over
//   }

#ifndef CONSENTRY_PROVISION_H_
#define CONSENTRY_PROVISION_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "consentry/export.h"
#include "consentry/guard.h"
#include "consentry/protected.h"
#include "consentry/recipients.h"

namespace consentry {

// The result of `ProvisionDesk::Provide`: what was given and what was
// refused.
struct ProvisionOutcome {
  // Indices (into the input) of the records given to the recipient, in
  // input order.
  std::vector<std::size_t> provided;
  // The records refused, with the decision that refused each.
  std::vector<BatchDenial> denied;
  // Id of the provision record written; empty when nothing was provided.
  std::string record_id;
};

// Gives records to recipients. Thread-safe (it holds no mutable state).
// Does not own the Guard, the registry or the record store; each must
// outlive the desk. Consent is read from the Guard's store, and every event
// goes to the Guard's audit sink.
class CONSENTRY_EXPORT ProvisionDesk {
 public:
  // Errors: `kInvalidArgument` when a pointer is null.
  static absl::StatusOr<std::unique_ptr<ProvisionDesk>> Create(
      Guard* guard, const RecipientRegistry* registry,
      ProvisionRecordStore* records);

  ProvisionDesk(const ProvisionDesk&) = delete;
  ProvisionDesk& operator=(const ProvisionDesk&) = delete;
  ~ProvisionDesk();

  // Gives `records` to the recipient `recipient_id` for the purpose of
  // `ctx`, and writes the provision record. Each record is checked and
  // audited (a read event, then a `kProvision` event naming the recipient);
  // a refused record is listed in the outcome with its reason. Shadow mode
  // does not apply: a refused provision is refused.
  //
  // Errors: `kNotFound` for an unknown recipient; `kUnavailable` when the
  // consent store, the audit sink or the record store fails (then nothing
  // may be given).
  absl::StatusOr<ProvisionOutcome> Provide(
      const AccessContext& ctx, absl::string_view recipient_id,
      absl::Span<const RecordTags> records);

  // `Provide` for a batch of protected values: provides their tags.
  template <typename T>
  absl::StatusOr<ProvisionOutcome> ProvideProtected(
      const AccessContext& ctx, absl::string_view recipient_id,
      absl::Span<const Protected<T>> records) {
    std::vector<RecordTags> tags;
    tags.reserve(records.size());
    for (const Protected<T>& r : records) tags.push_back(r.tags());
    return Provide(ctx, recipient_id, tags);
  }

 private:
  ProvisionDesk(Guard* guard, const RecipientRegistry* registry,
                ProvisionRecordStore* records);

  Guard* guard_;
  const RecipientRegistry* registry_;
  ProvisionRecordStore* records_;
};

}  // namespace consentry

#endif  // CONSENTRY_PROVISION_H_
