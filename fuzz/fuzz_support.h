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

}  // namespace consentry::fuzz

#endif  // CONSENTRY_FUZZ_FUZZ_SUPPORT_H_
