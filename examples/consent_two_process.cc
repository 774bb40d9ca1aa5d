// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Two processes sharing consent through one store. The billing process
// keeps a Guard whose cache the store's change feed keeps fresh; a second
// process, the app backend, records a subscriber's request to stop using
// their data for billing (a use-suspension request, APPI Art. 35). Billing
// checks before charge calculation, demanding at least the revision the
// backend's write returned, and no longer charges that subscriber.
//
//   consent_two_process                          # SQLite file (the default)
//   consent_two_process --sqlite=/path/consent.db
//   consent_two_process --postgres="host=/run/postgresql dbname=app"
//   consent_two_process --postgres="host=db1 dbname=app"
//                       --pg-standby="host=db2 dbname=app"   (one line)
//   ... --cache-budget-mb=64     billing's Guard keeps at most 64 MiB
//
// With --pg-standby, billing reads a hot standby of the primary (its cache
// misses, its full load and its change feed; the demanded revision makes
// it wait for replay or read the primary) while the backend writes to the
// primary. Without it (the default, and what CI runs without a standby)
// every call goes to the one server. The billing side's configuration:
//
//   consentry::PostgresServers servers;
//   servers.primary = "host=db1 dbname=app";      // writes; the fallback
//   servers.standbys = {"host=db2 dbname=app"};   // reads, when fresh
//   consentry::PostgresStoreOptions o;
//   o.max_standby_lag = absl::Seconds(1);         // fresh: within 1 s
//   o.standby_wait = absl::Milliseconds(200);     // wait for replay, then
//                                                 // read the primary
//   consentry::GuardOptions g;
//   g.cache_budget_bytes = 64 << 20;              // --cache-budget-mb=64
//
// docs/design/standby.md explains freshness; docs/design/scale.md sizes
// the budget, connections and standbys of a fleet.
//
// The program starts the backend as a child process (itself, with
// --role=backend) and reads the revision it returns on a pipe.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/postgres_store.h"
#include "consentry/proto_io.h"
#include "consentry/requests.h"
#include "consentry/sqlite_store.h"

