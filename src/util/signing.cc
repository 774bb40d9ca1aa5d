// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Ed25519 keys through OpenSSL libcrypto: the PEM file key provider, key
// ids, and signature verification (consentry/signing.h).

#include "consentry/signing.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/util/file_io.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kEd25519KeyBytes = 32;
constexpr std::size_t kEd25519SignatureBytes = 64;

// ---------------------------------------------------------------------------
// libcrypto.

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();  // NOLINT(runtime/int)
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

std::string Sha256(absl::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) !=
      1) {
    ERR_clear_error();
    return "";
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

absl::StatusOr<std::string> RawPublicKey(EVP_PKEY* key) {
  std::string raw(kEd25519KeyBytes, '\0');
  std::size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(
          key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
      len != kEd25519KeyBytes) {
    return absl::InternalError(
        absl::StrCat("reading an Ed25519 public key: ", OpenSslError()));
  }
  return raw;
}

// Refuses to prompt for a passphrase: an encrypted key fails to load.
int NoPassphrase(char*, int, int, void*) { return -1; }

struct LoadedKey {
  Pkey key;
  bool is_private = false;
};

absl::StatusOr<LoadedKey> LoadPemKey(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, internal::ReadRegularFile(path, 64 * 1024));
  if (pem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("key file '", path, "' is empty"));
  }
  const bool is_private = absl::StrContains(pem, "-----BEGIN PRIVATE KEY-----");
  const bool is_public = absl::StrContains(pem, "-----BEGIN PUBLIC KEY-----");
  if (is_private == is_public) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key file '", path,
        "' is not one PEM \"PRIVATE KEY\" (PKCS#8) or \"PUBLIC KEY\""));
  }
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  LoadedKey out;
  out.is_private = is_private;
  out.key.reset(
      is_private
          ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr)
          : PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr));
  if (out.key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("key file '", path,
                     "' does not hold a readable key: ", OpenSslError()));
  }
  if (EVP_PKEY_get_id(out.key.get()) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key file '", path, "' holds a ",
        EVP_PKEY_get0_type_name(out.key.get()), " key, not Ed25519"));
  }
  return out;
}

absl::Status VerifySignature(absl::string_view public_key,
                             absl::string_view message,
                             absl::string_view signature) {
  Pkey key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(public_key.data()),
      public_key.size()));
  if (key == nullptr) {
    return absl::InternalError(
        absl::StrCat("loading the public key: ", OpenSslError()));
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr,
                                             nullptr, key.get()) != 1) {
    return absl::InternalError(
        absl::StrCat("EVP_DigestVerifyInit: ", OpenSslError()));
  }
  const int rc = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
      signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
      message.size());
  ERR_clear_error();
  if (rc != 1) {
    return absl::UnauthenticatedError(
        "the signature does not verify: the signed bytes or the signature "
        "were changed");
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------
// FileKeyProvider.

struct FileKeyProvider::Impl {
  struct Entry {
    Pkey private_key;  // null for a public key only
    std::string public_key;
    std::string path;
  };
  std::map<std::string, Entry> keys;  // by id
  std::string current;

  absl::Status Add(const std::string& path, LoadedKey loaded) {
    ASSIGN_OR_RETURN(std::string pub, RawPublicKey(loaded.key.get()));
    ASSIGN_OR_RETURN(std::string id, Ed25519KeyId(pub));
    Entry& e = keys[id];
    e.public_key = pub;
    if (e.path.empty()) e.path = path;
    if (loaded.is_private && e.private_key == nullptr) {
      e.private_key = std::move(loaded.key);
      e.path = path;
    }
    return absl::OkStatus();
  }

  absl::Status AddPath(const std::string& path) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (st.type() == fs::file_type::not_found) {
      return absl::NotFoundError(
          absl::StrCat("key path '", path, "' does not exist"));
    }
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("key path '", path, "' cannot be read: ", ec.message()));
    }
    if (!fs::is_directory(st)) {
      ASSIGN_OR_RETURN(LoadedKey k, LoadPemKey(path));
      return Add(path, std::move(k));
    }
    std::vector<std::string> files;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->path().extension() == ".pem") files.push_back(it->path());
    }
    if (ec) {
      return absl::PermissionDeniedError(absl::StrCat(
          "key directory '", path, "' cannot be listed: ", ec.message()));
    }
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) {
      ASSIGN_OR_RETURN(LoadedKey k, LoadPemKey(f));
      RETURN_IF_ERROR(Add(f, std::move(k)));
    }
    return absl::OkStatus();
  }
};

