// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A policy revision from start to finish: diff the current policy and the
// next version, mark what is material, publish the announcement, switch the
// Guard at the effective time, and list whom to ask for consent again.
//
//   policy_change [--from=policies/default.textproto]
//                 [--to=policies/examples/2027-04-01.textproto] [--lang=en|ja]

#include <iostream>
#include <string>

#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/notice.h"
#include "consentry/policy_diff.h"
#include "consentry/proto_io.h"

namespace {

int Fail(const absl::Status& s) {
  std::cerr << "policy_change: " << s << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string from =
      std::string(CONSENTRY_SOURCE_DIR) + "/policies/default.textproto";
  std::string to = std::string(CONSENTRY_SOURCE_DIR) +
                   "/policies/examples/2027-04-01.textproto";
  consentry::Language lang = consentry::Language::kEn;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--from=", 0) == 0) from = arg.substr(7);
    if (arg.rfind("--to=", 0) == 0) to = arg.substr(5);
    if (arg == "--lang=ja") lang = consentry::Language::kJa;
  }
  auto before = consentry::LoadPolicyFile(from);
  if (!before.ok()) return Fail(before.status());
  auto after = consentry::LoadPolicyFile(to);
  if (!after.ok()) return Fail(after.status());

  // 1. What changed, and what is material.
  auto diff = consentry::DiffPolicies(*before, *after);
  if (!diff.ok()) return Fail(diff.status());
  std::cout << "Changes from " << diff->from_version() << " to "
            << diff->to_version() << ":\n";
  for (const auto& c : diff->changes()) {
    std::cout << (c.material() ? "  MATERIAL  " : "            ")
              << (lang == consentry::Language::kJa ? c.summary().ja()
                                                   : c.summary().en())
              << "\n";
  }

  // 2. The new version carries the re-consent requirements.
  consentry::AddReconsentRequirements(*diff, *after);
  auto old_policy = consentry::CompiledPolicy::Compile(*before);
  if (!old_policy.ok()) return Fail(old_policy.status());
  auto new_policy = consentry::CompiledPolicy::Compile(*after);
  if (!new_policy.ok()) return Fail(new_policy.status());

  // 3. The announcement people see (policy §9).
  std::cout << "\n"
            << consentry::ChangeAnnouncement(*diff, **new_policy, lang) << "\n";

  // 4. Consent given under the old version, then the switch.
  consentry::InMemoryConsentStore store;
  for (const char* subject : {"member-1", "member-2"}) {
    consentry::v1::ConsentChange c;
    c.set_subject_id(subject);
    c.mutable_purpose_consent()->set_purpose("marketing");
    c.mutable_purpose_consent()->set_state(consentry::v1::CONSENT_STATE_GIVEN);
    c.mutable_purpose_consent()->set_policy_version(before->version());
    if (auto r = store.Apply(c); !r.ok()) return Fail(r.status());
  }
  consentry::InMemoryAuditSink audit;
  auto guard = consentry::Guard::Create(*old_policy, &store, &audit);
  if (!guard.ok()) return Fail(guard.status());
  auto ctx = (*guard)->Context("marketing-analytics", "marketing.promotion");
  auto measurement = (*guard)->Category("measurement");
  if (!ctx.ok() || !measurement.ok()) return Fail(ctx.status());
  auto show = [&](const char* when) {
    auto d = (*guard)->Check(*ctx, "member-1", *measurement);
    std::cout << when << " (" << (*guard)->policy()->version()
              << "): marketing.promotion on measurement for member-1 -> "
              << (d.ok() ? consentry::ReasonName(d->reason())
                         : absl::string_view("error"))
              << "\n";
  };
  show("before the switch");
  if (auto s = (*guard)->SetPolicy(*new_policy); !s.ok()) return Fail(s);
  show("after the switch ");

  // 5. Whom to ask again.
  auto list = consentry::ReconsentList(**new_policy, store);
  if (!list.ok()) return Fail(list.status());
  std::cout << "\nRe-consent needed:\n";
  for (const auto& e : *list) {
    if (e.subjects.empty()) continue;
    std::cout << "  " << e.purpose << " (since " << e.since_version << "): ";
    for (const auto& s : e.subjects) std::cout << s << " ";
    std::cout << "\n";
  }
  return 0;
}
