// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The access log's HMAC keys by id (consentry/audit_keys.h): the key-file
// directory. No message built here ever holds key bytes.

#include "consentry/audit_keys.h"

#include <errno.h>
#include <sys/stat.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/util/file_io.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

// A key file holds at most 256 hex digits and a newline; anything much
// larger is not a key file.
constexpr std::size_t kMaxKeyFileBytes = 4096;
constexpr absl::string_view kCurrentFile = "CURRENT";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `data` without one final "\n" (or "\r\n").
absl::string_view WithoutFinalNewline(absl::string_view data) {
  if (!data.empty() && data.back() == '\n') data.remove_suffix(1);
  if (!data.empty() && data.back() == '\r') data.remove_suffix(1);
  return data;
}

// Reads the small file at `path`: a regular file, or a symbolic link to
// one. A missing file is kNotFound; a link to nowhere, a directory or any
// other non-regular file kInvalidArgument; an empty file kInvalidArgument.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          absl::string_view what) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    return internal::ErrnoStatus(errno, absl::StrCat("cannot find ", what),
                                 path);
  }
  if (S_ISLNK(st.st_mode) && stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HMAC keys: '", path, "' (", what, ") is a symbolic link to nowhere"));
  }
  absl::StatusOr<std::string> data =
      internal::ReadRegularFile(path, kMaxKeyFileBytes);
  if (!data.ok()) {
    return absl::Status(
        data.status().code(),
        absl::StrCat("HMAC keys: ", what, ": ", data.status().message()));
  }
  if (data->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("HMAC keys: '", path, "' (",
                                                   what,
                                                   ") is empty, which is never "
                                                   "\"no key\""));
  }
  return data;
}

// The key in a key file's `text`; errors name `path`, never the content.
absl::StatusOr<std::string> ParseKeyFile(const std::string& path,
                                         absl::string_view text) {
  text = WithoutFinalNewline(text);
  if (text.size() % 2 != 0 || text.size() < 2 * kMinHmacKeySize ||
      text.size() > 2 * kMaxHmacKeySize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HMAC keys: '", path, "' must hold ", kMinHmacKeySize, " to ",
        kMaxHmacKeySize, " bytes of key as hex digits (it holds ", text.size(),
        " characters)"));
  }
  std::string key(text.size() / 2, '\0');
  for (std::size_t i = 0; i < key.size(); ++i) {
    const int hi = HexValue(text[2 * i]);
    const int lo = HexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "HMAC keys: '", path, "' is not hex digits (at character ",
          2 * i + (hi < 0 ? 0 : 1), ")"));
    }
    key[i] = static_cast<char>(hi * 16 + lo);
  }
  return key;
}

}  // namespace

bool IsValidHmacKeyId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxHmacKeyIdSize || id.front() == '.') {
    return false;
  }
  for (const char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::unique_ptr<FileHmacKeyProvider>> FileHmacKeyProvider::Open(
    const std::string& directory) {
  struct stat st;
  if (directory.empty()) {
    return absl::InvalidArgumentError("HMAC keys: no directory given");
  }
  if (stat(directory.c_str(), &st) != 0) {
    return internal::ErrnoStatus(errno, "HMAC keys: no key directory",
                                 directory);
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("HMAC keys: '", directory, "' is not a directory"));
  }
  std::unique_ptr<FileHmacKeyProvider> p(new FileHmacKeyProvider(directory));
  // A directory without a readable current key is found now.
  RETURN_IF_ERROR(p->CurrentKey().status());
  return p;
}

absl::StatusOr<std::string> FileHmacKeyProvider::Key(absl::string_view key_id) {
  if (!IsValidHmacKeyId(key_id)) {
    // Ids come from segment headers too: never a path.
    return absl::InvalidArgumentError(absl::StrCat(
        "HMAC keys: '", absl::CEscape(key_id), "' is not a valid key id"));
  }
  const std::string path = absl::StrCat(directory_, "/", key_id, ".key");
  absl::StatusOr<std::string> text =
      ReadSmallFile(path, absl::StrCat("key '", key_id, "'"));
  if (absl::IsNotFound(text.status())) {
    return absl::NotFoundError(absl::StrCat(
        "HMAC keys: no key with id '", key_id, "' (no file '", path, "')"));
  }
  if (!text.ok()) return text.status();
  return ParseKeyFile(path, *text);
}

absl::StatusOr<HmacKey> FileHmacKeyProvider::CurrentKey() {
  const std::string path = absl::StrCat(directory_, "/", kCurrentFile);
  absl::StatusOr<std::string> text = ReadSmallFile(path, "current key id");
  if (absl::IsNotFound(text.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "HMAC keys: no current key: write its id to '", path, "'"));
  }
  if (!text.ok()) return text.status();
  HmacKey key;
  key.id = std::string(WithoutFinalNewline(*text));
  if (!IsValidHmacKeyId(key.id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("HMAC keys: '", path, "' does not hold a valid key id"));
  }
  ASSIGN_OR_RETURN(key.secret, Key(key.id));
  return key;
}

}  // namespace consentry
