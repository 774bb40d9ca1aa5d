// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: signing.h
// -----------------------------------------------------------------------------
//
// Ed25519 keys for what the library signs: consent receipts (receipt.h) and
// the access log's checkpoints (audit_log.h). Signatures are computed and
// checked with OpenSSL libcrypto.
//
// Keys are held by a `SigningKeyProvider` (a KMS fits behind it: the
// private key never has to leave it); `FileKeyProvider` reads PEM files.
// A key id names the public key: "ed25519:" and the first 16 bytes of the
// SHA-256 of the raw 32-byte public key, in lowercase hex, so a signature
// names the key that made it, and keys can be rotated: what was signed
// under a retired key verifies as long as its public key is still known.
//
// Example:
//
//   consentry::FileKeyProviderOptions key_files;
//   key_files.paths = {"keys"};  // current and retired keys
//   key_files.signing_key_file = "keys/2026.pem";
//   auto keys = consentry::FileKeyProvider::Open(key_files);
//   if (!keys.ok()) return keys.status();
//   absl::StatusOr<std::string> id = (*keys)->CurrentKeyId();
//   if (!id.ok()) return id.status();
//   absl::StatusOr<std::string> sig = (*keys)->Sign(*id, "message");
//   if (!sig.ok()) return sig.status();
//   absl::Status ok =
//       consentry::VerifyEd25519(**keys, *id, "message", *sig);

#ifndef CONSENTRY_SIGNING_H_
#define CONSENTRY_SIGNING_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "consentry/export.h"

namespace consentry {

// Public keys by id, for verification. Implementations must be thread-safe.
class CONSENTRY_EXPORT PublicKeyLookup {
 public:
  virtual ~PublicKeyLookup() = default;
  // The raw 32-byte Ed25519 public key named `key_id`.
  // Errors: `kNotFound` for an unknown id; `kUnavailable` when the key
  // service cannot be reached.
  virtual absl::StatusOr<std::string> PublicKey(absl::string_view key_id) = 0;
};

// The keys the library signs with. A KMS-backed implementation signs
// remotely and publishes its public keys; `FileKeyProvider` reads PEM
// files. Implementations must be thread-safe.
class CONSENTRY_EXPORT SigningKeyProvider : public PublicKeyLookup {
 public:
  // The id of the key new signatures are made with. Errors: `kUnavailable`;
  // `kFailedPrecondition` when the provider holds no private key.
  virtual absl::StatusOr<std::string> CurrentKeyId() = 0;
  // The 64-byte Ed25519 signature of `message` under `key_id`.
  // Errors: `kNotFound` when no private key has that id; `kUnavailable`;
  // `kInternal` when the signature cannot be computed.
  virtual absl::StatusOr<std::string> Sign(absl::string_view key_id,
                                           absl::string_view message) = 0;
};

struct FileKeyProviderOptions {
  // PEM files, or directories whose `*.pem` files are read (other names
  // are ignored). A file holds one Ed25519 key: a PKCS#8 private key
  // ("PRIVATE KEY") or, for a retired key kept only to verify, a public key
  // ("PUBLIC KEY").
  std::vector<std::string> paths;
  // The private key file new signatures are made with. Empty: the only
  // private key found (an error when there are several).
  std::string signing_key_file;
};

// Ed25519 keys from PEM files, read once by `Open`. Immutable; safe to
// share. Rotation: add the new private key, name it `signing_key_file`, and
// keep the old key's file (or its public half) so older signatures verify.
class CONSENTRY_EXPORT FileKeyProvider final : public SigningKeyProvider {
 public:
  // Errors, each naming the file: `kNotFound` for a missing path, or when
  // the paths hold no key at all; `kPermissionDenied` for an unreadable
  // file; `kInvalidArgument` for an empty file, one that is not PEM, an
  // encrypted or non-Ed25519 key, a path that cannot be resolved (a symlink
  // loop), a directory given as the signing key, and for a
  // `signing_key_file` that holds no private key; `kResourceExhausted` for
  // a file over 64 KiB; `kFailedPrecondition` when several private keys are
  // found and none is named.
  static absl::StatusOr<std::unique_ptr<FileKeyProvider>> Open(
      const FileKeyProviderOptions& options);

  ~FileKeyProvider() override;
  FileKeyProvider(const FileKeyProvider&) = delete;
  FileKeyProvider& operator=(const FileKeyProvider&) = delete;

  absl::StatusOr<std::string> PublicKey(absl::string_view key_id) override;
  absl::StatusOr<std::string> CurrentKeyId() override;
  absl::StatusOr<std::string> Sign(absl::string_view key_id,
                                   absl::string_view message) override;

  // Every key id known, sorted.
  std::vector<std::string> KeyIds() const;

 private:
  struct Impl;
  explicit FileKeyProvider(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The key id of a raw 32-byte Ed25519 public key (see the overview).
// Errors: `kInvalidArgument` when `public_key` is not 32 bytes.
CONSENTRY_EXPORT absl::StatusOr<std::string> Ed25519KeyId(
    absl::string_view public_key);

// Checks that `signature` is the Ed25519 signature of `message` under the
// key `keys` knows as `key_id`. The key id names the public key: a lookup
// that returns another key for the id is refused, never used.
// Errors: `kNotFound` when `key_id` is not known (the lookup's message);
// `kUnauthenticated` when the signature does not verify (or is not 64
// bytes); `kInternal` when the lookup returns a key of another id, or
// libcrypto fails; the lookup's other errors.
CONSENTRY_EXPORT absl::Status VerifyEd25519(PublicKeyLookup& keys,
                                            absl::string_view key_id,
                                            absl::string_view message,
                                            absl::string_view signature);

}  // namespace consentry

#endif  // CONSENTRY_SIGNING_H_
