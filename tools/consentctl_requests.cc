// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// `consentctl request ...`: data-subject requests between invocations.
//
// Persistence: the request store of the database the consent store lives in
// (--sqlite, default consent.db, or --postgres; consentctl_stores.h). Each
// step is a compare-and-set on the request's version, so of two commands
// advancing one request at once, one wins and the other is told and writes
// nothing. Once a request is executed, its answer is written to
// --answers-dir (default ./answers): `<id>.answer.json` (the disclosure
// package or purpose notice as protobuf JSON) and `<id>.answer.ja.md` /
// `<id>.answer.en.md`, each atomically and durably (`WriteOutput`).
//
// Legacy: --requests-dir names a directory of textproto request files
// (file_request_store.h), read and written as before; `request import-dir`
// moves such a directory into the store once.

#include <algorithm>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "consentctl_cli.h"
#include "consentctl_commands.h"
#include "consentctl_sources.h"
#include "consentctl_stores.h"
#include "consentry/audit.h"
#include "consentry/policy.h"
#include "consentry/proto_io.h"
#include "consentry/receipt.h"
#include "consentry/requests.h"
#include "consentry/v1/request.pb.h"
#include "file_request_store.h"
#include "google/protobuf/util/time_util.h"

namespace consentctl {
namespace {

namespace v1 = ::consentry::v1;
namespace fs = std::filesystem;
using google::protobuf::util::TimeUtil;

std::string Tail(std::string name, absl::string_view prefix) {
  if (absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
  absl::AsciiStrToLower(&name);
  return name;
}

Flag RequestsDirFlag() {
  return {"requests-dir", "DIR",
          "legacy: keep the requests in this directory of textproto files "
          "instead of the store (move them with 'request import-dir')",
          ""};
}

Flag AnswersDirFlag() {
  return {"answers-dir", "DIR",
          "where 'execute' writes the answers (with --requests-dir: that "
          "directory)",
          "answers"};
}

std::vector<Flag> RequestStoreFlags() {
  return {RequestsDirFlag(), SqliteFlag(), PostgresFlag(), PgSchemaFlag()};
}

// The directory of the answer files.
std::string AnswersDir(const ParsedArgs& a) {
  return a.Has("requests-dir") ? a.Get("requests-dir") : a.Get("answers-dir");
}

// The request store of the flags: the legacy directory with --requests-dir,
// the database's otherwise. Move-only.
struct RequestStores {
  std::unique_ptr<FileRequestStore> legacy;
  Stores stores;
  consentry::RequestStore* requests = nullptr;
};

absl::StatusOr<RequestStores> OpenRequestStores(const ParsedArgs& a,
                                                bool create_if_missing) {
  RequestStores r;
  if (a.Has("requests-dir")) {
    r.legacy = std::make_unique<FileRequestStore>(a.Get("requests-dir"));
    if (create_if_missing) {
      if (absl::Status s = r.legacy->Init(); !s.ok()) return s;
    }
    r.requests = r.legacy.get();
    if (!create_if_missing) return r;
  }
  auto stores = OpenStores(a, create_if_missing);
  if (!stores.ok()) return stores.status();
  r.stores = std::move(*stores);
  if (r.requests == nullptr) r.requests = r.stores.requests.get();
  return r;
}

// Fails `what` with `status`, explaining a lost compare-and-set.
int FailStep(absl::string_view what, const absl::Status& status) {
  if (absl::IsAborted(status)) {
    std::cerr << "consentctl: " << what
              << ": conflict: another command changed this request at the "
                 "same time; nothing of this step was recorded. Check "
                 "'consentctl request show' and run the step again if it is "
                 "still due ("
              << status.message() << ")\n";
    return kExitCheckFailed;
  }
  return Fail(what, status);
}

void PrintRequest(const v1::SubjectRequest& r) {
  std::cout << r.id() << "  " << consentry::RequestKindName(r.kind()) << "  "
            << consentry::RequestStateName(r.state()) << "  subject "
            << r.subject_id();
  if (!r.verified_subject_id().empty()) {
    std::cout << " (verified " << r.verified_subject_id() << ")";
  }
  std::cout << "  requester " << r.requester().name() << "\n";
}

// Reports each request file a listing skipped; returns how many.
int ReportSkipped(FileRequestStore* store, absl::string_view what) {
  if (store == nullptr) return 0;
  std::vector<absl::Status> problems = store->TakeProblems();
  for (const absl::Status& p : problems) {
    std::cerr << "consentctl: " << what << ": skipped an unreadable request "
              << "file: " << p << "\n";
  }
  return static_cast<int>(problems.size());
}

int PrintRequestFull(const v1::SubjectRequest& r, bool json) {
  if (json) {
    auto out = consentry::SerializeMessage(r, consentry::WireFormat::kJson);
    if (!out.ok()) return Fail("output", out.status());
    std::cout << *out << "\n";
    return kExitOk;
  }
  PrintRequest(r);
  if (r.has_due_time()) {
    std::cout << "  answer due " << TimeUtil::ToString(r.due_time()) << "\n";
  }
  if (r.fee().amount_jpy() > 0) {
    std::cout << "  fee " << r.fee().amount_jpy() << " JPY"
              << (r.fee().paid() ? " paid" : " unpaid") << "\n";
  }
  for (const v1::Transition& t : r.transitions()) {
    std::cout << "  " << TimeUtil::ToString(t.time()) << "  " << t.step()
              << "  by " << t.actor()
              << (t.note().empty() ? "" : "  (" + t.note() + ")") << "\n";
  }
  if (r.state() == v1::REQUEST_STATE_REFUSED) {
    std::cout << "  refused: "
              << Tail(v1::RefusalGround_Name(r.refusal().ground()),
                      "REFUSAL_GROUND_")
              << "\n";
  }
  return kExitOk;
}

// What every command that acts on requests opens.
struct Desk {
  RequestStores stores;
  std::unique_ptr<Sources> sources;
  std::unique_ptr<consentry::FileKeyProvider> receipt_keys;
  std::unique_ptr<consentry::RequestDesk> desk;
};

absl::StatusOr<Desk> OpenDesk(const ParsedArgs& a,
                              consentry::RequestDeskOptions options) {
  Desk d;
  auto policy = consentry::LoadAndCompilePolicy(a.Get("policy"));
  if (!policy.ok()) return policy.status();
  auto stores = OpenRequestStores(a, /*create_if_missing=*/true);
  if (!stores.ok()) return stores.status();
  d.stores = std::move(*stores);
  auto sources = OpenSources(a, d.stores.stores.consent.get(),
                             d.stores.stores.records.get());
  if (!sources.ok()) return sources.status();
  d.sources = std::move(*sources);
  options.consent_history = d.sources->history();
  options.access_events = d.sources->access_events();
  options.provisions = d.sources->provisions();
  if (a.Has("receipt-keys")) {
    consentry::FileKeyProviderOptions key_options;
    for (absl::string_view p :
         absl::StrSplit(a.Get("receipt-keys"), ',', absl::SkipEmpty())) {
      key_options.paths.emplace_back(p);
    }
    key_options.signing_key_file = a.Get("receipt-signing-key");
    auto keys = consentry::FileKeyProvider::Open(key_options);
    if (!keys.ok()) return keys.status();
    d.receipt_keys = *std::move(keys);
    options.receipt_keys = d.receipt_keys.get();
  }
  auto desk = consentry::RequestDesk::Create(
      *policy, d.stores.stores.consent.get(), d.stores.requests,
      d.sources->audit(), options);
  if (!desk.ok()) return desk.status();
  d.desk = std::move(*desk);
  return d;
}

std::vector<Flag> DeskFlags() {
  std::vector<Flag> f = RequestStoreFlags();
  f.push_back(AnswersDirFlag());
  f.push_back(PolicyFlag(true));
  f.push_back(JsonFlag());
  for (Flag& s : SourceFlags()) f.push_back(std::move(s));
  f.push_back({"actor", "NAME", "who performs the step", "consentctl"});
  f.push_back({"receipt-keys", "PATH[,PATH]",
               "PEM keys (files or directories) that sign the consent "
               "receipts of a disclosure package; without it they are "
               "unsigned",
               ""});
  f.push_back({"receipt-signing-key", "FILE",
               "the private key to sign receipts with, when --receipt-keys "
               "holds several",
               ""});
  return f;
}

int RequestOpen(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = DeskFlags();
  flags.push_back({"intake", "FILE",
                   "the whole intake as a consentry.v1.SubjectRequest "
                   "(textproto/JSON); the flags below fill it otherwise",
                   ""});
  flags.push_back({"kind", "KIND",
                   "purpose_notice, disclosure, correction, suspension, "
                   "erasure or provision_stop",
                   ""});
  flags.push_back({"subject", "ID", "the subject the requester names", ""});
  flags.push_back({"requester", "NAME", "the requester's name", ""});
  flags.push_back({"purposes", "P1,P2", "suspension: purposes to suspend", ""});
  flags.push_back({"all-purposes", "", "suspension: every purpose", ""});
  flags.push_back({"identifier", "KIND:VALUE",
                   "a second identifier, e.g. contract_number:C-123", ""});
  flags.push_back({"details", "TEXT", "the request in the person's words", ""});
  Command cmd{"request open",
              "",
              "Receives a data-subject request at the contact window "
              "(state received) and prints its id.",
              flags,
              0,
              0};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  if (!a.Has("policy")) return UsageError(cmd, "--policy is required");
  v1::SubjectRequest intake;
  if (a.Has("intake")) {
    auto format = consentry::FormatFromPath(a.Get("intake"));
    if (!format.ok()) return Fail("intake", format.status());
    auto data = consentry::ReadFileToString(a.Get("intake"));
    if (!data.ok()) return Fail("intake", data.status());
    if (absl::Status s =
            consentry::ParseMessage(*data, *format, intake, a.Get("intake"));
        !s.ok()) {
      return Fail("intake", s);
    }
  } else {
    if (!a.Has("kind") || !a.Has("subject") || !a.Has("requester")) {
      return UsageError(cmd,
                        "--kind, --subject and --requester are required "
                        "(or --intake)");
    }
    std::string kind = "REQUEST_KIND_" + a.Get("kind");
    absl::AsciiStrToUpper(&kind);
    v1::RequestKind k;
    if (!v1::RequestKind_Parse(kind, &k)) {
      return UsageError(cmd, "unknown --kind '" + a.Get("kind") + "'");
    }
    intake.set_kind(k);
    intake.set_subject_id(a.Get("subject"));
    intake.mutable_requester()->set_name(a.Get("requester"));
    if (a.Has("purposes")) {
      for (absl::string_view p :
           absl::StrSplit(a.Get("purposes"), ',', absl::SkipEmpty())) {
        intake.add_purposes(std::string(p));
      }
    }
    intake.set_all_purposes(a.Bool("all-purposes"));
    if (a.Has("identifier")) {
      std::vector<std::string> kv =
          absl::StrSplit(a.Get("identifier"), absl::MaxSplits(':', 1));
      if (kv.size() != 2) {
        return UsageError(cmd, "--identifier must be KIND:VALUE");
      }
      v1::SecondIdentifier* id = intake.add_identifiers();
      id->set_kind(kv[0]);
      id->set_value(kv[1]);
    }
    intake.set_details(a.Get("details"));
  }
  auto desk = OpenDesk(a, {});
  if (!desk.ok()) return Fail("request open", desk.status());
  auto r = desk->desk->Receive(intake, a.Get("actor"));
  if (!r.ok()) return FailStep("request open", r.status());
  if (a.Bool("json")) return PrintRequestFull(*r, true);
  std::cout << r->id() << "\n";
  return kExitOk;
}

// Parses a --ground value (e.g. fee_not_paid) into `ground`.
bool ParseGround(const std::string& value, v1::RefusalGround& ground) {
  std::string g = "REFUSAL_GROUND_" + value;
  absl::AsciiStrToUpper(&g);
  return v1::RefusalGround_Parse(g, &ground);
}

constexpr absl::string_view kSteps =
    "send-form, form-returned, fee-paid, verify-identity, verify-agent, "
    "start, execute, answer, refuse";

// The flags of `request advance`: the desk's, and each step's own.
std::vector<Flag> AdvanceFlags() {
  std::vector<Flag> flags = DeskFlags();
  flags.push_back({"payment-ref", "REF", "fee-paid: receipt or transfer", ""});
  flags.push_back({"verified-subject", "ID",
                   "verify-identity: the subject the documents identify", ""});
  flags.push_back({"document", "TEXT",
                   "verify-identity / verify-agent: what was presented", ""});
  flags.push_back({"identifiers-confirmed", "",
                   "verify-identity: the operator confirmed that the second "
                   "identifiers belong to the verified person",
                   ""});
  flags.push_back({"data-erased", "",
                   "execute (erasure): the application's data of the subject "
                   "has been erased",
                   ""});
  flags.push_back({"records-changed", "",
                   "execute (correction): the record changes have been made",
                   ""});
  flags.push_back(
      {"answer-ref", "REF", "answer: letter number, message id", ""});
  flags.push_back({"ground", "GROUND",
                   "refuse: identity_not_verified, fee_not_paid, "
                   "no_retained_data, harm_to_person_or_third_party, ...",
                   ""});
  flags.push_back(
      {"explanation", "TEXT", "refuse: what the person is told", ""});
  return flags;
}

// The desk options a step needs: the operator's confirmations stand in for
// the identifier resolver and the integrator hooks.
consentry::RequestDeskOptions StepOptions(const ParsedArgs& a) {
  consentry::RequestDeskOptions options;
  if (a.Bool("identifiers-confirmed")) {
    const std::string who = a.Get("verified-subject");
    options.resolve_identifier =
        [who](absl::string_view,
              absl::string_view) -> absl::StatusOr<std::string> { return who; };
  }
  if (a.Bool("data-erased")) {
    options.hooks.erase_subject_data =
        [](absl::string_view, absl::string_view) { return absl::OkStatus(); };
  }
  if (a.Bool("records-changed")) {
    options.hooks.change_record = [](absl::string_view, const v1::RecordChange&,
                                     absl::string_view) {
      return absl::OkStatus();
    };
  }
  return options;
}

// The flags `step` needs. Errors: `kInvalidArgument` with the usage message
// for a missing flag, an unknown ground or an unknown step.
absl::Status CheckStepFlags(const ParsedArgs& a, const std::string& step) {
  auto missing = [](const std::string& what) {
    return absl::InvalidArgumentError(what);
  };
  if (step == "send-form" || step == "form-returned" || step == "start" ||
      step == "execute") {
    return absl::OkStatus();
  }
  if (step == "fee-paid") {
    return a.Has("payment-ref") ? absl::OkStatus()
                                : missing("fee-paid needs --payment-ref");
  }
  if (step == "verify-identity") {
    return a.Has("verified-subject") && a.Has("document")
               ? absl::OkStatus()
               : missing(
                     "verify-identity needs --verified-subject and --document");
  }
  if (step == "verify-agent") {
    return a.Has("document") ? absl::OkStatus()
                             : missing("verify-agent needs --document");
  }
  if (step == "answer") {
    return a.Has("answer-ref") ? absl::OkStatus()
                               : missing("answer needs --answer-ref");
  }
  if (step == "refuse") {
    if (!a.Has("ground") || !a.Has("explanation")) {
      return missing("refuse needs --ground and --explanation");
    }
    v1::RefusalGround ground;
    if (!ParseGround(a.Get("ground"), ground)) {
      return missing("unknown --ground '" + a.Get("ground") + "'");
    }
    return absl::OkStatus();
  }
  return missing("unknown step '" + step + "' (one of " + std::string(kSteps) +
                 ")");
}

// Writes the answer of a request next to its file, before the request is
// recorded as executed: `<base>.json` (when there is one), `<base>.ja.md`,
// `<base>.en.md`. Errors: those of `WriteOutput`, naming the file.
absl::Status WriteAnswerFiles(const std::string& base,
                              const consentry::RequestOutcome& outcome) {
  if (!outcome.json.empty()) {
    if (absl::Status s = WriteOutput(base + ".json", outcome.json + "\n");
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = WriteOutput(base + ".ja.md", outcome.document_ja);
      !s.ok()) {
    return s;
  }
  return WriteOutput(base + ".en.md", outcome.document_en);
}

// Creates `dir` when missing and makes its entry durable (its parent
// synced), so that an answer written into it survives a crash as the
// request's executed state in the store does. Errors: `kFailedPrecondition`
// when `dir` exists but is not a directory; those of creating and syncing.
absl::Status EnsureDurableDir(const std::string& dir) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  if (fs::is_directory(st)) return absl::OkStatus();
  if (fs::exists(st)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the answers directory ", dir, " is not a directory"));
  }
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot create the answers directory ", dir, ": ", ec.message()));
  }
  fs::path parent = fs::path(dir).lexically_normal().parent_path();
  if (parent.empty()) parent = ".";
  return consentry::internal::FileSystem::Default()->SyncDir(parent.string());
}

// Takes `step` (checked by `CheckStepFlags`) on request `id`. Returns the
// exit status of a failure that ends the command at once (execute), or
// `kExitOk` with the step's result in `result`. `execute` writes the answer
// files through the desk's `store_answer` hook (see `RequestAdvance`).
int TakeStep(const ParsedArgs& a, Desk& desk, const std::string& id,
             const std::string& step,
             absl::StatusOr<v1::SubjectRequest>& result) {
  consentry::RequestDesk& d = *desk.desk;
  const std::string actor = a.Get("actor");
  if (step == "send-form") {
    result = d.SendForm(id, actor);
  } else if (step == "form-returned") {
    result = d.RecordFormReturned(id, actor);
  } else if (step == "fee-paid") {
    result = d.RecordFeePaid(id, actor, a.Get("payment-ref"));
  } else if (step == "verify-identity") {
    result = d.VerifyIdentity(id, actor,
                              {.subject_id = a.Get("verified-subject"),
                               .document = a.Get("document")});
  } else if (step == "verify-agent") {
    result = d.VerifyAgentAuthority(id, actor, a.Get("document"));
  } else if (step == "start") {
    result = d.StartProcessing(id, actor);
  } else if (step == "execute") {
    auto outcome = d.Execute(id, actor);
    if (!outcome.ok()) {
      return FailStep("request " + id + " execute", outcome.status());
    }
    result = outcome->request;
  } else if (step == "answer") {
    result = d.Answer(id, actor, a.Get("answer-ref"));
  } else if (step == "refuse") {
    v1::RefusalGround ground = v1::REFUSAL_GROUND_UNSPECIFIED;
    ParseGround(a.Get("ground"), ground);
    result = d.Refuse(id, actor, ground, a.Get("explanation"));
  }
  return kExitOk;
}

int RequestAdvance(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = AdvanceFlags();
  Command cmd{"request advance",
              "ID STEP",
              "Takes request ID one step further. STEP is one of: " +
                  std::string(kSteps) +
                  ". 'execute' writes the answer (disclosure package or "
                  "purpose notice) to --answers-dir; see 'request package'. "
                  "Exit 1 when the step is refused (out of order, identity "
                  "mismatch) or another command changed the request at the "
                  "same time (nothing is recorded then).",
              flags,
              2,
              2};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  if (!a.Has("policy")) return UsageError(cmd, "--policy is required");
  const std::string id = a.positional[0];
  const std::string step = a.positional[1];
  if (absl::Status s = CheckStepFlags(a, step); !s.ok()) {
    return UsageError(cmd, s.message());
  }
  consentry::RequestDeskOptions options = StepOptions(a);
  const std::string dir = AnswersDir(a);
  options.hooks.store_answer = [dir](absl::string_view request_id,
                                     const consentry::RequestOutcome& answer) {
    if (absl::Status s = EnsureDurableDir(dir); !s.ok()) return s;
    return WriteAnswerFiles(absl::StrCat(dir, "/", request_id, ".answer"),
                            answer);
  };
  absl::StatusOr<Desk> desk = OpenDesk(a, options);
  if (!desk.ok()) return Fail("request", desk.status());
  absl::StatusOr<v1::SubjectRequest> result;
  if (int rc = TakeStep(a, *desk, id, step, result); rc != kExitOk) return rc;
  ReportSkipped(desk->stores.legacy.get(), "request " + id + " " + step);
  if (!result.ok()) {
    return FailStep("request " + id + " " + step, result.status());
  }
  if (a.Bool("json")) return PrintRequestFull(*result, true);
  PrintRequest(*result);
  return kExitOk;
}

int RequestShow(const std::vector<std::string>& argv) {
  Command cmd{
      "request show",      "ID", "Prints a request with its transitions.",
      RequestStoreFlags(), 1,    1};
  cmd.flags.push_back(JsonFlag());
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  auto stores = OpenRequestStores(a, /*create_if_missing=*/false);
  if (!stores.ok()) return Fail("request show", stores.status());
  auto r = stores->requests->Get(a.positional[0]);
  if (!r.ok()) return Fail("request show", r.status());
  return PrintRequestFull(*r, a.Bool("json"));
}

int RequestList(const std::vector<std::string>& argv) {
  Command cmd{"request list",
              "",
              "Lists the requests (only those in progress with --open; only "
              "those past their answer deadline with --overdue, most overdue "
              "first, exit 1 when there is any).",
              {RequestsDirFlag(),
               SqliteFlag(),
               PostgresFlag(),
               PgSchemaFlag(),
               {"open", "", "only requests in progress", ""},
               {"overdue", "",
                "only requests in progress past their due time (the policy's "
                "answer period from receipt)",
                ""},
               {"as-of", "TIME",
                "--overdue: the time to judge at (RFC 3339 or YYYY-MM-DD; "
                "default now)",
                ""},
               JsonFlag()},
              0,
              0};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  absl::Time now = absl::Now();
  if (a.Has("as-of")) {
    if (!a.Bool("overdue")) return UsageError(cmd, "--as-of needs --overdue");
    if (absl::Status s = ParseTimeFlag("as-of", a.Get("as-of"), now); !s.ok()) {
      return UsageError(cmd, s.message());
    }
  }
  auto stores = OpenRequestStores(a, /*create_if_missing=*/false);
  if (!stores.ok()) return Fail("request list", stores.status());
  consentry::RequestStore& store = *stores->requests;
  absl::StatusOr<consentry::RequestListing> listing =
      a.Bool("overdue") ? consentry::OverdueRequests(store, now)
      : a.Bool("open")  ? store.ListOpen()
      : stores->legacy  ? consentry::RequestListing{stores->legacy->All(), {}}
                        : store.ListAll();
  if (!listing.ok()) return Fail("request list", listing.status());
  const std::vector<v1::SubjectRequest>* const list = &listing->requests;
  // An unreadable request is named and skipped; the others are listed,
  // and the exit status says something needs attention (as does an
  // overdue request).
  for (const consentry::UnreadableRequest& u : listing->unreadable) {
    std::cerr << "consentctl: request list: request '" << absl::CHexEscape(u.id)
              << "' cannot be read"
              << (a.Bool("overdue") ? " (it may be overdue)" : "") << ": "
              << u.status << "\n";
  }
  const int rc = ReportSkipped(stores->legacy.get(), "request list") > 0 ||
                         !listing->unreadable.empty() ||
                         (a.Bool("overdue") && !list->empty())
                     ? kExitCheckFailed
                     : kExitOk;
  if (a.Bool("json")) {
    std::cout << "[";
    for (std::size_t i = 0; i < list->size(); ++i) {
      auto out =
          consentry::SerializeMessage((*list)[i], consentry::WireFormat::kJson);
      if (!out.ok()) return Fail("output", out.status());
      std::cout << (i ? "," : "") << *out;
    }
    std::cout << "]\n";
    return rc;
  }
  for (const v1::SubjectRequest& r : *list) {
    PrintRequest(r);
    if (a.Bool("overdue")) {
      const absl::Time due = consentry::AnswerDue(r);
      std::cout << "  OVERDUE since " << TimeText(due) << " ("
                << (now - due) / absl::Hours(24) << " days)\n";
    }
  }
  if (a.Bool("overdue") && list->empty()) {
    std::cout << "no request is overdue at " << TimeText(now) << "\n";
  }
  return rc;
}

int RequestPackage(const std::vector<std::string>& argv) {
  Command cmd{"request package",
              "ID",
              "Prints the answer written when request ID was executed: the "
              "disclosure package (or purpose notice) as JSON, or as "
              "Markdown in Japanese or English.",
              {RequestsDirFlag(),
               SqliteFlag(),
               PostgresFlag(),
               PgSchemaFlag(),
               AnswersDirFlag(),
               {"lang", "json|ja|en", "which form to print", "json"},
               {"out", "FILE", "where to write ('-' for stdout)", "-"}},
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  const std::string lang = a.Get("lang");
  if (lang != "json" && lang != "ja" && lang != "en") {
    return UsageError(cmd, "--lang must be json, ja or en");
  }
  auto stores = OpenRequestStores(a, /*create_if_missing=*/false);
  if (!stores.ok()) return Fail("request package", stores.status());
  auto r = stores->requests->Get(a.positional[0]);
  if (!r.ok()) return Fail("request package", r.status());
  const std::string path = AnswersDir(a) + "/" + r->id() + ".answer." +
                           (lang == "json" ? "json" : lang + ".md");
  if (!fs::exists(path)) {
    return Fail(
        "request package",
        absl::FailedPreconditionError(absl::StrCat(
            "request ", r->id(), " (", consentry::RequestKindName(r->kind()),
            ", ", consentry::RequestStateName(r->state()), ") has no answer ",
            lang == "json" ? "package" : "document",
            " yet: run 'request advance ", r->id(), " execute'")));
  }
  auto data = consentry::ReadFileToString(path);
  if (!data.ok()) return Fail("request package", data.status());
  if (absl::Status s = WriteOutput(a.Get("out"), *data); !s.ok()) {
    return Fail("request package", s);
  }
  return kExitOk;
}

// The request files of a legacy directory: every entry named
// `*.textproto`, by request number (others, e.g. `x.textproto`, last).
std::vector<std::string> LegacyRequestFiles(const std::string& dir,
                                            std::error_code& ec) {
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (absl::EndsWith(name, ".textproto")) names.push_back(name);
  }
  auto number = [](const std::string& name) {
    absl::StatusOr<std::int64_t> n = consentry::ImportableRequestNumber(
        name.substr(0, name.size() - std::string(".textproto").size()));
    return n.ok() ? *n : INT64_MAX;
  };
  std::sort(names.begin(), names.end(),
            [&](const std::string& x, const std::string& y) {
              return std::make_pair(number(x), x) <
                     std::make_pair(number(y), y);
            });
  return names;
}

int RequestImportDir(const std::vector<std::string>& argv) {
  Command cmd{"request import-dir",
              "DIR",
              "Imports a legacy request directory (--requests-dir: one "
              "textproto per request) into the store once. Every file is "
              "checked first (it must parse, pass the request checks and "
              "hold the id its name says); a bad file is reported and "
              "nothing of it is imported. Ids are kept; a request already "
              "in the store is skipped and reported, never overwritten. "
              "Answer files stay in DIR (read them with 'request package "
              "--answers-dir=DIR'). Exit 1 when a file was refused.",
              {SqliteFlag(), PostgresFlag(), PgSchemaFlag()},
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  const std::string dir = a.positional[0];
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) {
    return Fail("request import-dir",
                absl::NotFoundError(absl::StrCat(
                    dir, " is not a directory (a legacy --requests-dir)")));
  }
  std::vector<std::string> names = LegacyRequestFiles(dir, ec);
  if (ec) {
    return Fail("request import-dir",
                absl::UnavailableError(
                    absl::StrCat("cannot list ", dir, ": ", ec.message())));
  }
  // Reads and checks every file before anything is written.
  FileRequestStore legacy(dir);
  std::vector<v1::SubjectRequest> good;
  int refused = 0;
  for (const std::string& name : names) {
    const std::string id =
        name.substr(0, name.size() - std::string(".textproto").size());
    absl::StatusOr<v1::SubjectRequest> r =
        absl::InvalidArgumentError("its name is not <request id>.textproto");
    if (IsRequestId(id)) r = legacy.Get(id);
    if (r.ok() && r->id() != id) {
      r = absl::DataLossError("it holds request '" + r->id() + "'");
    }
    if (!r.ok()) {
      std::cerr << "consentctl: request import-dir: refused " << dir << "/"
                << name << ": " << r.status() << "\n";
      ++refused;
      continue;
    }
    good.push_back(*std::move(r));
  }
  auto stores = OpenStores(a, /*create_if_missing=*/true);
  if (!stores.ok()) return Fail("request import-dir", stores.status());
  int imported = 0;
  int skipped = 0;
  for (const v1::SubjectRequest& r : good) {
    absl::StatusOr<v1::SubjectRequest> stored = stores->requests->Import(r);
    if (absl::IsAlreadyExists(stored.status())) {
      std::cerr << "consentctl: request import-dir: skipped " << r.id()
                << ": a request with this id is already in the store (left "
                   "as it is)\n";
      ++skipped;
      continue;
    }
    if (!stored.ok()) {
      std::cerr << "consentctl: request import-dir: imported " << imported
                << " before the failure\n";
      return Fail("request import-dir " + r.id(), stored.status());
    }
    std::cout << "imported " << r.id() << "\n";
    ++imported;
  }
  std::cout << "imported " << imported << ", skipped " << skipped
            << " (already in the store), refused " << refused
            << " (invalid files) from " << dir << "\n";
  return refused > 0 ? kExitCheckFailed : kExitOk;
}

}  // namespace

int RunRequest(const std::string& sub, const std::vector<std::string>& args) {
  if (sub == "open") return RequestOpen(args);
  if (sub == "advance") return RequestAdvance(args);
  if (sub == "show") return RequestShow(args);
  if (sub == "list") return RequestList(args);
  if (sub == "package") return RequestPackage(args);
  if (sub == "import-dir") return RequestImportDir(args);
  std::cerr << "consentctl: unknown command 'request " << sub
            << "'\nrun 'consentctl --help' for the list of commands\n";
  return kExitUsage;
}

absl::StatusOr<std::vector<consentry::v1::SubjectRequest>> LoadRequests(
    const std::string& dir) {
  FileRequestStore store(dir);
  std::vector<consentry::v1::SubjectRequest> all = store.All();
  ReportSkipped(&store, "requests");
  return all;
}

}  // namespace consentctl
