// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/proto_io.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "src/util/file_io.h"

namespace consentry {

static_assert(kMaxInputFileBytes == internal::kDefaultMaxInputBytes);

namespace {

class CollectErrors final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.push_back(absl::StrCat("line ", line + 1, ", column ", column + 1,
                                   ": ", message));
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber,
                  const std::string&) override {}
  std::string Joined() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::vector<std::string> errors_;
};

// Proto3 `string` fields must hold UTF-8. The binary parser enforces that,
// but the text-format parser accepts escapes such as "\253" that produce
// invalid UTF-8, so a record accepted as text could not be written in binary
// and read back by another service. Checking after every text and JSON parse
// makes the three forms accept the same messages. Uses protobuf's own check,
// the one its binary parser applies. Returns the path of the first bad field.
bool FindInvalidUtf8(const google::protobuf::Message& m, std::string* path) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* r = m.GetReflection();
  const bool proto3 = m.GetDescriptor()->file()->syntax() ==
                      google::protobuf::FileDescriptor::SYNTAX_PROTO3;
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->type() == FieldDescriptor::TYPE_STRING && proto3) {
      const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
      for (int i = 0; i < n; ++i) {
        std::string scratch;
        const std::string& v =
            f->is_repeated() ? r->GetRepeatedStringReference(m, f, i, &scratch)
                             : r->GetStringReference(m, f, &scratch);
        if (!google::protobuf::internal::IsStructurallyValidUTF8(
                v.data(), static_cast<int>(v.size()))) {
          *path = f->is_repeated() ? absl::StrCat(f->name(), "[", i, "]")
                                   : f->name();
          return true;
        }
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
      for (int i = 0; i < n; ++i) {
        const google::protobuf::Message& sub =
            f->is_repeated() ? r->GetRepeatedMessage(m, f, i)
                             : r->GetMessage(m, f);
        std::string inner;
        if (FindInvalidUtf8(sub, &inner)) {
          *path = f->is_repeated()
                      ? absl::StrCat(f->name(), "[", i, "].", inner)
                      : absl::StrCat(f->name(), ".", inner);
          return true;
        }
      }
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<WireFormat> FormatFromPath(absl::string_view path) {
  if (absl::EndsWith(path, ".binpb") || absl::EndsWith(path, ".pb") ||
      absl::EndsWith(path, ".bin")) {
    return WireFormat::kBinary;
  }
  if (absl::EndsWith(path, ".json")) return WireFormat::kJson;
  if (absl::EndsWith(path, ".textproto") || absl::EndsWith(path, ".txtpb") ||
      absl::EndsWith(path, ".pbtxt") || absl::EndsWith(path, ".txt")) {
    return WireFormat::kText;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "cannot tell the format of '", path,
      "': use .textproto/.txtpb/.pbtxt (text), .json (JSON) or .binpb/.pb "
      "(binary)"));
}

absl::Status ParseMessage(absl::string_view data, WireFormat format,
                          google::protobuf::Message& message,
                          absl::string_view source) {
  message.Clear();
  const std::string& type = message.GetDescriptor()->full_name();
  switch (format) {
    case WireFormat::kBinary: {
      if (data.size() > static_cast<std::size_t>(INT32_MAX) ||
          !message.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
        message.Clear();
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": malformed binary ", type, " (", data.size(),
            " bytes; truncated, wrong type, or invalid UTF-8 in a string)"));
      }
      return absl::OkStatus();
    }
    case WireFormat::kJson: {
      google::protobuf::util::JsonParseOptions options;
      options.ignore_unknown_fields = false;
      auto st = google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(data.data(), data.size()), &message,
          options);
      if (!st.ok()) {
        message.Clear();
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": malformed JSON ", type, ": ",
                         std::string(st.message())));
      }
      break;
    }
    case WireFormat::kText: {
      google::protobuf::TextFormat::Parser parser;
      CollectErrors errors;
      parser.RecordErrorsTo(&errors);
      if (data.size() > static_cast<std::size_t>(INT32_MAX) ||
          !parser.ParseFromString(std::string(data), &message)) {
        message.Clear();
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": malformed text-format ", type, ": ", errors.Joined()));
      }
      break;
    }
    default:
      return absl::InvalidArgumentError("unknown wire format");
  }
  // Text and JSON: the binary parser's UTF-8 rule, for every form alike.
  if (std::string path; FindInvalidUtf8(message, &path)) {
    message.Clear();
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": invalid UTF-8 in string field ", type, ".", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SerializeMessage(
    const google::protobuf::Message& message, WireFormat format) {
  std::string out;
  switch (format) {
    case WireFormat::kBinary:
      if (!message.SerializeToString(&out)) {
        return absl::InternalError(absl::StrCat(
            "cannot serialize ", message.GetDescriptor()->full_name()));
      }
      return out;
    case WireFormat::kJson: {
      google::protobuf::util::JsonPrintOptions options;
      options.add_whitespace = true;
      options.preserve_proto_field_names = true;
      auto st =
          google::protobuf::util::MessageToJsonString(message, &out, options);
      if (!st.ok()) {
        return absl::InternalError(
            absl::StrCat("cannot print ", message.GetDescriptor()->full_name(),
                         " as JSON: ", std::string(st.message())));
      }
      return out;
    }
    case WireFormat::kText:
      if (!google::protobuf::TextFormat::PrintToString(message, &out)) {
        return absl::InternalError(absl::StrCat(
            "cannot print ", message.GetDescriptor()->full_name()));
      }
      return out;
  }
  return absl::InvalidArgumentError("unknown wire format");
}

absl::StatusOr<std::string> ReadFileToString(absl::string_view path) {
  // One implementation for every input the library and its tools read: a
  // regular file under the limit, or an error naming the path.
  return internal::ReadRegularFile(std::string(path), kMaxInputFileBytes);
}

absl::StatusOr<v1::Policy> LoadPolicyFile(absl::string_view path) {
  absl::StatusOr<WireFormat> format = FormatFromPath(path);
  if (!format.ok()) return format.status();
  absl::StatusOr<std::string> data = ReadFileToString(path);
  if (!data.ok()) return data.status();
  v1::Policy policy;
  absl::Status s = ParseMessage(*data, *format, policy, path);
  if (!s.ok()) return s;
  return policy;
}

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> LoadAndCompilePolicy(
    absl::string_view path) {
  absl::StatusOr<v1::Policy> policy = LoadPolicyFile(path);
  if (!policy.ok()) return policy.status();
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> compiled =
      CompiledPolicy::Compile(*policy);
  if (!compiled.ok()) {
    return absl::Status(compiled.status().code(),
                        absl::StrCat(path, ": ", compiled.status().message()));
  }
  return compiled;
}

absl::StatusOr<v1::ConsentRecord> ParseConsentRecord(absl::string_view data,
                                                     WireFormat format,
                                                     absl::string_view source) {
  v1::ConsentRecord record;
  absl::Status s = ParseMessage(data, format, record, source);
  if (!s.ok()) return s;
  return record;
}

}  // namespace consentry
