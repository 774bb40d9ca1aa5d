// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// `consentctl audit ...`: verification, reading and leak analysis of the
// durable access log (audit_log.h, leak.h).

#include "consentctl_audit.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "consentctl_cli.h"
#include "consentctl_commands.h"
#include "consentry/audit.h"
#include "consentry/audit_log.h"
#include "consentry/audit_log_set.h"
#include "consentry/audit_retention.h"
#include "consentry/decision.h"
#include "consentry/leak.h"
#include "consentry/proto_io.h"

namespace consentctl {

absl::string_view ActionName(consentry::AuditAction a) {
  switch (a) {
    case consentry::AuditAction::kRead:
      return "read";
    case consentry::AuditAction::kProvision:
      return "provision";
    case consentry::AuditAction::kRequest:
      return "request";
    case consentry::AuditAction::kBatch:
      return "batch";
    case consentry::AuditAction::kAcquire:
      return "acquire";
    case consentry::AuditAction::kRestrictionLifted:
      return "restriction_lifted";
    case consentry::AuditAction::kRecordsPurged:
      return "records_purged";
  }
  return "unknown";
}

std::string EventJson(const consentry::OwnedAuditEvent& e) {
  return absl::StrCat(
      "{\"time\":",
      JsonString(TimeText(absl::FromUnixNanos(e.time_unix_nanos))),
      ",\"action\":", JsonString(ActionName(e.action)),
      ",\"accessor\":", JsonString(e.accessor),
      ",\"subject\":", JsonString(e.subject),
      ",\"category\":", JsonString(e.category),
      ",\"request_kind\":", JsonString(e.request_kind),
      ",\"purpose\":", JsonString(e.purpose),
      ",\"allowed\":", e.allowed() ? "true" : "false",
      ",\"reason\":", JsonString(consentry::ReasonName(e.reason)),
      ",\"shadow\":", e.shadow ? "true" : "false",
      ",\"record_ref\":", JsonString(e.record_ref),
      ",\"recipient\":", JsonString(e.recipient),
      ",\"request_id\":", JsonString(e.request_id),
      ",\"policy_version\":", JsonString(e.policy_version),
      ",\"revision\":", e.revision, ",\"detail\":", JsonString(e.detail), "}");
}

std::string EventLine(const consentry::OwnedAuditEvent& e) {
  std::string line = absl::StrFormat(
      "%s  %-9s %-7s %-20s %-14s %-12s %-24s %s",
      TimeText(absl::FromUnixNanos(e.time_unix_nanos)), ActionName(e.action),
      e.allowed() ? "allow" : "DENY", e.accessor, e.subject,
      e.action == consentry::AuditAction::kRequest ? e.request_kind
                                                   : e.category,
      e.purpose, consentry::ReasonName(e.reason));
  if (!e.record_ref.empty()) absl::StrAppend(&line, "  ref=", e.record_ref);
  if (!e.recipient.empty()) absl::StrAppend(&line, "  to=", e.recipient);
  if (!e.request_id.empty()) {
    absl::StrAppend(&line, "  request=", e.request_id);
  }
  if (e.shadow) absl::StrAppend(&line, "  [shadow]");
  return line;
}

absl::Status ReadKeyFile(const ParsedArgs& a, std::string& key) {
  if (!a.Has("hmac-key-file")) return absl::OkStatus();
  auto data = consentry::ReadFileToString(a.Get("hmac-key-file"));
  if (!data.ok()) return data.status();
  // An empty key file is a mistake, never "no key": the log would be read
  // as unkeyed.
  if (data->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("HMAC key file '", a.Get("hmac-key-file"), "' is empty"));
  }
  key = std::move(*data);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<consentry::FileHmacKeyProvider>> OpenHmacKeyDir(
    const ParsedArgs& a) {
  if (!a.Has("hmac-key-dir")) {
    return std::unique_ptr<consentry::FileHmacKeyProvider>();
  }
  return consentry::FileHmacKeyProvider::Open(a.Get("hmac-key-dir"));
}

// Comma-separated PEM files or directories.
absl::StatusOr<std::unique_ptr<consentry::FileKeyProvider>> OpenKeyFiles(
    absl::string_view paths, absl::string_view signing_key) {
  consentry::FileKeyProviderOptions o;
  for (absl::string_view p : absl::StrSplit(paths, ',', absl::SkipEmpty())) {
    o.paths.emplace_back(p);
  }
  o.signing_key_file = std::string(signing_key);
  return consentry::FileKeyProvider::Open(o);
}

absl::StatusOr<std::vector<consentry::OwnedAuditEvent>> ReadEvents(
    const std::string& dir, absl::Time from, absl::Time to) {
  auto reader = consentry::AuditLogReader::Open(dir);
  if (!reader.ok()) return reader.status();
  return (*reader)->InTimeRange(from, to);
}

absl::StatusOr<std::vector<consentry::OwnedAuditEvent>> ReadEvents(
    const std::vector<std::string>& dirs, absl::Time from, absl::Time to) {
  if (dirs.size() == 1) return ReadEvents(dirs[0], from, to);
  auto set = consentry::AuditLogSet::Open(dirs);
  if (!set.ok()) return set.status();
  auto got = (*set)->InTimeRange(from, to);
  if (!got.ok()) return got.status();
  return std::move(got->events);
}

namespace {

Flag KeyFlag() {
  return {"hmac-key-file", "FILE",
          "the HMAC key without id the log was written with (raw bytes)", ""};
}

Flag KeyDirFlag() {
  return {"hmac-key-dir", "DIR",
          "the HMAC keys by id (CURRENT and <id>.key files, hex): each "
          "segment is checked under the key its header names",
          ""};
}

int PrintEvents(const std::vector<consentry::OwnedAuditEvent>& events,
                std::size_t first, bool json) {
  if (json) std::cout << "[";
  for (std::size_t i = first; i < events.size(); ++i) {
    if (json) {
      std::cout << (i > first ? "," : "") << EventJson(events[i]);
    } else {
      std::cout << EventLine(events[i]) << "\n";
    }
  }
  if (json) std::cout << "]\n";
  return kExitOk;
}

// Shows the elapsed time on stderr while a call that reports no progress
// runs; only when stderr is a terminal.
class Ticker {
 public:
  explicit Ticker(std::string label) : label_(std::move(label)) {
    if (isatty(STDERR_FILENO) != 1) return;
    thread_ = std::thread([this] {
      const absl::Time start = absl::Now();
      while (!stop_.load()) {
        std::fprintf(stderr, "\r%s... %.1f s", label_.c_str(),
                     absl::ToDoubleSeconds(absl::Now() - start));
        std::fflush(stderr);
        absl::SleepFor(absl::Milliseconds(200));
      }
      std::fprintf(stderr, "\r%s... done in %.1f s\n", label_.c_str(),
                   absl::ToDoubleSeconds(absl::Now() - start));
    });
  }
  ~Ticker() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

