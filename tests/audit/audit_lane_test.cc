// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The audit log's per-thread lane (a single-producer, single-consumer byte
// ring) and the set of lanes of one log.

#include "src/audit/audit_lane.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/audit/audit_lane_set.h"

namespace consentry::internal {
namespace {

// Publishes `payload` through `Reserve`/`Commit`; false when the lane is
// full.
bool Put(AuditLane& lane, absl::string_view payload, void* ticket = nullptr,
         std::uint32_t user_flags = 0) {
  char* out = nullptr;
  if (!lane.Reserve(payload.size(), ticket != nullptr, &out)) return false;
  char* heap = nullptr;
  if (out == nullptr) {
    heap = new char[payload.size()];
    out = heap;
  }
  std::memcpy(out, payload.data(), payload.size());
  lane.Commit(payload.size(), heap, ticket, user_flags);
  return true;
}

// Takes every record published so far.
std::vector<std::string> Drain(AuditLane& lane) {
  std::vector<std::string> out;
  const std::uint64_t tail = lane.tail();
  AuditLane::Record r;
  while (lane.Peek(tail, &r)) {
    out.emplace_back(r.payload);
    lane.Pop();
  }
  lane.Publish();
  return out;
}

TEST(AuditLaneTest, ConsumerReadsWhatTheProducerPublished) {
  AuditLane lane(16);
  EXPECT_EQ(lane.tail(), lane.consumed());
  int ticket = 0;
  ASSERT_TRUE(Put(lane, "first"));
  ASSERT_TRUE(Put(lane, "second", &ticket, AuditLane::kFirstUserFlag));
  EXPECT_EQ(lane.published(), 2u);

  const std::uint64_t tail = lane.tail();
  AuditLane::Record r;
  ASSERT_TRUE(lane.Peek(tail, &r));
  EXPECT_EQ(r.payload, "first");
  EXPECT_EQ(r.ticket, nullptr);
  EXPECT_EQ(r.user_flags, 0u);
  lane.Pop();
  ASSERT_TRUE(lane.Peek(tail, &r));
  EXPECT_EQ(r.payload, "second");
  EXPECT_EQ(r.ticket, &ticket);
  EXPECT_EQ(r.user_flags, AuditLane::kFirstUserFlag);
  lane.Pop();
  EXPECT_FALSE(lane.Peek(tail, &r));
  lane.Publish();
  EXPECT_EQ(lane.consumed(), lane.tail());
  EXPECT_EQ(lane.consumed_count(), 2u);
}

TEST(AuditLaneTest, PeekSeesNothingPastTheTailItWasGiven) {
  AuditLane lane(16);
  ASSERT_TRUE(Put(lane, "a"));
  const std::uint64_t tail = lane.tail();
  ASSERT_TRUE(Put(lane, "b"));
  AuditLane::Record r;
  ASSERT_TRUE(lane.Peek(tail, &r));
  lane.Pop();
  EXPECT_FALSE(lane.Peek(tail, &r));  // "b" is past the tail read
  EXPECT_THAT(Drain(lane), testing::ElementsAre("b"));
}

TEST(AuditLaneTest, FullLaneRefusesUntilTheConsumerPublishes) {
  AuditLane lane(4);  // four events at most
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Put(lane, absl::StrCat("e", i)));
  EXPECT_FALSE(Put(lane, "e4"));
  EXPECT_EQ(lane.published(), 4u);

