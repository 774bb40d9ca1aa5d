// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// consentctl's governance commands: `policy show` (a version and who
// approved it, policy §3), `policy announce` (the change announcement
// between two versions, policy §9) and `recipients monitor` (records the
// periodic monitoring of a recipient, policy §5).

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "consentctl_cli.h"
#include "consentctl_commands.h"
#include "consentry/notice.h"
#include "consentry/policy.h"
#include "consentry/policy_diff.h"
#include "consentry/proto_io.h"
#include "consentry/recipients.h"
#include "consentry/v1/policy.pb.h"
#include "consentry/v1/recipient.pb.h"

namespace consentctl {
namespace {

namespace v1 = ::consentry::v1;

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// `s` for a terminal: control characters (a planted escape sequence, a
// newline that would forge a line) shown as \xNN.
std::string Printable(absl::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", u);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

void PrintApprovalsJson(const v1::Policy& p, bool approved) {
  std::cout << "{\"version\":" << JsonString(p.version())
            << ",\"effective_time\":"
            << JsonString(p.has_effective_time()
                              ? TimeText(FromProto(p.effective_time()))
                              : "")
            << ",\"notice_version\":" << JsonString(p.notice_version())
            << ",\"approved\":" << (approved ? "true" : "false")
            << ",\"approvals\":[";
  for (int i = 0; i < p.approvals_size(); ++i) {
    const v1::PolicyApproval& a = p.approvals(i);
    std::cout << (i ? "," : "") << "{\"approver\":" << JsonString(a.approver())
              << ",\"role\":" << JsonString(a.role())
              << ",\"time\":" << JsonString(TimeText(FromProto(a.time())))
              << ",\"note\":" << JsonString(a.note()) << "}";
  }
  std::cout << "]}\n";
}

}  // namespace

int PolicyShow(const std::vector<std::string>& argv) {
  Command cmd{"policy show",
              "FILE",
              "Shows a policy version: title, effective time, notice "
              "version, and who approved it and when (policy §3). Exit 1 "
              "when the version has no approval (NOT APPROVED).",
              {JsonFlag()},
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  auto policy = consentry::LoadAndCompilePolicy(a.positional[0]);
  if (!policy.ok()) return Fail(a.positional[0], policy.status());
  const v1::Policy& p = (*policy)->proto();
  const bool approved = (*policy)->approved();
  if (a.Bool("json")) {
    PrintApprovalsJson(p, approved);
    return approved ? kExitOk : kExitCheckFailed;
  }
  std::cout << "policy " << Printable(p.version());
  if (!p.title().ja().empty() || !p.title().en().empty()) {
    std::cout << "  " << Printable(p.title().ja()) << " / "
              << Printable(p.title().en());
  }
  std::cout << "\n";
  const absl::Time effective = p.has_effective_time()
                                   ? FromProto(p.effective_time())
                                   : absl::InfiniteFuture();
  std::cout << "  effective:      "
            << (p.has_effective_time() ? TimeText(effective) : "(not set)")
            << "\n  previous:       "
            << (p.previous_version().empty() ? "(none)"
                                             : Printable(p.previous_version()))
            << "\n  notice version: "
            << (p.notice_version().empty() ? "(none)"
                                           : Printable(p.notice_version()))
            << "\n  purposes " << (*policy)->purpose_count() << ", categories "
            << (*policy)->category_count() << ", accessors "
            << (*policy)->accessor_count() << "\n";
  if (!approved) {
    std::cout << "  approvals:      none\n"
              << "NOT APPROVED: no approval is recorded for version "
              << Printable(p.version())
              << " (policy §3: the personal information protection manager "
                 "approves each version)\n";
    return kExitCheckFailed;
  }
  std::cout << "  approvals:\n";
  for (const v1::PolicyApproval& ap : p.approvals()) {
    const absl::Time t = FromProto(ap.time());
    std::cout << "    " << TimeText(t) << "  " << Printable(ap.approver());
    if (!ap.role().empty()) std::cout << " (" << Printable(ap.role()) << ")";
    if (!ap.note().empty()) std::cout << ": " << Printable(ap.note());
    if (t > effective) std::cout << "  [after the effective time]";
    std::cout << "\n";
  }
  return kExitOk;
}

int PolicyAnnounce(const std::vector<std::string>& argv) {
  Command cmd{
      "policy announce",
      "",
      "Prints the announcement of the change from policy OLD to "
      "policy NEW (policy §9) as Markdown, in Japanese and English: "
      "the effective time, the material changes and what they mean "
      "for consent, then the other changes. NEW must follow OLD "
      "(name it as previous_version or in version_history).",
      {{"from", "OLD", "the policy file in force now", ""},
       {"to", "NEW", "the policy file that replaces it", ""},
       {"lang", "ja|en|both", "language(s) of the announcement", "both"}},
      0,
      0};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  if (!a.Has("from") || !a.Has("to")) {
    return UsageError(cmd, "--from and --to are required");
  }
  const std::string lang = a.Get("lang");
  if (lang != "ja" && lang != "en" && lang != "both") {
    return UsageError(cmd, "--lang must be ja, en or both, not '" + lang + "'");
  }
  auto before = consentry::LoadPolicyFile(a.Get("from"));
  if (!before.ok()) return Fail(a.Get("from"), before.status());
  auto after_proto = consentry::LoadPolicyFile(a.Get("to"));
  if (!after_proto.ok()) return Fail(a.Get("to"), after_proto.status());
  auto after = consentry::CompiledPolicy::Compile(*after_proto);
  if (!after.ok()) return Fail(a.Get("to"), after.status());
  bool follows = after_proto->previous_version() == before->version();
  for (const std::string& v : after_proto->version_history()) {
    follows |= v == before->version();
  }
  if (!follows || before->version() == after_proto->version()) {
    return Fail("announce",
                absl::InvalidArgumentError(absl::StrCat(
                    "version '", Printable(after_proto->version()), "' (",
                    a.Get("to"), ") does not follow version '",
                    Printable(before->version()), "' (", a.Get("from"),
                    "): it names it neither as previous_version nor in "
                    "version_history")));
  }
  auto diff = consentry::DiffPolicies(*before, *after_proto);
  if (!diff.ok()) return Fail("announce", diff.status());
  if (!(*after)->approved()) {
    std::cerr << "consentctl: warning: version "
              << Printable(after_proto->version())
              << " is NOT APPROVED (no approval recorded, policy §3)\n";
  }
  if (lang != "en") {
    std::cout << consentry::ChangeAnnouncement(*diff, **after,
                                               consentry::Language::kJa);
  }
  if (lang == "both") std::cout << "\n---\n\n";
  if (lang != "ja") {
    std::cout << consentry::ChangeAnnouncement(*diff, **after,
                                               consentry::Language::kEn);
  }
  return kExitOk;
}

int RecipientsMonitor(const std::vector<std::string>& argv) {
  Command cmd{
      "recipients monitor",
      "RECIPIENT",
      "Records a periodic monitoring of RECIPIENT (policy §5): who, when, "
      "the outcome and the findings, in the monitoring log next to the "
      "registry (REGISTRY with its extension replaced by "
      ".monitoring.textproto), replaced crash-safely. Prints the next due "
      "date. A failed outcome refuses provision to the recipient, and to "
      "every contractor sub-contracting to it, until a later monitoring "
      "passes.",
      {{"registry", "FILE", "the recipient registry", ""},
       PolicyFlag(true),
       {"outcome", "passed|passed_with_findings|failed", "the outcome", ""},
       {"by", "NAME", "who carried out the monitoring", ""},
       {"time", "TIME",
        "when it took place (RFC 3339 or YYYY-MM-DD; default: now)", ""},
       {"findings", "TEXT",
        "what was found; several separated by ';' (required when failed)", ""}},
      1,
      1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  if (!a.Has("registry")) return UsageError(cmd, "--registry is required");
  if (!a.Has("policy")) return UsageError(cmd, "--policy is required");
  if (!a.Has("outcome")) return UsageError(cmd, "--outcome is required");
  if (!a.Has("by")) return UsageError(cmd, "--by is required");
  std::string outcome_name = "MONITORING_OUTCOME_" + a.Get("outcome");
  absl::AsciiStrToUpper(&outcome_name);
  v1::MonitoringOutcome outcome;
  if (!v1::MonitoringOutcome_Parse(outcome_name, &outcome) ||
      outcome == v1::MONITORING_OUTCOME_UNSPECIFIED) {
    return UsageError(cmd,
                      "--outcome must be passed, passed_with_findings "
                      "or failed, not '" +
                          a.Get("outcome") + "'");
  }
  const absl::Time now = absl::Now();
  absl::Time when = now;
  if (a.Has("time")) {
    if (absl::Status s = ParseTimeFlag("time", a.Get("time"), when); !s.ok()) {
      return UsageError(cmd, s.message());
    }
  }
  LoadedRegistry loaded;
  if (int rc = LoadRegistry(a, a.Get("policy"), "registry", loaded);
      rc != kExitOk) {
    return rc;
  }
  v1::MonitoringResult result;
  result.set_recipient_id(a.positional[0]);
  result.set_monitored_by(a.Get("by"));
  result.set_outcome(outcome);
  const std::int64_t ns = absl::ToUnixNanos(when);
  result.mutable_time()->set_seconds(ns / 1'000'000'000);
  result.mutable_time()->set_nanos(
      static_cast<std::int32_t>(ns % 1'000'000'000));
  for (absl::string_view f :
       absl::StrSplit(a.Get("findings"), ';', absl::SkipWhitespace())) {
    result.add_findings(std::string(absl::StripAsciiWhitespace(f)));
  }
  const std::string log = consentry::MonitoringLogPath(a.Get("registry"));
  auto next =
      consentry::RecordMonitoringResult(log, *loaded.registry, result, now);
  if (!next.ok()) return Fail("monitor " + a.positional[0], next.status());
  std::cout << "recorded in " << log << ": " << a.positional[0] << " "
            << absl::AsciiStrToLower(
                   absl::StripPrefix(outcome_name, "MONITORING_OUTCOME_"))
            << " at " << TimeText(when) << " by " << Printable(a.Get("by"))
            << "; next monitoring due " << TimeText(*next) << "\n";
  if (outcome == v1::MONITORING_OUTCOME_FAILED) {
    std::cout << "provision to " << a.positional[0]
              << " (and to contractors sub-contracting to it) is refused "
                 "until a later monitoring passes\n";
  }
  return kExitOk;
}

}  // namespace consentctl
