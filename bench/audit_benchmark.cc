// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The audit log's two targets, each with its baseline in this binary:
//
// 1. Events per second sustained to disk with a sync per batch:
//    BM_AuditLog_SustainedVsRaw (target >= 1,500,000 events/s and within
//    1.5x of raw write() + fdatasync of the same framed bytes in batches of
//    the same size, both interleaved in each iteration; counters log_Mps,
//    raw_Mps, raw_over_log). BM_AuditLog_SustainedEveryBatchSync and
//    BM_Baseline_RawBufferedWrite time the two as separate benchmarks.
// 2. The cost added on the caller's thread by auditing a guarded read:
//    BM_Guard_AuditAdded, counter `added_ns` (target < 50 ns). One Guard is
//    timed with auditing off and on in alternating stretches of the same
//    checks, each from the same warm state, so the difference holds when
//    the machine's speed drifts (see the comment there). The argument is
//    the per-thread queue capacity (1 << 14 is the default).
//    BM_Guard_CheckAuditOff and BM_Guard_CheckAuditOn time the same checks
//    as separate benchmarks; their difference also carries the drift
//    between the two runs and the cache refill after each of the queue
//    drains that the "on" run pauses for (every capacity/2 reads).
//    BM_Guard_CheckAuditOnConcurrentWriter lets the writer run during the
//    timed region, for comparison with a writer sharing the two cores.
//    BM_Guard_CheckNullSink (the Guard's generic AuditEvent path into a
//    sink that keeps nothing) and BM_AuditLog_Record attribute the parts.
//
// Files go to $TMPDIR (default /tmp). Reproduce:
//   build/bench/audit_benchmark --benchmark_min_time=1
//   build/bench/audit_benchmark --benchmark_filter=AuditAdded
//       --benchmark_min_time=1 --benchmark_repetitions=5   (one line)

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "benchmark/benchmark.h"
#include "consentry/audit_log.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/proto_io.h"
#include "src/audit/audit_format.h"
#include "src/testing/audit_log_test_peer.h"
#include "src/testing/guard_test_peer.h"

