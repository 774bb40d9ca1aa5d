// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/audit/audit_lane_set.h"

#include <utility>

namespace consentry::internal {

thread_local constinit LaneCache tls_lane_cache
    __attribute__((tls_model("initial-exec")));

namespace {

std::atomic<std::uint64_t> next_set_id{1};

// Every lane this thread holds. On thread exit the lanes are marked
// orphaned; each log's writer drains and then drops them.
struct ThreadLanes {
  ~ThreadLanes() {
    for (auto& [id, lane] : lanes) {
      lane->orphaned.store(true, std::memory_order_release);
    }
    tls_lane_cache = LaneCache{};
  }
  std::vector<std::pair<std::uint64_t, std::shared_ptr<AuditLane>>> lanes;
};
thread_local ThreadLanes tls_lanes;

}  // namespace

AuditLaneSet::AuditLaneSet(std::size_t queue_capacity)
    : id_(next_set_id.fetch_add(1, std::memory_order_relaxed)),
      queue_capacity_(queue_capacity) {}

AuditLane* AuditLaneSet::Register() {
  auto& mine = tls_lanes.lanes;
  // Forget the lanes of logs that are closed.
  std::erase_if(mine, [](const auto& entry) {
    return entry.second->orphaned.load(std::memory_order_acquire);
  });
  for (const auto& [set_id, lane] : mine) {
    if (set_id == id_) {
      tls_lane_cache = LaneCache{id_, lane.get()};
      return lane.get();
    }
  }
  auto lane = std::make_shared<AuditLane>(queue_capacity_);
  {
    MutexLock lock(&mu_);
    lanes_.push_back(lane);
    version_.fetch_add(1, std::memory_order_release);
  }
  mine.emplace_back(id_, lane);
  tls_lane_cache = LaneCache{id_, lane.get()};
  return lane.get();
}

void AuditLaneSet::Refresh() {
  const std::uint64_t v = version_.load(std::memory_order_acquire);
  if (v == writer_version_) return;
  MutexLock lock(&mu_);
  writer_lanes_ = lanes_;
  writer_version_ = version_.load(std::memory_order_relaxed);
}

bool AuditLaneSet::AnyReady() const {
  if (version_.load(std::memory_order_acquire) != writer_version_) {
    return true;  // a new lane: look at it
  }
  for (const auto& lane : writer_lanes_) {
    if (lane->tail() != lane->consumed()) return true;
  }
  return false;
}

void AuditLaneSet::RetireDrainedOrphans() {
  bool any = false;
  for (const auto& lane : writer_lanes_) {
    // `orphaned` first: once it is seen, the tail read after it is final.
    if (lane->orphaned.load(std::memory_order_acquire) &&
        lane->consumed() == lane->tail()) {
      any = true;
    }
  }
  if (!any) return;
  MutexLock lock(&mu_);
  std::erase_if(lanes_,
                [&](const std::shared_ptr<AuditLane>& lane)
                    ABSL_NO_THREAD_SAFETY_ANALYSIS {
                      if (!lane->orphaned.load(std::memory_order_acquire) ||
                          lane->consumed() != lane->tail()) {
                        return false;
                      }
                      retired_published_ += lane->published();
                      return true;
                    });
  version_.fetch_add(1, std::memory_order_release);
}

std::uint64_t AuditLaneSet::Published() {
  MutexLock lock(&mu_);
  std::uint64_t n = retired_published_;
  for (const auto& lane : lanes_) n += lane->published();
  return n;
}

void AuditLaneSet::CloseAll() {
  MutexLock lock(&mu_);
  for (const auto& lane : lanes_) {
    retired_published_ += lane->published();
    lane->orphaned.store(true, std::memory_order_release);
  }
  lanes_.clear();
  version_.fetch_add(1, std::memory_order_release);
}

}  // namespace consentry::internal
