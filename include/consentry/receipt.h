// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: receipt.h
// -----------------------------------------------------------------------------
//
// Consent receipts: what the person is given as proof of a consent
// decision. A receipt carries the consent record fields of ISO/IEC TS 27560
// (controller, subject, purposes, the data categories each purpose uses and
// their legal basis, the consent state, its time, the policy and notice
// versions the person saw, how the consent was given, a receipt id and the
// record revision), as canonical JSON signed with Ed25519, and reads as
// Japanese or English text (APPI Art. 27/28: records of consent shown to
// the person).
//
// The canonical form (docs/design/receipts.md) is a subset of RFC 8785 JSON
// canonicalization: one object, keys sorted, every key always present, no
// whitespace, strings in UTF-8 with only `"`, `\` and control characters
// escaped, integers only. The signature covers the canonical bytes of the
// receipt without its `signature` member (the key id included). A receipt
// file is exactly its canonical bytes: `ParseReceipt` refuses any other
// spelling of the same content, so a verified receipt re-serialises to the
// bytes that were verified, and any one-byte change fails verification.
//
// Keys are those of signing.h: a `SigningKeyProvider` (a KMS fits behind
// it), `FileKeyProvider` for PEM files, ids that name the public key.
// Receipts signed under a retired key verify as long as its public key is
// still known.
//
// Example:
//
//   consentry::FileKeyProviderOptions key_files;
//   key_files.paths = {"receipt_keys"};  // current and retired keys
//   key_files.signing_key_file = "receipt_keys/2026.pem";
//   auto keys = consentry::FileKeyProvider::Open(key_files);
//   if (!keys.ok()) return keys.status();
//   consentry::ReceiptOptions opts;
//   opts.controller.name = "Example Health K.K.";
//   auto receipt = consentry::BuildConsentReceipt(*policy, record, opts);
//   if (!receipt.ok()) return receipt.status();
//   absl::Status s = consentry::SignReceipt(**keys, *receipt);
//   std::string json = consentry::SerializeReceipt(*receipt);
//   auto verified = consentry::VerifyReceipt(json, **keys);
//   std::string text_ja = consentry::RenderReceipt(*verified, "ja");

#ifndef CONSENTRY_RECEIPT_H_
#define CONSENTRY_RECEIPT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "consentry/export.h"
#include "consentry/policy.h"
#include "consentry/signing.h"
#include "consentry/v1/consent.pb.h"

