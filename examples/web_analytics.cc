// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A web analytics job under the policy's cookie section: the site records
// how it is used, and the job (accessor `web-analytics`, purpose
// `web.usage_analysis`) reads each visitor's web-usage record only when the
// visitor consented (opt-in). The policy's opt-out route: the visitor
// disables the cookies (withdraws consent), and the next run skips them.
//
// The output is deterministic (a fixed clock, an in-memory consent store);
// the program checks every decision against what the policy requires and
// exits 1 if enforcement does not behave as expected.
//
//   web_analytics [--policy=policies/default.textproto]

#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/protected.h"
#include "consentry/proto_io.h"

namespace {

namespace v1 = consentry::v1;

// One visitor's recorded web usage (cookie-based).
struct WebUsage {
  int page_views;
  int sessions;
};

struct Visitor {
  std::string id;
  WebUsage usage;
  // The visitor's cookie choice; UNSPECIFIED when they made none.
  v1::ConsentState choice;
  // The purpose the choice was made for.
  std::string purpose;
};

int Fail(const absl::Status& s) {
  std::cerr << "web_analytics: " << s << "\n";
  return 1;
}

v1::ConsentChange Choice(const std::string& subject, const std::string& purpose,
                         v1::ConsentState state) {
  v1::ConsentChange c;
  c.set_subject_id(subject);
  c.set_subject_kind(v1::SUBJECT_KIND_CUSTOMER);
  c.set_actor("cookie-banner");
  v1::PurposeConsent* pc = c.mutable_purpose_consent();
  pc->set_purpose(purpose);
  pc->set_state(state);
  pc->set_policy_version("2026-11-01");
  pc->set_method(v1::COLLECTION_METHOD_WEB_FORM);
  return c;
}

// One run of the analytics job over every record: the visitors included,
// and the reason for each one skipped.
struct Run {
  std::set<std::string> included;
  std::map<std::string, consentry::Reason> skipped;
  int page_views = 0;
  int sessions = 0;
};

absl::StatusOr<Run> Analyse(
    consentry::Guard& guard, const consentry::AccessContext& ctx,
    const std::vector<consentry::Protected<WebUsage>>& records,
    consentry::Revision min_revision) {
  Run run;
  for (const auto& record : records) {
    absl::StatusOr<consentry::Guard::Authorization> a =
        guard.Evaluate(ctx, record.tags(), min_revision);
    if (!a.ok()) return a.status();  // store or audit outage: stop
    const std::string& who = record.tags().subject();
    if (!a->grant.has_value()) {
      run.skipped[who] = a->decision.reason();
      std::printf(
          "  %-5s skipped   %s\n", who.c_str(),
          std::string(consentry::ReasonName(a->decision.reason())).c_str());
      continue;
    }
    absl::StatusOr<const WebUsage*> u = record.Read(*a->grant);
    if (!u.ok()) return u.status();
    run.included.insert(who);
    run.page_views += (*u)->page_views;
    run.sessions += (*u)->sessions;
    std::printf("  %-5s included  %d page views in %d sessions\n", who.c_str(),
                (*u)->page_views, (*u)->sessions);
  }
  std::printf("  total: %zu of %zu visitors, %d page views, %d sessions\n",
              run.included.size(), records.size(), run.page_views,
              run.sessions);
  return run;
}

// Compares a run with what the policy requires; prints each mismatch.
bool Expect(const Run& run, const std::set<std::string>& included,
            const std::map<std::string, consentry::Reason>& skipped) {
  bool ok = run.included == included && run.skipped == skipped;
  if (!ok) std::printf("  UNEXPECTED: enforcement differs from the policy\n");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  using consentry::Reason;
  std::string policy_path =
      std::string(CONSENTRY_SOURCE_DIR) + "/policies/default.textproto";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--policy=", 0) == 0) policy_path = arg.substr(9);
  }
  auto policy = consentry::LoadAndCompilePolicy(policy_path);
  if (!policy.ok()) return Fail(policy.status());

