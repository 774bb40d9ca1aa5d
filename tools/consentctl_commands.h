// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: consentctl_commands.h
// -----------------------------------------------------------------------------
//
// The subcommand groups of `consentctl`, each in its own file, and the store
// and registry opening they share. Each `Run*` takes the subcommand name (e.g.
// "show") and the words after it, and returns the exit status.

#ifndef CONSENTRY_TOOLS_CONSENTCTL_COMMANDS_H_
#define CONSENTRY_TOOLS_CONSENTCTL_COMMANDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "consentctl_cli.h"
#include "consentry/consent.h"
#include "consentry/policy.h"
#include "consentry/recipients.h"

namespace consentctl {

// Opens the consent store named by --postgres (when set) or --sqlite.
// Errors: those of `SqliteConsentStore::Open` / `PostgresConsentStore::Open`.
absl::StatusOr<std::unique_ptr<consentry::ConsentStore>> OpenStore(
    const ParsedArgs& args, bool create_if_missing);

// The recipient registry of --registry, checked against --policy (which
// it keeps a reference to).
struct LoadedRegistry {
  std::shared_ptr<const consentry::CompiledPolicy> policy;
  std::unique_ptr<const consentry::RecipientRegistry> registry;
};

// Loads --policy and --registry; a failure is reported as `policy_what` or
// `registry_what`. Returns the exit status: `kExitOk` with `out` filled, or
// that of the failure.
int LoadRegistry(const ParsedArgs& a, absl::string_view policy_what,
                 absl::string_view registry_what, LoadedRegistry& out);

int RunRequest(const std::string& sub, const std::vector<std::string>& args);
int RunReceipt(const std::string& sub, const std::vector<std::string>& args);
int RunAudit(const std::string& sub, const std::vector<std::string>& args);
int RunReport(const std::vector<std::string>& args);
// Governance (consentctl_governance.cc): `policy show`, `policy announce`,
// `recipients monitor`; each takes the words after the subcommand name.
int PolicyShow(const std::vector<std::string>& args);
int PolicyAnnounce(const std::vector<std::string>& args);
int RecipientsMonitor(const std::vector<std::string>& args);
// Records (consentctl_records.cc): `recipients records`, `add-records`,
// `purge`, on the store of --sqlite / --postgres.
int RecipientsRecords(const std::vector<std::string>& args);
int RecipientsAddRecords(const std::vector<std::string>& args);
int RecipientsPurge(const std::vector<std::string>& args);

}  // namespace consentctl

#endif  // CONSENTRY_TOOLS_CONSENTCTL_COMMANDS_H_
