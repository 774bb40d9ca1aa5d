// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The contract of `ProvisionRecordStore` (APPI Art. 29/30 records and
// their retention), as a value-parameterised suite over a store factory.
// A store's test file includes this header once and instantiates it:
//
//   INSTANTIATE_TEST_SUITE_P(
//       Sqlite, ProvisionStoreConformanceTest,
//       ::testing::Values(ProvisionStoreFactory{"Sqlite", [] { ... }}),
//       ProvisionStoreFactoryName);
//
// Each test opens a fresh, empty store from the factory.

#ifndef CONSENTRY_TESTS_STORE_PROVISION_STORE_CONFORMANCE_H_
#define CONSENTRY_TESTS_STORE_PROVISION_STORE_CONFORMANCE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "consentry/consent.h"
#include "consentry/recipients.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace consentry::testing {

// Opens a fresh, empty record store; `reopen`, when set, another handle on
// the store `open` opened last (the durability checks run only then).
struct ProvisionStoreFactory {
  std::string name;
  std::function<absl::StatusOr<std::unique_ptr<ProvisionRecordStore>>()> open;
  std::function<absl::StatusOr<std::unique_ptr<ProvisionRecordStore>>()> reopen;
};

// gtest prints the parameter by its name.
inline void PrintTo(const ProvisionStoreFactory& f, std::ostream* os) {
  *os << f.name;
}

inline std::string ProvisionStoreFactoryName(
    const ::testing::TestParamInfo<ProvisionStoreFactory>& p) {
  return p.param.name;
}

// 00:00 Japan time of the day, the time retention is counted in.
inline absl::Time JstDay(int y, int m, int d) {
  return absl::FromCivil(absl::CivilDay(y, m, d),
                         absl::FixedTimeZone(9 * 3600));
}

inline void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const std::int64_t s = absl::ToUnixSeconds(t);
  out->set_seconds(s);
  out->set_nanos(static_cast<std::int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(s))));
}

inline absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

inline v1::ProvisionRecord ProvisionAt(
    absl::Time t, const std::string& recipient,
    std::vector<std::string> subjects,
    v1::RecordMethod method = v1::RECORD_METHOD_PER_PROVISION,
    const std::string& series = "") {
  v1::ProvisionRecord r;
  SetTime(t, r.mutable_provision_time());
  r.set_recipient_id(recipient);
  r.set_recipient_name("株式会社 受領");
  r.set_recipient_kind(v1::RECIPIENT_KIND_THIRD_PARTY);
  r.set_accessor("crm");
  r.set_purpose("marketing.partner");
  for (std::string& s : subjects) {
    (*r.mutable_consent_revisions())[s] = 3;
    r.add_subjects(std::move(s));
  }
  r.add_categories("contact");
  r.set_basis("provision_consent");
  r.set_consent_purpose("provision.partner");
  r.set_policy_version("2026-04");
  r.set_record_method(method);
  r.set_series_id(series);
  return r;
}

inline v1::ReceiptRecord ReceiptAt(
    absl::Time t, const std::string& provider,
    std::vector<std::string> subjects,
    v1::RecordMethod method = v1::RECORD_METHOD_PER_PROVISION,
    const std::string& series = "") {
  v1::ReceiptRecord r;
  SetTime(t, r.mutable_receipt_time());
  r.set_provider_name(provider);
  r.set_provider_address("東京都千代田区 1-1");
  r.set_provider_representative("代表 一郎");
  r.set_acquisition_circumstances("web form with consent");
  for (std::string& s : subjects) r.add_subjects(std::move(s));
  r.add_categories("contact");
  r.set_consent_ref("consent-77");
  r.set_accessor("intake");
  r.set_record_method(method);
  r.set_series_id(series);
  return r;
}

// A filter; empty strings and infinite times match all.
inline RecordFilter Filter(std::string subject, std::string recipient = "",
                           absl::Time from = absl::InfinitePast(),
                           absl::Time to = absl::InfiniteFuture()) {
  RecordFilter f;
  f.subject = std::move(subject);
  f.recipient = std::move(recipient);
  f.from = from;
  f.to = to;
  return f;
}

