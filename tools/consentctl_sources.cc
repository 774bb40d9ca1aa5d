// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentctl_sources.h"

#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "consentctl_audit.h"
#include "consentry/audit_log.h"
#include "consentry/disclosure_sources.h"
#include "consentry/proto_io.h"
#include "consentry/recipients.h"
#include "consentry/v1/recipient.pb.h"

namespace consentctl {
namespace {

namespace v1 = ::consentry::v1;

// The provision and receipt records: the file --provision-records names
// (a consentry.v1.ProvisionHistory), held in memory.
// Without --provision-records, the durable store's records (`durable`).
class ProvisionRecords {
 public:
  consentry::ProvisionRecordSource* provisions() {
    return durable_source_ ? durable_source_.get() : &source_;
  }
  consentry::InMemoryProvisionRecordStore& store() { return store_; }
  void UseDurable(consentry::ProvisionRecordStore* durable) {
    durable_source_ =
        std::make_unique<consentry::ProvisionStoreSource>(durable);
  }

 private:
  consentry::InMemoryProvisionRecordStore store_;
  consentry::ProvisionStoreSource source_{&store_};
  std::unique_ptr<consentry::ProvisionStoreSource> durable_source_;
};

class MemorySources final : public Sources, public ProvisionRecords {
 public:
  explicit MemorySources(consentry::ConsentStore* store) : history_(store) {}
  consentry::AuditSink* audit() override { return &sink_; }
  consentry::AccessEventSource* access_events() override { return nullptr; }
  consentry::ConsentHistorySource* history() override { return &history_; }
  consentry::ProvisionRecordSource* provisions() override {
    return ProvisionRecords::provisions();
  }

 private:
  consentry::InMemoryAuditSink sink_;
  consentry::ConsentStoreHistorySource history_;
};

class LogSources final : public Sources, public ProvisionRecords {
 public:
  LogSources(std::unique_ptr<consentry::FileHmacKeyProvider> keys,
             std::unique_ptr<consentry::AuditLog> log, std::string dir,
             consentry::ConsentStore* store)
      : keys_(std::move(keys)),
        log_(std::move(log)),
        events_(std::move(dir), log_.get()),
        history_(store) {}
  ~LogSources() override {
    if (absl::Status s = log_->Close(); !s.ok()) {
      std::cerr << "consentctl: closing the access log: " << s << "\n";
    }
  }
  consentry::AuditSink* audit() override { return log_.get(); }
  consentry::AccessEventSource* access_events() override { return &events_; }
  consentry::ConsentHistorySource* history() override { return &history_; }
  consentry::ProvisionRecordSource* provisions() override {
    return ProvisionRecords::provisions();
  }

 private:
  // The log's HMAC keys: they outlive it.
  std::unique_ptr<consentry::FileHmacKeyProvider> keys_;
  std::unique_ptr<consentry::AuditLog> log_;
  consentry::AuditLogAccessEventSource events_;
  consentry::ConsentStoreHistorySource history_;
};

// Loads --provision-records into `records`. Without the flag the records
// are those of `durable` (the store's), or none, with a warning, when it is
// null.
absl::Status LoadProvisionRecords(const ParsedArgs& args,
                                  consentry::ProvisionRecordStore* durable,
                                  ProvisionRecords& records) {
  if (!args.Has("provision-records")) {
    if (durable != nullptr) {
      records.UseDurable(durable);
      return absl::OkStatus();
    }
    std::cerr << "consentctl: warning: no --provision-records; a disclosure "
                 "package lists no provision or receipt records\n";
    return absl::OkStatus();
  }
  const std::string path = args.Get("provision-records");
  auto format = consentry::FormatFromPath(path);
  if (!format.ok()) return format.status();
  auto data = consentry::ReadFileToString(path);
  if (!data.ok()) return data.status();
  v1::ProvisionHistory history;
  if (absl::Status s = consentry::ParseMessage(*data, *format, history, path);
      !s.ok()) {
    return s;
  }
  for (v1::ProvisionRecord& p : *history.mutable_provisions()) {
    auto id = records.store().AddProvision(std::move(p));
    if (!id.ok()) return id.status();
  }
  for (v1::ReceiptRecord& r : *history.mutable_receipts()) {
    auto id = records.store().AddReceipt(std::move(r));
    if (!id.ok()) return id.status();
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<Flag> SourceFlags() {
  return {{"audit-dir", "DIR",
           "the access log: request steps are appended to it, and a "
           "disclosure package lists the subject's accesses from it",
           ""},
          {"hmac-key-file", "FILE", "the HMAC key of the access log", ""},
          {"hmac-key-dir", "DIR",
           "the HMAC keys of the access log by id (CURRENT and <id>.key "
           "files, hex): new segments are chained under the current key",
           ""},
          {"provision-records", "FILE",
           "legacy: the records of provision and receipt "
           "(consentry.v1.ProvisionHistory) a disclosure package lists "
           "instead of the store's ('recipients add-records' files them "
           "in the store)",
           ""}};
}

absl::StatusOr<std::unique_ptr<Sources>> OpenSources(
    const ParsedArgs& args, consentry::ConsentStore* store,
    consentry::ProvisionRecordStore* records) {
  if (!args.Has("audit-dir")) {
    std::cerr << "consentctl: warning: no --audit-dir; this step is not "
                 "recorded in an access log\n";
    auto sources = std::make_unique<MemorySources>(store);
    if (absl::Status s = LoadProvisionRecords(args, records, *sources);
        !s.ok()) {
      return s;
    }
    return std::unique_ptr<Sources>(std::move(sources));
  }
  consentry::AuditLogOptions options;
  options.directory = args.Get("audit-dir");
  options.queue_capacity = 64;
  // Another consentctl writing this log finishes within this; a service
  // that holds the log keeps it, and the command fails naming it.
  options.lock_wait = absl::Seconds(10);
  if (absl::Status s = ReadKeyFile(args, options.hmac_key); !s.ok()) return s;
  auto keys = OpenHmacKeyDir(args);
  if (!keys.ok()) return keys.status();
  options.hmac_keys = keys->get();
  auto log = consentry::AuditLog::Open(options);
  if (!log.ok()) return log.status();
  auto sources = std::make_unique<LogSources>(*std::move(keys), std::move(*log),
                                              args.Get("audit-dir"), store);
  if (absl::Status s = LoadProvisionRecords(args, records, *sources); !s.ok()) {
    return s;
  }
  return std::unique_ptr<Sources>(std::move(sources));
}

}  // namespace consentctl
