// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Random `ConsentChange`s (strings drawn from fuzz bytes, so not always
// UTF-8) applied to the in-memory store and, in the same order, to a SQLite
// store (always; a per-process temporary directory, removed at exit) and a
// PostgreSQL store (when CONSENTRY_PG_CONNINFO, or the file
// CONSENTRY_PG_CONNINFO_FILE names, gives a server; a per-process schema,
// dropped at exit). Properties:
//   * every store accepts or refuses each change alike (same status code);
//   * no change but a `lift_restriction` removes a restriction in force
//     (APPI Art. 35), and a lift removes exactly the one it names;
//   * `ChangesSince` on a durable store returns every changed subject, none
//     unreadable, each equal in content to the in-memory record;
//   * the change feed of a second handle (another process's view) moves past
//     every change, and a Guard fed by it decides every (subject, context)
//     as a Guard on the in-memory store does.
// Each input uses its own subject names, so inputs are independent.

#include <fuzzer/FuzzedDataProvider.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/postgres_store.h"
#include "consentry/sqlite_store.h"
#include "fuzz/fuzz_support.h"
#include "google/protobuf/util/message_differencer.h"

namespace consentry::fuzz {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'790'000'000);

struct ContextSpec {
  const char* accessor;
  const char* purpose;
  const char* occasion;
  const char* category;
};
constexpr ContextSpec kContexts[] = {
    {"statistics-job", "statistics.measurement", "", "measurement"},
    {"marketing-analytics", "marketing.research", "", "measurement"},
    {"billing-service", "billing.calculation", "", "billing"},
    {"research-team", "occasion.joint_study", "occ-1", "measurement"},
};
const char* const kPurposes[] = {
    "statistics",         "statistics.measurement", "marketing",
    "marketing.research", "billing.calculation",    "occasion.joint_study",
    "no.such.purpose"};

std::string PgConnInfo() {
  if (const char* c = std::getenv("CONSENTRY_PG_CONNINFO"); c && *c) return c;
  if (const char* f = std::getenv("CONSENTRY_PG_CONNINFO_FILE"); f && *f) {
    std::ifstream in(f);
    std::string line;
    if (in && std::getline(in, line)) return line;
  }
  return "";
}

// A durable store: the handle that writes, and a second handle whose feed
// keeps a Guard's cache, as another process would.
struct Durable {
  std::string name;
  std::unique_ptr<ConsentStore> writer;
  std::unique_ptr<ConsentStore> reader;
  std::unique_ptr<Guard> guard;
  Revision seen = 0;  // ChangesSince checked up to here
};

// Takes every event and keeps none: the Guards here live for the whole
// run, and the properties are about decisions, not their records.
class CountingSink final : public AuditSink {
 public:
  absl::Status Record(const AuditEvent&) override {
    count_.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }

 private:
  std::atomic<std::uint64_t> count_{0};
};

struct World {
  CountingSink audit;
  std::string dir;
  std::string pg_conninfo;
  std::string pg_schema;
  std::shared_ptr<const CompiledPolicy> policy;
  InMemoryConsentStore memory;
  std::unique_ptr<Guard> memory_guard;
  std::vector<Durable> durable;
  std::uint64_t inputs = 0;
};

World* world = nullptr;

void Cleanup() {
  if (world == nullptr) return;
  const std::string dir = world->dir;
  const std::string conninfo = world->pg_conninfo;
  const std::string schema = world->pg_schema;
  delete world;
  world = nullptr;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!conninfo.empty()) {
    PGconn* c = PQconnectdb(conninfo.c_str());
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    PQclear(PQexec(
        c, absl::StrCat("DROP SCHEMA IF EXISTS ", schema, " CASCADE").c_str()));
    PQfinish(c);
  }
}

bool ProcessAlive(const std::string& pid) {
  return !pid.empty() && std::filesystem::exists("/proc/" + pid);
}

// Removes what runs that died without cleaning up (libFuzzer exits with
// _Exit on a finding) left behind: directories and schemas are named by
// the process id.
void RemoveLeftovers(const std::string& base, const std::string& conninfo) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
    const std::string name = e.path().filename().string();
    const std::string kPrefix = "consentry_store_fuzz_";
    if (name.rfind(kPrefix, 0) != 0) continue;
    const std::string rest = name.substr(kPrefix.size());
    if (!ProcessAlive(rest.substr(0, rest.find('_')))) {
      std::filesystem::remove_all(e.path(), ec);
    }
  }
  if (conninfo.empty()) return;
  PGconn* c = PQconnectdb(conninfo.c_str());
  PQclear(PQexec(c, "SET client_min_messages = warning"));
  PGresult* r = PQexec(c,
                       "SELECT nspname FROM pg_namespace WHERE nspname LIKE "
                       "'fuzz\\_roundtrip\\_%'");
  std::vector<std::string> drop;
  for (int i = 0; i < PQntuples(r); ++i) {
    const std::string schema = PQgetvalue(r, i, 0);
    if (!ProcessAlive(schema.substr(std::string("fuzz_roundtrip_").size()))) {
      drop.push_back(schema);
    }
  }
  PQclear(r);
  for (const std::string& s : drop) {
    PQclear(PQexec(c, absl::StrCat("DROP SCHEMA ", s, " CASCADE").c_str()));
  }
  PQfinish(c);
}