  // Popped but not yet handed back: still full for the producer.
  const std::uint64_t tail = lane.tail();
  AuditLane::Record r;
  ASSERT_TRUE(lane.Peek(tail, &r));
  lane.Pop();
  EXPECT_FALSE(Put(lane, "e4"));
  lane.Publish();
  EXPECT_TRUE(Put(lane, "e4"));
  EXPECT_THAT(Drain(lane), testing::ElementsAre("e1", "e2", "e3", "e4"));
}

TEST(AuditLaneTest, FullLaneByBytesRefuses) {
  AuditLane lane(3);                // 512 bytes of ring, three events
  const std::string big(248, 'x');  // 256 bytes with its header
  ASSERT_TRUE(Put(lane, big));
  ASSERT_TRUE(Put(lane, big));
  EXPECT_FALSE(Put(lane, "y"));  // two events of three, but no bytes left
  EXPECT_THAT(Drain(lane), testing::ElementsAre(big, big));
  EXPECT_TRUE(Put(lane, "y"));
  EXPECT_THAT(Drain(lane), testing::ElementsAre("y"));
}

TEST(AuditLaneTest, RecordsWrapAroundTheRingInOrder) {
  AuditLane lane(2);  // 256 bytes: records of varied size must pad and wrap
  std::vector<std::string> sent;
  std::vector<std::string> got;
  for (int i = 0; i < 200; ++i) {
    const std::string p(static_cast<std::size_t>(1 + (i * 37) % 90),
                        static_cast<char>('a' + i % 26));
    while (!Put(lane, p)) {
      for (std::string& s : Drain(lane)) got.push_back(std::move(s));
    }
    sent.push_back(p);
  }
  for (std::string& s : Drain(lane)) got.push_back(std::move(s));
  EXPECT_EQ(got, sent);
  // Many laps of a 256-byte ring.
  EXPECT_GT(lane.tail(), 20u * 256u);
  EXPECT_EQ(lane.consumed(), lane.tail());
}

TEST(AuditLaneTest, LongPayloadGoesToTheHeapAndComesBackWhole) {
  AuditLane lane(2);  // inline up to 128 bytes
  const std::string big(5000, 'h');
  char* out = reinterpret_cast<char*>(1);
  ASSERT_TRUE(lane.Reserve(big.size(), false, &out));
  EXPECT_EQ(out, nullptr);  // too long for the ring
  char* heap = new char[big.size()];
  std::memcpy(heap, big.data(), big.size());
  lane.Commit(big.size(), heap, nullptr);
  ASSERT_TRUE(Put(lane, "after"));
  EXPECT_THAT(Drain(lane), testing::ElementsAre(big, "after"));
}

TEST(AuditLaneTest, QueuedHeapPayloadsAreFreedWithTheLane) {
  // Under ASan a leak here fails the test.
  auto lane = std::make_unique<AuditLane>(4);
  ASSERT_TRUE(Put(*lane, std::string(3000, 'q')));
  ASSERT_TRUE(Put(*lane, "inline"));
  lane.reset();
}

TEST(AuditLaneTest, FastReserveWritesARecordTheConsumerReads) {
  AuditLane lane(16);
  const std::string payload = "fast-record";
  const std::size_t need =
      AuditLane::kHeaderSize + AuditLane::Round8(payload.size());
  char* r = lane.TryReserveFast(need);
  ASSERT_NE(r, nullptr);
  AuditLane::PutHeader(r, payload.size(), AuditLane::kFirstUserFlag * 2);
  std::memcpy(r + AuditLane::kHeaderSize, payload.data(), payload.size());
  lane.PublishFast(need);
  const std::uint64_t tail = lane.tail();
  AuditLane::Record rec;
  ASSERT_TRUE(lane.Peek(tail, &rec));
  EXPECT_EQ(rec.payload, payload);
  EXPECT_EQ(rec.user_flags, AuditLane::kFirstUserFlag * 2);
}

TEST(AuditLaneTest, FastReserveDeclinesWhenFullOrAtTheRingsEnd) {
  AuditLane lane(2);  // 256 bytes, two events
  const std::size_t need = AuditLane::kHeaderSize + 96;
  for (int i = 0; i < 2; ++i) {
    char* r = lane.TryReserveFast(need);
    ASSERT_NE(r, nullptr);
    AuditLane::PutHeader(r, 96, 0);
    lane.PublishFast(need);
  }
  EXPECT_EQ(lane.TryReserveFast(need), nullptr);  // two events queued
  Drain(lane);
  ASSERT_TRUE(Put(lane, "s"));  // `Reserve` sees the consumer's progress
  Drain(lane);
  // At offset 224 of 256, a record of 104 bytes would cross the ring's end,
  // which only `Reserve` handles (with a pad).
  EXPECT_EQ(lane.TryReserveFast(need), nullptr);
  EXPECT_TRUE(Put(lane, std::string(96, 'w')));
  EXPECT_THAT(Drain(lane), testing::ElementsAre(std::string(96, 'w')));
}

// One producer thread and one consumer thread: every record arrives once,
// whole and in order.
TEST(AuditLaneTest, ConcurrentProducerAndConsumerKeepOrder) {
  AuditLane lane(8);
  constexpr int kEvents = 20000;
  std::thread producer([&] {
    for (int i = 0; i < kEvents; ++i) {
      const std::string p =
          absl::StrCat(i, std::string(static_cast<std::size_t>(i % 50), '.'));
      while (!Put(lane, p)) std::this_thread::yield();
    }
  });
  int next = 0;
  bool ordered = true;
  while (next < kEvents) {
    const std::uint64_t tail = lane.tail();
    AuditLane::Record r;
    while (lane.Peek(tail, &r)) {
      const std::string want = absl::StrCat(
          next, std::string(static_cast<std::size_t>(next % 50), '.'));
      if (r.payload != want) ordered = false;
      lane.Pop();
      ++next;
    }
    lane.Publish();
  }
  producer.join();
  EXPECT_TRUE(ordered);
  EXPECT_EQ(lane.published(), static_cast<std::uint64_t>(kEvents));
}

// --- AuditLaneSet ------------------------------------------------------------

TEST(AuditLaneSetTest, EachThreadGetsOneLanePerSet) {
  AuditLaneSet a(4);
  AuditLaneSet b(4);
  EXPECT_EQ(a.Cached(), nullptr);
  AuditLane* la = a.Register();
  EXPECT_EQ(a.Cached(), la);
  EXPECT_EQ(b.Cached(), nullptr);  // another set's lane is not this one's
  AuditLane* lb = b.Register();
  EXPECT_NE(la, lb);
  EXPECT_EQ(a.Cached(), nullptr);  // the cache holds the last set used
  EXPECT_EQ(a.Register(), la);     // found again, not a new lane
  AuditLane* other = nullptr;
  std::thread([&] { other = a.Register(); }).join();
  EXPECT_NE(other, la);
  a.Refresh();
  EXPECT_EQ(a.writer_lanes().size(), 2u);
  a.CloseAll();
  b.CloseAll();
}

TEST(AuditLaneSetTest, WriterSeesNewLanesAndRecords) {
  AuditLaneSet set(4);
  set.Refresh();
  EXPECT_FALSE(set.AnyReady());
  AuditLane* lane = set.Register();
  EXPECT_TRUE(set.AnyReady());  // a new lane
  set.Refresh();
  EXPECT_FALSE(set.AnyReady());
  ASSERT_TRUE(Put(*lane, "x"));
  EXPECT_TRUE(set.AnyReady());
  Drain(*set.writer_lanes()[0]);
  EXPECT_FALSE(set.AnyReady());
  EXPECT_EQ(set.Published(), 1u);
  set.CloseAll();
}

TEST(AuditLaneSetTest, ExitedThreadsLaneIsDroppedOnceDrainedAndStillCounted) {
  AuditLaneSet set(4);
  std::thread([&] {
    AuditLane* lane = set.Register();
    ASSERT_TRUE(Put(*lane, "one"));
    ASSERT_TRUE(Put(*lane, "two"));
  }).join();
  set.Refresh();
  ASSERT_EQ(set.writer_lanes().size(), 1u);
  EXPECT_TRUE(set.writer_lanes()[0]->orphaned.load());
  set.RetireDrainedOrphans();  // not drained: kept
  set.Refresh();
  ASSERT_EQ(set.writer_lanes().size(), 1u);
  EXPECT_THAT(Drain(*set.writer_lanes()[0]),
              testing::ElementsAre("one", "two"));
  set.RetireDrainedOrphans();
  set.Refresh();
  EXPECT_TRUE(set.writer_lanes().empty());
  EXPECT_EQ(set.Published(), 2u);  // the dropped lane's events still count
}

TEST(AuditLaneSetTest, CloseAllOrphansLanesAndThreadsRegisterAfresh) {
  auto set = std::make_unique<AuditLaneSet>(4);
  AuditLane* lane = set->Register();
  ASSERT_TRUE(Put(*lane, "kept"));
  set->CloseAll();
  EXPECT_EQ(set->Published(), 1u);
  set->Refresh();
  EXPECT_TRUE(set->writer_lanes().empty());
  set.reset();
  // The thread still holds the orphaned lane; registering with another set
  // forgets it.
  AuditLaneSet next(4);
  AuditLane* fresh = next.Register();
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(next.Cached(), fresh);
  next.CloseAll();
}

}  // namespace
}  // namespace consentry::internal
