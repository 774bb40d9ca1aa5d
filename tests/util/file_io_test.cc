// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "src/util/file_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fault_injection_fs.h"

namespace consentry::internal {
namespace {

namespace fs = std::filesystem;
using ::consentry::testing::FaultInjectionFileSystem;

class FileIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "file_io_XXXXXX").string();
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const {
    return (fs::path(dir_) / name).string();
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void Put(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
  }

  std::string dir_;
};

TEST_F(FileIoTest, AtomicWriteReplacesContent) {
  ASSERT_TRUE(WriteFileAtomically(Path("a"), "one").ok());
  ASSERT_TRUE(WriteFileAtomically(Path("a"), "two").ok());
  EXPECT_EQ(Slurp(Path("a")), "two");
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST_F(FileIoTest, AtomicWriteNeverWritesThroughAPlantedTmpSymlink) {
  // The old scheme wrote `path + ".tmp"` with O_TRUNC and followed a
  // symlink planted there.
  Put(Path("victim"), "precious");
  fs::create_symlink(Path("victim"), Path("out.tmp"));
  ASSERT_TRUE(WriteFileAtomically(Path("out"), "data").ok());
  EXPECT_EQ(Slurp(Path("victim")), "precious");
  EXPECT_EQ(Slurp(Path("out")), "data");
}

TEST_F(FileIoTest, AtomicWriteReplacesASymlinkAtTheTargetInsteadOfFollowingIt) {
  Put(Path("victim"), "precious");
  fs::create_symlink(Path("victim"), Path("out"));
  ASSERT_TRUE(WriteFileAtomically(Path("out"), "data").ok());
  EXPECT_EQ(Slurp(Path("victim")), "precious");
  EXPECT_FALSE(fs::is_symlink(Path("out")));
  EXPECT_EQ(Slurp(Path("out")), "data");
}

TEST_F(FileIoTest, NewFileRefusesAnExistingFileOrSymlink) {
  Put(Path("victim"), "precious");
  fs::create_symlink(Path("victim"), Path("link"));
  EXPECT_FALSE(FileSystem::Default()->NewFile(Path("link")).ok());
  EXPECT_FALSE(FileSystem::Default()->NewFile(Path("victim")).ok());
  EXPECT_EQ(Slurp(Path("victim")), "precious");
}

TEST_F(FileIoTest, ReadRegularFileRefusesDirectoriesDevicesAndFifos) {
  absl::StatusOr<std::string> d = ReadRegularFile(dir_);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(d.status().message()), ::testing::HasSubstr(dir_));
  EXPECT_EQ(ReadRegularFile("/dev/zero").status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(mkfifo(Path("fifo").c_str(), 0600), 0);
  EXPECT_EQ(ReadRegularFile(Path("fifo")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadRegularFile(Path("missing")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FileIoTest, ReadRegularFileEnforcesItsSizeLimit) {
  Put(Path("big"), std::string(1000, 'x'));
  EXPECT_EQ(ReadRegularFile(Path("big"), 999).status().code(),
            absl::StatusCode::kResourceExhausted);
  absl::StatusOr<std::string> ok = ReadRegularFile(Path("big"), 1000);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 1000u);
  Put(Path("empty"), "");
  EXPECT_EQ(*ReadRegularFile(Path("empty")), "");
}

TEST_F(FileIoTest, PowerLossDropsUnsyncedAppendsAndUnsyncedCreations) {
  FaultInjectionFileSystem fault;
  // Created, synced, directory synced, then more appended without a sync.
  auto a = fault.NewFile(Path("a"));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Append("durable").ok());
  ASSERT_TRUE((*a)->Sync().ok());
  ASSERT_TRUE(fault.SyncDir(dir_).ok());
  ASSERT_TRUE((*a)->Append("-lost").ok());
  // Created and synced, but its directory never synced: the name is lost.
  auto b = fault.NewFile(Path("b"));
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->Append("x").ok());
  ASSERT_TRUE((*b)->Sync().ok());

  fault.PowerCut();
  EXPECT_EQ((*a)->Append("after").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*a)->Sync().code(), absl::StatusCode::kUnavailable);
  a->reset();
  b->reset();
  ASSERT_TRUE(fault.DropUnsyncedData().ok());
  EXPECT_EQ(Slurp(Path("a")), "durable");
  EXPECT_FALSE(fs::exists(Path("b")));
}

TEST_F(FileIoTest, PowerLossUndoesARenameWhoseDirectoryWasNotSynced) {
  Put(Path("target"), "old");
  FaultInjectionFileSystem fault;
  auto t = fault.NewFile(Path("tmp"));
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE((*t)->Append("new").ok());
  ASSERT_TRUE((*t)->Sync().ok());
  ASSERT_TRUE((*t)->Close().ok());
  ASSERT_TRUE(fault.Rename(Path("tmp"), Path("target")).ok());
  EXPECT_EQ(Slurp(Path("target")), "new");
  fault.PowerCut();
  ASSERT_TRUE(fault.DropUnsyncedData().ok());
  EXPECT_EQ(Slurp(Path("target")), "old");
}

TEST_F(FileIoTest, AtomicWriteSurvivesPowerLossOnceItReturns) {
  Put(Path("target"), "old");
  FaultInjectionFileSystem fault;
  ASSERT_TRUE(WriteFileAtomically(fault, Path("target"), "new").ok());
  fault.PowerCut();
  ASSERT_TRUE(fault.DropUnsyncedData().ok());
  EXPECT_EQ(Slurp(Path("target")), "new");
}

// The harness must be able to see a missing sync: the same steps as
// `WriteFileAtomically` without the final directory sync lose the write.
TEST_F(FileIoTest, PowerLossCatchesAnAtomicWriteWithoutItsDirectorySync) {
  Put(Path("target"), "old");
  FaultInjectionFileSystem fault;
  auto t = fault.NewFile(Path("target.tmp-1"));
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE((*t)->Append("new").ok());
  ASSERT_TRUE((*t)->Sync().ok());
  ASSERT_TRUE((*t)->Close().ok());
  ASSERT_TRUE(fault.Rename(Path("target.tmp-1"), Path("target")).ok());
  fault.PowerCut();
  ASSERT_TRUE(fault.DropUnsyncedData().ok());
  EXPECT_EQ(Slurp(Path("target")), "old");
}

TEST_F(FileIoTest, DefaultFileSystemCanBeReplacedForTests) {
  FaultInjectionFileSystem fault;
  {
    consentry::testing::ScopedFileSystem scoped(&fault);
    EXPECT_EQ(FileSystem::Default(), &fault);
    ASSERT_TRUE(WriteFileAtomically(Path("x"), "1").ok());
    EXPECT_GT(fault.syncs(), 0);
  }
  EXPECT_EQ(FileSystem::Default(), FileSystem::Posix());
}

}  // namespace
}  // namespace consentry::internal
