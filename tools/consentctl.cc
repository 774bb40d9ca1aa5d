// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// consentctl: the command-line tool for operators and the privacy officer.
// Works with policies, the consent store, the access log, data-subject
// requests and the recipient registry without writing C++.
//
//   consentctl policy lint|compile|diff|notice|show|announce ...
//   consentctl consent show|history|grant|refuse|withdraw|export|import ...
//   consentctl audit verify|checkpoint|retain|tail|query|leak-report ...
//   consentctl request open|advance|show|list|package ...
//   consentctl recipients list|due|monitor ...
//   consentctl report --html=FILE ...
//
// Exit status: 0 success; 1 when a check fails (invalid, denied, tampered,
// overdue) or an operation fails; 2 on a usage error.

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "consentctl_cli.h"
#include "consentctl_commands.h"
#include "consentctl_sources.h"
#include "consentry/consent.h"
#include "consentry/decision.h"
#include "consentry/notice.h"
#include "consentry/policy.h"
#include "consentry/policy_diff.h"
#include "consentry/postgres_store.h"
#include "consentry/proto_io.h"
#include "consentry/recipients.h"
#include "consentry/requests.h"
#include "consentry/sqlite_store.h"
#include "consentry/v1/consent.pb.h"
#include "consentry/v1/policy.pb.h"
#include "consentry/v1/recipient.pb.h"
#include "google/protobuf/util/time_util.h"

