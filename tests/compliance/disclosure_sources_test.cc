// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/disclosure_sources.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consentry/audit_retention.h"
#include "consentry/guard.h"
#include "consentry/receipt.h"
#include "consentry/recipients.h"
#include "consentry/requests.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/audit/audit_format.h"
#include "src/testing/audit_log_test_peer.h"
#include "tests/testing/files.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace consentry {
namespace {

using ::consentry::testing::DefaultPolicy;
using ::consentry::testing::PurposeChange;
using ::consentry::testing::SourcePath;
using ::consentry::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr std::int64_t kT0 = 1'790'000'000'000'000'000;

std::string MakeTempDir() { return testing::MakeTempDir("disclosure"); }

using ::consentry::testing::ReadAll;
using ::consentry::testing::WriteAll;

// Event `i` about `subject`, one second after event i - 1. The views point
// at the arguments: pass strings that outlive the `Record` call.
AuditEvent Event(int i, absl::string_view subject, absl::string_view accessor) {
  AuditEvent e;
  e.time_unix_nanos = kT0 + std::int64_t{i} * 1'000'000'000;
  e.accessor = accessor;
  e.subject = subject;
  e.category = "measurement";
  e.purpose = "statistics.measurement";
  e.policy_version = "2026-11-01";
  e.reason = Reason::kAllowedConsent;
  e.revision = i;
  return e;
}

// --- AuditLogAccessEventSource
// ------------------------------------------------

class AuditLogSourceTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<AuditLog> Open(std::uint64_t segment_bytes = 4096) {
    AuditLogOptions o;
    o.directory = dir_;
    o.segment_bytes = segment_bytes;
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(o);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  }

  // Events first .. first + n - 1, subject s-(i % 10).
  static void Write(AuditLog& log, int n, int first = 0) {
    for (int i = first; i < first + n; ++i) {
      const std::string s = absl::StrCat("s-", i % 10);
      ASSERT_OK(log.Record(Event(i, s, "a-1")));
    }
  }

  // The revisions (event numbers) of `events`, each checked to be about
  // `subject`.
  static std::vector<std::int64_t> Numbers(
      const std::vector<OwnedAuditEvent>& events, absl::string_view subject) {
    std::vector<std::int64_t> out;
    for (const OwnedAuditEvent& e : events) {
      EXPECT_EQ(e.subject, subject);
      out.push_back(e.revision);
    }
    return out;
  }

  static std::vector<std::int64_t> Expected(int n, int of_ten) {
    std::vector<std::int64_t> out;
    for (int i = of_ten; i < n; i += 10) out.push_back(i);
    return out;
  }

  std::string Idx(std::uint64_t n) {
    return dir_ + "/" + internal::IndexFileName(n);
  }

  std::string dir_;
};

TEST_F(AuditLogSourceTest, ReadsSealedSegmentsByIndexAndTheActiveOneInFull) {
  std::unique_ptr<AuditLog> log = Open();
  ASSERT_NE(log, nullptr);
  Write(*log, 1000);
  ASSERT_OK(log->Flush());
  ASSERT_GT(log->counters().segments_sealed, 2u);
  AuditLogAccessEventSource source(dir_, log.get());
  absl::StatusOr<std::vector<OwnedAuditEvent>> events = source.EventsFor("s-7");
  ASSERT_OK(events);
  // Exactly the subject's events, in order: none of s-0 .. s-9 but s-7.
  EXPECT_EQ(Numbers(*events, "s-7"), Expected(1000, 7));
  const AuditLogReader::Stats stats = source.last_stats();
  EXPECT_GT(stats.segments_indexed + stats.segments_skipped, 2u);
  EXPECT_EQ(stats.segments_scanned, 1u);  // the active segment
  EXPECT_EQ(stats.indexes_rejected, 0u);
  // A subject the log never saw: an empty answer, not an error.
  events = source.EventsFor("s-unknown");
  ASSERT_OK(events);
  EXPECT_THAT(*events, IsEmpty());
  ASSERT_OK(log->Close());
}

