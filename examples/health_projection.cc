// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A health-service backend keeps each measurement as its own protobuf
// message (examples/proto/health.proto), with every field's data category
// marked in the .proto file. Three readers ask for the same records:
//
//   * the support desk answering a member's inquiry   (purpose support)
//   * the billing service computing charges          (billing.calculation)
//   * the statistics job analysing measurements       (statistics.measurement)
//
// A `Projector` gives each a copy holding only the fields its purpose may
// see for that member; everything else is cleared. Statistics needs the
// member's opt-in consent: member-0001 gave it, member-0002 did not.
//
//   health_projection [--policy=policies/default.textproto]

#include <iostream>
#include <string>
#include <vector>

#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/projection.h"
#include "consentry/proto_io.h"
#include "google/protobuf/text_format.h"
#include "health.pb.h"

namespace {

using consentry::examples::HealthMeasurement;

int Fail(const absl::Status& s) {
  std::cerr << "health_projection: " << s << "\n";
  return 1;
}

// One measurement as the scale app uploads it.
HealthMeasurement Measurement(const std::string& member,
                              const std::string& name, double weight,
                              double fat) {
  HealthMeasurement m;
  m.set_member_id(member);
  m.set_member_name(name);
  m.mutable_measured_at()->set_seconds(1'790'000'000);
  m.set_weight_kg(weight);
  m.set_body_fat_percent(fat);
  for (const char* segment : {"trunk", "left_arm", "right_leg"}) {
    consentry::examples::SegmentReading* s = m.add_segments();
    s->set_segment(segment);
    s->set_fat_percent(fat - 2.5);
    s->set_muscle_kg(weight / 8);
  }
  (*m.mutable_extra_metrics())["bmi"] = 22.4;
  m.mutable_device()->set_device_id("scale-7f3a");
  m.mutable_device()->set_firmware("4.2.1");
  m.mutable_contact()->set_email(member + "@example.jp");
  m.mutable_contact()->set_phone("03-1234-5678");
  m.set_plan_code("family-premium");
  return m;
}

std::string Text(const google::protobuf::Message& m) {
  google::protobuf::TextFormat::Printer printer;
  printer.SetExpandAny(true);
  std::string out;
  printer.PrintToString(m, &out);
  if (out.empty()) return "    (nothing)\n";
  std::string indented = "    ";
  for (char c : out) {
    indented += c;
    if (c == '\n') indented += "    ";
  }
  indented.resize(indented.size() - 4);
  return indented;
}

}  // namespace

int main(int argc, char** argv) {
  std::string policy_path =
      std::string(CONSENTRY_SOURCE_DIR) + "/policies/default.textproto";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--policy=", 0) == 0) policy_path = arg.substr(9);
  }
  auto policy = consentry::LoadAndCompilePolicy(policy_path);
  if (!policy.ok()) return Fail(policy.status());

  consentry::InMemoryConsentStore store;
  consentry::InMemoryAuditSink audit;
  auto guard = consentry::Guard::Create(*policy, &store, &audit);
  if (!guard.ok()) return Fail(guard.status());

  // Before enforcing, check that every field carries a category: an
  // untagged field would be hidden from every reader.
  const google::protobuf::Descriptor* types[] = {
      HealthMeasurement::descriptor()};
  auto untagged = consentry::ListUntaggedFields(types);
  if (!untagged.ok()) return Fail(untagged.status());
  std::cout << "Untagged fields in " << types[0]->full_name() << ": "
            << untagged->size() << "\n";

  // member-0001 opted in to the statistical analysis of measurements.
  consentry::v1::ConsentChange consent;
  consent.set_subject_id("member-0001");
  consent.set_subject_kind(consentry::v1::SUBJECT_KIND_CUSTOMER);
  consent.mutable_purpose_consent()->set_purpose("statistics.measurement");
  consent.mutable_purpose_consent()->set_state(
      consentry::v1::CONSENT_STATE_GIVEN);
  consent.mutable_purpose_consent()->set_policy_version((*policy)->version());
  consent.mutable_purpose_consent()->set_method(
      consentry::v1::COLLECTION_METHOD_MOBILE_APP);
  if (auto r = store.Apply(consent); !r.ok()) return Fail(r.status());

  consentry::Projector projector(**guard);
  // Compile the plan up front: a mistyped category id fails here.
  if (auto s = projector.Prepare(HealthMeasurement::descriptor()); !s.ok()) {
    return Fail(s);
  }

  struct Reader {
    const char* accessor;
    const char* purpose;
  };
  const std::vector<Reader> readers = {
      {"support-desk", "support"},
      {"billing-service", "billing.calculation"},
      {"statistics-job", "statistics.measurement"},
  };
  const std::vector<HealthMeasurement> records = {
      Measurement("member-0001", "Sato Hanako", 58.4, 27.1),
      Measurement("member-0002", "Suzuki Taro", 72.9, 19.8),
  };

  for (const Reader& reader : readers) {
    auto ctx = (*guard)->Context(reader.accessor, reader.purpose);
    if (!ctx.ok()) return Fail(ctx.status());
    std::cout << "\n== " << reader.accessor << " reading for purpose "
              << reader.purpose << " ==\n";
    for (const HealthMeasurement& record : records) {
      auto view = projector.Project(*ctx, record);
      if (!view.ok()) return Fail(view.status());
      std::cout << "  " << record.member_id() << " sees:\n" << Text(*view);
    }
  }

  std::cout << "\n"
            << audit.size()
            << " decisions audited (one per category present in each record "
               "read).\n";
  return 0;
}
