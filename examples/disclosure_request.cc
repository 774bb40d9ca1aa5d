// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A disclosure request (開示の求め) from receipt at the contact window to the
// written answer, on durable records as a service keeps them: one SQLite
// file holds the consent store, the request store and the provision record
// store, and the access log is a durable `AuditLog` directory. The
// procedure follows the source policy:
//
//   1. the window receives the request and sends the application form and
//      the guide with the fee (1,600 JPY, from the policy) and payment method;
//   2. the person returns the form with identity documents, and pays;
//   3. once form, documents and fee are in, processing starts; the answer is
//      written from the library's own records and sent in writing.
//
// The service restarts in the middle. Phase 1 runs in one process: members
// consent, services read their records, a provision desk gives contact
// details to recipients (provision records, APPI Art. 29), and member-7's
// request is received and the identity verified; a step out of order is
// refused. The process closes its stores and its log, and exits. Phase 2
// runs in a new process: it opens the same file and log directory, finds
// the request in the store where phase 1 left it, carries it out and
// answers it. The package holds member-7's provision records and access
// events only, though the same file and log hold those of member-8 and
// member-9 too.
//
// The restart is a real one: the program runs itself twice (`--phase=1`,
// then `--phase=2`) as separate processes, so phase 2 shares no memory
// with phase 1 (no cache, no open connection, no queued log event) and can
// only work from what phase 1 left on disk. Closing and re-opening in one
// process would not show that.
//
//   disclosure_request [--policy=policies/default.textproto]
//                      [--state=DIR] [--out=DIR]
//
// --state names the directory of the records (DIR/records.db, DIR/audit/;
// default: a new directory under $TMPDIR, kept afterwards); it must not hold
// records already. With --out, the answer is also written to
// DIR/disclosure.{ja.md,en.md,json}.

#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/audit_log.h"
#include "consentry/consent.h"
#include "consentry/disclosure_sources.h"
#include "consentry/guard.h"
#include "consentry/proto_io.h"
#include "consentry/provision.h"
#include "consentry/recipients.h"
#include "consentry/requests.h"
#include "consentry/sqlite_records.h"
#include "consentry/sqlite_store.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;

// Stops the phase with a message when a step that must work fails.
template <typename T>
T Must(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::cerr << "disclosure_request: " << what << ": " << v.status() << "\n";
    std::exit(1);
  }
  return *std::move(v);
}

void Must(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << "disclosure_request: " << what << ": " << s << "\n";
    std::exit(1);
  }
}

void Step(const char* what, const absl::Status& s) {
  std::printf("  %-48s %s\n", what, s.ok() ? "ok" : s.ToString().c_str());
}

struct Args {
  std::string policy =
      std::string(CONSENTRY_SOURCE_DIR) + "/policies/default.textproto";
  std::string state;
  std::string out;
  int phase = 0;  // 0: run phase 1, then phase 2, each as a new process
};

// The member whose request this is; the others share the records.
constexpr char kPerson[] = "member-7";
const std::vector<std::string>& Members() {
  static const auto* m =
      new std::vector<std::string>{"member-7", "member-8", "member-9"};
  return *m;
}

// Everything the service opens: the same in both phases, from disk.
struct Service {
  std::string db;
  std::string log_dir;
  std::shared_ptr<const consentry::CompiledPolicy> policy;
  std::unique_ptr<consentry::SqliteConsentStore> consent;
  std::unique_ptr<consentry::SqliteRequestStore> requests;
  std::unique_ptr<consentry::SqliteProvisionRecordStore> provisions;
  std::unique_ptr<consentry::AuditLog> log;
  std::unique_ptr<consentry::Guard> guard;
  absl::Time now;

