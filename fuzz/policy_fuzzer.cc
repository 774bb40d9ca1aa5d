// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Fuzzes policy documents in their three forms through parsing and
// `CompiledPolicy::Compile`. Input: one byte choosing the form (see
// `FormatFromByte`), then the document.
//
// Properties beyond "does not crash":
//   * a policy that compiles survives a round trip through every form it can
//     be written in, and compiles again to the same tables;
//   * every id round-trips through Find*; descendants and ancestors are
//     inverse relations; the parent is an ancestor; the basis table agrees
//     with `allowed_for`; no set holds a purpose beyond the count;
//   * subject kinds: the denied mask is the complement of what the category
//     and purpose serve, a child serves no kind its parent does not, and an
//     acquisition purpose is never usable to read;
//   * a Guard enforces it: Context, Category and Check answer for every
//     (accessor, purpose, category), with exactly the reason the tables imply
//     for a subject without a consent record (of no recorded kind).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/policy.h"
#include "consentry/proto_io.h"
#include "consentry/v1/policy.pb.h"
#include "fuzz/fuzz_support.h"

namespace consentry::fuzz {
namespace {

// Accessors checked exhaustively per input, to bound the work.
constexpr int kMaxAccessorsChecked = 4;

// Subject kinds and acquisition purposes: the denied mask is the complement
// of what both the category and the purpose serve; a purpose serves no kind
// its parent does not; an acquisition purpose belongs to a special category
// and never lets any category be read.
void CheckKindTables(const CompiledPolicy& p) {
  for (int i = 0; i < p.purpose_count(); ++i) {
    const auto pi = static_cast<PurposeIndex>(i);
    const SubjectKindMask k = p.purpose_subject_kinds(pi);
    CONSENTRY_FUZZ_CHECK((k & ~kAllSubjectKinds) == 0, "purpose kinds range");
    if (p.parent(pi) >= 0) {
      const SubjectKindMask up =
          p.purpose_subject_kinds(static_cast<PurposeIndex>(p.parent(pi)));
      CONSENTRY_FUZZ_CHECK((k & ~up) == 0,
                           absl::StrCat("purpose ", p.purpose_id(pi),
                                        " serves a kind its parent does not"));
    }
  }
  for (int c = 0; c < p.category_count(); ++c) {
    const auto ci = static_cast<CategoryIndex>(c);
    for (int i = 0; i < p.purpose_count(); ++i) {
      const auto pi = static_cast<PurposeIndex>(i);
      CONSENTRY_FUZZ_CHECK(p.kinds_denied(ci, pi) ==
                               (kAllSubjectKinds & ~p.subject_kinds(ci, pi)),
                           absl::StrCat("kinds_denied: ", p.category_id(ci),
                                        " ", p.purpose_id(pi)));
    }
    const int a = p.acquisition_purpose(ci);
    if (a < 0) continue;
    CONSENTRY_FUZZ_CHECK(
        a < p.purpose_count() && p.special(ci),
        absl::StrCat("acquisition purpose of ", p.category_id(ci)));
    for (int u = 0; u < p.category_count(); ++u) {
      CONSENTRY_FUZZ_CHECK(!p.allowed_for(static_cast<CategoryIndex>(u))
                                .Contains(static_cast<PurposeIndex>(a)),
                           "an acquisition purpose lets data be read");
    }
  }
}

void CheckTables(const CompiledPolicy& p) {
  const int np = p.purpose_count();
  const std::uint64_t in_range =
      np >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << np) - 1;
  for (int i = 0; i < np; ++i) {
    const auto pi = static_cast<PurposeIndex>(i);
    absl::StatusOr<PurposeIndex> found = p.FindPurpose(p.purpose_id(pi));
    CONSENTRY_FUZZ_CHECK(found.ok() && *found == pi,
                         absl::StrCat("purpose id ", p.purpose_id(pi)));
    CONSENTRY_FUZZ_CHECK(p.descendants(pi).Contains(pi), p.purpose_id(pi));
    CONSENTRY_FUZZ_CHECK(p.ancestors(pi).Contains(pi), p.purpose_id(pi));
    CONSENTRY_FUZZ_CHECK((p.descendants(pi).bits() & ~in_range) == 0, "range");
    CONSENTRY_FUZZ_CHECK((p.ancestors(pi).bits() & ~in_range) == 0, "range");
    CONSENTRY_FUZZ_CHECK(
        p.DescendantsOf(PurposeSet::Of(pi)) == p.descendants(pi),
        "DescendantsOf");
    CONSENTRY_FUZZ_CHECK(p.AncestorsOf(PurposeSet::Of(pi)) == p.ancestors(pi),
                         "AncestorsOf");
    const int parent = p.parent(pi);
    CONSENTRY_FUZZ_CHECK(parent >= -1 && parent < np, "parent index");
    if (parent >= 0) {
      const auto pp = static_cast<PurposeIndex>(parent);
      CONSENTRY_FUZZ_CHECK(parent != i, "purpose is its own parent");
      CONSENTRY_FUZZ_CHECK(p.ancestors(pi).Contains(pp), "parent not ancestor");
      CONSENTRY_FUZZ_CHECK(p.descendants(pp).Contains(pi), "not a descendant");
    }
    for (int j = 0; j < np; ++j) {
      const auto pj = static_cast<PurposeIndex>(j);
      CONSENTRY_FUZZ_CHECK(
          p.descendants(pi).Contains(pj) == p.ancestors(pj).Contains(pi),
          absl::StrCat("descendants/ancestors not inverse: ", p.purpose_id(pi),
                       " ", p.purpose_id(pj)));
      if (i != j && p.descendants(pi).Contains(pj)) {
        CONSENTRY_FUZZ_CHECK(!p.descendants(pj).Contains(pi),
                             "cycle in the hierarchy");
      }
    }
  }
  CONSENTRY_FUZZ_CHECK((p.per_occasion().bits() & ~in_range) == 0, "range");
  for (int c = 0; c < p.category_count(); ++c) {
    const auto ci = static_cast<CategoryIndex>(c);
    absl::StatusOr<CategoryIndex> found = p.FindCategory(p.category_id(ci));
    CONSENTRY_FUZZ_CHECK(found.ok() && *found == ci,
                         absl::StrCat("category id ", p.category_id(ci)));
    CONSENTRY_FUZZ_CHECK((p.allowed_for(ci).bits() & ~in_range) == 0, "range");
    for (int i = 0; i < np; ++i) {
      const auto pi = static_cast<PurposeIndex>(i);
      const Basis b = p.basis(ci, pi);
      CONSENTRY_FUZZ_CHECK(
          (b != Basis::kNotAllowed) == p.allowed_for(ci).Contains(pi),
          absl::StrCat("basis table disagrees with allowed_for: ",
                       p.category_id(ci), " ", p.purpose_id(pi)));
      if (p.special(ci)) {
        CONSENTRY_FUZZ_CHECK(b != Basis::kOptOut, "special category opt-out");
      }
      if (p.per_occasion().Contains(pi)) {
        CONSENTRY_FUZZ_CHECK(b == Basis::kNotAllowed || b == Basis::kOptIn,
                             "per-occasion purpose not opt-in");
      }
    }
  }
  CheckKindTables(p);
  for (int a = 0; a < p.accessor_count(); ++a) {
    const auto ai = static_cast<AccessorIndex>(a);
    absl::StatusOr<AccessorIndex> found = p.FindAccessor(p.accessor_id(ai));
    CONSENTRY_FUZZ_CHECK(found.ok() && *found == ai,
                         absl::StrCat("accessor id ", p.accessor_id(ai)));
    CONSENTRY_FUZZ_CHECK((p.declarable_by(ai).bits() & ~in_range) == 0,
                         "range");
  }
}

// The reason a check must give for a subject without a consent record.
Reason ExpectedReason(const CompiledPolicy& p, AccessorIndex a, PurposeIndex pu,
                      CategoryIndex c) {
  if (!p.declarable_by(a).Contains(pu)) return Reason::kAccessorNotPermitted;
  // Such a subject's kind is unspecified: denied where the policy restricts
  // the pair to some kinds.
  if (p.basis(c, pu) != Basis::kNotAllowed &&
      (p.kinds_denied(c, pu) & SubjectKindBit(0)) != 0) {
    return Reason::kSubjectKindUnknown;
  }
  switch (p.basis(c, pu)) {
    case Basis::kNotAllowed:
      return Reason::kNotAllowedByPolicy;
    case Basis::kNecessary:
      return Reason::kAllowedNecessary;
    case Basis::kOptOut:
      return Reason::kAllowedNotOptedOut;
    case Basis::kOptIn:
      return p.per_occasion().Contains(pu) ? Reason::kNoOccasionConsent
                                           : Reason::kNoConsent;
  }
  return Reason::kUnspecified;
}

void CheckGuard(const std::shared_ptr<const CompiledPolicy>& p) {
  InMemoryConsentStore store;
  InMemoryAuditSink audit;
  absl::StatusOr<std::unique_ptr<Guard>> guard =
      Guard::Create(p, &store, &audit);
  CONSENTRY_FUZZ_CHECK(guard.ok(), guard.status().ToString());
  const int accessors = std::min(p->accessor_count(), kMaxAccessorsChecked);
  for (int a = 0; a < accessors; ++a) {
    const auto ai = static_cast<AccessorIndex>(a);
    for (int i = 0; i < p->purpose_count(); ++i) {
      const auto pi = static_cast<PurposeIndex>(i);
      const absl::string_view occasion =
          p->per_occasion().Contains(pi) ? "occasion-1" : "";
      absl::StatusOr<AccessContext> ctx =
          (*guard)->Context(p->accessor_id(ai), p->purpose_id(pi), occasion);
      CONSENTRY_FUZZ_CHECK(ctx.ok(), ctx.status().ToString());
      for (int c = 0; c < p->category_count(); ++c) {
        const auto ci = static_cast<CategoryIndex>(c);
        absl::StatusOr<CategoryRef> cat =
            (*guard)->Category(p->category_id(ci));
        CONSENTRY_FUZZ_CHECK(cat.ok(), cat.status().ToString());
        absl::StatusOr<Decision> d = (*guard)->Check(*ctx, "subject-1", *cat);
        CONSENTRY_FUZZ_CHECK(d.ok(), d.status().ToString());
        const Reason want = ExpectedReason(*p, ai, pi, ci);
        CONSENTRY_FUZZ_CHECK(
            d->reason() == want,
            absl::StrCat(p->accessor_id(ai), " ", p->purpose_id(pi), " ",
                         p->category_id(ci), ": got ", ReasonName(d->reason()),
                         ", want ", ReasonName(want)));
      }
      audit.Clear();
    }
  }
}

// A compiled policy written in `format` and read back compiles to the same
// tables. JSON cannot represent every valid message (a timestamp outside
// years 1-9999), so for JSON only a successful print is held to this.
void CheckRoundTrip(const CompiledPolicy& p, WireFormat format) {
  v1::Policy proto = p.proto();
  proto.DiscardUnknownFields();  // text and JSON cannot carry them
  absl::StatusOr<std::string> out = SerializeMessage(proto, format);
  if (format == WireFormat::kJson && !out.ok()) return;
  CONSENTRY_FUZZ_CHECK(out.ok(), out.status().ToString());
  v1::Policy again;
  absl::Status parsed = ParseMessage(*out, format, again, "round trip");
  CONSENTRY_FUZZ_CHECK(parsed.ok(), parsed.ToString());
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> q =
      CompiledPolicy::Compile(again);
  CONSENTRY_FUZZ_CHECK(q.ok(), q.status().ToString());
  const CompiledPolicy& r = **q;
  CONSENTRY_FUZZ_CHECK(r.version() == p.version(), "version");
  CONSENTRY_FUZZ_CHECK(r.purpose_count() == p.purpose_count(), "purposes");
  CONSENTRY_FUZZ_CHECK(r.category_count() == p.category_count(), "categories");
  CONSENTRY_FUZZ_CHECK(r.accessor_count() == p.accessor_count(), "accessors");
  for (int c = 0; c < p.category_count(); ++c) {
    const auto ci = static_cast<CategoryIndex>(c);
    CONSENTRY_FUZZ_CHECK(r.category_id(ci) == p.category_id(ci), "category id");
    for (int i = 0; i < p.purpose_count(); ++i) {
      const auto pi = static_cast<PurposeIndex>(i);
      CONSENTRY_FUZZ_CHECK(r.purpose_id(pi) == p.purpose_id(pi), "purpose id");
      CONSENTRY_FUZZ_CHECK(r.basis(ci, pi) == p.basis(ci, pi), "basis");
    }
  }
}

}  // namespace
}  // namespace consentry::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  consentry::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace consentry;
  if (size < 1) return 0;
  const WireFormat format = fuzz::FormatFromByte(data[0]);
  const absl::string_view doc(reinterpret_cast<const char*>(data + 1),
                              size - 1);
  v1::Policy proto;
  absl::Status parsed = ParseMessage(doc, format, proto, "fuzz");
  if (!parsed.ok()) {
    CONSENTRY_FUZZ_CHECK(parsed.code() == absl::StatusCode::kInvalidArgument,
                         parsed.ToString());
    return 0;
  }
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> compiled =
      CompiledPolicy::Compile(proto);
  if (!compiled.ok()) {
    CONSENTRY_FUZZ_CHECK(
        compiled.status().code() == absl::StatusCode::kInvalidArgument ||
            compiled.status().code() == absl::StatusCode::kResourceExhausted,
        compiled.status().ToString());
    return 0;
  }
  fuzz::CheckTables(**compiled);
  fuzz::CheckRoundTrip(**compiled, WireFormat::kBinary);
  fuzz::CheckRoundTrip(**compiled, WireFormat::kText);
  fuzz::CheckRoundTrip(**compiled, WireFormat::kJson);
  fuzz::CheckGuard(*compiled);
  return 0;
}
