// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The lanes of one audit log: one `AuditLane` per thread that records into
// it, registered on the thread's first record, found again through a
// thread-local cache (the fast path), marked orphaned when the thread exits
// and dropped by the writer once drained. The writer works on a snapshot of
// the set that it refreshes when the set's version changes.
// Internal; never installed.
//
// Thread-safety: `Cached` and `Register` are called by producer threads;
// `Refresh`, `writer_lanes`, `AnyReady` and `RetireDrainedOrphans` by the
// log's one writer thread; `Published` and `CloseAll` by any thread.

#ifndef CONSENTRY_SRC_AUDIT_AUDIT_LANE_SET_H_
#define CONSENTRY_SRC_AUDIT_AUDIT_LANE_SET_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "src/audit/audit_lane.h"
#include "src/util/mutex.h"

namespace consentry::internal {

// The lane of the log this thread recorded into last. Trivially
// destructible and constant-initialized, so reading it costs no guard check
// and no call; initial-exec: read at a fixed offset from the thread
// pointer, without a call to `__tls_get_addr` when the library is built
// shared.
struct LaneCache {
  std::uint64_t log_id = 0;
  AuditLane* lane = nullptr;
};
extern thread_local constinit LaneCache tls_lane_cache
    __attribute__((tls_model("initial-exec")));

class AuditLaneSet {
 public:
  // Lanes hold `queue_capacity` events each.
  explicit AuditLaneSet(std::size_t queue_capacity);
  AuditLaneSet(const AuditLaneSet&) = delete;
  AuditLaneSet& operator=(const AuditLaneSet&) = delete;

  // This thread's lane in this set when it is the one cached; else null
  // (then `Register`).
  AuditLane* Cached() const {
    return tls_lane_cache.log_id == id_ ? tls_lane_cache.lane : nullptr;
  }
  // This thread's lane, created and registered on first use; caches it.
  AuditLane* Register();

  // --- writer ----------------------------------------------------------------

  // Takes a new snapshot of the lanes when the set changed.
  void Refresh();
  // The snapshot, in registration order.
  const std::vector<std::shared_ptr<AuditLane>>& writer_lanes() const {
    return writer_lanes_;
  }
  // Whether a lane of the snapshot holds a record, or the set changed.
  bool AnyReady() const;
  // Drops lanes whose thread has exited and whose records are all taken.
  // Takes effect in the snapshot at the next `Refresh`.
  void RetireDrainedOrphans();

  // --- any thread ------------------------------------------------------------

  // Events published into the lanes so far, those dropped included.
  std::uint64_t Published();
  // Orphans and drops every lane (the log is closed): threads forget them
  // when they next register one; a lane still held by a thread keeps its
  // memory until then.
  void CloseAll();

 private:
  // Each set has an id that no other set in the process has had, so that a
  // thread's cached lane is never mistaken for another log's.
  const std::uint64_t id_;
  const std::size_t queue_capacity_;

  Mutex mu_;
  std::vector<std::shared_ptr<AuditLane>> lanes_ ABSL_GUARDED_BY(mu_);
  std::atomic<std::uint64_t> version_{0};
  // Events published into lanes that have since been dropped.
  std::uint64_t retired_published_ ABSL_GUARDED_BY(mu_) = 0;

  // The writer's.
  std::vector<std::shared_ptr<AuditLane>> writer_lanes_;
  std::uint64_t writer_version_ = ~std::uint64_t{0};
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_AUDIT_AUDIT_LANE_SET_H_