namespace consentry {
namespace {

constexpr int kBatch = 1 << 16;  // most events per writer batch
constexpr int kQueue = 1 << 17;  // ring capacity
constexpr int kPerIteration = 1 << 20;

// Subjects and accessors of realistic length; ~110-byte events.
struct Events {
  Events() {
    for (int i = 0; i < 4096; ++i)
      subjects.push_back("m" + std::to_string(10'000'000 + i));
  }
  AuditEvent Get(std::size_t i) const {
    AuditEvent e;
    e.time_unix_nanos =
        1'790'000'000'000'000'000 + static_cast<std::int64_t>(i);
    e.accessor = "statistics-job";
    e.subject = subjects[i & 4095];
    e.category = "measurement";
    e.purpose = "statistics.measurement";
    e.policy_version = "2026-11-01";
    e.reason = Reason::kAllowedConsent;
    e.revision = static_cast<Revision>(i & 1023);
    return e;
  }
  std::vector<std::string> subjects;
};

void BM_AuditLog_SustainedEveryBatchSync(benchmark::State& state) {
  const std::string dir = TempDir("consentry_audit_bench");
  AuditLogOptions o;
  o.directory = dir;
  o.sync = AuditSyncPolicy::kEveryBatch;
  o.queue_capacity = kQueue;
  o.max_batch_events = kBatch;
  auto log = AuditLog::Open(o);
  if (!log.ok()) {
    state.SkipWithError(log.status().ToString().c_str());
    return;
  }
  const Events events;
  std::size_t i = 0;
  for (auto _ : state) {
    for (int k = 0; k < kPerIteration; ++k) {
      if (!(*log)->Record(events.Get(i++)).ok()) std::abort();
    }
    if (!(*log)->Flush().ok()) std::abort();  // all of them synced
  }
  state.SetItemsProcessed(state.iterations() * kPerIteration);
  const AuditLogCounters c = (*log)->counters();
  state.counters["blocked_calls"] = static_cast<double>(c.blocked);
  state.counters["segments"] = static_cast<double>(c.segments_sealed);
  if (!(*log)->Close().ok()) std::abort();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AuditLog_SustainedEveryBatchSync)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The bytes of the segments of a log of kPerIteration events written to
// `log_dir`: what the raw baselines write.
std::string LogBytes(const std::string& log_dir) {
  std::string frames;
  AuditLogOptions o;
  o.directory = log_dir;
  auto log = AuditLog::Open(o);
  if (!log.ok()) std::abort();
  const Events events;
  for (int k = 0; k < kPerIteration; ++k) {
    if (!(*log)->Record(events.Get(static_cast<std::size_t>(k))).ok())
      std::abort();
  }
  if (!(*log)->Close().ok()) std::abort();
  for (const auto& e : std::filesystem::directory_iterator(o.directory)) {
    if (e.path().extension() != ".seg") continue;
    std::FILE* f = std::fopen(e.path().c_str(), "rb");
    char buf[1 << 16];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) frames.append(buf, n);
    std::fclose(f);
  }
  return frames;
}

// The same frames (taken from a log written beforehand), written with
// write() in batches of kBatch events, each followed by fdatasync.
void BM_Baseline_RawBufferedWrite(benchmark::State& state) {
  const std::string dir = TempDir("consentry_audit_raw");
  const std::string frames = LogBytes(dir + "/src");
  const std::size_t batch_bytes = frames.size() / (kPerIteration / kBatch);
  const std::string path = dir + "/raw.seg";
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (fd < 0) std::abort();
  for (auto _ : state) {
    for (std::size_t at = 0; at < frames.size(); at += batch_bytes) {
      const std::size_t n = std::min(batch_bytes, frames.size() - at);
      if (write(fd, frames.data() + at, n) != static_cast<ssize_t>(n))
        std::abort();
      if (fdatasync(fd) != 0) std::abort();
    }
  }
  close(fd);
  state.SetItemsProcessed(state.iterations() * kPerIteration);
  state.SetBytesProcessed(state.iterations() *
                          static_cast<std::int64_t>(frames.size()));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Baseline_RawBufferedWrite)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The CPU time so far, in nanoseconds, of this process's threads named
// `name` (Linux: /proc/self/task/*/schedstat; 0 elsewhere).
std::uint64_t ThreadCpuNs(const std::string& name) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& t :
       std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(t.path() / "comm");
    std::string c;
    if (!std::getline(comm, c) || c != name) continue;
    std::ifstream stat(t.path() / "schedstat");
    std::uint64_t ns = 0;
    if (stat >> ns) total += ns;
  }
  return total;
}