class ProvisionStoreConformanceTest
    : public ::testing::TestWithParam<ProvisionStoreFactory> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ProvisionRecordStore>> s = GetParam().open();
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  v1::ProvisionHistory All() {
    absl::StatusOr<v1::ProvisionHistory> h = store_->Query(RecordFilter{});
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? *h : v1::ProvisionHistory();
  }

  std::vector<std::string> ProvisionIds(const RecordFilter& f) {
    absl::StatusOr<v1::ProvisionHistory> h = store_->Query(f);
    EXPECT_TRUE(h.ok()) << h.status();
    std::vector<std::string> out;
    if (h.ok()) {
      for (const auto& r : h->provisions()) out.push_back(r.id());
    }
    return out;
  }

  std::unique_ptr<ProvisionRecordStore> store_;
};

TEST_P(ProvisionStoreConformanceTest, AddRoundTripsEveryFieldWithRetainUntil) {
  const absl::Time t = JstDay(2026, 4, 1) + absl::Nanoseconds(123);
  v1::ProvisionRecord p = ProvisionAt(t, "partner", {"s1", "s2"});
  p.set_country("JP");
  absl::StatusOr<std::string> pid = store_->AddProvision(p);
  ASSERT_OK(pid);
  EXPECT_FALSE(pid->empty());
  v1::ReceiptRecord r = ReceiptAt(t, "Old Partner", {"s1"});
  absl::StatusOr<std::string> rid = store_->AddReceipt(r);
  ASSERT_OK(rid);

  v1::ProvisionHistory h = All();
  ASSERT_EQ(h.provisions_size(), 1);
  ASSERT_EQ(h.receipts_size(), 1);
  p.set_id(*pid);
  SetTime(JstDay(2029, 4, 1), p.mutable_retain_until());
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(h.provisions(0), p))
      << h.provisions(0).DebugString();
  r.set_id(*rid);
  SetTime(JstDay(2029, 4, 1), r.mutable_retain_until());
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(h.receipts(0), r))
      << h.receipts(0).DebugString();

  // A caller's retain_until is not taken: the store computes it.
  v1::ProvisionRecord forged = ProvisionAt(t, "partner", {"s3"});
  SetTime(JstDay(2026, 4, 2), forged.mutable_retain_until());
  ASSERT_OK(store_->AddProvision(forged));
  const v1::ProvisionHistory all1 = All();
  for (const auto& x : all1.provisions()) {
    EXPECT_EQ(TimeOf(x.retain_until()), JstDay(2029, 4, 1)) << x.id();
  }
}

TEST_P(ProvisionStoreConformanceTest, DuplicateIdIsAlreadyExists) {
  v1::ProvisionRecord p = ProvisionAt(JstDay(2026, 1, 1), "partner", {"s1"});
  p.set_id("prov-fixed");
  ASSERT_OK(store_->AddProvision(p));
  v1::ProvisionRecord again = ProvisionAt(JstDay(2026, 2, 1), "other", {"s9"});
  again.set_id("prov-fixed");
  EXPECT_THAT(store_->AddProvision(again),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       ::testing::HasSubstr("prov-fixed")));
  v1::ReceiptRecord r = ReceiptAt(JstDay(2026, 1, 1), "P", {"s1"});
  r.set_id("rcpt-fixed");
  ASSERT_OK(store_->AddReceipt(r));
  EXPECT_THAT(store_->AddReceipt(r),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       ::testing::HasSubstr("rcpt-fixed")));
  v1::ProvisionHistory h = All();
  ASSERT_EQ(h.provisions_size(), 1);
  EXPECT_EQ(h.provisions(0).recipient_id(), "partner");
  EXPECT_EQ(h.receipts_size(), 1);
}