namespace consentry {

// The `schema` member of every receipt this version writes and reads.
inline constexpr char kReceiptSchema[] = "consentry.receipt/1";
// Limits `ParseReceipt` enforces: the whole document, each string, the
// number of purposes and of categories per purpose.
inline constexpr std::size_t kMaxReceiptBytes = 1 << 20;
inline constexpr std::size_t kMaxReceiptStringBytes = 16 * 1024;
inline constexpr std::size_t kMaxReceiptPurposes = 1024;
inline constexpr std::size_t kMaxReceiptCategories = 256;

// One data category a purpose uses, and on what basis: "necessary",
// "opt_in" or "opt_out".
struct ReceiptCategory {
  std::string category;
  std::string basis;
  friend bool operator==(const ReceiptCategory&,
                         const ReceiptCategory&) = default;
};

// The person's consent decision for one purpose (or one occasion of it).
struct ReceiptPurpose {
  std::string purpose;  // id, e.g. "marketing.research"
  std::string name_ja;  // as the policy names it; may be empty
  std::string name_en;
  std::string state;  // "given", "refused", "withdrawn" or "expired"
  absl::Time time = absl::UnixEpoch();  // when the state was set
  std::string policy_version;           // the versions the person saw
  std::string notice_version;
  // How it was given: "web_form", "mobile_app", "paper_form", "phone",
  // "email", "in_person", "imported" or "unspecified".
  std::string method;
  std::string occasion;  // per-occasion consent only
  // When a given consent stops counting; `absl::InfiniteFuture()` if never.
  absl::Time expiry = absl::InfiniteFuture();
  std::string evidence;  // reference to stored evidence (signed form, ...)
  std::vector<ReceiptCategory> categories;
  friend bool operator==(const ReceiptPurpose&,
                         const ReceiptPurpose&) = default;
};

// The party responsible for the processing (27560 "controller").
struct ReceiptController {
  std::string name;
  std::string contact;
  friend bool operator==(const ReceiptController&,
                         const ReceiptController&) = default;
};

// A consent receipt. A plain value; thread-compatible.
struct ConsentReceipt {
  std::string receipt_id;
  ReceiptController controller;
  std::string subject_id;
  // The consent record revision the receipt reflects, and when that
  // revision was written.
  std::int64_t revision = 0;
  absl::Time time = absl::UnixEpoch();
  // Version of the policy whose catalogue gave names, categories and bases.
  std::string catalogue_version;
  std::vector<ReceiptPurpose> purposes;
  // Set by `SignReceipt`: the key's id and the 64-byte Ed25519 signature.
  // Both empty on an unsigned receipt.
  std::string key_id;
  std::string signature;
  friend bool operator==(const ConsentReceipt&,
                         const ConsentReceipt&) = default;
};

// ---------------------------------------------------------------------------
// Keys.

// The keys are those of signing.h: `SigningKeyProvider` signs,
// `PublicKeyLookup` verifies, `FileKeyProvider` reads PEM files.

// ---------------------------------------------------------------------------
// Building, signing, reading.

struct ReceiptOptions {
  // Required, unless the policy has a title: then the title (Japanese, else
  // English) names the controller, and its contact window the contact.
  ReceiptController controller;
  // Purposes to include; empty: every purpose the record holds.
  std::vector<std::string> purposes;
};

// The unsigned receipt for `record` at its revision: one entry per consent
// entry of the record (filtered by `options.purposes`), ordered by purpose
// and occasion, each with the categories and bases `policy` gives it. The
// receipt id is derived from the content ("rcpt-" and 32 hex digits), so
// the same record revision always yields the same receipt.
// Errors: `kInvalidArgument` for a record without subject, revision or
// consent entries (after filtering; names the subject), an entry in an
// unspecified state, a record marked `data_loss`, no controller name, or a
// string the receipt limits refuse.
CONSENTRY_EXPORT absl::StatusOr<ConsentReceipt> BuildConsentReceipt(
    const CompiledPolicy& policy, const v1::ConsentRecord& record,
    const ReceiptOptions& options);

// One receipt per consent change in `history` (record versions, oldest
// first, as `ConsentHistorySource::HistoryFor` returns them): for each
// version, the entries that differ from the previous version. Versions
// that changed only restrictions give none. Errors: those of
// `BuildConsentReceipt`.
CONSENTRY_EXPORT absl::StatusOr<std::vector<ConsentReceipt>> ReceiptsForHistory(
    const CompiledPolicy& policy, const std::vector<v1::ConsentRecord>& history,
    const ReceiptOptions& options);

// Signs `receipt` with the provider's current key: sets `key_id`, then
// `signature` over `ReceiptSigningBytes`. Errors: those of the provider
// (`kUnavailable`, `kNotFound`, `kInternal`); `kInternal` when the
// provider returns a signature that is not 64 bytes.
CONSENTRY_EXPORT absl::Status SignReceipt(SigningKeyProvider& keys,
                                          ConsentReceipt& receipt);

// The bytes the signature covers: the canonical JSON without `signature`.
CONSENTRY_EXPORT std::string ReceiptSigningBytes(const ConsentReceipt& receipt);

// The receipt document: canonical JSON with `signature` (base64url, no
// padding; "" when unsigned). No trailing newline.
CONSENTRY_EXPORT std::string SerializeReceipt(const ConsentReceipt& receipt);

// Reads a receipt document without checking its signature.
// Errors: `kInvalidArgument` (with the byte offset) for input that is
// empty, too large, not UTF-8, not JSON, not the receipt schema (a member
// missing, unknown or of the wrong type, an unknown state, method or
// basis, a bad time), or not in canonical form.
CONSENTRY_EXPORT absl::StatusOr<ConsentReceipt> ParseReceipt(
    absl::string_view json);

// Reads and verifies a receipt document: `ParseReceipt`, then the
// signature over the canonical bytes under the public key `key_id` names.
// Errors: those of `ParseReceipt`; `kFailedPrecondition` for an unsigned
// receipt; `kNotFound` for a key id `keys` does not know; `kUnauthenticated`
// when the signature does not verify (a field or the signature was
// changed); `kUnavailable` from the lookup.
CONSENTRY_EXPORT absl::StatusOr<ConsentReceipt> VerifyReceipt(
    absl::string_view json, PublicKeyLookup& keys);

// The receipt as readable Markdown, in Japanese ("ja") or English (any
// other value). Shows whether it is signed, not whether it verified.
CONSENTRY_EXPORT std::string RenderReceipt(const ConsentReceipt& receipt,
                                           absl::string_view language);

}  // namespace consentry

#endif  // CONSENTRY_RECEIPT_H_
