// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Reads from PostgreSQL hot standbys (docs/design/standby.md): the servers
// a store reads from, which of them is fresh, and the choice of the server
// for one read. A read names the store revision it needs; it runs on the
// first fresh standby whose snapshot holds that revision (waiting a bounded
// time for replay), else on the primary, else fails with `kUnavailable`
// naming every server and why it was left.
//
// Freshness is judged from the standby's own view of its primary: each
// probe records (time, WAL received so far); a standby is fresh while some
// probe taken within `max_lag` saw it receive WAL it has replayed since.

#ifndef CONSENTRY_SRC_STORE_PG_READ_SET_H_
#define CONSENTRY_SRC_STORE_PG_READ_SET_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "consentry/consent.h"
#include "src/store/pg_session.h"
#include "src/util/mutex.h"

namespace consentry::internal::pg {

// Thread-safe: each server's connection is used by one read at a time.
class ReadSet {
 public:
  struct Config {
    std::string what;  // names the store in messages
    absl::Duration max_lag = absl::Seconds(1);
    absl::Duration wait = absl::Milliseconds(200);
    absl::Duration retry = absl::Seconds(1);
  };

  // Runs one read on `session` and returns the highest store revision its
  // snapshot holds. May run several times (on several servers) per read.
  using Body = absl::FunctionRef<absl::StatusOr<Revision>(Session& session)>;

  // Where a read ran.
  struct Served {
    // Every change committed on the primary before this time is in the
    // snapshot read (as far as the server knew: see the header comment).
    absl::Time fresh_as_of;
    // The highest revision in the snapshot.
    Revision revision = 0;
    // The server ("host=... port=... dbname=...") and whether it is the
    // primary.
    std::string target;
    bool primary = false;
  };

  // `primary` may be null (a read-only store). With a primary, a standby
  // found promoted is left; without one, it is read as the new primary.
  ReadSet(const ConnTarget* primary, const std::vector<ConnTarget>& standbys,
          Config config);
  ReadSet(const ReadSet&) = delete;
  ReadSet& operator=(const ReadSet&) = delete;
  ~ReadSet();

  // Runs `body` on the first fresh standby whose snapshot reaches
  // `min_revision`, waiting up to `wait` for one to, then on the primary.
  // Errors: `kDataLoss` from `body` (a row that does not parse), as it is,
  // and from the primary every error of `body` but `kUnavailable` and
  // `kInternal`; `kUnavailable` naming every server and why it was left
  // when none could serve the read.
  absl::StatusOr<Served> Run(Revision min_revision, Body body);

 private:
  struct Node {
    Node(const ConnTarget& t, const std::string& what)
        : target(t.target), session(t.conninfo, t.target, what) {}
    const std::string target;
    Mutex mu;
    Session session ABSL_GUARDED_BY(mu);
    // Probes: (time, WAL received by then), oldest first; the first is
    // the latest one whose WAL the standby is known to have replayed.
    std::deque<std::pair<std::int64_t, std::int64_t>> samples
        ABSL_GUARDED_BY(mu);
    std::int64_t fresh_as_of_ns ABSL_GUARDED_BY(mu) = 0;
    std::int64_t probed_ns ABSL_GUARDED_BY(mu) = 0;
    std::int64_t down_until_ns ABSL_GUARDED_BY(mu) = 0;
    std::string why_stale ABSL_GUARDED_BY(mu);
  };
  // OK when `n` is fresh at `now_ns` (probing it when its knowledge is
  // old); else why not.
  absl::Status Usable(Node& n, std::int64_t now_ns)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(n.mu);
  absl::Status Probe(Node& n, std::int64_t now_ns)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(n.mu);

  Config config_;
  std::unique_ptr<Node> primary_;
  std::vector<std::unique_ptr<Node>> standbys_;
};

}  // namespace consentry::internal::pg

#endif  // CONSENTRY_SRC_STORE_PG_READ_SET_H_
