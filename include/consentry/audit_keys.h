// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: audit_keys.h
// -----------------------------------------------------------------------------
//
// The HMAC-SHA256 keys that chain the access log (audit_log.h), with ids,
// so that keys can be rotated. Every segment the log writes names, in its
// header, the id of the key that chains it; verification looks each
// segment's key up by that id. A KMS fits behind `HmacKeyProvider`: it
// hands out the current key (id and bytes) for writing and any key by id
// for verification. `FileHmacKeyProvider` reads keys from a directory.
//
// Key ids: 1 to 64 characters from [A-Za-z0-9._-], not starting with '.'
// (they are file names for `FileHmacKeyProvider` and are written into the
// log in the clear). An id names a key for ever: never reuse one for other
// bytes, or the segments chained under the old bytes no longer verify.
//
// Rotation: make the new key current (for `FileHmacKeyProvider`, write its
// file, then its id to `CURRENT`), then call `AuditLog::RotateKeys()` or
// let the log take the new key at its next segment. Keep retired keys:
// the segments chained under them verify only while the key can be looked
// up. A key thought compromised is rotated out at once; the segments
// chained under it prove only what that key's secrecy proved
// (docs/threat-model.md).
//
// Keys are secrets: the library never logs them or puts them in an error
// message (ids, which are not secret, do appear).
//
// Thread-safety: implementations must be thread-safe; the log's writer
// thread calls `CurrentKey` at each new segment.
//
// Example:
//
//   // keys/CURRENT holds "k2026"; keys/k2026.key the key in hex.
//   absl::StatusOr<std::unique_ptr<consentry::FileHmacKeyProvider>> keys =
//       consentry::FileHmacKeyProvider::Open("keys");
//   if (!keys.ok()) return keys.status();
//   consentry::AuditLogOptions options;
//   options.directory = "audit";
//   options.hmac_keys = keys->get();  // must outlive the log
//   auto log = consentry::AuditLog::Open(options);
//   if (!log.ok()) return log.status();
//   // ... later, after a new key was made current:
//   absl::Status rotated = (*log)->RotateKeys();
//   consentry::AuditVerifyOptions verify;
//   verify.hmac_keys = keys->get();
//   auto report = consentry::VerifyAuditLog("audit", verify);

#ifndef CONSENTRY_AUDIT_KEYS_H_
#define CONSENTRY_AUDIT_KEYS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "consentry/export.h"

namespace consentry {

// A key of the log's chain: its id and its secret bytes. Move it, don't
// copy it around; it has no printer on purpose.
struct HmacKey {
  std::string id;
  std::string secret;
};

// The longest key id, and the shortest and longest key (bytes).
inline constexpr std::size_t kMaxHmacKeyIdSize = 64;
inline constexpr std::size_t kMinHmacKeySize = 32;
inline constexpr std::size_t kMaxHmacKeySize = 128;

// Whether `id` is a valid key id (see the file comment).
CONSENTRY_EXPORT bool IsValidHmacKeyId(absl::string_view id);

// Keys by id, for verification. Implementations must be thread-safe.
class CONSENTRY_EXPORT HmacKeyLookup {
 public:
  virtual ~HmacKeyLookup() = default;
  // The secret bytes of the key named `key_id`.
  // Errors: `kNotFound` for an unknown id (the message names the id);
  // `kUnavailable` when the key service cannot be reached; others for a
  // key that exists but cannot be read (never "not found").
  virtual absl::StatusOr<std::string> Key(absl::string_view key_id) = 0;
};

// The keys the log chains with: the current one for new segments, any one
// by id for continuing and verifying. Implementations must be thread-safe.
class CONSENTRY_EXPORT HmacKeyProvider : public HmacKeyLookup {
 public:
  // The key new segments are chained under. Errors: `kFailedPrecondition`
  // when there is none; `kUnavailable`; those of reading it.
  virtual absl::StatusOr<HmacKey> CurrentKey() = 0;
};

// Keys in a directory: one file per key, named `<id>.key`, holding the key
// as hex digits (32 to 128 bytes of key, so 64 to 256 digits, upper or
// lower case; one final newline allowed); and a file `CURRENT` holding the
// current key's id (one final newline allowed). Files are read when a key
// is asked for, so a key made current, or added, is seen without reopening.
// Make the directory and its files readable by the log's service only.
// Symbolic links to regular files are followed (mounted secrets use them).
//
// Errors, each naming the file (never its content): `kNotFound` for an id
// without a file (`Key`), or a missing `CURRENT` (`kFailedPrecondition`
// from `CurrentKey`); `kPermissionDenied` for an unreadable file;
// `kInvalidArgument` for an empty file, one that is not hex or holds a key
// of the wrong size, an invalid id (in `CURRENT` or asked for), and a
// directory, a symbolic link to nowhere or another non-regular file where
// a key file was expected; `kResourceExhausted` for a file over 4 KiB.
class CONSENTRY_EXPORT FileHmacKeyProvider final : public HmacKeyProvider {
 public:
  // Checks that `directory` is a directory and that its current key reads.
  // Errors: `kNotFound` for a missing directory, `kInvalidArgument` for a
  // path that is not one; those of `CurrentKey`.
  static absl::StatusOr<std::unique_ptr<FileHmacKeyProvider>> Open(
      const std::string& directory);

  absl::StatusOr<std::string> Key(absl::string_view key_id) override;
  absl::StatusOr<HmacKey> CurrentKey() override;

 private:
  explicit FileHmacKeyProvider(std::string directory)
      : directory_(std::move(directory)) {}
  std::string directory_;
};

}  // namespace consentry

#endif  // CONSENTRY_AUDIT_KEYS_H_
