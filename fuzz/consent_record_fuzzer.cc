// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Fuzzes consent records in their three forms through `ParseConsentRecord`,
// then compiles what parses into a Guard's consent cache. Input: one byte
// choosing the form (see `FormatFromByte`), then the record.
//
// Properties beyond "does not crash":
//   * a parse error is `kInvalidArgument`;
//   * what parses, written in each form and read back, is equal to it
//     (binary and text always; JSON whenever it can be printed: proto3 JSON
//     cannot hold a timestamp outside years 1-9999);
//   * a Guard serving the record answers every check without error, and
//     never allows a read of an erased subject or of one whose every use is
//     suspended.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/proto_io.h"
#include "consentry/v1/consent.pb.h"
#include "fuzz/fuzz_support.h"
#include "google/protobuf/util/message_differencer.h"
#include "src/core/consent_cache.h"
#include "src/core/subject_state.h"

namespace consentry::fuzz {
namespace {

// A store holding exactly one record, as it came off the wire (a durable
// store returns what it was given, so the Guard must cope with any record).
class OneRecordStore final : public ConsentStore {
 public:
  explicit OneRecordStore(v1::ConsentRecord record)
      : record_(std::move(record)) {}

  absl::StatusOr<v1::ConsentRecord> Get(absl::string_view subject) override {
    if (subject == record_.subject_id()) return record_;
    v1::ConsentRecord empty;
    empty.set_subject_id(std::string(subject));
    return empty;
  }
  absl::StatusOr<Revision> Apply(const v1::ConsentChange&) override {
    return absl::UnimplementedError("read-only");
  }
  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSince(Revision after,
                                                              int) override {
    std::vector<v1::ConsentRecord> out;
    if (record_.revision() > after) out.push_back(record_);
    return out;
  }
  absl::StatusOr<Revision> LatestRevision() override {
    return record_.revision();
  }
  std::unique_ptr<Subscription> Watch(ConsentListener) override {
    return std::make_unique<Subscription>();
  }

