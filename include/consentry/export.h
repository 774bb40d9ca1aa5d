// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: export.h
// -----------------------------------------------------------------------------
//
// `CONSENTRY_EXPORT` marks the symbols of the public API. The library is built
// with hidden default visibility, so only what is marked here is visible from
// a shared build.

#ifndef CONSENTRY_EXPORT_H_
#define CONSENTRY_EXPORT_H_

#if defined(CONSENTRY_SHARED_LIBRARY)
#if defined(CONSENTRY_COMPILE_LIBRARY)
#define CONSENTRY_EXPORT __attribute__((visibility("default")))
#else
#define CONSENTRY_EXPORT
#endif
#else
#define CONSENTRY_EXPORT __attribute__((visibility("default")))
#endif

#endif  // CONSENTRY_EXPORT_H_
