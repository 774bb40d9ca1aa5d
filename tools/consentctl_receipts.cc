// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: consentctl_receipts.cc
// -----------------------------------------------------------------------------
//
// `consentctl receipt issue|verify`: consent receipts (consentry/receipt.h)
// for a subject's current consent record, signed with Ed25519 keys read from
// PEM files, and their verification.
//
// Exit statuses: 0 issued / verified; 1 when the receipt cannot be issued
// (no record, no consent entry, a store or key error) or does not verify
// (malformed, not canonical, unsigned, unknown key, tampered); 2 on a usage
// error.

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "consentctl_cli.h"
#include "consentctl_commands.h"
#include "consentry/policy.h"
#include "consentry/proto_io.h"
#include "consentry/receipt.h"

namespace consentctl {
namespace {

Flag KeysFlag(const std::string& what) {
  return {"keys", "PATH[,PATH]",
          "PEM key files, or directories of *.pem files: " + what, ""};
}

Flag FormatFlag() {
  return {"format", "json|ja|en",
          "json: the canonical receipt document; ja, en: readable text",
          "json"};
}

absl::StatusOr<std::unique_ptr<consentry::FileKeyProvider>> OpenKeys(
    const ParsedArgs& a) {
  consentry::FileKeyProviderOptions options;
  for (absl::string_view p :
       absl::StrSplit(a.Get("keys"), ',', absl::SkipEmpty())) {
    options.paths.emplace_back(p);
  }
  options.signing_key_file = a.Get("signing-key");
  return consentry::FileKeyProvider::Open(options);
}

// The receipt as --format asks: its document, or the text.
std::string Formatted(const consentry::ConsentReceipt& r,
                      const std::string& format) {
  if (format == "json") return consentry::SerializeReceipt(r);
  return consentry::RenderReceipt(r, format);
}

int ReceiptIssue(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = {PolicyFlag(true), SqliteFlag(), PostgresFlag(),
                             PgSchemaFlag()};
  flags.push_back(KeysFlag("the current signing key and older keys"));
  flags.push_back({"signing-key", "FILE",
                   "the private key to sign with, when --keys holds several",
                   ""});
  flags.push_back(
      {"unsigned", "", "write the receipt without a signature", ""});
  flags.push_back({"purposes", "P1,P2",
                   "only these purposes (default: every purpose the record "
                   "holds)",
                   ""});
  flags.push_back({"controller", "NAME",
                   "the controller the receipt names (default: the policy's "
                   "title)",
                   ""});
  flags.push_back({"contact", "TEXT",
                   "the controller's contact (default: the policy's contact "
                   "window)",
                   ""});
  flags.push_back(FormatFlag());
  flags.push_back({"out", "FILE", "where to write it (default: stdout)", "-"});
  Command cmd{"receipt issue",
              "SUBJECT",
              "Issues a consent receipt for the subject's current consent "
              "record: the ISO/IEC TS 27560 consent record fields as "
              "canonical JSON, signed with Ed25519 (--keys), or as readable "
              "Japanese or English text. Exit 1 when the subject has no "
              "consent entry or a store or key error occurs.",
              flags,
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  if (!a.Has("policy")) return UsageError(cmd, "--policy is required");
  if (a.Has("keys") == a.Bool("unsigned")) {
    return UsageError(cmd, "give --keys, or --unsigned for no signature");
  }
  const std::string format = a.Get("format", "json");
  if (format != "json" && format != "ja" && format != "en") {
    return UsageError(cmd, "--format must be json, ja or en");
  }
  auto policy = consentry::LoadAndCompilePolicy(a.Get("policy"));
  if (!policy.ok()) return Fail("policy", policy.status());
  std::unique_ptr<consentry::FileKeyProvider> keys;
  if (a.Has("keys")) {
    auto opened = OpenKeys(a);
    if (!opened.ok()) return Fail("keys", opened.status());
    keys = *std::move(opened);
  }
  auto store = OpenStore(a, /*create_if_missing=*/false);
  if (!store.ok()) return Fail("open store", store.status());
  const std::string& subject = a.positional[0];
  auto record = (*store)->Get(subject);
  if (!record.ok()) return Fail("get " + subject, record.status());
  if (record->revision() == 0) {
    std::cerr << "consentctl: subject '" << subject
              << "' has no consent record\n";
    return kExitCheckFailed;
  }

  consentry::ReceiptOptions options;
  options.controller = {a.Get("controller"), a.Get("contact")};
  for (absl::string_view p :
       absl::StrSplit(a.Get("purposes"), ',', absl::SkipEmpty())) {
    options.purposes.emplace_back(p);
  }
  auto receipt = consentry::BuildConsentReceipt(**policy, *record, options);
  if (!receipt.ok()) return Fail("receipt", receipt.status());
  if (keys != nullptr) {
    if (absl::Status s = consentry::SignReceipt(*keys, *receipt); !s.ok()) {
      return Fail("sign", s);
    }
  }
  if (absl::Status s =
          WriteOutput(a.Get("out", "-"), Formatted(*receipt, format));
      !s.ok()) {
    return Fail("write", s);
  }
  if (a.Get("out", "-") != "-") {
    std::cerr << "consentctl: wrote receipt " << receipt->receipt_id
              << (keys != nullptr ? " signed by " + receipt->key_id
                                  : std::string(" (unsigned)"))
              << "\n";
  }
  return kExitOk;
}

int ReceiptVerify(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = {
      KeysFlag("the public (or private) keys receipts "
               "may be signed with; required")};
  flags.push_back(FormatFlag());
  Command cmd{"receipt verify",
              "FILE",
              "Verifies a receipt document: canonical form, a known key id, "
              "and the Ed25519 signature over the canonical bytes. Prints "
              "what was verified (--format=ja|en: the receipt as text). Exit "
              "1 when it does not verify (malformed, not canonical, unsigned, "
              "unknown key, tampered).",
              flags,
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  if (!a.Has("keys")) return UsageError(cmd, "--keys is required");
  const std::string format = a.Get("format", "json");
  if (format != "json" && format != "ja" && format != "en") {
    return UsageError(cmd, "--format must be json, ja or en");
  }
  auto keys = OpenKeys(a);
  if (!keys.ok()) return Fail("keys", keys.status());
  auto data = consentry::ReadFileToString(a.positional[0]);
  if (!data.ok()) return Fail("receipt", data.status());
  auto receipt = consentry::VerifyReceipt(*data, **keys);
  if (!receipt.ok()) return Fail(a.positional[0], receipt.status());
  if (format == "json") {
    std::cout << "verified " << receipt->receipt_id << ": subject "
              << receipt->subject_id << ", revision " << receipt->revision
              << ", signed by " << receipt->key_id << "\n";
  } else {
    std::cout << consentry::RenderReceipt(*receipt, format);
  }
  return kExitOk;
}

}  // namespace

int RunReceipt(const std::string& sub, const std::vector<std::string>& args) {
  if (sub == "issue") return ReceiptIssue(args);
  if (sub == "verify") return ReceiptVerify(args);
  std::cerr << "consentctl: unknown command 'receipt " << sub
            << "'\nrun 'consentctl --help' for the list of commands\n";
  return kExitUsage;
}

}  // namespace consentctl
