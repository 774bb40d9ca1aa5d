// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The translation unit that compiles testing/precompiled.h once for every
// test binary (tests/CMakeLists.txt, CONSENTRY_PRECOMPILE_HEADERS).
