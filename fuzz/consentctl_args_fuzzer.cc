// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// consentctl's argument and time parsing. Input: a word list (each word
// from a vocabulary of the command's flags, or arbitrary bytes) and a time
// string. Properties: Parse never crashes and returns -1 (run), 0 (help)
// or 2 (usage error); when it lets the command run, no flag was given
// twice, no conflicting pair was given, the positional count is in range
// and every value came from the words; a time that ParseTimeFlag accepts
// is finite, in the years 0001-9999, and reads back from TimeText to the
// same millisecond.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <iostream>
#include <map>
#include <streambuf>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "consentctl_cli.h"
#include "fuzz/fuzz_support.h"

namespace {

using consentctl::Command;
using consentctl::ParsedArgs;

const Command& TheCommand() {
  static const Command* const cmd =
      new Command{"fuzz cmd",
                  "A [B]",
                  "a command with every kind of flag",
                  {consentctl::JsonFlag(),
                   consentctl::SqliteFlag(),
                   consentctl::PostgresFlag(),
                   consentctl::PgSchemaFlag(),
                   consentctl::PolicyFlag(false),
                   {"from", "TIME", "from", ""},
                   {"to", "TIME", "to", ""},
                   {"aware-at", "TIME", "aware", ""},
                   {"intake", "FILE", "intake", ""},
                   {"kind", "KIND", "kind", ""},
                   {"purposes", "P", "purposes", ""},
                   {"all-purposes", "", "all", ""}},
                  1,
                  2};
  return *cmd;
}

const char* const kWords[] = {
    "--json",
    "--json=true",
    "--json=false",
    "--json=maybe",
    "--sqlite",
    "--sqlite=a.db",
    "--postgres",
    "--postgres=host=x",
    "--pg-schema",
    "--pg-schema=s",
    "--policy",
    "--from",
    "--to=2026-11-20",
    "--aware-at",
    "--intake=i.json",
    "--kind",
    "--purposes=a,b",
    "--all-purposes",
    "--help",
    "-h",
    "--",
    "--bogus",
    "x",
    "2026-11-19T18:00:00Z",
    "=",
    "--=",
};

}  // namespace

// Discards what the parser prints (usage errors, help).
class NullBuffer final : public std::streambuf {
 protected:
  int overflow(int c) override { return c; }
};

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  static NullBuffer sink;
  std::cout.rdbuf(&sink);
  std::cerr.rdbuf(&sink);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string time_text = in.ConsumeRandomLengthString(64);
  std::vector<std::string> args;
  const int n = in.ConsumeIntegralInRange(0, 12);
  for (int i = 0; i < n && in.remaining_bytes() > 0; ++i) {
    if (in.ConsumeBool()) {
      args.push_back(kWords[in.ConsumeIntegralInRange<std::size_t>(
          0, sizeof(kWords) / sizeof(kWords[0]) - 1)]);
    } else {
      args.push_back(in.ConsumeRandomLengthString(24));
    }
  }

  ParsedArgs parsed;
  const int rc = consentctl::Parse(TheCommand(), args, parsed);
  CONSENTRY_FUZZ_CHECK(
      rc == -1 || rc == consentctl::kExitOk || rc == consentctl::kExitUsage,
      "exit status " + std::to_string(rc));
  if (rc == -1) {
    // Count how often each flag was given before a "--".
    std::map<std::string, int> given;
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a == "--") break;
      if (!absl::StartsWith(a, "--")) continue;
      std::string name =
          a.substr(2, a.find('=') == std::string::npos ? std::string::npos
                                                       : a.find('=') - 2);
      ++given[name];
      for (const auto& f : TheCommand().flags) {
        if (f.name == name && !f.value_name.empty() &&
            a.find('=') == std::string::npos) {
          ++i;  // its value
        }
      }
    }
    for (const auto& [name, count] : given) {
      CONSENTRY_FUZZ_CHECK(count == 1, "--" + name + " accepted twice");
    }
    CONSENTRY_FUZZ_CHECK(!(given.count("sqlite") && given.count("postgres")),
                         "--sqlite with --postgres accepted");
    CONSENTRY_FUZZ_CHECK(!(given.count("sqlite") && given.count("pg-schema")),
                         "--sqlite with --pg-schema accepted");
    CONSENTRY_FUZZ_CHECK(
        !(given.count("purposes") && given.count("all-purposes")),
        "--purposes with --all-purposes accepted");
    const std::size_t pos = parsed.positional.size();
    CONSENTRY_FUZZ_CHECK(pos >= 1 && pos <= 2,
                         "positional count " + std::to_string(pos));
    for (const auto& [flag, value] : parsed.values) {
      bool declared = false;
      for (const auto& f : TheCommand().flags) declared |= f.name == flag;
      CONSENTRY_FUZZ_CHECK(declared, "undeclared flag --" + flag + " kept");
    }
  }

  absl::Time t;
  const absl::Status s = consentctl::ParseTimeFlag("from", time_text, t);
  if (s.ok()) {
    CONSENTRY_FUZZ_CHECK(
        t != absl::InfiniteFuture() && t != absl::InfinitePast(), time_text);
    const std::string text = consentctl::TimeText(t);
    CONSENTRY_FUZZ_CHECK(!text.empty(), time_text);
    absl::Time back;
    CONSENTRY_FUZZ_CHECK(consentctl::ParseTimeFlag("from", text, back).ok(),
                         time_text + " -> " + text);
    CONSENTRY_FUZZ_CHECK(
        back == absl::FromUnixMillis(absl::ToUnixMillis(t)) ||
            // ToUnixMillis rounds toward zero; TimeText floors.
            back == absl::FromUnixMillis(absl::ToUnixMillis(t) - 1),
        time_text + " -> " + text);
  } else {
    CONSENTRY_FUZZ_CHECK(absl::IsInvalidArgument(s), s.ToString());
    CONSENTRY_FUZZ_CHECK(absl::StrContains(s.message(), "--from"),
                         s.ToString());
  }
  return 0;
}
