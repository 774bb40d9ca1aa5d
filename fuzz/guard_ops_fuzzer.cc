// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Interprets the input as a sequence of operations on two Guards over one
// in-memory consent store: one enforcing, one in shadow mode. Operations:
// consent changes and restrictions (erasure, suspension), checks,
// authorize-and-read, policy switches, clock advances, store outages and
// cache warm-ups. Each byte-driven choice is drawn with FuzzedDataProvider.
//
// Properties:
//   * enforce and shadow compute the same reason for every check;
//   * a check denied in enforce mode is a shadow denial in shadow mode: the
//     read proceeds, the grant is marked shadow, and `ShadowReport` counts
//     it exactly once (compared at the end of every input);
//   * enforce mode mints a grant only for an allowed decision, the grant
//     opens its record and no other subject's; a failed Authorize carries
//     the decision's reason;
//   * once a withdrawal for (subject, purpose, occasion) has returned, no
//     check for that purpose and occasion allows (unless the policy makes
//     the purpose necessary for the category); once an erasure has
//     returned, no check for the subject allows until an explicit lift of
//     it returned; a restrictions write that leaves out a restriction in
//     force is refused (kFailedPrecondition) and never un-erases;
//   * an error is `kUnavailable`, and only while the store is down;
//   * an unaudited Guard, whose checks take the warm path, decides every
//     check as the enforcing Guard's general decider does (reason and
//     revision); one fails where the other decides only during an outage.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/options.h"
#include "consentry/protected.h"
#include "consentry/v1/policy.pb.h"
#include "fuzz/fuzz_support.h"

namespace consentry::fuzz {
namespace {

constexpr int kMaxOps = 96;
// Each switch builds a consent cache for the new policy (megabytes of
// arrays sized for millions of subjects); a few per input keep the fuzzer
// fast while still interleaving switches with every other operation.
constexpr int kMaxPolicySwitches = 3;
const char* const kSubjects[] = {"s-0", "s-1", "s-2", "s-3"};
const char* const kOccasions[] = {"", "occ-1", "occ-2"};

// The default policy and two variants to switch between: one with a
// different version and one rule fewer, one without an accessor (so that a
// context resolved under the default meets a policy that lacks its accessor).
const std::vector<std::shared_ptr<const CompiledPolicy>>& Policies() {
  static const auto* policies = [] {
    auto* out = new std::vector<std::shared_ptr<const CompiledPolicy>>;
    std::shared_ptr<const CompiledPolicy> base = DefaultPolicy();
    out->push_back(base);
    v1::Policy a = base->proto();
    a.set_version("fuzz-variant-a");
    a.mutable_rules()->RemoveLast();
    v1::Policy b = base->proto();
    b.set_version("fuzz-variant-b");
    for (int i = 0; i < b.accessors_size(); ++i) {
      if (b.accessors(i).id() == "marketing-analytics") {
        b.mutable_accessors()->DeleteSubrange(i, 1);
        break;
      }
    }
    for (const v1::Policy* p : {&a, &b}) {
      absl::StatusOr<std::shared_ptr<const CompiledPolicy>> c =
          CompiledPolicy::Compile(*p);
      CONSENTRY_FUZZ_CHECK(c.ok(), c.status().ToString());
      out->push_back(*c);
    }
    return out;
  }();
  return *policies;
}

using ShadowKey = std::tuple<std::string, std::string, std::string, Reason>;

class Harness {
 public:
  explicit Harness(FuzzedDataProvider& in) : in_(in) {
    GuardOptions enforce;
    enforce.clock = [this] { return now_; };
    GuardOptions shadow = enforce;
    shadow.mode = EnforcementMode::kShadow;
    absl::StatusOr<std::unique_ptr<Guard>> e =
        Guard::Create(Policies()[0], &store_, &enforce_audit_, enforce);
    absl::StatusOr<std::unique_ptr<Guard>> s =
        Guard::Create(Policies()[0], &store_, &shadow_audit_, shadow);
    // Unaudited, so that its checks take the warm path (the others, audited,
    // take the general decider).
    GuardOptions unaudited = enforce;
    unaudited.unaudited_for_benchmarks_only = true;
    absl::StatusOr<std::unique_ptr<Guard>> w =
        Guard::Create(Policies()[0], &store_, nullptr, unaudited);
    CONSENTRY_FUZZ_CHECK(e.ok() && s.ok() && w.ok(), "Guard::Create");
    enforce_ = *std::move(e);
    shadow_ = *std::move(s);
    warm_ = *std::move(w);
    absl::StatusOr<AccessContext> stale =
        enforce_->Context("marketing-analytics", "marketing.research");
    CONSENTRY_FUZZ_CHECK(stale.ok(), stale.status().ToString());
    stale_.emplace(*std::move(stale));
  }

