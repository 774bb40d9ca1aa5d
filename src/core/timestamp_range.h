// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The range a google.protobuf.Timestamp may hold (years 1 to 9999, nanos in
// [0, 1e9)), for validating stored and configured times. Outside it, time
// arithmetic saturates and JSON cannot print the message. Internal; never
// installed.

#ifndef CONSENTRY_SRC_CORE_TIMESTAMP_RANGE_H_
#define CONSENTRY_SRC_CORE_TIMESTAMP_RANGE_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"

namespace consentry::internal {

inline bool InTimestampRange(const google::protobuf::Timestamp& t) {
  using google::protobuf::util::TimeUtil;
  return t.seconds() >= TimeUtil::kTimestampMinSeconds &&
         t.seconds() <= TimeUtil::kTimestampMaxSeconds && t.nanos() >= 0 &&
         t.nanos() <= 999'999'999;
}

// "timestamp {seconds: S nanos: N} is outside years 1 to 9999".
inline std::string TimestampRangeError(const google::protobuf::Timestamp& t) {
  return absl::StrCat("timestamp {seconds: ", t.seconds(),
                      " nanos: ", t.nanos(), "} is outside years 1 to 9999");
}

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_CORE_TIMESTAMP_RANGE_H_
