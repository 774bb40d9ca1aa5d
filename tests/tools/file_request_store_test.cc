// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The file request store consentctl keeps: durability across a simulated
// power loss, and concurrent writers (threads and processes) on one
// directory.

#include "tools/file_request_store.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/proto_io.h"
#include "consentry/requests.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/util/file_io.h"
#include "tests/testing/fault_injection_fs.h"
#include "tests/testing/status_matchers.h"

namespace consentctl {
namespace {

namespace v1 = ::consentry::v1;
using ::consentry::testing::FaultInjectionFileSystem;
using ::consentry::testing::ScopedFileSystem;
using ::consentry::testing::StatusIs;

std::string FreshDir(const std::string& name) {
  const std::string dir =
      ::testing::TempDir() + "/" + name + "-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::shared_ptr<const consentry::CompiledPolicy> Policy() {
  static const auto policy = [] {
    auto p = consentry::LoadAndCompilePolicy("../policies/default.textproto");
    if (!p.ok()) std::abort();
    return *p;
  }();
  return policy;
}

v1::SubjectRequest Intake(const std::string& subject) {
  v1::SubjectRequest r;
  r.set_kind(v1::REQUEST_KIND_PURPOSE_NOTICE);
  r.set_subject_id(subject);
  r.mutable_requester()->set_name("Yamada Hanako");
  return r;
}

// A desk over a file store in `dir`, with its own consent store and sink.
struct Desk {
  explicit Desk(const std::string& dir) : store(dir) {
    auto d = consentry::RequestDesk::Create(Policy(), &consent, &store, &audit);
    if (!d.ok()) std::abort();
    desk = *std::move(d);
  }
  // The step after the request's state, by number of steps done so far.
  absl::StatusOr<v1::SubjectRequest> Advance(const std::string& id, int done) {
    const std::string subject = "s-" + id;
    switch (done) {
      case 0:
        return desk->SendForm(id, "desk");
      case 1:
        return desk->RecordFormReturned(id, "mailroom");
      case 2: {
        auto r = desk->Get(id);
        if (!r.ok()) return r.status();
        if (r->fee().amount_jpy() > 0) {
          return desk->RecordFeePaid(id, "accounts", "ref");
        }
        return desk->Refuse(id, "desk",
                            v1::REFUSAL_GROUND_WITHDRAWN_BY_REQUESTER, "x");
      }
      default:
        return desk->Refuse(id, "desk",
                            v1::REFUSAL_GROUND_WITHDRAWN_BY_REQUESTER, "done");
    }
  }
  consentry::InMemoryConsentStore consent;
  consentry::InMemoryAuditSink audit;
  FileRequestStore store;
  std::unique_ptr<consentry::RequestDesk> desk;
};

// Forwards to a FaultInjectionFileSystem and cuts the power at the
// `cut_at`-th call (file creations, appends, syncs, renames, removals).
class CuttingFileSystem final : public consentry::internal::FileSystem {
 public:
  CuttingFileSystem(FaultInjectionFileSystem* base, int cut_at)
      : base_(base), cut_at_(cut_at) {}
  void Tick() {
    if (++calls_ == cut_at_) base_->PowerCut();
  }
  absl::StatusOr<std::unique_ptr<consentry::internal::WritableFile>> NewFile(
      const std::string& path) override {
    Tick();
    auto f = base_->NewFile(path);
    if (!f.ok()) return f.status();
    return std::unique_ptr<consentry::internal::WritableFile>(
        new File(this, *std::move(f)));
  }
  absl::StatusOr<std::unique_ptr<consentry::internal::WritableFile>>
  OpenForAppend(const std::string& path) override {
    Tick();
    return base_->OpenForAppend(path);
  }
  absl::Status SyncDir(const std::string& dir) override {
    Tick();
    return base_->SyncDir(dir);
  }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    Tick();
    return base_->Rename(from, to);
  }
  absl::Status Remove(const std::string& path) override {
    Tick();
    return base_->Remove(path);
  }
  absl::Status Truncate(const std::string& path, std::uint64_t size) override {
    Tick();
    return base_->Truncate(path, size);
  }

 private:
  class File final : public consentry::internal::WritableFile {
   public:
    File(CuttingFileSystem* fs,
         std::unique_ptr<consentry::internal::WritableFile> base)
        : fs_(fs), base_(std::move(base)) {}
    absl::Status Append(absl::string_view data) override {
      fs_->Tick();
      return base_->Append(data);
    }
    absl::Status Sync() override {
      fs_->Tick();
      return base_->Sync();
    }
    absl::Status Close() override { return base_->Close(); }
    const std::string& path() const override { return base_->path(); }

   private:
    CuttingFileSystem* const fs_;
    const std::unique_ptr<consentry::internal::WritableFile> base_;
  };