namespace {

struct Args {
  std::string role = "billing";
  std::string sqlite_path;
  std::string postgres;
  std::string pg_standby;           // billing only
  std::size_t cache_budget_mb = 0;  // billing only; 0: the full cache
  std::string policy =
      std::string(CONSENTRY_SOURCE_DIR) + "/policies/default.textproto";
};

int Fail(const absl::Status& s) {
  std::cerr << "consent_two_process: " << s << "\n";
  return 1;
}

absl::StatusOr<std::unique_ptr<consentry::ConsentStore>> OpenStore(
    const Args& a) {
  if (!a.postgres.empty()) {
    consentry::PostgresStoreOptions o;
    o.schema = "consent_two_process";
    o.heartbeat_interval = absl::Milliseconds(100);
    consentry::PostgresServers servers;
    servers.primary = a.postgres;
    if (a.role == "billing" && !a.pg_standby.empty()) {
      servers.standbys = {a.pg_standby};
      o.max_standby_lag = absl::Seconds(1);
      o.standby_wait = absl::Milliseconds(200);
    }
    auto s = consentry::PostgresConsentStore::Open(servers, o);
    if (!s.ok()) return s.status();
    return std::unique_ptr<consentry::ConsentStore>(std::move(*s));
  }
  auto s = consentry::SqliteConsentStore::Open(a.sqlite_path);
  if (!s.ok()) return s.status();
  return std::unique_ptr<consentry::ConsentStore>(std::move(*s));
}

// The app backend: records the request and prints the revision.
int RunBackend(const Args& a, const std::string& subject) {
  auto store = OpenStore(a);
  if (!store.ok()) return Fail(store.status());
  consentry::v1::RestrictionEntry stop;
  stop.set_kind(consentry::v1::RESTRICTION_KIND_SUSPENDED_PURPOSE);
  stop.set_purpose("billing");
  stop.set_request_id("ticket-4711");
  // Adds to the restrictions in force (compare-and-set, retried).
  absl::StatusOr<consentry::Revision> rev = consentry::AddRestrictions(
      **store, subject, {stop}, "app-backend: request desk");
  if (!rev.ok()) return Fail(rev.status());
  std::printf("%lld\n", static_cast<long long>(*rev));
  return 0;
}

// Starts the backend as a child process; returns the revision it wrote.
absl::StatusOr<consentry::Revision> RecordInOtherProcess(
    const Args& a, const std::string& subject) {
  // Everything the child needs is prepared before fork: this process has
  // threads (the store's feed), so the child only calls exec.
  std::string self = "/proc/self/exe";
  std::string role = "--role=backend";
  std::string store = a.postgres.empty() ? "--sqlite=" + a.sqlite_path
                                         : "--postgres=" + a.postgres;
  std::string policy = "--policy=" + a.policy;
  std::string who = "--subject=" + subject;
  char* argv[] = {self.data(),   role.data(), store.data(),
                  policy.data(), who.data(),  nullptr};
  int fds[2];
  if (pipe(fds) != 0) return absl::InternalError("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execv(self.c_str(), argv);
    _exit(127);
  }
  close(fds[1]);
  FILE* in = fdopen(fds[0], "r");
  long long rev = -1;
  const int n = std::fscanf(in, "%lld", &rev);
  std::fclose(in);
  int status = 0;
  waitpid(pid, &status, 0);
  if (n != 1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError("the app-backend process failed");
  }
  return static_cast<consentry::Revision>(rev);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  std::string subject = "sub-0002";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--role=", 0) == 0) a.role = arg.substr(7);
    if (arg.rfind("--sqlite=", 0) == 0) a.sqlite_path = arg.substr(9);
    if (arg.rfind("--postgres=", 0) == 0) a.postgres = arg.substr(11);
    if (arg.rfind("--pg-standby=", 0) == 0) a.pg_standby = arg.substr(13);
    if (arg.rfind("--policy=", 0) == 0) a.policy = arg.substr(9);
    if (arg.rfind("--subject=", 0) == 0) subject = arg.substr(10);
    if (arg.rfind("--cache-budget-mb=", 0) == 0) {
      a.cache_budget_mb = std::strtoul(arg.c_str() + 18, nullptr, 10);
    }
  }
  bool remove_file = false;
  if (a.postgres.empty() && a.sqlite_path.empty()) {
    a.sqlite_path = absl::StrCat("/tmp/consent_two_process.", getpid(), ".db");
    remove_file = true;
  }
  if (a.role == "backend") return RunBackend(a, subject);

  // --- The billing process ---------------------------------------------
  auto policy = consentry::LoadAndCompilePolicy(a.policy);
  if (!policy.ok()) return Fail(policy.status());
  auto store = OpenStore(a);
  if (!store.ok()) return Fail(store.status());
  std::cout << "Store: "
            << (a.postgres.empty() ? "SQLite file " + a.sqlite_path
                                   : "PostgreSQL " + a.postgres)
            << "\n";
  if (!a.pg_standby.empty()) {
    std::cout << "Reads: hot standby " << a.pg_standby
              << " while fresh (1 s), else the primary\n";
  }
  consentry::InMemoryAuditSink audit;
  consentry::GuardOptions options;
  // Fail closed for consent-based purposes if the feed goes quiet.
  options.max_feed_staleness = absl::Seconds(2);
  // A bounded cache reads the subjects it does not hold from the store
  // (the standby, with --pg-standby) when they are checked.
  options.cache_budget_bytes = a.cache_budget_mb << 20;
  if (a.cache_budget_mb != 0) {
    std::cout << "Cache: at most " << a.cache_budget_mb << " MiB\n";
  }
  auto guard = consentry::Guard::Create(*policy, store->get(), &audit, options);
  if (!guard.ok()) return Fail(guard.status());
  auto ctx = (*guard)->Context("billing-service", "billing.calculation");
  auto usage = (*guard)->Category("communication");
  if (!ctx.ok()) return Fail(ctx.status());
  if (!usage.ok()) return Fail(usage.status());
  const std::vector<std::string> subscribers = {"sub-0001", "sub-0002",
                                                "sub-0003"};

