// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Shared test set-up: the default policy, an in-memory store, a recording
// audit sink, a Guard, and helpers that apply consent changes.

#ifndef CONSENTRY_TESTS_TESTING_GUARD_FIXTURE_H_
#define CONSENTRY_TESTS_TESTING_GUARD_FIXTURE_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/proto_io.h"
#include "consentry/v1/recipient.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace consentry::testing {

inline std::string SourcePath(const std::string& relative) {
  return std::string(CONSENTRY_SOURCE_DIR) + "/" + relative;
}

inline std::shared_ptr<const CompiledPolicy> DefaultPolicy() {
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
      LoadAndCompilePolicy(SourcePath("policies/default.textproto"));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : nullptr;
}

// The recipient registry the project ships (policies/recipients.textproto),
// without its monitoring log.
inline v1::RecipientRegistry ShippedRecipientRegistry() {
  v1::RecipientRegistry r;
  absl::StatusOr<std::string> text =
      ReadFileToString(SourcePath("policies/recipients.textproto"));
  EXPECT_TRUE(text.ok()) << text.status();
  if (text.ok()) {
    EXPECT_OK(ParseMessage(*text, WireFormat::kText, r));
  }
  return r;
}

inline v1::ConsentChange PurposeChange(const std::string& subject,
                                       const std::string& purpose,
                                       v1::ConsentState state) {
  v1::ConsentChange c;
  c.set_subject_id(subject);
  c.set_subject_kind(v1::SUBJECT_KIND_CUSTOMER);
  c.mutable_purpose_consent()->set_purpose(purpose);
  c.mutable_purpose_consent()->set_state(state);
  c.mutable_purpose_consent()->set_policy_version("2026-11-01");
  c.mutable_purpose_consent()->set_method(v1::COLLECTION_METHOD_MOBILE_APP);
  return c;
}

class GuardFixture : public ::testing::Test {
 protected:
  void SetUp() override { MakeGuard(GuardOptions{}); }

  void MakeGuard(GuardOptions options) {
    guard_.reset();
    if (!options.clock) options.clock = [this] { return now_; };
    absl::StatusOr<std::unique_ptr<Guard>> g =
        Guard::Create(DefaultPolicy(), &store_, &audit_, std::move(options));
    ASSERT_TRUE(g.ok()) << g.status();
    guard_ = *std::move(g);
  }

  Revision Set(const std::string& subject, const std::string& purpose,
               v1::ConsentState state) {
    absl::StatusOr<Revision> r =
        store_.Apply(PurposeChange(subject, purpose, state));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : -1;
  }

  Revision Restrict(const std::string& subject, const v1::Restrictions& r) {
    v1::ConsentChange c;
    c.set_subject_id(subject);
    *c.mutable_restrictions() = r;
    absl::StatusOr<Revision> rev = store_.Apply(c);
    EXPECT_TRUE(rev.ok()) << rev.status();
    return rev.ok() ? *rev : -1;
  }

  AccessContext Ctx(const std::string& accessor, const std::string& purpose,
                    const std::string& occasion = "") {
    absl::StatusOr<AccessContext> c =
        guard_->Context(accessor, purpose, occasion);
    EXPECT_TRUE(c.ok()) << c.status();
    return *std::move(c);
  }

  CategoryRef Cat(const std::string& id) {
    absl::StatusOr<CategoryRef> c = guard_->Category(id);
    EXPECT_TRUE(c.ok()) << c.status();
    return *std::move(c);
  }

  // The reason of a check that must not fail.
  Reason CheckReason(const std::string& accessor, const std::string& purpose,
                     const std::string& subject, const std::string& category) {
    absl::StatusOr<Decision> d =
        guard_->Check(Ctx(accessor, purpose), subject, Cat(category));
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? d->reason() : Reason::kUnspecified;
  }

  absl::Time now_ = absl::FromUnixSeconds(1'790'000'000);
  InMemoryConsentStore store_;
  InMemoryAuditSink audit_;
  std::unique_ptr<Guard> guard_;
};

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_TESTING_GUARD_FIXTURE_H_
