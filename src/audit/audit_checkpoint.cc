// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Checkpoints of the access log: their signed bytes and text line, and the
// anchor file that keeps them (consentry/audit_log.h; the format:
// docs/design/audit-log-format.md, "Checkpoints").

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "consentry/audit_log.h"
#include "src/util/file_io.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

constexpr absl::string_view kMagic = "consentry-audit-checkpoint/1";
constexpr std::size_t kHashBytes = 32;
constexpr std::size_t kSignatureBytes = 64;
// A checkpoint line is about 300 bytes; an anchor file of many years of
// checkpoints stays far below this.
constexpr std::size_t kMaxAnchorFileBytes = 256u << 20;

absl::Status ErrnoError(int err, absl::string_view what,
                        absl::string_view path) {
  const std::string msg =
      absl::StrCat(what, " '", path, "': ", std::strerror(err));
  if (err == EACCES || err == EPERM || err == EROFS) {
    return absl::PermissionDeniedError(msg);
  }
  if (err == ELOOP || err == EISDIR || err == ENOTDIR) {
    return absl::InvalidArgumentError(msg);
  }
  return absl::InternalError(msg);
}

// Exact lowercase hex of `n` bytes.
bool ParseHex(absl::string_view hex, std::size_t n, std::string* out) {
  if (hex.size() != 2 * n) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  *out = absl::HexStringToBytes(hex);
  return out->size() == n;
}

// A key id is printable ASCII without spaces (it is one field of a line).
bool ValidKeyId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

}  // namespace

std::string AuditCheckpointSigningBytes(const AuditCheckpoint& c) {
  return absl::StrCat(kMagic, "\nsequence_end ", c.sequence_end, "\nlast_hash ",
                      absl::BytesToHexString(c.last_hash), "\nsegment ",
                      c.segment, "\ntime_unix_nanos ", c.time_unix_nanos,
                      "\nkey_id ", c.key_id, "\n");
}

std::string SerializeAuditCheckpoint(const AuditCheckpoint& c) {
  return absl::StrCat(kMagic, " ", c.sequence_end, " ",
                      absl::BytesToHexString(c.last_hash), " ", c.segment, " ",
                      c.time_unix_nanos, " ", c.key_id, " ",
                      absl::BytesToHexString(c.signature));
}

absl::StatusOr<AuditCheckpoint> ParseAuditCheckpoint(absl::string_view line) {
  const std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
  if (f.size() != 7 || f[0] != kMagic) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a checkpoint line: expected '", kMagic, "' and 6 fields"));
  }
  AuditCheckpoint c;
  if (!absl::SimpleAtoi(f[1], &c.sequence_end) || f[1].front() == '+') {
    return absl::InvalidArgumentError("checkpoint: bad sequence_end");
  }
  if (!ParseHex(f[2], kHashBytes, &c.last_hash)) {
    return absl::InvalidArgumentError(
        "checkpoint: last_hash is not 64 lowercase hex digits");
  }
  if (!absl::SimpleAtoi(f[3], &c.segment) || f[3].front() == '+') {
    return absl::InvalidArgumentError("checkpoint: bad segment");
  }
  if (!absl::SimpleAtoi(f[4], &c.time_unix_nanos) || f[4].front() == '+') {
    return absl::InvalidArgumentError("checkpoint: bad time");
  }
  if (!ValidKeyId(f[5])) {
    return absl::InvalidArgumentError("checkpoint: bad key id");
  }
  c.key_id = std::string(f[5]);
  if (!ParseHex(f[6], kSignatureBytes, &c.signature)) {
    return absl::InvalidArgumentError(
        "checkpoint: signature is not 128 lowercase hex digits");
  }
  // One spelling per checkpoint: the line must be the one we would write.
  if (SerializeAuditCheckpoint(c) != line) {
    return absl::InvalidArgumentError(
        "checkpoint: not in canonical form (leading zeros or signs)");
  }
  return c;
}

absl::Status VerifyAuditCheckpoint(const AuditCheckpoint& c,
                                   PublicKeyLookup& keys) {
  if (c.last_hash.size() != kHashBytes) {
    return absl::InvalidArgumentError("checkpoint: last_hash is not 32 bytes");
  }
  absl::Status s = VerifyEd25519(keys, c.key_id, AuditCheckpointSigningBytes(c),
                                 c.signature);
  if (s.ok()) return s;
  return absl::Status(
      s.code(), absl::StrCat("checkpoint of sequence ", c.sequence_end, ": ",
                             s.message()));
}

// ---------------------------------------------------------------------------
// FileAnchorSink

FileAnchorSink::FileAnchorSink(std::string path, int fd)
    : path_(std::move(path)), fd_(fd) {}

FileAnchorSink::~FileAnchorSink() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<FileAnchorSink>> FileAnchorSink::Open(
    const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("anchor file: the path is empty");
  }
  const int fd = ::open(
      path.c_str(),
      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
      0644);
  if (fd < 0) return ErrnoError(errno, "cannot open the anchor file", path);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("anchor file '", path, "' is not a regular file"));
  }
  // The file may be new: its directory entry must survive a crash too.
  if (absl::Status s =
          internal::FileSystem::Default()->SyncDir(internal::DirName(path));
      !s.ok()) {
    ::close(fd);
    return s;
  }
  return std::unique_ptr<FileAnchorSink>(new FileAnchorSink(path, fd));
}

absl::Status FileAnchorSink::Publish(const AuditCheckpoint& checkpoint) {
  // One write of a whole line: O_APPEND keeps concurrent lines apart.
  const std::string line = SerializeAuditCheckpoint(checkpoint) + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "cannot append to the anchor file", path_);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd_) != 0) {
    return ErrnoError(errno, "cannot sync the anchor file", path_);
  }
  return absl::OkStatus();
}

absl::StatusOr<AuditCheckpoint> ReadLatestCheckpoint(const std::string& path) {
  ASSIGN_OR_RETURN(std::string data,
                   internal::ReadRegularFile(path, kMaxAnchorFileBytes));
  // A final line without its newline was cut by a crash: never
  // acknowledged, so ignored.
  const std::size_t end = data.rfind('\n');
  if (end == std::string::npos) {
    return absl::NotFoundError(
        absl::StrCat("anchor file '", path, "' holds no checkpoint"));
  }
  data.resize(end);
  AuditCheckpoint latest;
  std::size_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(data, '\n')) {
    ++line_number;
    absl::StatusOr<AuditCheckpoint> c = ParseAuditCheckpoint(line);
    if (!c.ok()) {
      return absl::DataLossError(absl::StrCat("anchor file '", path, "' line ",
                                              line_number, ": ",
                                              c.status().message()));
    }
    if (c->sequence_end < latest.sequence_end) {
      return absl::DataLossError(
          absl::StrCat("anchor file '", path, "' line ", line_number,
                       ": sequence ", c->sequence_end,
                       " is before the previous line's ", latest.sequence_end));
    }
    latest = *std::move(c);
  }
  return latest;
}

}  // namespace consentry