  void Run() {
    for (int op = 0; op < kMaxOps && in_.remaining_bytes() > 0; ++op) {
      switch (in_.ConsumeIntegralInRange<int>(0, 9)) {
        case 0:
        case 1:
          ChangeConsent();
          break;
        case 2:
          ChangeRestrictions();
          break;
        case 3:
        case 4:
          CheckOnce();
          break;
        case 5:
        case 6:
          AuthorizeAndRead();
          break;
        case 7:
          SwitchPolicy();
          break;
        case 8:
          now_ += absl::Seconds(in_.ConsumeIntegralInRange<int>(0, 120));
          break;
        case 9:
          if (in_.ConsumeBool()) {
            store_down_ = !store_down_;
            store_.SetUnavailableForTesting(store_down_);
          } else {
            Guard& g = in_.ConsumeBool() ? *enforce_ : *shadow_;
            absl::Status st = g.WarmCache();
            ExpectOkOrOutage(st);
          }
          break;
      }
    }
    CheckShadowReport();
  }

 private:
  std::string PickSubject() {
    return kSubjects[in_.ConsumeIntegralInRange<std::size_t>(0, 3)];
  }
  // A purpose of the current policy, or (rarely) one it does not know.
  std::string PickPurposeId() {
    const CompiledPolicy& p = *enforce_->policy();
    const int i = in_.ConsumeIntegralInRange<int>(0, p.purpose_count());
    if (i == p.purpose_count()) return "no.such.purpose";
    return std::string(p.purpose_id(static_cast<PurposeIndex>(i)));
  }

  void ExpectOkOrOutage(const absl::Status& st) {
    if (st.ok()) return;
    CONSENTRY_FUZZ_CHECK(
        store_down_ && st.code() == absl::StatusCode::kUnavailable,
        st.ToString());
  }

  void ChangeConsent() {
    v1::ConsentChange c;
    c.set_subject_id(PickSubject());
    v1::PurposeConsent* pc = c.mutable_purpose_consent();
    pc->set_purpose(PickPurposeId());
    // 0 and 5 are invalid states: Apply must reject them.
    pc->set_state(
        static_cast<v1::ConsentState>(in_.ConsumeIntegralInRange<int>(0, 5)));
    pc->set_occasion_id(
        kOccasions[in_.ConsumeIntegralInRange<std::size_t>(0, 2)]);
    if (pc->state() == v1::CONSENT_STATE_GIVEN && in_.ConsumeBool()) {
      const absl::Time expiry =
          now_ + absl::Seconds(in_.ConsumeIntegralInRange<int>(-10, 100));
      pc->mutable_expiry()->set_seconds(absl::ToUnixSeconds(expiry));
    }
    if (in_.ConsumeIntegralInRange<int>(0, 7) == 0) {
      c.set_expected_revision(in_.ConsumeIntegralInRange<std::int64_t>(0, 8));
    }
    absl::StatusOr<Revision> rev = store_.Apply(c);
    if (!rev.ok()) {
      const absl::StatusCode code = rev.status().code();
      CONSENTRY_FUZZ_CHECK(
          code == absl::StatusCode::kInvalidArgument ||
              code == absl::StatusCode::kAborted ||
              (store_down_ && code == absl::StatusCode::kUnavailable),
          rev.status().ToString());
      return;
    }
    latest_[{c.subject_id(), pc->purpose(), pc->occasion_id()}] = pc->state();
  }