TEST_F(AuditLogSourceTest, SubjectsSharingAPrefixAreNotMixed) {
  std::unique_ptr<AuditLog> log = Open();
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < 300; ++i) {
    ASSERT_OK(log->Record(Event(i, i % 3 == 0 ? "s-1" : "s-10", "a")));
  }
  AuditLogAccessEventSource source(dir_, log.get());
  absl::StatusOr<std::vector<OwnedAuditEvent>> events = source.EventsFor("s-1");
  ASSERT_OK(events);
  EXPECT_THAT(*events, SizeIs(100));
  for (const OwnedAuditEvent& e : *events) EXPECT_EQ(e.subject, "s-1");
  ASSERT_OK(log->Close());
}

// An access recorded just before the package is built is in it: the
// source flushes the live log before reading. The writer is held for a
// moment so that, without the flush, the event would not yet be on disk.
TEST_F(AuditLogSourceTest, EventsRecordedJustBeforeTheCallAreIncluded) {
  std::unique_ptr<AuditLog> log = Open(64 << 20);
  ASSERT_NE(log, nullptr);
  Write(*log, 20);
  ASSERT_OK(log->Flush());
  internal::AuditLogTestPeer::PauseWriter(*log, true);
  ASSERT_OK(log->Record(Event(20, "s-0", "a-late")));
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    internal::AuditLogTestPeer::PauseWriter(*log, false);
  });
  AuditLogAccessEventSource source(dir_, log.get());
  absl::StatusOr<std::vector<OwnedAuditEvent>> events = source.EventsFor("s-0");
  release.join();
  ASSERT_OK(events);
  EXPECT_EQ(Numbers(*events, "s-0"), (std::vector<std::int64_t>{0, 10, 20}));
  ASSERT_OK(log->Close());
}

// An index edited to hide a subject's events is not trusted: the segment is
// scanned and the answer is still exactly the subject's events.
TEST_F(AuditLogSourceTest, ATamperedIndexIsScannedAndTheAnswerIsExact) {
  {
    std::unique_ptr<AuditLog> log = Open();
    ASSERT_NE(log, nullptr);
    Write(*log, 1000);
    ASSERT_OK(log->Close());
  }
  internal::SegmentIndex index;
  ASSERT_TRUE(internal::SegmentIndex::Decode(ReadAll(Idx(1)), &index));
  const std::uint64_t h = internal::IndexKeyHash(internal::kKeySubject, "s-7");
  std::erase_if(index.entries, [&](const auto& e) { return e.first == h; });
  WriteAll(Idx(1), index.Encode());
  // And one index that is not an index at all.
  WriteAll(Idx(2), "not an index");

  AuditLogAccessEventSource source(dir_, nullptr);  // a log no one writes
  absl::StatusOr<std::vector<OwnedAuditEvent>> events = source.EventsFor("s-7");
  ASSERT_OK(events);
  EXPECT_EQ(Numbers(*events, "s-7"), Expected(1000, 7));
  const AuditLogReader::Stats stats = source.last_stats();
  EXPECT_EQ(stats.indexes_rejected, 2u);
  EXPECT_GE(stats.segments_scanned, 2u);
  EXPECT_GT(stats.segments_indexed + stats.segments_skipped, 0u);
}

