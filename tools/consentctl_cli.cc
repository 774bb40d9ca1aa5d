// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentctl_cli.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/util/file_io.h"

namespace consentctl {

bool ParsedArgs::Has(absl::string_view flag) const {
  return values.find(std::string(flag)) != values.end();
}

std::string ParsedArgs::Get(absl::string_view flag,
                            absl::string_view def) const {
  auto it = values.find(std::string(flag));
  return it == values.end() ? std::string(def) : it->second;
}

bool ParsedArgs::Bool(absl::string_view flag) const {
  return Get(flag) == "true";
}

std::vector<std::string> ParsedArgs::All(absl::string_view flag) const {
  auto it = repeated.find(std::string(flag));
  return it == repeated.end() ? std::vector<std::string>{} : it->second;
}

Flag JsonFlag() {
  return {"json", "", "machine-readable JSON output on stdout", ""};
}
Flag SqliteFlag() {
  return {"sqlite", "PATH", "the SQLite consent store file (the default store)",
          "consent.db"};
}
Flag PostgresFlag() {
  return {"postgres", "CONNINFO",
          "a libpq connection string; used instead of --sqlite", ""};
}
Flag PgSchemaFlag() {
  return {"pg-schema", "NAME",
          "with --postgres: the schema holding the store's tables",
          "consentry"};
}
Flag PgStandbyFlag() {
  return {"pg-standby", "CONNINFO",
          "a hot standby to read consent from (repeatable; alone: read-only, "
          "no --postgres primary)",
          "", /*repeatable=*/true};
}
Flag PolicyFlag(bool required) {
  return {"policy", "FILE",
          required ? "the policy (textproto, JSON or binary); required"
                   : "the policy (textproto, JSON or binary)",
          ""};
}

void PrintHelp(const Command& cmd) {
  std::cout << "usage: consentctl " << cmd.name;
  if (!cmd.flags.empty()) std::cout << " [flags]";
  if (!cmd.positional.empty()) std::cout << " " << cmd.positional;
  std::cout << "\n\n" << cmd.summary << "\n";
  if (!cmd.flags.empty()) {
    std::cout << "\nflags:\n";
    for (const Flag& f : cmd.flags) {
      std::string left = "  --" + f.name;
      if (!f.value_name.empty()) left += "=" + f.value_name;
      std::cout << absl::StrFormat("%-28s %s", left, f.help);
      if (!f.default_value.empty()) {
        std::cout << " (default: " << f.default_value << ")";
      }
      std::cout << "\n";
    }
  }
  std::cout << "  --help                       this help\n";
}

int UsageError(const Command& cmd, absl::string_view message) {
  std::cerr << "consentctl " << cmd.name << ": " << message << "\n"
            << "usage: consentctl " << cmd.name
            << (cmd.flags.empty() ? "" : " [flags]")
            << (cmd.positional.empty() ? "" : " ") << cmd.positional << "\n"
            << "run 'consentctl " << cmd.name << " --help' for details\n";
  return kExitUsage;
}

namespace {

// Flags that name two answers to one question; a command that declares both
// refuses them together rather than silently preferring one.
constexpr std::pair<absl::string_view, absl::string_view> kConflicts[] = {
    {"sqlite", "postgres"},       {"sqlite", "pg-schema"},
    {"sqlite", "pg-standby"},     {"intake", "kind"},
    {"intake", "subject"},        {"intake", "requester"},
    {"intake", "purposes"},       {"intake", "all-purposes"},
    {"intake", "identifier"},     {"intake", "details"},
    {"purposes", "all-purposes"},
};

}  // namespace

int Parse(const Command& cmd, const std::vector<std::string>& args,
          ParsedArgs& out) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      PrintHelp(cmd);
      return kExitOk;
    }
    if (a == "--") {
      for (++i; i < args.size(); ++i) out.positional.push_back(args[i]);
      break;
    }
    if (!absl::StartsWith(a, "--")) {
      out.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::string value;
    bool has_value = false;
    if (std::size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : cmd.flags) {
      if (f.name == name) flag = &f;
    }
    if (flag == nullptr) return UsageError(cmd, "unknown flag --" + name);
    if (flag->repeatable && !flag->value_name.empty()) {
      if (!has_value) {
        if (i + 1 >= args.size()) {
          return UsageError(
              cmd, "--" + name + " needs a value (" + flag->value_name + ")");
        }
        value = args[++i];
      }
      out.values[name] = value;
      out.repeated[name].push_back(value);
      continue;
    }
    if (out.Has(name)) {
      // A repeated flag is a mistake either way: the first value would be
      // silently lost.
      return UsageError(cmd, "--" + name + " is given more than once");
    }
    if (flag->value_name.empty()) {
      if (has_value && value != "true" && value != "false") {
        return UsageError(cmd, "--" + name + " takes no value");
      }
      out.values[name] = has_value ? value : "true";
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return UsageError(
            cmd, "--" + name + " needs a value (" + flag->value_name + ")");
      }
      value = args[++i];
    }
    out.values[name] = value;
  }
  for (const auto& [first, second] : kConflicts) {
    if (out.Has(first) && out.Has(second)) {
      return UsageError(cmd, absl::StrCat("--", first, " and --", second,
                                          " cannot be used together"));
    }
  }
  for (const Flag& f : cmd.flags) {
    if (!f.default_value.empty() && !out.Has(f.name)) {
      out.values[f.name] = f.default_value;
    }
  }
  const int n = static_cast<int>(out.positional.size());
  if (n < cmd.min_positional) {
    return UsageError(cmd, "missing argument: expected " + cmd.positional);
  }
  if (n > cmd.max_positional) {
    return UsageError(
        cmd, "unexpected argument '" +
                 out.positional[static_cast<std::size_t>(cmd.max_positional)] +
                 "'");
  }
  return -1;
}

