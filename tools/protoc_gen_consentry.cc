// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// protoc-gen-consentry: a protoc plugin that writes, for each .proto file,
// `<name>.consentry.cc`: direct field accessors for the projector
// (consentry/field_access.h), so that projecting a generated message class
// reads and clears fields through the class's own accessors instead of
// protobuf reflection. Compile the output into the same binary as
// `<name>.pb.cc`.
//
//   protoc --plugin=protoc-gen-consentry=path/to/protoc-gen-consentry
//       --consentry_out=OUT_DIR --cpp_out=OUT_DIR -I... name.proto
//   (one command line)
//
// A message with a field the accessors do not cover (a string with ctype
// CORD or STRING_PIECE, a weak field) gets no table and keeps the
// reflection path; the file still compiles.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/compiler/code_generator.h"
#include "google/protobuf/compiler/cpp/names.h"
#include "google/protobuf/compiler/plugin.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/io/printer.h"
#include "google/protobuf/io/zero_copy_stream.h"

namespace consentry {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FieldOptions;
using google::protobuf::FileDescriptor;
using google::protobuf::io::Printer;
namespace cpp = google::protobuf::compiler::cpp;

void Collect(const Descriptor* d, std::vector<const Descriptor*>* out) {
  if (d->options().map_entry()) return;
  out->push_back(d);
  for (int i = 0; i < d->nested_type_count(); ++i) {
    Collect(d->nested_type(i), out);
  }
}

bool IsString(const FieldDescriptor* f) {
  return f->cpp_type() == FieldDescriptor::CPPTYPE_STRING;
}

// Whether every field of `d` has the accessors this plugin writes.
bool Covered(const Descriptor* d) {
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->options().weak()) return false;
    if (IsString(f) && f->options().ctype() != FieldOptions::STRING) {
      return false;
    }
  }
  return true;
}

// The expression that tells whether field `f` of `t` is present, as the
// projector's reflection path tells it (projection_plan.cc, PresenceOf).
std::string PresentExpr(const FieldDescriptor* f) {
  const std::string name = cpp::FieldName(f);
  if (f->is_map()) return "!t." + name + "().empty()";
  if (f->is_repeated()) return "t." + name + "_size() > 0";
  if (f->has_presence()) return "t.has_" + name + "()";
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return "!t." + name + "().empty()";
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return "Bits64(t." + name + "()) != 0";
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "Bits32(t." + name + "()) != 0";
    case FieldDescriptor::CPPTYPE_ENUM:
      return "static_cast<int>(t." + name + "()) != 0";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "t." + name + "()";
    default:
      return "t." + name + "() != 0";
  }
}