std::unique_ptr<Guard> MakeGuard(ConsentStore* store) {
  GuardOptions o;
  o.clock = [] { return kNow; };
  absl::StatusOr<std::unique_ptr<Guard>> g =
      Guard::Create(world->policy, store, &world->audit, o);
  CONSENTRY_FUZZ_CHECK(g.ok(), g.status().ToString());
  return *std::move(g);
}

void Setup() {
  world = new World();
  world->policy = DefaultPolicy();
  world->memory_guard = MakeGuard(&world->memory);
  // tmpfs when there is one: a sync there costs nothing.
  std::string base = "/dev/shm";
  if (access(base.c_str(), W_OK) != 0) {
    const char* t = std::getenv("TMPDIR");
    base = t != nullptr ? t : "/tmp";
  }
  world->pg_conninfo = PgConnInfo();
  RemoveLeftovers(base, world->pg_conninfo);
  std::string tmpl =
      absl::StrCat(base, "/consentry_store_fuzz_", getpid(), "_XXXXXX");
  CONSENTRY_FUZZ_CHECK(mkdtemp(tmpl.data()) != nullptr, tmpl);
  world->dir = tmpl;
  std::atexit(Cleanup);

  const std::string path = world->dir + "/consent.db";
  SqliteStoreOptions so;
  so.poll_interval = absl::Milliseconds(1);
  Durable sqlite{"sqlite", nullptr, nullptr, nullptr};
  for (std::unique_ptr<ConsentStore>* h : {&sqlite.writer, &sqlite.reader}) {
    absl::StatusOr<std::unique_ptr<SqliteConsentStore>> s =
        SqliteConsentStore::Open(path, so);
    CONSENTRY_FUZZ_CHECK(s.ok(), s.status().ToString());
    *h = *std::move(s);
  }
  world->durable.push_back(std::move(sqlite));

  if (!world->pg_conninfo.empty()) {
    world->pg_schema = absl::StrCat("fuzz_roundtrip_", getpid());
    PostgresStoreOptions po;
    po.schema = world->pg_schema;
    po.heartbeat_interval = absl::Milliseconds(5);
    Durable pg{"postgres", nullptr, nullptr, nullptr};
    for (std::unique_ptr<ConsentStore>* h : {&pg.writer, &pg.reader}) {
      absl::StatusOr<std::unique_ptr<PostgresConsentStore>> s =
          PostgresConsentStore::Open(world->pg_conninfo, po);
      CONSENTRY_FUZZ_CHECK(s.ok(), s.status().ToString());
      *h = *std::move(s);
    }
    world->durable.push_back(std::move(pg));
  }
  for (Durable& d : world->durable) d.guard = MakeGuard(d.reader.get());
}

// A string that is usually one of `choices`, sometimes raw fuzz bytes
// (possibly not UTF-8, possibly with NUL).
std::string PickString(FuzzedDataProvider& in, const char* const* choices,
                       std::size_t n) {
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {
    return in.ConsumeRandomLengthString(12);
  }
  return choices[in.ConsumeIntegralInRange<std::size_t>(0, n - 1)];
}