namespace consentctl {
namespace {

namespace v1 = ::consentry::v1;
using google::protobuf::util::TimeUtil;

// ---------------------------------------------------------------------------
// Top level.

void PrintToolHelp() {
  std::cout <<
      R"(usage: consentctl <group> <command> [flags] [args]

Works with consentry policies, consent stores, the access log, data-subject
requests and the recipient registry.

groups and commands:
  policy lint FILE              validate a policy; errors name the field path
  policy compile FILE           summary of the compiled tables
  policy diff OLD NEW           changes between two versions, material ones marked
  policy notice FILE            the purpose notice (--lang=ja|en)
  policy show FILE              version, effective time, who approved it
  policy announce --from=OLD --to=NEW
                                the change announcement, Japanese and English
  consent show SUBJECT          a subject's current consent record
  consent history SUBJECT       every change applied to a subject
  consent grant|refuse|withdraw SUBJECT PURPOSE
                                record a consent decision
  consent export [--out=FILE]   dump every record (binary, JSON or textproto)
  consent import FILE           load records from an export
  consent lift --subject=S --restriction=R --reason=TEXT --audit-dir=DIR
                                lift one restriction (audited; R: erased,
                                suspend_all, provision_stopped, suspended:P)
  audit verify DIR              check the access log's hash chain (--anchor)
  audit checkpoint DIR          sign a checkpoint of the log's head
  audit retain DIR              archive or delete segments past --older-than
  audit tail DIR                the latest events
  audit query DIR               events by --subject, --accessor, --from/--to
  audit leak-report DIR         accessors departing from their baseline
  audit leak-scope DIR          subjects and categories reached; APPI Art. 26
  request open|advance|show|list|package
                                data-subject requests, in the store of
                                --sqlite/--postgres (as consent)
  request import-dir DIR        move a legacy --requests-dir into the store
  receipt issue SUBJECT         a signed consent receipt (JSON, or --format=ja|en)
  receipt verify FILE --keys DIR
                                check a receipt's signature and canonical form
  recipients list|due           the recipient registry; monitoring due
  recipients monitor RECIPIENT  record a monitoring (--outcome, --by)
  recipients records            provision/receipt records (--subject, --recipient)
  recipients add-records FILE   file provision/receipt records in the store
  recipients purge --audit-dir=DIR
                                remove the records past their keeping period
  report --html=FILE            the privacy officer's HTML report

Every command takes --help. Exit status: 0 success; 1 when a check fails
(invalid, denied, tampered, overdue) or an operation fails; 2 on a usage error.
)";
}

int UnknownCommand(const std::string& what) {
  std::cerr << "consentctl: unknown command '" << what
            << "'\nrun 'consentctl --help' for the list of commands\n";
  return kExitUsage;
}

// ---------------------------------------------------------------------------
// policy

std::string BasisLetter(consentry::Basis b) {
  switch (b) {
    case consentry::Basis::kNotAllowed:
      return ".";
    case consentry::Basis::kNecessary:
      return "N";
    case consentry::Basis::kOptIn:
      return "I";
    case consentry::Basis::kOptOut:
      return "O";
  }
  return "?";
}

int PolicyLint(const std::vector<std::string>& argv) {
  Command cmd{"policy lint",
              "FILE",
              "Loads and validates a policy. Prints 'valid' or the first "
              "validation error with its field path; exit 1 when invalid.",
              {JsonFlag()},
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  const std::string& path = a.positional[0];
  absl::Status status;
  std::string version;
  absl::StatusOr<v1::Policy> proto = consentry::LoadPolicyFile(path);
  if (!proto.ok()) {
    status = proto.status();
  } else {
    auto compiled = consentry::CompiledPolicy::Compile(*proto);
    if (!compiled.ok()) status = compiled.status();
    version = proto->version();
  }
  if (a.Bool("json")) {
    std::cout << "{\"file\":" << JsonString(path)
              << ",\"valid\":" << (status.ok() ? "true" : "false");
    if (!status.ok()) {
      std::cout << ",\"code\":"
                << JsonString(absl::StatusCodeToString(status.code()))
                << ",\"error\":" << JsonString(status.message());
    } else {
      std::cout << ",\"version\":" << JsonString(version);
    }
    std::cout << "}\n";
  } else if (status.ok()) {
    std::cout << path << ": valid (version " << version << ")\n";
  } else {
    std::cout << path << ": invalid: " << status.message() << "\n";
  }
  return status.ok() ? kExitOk : kExitCheckFailed;
}

// `policy compile --json`: the purposes, the categories with their uses,
// the accessor count.
void PrintPolicyJson(const consentry::CompiledPolicy& p) {
  std::cout << "{\"version\":" << JsonString(p.version()) << ",\"purposes\":[";
  for (int i = 0; i < p.purpose_count(); ++i) {
    auto pi = static_cast<consentry::PurposeIndex>(i);
    std::cout << (i ? "," : "") << "{\"id\":" << JsonString(p.purpose_id(pi))
              << ",\"parent\":"
              << (p.parent(pi) < 0 ? std::string("null")
                                   : JsonString(p.purpose_id(
                                         static_cast<consentry::PurposeIndex>(
                                             p.parent(pi)))))
              << "}";
  }
  std::cout << "],\"categories\":[";
  for (int c = 0; c < p.category_count(); ++c) {
    auto ci = static_cast<consentry::CategoryIndex>(c);
    std::cout << (c ? "," : "") << "{\"id\":" << JsonString(p.category_id(ci))
              << ",\"special\":" << (p.special(ci) ? "true" : "false")
              << ",\"uses\":{";
    bool first = true;
    for (int i = 0; i < p.purpose_count(); ++i) {
      auto pi = static_cast<consentry::PurposeIndex>(i);
      consentry::Basis b = p.basis(ci, pi);
      if (b == consentry::Basis::kNotAllowed) continue;
      std::cout << (first ? "" : ",") << JsonString(p.purpose_id(pi)) << ":"
                << JsonString(consentry::BasisName(b));
      first = false;
    }
    std::cout << "}}";
  }
  std::cout << "],\"accessors\":" << p.accessor_count()
            << ",\"has_reconsent\":" << (p.has_reconsent() ? "true" : "false")
            << "}\n";
}

// The policy's size, and its purposes with their parents.
void PrintPurposes(const consentry::CompiledPolicy& p) {
  std::cout << "policy " << p.version() << ": " << p.purpose_count()
            << " purposes, " << p.category_count() << " categories, "
            << p.accessor_count() << " accessors\n\npurposes:\n";
  for (int i = 0; i < p.purpose_count(); ++i) {
    auto pi = static_cast<consentry::PurposeIndex>(i);
    std::cout << "  " << p.purpose_id(pi);
    if (p.parent(pi) >= 0) {
      std::cout << "  (parent "
                << p.purpose_id(
                       static_cast<consentry::PurposeIndex>(p.parent(pi)))
                << ")";
    }
    if (p.per_occasion().Contains(pi)) std::cout << "  [per occasion]";
    std::cout << "\n";
  }
}

// The categories and their flags.
void PrintCategories(const consentry::CompiledPolicy& p) {
  std::cout << "\ncategories:\n";
  for (int c = 0; c < p.category_count(); ++c) {
    auto ci = static_cast<consentry::CategoryIndex>(c);
    std::cout << "  " << p.category_id(ci)
              << (p.special(ci) ? "  [special]" : "")
              << (p.requires_specific_consent(ci) ? "  [specific consent]" : "")
              << (p.has_retention(ci) ? "  [retention]" : "") << "\n";
  }
}

// The accessors and the purposes each may declare.
void PrintAccessors(const consentry::CompiledPolicy& p) {
  std::cout << "\naccessors (purposes they may declare):\n";
  for (int i = 0; i < p.accessor_count(); ++i) {
    auto ai = static_cast<consentry::AccessorIndex>(i);
    std::vector<std::string> ps;
    for (int j = 0; j < p.purpose_count(); ++j) {
      auto pj = static_cast<consentry::PurposeIndex>(j);
      if (p.declarable_by(ai).Contains(pj)) ps.emplace_back(p.purpose_id(pj));
    }
    std::cout << "  " << p.accessor_id(ai) << ": " << absl::StrJoin(ps, ", ")
              << "\n";
  }
}

// The basis of each (category, purpose) pair, one letter a pair.
void PrintBasisTable(const consentry::CompiledPolicy& p) {
  std::cout << "\nbasis table (N necessary, I opt-in, O opt-out, . not "
               "allowed); columns are purposes in the order above:\n";
  for (int c = 0; c < p.category_count(); ++c) {
    auto ci = static_cast<consentry::CategoryIndex>(c);
    std::string row;
    for (int i = 0; i < p.purpose_count(); ++i) {
      row += BasisLetter(p.basis(ci, static_cast<consentry::PurposeIndex>(i)));
    }
    std::cout << absl::StrFormat("  %-24s %s\n", p.category_id(ci), row);
  }
}

// Retention limits, re-consent and the minimum cohort size.
void PrintLimits(const consentry::CompiledPolicy& p) {
  std::cout << "\nretention limits:\n";
  int limits = 0;
  for (int c = 0; c < p.category_count(); ++c) {
    auto ci = static_cast<consentry::CategoryIndex>(c);
    if (!p.has_retention(ci)) continue;
    for (int i = 0; i < p.purpose_count(); ++i) {
      auto pi = static_cast<consentry::PurposeIndex>(i);
      if (p.basis(ci, pi) == consentry::Basis::kNotAllowed) continue;
      absl::Duration d = p.retention(ci, pi);
      if (d == absl::InfiniteDuration()) continue;
      std::cout << "  " << p.category_id(ci) << " for " << p.purpose_id(pi)
                << ": " << d / absl::Hours(24) << " days\n";
      ++limits;
    }
  }
  if (limits == 0) std::cout << "  none\n";
  std::cout << "\nre-consent required after material changes: "
            << (p.has_reconsent() ? "yes" : "no")
            << "\nminimum cohort size: " << p.min_cohort_size() << "\n";
}

int PolicyCompile(const std::vector<std::string>& argv) {
  Command cmd{"policy compile",
              "FILE",
              "Compiles a policy and prints a summary of its tables: purposes "
              "with their hierarchy, categories, accessors, the basis of each "
              "(category, purpose) pair, retention limits and re-consent "
              "requirements.",
              {JsonFlag()},
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  auto policy = consentry::LoadAndCompilePolicy(a.positional[0]);
  if (!policy.ok()) return Fail(a.positional[0], policy.status());
  const consentry::CompiledPolicy& p = **policy;
  if (a.Bool("json")) {
    PrintPolicyJson(p);
    return kExitOk;
  }
  PrintPurposes(p);
  PrintCategories(p);
  PrintAccessors(p);
  PrintBasisTable(p);
  PrintLimits(p);
  return kExitOk;
}

int PolicyDiff(const std::vector<std::string>& argv) {
  Command cmd{"policy diff",
              "OLD NEW",
              "Lists the changes from policy OLD to policy NEW. Material "
              "changes (which need announcement and, for consent-based uses, "
              "re-consent) are marked with '!'.",
              {JsonFlag()},
              2,
              2};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  auto before = consentry::LoadPolicyFile(a.positional[0]);
  if (!before.ok()) return Fail(a.positional[0], before.status());
  auto after = consentry::LoadPolicyFile(a.positional[1]);
  if (!after.ok()) return Fail(a.positional[1], after.status());
  auto diff = consentry::DiffPolicies(*before, *after);
  if (!diff.ok()) return Fail("diff", diff.status());
  int material = 0;
  for (const v1::PolicyChange& c : diff->changes()) material += c.material();
  if (a.Bool("json")) {
    auto json =
        consentry::SerializeMessage(*diff, consentry::WireFormat::kJson);
    if (!json.ok()) return Fail("diff", json.status());
    std::cout << *json << "\n";
    return kExitOk;
  }
  std::cout << "policy " << diff->from_version() << " -> " << diff->to_version()
            << ": " << diff->changes_size() << " changes, " << material
            << " material\n";
  for (const v1::PolicyChange& c : diff->changes()) {
    std::string kind = v1::PolicyChange::Kind_Name(c.kind());
    if (absl::StartsWith(kind, "KIND_")) kind = kind.substr(5);
    absl::AsciiStrToLower(&kind);
    std::vector<std::string> where;
    if (!c.purpose().empty()) where.push_back("purpose=" + c.purpose());
    if (!c.category().empty()) where.push_back("category=" + c.category());
    if (!c.accessor().empty()) where.push_back("accessor=" + c.accessor());
    std::cout << (c.material() ? "! " : "  ") << kind << " "
              << absl::StrJoin(where, " ");
    if (!c.before().empty() || !c.after().empty()) {
      std::cout << " (" << c.before() << " -> " << c.after() << ")";
    }
    if (!c.summary().en().empty()) std::cout << ": " << c.summary().en();
    std::cout << "\n";
  }
  return kExitOk;
}

int PolicyNotice(const std::vector<std::string>& argv) {
  Command cmd{"policy notice",
              "FILE",
              "Prints the purpose notice of a policy as Markdown.",
              {{"lang", "ja|en", "language of the notice", "ja"}},
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  const std::string lang = a.Get("lang");
  if (lang != "ja" && lang != "en") {
    return UsageError(cmd, "--lang must be ja or en, not '" + lang + "'");
  }
  auto policy = consentry::LoadAndCompilePolicy(a.positional[0]);
  if (!policy.ok()) return Fail(a.positional[0], policy.status());
  std::cout << consentry::PurposeNotice(
      **policy,
      lang == "ja" ? consentry::Language::kJa : consentry::Language::kEn);
  return kExitOk;
}

int RunPolicy(const std::string& sub, const std::vector<std::string>& args) {
  if (sub == "lint") return PolicyLint(args);
  if (sub == "compile") return PolicyCompile(args);
  if (sub == "diff") return PolicyDiff(args);
  if (sub == "notice") return PolicyNotice(args);
  if (sub == "show") return PolicyShow(args);
  if (sub == "announce") return PolicyAnnounce(args);
  return UnknownCommand("policy " + sub);
}

// ---------------------------------------------------------------------------
// consent

std::vector<Flag> StoreFlags() {
  return {SqliteFlag(), PostgresFlag(), PgSchemaFlag(), PgStandbyFlag()};
}

std::string StateName(v1::ConsentState s) {
  std::string n = v1::ConsentState_Name(s);
  if (absl::StartsWith(n, "CONSENT_STATE_")) n = n.substr(14);
  absl::AsciiStrToLower(&n);
  return n;
}

int PrintMessage(const google::protobuf::Message& m, bool json) {
  auto out = consentry::SerializeMessage(
      m, json ? consentry::WireFormat::kJson : consentry::WireFormat::kText);
  if (!out.ok()) return Fail("output", out.status());
  std::cout << *out << (json ? "\n" : "");
  return kExitOk;
}

int ConsentShow(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = StoreFlags();
  flags.push_back(JsonFlag());
  Command cmd{"consent show",
              "SUBJECT",
              "Prints the subject's current consent record (textproto, or "
              "JSON with --json). Exit 1 when the subject has no record.",
              flags,
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  auto store = OpenStore(a, /*create_if_missing=*/false);
  if (!store.ok()) return Fail("open store", store.status());
  auto record = (*store)->Get(a.positional[0]);
  if (!record.ok()) return Fail("get " + a.positional[0], record.status());
  if (record->revision() == 0) {
    std::cerr << "consentctl: subject '" << a.positional[0]
              << "' has no consent record\n";
    return kExitCheckFailed;
  }
  if (a.Bool("json")) return PrintMessage(*record, true);
  std::cout << "subject " << record->subject_id() << "  revision "
            << record->revision() << "  updated "
            << TimeUtil::ToString(record->update_time()) << "\n";
  for (const v1::PurposeConsent& pc : record->purposes()) {
    std::cout << absl::StrFormat(
        "  %-28s %-10s %s  policy %s  notice %s\n", pc.purpose(),
        StateName(pc.state()), TimeUtil::ToString(pc.time()),
        pc.policy_version(),
        pc.notice_version().empty() ? "-" : pc.notice_version());
  }
  // Each restriction with the request that placed it, when, and by whom
  // ("unknown" for one stored before entries were kept).
  const std::vector<v1::RestrictionEntry> in_force =
      consentry::RestrictionsInForce(record->restrictions());
  if (!in_force.empty()) std::cout << "  restrictions in force:\n";
  for (const v1::RestrictionEntry& e : in_force) {
    std::cout << absl::StrFormat(
        "    %-36s request %s  placed %s  by %s\n",
        consentry::RestrictionDisplayName(e.kind(), e.purpose()),
        e.request_id().empty() ? "unknown" : e.request_id(),
        e.has_time() ? TimeUtil::ToString(e.time()) : "unknown",
        e.actor().empty() ? "unknown" : e.actor());
  }
  return kExitOk;
}

int ConsentHistory(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = StoreFlags();
  flags.push_back(JsonFlag());
  Command cmd{"consent history",
              "SUBJECT",
              "Prints every change applied to the subject, oldest first.",
              flags,
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  auto store = OpenStore(a, /*create_if_missing=*/false);
  if (!store.ok()) return Fail("open store", store.status());
  auto history = (*store)->History(a.positional[0]);
  if (!history.ok()) return Fail("history", history.status());
  for (const v1::ConsentHistoryEntry& e : *history) {
    if (a.Bool("json")) {
      if (int rc = PrintMessage(e, true); rc != kExitOk) return rc;
      continue;
    }
    std::cout << "revision " << e.revision() << "  "
              << TimeUtil::ToString(e.commit_time()) << "  by "
              << e.change().actor() << ": ";
    if (e.change().has_purpose_consent()) {
      std::cout << e.change().purpose_consent().purpose() << " "
                << StateName(e.change().purpose_consent().state());
    } else if (e.change().has_lift_restriction()) {
      std::cout << "lift "
                << consentry::RestrictionDisplayName(
                       e.change().lift_restriction().kind(),
                       e.change().lift_restriction().purpose());
    } else if (e.change().has_add_restrictions()) {
      std::cout << "add restrictions";
      const char* sep = ": ";
      for (const v1::RestrictionEntry& r :
           consentry::RestrictionsInForce(e.change().add_restrictions())) {
        std::cout << sep
                  << consentry::RestrictionDisplayName(r.kind(), r.purpose());
        sep = ", ";
      }
    } else {
      std::cout << "restrictions";
    }
    std::cout << "\n";
  }
  return kExitOk;
}

int ConsentDecision(const std::string& sub, v1::ConsentState state,
                    const std::vector<std::string>& argv) {
  std::vector<Flag> flags = StoreFlags();
  flags.push_back(PolicyFlag(false));
  flags.push_back({"policy-version", "V",
                   "the policy version the decision was made under "
                   "(default: the --policy's version)",
                   ""});
  flags.push_back({"notice-version", "V",
                   "the notice version the person saw (default: the "
                   "--policy's notice_version)",
                   ""});
  flags.push_back({"actor", "NAME", "who records the change", "consentctl"});
  flags.push_back({"method", "METHOD",
                   "collection method: web_form, mobile_app, paper_form, "
                   "phone, email, in_person, imported",
                   ""});
  flags.push_back({"evidence", "REF", "reference to the evidence", ""});
  flags.push_back({"expected-revision", "N",
                   "apply only if the record is at this revision", ""});
  flags.push_back(JsonFlag());
  Command cmd{"consent " + sub,
              "SUBJECT PURPOSE",
              "Records that SUBJECT " +
                  std::string(sub == "grant"    ? "gave"
                              : sub == "refuse" ? "refused"
                                                : "withdrew") +
                  " consent to PURPOSE. With --policy the purpose is checked "
                  "against the policy.",
              flags,
              2,
              2};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  v1::ConsentChange change;
  change.set_subject_id(a.positional[0]);
  change.set_actor(a.Get("actor"));
  v1::PurposeConsent* pc = change.mutable_purpose_consent();
  pc->set_purpose(a.positional[1]);
  pc->set_state(state);
  *pc->mutable_time() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
  pc->set_policy_version(a.Get("policy-version"));
  pc->set_notice_version(a.Get("notice-version"));
  if (a.Has("notice-version") && pc->notice_version().empty()) {
    return UsageError(cmd, "--notice-version must not be empty");
  }
  pc->set_evidence_ref(a.Get("evidence"));
  if (a.Has("method")) {
    std::string m = "COLLECTION_METHOD_" + a.Get("method");
    absl::AsciiStrToUpper(&m);
    v1::CollectionMethod method;
    if (!v1::CollectionMethod_Parse(m, &method)) {
      return UsageError(cmd, "unknown --method '" + a.Get("method") + "'");
    }
    pc->set_method(method);
  }
  if (a.Has("expected-revision")) {
    std::int64_t rev = 0;
    if (!absl::SimpleAtoi(a.Get("expected-revision"), &rev) || rev < 0) {
      return UsageError(cmd, "--expected-revision must be a revision number");
    }
    change.set_expected_revision(rev);
  }
  if (a.Has("policy")) {
    auto policy = consentry::LoadAndCompilePolicy(a.Get("policy"));
    if (!policy.ok()) return Fail(a.Get("policy"), policy.status());
    if (auto p = (*policy)->FindPurpose(a.positional[1]); !p.ok()) {
      return Fail("purpose", p.status());
    }
    consentry::SetVersionsSeen(**policy, *pc);
  }
  if (absl::Status s = consentry::ValidateConsentChange(change); !s.ok()) {
    return Fail("change", s);
  }
  auto store = OpenStore(a, /*create_if_missing=*/true);
  if (!store.ok()) return Fail("open store", store.status());
  auto rev = (*store)->Apply(change);
  if (!rev.ok()) return Fail("apply", rev.status());
  if (a.Bool("json")) {
    std::cout << "{\"subject\":" << JsonString(a.positional[0])
              << ",\"purpose\":" << JsonString(a.positional[1])
              << ",\"state\":" << JsonString(StateName(state))
              << ",\"revision\":" << *rev << "}\n";
  } else {
    std::cout << a.positional[0] << " " << a.positional[1] << ": "
              << StateName(state) << " (revision " << *rev << ")\n";
  }
  return kExitOk;
}

absl::StatusOr<consentry::WireFormat> FormatFlag(const ParsedArgs& a,
                                                 const std::string& path) {
  const std::string f = a.Get("format");
  if (f == "binary" || f == "pb") return consentry::WireFormat::kBinary;
  if (f == "json") return consentry::WireFormat::kJson;
  if (f == "text" || f == "textproto") return consentry::WireFormat::kText;
  if (!f.empty()) {
    return absl::InvalidArgumentError(
        "--format must be binary, json or text, "
        "not '" +
        f + "'");
  }
  if (path.empty() || path == "-") {
    return absl::InvalidArgumentError(
        "--format is needed when reading or writing stdio");
  }
  return consentry::FormatFromPath(path);
}

Flag FormatFlagSpec() {
  return {"format", "binary|json|text",
          "wire format (default: from the file extension .pb/.binpb, .json, "
          ".textproto/.txtpb)",
          ""};
}

int ConsentExport(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = StoreFlags();
  flags.push_back({"out", "FILE", "where to write ('-' for stdout)", "-"});
  flags.push_back(FormatFlagSpec());
  Command cmd{"consent export",
              "",
              "Writes every subject's current record as a "
              "consentry.v1.ConsentExport message. A record the store cannot "
              "read is reported on stderr and left out; the others are "
              "exported, and the exit status is 1.",
              flags,
              0,
              0};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  auto format = FormatFlag(a, a.Get("out"));
  if (!format.ok()) return UsageError(cmd, format.status().message());
  auto store = OpenStore(a, /*create_if_missing=*/false);
  if (!store.ok()) return Fail("open store", store.status());
  auto latest = (*store)->LatestRevision();
  if (!latest.ok()) return Fail("export", latest.status());
  v1::ConsentExport dump;
  dump.set_latest_revision(*latest);
  *dump.mutable_export_time() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
  Progress progress("export", *latest);
  consentry::Revision after = 0;
  std::int64_t unreadable = 0;
  while (true) {
    auto page = (*store)->ChangesSince(after, 1000);
    if (!page.ok()) return Fail("export", page.status());
    if (page->empty()) break;
    for (v1::ConsentRecord& r : *page) {
      after = std::max(after, r.revision());
      if (!r.data_loss().empty()) {
        ++unreadable;
        std::cerr << "consentctl: export: skipped unreadable record: "
                  << r.data_loss() << "\n";
        continue;
      }
      *dump.add_records() = std::move(r);
    }
    progress.Update(after);
  }
  progress.Done();
  auto bytes = consentry::SerializeMessage(dump, *format);
  if (!bytes.ok()) return Fail("export", bytes.status());
  if (*format == consentry::WireFormat::kJson) bytes->push_back('\n');
  if (absl::Status s = WriteOutput(a.Get("out"), *bytes); !s.ok()) {
    return Fail("export", s);
  }
  if (a.Get("out") != "-") {
    std::cerr << "exported " << dump.records_size() << " records to "
              << a.Get("out") << "\n";
  }
  if (unreadable > 0) {
    std::cerr << "consentctl: export: " << unreadable
              << " unreadable record(s) left out\n";
    return kExitCheckFailed;
  }
  return kExitOk;
}

// The changes that rebuild `record` in a store: one per purpose entry, and
// one for the restrictions when any is set.
std::vector<v1::ConsentChange> ChangesFor(const v1::ConsentRecord& record,
                                          const std::string& actor) {
  std::vector<v1::ConsentChange> out;
  for (const v1::PurposeConsent& pc : record.purposes()) {
    v1::ConsentChange c;
    c.set_subject_id(record.subject_id());
    c.set_subject_kind(record.subject_kind());
    c.set_actor(actor);
    *c.mutable_purpose_consent() = pc;
    out.push_back(std::move(c));
  }
  const v1::Restrictions& r = record.restrictions();
  if (r.ByteSizeLong() > 0) {
    v1::ConsentChange c;
    c.set_subject_id(record.subject_id());
    c.set_subject_kind(record.subject_kind());
    c.set_actor(actor);
    *c.mutable_restrictions() = r;
    out.push_back(std::move(c));
  }
  return out;
}

int ConsentImport(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = StoreFlags();
  flags.push_back(FormatFlagSpec());
  flags.push_back({"actor", "NAME", "recorded as the actor of every change",
                   "consentctl import"});
  flags.push_back(JsonFlag());
  Command cmd{"consent import",
              "FILE",
              "Loads a consentry.v1.ConsentExport ('-' for stdin) into the "
              "store. Every change is validated before anything is written; a "
              "malformed file writes nothing.",
              flags,
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  const std::string path = a.positional[0];
  auto format = FormatFlag(a, path);
  if (!format.ok()) return UsageError(cmd, format.status().message());
  std::string data;
  if (path == "-") {
    data.assign(std::istreambuf_iterator<char>(std::cin),
                std::istreambuf_iterator<char>());
  } else {
    auto read = consentry::ReadFileToString(path);
    if (!read.ok()) return Fail("import", read.status());
    data = std::move(*read);
  }
  v1::ConsentExport dump;
  if (absl::Status s = consentry::ParseMessage(data, *format, dump, path);
      !s.ok()) {
    return Fail("import", s);
  }
  std::vector<v1::ConsentChange> changes;
  for (int i = 0; i < dump.records_size(); ++i) {
    const v1::ConsentRecord& r = dump.records(i);
    if (r.subject_id().empty()) {
      return Fail("import",
                  absl::InvalidArgumentError(absl::StrCat(
                      path, ": records[", i, "].subject_id is empty")));
    }
    if (!r.data_loss().empty()) {
      return Fail("import", absl::InvalidArgumentError(absl::StrCat(
                                path, ": records[", i,
                                "] is marked unreadable: ", r.data_loss())));
    }
    for (v1::ConsentChange& c : ChangesFor(r, a.Get("actor"))) {
      if (absl::Status s = consentry::ValidateConsentChange(c); !s.ok()) {
        return Fail("import", absl::InvalidArgumentError(absl::StrCat(
                                  path, ": records[", i, "] (subject ",
                                  r.subject_id(), "): ", s.message())));
      }
      changes.push_back(std::move(c));
    }
  }
  auto store = OpenStore(a, /*create_if_missing=*/true);
  if (!store.ok()) return Fail("open store", store.status());
  auto* sqlite = dynamic_cast<consentry::SqliteConsentStore*>(store->get());
  Progress progress("import", static_cast<std::int64_t>(changes.size()));
  constexpr std::size_t kBatch = 1000;
  for (std::size_t i = 0; i < changes.size(); i += kBatch) {
    const std::size_t n = std::min(kBatch, changes.size() - i);
    if (sqlite != nullptr) {
      auto revs =
          sqlite->ApplyBatch(absl::MakeConstSpan(changes).subspan(i, n));
      if (!revs.ok()) {
        return Fail(absl::StrCat("import (", i, " changes written)"),
                    revs.status());
      }
    } else {
      for (std::size_t j = i; j < i + n; ++j) {
        auto rev = (*store)->Apply(changes[j]);
        if (!rev.ok()) {
          return Fail(absl::StrCat("import (", j, " changes written)"),
                      rev.status());
        }
      }
    }
    progress.Update(static_cast<std::int64_t>(i + n));
  }
  progress.Done();
  if (a.Bool("json")) {
    std::cout << "{\"records\":" << dump.records_size()
              << ",\"changes\":" << changes.size() << "}\n";
  } else {
    std::cout << "imported " << dump.records_size() << " records ("
              << changes.size() << " changes)\n";
  }
  return kExitOk;
}

// --restriction: erased, suspend_all, provision_stopped or suspended:PURPOSE.
bool ParseRestriction(const std::string& text, v1::RestrictionLift& lift) {
  if (text == "erased") {
    lift.set_kind(v1::RESTRICTION_KIND_ERASED);
  } else if (text == "suspend_all") {
    lift.set_kind(v1::RESTRICTION_KIND_SUSPEND_ALL);
  } else if (text == "provision_stopped") {
    lift.set_kind(v1::RESTRICTION_KIND_THIRD_PARTY_PROVISION_STOPPED);
  } else if (absl::StartsWith(text, "suspended:") && text.size() > 10) {
    lift.set_kind(v1::RESTRICTION_KIND_SUSPENDED_PURPOSE);
    lift.set_purpose(text.substr(10));
  } else {
    return false;
  }
  return true;
}

int ConsentLift(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = StoreFlags();
  for (Flag& f : SourceFlags()) flags.push_back(std::move(f));
  flags.push_back(
      {"subject", "S", "the subject whose restriction is lifted", ""});
  flags.push_back({"restriction", "R",
                   "erased, suspend_all, provision_stopped or "
                   "suspended:PURPOSE",
                   ""});
  flags.push_back({"reason", "TEXT", "why it is lifted (required)", ""});
  flags.push_back(
      {"request", "ID", "the request or ticket that decided the lift", ""});
  flags.push_back({"actor", "NAME", "who lifts it", "consentctl"});
  Command cmd{"consent lift",
              "",
              "Lifts one restriction a request placed (APPI Art. 35). The "
              "lift is recorded in the access log in --audit-dir first "
              "(required: an unaudited lift is not applied) and in the "
              "consent history.",
              flags,
              0,
              0};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  if (a.Get("subject").empty()) return UsageError(cmd, "--subject is required");
  v1::RestrictionLift lift;
  if (!ParseRestriction(a.Get("restriction"), lift)) {
    return UsageError(cmd,
                      "--restriction must be erased, suspend_all, "
                      "provision_stopped or suspended:PURPOSE");
  }
  if (!a.Has("audit-dir")) {
    return UsageError(cmd, "--audit-dir is required: a lift is audited");
  }
  lift.set_reason(a.Get("reason"));
  lift.set_request_id(a.Get("request"));
  auto store = OpenStore(a, /*create_if_missing=*/false);
  if (!store.ok()) return Fail("open store", store.status());
  auto sources = OpenSources(a, store->get(), nullptr);
  if (!sources.ok()) return Fail("open access log", sources.status());
  absl::StatusOr<consentry::Revision> rev = consentry::LiftRestriction(
      **store, *(*sources)->audit(), a.Get("subject"), lift, a.Get("actor"));
  if (!rev.ok()) return Fail("lift", rev.status());
  std::cout << a.Get("subject") << ": lifted "
            << consentry::RestrictionDisplayName(lift.kind(), lift.purpose())
            << " (revision " << *rev << ")\n";
  return kExitOk;
}

int RunConsent(const std::string& sub, const std::vector<std::string>& args) {
  if (sub == "lift") return ConsentLift(args);
  if (sub == "show") return ConsentShow(args);
  if (sub == "history") return ConsentHistory(args);
  if (sub == "grant") {
    return ConsentDecision(sub, v1::CONSENT_STATE_GIVEN, args);
  }
  if (sub == "refuse") {
    return ConsentDecision(sub, v1::CONSENT_STATE_REFUSED, args);
  }
  if (sub == "withdraw") {
    return ConsentDecision(sub, v1::CONSENT_STATE_WITHDRAWN, args);
  }
  if (sub == "export") return ConsentExport(args);
  if (sub == "import") return ConsentImport(args);
  return UnknownCommand("consent " + sub);
}

// ---------------------------------------------------------------------------
// recipients

std::string EnumTail(std::string name, absl::string_view prefix) {
  if (absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
  absl::AsciiStrToLower(&name);
  return name;
}

// `recipients list`: each recipient with its kind, vetting and whether it
// may receive data at `now`.
void PrintRecipients(const consentry::RecipientRegistry& registry,
                     absl::Time now, bool json) {
  if (json) std::cout << "[";
  bool first = true;
  for (const v1::Recipient& r : registry.proto().recipients()) {
    consentry::Reason st = consentry::RecipientRegistry::StatusAt(r, now);
    absl::Time due = consentry::RecipientRegistry::MonitoringDue(r, now);
    const std::string kind =
        EnumTail(v1::RecipientKind_Name(r.kind()), "RECIPIENT_KIND_");
    const std::string vetting =
        EnumTail(v1::VettingStatus_Name(r.vetting_status()), "VETTING_STATUS_");
    const std::string may = st == consentry::Reason::kUnspecified
                                ? "yes"
                                : std::string(consentry::ReasonName(st));
    if (json) {
      std::cout << (first ? "" : ",") << "{\"id\":" << JsonString(r.id())
                << ",\"name\":" << JsonString(r.name())
                << ",\"kind\":" << JsonString(kind)
                << ",\"vetting\":" << JsonString(vetting)
                << ",\"may_receive\":" << JsonString(may)
                << ",\"monitoring_due\":" << JsonString(TimeText(due)) << "}";
    } else {
      std::cout << absl::StrFormat("%-20s %-22s %-10s may receive: %-30s %s\n",
                                   r.id(), kind, vetting, may,
                                   due == absl::InfiniteFuture()
                                       ? ""
                                       : "monitoring due " + TimeText(due));
    }
    first = false;
  }
  if (json) std::cout << "]\n";
}

// `recipients due`: the recipients due for monitoring within `days` of
// `now`. Returns the exit status: `kExitCheckFailed` when any is overdue.
int PrintDue(const consentry::RecipientRegistry& registry, absl::Time now,
             int days, bool json) {
  auto due = consentry::RecipientsDueForMonitoring(registry, now,
                                                   absl::Hours(24) * days);
  bool overdue = false;
  if (json) std::cout << "[";
  for (std::size_t i = 0; i < due.size(); ++i) {
    const consentry::MonitoringDueEntry& e = due[i];
    overdue |= e.overdue;
    if (json) {
      std::cout << (i ? "," : "") << "{\"id\":" << JsonString(e.recipient_id)
                << ",\"name\":" << JsonString(e.name)
                << ",\"due\":" << JsonString(TimeText(e.due))
                << ",\"overdue\":" << (e.overdue ? "true" : "false") << "}";
    } else {
      std::cout << (e.overdue ? "OVERDUE " : "due     ") << TimeText(e.due)
                << "  " << e.recipient_id << "  " << e.name << "\n";
    }
  }
  if (json) {
    std::cout << "]\n";
  } else if (due.empty()) {
    std::cout << "no recipient due within " << days << " days\n";
  }
  return overdue ? kExitCheckFailed : kExitOk;
}

int RunRecipients(const std::string& sub,
                  const std::vector<std::string>& argv) {
  if (sub == "monitor") return RecipientsMonitor(argv);
  if (sub == "records") return RecipientsRecords(argv);
  if (sub == "add-records") return RecipientsAddRecords(argv);
  if (sub == "purge") return RecipientsPurge(argv);
  if (sub != "list" && sub != "due") {
    return UnknownCommand("recipients " + sub);
  }
  std::vector<Flag> flags = {
      {"registry", "FILE", "the recipient registry (textproto, JSON, binary)",
       ""},
      PolicyFlag(true),
      {"as-of", "TIME", "the time to judge at (RFC 3339 or YYYY-MM-DD)", ""},
      JsonFlag()};
  if (sub == "due") {
    flags.push_back(
        {"within-days", "N", "also list recipients due within N days", "30"});
  }
  Command cmd{"recipients " + sub,
              "",
              sub == "list"
                  ? "Lists the recipients of the registry with their kind, "
                    "vetting and whether they may receive data now."
                  : "Lists the recipients due for monitoring (overdue ones "
                    "first); exit 1 when any is overdue.",
              flags,
              0,
              0};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  if (!a.Has("registry")) return UsageError(cmd, "--registry is required");
  if (!a.Has("policy")) return UsageError(cmd, "--policy is required");
  absl::Time now = absl::Now();
  if (a.Has("as-of")) {
    if (absl::Status s = ParseTimeFlag("as-of", a.Get("as-of"), now); !s.ok()) {
      return UsageError(cmd, s.message());
    }
  }
  LoadedRegistry loaded;
  if (int rc = LoadRegistry(a, a.Get("policy"), "registry", loaded);
      rc != kExitOk) {
    return rc;
  }
  const bool json = a.Bool("json");
  if (sub == "list") {
    PrintRecipients(*loaded.registry, now, json);
    return kExitOk;
  }
  int days = 0;
  if (!absl::SimpleAtoi(a.Get("within-days"), &days) || days < 0) {
    return UsageError(cmd, "--within-days must be a non-negative number");
  }
  return PrintDue(*loaded.registry, now, days, json);
}

}  // namespace

absl::StatusOr<std::unique_ptr<consentry::ConsentStore>> OpenStore(
    const ParsedArgs& args, bool create_if_missing) {
  if ((args.Has("postgres") && !args.Get("postgres").empty()) ||
      !args.All("pg-standby").empty()) {
    consentry::PostgresStoreOptions options;
    options.schema = args.Get("pg-schema", "consentry");
    // With --pg-standby: reads from the standbys when fresh, writes to the
    // --postgres primary (none: a read-only store).
    consentry::PostgresServers servers;
    servers.primary = args.Get("postgres");
    servers.standbys = args.All("pg-standby");
    auto pg = consentry::PostgresConsentStore::Open(servers, options);
    if (!pg.ok()) return pg.status();
    return std::unique_ptr<consentry::ConsentStore>(std::move(*pg));
  }
  consentry::SqliteStoreOptions options;
  options.create_if_missing = create_if_missing;
  auto sqlite = consentry::SqliteConsentStore::Open(
      args.Get("sqlite", "consent.db"), options);
  if (!sqlite.ok()) return sqlite.status();
  return std::unique_ptr<consentry::ConsentStore>(std::move(*sqlite));
}

int LoadRegistry(const ParsedArgs& a, absl::string_view policy_what,
                 absl::string_view registry_what, LoadedRegistry& out) {
  auto policy = consentry::LoadAndCompilePolicy(a.Get("policy"));
  if (!policy.ok()) return Fail(policy_what, policy.status());
  auto format = consentry::FormatFromPath(a.Get("registry"));
  if (!format.ok()) return Fail(registry_what, format.status());
  auto data = consentry::ReadFileToString(a.Get("registry"));
  if (!data.ok()) return Fail(registry_what, data.status());
  v1::RecipientRegistry proto;
  if (absl::Status s =
          consentry::ParseMessage(*data, *format, proto, a.Get("registry"));
      !s.ok()) {
    return Fail(registry_what, s);
  }
  // The monitoring results recorded next to the registry.
  const std::string log_path = consentry::MonitoringLogPath(a.Get("registry"));
  auto log = consentry::LoadMonitoringLog(log_path);
  if (!log.ok()) return Fail(log_path, log.status());
  if (absl::Status s = consentry::ApplyMonitoringLog(*log, proto); !s.ok()) {
    return Fail(log_path, s);
  }
  auto registry = consentry::RecipientRegistry::Create(proto, **policy);
  if (!registry.ok()) return Fail(registry_what, registry.status());
  out.policy = *std::move(policy);
  out.registry = *std::move(registry);
  return kExitOk;
}

}  // namespace consentctl

int main(int argc, char** argv) {
  using namespace consentctl;  // NOLINT
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    PrintToolHelp();
    return kExitUsage;
  }
  const std::string group = args[0];
  if (group == "--help" || group == "-h" || group == "help") {
    PrintToolHelp();
    return kExitOk;
  }
  if (group == "report") {
    return RunReport(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  const bool known = group == "policy" || group == "consent" ||
                     group == "audit" || group == "request" ||
                     group == "receipt" || group == "recipients";
  if (!known) return UnknownCommand(group);
  if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
    PrintToolHelp();
    return args.size() < 2 ? kExitUsage : kExitOk;
  }
  const std::string sub = args[1];
  std::vector<std::string> rest(args.begin() + 2, args.end());
  if (group == "policy") return RunPolicy(sub, rest);
  if (group == "consent") return RunConsent(sub, rest);
  if (group == "audit") return RunAudit(sub, rest);
  if (group == "request") return RunRequest(sub, rest);
  if (group == "receipt") return RunReceipt(sub, rest);
  return RunRecipients(sub, rest);
}
