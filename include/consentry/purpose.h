// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: purpose.h
// -----------------------------------------------------------------------------
//
// Dense ids for purposes, categories and accessors, and `PurposeSet`, the
// bitset that every purpose check works on. A compiled policy assigns each
// purpose a small integer; a set of purposes is one 64-bit word, so a check is
// a few AND instructions.
//
// Example:
//
//   consentry::PurposeSet s;
//   s.Add(billing);          // the purpose alone: a set holds what is added
//   bool alone = s.Contains(billing_calculation);                // false
//   bool covered =
//       policy.descendants(billing).Contains(billing_calculation);  // true

#ifndef CONSENTRY_PURPOSE_H_
#define CONSENTRY_PURPOSE_H_

#include <bit>
#include <cstdint>

namespace consentry {

// At most this many purposes (catalogue and per-occasion) per policy.
inline constexpr int kMaxPurposes = 64;
// At most this many data categories per policy.
inline constexpr int kMaxCategories = 32;

// Index of a purpose in a compiled policy; meaningful only with that policy.
using PurposeIndex = std::uint8_t;
// Index of a data category in a compiled policy.
using CategoryIndex = std::uint8_t;
// Index of a registered accessor in a compiled policy.
using AccessorIndex = std::uint16_t;

// A set of purposes of one compiled policy. Value type; trivially copyable.
class PurposeSet {
 public:
  constexpr PurposeSet() = default;
  static constexpr PurposeSet FromBits(std::uint64_t bits) {
    PurposeSet s;
    s.bits_ = bits;
    return s;
  }
  static constexpr PurposeSet Of(PurposeIndex p) {
    return FromBits(std::uint64_t{1} << p);
  }

  constexpr void Add(PurposeIndex p) { bits_ |= std::uint64_t{1} << p; }
  constexpr void Add(PurposeSet s) { bits_ |= s.bits_; }
  constexpr void Remove(PurposeSet s) { bits_ &= ~s.bits_; }
  constexpr bool Contains(PurposeIndex p) const { return (bits_ >> p) & 1u; }
  constexpr bool Intersects(PurposeSet s) const {
    return (bits_ & s.bits_) != 0;
  }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr int size() const { return std::popcount(bits_); }
  constexpr std::uint64_t bits() const { return bits_; }

  friend constexpr PurposeSet operator|(PurposeSet a, PurposeSet b) {
    return FromBits(a.bits_ | b.bits_);
  }
  friend constexpr PurposeSet operator&(PurposeSet a, PurposeSet b) {
    return FromBits(a.bits_ & b.bits_);
  }
  friend constexpr bool operator==(PurposeSet, PurposeSet) = default;

  // Calls `f(PurposeIndex)` for each member, lowest first.
  template <typename F>
  constexpr void ForEach(F&& f) const {
    for (std::uint64_t b = bits_; b != 0; b &= b - 1) {
      f(static_cast<PurposeIndex>(std::countr_zero(b)));
    }
  }

 private:
  std::uint64_t bits_ = 0;
};

}  // namespace consentry

#endif  // CONSENTRY_PURPOSE_H_