// Packages built at once from one source while the log is written: each
// sees every event recorded before its call, and only its subject's.
TEST_F(AuditLogSourceTest, ConcurrentCallsWhileTheLogIsWritten) {
  std::unique_ptr<AuditLog> log = Open();
  ASSERT_NE(log, nullptr);
  Write(*log, 200);
  AuditLogAccessEventSource source(dir_, log.get());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 200; i < 600; ++i) {
      const std::string s = absl::StrCat("s-", i % 10);
      ASSERT_OK(log->Record(Event(i, s, "a-2")));
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      const std::string subject = absl::StrCat("s-", t + 3);
      for (int round = 0; round < 5; ++round) {
        absl::StatusOr<std::vector<OwnedAuditEvent>> e =
            source.EventsFor(subject);
        ASSERT_OK(e);
        EXPECT_GE(e->size(), 20u);  // the 200 written before
        for (const OwnedAuditEvent& x : *e) EXPECT_EQ(x.subject, subject);
        (void)source.last_stats();
      }
    });
  }
  for (std::thread& r : readers) r.join();
  writer.join();
  EXPECT_TRUE(done);
  absl::StatusOr<std::vector<OwnedAuditEvent>> all = source.EventsFor("s-3");
  ASSERT_OK(all);
  EXPECT_EQ(Numbers(*all, "s-3"), Expected(600, 3));
  ASSERT_OK(log->Close());
}

