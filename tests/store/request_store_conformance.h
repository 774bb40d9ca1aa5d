// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The contract of `RequestStore`, as a value-parameterised suite over a
// store factory. A store's test file includes this header once and
// instantiates the suite:
//
//   INSTANTIATE_TEST_SUITE_P(
//       Sqlite, RequestStoreConformanceTest,
//       ::testing::Values(RequestStoreFactory{"Sqlite", [] { ... }}),
//       RequestStoreFactoryName);
//
// Each test opens a fresh, empty store from the factory.

#ifndef CONSENTRY_TESTS_STORE_REQUEST_STORE_CONFORMANCE_H_
#define CONSENTRY_TESTS_STORE_REQUEST_STORE_CONFORMANCE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "consentry/requests.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace consentry::testing {

// Opens a fresh, empty request store. `reopen`, when set, opens another
// handle on the store `open` opened last (as a restarted process would);
// the durability checks run only for stores that have one.
struct RequestStoreFactory {
  std::string name;
  std::function<absl::StatusOr<std::unique_ptr<RequestStore>>()> open;
  std::function<absl::StatusOr<std::unique_ptr<RequestStore>>()> reopen;
};

// gtest prints the parameter by its name.
inline void PrintTo(const RequestStoreFactory& f, std::ostream* os) {
  *os << f.name;
}

inline std::string RequestStoreFactoryName(
    const ::testing::TestParamInfo<RequestStoreFactory>& p) {
  return p.param.name;
}

