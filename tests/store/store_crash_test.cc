// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A write that returned is durable: a writer process (store_writer) applies
// a stream of changes and prints each acknowledged revision; the test kills
// it with SIGKILL mid-stream, reopens the store and finds every
// acknowledged write in the history.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/consent.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_factories.h"

namespace consentry {
namespace {

std::string StoreParamName(
    const ::testing::TestParamInfo<testing::StoreKind>& p) {
  return testing::KindName(p.param);
}

using ::consentry::testing::StoreKind;
using ::consentry::testing::StoreLocation;

// Runs the writer with `args`, reads acknowledgements until `kill_after`
// arrived, kills it, then drains what it had already printed. Returns
// index -> revision of every acknowledged write.
std::map<int, Revision> RunAndKill(const std::vector<std::string>& args,
                                   int kill_after) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    std::string prog = CONSENTRY_STORE_WRITER;
    argv.push_back(prog.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(prog.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  FILE* in = fdopen(fds[0], "r");
  std::map<int, Revision> acked;
  int index = 0;
  long long rev = 0;
  bool killed = false;
  while (std::fscanf(in, "%d %lld", &index, &rev) == 2) {
    acked[index] = rev;
    if (!killed && static_cast<int>(acked.size()) >= kill_after) {
      kill(pid, SIGKILL);
      killed = true;
    }
  }
  std::fclose(in);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(killed) << "the writer ended before it was killed (status "
                      << status << ")";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  return acked;
}

class StoreCrashTest : public ::testing::TestWithParam<StoreKind> {};

TEST_P(StoreCrashTest, EveryAcknowledgedWriteSurvivesSigkill) {
  StoreLocation location(GetParam());
  std::vector<std::string> args;
  if (GetParam() == StoreKind::kSqlite) {
    args = {"sqlite", location.target(), "1000000"};
  } else {
    absl::StatusOr<std::string> conn = testing::PgConnInfo();
    ASSERT_OK(conn);
    // Create the schema first, so the writer does not race the reader.
    ASSERT_OK(location.Open());
    args = {"postgres", *conn, location.target(), "1000000"};
  }
  const std::map<int, Revision> acked = RunAndKill(args, 150);
  ASSERT_GE(acked.size(), 150u);

  absl::StatusOr<std::unique_ptr<ConsentStore>> store = location.Open();
  ASSERT_OK(store);
  // Every acknowledged revision is in its subject's history, with the
  // change that produced it.
  std::map<std::string, std::map<Revision, std::string>> history;
  for (int s = 0; s < 50; ++s) {
    const std::string subject = absl::StrCat("w-", s);
    absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> h =
        (*store)->History(subject);
    ASSERT_OK(h);
    for (const v1::ConsentHistoryEntry& e : *h) {
      history[subject][e.revision()] =
          e.change().purpose_consent().evidence_ref();
    }
  }
  for (const auto& [index, rev] : acked) {
    const std::string subject = absl::StrCat("w-", index % 50);
    auto it = history[subject].find(rev);
    ASSERT_NE(it, history[subject].end())
        << "acknowledged write " << index << " at revision " << rev << " lost";
    EXPECT_EQ(it->second, absl::StrCat("write-", index));
  }
  absl::StatusOr<Revision> latest = (*store)->LatestRevision();
  ASSERT_OK(latest);
  EXPECT_GE(*latest, acked.rbegin()->second);
}

// Starts the writer with `args`, its output discarded; returns its pid.
pid_t Spawn(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::FILE* null = std::freopen("/dev/null", "w", stdout);
    (void)null;
    std::vector<char*> argv;
    std::string prog = CONSENTRY_STORE_WRITER;
    argv.push_back(prog.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(prog.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// Two processes add different restrictions to one subject at the same
// time through `AddRestrictions` (compare-and-set, re-read and retry, as
// `RequestDesk` writes them): every one of both survives, with its request.
TEST_P(StoreCrashTest, TwoProcessesAddingRestrictionsLoseNone) {
  StoreLocation location(GetParam());
  constexpr int kEach = 25;
  std::vector<std::string> base;
  if (GetParam() == StoreKind::kSqlite) {
    base = {"sqlite", location.target(), absl::StrCat(kEach)};
  } else {
    absl::StatusOr<std::string> conn = testing::PgConnInfo();
    ASSERT_OK(conn);
    base = {"postgres", *conn, location.target(), absl::StrCat(kEach)};
  }
  // Create the store first, so the writers do not race its creation.
  absl::StatusOr<std::unique_ptr<ConsentStore>> store = location.Open();
  ASSERT_OK(store);
  std::vector<pid_t> pids;
  for (const char* prefix : {"a", "b"}) {
    std::vector<std::string> args = base;
    args.push_back("restrict");
    args.push_back(prefix);
    pids.push_back(Spawn(args));
  }
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "writer status " << status;
  }
  absl::StatusOr<v1::ConsentRecord> r = (*store)->Get("shared");
  ASSERT_OK(r);
  std::map<std::string, std::string> request_of;
  for (const v1::RestrictionEntry& e : r->restrictions().entries()) {
    request_of[e.purpose()] = e.request_id();
  }
  EXPECT_EQ(r->restrictions().suspended_purposes_size(), 2 * kEach);
  for (const char* prefix : {"a", "b"}) {
    for (int i = 0; i < kEach; ++i) {
      const std::string purpose = absl::StrCat(prefix, "-", i);
      EXPECT_EQ(request_of[purpose], absl::StrCat(prefix, "-req-", i))
          << purpose << " lost";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(DurableStores, StoreCrashTest,
                         ::testing::Values(StoreKind::kSqlite,
                                           StoreKind::kPostgres),
                         StoreParamName);

}  // namespace
}  // namespace consentry