TEST_F(AuditLogSourceTest, FailuresNameTheLog) {
  AuditLogAccessEventSource missing(dir_ + "/absent", nullptr);
  EXPECT_THAT(missing.EventsFor("s-1"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent")));

  std::unique_ptr<AuditLog> log = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_OK(log->Close());
  AuditLogAccessEventSource closed(dir_, log.get());
  EXPECT_THAT(closed.EventsFor("s-1"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(dir_), HasSubstr("flush"))));
}

// --- ConsentStoreHistorySource
// ------------------------------------------------

TEST(ConsentStoreHistorySourceTest, ReturnsEachStateOfTheSubjectOldestFirst) {
  InMemoryConsentStore store;
  ASSERT_OK(store.Apply(
      PurposeChange("s1", "marketing.research", v1::CONSENT_STATE_GIVEN)));
  ASSERT_OK(store.Apply(
      PurposeChange("s2", "marketing.research", v1::CONSENT_STATE_GIVEN)));
  ASSERT_OK(store.Apply(
      PurposeChange("s1", "marketing.research", v1::CONSENT_STATE_WITHDRAWN)));
  ConsentStoreHistorySource source(&store);
  absl::StatusOr<std::vector<v1::ConsentRecord>> h = source.HistoryFor("s1");
  ASSERT_OK(h);
  ASSERT_THAT(*h, SizeIs(2));
  for (const v1::ConsentRecord& r : *h) EXPECT_EQ(r.subject_id(), "s1");
  EXPECT_EQ((*h)[0].purposes(0).state(), v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ((*h)[1].purposes(0).state(), v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_LT((*h)[0].revision(), (*h)[1].revision());
  h = source.HistoryFor("nobody");
  ASSERT_OK(h);
  EXPECT_THAT(*h, IsEmpty());
}

// A store without history says so; the source passes it on, named.
class NoHistoryStore final : public ConsentStore {
 public:
  absl::StatusOr<v1::ConsentRecord> Get(absl::string_view s) override {
    return inner_.Get(s);
  }
  absl::StatusOr<Revision> Apply(const v1::ConsentChange& c) override {
    return inner_.Apply(c);
  }
  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSince(
      Revision r, int limit) override {
    return inner_.ChangesSince(r, limit);
  }
  absl::StatusOr<Revision> LatestRevision() override {
    return inner_.LatestRevision();
  }
  std::unique_ptr<Subscription> Watch(ConsentListener l) override {
    return inner_.Watch(std::move(l));
  }

 private:
  InMemoryConsentStore inner_;
};

TEST(ConsentStoreHistorySourceTest, AStoreWithoutHistoryIsAnErrorNotAnEmpty) {
  NoHistoryStore store;
  ConsentStoreHistorySource source(&store);
  EXPECT_THAT(source.HistoryFor("s1"),
              StatusIs(absl::StatusCode::kUnimplemented,
                       HasSubstr("consent store history")));
}

// --- ProvisionStoreSource
// -----------------------------------------------------

google::protobuf::Timestamp At(std::int64_t seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  return t;
}

v1::ProvisionRecord Provision(std::int64_t at, std::vector<std::string> who) {
  v1::ProvisionRecord p;
  *p.mutable_provision_time() = At(at);
  p.set_recipient_id("univ-lab");
  p.set_recipient_name("Joint study laboratory");
  p.set_purpose("occasion.joint_study");
  p.add_categories("measurement");
  for (std::string& s : who) p.add_subjects(std::move(s));
  return p;
}

v1::ReceiptRecord Receipt(std::int64_t at, std::vector<std::string> who) {
  v1::ReceiptRecord r;
  *r.mutable_receipt_time() = At(at);
  r.set_provider_name("Partner clinic");
  r.set_acquisition_circumstances("health check");
  r.add_categories("contact");
  for (std::string& s : who) r.add_subjects(std::move(s));
  return r;
}

TEST(ProvisionStoreSourceTest, MergesProvisionsAndReceiptsOldestFirst) {
  InMemoryProvisionRecordStore store;
  ASSERT_OK(store.AddProvision(Provision(300, {"s1", "s2"})));
  ASSERT_OK(store.AddProvision(Provision(100, {"s1"})));
  ASSERT_OK(store.AddProvision(Provision(150, {"s2"})));
  ASSERT_OK(store.AddReceipt(Receipt(200, {"s1"})));
  ASSERT_OK(store.AddReceipt(Receipt(50, {"s2"})));
  ProvisionStoreSource source(&store);
  absl::StatusOr<std::vector<v1::ProvisionEntry>> e =
      source.ProvisionsFor("s1");
  ASSERT_OK(e);
  ASSERT_THAT(*e, SizeIs(3));
  EXPECT_EQ((*e)[0].time().seconds(), 100);
  EXPECT_EQ((*e)[0].direction(), "provided");
  EXPECT_EQ((*e)[0].recipient_id(), "univ-lab");
  EXPECT_EQ((*e)[0].recipient_name(), "Joint study laboratory");
  EXPECT_EQ((*e)[0].purpose(), "occasion.joint_study");
  EXPECT_THAT((*e)[0].categories(), ElementsAre("measurement"));
  EXPECT_EQ((*e)[0].record_ref(), "prov-2");
  EXPECT_EQ((*e)[1].time().seconds(), 200);
  EXPECT_EQ((*e)[1].direction(), "received");
  EXPECT_EQ((*e)[1].recipient_name(), "Partner clinic");
  EXPECT_THAT((*e)[1].categories(), ElementsAre("contact"));
  EXPECT_EQ((*e)[2].time().seconds(), 300);
  e = source.ProvisionsFor("nobody");
  ASSERT_OK(e);
  EXPECT_THAT(*e, IsEmpty());
}

TEST(ProvisionStoreSourceTest, AnOutageIsNamed) {
  InMemoryProvisionRecordStore store;
  store.SetUnavailableForTesting(true);
  ProvisionStoreSource source(&store);
  EXPECT_THAT(source.ProvisionsFor("s1"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("provision record store")));
}

// The store a package's provisions come from holds a deployment's records:
// adding one must not walk all the others (100,000 adds took minutes when
// each compared every id).
TEST(ProvisionStoreSourceTest, TheInMemoryStoreAddsManyRecordsQuickly) {
  InMemoryProvisionRecordStore store;
  const absl::Time start = absl::Now();
  for (int i = 0; i < 100'000; ++i) {
    ASSERT_OK(store.AddProvision(Provision(i, {i == 42 ? "s1" : "other"})));
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  ProvisionStoreSource source(&store);
  absl::StatusOr<std::vector<v1::ProvisionEntry>> e =
      source.ProvisionsFor("s1");
  ASSERT_OK(e);
  ASSERT_THAT(*e, SizeIs(1));
  EXPECT_EQ((*e)[0].record_ref(), "prov-43");
}

TEST(ProvisionStoreSourceTest, DuplicatesStayRefusedAndDeletedIdsFree) {
  InMemoryProvisionRecordStore store;
  v1::ProvisionRecord p = Provision(1, {"s1"});
  p.set_id("p-1");
  v1::ReceiptRecord r = Receipt(2, {"s1"});
  r.set_id("r-1");
  ASSERT_OK(store.AddProvision(p));
  ASSERT_OK(store.AddReceipt(r));
  EXPECT_THAT(store.AddProvision(p),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("'p-1'")));
  EXPECT_THAT(store.AddReceipt(r),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("'r-1'")));
  const std::vector<std::string> pids = {"p-1"}, rids = {"r-1"};
  ASSERT_OK(store.Delete(pids, rids));
  ProvisionStoreSource source(&store);
  absl::StatusOr<std::vector<v1::ProvisionEntry>> e =
      source.ProvisionsFor("s1");
  ASSERT_OK(e);
  EXPECT_THAT(*e, IsEmpty());
  EXPECT_OK(store.AddProvision(p));
  EXPECT_OK(store.AddReceipt(r));
}

// A store that answers every query with everyone's records.
class IgnoresFilterStore final : public ProvisionRecordStore {
 public:
  absl::StatusOr<std::string> AddProvision(v1::ProvisionRecord r) override {
    return inner.AddProvision(std::move(r));
  }
  absl::StatusOr<std::string> AddReceipt(v1::ReceiptRecord r) override {
    return inner.AddReceipt(std::move(r));
  }
  absl::StatusOr<v1::ProvisionHistory> Query(const RecordFilter&) override {
    return inner.Query(RecordFilter{});
  }
  absl::Status Delete(absl::Span<const std::string> p,
                      absl::Span<const std::string> r) override {
    return inner.Delete(p, r);
  }
  absl::StatusOr<PurgeResult> PurgeDue(absl::Time now,
                                       const PurgeApproval& approve) override {
    return inner.PurgeDue(now, approve);
  }
  InMemoryProvisionRecordStore inner;
};

TEST(ProvisionStoreSourceTest, ARecordOfSomeoneElseIsNeverDisclosed) {
  IgnoresFilterStore store;
  ASSERT_OK(store.AddProvision(Provision(100, {"s1"})));
  ASSERT_OK(store.AddReceipt(Receipt(200, {"s2"})));
  ProvisionStoreSource source(&store);
  EXPECT_THAT(source.ProvisionsFor("s1"),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("rcpt-"), HasSubstr("'s1'"))));
}

