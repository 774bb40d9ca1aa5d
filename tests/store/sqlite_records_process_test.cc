// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The SQLite record stores across processes: two writer processes
// (records_writer) on one file lose nothing, and a writer killed with
// SIGKILL mid-stream leaves every acknowledged request step and record in
// the file, with each request resuming where it was.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/sqlite_records.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_factories.h"

namespace consentry {
namespace {

// What a writer acknowledged.
struct Acks {
  std::map<std::string, std::int64_t> request_version;  // latest acked
  std::set<std::string> provisions;
  std::set<std::string> receipts;
  std::size_t lines = 0;
};

// A running records_writer.
struct Writer {
  pid_t pid = -1;
  FILE* out = nullptr;
};

Writer Start(const std::string& path, const std::string& tag, int count) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::string prog = CONSENTRY_RECORDS_WRITER;
    std::string a1 = path, a2 = tag, a3 = std::to_string(count);
    char* argv[] = {prog.data(), a1.data(), a2.data(), a3.data(), nullptr};
    execv(prog.c_str(), argv);
    _exit(127);
  }
  close(fds[1]);
  return Writer{pid, fdopen(fds[0], "r")};
}

// Reads the writer's acknowledgements until it ends; kills it with SIGKILL
// once `kill_after` lines arrived (never when 0). Returns its wait status.
int Drain(Writer& w, Acks& acks, std::size_t kill_after) {
  char line[512];
  bool killed = false;
  while (std::fgets(line, sizeof line, w.out) != nullptr) {
    std::istringstream in(line);
    std::string what, id;
    long long version = 0;
    in >> what >> id >> version;
    if (what == "C" || what == "U") acks.request_version[id] = version;
    if (what == "P") acks.provisions.insert(id);
    if (what == "R") acks.receipts.insert(id);
    ++acks.lines;
    if (!killed && kill_after > 0 && acks.lines >= kill_after) {
      kill(w.pid, SIGKILL);
      killed = true;
    }
  }
  std::fclose(w.out);
  int status = 0;
  waitpid(w.pid, &status, 0);
  return status;
}

class RecordsFile {
 public:
  RecordsFile()
      : path_(
            testing::TempPath(testing::UniqueName("consentry_proc") + ".db")) {}
  ~RecordsFile() {
    for (const char* s : {"", "-wal", "-shm"}) {
      std::error_code ec;
      std::filesystem::remove(path_ + s, ec);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Every acknowledged write of `acks` is in the file; each request is at its
// acknowledged version or (a step committed but not yet acknowledged when
// the writer died) one more, with a step per version, and takes its next
// step from there.
void ExpectAllAcknowledged(const std::string& path, const Acks& acks,
                           const std::string& tag) {
  absl::StatusOr<std::unique_ptr<SqliteRequestStore>> requests =
      SqliteRequestStore::Open(path);
  ASSERT_OK(requests);
  absl::StatusOr<std::unique_ptr<SqliteProvisionRecordStore>> records =
      SqliteProvisionRecordStore::Open(path);
  ASSERT_OK(records);
  for (const auto& [id, version] : acks.request_version) {
    absl::StatusOr<v1::SubjectRequest> r = (*requests)->Get(id);
    ASSERT_OK(r) << "acknowledged request " << id << " lost";
    EXPECT_GE(r->version(), version) << id;
    EXPECT_LE(r->version(), version + 1) << id;
    EXPECT_EQ(r->transitions_size(), r->version()) << id;
    if (r->version() < 4) {
      // Resume: the next step builds on what is stored.
      v1::SubjectRequest next = *r;
      next.add_transitions()->set_step("resumed");
      absl::StatusOr<v1::SubjectRequest> n = (*requests)->Update(next);
      ASSERT_OK(n);
      EXPECT_EQ(n->version(), r->version() + 1);
    }
  }
  absl::StatusOr<v1::ProvisionHistory> all = (*records)->Query(RecordFilter{});
  ASSERT_OK(all);
  std::set<std::string> present;
  for (const auto& p : all->provisions()) present.insert(p.id());
  for (const std::string& id : acks.provisions) {
    EXPECT_TRUE(present.count(id))
        << "acknowledged provision " << id << " lost";
  }
  std::set<std::string> receipts;
  for (const auto& p : all->receipts()) receipts.insert(p.id());
  for (const std::string& id : acks.receipts) {
    EXPECT_TRUE(receipts.count(id)) << "acknowledged receipt " << id << " lost";
  }
  // The subject index holds every record of the writer's subjects.
  RecordFilter shared;
  shared.subject = "shared";
  shared.recipient = absl::StrCat("recipient-", tag);
  absl::StatusOr<v1::ProvisionHistory> via_index = (*records)->Query(shared);
  ASSERT_OK(via_index);
  std::size_t mine = 0;
  for (const auto& p : all->provisions()) {
    if (p.recipient_id() == shared.recipient) ++mine;
  }
  EXPECT_EQ(static_cast<std::size_t>(via_index->provisions_size()), mine);
  // One series: one keeping period on every record of it.
  for (const auto& p : via_index->provisions()) {
    EXPECT_EQ(p.retain_until().seconds(),
              via_index->provisions(0).retain_until().seconds());
  }
}

TEST(SqliteRecordsProcessTest, TwoProcessesWriteOneFileAndLoseNothing) {
  RecordsFile f;
  // Create the schema first, so that both writers open a ready file (they
  // would also migrate it safely, one after the other).
  ASSERT_OK(SqliteRequestStore::Open(f.path()));
  Writer a = Start(f.path(), "a", 25);
  Writer b = Start(f.path(), "b", 25);
  Acks acks_a, acks_b;
  EXPECT_EQ(Drain(a, acks_a, 0), 0);
  EXPECT_EQ(Drain(b, acks_b, 0), 0);
  EXPECT_EQ(acks_a.request_version.size(), 25u);
  EXPECT_EQ(acks_b.request_version.size(), 25u);
  // Ids are distinct across the processes.
  std::set<std::string> ids;
  for (const auto& [id, v] : acks_a.request_version) ids.insert(id);
  for (const auto& [id, v] : acks_b.request_version) ids.insert(id);
  EXPECT_EQ(ids.size(), 50u);
  std::set<std::string> pids(acks_a.provisions);
  pids.insert(acks_b.provisions.begin(), acks_b.provisions.end());
  EXPECT_EQ(pids.size(), 50u);
  ExpectAllAcknowledged(f.path(), acks_a, "a");
  ExpectAllAcknowledged(f.path(), acks_b, "b");
}

TEST(SqliteRecordsProcessTest, EveryAcknowledgedStepSurvivesSigkill) {
  // Kill points spread over the write cycle (create, steps, records).
  for (std::size_t kill_after : {7u, 23u, 61u}) {
    SCOPED_TRACE(absl::StrCat("killed after ", kill_after, " writes"));
    RecordsFile f;
    Writer w = Start(f.path(), "k", 1'000'000);
    Acks acks;
    const int status = Drain(w, acks, kill_after);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer ended before it was killed (status " << status << ")";
    ASSERT_GE(acks.lines, kill_after);
    ExpectAllAcknowledged(f.path(), acks, "k");
  }
}

}  // namespace
}  // namespace consentry