  FaultInjectionFileSystem* const base_;
  const int cut_at_;
  int calls_ = 0;
};

// Creates and advances requests on a file system that loses power at a
// random point; after the unsynced data is dropped, every acknowledged
// request state is there, no file is half-written or unreadable, and no
// request appears that was never attempted.
TEST(FileRequestStoreTest, AcknowledgedStatesSurvivePowerLoss) {
  std::mt19937 rng(20261204);
  for (int round = 0; round < 20; ++round) {
    const std::string dir = FreshDir(absl::StrCat("power-", round));
    FaultInjectionFileSystem fault;
    CuttingFileSystem cutting(&fault, 1 + static_cast<int>(rng() % 80));
    std::map<std::string, std::int64_t> acked;  // id -> version
    int attempted_creates = 0;
    {
      ScopedFileSystem scoped(&cutting);
      Desk d(dir);
      for (int op = 0; op < 25; ++op) {
        if (acked.empty() || rng() % 3 == 0) {
          ++attempted_creates;
          auto r = d.desk->Receive(Intake(absl::StrCat("s", op)), "desk");
          if (r.ok()) acked[r->id()] = r->version();
          continue;
        }
        auto it = acked.begin();
        std::advance(it, static_cast<long>(rng() % acked.size()));
        auto r = d.Advance(it->first, static_cast<int>(it->second - 1));
        if (r.ok()) it->second = r->version();
      }
    }
    ASSERT_OK(fault.DropUnsyncedData());
    FileRequestStore reopened(dir);
    for (const auto& [id, version] : acked) {
      absl::StatusOr<v1::SubjectRequest> r = reopened.Get(id);
      ASSERT_OK(r) << "round " << round << " " << id;
      // The acknowledged version, or the one write after it that was in
      // flight when the power went.
      EXPECT_GE(r->version(), version) << "round " << round << " " << id;
      EXPECT_LE(r->version(), version + 1) << "round " << round << " " << id;
    }
    const std::vector<v1::SubjectRequest> all = reopened.All();
    EXPECT_THAT(reopened.TakeProblems(), ::testing::IsEmpty())
        << "round " << round;
    EXPECT_LE(all.size(), static_cast<std::size_t>(attempted_creates));
    EXPECT_GE(all.size(), acked.size());
    std::filesystem::remove_all(dir);
  }
}

// --- Concurrency ------------------------------------------------------------

// Takes `n` new requests from receipt to refusal; returns their ids.
std::vector<std::string> Work(const std::string& dir, int n,
                              const std::string& tag) {
  Desk d(dir);
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    auto r = d.desk->Receive(Intake(absl::StrCat(tag, "-", i)), "desk");
    if (!r.ok()) return {};
    ids.push_back(r->id());
    for (int step = 0; step < 4; ++step) {
      auto s = d.Advance(r->id(), step);
      if (!s.ok()) return {};
      if (s->state() == v1::REQUEST_STATE_REFUSED) break;
    }
  }
  return ids;
}

void ExpectAllRefusedAndUnique(const std::string& dir, std::size_t want) {
  FileRequestStore store(dir);
  const std::vector<v1::SubjectRequest> all = store.All();
  EXPECT_THAT(store.TakeProblems(), ::testing::IsEmpty());
  ASSERT_EQ(all.size(), want);
  std::set<std::string> ids, subjects;
  for (const v1::SubjectRequest& r : all) {
    ids.insert(r.id());
    subjects.insert(r.subject_id());
    EXPECT_EQ(r.state(), v1::REQUEST_STATE_REFUSED) << r.id();
    EXPECT_OK(consentry::ValidateRequestRecord(r));
  }
  EXPECT_EQ(ids.size(), want);
  EXPECT_EQ(subjects.size(), want);
}

TEST(FileRequestStoreConcurrencyTest, ThreadsShareOneDirectory) {
  const std::string dir = FreshDir("threads");
  constexpr int kThreads = 4;
  constexpr int kEach = 5;
  std::vector<std::vector<std::string>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      got[static_cast<std::size_t>(t)] = Work(dir, kEach, absl::StrCat("t", t));
    });
  }
  for (std::thread& t : threads) t.join();
  for (const auto& ids : got) EXPECT_EQ(ids.size(), std::size_t{kEach});
  ExpectAllRefusedAndUnique(dir, kThreads * kEach);
  std::filesystem::remove_all(dir);
}

TEST(FileRequestStoreConcurrencyTest, ProcessesShareOneDirectory) {
  const std::string dir = FreshDir("processes");
  constexpr int kProcesses = 3;
  constexpr int kEach = 5;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const bool ok =
          Work(dir, kEach, absl::StrCat("p", p)).size() == std::size_t{kEach};
      ::_exit(ok ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  ExpectAllRefusedAndUnique(dir, kProcesses * kEach);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace consentctl
