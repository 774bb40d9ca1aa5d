// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentctl_sources.h"

#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace

std::vector<Flag> SourceFlags() { return {}; }

absl::StatusOr<std::unique_ptr<Sources>> OpenSources(
    const ParsedArgs& /*args*/, consentry::ConsentStore* store) {
  return std::unique_ptr<Sources>(std::make_unique<MemorySources>(store));
}

}  // namespace consentctl