void WriteMessage(const Descriptor* d, int n, Printer* p) {
  const std::string cls = cpp::QualifiedClassName(d);
  p->Print("// $full$\nnamespace m$n$ {\nusing T = $cls$;\n\n", "full",
           d->full_name(), "n", std::to_string(n), "cls", cls);

  struct Case {
    int index;
    std::string body;
  };
  // Writes `signature` with a switch over the cases, and `fallback` after.
  const auto function =
      [p](const std::string& signature, const std::string& self,
          const std::vector<Case>& cases, const std::string& fallback) {
        p->Print("$sig$ {\n", "sig", signature);
        if (cases.empty()) {
          p->Print("  static_cast<void>(m);\n  static_cast<void>(field);\n");
        } else {
          p->Print("  $self$\n  switch (field) {\n", "self", self);
          for (const Case& c : cases) {
            p->Print("    case $i$:\n      $body$\n", "i",
                     std::to_string(c.index), "body", c.body);
          }
          p->Print("    default:\n      break;\n  }\n");
        }
        p->Print("  $fallback$\n}\n\n", "fallback", fallback);
      };
  const std::string cref = "const T& t = static_cast<const T&>(m);";
  const std::string mref = "T& t = *static_cast<T*>(m);";

  std::vector<Case> present, strings, messages, mutable_messages, sizes,
      elements, mutable_elements, swaps, remove_lasts, clears;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string name = cpp::FieldName(f);
    present.push_back({i, "return " + PresentExpr(f) + ";"});
    clears.push_back({i, "t.clear_" + name + "();\n      return;"});
    if (f->is_map()) continue;
    const bool message = f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (f->is_repeated()) {
      if (!message) continue;
      sizes.push_back({i, "return t." + name + "_size();"});
      elements.push_back({i, "return t." + name + "(i);"});
      mutable_elements.push_back({i, "return t.mutable_" + name + "(i);"});
      swaps.push_back(
          {i, "t.mutable_" + name + "()->SwapElements(i, j);\n      return;"});
      remove_lasts.push_back(
          {i, "t.mutable_" + name + "()->RemoveLast();\n      return;"});
    } else if (message) {
      messages.push_back(
          {i, "return t.has_" + name + "() ? &t." + name + "() : nullptr;"});
      mutable_messages.push_back({i, "return t.has_" + name +
                                         "() ? t.mutable_" + name +
                                         "() : nullptr;"});
    } else if (IsString(f)) {
      strings.push_back({i, "return t." + name + "();"});
    }
  }
  using std::string;
  const string msg = "const ::google::protobuf::Message& m";
  const string mut = "::google::protobuf::Message* m";
  function("bool Present(" + msg + ", int field)", cref, present,
           "return false;");
  function("const std::string& StringValue(" + msg + ", int field)", cref,
           strings, "return EmptyString();");
  function(
      "const ::google::protobuf::Message* SubMessage(" + msg + ", int field)",
      cref, messages, "return nullptr;");
  function(
      "::google::protobuf::Message* MutableSubMessage(" + mut + ", int field)",
      mref, mutable_messages, "return nullptr;");
  function("int Size(" + msg + ", int field)", cref, sizes, "return 0;");
  p->Print(
      "const ::google::protobuf::Message& Element($msg$, int field, int i) "
      "{\n",
      "msg", msg);
  if (elements.empty()) {
    p->Print("  static_cast<void>(field);\n  static_cast<void>(i);\n");
  } else {
    p->Print("  $self$\n  switch (field) {\n", "self", cref);
    for (const Case& c : elements) {
      p->Print("    case $i$:\n      $body$\n", "i", std::to_string(c.index),
               "body", c.body);
    }
    p->Print("    default:\n      break;\n  }\n");
  }
  p->Print("  return m;  // not reached for a field of this kind\n}\n\n");
  function("::google::protobuf::Message* MutableElement(" + mut +
               ", int field, int i)",
           mref + "\n  static_cast<void>(i);", mutable_elements,
           "static_cast<void>(i);\n  return nullptr;");
  function("void SwapElements(" + mut + ", int field, int i, int j)",
           mref + "\n  static_cast<void>(i);\n  static_cast<void>(j);", swaps,
           "static_cast<void>(i);\n  static_cast<void>(j);");
  function("void RemoveLast(" + mut + ", int field)", mref, remove_lasts, "");
  function("void Clear(" + mut + ", int field)", mref, clears, "");
  p->Print(
      "const ::consentry::GeneratedFieldAccess kAccess = {\n"
      "    \"$full$\", $count$, &Present, &StringValue, &SubMessage,\n"
      "    &MutableSubMessage, &Size, &Element, &MutableElement, "
      "&SwapElements,\n"
      "    &RemoveLast, &Clear};\n"
      "[[maybe_unused]] const bool kRegistered =\n"
      "    ::consentry::internal::RegisterGeneratedFieldAccess(\n"
      "        &T::default_instance(), &kAccess);\n\n"
      "}  // namespace m$n$\n\n",
      "full", d->full_name(), "count", std::to_string(d->field_count()), "n",
      std::to_string(n));
}

class Generator final : public google::protobuf::compiler::CodeGenerator {
 public:
  // Proto3 `optional` fields have presence: `has_x()`, as any other.
  std::uint64_t GetSupportedFeatures() const override {
    return FEATURE_PROTO3_OPTIONAL;
  }

  bool Generate(const FileDescriptor* file, const std::string& /*parameter*/,
                google::protobuf::compiler::GeneratorContext* context,
                std::string* /*error*/) const override {
    const std::string base = cpp::StripProto(file->name());
    std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> out(
        context->Open(base + ".consentry.cc"));
    Printer p(out.get(), '$');
    p.Print(
        "// Generated by protoc-gen-consentry from $file$. DO NOT EDIT.\n"
        "// Field accessors for consentry's projector "
        "(consentry/field_access.h).\n\n"
        "#include <cstdint>\n#include <cstring>\n#include <string>\n\n"
        "#include \"consentry/field_access.h\"\n"
        "#include \"$base$.pb.h\"\n\n"
        "namespace {\n\n"
        "[[maybe_unused]] std::uint64_t Bits64(double v) {\n"
        "  std::uint64_t b;\n  std::memcpy(&b, &v, sizeof(b));\n  return b;\n"
        "}\n"
        "[[maybe_unused]] std::uint32_t Bits32(float v) {\n"
        "  std::uint32_t b;\n  std::memcpy(&b, &v, sizeof(b));\n  return b;\n"
        "}\n"
        "[[maybe_unused]] const std::string& EmptyString() {\n"
        "  static const std::string* const empty = new std::string();\n"
        "  return *empty;\n}\n\n",
        "file", file->name(), "base", base);
    std::vector<const Descriptor*> messages;
    for (int i = 0; i < file->message_type_count(); ++i) {
      Collect(file->message_type(i), &messages);
    }
    int n = 0;
    for (const Descriptor* d : messages) {
      if (!Covered(d)) {
        p.Print(
            "// $full$: not covered (a cord, string_piece or weak field)\n\n",
            "full", d->full_name());
        continue;
      }
      WriteMessage(d, n++, &p);
    }
    p.Print("}  // namespace\n");
    return !p.failed();
  }
};

}  // namespace
}  // namespace consentry

int main(int argc, char* argv[]) {
  consentry::Generator generator;
  return google::protobuf::compiler::PluginMain(argc, argv, &generator);
}