  // Start from a clean slate (the PostgreSQL store outlives the demo): a
  // restriction is only removed by an explicit, audited lift.
  consentry::InMemoryAuditSink reset_audit;
  for (const std::string& s : subscribers) {
    auto record = (*store)->Get(s);
    if (!record.ok()) return Fail(record.status());
    for (const auto& e :
         consentry::RestrictionsInForce(record->restrictions())) {
      consentry::v1::RestrictionLift lift;
      lift.set_kind(e.kind());
      lift.set_purpose(e.purpose());
      lift.set_reason("demo reset: the previous run's requests are undone");
      auto r =
          consentry::LiftRestriction(**store, reset_audit, s, lift, "demo");
      if (!r.ok()) return Fail(r.status());
    }
  }

  auto precharge = [&](consentry::Revision at_least) -> absl::Status {
    for (const std::string& s : subscribers) {
      absl::StatusOr<consentry::Decision> d =
          (*guard)->Check(*ctx, s, *usage, at_least);
      if (!d.ok()) return d.status();  // store outage: charge nobody blindly
      std::printf("  %-9s %-8s %-20s (consent revision %lld)\n", s.c_str(),
                  d->allowed() ? "charge" : "SKIP",
                  std::string(consentry::ReasonName(d->reason())).c_str(),
                  static_cast<long long>(d->revision()));
    }
    return absl::OkStatus();
  };

  std::cout << "\n[billing] pre-charge check, before the request:\n";
  if (absl::Status s = precharge(0); !s.ok()) return Fail(s);

  std::cout << "\n[app-backend, pid of its own] sub-0002 asks to stop the use "
               "of their data for billing\n";
  absl::StatusOr<consentry::Revision> rev = RecordInOtherProcess(a, "sub-0002");
  if (!rev.ok()) return Fail(rev.status());
  std::cout << "[app-backend] recorded at store revision " << *rev << "\n";

  std::cout << "\n[billing] pre-charge check, demanding at least revision "
            << *rev << ":\n";
  if (absl::Status s = precharge(*rev); !s.ok()) return Fail(s);

  // Without a demanded revision, the change feed brings the next request
  // into the cache by itself.
  std::cout << "\n[app-backend] sub-0003 asks the same\n";
  absl::StatusOr<consentry::Revision> rev2 =
      RecordInOtherProcess(a, "sub-0003");
  if (!rev2.ok()) return Fail(rev2.status());
  const absl::Time start = absl::Now();
  bool fed = false;
  while (!fed && absl::Now() - start < absl::Seconds(5)) {
    absl::StatusOr<consentry::Decision> d =
        (*guard)->Check(*ctx, "sub-0003", *usage);
    fed = d.ok() && d->revision() >= *rev2;
    if (!fed) absl::SleepFor(absl::Milliseconds(1));
  }
  std::cout << "[billing] the change feed "
            << (fed ? "delivered" : "has NOT delivered") << " revision "
            << *rev2 << " to the Guard's cache after "
            << absl::FormatDuration(
                   absl::Trunc(absl::Now() - start, absl::Microseconds(10)))
            << ":\n";
  if (absl::Status s = precharge(0); !s.ok()) return Fail(s);
  std::cout << "\n" << audit.size() << " decisions audited.\n";
  guard->reset();
  store->reset();
  if (remove_file) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove((a.sqlite_path + suffix).c_str());
    }
  }
  return fed ? 0 : 1;
}