 private:
  std::string label_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string CoverageJson(const consentry::AuditCoverage& c) {
  if (!c.retained) return "{\"retained\":false}";
  return absl::StrCat("{\"retained\":true,\"complete_from\":",
                      c.complete_from == absl::InfinitePast()
                          ? std::string("null")
                          : JsonString(TimeText(c.complete_from)),
                      ",\"removed_segments\":[", c.removed_first_segment, ",",
                      c.removed_last_segment, "],\"removed_sequences\":[",
                      c.removed_first_sequence, ",", c.removed_sequence_end,
                      "],\"text\":", JsonString(c.ToString()), "}");
}

// On stderr, so that the events on stdout stay what they were: which period
// a query covered, when retention removed old segments.
void PrintCoverage(absl::string_view log, const consentry::AuditCoverage& c) {
  if (!c.retained) return;
  std::cerr << "consentctl: note: " << (log.empty() ? "" : "log '") << log
            << (log.empty() ? "" : "': ") << c.ToString() << "\n";
}

int AuditVerify(const std::vector<std::string>& argv, bool repair) {
  Command cmd{repair ? "audit repair" : "audit verify",
              "DIR",
              repair ? "Trims a torn final record (what a crash leaves) so "
                       "that the log verifies again. Refuses (exit 1) when "
                       "the log has any other defect: tampering is never "
                       "repaired."
                     : "Checks every segment header, frame CRC, sequence and "
                       "chain hash of the access log in DIR. Exit 1 on the "
                       "first defect, naming the segment file, the record "
                       "and its byte offset.",
              {KeyFlag(),
               KeyDirFlag(),
               JsonFlag(),
               {"anchor", "FILE",
                "anchor file of signed checkpoints: the log must hold the "
                "latest one (finds records removed from the end)",
                ""},
               {"anchor-keys", "PATHS",
                "comma-separated PEM files or directories with the public "
                "keys of the checkpoints",
                ""},
               {"retention-keys", "PATHS",
                "public keys of the log's retention record (`audit retain "
                "--signing-key`): its signatures are checked",
                ""},
               {"prefix-of", "LOGDIR",
                "DIR is an archive of LOGDIR (`audit retain --archive-dir`): "
                "it must end exactly at LOGDIR's retention cut",
                ""}},
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  std::string key;
  if (absl::Status s = ReadKeyFile(a, key); !s.ok()) return Fail("key", s);
  if (a.Has("anchor") != a.Has("anchor-keys") || (repair && a.Has("anchor"))) {
    return UsageError(cmd, repair ? "--anchor is for audit verify"
                                  : "--anchor and --anchor-keys go together");
  }
  auto key_dir = OpenHmacKeyDir(a);
  if (!key_dir.ok()) return Fail("key", key_dir.status());
  consentry::AuditVerifyOptions options;
  options.hmac_key = key;
  options.hmac_keys = key_dir->get();
  consentry::AuditCheckpoint anchor;
  std::unique_ptr<consentry::FileKeyProvider> anchor_keys;
  if (a.Has("anchor")) {
    auto latest = consentry::ReadLatestCheckpoint(a.Get("anchor"));
    if (!latest.ok()) return Fail("anchor", latest.status());
    anchor = *std::move(latest);
    auto keys = OpenKeyFiles(a.Get("anchor-keys"), "");
    if (!keys.ok()) return Fail("anchor keys", keys.status());
    anchor_keys = *std::move(keys);
    options.anchor = &anchor;
    options.anchor_keys = anchor_keys.get();
  }
  std::unique_ptr<consentry::FileKeyProvider> retention_keys;
  if (a.Has("retention-keys")) {
    auto keys = OpenKeyFiles(a.Get("retention-keys"), "");
    if (!keys.ok()) return Fail("retention keys", keys.status());
    retention_keys = *std::move(keys);
    options.retention_keys = retention_keys.get();
  }
  consentry::AuditRetentionRecord prefix_of;
  if (a.Has("prefix-of")) {
    if (repair) return UsageError(cmd, "--prefix-of is for audit verify");
    auto record = consentry::ReadAuditRetentionRecord(a.Get("prefix-of"));
    if (!record.ok()) return Fail("--prefix-of", record.status());
    prefix_of = *std::move(record);
    options.prefix_of = &prefix_of;
  }
  absl::StatusOr<consentry::AuditVerifyReport> report;
  {
    Ticker ticker(repair ? "repair" : "verify");
    report = repair ? consentry::RepairAuditLog(a.positional[0], options)
                    : consentry::VerifyAuditLog(a.positional[0], options);
  }
  if (!report.ok()) return Fail(cmd.name, report.status());
  if (a.Bool("json")) {
    std::cout << "{\"ok\":" << (report->ok() ? "true" : "false")
              << ",\"defect\":"
              << JsonString(consentry::AuditDefectName(report->defect))
              << ",\"segments\":" << report->segments
              << ",\"records_verified\":" << report->records_verified
              << ",\"anchored\":" << (report->anchored ? "true" : "false")
              << ",\"verified_from_segment\":" << report->verified_from_segment
              << ",\"verified_from_sequence\":"
              << report->verified_from_sequence
              << ",\"coverage\":" << CoverageJson(report->coverage)
              << ",\"retention_signed\":"
              << (report->retention_signed ? "true" : "false")
              << ",\"retention_leftovers\":" << report->retention_leftovers;
    if (!report->ok()) {
      std::cout << ",\"segment_file\":" << JsonString(report->segment_file)
                << ",\"record_index\":" << report->record_index
                << ",\"byte_offset\":" << report->byte_offset
                << ",\"detail\":" << JsonString(report->detail);
    }
    std::cout << "}\n";
  } else {
    std::cout << (report->ok() ? "" : "TAMPERED or damaged: ")
              << report->ToString() << "\n";
  }
  return report->ok() ? kExitOk : kExitCheckFailed;
}

// `audit checkpoint`: a signed checkpoint of the verified log, printed and
// optionally appended to an anchor file. Writes nothing to the log.
int AuditCheckpoint(const std::vector<std::string>& argv) {
  Command cmd{
      "audit checkpoint",
      "DIR",
      "Verifies the access log in DIR and signs a checkpoint of its "
      "head (last sequence and chain hash) with --signing-key; prints "
      "it as one line and, with --anchor-file, appends it there. "
      "Keep checkpoints where the log's host cannot rewrite them: "
      "`audit verify --anchor` then finds records removed from the "
      "end. Exit 1 when the log has a defect.",
      {KeyFlag(),
       KeyDirFlag(),
       {"signing-key", "FILE", "Ed25519 private key (PEM, PKCS#8)", ""},
       {"anchor-file", "FILE", "append the checkpoint to this file", ""}},
      1,
      1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  if (!a.Has("signing-key"))
    return UsageError(cmd, "--signing-key is required");
  std::string key;
  if (absl::Status s = ReadKeyFile(a, key); !s.ok()) return Fail("key", s);
  auto key_dir = OpenHmacKeyDir(a);
  if (!key_dir.ok()) return Fail("key", key_dir.status());
  consentry::AuditVerifyOptions verify;
  verify.hmac_key = key;
  verify.hmac_keys = key_dir->get();
  auto keys = OpenKeyFiles(a.Get("signing-key"), a.Get("signing-key"));
  if (!keys.ok()) return Fail("signing key", keys.status());
  std::unique_ptr<consentry::FileAnchorSink> sink;
  if (a.Has("anchor-file")) {
    auto opened = consentry::FileAnchorSink::Open(a.Get("anchor-file"));
    if (!opened.ok()) return Fail("anchor file", opened.status());
    sink = *std::move(opened);
  }
  absl::StatusOr<consentry::AuditCheckpoint> c;
  {
    Ticker ticker("verify");
    c = consentry::CheckpointAuditLog(a.positional[0], verify, **keys);
  }
  if (!c.ok()) return Fail(cmd.name, c.status());
  if (sink != nullptr) {
    if (absl::Status s = sink->Publish(*c); !s.ok()) {
      return Fail("anchor file", s);
    }
  }
  std::cout << consentry::SerializeAuditCheckpoint(*c) << "\n";
  return kExitOk;
}

// "3y", "400d", "72h", "90m" or any absl duration ("1h30m"); false for a
// negative or malformed one.
bool ParseRetentionPeriod(absl::string_view text, absl::Duration* out) {
  const absl::Duration day = absl::Hours(24);
  for (const auto& [suffix, unit] :
       {std::pair<absl::string_view, absl::Duration>{"y", day * 365},
        {"d", day}}) {
    std::int64_t n = 0;
    if (absl::EndsWith(text, suffix) &&
        absl::SimpleAtoi(text.substr(0, text.size() - 1), &n)) {
      if (n < 0) return false;
      *out = unit * n;
      return true;
    }
  }
  return absl::ParseDuration(text, out) && *out >= absl::ZeroDuration() &&
         *out != absl::InfiniteDuration();
}

void PrintRetention(const consentry::AuditRetentionResult& r,
                    const std::string& archive, bool json) {
  if (json) {
    std::cout << "{\"dry_run\":" << (r.dry_run ? "true" : "false")
              << ",\"archived\":" << (r.archived ? "true" : "false")
              << ",\"cutoff\":" << JsonString(TimeText(r.cutoff))
              << ",\"bytes\":" << r.bytes << ",\"segments\":[";
    for (std::size_t i = 0; i < r.removed.size(); ++i) {
      const auto& s = r.removed[i];
      std::cout << (i > 0 ? "," : "") << "{\"number\":" << s.number
                << ",\"records\":" << s.records << ",\"bytes\":" << s.bytes
                << ",\"first_sequence\":" << s.first_sequence << "}";
    }
    std::cout << "],\"leftovers_removed\":" << r.leftovers_removed
              << ",\"summary\":" << JsonString(r.ToString()) << "}\n";
    return;
  }
  const char* verb = r.dry_run ? (r.archived ? "would move" : "would delete")
                               : (r.archived ? "moved" : "deleted");
  std::cout << "cutoff " << TimeText(r.cutoff) << ": sealed segments whose "
            << "every event is older\n";
  for (const auto& s : r.removed) {
    std::cout << absl::StrFormat(
        "  %s %s  %8d records  %10d bytes  %s .. %s\n", verb,
        absl::StrCat("audit-", absl::StrFormat("%016d", s.number), ".seg"),
        s.records, s.bytes,
        s.records > 0 ? TimeText(absl::FromUnixNanos(s.min_time_unix_nanos))
                      : std::string("-"),
        s.records > 0 ? TimeText(absl::FromUnixNanos(s.max_time_unix_nanos))
                      : std::string("-"));
  }
  if (r.archived && !r.removed.empty()) std::cout << "  to " << archive << "\n";
  std::cout << r.ToString() << "\n";
}

int AuditRetain(const std::vector<std::string>& argv) {
  Command cmd{
      "audit retain",
      "DIR",
      "Applies the retention period to the access log in DIR: the sealed "
      "segments whose every event is older than --older-than (never the "
      "last segment) are moved to --archive-dir (copied and synced first) "
      "or, with --delete, deleted, after the checkpoint at the cut is kept "
      "in DIR's retention record. `audit verify` then starts from that "
      "checkpoint. May run while a service writes the log.",
      {{"older-than", "DURATION",
        "retention period: 3y, 400d, 72h or an absl duration", ""},
       {"archive-dir", "D",
        "move removed segments here (an existing directory)", ""},
       {"delete", "", "delete removed segments (instead of --archive-dir)", ""},
       {"dry-run", "", "only print what would move; change nothing", ""},
       KeyFlag(),
       KeyDirFlag(),
       {"signing-key", "FILE",
        "Ed25519 private key (PEM): signs the retention record", ""},
       JsonFlag()},
      1,
      1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  consentry::AuditRetentionOptions o;
  if (!a.Has("older-than") ||
      !ParseRetentionPeriod(a.Get("older-than"), &o.max_age)) {
    return UsageError(cmd,
                      "--older-than must be a non-negative duration (3y, "
                      "400d, 72h)");
  }
  if (a.Has("archive-dir") == a.Bool("delete")) {
    return UsageError(cmd, "give --archive-dir D or --delete");
  }
  o.archive_directory = a.Get("archive-dir");
  o.delete_segments = a.Bool("delete");
  o.dry_run = a.Bool("dry-run");
  if (absl::Status s = ReadKeyFile(a, o.hmac_key); !s.ok()) {
    return Fail("key", s);
  }
  auto key_dir = OpenHmacKeyDir(a);
  if (!key_dir.ok()) return Fail("key", key_dir.status());
  o.hmac_keys = key_dir->get();
  std::unique_ptr<consentry::FileKeyProvider> keys;
  if (a.Has("signing-key")) {
    auto opened = OpenKeyFiles(a.Get("signing-key"), a.Get("signing-key"));
    if (!opened.ok()) return Fail("signing key", opened.status());
    keys = *std::move(opened);
    o.checkpoint_keys = keys.get();
  }
  absl::StatusOr<consentry::AuditRetentionResult> r;
  {
    Ticker ticker(o.dry_run ? "verify" : "retain");
    r = consentry::ApplyAuditRetention(a.positional[0], o);
  }
  if (!r.ok()) return Fail(cmd.name, r.status());
  PrintRetention(*r, o.archive_directory, a.Bool("json"));
  return kExitOk;
}

int AuditTail(const std::vector<std::string>& argv) {
  Command cmd{"audit tail",
              "DIR",
              "Prints the latest events of the log.",
              {{"n", "N", "how many events", "20"}, JsonFlag()},
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  int n = 0;
  if (!absl::SimpleAtoi(a.Get("n"), &n) || n < 0) {
    return UsageError(cmd, "--n must be a non-negative number");
  }
  auto reader = consentry::AuditLogReader::Open(a.positional[0]);
  if (!reader.ok()) return Fail("audit tail", reader.status());
  auto events =
      (*reader)->InTimeRange(absl::InfinitePast(), absl::InfiniteFuture());
  if (!events.ok()) return Fail("audit tail", events.status());
  PrintCoverage("", (*reader)->last_coverage());
  const std::size_t first = events->size() > static_cast<std::size_t>(n)
                                ? events->size() - static_cast<std::size_t>(n)
                                : 0;
  return PrintEvents(*events, first, a.Bool("json"));
}

int ParseRange(const Command& cmd, const ParsedArgs& a, absl::Time& from,
               absl::Time& to) {
  from = absl::InfinitePast();
  to = absl::InfiniteFuture();
  if (a.Has("from")) {
    if (absl::Status s = ParseTimeFlag("from", a.Get("from"), from); !s.ok()) {
      return UsageError(cmd, s.message());
    }
  }
  if (a.Has("to")) {
    if (absl::Status s = ParseTimeFlag("to", a.Get("to"), to); !s.ok()) {
      return UsageError(cmd, s.message());
    }
  }
  if (from >= to) return UsageError(cmd, "--from must be before --to");
  return -1;
}

Flag FromFlag() {
  return {"from", "TIME", "inclusive start (RFC 3339 or YYYY-MM-DD, UTC)", ""};
}
Flag ToFlag() { return {"to", "TIME", "exclusive end", ""}; }

// Most logs a command reads at once.
constexpr int kMaxLogs = 256;

// The filters of `audit query` beyond the index it asked.
bool Wanted(const ParsedArgs& a, const consentry::OwnedAuditEvent& e) {
  if (a.Has("accessor") && e.accessor != a.Get("accessor")) return false;
  return !a.Bool("denied") || !e.allowed();
}

// `audit query` over several logs: merged by time, each event with its
// log's name.
int QueryLogSet(const ParsedArgs& a, absl::Time from, absl::Time to) {
  auto set = consentry::AuditLogSet::Open(a.positional);
  if (!set.ok()) return Fail("audit query", set.status());
  absl::StatusOr<consentry::AuditLogSet::Events> got;
  if (a.Has("subject")) {
    got = (*set)->ForSubject(a.Get("subject"), from, to);
  } else if (a.Has("accessor")) {
    got = (*set)->ForAccessor(a.Get("accessor"), from, to);
  } else {
    got = (*set)->InTimeRange(from, to);
  }
  if (!got.ok()) return Fail("audit query", got.status());
  for (std::size_t i = 0; i < got->coverage.size(); ++i) {
    PrintCoverage((*set)->logs()[i].name, got->coverage[i]);
  }
  const bool json = a.Bool("json");
  bool first = true;
  if (json) std::cout << "[";
  for (std::size_t i = 0; i < got->events.size(); ++i) {
    const consentry::OwnedAuditEvent& e = got->events[i];
    if (!Wanted(a, e)) continue;
    const std::string& log = (*set)->logs()[got->log[i]].name;
    if (json) {
      // The event's object with the log's name as its first member.
      std::cout << (first ? "" : ",") << "{\"log\":" << JsonString(log) << ","
                << EventJson(e).substr(1);
    } else {
      std::cout << "[" << log << "] " << EventLine(e) << "\n";
    }
    first = false;
  }
  if (json) std::cout << "]\n";
  return kExitOk;
}

int AuditQuery(const std::vector<std::string>& argv) {
  Command cmd{"audit query",
              "DIR...",
              "Prints the events for a subject (--subject), by an accessor "
              "(--accessor), or in a time range (--from/--to alone). With "
              "both --subject and --accessor, events matching both. With "
              "several logs (one per service), their events merged by time, "
              "each line starting with its log's name in brackets (\"log\" "
              "in JSON).",
              {{"subject", "ID", "events about this subject", ""},
               {"accessor", "ID", "events by this accessor", ""},
               FromFlag(),
               ToFlag(),
               {"denied", "", "only denials", ""},
               JsonFlag()},
              1,
              kMaxLogs};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  absl::Time from, to;
  if (int rc = ParseRange(cmd, a, from, to); rc >= 0) return rc;
  if (!a.Has("subject") && !a.Has("accessor") && !a.Has("from") &&
      !a.Has("to")) {
    return UsageError(cmd, "give --subject, --accessor or a time range");
  }
  if (a.positional.size() > 1) return QueryLogSet(a, from, to);
  auto reader = consentry::AuditLogReader::Open(a.positional[0]);
  if (!reader.ok()) return Fail("audit query", reader.status());
  absl::StatusOr<std::vector<consentry::OwnedAuditEvent>> events;
  if (a.Has("subject")) {
    events = (*reader)->ForSubject(a.Get("subject"), from, to);
  } else if (a.Has("accessor")) {
    events = (*reader)->ForAccessor(a.Get("accessor"), from, to);
  } else {
    events = (*reader)->InTimeRange(from, to);
  }
  if (!events.ok()) return Fail("audit query", events.status());
  PrintCoverage("", (*reader)->last_coverage());
  std::vector<consentry::OwnedAuditEvent> out;
  for (consentry::OwnedAuditEvent& e : *events) {
    if (!Wanted(a, e)) continue;
    out.push_back(std::move(e));
  }
  return PrintEvents(out, 0, a.Bool("json"));
}

int AuditLeakReport(const std::vector<std::string>& argv) {
  Command cmd{"audit leak-report",
              "DIR...",
              "Learns each accessor's baseline from the events of "
              "--baseline-days before the recent window and flags accessors "
              "whose last --recent-hours depart from it (bulk reads, new "
              "purposes, denial spikes, unusual hours). Exit 1 when any "
              "accessor is flagged.",
              {{"as-of", "TIME", "end of the recent window (default: now)", ""},
               {"recent-hours", "N", "length of the recent window", "24"},
               {"baseline-days", "N", "length of the baseline window", "28"},
               JsonFlag()},
              1,
              kMaxLogs};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  absl::Time now = absl::Now();
  if (a.Has("as-of")) {
    if (absl::Status s = ParseTimeFlag("as-of", a.Get("as-of"), now); !s.ok()) {
      return UsageError(cmd, s.message());
    }
  }
  int hours = 0, days = 0;
  if (!absl::SimpleAtoi(a.Get("recent-hours"), &hours) || hours <= 0 ||
      !absl::SimpleAtoi(a.Get("baseline-days"), &days) || days <= 0) {
    return UsageError(cmd,
                      "--recent-hours and --baseline-days must be "
                      "positive numbers");
  }
  const absl::Time split = now - absl::Hours(hours);
  auto base = ReadEvents(a.positional, split - absl::Hours(24) * days, split);
  if (!base.ok()) return Fail("audit leak-report", base.status());
  auto recent = ReadEvents(a.positional, split, now);
  if (!recent.ok()) return Fail("audit leak-report", recent.status());
  consentry::LeakReport report = consentry::DetectLeaks(*base, *recent);
  if (a.Bool("json")) {
    std::cout << "{\"findings\":[";
    for (std::size_t i = 0; i < report.findings.size(); ++i) {
      const consentry::LeakFinding& f = report.findings[i];
      std::cout << (i ? "," : "") << "{\"accessor\":" << JsonString(f.accessor)
                << ",\"signal\":"
                << JsonString(consentry::LeakSignalName(f.signal))
                << ",\"hour\":" << JsonString(TimeText(f.hour))
                << ",\"observed\":" << f.observed
                << ",\"expected\":" << f.expected
                << ",\"detail\":" << JsonString(f.detail) << "}";
    }
    std::cout << "],\"accessors\":" << report.baselines.size() << "}\n";
  } else {
    std::cout << "baseline " << TimeText(split - absl::Hours(24) * days)
              << " .. " << TimeText(split) << " (" << base->size()
              << " events), recent .. " << TimeText(now) << " ("
              << recent->size() << " events)\n";
    if (report.findings.empty()) std::cout << "no accessor flagged\n";
    for (const consentry::LeakFinding& f : report.findings) {
      std::cout << "FLAG " << f.accessor << "  "
                << consentry::LeakSignalName(f.signal) << "  " << f.detail
                << "\n";
    }
  }
  return report.findings.empty() ? kExitOk : kExitCheckFailed;
}

int AuditLeakScope(const std::vector<std::string>& argv) {
  Command cmd{
      "audit leak-scope",
      "DIR...",
      "Scopes a leak for the report APPI Art. 26 requires: the "
      "subjects, categories and accessors reached in [--from, --to) "
      "by --accessors (or through --record-refs), the reporting "
      "triggers met (Enforcement Rules Art. 7) and the preliminary "
      "and final report deadlines counted from --aware-at.",
      {{"accessors", "A,B", "accessors suspected", ""},
       {"record-refs", "R1,R2", "records suspected", ""},
       FromFlag(),
       ToFlag(),
       {"aware-at", "TIME", "when the business became aware; required", ""},
       {"wrongful-purpose", "", "a wrongful purpose is suspected", ""},
       {"property-damage-risk", "",
        "the data's misuse may cause property damage", ""},
       {"include-denied", "", "count denied reads too", ""},
       JsonFlag()},
      1,
      kMaxLogs};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  consentry::LeakScopeQuery q;
  if (int rc = ParseRange(cmd, a, q.from, q.to); rc >= 0) return rc;
  if (!a.Has("aware-at")) return UsageError(cmd, "--aware-at is required");
  if (absl::Status s = ParseTimeFlag("aware-at", a.Get("aware-at"), q.aware_at);
      !s.ok()) {
    return UsageError(cmd, s.message());
  }
  for (absl::string_view s :
       absl::StrSplit(a.Get("accessors"), ',', absl::SkipEmpty())) {
    q.accessors.emplace_back(s);
  }
  for (absl::string_view s :
       absl::StrSplit(a.Get("record-refs"), ',', absl::SkipEmpty())) {
    q.record_refs.emplace_back(s);
  }
  if (q.accessors.empty() && q.record_refs.empty()) {
    return UsageError(cmd, "give --accessors or --record-refs");
  }
  q.wrongful_purpose = a.Bool("wrongful-purpose");
  q.property_damage_risk = a.Bool("property-damage-risk");
  q.exposed_only = !a.Bool("include-denied");
  auto events = ReadEvents(a.positional, q.from, q.to);
  if (!events.ok()) return Fail("audit leak-scope", events.status());
  auto scope = consentry::ScopeLeak(*events, q);
  if (!scope.ok()) return Fail("audit leak-scope", scope.status());
  if (a.Bool("json")) {
    auto list = [](const std::vector<std::string>& v) {
      std::vector<std::string> q2;
      for (const std::string& s : v) q2.push_back(JsonString(s));
      return "[" + absl::StrJoin(q2, ",") + "]";
    };
    std::vector<std::string> triggers;
    for (consentry::ReportTrigger t : scope->triggers) {
      triggers.push_back(JsonString(consentry::ReportTriggerName(t)));
    }
    std::cout << "{\"events\":" << scope->events
              << ",\"subject_count\":" << scope->subjects.size()
              << ",\"subjects\":" << list(scope->subjects)
              << ",\"categories\":" << list(scope->categories)
              << ",\"accessors\":" << list(scope->accessors)
              << ",\"report_required\":"
              << (scope->report_required() ? "true" : "false")
              << ",\"triggers\":[" << absl::StrJoin(triggers, ",") << "]"
              << ",\"preliminary_deadline\":"
              << JsonString(TimeText(scope->preliminary_deadline))
              << ",\"final_deadline\":"
              << JsonString(TimeText(scope->final_deadline)) << "}\n";
  } else {
    std::cout << scope->Summary();
    if (!scope->Summary().empty() && scope->Summary().back() != '\n') {
      std::cout << "\n";
    }
  }
  return kExitOk;
}

}  // namespace

int RunAudit(const std::string& sub, const std::vector<std::string>& args) {
  if (sub == "verify") return AuditVerify(args, /*repair=*/false);
  if (sub == "retain") return AuditRetain(args);
  if (sub == "repair") return AuditVerify(args, /*repair=*/true);
  if (sub == "tail") return AuditTail(args);
  if (sub == "checkpoint") return AuditCheckpoint(args);
  if (sub == "query") return AuditQuery(args);
  if (sub == "leak-report") return AuditLeakReport(args);
  if (sub == "leak-scope") return AuditLeakScope(args);
  std::cerr << "consentctl: unknown command 'audit " << sub
            << "'\nrun 'consentctl --help' for the list of commands\n";
  return kExitUsage;
}

}  // namespace consentctl