  void ChangeRestrictions() {
    v1::ConsentChange c;
    c.set_subject_id(PickSubject());
    if (in_.ConsumeIntegralInRange<int>(0, 3) == 0) {
      // An explicit lift of the erasure: the only way to end it.
      c.set_actor("officer");
      c.mutable_lift_restriction()->set_kind(v1::RESTRICTION_KIND_ERASED);
      c.mutable_lift_restriction()->set_reason("erased by mistake");
      absl::StatusOr<Revision> rev = store_.Apply(c);
      if (rev.ok()) {
        erased_[c.subject_id()] = false;
      } else if (rev.status().code() != absl::StatusCode::kNotFound) {
        ExpectOkOrOutage(rev.status());
      }
      return;
    }
    v1::Restrictions* r = c.mutable_restrictions();
    r->set_erased(in_.ConsumeIntegralInRange<int>(0, 2) == 0);
    r->set_suspend_all(in_.ConsumeIntegralInRange<int>(0, 3) == 0);
    r->set_third_party_provision_stopped(in_.ConsumeBool());
    const int n = in_.ConsumeIntegralInRange<int>(0, 2);
    for (int i = 0; i < n; ++i) r->add_suspended_purposes(PickPurposeId());
    absl::StatusOr<Revision> rev = store_.Apply(c);
    if (rev.status().code() == absl::StatusCode::kFailedPrecondition) {
      // Refused: only when it would lift a restriction in force.
      auto er = erased_.find(c.subject_id());
      const bool drops_erasure =
          er != erased_.end() && er->second && !r->erased();
      CONSENTRY_FUZZ_CHECK(
          drops_erasure || absl::StrContains(rev.status().message(),
                                             "would lift the restriction"),
          rev.status().ToString());
      return;
    }
    if (!rev.ok()) {
      ExpectOkOrOutage(rev.status());
      return;
    }
    // Accepted: it kept every restriction in force, so an erasure stays.
    auto er = erased_.find(c.subject_id());
    CONSENTRY_FUZZ_CHECK(er == erased_.end() || !er->second || r->erased(),
                         "a restrictions write left out an erasure");
    erased_[c.subject_id()] = r->erased();
  }

  // A context for a purpose of the current policy, or the one resolved
  // under the first policy.
  absl::optional<AccessContext> PickContext() {
    if (in_.ConsumeIntegralInRange<int>(0, 15) == 0) return *stale_;
    const CompiledPolicy& p = *enforce_->policy();
    const auto a = static_cast<AccessorIndex>(
        in_.ConsumeIntegralInRange<int>(0, p.accessor_count() - 1));
    // Mostly a purpose the accessor may declare, so that checks get past
    // the accessor registry.
    PurposeIndex pu;
    const PurposeSet declarable = p.declarable_by(a);
    if (!declarable.empty() && in_.ConsumeIntegralInRange<int>(0, 3) != 0) {
      std::vector<PurposeIndex> ids;
      declarable.ForEach([&](PurposeIndex i) { ids.push_back(i); });
      pu = ids[in_.ConsumeIntegralInRange<std::size_t>(0, ids.size() - 1)];
    } else {
      pu = static_cast<PurposeIndex>(
          in_.ConsumeIntegralInRange<int>(0, p.purpose_count() - 1));
    }
    std::string occasion;
    if (p.per_occasion().Contains(pu)) {
      occasion = kOccasions[in_.ConsumeIntegralInRange<std::size_t>(1, 2)];
    }
    absl::StatusOr<AccessContext> ctx =
        enforce_->Context(p.accessor_id(a), p.purpose_id(pu), occasion);
    CONSENTRY_FUZZ_CHECK(ctx.ok(), ctx.status().ToString());
    return *std::move(ctx);
  }

  std::string PickCategoryId() {
    const CompiledPolicy& p = *enforce_->policy();
    return std::string(p.category_id(static_cast<CategoryIndex>(
        in_.ConsumeIntegralInRange<int>(0, p.category_count() - 1))));
  }

