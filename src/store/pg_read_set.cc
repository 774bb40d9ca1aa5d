// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/store/pg_read_set.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "src/util/status_macros.h"

namespace consentry::internal::pg {
namespace {

// Probes kept per standby at most (a standby behind by more probes than
// this is judged from the newest ones: later, never fresher).
constexpr std::size_t kMaxSamples = 256;

// Replay position, receive position (-1: none) and recovery state, read
// before the data so that the snapshot read after holds the replay
// position.
constexpr char kProbeSql[] =
    "SELECT pg_is_in_recovery(), "
    "COALESCE((pg_last_wal_receive_lsn() - '0/0'::pg_lsn)::bigint, -1), "
    "COALESCE((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint, -1)";

std::string Ms(std::int64_t ns) { return absl::StrCat(ns / 1'000'000, " ms"); }

}  // namespace

ReadSet::ReadSet(const ConnTarget* primary,
                 const std::vector<ConnTarget>& standbys, Config config)
    : config_(std::move(config)) {
  if (primary != nullptr) {
    primary_ = std::make_unique<Node>(*primary, config_.what);
  }
  for (const ConnTarget& t : standbys) {
    standbys_.push_back(std::make_unique<Node>(t, config_.what));
  }
}

ReadSet::~ReadSet() = default;

absl::Status ReadSet::Probe(Node& n, std::int64_t now_ns) {
  ASSIGN_OR_RETURN(Result r, n.session.ExecPrepared(kProbeSql));
  n.probed_ns = now_ns;
  const bool in_recovery = PQgetvalue(r.get(), 0, 0)[0] != 0;
  const std::int64_t received = ReadInt64(r.get(), 0, 1);
  const std::int64_t replayed = ReadInt64(r.get(), 0, 2);
  if (!in_recovery) {
    n.samples.clear();
    if (primary_ != nullptr) {
      // Promoted: it no longer follows the primary this store writes to.
      n.fresh_as_of_ns = 0;
      n.why_stale =
          "was promoted (no longer in recovery) and no longer follows the "
          "primary";
    } else {
      // A read-only store follows the promoted standby as its primary.
      n.fresh_as_of_ns = now_ns;
    }
    return absl::OkStatus();
  }
  if (received < 0) {
    n.samples.clear();
    n.fresh_as_of_ns = 0;
    n.why_stale = "has received no WAL from its primary (not streaming)";
    return absl::OkStatus();
  }
  if (n.samples.empty() || n.samples.back().second != received) {
    n.samples.emplace_back(now_ns, received);
  }
  // Keep the latest probe whose WAL is replayed, and those after it.
  std::size_t latest = n.samples.size();
  for (std::size_t i = 0; i < n.samples.size(); ++i) {
    if (n.samples[i].second <= replayed) latest = i;
  }
  if (latest < n.samples.size()) {
    n.samples.erase(n.samples.begin(),
                    n.samples.begin() + static_cast<std::ptrdiff_t>(latest));
    // The standby had received this WAL by then and has replayed it: it
    // holds every change its primary had sent it by that time. (With a
    // receive position unchanged since, by now.)
    n.fresh_as_of_ns = n.samples.size() == 1 ? now_ns : n.samples[0].first;
  }
  while (n.samples.size() > kMaxSamples) n.samples.pop_front();
  n.why_stale =
      absl::StrCat("lags: it has replayed only the WAL it had received ",
                   Ms(now_ns - n.fresh_as_of_ns), " ago (max_standby_lag ",
                   Ms(absl::ToInt64Nanoseconds(config_.max_lag)), ")");
  if (n.fresh_as_of_ns == 0) {
    n.why_stale = "has not yet been seen to replay what it received";
  }
  return absl::OkStatus();
}

absl::Status ReadSet::Usable(Node& n, std::int64_t now_ns) {
  if (n.down_until_ns > now_ns) {
    return absl::UnavailableError(absl::StrCat(
        "unreachable (tried again in ", Ms(n.down_until_ns - now_ns), ")"));
  }
  const std::int64_t max_lag = absl::ToInt64Nanoseconds(config_.max_lag);
  const bool stale = n.fresh_as_of_ns < now_ns - max_lag;
  if (stale || now_ns - n.probed_ns >= max_lag / 4) {
    if (absl::Status st = Probe(n, now_ns); !st.ok()) {
      n.down_until_ns = now_ns + absl::ToInt64Nanoseconds(config_.retry);
      n.fresh_as_of_ns = 0;
      n.samples.clear();
      return st;
    }
  }
  if (n.fresh_as_of_ns < now_ns - max_lag) {
    return absl::UnavailableError(n.why_stale);
  }
  return absl::OkStatus();
}

absl::StatusOr<ReadSet::Served> ReadSet::Run(Revision min_revision, Body body) {
  const absl::Time deadline = absl::Now() + config_.wait;
  std::vector<std::string> why(standbys_.size());
  for (;;) {
    bool worth_waiting = false;
    for (std::size_t i = 0; i < standbys_.size(); ++i) {
      Node& n = *standbys_[i];
      MutexLock lock(&n.mu);
      const std::int64_t now_ns = absl::GetCurrentTimeNanos();
      if (absl::Status st = Usable(n, now_ns); !st.ok()) {
        why[i] = std::string(st.message());
        worth_waiting = worth_waiting || n.down_until_ns <= now_ns;
        continue;
      }
      absl::StatusOr<Revision> got = body(n.session);
      if (!got.ok()) {
        // A record that does not parse is the subject's problem, not the
        // server's; anything else (lost connection, a statement cancelled
        // by a conflict with recovery, a table not replayed yet) leaves
        // this server for the next.
        if (absl::IsDataLoss(got.status())) return got.status();
        why[i] = std::string(got.status().message());
        if (absl::IsUnavailable(got.status())) {
          n.down_until_ns = now_ns + absl::ToInt64Nanoseconds(config_.retry);
        }
        continue;
      }
      if (*got >= min_revision) {
        return Served{absl::FromUnixNanos(n.fresh_as_of_ns), *got, n.target,
                      false};
      }
      why[i] = absl::StrCat("has replayed revision ", *got,
                            "; the read needs revision ", min_revision);
      worth_waiting = true;
    }
    if (!worth_waiting || absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(1));
  }
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < standbys_.size(); ++i) {
    parts.push_back(
        absl::StrCat("standby '", standbys_[i]->target, "' ", why[i]));
  }
  if (primary_ != nullptr) {
    MutexLock lock(&primary_->mu);
    const absl::Time start = absl::Now();
    absl::StatusOr<Revision> got = body(primary_->session);
    if (got.ok()) return Served{start, *got, primary_->target, true};
    if (!absl::IsUnavailable(got.status()) && !absl::IsInternal(got.status())) {
      return got.status();
    }
    parts.push_back(absl::StrCat("primary: ", got.status().message()));
  } else {
    parts.push_back("no primary is configured");
  }
  return absl::UnavailableError(absl::StrCat(
      config_.what, ": no server can serve a read that needs revision ",
      min_revision, " (waited ", absl::FormatDuration(config_.wait),
      " for replay): ", absl::StrJoin(parts, "; ")));
}

}  // namespace consentry::internal::pg
