// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Fuzzes the access log's retention record (consentry/audit_retention.h),
// the file that tells verification where a retained log starts. The first
// byte picks the mode:
//   even: the rest is a record's text, parsed as it is;
//   odd:  the rest is a list of (offset, byte) edits applied to a record
//         signed at start-up, then parsed and verified.
// Properties: a text that parses re-serialises to exactly its bytes (the
// parser is strict), and a refusal is `kInvalidArgument`; the signed
// record verifies; an edited record that still parses verifies only when
// it is the signed record, field for field.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "consentry/audit_log.h"
#include "consentry/audit_retention.h"
#include "consentry/signing.h"
#include "fuzz/fuzz_support.h"

namespace {

using consentry::AuditRetentionRecord;

struct State {
  std::unique_ptr<consentry::FileKeyProvider> keys;
  AuditRetentionRecord record;
  std::string text;
};

State* Init() {
  auto* s = new State;
  const std::string dir =
      std::string(CONSENTRY_SOURCE_DIR) + "/tests/testdata/receipt_keys";
  auto keys = consentry::FileKeyProvider::Open(
      {.paths = {dir}, .signing_key_file = dir + "/2026.pem"});
  CONSENTRY_FUZZ_CHECK(keys.ok(), keys.status().ToString());
  s->keys = *std::move(keys);
  AuditRetentionRecord& r = s->record;
  r.cut.sequence_end = 2640;
  r.cut.last_hash = std::string(32, '\x5a');
  r.cut.segment = 3;
  r.cut.time_unix_nanos = 1'780'000'000'123'456'789;
  auto id = s->keys->CurrentKeyId();
  CONSENTRY_FUZZ_CHECK(id.ok(), id.status().ToString());
  r.cut.key_id = *id;
  auto cut_signature =
      s->keys->Sign(*id, consentry::AuditCheckpointSigningBytes(r.cut));
  CONSENTRY_FUZZ_CHECK(cut_signature.ok(), cut_signature.status().ToString());
  r.cut.signature = *cut_signature;
  r.removed_first_segment = 0;
  r.removed_first_sequence = 0;
  r.has_removed_events = true;
  r.removed_min_time_unix_nanos = 1'580'000'000'000'000'000;
  r.removed_max_time_unix_nanos = 1'580'000'000'000'002'639;
  r.cutoff_unix_nanos = 1'748'000'000'000'000'000;
  auto signature = s->keys->Sign(*id, consentry::AuditRetentionSigningBytes(r));
  CONSENTRY_FUZZ_CHECK(signature.ok(), signature.status().ToString());
  r.signature = *signature;
  s->text = consentry::SerializeAuditRetentionRecord(r);
  auto back = consentry::ParseAuditRetentionRecord(s->text);
  CONSENTRY_FUZZ_CHECK(back.ok() && *back == r,
                       "the signed record does not read back");
  CONSENTRY_FUZZ_CHECK(consentry::VerifyAuditRetentionRecord(r, *s->keys).ok(),
                       "the signed record does not verify");
  return s;
}

// Parses `text`; checks the round trip or the refusal's code.
absl::StatusOr<AuditRetentionRecord> Parse(const std::string& text) {
  absl::StatusOr<AuditRetentionRecord> parsed =
      consentry::ParseAuditRetentionRecord(text);
  if (parsed.ok()) {
    CONSENTRY_FUZZ_CHECK(
        consentry::SerializeAuditRetentionRecord(*parsed) == text,
        "a parsed record re-serialises to other bytes");
  } else {
    CONSENTRY_FUZZ_CHECK(
        parsed.status().code() == absl::StatusCode::kInvalidArgument,
        parsed.status().ToString());
  }
  return parsed;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  consentry::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static State* state = Init();
  if (size == 0 || size > 4096) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    Parse(rest).IgnoreError();
    return 0;
  }
  std::string text = state->text;
  consentry::fuzz::ApplyByteEdits(rest, text);
  absl::StatusOr<AuditRetentionRecord> parsed = Parse(text);
  if (!parsed.ok()) return 0;
  const bool verifies =
      consentry::VerifyAuditRetentionRecord(*parsed, *state->keys).ok();
  CONSENTRY_FUZZ_CHECK(verifies == (*parsed == state->record),
                       verifies ? "an edited record still verifies"
                                : "the signed record no longer verifies");
  return 0;
}
