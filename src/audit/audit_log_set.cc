// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// AuditLogSet: several services' access logs queried as one. Each query
// runs on every log's `AuditLogReader` and merges the answers by time.

#include "consentry/audit_log_set.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/audit/audit_format.h"
#include "src/util/status_macros.h"

namespace consentry {
namespace {

// The last path component of `dir`, trailing slashes ignored.
std::string LogName(absl::string_view dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  const std::size_t slash = dir.rfind('/');
  return std::string(slash == absl::string_view::npos ? dir
                                                      : dir.substr(slash + 1));
}

// True when `dir` lists as a log directory with at least one segment.
absl::StatusOr<bool> HoldsLog(const std::string& dir) {
  absl::StatusOr<internal::AuditDirListing> listing =
      internal::ListAuditDir(dir);
  if (!listing.ok()) return listing.status();
  return !listing->segments.empty();
}

}  // namespace

struct AuditLogSet::Impl {
  std::vector<Log> logs;
  std::vector<std::unique_ptr<AuditLogReader>> readers;
  Stats stats;

  absl::Status Named(std::size_t i, const absl::Status& s) const {
    return absl::Status(
        s.code(), absl::StrCat("audit log set: log '", logs[i].name, "' (",
                               logs[i].directory, "): ", s.message()));
  }

  // Runs `query` on every log and merges the answers by time.
  template <typename Query>
  absl::StatusOr<Events> Run(Query query) {
    stats = Stats();
    Events out;
    for (std::size_t i = 0; i < readers.size(); ++i) {
      absl::StatusOr<std::vector<OwnedAuditEvent>> got = query(*readers[i]);
      if (!got.ok()) return Named(i, got.status());
      const Stats& s = readers[i]->last_stats();
      stats.segments_scanned += s.segments_scanned;
      stats.segments_indexed += s.segments_indexed;
      stats.segments_skipped += s.segments_skipped;
      stats.indexes_rejected += s.indexes_rejected;
      stats.frames_read += s.frames_read;
      out.coverage.push_back(readers[i]->last_coverage());
      for (OwnedAuditEvent& e : *got) {
        out.events.push_back(std::move(e));
        out.log.push_back(i);
      }
    }
    // Order by time; a stable sort keeps each log's own order for equal
    // times, and the logs' order among them.
    std::vector<std::size_t> order(out.events.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(
        order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
          return out.events[a].time_unix_nanos < out.events[b].time_unix_nanos;
        });
    Events sorted;
    sorted.coverage = std::move(out.coverage);
    sorted.events.reserve(order.size());
    sorted.log.reserve(order.size());
    for (std::size_t k : order) {
      sorted.events.push_back(std::move(out.events[k]));
      sorted.log.push_back(out.log[k]);
    }
    return sorted;
  }
};

AuditLogSet::AuditLogSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuditLogSet::~AuditLogSet() = default;

absl::StatusOr<std::unique_ptr<AuditLogSet>> AuditLogSet::Open(
    const std::vector<std::string>& directories) {
  if (directories.empty()) {
    return absl::InvalidArgumentError("audit log set: no log directory given");
  }
  auto impl = std::make_unique<Impl>();
  absl::flat_hash_set<std::string> names;
  for (const std::string& dir : directories) {
    Log log{LogName(dir), dir};
    if (log.name.empty() || !names.insert(log.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "audit log set: two logs are named '", log.name, "' (", dir,
          "): each log's directory needs its own last path component"));
    }
    absl::StatusOr<bool> holds = HoldsLog(dir);
    if (!holds.ok()) {
      return absl::Status(
          holds.status().code(),
          absl::StrCat("audit log set: ", holds.status().message()));
    }
    if (!*holds) {
      return absl::NotFoundError(absl::StrCat("audit log set: '", dir,
                                              "' holds no audit log segment"));
    }
    absl::StatusOr<std::unique_ptr<AuditLogReader>> reader =
        AuditLogReader::Open(dir);
    if (!reader.ok()) {
      return absl::Status(reader.status().code(),
                          absl::StrCat("audit log set: log '", log.name,
                                       "': ", reader.status().message()));
    }
    impl->logs.push_back(std::move(log));
    impl->readers.push_back(*std::move(reader));
  }
  return std::unique_ptr<AuditLogSet>(new AuditLogSet(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<AuditLogSet>> AuditLogSet::OpenRoot(
    absl::string_view root) {
  const std::string r(root);
  DIR* d = opendir(r.c_str());
  if (d == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "audit log set: cannot open the directory of logs '", r, "'"));
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string name(e->d_name);
    if (name == "." || name == "..") continue;
    names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  std::vector<std::string> dirs;
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(r, "/", name);
    struct stat st;
    // Real directories only: a symlink under the root is not followed.
    if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    absl::StatusOr<bool> holds = HoldsLog(path);
    if (holds.ok() && *holds) dirs.push_back(path);
  }
  if (dirs.empty()) {
    return absl::NotFoundError(
        absl::StrCat("audit log set: no audit log under '", r, "'"));
  }
  return Open(dirs);
}

const std::vector<AuditLogSet::Log>& AuditLogSet::logs() const {
  return impl_->logs;
}

const AuditLogSet::Stats& AuditLogSet::last_stats() const {
  return impl_->stats;
}

absl::StatusOr<AuditLogSet::Events> AuditLogSet::ForSubject(
    absl::string_view subject, absl::Time from, absl::Time to) {
  return impl_->Run(
      [&](AuditLogReader& r) { return r.ForSubject(subject, from, to); });
}

absl::StatusOr<AuditLogSet::Events> AuditLogSet::ForAccessor(
    absl::string_view accessor, absl::Time from, absl::Time to) {
  return impl_->Run(
      [&](AuditLogReader& r) { return r.ForAccessor(accessor, from, to); });
}

absl::StatusOr<AuditLogSet::Events> AuditLogSet::InTimeRange(absl::Time from,
                                                             absl::Time to) {
  return impl_->Run([&](AuditLogReader& r) { return r.InTimeRange(from, to); });
}

absl::StatusOr<std::vector<AuditVerifyReport>> AuditLogSet::VerifyAll(
    absl::FunctionRef<AuditVerifyOptions(const Log&)> options_for) {
  std::vector<AuditVerifyReport> out;
  for (std::size_t i = 0; i < impl_->logs.size(); ++i) {
    const AuditVerifyOptions options = options_for(impl_->logs[i]);
    absl::StatusOr<AuditVerifyReport> report =
        VerifyAuditLog(impl_->logs[i].directory, options);
    if (!report.ok()) return impl_->Named(i, report.status());
    out.push_back(*std::move(report));
  }
  return out;
}

}  // namespace consentry
