// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/proto_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::SourcePath;
using ::consentry::testing::StatusIs;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

v1::ConsentRecord LoadRecord(const std::string& file, WireFormat format) {
  absl::StatusOr<std::string> data = ReadFileToString(SourcePath(file));
  EXPECT_TRUE(data.ok()) << data.status();
  absl::StatusOr<v1::ConsentRecord> r = ParseConsentRecord(*data, format, file);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : v1::ConsentRecord();
}

TEST(ProtoIoTest, TextAndJsonFormsLoadTheSameRecord) {
  v1::ConsentRecord text =
      LoadRecord("tests/testdata/consent_record.textproto", WireFormat::kText);
  v1::ConsentRecord json =
      LoadRecord("tests/testdata/consent_record.json", WireFormat::kJson);
  EXPECT_EQ(text.subject_id(), "member-0001");
  EXPECT_EQ(text.revision(), 42);
  ASSERT_EQ(text.purposes_size(), 3);
  EXPECT_EQ(text.purposes(2).occasion_id(), "study-2026-a");
  EXPECT_TRUE(text.restrictions().third_party_provision_stopped());
  EXPECT_TRUE(MessageDifferencer::Equals(text, json))
      << text.DebugString() << "\nvs\n"
      << json.DebugString();
}

TEST(ProtoIoTest, EveryFormRoundTrips) {
  v1::ConsentRecord text =
      LoadRecord("tests/testdata/consent_record.textproto", WireFormat::kText);
  for (WireFormat f :
       {WireFormat::kBinary, WireFormat::kJson, WireFormat::kText}) {
    absl::StatusOr<std::string> bytes = SerializeMessage(text, f);
    ASSERT_OK(bytes);
    absl::StatusOr<v1::ConsentRecord> back = ParseConsentRecord(*bytes, f);
    ASSERT_OK(back);
    EXPECT_TRUE(MessageDifferencer::Equals(text, *back)) << static_cast<int>(f);
  }
}

TEST(ProtoIoTest, TruncatedBinaryIsRejected) {
  v1::ConsentRecord text =
      LoadRecord("tests/testdata/consent_record.textproto", WireFormat::kText);
  std::string bytes = text.SerializeAsString();
  bytes.resize(bytes.size() / 2);
  EXPECT_THAT(
      ParseConsentRecord(bytes, WireFormat::kBinary, "wire"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("wire: malformed binary consentry.v1.ConsentRecord")));
}

TEST(ProtoIoTest, GarbageBinaryIsRejected) {
  const std::string garbage("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
  EXPECT_THAT(ParseConsentRecord(garbage, WireFormat::kBinary),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("malformed binary")));
}

TEST(ProtoIoTest, InvalidUtf8InBinaryStringIsRejected) {
  // Field 1 (subject_id), length 2, bytes that are not UTF-8.
  const std::string bad("\x0a\x02\xc3\x28", 4);
  EXPECT_THAT(ParseConsentRecord(bad, WireFormat::kBinary),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
}

// Text format accepts escapes that make invalid UTF-8; such a record could
// not be written in binary and read back, so every form rejects it alike
// (found by consent_record_fuzzer).
TEST(ProtoIoTest, InvalidUtf8InTextStringIsRejectedWithItsFieldPath) {
  EXPECT_THAT(
      ParseConsentRecord("subject_id: \"ok\"\n"
                         "purposes { purpose: \"service\" }\n"
                         "purposes { purpose: \"bad\\253\" }\n",
                         WireFormat::kText, "r.textproto"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("r.textproto: invalid UTF-8 in string field "
                         "consentry.v1.ConsentRecord.purposes[1].purpose")));
  v1::Policy policy;
  EXPECT_THAT(ParseMessage("version: \"\\377\"", WireFormat::kText, policy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("consentry.v1.Policy.version")));
}

TEST(ProtoIoTest, JsonUnknownFieldIsRejected) {
  EXPECT_THAT(
      ParseConsentRecord(R"({"subject_id": "a", "colour": "red"})",
                         WireFormat::kJson, "r.json"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("r.json: malformed JSON consentry.v1.ConsentRecord")));
}

TEST(ProtoIoTest, JsonWrongTypeIsRejected) {
  EXPECT_THAT(
      ParseConsentRecord(R"({"revision": "many"})", WireFormat::kJson),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("revision")));
}

