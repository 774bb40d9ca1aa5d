// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: postgres_records.h
// -----------------------------------------------------------------------------
//
// Data-subject requests (`RequestStore`, requests.h) and the records of
// provision to and receipt from third parties (`ProvisionRecordStore`,
// recipients.h; APPI Art. 29, 30) in PostgreSQL, shared by every service
// that connects to the same database and schema. They may share the
// schema of a `PostgresConsentStore` (postgres_store.h): each component
// keeps its own schema version, and every migration runs under one
// advisory lock, so services starting at once migrate once.
//
// Requests: `Update` is a compare-and-set on the request's version inside
// a transaction: of two services updating one request from the same
// version, one wins and the other gets `kAborted` with nothing written, so
// no step of the procedure is lost. Provision records: each (record,
// subject) pair is a row of a subject table, so one subject's records are
// found by index, however many subjects a record names.
//
// Every call fails with `kUnavailable` naming the server (host, port,
// database; never credentials) while it is unreachable, writes nothing half
// (each write is one transaction), and reconnects by itself on a later
// call. A stored row that does not parse is `kDataLoss` naming the row (the
// request or record id); rows of other subjects stay readable.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<consentry::PostgresRequestStore>>
//       requests = consentry::PostgresRequestStore::Open(
//           "host=/run/postgresql dbname=app user=app");
//   if (!requests.ok()) return requests.status();  // kUnavailable: down
//   auto records = consentry::PostgresProvisionRecordStore::Open(
//       "host=/run/postgresql dbname=app user=app");
//   if (!records.ok()) return records.status();
//   auto desk = consentry::RequestDesk::Create(policy, &consent_store,
//                                              requests->get(), &audit, {});

#ifndef CONSENTRY_POSTGRES_RECORDS_H_
#define CONSENTRY_POSTGRES_RECORDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "consentry/export.h"
#include "consentry/postgres_store.h"
#include "consentry/recipients.h"
#include "consentry/requests.h"

namespace consentry {

// A `RequestStore` in PostgreSQL. Thread-safe; owns one connection, on
// which calls are serialized. Ids are "req-<n>", unique across every
// service sharing the schema (one sequence).
class CONSENTRY_EXPORT PostgresRequestStore final : public RequestStore {
 public:
  // The version of the request tables this library writes (component
  // "requests" of the schema; independent of the consent store's).
  static constexpr int kSchemaVersion = 1;

  // Connects with the libpq connection string `conninfo` and creates or
  // migrates the request tables in `options.schema` (the other options as
  // for the consent store; `heartbeat_interval` is unused).
  //
  // Errors: `kInvalidArgument` for a malformed `conninfo` or schema name;
  // `kUnavailable` naming the server when it cannot be reached;
  // `kFailedPrecondition` when the tables were written by a newer library.
  static absl::StatusOr<std::unique_ptr<PostgresRequestStore>> Open(
      const std::string& conninfo, PostgresStoreOptions options = {});

  PostgresRequestStore(const PostgresRequestStore&) = delete;
  PostgresRequestStore& operator=(const PostgresRequestStore&) = delete;
  ~PostgresRequestStore() override;

  // RequestStore. Also `kInvalidArgument` for a verified subject id with
  // a NUL byte (a text column cannot hold it), and `kDataLoss` naming the
  // request for a stored row that does not parse or names another request. A
  // `kUnavailable` from a write whose commit was not confirmed says so (the
  // write may have been applied).
  absl::StatusOr<v1::SubjectRequest> Create(
      v1::SubjectRequest request) override;
  absl::StatusOr<v1::SubjectRequest> Get(absl::string_view id) override;
  absl::StatusOr<v1::SubjectRequest> Update(
      const v1::SubjectRequest& request) override;
  absl::StatusOr<std::vector<v1::SubjectRequest>> ListBySubject(
      absl::string_view subject_id) override;
  absl::StatusOr<RequestListing> ListOpen() override;
  absl::StatusOr<RequestListing> ListAll() override;
  // Moves the id sequence past the imported number, in one transaction.
  absl::StatusOr<v1::SubjectRequest> Import(
      const v1::SubjectRequest& request) override;

  // "host=... port=... dbname=..." of the server, without credentials.
  const std::string& target() const;

 private:
  struct Impl;
  explicit PostgresRequestStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A `ProvisionRecordStore` in PostgreSQL. Thread-safe; owns one
// connection, on which calls are serialized. Assigned ids are
// "prov-<n>" and "rcpt-<n>" (one sequence per schema).
class CONSENTRY_EXPORT PostgresProvisionRecordStore final
    : public ProvisionRecordStore {
 public:
  // The version of the record tables this library writes (component
  // "provisions" of the schema).
  static constexpr int kSchemaVersion = 2;

  // As `PostgresRequestStore::Open`, for the record tables.
  static absl::StatusOr<std::unique_ptr<PostgresProvisionRecordStore>> Open(
      const std::string& conninfo, PostgresStoreOptions options = {});

  PostgresProvisionRecordStore(const PostgresProvisionRecordStore&) = delete;
  PostgresProvisionRecordStore& operator=(const PostgresProvisionRecordStore&) =
      delete;
  ~PostgresProvisionRecordStore() override;

  // ProvisionRecordStore. Also `kInvalidArgument` naming the field for an
  // id, subject, recipient id, provider name or series id with a NUL byte
  // (a text column cannot hold it); `kDataLoss` naming the record for a stored
  // row that does not parse (a query of a subject the row does not name is
  // unaffected).
  absl::StatusOr<std::string> AddProvision(v1::ProvisionRecord record) override;
  absl::StatusOr<std::string> AddReceipt(v1::ReceiptRecord record) override;
  // In one transaction.
  absl::StatusOr<std::vector<std::string>> AddRecords(
      v1::ProvisionHistory history) override;
  absl::StatusOr<v1::ProvisionHistory> Query(
      const RecordFilter& filter) override;
  absl::Status Delete(absl::Span<const std::string> provision_ids,
                      absl::Span<const std::string> receipt_ids) override;
  // Runs in one transaction that keeps other writers out (they wait) from
  // the selection of the due records to the commit; `approve` runs inside
  // it and must not call this store. A series removed whole leaves no
  // trace: a later record of the same series id starts a new one.
  absl::StatusOr<PurgeResult> PurgeDue(
      absl::Time now, const PurgeApproval& approve = nullptr) override;

  // "host=... port=... dbname=..." of the server, without credentials.
  const std::string& target() const;

 private:
  struct Impl;
  explicit PostgresProvisionRecordStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace consentry

#endif  // CONSENTRY_POSTGRES_RECORDS_H_
