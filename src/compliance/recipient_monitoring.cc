// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Monitoring results of recipients (recipients.h): their checks, the
// monitoring log kept next to the registry, and its crash-safe update.

#include "src/compliance/recipient_monitoring.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "consentry/proto_io.h"
#include "consentry/recipients.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/util/time_util.h"
#include "src/core/timestamp_range.h"
#include "src/util/file_io.h"

namespace consentry {
namespace internal {
namespace {

constexpr std::size_t kMaxMonitoringText = 4096;
constexpr int kMaxFindings = 100;

// The caller names what was being checked ("monitoring result",
// "recipient registry") in front of the path.
absl::Status Invalid(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

absl::Status CheckText(const std::string& value, const std::string& path) {
  if (value.size() > kMaxMonitoringText) {
    return Invalid(path, absl::StrCat(value.size(), " bytes; at most ",
                                      kMaxMonitoringText));
  }
  if (!google::protobuf::internal::IsStructurallyValidUTF8(
          value.data(), static_cast<int>(value.size()))) {
    return Invalid(path,
                   absl::StrCat("'", absl::CHexEscape(value.substr(0, 64)),
                                "' is not valid UTF-8"));
  }
  return absl::OkStatus();
}

absl::Status CheckTime(const google::protobuf::Timestamp& t,
                       const std::string& path) {
  if (!InTimestampRange(t)) return Invalid(path, TimestampRangeError(t));
  return absl::OkStatus();
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const std::int64_t ns = absl::ToUnixNanos(t);
  std::int64_t s = ns / 1'000'000'000;
  std::int64_t n = ns % 1'000'000'000;
  if (n < 0) {
    n += 1'000'000'000;
    --s;
  }
  out->set_seconds(s);
  out->set_nanos(static_cast<std::int32_t>(n));
}

// An exclusive lock on `path` (created if absent) for as long as it lives:
// serialises the read-append-replace of concurrent recorders, in threads
// and processes. The lock file is separate from the log, which is replaced
// by rename and so changes inode.
class FileLock {
 public:
  static absl::StatusOr<FileLock> Acquire(const std::string& path) {
    const int fd =
        ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(errno, "open lock file", path);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return ErrnoStatus(err, "lock", path);
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace

absl::Status CheckMonitoringResult(const v1::MonitoringResult& result,
                                   const std::string& at) {
  if (absl::Status s = CheckText(result.recipient_id(), at + ".recipient_id");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckText(result.monitored_by(), at + ".monitored_by");
      !s.ok()) {
    return s;
  }
  if (absl::StripAsciiWhitespace(result.monitored_by()).empty()) {
    return Invalid(at + ".monitored_by", "must name who monitored");
  }
  if (!result.has_time()) {
    return Invalid(at + ".time", "must say when the monitoring took place");
  }
  if (absl::Status s = CheckTime(result.time(), at + ".time"); !s.ok()) {
    return s;
  }
  if (result.has_recorded_time()) {
    if (absl::Status s =
            CheckTime(result.recorded_time(), at + ".recorded_time");
        !s.ok()) {
      return s;
    }
  }
  if (result.outcome() == v1::MONITORING_OUTCOME_UNSPECIFIED ||
      !v1::MonitoringOutcome_IsValid(result.outcome())) {
    return Invalid(
        at + ".outcome",
        absl::StrCat("unknown or unspecified outcome ", result.outcome()));
  }
  if (result.findings_size() > kMaxFindings) {
    return Invalid(at + ".findings",
                   absl::StrCat(result.findings_size(), " findings; at most ",
                                kMaxFindings));
  }
  for (int i = 0; i < result.findings_size(); ++i) {
    if (absl::Status s = CheckText(result.findings(i),
                                   absl::StrCat(at, ".findings[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  if (result.outcome() == v1::MONITORING_OUTCOME_FAILED &&
      result.findings_size() == 0) {
    return Invalid(at + ".findings", "a failed monitoring must state findings");
  }
  return absl::OkStatus();
}

const v1::MonitoringResult* LatestMonitoringResult(const v1::Recipient& r,
                                                   absl::Time as_of) {
  const v1::MonitoringResult* latest = nullptr;
  for (const v1::MonitoringResult& m : r.monitoring_results()) {
    if (FromProto(m.time()) > as_of) continue;
    if (latest == nullptr || FromProto(m.time()) >= FromProto(latest->time())) {
      latest = &m;
    }
  }
  return latest;
}

}  // namespace internal

std::string MonitoringLogPath(absl::string_view registry_path) {
  absl::string_view stem = registry_path;
  const std::size_t slash = stem.rfind('/');
  const std::size_t dot = stem.rfind('.');
  if (dot != absl::string_view::npos &&
      (slash == absl::string_view::npos || dot > slash + 1)) {
    stem = stem.substr(0, dot);
  }
  return absl::StrCat(stem, ".monitoring.textproto");
}

absl::Status ApplyMonitoringLog(const v1::MonitoringLog& log,
                                v1::RecipientRegistry& registry) {
  absl::flat_hash_map<std::string, int> index;
  for (int i = 0; i < registry.recipients_size(); ++i) {
    index.emplace(registry.recipients(i).id(), i);
  }
  for (int i = 0; i < log.results_size(); ++i) {
    const v1::MonitoringResult& m = log.results(i);
    auto it = index.find(m.recipient_id());
    if (it == index.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("monitoring log: results[", i, "].recipient_id: '",
                       absl::CHexEscape(m.recipient_id()),
                       "' names no recipient of the registry"));
    }
    *registry.mutable_recipients(it->second)->add_monitoring_results() = m;
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::MonitoringLog> LoadMonitoringLog(const std::string& path) {
  v1::MonitoringLog log;
  absl::StatusOr<std::string> data = internal::ReadRegularFile(path);
  if (absl::IsNotFound(data.status())) return log;
  if (!data.ok()) return data.status();
  if (absl::Status s = ParseMessage(*data, WireFormat::kText, log, path);
      !s.ok()) {
    return s;
  }
  return log;
}

absl::StatusOr<absl::Time> RecordMonitoringResult(
    const std::string& log_path, const RecipientRegistry& registry,
    v1::MonitoringResult result, absl::Time now) {
  const v1::Recipient* r = registry.Find(result.recipient_id());
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("RecordMonitoringResult: unknown recipient '",
                     absl::CHexEscape(result.recipient_id()), "'"));
  }
  if (absl::Status s = internal::CheckMonitoringResult(result, "result");
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("monitoring result: ", s.message()));
  }
  if (internal::FromProto(result.time()) > now) {
    return absl::InvalidArgumentError(absl::StrCat(
        "monitoring result: result.time: ",
        absl::FormatTime(internal::FromProto(result.time())),
        " is in the future; record a monitoring after it took place"));
  }
  internal::ToProto(now, result.mutable_recorded_time());

  absl::StatusOr<internal::FileLock> lock =
      internal::FileLock::Acquire(log_path + ".lock");
  if (!lock.ok()) return lock.status();
  absl::StatusOr<v1::MonitoringLog> log = LoadMonitoringLog(log_path);
  if (!log.ok()) return log.status();
  *log->add_results() = result;
  absl::StatusOr<std::string> text = SerializeMessage(*log, WireFormat::kText);
  if (!text.ok()) return text.status();
  const std::string data = absl::StrCat(
      "# proto-file: proto/consentry/v1/recipient.proto\n"
      "# proto-message: consentry.v1.MonitoringLog\n"
      "#\n"
      "# Monitoring results of the recipients, written by\n"
      "# RecordMonitoringResult (consentctl recipients monitor).\n",
      *text);
  if (absl::Status s = internal::WriteFileAtomically(log_path, data); !s.ok()) {
    return s;
  }
  v1::Recipient updated = *r;
  *updated.add_monitoring_results() = std::move(result);
  return RecipientRegistry::MonitoringDue(updated);
}

}  // namespace consentry
