// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Helpers shared by the fuzz targets: a property check that aborts with a
// message (libFuzzer then saves the input as a crash), protobuf log
// silencing, and the default policy.

#ifndef CONSENTRY_FUZZ_FUZZ_SUPPORT_H_
#define CONSENTRY_FUZZ_FUZZ_SUPPORT_H_

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "consentry/policy.h"
#include "consentry/proto_io.h"
#include "google/protobuf/stubs/logging.h"

namespace consentry::fuzz {

// Aborts with `what` when `cond` is false. A property violation is as much
// a finding as a crash.
#define CONSENTRY_FUZZ_CHECK(cond, what)                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: property violated: %s\n  (%s)\n", __FILE__, \
                   __LINE__, #cond, std::string(what).c_str());                \
      std::abort();                                                            \
    }                                                                          \
  } while (false)

// Protobuf logs every invalid UTF-8 string it rejects; a fuzzer feeds it
// millions. Call once from LLVMFuzzerInitialize.
inline void SilenceProtobufLogs() { google::protobuf::SetLogHandler(nullptr); }

// The default policy shipped in policies/, compiled; aborts if it does not
// load (the fuzzer would test nothing).
inline std::shared_ptr<const CompiledPolicy> DefaultPolicy() {
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
      LoadAndCompilePolicy(std::string(CONSENTRY_SOURCE_DIR) +
                           "/policies/default.textproto");
  CONSENTRY_FUZZ_CHECK(p.ok(), p.status().ToString());
  return *p;
}

// The format an input's first byte selects; the rest is the payload.
inline WireFormat FormatFromByte(unsigned char b) {
  switch (b % 3) {
    case 0:
      return WireFormat::kText;
    case 1:
      return WireFormat::kJson;
    default:
      return WireFormat::kBinary;
  }
}

// Applies up to 16 edits of 3 bytes each from `edits` to `doc`: a 16-bit
// offset (modulo the size plus one), then a byte that is appended at the
// end, removes the byte at the offset when zero, or replaces it.
inline void ApplyByteEdits(std::string_view edits, std::string& doc) {
  for (std::size_t i = 0; i + 2 < edits.size() && i < 3 * 16; i += 3) {
    const std::size_t hi = static_cast<unsigned char>(edits[i]);
    const std::size_t lo = static_cast<unsigned char>(edits[i + 1]);
    const std::size_t at = (hi << 8 | lo) % (doc.size() + 1);
    const char b = edits[i + 2];
    if (at == doc.size()) {
      doc.push_back(b);
    } else if (b == '\0') {
      doc.erase(at, 1);
    } else {
      doc[at] = b;
    }
  }
}

}  // namespace consentry::fuzz

#endif  // CONSENTRY_FUZZ_FUZZ_SUPPORT_H_
