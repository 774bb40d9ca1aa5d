// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: consentctl_cli.h
// -----------------------------------------------------------------------------
//
// The small argument parser and output helpers shared by the `consentctl`
// subcommands. Abseil's flags are process-global and cannot give each
// subcommand its own `--help` and its own set of accepted flags, so the tool
// parses its argv itself: every command declares its flags in a `Command`,
// and anything undeclared is a usage error (exit 2).
//
// Example:
//
//   Command cmd{"policy lint", "FILE", "Validates a policy.", {kJsonFlag}};
//   ParsedArgs args;
//   if (int rc = Parse(cmd, argc, argv, args); rc >= 0) return rc;

#ifndef CONSENTRY_TOOLS_CONSENTCTL_CLI_H_
#define CONSENTRY_TOOLS_CONSENTCTL_CLI_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace consentctl {

// Exit statuses of the tool.
inline constexpr int kExitOk = 0;
inline constexpr int kExitCheckFailed = 1;  // denied, tampered, invalid, error
inline constexpr int kExitUsage = 2;

struct Flag {
  std::string name;        // without "--"
  std::string value_name;  // empty: a boolean flag
  std::string help;
  std::string default_value;
  // May be given more than once; every value is kept (`ParsedArgs::All`).
  bool repeatable = false;
};

// One subcommand: its name as typed ("consent grant"), its positional
// arguments as shown in the usage line, a description, and its flags.
struct Command {
  std::string name;
  std::string positional;  // e.g. "SUBJECT PURPOSE"
  std::string summary;
  std::vector<Flag> flags;
  int min_positional = 0;
  int max_positional = 0;
};

// What `Parse` produced. Thread-compatible value.
struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // flag -> value ("true" for bool)
  // Every value of a repeatable flag, in the order given.
  std::map<std::string, std::vector<std::string>> repeated;

  bool Has(absl::string_view flag) const;
  // The value, or the flag's default when absent.
  std::string Get(absl::string_view flag, absl::string_view def = "") const;
  bool Bool(absl::string_view flag) const;
  // Every value of the repeatable `flag` (empty when absent).
  std::vector<std::string> All(absl::string_view flag) const;
};

// Common flags.
Flag JsonFlag();
Flag SqliteFlag();
Flag PostgresFlag();
Flag PgSchemaFlag();
// --pg-standby=CONNINFO, repeatable: hot standbys the consent store reads
// from (with --postgres as the primary, or alone: read-only).
Flag PgStandbyFlag();
Flag PolicyFlag(bool required);

// Parses `args` (the words after the subcommand name) against `cmd`.
// Returns -1 when the command should run; otherwise the exit status to
// return at once (0 after printing --help, 2 after a usage error, which is
// printed to stderr with the usage line). Usage errors: an unknown flag, a
// flag given twice, two flags that conflict (`--sqlite` with `--postgres`
// or `--pg-schema`, `--intake` with the flags that fill an intake,
// `--purposes` with `--all-purposes`), a missing value, too few or too
// many positional arguments.
int Parse(const Command& cmd, const std::vector<std::string>& args,
          ParsedArgs& out);

// Prints the help of `cmd` to stdout.
void PrintHelp(const Command& cmd);

// Prints "consentctl: <what>: <status>" to stderr and returns kExitCheckFailed.
int Fail(absl::string_view what, const absl::Status& status);
// Prints a usage error for `cmd` and returns kExitUsage.
int UsageError(const Command& cmd, absl::string_view message);

// JSON string literal of `s` (quotes included).
std::string JsonString(absl::string_view s);
// RFC 3339 UTC time, or "" for an infinite time.
std::string TimeText(absl::Time t);
// Parses RFC 3339 ("2026-11-28T10:00:00Z") or a plain date ("2026-11-28",
// midnight UTC) in the years 0001 to 9999. Errors: `kInvalidArgument`
// naming the flag and the value.
absl::Status ParseTimeFlag(absl::string_view flag, absl::string_view value,
                           absl::Time& out);

// A progress line on stderr, only when stderr is a terminal.
class Progress {
 public:
  Progress(std::string label, std::int64_t total);
  ~Progress();
  void Update(std::int64_t done);
  void Done();

 private:
  std::string label_;
  std::int64_t total_;
  bool enabled_;
  bool finished_ = false;
  absl::Time last_ = absl::InfinitePast();
};

// Writes `data` to `path` ("-" for stdout) atomically and durably: an
// exclusively created temporary file in the same directory, synced, then
// renamed over `path` and the directory synced. A symlink planted at any
// temporary name is never followed.
absl::Status WriteOutput(const std::string& path, absl::string_view data);

}  // namespace consentctl

#endif  // CONSENTRY_TOOLS_CONSENTCTL_CLI_H_
