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

namespace consentctl {
namespace {

namespace v1 = ::consentry::v1;

// The record versions from the store's history.
class StoreHistorySource final : public consentry::ConsentHistorySource {
 public:
  explicit StoreHistorySource(consentry::ConsentStore* store) : store_(store) {}
  absl::StatusOr<std::vector<v1::ConsentRecord>> HistoryFor(
      absl::string_view subject_id) override {
    auto history = store_->History(subject_id);
    if (!history.ok()) return history.status();
    std::vector<v1::ConsentRecord> out;
    for (const v1::ConsentHistoryEntry& e : *history) out.push_back(e.state());
    return out;
  }

 private:
  consentry::ConsentStore* store_;
};

class MemorySources final : public Sources {
 public:
  explicit MemorySources(consentry::ConsentStore* store) : history_(store) {}
  consentry::AuditSink* audit() override { return &sink_; }
  consentry::AccessEventSource* access_events() override { return nullptr; }
  consentry::ConsentHistorySource* history() override { return &history_; }

 private:
  consentry::InMemoryAuditSink sink_;
  StoreHistorySource history_;
};

// The subject's access records from the log's per-subject index.
class LogEventSource final : public consentry::AccessEventSource {
 public:
  explicit LogEventSource(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<std::vector<consentry::OwnedAuditEvent>> EventsFor(
      absl::string_view subject_id) override {
    auto reader = consentry::AuditLogReader::Open(dir_);
    if (!reader.ok()) return absl::UnavailableError(reader.status().message());
    auto events = (*reader)->ForSubject(subject_id);
    if (!events.ok()) return absl::UnavailableError(events.status().message());
    // Request steps are the desk's own records, not accesses to the data.
    std::vector<consentry::OwnedAuditEvent> out;
    for (consentry::OwnedAuditEvent& e : *events) {
      if (e.action != consentry::AuditAction::kRequest) {
        out.push_back(std::move(e));
      }
    }
    return out;
  }

 private:
  std::string dir_;
};

class LogSources final : public Sources {
 public:
  LogSources(std::unique_ptr<consentry::AuditLog> log, std::string dir,
             consentry::ConsentStore* store)
      : log_(std::move(log)), events_(std::move(dir)), history_(store) {}
  ~LogSources() override {
    if (absl::Status s = log_->Close(); !s.ok()) {
      std::cerr << "consentctl: closing the access log: " << s << "\n";
    }
  }
  consentry::AuditSink* audit() override { return log_.get(); }
  consentry::AccessEventSource* access_events() override { return &events_; }
  consentry::ConsentHistorySource* history() override { return &history_; }

 private:
  std::unique_ptr<consentry::AuditLog> log_;
  LogEventSource events_;
  StoreHistorySource history_;
};

}  // namespace

std::vector<Flag> SourceFlags() {
  return {{"audit-dir", "DIR",
           "the access log: request steps are appended to it, and a "
           "disclosure package lists the subject's accesses from it",
           ""},
          {"hmac-key-file", "FILE", "the HMAC key of the access log", ""}};
}

absl::StatusOr<std::unique_ptr<Sources>> OpenSources(
    const ParsedArgs& args, consentry::ConsentStore* store) {
  if (!args.Has("audit-dir")) {
    std::cerr << "consentctl: warning: no --audit-dir; this step is not "
                 "recorded in an access log\n";
    return std::unique_ptr<Sources>(std::make_unique<MemorySources>(store));
  }
  consentry::AuditLogOptions options;
  options.directory = args.Get("audit-dir");
  options.queue_capacity = 64;
  if (absl::Status s = ReadKeyFile(args, options.hmac_key); !s.ok()) return s;
  auto log = consentry::AuditLog::Open(options);
  if (!log.ok()) return log.status();
  return std::unique_ptr<Sources>(std::make_unique<LogSources>(
      std::move(*log), args.Get("audit-dir"), store));
}

}  // namespace consentctl