// A request as the desk writes it after many steps: every kind of history
// the store must keep.
inline v1::SubjectRequest FullRequest(const std::string& subject) {
  v1::SubjectRequest r;
  r.set_kind(v1::REQUEST_KIND_ERASURE);
  r.set_subject_id(subject);
  r.mutable_requester()->set_name("山田 花子");
  r.set_details("消去を求めます");
  r.mutable_fee()->set_amount_jpy(0);
  r.mutable_fee()->set_payment_ref("transfer 0042");
  r.set_form_returned(true);
  r.add_purposes("marketing");
  r.set_state(v1::REQUEST_STATE_PROCESSING);
  const char* steps[] = {"received", "form_sent", "form_returned",
                         "identity_verified", "processing_started"};
  for (int i = 0; i < 5; ++i) {
    v1::Transition* t = r.add_transitions();
    t->set_step(steps[i]);
    t->set_actor("window:suzuki");
    t->set_note(absl::StrCat("step ", i));
    t->mutable_time()->set_seconds(1'800'000'000 + i);
    t->mutable_time()->set_nanos(i * 7);
  }
  r.set_verified_subject_id(subject);
  v1::HookRun* h = r.add_hook_runs();
  h->set_hook("erase_subject_data");
  h->set_target(subject);
  h->set_ok(false);
  h->set_error("crm unavailable");
  h->set_attempt(1);
  h->mutable_time()->set_seconds(1'800'000'100);
  r.set_answer_ref("letter 2026-118");
  r.mutable_refusal()->set_explanation("");
  r.mutable_receive_time()->set_seconds(1'800'000'000);
  return r;
}

inline bool SameRequest(const v1::SubjectRequest& a,
                        const v1::SubjectRequest& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

class RequestStoreConformanceTest
    : public ::testing::TestWithParam<RequestStoreFactory> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RequestStore>> s = GetParam().open();
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  // Every request the store holds, found through ListOpen and
  // ListBySubject of the subjects the tests use.
  std::size_t OpenCount() {
    absl::StatusOr<RequestListing> open = store_->ListOpen();
    EXPECT_TRUE(open.ok()) << open.status();
    return open.ok() ? open->requests.size() : 0;
  }

  std::unique_ptr<RequestStore> store_;
};

TEST_P(RequestStoreConformanceTest, CreateAssignsIdAndVersionAndKeepsAll) {
  const v1::SubjectRequest in = FullRequest("s1");
  absl::StatusOr<v1::SubjectRequest> a = store_->Create(in);
  ASSERT_OK(a);
  absl::StatusOr<v1::SubjectRequest> b = store_->Create(in);
  ASSERT_OK(b);
  EXPECT_FALSE(a->id().empty());
  EXPECT_NE(a->id(), b->id());
  EXPECT_EQ(a->version(), 1);
  v1::SubjectRequest expected = in;
  expected.set_id(a->id());
  expected.set_version(1);
  EXPECT_TRUE(SameRequest(*a, expected)) << a->DebugString();
  absl::StatusOr<v1::SubjectRequest> got = store_->Get(a->id());
  ASSERT_OK(got);
  // transitions, hook runs, answer fields: all of the history comes back.
  EXPECT_TRUE(SameRequest(*got, expected)) << got->DebugString();
}

TEST_P(RequestStoreConformanceTest, UpdateIsCompareAndSetOnVersion) {
  absl::StatusOr<v1::SubjectRequest> r = store_->Create(FullRequest("s1"));
  ASSERT_OK(r);
  v1::SubjectRequest next = *r;
  next.set_state(v1::REQUEST_STATE_EXECUTED);
  next.add_transitions()->set_step("executed");
  absl::StatusOr<v1::SubjectRequest> v2 = store_->Update(next);
  ASSERT_OK(v2);
  EXPECT_EQ(v2->version(), 2);
  EXPECT_EQ(v2->state(), v1::REQUEST_STATE_EXECUTED);

  // A writer still holding version 1 loses, and writes nothing.
  v1::SubjectRequest stale = *r;
  stale.set_state(v1::REQUEST_STATE_REFUSED);
  EXPECT_THAT(store_->Update(stale), StatusIs(absl::StatusCode::kAborted,
                                              ::testing::HasSubstr(r->id())));
  v1::SubjectRequest ahead = *v2;
  ahead.set_version(7);
  EXPECT_THAT(store_->Update(ahead),
              StatusIs(absl::StatusCode::kAborted, ::testing::_));
  absl::StatusOr<v1::SubjectRequest> got = store_->Get(r->id());
  ASSERT_OK(got);
  EXPECT_TRUE(SameRequest(*got, *v2)) << got->DebugString();
}

TEST_P(RequestStoreConformanceTest, UnknownIdIsNotFound) {
  EXPECT_THAT(
      store_->Get("req-404"),
      StatusIs(absl::StatusCode::kNotFound, ::testing::HasSubstr("req-404")));
  v1::SubjectRequest r = FullRequest("s1");
  r.set_id("req-404");
  r.set_version(1);
  EXPECT_THAT(store_->Update(r), StatusIs(absl::StatusCode::kNotFound,
                                          ::testing::HasSubstr("req-404")));
  EXPECT_EQ(OpenCount(), 0u);
}

TEST_P(RequestStoreConformanceTest, BadInputIsRefusedAndNothingStored) {
  using ::testing::HasSubstr;
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(store_->Get(""), StatusIs(kInvalid, HasSubstr("empty")));
  EXPECT_THAT(store_->Get("req-\xff"), StatusIs(kInvalid, HasSubstr("UTF-8")));
  EXPECT_THAT(store_->Get(std::string(kMaxRequestIdBytes + 1, 'a')),
              StatusIs(kInvalid, HasSubstr("limit")));

  v1::SubjectRequest r = FullRequest("s1");
  r.set_details("bad \xc3\x28 bytes");
  EXPECT_THAT(store_->Create(r), StatusIs(kInvalid, HasSubstr("details")));
  r = FullRequest("s1");
  r.set_details(std::string(kMaxRequestTextBytes + 1, 'x'));
  EXPECT_THAT(store_->Create(r), StatusIs(kInvalid, HasSubstr("limit")));
  r = FullRequest("s1");
  r.mutable_transitions(2)->set_actor("\xfe");
  EXPECT_THAT(store_->Create(r),
              StatusIs(kInvalid, HasSubstr("transitions[2].actor")));
  r = FullRequest("");
  EXPECT_THAT(store_->Create(r), StatusIs(kInvalid, HasSubstr("subject_id")));
  r = FullRequest("s1");
  r.set_state(static_cast<v1::RequestState>(99));
  EXPECT_THAT(store_->Create(r), StatusIs(kInvalid, HasSubstr("state")));
  EXPECT_EQ(OpenCount(), 0u);

  // An update with a bad field leaves the stored record as it was.
  absl::StatusOr<v1::SubjectRequest> ok = store_->Create(FullRequest("s1"));
  ASSERT_OK(ok);
  v1::SubjectRequest bad = *ok;
  bad.set_answer_ref(std::string(kMaxRequestIdBytes + 1, 'r'));
  EXPECT_THAT(store_->Update(bad), StatusIs(kInvalid, HasSubstr("answer_ref")));
  bad = *ok;
  bad.set_id("");
  EXPECT_THAT(store_->Update(bad), StatusIs(kInvalid, HasSubstr("empty")));
  absl::StatusOr<v1::SubjectRequest> got = store_->Get(ok->id());
  ASSERT_OK(got);
  EXPECT_TRUE(SameRequest(*got, *ok));
}

TEST_P(RequestStoreConformanceTest, ListBySubjectIsVerifiedSubjectOldestFirst) {
  std::vector<std::string> ids;
  for (const char* verified : {"s1", "s2", "s1", "", "s1"}) {
    v1::SubjectRequest r = FullRequest("s1");
    r.set_verified_subject_id(verified);
    absl::StatusOr<v1::SubjectRequest> c = store_->Create(r);
    ASSERT_OK(c);
    ids.push_back(c->id());
  }
  // Updating the oldest does not move it.
  absl::StatusOr<v1::SubjectRequest> first = store_->Get(ids[0]);
  ASSERT_OK(first);
  first->set_details("updated");
  ASSERT_OK(store_->Update(*first));

  absl::StatusOr<std::vector<v1::SubjectRequest>> s1 =
      store_->ListBySubject("s1");
  ASSERT_OK(s1);
  std::vector<std::string> got;
  for (const auto& r : *s1) got.push_back(r.id());
  EXPECT_THAT(got, ::testing::ElementsAre(ids[0], ids[2], ids[4]));
  EXPECT_EQ((*s1)[0].details(), "updated");
  EXPECT_THAT(store_->ListBySubject("s2"), IsOkAndHolds(::testing::SizeIs(1)));
  EXPECT_THAT(store_->ListBySubject("nobody"),
              IsOkAndHolds(::testing::IsEmpty()));
}

TEST_P(RequestStoreConformanceTest, ListOpenLeavesOutAnsweredAndRefused) {
  std::vector<std::string> ids;
  for (v1::RequestState st :
       {v1::REQUEST_STATE_RECEIVED, v1::REQUEST_STATE_ANSWERED,
        v1::REQUEST_STATE_PROCESSING, v1::REQUEST_STATE_REFUSED,
        v1::REQUEST_STATE_EXECUTED}) {
    v1::SubjectRequest r = FullRequest("s1");
    r.set_state(st);
    absl::StatusOr<v1::SubjectRequest> c = store_->Create(r);
    ASSERT_OK(c);
    ids.push_back(c->id());
  }
  absl::StatusOr<RequestListing> open = store_->ListOpen();
  ASSERT_OK(open);
  EXPECT_THAT(open->unreadable, ::testing::IsEmpty());
  std::vector<std::string> got;
  for (const auto& r : open->requests) got.push_back(r.id());
  EXPECT_THAT(got, ::testing::ElementsAre(ids[0], ids[2], ids[4]));

  // Answering one closes it.
  absl::StatusOr<v1::SubjectRequest> r = store_->Get(ids[2]);
  ASSERT_OK(r);
  r->set_state(v1::REQUEST_STATE_ANSWERED);
  ASSERT_OK(store_->Update(*r));
  EXPECT_THAT(store_->ListOpen(),
              IsOkAndHolds(::testing::Field(&RequestListing::requests,
                                            ::testing::SizeIs(2))));
}

TEST_P(RequestStoreConformanceTest, ReopenedStoreHasEverything) {
  if (!GetParam().reopen) return;  // kept in process memory only
  absl::StatusOr<v1::SubjectRequest> r = store_->Create(FullRequest("s1"));
  ASSERT_OK(r);
  r->set_state(v1::REQUEST_STATE_EXECUTED);
  absl::StatusOr<v1::SubjectRequest> v2 = store_->Update(*r);
  ASSERT_OK(v2);
  store_.reset();
  absl::StatusOr<std::unique_ptr<RequestStore>> again = GetParam().reopen();
  ASSERT_OK(again);
  absl::StatusOr<v1::SubjectRequest> got = (*again)->Get(r->id());
  ASSERT_OK(got);
  EXPECT_TRUE(SameRequest(*got, *v2));
  // New ids never repeat old ones.
  absl::StatusOr<v1::SubjectRequest> n = (*again)->Create(FullRequest("s1"));
  ASSERT_OK(n);
  EXPECT_NE(n->id(), r->id());
}

TEST_P(RequestStoreConformanceTest, ConcurrentWritersLoseNoUpdate) {
  absl::StatusOr<v1::SubjectRequest> shared = store_->Create(FullRequest("s1"));
  ASSERT_OK(shared);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  std::atomic<int> wins{0};
  std::vector<std::vector<std::string>> created(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<v1::SubjectRequest> c =
            store_->Create(FullRequest(absl::StrCat("t", t)));
        if (c.ok()) created[static_cast<std::size_t>(t)].push_back(c->id());
        // Read, change, compare-and-set; retry when another writer won.
        for (;;) {
          absl::StatusOr<v1::SubjectRequest> cur = store_->Get(shared->id());
          if (!cur.ok()) break;
          cur->add_hook_runs()->set_target(absl::StrCat("t", t, "-", i));
          absl::Status s = store_->Update(*cur).status();
          if (s.ok()) {
            ++wins;
            break;
          }
          if (s.code() != absl::StatusCode::kAborted) break;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  std::set<std::string> ids;
  for (const auto& v : created) {
    EXPECT_EQ(v.size(), static_cast<std::size_t>(kPerThread));
    ids.insert(v.begin(), v.end());
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(wins.load(), kThreads * kPerThread);
  absl::StatusOr<v1::SubjectRequest> got = store_->Get(shared->id());
  ASSERT_OK(got);
  // One hook run from the fixture, one per successful update: none lost.
  EXPECT_EQ(got->hook_runs_size(), 1 + kThreads * kPerThread);
  EXPECT_EQ(got->version(), 1 + kThreads * kPerThread);
}

// ListAll and Import are optional (`kUnimplemented` by default); the
// durable stores implement them.
TEST_P(RequestStoreConformanceTest, ListAllIsEveryRequestOldestFirst) {
  std::vector<std::string> ids;
  for (const char* subject : {"s1", "s2", "s3"}) {
    absl::StatusOr<v1::SubjectRequest> r = store_->Create(FullRequest(subject));
    ASSERT_OK(r);
    ids.push_back(r->id());
  }
  absl::StatusOr<v1::SubjectRequest> done = store_->Get(ids[1]);
  ASSERT_OK(done);
  done->set_state(v1::REQUEST_STATE_ANSWERED);
  ASSERT_OK(store_->Update(*done));
  absl::StatusOr<RequestListing> all = store_->ListAll();
  if (absl::IsUnimplemented(all.status())) GTEST_SKIP() << all.status();
  ASSERT_OK(all);
  EXPECT_THAT(all->unreadable, ::testing::IsEmpty());
  std::vector<std::string> got;
  for (const v1::SubjectRequest& r : all->requests) got.push_back(r.id());
  EXPECT_EQ(got, ids);
}

TEST_P(RequestStoreConformanceTest, ImportKeepsIdAndVersionAndNeverOverwrites) {
  v1::SubjectRequest in = FullRequest("s1");
  in.set_id("req-7");
  in.set_version(3);
  absl::StatusOr<v1::SubjectRequest> imported = store_->Import(in);
  if (absl::IsUnimplemented(imported.status())) {
    GTEST_SKIP() << imported.status();
  }
  ASSERT_OK(imported);
  absl::StatusOr<v1::SubjectRequest> got = store_->Get("req-7");
  ASSERT_OK(got);
  EXPECT_TRUE(SameRequest(*got, in)) << got->DebugString();
  // Later ids follow the imported one; the record there is never replaced.
  absl::StatusOr<v1::SubjectRequest> next = store_->Create(FullRequest("s2"));
  ASSERT_OK(next);
  absl::StatusOr<std::int64_t> n = ImportableRequestNumber(next->id());
  ASSERT_OK(n);
  EXPECT_GT(*n, 7);
  v1::SubjectRequest other = FullRequest("s3");
  other.set_id("req-7");
  EXPECT_THAT(store_->Import(other).status(),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));
  other.set_id(next->id());
  EXPECT_THAT(store_->Import(other).status(),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));
  got = store_->Get("req-7");
  ASSERT_OK(got);
  EXPECT_TRUE(SameRequest(*got, in)) << got->DebugString();
  for (const char* bad : {"req-07", "req-0", "req-", "x-1", "req-1a", ""}) {
    other.set_id(bad);
    EXPECT_THAT(store_->Import(other).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_))
        << bad;
  }
  // A record a store refuses to write is refused on import too.
  other.set_id("req-9");
  other.set_subject_id("");
  EXPECT_THAT(store_->Import(other).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(store_->Get("req-9").status(),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

}  // namespace consentry::testing

#endif  // CONSENTRY_TESTS_STORE_REQUEST_STORE_CONFORMANCE_H_