TEST_P(ProvisionStoreConformanceTest, AddRecordsStoresAHistoryInOrder) {
  v1::ProvisionHistory h;
  *h.add_provisions() = ProvisionAt(JstDay(2026, 1, 1), "partner", {"s1"});
  *h.add_provisions() = ProvisionAt(JstDay(2026, 1, 2), "partner", {"s2"});
  h.mutable_provisions(1)->set_id("prov-kept");
  *h.add_receipts() = ReceiptAt(JstDay(2026, 1, 3), "Old Partner", {"s1"});
  absl::StatusOr<std::vector<std::string>> ids = store_->AddRecords(h);
  ASSERT_OK(ids);
  ASSERT_EQ(ids->size(), 3u);
  EXPECT_EQ((*ids)[1], "prov-kept");
  const v1::ProvisionHistory all = All();
  ASSERT_EQ(all.provisions_size(), 2);
  ASSERT_EQ(all.receipts_size(), 1);
  EXPECT_EQ(all.provisions(0).id(), (*ids)[0]);
  EXPECT_EQ(all.provisions(1).id(), "prov-kept");
  EXPECT_EQ(all.receipts(0).id(), (*ids)[2]);
  EXPECT_EQ(TimeOf(all.receipts(0).retain_until()), JstDay(2029, 1, 3));
  EXPECT_THAT(store_->AddRecords(v1::ProvisionHistory()),
              IsOkAndHolds(::testing::IsEmpty()));
}

TEST_P(ProvisionStoreConformanceTest, AddRecordsIsAllOrNone) {
  v1::ProvisionRecord existing =
      ProvisionAt(JstDay(2026, 1, 1), "partner", {"s1"});
  existing.set_id("prov-old");
  ASSERT_OK(store_->AddProvision(existing));
  const v1::ProvisionHistory before = All();

  // A clash with a stored record, found by the store after the first
  // record of the batch went in: that one is rolled back.
  v1::ProvisionHistory clash;
  *clash.add_provisions() = ProvisionAt(JstDay(2026, 2, 1), "partner", {"s2"});
  *clash.add_receipts() = ReceiptAt(JstDay(2026, 2, 2), "Old Partner", {"s2"});
  *clash.add_provisions() = ProvisionAt(JstDay(2026, 2, 3), "partner", {"s3"});
  clash.mutable_provisions(1)->set_id("prov-old");
  EXPECT_THAT(store_->AddRecords(clash),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       ::testing::HasSubstr("prov-old")));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(All(), before))
      << All().DebugString();

  // The same id twice in the batch, and a bad record after good ones.
  v1::ProvisionHistory twice;
  *twice.add_provisions() = ProvisionAt(JstDay(2026, 3, 1), "partner", {"s4"});
  *twice.add_provisions() = ProvisionAt(JstDay(2026, 3, 2), "partner", {"s5"});
  twice.mutable_provisions(0)->set_id("prov-twice");
  twice.mutable_provisions(1)->set_id("prov-twice");
  EXPECT_THAT(store_->AddRecords(twice),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("provisions[1] 'prov-twice'")));
  v1::ProvisionHistory bad;
  *bad.add_provisions() = ProvisionAt(JstDay(2026, 4, 1), "partner", {"s6"});
  *bad.add_receipts() = ReceiptAt(JstDay(2026, 4, 2), "Old Partner", {});
  EXPECT_THAT(store_->AddRecords(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("receipts[0]")));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(All(), before))
      << All().DebugString();
}

