// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Compile-fail cases for Protected<T>. run.cmake compiles this file once per
// case; CASE_OK must compile, every other case must fail to compile with the
// error it names. Together they prove that a value cannot be read without a
// grant, i.e. without a purpose check.

#include <string>
#include <utility>

#include "consentry/protected.h"

using consentry::AccessGrant;
using consentry::Protected;
using consentry::RecordTags;

double Use(const Protected<double>& p, const AccessGrant& grant) {
#if defined(CASE_OK)
  // The only way in: a grant.
  auto v = p.Read(grant);
  return v.ok() ? **v : 0.0;
#elif defined(CASE_READ_WITHOUT_GRANT)
  (void)grant;
  return *p.Read().value();  // no purpose-less overload
#elif defined(CASE_GETTER)
  (void)grant;
  return p.value();  // there is no getter
#elif defined(CASE_PRIVATE_MEMBER)
  (void)grant;
  return p.value_;  // the value is private
#elif defined(CASE_FORGE_GRANT)
  (void)p;
  (void)grant;
  AccessGrant forged(
      nullptr, consentry::internal::RecordId(1), 0, 0,
      consentry::Decision(consentry::Reason::kAllowedConsent, 0));
  return 0.0;
#elif defined(CASE_DEFAULT_GRANT)
  (void)p;
  (void)grant;
  AccessGrant empty;
  return 0.0;
#elif defined(CASE_COPY_GRANT)
  (void)p;
  AccessGrant copy = grant;
  return 0.0;
#elif defined(CASE_IMPLICIT_CONVERSION)
  (void)grant;
  double d = p;  // no conversion to the value
  return d;
#else
#error "no case selected"
#endif
}

int main() { return 0; }
