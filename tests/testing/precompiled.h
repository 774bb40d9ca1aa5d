// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The headers most tests include, compiled once when the build sets
// CONSENTRY_PRECOMPILE_HEADERS (tests/CMakeLists.txt). Each test still
// includes what it uses; this list only saves parsing time.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/audit_log.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/policy.h"
#include "consentry/protected.h"
#include "consentry/proto_io.h"
#include "consentry/v1/policy.pb.h"
#include "consentry/v1/recipient.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