// --- The complete package
// -----------------------------------------------------

// A desk whose every source is a library class: the durable audit log (also
// the sink of the Guard and the desk), the consent store's history and a
// provision record store.
class CompletePackageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    AuditLogOptions o;
    o.directory = dir_;
    o.segment_bytes = 4096;
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(o);
    ASSERT_OK(log);
    log_ = *std::move(log);
    policy_ = DefaultPolicy();
    GuardOptions guard_options;
    guard_options.clock = [this] { return now_; };
    absl::StatusOr<std::unique_ptr<Guard>> g =
        Guard::Create(policy_, &store_, log_.get(), std::move(guard_options));
    ASSERT_OK(g);
    guard_ = *std::move(g);
    absl::StatusOr<std::unique_ptr<FileKeyProvider>> keys =
        FileKeyProvider::Open(
            {.paths = {SourcePath("tests/testdata/receipt_keys")},
             .signing_key_file =
                 SourcePath("tests/testdata/receipt_keys/2026.pem")});
    ASSERT_OK(keys);
    keys_ = *std::move(keys);
    events_ = std::make_unique<AuditLogAccessEventSource>(dir_, log_.get());
    options_.clock = [this] { return now_; };
    options_.access_events = events_.get();
    options_.consent_history = &history_;
    options_.provisions = &provisions_;
    options_.receipt_keys = keys_.get();
  }

  void TearDown() override {
    guard_.reset();
    if (log_ != nullptr) {
      EXPECT_OK(log_->Close());
    }
    std::filesystem::remove_all(dir_);
  }

  void Read(const std::string& subject, int times) {
    absl::StatusOr<AccessContext> ctx =
        guard_->Context("statistics-job", "statistics.measurement", "");
    ASSERT_OK(ctx);
    absl::StatusOr<CategoryRef> cat = guard_->Category("measurement");
    ASSERT_OK(cat);
    for (int i = 0; i < times; ++i) {
      ASSERT_OK(guard_->Check(*ctx, subject, *cat));
    }
  }

  // Executes a disclosure request of `subject` on a desk with `options_`.
  absl::StatusOr<RequestOutcome> Disclose(const std::string& subject) {
    absl::StatusOr<std::unique_ptr<RequestDesk>> made =
        RequestDesk::Create(policy_, &store_, &requests_, log_.get(), options_);
    if (!made.ok()) return made.status();
    RequestDesk& desk = **made;
    v1::SubjectRequest intake;
    intake.set_kind(v1::REQUEST_KIND_DISCLOSURE);
    intake.set_subject_id(subject);
    intake.mutable_requester()->set_name("Yamada Hanako");
    absl::StatusOr<v1::SubjectRequest> r = desk.Receive(intake, "window");
    if (!r.ok()) return r.status();
    const std::string id = r->id();
    for (absl::Status s :
         {desk.SendForm(id, "window").status(),
          desk.RecordFormReturned(id, "mailroom").status(),
          desk.RecordFeePaid(id, "accounts", "t-1").status(),
          desk.VerifyIdentity(id, "window", {subject, "licence"}).status(),
          desk.StartProcessing(id, "officer").status()}) {
      if (!s.ok()) return s;
    }
    return desk.Execute(id, "officer");
  }

  std::string dir_;
  absl::Time now_ = absl::FromUnixSeconds(1'790'000'000);
  std::shared_ptr<const CompiledPolicy> policy_;
  InMemoryConsentStore store_;
  std::unique_ptr<AuditLog> log_;
  std::unique_ptr<Guard> guard_;
  std::unique_ptr<FileKeyProvider> keys_;
  InMemoryRequestStore requests_;
  InMemoryProvisionRecordStore provision_store_;
  ConsentStoreHistorySource history_{&store_};
  ProvisionStoreSource provisions_{&provision_store_};
  std::unique_ptr<AuditLogAccessEventSource> events_;
  RequestDeskOptions options_;
};