v1::ConsentChange MakeChange(FuzzedDataProvider& in,
                             const std::vector<std::string>& subjects) {
  v1::ConsentChange c;
  const std::size_t si =
      in.ConsumeIntegralInRange<std::size_t>(0, subjects.size());
  c.set_subject_id(si < subjects.size()
                       ? subjects[si]
                       : subjects[0] + in.ConsumeRandomLengthString(8));
  c.set_subject_kind(
      static_cast<v1::SubjectKind>(in.ConsumeIntegralInRange<int>(0, 3)));
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {
    c.set_actor(in.ConsumeRandomLengthString(8));
  }
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
    // A full restrictions write, or an add_restrictions union.
    v1::Restrictions* r = in.ConsumeBool() ? c.mutable_restrictions()
                                           : c.mutable_add_restrictions();
    r->set_erased(in.ConsumeIntegralInRange<int>(0, 3) == 0);
    r->set_suspend_all(in.ConsumeIntegralInRange<int>(0, 3) == 0);
    r->set_third_party_provision_stopped(in.ConsumeBool());
    if (r->erased()) r->mutable_erased_time()->set_seconds(1'780'000'000);
    const int n = in.ConsumeIntegralInRange<int>(0, 2);
    for (int i = 0; i < n; ++i) {
      r->add_suspended_purposes(
          PickString(in, kPurposes, std::size(kPurposes)));
    }
    if (in.ConsumeBool()) {
      v1::RestrictionEntry* e = r->add_entries();
      e->set_kind(static_cast<v1::RestrictionKind>(
          in.ConsumeIntegralInRange<int>(0, 5)));
      if (e->kind() == v1::RESTRICTION_KIND_SUSPENDED_PURPOSE) {
        e->set_purpose(PickString(in, kPurposes, std::size(kPurposes)));
      }
      static const char* const kRequests[] = {"", "req-1", "req-2"};
      e->set_request_id(PickString(in, kRequests, std::size(kRequests)));
      e->mutable_time()->set_seconds(1'780'000'000);
    }
    return c;
  }
  if (in.ConsumeIntegralInRange<int>(0, 5) == 0) {
    v1::RestrictionLift* l = c.mutable_lift_restriction();
    l->set_kind(
        static_cast<v1::RestrictionKind>(in.ConsumeIntegralInRange<int>(0, 5)));
    if (l->kind() == v1::RESTRICTION_KIND_SUSPENDED_PURPOSE) {
      l->set_purpose(PickString(in, kPurposes, std::size(kPurposes)));
    }
    static const char* const kReasons[] = {"", "asked in writing"};
    l->set_reason(PickString(in, kReasons, std::size(kReasons)));
    if (in.ConsumeBool()) c.set_actor("officer");
    return c;
  }
  v1::PurposeConsent* pc = c.mutable_purpose_consent();
  pc->set_purpose(PickString(in, kPurposes, std::size(kPurposes)));
  pc->set_state(
      static_cast<v1::ConsentState>(in.ConsumeIntegralInRange<int>(0, 4)));
  // Set, so that no store stamps its own clock into the record.
  pc->mutable_time()->set_seconds(1'780'000'000);
  static const char* const kOccasions[] = {"", "occ-1", "occ-2"};
  pc->set_occasion_id(PickString(in, kOccasions, std::size(kOccasions)));
  static const char* const kVersions[] = {"", "2026-11-01", "2020-01-01"};
  pc->set_policy_version(PickString(in, kVersions, std::size(kVersions)));
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {
    pc->set_evidence_ref(in.ConsumeRandomLengthString(8));
  }
  pc->set_single_use(in.ConsumeIntegralInRange<int>(0, 5) == 0);
  if (pc->state() == v1::CONSENT_STATE_GIVEN && in.ConsumeBool()) {
    pc->mutable_expiry()->set_seconds(
        absl::ToUnixSeconds(kNow) + in.ConsumeIntegralInRange<int>(-100, 100));
  }
  return c;
}

// A record without what each store stamps itself (the revision, and its
// clock: update time, and the time of a restriction the change gave none).
v1::ConsentRecord Comparable(v1::ConsentRecord r) {
  r.clear_revision();
  r.clear_update_time();
  for (v1::RestrictionEntry& e : *r.mutable_restrictions()->mutable_entries()) {
    if (e.time().seconds() != 1'780'000'000) e.clear_time();
  }
  return r;
}

bool HasRestriction(const std::vector<v1::RestrictionEntry>& in_force,
                    v1::RestrictionKind kind, const std::string& purpose) {
  return std::any_of(in_force.begin(), in_force.end(),
                     [&](const v1::RestrictionEntry& e) {
                       return e.kind() == kind && e.purpose() == purpose;
                     });
}

// Checks that `after` keeps every restriction of `before`, except the one an
// applied lift named (which must be gone).
void CheckRestrictionsKept(const v1::ConsentChange& c, bool applied,
                           const v1::ConsentRecord& before,
                           const v1::ConsentRecord& after) {
  const std::vector<v1::RestrictionEntry> was =
      RestrictionsInForce(before.restrictions());
  const std::vector<v1::RestrictionEntry> is =
      RestrictionsInForce(after.restrictions());
  for (const v1::RestrictionEntry& e : was) {
    const bool lifted = applied && c.has_lift_restriction() &&
                        c.lift_restriction().kind() == e.kind() &&
                        c.lift_restriction().purpose() == e.purpose();
    CONSENTRY_FUZZ_CHECK(
        lifted != HasRestriction(is, e.kind(), e.purpose()),
        absl::StrCat("restriction ",
                     RestrictionDisplayName(e.kind(), e.purpose()),
                     lifted ? " survived its lift: " : " was lost by ",
                     c.DebugString()));
  }
  if (!applied || !c.has_add_restrictions()) return;
  for (const v1::RestrictionEntry& e :
       RestrictionsInForce(c.add_restrictions())) {
    CONSENTRY_FUZZ_CHECK(
        HasRestriction(is, e.kind(), e.purpose()),
        absl::StrCat("restriction ",
                     RestrictionDisplayName(e.kind(), e.purpose()),
                     " was not added by ", c.DebugString()));
  }
}

Reason Decide(Guard& guard, const std::string& subject,
              const ContextSpec& spec) {
  absl::StatusOr<AccessContext> ctx =
      guard.Context(spec.accessor, spec.purpose, spec.occasion);
  absl::StatusOr<CategoryRef> cat = guard.Category(spec.category);
  CONSENTRY_FUZZ_CHECK(ctx.ok() && cat.ok(), spec.accessor);
  absl::StatusOr<Decision> d = guard.Check(*ctx, subject, *cat);
  if (!d.ok()) {
    return ReasonFromStatus(d.status()).value_or(Reason::kUnspecified);
  }
  return d->reason();
}

}  // namespace
}  // namespace consentry::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  consentry::fuzz::SilenceProtobufLogs();
  consentry::fuzz::Setup();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace consentry;
  using namespace consentry::fuzz;
  FuzzedDataProvider in(data, size);
  World& w = *world;
  const std::string prefix = absl::StrCat("i", w.inputs++, "-");
  const std::vector<std::string> subjects = {prefix + "a", prefix + "b"};
  std::vector<std::string> touched;
  const int n = in.ConsumeIntegralInRange<int>(1, 6);
  for (int i = 0; i < n && in.remaining_bytes() > 0; ++i) {
    const v1::ConsentChange c = MakeChange(in, subjects);
    const absl::StatusOr<v1::ConsentRecord> before =
        w.memory.Get(c.subject_id());
    const absl::StatusOr<Revision> want = w.memory.Apply(c);
    const absl::StatusOr<v1::ConsentRecord> after =
        w.memory.Get(c.subject_id());
    if (before.ok() && after.ok()) {
      CheckRestrictionsKept(c, want.ok(), *before, *after);
    }
    for (Durable& d : w.durable) {
      const absl::StatusOr<Revision> got = d.writer->Apply(c);
      CONSENTRY_FUZZ_CHECK(
          got.status().code() == want.status().code(),
          absl::StrCat(d.name, ": ", got.status().ToString(),
                       " where the in-memory store gave ",
                       want.status().ToString(), " for ", c.DebugString()));
    }
    if (want.ok()) touched.push_back(c.subject_id());
  }
  const absl::Time written = absl::Now();
  for (Durable& d : w.durable) {
    // Back through ChangesSince: every changed subject, each readable and
    // equal to the in-memory record.
    absl::StatusOr<std::vector<v1::ConsentRecord>> changes =
        d.writer->ChangesSince(d.seen, 1000);
    CONSENTRY_FUZZ_CHECK(
        changes.ok(),
        absl::StrCat(d.name, ": ChangesSince: ", changes.status().ToString()));
    for (const v1::ConsentRecord& r : *changes) {
      CONSENTRY_FUZZ_CHECK(r.data_loss().empty(),
                           absl::StrCat(d.name, ": ", r.data_loss()));
      d.seen = std::max(d.seen, r.revision());
      absl::StatusOr<v1::ConsentRecord> m = w.memory.Get(r.subject_id());
      CONSENTRY_FUZZ_CHECK(m.ok(), m.status().ToString());
      CONSENTRY_FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(
                               Comparable(r), Comparable(*m)),
                           absl::StrCat(d.name, " holds\n", r.DebugString(),
                                        "in memory:\n", m->DebugString()));
    }
    for (const std::string& s : touched) {
      bool found = false;
      for (const v1::ConsentRecord& r : *changes) {
        found = found || r.subject_id() == s;
      }
      CONSENTRY_FUZZ_CHECK(found, absl::StrCat(d.name, ": ", s, " missing"));
    }
    // The other handle's feed moves past every change.
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (d.reader->FeedHeartbeat() <= written && absl::Now() < deadline) {
      absl::SleepFor(absl::Microseconds(200));
    }
    CONSENTRY_FUZZ_CHECK(d.reader->FeedHeartbeat() > written,
                         absl::StrCat(d.name, ": the change feed stalled"));
    for (const std::string& s : subjects) {
      for (const ContextSpec& spec : kContexts) {
        const Reason want = Decide(*w.memory_guard, s, spec);
        const Reason got = Decide(*d.guard, s, spec);
        CONSENTRY_FUZZ_CHECK(
            got == want,
            absl::StrCat(d.name, ": ", s, " ", spec.purpose, ": ",
                         ReasonName(got), " where the in-memory store gives ",
                         ReasonName(want)));
      }
    }
  }
  return 0;
}
