// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The retention report (src/access/retention.cc): records no purpose may
// use any longer.

#include "consentry/retention.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"

namespace consentry {
namespace {

using ::testing::ElementsAre;

class RetentionTest : public testing::GuardFixture {};

TEST_F(RetentionTest, ReportListsRecordsNoPurposeMayUse) {
  std::vector<RecordTags> records;
  const absl::Duration day = absl::Hours(24);
  auto tag = [&](const std::string& cat,
                 std::vector<absl::string_view> purposes, absl::Duration age,
                 const std::string& ref) {
    absl::StatusOr<RecordTags> t =
        guard_->Tag("s", cat, purposes, {}, ref, now_ - age);
    EXPECT_TRUE(t.ok()) << t.status();
    records.push_back(*t);
  };
  tag("communication", {"service.operation"}, 200 * day, "old-ops");
  tag("communication", {"service.operation", "billing"}, 200 * day,
      "kept-billing");
  tag("communication", {"service.operation"}, 10 * day, "fresh");
  tag("measurement", {"service.operation"}, 5000 * day, "no-limit");
  tag("web_usage", {"web.usage_analysis"}, 400 * day, "old-web");
  std::vector<RetentionDue> due =
      RetentionReport(*guard_->policy(), records, now_);
  std::vector<std::string> refs;
  for (const RetentionDue& d : due) refs.push_back(d.record_ref);
  EXPECT_THAT(refs, ElementsAre("old-ops", "old-web"));
  EXPECT_EQ(due[0].retained_until, now_ - 200 * day + 180 * day);
}

}  // namespace
}  // namespace consentry
