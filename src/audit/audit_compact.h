// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// How a compact decision (see audit_fast_path.h) is laid out in an audit
// lane: the record's lane flags and payload. The writer decodes it and
// expands the indexes into names; the event it writes is the one
// `AuditLog::Record` would have written for the same decision.
//
// Two forms. The short one takes the common case (a revision below 2^32,
// one of the first 32 attached policies, a record reference of at most 255
// bytes) and puts the reason, shadow bit, policy slot and reference length
// in the lane record's flags, so that a typical read (a 9-16 byte subject,
// no reference) is one 40-byte lane record, header included:
//   flags:   compact | reason << 10 | shadow << 18 | slot << 19 |
//            record_ref length << 24
//   payload: time i64 | revision u32 | accessor u16 | purpose u8 |
//            category u8 | subject | record_ref
// (the subject's length is what the payload's size leaves). The wide form
// takes everything else up to `kCompactMaxString` per string:
//   flags:   compact | wide
//   payload: time i64 | revision i64 | policy slot u32 | accessor u16 |
//            purpose u8 | category u8 | reason u8 | shadow u8 |
//            subject length u16 | record_ref length u16 | 2 unused |
//            subject | record_ref
// All integers little-endian (the lane never leaves the process).
// Internal; never installed.

#ifndef CONSENTRY_SRC_INTERNAL_AUDIT_COMPACT_H_
#define CONSENTRY_SRC_INTERNAL_AUDIT_COMPACT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"
#include "src/audit/audit_fast_path.h"
#include "src/audit/audit_format.h"
#include "src/audit/audit_lane.h"

