// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include <iostream>

#include "consentctl_commands.h"

namespace consentctl {

int RunAudit(const std::string& sub, const std::vector<std::string>&) {
  std::cerr << "consentctl: audit " << sub << ": not built\n";
  return kExitUsage;
}

int RunReport(const std::vector<std::string>&) {
  std::cerr << "consentctl: report: not built\n";
  return kExitUsage;
}

}  // namespace consentctl