  Service(const Args& args, absl::Time start) : now(start) {
    db = args.state + "/records.db";
    log_dir = args.state + "/audit";
    policy = Must(consentry::LoadAndCompilePolicy(args.policy), "policy");
    // One file, three stores; each keeps its own part of the schema.
    consent = Must(consentry::SqliteConsentStore::Open(db), "consent store");
    requests = Must(consentry::SqliteRequestStore::Open(db), "request store");
    provisions = Must(consentry::SqliteProvisionRecordStore::Open(db),
                      "provision record store");
    consentry::AuditLogOptions log_options;
    log_options.directory = log_dir;
    log = Must(consentry::AuditLog::Open(log_options), "audit log");
    consentry::GuardOptions guard_options;
    // A fixed clock per phase, so that the output is the same on every run.
    guard_options.clock = [this] { return now; };
    guard = Must(consentry::Guard::Create(policy, consent.get(), log.get(),
                                          guard_options),
                 "guard");
  }

  std::unique_ptr<consentry::RequestDesk> Desk(
      consentry::RequestDeskOptions options) {
    options.clock = [this] { return now; };
    return Must(
        consentry::RequestDesk::Create(policy, consent.get(), requests.get(),
                                       log.get(), std::move(options)),
        "request desk");
  }

  // As a service stopping: the Guard first (no more events), then the log
  // (drained, synced, its segment sealed), then the stores.
  void Close() {
    guard.reset();
    Must(log->Close(), "close the audit log");
    log.reset();
    provisions.reset();
    requests.reset();
    consent.reset();
  }
};

void Consent(Service& s, const std::string& subject, const std::string& purpose,
             consentry::v1::ConsentState state) {
  consentry::v1::ConsentChange c;
  c.set_subject_id(subject);
  c.set_subject_kind(consentry::v1::SUBJECT_KIND_CUSTOMER);
  c.mutable_purpose_consent()->set_purpose(purpose);
  c.mutable_purpose_consent()->set_state(state);
  c.mutable_purpose_consent()->set_method(
      consentry::v1::COLLECTION_METHOD_WEB_FORM);
  c.mutable_purpose_consent()->set_policy_version(s.policy->version());
  c.mutable_purpose_consent()->mutable_time()->set_seconds(
      absl::ToUnixSeconds(s.now));
  Must(s.consent->Apply(c).status(), "consent");
}

// Gives the members' contact details to a recipient, one provision record
// for the batch, and prints what happened.
void Give(Service& s, const consentry::RecipientRegistry& registry,
          const char* accessor, const char* purpose, const char* recipient,
          const std::vector<std::string>& subjects) {
  auto desk = Must(consentry::ProvisionDesk::Create(s.guard.get(), &registry,
                                                    s.provisions.get()),
                   "provision desk");
  auto ctx = Must(s.guard->Context(accessor, purpose), "context");
  std::vector<consentry::RecordTags> batch;
  for (const std::string& subject : subjects) {
    batch.push_back(Must(s.guard->Tag(subject, "contact", {purpose}), "tag"));
  }
  consentry::ProvisionOutcome out =
      Must(desk->Provide(ctx, recipient, batch), "provide");
  std::cout << "  contact of";
  for (std::size_t i : out.provided) std::cout << " " << subjects[i];
  std::cout << " -> " << recipient << ": record "
            << (out.record_id.empty() ? "none" : out.record_id);
  for (const consentry::BatchDenial& d : out.denied) {
    std::cout << "; " << subjects[d.index] << " refused ("
              << consentry::ReasonName(d.decision.reason()) << ")";
  }
  std::cout << "\n";
}