// The throughput target as a ratio, the baseline interleaved: each
// iteration writes kPerIteration events through the log (Record, then
// Flush: every event synced) and the same framed bytes with write() +
// fdatasync in batches of kBatch events, the order alternating, so both
// see the same state of a shared, noisy host. Counters: `log_Mps` and
// `raw_Mps` (million events/s over the run) and `raw_over_log`, the time
// ratio (the target: <= 1.5, with log_Mps >= 1.5). `writer_ns` and
// `syncer_ns` are the CPU time of the log's writer and syncer threads per
// event (the writer's is what a loaded host must find room for).
void BM_AuditLog_SustainedVsRaw(benchmark::State& state) {
  const std::string dir = TempDir("consentry_audit_vs_raw");
  const std::string frames = LogBytes(dir + "/src");
  const std::size_t batch_bytes = frames.size() / (kPerIteration / kBatch);
  const std::string raw_path = dir + "/raw.seg";
  const int fd =
      open(raw_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (fd < 0) std::abort();
  AuditLogOptions o;
  o.directory = dir + "/log";
  o.sync = AuditSyncPolicy::kEveryBatch;
  o.queue_capacity = kQueue;
  o.max_batch_events = kBatch;
  auto log = AuditLog::Open(o);
  if (!log.ok()) std::abort();
  const Events events;
  std::size_t i = 0;
  std::uint64_t round = 0;
  using Clock = std::chrono::steady_clock;
  Clock::duration raw_time{0}, log_time{0};
  auto raw = [&] {
    const auto t0 = Clock::now();
    for (std::size_t at = 0; at < frames.size(); at += batch_bytes) {
      const std::size_t n = std::min(batch_bytes, frames.size() - at);
      if (write(fd, frames.data() + at, n) != static_cast<ssize_t>(n))
        std::abort();
      if (fdatasync(fd) != 0) std::abort();
    }
    raw_time += Clock::now() - t0;
  };
  std::uint64_t writer_ns = 0, syncer_ns = 0;
  auto logged = [&] {
    const std::uint64_t w0 = ThreadCpuNs("audit-writer");
    const std::uint64_t s0 = ThreadCpuNs("audit-sync");
    const auto t0 = Clock::now();
    for (int k = 0; k < kPerIteration; ++k) {
      if (!(*log)->Record(events.Get(i++)).ok()) std::abort();
    }
    if (!(*log)->Flush().ok()) std::abort();
    log_time += Clock::now() - t0;
    writer_ns += ThreadCpuNs("audit-writer") - w0;
    syncer_ns += ThreadCpuNs("audit-sync") - s0;
  };
  for (auto _ : state) {
    if (++round & 1) {
      logged();
      raw();
    } else {
      raw();
      logged();
    }
  }
  close(fd);
  const double events_run =
      static_cast<double>(state.iterations()) * kPerIteration;
  const double raw_s = std::chrono::duration<double>(raw_time).count();
  const double log_s = std::chrono::duration<double>(log_time).count();
  state.counters["log_Mps"] = events_run / log_s / 1e6;
  state.counters["raw_Mps"] = events_run / raw_s / 1e6;
  state.counters["raw_over_log"] = log_s / raw_s;
  state.counters["writer_ns"] = static_cast<double>(writer_ns) / events_run;
  state.counters["syncer_ns"] = static_cast<double>(syncer_ns) / events_run;
  state.counters["segments"] =
      static_cast<double>((*log)->counters().segments_sealed);
  if (!(*log)->Close().ok()) std::abort();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AuditLog_SustainedVsRaw)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The index's share of sealing a 64 MiB segment (450,000 events, 900,000
// entries), both ways in each iteration, alternating which goes first: as
// the writer did before (each event's two entries appended, all of them
// sorted with std::sort at the seal) and as it does now
// (`SegmentIndex::Add` keeps runs by the key's top byte, the seal sorts
// each run). Both encodings must be identical. Argument: 0 for 4,096
// subjects and one accessor (as the throughput benchmarks write), 1 for a
// distinct subject per event. Counters: `before_ms` and `now_ms`, the time
// per segment of adding every entry and encoding the index, and
// `before_seal_ms` and `now_seal_ms`, the part of it spent at the seal
// (sorting and encoding).
void BM_AuditIndex_BuildAndEncode(benchmark::State& state) {
  constexpr std::uint64_t kEvents = 450'000;
  std::vector<std::string> subjects;
  for (std::uint64_t i = 0; i < (state.range(0) == 0 ? 4096 : kEvents); ++i) {
    subjects.push_back("m" + std::to_string(10'000'000 + i));
  }
  const std::string accessor = "statistics-job";
  auto keys = [&](std::uint64_t i) {
    internal::EventKeys k;
    k.time_unix_nanos =
        1'790'000'000'000'000'000 + static_cast<std::int64_t>(i);
    k.accessor = accessor;
    k.subject = subjects[i % subjects.size()];
    return k;
  };
  std::chrono::steady_clock::duration before_seal{0}, now_seal{0};
  auto before = [&]() {
    internal::SegmentIndex index;
    for (std::uint64_t i = 0; i < kEvents; ++i) {
      const internal::EventKeys k = keys(i);
      const std::uint64_t at = internal::kSegmentHeaderSize + i * 150;
      index.entries.emplace_back(
          internal::IndexKeyHash(internal::kKeySubject, k.subject), at);
      index.entries.emplace_back(
          internal::IndexKeyHash(internal::kKeyAccessor, k.accessor), at);
    }
    index.records = kEvents;
    const auto t0 = std::chrono::steady_clock::now();
    std::string bytes = index.Encode();  // std::sort: nothing was `Add`ed
    before_seal += std::chrono::steady_clock::now() - t0;
    return bytes;
  };
  auto now = [&]() {
    internal::SegmentIndex index;
    for (std::uint64_t i = 0; i < kEvents; ++i) {
      index.Add(0, internal::kSegmentHeaderSize + i * 150, keys(i));
    }
    index.min_time = index.max_time = 0;
    const auto t0 = std::chrono::steady_clock::now();
    std::string bytes = index.Encode();
    now_seal += std::chrono::steady_clock::now() - t0;
    return bytes;
  };
  using Clock = std::chrono::steady_clock;
  Clock::duration before_time{0}, now_time{0};
  std::uint64_t round = 0;
  for (auto _ : state) {
    std::string a, b;
    for (int k = 0; k < 2; ++k) {
      const bool first_before = (round & 1) == 0;
      const auto t0 = Clock::now();
      if ((k == 0) == first_before) {
        a = before();
        before_time += Clock::now() - t0;
      } else {
        b = now();
        now_time += Clock::now() - t0;
      }
    }
    ++round;
    if (a != b) std::abort();  // the same index either way
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["before_ms"] =
      std::chrono::duration<double, std::milli>(before_time).count() / n;
  state.counters["now_ms"] =
      std::chrono::duration<double, std::milli>(now_time).count() / n;
  state.counters["before_seal_ms"] =
      std::chrono::duration<double, std::milli>(before_seal).count() / n;
  state.counters["now_seal_ms"] =
      std::chrono::duration<double, std::milli>(now_seal).count() / n;
}
BENCHMARK(BM_AuditIndex_BuildAndEncode)
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// --- the caller's cost
// ---------------------------------------------------------

constexpr int kSubjects = 4096;

struct World {
  World() {
    auto p = LoadAndCompilePolicy(std::string(CONSENTRY_SOURCE_DIR) +
                                  "/policies/default.textproto");
    if (!p.ok()) std::abort();
    policy = *p;
    for (int i = 0; i < kSubjects; ++i) {
      ids.push_back("m" + std::to_string(10'000'000 + i));
      v1::ConsentChange c;
      c.set_subject_id(ids.back());
      c.mutable_purpose_consent()->set_purpose("statistics.measurement");
      c.mutable_purpose_consent()->set_state(v1::CONSENT_STATE_GIVEN);
      if (!store.Apply(c).ok()) std::abort();
    }
    std::mt19937_64 rng(42);
    order.resize(1 << 16);
    for (auto& o : order) o = static_cast<std::uint32_t>(rng() % kSubjects);
  }
  std::unique_ptr<Guard> MakeGuard(AuditSink* audit) {
    GuardOptions options;
    options.unaudited_for_benchmarks_only = audit == nullptr;
    auto g = Guard::Create(policy, &store, audit, options);
    if (!g.ok() || !(*g)->WarmCache().ok()) std::abort();
    return *std::move(g);
  }
  std::shared_ptr<const CompiledPolicy> policy;
  InMemoryConsentStore store;
  std::vector<std::string> ids;
  std::vector<std::uint32_t> order;
};

World& GetWorld() {
  static World* w = new World();
  return *w;
}

// Drains `log` with the timer paused: waits until everything enqueued is
// written and synced, as `Flush` does. With `quiet_writer`, the writer is
// held still again before the timer resumes, so the timed region holds the
// caller's work alone; otherwise it keeps polling alongside the caller.
//
// The caller waits by spinning rather than by sleeping in `Flush`. A real
// caller never waits for the writer; it keeps its core and its data in
// that core's caches while the writer drains elsewhere. A caller asleep in
// `Flush` leaves its core idle for the milliseconds of the drain and sync:
// the scheduler then runs the log's threads and the kernel's I/O work
// there (and a virtual machine's host whatever it likes), which evicts the
// Guard's working set, and every timed stretch began with refetching it
// (visible as a per-iteration cost falling over the thousands of reads
// after each drain, and as a cost that grew with the drain frequency, i.e.
// for smaller queues). That was the benchmark's cost, not the caller's.
void DrainUntimed(benchmark::State& state, AuditLog& log, bool quiet_writer) {
  state.PauseTiming();
  internal::AuditLogTestPeer::PauseWriter(log, false);
  const std::uint64_t enqueued = log.counters().enqueued;
  while (log.counters().durable < enqueued) {
    for (int k = 0; k < 64; ++k) __builtin_ia32_pause();
  }
  internal::AuditLogTestPeer::PauseWriter(log, quiet_writer);
  state.ResumeTiming();
}

void RunChecks(benchmark::State& state, Guard& guard, AuditLog* log,
               bool quiet_writer = true) {
  World& w = GetWorld();
  const AccessContext ctx =
      *guard.Context("statistics-job", "statistics.measurement");
  const CategoryRef category = *guard.Category("measurement");
  const std::size_t flush_every =
      log != nullptr ? static_cast<std::size_t>(state.range(0)) / 2 : 1;
  std::size_t i = 0;
  std::int64_t allowed = 0;
  if (log != nullptr) {
    internal::AuditLogTestPeer::PauseWriter(*log, quiet_writer);
  }
  for (auto _ : state) {
    const std::string& id = w.ids[w.order[i & (w.order.size() - 1)]];
    absl::StatusOr<Decision> d = guard.Check(ctx, id, category);
    allowed += d.ok() && d->allowed();
    benchmark::DoNotOptimize(d);
    ++i;
    if (log != nullptr && (i & (flush_every - 1)) == 0) {
      DrainUntimed(state, *log, quiet_writer);
    }
  }
  if (log != nullptr) internal::AuditLogTestPeer::PauseWriter(*log, false);
  state.counters["allowed_share"] =
      static_cast<double>(allowed) / static_cast<double>(state.iterations());
  if (log != nullptr) {
    state.counters["blocked_calls"] =
        static_cast<double>(log->counters().blocked);
  }
}

void BM_Guard_CheckAuditOff(benchmark::State& state) {
  auto guard = GetWorld().MakeGuard(nullptr);
  RunChecks(state, *guard, nullptr);
}
BENCHMARK(BM_Guard_CheckAuditOff);

void CheckAudited(benchmark::State& state, bool quiet_writer) {
  const std::string dir = TempDir("consentry_audit_guard");
  AuditLogOptions o;
  o.directory = dir;
  o.queue_capacity = static_cast<std::size_t>(state.range(0));
  auto log = AuditLog::Open(o);
  if (!log.ok()) std::abort();
  {
    auto guard = GetWorld().MakeGuard(log->get());
    RunChecks(state, *guard, log->get(), quiet_writer);
  }
  if (!(*log)->Close().ok()) std::abort();
  std::filesystem::remove_all(dir);
}

// The caller's own work with auditing on, as a benchmark of its own.
void BM_Guard_CheckAuditOn(benchmark::State& state) {
  CheckAudited(state, /*quiet_writer=*/true);
}
BENCHMARK(BM_Guard_CheckAuditOn)->Arg(1 << 14);

// The same with the writer draining on the other core during the timed
// region: on a machine with spare cores this adds little; on a small one it
// shows what sharing the cores with the writer costs the caller.
void BM_Guard_CheckAuditOnConcurrentWriter(benchmark::State& state) {
  CheckAudited(state, /*quiet_writer=*/false);
}
BENCHMARK(BM_Guard_CheckAuditOnConcurrentWriter)->Arg(1 << 14);

// The target's measure, robust to the machine's speed drifting: one Guard
// whose auditing is switched off and on, timed in alternating stretches of
// the same `kStretch` checks. Each stretch begins from the same state: the
// queue drained and the writer held still, then one untimed pass over the
// stretch's subjects with auditing off, so that both find the Guard's data
// warm and neither pays for what the other, or the drain, left in the
// caches. The audited stretch pays for all of its own work: the clock, the
// encoding, and the ring lines it writes, which come from the writer's
// core a lap after it read them and displace the Guard's data as they go.
// Odd rounds time the audited stretch first. Counters: `off_ns` and `on_ns`
// per check, and `added_ns`, their difference (the target: < 50 ns).
void BM_Guard_AuditAdded(benchmark::State& state) {
  constexpr std::size_t kStretch = 2048;
  World& w = GetWorld();
  const std::string dir = TempDir("consentry_audit_added");
  AuditLogOptions o;
  o.directory = dir;
  o.queue_capacity = static_cast<std::size_t>(state.range(0));
  auto log = AuditLog::Open(o);
  if (!log.ok()) std::abort();
  {
    auto guard = w.MakeGuard(log->get());
    const AccessContext ctx =
        *guard->Context("statistics-job", "statistics.measurement");
    const CategoryRef category = *guard->Category("measurement");
    std::int64_t allowed = 0;
    auto checks = [&](std::size_t from) {
      for (std::size_t k = from; k < from + kStretch; ++k) {
        const std::string& id = w.ids[w.order[k & (w.order.size() - 1)]];
        absl::StatusOr<Decision> d = guard->Check(ctx, id, category);
        allowed += d.ok() && d->allowed();
        benchmark::DoNotOptimize(d);
      }
    };
    // Times one stretch from `from`, audited or not, from the common start.
    auto stretch = [&](std::size_t from, bool audited) {
      internal::GuardTestPeer::SuspendAudit(*guard, true);
      checks(from);  // warm
      internal::GuardTestPeer::SuspendAudit(*guard, !audited);
      const auto t0 = std::chrono::steady_clock::now();
      checks(from);
      const auto t1 = std::chrono::steady_clock::now();
      internal::GuardTestPeer::SuspendAudit(*guard, false);
      return t1 - t0;
    };
    std::chrono::nanoseconds off{0}, on{0};
    std::size_t from = 0;
    std::uint64_t round = 0;
    internal::AuditLogTestPeer::PauseWriter(**log, true);
    for (auto _ : state) {
      DrainUntimed(state, **log, /*quiet_writer=*/true);
      if (++round & 1) {
        on += stretch(from, true);
        off += stretch(from, false);
      } else {
        off += stretch(from, false);
        on += stretch(from, true);
      }
      from += kStretch;
    }
    internal::AuditLogTestPeer::PauseWriter(**log, false);
    const double n =
        static_cast<double>(state.iterations()) * static_cast<double>(kStretch);
    state.counters["off_ns"] = static_cast<double>(off.count()) / n;
    state.counters["on_ns"] = static_cast<double>(on.count()) / n;
    state.counters["added_ns"] = static_cast<double>((on - off).count()) / n;
    state.counters["allowed_share"] = static_cast<double>(allowed) / (4 * n);
  }
  if (!(*log)->Close().ok()) std::abort();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Guard_AuditAdded)->Arg(1 << 14)->Arg(1 << 16);

// For attribution: `AuditLog::Record` alone on the caller's thread.
void BM_AuditLog_Record(benchmark::State& state) {
  const std::string dir = TempDir("consentry_audit_record");
  AuditLogOptions o;
  o.directory = dir;
  o.queue_capacity = static_cast<std::size_t>(state.range(0));
  auto log = AuditLog::Open(o);
  if (!log.ok()) std::abort();
  const Events events;
  const std::size_t flush_every = o.queue_capacity / 2;
  std::size_t i = 0;
  internal::AuditLogTestPeer::PauseWriter(**log, true);
  for (auto _ : state) {
    if (!(*log)->Record(events.Get(i)).ok()) std::abort();
    if ((++i & (flush_every - 1)) == 0) DrainUntimed(state, **log, true);
  }
  internal::AuditLogTestPeer::PauseWriter(**log, false);
  if (!(*log)->Close().ok()) std::abort();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AuditLog_Record)->Arg(1 << 14)->Arg(1 << 16);

// For attribution: the Guard's own audit path (building the event, reading
// the clock, the virtual call) with a sink that keeps nothing.
class NullSink final : public AuditSink {
 public:
  absl::Status Record(const AuditEvent&) override { return absl::OkStatus(); }
};
void BM_Guard_CheckNullSink(benchmark::State& state) {
  NullSink sink;
  auto guard = GetWorld().MakeGuard(&sink);
  RunChecks(state, *guard, nullptr);
}
BENCHMARK(BM_Guard_CheckNullSink);

}  // namespace
}  // namespace consentry

BENCHMARK_MAIN();
