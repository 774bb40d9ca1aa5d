// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the
// checksum of every audit-log frame. Uses the SSE4.2 `crc32` instruction when
// the CPU has it, a slicing-by-8 table otherwise. Internal; never installed.

#ifndef CONSENTRY_SRC_INTERNAL_CRC32C_H_
#define CONSENTRY_SRC_INTERNAL_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace consentry::internal {

// Extends `crc` (the CRC-32C of some prefix; 0 for none) with `n` bytes.
// Crc32cExtend(Crc32cExtend(0, a), b) == Crc32c(a + b).
std::uint32_t Crc32cExtend(std::uint32_t crc, const void* data, std::size_t n);

inline std::uint32_t Crc32c(const void* data, std::size_t n) {
  return Crc32cExtend(0, data, n);
}

// The two implementations, for tests: both must agree with the vectors.
std::uint32_t Crc32cExtendPortable(std::uint32_t crc, const void* data,
                                   std::size_t n);
// REQUIRES: `Crc32cHardwareAvailable()`.
std::uint32_t Crc32cExtendHardware(std::uint32_t crc, const void* data,
                                   std::size_t n);
bool Crc32cHardwareAvailable();

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_CRC32C_H_