int Fail(absl::string_view what, const absl::Status& status) {
  std::cerr << "consentctl: " << what << ": " << status << "\n";
  return kExitCheckFailed;
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += "\"";
  return out;
}

std::string TimeText(absl::Time t) {
  if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

absl::Status ParseTimeFlag(absl::string_view flag, absl::string_view value,
                           absl::Time& out) {
  std::string err;
  absl::Time t;
  if (absl::ParseTime(absl::RFC3339_full, value, &t, &err) ||
      absl::ParseTime("%Y-%m-%d", value, absl::UTCTimeZone(), &t, &err)) {
    // absl also parses "infinite-future" and years far outside what a
    // timestamp can hold; a time flag takes years 1 to 9999 only.
    static const absl::Time kMin = absl::FromCivil(
        absl::CivilSecond(1, 1, 1, 0, 0, 0), absl::UTCTimeZone());
    static const absl::Time kMax = absl::FromCivil(
        absl::CivilSecond(10000, 1, 1, 0, 0, 0), absl::UTCTimeZone());
    if (t >= kMin && t < kMax) {
      out = t;
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": '", value, "' is outside the years 0001 to 9999"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, ": '", value,
                   "' is not an RFC 3339 time or a YYYY-MM-DD date"));
}

Progress::Progress(std::string label, std::int64_t total)
    : label_(std::move(label)),
      total_(total),
      enabled_(isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() { Done(); }

void Progress::Update(std::int64_t done) {
  if (!enabled_ || finished_) return;
  absl::Time now = absl::Now();
  if (now - last_ < absl::Milliseconds(100) && done != total_) return;
  last_ = now;
  if (total_ > 0) {
    std::fprintf(stderr, "\r%s: %lld/%lld (%d%%)", label_.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_),
                 static_cast<int>(done * 100 / total_));
  } else {
    std::fprintf(stderr, "\r%s: %lld", label_.c_str(),
                 static_cast<long long>(done));
  }
  std::fflush(stderr);
}

void Progress::Done() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  if (last_ != absl::InfinitePast()) std::fprintf(stderr, "\n");
}

absl::Status WriteOutput(const std::string& path, absl::string_view data) {
  if (path == "-" || path.empty()) {
    std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
    std::cout.flush();
    return std::cout ? absl::OkStatus()
                     : absl::InternalError("cannot write to stdout");
  }
  // A temporary file created exclusively under a fresh name (never
  // through a file or symlink planted there), synced, renamed over `path`,
  // and the directory synced.
  return consentry::internal::WriteFileAtomically(path, data);
}

}  // namespace consentctl
