// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: proto_io.h
// -----------------------------------------------------------------------------
//
// Loading and writing the consentry.v1 messages that cross services (policy
// documents, consent records) in their three forms: binary protobuf, JSON
// (proto3 JSON mapping) and text format. Every parse error is a
// `kInvalidArgument` status naming the message type, the source and, where
// the parser knows it, the line and column. Nothing here validates meaning;
// `CompiledPolicy::Compile` does that for policies.
//
// Example:
//
//   absl::StatusOr<consentry::v1::ConsentRecord> r =
//       consentry::ParseConsentRecord(bytes, consentry::WireFormat::kJson);
//   if (!r.ok()) std::cerr << r.status() << "\n";  // line/column of the error

#ifndef CONSENTRY_PROTO_IO_H_
#define CONSENTRY_PROTO_IO_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "consentry/export.h"
#include "consentry/policy.h"
#include "consentry/v1/consent.pb.h"
#include "consentry/v1/policy.pb.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace consentry {

enum class WireFormat { kBinary, kJson, kText };

// The format implied by a file name: `.binpb`/`.pb` binary, `.json` JSON,
// `.textproto`/`.txtpb`/`.pbtxt`/`.txt` text. Errors: `kInvalidArgument`.
CONSENTRY_EXPORT absl::StatusOr<WireFormat> FormatFromPath(
    absl::string_view path);

// Parses `data` in `format` into `message`, replacing its contents.
// `source` names where the data came from in error messages.
// Errors: `kInvalidArgument` naming the type, source, and position.
// On error `message` is left cleared.
CONSENTRY_EXPORT absl::Status ParseMessage(absl::string_view data,
                                           WireFormat format,
                                           google::protobuf::Message& message,
                                           absl::string_view source = "input");

// Serializes `message` in `format`. JSON is pretty-printed with the proto
// field names; text format is the multi-line form.
// Errors: `kInternal` when serialization fails.
CONSENTRY_EXPORT absl::StatusOr<std::string> SerializeMessage(
    const google::protobuf::Message& message, WireFormat format);

// The largest input file `ReadFileToString` reads (256 MiB): more than any
// policy, registry, intake or key file, small enough that a runaway file
// is an error and not an exhausted process.
inline constexpr std::size_t kMaxInputFileBytes = std::size_t{256} << 20;

// Reads a whole regular file of at most `kMaxInputFileBytes`. A directory,
// device (`/dev/zero`), FIFO or socket is refused without reading from it.
// Errors: `kNotFound`, `kPermissionDenied`; `kInvalidArgument` when the
// path is not a regular file; `kResourceExhausted` when the file is larger
// than the limit; `kInternal` for other I/O errors. Each names the path.
CONSENTRY_EXPORT absl::StatusOr<std::string> ReadFileToString(
    absl::string_view path);

// Reads a policy document from a file, the form chosen by extension. Only
// parses; `CompiledPolicy::Compile` validates.
CONSENTRY_EXPORT absl::StatusOr<v1::Policy> LoadPolicyFile(
    absl::string_view path);

// Reads a policy file and compiles it. Errors: those of `LoadPolicyFile`
// and `CompiledPolicy::Compile`, prefixed with the path.
CONSENTRY_EXPORT absl::StatusOr<std::shared_ptr<const CompiledPolicy>>
LoadAndCompilePolicy(absl::string_view path);

// Parses a consent record in the given form.
CONSENTRY_EXPORT absl::StatusOr<v1::ConsentRecord> ParseConsentRecord(
    absl::string_view data, WireFormat format,
    absl::string_view source = "input");

}  // namespace consentry

#endif  // CONSENTRY_PROTO_IO_H_