  // The properties every pair of decisions must have.
  void CompareDecisions(const AccessContext& ctx, absl::string_view subject,
                        absl::string_view category, const Decision& e,
                        const Decision& s) {
    const std::string what = absl::StrCat(
        ctx.accessor(), " ", ctx.purpose(), "/", ctx.occasion_id(), " ",
        subject, " ", category, ": enforce ", ReasonName(e.reason()),
        ", shadow ", ReasonName(s.reason()));
    CONSENTRY_FUZZ_CHECK(e.reason() == s.reason(), what);
    CONSENTRY_FUZZ_CHECK(!e.shadow_denial() && e.proceeds() == e.allowed(),
                         what);
    CONSENTRY_FUZZ_CHECK(s.proceeds() && s.shadow_denial() == !s.allowed(),
                         what);
    if (s.shadow_denial()) {
      ++expected_shadow_[{std::string(ctx.accessor()),
                          std::string(ctx.purpose()), std::string(category),
                          s.reason()}];
    }
    if (!e.allowed()) return;
    auto er = erased_.find(std::string(subject));
    CONSENTRY_FUZZ_CHECK(er == erased_.end() || !er->second,
                         absl::StrCat("allowed after erasure: ", what));
    auto w = latest_.find({std::string(subject), std::string(ctx.purpose()),
                           std::string(ctx.occasion_id())});
    if (w != latest_.end() && w->second == v1::CONSENT_STATE_WITHDRAWN) {
      const CompiledPolicy& p = *enforce_->policy();
      absl::StatusOr<PurposeIndex> pu = p.FindPurpose(ctx.purpose());
      absl::StatusOr<CategoryIndex> c = p.FindCategory(category);
      CONSENTRY_FUZZ_CHECK(pu.ok() && c.ok(), what);
      CONSENTRY_FUZZ_CHECK(p.basis(*c, *pu) == Basis::kNecessary,
                           absl::StrCat("allowed after withdrawal: ", what));
    }
  }

  void CheckOnce() {
    absl::optional<AccessContext> ctx = PickContext();
    const std::string subject = in_.ConsumeIntegralInRange<int>(0, 9) == 0
                                    ? "never-seen"
                                    : PickSubject();
    absl::StatusOr<CategoryRef> cat = enforce_->Category(PickCategoryId());
    CONSENTRY_FUZZ_CHECK(cat.ok(), cat.status().ToString());
    absl::StatusOr<Decision> e = enforce_->Check(*ctx, subject, *cat);
    absl::StatusOr<Decision> s = shadow_->Check(*ctx, subject, *cat);
    absl::StatusOr<Decision> w = warm_->Check(*ctx, subject, *cat);
    ExpectOkOrOutage(e.status());
    ExpectOkOrOutage(s.status());
    if (e.ok() && s.ok()) CompareDecisions(*ctx, subject, cat->id(), *e, *s);
    // The warm path decides as the general decider. Only during an outage
    // may one fail where the other decides: the Guards' caches may hold
    // different subjects (a record read for Evaluate, a warm-up).
    ExpectOkOrOutage(w.status());
    CONSENTRY_FUZZ_CHECK(
        e.ok() == w.ok() || store_down_,
        absl::StrCat("warm check of ", subject, ": ", w.status().ToString(),
                     ", general: ", e.status().ToString()));
    if (e.ok() && w.ok()) {
      CONSENTRY_FUZZ_CHECK(
          e->reason() == w->reason() && e->revision() == w->revision(),
          absl::StrCat("warm check of ", subject, " for ", ctx->purpose(),
                       " on ", cat->id(), ": ", ReasonName(w->reason()), "@",
                       w->revision(), ", general: ", ReasonName(e->reason()),
                       "@", e->revision()));
    }
  }

