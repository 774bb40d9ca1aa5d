// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Lists the fields of protobuf message types that carry no data category
// (consentry/v1/options.proto), so that integrators can tag them before
// projections enforce: an untagged field is cleared for every purpose.
//
//   consentry_lint_fields [--descriptor_set=FILE]... TYPE...
//
// TYPE is a full message type name (health.v1.Measurement); fields are
// followed transitively through nested, repeated and map fields. Types are
// looked up in each FILE, a FileDescriptorSet written by
//   protoc --include_imports --descriptor_set_out=FILE your.proto
// and then among the types compiled into this tool. Prints one line per
// untagged field: its full name, a path from a TYPE that reaches it, and
// "(readable: untagged_readable)" when its message makes it readable.
//
// Exit status: 0 when no field is untagged, 1 when some are, 2 on a usage
// error, an unreadable or malformed FILE, an unknown TYPE, or malformed tags.

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "consentry/projection.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"

namespace {

constexpr char kUsage[] =
    "usage: consentry_lint_fields [--descriptor_set=FILE]... TYPE...\n";

int UsageError(const std::string& message) {
  std::cerr << "consentry_lint_fields: " << message << "\n" << kUsage;
  return 2;
}

absl::Status LoadDescriptorSet(const std::string& path,
                               google::protobuf::SimpleDescriptorDatabase* db) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream bytes;
  bytes << in.rdbuf();
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromString(bytes.str())) {
    return absl::DataLossError(absl::StrCat(path,
                                            ": not a FileDescriptorSet (protoc "
                                            "--descriptor_set_out)"));
  }
  for (const google::protobuf::FileDescriptorProto& file : set.file()) {
    // A file also compiled into the tool (descriptor.proto, options.proto)
    // may appear in the set: the first copy wins.
    google::protobuf::FileDescriptorProto existing;
    if (db->FindFileByName(file.name(), &existing)) continue;
    if (!db->Add(file)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": cannot add ", file.name()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> sets;
  std::vector<std::string> types;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg.substr(0, 17) == "--descriptor_set=") {
      sets.emplace_back(arg.substr(17));
    } else if (arg.substr(0, 2) == "--") {
      return UsageError(absl::StrCat("unknown flag ", arg));
    } else {
      types.emplace_back(arg);
    }
  }
  if (types.empty()) return UsageError("name at least one message type");

  google::protobuf::SimpleDescriptorDatabase file_db;
  for (const std::string& path : sets) {
    if (absl::Status s = LoadDescriptorSet(path, &file_db); !s.ok()) {
      std::cerr << "consentry_lint_fields: " << s.message() << "\n";
      return 2;
    }
  }
  google::protobuf::DescriptorPoolDatabase compiled_db(
      *google::protobuf::DescriptorPool::generated_pool());
  google::protobuf::MergedDescriptorDatabase merged(&file_db, &compiled_db);
  google::protobuf::DescriptorPool pool(&merged);

  std::vector<const google::protobuf::Descriptor*> roots;
  for (const std::string& name : types) {
    const google::protobuf::Descriptor* d = pool.FindMessageTypeByName(name);
    if (d == nullptr) {
      std::cerr << "consentry_lint_fields: unknown message type " << name
                << " (not in any --descriptor_set nor compiled in)\n";
      return 2;
    }
    roots.push_back(d);
  }
  absl::StatusOr<std::vector<consentry::UntaggedField>> found =
      consentry::ListUntaggedFields(roots);
  if (!found.ok()) {
    std::cerr << "consentry_lint_fields: " << found.status().message() << "\n";
    return 2;
  }
  for (const consentry::UntaggedField& f : *found) {
    std::cout << f.field << "\t" << f.path
              << (f.readable ? "\t(readable: untagged_readable)" : "") << "\n";
  }
  if (found->empty()) {
    std::cerr << "consentry_lint_fields: every field is tagged\n";
    return 0;
  }
  std::cerr << "consentry_lint_fields: " << found->size()
            << " field(s) carry no data category\n";
  return 1;
}
