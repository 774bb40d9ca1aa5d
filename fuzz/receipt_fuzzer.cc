// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Fuzzes consent receipt reading and verification (consentry/receipt.h).
// The first byte picks the mode:
//   even: the rest is a receipt document, parsed and verified as it is;
//   odd:  the rest is a list of (offset, byte) edits applied to a receipt
//         signed at start-up, then verified.
// Properties: a document that parses re-serialises to exactly its bytes;
// failures carry only the documented codes; a document that verifies is
// canonical and re-serialises to the verified bytes, and each one-byte
// change of it (at an offset the input picks) fails verification; any edit
// that changes the signed receipt fails verification.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "consentry/receipt.h"
#include "fuzz/fuzz_support.h"

namespace {

using consentry::ConsentReceipt;

struct State {
  std::unique_ptr<consentry::FileKeyProvider> keys;
  std::string signed_receipt;
};

State* Init() {
  auto* s = new State;
  const std::string dir =
      std::string(CONSENTRY_SOURCE_DIR) + "/tests/testdata/receipt_keys";
  auto keys = consentry::FileKeyProvider::Open(
      {.paths = {dir}, .signing_key_file = dir + "/2026.pem"});
  CONSENTRY_FUZZ_CHECK(keys.ok(), keys.status().ToString());
  s->keys = *std::move(keys);
  ConsentReceipt r;
  r.receipt_id = "rcpt-fuzz";
  r.controller = {"Example Health K.K.", "03-0000-0000"};
  r.subject_id = "member-7";
  r.revision = 42;
  r.catalogue_version = "2026-11-01";
  consentry::ReceiptPurpose p;
  p.purpose = "marketing.research";
  p.name_ja = "市場調査・分析";
  p.state = "given";
  p.method = "web_form";
  p.categories = {{"measurement", "opt_in"}};
  r.purposes.push_back(p);
  CONSENTRY_FUZZ_CHECK(consentry::SignReceipt(*s->keys, r).ok(), "sign");
  s->signed_receipt = consentry::SerializeReceipt(r);
  return s;
}

bool DocumentedCode(absl::StatusCode c) {
  return c == absl::StatusCode::kInvalidArgument ||
         c == absl::StatusCode::kFailedPrecondition ||
         c == absl::StatusCode::kNotFound ||
         c == absl::StatusCode::kUnauthenticated;
}

void CheckDocument(State& s, const std::string& doc, unsigned pick) {
  absl::StatusOr<ConsentReceipt> parsed = consentry::ParseReceipt(doc);
  if (parsed.ok()) {
    CONSENTRY_FUZZ_CHECK(consentry::SerializeReceipt(*parsed) == doc,
                         "a parsed receipt re-serialises to other bytes");
  } else {
    CONSENTRY_FUZZ_CHECK(
        parsed.status().code() == absl::StatusCode::kInvalidArgument,
        parsed.status().ToString());
  }
  absl::StatusOr<ConsentReceipt> v = consentry::VerifyReceipt(doc, *s.keys);
  if (!v.ok()) {
    CONSENTRY_FUZZ_CHECK(DocumentedCode(v.status().code()),
                         v.status().ToString());
    return;
  }
  CONSENTRY_FUZZ_CHECK(parsed.ok(), "verified but does not parse");
  CONSENTRY_FUZZ_CHECK(consentry::SerializeReceipt(*v) == doc,
                       "a verified receipt re-serialises to other bytes");
  for (unsigned i = 0; i < 4 && !doc.empty(); ++i) {
    std::string changed = doc;
    const std::size_t at = (pick * 2654435761u + i * 40503u) % doc.size();
    changed[at] = static_cast<char>(changed[at] ^ (1 << ((pick + i) % 8)));
    CONSENTRY_FUZZ_CHECK(!consentry::VerifyReceipt(changed, *s.keys).ok(),
                         "a one-byte change still verifies");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  consentry::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static State* state = Init();
  if (size == 0 || size > consentry::kMaxReceiptBytes + 2) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  unsigned pick = 0;
  for (std::size_t i = 0; i < size && i < 16; ++i) pick = pick * 31u + data[i];
  if (data[0] % 2 == 0) {
    CheckDocument(*state, rest, pick);
    return 0;
  }
  std::string doc = state->signed_receipt;
  consentry::fuzz::ApplyByteEdits(rest, doc);
  const bool same = doc == state->signed_receipt;
  absl::StatusOr<ConsentReceipt> v =
      consentry::VerifyReceipt(doc, *state->keys);
  CONSENTRY_FUZZ_CHECK(
      v.ok() == same,
      same ? v.status().ToString() : "an edited receipt still verifies");
  if (!same) {
    CONSENTRY_FUZZ_CHECK(DocumentedCode(v.status().code()),
                         v.status().ToString());
  }
  CheckDocument(*state, doc, pick);
  return 0;
}