  void AuthorizeAndRead() {
    absl::optional<AccessContext> ctx = PickContext();
    const std::string subject = PickSubject();
    const std::string category = PickCategoryId();
    std::vector<std::string> ids = {PickPurposeId()};
    if (in_.ConsumeBool()) ids.push_back(PickPurposeId());
    std::vector<std::string> prohibited_ids;
    if (in_.ConsumeIntegralInRange<int>(0, 3) == 0) {
      prohibited_ids.push_back(PickPurposeId());
    }
    std::vector<absl::string_view> collected(ids.begin(), ids.end());
    std::vector<absl::string_view> prohibited(prohibited_ids.begin(),
                                              prohibited_ids.end());
    absl::StatusOr<RecordTags> tags =
        enforce_->Tag(subject, category, collected, prohibited, "record-1");
    if (!tags.ok()) {
      // Only an unknown purpose id is wrong with these tags.
      CONSENTRY_FUZZ_CHECK(tags.status().code() == absl::StatusCode::kNotFound,
                           tags.status().ToString());
      return;
    }
    Protected<int> record(*tags, 42);
    absl::StatusOr<RecordTags> other_tags =
        enforce_->Tag("someone-else", category, collected, prohibited);
    CONSENTRY_FUZZ_CHECK(other_tags.ok(), other_tags.status().ToString());
    Protected<int> other(*std::move(other_tags), 7);

    absl::StatusOr<Guard::Authorization> e = enforce_->Evaluate(*ctx, *tags);
    absl::StatusOr<Guard::Authorization> s = shadow_->Evaluate(*ctx, *tags);
    ExpectOkOrOutage(e.status());
    ExpectOkOrOutage(s.status());
    if (!e.ok() || !s.ok()) return;
    CompareDecisions(*ctx, subject, category, e->decision, s->decision);
    CONSENTRY_FUZZ_CHECK(e->grant.has_value() == e->decision.allowed(),
                         "enforce grant without an allowing decision");
    CONSENTRY_FUZZ_CHECK(s->grant.has_value(), "shadow mode blocked a read");
    CONSENTRY_FUZZ_CHECK(
        s->grant->decision().shadow_denial() == !s->decision.allowed(),
        "shadow grant not marked");
    for (const absl::optional<AccessGrant>* g : {&e->grant, &s->grant}) {
      if (!g->has_value()) continue;
      absl::StatusOr<const int*> v = record.Read(**g);
      CONSENTRY_FUZZ_CHECK(v.ok() && **v == 42, v.status().ToString());
      absl::StatusOr<const int*> w = other.Read(**g);
      CONSENTRY_FUZZ_CHECK(
          !w.ok() && w.status().code() == absl::StatusCode::kPermissionDenied,
          "a grant opened another subject's record");
    }
    // Authorize agrees with Evaluate; a denial carries its reason.
    absl::StatusOr<AccessGrant> grant = enforce_->Authorize(*ctx, record);
    if (grant.ok()) {
      CONSENTRY_FUZZ_CHECK(e->decision.allowed(), "Authorize allowed a denial");
    } else if (!store_down_) {
      CONSENTRY_FUZZ_CHECK(
          ReasonFromStatus(grant.status()) == e->decision.reason(),
          grant.status().ToString());
    }
  }

  void SwitchPolicy() {
    if (++switches_ > kMaxPolicySwitches) return;
    const auto& policies = Policies();
    const std::size_t i =
        in_.ConsumeIntegralInRange<std::size_t>(0, policies.size() - 1);
    absl::Status e = enforce_->SetPolicy(policies[i]);
    absl::Status s = shadow_->SetPolicy(policies[i]);
    absl::Status w = warm_->SetPolicy(policies[i]);
    ExpectOkOrOutage(e);
    ExpectOkOrOutage(s);
    ExpectOkOrOutage(w);
    CONSENTRY_FUZZ_CHECK(enforce_->policy() == warm_->policy(),
                         "guards diverged on a policy switch");
    // Both guards must enforce the same policy for their reasons to agree.
    CONSENTRY_FUZZ_CHECK(enforce_->policy() == shadow_->policy(),
                         "guards diverged on a policy switch");
  }

  void CheckShadowReport() {
    CONSENTRY_FUZZ_CHECK(enforce_->ShadowReport().empty(),
                         "enforce mode counted shadow denials");
    std::map<ShadowKey, std::int64_t> got;
    for (const ShadowDenialCount& c : shadow_->ShadowReport()) {
      got[{c.accessor, c.purpose, c.category, c.reason}] += c.count;
    }
    CONSENTRY_FUZZ_CHECK(
        got == expected_shadow_,
        absl::StrCat("ShadowReport has ", got.size(), " entries, expected ",
                     expected_shadow_.size()));
  }

  FuzzedDataProvider& in_;
  absl::Time now_ = absl::FromUnixSeconds(1'790'000'000);
  bool store_down_ = false;
  int switches_ = 0;
  InMemoryConsentStore store_;
  InMemoryAuditSink enforce_audit_;
  InMemoryAuditSink shadow_audit_;
  std::unique_ptr<Guard> enforce_;
  std::unique_ptr<Guard> shadow_;
  std::unique_ptr<Guard> warm_;
  absl::optional<AccessContext> stale_;
  // Latest state written per (subject, purpose, occasion), and erasure.
  std::map<std::tuple<std::string, std::string, std::string>, v1::ConsentState>
      latest_;
  std::map<std::string, bool> erased_;
  std::map<ShadowKey, std::int64_t> expected_shadow_;
};

}  // namespace
}  // namespace consentry::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  consentry::fuzz::SilenceProtobufLogs();
  consentry::fuzz::Policies();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  FuzzedDataProvider in(data, size);
  consentry::fuzz::Harness harness(in);
  harness.Run();
  return 0;
}