TEST(ProtoIoTest, JsonUnknownEnumIsRejected) {
  EXPECT_THAT(ParseConsentRecord(
                  R"({"purposes": [{"purpose": "x", "state": "MAYBE"}]})",
                  WireFormat::kJson),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("MAYBE")));
}

TEST(ProtoIoTest, TextSyntaxErrorNamesLineAndColumn) {
  EXPECT_THAT(
      ParseConsentRecord("subject_id: \"a\"\nrevision: {\n", WireFormat::kText,
                         "r.textproto"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("r.textproto: malformed text-format "
                         "consentry.v1.ConsentRecord: line 2, column")));
}

TEST(ProtoIoTest, TextUnknownFieldIsRejected) {
  EXPECT_THAT(
      ParseConsentRecord("subject: \"a\"\n", WireFormat::kText),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("subject")));
}

TEST(ProtoIoTest, EmptyInputsParseToEmptyRecords) {
  EXPECT_OK(ParseConsentRecord("", WireFormat::kBinary));
  EXPECT_OK(ParseConsentRecord("", WireFormat::kText));
  EXPECT_THAT(ParseConsentRecord("", WireFormat::kJson),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("JSON")));
}

TEST(ProtoIoTest, PolicyLoadsInEveryForm) {
  absl::StatusOr<v1::Policy> text =
      LoadPolicyFile(SourcePath("policies/default.textproto"));
  ASSERT_OK(text);
  const std::string dir = ::testing::TempDir();
  for (const char* ext : {".json", ".binpb"}) {
    const std::string path = dir + "/policy" + ext;
    absl::StatusOr<WireFormat> f = FormatFromPath(path);
    ASSERT_OK(f);
    absl::StatusOr<std::string> bytes = SerializeMessage(*text, *f);
    ASSERT_OK(bytes);
    {
      std::FILE* out = std::fopen(path.c_str(), "wb");
      ASSERT_NE(out, nullptr);
      std::fwrite(bytes->data(), 1, bytes->size(), out);
      std::fclose(out);
    }
    absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
        LoadAndCompilePolicy(path);
    ASSERT_OK(p);
    EXPECT_EQ((*p)->version(), "2026-11-01");
  }
}

TEST(ProtoIoTest, MissingFileIsNotFound) {
  EXPECT_THAT(LoadPolicyFile("/nonexistent/policy.textproto"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("/nonexistent/policy.textproto")));
}

TEST(ProtoIoTest, DirectoryIsNotReadAsAnEmptyFile) {
  const std::string dir = ::testing::TempDir() + "/policy-dir.textproto";
  ::mkdir(dir.c_str(), 0755);
  EXPECT_THAT(ReadFileToString(dir),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is a directory")));
  EXPECT_THAT(LoadPolicyFile(dir), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("policy-dir.textproto")));
  ::rmdir(dir.c_str());
}

TEST(ProtoIoTest, DeviceAndFifoAreRefusedWithoutReading) {
  EXPECT_THAT(ReadFileToString("/dev/zero"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("/dev/zero' is not a regular file")));
  const std::string fifo = ::testing::TempDir() + "/input.fifo";
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(ReadFileToString(fifo),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a regular file")));
  ::unlink(fifo.c_str());
}

TEST(ProtoIoTest, FileOverTheLimitIsResourceExhausted) {
  // Sparse: no disk space used, and the size check refuses it unread.
  const std::string path = ::testing::TempDir() + "/huge.textproto";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kMaxInputFileBytes + 1)), 0);
  ::close(fd);
  EXPECT_THAT(ReadFileToString(path),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("more than the limit")));
  ::unlink(path.c_str());
}

TEST(ProtoIoTest, UnknownExtensionIsRejected) {
  EXPECT_THAT(LoadPolicyFile("policy.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(".yaml")));
}

TEST(ProtoIoTest, MalformedPolicyFileNamesThePath) {
  const std::string path = ::testing::TempDir() + "/broken.textproto";
  std::FILE* out = std::fopen(path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  std::fputs("version: \"x\"\npurposes { id: \"a\" \n", out);
  std::fclose(out);
  EXPECT_THAT(LoadPolicyFile(path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("broken.textproto: malformed text-format "
                                 "consentry.v1.Policy: line 3")));
}

}  // namespace
}  // namespace consentry
