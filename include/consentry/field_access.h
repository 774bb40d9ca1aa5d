// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: field_access.h
// -----------------------------------------------------------------------------
//
// Direct field access for the `Projector`, generated from an integrator's
// .proto files by `protoc-gen-consentry` (tools/protoc_gen_consentry.cc).
// Protobuf reflection costs 15-25 ns per field read or cleared; a
// projection of a ten-field record makes a dozen of them. For a generated
// message class that has its `<file>.consentry.cc` linked in, the projector
// reads presence, sub-messages and the subject id and clears denied fields
// through the accessors of the generated class instead. The decisions and
// the result are the same either way; only the cost differs. Types without
// generated access (dynamic messages, files not run through the plugin)
// keep the reflection path.
//
// Integrators do not call anything here. With CMake:
//
//   find_package(consentry REQUIRED)
//   add_library(health_proto STATIC health.proto)
//   protobuf_generate(TARGET health_proto LANGUAGE cpp ...)
//   consentry_generate_field_access(TARGET health_proto PROTOS health.proto
//                                   IMPORT_DIRS ...)
//
// or by hand:
//
//   protoc --plugin=protoc-gen-consentry=$(which protoc-gen-consentry)
//       --consentry_out=gen/ --cpp_out=gen/ -I... health.proto
//   (one command line)
//
// and compile gen/health.consentry.cc into the same binary as
// gen/health.pb.cc. Each file registers its message classes when the
// program starts (a static initializer); if the linker drops the object
// file (nothing else in it is referenced from a static library), the
// projector silently keeps the reflection path, which is correct but
// slower: link it into the target that uses the messages, or as an object
// library.
//
// Thread-safety: registration happens at static initialization (and is
// safe from any thread after); the tables are immutable.

#ifndef CONSENTRY_FIELD_ACCESS_H_
#define CONSENTRY_FIELD_ACCESS_H_

#include <string>

#include "consentry/export.h"
#include "google/protobuf/message.h"

namespace consentry {

// The accessors of one generated message class. `field` is the field's
// `FieldDescriptor::index()`. The projector calls each only for fields of
// the kind it applies to, on messages of exactly this class.
struct GeneratedFieldAccess {
  // The message type's full name and field count: checked against the
  // descriptor before the table is used.
  const char* full_name;
  int field_count;
  // Presence as the projector counts it: `has_x()` for a field with
  // presence, a non-empty repeated field or map, or else a value other
  // than zero or empty (-0.0 counts as present).
  bool (*present)(const google::protobuf::Message& m, int field);
  // A singular string field's value (ctype STRING).
  const std::string& (*string_value)(const google::protobuf::Message& m,
                                     int field);
  // A singular message field's value, or null when it is not set.
  const google::protobuf::Message* (*message)(
      const google::protobuf::Message& m, int field);
  google::protobuf::Message* (*mutable_message)(google::protobuf::Message* m,
                                                int field);
  // A repeated message field (not a map): size and elements.
  int (*size)(const google::protobuf::Message& m, int field);
  const google::protobuf::Message& (*element)(
      const google::protobuf::Message& m, int field, int i);
  google::protobuf::Message* (*mutable_element)(google::protobuf::Message* m,
                                                int field, int i);
  void (*swap_elements)(google::protobuf::Message* m, int field, int i, int j);
  void (*remove_last)(google::protobuf::Message* m, int field);
  // `clear_x()`; a cleared string keeps its storage for the next copy.
  void (*clear)(google::protobuf::Message* m, int field);
};

namespace internal {

// Called by generated code: makes `access` the table for the class whose
// default instance is `prototype`. Returns true. Tables for the same class
// registered again are ignored.
CONSENTRY_EXPORT bool RegisterGeneratedFieldAccess(
    const google::protobuf::Message* prototype,
    const GeneratedFieldAccess* access);

// The table registered for the class of `prototype`, or null.
CONSENTRY_EXPORT const GeneratedFieldAccess* FindGeneratedFieldAccess(
    const google::protobuf::Message* prototype);

}  // namespace internal
}  // namespace consentry

#endif  // CONSENTRY_FIELD_ACCESS_H_
