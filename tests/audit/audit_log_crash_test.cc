// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A writer process is killed with SIGKILL at random points; after each kill
// the log verifies (after trimming a torn tail, if any) and holds every
// event whose write was acknowledged, with its content.

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "consentry/audit_log.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

struct Child {
  pid_t pid = -1;
  int out = -1;
};

Child Spawn(const std::string& dir, int seed) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const std::string seed_arg = std::to_string(seed);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl(CONSENTRY_CRASH_WRITER, CONSENTRY_CRASH_WRITER, dir.c_str(),
          seed_arg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  return Child{pid, fds[0]};
}

TEST(AuditLogCrashTest, AcknowledgedEventsSurviveSigkill) {
  std::string dir = ::testing::TempDir() + "/consentry_crash_XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  std::mt19937 rng(5);
  std::uint64_t acknowledged = 0;
  int torn_tails = 0;
  for (int round = 0; round < 12; ++round) {
    Child child = Spawn(dir, round + 1);
    ASSERT_GT(child.pid, 0);
    // Kill after a random number of acknowledgements (0 kills during start-
    // up), then after a random extra delay inside the next batch.
    const int acks_before_kill = static_cast<int>(rng() % 25);
    int acks = 0;
    std::string pending;
    char buf[4096];
    while (acks < acks_before_kill) {
      const ssize_t n = read(child.out, buf, sizeof(buf));
      if (n <= 0) break;
      pending.append(buf, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        std::uint64_t v = 0;
        ASSERT_TRUE(absl::SimpleAtoi(pending.substr(0, nl), &v)) << pending;
        EXPECT_GE(v, acknowledged);
        acknowledged = std::max(acknowledged, v);
        pending.erase(0, nl + 1);
        ++acks;
      }
    }
    usleep(static_cast<useconds_t>(rng() % 3000));
    kill(child.pid, SIGKILL);
    // Acknowledgements already in the pipe count too.
    while (true) {
      const ssize_t n = read(child.out, buf, sizeof(buf));
      if (n <= 0) break;
      pending.append(buf, static_cast<std::size_t>(n));
    }
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::uint64_t v = 0;
      if (absl::SimpleAtoi(pending.substr(0, nl), &v)) {
        acknowledged = std::max(acknowledged, v);
      }
      pending.erase(0, nl + 1);
    }
    close(child.out);
    int status = 0;
    ASSERT_EQ(waitpid(child.pid, &status, 0), child.pid);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "writer exited by itself with " << WEXITSTATUS(status);

    absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(dir);
    ASSERT_OK(report);
    if (!report->ok()) {
      ASSERT_EQ(report->defect, AuditDefect::kTornTail) << report->ToString();
      ++torn_tails;
      report = RepairAuditLog(dir);
      ASSERT_OK(report);
      ASSERT_TRUE(report->ok()) << report->ToString();
    }
    ASSERT_GE(report->records_verified, acknowledged) << "round " << round;

    auto reader = *AuditLogReader::Open(dir);
    absl::StatusOr<std::vector<OwnedAuditEvent>> all =
        reader->InTimeRange(absl::InfinitePast(), absl::InfiniteFuture());
    ASSERT_OK(all);
    ASSERT_EQ(all->size(), report->records_verified);
    for (std::size_t i = 0; i < all->size(); ++i) {
      ASSERT_EQ((*all)[i].sequence, i);
      ASSERT_EQ((*all)[i].subject, absl::StrCat("seq-", i));
    }
  }
  EXPECT_GT(acknowledged, 0u);
  RecordProperty("torn_tails", torn_tails);
  RecordProperty("acknowledged", static_cast<int>(acknowledged));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace consentry