TEST_F(CompletePackageTest, EverySectionComesFromTheLibraryAndNoneIsOmitted) {
  ASSERT_OK(store_.Apply(
      PurposeChange("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN)));
  ASSERT_OK(store_.Apply(
      PurposeChange("s2", "statistics.measurement", v1::CONSENT_STATE_GIVEN)));
  ASSERT_OK(store_.Apply(
      PurposeChange("s1", "marketing.research", v1::CONSENT_STATE_GIVEN)));
  ASSERT_OK(provision_store_.AddProvision(Provision(1'789'000'000, {"s1"})));
  ASSERT_OK(provision_store_.AddProvision(Provision(1'789'000'100, {"s2"})));
  ASSERT_OK(provision_store_.AddReceipt(Receipt(1'789'000'200, {"s1", "s2"})));
  Read("s2", 40);  // fills several segments
  Read("s1", 3);   // just before the request: still in the package

  absl::StatusOr<RequestOutcome> out = Disclose("s1");
  ASSERT_OK(out);
  const v1::DisclosurePackage& pkg = out->package;
  EXPECT_THAT(pkg.omitted_sections(), IsEmpty());
  ASSERT_THAT(pkg.access_events(), SizeIs(3));
  for (const v1::AccessRecord& a : pkg.access_events()) {
    EXPECT_EQ(a.accessor(), "statistics-job");
    EXPECT_EQ(a.action(), "read");
  }
  EXPECT_THAT(pkg.consent_history(), SizeIs(2));
  EXPECT_THAT(pkg.consent_receipts(), SizeIs(2));
  ASSERT_THAT(pkg.provisions(), SizeIs(2));
  EXPECT_EQ(pkg.provisions(0).direction(), "provided");
  EXPECT_EQ(pkg.provisions(1).direction(), "received");
  EXPECT_THAT(pkg.requests(), SizeIs(1));
  EXPECT_THAT(out->document_en, HasSubstr("Joint study laboratory"));
  EXPECT_THAT(out->document_en, Not(HasSubstr("omitted")));
}

TEST_F(CompletePackageTest, ASubjectWithNoRecordsGetsEmptySectionsNotOmitted) {
  Read("s2", 5);
  absl::StatusOr<RequestOutcome> out = Disclose("s9");
  ASSERT_OK(out);
  EXPECT_THAT(out->package.omitted_sections(), IsEmpty());
  EXPECT_THAT(out->package.access_events(), IsEmpty());
  EXPECT_THAT(out->package.provisions(), IsEmpty());
  EXPECT_THAT(out->package.consent_history(), IsEmpty());
}

TEST_F(CompletePackageTest, EventsRemovedByRetentionAreNamedAsOmitted) {
  ASSERT_OK(store_.Apply(
      PurposeChange("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN)));
  ASSERT_OK(store_.Apply(
      PurposeChange("s2", "statistics.measurement", v1::CONSENT_STATE_GIVEN)));
  Read("s1", 2);
  Read("s2", 40);  // fills several segments, all sealed before the next
  now_ += absl::Hours(24 * 800);
  Read("s1", 3);
  ASSERT_OK(log_->Flush());
  AuditRetentionOptions retain;
  retain.max_age = absl::Hours(24 * 365);
  retain.now = now_;
  retain.delete_segments = true;
  absl::StatusOr<AuditRetentionResult> done = ApplyAuditRetention(dir_, retain);
  ASSERT_OK(done);
  ASSERT_THAT(done->removed, Not(IsEmpty()));

  absl::StatusOr<RequestOutcome> out = Disclose("s1");
  ASSERT_OK(out);
  const v1::DisclosurePackage& pkg = out->package;
  EXPECT_THAT(pkg.access_events(), SizeIs(3));
  ASSERT_THAT(pkg.omitted_sections(), SizeIs(1));
  EXPECT_THAT(pkg.omitted_sections(0),
              AllOf(HasSubstr("access_events: audit log "),
                    HasSubstr("were removed under the retention policy")));
}

TEST_F(CompletePackageTest, AFailingProvisionSourceFailsThePackageNamingIt) {
  provision_store_.SetUnavailableForTesting(true);
  absl::StatusOr<RequestOutcome> out = Disclose("s1");
  EXPECT_THAT(out, StatusIs(absl::StatusCode::kUnavailable,
                            AllOf(HasSubstr("disclosure package of req-1"),
                                  HasSubstr("provisions source"))));
  absl::StatusOr<v1::SubjectRequest> r = requests_.Get("req-1");
  ASSERT_OK(r);
  EXPECT_EQ(r->state(), v1::REQUEST_STATE_PROCESSING);
}

TEST_F(CompletePackageTest, AFailingAccessLogFailsThePackageNamingIt) {
  AuditLogAccessEventSource missing(dir_ + "/absent", nullptr);
  options_.access_events = &missing;
  EXPECT_THAT(Disclose("s1"), StatusIs(absl::StatusCode::kNotFound,
                                       AllOf(HasSubstr("access_events source"),
                                             HasSubstr("absent"))));
}

TEST_F(CompletePackageTest, AFailingHistoryFailsThePackageNamingIt) {
  NoHistoryStore no_history;
  ConsentStoreHistorySource history(&no_history);
  options_.consent_history = &history;
  EXPECT_THAT(Disclose("s1"), StatusIs(absl::StatusCode::kUnimplemented,
                                       HasSubstr("consent_history source")));
}

}  // namespace
}  // namespace consentry