// Phase 1: the members' history with the service, and member-7's request
// up to the verified identity; then the service stops.
void Phase1(const Args& args) {
  Service s(args, absl::FromUnixSeconds(1'790'000'000));
  std::cout << "== phase 1 (process 1): records written, request received "
               "==\n";
  using consentry::v1::CONSENT_STATE_GIVEN;
  using consentry::v1::CONSENT_STATE_REFUSED;
  Consent(s, kPerson, "statistics.measurement", CONSENT_STATE_GIVEN);
  Consent(s, kPerson, "marketing.promotion", CONSENT_STATE_REFUSED);
  Consent(s, kPerson, "support", CONSENT_STATE_GIVEN);
  for (const char* purpose : {"support", "marketing.promotion",
                              "provision.third_party.partner_insurer"}) {
    Consent(s, "member-8", purpose, CONSENT_STATE_GIVEN);
  }
  for (const char* purpose : {"support", "statistics.measurement"}) {
    Consent(s, "member-9", purpose, CONSENT_STATE_GIVEN);
  }

  // Reads by the services, each member's decided and logged.
  struct Read {
    const char* accessor;
    const char* purpose;
    const char* category;
  };
  int reads = 0;
  for (const Read& r :
       {Read{"statistics-job", "statistics.measurement", "measurement"},
        Read{"billing-service", "billing.invoicing", "contact"},
        Read{"marketing-analytics", "marketing.promotion", "contact"}}) {
    s.now += absl::Hours(1);
    auto ctx = Must(s.guard->Context(r.accessor, r.purpose), "context");
    auto cat = Must(s.guard->Category(r.category), "category");
    for (const std::string& member : Members()) {
      Must(s.guard->Check(ctx, member, cat).status(), "check");
      ++reads;
    }
  }
  std::cout << "  " << reads << " reads of " << Members().size()
            << " members decided and logged\n";

  // Provisions: the call-centre contractor and the partner insurer.
  consentry::v1::RecipientRegistry registry_proto;
  Must(consentry::ParseMessage(
           Must(consentry::ReadFileToString(std::string(CONSENTRY_SOURCE_DIR) +
                                            "/policies/recipients.textproto"),
                "read recipients"),
           consentry::WireFormat::kText, registry_proto),
       "parse recipients");
  auto registry = Must(
      consentry::RecipientRegistry::Create(registry_proto, *s.policy), "reg");
  s.now += absl::Hours(1);
  Give(s, *registry, "support-desk", "support", "callcenter-tokyo",
       {kPerson, "member-8"});
  Give(s, *registry, "support-desk", "support", "callcenter-tokyo",
       {"member-9"});
  s.now += absl::Hours(1);
  Give(s, *registry, "marketing-analytics", "marketing.promotion",
       "partner-insurer", {kPerson, "member-8"});

  // member-7's request, up to the verified identity; the fee is not paid.
  auto desk = s.Desk({});
  consentry::v1::SubjectRequest intake;
  intake.set_kind(consentry::v1::REQUEST_KIND_DISCLOSURE);
  intake.set_subject_id(kPerson);
  intake.set_subject_kind(consentry::v1::SUBJECT_KIND_CUSTOMER);
  intake.mutable_requester()->set_name("山田 花子");
  intake.mutable_answer_route()->set_channel(
      consentry::v1::ANSWER_CHANNEL_WRITING);
  intake.mutable_answer_route()->set_address("東京都新宿区 ...");
  intake.set_details("保有個人データの開示を求めます。");
  const std::string window = "window:suzuki";
  s.now += absl::Hours(1);
  const std::string id = Must(desk->Receive(intake, window), "receive").id();
  std::cout << "\nDisclosure request for " << kPerson << " (policy "
            << s.policy->version() << ")\n";
  Step(("1. received as " + id).c_str(), absl::OkStatus());
  s.now += absl::Hours(2);
  auto sent = Must(desk->SendForm(id, window), "send form");
  std::printf("  %-48s ok (fee %lld JPY; %s)\n", "   form and guide sent",
              static_cast<long long>(sent.fee().amount_jpy()),
              sent.fee().payment_method().en().c_str());
  s.now += absl::Hours(72);
  Step("2. form returned", desk->RecordFormReturned(id, "mailroom").status());
  Step(
      "   identity documents checked",
      desk->VerifyIdentity(id, window, {kPerson, "運転免許証の写し"}).status());
  // The fee is not paid yet: processing must wait.
  Step("   start processing (fee not yet paid)",
       desk->StartProcessing(id, "privacy-officer").status());
  desk.reset();
  s.Close();
  std::cout << "  phase 1 closed its stores and its log; the process ends\n";
}

// The package's rows for the person, and which of the members whose
// records share the file and the log it names anywhere.
void PrintPackage(const consentry::RequestOutcome& outcome) {
  const consentry::v1::DisclosurePackage& p = outcome.package;
  std::cout << "\n---------------- package ----------------\n\n"
            << "Package for " << p.subject_id() << " (" << p.request_id()
            << "): " << p.provisions_size() << " provision records, "
            << p.access_events_size() << " access events, "
            << p.omitted_sections_size() << " sections omitted\n";
  const absl::TimeZone jst = absl::FixedTimeZone(9 * 3600);
  auto when = [&jst](const google::protobuf::Timestamp& t) {
    return absl::FormatTime("%Y-%m-%d %H:%M",
                            absl::FromUnixSeconds(t.seconds()), jst);
  };
  for (const consentry::v1::ProvisionEntry& e : p.provisions()) {
    std::printf("  package provision %-7s %s  %-9s %-17s %s\n",
                e.record_ref().c_str(), when(e.time()).c_str(),
                e.direction().c_str(), e.recipient_id().c_str(),
                e.purpose().c_str());
  }
  for (const consentry::v1::AccessRecord& a : p.access_events()) {
    std::printf("  package access    %-9s %s  %-19s %-11s %-22s %s\n",
                a.action().c_str(), when(a.time()).c_str(),
                a.accessor().c_str(), a.category().c_str(), a.purpose().c_str(),
                a.allowed() ? "allowed" : ("denied " + a.reason()).c_str());
  }
  // Every member's id searched for in everything the person receives.
  std::string named;
  for (const std::string& member : Members()) {
    for (const std::string* text :
         {&outcome.json, &outcome.document_ja, &outcome.document_en}) {
      if (text->find(member) != std::string::npos) {
        named += " " + member;
        break;
      }
    }
  }
  std::cout << "  members named in the package:" << named << "\n";
}

// Phase 2: a new process, the same file and log. Finds the request where
// phase 1 left it, carries it out and answers it.
int Phase2(const Args& args) {
  // Five days later.
  Service s(args, absl::FromUnixSeconds(1'790'000'000) + absl::Hours(120));
  std::cout << "\n== phase 2 (process 2): re-opened from disk ==\n";
  consentry::AuditLogAccessEventSource events(s.log_dir, s.log.get());
  consentry::ConsentStoreHistorySource history(s.consent.get());
  consentry::ProvisionStoreSource provisions(s.provisions.get());
  consentry::RequestDeskOptions options;
  options.access_events = &events;
  options.consent_history = &history;
  options.provisions = &provisions;
  auto desk = s.Desk(std::move(options));

  std::vector<consentry::v1::SubjectRequest> open =
      Must(s.requests->ListOpen(), "open requests").requests;
  if (open.size() != 1) {
    Must(absl::FailedPreconditionError("expected one open request"), "find");
  }
  const std::string id = open[0].id();
  std::cout << "  open request found in " << fs::path(s.db).filename().string()
            << ": " << id << " of " << open[0].subject_id() << ", "
            << consentry::v1::RequestState_Name(open[0].state()) << ", "
            << open[0].transitions_size() << " steps recorded by phase 1\n";

  const std::string window = "window:suzuki";
  Step("   fee paid",
       desk->RecordFeePaid(id, "accounts", "transfer 0042").status());
  s.now += absl::Hours(1);
  Step("3. start processing",
       desk->StartProcessing(id, "privacy-officer").status());
  s.now += absl::Hours(4);
  consentry::RequestOutcome outcome =
      Must(desk->Execute(id, "privacy-officer"), "execute");
  Step("   answer written from the library's records", absl::OkStatus());
  s.now += absl::Hours(1);
  consentry::v1::SubjectRequest answered =
      Must(desk->Answer(id, window, "letter 2026-118"), "answer");
  Step("   answered in writing (letter 2026-118)", absl::OkStatus());

  PrintPackage(outcome);
  std::cout << "\n---------------- answer (日本語) ----------------\n\n"
            << outcome.document_ja
            << "\n---------------- answer (English) ----------------\n\n"
            << outcome.document_en;

  std::cout << "\n---------------- request history ----------------\n\n";
  const absl::TimeZone jst = absl::FixedTimeZone(9 * 3600);
  for (const consentry::v1::Transition& t : answered.transitions()) {
    std::printf("  %s  %-20s %-18s %s\n",
                absl::FormatTime("%Y-%m-%d %H:%M",
                                 absl::FromUnixSeconds(t.time().seconds()), jst)
                    .c_str(),
                t.step().c_str(), t.actor().c_str(), t.note().c_str());
  }
  // As stored: what a later process would find.
  consentry::v1::SubjectRequest stored = Must(s.requests->Get(id), "get");
  std::cout << "\nRequest " << id << " in the store: "
            << consentry::v1::RequestState_Name(stored.state()) << "\n";
  std::printf(
      "Package as protobuf JSON: %zu bytes (use --out=DIR to write it).\n",
      outcome.json.size());

  if (!args.out.empty()) {
    const std::vector<std::pair<std::string, const std::string*>> files = {
        {"/disclosure.ja.md", &outcome.document_ja},
        {"/disclosure.en.md", &outcome.document_en},
        {"/disclosure.json", &outcome.json}};
    for (const auto& [name, text] : files) {
      std::ofstream f(args.out + name, std::ios::binary);
      f << *text;
      if (!f) Must(absl::InternalError("cannot write " + args.out + name), "");
      std::cout << "wrote " << args.out << name << "\n";
    }
  }
  desk.reset();
  s.Close();
  return 0;
}

// Runs this program again for one phase, and waits for it.
int RunPhase(const char* self, const Args& args, int phase) {
  std::vector<std::string> argv_s = {self, "--phase=" + std::to_string(phase),
                                     "--policy=" + args.policy,
                                     "--state=" + args.state};
  if (!args.out.empty()) argv_s.push_back("--out=" + args.out);
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::cout.flush();
  pid_t pid = 0;
  if (posix_spawnp(&pid, self, nullptr, nullptr, argv.data(), environ) != 0) {
    std::cerr << "disclosure_request: cannot start " << self << "\n";
    return 1;
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 1;
  return WEXITSTATUS(status);
}

Args Parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--policy=", 0) == 0) args.policy = arg.substr(9);
    if (arg.rfind("--state=", 0) == 0) args.state = arg.substr(8);
    if (arg.rfind("--out=", 0) == 0) args.out = arg.substr(6);
    if (arg == "--phase=1") args.phase = 1;
    if (arg == "--phase=2") args.phase = 2;
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = Parse(argc, argv);
  if (args.phase == 1) {
    Phase1(args);
    return 0;
  }
  if (args.phase == 2) return Phase2(args);

  // The whole story: a fresh state directory, phase 1, then phase 2.
  if (args.state.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
        "/disclosure_request.XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::cerr << "disclosure_request: cannot create " << pattern << "\n";
      return 1;
    }
    args.state = pattern;
  }
  std::error_code ec;
  fs::create_directories(args.state, ec);
  if (fs::exists(args.state + "/records.db") ||
      fs::exists(args.state + "/audit")) {
    std::cerr << "disclosure_request: " << args.state
              << " already holds records; name a new directory\n";
    return 1;
  }
  std::cerr << "records in " << args.state << "\n";
  if (int rc = RunPhase(argv[0], args, 1); rc != 0) {
    std::cerr << "disclosure_request: phase 1 failed (exit " << rc << ")\n";
    return rc;
  }
  std::cout << "\n-- phase 1 process exited (status 0); starting phase 2 in a "
               "new process --\n";
  return RunPhase(argv[0], args, 2);
}