 private:
  v1::ConsentRecord record_;
};

void CheckRoundTrip(const v1::ConsentRecord& record, WireFormat format) {
  absl::StatusOr<std::string> out = SerializeMessage(record, format);
  if (format == WireFormat::kJson && !out.ok()) return;
  CONSENTRY_FUZZ_CHECK(out.ok(), out.status().ToString());
  absl::StatusOr<v1::ConsentRecord> again =
      ParseConsentRecord(*out, format, "round trip");
  CONSENTRY_FUZZ_CHECK(again.ok(), absl::StrCat(again.status().ToString(),
                                                "\nprinted:\n", *out));
  CONSENTRY_FUZZ_CHECK(
      google::protobuf::util::MessageDifferencer::Equals(record, *again),
      absl::StrCat("round trip changed the record; printed:\n", *out));
}

void CheckCache(const CompiledPolicy& policy, const v1::ConsentRecord& record) {
  // The compiled profile goes into a cache and reads back unchanged.
  internal::ConsentCache cache;
  const internal::SubjectState s = internal::CompileSubjectState(
      policy, record, absl::FromUnixSeconds(1'790'000'000));
  const internal::ConsentCache::UpsertResult stored =
      cache.Upsert(record.subject_id(), s, false);
  internal::ReadSection section;
  if (stored == internal::ConsentCache::UpsertResult::kStored) {
    const internal::SubjectProfile* profile = nullptr;
    std::int64_t revision = 0;
    CONSENTRY_FUZZ_CHECK(
        cache.Lookup(record.subject_id(),
                     internal::ConsentCache::Hash(record.subject_id()),
                     &profile, &revision),
        "stored subject not found");
    CONSENTRY_FUZZ_CHECK(*profile == s.profile && revision == s.revision,
                         "cache returned another state");
  } else {
    // Not stored: never readable (the caller goes to the store).
    const internal::SubjectProfile* profile = nullptr;
    std::int64_t revision = 0;
    CONSENTRY_FUZZ_CHECK(
        !cache.Lookup(record.subject_id(),
                      internal::ConsentCache::Hash(record.subject_id()),
                      &profile, &revision),
        "a state the cache could not store is readable");
  }
}

void CheckGuard(const std::shared_ptr<const CompiledPolicy>& policy,
                const v1::ConsentRecord& record, bool warm) {
  OneRecordStore store(record);
  InMemoryAuditSink audit;
  GuardOptions options;
  options.clock = [] { return absl::FromUnixSeconds(1'790'000'000); };
  absl::StatusOr<std::unique_ptr<Guard>> guard =
      Guard::Create(policy, &store, &audit, options);
  CONSENTRY_FUZZ_CHECK(guard.ok(), guard.status().ToString());
  if (warm) {
    absl::Status s = (*guard)->WarmCache();
    CONSENTRY_FUZZ_CHECK(s.ok(), s.ToString());
  }
  const bool never_allowed =
      record.restrictions().erased() || record.restrictions().suspend_all();
  const bool unreadable = !record.data_loss().empty();
  // Occasion ids from the record, so that per-occasion entries are matched.
  std::vector<std::string> occasions = {"no-such-occasion"};
  for (const v1::PurposeConsent& pc : record.purposes()) {
    if (!pc.occasion_id().empty() && occasions.size() < 3) {
      occasions.push_back(pc.occasion_id());
    }
  }
  for (int a = 0; a < policy->accessor_count(); ++a) {
    const auto ai = static_cast<AccessorIndex>(a);
    policy->declarable_by(ai).ForEach([&](PurposeIndex pi) {
      const bool per_occasion = policy->per_occasion().Contains(pi);
      for (std::size_t o = 0; o < (per_occasion ? occasions.size() : 1); ++o) {
        absl::StatusOr<AccessContext> ctx =
            (*guard)->Context(policy->accessor_id(ai), policy->purpose_id(pi),
                              per_occasion ? occasions[o] : "");
        CONSENTRY_FUZZ_CHECK(ctx.ok(), ctx.status().ToString());
        for (int c = 0; c < policy->category_count(); ++c) {
          absl::StatusOr<CategoryRef> cat = (*guard)->Category(
              policy->category_id(static_cast<CategoryIndex>(c)));
          CONSENTRY_FUZZ_CHECK(cat.ok(), cat.status().ToString());
          absl::StatusOr<Decision> d =
              (*guard)->Check(*ctx, record.subject_id(), *cat);
          if (unreadable) {
            // A record a store marked unreadable carries no consent: a check
            // that reaches the subject fails closed with DATA_LOSS; one the
            // policy decides first is denied by the policy.
            CONSENTRY_FUZZ_CHECK(
                d.ok() ? !d->allowed()
                       : d.status().code() == absl::StatusCode::kDataLoss,
                absl::StrCat(
                    "unreadable record not denied: ",
                    d.ok() ? ReasonName(d->reason()) : d.status().ToString()));
            continue;
          }
          CONSENTRY_FUZZ_CHECK(d.ok(), d.status().ToString());
          if (never_allowed) {
            CONSENTRY_FUZZ_CHECK(
                !d->allowed(),
                absl::StrCat("erased or suspended subject allowed for ",
                             policy->purpose_id(pi), ": ",
                             ReasonName(d->reason())));
          }
        }
      }
    });
  }
}

}  // namespace
}  // namespace consentry::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  consentry::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace consentry;
  static const std::shared_ptr<const CompiledPolicy> policy =
      fuzz::DefaultPolicy();
  if (size < 1) return 0;
  const WireFormat format = fuzz::FormatFromByte(data[0]);
  const absl::string_view bytes(reinterpret_cast<const char*>(data + 1),
                                size - 1);
  absl::StatusOr<v1::ConsentRecord> record =
      ParseConsentRecord(bytes, format, "fuzz");
  if (!record.ok()) {
    CONSENTRY_FUZZ_CHECK(
        record.status().code() == absl::StatusCode::kInvalidArgument,
        record.status().ToString());
    return 0;
  }
  v1::ConsentRecord known = *record;
  known.DiscardUnknownFields();  // text and JSON cannot carry them
  fuzz::CheckRoundTrip(*record, WireFormat::kBinary);
  fuzz::CheckRoundTrip(known, WireFormat::kText);
  fuzz::CheckRoundTrip(known, WireFormat::kJson);
  fuzz::CheckCache(*policy, *record);
  // The record served on a cache miss, and loaded up front.
  fuzz::CheckGuard(policy, *record, /*warm=*/false);
  fuzz::CheckGuard(policy, *record, /*warm=*/true);
  return 0;
}