FileKeyProvider::FileKeyProvider(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
FileKeyProvider::~FileKeyProvider() = default;

absl::StatusOr<std::unique_ptr<FileKeyProvider>> FileKeyProvider::Open(
    const FileKeyProviderOptions& options) {
  auto impl = std::make_unique<Impl>();
  for (const std::string& p : options.paths) RETURN_IF_ERROR(impl->AddPath(p));
  if (!options.signing_key_file.empty()) {
    ASSIGN_OR_RETURN(LoadedKey k, LoadPemKey(options.signing_key_file));
    if (!k.is_private) {
      return absl::InvalidArgumentError(
          absl::StrCat("signing key file '", options.signing_key_file,
                       "' holds a public key, not a private key"));
    }
    ASSIGN_OR_RETURN(std::string pub, RawPublicKey(k.key.get()));
    ASSIGN_OR_RETURN(impl->current, Ed25519KeyId(pub));
    RETURN_IF_ERROR(impl->Add(options.signing_key_file, std::move(k)));
  } else {
    for (const auto& [id, e] : impl->keys) {
      if (e.private_key == nullptr) continue;
      if (!impl->current.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "several private keys ('", impl->keys[impl->current].path, "', '",
            e.path, "'); name the signing key file"));
      }
      impl->current = id;
    }
  }
  if (impl->keys.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no key in ", absl::StrJoin(options.paths, ", "),
                     options.paths.empty() ? "(no paths)" : ""));
  }
  return std::unique_ptr<FileKeyProvider>(new FileKeyProvider(std::move(impl)));
}

absl::StatusOr<std::string> FileKeyProvider::PublicKey(
    absl::string_view key_id) {
  auto it = impl_->keys.find(std::string(key_id));
  if (it == impl_->keys.end()) {
    return absl::NotFoundError(absl::StrCat("key '", key_id, "' is not known"));
  }
  return it->second.public_key;
}

absl::StatusOr<std::string> FileKeyProvider::CurrentKeyId() {
  if (impl_->current.empty()) {
    return absl::FailedPreconditionError(
        "no private key: these keys can verify, not sign");
  }
  return impl_->current;
}

absl::StatusOr<std::string> FileKeyProvider::Sign(absl::string_view key_id,
                                                  absl::string_view message) {
  auto it = impl_->keys.find(std::string(key_id));
  if (it == impl_->keys.end() || it->second.private_key == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no private key with id '", key_id, "'"));
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  std::string sig(kEd25519SignatureBytes, '\0');
  std::size_t len = sig.size();
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr,
                         it->second.private_key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()),
                     &len,
                     reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1) {
    return absl::InternalError(
        absl::StrCat("signing with key '", key_id, "': ", OpenSslError()));
  }
  sig.resize(len);
  return sig;
}

std::vector<std::string> FileKeyProvider::KeyIds() const {
  std::vector<std::string> ids;
  for (const auto& [id, e] : impl_->keys) ids.push_back(id);
  return ids;
}

absl::StatusOr<std::string> Ed25519KeyId(absl::string_view public_key) {
  if (public_key.size() != kEd25519KeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "an Ed25519 public key is 32 bytes, not ", public_key.size()));
  }
  const std::string digest = Sha256(public_key);
  if (digest.size() < 16) return absl::InternalError("SHA-256 failed");
  return absl::StrCat("ed25519:", absl::BytesToHexString(digest.substr(0, 16)));
}

absl::Status VerifyEd25519(PublicKeyLookup& keys, absl::string_view key_id,
                           absl::string_view message,
                           absl::string_view signature) {
  ASSIGN_OR_RETURN(std::string pub, keys.PublicKey(key_id));
  // The key id names the public key: a lookup that returns another key
  // for the id fails here rather than verifying under the wrong key.
  ASSIGN_OR_RETURN(std::string id, Ed25519KeyId(pub));
  if (id != key_id) {
    return absl::InternalError(absl::StrCat(
        "key lookup returned a key whose id is '", id, "' for '", key_id, "'"));
  }
  if (signature.size() != kEd25519SignatureBytes) {
    return absl::UnauthenticatedError(
        absl::StrCat("the signature does not verify: it has ", signature.size(),
                     " bytes, not 64"));
  }
  return VerifySignature(pub, message, signature);
}

}  // namespace consentry
