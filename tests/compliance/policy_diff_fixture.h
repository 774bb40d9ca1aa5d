// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A small policy and its next version, for the tests of the policy diff and
// of the change announcement.

#ifndef CONSENTRY_TESTS_COMPLIANCE_POLICY_DIFF_FIXTURE_H_
#define CONSENTRY_TESTS_COMPLIANCE_POLICY_DIFF_FIXTURE_H_

#include "consentry/v1/policy.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace consentry::testing {

// Billing (necessary), marketing (opt-in for contact), a special
// measurement category with no use, a retention limit for contact.
inline constexpr char kBase[] = R"pb(
  version: "v1"
  purposes {
    id: "billing"
    name { en: "Charges" ja: "料金" }
  }
  purposes { id: "billing.calculation" parent: "billing" }
  purposes { id: "marketing" }
  purposes { id: "marketing.research" parent: "marketing" }
  categories { id: "billing" }
  categories { id: "contact" }
  categories { id: "measurement" special: true }
  rules { category: "billing" purposes: "billing" basis: LEGAL_BASIS_NECESSARY }
  rules { category: "contact" purposes: "marketing" basis: LEGAL_BASIS_OPT_IN }
  retention {
    category: "contact"
    period { seconds: 86400 }
  }
  accessors { id: "billing-service" may_declare: "billing" }
)pb";

inline v1::Policy Base() {
  v1::Policy p;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(kBase, &p));
  return p;
}

inline v1::Policy Next() {
  v1::Policy p = Base();
  p.set_version("v2");
  return p;
}

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_COMPLIANCE_POLICY_DIFF_FIXTURE_H_