  consentry::InMemoryConsentStore store;
  consentry::InMemoryAuditSink audit;
  consentry::GuardOptions options;
  const absl::Time now = absl::FromUnixSeconds(1'796'083'200);  // 2026-12-01
  options.clock = [now] { return now; };
  auto guard = consentry::Guard::Create(*policy, &store, &audit, options);
  if (!guard.ok()) return Fail(guard.status());

  // The cookie banner's answers. v-03 disabled the cookies (refused every
  // web purpose); v-05 agreed to marketing research only.
  const std::vector<Visitor> visitors = {
      {"v-01", {42, 7}, v1::CONSENT_STATE_GIVEN, "web.usage_analysis"},
      {"v-02", {13, 2}, v1::CONSENT_STATE_UNSPECIFIED, ""},
      {"v-03", {8, 1}, v1::CONSENT_STATE_REFUSED, "web"},
      {"v-04", {27, 5}, v1::CONSENT_STATE_GIVEN, "web.usage_analysis"},
      {"v-05", {19, 3}, v1::CONSENT_STATE_GIVEN, "marketing.research"},
  };
  std::vector<consentry::Protected<WebUsage>> records;
  for (const Visitor& v : visitors) {
    if (v.choice != v1::CONSENT_STATE_UNSPECIFIED) {
      auto r = store.Apply(Choice(v.id, v.purpose, v.choice));
      if (!r.ok()) return Fail(r.status());
    }
    // Recorded to run the site and, where allowed, to analyse its use.
    auto tags = (*guard)->Tag(v.id, "web_usage",
                              {"service.operation", "web.usage_analysis"});
    if (!tags.ok()) return Fail(tags.status());
    records.emplace_back(*std::move(tags), v.usage);
  }

  auto ctx = (*guard)->Context("web-analytics", "web.usage_analysis");
  if (!ctx.ok()) return Fail(ctx.status());
  bool ok = true;

  std::printf("Run 1 (web-analytics, purpose web.usage_analysis, policy %s)\n",
              (*guard)->policy()->version().c_str());
  absl::StatusOr<Run> first = Analyse(**guard, *ctx, records, 0);
  if (!first.ok()) return Fail(first.status());
  ok &= Expect(*first, {"v-01", "v-04"},
               {{"v-02", Reason::kNoConsent},
                {"v-03", Reason::kConsentRefused},
                {"v-05", Reason::kNoConsent}});

  // The opt-out route the policy describes: v-04 disables the cookies in
  // the site's settings, which withdraws the consent. The job is handed the
  // withdrawal's revision, so it never decides on older consent state.
  auto withdrawal = store.Apply(
      Choice("v-04", "web.usage_analysis", v1::CONSENT_STATE_WITHDRAWN));
  if (!withdrawal.ok()) return Fail(withdrawal.status());
  std::printf(
      "\nv-04 disables the cookies: consent withdrawn (revision %lld)\n",
      static_cast<long long>(*withdrawal));

  std::printf("\nRun 2\n");
  absl::StatusOr<Run> second = Analyse(**guard, *ctx, records, *withdrawal);
  if (!second.ok()) return Fail(second.status());
  ok &= Expect(*second, {"v-01"},
               {{"v-02", Reason::kNoConsent},
                {"v-03", Reason::kConsentRefused},
                {"v-04", Reason::kConsentWithdrawn},
                {"v-05", Reason::kNoConsent}});

  // Another service may not read web usage for the web purpose at all.
  auto other = (*guard)->Context("marketing-analytics", "web.usage_analysis");
  if (!other.ok()) return Fail(other.status());
  auto foreign = (*guard)->Check(*other, records.front().tags());
  if (!foreign.ok()) return Fail(foreign.status());
  std::printf("\nmarketing-analytics reading v-01 for web.usage_analysis: %s\n",
              std::string(consentry::ReasonName(foreign->reason())).c_str());
  if (foreign->reason() != Reason::kAccessorNotPermitted) {
    std::printf("  UNEXPECTED: another accessor was not refused\n");
    ok = false;
  }

  // Every decision is on record: 5 per run and the foreign attempt.
  std::printf("\n%zu decisions audited\n", audit.size());
  if (audit.size() != 2 * records.size() + 1) {
    std::printf("  UNEXPECTED: %zu audit events, expected %zu\n", audit.size(),
                2 * records.size() + 1);
    ok = false;
  }
  std::printf("%s\n", ok ? "OK: analytics read only consenting visitors"
                         : "FAILED: enforcement did not behave as expected");
  return ok ? 0 : 1;
}
