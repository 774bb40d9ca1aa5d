// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// `consentctl recipients records | add-records | purge`: the records of
// provision to and receipt from third parties (APPI Art. 29, 30) in the
// store the flags name (consentctl_stores.h), and their audited purge once
// their keeping period has ended.

#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "consentctl_cli.h"
#include "consentctl_commands.h"
#include "consentctl_sources.h"
#include "consentctl_stores.h"
#include "consentry/proto_io.h"
#include "consentry/recipients.h"
#include "consentry/v1/recipient.pb.h"
#include "google/protobuf/util/time_util.h"

namespace consentctl {
namespace {

namespace v1 = ::consentry::v1;
using google::protobuf::util::TimeUtil;

std::vector<Flag> StoreFlagsOnly() {
  return {SqliteFlag(), PostgresFlag(), PgSchemaFlag()};
}

std::string Until(const google::protobuf::Timestamp& t) {
  return t.seconds() == 0 && t.nanos() == 0 ? "-" : TimeUtil::ToString(t);
}

void PrintHistory(const v1::ProvisionHistory& h) {
  for (const v1::ProvisionRecord& p : h.provisions()) {
    std::cout << p.id() << "  provided "
              << TimeUtil::ToString(p.provision_time()) << "  to "
              << p.recipient_id();
    if (!p.recipient_name().empty())
      std::cout << " (" << p.recipient_name() << ")";
    std::cout << "  purpose " << (p.purpose().empty() ? "-" : p.purpose())
              << "  subjects " << absl::StrJoin(p.subjects(), ",")
              << "  categories " << absl::StrJoin(p.categories(), ",")
              << "  kept until " << Until(p.retain_until()) << "\n";
  }
  for (const v1::ReceiptRecord& r : h.receipts()) {
    std::cout << r.id() << "  received " << TimeUtil::ToString(r.receipt_time())
              << "  from " << r.provider_name() << "  subjects "
              << absl::StrJoin(r.subjects(), ",") << "  categories "
              << absl::StrJoin(r.categories(), ",") << "  kept until "
              << Until(r.retain_until()) << "\n";
  }
  if (h.provisions().empty() && h.receipts().empty()) {
    std::cout << "no records\n";
  }
}

}  // namespace

int RecipientsRecords(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = StoreFlagsOnly();
  flags.push_back({"subject", "ID", "the records that name this subject", ""});
  flags.push_back({"recipient", "ID",
                   "the provisions to this recipient and the receipts from "
                   "this provider",
                   ""});
  flags.push_back(JsonFlag());
  Command cmd{"recipients records",
              "",
              "Prints the records of provision to and receipt from third "
              "parties in the store, oldest first, with the time each is kept "
              "until (one of --subject or --recipient).",
              flags,
              0,
              0};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  if (a.Has("subject") == a.Has("recipient")) {
    return UsageError(cmd, "give one of --subject or --recipient");
  }
  consentry::RecordFilter filter;
  filter.subject = a.Get("subject");
  filter.recipient = a.Get("recipient");
  if ((a.Has("subject") && filter.subject.empty()) ||
      (a.Has("recipient") && filter.recipient.empty())) {
    return UsageError(cmd, "--subject and --recipient must not be empty");
  }
  auto stores = OpenStores(a, /*create_if_missing=*/false);
  if (!stores.ok()) return Fail("open store", stores.status());
  absl::StatusOr<v1::ProvisionHistory> h = stores->records->Query(filter);
  if (!h.ok()) return Fail("recipients records", h.status());
  if (a.Bool("json")) {
    auto out = consentry::SerializeMessage(*h, consentry::WireFormat::kJson);
    if (!out.ok()) return Fail("output", out.status());
    std::cout << *out << "\n";
    return kExitOk;
  }
  PrintHistory(*h);
  return kExitOk;
}

int RecipientsAddRecords(const std::vector<std::string>& argv) {
  Command cmd{"recipients add-records",
              "FILE",
              "Files the provision and receipt records of FILE (a "
              "consentry.v1.ProvisionHistory: textproto, JSON, binary) in the "
              "store, e.g. those kept by hand before the library recorded "
              "them. Every record is checked before any is added, and "
              "they are added all or none.",
              StoreFlagsOnly(),
              1,
              1};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  const std::string path = a.positional[0];
  auto format = consentry::FormatFromPath(path);
  if (!format.ok()) return Fail("recipients add-records", format.status());
  auto data = consentry::ReadFileToString(path);
  if (!data.ok()) return Fail("recipients add-records", data.status());
  v1::ProvisionHistory h;
  if (absl::Status s = consentry::ParseMessage(*data, *format, h, path);
      !s.ok()) {
    return Fail("recipients add-records", s);
  }
  if (absl::Status s = consentry::ValidateProvisionHistory(h); !s.ok()) {
    return Fail(absl::StrCat("recipients add-records ", path), s);
  }
  auto stores = OpenStores(a, /*create_if_missing=*/true);
  if (!stores.ok()) return Fail("open store", stores.status());
  // All or none: a failure part way (a duplicate id, a lost server) leaves
  // the store as it was.
  absl::StatusOr<std::vector<std::string>> ids =
      stores->records->AddRecords(std::move(h));
  if (!ids.ok()) {
    return Fail(
        absl::StrCat("recipients add-records ", path, " (nothing was added)"),
        ids.status());
  }
  for (const std::string& id : *ids) std::cout << "added " << id << "\n";
  return kExitOk;
}

int RecipientsPurge(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = StoreFlagsOnly();
  flags.push_back({"as-of", "TIME",
                   "remove the records whose keeping period ended by then "
                   "(RFC 3339 or YYYY-MM-DD; not later than now; default now)",
                   ""});
  flags.push_back({"audit-dir", "DIR",
                   "the access log the purge is recorded in (required)", ""});
  flags.push_back(
      {"hmac-key-file", "FILE", "the HMAC key of the access log", ""});
  flags.push_back({"hmac-key-dir", "DIR",
                   "the HMAC keys of the access log by id (CURRENT and "
                   "<id>.key files, hex)",
                   ""});
  flags.push_back({"actor", "NAME", "who purges", "consentctl"});
  flags.push_back(JsonFlag());
  Command cmd{"recipients purge",
              "",
              "Removes the provision and receipt records whose keeping period "
              "(APPI Art. 30(3)) has ended, after recording in the access log "
              "exactly which; prints the ids removed.",
              flags,
              0,
              0};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  if (!a.Has("audit-dir") || a.Get("audit-dir").empty()) {
    return UsageError(cmd, "--audit-dir is required: a purge is audited");
  }
  const absl::Time now = absl::Now();
  absl::Time as_of = now;
  if (a.Has("as-of")) {
    if (absl::Status s = ParseTimeFlag("as-of", a.Get("as-of"), as_of);
        !s.ok()) {
      return UsageError(cmd, s.message());
    }
    if (as_of > now) {
      return UsageError(cmd,
                        "--as-of is in the future: a purge removes only the "
                        "records whose keeping period has already ended");
    }
  }
  auto stores = OpenStores(a, /*create_if_missing=*/false);
  if (!stores.ok()) return Fail("open store", stores.status());
  auto sources = OpenSources(a, stores->consent.get(), stores->records.get());
  if (!sources.ok()) return Fail("open access log", sources.status());
  absl::StatusOr<consentry::PurgeResult> removed =
      consentry::PurgeExpiredRecords(*stores->records, (*sources)->audit(),
                                     a.Get("actor"), as_of);
  if (!removed.ok()) return Fail("recipients purge", removed.status());
  if (a.Bool("json")) {
    std::vector<std::string> p, r;
    for (const std::string& id : removed->provision_ids)
      p.push_back(JsonString(id));
    for (const std::string& id : removed->receipt_ids)
      r.push_back(JsonString(id));
    std::cout << "{\"as_of\":" << JsonString(TimeText(as_of))
              << ",\"provisions\":[" << absl::StrJoin(p, ",")
              << "],\"receipts\":[" << absl::StrJoin(r, ",") << "]}\n";
    return kExitOk;
  }
  for (const std::string& id : removed->provision_ids) {
    std::cout << "removed " << id << "\n";
  }
  for (const std::string& id : removed->receipt_ids) {
    std::cout << "removed " << id << "\n";
  }
  std::cout << "purged " << removed->provision_ids.size() << " provision and "
            << removed->receipt_ids.size() << " receipt records due at "
            << TimeText(as_of) << "\n";
  return kExitOk;
}

}  // namespace consentctl