TEST_P(ProvisionStoreConformanceTest, BadInputIsRefusedAndNothingStored) {
  using ::testing::HasSubstr;
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  const absl::Time t = JstDay(2026, 1, 1);
  auto refused = [&](v1::ProvisionRecord p, const std::string& what) {
    EXPECT_THAT(store_->AddProvision(std::move(p)),
                StatusIs(kInvalid, HasSubstr(what)));
  };
  v1::ProvisionRecord p = ProvisionAt(t, "partner", {"s1", ""});
  refused(p, "subjects[1]");
  refused(ProvisionAt(t, "partner", {}), "subjects");
  refused(ProvisionAt(t, "", {"s1"}), "recipient_id");
  p = ProvisionAt(t, "partner", {"s1"});
  p.set_purpose("mark\xe9ting");
  refused(p, "purpose is not valid UTF-8");
  p = ProvisionAt(t, "partner", {"s1"});
  p.set_recipient_name(std::string(kMaxRecordTextBytes + 1, 'n'));
  refused(p, "recipient_name");
  p = ProvisionAt(t, "partner", {std::string(kMaxRecordIdBytes + 1, 's')});
  refused(p, "subjects[0]");
  p = ProvisionAt(t, "partner", {"s1"});
  for (int i = 0; i <= kMaxRecordListEntries; ++i) p.add_categories("c");
  refused(p, "categories");
  p = ProvisionAt(t, "partner", {"s1"});
  p.clear_provision_time();
  refused(p, "provision_time");
  p = ProvisionAt(t, "partner", {"s1"});
  p.mutable_provision_time()->set_seconds(300'000'000'000);
  refused(p, "provision_time");
  p = ProvisionAt(t, "partner", {"s1"});
  p.mutable_provision_time()->set_nanos(-1);
  refused(p, "provision_time");
  p = ProvisionAt(t, "partner", {"s1"});
  p.set_record_method(static_cast<v1::RecordMethod>(42));
  refused(p, "record_method");
  p = ProvisionAt(t, "partner", {"s1"});
  p.set_id("\xff");
  refused(p, "id");

  v1::ReceiptRecord r = ReceiptAt(t, "", {"s1"});
  EXPECT_THAT(store_->AddReceipt(r), StatusIs(kInvalid, HasSubstr("provider")));
  r = ReceiptAt(t, "P", {"s1"});
  r.set_acquisition_circumstances("\xc0\x80");
  EXPECT_THAT(store_->AddReceipt(r),
              StatusIs(kInvalid, HasSubstr("acquisition_circumstances")));
  v1::ProvisionHistory h = All();
  EXPECT_EQ(h.provisions_size(), 0);
  EXPECT_EQ(h.receipts_size(), 0);
}

// Whatever a consent store accepts as a subject, a record can name: a
// provision to that subject is never refused for want of a record.
TEST_P(ProvisionStoreConformanceTest, RecordsTheLongestSubjectIdsConsentTakes) {
  const std::string subject(kMaxSubjectIdBytes, 's');
  ASSERT_OK(store_->AddProvision(
      ProvisionAt(JstDay(2026, 1, 1), "partner", {subject})));
  absl::StatusOr<v1::ProvisionHistory> h = store_->Query(Filter(subject));
  ASSERT_OK(h);
  EXPECT_EQ(h->provisions_size(), 1);
}

TEST_P(ProvisionStoreConformanceTest, QueryFiltersBySubjectRecipientAndTime) {
  const absl::Time t0 = JstDay(2026, 1, 1);
  const absl::Time t1 = t0 + absl::Hours(1);
  const absl::Time t2 = t0 + absl::Hours(2);
  // Added out of time order: Query returns oldest first.
  absl::StatusOr<std::string> c =
      store_->AddProvision(ProvisionAt(t2, "a", {"s1", "s3"}));
  absl::StatusOr<std::string> a =
      store_->AddProvision(ProvisionAt(t0, "a", {"s1", "s2"}));
  absl::StatusOr<std::string> b =
      store_->AddProvision(ProvisionAt(t1, "b", {"s2"}));
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(c);
  ASSERT_OK(store_->AddReceipt(ReceiptAt(t1, "a", {"s1"})));

  using ::testing::ElementsAre;
  using ::testing::IsEmpty;
  EXPECT_THAT(ProvisionIds(Filter("")), ElementsAre(*a, *b, *c));
  EXPECT_THAT(ProvisionIds(Filter("s1")), ElementsAre(*a, *c));
  EXPECT_THAT(ProvisionIds(Filter("s2")), ElementsAre(*a, *b));
  EXPECT_THAT(ProvisionIds(Filter("s")), IsEmpty());  // no prefix match
  EXPECT_THAT(ProvisionIds(Filter("", "a")), ElementsAre(*a, *c));
  EXPECT_THAT(ProvisionIds(Filter("s2", "b")), ElementsAre(*b));
  // from is inclusive, to exclusive, to the nanosecond.
  EXPECT_THAT(ProvisionIds(Filter("", "", t1, t2)), ElementsAre(*b));
  EXPECT_THAT(ProvisionIds(Filter("", "", t1 + absl::Nanoseconds(1), t2)),
              IsEmpty());
  EXPECT_THAT(ProvisionIds(Filter("", "", t0, t2 + absl::Nanoseconds(1))),
              ElementsAre(*a, *b, *c));
  EXPECT_THAT(ProvisionIds(Filter("", "", t2, t2)), IsEmpty());

  absl::StatusOr<v1::ProvisionHistory> h = store_->Query(Filter("s1", "a"));
  ASSERT_OK(h);
  EXPECT_EQ(h->provisions_size(), 2);
  EXPECT_EQ(h->receipts_size(), 1);  // the receipt from provider "a"
  h = store_->Query(Filter("s2", "a"));
  ASSERT_OK(h);
  EXPECT_EQ(h->receipts_size(), 0);
}

TEST_P(ProvisionStoreConformanceTest, RetainUntilFollowsMethodAndSeries) {
  ASSERT_OK(store_->AddProvision(
      ProvisionAt(JstDay(2026, 3, 10), "c", {"s1"},
                  v1::RECORD_METHOD_CONTRACT_DOCUMENT, "series-c")));
  ASSERT_OK(store_->AddProvision(ProvisionAt(JstDay(2026, 3, 10), "p", {"s1"},
                                             v1::RECORD_METHOD_PER_PROVISION)));
  ASSERT_OK(store_->AddProvision(ProvisionAt(JstDay(2026, 3, 10), "k", {"s1"},
                                             v1::RECORD_METHOD_COLLECTIVE,
                                             "series-k")));
  const v1::ProvisionHistory all2 = All();
  for (const auto& r : all2.provisions()) {
    const absl::Time want =
        r.recipient_id() == "c" ? JstDay(2027, 3, 10) : JstDay(2029, 3, 10);
    EXPECT_EQ(TimeOf(r.retain_until()), want) << r.recipient_id();
  }
  // A later record of a series extends every record of that series; an
  // earlier one does not shorten it; other series are untouched.
  ASSERT_OK(store_->AddProvision(
      ProvisionAt(JstDay(2026, 9, 1), "c", {"s2"},
                  v1::RECORD_METHOD_CONTRACT_DOCUMENT, "series-c")));
  ASSERT_OK(store_->AddProvision(
      ProvisionAt(JstDay(2026, 1, 1), "c", {"s3"},
                  v1::RECORD_METHOD_CONTRACT_DOCUMENT, "series-c")));
  int in_series = 0;
  const v1::ProvisionHistory all3 = All();
  for (const auto& r : all3.provisions()) {
    if (r.series_id() == "series-c") {
      ++in_series;
      EXPECT_EQ(TimeOf(r.retain_until()), JstDay(2027, 9, 1));
    } else {
      EXPECT_EQ(TimeOf(r.retain_until()), JstDay(2029, 3, 10));
    }
  }
  EXPECT_EQ(in_series, 3);
  // Receipts form their own series.
  ASSERT_OK(store_->AddReceipt(ReceiptAt(JstDay(2026, 2, 1), "P", {"s1"},
                                         v1::RECORD_METHOD_COLLECTIVE, "rs")));
  ASSERT_OK(store_->AddReceipt(ReceiptAt(JstDay(2026, 5, 1), "P", {"s1"},
                                         v1::RECORD_METHOD_COLLECTIVE, "rs")));
  const v1::ProvisionHistory all4 = All();
  for (const auto& r : all4.receipts()) {
    EXPECT_EQ(TimeOf(r.retain_until()), JstDay(2029, 5, 1));
  }
}

TEST_P(ProvisionStoreConformanceTest, PurgeDueAtTheNanosecondBoundaries) {
  absl::StatusOr<std::string> p =
      store_->AddProvision(ProvisionAt(JstDay(2026, 1, 5), "a", {"s1"}));
  ASSERT_OK(p);
  absl::StatusOr<std::string> r =
      store_->AddReceipt(ReceiptAt(JstDay(2026, 1, 5), "P", {"s1"}));
  ASSERT_OK(r);
  ASSERT_OK(store_->AddProvision(ProvisionAt(JstDay(2026, 1, 6), "a", {"s1"})));
  const absl::Time end = JstDay(2029, 1, 5);

  // One nanosecond before: nothing due, the approval sees nothing.
  int approvals = 0;
  absl::StatusOr<PurgeResult> out =
      store_->PurgeDue(end - absl::Nanoseconds(1), [&](const PurgeResult& d) {
        ++approvals;
        EXPECT_TRUE(d.provision_ids.empty() && d.receipt_ids.empty());
        return absl::OkStatus();
      });
  ASSERT_OK(out);
  EXPECT_EQ(approvals, 1);
  EXPECT_TRUE(out->provision_ids.empty() && out->receipt_ids.empty());
  EXPECT_EQ(All().provisions_size(), 2);

  // At retain_until: due. A refused approval deletes nothing.
  EXPECT_THAT(store_->PurgeDue(
                  end,
                  [&](const PurgeResult& d) {
                    EXPECT_THAT(d.provision_ids, ::testing::ElementsAre(*p));
                    EXPECT_THAT(d.receipt_ids, ::testing::ElementsAre(*r));
                    return absl::UnavailableError("sink down");
                  }),
              StatusIs(absl::StatusCode::kUnavailable,
                       ::testing::HasSubstr("sink down")));
  EXPECT_EQ(All().provisions_size(), 2);
  EXPECT_EQ(All().receipts_size(), 1);
  out = store_->PurgeDue(end);
  ASSERT_OK(out);
  EXPECT_THAT(out->provision_ids, ::testing::ElementsAre(*p));
  EXPECT_THAT(out->receipt_ids, ::testing::ElementsAre(*r));
  v1::ProvisionHistory h = All();
  ASSERT_EQ(h.provisions_size(), 1);
  EXPECT_EQ(h.receipts_size(), 0);

  // One nanosecond after the second record's end: it goes too; again is a
  // no-op.
  out = store_->PurgeDue(JstDay(2029, 1, 6) + absl::Nanoseconds(1));
  ASSERT_OK(out);
  EXPECT_EQ(out->provision_ids.size(), 1u);
  out = store_->PurgeDue(JstDay(2030, 1, 1));
  ASSERT_OK(out);
  EXPECT_TRUE(out->provision_ids.empty());
  EXPECT_EQ(All().provisions_size(), 0);
}

TEST_P(ProvisionStoreConformanceTest, SeriesIsPurgedOnlyWhole) {
  // One series under two methods: the contract-document record alone would
  // be due a year after the series' last record, the collective one three
  // years after. Neither goes before the whole series is due.
  ASSERT_OK(store_->AddProvision(
      ProvisionAt(JstDay(2026, 1, 5), "a", {"s1"},
                  v1::RECORD_METHOD_CONTRACT_DOCUMENT, "mixed")));
  ASSERT_OK(store_->AddProvision(ProvisionAt(
      JstDay(2026, 1, 5), "a", {"s2"}, v1::RECORD_METHOD_COLLECTIVE, "mixed")));
  absl::StatusOr<PurgeResult> out = store_->PurgeDue(JstDay(2028, 1, 1));
  ASSERT_OK(out);
  EXPECT_TRUE(out->provision_ids.empty());
  EXPECT_EQ(All().provisions_size(), 2);
  // Extending the series moves the end of both.
  ASSERT_OK(store_->AddProvision(ProvisionAt(
      JstDay(2027, 6, 1), "a", {"s3"}, v1::RECORD_METHOD_COLLECTIVE, "mixed")));
  out = store_->PurgeDue(JstDay(2029, 1, 5));
  ASSERT_OK(out);
  EXPECT_TRUE(out->provision_ids.empty());
  out = store_->PurgeDue(JstDay(2030, 6, 1) - absl::Nanoseconds(1));
  ASSERT_OK(out);
  EXPECT_TRUE(out->provision_ids.empty());
  out = store_->PurgeDue(JstDay(2030, 6, 1));
  ASSERT_OK(out);
  EXPECT_EQ(out->provision_ids.size(), 3u);
  EXPECT_EQ(All().provisions_size(), 0);
}

TEST_P(ProvisionStoreConformanceTest, DeleteRemovesNamedRecordsOnly) {
  absl::StatusOr<std::string> a =
      store_->AddProvision(ProvisionAt(JstDay(2026, 1, 1), "a", {"s1"}));
  absl::StatusOr<std::string> b =
      store_->AddProvision(ProvisionAt(JstDay(2026, 1, 2), "a", {"s1"}));
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(store_->Delete({*a, "unknown"}, {"unknown"}));
  EXPECT_THAT(ProvisionIds(Filter("s1")), ::testing::ElementsAre(*b));
}

TEST_P(ProvisionStoreConformanceTest, ReopenedStoreHasEverything) {
  if (!GetParam().reopen) return;  // kept in process memory only
  absl::StatusOr<std::string> a = store_->AddProvision(ProvisionAt(
      JstDay(2026, 1, 1), "a", {"s1"}, v1::RECORD_METHOD_COLLECTIVE, "k"));
  ASSERT_OK(a);
  ASSERT_OK(store_->AddReceipt(ReceiptAt(JstDay(2026, 1, 1), "P", {"s1"})));
  store_.reset();
  absl::StatusOr<std::unique_ptr<ProvisionRecordStore>> again =
      GetParam().reopen();
  ASSERT_OK(again);
  store_ = *std::move(again);
  v1::ProvisionHistory h = All();
  ASSERT_EQ(h.provisions_size(), 1);
  EXPECT_EQ(h.receipts_size(), 1);
  // The series continues across the restart.
  ASSERT_OK(store_->AddProvision(ProvisionAt(
      JstDay(2026, 6, 1), "a", {"s2"}, v1::RECORD_METHOD_COLLECTIVE, "k")));
  const v1::ProvisionHistory all5 = All();
  for (const auto& r : all5.provisions()) {
    EXPECT_EQ(TimeOf(r.retain_until()), JstDay(2029, 6, 1));
  }
  absl::StatusOr<std::string> n =
      store_->AddProvision(ProvisionAt(JstDay(2026, 1, 1), "a", {"s1"}));
  ASSERT_OK(n);
  EXPECT_NE(*n, *a);
}

TEST_P(ProvisionStoreConformanceTest, ConcurrentWritersKeepEveryRecord) {
  // Loads the Japan time zone once before the threads: Debian's Abseil is
  // not instrumented, and ThreadSanitizer reports its first, locked load.
  (void)RetentionEnd(v1::RECORD_METHOD_PER_PROVISION, absl::UnixEpoch(),
                     absl::UnixEpoch());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 15;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Every thread extends one shared series.
        absl::StatusOr<std::string> id = store_->AddProvision(
            ProvisionAt(JstDay(2026, 1, 1) + absl::Hours(t * kPerThread + i),
                        "a", {absl::StrCat("t", t), "shared"},
                        v1::RECORD_METHOD_COLLECTIVE, "shared-series"));
        if (id.ok()) ids[static_cast<std::size_t>(t)].push_back(*id);
        if (i % 5 == 0) {
          (void)store_->Query(Filter("shared"));
          (void)store_->PurgeDue(JstDay(2026, 1, 1));
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& v : ids) {
    EXPECT_EQ(v.size(), static_cast<std::size_t>(kPerThread));
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  v1::ProvisionHistory h = All();
  ASSERT_EQ(h.provisions_size(), kThreads * kPerThread);
  // Whatever order the writers ran in, the series ends three years after
  // its last record, on every record.
  const absl::Time last =
      JstDay(2026, 1, 1) + absl::Hours(kThreads * kPerThread - 1);
  const absl::Time want =
      RetentionEnd(v1::RECORD_METHOD_COLLECTIVE, last, last);
  for (const auto& r : h.provisions()) {
    EXPECT_EQ(TimeOf(r.retain_until()), want) << r.id();
  }
}

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_STORE_PROVISION_STORE_CONFORMANCE_H_