namespace consentry::internal {

// Lane record flags.
inline constexpr std::uint32_t kCompactFlag = AuditLane::kFirstUserFlag;
inline constexpr std::uint32_t kCompactWide = kCompactFlag << 1;
inline constexpr int kCompactReasonShift = 10;
inline constexpr int kCompactShadowShift = 18;
inline constexpr int kCompactSlotShift = 19;
inline constexpr int kCompactRefShift = 24;

inline constexpr std::size_t kCompactShortHeader = 16;
inline constexpr std::size_t kCompactWideHeader = 32;
inline constexpr std::uint32_t kCompactShortMaxSlot = 31;
inline constexpr std::size_t kCompactShortMaxRef = 255;
// Longer strings take `AuditLog::Record`'s path.
inline constexpr std::size_t kCompactMaxString = 4096;

// Whether a decision with these fields fits the short form.
inline bool CompactFitsShort(Revision revision, std::uint32_t policy_slot,
                             std::size_t record_ref_size) {
  return static_cast<std::uint64_t>(revision) <= 0xFFFFFFFFu &&
         policy_slot <= kCompactShortMaxSlot &&
         record_ref_size <= kCompactShortMaxRef;
}

// Whether `d` fits the short form. REQUIRES: both strings are at most
// `kCompactMaxString` bytes.
inline bool CompactFitsShort(const CompactDecision& d) {
  return CompactFitsShort(d.revision, d.policy_slot, d.record_ref.size());
}

// The payload size of `d` in the form `CompactFitsShort` chose.
inline std::size_t CompactSize(const CompactDecision& d, bool short_form) {
  return (short_form ? kCompactShortHeader : kCompactWideHeader) +
         d.subject.size() + d.record_ref.size();
}

// The short form's lane flags. REQUIRES: the fields fit it.
inline std::uint32_t CompactShortFlags(Reason reason, bool shadow,
                                       std::uint32_t policy_slot,
                                       std::size_t record_ref_size) {
  return kCompactFlag |
         static_cast<std::uint32_t>(reason) << kCompactReasonShift |
         static_cast<std::uint32_t>(shadow) << kCompactShadowShift |
         policy_slot << kCompactSlotShift |
         static_cast<std::uint32_t>(record_ref_size) << kCompactRefShift;
}

// The short form's second payload word: the revision and the three
// indexes, stored at once. REQUIRES: the revision fits the short form.
inline std::uint64_t CompactShortPacked(Revision revision,
                                        AccessorIndex accessor,
                                        PurposeIndex purpose,
                                        CategoryIndex category) {
  return static_cast<std::uint32_t>(revision) |
         static_cast<std::uint64_t>(accessor) << 32 |
         static_cast<std::uint64_t>(purpose) << 48 |
         static_cast<std::uint64_t>(category) << 56;
}

// The lane record flags of `d` in the form chosen.
inline std::uint32_t CompactFlags(const CompactDecision& d, bool short_form) {
  if (!short_form) return kCompactFlag | kCompactWide;
  return CompactShortFlags(d.reason, d.shadow, d.policy_slot,
                           d.record_ref.size());
}

// Writes the payload of `d` (`CompactSize` bytes) to `p`; returns its end.
inline char* EncodeCompact(const CompactDecision& d, bool short_form, char* p) {
  std::memcpy(p, &d.time_unix_nanos, 8);
  if (short_form) {
    const std::uint64_t packed =
        CompactShortPacked(d.revision, d.accessor, d.purpose, d.category);
    std::memcpy(p + 8, &packed, 8);
    p += kCompactShortHeader;
  } else {
    const auto subject_size = static_cast<std::uint16_t>(d.subject.size());
    const auto ref_size = static_cast<std::uint16_t>(d.record_ref.size());
    const auto reason = static_cast<std::uint8_t>(d.reason);
    const std::uint8_t shadow = d.shadow ? 1 : 0;
    const std::uint16_t unused = 0;
    std::memcpy(p + 8, &d.revision, 8);
    std::memcpy(p + 16, &d.policy_slot, 4);
    std::memcpy(p + 20, &d.accessor, 2);
    std::memcpy(p + 22, &d.purpose, 1);
    std::memcpy(p + 23, &d.category, 1);
    std::memcpy(p + 24, &reason, 1);
    std::memcpy(p + 25, &shadow, 1);
    std::memcpy(p + 26, &subject_size, 2);
    std::memcpy(p + 28, &ref_size, 2);
    std::memcpy(p + 30, &unused, 2);
    p += kCompactWideHeader;
  }
  CopyShort(p, d.subject.data(), d.subject.size());
  p += d.subject.size();
  CopyShort(p, d.record_ref.data(), d.record_ref.size());
  return p + d.record_ref.size();
}

// The decision a lane record with `flags` (which include `kCompactFlag`)
// and `payload` describes; its strings point into `payload`. False when the
// record is malformed.
inline bool DecodeCompact(absl::string_view payload, std::uint32_t flags,
                          CompactDecision* d) {
  const char* p = payload.data();
  std::size_t subject_size, ref_size, header;
  if ((flags & kCompactWide) == 0) {
    header = kCompactShortHeader;
    ref_size = flags >> kCompactRefShift;
    if (payload.size() < header + ref_size) return false;
    subject_size = payload.size() - header - ref_size;
    std::uint64_t packed;
    std::memcpy(&d->time_unix_nanos, p, 8);
    std::memcpy(&packed, p + 8, 8);
    d->revision = static_cast<Revision>(packed & 0xFFFFFFFFu);
    d->accessor = static_cast<AccessorIndex>(packed >> 32);
    d->purpose = static_cast<PurposeIndex>(packed >> 48);
    d->category = static_cast<CategoryIndex>(packed >> 56);
    d->reason = static_cast<Reason>(flags >> kCompactReasonShift);
    d->shadow = ((flags >> kCompactShadowShift) & 1) != 0;
    d->policy_slot = (flags >> kCompactSlotShift) & kCompactShortMaxSlot;
  } else {
    header = kCompactWideHeader;
    if (payload.size() < header) return false;
    std::uint8_t reason, shadow;
    std::uint16_t subject16, ref16;
    std::memcpy(&d->time_unix_nanos, p, 8);
    std::memcpy(&d->revision, p + 8, 8);
    std::memcpy(&d->policy_slot, p + 16, 4);
    std::memcpy(&d->accessor, p + 20, 2);
    std::memcpy(&d->purpose, p + 22, 1);
    std::memcpy(&d->category, p + 23, 1);
    std::memcpy(&reason, p + 24, 1);
    std::memcpy(&shadow, p + 25, 1);
    std::memcpy(&subject16, p + 26, 2);
    std::memcpy(&ref16, p + 28, 2);
    subject_size = subject16;
    ref_size = ref16;
    if (payload.size() != header + subject_size + ref_size) return false;
    d->reason = static_cast<Reason>(reason);
    d->shadow = shadow != 0;
  }
  d->subject = payload.substr(header, subject_size);
  d->record_ref = payload.substr(header + subject_size, ref_size);
  return true;
}

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_AUDIT_COMPACT_H_
