// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The purpose notice and the change announcement (src/compliance/notice.cc).

#include "consentry/notice.h"

#include <string>

#include "consentry/policy_diff.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/compliance/policy_diff_fixture.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::Base;
using ::consentry::testing::Next;
using ::testing::HasSubstr;

TEST(NoticeTest, PurposeNoticeListsCataloguePurposesInBothLanguages) {
  std::shared_ptr<const CompiledPolicy> p = testing::DefaultPolicy();
  const std::string ja = PurposeNotice(*p, Language::kJa);
  const std::string en = PurposeNotice(*p, Language::kEn);
  for (const char* s :
       {"課金計算", "料金請求", "市場調査・分析", "測定データの統計分析",
        "その都度利用目的を明示", "お客様窓口", "9:30-18:00", "10:00-19:00"}) {
    EXPECT_THAT(ja, HasSubstr(s));
  }
  for (const char* s :
       {"Billing calculation", "Invoicing", "Marketing research",
        "Statistical analysis of measurement data", "only with your consent",
        "prior consent"}) {
    EXPECT_THAT(en, HasSubstr(s));
  }
  // Per-occasion purposes are not in the published catalogue.
  EXPECT_THAT(en, ::testing::Not(HasSubstr("joint study")));
}

TEST(NoticeTest, AnnouncementListsMaterialChangesFirst) {
  v1::Policy next = Next();
  v1::UseRule* r = next.add_rules();
  r->set_category("measurement");
  r->add_purposes("marketing.research");
  r->set_basis(v1::LEGAL_BASIS_OPT_IN);
  next.mutable_purposes(0)->mutable_name()->set_en("Fees");
  absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(Base(), next);
  ASSERT_OK(d);
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> after =
      CompiledPolicy::Compile(next);
  ASSERT_OK(after);
  const std::string en = ChangeAnnouncement(*d, **after, Language::kEn);
  const std::size_t material = en.find("Material changes");
  const std::size_t other = en.find("Other changes");
  const std::size_t use =
      en.find("Category 'measurement' for purpose 'marketing.research'");
  const std::size_t wording = en.find("Wording of purpose 'billing'");
  ASSERT_NE(use, std::string::npos) << en;
  ASSERT_NE(wording, std::string::npos) << en;
  EXPECT_LT(material, use);
  EXPECT_LT(use, other);
  EXPECT_LT(other, wording);
  const std::string ja = ChangeAnnouncement(*d, **after, Language::kJa);
  EXPECT_THAT(ja, HasSubstr("重要な変更"));
  EXPECT_THAT(ja, HasSubstr("改めて同意"));
}

}  // namespace
}  // namespace consentry
